//! The vocabulary of a program: `Op`s on symbolic `Handle`s, and the map parameters they carry.
//! The core idea: ops never name raw fd numbers, so shrinking can drop a creation together with
//! every op that uses it; deliberately bad fds are explicit `BadFd` variants.

use std::fmt;

/// What kind of kernel object a handle's fd refers to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    /// A BPF map (`m0`).
    Map,
    /// A BPF program (`p0`).
    Prog,
    /// A cgroup v2 directory (`c0`).
    Cgroup,
    /// A perf event (`e0`).
    Perf,
}

impl Kind {
    /// The letter that starts a handle of this kind.
    pub fn letter(self) -> char {
        match self {
            Kind::Map => 'm',
            Kind::Prog => 'p',
            Kind::Cgroup => 'c',
            Kind::Perf => 'e',
        }
    }
    /// Inverse of [`Kind::letter`].
    pub fn from_letter(c: char) -> Option<Kind> {
        [Kind::Map, Kind::Prog, Kind::Cgroup, Kind::Perf]
            .into_iter()
            .find(|k| k.letter() == c)
    }
}

/// A symbolic reference to an fd opened earlier in the sequence (`m0`, `p1`, `c0`, `e2`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Handle {
    /// The kind of object behind the fd.
    pub kind: Kind,
    /// Its number, unique per kind within a script.
    pub n: u32,
}

impl Handle {
    /// A map handle `m<n>`.
    pub const fn map(n: u32) -> Handle {
        Handle { kind: Kind::Map, n }
    }
    /// A program handle `p<n>`.
    pub const fn prog(n: u32) -> Handle {
        Handle { kind: Kind::Prog, n }
    }
    /// A cgroup handle `c<n>`.
    pub const fn cgroup(n: u32) -> Handle {
        Handle {
            kind: Kind::Cgroup,
            n,
        }
    }
    /// A perf event handle `e<n>`.
    pub const fn perf(n: u32) -> Handle {
        Handle { kind: Kind::Perf, n }
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.letter(), self.n)
    }
}

/// An fd that is deliberately not a usable map.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum BadFd {
    /// A number that was open a moment ago and has just been closed.
    Closed,
    /// A number far above anything the process ever opened.
    NeverOpened,
    /// An open fd of a regular file (not a BPF object).
    NotBpf,
}

impl BadFd {
    /// Every variant, for generation.
    pub const ALL: [BadFd; 3] = [BadFd::Closed, BadFd::NeverOpened, BadFd::NotBpf];
    /// The word after `badfd:` in scripts.
    pub fn word(self) -> &'static str {
        match self {
            BadFd::Closed => "closed",
            BadFd::NeverOpened => "never",
            BadFd::NotBpf => "file",
        }
    }
    /// Inverse of the textual form's `badfd:<word>`.
    pub fn from_word(w: &str) -> Option<BadFd> {
        BadFd::ALL.into_iter().find(|b| b.word() == w)
    }
}

/// The fd argument of an element command.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FdRef {
    /// The fd behind a live handle.
    Handle(Handle),
    /// A deliberately bad fd.
    Bad(BadFd),
}

/// The value argument of an update: bytes, or (for fd-holding maps) an fd.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Value {
    /// Raw value bytes.
    Bytes(Vec<u8>),
    /// A 4-byte fd number, resolved by the backend.
    Fd(FdRef),
    /// The 4-byte id of the map behind an open handle, resolved by the backend (a map of
    /// bytes holding map ids, as `map_in_map_batch_ops.c`'s inner maps hold their own).
    Id(Handle),
}

impl Value {
    /// The bytes, if this is a byte value.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Fd(_) | Value::Id(_) => None,
        }
    }
    /// Length as the syscall sees it (an fd is 4 bytes).
    pub fn len(&self) -> usize {
        match self {
            Value::Bytes(b) => b.len(),
            Value::Fd(_) | Value::Id(_) => 4,
        }
    }
    /// True for an empty byte value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for FdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdRef::Handle(h) => write!(f, "{h}"),
            FdRef::Bad(b) => write!(f, "badfd:{}", b.word()),
        }
    }
}

