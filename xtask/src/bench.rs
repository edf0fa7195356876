//! `cargo xtask bench`: what tracing every exec costs, for tracer and for the exec tracers
//! Debian ships (libbpf-tools `execsnoop`, bpftrace's `execsnoop.bt`, `forkstat`).
//!
//! The workload is xtask itself, run as the hidden `bench-workload` command: one thread per
//! core, each running `/bin/true NONCE` until a shared count is reached. The nonce is new for
//! every run, so the lines of a tool's output that contain it are exactly the workload's execs
//! that the tool reported. Rounds interleave the tools, each with its own baseline run, so
//! that a machine getting slower or faster during the bench shifts every tool alike.

use std::{
    fmt::Write as _,
    fs::{self, File},
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use crate::{apt, cmd};

/// Execs per run: several seconds on a 2-core machine, which does 1,000 to 3,000 a second.
const COUNT: u64 = 10_000;
const ROUNDS: usize = 5;
/// `--quick`: one round of short runs, every tool, under a minute once tracer is built.
const QUICK_COUNT: u64 = 2_000;
const QUICK_ROUNDS: usize = 1;

/// The Debian packages of the other tracers.
const PACKAGES: &[&str] = &["libbpf-tools", "bpftrace", "forkstat"];

/// tracer's modes, as (row name, flags). A mode whose flag this build rejects is reported as
/// unsupported rather than failing the bench, so a mode can be listed before it lands.
const TRACER_MODES: &[(&str, &[&str])] = &[
    ("tracer", &[]),
    ("tracer --json", &["--json"]),
    ("tracer --chain", &["--chain"]),
];

/// The nonce goes to the workload in the environment, not in its argv: its own exec would
/// otherwise be one more line that contains it.
const NONCE_VAR: &str = "XTASK_BENCH_NONCE";

/// How long a tool may take to start (bpftrace compiles its script, slowly on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// After a tool is ready, before the workload: lets it finish whatever follows its signal.
const SETTLE: Duration = Duration::from_millis(300);
/// After the workload, for the tool to write what is still queued.
const DRAIN: Duration = Duration::from_secs(1);
/// How long a tool may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// System calls a tool's event loop blocks in: epoll_wait, epoll_pwait, epoll_pwait2, poll,
/// ppoll, select, pselect6, recvfrom, recvmsg.
#[cfg(target_arch = "x86_64")]
const EVENT_LOOP_SYSCALLS: &[u64] = &[232, 281, 441, 7, 271, 23, 270, 45, 47];
#[cfg(target_arch = "aarch64")]
const EVENT_LOOP_SYSCALLS: &[u64] = &[22, 441, 73, 72, 207, 212];

struct Options {
    quick: bool,
    count: u64,
    rounds: usize,
}

/// How to tell that a tool has attached and is reading events.
enum Ready {
    /// A line on its stderr that starts with this text.
    Stderr(&'static str),
    /// A line of its output that starts with this text; for tools that flush every line.
    Output(&'static str),
    /// Its main thread blocks in its event loop. For C tools whose stdout, a file, is fully
    /// buffered, so that their header only reaches the file when they exit.
    EventLoop,
}

/// Which output lines are the workload's execs.
#[derive(Clone, Copy)]
enum Match {
    Nonce,
    /// The nonce, or a line that ends in the process name alone: forkstat reads argv from
    /// /proc after the fact and, when the process has already exited, prints only its name.
    NonceOrName(&'static str),
}

struct Launch {
    program: PathBuf,
    args: Vec<String>,
    ready: Ready,
    matches: Match,
}

enum Setup {
    Baseline,
    Run(Launch),
    /// Why the tool is not run, as shown in the table.
    Skip(String),
}

struct Tool {
    name: String,
    setup: Setup,
}

/// One tool's run.
struct Sample {
    rate: f64,
    events: u64,
    cpu_secs: f64,
    rss_kib: u64,
    /// From start to ready, for the progress lines.
    ready_secs: f64,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    if !cmd::is_root() {
        return Err("the bench loads eBPF programs and traces every exec: run as root".into());
    }
    let tracer = crate::build(&["--release".into()])?;
    let installed = apt::ensure_packages(PACKAGES);
    if let Err(e) = &installed {
        eprintln!("xtask: bench: {e}; the tools of the missing packages are skipped");
    }
    let tools = tools(&tracer);
    let ticks = clock_ticks()?;
    let workdir = PathBuf::from("/dev/shm").join(format!("xtask-bench-{}", std::process::id()));
    fs::create_dir_all(&workdir)
        .map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;

    let results = run_rounds(&opts, &tools, ticks, &workdir);
    let _ = fs::remove_dir_all(&workdir);

    let table = table(&opts, &tools, &results);
    println!("\n{table}");
    if opts.quick {
        println!("(--quick: BENCHMARKS.md is left as it is)");
        return Ok(());
    }
    let path = crate::root().join("BENCHMARKS.md");
    write_report(&path, &opts, &table)?;
    println!("written to {}", path.display());
    Ok(())
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut quick = false;
    let mut count = None;
    let mut rounds = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("bench: {name} needs a positive number"))
        };
        match arg.as_str() {
            "--quick" => quick = true,
            "--count" => count = Some(number("--count")?),
            "--rounds" => rounds = Some(number("--rounds")? as usize),
            other => return Err(format!("bench: unknown option {other}")),
        }
    }
    let (default_count, default_rounds) = if quick {
        (QUICK_COUNT, QUICK_ROUNDS)
    } else {
        (COUNT, ROUNDS)
    };
    Ok(Options {
        quick,
        count: count.unwrap_or(default_count),
        rounds: rounds.unwrap_or(default_rounds),
    })
}

/// The rows of the table, in order; the baseline first.
fn tools(tracer: &Path) -> Vec<Tool> {
    let mut tools = vec![Tool {
        name: "baseline (no tracer)".into(),
        setup: Setup::Baseline,
    }];
    for (name, flags) in TRACER_MODES {
        let setup = match accepts(tracer, flags) {
            Ok(()) => Setup::Run(Launch {
                program: tracer.to_path_buf(),
                args: flags.iter().map(|f| f.to_string()).collect(),
                ready: Ready::Stderr("Tracing exec()s."),
                matches: Match::Nonce,
            }),
            Err(e) => {
                eprintln!("xtask: bench: {name}: unsupported by this build ({e})");
                Setup::Skip("unsupported by this build".into())
            }
        };
        tools.push(Tool {
            name: name.to_string(),
            setup,
        });
    }

    let execsnoop = packaged("libbpf-tools", "/execsnoop").map(|program| Launch {
        program,
        args: Vec::new(),
        ready: Ready::EventLoop,
        matches: Match::Nonce,
    });
    let bpftrace = packaged("bpftrace", "/execsnoop.bt").and_then(|script| {
        Ok(Launch {
            program: packaged("bpftrace", "/bpftrace")?,
            args: vec![script.to_string_lossy().into_owned()],
            ready: Ready::Output("TIME(ms)"),
            matches: Match::Nonce,
        })
    });
    let forkstat = packaged("forkstat", "/forkstat").map(|program| Launch {
        program,
        args: vec!["-e".into(), "exec".into()],
        ready: Ready::EventLoop,
        matches: Match::NonceOrName("true"),
    });
    for (name, launch) in [
        ("libbpf-tools execsnoop", execsnoop),
        ("bpftrace execsnoop.bt", bpftrace),
        ("forkstat -e exec", forkstat),
    ] {
        let setup = match launch {
            Ok(launch) => Setup::Run(launch),
            Err(e) => Setup::Skip(format!("failed: {e}")),
        };
        tools.push(Tool {
            name: name.into(),
            setup,
        });
    }
    tools
}

/// Whether this tracer build takes `flags`: clap rejects an unknown flag before `--help`.
fn accepts(tracer: &Path, flags: &[&str]) -> Result<(), String> {
    let out = Command::new(tracer)
        .args(flags)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", tracer.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(stderr
        .lines()
        .next()
        .unwrap_or("rejected")
        .trim()
        .to_string())
}

