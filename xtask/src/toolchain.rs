//! The pinned toolchain and bpf-linker, installed on first use.
//!
//! aya 0.16 needs rustc 1.98+, and the eBPF side needs nightly (`-Z build-std=core`) with
//! `rust-src`. bpf-linker must use an LLVM at least as new as rustc's, and no prebuilt
//! download is reachable here, so it is built from crates.io against the pinned toolchain's
//! own `libLLVM`: a private folder `<data>/lib` holds two links to that library, one named
//! `libLLVM.so` (for linking) and one under its own name (for loading: the linker's rpath
//! points there). Everything lives under `~/.local/share/tracer/<toolchain>`, so a
//! bpf-linker the user installed elsewhere is left alone.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::cmd;

/// The toolchain that builds tracer (userspace and eBPF): rustc 1.101, LLVM 23.
pub const TOOLCHAIN: &str = "nightly-2026-10-28";
const COMPONENTS: &[&str] = &["rust-src", "clippy", "rustfmt"];
const BPF_LINKER_VERSION: &str = "0.13.0";

pub struct Toolchain {
    pub name: &'static str,
    /// Holds `bpf-linker`; put first on PATH for builds.
    pub bin_dir: PathBuf,
}

impl Toolchain {
    /// `cargo` of the pinned toolchain, with bpf-linker on PATH.
    pub fn cargo(&self) -> Command {
        let mut cargo = Command::new("rustup");
        cargo.args(["run", self.name, "cargo"]);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.bin_dir.clone()];
        paths.extend(std::env::split_paths(&path));
        cargo
            .env(
                "PATH",
                std::env::join_paths(paths).expect("PATH entries are valid"),
            )
            .env("TRACER_EBPF_TOOLCHAIN", self.name)
            .current_dir(crate::root());
        // `cargo xtask` runs under the stable toolchain; these would leak it into the build.
        for var in [
            "RUSTC",
            "RUSTDOC",
            "RUSTUP_TOOLCHAIN",
            "RUSTC_WRAPPER",
            "CARGO",
        ] {
            cargo.env_remove(var);
        }
        cargo
    }
}

/// Installs whatever is missing and returns the toolchain. Takes well under a second when
/// everything is present.
pub fn ensure() -> Result<Toolchain, String> {
    ensure_rustup_toolchain()?;
    let data = data_dir()?;
    ensure_bpf_linker(&data)?;
    Ok(Toolchain {
        name: TOOLCHAIN,
        bin_dir: data.join("bin"),
    })
}

fn ensure_rustup_toolchain() -> Result<(), String> {
    let installed = cmd::output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        TOOLCHAIN,
    ]))
    .unwrap_or_default();
    let has = |c: &str| {
        installed
            .lines()
            .any(|l| l == c || l.starts_with(&format!("{c}-")))
    };
    if COMPONENTS.iter().all(|c| has(c)) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing toolchain {TOOLCHAIN} with {}",
        COMPONENTS.join(", ")
    );
    cmd::run(Command::new("rustup").args([
        "toolchain",
        "install",
        TOOLCHAIN,
        "--profile",
        "minimal",
        "--component",
        &COMPONENTS.join(","),
    ]))
}

fn data_dir() -> Result<PathBuf, String> {
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            PathBuf::from(home).join(".local/share")
        }
    };
    Ok(base.join("tracer").join(TOOLCHAIN))
}

fn ensure_bpf_linker(data: &Path) -> Result<(), String> {
    let linker = data.join("bin/bpf-linker");
    let works = cmd::output(Command::new(&linker).arg("--version"))
        .is_some_and(|v| v.contains(BPF_LINKER_VERSION));
    if works {
        return Ok(());
    }

    let sysroot =
        cmd::output(Command::new("rustup").args(["run", TOOLCHAIN, "rustc", "--print", "sysroot"]))
            .ok_or_else(|| format!("cannot ask {TOOLCHAIN}'s rustc for its sysroot"))?;
    let sysroot_lib = PathBuf::from(sysroot.trim()).join("lib");
    let (llvm_file, llvm_major) = find_libllvm(&sysroot_lib)?;

    let lib = data.join("lib");
    std::fs::create_dir_all(&lib).map_err(|e| format!("cannot create {}: {e}", lib.display()))?;
    for name in ["libLLVM.so", llvm_file.as_str()] {
        let link = lib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(sysroot_lib.join(&llvm_file), &link)
            .map_err(|e| format!("cannot link {}: {e}", link.display()))?;
    }

    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against {llvm_file} (a minute or two)"
    );
    // The machine's default cargo builds it; the pinned toolchain only provides libLLVM.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    cmd::run_captured(
        Command::new(cargo)
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
            ])
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{llvm_major}"),
            ])
            .arg("--root")
            .arg(data)
            .env("LLVM_PREFIX", data),
    )
}

/// Finds `libLLVM.so.<major>.<minor>-rust-...` in the toolchain's lib folder.
fn find_libllvm(dir: &Path) -> Result<(String, String), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(version) = name.strip_prefix("libLLVM.so.") {
            let major = version.split('.').next().unwrap_or_default();
            if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) {
                return Ok((name.clone(), major.to_string()));
            }
        }
    }
    Err(format!("no libLLVM.so.<version> in {}", dir.display()))
}
