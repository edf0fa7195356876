//! Events shared by the output formats' tests.

use crate::event::{Comm, Event, EventKind, Exec};

/// An exec of `/bin/echo` by pid 31712, child of 31700, with `argv`.
pub fn exec_event(argv: &[&[u8]]) -> Event {
    Event {
        ktime_ns: 8_812_392_310_123,
        pid: 31712,
        tid: 31712,
        ppid: 31700,
        uid: 1000,
        comm: Comm::new(b"echo"),
        flags: 0,
        kind: EventKind::Exec(Exec {
            start_ns: 1,
            old_tid: 31712,
            retval: 0,
            filename: b"/bin/echo".to_vec(),
            argv: argv.iter().map(|a| a.to_vec()).collect(),
            argv_size: 13,
        }),
    }
}

pub fn exec_mut(ev: &mut Event) -> &mut Exec {
    match &mut ev.kind {
        EventKind::Exec(exec) => exec,
        _ => unreachable!("not an exec"),
    }
}
