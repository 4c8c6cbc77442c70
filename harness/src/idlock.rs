//! The id lock: map ids are global, so an `idgap` case is exact only while no other mapcheck
//! thread or process creates a map. Every MAP_CREATE holds the lock shared; a case process
//! that compares ids holds it exclusively, on an fd of its own kept above the numbers it models.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// This case process holds the id lock exclusively (from `fdtable` on, in a case that
/// compares map ids).
static IDS_HELD: AtomicBool = AtomicBool::new(false);
/// This case process compares map ids (its parent said so).
static IDS_EXACT: AtomicBool = AtomicBool::new(false);
/// A case process's own id lock fd, opened before `fdtable` and kept above fd 900, so that
/// taking the lock never occupies a number the model counts.
static CHILD_LOCK_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

fn lock_path() -> PathBuf {
    std::env::temp_dir().join("mapcheck-ids.lock")
}

/// Map ids are global: an `idgap` is exact only if no other mapcheck thread or process
/// creates a map meanwhile. Every MAP_CREATE holds this lock shared; a child case with an
/// `idgap` holds it exclusively for its whole run. (Other programs are not covered.)
pub enum IdLock {
    /// Nothing to release: this case process holds the lock exclusively, or it could not
    /// be taken (then ids may be inexact, which an `idgap` shows as flaky).
    Held,
    /// A shared lock on a long-lived lock fd (the case process's, or this thread's), released
    /// on drop.
    Own(i32),
}

impl Drop for IdLock {
    fn drop(&mut self) {
        if let IdLock::Own(fd) = *self {
            // SAFETY: flock on a lock fd that outlives the lock (the process's or the thread's).
            unsafe { libc::flock(fd, libc::LOCK_UN) };
        }
    }
}

/// flock(2), retried on EINTR; false if the lock could not be taken.
fn flock(fd: i32, op: i32) -> bool {
    // SAFETY: flock on an fd the caller owns.
    while unsafe { libc::flock(fd, op) } != 0 {
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
    true
}

impl IdLock {
    /// Held around one MAP_CREATE.
    pub fn shared() -> IdLock {
        if IDS_HELD.load(Ordering::Relaxed) {
            return IdLock::Held;
        }
        // A case process has one thread and its own fd above 900 (never a modelled number);
        // elsewhere each thread has its own open file description, opened once: flock locks
        // belong to it, so threads that shared one would release each other's.
        let own = CHILD_LOCK_FD.load(Ordering::Relaxed);
        let fd = match own {
            -1 => THREAD_LOCK.with(|f| f.as_ref().map(|f| f.as_raw_fd())),
            fd => Some(fd),
        };
        match fd {
            Some(fd) if flock(fd, libc::LOCK_SH) => IdLock::Own(fd),
            _ => IdLock::Held,
        }
    }
}

thread_local! {
    /// This thread's open file description of the lock file, for threads of processes that
    /// have no lock fd of their own.
    static THREAD_LOCK: Option<std::fs::File> = open_lock_file();
}

fn open_lock_file() -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(lock_path())
        .ok()
}

/// Called by `fdtable` in a case process: if the case compares map ids, hold the id lock
/// exclusively from now to the process's exit or reset (start-up and warm-up stay outside it).
pub fn hold_ids_if_exact() {
    let fd = CHILD_LOCK_FD.load(Ordering::Relaxed);
    if !IDS_EXACT.load(Ordering::Relaxed) || fd < 0 {
        return;
    }
    // Released when the process exits or resets (`release_ids`).
    if flock(fd, libc::LOCK_EX) {
        IDS_HELD.store(true, Ordering::Relaxed);
    }
}

/// In a single-threaded process of our own (a case process, an amplify measurement): one
/// lock fd for the process's life, at 950 or above, so a MAP_CREATE needs no fd of its own
/// and no number a case models or a lowered RLIMIT_NOFILE counts is taken.
pub fn keep_lock_fd_high() {
    // A soft limit below 951 (a CI runner's `ulimit -n 512`) would refuse the number.
    if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        if soft <= 950 && hard > 950 {
            let _ = rlimit::setrlimit(
                rlimit::Resource::NOFILE,
                hard.min(mapcheck_model::limits::MAX_NOFILE_HARD),
                hard,
            );
        }
    }
    if let Some(f) = open_lock_file() {
        // Kept open for the process's life; the original closes when `f` drops.
        let high = crate::sys::dup_at_least(&f, 950).map_or(-1, std::os::fd::IntoRawFd::into_raw_fd);
        CHILD_LOCK_FD.store(high, Ordering::Relaxed);
    }
}

/// At a case process's reset: lets go of the id lock its case held exclusively.
pub fn release_ids() {
    if IDS_HELD.swap(false, Ordering::Relaxed) {
        // SAFETY: flock on the process's own lock fd.
        unsafe { libc::flock(CHILD_LOCK_FD.load(Ordering::Relaxed), libc::LOCK_UN) };
    }
}

/// The process's long-lived lock fd, or -1.
pub fn lock_fd() -> i32 {
    CHILD_LOCK_FD.load(Ordering::Relaxed)
}

/// Says whether this case process compares map ids (its parent's word).
pub fn set_exact(exact: bool) {
    IDS_EXACT.store(exact, Ordering::Relaxed);
}
