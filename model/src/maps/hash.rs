//! HASH and PERCPU_HASH: sparse and bounded by max_entries. GET_NEXT_KEY walks buckets of
//! `htab_map_hash(key, seed)`, each from its head (kernel/bpf/hashtab.c): exact with
//! BPF_F_ZERO_SEED, else a set narrowed by every link observed since the order last changed.

use crate::errno::Errno;
use crate::fault::Fault;
use crate::jhash::htab_map_hash;
use crate::maps::{percpu_stride, Family, ValueMap, NO_HINTS};
use crate::op::flags::*;
use crate::op::{MapSpec, MapType};
use crate::outcome::{Allowed, Batch, BucketRule, Links, MapState, Outcome, Ranges, Ret, Walk};
use crate::profile::Profile;
use crate::reason::Why;
use std::collections::{BTreeMap, BTreeSet};

/// `HTAB_CREATE_FLAG_MASK` (kernel/bpf/hashtab.c).
const CREATE_FLAGS: u32 = NO_PREALLOC | NO_COMMON_LRU | NUMA_NODE | FD_ACCESS | PROG_ACCESS | ZERO_SEED;

/// `htab_map_alloc_check`: CAP_SYS_ADMIN for ZERO_SEED, flags, sizes, and the element size
/// kmalloc can serve, in the kernel's order.
pub fn alloc_check(s: &MapSpec, p: &Profile, numa: bool) -> Result<(), Errno> {
    let cap_sys_admin = p.cap_sys_admin;
    let percpu = s.map_type.is_percpu();
    if s.map_flags & ZERO_SEED != 0 && !cap_sys_admin {
        return Err(Why::ZeroSeedCap.errno());
    }
    if s.map_flags & !CREATE_FLAGS != 0 {
        return Err(Why::Flags.errno());
    }
    if s.map_flags & PROG_ACCESS == PROG_ACCESS {
        return Err(Why::ProgAccess.errno());
    }
    // NO_COMMON_LRU on a non-LRU hash.
    if s.map_flags & NO_COMMON_LRU != 0 {
        return Err(Why::Flags.errno());
    }
    if numa && percpu {
        return Err(Why::NumaPercpu.errno());
    }
    if s.max_entries == 0 {
        return Err(Why::NoEntries.errno());
    }
    if s.key_size == 0 {
        return Err(Why::KeySize.errno());
    }
    if s.value_size == 0 {
        return Err(Why::ValueSize.errno());
    }
    if !p.hash_key_size_lifted {
        // Before c6bde958a62b (5.11): keys live on the BPF stack (MAX_BPF_STACK, 512), and a
        // value must leave room for one in KMALLOC_MAX_SIZE with the htab_elem.
        if s.key_size > 512 {
            return Err(Why::KeyTooBig.errno());
        }
        if s.value_size as u64 >= (4 << 20) - 512 - 48 {
            return Err(Why::ElemTooBig.errno());
        }
    }
    // KMALLOC_MAX_SIZE (4 MiB on x86_64) minus sizeof(struct htab_elem) (48).
    if s.key_size as u64 + s.value_size as u64 >= (4 << 20) - 48 {
        return Err(Why::ElemTooBig.errno());
    }
    if percpu && percpu_stride(s.value_size) > 32768 {
        return Err(Why::PercpuTooBig.errno());
    }
    Ok(())
}

/// `htab_map_alloc`: max_entries above 2^31 (roundup_pow_of_two would overflow), or too many
/// buckets for a u32 size (E2BIG). The second bound (2^27 with a 16-byte bucket) is the
/// tighter one on every kernel the profile knows; the first stays for a profile that is not.
pub fn too_many_entries(s: &MapSpec, hash_max_entries: u32) -> bool {
    s.max_entries > hash_max_entries.min(1 << 31)
}

/// The commands a hash answers ok: every element and batch command, and the program-side
/// helpers (the LRU hashes answer the same ones).
pub const OK_OPS: &[&str] = &[
    "create",
    "update",
    "lookup",
    "delete",
    "next_key",
    "lookup_and_delete",
    "freeze",
    "close",
    "info",
    "check",
    "lookup_batch",
    "lookup_and_delete_batch",
    "update_batch",
    "delete_batch",
    "prog_lookup",
    "prog_update",
    "prog_delete",
];

