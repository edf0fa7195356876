//! One JSON object per event, one event per line (JSON Lines), keys in a fixed order.
//!
//! # Schema
//!
//! Every object starts with `type`, `ktime_ns` (CLOCK_BOOTTIME nanoseconds, as the kernel
//! stamped it) and `time` (the same moment as RFC 3339 UTC with nine fractional digits, e.g.
//! `"2026-12-04T14:05:06.123456789Z"`). Then, by type:
//!
//! - `exec` (or `exec_failed` when the exec returned an error):
//!   `pid`, `tid` (only when the thread that called exec is not the process's main thread:
//!   its thread id), `ppid`, `uid`, `comm`, `filename`, `argv` (array of strings),
//!   `argv_size` (bytes of the whole argv area in the new image; 0 for a failed exec),
//!   `flags`, `retval` (0, or the negative errno), and for `exec_failed` only, `errno`
//!   (its name, e.g. `"ENOENT"`).
//!
//!   `{"type":"exec","ktime_ns":8812392310123,"time":"2026-12-04T14:05:06.123456789Z",
//!   "pid":31712,"ppid":31700,"uid":1000,"comm":"echo","filename":"/bin/echo",
//!   "argv":["/bin/echo","hi"],"argv_size":13,"flags":[],"retval":0}`
//! - `fork`: `pid` (the new process), `ppid` (its parent), `uid`, `comm`, `caller_pid`,
//!   `caller_tid` (the process and thread that called fork or clone), `flags`.
//! - `exit`: `pid`, `ppid`, `uid`, `comm`, `exit_code` (the exit status, 0..=255), `signal`
//!   (only when a signal ended the process: its number), `core_dumped` (`true`, only when a
//!   core was dumped), `flags`.
//! - `lost`: `count`, the number of events the kernel could not hand over since the
//!   previous `lost` object (written by [`JsonFormat::lost`]).
//!
//! `flags` is always an array, possibly empty, of what could not be captured in full:
//! `argv_truncated`, `argv_unreadable`, `filename_truncated`, `filename_unreadable`,
//! `ppid_unreadable`, `argv_too_many`.
//!
//! # Strings
//!
//! `comm`, `filename` and each argv element are the exact bytes when they are valid UTF-8
//! (JSON-escaped, so that the parsed string is the original). When one is not valid UTF-8 it
//! is written with each invalid sequence replaced by U+FFFD, and a sibling key right after it
//! holds the exact bytes in lowercase hex: `comm_hex`, `filename_hex`, and `argv_hex`, an
//! array as long as `argv` with `null` for each element that is valid UTF-8 and the hex
//! string for each that is not. The `_hex` keys appear only when needed.
//!
//! Besides `"`, `\` and the control characters below U+0020, DEL, the C1 controls and the
//! bidirectional controls (U+202A..U+202E, U+2066..U+2069) are written as `\uXXXX`, so that
//! the output is safe to read on a terminal; a JSON parser returns the same string.

use tracer_common::flags;

use super::{push_hex_byte, push_i64, push_u64, text::errno_name};
use crate::{
    clock::{Clock, rfc3339},
    event::{Event, EventKind, Exec, Exit},
    procs::Reparent,
};

/// The JSON name of each `tracer_common::flags` bit, in bit order.
const FLAG_NAMES: [(u32, &str); 6] = [
    (flags::ARGV_TRUNCATED, "argv_truncated"),
    (flags::ARGV_UNREADABLE, "argv_unreadable"),
    (flags::FILENAME_TRUNCATED, "filename_truncated"),
    (flags::FILENAME_UNREADABLE, "filename_unreadable"),
    (flags::PPID_UNREADABLE, "ppid_unreadable"),
    (flags::ARGV_TOO_MANY, "argv_too_many"),
];

/// Writes events as JSON lines. The wall-clock `time` comes from the [`Clock`] passed in,
/// which the trace loop samples once.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonFormat;

impl JsonFormat {
    pub fn new() -> Self {
        Self
    }

    /// Writes one event as one line, ending in `\n`.
    pub fn event(&self, ev: &Event, clock: &Clock, out: &mut Vec<u8>) {
        self.event_with(ev, clock, out, |_| {});
    }

