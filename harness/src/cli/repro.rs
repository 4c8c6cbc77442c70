//! `mapcheck repro`: a case as a standalone C program (raw bpf(2), UAPI headers only) for a bug
//! report.

use super::{exit, usage, CmdResult};
use crate::corpus::Case;
use crate::env;
use clap::Args;
use mapcheck_model::{Fault, World};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct ReproArgs {
    /// The case script.
    #[arg(long = "c", value_name = "CASE")]
    case: PathBuf,
    /// Write the program here instead of to stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub(super) fn cmd_repro(a: ReproArgs) -> CmdResult {
    let case = Case::load(&a.case).map_err(|e| usage(e.to_string()))?;
    let faults: Vec<Fault> = case
        .get("faults")
        .map(|f| f.split(',').filter_map(|n| Fault::from_name(n.trim())).collect())
        .unwrap_or_default();
    let world = World::new(env::detect_profile(), faults);
    let prog =
        crate::repro::c_program(&case, &world).map_err(|e| usage(format!("{}: {e}", a.case.display())))?;
    match &a.output {
        None => print!("{prog}"),
        Some(p) => {
            std::fs::write(p, &prog).map_err(|e| (exit::ENVIRONMENT, format!("{}: {e}", p.display())))?;
            println!(
                "wrote {} ({} ops): gcc -O2 -o repro {}",
                p.display(),
                case.steps.len(),
                p.display()
            );
        }
    }
    Ok(exit::AGREE)
}
