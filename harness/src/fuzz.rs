//! `mapcheck fuzz`: a time-budgeted search on every core. The parent starts one worker process
//! per job (each with a seed derived from the run seed), and each worker searches in
//! segments, every segment with its own swarm weights. The core idea: a worker saves every
//! divergence, signed, before saying so, and streams each case before running it, so that no
//! crash, hang or kill loses a finding; the parent only merges, de-duplicates and reports.

use crate::corpus::{write_atomic, Case};
use crate::kernel::Kernel;
use crate::lockstep::{family_of, fnv, search, set_hooks, Divergence, Hooks, SearchConfig, Stats, STOP};
use mapcheck_model::gen::GenConfig;
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::{Op, World};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The hidden subcommand a worker runs.
pub const WORKER_ARG: &str = "__fuzz-worker";

/// splitmix64 of `seed` and `n`: worker and segment seeds.
pub fn derive(seed: u64, n: u64) -> u64 {
    mapcheck_model::gen::mix64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// What makes two findings the same bug: the family, the op kind, the allowed set and the
/// observed outcome of the failing step, on one line.
pub fn signature(d: &Divergence) -> String {
    let fam = family_of(&d.world_before, &d.op);
    one_line(&format!(
        "{fam}/{}: allowed {}; observed {}",
        d.op.kind(),
        d.allowed,
        fmt_outcome(&d.observed)
    ))
}

/// `s` with its control characters escaped and its ends trimmed: what a `# key: value` header
/// line holds and `Case::parse` gives back unchanged.
pub fn one_line(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            o.extend(c.escape_default());
        } else {
            o.push(c);
        }
    }
    o.trim().to_string()
}

/// The `# signature:` header of a script's text (read the way `Case::parse` reads headers).
pub fn header_signature(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.trim().strip_prefix('#')?.split_once(':')?;
        (k.trim() == "signature").then(|| v.trim().to_string())
    })
}

/// The signed cases of the corpus, by signature: what makes a finding "known". Files under
/// `out` are findings of earlier runs, not corpus, and a case without the header counts for
/// nothing (an unreadable corpus only makes more findings new).
pub fn corpus_signatures(corpus: &[PathBuf], out: &Path) -> BTreeMap<String, PathBuf> {
    let out = out.canonicalize().unwrap_or_else(|_| out.to_path_buf());
    let mut known = BTreeMap::new();
    for p in crate::corpus::collect(corpus).unwrap_or_default() {
        if p.canonicalize().is_ok_and(|c| c.starts_with(&out)) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&p) else { continue };
        if let Some(sig) = header_signature(&String::from_utf8_lossy(&bytes)) {
            known.entry(sig).or_insert(p);
        }
    }
    known
}

/// The file name for a case signed `sig`: its own name, unless a file of that name holds
/// another signature (then both are kept).
fn case_file(dir: &Path, name: &str, sig: &str) -> String {
    let plain = format!("{name}.case");
    match std::fs::read(dir.join(&plain)) {
        Ok(b) if header_signature(&String::from_utf8_lossy(&b)).as_deref() != Some(sig) => {
            format!("{name}-{:016x}.case", fnv(sig.as_bytes()))
        }
        _ => plain,
    }
}

// ---- worker ------------------------------------------------------------------------------

/// What a worker is told on its command line.
pub struct WorkerArgs {
    /// Index, for messages.
    pub index: u32,
    /// The worker's seed; segment k searches with `derive(seed, k)`.
    pub seed: u64,
    /// Stop after this long.
    pub budget: Duration,
    /// Length of one swarm segment.
    pub segment: Duration,
    /// Where findings go.
    pub out: PathBuf,
    /// The base generation config (profile, faults, types).
    pub gen: GenConfig,
    /// Longest case.
    pub max_ops: usize,
    /// Vary the generation per segment (swarm testing); off, every segment uses `gen`.
    pub swarm: bool,
}

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Makes SIGINT and SIGTERM set `lockstep::STOP`.
pub fn stop_on_signals() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
    }
}

