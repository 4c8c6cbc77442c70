//! The world a program acts on: kernel objects (maps, programs, cgroups, perf events) with
//! their liveness, the fds that reference them, and the profile.
//! The core idea: `allowed` is a pure function of (world, op) giving the outcomes the kernel
//! may produce, and `apply` moves the world along the outcome the kernel actually chose.

use crate::errno::Errno;
use crate::fault::Fault;
use crate::limits::{memlock_pages, Limits};
use crate::maps::array::{self, ArrayMap};
use crate::maps::fd_array::{FdMap, Held, Owner, Template};
use crate::maps::hash::{self, HashMap, HashOrder};
use crate::maps::{percpu_store, percpu_stride};
use crate::op::flags::*;
use crate::op::{BadFd, FdRef, Handle, Kind, MapSpec, MapType, Op, ProgSpec, Value};
use crate::outcome::{hex, Allowed, MapInfo, MapState, Outcome, Ret};
use crate::profile::{MemAccounting, Profile};
use crate::reason::Why;
use std::collections::{BTreeMap, BTreeSet};

/// Family-specific contents of a map object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MapData {
    /// ARRAY, PERCPU_ARRAY.
    Array(ArrayMap),
    /// HASH, PERCPU_HASH.
    Hash(HashMap),
    /// The five fd-holding types.
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

