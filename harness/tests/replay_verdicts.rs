//! Replay's verdicts, each pinned: STALE before anything runs (following the recorded
//! outcomes, and not past a choice), the first failure in script order (a MISMATCH before the
//! DIVERGED it precedes, a STOPPED before an end-of-case divergence, the script's ops before
//! a panic), `--record`'s text, a kernel fault planted in a pinned case's process, and the
//! case processes counted; the end-of-case pop of a queue.

use mapcheck::corpus::Case;
use mapcheck::env::{detect_profile, skip_without_kernel};
use mapcheck::faulty::{Faulty, KernelFault};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::Stats;
use mapcheck::replay::{self, Verdict};
use mapcheck::sys::{RealSys, Sys};
use mapcheck_model::{Fault, World};
use std::path::Path;
use std::time::Duration;

fn case(text: &str) -> Case {
    Case::parse(text, Path::new("t.case")).unwrap()
}

fn run<S: Sys>(text: &str, faults: Vec<Fault>, k: &mut Kernel<S>) -> Verdict {
    replay::replay(
        &case(text),
        &World::new(detect_profile(), faults),
        k,
        &mut Stats::default(),
    )
}

const CREATE: &str = "m0 = create array key=4 value=8 entries=2 => ok fd=m0\n";

/// An inner map released through its outer map, observed at a choice (`any`), then fetched
/// by id: line 7 needs the release settled.
const CHOICE: &str = "m0 = create array key=4 value=8 entries=1 => ok fd=m0\n\
                      m1 = create array_of_maps key=4 value=4 entries=1 inner=m0 => ok fd=m1\n\
                      update m1 key=00000000 value=fd:m0 => ok\n\
                      close m0 => ok\n\
                      close m1 => ok\n\
                      alive m0 => any\n\
                      m2 = fd_by_id m0 => ENOENT\n";

fn never_releasing() -> Kernel<Faulty<RealSys>> {
    let mut fk = Kernel::with_sys(
        Faulty::new(RealSys, Some(KernelFault::InnerMapNeverReleased)),
        mapcheck::env::possible_cpus(),
    )
    .unwrap();
    fk.settle_bound = Duration::from_millis(100);
    fk
}

/// Asserts that `script` passes on the real kernel and, on a kernel with `fault`, diverges
/// at `line` (0: the end of the case) with the op `op`.
fn diverges_under(fault: KernelFault, script: &str, line: usize, op: &str) {
    assert!(run(script, vec![], &mut Kernel::new().unwrap()).passed());
    let mut fk = Kernel::with_sys(Faulty::new(RealSys, Some(fault)), mapcheck::env::possible_cpus()).unwrap();
    let v = run(script, vec![], &mut fk);
    match &v {
        Verdict::Diverged { line: l, divergence } if *l == line => {
            assert_eq!(divergence.op.to_string().trim(), op, "{}", v.summary())
        }
        _ => panic!("{fault}: {}", v.summary()),
    }
}

/// Replay compares exactly: a recorded outcome the kernel did not give fails even where the
/// model allows both, and a recorded state size is compared.
#[test]
fn recorded_outcomes_are_compared_exactly() {
    if skip_without_kernel("recorded_outcomes_are_compared_exactly") {
        return;
    }
    let mut k = Kernel::new().unwrap();
    // The finding of cgroup-dir-fd-does-not-pin-removed-cgroup.case, recorded the other way.
    let opposite = "c0 = mkcgroup => ok fd=c0\nrmdir c0 => ok\nsettle dying max=0 => ok count=1\n";
    let v = run(opposite, vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 3, .. }), "{}", v.summary());
    let size = "m0 = create array key=4 value=8 entries=1 => ok fd=m0\ncheck m0 => ok entries=999\n";
    let v = run(size, vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 2, .. }), "{}", v.summary());
    assert!(run(&size.replace("999", "1"), vec![], &mut k).passed());
    // Settled first, the real kernel passes the choice script; a never-releasing one
    // diverges at the settle.
    let settled = CHOICE.replace("alive m0 => any", "settle m0 => ok gone");
    let v = run(&settled, vec![], &mut k);
    assert!(v.passed(), "{}", v.summary());
    let v = run(&settled, vec![], &mut never_releasing());
    assert!(matches!(v, Verdict::Diverged { line: 6, .. }), "{}", v.summary());
}

