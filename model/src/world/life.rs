//! Lifetimes: which objects are still referenced (fds, pins, maps holding maps, programs'
//! used maps), which are released at once and which after deferred work.

use super::*;

impl World {
    /// Removed cgroups still referenced (dying for certain), and unreferenced ones whose
    /// release (css release work after an RCU grace period) may not have come yet.
    pub fn dying_counts(&self) -> (u32, u32) {
        let dying = |life: Life| {
            self.objects
                .values()
                .filter(|o| o.life == life && matches!(o.body, Body::Cgroup { removed: true }))
                .count() as u32
        };
        (dying(Life::Alive), dying(Life::Pending))
    }

    /// Is a removed cgroup's release pending (so the end of a case settles it)?
    pub fn dying_pending(&self) -> bool {
        let fdtable_ok = self.limits.is_none() || self.has(Fault::DyingSettledInFdtable);
        self.profile.cgroup2 && fdtable_ok && self.dying_counts().1 > 0
    }

    /// A map file was released: PERF_EVENT_ARRAY entries inserted through it go with it
    /// (`perf_event_fd_array_release`, from `bpf_map_release`), unless BPF_F_PRESERVE_ELEMS.
    pub(super) fn release_file(&mut self, file: u32) {
        if self.has(Fault::PerfEntriesOutliveFile) {
            return;
        }
        for o in self.objects.values_mut() {
            if let Body::Map(MapObj {
                data: MapData::Fds(f),
                ..
            }) = &mut o.body
            {
                if f.map_type == MapType::PerfEventArray && !f.preserve {
                    f.slots.retain(|_, held| held.file != file);
                }
            }
        }
    }

    /// Reachability from open fds (and cgroup directories that still exist) through map
    /// slots. An object that loses its last reference by a syscall on it (close, delete,
    /// replace) is gone at once: `bpf_map_put` and `__bpf_prog_put` free the id in the call.
    /// One that was held by a map being freed is released by that map's deferred free
    /// (`bpf_map_free_deferred` on a workqueue; `prog_array_map_clear` for PROG_ARRAY), so it
    /// is pending. Cgroups are always released by css release work, so they are pending too
    /// (and a removed cgroup whose directory is only held open by an fd is unreferenced),
    /// and so is a PROG_ARRAY itself (its uref release defers).
    pub(super) fn recompute_liveness(&mut self) {
        // A PROG_ARRAY without user references (no fd) has its slots cleared by the work
        // `prog_array_map_clear` schedules, even while a program's used_maps holds the array:
        // its slots hold nothing for certain any more, and release later.
        let with_fd: BTreeSet<u32> = self
            .fds
            .values()
            .map(|f| f.obj)
            .chain(self.pins.values().copied())
            .collect();
        let clearing = |i: &u32, f: &FdMap| f.map_type == MapType::ProgArray && !with_fd.contains(i);
        let cleared: Vec<u32> = self
            .objects
            .iter()
            .flat_map(|(i, o)| match &o.body {
                Body::Map(MapObj {
                    data: MapData::Fds(f),
                    ..
                }) if clearing(i, f) => f.slots.values().map(|h| h.obj).collect(),
                _ => Vec::new(),
            })
            .collect();
        // A directory fd does not pin a removed cgroup: only a css reference (a CGROUP_ARRAY
        // slot, via cgroup_get_from_fd) keeps it dying.
        let removed_cgroup = |o: &u32| matches!(self.objects[o].body, Body::Cgroup { removed: true });
        let mut reach: BTreeSet<u32> = self
            .fds
            .values()
            .map(|f| f.obj)
            .filter(|o| !removed_cgroup(o))
            .chain(self.pins.values().copied())
            .collect();
        reach.extend(
            self.objects
                .iter()
                .filter(|(_, o)| matches!(o.body, Body::Cgroup { removed: false }))
                .map(|(i, _)| *i),
        );
        let mut stack: Vec<u32> = reach.iter().copied().collect();
        let inner_edges = !self.has(Fault::InnerFdCloseReleases);
        while let Some(i) = stack.pop() {
            if let Body::Map(MapObj {
                data: MapData::Fds(f),
                ..
            }) = &self.objects[&i].body
            {
                if (!inner_edges && f.map_type.is_map_in_map()) || clearing(&i, f) {
                    continue;
                }
                for held in f.slots.values() {
                    if reach.insert(held.obj) {
                        stack.push(held.obj);
                    }
                }
            }
            if let Body::Prog(_, used) = &self.objects[&i].body {
                if self.has(Fault::ProgDoesNotHoldMaps) {
                    continue;
                }
                for m in used {
                    if reach.insert(*m) {
                        stack.push(*m);
                    }
                }
            }
        }
        // Objects still held in a slot of an unreachable (freed or pending) map, or by a freed
        // program's used_maps (released after an RCU grace period), or just cleared from a
        // PROG_ARRAY by its deferred work.
        let mut held_by_dead: BTreeSet<u32> = self
            .objects
            .iter()
            .filter(|(i, _)| !reach.contains(i))
            .flat_map(|(_, o)| match &o.body {
                Body::Map(MapObj {
                    data: MapData::Fds(f),
                    ..
                }) => f.slots.values().map(|h| h.obj).collect::<Vec<_>>(),
                Body::Prog(_, used) => used.clone(),
                _ => Vec::new(),
            })
            .collect();
        held_by_dead.extend(cleared);
        for (i, o) in self.objects.iter_mut() {
            if o.life != Life::Alive || reach.contains(i) {
                continue;
            }
            // A PROG_ARRAY losing its last user reference clears its slots from a work item
            // that holds a map reference (`prog_array_map_clear`), so its own id lingers too.
            let prog_array = matches!(&o.body, Body::Map(m) if m.spec.map_type == MapType::ProgArray);
            let deferred = held_by_dead.contains(i)
                || prog_array
                || matches!(o.body, Body::Cgroup { .. })
                || self.unpinned.contains(i)
                || self.prog_used.contains(i);
            o.life = if deferred { Life::Pending } else { Life::Gone };
        }
    }
}
