//! The trace loop: drain the ring buffer, decode, filter, format, write; stop on Ctrl-C,
//! SIGTERM, the end of `-d`, or a closed stdout.

use std::{
    fs::File,
    io::{self, Write},
    mem::ManuallyDrop,
    os::fd::FromRawFd,
    time::Duration,
};

use anyhow::Context;
use aya::maps::{MapData, RingBuf};
use log::warn;
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
};
use tracer_common::flags;

use crate::{
    clock::{self, Clock},
    decode,
    event::{Event, EventKind},
    filter::Filter,
    loader::Loaded,
    output::{Output, summary::Summary},
    procs::{ProcessTable, Reparent},
};

pub struct SessionOptions {
    pub duration: Option<Duration>,
    pub summary: bool,
    /// After each exec, its launch chain (`-c`).
    pub chain: bool,
    /// Only the subtree of this process (`-p`).
    pub subtree: Option<u32>,
    /// Print the process tree at the end (`--tree`).
    pub tree: bool,
    /// The process table, when chains, subtrees, the tree or JSON reparent events need it.
    pub procs: Option<ProcessTable>,
}

/// Records decoded and put in order before they are handled.
const BATCH: usize = 4096;

/// Output written at once during a long drain.
const OUTPUT_CHUNK: usize = 256 * 1024;

/// What a session saw, reported on stderr at the end.
#[derive(Debug, Default)]
pub struct Stats {
    pub received: u64,
    pub shown: u64,
    pub lost: u64,
    pub malformed: u64,
}

struct Session {
    filter: Filter,
    output: Output,
    clock: Clock,
    summary: Option<Summary>,
    procs: Option<ProcessTable>,
    chain: bool,
    subtree: Option<u32>,
    stats: Stats,
    /// The records of one drain, decoded, put in kernel-time order before they are handled:
    /// records reserved on different CPUs can reach the ring buffer slightly out of order.
    batch: Vec<Event>,
    reparents: Vec<Reparent>,
    /// Execs looked at by `check_layout`; past its sample, it is done.
    layout_checked: u32,
    /// Output of one drain, written with one syscall.
    buf: Vec<u8>,
    stdout: ManuallyDrop<File>,
}

/// Why writing stopped.
enum Closed {
    /// The reader went away (`| head`): end quietly.
    Pipe,
    /// Writing failed otherwise (a full disk): end with the error.
    Failed(io::Error),
}

impl Session {
    fn decode(&mut self, record: &[u8]) {
        self.stats.received += 1;
        match decode::decode(record) {
            Ok(ev) => self.batch.push(ev),
            Err(e) => {
                self.stats.malformed += 1;
                warn!("skipping a malformed record: {e}");
            }
        }
    }

    /// Reads every record the ring buffer holds, handles them, and writes the output.
    /// Memory stays bounded whatever the backlog: records are handled [`BATCH`] at a time and
    /// the output is written whenever [`OUTPUT_CHUNK`] bytes are waiting.
    fn drain(&mut self, ring: &mut RingBuf<MapData>) -> Result<(), Closed> {
        while let Some(record) = ring.next() {
            self.decode(&record);
            drop(record);
            if self.batch.len() == BATCH {
                self.handle_batch();
                if self.buf.len() >= OUTPUT_CHUNK {
                    self.flush()?;
                }
            }
        }
        self.handle_batch();
        self.flush()
    }

    /// Handles the decoded batch in kernel-time order.
    fn handle_batch(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.sort_by_key(|ev| ev.ktime_ns);
        for ev in batch.drain(..) {
            self.handle(&ev);
        }
        self.batch = batch;
        self.settle();
    }

    /// Warns once if the first execs all failed to read what every process has: the offsets
    /// do not fit the running kernel (a `--btf` of another kernel).
    fn check_layout(&mut self, ev: &Event) {
        const SAMPLE: u32 = 16;
        if !matches!(ev.kind, EventKind::Exec(_)) || self.layout_checked >= SAMPLE {
            return;
        }
        let broken = flags::PPID_UNREADABLE | flags::ARGV_UNREADABLE;
        if ev.flags & broken == 0 {
            self.layout_checked = SAMPLE;
            return;
        }
        self.layout_checked += 1;
        if self.layout_checked == SAMPLE {
            warn!(
                "the first {SAMPLE} execs all had an unreadable parent or argv: the kernel \
                 struct offsets do not fit this kernel (with --btf, is it this kernel's BTF?)"
            );
        }
    }

    fn handle(&mut self, ev: &Event) {
        self.check_layout(ev);
        // The table sees every event, shown or not, so that chains stay whole.
        if let Some(procs) = &mut self.procs {
            procs.apply(ev, &mut self.reparents);
        }
        // An exit's orphans are adopted after it; any other event reveals an adoption that
        // came before it.
        let exit = matches!(ev.kind, EventKind::Exit(_));
        if !exit {
            self.write_reparents();
        }
        self.show(ev);
        if exit {
            self.write_reparents();
        }
    }

    fn show(&mut self, ev: &Event) {
        if !self.in_subtree(ev.pid) || !self.filter.shown(ev) {
            return;
        }
        self.stats.shown += u64::from(matches!(ev.kind, EventKind::Exec(_)));
        if let Some(summary) = &mut self.summary {
            summary.record(ev);
        }
        let chain = self.chain && matches!(ev.kind, EventKind::Exec(_));
        match (&self.output, &self.procs) {
            (Output::Json(json), Some(procs)) if chain => {
                json.event_with(ev, &self.clock, &mut self.buf, |out| {
                    procs.write_chain_json(ev.pid, out);
                });
            }
            (Output::Text(text), Some(procs)) if chain => {
                text.exec(ev, &mut self.buf);
                procs.write_chain_text(ev.pid, ev.ktime_ns, &mut self.buf);
            }
            (output, _) => output.event(ev, &self.clock, &mut self.buf),
        }
    }

