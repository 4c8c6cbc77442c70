//! The world a program acts on: kernel objects (maps, programs, cgroups, perf events) with
//! their liveness, the fds that reference them, and the profile.
//! The core idea: `allowed` is a pure function of (world, op) giving the outcomes the kernel
//! may produce, and `apply` moves the world along the outcome the kernel actually chose.

use crate::errno::Errno;
use crate::fault::Fault;
use crate::limits::{memlock_pages, Limits};
use crate::maps::fd_array::{FdMap, Held, Owner, Template};
use crate::maps::{family_of, percpu_store, percpu_stride, ValueMap};
use crate::op::flags::*;
use crate::op::{BadFd, Call, FdRef, Handle, Kind, MapSpec, MapType, Op, ProgSpec, Value};
use crate::outcome::{hex, Allowed, MapInfo, MapState, Outcome, Ret};
use crate::profile::{MemAccounting, Profile};
use crate::reason::Why;
use std::collections::{BTreeMap, BTreeSet};

/// Family-specific contents of a map object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MapData {
    /// A map of bytes, answered by its family's module (`maps::FAMILIES`).
    Values(Box<dyn ValueMap>),
    /// The five fd-holding types: what they hold keeps objects alive, the world's business.
    Fds(FdMap),
}

/// A map object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MapObj {
    /// The attributes it was created with.
    pub spec: MapSpec,
    /// `map->frozen`: no fd may write once set (`map_get_sys_perms`).
    pub frozen: bool,
    /// RLIMIT_MEMLOCK pages it charged (a range; only in the pre-5.11 dialect).
    pub charged: (u64, u64),
    /// The contents.
    pub data: MapData,
    /// Written with `id:` values (`Some(true)`) or with bytes other than zeros (`Some(false)`),
    /// counted from the attempt: a map holds one or the other, so that the backend can read
    /// every non-zero value of a map holding ids back as an id (`Value::Id`).
    pub ids: Option<bool>,
}

/// What an object is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// A BPF map.
    Map(MapObj),
    /// A loaded program and the map objects in its `used_maps`.
    Prog(ProgSpec, Vec<u32>),
    /// A cgroup v2 directory; `removed` after rmdir (then "dying" while referenced).
    Cgroup {
        /// rmdir succeeded.
        removed: bool,
    },
    /// A perf event.
    Perf {
        /// Opened with `inherit = 1`.
        inherit: bool,
    },
}

/// Whether the kernel still has an object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Life {
    /// Referenced.
    Alive,
    /// Unreferenced, but released by deferred kernel work (workqueue, RCU, css release): the
    /// id may still be visible for a while.
    Pending,
    /// Released.
    Gone,
}

/// A kernel object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Obj {
    /// The handle whose op created it (what ids resolve to).
    pub creator: Handle,
    /// Liveness.
    pub life: Life,
    /// What it is.
    pub body: Body,
}

/// One open fd: which object, with which access mode (`f_mode` of the file).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fd {
    /// Index into `World::objects`.
    pub obj: u32,
    /// FMODE_CAN_READ.
    pub read: bool,
    /// FMODE_CAN_WRITE.
    pub write: bool,
    /// The open file description (each fd here has its own).
    pub file: u32,
    /// An O_PATH fd: invisible to `fdget`, so every bpf command but cgroup lookups sees EBADF.
    pub path: bool,
    /// Its number (meaningful only where the fd table is modelled).
    pub num: u32,
}

