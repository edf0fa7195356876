//! Launch chains: a process, the one that forked it, the one that forked that, and so on up
//! to pid 1 or the oldest the table knows; and how they are written in text and JSON.

use super::{
    Adoption, Argv, CHAIN_MAX, ExitInfo, Origin, ParentRef, Proc, ProcessTable, State,
    push_secs_millis,
};
use crate::output::{escape::escape, json, push_u64};

/// The launch chain of one process, itself first.
#[derive(Clone, Debug)]
pub struct Chain<'a> {
    pub links: Vec<Link<'a>>,
    /// What lies above the last link.
    pub end: ChainEnd,
}

/// One process of a chain.
#[derive(Clone, Copy, Debug)]
pub struct Link<'a> {
    pub pid: u32,
    pub start_ns: u64,
    pub origin: Origin,
    pub comm: &'a [u8],
    /// The latest exec's short argv (or the command line at start-up); empty if none is known.
    pub argv: Argv<'a>,
    pub state: State,
    /// The latest change of parent, if the kernel made one while tracing.
    pub adopted: Option<Adoption>,
}

/// Why a chain stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd {
    /// At a process without a parent (pid 1, kthreadd).
    Top,
    /// At a parent the table does not have; `ppid` when the kernel named it.
    Unknown { ppid: Option<u32>, why: Unknown },
    /// After `CHAIN_MAX` links.
    TooLong,
}

/// Why a parent is not in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// It exited and was forgotten to keep the table bounded.
    Evicted,
    /// This many events were lost, and it may have been in one.
    Lost(u64),
    /// No event named it and none was lost.
    NotSeen,
}

impl ProcessTable {
    /// The launch chain of the process of `pid` (the live one, else the one that exited
    /// last), following original parents. None when the table has no process of that pid.
    pub fn chain(&self, pid: u32) -> Option<Chain<'_>> {
        let proc = self.find(pid)?;
        let mut links = Vec::new();
        let end = self.walk(proc, |link| links.push(link));
        Some(Chain { links, end })
    }

    /// Writes the chain of `pid` as one line:
    ///
    /// `    chain: 4242 true [adopted by 1 at +0.301s] <- 4240 sh (exited 0.301s ago) <- 1 systemd`
    ///
    /// "ago" counts back from `now_ns` (normally the event's `ktime_ns`); "at +" counts from
    /// the adopted process's start. A chain ending at a parent the table lacks ends in
    /// `<- 4000 [parent unknown: 3 events lost]`, `[parent unknown: evicted]` or
    /// `[parent unknown]`. Names are escaped. Writes nothing for an unknown pid.
    pub fn write_chain_text(&self, pid: u32, now_ns: u64, out: &mut Vec<u8>) {
        let Some(proc) = self.find(pid) else {
            return;
        };
        out.extend_from_slice(b"    chain: ");
        let mut first = true;
        let end = self.walk(proc, |link| {
            if !first {
                out.extend_from_slice(b" <- ");
            }
            first = false;
            push_link_text(out, &link, now_ns);
        });
        match end {
            ChainEnd::Top => {}
            ChainEnd::Unknown { ppid, why } => {
                out.extend_from_slice(b" <- ");
                match ppid {
                    Some(ppid) => push_u64(out, ppid.into()),
                    None => out.push(b'?'),
                }
                out.extend_from_slice(b" [");
                push_unknown(out, why);
                out.push(b']');
            }
            ChainEnd::TooLong => out.extend_from_slice(b" <- [...]"),
        }
        out.push(b'\n');
    }

    /// Writes `,"chain":[...]`, to go among the keys of an event's JSON object: one object
    /// per link, `{"pid":4242,"comm":"true","argv":["true"]}` plus, when they apply,
    /// `argv_truncated` (true), `exited_ns`, `exit_code`, `signal`, `core_dumped` (as in
    /// `exit` events), `exit_not_seen` (true), `adopted_by` and `adopted_ns`. A chain ending
    /// at a parent the table lacks ends with `{"pid":4000,"unknown":"events_lost","lost":3}`
    /// (`"unknown"` is `"events_lost"`, `"evicted"` or `"not_seen"`; `pid` is absent when not
    /// known), or `{"unknown":"too_long"}`. The array is empty for an unknown pid.
    pub fn write_chain_json(&self, pid: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"chain\":[");
        if let Some(proc) = self.find(pid) {
            let mut first = true;
            let end = self.walk(proc, |link| {
                if !first {
                    out.push(b',');
                }
                first = false;
                push_link_json(out, &link);
            });
            push_end_json(out, end, first);
        }
        out.push(b']');
    }

    /// Calls `each` for `proc` and each original ancestor, nearest first, and says where the
    /// walk stopped.
    pub(super) fn walk<'a>(
        &'a self,
        mut proc: &'a Proc,
        mut each: impl FnMut(Link<'a>),
    ) -> ChainEnd {
        for _ in 0..CHAIN_MAX {
            each(Link {
                argv: self.argv_of(proc),
                ..link(proc)
            });
            let unknown = |ppid| ChainEnd::Unknown {
                ppid,
                why: self.unknown_why(),
            };
            match proc.orig_parent {
                ParentRef::None => return ChainEnd::Top,
                ParentRef::Known(id) => match self.procs.get(&id) {
                    Some(parent) => proc = parent,
                    None => {
                        return ChainEnd::Unknown {
                            ppid: Some(id.pid),
                            why: Unknown::Evicted,
                        };
                    }
                },
                ParentRef::Unseen(ppid) => return unknown(Some(ppid)),
                ParentRef::Unknown => return unknown(None),
            }
        }
        ChainEnd::TooLong
    }

    pub(super) fn unknown_why(&self) -> Unknown {
        if self.lost > 0 {
            Unknown::Lost(self.lost)
        } else {
            Unknown::NotSeen
        }
    }
}

