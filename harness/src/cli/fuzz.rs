//! `mapcheck fuzz`: time-budgeted fuzzing on all cores in worker processes (and the hidden
//! `__fuzz-worker` each of them runs), findings saved before they are reported.

use super::{
    duration_arg, exit, need_kernel, parse_faults, parse_seed, parse_types, rows_for, run_seed, usage,
    CmdResult, Common,
};
use crate::corpus::write_atomic;
use crate::env;
use clap::Args;
use mapcheck_model::gen::GenConfig;
use mapcheck_model::World;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(super) struct FuzzArgs {
    /// Time budget, e.g. 10m, 8h.
    #[arg(long, default_value = "10m")]
    budget: String,
    /// Worker processes (default: one per CPU).
    #[arg(long)]
    jobs: Option<u32>,
    /// Run seed (decimal or 0x hex); default: $MAPCHECK_SEED, else random.
    #[arg(long)]
    seed: Option<String>,
    /// Each worker changes its swarm weights this often.
    #[arg(long, default_value = "30s")]
    segment: String,
    /// Map families (comma separated); default all.
    #[arg(long, value_delimiter = ',')]
    map: Vec<String>,
    /// Longest case, in ops.
    #[arg(long, default_value_t = 48)]
    ops: usize,
    /// Where findings are written.
    #[arg(long, default_value = "regressions/found")]
    out: PathBuf,
    /// The corpus (repeatable): a finding is known, not new, only if a case here (outside
    /// --out) has its `# signature:` header.
    #[arg(long, default_value = "regressions")]
    corpus: Vec<PathBuf>,
    /// Write the JSON summary here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// A status line this often.
    #[arg(long, default_value = "5s")]
    status_every: String,
    /// A worker silent this long in the middle of a case is killed and reported; also the time
    /// workers get after the budget to finish their case.
    #[arg(long, default_value = "120s")]
    case_timeout: String,
    /// Every segment with the default generation (no swarm weights): for measuring.
    #[arg(long)]
    no_swarm: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub(super) struct WorkerArgs {
    #[arg(long)]
    index: u32,
    #[arg(long)]
    seed: String,
    #[arg(long)]
    budget: String,
    #[arg(long)]
    segment: String,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_delimiter = ',')]
    map: Vec<String>,
    #[arg(long, default_value_t = 48)]
    ops: usize,
    #[arg(long)]
    no_swarm: bool,
    #[command(flatten)]
    common: Common,
}

pub(super) fn cmd_fuzz(a: FuzzArgs) -> CmdResult {
    let faults = parse_faults(&a.common)?;
    let types = parse_types(&a.map)?;
    let budget = duration_arg("--budget", &a.budget)?;
    let segment = duration_arg("--segment", &a.segment)?;
    let status_every = duration_arg("--status-every", &a.status_every)?;
    let case_timeout = duration_arg("--case-timeout", &a.case_timeout)?;
    let seed = run_seed(&a.seed)?;
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
        .max(1);
    need_kernel()?;
    let profile = env::detect_profile();
    println!(
        "mapcheck fuzz: run seed {seed:#x}  jobs {jobs}  budget {}  kernel {}",
        a.budget, profile.release
    );
    let mut worker_args = vec![format!("--ops={}", a.ops)];
    if !a.map.is_empty() {
        worker_args.push(format!("--map={}", a.map.join(",")));
    }
    for f in &a.common.faults {
        worker_args.push(format!("--fault={f}"));
    }
    if a.no_swarm {
        worker_args.push("--no-swarm".into());
    }
    let exe = std::env::current_exe().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
    crate::fuzz::stop_on_signals();
    let args = crate::fuzz::FuzzArgs {
        seed,
        budget,
        jobs,
        segment,
        out: a.out.clone(),
        corpus: a.corpus.clone(),
        worker_args,
        status_every,
        case_timeout,
        world: World::new(profile, faults),
        rows: rows_for(&types, true),
    };
    let s = crate::fuzz::run(&exe, &args)
        .map_err(|e| (exit::ENVIRONMENT, format!("fuzz: {e} ({})", a.out.display())))?;
    let (hit, all, missing) = &s.coverage;
    println!(
        "fuzz {}: {} cases, {} ops in {:.0}s ({:.0} cases/s); {} divergence(s), {} new, {} duplicate(s); coverage {hit}/{all}",
        if s.interrupted { "interrupted" } else { "done" },
        s.stats.cases,
        s.stats.ops,
        s.elapsed.as_secs_f64(),
        s.stats.cases as f64 / s.elapsed.as_secs_f64().max(1e-9),
        s.findings.len(),
        s.findings.iter().filter(|f| f.new).count(),
        s.duplicates()
    );
    for e in &s.errors {
        println!("worker failure: {e}");
    }
    if !missing.is_empty() {
        println!("cells not hit: {}", missing.join(" "));
    }
    let write = |p: &Option<PathBuf>, text: String| -> Result<(), (u8, String)> {
        let Some(p) = p else { return Ok(()) };
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        write_atomic(dir, &name, &text)
            .map(|_| println!("wrote {}", p.display()))
            .map_err(|e| (exit::ENVIRONMENT, format!("cannot write {}: {e}", p.display())))
    };
    write(&a.json, crate::fuzz::to_json(&s))?;
    write(&a.junit, crate::fuzz::to_junit(&s, &args.rows))?;
    Ok(if s.findings.iter().any(|f| f.new) {
        exit::DIVERGENCE
    } else if !s.errors.is_empty() {
        exit::ENVIRONMENT
    } else {
        exit::AGREE
    })
}

pub(super) fn cmd_fuzz_worker(a: WorkerArgs) -> ExitCode {
    let parsed = (|| -> Result<crate::fuzz::WorkerArgs, (u8, String)> {
        let faults = parse_faults(&a.common)?;
        let types = parse_types(&a.map)?;
        Ok(crate::fuzz::WorkerArgs {
            index: a.index,
            seed: parse_seed(&a.seed).ok_or_else(|| usage("bad --seed"))?,
            budget: duration_arg("--budget", &a.budget)?,
            segment: duration_arg("--segment", &a.segment)?,
            out: a.out.clone(),
            gen: GenConfig {
                world: World::new(env::detect_profile(), faults),
                types,
                ..GenConfig::default()
            },
            max_ops: a.ops,
            swarm: !a.no_swarm,
        })
    })();
    match parsed {
        Ok(w) => crate::fuzz::worker(w),
        Err((code, msg)) => {
            eprintln!("mapcheck fuzz worker: {msg}");
            ExitCode::from(code)
        }
    }
}
