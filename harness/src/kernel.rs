//! The kernel backend: executes an `Op` on real objects and reports the one outcome it got.
//! The core idea: every fd lives in an `OwnedFd` keyed by its handle, so dropping the backend
//! (on success, divergence or panic) closes everything it created.

use crate::sys::{Batch, BatchCmd, RealSys, Sys, POISON};
use mapcheck_model::limits;
use mapcheck_model::outcome::{MapInfo, Slot, Slots};
use mapcheck_model::{
    BadFd, Call, Errno, FdRef, Handle, Kind, MapSpec, MapState, MapType, Op, Outcome, Resource, Ret, Value,
};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// Above this many entries a `check` skips the one-syscall-per-key GET_NEXT_KEY walk and
/// relies on LOOKUP_BATCH alone.
pub const WALK_LIMIT: u32 = 1 << 16;

/// How long a deferred release may take (RCU grace periods and workqueues: microseconds to
/// milliseconds on an idle machine).
pub const SETTLE_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// An fd number no process here ever has open: above every RLIMIT_NOFILE in use.
const NEVER_OPENED: RawFd = 0x3fff_fff0;

/// A number that was open a moment ago and is closed now. It is taken high in the table
/// (F_DUPFD above `CLOSED_BASE`, or just below the soft RLIMIT_NOFILE) so that another
/// thread's open, which gets the lowest free number, cannot reuse it before we use it; and
/// each thread takes it from a base of its own, so that another thread's `closed` (a
/// momentary dup of a non-BPF file) cannot land on it either (seen in CI under parallel
/// tests: `lookup badfd:closed` answered EINVAL).
fn closed_fd_number(f: &std::fs::File) -> RawFd {
    const CLOSED_BASE: u64 = 4096;
    static THREADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    thread_local! {
        static SLOT: u64 = THREADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 512;
    }
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(s, _)| s);
    let mine = CLOSED_BASE + 8 * SLOT.with(|s| *s);
    let base = mine.min(soft.saturating_sub(1)) as RawFd;
    // The duplicate closes at once: only its number is wanted.
    crate::sys::dup_at_least(f, base).map_or(NEVER_OPENED, |d| d.as_raw_fd())
}

struct Open {
    fd: OwnedFd,
    /// For map fds: the map's attributes (buffer sizes, how to read values back).
    spec: Option<MapSpec>,
}

/// What the backend remembers of an object a creating op made, after its fd is gone.
struct Made {
    /// Kernel id (maps and programs).
    id: Option<u32>,
    /// Directory (cgroups).
    path: Option<PathBuf>,
    /// Map attributes (maps), for fds obtained by id.
    spec: Option<MapSpec>,
}

/// Real objects behind handles.
pub struct Kernel<S: Sys = RealSys> {
    sys: S,
    open: BTreeMap<Handle, Open>,
    made: BTreeMap<Handle, Made>,
    ids: BTreeMap<(Kind, u32), Handle>,
    /// Ids of the maps an `id:` value was written into (`Value::Id`): their non-zero values
    /// are read back as ids (the model keeps them from holding bytes too, `MapObj::ids`).
    id_maps: std::collections::BTreeSet<u32>,
    cgroups: Option<CgroupRoot>,
    /// A private bpf filesystem for pins, mounted on first use.
    bpffs: Option<tempfile::TempDir>,
    /// Pins of the current case.
    pins: Vec<PathBuf>,
    not_bpf: std::fs::File,
    cpus: usize,
    /// This process is a case's own (`crate::isolate`): `fdtable` may rearrange its fds.
    pub isolated: bool,
    /// After `fdtable`: every new fd's number is reported.
    numbered: bool,
    /// The CPUs this thread ran on before a case's `cpu` op pinned it; put back by `reset`.
    unpinned: Option<Vec<usize>>,
    /// How long `settle` waits for a deferred release (5 s; shorter while a search shrinks a
    /// leak, whose every re-run would otherwise wait the whole bound).
    pub settle_bound: std::time::Duration,
}

/// Where ops run: the kernel in this process, or a case's own process (`isolate`).
pub trait Backend {
    /// Performs one op.
    fn exec(&mut self, op: &Op) -> Outcome;
    /// Releases everything the case made.
    fn reset(&mut self);
}

impl<S: Sys> Backend for Kernel<S> {
    fn exec(&mut self, op: &Op) -> Outcome {
        Kernel::exec(self, op)
    }
    fn reset(&mut self) {
        Kernel::reset(self)
    }
}

/// Removes the cgroup directories of mapcheck processes that no longer exist, now.
pub fn remove_stale_cgroups_now() {
    if let Some(mnt) = crate::env::cgroup2_mount() {
        remove_stale_cgroups(&mut RealSys, &mnt);
    }
}

/// Removes `mapcheck-<pid>-*` directories of processes that no longer exist (killed before
/// their backend could clean up): children first, bottom up; dying ones may refuse, harmlessly.
fn remove_stale_cgroups<S: Sys>(sys: &mut S, mnt: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(mnt) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("mapcheck-").and_then(|r| r.split('-').next()) else {
            continue;
        };
        if std::path::Path::new("/proc").join(pid).exists() {
            continue;
        }
        let mut dirs = vec![e.path()];
        let mut i = 0;
        while i < dirs.len() {
            if let Ok(sub) = std::fs::read_dir(&dirs[i]) {
                dirs.extend(
                    sub.filter_map(Result::ok)
                        .filter(|s| s.path().is_dir())
                        .map(|s| s.path()),
                );
            }
            i += 1;
        }
        for d in dirs.iter().rev() {
            let _ = sys.rmdir(d);
        }
    }
}

/// mapcheck's private cgroup v2 parent, and one sub-directory per case, so that a case's
/// `nr_dying_descendants` counts only its own cgroups.
struct CgroupRoot {
    parent: PathBuf,
    case: u32,
    made: Vec<PathBuf>,
}

impl CgroupRoot {
    fn case_dir(&self) -> PathBuf {
        self.parent.join(format!("case{}", self.case))
    }
}

impl Kernel<RealSys> {
    /// A backend on the running kernel.
    pub fn new() -> std::io::Result<Kernel<RealSys>> {
        Kernel::with_sys(RealSys, crate::env::possible_cpus())
    }
}

impl<S: Sys> Drop for Kernel<S> {
    fn drop(&mut self) {
        self.reset();
        if let Some(root) = self.cgroups.take() {
            let _ = self.sys.rmdir(&root.parent);
        }
        if let Some(dir) = self.bpffs.take() {
            let _ = self.sys.umount(dir.path());
            // rmdir needs no fd: TempDir's own removal opens the directory, which fails in an
            // fdtable case whose RLIMIT_NOFILE leaves no fd free.
            let _ = std::fs::remove_dir(dir.path());
        }
    }
}

impl<S: Sys> Kernel<S> {
    /// A backend on any `Sys` (a fake in unit tests) with `cpus` possible CPUs.
    pub fn with_sys(sys: S, cpus: usize) -> std::io::Result<Kernel<S>> {
        Ok(Kernel {
            sys,
            open: BTreeMap::new(),
            made: BTreeMap::new(),
            ids: BTreeMap::new(),
            id_maps: Default::default(),
            cgroups: None,
            bpffs: None,
            pins: Vec::new(),
            not_bpf: tempfile::tempfile()?,
            cpus,
            isolated: false,
            numbered: false,
            unpinned: None,
            settle_bound: SETTLE_BOUND,
        })
    }

    /// Closes every fd this backend holds and removes the case's cgroup directories.
    pub fn reset(&mut self) {
        // Through the seam, like `close`; no op asked for these, so their results are not
        // outcomes (and the fd is gone either way).
        for (_, o) in std::mem::take(&mut self.open) {
            let _ = self.sys.close(o.fd);
        }
        for p in self.pins.drain(..) {
            let _ = self.sys.unlink(&p);
        }
        self.made.clear();
        self.ids.clear();
        self.id_maps.clear();
        // A case process serves fdtable cases and pinned ones: only the former number fds.
        self.numbered = false;
        if let Some(cpus) = self.unpinned.take() {
            // The case process checks it runs where it started before it serves again.
            let _ = crate::sys::set_affinity(&cpus);
        }
        if let Some(root) = &mut self.cgroups {
            for d in root.made.drain(..).rev() {
                let _ = self.sys.rmdir(&d);
            }
            let _ = self.sys.rmdir(&root.case_dir());
            root.case += 1;
        }
    }

