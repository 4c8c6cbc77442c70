//! The corpus (`regressions/`), every outcome recorded from a kernel, run through the model
//! alone: the mutation run's first stage, which has no kernel, still judges the model by the
//! kernel's sequences (LRU list walks, batch dispatch, lifetimes), not only by unit tests.

use crate::op::Op;
use crate::outcome::{Allowed, Expect, MapState, Outcome, Ret, Slots, Walk};
use crate::profile::Profile;
use crate::world::World;

/// Every case of `regressions/` but these, by name (a new case goes in the list): the ones
/// with `any` lines, where the kernel chooses among allowed outcomes and only a replay has
/// the choice to follow (`batch/htab-random-seed`, `dialects/unpin-frees-after-rcu`,
/// `hash-next-key-repeats`, `keyless/bloom-commands`, `lru/unpinned-*`,
/// `handles/failed-load-holds-used-maps-until-rcu`, `found-kept/found-12085f3627465025`);
/// `dialects/percpu-cpu-flags` (a 7.0 profile of its own: `cpu_flags_and_late_file_flags_follow_their_cases`);
/// and `percpu-update-flags-3-einval`, a kernel finding whose lines carry `# finding` marks
/// for replay.
const CASES: &[(&str, &str)] = &[
    (
        "array-delete-always-einval",
        include_str!("../../../../regressions/array-delete-always-einval.case"),
    ),
    (
        "array-flags-checked-before-bounds",
        include_str!("../../../../regressions/array-flags-checked-before-bounds.case"),
    ),
    (
        "array-lookup-and-delete-enotsupp",
        include_str!("../../../../regressions/array-lookup-and-delete-enotsupp.case"),
    ),
    (
        "array-next-key-edges",
        include_str!("../../../../regressions/array-next-key-edges.case"),
    ),
    (
        "array-noexist-always-eexist",
        include_str!("../../../../regressions/array-noexist-always-eexist.case"),
    ),
    (
        "array-update-oob-e2big-lookup-oob-enoent",
        include_str!("../../../../regressions/array-update-oob-e2big-lookup-oob-enoent.case"),
    ),
    (
        "array-value-not-multiple-of-8",
        include_str!("../../../../regressions/array-value-not-multiple-of-8.case"),
    ),
    ("bad-fds", include_str!("../../../../regressions/bad-fds.case")),
    (
        "batch/array-selftest",
        include_str!("../../../../regressions/batch/array-selftest.case"),
    ),
    (
        "batch/dispatch-order",
        include_str!("../../../../regressions/batch/dispatch-order.case"),
    ),
    (
        "batch/htab-selftest-zero-seed",
        include_str!("../../../../regressions/batch/htab-selftest-zero-seed.case"),
    ),
    (
        "batch/lpm-selftest",
        include_str!("../../../../regressions/batch/lpm-selftest.case"),
    ),
    (
        "batch/map-in-map-inner-ids",
        include_str!("../../../../regressions/batch/map-in-map-inner-ids.case"),
    ),
    (
        "batch/map-in-map-lookups",
        include_str!("../../../../regressions/batch/map-in-map-lookups.case"),
    ),
    (
        "batch/map-in-map-writes",
        include_str!("../../../../regressions/batch/map-in-map-writes.case"),
    ),
    (
        "create-array-attr-einval",
        include_str!("../../../../regressions/create-array-attr-einval.case"),
    ),
    (
        "create-hash-attr",
        include_str!("../../../../regressions/create-hash-attr.case"),
    ),
    (
        "create-hash-size-limits",
        include_str!("../../../../regressions/create-hash-size-limits.case"),
    ),
    (
        "create-map-extra-einval",
        include_str!("../../../../regressions/create-map-extra-einval.case"),
    ),
    (
        "create-name-checked-after-alloc-check",
        include_str!("../../../../regressions/create-name-checked-after-alloc-check.case"),
    ),
    (
        "create-name-latin1",
        include_str!("../../../../regressions/create-name-latin1.case"),
    ),
    (
        "create-name-rules",
        include_str!("../../../../regressions/create-name-rules.case"),
    ),
    (
        "create-numa-node",
        include_str!("../../../../regressions/create-numa-node.case"),
    ),
    (
        "create-percpu-array-limits",
        include_str!("../../../../regressions/create-percpu-array-limits.case"),
    ),
    (
        "create-rdonly-wronly-einval",
        include_str!("../../../../regressions/create-rdonly-wronly-einval.case"),
    ),
    (
        "create-unknown-type-einval",
        include_str!("../../../../regressions/create-unknown-type-einval.case"),
    ),
    (
        "create-value-size-intmax-e2big",
        include_str!("../../../../regressions/create-value-size-intmax-e2big.case"),
    ),
    (
        "dialects/batch-hole-eintr-before-6.14",
        include_str!("../../../../regressions/dialects/batch-hole-eintr-before-6.14.case"),
    ),
    (
        "dialects/bloom-filter-before-5.16",
        include_str!("../../../../regressions/dialects/bloom-filter-before-5.16.case"),
    ),
    (
        "dialects/bloom-filter",
        include_str!("../../../../regressions/dialects/bloom-filter.case"),
    ),
    (
        "dialects/bloom-value-size-checked",
        include_str!("../../../../regressions/dialects/bloom-value-size-checked.case"),
    ),
    (
        "dialects/bloom-value-size-unchecked",
        include_str!("../../../../regressions/dialects/bloom-value-size-unchecked.case"),
    ),
    (
        "dialects/create-file-flags-early",
        include_str!("../../../../regressions/dialects/create-file-flags-early.case"),
    ),
    (
        "dialects/create-file-flags-late",
        include_str!("../../../../regressions/dialects/create-file-flags-late.case"),
    ),
    (
        "dialects/freeze-before-6.5",
        include_str!("../../../../regressions/dialects/freeze-before-6.5.case"),
    ),
    (
        "dialects/hash-lookup-and-delete-before-5.14",
        include_str!("../../../../regressions/dialects/hash-lookup-and-delete-before-5.14.case"),
    ),
    (
        "dialects/hash-sizes-before-5.11",
        include_str!("../../../../regressions/dialects/hash-sizes-before-5.11.case"),
    ),
    (
        "dialects/lookup-flags-after-fd",
        include_str!("../../../../regressions/dialects/lookup-flags-after-fd.case"),
    ),
    (
        "dialects/lpm-exist-flags-full-checked-first",
        include_str!("../../../../regressions/dialects/lpm-exist-flags-full-checked-first.case"),
    ),
    (
        "dialects/lpm-exist-flags-ignored",
        include_str!("../../../../regressions/dialects/lpm-exist-flags-ignored.case"),
    ),
    (
        "dialects/lpm-full-rejects-replace",
        include_str!("../../../../regressions/dialects/lpm-full-rejects-replace.case"),
    ),
    (
        "dialects/lpm-full-replaces",
        include_str!("../../../../regressions/dialects/lpm-full-replaces.case"),
    ),
    (
        "dialects/lpm-next-key-restarts",
        include_str!("../../../../regressions/dialects/lpm-next-key-restarts.case"),
    ),
    (
        "dialects/lpm-next-key-same-length",
        include_str!("../../../../regressions/dialects/lpm-next-key-same-length.case"),
    ),
    (
        "dialects/lpm-no-batch-before-5.13",
        include_str!("../../../../regressions/dialects/lpm-no-batch-before-5.13.case"),
    ),
    (
        "dialects/lru-target-free-128",
        include_str!("../../../../regressions/dialects/lru-target-free-128.case"),
    ),
    (
        "dialects/lru-target-free",
        include_str!("../../../../regressions/dialects/lru-target-free.case"),
    ),
    (
        "dialects/map-in-map-no-batch-before-5.19",
        include_str!("../../../../regressions/dialects/map-in-map-no-batch-before-5.19.case"),
    ),
    (
        "dialects/memlock-charges-program-loads",
        include_str!("../../../../regressions/dialects/memlock-charges-program-loads.case"),
    ),
    (
        "dialects/percpu-array-no-batch-before-5.13",
        include_str!("../../../../regressions/dialects/percpu-array-no-batch-before-5.13.case"),
    ),
    (
        "dialects/percpu-array-template-any-size",
        include_str!("../../../../regressions/dialects/percpu-array-template-any-size.case"),
    ),
    (
        "dialects/percpu-cpu-flags-before-7.0",
        include_str!("../../../../regressions/dialects/percpu-cpu-flags-before-7.0.case"),
    ),
    (
        "dialects/percpu-padding-dropped",
        include_str!("../../../../regressions/dialects/percpu-padding-dropped.case"),
    ),
    (
        "dialects/prog-array-owner-without-attach-type",
        include_str!("../../../../regressions/dialects/prog-array-owner-without-attach-type.case"),
    ),
    (
        "dialects/xdp-frags-before-5.18",
        include_str!("../../../../regressions/dialects/xdp-frags-before-5.18.case"),
    ),
    (
        "f-lock-without-spin-lock-einval",
        include_str!("../../../../regressions/f-lock-without-spin-lock-einval.case"),
    ),
    (
        "fdtable/emfile-at-the-soft-limit",
        include_str!("../../../../regressions/fdtable/emfile-at-the-soft-limit.case"),
    ),
    (
        "fdtable/emfile-create-consumes-an-id",
        include_str!("../../../../regressions/fdtable/emfile-create-consumes-an-id.case"),
    ),
    (
        "fdtable/emfile-load-still-binds-prog-array-owner",
        include_str!("../../../../regressions/fdtable/emfile-load-still-binds-prog-array-owner.case"),
    ),
    (
        "fdtable/lowest-free-number-is-reused",
        include_str!("../../../../regressions/fdtable/lowest-free-number-is-reused.case"),
    ),
    (
        "fdtable/memlock-has-no-effect",
        include_str!("../../../../regressions/fdtable/memlock-has-no-effect.case"),
    ),
    (
        "fdtable/mkcgroup-emfile-leaves-the-directory",
        include_str!("../../../../regressions/fdtable/mkcgroup-emfile-leaves-the-directory.case"),
    ),
    (
        "fdtable/setrlimit-order",
        include_str!("../../../../regressions/fdtable/setrlimit-order.case"),
    ),
    (
        "fill-batch-update",
        include_str!("../../../../regressions/fill-batch-update.case"),
    ),
    (
        "found-kept/found-89f2814e8819751a",
        include_str!("../../../../regressions/found-kept/found-89f2814e8819751a.case"),
    ),
    (
        "frozen-writes-eperm",
        include_str!("../../../../regressions/frozen-writes-eperm.case"),
    ),
    (
        "handles/cgroup-array-holds-dying-cgroup",
        include_str!("../../../../regressions/handles/cgroup-array-holds-dying-cgroup.case"),
    ),
    (
        "handles/cgroup-array-removed-cgroup",
        include_str!("../../../../regressions/handles/cgroup-array-removed-cgroup.case"),
    ),
    (
        "handles/cgroup-array-typing",
        include_str!("../../../../regressions/handles/cgroup-array-typing.case"),
    ),
    (
        "handles/cgroup-dir-fd-does-not-pin-removed-cgroup",
        include_str!("../../../../regressions/handles/cgroup-dir-fd-does-not-pin-removed-cgroup.case"),
    ),
    (
        "handles/failed-frags-load-binds-prog-array-owner",
        include_str!("../../../../regressions/handles/failed-frags-load-binds-prog-array-owner.case"),
    ),
    (
        "handles/failed-load-binds-past-a-compatible-owner",
        include_str!("../../../../regressions/handles/failed-load-binds-past-a-compatible-owner.case"),
    ),
    (
        "handles/failed-load-stops-at-the-incompatible-owner",
        include_str!("../../../../regressions/handles/failed-load-stops-at-the-incompatible-owner.case"),
    ),
    (
        "handles/failed-load-still-binds-prog-array-owner",
        include_str!("../../../../regressions/handles/failed-load-still-binds-prog-array-owner.case"),
    ),
    (
        "handles/fd-array-next-key-ignores-occupancy",
        include_str!("../../../../regressions/handles/fd-array-next-key-ignores-occupancy.case"),
    ),
    (
        "handles/fd-arrays-create-attrs",
        include_str!("../../../../regressions/handles/fd-arrays-create-attrs.case"),
    ),
    (
        "handles/fd-arrays-freeze",
        include_str!("../../../../regressions/handles/fd-arrays-freeze.case"),
    ),
    (
        "handles/fd-arrays-lookup-and-delete-enotsupp",
        include_str!("../../../../regressions/handles/fd-arrays-lookup-and-delete-enotsupp.case"),
    ),
    (
        "handles/fd-by-id",
        include_str!("../../../../regressions/handles/fd-by-id.case"),
    ),
    (
        "handles/hash-of-maps-create",
        include_str!("../../../../regressions/handles/hash-of-maps-create.case"),
    ),
    (
        "handles/hash-of-maps-flags",
        include_str!("../../../../regressions/handles/hash-of-maps-flags.case"),
    ),
    (
        "handles/hash-of-maps-zero-seed-order",
        include_str!("../../../../regressions/handles/hash-of-maps-zero-seed-order.case"),
    ),
    (
        "handles/map-in-map-create-inner-fd",
        include_str!("../../../../regressions/handles/map-in-map-create-inner-fd.case"),
    ),
    (
        "handles/map-in-map-keeps-inner-alive",
        include_str!("../../../../regressions/handles/map-in-map-keeps-inner-alive.case"),
    ),
    (
        "handles/map-in-map-outer-close-releases-inner-later",
        include_str!("../../../../regressions/handles/map-in-map-outer-close-releases-inner-later.case"),
    ),
    (
        "handles/map-in-map-rdonly-inner-matches",
        include_str!("../../../../regressions/handles/map-in-map-rdonly-inner-matches.case"),
    ),
    (
        "handles/map-in-map-template",
        include_str!("../../../../regressions/handles/map-in-map-template.case"),
    ),
    (
        "handles/non-map-fds-as-map",
        include_str!("../../../../regressions/handles/non-map-fds-as-map.case"),
    ),
    (
        "handles/percpu-array-template-max-entries",
        include_str!("../../../../regressions/handles/percpu-array-template-max-entries.case"),
    ),
    (
        "handles/perf-event-array-entries-die-with-map-file",
        include_str!("../../../../regressions/handles/perf-event-array-entries-die-with-map-file.case"),
    ),
    (
        "handles/perf-event-array-preserve-elems",
        include_str!("../../../../regressions/handles/perf-event-array-preserve-elems.case"),
    ),
    (
        "handles/perf-event-array-typing",
        include_str!("../../../../regressions/handles/perf-event-array-typing.case"),
    ),
    (
        "handles/pins-are-user-references",
        include_str!("../../../../regressions/handles/pins-are-user-references.case"),
    ),
    (
        "handles/prog-array-cleared-while-a-program-holds-it",
        include_str!("../../../../regressions/handles/prog-array-cleared-while-a-program-holds-it.case"),
    ),
    (
        "handles/prog-array-fd-by-id-keeps-slots",
        include_str!("../../../../regressions/handles/prog-array-fd-by-id-keeps-slots.case"),
    ),
    (
        "handles/prog-array-flags-and-bounds",
        include_str!("../../../../regressions/handles/prog-array-flags-and-bounds.case"),
    ),
    (
        "handles/prog-array-keeps-closed-program",
        include_str!("../../../../regressions/handles/prog-array-keeps-closed-program.case"),
    ),
    (
        "handles/prog-array-last-fd-clears-deferred",
        include_str!("../../../../regressions/handles/prog-array-last-fd-clears-deferred.case"),
    ),
    (
        "handles/prog-array-lookup-returns-id",
        include_str!("../../../../regressions/handles/prog-array-lookup-returns-id.case"),
    ),
    (
        "handles/prog-array-o-path-fd-is-ebadf",
        include_str!("../../../../regressions/handles/prog-array-o-path-fd-is-ebadf.case"),
    ),
    (
        "handles/prog-array-owner-expected-attach-type",
        include_str!("../../../../regressions/handles/prog-array-owner-expected-attach-type.case"),
    ),
    (
        "handles/prog-array-owner-type-sticky",
        include_str!("../../../../regressions/handles/prog-array-owner-type-sticky.case"),
    ),
    (
        "handles/prog-array-owner-xdp-frags",
        include_str!("../../../../regressions/handles/prog-array-owner-xdp-frags.case"),
    ),
    (
        "handles/prog-array-refuses-non-programs",
        include_str!("../../../../regressions/handles/prog-array-refuses-non-programs.case"),
    ),
    (
        "handles/prog-array-replace-releases-old",
        include_str!("../../../../regressions/handles/prog-array-replace-releases-old.case"),
    ),
    (
        "handles/prog-array-sched-cls-owner",
        include_str!("../../../../regressions/handles/prog-array-sched-cls-owner.case"),
    ),
    (
        "handles/program-load-sets-prog-array-owner",
        include_str!("../../../../regressions/handles/program-load-sets-prog-array-owner.case"),
    ),
    (
        "handles/program-used-maps-keep-maps-alive",
        include_str!("../../../../regressions/handles/program-used-maps-keep-maps-alive.case"),
    ),
    (
        "hash-check-above-walk-limit",
        include_str!("../../../../regressions/hash-check-above-walk-limit.case"),
    ),
    (
        "hash-delete-and-lookup-and-delete",
        include_str!("../../../../regressions/hash-delete-and-lookup-and-delete.case"),
    ),
    (
        "hash-frozen-lookup-and-delete-eperm",
        include_str!("../../../../regressions/hash-frozen-lookup-and-delete-eperm.case"),
    ),
    (
        "hash-full",
        include_str!("../../../../regressions/hash-full.case"),
    ),
    (
        "hash-next-key",
        include_str!("../../../../regressions/hash-next-key.case"),
    ),
    (
        "hash-no-prealloc-full",
        include_str!("../../../../regressions/hash-no-prealloc-full.case"),
    ),
    (
        "hash-update-flags",
        include_str!("../../../../regressions/hash-update-flags.case"),
    ),
    (
        "hash-zero-seed-order",
        include_str!("../../../../regressions/hash-zero-seed-order.case"),
    ),
    (
        "info-readback",
        include_str!("../../../../regressions/info-readback.case"),
    ),
    (
        "keyless/bloom-inner-map",
        include_str!("../../../../regressions/keyless/bloom-inner-map.case"),
    ),
    (
        "keyless/bloom-selftest-fail-and-success",
        include_str!("../../../../regressions/keyless/bloom-selftest-fail-and-success.case"),
    ),
    (
        "keyless/bloom-zero-seed-false-positive",
        include_str!("../../../../regressions/keyless/bloom-zero-seed-false-positive.case"),
    ),
    (
        "keyless/queue-selftest-sequence",
        include_str!("../../../../regressions/keyless/queue-selftest-sequence.case"),
    ),
    (
        "keyless/stack-selftest-sequence",
        include_str!("../../../../regressions/keyless/stack-selftest-sequence.case"),
    ),
    (
        "lookup-flags-before-fd",
        include_str!("../../../../regressions/lookup-flags-before-fd.case"),
    ),
    (
        "lpm/full-trie-errno-order",
        include_str!("../../../../regressions/lpm/full-trie-errno-order.case"),
    ),
    (
        "lpm/keys-and-commands",
        include_str!("../../../../regressions/lpm/keys-and-commands.case"),
    ),
    (
        "lpm/selftest-get-next-key",
        include_str!("../../../../regressions/lpm/selftest-get-next-key.case"),
    ),
    (
        "lpm/selftest-ipaddr-and-delete",
        include_str!("../../../../regressions/lpm/selftest-ipaddr-and-delete.case"),
    ),
    (
        "lpm/selftest-iterate-strs",
        include_str!("../../../../regressions/lpm/selftest-iterate-strs.case"),
    ),
    (
        "lpm/selftest-update-flags",
        include_str!("../../../../regressions/lpm/selftest-update-flags.case"),
    ),
    (
        "lru/lookup-and-delete-lru_hash",
        include_str!("../../../../regressions/lru/lookup-and-delete-lru_hash.case"),
    ),
    (
        "lru/lookup-and-delete-lru_percpu_hash",
        include_str!("../../../../regressions/lru/lookup-and-delete-lru_percpu_hash.case"),
    ),
    (
        "lru/percpu-lists-round-max-entries",
        include_str!("../../../../regressions/lru/percpu-lists-round-max-entries.case"),
    ),
    (
        "lru/refused-and-program-updates-evict",
        include_str!("../../../../regressions/lru/refused-and-program-updates-evict.case"),
    ),
    (
        "lru/rotate-lru_hash-no-common-lru-11",
        include_str!("../../../../regressions/lru/rotate-lru_hash-no-common-lru-11.case"),
    ),
    (
        "lru/sanity0-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity0-lru_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity0-lru_hash",
        include_str!("../../../../regressions/lru/sanity0-lru_hash.case"),
    ),
    (
        "lru/sanity0-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity0-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity0-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity0-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity1-lru_hash",
        include_str!("../../../../regressions/lru/sanity1-lru_hash.case"),
    ),
    (
        "lru/sanity1-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity1-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity2-lru_hash",
        include_str!("../../../../regressions/lru/sanity2-lru_hash.case"),
    ),
    (
        "lru/sanity2-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity2-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity3-lru_hash",
        include_str!("../../../../regressions/lru/sanity3-lru_hash.case"),
    ),
    (
        "lru/sanity3-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity3-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity4-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity4-lru_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity4-lru_hash",
        include_str!("../../../../regressions/lru/sanity4-lru_hash.case"),
    ),
    (
        "lru/sanity4-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity4-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity4-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity4-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity5-lru_hash",
        include_str!("../../../../regressions/lru/sanity5-lru_hash.case"),
    ),
    (
        "lru/sanity5-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity5-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity6-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity6-lru_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity6-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity6-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity7-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity7-lru_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity7-lru_hash",
        include_str!("../../../../regressions/lru/sanity7-lru_hash.case"),
    ),
    (
        "lru/sanity7-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity7-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity7-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity7-lru_percpu_hash.case"),
    ),
    (
        "lru/sanity8-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity8-lru_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity8-lru_hash",
        include_str!("../../../../regressions/lru/sanity8-lru_hash.case"),
    ),
    (
        "lru/sanity8-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity8-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "lru/sanity8-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity8-lru_percpu_hash.case"),
    ),
    (
        "lru/steal-from-pending-128",
        include_str!("../../../../regressions/lru/steal-from-pending-128.case"),
    ),
    (
        "lru/update-evicts-its-own-key",
        include_str!("../../../../regressions/lru/update-evicts-its-own-key.case"),
    ),
    (
        "lru/walk-lru_hash-1",
        include_str!("../../../../regressions/lru/walk-lru_hash-1.case"),
    ),
    (
        "lru/walk-lru_hash-128-7",
        include_str!("../../../../regressions/lru/walk-lru_hash-128-7.case"),
    ),
    (
        "lru/walk-lru_hash-128-8",
        include_str!("../../../../regressions/lru/walk-lru_hash-128-8.case"),
    ),
    (
        "lru/walk-lru_hash-5",
        include_str!("../../../../regressions/lru/walk-lru_hash-5.case"),
    ),
    (
        "lru/walk-lru_hash-no-common-lru-2",
        include_str!("../../../../regressions/lru/walk-lru_hash-no-common-lru-2.case"),
    ),
    (
        "lru/walk-lru_hash-no-common-lru-6",
        include_str!("../../../../regressions/lru/walk-lru_hash-no-common-lru-6.case"),
    ),
    (
        "lru/walk-lru_percpu_hash-3",
        include_str!("../../../../regressions/lru/walk-lru_percpu_hash-3.case"),
    ),
    (
        "lru/walk-lru_percpu_hash-no-common-lru-4",
        include_str!("../../../../regressions/lru/walk-lru_percpu_hash-no-common-lru-4.case"),
    ),
    (
        "percpu-array-padding-roundtrips",
        include_str!("../../../../regressions/percpu-array-padding-roundtrips.case"),
    ),
    (
        "percpu-hash-full-replace",
        include_str!("../../../../regressions/percpu-hash-full-replace.case"),
    ),
    (
        "percpu-hash-padding-roundtrips",
        include_str!("../../../../regressions/percpu-hash-padding-roundtrips.case"),
    ),
    (
        "percpu-hash-zero-seed-order",
        include_str!("../../../../regressions/percpu-hash-zero-seed-order.case"),
    ),
    (
        "prog/array-update-flag-order",
        include_str!("../../../../regressions/prog/array-update-flag-order.case"),
    ),
    (
        "prog/hash-update-f-lock-einval",
        include_str!("../../../../regressions/prog/hash-update-f-lock-einval.case"),
    ),
    (
        "prog/helpers-on-fd-maps",
        include_str!("../../../../regressions/prog/helpers-on-fd-maps.case"),
    ),
    (
        "prog/helpers-on-lpm-trie",
        include_str!("../../../../regressions/prog/helpers-on-lpm-trie.case"),
    ),
    (
        "prog/helpers-skip-syscall-checks",
        include_str!("../../../../regressions/prog/helpers-skip-syscall-checks.case"),
    ),
    (
        "prog/lookup-of-a-map-holding-ids",
        include_str!("../../../../regressions/prog/lookup-of-a-map-holding-ids.case"),
    ),
    (
        "prog/lookup-reads-its-cpus-slot",
        include_str!("../../../../regressions/prog/lookup-reads-its-cpus-slot.case"),
    ),
    (
        "rdonly-wronly-fds",
        include_str!("../../../../regressions/rdonly-wronly-fds.case"),
    ),
    (
        "refreeze-eperm",
        include_str!("../../../../regressions/refreeze-eperm.case"),
    ),
];

