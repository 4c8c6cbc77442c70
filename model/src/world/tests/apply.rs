//! `World::apply`: what each outcome the kernel gave leaves behind, seen through the next
//! op's allowed set (access modes of new fds, owners, slots, liveness, observed orders).

use super::{follow, h, op, refused_with, with_cpu_flags};
use crate::errno::Errno;
use crate::outcome::Ret;
use crate::profile::Profile;
use crate::world::World;

fn exactly(w: &World, line: &str) -> Option<crate::Outcome> {
    w.allowed(&op(line)).exactly().cloned()
}

/// A new fd has the access its flags asked for: BPF_MAP_GET_FD_BY_ID with RDONLY reads only,
/// WRONLY writes only, none both; BPF_OBJ_GET likewise.
#[test]
fn new_fds_have_the_access_asked() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=1",
            "pin m0",
            "m1 = fd_by_id m0 flags=RDONLY",
            "m2 = fd_by_id m0 flags=WRONLY",
            "m3 = fd_by_id m0",
            "m4 = get_pinned m0",
            "m5 = get_pinned m0 flags=WRONLY",
        ],
    );
    let read = |m: &str| exactly(&w, &format!("lookup {m} key=00000000"));
    let write = |m: &str| exactly(&w, &format!("update {m} key=00000000 value=00000000"));
    let eperm = Some(Err(Errno::EPERM));
    let (value, unit) = (Some(Ok(Ret::Value(vec![0; 4]))), Some(Ok(Ret::Unit)));
    assert_eq!((read("m1"), write("m1")), (value.clone(), eperm.clone()));
    assert_eq!((read("m2"), write("m2")), (eperm.clone(), unit.clone()));
    assert_eq!((read("m3"), write("m3")), (value.clone(), unit.clone()));
    assert_eq!((read("m4"), write("m4")), (value, unit.clone()));
    assert_eq!((read("m5"), write("m5")), (eperm, unit));
}

/// A program loaded through a PROG_ARRAY binds the array's owner (its type), and only a
/// PROG_ARRAY's; deleting its last slot keeps the owner (`prog_array_map_poke_untrack` does
/// not reset it): an XDP program through it stays EINVAL.
#[test]
fn owners_bind_at_load_and_outlive_the_slots() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create prog_array key=4 value=4 entries=1",
            "p0 = load socket_filter uses=m0",
        ],
    );
    assert_eq!(exactly(&w, "p1 = load xdp uses=m0"), Some(Err(Errno::EINVAL)));
    follow(
        &mut w,
        &[
            "m1 = create prog_array key=4 value=4 entries=1",
            "update m1 key=00000000 value=fd:p0",
            "delete m1 key=00000000",
        ],
    );
    assert_eq!(exactly(&w, "lookup m1 key=00000000"), Some(Err(Errno::ENOENT)));
    assert_eq!(exactly(&w, "p1 = load xdp uses=m1"), Some(Err(Errno::EINVAL)));
}

/// Deleting the slot that held the last reference to a program releases it (the liveness is
/// recomputed after a delete from a map of fds).
#[test]
fn a_delete_from_a_map_of_fds_releases_what_it_held() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "p0 = load socket_filter",
            "m0 = create prog_array key=4 value=4 entries=1",
            "update m0 key=00000000 value=fd:p0",
            "close p0",
        ],
    );
    assert_eq!(exactly(&w, "alive p0"), Some(Ok(Ret::Alive(true))));
    follow(&mut w, &["delete m0 key=00000000"]);
    assert_ne!(exactly(&w, "alive p0"), Some(Ok(Ret::Alive(true))));
}

/// An object released by deferred work may be seen alive or gone; once `alive` or `settle`
/// saw it gone it is gone (only a gone answer narrows), and a count of dying cgroups that
/// shows every pending release done settles cgroups only.
#[test]
fn alive_narrows_only_on_gone_and_dying_only_cgroups() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create prog_array key=4 value=4 entries=1",
            "close m0",
            "c0 = mkcgroup",
            "rmdir c0",
            "close c0",
        ],
    );
    let either = |w: &World| w.allowed(&op("alive m0")).exactly().is_none();
    assert!(either(&w));
    w.apply(&op("alive m0"), &Ok(Ret::Alive(true)));
    assert!(either(&w), "alive once: still pending");
    w.apply(&crate::op::Op::Dying, &Ok(Ret::Count(0)));
    assert_eq!(w.dying_counts(), (0, 0));
    assert!(either(&w), "the cgroups' count settles no map");
    w.apply(&op("alive m0"), &Ok(Ret::Alive(false)));
    assert_eq!(exactly(&w, "alive m0"), Some(Ok(Ret::Alive(false))));
}

