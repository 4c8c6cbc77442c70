//! The batch commands (`bpf_map_do_batch`, kernel/bpf/syscall.c): the fd, read then write
//! access, the family's ops table, the flags, `count == 0`; then update and delete as the
//! single commands one element at a time, and lookups as the family walks (`ValueMap`).

use super::*;
use crate::outcome::Batch;

impl World {
    /// The answers to a batch command.
    pub(super) fn batch(&self, op: &Op) -> Allowed {
        match self.batch_checks(op) {
            Ok(a) => a,
            Err(e) => Allowed::Exactly(Err(e)),
        }
    }

    fn batch_checks(&self, op: &Op) -> Result<Allowed, Errno> {
        let map_ref = op.map_ref().expect("batch ops name a map");
        let m = self.fd_as_map(map_ref)?;
        let FdRef::Handle(h) = map_ref else {
            unreachable!("fd_as_map refused bad fds")
        };
        let fd = &self.fds[&h];
        let (read, write) = match op {
            Op::LookupBatch { delete, .. } => (true, *delete),
            _ => (false, true),
        };
        // BPF_DO_BATCH: FMODE_CAN_READ for the lookups, then FMODE_CAN_WRITE (which a
        // frozen map has lost: map_get_sys_perms) for the rest, then the op itself.
        if read && !fd.read {
            return Err(Why::Access.errno());
        }
        if write && !(fd.write || self.has(Fault::RdonlyIgnored)) {
            return Err(Why::Access.errno());
        }
        if write && m.frozen {
            return Err(Why::Frozen.errno());
        }
        let t = m.spec.map_type;
        (family_of(t).batch)(t, &self.profile, op.kind()).map_err(Why::errno)?;
        // generic_map_*_batch and the htab ones: elem_flags may only be BPF_F_LOCK, which
        // needs a spin lock no map here has; (7.0's CPU flags on per-CPU maps: precondition.)
        let elem_flags = match op {
            Op::LookupBatch { elem_flags, .. }
            | Op::UpdateBatch { elem_flags, .. }
            | Op::DeleteBatch { elem_flags, .. } => *elem_flags,
            _ => unreachable!("not a batch op: {op:?}"),
        };
        if self.profile.percpu_cpu_flags && elem_flags & !(F_LOCK | F_CPU | F_ALL_CPUS) != 0 {
            return Err(Why::Flags.errno());
        }
        if !self.profile.percpu_cpu_flags && elem_flags & !F_LOCK != 0 {
            return Err(Why::Flags.errno());
        }
        if elem_flags & F_LOCK != 0 {
            return Err(Why::FLock.errno());
        }
        if elem_flags != 0 {
            // bpf_map_check_op_flags (7.0): the CPU flags on a map that is not per-CPU,
            // or upper bits without BPF_F_CPU.
            return Err(Why::CpuFlags.errno());
        }
        let faults = &self.faults[..];
        match op {
            Op::LookupBatch {
                cursor, count, flags, ..
            } => {
                // __htab_map_lookup_and_delete_batch: `if (attr->batch.flags) return -EINVAL`
                // (the generic walk never looks at it).
                let bucket = is_bucket_cursor(t);
                if bucket && *flags != 0 {
                    return Err(Why::BatchFlags.errno());
                }
                if *count == 0 {
                    return Ok(Allowed::Exactly(Ok(Ret::Count(0))));
                }
                Ok(match &m.data {
                    MapData::Values(v) => v.lookup_batch(cursor.as_deref(), *count, faults),
                    MapData::Fds(f) => self.fd_lookup_batch(f, cursor.as_deref(), *count),
                })
            }
            Op::UpdateBatch { keys, values, .. } => {
                let ops = keys.iter().zip(values).map(|(k, v)| Op::Update {
                    map: map_ref,
                    key: k.clone(),
                    value: v.clone(),
                    flags: elem_flags,
                });
                Ok(self.one_by_one(ops.collect()))
            }
            Op::DeleteBatch { keys, .. } => {
                let ops = keys.iter().map(|k| Op::Delete {
                    map: map_ref,
                    key: k.clone(),
                });
                Ok(self.one_by_one(ops.collect()))
            }
            _ => unreachable!("not a batch op: {op:?}"),
        }
    }

