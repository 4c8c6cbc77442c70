//! The world's own tests: preconditions, lifetimes, limits, dialects, each against the
//! kernel function it mirrors.

use super::*;
use crate::op::BadFd;

fn h(n: u32) -> Handle {
    Handle::map(n)
}

#[test]
fn names_follow_the_kernel_ctype() {
    assert!(name_ok(b""));
    assert!(name_ok(b"a.b_C9"));
    assert!(name_ok(b"caf\xe9"));
    assert!(name_ok(b"ok\0-after-nul"));
    assert!(!name_ok(b"a-b"));
    assert!(!name_ok(b"sixteen_chars_xx"));
    assert!(name_ok(b"fifteen_chars_x"));
    assert!(!name_ok(b"\xa0"));
    assert!(!name_ok(b"x\xd7"));
}

#[test]
fn preconditions_name_what_is_wrong() {
    let mut w = World::default();
    let create = Op::CreateMap {
        handle: h(0),
        spec: MapSpec::new(MapType::Array, 4, 8, 2),
    };
    assert!(w.precondition(&create).is_ok());
    w.apply(&create, &Ok(Ret::Fd(h(0))));
    assert!(w.precondition(&create).unwrap_err().contains("already defined"));
    let bad = Op::Update {
        map: FdRef::Handle(h(0)),
        key: vec![0; 4],
        value: Value::Bytes(vec![0; 7]),
        flags: 0,
    };
    assert!(w.precondition(&bad).unwrap_err().contains("8-byte values"));
    let gone = Op::Lookup {
        map: FdRef::Handle(h(1)),
        key: vec![0; 4],
        input: Vec::new(),
        flags: 0,
    };
    assert!(w.precondition(&gone).unwrap_err().contains("not open"));
    let badfd = Op::Lookup {
        map: FdRef::Bad(BadFd::NotBpf),
        key: vec![],
        input: Vec::new(),
        flags: 0,
    };
    assert!(w.precondition(&badfd).is_ok());
    assert_eq!(w.allowed(&badfd), Allowed::Exactly(Err(Errno::EINVAL)));
}

#[test]
fn percpu_values_use_possible_cpus_and_rounded_slots() {
    let mut w = World::new(Profile::linux_6_18(3), vec![]);
    let spec = MapSpec::new(MapType::PercpuArray, 4, 5, 1);
    assert_eq!(w.value_len(&spec), 24);
    // An UPDATE's buffer: every CPU's slot, or one value_size with BPF_F_CPU or
    // BPF_F_ALL_CPUS; a map that is not per-CPU always takes one value.
    use crate::op::flags::{EXIST, F_ALL_CPUS, F_CPU};
    assert_eq!(w.value_len_for(&spec, 0), 24);
    assert_eq!(w.value_len_for(&spec, EXIST), 24);
    assert_eq!(w.value_len_for(&spec, F_CPU), 5);
    assert_eq!(w.value_len_for(&spec, F_ALL_CPUS | EXIST), 5);
    let plain = MapSpec::new(MapType::Array, 4, 5, 1);
    assert_eq!(w.value_len_for(&plain, F_CPU), 5);
    w.apply(&Op::CreateMap { handle: h(0), spec }, &Ok(Ret::Fd(h(0))));
    let look = Op::Lookup {
        map: FdRef::Handle(h(0)),
        key: vec![0; 4],
        input: Vec::new(),
        flags: 0,
    };
    assert_eq!(w.allowed(&look), Allowed::Exactly(Ok(Ret::Value(vec![0; 24]))));
    w.faults.push(Fault::PercpuSlotNotRounded);
    let spec = MapSpec::new(MapType::PercpuArray, 4, 5, 1);
    assert_eq!(w.value_len(&spec), 15);
}

#[test]
fn hash_next_key_is_a_set() {
    let mut w = World::default();
    let m = FdRef::Handle(h(0));
    w.apply(
        &Op::CreateMap {
            handle: h(0),
            spec: MapSpec::new(MapType::Hash, 1, 1, 4),
        },
        &Ok(Ret::Fd(h(0))),
    );
    for k in [1u8, 2] {
        w.apply(
            &Op::Update {
                map: m,
                key: vec![k],
                value: Value::Bytes(vec![k]),
                flags: 0,
            },
            &Ok(Ret::Unit),
        );
    }
    let nk = Op::GetNextKey {
        map: m,
        key: Some(vec![1]),
    };
    let a = w.allowed(&nk);
    assert!(w.admits(&nk, &a, &Ok(Ret::Key(vec![2]))));
    assert!(w.admits(&nk, &a, &Err(Errno::ENOENT)));
    assert!(
        !w.admits(&nk, &a, &Ok(Ret::Key(vec![1]))),
        "never the key passed in"
    );
    assert!(!w.admits(&nk, &a, &Ok(Ret::Key(vec![3]))), "never a missing key");
    let first = Op::GetNextKey { map: m, key: None };
    let a = w.allowed(&first);
    assert!(
        !w.admits(&first, &a, &Err(Errno::ENOENT)),
        "a non-empty map has a first key"
    );
}

/// Kernels whose per-CPU store uses `copy_map_value` (not 6.18) zero each slot's padding:
/// the model must store, and a lookup return, the value with the padding cleared.
#[test]
fn percpu_padding_is_zeroed_where_it_does_not_roundtrip() {
    let lookup_after_update = |roundtrip: bool| {
        let p = Profile {
            percpu_padding_roundtrips: roundtrip,
            ..Profile::default()
        };
        let mut w = World::new(p, vec![]);
        for line in [
            "m0 = create percpu_array key=4 value=4 entries=1",
            "update m0 key=00000000 value=01020304aabbccdd05060708eeff0011",
        ] {
            let (op, _) = crate::text::parse_line(line).unwrap();
            let o = w.allowed(&op).exactly().cloned().unwrap();
            w.apply(&op, &o);
        }
        let (op, _) = crate::text::parse_line("lookup m0 key=00000000").unwrap();
        w.allowed(&op)
    };
    let value = |hex: &[u8]| Allowed::Exactly(Ok(Ret::Value(hex.to_vec())));
    assert_eq!(
        lookup_after_update(false),
        value(&[1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0])
    );
    assert_eq!(
        lookup_after_update(true),
        value(&[1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd, 5, 6, 7, 8, 0xee, 0xff, 0, 0x11])
    );
}

/// Runs a case's script through the model: the first line whose recorded outcome is not
/// the one outcome the model allows, or None.
fn first_disagreement(p: Profile, case: &str) -> Option<String> {
    let mut w = World::new(p, vec![]);
    for line in case
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (op, expect) = crate::text::parse_line(line).unwrap();
        w.precondition(&op).unwrap_or_else(|e| panic!("{line}: {e}"));
        let allowed = w.allowed(&op);
        match (allowed.exactly(), expect) {
            (Some(o), Some(e)) if e.matches(o) => w.apply(&op, &o.clone()),
            _ => return Some(format!("{line}: the model allows {allowed}")),
        }
    }
    None
}

/// The 7.x dialects, by the corpus cases that pin them: the model of a kernel with
/// BPF_F_CPU (and MAP_CREATE's late file-flag check) predicts every recorded outcome,
/// a 6.18 model does not; the twin cases hold the other way round.
#[test]
fn cpu_flags_and_late_file_flags_follow_their_cases() {
    let seven = Profile {
        percpu_cpu_flags: true,
        percpu_padding_roundtrips: false,
        lookup_flags_after_fd: true,
        create_file_flags_late: true,
        ..Profile::default()
    };
    let new = [
        include_str!("../../../regressions/dialects/percpu-cpu-flags.case"),
        include_str!("../../../regressions/dialects/create-file-flags-late.case"),
    ];
    let old = [
        include_str!("../../../regressions/dialects/percpu-cpu-flags-before-7.0.case"),
        include_str!("../../../regressions/dialects/create-file-flags-early.case"),
    ];
    for case in new {
        assert_eq!(first_disagreement(seven.clone(), case), None);
        assert!(first_disagreement(Profile::default(), case).is_some());
    }
    for case in old {
        assert_eq!(first_disagreement(Profile::default(), case), None);
        assert!(first_disagreement(seven.clone(), case).is_some());
    }
    // The kernel finding: 7.x takes NOEXIST|EXIST as BPF_ANY on per-CPU maps only.
    let mut w = World::new(seven, vec![]);
    follow(
        &mut w,
        &[
            "m0 = create percpu_hash key=4 value=4 entries=1",
            "m1 = create hash key=4 value=4 entries=1",
        ],
    );
    let three = |m: &str| {
        op(&format!(
            "update {m} key=00000000 value={} flags=0x3",
            "00".repeat(if m == "m0" { 16 } else { 4 })
        ))
    };
    assert_eq!(w.allowed(&three("m0")), Allowed::Exactly(Ok(Ret::Unit)));
    assert_eq!(w.allowed(&three("m1")), Allowed::Exactly(Err(Errno::EINVAL)));
}

