//! The process table: who forked whom, what each process exec'd, how it ended, and who
//! adopted it, so that an exec can be shown with the chain of processes that launched it
//! ("who launched this, and through what?").
//!
//! # Identity
//!
//! A process is its pid *and* its start time ([`ProcId`]), so that a recycled pid never
//! inherits an older process's history or children. Start times are CLOCK_BOOTTIME
//! nanoseconds: the fork event's stamp for processes forked while tracing, `/proc/PID/stat`'s
//! start time (in clock ticks, so to 10 ms on most systems) for those found at start-up.
//!
//! # Two parents
//!
//! Each process has an *original* parent, the one that forked it, and a *current* parent,
//! which the kernel changes when the parent dies: in `exit_notify`, the orphans go to the
//! nearest child-subreaper ancestor or to the pid namespace's init. Chains, trees and subtrees
//! follow original parents; the current parent is what `ps` shows, and every change of it is
//! reported as a [`Reparent`].
//!
//! A reparent is never guessed: the new parent comes from the kernel, either from
//! `/proc/CHILD/stat` read when the old parent's exit event is applied (retried by
//! [`ProcessTable::settle`] while `/proc` still shows the dead parent, because userspace can
//! run ahead of `exit_notify`), or from the `ppid` of any later event of the child, which is
//! the child's `real_parent` as the kernel saw it.
//!
//! # Limits
//!
//! - Exited processes are kept in a FIFO of a size chosen by the caller
//!   ([`DEFAULT_EXITED_CAPACITY`] by default), except those that running processes descend
//!   from (by original parentage): those stay until the last such descendant exits, so a live
//!   process's chain never loses a link to eviction, however fast other processes come and go.
//!   Processes of a followed subtree ([`ProcessTable::follow`], `-p`) are never evicted, so
//!   its tree is whole. The table is therefore bounded by the capacity, plus the ancestors of
//!   running processes, plus the followed subtrees.
//!   A chain through an evicted process ends in "parent unknown: evicted". Subtree membership ([`ProcessTable::follow`]) is recorded per process, so it survives
//!   evictions.
//! - For a process that predates the trace, the "original" parent is its parent at start-up;
//!   the one that forked it may have died before. Likewise for a process whose fork event was
//!   lost: its parent is the one named by its first event.
//! - A process whose exit event was lost stays live until its pid is reused.
//! - When userspace falls behind, two reparents of one process in quick succession can be
//!   seen as one, from the first parent to the last.
//! - pids are those of the initial pid namespace, like the events'; `/proc` must be that
//!   namespace's.
//! - argv is kept short: at most [`SHORT_ARGS`] arguments and [`SHORT_ARGV_BYTES`] bytes per
//!   exec, and the first few execs and the latest of each process; the rest is cut and
//!   marked as cut.

mod chain;
mod procfs;
mod tree;

#[cfg(test)]
mod tests;

use std::{collections::VecDeque, mem, path::PathBuf};

use log::debug;
use rustc_hash::FxHashMap as HashMap;
use tracer_common::{COMM_LEN, flags};

pub use chain::{Chain, ChainEnd, Link, Unknown};

use crate::{
    event::{Event, EventKind},
    output::{push_u64, push_u64_zero_padded},
};

/// Exited processes kept by default, oldest forgotten first.
pub const DEFAULT_EXITED_CAPACITY: usize = 8192;

/// How long after a parent's exit `/proc` may still show it as its children's parent before
/// [`ProcessTable::settle`] stops asking. `exit_notify` runs microseconds after the exit
/// tracepoint, so only a stalled reader gets this far.
pub const SETTLE_TIMEOUT_NS: u64 = 1_000_000_000;

/// Most arguments kept per exec.
pub const SHORT_ARGS: usize = 8;

/// Most argv bytes kept per exec (without the separators).
pub const SHORT_ARGV_BYTES: usize = 256;

/// Execs whose argv is kept per process: the first ones and the latest.
const EXECS_KEPT: usize = 4;

/// Longest chain walked, which also stops a walk if the table ever held a cycle.
const CHAIN_MAX: usize = 1024;

/// A process: its pid and when it started, in CLOCK_BOOTTIME nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId {
    pub pid: u32,
    pub start_ns: u64,
}

