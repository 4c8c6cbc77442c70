//! `mapcheck replay`: reruns case scripts (default: regressions/) against the kernel, one verdict
//! per file; `--record` prints each script with the kernel's outcomes pinned.

use super::{exit, need_kernel, parse_faults, usage, CmdResult, Common};
use crate::corpus::{self, Case};
use crate::env;
use crate::kernel::Kernel;
use crate::lockstep::Stats;
use crate::replay::{self, Verdict};
use clap::Args;
use mapcheck_model::World;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct ReplayArgs {
    /// Case files or directories.
    paths: Vec<PathBuf>,
    /// Print each script with the kernel's outcomes recorded (verdicts go to stderr): a run
    /// turned into a pinned case. Lines where the kernel chose among allowed outcomes say so.
    #[arg(long)]
    record: bool,
    #[command(flatten)]
    common: Common,
}

pub(super) fn cmd_replay(a: ReplayArgs) -> CmdResult {
    let faults = parse_faults(&a.common)?;
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from("regressions")]
    } else {
        a.paths.clone()
    };
    let files =
        corpus::collect(&paths).map_err(|e| usage(format!("cannot read {}: {e}", paths[0].display())))?;
    if files.is_empty() {
        return Err(usage(format!(
            "no .case files under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    // One unreadable file is one failed case: every other file is still replayed.
    let cases: Vec<Result<Case, String>> = files
        .iter()
        .map(|f| Case::load(f).map_err(|e| e.to_string()))
        .collect();
    if cases.iter().all(Result::is_err) {
        for e in cases.iter().filter_map(|c| c.as_ref().err()) {
            eprintln!("{e}");
        }
        return Err(usage(format!(
            "none of the {} case files could be read",
            cases.len()
        )));
    }
    need_kernel()?;
    let world = World::new(env::detect_profile(), faults);
    let mut kernel = Kernel::new().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    let mut stats = Stats::default();
    let (mut bad, mut unreadable, mut skipped, mut findings) = (0, 0, 0, 0);
    for (f, c) in files.iter().zip(&cases) {
        let v = match c {
            Err(e) => Verdict::Unreadable(e.clone()),
            Ok(c) if a.record => {
                let obs = replay::replay_observed(c, &world, &mut kernel, &mut stats);
                print!("{}", replay::recorded_text(c, &obs));
                obs.verdict
            }
            Ok(c) => replay::replay(c, &world, &mut kernel, &mut stats),
        };
        let line = format!("{:<60} {}", f.display(), v.summary());
        if a.record {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        if matches!(v, Verdict::Unreadable(_)) {
            unreadable += 1;
        } else if matches!(v, Verdict::NotForKernel(_)) {
            skipped += 1;
        } else if matches!(v, Verdict::Finding { .. }) {
            findings += 1;
        } else if !v.passed() {
            bad += 1;
        }
    }
    let summary = format!(
        "replayed {} cases ({} ops) on {}: {} passed, {} failed, {skipped} not for this kernel, {findings} known kernel findings",
        cases.len(),
        stats.ops,
        world.profile.release,
        cases.len() - bad - unreadable - skipped - findings,
        bad + unreadable
    );
    if a.record {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    // A failing case outranks an unreadable file; both are reported, every file replayed.
    Ok(match (bad, unreadable) {
        (0, 0) => exit::AGREE,
        (0, _) => exit::USAGE,
        _ => exit::DIVERGENCE,
    })
}
