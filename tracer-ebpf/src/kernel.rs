//! Reading kernel structures at offsets that userspace discovered from the running kernel's
//! BTF. rustc emits no CO-RE relocations, so nothing here may assume a struct layout.

use aya_ebpf::{Global, helpers::bpf_probe_read_kernel};
use tracer_common::{Config, KernelLayout};

/// Written by userspace before load. The zero default is never used: userspace always sets it.
#[unsafe(no_mangle)]
static LAYOUT: Global<KernelLayout> = Global::new(KernelLayout {
    task_real_parent: 0,
    task_pid: 0,
    task_tgid: 0,
    task_mm: 0,
    task_signal: 0,
    task_exit_code: 0,
    task_start_boottime: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    signal_live: 0,
    exec_filename: 0,
    exec_old_pid: 0,
    execve_filename: 0,
    execve_argv: 0,
    execveat_filename: 0,
    execveat_argv: 0,
    exit_execve_ret: 0,
    exit_execveat_ret: 0,
});

#[unsafe(no_mangle)]
static CONFIG: Global<Config> = Global::new(Config {
    max_arg_bytes: tracer_common::ARGV_MAX as u32,
    failed: 0,
});

#[inline(always)]
pub fn layout() -> KernelLayout {
    LAYOUT.load()
}

#[inline(always)]
pub fn config() -> Config {
    CONFIG.load()
}

/// Reads a `T` at `base + offset` in kernel memory.
#[inline(always)]
pub fn read<T>(base: u64, offset: u32) -> Result<T, i32> {
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one returns an error.
    unsafe { bpf_probe_read_kernel((base + u64::from(offset)) as *const T) }
}

/// The process id (tgid) of `task`'s real parent: the process, never the forking thread.
#[inline(always)]
pub fn parent_tgid(task: u64, layout: &KernelLayout) -> Result<u32, i32> {
    let parent: u64 = read(task, layout.task_real_parent)?;
    read(parent, layout.task_tgid)
}
