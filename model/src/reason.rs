//! Why the model refuses: every refusal path has a name, and each name declares where it can
//! happen. The core idea: an errno the model predicts carries its `Why`, and the coverage
//! catalogue is derived from this table (`coverage::cells`), so a new refusal path is a new
//! cell without a second list to keep in step.

use crate::errno::Errno;
use crate::op::MapType;
use crate::profile::Profile;

/// Declares the reasons: `Name = ERRNO, "word", [("rows", "ops"), ...]`. `rows` and `ops` are
/// space-separated: coverage rows (or the groups in [`rows_of`]) and `Op::kind` words.
macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $errno:ident, $word:literal, [$(($rows:literal, $ops:expr)),* $(,)?];)*) => {
        /// A named refusal path of the model.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
        pub enum Why {
            $($(#[$doc])* $name,)*
        }
        impl Why {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Why] = &[$(Why::$name,)*];
            /// The word coverage prints in brackets: `update:EINVAL[flags]`.
            pub fn word(self) -> &'static str {
                match self { $(Why::$name => $word,)* }
            }
            /// The errno this path refuses with, tagged with the path.
            pub fn errno(self) -> Errno {
                match self { $(Why::$name => Errno::$errno.because(self),)* }
            }
            /// Where this path can refuse: (rows, ops) pairs, each space-separated.
            pub fn scope(self) -> &'static [(&'static str, &'static str)] {
                match self { $(Why::$name => &[$(($rows, $ops)),*],)* }
            }
        }
    };
}

/// The element commands that resolve a map fd first (`element` in world.rs), the batch
/// commands included (`bpf_map_do_batch`).
const ELEM: &str = "update lookup delete next_key lookup_and_delete freeze check \
    lookup_batch lookup_and_delete_batch update_batch delete_batch";

/// The batch commands.
const BATCH: &str = "lookup_batch lookup_and_delete_batch update_batch delete_batch";

/// Expands a row group of a scope into coverage rows: `maps` is every map type with keys,
/// `keyless` every one without, a type's word its own row; the rest are listed.
pub fn rows_of(group: &str) -> Vec<&'static str> {
    let types = MapType::TYPES.iter();
    match group {
        "maps" => types.filter(|e| !e.0.is_keyless()).map(|e| e.2).collect(),
        "keyless" => types.filter(|e| e.0.is_keyless()).map(|e| e.2).collect(),
        _ => match types.clone().find(|e| e.2 == group) {
            Some(e) => vec![e.2],
            None => listed(group).to_vec(),
        },
    }
}

/// The row groups of more than one type that are not `maps` or `keyless`, and the rows of
/// other objects.
fn listed(group: &str) -> &'static [&'static str] {
    match group {
        "value" => &[
            "array",
            "percpu_array",
            "hash",
            "percpu_hash",
            "lru_hash",
            "lru_percpu_hash",
        ],
        "value_arrays" => &["array", "percpu_array"],
        "value_hashes" => &["hash", "percpu_hash", "lru_hash", "lru_percpu_hash"],
        "hashes" => &[
            "hash",
            "percpu_hash",
            "hash_of_maps",
            "lru_hash",
            "lru_percpu_hash",
        ],
        // Hashes that refuse a new key when full (an LRU evicts instead).
        "bounded_hashes" => &["hash", "percpu_hash", "hash_of_maps"],
        "lru" => &["lru_hash", "lru_percpu_hash"],
        "percpu" => &["percpu_array", "percpu_hash", "lru_percpu_hash"],
        "fd_maps" => &[
            "prog_array",
            "perf_event_array",
            "cgroup_array",
            "array_of_maps",
            "hash_of_maps",
        ],
        "fd_arrays" => &["prog_array", "perf_event_array", "cgroup_array", "array_of_maps"],
        "map_in_map" => &["array_of_maps", "hash_of_maps"],
        "queue_stack" => &["queue", "stack"],
        // Who has which batch command on a kernel that has them all (`Family::batch`; the
        // test `batch_rows_are_the_families_ops_tables` holds the two together).
        "batch_lookup" => &[
            "array",
            "percpu_array",
            "hash",
            "percpu_hash",
            "lpm_trie",
            "array_of_maps",
            "hash_of_maps",
            "lru_hash",
            "lru_percpu_hash",
        ],
        "batch_update" => &[
            "array",
            "percpu_array",
            "hash",
            "percpu_hash",
            "lpm_trie",
            "array_of_maps",
            "hash_of_maps",
            "lru_hash",
            "lru_percpu_hash",
        ],
        "batch_delete" => &[
            "hash",
            "percpu_hash",
            "lpm_trie",
            "hash_of_maps",
            "lru_hash",
            "lru_percpu_hash",
        ],
        "badfd" => &["badfd"],
        "nonmap" => &["nonmap"],
        "objects" => &["objects"],
        "fdtable" => &["fdtable"],
        "cpu" => &["cpu"],
        "scale" => &["scale"],
        "invalid_type" => &["invalid_type"],
        _ => &[],
    }
}

