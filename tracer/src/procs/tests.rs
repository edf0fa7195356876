//! Synthetic event sequences against a fake `/proc` in a temporary directory.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use tracer_common::flags;

use super::*;
use crate::event::{Exec, Exit, Fork};

/// Milliseconds of boot time, as event stamps.
const fn ms(ms: u64) -> u64 {
    ms * 1_000_000
}

/// A `/proc` of our own making, removed when dropped.
struct FakeProc {
    root: PathBuf,
    tick_ns: u64,
}

impl FakeProc {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "tracer-procs-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Self {
            root,
            tick_ns: procfs::clock_tick_ns(),
        }
    }

    /// `/proc/PID/stat` (fields as the kernel writes them) and `/proc/PID/cmdline`.
    fn set(&self, pid: u32, comm: &str, ppid: u32, start_ns: u64, cmdline: &[&str]) {
        let dir = self.root.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        let ticks = start_ns / self.tick_ns;
        let stat = format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {ticks} \
             8531968 896 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        );
        fs::write(dir.join("stat"), stat).unwrap();
        let mut bytes = Vec::new();
        for arg in cmdline {
            bytes.extend_from_slice(arg.as_bytes());
            bytes.push(0);
        }
        fs::write(dir.join("cmdline"), bytes).unwrap();
    }

    fn remove(&self, pid: u32) {
        fs::remove_dir_all(self.root.join(pid.to_string())).unwrap();
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A table seeded from `fake`, whose clock says /proc was read at boot, so that no event is
/// older than a reading (tests of that rule set their own clock).
fn table(fake: &FakeProc, exited_capacity: usize) -> ProcessTable {
    let mut table = ProcessTable::new(exited_capacity);
    table.now = || 0;
    table.seed_from_proc(&fake.root).unwrap();
    table
}

fn event(ktime_ns: u64, pid: u32, ppid: u32, comm: &str, kind: EventKind) -> Event {
    Event {
        ktime_ns,
        pid,
        tid: pid,
        ppid,
        uid: 0,
        comm: crate::event::Comm::new(comm.as_bytes()),
        flags: 0,
        kind,
    }
}

fn fork(ktime_ns: u64, pid: u32, ppid: u32, caller_tid: u32, comm: &str) -> Event {
    let kind = EventKind::Fork(Fork {
        caller_pid: ppid,
        caller_tid,
    });
    event(ktime_ns, pid, ppid, comm, kind)
}

fn exec(ktime_ns: u64, pid: u32, ppid: u32, argv: &[&str]) -> Event {
    let comm = argv[0].rsplit('/').next().unwrap_or_default();
    let kind = EventKind::Exec(Exec {
        start_ns: 1,
        old_tid: pid,
        retval: 0,
        filename: argv[0].as_bytes().to_vec(),
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        argv_size: 0,
    });
    event(ktime_ns, pid, ppid, comm, kind)
}

fn exit(ktime_ns: u64, pid: u32, ppid: u32, exit_code: u32) -> Event {
    event(ktime_ns, pid, ppid, "", EventKind::Exit(Exit { exit_code }))
}

/// Applies `events` and returns the reparents they revealed.
fn apply(table: &mut ProcessTable, events: &[Event]) -> Vec<Reparent> {
    let mut reparents = Vec::new();
    for ev in events {
        table.apply(ev, &mut reparents);
    }
    reparents
}

fn chain_text(table: &ProcessTable, pid: u32, now_ns: u64) -> String {
    let mut out = Vec::new();
    table.write_chain_text(pid, now_ns, &mut out);
    String::from_utf8(out).unwrap()
}

fn chain_pids(table: &ProcessTable, pid: u32) -> Vec<u32> {
    table
        .chain(pid)
        .unwrap()
        .links
        .iter()
        .map(|l| l.pid)
        .collect()
}

fn tree(table: &ProcessTable) -> String {
    let mut out = Vec::new();
    table.render_tree(None, &mut out);
    String::from_utf8(out).unwrap()
}

fn adopted(ktime_ns: u64, pid: u32, old_ppid: u32, new_ppid: u32) -> Reparent {
    Reparent {
        ktime_ns,
        pid,
        old_ppid,
        new_ppid,
        via: ReparentSource::Proc,
    }
}

/// pid 1 and the subreaper T (pid 100, a test process) running at start-up.
fn host() -> FakeProc {
    let fake = FakeProc::new("host");
    fake.set(1, "systemd", 0, 0, &["/sbin/init"]);
    fake.set(100, "tester", 1, ms(5_000), &["./tester", "--subreaper"]);
    fake
}

/// T's thread 105 forks the launcher L (200), which execs `containerd-shim start`; L's
/// thread 203 forks the daemon D (201).
fn shim_start() -> [Event; 3] {
    [
        fork(ms(10_000), 200, 100, 105, "tester"),
        exec(ms(10_001), 200, 100, &["containerd-shim", "start"]),
        fork(ms(10_005), 201, 200, 203, "containerd-shim"),
    ]
}

#[test]
fn daemon_launched_by_a_short_lived_launcher_is_adopted_by_the_subreaper() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    assert_eq!(apply(&mut table, &shim_start()), []);

    // exit_notify has run by the time userspace reads /proc.
    fake.set(
        201,
        "containerd-shim",
        100,
        ms(10_005),
        &["containerd-shim"],
    );
    let reparents = apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]);
    assert_eq!(reparents, [adopted(ms(10_010), 201, 200, 100)]);

    // D's exec names its new parent: nothing more to report.
    let reparents = apply(&mut table, &[exec(ms(10_012), 201, 100, &["daemon", "-d"])]);
    assert_eq!(reparents, []);
    assert_eq!(chain_pids(&table, 201), [201, 200, 100, 1]);
    assert_eq!(table.chain(201).unwrap().end, ChainEnd::Top);
    assert_eq!(
        chain_text(&table, 201, ms(10_012)),
        "    chain: 201 daemon -d [adopted by 100 at +0.005s] <- 200 containerd-shim start \
         (exited 0.002s ago) <- 100 tester --subreaper <- 1 systemd\n"
    );
    assert_eq!(
        table.reparents(201).collect::<Vec<_>>(),
        [Adoption {
            ktime_ns: ms(10_010),
            old_ppid: 200,
            new_ppid: 100,
            via: ReparentSource::Proc,
        }]
    );
}

