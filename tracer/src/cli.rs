//! The command line: perf-tools `execsnoop` flags first, long options for everything.

use std::path::PathBuf;

use clap::Parser;

/// Most arguments `-a` accepts. argv capture stops at `--max-arg-bytes` anyway (16 KiB at
/// most), so more could never be shown.
pub const MAX_ARGS_LIMIT: usize = 8192;

const EXAMPLES: &str = "\
Examples:
  tracer                  trace every exec, perf-tools execsnoop columns
  tracer -t -a 11 -r      with time since boot, up to 11 args, re-execs too
  tracer -x               failed execs too, with the error
  tracer -j | jq -c 'select(.type == \"exec\") | .argv'
                          one JSON object per line
  tracer -l '--config'    execs whose arguments match a regex
  tracer 'ssh|sshd'       execs whose process name matches a regex
  tracer -c               each exec with the chain of processes that led to it
  tracer -p 1234 --tree   only process 1234's subtree, and its tree at the end
  tracer -d 10 --summary  trace 10 seconds, then a table of execs per command";

#[derive(Debug, Parser)]
#[command(
    name = "tracer",
    version,
    about = "Trace every exec() on this host, as it happens.",
    after_help = EXAMPLES,
    disable_version_flag = true
)]
pub struct Cli {
    /// Show at most N arguments per exec (up to 8192); more end with " [...]".
    #[arg(short = 'a', long = "max-args", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=MAX_ARGS_LIMIT as i64))]
    pub max_args: u32,

    /// Include re-execs: without it, a process that already printed an exec is not printed
    /// again until its PID is used by a new process. Always on with --json.
    #[arg(short = 'r', long = "reexec")]
    pub reexec: bool,

    /// Print a TIMEs column first: seconds since boot.
    #[arg(short = 't', long = "time")]
    pub time: bool,

    /// Trace for SECS seconds, then exit.
    #[arg(short = 'd', long = "duration", value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<f64>,

    /// Show failed execs too, with the return value and errno name.
    #[arg(short = 'x', long = "failed")]
    pub failed: bool,

    /// One JSON object per line (schema in the README): every exec, fork, exit and reparent.
    /// -a, -q and -t shape the text format only.
    #[arg(short = 'j', long = "json")]
    pub json: bool,

    /// Only execs by this user id.
    #[arg(short = 'u', long = "uid", value_name = "UID")]
    pub uid: Option<u32>,

    /// Only execs whose arguments, joined with spaces, match REGEX.
    #[arg(
        short = 'l',
        long = "line",
        value_name = "REGEX",
        allow_hyphen_values = true
    )]
    pub line: Option<String>,

    /// Quote arguments as a shell would, so that `cat "a b"` and `cat a b` differ.
    #[arg(short = 'q', long = "quote")]
    pub quote: bool,

    /// Capture at most BYTES of each command line; longer ones are cut and flagged.
    #[arg(long = "max-arg-bytes", value_name = "BYTES",
          default_value_t = tracer_common::ARGV_MAX as u32,
          value_parser = clap::value_parser!(u32).range(1..=tracer_common::ARGV_MAX as i64))]
    pub max_arg_bytes: u32,

    /// After each exec, its launch chain: who forked whom up to init, exited parents and
    /// adoptions included; reparenting is shown as it happens.
    #[arg(short = 'c', long = "chain")]
    pub chain: bool,

    /// Only events of process PID and its descendants, including those born during the
    /// trace and those later adopted by a process outside the subtree.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,

    /// On exit, print the tree of processes seen: commands, exit status, lifetime, adoptions.
    #[arg(long = "tree")]
    pub tree: bool,

    /// Exited processes remembered for chains and the tree; older ones are forgotten.
    #[arg(long = "max-exited", value_name = "N",
          default_value_t = crate::procs::DEFAULT_EXITED_CAPACITY as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_exited: u32,

    /// On exit, print a table of execs per command (count, failed, first and last seen).
    #[arg(long = "summary")]
    pub summary: bool,

    /// Size of the kernel's ring buffer: a power of two, at least 4096 (K and M suffixes).
    #[arg(long = "buffer-size", value_name = "BYTES", default_value = "8M",
          value_parser = parse_buffer_size)]
    pub buffer_size: u32,

    /// Read kernel struct offsets from this BTF file instead of /sys/kernel/btf/vmlinux.
    #[arg(long = "btf", value_name = "FILE")]
    pub btf: Option<PathBuf>,

    /// More messages on stderr: -v shows what was attached and the offsets found, and the
    /// kernel side's log; -vv adds debugging detail.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print a man page (`man`) or a shell completion script (`bash`, `zsh`, `fish`,
    /// `elvish`, `powershell`) to stdout, made from these very options, and exit.
    #[arg(long = "generate", value_name = "WHAT", hide = true)]
    pub generate: Option<String>,

    /// Print the version.
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,

    /// Only execs whose process name matches this regex.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

/// Writes what `--generate WHAT` asks for.
pub fn generate(what: &str, out: &mut dyn std::io::Write) -> Result<(), String> {
    use clap::CommandFactory;
    use clap_complete::Shell;

    let mut command = Cli::command();
    if what == "man" {
        return clap_mangen::Man::new(command)
            .render(out)
            .map_err(|e| format!("cannot write the man page: {e}"));
    }
    let shell: Shell = what.parse().map_err(|_| {
        format!("--generate takes man, bash, zsh, fish, elvish or powershell, not {what:?}")
    })?;
    clap_complete::generate(shell, &mut command, "tracer", out);
    Ok(())
}

/// Longest `-d`: a year, far beyond any trace, and well inside what a `Duration` holds.
const MAX_SECS: f64 = 366.0 * 24.0 * 3600.0;

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= MAX_SECS => Ok(v),
        _ => Err(format!(
            "expected a positive number of seconds, at most {MAX_SECS}"
        )),
    }
}

fn parse_buffer_size(s: &str) -> Result<u32, String> {
    let (digits, scale) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let value = digits
        .parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(scale))
        .filter(|v| *v <= 1 << 30)
        .ok_or("expected a size such as 65536, 64K or 16M, at most 1G")?;
    if value < 4096 || !value.is_power_of_two() {
        return Err("the ring buffer size must be a power of two of at least 4096".into());
    }
    Ok(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tracer").chain(args.iter().copied()))
    }

    #[test]
    fn perf_tools_flags_parse_as_in_execsnoop() {
        let cli = parse(&["-a", "11", "-r", "-t", "-d", "2.5", "bash"]).unwrap();
        assert_eq!(cli.max_args, 11);
        assert!(cli.reexec && cli.time);
        assert_eq!(cli.duration, Some(2.5));
        assert_eq!(cli.name.as_deref(), Some("bash"));
        let cli = parse(&["-rt"]).unwrap();
        assert!(cli.reexec && cli.time);
        assert_eq!(cli.max_args, 8);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["-a", "0"]).is_err());
        assert!(parse(&["-a", "8193"]).is_err());
        assert!(parse(&["-d", "-1"]).is_err());
        assert!(parse(&["-d", "1e99"]).is_err());
        assert!(parse(&["-d", "NaN"]).is_err());
        assert!(parse(&["--max-arg-bytes", "16385"]).is_err());
        assert!(parse(&["--buffer-size", "5000"]).is_err());
    }

    #[test]
    fn buffer_sizes_take_suffixes() {
        assert_eq!(parse_buffer_size("64K"), Ok(65536));
        assert_eq!(parse_buffer_size("16M"), Ok(16 << 20));
        assert_eq!(parse_buffer_size("4096"), Ok(4096));
        assert!(parse_buffer_size("2G").is_err());
    }
}
