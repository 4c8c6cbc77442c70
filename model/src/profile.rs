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
    /// Errno of a FREEZE on an already frozen map: EPERM since write permission is checked
    /// first (`map_freeze`, 6.x), EBUSY on the original 5.2 order.
    pub refreeze_errno: Errno,
    /// Whether a syscall update of a per-CPU map stores the padding bytes between value_size
    /// and round_up(value_size, 8) of each CPU's chunk, so that lookup returns them
    /// (`copy_map_value_long` in `bpf_percpu_array_update` / `pcpu_copy_value`, 6.18).
    pub percpu_padding_roundtrips: bool,
    /// HASH_OF_MAPS replaces a present key's inner map in place (`bpf_fd_htab_map_update_elem`
    /// through `htab_map_update_elem_in_place`, "bpf: Support atomic update for htab of maps",
    /// 6.16); before, the update linked a new element at the bucket head like HASH.
    pub fd_htab_update_in_place: bool,
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
            refreeze_errno: Errno::EPERM,
            percpu_padding_roundtrips: true,
            fd_htab_update_in_place: true,
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

impl Default for Profile {
    fn default() -> Profile {
        Profile::linux_6_18(2)
    }
}