/// The profile a case was recorded on: 6.18 with the header's `# cpus:` and `# dialect:`.
fn profile_of(case: &str) -> Profile {
    let mut p = Profile::default();
    for line in case.lines() {
        if let Some(n) = line.strip_prefix("# cpus:") {
            p.possible_cpus = n.trim().parse().expect("# cpus: a number");
        }
        if let Some(words) = line.strip_prefix("# dialect:") {
            for w in words.split_whitespace() {
                let (name, on) = match w.strip_prefix("no-") {
                    Some(n) => (n, false),
                    None => (w, true),
                };
                assert!(p.set_dialect(name, on), "unknown dialect {w}");
            }
        }
    }
    p
}

/// The full states a `check` may see: one, or one per list state the case left open.
fn states(a: &Allowed) -> Vec<MapState> {
    match a {
        Allowed::State(st, _) => vec![st.clone()],
        Allowed::Either(parts, _) => parts.iter().flat_map(states).collect(),
        _ => Vec::new(),
    }
}

/// A `check` against what its line recorded (`ok`, or the number of entries or slots): the
/// outcome the world then follows, None where the walk order is the kernel's to show.
fn check(allowed: &Allowed, expect: &Expect) -> Result<Option<Outcome>, String> {
    let count = match expect {
        Expect::Entries(n) | Expect::Slots(n) => Some(*n),
        Expect::AnyOk => None,
        e => return Err(format!("a check records ok, entries or slots, not {e}")),
    };
    match allowed {
        Allowed::State(..) | Allowed::Either(..) => {
            let mut fit: Vec<MapState> = states(allowed)
                .into_iter()
                .filter(|s| count.is_none_or(|n| s.len() == n))
                .collect();
            fit.dedup();
            match fit.len() {
                1 => Ok(Some(Ok(Ret::State(fit.remove(0))))),
                n => Err(format!("{n} states fit")),
            }
        }
        Allowed::ArrayState {
            max_entries,
            value_len,
            written,
        } if count.is_none_or(|n| n == *max_entries as usize) => {
            let mut st = MapState {
                key_size: 4,
                value_size: *value_len,
                ..MapState::default()
            };
            for i in 0..*max_entries {
                st.keys.extend_from_slice(&i.to_le_bytes());
                let zero = vec![0; *value_len];
                st.values.extend_from_slice(written.get(&i).unwrap_or(&zero));
            }
            Ok(Some(Ok(Ret::State(st))))
        }
        Allowed::Slots(slots, walk) if count.is_none_or(|n| n == slots.len()) => Ok(match walk {
            Walk::Exact(order) => Some(Ok(Ret::Slots(Slots {
                slots: slots.clone(),
                walk_ok: true,
                walk: order.clone(),
            }))),
            Walk::Links(_) => None,
        }),
        _ => Err("not the recorded count".into()),
    }
}