    fn in_subtree(&self, pid: u32) -> bool {
        match (self.subtree, &self.procs) {
            (Some(root), Some(procs)) => procs.in_subtree(root, pid),
            _ => true,
        }
    }

    /// Resolves reparenting that waited for the kernel to finish an exit.
    fn settle(&mut self) {
        if let Some(procs) = &mut self.procs {
            procs.settle(clock::boottime_ns().unwrap_or(0), &mut self.reparents);
        }
        self.write_reparents();
    }

    fn write_reparents(&mut self) {
        for r in std::mem::take(&mut self.reparents) {
            if !self.in_subtree(r.pid) {
                continue;
            }
            match &self.output {
                Output::Json(json) => json.reparent(&r, &self.clock, &mut self.buf),
                Output::Text(text) if self.chain || self.subtree.is_some() => {
                    text.reparent(&r, &mut self.buf);
                }
                Output::Text(_) => {}
            }
        }
    }

    fn note_lost(&mut self, total: u64) {
        if total <= self.stats.lost {
            return;
        }
        let new = total - self.stats.lost;
        self.stats.lost = total;
        if let Some(procs) = &mut self.procs {
            procs.note_lost(total);
        }
        warn!("{new} events lost: the ring buffer was full (a larger --buffer-size helps)");
        self.output.lost(new, &self.clock, &mut self.buf);
    }

    fn flush(&mut self) -> Result<(), Closed> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.stdout.write_all(&self.buf);
        self.buf.clear();
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Closed::Pipe),
            Err(e) => Err(Closed::Failed(e)),
        }
    }
}

pub async fn run(
    loaded: Loaded,
    filter: Filter,
    output: Output,
    opts: SessionOptions,
) -> anyhow::Result<Stats> {
    let Loaded {
        events,
        logger,
        lost,
        ebpf,
    } = loaded;
    // SAFETY: both fds are owned by the values moved into the AsyncFds, and stay open until
    // those are dropped or taken back with `into_inner`.
    let mut events = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("cannot poll the ring buffer: {e}"))?;
    let mut logger = match logger {
        // SAFETY: as above.
        Some(l) => Some(
            unsafe { AsyncFd::register_with_interest(l, Interest::READABLE) }
                .map_err(|e| anyhow::anyhow!("cannot poll the kernel log: {e}"))?,
        ),
        None => None,
    };
    let mut session = Session {
        filter,
        output,
        clock: Clock::now().context("cannot read the clocks")?,
        summary: opts.summary.then(Summary::default),
        procs: opts.procs,
        chain: opts.chain,
        subtree: opts.subtree,
        stats: Stats::default(),
        batch: Vec::new(),
        reparents: Vec::new(),
        layout_checked: 0,
        buf: Vec::with_capacity(1 << 16),
        // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop never closes it.
        stdout: ManuallyDrop::new(unsafe { File::from_raw_fd(1) }),
    };
    session.output.header(&mut session.buf);
    let mut closed = session.flush().err();

    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let deadline = tokio::time::sleep(opts.duration.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    // The pace of three things: reading the lost count, picking up fork and exit records
    // (which do not wake us), and resolving reparenting that waits for the kernel.
    let mut tick = tokio::time::interval(Duration::from_millis(100));

    while closed.is_none() {
        tokio::select! {
            guard = events.readable_mut() => {
                let mut guard = guard.context("cannot poll the ring buffer")?;
                closed = session.drain(guard.get_inner_mut()).err();
                guard.clear_ready();
            }
            Some(guard) = async {
                match logger.as_mut() {
                    Some(l) => Some(l.readable_mut().await),
                    None => std::future::pending().await,
                }
            } => {
                let mut guard = guard.context("cannot poll the kernel log")?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
            _ = tick.tick() => {
                // Fork and exit records do not wake us: pick up any that wait.
                closed = session.drain(events.get_mut()).err();
                session.note_lost(lost.total());
                session.settle();
                closed = closed.or_else(|| session.flush().err());
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline, if opts.duration.is_some() => break,
        }
    }

    // Detach first, so that nothing arrives after the final drain.
    drop(ebpf);
    match closed {
        Some(Closed::Failed(e)) => return Err(anyhow::anyhow!("cannot write to stdout: {e}")),
        Some(Closed::Pipe) => return Ok(session.stats),
        None => {}
    }
    let mut ring = events.into_inner();
    closed = session.drain(&mut ring).err();
    session.note_lost(lost.total());
    if opts.tree
        && let (Some(procs), Output::Text(_)) = (&session.procs, &session.output)
    {
        procs.render_tree(session.subtree, &mut session.buf);
    }
    closed = closed.or_else(|| session.flush().err());
    if let Some(Closed::Failed(e)) = closed {
        return Err(anyhow::anyhow!("cannot write to stdout: {e}"));
    }
    if opts.tree
        && let (Some(procs), Output::Json(_)) = (&session.procs, &session.output)
    {
        // stdout holds only JSON lines: the tree goes to stderr.
        let mut tree = Vec::new();
        procs.render_tree(session.subtree, &mut tree);
        let _ = io::stderr().write_all(&tree);
    }
    if let Some(summary) = &session.summary {
        let _ = writeln!(io::stderr(), "{}", summary.render());
    }
    Ok(session.stats)
}
