//! LPM_TRIE (kernel/bpf/lpm_trie.c): keys are a host-order u32 prefix length and big-endian
//! data bits; a stored prefix is its length and its first `prefixlen` bits (the bytes past them
//! are kept as given and read back by GET_NEXT_KEY). LOOKUP finds the longest stored prefix of
//! the key; GET_NEXT_KEY walks the trie in postorder (more specific first, then bit 0 first).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::{Family, GenHints, ValueMap};
use crate::op::flags::*;
use crate::op::{MapSpec, MapType};
use crate::outcome::{Allowed, MapState, Outcome, Ret, Walk};
use crate::profile::Profile;
use crate::reason::Why;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// `LPM_CREATE_FLAG_MASK`: BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE and the access flags.
const CREATE_FLAGS: u32 = NO_PREALLOC | NUMA_NODE | RDONLY | WRONLY | RDONLY_PROG | WRONLY_PROG;

/// `LPM_VAL_SIZE_MAX`: KMALLOC_MAX_SIZE less LPM_DATA_SIZE_MAX and a node (24 bytes since the
/// 6.13 allocator change; 40 before, which the generator stays clear of).
const VALUE_SIZE_MAX: u32 = (1 << 22) - 256 - 24;

/// LPM_TRIE.
pub const FAMILY: Family = Family {
    types: &[MapType::LpmTrie],
    keyless: false,
    map_extra: false,
    alloc_check: |s, _, _| alloc_check(s),
    too_many_entries: |_, _| false,
    // Nodes are allocated as elements arrive (BPF_F_NO_PREALLOC is required).
    alloc_bytes: |_, _| 0,
    new: Some(|s, value_len, p, faults| Box::new(LpmTrie::new(s, value_len, p, faults))),
    ok_ops: |_| {
        &[
            "create",
            "update",
            "lookup",
            "delete",
            "next_key",
            "freeze",
            "close",
            "info",
            "check",
            "lookup_batch",
            "update_batch",
            "delete_batch",
            "prog_lookup",
            "prog_update",
            "prog_delete",
        ]
    },
    // trie_map_ops: generic lookup, update and delete batches (5.13).
    batch: |_, p, cmd| match cmd {
        _ if !p.lpm_batch => Err(Why::LpmNoBatch),
        "lookup_and_delete_batch" => Err(Why::NoBatchCmd),
        _ => Ok(()),
    },
    gen: GenHints {
        // The prefixlen and 1, 2, 4, 8 or 16 data bytes (IPv4, IPv6).
        key_size: Some(|r| [8, 5, 6, 20, 12, 8][((r >> 16) % 6) as usize]),
        spec: Some(|s, _| s.map_flags |= NO_PREALLOC),
        invalidate: Some(|s, r| {
            if !matches!(r % 22, 20 | 21) {
                return false;
            }
            match (r >> 8) % 3 {
                0 => s.map_flags &= !NO_PREALLOC,
                1 => s.key_size = 4,
                _ => s.key_size = 261,
            }
            true
        }),
        key: Some(gen_key),
        lookup_input: None,
    },
};

/// `trie_alloc`: one compound EINVAL in the kernel, each part its own path here.
fn alloc_check(s: &MapSpec) -> Result<(), Errno> {
    if s.max_entries == 0 {
        return Err(Why::NoEntries.errno());
    }
    if s.map_flags & NO_PREALLOC == 0 {
        return Err(Why::PreallocOnly.errno());
    }
    if s.map_flags & !CREATE_FLAGS != 0 {
        return Err(Why::Flags.errno());
    }
    // bpf_map_flags_access_ok: not both program-side read-only and write-only.
    if s.map_flags & (RDONLY_PROG | WRONLY_PROG) == RDONLY_PROG | WRONLY_PROG {
        return Err(Why::ProgAccess.errno());
    }
    // LPM_KEY_SIZE_MIN/MAX: the 4-byte prefixlen and 1 to 256 data bytes.
    if !(5..=260).contains(&s.key_size) {
        return Err(Why::KeySize.errno());
    }
    if s.value_size == 0 || s.value_size > VALUE_SIZE_MAX {
        return Err(Why::ValueSize.errno());
    }
    Ok(())
}

