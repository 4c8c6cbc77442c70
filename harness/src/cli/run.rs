//! `mapcheck run`: checks map families against the running kernel for a time budget (or a
//! number of cases), shrinks and saves the first divergence, and prints the coverage table.

use super::{
    exit, need_kernel, parse_duration, parse_faults, parse_types, rows_for, run_seed, usage, CmdResult,
    Common,
};
use crate::corpus::write_atomic;
use crate::env;
use crate::kernel::Kernel;
use crate::lockstep::{search, SearchConfig, Stats};
use crate::report;
use clap::Args;
use mapcheck_model::coverage;
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{MapType, World};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    /// Run seed (decimal or 0x hex); default: $MAPCHECK_SEED, else random.
    #[arg(long)]
    seed: Option<String>,
    /// Stop after this many cases instead of the time budget.
    #[arg(long)]
    cases: Option<u64>,
    /// Time budget, e.g. 30s, 5m, 8h.
    #[arg(long, default_value = "30s")]
    budget: String,
    /// Map families (comma separated): array, percpu_array, hash, percpu_hash.
    #[arg(long, value_delimiter = ',')]
    map: Vec<String>,
    /// Every valid create uses this many entries.
    #[arg(long)]
    entries: Option<u32>,
    /// Scale run: every case starts with a map of the one --map family (4-byte keys, 8-byte
    /// values, --entries of them, default N) brought to N live elements by one
    /// BPF_MAP_UPDATE_BATCH (`fill`), then the generated ops.
    #[arg(long)]
    fill: Option<u32>,
    /// Longest case, in ops.
    #[arg(long, default_value_t = 48)]
    ops: usize,
    /// Where found cases are written.
    #[arg(long, default_value = "regressions/found")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Time allowed for shrinking a divergence (ops that wait make shrink steps slow).
    #[arg(long, default_value = "30s")]
    shrink_time: String,
    #[command(flatten)]
    common: Common,
}

