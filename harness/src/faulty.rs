//! A faulty kernel: a `Sys` wrapper that plants one deliberate kernel bug over the real one.
//! The core idea: a checker earns trust by catching broken *kernels*, not only broken models,
//! so `selftest` runs the lockstep against each of these and must catch and shrink every one.

use crate::sys::{Batch, BatchCmd, MapInfoRaw, Sys};
use mapcheck_model::{Errno, Kind, MapSpec, MapType, ProgSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// One deliberate kernel bug.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum KernelFault {
    /// LOOKUP says ok without copying the value out.
    LookupNoCopy,
    /// UPDATE says ok without storing anything.
    UpdateNotStored,
    /// A map put into a map-in-map is never released (its id stays allocated).
    InnerMapNeverReleased,
    /// A removed cgroup is never freed (it stays in `nr_dying_descendants`).
    CgroupNeverFreed,
    /// GET_NEXT_KEY of a key missing from a hash says ENOENT instead of restarting.
    HashNextKeyMissingEnoent,
    /// GET_NEXT_KEY(NULL) of a hash starts at another key every second call.
    HashOrderUnstable,
    /// GET_FD_BY_ID of a map hands out an fd of the map created before it.
    FdByIdOtherMap,
    /// LOOKUP_BATCH reports one element more than it wrote.
    BatchCountTooLarge,
    /// A per-CPU lookup drops the last CPU's slot (zeroes it).
    PercpuSlotDropped,
    /// GET_NEXT_KEY at the end of a hash says E2BIG where the model allows a set
    /// (any other key, or ENOENT).
    WrongErrnoInSet,
    /// close(2) of a map fd fails with EIO (the fd is closed all the same).
    CloseFails,
    /// UPDATE_BATCH leaves out the last element and reports the full count.
    BatchUpdateDropsLast,
    /// A BLOOM_FILTER push hashes other bytes than the value's (its first byte flipped):
    /// the answer is the real one, the bits set are another value's.
    BloomPushWrongBytes,
    /// A BLOOM_FILTER peek writes into the value buffer it was to read (the kernel copies
    /// nothing back): the backend must report it, whatever the answer.
    BloomPeekWritesBuffer,
    /// On a random-seed BLOOM_FILTER every second ENOENT of a peek becomes ok: a false
    /// positive that comes and goes, which only the model's memory of the first answer
    /// catches (no push came between: the bits cannot have changed).
    BloomAnswerFlips,
    /// LPM_TRIE GET_NEXT_KEY returns the key with the data bits past its prefixlen cleared
    /// (the kernel returns the bytes as last written).
    LpmNextKeyMasked,
    /// A random-seed hash's LOOKUP_BATCH ignores `in_batch` and walks from bucket 0. (A fault
    /// that only the model's memory of earlier answers could catch would depend on where the
    /// per-map seed puts the keys: not repeatable. `BucketRule`'s unit tests show that memory.)
    BatchCursorIgnored,
    /// A DELETE_BATCH that fails reports every key as done (the kernel: the keys before
    /// the failing one).
    BatchDeleteCountsAll,
    /// The first UPDATE this backend sees fails with EIO, none after (a flake: not in `ALL`,
    /// since a canary's case must come back; the search must still report it, as flaky).
    FirstUpdateFails,
    /// An UPDATE (or an UPDATE_BATCH of 4-byte values) whose value is the id of a map made
    /// through this wrapper stores that id plus one (`update .. value=id:m1` reads back as
    /// another id; repeatable within one case, unlike "the map made before it").
    IdValueOffByOne,
    /// A program's `bpf_map_update_elem` drops its flags (BPF_NOEXIST and BPF_EXIST are
    /// BPF_ANY): a helper that does not pass them on.
    ProgUpdateFlagsDropped,
    /// An update of an LRU hash that then holds two keys or more evicts another at once (the
    /// first a walk meets): a kernel that frees nodes before it runs out of them. Its cases
    /// are pinned, so it is planted in their case processes (`Sys::planted`).
    LruEvictsEarly,
}