    /// Like [`Self::event`], with more keys written by `extra` (each as `,"key":value`) at the
    /// end of the object: the launch chain of `-c`.
    pub fn event_with(
        &self,
        ev: &Event,
        clock: &Clock,
        out: &mut Vec<u8>,
        extra: impl FnOnce(&mut Vec<u8>),
    ) {
        match &ev.kind {
            EventKind::Exec(exec) => exec_fields(out, ev, exec, clock),
            EventKind::Fork(fork) => {
                start(out, "fork", ev.ktime_ns, clock);
                push_u64_field(out, "pid", ev.pid.into());
                process_fields(out, ev);
                push_u64_field(out, "caller_pid", fork.caller_pid.into());
                push_u64_field(out, "caller_tid", fork.caller_tid.into());
                push_flags(out, ev.flags);
            }
            EventKind::Exit(exit) => {
                start(out, "exit", ev.ktime_ns, clock);
                push_u64_field(out, "pid", ev.pid.into());
                process_fields(out, ev);
                exit_fields(out, exit);
                push_flags(out, ev.flags);
            }
        }
        extra(out);
        out.extend_from_slice(b"}\n");
    }

    /// Writes a `reparent` line: the kernel moved `pid` from `old_ppid`, which exited, to
    /// `new_ppid`.
    pub fn reparent(&self, r: &Reparent, clock: &Clock, out: &mut Vec<u8>) {
        start(out, "reparent", r.ktime_ns, clock);
        push_u64_field(out, "pid", r.pid.into());
        push_u64_field(out, "old_ppid", r.old_ppid.into());
        push_u64_field(out, "ppid", r.new_ppid.into());
        out.extend_from_slice(b"}\n");
    }

    /// Writes a `lost` line: `count` events were dropped, noticed at CLOCK_BOOTTIME
    /// `ktime_ns` (see `clock::boottime_ns`).
    pub fn lost(&self, ktime_ns: u64, count: u64, clock: &Clock, out: &mut Vec<u8>) {
        start(out, "lost", ktime_ns, clock);
        push_u64_field(out, "count", count);
        out.extend_from_slice(b"}\n");
    }
}

/// `{"type":...,"ktime_ns":...,"time":...`, the start of every object.
fn start(out: &mut Vec<u8>, kind: &str, ktime_ns: u64, clock: &Clock) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    push_u64_field(out, "ktime_ns", ktime_ns);
    push_key(out, "time");
    out.push(b'"');
    rfc3339(clock.wall_ns(ktime_ns), out);
    out.push(b'"');
}

fn exec_fields(out: &mut Vec<u8>, ev: &Event, exec: &Exec, clock: &Clock) {
    let failed = exec.retval < 0;
    let kind = if failed { "exec_failed" } else { "exec" };
    start(out, kind, ev.ktime_ns, clock);
    push_u64_field(out, "pid", ev.pid.into());
    if exec.old_tid != ev.pid {
        push_u64_field(out, "tid", exec.old_tid.into());
    }
    process_fields(out, ev);

    push_bytes_field(out, "filename", "filename_hex", &exec.filename);
    push_argv(out, exec.argv.iter().map(Vec::as_slice));
    push_u64_field(out, "argv_size", exec.argv_size.into());
    push_flags(out, ev.flags);
    push_key(out, "retval");
    push_i64(out, exec.retval.into());
    if failed {
        push_key(out, "errno");
        push_str(out, errno_name(exec.retval.wrapping_neg()));
    }
}

/// `ppid`, `uid`, `comm`: what every event says about the process after `pid`.
fn process_fields(out: &mut Vec<u8>, ev: &Event) {
    push_u64_field(out, "ppid", ev.ppid.into());
    push_u64_field(out, "uid", ev.uid.into());
    push_bytes_field(out, "comm", "comm_hex", &ev.comm);
}

fn exit_fields(out: &mut Vec<u8>, exit: &Exit) {
    push_u64_field(out, "exit_code", ((exit.exit_code >> 8) & 0xff).into());
    let signal = exit.exit_code & 0x7f;
    if signal != 0 {
        push_u64_field(out, "signal", signal.into());
    }
    if exit.exit_code & 0x80 != 0 {
        push_key(out, "core_dumped");
        out.extend_from_slice(b"true");
    }
}