/// The model's whole state.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct World {
    /// The kernel dialect.
    pub profile: Profile,
    /// Deliberate model bugs switched on (empty in normal runs).
    pub faults: Vec<Fault>,
    /// Every object created in this world, by model-internal number (gone ones too).
    pub objects: BTreeMap<u32, Obj>,
    /// Open fds by handle.
    pub fds: BTreeMap<Handle, Fd>,
    /// Every handle a script has named in a creating op (handles are never reused).
    pub used: BTreeSet<Handle>,
    /// The object each successful creating op made, by creating handle.
    pub created: BTreeMap<Handle, u32>,
    /// Pins in mapcheck's private bpffs, by the handle they are named after.
    pub pins: BTreeMap<Handle, u32>,
    /// Objects whose pin was unlinked where the inode puts its reference after an RCU grace
    /// period (`bpf_free_inode`, before 4f375ade6aa9): when their other references go, their
    /// release is pending, not done.
    pub unpinned: BTreeSet<u32>,
    /// The process's fd table and rlimits, in a case that models them (`Op::FdTable`).
    pub limits: Option<Limits>,
    /// Map ids this case has consumed: a successful create and one refused for want of an fd
    /// (EMFILE after `bpf_map_alloc_id`) each take the next id.
    pub map_ids: u32,
    /// Each created map's place in that sequence.
    pub id_ord: BTreeMap<Handle, u32>,
    /// The CPU the case process is pinned to (`Op::Cpu`), if it is.
    pub cpu: Option<u32>,
    /// Maps a program-side op's program used: that program's release is deferred work
    /// (`bpf_prog_put`), so when their other references go, their release is pending.
    pub prog_used: BTreeSet<u32>,
    next_obj: u32,
    next_file: u32,
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

    pub(crate) fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }

    /// The per-CPU stride the model believes in (a fault may break it).
    fn stride(&self, value_size: u32) -> usize {
        if self.has(Fault::PercpuSlotNotRounded) {
            value_size as usize
        } else {
            percpu_stride(value_size)
        }
    }

    /// Bytes of the value buffer of an element command (`bpf_map_value_size`).
    pub fn value_len(&self, spec: &MapSpec) -> usize {
        if spec.map_type.is_percpu() {
            self.stride(spec.value_size) * self.profile.possible_cpus as usize
        } else if spec.map_type.holds_fds() {
            4
        } else {
            spec.value_size as usize
        }
    }

    /// Bytes of an UPDATE's value buffer with these flags (`bpf_map_value_size`): one
    /// value_size for BPF_F_CPU or BPF_F_ALL_CPUS on a per-CPU map (a kernel without them
    /// refuses the flags before it reads the buffer).
    pub fn value_len_for(&self, spec: &MapSpec, flags: u64) -> usize {
        match spec.map_type.is_percpu() && flags & (F_CPU | F_ALL_CPUS) != 0 {
            true => spec.value_size as usize,
            false => self.value_len(spec),
        }
    }

    /// The map object behind an open handle.
    pub fn map(&self, h: Handle) -> Option<&MapObj> {
        match &self.objects.get(&self.fds.get(&h)?.obj)?.body {
            Body::Map(m) => Some(m),
            _ => None,
        }
    }

    fn map_mut(&mut self, h: Handle) -> Option<&mut MapObj> {
        let obj = self.fds.get(&h)?.obj;
        match &mut self.objects.get_mut(&obj)?.body {
            Body::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The object a creating handle made, if its op succeeded.
    pub fn object_of(&self, creator: Handle) -> Option<&Obj> {
        self.objects.get(self.created.get(&creator)?)
    }

    /// Open handles in order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.fds.keys().copied()
    }

    /// The next unused handle number of a kind, for generation.
    pub fn next_handle(&self, kind: Kind) -> Handle {
        let n = self
            .used
            .iter()
            .filter(|h| h.kind == kind)
            .map(|h| h.n + 1)
            .max()
            .unwrap_or(0);
        Handle { kind, n }
    }

    /// One line on what the model believes about a handle's object: for maps, type, access,
    /// frozen, and up to eight entries (for divergence reports).
    pub fn describe(&self, h: Handle) -> String {
        let Some(fd) = self.fds.get(&h) else {
            return match self.object_of(h) {
                Some(o) => format!("{h}: closed; its object is {:?}", o.life),
                None => format!("{h}: not open"),
            };
        };
        let Some(m) = self.map(h) else {
            return format!("{h}: {:?}", self.objects[&fd.obj].body);
        };
        let access = match (fd.read, fd.write) {
            (true, true) => "rw",
            (true, false) => "read-only fd",
            (false, true) => "write-only fd",
            (false, false) => "no access",
        };
        let frozen = if m.frozen { ", frozen" } else { "" };
        let entries: Vec<(String, String)> = match &m.data {
            MapData::Values(v) => (v.entries().iter())
                .map(|(k, v)| (hex(k), crate::outcome::value_text(v)))
                .collect(),
            MapData::Fds(f) => f
                .slots
                .iter()
                .map(|(k, held)| (hex(k), self.objects[&held.obj].creator.to_string()))
                .collect(),
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

    /// The outcomes the kernel may produce for `op`.
    pub fn allowed(&self, op: &Op) -> Allowed {
        if let Some((_, parts)) = self.split(op) {
            let sets = parts.iter().map(|w| w.allowed(op)).collect();
            return Allowed::union(sets, "an LRU hash written on CPUs the model does not know");
        }
        let a = self.allowed_here(op);
        if self.limits.is_none() || op.creates().is_none() {
            return a;
        }
        // The fd number comes last for bpf(2) (`bpf_map_new_fd` after everything else can
        // fail), but first for open(2) and perf_event_open (`get_unused_fd_flags` before the
        // path walk or the event allocation).
        let next = self.next_fd();
        if next.is_none() && matches!(op, Op::OpenCgroup { .. } | Op::OpenPerf { .. }) {
            return Allowed::Exactly(Err(Why::NoFile.errno()));
        }
        let number = |o: Outcome| match (o, next) {
            (Ok(Ret::Fd(h)), Some(n)) => Ok(Ret::FdAt(h, n)),
            (Ok(Ret::Fd(_)), None) => Err(Why::NoFile.errno()),
            (o, _) => o,
        };
        match a {
            Allowed::Exactly(o) => Allowed::Exactly(number(o)),
            Allowed::OneOf(v, why) => Allowed::OneOf(v.into_iter().map(number).collect(), why),
            a => a,
        }
    }

    fn allowed_here(&self, op: &Op) -> Allowed {
        let one = |o: Outcome| Allowed::Exactly(o);
        let either_alive = || {
            Allowed::OneOf(
                vec![Ok(Ret::Alive(true)), Ok(Ret::Alive(false))],
                "fault alive-either-after-settle",
            )
        };
        if self.has(Fault::ModelPanicsAtFreeze) && matches!(op, Op::Freeze { .. }) {
            panic!("fault model-panics-at-freeze: the oracle itself fails");
        }
        match op {
            Op::FdTable | Op::DropCap => one(Ok(Ret::Unit)),
            // sched_setaffinity: a mask with no active CPU is EINVAL (every possible CPU is
            // taken to be online).
            Op::Cpu { cpu } if *cpu < self.profile.possible_cpus => one(Ok(Ret::Unit)),
            Op::Cpu { .. } => one(Err(Why::CpuOffline.errno())),
            Op::SetRlimit { res, soft, hard } => {
                let l = self.limits.as_ref().expect("precondition");
                one(l.check_set(*res, *soft, *hard).map(|_| Ret::Unit))
            }
            Op::IdGap { from, to } => one(Ok(Ret::Count(self.id_ord[to] - self.id_ord[from]))),
            Op::CreateMap { handle, spec } => self.create(*handle, spec),
            Op::Close { .. } => one(Ok(Ret::Unit)),
            Op::Info { map } => one(self.info(*map)),
            Op::LoadProg { handle, spec, uses } => {
                let load = self.load(*handle, spec, uses);
                // bpf_prog_load before 5.11: bpf_prog_charge_memlock after the prog flags,
                // before the verifier looks at any map (its errors come later).
                let flags_refused = spec.xdp_frags && !self.profile.xdp_frags;
                match &self.limits {
                    Some(l) if !flags_refused => {
                        match l.memlock_allows(&self.profile, (1, 1), self.memlock_charged()) {
                            Some(false) => one(Err(Why::Memlock.errno())),
                            None => Allowed::OneOf(
                                vec![load, Err(Why::Memlock.errno())],
                                "deferred uncharges make the RLIMIT_MEMLOCK edge uncertain",
                            ),
                            Some(true) => one(load),
                        }
                    }
                    _ => one(load),
                }
            }
            Op::MakeCgroup { handle } | Op::OpenPerf { handle, .. } => one(Ok(Ret::Fd(*handle))),
            // bpf_obj_pin_user: bpf_fd_probe_obj tries map, program and link and answers
            // EINVAL for anything else (an O_PATH fd too), then bpf_obj_do_pin creates the
            // inode (EEXIST if the name exists).
            Op::Pin { target } => {
                let fd = &self.fds[target];
                one(match &self.objects[&fd.obj].body {
                    _ if fd.path => Err(Why::NotPinnable.errno()),
                    Body::Map(_) | Body::Prog(..) if self.pins.contains_key(target) => {
                        Err(Why::PinExists.errno())
                    }
                    Body::Map(_) | Body::Prog(..) => Ok(Ret::Unit),
                    _ => Err(Why::NotPinnable.errno()),
                })
            }
            Op::Unpin { target } => one(if self.pins.contains_key(target) {
                Ok(Ret::Unit)
            } else {
                Err(Why::NoPin.errno())
            }),
            // bpf_obj_get_user: file_flags first (bpf_get_file_flag), then the path.
            Op::GetPinned {
                handle,
                target,
                file_flags,
            } => one(if file_flags & !FD_ACCESS != 0 || *file_flags == FD_ACCESS {
                Err(Why::FileFlags.errno())
            } else if self.pins.contains_key(target) {
                Ok(Ret::Fd(*handle))
            } else {
                Err(Why::NoPin.errno())
            }),
            Op::FdById {
                handle,
                target,
                open_flags,
            } => one(self.fd_by_id(*handle, *target, *open_flags)),
            Op::Alive { target } => match self.object_of(*target).map(|o| o.life) {
                Some(Life::Alive) => one(Ok(Ret::Alive(true))),
                Some(Life::Pending) => Allowed::OneOf(
                    vec![Ok(Ret::Alive(true)), Ok(Ret::Alive(false))],
                    "released by deferred kernel work (bpf_map_free_deferred, prog_array_map_clear)",
                ),
                _ if self.has(Fault::AliveEitherAfterSettle) => either_alive(),
                _ => one(Ok(Ret::Alive(false))),
            },
            Op::Settle { .. } if self.has(Fault::AliveEitherAfterSettle) => either_alive(),
            // A held object is still there when the wait gives up (the generator never asks:
            // it would wait the whole bound; a script may).
            Op::Settle { target } => match self.object_of(*target).map(|o| o.life) {
                Some(Life::Alive) => one(Ok(Ret::Alive(true))),
                _ => one(Ok(Ret::Alive(false))),
            },
            Op::OpenCgroup { handle, target, .. } => match self.object_of(*target).map(|o| &o.body) {
                Some(Body::Cgroup { removed: false }) => one(Ok(Ret::Fd(*handle))),
                _ => one(Err(Why::Removed.errno())),
            },
            Op::Rmdir { target } => match self.object_of(*target).map(|o| &o.body) {
                Some(Body::Cgroup { removed: false }) => one(Ok(Ret::Unit)),
                _ => one(Err(Why::Removed.errno())),
            },
            Op::SettleDying { max } => {
                // The wait ends at `max` or after 5 s: a count above `sure` is a cgroup whose
                // release never came, below `sure` one freed while referenced.
                let (sure, maybe) = self.dying_counts();
                let top = match self.has(Fault::DyingNeverNarrows) {
                    true => sure + maybe,
                    false => (*max).max(sure).min(sure + maybe),
                };
                if top == sure {
                    one(Ok(Ret::Count(sure)))
                } else {
                    Allowed::OneOf(
                        (sure..=top).map(|n| Ok(Ret::Count(n))).collect(),
                        "the wait ends as soon as at most `max` cgroups are dying",
                    )
                }
            }
            Op::Dying => {
                let (sure, maybe) = self.dying_counts();
                if maybe == 0 {
                    one(Ok(Ret::Count(sure)))
                } else {
                    Allowed::OneOf(
                        (sure..=sure + maybe).map(|n| Ok(Ret::Count(n))).collect(),
                        "an unreferenced cgroup is freed by css release work after an RCU grace period",
                    )
                }
            }
            Op::Fill { map, n, from } => self.fill(*map, *n, *from),
            Op::ProgElem { .. } => one(self.prog_elem(op)),
            Op::LookupBatch { .. } | Op::UpdateBatch { .. } | Op::DeleteBatch { .. } => self.batch(op),
            _ => match self.element(op) {
                Ok(a) => a,
                Err(e) => one(Err(e)),
            },
        }
    }

    /// The worlds that differ only in the state of the map `op` reads or writes, where its
    /// answer depends on which (`ValueMap::split`: an LRU hash an unpinned case wrote), with
    /// that map's fd handle.
    fn split(&self, op: &Op) -> Option<(Handle, Vec<World>)> {
        if matches!(op, Op::Close { .. } | Op::Info { .. } | Op::Freeze { .. }) {
            return None;
        }
        let Some(FdRef::Handle(h)) = op.map_ref() else {
            return None;
        };
        let MapData::Values(v) = &self.map(h)?.data else {
            return None;
        };
        let write = matches!(
            op,
            Op::Update { .. }
                | Op::UpdateBatch { .. }
                | Op::Fill { .. }
                | Op::ProgElem {
                    call: crate::op::Call::Update,
                    ..
                }
        );
        let parts = v.split(write);
        if parts.is_empty() {
            return None;
        }
        let worlds = parts
            .into_iter()
            .map(|p| {
                let mut w = self.clone();
                if let Some(m) = w.map_mut(h) {
                    m.data = MapData::Values(p);
                }
                w
            })
            .collect();
        Some((h, worlds))
    }

    /// `apply` where the map may be in several states: the kernel's answer keeps the states
    /// that allow it (all of them if none does: the run reports that divergence), each
    /// follows the op, and the map becomes the states they reached.
    fn apply_split(&mut self, h: Handle, parts: Vec<World>, op: &Op, o: &Outcome) {
        let never = self.has(Fault::LruStatesNeverNarrow);
        let (kept, refused): (Vec<World>, Vec<World>) = parts
            .into_iter()
            .partition(|w| never || w.admits(op, &w.allowed(op), o));
        let mut kept = if kept.is_empty() { refused } else { kept };
        let mut states = Vec::new();
        for w in &mut kept {
            w.apply(op, o);
            if let Some(MapObj {
                data: MapData::Values(v),
                ..
            }) = w.map(h)
            {
                states.push(v.clone_box());
            }
        }
        let cpu = self.cpu;
        *self = kept.swap_remove(0);
        if let Some(MapObj {
            data: MapData::Values(v),
            ..
        }) = self.map_mut(h)
        {
            v.merge(states, cpu);
        }
    }

    /// Does the kernel's outcome fall in the allowed set?
    pub fn admits(&self, op: &Op, allowed: &Allowed, o: &Outcome) -> bool {
        let map = match op.map_ref() {
            Some(FdRef::Handle(h)) => self.map(h),
            _ => None,
        };
        let present = |k: &[u8]| match map.map(|m| &m.data) {
            Some(MapData::Values(v)) => v.has_key(k),
            Some(MapData::Fds(f)) => f.slots.contains_key(k),
            None => false,
        };
        allowed.admits(o, &present)
    }

    /// The number the next fd gets, `None` for EMFILE (only where the fd table is modelled).
    pub fn next_fd(&self) -> Option<u32> {
        let l = self.limits.as_ref()?;
        l.next_fd(
            self.fds.values().map(|f| f.num),
            self.has(Fault::FdNumbersNotReused),
            self.has(Fault::FdLimitIgnored),
        )
    }

    fn new_fd(&mut self, h: Handle, obj: u32, read: bool, write: bool, path: bool) {
        let num = self.next_fd().unwrap_or(0);
        self.next_file += 1;
        self.fds.insert(
            h,
            Fd {
                obj,
                read,
                write,
                file: self.next_file,
                path,
                num,
            },
        );
    }

    fn new_obj(&mut self, creator: Handle, body: Body) -> u32 {
        let id = self.next_obj;
        self.next_obj += 1;
        self.objects.insert(
            id,
            Obj {
                creator,
                life: Life::Alive,
                body,
            },
        );
        self.created.insert(creator, id);
        id
    }

    /// Moves the world along an outcome that `admits` accepted.
    pub fn apply(&mut self, op: &Op, o: &Outcome) {
        if let Some((h, parts)) = self.split(op) {
            return self.apply_split(h, parts, op, o);
        }
        if let Some(h) = op.creates() {
            self.used.insert(h);
        }
        match (op, o) {
            // A load refused after verification (EINVAL from bpf_check_tail_call), or for
            // want of an fd after the program was complete, is freed the same way.
            (Op::LoadProg { handle, spec, uses }, Err(e)) if *e == Errno::EINVAL || *e == Errno::EMFILE => {
                self.failed_load(*handle, spec, uses)
            }
            // map_create: the id is allocated before the fd; without an fd the map is put
            // at once (`bpf_map_put_with_uref`), and the id stays consumed.
            (Op::CreateMap { .. }, Err(e))
                if *e == Errno::EMFILE && !self.has(Fault::EmfileCreateKeepsNoId) =>
            {
                self.map_ids += 1;
            }
            // mkdir succeeded before the open(2) that found no free fd.
            (Op::MakeCgroup { handle }, Err(e)) if *e == Errno::EMFILE => {
                self.new_obj(*handle, Body::Cgroup { removed: false });
            }
            (Op::FdTable, Ok(_)) => self.limits = Some(Limits::at_start(&self.profile)),
            (Op::SetRlimit { res, soft, hard }, Ok(_)) => {
                if let Some(l) = &mut self.limits {
                    l.set(*res, *soft, *hard);
                }
            }
            (Op::DropCap, Ok(_)) => {
                if let Some(l) = &mut self.limits {
                    l.cap_sys_resource = false;
                }
            }
            (Op::CreateMap { handle, .. }, Ok(_)) => {
                self.id_ord.insert(*handle, self.map_ids);
                self.map_ids += 1;
            }
            (Op::Cpu { cpu }, Ok(_)) => {
                self.cpu = Some(*cpu);
                for obj in self.objects.values_mut() {
                    if let Body::Map(MapObj {
                        data: MapData::Values(v),
                        ..
                    }) = &mut obj.body
                    {
                        v.on_cpu(*cpu);
                    }
                }
            }
            _ => {}
        }
        self.observe_order(op, o);
        if let Some(MapObj {
            data: MapData::Values(v),
            ..
        }) = op.map_ref().and_then(|r| match r {
            FdRef::Handle(h) => self.map_mut(h),
            FdRef::Bad(_) => None,
        }) {
            v.observe(op, o);
        }
        // A write makes its map one holding ids or bytes from the attempt on (`MapObj::ids`).
        match op {
            Op::Update {
                map: FdRef::Handle(h),
                value,
                ..
            } => self.mark_ids(*h, std::slice::from_ref(value)),
            Op::UpdateBatch {
                map: FdRef::Handle(h),
                values,
                ..
            } => self.mark_ids(*h, values),
            Op::Fill { map, .. } => self.mark_ids(*map, &[Value::Bytes(vec![1])]),
            _ => {}
        }
        if let Op::ProgElem { .. } = op {
            return self.prog_elem_done(op, o);
        }
        let Ok(ret) = o else { return };
        let reset_owner = self.has(Fault::OwnerResetsWhenEmpty);
        let faults = self.faults.clone();
        match op {
            Op::CreateMap { handle, spec } => {
                let value_len = self.value_len(spec);
                let data = if spec.map_type.holds_fds() {
                    let template = match spec.inner {
                        Some(FdRef::Handle(h)) => self.map(h).map(|m| Template::of(&m.spec)),
                        _ => None,
                    };
                    MapData::Fds(FdMap::new(spec, template, self.profile.fd_htab_update_in_place))
                } else {
                    let new = family_of(spec.map_type)
                        .new
                        .expect("a family of bytes makes its maps");
                    let mut v = new(spec, value_len, &self.profile, &self.faults);
                    if let Some(cpu) = self.cpu {
                        v.on_cpu(cpu);
                    }
                    MapData::Values(v)
                };
                let charged = match self.profile.mem_accounting {
                    MemAccounting::Rlimit => memlock_pages(self.alloc_estimate(spec)),
                    MemAccounting::Memcg => (0, 0),
                };
                let obj = self.new_obj(
                    *handle,
                    Body::Map(MapObj {
                        spec: spec.clone(),
                        frozen: false,
                        charged,
                        data,
                        ids: None,
                    }),
                );
                self.new_fd(
                    *handle,
                    obj,
                    spec.map_flags & WRONLY == 0,
                    spec.map_flags & RDONLY == 0,
                    false,
                );
            }
            Op::LoadProg { handle, spec, uses } => {
                let mut used: Vec<u32> = uses
                    .iter()
                    .filter_map(|r| match r {
                        FdRef::Handle(h) => self.fds.get(h).map(|fd| fd.obj),
                        FdRef::Bad(_) => None,
                    })
                    .collect();
                used.sort();
                used.dedup();
                for o in &used {
                    if let Some(Obj {
                        body:
                            Body::Map(MapObj {
                                data: MapData::Fds(f),
                                ..
                            }),
                        ..
                    }) = self.objects.get_mut(o)
                    {
                        if f.map_type == MapType::ProgArray {
                            f.owner.get_or_insert(Owner::of(spec, &self.profile));
                        }
                    }
                }
                let obj = self.new_obj(*handle, Body::Prog(*spec, used));
                self.new_fd(*handle, obj, true, true, false);
            }
            Op::MakeCgroup { handle } => {
                let obj = self.new_obj(*handle, Body::Cgroup { removed: false });
                self.new_fd(*handle, obj, true, false, false);
            }
            Op::OpenCgroup { handle, target, path } => {
                let obj = self.created[target];
                self.new_fd(*handle, obj, !path, false, *path);
            }
            Op::OpenPerf { handle, inherit } => {
                let obj = self.new_obj(*handle, Body::Perf { inherit: *inherit });
                self.new_fd(*handle, obj, true, true, false);
            }
            Op::FdById {
                handle,
                target,
                open_flags,
            } => {
                let obj = self.created[target];
                self.new_fd(
                    *handle,
                    obj,
                    open_flags & WRONLY == 0,
                    open_flags & RDONLY == 0,
                    false,
                );
            }
            Op::Pin { target } => {
                let obj = self.fds[target].obj;
                self.pins.insert(*target, obj);
            }
            Op::Unpin { target } => {
                if let Some(obj) = self.pins.remove(target) {
                    if !self.profile.unpin_frees_at_once {
                        self.unpinned.insert(obj);
                    }
                }
            }
            Op::GetPinned {
                handle,
                target,
                file_flags,
            } => {
                let obj = self.pins[target];
                let (read, write) = match handle.kind {
                    Kind::Map => (file_flags & WRONLY == 0, file_flags & RDONLY == 0),
                    _ => (true, true),
                };
                self.new_fd(*handle, obj, read, write, false);
            }
            Op::Rmdir { target } => {
                let obj = self.created[target];
                if let Some(Obj {
                    body: Body::Cgroup { removed },
                    ..
                }) = self.objects.get_mut(&obj)
                {
                    *removed = true;
                }
            }
            // Exactly the referenced ones are dying: every pending release has come (the
            // kernel's choice is observed, so the set narrows).
            Op::Dying | Op::SettleDying { .. }
                if *ret == Ret::Count(self.dying_counts().0) && !self.has(Fault::DyingNeverNarrows) =>
            {
                for o in self.objects.values_mut() {
                    if o.life == Life::Pending && matches!(o.body, Body::Cgroup { removed: true }) {
                        o.life = Life::Gone;
                    }
                }
            }
            Op::Alive { target } | Op::Settle { target } if *ret == Ret::Alive(false) => {
                if let Some(o) = self.created.get(target).and_then(|i| self.objects.get_mut(i)) {
                    o.life = Life::Gone;
                }
            }
            Op::Close { handle } => {
                if let Some(fd) = self.fds.remove(handle) {
                    self.release_file(fd.file);
                }
            }
            Op::Update {
                map: FdRef::Handle(h),
                key,
                value,
                flags,
            } => {
                let id = match value {
                    // The bytes of the named map's id, as the handle that made it.
                    Value::Id(v) => {
                        let named = match self.has(Fault::IdValueOfWrittenMap) {
                            true => h,
                            false => v,
                        };
                        let creator = self.fds.get(named).map(|fd| self.objects[&fd.obj].creator);
                        Some(crate::outcome::id_bytes(creator))
                    }
                    _ => None,
                };
                let value = match &id {
                    Some(b) => &Value::Bytes(b.clone()),
                    None => value,
                };
                let stride = self.map(*h).map(|m| self.stride(m.spec.value_size));
                let cpus = self.profile.possible_cpus as usize;
                let roundtrip = self.profile.percpu_padding_roundtrips;
                let file = self.fds[h].file;
                let held = match value {
                    Value::Fd(FdRef::Handle(v)) => self.fds.get(v).map(|fd| fd.obj),
                    _ => None,
                };
                let owner = held.and_then(|o| match &self.objects[&o].body {
                    Body::Prog(p, _) => Some(Owner::of(p, &self.profile)),
                    _ => None,
                });
                let Some(m) = self.map_mut(*h) else { return };
                match (&mut m.data, value) {
                    (MapData::Fds(f), _) => {
                        if let Some(obj) = held {
                            if let Some(order) = &mut f.order {
                                order.update(key, faults.contains(&Fault::HashOrderTailInsert));
                            }
                            f.slots.insert(key.clone(), Held { obj, file });
                            if let (MapType::ProgArray, None, Some(o)) = (f.map_type, f.owner, owner) {
                                f.owner = Some(o);
                            }
                        }
                    }
                    (data, Value::Bytes(v)) => {
                        let stored = match (m.spec.map_type.is_percpu(), stride) {
                            (true, Some(s)) if flags & (F_CPU | F_ALL_CPUS) != 0 => {
                                // BPF_F_ALL_CPUS writes the value to every CPU, BPF_F_CPU to
                                // one; value_size bytes each (`copy_map_value`). A new hash
                                // element starts zeroed (c3a66e5f5bab).
                                let before = match &*data {
                                    MapData::Values(m) if !m.update_evicts(key, *flags) => m.value(key),
                                    _ => None,
                                };
                                let mut full = before.unwrap_or_else(|| vec![0; s * cpus]);
                                let vs = m.spec.value_size as usize;
                                let one_cpu = (flags & F_CPU != 0).then_some((flags >> 32) as usize);
                                for cpu in (0..cpus).filter(|c| one_cpu.is_none_or(|o| o == *c)) {
                                    full[cpu * s..cpu * s + vs].copy_from_slice(&v[..vs]);
                                }
                                full
                            }
                            (true, Some(s)) if !roundtrip => percpu_store(v, m.spec.value_size, s),
                            _ => v.clone(),
                        };
                        if let MapData::Values(m) = data {
                            m.store(key, stored, &faults);
                        }
                    }
                    _ => {}
                }
            }
            Op::Delete {
                map: FdRef::Handle(h),
                key,
            }
            | Op::LookupAndDelete {
                map: FdRef::Handle(h),
                key,
                ..
            } => match self.map_mut(*h).map(|m| &mut m.data) {
                Some(MapData::Values(m)) => m.remove(key),
                Some(MapData::Fds(f)) => {
                    if let Some(order) = &mut f.order {
                        order.remove(key);
                    }
                    f.slots.remove(key);
                    if f.slots.is_empty() && reset_owner {
                        f.owner = None;
                    }
                }
                _ => {}
            },
            Op::Freeze {
                map: FdRef::Handle(h),
            } => {
                if let Some(m) = self.map_mut(*h) {
                    m.frozen = true;
                }
            }
            Op::LookupBatch { .. } | Op::UpdateBatch { .. } | Op::DeleteBatch { .. } => {
                for one in self.batch_done(op, o) {
                    self.apply(&one, &Ok(Ret::Unit));
                }
            }
            Op::Fill { map, n, from } => {
                let n = match self.has(Fault::FillSkipsLast) {
                    true => n.saturating_sub(1),
                    false => *n,
                };
                for i in 0..n {
                    let op = self.fill_update(*map, from + i);
                    self.apply(&op, &Ok(Ret::Unit));
                }
            }
            _ => {}
        }
        // Only these can drop a reference; everything else leaves liveness as it was.
        let fd_map = |r: &FdRef| match r {
            FdRef::Handle(h) => self.map(*h).is_some_and(|m| matches!(m.data, MapData::Fds(_))),
            FdRef::Bad(_) => false,
        };
        let drops = match op {
            Op::Close { .. } | Op::Rmdir { .. } | Op::Unpin { .. } => true,
            Op::Update { map, .. } | Op::Delete { map, .. } | Op::LookupAndDelete { map, .. } => fd_map(map),
            _ => false,
        };
        if drops {
            self.recompute_liveness();
        }
    }

    /// Remembers what a hash's GET_NEXT_KEY or `check` walk showed, until the order changes:
    /// the same question must get the same answer (`htab_map_get_next_key` reads bucket
    /// lists that only updates and deletes relink).
    fn observe_order(&mut self, op: &Op, o: &Outcome) {
        let (Op::GetNextKey {
            map: FdRef::Handle(h),
            ..
        }
        | Op::Check {
            map: FdRef::Handle(h),
        }) = op
        else {
            return;
        };
        let Some(m) = self.map_mut(*h) else { return };
        let key_size = m.spec.key_size as usize;
        let order = match &mut m.data {
            MapData::Values(m) => match m.order_mut() {
                Some(o) => o,
                None => return,
            },
            MapData::Fds(FdMap { order: Some(o), .. }) => o,
            MapData::Fds(_) => return,
        };
        match (op, o) {
            (Op::GetNextKey { key, .. }, Ok(Ret::Key(to))) => order.observe(key.as_deref(), Some(to)),
            (Op::GetNextKey { key, .. }, Err(e)) if *e == Errno::ENOENT => {
                order.observe(key.as_deref(), None)
            }
            (Op::Check { .. }, Ok(Ret::State(MapState { walk: Some(w), .. }))) => {
                order.observe_walk(w.chunks(key_size.max(1)))
            }
            // (`admits` took this walk only if it visited each key once.)
            (Op::Check { .. }, Ok(Ret::Slots(s))) => order.observe_walk(s.walk.iter().map(Vec::as_slice)),
            _ => {}
        }
    }
}

mod batch;
mod create;
mod element;
mod life;
mod objects;
mod precondition;

pub use create::{kernel_isalnum, name_ok};
pub use precondition::{batch_cursor_len, is_bucket_cursor, MAX_BATCH};

#[cfg(test)]
mod tests;
