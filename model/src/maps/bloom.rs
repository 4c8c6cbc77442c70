//! BLOOM_FILTER (kernel/bpf/bloom_filter.c): UPDATE pushes a value (sets k bits), LOOKUP peeks
//! for the value the buffer holds. A pushed value is always found; a value never pushed may be
//! found too (a false positive), which the model allows until the kernel shows its choice, except
//! under BPF_F_ZERO_SEED, where the model computes the kernel's bitset exactly (jhash, seed 0).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::jhash::{jhash, jhash2};
use crate::maps::{Family, GenHints, ValueMap};
use crate::op::flags::*;
use crate::op::{FdRef, MapSpec, MapType, Op};
use crate::outcome::{Allowed, Outcome, Ret};
use crate::profile::Profile;
use crate::reason::Why;
use std::collections::BTreeSet;

/// `BLOOM_CREATE_FLAG_MASK`: BPF_F_NUMA_NODE, BPF_F_ZERO_SEED and the access flags.
const CREATE_FLAGS: u32 = NUMA_NODE | ZERO_SEED | RDONLY | WRONLY | RDONLY_PROG | WRONLY_PROG;

/// `KMALLOC_MAX_SIZE` on x86_64 (4 MiB).
const KMALLOC_MAX_SIZE: u32 = 1 << 22;

/// BLOOM_FILTER.
pub const FAMILY: Family = Family {
    types: &[MapType::BloomFilter],
    keyless: true,
    map_extra: true,
    alloc_check,
    too_many_entries: |_, _| false,
    alloc_bytes: |s, _| bitset_mask(s.max_entries, hashes(s.map_extra)) as u64 / 8 + 1,
    new: Some(|s, value_len, _, faults| Box::new(Bloom::new(s, value_len, faults))),
    ok_ops: |_| &["create", "update", "lookup", "freeze", "close", "info"],
    batch: crate::maps::no_batch,
    gen: GenHints {
        key_size: Some(|_| 0),
        spec: Some(gen_spec),
        invalidate: Some(|s, r| {
            // map_extra: the number of hash functions, in its low 4 bits.
            r % 22 == 14 && {
                s.map_extra = 0x10 << ((r >> 8) % 60);
                true
            }
        }),
        key: None,
        lookup_input: Some(gen_lookup_input),
    },
};

/// `bloom_map_alloc_check` (E2BIG, from a8d89feba7e5), then `bloom_map_alloc`'s one compound
/// EINVAL (each part its own path here). Root has CAP_BPF, so no EPERM.
fn alloc_check(s: &MapSpec, p: &Profile, _: bool) -> Result<(), Errno> {
    // find_and_alloc_map: no such type before 5.16 (9330986c0300).
    if !p.bloom_filter {
        return Err(Why::UnknownType.errno());
    }
    if p.bloom_value_size_checked && s.value_size > KMALLOC_MAX_SIZE {
        return Err(Why::ValueTooBig.errno());
    }
    if s.key_size != 0 {
        return Err(Why::KeySize.errno());
    }
    if s.value_size == 0 {
        return Err(Why::ValueSize.errno());
    }
    if s.max_entries == 0 {
        return Err(Why::NoEntries.errno());
    }
    if s.map_flags & !CREATE_FLAGS != 0 {
        return Err(Why::Flags.errno());
    }
    // bpf_map_flags_access_ok: not both program-side read-only and write-only.
    if s.map_flags & (RDONLY_PROG | WRONLY_PROG) == RDONLY_PROG | WRONLY_PROG {
        return Err(Why::ProgAccess.errno());
    }
    // "The lower 4 bits of map_extra (0xF) specify the number of hash functions".
    if s.map_extra & !0xf != 0 {
        return Err(Why::HashCount.errno());
    }
    Ok(())
}

/// Generation: mostly few hash functions on a small bitset, so that values never pushed are
/// found now and then; half with seed 0, whose bitset the model computes.
fn gen_spec(s: &mut MapSpec, r: u64) {
    s.map_extra = [0, 1, 1, 2, 3, 5, 15, 1][((r >> 56) % 8) as usize];
    if (r >> 48).is_multiple_of(2) {
        s.map_flags |= ZERO_SEED;
    }
}

