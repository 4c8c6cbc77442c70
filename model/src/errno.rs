//! Raw errno values as the kernel returns them, with names.
//! The core idea: compare numbers, never `io::ErrorKind`; kernel-internal values that leak to
//! userspace (ENOTSUPP = 524) get names too, because libc does not know them.

use crate::reason::Why;
use std::fmt;

/// A raw errno number as returned (negated) by `bpf(2)`. One the model predicts also names
/// the refusal path (`Why`) for coverage; the kernel never says why, so two errnos are equal,
/// ordered and hashed by number alone.
#[derive(Clone, Copy)]
pub struct Errno {
    num: i32,
    why: Option<Why>,
}

impl Errno {
    /// An errno by number, with no reason (what the kernel returns).
    pub const fn raw(num: i32) -> Errno {
        Errno { num, why: None }
    }
    /// The number.
    pub fn num(self) -> i32 {
        self.num
    }
    /// The model's refusal path, if the model produced this errno.
    pub fn why(self) -> Option<Why> {
        self.why
    }
    /// This errno, tagged with the path that refuses.
    pub fn because(self, why: Why) -> Errno {
        Errno {
            num: self.num,
            why: Some(why),
        }
    }
}

impl PartialEq for Errno {
    fn eq(&self, other: &Errno) -> bool {
        self.num == other.num
    }
}
impl Eq for Errno {}
impl PartialOrd for Errno {
    fn partial_cmp(&self, other: &Errno) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Errno {
    fn cmp(&self, other: &Errno) -> std::cmp::Ordering {
        self.num.cmp(&other.num)
    }
}
impl std::hash::Hash for Errno {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.num.hash(h)
    }
}

macro_rules! errnos {
    ($($name:ident = $num:expr, $desc:expr;)*) => {
        impl Errno {
            $(#[doc = $desc] pub const $name: Errno = Errno::raw($num);)*
            /// The symbolic name, if the number is one mapcheck knows.
            pub fn name(self) -> Option<&'static str> {
                match self.num { $($num => Some(stringify!($name)),)* _ => None }
            }
            /// Parses a symbolic name (`EINVAL`) or a raw number (`E524`, `524`).
            pub fn parse(s: &str) -> Option<Errno> {
                match s { $(stringify!($name) => return Some(Errno::$name),)* _ => {} }
                let digits = s.strip_prefix('E').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                digits.parse::<i32>().ok().filter(|n| *n > 0).map(Errno::raw)
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted: access mode, frozen map, missing capability.";
    ENOENT = 2, "No such key, or end of iteration.";
    EINTR = 4, "A batch lookup that met a hole three times (before 5644c6b50ffe).";
    EIO = 5, "I/O error (mapcheck's own scratch directories).";
    E2BIG = 7, "Index out of range on update, map full, size limits.";
    EBADF = 9, "Not an open fd.";
    ENOMEM = 12, "Allocation failed.";
    EFAULT = 14, "Bad user pointer.";
    EBUSY = 16, "Busy (freeze with active writers).";
    EEXIST = 17, "BPF_NOEXIST on a present key.";
    EINVAL = 22, "Invalid argument; also an open fd that is not a BPF map.";
    EMFILE = 24, "Per-process fd table full (RLIMIT_NOFILE).";
    ERANGE = 34, "BPF_F_CPU names a CPU that is not possible (7.0).";
    ENOSPC = 28, "Batch buffer too small for a bucket.";
    EBADFD = 77, "Kernel's answer to OBJ_GET_INFO_BY_FD on a closed fd.";
    EOPNOTSUPP = 95, "Userspace-visible 'not supported'.";
    ENOTSUPP = 524, "Kernel-internal 'not supported' that leaks through bpf(2).";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "E{}", self.num),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.why {
            Some(w) => write!(f, "{self}[{}] ({})", w.word(), self.num),
            None => write!(f, "{self} ({})", self.num),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_raw_numbers_parse() {
        assert_eq!(Errno::parse("ENOTSUPP"), Some(Errno::raw(524)));
        assert_eq!(Errno::parse("E524"), Some(Errno::ENOTSUPP));
        assert_eq!(Errno::parse("E4242"), Some(Errno::raw(4242)));
        assert_eq!(Errno::raw(4242).to_string(), "E4242");
        assert_eq!(Errno::EBADFD.to_string(), "EBADFD");
        assert_eq!(Errno::parse("nonsense"), None);
    }

    /// Two errnos are the same number whatever path the model names: equal, ordered and
    /// hashed by number, and the path shows only in the debug form.
    #[test]
    fn errnos_compare_by_number_and_debug_names_the_path() {
        use std::hash::{BuildHasher, RandomState};
        let tagged = Errno::EINVAL.because(Why::Flags);
        assert_eq!(
            (tagged.num(), Errno::EPERM.num(), Errno::ENOTSUPP.num()),
            (22, 1, 524)
        );
        assert_eq!(tagged, Errno::raw(22));
        assert!(Errno::EPERM < tagged && tagged < Errno::ENOTSUPP);
        assert_eq!(
            tagged.partial_cmp(&Errno::raw(22)),
            Some(std::cmp::Ordering::Equal)
        );
        let h = RandomState::new();
        assert_eq!(h.hash_one(tagged), h.hash_one(Errno::raw(22)));
        assert_ne!(h.hash_one(tagged), h.hash_one(Errno::EPERM));
        assert_eq!(format!("{tagged:?}"), "EINVAL[flags] (22)");
        assert_eq!(format!("{:?}", Errno::raw(22)), "EINVAL (22)");
    }
}
