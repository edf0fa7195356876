//! `--summary`: a table of execs per command, shown when tracing ends.
//!
//! The table uses comfy-table's `ASCII_MARKDOWN` preset: only ASCII, so it shows the same on
//! a terminal that is not UTF-8, in a log file or through a pipe, and it can be pasted into a
//! Markdown document as it is. Commands are escaped like arguments in text output, so the
//! table has plain ASCII borders and no control characters whatever the command names hold.

use std::collections::HashMap;

use comfy_table::{CellAlignment, Table, presets::ASCII_MARKDOWN};

use super::{escape::escape, push_secs_micros};
use crate::event::{Event, EventKind};

/// Exec counts per command (the `comm` of exec events).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    by_comm: HashMap<Vec<u8>, CommandStats>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CommandStats {
    /// Every exec, failed ones included.
    execs: u64,
    failed: u64,
    first_ns: u64,
    last_ns: u64,
}

impl Summary {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts an exec event; other events are ignored.
    pub fn record(&mut self, ev: &Event) {
        let EventKind::Exec(exec) = &ev.kind else {
            return;
        };
        let failed = u64::from(exec.retval < 0);

        // Look up by slice first: a command already seen costs no allocation.
        if let Some(stats) = self.by_comm.get_mut(&*ev.comm) {
            stats.execs += 1;
            stats.failed += failed;
            // Records from different CPUs can arrive slightly out of order.
            stats.first_ns = stats.first_ns.min(ev.ktime_ns);
            stats.last_ns = stats.last_ns.max(ev.ktime_ns);
        } else {
            self.by_comm.insert(
                ev.comm.to_vec(),
                CommandStats {
                    execs: 1,
                    failed,
                    first_ns: ev.ktime_ns,
                    last_ns: ev.ktime_ns,
                },
            );
        }
    }

    /// True when no exec was recorded.
    pub fn is_empty(&self) -> bool {
        self.by_comm.is_empty()
    }

    /// The table: COMMAND, EXECS, FAILED, FIRST SEEN and LAST SEEN (seconds since boot), most
    /// execs first, then by command name. Ends without a newline.
    pub fn render(&self) -> String {
        let mut rows: Vec<(&Vec<u8>, &CommandStats)> = self.by_comm.iter().collect();
        rows.sort_unstable_by(|a, b| b.1.execs.cmp(&a.1.execs).then_with(|| a.0.cmp(b.0)));

        let mut table = Table::new();
        table.load_preset(ASCII_MARKDOWN);
        table.set_header(["COMMAND", "EXECS", "FAILED", "FIRST SEEN", "LAST SEEN"]);
        for column in 1..5 {
            if let Some(column) = table.column_mut(column) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }

        let mut buf = Vec::new();
        for (comm, stats) in rows {
            table.add_row([
                text(&mut buf, |b| escape(comm, b)),
                stats.execs.to_string(),
                stats.failed.to_string(),
                text(&mut buf, |b| push_secs_micros(b, stats.first_ns)),
                text(&mut buf, |b| push_secs_micros(b, stats.last_ns)),
            ]);
        }
        table.to_string()
    }
}

/// Runs a writer into `buf` and returns what it wrote as a `String`. The writers used here
/// only produce ASCII or valid UTF-8.
fn text(buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> String {
    buf.clear();
    write(buf);
    String::from_utf8_lossy(buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Exit};

    fn exec(comm: &[u8], ktime_ns: u64, retval: i32) -> Event {
        Event {
            ktime_ns,
            pid: 100,
            tid: 100,
            ppid: 1,
            uid: 0,
            comm: crate::event::Comm::new(comm),
            flags: 0,
            kind: EventKind::Exec(Exec {
                start_ns: 1,
                old_tid: 100,
                retval,
                filename: comm.to_vec(),
                argv: vec![comm.to_vec()],
                argv_size: 0,
            }),
        }
    }

    #[test]
    fn execs_are_counted_per_command_most_first_then_by_name() {
        let mut summary = Summary::new();
        summary.record(&exec(b"sh", 1_000_000_000, 0));
        summary.record(&exec(b"ls", 2_500_000_000, 0));
        summary.record(&exec(b"sh", 3_000_001_000, -2));
        summary.record(&exec(b"cat", 4_000_000_000, 0));
        summary.record(&exec(b"sh", 500_000, 0));

        assert_eq!(
            summary.render(),
            [
                "| COMMAND | EXECS | FAILED | FIRST SEEN | LAST SEEN |",
                "|---------|-------|--------|------------|-----------|",
                "| sh      |     3 |      1 |   0.000500 |  3.000001 |",
                "| cat     |     1 |      0 |   4.000000 |  4.000000 |",
                "| ls      |     1 |      0 |   2.500000 |  2.500000 |",
            ]
            .join("\n")
        );
    }

    #[test]
    fn only_exec_events_are_counted() {
        let mut summary = Summary::new();
        let mut ev = exec(b"sh", 1, 0);
        ev.kind = EventKind::Exit(Exit { exit_code: 0 });
        summary.record(&ev);
        assert!(summary.is_empty());
    }

    #[test]
    fn command_names_are_escaped() {
        let mut summary = Summary::new();
        summary.record(&exec(b"evil\x1b[2J\n\xff", 1, 0));
        let table = summary.render();
        assert!(table.contains("| evil\\x1b[2J\\n\\xff |"), "{table}");
        assert!(table.is_ascii());
        assert_eq!(table.lines().count(), 3);
    }

    #[test]
    fn empty_summary_is_just_the_header() {
        let table = Summary::new().render();
        assert_eq!(
            table,
            "| COMMAND | EXECS | FAILED | FIRST SEEN | LAST SEEN |\n\
             |---------|-------|--------|------------|-----------|"
        );
    }
}