/// `,"name":`; every key but `type` follows another.
pub(crate) fn push_key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

pub(crate) fn push_u64_field(out: &mut Vec<u8>, name: &str, value: u64) {
    push_key(out, name);
    push_u64(out, value);
}

fn push_flags(out: &mut Vec<u8>, bits: u32) {
    push_key(out, "flags");
    out.push(b'[');
    let mut first = true;
    for (bit, name) in FLAG_NAMES {
        if bits & bit == 0 {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        push_str(out, name);
    }
    out.push(b']');
}

/// A byte string under `name`, and its hex under `hex_name` when it is not UTF-8.
pub(crate) fn push_bytes_field(out: &mut Vec<u8>, name: &str, hex_name: &str, bytes: &[u8]) {
    push_key(out, name);
    if !push_bytes(out, bytes) {
        push_key(out, hex_name);
        push_hex(out, bytes);
    }
}

/// `"argv":[...]`, and `"argv_hex":[...]` when an argument is not UTF-8.
pub(crate) fn push_argv<'a>(out: &mut Vec<u8>, argv: impl Iterator<Item = &'a [u8]> + Clone) {
    push_key(out, "argv");
    out.push(b'[');
    let mut all_exact = true;
    for (i, arg) in argv.clone().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        all_exact &= push_bytes(out, arg);
    }
    out.push(b']');
    if all_exact {
        return;
    }

    push_key(out, "argv_hex");
    out.push(b'[');
    for (i, arg) in argv.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if std::str::from_utf8(arg).is_ok() {
            out.extend_from_slice(b"null");
        } else {
            push_hex(out, arg);
        }
    }
    out.push(b']');
}

/// Writes `bytes` as a JSON string, lossily if they are not UTF-8; returns whether the
/// string is exact.
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    if let Ok(s) = std::str::from_utf8(bytes) {
        push_str(out, s);
        return true;
    }

    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        push_str_contents(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(
                char::REPLACEMENT_CHARACTER
                    .encode_utf8(&mut [0; 4])
                    .as_bytes(),
            );
        }
    }
    out.push(b'"');
    false
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &byte in bytes {
        push_hex_byte(out, byte);
    }
    out.push(b'"');
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_str_contents(out, s);
    out.push(b'"');
}

/// JSON-escapes `s`, copying runs that need nothing in one go.
fn push_str_contents(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => b'"',
            '\\' => b'\\',
            '\n' => b'n',
            '\t' => b't',
            '\r' => b'r',
            '\u{8}' => b'b',
            '\u{c}' => b'f',
            _ if needs_unicode_escape(c) => 0,
            _ => continue,
        };

        out.extend_from_slice(&bytes[run_start..i]);
        out.push(b'\\');
        if short != 0 {
            out.push(short);
        } else {
            let [_, _, high, low] = u32::from(c).to_be_bytes();
            out.push(b'u');
            push_hex_byte(out, high);
            push_hex_byte(out, low);
        }
        run_start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// Characters written `\uXXXX`: all are below U+10000.
