//! The fd-holding ("handle") maps: PROG_ARRAY, PERF_EVENT_ARRAY, CGROUP_ARRAY, ARRAY_OF_MAPS
//! (array-shaped) and HASH_OF_MAPS (hash-shaped). The syscall value is an fd on the way in and
//! an object id (or ENOTSUPP) on the way out; a slot holds a counted reference to the object,
//! not to the fd (kernel/bpf/arraymap.c `bpf_fd_array_map_update_elem`, hashtab.c
//! `bpf_fd_htab_map_update_elem`, map_in_map.c).

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::hash::{HashMap, HashOrder};
use crate::maps::{Family, ValueMap, NO_HINTS};
use crate::op::flags::{ANY, FD_ACCESS, PROG_ACCESS};
use crate::op::{BadFd, FdRef};
use crate::op::{MapSpec, MapType, ProgSpec, ProgType};
use crate::outcome::{Allowed, Outcome, Ret, Slot, Walk};
use crate::reason::Why;
use crate::world::{Body, World};
use std::collections::BTreeMap;

/// The five fd-holding types: the array ones check as arrays, HASH_OF_MAPS as a hash, after
/// `fd_array_map_alloc_check` / `fd_htab_map_alloc_check`: an fd in (4 bytes), an id out.
pub const FAMILY: Family = Family {
    types: &[
        MapType::ProgArray,
        MapType::PerfEventArray,
        MapType::CgroupArray,
        MapType::ArrayOfMaps,
        MapType::HashOfMaps,
    ],
    keyless: false,
    map_extra: false,
    alloc_check: |s, p, numa| {
        if s.value_size != 4 {
            return Err(Why::ValueSize.errno());
        }
        match s.map_type {
            MapType::HashOfMaps => crate::maps::hash::alloc_check(s, p, numa),
            _ if s.map_flags & PROG_ACCESS != 0 => Err(Why::ProgAccess.errno()),
            _ => crate::maps::array::alloc_check(s, numa),
        }
    },
    too_many_entries: |s, p| {
        s.map_type == MapType::HashOfMaps && crate::maps::hash::too_many_entries(s, p.hash_max_entries)
    },
    alloc_bytes: |s, cpus| match s.map_type {
        MapType::HashOfMaps => crate::maps::hash::alloc_bytes(s, cpus),
        _ => crate::maps::array::alloc_bytes(s, cpus),
    },
    new: None,
    ok_ops: |t| match t {
        // CGROUP_ARRAY and PERF_EVENT_ARRAY cannot be read back by the syscall.
        MapType::PerfEventArray | MapType::CgroupArray => &[
            "create", "update", "delete", "next_key", "freeze", "close", "info", "check",
        ],
        MapType::ArrayOfMaps => &[
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
            "prog_lookup",
        ],
        MapType::HashOfMaps => &[
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
            "lookup_and_delete_batch",
            "update_batch",
            "delete_batch",
            "prog_lookup",
        ],
        _ => &[
            "create", "update", "lookup", "delete", "next_key", "freeze", "close", "info", "check",
        ],
    },
    // array_of_maps_map_ops: lookup and update batches; htab_of_maps_map_ops: BATCH_OPS(htab)
    // (9263dddc7b6f, 5.19); the other fd arrays none.
    batch: |t, p, cmd| match t {
        MapType::ArrayOfMaps | MapType::HashOfMaps if !p.map_in_map_batch => Err(Why::MapInMapNoBatch),
        MapType::HashOfMaps => Ok(()),
        MapType::ArrayOfMaps if matches!(cmd, "lookup_batch" | "update_batch") => Ok(()),
        _ => Err(Why::NoBatchCmd),
    },
    gen: NO_HINTS,
};

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
    /// The owner a program would set; expected_attach_type counts only on kernels with
    /// 4540aed51b12 (`Profile::prog_array_owner_attach`).
    pub fn of(p: &ProgSpec, profile: &crate::Profile) -> Owner {
        Owner {
            prog_type: p.prog_type,
            xdp_frags: p.xdp_frags,
            attach: if profile.prog_array_owner_attach {
                p.attach
            } else {
                0
            },
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
            map_flags: spec.map_flags & !FD_ACCESS,
            max_entries: spec.max_entries,
        }
    }

    /// `bpf_map_meta_equal`: type, sizes and flags; `array_map_meta_equal` (kernel/bpf/
    /// arraymap.c) adds max_entries for an ARRAY template without BPF_F_INNER_MAP, and for
    /// every PERCPU_ARRAY one (which cannot carry that flag): 6.18 refuses an inner
    /// PERCPU_ARRAY of another size with EINVAL (handles/percpu-array-template-max-entries;
    /// `Profile::percpu_array_template_size`: 6.12 and before accept it).
    pub fn accepts(&self, inner: &Template, profile: &crate::Profile) -> bool {
        let sizes = self.map_type == inner.map_type
            && self.key_size == inner.key_size
            && self.value_size == inner.value_size
            && self.map_flags == inner.map_flags;
        let must_match_size = match self.map_type {
            MapType::Array => self.map_flags & crate::op::flags::INNER_MAP == 0,
            MapType::PercpuArray => profile.percpu_array_template_size,
            _ => false,
        };
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
    /// HASH_OF_MAPS only: the GET_NEXT_KEY order of the slots' keys.
    pub order: Option<Box<HashOrder>>,
}

