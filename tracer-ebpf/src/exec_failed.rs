//! `syscalls/sys_enter_execve{,at}` and `sys_exit_execve{,at}`: execs that fail.
//!
//! A failed exec never reaches `sched_process_exec`, and its arguments exist only in the
//! caller's memory. The enter hook remembers the user pointers per thread; the exit hook, if
//! the call failed, reads them (the caller's memory is untouched by a failed exec) and sends a
//! record carrying the error.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    helpers::generated::{bpf_get_current_task, bpf_probe_read_user, bpf_probe_read_user_str},
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use tracer_common::{
    ARGV_MAX, ExecRecord, FAILED_ARG_MAX, FAILED_ARGS_MAX, FILENAME_MAX, RecordKind, flags,
};

use crate::{kernel, record};

const FIXED: usize = size_of::<ExecRecord>();

#[derive(Clone, Copy)]
#[repr(C)]
struct Pending {
    filename: u64,
    argv: u64,
}

/// Exec calls in progress, by thread id. An LRU map, because a successful exec from a
/// non-leader thread returns under another thread id and leaves its entry behind.
#[map]
static PENDING: LruHashMap<u32, Pending> = LruHashMap::with_max_entries(16384, 0);

#[tracepoint]
pub fn sys_enter_execve(ctx: TracePointContext) -> u32 {
    let layout = kernel::layout();
    remember(&ctx, layout.execve_filename, layout.execve_argv);
    0
}

#[tracepoint]
pub fn sys_enter_execveat(ctx: TracePointContext) -> u32 {
    let layout = kernel::layout();
    remember(&ctx, layout.execveat_filename, layout.execveat_argv);
    0
}

#[tracepoint]
pub fn sys_exit_execve(ctx: TracePointContext) -> u32 {
    let _ = finish(&ctx, kernel::layout().exit_execve_ret);
    0
}

#[tracepoint]
pub fn sys_exit_execveat(ctx: TracePointContext) -> u32 {
    let _ = finish(&ctx, kernel::layout().exit_execveat_ret);
    0
}

#[inline(always)]
fn remember(ctx: &TracePointContext, filename_at: u32, argv_at: u32) {
    if kernel::config().failed == 0 {
        return;
    }
    // SAFETY: offsets from this tracepoint's format file.
    let read = |at: u32| unsafe { ctx.read_at::<u64>(at as usize) };
    let (Ok(filename), Ok(argv)) = (read(filename_at), read(argv_at)) else {
        return;
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = PENDING.insert(&tid, &Pending { filename, argv }, 0);
}

#[inline(always)]
fn finish(ctx: &TracePointContext, ret_at: u32) -> Result<(), i32> {
    if kernel::config().failed == 0 {
        return Ok(());
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let pending = PENDING.get_ptr(&tid).ok_or(0)?;
    // SAFETY: the pointer is valid until the entry is removed, just below.
    let pending = unsafe { *pending };
    let _ = PENDING.remove(&tid);

    // SAFETY: offset from this tracepoint's format file.
    let ret: i64 = unsafe { ctx.read_at(ret_at as usize) }?;
    if ret >= 0 {
        return Ok(());
    }

    let layout = kernel::layout();
    let buf = record::scratch().ok_or(0)?;
    let mut header = record::current_header(RecordKind::ExecFailed);
    // SAFETY: the helper takes no arguments.
    let task = unsafe { bpf_get_current_task() };
    match kernel::parent_tgid(task, &layout) {
        Ok(ppid) => header.ppid = ppid,
        Err(_) => header.flags |= flags::PPID_UNREADABLE,
    }

    // SAFETY: the destination lies in the scratch buffer; the helper checks the source.
    let copied = unsafe {
        bpf_probe_read_user_str(
            buf.add(FIXED).cast(),
            FILENAME_MAX as u32,
            pending.filename as *const _,
        )
    };
    let mut filename_len = 0usize;
    if copied <= 0 {
        header.flags |= flags::FILENAME_UNREADABLE;
    } else {
        filename_len = (copied as usize - 1) & (FILENAME_MAX - 1);
        if copied as usize == FILENAME_MAX {
            header.flags |= flags::FILENAME_TRUNCATED;
        }
    }

    let argv_len = read_argv(buf, filename_len, pending.argv, &mut header);
    let fixed = ExecRecord {
        header,
        start_ns: 0,
        old_tid: tid,
        retval: ret as i32,
        argv_size: 0,
        filename_len: filename_len as u16,
        argv_len: argv_len as u16,
    };
    record::send_exec(buf, fixed);
    Ok(())
}

/// Copies the caller's argv strings after the filename, each with its NUL; returns the bytes
/// copied.
#[inline(always)]
fn read_argv(
    buf: *mut u8,
    filename_len: usize,
    argv: u64,
    header: &mut tracer_common::RecordHeader,
) -> usize {
    let limit = (kernel::config().max_arg_bytes as usize).min(ARGV_MAX);
    // SAFETY: filename_len < FILENAME_MAX, so this stays in the scratch buffer.
    let base = unsafe { buf.add(FIXED + filename_len) };
    let mut off = 0usize;
    for i in 0..FAILED_ARGS_MAX {
        let mut arg: u64 = 0;
        // SAFETY: reads one pointer from the caller's argv array; the helper checks it.
        let ret = unsafe {
            bpf_probe_read_user((&raw mut arg).cast(), 8, (argv + 8 * i as u64) as *const _)
        };
        if ret != 0 {
            header.flags |= flags::ARGV_UNREADABLE;
            return off;
        }
        if arg == 0 {
            return off;
        }
        if off >= limit || off >= ARGV_MAX {
            header.flags |= flags::ARGV_TRUNCATED;
            return off;
        }
        let room = (limit - off).min(FAILED_ARG_MAX);
        // SAFETY: off < ARGV_MAX and room <= FAILED_ARG_MAX keep the destination inside the
        // scratch buffer (checked by a const assertion in tracer-common).
        let copied =
            unsafe { bpf_probe_read_user_str(base.add(off).cast(), room as u32, arg as *const _) };
        if copied <= 0 {
            header.flags |= flags::ARGV_UNREADABLE;
            return off;
        }
        off += copied as usize;
        if copied as usize == room {
            // The string filled the room: it may have been cut.
            header.flags |= flags::ARGV_TRUNCATED;
            return off;
        }
    }
    header.flags |= flags::ARGV_TOO_MANY;
    off
}
