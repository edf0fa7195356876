//! `sched_process_fork`, as a raw tracepoint: its arguments are the parent and child
//! `task_struct`s, which is what tells a new process from a new thread (the regular
//! tracepoint's pids alone do not: a thread's pid is as new as a process's).

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext,
};
use tracer_common::{ForkRecord, RecordKind, flags};

use crate::{kernel, record};

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    let _ = try_fork(&ctx);
    0
}

fn try_fork(ctx: &RawTracePointContext) -> Result<(), i32> {
    let layout = kernel::layout();
    let child: u64 = ctx.arg(1);
    let child_tid: u32 = kernel::read(child, layout.task_pid)?;
    let child_pid: u32 = kernel::read(child, layout.task_tgid)?;
    if child_tid != child_pid {
        // A new thread of an existing process.
        return Ok(());
    }

    let caller = bpf_get_current_pid_tgid();
    let mut header = record::current_header(RecordKind::Fork);
    header.pid = child_pid;
    header.tid = child_tid;
    // With CLONE_PARENT the child's parent is the caller's parent, so read it from the child.
    match kernel::parent_tgid(child, &layout) {
        Ok(ppid) => header.ppid = ppid,
        Err(_) => header.flags |= flags::PPID_UNREADABLE,
    }
    record::send_fixed(ForkRecord {
        header,
        caller_pid: (caller >> 32) as u32,
        caller_tid: caller as u32,
    });
    Ok(())
}
