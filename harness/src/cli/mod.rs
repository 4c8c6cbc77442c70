//! The `mapcheck` command line: `run`, `replay`, `bench`.
//! The core idea: exit 0 agree, 1 divergence, 2 bad usage or input, 3 environment; each
//! non-zero exit comes with a one-line explanation.

use crate::corpus::{self, write_atomic, Case};
use crate::env;
use crate::kernel::Kernel;
use crate::lockstep::{search, SearchConfig, Stats};
use crate::replay::{self, Verdict};
use crate::report;
use clap::{Args, Parser, Subcommand};
use mapcheck_model::coverage;
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{Fault, MapType, World};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit codes.
pub mod exit {
    /// Model and kernel agree.
    pub const AGREE: u8 = 0;
    /// A divergence (or a stale or mismatching case).
    pub const DIVERGENCE: u8 = 1;
    /// Bad usage or input.
    pub const USAGE: u8 = 2;
    /// No privilege, unsupported kernel.
    pub const ENVIRONMENT: u8 = 3;
}

#[derive(Parser, Debug)]
#[command(
    name = "mapcheck",
    version,
    about = "Lockstep model checker for Linux BPF maps"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check map families against the running kernel for a time budget.
    Run(RunArgs),
    /// Replay case scripts (default: regressions/).
    Replay(ReplayArgs),
    /// Lockstep throughput against a raw libbpf-sys loop doing the same ops.
    Bench(BenchArgs),
    /// The seed's RFC handle arraymap against today's kernel: one minimal script per difference.
    RfcDiff(RfcDiffArgs),
    /// How many kernel objects a process keeps alive with RLIMIT_NOFILE = N, measured.
    Amplify(AmplifyArgs),
    /// Time-budgeted fuzzing on all cores: worker processes, swarm segments, every finding
    /// saved under --out before it is reported; JSON and JUnit summaries.
    Fuzz(FuzzArgs),
    /// A case as a standalone C program (raw bpf(2), UAPI headers only) for a bug report.
    Repro(ReproArgs),
    /// Switch on every deliberate model fault, one at a time, and check each is caught.
    Selftest(SelftestArgs),
    /// (internal) One fuzz worker.
    #[command(name = "__fuzz-worker", hide = true)]
    FuzzWorker(WorkerArgs),
    /// (internal) Runs one `fdtable` case's ops from stdin in this process.
    #[command(name = "__case-child", hide = true)]
    CaseChild,
    /// (internal) One `amplify` measurement in a process of its own.
    #[command(name = "__amplify-child", hide = true)]
    AmplifyChild {
        /// RLIMIT_NOFILE.
        n: u32,
        /// A mounted bpffs to pin in.
        bpffs: std::path::PathBuf,
    },
}