#[test]
fn stale_follows_the_recording_and_stops_at_a_choice() {
    if skip_without_kernel("stale_follows_the_recording_and_stops_at_a_choice") {
        return;
    }
    let mut k = Kernel::new().unwrap();
    // An undefined handle after a bare `ok`: stale at its line, before anything runs.
    let text = format!(
        "{CREATE}update m0 key=00000000 value=0100000000000000 => ok\nlookup m9 key=00000000 => ENOENT\n"
    );
    let v = run(&text, vec![], &mut k);
    assert!(matches!(v, Verdict::Stale { line: 3, .. }), "{}", v.summary());
    // The recording says the create failed: m0 never exists, so line 2 is stale.
    let text = "m0 = create array key=4 value=8 entries=2 => EINVAL\nlookup m0 key=00000000 => ENOENT\n";
    let v = run(text, vec![], &mut k);
    assert!(matches!(v, Verdict::Stale { line: 2, .. }), "{}", v.summary());
    // Past `any` the path is the kernel's to choose: never stale (the run decides).
    let v = run(CHOICE, vec![], &mut k);
    assert!(!matches!(v, Verdict::Stale { .. }), "{}", v.summary());
    // On a kernel that never releases the inner map, line 7 no longer applies: STOPPED there,
    // reported before the end-of-case leak it precedes.
    let v = run(CHOICE, vec![], &mut never_releasing());
    assert!(matches!(v, Verdict::Stopped { line: 7, .. }), "{}", v.summary());
    // The line that stopped and those after it did not run: the end-of-case observations
    // that follow the stop are no answer to them (`--record` wrote them in, the settle's
    // answer as line 7's), and `--record` says they did not run.
    let more = format!(
        "{CHOICE}m3 = create array key=4 value=8 entries=1 => ok fd=m3\n\
         lookup m3 key=00000000 => ok value=0000000000000000\n"
    );
    let c = case(&more);
    let world = World::new(detect_profile(), vec![]);
    let obs = replay::replay_observed(&c, &world, &mut never_releasing(), &mut Stats::default());
    assert!(
        matches!(obs.verdict, Verdict::Stopped { line: 7, .. }),
        "{}",
        obs.verdict.summary()
    );
    let out = replay::recorded_text(&c, &obs);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[6], "m2 = fd_by_id m0 => ENOENT  # did not run", "{out}");
    assert!(lines[7].ends_with("=> ok fd=m3  # did not run"), "{out}");
    assert!(lines[8].ends_with("# did not run"), "{out}");
    assert!(lines[8].ends_with("# did not run"), "{out}");
}

#[test]
fn the_first_failure_in_script_order_is_reported() {
    if skip_without_kernel("the_first_failure_in_script_order_is_reported") {
        return;
    }
    let mut k = Kernel::new().unwrap();
    // Line 2 records a wrong value; line 3 diverges under the model fault: line 2 first.
    let text = format!(
        "{CREATE}lookup m0 key=00000000 => ok value=0100000000000000\n\
         update m0 key=00000000 value=0100000000000000 flags=NOEXIST => EEXIST\n"
    );
    let v = run(&text, vec![Fault::ArrayNoexistSucceeds], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 2, .. }), "{}", v.summary());
    // Recorded right, the divergence itself is the verdict, at its line.
    let right = text.replace("ok value=0100000000000000", "ok value=0000000000000000");
    let v = run(&right, vec![Fault::ArrayNoexistSucceeds], &mut k);
    assert!(matches!(v, Verdict::Diverged { line: 3, .. }), "{}", v.summary());
    assert!(run(&right, vec![], &mut k).passed());
}

