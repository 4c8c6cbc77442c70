//! Programs (a load and the maps it uses, a failed load's object) and what an fd or id
//! says of its object (OBJ_GET_INFO_BY_FD, GET_FD_BY_ID).

use super::*;

impl World {
    /// `bpf_prog_load`: each used map fd is resolved by the verifier
    /// (`resolve_pseudo_ldimm64`: EBADF, EINVAL), then `bpf_check_tail_call` checks every
    /// used PROG_ARRAY against its owner (EINVAL) and a first program sets the owner.
    pub(super) fn load(&self, handle: Handle, spec: &ProgSpec, uses: &[FdRef]) -> Outcome {
        // bpf_prog_load: unknown prog_flags, before any map fd is looked at.
        if spec.xdp_frags && !self.profile.xdp_frags {
            return Err(Why::ProgFlags.errno());
        }
        let mut arrays = Vec::new();
        for r in uses {
            let m = self.fd_as_map(*r)?;
            if let MapData::Fds(f) = &m.data {
                arrays.extend(f.owner.filter(|_| f.map_type == MapType::ProgArray));
            }
        }
        if arrays.iter().any(|o| *o != Owner::of(spec, &self.profile)) {
            return Err(Why::Owner.errno());
        }
        Ok(Ret::Fd(handle))
    }

    /// A load refused by `bpf_check_tail_call` has already given an owner to every ownerless
    /// PROG_ARRAY it checked before the incompatible one (`__bpf_prog_map_compatible` sets
    /// the owner as it goes, in used_maps order): the failed program leaves them bound. It
    /// also held its used maps, and drops them only after an RCU grace period
    /// (`__bpf_prog_put_noref` -> `__bpf_prog_put_rcu`): a nameless, pending program object
    /// keeps them pending too.
    pub(super) fn failed_load(&mut self, handle: Handle, spec: &ProgSpec, uses: &[FdRef]) {
        if spec.xdp_frags && !self.profile.xdp_frags {
            return; // refused for its flags before the maps were looked at
        }
        if uses.iter().any(|r| self.fd_as_map(*r).is_err()) {
            return; // refused by the verifier before it took references
        }
        let mut used: Vec<u32> = uses
            .iter()
            .filter_map(|r| match r {
                FdRef::Handle(h) => Some(self.fds[h].obj),
                FdRef::Bad(_) => None,
            })
            .collect();
        used.sort();
        used.dedup();
        let id = self.next_obj;
        self.next_obj += 1;
        self.objects.insert(
            id,
            Obj {
                creator: handle,
                life: Life::Pending,
                body: Body::Prog(*spec, used),
            },
        );
        let mut seen = Vec::new();
        for r in uses {
            let FdRef::Handle(h) = r else { continue };
            let obj = self.fds[h].obj;
            if seen.contains(&obj) {
                continue;
            }
            seen.push(obj);
            if let Some(Obj {
                body:
                    Body::Map(MapObj {
                        data: MapData::Fds(f),
                        ..
                    }),
                ..
            }) = self.objects.get_mut(&obj)
            {
                if f.map_type != MapType::ProgArray {
                    continue;
                }
                match f.owner {
                    None => f.owner = Some(Owner::of(spec, &self.profile)),
                    Some(o) if o != Owner::of(spec, &self.profile) => return,
                    _ => {}
                }
            }
        }
    }

    /// `bpf_obj_get_info_by_fd` (kernel/bpf/syscall.c): no file is EBADFD, not EBADF (an
    /// O_PATH fd is none to `fdget`); a map goes to `bpf_map_get_info_by_fd`; a file that is no
    /// program, map, BTF or link is EINVAL. No access mode is checked, and frozen is not shown.
    pub(super) fn info(&self, r: FdRef) -> Outcome {
        let fd = match r {
            FdRef::Bad(BadFd::NotBpf) => return Err(Why::InfoNotBpf.errno()),
            FdRef::Bad(_) => return Err(Why::InfoNoFd.errno()),
            FdRef::Handle(h) => self.fds.get(&h).ok_or(Why::InfoNoFd.errno())?,
        };
        if fd.path {
            return Err(Why::InfoOPath.errno());
        }
        let obj = &self.objects[&fd.obj];
        let Body::Map(m) = &obj.body else {
            return Err(Why::InfoNotBpf.errno());
        };
        let s = &m.spec;
        // bpf_map_get_info_by_fd copies the attributes bpf_map_init_from_attr kept:
        // map_flags without the fd-side RDONLY/WRONLY (bpf_map_flags_retain_permanent), the
        // name as bpf_obj_name_cpy left it (up to the first NUL, zero after), value_size as
        // given (not the per-CPU stride), max_entries as given but for per-CPU LRU lists.
        let access = if self.has(Fault::InfoKeepsAccessFlags) {
            0
        } else {
            RDONLY | WRONLY
        };
        let upto = s.name.iter().position(|b| *b == 0).unwrap_or(s.name.len());
        Ok(Ret::Info(MapInfo {
            id: Some(obj.creator),
            map_type: s.map_type,
            key_size: s.key_size,
            value_size: s.value_size,
            // (an LRU hash with per-CPU lists rounds it to a multiple of the CPUs).
            max_entries: match s.map_type.is_lru() {
                true => crate::maps::lru_hash::max_entries(s, self.profile.possible_cpus),
                false => s.max_entries,
            },
            map_flags: s.map_flags & !access,
            name: s.name[..upto].to_vec(),
            map_extra: s.map_extra,
        }))
    }

    /// `bpf_map_get_fd_by_id` / `bpf_prog_get_fd_by_id`: open_flags first, then the id.
    pub(super) fn fd_by_id(&self, handle: Handle, target: Handle, open_flags: u32) -> Outcome {
        let flags_ok = match handle.kind {
            Kind::Map => open_flags & !FD_ACCESS == 0 && open_flags != FD_ACCESS,
            _ => open_flags == 0,
        };
        if !flags_ok {
            return Err(Why::OpenFlags.errno());
        }
        match self.object_of(target) {
            Some(o) if o.life == Life::Alive => Ok(Ret::Fd(handle)),
            _ => Err(Why::NoId.errno()),
        }
    }
}