/// 7.0's batch element flags (`bpf_map_check_op_flags` in the batch ops): none is a batch
/// as before; a bit outside BPF_F_LOCK, BPF_F_CPU and BPF_F_ALL_CPUS is EINVAL first, then
/// BPF_F_LOCK without a spin lock, then the CPU flags on a map that is not per-CPU.
#[test]
fn batch_element_flags_with_cpu_flags() {
    let mut w = with_cpu_flags();
    follow(&mut w, &["m0 = create hash key=4 value=4 entries=2"]);
    let batch = |f: &str| {
        op(&format!(
            "update_batch m0 count=1 keys=01000000 values=01000000{f}"
        ))
    };
    assert_eq!(w.allowed(&batch("")), Allowed::Exactly(Ok(Ret::Count(1))));
    let why = |f: &str| {
        w.allowed(&batch(f))
            .exactly()
            .and_then(|o| o.clone().err())
            .and_then(|e| e.why())
    };
    assert_eq!(why(" elem_flags=0x40"), Some(crate::reason::Why::Flags));
    assert_eq!(why(" elem_flags=0x4"), Some(crate::reason::Why::FLock));
    assert_eq!(why(" elem_flags=0x8"), Some(crate::reason::Why::CpuFlags));
}

/// 7.0's element flags on a per-CPU map (`bpf_map_check_op_flags`): BPF_F_CPU or
/// BPF_F_ALL_CPUS, one at a time: both at once are EINVAL.
#[test]
fn both_cpu_flags_at_once_are_einval() {
    let mut w = with_cpu_flags();
    follow(&mut w, &["m0 = create percpu_array key=4 value=4 entries=1"]);
    let why = |f: &str| {
        let o = w.allowed(&op(&format!("update m0 key=00000000 value=01000000 flags={f}")));
        o.exactly().and_then(|o| o.clone().err()).and_then(|e| e.why())
    };
    assert_eq!(why("0x18"), Some(crate::reason::Why::CpuFlags));
    assert_eq!(why("0x10"), None);
}

/// 7.0 takes a per-CPU update's flags other than NOEXIST and EXIST as BPF_ANY (the finding
/// of `percpu-update-flags-3-einval.case`), but NOEXIST and EXIST themselves still refuse;
/// and from 6.19 a lookup's flags are checked after the fd, none being a plain lookup.
#[test]
fn seven_keeps_noexist_and_exist_and_plain_lookups() {
    let seven = Profile {
        percpu_cpu_flags: true,
        percpu_padding_roundtrips: false,
        lookup_flags_after_fd: true,
        ..Profile::default()
    };
    let mut w = World::new(seven.clone(), vec![]);
    follow(
        &mut w,
        &[
            "m0 = create percpu_hash key=4 value=4 entries=2",
            "update m0 key=00000000 value=01000000 flags=0x10",
        ],
    );
    let answer = |w: &World, l: &str| w.allowed(&op(l)).exactly().cloned();
    assert_eq!(
        answer(&w, "update m0 key=00000000 value=02000000 flags=NOEXIST"),
        Some(Err(Errno::EEXIST))
    );
    assert_eq!(
        answer(&w, "update m0 key=01000000 value=02000000 flags=EXIST"),
        Some(Err(Errno::ENOENT))
    );
    let six_nineteen = Profile {
        lookup_flags_after_fd: true,
        ..Profile::default()
    };
    for p in [seven, six_nineteen] {
        let mut w = World::new(p, vec![]);
        follow(&mut w, &["m0 = create array key=4 value=4 entries=1"]);
        assert_eq!(
            answer(&w, "lookup m0 key=00000000"),
            Some(Ok(Ret::Value(vec![0; 4])))
        );
    }
}

/// The `prog-array-lock-first` model fault: a program's update of an array refuses
/// BPF_F_LOCK before the index and NOEXIST (the kernel: after them), and only with BPF_F_LOCK.
#[test]
fn the_prog_array_lock_first_fault_moves_only_f_lock() {
    let mut w = World::new(Profile::default(), vec![crate::fault::Fault::ProgArrayLockFirst]);
    follow(&mut w, &["m0 = create array key=4 value=4 entries=2"]);
    let why = |l: &str| match w.allowed(&op(l)).exactly() {
        Some(Err(e)) => e.why(),
        Some(Ok(_)) => None,
        None => panic!("{l}"),
    };
    use crate::reason::Why;
    let up = "prog update m0 value=01000000";
    assert_eq!(
        why(&format!("{up} key=00000000 flags=NOEXIST|F_LOCK")),
        Some(Why::FLock)
    );
    assert_eq!(why(&format!("{up} key=05000000 flags=F_LOCK")), Some(Why::FLock));
    assert_eq!(
        why(&format!("{up} key=00000000 flags=NOEXIST")),
        Some(Why::Exists)
    );
    assert_eq!(why(&format!("{up} key=00000000")), None);
}

/// What objects hold against RLIMIT_MEMLOCK before 5.11 (`memlock_charged`), as a range: a
/// live map its charge, a live program one page; a closed one anywhere from nothing to its
/// charge, since its uncharge is in a deferred free that nothing here observes.
#[test]
fn released_objects_hold_a_range_of_memlock() {
    let old = Profile {
        mem_accounting: crate::profile::MemAccounting::Rlimit,
        xdp_frags: false,
        ..Profile::default()
    };
    let mut w = World::new(old, vec![]);
    follow(
        &mut w,
        &[
            "fdtable",
            "m0 = create array key=4 value=4096 entries=2",
            "p0 = load socket_filter",
        ],
    );
    let (lo, hi) = w.memlock_charged();
    assert_eq!(lo, hi, "all alive");
    assert!(lo >= 3, "two pages of values and the program's page: {lo}");
    follow(&mut w, &["close m0", "close p0"]);
    assert_eq!(w.memlock_charged(), (0, hi));
}

/// Only a PROG_ARRAY that lost its last user reference is being cleared: one with an fd
/// holds its programs for certain, and so does an array of maps without one (held by a
/// program). The model must say "alive", not "alive or gone".
#[test]
fn only_prog_arrays_without_user_refs_are_cleared() {
    let mut w = World::default();
    let script = [
        "p0 = load socket_filter",
        "m0 = create prog_array key=4 value=4 entries=2",
        "update m0 key=00000000 value=fd:p0",
        "close p0",
        "m1 = create array key=4 value=4 entries=1",
        "m2 = create array_of_maps key=4 value=4 entries=1 inner=m1",
        "update m2 key=00000000 value=fd:m1",
        "p1 = load socket_filter uses=m2",
        "close m2",
        "close m1",
    ];
    for line in script {
        let (op, _) = crate::text::parse_line(line).unwrap();
        let o = w
            .allowed(&op)
            .exactly()
            .cloned()
            .unwrap_or_else(|| panic!("{line}"));
        w.apply(&op, &o);
    }
    for target in [Handle::prog(0), h(2), h(1)] {
        assert_eq!(
            w.allowed(&Op::Alive { target }),
            Allowed::Exactly(Ok(Ret::Alive(true))),
            "{target}"
        );
    }
}

/// Runs script lines through the model, each with its single allowed outcome unless
/// `given` names the kernel's (for the ops whose answer is a set).
fn follow(w: &mut World, lines: &[&str]) {
    for line in lines {
        let (op, _) = crate::text::parse_line(line).unwrap();
        let o = w
            .allowed(&op)
            .exactly()
            .cloned()
            .unwrap_or_else(|| panic!("{line}: {}", w.allowed(&op)));
        w.apply(&op, &o);
    }
}

/// A world on a 7.0 kernel of two CPUs: BPF_F_CPU and BPF_F_ALL_CPUS, no padding round trip.
fn with_cpu_flags() -> World {
    let seven = Profile {
        percpu_cpu_flags: true,
        percpu_padding_roundtrips: false,
        ..Profile::linux_6_18(2)
    };
    World::new(seven, vec![])
}

/// Asserts that the model refuses `line` with exactly `e`, and follows that refusal.
fn refused_with(w: &mut World, line: &str, e: Errno) {
    let o = op(line);
    assert_eq!(w.allowed(&o), Allowed::Exactly(Err(e)), "{line}");
    w.apply(&o, &Err(e));
}

fn op(line: &str) -> Op {
    crate::text::parse_line(line).unwrap().0
}

/// Asserts the preconditions allow `line` in `w`.
fn allows(w: &World, line: &str) {
    assert!(w.precondition(&op(line)).is_ok(), "{line}");
}

/// Why the preconditions refuse `line` in `w` (a panic if they allow it).
fn refusal(w: &World, line: &str) -> String {
    w.precondition(&op(line)).unwrap_err()
}

