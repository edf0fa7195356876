//! tracer's kernel side. One module per hook; `record` holds what they share: the per-CPU
//! scratch buffer a record is built in, the ring buffer it is sent through, and the count of
//! records that did not fit.
#![no_std]
#![no_main]

mod exec;
mod exec_failed;
mod exit;
mod fork;
mod kernel;
mod record;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic path, so this is never
    // reached at run time.
    unsafe { core::hint::unreachable_unchecked() }
}

/// The helpers used (`bpf_probe_read_user`, ...) are GPL-only.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
