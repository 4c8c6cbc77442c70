//! `amplify` in its own test binary: it lowers RLIMIT_NOFILE for the whole process.

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
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let _ = libbpf_rs::num_possible_cpus();
    rlimit::setrlimit(rlimit::Resource::NOFILE, 12, hard).unwrap();
    let row = mapcheck::amplify::measure(12, dir.path());
    rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard).unwrap();
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