/// The file of `package` whose path ends with `suffix` (`dpkg -L`).
fn packaged(package: &str, suffix: &str) -> Result<PathBuf, String> {
    let files = cmd::output(Command::new("dpkg").args(["-L", package]))
        .ok_or_else(|| format!("package {package} is not installed"))?;
    files
        .lines()
        .find(|f| f.ends_with(suffix) && Path::new(f).is_file())
        .map(PathBuf::from)
        .ok_or_else(|| format!("package {package} has no file *{suffix}"))
}

/// `results[tool][round]`: `None` where the tool was not run.
type Results = Vec<Vec<Option<Result<Sample, String>>>>;

fn run_rounds(opts: &Options, tools: &[Tool], ticks: f64, workdir: &Path) -> Results {
    let mut results: Results = tools
        .iter()
        .map(|_| (0..opts.rounds).map(|_| None).collect())
        .collect();
    let order = shuffled(tools.len());
    let seed = seed();
    for round in 0..opts.rounds {
        let mut this_round = order.clone();
        this_round.rotate_left(round % order.len());
        for &t in &this_round {
            let tool = &tools[t];
            // A tool that could not start once would only fail again, after its timeout.
            let failed_before = results[t][..round]
                .iter()
                .any(|r| matches!(r, Some(Err(_))));
            let sample = match &tool.setup {
                Setup::Skip(_) => continue,
                _ if failed_before => continue,
                Setup::Baseline => {
                    let nonce = nonce(seed, round, t);
                    run_workload(opts.count, &nonce).map(|rate| Sample {
                        rate,
                        events: 0,
                        cpu_secs: 0.0,
                        rss_kib: 0,
                        ready_secs: 0.0,
                    })
                }
                Setup::Run(launch) => {
                    let nonce = nonce(seed, round, t);
                    run_tool(launch, opts.count, &nonce, ticks, workdir)
                }
            };
            eprintln!(
                "xtask: bench: round {}/{}: {}: {}",
                round + 1,
                opts.rounds,
                tool.name,
                match &sample {
                    Ok(s) if matches!(tool.setup, Setup::Baseline) =>
                        format!("{} execs/s", thousands(s.rate)),
                    Ok(s) => format!(
                        "ready in {:.2} s; {} execs/s, {} events, {:.2} s CPU, {:.1} MiB",
                        s.ready_secs,
                        thousands(s.rate),
                        thousands(s.events as f64),
                        s.cpu_secs,
                        s.rss_kib as f64 / 1024.0
                    ),
                    Err(e) => format!("failed: {e}"),
                }
            );
            results[t][round] = Some(sample);
        }
    }
    results
}

