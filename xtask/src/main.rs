//! `cargo xtask`: set-up, build, run and test commands for tracer.
//!
//! xtask itself builds with the machine's stable toolchain and uses only `std`, so that it
//! works before anything else is installed. It then installs, idempotently, what building the
//! eBPF side needs: a pinned nightly toolchain with `rust-src`, and `bpf-linker` built against
//! that toolchain's own libLLVM (see `toolchain.rs`).

mod apt;
mod bench;
mod cmd;
mod test;
mod toolchain;
mod vm;

use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                     install the pinned toolchain and bpf-linker (idempotent)
  build [--release]         build tracer with its eBPF object embedded
  run [--release] [-- ARGS] build, then run tracer with ARGS (as root; sudo if needed)
  lint                      cargo fmt --check and clippy -D warnings, both sides
  test                      lint, every unit and integration test, then vm-test (as root)
  vm-test [--kernel SERIES] boot Debian's 5.10, 6.1 and 6.12 cloud kernels (or one of them)
                            in QEMU and check tracer's output there
  bench [--quick] [--rounds N] [--count N]
                            exec-heavy workload under tracer and other exec tracers; writes
                            BENCHMARKS.md (needs root; --quick: one short round, no file)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => toolchain::ensure().map(|_| ()),
        Some("build") => build(&args[1..]).map(|_| ()),
        Some("run") => run(&args[1..]),
        Some("lint") => toolchain::ensure().and_then(|tc| test::lint(&tc)),
        Some("test") => test::all(&args[1..]),
        Some("vm-test") => vm::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-workload") => bench::workload(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Builds tracer and returns the path of the binary.
pub fn build(args: &[String]) -> Result<PathBuf, String> {
    let release = args.iter().any(|a| a == "--release");
    if let Some(other) = args.iter().find(|a| *a != "--release") {
        return Err(format!("build: unknown option {other}"));
    }
    let tc = toolchain::ensure()?;
    let mut cargo = tc.cargo();
    cargo.args(["build", "--package", "tracer", "--bin", "tracer"]);
    if release {
        cargo.arg("--release");
    }
    cmd::run(&mut cargo)?;
    let profile = if release { "release" } else { "debug" };
    Ok(root().join("target").join(profile).join("tracer"))
}

fn run(args: &[String]) -> Result<(), String> {
    let (ours, theirs) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let binary = build(ours)?;
    let mut tracer = if cmd::is_root() {
        std::process::Command::new(&binary)
    } else {
        let mut sudo = std::process::Command::new("sudo");
        sudo.arg(&binary);
        sudo
    };
    tracer.args(theirs);
    cmd::exec(tracer)
}
