//! Element ops, keys, values, CPU flags and start states: what each arm of `View::decode`,
//! `View::key`, `View::byte_value`, `cpu_flags`, `start_state` and `hunt` draws.

use super::*;

/// The first `k` whose draw (every other field zero) decodes to an op `is` takes: the band of
/// the weight table that kind is drawn from.
fn k_of(v: &View, is: &dyn Fn(&Op) -> bool) -> u8 {
    (0..100u8)
        .find(|k| is(&v.decode(Choice { k: *k, ..zero() })))
        .expect("no k draws it")
}

/// Every grid draw with its `k` moved into the band of `k`.
fn at_k(v: &View, k: u8) -> Vec<Op> {
    grid().map(|c| v.decode(Choice { k, ..c })).collect()
}

/// Percent of `ops` that `f` takes (0 for none).
fn pct(ops: &[Op], f: &dyn Fn(&Op) -> bool) -> usize {
    ops.iter().filter(|o| f(o)).count() * 100 / ops.len().max(1)
}

fn is_map_fd(o: &Op) -> bool {
    matches!(o.map_ref(), Some(FdRef::Handle(h)) if h.kind == Kind::Map)
}

/// A perf event and a program, opened in `w` (their fds are the view's `others`).
fn open_perf_and_prog(w: &mut World, prog: bool) -> (Handle, Handle) {
    let perf = Handle {
        kind: Kind::Perf,
        n: 0,
    };
    let p = Handle {
        kind: Kind::Prog,
        n: 0,
    };
    advance(
        w,
        &Op::OpenPerf {
            handle: perf,
            inherit: false,
        },
    );
    if prog {
        advance(
            w,
            &Op::LoadProg {
                handle: p,
                spec: ProgSpec {
                    prog_type: ProgType::SocketFilter,
                    xdp_frags: false,
                    attach: 0,
                },
                uses: vec![],
            },
        );
    }
    (perf, p)
}

/// Which fault each hunt is over (selftest and the canary test use these generations): the
/// types each branch's comment names, fdtable cases only for the fd-table faults, a scale
/// run's prefix with single ops for the fill fault, seed 0 for the LRU eviction faults, and
/// the ops a catch needs at most as long as the comment says it needs. A branch that took
/// another fault's generation would hunt it where it does not live.
#[test]
fn each_fault_is_hunted_in_the_families_it_lives_in() {
    let profile = crate::Profile::default();
    let lru = vec![MapType::LruHash, MapType::LruPercpuHash];
    for fault in Fault::ALL {
        let h = hunt(fault, &profile);
        let g = &h.gen;
        let name = fault.name();
        assert_eq!(g.world.faults, vec![fault], "{name}: the fault is on");
        // (types, the fewest ops a catch needs by the branch's comment)
        let (types, ops): (Vec<MapType>, usize) = match fault {
            Fault::TemplateIgnoresMaxEntries => {
                (vec![MapType::ArrayOfMaps, MapType::HashOfMaps, MapType::Array], 3)
            }
            f if f.is_handle_fault() => ([&MapType::HANDLE_MAPS[..], &[MapType::Array]].concat(), 3),
            f if f.is_fd_fault() => (vec![MapType::Array, MapType::Hash], 2),
            Fault::FillSkipsLast => (vec![MapType::Hash], 1),
            Fault::StackPopsOldest => (vec![MapType::Queue, MapType::Stack], 4),
            Fault::LpmPreorder => (vec![MapType::LpmTrie], 4),
            Fault::BloomNoFalsePositives => (vec![MapType::BloomFilter], 3),
            Fault::HashBatchSplitsBuckets => (vec![MapType::Hash], 4),
            Fault::IdValueOfWrittenMap => (vec![MapType::Array, MapType::Hash], 4),
            Fault::LruEvictsNewest | Fault::LruRefIgnored | Fault::LruOldTargetFree => (lru.clone(), 3),
            Fault::LruStatesNeverNarrow => (lru.clone(), 3),
            Fault::ProgArrayLockFirst => (vec![MapType::Array, MapType::Hash, MapType::PercpuArray], 3),
            Fault::HashOrderTailInsert => (MapType::MODELLED.to_vec(), 4),
            _ => (MapType::MODELLED.to_vec(), 2),
        };
        assert_eq!(g.types, types, "{name}: types");
        assert!(
            h.max_len >= ops,
            "{name}: a catch needs {ops} ops, max_len {}",
            h.max_len
        );
        assert!(
            (1_000..=100_000).contains(&h.cases) && (10..=60).contains(&h.shrink_s),
            "{name}: {} cases, {} s shrinking",
            h.cases,
            h.shrink_s
        );
        let fd = fault.is_fd_fault();
        assert_eq!(g.fd_table_pct, if fd { 100 } else { 0 }, "{name}: fdtable cases");
        let fill = fault == Fault::FillSkipsLast;
        assert_eq!(
            g.prefix,
            if fill {
                fill_prefix(MapType::Hash, 64, 64)
            } else {
                vec![]
            },
            "{name}"
        );
        let off: Vec<&str> = if fill { vec!["batch"] } else { vec![] };
        assert_eq!(g.swarm_off, off, "{name}: kinds off");
        let seed0 = matches!(
            fault,
            Fault::LruEvictsNewest | Fault::LruRefIgnored | Fault::LruOldTargetFree
        );
        assert_eq!(g.zero_seed, seed0, "{name}: zero seed");
    }
}

