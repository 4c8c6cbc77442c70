//! The kernel matrix's table: one row per kernel from the results `ci/matrix.sh` brought back
//! (the guest's fuzz JSON, replay and self-test summaries). A kernel that was not fetched, not
//! booted, or sent back less than every step is a failed row with the reason, never a pass.

use crate::fuzz::JsonSummary;
use serde::Serialize;
use std::path::Path;

/// What one kernel did.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Row {
    /// The matrix line (`5.10`, `host`, ...): the results directory's name.
    pub line: String,
    /// The kernel's release as its package names it (`Debian 5.10.244-1`), else `uname -r`.
    pub release: String,
    /// `ran`, or why not (`unavailable: ...`, `timeout: ...`, `no results: ...`).
    pub status: String,
    /// Corpus replay: cases passed, replayed, and left out as recorded for other kernels.
    pub replay: Option<(u64, u64, u64)>,
    /// Corpus replay: `# finding:` cases whose known kernel bug this kernel still has.
    pub findings: u64,
    /// Fuzz: cases.
    pub cases: Option<u64>,
    /// Fuzz: ops.
    pub ops: Option<u64>,
    /// Fuzz: distinct divergences.
    pub divergences: Option<usize>,
    /// Fuzz: divergences no corpus case knows.
    pub new: Option<usize>,
    /// Fuzz: coverage cells hit, and catalogued.
    pub coverage: Option<(usize, usize)>,
    /// Fuzz workers that failed outside any case.
    pub errors: Vec<String>,
    /// Self-test canaries caught and run (None: none were asked for).
    pub canaries: Option<(u64, u64)>,
    /// Seconds from boot to the results, as the host measured them.
    pub wall_s: Option<u64>,
    /// The kernel's dialects as it probed them (`mapcheck dialects`).
    pub dialects: Vec<(String, bool)>,
    /// What is wrong with this row (empty: the kernel passed).
    pub problems: Vec<String>,
    /// Why the row was skipped (a kernel that could not be fetched, where that is allowed).
    pub skipped: Option<String>,
}

impl Row {
    /// `read`, where `unavailable_ok` makes a kernel that could not be fetched a skip (said
    /// on its row and counted) instead of a failure; a boot or results failure still fails.
    pub fn read_allowing(dir: &Path, unavailable_ok: bool) -> Row {
        let mut r = Row::read(dir);
        if unavailable_ok && r.status.starts_with("unavailable") {
            r.skipped = Some(r.status.clone());
            r.problems.clear();
        }
        r
    }

    /// Read one kernel's results directory.
    pub fn read(dir: &Path) -> Row {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let mut r = Row {
            line: dir
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            status: read("status").map_or("no status (not run)".into(), |s| s.trim().into()),
            wall_s: read("wall_s").and_then(|s| s.trim().parse().ok()),
            ..Row::default()
        };
        r.release = read("version")
            .and_then(|v| debian_release(&v))
            .or_else(|| read("release").map(|s| s.trim().to_string()))
            .unwrap_or_else(|| "?".into());
        if r.status != "ran" {
            r.problems.push(r.status.clone());
            return r;
        }
        // The steps asked for (all four when the results do not say).
        let steps = read("steps").unwrap_or_else(|| "dialects replay fuzz selftest".into());
        let wants = |s: &str| steps.split_whitespace().any(|w| w == s);
        match read("dialects.txt").map(|t| parse_dialects(&t)) {
            Some(d) if !d.is_empty() => r.dialects = d,
            _ if !wants("dialects") => {}
            _ => r.problems.push("no dialects probed".into()),
        }
        if read("complete").is_none() {
            r.problems.push("the guest stopped before its last step".into());
        }
        match read("replay.txt").as_deref().and_then(replay_counts) {
            Some((passed, all, other, findings)) => {
                r.replay = Some((passed, all, other));
                r.findings = findings;
                if passed + other + findings != all || passed == 0 {
                    r.problems.push(format!(
                        "corpus replay: {} of {all} failed",
                        all - passed - other - findings
                    ));
                }
            }
            None if !wants("replay") => {}
            None => r.problems.push("no corpus replay summary".into()),
        }
        match read("fuzz.json").map(|t| serde_json::from_str::<JsonSummary>(&t)) {
            Some(Ok(j)) => {
                r.cases = Some(j.cases);
                r.ops = Some(j.ops);
                r.divergences = Some(j.divergences);
                r.new = Some(j.new);
                r.coverage = Some((j.coverage.hit, j.coverage.cells));
                if j.divergences > 0 {
                    r.problems.push(format!("{} divergences", j.divergences));
                }
                if j.cases == 0 {
                    r.problems.push("fuzz ran no case".into());
                }
                if !j.errors.is_empty() {
                    r.problems
                        .push(format!("fuzz worker errors: {}", j.errors.join("; ")));
                }
                r.errors = j.errors;
            }
            Some(Err(e)) => r.problems.push(format!("fuzz.json unreadable: {e}")),
            None if !wants("fuzz") => {}
            None => r.problems.push("no fuzz summary".into()),
        }
        if let Some(t) = read("selftest.txt") {
            match canary_counts(&t) {
                Some((caught, all)) => {
                    r.canaries = Some((caught, all));
                    if caught != all {
                        r.problems
                            .push(format!("{} of {all} canaries missed", all - caught));
                    }
                }
                None => r.problems.push("no self-test summary".into()),
            }
        }
        r
    }
}

