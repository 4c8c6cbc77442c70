//! MAP_CREATE's checks in the kernel's order (`map_create`, the family's alloc_check, the
//! meta alloc of a map-in-map, the memlock charge before 5.11, the name after allocation).

use super::*;
use crate::maps::family_of;

/// Above this estimated allocation a successful create may also fail with ENOMEM.
const ENOMEM_THRESHOLD: u64 = 1 << 30;

impl World {
    /// `map_create` in kernel/bpf/syscall.c, then the family's `map_alloc_check` and
    /// `map_alloc`, then the name, in the kernel's order.
    pub(super) fn create(&self, handle: Handle, s: &MapSpec) -> Allowed {
        let fail = |e| Allowed::Exactly(Err(e));
        let t = s.map_type;
        // map_create: map_extra is only for BLOOM_FILTER and ARENA.
        let takes_extra = !matches!(t, MapType::Other(_)) && family_of(t).map_extra;
        if s.map_extra != 0 && !takes_extra {
            return fail(Why::MapExtra.errno());
        }
        // bpf_get_file_flag: RDONLY and WRONLY together (from 7.2 after the allocation).
        let rdonly_wronly = s.map_flags & RDONLY != 0 && s.map_flags & WRONLY != 0;
        if rdonly_wronly && !self.profile.create_file_flags_late {
            return fail(Why::RdonlyWronly.errno());
        }
        // map_create: a NUMA node must exist and be online.
        let numa = s.map_flags & NUMA_NODE != 0 && s.numa_node != u32::MAX;
        if numa && s.numa_node >= self.profile.numa_nodes {
            return fail(Why::NumaNode.errno());
        }
        // find_and_alloc_map: unknown type.
        if let MapType::Other(_) = t {
            return fail(Why::UnknownType.errno());
        }
        // The family's map_alloc_check (and what its map_alloc refuses before allocating).
        let family = family_of(t);
        if let Err(e) = (family.alloc_check)(s, &self.profile, numa) {
            return fail(e);
        }
        // htab_map_alloc: too many entries; for HASH_OF_MAPS only after htab_of_map_alloc
        // has read the inner template.
        if (family.too_many_entries)(s, &self.profile) {
            if t == MapType::HashOfMaps {
                if let Err(e) = self.inner_template(s.inner) {
                    return fail(e);
                }
            }
            return fail(Why::TooManyEntries.errno());
        }
        let alloc_bytes = self.alloc_estimate(s);
        // bpf_map_meta_alloc, called from array_of_map_alloc / htab_of_map_alloc before the
        // outer map is allocated.
        if t.is_map_in_map() {
            if let Err(e) = self.inner_template(s.inner) {
                return fail(e);
            }
        }
        // Before 5.11 the family's map_alloc charged RLIMIT_MEMLOCK before allocating
        // (`bpf_map_charge_init`), after the meta alloc of a map-in-map.
        if let Some(l) = &self.limits {
            match l.memlock_allows(&self.profile, memlock_pages(alloc_bytes), self.memlock_charged()) {
                Some(true) => {}
                Some(false) => return fail(Why::Memlock.errno()),
                None => {
                    return Allowed::OneOf(
                        vec![Ok(Ret::Fd(handle)), Err(Why::Memlock.errno())],
                        "the map header's size and deferred uncharges make the RLIMIT_MEMLOCK edge uncertain",
                    )
                }
            }
        }
        // bpf_obj_name_cpy, after allocation.
        if !self.has(Fault::NameUnchecked) && !name_ok(&s.name) {
            return fail(Why::Name.errno());
        }
        // map_create (9b435d23f51e, 7.2): bpf_get_file_flag after map_create_alloc.
        let ok = match rdonly_wronly {
            true => Err(Why::RdonlyWronly.errno()),
            false => Ok(Ret::Fd(handle)),
        };
        if alloc_bytes > ENOMEM_THRESHOLD {
            // Large vmalloc/percpu allocations depend on free memory and the memcg limit.
            return Allowed::OneOf(
                vec![ok, Err(Why::Alloc.errno())],
                "allocation may fail (bpf_map_area_alloc)",
            );
        }
        Allowed::Exactly(ok)
    }

    /// Pages this case's objects hold against RLIMIT_MEMLOCK before 5.11, as a range: a map
    /// its estimate, a program its one page (`bpf_prog_charge_memlock` of a tiny program).
    /// Both uncharge in their deferred free, which nothing here observes: a released object
    /// may or may not still count.
    pub(super) fn memlock_charged(&self) -> (u64, u64) {
        let charged = self.objects.values().filter_map(|o| match (&o.body, o.life) {
            (Body::Map(m), Life::Alive) => Some((m.charged.0, m.charged.1)),
            (Body::Map(m), _) => Some((0, m.charged.1)),
            (Body::Prog(..), Life::Alive) => Some((1, 1)),
            (Body::Prog(..), _) => Some((0, 1)),
            _ => None,
        });
        charged.fold((0u64, 0u64), |a, c| (a.0 + c.0, a.1 + c.1))
    }

    /// The bytes a valid map's allocation takes (values, per-CPU areas, hash elements and
    /// buckets), for the ENOMEM threshold and the pre-5.11 memlock charge.
    pub(super) fn alloc_estimate(&self, s: &MapSpec) -> u64 {
        (family_of(s.map_type).alloc_bytes)(s, self.profile.possible_cpus)
    }

    /// `bpf_map_meta_alloc`: the inner fd must be a map (`__bpf_map_get`: EBADF, EINVAL) whose
    /// type can be compared (`map_meta_equal`; PROG_ARRAY has none: ENOTSUPP) and which is not
    /// itself a map-in-map (EINVAL).
    pub(super) fn inner_template(&self, inner: Option<FdRef>) -> Result<Template, Errno> {
        let m = self.fd_as_map(inner.unwrap_or(FdRef::Bad(BadFd::NotBpf)))?;
        match m.spec.map_type {
            MapType::ProgArray => Err(Why::InnerProgArray.errno()),
            t if t.is_map_in_map() => Err(Why::InnerNested.errno()),
            _ => Ok(Template::of(&m.spec)),
        }
    }
}

/// `bpf_obj_name_cpy`: up to the first NUL every byte must be `isalnum()` (the kernel's
/// Latin-1 ctype table, lib/ctype.c), '_' or '.'; 16 bytes without a NUL are refused.
pub fn name_ok(name: &[u8]) -> bool {
    let upto = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    if upto == 16 {
        return false;
    }
    name[..upto]
        .iter()
        .all(|&b| kernel_isalnum(b) || b == b'_' || b == b'.')
}

/// `isalnum()` of the kernel's ctype table: ASCII letters and digits, and the Latin-1 letters
/// 0xC0-0xFF except 0xD7 and 0xF7.
pub fn kernel_isalnum(b: u8) -> bool {
    b.is_ascii_alphanumeric() || (b >= 0xC0 && b != 0xD7 && b != 0xF7)
}
