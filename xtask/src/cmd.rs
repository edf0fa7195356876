//! Running child processes, with the command line shown on failure.

use std::process::{Command, Stdio};

/// Runs `cmd`, inheriting stdio; a non-zero exit is an error naming the command.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {status}", describe(cmd)))
    }
}

/// Runs `cmd` with its output captured, shown only if it fails.
pub fn run_captured(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    if out.status.success() {
        return Ok(());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Err(format!("{} failed: {}", describe(cmd), out.status))
}

/// Runs `cmd` quietly and returns its stdout, or `None` if it could not run or failed.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replaces this process with `cmd` (so that signals such as Ctrl-C reach it directly).
pub fn exec(mut cmd: Command) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(format!("cannot start {}: {err}", describe(&cmd)))
}

pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
