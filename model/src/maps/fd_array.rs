//! The fd-holding ("handle") maps: PROG_ARRAY, PERF_EVENT_ARRAY, CGROUP_ARRAY, ARRAY_OF_MAPS
//! (array-shaped) and HASH_OF_MAPS (hash-shaped). The syscall value is an fd on the way in and
//! an object id (or ENOTSUPP) on the way out; a slot holds a counted reference to the object,
//! not to the fd (kernel/bpf/arraymap.c `bpf_fd_array_map_update_elem`, hashtab.c
//! `bpf_fd_htab_map_update_elem`, map_in_map.c).

use crate::op::flags::{RDONLY, WRONLY};
use crate::op::{MapSpec, MapType, ProgSpec, ProgType};
use std::collections::BTreeMap;

/// A reference held in a slot: the object, and the map file it was inserted through
/// (PERF_EVENT_ARRAY drops entries when that file is released).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Held {
    /// The held object.
    pub obj: u32,
    /// The open file description of the map fd used for the update.
    pub file: u32,
}

/// The PROG_ARRAY owner fixed by the first program inserted and never reset
/// (`__bpf_prog_map_compatible`): type, jited (always, with the JIT on), xdp_has_frags,
/// expected_attach_type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Owner {
    /// Program type.
    pub prog_type: ProgType,
    /// `xdp_has_frags`.
    pub xdp_frags: bool,
    /// `expected_attach_type` (compared for PROG_ARRAY owners).
    pub attach: u32,
}

impl Owner {
    /// The owner a program would set.
    pub fn of(p: &ProgSpec) -> Owner {
        Owner {
            prog_type: p.prog_type,
            xdp_frags: p.xdp_frags,
            attach: p.attach,
        }
    }
}

/// The inner-map template of a map-in-map, copied at creation (`bpf_map_meta_alloc`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Template {
    /// `map_type`.
    pub map_type: MapType,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `map_flags` without RDONLY/WRONLY, which `bpf_map_flags_retain_permanent` strips.
    pub map_flags: u32,
    /// `max_entries`.
    pub max_entries: u32,
}

impl Template {
    /// The template of an inner map created with `spec`.
    pub fn of(spec: &MapSpec) -> Template {
        Template {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            map_flags: spec.map_flags & !(RDONLY | WRONLY),
            max_entries: spec.max_entries,
        }
    }

    /// `bpf_map_meta_equal`: type, sizes and flags; max_entries only for a plain ARRAY
    /// template without BPF_F_INNER_MAP.
    pub fn accepts(&self, inner: &Template) -> bool {
        let sizes = self.map_type == inner.map_type
            && self.key_size == inner.key_size
            && self.value_size == inner.value_size
            && self.map_flags == inner.map_flags;
        let must_match_size =
            self.map_type == MapType::Array && self.map_flags & crate::op::flags::INNER_MAP == 0;
        sizes && (!must_match_size || self.max_entries == inner.max_entries)
    }
}

/// Slots of an fd-holding map: by index for the arrays, by key bytes for HASH_OF_MAPS.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FdMap {
    /// Which of the five types.
    pub map_type: MapType,
    /// `max_entries`.
    pub max_entries: u32,
    /// Occupied slots (array index as 4 little-endian bytes, or the hash key).
    pub slots: BTreeMap<Vec<u8>, Held>,
    /// PROG_ARRAY only: the owner, once set.
    pub owner: Option<Owner>,
    /// Map-in-map only: the inner template.
    pub template: Option<Template>,
    /// PERF_EVENT_ARRAY with BPF_F_PRESERVE_ELEMS: entries outlive their map file.
    pub preserve: bool,
}

impl FdMap {
    /// An empty fd-holding map.
    pub fn new(spec: &MapSpec, template: Option<Template>) -> FdMap {
        FdMap {
            map_type: spec.map_type,
            max_entries: spec.max_entries,
            slots: BTreeMap::new(),
            owner: None,
            template,
            preserve: spec.map_flags & crate::op::flags::PRESERVE_ELEMS != 0,
        }
    }

    /// Array-shaped (everything but HASH_OF_MAPS).
    pub fn is_array(&self) -> bool {
        self.map_type != MapType::HashOfMaps
    }

    /// Is `key` an index below max_entries (arrays)?
    pub fn in_range(&self, key: &[u8]) -> bool {
        key.len() == 4 && u32::from_le_bytes([key[0], key[1], key[2], key[3]]) < self.max_entries
    }
}
