//! ARRAY and PERCPU_ARRAY: dense, pre-allocated, zero-initialised; every index below
//! max_entries always exists. The model stores only written slots, so an untouched
//! 1M-entry array costs nothing (kernel/bpf/arraymap.c).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::{percpu_stride, Family, ValueMap, NO_HINTS};
use crate::op::flags::*;
use crate::op::{MapSpec, MapType};
use crate::outcome::{Allowed, Outcome, Ret};
use crate::reason::Why;
use std::collections::BTreeMap;

/// The contents of one array map.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ArrayMap {
    /// `max_entries`.
    pub max_entries: u32,
    /// Bytes a lookup returns (`bpf_map_value_size`).
    pub value_len: usize,
    /// Slots ever written with a non-zero value; everything else reads as zeroes.
    pub written: BTreeMap<u32, Vec<u8>>,
}

/// `ARRAY_CREATE_FLAG_MASK` (kernel/bpf/arraymap.c).
const CREATE_FLAGS: u32 = NUMA_NODE | MMAPABLE | FD_ACCESS | PROG_ACCESS | PRESERVE_ELEMS | INNER_MAP;

/// Flags only a plain ARRAY takes (`array_map_alloc_check`).
const PLAIN_ARRAY_ONLY: u32 = MMAPABLE | INNER_MAP;

/// `array_map_alloc_check` (also the array part of `fd_array_map_alloc_check`): flags,
/// sizes and the per-CPU limits, in the kernel's order.
pub fn alloc_check(s: &MapSpec, numa: bool) -> Result<(), Errno> {
    let t = s.map_type;
    let percpu = t.is_percpu();
    // One compound test in the kernel, one errno: each part is its own path here.
    if s.max_entries == 0 {
        return Err(Why::NoEntries.errno());
    }
    if s.key_size != 4 {
        return Err(Why::KeySize.errno());
    }
    if s.value_size == 0 {
        return Err(Why::ValueSize.errno());
    }
    if s.map_flags & !CREATE_FLAGS != 0 {
        return Err(Why::Flags.errno());
    }
    if s.map_flags & PROG_ACCESS == PROG_ACCESS {
        return Err(Why::ProgAccess.errno());
    }
    if percpu && numa {
        return Err(Why::NumaPercpu.errno());
    }
    if t != MapType::Array && s.map_flags & PLAIN_ARRAY_ONLY != 0 {
        return Err(Why::Flags.errno());
    }
    if t != MapType::PerfEventArray && s.map_flags & PRESERVE_ELEMS != 0 {
        return Err(Why::Flags.errno());
    }
    if s.value_size as u64 > i32::MAX as u64 {
        return Err(Why::ValueTooBig.errno());
    }
    if percpu && percpu_stride(s.value_size) > 32768 {
        return Err(Why::PercpuTooBig.errno());
    }
    Ok(())
}

/// Bytes an array's allocation takes (`array_map_alloc`): the values, or per-CPU areas plus
/// a pointer each, or one pointer per slot of an fd array.
pub fn alloc_bytes(s: &MapSpec, cpus: u32) -> u64 {
    let per_elem = if s.map_type.holds_fds() {
        8
    } else if s.map_type.is_percpu() {
        percpu_stride(s.value_size) as u64 * cpus as u64 + 8
    } else {
        percpu_stride(s.value_size) as u64
    };
    per_elem.saturating_mul(s.max_entries as u64)
}

/// ARRAY and PERCPU_ARRAY.
pub const FAMILY: Family = Family {
    types: &[MapType::Array, MapType::PercpuArray],
    keyless: false,
    map_extra: false,
    alloc_check: |s, _, numa| alloc_check(s, numa),
    too_many_entries: |_, _| false,
    alloc_bytes,
    new: Some(|s, value_len, _, _| Box::new(ArrayMap::new(s.max_entries, value_len))),
    ok_ops: |_| {
        &[
            "create",
            "update",
            "lookup",
            "next_key",
            "freeze",
            "close",
            "info",
            "check",
            "lookup_batch",
            "update_batch",
            "prog_lookup",
            "prog_update",
        ]
    },
    // array_map_ops and percpu_array_map_ops: generic lookup and update batches only
    // (PERCPU_ARRAY's from f008d732ab18, 5.13).
    batch: |t, p, cmd| match cmd {
        _ if t == MapType::PercpuArray && !p.percpu_array_batch => Err(Why::NoBatch),
        "lookup_batch" | "update_batch" => Ok(()),
        _ => Err(Why::NoBatchCmd),
    },
    gen: NO_HINTS,
};