/// Generation: a prefixlen (mostly up to the maximum, sometimes one or two past it) and data
/// bits from a small space, or a stored key with another prefixlen, so that prefixes nest,
/// share bits and collide.
fn gen_key(ks: usize, stored: &[u8], sel: u16, r: u64) -> Vec<u8> {
    let max = 8 * (ks as u32 - 4);
    let len = match sel % 8 {
        0 => max,
        1 => 0,
        2 => max + 1 + (r >> 40) as u32 % 2,
        3 => max / 2,
        _ => (r >> 32) as u32 % (max + 1),
    };
    let n = stored.len() / ks;
    let mut key = match (sel / 8) % 3 {
        0 if n > 0 => {
            let i = r as usize % n;
            stored[i * ks..(i + 1) * ks].to_vec()
        }
        _ => {
            // Data bytes from {0x00, 0x80, 0xc0, 0xff} and the draw: few distinct prefixes.
            let mut k = vec![0u8; ks];
            for (i, b) in k[4..].iter_mut().enumerate() {
                *b = [0x00, 0x80, 0xc0, 0xff, r as u8][((r >> (2 * (i % 16))) % 5) as usize];
            }
            k
        }
    };
    key[..4].copy_from_slice(&len.to_le_bytes());
    key
}

/// Bit `i` of the key data, most significant bit of each byte first (`extract_bit`).
fn bit(data: &[u8], i: u32) -> u8 {
    (data[i as usize / 8] >> (7 - i % 8)) & 1
}

/// A stored prefix: its length and its data with every bit past the length cleared.
type Prefix = (u32, Vec<u8>);

/// The kernel's postorder (`trie_get_next_key`): where one prefix extends the other the longer
/// comes first; otherwise the first bit they differ in decides, 0 before 1.
/// (Fault `lpm-preorder`: the shorter first.)
fn postorder(a: &Prefix, b: &Prefix, preorder: bool) -> Ordering {
    let common = a.0.min(b.0);
    match (0..common).find(|i| bit(&a.1, *i) != bit(&b.1, *i)) {
        Some(i) => bit(&a.1, i).cmp(&bit(&b.1, i)),
        None if preorder => a.0.cmp(&b.0),
        None => b.0.cmp(&a.0),
    }
}

/// One trie: its prefixes with the key bytes as last written and the value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LpmTrie {
    /// `max_entries`.
    pub max_entries: u32,
    /// `key_size - 4` data bytes, `max_prefixlen` = 8 times that.
    pub data_len: usize,
    /// `value_size`.
    pub value_len: usize,
    /// The stored prefixes: (prefixlen, masked data) → (key bytes as written, value).
    pub nodes: BTreeMap<Prefix, (Vec<u8>, Vec<u8>)>,
    /// Dialect 5.13: the generic batch ops (`check`'s LOOKUP_BATCH).
    pub batch: bool,
    /// Dialect eae6a075e953 (6.13, in stable): BPF_EXIST and BPF_NOEXIST are honoured.
    pub exist_flags: bool,
    /// Dialect 532d6b36b2bf: a full trie still replaces a present prefix (before: ENOSPC).
    pub full_in_place: bool,
    /// Dialect 27abc7b3fa2e: GET_NEXT_KEY of a missing key restarts at the first key.
    pub next_key_exact: bool,
    /// Fault `lpm-preorder`.
    pub preorder: bool,
}

impl LpmTrie {
    fn new(s: &MapSpec, value_len: usize, p: &Profile, faults: &[Fault]) -> LpmTrie {
        LpmTrie {
            max_entries: s.max_entries,
            data_len: s.key_size as usize - 4,
            value_len,
            nodes: BTreeMap::new(),
            batch: p.lpm_batch,
            exist_flags: p.lpm_exist_flags,
            full_in_place: p.lpm_full_in_place,
            next_key_exact: p.lpm_next_key_exact,
            preorder: faults.contains(&Fault::LpmPreorder),
        }
    }

    fn max_prefixlen(&self) -> u32 {
        8 * self.data_len as u32
    }