pub(super) fn cmd_run(a: RunArgs) -> CmdResult {
    let faults = parse_faults(&a.common)?;
    let types = parse_types(&a.map)?;
    let budget = parse_duration(&a.budget)
        .ok_or_else(|| usage(format!("bad --budget `{}` (e.g. 30s, 5m, 8h)", a.budget)))?;
    let seed = run_seed(&a.seed)?;
    need_kernel()?;
    let profile = env::detect_profile();
    println!(
        "mapcheck run: seed {seed:#x}  kernel {}  possible CPUs {}",
        profile.release, profile.possible_cpus
    );
    let types_text: Vec<_> = types.iter().map(|t| t.word()).collect();
    println!(
        "families: {}  budget: {}",
        types_text.join(", "),
        a.cases.map_or(a.budget.clone(), |c| format!("{c} cases"))
    );
    let world = World::new(profile, faults);
    let mut gen = GenConfig {
        world: world.clone(),
        types: types.clone(),
        entries: a.entries,
        ..GenConfig::default()
    };
    if a.entries.is_some_and(|e| e > 4096) || a.fill.is_some() {
        // Scale runs: every case creates a big map; fewer, longer cases.
        gen.max_live = 1;
        gen.invalid_create_pct = 0;
    }
    if let Some(n) = a.fill {
        let [t] = types[..] else {
            return Err(usage("--fill needs exactly one --map family"));
        };
        if !matches!(
            t,
            MapType::Array | MapType::PercpuArray | MapType::Hash | MapType::PercpuHash
        ) {
            return Err(usage(format!("--fill writes bytes: {} holds fds", t.word())));
        }
        let entries = a.entries.unwrap_or(n).max(1);
        if n > entries {
            return Err(usage(format!("--fill {n} does not fit in --entries {entries}")));
        }
        gen.entries = Some(entries);
        gen.prefix = mapcheck_model::gen::fill_prefix(t, entries, n);
        // The fill's create comes first, outside the fdtable cases' own processes.
        gen.fd_table_pct = 0;
    }
    let cfg = SearchConfig {
        seed,
        cases: a.cases,
        budget,
        max_ops: a.ops,
        gen,
        record: false,
        shrink_time: parse_duration(&a.shrink_time)
            .ok_or_else(|| usage(format!("bad --shrink-time `{}`", a.shrink_time)))?,
    };
    let mut kernel =
        Kernel::new().map_err(|e| (exit::ENVIRONMENT, format!("cannot open a scratch file: {e}")))?;
    let bar = progress(&a, budget);
    let start = Instant::now();
    let result = search(&cfg, &mut kernel, |st, _| {
        if let Some(b) = &bar {
            b.set_position(start.elapsed().as_millis().min(u64::MAX as u128) as u64);
            b.set_message(format!("{} cases, {} ops", st.cases, st.ops));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print_table(
        &result.stats,
        result.elapsed,
        &types,
        &world,
        result.found.is_some() as u64,
    );
    match result.found {
        None => {
            println!(
                "model and kernel agree: {} cases, {} ops",
                result.stats.cases, result.stats.ops
            );
            Ok(exit::AGREE)
        }
        Some(found) => {
            let text = found.case.to_text();
            let path = write_atomic(&a.out, &format!("{}.case", found.case.name), &text).map_err(|e| {
                (
                    exit::ENVIRONMENT,
                    format!("cannot write the case to {}: {e}", a.out.display()),
                )
            })?;
            print!("{}", report::divergence(&found.case, &found.divergence, &path));
            Ok(exit::DIVERGENCE)
        }
    }
}

fn progress(a: &RunArgs, budget: Duration) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if a.quiet || a.cases.is_some() || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(budget.as_millis() as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(b)
}

/// Prints the end-of-run table: totals and per-family outcome coverage.
pub fn print_table(st: &Stats, elapsed: Duration, types: &[MapType], world: &World, divergences: u64) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!();
    println!("{:<14} {:>10}", "cases", st.cases);
    println!("{:<14} {:>10}", "ops", st.ops);
    println!("{:<14} {:>10.0}", "ops/s", st.ops as f64 / secs);
    println!("{:<14} {:>10}", "divergences", divergences);
    println!();
    println!("coverage by reason: a cell is op:ok, or op:ERRNO[path] for each named refusal path");
    println!("(model/src/reason.rs declares the paths and where each can refuse)");
    println!(
        "{:<16} {:>8} {:>8} {:>7}   missing cells",
        "family", "hit", "cells", "cover"
    );
    let mut families = rows_for(types, st.cells.keys().any(|(f, _, _)| f == "fdtable"));
    // A scale run's fill (`--fill`) is a row of its own: no other run makes one.
    if st.cells.keys().any(|(f, _, _)| f == "scale") {
        families.push("scale".into());
    }
    let (mut hit_all, mut all) = (0, 0);
    // Cells no run here can reach, with why: shown, never counted as hit or missed.
    let mut unreachable: std::collections::BTreeMap<(&str, String, &str), Vec<String>> = Default::default();
    for fam in &families {
        for (op, o, why) in coverage::unreachable(fam, &world.profile) {
            unreachable.entry((op, o, why)).or_default().push(fam.clone());
        }
    }
    for fam in families {
        let cells = coverage::cells(&fam, &world.profile);
        let hit: Vec<_> = cells.iter().filter(|(op, o)| st.observed(&fam, op, o)).collect();
        let missing: Vec<String> = cells
            .iter()
            .filter(|(op, o)| !st.observed(&fam, op, o))
            .map(|(op, o)| format!("{op}:{o}"))
            .collect();
        hit_all += hit.len();
        all += cells.len();
        let pct = 100.0 * hit.len() as f64 / cells.len().max(1) as f64;
        let row = format!(
            "{fam:<16} {:>8} {:>8} {pct:>6.1}%   {}",
            hit.len(),
            cells.len(),
            missing.join(" ")
        );
        println!("{}", row.trim_end());
    }
    println!(
        "{:<16} {:>8} {:>8} {:>6.1}%",
        "total",
        hit_all,
        all,
        100.0 * hit_all as f64 / all.max(1) as f64
    );
    // How often the model left the kernel no choice, per map family of the run, and the op
    // kinds where it did not always (a random seed's walk order, a deferred release).
    let pct = |one: u64, n: u64| 100.0 * one as f64 / n.max(1) as f64;
    let mut single = Vec::new();
    // An LRU hash's line for its pinned cases too: there every op is meant to have one.
    let rows = types.iter().flat_map(|t| {
        let pinned = t.is_lru().then_some((t.word(), true, " (pinned)"));
        std::iter::once((t.word(), false, "")).chain(pinned)
    });
    for (word, pinned, label) in rows {
        let counts = if pinned { &st.single_pinned } else { &st.single };
        let kinds: Vec<(&str, u64, u64)> = (counts.iter())
            .filter(|((f, _), _)| *f == word)
            .map(|((_, k), (one, n))| (*k, *one, *n))
            .collect();
        let (one, n) = kinds.iter().fold((0, 0), |a, k| (a.0 + k.1, a.1 + k.2));
        if n == 0 {
            continue;
        }
        let some: Vec<String> = (kinds.iter())
            .filter(|k| k.1 < k.2)
            // Below 100 % is never printed as 100 %: a kind with one set in a thousand says so.
            .map(|k| match pct(k.1, k.2) {
                p if p >= 99.5 => format!("{} {}/{}", k.0, k.1, k.2),
                p => format!("{} {p:.0}%", k.0),
            })
            .collect();
        let some = match some.is_empty() {
            true => String::new(),
            false => format!(" (less: {})", some.join(" ")),
        };
        let name = format!("{word}{label}");
        single.push(format!("  {name:<24} {:>5.1}% of {n}{some}", pct(one, n)));
    }
    if !single.is_empty() {
        println!("ops with one allowed outcome:");
        for l in single {
            println!("{l}");
        }
    }
    if !unreachable.is_empty() {
        println!("unreachable here (not counted):");
        for ((op, o, why), fams) in &unreachable {
            println!("  {op}:{o} ({}): {why}", fams.join(", "));
        }
    }
    let extra: Vec<String> = st
        .cells
        .keys()
        .filter(|(f, op, o)| {
            !coverage::cells(f, &world.profile)
                .iter()
                .any(|(cop, co)| cop == op && co == o)
        })
        .map(|(f, op, o)| format!("{f}/{op}:{o}"))
        .collect();
    if !extra.is_empty() {
        println!(
            "cells outside the catalogue (an errno without a named path, or a path outside its declared scope in model/src/reason.rs): {}",
            extra.join(" ")
        );
    }
}