/// `fill` is the batch of updates it stands for: element i is key i, its pattern value on
/// every CPU; it answers the count, needs an empty writable value map with room for all,
/// and a refused first element is the batch's errno (`generic_map_update_batch`).
#[test]
fn fill_writes_its_elements_and_answers_the_count() {
    let mut w = World::default();
    follow(
        &mut w,
        &["m0 = create hash key=4 value=6 entries=4", "fill m0 n=4"],
    );
    let v = crate::op::fill_value(6, 3);
    // 3 * 0x9e3779b9 ^ 0xa5a5a5a5 = 0x7f03c88e, little-endian, then the next word ^ 1.
    assert_eq!(v, [0x8e, 0xc8, 0x03, 0x7f, 0x8f, 0xc9]);
    assert_eq!(
        w.allowed(&op("lookup m0 key=03000000")),
        Allowed::Exactly(Ok(Ret::Value(v)))
    );
    assert_eq!(
        w.allowed(&op("lookup m0 key=04000000")),
        Allowed::Exactly(Err(Errno::ENOENT))
    );
    assert_eq!(
        w.allowed(&op("update m0 key=09000000 value=000000000000")),
        Allowed::Exactly(Err(Errno::E2BIG))
    );
    // Per-CPU: the same value on each CPU, padding zero; unfilled slots stay zero.
    follow(
        &mut w,
        &["m1 = create percpu_array key=4 value=5 entries=3", "fill m1 n=2"],
    );
    let cpus = w.profile.possible_cpus as usize;
    let mut one = crate::op::fill_value(5, 1);
    one.extend([0, 0, 0]);
    assert_eq!(
        w.allowed(&op("lookup m1 key=01000000")),
        Allowed::Exactly(Ok(Ret::Value(one.repeat(cpus))))
    );
    assert_eq!(
        w.allowed(&op("lookup m1 key=02000000")),
        Allowed::Exactly(Ok(Ret::Value(vec![0; 8 * cpus])))
    );
    // `if (!max_count) return 0;`; the first element's refusal is the batch's.
    follow(&mut w, &["m2 = create array key=4 value=4 entries=2"]);
    assert_eq!(w.allowed(&op("fill m2 n=0")), Allowed::Exactly(Ok(Ret::Count(0))));
    follow(&mut w, &["m3 = fd_by_id m2 flags=RDONLY"]);
    assert_eq!(w.allowed(&op("fill m3 n=2")), Allowed::Exactly(Err(Errno::EPERM)));
    // What a fill cannot be: into a map with elements, a frozen one, past its room, or
    // into a map of fds.
    let refused = |w: &World, line: &str| w.precondition(&op(line)).unwrap_err();
    assert!(refused(&w, "fill m0 n=1").contains("empty"));
    assert!(refused(&w, "fill m2 n=3").contains("room for 2"));
    follow(&mut w, &["m4 = create hash key=1 value=4 entries=300"]);
    assert!(refused(&w, "fill m4 n=257").contains("room for 256"));
    assert!(w.precondition(&op("fill m4 n=256")).is_ok());
    follow(&mut w, &["freeze m2"]);
    assert!(refused(&w, "fill m2 n=1").contains("frozen"));
    follow(&mut w, &["m5 = create prog_array key=4 value=4 entries=2"]);
    assert!(refused(&w, "fill m5 n=1").contains("fds"));
    // Before 5.13 PERCPU_ARRAY has no batch commands: ENOTSUPP, after the fd's access.
    let mut old = World::default();
    old.profile.percpu_array_batch = false;
    follow(&mut old, &["m0 = create percpu_array key=4 value=4 entries=2"]);
    assert_eq!(
        old.allowed(&op("fill m0 n=1")),
        Allowed::Exactly(Err(Errno::ENOTSUPP))
    );
    follow(&mut old, &["m1 = fd_by_id m0 flags=RDONLY"]);
    assert_eq!(
        old.allowed(&op("fill m1 n=1")),
        Allowed::Exactly(Err(Errno::EPERM))
    );
}

/// A removed, unreferenced cgroup may still be dying: `settle dying` allows the counts
/// up to `max`, `dying` the whole range; a count that shows it still dying keeps the set,
/// the count of the referenced ones alone settles it.
#[test]
fn dying_counts_narrow_only_when_the_kernel_shows_it() {
    let mut w = World::default();
    follow(&mut w, &["c0 = mkcgroup", "rmdir c0", "close c0"]);
    assert_eq!(w.dying_counts(), (0, 1));
    assert_eq!(
        w.allowed(&Op::Dying),
        Allowed::OneOf(
            vec![Ok(Ret::Count(0)), Ok(Ret::Count(1))],
            "an unreferenced cgroup is freed by css release work after an RCU grace period"
        )
    );
    match w.allowed(&op("settle dying max=1")) {
        Allowed::OneOf(v, _) => assert_eq!(v, [Ok(Ret::Count(0)), Ok(Ret::Count(1))]),
        a => panic!("{a}"),
    }
    assert_eq!(
        w.allowed(&op("settle dying max=0")),
        Allowed::Exactly(Ok(Ret::Count(0)))
    );
    // The dying-never-narrows canary widens it to the whole range whatever `max` says.
    let mut never = w.clone();
    never.faults = vec![Fault::DyingNeverNarrows];
    assert!(never.allowed(&op("settle dying max=0")).exactly().is_none());
    w.apply(&Op::Dying, &Ok(Ret::Count(1)));
    assert_eq!(w.dying_counts(), (0, 1), "still dying: still pending");
    w.apply(&Op::Dying, &Ok(Ret::Count(0)));
    assert_eq!(w.dying_counts(), (0, 0));
    assert_eq!(w.allowed(&Op::Dying), Allowed::Exactly(Ok(Ret::Count(0))));
}

/// The end of a case settles a removed cgroup whose release is pending (`dying_pending`),
/// only where cgroups are modelled, and not in an fdtable case (its process has its own
/// limits and ends with it) unless the `dying-settled-in-fdtable` fault says so; once the
/// kernel showed it gone, nothing is pending.
#[test]
fn only_a_pending_release_is_settled_at_the_end() {
    let mut w = World::default();
    assert!(!w.dying_pending(), "nothing removed");
    // A directory fd does not pin a removed cgroup: its release may come at once.
    follow(&mut w, &["c0 = mkcgroup", "rmdir c0"]);
    assert!(w.dying_pending());
    let mut no_cgroups = w.clone();
    no_cgroups.profile.cgroup2 = false;
    assert!(!no_cgroups.dying_pending());
    w.apply(&Op::Dying, &Ok(Ret::Count(0)));
    assert!(!w.dying_pending(), "settled");
    let mut fdtable = World::default();
    follow(
        &mut fdtable,
        &["fdtable", "c0 = mkcgroup", "rmdir c0", "close c0"],
    );
    assert!(!fdtable.dying_pending());
    fdtable.faults = vec![Fault::DyingSettledInFdtable];
    assert!(fdtable.dying_pending());
}

/// The `inner-fd-close-releases` model fault drops the edges of maps of maps: an inner map
/// whose fd closes is gone at once, not pending (only a PROG_ARRAY without user references
/// has its slots cleared by deferred work), so the canary meets a kernel that keeps it alive.
#[test]
fn the_inner_fd_close_fault_releases_at_once() {
    let mut w = World::new(Profile::default(), vec![Fault::InnerFdCloseReleases]);
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=1",
            "m1 = create array_of_maps key=4 value=4 entries=1 inner=m0",
            "update m1 key=00000000 value=fd:m0",
            "close m0",
        ],
    );
    assert_eq!(
        w.allowed(&Op::Alive { target: h(0) }),
        Allowed::Exactly(Ok(Ret::Alive(false)))
    );
}

/// What a freed map held in its slots, or a freed program in its used maps, is released by
/// that object's deferred free (`bpf_map_free_deferred`, the program's RCU callback): alive
/// or gone until the kernel shows which, never gone for certain.
#[test]
fn what_a_freed_object_held_is_pending() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=1",
            "m1 = create array_of_maps key=4 value=4 entries=1 inner=m0",
            "update m1 key=00000000 value=fd:m0",
            "m2 = create array key=4 value=4 entries=1",
            "p0 = load socket_filter uses=m2",
            "close m0",
            "close m2",
        ],
    );
    let alive = |w: &World, t: Handle| w.allowed(&Op::Alive { target: t });
    let held = Allowed::Exactly(Ok(Ret::Alive(true)));
    assert_eq!(alive(&w, h(0)), held, "the outer map holds it");
    assert_eq!(alive(&w, h(2)), held, "the program holds it");
    follow(&mut w, &["close m1", "close p0"]);
    for t in [h(0), h(2)] {
        let a = alive(&w, t);
        let op = Op::Alive { target: t };
        assert!(
            w.admits(&op, &a, &Ok(Ret::Alive(true))) && w.admits(&op, &a, &Ok(Ret::Alive(false))),
            "{t}: {a}"
        );
    }
}

