//! `sched/sched_process_exec`: every successful exec, whatever the syscall or thread.
//!
//! argv is read from the new image (`mm->arg_start..arg_end`): those are the arguments the
//! process really runs with, and the kernel has just written them, so the pages are resident.

use aya_ebpf::{
    EbpfContext,
    helpers::generated::{bpf_get_current_task, bpf_probe_read_kernel_str, bpf_probe_read_user},
    macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::debug;
use tracer_common::{ARGV_MAX, ExecRecord, FILENAME_MAX, RecordKind, flags};

use crate::{kernel, record};

const FIXED: usize = size_of::<ExecRecord>();

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let _ = try_exec(&ctx);
    0
}

fn try_exec(ctx: &TracePointContext) -> Result<(), i32> {
    let layout = kernel::layout();
    let config = kernel::config();
    let buf = record::scratch().ok_or(0)?;
    let mut header = record::current_header(RecordKind::Exec);

    // SAFETY: the helper takes no arguments.
    let task = unsafe { bpf_get_current_task() };
    match kernel::parent_tgid(task, &layout) {
        Ok(ppid) => header.ppid = ppid,
        Err(_) => header.flags |= flags::PPID_UNREADABLE,
    }
    // SAFETY: the offset comes from this tracepoint's format file.
    let old_tid: u32 = unsafe { ctx.read_at(layout.exec_old_pid as usize) }.unwrap_or(0);

    // The filename is a `__data_loc` field: the low 16 bits give its offset in the
    // tracepoint record, the high 16 bits its length including the NUL.
    // SAFETY: as above.
    let loc: u32 = unsafe { ctx.read_at(layout.exec_filename as usize) }.unwrap_or(0);
    let name_src = ctx.as_ptr() as u64 + u64::from(loc & 0xffff);
    // SAFETY: the destination lies in the scratch buffer; the helper checks the source.
    let copied = unsafe {
        bpf_probe_read_kernel_str(
            buf.add(FIXED).cast(),
            FILENAME_MAX as u32,
            name_src as *const _,
        )
    };
    let mut filename_len = 0usize;
    if copied <= 0 {
        header.flags |= flags::FILENAME_UNREADABLE;
    } else {
        // `copied` counts the NUL, which is not sent.
        filename_len = (copied as usize - 1) & (FILENAME_MAX - 1);
        if (loc >> 16) as usize > FILENAME_MAX {
            header.flags |= flags::FILENAME_TRUNCATED;
        }
    }

    let (argv_size, argv_len) = read_argv(task, &layout, &config, buf, filename_len, &mut header);
    if header.flags & flags::ARGV_UNREADABLE != 0 {
        debug!(ctx, "argv of pid {} unreadable", header.pid);
    }

    // de_thread gave an exec'ing non-leader thread the leader's start time.
    let start_ns: u64 = kernel::read(task, layout.task_start_boottime).unwrap_or(0);
    let fixed = ExecRecord {
        header,
        start_ns,
        old_tid,
        retval: 0,
        argv_size,
        filename_len: filename_len as u16,
        argv_len: argv_len as u16,
    };
    record::send_exec(buf, fixed);
    Ok(())
}

/// Copies the new image's argv after the filename; returns (the whole argv size, bytes copied).
#[inline(always)]
fn read_argv(
    task: u64,
    layout: &tracer_common::KernelLayout,
    config: &tracer_common::Config,
    buf: *mut u8,
    filename_len: usize,
    header: &mut tracer_common::RecordHeader,
) -> (u32, usize) {
    let Ok(mm) = kernel::read::<u64>(task, layout.task_mm) else {
        header.flags |= flags::ARGV_UNREADABLE;
        return (0, 0);
    };
    let (Ok(start), Ok(end)) = (
        kernel::read::<u64>(mm, layout.mm_arg_start),
        kernel::read::<u64>(mm, layout.mm_arg_end),
    ) else {
        header.flags |= flags::ARGV_UNREADABLE;
        return (0, 0);
    };
    let size = end.saturating_sub(start);
    let limit = (config.max_arg_bytes as u64).min(ARGV_MAX as u64);
    let mut len = size;
    if len > limit {
        len = limit;
        header.flags |= flags::ARGV_TRUNCATED;
    }
    let len = len as usize;
    if len == 0 || len > ARGV_MAX {
        return (size as u32, 0);
    }
    // SAFETY: `filename_len < FILENAME_MAX` and `len <= ARGV_MAX`, so the destination stays in
    // the RECORD_MAX-byte scratch buffer; the helper checks the source.
    let ret = unsafe {
        bpf_probe_read_user(
            buf.add(FIXED + filename_len).cast(),
            len as u32,
            start as *const _,
        )
    };
    if ret != 0 {
        header.flags |= flags::ARGV_UNREADABLE;
        return (size as u32, 0);
    }
    (size as u32, len)
}