/// Above this estimated allocation a successful create may also fail with ENOMEM.
const ENOMEM_THRESHOLD: u64 = 1 << 30;

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
            MapData::Array(a) => a
                .written
                .iter()
                .map(|(i, v)| (hex(&i.to_le_bytes()), hex(v)))
                .collect(),
            MapData::Hash(hm) => hm.entries.iter().map(|(k, v)| (hex(k), hex(v))).collect(),
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

    /// Why `op` cannot run in this world (a stale script), or `Ok`.
    pub fn precondition(&self, op: &Op) -> Result<(), String> {
        if !self.profile.bpffs && matches!(op, Op::Pin { .. } | Op::Unpin { .. } | Op::GetPinned { .. }) {
            return Err("no private bpf filesystem can be mounted here".into());
        }
        let cgroup_op = matches!(
            op,
            Op::MakeCgroup { .. }
                | Op::OpenCgroup { .. }
                | Op::Rmdir { .. }
                | Op::Dying
                | Op::SettleDying { .. }
        );
        if !self.profile.cgroup2 && cgroup_op {
            return Err("no writable cgroup v2 mount here".into());
        }
        if self.limits.is_some() && matches!(op, Op::Dying | Op::SettleDying { .. }) {
            return Err("`dying` reads a file, which needs a spare fd: not in an fdtable case".into());
        }
        if let Some(h) = op.creates() {
            if self.used.contains(&h) {
                return Err(format!("{h} is already defined"));
            }
        }
        let open = |h: &Handle| {
            if self.fds.contains_key(h) {
                Ok(())
            } else {
                Err(format!("{h} is not open"))
            }
        };
        let fdref_ok = |r: &FdRef| match r {
            FdRef::Handle(h) => open(h),
            FdRef::Bad(_) => Ok(()),
        };
        let made = |h: &Handle| self.object_of(*h).ok_or_else(|| format!("{h} was never created"));
        let needs_table = matches!(op, Op::SetRlimit { .. } | Op::DropCap | Op::IdGap { .. });
        if needs_table && self.limits.is_none() {
            return Err(format!("`{}` needs a case that starts with `fdtable`", op.kind()));
        }
        match op {
            Op::FdTable => {
                if self.limits.is_some() || !self.used.is_empty() {
                    return Err("`fdtable` must be the first op of a case".into());
                }
                return Ok(());
            }
            Op::SetRlimit { .. } | Op::DropCap => return Ok(()),
            Op::IdGap { from, to } => {
                return match (self.id_ord.get(from), self.id_ord.get(to)) {
                    (Some(a), Some(b)) if a < b => Ok(()),
                    (Some(_), Some(_)) => Err(format!("{from} must be created before {to}")),
                    _ => Err("idgap compares two maps this case created".into()),
                };
            }
            Op::CreateMap { spec, .. } => {
                if let MapType::Other(n) = spec.map_type {
                    if n != 0 && n < 64 {
                        return Err(format!("map type {n} is not modelled"));
                    }
                }
                if spec.name.len() > 16 {
                    return Err("map name longer than 16 bytes".into());
                }
                match (spec.map_type.is_map_in_map(), spec.inner) {
                    (true, None) => return Err("a map-in-map needs inner=".into()),
                    (false, Some(_)) => return Err("inner= is only for map-in-map types".into()),
                    (_, Some(r)) => fdref_ok(&r)?,
                    _ => {}
                }
                return Ok(());
            }
            Op::Close { handle } => return open(handle),
            // A program fd answers with a `bpf_prog_info`, which the model does not predict.
            Op::Info { map } => {
                fdref_ok(map)?;
                return match map {
                    FdRef::Handle(h) if h.kind == Kind::Prog => Err(format!(
                        "`info {h}`: info reads map fds; a program's is bpf_prog_info"
                    )),
                    _ => Ok(()),
                };
            }
            Op::FdById { handle, target, .. } => {
                if !matches!(handle.kind, Kind::Map | Kind::Prog) {
                    return Err("fd_by_id is for maps and programs".into());
                }
                let o = made(target)?;
                if o.life == Life::Pending {
                    return Err(format!("{target}'s release is pending: settle it first"));
                }
                let prog_array = matches!(&o.body, Body::Map(m) if m.spec.map_type == MapType::ProgArray);
                let no_fd = !self
                    .fds
                    .values()
                    .any(|f| Some(&f.obj) == self.created.get(target));
                if prog_array && no_fd {
                    return Err(format!(
                        "{target} lost its user references: a new fd races prog_array_map_clear"
                    ));
                }
                return Ok(());
            }
            Op::Alive { target } | Op::Settle { target } => {
                if !matches!(target.kind, Kind::Map | Kind::Prog) {
                    return Err("alive and settle observe maps and programs (by id)".into());
                }
                made(target)?;
                return Ok(());
            }
            Op::OpenCgroup { target, .. } | Op::Rmdir { target } => {
                if target.kind != Kind::Cgroup {
                    return Err(format!("{target} is not a cgroup handle"));
                }
                made(target)?;
                return Ok(());
            }
            Op::LoadProg { uses, .. } => return uses.iter().try_for_each(fdref_ok),
            Op::MakeCgroup { .. } | Op::OpenPerf { .. } | Op::Dying | Op::SettleDying { .. } => return Ok(()),
            Op::Pin { target } => return open(target),
            Op::Unpin { target } => {
                return match self.used.contains(target) {
                    true => Ok(()),
                    false => Err(format!("{target} was never defined")),
                }
            }
            Op::GetPinned { handle, target, .. } => {
                if !matches!(handle.kind, Kind::Map | Kind::Prog) {
                    return Err("get_pinned makes map or program handles".into());
                }
                return match self.pins.get(target).map(|o| &self.objects[o].body) {
                    Some(Body::Map(_)) if handle.kind != Kind::Map => Err(format!("{target} pins a map")),
                    Some(Body::Prog(..)) if handle.kind != Kind::Prog => {
                        Err(format!("{target} pins a program"))
                    }
                    _ => Ok(()),
                };
            }
            // Element ops: checked below. (No `_` arm: a new op must say what it needs.)
            Op::Fill { .. }
            | Op::Update { .. }
            | Op::Lookup { .. }
            | Op::Delete { .. }
            | Op::GetNextKey { .. }
            | Op::LookupAndDelete { .. }
            | Op::Freeze { .. }
            | Op::Check { .. } => {}
        }
        let Some(map_ref) = op.map_ref() else {
            unreachable!("element ops name a map")
        };
        fdref_ok(&map_ref)?;
        let FdRef::Handle(h) = map_ref else { return Ok(()) };
        // An element op through a non-map fd is fine (EINVAL); sizes only matter for maps.
        let Some(m) = self.map(h) else { return Ok(()) };
        let key_ok = |k: &[u8]| k.len() == m.spec.key_size as usize;
        match op {
            Op::Update {
                key, value, flags, ..
            } => {
                // With the CPU flags either buffer will do: the kernel reads the first value.
                let want = self.value_len_for(&m.spec, *flags);
                let full = self.value_len(&m.spec);
                if !key_ok(key) {
                    return Err(format!("{h} takes {}-byte keys", m.spec.key_size));
                }
                match (m.spec.map_type.holds_fds(), value) {
                    (true, Value::Fd(r)) => fdref_ok(r),
                    (true, Value::Bytes(_)) => Err(format!("{h} holds fds: value=fd:<handle>")),
                    (false, Value::Fd(_)) => Err(format!("{h} holds bytes, not fds")),
                    (false, Value::Bytes(b)) if b.len() != want && b.len() != full => {
                        Err(format!("{h} takes {want}-byte values"))
                    }
                    _ => Ok(()),
                }
            }
            Op::Lookup { key, .. } | Op::Delete { key, .. } | Op::LookupAndDelete { key, .. }
                if !key_ok(key) =>
            {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            Op::GetNextKey { key: Some(key), .. } if !key_ok(key) => {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            // A scale run's fill: every element an insert that succeeds (distinct keys, room
            // for all), so the batch's one count says everything.
            Op::Fill { n, .. } => {
                let empty = match &m.data {
                    MapData::Array(a) => a.written.is_empty(),
                    MapData::Hash(hm) => hm.entries.is_empty(),
                    MapData::Fds(_) => return Err(format!("fill writes bytes; {h} holds fds")),
                };
                let key_space = 1u64 << (8 * m.spec.key_size.min(4));
                if !empty || m.frozen {
                    Err(format!("fill needs {h} empty and not frozen"))
                } else if u64::from(*n) > u64::from(m.spec.max_entries).min(key_space) {
                    Err(format!(
                        "fill n={n}: {h} has room for {}",
                        u64::from(m.spec.max_entries).min(key_space)
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The outcomes the kernel may produce for `op`.
    pub fn allowed(&self, op: &Op) -> Allowed {
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
            Op::Fill { map, n } => self.fill(*map, *n),
            _ => match self.element(op) {
                Ok(a) => a,
                Err(e) => one(Err(e)),
            },
        }
    }

    /// `fill`'s element `i` as the UPDATE it is (`generic_map_update_batch` calls
    /// `bpf_map_update_value` with the batch's elem_flags, 0, for each).
    fn fill_update(&self, map: Handle, i: u32) -> Op {
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
    fn fill(&self, map: Handle, n: u32) -> Allowed {
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
        match self.allowed(&self.fill_update(map, 0)) {
            Allowed::Exactly(Ok(_)) => Allowed::Exactly(Ok(Ret::Count(n))),
            Allowed::Exactly(Err(e)) => Allowed::Exactly(Err(e)),
            _ => Allowed::OneOf(Vec::new(), "fill: an element's update is not certain"),
        }
    }

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

    /// Does the kernel's outcome fall in the allowed set?
    pub fn admits(&self, op: &Op, allowed: &Allowed, o: &Outcome) -> bool {
        let map = match op.map_ref() {
            Some(FdRef::Handle(h)) => self.map(h),
            _ => None,
        };
        let present = |k: &[u8]| match map.map(|m| &m.data) {
            Some(MapData::Hash(hm)) => hm.entries.contains_key(k),
            Some(MapData::Fds(f)) => f.slots.contains_key(k),
            _ => false,
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
            _ => {}
        }
        self.observe_order(op, o);
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
                } else if spec.map_type.is_array() {
                    MapData::Array(ArrayMap::new(spec.max_entries, value_len))
                } else {
                    let order = HashOrder::of(spec, self.profile.fd_htab_update_in_place);
                    MapData::Hash(HashMap::with_order(spec.max_entries, value_len, order))
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
                                    MapData::Array(a) => a.lookup(key).ok(),
                                    MapData::Hash(hm) => hm.entries.get(key).cloned().map(Ret::Value),
                                    MapData::Fds(_) => None,
                                };
                                let mut full = match before {
                                    Some(Ret::Value(b)) => b,
                                    _ => vec![0; s * cpus],
                                };
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
                        match data {
                            MapData::Array(a) => a.store(key, stored),
                            MapData::Hash(hm) => hm.store(key, stored, &faults),
                            MapData::Fds(_) => {}
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
                Some(MapData::Hash(hm)) => hm.remove(key),
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
            Op::Fill { map, n } => {
                let n = match self.has(Fault::FillSkipsLast) {
                    true => n.saturating_sub(1),
                    false => *n,
                };
                for i in 0..n {
                    let op = self.fill_update(*map, i);
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
            MapData::Hash(hm) => &mut hm.order,
            MapData::Fds(FdMap { order: Some(o), .. }) => o,
            _ => return,
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

    /// A map file was released: PERF_EVENT_ARRAY entries inserted through it go with it
    /// (`perf_event_fd_array_release`, from `bpf_map_release`), unless BPF_F_PRESERVE_ELEMS.
    fn release_file(&mut self, file: u32) {
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
    fn recompute_liveness(&mut self) {
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
                || self.unpinned.contains(i);
            o.life = if deferred { Life::Pending } else { Life::Gone };
        }
    }

    /// `bpf_prog_load`: each used map fd is resolved by the verifier
    /// (`resolve_pseudo_ldimm64`: EBADF, EINVAL), then `bpf_check_tail_call` checks every
    /// used PROG_ARRAY against its owner (EINVAL) and a first program sets the owner.
    fn load(&self, handle: Handle, spec: &ProgSpec, uses: &[FdRef]) -> Outcome {
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
    fn failed_load(&mut self, handle: Handle, spec: &ProgSpec, uses: &[FdRef]) {
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
    fn info(&self, r: FdRef) -> Outcome {
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
        // given (not the per-CPU stride), max_entries unrounded for every modelled type.
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
            max_entries: s.max_entries,
            map_flags: s.map_flags & !access,
            name: s.name[..upto].to_vec(),
            map_extra: s.map_extra,
        }))
    }

    /// `bpf_map_get_fd_by_id` / `bpf_prog_get_fd_by_id`: open_flags first, then the id.
    fn fd_by_id(&self, handle: Handle, target: Handle, open_flags: u32) -> Outcome {
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
    /// `map_create` in kernel/bpf/syscall.c, then the family's `map_alloc_check` and
    /// `map_alloc`, then the name, in the kernel's order.
    fn create(&self, handle: Handle, s: &MapSpec) -> Allowed {
        let fail = |e| Allowed::Exactly(Err(e));
        let t = s.map_type;
        // map_create: map_extra is only for BLOOM_FILTER and ARENA.
        if s.map_extra != 0 {
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
        // fd_array_map_alloc_check / fd_htab_map_alloc_check: an fd in, an id out.
        if t.holds_fds() {
            if s.value_size != 4 {
                return fail(Why::ValueSize.errno());
            }
            if t != MapType::HashOfMaps && s.map_flags & PROG_ACCESS != 0 {
                return fail(Why::ProgAccess.errno());
            }
        }
        let array_like = t.is_array() || (t.holds_fds() && t != MapType::HashOfMaps);
        let checked = if array_like {
            array::alloc_check(s, numa)
        } else {
            hash::alloc_check(s, &self.profile, numa)
        };
        if let Err(e) = checked {
            return fail(e);
        }
        // htab_map_alloc: too many entries; for HASH_OF_MAPS only after htab_of_map_alloc
        // has read the inner template.
        if !array_like && hash::too_many_entries(s, self.profile.hash_max_entries) {
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
    fn memlock_charged(&self) -> (u64, u64) {
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
    fn alloc_estimate(&self, s: &MapSpec) -> u64 {
        let t = s.map_type;
        if t.is_array() || (t.holds_fds() && t != MapType::HashOfMaps) {
            array::alloc_bytes(s, self.profile.possible_cpus)
        } else {
            hash::alloc_bytes(s, self.profile.possible_cpus)
        }
    }

    /// `bpf_map_meta_alloc`: the inner fd must be a map (`__bpf_map_get`: EBADF, EINVAL) whose
    /// type can be compared (`map_meta_equal`; PROG_ARRAY has none: ENOTSUPP) and which is not
    /// itself a map-in-map (EINVAL).
    fn inner_template(&self, inner: Option<FdRef>) -> Result<Template, Errno> {
        let m = self.fd_as_map(inner.unwrap_or(FdRef::Bad(BadFd::NotBpf)))?;
        match m.spec.map_type {
            MapType::ProgArray => Err(Why::InnerProgArray.errno()),
            t if t.is_map_in_map() => Err(Why::InnerNested.errno()),
            _ => Ok(Template::of(&m.spec)),
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
    fn cpu_flags(&self, spec: &MapSpec, flags: u64) -> Result<(), Errno> {
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
    fn element(&self, op: &Op) -> Result<Allowed, Errno> {
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
            (Op::Lookup { key, flags, .. }, data) => {
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
                    MapData::Array(a) => a.lookup(key),
                    MapData::Hash(hm) => hm.lookup(key),
                    MapData::Fds(f) => f.lookup(self, key),
                };
                // bpf_percpu_array_copy / bpf_percpu_hash_copy: BPF_F_CPU copies that CPU's
                // value_size bytes (`copy_map_value`, no padding).
                one(match found {
                    Ok(Ret::Value(v)) if p.percpu_cpu_flags && flags & F_CPU != 0 => {
                        let (vs, at) = (m.spec.value_size as usize, (flags >> 32) as usize);
                        let from = at * self.stride(m.spec.value_size);
                        Ok(Ret::Value(v[from..from + vs].to_vec()))
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
                            MapData::Array(a) => a.update(key, as_kernel, faults),
                            MapData::Hash(hm) => hm.update(key, as_kernel, faults),
                            MapData::Fds(_) => unreachable!("fd maps are not per-CPU"),
                        });
                    }
                }
                no_lock(*flags)?;
                one(match (data, value) {
                    (MapData::Array(a), _) => a.update(key, *flags, faults),
                    (MapData::Hash(hm), _) => hm.update(key, *flags, faults),
                    (MapData::Fds(f), Value::Fd(r)) => f.update(self, key, *flags, *r),
                    (MapData::Fds(_), Value::Bytes(_)) => unreachable!("precondition: fd value"),
                })
            }
            (Op::Delete { key, .. }, data) => {
                can_write?;
                one(match data {
                    MapData::Array(a) => a.delete(),
                    MapData::Hash(hm) => hm.delete(key, faults),
                    // fd_array_map_delete_elem: out of range is E2BIG (plain arrays: EINVAL).
                    MapData::Fds(f) if f.is_array() && !f.in_range(key) => Err(Why::Index.errno()),
                    MapData::Fds(f) => f.slots.get(key).map(|_| Ret::Unit).ok_or(Why::NoKey.errno()),
                })
            }
            (Op::GetNextKey { key, .. }, data) => {
                can_read?;
                Ok(match data {
                    MapData::Array(a) => Allowed::Exactly(a.next_key(key.as_deref(), faults)),
                    MapData::Hash(hm) => hm.next_key(key.as_deref(), faults),
                    // The fd arrays iterate like arrays, occupancy ignored; HASH_OF_MAPS like a hash.
                    MapData::Fds(f) if f.is_array() => {
                        Allowed::Exactly(ArrayMap::new(f.max_entries, 0).next_key(key.as_deref(), faults))
                    }
                    MapData::Fds(f) => f.next_key(self, key.as_deref()),
                })
            }
            (Op::LookupAndDelete { key, flags, .. }, data) => {
                can_read.and(can_write)?;
                no_lock(*flags)?;
                one(match data {
                    MapData::Hash(_) if !p.hash_lookup_and_delete => Err(Why::OldNoCommand.errno()),
                    MapData::Hash(hm) => hm.lookup_and_delete(key),
                    // Only queue/stack and the value hashes implement it.
                    MapData::Array(_) | MapData::Fds(_) => Err(Why::NoCommand.errno()),
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
                    MapData::Array(a) => a.state(),
                    MapData::Hash(hm) => hm.state(m.spec.key_size as usize, faults),
                    MapData::Fds(f) => f.state(self),
                })
            }
            _ => unreachable!("not an element op: {op:?}"),
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
mod tests;
