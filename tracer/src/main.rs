//! `tracer`: wires the command line, the kernel layout, the loader and the trace loop.

use std::{io::Write, path::Path, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Parser;
use tracer::{
    cli::Cli,
    filter::{Filter, FilterOptions},
    layout, loader,
    output::Output,
    preflight,
    procs::ProcessTable,
    session,
};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help or --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message spans several lines; its first says what is wrong.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            say(&format!("tracer: {}", first.trim_start_matches("error: ")));
            return ExitCode::from(2);
        }
    };
    if let Some(what) = &cli.generate {
        return match tracer::cli::generate(what, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                say(&format!("tracer: {e}"));
                ExitCode::from(2)
            }
        };
    }
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("tracer: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    // -v is about tracer (offsets, attachments, kernel-side messages); -vv adds aya's own
    // detail, such as relocations and the verifier's log.
    let (ours, libraries) = match verbose {
        0 => (log::LevelFilter::Warn, log::LevelFilter::Warn),
        1 => (log::LevelFilter::Debug, log::LevelFilter::Warn),
        _ => (log::LevelFilter::Trace, log::LevelFilter::Debug),
    };
    env_logger::Builder::new()
        .filter_level(libraries)
        .filter_module("tracer", ours)
        .format_timestamp(None)
        .format_target(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Everything that can be refused is checked before anything is loaded.
    let filter = Filter::new(&FilterOptions {
        name: cli.name.as_deref(),
        line: cli.line.as_deref(),
        uid: cli.uid,
        failed: cli.failed,
        // A JSON stream is read by programs, which need every exec: re-execs always show.
        reexec: cli.reexec || cli.json,
        others: cli.json,
    })?;
    let output = Output::new(&cli);
    preflight::check()?;
    let layout = layout::discover(cli.btf.as_deref())?;
    // Forks and exits feed the process table; plain execsnoop output needs neither.
    let needs_procs = cli.chain || cli.pid.is_some() || cli.tree || cli.json;

    let loaded = loader::load(&loader::LoadOptions {
        layout,
        config: tracer_common::Config {
            max_arg_bytes: cli.max_arg_bytes,
            failed: u32::from(cli.failed),
        },
        buffer_size: cli.buffer_size,
        lifecycle: needs_procs,
        kernel_log: cli.verbose > 0,
    })?;
    // Seeded after attaching, so that no process slips between the /proc walk and the first
    // event; the table reconciles the overlap.
    let procs = if needs_procs {
        let mut procs = ProcessTable::new(cli.max_exited as usize);
        if let Err(e) = procs.seed_from_proc(Path::new("/proc")) {
            log::warn!("cannot read /proc, chains start empty: {e}");
        }
        if let Some(pid) = cli.pid
            && !procs.follow(pid)
        {
            match thread_group(pid) {
                Some(tgid) if tgid != pid => {
                    anyhow::bail!("-p {pid}: that is a thread of process {tgid}: use -p {tgid}")
                }
                _ => anyhow::bail!("-p {pid}: no such process"),
            }
        }
        Some(procs)
    } else {
        None
    };
    say("Tracing exec()s. Ctrl-C to end.");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    let stats = runtime.block_on(session::run(
        loaded,
        filter,
        output,
        session::SessionOptions {
            duration: cli.duration.map(Duration::from_secs_f64),
            summary: cli.summary,
            chain: cli.chain,
            subtree: cli.pid,
            tree: cli.tree,
            procs,
        },
    ))?;
    say(&format!(
        "tracer: {} execs shown, {} events received, {} lost{}",
        stats.shown,
        stats.received,
        stats.lost,
        if stats.malformed > 0 {
            format!(", {} malformed", stats.malformed)
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// The process (tgid) that thread `tid` belongs to, from /proc.
fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A status line on stderr; a closed stderr is no reason to fail.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
