//! `cargo xtask lint` and `cargo xtask test`.

use crate::{apt, cmd, toolchain};

/// Packages the integration tests call: `jq` checks the JSON output with the real tool, and
/// `bpftool` reads the kernel's own lost-record counter.
const TEST_PACKAGES: &[(&str, &str)] = &[("jq", "jq"), ("bpftool", "bpftool")];

pub fn lint(tc: &toolchain::Toolchain) -> Result<(), String> {
    cmd::run(tc.cargo().args(["fmt", "--all", "--", "--check"]))?;
    cmd::run(
        tc.cargo()
            .args(["clippy", "--all-targets", "--", "-D", "warnings"]),
    )?;
    // The kernel side only builds for the BPF target.
    cmd::run(
        tc.cargo()
            .args(["clippy", "--package", "tracer-ebpf", "--release"])
            .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
            .args(["--", "-D", "warnings"])
            .env(
                "CARGO_ENCODED_RUSTFLAGS",
                "--cfg=bpf_target_arch=\"x86_64\"",
            ),
    )
}

pub fn all(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.first() {
        return Err(format!("test: unknown option {other}"));
    }
    if !cmd::is_root() {
        return Err("the tests load eBPF programs and trace real processes: run as root".into());
    }
    let tc = toolchain::ensure()?;
    apt::ensure(TEST_PACKAGES)?;
    lint(&tc)?;
    cmd::run(
        tc.cargo()
            .args(["test", "--workspace", "--exclude", "tracer-ebpf"]),
    )?;
    // The release binary alone, on the kernels users have.
    crate::vm::run(&[])
}