/// `enum bpf_map_type` values the model knows; anything else is `Other` (refused with EINVAL).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH` (1).
    #[doc(alias = "BPF_MAP_TYPE_HASH")]
    Hash,
    /// `BPF_MAP_TYPE_ARRAY` (2).
    #[doc(alias = "BPF_MAP_TYPE_ARRAY")]
    Array,
    /// `BPF_MAP_TYPE_PERCPU_HASH` (5).
    #[doc(alias = "BPF_MAP_TYPE_PERCPU_HASH")]
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY` (6).
    #[doc(alias = "BPF_MAP_TYPE_PERCPU_ARRAY")]
    PercpuArray,
    /// `BPF_MAP_TYPE_PROG_ARRAY` (3).
    #[doc(alias = "BPF_MAP_TYPE_PROG_ARRAY")]
    ProgArray,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (4).
    #[doc(alias = "BPF_MAP_TYPE_PERF_EVENT_ARRAY")]
    PerfEventArray,
    /// `BPF_MAP_TYPE_CGROUP_ARRAY` (8).
    #[doc(alias = "BPF_MAP_TYPE_CGROUP_ARRAY")]
    CgroupArray,
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS` (12).
    #[doc(alias = "BPF_MAP_TYPE_ARRAY_OF_MAPS")]
    ArrayOfMaps,
    /// `BPF_MAP_TYPE_HASH_OF_MAPS` (13).
    #[doc(alias = "BPF_MAP_TYPE_HASH_OF_MAPS")]
    HashOfMaps,
    /// `BPF_MAP_TYPE_QUEUE` (22).
    #[doc(alias = "BPF_MAP_TYPE_QUEUE")]
    Queue,
    /// `BPF_MAP_TYPE_STACK` (23).
    #[doc(alias = "BPF_MAP_TYPE_STACK")]
    Stack,
    /// `BPF_MAP_TYPE_LPM_TRIE` (11).
    #[doc(alias = "BPF_MAP_TYPE_LPM_TRIE")]
    LpmTrie,
    /// `BPF_MAP_TYPE_BLOOM_FILTER` (30).
    #[doc(alias = "BPF_MAP_TYPE_BLOOM_FILTER")]
    BloomFilter,
    /// `BPF_MAP_TYPE_LRU_HASH` (9).
    #[doc(alias = "BPF_MAP_TYPE_LRU_HASH")]
    LruHash,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH` (10).
    #[doc(alias = "BPF_MAP_TYPE_LRU_PERCPU_HASH")]
    LruPercpuHash,
    /// A raw type number the model does not implement (e.g. beyond `__MAX_BPF_MAP_TYPE`).
    Other(u32),
}

impl MapType {
    /// The value-holding families, in generation order.
    pub const MODELLED: [MapType; 4] = [
        MapType::Array,
        MapType::PercpuArray,
        MapType::Hash,
        MapType::PercpuHash,
    ];
    /// The fd-holding ("handle") families.
    pub const HANDLE_MAPS: [MapType; 5] = [
        MapType::ProgArray,
        MapType::PerfEventArray,
        MapType::CgroupArray,
        MapType::ArrayOfMaps,
        MapType::HashOfMaps,
    ];
    /// Every modelled type, in generation order, with its `map_type` number and its word in
    /// scripts and on the command line (a new type is one line here).
    pub const TYPES: [(MapType, u32, &'static str); 15] = [
        (MapType::Array, 2, "array"),
        (MapType::PercpuArray, 6, "percpu_array"),
        (MapType::Hash, 1, "hash"),
        (MapType::PercpuHash, 5, "percpu_hash"),
        (MapType::ProgArray, 3, "prog_array"),
        (MapType::PerfEventArray, 4, "perf_event_array"),
        (MapType::CgroupArray, 8, "cgroup_array"),
        (MapType::ArrayOfMaps, 12, "array_of_maps"),
        (MapType::HashOfMaps, 13, "hash_of_maps"),
        (MapType::LpmTrie, 11, "lpm_trie"),
        (MapType::Queue, 22, "queue"),
        (MapType::Stack, 23, "stack"),
        (MapType::BloomFilter, 30, "bloom_filter"),
        (MapType::LruHash, 9, "lru_hash"),
        (MapType::LruPercpuHash, 10, "lru_percpu_hash"),
    ];
    /// Every modelled type.
    pub fn all() -> impl Iterator<Item = MapType> {
        MapType::TYPES.into_iter().map(|(t, _, _)| t)
    }
    /// The raw `map_type` number.
    pub fn raw(self) -> u32 {
        match self {
            MapType::Other(n) => n,
            t => MapType::TYPES.iter().find(|e| e.0 == t).map_or(0, |e| e.1),
        }
    }
    /// The textual name used in scripts and on the command line.
    pub fn word(self) -> String {
        match self {
            MapType::Other(n) => format!("type{n}"),
            t => t.name().unwrap_or_default().into(),
        }
    }
    /// [`MapType::word`] of a named type, without an allocation (the runner counts a
    /// coverage cell per op).
    pub fn name(self) -> Option<&'static str> {
        MapType::TYPES.iter().find(|e| e.0 == self).map(|e| e.2)
    }
    /// Inverse of [`MapType::raw`] (what `bpf_map_info.type` reports).
    pub fn from_raw(n: u32) -> MapType {
        MapType::all().find(|t| t.raw() == n).unwrap_or(MapType::Other(n))
    }
    /// Inverse of [`MapType::word`]: the named types are read from `word` itself, so the two
    /// cannot disagree; `typeN` (digits only) is a raw number.
    pub fn from_word(w: &str) -> Option<MapType> {
        if let Some(t) = MapType::all().find(|t| t.word() == w) {
            return Some(t);
        }
        let n = w.strip_prefix("type")?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(MapType::Other(n.parse().ok()?))
    }
    /// Per-CPU types carry one value slot per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }
    /// LRU hashes: an update takes a node from the lists of the CPU it runs on, and may evict.
    pub fn is_lru(self) -> bool {
        matches!(self, MapType::LruHash | MapType::LruPercpuHash)
    }
    /// Array-shaped value maps: every index below max_entries always exists.
    pub fn is_array(self) -> bool {
        matches!(self, MapType::Array | MapType::PercpuArray)
    }
    /// Maps whose syscall value is an fd in and an id (or nothing) out.
    pub fn holds_fds(self) -> bool {
        MapType::HANDLE_MAPS.contains(&self)
    }
    /// Keyless types: key_size 0, element commands with a NULL key.
    pub fn is_keyless(self) -> bool {
        !matches!(self, MapType::Other(_)) && crate::maps::family_of(self).keyless
    }
    /// Map-in-map types, which need an inner map template at creation.
    pub fn is_map_in_map(self) -> bool {
        matches!(self, MapType::ArrayOfMaps | MapType::HashOfMaps)
    }
}

/// `BPF_F_*` flag bits of MAP_CREATE and of element commands (include/uapi/linux/bpf.h).
pub mod flags {
    /// Map flag: `BPF_F_NO_PREALLOC`.
    pub const NO_PREALLOC: u32 = 1; // 1 << 0
    /// Map flag: `BPF_F_NO_COMMON_LRU`.
    pub const NO_COMMON_LRU: u32 = 1 << 1;
    /// Map flag: `BPF_F_NUMA_NODE`.
    pub const NUMA_NODE: u32 = 1 << 2;
    /// Map flag: `BPF_F_RDONLY` (fd-level access mode).
    pub const RDONLY: u32 = 1 << 3;
    /// Map flag: `BPF_F_WRONLY` (fd-level access mode).
    pub const WRONLY: u32 = 1 << 4;
    /// Map flag: `BPF_F_STACK_BUILD_ID`.
    pub const STACK_BUILD_ID: u32 = 1 << 5;
    /// Map flag: `BPF_F_ZERO_SEED`.
    pub const ZERO_SEED: u32 = 1 << 6;
    /// Map flag: `BPF_F_RDONLY_PROG`.
    pub const RDONLY_PROG: u32 = 1 << 7;
    /// Map flag: `BPF_F_WRONLY_PROG`.
    pub const WRONLY_PROG: u32 = 1 << 8;
    /// Map flag: `BPF_F_CLONE`.
    pub const CLONE: u32 = 1 << 9;
    /// Map flag: `BPF_F_MMAPABLE`.
    pub const MMAPABLE: u32 = 1 << 10;
    /// Map flag: `BPF_F_PRESERVE_ELEMS`.
    pub const PRESERVE_ELEMS: u32 = 1 << 11;
    /// Map flag: `BPF_F_INNER_MAP`.
    pub const INNER_MAP: u32 = 1 << 12;
    /// Both fd-side access bits (half of `BPF_F_ACCESS_MASK`, kernel/bpf/syscall.c); setting
    /// both at once is EINVAL everywhere.
    pub const FD_ACCESS: u32 = RDONLY | WRONLY;
    /// Both program-side access bits (the other half of `BPF_F_ACCESS_MASK`).
    pub const PROG_ACCESS: u32 = RDONLY_PROG | WRONLY_PROG;
    /// Names of the map flag bits, for the textual form.
    pub const MAP_FLAG_NAMES: [(u32, &str); 13] = [
        (NO_PREALLOC, "NO_PREALLOC"),
        (NO_COMMON_LRU, "NO_COMMON_LRU"),
        (NUMA_NODE, "NUMA_NODE"),
        (RDONLY, "RDONLY"),
        (WRONLY, "WRONLY"),
        (STACK_BUILD_ID, "STACK_BUILD_ID"),
        (ZERO_SEED, "ZERO_SEED"),
        (RDONLY_PROG, "RDONLY_PROG"),
        (WRONLY_PROG, "WRONLY_PROG"),
        (CLONE, "CLONE"),
        (MMAPABLE, "MMAPABLE"),
        (PRESERVE_ELEMS, "PRESERVE_ELEMS"),
        (INNER_MAP, "INNER_MAP"),
    ];

    /// Element flag value: `BPF_ANY`.
    pub const ANY: u64 = 0;
    /// Element flag value: `BPF_NOEXIST`.
    pub const NOEXIST: u64 = 1;
    /// Element flag value: `BPF_EXIST`.
    pub const EXIST: u64 = 2;
    /// Element flag bit: `BPF_F_LOCK`.
    pub const F_LOCK: u64 = 4;
    /// Element flag bit: `BPF_F_CPU` (7.0): the CPU number is the upper 32 bits.
    pub const F_CPU: u64 = 8;
    /// Element flag bit: `BPF_F_ALL_CPUS` (7.0): one value for every CPU.
    pub const F_ALL_CPUS: u64 = 16;
}

/// Everything MAP_CREATE takes that the model looks at.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MapSpec {
    /// `map_type`.
    pub map_type: MapType,
    /// `key_size` in bytes.
    pub key_size: u32,
    /// `value_size` in bytes (per CPU for per-CPU types).
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags` (`flags::*` bits; unknown bits allowed, the kernel refuses them).
    pub map_flags: u32,
    /// `numa_node`, looked at only with `BPF_F_NUMA_NODE`.
    pub numa_node: u32,
    /// `map_name`: up to 16 raw bytes; exactly 16 means "no NUL terminator".
    pub name: Vec<u8>,
    /// `map_extra` (only BLOOM_FILTER and ARENA accept non-zero).
    pub map_extra: u64,
    /// `inner_map_fd`: the template of a map-in-map (`None` passes 0).
    pub inner: Option<FdRef>,
}