/// The kernel gave a process a new parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reparent {
    /// When: the old parent's exit when it was seen, else the event that showed the change.
    pub ktime_ns: u64,
    pub pid: u32,
    pub old_ppid: u32,
    /// Always the kernel's word, never a guess.
    pub new_ppid: u32,
    pub via: ReparentSource,
}

/// Where the new parent of a [`Reparent`] was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReparentSource {
    /// `/proc/PID/stat`, after the old parent's exit.
    Proc,
    /// The `ppid` of a later event of the process.
    Event,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    pub ktime_ns: u64,
    /// The kernel's exit_code: status in bits 8..16, terminating signal in bits 0..7.
    pub exit_code: u32,
}

impl ExitInfo {
    /// The exit status, 0..=255 (0 when a signal ended the process).
    pub fn status(&self) -> u32 {
        (self.exit_code >> 8) & 0xff
    }

    /// The signal that ended the process, if one did.
    pub fn signal(&self) -> Option<u32> {
        Some(self.exit_code & 0x7f).filter(|&s| s != 0)
    }

    pub fn core_dumped(&self) -> bool {
        self.exit_code & 0x80 != 0
    }
}

/// Whether a process is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Exited(ExitInfo),
    /// Its pid was reused, so it ended, but its exit event was lost.
    ExitNotSeen,
}

/// How the table learned of a process, which says how much it knows of its beginning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Its fork was traced: the start time and the forking parent are exact.
    Fork,
    /// It was running at start-up ([`ProcessTable::seed_from_proc`]).
    Proc,
    /// Neither: first seen in a later event (or as the parent in a fork), so its fork event
    /// was lost. Its start time is when it was first seen.
    Event,
}

/// One change of parent, kept in the process's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adoption {
    pub ktime_ns: u64,
    pub old_ppid: u32,
    pub new_ppid: u32,
    pub via: ReparentSource,
}

/// A parent as the table knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParentRef {
    /// None at all: pid 1 and kthreadd have ppid 0.
    None,
    /// A process of the table (which may have been evicted since).
    Known(ProcId),
    /// The kernel named this pid, but the table has no live process under it.
    Unseen(u32),
    /// Not known (the kernel could not read it).
    Unknown,
}

impl ParentRef {
    fn pid(self) -> Option<u32> {
        match self {
            Self::None => Some(0),
            Self::Known(id) => Some(id.pid),
            Self::Unseen(pid) => Some(pid),
            Self::Unknown => None,
        }
    }
}

/// A task name, stored inline.
#[derive(Clone, Copy, Debug, Default)]
struct Comm {
    bytes: [u8; COMM_LEN],
    len: u8,
}

impl Comm {
    /// Keeps the first [`COMM_LEN`] bytes: longer names only come from `/proc` (kernel
    /// workers).
    fn new(name: &[u8]) -> Self {
        let mut comm = Self::default();
        let len = name.len().min(COMM_LEN);
        comm.bytes[..len].copy_from_slice(&name[..len]);
        comm.len = len as u8;
        comm
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// One exec's short argv, borrowed from the table.
#[derive(Clone, Copy, Debug)]
pub struct Argv<'a> {
    /// Each argument followed by a NUL.
    data: &'a [u8],
    argc: usize,
    cut: bool,
}

impl<'a> Argv<'a> {
    const EMPTY: Argv<'static> = Argv {
        data: &[],
        argc: 0,
        cut: false,
    };

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        self.data.split(|&b| b == 0).take(self.argc)
    }

    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// True when arguments or bytes were left out, here or by the kernel.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

/// The short argv of a process's execs, in one buffer that is reused: the first
/// `EXECS_KEPT - 1` execs and the latest. Each entry is a 4-byte header (argument count,
/// cut flag, data length as u16 LE) then the arguments, each followed by a NUL.
#[derive(Debug, Default)]
struct ExecLog {
    bytes: Vec<u8>,
    kept: usize,
    /// Entries ever pushed, so that the ones dropped can be counted.
    pushed: u32,
    /// Offset of the latest entry.
    last: usize,
}

