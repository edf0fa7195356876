//! The contract between tracer's eBPF programs and its userspace.
//!
//! Every record the kernel side writes to the ring buffer starts with a [`RecordHeader`]; its
//! `kind` says which fixed part follows, and that fixed part says how many variable bytes
//! (filename, argv) come after it. Userspace must check every length against the record's real
//! size: nothing here is trusted on its own.
//!
//! The kernel layout the programs need (tracepoint field offsets, kernel struct member offsets)
//! is discovered by userspace at start-up and handed over in one [`KernelLayout`] global.
#![no_std]

use core::mem::size_of;

/// Largest record the kernel side builds, in bytes. The per-CPU scratch buffer has this size,
/// which is the kernel's limit for one per-CPU map value (`PCPU_MIN_UNIT_SIZE`, 32 KiB).
pub const RECORD_MAX: usize = 32 * 1024;

/// Most argv bytes captured for one exec. Longer command lines are cut and flagged with
/// [`flags::ARGV_TRUNCATED`]; `--max-arg-bytes` can lower this, never raise it.
pub const ARGV_MAX: usize = 16 * 1024;

/// Most filename bytes captured for one exec, including the terminating NUL.
pub const FILENAME_MAX: usize = 256;

/// Most argument pointers followed for a failed exec, whose argv is read from the caller's
/// memory one string at a time.
pub const FAILED_ARGS_MAX: usize = 128;

/// Longest single argument read for a failed exec.
pub const FAILED_ARG_MAX: usize = 4096;

/// Length of the kernel's `comm` (task name), including the NUL.
pub const COMM_LEN: usize = 16;

/// What a record describes. Stored as the first word of every record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A successful exec (`sched_process_exec`), followed by [`ExecRecord`].
    Exec = 1,
    /// An exec syscall that returned an error, followed by [`ExecRecord`].
    ExecFailed = 2,
    /// A fork that created a new process (not a thread), followed by [`ForkRecord`].
    Fork = 3,
    /// The last thread of a process exited, followed by [`ExitRecord`].
    Exit = 4,
}

impl RecordKind {
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::Exec),
            2 => Some(Self::ExecFailed),
            3 => Some(Self::Fork),
            4 => Some(Self::Exit),
            _ => None,
        }
    }
}

/// Bits of [`RecordHeader::flags`]: what the kernel side could not capture in full.
pub mod flags {
    /// argv was longer than the capture limit; the bytes sent are a prefix.
    pub const ARGV_TRUNCATED: u32 = 1 << 0;
    /// argv could not be read at all (a fault reading user memory).
    pub const ARGV_UNREADABLE: u32 = 1 << 1;
    /// The filename was longer than [`crate::FILENAME_MAX`].
    pub const FILENAME_TRUNCATED: u32 = 1 << 2;
    /// The filename could not be read.
    pub const FILENAME_UNREADABLE: u32 = 1 << 3;
    /// The parent's process id could not be read; `ppid` is 0.
    pub const PPID_UNREADABLE: u32 = 1 << 4;
    /// A failed exec had more arguments than [`crate::FAILED_ARGS_MAX`].
    pub const ARGV_TOO_MANY: u32 = 1 << 5;
}

/// The start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RecordHeader {
    /// A [`RecordKind`] value.
    pub kind: u32,
    /// A set of [`flags`] bits.
    pub flags: u32,
    /// `bpf_ktime_get_boot_ns()`: nanoseconds since boot, suspend included.
    pub ktime_ns: u64,
    /// The process id (the kernel's tgid).
    pub pid: u32,
    /// The thread id of the task the record is about.
    pub tid: u32,
    /// The parent process id: `real_parent->tgid`, never a thread id.
    pub ppid: u32,
    /// The real user id.
    pub uid: u32,
    /// The task's name as the kernel knows it, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// An exec, successful or failed. `filename_len` filename bytes follow it, then `argv_len`