/// Runs a case through the model: the first line the model does not allow as recorded, or
/// None.
fn disagreement(case: &str) -> Option<String> {
    let mut w = World::new(profile_of(case), vec![]);
    let body = case
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    for line in body {
        let (op, expect) = crate::text::parse_line(line).unwrap();
        if let Err(e) = w.precondition(&op) {
            return Some(format!("{line}: precondition: {e}"));
        }
        let allowed = w.allowed(&op);
        let o = match (&op, &allowed, expect) {
            (Op::Check { .. }, _, Some(e)) if !matches!(e, Expect::Exactly(_)) => match check(&allowed, &e) {
                Ok(o) => o,
                Err(why) => return Some(format!("{line}: {why} in {allowed}")),
            },
            (_, Allowed::Exactly(o), Some(e)) if e.matches(o) => Some(o.clone()),
            (_, _, Some(Expect::Exactly(o))) if w.admits(&op, &allowed, &o) => Some(o),
            _ => return Some(format!("{line}: the model allows {allowed}")),
        };
        if let Some(o) = o {
            w.apply(&op, &o);
        }
    }
    None
}

/// Every pinned case's recorded kernel outcomes are the model's.
#[test]
fn the_pinned_corpus_is_the_models() {
    for (name, case) in CASES {
        assert_eq!(disagreement(case), None, "{name}");
    }
}

