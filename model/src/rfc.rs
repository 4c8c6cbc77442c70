//! The seed's proposal (Landlock RFC v3, 2016) as an executable spec: a typed, sequentially
//! filled arraymap of handles whose index is bounded by RLIMIT_NOFILE. It runs over the same
//! ops as the kernel model, on the nearest mainline types (CGROUP_ARRAY, ARRAY_OF_MAPS), so
//! `mapcheck rfc-diff` can show where today's kernel differs (SEMANTICS.md section 9).
//!
//! Verified from RFC-era code: dense prefix [0, n_entries), append or replace only, one handle
//! type per array, RLIMIT_NOFILE rationale with EMFILE. Reconstructed (assumptions, labelled
//! where used): the errno of a hole, of a type mismatch, of lookup and of delete.

use crate::errno::Errno;
use crate::maps::array::index;
use crate::op::flags::ANY;
use crate::op::{FdRef, Handle, Kind, MapType, Op, Value};
use crate::outcome::{Allowed, Outcome, Ret};
use crate::world::World;
use std::collections::BTreeMap;

/// One RFC handle array: the filled prefix and the element kind fixed by the first handle.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RfcArray {
    /// `max_entries`.
    pub max_entries: u32,
    /// `n_entries`: slots [0, n) are filled, nothing above.
    pub filled: u32,
    /// The handle kind of the first entry ("strong typing": the array's element type).
    pub elem: Option<Kind>,
}

/// The RFC spec: the kernel model for everything else, RFC rules for the handle arrays.
#[derive(Clone, Debug)]
pub struct RfcWorld {
    /// The kernel model, followed along the outcomes both sides agreed on.
    pub base: World,
    /// RLIMIT_NOFILE of the creating process.
    pub nofile: u32,
    /// The RFC arrays by creating handle.
    pub arrays: BTreeMap<Handle, RfcArray>,
}

/// The mainline types that stand in for the RFC's handle arraymap.
pub fn is_rfc_type(t: MapType) -> bool {
    matches!(t, MapType::CgroupArray | MapType::ArrayOfMaps)
}

impl RfcWorld {
    /// A spec world over `base` for a process with this RLIMIT_NOFILE.
    pub fn new(base: World, nofile: u32) -> RfcWorld {
        RfcWorld {
            base,
            nofile,
            arrays: BTreeMap::new(),
        }
    }

    fn array_of(&self, map: FdRef) -> Option<(Handle, &RfcArray)> {
        let FdRef::Handle(h) = map else { return None };
        let creator = self.base.objects.get(&self.base.fds.get(&h)?.obj)?.creator;
        self.arrays.get(&creator).map(|a| (creator, a))
    }

    /// The outcome the RFC allows.
    pub fn allowed(&self, op: &Op) -> Allowed {
        let one = |o: Outcome| Allowed::Exactly(o);
        match op {
            // v9/v10 of the series refuse an array larger than RLIMIT_NOFILE with EMFILE.
            Op::CreateMap { spec, .. } if is_rfc_type(spec.map_type) => match self.base.allowed(op) {
                Allowed::Exactly(Ok(_)) if spec.max_entries > self.nofile => one(Err(Errno::EMFILE)),
                other => other,
            },
            Op::Update {
                map,
                key,
                value,
                flags,
            } => {
                let Some((_, a)) = self.array_of(*map) else {
                    return self.base.allowed(op);
                };
                // The syscall layer is the same: write permission first (map_update_elem).
                if self.base.allowed(op) == Allowed::Exactly(Err(Errno::EPERM)) {
                    return one(Err(Errno::EPERM));
                }
                let i = index(key);
                if *flags != ANY {
                    return one(Err(Errno::EINVAL));
                }
                if i >= a.max_entries {
                    return one(Err(Errno::E2BIG));
                }
                if i >= self.nofile {
                    return one(Err(Errno::EMFILE));
                }
                // Assumption: a hole (append beyond n_entries) is EINVAL.
                if i > a.filled {
                    return one(Err(Errno::EINVAL));
                }
                let kind = match value {
                    Value::Fd(FdRef::Handle(v)) => self.base.fds.get(v).map(|_| v.kind),
                    _ => None,
                };
                match (kind, a.elem) {
                    (None, _) => one(Err(Errno::EBADF)),
                    // Assumption: a handle of another type than the array's is EINVAL.
                    (Some(k), Some(e)) if k != e => one(Err(Errno::EINVAL)),
                    _ => self.base.allowed(op),
                }
            }
            Op::Delete { map, key } => {
                let Some((_, a)) = self.array_of(*map) else {
                    return self.base.allowed(op);
                };
                let i = index(key);
                match self.base.allowed(op) {
                    Allowed::Exactly(Err(e)) if e == Errno::EPERM => one(Err(Errno::EPERM)),
                    _ if i >= a.max_entries => one(Err(Errno::E2BIG)),
                    // Assumption: only the last entry can go, so the prefix stays dense.
                    _ if a.filled == 0 || i != a.filled - 1 => one(Err(Errno::EINVAL)),
                    _ => one(Ok(Ret::Unit)),
                }
            }
            // Assumption: handles are not re-exported to userspace (no id, no fd).
            Op::Lookup { map, .. } if self.array_of(*map).is_some() => match self.base.allowed(op) {
                Allowed::Exactly(Err(e)) if e == Errno::EINVAL || e == Errno::EPERM => self.base.allowed(op),
                _ => one(Err(Errno::ENOTSUPP)),
            },
            _ => self.base.allowed(op),
        }
    }