/// A worker: segments of search until the budget is spent or it is told to stop. Speaks one
/// line per message on stdout: `segment`, `case` (then one `op` line per op), `stats`,
/// `found`, `done`.
pub fn worker(a: WorkerArgs) -> std::process::ExitCode {
    // Die with the parent, even if it is killed with SIGKILL.
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    stop_on_signals();
    let out = std::io::stdout();
    let say = |s: &str| {
        let mut o = out.lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.write_all(b"\n");
        let _ = o.flush();
    };
    let mut kernel = match Kernel::new() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("mapcheck fuzz worker {}: {e}", a.index);
            return std::process::ExitCode::from(3);
        }
    };
    let out_dir = a.out.clone();
    let raw: std::rc::Rc<std::cell::RefCell<Option<PathBuf>>> = Default::default();
    let raw_hook = raw.clone();
    set_hooks(Hooks {
        on_case: Some(Box::new(|ops: &[Op]| {
            // One write per case, not one per op line: this runs before every case.
            let mut text = format!("case {}\n", ops.len());
            for op in ops {
                let _ = writeln!(text, "op {op}");
            }
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        })),
        on_failure: Some(Box::new(move |case: &Case, d: &Divergence| {
            // The unshrunk case, signed and saved before shrinking starts, replaced by the
            // minimal one; the parent reports it if the worker dies while shrinking.
            let sig = signature(d);
            let mut case = case.clone();
            case.header.push(("signature".into(), sig.clone()));
            case.header.push((
                "unshrunk".into(),
                "the first failing case, before shrinking".into(),
            ));
            match write_atomic(&out_dir, &case_file(&out_dir, &case.name, &sig), &case.to_text()) {
                Ok(p) => {
                    let _ = writeln!(std::io::stdout().lock(), "raw {}", p.display());
                    *raw_hook.borrow_mut() = Some(p);
                }
                Err(e) => eprintln!("mapcheck fuzz worker: cannot write the unshrunk case: {e}"),
            }
        })),
    });
    let start = Instant::now();
    let mut total = Stats::default();
    let mut last_stats = Instant::now();
    let mut segment = 0u64;
    while start.elapsed() < a.budget && !STOP.load(Ordering::Relaxed) {
        let seed = derive(a.seed, segment);
        let gen = if a.swarm { a.gen.swarm(seed) } else { a.gen.clone() };
        say(&format!("segment {segment} seed {seed:#x} {}", gen.describe()));
        let left = a.budget.saturating_sub(start.elapsed());
        let cfg = SearchConfig {
            seed,
            cases: None,
            budget: left.min(a.segment),
            max_ops: a.max_ops,
            gen,
            record: false,
            shrink_time: Duration::from_secs(20),
        };
        let r = search(&cfg, &mut kernel, |st, _| {
            if last_stats.elapsed() > Duration::from_secs(1) {
                let mut t = total.clone();
                t.merge(st);
                say(&stats_line(&t));
                last_stats = Instant::now();
            }
        });
        total.merge(&r.stats);
        if let Some(found) = r.found {
            let mut case = found.case;
            let sig = signature(&found.divergence);
            case.header.push(("signature".into(), sig.clone()));
            case.header
                .push(("worker".into(), format!("{} segment {segment}", a.index)));
            let name = case_file(&a.out, &case.name, &sig);
            match write_atomic(&a.out, &name, &case.to_text()) {
                Ok(p) => {
                    // The minimal case is on disk: the unshrunk one has served its purpose.
                    if let Some(r) = raw.borrow_mut().take().filter(|r| *r != p) {
                        let _ = std::fs::remove_file(r);
                    }
                    // The signature travels in the file (a path may hold spaces, not a newline).
                    say(&format!("found {} {}", found.flaky as u8, p.display()))
                }
                Err(e) => eprintln!("mapcheck fuzz worker {}: cannot write a case: {e}", a.index),
            }
        }
        say(&stats_line(&total));
        segment += 1;
    }
    say(&stats_line(&total));
    say("done");
    std::process::ExitCode::SUCCESS
}

fn stats_line(st: &Stats) -> String {
    let mut s = format!("stats {} {}", st.cases, st.ops);
    for ((fam, op, o), n) in &st.cells {
        s.push_str(&format!(" {fam}/{op}/{o}={n}"));
    }
    s
}

/// Op kinds come back from workers as text; `Stats` keys them by `&'static str`.
fn intern(s: &str) -> &'static str {
    static SEEN: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = seen.get(s) {
        return k;
    }
    let k: &'static str = Box::leak(s.to_string().into_boxed_str());
    seen.insert(k);
    k
}

fn parse_stats(line: &str) -> Option<Stats> {
    let mut w = line.strip_prefix("stats ")?.split(' ');
    let mut st = Stats {
        cases: w.next()?.parse().ok()?,
        ops: w.next()?.parse().ok()?,
        ..Stats::default()
    };
    for cell in w {
        let (k, n) = cell.rsplit_once('=')?;
        let mut parts = k.splitn(3, '/');
        let (fam, op, o) = (parts.next()?, parts.next()?, parts.next()?);
        let op = intern(op);
        st.cells.insert(
            (fam.to_string().into(), op, o.to_string().into()),
            n.parse().ok()?,
        );
    }
    Some(st)
}

// ---- parent ------------------------------------------------------------------------------

/// What `mapcheck fuzz` was asked to do.
pub struct FuzzArgs {
    /// The run seed; worker i gets `derive(seed, i)`.
    pub seed: u64,
    /// Total wall time.
    pub budget: Duration,
    /// Worker processes.
    pub jobs: u32,
    /// Length of a swarm segment.
    pub segment: Duration,
    /// Where findings go.
    pub out: PathBuf,
    /// The corpus: a finding is known if a case here (outside `out`) has its signature.
    pub corpus: Vec<PathBuf>,
    /// Arguments every worker gets besides seed, budget, segment and out (families, faults,
    /// --no-swarm).
    pub worker_args: Vec<String>,
    /// A status line this often.
    pub status_every: Duration,
    /// A worker silent this long in the middle of a case is hung; also the time workers get
    /// after the end of the budget to finish their case.
    pub case_timeout: Duration,
    /// The world (profile, faults) for coverage.
    pub world: World,
    /// The coverage rows (map families and the others).
    pub rows: Vec<String>,
}

