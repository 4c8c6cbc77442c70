//! The world a program acts on: map objects, the fds that reference them, and the profile.
//! The core idea: `allowed` is a pure function of (world, op) giving the outcomes the kernel
//! may produce, and `apply` moves the world along the outcome the kernel actually chose.

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::array::ArrayMap;
use crate::maps::hash::HashMap;
use crate::maps::{percpu_store, percpu_stride};
use crate::op::flags::*;
use crate::op::{Handle, MapRef, MapSpec, MapType, Op};
use crate::outcome::{hex, Allowed, Outcome, Ret};
use crate::profile::Profile;
use std::collections::{BTreeMap, BTreeSet};

/// Family-specific contents of a map object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MapData {
    /// ARRAY, PERCPU_ARRAY.
    Array(ArrayMap),
    /// HASH, PERCPU_HASH.
    Hash(HashMap),
}

/// A map object in the kernel, alive while an fd references it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MapObj {
    /// The attributes it was created with.
    pub spec: MapSpec,
    /// `map->frozen`: no fd may write once set (`map_get_sys_perms`).
    pub frozen: bool,
    /// The contents.
    pub data: MapData,
}

/// One open fd: which object, with which access mode (`f_mode` of the file).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fd {
    /// Index into `World::maps`.
    pub obj: u32,
    /// FMODE_CAN_READ.
    pub read: bool,
    /// FMODE_CAN_WRITE.
    pub write: bool,
}

/// Above this estimated allocation a successful create may also fail with ENOMEM.
const ENOMEM_THRESHOLD: u64 = 1 << 30;

/// The model's whole state.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct World {
    /// The kernel dialect.
    pub profile: Profile,
    /// Deliberate model bugs switched on (empty in normal runs).
    pub faults: Vec<Fault>,
    /// Live map objects by model-internal number.
    pub maps: BTreeMap<u32, MapObj>,
    /// Open fds by handle.
    pub fds: BTreeMap<Handle, Fd>,
    /// Every handle a script has named in a create, bound or not (handles are never reused).
    pub used: BTreeSet<Handle>,
    next_obj: u32,
}

impl World {
    /// An empty world for this profile.
    pub fn new(profile: Profile, faults: Vec<Fault>) -> World {
        World {
            profile,
            faults,
            ..Default::default()
        }
    }

    /// Number of CPU slots in a per-CPU value, or 1.
    fn slots(&self, t: MapType) -> usize {
        if t.is_percpu() {
            self.profile.possible_cpus as usize
        } else {
            1
        }
    }

    /// The per-CPU stride the model believes in (a fault may break it).
    fn stride(&self, value_size: u32) -> usize {
        if self.faults.contains(&Fault::PercpuSlotNotRounded) {
            value_size as usize
        } else {
            percpu_stride(value_size)
        }
    }

    /// Bytes of the value buffer of an element command (`bpf_map_value_size`).
    pub fn value_len(&self, spec: &MapSpec) -> usize {
        if spec.map_type.is_percpu() {
            self.stride(spec.value_size) * self.slots(spec.map_type)
        } else {
            spec.value_size as usize
        }
    }

    /// The object behind a live handle.
    pub fn map(&self, h: Handle) -> Option<&MapObj> {
        self.fds.get(&h).and_then(|fd| self.maps.get(&fd.obj))
    }