/// A fixed shuffle of `0..n` (the same in every bench), so that no tool always runs right
/// after another; each round rotates it.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..n).rev() {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

fn seed() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

/// Fixed width, so that no nonce is a prefix of another.
fn nonce(seed: u32, round: usize, tool: usize) -> String {
    format!("xb{seed:08x}r{round:03}t{tool:02}")
}

/// Runs the workload and returns its rate in execs/s.
fn run_workload(count: u64, nonce: &str) -> Result<f64, String> {
    // Not `current_exe()`'s path: another `cargo xtask` may rebuild that file meanwhile, and
    // /proc/self/exe is still this process's binary when the spawned child execs it.
    let out = Command::new("/proc/self/exe")
        .args(["bench-workload", &count.to_string()])
        .env(NONCE_VAR, nonce)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start the workload: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("workload failed: {}", stderr.trim()));
    }
    let secs = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("secs="))
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .ok_or_else(|| format!("unexpected workload output: {}", stdout.trim()))?;
    Ok(count as f64 / secs)
}

/// `xtask bench-workload COUNT`: runs `/bin/true $XTASK_BENCH_NONCE` COUNT times, on one
/// thread per core, and prints the time taken.
pub fn workload(args: &[String]) -> Result<(), String> {
    let count: u64 = match args {
        [count] => count.parse().ok().filter(|n| *n > 0),
        _ => None,
    }
    .ok_or("usage: xtask bench-workload COUNT (with the nonce in XTASK_BENCH_NONCE)")?;
    let nonce = std::env::var(NONCE_VAR).map_err(|_| format!("{NONCE_VAR} is not set"))?;
    let threads = thread::available_parallelism().map_or(1, |n| n.get());

    let claimed = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while claimed.fetch_add(1, Ordering::Relaxed) < count {
                    let ok = Command::new("/bin/true")
                        .arg(&nonce)
                        .status()
                        .is_ok_and(|status| status.success());
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();

    let failed = failed.into_inner();
    if failed > 0 {
        return Err(format!("{failed} of {count} runs of /bin/true failed"));
    }
    println!(
        "execs={count} secs={secs:.3} threads={threads} rate={:.0}",
        count as f64 / secs
    );
    Ok(())
}

/// Starts the tool, runs the workload under it, stops it and counts what it reported.
fn run_tool(
    launch: &Launch,
    count: u64,
    nonce: &str,
    ticks: f64,
    workdir: &Path,
) -> Result<Sample, String> {
    let output = workdir.join(format!("{nonce}.out"));
    let file =
        File::create(&output).map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let mut child = Command::new(&launch.program)
        .args(&launch.args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?;
    let stderr = StderrLines::collect(child.stderr.take().expect("stderr is piped"));

    let measured = measure(&mut child, launch, &stderr, &output, count, nonce);
    let stopped = stop(&mut child);
    let lines = stderr.finish();
    let (ready_secs, rate, cpu_ticks, rss_kib) = measured.map_err(|e| match e {
        Failure::Exited => error_line(&lines, &output),
        Failure::Other(e) => e,
    })?;
    stopped?;

    let events = count_matches(&output, nonce, launch.matches)?;
    let _ = fs::remove_file(&output);
    Ok(Sample {
        rate,
        events,
        cpu_secs: cpu_ticks as f64 / ticks,
        rss_kib,
        ready_secs,
    })
}

enum Failure {
    /// The tool exited before it was ready: its own message says why.
    Exited,
    Other(String),
}

/// Waits for the tool, runs the workload; returns the seconds the tool took to be ready, the
/// workload's rate, the tool's CPU ticks during the workload and drain, and its peak RSS.
fn measure(
    child: &mut Child,
    launch: &Launch,
    stderr: &StderrLines,
    output: &Path,
    count: u64,
    nonce: &str,
) -> Result<(f64, f64, u64, u64), Failure> {
    let pid = child.id();
    let start = Instant::now();
    loop {
        if child.try_wait().ok().flatten().is_some() {
            return Err(Failure::Exited);
        }
        let ready = match launch.ready {
            Ready::Stderr(prefix) => stderr.any(|l| l.starts_with(prefix)),
            Ready::Output(prefix) => fs::read_to_string(output)
                .is_ok_and(|text| text.lines().any(|l| l.starts_with(prefix))),
            Ready::EventLoop => in_event_loop(pid),
        };
        if ready {
            break;
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(Failure::Other(format!(
                "not ready after {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let ready_secs = start.elapsed().as_secs_f64();
    thread::sleep(SETTLE);

    let before = cpu_ticks(pid);
    let rate = run_workload(count, nonce).map_err(Failure::Other)?;
    thread::sleep(DRAIN);
    let after = cpu_ticks(pid);
    let rss = peak_rss_kib(pid);
    Ok((ready_secs, rate, after.saturating_sub(before), rss))
}

/// Whether the main thread of `pid` is blocked in one of the event-loop system calls.
fn in_event_loop(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| {
        s.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| EVENT_LOOP_SYSCALLS.contains(&n))
    })
}

/// Sends SIGINT, as Ctrl-C would, and waits for the tool to exit.
fn stop(child: &mut Child) -> Result<(), String> {
    if child.try_wait().ok().flatten().is_some() {
        return Ok(());
    }
    let _ = cmd::output(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let start = Instant::now();
    while start.elapsed() < STOP_TIMEOUT {
        if child.try_wait().ok().flatten().is_some() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "did not exit within {} s of SIGINT",
        STOP_TIMEOUT.as_secs()
    ))
}

/// The lines a tool writes on stderr, read as they come so that it never blocks on a full
/// pipe.
struct StderrLines {
    lines: Arc<Mutex<Vec<String>>>,
    reader: thread::JoinHandle<()>,
}

impl StderrLines {
    fn collect(stderr: ChildStderr) -> Self {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("no reader panics").push(line);
            }
        });
        Self { lines, reader }
    }

    fn any(&self, f: impl Fn(&str) -> bool) -> bool {
        self.lines
            .lock()
            .expect("no reader panics")
            .iter()
            .any(|l| f(l))
    }

    /// Every line, once the tool has closed its stderr.
    fn finish(self) -> Vec<String> {
        let _ = self.reader.join();
        Arc::try_unwrap(self.lines)
            .map(|m| m.into_inner().expect("no reader panics"))
            .unwrap_or_default()
    }
}

/// The line that best says why a tool stopped: the last one that mentions an error, else the
/// last one at all, from stderr and then from its output.
fn error_line(stderr: &[String], output: &Path) -> String {
    let stdout: Vec<String> = fs::read_to_string(output)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    for lines in [stderr, &stdout[..]] {
        let found = lines
            .iter()
            .rev()
            .find(|l| l.to_ascii_lowercase().contains("error"))
            .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()));
        if let Some(line) = found {
            return line.trim().to_string();
        }
    }
    "exited before it was ready, without a message".into()
}