impl KernelFault {
    /// Every kernel fault, for `selftest`.
    pub const ALL: [KernelFault; 21] = [
        KernelFault::LookupNoCopy,
        KernelFault::UpdateNotStored,
        KernelFault::InnerMapNeverReleased,
        KernelFault::CgroupNeverFreed,
        KernelFault::HashNextKeyMissingEnoent,
        KernelFault::HashOrderUnstable,
        KernelFault::FdByIdOtherMap,
        KernelFault::BatchCountTooLarge,
        KernelFault::PercpuSlotDropped,
        KernelFault::WrongErrnoInSet,
        KernelFault::CloseFails,
        KernelFault::BatchUpdateDropsLast,
        KernelFault::BloomPushWrongBytes,
        KernelFault::BloomPeekWritesBuffer,
        KernelFault::BloomAnswerFlips,
        KernelFault::LpmNextKeyMasked,
        KernelFault::BatchCursorIgnored,
        KernelFault::BatchDeleteCountsAll,
        KernelFault::IdValueOffByOne,
        KernelFault::ProgUpdateFlagsDropped,
        KernelFault::LruEvictsEarly,
    ];

    /// The name on the command line (`--kernel-fault`) and in the selftest table.
    pub fn name(self) -> &'static str {
        match self {
            KernelFault::LookupNoCopy => "kernel:lookup-no-copy",
            KernelFault::UpdateNotStored => "kernel:update-not-stored",
            KernelFault::InnerMapNeverReleased => "kernel:inner-map-never-released",
            KernelFault::CgroupNeverFreed => "kernel:cgroup-never-freed",
            KernelFault::HashNextKeyMissingEnoent => "kernel:hash-next-key-missing-enoent",
            KernelFault::HashOrderUnstable => "kernel:hash-order-unstable",
            KernelFault::FdByIdOtherMap => "kernel:fd-by-id-other-map",
            KernelFault::BatchCountTooLarge => "kernel:batch-count-too-large",
            KernelFault::PercpuSlotDropped => "kernel:percpu-slot-dropped",
            KernelFault::WrongErrnoInSet => "kernel:wrong-errno-in-set",
            KernelFault::CloseFails => "kernel:close-fails",
            KernelFault::BatchUpdateDropsLast => "kernel:batch-update-drops-last",
            KernelFault::FirstUpdateFails => "kernel:first-update-fails",
            KernelFault::BloomPushWrongBytes => "kernel:bloom-push-wrong-bytes",
            KernelFault::BloomPeekWritesBuffer => "kernel:bloom-peek-writes-buffer",
            KernelFault::BloomAnswerFlips => "kernel:bloom-answer-flips",
            KernelFault::LpmNextKeyMasked => "kernel:lpm-next-key-masked",
            KernelFault::BatchCursorIgnored => "kernel:batch-cursor-ignored",
            KernelFault::BatchDeleteCountsAll => "kernel:batch-delete-counts-all",
            KernelFault::IdValueOffByOne => "kernel:id-value-off-by-one",
            KernelFault::ProgUpdateFlagsDropped => "kernel:prog-update-flags-dropped",
            KernelFault::LruEvictsEarly => "kernel:lru-evicts-early",
        }
    }

    /// Inverse of [`KernelFault::name`] (the `kernel:` prefix may be left out).
    pub fn from_name(s: &str) -> Option<KernelFault> {
        let s = s.strip_prefix("kernel:").unwrap_or(s);
        KernelFault::ALL
            .into_iter()
            .find(|f| f.name().strip_prefix("kernel:") == Some(s))
    }

    /// The map types a search for this fault should generate.
    pub fn types(self) -> Vec<MapType> {
        match self {
            KernelFault::InnerMapNeverReleased => {
                vec![MapType::Array, MapType::ArrayOfMaps, MapType::HashOfMaps]
            }
            KernelFault::CgroupNeverFreed => vec![MapType::CgroupArray, MapType::Array],
            KernelFault::HashNextKeyMissingEnoent
            | KernelFault::HashOrderUnstable
            | KernelFault::WrongErrnoInSet => vec![MapType::Hash, MapType::PercpuHash],
            KernelFault::FdByIdOtherMap => vec![MapType::Array, MapType::Hash, MapType::ProgArray],
            KernelFault::PercpuSlotDropped => vec![MapType::PercpuArray, MapType::PercpuHash],
            KernelFault::BatchUpdateDropsLast => vec![MapType::Hash],
            KernelFault::BloomPushWrongBytes
            | KernelFault::BloomPeekWritesBuffer
            | KernelFault::BloomAnswerFlips => {
                vec![MapType::BloomFilter]
            }
            KernelFault::LpmNextKeyMasked => vec![MapType::LpmTrie],
            KernelFault::BatchCursorIgnored | KernelFault::BatchDeleteCountsAll => vec![MapType::Hash],
            KernelFault::IdValueOffByOne => vec![MapType::Array, MapType::Hash],
            // Programs come in pinned cases, which a per-CPU map brings.
            KernelFault::ProgUpdateFlagsDropped => vec![MapType::Array, MapType::Hash, MapType::PercpuArray],
            KernelFault::LruEvictsEarly => vec![MapType::LruHash, MapType::LruPercpuHash],
            _ => MapType::MODELLED.to_vec(),
        }
    }
}