/// A case's start over its 100 draws of `r`, per type mix: the top `fd_table_pct` start with
/// `fdtable`; pinned to `cpu 0` are three in four (at least) of an LRU-only run's cases, a
/// third where LRU hashes come with other types, a sixth with per-CPU maps and no LRU, none
/// without either (a pinned case runs in a process of its own: no run pays for it that does
/// not need it).
#[test]
fn start_states_pin_lru_and_percpu_runs_and_open_fdtable_cases() {
    let starts = |types: Vec<MapType>, fd_table_pct: u8| {
        let cfg = Arc::new(GenConfig {
            types,
            fd_table_pct,
            ..GenConfig::default()
        });
        let start = World::default();
        let states: Vec<GenState> = (0..100u8).map(|r| start_state(r, &cfg, &start)).collect();
        let pinned: Vec<u8> = (0..100u8)
            .filter(|r| states[*r as usize].world.cpu == Some(0))
            .collect();
        let fdtable: Vec<u8> = (0..100u8)
            .filter(|r| states[*r as usize].world.limits.is_some())
            .collect();
        (pinned, fdtable)
    };
    let (lru_only, none) = starts(vec![MapType::LruHash, MapType::LruPercpuHash], 0);
    assert!(none.is_empty(), "fdtable cases at 0%");
    assert!(
        (75..=90).contains(&lru_only.len()) && (0..100).filter(|r| r % 4 != 3).all(|r| lru_only.contains(&r)),
        "LRU only: {} pinned: {lru_only:?}",
        lru_only.len()
    );
    for mix in [
        vec![MapType::LruHash, MapType::Hash],
        vec![MapType::Array, MapType::LruHash, MapType::PercpuArray],
    ] {
        let (pinned, _) = starts(mix.clone(), 0);
        assert!(
            (30..=37).contains(&pinned.len()),
            "{mix:?}: {} pinned: {pinned:?}",
            pinned.len()
        );
    }
    let (percpu, _) = starts(vec![MapType::Array, MapType::PercpuArray], 0);
    assert!((14..=20).contains(&percpu.len()), "per-CPU: {percpu:?}");
    let (plain, fdtable) = starts(vec![MapType::Array, MapType::Hash], 20);
    assert!(plain.is_empty(), "a plain run pinned: {plain:?}");
    assert_eq!(
        fdtable,
        (80..100).collect::<Vec<u8>>(),
        "the top 20 start with fdtable"
    );
}

