//! Raw errno values as the kernel returns them, with names.
//! The core idea: compare numbers, never `io::ErrorKind`; kernel-internal values that leak to
//! userspace (ENOTSUPP = 524) get names too, because libc does not know them.

use std::fmt;

/// A raw errno number as returned (negated) by `bpf(2)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $num:expr, $desc:expr;)*) => {
        impl Errno {
            $(#[doc = $desc] pub const $name: Errno = Errno($num);)*
            /// The symbolic name, if the number is one mapcheck knows.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($num => Some(stringify!($name)),)* _ => None }
            }
            /// Parses a symbolic name (`EINVAL`) or a raw number (`E524`, `524`).
            pub fn parse(s: &str) -> Option<Errno> {
                match s { $(stringify!($name) => return Some(Errno::$name),)* _ => {} }
                let digits = s.strip_prefix('E').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                digits.parse::<i32>().ok().filter(|n| *n > 0).map(Errno)
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted: access mode, frozen map, missing capability.";
    ENOENT = 2, "No such key, or end of iteration.";
    EIO = 5, "I/O error (mapcheck's own scratch directories).";
    E2BIG = 7, "Index out of range on update, map full, size limits.";
    EBADF = 9, "Not an open fd.";
    ENOMEM = 12, "Allocation failed.";
    EFAULT = 14, "Bad user pointer.";
    EBUSY = 16, "Busy (freeze with active writers).";
    EEXIST = 17, "BPF_NOEXIST on a present key.";
    EINVAL = 22, "Invalid argument; also an open fd that is not a BPF map.";
    EMFILE = 24, "Per-process fd table full (RLIMIT_NOFILE).";
    ENOSPC = 28, "Batch buffer too small for a bucket.";
    EBADFD = 77, "Kernel's answer to OBJ_GET_INFO_BY_FD on a closed fd.";
    EOPNOTSUPP = 95, "Userspace-visible 'not supported'.";
    ENOTSUPP = 524, "Kernel-internal 'not supported' that leaks through bpf(2).";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "E{}", self.0),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} ({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_raw_numbers_parse() {
        assert_eq!(Errno::parse("ENOTSUPP"), Some(Errno(524)));
        assert_eq!(Errno::parse("E524"), Some(Errno::ENOTSUPP));
        assert_eq!(Errno::parse("E4242"), Some(Errno(4242)));
        assert_eq!(Errno(4242).to_string(), "E4242");
        assert_eq!(Errno::EBADFD.to_string(), "EBADFD");
        assert_eq!(Errno::parse("nonsense"), None);
    }
}