#[test]
fn daemon_that_execs_before_the_launcher_exits_is_adopted_at_the_exit() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    let mut events = shim_start().to_vec();
    events.push(exec(ms(10_006), 201, 200, &["daemon", "-d"]));
    assert_eq!(apply(&mut table, &events), []);

    fake.set(201, "daemon", 100, ms(10_005), &["daemon", "-d"]);
    let reparents = apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]);
    assert_eq!(reparents, [adopted(ms(10_010), 201, 200, 100)]);
    assert_eq!(
        chain_text(&table, 201, ms(10_310)),
        "    chain: 201 daemon -d [adopted by 100 at +0.005s] <- 200 containerd-shim start \
         (exited 0.300s ago) <- 100 tester --subreaper <- 1 systemd\n"
    );
}

#[test]
fn grandchild_whose_whole_ancestry_exits_keeps_its_launch_chain() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    let events = [
        fork(ms(10_000), 200, 100, 100, "tester"),
        exec(ms(10_001), 200, 100, &["sh", "-c", "sh -c 'sleep 9 &' &"]),
        fork(ms(10_002), 201, 200, 200, "sh"),
        fork(ms(10_003), 202, 201, 201, "sh"),
        exec(ms(10_004), 202, 201, &["sleep", "9"]),
    ];
    assert_eq!(apply(&mut table, &events), []);

    fake.set(201, "sh", 100, ms(10_002), &["sh"]);
    let reparents = apply(&mut table, &[exit(ms(10_005), 200, 100, 0)]);
    assert_eq!(reparents, [adopted(ms(10_005), 201, 200, 100)]);

    fake.set(202, "sleep", 100, ms(10_003), &["sleep", "9"]);
    let reparents = apply(&mut table, &[exit(ms(10_006), 201, 100, 0)]);
    assert_eq!(reparents, [adopted(ms(10_006), 202, 201, 100)]);

    assert_eq!(chain_pids(&table, 202), [202, 201, 200, 100, 1]);
    assert_eq!(
        chain_text(&table, 202, ms(10_006)),
        "    chain: 202 sleep 9 [adopted by 100 at +0.003s] <- 201 sh -c sh -c 'sleep 9 &' & \
         [adopted by 100 at +0.003s] (exited 0.000s ago) <- 200 sh -c sh -c 'sleep 9 &' & \
         (exited 0.001s ago) <- 100 tester --subreaper <- 1 systemd\n"
    );
}

