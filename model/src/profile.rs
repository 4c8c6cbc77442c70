//! The kernel dialect the model speaks: release, CPUs, NUMA nodes, capabilities, and every
//! version-dependent answer as a field, so the model never tests a version string.

use crate::errno::Errno;

/// Who pays for BPF memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MemAccounting {
    /// 5.11 and later: the memory cgroup (`bpf_map_area_alloc` with __GFP_ACCOUNT);
    /// RLIMIT_MEMLOCK has no effect on maps.
    Memcg,
    /// Before 5.11: pages charged to the user's locked_vm against RLIMIT_MEMLOCK
    /// (`bpf_charge_memlock`: EPERM past the limit), uncharged in the deferred free.
    Rlimit,
}

/// What the model needs to know about the running kernel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Profile {
    /// `uname -r`, for reports only.
    pub release: String,
    /// `num_possible_cpus()`: per-CPU value buffers hold this many slots.
    pub possible_cpus: u32,
    /// Online NUMA nodes are `0..numa_nodes` (`node_online()` in `map_create`).
    pub numa_nodes: u32,
    /// CAP_SYS_ADMIN: `BPF_F_ZERO_SEED` on hash maps needs it (`htab_map_alloc_check`).
    pub cap_sys_admin: bool,
    /// FREEZE checks write permission first (`map_freeze`, c4c84f6fb2c4, 6.5), which a frozen
    /// map has lost: a re-freeze or a read-only fd is EPERM. Before: frozen is EBUSY, any fd.
    pub freeze_checks_write: bool,
    /// Hash maps have LOOKUP_AND_DELETE_ELEM and its attr has `flags` (3e87f192b405, 5.14).
    /// Before: any flags are EINVAL before the fd, then every map but queue/stack ENOTSUPP.
    pub hash_lookup_and_delete: bool,
    /// Hash keys are bounded only with the value by KMALLOC_MAX_SIZE (`htab_map_alloc_check`,
    /// c6bde958a62b, 5.11); before, keys above 512 bytes and values above 4 MiB - 560 are E2BIG.
    pub hash_key_size_lifted: bool,
    /// PERCPU_ARRAY has LOOKUP_BATCH (f008d732ab18, 5.13); before: ENOTSUPP (`check`).
    pub percpu_array_batch: bool,
    /// `BPF_F_XDP_HAS_FRAGS` is a known prog flag (c2f2cdbeffda, 5.18); before: EINVAL.
    pub xdp_frags: bool,
    /// A PROG_ARRAY's owner includes expected_attach_type (`__bpf_prog_map_compatible`,
    /// 4540aed51b12, 6.18; stable: 6.12, 6.6, 6.1, 5.15.221, not 5.10.262).
    pub prog_array_owner_attach: bool,
    /// Unlinking a pin puts its object in the call (`bpf_destroy_inode`, 4f375ade6aa9, 6.18;
    /// stable 6.1 and later lines); before, from `bpf_free_inode` after an RCU grace period.
    pub unpin_frees_at_once: bool,
    /// A PERCPU_ARRAY template of a map-in-map requires the inner map's max_entries
    /// (`percpu_array_map_ops.map_meta_equal = array_map_meta_equal`, 593980175389, 7.1;
    /// stable 6.18.y by 6.18.44, not 6.12.118).
    pub percpu_array_template_size: bool,
    /// LOOKUP checks its flags after the fd and read permission (`bpf_map_check_op_flags`,
    /// 8f6ddc058760, 6.19); before: flags first, before the fd.
    pub lookup_flags_after_fd: bool,
    /// Whether a syscall update of a per-CPU map stores the padding bytes between value_size
    /// and round_up(value_size, 8) of each CPU's chunk, so that lookup returns them
    /// (`copy_map_value_long` in `bpf_percpu_array_update` / `pcpu_copy_value`, 6.18).
    pub percpu_padding_roundtrips: bool,
    /// Per-CPU maps take `BPF_F_CPU` (8, the CPU in the upper 32 bits: one CPU's value_size
    /// bytes) on LOOKUP and UPDATE and `BPF_F_ALL_CPUS` (16, one value for every CPU) on UPDATE,
    /// checked by `bpf_map_check_op_flags`; their update check became `(u32)flags >
    /// BPF_F_ALL_CPUS`, so NOEXIST|EXIST (3) and F_CPU with either pass as BPF_ANY, a kernel
    /// finding (`regressions/percpu-update-flags-3-einval.case`) (2b421662c788 series, 7.0).
    pub percpu_cpu_flags: bool,
    /// MAP_CREATE checks RDONLY|WRONLY together (`bpf_get_file_flag`) after the allocation, so
    /// an inner fd, alloc and name error comes first (`map_create`, 9b435d23f51e, 7.2).
    pub create_file_flags_late: bool,
    /// BPF_MAP_TYPE_BLOOM_FILTER exists (9330986c0300, 5.16); before, its create is EINVAL.
    pub bloom_filter: bool,
    /// `bloom_map_alloc_check` refuses a value above KMALLOC_MAX_SIZE with E2BIG
    /// (a8d89feba7e5, late 2023, backported to 6.6.y); before, such a filter is created.
    pub bloom_value_size_checked: bool,
    /// LPM_TRIE has the generic batch ops ("bpf: add support for batched operations in LPM
    /// trie maps", 5.13); before, LOOKUP_BATCH is ENOTSUPP.
    pub lpm_batch: bool,
    /// ARRAY_OF_MAPS and HASH_OF_MAPS have batch ops ("bpf: Extend batch operations for
    /// map-in-map bpf-maps", 9263dddc7b6f, 5.19); before, every batch command is ENOTSUPP.
    pub map_in_map_batch: bool,
    /// `generic_map_lookup_batch` skips a key whose value is missing (an ARRAY_OF_MAPS
    /// hole): "bpf: skip non exist keys in generic_map_lookup_batch" (5644c6b50ffe, 6.14 and
    /// stable); before, three retries and EINTR.
    pub batch_skips_holes: bool,
    /// LPM_TRIE updates honour BPF_EXIST and BPF_NOEXIST (eae6a075e953, 6.13; 6.12.5, 6.1.y,
    /// 5.4.287); before, both act as BPF_ANY.
    pub lpm_exist_flags: bool,
    /// A full LPM_TRIE still replaces a present prefix (532d6b36b2bf, 6.13; 6.12.5, 6.1.y);
    /// before, any update of a full trie is ENOSPC.
    pub lpm_full_in_place: bool,
    /// LPM_TRIE GET_NEXT_KEY of a missing key restarts at the first key (27abc7b3fa2e, 6.13;
    /// 6.12.5, 5.4.287); before, a stored prefix of the same length could be taken for it.
    pub lpm_next_key_exact: bool,
    /// HASH_OF_MAPS replaces a present key's inner map in place (`bpf_fd_htab_map_update_elem`
    /// through `htab_map_update_elem_in_place`, "bpf: Support atomic update for htab of maps",
    /// 6.16); before, the update linked a new element at the bucket head like HASH.
    pub fd_htab_update_in_place: bool,
    /// The common LRU refills a CPU's local free list by `clamp(max_entries / cpus / 2, 1,
    /// 128)` nodes (d4adf1c9ee77, 6.16; 6.12.y and 6.6.99), not 128 (`bpf_lru_list.c`).
    pub lru_target_free: bool,
    /// The largest max_entries a HASH accepts: `htab_map_alloc` refuses with E2BIG when
    /// `roundup_pow_of_two(max_entries)` buckets of 16 bytes overflow a u32 (2^27 on 64-bit).
    pub hash_max_entries: u32,
    /// A private bpf filesystem can be mounted (pins are modelled only then).
    pub bpffs: bool,
    /// cgroup v2 is mounted and writable (cgroup ops are modelled only then).
    pub cgroup2: bool,
    /// Memory accounting dialect.
    pub mem_accounting: MemAccounting,
    /// CAP_SYS_RESOURCE: raising a hard rlimit needs it (`do_prlimit`).
    pub cap_sys_resource: bool,
    /// `sysctl fs.nr_open`, the ceiling of RLIMIT_NOFILE.
    pub nr_open: u64,
    /// The hard RLIMIT_NOFILE mapcheck was started with (a case process inherits it).
    pub nofile_hard: u64,
    /// The hard RLIMIT_MEMLOCK mapcheck was started with.
    pub memlock_hard: u64,
}

