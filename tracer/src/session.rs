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
use log::warn;
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
};

use crate::{
    clock::Clock,
    decode,
    event::Event,
    filter::Filter,
    loader::Loaded,
    output::{Output, summary::Summary},
};

pub struct SessionOptions {
    pub duration: Option<Duration>,
    pub summary: bool,
}

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
    stats: Stats,
    /// Output of one drain, written with one syscall.
    buf: Vec<u8>,
    stdout: ManuallyDrop<File>,
}

/// Why writing stopped.
enum Closed {
    /// The reader went away (`| head`): end quietly.
    Pipe,
}

impl Session {
    fn handle(&mut self, record: &[u8]) {
        self.stats.received += 1;
        let ev: Event = match decode::decode(record) {
            Ok(ev) => ev,
            Err(e) => {
                self.stats.malformed += 1;
                warn!("skipping a malformed record: {e}");
                return;
            }
        };
        if !self.filter.exec_shown(&ev) {
            return;
        }
        self.stats.shown += 1;
        if let Some(summary) = &mut self.summary {
            summary.record(&ev);
        }
        self.output.event(&ev, &self.clock, &mut self.buf);
    }

    fn note_lost(&mut self, total: u64) {
        if total <= self.stats.lost {
            return;
        }
        let new = total - self.stats.lost;
        self.stats.lost = total;
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
            Err(e) => {
                warn!("cannot write to stdout: {e}");
                Err(Closed::Pipe)
            }
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
        stats: Stats::default(),
        buf: Vec::with_capacity(1 << 16),
        // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop never closes it.
        stdout: ManuallyDrop::new(unsafe { File::from_raw_fd(1) }),
    };
    session.output.header(&mut session.buf);
    if session.flush().is_err() {
        return Ok(session.stats);
    }

    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let deadline = tokio::time::sleep(opts.duration.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    let mut lost_check = tokio::time::interval(Duration::from_millis(500));

    loop {
        tokio::select! {
            guard = events.readable_mut() => {
                let mut guard = guard.context("cannot poll the ring buffer")?;
                let ring = guard.get_inner_mut();
                while let Some(record) = ring.next() {
                    session.handle(&record);
                }
                guard.clear_ready();
                if session.flush().is_err() {
                    break;
                }
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
            _ = lost_check.tick() => {
                session.note_lost(lost.total());
                if session.flush().is_err() {
                    break;
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline, if opts.duration.is_some() => break,
        }
    }

    // Detach first, so that nothing arrives after the final drain.
    drop(ebpf);
    let mut ring = events.into_inner();
    while let Some(record) = ring.next() {
        session.handle(&record);
    }
    session.note_lost(lost.total());
    let _ = session.flush();
    if let Some(summary) = &session.summary {
        eprintln!("{}", summary.render());
    }
    Ok(session.stats)
}