#[test]
fn exit_reparents_exactly_the_children_still_running() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    let mut events = vec![fork(ms(10_000), 200, 100, 100, "tester")];
    for pid in 201..=210 {
        events.push(fork(ms(10_001), pid, 200, 200, "tester"));
        fake.set(pid, "tester", 100, ms(10_001), &["tester"]);
    }
    for pid in [203, 210, 201, 207] {
        events.push(exit(ms(10_002), pid, 200, 0));
    }
    // One adopted early, by an event: no longer 200's.
    events.push(exec(ms(10_003), 205, 1, &["moved"]));
    assert_eq!(apply(&mut table, &events).len(), 1);

    let mut reparents = apply(&mut table, &[exit(ms(10_004), 200, 100, 0)]);
    reparents.sort_by_key(|r| r.pid);
    let expected: Vec<Reparent> = [202, 204, 206, 208, 209]
        .into_iter()
        .map(|pid| adopted(ms(10_004), pid, 200, 100))
        .collect();
    assert_eq!(reparents, expected);
}

#[test]
fn recycled_pid_starts_with_no_history_or_children() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    let events = [
        fork(ms(10_000), 300, 100, 100, "tester"),
        exec(ms(10_001), 300, 100, &["old", "one"]),
        fork(ms(10_002), 301, 300, 300, "old"),
    ];
    apply(&mut table, &events);
    fake.set(301, "old", 1, ms(10_002), &["old"]);
    assert_eq!(
        apply(&mut table, &[exit(ms(10_003), 300, 100, 0)]),
        [adopted(ms(10_003), 301, 300, 1)]
    );

    // pid 300 again, a new process.
    apply(&mut table, &[fork(ms(20_000), 300, 100, 100, "tester")]);
    let chain = table.chain(300).unwrap();
    assert_eq!(chain.links[0].start_ns, ms(20_000));
    // Not the old 300's `old one`: what it inherited from its parent, 100.
    assert_eq!(
        chain.links[0].argv.iter().collect::<Vec<_>>(),
        [&b"./tester"[..], b"--subreaper"]
    );
    assert_eq!(chain.links[0].adopted, None);
    assert_eq!(table.reparents(300).count(), 0);

    // The new 300 has no children: its exit reads nothing and reparents nothing, though
    // the old 300's child is still running.
    assert_eq!(apply(&mut table, &[exit(ms(20_001), 300, 100, 0)]), []);
    // The old child's chain still goes through the old 300.
    let chain = table.chain(301).unwrap();
    assert_eq!(chain.links[1].pid, 300);
    assert_eq!(chain.links[1].start_ns, ms(10_000));
    assert_eq!(
        chain.links[1].argv.iter().collect::<Vec<_>>(),
        [b"old", b"one"]
    );
}

#[test]
fn recycled_pid_whose_exit_was_lost_retires_the_old_process() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(
        &mut table,
        &[
            fork(ms(10_000), 300, 100, 100, "tester"),
            exec(ms(10_001), 300, 100, &["old"]),
            fork(ms(10_002), 301, 300, 300, "old"),
        ],
    );
    table.note_lost(1);
    // 300's exit was the event lost; the pid comes back.
    apply(&mut table, &[fork(ms(20_000), 300, 100, 100, "tester")]);
    assert_eq!(table.chain(300).unwrap().links[0].start_ns, ms(20_000));
    let chain = table.chain(301).unwrap();
    assert_eq!(chain.links[1].state, State::ExitNotSeen);
    assert_eq!(
        chain_text(&table, 301, ms(20_000)),
        "    chain: 301 old <- 300 old (exit not seen) <- 100 tester --subreaper <- 1 systemd\n"
    );
}

#[test]
fn seeded_process_seen_again_in_a_racing_fork_event_is_the_same_process() {
    let fake = host();
    // The /proc walk saw 250, forked by T after the programs were attached.
    fake.set(250, "tester", 100, ms(10_003), &["./tester"]);
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &[fork(ms(10_004), 250, 100, 100, "tester")]);
    assert_eq!(table.live_count(), 3);
    let chain = table.chain(250).unwrap();
    assert_eq!(chain.links[0].start_ns, ms(10_000));
    assert_eq!(chain.links[0].origin, Origin::Fork);
    assert_eq!(chain_pids(&table, 250), [250, 100, 1]);
}

