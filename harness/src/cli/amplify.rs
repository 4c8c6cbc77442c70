//! `mapcheck amplify`: measures how many kernel objects a process keeps alive with
//! RLIMIT_NOFILE = N, each N in a process of its own.

use super::{exit, need_kernel, CmdResult};
use crate::env;
use clap::Args;

#[derive(Args, Debug)]
pub(super) struct AmplifyArgs {
    /// Values of RLIMIT_NOFILE to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![8, 16, 24, 32])]
    n: Vec<u32>,
}

pub(super) fn cmd_amplify(a: AmplifyArgs) -> CmdResult {
    use crate::sys::Sys as _;
    need_kernel()?;
    let (_, hard) =
        rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    let dir = env::bpffs_dir().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    crate::sys::RealSys
        .mount_bpffs(dir.path())
        .map_err(|e| (exit::ENVIRONMENT, format!("cannot mount a private bpffs: {e:?}")))?;
    println!("mapcheck amplify: kernel {}; a pinned PROG_ARRAY of N programs, each using N ARRAY_OF_MAPS of N inner maps", env::release());
    let mut rows = Vec::new();
    let mut failure = None;
    for n in a.n.iter().copied().filter(|n| (*n as u64) <= hard) {
        match crate::amplify::measure_isolated(n, dir.path()) {
            Ok(row) => rows.push(row),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let _ = crate::sys::RealSys.umount(dir.path());
    print!("{}", crate::amplify::table(&rows));
    if let Some(e) = failure {
        return Err((exit::ENVIRONMENT, e));
    }
    if rows.iter().any(|r| !r.released) {
        return Err((
            exit::DIVERGENCE,
            "some objects were still alive 60 s after the release".into(),
        ));
    }
    Ok(exit::AGREE)
}
