//! What the running kernel is: its `Profile` for the model, and whether we may use `bpf(2)`.
//! The core idea: read everything once at start-up; the model never asks the machine itself.

use crate::sys::{Batch, BatchCmd, RealSys, Sys};
use mapcheck_model::profile::MemAccounting;
use mapcheck_model::{Errno, MapSpec, MapType, Profile, ProgSpec, ProgType};
use std::os::fd::AsRawFd;

/// `num_possible_cpus()` as libbpf reads it from /sys/devices/system/cpu/possible.
pub fn possible_cpus() -> usize {
    libbpf_rs::num_possible_cpus().unwrap_or(1).max(1)
}

/// Number of online NUMA nodes (counted from /sys/devices/system/node/online; 1 if absent).
fn numa_nodes() -> u32 {
    let Ok(s) = std::fs::read_to_string("/sys/devices/system/node/online") else {
        return 1;
    };
    let mut n = 0;
    for part in s.trim().split(',') {
        n = match part.split_once('-') {
            Some((_, hi)) => hi.parse::<u32>().map_or(n, |h| h + 1),
            None => part.parse::<u32>().map_or(n, |x| x + 1),
        };
    }
    n.max(1)
}

/// `uname -r`.
pub fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

/// Is capability `bit` in CapEff of /proc/self/status?
fn has_cap(bit: u32) -> bool {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << bit) != 0)
}

/// The memory accounting dialect by release: memcg accounting of BPF memory replaced
/// RLIMIT_MEMLOCK in 5.11 ("bpf: Eliminate rlimit-based memory accounting for bpf maps").
pub fn mem_accounting(release: &str) -> MemAccounting {
    if release_at_least(release, 5, 11) {
        MemAccounting::Memcg
    } else {
        MemAccounting::Rlimit
    }
}

/// Is `release` (`uname -r`) at least major.minor?
pub fn release_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse::<u32>().ok());
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0)) >= (major, minor)
}