impl Profile {
    /// The dialect of the 6.18 kernel SEMANTICS.md was verified on, with `cpus` possible CPUs.
    pub fn linux_6_18(cpus: u32) -> Profile {
        Profile {
            release: "6.18".into(),
            possible_cpus: cpus,
            numa_nodes: 1,
            cap_sys_admin: true,
            freeze_checks_write: true,
            hash_lookup_and_delete: true,
            percpu_array_batch: true,
            hash_key_size_lifted: true,
            xdp_frags: true,
            lookup_flags_after_fd: false,
            prog_array_owner_attach: true,
            unpin_frees_at_once: true,
            percpu_array_template_size: true,
            percpu_padding_roundtrips: true,
            percpu_cpu_flags: false,
            create_file_flags_late: false,
            bloom_filter: true,
            bloom_value_size_checked: true,
            lpm_batch: true,
            map_in_map_batch: true,
            batch_skips_holes: true,
            lpm_exist_flags: true,
            lpm_full_in_place: true,
            lpm_next_key_exact: true,
            fd_htab_update_in_place: true,
            lru_target_free: true,
            hash_max_entries: 1 << 27,
            bpffs: true,
            cgroup2: true,
            mem_accounting: MemAccounting::Memcg,
            cap_sys_resource: true,
            nr_open: 1 << 20,
            nofile_hard: 1 << 20,
            memlock_hard: u64::MAX,
        }
    }
}

