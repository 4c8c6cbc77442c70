//! One file per map family, registered in `FAMILIES`: its create checks, and for maps of bytes
//! a `ValueMap` that answers the element commands after the generic checks of `world/` (fd,
//! access mode, flags), citing the kernel function it mirrors. Adding a family of bytes is one
//! file and one line in `FAMILIES`; the fd-holding maps (`fd_array.rs`) are the world's too.

pub mod array;
pub mod bloom;
pub mod fd_array;
pub mod hash;
pub mod lpm;
pub mod queue_stack;

use crate::errno::Errno;
use crate::fault::Fault;
use crate::op::{FdRef, MapSpec, MapType, Op};
use crate::outcome::{Allowed, Outcome};
use crate::profile::Profile;
use crate::reason::Why;

/// What `map_create` asks of a family before and while it allocates.
pub struct Family {
    /// The map types it models.
    pub types: &'static [MapType],
    /// `map_create` lets its `map_extra` through (BLOOM_FILTER's hash count); for the other
    /// families a nonzero one is EINVAL before anything else.
    pub map_extra: bool,
    /// `map_alloc_check` and what `map_alloc` refuses before it allocates, in the kernel's
    /// order (`numa`: BPF_F_NUMA_NODE with a node given).
    pub alloc_check: fn(&MapSpec, &Profile, bool) -> Result<(), Errno>,
    /// More entries than `map_alloc` can size (E2BIG; after a map-in-map's template is read).
    pub too_many_entries: fn(&MapSpec, &Profile) -> bool,
    /// The bytes its allocation takes (the ENOMEM edge, the pre-5.11 memlock charge).
    pub alloc_bytes: fn(&MapSpec, u32) -> u64,
    /// The empty map a create makes, given the bytes a lookup returns (`None` for the
    /// fd-holding maps: the world makes those, with their template).
    pub new: Option<NewMap>,
}

/// Makes a family's empty map: its spec, the bytes a lookup returns, the dialect, and the
/// deliberate model faults switched on.
pub type NewMap = fn(&MapSpec, usize, &Profile, &[Fault]) -> Box<dyn ValueMap>;

/// Every family, one line each.
pub const FAMILIES: [&Family; 6] = [
    &array::FAMILY,
    &hash::FAMILY,
    &fd_array::FAMILY,
    &queue_stack::FAMILY,
    &bloom::FAMILY,
    &lpm::FAMILY,
];

/// The family of a modelled map type.
pub fn family_of(t: MapType) -> &'static Family {
    FAMILIES
        .into_iter()
        .find(|f| f.types.contains(&t))
        .unwrap_or_else(|| panic!("no family models {t:?}"))
}