/// The dialects a probe can tell, learnt once per process from a few syscalls on throwaway
/// maps and programs (stable point releases get backports, so the version number cannot
/// tell). A probe that cannot run (no privilege) leaves the 6.18 value.
fn probe_dialects(p: &mut Profile) {
    static PROBED: std::sync::OnceLock<Vec<(&'static str, bool)>> = std::sync::OnceLock::new();
    let found = PROBED.get_or_init(|| {
        let mut s = RealSys;
        let mut v = Vec::new();
        let make =
            |s: &mut RealSys, t: MapType, value: u32| s.map_create(&MapSpec::new(t, 4, value, 1), -1).ok();
        let key = [0u8; 4];
        // map_freeze (c4c84f6fb2c4, 6.5): re-freeze EPERM (write permission first), else EBUSY.
        if let Some(fd) = make(&mut s, MapType::Array, 4) {
            let fd = fd.as_raw_fd();
            if s.freeze(fd).is_ok() {
                match s.freeze(fd) {
                    Err(e) if e == Errno::EPERM => v.push(("freeze-checks-write", true)),
                    Err(e) if e == Errno::EBUSY => v.push(("freeze-checks-write", false)),
                    _ => {}
                }
            }
            // Flags checked after the fd (8f6ddc058760): an unknown flag on a closed fd.
            let mut val = [0u8; 4];
            match s.lookup(-1, &key, &mut val, 1 << 7) {
                Err(e) if e == Errno::EBADF => v.push(("lookup-flags-after-fd", true)),
                Err(e) if e == Errno::EINVAL => v.push(("lookup-flags-after-fd", false)),
                _ => {}
            }
        }
        // The common LRU's refill (d4adf1c9ee77, 6.16 and stable): a map of 4 entries per CPU
        // filled one past full from one CPU evicts its target, 2 (max_entries / cpus / 2), not
        // 128: every key but the newest. The thread is pinned for it and put back.
        if let Some(v_lru) = lru_target_free(&mut s) {
            v.push(("lru-target-free", v_lru));
        }
        // Hash keys beyond MAX_BPF_STACK (c6bde958a62b, 5.11): a 513-byte key is E2BIG before.
        match s.map_create(&MapSpec::new(MapType::Hash, 513, 4, 1), -1) {
            Ok(_) => v.push(("hash-key-size-lifted", true)),
            Err(e) if e == Errno::E2BIG => v.push(("hash-key-size-lifted", false)),
            Err(_) => {}
        }
        // LOOKUP_AND_DELETE on a hash (3e87f192b405, 5.14): a missing key is ENOENT, else 524.
        if let Some(fd) = make(&mut s, MapType::Hash, 4) {
            let mut val = [0u8; 4];
            match s.lookup_and_delete(fd.as_raw_fd(), &key, &mut val, 0) {
                Err(e) if e == Errno::ENOENT => v.push(("hash-lookup-and-delete", true)),
                Err(e) if e == Errno::ENOTSUPP => v.push(("hash-lookup-and-delete", false)),
                _ => {}
            }
        }
        if let Some(fd) = make(&mut s, MapType::PercpuArray, 4) {
            let fd = fd.as_raw_fd();
            // LOOKUP_BATCH on PERCPU_ARRAY (f008d732ab18, 5.13): ENOTSUPP before.
            let cpus = possible_cpus();
            if let Some(has) = has_lookup_batch(&mut s, fd, 4, 8 * cpus) {
                v.push(("percpu-array-batch", has));
            }
            // Per-CPU padding (value_size 4 in an 8-byte slot) stored and read back (6.18:
            // copy_map_value_long), or dropped (7.0: copy_map_value).
            let written = vec![0xffu8; 8 * cpus];
            if s.update(fd, &key, &written, 0).is_ok() {
                let mut back = vec![0u8; 8 * cpus];
                if s.lookup(fd, &key, &mut back, 0).is_ok() {
                    v.push(("percpu-padding-roundtrips", back[4..8] == [0xff; 4]));
                }
            }
        }
        // BPF_F_CPU/BPF_F_ALL_CPUS (2b421662c788 series, 7.0): one value for every CPU is
        // EINVAL before (a flag above BPF_EXIST).
        if let Some(fd) = make(&mut s, MapType::PercpuArray, 8) {
            match s.update(fd.as_raw_fd(), &key, &vec![0u8; 8 * possible_cpus()], 16) {
                Ok(()) => v.push(("percpu-cpu-flags", true)),
                Err(e) if e == Errno::EINVAL => v.push(("percpu-cpu-flags", false)),
                Err(_) => {}
            }
        }
        // RDONLY|WRONLY after the allocation (9b435d23f51e, 7.2): an ARRAY_OF_MAPS over a
        // closed inner fd is EBADF, before it EINVAL.
        let mut both = MapSpec::new(MapType::ArrayOfMaps, 4, 4, 1);
        both.map_flags = mapcheck_model::op::flags::RDONLY | mapcheck_model::op::flags::WRONLY;
        match s.map_create(&both, -1) {
            Err(e) if e == Errno::EBADF => v.push(("create-file-flags-late", true)),
            Err(e) if e == Errno::EINVAL => v.push(("create-file-flags-late", false)),
            _ => {}
        }
        // BLOOM_FILTER (9330986c0300, 5.16): unknown before (EINVAL). A value above
        // KMALLOC_MAX_SIZE is E2BIG from a8d89feba7e5 on; before, the filter is made.
        let mut bloom = MapSpec::new(MapType::BloomFilter, 0, 4, 1);
        match s.map_create(&bloom, -1) {
            Ok(_) => {
                v.push(("bloom-filter", true));
                bloom.value_size = (1 << 22) + 1;
                match s.map_create(&bloom, -1) {
                    Err(e) if e == Errno::E2BIG => v.push(("bloom-value-size-checked", true)),
                    Ok(_) => v.push(("bloom-value-size-checked", false)),
                    Err(_) => {}
                }
            }
            Err(e) if e == Errno::EINVAL => {
                v.push(("bloom-filter", false));
                v.push(("bloom-value-size-checked", false));
            }
            Err(_) => {}
        }
        // LPM_TRIE's 6.13 fixes, each in stable on its own: on a 1-entry trie of 4 data bytes,
        // BPF_EXIST of a missing prefix is ENOENT (eae6a075) or an insert; rewriting the
        // stored prefix is ok (532d6b36) or ENOSPC; GET_NEXT_KEY of a missing key of the same
        // length restarts at the stored one (27abc7b3) or says ENOENT.
        let mut lpm = MapSpec::new(MapType::LpmTrie, 8, 4, 1);
        lpm.map_flags = mapcheck_model::op::flags::NO_PREALLOC;
        let prefix = |len: u32, a: u8| {
            let mut k = len.to_ne_bytes().to_vec();
            k.extend_from_slice(&[a, 0, 0, 0]);
            k
        };
        if let Ok(fd) = s.map_create(&lpm, -1) {
            let fd = fd.as_raw_fd();
            // LOOKUP_BATCH of the empty trie: ENOENT (the end) from 5.13, ENOTSUPP before.
            if let Some(has) = has_lookup_batch(&mut s, fd, 8, 4) {
                v.push(("lpm-batch", has));
            }
            // Before eae6a075 the BPF_EXIST update inserts the prefix itself.
            let inserted = match s.update(fd, &prefix(16, 192), &[0; 4], mapcheck_model::op::flags::EXIST) {
                Err(e) if e == Errno::ENOENT => {
                    v.push(("lpm-exist-flags", true));
                    false
                }
                Ok(()) => {
                    v.push(("lpm-exist-flags", false));
                    true
                }
                Err(_) => false,
            };
            if inserted || s.update(fd, &prefix(16, 192), &[0; 4], 0).is_ok() {
                match s.update(fd, &prefix(16, 192), &[1; 4], 0) {
                    Ok(()) => v.push(("lpm-full-in-place", true)),
                    Err(e) if e == Errno::ENOSPC => v.push(("lpm-full-in-place", false)),
                    Err(_) => {}
                }
                let mut next = [0u8; 8];
                match s.next_key(fd, Some(&prefix(16, 10)), &mut next) {
                    Ok(()) if next[..] == prefix(16, 192)[..] => v.push(("lpm-next-key-exact", true)),
                    Err(e) if e == Errno::ENOENT => v.push(("lpm-next-key-exact", false)),
                    _ => {}
                }
            }
        }
        // BPF_F_XDP_HAS_FRAGS (c2f2cdbeffda, 5.18): EINVAL where the flag is unknown, when
        // the same program loads without it.
        let xdp = |frags| ProgSpec {
            prog_type: ProgType::Xdp,
            xdp_frags: frags,
            attach: 0,
        };
        if s.prog_load(&xdp(false), &[]).is_ok() {
            match s.prog_load(&xdp(true), &[]) {
                Ok(_) => v.push(("xdp-frags", true)),
                Err(e) if e == Errno::EINVAL => v.push(("xdp-frags", false)),
                _ => {}
            }
        }
        // PROG_ARRAY owner with expected_attach_type (4540aed51b12 and its stable backports):
        // XDP programs loaded with attach 0 and with BPF_XDP (37) in one array.
        let with = |attach| ProgSpec {
            prog_type: ProgType::Xdp,
            xdp_frags: false,
            attach,
        };
        let arr = s.map_create(&MapSpec::new(MapType::ProgArray, 4, 4, 2), -1).ok();
        if let (Some(arr), Ok(p0), Ok(p1)) = (arr, s.prog_load(&with(0), &[]), s.prog_load(&with(37), &[])) {
            let (fd0, fd1) = (p0.as_raw_fd() as u32, p1.as_raw_fd() as u32);
            if s.update(arr.as_raw_fd(), &0u32.to_ne_bytes(), &fd0.to_ne_bytes(), 0)
                .is_ok()
            {
                match s.update(arr.as_raw_fd(), &1u32.to_ne_bytes(), &fd1.to_ne_bytes(), 0) {
                    Err(e) if e == Errno::EINVAL => v.push(("prog-array-owner-attach", true)),
                    Ok(()) => v.push(("prog-array-owner-attach", false)),
                    _ => {}
                }
            }
        }
        // Map-in-map batch ops (9263dddc7b6f, 5.19): an empty UPDATE_BATCH is 0 where
        // array_of_maps_map_ops has map_update_batch, ENOTSUPP before.
        if let Some(tpl) = make(&mut s, MapType::Array, 4) {
            if let Ok(outer) = s.map_create(&MapSpec::new(MapType::ArrayOfMaps, 4, 4, 1), tpl.as_raw_fd()) {
                let mut none = Batch {
                    in_batch: None,
                    out_batch: &mut [],
                    keys: &mut [],
                    values: &mut [],
                    count: 0,
                    elem_flags: 0,
                    flags: 0,
                };
                match s.batch(outer.as_raw_fd(), BatchCmd::Update, &mut none) {
                    (_, None) => v.push(("map-in-map-batch", true)),
                    (_, Some(e)) if e == Errno::ENOTSUPP => v.push(("map-in-map-batch", false)),
                    _ => {}
                }
            }
            // A hole in a LOOKUP_BATCH walk (5644c6b50ffe, 6.14 and stable): slot 0 empty,
            // slot 1 holding the template; skipped, the batch ends with count 1 (ENOENT);
            // before, three retries and EINTR with count 0.
            let two = s.map_create(&MapSpec::new(MapType::ArrayOfMaps, 4, 4, 2), tpl.as_raw_fd());
            if let Ok(outer) = two {
                let inner = (tpl.as_raw_fd() as u32).to_ne_bytes();
                if s.update(outer.as_raw_fd(), &1u32.to_ne_bytes(), &inner, 0)
                    .is_ok()
                {
                    let (mut keys, mut values, mut out) = ([0u8; 8], [0u8; 8], [0u8; 4]);
                    let mut b = Batch {
                        in_batch: None,
                        out_batch: &mut out,
                        keys: &mut keys,
                        values: &mut values,
                        count: 2,
                        elem_flags: 0,
                        flags: 0,
                    };
                    match s.batch(outer.as_raw_fd(), BatchCmd::Lookup, &mut b) {
                        (1, Some(e)) if e == Errno::ENOENT => v.push(("batch-skips-holes", true)),
                        (0, Some(e)) if e == Errno::EINTR => v.push(("batch-skips-holes", false)),
                        _ => {}
                    }
                }
            }
        }
        // A PERCPU_ARRAY template's max_entries (6.18): an ARRAY_OF_MAPS over a 2-entry
        // template takes a 1-entry PERCPU_ARRAY or refuses it (EINVAL).
        let pcpu = |s: &mut RealSys, n| {
            s.map_create(&MapSpec::new(MapType::PercpuArray, 4, 4, n), -1)
                .ok()
        };
        if let (Some(tpl), Some(small)) = (pcpu(&mut s, 2), pcpu(&mut s, 1)) {
            let outer = s
                .map_create(&MapSpec::new(MapType::ArrayOfMaps, 4, 4, 1), tpl.as_raw_fd())
                .ok();
            if let Some(outer) = outer {
                let fd = small.as_raw_fd() as u32;
                match s.update(outer.as_raw_fd(), &key, &fd.to_ne_bytes(), 0) {
                    Err(e) if e == Errno::EINVAL => v.push(("percpu-array-template-size", true)),
                    Ok(()) => v.push(("percpu-array-template-size", false)),
                    _ => {}
                }
            }
        }
        // Unpin (4f375ade6aa9): pin a map, close its fd, unlink the pin, and look the id up at
        // once. Before, the inode puts the map after an RCU grace period, so the id is still
        // there; three tries, so that a grace period that happened to be quick does not decide.
        if let Ok(dir) = bpffs_dir() {
            if s.mount_bpffs(dir.path()).is_ok() {
                let pin = dir.path().join("probe");
                let mut seen = None;
                for _ in 0..3 {
                    let Some(fd) = make(&mut s, MapType::Array, 4) else {
                        break;
                    };
                    let Ok(id) = s.obj_id(mapcheck_model::Kind::Map, fd.as_raw_fd()) else {
                        break;
                    };
                    if s.obj_pin(fd.as_raw_fd(), &pin).is_err() {
                        break;
                    }
                    drop(fd);
                    let _ = s.unlink(&pin);
                    let still = s.fd_by_id(mapcheck_model::Kind::Map, id, 0).is_ok();
                    seen = Some(seen.unwrap_or(false) || still);
                }
                let _ = s.umount(dir.path());
                if let Some(deferred) = seen {
                    v.push(("unpin-frees-at-once", !deferred));
                }
            }
        }
        v
    });
    for (name, value) in found {
        assert!(p.set_dialect(name, *value), "probed above: {name}");
    }
}

/// `lru-target-free`: how many keys the first eviction of a common LRU hash leaves, pinned to
/// one CPU (None where the map or the pinning cannot be made).
fn lru_target_free(s: &mut RealSys) -> Option<bool> {
    let cpus = possible_cpus() as u32;
    let max = 4 * cpus;
    let fd = s
        .map_create(&MapSpec::new(MapType::LruHash, 4, 4, max), -1)
        .ok()?;
    let before = crate::sys::affinity().ok()?;
    let here = *before.first()?;
    crate::sys::set_affinity(&[here]).ok()?;
    let filled = (0..=max).all(|i| s.update(fd.as_raw_fd(), &i.to_le_bytes(), &[0; 4], 0).is_ok());
    let _ = crate::sys::set_affinity(&before);
    if !filled {
        return None;
    }
    let (mut n, mut at, mut next) = (0u32, None::<[u8; 4]>, [0u8; 4]);
    while s
        .next_key(fd.as_raw_fd(), at.as_ref().map(|k| &k[..]), &mut next)
        .is_ok()
        && n <= max
    {
        n += 1;
        at = Some(next);
    }
    // 128 or more: only the newest key is left; the clamped target leaves max - 1.
    Some(n > 1)
}

/// Does the map behind `fd` have LOOKUP_BATCH? One element asked for: ok or ENOENT (the end)
/// where it has, ENOTSUPP (`BPF_DO_BATCH` without the op) where it has not.
fn has_lookup_batch(s: &mut RealSys, fd: i32, key_size: usize, value_len: usize) -> Option<bool> {
    let (mut keys, mut values, mut out) = (vec![0u8; key_size], vec![0u8; value_len], vec![0u8; key_size]);
    let mut b = crate::sys::Batch {
        in_batch: None,
        out_batch: &mut out,
        keys: &mut keys,
        values: &mut values,
        count: 1,
        elem_flags: 0,
        flags: 0,
    };
    match s.lookup_batch(fd, &mut b) {
        (_, None) => Some(true),
        (_, Some(e)) if e == Errno::ENOENT => Some(true),
        (_, Some(e)) if e == Errno::ENOTSUPP => Some(false),
        _ => None,
    }
}

/// The profile of the running kernel.
pub fn detect_profile() -> Profile {
    let mut p = Profile::linux_6_18(possible_cpus() as u32);
    p.release = release();
    p.numa_nodes = numa_nodes();
    p.cap_sys_admin = has_cap(21);
    p.cap_sys_resource = has_cap(24);
    p.mem_accounting = mem_accounting(&p.release);
    // "bpf: Support atomic update for htab of maps" (6.16).
    p.fd_htab_update_in_place = release_at_least(&p.release, 6, 16);
    p.nofile_hard = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1 << 20, |(_, h)| h);
    p.memlock_hard = rlimit::getrlimit(rlimit::Resource::MEMLOCK).map_or(u64::MAX, |(_, h)| h);
    p.nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20);
    probe_dialects(&mut p);
    p.bpffs = can_mount_bpffs();
    p.cgroup2 = cgroup2_mount().is_some_and(|m| {
        let probe = m.join(format!("mapcheck-{}-probe{}", std::process::id(), unique()));
        let ok = std::fs::create_dir(&probe).is_ok();
        let _ = std::fs::remove_dir(&probe);
        ok
    });
    p
}