impl ProcessTable {
    /// The argv `proc` runs with: its latest exec's, or for a process that only forked, the
    /// one it inherited from the nearest ancestor that exec'd.
    fn argv_of<'a>(&'a self, mut proc: &'a Proc) -> Argv<'a> {
        for _ in 0..CHAIN_MAX {
            if let Some(argv) = proc.execs.last() {
                return argv;
            }
            match (proc.origin, proc.orig_parent) {
                (Origin::Fork, ParentRef::Known(parent)) => match self.procs.get(&parent) {
                    Some(parent) => proc = parent,
                    None => break,
                },
                _ => break,
            }
        }
        Argv::EMPTY
    }
}

fn link(proc: &Proc) -> Link<'_> {
    Link {
        pid: proc.id.pid,
        start_ns: proc.id.start_ns,
        origin: proc.origin,
        comm: proc.comm.as_bytes(),
        argv: proc.execs.last().unwrap_or(Argv::EMPTY),
        state: proc.state,
        adopted: proc.reparents.last().map(|&(_, a)| a),
    }
}

/// Most bytes of a link's arguments shown in a text chain.
const LINK_ARGS_BYTES: usize = 48;

fn push_link_text(out: &mut Vec<u8>, link: &Link<'_>, now_ns: u64) {
    push_u64(out, link.pid.into());
    out.push(b' ');
    push_comm(out, link.comm);
    // A short argv: the arguments after argv[0], whose name the comm already gives.
    let mut budget = LINK_ARGS_BYTES;
    for arg in link.argv.iter().skip(1) {
        out.push(b' ');
        if arg.len() > budget {
            escape(&arg[..budget], out);
            out.extend_from_slice("…".as_bytes());
            break;
        }
        escape(arg, out);
        budget -= arg.len();
    }
    if let Some(adopted) = link.adopted {
        out.extend_from_slice(b" [adopted by ");
        push_u64(out, adopted.new_ppid.into());
        out.extend_from_slice(b" at +");
        push_secs_millis(out, adopted.ktime_ns.saturating_sub(link.start_ns));
        out.push(b']');
    }
    match link.state {
        State::Running => {}
        State::Exited(exit) => {
            out.extend_from_slice(b" (exited ");
            push_secs_millis(out, now_ns.saturating_sub(exit.ktime_ns));
            out.extend_from_slice(b" ago)");
        }
        State::ExitNotSeen => out.extend_from_slice(b" (exit not seen)"),
    }
}