impl ExecLog {
    fn push<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, mut cut: bool) {
        if self.kept == EXECS_KEPT {
            self.bytes.truncate(self.last);
            self.kept -= 1;
        }
        self.last = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);

        let mut argc = 0u8;
        let mut budget = SHORT_ARGV_BYTES;
        for arg in args {
            if usize::from(argc) == SHORT_ARGS || budget == 0 {
                cut = true;
                break;
            }
            let take = arg.len().min(budget);
            self.bytes.extend_from_slice(&arg[..take]);
            self.bytes.push(0);
            budget -= take;
            argc += 1;
            if take < arg.len() {
                cut = true;
                break;
            }
        }

        let len = (self.bytes.len() - self.last - 4) as u16;
        let header = &mut self.bytes[self.last..self.last + 4];
        header[0] = argc;
        header[1] = u8::from(cut);
        header[2..4].copy_from_slice(&len.to_le_bytes());
        self.kept += 1;
        self.pushed += 1;
    }

    fn entry(&self, offset: usize) -> (Argv<'_>, usize) {
        let header = &self.bytes[offset..offset + 4];
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let start = offset + 4;
        let argv = Argv {
            data: &self.bytes[start..start + len],
            argc: usize::from(header[0]),
            cut: header[1] != 0,
        };
        (argv, start + len)
    }

    fn last(&self) -> Option<Argv<'_>> {
        (self.kept > 0).then(|| self.entry(self.last).0)
    }

    fn iter(&self) -> impl Iterator<Item = Argv<'_>> {
        let mut offset = 0;
        std::iter::from_fn(move || {
            if offset >= self.bytes.len() {
                return None;
            }
            let (argv, next) = self.entry(offset);
            offset = next;
            Some(argv)
        })
    }

    /// Entries pushed but no longer kept (between the first ones and the latest).
    fn dropped(&self) -> u32 {
        self.pushed - self.kept as u32
    }
}

#[derive(Debug)]
struct Proc {
    id: ProcId,
    origin: Origin,
    /// Who forked it (see the module's limits for processes whose fork was not traced).
    orig_parent: ParentRef,
    parent: ParentRef,
    /// CLOCK_BOOTTIME at which `parent` was last known right: an event older than this that
    /// names another parent predates the change already made.
    parent_as_of_ns: u64,
    comm: Comm,
    execs: ExecLog,
    exec_count: u32,
    state: State,
    reparents: Vec<(ParentRef, Adoption)>,
    /// Live children by current parent, to find the orphans when this process exits.
    children: Vec<ProcId>,
    /// This process's index in its current parent's `children`, so that leaving it costs
    /// no scan (init and subreapers can have thousands).
    slot: usize,
    /// Forked, exec'd, exited or reparented while tracing (not only an ancestor).
    seen: bool,
    /// Bit i: descends by original parentage from `ProcessTable::followed[i]`.
    marks: u64,
    /// Processes this one forked that are running or themselves pinned: while any is, this
    /// one stays in the table even when exited, so that their chains stay whole.
    pins: u32,
    /// Exited, pinned, and so out of the FIFO of exited processes until its last pin goes.
    held: bool,
}

impl Proc {
    fn new(id: ProcId, origin: Origin, parent: ParentRef, comm: &[u8], as_of_ns: u64) -> Self {
        Self {
            id,
            origin,
            orig_parent: parent,
            parent,
            parent_as_of_ns: as_of_ns,
            comm: Comm::new(comm),
            execs: ExecLog::default(),
            exec_count: 0,
            state: State::Running,
            reparents: Vec::new(),
            children: Vec::new(),
            slot: 0,
            seen: false,
            marks: 0,
            pins: 0,
            held: false,
        }
    }

    /// Whether this process keeps its original parent in the table.
    fn pins_parent(&self) -> bool {
        self.state == State::Running || self.pins > 0
    }
}

/// A child whose parent exited while `/proc` still showed that parent.
#[derive(Clone, Copy, Debug)]
struct Pending {
    child: ProcId,
    old_parent: ProcId,
    exited_ns: u64,
}

/// What `/proc` says of a child's parent.
enum ProcParent {
    /// No such process any more (or not the same one): it exited too.
    Gone,
    Ppid(u32),
}

