//! The vocabulary of a program: `Op`s on symbolic `Handle`s, and the map parameters they carry.
//! The core idea: ops never name raw fd numbers, so shrinking can drop a creation together with
//! every op that uses it; deliberately bad fds are explicit `BadFd` variants.

use std::fmt;

/// A symbolic reference to a map fd created earlier in the sequence (`m0`, `m1`, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Handle(pub u32);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
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
    fn word(self) -> &'static str {
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
pub enum MapRef {
    /// The fd behind a live handle.
    Handle(Handle),
    /// A deliberately bad fd.
    Bad(BadFd),
}

impl fmt::Display for MapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapRef::Handle(h) => write!(f, "{h}"),
            MapRef::Bad(b) => write!(f, "badfd:{}", b.word()),
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
    /// A raw type number the model does not implement (e.g. beyond `__MAX_BPF_MAP_TYPE`).
    Other(u32),
}

impl MapType {
    /// The families this model covers, in generation order.
    pub const MODELLED: [MapType; 4] = [
        MapType::Array,
        MapType::PercpuArray,
        MapType::Hash,
        MapType::PercpuHash,
    ];
    /// The raw `map_type` number.
    pub fn raw(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::PercpuHash => 5,
            MapType::PercpuArray => 6,
            MapType::Other(n) => n,
        }
    }
    /// The textual name used in scripts and on the command line.
    pub fn word(self) -> String {
        match self {
            MapType::Hash => "hash".into(),
            MapType::Array => "array".into(),
            MapType::PercpuHash => "percpu_hash".into(),
            MapType::PercpuArray => "percpu_array".into(),
            MapType::Other(n) => format!("type{n}"),
        }
    }
    /// Inverse of [`MapType::word`].
    pub fn from_word(w: &str) -> Option<MapType> {
        Some(match w {
            "hash" => MapType::Hash,
            "array" => MapType::Array,
            "percpu_hash" => MapType::PercpuHash,
            "percpu_array" => MapType::PercpuArray,
            _ => MapType::Other(w.strip_prefix("type")?.parse().ok()?),
        })
    }
    /// Per-CPU types carry one value slot per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(self, MapType::PercpuArray | MapType::PercpuHash)
    }
    /// Array-shaped: every index below max_entries always exists.
    pub fn is_array(self) -> bool {
        matches!(self, MapType::Array | MapType::PercpuArray)
    }
}

/// `BPF_F_*` flag bits of MAP_CREATE and of element commands (include/uapi/linux/bpf.h).
pub mod flags {
    /// Map flag: `BPF_F_NO_PREALLOC`.
    pub const NO_PREALLOC: u32 = 1 << 0;
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
        map: MapRef,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes (all CPUs' slots for per-CPU maps).
        value: Vec<u8>,
        /// `flags`.
        flags: u64,
    },
    /// `BPF_MAP_LOOKUP_ELEM`.
    Lookup {
        /// The map fd.
        map: MapRef,
        /// Key bytes.
        key: Vec<u8>,
        /// `flags`.
        flags: u64,
    },
    /// `BPF_MAP_DELETE_ELEM`.
    Delete {
        /// The map fd.
        map: MapRef,
        /// Key bytes.
        key: Vec<u8>,
    },
    /// `BPF_MAP_GET_NEXT_KEY`; `None` passes a NULL key ("first key").
    GetNextKey {
        /// The map fd.
        map: MapRef,
        /// Key bytes or NULL.
        key: Option<Vec<u8>>,
    },
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    LookupAndDelete {
        /// The map fd.
        map: MapRef,
        /// Key bytes.
        key: Vec<u8>,
        /// `flags`.
        flags: u64,
    },
    /// `BPF_MAP_FREEZE`.
    Freeze {
        /// The map fd.
        map: MapRef,
    },
    /// `close(2)` of the handle's fd.
    Close {
        /// The handle to close.
        handle: Handle,
    },
    /// Full-state observation: walk GET_NEXT_KEY from NULL and read everything with
    /// `BPF_MAP_LOOKUP_BATCH`; the model allows exactly its own contents, in any order.
    Check {
        /// The map fd.
        map: MapRef,
    },
}

impl Op {
    /// The map an op acts on, if any.
    pub fn map_ref(&self) -> Option<MapRef> {
        match self {
            Op::Update { map, .. }
            | Op::Lookup { map, .. }
            | Op::Delete { map, .. }
            | Op::GetNextKey { map, .. }
            | Op::LookupAndDelete { map, .. }
            | Op::Freeze { map }
            | Op::Check { map } => Some(*map),
            Op::Close { handle } => Some(MapRef::Handle(*handle)),
            Op::CreateMap { .. } => None,
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
            Op::Freeze { .. } => "freeze",
            Op::Close { .. } => "close",
            Op::Check { .. } => "check",
        }
    }
}