/// Scripts the model cannot follow are refused by name: a CPU past a `cpu_set_t` (1024),
/// and an LRU map of more than 2^20 entries that the kernel would create (the model keeps
/// every node; past the hash's entry limit it is E2BIG, which the model answers).
#[test]
fn preconditions_bound_cpus_and_lru_sizes() {
    let w = World::default();
    assert!(w.precondition(&op("cpu 1023")).is_ok());
    assert!(w
        .precondition(&op("cpu 1024"))
        .unwrap_err()
        .contains("below 1024"));
    let lru = |n: u32| op(&format!("m0 = create lru_hash key=4 value=4 entries={n}"));
    assert!(w.precondition(&lru(1 << 20)).is_ok());
    assert!(w.precondition(&lru((1 << 20) + 1)).unwrap_err().contains("2^20"));
    let past = w.profile.hash_max_entries + 1;
    assert!(w.precondition(&lru(past)).is_ok(), "E2BIG, modelled");
}

/// `fd_by_id` of a PROG_ARRAY that lost its user references (no fd, a program holds it)
/// would race `prog_array_map_clear`: refused as a script; with its fd open it is plain.
#[test]
fn fd_by_id_of_a_prog_array_needs_its_user_references() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create prog_array key=4 value=4 entries=1",
            "m1 = create array key=4 value=4 entries=1",
        ],
    );
    assert!(w.precondition(&op("m2 = fd_by_id m0")).is_ok());
    follow(&mut w, &["p0 = load socket_filter uses=m0", "close m0"]);
    let refused = w.precondition(&op("m2 = fd_by_id m0")).unwrap_err();
    assert!(refused.contains("user references"), "{refused}");
    assert!(w.precondition(&op("m2 = fd_by_id m1")).is_ok());
}

/// `dropcap` in an fdtable case takes CAP_SYS_RESOURCE away: raising a hard limit is
/// then EPERM.
#[test]
fn dropcap_forbids_raising_the_hard_limit() {
    let mut w = World::default();
    follow(&mut w, &["fdtable"]);
    let hard = w.limits.as_ref().unwrap().nofile.hard;
    let raise = op(&format!("rlimit nofile soft=10 hard={}", hard + 1));
    assert!(w.allowed(&raise).exactly().unwrap().is_ok());
    follow(&mut w, &["dropcap sys_resource"]);
    assert_eq!(w.allowed(&raise), Allowed::Exactly(Err(Errno::EPERM)));
}

/// A GET_NEXT_KEY that said ENOENT after a key is remembered: that key is the last.
#[test]
fn an_observed_end_is_remembered() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create hash key=4 value=4 entries=4",
            "update m0 key=01000000 value=01000000",
            "update m0 key=02000000 value=02000000",
        ],
    );
    let after1 = op("next_key m0 key=01000000");
    assert!(w.allowed(&after1).exactly().is_none(), "a random seed: a set");
    w.apply(&after1, &Err(Errno::ENOENT));
    assert_eq!(w.allowed(&after1), Allowed::Exactly(Err(Errno::ENOENT)));
}

/// A PROG_ARRAY whose last user reference goes is cleared (prog_array_map_clear) even
/// though a program still holds the map: the programs in it are released.
#[test]
fn a_prog_array_without_users_releases_its_programs() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "p0 = load socket_filter",
            "m0 = create prog_array key=4 value=4 entries=2",
            "update m0 key=00000000 value=fd:p0",
            "close p0",
            "p1 = load socket_filter uses=m0",
            "close m0",
        ],
    );
    let alive = |t: Handle| w.allowed(&Op::Alive { target: t });
    assert_eq!(alive(h(0)), Allowed::Exactly(Ok(Ret::Alive(true))), "held by p1");
    assert!(alive(Handle::prog(0)).exactly().is_none(), "released: pending");
}

/// A load refused by the owner check leaves a pending program object of its own: the
/// next object gets another number.
#[test]
fn a_failed_load_is_an_object_of_its_own() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "p0 = load socket_filter",
            "m0 = create prog_array key=4 value=4 entries=2",
            "update m0 key=00000000 value=fd:p0",
        ],
    );
    let xdp = op("p1 = load xdp uses=m0");
    assert_eq!(w.allowed(&xdp), Allowed::Exactly(Err(Errno::EINVAL)));
    let before = w.objects.len();
    w.apply(&xdp, &Err(Errno::EINVAL));
    follow(&mut w, &["m1 = create array key=4 value=4 entries=1"]);
    assert_eq!(w.objects.len(), before + 2);
}

/// An EMFILE MAP_CREATE consumes an id (the next map's `idgap` is 2), unless the canary
/// fault says otherwise: the fault must change the model's answer, or selftest tests nothing.
#[test]
fn emfile_create_consumes_an_id_unless_the_fault_is_on() {
    let gap = |faults: Vec<Fault>| {
        let mut w = World::new(Profile::default(), faults);
        let create = |n| Op::CreateMap {
            handle: h(n),
            spec: MapSpec::new(MapType::Array, 4, 4, 1),
        };
        w.apply(&Op::FdTable, &Ok(Ret::Unit));
        w.apply(&create(0), &w.allowed(&create(0)).exactly().cloned().unwrap());
        w.apply(&create(1), &Err(Errno::EMFILE));
        w.apply(&create(2), &w.allowed(&create(2)).exactly().cloned().unwrap());
        w.allowed(&Op::IdGap { from: h(0), to: h(2) })
    };
    assert_eq!(gap(vec![]), Allowed::Exactly(Ok(Ret::Count(2))));
    assert_eq!(
        gap(vec![Fault::EmfileCreateKeepsNoId]),
        Allowed::Exactly(Ok(Ret::Count(1)))
    );
}

/// `idgap` counts the ids between two maps of an fdtable case (not from the first map only).
#[test]
fn idgap_is_the_difference_of_creation_order() {
    let mut w = World::default();
    follow(&mut w, &["fdtable"]);
    for n in 0..3 {
        follow(&mut w, &[&format!("m{n} = create array key=4 value=4 entries=1")]);
    }
    assert_eq!(w.allowed(&op("idgap m1 m2")), Allowed::Exactly(Ok(Ret::Count(1))));
    assert_eq!(w.allowed(&op("idgap m0 m2")), Allowed::Exactly(Ok(Ret::Count(2))));
}

/// The widening canary `alive-either-after-settle` widens `settle` as well as `alive`: a
/// freed map may be reported alive or gone (selftest must catch a kernel that exploits it).
#[test]
fn the_alive_either_fault_widens_settle_too() {
    let either = Allowed::OneOf(
        vec![Ok(Ret::Alive(true)), Ok(Ret::Alive(false))],
        "fault alive-either-after-settle",
    );
    let mut w = World::new(Profile::default(), vec![Fault::AliveEitherAfterSettle]);
    follow(&mut w, &["m0 = create array key=4 value=4 entries=1", "close m0"]);
    assert_eq!(w.allowed(&op("settle m0")), either);
    assert_eq!(w.allowed(&op("alive m0")), either);
    let mut plain = World::default();
    follow(
        &mut plain,
        &["m0 = create array key=4 value=4 entries=1", "close m0"],
    );
    assert_eq!(
        plain.allowed(&op("settle m0")),
        Allowed::Exactly(Ok(Ret::Alive(false)))
    );
    assert_eq!(
        plain.allowed(&op("alive m0")),
        Allowed::Exactly(Ok(Ret::Alive(false)))
    );
}

/// BPF_OBJ_GET's file_flags (`bpf_get_file_flag`): none, RDONLY or WRONLY; both, or any
/// other bit, is EINVAL before the path is looked at.
#[test]
fn get_pinned_takes_one_access_mode_or_none() {
    use crate::op::flags::{RDONLY, WRONLY};
    let mut w = World::default();
    follow(&mut w, &["m0 = create array key=4 value=4 entries=1", "pin m0"]);
    let get = |file_flags| Op::GetPinned {
        handle: h(1),
        target: h(0),
        file_flags,
    };
    for ok in [0, RDONLY, WRONLY] {
        assert_eq!(
            w.allowed(&get(ok)),
            Allowed::Exactly(Ok(Ret::Fd(h(1)))),
            "{ok:#x}"
        );
    }
    for bad in [RDONLY | WRONLY, 1, RDONLY | 1] {
        assert_eq!(
            w.allowed(&get(bad)),
            Allowed::Exactly(Err(Errno::EINVAL)),
            "{bad:#x}"
        );
    }
    // The new fd opens the pinned map with the access it asked for.
    follow(&mut w, &["m1 = get_pinned m0 flags=RDONLY"]);
    assert_eq!(
        w.allowed(&op("lookup m1 key=00000000")),
        Allowed::Exactly(Ok(Ret::Value(vec![0; 4])))
    );
    assert_eq!(
        w.allowed(&op("update m1 key=00000000 value=01000000")),
        Allowed::Exactly(Err(Errno::EPERM))
    );
}

/// PERF_EVENT_ARRAY entries go with the map file they were inserted through: closing
/// another fd of the same map (another file) keeps them; closing that file drops them.
#[test]
fn perf_entries_go_with_their_own_file_only() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create perf_event_array key=4 value=4 entries=2",
            "e0 = perf_event",
            "update m0 key=00000000 value=fd:e0",
            "m1 = fd_by_id m0",
        ],
    );
    let slots = |w: &World| match &w.objects[&w.created[&h(0)]].body {
        Body::Map(MapObj {
            data: MapData::Fds(f),
            ..
        }) => f.slots.len(),
        _ => unreachable!(),
    };
    assert_eq!(slots(&w), 1);
    follow(&mut w, &["close m1"]);
    assert_eq!(slots(&w), 1, "another file of the map closed");
    follow(&mut w, &["m2 = fd_by_id m0", "close m0"]);
    assert_eq!(slots(&w), 0, "the inserting file closed");
}