/// The contents of a map of bytes and its answers to the element commands, each after
/// `world/element.rs` has checked the fd, its access mode and the flags every family shares.
pub trait ValueMap: std::fmt::Debug + Send + Sync + DynValueMap {
    /// LOOKUP (the whole per-CPU value where there is one).
    fn lookup(&self, key: &[u8]) -> Outcome;
    /// LOOKUP given what the value buffer holds before the call (`input`: what a bloom
    /// filter's peek reads; the other families write the buffer and ignore it).
    fn lookup_input(&self, key: &[u8], _input: &[u8]) -> Allowed {
        Allowed::Exactly(self.lookup(key))
    }
    /// Learns from the answer the kernel gave to `op` on this map, where several were allowed
    /// (a bloom filter's false positive stays one).
    fn observe(&mut self, _op: &Op, _o: &Outcome) {}
    /// UPDATE's answer with these flags (`store` makes the change).
    fn update(&self, key: &[u8], flags: u64, faults: &[Fault]) -> Outcome;
    /// DELETE's answer (`remove` makes the change).
    fn delete(&self, key: &[u8], faults: &[Fault]) -> Outcome;
    /// GET_NEXT_KEY's allowed answers.
    fn next_key(&self, key: Option<&[u8]>, faults: &[Fault]) -> Allowed;
    /// LOOKUP_AND_DELETE's answer: most families have no such command.
    fn lookup_and_delete(&self, _key: &[u8], _p: &Profile) -> Outcome {
        Err(Why::NoCommand.errno())
    }
    /// What `check` may read back (a LOOKUP_BATCH dump and a GET_NEXT_KEY walk).
    fn state(&self, key_size: usize, faults: &[Fault]) -> Allowed;
    /// Stores a value an UPDATE was answered ok for (already shaped as the kernel keeps it).
    fn store(&mut self, key: &[u8], value: Vec<u8>, faults: &[Fault]);
    /// Removes what a DELETE or LOOKUP_AND_DELETE was answered ok for.
    fn remove(&mut self, key: &[u8]);
    /// The value the map holds for a key, if any (a per-CPU write of one CPU keeps the rest).
    fn value(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Is this a key a walk knows as present (the keys of an "any present key" set)? Arrays
    /// answer by index, never by presence.
    fn has_key(&self, _key: &[u8]) -> bool {
        false
    }
    /// Appends up to `n` present keys to `out`, end to end (for generation's GET_NEXT_KEY
    /// starts; into a buffer generation reuses op after op).
    fn first_keys(&self, _n: usize, _out: &mut Vec<u8>) {}
    /// What it holds, for a divergence's description (keys and values as the map has them).
    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Nothing written yet (a fill needs an empty map).
    fn is_empty(&self) -> bool;
    /// What the end of a case asks of it beyond `check` (which dumps where the family has
    /// LOOKUP_BATCH), given the fd's read and write permission (write: not frozen either).
    fn read_back(&self, _map: FdRef, _can_read: bool, _can_write: bool) -> Vec<Op> {
        Vec::new()
    }
    /// The GET_NEXT_KEY order it remembers links of, if it has one.
    fn order(&self) -> Option<&hash::HashOrder> {
        None
    }
    /// The same, to remember a link the kernel showed.
    fn order_mut(&mut self) -> Option<&mut hash::HashOrder> {
        None
    }
}

/// Cloning and comparing boxed maps (the world is plain data: cloned for generation,
/// compared in tests); implemented for every `ValueMap` that is `Clone + Eq`.
pub trait DynValueMap {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn ValueMap>;
    /// Equal to a map of the same family with the same contents.
    fn eq_box(&self, other: &dyn ValueMap) -> bool;
    /// For `eq_box`'s family test.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: ValueMap + Clone + Eq + 'static> DynValueMap for T {
    fn clone_box(&self) -> Box<dyn ValueMap> {
        Box::new(self.clone())
    }
    fn eq_box(&self, other: &dyn ValueMap) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Clone for Box<dyn ValueMap> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

impl PartialEq for Box<dyn ValueMap> {
    fn eq(&self, other: &Self) -> bool {
        self.eq_box(&**other)
    }
}

impl Eq for Box<dyn ValueMap> {}

/// `round_up(value_size, 8)`: the stride of one CPU's slot in a per-CPU value buffer
/// (`bpf_map_value_size` in kernel/bpf/syscall.c).
pub fn percpu_stride(value_size: u32) -> usize {
    (value_size as usize).div_ceil(8) * 8
}

/// Keeps the first `value_size` bytes of every CPU's slot and zeroes the padding up to the
/// stride: what a syscall update stores on kernels whose `pcpu_copy_value` uses
/// `copy_map_value` (bpf-next after 6.18). On 6.18 `bpf_percpu_array_update` and
/// `pcpu_copy_value` use `copy_map_value_long`, so the padding round-trips and this is unused
/// (`Profile::percpu_padding_roundtrips`).
pub fn percpu_store(value: &[u8], value_size: u32, stride: usize) -> Vec<u8> {
    let mut out = vec![0u8; value.len()];
    for (dst, src) in out.chunks_mut(stride).zip(value.chunks(stride)) {
        let n = (value_size as usize).min(src.len());
        dst[..n].copy_from_slice(&src[..n]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newer kernels' store (unused on 6.18, so only this test checks it): each CPU's
    /// slot keeps its `value_size` bytes and loses the padding up to the 8-byte stride.
    #[test]
    fn percpu_store_zeroes_each_slots_padding() {
        let stride = percpu_stride(5);
        assert_eq!(stride, 8);
        let value: Vec<u8> = (1..=16).collect();
        assert_eq!(
            percpu_store(&value, 5, stride),
            vec![1, 2, 3, 4, 5, 0, 0, 0, 9, 10, 11, 12, 13, 0, 0, 0]
        );
        // A multiple of 8 has no padding: the value round-trips.
        assert_eq!(percpu_store(&value, 8, percpu_stride(8)), value);
    }
}
