//! Batch commands: what each arm of `View::batch_op` draws.

use super::*;

/// The present keys of the hash in `batch_state`: far from the small indices and edges the
/// usual key draw gives a 16-entry map, so a drawn key that is one of them came from the
/// present-key arm.
const PRESENT: [u64; 4] = [1000, 1001, 1002, 1003];

/// An 8-byte LPM key (prefixlen, then the address).
fn lpm_key(len: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut k = len.to_le_bytes().to_vec();
    k.extend_from_slice(&addr);
    k
}

/// The present keys of the LPM trie in `batch_state`: a prefixlen (17) and address bytes
/// that the trie's own key draw does not make up, so a cursor equal to one of them came from
/// the present-key arm.
fn lpm_present() -> Vec<Vec<u8>> {
    (1..=4u8).map(|i| lpm_key(17, [10, i, 2, 3])).collect()
}

/// m0: a 16-entry hash with 8-byte keys (so a bucket index and a key differ in length) and
/// the `PRESENT` keys; m1: a 16-entry array (key cursors, no present keys); m2: a 16-entry LPM
/// trie with the `lpm_present` keys (key cursors with present keys); m3 and m4: hashes of
/// `BATCH_MAX_ENTRIES` entries and one more.
fn batch_state() -> GenState {
    let mut state = gen_state(World::default(), GenConfig::default());
    let mut lpm = MapSpec::new(MapType::LpmTrie, 8, 8, 16);
    lpm.map_flags = NO_PREALLOC;
    open_maps(
        &mut state.world,
        0,
        [
            MapSpec::new(MapType::Hash, 8, 8, 16),
            MapSpec::new(MapType::Array, 4, 8, 16),
            lpm,
            MapSpec::new(MapType::Hash, 4, 8, BATCH_MAX_ENTRIES),
            MapSpec::new(MapType::Hash, 4, 8, BATCH_MAX_ENTRIES + 1),
        ],
    );
    let writes = PRESENT
        .iter()
        .map(|k| (0, fill_index(*k, 8)))
        .chain(lpm_present().into_iter().map(|k| (2, k)));
    for (m, key) in writes {
        let up = Op::Update {
            map: FdRef::Handle(Handle::map(m)),
            key,
            value: Value::Bytes(vec![1; 8]),
            flags: 0,
        };
        advance(&mut state.world, &up);
    }
    state
}

/// The batch ops drawn on map `m` of the view over the grid.
fn batches(v: &View, m: usize) -> Vec<Op> {
    let map = FdRef::Handle(v.maps[m].handle);
    grid().map(|c| v.batch_op(&v.maps[m], map, &c)).collect()
}

/// Percent of `ops` for which `f` holds.
fn share(ops: &[Op], f: &dyn Fn(&Op) -> bool) -> usize {
    ops.iter().filter(|o| f(o)).count() * 100 / ops.len()
}

/// The u32 a 4-byte cursor or key holds.
fn u32_of(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().unwrap())
}

/// Batches are drawn for maps of up to `BATCH_MAX_ENTRIES` entries, that one included; on a
/// larger one (a scale run's) the model would copy or walk the whole map per batch, so the
/// draw is a plain LOOKUP of a key drawn like any key instead.
#[test]
fn batches_stop_at_the_largest_map_they_are_drawn_for() {
    let state = batch_state();
    let v = View::of(&state);
    let (m3, m4) = (&v.maps[3], &v.maps[4]);
    assert_eq!(m3.spec.max_entries, BATCH_MAX_ENTRIES);
    let largest = batches(&v, 3);
    assert!(
        largest.iter().all(|o| o.kind().contains("batch")),
        "a {BATCH_MAX_ENTRIES}-entry map drew {:?}",
        largest.iter().find(|o| !o.kind().contains("batch"))
    );
    for c in grid() {
        let map = FdRef::Handle(m4.handle);
        let expected = Op::Lookup {
            map,
            key: v.key(m4, &c),
            input: Vec::new(),
            flags: 0,
        };
        assert_eq!(v.batch_op(m4, map, &c), expected, "{c:?}");
    }
}

