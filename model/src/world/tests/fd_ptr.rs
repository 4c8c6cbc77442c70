//! `map_fd_get_ptr` of each fd-holding type (`FdMap::get_ptr`): which fd a slot takes, and
//! the reason, not only the errno, of each refusal (several share EBADF or EINVAL).

use super::{follow, op};
use crate::fault::Fault;
use crate::outcome::{Allowed, Ret};
use crate::reason::Why;
use crate::world::World;

/// Programs, maps, cgroups (one open O_PATH, one removed) and perf events (one inherited)
/// beside a map of each fd-holding type.
fn world(faults: Vec<Fault>) -> World {
    let mut w = World::new(crate::profile::Profile::default(), faults);
    follow(
        &mut w,
        &[
            "m0 = create prog_array key=4 value=4 entries=4",
            "m1 = create cgroup_array key=4 value=4 entries=4",
            "m2 = create perf_event_array key=4 value=4 entries=4",
            "m3 = create array key=4 value=4 entries=1",
            "m4 = create array_of_maps key=4 value=4 entries=4 inner=m3",
            "m5 = create array key=4 value=8 entries=1",
            "p0 = load socket_filter",
            "p1 = load xdp",
            "c0 = mkcgroup",
            "c1 = open_cgroup c0 path",
            "c2 = mkcgroup",
            "rmdir c2",
            "e0 = perf_event",
            "e1 = perf_event inherit",
        ],
    );
    w
}

/// Asserts the model's one answer to `update <map> key=00000000 value=<value>`: ok, or a
/// refusal for `why`; and follows it.
fn update(w: &mut World, map: &str, value: &str, why: Option<Why>) {
    let line = format!("update {map} key=00000000 value={value}");
    let o = op(&line);
    let Allowed::Exactly(got) = w.allowed(&o) else {
        panic!("{line}: {}", w.allowed(&o))
    };
    match why {
        None => assert_eq!(got, Ok(Ret::Unit), "{line}"),
        Some(why) => {
            let e = got.clone().expect_err(&line);
            assert_eq!((e, e.why()), (why.errno(), Some(why)), "{line}");
        }
    }
    w.apply(&o, &got);
}

/// `prog_fd_array_get_ptr`: a file that is no bpf object, or an object that is no program,
/// is EINVAL (`bpf_prog_get`); an fd number with nothing open, or an O_PATH fd, is EBADF;
/// the first program fixes the owner, and a program of another type is EINVAL.
#[test]
fn a_prog_array_takes_programs_of_its_owner() {
    let mut w = world(vec![]);
    update(&mut w, "m0", "fd:badfd:file", Some(Why::NotProg));
    update(&mut w, "m0", "fd:badfd:closed", Some(Why::NoFd));
    update(&mut w, "m0", "fd:m3", Some(Why::NotProg));
    update(&mut w, "m0", "fd:c0", Some(Why::NotProg));
    update(&mut w, "m0", "fd:c1", Some(Why::OPath));
    update(&mut w, "m0", "fd:p0", None);
    update(&mut w, "m0", "fd:p1", Some(Why::Owner));
    update(&mut w, "m0", "fd:p0", None);
}

/// `cgroup_fd_array_get_ptr` (`cgroup_v1v2_get_from_fd`): any fd of a live cgroup2
/// directory, O_PATH too; a removed one is ENOENT, anything else EBADF (EINVAL under the
/// fault `cgroup-array-einval`).
#[test]
fn a_cgroup_array_takes_live_cgroup_fds() {
    let mut w = world(vec![]);
    update(&mut w, "m1", "fd:c0", None);
    update(&mut w, "m1", "fd:c1", None);
    update(&mut w, "m1", "fd:c2", Some(Why::Removed));
    update(&mut w, "m1", "fd:m3", Some(Why::NotCgroup));
    update(&mut w, "m1", "fd:badfd:file", Some(Why::NotCgroup));
    let mut w = world(vec![Fault::CgroupArrayEinval]);
    update(&mut w, "m1", "fd:m3", Some(Why::NotMap));
    update(&mut w, "m1", "fd:c2", Some(Why::Removed));
}

/// `perf_event_fd_array_get_ptr`: a perf event not inherited; an inherited one is
/// EOPNOTSUPP (`perf_event_read_local`), anything else EBADF (`perf_event_get`).
#[test]
fn a_perf_event_array_takes_uninherited_events() {
    let mut w = world(vec![]);
    update(&mut w, "m2", "fd:e0", None);
    update(&mut w, "m2", "fd:e1", Some(Why::Inherit));
    update(&mut w, "m2", "fd:c1", Some(Why::NotPerf));
    update(&mut w, "m2", "fd:m3", Some(Why::NotPerf));
}

/// `bpf_map_fd_get_ptr`: a map of the template's shape; another value size is EINVAL.
#[test]
fn a_map_in_map_takes_maps_of_its_template() {
    let mut w = world(vec![]);
    update(&mut w, "m4", "fd:m5", Some(Why::Template));
    update(&mut w, "m4", "fd:m3", None);
}