#[derive(Args, Debug)]
struct FuzzArgs {
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
struct ReproArgs {
    /// The case script.
    #[arg(long = "c", value_name = "CASE")]
    case: PathBuf,
    /// Write the program here instead of to stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SelftestArgs {
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

#[derive(Args, Debug)]
struct WorkerArgs {
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

#[derive(Args, Debug)]
struct AmplifyArgs {
    /// Values of RLIMIT_NOFILE to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![8, 16, 24, 32])]
    n: Vec<u32>,
}

#[derive(Args, Debug)]
struct RfcDiffArgs {
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

#[derive(Args, Debug)]
struct Common {
    /// Switch on a deliberate model fault (repeatable); see `--fault list`.
    #[arg(long = "fault")]
    faults: Vec<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
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

#[derive(Args, Debug)]
struct ReplayArgs {
    /// Case files or directories.
    paths: Vec<PathBuf>,
    /// Print each script with the kernel's outcomes recorded (verdicts go to stderr): a run
    /// turned into a pinned case. Lines where the kernel chose among allowed outcomes say so.
    #[arg(long)]
    record: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Cases per family.
    #[arg(long, default_value_t = 3000)]
    cases: u64,
    /// Ops per case (at most).
    #[arg(long, default_value_t = 64)]
    ops: usize,
    /// Families to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["array".to_string(), "hash".to_string()])]
    map: Vec<String>,
    /// Seed.
    #[arg(long, default_value = "1")]
    seed: String,
}

/// Entry point of the binary. A reader that went away (`mapcheck replay | head -1`) ends it as
/// it ends a Unix tool, by SIGPIPE, but only after unwinding: the kernel objects, cgroups,
/// mounts and case processes a command holds are released by their `Drop`s first.
pub fn main() -> ExitCode {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(info.payload()) {
            default_hook(info)
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(dispatch)) {
        Ok(code) => code,
        Err(p) if is_broken_pipe(&*p) => die_of_sigpipe(),
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// The panic of `print!` on a closed stdout (std ignores SIGPIPE, so a write sees EPIPE).
fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.starts_with("failed printing to std") && msg.ends_with(&format!("(os error {})", libc::EPIPE))
}

fn die_of_sigpipe() -> ExitCode {
    // SAFETY: restores the default action of one signal and raises it; no memory is touched.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached; the shell's status for a SIGPIPE death.
    ExitCode::from(128 + libc::SIGPIPE as u8)
}

fn dispatch() -> ExitCode {
    if let Ok(me) = std::env::current_exe() {
        crate::isolate::set_exe(me);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::AGREE });
        }
    };
    let r = match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Replay(a) => cmd_replay(a),
        Cmd::Bench(a) => crate::cli::bench::cmd_bench(a.cases, a.ops, &a.map, &a.seed),
        Cmd::RfcDiff(a) => cmd_rfc_diff(a),
        Cmd::Amplify(a) => cmd_amplify(a),
        Cmd::CaseChild => return crate::isolate::serve(),
        Cmd::AmplifyChild { n, bpffs } => return crate::amplify::serve_child(n, &bpffs),
        Cmd::Fuzz(a) => cmd_fuzz(a),
        Cmd::Selftest(a) => cmd_selftest(a),
        Cmd::Repro(a) => cmd_repro(a),
        Cmd::FuzzWorker(a) => return cmd_fuzz_worker(a),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err((code, msg)) => {
            eprintln!("mapcheck: {msg}");
            ExitCode::from(code)
        }
    }
}

type CmdResult = Result<u8, (u8, String)>;

fn usage(msg: impl Into<String>) -> (u8, String) {
    (exit::USAGE, msg.into())
}

/// Parses `30s`, `5m`, `8h`, `250ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// Parses a seed in decimal or 0x hex.
pub fn parse_seed(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_faults(c: &Common) -> Result<Vec<Fault>, (u8, String)> {
    if c.faults.iter().any(|f| f == "list") {
        let names: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
        return Err(usage(format!("known faults: {}", names.join(", "))));
    }
    c.faults
        .iter()
        .map(|f| Fault::from_name(f).ok_or_else(|| usage(format!("unknown fault `{f}` (try --fault list)"))))
        .collect()
}

fn parse_types(names: &[String]) -> Result<Vec<MapType>, (u8, String)> {
    if names.is_empty() {
        return Ok(MapType::MODELLED
            .iter()
            .chain(&MapType::HANDLE_MAPS)
            .copied()
            .collect());
    }
    names
        .iter()
        .map(|n| {
            MapType::from_word(n)
                .filter(|t| MapType::MODELLED.contains(t) || t.holds_fds())
                .ok_or_else(|| {
                    let words = mapcheck_model::text::map_type_words();
                    usage(format!("unknown map family `{n}` ({})", words.join(", ")))
                })
        })
        .collect()
}

fn need_kernel() -> Result<(), (u8, String)> {
    match env::kernel_unusable() {
        Some(why) => Err((exit::ENVIRONMENT, why)),
        None => Ok(()),
    }
}

fn cmd_run(a: RunArgs) -> CmdResult {
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
    if a.entries.is_some_and(|e| e > 4096) {
        // Scale runs: every case creates a big map; fewer, longer cases.
        gen.max_live = 1;
        gen.invalid_create_pct = 0;
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

fn duration_arg(flag: &str, v: &str) -> Result<Duration, (u8, String)> {
    parse_duration(v).ok_or_else(|| usage(format!("bad {flag} `{v}` (e.g. 30s, 5m, 8h)")))
}

/// The coverage rows a run over `types` reports.
fn rows_for(types: &[MapType], fd_tables: bool) -> Vec<String> {
    let mut rows: Vec<String> = types.iter().map(|t| t.word()).collect();
    rows.push("badfd".into());
    if types.iter().any(|t| t.holds_fds()) {
        rows.push("nonmap".into());
        rows.push("objects".into());
    }
    rows.push("invalid_type".into());
    if fd_tables {
        rows.push("fdtable".into());
    }
    rows
}

fn cmd_fuzz(a: FuzzArgs) -> CmdResult {
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

fn cmd_repro(a: ReproArgs) -> CmdResult {
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

fn cmd_selftest(a: SelftestArgs) -> CmdResult {
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

fn cmd_fuzz_worker(a: WorkerArgs) -> ExitCode {
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

/// `--seed`, else `$MAPCHECK_SEED`, else random.
fn run_seed(arg: &Option<String>) -> Result<u64, (u8, String)> {
    match arg.clone().or_else(|| std::env::var("MAPCHECK_SEED").ok()) {
        Some(s) => parse_seed(&s).ok_or_else(|| usage(format!("bad seed `{s}`"))),
        None => Ok(rand_seed()),
    }
}

fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::lockstep::fnv(format!("{:?}{}", t, std::process::id()).as_bytes())
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
    println!(
        "{:<16} {:>8} {:>8} {:>7}   missing cells",
        "family", "hit", "cells", "cover"
    );
    let families = rows_for(types, st.cells.keys().any(|(f, _, _)| f == "fdtable"));
    let (mut hit_all, mut all) = (0, 0);
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
            "cells outside the catalogue (extend model/src/coverage.rs): {}",
            extra.join(" ")
        );
    }
}

fn cmd_replay(a: ReplayArgs) -> CmdResult {
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
    let (mut bad, mut unreadable) = (0, 0);
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
        } else if !v.passed() {
            bad += 1;
        }
    }
    let summary = format!(
        "replayed {} cases ({} ops) on {}: {} passed, {} failed",
        cases.len(),
        stats.ops,
        world.profile.release,
        cases.len() - bad - unreadable,
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

fn cmd_amplify(a: AmplifyArgs) -> CmdResult {
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

fn cmd_rfc_diff(a: RfcDiffArgs) -> CmdResult {
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

pub mod bench;
