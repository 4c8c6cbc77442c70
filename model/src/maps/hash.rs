//! HASH and PERCPU_HASH: sparse and bounded by max_entries. GET_NEXT_KEY walks buckets of
//! `htab_map_hash(key, seed)`, each from its head (kernel/bpf/hashtab.c): exact with
//! BPF_F_ZERO_SEED, else a set narrowed by every link observed since the order last changed.

use crate::errno::Errno;
use crate::fault::Fault;
use crate::jhash::htab_map_hash;
use crate::maps::percpu_stride;
use crate::op::flags::*;
use crate::op::MapSpec;
use crate::outcome::{Allowed, Links, MapState, Outcome, Ret, Walk};
use std::collections::{BTreeMap, BTreeSet};

/// `HTAB_CREATE_FLAG_MASK` (kernel/bpf/hashtab.c).
const CREATE_FLAGS: u32 = NO_PREALLOC | NO_COMMON_LRU | NUMA_NODE | FD_ACCESS | PROG_ACCESS | ZERO_SEED;

/// `htab_map_alloc_check`: CAP_SYS_ADMIN for ZERO_SEED, flags, sizes, and the element size
/// kmalloc can serve, in the kernel's order.
pub fn alloc_check(s: &MapSpec, cap_sys_admin: bool, numa: bool) -> Result<(), Errno> {
    let percpu = s.map_type.is_percpu();
    if s.map_flags & ZERO_SEED != 0 && !cap_sys_admin {
        return Err(Errno::EPERM);
    }
    let access_ok = s.map_flags & PROG_ACCESS != PROG_ACCESS;
    if s.map_flags & !CREATE_FLAGS != 0 || !access_ok {
        return Err(Errno::EINVAL);
    }
    // NO_COMMON_LRU on a non-LRU hash.
    if s.map_flags & NO_COMMON_LRU != 0 {
        return Err(Errno::EINVAL);
    }
    if numa && percpu {
        return Err(Errno::EINVAL);
    }
    if s.max_entries == 0 || s.key_size == 0 || s.value_size == 0 {
        return Err(Errno::EINVAL);
    }
    // KMALLOC_MAX_SIZE (4 MiB on x86_64) minus sizeof(struct htab_elem) (48).
    if s.key_size as u64 + s.value_size as u64 >= (4 << 20) - 48 {
        return Err(Errno::E2BIG);
    }
    if percpu && percpu_stride(s.value_size) > 32768 {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// `htab_map_alloc`: max_entries above 2^31 (roundup_pow_of_two would overflow), or too many
/// buckets for a u32 size (E2BIG). The second bound (2^27 with a 16-byte bucket) is the
/// tighter one on every kernel the profile knows; the first stays for a profile that is not.
pub fn too_many_entries(s: &MapSpec, hash_max_entries: u32) -> bool {
    s.max_entries > hash_max_entries.min(1 << 31)
}

/// Bytes a hash's allocation takes: preallocated elements (and per-CPU areas) for
/// max_entries plus one per CPU, or only the buckets with BPF_F_NO_PREALLOC.
pub fn alloc_bytes(s: &MapSpec, cpus: u32) -> u64 {
    let percpu = s.map_type.is_percpu();
    let vs = s.value_size as u64;
    let elem = 48 + (s.key_size as u64).div_ceil(8) * 8 + if percpu { 8 } else { vs.div_ceil(8) * 8 };
    let pcpu = if percpu {
        percpu_stride(s.value_size) as u64 * cpus as u64
    } else {
        0
    };
    if s.map_flags & NO_PREALLOC != 0 {
        (s.max_entries as u64).next_power_of_two() * 16
    } else {
        (elem + pcpu).saturating_mul(s.max_entries as u64 + cpus as u64)
    }
}

/// The GET_NEXT_KEY order of a hash-shaped map (HASH, PERCPU_HASH, HASH_OF_MAPS).
/// `htab_map_get_next_key`: the next element of the key's bucket list, else the head of the
/// next non-empty bucket; NULL or a key the map lacks starts at the first bucket.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HashOrder {
    /// `n_buckets` of a BPF_F_ZERO_SEED map (`hashrnd = 0` in `htab_map_alloc`), where the
    /// bucket of every key is known; `None` under a random seed.
    zero_seed_buckets: Option<u32>,
    /// An update of a present key keeps its element (`htab_map_update_elem_in_place`:
    /// PERCPU_HASH, HASH_OF_MAPS since 6.16) instead of linking a new one at the head.
    in_place: bool,
    /// Every present key's place: (bucket, rank), rank ascending from the bucket's head.
    place: BTreeMap<Vec<u8>, (u32, u64)>,
    /// The same by place: the walk order (meaningful with a zero seed).
    by_place: BTreeMap<(u32, u64), Vec<u8>>,
    /// Elements linked so far; each new head ranks below everything linked before it.
    linked: u64,
    /// What GET_NEXT_KEY and `check` walks answered since the order last changed.
    links: Links,
}

impl HashOrder {
    /// The order of an empty map: `n_buckets = roundup_pow_of_two(max_entries)`
    /// (`htab_map_alloc`; max_entries above 2^31 never gets here).
    pub fn new(zero_seed: bool, max_entries: u32, in_place: bool) -> HashOrder {
        let n_buckets = max_entries.max(1).checked_next_power_of_two().unwrap_or(1 << 31);
        HashOrder {
            zero_seed_buckets: zero_seed.then_some(n_buckets),
            in_place,
            place: BTreeMap::new(),
            by_place: BTreeMap::new(),
            linked: 0,
            links: Links::new(),
        }
    }

    /// The order of a map created with `spec`: ZERO_SEED from its flags; in place for
    /// PERCPU_HASH, and for HASH_OF_MAPS where the kernel has `fd_htab_in_place`.
    pub fn of(spec: &MapSpec, fd_htab_in_place: bool) -> HashOrder {
        use crate::op::MapType;
        let in_place = match spec.map_type {
            MapType::PercpuHash => true,
            MapType::HashOfMaps => fd_htab_in_place,
            _ => false,
        };
        HashOrder::new(spec.map_flags & ZERO_SEED != 0, spec.max_entries, in_place)
    }

    /// Is `key` present?
    pub fn contains(&self, key: &[u8]) -> bool {
        self.place.contains_key(key)
    }

    /// The observed links (for reports and tests).
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// A successful update. `htab_map_update_elem` links a new element at the head of the
    /// key's bucket (`hlist_nulls_add_head_rcu`) and unlinks the old one, so a present key
    /// moves to the head; an in-place update leaves the order alone. `tail` is the
    /// `hash-order-tail-insert` fault.
    pub fn update(&mut self, key: &[u8], tail: bool) {
        if self.in_place && self.contains(key) {
            return;
        }
        if let Some(p) = self.place.remove(key) {
            self.by_place.remove(&p);
        }
        let bucket = match self.zero_seed_buckets {
            Some(n) => htab_map_hash(key, 0) & (n - 1),
            None => 0,
        };
        self.linked += 1;
        let rank = if tail { self.linked } else { u64::MAX - self.linked };
        self.place.insert(key.to_vec(), (bucket, rank));
        self.by_place.insert((bucket, rank), key.to_vec());
        self.links.clear();
    }

    /// A successful delete or lookup_and_delete (`hlist_nulls_del_rcu`).
    pub fn remove(&mut self, key: &[u8]) {
        if let Some(p) = self.place.remove(key) {
            self.by_place.remove(&p);
        }
        self.links.clear();
    }

    /// Where GET_NEXT_KEY starts from: a key the map lacks restarts like NULL
    /// (`goto find_first_elem` in `htab_map_get_next_key`).
    fn from(&self, key: Option<&[u8]>) -> Option<Vec<u8>> {
        key.filter(|k| self.contains(k)).map(<[u8]>::to_vec)
    }

    /// GET_NEXT_KEY's allowed outcomes. With a zero seed, the element after `from` in
    /// (bucket, rank) order; else what was observed from the same start, or any key (or
    /// ENOENT) that keeps the observed links a prefix of one permutation. `loose` is the
    /// `hash-next-key-any` fault: any present key but the one passed in.
    pub fn next_key(&self, key: Option<&[u8]>, loose: bool) -> Allowed {
        let from = self.from(key);
        let to = if loose {
            return match from {
                _ if self.place.is_empty() => Allowed::Exactly(Err(Errno::ENOENT)),
                Some(k) => Allowed::AnyKeyExcept {
                    except: BTreeSet::from([k]),
                    may_end: true,
                },
                None => Allowed::AnyKeyExcept {
                    except: BTreeSet::new(),
                    may_end: false,
                },
            };
        } else if self.zero_seed_buckets.is_some() {
            let start = from.as_ref().and_then(|k| self.place.get(k));
            let mut after = match start {
                Some(p) => self
                    .by_place
                    .range((std::ops::Bound::Excluded(*p), std::ops::Bound::Unbounded)),
                None => self.by_place.range(..),
            };
            after.next().map(|(_, k)| k.clone())
        } else if let Some(to) = self.links.get(&from) {
            to.clone()
        } else if self.place.is_empty() {
            None
        } else {
            return self.open(from);
        };
        Allowed::Exactly(to.map(Ret::Key).ok_or(Errno::ENOENT))
    }

    /// Under a random seed, an unobserved step from `from`. The links are chains; the answer
    /// must not give a key a second predecessor (nor make it first), close a cycle, or
    /// close a chain from NULL to ENOENT that leaves keys out.
    fn open(&self, from: Option<Vec<u8>>) -> Allowed {
        let n = self.place.len();
        let back: BTreeMap<&Option<Vec<u8>>, &Option<Vec<u8>>> =
            self.links.iter().map(|(f, t)| (t, f)).collect();
        // The head of `from`'s chain and how many keys lead from it to `from`, inclusive
        // (bounded by the link count, in case a generation-time world holds odd links).
        // (`back` maps a target to its source; as a target None is ENOENT, as a source NULL.)
        let (mut head, mut before) = (&from, usize::from(from.is_some()));
        for _ in 0..=self.links.len() {
            match back.get(head) {
                Some(p) if head.is_some() => {
                    head = p;
                    before += usize::from(p.is_some());
                }
                _ => break,
            }
        }
        let from_null = head.is_none();
        // A chain from `y` that reaches ENOENT, and its key count.
        let to_end = |y: &Vec<u8>| {
            let (mut at, mut count) = (Some(y.clone()), 0);
            for _ in 0..=self.links.len() {
                match at {
                    None => return Some(count),
                    Some(_) => count += 1,
                }
                at = self.links.get(&at)?.clone();
            }
            None
        };
        let mut except: BTreeSet<Vec<u8>> = from.iter().cloned().collect();
        let mentioned = self.links.iter().flat_map(|(f, t)| [f, t]).flatten();
        for y in mentioned {
            let refused = back.contains_key(&Some(y.clone()))
                || head.as_ref() == Some(y)
                || (from_null && to_end(y).is_some_and(|c| before + c != n));
            if refused {
                except.insert(y.clone());
            }
        }
        let may_end = from.is_some() && !back.contains_key(&None) && (!from_null || before == n);
        Allowed::AnyKeyExcept { except, may_end }
    }

    /// Records a GET_NEXT_KEY answer (`to`: None for ENOENT) from `key`.
    pub fn observe(&mut self, key: Option<&[u8]>, to: Option<&[u8]>) {
        let from = self.from(key);
        self.links.insert(from, to.map(<[u8]>::to_vec));
    }

    /// Records a whole walk from NULL to ENOENT.
    pub fn observe_walk<'a>(&mut self, walk: impl Iterator<Item = &'a [u8]>) {
        let mut prev: Option<Vec<u8>> = None;
        for k in walk {
            self.links.insert(prev, Some(k.to_vec()));
            prev = Some(k.to_vec());
        }
        self.links.insert(prev, None);
    }

    /// What a `check` walk must look like (`loose`: the `hash-next-key-any` fault, which
    /// asks only for each key once).
    pub fn walk_rule(&self, loose: bool) -> Walk {
        match self.zero_seed_buckets {
            _ if loose => Walk::default(),
            Some(_) => Walk::Exact(self.by_place.values().cloned().collect()),
            None => Walk::Links(self.links.clone()),
        }
    }
}