/// The u32 index an array key holds (little-endian; keys are 4 bytes by precondition).
pub fn index(key: &[u8]) -> u32 {
    u32::from_le_bytes([key[0], key[1], key[2], key[3]])
}

impl ArrayMap {
    /// A fresh, all-zero array.
    pub fn new(max_entries: u32, value_len: usize) -> ArrayMap {
        ArrayMap {
            max_entries,
            value_len,
            written: BTreeMap::new(),
        }
    }

    fn read(&self, i: u32) -> Vec<u8> {
        self.written
            .get(&i)
            .cloned()
            .unwrap_or_else(|| vec![0; self.value_len])
    }
}

impl ValueMap for ArrayMap {
    /// `array_map_lookup_elem` / `bpf_percpu_array_copy`: out of range is ENOENT.
    fn lookup(&self, key: &[u8]) -> Outcome {
        let i = index(key);
        if i >= self.max_entries {
            return Err(Why::LookupIndex.errno());
        }
        Ok(Ret::Value(self.read(i)))
    }

    /// `array_map_update_elem` / `bpf_percpu_array_update`: flags first, then the bound
    /// (E2BIG, not ENOENT), then NOEXIST is always EEXIST because every slot exists.
    fn update(&self, key: &[u8], flags: u64, faults: &[Fault]) -> Outcome {
        if (flags & !F_LOCK) > EXIST {
            return Err(Why::Flags.errno());
        }
        if index(key) >= self.max_entries {
            return Err(Why::Index.errno());
        }
        if flags & NOEXIST != 0 && !faults.contains(&Fault::ArrayNoexistSucceeds) {
            return Err(Why::Exists.errno());
        }
        Ok(Ret::Unit)
    }

    /// Stores what an accepted update wrote (`stored` already has per-CPU padding zeroed).
    fn store(&mut self, key: &[u8], stored: Vec<u8>, _: &[Fault]) {
        let i = index(key);
        if stored.iter().all(|b| *b == 0) {
            self.written.remove(&i);
        } else {
            self.written.insert(i, stored);
        }
    }

    /// `array_map_delete_elem`: arrays cannot delete, in range or not.
    fn delete(&self, _: &[u8], _: &[Fault]) -> Outcome {
        Err(Why::ArrayDelete.errno())
    }

    fn next_key(&self, key: Option<&[u8]>, faults: &[Fault]) -> Allowed {
        Allowed::Exactly(self.next_index(key, faults))
    }

    /// Every index with its value, as LOOKUP_BATCH and a GET_NEXT_KEY walk must show them.
    fn state(&self, _: usize, ids: bool, _: &[Fault]) -> Allowed {
        let written = match ids {
            true => (self.written.iter())
                .map(|(i, v)| (*i, crate::outcome::state_cell(v).into_owned()))
                .collect(),
            false => self.written.clone(),
        };
        Allowed::ArrayState {
            max_entries: self.max_entries,
            value_len: self.value_len,
            written,
        }
    }

    /// Arrays never remove (DELETE is always refused).
    fn remove(&mut self, _: &[u8]) {}

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.lookup(key) {
            Ok(Ret::Value(v)) => Some(v),
            _ => None,
        }
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.written
            .iter()
            .map(|(i, v)| (i.to_le_bytes().to_vec(), v.clone()))
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.written.is_empty()
    }
}

