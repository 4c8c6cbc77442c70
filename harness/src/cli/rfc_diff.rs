//! `mapcheck rfc-diff`: the seed's RFC handle arraymap against today's kernel, one minimal
//! script per difference.

use super::{exit, need_kernel, parse_seed, usage, CmdResult};
use crate::env;
use crate::kernel::Kernel;
use clap::Args;
use mapcheck_model::World;

#[derive(Args, Debug)]
pub(super) struct RfcDiffArgs {
    /// Generated sequences.
    #[arg(long, default_value_t = 3000)]
    cases: u64,
    /// Seed.
    #[arg(long, default_value = "1")]
    seed: String,
    /// RLIMIT_NOFILE the RFC's bound is measured against (set for this process).
    #[arg(long, default_value_t = 64)]
    nofile: u32,
}

pub(super) fn cmd_rfc_diff(a: RfcDiffArgs) -> CmdResult {
    let seed = parse_seed(&a.seed).ok_or_else(|| usage(format!("bad seed `{}`", a.seed)))?;
    need_kernel()?;
    // The RFC bounds indices by the creator's RLIMIT_NOFILE: make it the one asked for.
    let (_, hard) =
        rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    let nofile = (a.nofile as u64).min(hard);
    rlimit::setrlimit(rlimit::Resource::NOFILE, nofile, hard)
        .map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    let world = World::new(env::detect_profile(), vec![]);
    let mut kernel = Kernel::new().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    let rows = crate::rfcdiff::rfc_diff(&world, nofile as u32, seed, a.cases, &mut kernel);
    print!("{}", crate::rfcdiff::table(&rows, nofile as u32));
    Ok(exit::AGREE)
}
