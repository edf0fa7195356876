//! Debian packages the tests and the bench use, installed when missing.

use std::process::Command;

use crate::cmd;

/// Makes sure each `(command, package)` is available, installing the missing packages with
/// one `apt-get update` and one `apt-get install -y`.
pub fn ensure(wanted: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(command, _)| !has_command(command))
        .map(|(_, package)| *package)
        .collect();
    install(&missing)
}

/// Makes sure each package is installed, for packages that have no single command to look
/// for (their tools live outside PATH, or share a name with another package's).
pub fn ensure_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !is_installed(package))
        .collect();
    install(&missing)
}

fn install(missing: &[&str]) -> Result<(), String> {
    if missing.is_empty() {
        return Ok(());
    }
    if !cmd::is_root() {
        return Err(format!(
            "missing packages {}: install them (apt-get install {}) or run as root",
            missing.join(" "),
            missing.join(" ")
        ));
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let quiet = |c: &mut Command| {
        c.env("DEBIAN_FRONTEND", "noninteractive");
    };
    let mut update = Command::new("apt-get");
    update.args(["update", "-q"]);
    quiet(&mut update);
    cmd::run(&mut update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(missing);
    quiet(&mut install);
    cmd::run(&mut install)
}

fn has_command(name: &str) -> bool {
    cmd::output(Command::new("sh").args(["-c", &format!("command -v {name}")])).is_some()
}

fn is_installed(package: &str) -> bool {
    cmd::output(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", package]))
        .is_some_and(|status| status.trim() == "installed")
}
