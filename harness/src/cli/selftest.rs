//! `mapcheck selftest`: switches on every deliberate model fault (canary), one at a time, and
//! checks that each is caught and shrunk.

use super::{duration_arg, exit, need_kernel, parse_seed, usage, CmdResult};
use crate::corpus::write_atomic;
use crate::env;
use crate::kernel::Kernel;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct SelftestArgs {
    /// Time allowed per fault.
    #[arg(long, default_value = "120s")]
    budget: String,
    /// Seed; fault i searches with a seed derived from it.
    #[arg(long, default_value = "0x5e1f")]
    seed: String,
    /// Only these faults (default: all).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Where the caught cases are written.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(super) fn cmd_selftest(a: SelftestArgs) -> CmdResult {
    use crate::selftest::Canary;
    let budget = duration_arg("--budget", &a.budget)?;
    let seed = parse_seed(&a.seed).ok_or_else(|| usage(format!("bad seed `{}`", a.seed)))?;
    if a.faults.iter().any(|f| f == "list") {
        let names: Vec<_> = Canary::all().iter().map(|c| c.name()).collect();
        return Err(usage(format!("known faults: {}", names.join(", "))));
    }
    let faults: Vec<Canary> = a
        .faults
        .iter()
        .map(|f| Canary::from_name(f).ok_or_else(|| usage(format!("unknown fault `{f}` (try --fault list)"))))
        .collect::<Result<_, _>>()?;
    let faults = if faults.is_empty() { Canary::all() } else { faults };
    need_kernel()?;
    let profile = env::detect_profile();
    let mut k = Kernel::new().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    println!(
        "mapcheck selftest: {} canaries, seed {seed:#x}, up to {} each",
        faults.len(),
        a.budget
    );
    let mut rows = Vec::new();
    for f in &faults {
        let row = crate::selftest::run_one(*f, &profile, crate::selftest::seed_for(seed, *f), budget, &mut k);
        if let (Some(out), Some(found)) = (&a.out, &row.found) {
            let _ = write_atomic(out, &format!("{}.case", f.name()), &found.case.to_text());
        }
        println!(
            "  {:<38} {}",
            f.name(),
            if row.ok() { "caught" } else { "NOT CAUGHT" }
        );
        rows.push(row);
    }
    print!("{}", crate::selftest::table(&rows));
    Ok(if rows.iter().all(|r| r.ok()) {
        exit::AGREE
    } else {
        exit::DIVERGENCE
    })
}