/// A model whose LRU refill batch is the other kernel's disagrees with each refill dialect
/// case: the runner above can fail.
#[test]
fn a_case_of_the_other_dialect_disagrees() {
    let dialects = ["dialects/lru-target-free", "dialects/lru-target-free-128"];
    let flips: Vec<_> = CASES.iter().filter(|(n, _)| dialects.contains(n)).collect();
    assert_eq!(flips.len(), 2, "both refill dialect cases are in the list");
    for (name, case) in flips {
        let flipped = case
            .replace("# dialect: no-lru-target-free", "# dialect: X")
            .replace("# dialect: lru-target-free", "# dialect: no-lru-target-free");
        let flipped = flipped.replace("# dialect: X", "# dialect: lru-target-free");
        assert!(disagreement(&flipped).is_some(), "{name}");
    }
}

/// A recorded outcome or entry count the model does not give is a disagreement, whatever
/// kind of state the `check` reads: the runner compares what each line recorded.
#[test]
fn an_edited_outcome_disagrees() {
    let find = |n: &str| CASES.iter().find(|(c, _)| *c == n).expect("in the list").1;
    let edits = [
        (
            "lru/update-evicts-its-own-key",
            "=> ok entries=1",
            "=> ok entries=2",
        ),
        ("array-next-key-edges", "=> ENOENT", "=> EINVAL"),
        ("batch/array-selftest", "=> ok entries=10", "=> ok entries=9"),
        ("batch/map-in-map-writes", "=> ok slots=2", "=> ok slots=3"),
    ];
    for (name, from, to) in edits {
        let case = find(name);
        assert!(case.contains(from), "{name}: {from}");
        assert!(
            disagreement(&case.replacen(from, to, 1)).is_some(),
            "{name}: {to}"
        );
    }
}