#[test]
fn process_that_only_forks_appears_in_chains_and_in_the_tree() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(
        &mut table,
        &[
            fork(ms(10_000), 200, 100, 100, "tester"),
            fork(ms(10_001), 201, 200, 200, "tester"),
            exec(ms(10_002), 201, 200, &["/bin/true"]),
            exit(ms(10_003), 201, 200, 0),
        ],
    );
    assert_eq!(
        chain_text(&table, 201, ms(10_003)),
        "    chain: 201 true (exited 0.000s ago) <- 200 tester --subreaper <- 100 tester \
         --subreaper <- 1 systemd\n"
    );
    assert_eq!(
        tree(&table),
        concat!(
            "1 /sbin/init\n",
            "└─ 100 ./tester --subreaper\n",
            "   └─ 200 tester (running, no exec)\n",
            "      └─ 201 /bin/true (exit 0, 0.002s)\n",
        )
    );
}

#[test]
fn reparent_waits_while_proc_still_shows_the_dead_parent() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());

    // Userspace got ahead of exit_notify.
    fake.set(
        201,
        "containerd-shim",
        200,
        ms(10_005),
        &["containerd-shim"],
    );
    assert_eq!(apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]), []);
    assert_eq!(table.pending_count(), 1);
    let mut reparents = Vec::new();
    table.settle(ms(10_011), &mut reparents);
    assert_eq!(reparents, []);

    fake.set(
        201,
        "containerd-shim",
        100,
        ms(10_005),
        &["containerd-shim"],
    );
    table.settle(ms(10_012), &mut reparents);
    assert_eq!(reparents, [adopted(ms(10_010), 201, 200, 100)]);
    assert_eq!(table.pending_count(), 0);
    table.settle(ms(10_013), &mut reparents);
    assert_eq!(reparents.len(), 1);
}

#[test]
fn orphan_that_exits_while_waiting_is_dropped_without_a_reparent() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());
    fake.set(
        201,
        "containerd-shim",
        200,
        ms(10_005),
        &["containerd-shim"],
    );
    apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]);
    assert_eq!(table.pending_count(), 1);

    fake.remove(201);
    let mut reparents = Vec::new();
    table.settle(ms(10_011), &mut reparents);
    assert_eq!(reparents, []);
    assert_eq!(table.pending_count(), 0);
}

#[test]
fn orphan_whose_pid_was_reused_is_not_read_as_reparented() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());
    // /proc/201 is another process by now: it started a second later.
    fake.set(201, "other", 1, ms(11_005), &["other"]);
    assert_eq!(apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]), []);
    assert_eq!(table.pending_count(), 0);
}

#[test]
fn settle_gives_up_after_the_timeout_without_guessing() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());
    fake.set(
        201,
        "containerd-shim",
        200,
        ms(10_005),
        &["containerd-shim"],
    );
    apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]);

    let mut reparents = Vec::new();
    table.settle(ms(10_010) + SETTLE_TIMEOUT_NS - 1, &mut reparents);
    assert_eq!(table.pending_count(), 1);
    table.settle(ms(10_010) + SETTLE_TIMEOUT_NS, &mut reparents);
    assert_eq!(table.pending_count(), 0);
    assert_eq!(reparents, []);

    // The daemon's next event still tells.
    let later = exec(ms(12_000), 201, 100, &["daemon"]);
    assert_eq!(
        apply(&mut table, &[later]),
        [Reparent {
            ktime_ns: ms(10_010),
            pid: 201,
            old_ppid: 200,
            new_ppid: 100,
            via: ReparentSource::Event,
        }]
    );
}

#[test]
fn event_ppid_reveals_a_reparent_whose_parent_exit_was_lost() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());
    table.note_lost(1);

    // L's exit record was the one lost; D's exec shows it was adopted.
    let reparents = apply(&mut table, &[exec(ms(10_020), 201, 100, &["daemon"])]);
    assert_eq!(
        reparents,
        [Reparent {
            ktime_ns: ms(10_020),
            pid: 201,
            old_ppid: 200,
            new_ppid: 100,
            via: ReparentSource::Event,
        }]
    );
    // The chain still follows who forked whom.
    assert_eq!(chain_pids(&table, 201), [201, 200, 100, 1]);
}