impl std::fmt::Display for KernelFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The real (or any) `Sys` with at most one kernel fault planted.
pub struct Faulty<S: Sys> {
    inner: S,
    fault: Option<KernelFault>,
    /// Map attributes by id, and the id behind each fd this wrapper handed out.
    specs: BTreeMap<u32, MapSpec>,
    fd_ids: BTreeMap<RawFd, u32>,
    /// Map ids created, in order (for `FdByIdOtherMap`).
    created: Vec<u32>,
    /// Ids of maps put into a map-in-map (for `InnerMapNeverReleased`).
    immortal: BTreeSet<u32>,
    /// Removed cgroups per parent directory (for `CgroupNeverFreed`).
    removed: BTreeMap<PathBuf, u32>,
    /// GET_NEXT_KEY(NULL) calls per fd (for `HashOrderUnstable`).
    first_calls: BTreeMap<RawFd, u64>,
    /// UPDATE calls so far (for `FirstUpdateFails`).
    updates: u64,
    /// ENOENT peeks per bloom filter fd so far (for `BloomAnswerFlips`; per fd, counted from
    /// its creation, so that a re-run of the case flips the same peeks).
    absent_peeks: BTreeMap<RawFd, u64>,
    /// Bloom filter fds with a push (the flip leaves empty filters alone: the model knows
    /// those find nothing, so only the narrowing can catch it where something was pushed).
    bloom_pushed: BTreeSet<RawFd>,
}

impl<S: Sys> Faulty<S> {
    /// `inner` with `fault` planted (none: a plain pass-through).
    pub fn new(inner: S, fault: Option<KernelFault>) -> Faulty<S> {
        Faulty {
            inner,
            fault,
            specs: BTreeMap::new(),
            fd_ids: BTreeMap::new(),
            created: Vec::new(),
            immortal: BTreeSet::new(),
            removed: BTreeMap::new(),
            first_calls: BTreeMap::new(),
            updates: 0,
            absent_peeks: BTreeMap::new(),
            bloom_pushed: BTreeSet::new(),
        }
    }

    fn on(&self, f: KernelFault) -> bool {
        self.fault == Some(f)
    }

    /// The attributes of the map behind `fd`, if this wrapper saw it made or opened.
    fn spec(&self, fd: RawFd) -> Option<&MapSpec> {
        self.fd_ids.get(&fd).and_then(|id| self.specs.get(id))
    }

    fn is_hash(&self, fd: RawFd) -> bool {
        self.spec(fd)
            .is_some_and(|s| matches!(s.map_type, MapType::Hash | MapType::PercpuHash))
    }

    /// Remembers which map a new fd refers to.
    fn note_map_fd(&mut self, fd: &OwnedFd) -> Option<u32> {
        // A new fd starts its own count: the fault repeats the same way in every run.
        self.first_calls.remove(&fd.as_raw_fd());
        self.absent_peeks.remove(&fd.as_raw_fd());
        self.bloom_pushed.remove(&fd.as_raw_fd());
        let id = self.inner.obj_id(Kind::Map, fd.as_raw_fd()).ok()?;
        self.fd_ids.insert(fd.as_raw_fd(), id);
        Some(id)
    }
}