/// A `cpu` draw moves to another CPU: on a machine of 64, each of fifteen draws in sixteen names
/// a possible CPU other than the one the case is on (fifteen different ones), the sixteenth
/// the one past the last (EINVAL). On the 2-CPU default, every possible CPU is reached.
#[test]
fn cpu_draws_move_to_another_possible_cpu_now_and_then_an_impossible_one() {
    let cpus_of = |cpus: u32, now: u32| {
        let mut world = World::default();
        world.profile.possible_cpus = cpus;
        let mut state = gen_state(world, GenConfig::default());
        advance(&mut state.world, &Op::Cpu { cpu: now });
        advance(
            &mut state.world,
            &create_map(0, MapSpec::new(MapType::Array, 4, 8, 4)),
        );
        let v = View::of(&state);
        let k = k_of(&v, &|o| matches!(o, Op::Cpu { .. }));
        let got: Vec<u32> = (0..64u16)
            .map(|ks| match v.decode(Choice { k, ks, ..zero() }) {
                Op::Cpu { cpu } => cpu,
                other => panic!("the cpu band drew {other}"),
            })
            .collect();
        got
    };
    for now in [0, 5, 63] {
        let got = cpus_of(64, now);
        let impossible = got.iter().filter(|c| **c == 64).count();
        assert_eq!(impossible, 4, "one in 16 past the last: {got:?}");
        assert!(got.iter().all(|c| *c != now && *c <= 64), "on cpu {now}: {got:?}");
        let others: std::collections::BTreeSet<u32> = got.iter().copied().filter(|c| *c < 64).collect();
        assert_eq!(others.len(), 15, "on cpu {now}: {others:?}");
    }
    let small: std::collections::BTreeSet<u32> = cpus_of(2, 0).into_iter().collect();
    assert_eq!(small, [0, 1, 2].into_iter().collect(), "2 CPUs");
}

/// A generation state over an array and a hash (m0, m1) at `bad_fd_pct`, with a perf event
/// and (if `prog`) a program open: the element ops' map and non-map fds.
fn two_maps_and_others(bad_fd_pct: u8, prog: bool) -> (GenState, Handle, Handle) {
    let cfg = GenConfig {
        types: vec![MapType::Array, MapType::Hash],
        bad_fd_pct,
        ..GenConfig::default()
    };
    let mut state = gen_state(World::default(), cfg);
    open_maps(
        &mut state.world,
        0,
        [
            MapSpec::new(MapType::Array, 4, 8, 4),
            MapSpec::new(MapType::Hash, 4, 8, 4),
        ],
    );
    let (perf, p) = open_perf_and_prog(&mut state.world, prog);
    (state, perf, p)
}