#[test]
fn child_gone_from_proc_is_not_reparented_until_an_event_says_so() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());
    // No /proc/201: nothing to read, nothing guessed.
    assert_eq!(apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]), []);
    assert_eq!(table.pending_count(), 0);
    let reparents = apply(&mut table, &[exit(ms(10_011), 201, 1, 0)]);
    assert_eq!(
        reparents,
        [Reparent {
            ktime_ns: ms(10_010),
            pid: 201,
            old_ppid: 200,
            new_ppid: 1,
            via: ReparentSource::Event,
        }]
    );
}

#[test]
fn event_older_than_a_proc_reading_is_not_a_reparent() {
    let fake = host();
    fake.set(150, "reaper", 100, ms(6_000), &["reaper"]);
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    table.now = || ms(20_000);
    apply(
        &mut table,
        &[
            fork(ms(10_000), 200, 150, 150, "reaper"),
            fork(ms(10_001), 201, 200, 200, "reaper"),
        ],
    );
    // 200 and then 150 died before userspace looked: /proc already shows the second adopter.
    fake.set(201, "reaper", 100, ms(10_001), &["reaper"]);
    let reparents = apply(&mut table, &[exit(ms(10_010), 200, 150, 0)]);
    assert_eq!(reparents, [adopted(ms(10_010), 201, 200, 100)]);

    // Queued before 150's exit, so still naming 150: older than the reading.
    let reparents = apply(
        &mut table,
        &[
            exec(ms(10_011), 201, 150, &["worker"]),
            exit(ms(10_012), 150, 100, 0),
            exec(ms(10_013), 201, 100, &["worker2"]),
        ],
    );
    assert_eq!(reparents, []);
}

#[test]
fn a_process_whose_fork_was_lost_is_not_given_its_adopter_as_launcher() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    table.note_lost(1302);
    // 6001's fork (by a parent that exited since) was lost; its first event names init.
    apply(&mut table, &[exec(ms(10_000), 6001, 1, &["echo", "after"])]);
    assert_eq!(
        chain_text(&table, 6001, ms(10_000)),
        "    chain: 6001 echo after <- 1 [parent unknown: 1302 events lost]\n"
    );
}

#[test]
fn lost_events_make_unknown_parents_say_so() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    table.note_lost(3);
    // 499 was never seen: its fork, and whatever else, may have been lost.
    apply(&mut table, &[exec(ms(10_000), 500, 499, &["orphan"])]);
    assert_eq!(
        table.chain(500).unwrap().end,
        ChainEnd::Unknown {
            ppid: Some(499),
            why: Unknown::Lost(3),
        }
    );
    assert_eq!(
        chain_text(&table, 500, ms(10_000)),
        "    chain: 500 orphan <- 499 [parent unknown: 3 events lost]\n"
    );

    let mut ev = exec(ms(10_001), 600, 0, &["noparent"]);
    ev.flags = flags::PPID_UNREADABLE;
    apply(&mut table, &[ev]);
    assert_eq!(
        chain_text(&table, 600, ms(10_001)),
        "    chain: 600 noparent <- ? [parent unknown: 3 events lost]\n"
    );
    assert!(
        tree(&table).contains("500 orphan (running, ppid 499, parent unknown: 3 events lost)\n")
    );
}

#[test]
fn unknown_parent_without_lost_events_says_only_parent_unknown() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &[exec(ms(10_000), 500, 499, &["orphan"])]);
    assert_eq!(
        chain_text(&table, 500, ms(10_000)),
        "    chain: 500 orphan <- 499 [parent unknown]\n"
    );
}

#[test]
fn exited_ancestor_of_a_running_process_is_never_evicted_and_then_is() {
    let fake = host();
    let mut table = table(&fake, 2);
    apply(&mut table, &shim_start());
    fake.set(
        201,
        "containerd-shim",
        100,
        ms(10_005),
        &["containerd-shim"],
    );
    apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]);
    let churn = |table: &mut ProcessTable, first: u32| {
        for pid in first..first + 10 {
            let t = ms(11_000 + u64::from(pid));
            apply(
                table,
                &[fork(t, pid, 100, 100, "tester"), exit(t + 1, pid, 100, 0)],
            );
        }
    };

    // Ten exits through a table that keeps two: L stays, the running daemon descends from it.
    churn(&mut table, 300);
    assert_eq!(chain_pids(&table, 201), [201, 200, 100, 1]);
    assert!(table.id_of(200).is_some());
    assert!(
        table.id_of(300).is_none(),
        "a leaf exit is evicted as usual"
    );

    // Once the daemon is gone too, L is evicted like any other exited process.
    apply(&mut table, &[exit(ms(12_000), 201, 100, 0)]);
    churn(&mut table, 400);
    assert!(table.id_of(200).is_none());
    assert!(table.id_of(201).is_none());
}