/// How long workers get to finish after SIGINT or SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// One thing a fuzz run found.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The case file.
    pub path: PathBuf,
    /// The `# signature:` of the case: `family/op: allowed ...; observed ...`, or
    /// `lost/hang: NAME`, `lost/crash: NAME` for a case during which a worker hung or died.
    pub signature: String,
    /// `divergence` (shrunk), `unshrunk` (the worker died while shrinking) or `lost`.
    pub kind: String,
    /// Which worker.
    pub worker: u32,
    /// No corpus case has this signature.
    pub new: bool,
    /// The corpus case with this signature, if any.
    pub known_as: Option<PathBuf>,
    /// The divergence did not come back on a re-run of the shrunk script.
    pub flaky: bool,
    /// Later findings of this run with the identical signature (their files were removed).
    pub duplicates: u64,
    /// The script, as written.
    pub script: String,
}

/// The end of a fuzz run.
pub struct Summary {
    /// Run seed.
    pub seed: u64,
    /// Worker seeds, in index order (restarts derive from these).
    pub worker_seeds: Vec<u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// Cases and ops, all workers.
    pub stats: Stats,
    /// Distinct findings.
    pub findings: Vec<Finding>,
    /// Workers that died or hung outside any case (nothing to write, still a failure).
    pub errors: Vec<String>,
    /// Stopped by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// Outcome cells hit, catalogued, and the missing ones.
    pub coverage: (usize, usize, Vec<String>),
}

impl Summary {
    /// Findings dropped as duplicates, all together.
    pub fn duplicates(&self) -> u64 {
        self.findings.iter().map(|f| f.duplicates).sum()
    }
}

struct Worker {
    index: u32,
    seed: u64,
    restarts: u32,
    child: Child,
    buf: Vec<u8>,
    /// Stats of earlier incarnations (after a crash or hang).
    base: Stats,
    stats: Stats,
    inflight: Option<Vec<String>>,
    /// The unshrunk case it saved, until its minimal case is reported.
    raw: Option<PathBuf>,
    last_line: Instant,
    segment_seed: u64,
    done: bool,
    dead: bool,
}

fn spawn_worker(exe: &Path, a: &FuzzArgs, index: u32, seed: u64, budget: Duration) -> std::io::Result<Child> {
    Command::new(exe)
        .arg(WORKER_ARG)
        .arg(format!("--index={index}"))
        .arg(format!("--seed={seed:#x}"))
        .arg(format!("--budget={}ms", budget.as_millis()))
        .arg(format!("--segment={}ms", a.segment.as_millis()))
        .arg("--out")
        .arg(&a.out)
        .args(&a.worker_args)
        // A group of its own: killing it kills the case process it may be waiting on.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
}