impl MapSpec {
    /// A plain spec with no flags and no name.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
        MapSpec {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            numa_node: 0,
            name: Vec::new(),
            map_extra: 0,
            inner: None,
        }
    }
}

/// `enum bpf_prog_type` values mapcheck loads.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ProgType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (1).
    SocketFilter,
    /// `BPF_PROG_TYPE_SCHED_CLS` (3).
    SchedCls,
    /// `BPF_PROG_TYPE_XDP` (6).
    Xdp,
}

impl ProgType {
    /// Every type, for generation.
    pub const ALL: [ProgType; 3] = [ProgType::SocketFilter, ProgType::SchedCls, ProgType::Xdp];
    /// The raw `prog_type`.
    pub fn raw(self) -> u32 {
        match self {
            ProgType::SocketFilter => 1,
            ProgType::SchedCls => 3,
            ProgType::Xdp => 6,
        }
    }
    /// The textual name.
    pub fn word(self) -> &'static str {
        match self {
            ProgType::SocketFilter => "socket_filter",
            ProgType::SchedCls => "sched_cls",
            ProgType::Xdp => "xdp",
        }
    }
    /// Inverse of [`ProgType::word`].
    pub fn from_word(w: &str) -> Option<ProgType> {
        ProgType::ALL.into_iter().find(|t| t.word() == w)
    }
}