#[test]
fn exited_processes_of_a_followed_subtree_are_never_evicted() {
    let fake = host();
    let mut table = table(&fake, 2);
    apply(&mut table, &shim_start()[..1]);
    assert!(table.follow(200));
    // 200 forks ten children that exit at once, then exits: a table of two keeps them all.
    for pid in 300..310 {
        let t = ms(10_100 + u64::from(pid));
        apply(
            &mut table,
            &[fork(t, pid, 200, 200, "tester"), exit(t + 1, pid, 200, 0)],
        );
    }
    apply(&mut table, &[exit(ms(10_500), 200, 100, 0)]);
    // And churn outside the subtree is evicted as usual.
    for pid in 400..410 {
        let t = ms(11_000 + u64::from(pid));
        apply(
            &mut table,
            &[fork(t, pid, 100, 100, "tester"), exit(t + 1, pid, 100, 0)],
        );
    }
    for pid in (300..310).chain([200]) {
        assert!(table.id_of(pid).is_some(), "{pid} was evicted");
    }
    assert!(table.id_of(400).is_none());
}

#[test]
fn in_subtree_keeps_an_adopted_daemon() {
    let fake = host();
    fake.set(2, "kthreadd", 0, 0, &[]);
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    assert!(!table.follow(200));
    apply(&mut table, &shim_start()[..1]);
    assert!(table.follow(200));
    apply(&mut table, &shim_start()[1..]);
    // Adopted by init, outside L's subtree.
    fake.set(201, "containerd-shim", 1, ms(10_005), &["containerd-shim"]);
    apply(&mut table, &[exit(ms(10_010), 200, 100, 0)]);
    apply(&mut table, &[exec(ms(10_011), 201, 1, &["daemon"])]);

    for root in [200, 100] {
        assert!(table.in_subtree(root, 201), "{root}");
        assert!(table.in_subtree(root, 200), "{root}");
    }
    assert!(table.in_subtree(1, 201));
    assert!(!table.in_subtree(201, 200));
    assert!(!table.in_subtree(200, 100));
    assert!(!table.in_subtree(100, 2));
    assert!(!table.in_subtree(200, 999));
}

#[test]
fn exited_ancestors_of_a_followed_process_stay_in_a_table_of_one() {
    let fake = host();
    let mut table = table(&fake, 1);
    apply(&mut table, &shim_start()[..1]);
    assert!(table.follow(200));
    apply(&mut table, &shim_start()[1..]);
    apply(
        &mut table,
        &[
            fork(ms(10_006), 202, 201, 201, "containerd-shim"),
            exit(ms(10_010), 200, 100, 0),
            exit(ms(10_011), 201, 100, 0),
        ],
    );
    // 200 and 201 exited in a table that keeps one exited process: both stay, since the
    // running 202 descends from them.
    assert_eq!(chain_pids(&table, 202), [202, 201, 200, 100, 1]);
    assert_eq!(table.chain(202).unwrap().end, ChainEnd::Top);
    assert!(table.in_subtree(200, 202));
    assert!(table.in_subtree(100, 202));
}

#[test]
fn seeding_from_the_real_proc_finds_this_process_and_its_parent() {
    let mut table = ProcessTable::new(DEFAULT_EXITED_CAPACITY);
    let added = table.seed_from_proc(Path::new("/proc")).unwrap();
    assert!(added >= 2, "{added}");
    let me = std::process::id();
    let chain = table.chain(me).unwrap();
    assert_eq!(chain.links[0].pid, me);
    assert_eq!(chain.links[1].pid, std::os::unix::process::parent_id());
    assert!(!chain.links[0].argv.is_empty());
}