/// Unpinning the last reference frees the map at once on 6.18 (`unpin-frees-at-once`), by
/// deferred work before.
#[test]
fn unpinning_releases_the_map() {
    for (at_once, alive) in [(true, Some(Ok(Ret::Alive(false)))), (false, None)] {
        let profile = Profile {
            unpin_frees_at_once: at_once,
            ..Profile::default()
        };
        let mut w = World::new(profile, vec![]);
        follow(
            &mut w,
            &["m0 = create array key=4 value=4 entries=1", "pin m0", "close m0"],
        );
        assert_eq!(exactly(&w, "alive m0"), Some(Ok(Ret::Alive(true))));
        follow(&mut w, &["unpin m0"]);
        assert_eq!(exactly(&w, "alive m0"), alive, "at once: {at_once}");
    }
}

/// Only an end (ENOENT) of GET_NEXT_KEY is an observed link: a refusal for the fd's access
/// says nothing about the order.
#[test]
fn only_enoent_ends_an_observed_walk() {
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create hash key=1 value=1 entries=4",
            "update m0 key=01 value=01",
            "update m0 key=02 value=02",
            "m1 = fd_by_id m0 flags=WRONLY",
        ],
    );
    refused_with(&mut w, "next_key m1 key=01", Errno::EPERM);
    assert_eq!(exactly(&w, "next_key m0 key=01"), None, "still a set");
}

/// With BPF_F_CPU (7.0), BPF_F_ALL_CPUS writes every CPU's slot and BPF_F_CPU one; an LRU
/// per-CPU element that the update's own pop evicted starts again from zeroes.
#[test]
fn cpu_flags_write_all_or_one_cpu() {
    let mut w = with_cpu_flags();
    follow(
        &mut w,
        &[
            "m0 = create percpu_array key=4 value=8 entries=1",
            "update m0 key=00000000 value=0102030405060708 flags=0x10",
        ],
    );
    let both = [1u8, 2, 3, 4, 5, 6, 7, 8].repeat(2);
    assert_eq!(exactly(&w, "lookup m0 key=00000000"), Some(Ok(Ret::Value(both))));
    follow(
        &mut w,
        &["cpu 0", "m1 = create lru_percpu_hash key=4 value=4 entries=1"],
    );
    for line in [
        "update m1 key=00000000 value=aabbccdd flags=0x10",
        "update m1 key=00000000 value=11223344 flags=0x100000008",
    ] {
        follow(&mut w, &[line]);
    }
    let evicted = [0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0];
    assert_eq!(
        exactly(&w, "lookup m1 key=00000000"),
        Some(Ok(Ret::Value(evicted.to_vec()))),
        "the pop for the new element evicted the old one: CPU 0 is zero again"
    );
}

/// A `check` of a map of fds that showed its walk fixes GET_NEXT_KEY's answers until the
/// order changes.
#[test]
fn a_checked_walk_of_slots_fixes_next_key() {
    use crate::outcome::{Slot, Slots};
    let mut w = World::default();
    follow(
        &mut w,
        &[
            "m0 = create array key=4 value=4 entries=1",
            "m1 = create hash_of_maps key=1 value=4 entries=4 inner=m0",
            "update m1 key=01 value=fd:m0",
            "update m1 key=02 value=fd:m0",
        ],
    );
    assert_eq!(exactly(&w, "next_key m1 key=NULL"), None, "a random-seed order");
    let held = Slot::Id(Some(h(0)));
    let seen = Slots {
        slots: vec![(vec![1], held.clone()), (vec![2], held)],
        walk: vec![vec![2], vec![1]],
        walk_ok: true,
    };
    let check = op("check m1");
    assert!(w.admits(&check, &w.allowed(&check), &Ok(Ret::Slots(seen.clone()))));
    w.apply(&check, &Ok(Ret::Slots(seen)));
    assert_eq!(exactly(&w, "next_key m1 key=NULL"), Some(Ok(Ret::Key(vec![2]))));
    assert_eq!(exactly(&w, "next_key m1 key=02"), Some(Ok(Ret::Key(vec![1]))));
}

/// With BPF_F_CPU (7.0) an update of a present PERCPU_HASH element writes one CPU's slot and
/// keeps the others' (`pcpu_copy_value` in place); a new element starts zeroed.
#[test]
fn cpu_flag_updates_keep_the_other_cpus_of_a_hash_element() {
    let mut w = with_cpu_flags();
    follow(
        &mut w,
        &[
            "m0 = create percpu_hash key=4 value=4 entries=2",
            "update m0 key=00000000 value=aabbccdd flags=0x10",
            "update m0 key=00000000 value=11223344 flags=0x100000008",
            "update m0 key=01000000 value=55667788 flags=0x100000008",
        ],
    );
    let kept = [
        0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0,
    ];
    assert_eq!(
        exactly(&w, "lookup m0 key=00000000"),
        Some(Ok(Ret::Value(kept.to_vec())))
    );
    let new = [0, 0, 0, 0, 0, 0, 0, 0, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 0];
    assert_eq!(
        exactly(&w, "lookup m0 key=01000000"),
        Some(Ok(Ret::Value(new.to_vec())))
    );
}
