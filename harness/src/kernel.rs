//! The kernel backend: executes an `Op` on real objects and reports the one outcome it got.
//! The core idea: every fd lives in an `OwnedFd` keyed by its handle, so dropping the backend
//! (on success, divergence or panic) closes everything it created.

use crate::sys::{Batch, RealSys, Sys};
use mapcheck_model::{BadFd, Errno, Handle, MapRef, MapSpec, MapState, Op, Outcome, Ret};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Above this many entries a `check` skips the one-syscall-per-key GET_NEXT_KEY walk and
/// relies on LOOKUP_BATCH alone.
pub const WALK_LIMIT: u32 = 1 << 16;

/// An fd number no process here ever has open: above every RLIMIT_NOFILE in use.
const NEVER_OPENED: RawFd = 0x3fff_fff0;

/// A number that was open a moment ago and is closed now. It is taken high in the table
/// (F_DUPFD above `CLOSED_BASE`, or just below the soft RLIMIT_NOFILE) so that another
/// thread's open, which gets the lowest free number, cannot reuse it before we use it.
fn closed_fd_number(f: &std::fs::File) -> RawFd {
    const CLOSED_BASE: u64 = 4096;
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(s, _)| s);
    let base = CLOSED_BASE.min(soft.saturating_sub(1)) as RawFd;
    // SAFETY: F_DUPFD on an fd we own; the duplicate is wrapped and closed at once.
    let n = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, base) };
    if n < 0 {
        return NEVER_OPENED;
    }
    // SAFETY: n was just returned by fcntl and nothing else owns it.
    drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) });
    n
}

struct Open {
    fd: OwnedFd,
    spec: MapSpec,
}

/// Real maps behind handles.
pub struct Kernel<S: Sys = RealSys> {
    sys: S,
    open: BTreeMap<Handle, Open>,
    not_bpf: std::fs::File,
    cpus: usize,
}

impl Kernel<RealSys> {
    /// A backend on the running kernel.
    pub fn new() -> std::io::Result<Kernel<RealSys>> {
        Kernel::with_sys(RealSys, crate::env::possible_cpus())
    }
}

impl<S: Sys> Kernel<S> {
    /// A backend on any `Sys` (a fake in unit tests) with `cpus` possible CPUs.
    pub fn with_sys(sys: S, cpus: usize) -> std::io::Result<Kernel<S>> {
        Ok(Kernel {
            sys,
            open: BTreeMap::new(),
            not_bpf: tempfile::tempfile()?,
            cpus,
        })
    }

    /// Closes every fd this backend holds.
    pub fn reset(&mut self) {
        self.open.clear();
    }

    /// Number of fds currently held.
    pub fn held(&self) -> usize {
        self.open.len()
    }

    fn value_len(&self, spec: &MapSpec) -> usize {
        value_len(spec, self.cpus)
    }

    /// Performs one op.
    pub fn exec(&mut self, op: &Op) -> Outcome {
        match op {
            Op::CreateMap { handle, spec } => {
                let fd = self.sys.map_create(spec)?;
                self.open.insert(
                    *handle,
                    Open {
                        fd,
                        spec: spec.clone(),
                    },
                );
                Ok(Ret::Fd(*handle))
            }
            Op::Close { handle } => {
                self.open.remove(handle);
                Ok(Ret::Unit)
            }
            _ => self.element(op),
        }
    }

    fn element(&mut self, op: &Op) -> Outcome {
        let map = op.map_ref().expect("element op");
        let (fd, spec) = match map {
            MapRef::Handle(h) => {
                let o = self.open.get(&h).expect("precondition: handle open");
                (o.fd.as_raw_fd(), Some(o.spec.clone()))
            }
            MapRef::Bad(BadFd::NotBpf) => (self.not_bpf.as_raw_fd(), None),
            MapRef::Bad(BadFd::NeverOpened) => (NEVER_OPENED, None),
            MapRef::Bad(BadFd::Closed) => (closed_fd_number(&self.not_bpf), None),
        };
        // Buffers at least as large as the kernel reads or writes, whatever the op carries.
        let (ks, vl) = spec
            .as_ref()
            .map_or((64, 64), |s| (s.key_size as usize, self.value_len(s)));
        let pad = |b: &[u8], n: usize| {
            let mut v = b.to_vec();
            if v.len() < n {
                v.resize(n, 0);
            }
            v
        };
        match op {
            Op::Update {
                key, value, flags, ..
            } => self
                .sys
                .update(fd, &pad(key, ks), &pad(value, vl), *flags)
                .map(|_| Ret::Unit),
            Op::Lookup { key, flags, .. } => {
                let mut v = vec![0u8; vl.max(1)];
                self.sys.lookup(fd, &pad(key, ks), &mut v, *flags)?;
                v.truncate(vl);
                Ok(Ret::Value(v))
            }
            Op::Delete { key, .. } => self.sys.delete(fd, &pad(key, ks)).map(|_| Ret::Unit),
            Op::GetNextKey { key, .. } => {
                let mut next = vec![0u8; ks.max(1)];
                let k = key.as_ref().map(|k| pad(k, ks));
                self.sys.next_key(fd, k.as_deref(), &mut next)?;
                next.truncate(ks);
                Ok(Ret::Key(next))
            }
            Op::LookupAndDelete { key, flags, .. } => {
                let mut v = vec![0u8; vl.max(1)];
                self.sys.lookup_and_delete(fd, &pad(key, ks), &mut v, *flags)?;
                v.truncate(vl);
                Ok(Ret::Value(v))
            }
            Op::Freeze { .. } => self.sys.freeze(fd).map(|_| Ret::Unit),
            Op::Check { .. } => dump(&mut self.sys, fd, spec.as_ref(), self.cpus),
            Op::CreateMap { .. } | Op::Close { .. } => unreachable!("not element ops"),
        }
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
            let mut kb = vec![0u8; n * ks];
            let mut vb = vec![0u8; n * vl];
            let mut out = vec![0u8; tok];
            let mut b = Batch {
                in_batch: cursor.as_deref(),
                out_batch: &mut out,
                keys: &mut kb,
                values: &mut vb,
                count,
            };
            let (got, err) = sys.lookup_batch(fd, &mut b);
            let got = got as usize;
            keys.extend_from_slice(&kb[..got * ks]);
            values.extend_from_slice(&vb[..got * vl]);
            match err {
                None if got == 0 => break,
                None => cursor = Some(out),
                Some(Errno::ENOENT) => break,
                // A hash bucket larger than `count`: retry the same cursor with more room.
                Some(Errno::ENOSPC) if count < u32::MAX / 2 => count *= 2,
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
                let mut next = vec![0u8; ks];
                match sys.next_key(fd, cur.as_deref(), &mut next) {
                    Ok(()) => {
                        walk.extend_from_slice(&next);
                        cur = Some(next);
                    }
                    Err(Errno::ENOENT) => break,
                    Err(e) => return Err(e),
                }
            }
            st.walk = Some(walk);
        }
        Ok(Ret::State(st))
    }
}