/// A load refused for RLIMIT_MEMLOCK (before the verifier) binds no PROG_ARRAY owner; one
/// refused for want of an fd (EMFILE, after verification) does: the next load of another
/// type through that array is EINVAL.
#[test]
fn only_a_verified_failed_load_binds_prog_array_owners() {
    let mut w = World::new(
        Profile {
            mem_accounting: crate::profile::MemAccounting::Rlimit,
            ..Profile::default()
        },
        vec![],
    );
    follow(
        &mut w,
        &[
            "fdtable",
            "m0 = create prog_array key=4 value=4 entries=1",
            "rlimit memlock soft=0 hard=inf",
        ],
    );
    let xdp = "p0 = load xdp uses=m0";
    refused_with(&mut w, xdp, Errno::EPERM);
    follow(&mut w, &["rlimit memlock soft=inf hard=inf"]);
    assert!(w
        .allowed(&op("p1 = load socket_filter uses=m0"))
        .exactly()
        .unwrap()
        .is_ok());
    // At the fd limit: verified, then no fd.
    let n = w.next_fd().unwrap();
    let hard = w.limits.as_ref().unwrap().nofile.hard;
    follow(&mut w, &[&format!("rlimit nofile soft={n} hard={hard}")]);
    refused_with(&mut w, xdp, Errno::EMFILE);
    follow(&mut w, &[&format!("rlimit nofile soft={} hard={hard}", n + 1)]);
    assert_eq!(
        w.allowed(&op("p1 = load socket_filter uses=m0")),
        Allowed::Exactly(Err(Errno::EINVAL))
    );
}

/// `mkcgroup` at the fd limit made the directory before open(2) failed: the cgroup exists
/// (rmdir finds it) though no fd holds it.
#[test]
fn an_emfile_mkcgroup_still_made_the_directory() {
    let mut w = World::default();
    follow(&mut w, &["fdtable"]);
    let n = w.next_fd().unwrap();
    let hard = w.limits.as_ref().unwrap().nofile.hard;
    follow(&mut w, &[&format!("rlimit nofile soft={n} hard={hard}")]);
    refused_with(&mut w, "c0 = mkcgroup", Errno::EMFILE);
    assert_eq!(w.allowed(&op("rmdir c0")), Allowed::Exactly(Ok(Ret::Unit)));
}

/// A write makes its map one of ids or of bytes from the attempt on, a batch or a fill as
/// much as an update, refused ones too (here through read-only fds): bytes after ids, or
/// ids after bytes, are refused as scripts.
#[test]
fn batch_and_fill_writes_mark_ids_or_bytes() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=2",
            "m1 = create array key=4 value=4 entries=2",
            "m2 = fd_by_id m0 flags=RDONLY",
            "m3 = fd_by_id m1 flags=RDONLY",
        ],
    );
    for line in [
        "update_batch m2 count=1 keys=00000000 values=id:m1",
        "fill m3 n=1",
    ] {
        assert_eq!(
            w.allowed(&op(line)),
            Allowed::Exactly(Err(Errno::EPERM)),
            "{line}"
        );
    }
    follow(
        &mut w,
        &[
            "update_batch m2 count=1 keys=00000000 values=id:m1",
            "fill m3 n=1",
        ],
    );
    let refused = |line: &str| w.precondition(&op(line)).unwrap_err();
    assert!(refused("update m0 key=01000000 value=01000000").contains("holds ids"));
    assert!(refused("update m1 key=01000000 value=id:m0").contains("was written bytes"));
}

/// Before 5.11 a program load charges its page to RLIMIT_MEMLOCK too
/// (`bpf_prog_charge_memlock`, before the verifier): EPERM at a limit of 0; below a
/// limit a fit is uncertain (user->locked_vm is per user); a loaded program's page
/// counts against the next load.
#[test]
fn memlock_charges_program_loads_in_the_old_dialect() {
    // A kernel that charges RLIMIT_MEMLOCK (before 5.11) has no BPF_F_XDP_HAS_FRAGS (5.18):
    // a load with it is refused for its flags before the charge.
    let mut w = World::new(
        Profile {
            mem_accounting: crate::profile::MemAccounting::Rlimit,
            xdp_frags: false,
            ..Profile::default()
        },
        vec![],
    );
    follow(&mut w, &["fdtable", "rlimit memlock soft=0 hard=inf"]);
    assert_eq!(
        w.allowed(&op("p0 = load socket_filter")),
        Allowed::Exactly(Err(Errno::EPERM))
    );
    assert_eq!(
        w.allowed(&op("p0 = load xdp frags")),
        Allowed::Exactly(Err(Errno::EINVAL))
    );
    follow(&mut w, &["rlimit memlock soft=4096 hard=inf"]);
    let load = op("p1 = load socket_filter");
    let fit = w.allowed(&load);
    assert!(
        fit.exactly().is_none() && w.admits(&load, &fit, &Err(Errno::EPERM)),
        "{fit}"
    );
    w.apply(&load, &Ok(Ret::Fd(Handle::prog(1))));
    assert_eq!(
        w.allowed(&op("p2 = load socket_filter")),
        Allowed::Exactly(Err(Errno::EPERM)),
        "one page is taken"
    );
}

/// The pre-5.11 dialect, checked against the model alone until a 5.10 kernel is in the
/// matrix: RLIMIT_MEMLOCK bounds what maps may charge, with EPERM from map_alloc (before
/// the name check), and the charge comes back only when a map is freed.
#[test]
fn memlock_rlimit_dialect() {
    use crate::limits::INF;
    use crate::op::Resource;
    use crate::profile::MemAccounting;
    let p = Profile {
        mem_accounting: MemAccounting::Rlimit,
        ..Profile::default()
    };
    let mut w = World::new(p, vec![]);
    let run = |w: &mut World, op: Op| {
        let o = crate::gen::predict(w, &op);
        w.apply(&op, &o);
        o
    };
    assert_eq!(run(&mut w, Op::FdTable), Ok(Ret::Unit));
    let set = |soft| Op::SetRlimit {
        res: Resource::Memlock,
        soft,
        hard: INF,
    };
    let create = |n: u32, entries: u32| Op::CreateMap {
        handle: h(n),
        spec: MapSpec::new(MapType::Array, 4, 4096, entries),
    };
    assert_eq!(run(&mut w, set(0)), Ok(Ret::Unit));
    assert_eq!(run(&mut w, create(0, 1)), Err(Errno::EPERM));
    let mut bad_name = create(1, 1);
    if let Op::CreateMap { spec, .. } = &mut bad_name {
        spec.name = b"a-b".to_vec();
    }
    assert_eq!(
        run(&mut w, bad_name),
        Err(Errno::EPERM),
        "the charge precedes the name check"
    );
    // 1 MiB: 256 pages of values plus the header, one page more at most.
    assert_eq!(run(&mut w, set(300 << 12)), Ok(Ret::Unit));
    assert_eq!(run(&mut w, create(2, 256)), Ok(Ret::FdAt(h(2), 3)));
    assert_eq!(
        run(&mut w, create(3, 256)),
        Err(Errno::EPERM),
        "the first map still holds its pages"
    );
    assert_eq!(run(&mut w, Op::Close { handle: h(2) }), Ok(Ret::Unit));
    // Its pages come back in the deferred free: either answer, for the rest of the case.
    let a = w.allowed(&create(4, 256));
    assert!(w.admits(&create(4, 256), &a, &Ok(Ret::FdAt(h(4), 3))), "{a}");
    assert!(w.admits(&create(4, 256), &a, &Err(Errno::EPERM)), "{a}");
    // The same ops in the memcg dialect: the limit is never consulted.
    let mut w = World::new(Profile::default(), vec![]);
    assert_eq!(run(&mut w, Op::FdTable), Ok(Ret::Unit));
    assert_eq!(run(&mut w, set(0)), Ok(Ret::Unit));
    assert_eq!(run(&mut w, create(0, 256)), Ok(Ret::FdAt(h(0), 3)));
}

