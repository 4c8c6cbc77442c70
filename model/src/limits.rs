//! The process's fd table and resource limits, for a case that runs in a process of its own
//! (`Op::FdTable`). The core idea: a new fd takes the lowest free number, and there is none
//! when that number is not below the soft RLIMIT_NOFILE (`alloc_fd`: EMFILE); setrlimit
//! follows `do_prlimit`; RLIMIT_MEMLOCK only matters in the pre-5.11 charging dialect.

use crate::errno::Errno;
use crate::op::Resource;
use crate::profile::{MemAccounting, Profile};
use crate::reason::Why;
use std::collections::BTreeSet;

/// RLIM_INFINITY.
pub const INF: u64 = u64::MAX;
/// The soft RLIMIT_NOFILE an `fdtable` case starts with: small, so short cases reach EMFILE.
pub const START_NOFILE: u64 = 64;
/// The most the hard RLIMIT_NOFILE is at the start of an `fdtable` case.
pub const MAX_NOFILE_HARD: u64 = 4096;

/// One limit pair.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rlimit {
    /// rlim_cur.
    pub soft: u64,
    /// rlim_max.
    pub hard: u64,
}

/// What the case's process starts with and has done to its limits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Limits {
    /// RLIMIT_NOFILE.
    pub nofile: Rlimit,
    /// RLIMIT_MEMLOCK.
    pub memlock: Rlimit,
    /// CAP_SYS_RESOURCE is in the effective set.
    pub cap_sys_resource: bool,
    /// fd numbers open outside the script: stdin, stdout, stderr. Keeping them open also
    /// means libbpf's `ensure_good_fd` (which re-dups a new fd 0-2 above 2) never fires.
    pub outside: BTreeSet<u32>,
    /// `sysctl fs.nr_open`: no RLIMIT_NOFILE may exceed it.
    pub nr_open: u64,
}

impl Limits {
    /// The state `Op::FdTable` sets up in the case's process: RLIMIT_NOFILE 64 (hard 4096,
    /// or the inherited hard limit if lower), RLIMIT_MEMLOCK at its inherited hard limit.
    pub fn at_start(profile: &Profile) -> Limits {
        let hard = profile.nofile_hard.min(MAX_NOFILE_HARD);
        Limits {
            nofile: Rlimit {
                soft: START_NOFILE.min(hard),
                hard,
            },
            memlock: Rlimit {
                soft: profile.memlock_hard,
                hard: profile.memlock_hard,
            },
            cap_sys_resource: profile.cap_sys_resource,
            outside: [0, 1, 2].into(),
            nr_open: profile.nr_open,
        }
    }

    /// The limit pair of `res`.
    pub fn get(&self, res: Resource) -> Rlimit {
        match res {
            Resource::Nofile => self.nofile,
            Resource::Memlock => self.memlock,
        }
    }

    /// `do_prlimit` (kernel/sys.c): soft above hard is EINVAL, an RLIMIT_NOFILE above
    /// fs.nr_open is EPERM, and raising a hard limit needs CAP_SYS_RESOURCE (EPERM).
    pub fn check_set(&self, res: Resource, soft: u64, hard: u64) -> Result<(), Errno> {
        if soft > hard {
            return Err(Why::SoftAboveHard.errno());
        }
        if res == Resource::Nofile && hard > self.nr_open {
            return Err(Why::NrOpen.errno());
        }
        if hard > self.get(res).hard && !self.cap_sys_resource {
            return Err(Why::RaiseHard.errno());
        }
        Ok(())
    }

    /// Applies a setrlimit that `check_set` accepted.
    pub fn set(&mut self, res: Resource, soft: u64, hard: u64) {
        let l = Rlimit { soft, hard };
        match res {
            Resource::Nofile => self.nofile = l,
            Resource::Memlock => self.memlock = l,
        }
    }

    /// The number `alloc_fd` hands out next given the numbers `taken` by the script's fds:
    /// the lowest free one, or `None` (EMFILE) when it is not below the soft limit.
    /// `no_reuse` is the deliberate fault: one above the highest taken number.
    pub fn next_fd(&self, taken: impl Iterator<Item = u32>, no_reuse: bool, unlimited: bool) -> Option<u32> {
        let taken: BTreeSet<u32> = taken.chain(self.outside.iter().copied()).collect();
        let n = if no_reuse {
            taken.last().map_or(0, |m| m + 1)
        } else {
            (0..).find(|n| !taken.contains(n)).expect("a free number")
        };
        (unlimited || (n as u64) < self.nofile.soft).then_some(n)
    }