fn needs_unicode_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{exec_event, exec_mut};
    use serde_json::Value;

    use super::*;
    use crate::event::Fork;

    /// 2026-12-04T14:05:06Z minus 8812.392310123 s of uptime, so that the events below
    /// happened at 2026-12-04T14:05:06.123456789Z.
    const OFFSET_NS: i128 = 1_796_393_106_123_456_789 - 8_812_392_310_123;

    const CLOCK: Clock = Clock::fixed(OFFSET_NS);

    fn line(ev: &Event) -> String {
        let mut out = Vec::new();
        JsonFormat::new().event(ev, &CLOCK, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn parsed(ev: &Event) -> Value {
        let line = line(ev);
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        serde_json::from_str(&line).unwrap()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn exec_is_written_with_keys_in_schema_order() {
        let ev = exec_event(&[b"/bin/echo", b"hi"]);
        assert_eq!(
            line(&ev),
            concat!(
                r#"{"type":"exec","ktime_ns":8812392310123,"time":"2026-12-04T14:05:06.123456789Z","#,
                r#""pid":31712,"ppid":31700,"uid":1000,"comm":"echo","filename":"/bin/echo","#,
                r#""argv":["/bin/echo","hi"],"argv_size":13,"flags":[],"retval":0}"#,
                "\n"
            )
        );
    }

    #[test]
    fn exec_from_a_non_leader_thread_has_its_tid() {
        let mut ev = exec_event(&[b"x"]);
        exec_mut(&mut ev).old_tid = 31715;
        let line = line(&ev);
        assert!(
            line.contains(r#""pid":31712,"tid":31715,"ppid":31700,"#),
            "{line}"
        );
    }

    #[test]
    fn failed_exec_has_its_own_type_retval_and_errno_name() {
        let mut ev = exec_event(&[b"nosuch"]);
        exec_mut(&mut ev).retval = -2;
        exec_mut(&mut ev).argv_size = 0;
        let line = line(&ev);
        assert!(line.starts_with(r#"{"type":"exec_failed","#), "{line}");
        assert!(
            line.ends_with("\"argv_size\":0,\"flags\":[],\"retval\":-2,\"errno\":\"ENOENT\"}\n"),
            "{line}"
        );
    }

    #[test]
    fn flags_are_named_in_bit_order() {
        let mut ev = exec_event(&[b"x"]);
        ev.flags = flags::ARGV_TOO_MANY | flags::ARGV_TRUNCATED | flags::PPID_UNREADABLE;
        let value = parsed(&ev);
        assert_eq!(
            value["flags"],
            serde_json::json!(["argv_truncated", "ppid_unreadable", "argv_too_many"])
        );
        ev.flags = u32::MAX;
        let value = parsed(&ev);
        assert_eq!(
            value["flags"],
            serde_json::json!([
                "argv_truncated",
                "argv_unreadable",
                "filename_truncated",
                "filename_unreadable",
                "ppid_unreadable",
                "argv_too_many"
            ])
        );
    }

    #[test]
    fn utf8_strings_parse_back_exactly() {
        let args: [&[u8]; 6] = [
            b"printf",
            "quote \" backslash \\ slash /".as_bytes(),
            "café 日本 🦀".as_bytes(),
            b"a\nb\tc\rd\x08\x0c\x00\x01\x1b[31m\x7f",
            "c1 \u{85}\u{9b} bidi \u{202e}\u{2066}".as_bytes(),
            b"",
        ];
        let mut ev = exec_event(&args);
        ev.comm = crate::event::Comm::new(b"we\"ird\n");
        let value = parsed(&ev);
        let argv: Vec<&str> = value["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let expected: Vec<&str> = args
            .iter()
            .map(|a| std::str::from_utf8(a).unwrap())
            .collect();
        assert_eq!(argv, expected);
        assert_eq!(value["comm"], "we\"ird\n");
        assert!(value.get("argv_hex").is_none());
        assert!(value.get("comm_hex").is_none());
    }

    #[test]
    fn control_characters_are_escaped_and_the_line_holds_none() {
        let mut ev = exec_event(&[
            b"a\nb\tc\rd\x08\x0c\x00\x1f\x7f",
            "\u{85}\u{202e}".as_bytes(),
        ]);
        ev.comm = crate::event::Comm::new(b"\x1b]0;title\x07");
        let line = line(&ev);
        let body = line.strip_suffix('\n').unwrap();
        assert!(!body.chars().any(|c| c.is_control()), "{body:?}");
        assert!(!body.contains('\u{202e}'));
        assert!(
            body.contains(r#""argv":["a\nb\tc\rd\b\f\u0000\u001f\u007f","\u0085\u202e"]"#),
            "{body}"
        );
        assert!(body.contains(r#""comm":"\u001b]0;title\u0007""#), "{body}");
    }

    #[test]
    fn invalid_utf8_argv_is_lossy_with_exact_hex_beside_it() {
        let args: [&[u8]; 3] = [b"cat", b"bad\xff\xfe", b"\xc3("];
        let ev = exec_event(&args);
        let value = parsed(&ev);
        assert_eq!(
            value["argv"],
            serde_json::json!(["cat", "bad\u{fffd}\u{fffd}", "\u{fffd}("])
        );
        let hex = value["argv_hex"].as_array().unwrap();
        assert_eq!(hex.len(), args.len());
        assert!(hex[0].is_null());
        for (arg, hex) in args.iter().zip(hex).skip(1) {
            assert_eq!(unhex(hex.as_str().unwrap()), *arg);
        }
        assert_eq!(hex[1], "626164fffe");
    }

    #[test]
    fn lossy_strings_match_from_utf8_lossy() {
        let arg: &[u8] = b"\xe2\x82 \xf0\x9f\xa6 \xed\xa0\x80 ok \xff";
        let value = parsed(&exec_event(&[arg]));
        assert_eq!(value["argv"][0], *String::from_utf8_lossy(arg));
    }

    #[test]
    fn invalid_utf8_comm_and_filename_get_hex_fields() {
        let mut ev = exec_event(&[b"x"]);
        ev.comm = crate::event::Comm::new(b"k\x80w");
        exec_mut(&mut ev).filename = b"/tmp/\xff".to_vec();
        let line = line(&ev);
        assert!(
            line.contains(r#""comm":"k�w","comm_hex":"6b8077","filename":"#),
            "{line}"
        );
        assert!(
            line.contains(r#""filename":"/tmp/�","filename_hex":"2f746d702fff","argv":"#),
            "{line}"
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(unhex(value["filename_hex"].as_str().unwrap()), b"/tmp/\xff");
    }

    #[test]
    fn empty_argv_is_an_empty_array() {
        let value = parsed(&exec_event(&[]));
        assert_eq!(value["argv"], serde_json::json!([]));
    }

    #[test]
    fn fork_is_written_with_keys_in_schema_order() {
        let mut ev = exec_event(&[]);
        ev.pid = 500;
        ev.tid = 500;
        ev.ppid = 400;
        ev.comm = crate::event::Comm::new(b"bash");
        ev.kind = EventKind::Fork(Fork {
            caller_pid: 401,
            caller_tid: 402,
        });
        assert_eq!(
            line(&ev),
            concat!(
                r#"{"type":"fork","ktime_ns":8812392310123,"time":"2026-12-04T14:05:06.123456789Z","#,
                r#""pid":500,"ppid":400,"uid":1000,"comm":"bash","caller_pid":401,"caller_tid":402,"#,
                r#""flags":[]}"#,
                "\n"
            )
        );
    }

    #[test]
    fn exit_splits_status_signal_and_core_dump() {
        let mut ev = exec_event(&[]);
        ev.kind = EventKind::Exit(Exit { exit_code: 3 << 8 });
        assert_eq!(
            line(&ev),
            concat!(
                r#"{"type":"exit","ktime_ns":8812392310123,"time":"2026-12-04T14:05:06.123456789Z","#,
                r#""pid":31712,"ppid":31700,"uid":1000,"comm":"echo","exit_code":3,"flags":[]}"#,
                "\n"
            )
        );

        // SIGSEGV (11) with a core dump.
        ev.kind = EventKind::Exit(Exit {
            exit_code: 0x80 | 11,
        });
        let line = line(&ev);
        assert!(
            line.contains(r#""exit_code":0,"signal":11,"core_dumped":true,"flags":[]}"#),
            "{line}"
        );

        ev.kind = EventKind::Exit(Exit { exit_code: 9 });
        let value = parsed(&ev);
        assert_eq!(value["signal"], 9);
        assert!(value.get("core_dumped").is_none());
    }

    #[test]
    fn lost_has_count_and_time() {
        let mut out = Vec::new();
        JsonFormat::new().lost(8_812_392_310_123, 42, &CLOCK, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"type":"lost","ktime_ns":8812392310123,"time":"2026-12-04T14:05:06.123456789Z","#,
                r#""count":42}"#,
                "\n"
            )
        );
    }

    #[test]
    fn events_append_to_what_the_buffer_holds() {
        let mut out = Vec::new();
        let ev = exec_event(&[b"a"]);
        JsonFormat::new().event(&ev, &CLOCK, &mut out);
        JsonFormat::new().event(&ev, &CLOCK, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], lines[1]);
        for l in lines {
            serde_json::from_str::<Value>(l).unwrap();
        }
    }
}