/// argv bytes (each argument NUL-terminated, as in the new image's memory).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecRecord {
    pub header: RecordHeader,
    /// When the process started (`start_boottime`, CLOCK_BOOTTIME ns): with the pid, who it
    /// is, so that a recycled pid is a new process. 0 for a failed exec.
    pub start_ns: u64,
    /// The thread id that called exec. It differs from `header.tid` when a non-leader thread
    /// exec'd: the kernel then gives that thread the process id.
    pub old_tid: u32,
    /// 0 for a successful exec, the syscall's negative errno for a failed one.
    pub retval: i32,
    /// The size of the whole argv area in the new image (`arg_end - arg_start`), even when
    /// fewer bytes were captured. 0 for a failed exec.
    pub argv_size: u32,
    /// Filename bytes that follow, without a terminating NUL.
    pub filename_len: u16,
    /// argv bytes that follow the filename.
    pub argv_len: u16,
}

/// A new process. `header.pid`/`tid` are the child's, `header.ppid` is the child's parent
/// process (after `CLONE_PARENT`, which need not be the caller).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ForkRecord {
    pub header: RecordHeader,
    /// The process that called fork or clone.
    pub caller_pid: u32,
    /// The thread of that process that made the call.
    pub caller_tid: u32,
}

/// The end of a process: its last thread has exited.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitRecord {
    pub header: RecordHeader,
    /// The kernel's `exit_code`: the status in bits 8..16, the terminating signal in bits 0..7.
    pub exit_code: u32,
    pub _pad: u32,
}

/// Offsets the kernel side needs, discovered by userspace at start-up from the running kernel
/// (tracefs format files and BTF) and written into the `LAYOUT` global before loading.
/// All values are byte offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLayout {
    pub task_real_parent: u32,
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_mm: u32,
    pub task_signal: u32,
    pub task_exit_code: u32,
    /// `task_struct.start_boottime`: with the pid, a process's identity.
    pub task_start_boottime: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub signal_live: u32,
    /// `sched_process_exec`: the `__data_loc char[] filename` word, and `old_pid`.
    pub exec_filename: u32,
    pub exec_old_pid: u32,
    /// `sys_enter_execve`: `filename` and `argv` pointers.
    pub execve_filename: u32,
    pub execve_argv: u32,
    /// `sys_enter_execveat`: `filename` and `argv` pointers.
    pub execveat_filename: u32,
    pub execveat_argv: u32,
    /// `sys_exit_execve` / `sys_exit_execveat`: `ret`.
    pub exit_execve_ret: u32,
    pub exit_execveat_ret: u32,
}

/// Run-time settings written into the `CONFIG` global before loading.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most argv bytes to capture per exec, at most [`ARGV_MAX`].
    pub max_arg_bytes: u32,
    /// Non-zero: capture failed execs too.
    pub failed: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_arg_bytes: ARGV_MAX as u32,
            failed: 0,
        }
    }
}

/// Names of the maps, shared so that the two sides cannot drift apart.
pub mod maps {
    /// The ring buffer of records.
    pub const EVENTS: &str = "EVENTS";
    /// Per-CPU count of records that could not be reserved in `EVENTS`.
    pub const LOST: &str = "LOST";
}

// The fixed parts must keep their sizes: userspace decodes them by these numbers.
const _: () = assert!(size_of::<RecordHeader>() == 48);
const _: () = assert!(size_of::<ExecRecord>() == 72);
const _: () = assert!(size_of::<ForkRecord>() == 56);
const _: () = assert!(size_of::<ExitRecord>() == 56);
const _: () = assert!(size_of::<ExecRecord>() + FILENAME_MAX + ARGV_MAX <= RECORD_MAX);
const _: () =
    assert!(size_of::<ExecRecord>() + ARGV_MAX + FAILED_ARG_MAX + FILENAME_MAX <= RECORD_MAX);

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `repr(C)` structs of integers, with no padding.
    unsafe impl aya::Pod for super::KernelLayout {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Config {}
}
