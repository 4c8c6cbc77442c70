//! HASH and PERCPU_HASH: sparse and bounded by max_entries; iteration order depends on a
//! per-map random seed, so GET_NEXT_KEY is modelled as a set of allowed keys
//! (kernel/bpf/hashtab.c).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::op::flags::{EXIST, F_LOCK, NOEXIST};
use crate::outcome::{Allowed, MapState, Outcome, Ret};
use std::collections::BTreeMap;

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