/// `mapcheck dialects`' lines: `name yes|no  # change`.
pub fn dialect_lines(p: &mapcheck_model::Profile) -> String {
    let mut s = String::new();
    for ((name, has), (_, change)) in p.dialects().iter().zip(mapcheck_model::profile::DIALECTS) {
        s.push_str(&format!(
            "{name:<28} {:<4} # {change}\n",
            if *has { "yes" } else { "no" }
        ));
    }
    s
}

fn parse_dialects(text: &str) -> Vec<(String, bool)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_string();
            let has = match w.next()? {
                "yes" => true,
                "no" => false,
                _ => return None,
            };
            Some((name, has))
        })
        .collect()
}

/// The dialect table: one row per dialect (the change behind it, the corpus cases that pin
/// it), one column per kernel.
pub fn dialect_table(rows: &[Row], corpus: &Path) -> String {
    let mut cases: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in crate::corpus::collect(&[corpus.to_path_buf()]).unwrap_or_default() {
        let Ok(c) = crate::corpus::Case::load(&f) else {
            continue;
        };
        for (_, v) in c.header.iter().filter(|(k, _)| k == "dialect") {
            for w in v.split_whitespace() {
                let name = w.strip_prefix("no-").unwrap_or(w);
                let rel = f.strip_prefix(corpus).unwrap_or(&f).display().to_string();
                cases.entry(name.to_string()).or_default().push(rel);
            }
        }
    }
    let mut s = format!("{:<28}", "dialect");
    for r in rows {
        s.push_str(&format!(" {:>7}", r.line));
    }
    s.push_str("  change; cases\n");
    for (name, change) in mapcheck_model::profile::DIALECTS {
        s.push_str(&format!("{name:<28}"));
        for r in rows {
            let v = r.dialects.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            s.push_str(&format!(
                " {:>7}",
                match v {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                }
            ));
        }
        let pinned = cases.get(name).map_or("none".into(), |v| v.join(" "));
        s.push_str(&format!("  {change}; {pinned}\n"));
    }
    s
}

/// `Debian 5.10.244-1` from /proc/version's `... #1 SMP Debian 5.10.244-1 (2025-...)`.
fn debian_release(version: &str) -> Option<String> {
    let i = version.rfind("Debian ")?;
    let rest = &version[i + "Debian ".len()..];
    let v = rest.split_whitespace().next()?;
    Some(format!("Debian {v}"))
}

/// `(passed, replayed, not for this kernel, known kernel findings)` from replay's last line:
/// `replayed N cases (M ops) on R: P passed, F failed, S not for this kernel, K known kernel
/// findings` (K absent before findings were counted: 0).
fn replay_counts(text: &str) -> Option<(u64, u64, u64, u64)> {
    let l = text.lines().rev().find(|l| l.starts_with("replayed "))?;
    let all = l.split_whitespace().nth(1)?.parse().ok()?;
    let (_, tail) = l.rsplit_once(": ")?;
    let mut parts = tail
        .split(", ")
        .map(|p| p.split_whitespace().next()?.parse::<u64>().ok());
    let passed = parts.next()??;
    let _failed = parts.next()??;
    let other = parts.next()??;
    let findings = parts.next().unwrap_or(Some(0))?;
    Some((passed, all, other, findings))
}

