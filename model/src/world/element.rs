//! The element commands' generic part in kernel/bpf/syscall.c (flags, fd, access mode,
//! frozen), then the family's answer; and `fill`, one UPDATE_BATCH of fresh elements.

use super::*;
use crate::maps::array::ArrayMap;

impl World {
    /// `fill`'s element `i` as the UPDATE it is (`generic_map_update_batch` calls
    /// `bpf_map_update_value` with the batch's elem_flags, 0, for each).
    pub(super) fn fill_update(&self, map: Handle, i: u32) -> Op {
        let spec = &self.map(map).expect("precondition: a map").spec;
        let vs = spec.value_size as usize;
        let value = if spec.map_type.is_percpu() {
            // Every CPU's slot the same value, its padding zero.
            let stride = self.stride(spec.value_size);
            let mut v = vec![0; stride * self.profile.possible_cpus as usize];
            let one = crate::op::fill_value(vs, i);
            for slot in v.chunks_mut(stride) {
                slot[..vs].copy_from_slice(&one);
            }
            v
        } else {
            crate::op::fill_value(vs, i)
        };
        Op::Update {
            map: FdRef::Handle(map),
            key: crate::op::fill_key(spec.key_size as usize, i),
            value: Value::Bytes(value),
            flags: 0,
        }
    }

    /// `generic_map_update_batch`: each element is an UPDATE with the batch's elem_flags (0),
    /// stopping at the first error. The precondition leaves every element an insert of a new
    /// key with room for it, so the first element's answer (fd, access, frozen) is the
    /// batch's: its errno, or the count.
    pub(super) fn fill(&self, map: Handle, n: u32, from: u32) -> Allowed {
        // bpf_map_do_batch: no map_update_batch (PERCPU_ARRAY before 5.13), after the fd and
        // its write access.
        let old_percpu_array = self
            .map(map)
            .is_some_and(|m| m.spec.map_type == MapType::PercpuArray)
            && !self.profile.percpu_array_batch;
        let fd = &self.fds[&map];
        if old_percpu_array && fd.write && !fd.path && !self.map(map).is_some_and(|m| m.frozen) {
            return Allowed::Exactly(Err(Why::NoBatch.errno()));
        }
        if n == 0 {
            // `if (!max_count) return 0;` before any element.
            return Allowed::Exactly(Ok(Ret::Count(0)));
        }
        match self.allowed(&self.fill_update(map, from)) {
            Allowed::Exactly(Ok(_)) => Allowed::Exactly(Ok(Ret::Count(n))),
            Allowed::Exactly(Err(e)) => Allowed::Exactly(Err(e)),
            _ => Allowed::OneOf(Vec::new(), "fill: an element's update is not certain"),
        }
    }

    /// `__bpf_map_get`: EBADF for no fd (an O_PATH fd is none to `fdget`), EINVAL for a
    /// file that is not a map.
    pub(crate) fn fd_as_map(&self, r: FdRef) -> Result<&MapObj, Errno> {
        match r {
            FdRef::Bad(BadFd::NotBpf) => Err(Why::NotMap.errno()),
            FdRef::Bad(_) => Err(Why::NoFd.errno()),
            FdRef::Handle(h) => {
                let fd = self.fds.get(&h).ok_or(Why::NoFd.errno())?;
                if fd.path {
                    return Err(Why::OPath.errno());
                }
                self.map(h).ok_or(Why::NotMap.errno())
            }
        }
    }

    /// `bpf_map_check_op_flags` after its allowed-bits test (7.0): BPF_F_LOCK needs a spin
    /// lock, upper bits need BPF_F_CPU, the CPU flags a per-CPU map and one of them at a
    /// time, and BPF_F_CPU a possible CPU (ERANGE).
    pub(super) fn cpu_flags(&self, spec: &MapSpec, flags: u64) -> Result<(), Errno> {
        let cpu_flags = flags & (F_CPU | F_ALL_CPUS);
        if flags & F_LOCK != 0 {
            Err(Why::FLock.errno())
        } else if (flags & F_CPU == 0 && flags >> 32 != 0)
            || (cpu_flags != 0 && (!spec.map_type.is_percpu() || cpu_flags == F_CPU | F_ALL_CPUS))
        {
            Err(Why::CpuFlags.errno())
        } else if flags & F_CPU != 0 && flags >> 32 >= self.profile.possible_cpus as u64 {
            Err(Why::CpuRange.errno())
        } else {
            Ok(())
        }
    }

