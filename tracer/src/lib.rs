//! tracer's userspace, as a library so that the pieces can be tested on their own; `main.rs`
//! only wires them together.
//!
//! - [`cli`]: the command line.
//! - [`layout`]: discovering the running kernel's layout (tracefs formats, BTF offsets).
//! - [`loader`]: loading the embedded eBPF object and attaching its programs.
//! - [`decode`]: turning ring-buffer records into [`event::Event`]s.
//! - [`filter`]: which events are shown.
//! - [`output`]: the text (perf-tools) and JSON formats, and the `--summary` table.
//! - [`procs`]: the process table: who forked whom, reparenting, launch chains, `--tree`.
//! - [`clock`]: kernel time to wall-clock time.
//! - [`preflight`]: privilege and kernel-version checks made before loading.
//! - [`session`]: the trace loop.

pub mod cli;
pub mod clock;
pub mod decode;
pub mod event;
pub mod filter;
pub mod layout;
pub mod loader;
pub mod output;
pub mod preflight;
pub mod procs;
pub mod session;