/// Kills a worker with its case processes, reaps them all (orphans come to this process, a
/// subreaper), and removes the bpffs mounts and cgroups the killed ones left. The exit status.
fn kill_and_reap(w: &mut Worker) -> String {
    let pgid = w.child.id() as i32;
    // SAFETY: kill(2) on the process group our own child leads.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let status = w.child.wait().map_or("unknown".into(), |s| s.to_string());
    let t = Instant::now();
    loop {
        // SAFETY: waitpid(2) on our children in that group, no status wanted.
        let r = unsafe { libc::waitpid(-pgid, std::ptr::null_mut(), libc::WNOHANG) };
        if r < 0 || t.elapsed() > Duration::from_secs(5) {
            break; // ECHILD: none left
        }
        if r == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    crate::env::remove_stale_bpffs();
    crate::kernel::remove_stale_cgroups_now();
    status
}

fn merged(workers: &[Worker]) -> Stats {
    let mut t = Stats::default();
    for w in workers {
        t.merge(&w.base);
        t.merge(&w.stats);
    }
    t
}

/// The findings of a run and what they are checked against.
struct Ledger {
    corpus: BTreeMap<String, PathBuf>,
    findings: Vec<Finding>,
    errors: Vec<String>,
}

impl Ledger {
    /// Reports a saved case (its signature is read from the file). A case whose signature is
    /// identical to a kept one's is a duplicate, and only then is its file removed.
    fn report(&mut self, worker: u32, path: PathBuf, kind: &str, flaky: bool) {
        let script = match std::fs::read(&path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("# unreadable: {e}\n"),
        };
        // A case without its signature is still reported, as itself.
        let sig = header_signature(&script).unwrap_or_else(|| format!("unsigned: {}", path.display()));
        if let Some(first) = self.findings.iter_mut().find(|f| f.signature == sig) {
            first.duplicates += 1;
            if first.path != path {
                let _ = std::fs::remove_file(&path);
            }
            println!(
                "worker {worker}: another {sig} (duplicate of {}), not kept",
                first.path.display()
            );
            return;
        }
        let known_as = self.corpus.get(&sig).cloned();
        println!(
            "FOUND by worker {worker}: {sig}{}{}{} -> {}",
            if kind == "divergence" {
                String::new()
            } else {
                format!(" ({kind})")
            },
            if flaky { " (flaky)" } else { "" },
            known_as
                .as_ref()
                .map_or(String::new(), |k| format!(" (known: {})", k.display())),
            path.display()
        );
        for l in script.lines().filter(|l| !l.starts_with('#')) {
            println!("    {l}");
        }
        let _ = std::io::stdout().flush();
        self.findings.push(Finding {
            path,
            signature: sig,
            kind: kind.into(),
            worker,
            new: known_as.is_none(),
            known_as,
            flaky,
            duplicates: 0,
            script,
        });
    }

    /// A worker died, hung or was killed at the end: what it was doing is reported. Its
    /// unshrunk case if it was shrinking one, else its in-flight case as a `lost-*.case`.
    fn lost(&mut self, w: &mut Worker, a: &FuzzArgs, kind: &str, why: &str) {
        println!("{why}");
        if let Some(raw) = w.raw.take() {
            self.report(w.index, raw, "unshrunk", false);
            return;
        }
        let Some(ops) = w.inflight.take() else {
            self.errors.push(format!("{why} (in no case)"));
            return;
        };
        let body: String = ops.iter().map(|o| format!("{o}\n")).collect();
        let name = format!("lost-{:016x}", fnv(format!("{kind}\n{body}").as_bytes()));
        let text = format!(
            "# case: {name}\n# why: {}\n# kernel: {}\n# seed: {:#x}\n# signature: lost/{kind}: {name}\n{body}",
            one_line(why),
            a.world.profile.release,
            w.segment_seed
        );
        match write_atomic(&a.out, &format!("{name}.case"), &text) {
            Ok(p) => self.report(w.index, p, "lost", false),
            Err(e) => self
                .errors
                .push(format!("{why}; cannot write the lost case: {e}")),
        }
    }
}

/// Runs the fuzz job: prints the seeds first, a status line every few seconds, each new
/// finding as it is reported (after the worker saved it), and returns the summary.
pub fn run(exe: &Path, a: &FuzzArgs) -> std::io::Result<Summary> {
    let start = Instant::now();
    std::fs::create_dir_all(&a.out)?;
    // Case processes of a killed worker become ours, so that we can reap them.
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let mut ledger = Ledger {
        corpus: corpus_signatures(&a.corpus, &a.out),
        findings: Vec::new(),
        errors: Vec::new(),
    };
    let mut workers = Vec::new();
    let worker_seeds: Vec<u64> = (0..a.jobs).map(|i| derive(a.seed, i as u64 + 1)).collect();
    for (i, s) in worker_seeds.iter().enumerate() {
        println!("worker {i}: seed {s:#x}");
        workers.push(Worker {
            index: i as u32,
            seed: *s,
            restarts: 0,
            child: spawn_worker(exe, a, i as u32, *s, a.budget)?,
            buf: Vec::new(),
            base: Stats::default(),
            stats: Stats::default(),
            inflight: None,
            raw: None,
            last_line: Instant::now(),
            segment_seed: *s,
            done: false,
            dead: false,
        });
    }
    let _ = std::io::stdout().flush();
    let mut last_status = Instant::now();
    let mut stopping: Option<Instant> = None;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        if STOP.load(Ordering::Relaxed) && stopping.is_none() {
            println!("stopping: signal received, waiting for the workers to finish their case");
            for w in workers.iter().filter(|w| !w.dead) {
                // SAFETY: kill(2) on our own child's pid (not its case process).
                unsafe { libc::kill(w.child.id() as i32, libc::SIGTERM) };
            }
            stopping = Some(Instant::now());
        }
        // The end of the budget gives every worker `case_timeout` to finish its case, a stop
        // gives it STOP_GRACE; a worker still running then is killed and reported.
        let overdue = if start.elapsed() > a.budget + a.case_timeout {
            Some(format!("{:?} after the end of the budget", a.case_timeout))
        } else if stopping.is_some_and(|t| t.elapsed() > STOP_GRACE) {
            Some(format!("{STOP_GRACE:?} after the stop signal"))
        } else {
            None
        };
        let live: Vec<usize> = (0..workers.len()).filter(|i| !workers[*i].dead).collect();
        let mut fds: Vec<libc::pollfd> = live
            .iter()
            .map(|i| &workers[*i])
            .map(|w| libc::pollfd {
                fd: w
                    .child
                    .stdout
                    .as_ref()
                    .map_or(-1, std::os::fd::AsRawFd::as_raw_fd),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            break;
        }
        // SAFETY: a live array of pollfds of the length passed.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        for (i, p) in live.into_iter().zip(&fds) {
            let w = &mut workers[i];
            let mut eof = false;
            // Readable, or hung up (then the read says end of file).
            if p.revents != 0 {
                let n = std::io::Read::read(w.child.stdout.as_mut().expect("piped"), &mut chunk);
                match n {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => w.buf.extend_from_slice(&chunk[..n]),
                }
            }
            while let Some(i) = w.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = w.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line[..i]).into_owned();
                w.last_line = Instant::now();
                handle_line(w, &line, &mut ledger);
            }
            // Silence is a hang within the budget; after it, the end's grace period decides
            // (a hang that began before the end is killed at most `case_timeout` later).
            let hung = !w.done
                && w.inflight.is_some()
                && w.last_line.elapsed() > a.case_timeout
                && (start.elapsed() <= a.budget || stopping.is_some());
            if !(eof || hung || overdue.is_some()) {
                continue;
            }
            let status = kill_and_reap(w);
            w.dead = true;
            if w.done {
                continue;
            }
            let (kind, why) = if hung {
                (
                    "hang",
                    format!(
                        "worker {} hung: no answer for {:?} during this case",
                        w.index, a.case_timeout
                    ),
                )
            } else if let (false, Some(when)) = (eof, &overdue) {
                (
                    "hang",
                    format!("worker {} still in this case {when}: killed", w.index),
                )
            } else {
                (
                    "crash",
                    format!("worker {} died ({status}) during this case", w.index),
                )
            };
            ledger.lost(w, a, kind, &why);
            // A fresh worker for the rest of the budget.
            let left = a.budget.saturating_sub(start.elapsed());
            if left > Duration::from_secs(1) && stopping.is_none() && overdue.is_none() {
                w.restarts += 1;
                let seed = derive(w.seed, 1000 + w.restarts as u64);
                println!("worker {}: restarted with seed {seed:#x}", w.index);
                match spawn_worker(exe, a, w.index, seed, left) {
                    Ok(c) => {
                        w.child = c;
                        w.base.merge(&w.stats);
                        w.stats = Stats::default();
                        w.buf.clear();
                        w.inflight = None;
                        w.raw = None;
                        w.dead = false;
                        w.last_line = Instant::now();
                    }
                    Err(e) => ledger
                        .errors
                        .push(format!("worker {}: cannot restart: {e}", w.index)),
                }
            }
        }
        if last_status.elapsed() >= a.status_every {
            print_status(start, &workers, &ledger.findings, a);
            last_status = Instant::now();
        }
    }
    let stats = merged(&workers);
    let coverage = stats.coverage(&a.world.profile, &a.rows);
    Ok(Summary {
        seed: a.seed,
        worker_seeds,
        elapsed: start.elapsed(),
        stats,
        findings: ledger.findings,
        errors: ledger.errors,
        interrupted: stopping.is_some(),
        coverage,
    })
}