/// A minimal program (`r0 = 0; exit`) of a type, optionally XDP with `BPF_F_XDP_HAS_FRAGS`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ProgSpec {
    /// Program type.
    pub prog_type: ProgType,
    /// `BPF_F_XDP_HAS_FRAGS` in `prog_flags`.
    pub xdp_frags: bool,
    /// `expected_attach_type` (0 for most loads).
    pub attach: u32,
}

/// A resource limit the model follows (`setrlimit(2)`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Resource {
    /// RLIMIT_NOFILE: new fd numbers must stay below the soft limit (`alloc_fd`).
    Nofile,
    /// RLIMIT_MEMLOCK: charged for BPF memory before 5.11 (`bpf_charge_memlock`).
    Memlock,
}

impl Resource {
    /// Every limit, in the order scripts list them.
    pub const ALL: [Resource; 2] = [Resource::Nofile, Resource::Memlock];
    /// The word in scripts.
    pub fn word(self) -> &'static str {
        match self {
            Resource::Nofile => "nofile",
            Resource::Memlock => "memlock",
        }
    }
}

/// A map helper a program calls (`bpf_map_lookup_elem`, `bpf_map_update_elem`,
/// `bpf_map_delete_elem`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Call {
    /// `bpf_map_lookup_elem`: the value of the CPU it runs on, or NULL (ENOENT).
    Lookup,
    /// `bpf_map_update_elem` with flags.
    Update,
    /// `bpf_map_delete_elem`.
    Delete,
}

