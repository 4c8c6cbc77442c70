//! LRU_HASH and LRU_PERCPU_HASH: a hash whose update takes a node from the LRU lists of the
//! CPU it runs on (`lru.rs`), evicting where none is free, before the key is even looked up.
//! Exact in a case pinned to one CPU (`cpu N`); the walk and batches are the hash's
//! (`htab_map_get_next_key`, `__htab_map_lookup_and_delete_batch`, kernel/bpf/hashtab.c).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::hash::{self, HashMap, HashOrder};
use crate::maps::lru::Lru;
use crate::maps::{Family, GenHints, ValueMap};
use crate::op::flags::*;
use crate::op::{MapSpec, MapType, Op};
use crate::outcome::{Allowed, Outcome, Ret};
use crate::profile::Profile;
use crate::reason::Why;

/// `htab_map_alloc_check` for the LRU types: the hash's checks, with BPF_F_NO_COMMON_LRU
/// allowed, BPF_F_NO_PREALLOC refused (ENOTSUPP: LRU nodes are preallocated) and NUMA
/// refused for per-CPU LRU lists as for per-CPU values.
pub fn alloc_check(s: &MapSpec, p: &Profile, numa: bool) -> Result<(), Errno> {
    // The hash's own checks refuse NO_COMMON_LRU; here it is an LRU's choice of lists.
    let plain = MapSpec {
        map_flags: s.map_flags & !NO_COMMON_LRU,
        ..s.clone()
    };
    let ordered = |e: Errno| {
        // ZERO_SEED's EPERM and the flag mask come before the LRU's own refusals.
        matches!(e.why(), Some(Why::ZeroSeedCap | Why::Flags | Why::ProgAccess))
    };
    match hash::alloc_check(&plain, p, false) {
        Err(e) if ordered(e) => return Err(e),
        _ => {}
    }
    if s.map_flags & NO_PREALLOC != 0 {
        return Err(Why::LruNoPrealloc.errno());
    }
    if numa && (s.map_type.is_percpu() || s.map_flags & NO_COMMON_LRU != 0) {
        return Err(Why::NumaPercpu.errno());
    }
    hash::alloc_check(&plain, p, numa)
}

/// The max_entries an LRU map has: with per-CPU lists (`htab_map_alloc`) rounded up to a
/// multiple of the possible CPUs (down, if that overflows), so each list gets as many.
pub fn max_entries(s: &MapSpec, cpus: u32) -> u32 {
    let cpus = cpus.max(1);
    if s.map_flags & NO_COMMON_LRU == 0 {
        return s.max_entries;
    }
    s.max_entries
        .checked_next_multiple_of(cpus)
        .unwrap_or(s.max_entries / cpus * cpus)
}

/// LRU_HASH and LRU_PERCPU_HASH.
pub const FAMILY: Family = Family {
    types: &[MapType::LruHash, MapType::LruPercpuHash],
    keyless: false,
    map_extra: false,
    alloc_check,
    too_many_entries: |s, p| {
        let rounded = MapSpec {
            max_entries: max_entries(s, p.possible_cpus),
            ..s.clone()
        };
        hash::too_many_entries(&rounded, p.hash_max_entries)
    },
    // Preallocated: max_entries elements and no extra one per CPU (`htab_has_extra_elems`).
    alloc_bytes: |s, cpus| {
        let per = hash::alloc_bytes(s, cpus) / (s.max_entries as u64 + cpus as u64).max(1);
        per.saturating_mul(s.max_entries as u64)
    },
    new: Some(|s, value_len, p, faults| Box::new(LruHashMap::new(s, value_len, p, faults))),
    // The hash's commands: an LRU hash has each of them.
    ok_ops: |_| hash::OK_OPS,
    // BATCH_OPS(htab_lru), BATCH_OPS(htab_lru_percpu): all four since 5.6.
    batch: |_, _, _| Ok(()),
    gen: GenHints {
        key_size: None,
        spec: Some(|s, r| {
            if (r >> 56).is_multiple_of(2) {
                s.map_flags |= NO_COMMON_LRU;
            }
        }),
        invalidate: Some(|s, r| match r % 8 {
            0 => {
                s.map_flags |= NO_PREALLOC;
                true
            }
            1 => {
                s.map_flags |= NUMA_NODE | NO_COMMON_LRU;
                s.numa_node = 0;
                true
            }
            _ => false,
        }),
        key: None,
        lookup_input: None,
    },
};