/// Generation: a peek for a pushed value (found, always), for one of eight values (asked
/// again and again, so that an answer the kernel chose must repeat), or for any.
fn gen_lookup_input(value_len: usize, pushed: &[u8], sel: u8, r: u64) -> Vec<u8> {
    match (sel % 4, pushed.len() / value_len.max(1)) {
        (0 | 1, n) if n > 0 => {
            let i = r as usize % n;
            pushed[i * value_len..(i + 1) * value_len].to_vec()
        }
        (2, _) => crate::gen::fill(0x5eed_0000 + r % 8, value_len),
        _ => crate::gen::fill(r, value_len),
    }
}

/// `nr_hash_funcs`: map_extra's low bits, 0 meaning 5.
fn hashes(map_extra: u64) -> u32 {
    match map_extra & 0xf {
        0 => 5,
        k => k as u32,
    }
}

/// `bitset_mask` as `bloom_map_alloc` sizes it: about 7/5 bits per entry and hash (the
/// division first, in u32), at least 64, a power of two; 2^32 bits when that overflows.
fn bitset_mask(max_entries: u32, hashes: u32) -> u32 {
    let bits = max_entries
        .checked_mul(hashes)
        .and_then(|b| (b / 5).checked_mul(7))
        .filter(|b| *b <= 1 << 31);
    match bits {
        None => u32::MAX,
        Some(b) if b <= 64 => 63,
        Some(b) => b.next_power_of_two() - 1,
    }
}

/// One bloom filter: what was pushed, what the kernel answered for values never pushed, and
/// under ZERO_SEED the kernel's bitset itself.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bloom {
    /// `value_size`.
    pub value_len: usize,
    /// `nr_hash_funcs`.
    pub hashes: u32,
    /// `bitset_mask`.
    pub mask: u32,
    /// The set bits, where the seed is known (BPF_F_ZERO_SEED); `None` with a random seed.
    pub bits: Option<BTreeSet<u32>>,
    /// Every value pushed: found, always (no path clears a bit but `bloom_map_free`).
    pub pushed: BTreeSet<Vec<u8>>,
    /// Values never pushed that the kernel found (false positives): found from then on.
    pub found: BTreeSet<Vec<u8>>,
    /// Values the kernel did not find since the last push (a push may set their bits).
    pub absent: BTreeSet<Vec<u8>>,
    /// Fault `bloom-no-false-positives`: under ZERO_SEED the model says every value never
    /// pushed is absent.
    pub no_false_positives: bool,
}

impl Bloom {
    fn new(s: &MapSpec, value_len: usize, faults: &[Fault]) -> Bloom {
        let k = hashes(s.map_extra);
        Bloom {
            value_len,
            hashes: k,
            mask: bitset_mask(s.max_entries, k),
            bits: (s.map_flags & ZERO_SEED != 0).then(BTreeSet::new),
            pushed: BTreeSet::new(),
            found: BTreeSet::new(),
            absent: BTreeSet::new(),
            no_false_positives: faults.contains(&Fault::BloomNoFalsePositives),
        }
    }

    /// `hash(bloom, value, value_size, i)` with seed 0: jhash2 over u32 words where the size
    /// is a multiple of 4 (`aligned_u32_count`), else jhash over the bytes.
    fn bit(&self, value: &[u8], i: u32) -> u32 {
        let h = if value.len().is_multiple_of(4) {
            let words: Vec<u32> = value
                .chunks(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            jhash2(&words, i)
        } else {
            jhash(value, i)
        };
        h & self.mask
    }
}

impl ValueMap for Bloom {
    /// LOOKUP without a value to peek for: never asked (the precondition wants one).
    fn lookup(&self, _: &[u8]) -> Outcome {
        Err(Why::NotInFilter.errno())
    }

