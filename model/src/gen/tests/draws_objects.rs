//! Objects, fds and creates: what each arm of `View::object`, `View::fd_by_id`,
//! `View::fd_for`, `View::create` and `invalidate` draws.

use super::*;
use std::collections::BTreeSet;

fn prog(n: u32) -> Handle {
    Handle { kind: Kind::Prog, n }
}

fn cgroup(n: u32) -> Handle {
    Handle {
        kind: Kind::Cgroup,
        n,
    }
}

fn perf(n: u32) -> Handle {
    Handle { kind: Kind::Perf, n }
}

/// A socket filter that uses no maps, loaded as program `n`.
fn load(n: u32) -> Op {
    Op::LoadProg {
        handle: prog(n),
        spec: ProgSpec {
            prog_type: ProgType::SocketFilter,
            xdp_frags: false,
            attach: 0,
        },
        uses: Vec::new(),
    }
}

/// A generation state over `world` whose config draws `types` (and nothing invalid), with
/// the maps `specs` open as m0, m1, ... and then the objects `ops` made.
fn state_with(world: World, types: &[MapType], specs: Vec<MapSpec>, ops: &[Op]) -> GenState {
    let cfg = GenConfig {
        world: world.clone(),
        types: types.to_vec(),
        invalid_create_pct: 0,
        ..GenConfig::default()
    };
    let mut state = gen_state(world, cfg);
    open_maps(&mut state.world, 0, specs);
    for op in ops {
        advance(&mut state.world, op);
    }
    state
}

fn array() -> MapSpec {
    MapSpec::new(MapType::Array, 4, 8, 4)
}

fn cgroup2() -> World {
    let mut world = World::default();
    world.profile.cgroup2 = true;
    world
}

/// Percent of `part` in `all`.
fn pct(part: usize, all: usize) -> usize {
    part * 100 / all.max(1)
}

/// A program that uses maps uses one or two, each an independent pick among the open maps:
/// every map comes up first and second, and every ordered pair (the same map twice included),
/// so that a prog array's owner and a program holding two maps are both drawn.
#[test]
fn programs_use_one_or_two_of_any_open_maps() {
    let state = state_with(
        World::default(),
        &MapType::HANDLE_MAPS,
        vec![array(), array(), array(), array()],
        &[],
    );
    let v = View::of(&state);
    let mut lens = BTreeSet::new();
    let mut pairs = BTreeSet::new();
    let (mut first, mut second) = (BTreeSet::new(), BTreeSet::new());
    for c in grid() {
        let Op::LoadProg { uses, .. } = v.object(&c) else {
            continue;
        };
        let maps: Vec<u32> = uses
            .iter()
            .filter_map(|u| match u {
                FdRef::Handle(h) if h.kind == Kind::Map => Some(h.n),
                _ => None,
            })
            .collect();
        if maps.is_empty() {
            continue;
        }
        lens.insert(maps.len());
        first.insert(maps[0]);
        if let [a, b] = maps[..] {
            second.insert(b);
            pairs.insert((a, b));
        }
    }
    assert_eq!(lens, [1, 2].into_iter().collect(), "maps per program");
    let all: BTreeSet<u32> = (0..4).collect();
    assert_eq!(first, all, "first maps");
    assert_eq!(second, all, "second maps");
    assert_eq!(pairs.len(), 16, "pairs of maps: {pairs:?}");
}

/// A program with a bad fd or a program, cgroup or perf fd where a map belongs is rare (one
/// load in 32 each, and refused: EBADF or EINVAL): most loads give a program for prog arrays
/// and fd ops to use.
#[test]
fn programs_with_a_bad_or_non_map_fd_are_rare() {
    let state = state_with(
        cgroup2(),
        &MapType::HANDLE_MAPS,
        vec![array()],
        &[
            Op::MakeCgroup { handle: cgroup(0) },
            Op::OpenPerf {
                handle: perf(0),
                inherit: false,
            },
        ],
    );
    let v = View::of(&state);
    let (mut loads, mut bad, mut other) = (0, 0, 0);
    for c in grid() {
        let Op::LoadProg { uses, .. } = v.object(&c) else {
            continue;
        };
        loads += 1;
        match uses.first() {
            Some(FdRef::Bad(_)) => bad += 1,
            Some(FdRef::Handle(h)) if h.kind != Kind::Map => other += 1,
            _ => {}
        }
    }
    assert!(
        (1..8).contains(&pct(bad, loads)) && (1..8).contains(&pct(other, loads)),
        "of {loads} loads {bad} with a bad fd, {other} with a non-map fd"
    );
}

