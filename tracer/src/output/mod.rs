//! How events are shown: the perf-tools text format ([`text`]), one JSON object per line
//! ([`json`]), and the `--summary` table ([`summary`]). [`escape`] keeps arguments from
//! breaking a line or reaching the terminal as control sequences.
//!
//! Every writer appends to a caller-owned `Vec<u8>` and allocates nothing else per event:
//! under an exec storm (thousands per second) this is the hot path. The small helpers below
//! write numbers without going through `core::fmt`.

pub mod escape;
#[cfg(test)]
mod fixtures;
pub mod json;
pub mod summary;
pub mod text;

use crate::{
    cli::Cli,
    clock::{self, Clock},
    event::Event,
};

/// The format chosen on the command line.
#[derive(Clone, Debug)]
pub enum Output {
    /// perf-tools columns; only execs are shown.
    Text(text::TextFormat),
    /// Every event, and lost counts, as JSON lines.
    Json(json::JsonFormat),
}

impl Output {
    pub fn new(cli: &Cli) -> Self {
        if cli.json {
            return Self::Json(json::JsonFormat::new());
        }
        Self::Text(text::TextFormat::new(text::TextOptions {
            time: cli.time,
            max_args: usize::try_from(cli.max_args).unwrap_or(usize::MAX),
            quote: cli.quote,
        }))
    }

    /// Writes what comes before the first event: the column header in text, nothing in JSON.
    pub fn header(&self, out: &mut Vec<u8>) {
        if let Self::Text(format) = self {
            format.header(out);
        }
    }

    /// Writes one event; in text, events other than exec write nothing.
    pub fn event(&self, ev: &Event, clock: &Clock, out: &mut Vec<u8>) {
        match self {
            Self::Text(format) => format.exec(ev, out),
            Self::Json(format) => format.event(ev, clock, out),
        }
    }

    /// Records that `count` events were lost. JSON gets a `lost` line, stamped now; text
    /// writes nothing, because stdout holds only execs there and the warning goes to stderr.
    pub fn lost(&self, count: u64, clock: &Clock, out: &mut Vec<u8>) {
        if let Self::Json(format) = self {
            // CLOCK_BOOTTIME cannot fail on a kernel that has the BPF ring buffer (5.8+, the
            // clock is from 2.6.39); 0 would show as boot time rather than hide the line.
            let now = clock::boottime_ns().unwrap_or(0);
            format.lost(now, count, clock, out);
        }
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `byte` as two lowercase hex digits.
pub(crate) fn push_hex_byte(out: &mut Vec<u8>, byte: u8) {
    out.push(HEX_DIGITS[usize::from(byte >> 4)]);
    out.push(HEX_DIGITS[usize::from(byte & 0xf)]);
}

/// Writes the decimal digits of `n` into the end of `buf` and returns them.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[start..]
}

/// Writes `n` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0; 20];
    out.extend_from_slice(decimal(n, &mut buf));
}

/// Writes `n` in decimal, with a leading `-` when negative.
pub(crate) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Writes `n` right-aligned in `width` columns, like printf's `%6d`.
pub(crate) fn push_u64_right(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [0; 20];
    let digits = decimal(n, &mut buf);
    out.resize(out.len() + width.saturating_sub(digits.len()), b' ');
    out.extend_from_slice(digits);
}

/// Writes `n` with leading zeros to at least `width` digits.
pub(crate) fn push_u64_zero_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [0; 20];
    let digits = decimal(n, &mut buf);
    out.resize(out.len() + width.saturating_sub(digits.len()), b'0');
    out.extend_from_slice(digits);
}

/// Writes nanoseconds as seconds with six decimals (`12345.678901`), the TIMEs column of
/// perf-tools. The sub-microsecond part is cut, not rounded, as ftrace's timestamps are.
pub(crate) fn push_secs_micros(out: &mut Vec<u8>, ns: u64) {
    push_u64(out, ns / 1_000_000_000);
    out.push(b'.');
    push_u64_zero_padded(out, ns % 1_000_000_000 / 1_000, 6);
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::event::{EventKind, Exec, Fork};

    fn output(args: &[&str]) -> Output {
        let cli = Cli::try_parse_from(std::iter::once("tracer").chain(args.iter().copied()));
        Output::new(&cli.unwrap())
    }

    fn fork_and_exec() -> [Event; 2] {
        let exec = Event {
            ktime_ns: 1_500_000_000,
            pid: 7,
            tid: 7,
            ppid: 1,
            uid: 0,
            comm: crate::event::Comm::new(b"sh"),
            flags: 0,
            kind: EventKind::Exec(Exec {
                start_ns: 1,
                old_tid: 7,
                retval: 0,
                filename: b"/bin/sh".to_vec(),
                argv: vec![b"sh".to_vec(), b"-c".to_vec(), b"echo a b".to_vec()],
                argv_size: 15,
            }),
        };
        let mut fork = exec.clone();
        fork.kind = EventKind::Fork(Fork {
            caller_pid: 1,
            caller_tid: 1,
        });
        [fork, exec]
    }

    #[test]
    fn text_output_follows_time_max_args_and_quote_flags() {
        let mut out = Vec::new();
        let output = output(&["-t", "-q", "-a", "2"]);
        output.header(&mut out);
        for ev in fork_and_exec() {
            output.event(&ev, &Clock::fixed(0), &mut out);
        }
        output.lost(3, &Clock::fixed(0), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "TIMEs               PID   PPID ARGS\n\
             1.500000              7      1 sh -c [...]\n"
        );
    }

    #[test]
    fn json_output_shows_every_event_and_lost_counts_without_a_header() {
        let mut out = Vec::new();
        let output = output(&["-j"]);
        output.header(&mut out);
        for ev in fork_and_exec() {
            output.event(&ev, &Clock::fixed(0), &mut out);
        }
        output.lost(3, &Clock::fixed(0), &mut out);
        let text = String::from_utf8(out).unwrap();
        let types: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
            .collect();
        assert_eq!(types, [r#""fork""#, r#""exec""#, r#""lost""#]);
    }

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_are_written_in_decimal_at_their_extremes() {
        assert_eq!(written(|o| push_u64(o, 0)), "0");
        assert_eq!(written(|o| push_u64(o, u64::MAX)), u64::MAX.to_string());
        assert_eq!(written(|o| push_i64(o, -2)), "-2");
        assert_eq!(written(|o| push_i64(o, i64::MIN)), i64::MIN.to_string());
    }

    #[test]
    fn right_aligned_integers_pad_to_width_and_overflow_it_like_printf() {
        assert_eq!(written(|o| push_u64_right(o, 42, 6)), "    42");
        assert_eq!(written(|o| push_u64_right(o, 1234567, 6)), "1234567");
    }

    #[test]
    fn hex_bytes_are_two_lowercase_digits() {
        assert_eq!(written(|o| push_hex_byte(o, 0x0a)), "0a");
        assert_eq!(written(|o| push_hex_byte(o, 0xff)), "ff");
    }

    #[test]
    fn seconds_have_six_decimals_and_cut_the_nanoseconds() {
        assert_eq!(written(|o| push_secs_micros(o, 0)), "0.000000");
        assert_eq!(
            written(|o| push_secs_micros(o, 12_345_678_901_999)),
            "12345.678901"
        );
        assert_eq!(written(|o| push_secs_micros(o, 1_000)), "0.000001");
    }
}