impl Call {
    /// Every helper, in the order scripts list them.
    pub const ALL: [Call; 3] = [Call::Lookup, Call::Update, Call::Delete];
    /// The word in scripts (`prog lookup ...`).
    pub fn word(self) -> &'static str {
        match self {
            Call::Lookup => "lookup",
            Call::Update => "update",
            Call::Delete => "delete",
        }
    }
}

/// One syscall-level action.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Op {
    /// `BPF_MAP_CREATE`; on success the new fd is bound to `handle`.
    CreateMap {
        /// The handle the new fd gets.
        handle: Handle,
        /// The attributes.
        spec: MapSpec,
    },
    /// `BPF_MAP_UPDATE_ELEM`.
    Update {
        /// The map fd.
        map: FdRef,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes (all CPUs' slots for per-CPU maps), or an fd for fd-holding maps.
        value: Value,
        /// `flags`.
        flags: u64,
    },
    /// `BPF_MAP_LOOKUP_ELEM`.
    Lookup {
        /// The map fd.
        map: FdRef,
        /// Key bytes.
        key: Vec<u8>,
        /// What the value buffer holds before the call: the value a BLOOM_FILTER peeks for
        /// (`map_lookup_elem` copies it in), empty for every other map.
        input: Vec<u8>,
        /// `flags`.
        flags: u64,
    },
    /// `BPF_MAP_DELETE_ELEM`.
    Delete {
        /// The map fd.
        map: FdRef,
        /// Key bytes.
        key: Vec<u8>,
    },
    /// `BPF_MAP_GET_NEXT_KEY`; `None` passes a NULL key ("first key").
    GetNextKey {
        /// The map fd.
        map: FdRef,
        /// Key bytes or NULL.
        key: Option<Vec<u8>>,
    },
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    LookupAndDelete {
        /// The map fd.
        map: FdRef,
        /// Key bytes.
        key: Vec<u8>,
        /// `flags`.
        flags: u64,
    },
    /// `BPF_MAP_LOOKUP_BATCH`, or `BPF_MAP_LOOKUP_AND_DELETE_BATCH` with `delete`: up to
    /// `count` elements after the cursor, whole hash buckets at a time.
    LookupBatch {
        /// The map fd.
        map: FdRef,
        /// LOOKUP_AND_DELETE_BATCH.
        delete: bool,
        /// `in_batch`: NULL (`None`: from the start) or the cursor's bytes, a key for the
        /// generic walk (`generic_map_lookup_batch`), a u32 bucket index for hashes.
        cursor: Option<Vec<u8>>,
        /// `count` in: how many elements the buffers hold.
        count: u32,
        /// `elem_flags`.
        elem_flags: u64,
        /// `flags` (only the hash lookups look at it).
        flags: u64,
    },
    /// `BPF_MAP_UPDATE_BATCH`: `count` is the number of keys; `generic_map_update_batch`
    /// updates them one by one and stops at the first error.
    UpdateBatch {
        /// The map fd.
        map: FdRef,
        /// Key bytes, one per element.
        keys: Vec<Vec<u8>>,
        /// One value per key (all CPUs' slots for per-CPU maps; fds for fd-holding maps).
        values: Vec<Value>,
        /// `elem_flags`.
        elem_flags: u64,
        /// `flags` (ignored by the kernel).
        flags: u64,
    },
    /// `BPF_MAP_DELETE_BATCH`: `generic_map_delete_batch` deletes the keys one by one and
    /// stops at the first error.
    DeleteBatch {
        /// The map fd.
        map: FdRef,
        /// Key bytes, one per element.
        keys: Vec<Vec<u8>>,
        /// `elem_flags`.
        elem_flags: u64,
        /// `flags` (ignored by the kernel).
        flags: u64,
    },
    /// `BPF_MAP_FREEZE`.
    Freeze {
        /// The map fd.
        map: FdRef,
    },
    /// `BPF_OBJ_GET_INFO_BY_FD` of a map fd (`struct bpf_map_info`): what the kernel says
    /// the object behind the fd is.
    Info {
        /// The fd (a map, another kind of fd, or a bad one).
        map: FdRef,
    },
    /// `close(2)` of the handle's fd.
    Close {
        /// The handle to close.
        handle: Handle,
    },
    /// `BPF_MAP_UPDATE_BATCH` of `n` elements with flags 0 into an empty value map (scale
    /// runs), or of keys from `from` on into an LRU hash (the selftest's long sequences):
    /// element `i` is `fill_key(from + i)`, `fill_value(from + i)` (`generic_map_update_batch`
    /// updates them in order, stopping at the first error); answers the count.
    Fill {
        /// The map fd.
        map: Handle,
        /// Elements written.
        n: u32,
        /// The first element's number (0 but in an LRU hash).
        from: u32,
    },
    /// Full-state observation: walk GET_NEXT_KEY from NULL and read everything with
    /// `BPF_MAP_LOOKUP_BATCH` (fd-holding maps: one LOOKUP per walked key); the model allows
    /// exactly its own contents, in any order.
    Check {
        /// The map fd.
        map: FdRef,
    },
    /// `BPF_PROG_LOAD` of a minimal program that loads the given maps' addresses
    /// (`ld_imm64` of BPF_PSEUDO_MAP_FD), so they become its `used_maps`.
    LoadProg {
        /// The handle the new fd gets.
        handle: Handle,
        /// What to load.
        spec: ProgSpec,
        /// Map fds the program references.
        uses: Vec<FdRef>,
    },
    /// `BPF_MAP_GET_FD_BY_ID` / `BPF_PROG_GET_FD_BY_ID` of the object `target` created.
    FdById {
        /// The handle the new fd gets (same kind as `target`).
        handle: Handle,
        /// The handle that created the object (it may be closed since).
        target: Handle,
        /// `open_flags`.
        open_flags: u32,
    },
    /// Is the object `target` created still in the kernel's id table? Observed with
    /// GET_NEXT_ID, which takes no reference.
    Alive {
        /// The creating handle.
        target: Handle,
    },
    /// Waits (at most 5 s) for a release the kernel performs later, then observes like `Alive`.
    Settle {
        /// The creating handle.
        target: Handle,
    },
    /// mkdir of a new cgroup v2 directory under mapcheck's private parent, opened O_RDONLY.
    MakeCgroup {
        /// The handle of the directory fd.
        handle: Handle,
    },
    /// Another fd on the directory `target` created: O_RDONLY, or O_PATH if `path`.
    OpenCgroup {
        /// The new handle.
        handle: Handle,
        /// The creating handle of the cgroup.
        target: Handle,
        /// O_PATH instead of O_RDONLY.
        path: bool,
    },
    /// rmdir of the cgroup directory `target` created.
    Rmdir {
        /// The creating handle.
        target: Handle,
    },
    /// `perf_event_open` of a software BPF_OUTPUT event (cpu 0), or an `inherit` one.
    OpenPerf {
        /// The new handle.
        handle: Handle,
        /// `inherit = 1` (then pid 0, any cpu).
        inherit: bool,
    },
    /// `nr_dying_descendants` of mapcheck's private cgroup parent.
    Dying,
    /// `nr_dying_descendants` once it is at most `max`, waiting (at most 5 s) for css release
    /// work: the end of a case settles removed cgroups this way, so one never freed is a leak.
    SettleDying {
        /// Wait until at most this many are dying.
        max: u32,
    },
    /// `BPF_OBJ_PIN` of the object behind `target`'s fd, in mapcheck's private bpffs, at a
    /// path named after `target`.
    Pin {
        /// The fd to pin (its handle names the pin).
        target: Handle,
    },
    /// unlink(2) of the pin named after `target`.
    Unpin {
        /// The handle the pin is named after.
        target: Handle,
    },
    /// `BPF_OBJ_GET` of the pin named after `target`: a new fd with `file_flags`.
    GetPinned {
        /// The new handle (of the pinned object's kind).
        handle: Handle,
        /// The handle the pin is named after.
        target: Handle,
        /// `file_flags` (BPF_F_RDONLY / BPF_F_WRONLY).
        file_flags: u32,
    },
    /// Starts a case that runs in a process of its own whose fd numbers and rlimits are part
    /// of the model: fds 0-2 open and nothing else below 900, RLIMIT_NOFILE 64 (hard 4096),
    /// RLIMIT_MEMLOCK soft = hard, libbpf's feature probes already cached. From here on
    /// every new fd's number is compared.
    FdTable,
    /// `setrlimit(2)`; `u64::MAX` is RLIM_INFINITY.
    SetRlimit {
        /// Which limit.
        res: Resource,
        /// rlim_cur.
        soft: u64,
        /// rlim_max.
        hard: u64,
    },
    /// Drops CAP_SYS_RESOURCE from the process (effective and permitted sets).
    DropCap,
    /// A map helper called from inside the kernel: a SCHED_CLS program that calls `call` on
    /// `map` with this key (and value and flags), loaded, run once through
    /// BPF_PROG_TEST_RUN (on the CPU the case runs on) and closed. A lookup's value comes
    /// back through the packet; an update or delete answers the helper's return.
    ProgElem {
        /// The helper.
        call: Call,
        /// The map (an open fd of it, read and write).
        map: Handle,
        /// The key (`key_size` bytes).
        key: Vec<u8>,
        /// An update's value: one CPU's (`value_size` bytes); empty otherwise.
        value: Vec<u8>,
        /// An update's flags, passed as they are (no syscall checks them first).
        flags: u64,
    },
    /// `sched_setaffinity(2)` of the case process to this one CPU: the ops after it run
    /// there (an LRU hash's update takes its node from that CPU's lists). A case with one
    /// runs in a process of its own.
    Cpu {
        /// The CPU.
        cpu: u32,
    },
    /// `id(to) - id(from)` for two maps this case created: map ids are allocated cyclically
    /// (`bpf_map_alloc_id`), so the gap counts the ids consumed in between.
    IdGap {
        /// The earlier map.
        from: Handle,
        /// The later map.
        to: Handle,
    },
}