/// Every yes-or-no dialect, oldest change first, with the upstream change that made it "yes"
/// (or "no", for padding: the BPF_F_CPU series dropped it).
pub const DIALECTS: [(&str, &str); 23] = [
    (
        "memcg-accounting",
        "memcg, not RLIMIT_MEMLOCK (97306be45fbe, 5.11)",
    ),
    (
        "hash-key-size-lifted",
        "hash keys beyond 512 bytes (c6bde958a62b, 5.11)",
    ),
    (
        "percpu-array-batch",
        "PERCPU_ARRAY batch ops (f008d732ab18, 5.13)",
    ),
    (
        "lpm-batch",
        "LPM_TRIE batch ops (bpf: add support for batched operations in LPM trie maps, 5.13)",
    ),
    (
        "hash-lookup-and-delete",
        "hash LOOKUP_AND_DELETE (3e87f192b405, 5.14)",
    ),
    ("bloom-filter", "BPF_MAP_TYPE_BLOOM_FILTER (9330986c0300, 5.16)"),
    ("xdp-frags", "BPF_F_XDP_HAS_FRAGS (c2f2cdbeffda, 5.18)"),
    ("map-in-map-batch", "map-in-map batch ops (9263dddc7b6f, 5.19)"),
    (
        "freeze-checks-write",
        "FREEZE needs write permission (c4c84f6fb2c4, 6.5)",
    ),
    (
        "bloom-value-size-checked",
        "BLOOM_FILTER value_size above KMALLOC_MAX_SIZE is E2BIG (a8d89feba7e5, 6.6.y)",
    ),
    (
        "batch-skips-holes",
        "LOOKUP_BATCH skips a missing value, not EINTR (5644c6b50ffe, 6.14 and stable)",
    ),
    (
        "lpm-exist-flags",
        "LPM_TRIE updates honour BPF_EXIST/BPF_NOEXIST (eae6a075e953, 6.13 and stable)",
    ),
    (
        "lpm-full-in-place",
        "a full LPM_TRIE replaces a present prefix (532d6b36b2bf, 6.13 and stable)",
    ),
    (
        "lpm-next-key-exact",
        "LPM_TRIE GET_NEXT_KEY of a missing key restarts (27abc7b3fa2e, 6.13 and stable)",
    ),
    ("fd-htab-update-in-place", "HASH_OF_MAPS update in place (6.16)"),
    (
        "lru-target-free",
        "the common LRU refills a local list by max_entries/cpus/2, not 128 (d4adf1c9ee77, 6.16 and stable)",
    ),
    (
        "prog-array-owner-attach",
        "PROG_ARRAY owner has expected_attach_type (4540aed51b12, 6.18 and stable)",
    ),
    (
        "unpin-frees-at-once",
        "unpin puts the object in the call (4f375ade6aa9, 6.18 and stable)",
    ),
    (
        "percpu-array-template-size",
        "PERCPU_ARRAY inner maps match max_entries (593980175389, 7.1 and 6.18.y)",
    ),
    (
        "lookup-flags-after-fd",
        "LOOKUP flags after fd (8f6ddc058760, 6.19)",
    ),
    (
        "percpu-padding-roundtrips",
        "per-CPU padding stored (until the 7.0 BPF_F_CPU series)",
    ),
    (
        "percpu-cpu-flags",
        "BPF_F_CPU/BPF_F_ALL_CPUS on per-CPU maps (2b421662c788, 7.0)",
    ),
    (
        "create-file-flags-late",
        "MAP_CREATE checks RDONLY|WRONLY after allocation (9b435d23f51e, 7.2)",
    ),
];

impl Profile {
    /// FREEZE of a frozen map: EPERM where write permission is checked first, else EBUSY.
    pub fn refreeze_errno(&self) -> Errno {
        match self.freeze_checks_write {
            true => Errno::EPERM,
            false => Errno::EBUSY,
        }
    }

    /// The yes-or-no dialects by name, each with the change that made it: what a case's
    /// `# dialect:` header names, and what `mapcheck dialects` and the matrix print.
    pub fn dialects(&self) -> Vec<(&'static str, bool)> {
        DIALECTS
            .iter()
            .map(|(n, _)| (*n, self.dialect_value(n)))
            .collect()
    }