/// Processes, their parentage and history; see the module documentation.
pub struct ProcessTable {
    procs: HashMap<ProcId, Proc>,
    /// Running processes by pid.
    live: HashMap<u32, ProcId>,
    /// Exited processes, oldest first.
    exited: VecDeque<ProcId>,
    /// The latest exited process of each pid, for the events of a process that just exited.
    exited_by_pid: HashMap<u32, ProcId>,
    exited_capacity: usize,
    pending: Vec<Pending>,
    lost: u64,
    proc_root: PathBuf,
    tick_ns: u64,
    /// CLOCK_BOOTTIME now; replaced in tests.
    now: fn() -> u64,
    /// Root pids of [`ProcessTable::follow`], by mark bit.
    followed: Vec<u32>,
    stat_buf: Vec<u8>,
}

impl ProcessTable {
    /// An empty table that keeps up to `exited_capacity` exited processes and reads `/proc`.
    pub fn new(exited_capacity: usize) -> Self {
        Self {
            procs: HashMap::default(),
            live: HashMap::default(),
            exited: VecDeque::with_capacity(exited_capacity.min(1024)),
            exited_by_pid: HashMap::default(),
            exited_capacity,
            pending: Vec::new(),
            lost: 0,
            proc_root: PathBuf::from("/proc"),
            tick_ns: procfs::clock_tick_ns(),
            now: || crate::clock::boottime_ns().unwrap_or(0),
            followed: Vec::new(),
            stat_buf: Vec::with_capacity(512),
        }
    }

    /// Processes known, live and exited.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Live processes.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Children whose new parent `/proc` has not shown yet.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Records that `total` events have been lost since the trace began, so that unknown
    /// parents say why they may be unknown.
    pub fn note_lost(&mut self, total: u64) {
        self.lost = self.lost.max(total);
    }

    /// The process an event with this pid is about: the live one, else the latest exited.
    pub fn id_of(&self, pid: u32) -> Option<ProcId> {
        self.live
            .get(&pid)
            .or_else(|| self.exited_by_pid.get(&pid))
            .copied()
    }