/// The contents of one hash map.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HashMap {
    /// `max_entries`: inserting a new key beyond it is E2BIG.
    pub max_entries: u32,
    /// Bytes a lookup returns (`bpf_map_value_size`).
    pub value_len: usize,
    /// The present keys and their values as a lookup returns them.
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The GET_NEXT_KEY order of `entries`' keys (boxed: maps are many, orders large).
    pub order: Box<HashOrder>,
}

impl HashMap {
    /// An empty hash map under a random seed, moving updated keys to the head.
    pub fn new(max_entries: u32, value_len: usize) -> HashMap {
        HashMap::with_order(max_entries, value_len, HashOrder::new(false, max_entries, false))
    }

    /// An empty hash map with this order.
    pub fn with_order(max_entries: u32, value_len: usize, order: HashOrder) -> HashMap {
        HashMap {
            max_entries,
            value_len,
            entries: BTreeMap::new(),
            order: Box::new(order),
        }
    }

    /// `htab_map_lookup_elem` via `bpf_map_copy_value`: missing is ENOENT.
    pub fn lookup(&self, key: &[u8]) -> Outcome {
        self.entries
            .get(key)
            .map(|v| Ret::Value(v.clone()))
            .ok_or(Errno::ENOENT)
    }

    /// `htab_map_update_elem`: flag range first, then `check_flags` against the old element,
    /// then `alloc_htab_elem` refuses a *new* key when max_entries are present (E2BIG, with or
    /// without prealloc); replacing a present key in a full map is fine.
    pub fn update(&self, key: &[u8], flags: u64, faults: &[Fault]) -> Outcome {
        if (flags & !F_LOCK) > EXIST {
            return Err(Errno::EINVAL);
        }
        let present = self.entries.contains_key(key);
        if present && flags & !F_LOCK == NOEXIST {
            return Err(Errno::EEXIST);
        }
        if !present && flags & !F_LOCK == EXIST {
            return Err(Errno::ENOENT);
        }
        if !present
            && self.entries.len() >= self.max_entries as usize
            && !faults.contains(&Fault::HashFullInsertOk)
        {
            return Err(Errno::E2BIG);
        }
        Ok(Ret::Unit)
    }

