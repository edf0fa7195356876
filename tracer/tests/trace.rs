//! End-to-end tests: the real `tracer` binary, real processes, exact values.
//!
//! These tests load eBPF programs, so they need root. Every tracer started here sees every
//! exec on the host; each test picks its events by the PIDs it created, and proves that an
//! event is absent by running a sentinel exec afterwards: the ring buffer keeps the order in
//! which records were written, so once the sentinel is seen, an earlier event would be too.
//!
//! The test binary is also the workload program: `trace --workload NAME` runs one of the
//! small programs in [`workload`] (execs that std cannot make) and exits.

use std::{
    ffi::OsStr,
    fmt::Debug,
    io::{BufRead, BufReader, Read, Write},
    os::unix::{ffi::OsStrExt, fs::symlink, process::CommandExt},
    path::PathBuf,
    process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio},
    sync::{
        Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU32, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");
const READY_LINE: &str = "Tracing exec()s. Ctrl-C to end.";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon an exec must show on a piped stdout for the output to count as live.
const LIVE_WITHIN: Duration = Duration::from_secs(2);
/// The default argv capture cap (`--max-arg-bytes`, `tracer_common::ARGV_MAX`).
const ARGV_CAP: usize = 16384;

type TestResult = Result<(), Failed>;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--workload") {
        workload::run(argv.get(2).map_or("", String::as_str));
    }

    let args = Arguments::from_args();
    libtest_mimic::run(&args, trials()).exit();
}

/// Each test, named after its function.
macro_rules! trials {
    ($($test:ident),* $(,)?) => {
        vec![$(trial(stringify!($test), $test)),*]
    };
}

fn trials() -> Vec<Trial> {
    trials![
        echo_with_spaced_argument_reports_exact_argv_pid_and_ppid,
        text_max_args_cuts_with_ellipsis_and_shows_pid_and_ppid_columns,
        text_time_column_is_seconds_since_boot,
        execveat_with_empty_path_is_traced_with_pid_and_argv,
        fexecve_is_traced_with_pid_and_argv,
        exec_from_non_leader_thread_reports_process_pid_and_calling_tid,
        ppid_is_parent_tgid_when_spawning_thread_is_not_leader,
        failed_exec_is_shown_only_with_x_with_errno_and_exact_argv,
        failed_exec_with_more_than_128_args_is_flagged_too_many,
        control_and_invalid_bytes_are_escaped_in_text_and_exact_in_json,
        sole_empty_argument_is_kept_in_json,
        argv_beyond_16k_is_cut_flagged_and_sized_in_order_with_neighbours,
        five_thousand_arguments_are_cut_to_an_exact_prefix_and_flagged,
        max_arg_bytes_lowers_the_capture_cap,
        line_filter_matches_joined_arguments_not_process_name,
        name_filter_matches_process_name_not_arguments,
        uid_filter_shows_only_execs_by_that_uid,
        reexec_is_hidden_without_r_and_shown_with_r,
        json_piped_into_jq_parses_and_arrives_live,
        captured_json_parses_in_jq_and_argv_reads_back,
        bad_arguments_fail_with_one_line_and_no_panic,
        write_error_on_stdout_is_one_line_and_non_zero,
        man_page_and_completions_are_generated_from_the_options,
        help_example_of_line_regex_with_leading_dashes_works,
        unprivileged_run_fails_with_one_line_naming_root_and_cap_bpf,
        duration_ends_the_trace_with_status_0_and_stats,
        sigterm_ends_the_trace_with_status_0_and_stats,
        closed_stdout_ends_the_trace_quietly,
        two_tracers_both_see_the_same_exec,
        summary_counts_execs_per_command_on_stderr,
        lost_events_are_reported_in_json_on_stderr_and_in_stats,
        every_byte_from_1_to_255_is_exact_in_json_and_escaped_on_one_text_line,
        unmounted_tracefs_is_mounted_by_the_tracer,
        missing_btf_file_is_one_line_naming_it,
        exec_storm_of_20000_is_reported_in_full_with_nothing_lost,
        sigint_during_an_exec_storm_detaches_cleanly,
        fork_storm_reports_every_fork_exit_and_exec_with_nothing_lost,
        lost_count_equals_the_kernels_own_count_exactly,
        shim_daemon_is_forked_by_the_launcher_process_and_adopted_by_the_subreaper,
        daemon_that_execs_before_its_launcher_exits_is_adopted_after,
        subtree_filter_keeps_a_daemon_adopted_outside_it,
        tree_of_the_shim_workload_is_exact_once_pids_and_times_are_named,
        grandchild_whose_ancestors_all_exited_keeps_its_chain,
        fork_only_process_appears_in_the_chain_and_the_tree,
        recycled_pid_shows_no_stale_history,
    ]
}

/// Tests that need the host to themselves: any exec of another test would disturb what they
/// measure. They take [`EXCLUSIVE`] for writing; every other test takes it for reading.
const ALONE: &[&str] = &[
    "lost_count_equals_the_kernels_own_count_exactly",
    "recycled_pid_shows_no_stale_history",
];

static EXCLUSIVE: RwLock<()> = RwLock::new(());