    /// The kernel fault its seam plants (`Sys::planted`), for the case processes it starts.
    pub fn planted(&self) -> Option<&'static str> {
        self.sys.planted()
    }

    /// The raw fd behind a handle (tests and diagnostics).
    pub fn raw_fd(&self, h: Handle) -> Option<RawFd> {
        self.open.get(&h).map(|o| o.fd.as_raw_fd())
    }

    /// Number of fds currently held.
    pub fn held(&self) -> usize {
        self.open.len()
    }

    fn value_len(&self, spec: &MapSpec) -> usize {
        value_len(spec, self.cpus)
    }

    /// The raw fd an `FdRef` stands for right now.
    fn raw(&self, r: FdRef) -> RawFd {
        match r {
            FdRef::Handle(h) => self.open.get(&h).map_or(NEVER_OPENED, |o| o.fd.as_raw_fd()),
            FdRef::Bad(BadFd::NotBpf) => self.not_bpf.as_raw_fd(),
            FdRef::Bad(BadFd::NeverOpened) => NEVER_OPENED,
            FdRef::Bad(BadFd::Closed) => closed_fd_number(&self.not_bpf),
        }
    }

    /// Records a new fd and, for a creating op, the object's id.
    fn opened(&mut self, h: Handle, fd: OwnedFd, spec: Option<MapSpec>, path: Option<PathBuf>) -> Outcome {
        let id = match h.kind {
            Kind::Map | Kind::Prog => Some(self.sys.obj_id(h.kind, fd.as_raw_fd())?),
            _ => None,
        };
        if let Some(id) = id {
            self.ids.entry((h.kind, id)).or_insert(h);
        }
        self.made.entry(h).or_insert(Made {
            id,
            path,
            spec: spec.clone(),
        });
        self.open.insert(h, Open { fd, spec });
        Ok(Ret::Fd(h))
    }

    /// The handle that created the object with this id, if it was created in this case.
    fn resolve(&self, kind: Kind, id: u32) -> Option<Handle> {
        self.ids.get(&(kind, id)).copied()
    }

    fn cgroup_case_dir(&mut self) -> Result<PathBuf, Errno> {
        if self.cgroups.is_none() {
            let mnt = crate::env::cgroup2_mount().ok_or(Errno::ENOENT)?;
            remove_stale_cgroups(&mut self.sys, &mnt);
            let parent = mnt.join(format!(
                "mapcheck-{}-{}",
                std::process::id(),
                crate::env::unique()
            ));
            self.sys.mkdir(&parent)?;
            self.cgroups = Some(CgroupRoot {
                parent,
                case: 0,
                made: Vec::new(),
            });
        }
        let dir = self.cgroups.as_ref().map(CgroupRoot::case_dir).expect("just set");
        match self.sys.mkdir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e == Errno::EEXIST => Ok(dir),
            Err(e) => Err(e),
        }
    }

    /// The path of the pin named after `h`, mounting the private bpffs on first use.
    fn pin_path(&mut self, h: Handle) -> Result<PathBuf, Errno> {
        if self.bpffs.is_none() {
            let dir = crate::env::bpffs_dir().map_err(|_| Errno::EIO)?;
            self.sys.mount_bpffs(dir.path())?;
            self.bpffs = Some(dir);
        }
        Ok(self.bpffs.as_ref().expect("mounted").path().join(h.to_string()))
    }

    /// Is the object `target` created still in the id table? GET_NEXT_ID from id - 1 takes
    /// no reference, unlike GET_FD_BY_ID.
    fn alive(&mut self, target: Handle) -> Outcome {
        let id = self.made.get(&target).and_then(|m| m.id).ok_or(Errno::EINVAL)?;
        Ok(Ret::Alive(self.sys.next_id(target.kind, id - 1) == Ok(id)))
    }

    /// `nr_dying_descendants` of this case's cgroup directory.
    fn dying(&mut self) -> Result<u32, Errno> {
        let dir = self.cgroup_case_dir()?;
        self.sys.dying_count(&dir)
    }

    /// Performs one op; after `fdtable`, a new fd comes back with its number.
    pub fn exec(&mut self, op: &Op) -> Outcome {
        match self.exec_op(op) {
            Ok(Ret::Fd(h)) if self.numbered => {
                let n = self.raw_fd(h).unwrap_or(-1);
                Ok(Ret::FdAt(h, n as u32))
            }
            o => o,
        }
    }

    /// `fdtable`: this process's fd table becomes what the model assumes (0-2 open, nothing
    /// else below 900), libbpf's probes are cached, the limits are set, and the lazily made
    /// directories exist, so that no later op needs a spare fd of its own.
    fn fd_table(&mut self) -> Outcome {
        if !self.isolated {
            return Ok(Ret::Lost("`fdtable` runs only in a case's own process".into()));
        }
        use rlimit::Resource as R;
        let io = |e: std::io::Error| Errno::raw(e.raw_os_error().unwrap_or(libc::EIO));
        let (_, nofile_hard) = rlimit::getrlimit(R::NOFILE).map_err(io)?;
        let (_, memlock_hard) = rlimit::getrlimit(R::MEMLOCK).map_err(io)?;
        let hard = nofile_hard.min(limits::MAX_NOFILE_HARD);
        if hard <= 951 || crate::idlock::lock_fd() < 950 {
            return Ok(Ret::Lost(format!(
                "a hard RLIMIT_NOFILE of {nofile_hard} leaves no room above fd 950 for the id lock"
            )));
        }
        rlimit::setrlimit(R::NOFILE, hard, hard).map_err(io)?;
        // libbpf caches its feature probes (failures too) on first use: probe now, not
        // when a lowered RLIMIT_NOFILE would make the probe itself fail.
        drop(self.sys.prog_load(
            &mapcheck_model::ProgSpec {
                prog_type: mapcheck_model::ProgType::SocketFilter,
                xdp_frags: false,
                attach: 0,
            },
            &[],
        )?);
        // Where they cannot be made, the profile leaves pins or cgroups out of the model.
        let _ = self.pin_path(Handle::map(0));
        if crate::env::cgroup2_mount().is_some() {
            let _ = self.cgroup_case_dir();
        }
        // The old number closes with the old File.
        self.not_bpf = crate::sys::dup_at_least(&self.not_bpf, 900)?.into();
        // SAFETY: numbers this process does not use any more (the backend holds no fd at the
        // start of a case; not_bpf and the id lock live at 900 and up, beyond any number a
        // case reaches).
        unsafe { crate::sys::close_fds(3, 899) };
        rlimit::setrlimit(R::MEMLOCK, memlock_hard, memlock_hard).map_err(io)?;
        rlimit::setrlimit(R::NOFILE, limits::START_NOFILE.min(hard), hard).map_err(io)?;
        crate::idlock::hold_ids_if_exact();
        self.numbered = true;
        Ok(Ret::Unit)
    }

    /// Performs one op.
    fn exec_op(&mut self, op: &Op) -> Outcome {
        match op {
            Op::FdTable => self.fd_table(),
            Op::SetRlimit { res, soft, hard } => {
                let r = match res {
                    Resource::Nofile => rlimit::Resource::NOFILE,
                    Resource::Memlock => rlimit::Resource::MEMLOCK,
                };
                rlimit::setrlimit(r, *soft, *hard)
                    .map(|_| Ret::Unit)
                    .map_err(|e| Errno::raw(e.raw_os_error().unwrap_or(libc::EIO)))
            }
            Op::DropCap => crate::sys::drop_cap_sys_resource().map(|_| Ret::Unit),
            Op::Cpu { cpu } => {
                if !self.isolated {
                    return Ok(Ret::Lost("`cpu` runs only in a case's own process".into()));
                }
                if self.unpinned.is_none() {
                    self.unpinned = Some(crate::sys::affinity()?);
                }
                crate::sys::set_affinity(&[*cpu as usize]).map(|_| Ret::Unit)
            }
            Op::IdGap { from, to } => {
                let id = |h: &Handle| self.made.get(h).and_then(|m| m.id).ok_or(Errno::EINVAL);
                Ok(Ret::Count(id(to)?.wrapping_sub(id(from)?)))
            }
            Op::CreateMap { handle, spec } => {
                let inner = spec.inner.map_or(0, |r| self.raw(r));
                let fd = self.sys.map_create(spec, inner)?;
                self.opened(*handle, fd, Some(spec.clone()), None)
            }
            Op::LoadProg { handle, spec, uses } => {
                let maps: Vec<RawFd> = uses.iter().map(|r| self.raw(*r)).collect();
                let fd = self.sys.prog_load(spec, &maps)?;
                self.opened(*handle, fd, None, None)
            }
            Op::FdById {
                handle,
                target,
                open_flags,
            } => {
                let made = self.made.get(target).ok_or(Errno::EINVAL)?;
                let (id, spec) = (made.id.ok_or(Errno::EINVAL)?, made.spec.clone());
                let fd = self.sys.fd_by_id(target.kind, id, *open_flags)?;
                self.opened(*handle, fd, spec, None)
            }
            Op::Alive { target } => self.alive(*target),
            Op::Settle { target } => {
                // Deferred releases are microseconds to milliseconds; 5 s is the bound.
                let start = std::time::Instant::now();
                loop {
                    let o = self.alive(*target)?;
                    if o == Ret::Alive(false) || start.elapsed() > self.settle_bound {
                        return Ok(o);
                    }
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
            Op::MakeCgroup { handle } => {
                let dir = self.cgroup_case_dir()?.join(handle.to_string());
                self.sys.mkdir(&dir)?;
                if let Some(root) = &mut self.cgroups {
                    root.made.push(dir.clone());
                }
                // Known before the open, which may fail for want of an fd (EMFILE).
                self.made.insert(
                    *handle,
                    Made {
                        id: None,
                        path: Some(dir.clone()),
                        spec: None,
                    },
                );
                let fd = self.sys.open_dir(&dir, false)?;
                self.opened(*handle, fd, None, Some(dir))
            }
            Op::OpenCgroup { handle, target, path } => {
                let dir = self
                    .made
                    .get(target)
                    .and_then(|m| m.path.clone())
                    .ok_or(Errno::ENOENT)?;
                let fd = self.sys.open_dir(&dir, *path)?;
                self.made.insert(
                    *handle,
                    Made {
                        id: None,
                        path: Some(dir),
                        spec: None,
                    },
                );
                self.open.insert(*handle, Open { fd, spec: None });
                Ok(Ret::Fd(*handle))
            }
            Op::Rmdir { target } => {
                let dir = self
                    .made
                    .get(target)
                    .and_then(|m| m.path.clone())
                    .ok_or(Errno::ENOENT)?;
                self.sys.rmdir(&dir).map(|_| Ret::Unit)
            }
            Op::OpenPerf { handle, inherit } => {
                let fd = self.sys.perf_open(*inherit)?;
                self.opened(*handle, fd, None, None)
            }
            Op::Pin { target } => {
                let fd = self.raw(FdRef::Handle(*target));
                let path = self.pin_path(*target)?;
                self.sys.obj_pin(fd, &path)?;
                self.pins.push(path);
                Ok(Ret::Unit)
            }
            Op::Unpin { target } => {
                let path = self.pin_path(*target)?;
                self.sys.unlink(&path)?;
                self.pins.retain(|p| *p != path);
                Ok(Ret::Unit)
            }
            Op::GetPinned {
                handle,
                target,
                file_flags,
            } => {
                let path = self.pin_path(*target)?;
                let fd = self.sys.obj_get(&path, *file_flags)?;
                let spec = self.made.get(target).and_then(|m| m.spec.clone());
                self.opened(*handle, fd, spec, None)
            }
            Op::Dying => Ok(Ret::Count(self.dying()?)),
            Op::SettleDying { max } => {
                // css release work runs after an RCU grace period: milliseconds; 5 s is the bound.
                let start = std::time::Instant::now();
                loop {
                    let n = self.dying()?;
                    if n <= *max || start.elapsed() > self.settle_bound {
                        return Ok(Ret::Count(n));
                    }
                    std::thread::sleep(std::time::Duration::from_micros(500));
                }
            }
            Op::Close { handle } => {
                let o = self.open.remove(handle).ok_or(Errno::EBADF)?;
                self.sys.close(o.fd).map(|_| Ret::Unit)
            }
            Op::ProgElem {
                call,
                map,
                key,
                value,
                flags,
            } => {
                let Some(spec) = self.open.get(map).and_then(|o| o.spec.clone()) else {
                    return Ok(Ret::Lost(format!(
                        "`prog` needs an open map fd; {map} is none here"
                    )));
                };
                // A map-in-map's lookup finds an inner map, not bytes: found or not.
                let inner = spec.map_type.is_map_in_map();
                let vs = if inner { 0 } else { spec.value_size as usize };
                let fd = self.raw(FdRef::Handle(*map));
                let (ret, packet) = self.sys.prog_elem(fd, *call, key, value, *flags, vs)?;
                // A map holding ids reads back as a syscall lookup does (`id:m1`).
                let ids = !inner && self.holds_ids(fd, Some(&spec));
                match (call, ret) {
                    (Call::Lookup, 1) if inner => Ok(Ret::Unit),
                    (Call::Lookup, 1) if packet.len() >= 14 + vs => {
                        let v = packet[14..14 + vs].to_vec();
                        Ok(Ret::Value(if ids { self.id_read(v) } else { v }))
                    }
                    (Call::Lookup, 0) => Err(Errno::ENOENT),
                    (Call::Lookup, r) => Ok(Ret::Lost(format!(
                        "the lookup program returned {r} with a {}-byte packet (1: the value copied, 0: NULL)",
                        packet.len()
                    ))),
                    (_, 0) => Ok(Ret::Unit),
                    (_, r) if r < 0 => Err(Errno::raw(-r)),
                    (_, r) => Ok(Ret::Lost(format!("the helper returned {r}, not 0 or -errno"))),
                }
            }
            Op::Info { map } => {
                let i = self.sys.map_info(self.raw(*map))?;
                Ok(Ret::Info(MapInfo {
                    id: self.resolve(Kind::Map, i.id),
                    map_type: MapType::from_raw(i.map_type),
                    key_size: i.key_size,
                    value_size: i.value_size,
                    max_entries: i.max_entries,
                    map_flags: i.map_flags,
                    name: MapInfo::name_of(&i.name),
                    map_extra: i.map_extra,
                }))
            }
            _ => self.element(op),
        }
    }

    fn element(&mut self, op: &Op) -> Outcome {
        let map = op.map_ref().expect("element op");
        let fd = self.raw(map);
        let spec = match map {
            FdRef::Handle(h) => self.open.get(&h).and_then(|o| o.spec.clone()),
            FdRef::Bad(_) => None,
        };
        // Buffers at least as large as the kernel reads or writes, whatever the op carries.
        let (ks, vl) = spec
            .as_ref()
            .map_or((64, 64), |s| (s.key_size as usize, self.value_len(s)));
        let pad = |b: &[u8], n: usize| -> Vec<u8> {
            let mut v = b.to_vec();
            v.resize(n.max(b.len()), 0);
            v
        };

        // What an id read back from this map refers to.
        let id_kind = spec.as_ref().and_then(|s| match s.map_type {
            MapType::ProgArray => Some(Kind::Prog),
            MapType::ArrayOfMaps | MapType::HashOfMaps => Some(Kind::Map),
            _ => None,
        });
        // A map of bytes an id was written into: its values are read back as ids.
        let holds_ids = id_kind.is_none() && self.holds_ids(fd, spec.as_ref());
        let value_ret = |k: &Self, v: Vec<u8>| match id_kind {
            Some(kind) => {
                let id = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                Ret::Id(k.resolve(kind, id))
            }
            None if holds_ids => Ret::Value(k.id_read(v)),
            None => Ret::Value(v),
        };
        match op {
            Op::Update {
                key, value, flags, ..
            } => {
                let bytes = match value {
                    Value::Bytes(b) => fit(b, vl),
                    Value::Fd(r) => std::borrow::Cow::Owned(pad(&self.raw(*r).to_le_bytes(), vl)),
                    Value::Id(r) => match self.id_to_write(fd, spec.is_some(), *r) {
                        Ok(id) => std::borrow::Cow::Owned(pad(&id.to_le_bytes(), vl)),
                        Err(lost) => return Ok(lost),
                    },
                };
                self.sys
                    .update(fd, &fit(key, ks), &bytes, *flags)
                    .map(|_| Ret::Unit)
            }
            // A bloom filter's peek: the buffer is its input (`map_lookup_elem` copies it in and
            // nothing back); a kernel that wrote it would be a finding.
            Op::Lookup {
                key, input, flags, ..
            } if !input.is_empty() => {
                let mut v = fit(input, vl.max(4)).into_owned();
                self.sys.lookup(fd, &fit(key, ks), &mut v, *flags)?;
                if v[..] != fit(input, vl.max(4))[..] {
                    return Ok(Ret::Lost(format!(
                        "LOOKUP wrote the value buffer it was to read: {}",
                        mapcheck_model::outcome::hex(&v)
                    )));
                }
                Ok(Ret::Unit)
            }
            Op::Lookup { key, flags, .. } => {
                let mut v = vec![POISON; vl.max(4)];
                self.sys.lookup(fd, &fit(key, ks), &mut v, *flags)?;
                // BPF_F_CPU (7.0): one CPU's value_size bytes, the rest of the buffer untouched.
                let one_cpu = spec
                    .as_ref()
                    .filter(|s| s.map_type.is_percpu() && flags & mapcheck_model::op::flags::F_CPU != 0);
                if let Some(s) = one_cpu {
                    let vs = s.value_size as usize;
                    if v[vs..vl].iter().any(|b| *b != POISON) {
                        return Ok(Ret::Lost(format!(
                            "BPF_F_CPU lookup wrote past value_size ({vs} bytes): {}",
                            mapcheck_model::outcome::hex(&v[..vl])
                        )));
                    }
                    v.truncate(vs);
                    return Ok(value_ret(self, v));
                }
                v.truncate(vl);
                Ok(value_ret(self, v))
            }
            Op::Delete { key, .. } => self.sys.delete(fd, &fit(key, ks)).map(|_| Ret::Unit),
            Op::GetNextKey { key, .. } => {
                let mut next = vec![POISON; ks.max(1)];
                let k = key.as_ref().map(|k| fit(k, ks));
                self.sys.next_key(fd, k.as_deref(), &mut next)?;
                next.truncate(ks);
                Ok(Ret::Key(next))
            }
            Op::LookupAndDelete { key, flags, .. } => {
                let mut v = vec![POISON; vl.max(4)];
                self.sys.lookup_and_delete(fd, &fit(key, ks), &mut v, *flags)?;
                v.truncate(vl);
                Ok(value_ret(self, v))
            }
            Op::Freeze { .. } => self.sys.freeze(fd).map(|_| Ret::Unit),
            Op::Fill { n, from, .. } => {
                let s = spec.as_ref().ok_or(Errno::EBADF)?;
                let (keys, values) = fill_buffers(s, self.cpus, *n, *from);
                match self.sys.update_batch(fd, &keys, &values, *n) {
                    (_, Some(e)) => Err(e),
                    (done, None) => Ok(Ret::Count(done)),
                }
            }
            Op::LookupBatch {
                delete,
                cursor,
                count,
                elem_flags,
                flags,
                ..
            } => {
                let n = *count as usize;
                let (mut kb, mut vb) = (vec![POISON; n * ks], vec![POISON; n * vl]);
                let tok = spec
                    .as_ref()
                    .map_or(4, mapcheck_model::world::batch_cursor_len)
                    .max(1);
                let mut out = vec![POISON; tok];
                let cur = cursor.as_ref().map(|c| fit(c, tok));
                let cmd = if *delete {
                    BatchCmd::LookupAndDelete
                } else {
                    BatchCmd::Lookup
                };
                let (got, err) = self.sys.batch(
                    fd,
                    cmd,
                    &mut Batch {
                        in_batch: cur.as_deref(),
                        out_batch: &mut out,
                        keys: &mut kb,
                        values: &mut vb,
                        count: *count,
                        elem_flags: *elem_flags,
                        flags: *flags,
                    },
                );
                match (batch_ret(got, err, *count, ks, vl, &kb, &vb, out), id_kind) {
                    // A map-in-map's values are map ids: resolved like a LOOKUP's.
                    (Ok(Ret::Batch(mut b)), Some(kind)) if !b.values.is_empty() => {
                        b.ids = std::mem::take(&mut b.values)
                            .iter()
                            .map(|v| self.resolve(kind, u32::from_le_bytes([v[0], v[1], v[2], v[3]])))
                            .collect();
                        Ok(Ret::Batch(b))
                    }
                    (Ok(Ret::Batch(mut b)), None) if holds_ids => {
                        b.values = std::mem::take(&mut b.values)
                            .into_iter()
                            .map(|v| self.id_read(v))
                            .collect();
                        Ok(Ret::Batch(b))
                    }
                    (o, _) => o,
                }
            }
            Op::UpdateBatch {
                keys,
                values,
                elem_flags,
                flags,
                ..
            } => {
                let mut kb: Vec<u8> = keys.iter().flat_map(|k| fit(k, ks).into_owned()).collect();
                let mut vb: Vec<u8> = Vec::with_capacity(values.len() * vl);
                for v in values {
                    match v {
                        Value::Bytes(b) => vb.extend_from_slice(&fit(b, vl)),
                        Value::Fd(r) => vb.extend_from_slice(&pad(&self.raw(*r).to_le_bytes(), vl)),
                        Value::Id(r) => match self.id_to_write(fd, spec.is_some(), *r) {
                            Ok(id) => vb.extend_from_slice(&pad(&id.to_le_bytes(), vl)),
                            Err(lost) => return Ok(lost),
                        },
                    }
                }
                let n = keys.len() as u32;
                let (got, err) = self.sys.batch(
                    fd,
                    BatchCmd::Update,
                    &mut Batch {
                        in_batch: None,
                        out_batch: &mut [],
                        keys: &mut kb,
                        values: &mut vb,
                        count: n,
                        elem_flags: *elem_flags,
                        flags: *flags,
                    },
                );
                batch_ret(got, err, n, ks, vl, &[], &[], Vec::new())
            }
            Op::DeleteBatch {
                keys,
                elem_flags,
                flags,
                ..
            } => {
                let mut kb: Vec<u8> = keys.iter().flat_map(|k| fit(k, ks).into_owned()).collect();
                let n = keys.len() as u32;
                let (got, err) = self.sys.batch(
                    fd,
                    BatchCmd::Delete,
                    &mut Batch {
                        in_batch: None,
                        out_batch: &mut [],
                        keys: &mut kb,
                        values: &mut [],
                        count: n,
                        elem_flags: *elem_flags,
                        flags: *flags,
                    },
                );
                batch_ret(got, err, n, ks, vl, &[], &[], Vec::new())
            }
            Op::Check { .. } => match (spec.as_ref(), id_kind) {
                (Some(s), _) if s.map_type.holds_fds() => self.fd_slots(fd, s, id_kind),
                _ => match dump(&mut self.sys, fd, spec.as_ref(), self.cpus) {
                    Ok(Ret::State(mut st)) if holds_ids => {
                        st.values = st.values.chunks(4).flat_map(|v| self.id_cell(v)).collect();
                        Ok(Ret::State(st))
                    }
                    o => o,
                },
            },
            _ => unreachable!("not an element op: {op:?}"),
        }
    }

    /// The id an `id:` value writes into the map behind `fd` (`map`: it is a map fd), which
    /// from now on is read back as holding ids; `Lost` if the kernel will not say the id.
    fn id_to_write(&mut self, fd: RawFd, map: bool, r: Handle) -> Result<u32, Ret> {
        // Only a map fd's id is a map id (a program fd's info has the program's id there).
        if let (true, Ok(target)) = (map, self.sys.obj_id(Kind::Map, fd)) {
            self.id_maps.insert(target);
        }
        let raw = self.raw(FdRef::Handle(r));
        self.sys
            .obj_id(Kind::Map, raw)
            .map_err(|e| Ret::Lost(format!("BPF_OBJ_GET_INFO_BY_FD of {r} for its id: {e}")))
    }

    /// Is the map behind `fd` one an id was written into (4-byte values, not per-CPU)?
    fn holds_ids(&mut self, fd: RawFd, spec: Option<&MapSpec>) -> bool {
        !self.id_maps.is_empty()
            && spec.is_some_and(|s| s.value_size == 4 && !s.map_type.is_percpu())
            && self
                .sys
                .obj_id(Kind::Map, fd)
                .is_ok_and(|id| self.id_maps.contains(&id))
    }

    /// A value read from a map holding ids: an id of this case's maps as the handle that made
    /// it (`id:m1`); zero, or an id of no map of the case, as the bytes.
    fn id_read(&self, v: Vec<u8>) -> Vec<u8> {
        match <[u8; 4]>::try_from(v.as_slice()).map(u32::from_le_bytes) {
            Ok(id) if id != 0 => match self.resolve(Kind::Map, id) {
                Some(h) => mapcheck_model::outcome::id_bytes(Some(h)),
                None => v,
            },
            _ => v,
        }
    }

    /// A `check` value of a map holding ids, as the model's state keeps it (`id_cell`): zero
    /// stays, any other value becomes an id's cell, an unknown id's if no map of the case has it.
    fn id_cell(&self, v: &[u8]) -> Vec<u8> {
        match <[u8; 4]>::try_from(v).map(u32::from_le_bytes) {
            Ok(0) => v.to_vec(),
            Ok(id) => mapcheck_model::outcome::id_cell(self.resolve(Kind::Map, id)).to_vec(),
            Err(_) => v.to_vec(),
        }
    }

    /// `check` of an fd-holding map: walk GET_NEXT_KEY from NULL, LOOKUP each key.
    fn fd_slots(&mut self, fd: RawFd, spec: &MapSpec, id_kind: Option<Kind>) -> Outcome {
        let ks = spec.key_size as usize;
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        let mut walk_ok = true;
        for _ in 0..(2 * spec.max_entries as usize + 2) {
            let mut next = vec![POISON; ks];
            match self.sys.next_key(fd, cur.as_deref(), &mut next) {
                Ok(()) => {
                    if keys.contains(&next) {
                        walk_ok = false;
                        break;
                    }
                    keys.push(next.clone());
                    cur = Some(next);
                }
                Err(e) if e == Errno::ENOENT => break,
                Err(e) => return Err(e),
            }
        }
        let walk = keys.clone();
        let mut slots = Vec::with_capacity(keys.len());
        for k in keys {
            let mut v = vec![POISON; 4];
            let slot = match self.sys.lookup(fd, &k, &mut v, 0) {
                Ok(()) => Slot::Id(
                    id_kind.and_then(|kind| self.resolve(kind, u32::from_le_bytes([v[0], v[1], v[2], v[3]]))),
                ),
                Err(e) if e == Errno::ENOENT => Slot::Empty,
                Err(e) if e == Errno::ENOTSUPP => Slot::Unreadable,
                Err(e) => return Err(e),
            };
            slots.push((k, slot));
        }
        slots.sort();
        Ok(Ret::Slots(Slots { slots, walk_ok, walk }))
    }
}

/// A batch command's outcome from what the kernel left: an errno with nothing written
/// (`count` as passed, no cursor, no records: `bpf_map_do_batch`'s checks) is a plain error,
/// anything else a `Batch` (`Count` for a bare success). `out` is the cursor buffer as it
/// came back (all POISON: unwritten). A count above what was asked is a kernel answer no
/// model allows, reported before anything is sliced by it.
#[allow(clippy::too_many_arguments)]
fn batch_ret(
    got: u32,
    err: Option<Errno>,
    asked: u32,
    ks: usize,
    vl: usize,
    kb: &[u8],
    vb: &[u8],
    out: Vec<u8>,
) -> Outcome {
    if got > asked {
        return Ok(Ret::Lost(format!(
            "a batch command returned count {got}, more than the {asked} given"
        )));
    }
    let out = (!out.is_empty() && out.iter().any(|b| *b != POISON)).then_some(out);
    let n = got as usize;
    let keys: Vec<Vec<u8>> = kb
        .chunks(ks.max(1))
        .take(if kb.is_empty() { 0 } else { n })
        .map(<[u8]>::to_vec)
        .collect();
    let values: Vec<Vec<u8>> = vb
        .chunks(vl.max(1))
        .take(if vb.is_empty() { 0 } else { n })
        .map(<[u8]>::to_vec)
        .collect();
    let untouched = kb.iter().chain(vb).all(|b| *b == POISON);
    match err {
        Some(e) if got == asked && out.is_none() && untouched => Err(e),
        err => mapcheck_model::outcome::Batch {
            err,
            count: got,
            keys,
            values,
            out,
            ids: Vec::new(),
        }
        .ret(),
    }
}

/// The syscall value buffer size (`bpf_map_value_size`) of a map on a machine with `cpus`
/// possible CPUs.
pub fn value_len(spec: &MapSpec, cpus: usize) -> usize {
    if spec.map_type.is_percpu() {
        (spec.value_size as usize).div_ceil(8) * 8 * cpus
    } else {
        spec.value_size as usize
    }
}

/// A key or value buffer at least `n` bytes long: most are exactly the size the kernel reads
/// and are not copied.
fn fit(b: &[u8], n: usize) -> std::borrow::Cow<'_, [u8]> {
    if b.len() >= n {
        std::borrow::Cow::Borrowed(b)
    } else {
        let mut v = b.to_vec();
        v.resize(n, 0);
        std::borrow::Cow::Owned(v)
    }
}

