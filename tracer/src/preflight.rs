//! Checks made before loading anything, so that a missing privilege or an old kernel gets one
//! clear line instead of a verifier or syscall error.

use std::fs;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    #[error("needs root, or the capabilities CAP_BPF and CAP_PERFMON: run it with sudo")]
    NotPrivileged,
    #[error(
        "kernel {release} lacks the BPF ring buffer that tracer uses: it needs Linux 5.8 or later"
    )]
    KernelTooOld { release: String },
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub fn check() -> Result<(), PreflightError> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !privileged(&status) {
        return Err(PreflightError::NotPrivileged);
    }
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    check_release(release.trim())
}

/// Whether `/proc/self/status` shows the effective capabilities tracer needs.
fn privileged(status: &str) -> bool {
    let Some(caps) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    else {
        return false;
    };
    let has = |cap: u32| caps & (1 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

fn check_release(release: &str) -> Result<(), PreflightError> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    if (major, minor) < (5, 8) {
        return Err(PreflightError::KernelTooOld {
            release: release.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_or_bpf_and_perfmon_are_enough() {
        assert!(privileged("Name:\tx\nCapEff:\t000001ffffffffff\n"));
        assert!(privileged("CapEff:\t000000c000000000\n"));
        assert!(!privileged("CapEff:\t0000004000000000\n"));
        assert!(!privileged("CapEff:\t0000000000000000\n"));
        assert!(!privileged(""));
    }

    #[test]
    fn kernels_before_5_8_are_refused_by_name() {
        assert!(check_release("5.8.0").is_ok());
        assert!(check_release("6.18.44-fc-v1147").is_ok());
        assert!(check_release("5.10.0-32-cloud-amd64").is_ok());
        assert_eq!(
            check_release("5.4.0-150-generic").unwrap_err().to_string(),
            "kernel 5.4.0-150-generic lacks the BPF ring buffer that tracer uses: it needs \
             Linux 5.8 or later"
        );
        assert!(check_release("4.19.0").is_err());
    }
}