/// Held while a test runs.
enum Turn {
    Alone(#[expect(dead_code, reason = "held, never read")] RwLockWriteGuard<'static, ()>),
    Shared(#[expect(dead_code, reason = "held, never read")] RwLockReadGuard<'static, ()>),
}

/// Every test needs root; without it, each fails saying so rather than being skipped.
fn trial(name: &'static str, test: fn() -> TestResult) -> Trial {
    Trial::test(name, move || {
        require_root()?;
        // A test that panicked poisons the lock; the next ones run all the same.
        let _turn = if ALONE.contains(&name) {
            Turn::Alone(EXCLUSIVE.write().unwrap_or_else(PoisonError::into_inner))
        } else {
            Turn::Shared(EXCLUSIVE.read().unwrap_or_else(PoisonError::into_inner))
        };
        test()
    })
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

fn echo_with_spaced_argument_reports_exact_argv_pid_and_ppid() -> TestResult {
    let tracer = Tracer::start(&["--json"])?;

    let boot_before = boottime_ns();
    let wall_before = wall_ns();
    let (pid, _) = run_ok(Command::new("/bin/echo").args(["hello world", "x"]))?;
    let ev = tracer.wait_event("the echo exec", pid, is_exec)?;
    let boot_after = boottime_ns();
    let wall_after = wall_ns();

    let ppid = test_pid();
    let expected_tail = format!(
        r#","pid":{pid},"ppid":{ppid},"uid":0,"comm":"echo","filename":"/bin/echo","argv":["/bin/echo","hello world","x"],"argv_size":24,"flags":[],"retval":0}}"#
    );
    ensure(
        ev.raw.starts_with(r#"{"type":"exec","ktime_ns":"#) && ev.raw.ends_with(&expected_tail),
        format!(
            "exec line\n  got:  {}\n  want: {{\"type\":\"exec\",\"ktime_ns\":...,\"time\":...{expected_tail}",
            ev.raw
        ),
    )?;
    check_eq(
        &ev["argv"],
        &json!(["/bin/echo", "hello world", "x"]),
        "argv",
    )?;
    check_eq(&ev["pid"], &json!(pid), "pid")?;
    check_eq(&ev["ppid"], &json!(ppid), "ppid")?;
    check_eq(&ev["filename"], &json!("/bin/echo"), "filename")?;
    check_eq(&ev["comm"], &json!("echo"), "comm")?;
    check_eq(&ev["uid"], &json!(0), "uid")?;
    ensure(
        ev.get("tid").is_none(),
        format!("no tid key for a leader exec: {}", ev.raw),
    )?;

    let ktime = ev["ktime_ns"].as_u64().ok_or("ktime_ns is not a u64")?;
    ensure(
        (boot_before..=boot_after).contains(&ktime),
        format!("ktime_ns {ktime} outside the CLOCK_BOOTTIME window {boot_before}..={boot_after}"),
    )?;
    let time = ev["time"].as_str().ok_or("time is not a string")?;
    let wall = rfc3339_ns(time)
        .ok_or_else(|| format!("time {time:?} is not RFC 3339 UTC with nine fractional digits"))?;
    let slack = 1_000_000_000;
    ensure(
        (wall_before - slack..=wall_after + slack).contains(&wall),
        format!("time {time} is not within 1 s of the wall clock at the exec"),
    )?;

    tracer.stop()?;
    Ok(())
}

fn text_max_args_cuts_with_ellipsis_and_shows_pid_and_ppid_columns() -> TestResult {
    let tracer = Tracer::start(&["-a", "3"])?;

    let (long_pid, _) = run_ok(Command::new("/bin/echo").args(["a", "b", "c", "d", "e"]))?;
    let (short_pid, _) = run_ok(Command::new("/bin/echo").args(["a", "b"]))?;
    let long = tracer.wait_line("the echo with 5 args", long_pid)?;
    let short = tracer.wait_line("the echo with 2 args", short_pid)?;

    let ppid = test_pid();
    check_eq(
        &long,
        &format!("{long_pid:>6} {ppid:>6} /bin/echo a b [...]"),
        "line of /bin/echo a b c d e",
    )?;
    check_eq(
        &short,
        &format!("{short_pid:>6} {ppid:>6} /bin/echo a b"),
        "line of /bin/echo a b",
    )?;

    let done = tracer.stop()?;
    check_eq(&done.stdout[0], &"   PID   PPID ARGS".to_string(), "header")?;
    Ok(())
}

fn text_time_column_is_seconds_since_boot() -> TestResult {
    let tracer = Tracer::start(&["-t"])?;

    let tag = unique("timed");
    let boot_before = boottime_ns();
    let (pid, _) = run_ok(Command::new("/bin/echo").arg(&tag))?;
    let line = tracer.wait_line("the timed echo", pid)?;
    let boot_after = boottime_ns();

    // TIMEs is left-aligned in 16 columns, then a space, then the perf-tools columns.
    let (time, rest) = line
        .split_at_checked(17)
        .ok_or_else(|| format!("short line {line:?}"))?;
    check_eq(
        &rest.to_string(),
        &format!("{pid:>6} {:>6} /bin/echo {tag}", test_pid()),
        "line after TIMEs",
    )?;
    let time = time.trim_end();
    let (secs, micros) = time
        .split_once('.')
        .ok_or_else(|| format!("TIMEs {time:?} has no decimals"))?;
    ensure(
        micros.len() == 6
            && micros.bytes().all(|b| b.is_ascii_digit())
            && secs.bytes().all(|b| b.is_ascii_digit()),
        format!("TIMEs {time:?} is not seconds with six decimals"),
    )?;
    let us: u64 = format!("{secs}{micros}").parse()?;
    ensure(
        (boot_before / 1000..=boot_after / 1000).contains(&us),
        format!("TIMEs {time} outside the boot-time window {boot_before}..={boot_after} ns"),
    )?;

    let done = tracer.stop()?;
    check_eq(
        &done.stdout[0],
        &"TIMEs               PID   PPID ARGS".to_string(),
        "header",
    )?;
    Ok(())
}

fn execveat_with_empty_path_is_traced_with_pid_and_argv() -> TestResult {
    fd_exec_is_traced("execveat", "via-execveat")
}

fn fexecve_is_traced_with_pid_and_argv() -> TestResult {
    fd_exec_is_traced("fexecve", "via-fexecve")
}

/// An exec of an open file descriptor: the kernel names the file `/dev/fd/N`, and since
/// Linux 6.14 takes comm from the file's name rather than from that path.
fn fd_exec_is_traced(name: &str, word: &str) -> TestResult {
    // -r: the workload's own exec (this binary) is the first exec of its pid.
    let tracer = Tracer::start(&["--json", "-r"])?;

    let (pid, out) = run_ok(&mut workload(name))?;
    let lines = stdout_lines(&out);
    let fd = field(&lines, "fd=")?;
    check_eq(
        &lines.last().cloned(),
        &Some(word.to_string()),
        "what echo printed",
    )?;

    let ev = tracer.wait_event(&format!("the {name} exec of /bin/echo"), pid, |ev| {
        ev["argv"][0] == "echo"
    })?;
    check_eq(&ev["type"], &json!("exec"), "type")?;
    check_eq(&ev["argv"], &json!(["echo", word]), "argv")?;
    check_eq(&ev["ppid"], &json!(test_pid()), "ppid")?;
    check_eq(&ev["filename"], &json!(format!("/dev/fd/{fd}")), "filename")?;
    check_eq(&ev["comm"], &json!("echo"), "comm")?;
    check_eq(&ev["argv_size"], &json!(5 + word.len() + 1), "argv_size")?;
    check_eq(&ev["flags"], &json!([]), "flags")?;
    ensure(ev.get("tid").is_none(), format!("no tid key: {}", ev.raw))?;

    tracer.stop()?;
    Ok(())
}

fn exec_from_non_leader_thread_reports_process_pid_and_calling_tid() -> TestResult {
    // -r: the workload's own exec (this binary) is the first exec of its pid.
    let json_tracer = Tracer::start(&["--json", "-r"])?;
    let text_tracer = Tracer::start(&["-r"])?;

    let (pid, out) = run_ok(&mut workload("thread-exec"))?;
    let lines = stdout_lines(&out);
    check_eq(
        &field(&lines, "pid=")?,
        &pid,
        "the pid the workload printed",
    )?;
    let tid = field(&lines, "tid=")?;
    ensure(
        tid != pid,
        format!("the exec'ing thread {tid} is the leader"),
    )?;
    check_eq(
        &lines.last().cloned(),
        &Some("from-thread".to_string()),
        "what echo printed",
    )?;

    let ev = json_tracer.wait_event("the exec from the thread", pid, |ev| {
        ev["argv"][0] == "echo"
    })?;
    check_eq(&ev["pid"], &json!(pid), "pid")?;
    check_eq(&ev["tid"], &json!(tid), "tid (the thread that called exec)")?;
    check_eq(&ev["ppid"], &json!(test_pid()), "ppid")?;
    check_eq(&ev["argv"], &json!(["echo", "from-thread"]), "argv")?;
    check_eq(&ev["filename"], &json!("/bin/echo"), "filename")?;
    check_eq(&ev["comm"], &json!("echo"), "comm")?;
    let text = text_tracer.wait_line_where("the exec from the thread", pid, |l| {
        l.ends_with(" echo from-thread")
    })?;
    check_eq(
        &text,
        &format!("{pid:>6} {:>6} echo from-thread", test_pid()),
        "text line",
    )?;

    json_tracer.stop()?;
    text_tracer.stop()?;
    Ok(())
}

fn ppid_is_parent_tgid_when_spawning_thread_is_not_leader() -> TestResult {
    let tracer = Tracer::start(&["--json"])?;

    let (pid, out) = run_ok(&mut workload("thread-spawn"))?;
    let lines = stdout_lines(&out);
    let child = field(&lines, "child=")?;
    let tid = field(&lines, "tid=")?;
    ensure(
        tid != pid,
        format!("the spawning thread {tid} is the leader"),
    )?;

    let ev = tracer.wait_event("the echo spawned from a thread", child, is_exec)?;
    check_eq(
        &ev["argv"],
        &json!(["/bin/echo", "spawned-from-thread"]),
        "argv",
    )?;
    check_eq(&ev["ppid"], &json!(pid), "ppid (the workload's pid)")?;
    ensure(
        ev["ppid"] != json!(tid),
        format!("ppid is the spawning thread's tid {tid}"),
    )?;

    tracer.stop()?;
    Ok(())
}

fn failed_exec_is_shown_only_with_x_with_errno_and_exact_argv() -> TestResult {
    let with_x = Tracer::start(&["--json", "-x"])?;
    let without_x = Tracer::start(&["--json"])?;
    let text_x = Tracer::start(&["-x"])?;

    let (pid, out) = run(&mut workload("fail-exec"))?;
    check_eq(&out.status.code(), &Some(3), "workload exit status")?;
    check_eq(
        &field(&stdout_lines(&out), "errno=")?,
        &2,
        "errno the workload saw",
    )?;

    let ev = with_x.wait_event("the failed exec", pid, |ev| ev["type"] == "exec_failed")?;
    let ppid = test_pid();
    let comm = workload_comm();
    let expected_tail = format!(
        r#","pid":{pid},"ppid":{ppid},"uid":0,"comm":"{comm}","filename":"/nonexistent/tracer-test-prog","argv":["prog","arg1"],"argv_size":0,"flags":[],"retval":-2,"errno":"ENOENT"}}"#
    );
    ensure(
        ev.raw.starts_with(r#"{"type":"exec_failed","ktime_ns":"#)
            && ev.raw.ends_with(&expected_tail),
        format!(
            "failed exec line\n  got:  {}\n  want: {{\"type\":\"exec_failed\",...{expected_tail}",
            ev.raw
        ),
    )?;
    let line = text_x.wait_line_where("the failed exec", pid, |l| l.contains(" prog "))?;
    check_eq(
        &line,
        &format!("{pid:>6} {ppid:>6} prog arg1 [ret=-2 ENOENT: /nonexistent/tracer-test-prog]"),
        "text line",
    )?;

    let sentinel = sentinel()?;
    without_x.wait_event("the sentinel", sentinel, is_exec)?;
    let failed: Vec<_> = without_x
        .events_of(pid)?
        .into_iter()
        .filter(|e| e["type"] != "exec")
        .collect();
    ensure(
        failed.is_empty(),
        format!("without -x, a failed exec was shown: {failed:?}"),
    )?;
    // The workload's own exec (the test binary) is shown by every tracer.
    let own = without_x.events_of(pid)?;
    check_eq(&own.len(), &1, "execs of the workload shown without -x")?;

    with_x.stop()?;
    without_x.stop()?;
    text_x.stop()?;
    Ok(())
}

fn failed_exec_with_more_than_128_args_is_flagged_too_many() -> TestResult {
    let tracer = Tracer::start(&["--json", "-x"])?;

    let mut cmd = workload("fail-exec-many");
    let (pid, out) = run(&mut cmd)?;
    check_eq(&out.status.code(), &Some(3), "workload exit status")?;

    let ev = tracer.wait_event("the failed exec", pid, |ev| ev["type"] == "exec_failed")?;
    let expected: Vec<String> = (0..128).map(|i| format!("a{i}")).collect();
    check_eq(&ev["argv"], &json!(expected), "argv (the first 128)")?;
    check_eq(&ev["flags"], &json!(["argv_too_many"]), "flags")?;
    check_eq(&ev["errno"], &json!("ENOENT"), "errno")?;

    tracer.stop()?;
    Ok(())
}

fn control_and_invalid_bytes_are_escaped_in_text_and_exact_in_json() -> TestResult {
    let text = Tracer::start(&[])?;
    let json_tracer = Tracer::start(&["--json"])?;

    let args: [&[u8]; 3] = [b"a\nb", b"\x1b[31m", b"\xff"];
    let mut cmd = Command::new("/bin/echo");
    for arg in args {
        cmd.arg(OsStr::from_bytes(arg));
    }
    let (pid, _) = run_ok(&mut cmd)?;

    let line = text.wait_line("the echo with control bytes", pid)?;
    check_eq(
        &line,
        &format!("{pid:>6} {:>6} /bin/echo a\\nb \\x1b[31m \\xff", test_pid()),
        "text line",
    )?;

    let ev = json_tracer.wait_event("the echo with control bytes", pid, is_exec)?;
    check_eq(
        &ev["argv"],
        &json!(["/bin/echo", "a\nb", "\u{1b}[31m", "\u{fffd}"]),
        "argv",
    )?;
    check_eq(
        &ev["argv_hex"],
        &json!([null, null, null, "ff"]),
        "argv_hex",
    )?;
    let hex = ev["argv_hex"][3].as_str().unwrap_or_default();
    check_eq(&unhex(hex), &Some(b"\xff".to_vec()), "argv_hex[3] decoded")?;
    ensure(
        !ev.raw.bytes().any(|b| b < 0x20),
        format!("raw control byte in the JSON line {:?}", ev.raw),
    )?;

    let text_done = text.stop()?;
    let json_done = json_tracer.stop()?;
    for line in text_done.stdout.iter().chain(&json_done.stdout) {
        ensure(
            !line.contains('\u{1b}'),
            format!("raw ESC on stdout: {line:?}"),
        )?;
    }
    Ok(())
}

/// `execve("/bin/true", [""])`, and `execve("/bin/true", [])`, which Linux 5.18+ runs with
/// the single empty argument `[""]`: both images hold one argument, the empty string.
fn sole_empty_argument_is_kept_in_json() -> TestResult {
    // -r: the workload's own exec (this binary) is the first exec of its pid.
    let tracer = Tracer::start(&["--json", "-r"])?;

    for name in ["one-empty-arg", "empty-argv"] {
        let (pid, _) = run_ok(&mut workload(name))?;
        let ev = tracer.wait_event(&format!("the exec of {name}"), pid, |e| {
            e["filename"] == "/bin/true"
        })?;
        check_eq(&ev["argv_size"], &json!(1), &format!("{name}: argv_size"))?;
        check_eq(&ev["argv"], &json!([""]), &format!("{name}: argv"))?;
    }

    tracer.stop()?;
    Ok(())
}

fn argv_beyond_16k_is_cut_flagged_and_sized_in_order_with_neighbours() -> TestResult {
    let json_tracer = Tracer::start(&["--json"])?;
    let text = Tracer::start(&[])?;

    let tag = unique("big");
    let big = "a".repeat(100_000);
    let (before, _) = run_ok(Command::new("/bin/echo").arg(format!("before-{tag}")))?;
    let (pid, _) = run_ok(Command::new("/bin/echo").args([big.as_str(), "tail"]))?;
    let (after, _) = run_ok(Command::new("/bin/echo").arg(format!("after-{tag}")))?;
    json_tracer.wait_event("the exec after the big one", after, is_exec)?;

    let all = json_tracer.all_events()?;
    let position = |p: u32| {
        all.iter()
            .position(|e| e["pid"] == p && e["type"] == "exec")
    };
    let order = [position(before), position(pid), position(after)];
    ensure(
        order.iter().all(Option::is_some) && order.is_sorted(),
        format!("before, big and after execs at positions {order:?}"),
    )?;
    let ev = &all[order[1].unwrap_or_default()];
    let shown = ARGV_CAP - "/bin/echo\0".len();
    check_eq(&ev["flags"], &json!(["argv_truncated"]), "flags")?;
    check_eq(
        &ev["argv"],
        &json!(["/bin/echo", &big[..shown]]),
        "argv (the first 16384 bytes)",
    )?;
    check_eq(&ev["argv_size"], &json!(10 + 100_001 + 5), "argv_size")?;

    let line = text.wait_line("the big echo", pid)?;
    check_eq(
        &line,
        &format!(
            "{pid:>6} {:>6} /bin/echo {} [...]",
            test_pid(),
            &big[..shown]
        ),
        "text line",
    )?;

    json_tracer.stop()?;
    text.stop()?;
    Ok(())
}

fn five_thousand_arguments_are_cut_to_an_exact_prefix_and_flagged() -> TestResult {
    let json_tracer = Tracer::start(&["--json"])?;
    let text = Tracer::start(&[])?;

    let args: Vec<String> = (0..5000).map(|i| format!("arg{i}")).collect();
    let (pid, _) = run_ok(Command::new("/bin/true").arg0(&args[0]).args(&args[1..]))?;

    let ev = json_tracer.wait_event("the exec with 5000 args", pid, is_exec)?;
    let area: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    // The captured bytes are the first ARGV_CAP of the argv area: whole arguments, then the
    // start of the one the cap cut.
    let prefix = &area[..ARGV_CAP];
    let expected: Vec<String> = prefix
        .strip_suffix(&[0])
        .unwrap_or(prefix)
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let got = ev["argv"].as_array().map_or(0, Vec::len);
    ensure(
        ev["argv"] == json!(expected),
        format!(
            "argv is not the exact 16384-byte prefix: got {got} args ending {:?}, want {} ending {:?}",
            ev["argv"].as_array().and_then(|a| a.last()),
            expected.len(),
            expected.last()
        ),
    )?;
    check_eq(&ev["flags"], &json!(["argv_truncated"]), "flags")?;
    check_eq(&ev["argv_size"], &json!(area.len()), "argv_size")?;
    check_eq(&ev["filename"], &json!("/bin/true"), "filename")?;

    let line = text.wait_line("the exec with 5000 args", pid)?;
    check_eq(
        &line,
        &format!("{pid:>6} {:>6} {} [...]", test_pid(), args[..8].join(" ")),
        "text line",
    )?;

    json_tracer.stop()?;
    text.stop()?;
    Ok(())
}

fn max_arg_bytes_lowers_the_capture_cap() -> TestResult {
    let tracer = Tracer::start(&["--json", "--max-arg-bytes", "16"])?;

    let (pid, _) = run_ok(Command::new("/bin/echo").args(["abcdef", "ghijkl"]))?;
    let ev = tracer.wait_event("the echo", pid, is_exec)?;
    // "/bin/echo\0abcdef\0ghijkl\0": 16 bytes end inside "abcdef".
    check_eq(
        &ev["argv"],
        &json!(["/bin/echo", "abcdef"]),
        "argv (16 bytes)",
    )?;
    check_eq(&ev["flags"], &json!(["argv_truncated"]), "flags")?;
    check_eq(&ev["argv_size"], &json!(24), "argv_size")?;

    tracer.stop()?;
    Ok(())
}

fn line_filter_matches_joined_arguments_not_process_name() -> TestResult {
    let dir = TempDir::new()?;
    let name = dir.short_name();
    let link = dir.symlink("/bin/true", &name)?;
    let tracer = Tracer::start(&["--json", "-l", &format!("{name} joined")])?;

    let (hit, _) = run_ok(Command::new("/bin/echo").args([name.as_str(), "joined"]))?;
    let (by_name, _) = run_ok(Command::new(&link).arg0("true"))?;
    let (sentinel, _) =
        run_ok(Command::new("/bin/echo").args([name.as_str(), "joined", "sentinel"]))?;

    let ev = tracer.wait_event("the echo whose joined args match", hit, is_exec)?;
    check_eq(&ev["argv"], &json!(["/bin/echo", name, "joined"]), "argv")?;
    tracer.wait_event("the sentinel", sentinel, is_exec)?;
    let shown = tracer.events_of(by_name)?;
    ensure(
        shown.is_empty(),
        format!("-l matched the process name {name:?}, not the args: {shown:?}"),
    )?;

    tracer.stop()?;
    Ok(())
}

fn name_filter_matches_process_name_not_arguments() -> TestResult {
    let dir = TempDir::new()?;
    let name = dir.short_name();
    let link = dir.symlink("/bin/true", &name)?;
    let tracer = Tracer::start(&["--json", &format!("^{name}$")])?;

    let (hit, _) = run_ok(Command::new(&link).arg0("true"))?;
    let (by_args, _) = run_ok(Command::new("/bin/echo").arg(&name))?;
    let (sentinel, _) = run_ok(Command::new(&link).arg0("true").arg("sentinel"))?;

    let ev = tracer.wait_event("the exec named by the regex", hit, is_exec)?;
    check_eq(&ev["comm"], &json!(name), "comm")?;
    check_eq(&ev["argv"], &json!(["true"]), "argv")?;
    check_eq(&ev["filename"], &json!(link.to_string_lossy()), "filename")?;
    tracer.wait_event("the sentinel", sentinel, is_exec)?;
    let shown = tracer.events_of(by_args)?;
    ensure(
        shown.is_empty(),
        format!("the name regex matched an argument, not the name: {shown:?}"),
    )?;

    tracer.stop()?;
    Ok(())
}

fn uid_filter_shows_only_execs_by_that_uid() -> TestResult {
    let tracer = Tracer::start(&["--json", "-u", "65534"])?;

    let tag = unique("uid");
    let as_nobody = |word: &str| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/echo",
            word,
        ]);
        cmd
    };
    let (nobody, _) = run_ok(&mut as_nobody(&tag))?;
    let (root, _) = run_ok(Command::new("/bin/echo").arg(&tag))?;
    let (sentinel, _) = run_ok(&mut as_nobody("sentinel"))?;

    tracer.wait_event("the echo as uid 65534", nobody, is_exec)?;
    tracer.wait_event("the sentinel", sentinel, is_exec)?;
    // setpriv itself ran as root: only its exec of echo, after setuid, is shown.
    let shown = tracer.events_of(nobody)?;
    check_eq(&shown.len(), &1, "execs shown for the setpriv process")?;
    check_eq(&shown[0]["argv"], &json!(["/bin/echo", tag]), "argv")?;
    check_eq(&shown[0]["uid"], &json!(65534), "uid")?;
    let shown = tracer.events_of(root)?;
    ensure(
        shown.is_empty(),
        format!("-u 65534 showed a root exec: {shown:?}"),
    )?;

    tracer.stop()?;
    Ok(())
}

fn reexec_is_hidden_without_r_and_shown_with_r() -> TestResult {
    let plain = Tracer::start(&[])?;
    let reexec = Tracer::start(&["-r"])?;
    let json = Tracer::start(&["--json"])?;

    let script = format!("exec /bin/echo {}", unique("reexec"));
    let (pid, _) = run_ok(Command::new("/bin/sh").args(["-c", &script]))?;
    let word = script.trim_start_matches("exec /bin/echo ");
    let ppid = test_pid();
    let sh_line = format!("{pid:>6} {ppid:>6} /bin/sh -c exec /bin/echo {word}");
    let echo_line = format!("{pid:>6} {ppid:>6} /bin/echo {word}");

    reexec.wait_line_where("the re-exec of echo", pid, |l| l.contains("/bin/echo"))?;
    check_eq(
        &reexec.lines_of(pid),
        &vec![sh_line.clone(), echo_line],
        "with -r, execs of the pid in order",
    )?;

    // JSON always carries every exec, as if -r were given.
    json.wait_event("the re-exec of echo in JSON", pid, |ev| {
        ev["argv"][0] == "/bin/echo"
    })?;
    let argvs: Vec<Value> = json
        .events_of(pid)?
        .iter()
        .map(|e| e["argv"].clone())
        .collect();
    check_eq(
        &argvs,
        &vec![json!(["/bin/sh", "-c", script]), json!(["/bin/echo", word])],
        "JSON execs of the pid, without -r",
    )?;

    let sentinel = sentinel()?;
    plain.wait_line("the sentinel", sentinel)?;
    check_eq(
        &plain.lines_of(pid),
        &vec![sh_line],
        "without -r, execs of the pid",
    )?;

    plain.stop()?;
    reexec.stop()?;
    json.stop()?;
    Ok(())
}

fn json_piped_into_jq_parses_and_arrives_live() -> TestResult {
    let mut jq = Command::new("jq");
    jq.args(["-c", "--unbuffered", r#"select(.type=="exec")"#]);
    let mut tracer = Tracer::spawn(&["--json"], Sink::Into(jq))?;

    let tag = unique("jq");
    let (pid, _) = run_ok(Command::new("/bin/echo").args(["hello world", &tag]))?;
    let exited = Instant::now();
    let ev = tracer.wait_event_within("the echo, through jq", pid, is_exec, LIVE_WITHIN)?;
    ensure(
        exited.elapsed() < LIVE_WITHIN,
        format!(
            "the exec took {:?} to come out of the pipe",
            exited.elapsed()
        ),
    )?;
    ensure(tracer.is_running()?, "the tracer exited while tracing")?;
    check_eq(
        &ev["argv"],
        &json!(["/bin/echo", "hello world", tag]),
        "argv",
    )?;

    let done = tracer.stop()?;
    check_eq(
        &done.filter_status.and_then(|s| s.code()),
        &Some(0),
        "jq exit status",
    )?;
    for line in &done.stdout {
        let v: Value = serde_json::from_str(line)?;
        check_eq(&v["type"], &json!("exec"), "type of what jq selected")?;
    }
    Ok(())
}

fn captured_json_parses_in_jq_and_argv_reads_back() -> TestResult {
    let tracer = Tracer::start(&["--json", "-x"])?;

    let (pid, _) = run_ok(Command::new("/bin/echo").args(["hello world", "x"]))?;
    let (odd, _) = run_ok(Command::new("/bin/echo").arg(OsStr::from_bytes(b"a\nb\x1b[0m\xfe")))?;
    let (failed, _) = run(&mut workload("fail-exec"))?;
    let ev = tracer.wait_event("the echo", pid, is_exec)?;
    tracer.wait_event("the odd echo", odd, is_exec)?;
    tracer.wait_event("the failed exec", failed, |e| e["type"] == "exec_failed")?;
    let done = tracer.stop()?;

    let all = done.stdout.join("\n") + "\n";
    let (status, selected) = pipe_through(&["-c", r#"select(.type=="exec")"#], all.as_bytes())?;
    ensure(
        status.success(),
        format!("jq failed ({status}) on the tracer's output"),
    )?;
    let want = done
        .stdout
        .iter()
        .filter(|l| l.starts_with(r#"{"type":"exec","#))
        .count();
    check_eq(&selected.lines().count(), &want, "exec lines jq selected")?;

    let (status, argv1) = pipe_through(&["-r", ".argv[1]"], format!("{}\n", ev.raw).as_bytes())?;
    ensure(status.success(), format!("jq -r failed ({status})"))?;
    check_eq(&argv1, &"hello world\n".to_string(), "jq -r .argv[1]")?;
    Ok(())
}

fn bad_arguments_fail_with_one_line_and_no_panic() -> TestResult {
    let cases: [(&[&str], &str); 7] = [
        (&["-a", "0"], "max-args"),
        (&["("], "regex"),
        (&["-l", "["], "regex"),
        (&["--no-such-flag"], "no-such-flag"),
        (&["-d", "1e99"], "seconds"),
        (&["-p", "999999999"], "no such process"),
        (&["--generate", "nosuchshell"], "--generate"),
    ];
    for (args, mentions) in cases {
        let out = run_to_end(Command::new(TRACER).args(args))?;
        let what = format!("tracer {}", args.join(" "));
        one_line_error(&what, &out, &[mentions])?;
    }

    // A thread id is not a process: say which process it belongs to.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let worker = thread::spawn(move || {
        // SAFETY: gettid cannot fail.
        let _ = tx.send(unsafe { libc::gettid() });
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().map_err(|e| e.to_string())?;
    let out = run_to_end(Command::new(TRACER).args(["-p", &tid.to_string()]))?;
    let _ = stop_tx.send(());
    let _ = worker.join();
    one_line_error(
        "tracer -p <thread id>",
        &out,
        &[&format!("thread of process {}", test_pid())],
    )
}

/// A write error other than a closed pipe (a full disk) ends the trace with one line.
fn write_error_on_stdout_is_one_line_and_non_zero() -> TestResult {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    let out = Command::new(TRACER)
        .args(["-d", "5"])
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(1),
        format!("status {}, stderr:\n{stderr}", out.status),
    )?;
    check_eq(
        &stderr.lines().collect::<Vec<_>>(),
        &vec![
            READY_LINE,
            "tracer: cannot write to stdout: No space left on device (os error 28)",
        ],
        "stderr",
    )
}

/// The man page and completion scripts come from the same option definitions.
fn man_page_and_completions_are_generated_from_the_options() -> TestResult {
    let man = run_to_end(Command::new(TRACER).args(["--generate", "man"]))?;
    let man = String::from_utf8(man.stdout)?;
    ensure(
        man.contains(".TH tracer 1") && man.contains("\\-\\-max\\-args"),
        format!("not a man page of tracer's options:\n{man}"),
    )?;
    let bash = run_to_end(Command::new(TRACER).args(["--generate", "bash"]))?;
    let bash = String::from_utf8(bash.stdout)?;
    ensure(
        bash.contains("--max-args") && bash.contains("--chain") && bash.contains("complete -F"),
        "not a bash completion of tracer's options",
    )
}

/// `--help` shows `tracer -l -- '--config'` for a regex that starts with dashes; the example
/// is run as the help text gives it.
fn help_example_of_line_regex_with_leading_dashes_works() -> TestResult {
    let help = run_to_end(Command::new(TRACER).arg("--help"))?;
    let help = String::from_utf8(help.stdout)?;
    let examples: Vec<&str> = help.lines().filter(|l| l.starts_with("  tracer")).collect();
    // The descriptions start in one column: where the first example's does.
    let first = examples.first().ok_or("no examples in --help")?;
    let column = first.len() - first["  tracer".len()..].trim_start().len();
    let example = examples
        .iter()
        .find(|l| l.starts_with("  tracer -l") && l.contains("--config"))
        .ok_or_else(|| format!("no -l example with --config in --help:\n{help}"))?;
    let command = example.get(..column).unwrap_or(example).trim();
    let words: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches('\'').to_string())
        .collect();
    let mut args = vec!["--json"];
    args.extend(words.iter().map(String::as_str));

    let tracer = Tracer::start(&args).map_err(|e| {
        let why = e.message().unwrap_or_default();
        Failed::from(format!(
            "the --help example `{command}` does not run: {why}"
        ))
    })?;
    let (pid, _) = run_ok(Command::new("/bin/echo").args(["--config", &unique("dashes")]))?;
    tracer.wait_event("the echo of --config", pid, is_exec)?;
    tracer.stop()?;
    Ok(())
}

fn unprivileged_run_fails_with_one_line_naming_root_and_cap_bpf() -> TestResult {
    let which = run_to_end(Command::new("setpriv").arg("--version"))?;
    ensure(
        which.status.success(),
        "setpriv (util-linux) is needed for this test",
    )?;

    let out = run_to_end(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        TRACER,
    ]))?;
    one_line_error("tracer as uid 65534", &out, &["root", "CAP_BPF"])
}

fn duration_ends_the_trace_with_status_0_and_stats() -> TestResult {
    let tracer = Tracer::start(&["-d", "1"])?;
    let ready = Instant::now();
    let done = tracer.wait_exit()?;
    let took = ready.elapsed();
    done.check_clean("-d 1")?;
    ensure(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        format!("-d 1 ended {took:?} after the ready line"),
    )?;
    Ok(())
}

fn sigterm_ends_the_trace_with_status_0_and_stats() -> TestResult {
    let tracer = Tracer::start(&["--json"])?;
    let (pid, _) = run_ok(Command::new("/bin/echo").arg(unique("term")))?;
    tracer.wait_event("the echo", pid, is_exec)?;
    tracer.signal(libc::SIGTERM);
    let done = tracer.wait_exit()?;
    done.check_clean("SIGTERM")?;
    ensure(
        done.stats.as_ref().is_some_and(|s| s.shown >= 1),
        format!("stats after SIGTERM: {:?}", done.stats),
    )?;
    Ok(())
}

fn closed_stdout_ends_the_trace_quietly() -> TestResult {
    let mut tracer = Tracer::spawn(&[], Sink::Raw)?;
    let stdout = tracer.raw_stdout.take().ok_or("no stdout pipe")?;
    let mut reader = BufReader::new(stdout);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    check_eq(&header, &"   PID   PPID ARGS\n".to_string(), "first line")?;
    drop(reader);

    // Execs until the tracer notices that nobody reads.
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while tracer.is_running()? && Instant::now() < deadline {
        run_ok(&mut Command::new("/bin/true"))?;
        thread::sleep(Duration::from_millis(20));
    }
    ensure(
        !tracer.is_running()?,
        "the tracer kept running after its stdout was closed",
    )?;
    let done = tracer.wait_exit()?;
    check_eq(
        &done.status.code(),
        &Some(0),
        "exit status after stdout closed",
    )?;
    for line in &done.stderr {
        ensure(
            line == READY_LINE || parse_stats(line).is_some(),
            format!("unexpected stderr after stdout closed: {:?}", done.stderr),
        )?;
    }
    Ok(())
}

fn two_tracers_both_see_the_same_exec() -> TestResult {
    let first = Tracer::start(&["--json"])?;
    let second = Tracer::start(&["--json"])?;

    let (pid, _) = run_ok(Command::new("/bin/echo").arg(unique("two")))?;
    let a = first.wait_event("the echo, first tracer", pid, is_exec)?;
    let b = second.wait_event("the echo, second tracer", pid, is_exec)?;
    for key in [
        "pid",
        "ppid",
        "uid",
        "comm",
        "filename",
        "argv",
        "argv_size",
        "flags",
        "retval",
    ] {
        check_eq(&a[key], &b[key], key)?;
    }

    first.stop()?;
    second.stop()?;
    Ok(())
}

fn summary_counts_execs_per_command_on_stderr() -> TestResult {
    let dir = TempDir::new()?;
    let name = dir.short_name();
    let link = dir.symlink("/bin/true", &name)?;
    let tracer = Tracer::start(&["--json", "--summary", &format!("^{name}$")])?;

    let mut pids = Vec::new();
    for _ in 0..3 {
        pids.push(run_ok(&mut Command::new(&link))?.0);
    }
    for pid in &pids {
        tracer.wait_event("an exec of the link", *pid, is_exec)?;
    }
    let done = tracer.interrupt()?;

    let row = done
        .stderr
        .iter()
        .find(|l| l.starts_with(&format!("| {name} ")))
        .ok_or_else(|| {
            format!(
                "no summary row for {name}; stderr:\n{}",
                done.stderr.join("\n")
            )
        })?;
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    check_eq(
        &cells[..4],
        &["", name.as_str(), "3", "0"][..],
        "summary row: command, execs, failed",
    )?;
    let header = done.stderr.iter().find(|l| l.contains("COMMAND")).cloned();
    let header: Option<Vec<String>> =
        header.map(|h| h.split('|').map(|c| c.trim().to_string()).collect());
    check_eq(
        &header,
        &Some(
            [
                "",
                "COMMAND",
                "EXECS",
                "FAILED",
                "FIRST SEEN",
                "LAST SEEN",
                "",
            ]
            .map(String::from)
            .to_vec(),
        ),
        "summary header",
    )?;
    ensure(
        done.stderr.last().and_then(|l| parse_stats(l)).is_some(),
        format!("the stats line should end stderr: {:?}", done.stderr),
    )
}

fn lost_events_are_reported_in_json_on_stderr_and_in_stats() -> TestResult {
    // The smallest ring buffer holds one exec record of a 3000-byte argument: a burst of
    // them overflows it.
    let tracer = Tracer::start(&["--json", "--buffer-size", "4096"])?;

    let arg = "l".repeat(3000);
    let mut children = Vec::new();
    for _ in 0..200 {
        let child = Command::new("/bin/true")
            .arg(&arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        children.push(child);
    }
    for mut child in children {
        child.wait()?;
    }
    // The tracer reads the lost count twice a second.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while !tracer.all_events()?.iter().any(|e| e["type"] == "lost") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }

    let done = tracer.interrupt()?;
    let mut counted = 0;
    for line in &done.stdout {
        let ev = parse_json(line)?;
        if ev["type"] != "lost" {
            continue;
        }
        let count = ev["count"]
            .as_u64()
            .ok_or_else(|| format!("lost line without count: {line}"))?;
        ensure(count > 0, format!("lost line with count 0: {line}"))?;
        ensure(
            line.starts_with(r#"{"type":"lost","ktime_ns":"#)
                && line.ends_with(&format!(r#","count":{count}}}"#)),
            format!("lost line format: {line}"),
        )?;
        counted += count;
    }
    let stats = done
        .stats
        .as_ref()
        .ok_or_else(|| format!("no stats line: {:?}", done.stderr))?;
    ensure(
        stats.lost > 0,
        format!("200 execs of 3000-byte args into a 4096-byte ring buffer lost nothing: {stats:?}"),
    )?;
    check_eq(
        &counted,
        &stats.lost,
        "sum of JSON lost counts vs lost in the stats line",
    )?;
    let warned = done
        .stderr
        .iter()
        .any(|l| l.contains("events lost") && l.contains("--buffer-size"));
    ensure(
        warned,
        format!("no warning about lost events on stderr: {:?}", done.stderr),
    )
}

// ---------------------------------------------------------------------------------------
// Running the tracer.
// ---------------------------------------------------------------------------------------

/// Lines read from one pipe, in order, without their `\n`.
fn every_byte_from_1_to_255_is_exact_in_json_and_escaped_on_one_text_line() -> TestResult {
    let text = Tracer::start(&[])?;
    let json_tracer = Tracer::start(&["--json"])?;

    let every: Vec<u8> = (1..=255).collect();
    let (pid, _) = run_ok(Command::new("/bin/echo").arg(OsStr::from_bytes(&every)))?;

    let ev = json_tracer.wait_event("the echo of every byte", pid, is_exec)?;
    let hex = ev["argv_hex"][1].as_str().ok_or("no argv_hex[1]")?;
    check_eq(&unhex(hex), &Some(every.clone()), "argv_hex[1] decoded")?;
    check_eq(&ev["argv_hex"][0], &json!(null), "argv_hex[0]")?;

    let line = text.wait_line("the echo of every byte", pid)?;
    let args = line
        .splitn(3, char::is_whitespace)
        .last()
        .unwrap_or_default();
    let args = line
        .trim_start()
        .split_once(' ')
        .and_then(|(_, rest)| rest.trim_start().split_once(' '))
        .map_or(args, |(_, rest)| rest);
    let mut want = String::from("/bin/echo ");
    for &b in &every {
        match b {
            b'\n' => want.push_str("\\n"),
            b'\t' => want.push_str("\\t"),
            b'\r' => want.push_str("\\r"),
            b'\\' => want.push_str("\\\\"),
            0x20..=0x7e => want.push(char::from(b)),
            _ => want.push_str(&format!("\\x{b:02x}")),
        }
    }
    check_eq(args, want.as_str(), "escaped text args")?;

    text.stop()?;
    json_tracer.stop()?;
    Ok(())
}

/// In a private mount namespace without tracefs, the tracer mounts it itself.
fn unmounted_tracefs_is_mounted_by_the_tracer() -> TestResult {
    let script = format!(
        "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug/tracing \
         2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; \
         if [ -e /sys/kernel/tracing/events ]; then echo still-mounted; exit 9; fi; \
         exec {TRACER} -d 0.5"
    );
    let out = run_to_end(Command::new("unshare").args(["--mount", "sh", "-c", &script]))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.success(),
        format!("tracer without tracefs: {}, stderr:\n{stderr}", out.status),
    )?;
    let lines: Vec<&str> = stderr.lines().collect();
    ensure(
        lines.len() == 2 && lines[0] == READY_LINE && parse_stats(lines[1]).is_some(),
        format!("stderr should be the ready and stats lines:\n{stderr}"),
    )
}

fn missing_btf_file_is_one_line_naming_it() -> TestResult {
    let out = run_to_end(Command::new(TRACER).args(["--btf", "/nonexistent/vmlinux.btf"]))?;
    one_line_error("--btf missing file", &out, &["/nonexistent/vmlinux.btf"])?;
    let out = run_to_end(Command::new(TRACER).args(["--btf", "/etc/hostname"]))?;
    one_line_error("--btf not a BTF file", &out, &["/etc/hostname"])
}

/// `seq 20000 | xargs -P 4 -n 1 /bin/true NONCE`, traced with default settings: every exec
/// appears, and nothing is lost.
fn exec_storm_of_20000_is_reported_in_full_with_nothing_lost() -> TestResult {
    const COUNT: usize = 20000;
    let tracer = Tracer::start(&[])?;
    let nonce = unique("storm");
    let script = format!("seq {COUNT} | xargs -P 4 -I{{}} /bin/true {nonce} {{}}");
    run_ok(Command::new("sh").args(["-c", &script]))?;
    let sentinel = sentinel()?;
    tracer.wait_line_within(
        "the sentinel after the storm",
        sentinel,
        Duration::from_secs(60),
    )?;
    let done = tracer.stop()?;

    let mut seen = vec![false; COUNT + 1];
    let prefix = format!("/bin/true {nonce} ");
    for line in &done.stdout {
        // PID and PPID columns, then the args.
        let mut columns = line.split_whitespace();
        let (_, _) = (columns.next(), columns.next());
        let args: Vec<&str> = columns.collect();
        let args = args.join(" ");
        let Some(n) = args.strip_prefix(&prefix) else {
            continue;
        };
        let n: usize = n.parse().map_err(|_| format!("bad storm line {line:?}"))?;
        ensure(
            (1..=COUNT).contains(&n),
            format!("storm line out of range: {line:?}"),
        )?;
        ensure(!seen[n], format!("exec {n} reported twice"))?;
        seen[n] = true;
    }
    let missing: Vec<usize> = (1..=COUNT).filter(|&n| !seen[n]).collect();
    ensure(
        missing.is_empty(),
        format!(
            "{} of {COUNT} execs missing, e.g. {:?}; stats {:?}",
            missing.len(),
            &missing[..missing.len().min(10)],
            done.stats
        ),
    )
}

fn sigint_during_an_exec_storm_detaches_cleanly() -> TestResult {
    let tracer = Tracer::start(&["--json"])?;
    let nonce = unique("interrupted");
    let mut storm = Command::new("sh")
        .args([
            "-c",
            &format!("seq 3000 | xargs -P 4 -I{{}} /bin/true {nonce} {{}}"),
        ])
        .stdout(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10)
        && !tracer.stdout.snapshot().iter().any(|l| l.contains(&nonce))
    {
        thread::sleep(Duration::from_millis(10));
    }
    let done = tracer.stop()?;
    storm.wait()?;
    ensure(
        done.stdout.iter().any(|l| l.contains(&nonce)),
        "no storm exec was seen before SIGINT",
    )
}

/// The pids a `shim` workload printed: (shim, spawning thread, launcher, daemon).
fn shim_pids(lines: &[String]) -> Result<(u32, u32, u32, u32), Failed> {
    Ok((
        field(lines, "shim=")?,
        field(lines, "tid=")?,
        field(lines, "launcher=")?,
        field(lines, "daemon=")?,
    ))
}

fn chain_pids(ev: &Value) -> Vec<u64> {
    ev["chain"]
        .as_array()
        .map(|links| links.iter().filter_map(|l| l["pid"].as_u64()).collect())
        .unwrap_or_default()
}

fn shim_daemon_is_forked_by_the_launcher_process_and_adopted_by_the_subreaper() -> TestResult {
    let tracer = Tracer::start(&["--json", "-c"])?;
    let (_, out) = run_ok(workload("shim").arg("after"))?;
    let (shim, tid, launcher, daemon) = shim_pids(&stdout_lines(&out))?;
    ensure(tid != shim, "the spawning thread is the shim's main thread")?;

    let exec = tracer.wait_event("the daemon's exec", daemon, |ev| {
        ev["type"] == "exec" && ev["argv"] == json!(["echo", "daemon-after"])
    })?;
    let fork_l = tracer.wait_event("the launcher's fork", launcher, |ev| ev["type"] == "fork")?;
    check_eq(
        &fork_l["ppid"],
        &json!(shim),
        "launcher's parent (a process, not the thread)",
    )?;
    check_eq(&fork_l["caller_pid"], &json!(shim), "launcher's caller_pid")?;
    check_eq(&fork_l["caller_tid"], &json!(tid), "launcher's caller_tid")?;
    let fork_d = tracer.wait_event("the daemon's fork", daemon, |ev| ev["type"] == "fork")?;
    check_eq(&fork_d["ppid"], &json!(launcher), "daemon's fork parent")?;
    tracer.wait_event("the launcher's exit", launcher, |ev| ev["type"] == "exit")?;
    let reparent = tracer.wait_event("the daemon's reparent", daemon, |ev| {
        ev["type"] == "reparent"
    })?;
    check_eq(&reparent["old_ppid"], &json!(launcher), "reparent old_ppid")?;
    check_eq(&reparent["ppid"], &json!(shim), "reparent new ppid")?;

    check_eq(&exec["ppid"], &json!(shim), "daemon's ppid at exec")?;
    let pids = chain_pids(&exec);
    check_eq(
        &pids.get(..4),
        &Some(&[daemon, launcher, shim, test_pid()].map(u64::from)[..]),
        "daemon's chain",
    )?;
    ensure(
        exec["chain"][1]["exited_ns"].is_u64(),
        format!(
            "the launcher link is not marked exited: {}",
            exec["chain"][1]
        ),
    )?;
    check_eq(
        &exec["chain"][0]["adopted_by"],
        &json!(shim),
        "daemon link adopted_by",
    )?;

    // Order: the fork that made a process comes before its exec.
    let all = tracer.all_events()?;
    let at = |pred: &dyn Fn(&Value) -> bool| all.iter().position(pred);
    let fork_at = at(&|e| e["type"] == "fork" && e["pid"] == daemon);
    let exec_at = at(&|e| e["type"] == "exec" && e["pid"] == daemon);
    ensure(
        fork_at < exec_at,
        format!("fork at {fork_at:?}, exec at {exec_at:?}"),
    )?;
    // The launcher's exit comes before the adoption it caused.
    let exit_at = at(&|e| e["type"] == "exit" && e["pid"] == launcher);
    let reparent_at = at(&|e| e["type"] == "reparent" && e["pid"] == daemon);
    ensure(
        exit_at.is_some() && exit_at < reparent_at,
        format!("launcher exit at {exit_at:?}, reparent at {reparent_at:?}"),
    )?;
    tracer.stop()?;
    Ok(())
}

fn daemon_that_execs_before_its_launcher_exits_is_adopted_after() -> TestResult {
    let tracer = Tracer::start(&["--json", "-c"])?;
    let (_, out) = run_ok(workload("shim").arg("before"))?;
    let (shim, _, launcher, daemon) = shim_pids(&stdout_lines(&out))?;

    let last = tracer.wait_event("the daemon's second exec", daemon, |ev| {
        ev["type"] == "exec" && ev["argv"] == json!(["/bin/echo", "daemon-before"])
    })?;
    let mine: Vec<Value> = tracer
        .every_event_of(daemon)?
        .into_iter()
        .filter(|e| e["type"] != "fork")
        .collect();
    let kinds: Vec<(String, Value)> = mine
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("?").to_string(),
                e["ppid"].clone(),
            )
        })
        .collect();
    check_eq(
        &kinds[..kinds.len().min(4)],
        &[
            ("exec".to_string(), json!(launcher)),
            ("exec".to_string(), json!(launcher)),
            ("reparent".to_string(), json!(shim)),
            ("exec".to_string(), json!(shim)),
        ][..],
        "the daemon's events (its own start, sh, the adoption, echo) and ppids",
    )?;
    check_eq(
        &chain_pids(&last).get(..4),
        &Some(&[daemon, launcher, shim, test_pid()].map(u64::from)[..]),
        "chain of the exec after the adoption",
    )?;
    tracer.stop()?;
    Ok(())
}

/// `sh -c '(sh -c "sleep 0.5; exec /bin/echo W" &); exit'`: the outer shell A forks a
/// subshell B, B forks C in the background and exits, A exits; C's exec half a second later
/// has the chain C <- B (exited) <- A (exited) <- this test.
fn grandchild_whose_ancestors_all_exited_keeps_its_chain() -> TestResult {
    let tracer = Tracer::start(&["--json", "-c"])?;
    let word = unique("grandchild");
    let script = format!("(sh -c 'sleep 0.5; exec /bin/echo {word}' &); exit");
    let (outer, _) = run_ok(Command::new("/bin/sh").args(["-c", &script]))?;
    let exec = wait_exec_with_arg(&tracer, &word, Duration::from_secs(10))?;
    let chain = exec["chain"].as_array().ok_or("no chain")?;
    let pids: Vec<u64> = chain.iter().filter_map(|l| l["pid"].as_u64()).collect();
    ensure(pids.len() >= 4, format!("chain too short: {}", exec.raw))?;
    check_eq(
        &pids[0],
        &exec["pid"].as_u64().unwrap_or(0),
        "chain[0] is the process",
    )?;
    check_eq(&pids[2], &u64::from(outer), "chain[2] is the outer shell")?;
    check_eq(&pids[3], &u64::from(test_pid()), "chain[3] is this test")?;
    for (i, what) in [(1, "the subshell"), (2, "the outer shell")] {
        ensure(
            chain[i]["exited_ns"].is_u64(),
            format!("{what} is not marked exited: {}", chain[i]),
        )?;
    }
    tracer.stop()?;
    Ok(())
}

/// The exec event (any pid) whose argv holds `arg`.
fn wait_exec_with_arg(tracer: &Tracer, arg: &str, timeout: Duration) -> Result<Json, Failed> {
    let deadline = Instant::now() + timeout;
    loop {
        for line in tracer.stdout.snapshot() {
            let value = parse_json(&line)?;
            if value["type"] == "exec"
                && value["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == arg))
            {
                return Ok(Json { raw: line, value });
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no exec with argument {arg:?} within {timeout:?}").into());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A subshell forks and never execs; its child does. The subshell is a link of the child's
/// chain, named by the argv it inherited, and a `no exec` line of the tree.
fn fork_only_process_appears_in_the_chain_and_the_tree() -> TestResult {
    let tracer = Tracer::start(&["--json", "-c", "--tree"])?;
    let word = unique("forkonly");
    let script = format!("( /bin/echo {word}; : ); :");
    let (outer, _) = run_ok(Command::new("/bin/sh").args(["-c", &script]))?;
    let exec = wait_exec_with_arg(&tracer, &word, EVENT_TIMEOUT)?;
    let chain = exec["chain"].as_array().ok_or("no chain")?;
    let subshell = chain.get(1).ok_or("no subshell link")?;
    check_eq(
        &chain.get(2).and_then(|l| l["pid"].as_u64()),
        &Some(u64::from(outer)),
        "chain[2]",
    )?;
    check_eq(
        &subshell["argv"],
        &json!(["/bin/sh", "-c", script]),
        "the subshell's argv",
    )?;
    let sub = subshell["pid"].as_u64().ok_or("no subshell pid")?;

    let done = tracer.interrupt()?;
    // In JSON mode the tree goes to stderr.
    let line = done
        .stderr
        .iter()
        .find(|l| l.contains(&format!(" {sub} sh (")))
        .ok_or_else(|| {
            format!(
                "no tree line for the subshell {sub}:\n{}",
                done.stderr.join("\n")
            )
        })?;
    ensure(
        line.contains("no exec"),
        format!("subshell tree line: {line}"),
    )
}

/// A new process on a recycled PID (forced with `ns_last_pid`) starts with no history: its
/// chain and its tree line know nothing of the process that had the PID before.
fn recycled_pid_shows_no_stale_history() -> TestResult {
    let tracer = Tracer::start(&["--json", "-c", "--tree"])?;
    let first_word = unique("first");
    let second_word = unique("second");
    let (pid, _) = run_ok(Command::new("/bin/echo").arg(&first_word))?;
    tracer.wait_event("the first owner's exec", pid, is_exec)?;

    let mut reused = None;
    for _ in 0..20 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())?;
        let (again, _) = run_ok(Command::new("/bin/echo").arg(&second_word))?;
        if again == pid {
            reused = Some(again);
            break;
        }
    }
    let pid = reused.ok_or("could not get the same pid again through ns_last_pid")?;
    let second = tracer.wait_event("the second owner's exec", pid, |ev| {
        is_exec(ev) && ev["argv"][1] == second_word.as_str()
    })?;
    check_eq(
        &second["chain"][0]["argv"],
        &json!(["/bin/echo", second_word]),
        "the second owner's own link",
    )?;
    check_eq(&second["chain"][1]["pid"], &json!(test_pid()), "its parent")?;

    let done = tracer.interrupt()?;
    let lines: Vec<&String> = done
        .stderr
        .iter()
        .filter(|l| l.contains(&format!(" {pid} /bin/echo")))
        .collect();
    check_eq(&lines.len(), &2, "tree lines of the pid (one per owner)")?;
    ensure(
        lines
            .iter()
            .all(|l| !(l.contains(&first_word) && l.contains(&second_word))),
        format!("one tree line holds both owners' execs: {lines:?}"),
    )
}

/// Starts a `shim` workload that waits for a line on stdin before it spawns anything.
fn waiting_shim(mode: &str) -> Result<Child, Failed> {
    Ok(workload("shim")
        .args([mode, "wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

fn go(shim: &mut Child) -> Result<Vec<String>, Failed> {
    shim.stdin.take().ok_or("no stdin")?.write_all(b"go\n")?;
    let mut out = String::new();
    shim.stdout
        .take()
        .ok_or("no stdout")?
        .read_to_string(&mut out)?;
    shim.wait()?;
    Ok(out.lines().map(str::to_string).collect())
}

fn subtree_filter_keeps_a_daemon_adopted_outside_it() -> TestResult {
    let mut shim = waiting_shim("orphan")?;
    let root = shim.id();
    let tracer = Tracer::start(&["--json", "-p", &root.to_string()])?;
    let (outsider, _) = run_ok(Command::new("/bin/echo").arg(unique("outside")))?;
    let lines = go(&mut shim)?;
    let (_, _, launcher, daemon) = shim_pids(&lines)?;

    let exec = tracer.wait_event("the adopted daemon's exec", daemon, |ev| {
        ev["type"] == "exec" && ev["argv"] == json!(["echo", "daemon-after"])
    })?;
    let reparent = tracer.wait_event("the daemon's reparent", daemon, |ev| {
        ev["type"] == "reparent"
    })?;
    check_eq(&reparent["old_ppid"], &json!(launcher), "old parent")?;
    check_eq(
        &exec["ppid"],
        &reparent["ppid"],
        "the exec's ppid is the new parent",
    )?;
    ensure(
        reparent["ppid"] != json!(root) && reparent["ppid"] != json!(launcher),
        format!(
            "the daemon should be adopted outside the subtree: {}",
            reparent.raw
        ),
    )?;
    check_eq(
        &tracer.every_event_of(outsider)?,
        &vec![],
        "events of a process outside the subtree",
    )?;
    tracer.stop()?;
    Ok(())
}

fn tree_of_the_shim_workload_is_exact_once_pids_and_times_are_named() -> TestResult {
    let mut shim = waiting_shim("after")?;
    let root = shim.id();
    let tracer = Tracer::start(&["--tree", "-r", "-p", &root.to_string()])?;
    let lines = go(&mut shim)?;
    let (_, _, launcher, daemon) = shim_pids(&lines)?;
    tracer.wait_line_where("the daemon's exec", daemon, |l| {
        l.ends_with("echo daemon-after")
    })?;
    // Not `stop`: its check that every stdout line is an exec does not hold with a tree.
    let done = tracer.interrupt()?;

    let names = [(root, "S"), (launcher, "L"), (daemon, "D")];
    let exe = regex::Regex::new(r"\S*/trace-[0-9a-f]+").map_err(|e| e.to_string())?;
    let pid = regex::Regex::new(r"\b\d+\b").map_err(|e| e.to_string())?;
    let secs = regex::Regex::new(r"\b\d+\.\d+s\b").map_err(|e| e.to_string())?;
    let normal = |line: &str| -> String {
        let line = exe.replace_all(line, "EXE");
        let line = secs.replace_all(&line, "T");
        pid.replace_all(&line, |c: &regex::Captures<'_>| {
            names
                .iter()
                .find(|(p, _)| p.to_string() == c[0])
                .map_or_else(|| c[0].to_string(), |(_, name)| (*name).to_string())
        })
        .into_owned()
    };
    let tree: Vec<String> = done
        .stdout
        .iter()
        .skip_while(|l| !l.starts_with(&format!("{root} ")))
        .map(|l| normal(l))
        .collect();
    check_eq(
        &tree,
        &vec![
            "S EXE --workload shim after wait (exit 0)".to_string(),
            "└─ L EXE --workload launcher after (exit 0, T)".to_string(),
            "   └─ D EXE --workload daemon after → echo daemon-after (exit 0, T, adopted by S)"
                .to_string(),
        ],
        "the tree, pids and times named",
    )
}

/// 5,000 subshells that fork and exit without exec, with an exec every 100: JSON shows
/// each fork and exit, the text tracer every exec, and neither loses anything.
fn fork_storm_reports_every_fork_exit_and_exec_with_nothing_lost() -> TestResult {
    let text = Tracer::start(&[])?;
    let json_tracer = Tracer::start(&["--json"])?;
    let nonce = unique("forks");
    let script = format!(
        "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); (:); \
         if [ $((i % 100)) -eq 0 ]; then /bin/true {nonce} $i; fi; done"
    );
    let (sh, _) = run_ok(Command::new("/bin/sh").args(["-c", &script]))?;
    let sentinel = sentinel()?;
    text.wait_line_within("the sentinel", sentinel, Duration::from_secs(60))?;
    json_tracer.wait_event_within("the sentinel", sentinel, is_exec, Duration::from_secs(60))?;
    let text_done = text.stop()?;
    let json_done = json_tracer.stop()?;

    let execs = text_done
        .stdout
        .iter()
        .filter(|l| {
            let args: Vec<&str> = l.split_whitespace().skip(2).take(2).collect();
            args == ["/bin/true", nonce.as_str()]
        })
        .count();
    check_eq(&execs, &50, "execs of /bin/true seen in text")?;
    let events: Vec<Value> = json_done
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["ppid"] == sh)
        .collect();
    let forks = events.iter().filter(|e| e["type"] == "fork").count();
    let exits = events.iter().filter(|e| e["type"] == "exit").count();
    // Each iteration forks a subshell; each 100th forks /bin/true too.
    check_eq(&forks, &5050, "forks by the shell")?;
    check_eq(&exits, &5050, "exits of the shell's children")?;

    // Everything was written in kernel-time order.
    let times: Vec<u64> = json_done
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["ktime_ns"].as_u64())
        .collect();
    let backwards = times.windows(2).filter(|w| w[1] < w[0]).count();
    check_eq(&backwards, &0, "events earlier than the one before them")
}

/// With a 4 KiB ring buffer and a burst of execs, records are lost; the count tracer reports
/// (the JSON `lost` objects, and the stats line) is exactly the kernel's per-CPU counter.
/// The counter is pinned with bpftool while tracer runs, and read once tracer has detached
/// and exited, so that it is final whatever else the host is doing.
fn lost_count_equals_the_kernels_own_count_exactly() -> TestResult {
    ensure(
        run_to_end(Command::new("bpftool").arg("version"))?
            .status
            .success(),
        "bpftool is needed for this test (Debian package bpftool)",
    )?;
    let bpffs = "/sys/fs/bpf";
    if !is_bpffs(bpffs) {
        run_ok(Command::new("mount").args(["-t", "bpf", "bpf", bpffs]))?;
    }
    let pin = PathBuf::from(bpffs).join(unique("tracer-test-lost"));
    let tracer = Tracer::start(&["--json", "--buffer-size", "4096", "-v"])?;
    let id = tracer
        .stderr
        .snapshot()
        .iter()
        .find_map(|l| l.strip_prefix("[DEBUG] map LOST: id ").map(str::to_string))
        .ok_or("no LOST map id on stderr at -v")?;
    run_ok(
        Command::new("bpftool")
            .args(["map", "pin", "id", &id])
            .arg(&pin),
    )?;
    let unpin = Unpin(pin.clone());

    // A burst of execs whose 3000-byte argument leaves room for one record at a time.
    let arg = "l".repeat(3000);
    let mut children = Vec::new();
    for _ in 0..200 {
        children.push(
            Command::new("/bin/true")
                .arg(&arg)
                .stdout(Stdio::null())
                .spawn()?,
        );
    }
    for mut child in children {
        child.wait()?;
    }

    let done = tracer.interrupt()?;
    let dump = run_ok(
        Command::new("bpftool")
            .args(["-j", "map", "dump", "pinned"])
            .arg(&pin),
    )?
    .1;
    drop(unpin);
    let kernel = per_cpu_sum(&dump.stdout)?;
    ensure(
        kernel > 0,
        "a 4 KiB ring buffer lost nothing: the test proves nothing",
    )?;

    let reported: u64 = done
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "lost")
        .filter_map(|e| e["count"].as_u64())
        .sum();
    let stats = done.stats.as_ref().ok_or("no stats line")?;
    check_eq(&reported, &kernel, "lost in JSON vs the kernel's counter")?;
    check_eq(
        &stats.lost,
        &kernel,
        "lost in the stats line vs the kernel's counter",
    )
}

/// Removes a bpffs pin when dropped.
struct Unpin(PathBuf);

impl Drop for Unpin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_bpffs(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split(' ').nth(1) == Some(path) && l.contains(" bpf "))
    })
}

/// The sum over CPUs of a `bpftool -j map dump` of a one-entry per-CPU array of u64.
fn per_cpu_sum(dump: &[u8]) -> Result<u64, Failed> {
    let dump: Value = serde_json::from_slice(dump).map_err(|e| e.to_string())?;
    let values = dump[0]["values"]
        .as_array()
        .ok_or("no per-CPU values in the bpftool dump")?;
    let mut sum = 0;
    for value in values {
        let bytes = value["value"]
            .as_array()
            .ok_or("a per-CPU value is not bytes")?;
        let mut n = 0u64;
        for byte in bytes.iter().rev() {
            let hex = byte
                .as_str()
                .and_then(|h| h.strip_prefix("0x"))
                .ok_or("not a hex byte")?;
            n = n << 8 | u64::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
        }
        sum += n;
    }
    Ok(sum)
}

#[derive(Default)]
struct Stream {
    lines: Mutex<Vec<String>>,
    /// What was wrong with the stream: a line that is not UTF-8, a last line without `\n`.
    problems: Mutex<Vec<String>>,
}

impl Stream {
    fn snapshot(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn read_lines(pipe: impl Read + Send + 'static, stream: Arc<Stream>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line.pop() != Some(b'\n') {
                let text = String::from_utf8_lossy(&line).into_owned();
                push(
                    &stream.problems,
                    format!("last line has no newline: {text:?}"),
                );
            }
            let text = match String::from_utf8(line) {
                Ok(text) => text,
                Err(e) => {
                    let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    push(&stream.problems, format!("line is not UTF-8: {text:?}"));
                    text
                }
            };
            push(&stream.lines, text);
        }
    })
}

fn push(list: &Mutex<Vec<String>>, item: String) {
    if let Ok(mut list) = list.lock() {
        list.push(item);
    }
}

/// Where the tracer's stdout goes.
enum Sink {
    /// Read line by line into [`Tracer::stdout`].
    Collect,
    /// Into this program's stdin; the program's stdout is read into [`Tracer::stdout`].
    Into(Command),
    /// Left to the test, in [`Tracer::raw_stdout`].
    Raw,
}

/// A running tracer. Dropping it kills the tracer (and its filter), for tests that fail
/// half-way.
struct Tracer {
    child: Child,
    /// The program the output is piped into, with [`Sink::Into`].
    filter: Option<Child>,
    raw_stdout: Option<ChildStdout>,
    stdout: Arc<Stream>,
    stderr: Arc<Stream>,
    readers: Vec<JoinHandle<()>>,
    /// Whether [`Tracer::stdout`] is the tracer's own output ([`Sink::Collect`]).
    collected: bool,
    json: bool,
    time_column: bool,
}

/// A tracer that has exited.
struct Finished {
    status: ExitStatus,
    filter_status: Option<ExitStatus>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_problems: Vec<String>,
    stats: Option<Stats>,
    /// Whether `stdout` is the tracer's own, unfiltered output.
    unfiltered: bool,
    json: bool,
}

/// The stats line: `tracer: N execs shown, N events received, N lost`.
#[derive(Debug)]
struct Stats {
    shown: u64,
    received: u64,
    lost: u64,
}

/// A JSON event with the line it came from.
struct Json {
    raw: String,
    value: Value,
}

impl std::ops::Deref for Json {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.value
    }
}

impl Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Tracer {
    /// Starts a tracer with its output collected, and waits until it traces.
    fn start(args: &[&str]) -> Result<Self, Failed> {
        Self::spawn(args, Sink::Collect)
    }

