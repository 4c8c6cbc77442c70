//! Generation of op sequences with proptest, biased toward the edges that find bugs: keys just
//! written or deleted, index max_entries - 1 / max_entries, small full hash maps, invalid flags
//! and names, bad fds. The core idea: an op is decoded from a few plain integers, so generating
//! one costs one small allocation and shrinking moves every choice toward the simplest op.

use crate::op::flags::*;
use crate::op::{BadFd, Handle, MapRef, MapSpec, MapType, Op};
use crate::outcome::{Allowed, Outcome};
use crate::world::World;
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// The world every case starts from (profile and faults).
    pub world: World,
    /// Map types to create.
    pub types: Vec<MapType>,
    /// If set, every valid create uses this many entries (scale runs).
    pub entries: Option<u32>,
    /// At most this many maps open at once.
    pub max_live: usize,
    /// Percent of creates that are deliberately invalid.
    pub invalid_create_pct: u8,
    /// Percent of element ops that use a bad fd.
    pub bad_fd_pct: u8,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            world: World::default(),
            types: MapType::MODELLED.to_vec(),
            entries: None,
            max_live: 3,
            invalid_create_pct: 20,
            bad_fd_pct: 3,
        }
    }
}

thread_local! {
    static CONFIG: RefCell<Arc<GenConfig>> = RefCell::new(Arc::new(GenConfig::default()));
}

/// Sets the configuration `MapMachine` generates from, for this thread.
pub fn set_config(cfg: GenConfig) {
    CONFIG.with(|c| *c.borrow_mut() = Arc::new(cfg));
}

/// The generation-time state: the model world plus a few recently used keys per map.
#[derive(Clone, Debug)]
pub struct GenState {
    /// The model, advanced along its own predictions.
    pub world: World,
    /// What to generate.
    pub cfg: Arc<GenConfig>,
    /// Keys recently written or deleted, per handle (newest last, at most 8).
    pub recent: BTreeMap<Handle, Vec<Vec<u8>>>,
}

/// The proptest-state-machine reference machine over `World`.
pub struct MapMachine;

impl ReferenceStateMachine for MapMachine {
    type State = GenState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<GenState> {
        let cfg = CONFIG.with(|c| c.borrow().clone());
        Just(GenState {
            world: cfg.world.clone(),
            cfg,
            recent: BTreeMap::new(),
        })
        .boxed()
    }

    fn transitions(state: &GenState) -> BoxedStrategy<Op> {
        let view = Arc::new(View::of(state));
        (
            any::<u8>(),
            0..100u8,
            any::<u16>(),
            any::<u64>(),
            any::<u64>(),
            any::<u8>(),
        )
            .prop_map(move |(t, k, ks, kr, vs, fs)| view.decode(Choice { t, k, ks, kr, vs, fs }))
            .boxed()
    }

    fn apply(mut state: GenState, op: &Op) -> GenState {
        let predicted = predict(&state.world, op);
        let key = match op {
            Op::Update { key, .. } | Op::Delete { key, .. } | Op::LookupAndDelete { key, .. } => Some(key),
            _ => None,
        };
        if let (Some(MapRef::Handle(h)), Some(key)) = (op.map_ref(), key) {
            let r = state.recent.entry(h).or_default();
            if !r.contains(key) {
                r.push(key.clone());
                if r.len() > 8 {
                    r.remove(0);
                }
            }
        }
        state.world.apply(op, &predicted);
        state
    }

    fn preconditions(state: &GenState, op: &Op) -> bool {
        state.world.precondition(op).is_ok()
    }
}

/// One outcome the model allows, for advancing the generation-time world.
pub fn predict(world: &World, op: &Op) -> Outcome {
    match world.allowed(op) {
        Allowed::Exactly(o) => o,
        Allowed::OneOf(set, _) => set[0].clone(),
        Allowed::AnyKeyExcept { .. } => Err(crate::Errno::ENOENT),
        Allowed::State(_) | Allowed::ArrayState { .. } => Ok(crate::Ret::Unit),
    }
}

struct Choice {
    t: u8,
    k: u8,
    ks: u16,
    kr: u64,
    vs: u64,
    fs: u8,
}

#[derive(Debug)]
struct MapView {
    handle: Handle,
    spec: MapSpec,
    value_len: usize,
    recent: Vec<Vec<u8>>,
}

