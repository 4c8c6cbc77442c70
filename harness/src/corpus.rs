//! Case scripts on disk: parsing with file-and-line errors, atomic writes, and replay.
//! The core idea: a case is checked against the model's preconditions before it runs, so a
//! script the model no longer accepts is reported as stale instead of run.

use crate::kernel::Kernel;
use crate::lockstep::{run_routed, Divergence, Stats};
use crate::sys::Sys;
use mapcheck_model::gen::predict;
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::text::parse_line;
use mapcheck_model::{Allowed, Expect, Op, Outcome, World};
use std::fmt;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One line of a script.
#[derive(Clone, Debug)]
pub struct Step {
    /// The op.
    pub op: Op,
    /// The outcome the script recorded, if any.
    pub expect: Option<Expect>,
    /// 1-based line in the file.
    pub line: usize,
}

/// A named op script with its provenance: the unit of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    /// `# case:` header, else the file stem.
    pub name: String,
    /// `# key: value` header lines in order (case, why, kernel, seed, ...).
    pub header: Vec<(String, String)>,
    /// The ops.
    pub steps: Vec<Step>,
    /// Where it was read from or written to.
    pub path: Option<PathBuf>,
}

/// A script that could not be read: file, line and what was expected.
#[derive(Debug)]
pub struct CaseError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, 0 for the whole file.
    pub line: usize,
    /// What was wrong.
    pub msg: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.msg)
    }
}

impl Case {
    /// Parses a script's text.
    pub fn parse(text: &str, path: &Path) -> Result<Case, CaseError> {
        let mut header = Vec::new();
        let mut steps = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(comment) = line.strip_prefix('#') {
                if let Some((k, v)) = comment.split_once(':') {
                    let k = k.trim();
                    if !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        header.push((k.to_string(), v.trim().to_string()));
                    }
                }
                continue;
            }
            // A trailing comment after the op.
            let body = line.split(" #").next().unwrap_or("").trim();
            if body.is_empty() {
                continue;
            }
            let (op, expect) = parse_line(body).map_err(|e| CaseError {
                path: path.to_path_buf(),
                line: i + 1,
                msg: e.0,
            })?;
            steps.push(Step {
                op,
                expect,
                line: i + 1,
            });
        }
        if steps.is_empty() {
            return Err(CaseError {
                path: path.to_path_buf(),
                line: 0,
                msg: "no ops in this script".into(),
            });
        }
        let name = header
            .iter()
            .find(|(k, _)| k == "case")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                path.file_stem()
                    .map_or("case".into(), |s| s.to_string_lossy().into_owned())
            });
        Ok(Case {
            name,
            header,
            steps,
            path: Some(path.to_path_buf()),
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Case, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|e| CaseError {
            path: path.to_path_buf(),
            line: 0,
            msg: e.to_string(),
        })?;
        Case::parse(&text, path)
    }

    /// A header value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The script text (what `parse` reads back).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.header {
            s.push_str(&format!("# {k}: {v}\n"));
        }
        for st in &self.steps {
            s.push_str(&st.op.to_string());
            if let Some(e) = &st.expect {
                s.push_str(&format!(" => {e}"));
            }
            s.push('\n');
        }
        s
    }

    /// The ops alone.
    pub fn ops(&self) -> Vec<Op> {
        self.steps.iter().map(|s| s.op.clone()).collect()
    }
}

