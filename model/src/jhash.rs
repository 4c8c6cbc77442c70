//! Bob Jenkins' lookup3 as the kernel has it (include/linux/jhash.h: `jhash`, `jhash2`,
//! JHASH_INITVAL 0xdeadbeef), and `htab_map_hash` (kernel/bpf/hashtab.c), so that a
//! BPF_F_ZERO_SEED hash map's bucket of every key is known.

/// `JHASH_INITVAL`.
const INITVAL: u32 = 0xdead_beef;

/// `__jhash_mix`.
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// `__jhash_final`: the result is `c`.
fn fin(mut a: u32, mut b: u32, mut c: u32) -> u32 {
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c.wrapping_sub(b.rotate_left(24))
}

/// Little-endian word of up to four bytes (the tail's `k[i] << 8*i` sums, and the unaligned
/// cpu32 reads on x86).
fn word(b: &[u8]) -> u32 {
    b.iter().rev().fold(0, |w, x| (w << 8) | *x as u32)
}

/// `jhash(key, length, initval)`: bytes, any length; 0 bytes hash to the initial state.
pub fn jhash(key: &[u8], initval: u32) -> u32 {
    let init = INITVAL.wrapping_add(key.len() as u32).wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(word(&k[..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    let part = |r: std::ops::Range<usize>| word(&k[r.start.min(k.len())..r.end.min(k.len())]);
    fin(
        a.wrapping_add(part(0..4)),
        b.wrapping_add(part(4..8)),
        c.wrapping_add(part(8..12)),
    )
}

/// `jhash2(k, length, initval)`: `length` u32 words.
pub fn jhash2(k: &[u32], initval: u32) -> u32 {
    let init = INITVAL.wrapping_add((k.len() as u32) << 2).wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = k;
    while k.len() > 3 {
        a = a.wrapping_add(k[0]);
        b = b.wrapping_add(k[1]);
        c = c.wrapping_add(k[2]);
        mix(&mut a, &mut b, &mut c);
        k = &k[3..];
    }
    if k.is_empty() {
        return c;
    }
    let at = |i: usize| k.get(i).copied().unwrap_or(0);
    fin(
        a.wrapping_add(at(0)),
        b.wrapping_add(at(1)),
        c.wrapping_add(at(2)),
    )
}

/// `htab_map_hash`: whole words through `jhash2` (read in CPU order, little-endian here),
/// any other length through `jhash`.
pub fn htab_map_hash(key: &[u8], seed: u32) -> u32 {
    if key.len().is_multiple_of(4) {
        let words: Vec<u32> = key.chunks(4).map(word).collect();
        jhash2(&words, seed)
    } else {
        jhash(key, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lookup3.c's own driver prints 0x17770551 and 0xcd628161 for this string with
    /// initval 0 and 1 (hashlittle, which `jhash` is on little-endian); the other vectors
    /// come from the kernel's jhash.h compiled as C (see the module doc).
    #[test]
    fn jhash_matches_lookup3_and_the_kernel_header() {
        let four = b"Four score and seven years ago";
        assert_eq!(jhash(four, 0), 0x1777_0551);
        assert_eq!(jhash(four, 1), 0xcd62_8161);
        assert_eq!(jhash(b"", 0), 0xdead_beef);
        let k: Vec<u8> = (1..=16).collect();
        let want = [
            0x04ec883b, 0x217670cf, 0x3e2a886b, 0x043fcddd, 0xf85554a4, 0x491fd335, 0xf0f71a09, 0x5143bb19,
            0xebaa5ff4, 0x1a10151a, 0x1894f68c, 0x2471b813, 0xe7d7a0e5, 0xf182ac92, 0x0cbbe541, 0x29fb5548,
        ];
        for (len, w) in (1..=16).zip(want) {
            assert_eq!(jhash(&k[..len], 0), w, "length {len}");
        }
    }

    #[test]
    fn jhash2_matches_the_kernel_header() {
        let w = [1u32, 2, 3, 4];
        let want = [0xdeadbeef, 0x72a82a9b, 0x8b4c7979, 0xa46158f5, 0x66491246];
        for (n, h) in want.into_iter().enumerate() {
            assert_eq!(jhash2(&w[..n], 0), h, "{n} words");
        }
        assert_eq!(
            jhash2(&w, 7),
            0xbcb62b19,
            "the seed is added to the initial state"
        );
    }

    #[test]
    fn htab_hash_picks_jhash2_for_whole_words() {
        // u32 keys 0..8 (little-endian) and u8 keys, as the kernel header computes them.
        let u32s = [
            0x049396b8, 0x72a82a9b, 0xee626cca, 0x9917754f, 0x15de40b1, 0xf5a8a9b6, 0x421eac7e, 0xa9d55c9a,
        ];
        for (i, h) in (0u32..).zip(u32s) {
            assert_eq!(htab_map_hash(&i.to_le_bytes(), 0), h, "u32 {i}");
        }
        let u8s = [0x8ba9414b, 0x04ec883b, 0xdf8eb2bb, 0xbb60a9ce];
        for (i, h) in (0u8..).zip(u8s) {
            assert_eq!(htab_map_hash(&[i], 0), h, "u8 {i}");
        }
        // On a little-endian CPU the two paths agree for whole words (same initial state,
        // same reads): the choice only matters on big-endian machines.
        let k: Vec<u8> = (1..=16).collect();
        for len in [4, 8, 12, 16] {
            assert_eq!(htab_map_hash(&k[..len], 3), jhash(&k[..len], 3), "length {len}");
        }
    }
}