    /// Pre-5.11 `bpf_charge_memlock`: a map charging `pages` fails with EPERM when the
    /// user's locked pages would exceed RLIMIT_MEMLOCK (in pages). `charged` is the range of
    /// pages this case's maps hold (a freed map uncharges in its deferred free, so a pending
    /// one may or may not still count). `None`: the kernel may answer either way.
    pub fn memlock_allows(&self, profile: &Profile, pages: (u64, u64), charged: (u64, u64)) -> Option<bool> {
        if profile.mem_accounting == MemAccounting::Memcg || self.memlock.soft == INF {
            return Some(true);
        }
        let limit = self.memlock.soft >> 12;
        if pages.0.saturating_add(charged.0) > limit {
            Some(false)
        } else {
            // user->locked_vm is per user: other processes of the uid and the deferred
            // uncharges of earlier cases add to it (5.10 refused a one-page program at a
            // one-page limit), so below the limit a fit is never certain.
            None
        }
    }
}

/// The pages a map of `bytes` estimated allocation charges before 5.11: the allocation
/// rounded up to pages, plus the map header (`sizeof(struct bpf_array)` or `bpf_htab`,
/// a few hundred bytes depending on the config), as a (fewest, most) range.
pub fn memlock_pages(bytes: u64) -> (u64, u64) {
    (
        bytes.saturating_add(256).div_ceil(4096),
        bytes.saturating_add(1024).div_ceil(4096),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::at_start(&Profile::default())
    }

    #[test]
    fn lowest_free_number_below_the_soft_limit() {
        let l = limits();
        assert_eq!(l.next_fd([3, 4, 6].into_iter(), false, false), Some(5));
        assert_eq!(l.next_fd([3, 4, 6].into_iter(), true, false), Some(7));
        let mut low = l.clone();
        low.set(Resource::Nofile, 5, 4096);
        assert_eq!(low.next_fd([3, 4].into_iter(), false, false), None);
        assert_eq!(low.next_fd([3, 4].into_iter(), false, true), Some(5));
        assert_eq!(low.next_fd([4].into_iter(), false, false), Some(3));
    }

    #[test]
    fn prlimit_order() {
        let mut l = limits();
        assert_eq!(l.check_set(Resource::Nofile, 10, 5), Err(Errno::EINVAL));
        assert_eq!(
            l.check_set(Resource::Nofile, 10, l.nr_open + 1),
            Err(Errno::EPERM)
        );
        assert_eq!(
            l.check_set(Resource::Nofile, 10, l.nr_open),
            Ok(()),
            "fs.nr_open itself is allowed"
        );
        assert_eq!(l.check_set(Resource::Nofile, 10, 8192), Ok(()));
        l.cap_sys_resource = false;
        assert_eq!(l.check_set(Resource::Nofile, 10, 8192), Err(Errno::EPERM));
        assert_eq!(l.check_set(Resource::Nofile, 10, 4096), Ok(()));
        assert_eq!(l.check_set(Resource::Nofile, 10, 20), Ok(()));
        assert_eq!(
            l.check_set(Resource::Nofile, 20, 20),
            Ok(()),
            "soft may equal hard"
        );
        // soft > hard is checked first, even where the hard limit would also be refused.
        assert_eq!(l.check_set(Resource::Nofile, 9000, 8192), Err(Errno::EINVAL));
    }

    #[test]
    fn memlock_charges_only_in_the_old_dialect() {
        let old = Profile {
            mem_accounting: MemAccounting::Rlimit,
            ..Profile::default()
        };
        let mut l = limits();
        l.set(Resource::Memlock, 0, 0);
        let pages = memlock_pages(4 << 20);
        assert_eq!(l.memlock_allows(&Profile::default(), pages, (0, 0)), Some(true));
        assert_eq!(l.memlock_allows(&old, pages, (0, 0)), Some(false));
        // Below the limit a fit is never certain: other processes of the uid and deferred
        // uncharges share user->locked_vm. Only an unlimited RLIMIT_MEMLOCK is.
        l.set(Resource::Memlock, 64 << 20, 64 << 20);
        assert_eq!(l.memlock_allows(&old, pages, (0, 0)), None);
        l.set(Resource::Memlock, INF, INF);
        assert_eq!(l.memlock_allows(&old, pages, (1 << 40, 1 << 40)), Some(true));
        l.set(Resource::Memlock, pages.0 << 12, pages.0 << 12);
        assert_eq!(
            l.memlock_allows(&old, (pages.0 + 1, pages.0 + 1), (0, 0)),
            Some(false)
        );
        // What this case's maps already hold counts.
        l.set(Resource::Memlock, 100 << 12, 100 << 12);
        assert_eq!(l.memlock_allows(&old, (10, 10), (95, 95)), Some(false));
        assert_eq!(l.memlock_allows(&old, (10, 10), (85, 95)), None);
    }
}