fn print_status(start: Instant, workers: &[Worker], findings: &[Finding], a: &FuzzArgs) {
    let st = merged(workers);
    let (hit, all, _) = st.coverage(&a.world.profile, &a.rows);
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    println!(
        "[{:>5.0}s] cases {:>9}  ops {:>11}  ops/s {:>7.0}  divergences {}  coverage {hit}/{all} ({:.1}%)  workers {}/{}",
        secs,
        st.cases,
        st.ops,
        st.ops as f64 / secs,
        findings.len(),
        100.0 * hit as f64 / all.max(1) as f64,
        workers.iter().filter(|w| !w.dead).count(),
        workers.len()
    );
    let _ = std::io::stdout().flush();
}

fn handle_line(w: &mut Worker, line: &str, ledger: &mut Ledger) {
    let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
    match tag {
        "case" => w.inflight = Some(Vec::with_capacity(rest.parse().unwrap_or(8))),
        "op" => {
            if let Some(ops) = &mut w.inflight {
                ops.push(rest.to_string());
            }
        }
        "stats" => {
            if let Some(st) = parse_stats(line) {
                w.stats = st;
            }
        }
        "segment" => {
            let mut p = rest.split(' ');
            let seg = p.next().unwrap_or("?");
            let seed = p.nth(1).unwrap_or("?");
            w.segment_seed = seed
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or(w.segment_seed);
            let desc: Vec<&str> = p.collect();
            println!("worker {} segment {seg}: seed {seed} {}", w.index, desc.join(" "));
        }
        "raw" => w.raw = Some(PathBuf::from(rest)),
        "found" => {
            let (flaky, path) = rest.split_once(' ').unwrap_or(("0", rest));
            w.raw = None;
            ledger.report(w.index, PathBuf::from(path), "divergence", flaky == "1");
        }
        "done" => {
            w.done = true;
            w.inflight = None;
            // An unshrunk case whose minimal one never came (it could not be written).
            if let Some(raw) = w.raw.take() {
                ledger.report(w.index, raw, "unshrunk", false);
            }
        }
        _ => {}
    }
}

// ---- summaries -----------------------------------------------------------------------------

/// The JSON summary (`--json`), for the CI system; `Deserialize` so that it can be read back.
#[derive(Serialize, Deserialize, Debug)]
pub struct JsonSummary {
    /// Run seed, hex.
    pub seed: String,
    /// Worker seeds, hex.
    pub worker_seeds: Vec<String>,
    /// Wall time.
    pub elapsed_s: f64,
    /// Cases, all workers.
    pub cases: u64,
    /// Ops, all workers.
    pub ops: u64,
    /// Stopped by a signal.
    pub interrupted: bool,
    /// Distinct findings.
    pub divergences: usize,
    /// Findings whose signature no corpus case has.
    pub new: usize,
    /// Findings dropped as duplicates of a kept one (each kept one says how many).
    pub duplicates: u64,
    /// Workers that failed outside any case.
    pub errors: Vec<String>,
    /// Outcome coverage.
    pub coverage: JsonCoverage,
    /// The findings.
    pub findings: Vec<JsonFinding>,
}