#[test]
fn seeding_reads_names_with_spaces_and_parentheses_and_the_command_line() {
    let fake = host();
    fake.set(
        300,
        "a) (b c",
        100,
        ms(7_000),
        &["/usr/bin/odd name", "--x"],
    );
    fake.set(301, "kworker/0:1", 2, ms(1), &[]);
    fs::create_dir_all(fake.root.join("self")).unwrap();
    fs::write(fake.root.join("uptime"), "1 1\n").unwrap();
    let mut table = ProcessTable::new(DEFAULT_EXITED_CAPACITY);
    assert_eq!(table.seed_from_proc(&fake.root).unwrap(), 4);

    let chain = table.chain(300).unwrap();
    let link = &chain.links[0];
    assert_eq!(link.comm, b"a) (b c");
    assert_eq!(link.start_ns, ms(7_000));
    assert_eq!(
        link.argv.iter().collect::<Vec<_>>(),
        [b"/usr/bin/odd name".as_slice(), b"--x"]
    );
    assert_eq!(chain_pids(&table, 300), [300, 100, 1]);
    assert!(table.chain(301).unwrap().links[0].argv.is_empty());
    assert_eq!(
        table.chain(301).unwrap().end,
        ChainEnd::Unknown {
            ppid: Some(2),
            why: Unknown::NotSeen,
        }
    );
}

#[test]
fn seeding_a_missing_proc_says_which_directory() {
    let mut table = ProcessTable::new(1);
    let err = table
        .seed_from_proc(Path::new("/nonexistent/tracer-proc"))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("cannot list /nonexistent/tracer-proc: "),
        "{err}"
    );
}

#[test]
fn tree_nests_by_fork_parent_with_commands_exits_lifetimes_and_adoptions() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(
        &mut table,
        &[
            fork(ms(10_000), 200, 100, 100, "tester"),
            exec(ms(10_001), 200, 100, &["sh", "-c", "sleep 1 &"]),
            fork(ms(10_002), 201, 200, 200, "sh"),
            exec(ms(10_003), 201, 200, &["sleep", "1"]),
            fork(ms(10_200), 202, 100, 105, "tester"),
        ],
    );
    fake.set(201, "sleep", 100, ms(10_002), &["sleep", "1"]);
    let reparents = apply(
        &mut table,
        &[
            exit(ms(10_302), 200, 100, 0),
            exit(ms(10_300), 202, 100, 9),
            fork(ms(11_000), 204, 100, 100, "tester"),
            exec(ms(11_001), 204, 100, &["sh", "-c", "exec true"]),
            exec(ms(11_002), 204, 100, &["true"]),
            exit(ms(11_002), 204, 100, 1 << 8),
            exit(ms(11_003), 201, 100, 0),
        ],
    );
    assert_eq!(reparents, [adopted(ms(10_302), 201, 200, 100)]);
    assert_eq!(
        tree(&table),
        concat!(
            "1 /sbin/init\n",
            "└─ 100 ./tester --subreaper\n",
            "   ├─ 200 sh -c sleep 1 & (exit 0, 0.302s)\n",
            "   │  └─ 201 sleep 1 (exit 0, 1.001s, adopted by 100)\n",
            "   ├─ 202 tester (killed by SIGKILL, 0.100s, no exec)\n",
            "   └─ 204 sh -c exec true → true (exit 1, 0.002s)\n",
        )
    );
}

#[test]
fn tree_escapes_names_and_marks_cut_and_dropped_execs() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    let mut events = vec![fork(ms(10_000), 200, 100, 100, "tester")];
    for i in 0..6 {
        events.push(exec(
            ms(10_001 + i),
            200,
            100,
            &[&format!("step{i}"), "a\nb"],
        ));
    }
    events.push(fork(ms(10_009), 201, 100, 100, "tester"));
    let mut long = exec(ms(10_010), 201, 100, &["x"]);
    long.flags = flags::ARGV_TRUNCATED;
    events.push(long);
    apply(&mut table, &events);
    let tree = tree(&table);
    assert!(
        tree.contains("200 step0 a\\nb → step1 a\\nb → step2 a\\nb → … → step5 a\\nb (running)\n"),
        "{tree}"
    );
    assert!(tree.contains("   └─ 201 x [...] (running)\n"), "{tree}");
}