/// An LRU hash: its nodes and lists, the values of its present keys, their walk order, and
/// the CPU its updates run on (`None` until the case is pinned), or, after writes from a case
/// on no one CPU, each list state those writes may have left (`alternatives`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LruHashMap {
    lru: Box<Lru>,
    /// The present keys, their values and walk order: a hash's (`hash.rs`), with no E2BIG
    /// since a full LRU evicts.
    hash: HashMap,
    percpu: bool,
    /// 7.0's CPU flags: a per-CPU update's flags other than NOEXIST and EXIST are BPF_ANY.
    cpu_flags: bool,
    cpu: Option<usize>,
    /// The CPUs an unpinned write may run on (every possible one is taken to be online).
    cpus: usize,
    /// The other states the map may be in: the ones a write on another CPU would have left,
    /// as long as no answer of the kernel has told them apart (`World::split`).
    alternatives: Vec<LruHashMap>,
}

impl LruHashMap {
    /// An empty map as `htab_map_alloc` makes it (`prealloc_init`, `bpf_lru_populate`).
    pub fn new(s: &MapSpec, value_len: usize, p: &Profile, faults: &[Fault]) -> LruHashMap {
        let percpu_lru = s.map_flags & NO_COMMON_LRU != 0;
        let cpus = p.possible_cpus as usize;
        let n = max_entries(s, p.possible_cpus);
        let percpu = s.map_type == MapType::LruPercpuHash;
        let new_target = p.lru_target_free && !faults.contains(&Fault::LruOldTargetFree);
        let mut lru = Lru::new(n, cpus, percpu_lru, new_target);
        lru.evict_newest = faults.contains(&Fault::LruEvictsNewest);
        lru.ref_ignored = faults.contains(&Fault::LruRefIgnored);
        let order = HashOrder::new(s.map_flags & ZERO_SEED != 0, n, percpu);
        LruHashMap {
            lru: Box::new(lru),
            hash: HashMap::with_order(n, value_len, order),
            percpu,
            cpu_flags: p.percpu_cpu_flags,
            cpu: None,
            cpus,
            alternatives: Vec::new(),
        }
    }

    /// This state without the others.
    fn alone(&self) -> LruHashMap {
        LruHashMap {
            lru: self.lru.clone(),
            hash: self.hash.clone(),
            alternatives: Vec::new(),
            ..*self
        }
    }

    /// The flags `htab_lru_map_update_elem` sees (7.0: a per-CPU map's CPU flags are ANY).
    fn flags(&self, flags: u64) -> u64 {
        match (self.percpu && self.cpu_flags, flags) {
            (true, NOEXIST | EXIST) | (false, _) => flags,
            (true, _) => ANY,
        }
    }

    /// An update's answer and the lists after it (`update` answers, `observe` keeps them).
    fn attempt(&self, key: &[u8], flags: u64) -> (Outcome, Lru) {
        let mut lru = (*self.lru).clone();
        let cpu = self
            .cpu
            .expect("precondition: an LRU update runs in a pinned case");
        let r = lru.update(key, self.flags(flags), cpu, self.percpu);
        let o = match r {
            Ok(()) => Ok(Ret::Unit),
            Err(e) if e == Errno::EEXIST => Err(Why::Exists.errno()),
            // The key was present until this update's own pop evicted it.
            Err(e) if e == Errno::ENOENT && lru.evicted.iter().any(|k| k == key) => {
                Err(Why::LruSelfEvicted.errno())
            }
            Err(e) if e == Errno::ENOENT => Err(Why::NoKey.errno()),
            Err(e) if e == Errno::EINVAL => Err(Why::Flags.errno()),
            Err(e) => Err(e),
        };
        (o, lru)
    }
}