    /// `bloom_map_peek_elem`: found (0) when all k bits are set, else ENOENT.
    fn lookup_input(&self, _: &[u8], value: &[u8]) -> Allowed {
        let absent = Err(Why::NotInFilter.errno());
        if self.pushed.contains(value) {
            return Allowed::Exactly(Ok(Ret::Unit));
        }
        // Nothing pushed: every bit is clear, whatever the seed.
        if self.pushed.is_empty() {
            return Allowed::Exactly(absent);
        }
        if let Some(bits) = &self.bits {
            let all = (0..self.hashes).all(|i| bits.contains(&self.bit(value, i)));
            return Allowed::Exactly(if all && !self.no_false_positives {
                Ok(Ret::Unit)
            } else {
                absent
            });
        }
        if self.found.contains(value) {
            return Allowed::Exactly(Ok(Ret::Unit));
        }
        if self.absent.contains(value) {
            return Allowed::Exactly(absent);
        }
        Allowed::OneOf(
            vec![Ok(Ret::Unit), absent],
            "bloom filter: a value never pushed may share its bits with pushed ones (random hash seed)",
        )
    }

    /// The kernel's answer for a value never pushed stands until the next push.
    fn observe(&mut self, op: &Op, o: &Outcome) {
        let Op::Lookup { input, .. } = op else { return };
        if self.pushed.contains(input) {
            return;
        }
        match o {
            Ok(_) => {
                self.found.insert(input.clone());
            }
            Err(e) if *e == Errno::ENOENT => {
                self.absent.insert(input.clone());
            }
            Err(_) => {}
        }
    }

    /// `bloom_map_push_elem` (syscall UPDATE): any flag but BPF_ANY is EINVAL; never full.
    fn update(&self, _: &[u8], flags: u64, _: &[Fault]) -> Outcome {
        match flags {
            ANY => Ok(Ret::Unit),
            _ => Err(Why::PushFlags.errno()),
        }
    }

    /// `bloom_map_delete_elem`: EOPNOTSUPP.
    fn delete(&self, _: &[u8], _: &[Fault]) -> Outcome {
        Err(Why::BloomNoDelete.errno())
    }

    /// `bloom_map_get_next_key`: EOPNOTSUPP.
    fn next_key(&self, _: Option<&[u8]>, _: &[Fault]) -> Allowed {
        Allowed::Exactly(Err(Why::BloomNoWalk.errno()))
    }

    /// `map_lookup_and_delete_elem` leaves its ENOTSUPP for every type but queue, stack and
    /// the hashes (`bloom_map_pop_elem` is for programs).
    fn lookup_and_delete(&self, _: &[u8], _: &Profile) -> Outcome {
        Err(Why::NoCommand.errno())
    }

    /// `bpf_map_do_batch`: no batch ops.
    fn state(&self, _: usize, _: bool, _: &[Fault]) -> Allowed {
        Allowed::Exactly(Err(Why::KeylessBatch.errno()))
    }

    /// A push sets the value's k bits.
    fn store(&mut self, _: &[u8], value: Vec<u8>, _: &[Fault]) {
        if let Some(mut bits) = self.bits.take() {
            bits.extend((0..self.hashes).map(|i| self.bit(&value, i)));
            self.bits = Some(bits);
        }
        self.found.remove(&value);
        self.absent.clear();
        self.pushed.insert(value);
    }

    /// Nothing is ever removed.
    fn remove(&mut self, _: &[u8]) {}

    fn value(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }

    /// The pushed values, for generation's peeks (each `value_len` bytes).
    fn first_keys(&self, n: usize, out: &mut Vec<u8>) {
        for v in self.pushed.iter().take(n) {
            out.extend_from_slice(v);
        }
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.pushed.iter().map(|v| (Vec::new(), v.clone())).collect()
    }

    fn is_empty(&self) -> bool {
        self.pushed.is_empty()
    }