impl<S: Sys> Sys for Faulty<S> {
    fn map_create(&mut self, spec: &MapSpec, inner_fd: RawFd) -> Result<OwnedFd, Errno> {
        let fd = self.inner.map_create(spec, inner_fd)?;
        if let Some(id) = self.note_map_fd(&fd) {
            self.specs.insert(id, spec.clone());
            self.created.push(id);
        }
        Ok(fd)
    }
    fn prog_load(&mut self, spec: &ProgSpec, maps: &[RawFd]) -> Result<OwnedFd, Errno> {
        self.inner.prog_load(spec, maps)
    }
    fn planted(&self) -> Option<&'static str> {
        self.fault.map(KernelFault::name)
    }
    fn prog_elem(
        &mut self,
        map_fd: RawFd,
        call: mapcheck_model::Call,
        key: &[u8],
        value: &[u8],
        flags: u64,
        value_size: usize,
    ) -> Result<(i32, Vec<u8>), Errno> {
        let flags = match self.on(KernelFault::ProgUpdateFlagsDropped) {
            true => flags & !3,
            false => flags,
        };
        self.inner.prog_elem(map_fd, call, key, value, flags, value_size)
    }
    fn obj_id(&mut self, kind: Kind, fd: RawFd) -> Result<u32, Errno> {
        self.inner.obj_id(kind, fd)
    }
    fn map_info(&mut self, fd: RawFd) -> Result<MapInfoRaw, Errno> {
        self.inner.map_info(fd)
    }
    fn close(&mut self, fd: OwnedFd) -> Result<(), Errno> {
        let map = self.fd_ids.remove(&fd.as_raw_fd()).is_some();
        let r = self.inner.close(fd);
        if map && self.on(KernelFault::CloseFails) {
            return Err(Errno::EIO);
        }
        r
    }
    fn fd_by_id(&mut self, kind: Kind, id: u32, open_flags: u32) -> Result<OwnedFd, Errno> {
        let mut id = id;
        if kind == Kind::Map && self.on(KernelFault::FdByIdOtherMap) {
            if let Some(pos) = self.created.iter().position(|c| *c == id).filter(|p| *p > 0) {
                id = self.created[pos - 1];
            }
        }
        let fd = self.inner.fd_by_id(kind, id, open_flags)?;
        if kind == Kind::Map {
            self.note_map_fd(&fd);
        }
        Ok(fd)
    }
    fn next_id(&mut self, kind: Kind, start: u32) -> Result<u32, Errno> {
        let real = self.inner.next_id(kind, start);
        // An immortal id is still "allocated": the next id above start - 1 is itself.
        let next = start.wrapping_add(1);
        if kind == Kind::Map && self.on(KernelFault::InnerMapNeverReleased) && self.immortal.contains(&next) {
            return Ok(next);
        }
        real
    }
    fn perf_open(&mut self, inherit: bool) -> Result<OwnedFd, Errno> {
        self.inner.perf_open(inherit)
    }
    fn mkdir(&mut self, path: &Path) -> Result<(), Errno> {
        self.inner.mkdir(path)
    }
    fn rmdir(&mut self, path: &Path) -> Result<(), Errno> {
        self.inner.rmdir(path)?;
        if let Some(parent) = path.parent() {
            *self.removed.entry(parent.to_path_buf()).or_default() += 1;
        }
        Ok(())
    }
    fn open_dir(&mut self, path: &Path, o_path: bool) -> Result<OwnedFd, Errno> {
        self.inner.open_dir(path, o_path)
    }
    fn mount_bpffs(&mut self, dir: &Path) -> Result<(), Errno> {
        self.inner.mount_bpffs(dir)
    }
    fn umount(&mut self, dir: &Path) -> Result<(), Errno> {
        self.inner.umount(dir)
    }
    fn obj_pin(&mut self, fd: RawFd, path: &Path) -> Result<(), Errno> {
        self.inner.obj_pin(fd, path)
    }
    fn obj_get(&mut self, path: &Path, file_flags: u32) -> Result<OwnedFd, Errno> {
        let fd = self.inner.obj_get(path, file_flags)?;
        self.note_map_fd(&fd);
        Ok(fd)
    }
    fn unlink(&mut self, path: &Path) -> Result<(), Errno> {
        self.inner.unlink(path)
    }
    fn update(&mut self, fd: RawFd, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        self.updates += 1;
        if self.on(KernelFault::FirstUpdateFails) && self.updates == 1 {
            return Err(Errno::EIO);
        }
        if self.on(KernelFault::IdValueOffByOne) && value.len() == 4 {
            let id = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            if self.created.contains(&id) {
                return self.inner.update(fd, key, &(id + 1).to_le_bytes(), flags);
            }
        }
        let bloom = self.spec(fd).is_some_and(|s| s.map_type == MapType::BloomFilter);
        if self.on(KernelFault::BloomPushWrongBytes) && bloom && !value.is_empty() {
            let mut other = value.to_vec();
            other[0] ^= 0xff;
            return self.inner.update(fd, key, &other, flags);
        }
        if bloom && self.on(KernelFault::BloomAnswerFlips) {
            let r = self.inner.update(fd, key, value, flags);
            if r.is_ok() {
                self.bloom_pushed.insert(fd);
            }
            return r;
        }
        let keyless = |s: &MapSpec| matches!(s.map_type, MapType::Queue | MapType::Stack);
        if self.on(KernelFault::UpdateNotStored) && self.spec(fd).is_some_and(keyless) {
            // A push cannot be taken back (a queue's pop takes its oldest): said ok, never made.
            return Ok(());
        }
        if self.on(KernelFault::UpdateNotStored) && self.spec(fd).is_some_and(|s| !s.map_type.holds_fds()) {
            // The real update decides the answer; then the map is put back as it was, so
            // the kernel "said ok without storing".
            let mut old = vec![0u8; value.len()];
            let had = self.inner.lookup(fd, key, &mut old, 0).is_ok();
            self.inner.update(fd, key, value, flags)?;
            let _ = if had {
                self.inner.update(fd, key, &old, 0)
            } else {
                self.inner.delete(fd, key)
            };
            return Ok(());
        }
        self.inner.update(fd, key, value, flags)?;
        let lru_key_size = self
            .spec(fd)
            .filter(|s| s.map_type.is_lru())
            .map(|s| (s.key_size as usize, s.max_entries));
        if let (true, Some((ks, max))) = (self.on(KernelFault::LruEvictsEarly), lru_key_size) {
            let (mut keys, mut at, mut next) = (Vec::new(), None::<Vec<u8>>, vec![0u8; ks]);
            while keys.len() <= max as usize && self.inner.next_key(fd, at.as_deref(), &mut next).is_ok() {
                keys.push(next.clone());
                at = Some(next.clone());
            }
            if keys.len() >= 2 {
                if let Some(other) = keys.iter().find(|k| k.as_slice() != key) {
                    let _ = self.inner.delete(fd, other);
                }
            }
        }
        let in_map = self.spec(fd).is_some_and(|s| s.map_type.is_map_in_map());
        if self.on(KernelFault::InnerMapNeverReleased) && in_map && value.len() >= 4 {
            let inner_fd = RawFd::from_le_bytes([value[0], value[1], value[2], value[3]]);
            if let Ok(id) = self.inner.obj_id(Kind::Map, inner_fd) {
                self.immortal.insert(id);
            }
        }
        Ok(())
    }
    fn lookup(&mut self, fd: RawFd, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        if self.on(KernelFault::LookupNoCopy) && self.spec(fd).is_some_and(|s| !s.map_type.holds_fds()) {
            let mut scratch = vec![0u8; value.len()];
            return self.inner.lookup(fd, key, &mut scratch, flags);
        }
        let random_bloom = self.spec(fd).is_some_and(|s| {
            s.map_type == MapType::BloomFilter && s.map_flags & mapcheck_model::op::flags::ZERO_SEED == 0
        });
        let r = self.inner.lookup(fd, key, value, flags);
        let pushed = self.bloom_pushed.contains(&fd);
        if r == Err(Errno::ENOENT) && random_bloom && pushed && self.on(KernelFault::BloomAnswerFlips) {
            let n = self.absent_peeks.entry(fd).or_default();
            *n += 1;
            if n.is_multiple_of(2) {
                return Ok(());
            }
        }
        r?;
        let bloom = self.spec(fd).is_some_and(|s| s.map_type == MapType::BloomFilter);
        if self.on(KernelFault::BloomPeekWritesBuffer) && bloom && !value.is_empty() {
            value[0] ^= 0xff;
        }
        if self.on(KernelFault::PercpuSlotDropped) {
            if let Some(s) = self.spec(fd).filter(|s| s.map_type.is_percpu()) {
                let stride = (s.value_size as usize).div_ceil(8) * 8;
                let n = value.len() / stride.max(1);
                if n > 0 {
                    value[(n - 1) * stride..n * stride].fill(0);
                }
            }
        }
        Ok(())
    }
    fn delete(&mut self, fd: RawFd, key: &[u8]) -> Result<(), Errno> {
        self.inner.delete(fd, key)
    }
    fn next_key(&mut self, fd: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        if self.is_hash(fd) {
            if let (Some(k), true) = (key, self.on(KernelFault::HashNextKeyMissingEnoent)) {
                let mut scratch = vec![0u8; 1 << 20];
                if self.inner.lookup(fd, k, &mut scratch, 0) == Err(Errno::ENOENT) {
                    return Err(Errno::ENOENT);
                }
            }
            if key.is_none() && self.on(KernelFault::HashOrderUnstable) {
                let calls = self.first_calls.entry(fd).or_default();
                *calls += 1;
                if calls.is_multiple_of(2) {
                    let mut first = vec![0u8; next.len()];
                    self.inner.next_key(fd, None, &mut first)?;
                    if self.inner.next_key(fd, Some(&first), next).is_ok() {
                        return Ok(());
                    }
                    next.copy_from_slice(&first);
                    return Ok(());
                }
            }
            let r = self.inner.next_key(fd, key, next);
            if key.is_some() && r == Err(Errno::ENOENT) && self.on(KernelFault::WrongErrnoInSet) {
                return Err(Errno::E2BIG);
            }
            return r;
        }
        let r = self.inner.next_key(fd, key, next);
        let lpm = self.spec(fd).is_some_and(|s| s.map_type == MapType::LpmTrie);
        if r.is_ok() && lpm && self.on(KernelFault::LpmNextKeyMasked) && next.len() > 4 {
            let len = u32::from_ne_bytes([next[0], next[1], next[2], next[3]]) as usize;
            for (i, b) in next[4..].iter_mut().enumerate() {
                let keep = len.saturating_sub(8 * i).min(8);
                *b &= !(0xffu16 >> keep) as u8;
            }
        }
        r
    }
    fn lookup_and_delete(
        &mut self,
        fd: RawFd,
        key: &[u8],
        value: &mut [u8],
        flags: u64,
    ) -> Result<(), Errno> {
        self.inner.lookup_and_delete(fd, key, value, flags)
    }
    fn freeze(&mut self, fd: RawFd) -> Result<(), Errno> {
        self.inner.freeze(fd)
    }
    fn lookup_batch(&mut self, fd: RawFd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
        let (got, err) = self.inner.lookup_batch(fd, b);
        if self.on(KernelFault::BatchCountTooLarge) && got > 0 {
            return (got + 1, err);
        }
        (got, err)
    }
    fn update_batch(&mut self, fd: RawFd, keys: &[u8], values: &[u8], count: u32) -> (u32, Option<Errno>) {
        if self.on(KernelFault::BatchUpdateDropsLast) && count > 0 {
            let (done, err) = self.inner.update_batch(fd, keys, values, count - 1);
            return (if err.is_none() { count } else { done }, err);
        }
        self.inner.update_batch(fd, keys, values, count)
    }
    fn batch(&mut self, fd: RawFd, cmd: BatchCmd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
        let random_hash = self.is_hash(fd)
            && self
                .spec(fd)
                .is_some_and(|s| s.map_flags & mapcheck_model::op::flags::ZERO_SEED == 0);
        if cmd == BatchCmd::Lookup && random_hash && self.on(KernelFault::BatchCursorIgnored) {
            b.in_batch = None;
        }
        let asked = b.count;
        // A batch write of 4-byte values: each that is a map's id goes in plus one.
        if cmd == BatchCmd::Update
            && self.on(KernelFault::IdValueOffByOne)
            && b.values.len() == 4 * asked as usize
        {
            let mut values = b.values.to_vec();
            for v in values.chunks_mut(4) {
                let id = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                if self.created.contains(&id) {
                    v.copy_from_slice(&(id + 1).to_le_bytes());
                }
            }
            let mut off = Batch {
                in_batch: b.in_batch,
                out_batch: &mut *b.out_batch,
                keys: &mut *b.keys,
                values: &mut values,
                count: b.count,
                elem_flags: b.elem_flags,
                flags: b.flags,
            };
            let r = self.inner.batch(fd, cmd, &mut off);
            b.count = off.count;
            return r;
        }
        let (got, err) = self.inner.batch(fd, cmd, b);
        if cmd == BatchCmd::Delete && err.is_some() && self.on(KernelFault::BatchDeleteCountsAll) {
            return (asked, err);
        }
        (got, err)
    }
    fn dying_count(&mut self, dir: &Path) -> Result<u32, Errno> {
        let real = self.inner.dying_count(dir)?;
        if self.on(KernelFault::CgroupNeverFreed) {
            return Ok(real.max(self.removed.get(dir).copied().unwrap_or(0)));
        }
        Ok(real)
    }
}