/// A private directory for a bpf filesystem mount, named after this process so that a later
/// run can unmount it if this process dies first (`remove_stale_bpffs`).
pub fn bpffs_dir() -> std::io::Result<tempfile::TempDir> {
    remove_stale_bpffs();
    tempfile::Builder::new()
        .prefix(&format!("mapcheck-bpffs-{}-", std::process::id()))
        .tempdir()
}

/// The pid in a `mapcheck-bpffs-<pid>-*` name, if it is one.
fn bpffs_pid(name: &str) -> Option<&str> {
    name.strip_prefix("mapcheck-bpffs-")?
        .split('-')
        .next()
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Unmounts (lazily) and removes the bpffs directories of mapcheck processes that no longer
/// exist: their pins would otherwise keep kernel objects alive forever. Empty directories
/// such processes left unmounted go too.
pub fn remove_stale_bpffs() {
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = bpffs_pid(&name) {
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir(e.path()); // only if empty (not mounted)
                }
            }
        }
    }
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in info.lines() {
        let Some(mnt) = line.split_whitespace().nth(4) else {
            continue;
        };
        let Some(pid) = mnt.rsplit('/').next().and_then(bpffs_pid) else {
            continue;
        };
        if std::path::Path::new("/proc").join(pid).exists() {
            continue;
        }
        let path = std::path::Path::new(mnt);
        if RealSys.umount(path).is_ok() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// The mountinfo lines of mapcheck bpffs mounts whose process no longer exists (what
/// `remove_stale_bpffs` clears; tests assert that none is left).
pub fn dead_bpffs_mounts() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter(|l| {
            let pid = l
                .split_whitespace()
                .nth(4)
                .and_then(|m| m.rsplit('/').next())
                .and_then(bpffs_pid);
            pid.is_some_and(|p| !std::path::Path::new("/proc").join(p).exists())
        })
        .map(str::to_string)
        .collect()
}