impl FdMap {
    /// An empty fd-holding map (`fd_htab_in_place`: `Profile::fd_htab_update_in_place`).
    pub fn new(spec: &MapSpec, template: Option<Template>, fd_htab_in_place: bool) -> FdMap {
        FdMap {
            order: (spec.map_type == MapType::HashOfMaps)
                .then(|| Box::new(HashOrder::of(spec, fd_htab_in_place))),
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
        key.len() == 4 && super::array::index(key) < self.max_entries
    }

    /// `bpf_fd_array_map_lookup_elem` / `bpf_fd_htab_map_lookup_elem`: the id of the held
    /// program or map; CGROUP_ARRAY and PERF_EVENT_ARRAY have no `map_fd_sys_lookup_elem`
    /// and answer ENOTSUPP for any index.
    pub fn lookup(&self, w: &World, key: &[u8]) -> Outcome {
        if matches!(self.map_type, MapType::CgroupArray | MapType::PerfEventArray) {
            return Err(Why::Unreadable.errno());
        }
        self.slots.get(key).map(|h| id_of(w, h)).ok_or(Why::NoKey.errno())
    }

    /// Update of an fd-holding map. Arrays (`bpf_fd_array_map_update_elem`): flags other than
    /// BPF_ANY, then the bound (E2BIG, before the fd is looked at), then the type's
    /// `map_fd_get_ptr`. HASH_OF_MAPS (`bpf_fd_htab_map_update_elem`): the fd first, then the
    /// hash rules (`htab_map_update_elem`).
    pub fn update(&self, w: &World, key: &[u8], flags: u64, value: FdRef) -> Outcome {
        if self.is_array() {
            if flags != ANY {
                return Err(Why::Flags.errno());
            }
            if !self.in_range(key) {
                return Err(Why::Index.errno());
            }
            self.get_ptr(w, value)?;
            return Ok(Ret::Unit);
        }
        self.get_ptr(w, value)?;
        let mut shape = HashMap::new(self.max_entries, 0);
        shape.entries = self.slots.keys().map(|k| (k.clone(), Vec::new())).collect();
        shape.update(key, flags, &w.faults)
    }

    /// `map_fd_get_ptr` of each type: what fd it accepts and with which errno it refuses.
    fn get_ptr(&self, w: &World, value: FdRef) -> Result<(), Errno> {
        let obj = match value {
            FdRef::Handle(h) => w.fds.get(&h).map(|fd| (fd, &w.objects[&fd.obj].body)),
            FdRef::Bad(_) => None,
        };
        match self.map_type {
            // prog_fd_array_get_ptr: bpf_prog_get (EBADF / EINVAL), then the owner.
            MapType::ProgArray => {
                let p = match (value, obj) {
                    (FdRef::Bad(BadFd::NotBpf), _) => return Err(Why::NotProg.errno()),
                    (_, Some((fd, Body::Prog(p, _)))) if !fd.path => p,
                    (_, Some((fd, _))) if !fd.path => return Err(Why::NotProg.errno()),
                    (_, Some(_)) => return Err(Why::OPath.errno()),
                    _ => return Err(Why::NoFd.errno()),
                };
                match self.owner {
                    Some(o) if o != Owner::of(p, &w.profile) => Err(Why::Owner.errno()),
                    _ => Ok(()),
                }
            }
            // bpf_map_fd_get_ptr: a map matching the template.
            MapType::ArrayOfMaps | MapType::HashOfMaps => {
                let inner = w.fd_as_map(value)?;
                let tpl = self.template.as_ref().expect("map-in-map has a template");
                let mut cand = Template::of(&inner.spec);
                if w.has(Fault::TemplateIgnoresMaxEntries) {
                    cand.max_entries = tpl.max_entries;
                }
                if inner.spec.map_type.is_map_in_map() || !tpl.accepts(&cand, &w.profile) {
                    return Err(Why::Template.errno());
                }
                Ok(())
            }
            // cgroup_fd_array_get_ptr: cgroup_v1v2_get_from_fd takes O_PATH fds too; anything
            // that is not a cgroup2 directory is EBADF; a removed cgroup ENOENT.
            MapType::CgroupArray => match obj {
                Some((_, Body::Cgroup { removed: false })) => Ok(()),
                Some((_, Body::Cgroup { removed: true })) => Err(Why::Removed.errno()),
                Some(_) if w.has(Fault::CgroupArrayEinval) => Err(Why::NotMap.errno()),
                _ => Err(Why::NotCgroup.errno()),
            },
            // perf_event_fd_array_get_ptr: perf_event_get (EBADF), then perf_event_read_local
            // refuses inherited events (EOPNOTSUPP).
            MapType::PerfEventArray => match obj {
                Some((fd, Body::Perf { inherit })) if !fd.path => {
                    if *inherit {
                        Err(Why::Inherit.errno())
                    } else {
                        Ok(())
                    }
                }
                _ => Err(Why::NotPerf.errno()),
            },
            _ => unreachable!("not an fd-holding map"),
        }
    }

    /// The full state of an fd-holding map as `check` sees it: every walked key and what
    /// LOOKUP says for it.
    pub fn state(&self, w: &World) -> Allowed {
        let unreadable = matches!(self.map_type, MapType::CgroupArray | MapType::PerfEventArray);
        let slot = |k: &[u8]| match (unreadable, self.slots.get(k)) {
            (true, _) => Slot::Unreadable,
            (false, Some(h)) => Slot::Id(Some(w.objects[&h.obj].creator)),
            (false, None) => Slot::Empty,
        };
        let keys: Vec<Vec<u8>> = if self.is_array() {
            (0..self.max_entries).map(|i| i.to_le_bytes().to_vec()).collect()
        } else {
            self.slots.keys().cloned().collect()
        };
        // The arrays walk 0..max_entries (`array_map_get_next_key`); HASH_OF_MAPS its buckets.
        let walk = match &self.order {
            Some(o) => o.walk_rule(w.has(Fault::HashNextKeyAny)),
            None => Walk::Exact(keys.clone()),
        };
        let mut slots: Vec<(Vec<u8>, Slot)> = keys.into_iter().map(|k| (k.clone(), slot(&k))).collect();
        slots.sort();
        Allowed::Slots(slots, walk)
    }

    /// GET_NEXT_KEY of HASH_OF_MAPS (`htab_map_get_next_key`), as for a value hash.
    pub fn next_key(&self, w: &World, key: Option<&[u8]>) -> Allowed {
        let order = self.order.as_ref().expect("HASH_OF_MAPS has an order");
        order.next_key(key, w.has(Fault::HashNextKeyAny))
    }
}

/// The creating handle of a held object.
fn id_of(w: &World, held: &Held) -> Ret {
    Ret::Id(Some(w.objects[&held.obj].creator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::flags::{RDONLY_PROG, WRONLY_PROG};
    use crate::profile::Profile;

    /// `fd_array_map_alloc_check` refuses the program-side access flags ("not supported for
    /// special maps yet"); `fd_htab_map_alloc_check` leaves them to the hash's checks, which
    /// take either one alone.
    #[test]
    fn the_fd_arrays_refuse_program_access_flags() {
        let p = Profile::default();
        for t in FAMILY.types {
            for flag in [RDONLY_PROG, WRONLY_PROG] {
                let s = MapSpec {
                    map_flags: flag,
                    ..MapSpec::new(*t, 4, 4, 4)
                };
                let got = (FAMILY.alloc_check)(&s, &p, false).map_err(|e| e.why());
                let want = match t {
                    MapType::HashOfMaps => Ok(()),
                    _ => Err(Some(Why::ProgAccess)),
                };
                assert_eq!(got, want, "{t:?} {flag:#x}");
            }
        }
    }

    /// Only HASH_OF_MAPS has the hash's entry limit; the arrays take max_entries up to
    /// their memory's limits.
    #[test]
    fn only_the_hash_of_maps_has_an_entry_limit() {
        let p = Profile::default();
        for t in FAMILY.types {
            let s = MapSpec::new(*t, 4, 4, p.hash_max_entries + 1);
            let limit = (FAMILY.too_many_entries)(&s, &p);
            assert_eq!(limit, *t == MapType::HashOfMaps, "{t:?}");
            let s = MapSpec::new(*t, 4, 4, p.hash_max_entries);
            assert!(!(FAMILY.too_many_entries)(&s, &p), "{t:?}");
        }
    }

    /// The coverage catalogue's ok cells agree with the model: a syscall lookup is there for
    /// the types whose empty slot answers ENOENT (not the unreadable perf event and cgroup
    /// arrays), and a batch command for the types whose `batch` takes it.
    #[test]
    fn the_catalogue_lists_what_the_model_answers_ok() {
        let p = Profile::default();
        for t in FAMILY.types {
            let ok = (FAMILY.ok_ops)(*t);
            for cmd in [
                "lookup_batch",
                "lookup_and_delete_batch",
                "update_batch",
                "delete_batch",
            ] {
                assert_eq!(
                    ok.contains(&cmd),
                    (FAMILY.batch)(*t, &p, cmd).is_ok(),
                    "{t:?} {cmd}"
                );
            }
            let mut w = World::new(p.clone(), vec![]);
            let lines = [
                "m0 = create array key=4 value=4 entries=1".to_string(),
                format!("m1 = create {} key=4 value=4 entries=4 inner=m0", t.word()),
                "lookup m1 key=00000000".to_string(),
            ];
            let inner = matches!(t, MapType::ArrayOfMaps | MapType::HashOfMaps);
            for line in &lines {
                let line = if inner {
                    line.clone()
                } else {
                    line.replace(" inner=m0", "")
                };
                let (op, _) = crate::text::parse_line(&line).unwrap();
                let o = w.allowed(&op).exactly().cloned().unwrap();
                if matches!(op, crate::op::Op::Lookup { .. }) {
                    assert_eq!(ok.contains(&"lookup"), o == Err(Errno::ENOENT), "{t:?} {o:?}");
                }
                assert!(o.is_ok() || line.starts_with("lookup"), "{line}: {o:?}");
                w.apply(&op, &o);
            }
        }
    }

    /// Before 9263dddc7b6f (5.19) the map-in-map types had no batch commands at all; the
    /// other fd arrays never had them.
    #[test]
    fn map_in_map_batches_came_in_5_19() {
        let old = Profile {
            map_in_map_batch: false,
            ..Profile::default()
        };
        for t in FAMILY.types {
            let want = match t {
                MapType::ArrayOfMaps | MapType::HashOfMaps => Why::MapInMapNoBatch,
                _ => Why::NoBatchCmd,
            };
            assert_eq!((FAMILY.batch)(*t, &old, "lookup_batch"), Err(want), "{t:?}");
        }
    }

    /// The template keeps the inner map's flags but RDONLY/WRONLY
    /// (`bpf_map_flags_retain_permanent`).
    #[test]
    fn a_template_drops_only_the_fd_access_flags() {
        use crate::op::flags::{INNER_MAP, NO_PREALLOC, RDONLY, WRONLY};
        for (flags, kept) in [
            (RDONLY | NO_PREALLOC, NO_PREALLOC),
            (WRONLY, 0),
            (INNER_MAP | RDONLY_PROG, INNER_MAP | RDONLY_PROG),
        ] {
            let s = MapSpec {
                map_flags: flags,
                ..MapSpec::new(MapType::Hash, 4, 8, 2)
            };
            assert_eq!(Template::of(&s).map_flags, kept, "{flags:#x}");
        }
    }

    /// `bpf_map_meta_equal`: each of type, key size, value size and flags must match alone;
    /// max_entries too for an ARRAY template without BPF_F_INNER_MAP, and for PERCPU_ARRAY
    /// where the profile says so (6.18; 6.12 and before take any size); never for a hash.
    #[test]
    fn a_template_accepts_maps_of_its_shape() {
        use crate::op::flags::{INNER_MAP, NO_PREALLOC};
        let p = Profile::default();
        let old = Profile {
            percpu_array_template_size: false,
            ..Profile::default()
        };
        let t = |map_type, key, value, flags, entries| Template {
            map_type,
            key_size: key,
            value_size: value,
            map_flags: flags,
            max_entries: entries,
        };
        let hash = t(MapType::Hash, 4, 8, 0, 2);
        assert!(hash.accepts(&hash, &p));
        for other in [
            t(MapType::PercpuHash, 4, 8, 0, 2),
            t(MapType::Hash, 8, 8, 0, 2),
            t(MapType::Hash, 4, 4, 0, 2),
            t(MapType::Hash, 4, 8, NO_PREALLOC, 2),
        ] {
            assert!(!hash.accepts(&other, &p), "{other:?}");
        }
        assert!(hash.accepts(&t(MapType::Hash, 4, 8, 0, 9), &p));
        let array = t(MapType::Array, 4, 8, 0, 2);
        assert!(!array.accepts(&t(MapType::Array, 4, 8, 0, 3), &p));
        let inner = t(MapType::Array, 4, 8, INNER_MAP, 2);
        assert!(inner.accepts(&t(MapType::Array, 4, 8, INNER_MAP, 3), &p));
        let percpu = t(MapType::PercpuArray, 4, 8, 0, 2);
        let bigger = t(MapType::PercpuArray, 4, 8, 0, 3);
        assert!(!percpu.accepts(&bigger, &p));
        assert!(percpu.accepts(&bigger, &old));
        assert!(percpu.accepts(&percpu, &p));
    }

    /// An array slot's key is 4 bytes naming an index below max_entries.
    #[test]
    fn array_keys_are_indices_in_range() {
        let m = FdMap::new(&MapSpec::new(MapType::ProgArray, 4, 4, 4), None, true);
        assert!(m.in_range(&3u32.to_le_bytes()));
        assert!(!m.in_range(&4u32.to_le_bytes()));
        assert!(!m.in_range(&[0; 8]));
    }
}