/// `fill`'s batch buffers: keys and values of elements `0..n` (`mapcheck_model::fill_key`,
/// `fill_value`; per-CPU maps the same value on every CPU, padding zero).
pub fn fill_buffers(spec: &MapSpec, cpus: usize, n: u32, from: u32) -> (Vec<u8>, Vec<u8>) {
    let (ks, vs) = (spec.key_size as usize, spec.value_size as usize);
    let vl = value_len(spec, cpus);
    let mut keys = Vec::with_capacity(ks * n as usize);
    let mut values = vec![0u8; vl * n as usize];
    for (i, v) in (0..n).zip(values.chunks_mut(vl.max(1))) {
        keys.extend_from_slice(&mapcheck_model::op::fill_key(ks, from + i));
        let one = mapcheck_model::op::fill_value(vs, from + i);
        for slot in v.chunks_mut(vl / if spec.map_type.is_percpu() { cpus } else { 1 }) {
            slot[..vs].copy_from_slice(&one);
        }
    }
    (keys, values)
}

/// Full state through LOOKUP_BATCH, plus the GET_NEXT_KEY walk for maps of at most
/// `WALK_LIMIT` entries (the `check` op; also used by the bench's raw loop).
pub fn dump<S: Sys>(sys: &mut S, fd: RawFd, spec: Option<&MapSpec>, cpus: usize) -> Outcome {
    {
        let (ks, vl, max) = spec.map_or((4, 8, 1), |s| {
            (s.key_size as usize, value_len(s, cpus), s.max_entries)
        });
        // The batch cursor is a key for arrays and a u32 bucket index for hashes.
        let tok = ks.max(4);
        let mut count = max.clamp(1, 1 << 16);
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let n = count as usize;
            let mut kb = vec![POISON; n * ks];
            let mut vb = vec![POISON; n * vl];
            let mut out = vec![POISON; tok];
            let mut b = Batch {
                in_batch: cursor.as_deref(),
                out_batch: &mut out,
                keys: &mut kb,
                values: &mut vb,
                count,
                elem_flags: 0,
                flags: 0,
            };
            let (got, err) = sys.lookup_batch(fd, &mut b);
            // The kernel's count is checked against what was asked before it indexes
            // anything: a larger one is a kernel answer no model allows.
            if got > count {
                return Ok(Ret::Lost(format!(
                    "BPF_MAP_LOOKUP_BATCH returned count {got}, more than the {count} asked"
                )));
            }
            let got = got as usize;
            keys.extend_from_slice(&kb[..got * ks]);
            values.extend_from_slice(&vb[..got * vl]);
            match err {
                None if got == 0 => break,
                None => cursor = Some(out),
                Some(e) if e == Errno::ENOENT => break,
                // A hash bucket larger than `count`: retry the same cursor with more room.
                Some(e) if e == Errno::ENOSPC && count < u32::MAX / 2 => count *= 2,
                Some(e) => return Err(e),
            }
        }
        let mut st = MapState::from_unsorted(ks, vl, &keys, &values);
        if max <= WALK_LIMIT {
            let mut walk = Vec::new();
            let mut cur: Option<Vec<u8>> = None;
            // A walk longer than twice the capacity is a kernel loop; stop and let the
            // comparison report it.
            for _ in 0..(2 * max as usize + 2) {
                let mut next = vec![POISON; ks];
                match sys.next_key(fd, cur.as_deref(), &mut next) {
                    Ok(()) => {
                        walk.extend_from_slice(&next);
                        cur = Some(next);
                    }
                    Err(e) if e == Errno::ENOENT => break,
                    Err(e) => return Err(e),
                }
            }
            st.walk = Some(walk);
        }
        Ok(Ret::State(st))
    }
}