/// The command: lookups (3 in 8), LOOKUP_AND_DELETE (1 in 8), updates and deletes (2 in 8
/// each); updates and deletes of 0 to 4 elements, each length about as often. The flags,
/// value by value of `fs % 16` (and `fs / 16` within): F_LOCK, then NOEXIST, EXIST or an
/// unknown bit as `elem_flags`, a non-zero `flags` (which the command refuses), else none.
#[test]
fn batch_commands_lengths_and_flags_follow_their_arms() {
    let state = batch_state();
    let v = View::of(&state);
    let ops = batches(&v, 0);
    let lookups = share(&ops, &|o| matches!(o, Op::LookupBatch { delete: false, .. }));
    let and_delete = share(&ops, &|o| matches!(o, Op::LookupBatch { delete: true, .. }));
    let updates = share(&ops, &|o| matches!(o, Op::UpdateBatch { .. }));
    let deletes = share(&ops, &|o| matches!(o, Op::DeleteBatch { .. }));
    assert!(
        (31..44).contains(&lookups)
            && (8..17).contains(&and_delete)
            && (19..31).contains(&updates)
            && (19..31).contains(&deletes),
        "lookup {lookups}%, lookup_and_delete {and_delete}%, update {updates}%, delete {deletes}%"
    );
    let mut lengths = [0usize; 5];
    for o in &ops {
        match o {
            Op::UpdateBatch { keys, values, .. } => {
                assert_eq!(keys.len(), values.len(), "{o:?}");
                lengths[keys.len()] += 1;
            }
            Op::DeleteBatch { keys, .. } => lengths[keys.len()] += 1,
            _ => {}
        }
    }
    let writes: usize = lengths.iter().sum();
    assert!(
        lengths.iter().all(|n| (12..28).contains(&(n * 100 / writes))),
        "batch lengths 0..=4: {lengths:?}"
    );
    // kr = 0: a lookup batch from NULL; fs alone decides the flags.
    let flags = |fs: u8| {
        let c = Choice {
            t: 0,
            k: 0,
            ks: 0,
            kr: 0,
            vs: 0,
            fs,
        };
        match v.batch_op(&v.maps[0], FdRef::Handle(v.maps[0].handle), &c) {
            Op::LookupBatch {
                elem_flags, flags, ..
            } => (elem_flags, flags),
            o => panic!("kr = 0 drew {o:?}"),
        }
    };
    assert_eq!(flags(0), (F_LOCK, 0));
    assert_eq!(flags(1), (NOEXIST, 0));
    assert_eq!(flags(16 + 1), (EXIST, 0));
    assert_eq!(flags(32 + 1), (1 << 5, 0));
    assert_eq!(flags(48 + 1), (NOEXIST, 0));
    assert_eq!(flags(2), (0, 1));
    assert_eq!(flags(16 + 2), (0, 1));
    assert_eq!(flags(3), (0, 0));
    assert_eq!(flags(16), (F_LOCK, 0));
    assert_eq!(flags(15), (0, 0));
}

/// Lookup batches start from NULL half the time, else from a cursor of the kind the map
/// walks by: on a hash the u32 bucket index the kernel reads, every one from 0 to the end
/// (`n_buckets`) and one past it; on a key-walked map a key drawn like any key (the last
/// index, one past the end, far past it), or on one with present keys often a present key,
/// every one of them, whole.
#[test]
fn lookup_batch_cursors_are_buckets_or_keys() {
    let state = batch_state();
    let v = View::of(&state);
    let cursors = |m: usize| -> Vec<Option<Vec<u8>>> {
        batches(&v, m)
            .into_iter()
            .filter_map(|o| match o {
                Op::LookupBatch { cursor, .. } => Some(cursor),
                _ => None,
            })
            .collect()
    };
    let null = |cs: &[Option<Vec<u8>>]| cs.iter().filter(|c| c.is_none()).count() * 100 / cs.len();
    // The hash: 16 entries, 16 buckets.
    let hash = cursors(0);
    assert!(
        (42..58).contains(&null(&hash)),
        "hash NULL cursors: {}%",
        null(&hash)
    );
    let buckets: std::collections::BTreeSet<u32> = hash
        .iter()
        .flatten()
        .map(|c| {
            assert_eq!(c.len(), 4, "a hash cursor not a bucket index: {c:?}");
            u32_of(c)
        })
        .collect();
    assert_eq!(buckets, (0..18).collect(), "hash bucket cursors");
    // The array: keys from the usual draw, edges and a raw 64-bit index included.
    let array = cursors(1);
    assert!(
        (42..58).contains(&null(&array)),
        "array NULL cursors: {}%",
        null(&array)
    );
    let keys: Vec<u32> = array.iter().flatten().map(|c| u32_of(c)).collect();
    assert!(array.iter().flatten().all(|c| c.len() == 4));
    for (what, reached) in [
        ("the last index", keys.contains(&15)),
        ("one past the end", keys.contains(&16)),
        ("far past the end", keys.iter().any(|k| *k >= 64)),
    ] {
        assert!(reached, "no array cursor at {what}: {keys:?}");
    }
    // The LPM trie: about half the non-NULL cursors are its present keys.
    let lpm = cursors(2);
    let present = lpm_present();
    let at_present: Vec<&Vec<u8>> = lpm.iter().flatten().filter(|c| present.contains(c)).collect();
    let pct = at_present.len() * 100 / lpm.len();
    assert!((18..33).contains(&pct), "{pct}% LPM cursors at a present key");
    for k in &present {
        assert!(at_present.contains(&k), "no LPM cursor at present key {k:?}");
    }
    assert!(
        lpm.iter().flatten().all(|c| c.len() == 8),
        "LPM cursors not whole keys"
    );
}