/// Coverage in the JSON summary.
#[derive(Serialize, Deserialize, Debug)]
pub struct JsonCoverage {
    /// Cells hit.
    pub hit: usize,
    /// Cells catalogued.
    pub cells: usize,
    /// `row/op:outcome` of those not hit.
    pub missing: Vec<String>,
}

/// A finding in the JSON summary.
#[derive(Serialize, Deserialize, Debug)]
pub struct JsonFinding {
    /// The case file (the kept one).
    pub path: String,
    /// Its signature.
    pub signature: String,
    /// `divergence`, `unshrunk` or `lost`.
    pub kind: String,
    /// Which worker.
    pub worker: u32,
    /// No corpus case has the signature.
    pub new: bool,
    /// The corpus case that has it.
    pub known_as: Option<String>,
    /// Did not reproduce on a re-run.
    pub flaky: bool,
    /// Identical signatures found later in the run, whose files were removed.
    pub duplicates: u64,
    /// The script.
    pub script: String,
}

impl From<&Summary> for JsonSummary {
    fn from(s: &Summary) -> JsonSummary {
        JsonSummary {
            seed: format!("{:#x}", s.seed),
            worker_seeds: s.worker_seeds.iter().map(|x| format!("{x:#x}")).collect(),
            elapsed_s: s.elapsed.as_secs_f64(),
            cases: s.stats.cases,
            ops: s.stats.ops,
            interrupted: s.interrupted,
            divergences: s.findings.len(),
            new: s.findings.iter().filter(|f| f.new).count(),
            duplicates: s.duplicates(),
            errors: s.errors.clone(),
            coverage: JsonCoverage {
                hit: s.coverage.0,
                cells: s.coverage.1,
                missing: s.coverage.2.clone(),
            },
            findings: s
                .findings
                .iter()
                .map(|f| JsonFinding {
                    path: f.path.display().to_string(),
                    signature: f.signature.clone(),
                    kind: f.kind.clone(),
                    worker: f.worker,
                    new: f.new,
                    known_as: f.known_as.as_ref().map(|p| p.display().to_string()),
                    flaky: f.flaky,
                    duplicates: f.duplicates,
                    script: f.script.clone(),
                })
                .collect(),
        }
    }
}

/// The summary as JSON, for the CI system.
pub fn to_json(s: &Summary) -> String {
    let mut text = serde_json::to_string_pretty(&JsonSummary::from(s))
        .expect("strings, integers and finite floats always serialize");
    text.push('\n');
    text
}

/// `s` as XML 1.0 can carry it, reversibly: the characters it forbids (and carriage returns,
/// which a parser turns into newlines) as `\u{..}` escapes, like the `\x..` of map names in a
/// script. quick-junit would drop them silently (and ANSI sequences with them).
pub fn xml_safe(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && !matches!(c, '\t' | '\n')) || matches!(c, '\u{fffe}' | '\u{ffff}') {
            o.extend(c.escape_default());
        } else {
            o.push(c);
        }
    }
    o
}

/// The coverage row a finding belongs to: the family its signature starts with.
fn row_of(f: &Finding) -> String {
    f.signature
        .split(['/', ':'])
        .next()
        .unwrap_or("other")
        .to_string()
}

