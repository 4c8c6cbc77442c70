//! Deliberately wrong model behaviours, switched on one at a time to prove that the lockstep
//! run catches them. The core idea: a checker is only as good as the bugs it finds.

use std::fmt;

/// One deliberate model bug.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Fault {
    /// BPF_NOEXIST on an ARRAY succeeds (the kernel always says EEXIST).
    ArrayNoexistSucceeds,
    /// DELETE of a missing HASH key returns 0 (the kernel says ENOENT).
    HashDeleteMissingOk,
    /// Per-CPU value slots are `value_size` apart instead of `round_up(value_size, 8)`.
    PercpuSlotNotRounded,
    /// Inserting a new key into a full HASH succeeds (the kernel says E2BIG).
    HashFullInsertOk,
    /// GET_NEXT_KEY on an ARRAY's last index wraps to 0 (the kernel says ENOENT).
    ArrayNextKeyWraps,
    /// A map created BPF_F_RDONLY still accepts updates (the kernel says EPERM).
    RdonlyIgnored,
    /// A second FREEZE succeeds (the kernel says EPERM).
    RefreezeOk,
    /// Map names are not validated (the kernel refuses '-' and other characters with EINVAL).
    NameUnchecked,
    /// The PROG_ARRAY owner resets when the array empties (the kernel keeps it forever).
    OwnerResetsWhenEmpty,
    /// Closing an inner map's fd releases it although a map-in-map slot holds it.
    InnerFdCloseReleases,
    /// CGROUP_ARRAY refuses a non-cgroup fd with EINVAL (the kernel says EBADF).
    CgroupArrayEinval,
    /// PERF_EVENT_ARRAY entries outlive the map file they were inserted through.
    PerfEntriesOutliveFile,
    /// The map-in-map template ignores max_entries of a plain ARRAY inner map.
    TemplateIgnoresMaxEntries,
    /// A program does not hold the maps in its used_maps.
    ProgDoesNotHoldMaps,
    /// No EMFILE: new fds are numbered past the soft RLIMIT_NOFILE.
    FdLimitIgnored,
    /// fd numbers are allocated one above the highest in use, never reusing a closed one.
    FdNumbersNotReused,
    /// A MAP_CREATE refused with EMFILE does not consume a map id.
    EmfileCreateKeepsNoId,
    /// A widened set: a released map or program may still look alive, even after `settle`.
    AliveEitherAfterSettle,
    /// A widened set: `dying` never narrows, even once every pending release has been seen.
    DyingNeverNarrows,
    /// The model panics on FREEZE (a bug in the oracle itself must fail the run).
    ModelPanicsAtFreeze,
    /// `info` reports BPF_F_RDONLY / BPF_F_WRONLY in map_flags (the kernel strips them).
    InfoKeepsAccessFlags,
    /// Hash elements are linked at the tail of their bucket (the kernel links at the head:
    /// `hlist_nulls_add_head_rcu`), which a BPF_F_ZERO_SEED map's order shows.
    HashOrderTailInsert,
    /// GET_NEXT_KEY of a hash may give any present key but the one passed in, and a `check`
    /// walk any order: the model before the order was modelled. It only widens the allowed
    /// set: caught because a walked map's order must be known at the end of a case.
    HashNextKeyAny,
    /// The model says a removed cgroup's release is pending in an fdtable case too, so the
    /// runner's end-of-case `settle dying` meets the model's own refusal there (no spare fd
    /// to read `cgroup.stat`): a runner/model disagreement must fail the case, not end it.
    DyingSettledInFdtable,
    /// A `fill` stores every element but the last (it still answers the full count).
    FillSkipsLast,
    /// A STACK peeks and pops its oldest element, as a queue does (the kernel: its newest).
    StackPopsOldest,
    /// A BLOOM_FILTER with BPF_F_ZERO_SEED, whose bitset the model computes, never finds a
    /// value that was not pushed: no false positives.
    BloomNoFalsePositives,
    /// An LPM_TRIE walks a prefix before the longer prefixes under it (preorder; the kernel
    /// walks them first: postorder).
    LpmPreorder,
    /// An UPDATE_BATCH or DELETE_BATCH goes on past a failing element and counts the
    /// elements done (the kernel stops at the first error: `generic_map_update_batch`).
    BatchContinuesPastError,
    /// A zero-seed hash's LOOKUP_BATCH fills the buffer mid-bucket (the kernel copies whole
    /// buckets only, and says ENOSPC when the first does not fit).
    HashBatchSplitsBuckets,
    /// An `id:` value is stored as the id of the map written into (the kernel stores the
    /// bytes it is given: the id of the map the value names).
    IdValueOfWrittenMap,
    /// An LRU hash evicts its most recently added elements first (the kernel shrinks from
    /// the tail of the inactive list: the least recent, `__bpf_lru_list_shrink_inactive`).
    LruEvictsNewest,
    /// An LRU hash never sets a node's reference bit, so a replaced key is as old as any
    /// (the kernel's `bpf_lru_node_set_ref` keeps it active through a rotation).
    LruRefIgnored,
    /// The common LRU refills a local free list by 128 nodes, as before 6.16 (the kernel:
    /// `clamp(max_entries / cpus / 2, 1, 128)`, d4adf1c9ee77).
    LruOldTargetFree,
    /// A widened set: an LRU hash written by an unpinned case keeps every list state, the
    /// kernel's answers tell none apart (the model keeps those that allow them, `World::split`).
    LruStatesNeverNarrow,
    /// An array's helper update refuses BPF_F_LOCK before BPF_NOEXIST, as the syscall does
    /// (the kernel's `array_map_update_elem` answers NOEXIST|F_LOCK with EEXIST).
    ProgArrayLockFirst,
}

