//! The text format of perf-tools' `execsnoop`, one line per exec:
//!
//! ```text
//! TIMEs               PID   PPID ARGS
//! 8812.392310       31712  31700 /bin/echo hello world x
//! 8812.401220       31713  31700 ls -l a b c d e f g [...]
//! 8812.410003       31714  31700 nosuch [ret=-2 ENOENT: /usr/bin/nosuch]
//! ```
//!
//! The widths are those of perf-tools: TIMEs left-aligned in 16 columns, PID and PPID
//! right-aligned in 6, then the arguments. TIMEs is seconds since boot; PPID is 0 when it
//! could not be read. ` [...]` follows the arguments when more exist than are shown, a failed
//! exec ends with its return value and errno name, and argv that could not be read shows as
//! `[argv unreadable]`. Arguments are escaped (see [`super::escape`]) so that each exec stays
//! one line.

use tracer_common::flags;

use super::{escape, push_i64, push_secs_micros, push_u64, push_u64_right};
use crate::{
    event::{Event, EventKind},
    procs::Reparent,
};

/// How many arguments are shown unless told otherwise, as in perf-tools (`-a`).
pub const DEFAULT_MAX_ARGS: usize = 8;

const TIME_WIDTH: usize = 16;
const PID_WIDTH: usize = 6;

/// What the text format shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextOptions {
    /// Start each line with TIMEs, seconds since boot (`-t`).
    pub time: bool,
    /// Most arguments shown per exec (`-a`).
    pub max_args: usize,
    /// Write arguments as shell words (`-q`) rather than escaped.
    pub quote: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            time: false,
            max_args: DEFAULT_MAX_ARGS,
            quote: false,
        }
    }
}

/// Writes the header and the exec lines of the text format.
#[derive(Clone, Debug)]
pub struct TextFormat {
    options: TextOptions,
}

impl TextFormat {
    pub fn new(options: TextOptions) -> Self {
        Self { options }
    }

    /// Writes the column header line.
    pub fn header(&self, out: &mut Vec<u8>) {
        if self.options.time {
            push_left(out, b"TIMEs", TIME_WIDTH);
            out.push(b' ');
        }
        push_right(out, b"PID", PID_WIDTH);
        out.push(b' ');
        push_right(out, b"PPID", PID_WIDTH);
        out.extend_from_slice(b" ARGS\n");
    }

    /// Writes one line for a process the kernel reparented (shown with `-c` and `-p`): its
    /// PID, its new parent in the PPID column, and the parent that exited.
    pub fn reparent(&self, r: &Reparent, out: &mut Vec<u8>) {
        self.columns(r.ktime_ns, r.pid, r.new_ppid, out);
        out.extend_from_slice(b"[reparent: parent ");
        push_u64(out, u64::from(r.old_ppid));
        out.extend_from_slice(b" exited, adopted by ");
        push_u64(out, u64::from(r.new_ppid));
        out.extend_from_slice(b"]\n");
    }

    /// Writes one line for an exec event, ending in `\n`. Other events are not shown in this
    /// format and write nothing.
    pub fn exec(&self, ev: &Event, out: &mut Vec<u8>) {
        let EventKind::Exec(exec) = &ev.kind else {
            return;
        };

        self.columns(ev.ktime_ns, ev.pid, ev.ppid, out);

        if ev.flags & flags::ARGV_UNREADABLE != 0 {
            out.extend_from_slice(b"[argv unreadable]");
        } else {
            self.args(ev, &exec.argv, &exec.filename, out);
        }

        if exec.retval < 0 {
            out.extend_from_slice(b" [ret=");
            push_i64(out, i64::from(exec.retval));
            out.push(b' ');
            out.extend_from_slice(errno_name(exec.retval.wrapping_neg()).as_bytes());
            // The path tried tells a PATH search's attempts apart.
            out.extend_from_slice(b": ");
            self.arg(&exec.filename, out);
            out.push(b']');
        }
        out.push(b'\n');
    }