#[test]
fn record_fills_in_the_kernels_outcomes() {
    if skip_without_kernel("record_fills_in_the_kernels_outcomes") {
        return;
    }
    let mut k = Kernel::new().unwrap();
    let world = World::new(detect_profile(), vec![]);
    let text = "# case: r\n\
                m0 = create hash key=4 value=8 entries=4 => ok fd=m0\n\
                update m0 key=01000000 value=0100000000000000\n\
                next_key m0 key=NULL\n\
                lookup m0 key=01000000 => any\n\
                check m0 => ok\n";
    let c = case(text);
    let obs = replay::replay_observed(&c, &world, &mut k, &mut Stats::default());
    assert!(obs.verdict.passed(), "{}", obs.verdict.summary());
    let out = replay::recorded_text(&c, &obs);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# case: r");
    assert_eq!(lines[2], "update m0 key=01000000 value=0100000000000000 => ok");
    // A key chosen under a random seed: recorded, with the set named for a person to judge.
    assert!(
        lines[3].starts_with("next_key m0 key=NULL => ok key=01000000  # the kernel chose"),
        "{out}"
    );
    assert_eq!(
        lines[4], "lookup m0 key=01000000 => any",
        "a choice the script made stays"
    );
    assert_eq!(lines[5], "check m0 => ok entries=1");
    assert!(!out.contains("# replay:"), "{out}");
    // What it writes reads back and replays clean; a failing replay says so at the end.
    let back = case(&out);
    assert!(replay::replay(&back, &world, &mut k, &mut Stats::default()).passed());
    let bad = case(&out.replace("=> ok entries=1", "=> ok entries=2"));
    let obs = replay::replay_observed(&bad, &world, &mut k, &mut Stats::default());
    let out = replay::recorded_text(&bad, &obs);
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("# replay: MISMATCH at line 6"),
        "{out}"
    );
}

/// Every new map fd is read back at once: a GET_FD_BY_ID that hands out another map is caught
/// at the op that made the fd, even when the script closes the fd before anything reads it
/// (the end-of-case `info` of open fds would never see it).
#[test]
fn a_new_fd_of_the_wrong_map_is_caught_where_it_is_made() {
    if skip_without_kernel("a_new_fd_of_the_wrong_map_is_caught_where_it_is_made") {
        return;
    }
    let script = "m0 = create array key=4 value=8 entries=2 => ok fd=m0\n\
                  m1 = create hash key=4 value=8 entries=2 => ok fd=m1\n\
                  m2 = fd_by_id m1 => ok fd=m2\n\
                  close m2 => ok\n\
                  lookup m0 key=00000000 => ok value=0000000000000000\n";
    diverges_under(KernelFault::FdByIdOtherMap, script, 3, "info m2");
}

/// A wrong id written into a map is caught by every read that the backend turns into ids:
/// a LOOKUP after a batch write, a `check` (its state cells) after a single write, a batch
/// lookup of a hash, for a kernel that stores each map id plus one.
#[test]
fn a_wrong_id_is_caught_by_every_read() {
    if skip_without_kernel("a_wrong_id_is_caught_by_every_read") {
        return;
    }
    let batch_write = "m0 = create hash key=4 value=4 entries=2 => ok fd=m0\n\
                       update_batch m0 count=1 keys=00000000 values=id:m0 => ok count=1\n\
                       lookup m0 key=00000000 => ok value=id:m0\n";
    diverges_under(
        KernelFault::IdValueOffByOne,
        batch_write,
        3,
        "lookup m0 key=00000000",
    );
    let checked = "m0 = create array key=4 value=4 entries=2 => ok fd=m0\n\
                   update m0 key=01000000 value=id:m0 => ok\n\
                   check m0 => ok entries=2\n";
    diverges_under(KernelFault::IdValueOffByOne, checked, 3, "check m0");
    let batch_read = "m0 = create hash key=4 value=4 entries=2 flags=ZERO_SEED => ok fd=m0\n\
                      update m0 key=00000000 value=id:m0 => ok\n\
                      lookup_batch m0 in=NULL count=2 => any\n";
    diverges_under(
        KernelFault::IdValueOffByOne,
        batch_read,
        3,
        "lookup_batch m0 in=NULL count=2",
    );
}

/// An end-of-case op the model itself refuses (a runner and model that disagree) fails the
/// case with the op, instead of ending it as a stop: under `dying-settled-in-fdtable` the
/// runner asks an fdtable case to settle its removed cgroup, which the model refuses there.
#[test]
fn an_end_of_case_op_the_model_refuses_is_a_divergence() {
    if skip_without_kernel("an_end_of_case_op_the_model_refuses_is_a_divergence") {
        return;
    }
    let script = "fdtable => ok\n\
                  c0 = mkcgroup => ok fd=c0 num=3\n\
                  rmdir c0 => ok\n\
                  close c0 => ok\n";
    let mut k = Kernel::new().unwrap();
    assert!(run(script, vec![], &mut k).passed());
    let v = run(script, vec![Fault::DyingSettledInFdtable], &mut k);
    match &v {
        Verdict::Diverged { line: 0, divergence } => {
            assert!(
                divergence.op.to_string().starts_with("settle dying"),
                "{}",
                v.summary()
            );
            assert!(
                v.summary().contains("refuses this end-of-case op"),
                "{}",
                v.summary()
            );
        }
        _ => panic!("{}", v.summary()),
    }
}

