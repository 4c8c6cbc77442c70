//! Replay: a case script run in lockstep against the kernel, every recorded outcome compared
//! exactly (`any` alone leaves the choice to the model). The core idea: a replay fails loudly
//! wherever the kernel differs from the script or the model, and says at which line and how.

use crate::corpus::Case;
use crate::kernel::Kernel;
use crate::lockstep::{run_routed, Divergence, Stats};
use crate::report::describe;
use crate::sys::Sys;
use mapcheck_model::gen::predict;
use mapcheck_model::{Allowed, Expect, Op, Outcome, Profile, World};

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
    /// The case's `# dialect:` header names a dialect this kernel does not speak: its recorded
    /// outcomes are another kernel's. Neither a pass nor a failure; counted apart.
    NotForKernel(String),
    /// A `# finding:` case (what a correct kernel does, recorded where it held) mismatched
    /// where this kernel's model, too, expects the kernel's answer: the known kernel bug is
    /// still there. Reported on every replay, counted apart from failures.
    Finding {
        /// Line of the op.
        line: usize,
        /// The op.
        op: Box<Op>,
        /// What a correct kernel returns.
        recorded: Expect,
        /// What this kernel returned.
        observed: Outcome,
        /// The case's `# finding:` text.
        finding: String,
    },
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
            Verdict::NotForKernel(why) => format!("not for this kernel: {why}"),
            Verdict::Finding { line, op, recorded, observed, finding } => format!(
                "KERNEL FINDING at line {line}: `{op}`: a correct kernel returns {recorded}, this one returned {}: {finding}",
                describe(observed)
            ),
        }
    }
}

/// The `# dialect:` header: the kernel dialects (`Profile::dialects`) a case's recorded
/// outcomes hold on, `name` or `no-name`, separated by spaces; and `# cpus:`, the possible
/// CPUs they were recorded with. `Ok(Some(why))`: not for this
/// kernel. An unknown name is an error, not a skip (a typo would skip the case everywhere).
pub fn dialect_mismatch(case: &Case, p: &Profile) -> Result<Option<String>, String> {
    let mut why = Vec::new();
    for (_, v) in case.header.iter().filter(|(k, _)| k == "dialect") {
        for word in v.split_whitespace() {
            let (name, want) = match word.strip_prefix("no-") {
                Some(n) => (n, false),
                None => (word, true),
            };
            let Some(has) = p.dialect(name) else {
                let known: Vec<&str> = p.dialects().iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "# dialect: unknown dialect `{word}` (known: {}, each also as no-<name>)",
                    known.join(", ")
                ));
            };
            if has != want {
                why.push(format!(
                    "recorded where {word}; this kernel is {}{name}",
                    if has { "" } else { "no-" }
                ));
            }
        }
    }
    // `# cpus: N`: outcomes that depend on the number of possible CPUs (an LRU's per-CPU
    // lists and refill size, a per-CPU value's length).
    for (_, v) in case.header.iter().filter(|(k, _)| k == "cpus") {
        let Ok(n) = v.trim().parse::<u32>() else {
            return Err(format!("# cpus: expected a number of possible CPUs, found `{v}`"));
        };
        if n != p.possible_cpus {
            why.push(format!(
                "recorded with {n} possible CPUs; this machine has {}",
                p.possible_cpus
            ));
        }
    }
    Ok((!why.is_empty()).then(|| why.join("; ")))
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

/// The `# finding: <dialect>: <text>` header: the text where this kernel speaks the dialect
/// that has the bug (elsewhere the `# finding` lines are compared like any other), an error
/// for an unknown dialect or a header without one.
pub fn finding_here(case: &Case, p: &Profile) -> Result<Option<String>, String> {
    let Some(v) = case.get("finding") else {
        return Ok(None);
    };
    let at = case
        .path
        .as_ref()
        .map_or(String::new(), |p| format!("{}: ", p.display()));
    let (name, text) = v.split_once(':').ok_or(format!(
        "{at}# finding: needs `<dialect>: <what the kernel does wrong>`"
    ))?;
    let name = name.trim();
    let (dialect, want) = name.strip_prefix("no-").map_or((name, true), |n| (n, false));
    match p.dialect(dialect) {
        Some(v) if v == want => Ok(Some(text.trim().to_string())),
        Some(_) => Ok(None),
        None => Err(format!("{at}# finding: unknown dialect `{name}`")),
    }
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
    match dialect_mismatch(case, &world.profile) {
        Ok(None) => {}
        Ok(Some(why)) => {
            out.verdict = Verdict::NotForKernel(why);
            return out;
        }
        Err(e) => {
            let at = case
                .path
                .as_ref()
                .map_or(String::new(), |p| format!("{}: ", p.display()));
            out.verdict = Verdict::Unreadable(format!("{at}{e}"));
            return out;
        }
    }
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
    // An `info` the runner adds after a new map fd is no script op: when it diverges, the
    // script's ops before it are the ones that ran, and the line is the op that made the fd.
    let added = run
        .divergence
        .as_ref()
        .filter(|d| d.index < run.own && ops.get(d.index) != Some(&d.op))
        .map(|d| d.index);
    // After a stop the runner's end-of-case observations follow: they are no script line.
    let ran = added.unwrap_or(run.outcomes.len()).min(run.own).min(ops.len());
    for (i, observed) in run.outcomes.iter().enumerate().take(ran) {
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
    // order; `any` alone leaves the choice to the model's set. A finding's lines do not stop
    // the comparison: every other line must still hold.
    let mut found: Option<Verdict> = None;
    let finding = match finding_here(case, &world.profile) {
        Ok(f) => f,
        Err(e) => {
            out.verdict = Verdict::Unreadable(e);
            return out;
        }
    };
    for (i, observed, allowed) in &out.outcomes {
        let st = &case.steps[*i];
        let Some(rec) = &st.expect else { continue };
        let diverged_here = run.divergence.as_ref().is_some_and(|d| d.index == *i);
        if !diverged_here && !rec.matches(observed) {
            // A known kernel bug the model follows (a dialect), at a line marked `# finding`:
            // only where the model allows nothing but what the kernel did is it the finding.
            if let (Some(finding), true, Some(o)) = (&finding, st.finding, allowed.exactly()) {
                if o == observed {
                    found.get_or_insert(Verdict::Finding {
                        line: st.line,
                        op: Box::new(st.op.clone()),
                        recorded: rec.clone(),
                        observed: observed.clone(),
                        finding: finding.clone(),
                    });
                    continue;
                }
            }
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
            line: match added {
                Some(i) => line_of(i - 1),
                None => line_of(d.index),
            },
            divergence: Box::new(d),
        };
    } else if let Some(finding) = found {
        out.verdict = finding;
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
            // The recording of a finding's line is what a correct kernel does: kept.
            Some(_) if st.finding => {
                let rec = st.expect.as_ref().map_or("any".to_string(), Expect::to_string);
                s.push_str(&format!(" => {rec}  # finding"));
            }
            Some((_, o, allowed)) => {
                s.push_str(&format!(" => {}", Expect::of(o)));
                if matches!(
                    allowed,
                    Allowed::OneOf(..) | Allowed::AnyKeyExcept { .. } | Allowed::Either(..)
                ) {
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