    fn spawn(args: &[&str], sink: Sink) -> Result<Self, Failed> {
        let mut child = Command::new(TRACER)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {TRACER}: {e}"))?;
        let stdout = Arc::new(Stream::default());
        let stderr = Arc::new(Stream::default());
        let mut readers = vec![read_lines(
            child.stderr.take().ok_or("no stderr pipe")?,
            stderr.clone(),
        )];
        let pipe = child.stdout.take().ok_or("no stdout pipe")?;

        let mut raw_stdout = None;
        let mut filter = None;
        let collected = matches!(sink, Sink::Collect);
        match sink {
            Sink::Collect => readers.push(read_lines(pipe, stdout.clone())),
            Sink::Raw => raw_stdout = Some(pipe),
            Sink::Into(mut program) => {
                let mut started = program
                    .stdin(pipe)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("cannot start {program:?}: {e}"))?;
                let out = started.stdout.take().ok_or("no filter stdout pipe")?;
                readers.push(read_lines(out, stdout.clone()));
                filter = Some(started);
            }
        }

        let mut tracer = Self {
            child,
            filter,
            raw_stdout,
            stdout,
            stderr,
            readers,
            collected,
            json: args.iter().any(|a| *a == "--json" || *a == "-j"),
            time_column: args.contains(&"-t"),
        };
        tracer.wait_ready(args)?;
        Ok(tracer)
    }