    /// A key's prefix length and data (the precondition makes keys `4 + data_len` bytes).
    fn split<'k>(&self, key: &'k [u8]) -> (u32, &'k [u8]) {
        (u32::from_le_bytes([key[0], key[1], key[2], key[3]]), &key[4..])
    }

    /// The stored prefix a key names: its length and its bits up to that length.
    fn prefix(&self, len: u32, data: &[u8]) -> Prefix {
        let mut d = data.to_vec();
        for i in len..self.max_prefixlen() {
            d[i as usize / 8] &= !(0x80 >> (i % 8));
        }
        (len, d)
    }

    /// The stored prefixes in GET_NEXT_KEY order.
    fn walk(&self) -> Vec<&Prefix> {
        let mut v: Vec<&Prefix> = self.nodes.keys().collect();
        v.sort_by(|a, b| postorder(a, b, self.preorder));
        v
    }
}

impl ValueMap for LpmTrie {
    /// `trie_lookup_elem`: the longest stored prefix of the key (no longer than its
    /// prefixlen); a prefixlen above the maximum finds nothing (ENOENT, not EINVAL).
    fn lookup(&self, key: &[u8]) -> Outcome {
        let (len, data) = self.split(key);
        if len > self.max_prefixlen() {
            return Err(Why::PrefixLenMiss.errno());
        }
        (0..=len)
            .rev()
            .find_map(|l| self.nodes.get(&self.prefix(l, data)))
            .map(|(_, v)| Ret::Value(v.clone()))
            .ok_or(Why::NoKey.errno())
    }

    /// `trie_update_elem`, in its three dialects: flags, prefixlen, then (before 532d6b36)
    /// ENOSPC for any update of a full trie, the EXIST/NOEXIST checks (from eae6a075), and
    /// ENOSPC for a new prefix in a full trie (`trie_check_add_elem`).
    fn update(&self, key: &[u8], flags: u64, _: &[Fault]) -> Outcome {
        if flags > EXIST {
            return Err(Why::Flags.errno());
        }
        let (len, data) = self.split(key);
        if len > self.max_prefixlen() {
            return Err(Why::PrefixLen.errno());
        }
        let full = self.nodes.len() >= self.max_entries as usize;
        if full && !self.full_in_place {
            return Err(Why::TrieFull.errno());
        }
        let present = self.nodes.contains_key(&self.prefix(len, data));
        if self.exist_flags && present && flags == NOEXIST {
            return Err(Why::Exists.errno());
        }
        if self.exist_flags && !present && flags == EXIST {
            return Err(Why::NoKey.errno());
        }
        if full && !present {
            return Err(Why::TrieFull.errno());
        }
        Ok(Ret::Unit)
    }

    /// `trie_delete_elem`: a prefixlen above the maximum is EINVAL, a prefix not stored
    /// (intermediate nodes are not) ENOENT.
    fn delete(&self, key: &[u8], _: &[Fault]) -> Outcome {
        let (len, data) = self.split(key);
        if len > self.max_prefixlen() {
            return Err(Why::PrefixLen.errno());
        }
        match self.nodes.contains_key(&self.prefix(len, data)) {
            true => Ok(Ret::Unit),
            false => Err(Why::NoKey.errno()),
        }
    }

    /// `trie_get_next_key`: empty is ENOENT even from NULL; NULL, an over-long prefixlen or
    /// (from 27abc7b3) a key not stored start at the first key; a stored one goes on to the
    /// next in postorder. Before 27abc7b3 the search also stopped at a stored prefix of the
    /// same length with other bits, going on from it: the model allows any such one.
    fn next_key(&self, key: Option<&[u8]>, _: &[Fault]) -> Allowed {
        let walk = self.walk();
        let bytes = |p: &Prefix| Ret::Key(self.nodes[p].0.clone());
        let Some(first) = walk.first() else {
            return Allowed::Exactly(Err(Why::End.errno()));
        };
        let after = |i: usize| walk.get(i + 1).map(|p| bytes(p)).ok_or(Why::End.errno());
        let Some((len, data)) = key
            .map(|k| self.split(k))
            .filter(|(l, _)| *l <= self.max_prefixlen())
        else {
            return Allowed::Exactly(Ok(bytes(first)));
        };
        let p = self.prefix(len, data);
        if let Some(i) = walk.iter().position(|q| **q == p) {
            return Allowed::Exactly(after(i));
        }
        if self.next_key_exact {
            return Allowed::Exactly(Ok(bytes(first)));
        }
        let mut v = vec![Ok(bytes(first))];
        for i in (0..walk.len()).filter(|i| walk[*i].0 == len) {
            if !v.contains(&after(i)) {
                v.push(after(i));
            }
        }
        Allowed::OneOf(
            v,
            "lpm trie before 27abc7b3: the search may stop at a prefix of the same length",
        )
    }