#[cfg(test)]
mod tests {
    //! The backend and the runner against a fake `Sys`: no root needed.
    use super::*;
    use crate::lockstep::{run_case, Stats};
    use mapcheck_model::{MapType, World};
    use std::collections::VecDeque;

    /// Answers element calls from a script of results; creates hand out /dev/null fds and
    /// remember which map (id, attributes) each fd stands for. Switches make it a wrong
    /// kernel in one way each.
    #[derive(Default)]
    struct Fake {
        answers: VecDeque<Result<(), Errno>>,
        batches: VecDeque<(u32, Option<Errno>)>,
        batch_counts: Vec<u32>,
        ids: u32,
        /// The map behind each fd this fake handed out: (id, attributes).
        maps: BTreeMap<RawFd, (u32, MapSpec)>,
        /// close(2) fails with EIO.
        close_fails: bool,
        /// GET_FD_BY_ID hands out an fd on another map than the id names.
        by_id_other_map: bool,
        /// LOOKUP says ok without writing the value buffer.
        lookup_writes_nothing: bool,
        /// LOOKUP writes these bytes (else zeros).
        lookup_value: Option<Vec<u8>>,
        /// BPF_OBJ_GET_INFO_BY_FD of a fd that is no map of this fake answers this id (as a
        /// program's info does, in another id space).
        other_fd_id: Option<u32>,
        /// LOOKUP_BATCH returns these keys (zero values), then ENOENT.
        batch_keys: Option<Vec<u32>>,
        /// GET_NEXT_KEY walks these keys, then ENOENT.
        walk: Vec<u32>,
        /// mkdir answers these in turn (then EPERM); every path asked for is logged.
        mkdir_answers: VecDeque<Result<(), Errno>>,
        mkdirs: Vec<std::path::PathBuf>,
        /// cgroup.stat's nr_dying_descendants, always this (None: the real file).
        dying: Option<u32>,
        /// GET_NEXT_KEY fails with this.
        next_key_fails: Option<Errno>,
        /// A program-side op's program returns this, with this packet.
        prog: Option<(i32, Vec<u8>)>,
    }