/// What generation needs to know of the state, small enough to share with the strategy.
#[derive(Debug)]
struct View {
    cfg: Arc<GenConfig>,
    maps: Vec<MapView>,
    next: Handle,
}

impl View {
    fn of(s: &GenState) -> View {
        let maps = s
            .world
            .handles()
            .map(|h| {
                let spec = s.world.map(h).expect("live").spec.clone();
                MapView {
                    handle: h,
                    value_len: s.world.value_len(&spec),
                    spec,
                    recent: s.recent.get(&h).cloned().unwrap_or_default(),
                }
            })
            .collect();
        View {
            cfg: s.cfg.clone(),
            maps,
            next: s.world.next_handle(),
        }
    }

    fn decode(&self, c: Choice) -> Op {
        // Kind weights, simplest first so that shrinking moves toward lookups.
        const KINDS: [(u8, &str); 9] = [
            (18, "lookup"),
            (30, "update"),
            (10, "delete"),
            (10, "next_key"),
            (6, "lookup_and_delete"),
            (5, "check"),
            (15, "create"),
            (2, "freeze"),
            (4, "close"),
        ];
        let mut roll = c.k;
        let mut kind = "create";
        for (w, name) in KINDS {
            if roll < w {
                kind = name;
                break;
            }
            roll -= w;
        }
        if self.maps.is_empty() || (kind == "create" && self.maps.len() < self.cfg.max_live) {
            return self.create(&c);
        }
        if kind == "create" {
            kind = "close";
        }
        let m = &self.maps[c.t as usize % self.maps.len()];
        if kind == "close" {
            return Op::Close { handle: m.handle };
        }
        let map = if (c.t as u32 * 100 / 256) < self.cfg.bad_fd_pct as u32 {
            MapRef::Bad(BadFd::ALL[c.ks as usize % 3])
        } else {
            MapRef::Handle(m.handle)
        };
        let key = self.key(m, &c);
        match kind {
            "lookup" => Op::Lookup {
                map,
                key,
                flags: lookup_flags(c.fs),
            },
            "update" => Op::Update {
                map,
                key,
                value: fill(c.vs, m.value_len),
                flags: update_flags(c.fs),
            },
            "delete" => Op::Delete { map, key },
            "next_key" => Op::GetNextKey {
                map,
                key: if c.fs.is_multiple_of(4) { None } else { Some(key) },
            },
            "lookup_and_delete" => Op::LookupAndDelete {
                map,
                key,
                flags: lookup_flags(c.fs),
            },
            "check" => Op::Check { map },
            _ => Op::Freeze { map },
        }
    }

    /// A key biased toward recent keys and index edges; a small key space so that maps fill.
    fn key(&self, m: &MapView, c: &Choice) -> Vec<u8> {
        let ks = m.spec.key_size as usize;
        let max = m.spec.max_entries as u64;
        let sel = c.ks % 8;
        if sel < 3 && !m.recent.is_empty() {
            return m.recent[(c.ks as usize / 8) % m.recent.len()].clone();
        }
        let raw = match sel {
            3 => max.saturating_sub(1),
            4 => max,
            5 => c.kr,
            _ => c.kr % (max * 2 + 1).min(64),
        };
        fill_index(raw, ks)
    }

    fn create(&self, c: &Choice) -> Op {
        let cfg = &self.cfg;
        let t = cfg.types[c.t as usize % cfg.types.len()];
        let edges_vs = [8u32, 4, 1, 7, 12, 16, 33, 64];
        let edges_max = [4u32, 1, 2, 3, 8, 16, 5, 64];
        let value_size = edges_vs[(c.kr % 8) as usize];
        let max_entries = cfg.entries.unwrap_or(edges_max[((c.kr >> 8) % 8) as usize]);
        let key_size = if t.is_array() {
            4
        } else {
            [4u32, 1, 2, 8, 3, 16][((c.kr >> 16) % 6) as usize]
        };
        let mut spec = MapSpec::new(t, key_size, value_size, max_entries);
        // Valid optional flags first.
        let opt = (c.vs >> 8) % 16;
        spec.map_flags = match (t, opt) {
            (_, 0) => RDONLY,
            (_, 1) => WRONLY,
            (_, 2) => RDONLY_PROG,
            (_, 3) => WRONLY_PROG,
            (MapType::Array, 4) => MMAPABLE,
            (MapType::Array, 5) => INNER_MAP,
            (MapType::Hash | MapType::PercpuHash, 4) => NO_PREALLOC,
            (MapType::Hash | MapType::PercpuHash, 5) => ZERO_SEED,
            (MapType::Hash | MapType::Array, 6) => {
                spec.numa_node = 0;
                NUMA_NODE
            }
            _ => 0,
        };
        if (c.vs >> 16).is_multiple_of(4) {
            spec.name = b"mapcheck.m_0".to_vec();
        }
        if (c.k as u32 * 100 / 256) < cfg.invalid_create_pct as u32
            || (c.vs % 100) < cfg.invalid_create_pct as u64 / 2
        {
            invalidate(&mut spec, c.vs >> 24);
        }
        Op::CreateMap {
            handle: self.next,
            spec,
        }
    }
}