impl ValueMap for LruHashMap {
    /// `htab_lru_map_lookup_elem_sys`: a syscall lookup leaves the reference bit alone.
    fn lookup(&self, key: &[u8]) -> Outcome {
        self.hash.lookup(key)
    }

    /// `htab_lru_map_update_elem` / `htab_lru_percpu_map_update_elem`: the flag range, then
    /// a node popped (evicting where none is free), then `check_flags` against what is left.
    fn update(&self, key: &[u8], flags: u64, _faults: &[Fault]) -> Outcome {
        self.attempt(key, flags).0
    }

    /// Every update that got as far as its pop changed the lists, refused or not: EEXIST and
    /// ENOENT push the node back, and what the pop evicted stays evicted.
    fn observe(&mut self, op: &Op, o: &Outcome) {
        match op {
            Op::Update { key, flags, .. } => {
                let reached = match o {
                    Ok(_) => true,
                    Err(e) => *e == Errno::EEXIST || *e == Errno::ENOENT,
                };
                if !reached {
                    return;
                }
                // `attempt`'s update, on the lists themselves (no copy: a fill of thousands
                // of elements makes as many).
                let cpu = self.cpu.expect("precondition: an LRU update runs on a known CPU");
                let _ = self.lru.update(key, self.flags(*flags), cpu, self.percpu);
                for k in &self.lru.evicted {
                    self.hash.remove(k);
                }
            }
            // htab_lru_map_lookup_elem: a program's lookup references the node.
            Op::ProgElem {
                call: crate::op::Call::Lookup,
                key,
                ..
            } if o.is_ok() => {
                let _ = self.lru.lookup_prog(key);
            }
            // A random-seed batch answer narrows where its keys may be, as in a hash.
            _ => self.hash.observe(op, o),
        }
    }

    /// The node `observe` linked now carries the value (the walk order as the hash's: a new
    /// element at its bucket's head, a per-CPU one in place).
    fn store(&mut self, key: &[u8], stored: Vec<u8>, faults: &[Fault]) {
        self.hash.store(key, stored, faults);
    }

    /// `htab_lru_map_delete_elem`: missing is ENOENT.
    fn delete(&self, key: &[u8], _faults: &[Fault]) -> Outcome {
        self.hash.delete(key, &[])
    }

    /// The node goes back to a free list (`htab_lru_push_free`).
    fn remove(&mut self, key: &[u8]) {
        let _ = self.lru.delete(key);
        self.hash.remove(key);
    }

    fn next_key(&self, key: Option<&[u8]>, faults: &[Fault]) -> Allowed {
        self.hash.next_key(key, faults)
    }

    /// `htab_lru_map_lookup_and_delete_elem` (5.14, with the hash's).
    fn lookup_and_delete(&self, key: &[u8], p: &Profile) -> Outcome {
        self.hash.lookup_and_delete(key, p)
    }

    fn lookup_batch(&self, cursor: Option<&[u8]>, max: u32, faults: &[Fault]) -> Allowed {
        self.hash.lookup_batch(cursor, max, faults)
    }