    /// Every pushed value peeked once more (no false negatives), where the fd can read.
    fn read_back(&self, map: FdRef, can_read: bool, _: bool) -> Vec<Op> {
        if !can_read {
            return Vec::new();
        }
        self.pushed
            .iter()
            .take(64)
            .map(|v| Op::Lookup {
                map,
                key: Vec::new(),
                input: v.clone(),
                flags: 0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bloom_map_alloc`'s sizing: (100, 5) is 700 bits, rounded to 1024; (1, 5) is 7, at
    /// least 64; the division comes before the multiplication; an overflow is 2^32 bits.
    #[test]
    fn the_bitset_is_sized_as_the_kernel_sizes_it() {
        assert_eq!(bitset_mask(100, 5), 1023);
        assert_eq!(bitset_mask(1, 5), 63);
        assert_eq!(bitset_mask(64, 1), 127); // 64 / 5 * 7 = 84
        assert_eq!(bitset_mask(46, 1), 63); // 46 / 5 * 7 = 63
        assert_eq!(bitset_mask(47, 1), 63); // 47 / 5 * 7 = 63: not 65.8
        assert_eq!(bitset_mask(50, 1), 127); // 70
        assert_eq!(bitset_mask(u32::MAX, 15), u32::MAX);
        assert_eq!(bitset_mask(1 << 28, 8), u32::MAX); // 2^31 / 5 * 7 > 2^31
        assert_eq!(hashes(0), 5);
        assert_eq!(hashes(3), 3);
        // What the allocation charges: the bitset's bytes, (mask + 1) / 8.
        let spec = |n, extra| MapSpec {
            map_extra: extra,
            ..MapSpec::new(MapType::BloomFilter, 0, 4, n)
        };
        assert_eq!((FAMILY.alloc_bytes)(&spec(100, 0), 2), 128);
        assert_eq!((FAMILY.alloc_bytes)(&spec(1, 1), 2), 8);
    }

    /// The invalid create generation draws: one draw in 22 (r % 22 == 14) sets one bit above
    /// map_extra's low four (any of 60, from other bits of r), which alloc_check refuses.
    #[test]
    fn invalid_creates_set_a_high_bit_of_map_extra() {
        let invalidate = FAMILY.gen.invalidate.unwrap();
        let p = Profile::default();
        let mut bits = BTreeSet::new();
        for r in (0..4000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
            let mut s = MapSpec::new(MapType::BloomFilter, 0, 4, 8);
            let hit = invalidate(&mut s, r);
            assert_eq!(hit, r % 22 == 14, "{r:#x}");
            if hit {
                assert_eq!(s.map_extra.count_ones(), 1);
                bits.insert(s.map_extra.trailing_zeros());
                assert_eq!(
                    alloc_check(&s, &p, false).map_err(|e| e.why()),
                    Err(Some(Why::HashCount))
                );
            } else {
                assert_eq!(s.map_extra, 0);
            }
        }
        assert!(
            bits.len() > 30 && bits.iter().all(|b| (4..64).contains(b)),
            "{bits:?}"
        );
    }

    /// BLOOM_CREATE_FLAG_MASK: each of its flags alone is taken, others are EINVAL; the two
    /// program-side access flags together are EINVAL too.
    #[test]
    fn create_takes_the_bloom_flags_only() {
        let p = Profile::default();
        let check = |flags| {
            let s = MapSpec {
                map_flags: flags,
                ..MapSpec::new(MapType::BloomFilter, 0, 4, 8)
            };
            alloc_check(&s, &p, false).map_err(|e| e.why())
        };
        for flag in [NUMA_NODE, ZERO_SEED, RDONLY, WRONLY, RDONLY_PROG, WRONLY_PROG] {
            assert_eq!(check(flag), Ok(()), "{flag:#x}");
        }
        assert_eq!(check(MMAPABLE), Err(Some(Why::Flags)));
        // A value of KMALLOC_MAX_SIZE bytes passes `bloom_map_alloc_check`; one more is E2BIG.
        let value = |n| {
            let s = MapSpec::new(MapType::BloomFilter, 0, n, 8);
            alloc_check(&s, &p, false).map_err(|e| e.why())
        };
        assert!(p.bloom_value_size_checked);
        assert_eq!(value(KMALLOC_MAX_SIZE), Ok(()));
        assert_eq!(value(KMALLOC_MAX_SIZE + 1), Err(Some(Why::ValueTooBig)));
        assert_eq!(check(RDONLY_PROG | WRONLY_PROG), Err(Some(Why::ProgAccess)));
    }

    /// With a random seed a value never pushed may be either; what the kernel answered
    /// stands: found for good (bits are never cleared), absent until the next push.
    #[test]
    fn a_random_seed_answer_stands_until_a_push() {
        let spec = MapSpec::new(MapType::BloomFilter, 0, 4, 8);
        let mut b = Bloom::new(&spec, 4, &[]);
        let (x, y, z) = (vec![1; 4], vec![2; 4], vec![3; 4]);
        let peek = |v: &Vec<u8>| Op::Lookup {
            map: FdRef::Bad(crate::op::BadFd::Closed),
            key: Vec::new(),
            input: v.clone(),
            flags: 0,
        };
        let absent = Err(Why::NotInFilter.errno());
        // Nothing pushed: every bit is clear.
        assert_eq!(b.lookup_input(&[], &x), Allowed::Exactly(absent.clone()));
        b.store(&[], z.clone(), &[]);
        assert!(matches!(b.lookup_input(&[], &x), Allowed::OneOf(..)));
        b.observe(&peek(&x), &Ok(Ret::Unit));
        b.observe(&peek(&y), &absent);
        assert_eq!(b.lookup_input(&[], &x), Allowed::Exactly(Ok(Ret::Unit)));
        assert_eq!(b.lookup_input(&[], &y), Allowed::Exactly(absent.clone()));
        b.store(&[], vec![4; 4], &[]);
        assert_eq!(b.lookup_input(&[], &z), Allowed::Exactly(Ok(Ret::Unit)));
        assert_eq!(b.lookup_input(&[], &x), Allowed::Exactly(Ok(Ret::Unit)));
        assert!(matches!(b.lookup_input(&[], &y), Allowed::OneOf(..)));
    }

    fn zero_seed(value_len: u32, faults: &[Fault]) -> Bloom {
        let s = MapSpec {
            map_flags: ZERO_SEED,
            map_extra: 1,
            ..MapSpec::new(MapType::BloomFilter, 0, value_len, 1)
        };
        Bloom::new(&s, value_len as usize, faults)
    }

    /// Under ZERO_SEED the model answers with the kernel's bits: jhash over the bytes of a
    /// 3-byte value, jhash2 over the words of a 4-byte one (64 bits, one hash function).
    /// Each pair below shares a bit, found though never pushed; 6.18.44 answered the same
    /// (replayed: 44 and f7 found after 00 in the first filter, 1a and e0 in the second, 01
    /// absent in both). The fault `bloom-no-false-positives` finds only what was pushed.
    #[test]
    fn zero_seed_answers_are_the_kernels_bits() {
        let absent = Allowed::Exactly(Err(Why::NotInFilter.errno()));
        let found = Allowed::Exactly(Ok(Ret::Unit));
        for (len, collide) in [(3, [0x44, 0xf7]), (4, [0x1a, 0xe0])] {
            let value = |b: u8| {
                let mut v = vec![0; len as usize];
                v[0] = b;
                v
            };
            for faults in [&[][..], &[Fault::BloomNoFalsePositives]] {
                let mut b = zero_seed(len, faults);
                b.store(&[], value(0), &[]);
                assert_eq!(b.lookup_input(&[], &value(0)), found);
                assert_eq!(b.lookup_input(&[], &value(1)), absent, "{len}");
                let shared = match faults.is_empty() {
                    true => &found,
                    false => &absent,
                };
                for c in collide {
                    assert_eq!(&b.lookup_input(&[], &value(c)), shared, "{len} {c:#x}");
                }
                // 6 of 256 values share the pushed one's bit: about 1 in 64.
                let n = (0..=255)
                    .filter(|c| b.lookup_input(&[], &value(*c)) == found)
                    .count();
                assert_eq!(n, if faults.is_empty() { 6 } else { 1 }, "{len}");
            }
        }
    }

    /// Only the kernel's answers are kept: found (0) or ENOENT; any other refusal says
    /// nothing about the bits. A pushed value is never kept as a false positive.
    #[test]
    fn observe_keeps_found_and_enoent_only() {
        let mut b = Bloom::new(&MapSpec::new(MapType::BloomFilter, 0, 4, 8), 4, &[]);
        b.store(&[], vec![9; 4], &[]);
        let peek = |v: u8| Op::Lookup {
            map: FdRef::Bad(crate::op::BadFd::Closed),
            key: Vec::new(),
            input: vec![v; 4],
            flags: 0,
        };
        b.observe(&peek(1), &Err(Errno::EPERM));
        b.observe(&peek(2), &Err(Errno::EBADF));
        b.observe(&peek(9), &Ok(Ret::Unit));
        assert!(b.absent.is_empty() && b.found.is_empty(), "{b:?}");
        assert!(matches!(b.lookup_input(&[], &[1; 4]), Allowed::OneOf(..)));
    }

    /// Generation: half the filters have the zero seed, and their hash counts are those of
    /// the table (0 meaning 5).
    #[test]
    fn generation_draws_both_seeds() {
        let mut zero = 0;
        let mut extras = BTreeSet::new();
        for i in 0..64u64 {
            let mut s = MapSpec::new(MapType::BloomFilter, 0, 4, 8);
            gen_spec(&mut s, i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            zero += (s.map_flags & ZERO_SEED != 0) as u32;
            extras.insert(s.map_extra);
        }
        assert!((16..48).contains(&zero), "{zero} of 64");
        assert_eq!(extras, BTreeSet::from([0, 1, 2, 3, 5, 15]));
    }

    /// Generation's peeks: selectors 0 and 1 peek a pushed value (the `r % n`th), 2 one of
    /// eight fixed values (so that an answer must repeat), 3 any value; with nothing pushed
    /// 0 and 1 peek any value too. `first_keys` gives generation the pushed values.
    #[test]
    fn generation_peeks_pushed_values_and_eight_fixed_ones() {
        let mut b = Bloom::new(&MapSpec::new(MapType::BloomFilter, 0, 4, 8), 4, &[]);
        for v in [7u8, 3, 5] {
            b.store(&[], vec![v; 4], &[]);
        }
        let mut pushed = Vec::new();
        b.first_keys(8, &mut pushed);
        assert_eq!(pushed, [[3u8; 4], [5; 4], [7; 4]].concat());
        for sel in [0, 1, 4] {
            for r in 0..6u64 {
                let i = r as usize % 3;
                assert_eq!(gen_lookup_input(4, &pushed, sel, r), pushed[i * 4..i * 4 + 4]);
            }
        }
        let draws = || (0..64u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let fixed: BTreeSet<Vec<u8>> = draws().map(|r| gen_lookup_input(4, &pushed, 2, r)).collect();
        let eight: BTreeSet<Vec<u8>> = (0..8).map(|k| crate::gen::fill(0x5eed_0000 + k, 4)).collect();
        assert_eq!(fixed, eight);
        let any: BTreeSet<Vec<u8>> = draws().map(|r| gen_lookup_input(4, &pushed, 3, r)).collect();
        assert!(any.len() > 32 && any.is_disjoint(&eight), "{any:?}");
        assert_eq!(gen_lookup_input(4, &[], 0, 5), crate::gen::fill(5, 4));
    }

    /// A divergence report shows a filter's pushed values, keyless.
    #[test]
    fn the_report_lists_pushed_values() {
        let mut w = crate::world::World::default();
        for line in [
            "m0 = create bloom_filter key=0 value=2 entries=4",
            "update m0 key= value=0102",
            "update m0 key= value=0304",
        ] {
            let (op, _) = crate::text::parse_line(line).unwrap();
            let o = w.allowed(&op).exactly().cloned().unwrap();
            w.apply(&op, &o);
        }
        let line = w.describe(crate::op::Handle::map(0));
        assert!(line.ends_with("2 entries: {:0102, :0304}"), "{line}");
    }

    /// At the end of a case every pushed value is peeked once more (a bloom filter has no
    /// false negatives), 64 at most, and only through an fd that can read.
    #[test]
    fn the_end_of_a_case_peeks_every_pushed_value() {
        let mut b = Bloom::new(&MapSpec::new(MapType::BloomFilter, 0, 1, 100), 1, &[]);
        let map = FdRef::Bad(crate::op::BadFd::Closed);
        assert!(b.read_back(map, true, true).is_empty());
        for v in 0..100u8 {
            b.store(&[], vec![v], &[]);
        }
        let peeks = b.read_back(map, true, false);
        assert_eq!(peeks.len(), 64);
        for (v, op) in peeks.iter().enumerate() {
            let want = Op::Lookup {
                map,
                key: Vec::new(),
                input: vec![v as u8],
                flags: 0,
            };
            assert_eq!(op, &want);
            assert_eq!(b.lookup_input(&[], &[v as u8]), Allowed::Exactly(Ok(Ret::Unit)));
        }
        assert!(b.read_back(map, false, true).is_empty());
    }
}
