//! HASH and PERCPU_HASH: sparse and bounded by max_entries; iteration order depends on a
//! per-map random seed, so GET_NEXT_KEY is modelled as a set of allowed keys
//! (kernel/bpf/hashtab.c).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::percpu_stride;
use crate::op::flags::*;
use crate::op::MapSpec;
use crate::outcome::{Allowed, MapState, Outcome, Ret};
use std::collections::BTreeMap;

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

/// The contents of one hash map.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HashMap {
    /// `max_entries`: inserting a new key beyond it is E2BIG.
    pub max_entries: u32,
    /// Bytes a lookup returns (`bpf_map_value_size`).
    pub value_len: usize,
    /// The present keys and their values as a lookup returns them.
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl HashMap {
    /// An empty hash map.
    pub fn new(max_entries: u32, value_len: usize) -> HashMap {
        HashMap {
            max_entries,
            value_len,
            entries: BTreeMap::new(),
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
    pub fn store(&mut self, key: &[u8], stored: Vec<u8>) {
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
        self.entries.remove(key);
    }

    /// `htab_map_get_next_key`: a NULL or missing key restarts at the first non-empty bucket;
    /// a present key yields the next element in its bucket or the next bucket, else ENOENT.
    pub fn next_key(&self, key: Option<&[u8]>) -> Allowed {
        match key {
            Some(k) if self.entries.contains_key(k) => Allowed::AnyKeyExcept {
                after: Some(k.to_vec()),
                may_end: true,
            },
            _ if self.entries.is_empty() => Allowed::Exactly(Err(Errno::ENOENT)),
            _ => Allowed::AnyKeyExcept {
                after: None,
                may_end: false,
            },
        }
    }

    /// `htab_map_lookup_and_delete_elem`: the value, then the key is gone; missing is ENOENT.
    pub fn lookup_and_delete(&self, key: &[u8]) -> Outcome {
        self.lookup(key)
    }

    /// Every present entry, as LOOKUP_BATCH and a GET_NEXT_KEY walk must show them.
    pub fn state(&self, key_size: usize) -> Allowed {
        let mut st = MapState {
            key_size,
            value_size: self.value_len,
            ..Default::default()
        };
        for (k, v) in &self.entries {
            st.keys.extend_from_slice(k);
            st.values.extend_from_slice(v);
        }
        Allowed::State(st)
    }
}
