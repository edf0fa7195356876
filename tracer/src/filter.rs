//! Which execs are shown: process name, argument line, uid, failed execs, and re-execs.

use regex::bytes::Regex;
use rustc_hash::FxHashMap;

use crate::event::{Event, EventKind};

pub struct Filter {
    name: Option<Regex>,
    line: Option<Regex>,
    uid: Option<u32>,
    failed: bool,
    reexec: bool,
    others: bool,
    /// Start time of the process on each pid that has shown an exec; without `reexec`, its
    /// next exec is hidden. A new process on the pid has another start time (and, when they
    /// are traced, a fork or exit event clears the entry). One entry per pid at most.
    shown: FxHashMap<u32, u64>,
    joined: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("bad {what} regex: {detail}")]
pub struct RegexError {
    what: &'static str,
    detail: String,
}

pub struct FilterOptions<'a> {
    pub name: Option<&'a str>,
    pub line: Option<&'a str>,
    pub uid: Option<u32>,
    pub failed: bool,
    pub reexec: bool,
    /// Show fork and exit events too (JSON), subject to the uid and name filters; `line`,
    /// which is about arguments, hides them.
    pub others: bool,
}

fn compile(what: &'static str, pattern: Option<&str>) -> Result<Option<Regex>, RegexError> {
    pattern
        .map(|p| {
            Regex::new(p).map_err(|e| RegexError {
                what,
                // The regex crate's message spans several lines; keep its last, which says
                // what is wrong.
                detail: e
                    .to_string()
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .unwrap_or("invalid")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string(),
            })
        })
        .transpose()
}

impl Filter {
    pub fn new(opts: &FilterOptions<'_>) -> Result<Self, RegexError> {
        Ok(Self {
            name: compile("name", opts.name)?,
            line: compile("--line", opts.line)?,
            uid: opts.uid,
            failed: opts.failed,
            reexec: opts.reexec,
            others: opts.others,
            shown: FxHashMap::default(),
            joined: Vec::new(),
        })
    }

    /// Whether `ev` should be shown. Fork and exit events also reset the re-exec state of
    /// their PID.
    pub fn shown(&mut self, ev: &Event) -> bool {
        let exec = match &ev.kind {
            EventKind::Exec(exec) => exec,
            EventKind::Fork(_) | EventKind::Exit(_) => {
                self.shown.remove(&ev.pid);
                return self.others
                    && self.line.is_none()
                    && self.uid.is_none_or(|uid| uid == ev.uid)
                    && self
                        .name
                        .as_ref()
                        .is_none_or(|name| name.is_match(&ev.comm));
            }
        };
        let failed = exec.retval < 0;
        if failed && !self.failed {
            return false;
        }
        if self.uid.is_some_and(|uid| uid != ev.uid) {
            return false;
        }
        if let Some(name) = &self.name {
            // A failed exec keeps the caller's name; match the program it tried to run too.
            let base = exec.filename.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
            if !name.is_match(&ev.comm) && !(failed && name.is_match(base)) {
                return false;
            }
        }
        if let Some(line) = &self.line {
            self.joined.clear();
            for (i, arg) in exec.argv.iter().enumerate() {
                if i > 0 {
                    self.joined.push(b' ');
                }
                self.joined.extend_from_slice(arg);
            }
            if !line.is_match(&self.joined) {
                return false;
            }
        }
        // A failed exec leaves the process as it was, so it does not count as its exec.
        failed || self.reexec || self.shown.insert(ev.pid, exec.start_ns) != Some(exec.start_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Fork};

    fn exec(pid: u32, comm: &str, argv: &[&str], retval: i32) -> Event {
        Event {
            ktime_ns: 1,
            pid,
            tid: pid,
            ppid: 1,
            uid: 1000,
            comm: crate::event::Comm::new(comm.as_bytes()),
            flags: 0,
            kind: EventKind::Exec(Exec {
                start_ns: 1,
                old_tid: pid,
                retval,
                filename: format!("/bin/{comm}").into_bytes(),
                argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
                argv_size: 0,
            }),
        }
    }

    fn fork(pid: u32) -> Event {
        Event {
            kind: EventKind::Fork(Fork {
                caller_pid: 1,
                caller_tid: 1,
            }),
            ..exec(pid, "sh", &[], 0)
        }
    }

    fn filter(opts: FilterOptions<'_>) -> Filter {
        Filter::new(&opts).unwrap()
    }

    const ALL: FilterOptions<'static> = FilterOptions {
        name: None,
        line: None,
        uid: None,
        failed: false,
        reexec: false,
        others: false,
    };