impl Fault {
    /// Every fault, for `selftest` and the canary test.
    pub const ALL: [Fault; 36] = [
        Fault::ArrayNoexistSucceeds,
        Fault::HashDeleteMissingOk,
        Fault::PercpuSlotNotRounded,
        Fault::HashFullInsertOk,
        Fault::ArrayNextKeyWraps,
        Fault::RdonlyIgnored,
        Fault::RefreezeOk,
        Fault::NameUnchecked,
        Fault::OwnerResetsWhenEmpty,
        Fault::InnerFdCloseReleases,
        Fault::CgroupArrayEinval,
        Fault::PerfEntriesOutliveFile,
        Fault::TemplateIgnoresMaxEntries,
        Fault::ProgDoesNotHoldMaps,
        Fault::FdLimitIgnored,
        Fault::FdNumbersNotReused,
        Fault::EmfileCreateKeepsNoId,
        Fault::AliveEitherAfterSettle,
        Fault::DyingNeverNarrows,
        Fault::ModelPanicsAtFreeze,
        Fault::InfoKeepsAccessFlags,
        Fault::HashOrderTailInsert,
        Fault::HashNextKeyAny,
        Fault::DyingSettledInFdtable,
        Fault::FillSkipsLast,
        Fault::StackPopsOldest,
        Fault::BloomNoFalsePositives,
        Fault::LpmPreorder,
        Fault::BatchContinuesPastError,
        Fault::HashBatchSplitsBuckets,
        Fault::IdValueOfWrittenMap,
        Fault::LruEvictsNewest,
        Fault::LruRefIgnored,
        Fault::LruOldTargetFree,
        Fault::LruStatesNeverNarrow,
        Fault::ProgArrayLockFirst,
    ];
    /// The faults in the handle-map model (generation must include the fd-holding maps).
    pub fn is_handle_fault(self) -> bool {
        matches!(
            self,
            Fault::OwnerResetsWhenEmpty
                | Fault::InnerFdCloseReleases
                | Fault::CgroupArrayEinval
                | Fault::PerfEntriesOutliveFile
                | Fault::TemplateIgnoresMaxEntries
                | Fault::ProgDoesNotHoldMaps
                | Fault::AliveEitherAfterSettle
                | Fault::DyingNeverNarrows
        )
    }
    /// The faults in the fd-table model (generation must include `fdtable` cases).
    pub fn is_fd_fault(self) -> bool {
        matches!(
            self,
            Fault::FdLimitIgnored
                | Fault::FdNumbersNotReused
                | Fault::EmfileCreateKeepsNoId
                | Fault::DyingSettledInFdtable
        )
    }
    /// Faults that only widen what the model allows: no kernel outcome diverges from them, so
    /// they are caught where a set must have narrowed (the end-of-case audit in the runner).
    pub fn widens(self) -> bool {
        matches!(
            self,
            Fault::HashNextKeyAny
                | Fault::AliveEitherAfterSettle
                | Fault::DyingNeverNarrows
                | Fault::LruStatesNeverNarrow
        )
    }
    /// The name used on the command line (`--fault`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::ArrayNoexistSucceeds => "array-noexist-succeeds",
            Fault::HashDeleteMissingOk => "hash-delete-missing-ok",
            Fault::PercpuSlotNotRounded => "percpu-slot-not-rounded",
            Fault::HashFullInsertOk => "hash-full-insert-ok",
            Fault::ArrayNextKeyWraps => "array-next-key-wraps",
            Fault::RdonlyIgnored => "rdonly-ignored",
            Fault::RefreezeOk => "refreeze-ok",
            Fault::NameUnchecked => "name-unchecked",
            Fault::OwnerResetsWhenEmpty => "owner-resets-when-empty",
            Fault::InnerFdCloseReleases => "inner-fd-close-releases",
            Fault::CgroupArrayEinval => "cgroup-array-einval",
            Fault::PerfEntriesOutliveFile => "perf-entries-outlive-file",
            Fault::TemplateIgnoresMaxEntries => "template-ignores-max-entries",
            Fault::ProgDoesNotHoldMaps => "prog-does-not-hold-maps",
            Fault::FdLimitIgnored => "fd-limit-ignored",
            Fault::FdNumbersNotReused => "fd-numbers-not-reused",
            Fault::EmfileCreateKeepsNoId => "emfile-create-keeps-no-id",
            Fault::AliveEitherAfterSettle => "alive-either-after-settle",
            Fault::DyingNeverNarrows => "dying-never-narrows",
            Fault::ModelPanicsAtFreeze => "model-panics-at-freeze",
            Fault::InfoKeepsAccessFlags => "info-keeps-access-flags",
            Fault::HashOrderTailInsert => "hash-order-tail-insert",
            Fault::HashNextKeyAny => "hash-next-key-any",
            Fault::DyingSettledInFdtable => "dying-settled-in-fdtable",
            Fault::FillSkipsLast => "fill-skips-last",
            Fault::StackPopsOldest => "stack-pops-oldest",
            Fault::BloomNoFalsePositives => "bloom-no-false-positives",
            Fault::LpmPreorder => "lpm-preorder",
            Fault::BatchContinuesPastError => "batch-continues-past-error",
            Fault::HashBatchSplitsBuckets => "hash-batch-splits-buckets",
            Fault::IdValueOfWrittenMap => "id-value-of-written-map",
            Fault::LruEvictsNewest => "lru-evicts-newest",
            Fault::LruRefIgnored => "lru-ref-ignored",
            Fault::LruOldTargetFree => "lru-old-target-free",
            Fault::LruStatesNeverNarrow => "lru-states-never-narrow",
            Fault::ProgArrayLockFirst => "prog-array-lock-first",
        }
    }
    /// Inverse of [`Fault::name`].
    pub fn from_name(s: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == s)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_families_partition() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(f.name()), Some(f));
            assert_eq!(f.to_string(), f.name());
            assert!(!(f.is_handle_fault() && f.is_fd_fault()), "{f}");
        }
        assert_eq!(Fault::from_name("no-such-fault"), None);
        assert_eq!(Fault::ALL.iter().filter(|f| f.is_handle_fault()).count(), 8);
        assert_eq!(Fault::ALL.iter().filter(|f| f.is_fd_fault()).count(), 4);
        assert_eq!(
            Fault::ALL.iter().filter(|f| f.widens()).collect::<Vec<_>>(),
            [
                &Fault::AliveEitherAfterSettle,
                &Fault::DyingNeverNarrows,
                &Fault::HashNextKeyAny,
                &Fault::LruStatesNeverNarrow
            ]
        );
    }
}