#[test]
fn short_argv_keeps_eight_arguments_and_256_bytes() {
    let mut log = ExecLog::default();
    let many: Vec<Vec<u8>> = (0..10).map(|i| format!("a{i}").into_bytes()).collect();
    log.push(many.iter().map(Vec::as_slice), false);
    let argv = log.last().unwrap();
    assert_eq!(argv.iter().count(), SHORT_ARGS);
    assert!(argv.is_cut());

    let big = [vec![b'x'; 200], vec![b'y'; 100]];
    log.push(big.iter().map(Vec::as_slice), false);
    let argv = log.last().unwrap();
    let kept: Vec<&[u8]> = argv.iter().collect();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[1].len(), SHORT_ARGV_BYTES - 200);
    assert!(argv.is_cut());

    let exact = [vec![b'z'; SHORT_ARGV_BYTES]];
    log.push(exact.iter().map(Vec::as_slice), false);
    assert!(!log.last().unwrap().is_cut());
    log.push([b"".as_slice()], true);
    assert!(log.last().unwrap().is_cut());
    assert_eq!(log.last().unwrap().iter().collect::<Vec<_>>(), [b""]);
}

#[test]
fn exec_log_keeps_the_first_execs_and_the_latest() {
    let mut log = ExecLog::default();
    for i in 0..7 {
        let arg = format!("e{i}");
        log.push([arg.as_bytes()], false);
    }
    let firsts: Vec<Vec<u8>> = log
        .iter()
        .map(|a| a.iter().next().unwrap().to_vec())
        .collect();
    assert_eq!(firsts, [b"e0", b"e1", b"e2", b"e6"]);
    assert_eq!(log.dropped(), 3);
    assert_eq!(log.last().unwrap().iter().next(), Some(b"e6".as_slice()));
}

#[test]
fn chain_json_holds_each_link_with_exit_and_adoption() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    apply(&mut table, &shim_start());
    fake.set(
        201,
        "containerd-shim",
        100,
        ms(10_005),
        &["containerd-shim"],
    );
    apply(
        &mut table,
        &[
            exit(ms(10_010), 200, 100, 0),
            exec(ms(10_012), 201, 100, &["daemon", "\u{202e}x", "\x1b"]),
        ],
    );
    let mut out = b"{\"type\":\"exec\"".to_vec();
    table.write_chain_json(201, &mut out);
    out.push(b'}');
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"type":"exec","chain":["#,
            r#"{"pid":201,"comm":"daemon","argv":["daemon","\u202ex","\u001b"],"#,
            r#""adopted_by":100,"adopted_ns":10010000000},"#,
            r#"{"pid":200,"comm":"containerd-shim","argv":["containerd-shim","start"],"#,
            r#""exited_ns":10010000000,"exit_code":0},"#,
            r#"{"pid":100,"comm":"tester","argv":["./tester","--subreaper"]},"#,
            r#"{"pid":1,"comm":"systemd","argv":["/sbin/init"]}]}"#
        )
    );
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["chain"][0]["argv"][1], "\u{202e}x");
}

#[test]
fn chain_json_ends_with_the_unknown_parent_and_hex_for_invalid_utf8() {
    let fake = host();
    let mut table = table(&fake, DEFAULT_EXITED_CAPACITY);
    table.note_lost(2);
    let mut ev = exec(ms(10_000), 500, 499, &["x"]);
    ev.comm = crate::event::Comm::new(b"\xffz");
    ev.kind = EventKind::Exec(Exec {
        start_ns: 1,
        old_tid: 500,
        retval: 0,
        filename: b"x".to_vec(),
        argv: vec![b"x".to_vec(), b"\xfe".to_vec()],
        argv_size: 0,
    });
    apply(&mut table, &[ev, exit(ms(10_001), 500, 499, 0x80 | 11)]);
    let mut out = Vec::new();
    table.write_chain_json(500, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        concat!(
            ",\"chain\":[{\"pid\":500,\"comm\":\"\u{fffd}z\",\"comm_hex\":\"ff7a\",",
            "\"argv\":[\"x\",\"\u{fffd}\"],",
            r#""argv_hex":[null,"fe"],"exited_ns":10001000000,"exit_code":0,"signal":11,"#,
            r#""core_dumped":true},{"pid":499,"unknown":"events_lost","lost":2}]"#
        )
    );
    let mut out = Vec::new();
    table.write_chain_json(4_000_000, &mut out);
    assert_eq!(out, br#","chain":[]"#);
}