    fn wait_ready(&mut self, args: &[&str]) -> TestResult {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.stderr.snapshot().iter().any(|l| l == READY_LINE) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                // Let the reader take what the tracer wrote before it exited.
                thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "tracer {args:?} exited with {status} before tracing; stderr:\n{}",
                    self.stderr.snapshot().join("\n")
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "tracer {args:?} did not print {READY_LINE:?} within {READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr.snapshot().join("\n")
                )
                .into());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn is_running(&mut self) -> Result<bool, Failed> {
        Ok(self.child.try_wait()?.is_none())
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or(0);
        // SAFETY: kill has no memory effects; the pid is our child's, which has not been
        // waited for, so it cannot have been reused.
        unsafe { libc::kill(pid, signal) };
    }

    /// The first JSON event of `pid` for which `pred` holds, within [`EVENT_TIMEOUT`].
    fn wait_event(
        &self,
        what: &str,
        pid: u32,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Json, Failed> {
        self.wait_event_within(what, pid, pred, EVENT_TIMEOUT)
    }

    fn wait_event_within(
        &self,
        what: &str,
        pid: u32,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Json, Failed> {
        let deadline = Instant::now() + timeout;
        let mut checked = 0;
        loop {
            let lines = self.stdout.snapshot();
            for line in &lines[checked..] {
                let value = parse_json(line)?;
                if value["pid"] == pid && pred(&value) {
                    return Ok(Json {
                        raw: line.clone(),
                        value,
                    });
                }
            }
            checked = lines.len();
            if Instant::now() > deadline {
                return Err(self.not_seen(what, pid, timeout));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every JSON event so far, in order.
    fn all_events(&self) -> Result<Vec<Value>, Failed> {
        self.stdout
            .snapshot()
            .iter()
            .map(|l| parse_json(l))
            .collect()
    }

    /// Every JSON event of `pid` so far, in order.
    /// The exec events (`exec` and `exec_failed`) of `pid`.
    fn events_of(&self, pid: u32) -> Result<Vec<Value>, Failed> {
        Ok(self
            .every_event_of(pid)?
            .into_iter()
            .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("exec")))
            .collect())
    }

    /// Every event of `pid`: execs, forks, exits, reparents.
    fn every_event_of(&self, pid: u32) -> Result<Vec<Value>, Failed> {
        Ok(self
            .all_events()?
            .into_iter()
            .filter(|e| e["pid"] == pid)
            .collect())
    }

    /// The first text line of `pid`, within [`EVENT_TIMEOUT`].
    fn wait_line(&self, what: &str, pid: u32) -> Result<String, Failed> {
        self.wait_line_where(what, pid, |_| true)
    }

    fn wait_line_where(
        &self,
        what: &str,
        pid: u32,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, Failed> {
        self.wait_line_where_within(what, pid, pred, EVENT_TIMEOUT)
    }

    fn wait_line_within(&self, what: &str, pid: u32, timeout: Duration) -> Result<String, Failed> {
        self.wait_line_where_within(what, pid, |_| true, timeout)
    }

    fn wait_line_where_within(
        &self,
        what: &str,
        pid: u32,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, Failed> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines_of(pid).into_iter().find(|l| pred(l)) {
                return Ok(line);
            }
            if Instant::now() > deadline {
                return Err(self.not_seen(what, pid, timeout));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Text lines whose PID column is `pid`.
    fn lines_of(&self, pid: u32) -> Vec<String> {
        let column = usize::from(self.time_column);
        self.stdout
            .snapshot()
            .into_iter()
            .filter(|l| l.split_whitespace().nth(column) == Some(pid.to_string().as_str()))
            .collect()
    }

    fn not_seen(&self, what: &str, pid: u32, timeout: Duration) -> Failed {
        let mine: Vec<String> = if self.json {
            self.stdout
                .snapshot()
                .into_iter()
                .filter(|l| parse_json(l).is_ok_and(|v| v["pid"] == pid))
                .collect()
        } else {
            self.lines_of(pid)
        };
        format!(
            "{what} (pid {pid}) not seen within {timeout:?}; {} lines on stdout, those of pid {pid}:\n{}\ntracer stderr:\n{}",
            self.stdout.snapshot().len(),
            mine.join("\n"),
            self.stderr.snapshot().join("\n")
        )
        .into()
    }

    /// Stops the tracer with SIGINT and checks that it ended cleanly.
    /// Ends the tracer with SIGINT and checks that it exited with status 0, but not, as
    /// [`Self::stop`] does, that stdout holds only execs (a tree, lost events).
    fn interrupt(self) -> Result<Finished, Failed> {
        self.signal(libc::SIGINT);
        let done = self.wait_exit()?;
        check_eq(&done.status.code(), &Some(0), "tracer exit status")?;
        Ok(done)
    }

    fn stop(self) -> Result<Finished, Failed> {
        self.signal(libc::SIGINT);
        let done = self.wait_exit()?;
        done.check_clean("SIGINT")?;
        Ok(done)
    }

    /// Waits for the tracer to exit by itself (or after a signal already sent).
    fn wait_exit(mut self) -> Result<Finished, Failed> {
        let status = wait_timeout(&mut self.child, EXIT_TIMEOUT).map_err(|e| {
            let why = e.message().unwrap_or("no exit");
            let stderr = self.stderr.snapshot().join("\n");
            Failed::from(format!("{why}; tracer stderr:\n{stderr}"))
        })?;
        let filter_status = match &mut self.filter {
            Some(filter) => Some(wait_timeout(filter, EXIT_TIMEOUT)?),
            None => None,
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }

        let stderr = self.stderr.snapshot();
        let stats = stderr.last().and_then(|l| parse_stats(l));
        Ok(Finished {
            status,
            filter_status,
            stdout: self.stdout.snapshot(),
            stdout_problems: self
                .stdout
                .problems
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
            stderr,
            stats,
            unfiltered: self.collected,
            json: self.json,
        })
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(filter) = &mut self.filter
            && let Ok(None) = filter.try_wait()
        {
            let _ = filter.kill();
            let _ = filter.wait();
        }
    }
}

impl Finished {
    /// Status 0, stderr exactly the ready line and the stats line, nothing lost, and as many
    /// execs on stdout as the stats say were shown.
    fn check_clean(&self, how: &str) -> TestResult {
        ensure(
            self.status.code() == Some(0),
            format!(
                "after {how}, the tracer exited with {}; stderr:\n{}",
                self.status,
                self.stderr.join("\n")
            ),
        )?;
        ensure(
            self.stderr.len() == 2 && self.stderr[0] == READY_LINE && self.stats.is_some(),
            format!(
                "after {how}, stderr should be the ready line then the stats line, not:\n{}",
                self.stderr.join("\n")
            ),
        )?;
        ensure(
            self.stdout_problems.is_empty(),
            format!("bad stdout: {:?}", self.stdout_problems),
        )?;
        let Some(stats) = &self.stats else {
            return Ok(());
        };
        check_eq(&stats.lost, &0, "events lost")?;
        ensure(
            stats.received >= stats.shown,
            format!("stats say more execs shown than events received: {stats:?}"),
        )?;
        if !self.unfiltered {
            return Ok(());
        }
        let execs = if self.json {
            self.stdout
                .iter()
                .filter(|l| {
                    l.starts_with(r#"{"type":"exec""#) || l.starts_with(r#"{"type":"exec_failed""#)
                })
                .count()
        } else {
            self.stdout.len().saturating_sub(1)
        };
        check_eq(
            &stats.shown,
            &(execs as u64),
            "execs shown (stats line) vs exec lines on stdout",
        )
    }
}

fn parse_stats(line: &str) -> Option<Stats> {
    let rest = line.strip_prefix("tracer: ")?;
    let (shown, rest) = rest.split_once(" execs shown, ")?;
    let (received, rest) = rest.split_once(" events received, ")?;
    let lost = rest.strip_suffix(" lost")?;
    Some(Stats {
        shown: shown.parse().ok()?,
        received: received.parse().ok()?,
        lost: lost.parse().ok()?,
    })
}

fn parse_json(line: &str) -> Result<Value, Failed> {
    serde_json::from_str(line)
        .map_err(|e| format!("stdout line is not JSON ({e}): {line:?}").into())
}

fn is_exec(ev: &Value) -> bool {
    ev["type"] == "exec"
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<ExitStatus, Failed> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "process {} did not exit within {timeout:?}; killed it",
                child.id()
            )
            .into());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A run of the tracer that must fail at once: non-zero status, one line on stderr, nothing
/// on stdout, no panic; the line mentions each of `mentions`.
fn one_line_error(what: &str, out: &Output, mentions: &[&str]) -> TestResult {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = || format!("{what}: status {}, stderr:\n{stderr}", out.status);
    ensure(out.status.code().is_some_and(|c| c != 0), report())?;
    ensure(
        stderr.lines().count() == 1 && stderr.ends_with('\n'),
        report(),
    )?;
    ensure(
        !stderr.contains("panicked")
            && !stderr.contains("backtrace")
            && !stderr.contains("RUST_BACKTRACE"),
        report(),
    )?;
    ensure(stderr.starts_with("tracer: "), report())?;
    for word in mentions {
        ensure(
            stderr.contains(word),
            format!("{} (should mention {word:?})", report()),
        )?;
    }
    ensure(
        out.stdout.is_empty(),
        format!("{what}: stdout {:?}", String::from_utf8_lossy(&out.stdout)),
    )
}

// ---------------------------------------------------------------------------------------
// Running workloads.
// ---------------------------------------------------------------------------------------

/// This binary as one of the [`workload`] programs.
fn workload(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into()));
    cmd.args(["--workload", name]);
    cmd
}

/// The comm of a workload: the test binary's name, cut to 15 bytes.
fn workload_comm() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    String::from_utf8_lossy(&name[..name.len().min(15)]).into_owned()
}

/// Runs `cmd` to its end and returns its pid and output.
fn run(cmd: &mut Command) -> Result<(u32, Output), Failed> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = child.id();
    Ok((pid, child.wait_with_output()?))
}

/// [`run`], and the command must succeed.
fn run_ok(cmd: &mut Command) -> Result<(u32, Output), Failed> {
    let (pid, out) = run(cmd)?;
    ensure(
        out.status.success(),
        format!(
            "{cmd:?} failed with {}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    Ok((pid, out))
}

/// Runs `cmd` to its end, killing it after [`EXIT_TIMEOUT`].
fn run_to_end(cmd: &mut Command) -> Result<Output, Failed> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut err = child.stderr.take().ok_or("no stderr pipe")?;
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let mut stderr = Vec::new();
    let _ = err.read_to_end(&mut stderr);
    let status = wait_timeout(&mut child, EXIT_TIMEOUT)?;
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr,
    })
}