    fn dialect_value(&self, name: &str) -> bool {
        match name {
            "memcg-accounting" => self.mem_accounting == MemAccounting::Memcg,
            "hash-key-size-lifted" => self.hash_key_size_lifted,
            "percpu-array-batch" => self.percpu_array_batch,
            "hash-lookup-and-delete" => self.hash_lookup_and_delete,
            "xdp-frags" => self.xdp_frags,
            "bloom-filter" => self.bloom_filter,
            "bloom-value-size-checked" => self.bloom_value_size_checked,
            "lpm-batch" => self.lpm_batch,
            "map-in-map-batch" => self.map_in_map_batch,
            "batch-skips-holes" => self.batch_skips_holes,
            "lpm-exist-flags" => self.lpm_exist_flags,
            "lpm-full-in-place" => self.lpm_full_in_place,
            "lpm-next-key-exact" => self.lpm_next_key_exact,
            "freeze-checks-write" => self.freeze_checks_write,
            "fd-htab-update-in-place" => self.fd_htab_update_in_place,
            "lru-target-free" => self.lru_target_free,
            "prog-array-owner-attach" => self.prog_array_owner_attach,
            "unpin-frees-at-once" => self.unpin_frees_at_once,
            "percpu-array-template-size" => self.percpu_array_template_size,
            "lookup-flags-after-fd" => self.lookup_flags_after_fd,
            "percpu-padding-roundtrips" => self.percpu_padding_roundtrips,
            "percpu-cpu-flags" => self.percpu_cpu_flags,
            "create-file-flags-late" => self.create_file_flags_late,
            _ => unreachable!("not in DIALECTS: {name}"),
        }
    }

    /// Sets one dialect by name (tests: a model of the other kernel); false if unknown.
    pub fn set_dialect(&mut self, name: &str, v: bool) -> bool {
        match name {
            "memcg-accounting" => {
                self.mem_accounting = if v {
                    MemAccounting::Memcg
                } else {
                    MemAccounting::Rlimit
                }
            }
            "hash-key-size-lifted" => self.hash_key_size_lifted = v,
            "percpu-array-batch" => self.percpu_array_batch = v,
            "hash-lookup-and-delete" => self.hash_lookup_and_delete = v,
            "xdp-frags" => self.xdp_frags = v,
            "bloom-filter" => self.bloom_filter = v,
            "bloom-value-size-checked" => self.bloom_value_size_checked = v,
            "lpm-batch" => self.lpm_batch = v,
            "map-in-map-batch" => self.map_in_map_batch = v,
            "batch-skips-holes" => self.batch_skips_holes = v,
            "lpm-exist-flags" => self.lpm_exist_flags = v,
            "lpm-full-in-place" => self.lpm_full_in_place = v,
            "lpm-next-key-exact" => self.lpm_next_key_exact = v,
            "freeze-checks-write" => self.freeze_checks_write = v,
            "fd-htab-update-in-place" => self.fd_htab_update_in_place = v,
            "lru-target-free" => self.lru_target_free = v,
            "prog-array-owner-attach" => self.prog_array_owner_attach = v,
            "unpin-frees-at-once" => self.unpin_frees_at_once = v,
            "percpu-array-template-size" => self.percpu_array_template_size = v,
            "lookup-flags-after-fd" => self.lookup_flags_after_fd = v,
            "percpu-padding-roundtrips" => self.percpu_padding_roundtrips = v,
            "percpu-cpu-flags" => self.percpu_cpu_flags = v,
            "create-file-flags-late" => self.create_file_flags_late = v,
            _ => return false,
        }
        true
    }

    /// One dialect by name (None: no such dialect).
    pub fn dialect(&self, name: &str) -> Option<bool> {
        self.dialects()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

impl Default for Profile {
    fn default() -> Profile {
        Profile::linux_6_18(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every dialect reads and writes by its name, independently of the others.
    #[test]
    fn dialects_round_trip_by_name() {
        for (name, _) in DIALECTS {
            for v in [true, false] {
                let mut p = Profile::default();
                assert!(p.set_dialect(name, v), "{name}");
                assert_eq!(p.dialect(name), Some(v), "{name}");
                let others = |q: &Profile| {
                    q.dialects()
                        .into_iter()
                        .filter(|(n, _)| *n != name)
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    others(&p),
                    others(&Profile::default()),
                    "{name} moved another dialect"
                );
            }
        }
        assert!(!Profile::default().set_dialect("no-such", true));
        assert_eq!(Profile::default().dialect("no-such"), None);
        assert_eq!(
            Profile {
                freeze_checks_write: false,
                ..Profile::default()
            }
            .refreeze_errno(),
            Errno::EBUSY
        );
    }
}