/// `(caught, all)` from the self-test's last line: `N/M canaries caught and shrunk`.
fn canary_counts(text: &str) -> Option<(u64, u64)> {
    let l = text
        .lines()
        .rev()
        .find(|l| l.ends_with("canaries caught and shrunk"))?;
    let (n, m) = l.split_whitespace().next()?.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

/// The table, one row per kernel.
pub fn table(rows: &[Row]) -> String {
    let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let mut s = format!(
        "{:<7} {:<26} {:>9} {:>9} {:>11} {:>5} {:>15} {:>8} {:>6}  {}\n",
        "line", "release", "replay", "cases", "ops", "div", "coverage", "canaries", "wall", "status"
    );
    for r in rows {
        let status = if let Some(why) = &r.skipped {
            format!("SKIPPED: {why}")
        } else if r.problems.is_empty() {
            "pass".to_string()
        } else {
            format!("FAIL: {}", r.problems.join("; "))
        };
        s.push_str(&format!(
            "{:<7} {:<26} {:>9} {:>9} {:>11} {:>5} {:>15} {:>8} {:>6}  {status}\n",
            r.line,
            r.release,
            opt(r.replay.map(|(p, a, o)| match r.findings {
                0 => format!("{p}/{}", a - o),
                k => format!("{p}/{}+{k}K", a - o - k),
            })),
            opt(r.cases.map(|c| c.to_string())),
            opt(r.ops.map(|c| c.to_string())),
            opt(r.divergences.map(|c| c.to_string())),
            opt(r
                .coverage
                .map(|(h, c)| format!("{h}/{c} {:.1}%", 100.0 * h as f64 / c.max(1) as f64))),
            opt(r.canaries.map(|(p, a)| format!("{p}/{a}"))),
            opt(r.wall_s.map(|w| format!("{w}s"))),
        ));
    }
    if rows.iter().any(|r| r.findings > 0) {
        s.push_str("replay +NK: N `# finding:` cases show a known kernel bug still there (not failures; see each kernel's replay.txt)\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (f, t) in files {
            std::fs::write(d.path().join(f), t).unwrap();
        }
        d
    }

    /// A kernel that booted and finished (`status` ran, `complete`), with these results.
    fn ran_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let mut all = vec![("status", "ran\n"), ("complete", "done\n")];
        all.extend_from_slice(files);
        dir_with(&all)
    }

    fn fuzz_json(divergences: usize, cases: u64) -> String {
        format!(
            r#"{{"seed":"0x1","worker_seeds":[],"elapsed_s":30.0,"cases":{cases},"ops":9000,
            "interrupted":false,"divergences":{divergences},"new":{divergences},"duplicates":0,
            "errors":[],"coverage":{{"hit":400,"cells":487,"missing":[]}},"findings":[]}}"#
        )
    }

    const VERSION: &str = "Linux version 5.10.0-46-cloud-amd64 (debian-kernel@lists.debian.org) \
        (gcc-10 (Debian 10.2.1-6) 10.2.1 20210110) #1 SMP Debian 5.10.244-1 (2025-09-29)\n";

    #[test]
    fn a_passing_kernel_reads_as_a_pass() {
        let replay = "x.case  ok\nreplayed 90 cases (1359 ops) on 5.10.0-46: 88 passed, 0 failed, 2 not for this kernel\n";
        let d = ran_with(&[
            ("version", VERSION),
            ("replay.txt", replay),
            ("fuzz.json", &fuzz_json(0, 120)),
            ("selftest.txt", "fault ...\n5/5 canaries caught and shrunk\n"),
            ("wall_s", "95\n"),
            ("dialects.txt", "freeze-checks-write no # x\nxdp-frags yes # y\n"),
        ]);
        let r = Row::read(d.path());
        assert_eq!(r.problems, Vec::<String>::new());
        assert_eq!(r.release, "Debian 5.10.244-1");
        assert_eq!(r.replay, Some((88, 90, 2)));
        assert_eq!(
            (r.cases, r.coverage, r.canaries),
            (Some(120), Some((400, 487)), Some((5, 5)))
        );
        assert_eq!(
            r.dialects,
            vec![("freeze-checks-write".into(), false), ("xdp-frags".into(), true)]
        );
        let t = dialect_table(std::slice::from_ref(&r), Path::new("/nonexistent"));
        assert!(
            t.lines()
                .any(|l| l.starts_with("freeze-checks-write") && l.contains(" no ")),
            "{t}"
        );
        assert!(table(&[r]).lines().nth(1).unwrap().ends_with("pass"));
    }

    /// Every way a kernel can fall short is a failed row with its reason.
    #[test]
    fn anything_short_of_every_step_fails_the_row() {
        let replay_fail = "replayed 88 cases (1359 ops) on r: 85 passed, 3 failed, 0 not for this kernel\n";
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (vec![("status", "unavailable: no package".into())], "unavailable"),
            (vec![("status", "timeout: no results".into())], "timeout"),
            (vec![], "no status"),
            (
                vec![
                    ("status", "ran".into()),
                    ("replay.txt", replay_fail.into()),
                    ("fuzz.json", fuzz_json(0, 5)),
                ],
                "stopped before its last step",
            ),
            (
                vec![
                    ("status", "ran".into()),
                    ("complete", "".into()),
                    ("replay.txt", replay_fail.into()),
                    ("fuzz.json", fuzz_json(0, 5)),
                ],
                "3 of 88 failed",
            ),
            (
                vec![
                    ("status", "ran".into()),
                    ("complete", "".into()),
                    ("fuzz.json", fuzz_json(0, 5)),
                ],
                "no corpus replay",
            ),
            (
                vec![
                    ("status", "ran".into()),
                    ("complete", "".into()),
                    (
                        "replay.txt",
                        "replayed 1 cases (1 ops) on r: 1 passed, 0 failed, 0 not for this kernel".into(),
                    ),
                    ("fuzz.json", fuzz_json(2, 5)),
                ],
                "2 divergences",
            ),
            (
                vec![
                    ("status", "ran".into()),
                    ("complete", "".into()),
                    (
                        "replay.txt",
                        "replayed 1 cases (1 ops) on r: 1 passed, 0 failed, 0 not for this kernel".into(),
                    ),
                    ("fuzz.json", fuzz_json(0, 0)),
                ],
                "no case",
            ),
            (
                vec![
                    ("status", "ran".into()),
                    ("complete", "".into()),
                    (
                        "replay.txt",
                        "replayed 1 cases (1 ops) on r: 1 passed, 0 failed, 0 not for this kernel".into(),
                    ),
                    ("fuzz.json", "{".into()),
                ],
                "unreadable",
            ),
            (
                vec![
                    ("status", "ran".into()),
                    ("complete", "".into()),
                    (
                        "replay.txt",
                        "replayed 1 cases (1 ops) on r: 1 passed, 0 failed, 0 not for this kernel".into(),
                    ),
                    ("fuzz.json", fuzz_json(0, 5)),
                    ("selftest.txt", "4/5 canaries caught and shrunk".into()),
                ],
                "1 of 5 canaries missed",
            ),
        ];
        for (files, why) in cases {
            let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
            let d = dir_with(&files);
            let r = Row::read(d.path());
            assert!(
                r.problems.iter().any(|p| p.contains(why)),
                "{files:?}: {:?} should say {why}",
                r.problems
            );
            assert!(table(&[r]).contains("FAIL"));
        }
    }

    /// Only the steps asked for are required; an unfetchable kernel is a skip only where
    /// that is allowed, and never for a kernel that booted and failed.
    #[test]
    fn steps_and_unavailable_kernels() {
        let replay = "replayed 2 cases (9 ops) on r: 2 passed, 0 failed, 0 not for this kernel\n";
        let d = ran_with(&[
            ("steps", "dialects replay\n"),
            ("replay.txt", replay),
            ("dialects.txt", "xdp-frags no # y\n"),
        ]);
        assert_eq!(Row::read(d.path()).problems, Vec::<String>::new());
        let d = ran_with(&[
            ("steps", "dialects replay fuzz\n"),
            ("replay.txt", replay),
            ("dialects.txt", "xdp-frags no # y\n"),
        ]);
        assert!(Row::read(d.path())
            .problems
            .iter()
            .any(|p| p.contains("no fuzz summary")));
        let gone = dir_with(&[("status", "unavailable: download of x failed\n")]);
        assert!(!Row::read_allowing(gone.path(), false).problems.is_empty());
        let r = Row::read_allowing(gone.path(), true);
        assert!(r.problems.is_empty() && r.skipped.is_some());
        assert!(table(&[r]).contains("SKIPPED: unavailable"));
        let hung = dir_with(&[("status", "timeout: no results\n")]);
        assert!(!Row::read_allowing(hung.path(), true).problems.is_empty());
    }

    /// `# finding:` cases replay's summary counts apart are neither passes nor failures of
    /// the row: shown as `+NK` with a legend, while a failed case still fails it.
    #[test]
    fn known_kernel_findings_are_counted_apart() {
        let summary = |failed: u64| {
            format!(
                "replayed 91 cases (9 ops) on r: {} passed, {failed} failed, 1 not for this kernel, 1 known kernel findings\n",
                89 - failed
            )
        };
        let row = |failed| {
            let replay = summary(failed);
            let d = ran_with(&[("steps", "replay\n"), ("replay.txt", &replay)]);
            Row::read(d.path())
        };
        let r = row(0);
        assert_eq!((r.replay, r.findings), (Some((89, 91, 1)), 1));
        assert_eq!(r.problems, Vec::<String>::new());
        let t = table(&[r]);
        assert!(
            t.contains(" 89/89+1K ") && t.contains("known kernel bug still there"),
            "{t}"
        );
        let r = row(2);
        assert_eq!(r.problems, vec!["corpus replay: 2 of 91 failed".to_string()]);
        // A summary from before findings were counted reads as none.
        assert_eq!(
            replay_counts("replayed 2 cases (9 ops) on r: 2 passed, 0 failed, 0 not for this kernel"),
            Some((2, 2, 0, 0))
        );
        // No finding, no legend.
        let plain = ran_with(&[
            ("steps", "replay\n"),
            (
                "replay.txt",
                "replayed 2 cases (9 ops) on r: 2 passed, 0 failed, 0 not for this kernel\n",
            ),
        ]);
        assert!(!table(&[Row::read(plain.path())]).contains("known kernel bug"));
    }
}
