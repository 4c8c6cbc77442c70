//! `mapcheck fuzz`: a time-budgeted search on every core. The parent starts one worker process
//! per job (each with a seed derived from the run seed), and each worker searches in segments,
//! every segment with its own swarm weights. The core idea: a worker streams each case's ops
//! before running it and saves every divergence atomically before saying so, so that neither
//! a crash, a hang nor `kill -9` loses a finding; the parent only merges, de-duplicates and
//! reports.

use crate::corpus::{write_atomic, Case};
use crate::kernel::Kernel;
use crate::lockstep::{family_of, search, set_hooks, Hooks, SearchConfig, Stats, STOP};
use mapcheck_model::gen::GenConfig;
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::{Op, World};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
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

/// The signature two findings share when they are the same bug: the family, op kind and
/// observed outcome of the failing step.
fn signature(case: &Case) -> Option<String> {
    case.get("signature").map(str::to_string)
}

/// Signatures of the cases already in `dir` (earlier runs' findings are not new).
fn known_signatures(dir: &Path) -> BTreeSet<String> {
    crate::corpus::collect(&[dir.to_path_buf()])
        .unwrap_or_default()
        .iter()
        .filter_map(|p| Case::load(p).ok())
        .filter_map(|c| signature(&c))
        .collect()
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
        on_failure: Some(Box::new(move |case: &Case| {
            // The unshrunk case, saved before shrinking starts; replaced by the minimal one.
            let name = format!("{}.case", case.name);
            if let Ok(p) = write_atomic(&out_dir, &name, &case.to_text()) {
                let _ = writeln!(std::io::stdout().lock(), "raw {}", p.display());
                *raw_hook.borrow_mut() = Some(p);
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
            let fam = family_of(&found.divergence.world_before, &found.divergence.op);
            let sig = format!(
                "{fam}/{}:{}",
                found.divergence.op.kind(),
                fmt_outcome(&found.divergence.observed)
                    .split(' ')
                    .next()
                    .unwrap_or("")
            );
            case.header.push(("signature".into(), sig.clone()));
            case.header
                .push(("worker".into(), format!("{} segment {segment}", a.index)));
            match write_atomic(&a.out, &format!("{}.case", case.name), &case.to_text()) {
                Ok(p) => {
                    // The minimal case is on disk: the unshrunk one has served its purpose.
                    if let Some(r) = raw.borrow_mut().take().filter(|r| *r != p) {
                        let _ = std::fs::remove_file(r);
                    }
                    say(&format!("found {} {sig} {}", p.display(), found.flaky as u8))
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
        st.cells
            .insert((fam.to_string(), op, o.to_string()), n.parse().ok()?);
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
    /// Arguments every worker gets besides seed, budget, segment and out (families, faults,
    /// --no-swarm).
    pub worker_args: Vec<String>,
    /// A status line this often.
    pub status_every: Duration,
    /// A worker silent this long in the middle of a case is hung.
    pub case_timeout: Duration,
    /// The world (profile, faults) for coverage.
    pub world: World,
    /// The coverage rows (map families and the others).
    pub rows: Vec<String>,
}

/// One thing a fuzz run found.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The case file.
    pub path: PathBuf,
    /// family/op:outcome, or lost/crash, lost/hang.
    pub signature: String,
    /// Which worker.
    pub worker: u32,
    /// Not among the cases that were in the output directory before.
    pub new: bool,
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
    /// Findings dropped as duplicates of an earlier one.
    pub duplicates: u64,
    /// Stopped by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// Outcome cells hit, catalogued, and the missing ones.
    pub coverage: (usize, usize, Vec<String>),
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
}

fn merged(workers: &[Worker]) -> Stats {
    let mut t = Stats::default();
    for w in workers {
        t.merge(&w.base);
        t.merge(&w.stats);
    }
    t
}

/// Runs the fuzz job: prints the seeds first, a status line every few seconds, each new
/// finding as it is reported (after the worker saved it), and returns the summary.
pub fn run(exe: &Path, a: &FuzzArgs) -> std::io::Result<Summary> {
    let start = Instant::now();
    std::fs::create_dir_all(&a.out)?;
    let mut known = known_signatures(&a.out);
    let mut findings: Vec<Finding> = Vec::new();
    let mut duplicates = 0u64;
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
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(w.child.id() as i32, libc::SIGTERM) };
            }
            stopping = Some(Instant::now());
        }
        // Past the budget (plus time to shrink) or the stop grace period: no more waiting.
        let overdue = start.elapsed() > a.budget + Duration::from_secs(60)
            || stopping.is_some_and(|t| t.elapsed() > Duration::from_secs(30));
        if overdue {
            for w in workers.iter_mut().filter(|w| !w.dead) {
                let _ = w.child.kill();
            }
        }
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
                handle_line(w, &line, &mut known, &mut findings, &mut duplicates);
            }
            let hung = w.inflight.is_some() && w.last_line.elapsed() > a.case_timeout;
            if hung {
                let _ = w.child.kill();
            }
            if eof || hung {
                let status = w.child.wait().map_or("unknown".into(), |s| s.to_string());
                w.dead = true;
                if !w.done && stopping.is_none() && !overdue {
                    let why = if hung {
                        format!(
                            "worker {} hung: no answer for {:?} during this case",
                            w.index, a.case_timeout
                        )
                    } else {
                        format!("worker {} died ({status}) during this case", w.index)
                    };
                    let kind = if hung { "hang" } else { "crash" };
                    lost_case(w, a, kind, &why, &mut known, &mut findings, &mut duplicates);
                    // A fresh worker for the rest of the budget.
                    let left = a.budget.saturating_sub(start.elapsed());
                    if left > Duration::from_secs(1) {
                        w.restarts += 1;
                        let seed = derive(w.seed, 1000 + w.restarts as u64);
                        println!("worker {}: restarted with seed {seed:#x}", w.index);
                        if let Ok(c) = spawn_worker(exe, a, w.index, seed, left) {
                            w.child = c;
                            w.base.merge(&w.stats);
                            w.stats = Stats::default();
                            w.buf.clear();
                            w.inflight = None;
                            w.dead = false;
                            w.last_line = Instant::now();
                        }
                    }
                }
            }
        }
        if last_status.elapsed() >= a.status_every {
            print_status(start, &workers, &findings, a);
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
        findings,
        duplicates,
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

fn handle_line(
    w: &mut Worker,
    line: &str,
    known: &mut BTreeSet<String>,
    findings: &mut Vec<Finding>,
    duplicates: &mut u64,
) {
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
        "found" => {
            let mut p = rest.split(' ');
            let path = PathBuf::from(p.next().unwrap_or(""));
            let sig = p.next().unwrap_or("?").to_string();
            let flaky = p.next() == Some("1");
            report(w.index, path, sig, flaky, known, findings, duplicates);
        }
        "done" => {
            w.done = true;
            w.inflight = None;
        }
        _ => {}
    }
}

/// De-duplicates a saved finding and prints it; a duplicate's file is removed.
fn report(
    worker: u32,
    path: PathBuf,
    sig: String,
    flaky: bool,
    known: &mut BTreeSet<String>,
    findings: &mut Vec<Finding>,
    duplicates: &mut u64,
) {
    let script = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(first) = findings.iter().find(|f| f.signature == sig || f.path == path) {
        *duplicates += 1;
        if first.path != path {
            let _ = std::fs::remove_file(&path);
        }
        println!(
            "worker {worker}: another {sig} (duplicate of {}), not kept",
            first.path.display()
        );
        return;
    }
    let new = known.insert(sig.clone());
    println!(
        "FOUND by worker {worker}: {sig}{}{} -> {}",
        if flaky { " (flaky)" } else { "" },
        if new { "" } else { " (already in the corpus)" },
        path.display()
    );
    for l in script.lines().filter(|l| !l.starts_with('#')) {
        println!("    {l}");
    }
    let _ = std::io::stdout().flush();
    findings.push(Finding {
        path,
        signature: sig,
        worker,
        new,
        script,
    });
}

/// A worker died or hung: its in-flight case is written as a script and reported.
fn lost_case(
    w: &Worker,
    a: &FuzzArgs,
    kind: &str,
    why: &str,
    known: &mut BTreeSet<String>,
    findings: &mut Vec<Finding>,
    duplicates: &mut u64,
) {
    let ops = w.inflight.clone().unwrap_or_default();
    let body: String = ops.iter().map(|o| format!("{o}\n")).collect();
    let name = format!("lost-{:016x}", crate::lockstep::fnv(body.as_bytes()));
    let sig = format!("lost/{kind}");
    let text = format!(
        "# case: {name}\n# why: {why}\n# kernel: {}\n# seed: {:#x}\n# signature: {sig}\n{body}",
        a.world.profile.release, w.segment_seed
    );
    match write_atomic(&a.out, &format!("{name}.case"), &text) {
        Ok(p) => report(w.index, p, sig, false, known, findings, duplicates),
        Err(e) => eprintln!("mapcheck fuzz: cannot write the lost case: {e}"),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The summary as JSON, for the CI system.
pub fn to_json(s: &Summary) -> String {
    let findings: Vec<String> = s
        .findings
        .iter()
        .map(|f| {
            format!(
                "{{\"path\": {}, \"signature\": {}, \"worker\": {}, \"new\": {}, \"script\": {}}}",
                json_str(&f.path.display().to_string()),
                json_str(&f.signature),
                f.worker,
                f.new,
                json_str(&f.script)
            )
        })
        .collect();
    let seeds: Vec<String> = s
        .worker_seeds
        .iter()
        .map(|x| json_str(&format!("{x:#x}")))
        .collect();
    let missing: Vec<String> = s.coverage.2.iter().map(|m| json_str(m)).collect();
    format!(
        "{{\n  \"seed\": {},\n  \"worker_seeds\": [{}],\n  \"elapsed_s\": {:.1},\n  \"cases\": {},\n  \"ops\": {},\n  \
         \"interrupted\": {},\n  \"divergences\": {},\n  \"new\": {},\n  \"duplicates\": {},\n  \
         \"coverage\": {{\"hit\": {}, \"cells\": {}, \"missing\": [{}]}},\n  \"findings\": [{}]\n}}\n",
        json_str(&format!("{:#x}", s.seed)),
        seeds.join(", "),
        s.elapsed.as_secs_f64(),
        s.stats.cases,
        s.stats.ops,
        s.interrupted,
        s.findings.len(),
        s.findings.iter().filter(|f| f.new).count(),
        s.duplicates,
        s.coverage.0,
        s.coverage.1,
        missing.join(", "),
        findings.join(",\n    ")
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per coverage row (map family, objects, fdtable, ...), failing
/// with the minimal script of each finding in that row.
pub fn to_junit(s: &Summary, rows: &[String]) -> String {
    let mut by_row: BTreeMap<String, Vec<&Finding>> = rows.iter().map(|r| (r.clone(), Vec::new())).collect();
    for f in &s.findings {
        let row = f.signature.split('/').next().unwrap_or("other").to_string();
        by_row.entry(row).or_default().push(f);
    }
    let failures = by_row.values().filter(|v| !v.is_empty()).count();
    let mut o = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"mapcheck-fuzz\" tests=\"{}\" \
         failures=\"{failures}\" time=\"{:.1}\">\n    <properties><property name=\"seed\" value=\"{:#x}\"/>\
         <property name=\"cases\" value=\"{}\"/><property name=\"ops\" value=\"{}\"/></properties>\n",
        by_row.len(),
        s.elapsed.as_secs_f64(),
        s.seed,
        s.stats.cases,
        s.stats.ops
    );
    for (row, fs) in &by_row {
        o.push_str(&format!(
            "    <testcase classname=\"mapcheck.fuzz\" name=\"{}\"",
            xml(row)
        ));
        if fs.is_empty() {
            o.push_str("/>\n");
            continue;
        }
        o.push_str(">\n");
        for f in fs {
            o.push_str(&format!(
                "      <failure message=\"{}\" type=\"divergence\">{}</failure>\n",
                xml(&format!("{} ({})", f.signature, f.path.display())),
                xml(&f.script)
            ));
        }
        o.push_str("    </testcase>\n");
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}