    impl Fake {
        fn next(&mut self) -> Result<(), Errno> {
            self.answers.pop_front().unwrap_or(Ok(()))
        }
        fn fd_on(&mut self, id: u32, spec: MapSpec) -> OwnedFd {
            let fd: OwnedFd = std::fs::File::open("/dev/null").expect("/dev/null").into();
            self.maps.insert(fd.as_raw_fd(), (id, spec));
            fd
        }
    }

    impl Sys for Fake {
        fn map_create(&mut self, spec: &MapSpec, _: RawFd) -> Result<OwnedFd, Errno> {
            self.ids += 1;
            Ok(self.fd_on(self.ids, spec.clone()))
        }
        fn prog_load(&mut self, _: &mapcheck_model::ProgSpec, _: &[RawFd]) -> Result<OwnedFd, Errno> {
            Err(Errno::EPERM)
        }
        fn prog_elem(
            &mut self,
            _: RawFd,
            _: Call,
            _: &[u8],
            _: &[u8],
            _: u64,
            _: usize,
        ) -> Result<(i32, Vec<u8>), Errno> {
            self.prog.clone().ok_or(Errno::raw(libc::ENOSYS))
        }
        fn map_info(&mut self, fd: RawFd) -> Result<crate::sys::MapInfoRaw, Errno> {
            let (id, s) = self.maps.get(&fd).ok_or(Errno::EBADFD)?;
            let mut name = [0u8; 16];
            let n = s.name.iter().position(|b| *b == 0).unwrap_or(s.name.len());
            name[..n].copy_from_slice(&s.name[..n]);
            Ok(crate::sys::MapInfoRaw {
                map_type: s.map_type.raw(),
                id: *id,
                key_size: s.key_size,
                value_size: s.value_size,
                max_entries: s.max_entries,
                map_flags: s.map_flags & !(mapcheck_model::op::flags::FD_ACCESS),
                name,
                map_extra: s.map_extra,
                ..crate::sys::MapInfoRaw::poisoned()
            })
        }
        fn close(&mut self, fd: OwnedFd) -> Result<(), Errno> {
            self.maps.remove(&fd.as_raw_fd());
            drop(fd);
            if self.close_fails {
                return Err(Errno::EIO);
            }
            Ok(())
        }
        fn obj_id(&mut self, _: Kind, fd: RawFd) -> Result<u32, Errno> {
            self.maps
                .get(&fd)
                .map(|m| m.0)
                .or(self.other_fd_id)
                .ok_or(Errno::EBADFD)
        }
        fn fd_by_id(&mut self, _: Kind, id: u32, _: u32) -> Result<OwnedFd, Errno> {
            let pick = self
                .maps
                .values()
                .find(|(i, _)| (*i == id) != self.by_id_other_map)
                .cloned();
            let (id, spec) = pick.ok_or(Errno::ENOENT)?;
            Ok(self.fd_on(id, spec))
        }
        fn next_id(&mut self, _: Kind, start: u32) -> Result<u32, Errno> {
            // A map lives while an fd holds it (nothing else holds one in these tests).
            let live = self.maps.values().map(|m| m.0).filter(|i| *i > start);
            live.min().ok_or(Errno::ENOENT)
        }
        fn perf_open(&mut self, _: bool) -> Result<OwnedFd, Errno> {
            Err(Errno::EPERM)
        }
        fn mkdir(&mut self, p: &std::path::Path) -> Result<(), Errno> {
            self.mkdirs.push(p.to_path_buf());
            self.mkdir_answers.pop_front().unwrap_or(Err(Errno::EPERM))
        }
        fn dying_count(&mut self, _: &std::path::Path) -> Result<u32, Errno> {
            self.dying.ok_or(Errno::ENOENT)
        }
        fn rmdir(&mut self, _: &std::path::Path) -> Result<(), Errno> {
            Err(Errno::EPERM)
        }
        fn open_dir(&mut self, _: &std::path::Path, _: bool) -> Result<OwnedFd, Errno> {
            Err(Errno::EPERM)
        }
        fn mount_bpffs(&mut self, _: &std::path::Path) -> Result<(), Errno> {
            Err(Errno::EPERM)
        }
        fn umount(&mut self, _: &std::path::Path) -> Result<(), Errno> {
            Err(Errno::EPERM)
        }
        fn obj_pin(&mut self, _: RawFd, _: &std::path::Path) -> Result<(), Errno> {
            Err(Errno::EPERM)
        }
        fn obj_get(&mut self, _: &std::path::Path, _: u32) -> Result<OwnedFd, Errno> {
            Err(Errno::EPERM)
        }
        fn unlink(&mut self, _: &std::path::Path) -> Result<(), Errno> {
            Err(Errno::EPERM)
        }
        fn update(&mut self, _: RawFd, _: &[u8], _: &[u8], _: u64) -> Result<(), Errno> {
            self.next()
        }
        fn lookup(&mut self, _: RawFd, _: &[u8], v: &mut [u8], _: u64) -> Result<(), Errno> {
            if !self.lookup_writes_nothing {
                v.fill(0);
            }
            if let Some(b) = &self.lookup_value {
                v[..b.len()].copy_from_slice(b);
            }
            self.next()
        }
        fn delete(&mut self, _: RawFd, _: &[u8]) -> Result<(), Errno> {
            self.next()
        }
        fn next_key(&mut self, _: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
            if let Some(e) = self.next_key_fails {
                return Err(e);
            }
            let at = match key {
                None => 0,
                Some(k) => {
                    let k = u32::from_le_bytes(k[..4].try_into().expect("4-byte key"));
                    1 + self.walk.iter().position(|w| *w == k).ok_or(Errno::ENOENT)?
                }
            };
            let n = self.walk.get(at).ok_or(Errno::ENOENT)?;
            next[..4].copy_from_slice(&n.to_le_bytes());
            Ok(())
        }
        fn lookup_and_delete(&mut self, _: RawFd, _: &[u8], _: &mut [u8], _: u64) -> Result<(), Errno> {
            self.next()
        }
        fn freeze(&mut self, _: RawFd) -> Result<(), Errno> {
            self.next()
        }
        fn lookup_batch(&mut self, _: RawFd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
            self.batch_counts.push(b.count);
            if let Some(keys) = self.batch_keys.take() {
                for (i, k) in keys.iter().enumerate() {
                    b.keys[4 * i..4 * i + 4].copy_from_slice(&k.to_le_bytes());
                }
                let vl = b.values.len() / b.count.max(1) as usize;
                b.values[..keys.len() * vl].fill(0);
                if let Some(v) = &self.lookup_value {
                    for i in 0..keys.len() {
                        b.values[i * vl..i * vl + v.len()].copy_from_slice(v);
                    }
                }
                return (keys.len() as u32, Some(Errno::ENOENT));
            }
            self.batches.pop_front().unwrap_or((0, Some(Errno::ENOENT)))
        }
        fn update_batch(&mut self, _: RawFd, _: &[u8], _: &[u8], count: u32) -> (u32, Option<Errno>) {
            match self.next() {
                Ok(()) => (count, None),
                Err(e) => (0, Some(e)),
            }
        }
        fn batch(&mut self, fd: RawFd, cmd: BatchCmd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
            match cmd {
                BatchCmd::Lookup | BatchCmd::LookupAndDelete => self.lookup_batch(fd, b),
                BatchCmd::Update | BatchCmd::Delete => match self.next() {
                    Ok(()) => (b.count, None),
                    Err(e) => (0, Some(e)),
                },
            }
        }
    }

