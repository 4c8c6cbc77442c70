//! The `mapcheck` command line: `run`, `replay`, `bench`.
//! The core idea: exit 0 agree, 1 divergence, 2 bad usage or input, 3 environment; each
//! non-zero exit comes with a one-line explanation.

use crate::env;
use clap::{Args, Parser, Subcommand};
use mapcheck_model::{Fault, MapType};
use std::process::ExitCode;
use std::time::Duration;

use amplify::{cmd_amplify, AmplifyArgs};
use fuzz::{cmd_fuzz, cmd_fuzz_worker, FuzzArgs, WorkerArgs};
use matrix::{cmd_dialects, cmd_matrix_table, MatrixArgs};
use replay::{cmd_replay, ReplayArgs};
use repro::{cmd_repro, ReproArgs};
use rfc_diff::{cmd_rfc_diff, RfcDiffArgs};
pub use run::print_table;
use run::{cmd_run, RunArgs};
use selftest::{cmd_selftest, SelftestArgs};

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
    /// The kernel matrix's table (ci/matrix.sh): one row per kernel from its results directory.
    MatrixTable(MatrixArgs),
    /// The running kernel's dialects (where kernels differ), as probed, with the change behind each.
    Dialects,
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
struct Common {
    /// Switch on a deliberate model fault (repeatable); see `--fault list`.
    #[arg(long = "fault")]
    faults: Vec<String>,
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
    /// Instead of the family rows: a HASH filled to each of these many live entries (by one
    /// BPF_MAP_UPDATE_BATCH) before every case's ops, e.g. 10000,100000,1000000.
    #[arg(long, value_delimiter = ',')]
    fill: Vec<u32>,
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
        Cmd::Bench(a) if !a.fill.is_empty() => {
            crate::cli::bench::cmd_bench_fill(a.cases, a.ops, &a.fill, &a.seed)
        }
        Cmd::Bench(a) => crate::cli::bench::cmd_bench(a.cases, a.ops, &a.map, &a.seed),
        Cmd::RfcDiff(a) => cmd_rfc_diff(a),
        Cmd::Amplify(a) => cmd_amplify(a),
        Cmd::CaseChild => return crate::isolate::serve(),
        Cmd::AmplifyChild { n, bpffs } => return crate::amplify::serve_child(n, &bpffs),
        Cmd::Fuzz(a) => cmd_fuzz(a),
        Cmd::Selftest(a) => cmd_selftest(a),
        Cmd::MatrixTable(a) => cmd_matrix_table(a),
        Cmd::Dialects => cmd_dialects(),
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
        // Every family the running kernel has (BLOOM_FILTER from 5.16); one named by --map is
        // checked even where the kernel lacks it (its creates are then EINVAL).
        let bloom = env::detect_profile().bloom_filter;
        return Ok(MapType::all()
            .filter(|t| bloom || *t != MapType::BloomFilter)
            .collect());
    }
    names
        .iter()
        .map(|n| {
            MapType::from_word(n)
                .filter(|t| MapType::all().any(|m| m == *t))
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
    if types.iter().any(|t| t.is_lru()) {
        rows.push("cpu".into());
    }
    if fd_tables {
        rows.push("fdtable".into());
    }
    rows
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

mod amplify;
pub mod bench;
mod fuzz;
mod matrix;
mod replay;
mod repro;
mod rfc_diff;
mod run;
mod selftest;