/// The end-of-case `check` is what catches a kernel that says ok to an update without
/// storing it when nothing in the script reads the value back; and a panicking model is a
/// divergence at the op that panicked, named by its line.
#[test]
fn end_of_case_state_and_panics_are_pinned_to_their_place() {
    if skip_without_kernel("end_of_case_state_and_panics_are_pinned_to_their_place") {
        return;
    }
    let unread = "m0 = create array key=4 value=8 entries=2 => ok fd=m0\n\
                  update m0 key=01000000 value=0102030405060708 => ok\n";
    diverges_under(KernelFault::UpdateNotStored, unread, 0, "check m0");
    let frozen = "m0 = create array key=4 value=8 entries=2 => ok fd=m0\n\
                  freeze m0 => ok\n\
                  lookup m0 key=00000000 => ok value=0000000000000000\n";
    let v = run(
        frozen,
        vec![Fault::ModelPanicsAtFreeze],
        &mut Kernel::new().unwrap(),
    );
    match &v {
        Verdict::Diverged { line: 2, divergence } => {
            assert!(v.summary().contains("panic"), "{}", v.summary());
            assert_eq!(divergence.op.to_string().trim(), "freeze m0");
        }
        _ => panic!("{}", v.summary()),
    }
}

/// `# dialect:` says which kernels a recording holds on: a case recorded where this kernel
/// differs is "not for this kernel" and runs nothing; one recorded where it agrees runs and
/// fails like any other on a wrong line; an unknown dialect is an unreadable case, never a
/// skip.
#[test]
fn dialect_headers_select_the_kernels_a_case_holds_on() {
    if skip_without_kernel("dialect_headers_select_the_kernels_a_case_holds_on") {
        return;
    }
    let mut k = Kernel::new().unwrap();
    let p = detect_profile();
    let has = if p.freeze_checks_write {
        "freeze-checks-write"
    } else {
        "no-freeze-checks-write"
    };
    let lacks = if p.freeze_checks_write {
        "no-freeze-checks-write"
    } else {
        "freeze-checks-write"
    };
    let refreeze = format!("freeze m0 => {}\n", p.refreeze_errno());
    let script = |dialect: &str, tail: &str| format!("# dialect: {dialect}\n{CREATE}freeze m0 => ok\n{tail}");
    assert!(run(&script(has, &refreeze), vec![], &mut k).passed());
    // Recorded on a kernel with the other dialect: the errno there was the other one.
    let other = format!(
        "freeze m0 => {}\n",
        if p.freeze_checks_write { "EBUSY" } else { "EPERM" }
    );
    let v = run(&script(lacks, &other), vec![], &mut k);
    assert!(
        matches!(v, Verdict::NotForKernel(ref w) if w.contains(lacks)),
        "{}",
        v.summary()
    );
    // The same wrong recording, claimed for this kernel's dialect, fails.
    let v = run(&script(has, &other), vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 4, .. }), "{}", v.summary());
    let v = run(&script("freeze-checks-wrtie", &refreeze), vec![], &mut k);
    assert!(
        matches!(v, Verdict::Unreadable(ref e) if e.contains("freeze-checks-wrtie")),
        "{}",
        v.summary()
    );
    assert_eq!(k.held(), 0);
}

/// The end-of-case audit: a case that made only cgroups still settles the dying count (a
/// kernel that never frees a removed cgroup is a leak at the end), and a model that never
/// narrows a hash's first key is caught once the end-of-case `check` has walked the map.
#[test]
fn the_end_of_case_audit_covers_cgroup_only_cases_and_walked_orders() {
    if skip_without_kernel("the_end_of_case_audit_covers_cgroup_only_cases_and_walked_orders") {
        return;
    }
    let only_cgroups = "c0 = mkcgroup => ok fd=c0\nclose c0 => ok\nrmdir c0 => ok\n";
    diverges_under(
        KernelFault::CgroupNeverFreed,
        only_cgroups,
        0,
        "settle dying max=0",
    );
    // A model whose dying count never narrows is caught by the audit in such a case too.
    let mut k = Kernel::new().unwrap();
    let v = run(only_cgroups, vec![Fault::DyingNeverNarrows], &mut k);
    assert!(matches!(v, Verdict::Diverged { line: 0, .. }), "{}", v.summary());
    let walked = "m0 = create hash key=4 value=4 entries=4 => ok fd=m0\n\
                  update m0 key=01000000 value=01000000 => ok\n\
                  update m0 key=02000000 value=02000000 => ok\n";
    assert!(run(walked, vec![], &mut k).passed());
    let v = run(walked, vec![Fault::HashNextKeyAny], &mut k);
    assert!(matches!(v, Verdict::Diverged { line: 0, .. }), "{}", v.summary());
    assert_eq!(k.held(), 0);
}

