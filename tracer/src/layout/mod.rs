//! Discovering the running kernel's layout at start-up.
//!
//! rustc emits no CO-RE relocations, so the eBPF programs cannot have the kernel fix up their
//! field accesses at load time. Instead userspace finds every offset they need, from the
//! tracepoint format files in tracefs ([`tracefs`]) and from the kernel's BTF ([`btf`]), and
//! hands them over in one [`KernelLayout`] global. Every size is checked too, so that a kernel
//! whose layout changed in a way the programs cannot follow is refused with a clear error
//! instead of being traced wrongly.

pub mod btf;
pub mod tracefs;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use log::debug;
use tracer_common::KernelLayout;

pub use btf::{Btf, Member};
pub use tracefs::{Field, Format};

/// Where the running kernel publishes its BTF (`CONFIG_DEBUG_INFO_BTF=y`, 5.4+).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// `pid_t` and `int`.
const INT_SIZE: u32 = 4;
/// Pointers and `unsigned long` on the 64-bit kernels tracer supports.
const LONG_SIZE: u32 = 8;
/// The `__data_loc` word.
const DATA_LOC_SIZE: u32 = 4;

/// Why the kernel's layout could not be discovered. Each message says what is wrong and, where
/// the user can do something about it, what to do.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Neither tracefs location is mounted, and mounting it failed.
    #[error(
        "tracefs is not mounted and mounting it failed ({error}): run `mount -t tracefs tracefs \
         /sys/kernel/tracing` as root"
    )]
    TracefsNotMounted { error: io::Error },

    /// A tracepoint's format file does not exist.
    #[error(
        "tracepoint {tracepoint} not found ({} does not exist): the running kernel lacks it{}",
        path.display(),
        missing_tracepoint_hint(tracepoint)
    )]
    TracepointMissing { tracepoint: String, path: PathBuf },

    /// A tracefs file exists but may only be read by root.
    #[error("permission denied reading {}: run tracer as root", path.display())]
    TracefsPermission { path: PathBuf },

    /// A tracefs file could not be read for another reason.
    #[error("cannot read {}: {error}", path.display())]
    TracefsRead { path: PathBuf, error: io::Error },

    /// A format file does not follow the format tracefs prints.
    #[error("malformed format of tracepoint {tracepoint}, line {line}: {reason}")]
    FormatSyntax {
        tracepoint: String,
        line: usize,
        reason: String,
    },

    /// A tracepoint lacks a field the eBPF programs read.
    #[error(
        "tracepoint {tracepoint} has no field `{field}`: tracer does not support this kernel's \
         layout of it"
    )]
    FieldMissing { tracepoint: String, field: String },

    /// A tracepoint field has a size the eBPF programs cannot read.
    #[error(
        "tracepoint {tracepoint} field `{field}` is {found} bytes, expected {expected}: tracer \
         does not support this kernel's layout of it"
    )]
    FieldSize {
        tracepoint: String,
        field: String,
        expected: u32,
        found: u32,
    },

    /// A tracepoint field is a plain value where a `__data_loc` word was expected.
    #[error(
        "tracepoint {tracepoint} field `{field}` is not `__data_loc`: tracer does not support \
         this kernel's layout of it"
    )]
    FieldNotDataLoc { tracepoint: String, field: String },

    /// The default BTF file does not exist.
    #[error(
        "kernel BTF not found at {}: tracer needs a kernel built with CONFIG_DEBUG_INFO_BTF=y, \
         or pass --btf FILE",
        path.display()
    )]
    BtfNotFound { path: PathBuf },

    /// A BTF file could not be read.
    #[error("cannot read BTF file {}: {error}", path.display())]
    BtfRead { path: PathBuf, error: io::Error },

    /// BTF bytes that are not valid BTF.
    #[error("malformed BTF: {reason}")]
    BtfMalformed { reason: String },

    /// A BTF file that is not valid BTF.
    #[error(
        "{} is not valid BTF ({reason}): pass the kernel's BTF with --btf FILE",
        path.display()
    )]
    BtfFileMalformed { path: PathBuf, reason: String },

    /// The BTF has no struct or union of that name.
    #[error("kernel BTF has no struct {name}: is this the running kernel's BTF?")]
    StructMissing { name: String },

    /// The struct has no member of that name, anonymous members included.
    #[error(
        "kernel BTF: struct {struct_name} has no member `{member}`: tracer does not support this \
         kernel's layout of it"
    )]
    MemberMissing { struct_name: String, member: String },

    /// Several same-named structs place the member differently.
    #[error(
        "kernel BTF has several struct {struct_name} that disagree on where `{member}` is: pass \
         the running kernel's vmlinux BTF with --btf FILE"
    )]
    MemberAmbiguous { struct_name: String, member: String },

    /// The member is a bitfield, which the eBPF programs cannot read as bytes.
    #[error("kernel BTF: {struct_name}.{member} is a bitfield: tracer cannot read it")]
    MemberBitfield { struct_name: String, member: String },

    /// The member does not start on a byte boundary.
    #[error(
        "kernel BTF: {struct_name}.{member} starts at bit {bit_offset}, not on a byte boundary"
    )]
    MemberUnaligned {
        struct_name: String,
        member: String,
        bit_offset: u64,
    },

    /// A struct member has a size the eBPF programs cannot read.
    #[error(
        "kernel BTF: {struct_name}.{member} is {found} bytes, expected {expected}: tracer does not \
         support this kernel's layout of it"
    )]
    MemberSize {
        struct_name: String,
        member: String,
        expected: u32,
        found: u32,
    },
}