    /// A map-in-map's LOOKUP_BATCH: its values are the inner maps' ids (`map_fd_sys_lookup_elem`
    /// through `bpf_map_copy_value`), carried as `id_bytes` through the walks and handed back
    /// as ids. ARRAY_OF_MAPS walks keys (an empty slot is a missing value: skipped, or EINTR
    /// before 5644c6b50ffe), HASH_OF_MAPS walks buckets like a hash.
    fn fd_lookup_batch(&self, f: &FdMap, cursor: Option<&[u8]>, max: u32) -> Allowed {
        let value = |k: &[u8]| match f.lookup(self, k) {
            Ok(Ret::Id(h)) => Ok(Ret::Value(crate::outcome::id_bytes(h))),
            other => other,
        };
        let a = match &f.order {
            Some(order) => order.lookup_batch(
                cursor,
                max,
                &|k| match value(k) {
                    Ok(Ret::Value(v)) => v,
                    _ => unreachable!("a walked HASH_OF_MAPS key holds a map"),
                },
                false,
            ),
            None => {
                let walk = crate::maps::array::ArrayMap::new(f.max_entries, 0);
                let next = |k: Option<&[u8]>| Allowed::Exactly(walk.next_index(k, &self.faults));
                let skip = self.profile.batch_skips_holes;
                crate::maps::generic_lookup_batch(&next, &value, cursor, max, skip)
            }
        };
        let ids = |o: Outcome| match o {
            Ok(Ret::Batch(b)) => Ok(Ret::Batch(crate::outcome::ids_of(b))),
            o => o,
        };
        match a {
            Allowed::Exactly(o) => Allowed::Exactly(ids(o)),
            Allowed::OneOf(v, why) => Allowed::OneOf(v.into_iter().map(ids).collect(), why),
            a => a,
        }
    }

    /// `generic_map_update_batch` / `generic_map_delete_batch`: `count == 0` is 0 before
    /// anything; else `count` is set to 0, each element goes through what the single
    /// command does after its own checks (`bpf_map_update_value`, `map_delete_elem`), and
    /// the first error stops the batch with `count` = the elements done, which stay done.
    fn one_by_one(&self, ops: Vec<Op>) -> Allowed {
        if ops.is_empty() {
            return Allowed::Exactly(Ok(Ret::Count(0)));
        }
        let mut w = self.clone();
        let mut done = 0u32;
        let mut first_err = None;
        for op in &ops {
            match w.allowed(op) {
                Allowed::Exactly(Ok(r)) => w.apply(op, &Ok(r)),
                Allowed::Exactly(Err(e)) if self.has(Fault::BatchContinuesPastError) => {
                    first_err.get_or_insert(e);
                    continue;
                }
                Allowed::Exactly(Err(e)) => {
                    first_err = Some(e);
                    break;
                }
                _ => return Allowed::OneOf(Vec::new(), "a batch element whose answer is not certain"),
            }
            done += 1;
        }
        let b = Batch {
            err: first_err,
            count: done,
            ..Batch::default()
        };
        Allowed::Exactly(b.ret())
    }

    /// The single commands a batch's answer says were done, to apply one by one: the
    /// elements before the count for update and delete, the returned keys for
    /// LOOKUP_AND_DELETE_BATCH.
    pub(super) fn batch_done(&self, op: &Op, o: &Outcome) -> Vec<Op> {
        let done = match o {
            Ok(Ret::Count(n)) => *n as usize,
            Ok(Ret::Batch(b)) => b.count as usize,
            _ => return Vec::new(),
        };
        match op {
            Op::UpdateBatch {
                map,
                keys,
                values,
                elem_flags,
                ..
            } => keys
                .iter()
                .zip(values)
                .take(done)
                .map(|(k, v)| Op::Update {
                    map: *map,
                    key: k.clone(),
                    value: v.clone(),
                    flags: *elem_flags,
                })
                .collect(),
            Op::DeleteBatch { map, keys, .. } => keys
                .iter()
                .take(done)
                .map(|k| Op::Delete {
                    map: *map,
                    key: k.clone(),
                })
                .collect(),
            Op::LookupBatch {
                map, delete: true, ..
            } => match o {
                Ok(Ret::Batch(b)) => b
                    .keys
                    .iter()
                    .map(|k| Op::Delete {
                        map: *map,
                        key: k.clone(),
                    })
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}