    #[test]
    fn a_reexec_is_hidden_until_the_pid_forks_anew() {
        let mut f = filter(ALL);
        assert!(f.shown(&exec(10, "sh", &["sh"], 0)));
        assert!(!f.shown(&exec(10, "true", &["true"], 0)));
        assert!(!f.shown(&fork(10)));
        assert!(f.shown(&exec(10, "true", &["true"], 0)));
    }

    #[test]
    fn forks_and_exits_are_shown_only_when_asked_and_never_with_a_line_filter() {
        let mut f = filter(ALL);
        assert!(!f.shown(&fork(10)));
        let mut f = filter(FilterOptions {
            others: true,
            ..ALL
        });
        assert!(f.shown(&fork(10)));
        let mut f = filter(FilterOptions {
            others: true,
            name: Some("^bash$"),
            ..ALL
        });
        assert!(!f.shown(&fork(10)));
        let mut f = filter(FilterOptions {
            others: true,
            line: Some("x"),
            ..ALL
        });
        assert!(!f.shown(&fork(10)));
    }

    #[test]
    fn a_new_process_on_the_same_pid_is_shown_without_a_fork_event() {
        let mut f = filter(ALL);
        assert!(f.shown(&exec(10, "sh", &["sh"], 0)));
        let mut newer = exec(10, "sh", &["sh"], 0);
        if let EventKind::Exec(e) = &mut newer.kind {
            e.start_ns = 2;
        }
        assert!(f.shown(&newer));
        assert!(!f.shown(&newer));
    }

    #[test]
    fn with_reexec_every_exec_is_shown() {
        let mut f = filter(FilterOptions {
            reexec: true,
            ..ALL
        });
        assert!(f.shown(&exec(10, "sh", &["sh"], 0)));
        assert!(f.shown(&exec(10, "true", &["true"], 0)));
    }

    #[test]
    fn name_matches_the_process_name_and_line_the_arguments() {
        let mut f = filter(FilterOptions {
            name: Some("^ech"),
            ..ALL
        });
        assert!(f.shown(&exec(1, "echo", &["x"], 0)));
        assert!(!f.shown(&exec(2, "cat", &["echo"], 0)));
        let mut f = filter(FilterOptions {
            line: Some("a b"),
            ..ALL
        });
        assert!(f.shown(&exec(3, "cat", &["cat", "a", "b"], 0)));
        assert!(!f.shown(&exec(4, "a b", &["cat", "ab"], 0)));
    }

    #[test]
    fn failed_execs_need_the_flag_and_uid_must_match() {
        let mut f = filter(ALL);
        assert!(!f.shown(&exec(1, "sh", &["nope"], -2)));
        let mut f = filter(FilterOptions {
            failed: true,
            uid: Some(0),
            ..ALL
        });
        assert!(!f.shown(&exec(1, "sh", &["nope"], -2)));
        let mut f = filter(FilterOptions {
            failed: true,
            ..ALL
        });
        assert!(f.shown(&exec(1, "sh", &["nope"], -2)));
    }

    #[test]
    fn a_bad_regex_is_one_line() {
        let err = Filter::new(&FilterOptions {
            name: Some("("),
            ..ALL
        })
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.starts_with("bad name regex: "), "{text}");
    }
}
