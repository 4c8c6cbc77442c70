//! `amplify`: measured in a process of its own, which lowers RLIMIT_NOFILE and starts with
//! only fds 0-2 whatever this test process inherited.

use mapcheck::env::{detect_profile, skip_without_kernel};

/// With RLIMIT_NOFILE = 12 the process keeps far more objects alive than it could hold fds,
/// counted from the kernel by id, and every one of them is gone again after the release.
#[test]
fn objects_alive_exceed_the_fd_limit_and_are_released() {
    if skip_without_kernel("objects_alive_exceed_the_fd_limit_and_are_released") {
        return;
    }
    if !detect_profile().bpffs {
        mapcheck::env::skip_loudly(
            "objects_alive_exceed_the_fd_limit_and_are_released",
            "no private bpffs can be mounted",
        );
        return;
    }
    use mapcheck::sys::{RealSys, Sys};
    let dir = mapcheck::env::bpffs_dir().unwrap();
    RealSys.mount_bpffs(dir.path()).unwrap();
    mapcheck::isolate::set_exe(env!("CARGO_BIN_EXE_mapcheck"));
    let row = mapcheck::amplify::measure_isolated(12, dir.path());
    RealSys.umount(dir.path()).unwrap();
    let row = row.unwrap();
    assert!(
        row.alive > 12 * 12,
        "only {} objects alive with 12 fds",
        row.alive
    );
    assert!(row.end_fds <= 12, "{} fds open at the end", row.end_fds);
    assert!(row.released, "objects still alive 60 s after the release");
}