    /// The generic part of an element command in kernel/bpf/syscall.c, then the family.
    pub(super) fn element(&self, op: &Op) -> Result<Allowed, Errno> {
        let one = |o: Outcome| Ok(Allowed::Exactly(o));
        // map_lookup_elem and map_lookup_and_delete_elem check flags before the fd (LOOKUP:
        // until 6.19; LOOKUP_AND_DELETE before 5.14 has no flags field: CHECK_ATTR).
        let p = &self.profile;
        match op {
            Op::Lookup { flags, .. } if !p.lookup_flags_after_fd && flags & !F_LOCK != 0 => {
                return Err(Why::Flags.errno())
            }
            Op::LookupAndDelete { flags, .. } if !p.hash_lookup_and_delete && *flags != 0 => {
                return Err(Why::Flags.errno())
            }
            Op::LookupAndDelete { flags, .. } if flags & !F_LOCK != 0 => return Err(Why::Flags.errno()),
            _ => {}
        }
        let map_ref = op.map_ref().expect("element ops name a map");
        let m = self.fd_as_map(map_ref)?;
        let FdRef::Handle(h) = map_ref else {
            unreachable!("fd_as_map refused bad fds")
        };
        let fd = &self.fds[&h];
        // map_get_sys_perms: the fd's mode, less FMODE_CAN_WRITE once frozen (one check in
        // the kernel; two names here, the fd's mode first).
        let can_read = if fd.read { Ok(()) } else { Err(Why::Access.errno()) };
        let can_write = match (fd.write || self.has(Fault::RdonlyIgnored), m.frozen) {
            (false, _) => Err(Why::Access.errno()),
            (true, true) => Err(Why::Frozen.errno()),
            (true, false) => Ok(()),
        };
        // No map here has a BTF value with a bpf_spin_lock, so BPF_F_LOCK is always EINVAL.
        let no_lock = |flags: u64| {
            if flags & F_LOCK != 0 {
                Err(Why::FLock.errno())
            } else {
                Ok(())
            }
        };
        let faults = &self.faults[..];
        match (op, &m.data) {
            (
                Op::Lookup {
                    key, input, flags, ..
                },
                data,
            ) => {
                can_read?;
                // bpf_map_check_op_flags (6.19): after the fd and read permission; from 7.0
                // with BPF_F_LOCK | BPF_F_CPU allowed.
                if p.percpu_cpu_flags {
                    if (*flags as u32 as u64) & !(F_LOCK | F_CPU) != 0 {
                        return Err(Why::Flags.errno());
                    }
                    self.cpu_flags(&m.spec, *flags)?;
                } else if p.lookup_flags_after_fd && flags & !F_LOCK != 0 {
                    return Err(Why::Flags.errno());
                }
                no_lock(*flags)?;
                let found = match data {
                    MapData::Values(v) => v.lookup_input(key, input),
                    MapData::Fds(f) => Allowed::Exactly(f.lookup(self, key)),
                };
                // bpf_percpu_array_copy / bpf_percpu_hash_copy: BPF_F_CPU copies that CPU's
                // value_size bytes (`copy_map_value`, no padding).
                Ok(match found {
                    Allowed::Exactly(Ok(Ret::Value(v))) if p.percpu_cpu_flags && flags & F_CPU != 0 => {
                        let (vs, at) = (m.spec.value_size as usize, (flags >> 32) as usize);
                        let from = at * self.stride(m.spec.value_size);
                        Allowed::Exactly(Ok(Ret::Value(v[from..from + vs].to_vec())))
                    }
                    other => other,
                })
            }
            (
                Op::Update {
                    key, flags, value, ..
                },
                data,
            ) => {
                can_write?;
                if p.percpu_cpu_flags {
                    self.cpu_flags(&m.spec, *flags)?;
                    if m.spec.map_type.is_percpu() {
                        // bpf_percpu_array_update / htab_map_check_update_flags (7.0): any
                        // flag above BPF_F_ALL_CPUS, then NOEXIST and EXIST by `==` only, so
                        // 3 and F_CPU with either are BPF_ANY (a kernel finding).
                        if *flags as u32 as u64 > F_ALL_CPUS {
                            return Err(Why::Flags.errno());
                        }
                        let as_kernel = match *flags {
                            NOEXIST | EXIST => *flags,
                            _ => ANY,
                        };
                        return one(match data {
                            MapData::Values(v) => v.update(key, as_kernel, faults),
                            MapData::Fds(_) => unreachable!("fd maps are not per-CPU"),
                        });
                    }
                }
                no_lock(*flags)?;
                one(match (data, value) {
                    (MapData::Values(v), _) => v.update(key, *flags, faults),
                    (MapData::Fds(f), Value::Fd(r)) => f.update(self, key, *flags, *r),
                    (MapData::Fds(_), Value::Bytes(_) | Value::Id(_)) => {
                        unreachable!("precondition: fd value")
                    }
                })
            }
            (Op::Delete { key, .. }, data) => {
                can_write?;
                one(match data {
                    MapData::Values(v) => v.delete(key, faults),
                    // fd_array_map_delete_elem: out of range is E2BIG (plain arrays: EINVAL).
                    MapData::Fds(f) if f.is_array() && !f.in_range(key) => Err(Why::Index.errno()),
                    MapData::Fds(f) => f.slots.get(key).map(|_| Ret::Unit).ok_or(Why::NoKey.errno()),
                })
            }
            (Op::GetNextKey { key, .. }, data) => {
                can_read?;
                Ok(match data {
                    MapData::Values(v) => v.next_key(key.as_deref(), faults),
                    // The fd arrays iterate like arrays, occupancy ignored; HASH_OF_MAPS like a hash.
                    MapData::Fds(f) if f.is_array() => {
                        Allowed::Exactly(ArrayMap::new(f.max_entries, 0).next_index(key.as_deref(), faults))
                    }
                    MapData::Fds(f) => f.next_key(self, key.as_deref()),
                })
            }
            (Op::LookupAndDelete { key, flags, .. }, data) => {
                can_read.and(can_write)?;
                no_lock(*flags)?;
                one(match data {
                    MapData::Values(v) => v.lookup_and_delete(key, p),
                    // Only queue/stack and the value hashes implement it.
                    MapData::Fds(_) => Err(Why::NoCommand.errno()),
                })
            }
            (Op::Freeze { .. }, _) => {
                // map_freeze: write permission (which a frozen map has lost) before "frozen";
                // before 6.5 no write permission, "frozen" is EBUSY.
                if m.frozen && !self.has(Fault::RefreezeOk) {
                    return Err(p.refreeze_errno().because(Why::Refreeze));
                }
                if p.freeze_checks_write && !fd.write && !self.has(Fault::RdonlyIgnored) {
                    return Err(Why::Access.errno());
                }
                one(Ok(Ret::Unit))
            }
            (Op::Check { .. }, data) => {
                can_read?;
                // bpf_map_do_batch: no map_lookup_batch (PERCPU_ARRAY before 5.13).
                if m.spec.map_type == MapType::PercpuArray && !p.percpu_array_batch {
                    return Err(Why::NoBatch.errno());
                }
                Ok(match data {
                    MapData::Values(v) => v.state(m.spec.key_size as usize, m.ids == Some(true), faults),
                    MapData::Fds(f) => f.state(self),
                })
            }
            _ => unreachable!("not an element op: {op:?}"),
        }
    }
}

