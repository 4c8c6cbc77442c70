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

#[cfg(test)]
mod tests {
    //! The backend and the runner against a fake `Sys`: no root needed.
    use super::*;
    use crate::lockstep::{run_case, Stats};
    use mapcheck_model::{MapType, World};
    use std::collections::VecDeque;

    /// Answers element calls from a script of results; creates hand out /dev/null fds.
    #[derive(Default)]
    struct Fake {
        answers: VecDeque<Result<(), Errno>>,
        batches: VecDeque<(u32, Option<Errno>)>,
        batch_counts: Vec<u32>,
    }

    impl Fake {
        fn next(&mut self) -> Result<(), Errno> {
            self.answers.pop_front().unwrap_or(Ok(()))
        }
    }

    impl Sys for Fake {
        fn map_create(&mut self, _: &MapSpec) -> Result<OwnedFd, Errno> {
            Ok(std::fs::File::open("/dev/null").expect("/dev/null").into())
        }
        fn update(&mut self, _: RawFd, _: &[u8], _: &[u8], _: u64) -> Result<(), Errno> {
            self.next()
        }
        fn lookup(&mut self, _: RawFd, _: &[u8], v: &mut [u8], _: u64) -> Result<(), Errno> {
            v.fill(0);
            self.next()
        }
        fn delete(&mut self, _: RawFd, _: &[u8]) -> Result<(), Errno> {
            self.next()
        }
        fn next_key(&mut self, _: RawFd, _: Option<&[u8]>, _: &mut [u8]) -> Result<(), Errno> {
            Err(Errno::ENOENT)
        }
        fn lookup_and_delete(&mut self, _: RawFd, _: &[u8], _: &mut [u8], _: u64) -> Result<(), Errno> {
            self.next()
        }
        fn freeze(&mut self, _: RawFd) -> Result<(), Errno> {
            self.next()
        }
        fn lookup_batch(&mut self, _: RawFd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
            self.batch_counts.push(b.count);
            self.batches.pop_front().unwrap_or((0, Some(Errno::ENOENT)))
        }
    }

    fn create() -> Op {
        Op::CreateMap {
            handle: Handle(0),
            spec: MapSpec::new(MapType::Array, 4, 8, 4),
        }
    }

    #[test]
    fn raw_errno_passes_through_unchanged() {
        let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
        k.exec(&create()).unwrap();
        k.sys.answers.extend([Err(Errno(524)), Err(Errno::EBUSY)]);
        let m = MapRef::Handle(Handle(0));
        let up = Op::Update {
            map: m,
            key: vec![0; 4],
            value: vec![0; 8],
            flags: 0,
        };
        assert_eq!(k.exec(&up), Err(Errno::ENOTSUPP));
        assert_eq!(k.exec(&up), Err(Errno(16)));
        assert_eq!(k.held(), 1);
        k.reset();
        assert_eq!(k.held(), 0);
    }

    #[test]
    fn runner_reports_the_first_disallowed_outcome() {
        let mut k = Kernel::with_sys(Fake::default(), 2).unwrap();
        let m = MapRef::Handle(Handle(0));
        // The model says NOEXIST on an array is EEXIST; this fake kernel says OK.
        let ops = vec![
            create(),
            Op::Lookup {
                map: m,
                key: vec![0; 4],
                flags: 0,
            },
            Op::Update {
                map: m,
                key: vec![0; 4],
                value: vec![1; 8],
                flags: 1,
            },
            Op::Lookup {
                map: m,
                key: vec![0; 4],
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
}