impl ArrayMap {
    /// `array_map_get_next_key` (the fd arrays' too): NULL or out of range restarts at 0; the
    /// last index ends.
    pub fn next_index(&self, key: Option<&[u8]>, faults: &[Fault]) -> Outcome {
        let next = match key.map(index) {
            None => 0,
            Some(i) if i >= self.max_entries => 0,
            Some(i) if i == self.max_entries - 1 => {
                if faults.contains(&Fault::ArrayNextKeyWraps) {
                    0
                } else {
                    return Err(Why::End.errno());
                }
            }
            Some(i) => i + 1,
        };
        Ok(Ret::Key(next.to_le_bytes().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    /// `array_map_alloc_check`'s edges: BPF_F_MMAPABLE and BPF_F_INNER_MAP on a plain ARRAY
    /// only; a value of i32::MAX bytes passes (one more is E2BIG); a per-CPU value's rounded
    /// slot of 32768 bytes passes (PCPU_MIN_UNIT_SIZE), 32776 does not.
    #[test]
    fn alloc_check_edges() {
        let spec = |t, value_size, flags| MapSpec {
            map_flags: flags,
            ..MapSpec::new(t, 4, value_size, 1)
        };
        let check =
            |t, value_size, flags| alloc_check(&spec(t, value_size, flags), false).map_err(|e| e.why());
        for flag in [MMAPABLE, INNER_MAP] {
            assert_eq!(check(MapType::Array, 4, flag), Ok(()));
            assert_eq!(check(MapType::PercpuArray, 4, flag), Err(Some(Why::Flags)));
        }
        let max = i32::MAX as u32;
        assert_eq!(check(MapType::Array, max, 0), Ok(()));
        assert_eq!(check(MapType::Array, max + 1, 0), Err(Some(Why::ValueTooBig)));
        assert_eq!(check(MapType::PercpuArray, 32768, 0), Ok(()));
        assert_eq!(
            check(MapType::PercpuArray, 32769, 0),
            Err(Some(Why::PercpuTooBig))
        );
    }

    /// Batches: LOOKUP_BATCH and UPDATE_BATCH only; PERCPU_ARRAY none before 5.13
    /// (`percpu_array_batch`), ARRAY always.
    #[test]
    fn batch_commands_by_type_and_release() {
        let (new, old) = (
            Profile::default(),
            Profile {
                percpu_array_batch: false,
                ..Profile::default()
            },
        );
        for t in [MapType::Array, MapType::PercpuArray] {
            assert_eq!((FAMILY.batch)(t, &new, "lookup_batch"), Ok(()));
            assert_eq!((FAMILY.batch)(t, &new, "update_batch"), Ok(()));
            assert_eq!((FAMILY.batch)(t, &new, "delete_batch"), Err(Why::NoBatchCmd));
        }
        assert_eq!((FAMILY.batch)(MapType::Array, &old, "lookup_batch"), Ok(()));
        assert_eq!(
            (FAMILY.batch)(MapType::PercpuArray, &old, "lookup_batch"),
            Err(Why::NoBatch)
        );
    }

    /// `array_map_update_elem`: ANY and EXIST write (every slot exists), NOEXIST is EEXIST
    /// unless the canary fault says otherwise; a flag above EXIST is EINVAL. An array with a
    /// written value is not empty.
    #[test]
    fn update_flags_and_emptiness() {
        let mut a = ArrayMap::new(2, 4);
        let key = 0u32.to_le_bytes();
        assert_eq!(a.update(&key, ANY, &[]), Ok(Ret::Unit));
        assert_eq!(a.update(&key, EXIST, &[]), Ok(Ret::Unit));
        assert_eq!(a.update(&key, EXIST | F_LOCK, &[]), Ok(Ret::Unit));
        assert_eq!(
            a.update(&key, NOEXIST, &[]).map_err(|e| e.why()),
            Err(Some(Why::Exists))
        );
        assert_eq!(
            a.update(&key, NOEXIST, &[Fault::ArrayNoexistSucceeds]),
            Ok(Ret::Unit)
        );
        assert_eq!(a.update(&key, 3, &[]).map_err(|e| e.why()), Err(Some(Why::Flags)));
        assert!(a.is_empty());
        a.store(&key, vec![1, 0, 0, 0], &[]);
        assert!(!a.is_empty());
    }
}