impl World {
    /// Whether a write of these values makes `h`'s map one holding ids or bytes (`MapObj::ids`).
    pub(super) fn mark_ids(&mut self, h: Handle, values: &[Value]) {
        let id = values.iter().any(|v| matches!(v, Value::Id(_)));
        let bytes = values
            .iter()
            .any(|v| v.bytes().is_some_and(|b| b.iter().any(|x| *x != 0)));
        if let Some(m) = self.map_mut(h) {
            if id || bytes {
                m.ids.get_or_insert(id);
            }
        }
    }
}

impl World {
    /// The types a program-side op is modelled on: maps of bytes with keys, whose helpers
    /// the kernel routes to the family's own functions (and the fd-holding maps, whose
    /// helpers the verifier refuses but a map-in-map's lookup: `prog_elem`).
    pub fn prog_elem_type(t: MapType) -> bool {
        matches!(
            t,
            MapType::Array
                | MapType::PercpuArray
                | MapType::Hash
                | MapType::PercpuHash
                | MapType::LruHash
                | MapType::LruPercpuHash
                | MapType::LpmTrie
        )
    }

    /// A program's view of a value: a per-CPU map's lookup returns the slot of the CPU it
    /// runs on (`this_cpu_ptr`), `value_size` bytes.
    fn cpu_slot(&self, spec: &MapSpec, full: &[u8]) -> Vec<u8> {
        let vs = spec.value_size as usize;
        if !spec.map_type.is_percpu() {
            return full.to_vec();
        }
        let at = self.cpu.unwrap_or(0) as usize * self.stride(spec.value_size);
        full[at..at + vs].to_vec()
    }