reasons! {
    // Resolving an fd (`__bpf_map_get`, `bpf_prog_get`, `fdget`).
    /// No open fd by that number (closed, never opened). Only `badfd` rows: the generator
    /// and scripts name a closed fd as `closed`, never by a handle (which is `nonmap`).
    NoFd = EBADF, "no-fd", [("badfd", ELEM), ("map_in_map", "create update update_batch"),
        ("prog_array", "update"), ("objects", "load")];
    /// An O_PATH fd, which `fdget` does not see.
    OPath = EBADF, "o-path", [("nonmap", ELEM), ("map_in_map", "create update update_batch"),
        ("prog_array", "update"), ("objects", "load")];
    /// A file that is not a map (`__bpf_map_get`: EINVAL).
    NotMap = EINVAL, "not-map", [("badfd nonmap", ELEM), ("map_in_map", "create update update_batch"),
        ("objects", "load")];
    /// `bpf_obj_get_info_by_fd`: no file at all (EBADFD, not EBADF).
    InfoNoFd = EBADFD, "no-fd", [("badfd", "info")];
    /// `bpf_obj_get_info_by_fd`: an O_PATH fd.
    InfoOPath = EBADFD, "o-path", [("nonmap", "info")];
    /// `bpf_obj_get_info_by_fd`: a file that is no program, map, BTF or link.
    InfoNotBpf = EINVAL, "not-bpf", [("badfd nonmap", "info")];

    // Element commands (kernel/bpf/syscall.c, then the family).
    /// Flags outside what the command takes: LOOKUP's before the fd, UPDATE's in the family,
    /// MAP_CREATE's in the family's `map_alloc_check`.
    Flags = EINVAL, "flags", [("maps keyless badfd nonmap", "lookup lookup_and_delete"),
        ("value lpm_trie", "prog_update"),
        ("maps", "update create"), ("keyless", "create"), ("batch_lookup", "lookup_batch"),
        ("hashes", "lookup_and_delete_batch"), ("batch_update", "update_batch"),
        ("batch_delete", "delete_batch")];
    /// The fd's access mode (`map_get_sys_perms`: opened read-only or write-only).
    Access = EPERM, "access", [("maps keyless", ELEM)];
    /// A write to a frozen map (`map_get_sys_perms` drops FMODE_CAN_WRITE).
    Frozen = EPERM, "frozen", [("maps keyless", "update delete lookup_and_delete \
        lookup_and_delete_batch update_batch delete_batch")];
    /// `map_freeze` on a frozen map (EPERM on 6.18, EBUSY before 6.5: `Profile`).
    Refreeze = EPERM, "refreeze", [("maps keyless", "freeze")];
    /// BPF_F_LOCK on a map without a `bpf_spin_lock` in its value.
    FLock = EINVAL, "f-lock", [("maps keyless", "lookup update lookup_and_delete"),
        ("value lpm_trie", "prog_update"),
        ("batch_lookup", "lookup_batch"), ("hashes", "lookup_and_delete_batch"),
        ("batch_update", "update_batch"), ("batch_delete", "delete_batch")];
    /// `bpf_map_check_op_flags` (7.0): BPF_F_CPU/BPF_F_ALL_CPUS on a map that is not per-CPU,
    /// both at once, or upper flag bits without BPF_F_CPU.
    CpuFlags = EINVAL, "cpu-flags", [("maps keyless", "lookup update")];
    /// The verifier refuses the helper on this map type (`check_map_func_compatibility`):
    /// PROG_ARRAY, PERF_EVENT_ARRAY and CGROUP_ARRAY take no map helper of these, a
    /// map-in-map only `bpf_map_lookup_elem`; the program is not loaded.
    ProgHelper = EINVAL, "verifier", [("prog_array perf_event_array cgroup_array",
        "prog_lookup prog_update prog_delete"), ("map_in_map", "prog_update prog_delete")];
    /// `bpf_map_check_op_flags` (7.0): BPF_F_CPU with a CPU that is not possible.
    CpuRange = ERANGE, "cpu-range", [("percpu", "lookup update")];
    /// The family has no such command (`map_lookup_and_delete_elem` of arrays and fd maps).
    NoCommand = ENOTSUPP, "no-command", [("value_arrays fd_maps bloom_filter lpm_trie", "lookup_and_delete")];
    /// Hashes had no LOOKUP_AND_DELETE before 5.14 (`Profile::hash_lookup_and_delete`).
    OldNoCommand = ENOTSUPP, "no-command", [("value_hashes", "lookup_and_delete")];
    /// PERCPU_ARRAY had no LOOKUP_BATCH before 5.13 (`bpf_map_do_batch`; `check` dumps by
    /// batch).
    NoBatch = ENOTSUPP, "no-batch", [("percpu_array", "check"), ("scale", "fill"),
        ("percpu_array", BATCH)];
    /// Queues, stacks and bloom filters have no batch commands at all (`bpf_map_do_batch`).
    KeylessBatch = ENOTSUPP, "no-batch", [("keyless", "check"), ("keyless", BATCH)];
    /// LPM_TRIE before 5.13: no batch ops (`Profile::lpm_batch`).
    LpmNoBatch = ENOTSUPP, "no-batch", [("lpm_trie", "check"), ("lpm_trie", BATCH)];
    /// Map-in-map types before 5.19 (9263dddc7b6f): no batch ops
    /// (`Profile::map_in_map_batch`).
    MapInMapNoBatch = ENOTSUPP, "no-batch", [("map_in_map", BATCH)];
    /// A batch command the type's ops table lacks (`BPF_DO_BATCH` of a NULL op, after the
    /// access checks): arrays and LPM tries have no LOOKUP_AND_DELETE_BATCH, arrays no
    /// DELETE_BATCH, the other fd arrays none at all.
    NoBatchCmd = ENOTSUPP, "no-command", [("value_arrays array_of_maps",
        "lookup_and_delete_batch delete_batch"), ("lpm_trie", "lookup_and_delete_batch"),
        ("prog_array perf_event_array cgroup_array", BATCH)];
    /// `__htab_map_lookup_and_delete_batch`: a nonzero `batch.flags`.
    BatchFlags = EINVAL, "batch-flags", [("hashes", "lookup_batch lookup_and_delete_batch")];
    /// `generic_map_lookup_batch` before 5644c6b50ffe: a missing value (an ARRAY_OF_MAPS
    /// hole) looked up three more times, then EINTR (`Profile::batch_skips_holes`).
    BatchHole = EINTR, "hole", [("array_of_maps", "lookup_batch")];
    /// `__htab_map_lookup_and_delete_batch`: the first bucket with elements holds more
    /// than `count` (nothing copied; `out_batch` names it).
    BatchSpace = ENOSPC, "bucket", [("hashes", "lookup_batch lookup_and_delete_batch")];
    /// `bpf_prog_load`: a prog flag this kernel does not know (XDP frags before 5.18).
    ProgFlags = EINVAL, "prog-flags", [("objects", "load")];
    /// `array_map_delete_elem`: arrays cannot delete.
    ArrayDelete = EINVAL, "array", [("value_arrays", "delete prog_delete")];
    /// An array index at or above max_entries (update, fd-array delete).
    Index = E2BIG, "index", [("value_arrays fd_arrays", "update"), ("fd_arrays", "delete"),
        ("value_arrays", "prog_update"),
        ("value_arrays array_of_maps", "update_batch")];
    /// `array_map_lookup_elem`: an index at or above max_entries reads as missing.
    LookupIndex = ENOENT, "index", [("value_arrays", "lookup prog_lookup")];
    /// No element at that key (or an empty fd slot); BPF_EXIST on a missing hash key.
    NoKey = ENOENT, "no-key", [("value_hashes", "lookup delete lookup_and_delete update"),
        ("value_hashes lpm_trie", "prog_lookup prog_delete prog_update"), ("map_in_map", "prog_lookup"),
        ("lpm_trie", "lookup delete update"),
        ("hash_of_maps", "update"), ("prog_array array_of_maps hash_of_maps", "lookup"),
        ("fd_maps", "delete"), ("batch_delete", "delete_batch")];
    /// BPF_NOEXIST on a present key (every array slot is present).
    Exists = EEXIST, "exists", [("value hash_of_maps lpm_trie", "update"), ("value lpm_trie", "prog_update")];
    /// A new key in a hash holding max_entries (`alloc_htab_elem`).
    Full = E2BIG, "full", [("bounded_hashes queue_stack", "update"), ("bounded_hashes", "update_batch"),
        ("hash percpu_hash", "prog_update")];
    /// BPF_EXIST on an LRU key this very update's node pop evicted (`prealloc_lru_pop`
    /// runs before `check_flags`).
    /// (LRU_PERCPU_HASH's BPF_EXIST pops no node: never there.)
    LruSelfEvicted = ENOENT, "self-evicted", [("lru_hash", "update prog_update")];
    /// A pop or peek of an empty queue or stack (`__queue_map_get`, `__stack_map_get`).
    Empty = ENOENT, "empty", [("queue_stack", "lookup lookup_and_delete")];
    /// `queue_stack_map_push_elem`: BPF_NOEXIST, or a flag above BPF_EXIST;
    /// `bloom_map_push_elem`: any flag but BPF_ANY.
    PushFlags = EINVAL, "push-flags", [("keyless", "update")];
    /// `queue_stack_map_delete_elem`: no deletes.
    KeylessDelete = EINVAL, "no-delete", [("queue_stack", "delete")];
    /// `queue_stack_map_get_next_key`: no keys to walk.
    KeylessNextKey = EINVAL, "no-walk", [("queue_stack", "next_key")];
    /// `trie_update_elem`: a new prefix in a trie of max_entries (before 532d6b36 any
    /// update of a full trie).
    TrieFull = ENOSPC, "full", [("lpm_trie", "update update_batch prog_update")];
    /// `trie_update_elem`, `trie_delete_elem`: a prefixlen above 8 times the data bytes.
    PrefixLen = EINVAL, "prefixlen", [("lpm_trie", "update delete update_batch delete_batch prog_update prog_delete")];
    /// `trie_lookup_elem`: such a prefixlen finds nothing.
    PrefixLenMiss = ENOENT, "prefixlen", [("lpm_trie", "lookup prog_lookup")];
    /// `bloom_map_peek_elem`: one of the value's bits is clear.
    NotInFilter = ENOENT, "absent", [("bloom_filter", "lookup")];
    /// `bloom_map_delete_elem`: EOPNOTSUPP, not the queue's EINVAL.
    BloomNoDelete = EOPNOTSUPP, "no-delete", [("bloom_filter", "delete")];
    /// `bloom_map_get_next_key`: EOPNOTSUPP.
    BloomNoWalk = EOPNOTSUPP, "no-walk", [("bloom_filter", "next_key")];
    /// GET_NEXT_KEY past the last key.
    End = ENOENT, "end", [("maps", "next_key"), ("batch_lookup", "lookup_batch"),
        ("hashes", "lookup_and_delete_batch")];
    /// CGROUP_ARRAY and PERF_EVENT_ARRAY have no `map_fd_sys_lookup_elem`.
    Unreadable = ENOTSUPP, "unreadable", [("perf_event_array cgroup_array", "lookup")];

    // The fd an fd-holding map is given (`map_fd_get_ptr` of each type).
    /// PROG_ARRAY: the fd is a map, cgroup or other file, not a program.
    NotProg = EINVAL, "not-prog", [("prog_array", "update")];
    /// PROG_ARRAY: the program's type, JIT or attach type differs from the array's owner
    /// (`__bpf_prog_map_compatible`); at load, a used array whose owner differs.
    Owner = EINVAL, "owner", [("prog_array", "update"), ("objects", "load")];
    /// Map-in-map: the inner map does not match the template (`bpf_map_meta_equal`).
    Template = EINVAL, "template", [("map_in_map", "update update_batch")];
    /// CGROUP_ARRAY: not a cgroup2 directory (`cgroup_v1v2_get_from_fd`).
    NotCgroup = EBADF, "not-cgroup", [("cgroup_array", "update")];
    /// PERF_EVENT_ARRAY: not a perf event (`perf_event_get`).
    NotPerf = EBADF, "not-perf", [("perf_event_array", "update")];
    /// PERF_EVENT_ARRAY: an inherited event (`perf_event_read_local` refuses them).
    Inherit = EOPNOTSUPP, "inherit", [("perf_event_array", "update")];
    /// A removed cgroup: opening it, removing it again, storing it in a CGROUP_ARRAY.
    Removed = ENOENT, "removed", [("objects", "open_cgroup rmdir"), ("cgroup_array", "update")];

    // MAP_CREATE (`map_create`, the family's `map_alloc_check` and `map_alloc`).
    /// map_extra is for BLOOM_FILTER and ARENA only.
    MapExtra = EINVAL, "map-extra", [("maps queue_stack", "create")];
    /// `htab_map_alloc_check`: LRU nodes are preallocated, BPF_F_NO_PREALLOC is ENOTSUPP.
    LruNoPrealloc = ENOTSUPP, "prealloc", [("lru", "create")];
    /// `trie_alloc`: an LPM trie must be made with BPF_F_NO_PREALLOC.
    PreallocOnly = EINVAL, "prealloc", [("lpm_trie", "create")];
    /// `bloom_map_alloc`: map_extra above its low 4 bits (the number of hash functions).
    HashCount = EINVAL, "hash-count", [("bloom_filter", "create")];
    /// BPF_F_RDONLY and BPF_F_WRONLY together (`bpf_get_file_flag`).
    RdonlyWronly = EINVAL, "rdonly-wronly", [("maps keyless", "create")];
    /// BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together, or either on an fd array.
    ProgAccess = EINVAL, "prog-access", [("maps keyless", "create")];
    /// A NUMA node that is not online.
    NumaNode = EINVAL, "numa-node", [("maps keyless", "create")];
    /// BPF_F_NUMA_NODE on a per-CPU map, or an LRU hash with per-CPU lists.
    NumaPercpu = EINVAL, "numa-percpu", [("percpu lru_hash", "create")];
    /// A map type this kernel does not know (`find_and_alloc_map`).
    UnknownType = EINVAL, "type", [("invalid_type", "create")];
    /// max_entries 0.
    NoEntries = EINVAL, "max-entries", [("maps keyless", "create")];
    /// A key size the family refuses (arrays: 4; hashes: not 0).
    KeySize = EINVAL, "key-size", [("maps keyless", "create")];
    /// A value size the family refuses (0; fd-holding maps: 4).
    ValueSize = EINVAL, "value-size", [("maps keyless", "create")];
    /// An array value above INT_MAX bytes.
    ValueTooBig = E2BIG, "value-size", [("value_arrays keyless", "create")];
    /// A hash element kmalloc cannot serve (key + value near KMALLOC_MAX_SIZE).
    ElemTooBig = E2BIG, "elem-size", [("hashes", "create")];
    /// `htab_map_alloc_check` before 5.11 (c6bde958a62b): a key above MAX_BPF_STACK (512).
    KeyTooBig = E2BIG, "key-size", [("hashes", "create")];
    /// A per-CPU value stride above PCPU_MIN_UNIT_SIZE.
    PercpuTooBig = E2BIG, "percpu-size", [("percpu", "create")];
    /// More hash entries than the bucket array can index (`htab_map_alloc`).
    TooManyEntries = E2BIG, "max-entries", [("hashes", "create")];
    /// BPF_F_ZERO_SEED without CAP_SYS_ADMIN.
    ZeroSeedCap = EPERM, "zero-seed", [("hashes", "create")];
    /// A map-in-map template that is a PROG_ARRAY (no `map_meta_equal`).
    InnerProgArray = ENOTSUPP, "inner-type", [("map_in_map", "create")];
    /// A map-in-map template that is itself a map-in-map.
    InnerNested = EINVAL, "inner-type", [("map_in_map", "create")];
    /// RLIMIT_MEMLOCK before 5.11 (`bpf_map_charge_init`).
    Memlock = EPERM, "memlock", [("value keyless", "create"), ("objects", "load")];
    /// `bpf_obj_name_cpy`.
    Name = EINVAL, "name", [("maps keyless", "create")];
    /// A large allocation that may fail (`bpf_map_area_alloc`).
    Alloc = ENOMEM, "alloc", [("value keyless", "create")];

    // Other objects.
    /// BPF_OBJ_PIN of something that is no map, program or link (`bpf_fd_probe_obj`).
    NotPinnable = EINVAL, "not-pinnable", [("objects", "pin")];
    /// BPF_OBJ_PIN to a name that exists.
    PinExists = EEXIST, "exists", [("objects", "pin")];
    /// No pin by that name.
    NoPin = ENOENT, "no-pin", [("objects", "unpin get_pinned")];
    /// BPF_OBJ_GET's file_flags (`bpf_get_file_flag`).
    FileFlags = EINVAL, "file-flags", [("objects", "get_pinned")];
    /// GET_FD_BY_ID's open_flags.
    OpenFlags = EINVAL, "open-flags", [("objects", "fd_by_id")];
    /// GET_FD_BY_ID of an id no live object has.
    NoId = ENOENT, "no-id", [("objects", "fd_by_id")];

    // The fd table and rlimits.
    /// No free fd under RLIMIT_NOFILE.
    NoFile = EMFILE, "nofile", [("fdtable",
        "create load fd_by_id perf_event mkcgroup open_cgroup get_pinned")];
    /// setrlimit with soft above hard (`do_prlimit`).
    SoftAboveHard = EINVAL, "soft-above-hard", [("fdtable", "rlimit")];
    /// `sched_setaffinity` to a CPU that is not online.
    CpuOffline = EINVAL, "offline", [("cpu", "cpu")];
    /// RLIMIT_NOFILE above fs.nr_open.
    NrOpen = EPERM, "nr-open", [("fdtable", "rlimit")];
    /// Raising a hard limit without CAP_SYS_RESOURCE.
    RaiseHard = EPERM, "raise-hard", [("fdtable", "rlimit")];
}