/// Breaks one attribute of a create in one of the ways the kernel checks.
fn invalidate(s: &mut MapSpec, r: u64) {
    let bad_flags = [
        NO_PREALLOC,
        NO_COMMON_LRU,
        STACK_BUILD_ID,
        CLONE,
        MMAPABLE,
        PRESERVE_ELEMS,
        INNER_MAP,
        ZERO_SEED,
        1 << 13,
        1 << 20,
        1 << 31,
    ];
    match r % 22 {
        0 => s.key_size = if s.map_type.is_array() { 8 } else { 0 },
        1 => s.value_size = 0,
        2 => s.max_entries = 0,
        3..=5 => s.map_flags |= bad_flags[((r >> 8) % bad_flags.len() as u64) as usize],
        6 => s.map_flags |= RDONLY | WRONLY,
        7 => s.map_flags |= RDONLY_PROG | WRONLY_PROG,
        8 => s.name = b"bad-name".to_vec(),
        9 => s.name = b"sixteen_chars_xx".to_vec(),
        10 => s.name = b"caf\xe9".to_vec(),
        11 => s.name = b"nbsp\xa0".to_vec(),
        12 => s.name = b"ok\0-ignored".to_vec(),
        13 => {
            s.map_flags |= NUMA_NODE;
            s.numa_node = [0, 1, u32::MAX, 7][((r >> 8) % 4) as usize];
        }
        14 => s.map_extra = 1,
        15 => s.map_type = MapType::Other([0, 9999, 64][((r >> 8) % 3) as usize]),
        16 => s.value_size = 0x8000_0000,
        17 => s.value_size = 32769,
        // E2BIG for hashes; an array would allocate it, so arrays get the percpu limit instead.
        18 if !s.map_type.is_array() => s.value_size = 8 << 20,
        18 => s.value_size = 32769,
        19 => {
            s.value_size = 32768;
            s.max_entries = s.max_entries.min(4);
        }
        // Hash refuses these sizes before allocating; an array would try to allocate them.
        20 if !s.map_type.is_array() => {
            s.max_entries = [(1 << 27) + 1, (1 << 31) + 1][((r >> 8) % 2) as usize]
        }
        _ => s.key_size = 17,
    }
}

fn lookup_flags(fs: u8) -> u64 {
    match fs % 16 {
        13 => F_LOCK,
        14 => EXIST,
        15 => 8,
        _ => ANY,
    }
}

fn update_flags(fs: u8) -> u64 {
    match fs % 16 {
        0..=5 => ANY,
        6..=8 => NOEXIST,
        9..=11 => EXIST,
        12 => F_LOCK,
        13 => 3,
        14 => EXIST | F_LOCK,
        _ => 8,
    }
}

/// `len` bytes from a seed: 0 gives zeroes, small seeds give mostly-zero values.
pub fn fill(seed: u64, len: usize) -> Vec<u8> {
    let b = seed.to_le_bytes();
    (0..len)
        .map(|i| b[i % 8].wrapping_add((i / 8) as u8 * (seed != 0) as u8))
        .collect()
}

/// A key of `len` bytes holding `v` little-endian (truncated or zero-extended).
pub fn fill_index(v: u64, len: usize) -> Vec<u8> {
    let b = v.to_le_bytes();
    (0..len).map(|i| if i < 8 { b[i] } else { 0 }).collect()
}