fn count_matches(output: &Path, nonce: &str, matches: Match) -> Result<u64, String> {
    let mut bytes = Vec::new();
    File::open(output)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {}: {e}", output.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let count = text
        .lines()
        // `tracer --chain` follows each exec with its chain, which names the nonce too.
        .filter(|line| !line.trim_start().starts_with("chain:"))
        .filter(|line| match matches {
            Match::Nonce => line.contains(nonce),
            Match::NonceOrName(name) => {
                line.contains(nonce) || line.split_whitespace().last() == Some(name)
            }
        })
        .count();
    Ok(count as u64)
}

/// The fields of `/proc/PID/stat` after the command name (so the first is the state).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // The state, a letter, reads as 0; only the numbers after it are used.
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// `pid` and its descendants, so that a tool's helper processes are counted with it.
fn family(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(fields) = stat_fields(p) {
                parents.push((p, fields.get(1).copied().unwrap_or(0) as u32));
            }
        }
    }
    let mut family = vec![pid];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    family
}

/// utime + stime of the tool and its descendants, with their waited-for children (cutime,
/// cstime), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    family(pid)
        .into_iter()
        .filter_map(stat_fields)
        // proc(5) fields 14-17, counted from the state (field 3).
        .map(|f| f.get(11..15).map_or(0, |t| t.iter().sum::<u64>()))
        .sum()
}