    /// TIMEs (with `-t`), PID and PPID, each followed by a space.
    fn columns(&self, ktime_ns: u64, pid: u32, ppid: u32, out: &mut Vec<u8>) {
        if self.options.time {
            let start = out.len();
            push_secs_micros(out, ktime_ns);
            pad_since(out, start, TIME_WIDTH);
            out.push(b' ');
        }
        push_u64_right(out, u64::from(pid), PID_WIDTH);
        out.push(b' ');
        push_u64_right(out, u64::from(ppid), PID_WIDTH);
        out.push(b' ');
    }

    fn args(&self, ev: &Event, argv: &[Vec<u8>], filename: &[u8], out: &mut Vec<u8>) {
        // A process may exec with an empty argv (or only empty strings); the filename is then
        // the only name it has.
        if argv.iter().all(|a| a.is_empty()) {
            if filename.is_empty() {
                out.extend_from_slice(b"[?]");
            } else {
                self.arg(filename, out);
            }
        }

        for (i, arg) in argv.iter().take(self.options.max_args).enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            self.arg(arg, out);
        }

        if argv.len() > self.options.max_args || ev.argv_truncated() {
            out.extend_from_slice(b" [...]");
        }
    }

    fn arg(&self, arg: &[u8], out: &mut Vec<u8>) {
        if self.options.quote {
            escape::quote(arg, out);
        } else {
            escape::escape(arg, out);
        }
    }
}

/// Pads what was written since `start` with spaces to `width` columns (printf's `%-16s`).
fn pad_since(out: &mut Vec<u8>, start: usize, width: usize) {
    let written = out.len() - start;
    out.resize(out.len() + width.saturating_sub(written), b' ');
}

fn push_left(out: &mut Vec<u8>, text: &[u8], width: usize) {
    let start = out.len();
    out.extend_from_slice(text);
    pad_since(out, start, width);
}

/// printf's `%6s`.
fn push_right(out: &mut Vec<u8>, text: &[u8], width: usize) {
    out.resize(out.len() + width.saturating_sub(text.len()), b' ');
    out.extend_from_slice(text);
}