    /// Follows an outcome both sides agreed on.
    pub fn apply(&mut self, op: &Op, o: &Outcome) {
        if let (Op::CreateMap { handle, spec }, Ok(_)) = (op, o) {
            if is_rfc_type(spec.map_type) {
                self.arrays.insert(
                    *handle,
                    RfcArray {
                        max_entries: spec.max_entries,
                        filled: 0,
                        elem: None,
                    },
                );
            }
        }
        if let (Op::Update { map, key, .. } | Op::Delete { map, key }, Ok(_)) = (op, o) {
            if let Some((creator, _)) = self.array_of(*map) {
                let i = index(key);
                let kind = match op {
                    Op::Update {
                        value: Value::Fd(FdRef::Handle(v)),
                        ..
                    } => Some(v.kind),
                    _ => None,
                };
                let a = self.arrays.get_mut(&creator).expect("array_of found it");
                match op {
                    Op::Update { .. } => {
                        a.filled = a.filled.max(i + 1);
                        a.elem = a.elem.or(kind);
                    }
                    _ => a.filled = i,
                }
            }
        }
        self.base.apply(op, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_line;

    /// Runs `line` through the spec: its single allowed outcome, applied.
    fn step(w: &mut RfcWorld, line: &str) -> Outcome {
        let (op, _) = parse_line(line).unwrap();
        let Allowed::Exactly(o) = w.allowed(&op) else {
            panic!("{line}: {}", w.allowed(&op))
        };
        w.apply(&op, &o);
        o
    }

    fn err(e: Errno) -> Outcome {
        Err(e)
    }

    /// Each RFC rule, in the order the spec checks them: RLIMIT_NOFILE bounds the array and
    /// each index, the prefix is dense (append, replace, delete the last), one handle type
    /// per array, no lookup; other maps follow the kernel model.
    #[test]
    fn the_rfc_arraymap_rules_in_order() {
        let mut w = RfcWorld::new(World::default(), 3);
        assert_eq!(
            step(&mut w, "m9 = create cgroup_array key=4 value=4 entries=4"),
            err(Errno::EMFILE)
        );
        assert!(step(&mut w, "m8 = create array key=4 value=4 entries=4").is_ok());
        assert!(step(&mut w, "m0 = create cgroup_array key=4 value=4 entries=3").is_ok());
        assert!(step(&mut w, "m1 = create cgroup_array key=4 value=4 entries=2").is_ok());
        assert!(step(&mut w, "c0 = mkcgroup").is_ok());
        assert!(step(&mut w, "c1 = mkcgroup").is_ok());
        assert_eq!(w.arrays[&Handle::map(0)].filled, 0);
        // Flags, then the bound, then RLIMIT_NOFILE, then the prefix.
        assert_eq!(
            step(&mut w, "update m0 key=00000000 value=fd:c0 flags=NOEXIST"),
            err(Errno::EINVAL)
        );
        assert_eq!(
            step(&mut w, "update m1 key=02000000 value=fd:c0"),
            err(Errno::E2BIG)
        );
        assert_eq!(
            step(&mut w, "update m0 key=01000000 value=fd:c0"),
            err(Errno::EINVAL)
        );
        assert_eq!(
            step(&mut w, "update m0 key=00000000 value=fd:badfd:closed"),
            err(Errno::EBADF)
        );
        assert_eq!(step(&mut w, "update m0 key=00000000 value=fd:c0"), Ok(Ret::Unit));
        assert_eq!(w.arrays[&Handle::map(0)].elem, Some(Kind::Cgroup));
        assert_eq!(
            step(&mut w, "update m0 key=01000000 value=fd:m8"),
            err(Errno::EINVAL)
        );
        assert_eq!(step(&mut w, "update m0 key=00000000 value=fd:c1"), Ok(Ret::Unit));
        assert_eq!(step(&mut w, "update m0 key=01000000 value=fd:c1"), Ok(Ret::Unit));
        assert_eq!(w.arrays[&Handle::map(0)].filled, 2);
        // Lookup is not offered; delete only at the end of the prefix.
        assert_eq!(step(&mut w, "lookup m0 key=00000000"), err(Errno::ENOTSUPP));
        // The syscall layer's refusals come first (LOOKUP's flags, before the fd).
        assert_eq!(
            step(&mut w, "lookup m0 key=00000000 flags=EXIST"),
            err(Errno::EINVAL)
        );
        assert_eq!(step(&mut w, "delete m0 key=03000000"), err(Errno::E2BIG));
        assert_eq!(step(&mut w, "delete m0 key=00000000"), err(Errno::EINVAL));
        assert_eq!(step(&mut w, "delete m0 key=01000000"), Ok(Ret::Unit));
        assert_eq!(w.arrays[&Handle::map(0)].filled, 1);
        assert_eq!(step(&mut w, "delete m1 key=00000000"), err(Errno::EINVAL));
        // A plain ARRAY is the kernel's: any index, no RLIMIT_NOFILE bound.
        assert_eq!(
            step(&mut w, "update m8 key=03000000 value=01000000"),
            Ok(Ret::Unit)
        );
        assert_eq!(
            step(&mut w, "lookup m8 key=03000000"),
            Ok(Ret::Value(vec![1, 0, 0, 0]))
        );
        assert!(is_rfc_type(MapType::ArrayOfMaps) && !is_rfc_type(MapType::Array));
        // ARRAY_OF_MAPS can be read back in the kernel (an id); the RFC offers no lookup.
        assert!(step(
            &mut w,
            "m2 = create array_of_maps key=4 value=4 entries=2 inner=m8"
        )
        .is_ok());
        assert_eq!(step(&mut w, "lookup m2 key=00000000"), err(Errno::ENOTSUPP));
    }

    /// The syscall layer's refusals stay the kernel's (a frozen array's delete is EPERM, not
    /// the RFC's ok at the end of the prefix); a value that is no handle is EBADF even where
    /// the kernel says EINVAL (ARRAY_OF_MAPS given a file that is not a map).
    #[test]
    fn the_syscall_layer_first_and_no_handle_is_ebadf() {
        let mut w = RfcWorld::new(World::default(), 8);
        assert!(step(&mut w, "m0 = create cgroup_array key=4 value=4 entries=2").is_ok());
        assert!(step(&mut w, "c0 = mkcgroup").is_ok());
        assert_eq!(step(&mut w, "update m0 key=00000000 value=fd:c0"), Ok(Ret::Unit));
        assert_eq!(step(&mut w, "freeze m0"), Ok(Ret::Unit));
        assert_eq!(step(&mut w, "delete m0 key=00000000"), err(Errno::EPERM));
        assert_eq!(w.arrays[&Handle::map(0)].filled, 1);
        assert!(step(&mut w, "m1 = create array key=4 value=4 entries=1").is_ok());
        assert!(step(
            &mut w,
            "m2 = create array_of_maps key=4 value=4 entries=2 inner=m1"
        )
        .is_ok());
        let (op, _) = parse_line("update m2 key=00000000 value=fd:badfd:file").unwrap();
        assert_eq!(w.base.allowed(&op), Allowed::Exactly(err(Errno::EINVAL)));
        assert_eq!(w.allowed(&op), Allowed::Exactly(err(Errno::EBADF)));
    }

    /// The RLIMIT_NOFILE bound on an index comes after max_entries: under a limit of 2, index
    /// 2 of a 3-entry array is EMFILE and index 3 E2BIG.
    #[test]
    fn an_index_at_the_fd_limit_is_emfile() {
        let mut w = RfcWorld::new(World::default(), 3);
        assert!(step(&mut w, "m0 = create cgroup_array key=4 value=4 entries=3").is_ok());
        // The process lowered RLIMIT_NOFILE after creating the array.
        w.nofile = 2;
        assert!(step(&mut w, "c0 = mkcgroup").is_ok());
        for i in 0..2 {
            assert_eq!(
                step(&mut w, &format!("update m0 key=0{i}000000 value=fd:c0")),
                Ok(Ret::Unit)
            );
        }
        assert_eq!(
            step(&mut w, "update m0 key=02000000 value=fd:c0"),
            err(Errno::EMFILE)
        );
        assert_eq!(
            step(&mut w, "update m0 key=03000000 value=fd:c0"),
            err(Errno::E2BIG)
        );
    }
}