fn missing_tracepoint_hint(tracepoint: &str) -> &'static str {
    if tracepoint.starts_with("syscalls/") {
        " (syscall tracepoints need CONFIG_FTRACE_SYSCALLS=y)"
    } else {
        ""
    }
}

/// The layout of the running kernel: its BTF (`btf_path`, or [`VMLINUX_BTF`]) and the
/// tracepoint formats of its tracefs, mounted if need be.
pub fn discover(btf_path: Option<&Path>) -> Result<KernelLayout, LayoutError> {
    let btf = read_btf(btf_path)?;

    let root = tracefs::find_or_mount()?;
    debug!("tracefs at {}", root.display());

    from_parts(
        &|category, event| tracefs::read_format(&root, category, event),
        &btf,
    )
}

fn read_btf(btf_path: Option<&Path>) -> Result<Btf, LayoutError> {
    let path = btf_path.unwrap_or(Path::new(VMLINUX_BTF));
    let bytes = std::fs::read(path).map_err(|error| {
        if btf_path.is_none() && error.kind() == io::ErrorKind::NotFound {
            LayoutError::BtfNotFound { path: path.into() }
        } else {
            LayoutError::BtfRead {
                path: path.into(),
                error,
            }
        }
    })?;

    let started = Instant::now();
    let btf = Btf::parse(&bytes).map_err(|error| match error {
        LayoutError::BtfMalformed { reason } => LayoutError::BtfFileMalformed {
            path: path.into(),
            reason,
        },
        other => other,
    })?;
    debug!(
        "BTF {}: {} bytes, {} types, parsed in {:?}",
        path.display(),
        bytes.len(),
        btf.type_count(),
        started.elapsed()
    );
    Ok(btf)
}

/// Computes every [`KernelLayout`] field from tracepoint formats (`formats(category, event)`)
/// and kernel BTF, checking each size against what the eBPF programs read.
pub fn from_parts(
    formats: &dyn Fn(&str, &str) -> Result<Format, LayoutError>,
    btf: &Btf,
) -> Result<KernelLayout, LayoutError> {
    let task = |member, size| struct_member(btf, "task_struct", member, size);
    let mm = |member| struct_member(btf, "mm_struct", member, LONG_SIZE);

    let exec = formats("sched", "sched_process_exec")?;
    let enter_execve = formats("syscalls", "sys_enter_execve")?;
    let enter_execveat = formats("syscalls", "sys_enter_execveat")?;
    let exit_execve = formats("syscalls", "sys_exit_execve")?;
    let exit_execveat = formats("syscalls", "sys_exit_execveat")?;

    Ok(KernelLayout {
        task_real_parent: task("real_parent", LONG_SIZE)?,
        task_pid: task("pid", INT_SIZE)?,
        task_tgid: task("tgid", INT_SIZE)?,
        task_mm: task("mm", LONG_SIZE)?,
        task_signal: task("signal", LONG_SIZE)?,
        task_exit_code: task("exit_code", INT_SIZE)?,
        task_start_boottime: task("start_boottime", LONG_SIZE)?,
        mm_arg_start: mm("arg_start")?,
        mm_arg_end: mm("arg_end")?,
        signal_live: struct_member(btf, "signal_struct", "live", INT_SIZE)?,
        exec_filename: data_loc_field(&exec, "sched", "filename")?,
        exec_old_pid: field(&exec, "sched", "old_pid", INT_SIZE)?,
        execve_filename: field(&enter_execve, "syscalls", "filename", LONG_SIZE)?,
        execve_argv: field(&enter_execve, "syscalls", "argv", LONG_SIZE)?,
        execveat_filename: field(&enter_execveat, "syscalls", "filename", LONG_SIZE)?,
        execveat_argv: field(&enter_execveat, "syscalls", "argv", LONG_SIZE)?,
        exit_execve_ret: field(&exit_execve, "syscalls", "ret", LONG_SIZE)?,
        exit_execveat_ret: field(&exit_execveat, "syscalls", "ret", LONG_SIZE)?,
    })
}

