//! Compiles `tracer-ebpf` for the BPF target and leaves the object in OUT_DIR, where
//! `include_bytes_aligned!` embeds it in the binary.

fn main() -> anyhow::Result<()> {
    let toolchain = std::env::var("TRACER_EBPF_TOOLCHAIN").unwrap_or_else(|_| "nightly".into());
    println!("cargo::rerun-if-env-changed=TRACER_EBPF_TOOLCHAIN");
    let package = aya_build::Package {
        name: "tracer-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../tracer-ebpf"),
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))
}