    /// Parents, in order, that the kernel gave the process of `pid` while tracing.
    pub fn reparents(&self, pid: u32) -> impl Iterator<Item = Adoption> + '_ {
        self.find(pid)
            .into_iter()
            .flat_map(|p| p.reparents.iter().map(|&(_, a)| a))
    }

    /// Updates the table from one event, in ring-buffer order, and appends to `reparents`
    /// the changes of parent it reveals. Reads `/proc` only for the exit of a process that
    /// has live children.
    pub fn apply(&mut self, ev: &Event, reparents: &mut Vec<Reparent>) {
        match &ev.kind {
            EventKind::Fork(fork) => self.on_fork(ev, fork.caller_pid),
            EventKind::Exec(exec) => {
                let id = self.on_event(ev, reparents);
                if exec.retval < 0 {
                    return;
                }
                let Some(proc) = self.procs.get_mut(&id) else {
                    return;
                };
                proc.comm = Comm::new(&ev.comm);
                proc.exec_count += 1;
                let cut = ev.argv_truncated();
                if exec.argv.is_empty() && !exec.filename.is_empty() {
                    // An unreadable argv: the path is the best name for what runs.
                    proc.execs.push([exec.filename.as_slice()], cut);
                } else {
                    proc.execs.push(exec.argv.iter().map(Vec::as_slice), cut);
                }
            }
            EventKind::Exit(exit) => {
                let id = self.on_event(ev, reparents);
                let info = ExitInfo {
                    ktime_ns: ev.ktime_ns,
                    exit_code: exit.exit_code,
                };
                self.on_exit(id, info, reparents);
            }
        }
    }

    /// Asks `/proc` again for the new parent of children whose parent exited, and gives up
    /// on those still showing the dead parent [`SETTLE_TIMEOUT_NS`] after its exit (a later
    /// event of theirs still reveals the change). Call on every wake-up of the trace loop;
    /// it does nothing when no child is waiting. `now_ns` is CLOCK_BOOTTIME.
    pub fn settle(&mut self, now_ns: u64, reparents: &mut Vec<Reparent>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = mem::take(&mut self.pending);
        for p in pending {
            if self.resolve(p, now_ns, reparents) {
                continue;
            }
            if now_ns.saturating_sub(p.exited_ns) >= SETTLE_TIMEOUT_NS {
                debug!(
                    "/proc still shows {} as the parent of {} after {} ms; giving up",
                    p.old_parent.pid,
                    p.child.pid,
                    SETTLE_TIMEOUT_NS / 1_000_000
                );
                continue;
            }
            self.pending.push(p);
        }
    }

    /// Marks the live process `root_pid` and its known descendants by original parentage,
    /// and from now on each process forked by a marked one, so that
    /// [`ProcessTable::in_subtree`] answers from the mark (which no eviction can lose).
    /// At most 64 roots; returns false when `root_pid` is not running or there are already
    /// 64.
    pub fn follow(&mut self, root_pid: u32) -> bool {
        let Some(&root) = self.live.get(&root_pid) else {
            return false;
        };
        let index = self.followed.len();
        if index == 64 {
            return false;
        }
        self.followed.push(root_pid);

        let bit = 1u64 << index;
        let descendants: Vec<ProcId> = self
            .procs
            .keys()
            .copied()
            .filter(|&id| self.descends_from(id, root))
            .collect();
        for id in descendants {
            if let Some(proc) = self.procs.get_mut(&id) {
                proc.marks |= bit;
            }
        }
        true
    }

    /// True for `root_pid` and every process descending from it by original parentage:
    /// born during the trace or before, adopted since by a process outside or not. For a
    /// root given to [`ProcessTable::follow`] this is one lookup; for any other, a walk up
    /// the original parents, which stops at an evicted ancestor.
    pub fn in_subtree(&self, root_pid: u32, pid: u32) -> bool {
        self.find(pid)
            .is_some_and(|proc| self.proc_in_subtree(root_pid, proc))
    }

    /// [`Self::in_subtree`] for a process of the table, live or exited.
    fn proc_in_subtree(&self, root_pid: u32, proc: &Proc) -> bool {
        if let Some(index) = self.followed.iter().position(|&r| r == root_pid) {
            return proc.marks & (1 << index) != 0;
        }
        let mut found = false;
        self.walk(proc, |link| found |= link.pid == root_pid);
        found
    }

    fn find(&self, pid: u32) -> Option<&Proc> {
        self.id_of(pid).and_then(|id| self.procs.get(&id))
    }

    fn descends_from(&self, mut id: ProcId, root: ProcId) -> bool {
        for _ in 0..CHAIN_MAX {
            if id == root {
                return true;
            }
            match self.procs.get(&id).map(|p| p.orig_parent) {
                Some(ParentRef::Known(parent)) => id = parent,
                _ => return false,
            }
        }
        false
    }

    /// The table's view of parent `ppid` (from the kernel, so running).
    fn parent_ref(&self, ppid: u32) -> ParentRef {
        if ppid == 0 {
            return ParentRef::None;
        }
        match self.live.get(&ppid) {
            Some(&id) => ParentRef::Known(id),
            None => ParentRef::Unseen(ppid),
        }
    }

    fn marks_of(&self, parent: ParentRef) -> u64 {
        match parent {
            ParentRef::Known(id) => self.procs.get(&id).map_or(0, |p| p.marks),
            _ => 0,
        }
    }

    /// Stores a new live process, under a key no other holds, and links it to its parent.
    fn insert(&mut self, mut proc: Proc) -> ProcId {
        while self.procs.contains_key(&proc.id) {
            // Only possible for first-seen times, which are not real start times.
            proc.id.start_ns += 1;
        }
        let id = proc.id;
        let parent = proc.parent;
        proc.marks |= self.marks_of(proc.orig_parent);
        let orig_parent = proc.orig_parent;
        self.procs.insert(id, proc);
        self.live.insert(id.pid, id);
        self.link_child(parent, id);
        self.pin(orig_parent);
        id
    }

    /// Changes the original parent of `id`, moving its pin.
    fn set_orig_parent(&mut self, id: ProcId, new: ParentRef) {
        let Some(proc) = self.procs.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut proc.orig_parent, new);
        if proc.pins_parent() {
            self.unpin(old);
            self.pin(new);
        }
    }

    fn pin(&mut self, parent: ParentRef) {
        if let ParentRef::Known(id) = parent
            && let Some(proc) = self.procs.get_mut(&id)
        {
            proc.pins += 1;
        }
    }

    /// Takes one pin off `parent`; an exited parent left without pins goes back in the FIFO
    /// of exited processes, and no longer pins its own parent.
    fn unpin(&mut self, mut parent: ParentRef) {
        for _ in 0..CHAIN_MAX {
            let ParentRef::Known(id) = parent else {
                return;
            };
            let Some(proc) = self.procs.get_mut(&id) else {
                return;
            };
            proc.pins = proc.pins.saturating_sub(1);
            if proc.pins_parent() {
                return;
            }
            if std::mem::take(&mut proc.held) {
                self.exited.push_back(id);
            }
            parent = proc.orig_parent;
        }
    }

    fn on_fork(&mut self, ev: &Event, caller_pid: u32) {
        let ppid = (ev.flags & flags::PPID_UNREADABLE == 0 && ev.ppid != 0).then_some(ev.ppid);
        let start_ns = ev.ktime_ns;

        if let Some(&old) = self.live.get(&ev.pid) {
            let same = self.procs.get(&old).is_some_and(|p| {
                p.origin == Origin::Proc && self.same_start(start_ns, Origin::Fork, old.start_ns)
            });
            if same {
                // The /proc walk at start-up raced this fork and saw the child already.
                let parent = ppid.map_or(ParentRef::Unknown, |p| self.parent_ref(p));
                if let Some(proc) = self.procs.get_mut(&old) {
                    proc.origin = Origin::Fork;
                    proc.seen = true;
                }
                self.set_orig_parent(old, parent);
                return;
            }
            // The kernel reuses a pid only once its process is gone.
            self.retire(old, State::ExitNotSeen);
        }

        let parent = match ppid {
            Some(p) if !self.live.contains_key(&p) => {
                // A running parent the table never saw: its own fork was lost.
                let comm: &[u8] = if caller_pid == p { &ev.comm } else { b"" };
                let placeholder = Proc::new(
                    ProcId { pid: p, start_ns },
                    Origin::Event,
                    ParentRef::Unknown,
                    comm,
                    0,
                );
                ParentRef::Known(self.insert(placeholder))
            }
            Some(p) => self.parent_ref(p),
            None => ParentRef::Unknown,
        };
        let id = ProcId {
            pid: ev.pid,
            start_ns,
        };
        let mut child = Proc::new(id, Origin::Fork, parent, &ev.comm, start_ns);
        child.seen = true;
        self.insert(child);
    }

    /// The live process of an exec or exit event (created if the table never saw it), after
    /// checking the event's ppid against its current parent.
    fn on_event(&mut self, ev: &Event, reparents: &mut Vec<Reparent>) -> ProcId {
        let ppid = (ev.flags & flags::PPID_UNREADABLE == 0).then_some(ev.ppid);
        let id = match self.live.get(&ev.pid) {
            Some(&id) => {
                if let Some(ppid) = ppid {
                    self.check_parent(id, ppid, ev.ktime_ns, reparents);
                }
                id
            }
            None => {
                let parent = ppid.map_or(ParentRef::Unknown, |p| self.parent_ref(p));
                let id = ProcId {
                    pid: ev.pid,
                    start_ns: ev.ktime_ns,
                };
                let mut proc = Proc::new(id, Origin::Event, parent, &ev.comm, ev.ktime_ns);
                // Its fork was not seen (lost): the kernel's parent now may be an adopter,
                // so who forked it is unknown, and its chain says so rather than guess.
                if let ParentRef::Known(current) = parent {
                    proc.orig_parent = ParentRef::Unseen(current.pid);
                }
                self.insert(proc)
            }
        };
        if let Some(proc) = self.procs.get_mut(&id) {
            proc.seen = true;
        }
        id
    }

    /// The kernel's `ppid` in an event of the process is its parent at that moment; if the
    /// table has another (and did not learn it later than the event), the kernel moved it.
    fn check_parent(&mut self, id: ProcId, ppid: u32, ktime_ns: u64, out: &mut Vec<Reparent>) {
        let Some(proc) = self.procs.get(&id) else {
            return;
        };
        let current = proc.parent;
        if current.pid() == Some(ppid) || ktime_ns < proc.parent_as_of_ns {
            return;
        }
        let new = self.parent_ref(ppid);
        if current == ParentRef::Unknown {
            // Not a change: the first time the parent is known.
            self.set_parent(id, current, new, ktime_ns);
            if self
                .procs
                .get(&id)
                .is_some_and(|p| p.orig_parent == ParentRef::Unknown)
            {
                self.set_orig_parent(id, new);
            }
            return;
        }

        // The change happened when the old parent died, if that was seen.
        let when = match current {
            ParentRef::Known(old) => match self.procs.get(&old).map(|p| p.state) {
                Some(State::Exited(exit)) if exit.ktime_ns <= ktime_ns => exit.ktime_ns,
                _ => ktime_ns,
            },
            _ => ktime_ns,
        };
        self.pending.retain(|p| p.child != id);
        self.reparent(id, current, new, when, ktime_ns, ReparentSource::Event, out);
    }

    /// Moves `id` from parent `old` to `new`, records it and reports it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site each, all values differ"
    )]
    fn reparent(
        &mut self,
        id: ProcId,
        old: ParentRef,
        new: ParentRef,
        ktime_ns: u64,
        as_of_ns: u64,
        via: ReparentSource,
        out: &mut Vec<Reparent>,
    ) {
        self.set_parent(id, old, new, as_of_ns);
        let adoption = Adoption {
            ktime_ns,
            old_ppid: old.pid().unwrap_or(0),
            new_ppid: new.pid().unwrap_or(0),
            via,
        };
        if let Some(proc) = self.procs.get_mut(&id) {
            proc.reparents.push((new, adoption));
            proc.seen = true;
        }
        out.push(Reparent {
            ktime_ns,
            pid: id.pid,
            old_ppid: adoption.old_ppid,
            new_ppid: adoption.new_ppid,
            via,
        });
    }

    fn set_parent(&mut self, id: ProcId, old: ParentRef, new: ParentRef, as_of_ns: u64) {
        self.unlink_child(old, id);
        self.link_child(new, id);
        if let Some(proc) = self.procs.get_mut(&id) {
            proc.parent = new;
            proc.parent_as_of_ns = as_of_ns;
        }
    }

    /// Adds `child` to the children of `parent`.
    fn link_child(&mut self, parent: ParentRef, child: ProcId) {
        let ParentRef::Known(parent) = parent else {
            return;
        };
        let Some(parent) = self.procs.get_mut(&parent) else {
            return;
        };
        let slot = parent.children.len();
        parent.children.push(child);
        if let Some(child) = self.procs.get_mut(&child) {
            child.slot = slot;
        }
    }

    /// Takes `child` out of the children of `parent`, if it is there.
    fn unlink_child(&mut self, parent: ParentRef, child: ProcId) {
        let ParentRef::Known(parent) = parent else {
            return;
        };
        let Some(slot) = self.procs.get(&child).map(|c| c.slot) else {
            return;
        };
        let Some(parent) = self.procs.get_mut(&parent) else {
            return;
        };
        // The slot is stale once the parent's exit took its children away.
        if parent.children.get(slot) != Some(&child) {
            return;
        }
        parent.children.swap_remove(slot);
        let moved = parent.children.get(slot).copied();
        if let Some(moved) = moved
            && let Some(moved) = self.procs.get_mut(&moved)
        {
            moved.slot = slot;
        }
    }

    fn on_exit(&mut self, id: ProcId, exit: ExitInfo, reparents: &mut Vec<Reparent>) {
        let children = match self.procs.get_mut(&id) {
            Some(proc) => mem::take(&mut proc.children),
            None => return,
        };
        self.retire(id, State::Exited(exit));
        if children.is_empty() {
            return;
        }

        // /proc is read after the event, so what it shows is at least this recent.
        let as_of_ns = (self.now)().max(exit.ktime_ns);
        for child in children {
            let pending = Pending {
                child,
                old_parent: id,
                exited_ns: exit.ktime_ns,
            };
            if !self.resolve(pending, as_of_ns, reparents) {
                self.pending.push(pending);
            }
        }
    }

    /// Reads the new parent of an orphan from `/proc`; false while it still shows the dead
    /// parent.
    fn resolve(&mut self, p: Pending, as_of_ns: u64, out: &mut Vec<Reparent>) -> bool {
        let still_child = self.live.get(&p.child.pid) == Some(&p.child)
            && self.procs.get(&p.child).map(|c| c.parent) == Some(ParentRef::Known(p.old_parent));
        if !still_child {
            return true;
        }
        let ppid = match self.read_parent(p.child) {
            ProcParent::Gone => return true,
            ProcParent::Ppid(ppid) if ppid == p.old_parent.pid => return false,
            ProcParent::Ppid(ppid) => ppid,
        };
        let new = self.parent_ref(ppid);
        let old = ParentRef::Known(p.old_parent);
        self.reparent(
            p.child,
            old,
            new,
            p.exited_ns,
            as_of_ns,
            ReparentSource::Proc,
            out,
        );
        true
    }

    /// Ends a process: out of the live index and its parent's children, into the FIFO of
    /// exited processes (evicting the oldest beyond capacity).
    fn retire(&mut self, id: ProcId, state: State) {
        let Some(proc) = self.procs.get_mut(&id) else {
            return;
        };
        let was_running = proc.state == State::Running;
        proc.state = state;
        let parent = proc.parent;
        let unpinned = (was_running && proc.pins == 0).then_some(proc.orig_parent);
        if self.live.get(&id.pid) == Some(&id) {
            self.live.remove(&id.pid);
        }
        self.unlink_child(parent, id);
        if !self.pending.is_empty() {
            self.pending.retain(|p| p.child != id);
        }

        self.exited.push_back(id);
        self.exited_by_pid.insert(id.pid, id);
        if let Some(orig_parent) = unpinned {
            self.unpin(orig_parent);
        }
        while self.exited.len() > self.exited_capacity {
            let Some(old) = self.exited.pop_front() else {
                break;
            };
            if let Some(proc) = self.procs.get_mut(&old) {
                if proc.marks != 0 {
                    // In a subtree the user follows (`-p`): kept for its chains and tree.
                    continue;
                }
                if proc.pins > 0 {
                    // An ancestor of running processes: kept until they are gone.
                    proc.held = true;
                    continue;
                }
            }
            self.procs.remove(&old);
            if self.exited_by_pid.get(&old.pid) == Some(&old) {
                self.exited_by_pid.remove(&old.pid);
            }
        }
    }

    /// Whether a start time `ns` (of the given origin) and one at `other_ns` (a /proc start
    /// time, a whole number of ticks) can be the same process's. A fork is stamped just after
    /// the kernel set the start time, so within the same tick or the next; a first-seen time
    /// only bounds the start from above.
    fn same_start(&self, ns: u64, origin: Origin, other_ns: u64) -> bool {
        let ticks = other_ns / self.tick_ns;
        match origin {
            Origin::Event => ticks * self.tick_ns <= ns,
            Origin::Fork | Origin::Proc => {
                let own = ns / self.tick_ns;
                own == ticks || own == ticks + 1
            }
        }
    }
}