/// In an fdtable case about one object draw in sixteen is a socket filter that uses no maps
/// (cheap to load, as in the kernel's fd tests), drawn where another case gets a perf event.
#[test]
fn fdtable_cases_draw_bare_socket_filters_too() {
    let plain = state_with(World::default(), &MapType::HANDLE_MAPS, vec![array()], &[]);
    let mut fdtable = state_with(World::default(), &MapType::HANDLE_MAPS, vec![array()], &[]);
    advance(&mut fdtable.world, &Op::FdTable);
    let (plain, fdtable) = (View::of(&plain), View::of(&fdtable));
    assert!(fdtable.nofile.is_some() && plain.nofile.is_none());
    let mut bare = 0;
    for c in grid() {
        let (was, op) = (plain.object(&c), fdtable.object(&c));
        if op != was {
            assert!(
                op == load(0) && matches!(was, Op::OpenPerf { .. }),
                "{op} in place of {was}"
            );
            bare += 1;
        }
    }
    assert!((4..=9).contains(&pct(bare, 2048)), "{bare} bare socket filters");
}

/// Cgroup ops only with cgroup v2 mounted (perf events in their place without it); with
/// cgroups made, two cgroup ops in three open another fd on one (any of them), the rest
/// make a new one.
#[test]
fn cgroups_are_made_and_reopened_only_with_cgroup2() {
    let mut unmounted = World::default();
    unmounted.profile.cgroup2 = false;
    let state = state_with(unmounted, &MapType::HANDLE_MAPS, vec![array()], &[]);
    let v = View::of(&state);
    let perf_events = grid()
        .filter(|c| match v.object(c) {
            Op::OpenPerf { .. } => true,
            op @ (Op::MakeCgroup { .. } | Op::OpenCgroup { .. }) => panic!("{op} without cgroup2"),
            _ => false,
        })
        .count();
    assert!(
        (55..=70).contains(&pct(perf_events, 2048)),
        "{perf_events} perf events"
    );

    let made = [
        Op::MakeCgroup { handle: cgroup(0) },
        Op::MakeCgroup { handle: cgroup(1) },
    ];
    let state = state_with(cgroup2(), &MapType::HANDLE_MAPS, vec![array()], &made);
    let v = View::of(&state);
    let (mut make, mut reopened) = (0, BTreeSet::new());
    let mut reopen = 0;
    for c in grid() {
        match v.object(&c) {
            Op::MakeCgroup { .. } => make += 1,
            Op::OpenCgroup { target, .. } => {
                reopen += 1;
                reopened.insert(target);
            }
            _ => {}
        }
    }
    assert!(
        (55..=80).contains(&pct(reopen, reopen + make)),
        "{reopen} cgroups reopened, {make} made"
    );
    assert_eq!(reopened, [cgroup(0), cgroup(1)].into_iter().collect());
}

/// fd_by_id asks for each access mode in about one draw in eight: read-only and write-only
/// for maps only, BPF_F_RDONLY_PROG and an invalid access mix for any object, else none.
#[test]
fn fd_by_id_asks_for_each_access_mode() {
    let state = state_with(World::default(), &MapType::HANDLE_MAPS, vec![array()], &[load(0)]);
    let v = View::of(&state);
    let mut flags: BTreeMap<(Kind, u32), usize> = BTreeMap::new();
    let mut n: BTreeMap<Kind, usize> = BTreeMap::new();
    for c in grid() {
        match v.fd_by_id(&c) {
            Some(Op::FdById {
                target, open_flags, ..
            }) => {
                *flags.entry((target.kind, open_flags)).or_default() += 1;
                *n.entry(target.kind).or_default() += 1;
            }
            other => panic!("fd_by_id drew {other:?}"),
        }
    }
    let share = |k: Kind, f: u32| pct(flags.get(&(k, f)).copied().unwrap_or(0), n[&k]);
    for f in [RDONLY, WRONLY, FD_ACCESS, RDONLY_PROG] {
        assert!((6..=20).contains(&share(Kind::Map, f)), "maps {f:#x}: {flags:?}");
    }
    for f in [FD_ACCESS, RDONLY_PROG] {
        assert!(
            (6..=20).contains(&share(Kind::Prog, f)),
            "programs {f:#x}: {flags:?}"
        );
    }
    for f in [RDONLY, WRONLY] {
        assert_eq!(share(Kind::Prog, f), 0, "programs {f:#x}: {flags:?}");
    }
}