/// The escaped name, or `?` when it is not known.
pub(super) fn push_comm(out: &mut Vec<u8>, comm: &[u8]) {
    if comm.is_empty() {
        out.push(b'?');
    } else {
        escape(comm, out);
    }
}

/// `parent unknown: 3 events lost`, `parent unknown: evicted`, `parent unknown`.
pub(super) fn push_unknown(out: &mut Vec<u8>, why: Unknown) {
    out.extend_from_slice(b"parent unknown");
    match why {
        Unknown::Evicted => out.extend_from_slice(b": evicted"),
        Unknown::Lost(n) => {
            out.extend_from_slice(b": ");
            push_u64(out, n);
            out.extend_from_slice(if n == 1 {
                b" event lost"
            } else {
                b" events lost"
            });
        }
        Unknown::NotSeen => {}
    }
}

fn push_link_json(out: &mut Vec<u8>, link: &Link<'_>) {
    out.extend_from_slice(b"{\"pid\":");
    push_u64(out, link.pid.into());
    json::push_bytes_field(out, "comm", "comm_hex", link.comm);
    json::push_argv(out, link.argv.iter());
    if link.argv.is_cut() {
        json::push_key(out, "argv_truncated");
        out.extend_from_slice(b"true");
    }
    match link.state {
        State::Running => {}
        State::Exited(exit) => push_exit_json(out, &exit),
        State::ExitNotSeen => {
            json::push_key(out, "exit_not_seen");
            out.extend_from_slice(b"true");
        }
    }
    if let Some(adopted) = link.adopted {
        json::push_key(out, "adopted_by");
        push_u64(out, adopted.new_ppid.into());
        json::push_key(out, "adopted_ns");
        push_u64(out, adopted.ktime_ns);
    }
    out.push(b'}');
}

fn push_exit_json(out: &mut Vec<u8>, exit: &ExitInfo) {
    json::push_key(out, "exited_ns");
    push_u64(out, exit.ktime_ns);
    json::push_key(out, "exit_code");
    push_u64(out, exit.status().into());
    if let Some(signal) = exit.signal() {
        json::push_key(out, "signal");
        push_u64(out, signal.into());
    }
    if exit.core_dumped() {
        json::push_key(out, "core_dumped");
        out.extend_from_slice(b"true");
    }
}

fn push_end_json(out: &mut Vec<u8>, end: ChainEnd, first: bool) {
    let (ppid, why) = match end {
        ChainEnd::Top => return,
        ChainEnd::Unknown { ppid, why } => (ppid, why),
        ChainEnd::TooLong => {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"unknown\":\"too_long\"}");
            return;
        }
    };
    if !first {
        out.push(b',');
    }
    out.push(b'{');
    if let Some(ppid) = ppid {
        out.extend_from_slice(b"\"pid\":");
        push_u64(out, ppid.into());
        out.push(b',');
    }
    out.extend_from_slice(b"\"unknown\":");
    match why {
        Unknown::Evicted => out.extend_from_slice(b"\"evicted\""),
        Unknown::NotSeen => out.extend_from_slice(b"\"not_seen\""),
        Unknown::Lost(n) => {
            out.extend_from_slice(b"\"events_lost\",\"lost\":");
            push_u64(out, n);
        }
    }
    out.push(b'}');
}