    /// A map helper called by a program: the family's own functions, without the syscall's
    /// checks (fd mode, frozen, BPF_F_LOCK first). `array_map_update_elem`: unknown flags,
    /// then the index (E2BIG), then BPF_NOEXIST (EEXIST), then BPF_F_LOCK without a spin lock
    /// (EINVAL), so NOEXIST|F_LOCK is EEXIST where the syscall says EINVAL;
    /// `htab_map_update_elem` and the LRU and per-CPU variants refuse BPF_F_LOCK with the
    /// unknown flags (EINVAL) before they look at the key.
    pub(super) fn prog_elem(&self, op: &Op) -> Outcome {
        let Op::ProgElem {
            call,
            map,
            key,
            flags,
            ..
        } = op
        else {
            unreachable!("not a program-side op: {op:?}")
        };
        let m = self.map(*map).expect("precondition: an open map");
        let v = match &m.data {
            MapData::Values(v) => v,
            // check_map_func_compatibility: a map-in-map takes only the lookup (whose answer
            // is the inner map, or NULL), the other fd maps no element helper at all.
            MapData::Fds(f) if m.spec.map_type.is_map_in_map() && *call == Call::Lookup => {
                let held = f.slots.contains_key(key.as_slice()) && (!f.is_array() || f.in_range(key));
                return if held {
                    Ok(Ret::Unit)
                } else {
                    Err(Why::NoKey.errno())
                };
            }
            MapData::Fds(_) => return Err(Why::ProgHelper.errno()),
        };

        let array = m.spec.map_type.is_array();
        let faults = &self.faults[..];
        match call {
            // array_map_lookup_elem / htab_map_lookup_elem (htab_lru_map_lookup_elem sets
            // the reference bit: `observe`): NULL is ENOENT.
            Call::Lookup => match v.lookup(key) {
                Ok(Ret::Value(full)) => Ok(Ret::Value(self.cpu_slot(&m.spec, &full))),
                other => other,
            },
            Call::Delete if array => Err(Why::ArrayDelete.errno()),
            Call::Delete => v.delete(key, faults),
            Call::Update if array => {
                let index = crate::maps::array::index(key);
                let lock_first = self.has(Fault::ProgArrayLockFirst) && flags & F_LOCK != 0;
                if (flags & !F_LOCK) > EXIST {
                    Err(Why::Flags.errno())
                } else if lock_first {
                    Err(Why::FLock.errno())
                } else if index >= m.spec.max_entries {
                    Err(Why::Index.errno())
                } else if flags & NOEXIST != 0 {
                    Err(Why::Exists.errno())
                } else if flags & F_LOCK != 0 {
                    Err(Why::FLock.errno())
                } else {
                    Ok(Ret::Unit)
                }
            }
            Call::Update if flags & F_LOCK != 0 => Err(Why::FLock.errno()),
            Call::Update => v.update(key, *flags, faults),
        }
    }

    /// Follows a program-side op: the helper's change as the syscall's (an update of one
    /// CPU's slot on a per-CPU map, the others kept, or zero for a new hash element:
    /// `pcpu_init_value`), and the map is one the program's deferred release holds.
    pub(super) fn prog_elem_done(&mut self, op: &Op, o: &Outcome) {
        let Op::ProgElem {
            call,
            map,
            key,
            value,
            flags,
        } = op
        else {
            return;
        };
        if let Some(obj) = self.fds.get(map).map(|fd| fd.obj) {
            self.prog_used.insert(obj);
        }
        let Some(m) = self.map(*map) else { return };
        if let MapData::Fds(_) = m.data {
            // A lookup changes nothing; the other helpers were refused at load.
            return;
        }
        let spec = m.spec.clone();
        match call {
            // (An LRU hash's reference bit: `observe`, as for every op on a map.)
            Call::Lookup => {}
            Call::Delete => self.apply(
                &Op::Delete {
                    map: FdRef::Handle(*map),
                    key: key.clone(),
                },
                o,
            ),
            Call::Update => {
                let full = match spec.map_type.is_percpu() {
                    false => value.clone(),
                    true => {
                        let s = self.stride(spec.value_size);
                        // A key this update's own pop evicts comes back as a new element.
                        let before = match &m.data {
                            MapData::Values(v) if !v.update_evicts(key, *flags) => v.value(key),
                            _ => None,
                        };
                        let mut full =
                            before.unwrap_or_else(|| vec![0; s * self.profile.possible_cpus as usize]);
                        let at = self.cpu.unwrap_or(0) as usize * s;
                        full[at..at + value.len()].copy_from_slice(value);
                        full
                    }
                };
                let update = Op::Update {
                    map: FdRef::Handle(*map),
                    key: key.clone(),
                    value: Value::Bytes(full),
                    flags: *flags,
                };
                self.apply(&update, o);
            }
        }
    }
}