    fn state(&self, key_size: usize, ids: bool, faults: &[Fault]) -> Allowed {
        self.hash.state(key_size, ids, faults)
    }

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.hash.value(key)
    }

    fn has_key(&self, key: &[u8]) -> bool {
        self.hash.has_key(key)
    }

    fn first_keys(&self, n: usize, out: &mut Vec<u8>) {
        self.hash.first_keys(n, out)
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.hash.entries()
    }

    fn is_empty(&self) -> bool {
        self.hash.is_empty()
    }

    fn order(&self) -> Option<&HashOrder> {
        self.hash.order()
    }

    fn order_mut(&mut self) -> Option<&mut HashOrder> {
        self.hash.order_mut()
    }

    fn update_evicts(&self, key: &[u8], flags: u64) -> bool {
        self.cpu.is_some() && self.attempt(key, flags).1.evicted.iter().any(|k| k == key)
    }

    fn on_cpu(&mut self, cpu: u32) {
        self.cpu = Some(cpu as usize);
        for a in &mut self.alternatives {
            a.cpu = self.cpu;
        }
    }

    /// `bpf_common_lru_pop_free` and `bpf_percpu_lru_pop_free` take the lists of the CPU the
    /// update runs on (`raw_smp_processor_id`; the syscall keeps it there with
    /// `bpf_disable_instrumentation`): unpinned, a write is one state per CPU.
    fn split(&self, write: bool) -> Vec<Box<dyn ValueMap>> {
        let branch = write && self.cpu.is_none();
        if self.alternatives.is_empty() && !branch {
            return Vec::new();
        }
        let states = std::iter::once(self.alone()).chain(self.alternatives.iter().cloned());
        let mut parts: Vec<Box<dyn ValueMap>> = Vec::new();
        for state in states {
            if !branch {
                parts.push(Box::new(state));
                continue;
            }
            for cpu in 0..self.cpus {
                parts.push(Box::new(LruHashMap {
                    cpu: Some(cpu),
                    ..state.clone()
                }));
            }
        }
        parts
    }

    /// The states the kernel's answer left, each once (two CPUs' writes can leave the same).
    fn merge(&mut self, parts: Vec<Box<dyn ValueMap>>, cpu: Option<u32>) {
        let mut states: Vec<LruHashMap> = Vec::new();
        for p in parts {
            let mut m = p
                .as_any()
                .downcast_ref::<LruHashMap>()
                .expect("split parts of an LRU hash are LRU hashes")
                .alone();
            m.cpu = cpu.map(|c| c as usize);
            if !states.contains(&m) {
                states.push(m);
            }
        }
        if states.is_empty() {
            return;
        }
        let first = states.remove(0);
        *self = LruHashMap {
            alternatives: states,
            ..first
        };
    }

    fn states(&self) -> usize {
        1 + self.alternatives.len()
    }

    fn needs_cpu(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    /// Runs script lines on `w`: each op's precondition holds and the model allows exactly
    /// the recorded outcome, which it then follows.
    fn run(w: &mut World, lines: &str) {
        for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (op, expect) = crate::text::parse_line(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            if let Err(why) = w.precondition(&op) {
                panic!("{line}: {why}");
            }
            let o = match expect {
                Some(crate::Expect::Exactly(o)) => o,
                Some(crate::Expect::AnyOk) => Ok(Ret::Unit),
                _ => panic!("{line}: record one outcome"),
            };
            assert_eq!(w.allowed(&op), Allowed::Exactly(o.clone()), "{line}");
            w.apply(&op, &o);
        }
    }

    fn spec(t: MapType, flags: u32, max: u32) -> MapSpec {
        let mut s = MapSpec::new(t, 4, 8, max);
        s.map_flags = flags;
        s
    }

    /// `htab_map_alloc_check`'s order for the LRU types: ZERO_SEED's capability, the flag
    /// mask, then NO_PREALLOC (ENOTSUPP), then NUMA with per-CPU values or lists, then sizes.
    #[test]
    fn create_checks_in_the_kernels_order() {
        let p = Profile::default();
        let no_cap = Profile {
            cap_sys_admin: false,
            ..Profile::default()
        };
        let e = |s: &MapSpec, p: &Profile, numa: bool| alloc_check(s, p, numa).err().and_then(|e| e.why());
        let lru = MapType::LruHash;
        assert_eq!(
            e(&spec(lru, ZERO_SEED | NO_PREALLOC, 4), &no_cap, false),
            Some(Why::ZeroSeedCap)
        );
        assert_eq!(
            e(&spec(lru, MMAPABLE | NO_PREALLOC, 4), &p, false),
            Some(Why::Flags)
        );
        assert_eq!(
            e(&spec(lru, NO_PREALLOC | NUMA_NODE, 0), &p, true),
            Some(Why::LruNoPrealloc)
        );
        assert_eq!(
            e(&spec(lru, NO_COMMON_LRU | NUMA_NODE, 0), &p, true),
            Some(Why::NumaPercpu)
        );
        assert_eq!(
            e(&spec(MapType::LruPercpuHash, NUMA_NODE, 4), &p, true),
            Some(Why::NumaPercpu)
        );
        assert_eq!(e(&spec(lru, NUMA_NODE, 4), &p, true), None);
        assert_eq!(e(&spec(lru, NO_COMMON_LRU, 0), &p, false), Some(Why::NoEntries));
        assert_eq!(e(&spec(lru, NO_COMMON_LRU | ZERO_SEED, 4), &p, false), None);
        // A plain hash still refuses per-CPU lists.
        assert_eq!(
            crate::maps::hash::alloc_check(&spec(MapType::Hash, NO_COMMON_LRU, 4), &p, false)
                .err()
                .and_then(|e| e.why()),
            Some(Why::Flags)
        );
    }

    /// Per-CPU lists round max_entries up to a multiple of the CPUs (down where that
    /// overflows), and `info` reports the rounded number.
    #[test]
    fn per_cpu_lists_round_max_entries() {
        assert_eq!(max_entries(&spec(MapType::LruHash, NO_COMMON_LRU, 3), 2), 4);
        assert_eq!(max_entries(&spec(MapType::LruHash, 0, 3), 2), 3);
        assert_eq!(
            max_entries(&spec(MapType::LruHash, NO_COMMON_LRU, u32::MAX), 2),
            u32::MAX - 1
        );
        let mut w = World::default();
        run(
            &mut w,
            "m0 = create lru_hash key=4 value=8 entries=3 flags=NO_COMMON_LRU => ok fd=m0
             info m0 => ok id=m0 type=lru_hash key=4 value=8 entries=4 flags=0x2 name=\"\"",
        );
    }

    /// An update pops a node before it looks at the key: in a full map of two (a local
    /// batch of one node on two CPUs), BPF_EXIST on the least recent key evicts that key and
    /// then finds it missing; a refused update's node goes back to the local list, and the
    /// next pop takes it; a refused update whose pop had to evict keeps the eviction.
    #[test]
    fn an_update_may_evict_its_own_key() {
        let mut w = World::default();
        run(
            &mut w,
            "cpu 0 => ok
             m0 = create lru_hash key=4 value=1 entries=2 => ok fd=m0
             update m0 key=01000000 value=01 => ok
             update m0 key=02000000 value=02 => ok
             update m0 key=01000000 value=03 flags=EXIST => ENOENT
             lookup m0 key=01000000 => ENOENT
             update m0 key=02000000 value=04 flags=NOEXIST => EEXIST
             lookup m0 key=02000000 => ok value=02
             update m0 key=03000000 value=05 => ok
             update m0 key=09000000 value=06 flags=EXIST => ENOENT
             lookup m0 key=02000000 => ENOENT
             lookup m0 key=03000000 => ok value=05",
        );
        let check = crate::text::parse_line("check m0").unwrap().0;
        let Allowed::State(st, _) = w.allowed(&check) else {
            panic!("a check of an LRU hash is a state")
        };
        assert_eq!(st.keys, vec![3, 0, 0, 0]);
    }

    /// `fill m0 n=N from=K` writes keys K.. into an LRU hash that holds others (the
    /// selftest's long loops of new keys, as one UPDATE_BATCH): each an insert, evicting as
    /// one update would; a key already there, or another family, is refused.
    #[test]
    fn fill_from_writes_new_keys_into_an_lru_hash() {
        let mut w = World::default();
        let line = |l: &str| crate::text::parse_line(l).unwrap().0;
        run(
            &mut w,
            "cpu 0 => ok
             m0 = create lru_hash key=4 value=8 entries=4 => ok fd=m0
             m1 = create hash key=4 value=8 entries=4 => ok fd=m1
             fill m0 n=2 from=1 => ok count=2
             fill m0 n=4 from=3 => ok count=4",
        );
        // Four nodes, six inserts: the two oldest went.
        let found = |k: u32| w.allowed(&line(&format!("lookup m0 key={:08x}", k.swap_bytes())));
        assert_eq!(found(1), Allowed::Exactly(Err(Why::NoKey.errno())));
        assert_eq!(found(2), Allowed::Exactly(Err(Why::NoKey.errno())));
        assert_eq!(
            found(6),
            Allowed::Exactly(Ok(Ret::Value(crate::op::fill_value(8, 6))))
        );
        assert!(w
            .precondition(&line("fill m0 n=2 from=5"))
            .unwrap_err()
            .contains("element 5"));
        assert!(w
            .precondition(&line("fill m1 n=1 from=1"))
            .unwrap_err()
            .contains("LRU hash"));
        assert!(w.precondition(&line("fill m0 n=2 from=7")).is_ok());
    }

    /// Unpinned, each update may run on either CPU: the map is then one of several list
    /// states, an op answers what any of them allows, and each answer keeps the states that
    /// allow it. Per-CPU lists of one node each: a second key evicts the first only on the
    /// first's CPU, so once the first is seen, a third key evicts exactly one of the two.
    #[test]
    fn unpinned_writes_are_a_set_of_list_states() {
        let mut w = World::default();
        let line = |l: &str| crate::text::parse_line(l).unwrap().0;
        let lookup = |k: u8| line(&format!("lookup m0 key=0{k}000000"));
        let either = |w: &World, k: u8| {
            let a = w.allowed(&lookup(k));
            !a.is_single()
                && w.admits(&lookup(k), &a, &Err(Why::NoKey.errno()))
                && w.admits(&lookup(k), &a, &Ok(Ret::Value(vec![k])))
        };
        run(
            &mut w,
            "m0 = create lru_hash key=4 value=1 entries=2 flags=NO_COMMON_LRU => ok fd=m0
             update m0 key=01000000 value=01 => ok",
        );
        let states = |w: &World| match &w.map(crate::op::Handle::map(0)).unwrap().data {
            crate::world::MapData::Values(v) => v.states(),
            _ => unreachable!(),
        };
        assert_eq!(states(&w), 2, "one list state per CPU the update may have run on");
        run(&mut w, "update m0 key=02000000 value=02 => ok");
        assert!(either(&w, 1), "{}", w.allowed(&lookup(1)));
        assert_eq!(w.allowed(&lookup(2)), Allowed::Exactly(Ok(Ret::Value(vec![2]))));
        // Seen: the two updates ran on different CPUs; the states that evicted it are gone.
        w.apply(&lookup(1), &Ok(Ret::Value(vec![1])));
        run(&mut w, "update m0 key=03000000 value=03 => ok");
        assert!(either(&w, 1) && either(&w, 2));
        w.apply(&lookup(2), &Err(Why::NoKey.errno()));
        // A kernel that evicted both would be caught: the first key is known to be there.
        assert_eq!(w.allowed(&lookup(1)), Allowed::Exactly(Ok(Ret::Value(vec![1]))));
        assert_eq!(w.allowed(&lookup(3)), Allowed::Exactly(Ok(Ret::Value(vec![3]))));
        // A batch's elements may each run on another CPU: refused unpinned.
        let batch = line("update_batch m0 count=1 keys=04000000 values=04");
        assert!(w.precondition(&batch).unwrap_err().contains("pin the case"));
        // The states multiply until the cap, then a write needs the case pinned.
        let mut k = 4;
        while w
            .precondition(&line(&format!("update m0 key={k:02x}000000 value={k:02x}")))
            .is_ok()
        {
            let up = line(&format!("update m0 key={k:02x}000000 value={k:02x}"));
            w.apply(&up, &Ok(Ret::Unit));
            k += 1;
            assert!(k < 20, "the states never reached the cap");
        }
        let up = line(&format!("update m0 key={k:02x}000000 value={k:02x}"));
        assert!(w.precondition(&up).unwrap_err().contains("list states"));
        run(&mut w, "cpu 1 => ok");
        assert!(w.precondition(&up).is_ok());
        run(&mut w, "cpu 2 => EINVAL");
    }

    /// Per-CPU LRU lists round max_entries up to a multiple of the CPUs before the hash's
    /// entry limit is applied: 2^27 - 1 entries on 3 CPUs are 2^27 + 2, too many; with the
    /// common LRU they are not rounded, and fit.
    #[test]
    fn the_entry_limit_applies_to_the_rounded_count() {
        use crate::op::flags::NO_COMMON_LRU;
        let p = Profile {
            possible_cpus: 3,
            ..Profile::default()
        };
        let n = p.hash_max_entries - 1;
        let common = MapSpec::new(MapType::LruHash, 4, 8, n);
        let percpu_lists = MapSpec {
            map_flags: NO_COMMON_LRU,
            ..common.clone()
        };
        assert!(!(FAMILY.too_many_entries)(&common, &p));
        assert!((FAMILY.too_many_entries)(&percpu_lists, &p));
    }

    /// Preallocated LRU elements are max_entries, without the hash's extra one per CPU:
    /// (48-byte htab_elem + key + value, 8-aligned) per element, and per-CPU values'
    /// pointer plus a slot per CPU.
    #[test]
    fn lru_elements_are_max_entries_without_extras() {
        let bytes = |t| (FAMILY.alloc_bytes)(&MapSpec::new(t, 4, 8, 10), 2);
        assert_eq!(bytes(MapType::LruHash), (48 + 8 + 8) * 10);
        assert_eq!(bytes(MapType::LruPercpuHash), (48 + 8 + 8 + 8 * 2) * 10);
    }

    /// Generation: half the maps have per-CPU lists; one invalid create in 4 asks for
    /// NO_PREALLOC (ENOTSUPP) or a NUMA node with per-CPU lists (EINVAL).
    #[test]
    fn generation_draws_both_list_kinds_and_invalid_creates() {
        let p = Profile::default();
        let mut lists = std::collections::BTreeSet::new();
        let mut refused = std::collections::BTreeSet::new();
        for r in (0..400u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
            let mut s = MapSpec::new(MapType::LruHash, 4, 8, 8);
            (FAMILY.gen.spec.unwrap())(&mut s, r);
            lists.insert(s.map_flags);
            let mut s = MapSpec::new(MapType::LruHash, 4, 8, 8);
            let hit = (FAMILY.gen.invalidate.unwrap())(&mut s, r);
            assert_eq!(hit, r % 8 < 2, "{r:#x}");
            let numa = s.map_flags & NUMA_NODE != 0;
            match alloc_check(&s, &p, numa) {
                Err(e) => {
                    assert!(hit, "{r:#x}");
                    refused.insert((r % 8, e.why()));
                }
                Ok(()) => assert!(!hit, "{r:#x}"),
            }
        }
        assert_eq!(lists, [0, NO_COMMON_LRU].into());
        let want = [(0, Some(Why::LruNoPrealloc)), (1, Some(Why::NumaPercpu))];
        assert_eq!(refused, want.into());
    }

    /// Each refused update says why, as `attempt` tells the paths apart: the flag range
    /// (EINVAL before any pop; a per-CPU LRU's too before 7.0, whose CPU flags make the rest
    /// BPF_ANY), a missing key (ENOENT), a key this update's own pop evicted (ENOENT too),
    /// and a present key under NOEXIST (EEXIST). The errnos were replayed on 6.18.44
    /// (`update-evicts-its-own-key.case`, `percpu-update-flags-3-einval.case`).
    #[test]
    fn refused_updates_say_why() {
        let mut w = World::default();
        run(
            &mut w,
            "cpu 0 => ok
             m0 = create lru_hash key=4 value=1 entries=2 => ok fd=m0
             m1 = create lru_percpu_hash key=4 value=8 entries=2 => ok fd=m1
             m2 = create lru_hash key=4 value=1 entries=8 => ok fd=m2
             update m0 key=01000000 value=01 => ok
             update m0 key=02000000 value=02 => ok",
        );
        let why = |l: &str| match w.allowed(&crate::text::parse_line(l).unwrap().0) {
            Allowed::Exactly(Err(e)) => (e.to_string(), e.why()),
            a => panic!("{l}: {a}"),
        };
        let einval = (Errno::EINVAL.to_string(), Some(Why::Flags));
        assert_eq!(why("update m0 key=09000000 value=09 flags=0x3"), einval);
        let sixteen = "00".repeat(16);
        assert_eq!(
            why(&format!("update m1 key=09000000 value={sixteen} flags=0x3")),
            einval
        );
        let enoent = |w| (Errno::ENOENT.to_string(), Some(w));
        assert_eq!(
            why("update m2 key=09000000 value=09 flags=EXIST"),
            enoent(Why::NoKey)
        );
        // A full map: the pop evicts key 1, so 9 is missing, and 1 is gone by its own pop.
        assert_eq!(
            why("update m0 key=09000000 value=09 flags=EXIST"),
            enoent(Why::NoKey)
        );
        assert_eq!(
            why("update m0 key=01000000 value=09 flags=EXIST"),
            enoent(Why::LruSelfEvicted)
        );
        assert_eq!(
            why("update m0 key=02000000 value=09 flags=NOEXIST"),
            (Errno::EEXIST.to_string(), Some(Why::Exists))
        );
    }

    /// The world and the generator read an LRU hash as the hash it keeps: values, present
    /// keys, entries, emptiness and the walk order; `update_evicts` says whether an update's
    /// own pop takes the key (a per-CPU update then starts from zeroes), and is false
    /// unpinned, where no one CPU's lists say.
    #[test]
    fn an_lru_hash_reads_as_its_hash() {
        let p = Profile::default();
        let s = MapSpec::new(MapType::LruHash, 4, 1, 2);
        let mut m = (FAMILY.new.unwrap())(&s, 1, &p, &[]);
        assert!(m.is_empty());
        assert!(!m.update_evicts(&[1, 0, 0, 0], ANY), "unpinned");
        m.on_cpu(0);
        for k in [1u8, 2] {
            let up = crate::text::parse_line(&format!("update m0 key={k:02x}000000 value={k:02x}"))
                .unwrap()
                .0;
            assert_eq!(m.update(&[k, 0, 0, 0], ANY, &[]), Ok(Ret::Unit));
            m.observe(&up, &Ok(Ret::Unit));
            m.store(&[k, 0, 0, 0], vec![k], &[]);
        }
        assert!(!m.is_empty());
        assert_eq!(m.value(&[2, 0, 0, 0]), Some(vec![2]));
        let mut keys = Vec::new();
        m.first_keys(8, &mut keys);
        let mut keys: Vec<&[u8]> = keys.chunks(4).collect();
        keys.sort();
        assert_eq!(keys, [[1, 0, 0, 0], [2, 0, 0, 0]]);
        assert_eq!(
            m.entries(),
            vec![(vec![1, 0, 0, 0], vec![1]), (vec![2, 0, 0, 0], vec![2])]
        );
        assert!(m.order().is_some() && m.order_mut().is_some());
        // Full: the next pop evicts key 1 (update-evicts-its-own-key.case), not key 2.
        assert!(m.update_evicts(&[1, 0, 0, 0], ANY));
        assert!(!m.update_evicts(&[2, 0, 0, 0], ANY));
    }
}