/// The byte offset of a struct member whose size must be `size`.
fn struct_member(
    btf: &Btf,
    struct_name: &str,
    member: &str,
    size: u32,
) -> Result<u32, LayoutError> {
    let found = btf.member(struct_name, member)?;
    if found.size != size {
        return Err(LayoutError::MemberSize {
            struct_name: struct_name.to_owned(),
            member: member.to_owned(),
            expected: size,
            found: found.size,
        });
    }
    debug!(
        "layout: {struct_name}.{member} at byte {} (BTF)",
        found.offset
    );
    Ok(found.offset)
}

/// The offset of a plain tracepoint field whose size must be `size`.
fn field(format: &Format, category: &str, name: &str, size: u32) -> Result<u32, LayoutError> {
    let field = format.field(name)?;
    if field.size != size || field.data_loc {
        return Err(LayoutError::FieldSize {
            tracepoint: format!("{category}/{}", format.name),
            field: name.to_owned(),
            expected: size,
            found: field.size,
        });
    }
    debug!(
        "layout: {category}/{} {name} at byte {} (tracefs)",
        format.name, field.offset
    );
    Ok(field.offset)
}

/// The offset of a tracepoint's `__data_loc` word.
fn data_loc_field(format: &Format, category: &str, name: &str) -> Result<u32, LayoutError> {
    let field = format.field(name)?;
    let tracepoint = || format!("{category}/{}", format.name);
    if !field.data_loc {
        return Err(LayoutError::FieldNotDataLoc {
            tracepoint: tracepoint(),
            field: name.to_owned(),
        });
    }
    if field.size != DATA_LOC_SIZE {
        return Err(LayoutError::FieldSize {
            tracepoint: tracepoint(),
            field: name.to_owned(),
            expected: DATA_LOC_SIZE,
            found: field.size,
        });
    }
    debug!(
        "layout: {} {name} (__data_loc) at byte {} (tracefs)",
        tracepoint(),
        field.offset
    );
    Ok(field.offset)
}