/// Writes nanoseconds as seconds with three decimals and an `s`: `0.302s`.
fn push_secs_millis(out: &mut Vec<u8>, ns: u64) {
    push_u64(out, ns / 1_000_000_000);
    out.push(b'.');
    push_u64_zero_padded(out, ns % 1_000_000_000 / 1_000_000, 3);
    out.push(b's');
}

/// The name of a signal, by this target's numbers.
fn signal_name(signal: u32) -> Option<&'static str> {
    let name = match i32::try_from(signal).ok()? {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    };
    Some(name)
}

/// Writes how a process ended: `exit 0`, `killed by SIGKILL`, `killed by SIGSEGV, core
/// dumped`, `killed by signal 40`.
fn push_exit(out: &mut Vec<u8>, exit: &ExitInfo) {
    match exit.signal() {
        None => {
            out.extend_from_slice(b"exit ");
            push_u64(out, exit.status().into());
        }
        Some(signal) => {
            out.extend_from_slice(b"killed by ");
            match signal_name(signal) {
                Some(name) => out.extend_from_slice(name.as_bytes()),
                None => {
                    out.extend_from_slice(b"signal ");
                    push_u64(out, signal.into());
                }
            }
        }
    }
    if exit.core_dumped() {
        out.extend_from_slice(b", core dumped");
    }
}