    /// Live handles in order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.fds.keys().copied()
    }

    /// One line on what the model believes about a handle's map: type, access, frozen, and
    /// up to eight entries (for divergence reports).
    pub fn describe(&self, h: Handle) -> String {
        let Some(fd) = self.fds.get(&h) else {
            return format!("{h}: not open");
        };
        let m = &self.maps[&fd.obj];
        let access = match (fd.read, fd.write) {
            (true, true) => "rw",
            (true, false) => "read-only fd",
            (false, true) => "write-only fd",
            (false, false) => "no access",
        };
        let frozen = if m.frozen { ", frozen" } else { "" };
        let entries: Vec<(String, String)> = match &m.data {
            MapData::Array(a) => a
                .written
                .iter()
                .map(|(i, v)| (hex(&i.to_le_bytes()), hex(v)))
                .collect(),
            MapData::Hash(hm) => hm.entries.iter().map(|(k, v)| (hex(k), hex(v))).collect(),
        };
        let what = if m.spec.map_type.is_array() {
            "non-zero slots"
        } else {
            "entries"
        };
        let shown: Vec<String> = entries.iter().take(8).map(|(k, v)| format!("{k}:{v}")).collect();
        let more = if entries.len() > 8 { " ..." } else { "" };
        format!(
            "{h}: {} max_entries={} ({access}{frozen}); {} {what}: {{{}{more}}}",
            m.spec.map_type.word(),
            m.spec.max_entries,
            entries.len(),
            shown.join(", ")
        )
    }

    /// The next unused handle number, for generation.
    pub fn next_handle(&self) -> Handle {
        Handle(self.used.iter().next_back().map_or(0, |h| h.0 + 1))
    }

    /// Why `op` cannot run in this world (a stale script), or `Ok`.
    pub fn precondition(&self, op: &Op) -> Result<(), String> {
        match op {
            Op::CreateMap { handle, spec } => {
                if self.used.contains(handle) {
                    return Err(format!("{handle} is already defined"));
                }
                if let MapType::Other(n) = spec.map_type {
                    if n != 0 && n < 64 {
                        return Err(format!("map type {n} is not modelled"));
                    }
                }
                if spec.name.len() > 16 {
                    return Err("map name longer than 16 bytes".into());
                }
                return Ok(());
            }
            Op::Close { handle } => {
                return match self.fds.contains_key(handle) {
                    true => Ok(()),
                    false => Err(format!("{handle} is not open")),
                }
            }
            _ => {}
        }
        let Some(MapRef::Handle(h)) = op.map_ref() else {
            return Ok(());
        };
        let Some(m) = self.map(h) else {
            return Err(format!("{h} is not open"));
        };
        let key_ok = |k: &[u8]| k.len() == m.spec.key_size as usize;
        let want = self.value_len(&m.spec);
        match op {
            Op::Update { key, value, .. } if !key_ok(key) || value.len() != want => Err(format!(
                "{h} takes {}-byte keys and {want}-byte values",
                m.spec.key_size
            )),
            Op::Lookup { key, .. } | Op::Delete { key, .. } | Op::LookupAndDelete { key, .. }
                if !key_ok(key) =>
            {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            Op::GetNextKey { key: Some(key), .. } if !key_ok(key) => {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            _ => Ok(()),
        }
    }

    /// The outcomes the kernel may produce for `op`.
    pub fn allowed(&self, op: &Op) -> Allowed {
        match op {
            Op::CreateMap { handle, spec } => self.create(*handle, spec),
            Op::Close { .. } => Allowed::Exactly(Ok(Ret::Unit)),
            _ => match self.element(op) {
                Ok(a) => a,
                Err(e) => Allowed::Exactly(Err(e)),
            },
        }
    }

    /// Does the kernel's outcome fall in the allowed set?
    pub fn admits(&self, op: &Op, allowed: &Allowed, o: &Outcome) -> bool {
        let map = match op.map_ref() {
            Some(MapRef::Handle(h)) => self.map(h),
            _ => None,
        };
        let present = |k: &[u8]| match map.map(|m| &m.data) {
            Some(MapData::Hash(hm)) => hm.entries.contains_key(k),
            _ => false,
        };
        allowed.admits(o, &present)
    }

    /// Moves the world along an outcome that `admits` accepted.
    pub fn apply(&mut self, op: &Op, o: &Outcome) {
        if let Op::CreateMap { handle, .. } = op {
            self.used.insert(*handle);
        }
        if o.is_err() {
            return;
        }
        match op {
            Op::CreateMap { handle, spec } => {
                let value_len = self.value_len(spec);
                let data = if spec.map_type.is_array() {
                    MapData::Array(ArrayMap::new(spec.max_entries, value_len))
                } else {
                    MapData::Hash(HashMap::new(spec.max_entries, value_len))
                };
                let obj = self.next_obj;
                self.next_obj += 1;
                self.maps.insert(
                    obj,
                    MapObj {
                        spec: spec.clone(),
                        frozen: false,
                        data,
                    },
                );
                let read = spec.map_flags & WRONLY == 0;
                let write = spec.map_flags & RDONLY == 0;
                self.fds.insert(*handle, Fd { obj, read, write });
            }
            Op::Close { handle } => {
                if let Some(fd) = self.fds.remove(handle) {
                    if !self.fds.values().any(|f| f.obj == fd.obj) {
                        self.maps.remove(&fd.obj);
                    }
                }
            }
            Op::Update {
                map: MapRef::Handle(h),
                key,
                value,
                ..
            } => {
                let stride = self.map(*h).map(|m| self.stride(m.spec.value_size));
                let roundtrip = self.profile.percpu_padding_roundtrips;
                let Some(m) = self.map_mut(*h) else { return };
                let stored = match (m.spec.map_type.is_percpu(), stride) {
                    (true, Some(s)) if !roundtrip => percpu_store(value, m.spec.value_size, s),
                    _ => value.clone(),
                };
                match &mut m.data {
                    MapData::Array(a) => a.store(key, stored),
                    MapData::Hash(hm) => hm.store(key, stored),
                }
            }
            Op::Delete {
                map: MapRef::Handle(h),
                key,
            }
            | Op::LookupAndDelete {
                map: MapRef::Handle(h),
                key,
                ..
            } => {
                if let Some(MapData::Hash(hm)) = self.map_mut(*h).map(|m| &mut m.data) {
                    hm.remove(key);
                }
            }
            Op::Freeze {
                map: MapRef::Handle(h),
            } => {
                if let Some(m) = self.map_mut(*h) {
                    m.frozen = true;
                }
            }
            _ => {}
        }
    }

    fn map_mut(&mut self, h: Handle) -> Option<&mut MapObj> {
        let obj = self.fds.get(&h)?.obj;
        self.maps.get_mut(&obj)
    }

    /// `map_create` in kernel/bpf/syscall.c, then the family's `map_alloc_check` and
    /// `map_alloc`, then the name, in the kernel's order.
    fn create(&self, handle: Handle, s: &MapSpec) -> Allowed {
        let fail = |e| Allowed::Exactly(Err(e));
        let t = s.map_type;
        // map_create: map_extra is only for BLOOM_FILTER and ARENA.
        if s.map_extra != 0 {
            return fail(Errno::EINVAL);
        }
        // bpf_get_file_flag: RDONLY and WRONLY together.
        if s.map_flags & RDONLY != 0 && s.map_flags & WRONLY != 0 {
            return fail(Errno::EINVAL);
        }
        // map_create: a NUMA node must exist and be online.
        let numa = s.map_flags & NUMA_NODE != 0 && s.numa_node != u32::MAX;
        if numa && s.numa_node >= self.profile.numa_nodes {
            return fail(Errno::EINVAL);
        }
        // find_and_alloc_map: unknown type.
        if let MapType::Other(_) = t {
            return fail(Errno::EINVAL);
        }
        let access_ok = s.map_flags & (RDONLY_PROG | WRONLY_PROG) != RDONLY_PROG | WRONLY_PROG;
        let access_mask = RDONLY | WRONLY | RDONLY_PROG | WRONLY_PROG;
        let percpu = t.is_percpu();
        let vs = s.value_size as u64;
        let alloc_bytes = if t.is_array() {
            // array_map_alloc_check
            let mask = NUMA_NODE | MMAPABLE | access_mask | PRESERVE_ELEMS | INNER_MAP;
            if s.max_entries == 0
                || s.key_size != 4
                || s.value_size == 0
                || s.map_flags & !mask != 0
                || !access_ok
                || (percpu && numa)
            {
                return fail(Errno::EINVAL);
            }
            if t != MapType::Array && s.map_flags & (MMAPABLE | INNER_MAP) != 0 {
                return fail(Errno::EINVAL);
            }
            if s.map_flags & PRESERVE_ELEMS != 0 {
                return fail(Errno::EINVAL);
            }
            if vs > i32::MAX as u64 {
                return fail(Errno::E2BIG);
            }
            if percpu && percpu_stride(s.value_size) > 32768 {
                return fail(Errno::E2BIG);
            }
            let per_elem = if percpu {
                percpu_stride(s.value_size) as u64 * self.profile.possible_cpus as u64 + 8
            } else {
                percpu_stride(s.value_size) as u64
            };
            per_elem.saturating_mul(s.max_entries as u64)
        } else {
            // htab_map_alloc_check
            if s.map_flags & ZERO_SEED != 0 && !self.profile.cap_sys_admin {
                return fail(Errno::EPERM);
            }
            let mask = NO_PREALLOC | NO_COMMON_LRU | NUMA_NODE | access_mask | ZERO_SEED;
            if s.map_flags & !mask != 0 || !access_ok {
                return fail(Errno::EINVAL);
            }
            // NO_COMMON_LRU on a non-LRU hash.
            if s.map_flags & NO_COMMON_LRU != 0 {
                return fail(Errno::EINVAL);
            }
            if numa && percpu {
                return fail(Errno::EINVAL);
            }
            if s.max_entries == 0 || s.key_size == 0 || s.value_size == 0 {
                return fail(Errno::EINVAL);
            }
            // KMALLOC_MAX_SIZE (4 MiB on x86_64) minus sizeof(struct htab_elem) (48).
            if s.key_size as u64 + vs >= (4 << 20) - 48 {
                return fail(Errno::E2BIG);
            }
            if percpu && percpu_stride(s.value_size) > 32768 {
                return fail(Errno::E2BIG);
            }
            // htab_map_alloc: max_entries above 2^31, or too many buckets for a u32 size.
            if s.max_entries > 1 << 31 || s.max_entries > self.profile.hash_max_entries {
                return fail(Errno::E2BIG);
            }
            let elem = 48 + (s.key_size as u64).div_ceil(8) * 8 + if percpu { 8 } else { vs.div_ceil(8) * 8 };
            let pcpu = if percpu {
                percpu_stride(s.value_size) as u64 * self.profile.possible_cpus as u64
            } else {
                0
            };
            if s.map_flags & NO_PREALLOC != 0 {
                (s.max_entries as u64).next_power_of_two() * 16
            } else {
                (elem + pcpu).saturating_mul(s.max_entries as u64 + self.profile.possible_cpus as u64)
            }
        };
        // bpf_obj_name_cpy, after allocation.
        if !self.faults.contains(&Fault::NameUnchecked) && !name_ok(&s.name) {
            return fail(Errno::EINVAL);
        }
        let ok = Ok(Ret::Fd(handle));
        if alloc_bytes > ENOMEM_THRESHOLD {
            // Large vmalloc/percpu allocations depend on free memory and the memcg limit.
            return Allowed::OneOf(
                vec![ok, Err(Errno::ENOMEM)],
                "allocation may fail (bpf_map_area_alloc)",
            );
        }
        Allowed::Exactly(ok)
    }

    /// The generic part of an element command in kernel/bpf/syscall.c, then the family.
    fn element(&self, op: &Op) -> Result<Allowed, Errno> {
        let one = |o: Outcome| Ok(Allowed::Exactly(o));
        // map_lookup_elem and map_lookup_and_delete_elem check flags before the fd.
        if let Op::Lookup { flags, .. } | Op::LookupAndDelete { flags, .. } = op {
            if flags & !F_LOCK != 0 {
                return Err(Errno::EINVAL);
            }
        }
        let h = match op.map_ref() {
            Some(MapRef::Handle(h)) => h,
            // __bpf_map_get: fdget fails (EBADF) or the file is not a map (EINVAL).
            Some(MapRef::Bad(b)) => {
                return Err(match b {
                    crate::op::BadFd::NotBpf => Errno::EINVAL,
                    _ => Errno::EBADF,
                })
            }
            None => unreachable!("element ops name a map"),
        };
        let fd = self.fds.get(&h).expect("precondition: handle open");
        let m = &self.maps[&fd.obj];
        let faults = &self.faults[..];
        let can_read = fd.read;
        let can_write = (fd.write || faults.contains(&Fault::RdonlyIgnored)) && !m.frozen;
        let perm = |ok: bool| if ok { Ok(()) } else { Err(Errno::EPERM) };
        // No map here has a BTF value with a bpf_spin_lock, so BPF_F_LOCK is always EINVAL.
        let no_lock = |flags: u64| {
            if flags & F_LOCK != 0 {
                Err(Errno::EINVAL)
            } else {
                Ok(())
            }
        };
        match (op, &m.data) {
            (Op::Lookup { key, flags, .. }, data) => {
                perm(can_read)?;
                no_lock(*flags)?;
                one(match data {
                    MapData::Array(a) => a.lookup(key),
                    MapData::Hash(hm) => hm.lookup(key),
                })
            }
            (Op::Update { key, flags, .. }, data) => {
                perm(can_write)?;
                no_lock(*flags)?;
                one(match data {
                    MapData::Array(a) => a.update(key, *flags, faults),
                    MapData::Hash(hm) => hm.update(key, *flags, faults),
                })
            }
            (Op::Delete { key, .. }, data) => {
                perm(can_write)?;
                one(match data {
                    MapData::Array(a) => a.delete(),
                    MapData::Hash(hm) => hm.delete(key, faults),
                })
            }
            (Op::GetNextKey { key, .. }, data) => {
                perm(can_read)?;
                Ok(match data {
                    MapData::Array(a) => Allowed::Exactly(a.next_key(key.as_deref(), faults)),
                    MapData::Hash(hm) => hm.next_key(key.as_deref()),
                })
            }
            (Op::LookupAndDelete { key, flags, .. }, data) => {
                perm(can_read && can_write)?;
                no_lock(*flags)?;
                one(match data {
                    // Arrays have no map_lookup_and_delete_elem: the syscall's default.
                    MapData::Array(_) => Err(Errno::ENOTSUPP),
                    MapData::Hash(hm) => hm.lookup_and_delete(key),
                })
            }
            (Op::Freeze { .. }, _) => {
                // map_freeze: write permission (which a frozen map has lost) before "frozen".
                if m.frozen && !faults.contains(&Fault::RefreezeOk) {
                    return Err(self.profile.refreeze_errno);
                }
                perm(fd.write || faults.contains(&Fault::RdonlyIgnored))?;
                one(Ok(Ret::Unit))
            }
            (Op::Check { .. }, data) => {
                perm(can_read)?;
                Ok(match data {
                    MapData::Array(a) => a.state(),
                    MapData::Hash(hm) => hm.state(m.spec.key_size as usize),
                })
            }
            (Op::CreateMap { .. } | Op::Close { .. }, _) => unreachable!("not element ops"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::BadFd;

    fn h(n: u32) -> Handle {
        Handle(n)
    }

    #[test]
    fn names_follow_the_kernel_ctype() {
        assert!(name_ok(b""));
        assert!(name_ok(b"a.b_C9"));
        assert!(name_ok(b"caf\xe9"));
        assert!(name_ok(b"ok\0-after-nul"));
        assert!(!name_ok(b"a-b"));
        assert!(!name_ok(b"sixteen_chars_xx"));
        assert!(name_ok(b"fifteen_chars_x"));
        assert!(!name_ok(b"\xa0"));
        assert!(!name_ok(b"x\xd7"));
    }

    #[test]
    fn preconditions_name_what_is_wrong() {
        let mut w = World::default();
        let create = Op::CreateMap {
            handle: h(0),
            spec: MapSpec::new(MapType::Array, 4, 8, 2),
        };
        assert!(w.precondition(&create).is_ok());
        w.apply(&create, &Ok(Ret::Fd(h(0))));
        assert!(w.precondition(&create).unwrap_err().contains("already defined"));
        let bad = Op::Update {
            map: MapRef::Handle(h(0)),
            key: vec![0; 4],
            value: vec![0; 7],
            flags: 0,
        };
        assert!(w.precondition(&bad).unwrap_err().contains("8-byte values"));
        let gone = Op::Lookup {
            map: MapRef::Handle(h(1)),
            key: vec![0; 4],
            flags: 0,
        };
        assert!(w.precondition(&gone).unwrap_err().contains("not open"));
        let badfd = Op::Lookup {
            map: MapRef::Bad(BadFd::NotBpf),
            key: vec![],
            flags: 0,
        };
        assert!(w.precondition(&badfd).is_ok());
        assert_eq!(w.allowed(&badfd), Allowed::Exactly(Err(Errno::EINVAL)));
    }

    #[test]
    fn percpu_values_use_possible_cpus_and_rounded_slots() {
        let mut w = World::new(Profile::linux_6_18(3), vec![]);
        let spec = MapSpec::new(MapType::PercpuArray, 4, 5, 1);
        assert_eq!(w.value_len(&spec), 24);
        w.apply(&Op::CreateMap { handle: h(0), spec }, &Ok(Ret::Fd(h(0))));
        let look = Op::Lookup {
            map: MapRef::Handle(h(0)),
            key: vec![0; 4],
            flags: 0,
        };
        assert_eq!(w.allowed(&look), Allowed::Exactly(Ok(Ret::Value(vec![0; 24]))));
        w.faults.push(Fault::PercpuSlotNotRounded);
        let spec = MapSpec::new(MapType::PercpuArray, 4, 5, 1);
        assert_eq!(w.value_len(&spec), 15);
    }

    #[test]
    fn hash_next_key_is_a_set() {
        let mut w = World::default();
        let m = MapRef::Handle(h(0));
        w.apply(
            &Op::CreateMap {
                handle: h(0),
                spec: MapSpec::new(MapType::Hash, 1, 1, 4),
            },
            &Ok(Ret::Fd(h(0))),
        );
        for k in [1u8, 2] {
            w.apply(
                &Op::Update {
                    map: m,
                    key: vec![k],
                    value: vec![k],
                    flags: 0,
                },
                &Ok(Ret::Unit),
            );
        }
        let nk = Op::GetNextKey {
            map: m,
            key: Some(vec![1]),
        };
        let a = w.allowed(&nk);
        assert!(w.admits(&nk, &a, &Ok(Ret::Key(vec![2]))));
        assert!(w.admits(&nk, &a, &Err(Errno::ENOENT)));
        assert!(
            !w.admits(&nk, &a, &Ok(Ret::Key(vec![1]))),
            "never the key passed in"
        );
        assert!(!w.admits(&nk, &a, &Ok(Ret::Key(vec![3]))), "never a missing key");
        let first = Op::GetNextKey { map: m, key: None };
        let a = w.allowed(&first);
        assert!(
            !w.admits(&first, &a, &Err(Errno::ENOENT)),
            "a non-empty map has a first key"
        );
    }
}