    /// `map_lookup_and_delete_elem` keeps its ENOTSUPP: `trie_map_ops` has none.
    fn lookup_and_delete(&self, _: &[u8], _: &Profile) -> Outcome {
        Err(Why::NoCommand.errno())
    }

    /// `generic_map_lookup_batch` over GET_NEXT_KEY: every stored key as last written, in
    /// postorder (before 5.13 no batch ops: ENOTSUPP).
    fn state(&self, key_size: usize, ids: bool, _: &[Fault]) -> Allowed {
        if !self.batch {
            return Allowed::Exactly(Err(Why::LpmNoBatch.errno()));
        }
        let mut st = MapState {
            key_size,
            value_size: self.value_len,
            ..Default::default()
        };
        let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = self.nodes.values().collect();
        sorted.sort();
        for (k, v) in sorted {
            st.keys.extend_from_slice(k);
            st.values.extend_from_slice(&crate::outcome::cell_if(ids, v));
        }
        let order = self.walk().into_iter().map(|p| self.nodes[p].0.clone()).collect();
        Allowed::State(st, Walk::Exact(order))
    }

    /// An update answered ok: a new prefix, or the present one with the key bytes and value
    /// replaced (`memcpy(new_node->data, key->data, ...)`).
    fn store(&mut self, key: &[u8], value: Vec<u8>, _: &[Fault]) {
        let (len, data) = self.split(key);
        let p = self.prefix(len, data);
        self.nodes.insert(p, (key.to_vec(), value));
    }