/// The symbolic name of a Linux errno value, such as `ENOENT` for 2, or `E?` for one this
/// table lacks.
///
/// The numbers are those of the kernel's `asm-generic/errno-base.h` and `asm-generic/errno.h`,
/// which x86, Arm, RISC-V, PowerPC and most other architectures use (Alpha, MIPS, PA-RISC and
/// SPARC number many of them differently). 512..=516 are the kernel's own restart codes, which a
/// syscall-exit tracepoint can see before signal handling turns them into something else.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        15 => "ENOTBLK",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        25 => "ENOTTY",
        26 => "ETXTBSY",
        27 => "EFBIG",
        28 => "ENOSPC",
        29 => "ESPIPE",
        30 => "EROFS",
        31 => "EMLINK",
        32 => "EPIPE",
        33 => "EDOM",
        34 => "ERANGE",
        35 => "EDEADLK",
        36 => "ENAMETOOLONG",
        37 => "ENOLCK",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        // 41 is unused (EWOULDBLOCK is EAGAIN).
        42 => "ENOMSG",
        43 => "EIDRM",
        44 => "ECHRNG",
        45 => "EL2NSYNC",
        46 => "EL3HLT",
        47 => "EL3RST",
        48 => "ELNRNG",
        49 => "EUNATCH",
        50 => "ENOCSI",
        51 => "EL2HLT",
        52 => "EBADE",
        53 => "EBADR",
        54 => "EXFULL",
        55 => "ENOANO",
        56 => "EBADRQC",
        57 => "EBADSLT",
        // 58 is unused (EDEADLOCK is EDEADLK).
        59 => "EBFONT",
        60 => "ENOSTR",
        61 => "ENODATA",
        62 => "ETIME",
        63 => "ENOSR",
        64 => "ENONET",
        65 => "ENOPKG",
        66 => "EREMOTE",
        67 => "ENOLINK",
        68 => "EADV",
        69 => "ESRMNT",
        70 => "ECOMM",
        71 => "EPROTO",
        72 => "EMULTIHOP",
        73 => "EDOTDOT",
        74 => "EBADMSG",
        75 => "EOVERFLOW",
        76 => "ENOTUNIQ",
        77 => "EBADFD",
        78 => "EREMCHG",
        79 => "ELIBACC",
        80 => "ELIBBAD",
        81 => "ELIBSCN",
        82 => "ELIBMAX",
        83 => "ELIBEXEC",
        84 => "EILSEQ",
        85 => "ERESTART",
        86 => "ESTRPIPE",
        87 => "EUSERS",
        88 => "ENOTSOCK",
        89 => "EDESTADDRREQ",
        90 => "EMSGSIZE",
        91 => "EPROTOTYPE",
        92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT",
        94 => "ESOCKTNOSUPPORT",
        95 => "EOPNOTSUPP",
        96 => "EPFNOSUPPORT",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        102 => "ENETRESET",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        105 => "ENOBUFS",
        106 => "EISCONN",
        107 => "ENOTCONN",
        108 => "ESHUTDOWN",
        109 => "ETOOMANYREFS",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        112 => "EHOSTDOWN",
        113 => "EHOSTUNREACH",
        114 => "EALREADY",
        115 => "EINPROGRESS",
        116 => "ESTALE",
        117 => "EUCLEAN",
        118 => "ENOTNAM",
        119 => "ENAVAIL",
        120 => "EISNAM",
        121 => "EREMOTEIO",
        122 => "EDQUOT",
        123 => "ENOMEDIUM",
        124 => "EMEDIUMTYPE",
        125 => "ECANCELED",
        126 => "ENOKEY",
        127 => "EKEYEXPIRED",
        128 => "EKEYREVOKED",
        129 => "EKEYREJECTED",
        130 => "EOWNERDEAD",
        131 => "ENOTRECOVERABLE",
        132 => "ERFKILL",
        133 => "EHWPOISON",
        512 => "ERESTARTSYS",
        513 => "ERESTARTNOINTR",
        514 => "ERESTARTNOHAND",
        515 => "ENOIOCTLCMD",
        516 => "ERESTART_RESTARTBLOCK",
        _ => "E?",
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{exec_event, exec_mut};
    use super::*;
    use crate::event::{Exit, Fork};

    fn line(options: TextOptions, ev: &Event) -> String {
        let mut out = Vec::new();
        TextFormat::new(options).exec(ev, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn header(options: TextOptions) -> String {
        let mut out = Vec::new();
        TextFormat::new(options).header(&mut out);
        String::from_utf8(out).unwrap()
    }

    const PLAIN: TextOptions = TextOptions {
        time: false,
        max_args: 8,
        quote: false,
    };

    #[test]
    fn header_has_perf_tools_widths() {
        assert_eq!(header(PLAIN), "   PID   PPID ARGS\n");
        let timed = TextOptions {
            time: true,
            ..PLAIN
        };
        assert_eq!(header(timed), "TIMEs               PID   PPID ARGS\n");
        assert_eq!(header(timed).find("   PID"), Some(17));
    }

    #[test]
    fn exec_line_has_right_aligned_pid_and_ppid_then_args() {
        let ev = exec_event(&[b"/bin/echo", b"hello world", b"x"]);
        assert_eq!(line(PLAIN, &ev), " 31712  31700 /bin/echo hello world x\n");
        assert_eq!(
            line(PLAIN, &ev),
            format!("{:>6} {:>6} /bin/echo hello world x\n", ev.pid, ev.ppid)
        );
    }

    #[test]
    fn pids_wider_than_six_digits_push_the_line_right_like_printf() {
        let mut ev = exec_event(&[b"true"]);
        ev.pid = 4_194_304;
        ev.ppid = 1;
        assert_eq!(line(PLAIN, &ev), "4194304      1 true\n");
    }

    #[test]
    fn time_is_seconds_since_boot_with_six_decimals_in_16_columns() {
        let ev = exec_event(&[b"true"]);
        let timed = TextOptions {
            time: true,
            ..PLAIN
        };
        assert_eq!(line(timed, &ev), "8812.392310       31712  31700 true\n");
    }

    #[test]
    fn quote_writes_arguments_as_shell_words() {
        let ev = exec_event(&[b"/bin/echo", b"hello world", b"x"]);
        let quoted = TextOptions {
            quote: true,
            ..PLAIN
        };
        assert_eq!(
            line(quoted, &ev),
            " 31712  31700 /bin/echo 'hello world' x\n"
        );
        let ev = exec_event(&[b"cat", b"a b"]);
        assert_eq!(line(quoted, &ev), " 31712  31700 cat 'a b'\n");
        let ev = exec_event(&[b"cat", b"a", b"b", b""]);
        assert_eq!(line(quoted, &ev), " 31712  31700 cat a b ''\n");
    }

    #[test]
    fn more_args_than_max_end_with_ellipsis() {
        let args: Vec<Vec<u8>> = (0..10).map(|i| format!("a{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let ev = exec_event(&refs);
        assert_eq!(
            line(PLAIN, &ev),
            " 31712  31700 a0 a1 a2 a3 a4 a5 a6 a7 [...]\n"
        );
    }

    #[test]
    fn exactly_max_args_has_no_ellipsis() {
        let args: Vec<Vec<u8>> = (0..8).map(|i| format!("a{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let ev = exec_event(&refs);
        assert_eq!(line(PLAIN, &ev), " 31712  31700 a0 a1 a2 a3 a4 a5 a6 a7\n");
    }

    #[test]
    fn truncated_argv_ends_with_ellipsis_even_under_max_args() {
        let mut ev = exec_event(&[b"ls", b"-l"]);
        ev.flags = flags::ARGV_TRUNCATED;
        assert_eq!(line(PLAIN, &ev), " 31712  31700 ls -l [...]\n");
        ev.flags = flags::ARGV_TOO_MANY;
        assert_eq!(line(PLAIN, &ev), " 31712  31700 ls -l [...]\n");
    }

    #[test]
    fn newline_escape_and_invalid_bytes_are_escaped() {
        let ev = exec_event(&[b"printf", b"a\nb", b"\x1b[31m", b"\xff"]);
        assert_eq!(
            line(PLAIN, &ev),
            " 31712  31700 printf a\\nb \\x1b[31m \\xff\n"
        );
        let quoted = TextOptions {
            quote: true,
            ..PLAIN
        };
        assert_eq!(
            line(quoted, &ev),
            " 31712  31700 printf $'a\\nb' $'\\x1b[31m' $'\\xff'\n"
        );
    }

    #[test]
    fn empty_argv_shows_the_filename() {
        let ev = exec_event(&[]);
        assert_eq!(line(PLAIN, &ev), " 31712  31700 /bin/echo\n");
    }

    #[test]
    fn empty_argv_and_filename_show_a_question_mark() {
        let mut ev = exec_event(&[]);
        exec_mut(&mut ev).filename.clear();
        ev.flags = flags::FILENAME_UNREADABLE;
        assert_eq!(line(PLAIN, &ev), " 31712  31700 [?]\n");
    }

    #[test]
    fn unreadable_argv_is_said_instead_of_args() {
        let mut ev = exec_event(&[]);
        ev.flags = flags::ARGV_UNREADABLE;
        assert_eq!(line(PLAIN, &ev), " 31712  31700 [argv unreadable]\n");
    }

    #[test]
    fn failed_exec_ends_with_return_value_errno_name_and_the_path_tried() {
        let mut ev = exec_event(&[b"nosuch", b"arg"]);
        exec_mut(&mut ev).retval = -2;
        assert_eq!(
            line(PLAIN, &ev),
            " 31712  31700 nosuch arg [ret=-2 ENOENT: /bin/echo]\n"
        );
        exec_mut(&mut ev).retval = -13;
        ev.flags = flags::ARGV_TOO_MANY;
        assert_eq!(
            line(PLAIN, &ev),
            " 31712  31700 nosuch arg [...] [ret=-13 EACCES: /bin/echo]\n"
        );
        exec_mut(&mut ev).retval = i32::MIN;
        assert_eq!(
            line(PLAIN, &ev),
            " 31712  31700 nosuch arg [...] [ret=-2147483648 E?: /bin/echo]\n"
        );
    }

    #[test]
    fn ppid_zero_is_shown_as_zero() {
        let mut ev = exec_event(&[b"init"]);
        ev.ppid = 0;
        ev.flags = flags::PPID_UNREADABLE;
        assert_eq!(line(PLAIN, &ev), " 31712      0 init\n");
    }

    #[test]
    fn fork_and_exit_write_nothing() {
        let mut ev = exec_event(&[]);
        ev.kind = EventKind::Fork(Fork {
            caller_pid: 1,
            caller_tid: 1,
        });
        assert_eq!(line(PLAIN, &ev), "");
        ev.kind = EventKind::Exit(Exit { exit_code: 0 });
        assert_eq!(line(PLAIN, &ev), "");
    }

    #[test]
    fn exec_line_appends_to_what_the_buffer_holds() {
        let mut out = b"earlier\n".to_vec();
        let timed = TextOptions {
            time: true,
            ..PLAIN
        };
        TextFormat::new(timed).exec(&exec_event(&[b"true"]), &mut out);
        assert_eq!(out, b"earlier\n8812.392310       31712  31700 true\n");
    }

    #[test]
    fn errno_names_match_libc_numbers() {
        let known = [
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::ESRCH, "ESRCH"),
            (libc::EINTR, "EINTR"),
            (libc::EIO, "EIO"),
            (libc::ENXIO, "ENXIO"),
            (libc::E2BIG, "E2BIG"),
            (libc::ENOEXEC, "ENOEXEC"),
            (libc::EBADF, "EBADF"),
            (libc::ECHILD, "ECHILD"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::EACCES, "EACCES"),
            (libc::EFAULT, "EFAULT"),
            (libc::ENOTBLK, "ENOTBLK"),
            (libc::EBUSY, "EBUSY"),
            (libc::EEXIST, "EEXIST"),
            (libc::EXDEV, "EXDEV"),
            (libc::ENODEV, "ENODEV"),
            (libc::ENOTDIR, "ENOTDIR"),
            (libc::EISDIR, "EISDIR"),
            (libc::EINVAL, "EINVAL"),
            (libc::ENFILE, "ENFILE"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENOTTY, "ENOTTY"),
            (libc::ETXTBSY, "ETXTBSY"),
            (libc::EFBIG, "EFBIG"),
            (libc::ENOSPC, "ENOSPC"),
            (libc::ESPIPE, "ESPIPE"),
            (libc::EROFS, "EROFS"),
            (libc::EMLINK, "EMLINK"),
            (libc::EPIPE, "EPIPE"),
            (libc::EDOM, "EDOM"),
            (libc::ERANGE, "ERANGE"),
            (libc::EDEADLK, "EDEADLK"),
            (libc::ENAMETOOLONG, "ENAMETOOLONG"),
            (libc::ENOLCK, "ENOLCK"),
            (libc::ENOSYS, "ENOSYS"),
            (libc::ENOTEMPTY, "ENOTEMPTY"),
            (libc::ELOOP, "ELOOP"),
            (libc::ENOMSG, "ENOMSG"),
            (libc::EIDRM, "EIDRM"),
            (libc::ECHRNG, "ECHRNG"),
            (libc::EL2NSYNC, "EL2NSYNC"),
            (libc::EL3HLT, "EL3HLT"),
            (libc::EL3RST, "EL3RST"),
            (libc::ELNRNG, "ELNRNG"),
            (libc::EUNATCH, "EUNATCH"),
            (libc::ENOCSI, "ENOCSI"),
            (libc::EL2HLT, "EL2HLT"),
            (libc::EBADE, "EBADE"),
            (libc::EBADR, "EBADR"),
            (libc::EXFULL, "EXFULL"),
            (libc::ENOANO, "ENOANO"),
            (libc::EBADRQC, "EBADRQC"),
            (libc::EBADSLT, "EBADSLT"),
            (libc::EBFONT, "EBFONT"),
            (libc::ENOSTR, "ENOSTR"),
            (libc::ENODATA, "ENODATA"),
            (libc::ETIME, "ETIME"),
            (libc::ENOSR, "ENOSR"),
            (libc::ENONET, "ENONET"),
            (libc::ENOPKG, "ENOPKG"),
            (libc::EREMOTE, "EREMOTE"),
            (libc::ENOLINK, "ENOLINK"),
            (libc::EADV, "EADV"),
            (libc::ESRMNT, "ESRMNT"),
            (libc::ECOMM, "ECOMM"),
            (libc::EPROTO, "EPROTO"),
            (libc::EMULTIHOP, "EMULTIHOP"),
            (libc::EDOTDOT, "EDOTDOT"),
            (libc::EBADMSG, "EBADMSG"),
            (libc::EOVERFLOW, "EOVERFLOW"),
            (libc::ENOTUNIQ, "ENOTUNIQ"),
            (libc::EBADFD, "EBADFD"),
            (libc::EREMCHG, "EREMCHG"),
            (libc::ELIBACC, "ELIBACC"),
            (libc::ELIBBAD, "ELIBBAD"),
            (libc::ELIBSCN, "ELIBSCN"),
            (libc::ELIBMAX, "ELIBMAX"),
            (libc::ELIBEXEC, "ELIBEXEC"),
            (libc::EILSEQ, "EILSEQ"),
            (libc::ERESTART, "ERESTART"),
            (libc::ESTRPIPE, "ESTRPIPE"),
            (libc::EUSERS, "EUSERS"),
            (libc::ENOTSOCK, "ENOTSOCK"),
            (libc::EDESTADDRREQ, "EDESTADDRREQ"),
            (libc::EMSGSIZE, "EMSGSIZE"),
            (libc::EPROTOTYPE, "EPROTOTYPE"),
            (libc::ENOPROTOOPT, "ENOPROTOOPT"),
            (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
            (libc::ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::EPFNOSUPPORT, "EPFNOSUPPORT"),
            (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
            (libc::EADDRINUSE, "EADDRINUSE"),
            (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
            (libc::ENETDOWN, "ENETDOWN"),
            (libc::ENETUNREACH, "ENETUNREACH"),
            (libc::ENETRESET, "ENETRESET"),
            (libc::ECONNABORTED, "ECONNABORTED"),
            (libc::ECONNRESET, "ECONNRESET"),
            (libc::ENOBUFS, "ENOBUFS"),
            (libc::EISCONN, "EISCONN"),
            (libc::ENOTCONN, "ENOTCONN"),
            (libc::ESHUTDOWN, "ESHUTDOWN"),
            (libc::ETOOMANYREFS, "ETOOMANYREFS"),
            (libc::ETIMEDOUT, "ETIMEDOUT"),
            (libc::ECONNREFUSED, "ECONNREFUSED"),
            (libc::EHOSTDOWN, "EHOSTDOWN"),
            (libc::EHOSTUNREACH, "EHOSTUNREACH"),
            (libc::EALREADY, "EALREADY"),
            (libc::EINPROGRESS, "EINPROGRESS"),
            (libc::ESTALE, "ESTALE"),
            (libc::EUCLEAN, "EUCLEAN"),
            (libc::ENOTNAM, "ENOTNAM"),
            (libc::ENAVAIL, "ENAVAIL"),
            (libc::EISNAM, "EISNAM"),
            (libc::EREMOTEIO, "EREMOTEIO"),
            (libc::EDQUOT, "EDQUOT"),
            (libc::ENOMEDIUM, "ENOMEDIUM"),
            (libc::EMEDIUMTYPE, "EMEDIUMTYPE"),
            (libc::ECANCELED, "ECANCELED"),
            (libc::ENOKEY, "ENOKEY"),
            (libc::EKEYEXPIRED, "EKEYEXPIRED"),
            (libc::EKEYREVOKED, "EKEYREVOKED"),
            (libc::EKEYREJECTED, "EKEYREJECTED"),
            (libc::EOWNERDEAD, "EOWNERDEAD"),
            (libc::ENOTRECOVERABLE, "ENOTRECOVERABLE"),
            (libc::ERFKILL, "ERFKILL"),
            (libc::EHWPOISON, "EHWPOISON"),
        ];
        // libc's numbers are this target's; the table is the generic one.
        if cfg!(any(
            target_arch = "mips",
            target_arch = "mips64",
            target_arch = "mips32r6",
            target_arch = "mips64r6",
            target_arch = "sparc",
            target_arch = "sparc64"
        )) {
            return;
        }
        for (errno, name) in known {
            assert_eq!(errno_name(errno), name, "errno {errno}");
        }
        let named = (1..=133).filter(|&e| errno_name(e) != "E?").count();
        assert_eq!(named, known.len());
    }

    #[test]
    fn unknown_errno_is_e_question_mark() {
        assert_eq!(errno_name(0), "E?");
        assert_eq!(errno_name(41), "E?");
        assert_eq!(errno_name(134), "E?");
        assert_eq!(errno_name(-1), "E?");
        assert_eq!(errno_name(513), "ERESTARTNOINTR");
    }
}