/// Writes `text` to `dir/name` atomically (temp file in the same directory, fsync, rename):
/// a crash leaves either no file or the whole file.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    // An O_TMPFILE file has no name until it is complete and linked in, so a kill at any
    // moment leaves either nothing or the whole file. linkat refuses to replace: write the
    // unnamed file's link under a fresh name, then rename over the target.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o644)
        .open(dir)
    {
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
        let staged = dir.join(format!(".{name}.{}.{}", std::process::id(), crate::env::unique()));
        let staged_c = std::ffi::CString::new(staged.as_os_str().as_bytes())?;
        // SAFETY: two NUL-terminated paths, live for the call.
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                libc::AT_FDCWD,
                staged_c.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if r == 0 {
            // The staged name holds the complete text; the rename is atomic.
            std::fs::rename(&staged, &path)?;
            return Ok(path);
        }
    }
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// Every `*.case` file under the given paths (directories recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)?.collect::<Result<_, _>>()?;
            entries.sort_by_key(|e| e.path());
            let sub: Vec<PathBuf> = entries.iter().map(|e| e.path()).collect();
            for s in sub {
                if s.is_dir() || s.extension().is_some_and(|e| e == "case") {
                    out.extend(collect(&[s])?);
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The result of replaying one case.
#[derive(Debug)]
pub enum Verdict {
    /// Model and kernel agree on every op, the kernel did exactly what the script recorded,
    /// and the end-of-case observations (state, liveness, settled releases) agree.
    Pass,
    /// The model does not accept the script (a precondition fails before anything runs).
    Stale {
        /// Line of the op.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The kernel produced an outcome the model does not allow (at `line`, or at an
    /// end-of-case observation when `line` is 0).
    Diverged {
        /// Line of the op (0: an end-of-case observation).
        line: usize,
        /// The divergence.
        divergence: Box<Divergence>,
    },
    /// The kernel did something the model allows but the script did not record.
    Mismatch {
        /// Line of the op.
        line: usize,
        /// The op.
        op: Box<Op>,
        /// What the script recorded.
        recorded: Expect,
        /// What the kernel did.
        observed: Outcome,
        /// What the model allowed there.
        allowed: Box<Allowed>,
    },
    /// The kernel took another allowed path than the script assumed, and a later op no longer
    /// applies: the rest of the script did not run.
    Stopped {
        /// Line of the op that could not run.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The script could not be read (file and line in the message).
    Unreadable(String),
}

impl Verdict {
    /// Did the case pass?
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    /// One line for the replay summary.
    pub fn summary(&self) -> String {
        let at = |line: &usize| match line {
            0 => "at the end of the case".to_string(),
            l => format!("at line {l}"),
        };
        match self {
            Verdict::Pass => "ok".into(),
            Verdict::Stale { line, reason } => format!("STALE at line {line}: {reason}"),
            Verdict::Diverged { line, divergence: d } => format!(
                "DIVERGED {}: `{}`: model allowed {}, kernel returned {}{}",
                at(line),
                d.op,
                d.allowed,
                describe(&d.observed),
                d.allowed.explain(&d.observed).map_or(String::new(), |w| format!(" ({w})"))
            ),
            Verdict::Mismatch { line, op, recorded, observed, allowed } => {
                let set = if allowed.exactly().is_some() {
                    "model agrees with the kernel".to_string()
                } else {
                    format!("the model allows {allowed}: if the kernel may choose here, record `any`")
                };
                format!(
                    "MISMATCH at line {line}: `{op}`: script recorded {recorded}, kernel returned {} ({set})",
                    describe(observed)
                )
            }
            Verdict::Stopped { line, reason } => format!(
                "STOPPED at line {line}: the kernel took another path than the script recorded, and this op no longer applies: {reason}"
            ),
            Verdict::Unreadable(e) => format!("UNREADABLE: {e}"),
        }
    }
}

/// An outcome with the raw number for errors: `EEXIST (17)`.
pub fn describe(o: &Outcome) -> String {
    match o {
        Err(e) => format!("{e:?}"),
        ok => fmt_outcome(ok),
    }
}

/// Checks the script against the model alone: every op's precondition must hold.
pub fn stale(case: &Case, world: &World) -> Option<(usize, String)> {
    let mut w = world.clone();
    for st in &case.steps {
        if let Err(reason) = w.precondition(&st.op) {
            return Some((st.line, reason));
        }
        // Past a choice the script does not record, which path the kernel takes is for the
        // run to see (a later op that no longer applies is reported as STOPPED there).
        if !matches!(st.expect, Some(Expect::Exactly(_))) && w.allowed(&st.op).exactly().is_none() {
            return None;
        }
        // Follow the recorded outcome, so later ops see the world the recording saw (whether
        // this model allows that outcome is for the run to say, not a reason to call the
        // script stale).
        let o = match &st.expect {
            Some(Expect::Exactly(o)) => o.clone(),
            _ => predict(&w, &st.op),
        };
        w.apply(&st.op, &o);
    }
    None
}

/// What a replay observed, op by op: the kernel's outcome and what the model allowed.
pub struct Observed {
    /// The verdict.
    pub verdict: Verdict,
    /// (step index, kernel outcome, model's allowed set) for every op that ran.
    pub outcomes: Vec<(usize, Outcome, Allowed)>,
}

/// Replays one case in lockstep from `world`, end-of-case observations included.
pub fn replay<S: Sys>(case: &Case, world: &World, kernel: &mut Kernel<S>, stats: &mut Stats) -> Verdict {
    replay_observed(case, world, kernel, stats).verdict
}

/// `replay`, keeping what the kernel returned for each op (`replay --record`).
pub fn replay_observed<S: Sys>(
    case: &Case,
    world: &World,
    kernel: &mut Kernel<S>,
    stats: &mut Stats,
) -> Observed {
    let mut out = Observed {
        verdict: Verdict::Pass,
        outcomes: Vec::new(),
    };
    // A model that panics here panics in the run too, which reports it with its line.
    let stale = crate::lockstep::catch_panic(std::panic::AssertUnwindSafe(|| stale(case, world)));
    if let Ok(Some((line, reason))) = stale {
        out.verdict = Verdict::Stale { line, reason };
        return out;
    }
    let ops = case.ops();
    let run = run_routed(world.clone(), kernel, &ops, true, stats, None);
    // Every op the script names that ran, with the set the model allowed for it.
    let mut w = world.clone();
    for (i, observed) in run.outcomes.iter().enumerate().take(ops.len()) {
        if let Some(d) = run.divergence.as_ref().filter(|d| d.index == i) {
            out.outcomes.push((i, observed.clone(), d.allowed.clone()));
            break;
        }
        // The run got past this op, so the model answered it without a panic.
        out.outcomes.push((i, observed.clone(), w.allowed(&ops[i])));
        w.apply(&ops[i], observed);
    }
    let line_of = |i: usize| case.steps.get(i).map_or(0, |s| s.line);
    // Recorded outcomes are compared exactly, up to the first failure of any kind, in script
    // order; `any` alone leaves the choice to the model's set.
    for (i, observed, allowed) in &out.outcomes {
        let st = &case.steps[*i];
        let Some(rec) = &st.expect else { continue };
        let diverged_here = run.divergence.as_ref().is_some_and(|d| d.index == *i);
        if !diverged_here && !rec.matches(observed) {
            out.verdict = Verdict::Mismatch {
                line: st.line,
                op: Box::new(st.op.clone()),
                recorded: rec.clone(),
                observed: observed.clone(),
                allowed: Box::new(allowed.clone()),
            };
            return out;
        }
    }
    // The first failure in script order: a stop comes before the end-of-case observations.
    let stop_first = match (&run.stopped, &run.divergence) {
        (Some((i, _)), Some(d)) => *i <= d.index,
        (stopped, _) => stopped.is_some(),
    };
    if let (true, Some((i, reason))) = (stop_first, run.stopped) {
        out.verdict = Verdict::Stopped {
            line: line_of(i),
            reason,
        };
    } else if let Some(d) = run.divergence {
        out.verdict = Verdict::Diverged {
            line: line_of(d.index),
            divergence: Box::new(d),
        };
    }
    out
}

/// The script with the kernel's observed outcomes recorded (`replay --record`): every op that
/// ran gets what the kernel returned, except lines the script marks `any`; where the model
/// allowed more than one outcome the line says so in a comment, so that a person decides
/// whether to pin the kernel's choice or write `any`.
pub fn recorded_text(case: &Case, obs: &Observed) -> String {
    let mut s = String::new();
    for (k, v) in &case.header {
        s.push_str(&format!("# {k}: {v}\n"));
    }
    for (i, st) in case.steps.iter().enumerate() {
        s.push_str(&st.op.to_string());
        match obs.outcomes.iter().find(|(j, _, _)| *j == i) {
            Some(_) if st.expect == Some(Expect::Any) => s.push_str(" => any"),
            Some((_, o, allowed)) => {
                s.push_str(&format!(" => {}", Expect::of(o)));
                if matches!(allowed, Allowed::OneOf(..) | Allowed::AnyKeyExcept { .. }) {
                    s.push_str(&format!("  # the kernel chose; the model allows {allowed}"));
                }
            }
            None => {
                if let Some(e) = &st.expect {
                    s.push_str(&format!(" => {e}"));
                }
                s.push_str("  # did not run");
            }
        }
        s.push('\n');
    }
    if !obs.verdict.passed() {
        s.push_str(&format!("# replay: {}\n", obs.verdict.summary()));
    }
    s
}