/// Scripts the model must refuse to run (a stale or hand-written mistake), each named.
#[test]
fn preconditions_refuse_impossible_scripts() {
    let mut w = World::default();
    let run = |w: &mut World, op: Op| {
        assert!(w.precondition(&op).is_ok(), "{op}");
        let o = crate::gen::predict(w, &op);
        w.apply(&op, &o);
    };
    let err = |w: &World, op: Op| w.precondition(&op).unwrap_err();
    let map = |n: u32, t: MapType| Op::CreateMap {
        handle: h(n),
        spec: MapSpec::new(t, 4, 4, 2),
    };
    run(&mut w, map(0, MapType::Array));
    assert!(err(&w, Op::FdTable).contains("first op"));
    let mut inner = MapSpec::new(MapType::Array, 4, 4, 2);
    inner.inner = Some(FdRef::Handle(h(0)));
    assert!(err(
        &w,
        Op::CreateMap {
            handle: h(9),
            spec: inner
        }
    )
    .contains("only for map-in-map"));
    assert!(err(&w, Op::Pin { target: h(7) }).contains("not open"));
    assert!(err(&w, Op::IdGap { from: h(0), to: h(0) }).contains("fdtable"));
    run(&mut w, map(1, MapType::ProgArray));
    let upd = |v: FdRef| Op::Update {
        map: FdRef::Handle(h(1)),
        key: vec![0; 4],
        value: Value::Fd(v),
        flags: 0,
    };
    assert!(err(&w, upd(FdRef::Handle(h(5)))).contains("not open"));
    // Type numbers from 64 up are not kernel types at all: refused with EINVAL, not stale.
    let ty = |n| Op::CreateMap {
        handle: h(8),
        spec: MapSpec::new(MapType::Other(n), 4, 4, 1),
    };
    assert!(err(&w, ty(63)).contains("not modelled"));
    assert!(w.precondition(&ty(64)).is_ok());
    assert_eq!(w.allowed(&ty(64)), Allowed::Exactly(Err(Errno::EINVAL)));
    let p = Op::LoadProg {
        handle: Handle::prog(0),
        spec: ProgSpec {
            prog_type: crate::op::ProgType::SocketFilter,
            xdp_frags: false,
            attach: 0,
        },
        uses: vec![],
    };
    run(&mut w, p);
    run(
        &mut w,
        Op::Pin {
            target: Handle::prog(0),
        },
    );
    let as_map = Op::GetPinned {
        handle: h(6),
        target: Handle::prog(0),
        file_flags: 0,
    };
    assert!(err(&w, as_map).contains("pins a program"));
    let prog_as_prog = Op::GetPinned {
        handle: Handle::prog(5),
        target: Handle::prog(0),
        file_flags: 0,
    };
    assert!(w.precondition(&prog_as_prog).is_ok());
    run(&mut w, Op::Pin { target: h(1) });
    let as_prog = Op::GetPinned {
        handle: Handle::prog(3),
        target: h(1),
        file_flags: 0,
    };
    assert!(err(&w, as_prog).contains("pins a map"));
    run(&mut w, Op::Unpin { target: h(1) });
    run(&mut w, Op::Close { handle: h(1) });
    let by_id = Op::FdById {
        handle: h(4),
        target: h(1),
        open_flags: 0,
    };
    // A PROG_ARRAY without an fd: a new fd would race prog_array_map_clear.
    assert!(w.precondition(&by_id).is_err());
    let prog_by_id = Op::FdById {
        handle: Handle {
            kind: Kind::Cgroup,
            n: 0,
        },
        target: h(0),
        open_flags: 0,
    };
    assert!(err(&w, prog_by_id).contains("maps and programs"));
    // In an fdtable case, idgap wants two maps in creation order.
    let mut f = World::default();
    run(&mut f, Op::FdTable);
    run(&mut f, map(0, MapType::Array));
    run(&mut f, map(1, MapType::Hash));
    assert!(f.precondition(&Op::IdGap { from: h(0), to: h(1) }).is_ok());
    assert!(err(&f, Op::IdGap { from: h(1), to: h(0) }).contains("before"));
    assert!(err(&f, Op::IdGap { from: h(0), to: h(0) }).contains("before"));
    assert!(err(&f, Op::Dying).contains("spare fd"));
    // Observing, unpinning and element ops.
    let cg = Handle {
        kind: Kind::Cgroup,
        n: 0,
    };
    assert!(err(&w, Op::Alive { target: cg }).contains("maps and programs"));
    assert_eq!(
        w.allowed(&Op::Settle { target: h(0) }),
        Allowed::Exactly(Ok(Ret::Alive(true)))
    );
    assert!(err(&w, Op::Alive { target: h(9) }).contains("never created"));
    assert!(err(&w, Op::Unpin { target: h(9) }).contains("never defined"));
    let mut mim = MapSpec::new(MapType::HashOfMaps, 4, 4, 2);
    mim.inner = Some(FdRef::Handle(h(7)));
    let mim = Op::CreateMap {
        handle: h(9),
        spec: mim,
    };
    assert!(err(&w, mim).contains("not open"));
    let short_key = Op::Update {
        map: FdRef::Handle(h(0)),
        key: vec![0; 3],
        value: Value::Bytes(vec![0; 4]),
        flags: 0,
    };
    assert!(err(&w, short_key).contains("4-byte keys"));
    let short = || vec![0; 3];
    let lookup = Op::Lookup {
        map: FdRef::Handle(h(0)),
        key: short(),
        input: Vec::new(),
        flags: 0,
    };
    assert!(err(&w, lookup).contains("4-byte keys"));
    let next = Op::GetNextKey {
        map: FdRef::Handle(h(0)),
        key: Some(short()),
    };
    assert!(err(&w, next).contains("4-byte keys"));
    let fd_into_bytes = Op::Update {
        map: FdRef::Handle(h(0)),
        key: vec![0; 4],
        value: Value::Fd(FdRef::Handle(h(0))),
        flags: 0,
    };
    assert!(err(&w, fd_into_bytes).contains("holds bytes"));
    let no_inner = Op::CreateMap {
        handle: h(9),
        spec: MapSpec::new(MapType::ArrayOfMaps, 4, 4, 2),
    };
    assert!(err(&w, no_inner).contains("needs inner="));
    run(&mut w, map(2, MapType::ProgArray));
    let bytes_into_fds = Op::Update {
        map: FdRef::Handle(h(2)),
        key: vec![0; 4],
        value: Value::Bytes(vec![0; 4]),
        flags: 0,
    };
    assert!(err(&w, bytes_into_fds).contains("holds fds"));
}

/// What a create may cost decides ENOMEM (and the pre-5.11 memlock charge).
#[test]
fn allocation_estimates_and_the_enomem_edge() {
    let w = World::default();
    let est = |t, k, v, n, flags| {
        let mut s = MapSpec::new(t, k, v, n);
        s.map_flags = flags;
        w.alloc_estimate(&s)
    };
    assert_eq!(est(MapType::Array, 4, 12, 10, 0), 160);
    assert_eq!(est(MapType::PercpuArray, 4, 12, 10, 0), 10 * (16 * 2 + 8));
    assert_eq!(est(MapType::ProgArray, 4, 4, 10, 0), 80);
    assert_eq!(est(MapType::Hash, 4, 12, 10, 0), (48 + 8 + 16) * 12);
    assert_eq!(est(MapType::PercpuHash, 4, 12, 10, 0), (48 + 8 + 8 + 32) * 12);
    assert_eq!(est(MapType::Hash, 4, 12, 10, NO_PREALLOC), 16 * 16);
    assert_eq!(est(MapType::HashOfMaps, 4, 4, 10, 0), (48 + 8 + 8) * 12);
    let create = |n: u32| Op::CreateMap {
        handle: h(0),
        spec: MapSpec::new(MapType::Array, 4, 8, n),
    };
    // Exactly 1 GiB is still certain; one entry more may fail.
    assert_eq!(w.allowed(&create(1 << 27)), Allowed::Exactly(Ok(Ret::Fd(h(0)))));
    assert!(matches!(w.allowed(&create((1 << 27) + 1)), Allowed::OneOf(..)));
    assert_eq!(w.allowed(&create(16)), Allowed::Exactly(Ok(Ret::Fd(h(0)))));
    // Without CAP_SYS_ADMIN only ZERO_SEED is refused.
    let user = World::new(
        Profile {
            cap_sys_admin: false,
            ..Profile::default()
        },
        vec![],
    );
    let hash = |flags| {
        let mut s = MapSpec::new(MapType::Hash, 4, 4, 4);
        s.map_flags = flags;
        Op::CreateMap {
            handle: h(0),
            spec: s,
        }
    };
    assert_eq!(user.allowed(&hash(0)), Allowed::Exactly(Ok(Ret::Fd(h(0)))));
    assert_eq!(
        user.allowed(&hash(NO_PREALLOC)),
        Allowed::Exactly(Ok(Ret::Fd(h(0))))
    );
    assert_eq!(
        user.allowed(&hash(ZERO_SEED)),
        Allowed::Exactly(Err(Errno::EPERM))
    );
}

#[test]
fn describe_shows_at_most_eight_entries() {
    let mut w = World::default();
    let create = Op::CreateMap {
        handle: h(0),
        spec: MapSpec::new(MapType::Hash, 4, 4, 16),
    };
    w.apply(&create, &Ok(Ret::Fd(h(0))));
    for i in 0..9u32 {
        let op = Op::Update {
            map: FdRef::Handle(h(0)),
            key: i.to_le_bytes().to_vec(),
            value: Value::Bytes(vec![1; 4]),
            flags: 0,
        };
        w.apply(&op, &Ok(Ret::Unit));
        let d = w.describe(h(0));
        assert_eq!(d.ends_with(" ...}"), i == 8, "{d}");
    }
}