/// Feeds `input` to `jq args` and returns its status and stdout.
fn pipe_through(args: &[&str], input: &[u8]) -> Result<(ExitStatus, String), Failed> {
    let mut child = Command::new("jq")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start jq: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no jq stdin")?;
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| "jq writer panicked")??;
    Ok((out.status, String::from_utf8(out.stdout)?))
}

/// Runs `/bin/echo sentinel-<unique>` and returns its pid.
fn sentinel() -> Result<u32, Failed> {
    Ok(run_ok(Command::new("/bin/echo").arg(unique("sentinel")))?.0)
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The number after `prefix` on the workload's stdout (`tid=123`, or `child=4 tid=5`).
fn field(lines: &[String], prefix: &str) -> Result<u32, Failed> {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(prefix))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no {prefix}N in the workload's output {lines:?}").into())
}

fn test_pid() -> u32 {
    std::process::id()
}

/// A word no other test and no other run uses.
fn unique(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}-{}-{}",
        test_pid(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory of its own under /tmp, removed on drop.
struct TempDir {
    path: PathBuf,
    id: u32,
}

impl TempDir {
    fn new() -> Result<Self, Failed> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tracer-it-{}-{id}", test_pid()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path, id })
    }

    /// A name that fits in comm (15 bytes) and that nothing else on the host uses.
    fn short_name(&self) -> String {
        format!("lx{}n{}", test_pid(), self.id)
    }

    fn symlink(&self, target: &str, name: &str) -> Result<PathBuf, Failed> {
        let link = self.path.join(name);
        symlink(target, &link)?;
        Ok(link)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// Small checks and clocks.
// ---------------------------------------------------------------------------------------

fn require_root() -> TestResult {
    // SAFETY: geteuid cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    ensure(
        euid == 0,
        format!(
            "these tests load eBPF programs and need root (euid is {euid}): run them with sudo"
        ),
    )
}

fn ensure(ok: bool, message: impl Into<String>) -> TestResult {
    if ok {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn check_eq<T: PartialEq + Debug + ?Sized>(got: &T, want: &T, what: &str) -> TestResult {
    ensure(
        got == want,
        format!("{what}\n  got:  {got:?}\n  want: {want:?}"),
    )
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn wall_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` as nanoseconds since the Unix epoch.
fn rfc3339_ns(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (29, b'Z'),
    ];
    if b.len() != 30 || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i128> {
        let digits = s.get(from..to)?;
        digits
            .bytes()
            .all(|d| d.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let nanos = number(20, 29)?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60 * 1_000_000_000 + second * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// ---------------------------------------------------------------------------------------
// The workloads: run as `trace --workload NAME`.
// ---------------------------------------------------------------------------------------

mod workload {
    use std::{
        ffi::{CStr, c_char},
        io::Write,
        process::{Command, Stdio, exit},
        ptr, thread,
        time::Duration,
    };

    /// Runs workload `name` and exits.
    pub fn run(name: &str) -> ! {
        match name {
            "execveat" => execveat(),
            "fexecve" => fexecve(),
            "thread-exec" => thread_exec(),
            "thread-spawn" => thread_spawn(),
            "fail-exec" => fail_exec(&[c"prog", c"arg1"]),
            "empty-argv" => exec_true(&[]),
            "one-empty-arg" => exec_true(&[c""]),
            "shim" => shim(),
            "launcher" => launcher(),
            "daemon" => daemon(),
            "fail-exec-many" => {
                let args: Vec<_> = (0..200)
                    .map(|i| std::ffi::CString::new(format!("a{i}")).unwrap_or_default())
                    .collect();
                let refs: Vec<&CStr> = args.iter().map(|a| a.as_c_str()).collect();
                fail_exec(&refs)
            }
            _ => {
                eprintln!("unknown workload {name:?}");
                exit(64)
            }
        }
    }

    /// The third argument on, after `--workload NAME`.
    fn arg(i: usize) -> String {
        std::env::args().nth(3 + i).unwrap_or_default()
    }

    /// containerd's shim pattern. This process (S) marks itself a child subreaper (unless
    /// the mode is `orphan`); one of its threads spawns a launcher L, which spawns the daemon
    /// D and exits at once; D is adopted by S (or, for `orphan`, by init or whichever
    /// subreaper is above). With `wait`, S first reads a line from stdin, so that a tracer can
    /// be told to follow it. Prints `shim=S tid=T`; L prints `launcher=L daemon=D`.
    fn shim() -> ! {
        let mode = arg(0);
        if mode != "orphan" {
            // SAFETY: a plain prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
                die("prctl(PR_SET_CHILD_SUBREAPER)");
            }
        }
        if arg(1) == "wait" {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
        let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
        let spawner = thread::spawn(move || {
            // SAFETY: gettid cannot fail.
            let tid = unsafe { libc::gettid() };
            let mut launcher = Command::new(exe)
                .args(["--workload", "launcher", &mode])
                .spawn()
                .unwrap_or_else(|e| {
                    eprintln!("spawn launcher: {e}");
                    exit(70)
                });
            let _ = launcher.wait();
            tid
        });
        let tid = spawner.join().unwrap_or_else(|_| exit(70));
        say(&format!("shim={} tid={tid}", std::process::id()));
        // Reap the adopted daemon.
        // SAFETY: waitpid with a valid status pointer.
        while unsafe { libc::waitpid(-1, ptr::null_mut(), 0) } > 0 {}
        exit(0)
    }

    fn launcher() -> ! {
        let mode = arg(0);
        let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
        let daemon = Command::new(exe)
            .args(["--workload", "daemon", &mode])
            .spawn()
            .unwrap_or_else(|e| {
                eprintln!("spawn daemon: {e}");
                exit(70)
            });
        say(&format!(
            "launcher={} daemon={}",
            std::process::id(),
            daemon.id()
        ));
        if mode == "before" {
            // Long enough for the daemon's first exec to come first.
            thread::sleep(Duration::from_millis(300));
        }
        exit(0)
    }

    fn daemon() -> ! {
        let mode = arg(0);
        let envp = pointers(&[]);
        if mode == "before" {
            let argv = pointers(&[c"sh", c"-c", c"sleep 0.6; exec /bin/echo daemon-before"]);
            // SAFETY: NUL-terminated arrays of valid strings.
            unsafe { libc::execve(c"/bin/sh".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            die("execve /bin/sh");
        }
        // SAFETY: getppid cannot fail.
        let launcher = unsafe { libc::getppid() };
        for _ in 0..5000 {
            // SAFETY: as above.
            if unsafe { libc::getppid() } != launcher {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        let argv = pointers(&[c"echo", c"daemon-after"]);
        // SAFETY: as above.
        unsafe { libc::execve(c"/bin/echo".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        die("execve /bin/echo")
    }

    /// A NULL-terminated array of pointers to `args`, which must outlive it.
    fn pointers(args: &[&CStr]) -> Vec<*const c_char> {
        args.iter()
            .map(|a| a.as_ptr())
            .chain([ptr::null()])
            .collect()
    }

    fn say(line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn die(what: &str) -> ! {
        eprintln!("{what}: {}", std::io::Error::last_os_error());
        exit(70)
    }

    /// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)` of a close-on-exec fd of /bin/echo.
    fn execveat() -> ! {
        // SAFETY: a valid NUL-terminated path.
        let fd = unsafe { libc::open(c"/bin/echo".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            die("open /bin/echo");
        }
        say(&format!("fd={fd}"));
        let argv = pointers(&[c"echo", c"via-execveat"]);
        let envp = pointers(&[]);
        // SAFETY: every pointer is to a NUL-terminated string or array that outlives the call.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                fd,
                c"".as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        die("execveat")
    }

    /// glibc's `fexecve` of an fd of /bin/echo.
    fn fexecve() -> ! {
        // SAFETY: a valid NUL-terminated path.
        let fd = unsafe { libc::open(c"/bin/echo".as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            die("open /bin/echo");
        }
        say(&format!("fd={fd}"));
        let argv = pointers(&[c"echo", c"via-fexecve"]);
        let envp = pointers(&[]);
        // SAFETY: as in `execveat`.
        unsafe { libc::fexecve(fd, argv.as_ptr(), envp.as_ptr()) };
        die("fexecve")
    }

    /// A thread other than the main one execs /bin/echo; the main thread sleeps.
    fn thread_exec() -> ! {
        say(&format!("pid={}", std::process::id()));
        thread::spawn(|| {
            // SAFETY: gettid cannot fail.
            let tid = unsafe { libc::gettid() };
            say(&format!("tid={tid}"));
            let argv = pointers(&[c"echo", c"from-thread"]);
            let envp = pointers(&[]);
            // SAFETY: as in `execveat`.
            unsafe { libc::execve(c"/bin/echo".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            die("execve from a thread")
        });
        thread::sleep(Duration::from_secs(20));
        eprintln!("the thread did not exec");
        exit(71)
    }

    /// A thread other than the main one spawns /bin/echo and waits for it.
    fn thread_spawn() -> ! {
        let spawner = thread::spawn(|| {
            // SAFETY: gettid cannot fail.
            let tid = unsafe { libc::gettid() };
            let mut child = match Command::new("/bin/echo")
                .arg("spawned-from-thread")
                .stdout(Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(e) => {
                    eprintln!("spawn /bin/echo: {e}");
                    exit(70)
                }
            };
            let pid = child.id();
            let _ = child.wait();
            say(&format!("child={pid} tid={tid}"));
        });
        if spawner.join().is_err() {
            exit(70)
        }
        say(&format!("pid={}", std::process::id()));
        exit(0)
    }

    /// An execve of /bin/true with exactly `args` as its argv (none at all, even).
    fn exec_true(args: &[&CStr]) -> ! {
        let argv = pointers(args);
        let envp = pointers(&[]);
        // SAFETY: as in `execveat`.
        unsafe { libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        die("execve /bin/true")
    }

    /// An execve that fails with ENOENT, then exit status 3.
    fn fail_exec(args: &[&CStr]) -> ! {
        let argv = pointers(args);
        let envp = pointers(&[]);
        // SAFETY: as in `execveat`.
        unsafe {
            libc::execve(
                c"/nonexistent/tracer-test-prog".as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        say(&format!("errno={errno}"));
        exit(3)
    }
}