    fn create() -> Op {
        Op::CreateMap {
            handle: Handle::map(0),
            spec: MapSpec::new(MapType::Array, 4, 8, 4),
        }
    }

    /// A map an `id:` value was written into reads back the ids of the case's maps by the
    /// handle that made them; zero, an id of no map of the case, and any value of a map no id
    /// went into stay bytes, so a wrong id shows. An `id:` written through a non-map fd marks
    /// nothing (a program's info has its id where a map's has the map id).
    #[test]
    fn ids_read_back_only_from_maps_ids_went_into() {
        let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
        let ops = parse(&[
            "m0 = create array key=4 value=4 entries=1",
            "m1 = create array key=4 value=4 entries=1",
            "m2 = create array key=4 value=4 entries=1",
        ]);
        for op in &ops {
            k.exec(op).unwrap();
        }
        let id1 = k.sys.obj_id(Kind::Map, k.raw(m(1))).unwrap();
        k.sys.lookup_value = Some(id1.to_le_bytes().to_vec());
        let lookup =
            |k: &mut Kernel<Fake>, n: u32| k.exec(&parse(&[&format!("lookup m{n} key=00000000")])[0]);
        assert_eq!(
            lookup(&mut k, 0),
            Ok(Ret::Value(id1.to_le_bytes().to_vec())),
            "no id written yet"
        );
        // A file whose info says id 3: m2's id, had it been a map id.
        k.sys.other_fd_id = Some(k.sys.obj_id(Kind::Map, k.raw(m(2))).unwrap());
        let _ = k.exec(&parse(&["update badfd:file key=00000000 value=id:m1"])[0]);
        assert!(k.id_maps.is_empty(), "a non-map fd marks nothing");
        k.exec(&parse(&["update m0 key=00000000 value=id:m1"])[0])
            .unwrap();
        let token = mapcheck_model::outcome::id_bytes(Some(Handle::map(1)));
        assert_eq!(lookup(&mut k, 0), Ok(Ret::Value(token)));
        assert_eq!(
            lookup(&mut k, 2),
            Ok(Ret::Value(id1.to_le_bytes().to_vec())),
            "m2 holds no ids"
        );
        k.sys.lookup_value = Some(999u32.to_le_bytes().to_vec());
        assert_eq!(
            lookup(&mut k, 0),
            Ok(Ret::Value(999u32.to_le_bytes().to_vec())),
            "no map's id"
        );
        k.sys.lookup_value = Some(vec![0; 4]);
        assert_eq!(lookup(&mut k, 0), Ok(Ret::Value(vec![0; 4])));
        // A check's state: an id's cell, an unknown id's cell, zero.
        assert_eq!(
            k.id_cell(&id1.to_le_bytes()),
            mapcheck_model::outcome::id_cell(Some(Handle::map(1)))
        );
        assert_eq!(
            k.id_cell(&999u32.to_le_bytes()),
            mapcheck_model::outcome::id_cell(None)
        );
        assert_eq!(k.id_cell(&[0; 4]), vec![0; 4]);
        // A batch lookup reads ids back the same way, and only from m0.
        k.sys.lookup_value = Some(id1.to_le_bytes().to_vec());
        let batch = |k: &mut Kernel<Fake>, n: u32| {
            k.sys.batch_keys = Some(vec![0]);
            match k.exec(&parse(&[&format!("lookup_batch m{n} in=NULL count=1")])[0]) {
                Ok(Ret::Batch(b)) => b.values,
                o => panic!("{o:?}"),
            }
        };
        assert_eq!(
            batch(&mut k, 0),
            vec![mapcheck_model::outcome::id_bytes(Some(Handle::map(1)))]
        );
        assert_eq!(
            batch(&mut k, 2),
            vec![id1.to_le_bytes().to_vec()],
            "m2 holds no ids"
        );
    }