/// `info` reports the object behind the fd (an fd by id or a pin names its creator),
/// with the fd-side access flags stripped and the name cut at its first NUL; bad and
/// non-map fds fail as `bpf_obj_get_info_by_fd` says.
#[test]
fn info_reports_the_object_behind_the_fd() {
    let run_script = |faults: Vec<Fault>| {
        let mut w = World::new(Profile::default(), faults);
        for line in [
            "m0 = create hash key=4 value=8 entries=16 flags=RDONLY|NO_PREALLOC name=\"ab\\x00cd\"",
            "m1 = fd_by_id m0 flags=WRONLY",
            "p0 = load socket_filter",
            "c0 = mkcgroup",
            "c1 = open_cgroup c0 path",
        ] {
            let (op, _) = crate::text::parse_line(line).unwrap();
            let o = crate::gen::predict(&w, &op);
            assert!(o.is_ok(), "{line}");
            w.apply(&op, &o);
        }
        w
    };
    let w = run_script(vec![]);
    let info = |w: &World, r: FdRef| w.allowed(&Op::Info { map: r }).exactly().cloned().unwrap();
    let got = info(&w, FdRef::Handle(h(1)));
    assert_eq!(
        crate::outcome::fmt_outcome(&got),
        "ok id=m0 type=hash key=4 value=8 entries=16 flags=0x1 name=\"ab\""
    );
    assert_eq!(info(&w, FdRef::Bad(BadFd::Closed)), Err(Errno::EBADFD));
    assert_eq!(info(&w, FdRef::Bad(BadFd::NeverOpened)), Err(Errno::EBADFD));
    assert_eq!(info(&w, FdRef::Bad(BadFd::NotBpf)), Err(Errno::EINVAL));
    assert_eq!(info(&w, FdRef::Handle(Handle::cgroup(0))), Err(Errno::EINVAL));
    assert_eq!(info(&w, FdRef::Handle(Handle::cgroup(1))), Err(Errno::EBADFD));
    let prog = Op::Info {
        map: FdRef::Handle(Handle::prog(0)),
    };
    assert!(w.precondition(&prog).unwrap_err().contains("bpf_prog_info"));
    // The canary keeps RDONLY: its answer must differ, or selftest tests nothing.
    let faulty = run_script(vec![Fault::InfoKeepsAccessFlags]);
    let Ok(Ret::Info(i)) = info(&faulty, FdRef::Handle(h(0))) else {
        panic!("info of a map")
    };
    assert_eq!(i.map_flags, RDONLY | NO_PREALLOC);
}

/// An ARRAY_OF_MAPS hole in a LOOKUP_BATCH walk, both dialects: skipped since 5644c6b50ffe
/// (the walk goes on), before it three retries and EINTR, the count what was copied and the
/// cursor the last key copied (none when nothing was). The kernel here speaks the new one
/// (`regressions/batch/map-in-map-lookups.case`); the old one is what the matrix's older
/// kernels would show (`regressions/dialects/batch-hole-eintr-before-6.14.case`).
#[test]
fn a_batch_hole_is_skipped_or_eintr_by_dialect() {
    let script = [
        "m0 = create array key=4 value=4 entries=1",
        "m1 = create array_of_maps key=4 value=4 entries=4 inner=m0",
        "update m1 key=01000000 value=fd:m0",
    ];
    let answers = |skips: bool| {
        let p = Profile {
            batch_skips_holes: skips,
            ..Profile::default()
        };
        let mut w = World::new(p, vec![]);
        for line in script {
            let (op, _) = crate::text::parse_line(line).unwrap();
            let o = crate::gen::predict(&w, &op);
            w.apply(&op, &o);
        }
        [
            "lookup_batch m1 in=NULL count=4",
            "lookup_batch m1 in=00000000 count=4",
        ]
        .map(|line| {
            let (op, _) = crate::text::parse_line(line).unwrap();
            match w.allowed(&op) {
                Allowed::Exactly(o) => crate::outcome::fmt_outcome(&o),
                a => panic!("{line}: {a}"),
            }
        })
    };
    assert_eq!(
        answers(true),
        [
            "ENOENT count=1 keys=01000000 ids=m0 out=03000000",
            "ENOENT count=1 keys=01000000 ids=m0 out=03000000"
        ]
    );
    assert_eq!(
        answers(false),
        ["EINTR count=0", "EINTR count=1 keys=01000000 ids=m0 out=01000000"]
    );
}

/// `value=id:m1` writes the id of the map behind m1 (as the handle that made it, so an fd by
/// id names its creator), reads back as `id:m1` and as an id's cell in a state; a map holds
/// ids and zeros or bytes, 4-byte values only, neither per-CPU nor a bloom filter.
#[test]
fn ids_written_as_values_read_back_as_ids() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=2",
            "m1 = create hash key=4 value=4 entries=2",
            "m2 = fd_by_id m1",
            "update m0 key=00000000 value=id:m2",
        ],
    );
    let answer = |w: &World, line: &str| match w.allowed(&op(line)) {
        Allowed::Exactly(o) => crate::outcome::fmt_outcome(&o),
        a => panic!("{line}: {a}"),
    };
    assert_eq!(answer(&w, "lookup m0 key=00000000"), "ok value=id:m1");
    assert!(
        w.describe(h(0)).contains("00000000:id:m1"),
        "{}",
        w.describe(h(0))
    );
    assert_eq!(answer(&w, "lookup m0 key=01000000"), "ok value=00000000");
    assert_eq!(
        answer(&w, "lookup_batch m0 in=NULL count=2"),
        "ok count=2 keys=00000000,01000000 values=id:m1,00000000 out=01000000"
    );
    let state = match w.allowed(&op("check m0")) {
        Allowed::ArrayState { written, .. } => written,
        a => panic!("{a}"),
    };
    assert_eq!(state[&0], (crate::outcome::ID_CELL | 1).to_le_bytes());
    // A map that holds no ids keeps bytes that spell a token as bytes (`id:?` is 4 bytes).
    follow(
        &mut w,
        &[
            "m20 = create hash key=4 value=4 entries=1",
            "update m20 key=00000000 value=69643a3f",
        ],
    );
    match w.allowed(&op("check m20")) {
        Allowed::State(st, _) => assert_eq!(st.values, b"id:?"),
        a => panic!("{a}"),
    }
    // Zeros go into a map holding ids, other bytes do not; an id goes nowhere bytes went.
    assert!(w
        .precondition(&op("update m0 key=01000000 value=00000000"))
        .is_ok());
    let refused = |w: &World, line: &str| w.precondition(&op(line)).unwrap_err();
    assert!(refused(&w, "update m0 key=01000000 value=01000000").contains("holds ids"));
    assert!(refused(&w, "update_batch m0 count=1 keys=01000000 values=01000000").contains("holds ids"));
    assert!(refused(
        &w,
        "update_batch m1 count=2 keys=00000000,01000000 values=id:m0,01000000"
    )
    .contains("one or the other"));
    follow(&mut w, &["update m1 key=00000000 value=02000000"]);
    assert!(refused(&w, "update m1 key=00000000 value=id:m0").contains("was written bytes"));
    follow(
        &mut w,
        &[
            "m3 = create array key=4 value=8 entries=1",
            "m4 = create percpu_array key=4 value=4 entries=1",
            "m5 = create bloom_filter key=0 value=4 entries=1",
            "m6 = create hash key=4 value=4 entries=1",
        ],
    );
    for line in [
        "update m3 key=00000000 value=id:m0",
        "update m4 key=00000000 value=id:m0",
        "update m5 key= value=id:m0",
    ] {
        assert!(refused(&w, line).contains("4-byte values"), "{line}");
    }
    assert!(refused(&w, "update m6 key=00000000 value=id:p0").contains("no open map"));
    assert!(refused(&w, "update m6 key=00000000 value=id:m9").contains("no open map"));
    // A state cell holds the creator's number: by its creator, whatever the fd.
    follow(
        &mut w,
        &[
            "m65535 = create array key=4 value=4 entries=1",
            "m8 = fd_by_id m65535",
        ],
    );
    assert!(refused(&w, "update m6 key=00000000 value=id:m65535").contains("below m65535"));
    assert!(refused(&w, "update m6 key=00000000 value=id:m8").contains("made by m65535"));
    // The named map is checked whatever the write goes through.
    assert!(refused(&w, "update badfd:closed key=00000000 value=id:m9").contains("no open map"));
    assert!(
        refused(&w, "update_batch badfd:file count=1 keys=00000000 values=id:m9").contains("no open map")
    );
    assert!(w
        .precondition(&op("update badfd:closed key=00000000 value=id:m0"))
        .is_ok());
    // A zero written into a map that holds nothing leaves it free to take ids; a hash's
    // state holds an id as its cell.
    follow(
        &mut w,
        &[
            "update m6 key=00000000 value=00000000",
            "update m6 key=00000000 value=id:m1",
        ],
    );
    match w.allowed(&op("check m6")) {
        Allowed::State(st, _) => assert_eq!(st.values, (crate::outcome::ID_CELL | 1).to_le_bytes()),
        a => panic!("{a}"),
    }
    follow(&mut w, &["m7 = create hash key=4 value=4 entries=1"]);
    // From the attempt: a failed write of an id still makes the map one holding ids.
    follow(&mut w, &["update m7 key=00000000 value=id:m0 flags=EXIST"]);
    assert!(refused(&w, "fill m7 n=1").contains("holds ids"));
    // The model fault names the map written into.
    let mut f = World::new(Profile::default(), vec![Fault::IdValueOfWrittenMap]);
    follow(
        &mut f,
        &[
            "m0 = create array key=4 value=4 entries=1",
            "m1 = create array key=4 value=4 entries=1",
            "update m0 key=00000000 value=id:m1",
        ],
    );
    assert_eq!(answer(&f, "lookup m0 key=00000000"), "ok value=id:m0");
}

