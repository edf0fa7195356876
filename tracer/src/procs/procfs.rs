//! Reading `/proc`: the processes running at start-up, and the parent of an orphan.

use std::{
    fs::{self, File},
    io::{self, Read},
    path::Path,
};

use log::debug;

use super::{Origin, ParentRef, Proc, ProcId, ProcParent, ProcessTable};

/// The fields of `/proc/PID/stat` the table needs.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Stat<'a> {
    pub pid: u32,
    pub comm: &'a [u8],
    pub ppid: u32,
    /// Field 22: start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat`. The name is in parentheses and may itself hold spaces and `)`,
/// so it ends at the *last* `)`.
pub(super) fn parse_stat(stat: &[u8]) -> Option<Stat<'_>> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = parse_decimal(stat[..open].trim_ascii())?;
    let comm = &stat[open + 1..close];

    // After the name: field 3 (state) onwards.
    let mut fields = stat[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let _state = fields.next()?;
    let ppid = parse_decimal(fields.next()?)?;
    let start_ticks = parse_decimal(fields.nth(22 - 5)?)?;
    Some(Stat {
        pid: u32::try_from(pid).ok()?,
        comm,
        ppid: u32::try_from(ppid).ok()?,
        start_ticks,
    })
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Nanoseconds per clock tick, the unit of `/proc` start times (`sysconf(_SC_CLK_TCK)`, 100
/// on every mainstream architecture).
pub(super) fn clock_tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    match u64::try_from(hz) {
        Ok(hz) if hz > 0 => 1_000_000_000 / hz,
        _ => 10_000_000,
    }
}

impl ProcessTable {
    /// Adds every process listed under `root` (normally `/proc`) that the table does not
    /// hold yet, each with its parent, name, start time and command line, and remembers
    /// `root` for finding orphans' new parents later. Call it once, before the first
    /// [`ProcessTable::apply`], ideally after the programs are attached so that no process
    /// falls between the walk and the first event. Processes that exit during the walk are
    /// skipped. Returns how many were added.
    pub fn seed_from_proc(&mut self, root: &Path) -> io::Result<usize> {
        self.proc_root = root.to_path_buf();
        let entries = fs::read_dir(root).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot list {}: {e}", root.display()))
        })?;
        let as_of_ns = (self.now)();

        let mut added = Vec::new();
        let mut stat_buf = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if self.live.contains_key(&pid) {
                continue;
            }
            let dir = entry.path();
            stat_buf.clear();
            if File::open(dir.join("stat"))
                .and_then(|mut f| f.read_to_end(&mut stat_buf))
                .is_err()
            {
                continue;
            }
            let Some(stat) = parse_stat(&stat_buf).filter(|s| s.pid == pid) else {
                debug!("{}/stat does not parse; skipped", dir.display());
                continue;
            };
            let id = ProcId {
                pid,
                start_ns: stat.start_ticks * self.tick_ns,
            };
            let mut proc = Proc::new(id, Origin::Proc, ParentRef::Unknown, stat.comm, as_of_ns);
            // Kernel threads and zombies have an empty command line.
            let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
            if !cmdline.is_empty() {
                let args = cmdline.strip_suffix(b"\0").unwrap_or(&cmdline);
                proc.execs.push(args.split(|&b| b == 0), false);
            }
            added.push((id, stat.ppid));
            self.procs.insert(id, proc);
            self.live.insert(pid, id);
        }

        // Parents once all are in, whatever the order of the walk.
        for &(id, ppid) in &added {
            let parent = self.parent_ref(ppid);
            self.set_parent(id, ParentRef::Unknown, parent, as_of_ns);
            self.set_orig_parent(id, parent);
        }
        Ok(added.len())
    }

    /// What `/proc` says now of `child`'s parent, after checking that the pid still belongs to
    /// the same process.
    pub(super) fn read_parent(&mut self, child: ProcId) -> ProcParent {
        let Some(origin) = self.procs.get(&child).map(|p| p.origin) else {
            return ProcParent::Gone;
        };
        let mut path = self.proc_root.clone();
        path.push(itoa(child.pid, &mut [0; 20]));
        path.push("stat");
        self.stat_buf.clear();
        if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut self.stat_buf)) {
            if e.kind() != io::ErrorKind::NotFound {
                debug!("cannot read {}: {e}", path.display());
            }
            return ProcParent::Gone;
        }
        let Some(stat) = parse_stat(&self.stat_buf) else {
            debug!("{} does not parse", path.display());
            return ProcParent::Gone;
        };
        let (ppid, start_ns) = (stat.ppid, stat.start_ticks * self.tick_ns);
        if !self.same_start(child.start_ns, origin, start_ns) {
            // The pid is another process's now.
            return ProcParent::Gone;
        }
        ProcParent::Ppid(ppid)
    }
}

/// `n` in decimal, as a path component.
fn itoa(n: u32, buf: &mut [u8; 20]) -> &str {
    // Only ASCII digits are written.
    std::str::from_utf8(crate::output::decimal(n.into(), buf)).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_name_ends_at_the_last_parenthesis() {
        let stat = b"4242 (a) b (c)) S 4240 4242 4100 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 \
                     31415 5271552 192 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                pid: 4242,
                comm: b"a) b (c)",
                ppid: 4240,
                start_ticks: 31415,
            })
        );
    }

    #[test]
    fn stat_without_a_start_time_does_not_parse() {
        assert_eq!(parse_stat(b"1 (init) S 0 1 1 0"), None);
        assert_eq!(parse_stat(b"1 init) S 0"), None);
        assert_eq!(parse_stat(b""), None);
    }

    #[test]
    fn pid_is_written_in_decimal_for_paths() {
        assert_eq!(itoa(0, &mut [0; 20]), "0");
        assert_eq!(itoa(4_194_304, &mut [0; 20]), "4194304");
        assert_eq!(itoa(u32::MAX, &mut [0; 20]), "4294967295");
    }
}