    /// A scale run books its ops up to the `fill` apart from its own ops after it
    /// (`bench --fill` prints both). (Without end-of-case checks: this fake stores nothing.)
    #[test]
    fn a_scale_run_books_its_fill_prefix_apart() {
        let split = |lines: &[&str]| {
            let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
            let mut st = Stats::default();
            let run = run_case(World::default(), &mut k, &parse(lines), false, &mut st, None);
            assert!(run.divergence.is_none(), "{:?}", run.divergence);
            (st.time.prefix, st.time.own)
        };
        let zero = std::time::Duration::ZERO;
        let fill = ["m0 = create array key=4 value=8 entries=4", "fill m0 n=4"];
        let (prefix, own) = split(&fill);
        assert!(prefix > zero && own == zero, "{prefix:?} {own:?}");
        let (prefix, own) = split(&[fill[0], fill[1], "freeze m0"]);
        assert!(prefix > zero && own > zero, "{prefix:?} {own:?}");
    }

    /// A key or value shorter than the kernel reads is padded with zeros (the kernel never
    /// reads past the buffer); one of the right size is passed as it is.
    #[test]
    fn short_buffers_are_padded_to_what_the_kernel_reads() {
        assert_eq!(&*fit(&[1, 2], 4), &[1, 2, 0, 0]);
        assert!(matches!(
            fit(&[1, 2, 3, 4], 4),
            std::borrow::Cow::Borrowed([1, 2, 3, 4])
        ));
    }

    /// A BPF_F_CPU lookup (7.0) copies one CPU's value_size bytes: the rest of the buffer
    /// must keep its poison, and a kernel that writes past it is reported, not trimmed away.
    #[test]
    fn a_cpu_flag_lookup_that_writes_past_one_value_is_caught() {
        let lookup = |fake: Fake| {
            let mut k = Kernel::with_sys(fake, 2).unwrap();
            k.exec(&parse(&["m0 = create percpu_array key=4 value=4 entries=1"])[0])
                .unwrap();
            k.exec(&parse(&["lookup m0 key=00000000 flags=0x8"])[0])
        };
        let one_cpu = Fake {
            lookup_writes_nothing: true,
            lookup_value: Some(vec![7; 4]),
            ..Fake::default()
        };
        assert_eq!(lookup(one_cpu), Ok(Ret::Value(vec![7; 4])));
        match lookup(Fake::default()) {
            Ok(Ret::Lost(why)) => assert!(why.contains("wrote past value_size"), "{why}"),
            o => panic!("{o:?}"),
        }
    }

    /// A program-side op's answer: a lookup's 1 with the value at offset 14 of the packet,
    /// 0 for NULL; an update's or delete's 0 or -errno; anything else (a store that failed, a
    /// packet too short, a positive return) is no kernel outcome the model could allow. And
    /// `cpu` pins only a case process, never the shared one.
    #[test]
    fn prog_answers_are_decoded_and_cpu_needs_a_case_process() {
        let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
        k.exec(&create()).unwrap();
        let lookup = parse(&["prog lookup m0 key=01000000"]).remove(0);
        let update = parse(&["prog update m0 key=01000000 value=0102030405060708"]).remove(0);
        let value: Vec<u8> = (1..=8).collect();
        let packet = [vec![0; 14], value.clone()].concat();
        let lost = |o: Outcome| matches!(o, Ok(Ret::Lost(_)));
        k.sys.prog = Some((1, packet.clone()));
        assert_eq!(k.exec(&lookup), Ok(Ret::Value(value)));
        k.sys.prog = Some((0, packet.clone()));
        assert_eq!(k.exec(&lookup), Err(Errno::ENOENT));
        k.sys.prog = Some((2, packet.clone()));
        assert!(lost(k.exec(&lookup)), "the store into the packet failed");
        k.sys.prog = Some((1, packet[..20].to_vec()));
        assert!(lost(k.exec(&lookup)), "a packet too short for the value");
        k.sys.prog = Some((-17, packet.clone()));
        assert_eq!(k.exec(&update), Err(Errno::EEXIST));
        k.sys.prog = Some((0, packet.clone()));
        assert_eq!(k.exec(&update), Ok(Ret::Unit));
        k.sys.prog = Some((5, packet));
        assert!(lost(k.exec(&update)), "a helper returns 0 or -errno");
        k.sys.prog = None;
        assert_eq!(
            k.exec(&update),
            Err(Errno::raw(libc::ENOSYS)),
            "a load that fails"
        );
        assert!(lost(k.exec(&Op::Cpu { cpu: 0 })), "not a case process");
    }

    #[test]
    fn raw_errno_passes_through_unchanged() {
        let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
        k.exec(&create()).unwrap();
        k.sys.answers.extend([Err(Errno::raw(524)), Err(Errno::EBUSY)]);
        let m = FdRef::Handle(Handle::map(0));
        let up = Op::Update {
            map: m,
            key: vec![0; 4],
            value: Value::Bytes(vec![0; 8]),
            flags: 0,
        };
        assert_eq!(k.exec(&up), Err(Errno::ENOTSUPP));
        assert_eq!(k.exec(&up), Err(Errno::raw(16)));
        assert_eq!(k.held(), 1);
        k.reset();
        assert_eq!(k.held(), 0);
    }

    #[test]
    fn runner_reports_the_first_disallowed_outcome() {
        let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
        let m = FdRef::Handle(Handle::map(0));
        // The model says NOEXIST on an array is EEXIST; this fake kernel says OK.
        let ops = vec![
            create(),
            Op::Lookup {
                map: m,
                key: vec![0; 4],
                input: Vec::new(),
                flags: 0,
            },
            Op::Update {
                map: m,
                key: vec![0; 4],
                value: Value::Bytes(vec![1; 8]),
                flags: 1,
            },
            Op::Lookup {
                map: m,
                key: vec![0; 4],
                input: Vec::new(),
                flags: 0,
            },
        ];
        let run = run_case(World::default(), &mut k, &ops, true, &mut Stats::default(), None);
        let d = run.divergence.expect("the fake's OK must diverge");
        assert_eq!(d.index, 2);
        assert_eq!(d.allowed.exactly(), Some(&Err(Errno::EEXIST)));
        assert_eq!(d.observed, Ok(Ret::Unit));
        assert_eq!(k.held(), 0, "run_case closes everything, divergence or not");
    }

    #[test]
    fn dump_retries_enospc_with_a_larger_count() {
        let mut f = Fake::default();
        f.batches
            .extend([(0, Some(Errno::ENOSPC)), (0, Some(Errno::ENOENT))]);
        let spec = MapSpec::new(MapType::Hash, 4, 8, 2);
        let fd = std::fs::File::open("/dev/null").unwrap();
        let out = dump(&mut f, fd.as_raw_fd(), Some(&spec), 2);
        assert!(
            matches!(out, Ok(Ret::State(ref s)) if s.is_empty() && s.walk.as_ref().is_some_and(|w| w.is_empty()))
        );
        assert_eq!(f.batch_counts, vec![2, 4]);
        // Any other batch error is the check's outcome.
        f.batches.push_back((0, Some(Errno::EPERM)));
        assert_eq!(dump(&mut f, fd.as_raw_fd(), Some(&spec), 2), Err(Errno::EPERM));
    }

    /// The dump goes on from the kernel's cursor until ENOENT (a map above the first
    /// batch), and doubles the count on ENOSPC.
    #[test]
    fn dump_follows_the_cursor_and_doubles_on_enospc() {
        let fd = std::fs::File::open("/dev/null").unwrap();
        let spec = MapSpec::new(MapType::Hash, 4, 8, 3);
        let mut f = Fake::default();
        f.batches.extend([(2, None), (1, Some(Errno::ENOENT))]);
        let out = dump(&mut f, fd.as_raw_fd(), Some(&spec), 2);
        // Two chunks: three (poisoned, equal) keys came back in all.
        assert!(matches!(out, Ok(Ret::State(ref s)) if s.len() == 3), "{out:?}");
        assert_eq!(f.batch_counts, vec![3, 3]);
        let mut f = Fake::default();
        f.batches
            .extend([(0, Some(Errno::ENOSPC)), (0, Some(Errno::ENOSPC))]);
        dump(&mut f, fd.as_raw_fd(), Some(&spec), 2).unwrap();
        assert_eq!(f.batch_counts, vec![3, 6, 12]);
    }

