//! A child copies this process's whole fd table at fork and drops our (close-on-exec) fds only
//! inside exec, after `Command::spawn` has returned: an object another thread closes meanwhile
//! lives on until then, so an `alive` or `fd_by_id` right after the close sees it where the
//! model says it is gone. Children start under the write lock, the backend closes under the read.

use std::sync::{RwLock, RwLockWriteGuard};

static WINDOW: RwLock<()> = RwLock::new(());

/// Held while starting a child, until the child shows it runs its own code (its first line
/// read, or its exit): by then its exec has closed every fd it copied from us.
pub fn window() -> RwLockWriteGuard<'static, ()> {
    WINDOW.write().unwrap_or_else(|e| e.into_inner())
}

/// Runs `close` outside any window, so the last reference it drops is the last.
pub fn outside_window<T>(close: impl FnOnce() -> T) -> T {
    let _closing = WINDOW.read().unwrap_or_else(|e| e.into_inner());
    close()
}