    fn remove(&mut self, key: &[u8]) {
        let (len, data) = self.split(key);
        let p = self.prefix(len, data);
        self.nodes.remove(&p);
    }

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (len, data) = self.split(key);
        self.nodes.get(&self.prefix(len, data)).map(|(_, v)| v.clone())
    }

    fn has_key(&self, key: &[u8]) -> bool {
        self.value(key).is_some()
    }

    fn first_keys(&self, n: usize, out: &mut Vec<u8>) {
        for (k, _) in self.nodes.values().take(n) {
            out.extend_from_slice(k);
        }
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.nodes.values().cloned().collect()
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(len: u32, data: [u8; 4]) -> Vec<u8> {
        let mut k = len.to_le_bytes().to_vec();
        k.extend_from_slice(&data);
        k
    }

    /// The order of the kernel's own comment and of `test_lpm_get_next_key`: 192.168.0.0/24,
    /// 192.168.1.128/28, 192.168.1.0/24, 192.168.128.0/24, 192.168.0.0/16.
    #[test]
    fn next_key_walks_in_the_kernels_postorder() {
        let mut t = LpmTrie::new(
            &MapSpec::new(MapType::LpmTrie, 8, 4, 100),
            4,
            &Profile::default(),
            &[],
        );
        let keys = [
            key(16, [192, 168, 0, 0]),
            key(24, [192, 168, 128, 0]),
            key(24, [192, 168, 0, 0]),
            key(24, [192, 168, 1, 0]),
            key(28, [192, 168, 1, 128]),
        ];
        for (i, k) in keys.iter().enumerate() {
            t.store(k, vec![i as u8; 4], &[]);
        }
        let mut seen = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        while let Allowed::Exactly(Ok(Ret::Key(k))) = t.next_key(cur.as_deref(), &[]) {
            seen.push(k.clone());
            cur = Some(k);
        }
        let want: Vec<Vec<u8>> = [2, 4, 3, 1, 0].iter().map(|i| keys[*i].clone()).collect();
        assert_eq!(seen, want);
        // A missing key starts over (27abc7b3): 192.168.1.0/22.
        assert_eq!(
            t.next_key(Some(&key(22, [192, 168, 1, 0])), &[]),
            Allowed::Exactly(Ok(Ret::Key(keys[2].clone())))
        );
        // The longest stored prefix: 192.168.1.130 is in 1.128/28 (value 4), 1.1 in 1.0/24
        // (3), 0.1 in 0.0/24 (2), 200.1 only in the /16 (0); 10.0.0.1 in none.
        for (addr, v) in [
            ([192, 168, 1, 130], 4),
            ([192, 168, 1, 1], 3),
            ([192, 168, 0, 1], 2),
            ([192, 168, 200, 1], 0),
        ] {
            assert_eq!(t.lookup(&key(32, addr)), Ok(Ret::Value(vec![v; 4])), "{addr:?}");
        }
        assert_eq!(t.lookup(&key(32, [10, 0, 0, 1])), Err(Why::NoKey.errno()));
        // A prefixlen up to the key's only: 192.168.1.130/24 finds the /24, not the /28.
        assert_eq!(t.lookup(&key(24, [192, 168, 1, 130])), Ok(Ret::Value(vec![3; 4])));
    }

    /// Before 27abc7b3 a missing key's GET_NEXT_KEY may go on from a stored prefix of the same
    /// length: the model allows the first key or such a successor, and nothing else (any
    /// other key the kernel returned would be caught).
    #[test]
    fn the_old_next_key_set_is_the_restart_or_a_same_length_successor() {
        let old = Profile {
            lpm_next_key_exact: false,
            ..Profile::default()
        };
        let mut t = LpmTrie::new(&MapSpec::new(MapType::LpmTrie, 8, 4, 100), 4, &old, &[]);
        // Postorder: 10.0.0.0/24, 10.0.0.0/16, 192.168.0.0/16, 192.168.0.0/8 (as 192/8).
        let keys = [
            key(16, [10, 0, 0, 0]),
            key(24, [10, 0, 0, 0]),
            key(16, [192, 168, 0, 0]),
            key(8, [192, 0, 0, 0]),
        ];
        for k in &keys {
            t.store(k, vec![0; 4], &[]);
        }
        let k = |i: usize| Ok(Ret::Key(keys[i].clone()));
        // 172.16.0.0/16 is missing; the /16s are 10.0/16 (then 192.168/16) and 192.168/16
        // (then 192/8).
        let Allowed::OneOf(v, _) = t.next_key(Some(&key(16, [172, 16, 0, 0])), &[]) else {
            panic!("a set")
        };
        assert_eq!(v, vec![k(1), k(2), k(3)]);
        // A stored key is exact in either dialect.
        assert_eq!(t.next_key(Some(&keys[0]), &[]), Allowed::Exactly(k(2)));
    }

    /// `trie_alloc`: BPF_F_NO_PREALLOC is required, each other flag of LPM_CREATE_FLAG_MASK
    /// is taken with it; a value of LPM_VAL_SIZE_MAX bytes (4194024 since 6.13) is taken,
    /// one more is EINVAL (6.18.44 answered the same, replayed).
    #[test]
    fn create_takes_the_lpm_flags_and_value_sizes() {
        let check = |flags, value| {
            let s = MapSpec {
                map_flags: flags,
                ..MapSpec::new(MapType::LpmTrie, 8, value, 1)
            };
            alloc_check(&s).map_err(|e| e.why())
        };
        for flag in [0, NUMA_NODE, RDONLY, WRONLY, RDONLY_PROG, WRONLY_PROG] {
            assert_eq!(check(NO_PREALLOC | flag, 4), Ok(()), "{flag:#x}");
        }
        assert_eq!(check(0, 4), Err(Some(Why::PreallocOnly)));
        assert_eq!(check(NO_PREALLOC | ZERO_SEED, 4), Err(Some(Why::Flags)));
        let both = NO_PREALLOC | RDONLY_PROG | WRONLY_PROG;
        assert_eq!(check(both, 4), Err(Some(Why::ProgAccess)));
        assert_eq!(check(NO_PREALLOC, 4_194_024), Ok(()));
        assert_eq!(check(NO_PREALLOC, 4_194_025), Err(Some(Why::ValueSize)));
    }

    /// trie_map_ops has the generic lookup, update and delete batches from 5.13 on, never
    /// LOOKUP_AND_DELETE_BATCH.
    #[test]
    fn lpm_batches_came_in_5_13() {
        let old = Profile {
            lpm_batch: false,
            ..Profile::default()
        };
        for cmd in [
            "lookup_batch",
            "update_batch",
            "delete_batch",
            "lookup_and_delete_batch",
        ] {
            let now = (FAMILY.batch)(MapType::LpmTrie, &Profile::default(), cmd);
            let want = match cmd {
                "lookup_and_delete_batch" => Err(Why::NoBatchCmd),
                _ => Ok(()),
            };
            assert_eq!(now, want, "{cmd}");
            assert_eq!((FAMILY.batch)(MapType::LpmTrie, &old, cmd), Err(Why::LpmNoBatch));
        }
    }

    /// Generation draws every key size (IPv4 and IPv6 among them), and one create in 11
    /// (r % 22 of 20 or 21) invalid in one of three ways, each refused by `trie_alloc`.
    #[test]
    fn generation_draws_key_sizes_and_invalid_creates() {
        let draws = (0..2000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let sizes: std::collections::BTreeSet<u32> =
            draws.clone().map(FAMILY.gen.key_size.unwrap()).collect();
        assert_eq!(sizes, [5, 6, 8, 12, 20].into());
        let invalidate = FAMILY.gen.invalidate.unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for r in draws {
            let mut s = MapSpec::new(MapType::LpmTrie, 8, 4, 4);
            s.map_flags = NO_PREALLOC;
            let hit = invalidate(&mut s, r);
            assert_eq!(hit, matches!(r % 22, 20 | 21), "{r:#x}");
            if hit {
                let why = alloc_check(&s).map_err(|e| e.why()).unwrap_err();
                kinds.insert((why, s.key_size));
            } else {
                assert_eq!(alloc_check(&s), Ok(()));
            }
        }
        let want = [
            (Some(Why::PreallocOnly), 8),
            (Some(Why::KeySize), 4),
            (Some(Why::KeySize), 261),
        ];
        assert_eq!(kinds, want.into());
    }

    /// Generation's keys (4-byte data, so prefixlens up to 32): selector 0 the maximum, 1
    /// zero, 2 one or two past it, 3 half, others any of 0..=32; with selector / 8 % 3 == 0
    /// a stored key's data (the r % n-th), else data bytes drawn from {00, 80, c0, ff, r}
    /// by bits 2i.. of r.
    #[test]
    fn generation_draws_prefixlens_and_data_that_collide() {
        let draws = || (0..2000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let len = |k: &[u8]| u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
        let lens = |sel: u16| -> std::collections::BTreeSet<u32> {
            draws().map(|r| len(&gen_key(8, &[], sel, r))).collect()
        };
        assert_eq!(lens(0), [32].into());
        assert_eq!(lens(1), [0].into());
        assert_eq!(lens(2), [33, 34].into());
        assert_eq!(lens(3), [16].into());
        for sel in 4..8 {
            assert_eq!(lens(sel), (0..=32).collect(), "{sel}");
        }
        let stored = [key(8, [1, 1, 1, 1]), key(8, [2, 2, 2, 2]), key(8, [3, 3, 3, 3])].concat();
        for r in 0..6u64 {
            let i = r as usize % 3 + 1;
            assert_eq!(gen_key(8, &stored, 3, r), key(16, [i as u8; 4]), "{r}");
        }
        for sel in [8 + 3, 16 + 3] {
            assert_eq!(gen_key(8, &stored, sel, 16), key(16, [0x80, 0x10, 0x80, 0x00]));
        }
        assert_eq!(gen_key(8, &[], 3, 16), key(16, [0x80, 0x10, 0x80, 0x00]));
        let r = 0x0123_4567_89ab_cdef;
        assert_eq!(gen_key(8, &[], 3, r), key(16, [0x00, 0xff, 0x00, 0xc0]));
    }

    fn trie(entries: u32, p: &Profile) -> LpmTrie {
        LpmTrie::new(&MapSpec::new(MapType::LpmTrie, 8, 1, entries), 1, p, &[])
    }

    /// `trie_update_elem` in its dialects: flags above BPF_EXIST are EINVAL, a prefixlen
    /// above 32 EINVAL; from eae6a075 NOEXIST of a present prefix is EEXIST and EXIST of a
    /// missing one ENOENT (before, both are plain updates); a full trie refuses a new prefix
    /// (ENOSPC), and before 532d6b36 any update at all.
    #[test]
    fn updates_follow_the_flag_and_full_trie_dialects() {
        let now = Profile::default();
        let old = Profile {
            lpm_exist_flags: false,
            lpm_full_in_place: false,
            ..Profile::default()
        };
        let a = key(32, [10, 0, 0, 1]);
        let b = key(24, [10, 0, 1, 0]);
        for p in [&now, &old] {
            let mut t = trie(2, p);
            let why = |t: &LpmTrie, k: &[u8], flags| t.update(k, flags, &[]).map_err(|e| e.why());
            assert_eq!(why(&t, &a, 3), Err(Some(Why::Flags)));
            assert_eq!(why(&t, &key(33, [10, 0, 0, 1]), ANY), Err(Some(Why::PrefixLen)));
            assert_eq!(why(&t, &a, NOEXIST), Ok(Ret::Unit));
            t.store(&a, vec![1], &[]);
            let (exists, missing) = match p.lpm_exist_flags {
                true => (Err(Some(Why::Exists)), Err(Some(Why::NoKey))),
                false => (Ok(Ret::Unit), Ok(Ret::Unit)),
            };
            assert_eq!(why(&t, &a, NOEXIST), exists);
            assert_eq!(why(&t, &a, EXIST), Ok(Ret::Unit));
            assert_eq!(why(&t, &a, ANY), Ok(Ret::Unit));
            assert_eq!(why(&t, &b, EXIST), missing);
            t.store(&b, vec![2], &[]);
            // Full: a new prefix is ENOSPC; the present one is replaced, from 532d6b36.
            assert_eq!(why(&t, &key(8, [10, 0, 0, 0]), ANY), Err(Some(Why::TrieFull)));
            let present = match p.lpm_full_in_place {
                true => Ok(Ret::Unit),
                false => Err(Some(Why::TrieFull)),
            };
            assert_eq!(why(&t, &a, ANY), present);
        }
    }

    /// `trie_delete_elem`: a stored prefix of any length up to 32 goes; a prefixlen above is
    /// EINVAL, a prefix not stored ENOENT; what was deleted is not found again.
    #[test]
    fn deletes_remove_stored_prefixes_only() {
        let mut t = trie(4, &Profile::default());
        let (a, b) = (key(32, [10, 0, 0, 1]), key(8, [10, 9, 9, 9]));
        t.store(&a, vec![1], &[]);
        t.store(&b, vec![2], &[]);
        let why = |t: &LpmTrie, k: &[u8]| t.delete(k, &[]).map_err(|e| e.why());
        assert_eq!(why(&t, &a), Ok(Ret::Unit));
        assert_eq!(why(&t, &b), Ok(Ret::Unit));
        assert_eq!(why(&t, &key(33, [10, 0, 0, 1])), Err(Some(Why::PrefixLen)));
        assert_eq!(why(&t, &key(16, [10, 0, 0, 1])), Err(Some(Why::NoKey)));
        t.remove(&a);
        assert_eq!(why(&t, &a), Err(Some(Why::NoKey)));
        assert_eq!(t.lookup(&a).map_err(|e| e.why()), Ok(Ret::Value(vec![2])));
    }

    /// `check` dumps a trie with LOOKUP_BATCH (5.13): every key as last written with its
    /// value, walked in postorder; before 5.13 ENOTSUPP. A divergence report lists the same
    /// pairs, by prefix length.
    #[test]
    fn the_state_is_every_key_as_written() {
        let mut t = trie(4, &Profile::default());
        let (a, b) = (key(8, [10, 7, 7, 7]), key(32, [10, 0, 0, 1]));
        t.store(&a, vec![1], &[]);
        t.store(&b, vec![2], &[]);
        let Allowed::State(st, Walk::Exact(order)) = t.state(8, false, &[]) else {
            panic!("{:?}", t.state(8, false, &[]))
        };
        assert_eq!((st.key_size, st.value_size), (8, 1));
        assert_eq!(st.keys, [a.clone(), b.clone()].concat());
        assert_eq!(st.values, vec![1, 2]);
        assert_eq!(order, vec![b.clone(), a.clone()]);
        assert_eq!(t.entries(), vec![(a, vec![1]), (b, vec![2])]);
        t.batch = false;
        assert_eq!(
            t.state(8, false, &[]),
            Allowed::Exactly(Err(Why::LpmNoBatch.errno()))
        );
    }
}