    /// Stores an accepted update.
    pub fn store(&mut self, key: &[u8], stored: Vec<u8>, faults: &[Fault]) {
        self.order
            .update(key, faults.contains(&Fault::HashOrderTailInsert));
        self.entries.insert(key.to_vec(), stored);
    }

    /// `htab_map_delete_elem`: missing is ENOENT.
    pub fn delete(&self, key: &[u8], faults: &[Fault]) -> Outcome {
        if self.entries.contains_key(key) || faults.contains(&Fault::HashDeleteMissingOk) {
            Ok(Ret::Unit)
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// Removes a key after an accepted delete or lookup_and_delete.
    pub fn remove(&mut self, key: &[u8]) {
        self.order.remove(key);
        self.entries.remove(key);
    }

    /// `htab_map_get_next_key`: see [`HashOrder::next_key`].
    pub fn next_key(&self, key: Option<&[u8]>, faults: &[Fault]) -> Allowed {
        self.order.next_key(key, faults.contains(&Fault::HashNextKeyAny))
    }

    /// `htab_map_lookup_and_delete_elem`: the value, then the key is gone; missing is ENOENT.
    pub fn lookup_and_delete(&self, key: &[u8]) -> Outcome {
        self.lookup(key)
    }

    /// Every present entry, as LOOKUP_BATCH and a GET_NEXT_KEY walk must show them.
    pub fn state(&self, key_size: usize, faults: &[Fault]) -> Allowed {
        let mut st = MapState {
            key_size,
            value_size: self.value_len,
            ..Default::default()
        };
        for (k, v) in &self.entries {
            st.keys.extend_from_slice(k);
            st.values.extend_from_slice(v);
        }
        Allowed::State(st, self.order.walk_rule(faults.contains(&Fault::HashNextKeyAny)))
    }
}