/// Every field of a layout with its name, in declaration order. The destructuring has no `..`
/// so that a field added to [`KernelLayout`] cannot be forgotten here.
#[must_use]
pub fn named_fields(layout: &KernelLayout) -> [(&'static str, u32); 18] {
    let KernelLayout {
        task_real_parent,
        task_pid,
        task_tgid,
        task_mm,
        task_signal,
        task_exit_code,
        task_start_boottime,
        mm_arg_start,
        mm_arg_end,
        signal_live,
        exec_filename,
        exec_old_pid,
        execve_filename,
        execve_argv,
        execveat_filename,
        execveat_argv,
        exit_execve_ret,
        exit_execveat_ret,
    } = *layout;
    [
        ("task_real_parent", task_real_parent),
        ("task_pid", task_pid),
        ("task_tgid", task_tgid),
        ("task_mm", task_mm),
        ("task_signal", task_signal),
        ("task_exit_code", task_exit_code),
        ("task_start_boottime", task_start_boottime),
        ("mm_arg_start", mm_arg_start),
        ("mm_arg_end", mm_arg_end),
        ("signal_live", signal_live),
        ("exec_filename", exec_filename),
        ("exec_old_pid", exec_old_pid),
        ("execve_filename", execve_filename),
        ("execve_argv", execve_argv),
        ("execveat_filename", execveat_filename),
        ("execveat_argv", execveat_argv),
        ("exit_execve_ret", exit_execve_ret),
        ("exit_execveat_ret", exit_execveat_ret),
    ]
}

/// Loading the kernel fixtures in `testdata/kernels` (see its README.md).
#[cfg(test)]
pub(crate) mod fixtures {
    use std::io::Read;
    use std::path::PathBuf;

    use super::{Btf, Format};

    /// The fixture kernels, oldest first.
    pub const KERNELS: [&str; 4] = [
        "5.10.0-32-cloud-amd64",
        "6.1.0-50-cloud-amd64",
        "6.12.117+deb13-cloud-amd64",
        "6.18.44",
    ];

    pub fn dir(kernel: &str) -> PathBuf {
        [env!("CARGO_MANIFEST_DIR"), "testdata", "kernels", kernel]
            .iter()
            .collect()
    }

    pub fn btf_bytes(kernel: &str) -> Vec<u8> {
        let file = std::fs::File::open(dir(kernel).join("vmlinux.btf.gz")).unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    }

    pub fn btf(kernel: &str) -> Btf {
        Btf::parse(&btf_bytes(kernel)).unwrap()
    }

    pub fn format_text(kernel: &str, category: &str, event: &str) -> String {
        let path = dir(kernel)
            .join("events")
            .join(format!("{category}__{event}.format"));
        std::fs::read_to_string(path).unwrap()
    }

    pub fn format(kernel: &str, category: &str, event: &str) -> Format {
        Format::parse(&format_text(kernel, category, event)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{self, KERNELS};
    use super::*;

    /// The fixture formats of `kernel`, as `from_parts` takes them; a missing file is
    /// reported as a missing tracepoint, like tracefs would.
    fn fixture_formats(kernel: &str) -> impl Fn(&str, &str) -> Result<Format, LayoutError> {
        let dir = fixtures::dir(kernel).join("events");
        move |category, event| {
            let path = dir.join(format!("{category}__{event}.format"));
            match std::fs::read_to_string(&path) {
                Ok(text) => Format::parse(&text),
                Err(_) => Err(LayoutError::TracepointMissing {
                    tracepoint: format!("{category}/{event}"),
                    path,
                }),
            }
        }
    }

    fn layout_of(kernel: &str) -> KernelLayout {
        from_parts(&fixture_formats(kernel), &fixtures::btf(kernel)).unwrap()
    }

    #[test]
    fn from_parts_fills_every_field_on_every_fixture_kernel() {
        for kernel in KERNELS {
            let layout = layout_of(kernel);
            for (name, value) in named_fields(&layout) {
                assert_ne!(value, 0, "{kernel}: {name}");
            }
        }
    }

    #[test]
    fn from_parts_matches_bpftool_and_pahole_offsets() {
        // task_struct, mm_struct and signal_struct offsets from `bpftool btf dump file ...
        // format raw` (bits_offset / 8) and `pahole -F btf -C ...`; tracepoint offsets read off
        // the format files by eye.
        let expected = [
            KernelLayout {
                task_real_parent: 2248,
                task_pid: 2232,
                task_tgid: 2236,
                task_mm: 2056,
                task_signal: 2832,
                task_exit_code: 2136,
                task_start_boottime: 2544,
                mm_arg_start: 312,
                mm_arg_end: 320,
                signal_live: 4,
                exec_filename: 8,
                exec_old_pid: 16,
                execve_filename: 16,
                execve_argv: 24,
                execveat_filename: 24,
                execveat_argv: 32,
                exit_execve_ret: 16,
                exit_execveat_ret: 16,
            },
            KernelLayout {
                task_real_parent: 2432,
                task_pid: 2416,
                task_tgid: 2420,
                task_mm: 2272,
                task_signal: 3072,
                task_exit_code: 2312,
                task_start_boottime: 2784,
                mm_arg_start: 304,
                mm_arg_end: 312,
                ..expected_tracepoints()
            },
            KernelLayout {
                task_real_parent: 2448,
                task_pid: 2432,
                task_tgid: 2436,
                task_mm: 2304,
                task_signal: 3072,
                task_exit_code: 2332,
                task_start_boottime: 2784,
                mm_arg_start: 376,
                mm_arg_end: 384,
                ..expected_tracepoints()
            },
            KernelLayout {
                task_real_parent: 1280,
                task_pid: 1264,
                task_tgid: 1268,
                task_mm: 1136,
                task_signal: 1848,
                task_exit_code: 1164,
                task_start_boottime: 1560,
                mm_arg_start: 488,
                mm_arg_end: 496,
                ..expected_tracepoints()
            },
        ];
        for (kernel, expected) in KERNELS.iter().zip(expected) {
            assert_eq!(layout_of(kernel), expected, "{kernel}");
        }
    }

    /// The tracepoint offsets, the same on all four kernels, and `signal_struct.live`.
    fn expected_tracepoints() -> KernelLayout {
        KernelLayout {
            signal_live: 4,
            exec_filename: 8,
            exec_old_pid: 16,
            execve_filename: 16,
            execve_argv: 24,
            execveat_filename: 24,
            execveat_argv: 32,
            exit_execve_ret: 16,
            exit_execveat_ret: 16,
            ..KernelLayout::default()
        }
    }

    #[test]
    fn missing_tracepoint_field_fails_naming_it() {
        let kernel = KERNELS[2];
        let real = fixture_formats(kernel);
        let without_old_pid = |category: &str, event: &str| {
            let mut format = real(category, event)?;
            format.fields.retain(|field| field.name != "old_pid");
            Ok(format)
        };
        let err = from_parts(&without_old_pid, &fixtures::btf(kernel)).unwrap_err();
        assert!(matches!(err, LayoutError::FieldMissing { .. }), "{err}");
        assert!(err.to_string().contains("old_pid"), "{err}");
    }

    #[test]
    fn missing_tracepoint_fails_with_a_config_hint_for_syscalls() {
        let real = fixture_formats(KERNELS[0]);
        let no_syscalls = |category: &str, event: &str| {
            if category == "syscalls" {
                fixture_formats("no-such-kernel")(category, event)
            } else {
                real(category, event)
            }
        };
        let err = from_parts(&no_syscalls, &fixtures::btf(KERNELS[0])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("syscalls/sys_enter_execve"), "{message}");
        assert!(message.contains("CONFIG_FTRACE_SYSCALLS"), "{message}");
    }

    #[test]
    fn exec_filename_that_is_not_data_loc_is_refused() {
        let real = fixture_formats(KERNELS[3]);
        let plain_filename = |category: &str, event: &str| {
            let mut format = real(category, event)?;
            for field in &mut format.fields {
                field.data_loc = false;
            }
            Ok(format)
        };
        let err = from_parts(&plain_filename, &fixtures::btf(KERNELS[3])).unwrap_err();
        assert!(matches!(err, LayoutError::FieldNotDataLoc { .. }), "{err}");
        assert!(
            err.to_string().contains("sched/sched_process_exec"),
            "{err}"
        );
    }

    #[test]
    fn wrong_field_size_is_refused() {
        let real = fixture_formats(KERNELS[3]);
        let narrow_ret = |category: &str, event: &str| {
            let mut format = real(category, event)?;
            for field in format.fields.iter_mut().filter(|field| field.name == "ret") {
                field.size = 4;
            }
            Ok(format)
        };
        let err = from_parts(&narrow_ret, &fixtures::btf(KERNELS[3])).unwrap_err();
        let LayoutError::FieldSize {
            expected, found, ..
        } = err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!((expected, found), (8, 4));
    }

    #[test]
    fn missing_default_btf_says_to_enable_config_debug_info_btf() {
        let err = LayoutError::BtfNotFound {
            path: VMLINUX_BTF.into(),
        };
        assert_eq!(
            err.to_string(),
            "kernel BTF not found at /sys/kernel/btf/vmlinux: tracer needs a kernel built with \
             CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE"
        );
    }

    #[test]
    fn explicit_btf_file_that_is_not_btf_is_an_error_naming_it() {
        let path =
            std::env::temp_dir().join(format!("tracer-layout-{}-not-btf", std::process::id()));
        std::fs::write(&path, b"not BTF at all, just some text").unwrap();
        let err = read_btf(Some(&path)).err().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, LayoutError::BtfFileMalformed { .. }), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");

        let missing = Path::new("/nonexistent/tracer-test.btf");
        let err = read_btf(Some(missing)).err().unwrap();
        assert!(matches!(err, LayoutError::BtfRead { .. }), "{err}");
    }
}