/// Can this process mount a private bpf filesystem (CAP_SYS_ADMIN, mount namespace rules)?
fn can_mount_bpffs() -> bool {
    let Ok(dir) = bpffs_dir() else {
        return false;
    };
    let ok = RealSys.mount_bpffs(dir.path()).is_ok();
    if ok {
        let _ = RealSys.umount(dir.path());
    }
    ok
}

/// Where cgroup v2 is mounted (from /proc/self/mountinfo), if it is.
pub fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        // "<id> <parent> <dev> <root> <mount point> <opts> [optional...] - <fstype> ..."
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2")
            .then(|| pre.split_whitespace().nth(4).map(Into::into))?
    })
}

/// A number unique within this process (names of private directories).
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Why the kernel cannot be used here, if it cannot: a tiny ARRAY create must succeed.
pub fn kernel_unusable() -> Option<String> {
    match RealSys.map_create(&MapSpec::new(MapType::Array, 4, 4, 1), 0) {
        Ok(_) => None,
        Err(e) if e == Errno::EPERM => Some(format!(
            "bpf(BPF_MAP_CREATE) refused with EPERM: mapcheck needs CAP_BPF (run as root); kernel {}",
            release()
        )),
        Err(e) => Some(format!(
            "bpf(BPF_MAP_CREATE) of a 1-entry ARRAY failed with {e:?} on {}",
            release()
        )),
    }
}

/// Prints a skip where the test harness cannot swallow it: libtest captures `eprintln!` of
/// passing tests, not direct writes to the stderr handle.
pub fn skip_loudly(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// For tests: `Some(reason)` means skip (printed loudly); with `MAPCHECK_REQUIRE_KERNEL=1` a
/// missing kernel is a panic instead, so CI can never pass silently.
pub fn skip_without_kernel(test: &str) -> bool {
    let Some(why) = kernel_unusable() else {
        return false;
    };
    if std::env::var("MAPCHECK_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("{test}: MAPCHECK_REQUIRE_KERNEL=1 but {why}");
    }
    skip_loudly(test, &why);
    true
}