/// Element ops on bad fds: at `bad_fd_pct` 0 every element op names an open map; at 100 every
/// one names something else, half of them (where there is one) a non-map fd, the others a
/// bad fd of each kind.
#[test]
fn bad_fds_come_at_their_rate_half_of_them_other_fds() {
    let ops = |bad_fd_pct: u8| {
        let (state, perf, _) = two_maps_and_others(bad_fd_pct, false);
        let v = View::of(&state);
        assert_eq!(v.others, vec![perf]);
        let k = k_of(&v, &|o| o.kind() == "lookup");
        (at_k(&v, k), perf)
    };
    let (none, _) = ops(0);
    assert_eq!(pct(&none, &|o| !is_map_fd(o)), 0, "a bad fd at 0%");
    let (all, perf) = ops(100);
    assert_eq!(pct(&all, &is_map_fd), 0, "a map fd at 100%");
    let other = pct(&all, &|o| o.map_ref() == Some(FdRef::Handle(perf)));
    assert!((40..=60).contains(&other), "{other}% of bad-fd draws the perf fd");
    let kinds: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|o| match o.map_ref() {
            Some(FdRef::Bad(b)) => Some(format!("{b:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.len(), 3, "bad fds: {kinds:?}");
}

/// `info` also asks about the other fds in about one draw in eight (the other element ops
/// never do, bad fds aside), and never about a program's, which would answer with
/// bpf_prog_info: a bad fd instead.
#[test]
fn info_asks_about_other_fds_but_never_a_programs() {
    let info_and_lookups = |bad_fd_pct: u8| {
        let (state, perf, prog) = two_maps_and_others(bad_fd_pct, true);
        let v = View::of(&state);
        assert_eq!(v.others, vec![prog, perf]);
        let info = at_k(&v, k_of(&v, &|o| o.kind() == "info"));
        let lookups = at_k(&v, k_of(&v, &|o| o.kind() == "lookup"));
        (info, lookups, perf)
    };
    let is_prog = |o: &Op| matches!(o.map_ref(), Some(FdRef::Handle(h)) if h.kind == Kind::Prog);
    let (info, lookups, perf) = info_and_lookups(0);
    assert!(info.iter().all(|o| o.kind() == "info"));
    assert_eq!(pct(&info, &is_prog), 0, "info on a program fd");
    let others = pct(&info, &|o| !is_map_fd(o));
    assert!((8..=18).contains(&others), "{others}% of info on other fds");
    assert!(info.iter().any(|o| o.map_ref() == Some(FdRef::Handle(perf))));
    assert_eq!(pct(&lookups, &|o| !is_map_fd(o)), 0, "a lookup on another fd");
    let (info, ..) = info_and_lookups(100);
    assert_eq!(pct(&info, &is_prog), 0, "info on a program fd among bad fds");
    assert!(info.iter().any(|o| o.map_ref() == Some(FdRef::Handle(perf))));
}

/// `get_pinned` of a map asks for each access mode (BPF_F_RDONLY, BPF_F_WRONLY, and both at
/// once: EINVAL) in about one draw in eight each.
#[test]
fn get_pinned_asks_for_each_access_mode_one_draw_in_eight() {
    let mut world = World::default();
    world.profile.bpffs = true;
    let state = arrays_then(
        world,
        4,
        Op::Pin {
            target: Handle::map(2),
        },
    );
    let v = View::of(&state);
    let k = k_of(&v, &|o| o.kind() == "get_pinned");
    let flags: Vec<u32> = at_k(&v, k)
        .into_iter()
        .filter_map(|o| match o {
            Op::GetPinned {
                file_flags, target, ..
            } if target.kind == Kind::Map => Some(file_flags),
            _ => None,
        })
        .collect();
    assert!(flags.len() > 1000, "{} get_pinned of maps", flags.len());
    for f in [RDONLY, WRONLY, FD_ACCESS] {
        let share = flags.iter().filter(|x| **x == f).count() * 100 / flags.len();
        assert!((8..=18).contains(&share), "{f:#x}: {share}%");
    }
}

/// Per-CPU element ops on a kernel with the CPU flags: updates reach BPF_F_ALL_CPUS, both CPU
/// flags at once and BPF_F_CPU with NOEXIST; lookups take BPF_F_CPU only (ALL_CPUS is an
/// update flag).
#[test]
fn cpu_flags_of_updates_and_lookups() {
    let mut world = World::default();
    world.profile.percpu_cpu_flags = true;
    let cfg = GenConfig {
        world: world.clone(),
        bad_fd_pct: 0,
        ..GenConfig::default()
    };
    let mut state = gen_state(world, cfg);
    advance(
        &mut state.world,
        &create_map(0, MapSpec::new(MapType::PercpuArray, 4, 8, 4)),
    );
    let v = View::of(&state);
    let flags_of = |kind: &str| -> Vec<u64> {
        at_k(&v, k_of(&v, &|o| o.kind() == kind))
            .into_iter()
            .map(|o| match o {
                Op::Update { flags, .. } | Op::Lookup { flags, .. } => flags,
                other => panic!("{kind} drew {other}"),
            })
            .collect()
    };
    let updates = flags_of("update");
    for f in [F_ALL_CPUS, F_CPU | F_ALL_CPUS, F_CPU | NOEXIST] {
        // (CPU 0 in the upper bits: one draw in three.)
        assert!(updates.contains(&f), "no update with {f:#x}");
    }
    let lookups = flags_of("lookup");
    assert!(lookups.iter().any(|x| x & F_CPU != 0), "no lookup with F_CPU");
    assert!(
        !lookups.iter().any(|x| x & F_ALL_CPUS != 0),
        "a lookup with F_ALL_CPUS"
    );
}

/// An fd map's update flags: BPF_ANY mostly, NOEXIST and EXIST (the EEXIST and ENOENT of a
/// map-in-map or PROG_ARRAY slot), then the invalid flag draws (both modes, EXIST|F_LOCK, an
/// unknown bit).
#[test]
fn fd_map_updates_reach_every_mode() {
    let cfg = GenConfig {
        types: MapType::HANDLE_MAPS.to_vec(),
        bad_fd_pct: 0,
        ..GenConfig::default()
    };
    let mut state = gen_state(World::default(), cfg);
    advance(
        &mut state.world,
        &create_map(0, MapSpec::new(MapType::ProgArray, 4, 4, 4)),
    );
    let v = View::of(&state);
    let k = k_of(&v, &|o| o.kind() == "update");
    let flags: Vec<u64> = at_k(&v, k)
        .into_iter()
        .map(|o| match o {
            Op::Update {
                flags,
                value: Value::Fd(_),
                ..
            } => flags,
            other => panic!("an fd map's update drew {other}"),
        })
        .collect();
    let share = |f: u64| flags.iter().filter(|x| **x == f).count() * 100 / flags.len();
    assert!((3..=10).contains(&share(EXIST)), "EXIST: {}%", share(EXIST));
    for f in [3, EXIST | F_LOCK, 8] {
        assert!(flags.contains(&f), "never {f:#x}");
    }
}

/// Where GET_NEXT_KEY starts: NULL for fs % 8 of 0 and 1; for 2 a key the map lacks whatever
/// kr is (bit 40 set: above the small keys maps are filled with); for 3 to 5 one of the map's
/// present keys, each of them for some kr (a walk from each step).
#[test]
fn next_key_starts_from_null_a_missing_key_or_each_present_key() {
    let cfg = GenConfig {
        types: vec![MapType::Hash],
        bad_fd_pct: 0,
        ..GenConfig::default()
    };
    let mut state = gen_state(World::default(), cfg);
    advance(
        &mut state.world,
        &create_map(0, MapSpec::new(MapType::Hash, 8, 8, 16)),
    );
    let key = |i: u64| i.to_le_bytes().to_vec();
    for i in 0..5 {
        let up = Op::Update {
            map: FdRef::Handle(Handle::map(0)),
            key: key(i),
            value: Value::Bytes(vec![1; 8]),
            flags: 0,
        };
        advance(&mut state.world, &up);
    }
    state.recent.insert(Handle::map(0), Arc::new(vec![key(2)]));
    let v = View::of(&state);
    let k = k_of(&v, &|o| o.kind() == "next_key");
    let start = |fs: u8, kr: u64| match v.decode(Choice { k, fs, kr, ..zero() }) {
        Op::GetNextKey { key, .. } => key,
        other => panic!("next_key drew {other}"),
    };
    let present: Vec<Vec<u8>> = (0..5).map(key).collect();
    let krs = [0, 1, 2, 4, 1 << 40 | 2, 1 << 40 | 3, u64::MAX];
    for kr in krs {
        for fs in [0, 1, 8, 9] {
            assert_eq!(start(fs, kr), None, "fs {fs}");
        }
        for fs in [2, 10, 250] {
            let k = start(fs, kr).expect("a key");
            assert!(k.len() == 8 && !present.contains(&k), "fs {fs} kr {kr:#x}: {k:?}");
        }
    }
    for fs in [3, 4, 5, 11] {
        let mut seen = std::collections::BTreeSet::new();
        for kr in 0..10 {
            let k = start(fs, kr).expect("a key");
            assert!(present.contains(&k), "fs {fs}: {k:?}");
            seen.insert(k);
        }
        assert_eq!(seen.len(), 5, "fs {fs}: {seen:?}");
    }
}

/// A program's helper draws, in a pinned case: on every map a helper is modelled for (per-CPU
/// and LRU ones included) the call is lookup, update and delete in 4:3:1 (fs % 8), an update
/// with the flags from other bits of fs (each mode, NOEXIST|F_LOCK in one in sixteen) and the
/// rest with none; on a map it is not modelled for, or a bad or non-map fd, a plain lookup
/// instead.
#[test]
fn prog_draws_are_helpers_on_modelled_maps_else_lookups() {
    let state = |bad_fd_pct: u8| {
        let cfg = GenConfig {
            types: MapType::MODELLED.to_vec(),
            bad_fd_pct,
            ..GenConfig::default()
        };
        let mut state = gen_state(World::default(), cfg);
        advance(&mut state.world, &Op::Cpu { cpu: 0 });
        open_maps(
            &mut state.world,
            0,
            [
                MapSpec::new(MapType::Array, 4, 8, 4),
                MapSpec::new(MapType::PercpuArray, 4, 8, 4),
                MapSpec::new(MapType::LruHash, 4, 8, 4),
                MapSpec::new(MapType::Queue, 0, 8, 4),
            ],
        );
        state
    };
    let s = state(0);
    let v = View::of(&s);
    assert_eq!(v.maps.len(), 4);
    let k = k_of(&v, &|o| matches!(o, Op::ProgElem { .. }));
    let ops = at_k(&v, k);
    let on = |m: u32| -> Vec<Op> {
        ops.iter()
            .filter(|o| o.map_ref() == Some(FdRef::Handle(Handle::map(m))))
            .cloned()
            .collect()
    };
    for m in 0..3 {
        let here = on(m);
        assert!(
            !here.is_empty() && here.iter().all(|o| matches!(o, Op::ProgElem { .. })),
            "m{m}: not all helpers"
        );
    }
    let queue = on(3);
    assert!(
        !queue.is_empty()
            && queue
                .iter()
                .all(|o| matches!(o, Op::Lookup { flags: 0, input, .. } if input.is_empty())),
        "a queue's prog draw not a plain lookup"
    );
    let helpers: Vec<Op> = ops
        .iter()
        .filter(|o| matches!(o, Op::ProgElem { .. }))
        .cloned()
        .collect();
    let call = |name: &'static str| pct(&helpers, &|o| o.kind() == name);
    let (l, u, d) = (call("prog_lookup"), call("prog_update"), call("prog_delete"));
    assert!(
        (42..=58).contains(&l) && (30..=45).contains(&u) && (7..=18).contains(&d),
        "calls: {l}% lookup, {u}% update, {d}% delete"
    );
    let mut update_flags = std::collections::BTreeMap::new();
    for o in &helpers {
        match o {
            Op::ProgElem {
                call: crate::op::Call::Update,
                flags,
                value,
                ..
            } => {
                assert_eq!(value.len(), 8);
                *update_flags.entry(*flags).or_insert(0usize) += 1;
            }
            Op::ProgElem { flags, value, .. } => assert!(*flags == 0 && value.is_empty(), "{o}"),
            _ => {}
        }
    }
    let updates: usize = update_flags.values().sum();
    for f in [ANY, NOEXIST, EXIST, NOEXIST | F_LOCK] {
        assert!(
            update_flags.contains_key(&f),
            "no helper update with {f:#x}: {update_flags:?}"
        );
    }
    let locked = update_flags[&(NOEXIST | F_LOCK)] * 100 / updates;
    assert!((3..=10).contains(&locked), "NOEXIST|F_LOCK: {locked}%");
    // Every draw a bad or other fd: plain lookups on it, no helper.
    let s = state(100);
    let v = View::of(&s);
    let ops = at_k(&v, k);
    assert!(
        ops.iter()
            .all(|o| matches!(o, Op::Lookup { .. }) && !is_map_fd(o)),
        "a helper at bad_fd_pct 100"
    );
}

/// An `id:` value names any open map (by bits of its own, vs >> 59): with four 4-byte arrays
/// open, each of them.
#[test]
fn id_values_name_each_open_map() {
    let mut state = gen_state(World::default(), GenConfig::default());
    open_maps(
        &mut state.world,
        0,
        (0..4).map(|_| MapSpec::new(MapType::Array, 4, 4, 4)),
    );
    let v = View::of(&state);
    let m = &v.maps[0];
    let named: std::collections::BTreeSet<Handle> = grid()
        .filter_map(|c| match v.byte_value(m, m.ids, c.vs) {
            Value::Id(h) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(named, (0..4).map(Handle::map).collect(), "ids named");
}

/// Sequential filling (`cfg.sequential`): an fd array's key appends at its first free index
/// (ks % 8 of 0 to 4), replaces one below it (5, 6), or is any index up to max_entries (7:
/// one past the last too); a HASH_OF_MAPS, and every map without sequential filling, draws
/// the usual keys (ks % 8 of 3: max_entries - 1).
#[test]
fn sequential_keys_append_or_replace_in_fd_arrays() {
    let mut w = World::default();
    for line in [
        "m0 = create array key=4 value=8 entries=4",
        "m1 = create array_of_maps key=4 value=4 entries=4 inner=m0",
        "m2 = create hash_of_maps key=4 value=4 entries=4 inner=m0",
        "update m1 key=00000000 value=fd:m0",
        "update m1 key=01000000 value=fd:m0",
    ] {
        advance(&mut w, &crate::text::parse_line(line).unwrap().0);
    }
    let view = |sequential: bool| {
        let cfg = GenConfig {
            types: MapType::HANDLE_MAPS.to_vec(),
            sequential,
            ..GenConfig::default()
        };
        View::of(&gen_state(w.clone(), cfg))
    };
    let idx = |v: &View, m: u32, ks: u16, kr: u64| {
        let mv = v.maps.iter().find(|x| x.handle == Handle::map(m)).unwrap();
        let k = v.key(mv, &Choice { ks, kr, ..zero() });
        u32::from_le_bytes(k[..4].try_into().unwrap())
    };
    let seq = view(true);
    assert_eq!(seq.maps[1].filled, 2);
    for kr in 0..12u64 {
        for ks in 0..5 {
            assert_eq!(idx(&seq, 1, ks, kr), 2, "append: ks {ks} kr {kr}");
        }
        for ks in [5, 6] {
            assert_eq!(idx(&seq, 1, ks, kr), (kr % 2) as u32, "replace: ks {ks} kr {kr}");
        }
    }
    let any: std::collections::BTreeSet<u32> = (0..12).map(|kr| idx(&seq, 1, 7, kr)).collect();
    assert_eq!(any, (0..=4).collect(), "any index up to max_entries");
    // The usual keys: a hash of maps with sequential filling, an array of maps without.
    assert_eq!(idx(&seq, 2, 3, 0), 3);
    assert_eq!(idx(&seq, 2, 4, 0), 4);
    let plain = view(false);
    assert_eq!(idx(&plain, 1, 3, 0), 3);
    assert_eq!(idx(&plain, 1, 0, 40), 40 % 9);
}