/// A `# finding:` case records what a correct kernel does. Where this kernel does otherwise
/// and the model, following the kernel's dialect, predicts exactly what it did, replay names
/// the finding (counted apart, never a pass); the same line without the header is a MISMATCH,
/// and a finding case whose kernel leaves the model's prediction is still a DIVERGED.
#[test]
fn a_finding_case_reports_the_known_kernel_bug_and_nothing_else() {
    if skip_without_kernel("a_finding_case_reports_the_known_kernel_bug_and_nothing_else") {
        return;
    }
    let mut k = Kernel::new().unwrap();
    // A made-up finding: the recording says a correct kernel takes NOEXIST on an array.
    // Every kernel answers EEXIST, as the model predicts, so this kernel "has the bug".
    let body =
        format!("{CREATE}update m0 key=00000000 value=0000000000000000 flags=NOEXIST => ok  # finding\n");
    // Found on kernels of a dialect this one speaks; `lacks` names the other side.
    let (name, has) = detect_profile().dialects()[0];
    let (speaks, lacks) = match has {
        true => (name.to_string(), format!("no-{name}")),
        false => (format!("no-{name}"), name.to_string()),
    };
    let finding = format!("# finding: {speaks}: arrays refuse NOEXIST (a made-up bug for the test)\n{body}");
    let v = run(&finding, vec![], &mut k);
    assert!(
        matches!(v, Verdict::Finding { line: 3, ref finding, .. } if finding.starts_with("arrays refuse")),
        "{}",
        v.summary()
    );
    assert!(
        !v.passed() && v.summary().starts_with("KERNEL FINDING at line 3"),
        "{}",
        v.summary()
    );
    let v = run(&body, vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 2, .. }), "{}", v.summary());
    // A model that lets NOEXIST through on arrays predicts `ok`: the kernel's EEXIST is a
    // divergence from the model, not the recorded finding.
    let v = run(&finding, vec![Fault::ArrayNoexistSucceeds], &mut k);
    assert!(matches!(v, Verdict::Diverged { line: 3, .. }), "{}", v.summary());
    // Only the marked lines are the finding: a wrong recording elsewhere is a MISMATCH, even
    // after the finding's line and where the model agrees with the kernel.
    let later = format!("{finding}lookup m0 key=01000000 => ENOENT\n");
    let v = run(&later, vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 4, .. }), "{}", v.summary());
    let unmarked = finding.replace("  # finding", "");
    let v = run(&unmarked, vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 3, .. }), "{}", v.summary());
    // On kernels without the bug's dialect the marked lines are compared like any other.
    let elsewhere = finding.replace(&format!("finding: {speaks}:"), &format!("finding: {lacks}:"));
    let v = run(&elsewhere, vec![], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 3, .. }), "{}", v.summary());
    let v = run(&finding.replace(&speaks, "no-such-dialect"), vec![], &mut k);
    assert!(
        matches!(v, Verdict::Unreadable(ref e) if e.contains("no-such-dialect")),
        "{}",
        v.summary()
    );
    assert_eq!(k.held(), 0);
}

/// An LRU hash written by a case on no one CPU is a set of list states, one per CPU each
/// write may have run on (`World::split`): `any` accepts what one of them allows, and each
/// answer keeps only the states that allow it. A common LRU of two nodes (a local batch of
/// one): the third key evicts one of the first two, which one depending on the CPUs; once
/// the first is seen gone, the second must be there, and a kernel that evicted it too is
/// caught at that `any` line.
#[test]
fn unpinned_lru_writes_narrow_and_catch_an_early_eviction() {
    if skip_without_kernel("unpinned_lru_writes_narrow_and_catch_an_early_eviction") {
        return;
    }
    let script = "m0 = create lru_hash key=4 value=1 entries=2 => ok fd=m0\n\
                  update m0 key=01000000 value=01 => ok\n\
                  update m0 key=02000000 value=02 => ok\n\
                  update m0 key=03000000 value=03 => ok\n\
                  lookup m0 key=01000000 => any\n\
                  lookup m0 key=02000000 => any\n";
    diverges_under(KernelFault::LruEvictsEarly, script, 6, "lookup m0 key=02000000");
}

