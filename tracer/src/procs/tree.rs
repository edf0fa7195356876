//! `--tree`: the processes of the trace, nested by who forked whom.

use std::collections::{HashMap, HashSet};

use super::{
    Origin, ParentRef, Proc, ProcId, ProcessTable, State,
    chain::{push_comm, push_unknown},
    push_exit, push_secs_millis,
};
use crate::output::{escape::escape, push_u64};

impl ProcessTable {
    /// Writes the processes seen during the trace (forked, exec'd, exited or reparented
    /// while tracing) and their ancestors, one per line, each under the process that forked
    /// it, siblings by start time then pid:
    ///
    /// ```text
    /// 1 systemd
    /// └─ 100 bash
    ///    ├─ 200 sh -c 'sleep 1 &' (exit 0, 0.002s)
    ///    │  └─ 201 sleep 1 (exit 0, 1.001s, adopted by 1)
    ///    └─ 202 true (killed by SIGKILL, 0.100s)
    /// ```
    ///
    /// A line shows the pid and the command lines the process exec'd, joined by ` → ` (`…`
    /// where execs were not kept), or its name if it exec'd nothing. In parentheses, for the
    /// processes seen: `running` or how it ended, its lifetime when its fork was traced, each
    /// adoption, `no exec` for a fork that never exec'd; for a process whose parent is not in
    /// the table, why.
    ///
    /// With `subtree`, only that process's subtree ([`ProcessTable::in_subtree`]) is shown,
    /// rooted at it.
    pub fn render_tree(&self, subtree: Option<u32>, out: &mut Vec<u8>) {
        let mut included = HashSet::new();
        let shown = |p: &&Proc| p.seen && subtree.is_none_or(|root| self.proc_in_subtree(root, p));
        for proc in self.procs.values().filter(shown) {
            let mut id = proc.id;
            while included.insert(id) {
                if subtree == Some(id.pid) {
                    break;
                }
                match self.procs.get(&id).map(|p| p.orig_parent) {
                    Some(ParentRef::Known(parent)) if self.procs.contains_key(&parent) => {
                        id = parent;
                    }
                    _ => break,
                }
            }
        }

        let mut roots = Vec::new();
        let mut children: HashMap<ProcId, Vec<ProcId>> = HashMap::new();
        for &id in &included {
            match self.procs.get(&id).map(|p| p.orig_parent) {
                Some(ParentRef::Known(parent)) if included.contains(&parent) => {
                    children.entry(parent).or_default().push(id);
                }
                _ => roots.push(id),
            }
        }
        let by_start = |a: &ProcId, b: &ProcId| (a.start_ns, a.pid).cmp(&(b.start_ns, b.pid));
        roots.sort_by(by_start);
        for list in children.values_mut() {
            list.sort_by(by_start);
        }

        // Depth first without recursion: a chain of forks can be thousands deep.
        // `open[i]`: the ancestor at depth i + 1 has siblings still to come.
        let mut stack: Vec<(ProcId, usize, bool)> = Vec::new();
        let mut open: Vec<bool> = Vec::new();
        for (i, &root) in roots.iter().enumerate().rev() {
            stack.push((root, 0, i + 1 == roots.len()));
        }
        while let Some((id, depth, last)) = stack.pop() {
            if depth == 0 {
                open.clear();
            } else {
                open.truncate(depth - 1);
                for &more in &open {
                    out.extend_from_slice(if more { "│  " } else { "   " }.as_bytes());
                }
                out.extend_from_slice(if last { "└─ " } else { "├─ " }.as_bytes());
                open.push(!last);
            }
            if let Some(proc) = self.procs.get(&id) {
                // The root of `subtree` has a parent; it is only not shown.
                self.push_tree_line(out, proc, depth == 0 && subtree != Some(id.pid));
            }

            if let Some(kids) = children.get(&id) {
                for (i, &kid) in kids.iter().enumerate().rev() {
                    stack.push((kid, depth + 1, i + 1 == kids.len()));
                }
            }
        }
    }

    fn push_tree_line(&self, out: &mut Vec<u8>, proc: &Proc, root: bool) {
        push_u64(out, proc.id.pid.into());
        out.push(b' ');
        push_command(out, proc);

        let mut facts = Facts::new(out);
        if proc.seen {
            match proc.state {
                State::Running => facts.next().extend_from_slice(b"running"),
                State::Exited(exit) => {
                    push_exit(facts.next(), &exit);
                    if proc.origin == Origin::Fork {
                        let lifetime = exit.ktime_ns.saturating_sub(proc.id.start_ns);
                        push_secs_millis(facts.next(), lifetime);
                    }
                }
                State::ExitNotSeen => facts.next().extend_from_slice(b"exit not seen"),
            }
            for (i, (_, adoption)) in proc.reparents.iter().enumerate() {
                let out = facts.next();
                out.extend_from_slice(if i == 0 { b"adopted by " } else { b"then by " });
                push_u64(out, adoption.new_ppid.into());
            }
            if proc.origin == Origin::Fork && proc.exec_count == 0 {
                facts.next().extend_from_slice(b"no exec");
            }
        }
        if root {
            let unknown = match proc.orig_parent {
                ParentRef::None => None,
                ParentRef::Known(parent) => Some((Some(parent.pid), super::Unknown::Evicted)),
                ParentRef::Unseen(ppid) => Some((Some(ppid), self.unknown_why())),
                ParentRef::Unknown => Some((None, self.unknown_why())),
            };
            if let Some((ppid, why)) = unknown {
                let out = facts.next();
                if let Some(ppid) = ppid {
                    out.extend_from_slice(b"ppid ");
                    push_u64(out, ppid.into());
                    out.extend_from_slice(b", ");
                }
                push_unknown(out, why);
            }
        }
        facts.end();
        out.push(b'\n');
    }
}

/// The command lines a process exec'd, or its name.
fn push_command(out: &mut Vec<u8>, proc: &Proc) {
    let kept = proc.execs.kept;
    if kept == 0 {
        push_comm(out, proc.comm.as_bytes());
        return;
    }
    for (i, argv) in proc.execs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(" → ".as_bytes());
        }
        if i + 1 == kept && proc.execs.dropped() > 0 {
            out.extend_from_slice("… → ".as_bytes());
        }
        for (j, arg) in argv.iter().enumerate() {
            if j > 0 {
                out.push(b' ');
            }
            escape(arg, out);
        }
        if argv.is_empty() {
            push_comm(out, proc.comm.as_bytes());
        }
        if argv.is_cut() {
            out.extend_from_slice(b" [...]");
        }
    }
}

/// ` (a, b, c)`, opened before the first fact and closed only if one was written.
struct Facts<'a> {
    out: &'a mut Vec<u8>,
    count: usize,
}

impl<'a> Facts<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out, count: 0 }
    }

    /// Where the next fact goes, after the separator.
    fn next(&mut self) -> &mut Vec<u8> {
        self.out
            .extend_from_slice(if self.count == 0 { b" (" } else { b", " });
        self.count += 1;
        self.out
    }

    fn end(self) {
        if self.count > 0 {
            self.out.push(b')');
        }
    }
}