/// Counts: 0 (1 in 8), the map's max_entries (1 in 8), 1 to 8 (3 in 8), and 3 in 8 small: on
/// a hash 1 (a bucket of two does not fit, one of one stops short), elsewhere 1 to 4.
#[test]
fn lookup_batch_counts_follow_their_arms() {
    let state = batch_state();
    let v = View::of(&state);
    let counts = |m: usize| -> Vec<u32> {
        batches(&v, m)
            .into_iter()
            .filter_map(|o| match o {
                Op::LookupBatch { count, .. } => Some(count),
                _ => None,
            })
            .collect()
    };
    let pct = |cs: &[u32], f: &dyn Fn(u32) -> bool| cs.iter().filter(|c| f(**c)).count() * 100 / cs.len();
    for m in [0, 1] {
        let cs = counts(m);
        let reached: std::collections::BTreeSet<u32> = cs.iter().copied().collect();
        assert_eq!(reached, (0..=8).chain([16]).collect(), "m{m} counts");
        let (zero, all) = (pct(&cs, &|c| c == 0), pct(&cs, &|c| c == 16));
        assert!(
            (8..17).contains(&zero) && (8..17).contains(&all),
            "m{m}: count 0 {zero}%, count max_entries {all}%"
        );
    }
    let hash = counts(0);
    let ones = pct(&hash, &|c| c == 1);
    assert!((35..50).contains(&ones), "hash: count 1 {ones}%");
    // The array: 1 to 4 a quarter each in the small arm, 1 to 8 an eighth each in the other.
    let array = counts(1);
    let (one, small, large) = (
        pct(&array, &|c| c == 1),
        pct(&array, &|c| (1..=4).contains(&c)),
        pct(&array, &|c| (5..=8).contains(&c)),
    );
    assert!(
        (8..21).contains(&one) && (48..65).contains(&small) && (12..26).contains(&large),
        "array: count 1 {one}%, 1-4 {small}%, 5-8 {large}%"
    );
}

/// Each element of an update or delete batch draws from its own bits of the draw: element 0
/// is what a single update of the same draw writes (key and value), and the others differ
/// from it: values from element to element, present keys and usual draws mixed in one
/// delete batch, several present keys in one.
#[test]
fn batch_elements_draw_from_their_own_bits() {
    let state = batch_state();
    let v = View::of(&state);
    let m0 = FdRef::Handle(v.maps[0].handle);
    let zero = zero();
    let k_update = (0..100u8)
        .find(|k| v.decode(Choice { k: *k, ..zero }).kind() == "update")
        .expect("no k draws update");
    let t_m0 = (0..=255u8)
        .find(|t| {
            let o = v.decode(Choice {
                k: k_update,
                t: *t,
                ..zero
            });
            o.kind() == "update" && o.map_ref() == Some(m0)
        })
        .expect("no t draws an update of m0");
    let (mut firsts, mut several, mut differing) = (0, 0, 0);
    for c in grid() {
        let Op::UpdateBatch { keys, values, .. } = v.batch_op(&v.maps[0], m0, &c) else {
            continue;
        };
        if let (Some(key0), Some(value0)) = (keys.first(), values.first()) {
            let single = v.decode(Choice {
                k: k_update,
                t: t_m0,
                ..c
            });
            let Op::Update { key, value, .. } = single else {
                panic!("{c:?} drew {single:?}")
            };
            assert_eq!((key0, value0), (&key, &value), "element 0 of {c:?}");
            firsts += 1;
        }
        if values.len() > 1 {
            several += 1;
            differing += usize::from(values.iter().skip(1).any(|x| *x != values[0]));
        }
    }
    assert!(firsts > 300, "{firsts} update batches with an element");
    assert!(
        differing * 100 / several >= 95,
        "{differing} of {several} update batches hold more than one value"
    );
    let present: Vec<Vec<u8>> = PRESENT.iter().map(|k| fill_index(*k, 8)).collect();
    let (mut mixed, mut two_present) = (0, 0);
    for o in batches(&v, 0) {
        let Op::DeleteBatch { keys, .. } = o else {
            continue;
        };
        let (named, usual): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = keys.iter().partition(|k| present.contains(k));
        mixed += usize::from(!named.is_empty() && !usual.is_empty());
        // Two different present keys (one batch may name a key twice).
        two_present += usize::from(named.iter().any(|k| *k != named[0]));
    }
    assert!(
        mixed > 40 && two_present > 40,
        "delete batches: {mixed} mix present and usual keys, {two_present} name two present keys"
    );
}

/// Delete batches mostly name present keys (3 elements in 4: a delete that goes through),
/// each present key, whole; the rest are the usual key draw.
#[test]
fn delete_batches_mostly_name_present_keys() {
    let state = batch_state();
    let v = View::of(&state);
    let present: Vec<Vec<u8>> = PRESENT.iter().map(|k| fill_index(*k, 8)).collect();
    let keys: Vec<Vec<u8>> = batches(&v, 0)
        .into_iter()
        .flat_map(|o| match o {
            Op::DeleteBatch { keys, .. } => keys,
            _ => Vec::new(),
        })
        .collect();
    assert!(keys.iter().all(|k| k.len() == 8), "keys not 8 bytes");
    let named = keys.iter().filter(|k| present.contains(k)).count() * 100 / keys.len();
    assert!((66..84).contains(&named), "{named}% of delete elements present");
    for k in &present {
        assert!(keys.contains(k), "no delete of present key {k:?}");
    }
}