impl Why {
    /// The errno on this kernel: `Refreeze` follows the profile.
    pub fn errno_in(self, p: &Profile) -> Errno {
        match self {
            Why::Refreeze => p.refreeze_errno().because(self),
            w => w.errno(),
        }
    }

    /// Can this path refuse `op` in coverage row `row`?
    pub fn applies(self, row: &str, op: &str) -> bool {
        self.scope().iter().any(|(rows, ops)| {
            rows.split(' ').any(|g| rows_of(g).contains(&row)) && ops.split(' ').any(|o| o == op)
        })
    }

    /// The coverage cell outcome: `EINVAL[flags]`.
    pub fn cell(self, p: &Profile) -> String {
        format!("{}[{}]", self.errno_in(p), self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch rows are exactly the types whose ops table has the command on 6.18 (which
    /// has every batch command of these families): a family given a batch command in
    /// `Family::batch` but not here would have cells nobody counts.
    #[test]
    fn batch_rows_are_the_families_ops_tables() {
        let p = crate::Profile::linux_6_18(2);
        for (cmd, group) in [
            ("lookup_batch", "batch_lookup"),
            ("lookup_and_delete_batch", "hashes"),
            ("update_batch", "batch_update"),
            ("delete_batch", "batch_delete"),
        ] {
            let has: Vec<&str> = MapType::TYPES
                .iter()
                .filter(|e| (crate::maps::family_of(e.0).batch)(e.0, &p, cmd).is_ok())
                .map(|e| e.2)
                .collect();
            let mut rows = rows_of(group);
            rows.sort_by_key(|r| MapType::TYPES.iter().position(|e| e.2 == *r));
            assert_eq!(has, rows, "{cmd}");
        }
    }

    /// Every scope names known rows and op kinds (a typo would silently drop cells).
    #[test]
    fn scopes_name_known_rows_and_ops() {
        let ops = [
            "create",
            "update",
            "lookup",
            "delete",
            "next_key",
            "lookup_and_delete",
            "freeze",
            "check",
            "info",
            "load",
            "fd_by_id",
            "mkcgroup",
            "open_cgroup",
            "rmdir",
            "perf_event",
            "pin",
            "unpin",
            "get_pinned",
            "rlimit",
            "fill",
            "lookup_batch",
            "lookup_and_delete_batch",
            "update_batch",
            "delete_batch",
            "cpu",
            "prog_lookup",
            "prog_update",
            "prog_delete",
        ];
        for w in Why::ALL {
            assert!(!w.scope().is_empty(), "{w:?}");
            for (rows, o) in w.scope() {
                for g in rows.split(' ') {
                    assert!(!rows_of(g).is_empty(), "{w:?}: row group {g:?}");
                }
                for o in o.split(' ') {
                    assert!(ops.contains(&o), "{w:?}: op {o:?}");
                }
            }
            assert_eq!(w.errno().why(), Some(*w));
        }
    }

    /// Two reasons with the same errno and word in the same cell would count as one path.
    #[test]
    fn cells_are_distinct_per_row_and_op() {
        let p = Profile::default();
        for a in Why::ALL {
            for b in Why::ALL.iter().filter(|b| *b > a) {
                if a.cell(&p) != b.cell(&p) {
                    continue;
                }
                for (rows, ops) in a.scope() {
                    for g in rows.split(' ') {
                        for row in rows_of(g) {
                            for op in ops.split(' ') {
                                assert!(!b.applies(row, op), "{a:?} and {b:?} share {row}/{op}");
                            }
                        }
                    }
                }
            }
        }
    }
}