/// VmHWM of the tool and its descendants, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    family(pid)
        .into_iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

fn clock_ticks() -> Result<f64, String> {
    cmd::output(Command::new("getconf").arg("CLK_TCK"))
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .ok_or_else(|| "cannot read the clock tick rate (getconf CLK_TCK)".into())
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

fn table(opts: &Options, tools: &[Tool], results: &Results) -> String {
    let mut out = String::from(
        "| tool | execs/s (median) | slowdown vs baseline (median) | events reported (min) \
         | CPU s per 1,000 events (median) | peak RSS MiB (max) |\n\
         |---|--:|--:|--:|--:|--:|\n",
    );
    let baseline = &results[0];
    let mut notes = Vec::new();
    for (tool, rounds) in tools.iter().zip(results) {
        let name = &tool.name;
        if let Setup::Skip(why) = &tool.setup {
            let _ = writeln!(out, "| {name} | {} | | | | |", cell(why));
            continue;
        }
        let samples: Vec<(usize, &Sample)> = rounds
            .iter()
            .enumerate()
            .filter_map(|(r, s)| Some((r, s.as_ref()?.as_ref().ok()?)))
            .collect();
        let errors: Vec<&String> = rounds
            .iter()
            .filter_map(|s| s.as_ref()?.as_ref().err())
            .collect();
        if samples.is_empty() {
            let why = errors.first().map_or("not run", |e| e.as_str());
            let _ = writeln!(out, "| {name} | failed: {} | | | | |", cell(why));
            continue;
        }
        if let Some(e) = errors.first() {
            notes.push(format!(
                "{name} failed in {} of {} rounds: {e}",
                errors.len(),
                opts.rounds
            ));
        }

        let rate = median(&mut samples.iter().map(|(_, s)| s.rate).collect::<Vec<_>>());
        let rate = rate.map_or("—".into(), thousands);
        if matches!(tool.setup, Setup::Baseline) {
            let _ = writeln!(out, "| {name} | {rate} | — | — | — | — |");
            continue;
        }
        let mut slowdowns: Vec<f64> = samples
            .iter()
            .filter_map(|(r, s)| {
                let base = baseline[*r].as_ref()?.as_ref().ok()?.rate;
                Some((base - s.rate) / base * 100.0)
            })
            .collect();
        let slowdown = median(&mut slowdowns).map_or("—".into(), |s| format!("{s:.1} %"));
        let events = samples.iter().map(|(_, s)| s.events).min().unwrap_or(0);
        let share = events as f64 / opts.count as f64 * 100.0;
        let mut per_k: Vec<f64> = samples
            .iter()
            .filter(|(_, s)| s.events > 0)
            .map(|(_, s)| s.cpu_secs / s.events as f64 * 1000.0)
            .collect();
        let per_k = median(&mut per_k).map_or("—".into(), |c| format!("{c:.3}"));
        let rss = samples.iter().map(|(_, s)| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        let _ = writeln!(
            out,
            "| {name} | {rate} | {slowdown} | {} ({share:.1} %) | {per_k} | {rss:.1} |",
            thousands(events as f64)
        );
    }
    let base_rates: Vec<f64> = baseline
        .iter()
        .filter_map(|s| Some(s.as_ref()?.as_ref().ok()?.rate))
        .collect();
    if base_rates.len() > 1 {
        let min = base_rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = base_rates.iter().copied().fold(0.0, f64::max);
        notes.push(format!(
            "The baseline ranged from {} to {} execs/s over the rounds: differences smaller \
             than that spread are noise.",
            thousands(min),
            thousands(max)
        ));
    }
    for note in notes {
        let _ = write!(out, "\n{}\n", cell(&note));
    }
    out
}

/// Text that is safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// 20000.4 → "20,000".
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const KEPT_SECTION: &str = "## Changes and before/after";

fn write_report(path: &Path, opts: &Options, table: &str) -> Result<(), String> {
    let kept = fs::read_to_string(path).ok().and_then(|old| {
        old.find(&format!("\n{KEPT_SECTION}"))
            .map(|at| old[at + 1..].to_string())
    });
    let threads = thread::available_parallelism().map_or(1, |n| n.get());

    let mut report = String::from("# Benchmarks\n\n");
    let _ = writeln!(
        report,
        "Written by `cargo xtask bench{}`.\n",
        if opts.count == COUNT && opts.rounds == ROUNDS {
            String::new()
        } else {
            format!(" --count {} --rounds {}", opts.count, opts.rounds)
        }
    );
    let _ = writeln!(report, "- Machine: {}", machine());
    let _ = writeln!(report, "- Kernel: {}", command_line("uname", &["-r"]));
    let _ = writeln!(report, "- Date: {}", command_line("date", &["-u"]));
    let _ = writeln!(
        report,
        "- Workload: {} execs of `/bin/true NONCE` per run, on {threads} threads; {} rounds",
        thousands(opts.count as f64),
        opts.rounds
    );
    let _ = writeln!(report, "- Versions: {}\n", versions());
    report.push_str(METHOD);
    report.push_str("\n## Results\n\n");
    report.push_str(table);
    if let Some(kept) = kept {
        report.push('\n');
        report.push_str(&kept);
    }
    fs::write(path, report).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

const METHOD: &str = "\
## Method

The workload is `xtask bench-workload`: one thread per core, each running `/bin/true NONCE`
with `std::process::Command` until the shared count is reached; its rate is the count over its
wall-clock time. Each round runs every tool once, in a fixed shuffled order that rotates each
round, plus a baseline with no tracer; a tool's slowdown is taken against the baseline of the
same round, then the median over rounds. The eBPF programs run in the context of the exec'ing
process, so their cost shows in the slowdown, not in the tool's CPU.

Each tool writes to a file on /dev/shm (tmpfs) instead of /dev/null, so that its output can be
counted; like /dev/null this involves no disk, only a copy into memory. The workload starts
once the tool is ready, plus 0.3 s: tracer when it prints `Tracing exec()s.` on stderr;
bpftrace when its `TIME(ms)` header, printed by `BEGIN` after attaching, reaches the file;
execsnoop and forkstat, whose stdout is fully buffered when it is a file, when their main
thread blocks in their event loop (`/proc/PID/syscall`: epoll_wait for execsnoop, recvfrom on
the proc connector for forkstat).

After the workload the tool gets 1 s to drain; then its CPU time and peak RSS are read and it
is stopped with SIGINT. CPU time is utime + stime of the tool, its threads and any child
processes (/proc/PID/stat), counted from readiness so that start-up is left out; CPU per 1,000
events is that over the events it reported. Peak RSS is VmHWM, start-up included; it counts
the pages of BPF ring and perf buffers mapped into the tool, and a BPF ring buffer maps its
data pages twice. Events reported are the output lines that contain the run's nonce, the
minimum over rounds; forkstat reads argv from /proc after the exec and prints only the name
when the process has already exited, so for it a line ending in `true` counts too. A machine
busy with other work gives noisy numbers: compare runs from the same quiet machine.
";

/// "2 × Intel(R) Xeon(R) Processor, 23.5 GiB memory".
fn machine() -> String {
    let cpus = command_line("nproc", &[]);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    format!("{cpus} × {model}, {memory} memory")
}

/// tracer's commit and the Debian versions of the other tools.
fn versions() -> String {
    let root = crate::root();
    let commit = cmd::output(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&root),
    )
    .map_or("unknown".into(), |c| c.trim().to_string());
    let dirty = cmd::output(
        Command::new("git")
            .args(["status", "--porcelain", "--"])
            .args(["tracer", "tracer-ebpf", "tracer-common", "Cargo.lock"])
            .current_dir(&root),
    )
    .is_some_and(|s| !s.trim().is_empty());
    let mut parts = vec![format!(
        "tracer {commit}{}",
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    )];
    for package in PACKAGES {
        let version =
            cmd::output(Command::new("dpkg-query").args(["-W", "-f=${Version}", package]));
        if let Some(v) = version.filter(|v| !v.is_empty()) {
            parts.push(format!("{package} {v}"));
        }
    }
    parts.join(", ")
}

/// The first line of a command's output, or "unknown".
fn command_line(program: &str, args: &[&str]) -> String {
    cmd::output(Command::new(program).args(args))
        .and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}