/// A pinned case runs in a case process, and the backend's kernel fault is planted there too
/// (`Kernel::planted`): without it the case would meet a healthy kernel and pass.
#[test]
fn a_pinned_case_meets_the_planted_fault() {
    if skip_without_kernel("a_pinned_case_meets_the_planted_fault") {
        return;
    }
    let script = "cpu 0 => ok\n\
                  m0 = create lru_hash key=4 value=4 entries=8 => ok fd=m0\n\
                  update m0 key=00000000 value=00000000 => ok\n\
                  update m0 key=01000000 value=00000000 => ok\n\
                  check m0 => ok entries=2\n";
    diverges_under(KernelFault::LruEvictsEarly, script, 5, "check m0");
}

/// A model panic is a divergence at its op, and the ops that ran before it are the script's
/// own: their recorded outcomes are still compared first (a MISMATCH on line 2, not the
/// panic on line 3).
#[test]
fn ops_before_a_panic_are_still_compared() {
    if skip_without_kernel("ops_before_a_panic_are_still_compared") {
        return;
    }
    let script = format!("{CREATE}update m0 key=00000000 value=0100000000000000 => EPERM\nfreeze m0 => ok\n");
    let mut k = Kernel::new().unwrap();
    let v = run(&script, vec![Fault::ModelPanicsAtFreeze], &mut k);
    assert!(matches!(v, Verdict::Mismatch { line: 2, .. }), "{}", v.summary());
}

/// Case processes are started or reused, and `bench` prints how many of each: two pinned
/// cases take two, started or idle ones that served before.
#[test]
fn case_processes_are_counted() {
    if skip_without_kernel("case_processes_are_counted") {
        return;
    }
    let script = format!("cpu 0 => ok\n{CREATE}");
    let mut k = Kernel::new().unwrap();
    let mut twice = || {
        let mut stats = Stats::default();
        for _ in 0..2 {
            let v = replay::replay(
                &case(&script),
                &World::new(detect_profile(), vec![]),
                &mut k,
                &mut stats,
            );
            assert!(v.passed(), "{}", v.summary());
        }
        stats.time
    };
    // Each case in a process of its own; then (idle processes are this thread's) the second
    // in the one the first came back clean from.
    let t = twice();
    assert_eq!((t.started, t.reused), (2, 0), "{t:?}");
    let _reuse = mapcheck::isolate::Reuse::enter();
    let t = twice();
    assert_eq!((t.started, t.reused), (1, 1), "{t:?}");
}

/// `replay --record` keeps a `# finding` line's recording (what a correct kernel does) and
/// its marker, whatever this kernel answered there.
#[test]
fn record_keeps_a_findings_lines() {
    if skip_without_kernel("record_keeps_a_findings_lines") {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../regressions/percpu-update-flags-3-einval.case");
    let c = Case::load(&path).unwrap();
    let marked: Vec<String> = c
        .steps
        .iter()
        .filter(|s| s.finding)
        .map(|s| {
            format!(
                "{} => {}  # finding",
                s.op.to_string().trim(),
                s.expect.as_ref().unwrap()
            )
        })
        .collect();
    assert_eq!(marked.len(), 4);
    let world = World::new(detect_profile(), vec![]);
    let mut k = Kernel::new().unwrap();
    let obs = replay::replay_observed(&c, &world, &mut k, &mut Stats::default());
    let out = replay::recorded_text(&c, &obs);
    for m in &marked {
        assert!(out.lines().any(|l| l == m), "{m}\n{out}");
    }
}

/// The end of a case pops a writable queue dry: a push the kernel said ok to but never
/// stored shows there, though the script never pops.
#[test]
fn the_end_of_case_pops_a_queue_dry() {
    if skip_without_kernel("the_end_of_case_pops_a_queue_dry") {
        return;
    }
    let script = "m0 = create queue key=0 value=4 entries=2 => ok fd=m0\n\
                  update m0 key= value=01000000 => ok\n";
    diverges_under(
        KernelFault::UpdateNotStored,
        script,
        0,
        "lookup_and_delete m0 key=",
    );
}