/// The key of `fill`'s element `i`: `i` little-endian in `key_size` bytes.
pub fn fill_key(key_size: usize, i: u32) -> Vec<u8> {
    let mut k = vec![0; key_size];
    let b = i.to_le_bytes();
    let n = key_size.min(4);
    k[..n].copy_from_slice(&b[..n]);
    k
}

/// The value of `fill`'s element `i` (one CPU's, `value_size` bytes): a pattern no two
/// neighbouring elements share.
pub fn fill_value(value_size: usize, i: u32) -> Vec<u8> {
    let x = i.wrapping_mul(0x9e37_79b9) ^ 0xa5a5_a5a5;
    (0..value_size)
        .map(|j| (x >> (8 * (j % 4))) as u8 ^ (j / 4) as u8)
        .collect()
}

impl Op {
    /// The map an op acts on, if any.
    pub fn map_ref(&self) -> Option<FdRef> {
        match self {
            Op::Update { map, .. }
            | Op::Lookup { map, .. }
            | Op::Delete { map, .. }
            | Op::GetNextKey { map, .. }
            | Op::LookupAndDelete { map, .. }
            | Op::LookupBatch { map, .. }
            | Op::UpdateBatch { map, .. }
            | Op::DeleteBatch { map, .. }
            | Op::Freeze { map }
            | Op::Check { map }
            | Op::Info { map } => Some(*map),
            Op::ProgElem { map, .. } => Some(FdRef::Handle(*map)),
            Op::Close { handle } | Op::Fill { map: handle, .. } => Some(FdRef::Handle(*handle)),
            _ => None,
        }
    }
    /// The short name of the command, used for coverage cells.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::CreateMap { .. } => "create",
            Op::Update { .. } => "update",
            Op::Lookup { .. } => "lookup",
            Op::Delete { .. } => "delete",
            Op::GetNextKey { .. } => "next_key",
            Op::LookupAndDelete { .. } => "lookup_and_delete",
            Op::LookupBatch { delete: false, .. } => "lookup_batch",
            Op::LookupBatch { delete: true, .. } => "lookup_and_delete_batch",
            Op::UpdateBatch { .. } => "update_batch",
            Op::DeleteBatch { .. } => "delete_batch",
            Op::Freeze { .. } => "freeze",
            Op::Close { .. } => "close",
            Op::Info { .. } => "info",
            Op::Check { .. } => "check",
            Op::Fill { .. } => "fill",
            Op::LoadProg { .. } => "load",
            Op::FdById { .. } => "fd_by_id",
            Op::Alive { .. } => "alive",
            Op::Settle { .. } => "settle",
            Op::MakeCgroup { .. } => "mkcgroup",
            Op::OpenCgroup { .. } => "open_cgroup",
            Op::Rmdir { .. } => "rmdir",
            Op::OpenPerf { .. } => "perf_event",
            Op::Dying => "dying",
            Op::SettleDying { .. } => "settle_dying",
            Op::Pin { .. } => "pin",
            Op::Unpin { .. } => "unpin",
            Op::GetPinned { .. } => "get_pinned",
            Op::FdTable => "fdtable",
            Op::SetRlimit { .. } => "rlimit",
            Op::DropCap => "dropcap",
            Op::Cpu { .. } => "cpu",
            Op::ProgElem {
                call: Call::Lookup, ..
            } => "prog_lookup",
            Op::ProgElem {
                call: Call::Update, ..
            } => "prog_update",
            Op::ProgElem {
                call: Call::Delete, ..
            } => "prog_delete",
            Op::IdGap { .. } => "idgap",
        }
    }
    /// The handle an op creates, if it creates one.
    pub fn creates(&self) -> Option<Handle> {
        match self {
            Op::CreateMap { handle, .. }
            | Op::LoadProg { handle, .. }
            | Op::FdById { handle, .. }
            | Op::MakeCgroup { handle }
            | Op::OpenCgroup { handle, .. }
            | Op::OpenPerf { handle, .. }
            | Op::GetPinned { handle, .. } => Some(*handle),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::flags::*;
    use super::*;

    /// The raw numbers are the UAPI's (the harness pins them to the header as well),
    /// `from_raw` inverts `raw`, and `close` acts on its map like the element ops.
    #[test]
    fn raw_numbers_are_the_uapi_ones_and_invert() {
        let raw = |t: MapType| t.raw();
        assert_eq!(
            [
                MapType::Hash,
                MapType::Array,
                MapType::ProgArray,
                MapType::PercpuArray
            ]
            .map(raw),
            [1, 2, 3, 6]
        );
        assert_eq!([MapType::ArrayOfMaps, MapType::HashOfMaps].map(raw), [12, 13]);
        for t in MapType::MODELLED.into_iter().chain(MapType::HANDLE_MAPS) {
            assert_eq!(MapType::from_raw(t.raw()), t);
        }
        assert_eq!(MapType::from_raw(27), MapType::Other(27));
        assert_eq!(ProgType::ALL.map(ProgType::raw), [1, 3, 6]);
        let h = Handle::map(3);
        assert_eq!(Op::Close { handle: h }.map_ref(), Some(FdRef::Handle(h)));
        // A program's op acts on its map too (the LRU reference bit it sets, its coverage row).
        let prog = Op::ProgElem {
            call: Call::Lookup,
            map: h,
            key: vec![0; 4],
            value: Vec::new(),
            flags: 0,
        };
        assert_eq!(prog.map_ref(), Some(FdRef::Handle(h)));
    }

    /// `fill`'s values: neighbouring elements differ, and so do the 4-byte words of one
    /// value (a kernel that copies a word to the wrong offset of a value shows).
    #[test]
    fn fill_values_differ_between_neighbours_and_words() {
        for i in 0..1000 {
            let v = fill_value(16, i);
            assert_ne!(v, fill_value(16, i + 1), "elements {i} and {}", i + 1);
            let words: Vec<&[u8]> = v.chunks(4).collect();
            for a in 0..4 {
                for b in a + 1..4 {
                    assert_ne!(words[a], words[b], "element {i}: words {a} and {b}");
                }
            }
        }
        assert_eq!(fill_value(3, 7), fill_value(16, 7)[..3]);
    }

    #[test]
    fn flags_are_distinct_bits_and_values_know_their_length() {
        let mut seen = 0u32;
        for (bit, name) in MAP_FLAG_NAMES {
            assert_eq!(bit.count_ones(), 1, "{name}");
            assert_eq!(seen & bit, 0, "{name}");
            seen |= bit;
        }
        assert_eq!(CLONE, 0x200);
        assert_eq!(Value::Bytes(vec![1, 2]).bytes(), Some(&[1u8, 2][..]));
        assert_eq!(Value::Fd(FdRef::Bad(BadFd::Closed)).bytes(), None);
        assert_eq!(Value::Fd(FdRef::Bad(BadFd::Closed)).len(), 4);
        assert!(Value::Bytes(vec![]).is_empty() && !Value::Bytes(vec![0]).is_empty());
    }
}
