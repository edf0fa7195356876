//! Loading the embedded eBPF object with the discovered layout, and attaching its programs.

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{RawTracePoint, TracePoint},
};
use log::{debug, warn};
use tracer_common::{Config, KernelLayout, maps};

/// The object built by `build.rs` from `tracer-ebpf`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot load the eBPF programs: {0}{hint}", hint = permission_hint(.0))]
    Load(#[source] aya::EbpfError),
    #[error("program {0} is missing from the embedded eBPF object")]
    MissingProgram(&'static str),
    #[error("map {0} is missing from the embedded eBPF object")]
    MissingMap(&'static str),
    #[error("cannot attach {name}: {source}{hint}", hint = verifier_hint(source))]
    Attach {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("cannot open map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

fn permission_hint(e: &aya::EbpfError) -> &'static str {
    let text = format!("{e:?}");
    if text.contains("EPERM") || text.contains("PermissionDenied") {
        " (tracer needs root, or CAP_BPF and CAP_PERFMON)"
    } else {
        ""
    }
}

fn verifier_hint(e: &aya::programs::ProgramError) -> &'static str {
    if matches!(e, aya::programs::ProgramError::LoadError { .. }) {
        " (the kernel's verifier rejected it; run with -vv for its log)"
    } else {
        ""
    }
}

pub struct LoadOptions {
    pub layout: KernelLayout,
    pub config: Config,
    /// Ring buffer size in bytes: a power of two, a multiple of the page size.
    pub buffer_size: u32,
    /// Attach the fork and exit hooks: JSON, chains, subtrees and the tree need them; plain
    /// execsnoop output does not, and skips their cost.
    pub lifecycle: bool,
    /// Forward kernel-side log messages to the `log` crate.
    pub kernel_log: bool,
}

/// The loaded, attached programs. Dropping it detaches everything.
pub struct Loaded {
    /// The programs stay attached while this lives.
    pub ebpf: Ebpf,
    pub events: RingBuf<MapData>,
    pub lost: LostCounter,
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

/// The kernel's per-CPU count of records it could not reserve in the ring buffer.
pub struct LostCounter(PerCpuArray<MapData, u64>);

impl LostCounter {
    /// The count so far, summed over CPUs.
    pub fn total(&self) -> u64 {
        match self.0.get(&0, 0) {
            Ok(per_cpu) => per_cpu.iter().sum(),
            Err(e) => {
                warn!("cannot read the lost-record counter: {e}");
                0
            }
        }
    }
}

/// Tracepoints (category, name) attached by regular tracepoint programs of the same name.
const ALWAYS: &[(&str, &str)] = &[("sched", "sched_process_exec")];
/// With `lifecycle`, besides the raw `sched_process_fork`.
const LIFECYCLE: &[(&str, &str)] = &[("sched", "sched_process_exit")];
const FAILED: &[(&str, &str)] = &[
    ("syscalls", "sys_enter_execve"),
    ("syscalls", "sys_enter_execveat"),
    ("syscalls", "sys_exit_execve"),
    ("syscalls", "sys_exit_execveat"),
];

pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    // Kernel-side log calls cost a ring-buffer reservation each; silence them unless read.
    let log_level: u8 = if opts.kernel_log { 0xff } else { 0 };
    let mut ebpf = EbpfLoader::new()
        .override_global("AYA_LOG_LEVEL", &log_level, false)
        .override_global("LAYOUT", &opts.layout, true)
        .override_global("CONFIG", &opts.config, true)
        .map_max_entries(maps::EVENTS, opts.buffer_size)
        .load(OBJECT)
        .map_err(LoadError::Load)?;

    let logger = if opts.kernel_log {
        aya_log::EbpfLogger::init(&mut ebpf)
            .map_err(|e| warn!("kernel-side log unavailable: {e}"))
            .ok()
    } else {
        None
    };

    let hooks = ALWAYS
        .iter()
        .chain(if opts.lifecycle { LIFECYCLE } else { &[] })
        // The syscall hooks catch failed execs, which only `-x` (`config.failed`) wants.
        .chain(if opts.config.failed != 0 { FAILED } else { &[] });
    for &(category, name) in hooks {
        let program: &mut TracePoint = ebpf
            .program_mut(name)
            .ok_or(LoadError::MissingProgram(name))?
            .try_into()
            .map_err(|source| LoadError::Attach { name, source })?;
        program
            .load()
            .and_then(|()| program.attach(category, name).map(|_| ()))
            .map_err(|source| LoadError::Attach { name, source })?;
        debug!("attached tracepoint {category}/{name}");
    }

    if opts.lifecycle {
        let name = "sched_process_fork";
        let fork: &mut RawTracePoint = ebpf
            .program_mut(name)
            .ok_or(LoadError::MissingProgram(name))?
            .try_into()
            .map_err(|source| LoadError::Attach { name, source })?;
        fork.load()
            .and_then(|()| fork.attach(name).map(|_| ()))
            .map_err(|source| LoadError::Attach { name, source })?;
        debug!("attached raw tracepoint {name}");
    }

    // The ids let `bpftool map dump id N` check the kernel's own counts.
    for (name, map) in ebpf.maps() {
        if let aya::maps::Map::PerCpuArray(data) | aya::maps::Map::RingBuf(data) = map
            && let Ok(info) = data.info()
        {
            debug!("map {name}: id {}", info.id());
        }
    }

    let events =
        RingBuf::try_from(take_map(&mut ebpf, maps::EVENTS)?).map_err(|source| LoadError::Map {
            name: maps::EVENTS,
            source,
        })?;
    let lost = PerCpuArray::try_from(take_map(&mut ebpf, maps::LOST)?).map_err(|source| {
        LoadError::Map {
            name: maps::LOST,
            source,
        }
    })?;
    Ok(Loaded {
        ebpf,
        events,
        lost: LostCounter(lost),
        logger,
    })
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, LoadError> {
    ebpf.take_map(name).ok_or(LoadError::MissingMap(name))
}
