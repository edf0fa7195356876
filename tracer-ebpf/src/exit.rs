//! `sched/sched_process_exit`: fires for every exiting thread; a record is sent only for the
//! last one, when the process is gone.

use aya_ebpf::{
    helpers::generated::bpf_get_current_task, macros::tracepoint, programs::TracePointContext,
};
use tracer_common::{ExitRecord, RecordKind, flags};

use crate::{kernel, record};

#[tracepoint]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    let _ = try_exit();
    0
}

fn try_exit() -> Result<(), i32> {
    let layout = kernel::layout();
    // SAFETY: the helper takes no arguments.
    let task = unsafe { bpf_get_current_task() };
    // `signal->live` counts the process's live threads; do_exit has already decremented it
    // for this one (every kernel since 2.6), so zero means the whole process is gone.
    let signal: u64 = kernel::read(task, layout.task_signal)?;
    let live: i32 = kernel::read(signal, layout.signal_live)?;
    if live != 0 {
        return Ok(());
    }

    let mut header = record::current_header(RecordKind::Exit);
    match kernel::parent_tgid(task, &layout) {
        Ok(ppid) => header.ppid = ppid,
        Err(_) => header.flags |= flags::PPID_UNREADABLE,
    }
    let exit_code: u32 = kernel::read(task, layout.task_exit_code).unwrap_or(0);
    record::send_fixed(ExitRecord {
        header,
        exit_code,
        _pad: 0,
    });
    Ok(())
}