/// Element ops the backend could not send as written are refused with what is wrong: a
/// lookup's peek value outside a bloom filter, a batch's key sizes, values and count, a
/// batch cursor of the wrong size, and unpinned LRU writes past the states the model follows.
#[test]
fn element_preconditions_name_the_field() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create hash key=8 value=4 entries=4",
            "m1 = create array key=4 value=4 entries=4",
        ],
    );
    let err = |w: &World, op: Op| w.precondition(&op).unwrap_err();
    let peek = Op::Lookup {
        map: FdRef::Handle(h(0)),
        key: vec![0; 8],
        input: vec![0; 4],
        flags: 0,
    };
    assert!(err(&w, peek).contains("a bloom filter peeks for"));
    let update_batch = |keys: Vec<Vec<u8>>, n: usize| Op::UpdateBatch {
        map: FdRef::Handle(h(0)),
        keys,
        values: vec![Value::Bytes(vec![0; 4]); n],
        elem_flags: 0,
        flags: 0,
    };
    assert!(w.precondition(&update_batch(vec![vec![0; 8]], 1)).is_ok());
    assert!(err(&w, update_batch(vec![vec![0; 8], vec![0; 7]], 2)).contains("8-byte keys"));
    assert!(err(&w, update_batch(vec![vec![0; 8]], 2)).contains("one value per key"));
    let lookup_batch = |map: u32, cursor: Option<Vec<u8>>, count: u32| Op::LookupBatch {
        map: FdRef::Handle(h(map)),
        delete: false,
        cursor,
        count,
        elem_flags: 0,
        flags: 0,
    };
    assert!(w.precondition(&lookup_batch(0, None, MAX_BATCH)).is_ok());
    assert!(err(&w, lookup_batch(0, None, MAX_BATCH + 1)).contains("at most"));
    // A hash's cursor is a bucket index, an array's a key.
    assert!(w.precondition(&lookup_batch(0, Some(vec![0; 4]), 1)).is_ok());
    assert!(err(&w, lookup_batch(0, Some(vec![0; 8]), 1)).contains("u32 bucket index"));
    assert!(w.precondition(&lookup_batch(1, Some(vec![0; 4]), 1)).is_ok());
    assert!(err(&w, lookup_batch(1, Some(vec![0; 3]), 1)).contains("(a key)"));
    // An unpinned LRU update is one list state per CPU: 64 states are followed, 65 are not.
    for (cpus, ok) in [(64, true), (65, false)] {
        let mut w = World::new(Profile::linux_6_18(cpus), vec![]);
        follow(&mut w, &["m0 = create lru_hash key=4 value=4 entries=256"]);
        let update = op("update m0 key=00000000 value=00000000");
        match w.precondition(&update) {
            Ok(()) => assert!(ok, "{cpus} CPUs"),
            Err(e) => assert!(!ok && e.contains("list states"), "{cpus} CPUs: {e}"),
        }
    }
}

/// Preconditions of the rest of the element ops: a batch mixing ids with bytes other than
/// zeros, an `id:` that names no map, an LRU fill past its key space, and CPU flags in a
/// 7.0 batch of a per-CPU map (a value stride the model does not follow).
#[test]
fn batch_fill_and_id_preconditions_name_the_field() {
    let mut w = with_cpu_flags();
    follow(
        &mut w,
        &[
            "cpu 0",
            "m0 = create array key=4 value=4 entries=4",
            "m1 = create hash key=4 value=4 entries=4",
            "m2 = create lru_hash key=1 value=4 entries=512",
            "m3 = create percpu_hash key=4 value=8 entries=4",
        ],
    );
    allows(
        &w,
        "update_batch m1 count=2 keys=00000000,01000000 values=id:m0,00000000",
    );
    assert!(refusal(
        &w,
        "update_batch m1 count=2 keys=00000000,01000000 values=id:m0,01010101"
    )
    .contains("one or the other"));
    // The fill's keys are 1 byte: 256 of them, from=56 n=200 ends at the last.
    allows(&w, "fill m2 n=200 from=56");
    assert!(refusal(&w, "fill m2 n=200 from=57").contains("number 256"));
    // BPF_F_CPU (8) and BPF_F_ALL_CPUS (16) by number.
    let batch = |m: u32, flags: &str| format!("lookup_batch m{m} in=NULL count=1 elem_flags={flags}");
    for flags in ["8", "16"] {
        assert!(refusal(&w, &batch(3, flags)).contains("not modelled"), "{flags}");
        allows(&w, &batch(1, flags));
    }
    allows(&w, &batch(3, "0"));
    allows(&w, &batch(3, "F_LOCK"));
    let upd = "update_batch m3 count=1 keys=00000000 values=00000000000000000000000000000000";
    allows(&w, upd);
    assert!(refusal(&w, &format!("{upd} elem_flags=8")).contains("not modelled"));
    // Before 7.0 the flags are the kernel's EINVAL, which is modelled.
    let mut old = World::default();
    follow(&mut old, &["m3 = create percpu_hash key=4 value=8 entries=4"]);
    allows(&old, &batch(3, "8"));
    // An `id:` names a map's fd: a program's is refused.
    follow(&mut w, &["p0 = load socket_filter"]);
    assert!(refusal(&w, "update m0 key=00000000 value=id:p0").contains("no open map fd"));
}

/// `prog` ops run in a loaded program; the model refuses the ones whose answer would be the
/// verifier's or the CPU's rather than the map's (`prog_elem_ok`).
#[test]
fn prog_preconditions_refuse_what_the_verifier_or_the_cpu_decides() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=4",
            "m1 = create queue key=0 value=4 entries=4",
            "m2 = create array key=4 value=8 entries=4 flags=RDONLY_PROG",
            "m3 = create array key=4 value=8 entries=4 flags=WRONLY_PROG",
            "pin m0",
            "m4 = get_pinned m0 flags=RDONLY",
            "m5 = get_pinned m0 flags=WRONLY",
            "m6 = create lru_hash key=4 value=4 entries=4",
            "m7 = create percpu_array key=4 value=4 entries=4",
            "m8 = create hash key=8 value=440 entries=4",
            "m9 = create hash key=8 value=441 entries=4",
        ],
    );
    allows(&w, "prog lookup m0 key=00000000");
    allows(&w, "prog update m0 key=00000000 value=00000000");
    assert!(refusal(&w, "prog lookup m1 key=").contains("not modelled on queue"));
    assert!(refusal(&w, "prog lookup m4 key=00000000").contains("read-write fd"));
    assert!(refusal(&w, "prog lookup m5 key=00000000").contains("read-write fd"));
    assert!(refusal(&w, "prog lookup m2 key=00000000").contains("RDONLY_PROG"));
    assert!(refusal(&w, "prog lookup m3 key=00000000").contains("RDONLY_PROG"));
    assert!(refusal(&w, "prog lookup m0 key=000000").contains("4-byte keys"));
    assert!(refusal(&w, "prog update m0 key=00000000 value=0000").contains("one CPU's value"));
    assert!(refusal(&w, "prog update m7 key=00000000 value=00000000").contains("8-byte words"));
    // Key and value on the program's stack, each rounded up to 8 bytes: 448 at most.
    allows(&w, "prog lookup m8 key=0000000000000000");
    assert!(refusal(&w, "prog lookup m9 key=0000000000000000").contains("448 bytes"));
    // Where the CPU decides the answer, the case is pinned first.
    assert!(refusal(&w, "prog lookup m6 key=00000000").contains("pin the case"));
    assert!(refusal(&w, "prog lookup m7 key=00000000").contains("pin the case"));
    follow(&mut w, &["cpu 0"]);
    allows(&w, "prog lookup m6 key=00000000");
    // A map holding ids takes no bytes from a program; reading it is fine.
    follow(&mut w, &["update m0 key=00000000 value=id:m0"]);
    assert!(refusal(&w, "prog update m0 key=01000000 value=00000000").contains("holds map ids"));
    allows(&w, "prog lookup m0 key=00000000");
}

mod apply;
mod corpus;
mod fd_ptr;