    fn m(n: u32) -> FdRef {
        FdRef::Handle(Handle::map(n))
    }

    fn run(fake: Fake, ops: &[Op], end_checks: bool) -> Option<crate::lockstep::Divergence> {
        let mut k = Kernel::with_sys(fake, 2).unwrap();
        let run = run_case(
            World::default(),
            &mut k,
            ops,
            end_checks,
            &mut Stats::default(),
            None,
        );
        assert_eq!(k.held(), 0);
        assert!(k.sys.maps.is_empty(), "every fd went back through Sys::close");
        run.divergence
    }

    use crate::lockstep::tests::parsed as parse;

    /// close(2)'s result is an outcome: a kernel whose close fails is a divergence.
    #[test]
    fn a_failing_close_is_caught() {
        let ops = parse(&["m0 = create array key=4 value=8 entries=4", "close m0"]);
        assert!(
            run(Fake::default(), &ops, true).is_none(),
            "a close that works agrees"
        );
        let fails = Fake {
            close_fails: true,
            ..Fake::default()
        };
        let d = run(fails, &ops, true).expect("the failed close must diverge");
        assert_eq!((d.index, d.observed), (1, Err(Errno::EIO)));
    }

    /// An fd from GET_FD_BY_ID that refers to another map is caught by `info`, whether the
    /// script asks or only the end-of-case checks do.
    #[test]
    fn fd_by_id_of_another_map_is_caught_by_info() {
        let ops = parse(&[
            "m0 = create array key=4 value=8 entries=4 name=\"first\"",
            "m1 = create hash key=4 value=8 entries=4",
            "m2 = fd_by_id m0",
            "info m2",
        ]);
        assert!(
            run(Fake::default(), &ops, false).is_none(),
            "the right map agrees"
        );
        let wrong = || Fake {
            by_id_other_map: true,
            ..Fake::default()
        };
        let d = run(wrong(), &ops, false).expect("another map's info must diverge");
        assert_eq!(d.index, 3);
        let Ok(Ret::Info(i)) = &d.observed else {
            panic!("{:?}", d.observed)
        };
        assert_eq!((i.id, i.map_type), (Some(Handle::map(1)), MapType::Hash));
        let d = run(wrong(), &ops[..3], true).expect("the end-of-case info must catch it");
        assert_eq!(d.op, Op::Info { map: m(2) });
    }

    /// Output buffers start poisoned: a lookup that says ok without writing is not zeroes.
    #[test]
    fn lookup_without_writing_is_caught_by_poison() {
        let ops = parse(&[
            "m0 = create array key=4 value=8 entries=4",
            "lookup m0 key=00000000",
        ]);
        assert!(
            run(Fake::default(), &ops, false).is_none(),
            "a written zero value agrees"
        );
        let lazy = Fake {
            lookup_writes_nothing: true,
            ..Fake::default()
        };
        let d = run(lazy, &ops, false).expect("the unwritten buffer must diverge");
        assert_eq!((d.index, d.observed), (1, Ok(Ret::Value(vec![POISON; 8]))));
    }

    /// An ARRAY walk is 0, 1, ..., max_entries - 1 in order: one that skips, stops early or
    /// reorders (each key still once, which the sorted comparison used to accept) diverges.
    #[test]
    fn array_walk_that_skips_or_reorders_is_caught() {
        let ops = parse(&["m0 = create array key=4 value=8 entries=4", "check m0"]);
        let with_walk = |walk: &[u32]| Fake {
            batch_keys: Some(vec![0, 1, 2, 3]),
            walk: walk.to_vec(),
            ..Fake::default()
        };
        assert!(
            run(with_walk(&[0, 1, 2, 3]), &ops, false).is_none(),
            "the kernel's order agrees"
        );
        for bad in [
            &[0, 2, 1, 3][..],
            &[0, 1, 3],
            &[0, 1, 2],
            &[1, 2, 3, 0],
            &[0, 1, 2, 3, 0],
        ] {
            let d = run(with_walk(bad), &ops, false).unwrap_or_else(|| panic!("walk {bad:?} must diverge"));
            assert_eq!(d.index, 1, "{bad:?}");
            let why = d.allowed.explain(&d.observed).unwrap_or_default();
            assert!(why.contains("not 0..4 in order"), "{bad:?}: {why}");
        }
    }

    /// A kernel whose dying cgroups never go: `settle_dying` answers the count it sees once
    /// its bound has passed, it does not wait forever.
    #[test]
    fn settle_dying_ends_at_its_bound() {
        if crate::env::cgroup2_mount().is_none() {
            return; // the case directory is named under the real cgroup2 mount
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The parent and the case directory are made; each later look finds them there.
            let mut answers = VecDeque::from([Ok(()), Ok(())]);
            answers.extend(std::iter::repeat_n(Err(Errno::EEXIST), 100_000));
            let fake = Fake {
                mkdir_answers: answers,
                dying: Some(1),
                ..Fake::default()
            };
            let mut k = Kernel::with_sys(fake, 2).unwrap();
            k.settle_bound = std::time::Duration::from_millis(20);
            let _ = tx.send(k.exec(&Op::SettleDying { max: 0 }));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(got, Ok(Ok(Ret::Count(1))));
    }

    /// Every case gets a cgroup directory of its own (a directory a case could not remove
    /// must not be the next case's), and a case directory that cannot be made is the op's
    /// error, not a directory assumed to exist.
    #[test]
    fn each_case_has_its_own_cgroup_dir_and_mkdir_errors_show() {
        if crate::env::cgroup2_mount().is_none() {
            return;
        }
        let fake = Fake {
            mkdir_answers: VecDeque::from([Ok(()), Ok(()), Ok(())]),
            dying: Some(0),
            ..Fake::default()
        };
        let mut k = Kernel::with_sys(fake, 2).unwrap();
        assert_eq!(k.exec(&Op::Dying), Ok(Ret::Count(0)));
        k.reset();
        assert_eq!(k.exec(&Op::Dying), Ok(Ret::Count(0)));
        let dirs = &k.sys.mkdirs;
        assert_eq!(dirs.len(), 3, "{dirs:?}");
        assert_ne!(dirs[1], dirs[2], "two cases, one directory");
        assert_eq!(dirs[1].parent(), dirs[2].parent());
        // The parent is made; the case directory is refused.
        let fake = Fake {
            mkdir_answers: VecDeque::from([Ok(()), Err(Errno::raw(13))]),
            dying: Some(0),
            ..Fake::default()
        };
        let mut k = Kernel::with_sys(fake, 2).unwrap();
        assert_eq!(k.exec(&Op::Dying), Err(Errno::raw(13)));
    }

    /// `check` of an fd-holding map: a slot the kernel cannot read back (ENOTSUPP) is
    /// unreadable, any other lookup error is the check's outcome.
    #[test]
    fn fd_map_check_passes_lookup_errors_through() {
        let ops = parse(&["m0 = create prog_array key=4 value=4 entries=2"]);
        let fake = Fake {
            walk: vec![0],
            answers: VecDeque::from([Err(Errno::EPERM)]),
            ..Fake::default()
        };
        let mut k = Kernel::with_sys(fake, 2).unwrap();
        assert!(matches!(k.exec(&ops[0]), Ok(Ret::Fd(_))));
        assert_eq!(k.exec(&Op::Check { map: m(0) }), Err(Errno::EPERM));
        k.sys.answers.push_back(Err(Errno::ENOTSUPP));
        let o = k.exec(&Op::Check { map: m(0) });
        assert!(
            matches!(&o, Ok(Ret::Slots(s)) if s.slots == vec![(vec![0, 0, 0, 0], Slot::Unreadable)]),
            "{o:?}"
        );
        k.reset();
    }

    /// A batch that ends without an error and without keys ends the dump (it is not asked
    /// again), and a GET_NEXT_KEY error other than ENOENT in the walk is the check's outcome.
    #[test]
    fn dump_stops_on_an_empty_batch_and_passes_walk_errors_through() {
        let spec = MapSpec::new(MapType::Hash, 4, 8, 2);
        let fd = std::fs::File::open("/dev/null").unwrap();
        let mut f = Fake::default();
        f.batches.extend(std::iter::repeat_n((0, None), 50));
        assert!(matches!(
            dump(&mut f, fd.as_raw_fd(), Some(&spec), 2),
            Ok(Ret::State(_))
        ));
        assert_eq!(f.batch_counts.len(), 1, "asked again after an empty batch");
        let mut f = Fake {
            next_key_fails: Some(Errno::EPERM),
            ..Fake::default()
        };
        assert_eq!(dump(&mut f, fd.as_raw_fd(), Some(&spec), 2), Err(Errno::EPERM));
    }
}
