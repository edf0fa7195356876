//! Compiles `tracer-ebpf` for the BPF target and leaves the object in OUT_DIR, where
//! `include_bytes_aligned!` embeds it in the binary.

/// The pinned toolchain (see xtask/src/toolchain.rs, which installs it and passes its name
/// in TRACER_EBPF_TOOLCHAIN).
const DEFAULT_TOOLCHAIN: &str = "nightly-2026-10-28";

fn main() -> anyhow::Result<()> {
    let toolchain =
        std::env::var("TRACER_EBPF_TOOLCHAIN").unwrap_or_else(|_| DEFAULT_TOOLCHAIN.into());
    println!("cargo::rerun-if-env-changed=TRACER_EBPF_TOOLCHAIN");
    // aya-build watches tracer-ebpf; the record layout it shares lives here.
    println!("cargo::rerun-if-changed=../tracer-common");
    let package = aya_build::Package {
        name: "tracer-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../tracer-ebpf"),
        ..Default::default()
    };
    // aya-build turns every line the inner cargo prints into a build warning; keep it to
    // errors only.
    // SAFETY: build scripts are single-threaded here.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))
}
