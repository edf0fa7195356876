//! Events as userspace sees them, decoded from the kernel's records (see `decode`).

/// One decoded event. Byte strings stay bytes: argv and filenames need not be UTF-8, and the
/// output formats decide how to show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since boot (CLOCK_BOOTTIME), from the kernel.
    pub ktime_ns: u64,
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id of the task concerned.
    pub tid: u32,
    /// Parent process id (`real_parent->tgid`); 0 when it could not be read.
    pub ppid: u32,
    pub uid: u32,
    /// The task name, without NUL padding.
    pub comm: Comm,
    /// The `tracer_common::flags` bits: what the kernel could not capture in full.
    pub flags: u32,
    pub kind: EventKind,
}

/// A task name (`comm`): at most 15 bytes, kept inline so that an event with no argv (a fork,
/// an exit) costs no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Comm {
    bytes: [u8; tracer_common::COMM_LEN],
    len: u8,
}

impl Comm {
    /// The bytes of `name` up to its first NUL, cut to the kernel's 15.
    pub fn new(name: &[u8]) -> Self {
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let len = end.min(tracer_common::COMM_LEN - 1);
        let mut bytes = [0; tracer_common::COMM_LEN];
        bytes[..len].copy_from_slice(&name[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }
}

impl std::ops::Deref for Comm {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl PartialEq<[u8]> for Comm {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Comm {
    fn eq(&self, other: &&[u8; N]) -> bool {
        **self == other[..]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Exec(Exec),
    Fork(Fork),
    Exit(Exit),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// When the process started (CLOCK_BOOTTIME ns); 0 for a failed exec. With the pid, the
    /// process's identity.
    pub start_ns: u64,
    /// The thread id that called exec (differs from `Event::tid` after an exec from a
    /// non-leader thread, which takes over the process id).
    pub old_tid: u32,
    /// 0 on success, the negative errno of a failed exec.
    pub retval: i32,
    /// The path given to exec, as the kernel saw it.
    pub filename: Vec<u8>,
    /// The arguments, in order, without their NULs.
    pub argv: Vec<Vec<u8>>,
    /// Size of the whole argv area in the new image, even if less was captured (0 for a
    /// failed exec).
    pub argv_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    /// The process that called fork/clone; the new process's parent is `Event::ppid`.
    pub caller_pid: u32,
    pub caller_tid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The kernel's exit_code: status in bits 8..16, terminating signal in bits 0..7.
    pub exit_code: u32,
}

impl Event {
    /// True for an exec that failed.
    pub fn is_failed_exec(&self) -> bool {
        matches!(&self.kind, EventKind::Exec(e) if e.retval < 0)
    }

    /// True when argv was cut, so that more arguments exist than were captured.
    pub fn argv_truncated(&self) -> bool {
        self.flags & (tracer_common::flags::ARGV_TRUNCATED | tracer_common::flags::ARGV_TOO_MANY)
            != 0
    }
}