/// A map-in-map update's fd: in half the draws a map of the template's type is the right
/// kind, in the other half any value map is (one of another type: refused by the template
/// check), so both the match and the mismatch come up often; never an fd map.
#[test]
fn map_in_map_fds_are_of_the_template_type_half_the_time() {
    let state = state_with(
        World::default(),
        &MapType::HANDLE_MAPS,
        vec![
            array(),
            MapSpec::new(MapType::ProgArray, 4, 4, 4),
            inner_of(MapType::ArrayOfMaps, 0),
            MapSpec::new(MapType::Hash, 4, 8, 4),
        ],
        &[load(0)],
    );
    let v = View::of(&state);
    let outer = v.maps.iter().find(|m| m.handle == Handle::map(2)).unwrap();
    let count = |h: Handle| grid().filter(|c| v.fd_for(outer, c) == FdRef::Handle(h)).count();
    let (same, other) = (pct(count(Handle::map(0)), 2048), pct(count(Handle::map(3)), 2048));
    assert!(
        (46..=67).contains(&same) && (12..=32).contains(&other),
        "{same}% arrays (the template's type), {other}% hashes"
    );
}

/// An fd array's update fd: seven draws in ten one of the kind it holds (any of them), two
/// any open fd (each comes up), one a bad fd; for prog, cgroup and perf event arrays alike.
#[test]
fn fds_for_fd_arrays_are_seven_in_ten_of_the_held_kind() {
    let state = state_with(
        cgroup2(),
        &MapType::HANDLE_MAPS,
        vec![
            MapSpec::new(MapType::ProgArray, 4, 4, 4),
            MapSpec::new(MapType::CgroupArray, 4, 4, 4),
            MapSpec::new(MapType::PerfEventArray, 4, 4, 4),
            array(),
        ],
        &[
            load(0),
            load(1),
            Op::MakeCgroup { handle: cgroup(0) },
            Op::OpenPerf {
                handle: perf(0),
                inherit: false,
            },
        ],
    );
    let v = View::of(&state);
    assert_eq!(v.all_fds().len(), 8);
    for (m, kind) in [(0, Kind::Prog), (1, Kind::Cgroup), (2, Kind::Perf)] {
        let view = &v.maps[m];
        let (mut right, mut bad, mut seen) = (0, 0, BTreeSet::new());
        for c in grid() {
            match v.fd_for(view, &c) {
                FdRef::Handle(h) => {
                    right += (h.kind == kind) as usize;
                    seen.insert(h);
                }
                FdRef::Bad(_) => bad += 1,
            }
        }
        let (right, bad) = (pct(right, 2048), pct(bad, 2048));
        assert!(
            (65..=79).contains(&right) && (5..=15).contains(&bad),
            "{:?}: {right}% {kind:?}, {bad}% bad",
            view.spec.map_type
        );
        assert_eq!(
            seen,
            v.all_fds().into_iter().collect(),
            "{:?}",
            view.spec.map_type
        );
    }
}

/// Map-in-map creates make inner candidates first: every create while no value map is open
/// (a map-in-map needs a template), a third of them once one is.
#[test]
fn map_in_map_creates_make_inner_candidates_first() {
    let menu_share = |specs: Vec<MapSpec>| {
        let state = state_with(World::default(), &[MapType::ArrayOfMaps], specs, &[]);
        let v = View::of(&state);
        let menu = grid()
            .filter(|c| match v.create(c) {
                Op::CreateMap { spec, .. } => !spec.map_type.is_map_in_map(),
                op => panic!("create drew {op}"),
            })
            .count();
        pct(menu, 2048)
    };
    assert_eq!(menu_share(vec![]), 100);
    let share = menu_share(vec![array()]);
    assert!((25..=42).contains(&share), "{share}% inner candidates");
}

/// With sequential filling, fd arrays are as large as around the RLIMIT_NOFILE (64) the RFC
/// comparison runs with: 64, 65 and 128 entries, besides the small ones.
#[test]
fn sequential_fd_arrays_reach_past_the_nofile_limit() {
    let mut state = state_with(World::default(), &[MapType::ProgArray], vec![], &[]);
    state.cfg = Arc::new(GenConfig {
        sequential: true,
        ..(*state.cfg).clone()
    });
    let v = View::of(&state);
    let sizes: BTreeSet<u32> = grid()
        .map(|c| match v.create(&c) {
            Op::CreateMap { spec, .. } => spec.max_entries,
            op => panic!("create drew {op}"),
        })
        .collect();
    assert_eq!(sizes, [1, 2, 3, 4, 8, 64, 65, 128].into_iter().collect());
}

/// The optional flags are valid for the family: arrays reach BPF_F_INNER_MAP of their own
/// (not only from the inner menu), hashes the program-access flags, and no fd map ever gets
/// those (the kernel refuses them for fd maps).
#[test]
fn optional_flags_are_valid_for_the_family() {
    let flags = |types: &[MapType]| {
        // A value map open, so that map-in-maps are drawn as well as inner candidates.
        let state = state_with(World::default(), types, vec![array()], &[]);
        let v = View::of(&state);
        grid()
            .map(|c| match v.create(&c) {
                Op::CreateMap { spec, .. } => (spec.map_type, spec.map_flags & !ZERO_SEED),
                op => panic!("create drew {op}"),
            })
            .collect::<BTreeSet<(MapType, u32)>>()
    };
    let values = flags(&[MapType::Array, MapType::Hash]);
    for want in [
        (MapType::Array, INNER_MAP),
        (MapType::Array, MMAPABLE),
        (MapType::Hash, RDONLY_PROG),
        (MapType::Hash, WRONLY_PROG),
    ] {
        assert!(values.contains(&want), "never {want:?}: {values:?}");
    }
    let fds = flags(&MapType::HANDLE_MAPS);
    assert!(
        fds.iter()
            .all(|(t, f)| !t.holds_fds() || f & (RDONLY_PROG | WRONLY_PROG) == 0),
        "{fds:?}"
    );
}