/// JUnit XML (through quick-junit): one passing test case per coverage row (map family,
/// objects, fdtable, ...) with no finding, one failing test case per finding (classname
/// `mapcheck.fuzz.ROW`, name its signature, the script as the failure's text), and one error
/// per worker that failed outside a case.
pub fn to_junit(s: &Summary, rows: &[String]) -> String {
    let mut by_row: BTreeMap<String, Vec<&Finding>> = rows.iter().map(|r| (r.clone(), Vec::new())).collect();
    for f in &s.findings {
        by_row.entry(row_of(f)).or_default().push(f);
    }
    let mut suite = TestSuite::new("mapcheck-fuzz");
    suite.set_time(s.elapsed);
    suite.add_property(Property::new("seed", format!("{:#x}", s.seed)));
    suite.add_property(Property::new("cases", s.stats.cases.to_string()));
    suite.add_property(Property::new("ops", s.stats.ops.to_string()));
    for (row, fs) in &by_row {
        if fs.is_empty() {
            let mut tc = TestCase::new(xml_safe(row), TestCaseStatus::success());
            tc.set_classname("mapcheck.fuzz");
            suite.add_test_case(tc);
        }
        for f in fs {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(xml_safe(&format!("{} ({})", f.signature, f.path.display())));
            st.set_type(format!("{} {}", if f.new { "new" } else { "known" }, f.kind));
            st.set_description(xml_safe(&f.script));
            let mut tc = TestCase::new(xml_safe(&f.signature), st);
            tc.set_classname(xml_safe(&format!("mapcheck.fuzz.{row}")));
            suite.add_test_case(tc);
        }
    }
    for (i, e) in s.errors.iter().enumerate() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_message(xml_safe(e));
        let mut tc = TestCase::new(format!("worker error {i}"), st);
        tc.set_classname("mapcheck.fuzz");
        suite.add_test_case(tc);
    }
    let mut report = Report::new("mapcheck");
    report.add_test_suite(suite);
    report
        .to_string()
        .expect("quick-junit writes into memory, which does not fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapcheck_model::{Errno, Fault, Profile};

    /// The divergence at the last op of `text`, the model following its own predictions up to
    /// it, with `observed` from the kernel.
    fn divergence(text: &str, faults: Vec<Fault>, observed: mapcheck_model::Outcome) -> Divergence {
        let ops = Case::parse(text, Path::new("t.case")).unwrap().ops();
        let mut world = World::new(Profile::default(), faults);
        let (last, before) = ops.split_last().unwrap();
        for op in before {
            let o = world.allowed(op).exactly().cloned().expect("deterministic");
            world.apply(op, &o);
        }
        Divergence {
            index: before.len(),
            op: last.clone(),
            allowed: world.allowed(last),
            observed,
            world_before: world,
        }
    }

    /// The signature before this change: family/op:first word of the outcome.
    fn old_signature(d: &Divergence) -> String {
        let o = fmt_outcome(&d.observed);
        format!(
            "{}/{}:{}",
            family_of(&d.world_before, &d.op),
            d.op.kind(),
            o.split(' ').next().unwrap()
        )
    }

    const CREATE: &str = "m0 = create array key=4 value=8 entries=1\n";

    /// Two bugs the old signature merged: an update the canary fault allows and an update out
    /// of bounds, both answered EEXIST.
    fn two_bugs() -> (Divergence, Divergence) {
        let a = divergence(
            &format!("{CREATE}update m0 key=00000000 value=0000000000000000 flags=NOEXIST\n"),
            vec![Fault::ArrayNoexistSucceeds],
            Err(Errno::EEXIST),
        );
        let b = divergence(
            &format!("{CREATE}update m0 key=05000000 value=0000000000000000\n"),
            vec![],
            Err(Errno::EEXIST),
        );
        (a, b)
    }

    fn save(dir: &Path, name: &str, sig: &str) -> PathBuf {
        let text = format!("# case: {name}\n# signature: {sig}\n{CREATE}");
        write_atomic(dir, &format!("{name}.case"), &text).unwrap()
    }

    fn ledger(corpus: BTreeMap<String, PathBuf>) -> Ledger {
        Ledger {
            corpus,
            findings: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// A worker's stats line reads back as what it counted: cases, ops and every cell.
    #[test]
    fn stats_lines_parse_back() {
        let mut st = Stats {
            cases: 3,
            ops: 40,
            ..Stats::default()
        };
        st.cells.insert(("array".into(), "update", "ok".into()), 2);
        st.cells
            .insert(("hash".into(), "lookup", "EINVAL[flags]".into()), 5);
        let back = parse_stats(&stats_line(&st)).unwrap();
        assert_eq!((back.cases, back.ops, back.cells), (3, 40, st.cells));
        assert!(parse_stats("stats x 1").is_none() && parse_stats("hello").is_none());
    }

    /// A case keeps its plain name unless that file holds another signature: then both
    /// are kept, the new one under a name of its own.
    #[test]
    fn case_file_never_overwrites_another_signature() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(case_file(dir.path(), "c", "sig a"), "c.case");
        save(dir.path(), "c", "sig a");
        assert_eq!(case_file(dir.path(), "c", "sig a"), "c.case");
        let other = case_file(dir.path(), "c", "sig b");
        assert_eq!(other, format!("c-{:016x}.case", fnv(b"sig b")));
    }

    #[test]
    fn different_divergences_with_one_old_signature_are_both_kept_and_new() {
        let (a, b) = two_bugs();
        assert_eq!(old_signature(&a), old_signature(&b), "the premise");
        let (sa, sb) = (signature(&a), signature(&b));
        assert_ne!(sa, sb);
        assert_eq!(sa, "array/update: allowed ok; observed EEXIST");
        assert_eq!(sb, "array/update: allowed E2BIG; observed EEXIST");
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(BTreeMap::new());
        let (pa, pb) = (save(dir.path(), "a", &sa), save(dir.path(), "b", &sb));
        l.report(0, pa.clone(), "divergence", false);
        l.report(1, pb.clone(), "divergence", false);
        assert_eq!(l.findings.len(), 2);
        assert!(l.findings.iter().all(|f| f.new && f.duplicates == 0));
        assert!(pa.exists() && pb.exists());
        // Only an identical signature is a duplicate: counted on the kept one, file removed.
        let pc = save(dir.path(), "c", &sa);
        l.report(1, pc.clone(), "divergence", false);
        assert_eq!(l.findings.len(), 2);
        assert_eq!((l.findings[0].path.clone(), l.findings[0].duplicates), (pa, 1));
        assert!(!pc.exists());
        let s = summary(l.findings);
        assert_eq!(s.duplicates(), 1);
        let j: JsonSummary = serde_json::from_str(&to_json(&s)).unwrap();
        assert_eq!((j.divergences, j.new, j.duplicates), (2, 2, 1));
        assert_eq!(j.findings[0].duplicates, 1);
    }

    #[test]
    fn the_signature_round_trips_through_a_header_line() {
        let (a, _) = two_bugs();
        let mut d = a.clone();
        d.observed = Ok(mapcheck_model::Ret::Lost("died\n\x1b[31m (signal)  ".into()));
        let sig = signature(&d);
        assert!(!sig.contains('\n') && !sig.contains('\x1b'), "{sig}");
        let text = format!("# signature: {sig}\n{CREATE}");
        let case = Case::parse(&text, Path::new("t.case")).unwrap();
        assert_eq!(case.get("signature"), Some(sig.as_str()));
        assert_eq!(header_signature(&text), Some(sig));
    }

    #[test]
    fn only_a_signed_corpus_case_outside_out_makes_a_finding_known() {
        let corpus = tempfile::tempdir().unwrap();
        let out = corpus.path().join("found");
        std::fs::create_dir_all(corpus.path().join("array")).unwrap();
        let kept = save(
            &corpus.path().join("array"),
            "kept",
            "array/update: allowed ok; observed EEXIST",
        );
        // An earlier run's finding in --out (inside the corpus tree, like regressions/found).
        save(&out, "earlier", "array/update: allowed E2BIG; observed EEXIST");
        // The same script without the header.
        std::fs::write(corpus.path().join("unsigned.case"), CREATE).unwrap();
        let known = corpus_signatures(&[corpus.path().to_path_buf()], &out);
        assert_eq!(known.len(), 1, "{known:?}");
        let mut l = ledger(known);
        let run = tempfile::tempdir().unwrap();
        l.report(
            0,
            save(run.path(), "x", "array/update: allowed ok; observed EEXIST"),
            "divergence",
            false,
        );
        l.report(
            0,
            save(run.path(), "y", "array/update: allowed E2BIG; observed EEXIST"),
            "divergence",
            false,
        );
        l.report(
            0,
            save(run.path(), "z", "array/update: allowed ENOENT; observed EEXIST"),
            "divergence",
            false,
        );
        let new: Vec<bool> = l.findings.iter().map(|f| f.new).collect();
        assert_eq!(new, [false, true, true]);
        assert_eq!(l.findings[0].known_as.as_deref(), Some(kept.as_path()));
    }

    fn summary(findings: Vec<Finding>) -> Summary {
        Summary {
            seed: 7,
            worker_seeds: vec![1, 2],
            elapsed: Duration::from_millis(1500),
            stats: Stats::default(),
            findings,
            errors: vec!["worker 1 died \x1b[31mred\x1b[0m \x01 in no case".into()],
            interrupted: false,
            coverage: (1, 2, vec!["array/update:E2BIG".into()]),
        }
    }

    fn failures(xml: &str) -> Vec<(String, String, String)> {
        let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        doc.descendants()
            .filter(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
            .map(|n| {
                let tc = n.parent().unwrap();
                (
                    tc.attribute("name").unwrap().to_string(),
                    n.attribute("message").unwrap_or("").to_string(),
                    n.text().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn control_characters_in_names_survive_json_and_junit() {
        let script = "# case: odd\n# signature: array/create: allowed ok fd=m0; observed EINVAL\n\
                      m0 = create array key=4 value=4 entries=1 name=\"\\x01\\x1b\" => EINVAL\n";
        let case = Case::parse(script, Path::new("odd.case")).unwrap();
        match &case.steps[0].op {
            Op::CreateMap { spec, .. } => assert_eq!(spec.name, b"\x01\x1b"),
            op => panic!("{op}"),
        }
        // A raw control character where a script never has one, to see it escaped, not lost.
        let raw = format!("# why: \x1b[1mbold\x1b[0m\r\n{script}");
        let f = |path: &str, script: &str| Finding {
            path: PathBuf::from(path),
            signature: header_signature(script).unwrap(),
            kind: "divergence".into(),
            worker: 0,
            new: true,
            known_as: None,
            flaky: false,
            duplicates: 0,
            script: script.into(),
        };
        let mut g = f("out/odd\x07.case", &raw);
        g.signature.push_str(" (raw)");
        let s = summary(vec![f("out/odd.case", script), g]);
        let j: JsonSummary = serde_json::from_str(&to_json(&s)).unwrap();
        assert_eq!(j.findings[0].script, script);
        assert_eq!(j.findings[1].script, raw);
        assert_eq!(j.findings[1].path, "out/odd\x07.case");
        assert_eq!(j.errors, s.errors);
        let xml = to_junit(&s, &["array".to_string(), "badfd".to_string()]);
        let fs = failures(&xml);
        assert_eq!(fs.len(), 3, "{xml}");
        assert_eq!(fs[0].2, script, "the script comes back as written");
        let back = Case::parse(&fs[0].2, Path::new("back.case")).unwrap();
        assert_eq!(back.ops(), case.ops());
        assert_eq!(fs[1].2, xml_safe(&raw));
        assert!(
            fs[1].2.contains("\\u{1b}[1mbold") && fs[1].2.contains("\\r\n"),
            "{}",
            fs[1].2
        );
        assert!(fs[1].1.contains("odd\\u{7}.case"), "{}", fs[1].1);
        assert!(
            fs[2].1.contains("\\u{1b}[31mred") && fs[2].1.contains("\\u{1}"),
            "{}",
            fs[2].1
        );
        // The row without a finding passes.
        assert!(xml.contains("name=\"badfd\""), "{xml}");
    }
}