/// HASH and PERCPU_HASH.
pub const FAMILY: Family = Family {
    types: &[MapType::Hash, MapType::PercpuHash],
    keyless: false,
    map_extra: false,
    alloc_check,
    too_many_entries: |s, p| too_many_entries(s, p.hash_max_entries),
    alloc_bytes,
    new: Some(|s, value_len, p, _| {
        let order = HashOrder::of(s, p.fd_htab_update_in_place);
        Box::new(HashMap::with_order(s.max_entries, value_len, order))
    }),
    ok_ops: |_| OK_OPS,
    // BATCH_OPS(htab), BATCH_OPS(htab_percpu): all four since 5.6.
    batch: |_, _, _| Ok(()),
    gen: NO_HINTS,
};

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
    /// `n_buckets`.
    n_buckets: u32,
    /// Under a random seed, the buckets a key may be in, as batch answers showed them (a
    /// key's bucket never changes: the seed is fixed at creation); absent: any.
    may: BTreeMap<Vec<u8>, Ranges>,
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
            n_buckets,
            may: BTreeMap::new(),
        }
    }

    /// `__htab_map_lookup_and_delete_batch` from bucket `from` (below `n_buckets`, `max` >
    /// 0): whole buckets, each from its head, while they fit in what is left of `max`;
    /// ENOSPC if the first bucket with elements does not fit, ENOENT once the buckets run
    /// out; `out_batch` the bucket it stopped at. Exact with a zero seed; else a rule.
    /// `split` is the `hash-batch-splits-buckets` fault.
    pub fn lookup_batch(
        &self,
        cursor: Option<&[u8]>,
        max: u32,
        value: &dyn Fn(&[u8]) -> Vec<u8>,
        split: bool,
    ) -> Allowed {
        // A u32 bucket cursor (NULL: bucket 0); one at or past `n_buckets` is ENOENT
        // before anything is copied or a cursor written.
        let from = cursor_bucket(cursor);
        if from >= self.n_buckets {
            let b = Batch {
                err: Some(Why::End.errno()),
                ..Batch::default()
            };
            return Allowed::Exactly(b.ret());
        }
        if self.zero_seed_buckets.is_none() {
            let present = self
                .place
                .keys()
                .map(|k| (k.clone(), value(k), self.may_be_in(k)))
                .collect();
            return Allowed::Buckets(BucketRule {
                from,
                max,
                n_buckets: self.n_buckets,
                present,
                links: self.links.clone(),
            });
        }
        let mut b = Batch::default();
        let mut at = from;
        loop {
            let Some(&(bucket, _)) = self.by_place.range((at, 0)..).next().map(|(p, _)| p) else {
                at = self.n_buckets;
                b.err = Some(Why::End.errno());
                break;
            };
            let mut keys: Vec<&Vec<u8>> = self
                .by_place
                .range((bucket, 0)..=(bucket, u64::MAX))
                .map(|(_, k)| k)
                .collect();
            if split && keys.len() as u64 > u64::from(max - b.count) {
                keys.truncate((max - b.count) as usize);
                b.keys.extend(keys.iter().map(|k| (*k).clone()));
                b.values.extend(keys.iter().map(|k| value(k)));
                b.count = max;
                at = bucket;
                break;
            }
            if keys.len() as u64 > u64::from(max - b.count) {
                if b.count == 0 {
                    b.err = Some(Why::BatchSpace.errno());
                }
                at = bucket;
                break;
            }
            for k in keys {
                b.keys.push(k.clone());
                b.values.push(value(k));
            }
            b.count = b.keys.len() as u32;
            at = bucket + 1;
            if at >= self.n_buckets {
                b.err = Some(Why::End.errno());
                break;
            }
        }
        b.out = Some(at.to_le_bytes().to_vec());
        Allowed::Exactly(b.ret())
    }

    /// The buckets `key` may be in.
    fn may_be_in(&self, key: &[u8]) -> Ranges {
        self.may
            .get(key)
            .cloned()
            .unwrap_or_else(|| vec![(0, self.n_buckets)])
    }

    /// Learns from a random-seed batch answer from bucket `from` to `max` elements: the keys
    /// it copied are in the buckets it walked, `[from, out_batch)`, and every other present
    /// key is not; where it stopped short of bucket `out_batch`, that bucket holds more than
    /// the room left, so if only that many keys can be there, they all are; and the walk it
    /// shows is GET_NEXT_KEY's (links, kept until the order changes).
    pub fn learn_batch(&mut self, from: u32, max: u32, b: &Batch) {
        if self.zero_seed_buckets.is_some() {
            return;
        }
        let Some(to) = BucketRule::to(b) else { return };
        for (f, t) in BucketRule::links_of(from, b) {
            self.links.insert(f, t);
        }
        let keys: Vec<Vec<u8>> = self.place.keys().cloned().collect();
        for k in keys {
            let r = self.may_be_in(&k);
            let narrowed: Ranges = if b.keys.contains(&k) {
                r.iter()
                    .map(|&(x, y)| (x.max(from), y.min(to)))
                    .filter(|(x, y)| x < y)
                    .collect()
            } else {
                r.iter()
                    .flat_map(|&(x, y)| [(x, y.min(from)), (x.max(to), y)])
                    .filter(|(x, y)| x < y)
                    .collect()
            };
            self.may.insert(k, narrowed);
        }
        let stopped_short = b.err.is_none_or(|e| e == crate::Errno::ENOSPC);
        let room = max.saturating_sub(b.count) as usize;
        let there: Vec<Vec<u8>> = self
            .place
            .keys()
            .filter(|k| !b.keys.contains(k) && crate::outcome::ranges_meet(&self.may_be_in(k), to, to + 1))
            .cloned()
            .collect();
        if stopped_short && to < self.n_buckets && there.len() == room + 1 {
            for k in there {
                self.may.insert(k, vec![(to, to + 1)]);
            }
        }
    }

    /// The order of a map created with `spec`: ZERO_SEED from its flags; in place for
    /// PERCPU_HASH, and for HASH_OF_MAPS where the kernel has `fd_htab_in_place`.
    pub fn of(spec: &MapSpec, fd_htab_in_place: bool) -> HashOrder {
        use crate::op::MapType;
        let in_place = match spec.map_type {
            MapType::PercpuHash | MapType::LruPercpuHash => true,
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
                _ if self.place.is_empty() => Allowed::Exactly(Err(Why::End.errno())),
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
        Allowed::Exactly(to.map(Ret::Key).ok_or(Why::End.errno()))
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

/// The bucket a hash batch cursor names: the u32 the kernel copies from `in_batch` (a
/// shorter buffer is padded with zeros, as the harness passes it); NULL is bucket 0.
pub(crate) fn cursor_bucket(cursor: Option<&[u8]>) -> u32 {
    let mut b = [0u8; 4];
    if let Some(c) = cursor {
        let n = c.len().min(4);
        b[..n].copy_from_slice(&c[..n]);
    }
    u32::from_le_bytes(b)
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
}

impl ValueMap for HashMap {
    /// `htab_map_lookup_elem` via `bpf_map_copy_value`: missing is ENOENT.
    fn lookup(&self, key: &[u8]) -> Outcome {
        self.entries
            .get(key)
            .map(|v| Ret::Value(v.clone()))
            .ok_or(Why::NoKey.errno())
    }

    /// `htab_map_update_elem`: flag range first, then `check_flags` against the old element,
    /// then `alloc_htab_elem` refuses a *new* key when max_entries are present (E2BIG, with or
    /// without prealloc); replacing a present key in a full map is fine.
    fn update(&self, key: &[u8], flags: u64, faults: &[Fault]) -> Outcome {
        if (flags & !F_LOCK) > EXIST {
            return Err(Why::Flags.errno());
        }
        let present = self.entries.contains_key(key);
        if present && flags & !F_LOCK == NOEXIST {
            return Err(Why::Exists.errno());
        }
        if !present && flags & !F_LOCK == EXIST {
            return Err(Why::NoKey.errno());
        }
        if !present
            && self.entries.len() >= self.max_entries as usize
            && !faults.contains(&Fault::HashFullInsertOk)
        {
            return Err(Why::Full.errno());
        }
        Ok(Ret::Unit)
    }

    /// Stores an accepted update.
    fn store(&mut self, key: &[u8], stored: Vec<u8>, faults: &[Fault]) {
        self.order
            .update(key, faults.contains(&Fault::HashOrderTailInsert));
        self.entries.insert(key.to_vec(), stored);
    }

    /// `htab_map_delete_elem`: missing is ENOENT.
    fn delete(&self, key: &[u8], faults: &[Fault]) -> Outcome {
        if self.entries.contains_key(key) || faults.contains(&Fault::HashDeleteMissingOk) {
            Ok(Ret::Unit)
        } else {
            Err(Why::NoKey.errno())
        }
    }

    /// Removes a key after an accepted delete or lookup_and_delete.
    fn remove(&mut self, key: &[u8]) {
        self.order.remove(key);
        self.entries.remove(key);
    }

    /// `htab_map_get_next_key`: see [`HashOrder::next_key`].
    fn next_key(&self, key: Option<&[u8]>, faults: &[Fault]) -> Allowed {
        self.order.next_key(key, faults.contains(&Fault::HashNextKeyAny))
    }

    /// `htab_map_lookup_and_delete_elem`: the value, then the key is gone; missing is ENOENT
    /// (before 5.14 the command is the queue and stack maps' only: ENOTSUPP).
    fn lookup_and_delete(&self, key: &[u8], p: &Profile) -> Outcome {
        if !p.hash_lookup_and_delete {
            return Err(Why::OldNoCommand.errno());
        }
        self.lookup(key)
    }

    /// `__htab_map_lookup_and_delete_batch`: see [`HashOrder::lookup_batch`].
    fn lookup_batch(&self, cursor: Option<&[u8]>, max: u32, faults: &[Fault]) -> Allowed {
        let split = faults.contains(&Fault::HashBatchSplitsBuckets);
        self.order
            .lookup_batch(cursor, max, &|k| self.entries[k].clone(), split)
    }

    /// A random-seed batch answer narrows where its keys may be.
    fn observe(&mut self, op: &crate::op::Op, o: &Outcome) {
        if let (crate::op::Op::LookupBatch { cursor, count, .. }, Ok(Ret::Batch(b))) = (op, o) {
            self.order
                .learn_batch(cursor_bucket(cursor.as_deref()), *count, b);
        }
    }

    /// Every present entry, as LOOKUP_BATCH and a GET_NEXT_KEY walk must show them.
    fn state(&self, key_size: usize, ids: bool, faults: &[Fault]) -> Allowed {
        let mut st = MapState {
            key_size,
            value_size: self.value_len,
            ..Default::default()
        };
        for (k, v) in &self.entries {
            st.keys.extend_from_slice(k);
            st.values.extend_from_slice(&crate::outcome::cell_if(ids, v));
        }
        Allowed::State(st, self.order.walk_rule(faults.contains(&Fault::HashNextKeyAny)))
    }

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    fn has_key(&self, key: &[u8]) -> bool {
        self.entries.contains_key(key)
    }

    fn first_keys(&self, n: usize, out: &mut Vec<u8>) {
        out.extend(self.entries.keys().take(n).flatten());
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn order(&self) -> Option<&HashOrder> {
        Some(&self.order)
    }

    fn order_mut(&mut self) -> Option<&mut HashOrder> {
        Some(&mut self.order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{FdRef, Handle, MapType, Op, Value};
    use crate::world::{MapData, World};

    fn k(i: u32) -> Vec<u8> {
        i.to_le_bytes().to_vec()
    }
    fn key(o: &Outcome) -> Option<u32> {
        match o {
            Ok(Ret::Key(k)) => Some(u32::from_le_bytes(k[..4].try_into().unwrap())),
            _ => None,
        }
    }
    /// The keys an `AnyKeyExcept` admits among `present` (sorted), and whether it may end.
    fn admitted(a: &Allowed, present: &[u32]) -> (Vec<u32>, bool) {
        let is = |x: &[u8]| present.iter().any(|p| k(*p) == x);
        let keys = present
            .iter()
            .copied()
            .filter(|p| a.admits(&Ok(Ret::Key(k(*p))), &is))
            .collect();
        (keys, a.admits(&Err(Errno::ENOENT), &is))
    }
    fn walk(o: &HashOrder) -> Vec<u32> {
        // Follow next_key from NULL as the kernel would, asking only for exact answers.
        let mut out = Vec::new();
        let mut at: Option<Vec<u8>> = None;
        while let Allowed::Exactly(o) = o.next_key(at.as_deref(), false) {
            let Some(x) = key(&o) else { break };
            out.push(x);
            at = Some(k(x));
        }
        out
    }

    /// A chain observed from NULL through every key may only end: the count of keys before
    /// `from` decides it (two keys, NULL -> 1 -> 2: after 2 only ENOENT; NULL -> 1 alone:
    /// after 1 only 2).
    #[test]
    fn a_chain_through_every_key_ends() {
        let mut o = HashOrder::new(false, 8, false);
        for i in [1, 2] {
            o.update(&k(i), false);
        }
        o.observe(None, Some(&k(1)));
        assert_eq!(
            admitted(&o.next_key(Some(&k(1)), false), &[1, 2]),
            (vec![2], false)
        );
        o.observe(Some(&k(1)), Some(&k(2)));
        assert_eq!(admitted(&o.next_key(Some(&k(2)), false), &[1, 2]), (vec![], true));
        // An end seen once is remembered.
        o.observe(Some(&k(2)), None);
        assert_eq!(
            o.next_key(Some(&k(2)), false),
            Allowed::Exactly(Err(Errno::ENOENT))
        );
    }

    /// Observed answers narrow the set to one and every reordering forgets them.
    #[test]
    fn successor_memory_narrows_and_clears() {
        let mut o = HashOrder::new(false, 8, false);
        for i in [1, 2, 3] {
            o.update(&k(i), false);
        }
        let all = [1, 2, 3];
        assert_eq!(admitted(&o.next_key(None, false), &all), (vec![1, 2, 3], false));
        o.observe(None, Some(&k(2)));
        assert_eq!(o.next_key(None, false), Allowed::Exactly(Ok(Ret::Key(k(2)))));
        // 2 is first: it cannot follow 1, nor itself follow itself.
        assert_eq!(admitted(&o.next_key(Some(&k(1)), false), &all), (vec![3], true));
        assert_eq!(
            admitted(&o.next_key(Some(&k(2)), false), &all),
            (vec![1, 3], false)
        );
        o.observe(Some(&k(2)), Some(&k(3)));
        // NULL, 2, 3 so far: 3 cannot be last (1 is left), and 2 cannot come back.
        assert_eq!(admitted(&o.next_key(Some(&k(3)), false), &all), (vec![1], false));
        // 1 must come after 3: it cannot lead to 2 or 3 (both have predecessors), only end.
        assert_eq!(admitted(&o.next_key(Some(&k(1)), false), &all), (vec![], true));
        o.observe(Some(&k(3)), Some(&k(1)));
        o.observe(Some(&k(1)), None);
        assert_eq!(walk(&o), vec![2, 3, 1]);
        // An update of a present key relinks it in a HASH: everything is open again.
        let mut moved = o.clone();
        moved.update(&k(3), false);
        assert!(moved.links().is_empty());
        assert_eq!(
            admitted(&moved.next_key(None, false), &all),
            (vec![1, 2, 3], false)
        );
        // A delete too.
        let mut deleted = o.clone();
        deleted.remove(&k(1));
        assert!(deleted.links().is_empty());
        // An in-place update (PERCPU_HASH) keeps the order and what was seen of it.
        let mut pcpu = HashOrder::new(false, 8, true);
        for i in all {
            pcpu.update(&k(i), false);
        }
        pcpu.observe_walk([k(2), k(3), k(1)].iter().map(Vec::as_slice));
        pcpu.update(&k(3), false);
        assert_eq!(walk(&pcpu), vec![2, 3, 1]);
        pcpu.update(&k(4), false);
        assert!(pcpu.links().is_empty(), "a new key is linked in");
    }

    /// The links stay one permutation: a chain from NULL may only reach ENOENT through
    /// every key, and a known chain that covers all keys must be where NULL leads.
    #[test]
    fn links_close_only_into_one_permutation() {
        let mut o = HashOrder::new(false, 8, false);
        o.update(&k(1), false);
        o.update(&k(2), false);
        o.observe(Some(&k(1)), Some(&k(2)));
        o.observe(Some(&k(2)), None);
        // 1, 2, ENOENT is known; NULL can only lead to 1.
        assert_eq!(admitted(&o.next_key(None, false), &[1, 2]), (vec![1], false));
        let mut p = HashOrder::new(false, 8, false);
        for i in [1, 2, 3] {
            p.update(&k(i), false);
        }
        p.observe(Some(&k(3)), None);
        // NULL -> 3 would end the walk with 1 and 2 unvisited.
        assert_eq!(
            admitted(&p.next_key(None, false), &[1, 2, 3]),
            (vec![1, 2], false)
        );
        // 1 -> 2 -> 3 would not close a cycle; 1 -> 1 would.
        assert_eq!(
            admitted(&p.next_key(Some(&k(1)), false), &[1, 2, 3]),
            (vec![2, 3], false)
        );
        p.observe(Some(&k(1)), Some(&k(2)));
        assert_eq!(
            admitted(&p.next_key(Some(&k(2)), false), &[1, 2, 3]),
            (vec![3], false)
        );
        assert_eq!(
            p.next_key(Some(&k(3)), false),
            Allowed::Exactly(Err(Errno::ENOENT))
        );
        // 1 -> 2 -> 3 -> ENOENT is known: NULL can only lead to 1.
        assert_eq!(admitted(&p.next_key(None, false), &[1, 2, 3]), (vec![1], false));
        // An empty map ends at once, whatever was asked.
        let e = HashOrder::new(false, 8, false);
        assert_eq!(e.next_key(None, false), Allowed::Exactly(Err(Errno::ENOENT)));
        assert_eq!(
            e.next_key(Some(&k(1)), true),
            Allowed::Exactly(Err(Errno::ENOENT))
        );
    }

    /// `goto find_first_elem`: a key the map lacks starts over like NULL, in what is allowed
    /// and in what is remembered.
    #[test]
    fn a_missing_key_is_null() {
        let mut o = HashOrder::new(false, 8, false);
        for i in [1, 2, 3] {
            o.update(&k(i), false);
        }
        assert_eq!(o.next_key(Some(&k(9)), false), o.next_key(None, false));
        o.observe(Some(&k(9)), Some(&k(3)));
        assert_eq!(o.next_key(None, false), Allowed::Exactly(Ok(Ret::Key(k(3)))));
        assert_eq!(
            o.next_key(Some(&k(7)), false),
            Allowed::Exactly(Ok(Ret::Key(k(3))))
        );
        let z = {
            let mut z = HashOrder::new(true, 4, false);
            z.update(&k(1), false);
            z
        };
        assert_eq!(z.next_key(Some(&k(5)), false), z.next_key(None, false));
    }

    /// A random-seed batch lookup: each answer must be whole buckets in bucket order that
    /// fit, and the model remembers where answers put the keys, so a later answer that moves
    /// a key to another bucket is refused (a kernel that ignored the cursor, say); without
    /// that memory the same answer would pass.
    #[test]
    fn random_seed_batches_are_held_to_whole_buckets_and_to_earlier_answers() {
        use crate::op::Op;
        use crate::outcome::{Batch, Ranges};
        let (a, b) = (k(1), k(2));
        let mut m = HashMap::new(4, 4);
        m.store(&a, k(10), &[]);
        m.store(&b, k(20), &[]);
        let rule =
            |m: &HashMap, from: u32, max: u32| match m.lookup_batch(Some(&from.to_le_bytes()), max, &[]) {
                Allowed::Buckets(r) => r,
                other => panic!("{other:?}"),
            };
        let ans = |err: Option<crate::Errno>, keys: &[&Vec<u8>], out: u32| Batch {
            err,
            count: keys.len() as u32,
            keys: keys.iter().map(|x| (*x).clone()).collect(),
            values: keys
                .iter()
                .map(|x| if *x == &a { k(10) } else { k(20) })
                .collect(),
            out: Some(out.to_le_bytes().to_vec()),
            ids: Vec::new(),
        };
        let end = Some(Why::End.errno());
        // From bucket 0, one asked: A alone in [0, 2) and B in bucket 2 (too big for the
        // room left: it stops short) is a placement the kernel can have.
        let first = ans(None, &[&a], 2);
        assert!(rule(&m, 0, 1).admits(&first));
        // Not: more than asked, a key twice, a wrong value, a cursor that did not move, an
        // end that is not n_buckets, ENOSPC with a count, an absent key.
        assert!(!rule(&m, 0, 1).admits(&ans(end, &[&a, &b], 4)));
        assert!(!rule(&m, 0, 2).admits(&ans(end, &[&a, &a], 4)));
        let mut wrong = ans(end, &[&a, &b], 4);
        wrong.values[0] = k(11);
        assert!(!rule(&m, 0, 2).admits(&wrong));
        assert!(!rule(&m, 1, 1).admits(&ans(None, &[&a], 1)));
        assert!(!rule(&m, 0, 2).admits(&ans(end, &[&a, &b], 3)));
        let mut space = ans(Some(Why::BatchSpace.errno()), &[&a], 0);
        assert!(!rule(&m, 0, 1).admits(&space));
        space = ans(Some(Why::BatchSpace.errno()), &[], 1);
        assert!(rule(&m, 0, 1).admits(&space));
        assert!(!rule(&m, 0, 2).admits(&ans(end, &[&a, &k(3)], 4)));
        // The whole map from bucket 0 must be every key: ENOENT leaving B out is refused.
        assert!(!rule(&m, 0, 4).admits(&ans(end, &[&a], 4)));
        // Learn the first answer: A is in [0, 2), and B, the only key left that can fill
        // bucket 2 where the walk stopped short, is in bucket 2.
        let op = Op::LookupBatch {
            map: crate::op::FdRef::Bad(crate::op::BadFd::Closed),
            delete: false,
            cursor: None,
            count: 1,
            elem_flags: 0,
            flags: 0,
        };
        let before = rule(&m, 2, 4);
        m.observe(&op, &Ok(Ret::Batch(first)));
        assert_eq!(m.order.may_be_in(&a), Ranges::from([(0, 2)]));
        assert_eq!(m.order.may_be_in(&b), Ranges::from([(2, 3)]));
        // From bucket 2, A again: what a kernel ignoring the cursor answers. Admitted by
        // the rule of an unnarrowed map, refused once the first answer is remembered.
        let again = ans(end, &[&a, &b], 4);
        assert!(before.admits(&again));
        assert!(!rule(&m, 2, 4).admits(&again));
        assert!(rule(&m, 2, 4).admits(&ans(end, &[&b], 4)));
        // The memory outlives a delete: a key's bucket is fixed by the map's seed.
        m.remove(&a);
        m.store(&a, k(10), &[]);
        assert_eq!(m.order.may_be_in(&a), Ranges::from([(0, 2)]));
    }

    /// What a random-seed batch shows beyond bucket ranges: the walk's order (the same
    /// question twice, or after a GET_NEXT_KEY walk, gets the same order), and a bucket that
    /// stopped the walk and that only its keys can fill (ENOSPC at bucket 2 with two keys
    /// left: both are there, so a walk from bucket 3 cannot return them).
    #[test]
    fn random_seed_batches_remember_order_and_full_buckets() {
        use crate::op::{BadFd, FdRef, Op};
        let op = |from: Option<u32>, count: u32| Op::LookupBatch {
            map: FdRef::Bad(BadFd::Closed),
            delete: false,
            cursor: from.map(|f| f.to_le_bytes().to_vec()),
            count,
            elem_flags: 0,
            flags: 0,
        };
        let ans = |err: Option<crate::Errno>, keys: &[u32], out: u32| Batch {
            err,
            count: keys.len() as u32,
            keys: keys.iter().map(|x| k(*x)).collect(),
            values: keys.iter().map(|x| k(*x)).collect(),
            out: Some(out.to_le_bytes().to_vec()),
            ids: Vec::new(),
        };
        let two = || {
            let mut m = HashMap::new(4, 4);
            m.store(&k(1), k(1), &[]);
            m.store(&k(2), k(2), &[]);
            m
        };
        let rule = |m: &HashMap, from: Option<u32>, max: u32| match m.lookup_batch(
            from.map(|f| f.to_le_bytes()).as_ref().map(|c| &c[..]),
            max,
            &[],
        ) {
            Allowed::Buckets(r) => r,
            other => panic!("{other:?}"),
        };
        let end = Some(Why::End.errno());
        let (first, swapped) = (ans(end, &[1, 2], 4), ans(end, &[2, 1], 4));
        let mut m = two();
        assert!(rule(&m, None, 4).admits(&first) && rule(&m, None, 4).admits(&swapped));
        m.observe(&op(None, 4), &Ok(Ret::Batch(first.clone())));
        assert!(rule(&m, None, 4).admits(&first));
        assert!(!rule(&m, None, 4).admits(&swapped));
        // A GET_NEXT_KEY walk 1 -> 2 -> end says the same.
        let mut g = two();
        g.order.observe_walk([k(1), k(2)].iter().map(Vec::as_slice));
        assert!(!rule(&g, None, 4).admits(&swapped));
        // A write changes the order: the memory of it goes, that of buckets stays.
        m.store(&k(1), k(1), &[]);
        assert!(rule(&m, None, 4).admits(&swapped));
        // ENOSPC at bucket 2 with one asked and two keys: both are in bucket 2.
        let mut e = two();
        let enospc = ans(Some(Why::BatchSpace.errno()), &[], 2);
        assert!(rule(&e, None, 1).admits(&enospc));
        e.observe(&op(None, 1), &Ok(Ret::Batch(enospc)));
        assert_eq!(e.order.may_be_in(&k(1)), Ranges::from([(2, 3)]));
        assert!(!rule(&e, Some(3), 2).admits(&ans(end, &[1, 2], 4)));
        assert!(rule(&e, Some(2), 2).admits(&ans(end, &[1, 2], 4)));
    }

    /// The random-seed rule against a transcription of `__htab_map_lookup_and_delete_batch`
    /// and `htab_map_get_next_key` with a secret placement of keys in buckets: every answer
    /// of that kernel is admitted, through updates (head insertion), deletes, batches that
    /// delete, and GET_NEXT_KEY walks, with the model learning from each (a rule that learnt
    /// something false would refuse a later answer here).
    #[test]
    fn random_seed_rule_admits_every_answer_of_a_transcribed_kernel() {
        use crate::op::{BadFd, FdRef, Op};
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut below = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut checked = 0;
        for _ in 0..3000 {
            let max_entries = [1u32, 2, 3, 4, 5, 8][below(6) as usize];
            let n = max_entries.next_power_of_two();
            let place: Vec<u32> = (0..10).map(|_| below(u64::from(n)) as u32).collect();
            // The kernel: bucket lists head first, and the values.
            let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n as usize];
            let mut vals: BTreeMap<u32, u32> = BTreeMap::new();
            let mut m = HashMap::new(max_entries, 4);
            for _ in 0..40 {
                let key = below(10) as u32;
                let bucket = place[key as usize] as usize;
                match below(5) {
                    0 => {
                        let ok = m.update(&k(key), 0, &[]).is_ok();
                        assert_eq!(ok, vals.contains_key(&key) || (vals.len() as u32) < max_entries);
                        if ok {
                            let v = below(100) as u32;
                            lists[bucket].retain(|x| *x != key);
                            lists[bucket].insert(0, key);
                            vals.insert(key, v);
                            m.store(&k(key), k(v), &[]);
                        }
                    }
                    1 if vals.contains_key(&key) => {
                        lists[bucket].retain(|x| *x != key);
                        vals.remove(&key);
                        m.remove(&k(key));
                    }
                    2 => {
                        // GET_NEXT_KEY from NULL or a key: the next in its list, else the
                        // head of the next non-empty bucket.
                        let from = (below(3) > 0 && vals.contains_key(&key)).then_some(key);
                        let (start, skip) = match from {
                            Some(x) => {
                                let b = place[x as usize] as usize;
                                let i = lists[b].iter().position(|y| *y == x).unwrap();
                                (b, i + 1)
                            }
                            None => (0, 0),
                        };
                        let next = lists[start]
                            .iter()
                            .skip(skip)
                            .chain(lists[start + 1..].iter().flatten())
                            .next()
                            .copied();
                        let o = next.map(|x| Ret::Key(k(x))).ok_or(Why::End.errno());
                        let kf = from.map(k);
                        let a = m.next_key(kf.as_deref(), &[]);
                        assert!(
                            a.admits(&o, &|x| m.entries.contains_key(x)),
                            "{a:?} refused {o:?}"
                        );
                        m.order.observe(kf.as_deref(), next.map(k).as_deref());
                    }
                    _ => {
                        let delete = below(3) == 0;
                        let from = below(u64::from(n) + 1) as u32;
                        let max = 1 + below(5) as u32;
                        let mut b = Batch::default();
                        let mut at = from;
                        if from >= n {
                            b.err = Some(crate::Errno::ENOENT);
                        } else {
                            loop {
                                let cnt = lists[at as usize].len() as u32;
                                if cnt > max - b.count {
                                    if b.count == 0 {
                                        b.err = Some(crate::Errno::ENOSPC);
                                    }
                                    break;
                                }
                                for x in &lists[at as usize] {
                                    b.keys.push(k(*x));
                                    b.values.push(k(vals[x]));
                                }
                                b.count += cnt;
                                at += 1;
                                if at >= n {
                                    b.err = Some(crate::Errno::ENOENT);
                                    break;
                                }
                            }
                            b.out = Some(at.to_le_bytes().to_vec());
                        }
                        let o = b.clone().ret();
                        let cursor = (below(4) > 0 || from > 0).then(|| from.to_le_bytes().to_vec());
                        let a = m.lookup_batch(cursor.as_deref(), max, &[]);
                        assert!(
                            a.admits(&o, &|_| true),
                            "from {from} max {max}: {a:?} refused {o:?}"
                        );
                        checked += 1;
                        let op = Op::LookupBatch {
                            map: FdRef::Bad(BadFd::Closed),
                            delete,
                            cursor,
                            count: max,
                            elem_flags: 0,
                            flags: 0,
                        };
                        m.observe(&op, &o);
                        if delete {
                            for x in &b.keys {
                                let x = u32::from_le_bytes([x[0], x[1], x[2], x[3]]);
                                lists[place[x as usize] as usize].retain(|y| *y != x);
                                vals.remove(&x);
                                m.remove(&k(x));
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 20_000, "{checked}");
    }

    /// Zero seed, u32 keys (jhash2, seed 0; buckets from jhash's tests): with 4 buckets
    /// 0->0, 1->3, 2->2, 3->3, 4->1; with 8, 1->3, 2->2, 3->7. Each bucket from its newest.
    #[test]
    fn zero_seed_order_by_hand() {
        let mut o = HashOrder::new(true, 4, false);
        for i in [1, 2, 3] {
            o.update(&k(i), false);
        }
        assert_eq!(walk(&o), vec![2, 3, 1], "bucket 2, then bucket 3 from its head");
        assert_eq!(
            o.walk_rule(false),
            Walk::Exact(vec![k(2), k(3), k(1)]),
            "a check walk must be this"
        );
        o.update(&k(1), false);
        assert_eq!(
            walk(&o),
            vec![2, 1, 3],
            "an updated HASH key moves to its bucket's head"
        );
        o.remove(&k(1));
        assert_eq!(walk(&o), vec![2, 3]);
        o.update(&k(1), false);
        o.update(&k(0), false);
        o.update(&k(4), false);
        assert_eq!(walk(&o), vec![0, 4, 2, 1, 3]);
        assert_eq!(
            o.next_key(Some(&k(3)), false),
            Allowed::Exactly(Err(Errno::ENOENT))
        );
        // max_entries 5..8: eight buckets, so 3 leaves 1's bucket.
        let mut eight = HashOrder::new(true, 5, false);
        for i in [1, 2, 3] {
            eight.update(&k(i), false);
        }
        assert_eq!(walk(&eight), vec![2, 1, 3]);
        // PERCPU_HASH updates in place.
        let mut pcpu = HashOrder::new(true, 4, true);
        for i in [1, 2, 3, 1] {
            pcpu.update(&k(i), false);
        }
        assert_eq!(walk(&pcpu), vec![2, 3, 1]);
        // The hash-order-tail-insert fault links at the tail: another order.
        let mut tail = HashOrder::new(true, 4, false);
        for i in [1, 2, 3] {
            tail.update(&k(i), true);
        }
        assert_eq!(walk(&tail), vec![2, 1, 3]);
    }

    /// The hash-next-key-any fault is the old loose model: it admits answers the kernel's
    /// order rules out (so a kernel that misorders would pass it, and not the exact model).
    #[test]
    fn the_loose_fault_admits_what_the_exact_order_refuses() {
        let mut o = HashOrder::new(true, 4, false);
        for i in [1, 3] {
            o.update(&k(i), false);
        }
        // Bucket 3 holds 3 (newest) then 1.
        let exact = o.next_key(None, false);
        let loose = o.next_key(None, true);
        assert_eq!(exact, Allowed::Exactly(Ok(Ret::Key(k(3)))));
        let present = |x: &[u8]| x == k(1) || x == k(3);
        assert!(loose.admits(&Ok(Ret::Key(k(1))), &present));
        assert!(!exact.admits(&Ok(Ret::Key(k(1))), &present));
        assert!(o
            .next_key(Some(&k(3)), true)
            .admits(&Err(Errno::ENOENT), &present));
        assert!(!o
            .next_key(Some(&k(3)), false)
            .admits(&Err(Errno::ENOENT), &present));
        let misordered = [k(1), k(3)];
        assert!(o
            .walk_rule(true)
            .first_refused(misordered.iter().map(Vec::as_slice))
            .is_none());
        assert_eq!(
            o.walk_rule(false)
                .first_refused(misordered.iter().map(Vec::as_slice)),
            Some((0, Some(k(3))))
        );
        // Random seed: a remembered answer is exact; the fault forgets it.
        let mut r = HashOrder::new(false, 4, false);
        r.update(&k(1), false);
        r.update(&k(3), false);
        r.observe(None, Some(&k(1)));
        assert!(!r.next_key(None, false).admits(&Ok(Ret::Key(k(3))), &present));
        assert!(r.next_key(None, true).admits(&Ok(Ret::Key(k(3))), &present));
    }

    /// Through `World`: next_key and check answers are remembered; failed ops and lookups
    /// keep the memory, successful writes clear it; HASH_OF_MAPS has the same order.
    #[test]
    fn the_world_records_answers_and_forgets_them_on_writes() {
        let mut w = World::default();
        let m = FdRef::Handle(Handle::map(0));
        let mut spec = crate::op::MapSpec::new(MapType::Hash, 4, 1, 4);
        w.apply(
            &Op::CreateMap {
                handle: Handle::map(0),
                spec: spec.clone(),
            },
            &Ok(Ret::Fd(Handle::map(0))),
        );
        let upd = |i: u32| Op::Update {
            map: m,
            key: k(i),
            value: Value::Bytes(vec![1]),
            flags: 0,
        };
        for i in [1, 2] {
            w.apply(&upd(i), &Ok(Ret::Unit));
        }
        let links = |w: &World| match &w.map(Handle::map(0)).unwrap().data {
            MapData::Values(v) => v.order().unwrap().links().len(),
            MapData::Fds(_) => unreachable!(),
        };
        let first = Op::GetNextKey { map: m, key: None };
        w.apply(&first, &Ok(Ret::Key(k(2))));
        assert_eq!(w.allowed(&first), Allowed::Exactly(Ok(Ret::Key(k(2)))));
        let missing = Op::GetNextKey {
            map: m,
            key: Some(k(9)),
        };
        assert_eq!(w.allowed(&missing), Allowed::Exactly(Ok(Ret::Key(k(2)))));
        w.apply(&upd(3), &Err(Errno::E2BIG));
        w.apply(
            &Op::Lookup {
                map: m,
                key: k(1),
                input: Vec::new(),
                flags: 0,
            },
            &Ok(Ret::Value(vec![1])),
        );
        assert_eq!(links(&w), 1, "a failed update and a lookup reorder nothing");
        w.apply(&upd(2), &Ok(Ret::Unit));
        assert_eq!(links(&w), 0, "HASH relinks an updated key");
        let check = Op::Check { map: m };
        let state = |walk: &[u32]| MapState {
            key_size: 4,
            value_size: 1,
            keys: [k(1), k(2)].concat(),
            values: vec![1, 1],
            walk: Some(walk.iter().flat_map(|i| k(*i)).collect()),
        };
        let a = w.allowed(&check);
        assert!(w.admits(&check, &a, &Ok(Ret::State(state(&[1, 2])))));
        assert!(w.admits(&check, &a, &Ok(Ret::State(state(&[2, 1])))));
        w.apply(&check, &Ok(Ret::State(state(&[1, 2]))));
        assert_eq!(links(&w), 3);
        let a = w.allowed(&check);
        assert!(
            !w.admits(&check, &a, &Ok(Ret::State(state(&[2, 1])))),
            "the walk must repeat"
        );
        assert!(a
            .explain(&Ok(Ret::State(state(&[2, 1]))))
            .unwrap()
            .contains("step 0"));
        let after = |i: u32| Op::GetNextKey {
            map: m,
            key: Some(k(i)),
        };
        assert_eq!(w.allowed(&after(2)), Allowed::Exactly(Err(Errno::ENOENT)));
        w.apply(&Op::Delete { map: m, key: k(1) }, &Ok(Ret::Unit));
        assert_eq!(links(&w), 0);
        // HASH_OF_MAPS: a slot update relinks only before 6.16.
        for in_place in [true, false] {
            let mut w = World::default();
            w.profile.fd_htab_update_in_place = in_place;
            spec = crate::op::MapSpec::new(MapType::Array, 4, 4, 1);
            w.apply(
                &Op::CreateMap {
                    handle: Handle::map(0),
                    spec: spec.clone(),
                },
                &Ok(Ret::Fd(Handle::map(0))),
            );
            let mut outer = crate::op::MapSpec::new(MapType::HashOfMaps, 4, 4, 4);
            outer.map_flags = ZERO_SEED;
            outer.inner = Some(m);
            let o = FdRef::Handle(Handle::map(1));
            w.apply(
                &Op::CreateMap {
                    handle: Handle::map(1),
                    spec: outer,
                },
                &Ok(Ret::Fd(Handle::map(1))),
            );
            for i in [1, 3, 1] {
                let op = Op::Update {
                    map: o,
                    key: k(i),
                    value: Value::Fd(m),
                    flags: 0,
                };
                assert_eq!(w.allowed(&op), Allowed::Exactly(Ok(Ret::Unit)));
                w.apply(&op, &Ok(Ret::Unit));
            }
            let first = w.allowed(&Op::GetNextKey { map: o, key: None });
            let want = if in_place { 3 } else { 1 };
            assert_eq!(
                first,
                Allowed::Exactly(Ok(Ret::Key(k(want)))),
                "in place: {in_place}"
            );
        }
    }

    /// `htab_map_alloc_check`'s size edges: the element (key, value and the 48-byte
    /// htab_elem) below KMALLOC_MAX_SIZE; before 5.11 a key of at most MAX_BPF_STACK and a
    /// value leaving room for one; a per-CPU value of at most 32768 bytes (8-byte slots).
    #[test]
    fn create_refuses_elements_kmalloc_cannot_serve() {
        let now = Profile::default();
        let old = Profile {
            hash_key_size_lifted: false,
            ..Profile::default()
        };
        let check = |t, key, value, p: &Profile| {
            let s = MapSpec::new(t, key, value, 4);
            alloc_check(&s, p, false).map_err(|e| e.why())
        };
        let max = (4 << 20) - 48; // key + value below this
        assert_eq!(check(MapType::Hash, 4, max - 5, &now), Ok(()));
        assert_eq!(check(MapType::Hash, 4, max - 4, &now), Err(Some(Why::ElemTooBig)));
        assert_eq!(check(MapType::Hash, max - 5, 4, &now), Ok(()));
        assert_eq!(check(MapType::Hash, 1024, 4, &now), Ok(()));
        assert_eq!(check(MapType::Hash, 512, 4, &old), Ok(()));
        assert_eq!(check(MapType::Hash, 513, 4, &old), Err(Some(Why::KeyTooBig)));
        let old_max = (4 << 20) - 512 - 48; // value below this
        assert_eq!(check(MapType::Hash, 4, old_max - 1, &old), Ok(()));
        assert_eq!(check(MapType::Hash, 4, old_max, &old), Err(Some(Why::ElemTooBig)));
        assert_eq!(check(MapType::Hash, 4, old_max, &now), Ok(()));
        assert_eq!(check(MapType::PercpuHash, 4, 32768, &now), Ok(()));
        assert_eq!(
            check(MapType::PercpuHash, 4, 32769, &now),
            Err(Some(Why::PercpuTooBig))
        );
        assert_eq!(check(MapType::Hash, 4, 32769, &now), Ok(()));
    }

    /// A zero-seed batch walks whole buckets from the cursor's, each from its head (the last
    /// key linked), while they fit in what is left of `count`: ENOSPC only when the first
    /// bucket with keys does not fit, ENOENT once the buckets run out, `out_batch` the bucket
    /// it stopped at. With the fault `hash-batch-splits-buckets` a bucket that does not fit
    /// is split. Keys 0 and 8 hash to bucket 0 of 4, 2 to bucket 2, 1, 3 and 13 to bucket 3.
    #[test]
    fn a_zero_seed_batch_walks_whole_buckets() {
        let mut o = HashOrder::new(true, 4, false);
        for i in [0u32, 8, 2, 1, 3, 13] {
            o.update(&i.to_le_bytes(), false);
        }
        let value = |k: &[u8]| vec![k[0]];
        let end = Some(Why::End.errno());
        let space = Some(Why::BatchSpace.errno());
        // (cursor bucket, count, split, keys copied, errno, out_batch)
        type Case = (Option<u32>, u32, bool, &'static [u32], Option<crate::Errno>, u32);
        let cases: [Case; 9] = [
            (None, 10, false, &[8, 0, 2, 13, 3, 1], end, 4),
            (Some(0), 2, false, &[8, 0], None, 2),
            (Some(0), 1, false, &[], space, 0),
            (Some(3), 3, false, &[13, 3, 1], end, 4),
            (Some(2), 3, false, &[2], None, 3),
            (Some(1), 10, false, &[2, 13, 3, 1], end, 4),
            (Some(0), 1, true, &[8], None, 0),
            (Some(3), 3, true, &[13, 3, 1], end, 4),
            (Some(2), 3, true, &[2, 13, 3], None, 3),
        ];
        for (from, max, split, keys, err, out) in cases {
            let cursor = from.map(u32::to_le_bytes);
            let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_le_bytes().to_vec()).collect();
            let want = Batch {
                err,
                count: keys.len() as u32,
                values: keys.iter().map(|k| value(k)).collect(),
                keys,
                out: Some(out.to_le_bytes().to_vec()),
                ids: Vec::new(),
            };
            let got = o.lookup_batch(cursor.as_ref().map(|c| &c[..]), max, &value, split);
            assert_eq!(
                got,
                Allowed::Exactly(Ok(Ret::Batch(want))),
                "{from:?} {max} {split}"
            );
        }
    }

    /// A random-seed batch answer narrows where keys may be: copied ones into the buckets it
    /// walked, the others out of them, and where it stopped short at a bucket that only
    /// room + 1 keys can be in, all of them are there. No empty range is kept.
    #[test]
    fn random_seed_batches_narrow_the_buckets_keys_may_be_in() {
        let k = |i: u32| i.to_le_bytes().to_vec();
        let batch = |keys: &[u32], err: Option<crate::Errno>, out: u32| Batch {
            err,
            count: keys.len() as u32,
            keys: keys.iter().map(|i| k(*i)).collect(),
            values: keys.iter().map(|_| vec![0]).collect(),
            out: Some(out.to_le_bytes().to_vec()),
            ids: Vec::new(),
        };
        let mut o = HashOrder::new(false, 4, false);
        for i in [1, 2, 3] {
            o.update(&k(i), false);
        }
        // From bucket 0, room for one: key 3 alone, stopped at bucket 1, where 1 and 2 may be.
        o.learn_batch(0, 1, &batch(&[3], None, 1));
        assert_eq!(o.may_be_in(&k(3)), vec![(0, 1)]);
        assert_eq!(o.may_be_in(&k(1)), vec![(1, 4)]);
        // From bucket 2, room for one, nothing copied (ENOSPC): bucket 2 holds two keys,
        // and only 1 and 2 can be there (3 is in bucket 0).
        o.learn_batch(2, 1, &batch(&[], Some(Why::BatchSpace.errno()), 2));
        assert_eq!(o.may_be_in(&k(1)), vec![(2, 3)]);
        assert_eq!(o.may_be_in(&k(2)), vec![(2, 3)]);
        assert_eq!(o.may_be_in(&k(3)), vec![(0, 1)]);

        let mut o = HashOrder::new(false, 4, false);
        for i in [1, 2, 3] {
            o.update(&k(i), false);
        }
        // Key 1 in bucket 1; 2 and 3 not (both may be in bucket 2: no pin).
        o.learn_batch(1, 1, &batch(&[1], None, 2));
        assert_eq!(o.may_be_in(&k(2)), vec![(0, 1), (2, 4)]);
        // All three from bucket 1 on: 2 is not in bucket 0.
        o.learn_batch(1, 10, &batch(&[1, 2, 3], Some(Why::End.errno()), 4));
        assert_eq!(o.may_be_in(&k(2)), vec![(2, 4)]);
        assert_eq!(o.may_be_in(&k(1)), vec![(1, 2)]);
    }

    /// An update of a present key leaves the order alone in PERCPU_HASH and LRU_PERCPU_HASH
    /// (`pcpu_copy_value` in place), in HASH_OF_MAPS where the kernel says so; HASH and
    /// LRU_HASH link a new element.
    #[test]
    fn per_cpu_hashes_update_in_place() {
        for (t, in_place) in [
            (MapType::Hash, false),
            (MapType::LruHash, false),
            (MapType::PercpuHash, true),
            (MapType::LruPercpuHash, true),
        ] {
            let s = MapSpec::new(t, 4, 4, 4);
            assert_eq!(HashOrder::of(&s, true).in_place, in_place, "{t:?}");
        }
        let s = MapSpec::new(MapType::HashOfMaps, 4, 4, 4);
        assert!(HashOrder::of(&s, true).in_place && !HashOrder::of(&s, false).in_place);
    }

    /// `htab_map_update_elem` reads the flags without BPF_F_LOCK: LOCK|EXIST is EXIST,
    /// LOCK|NOEXIST is NOEXIST, and a flag value above EXIST is EINVAL with or without it.
    #[test]
    fn update_flags_are_read_without_f_lock() {
        let mut m = HashMap::new(4, 1);
        m.store(&k(1), vec![1], &[]);
        let why = |key: u32, flags| m.update(&k(key), flags, &[]).map_err(|e| e.why());
        assert_eq!(why(2, F_LOCK | EXIST), Err(Some(Why::NoKey)));
        assert_eq!(why(1, F_LOCK | EXIST), Ok(Ret::Unit));
        assert_eq!(why(1, F_LOCK | NOEXIST), Err(Some(Why::Exists)));
        assert_eq!(why(2, F_LOCK | NOEXIST), Ok(Ret::Unit));
        assert_eq!(why(1, F_LOCK), Ok(Ret::Unit));
        assert_eq!(why(1, EXIST), Ok(Ret::Unit));
        assert_eq!(why(1, F_LOCK | 3), Err(Some(Why::Flags)));
        assert_eq!(why(1, 3), Err(Some(Why::Flags)));
    }

    /// LOOKUP_AND_DELETE of a hash came in 5.14 (3e87f192b405): before, ENOTSUPP.
    #[test]
    fn hash_lookup_and_delete_came_in_5_14() {
        let mut m = HashMap::new(4, 1);
        m.store(&k(1), vec![7], &[]);
        let old = Profile {
            hash_lookup_and_delete: false,
            ..Profile::default()
        };
        assert_eq!(
            m.lookup_and_delete(&k(1), &Profile::default()),
            Ok(Ret::Value(vec![7]))
        );
        let e = m.lookup_and_delete(&k(1), &old).unwrap_err();
        assert_eq!(e.why(), Some(Why::OldNoCommand));
    }
}