/// A map-in-map's template: an open map (with one open, half the time), else another open
/// fd or a bad one; with eight maps open still a non-map now and then; and a map-in-map
/// itself (refused: nesting) about one time in five, far more than a pick among eight.
#[test]
fn map_in_map_templates_are_open_maps_other_fds_or_bad_ones() {
    let templates = |state: &GenState| {
        let v = View::of(state);
        grid()
            .filter_map(|c| match v.create(&c) {
                Op::CreateMap { spec, .. } => spec.inner,
                op => panic!("create drew {op}"),
            })
            .collect::<Vec<FdRef>>()
    };
    // One map and one program: the other fd is a quarter of the non-map picks (it was never
    // picked when the non-map choice reused the pick that had passed the map over: both odd).
    let state = state_with(
        World::default(),
        &[MapType::ArrayOfMaps],
        vec![array()],
        &[load(0)],
    );
    let inner = templates(&state);
    let count = |f: &dyn Fn(&FdRef) -> bool| inner.iter().filter(|r| f(r)).count();
    let map = count(&|r| *r == FdRef::Handle(Handle::map(0)));
    let other = count(&|r| matches!(r, FdRef::Handle(h) if h.kind == Kind::Prog));
    let bad = count(&|r| matches!(r, FdRef::Bad(_)));
    assert_eq!(map + other + bad, inner.len());
    assert!(
        (35..=65).contains(&pct(map, inner.len()))
            && (5..=20).contains(&pct(other, inner.len()))
            && bad > other,
        "of {} templates {map} the map, {other} a program, {bad} bad",
        inner.len()
    );

    let mut specs = vec![array(); 7];
    specs.push(inner_of(MapType::ArrayOfMaps, 0));
    let state = state_with(World::default(), &[MapType::ArrayOfMaps], specs, &[]);
    let inner = templates(&state);
    let nested = inner
        .iter()
        .filter(|r| **r == FdRef::Handle(Handle::map(7)))
        .count();
    let bad = inner.iter().filter(|r| matches!(r, FdRef::Bad(_))).count();
    assert!(
        (14..=30).contains(&pct(nested, inner.len())) && bad > 0,
        "of {} templates {nested} the map-in-map, {bad} bad",
        inner.len()
    );
}

/// Every invalidation changes the spec (an "invalid" create that is the valid one would be
/// neither): each arm, each bad flag among them, for every type generated.
#[test]
fn every_invalidation_changes_the_spec() {
    for t in MapType::MODELLED.into_iter().chain(MapType::HANDLE_MAPS) {
        let base = MapSpec::new(t, 4, 8, 16);
        for r in 0..(1u64 << 13) {
            let mut s = base.clone();
            invalidate(&mut s, r);
            assert_ne!(s, base, "{t:?} r={r}");
        }
    }
}

/// Creates are invalid at `invalid_create_pct`, at each rate a swarm picks (5, 20, 40): each
/// invalid one reaches the outcome cells of a refused create, the rest give cases maps to
/// work on. (The rate once read `k`, which also picks the op kind, so that creates drawn as
/// that kind were nearly all valid or nearly all invalid.)
#[test]
fn creates_are_invalid_at_their_rate() {
    let types = [MapType::Array, MapType::Hash];
    let valid = state_with(World::default(), &types, vec![array()], &[]);
    for rate in [5u8, 20, 40] {
        let mut drawn = gen_state(valid.world.clone(), (*valid.cfg).clone());
        drawn.cfg = Arc::new(GenConfig {
            invalid_create_pct: rate,
            ..(*valid.cfg).clone()
        });
        let (v, d) = (View::of(&valid), View::of(&drawn));
        let (mut creates, mut invalid) = (0, 0);
        for c in grid() {
            let op = d.decode(c);
            if matches!(op, Op::CreateMap { .. }) {
                creates += 1;
                invalid += (op != v.decode(c)) as usize;
            }
        }
        assert!(creates > 100, "{creates} creates");
        let share = pct(invalid, creates);
        assert!(
            share + 7 >= rate as usize && share <= rate as usize + 7,
            "rate {rate}: {invalid} of {creates} creates invalid"
        );
    }
}
