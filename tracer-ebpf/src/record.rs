//! Building a record and sending it: the per-CPU scratch buffer, the ring buffer, and the
//! count of records lost because the ring buffer was full.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::generated::bpf_ktime_get_boot_ns,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::map,
    maps::{PerCpuArray, RingBuf},
};
use tracer_common::{ExecRecord, RECORD_MAX, RecordHeader, RecordKind};

/// Userspace sizes this at load time (`--buffer-size`); this is only the object's default.
#[map(name = "EVENTS")]
static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Records that could not be written to `EVENTS`, per CPU.
#[map(name = "LOST")]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
pub struct Scratch {
    pub bytes: [u8; RECORD_MAX],
}

/// Records are built here rather than on the 512-byte stack. One per CPU: a BPF program is
/// not migrated while it runs.
#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// The start of this CPU's scratch buffer.
#[inline(always)]
pub fn scratch() -> Option<*mut u8> {
    SCRATCH.get_ptr_mut(0).map(|s| s.cast::<u8>())
}

/// A header for the current task.
#[inline(always)]
pub fn current_header(kind: RecordKind) -> RecordHeader {
    let pid_tgid = bpf_get_current_pid_tgid();
    RecordHeader {
        kind: kind as u32,
        flags: 0,
        // SAFETY: the helper takes no arguments.
        ktime_ns: unsafe { bpf_ktime_get_boot_ns() },
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        ppid: 0,
        uid: bpf_get_current_uid_gid() as u32,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    }
}

/// Unread bytes in `EVENTS` past which a fork or exit record wakes the reader after all.
const WAKE_BYTES: u64 = 256 * 1024;

/// Sends the first `len` bytes of `buf`, counting a loss when the ring buffer is full.
///
/// Exec records always wake the reader: they are what users watch live. Fork and exit
/// records, four times as many in a storm, do not (unless much is waiting); the next exec or
/// the reader's own timer picks them up, so a storm costs one wake-up per exec, not five.
/// Forcing the exec's wake-up matters: the kernel otherwise wakes the reader only for a
/// record at the head of the buffer, which an unread fork record would hide.
#[inline(always)]
fn send(buf: *const u8, len: usize) {
    // LLVM can prove the check below never fails and drop it, but the verifiers of 5.10 and
    // 6.1 lose the length's bounds on a path that cannot run and then reject the call: the
    // volatile read keeps the check in the program.
    // SAFETY: reads a local.
    let len = unsafe { core::ptr::read_volatile(&len) };
    if len > RECORD_MAX {
        return;
    }
    // SAFETY: `buf` is this CPU's scratch buffer, RECORD_MAX bytes long.
    let bytes = unsafe { core::slice::from_raw_parts(buf, len) };
    if EVENTS
        .output(bytes, u64::from(BPF_RB_FORCE_WAKEUP))
        .is_err()
    {
        count_lost();
    }
}

/// Writes `record` at the start of the scratch buffer `buf`, whose filename and argv bytes
/// follow it, and sends the whole record.
#[inline(always)]
pub fn send_exec(buf: *mut u8, record: ExecRecord) {
    let len =
        size_of::<ExecRecord>() + usize::from(record.filename_len) + usize::from(record.argv_len);
    // SAFETY: the scratch buffer is RECORD_MAX bytes, far larger than the fixed part.
    unsafe { buf.cast::<ExecRecord>().write_unaligned(record) };
    send(buf, len);
}

/// Sends a fixed-size record (fork, exit), without waking the reader (see [`send`]).
#[inline(always)]
pub fn send_fixed<T: 'static>(record: T) {
    match EVENTS.reserve::<T>(0) {
        Some(mut entry) => {
            entry.write(record);
            let wake = if EVENTS.query(u64::from(BPF_RB_AVAIL_DATA)) >= WAKE_BYTES {
                BPF_RB_FORCE_WAKEUP
            } else {
                BPF_RB_NO_WAKEUP
            };
            entry.submit(u64::from(wake));
        }
        None => count_lost(),
    }
}

#[inline(always)]
fn count_lost() {
    if let Some(lost) = LOST.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot, only this CPU writes it.
        unsafe { *lost += 1 };
    }
}
