//! `mapcheck fuzz` under abuse: killed with SIGKILL at random moments with a canary fault on,
//! every finding it reported is on disk and parses, and no partial file exists; stopped with
//! SIGTERM, it writes its summary; a hang at the end of the budget is reported lost; only a
//! signed corpus case makes a finding known. In its own binary: it kills whole process trees.

use mapcheck::corpus::Case;
use mapcheck::env::skip_without_kernel;
use mapcheck::fuzz::JsonSummary;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fuzz(out: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mapcheck"))
        .args([
            "fuzz",
            "--budget",
            "60s",
            "--jobs",
            "2",
            "--segment",
            "2s",
            "--map",
            "array",
        ])
        .args(["--fault", "array-noexist-succeeds", "--status-every", "1s"])
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Collects stdout lines in a thread (the pipe must not fill up).
fn lines(child: &mut std::process::Child) -> Arc<Mutex<Vec<String>>> {
    let out = child.stdout.take().unwrap();
    let v = Arc::new(Mutex::new(Vec::new()));
    let w = v.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            w.lock().unwrap().push(l);
        }
    });
    v
}

/// Live fuzz workers writing to `out` (other tests, and other checkouts, run their own).
fn workers_left(out: &Path) -> usize {
    let out = out.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            cmd.contains("__fuzz-worker") && cmd.contains(out) && !stat.contains(") Z ")
        })
        .count()
}

/// Every file in `dir` (hidden ones too) is a whole, parseable case.
fn all_files_whole(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let p = e.path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.is_empty(), "empty file {}", p.display());
        Case::parse(&text, &p).unwrap_or_else(|e| panic!("partial or corrupt file: {e}"));
        n += 1;
    }
    n
}

#[test]
fn sigkill_at_any_moment_loses_no_reported_case() {
    if skip_without_kernel("sigkill_at_any_moment_loses_no_reported_case") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Kill moments spread over start-up, the first finding, shrinking and later segments.
    let mut total_reported = 0;
    for (i, ms) in [300u64, 1100, 2300, 3700, 5200].into_iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        let mut child = fuzz(&out, &[]);
        let got = lines(&mut child);
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let reported: Vec<PathBuf> = got
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("FOUND"))
            .filter_map(|l| l.rsplit(" -> ").next().map(PathBuf::from))
            .collect();
        for p in &reported {
            let case = Case::load(p).unwrap_or_else(|e| panic!("reported, then: {e}"));
            assert!(case.get("signature").is_some(), "{}", p.display());
        }
        total_reported += reported.len();
        let files = all_files_whole(&out);
        assert!(files >= reported.len());
        // The workers die with their parent (PR_SET_PDEATHSIG).
        let t = Instant::now();
        while workers_left(&out) > 0 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(workers_left(&out), 0, "workers outlived a killed fuzz");
    }
    assert!(
        total_reported > 0,
        "no kill came after a finding: the test proved nothing"
    );
}

#[test]
fn sigterm_stops_cleanly_with_the_summary_written() {
    if skip_without_kernel("sigterm_stops_cleanly_with_the_summary_written") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let junit = dir.path().join("junit.xml");
    let out = dir.path().join("found");
    let mut child = fuzz(
        &out,
        &[
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let got = lines(&mut child);
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    let status = child.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(45), "{:?}", t.elapsed());
    // A new finding (the canary) makes the exit status 1.
    assert_eq!(status.code(), Some(1), "{:?}", got.lock().unwrap());
    let summary = std::fs::read_to_string(&json).unwrap();
    assert!(summary.contains("\"interrupted\": true"), "{summary}");
    assert!(
        summary.contains("array/update: allowed ok; observed EEXIST"),
        "{summary}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("classname=\"mapcheck.fuzz.array\""), "{xml}");
    assert!(xml.contains("<failure"), "{xml}");
    assert!(all_files_whole(&out) >= 1);
    let log = got.lock().unwrap().join("\n");
    assert!(
        log.contains("run seed") && log.contains("worker 1: seed"),
        "{log}"
    );
    assert!(log.contains("] cases"), "status lines: {log}");
}

/// A short fuzz run to the end of its budget: exit status and the parsed JSON summary.
fn fuzz_run(
    dir: &Path,
    out: &Path,
    corpus: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, JsonSummary, String, Duration) {
    let json = dir.join("summary.json");
    let junit = dir.join("junit.xml");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_mapcheck"))
        .args(["fuzz", "--jobs", "1", "--segment", "2s", "--map", "array"])
        .arg("--out")
        .arg(out)
        .arg("--corpus")
        .arg(corpus)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .args(extra)
        .envs(env.iter().copied())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let took = t.elapsed();
    let log = String::from_utf8_lossy(&o.stdout).into_owned();
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}\n{log}"));
    let summary: JsonSummary = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    // Every finding's script comes back out of the JUnit XML, read by an XML parser.
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    for f in &summary.findings {
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(f.signature.as_str()))
            .unwrap_or_else(|| panic!("no test case for {}\n{xml}", f.signature));
        let failure = node.first_element_child().unwrap();
        assert!(failure.has_tag_name("failure"), "{xml}");
        assert_eq!(failure.text(), Some(f.script.as_str()), "{xml}");
        assert_eq!(std::fs::read_to_string(&f.path).unwrap(), f.script);
    }
    (o.status.code(), summary, log, took)
}

#[test]
fn known_means_a_signed_corpus_case_not_an_earlier_finding_in_out() {
    if skip_without_kernel("known_means_a_signed_corpus_case_not_an_earlier_finding_in_out") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (out, corpus) = (dir.path().join("found"), dir.path().join("corpus"));
    std::fs::create_dir_all(&corpus).unwrap();
    let canary = [
        "--budget",
        "3s",
        "--fault",
        "array-noexist-succeeds",
        "--seed",
        "0x5",
        // Every op kind in every segment: the canary's update is always generated.
        "--no-swarm",
    ];
    let (code, first, log, _) = fuzz_run(dir.path(), &out, &corpus, &canary, &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        !first.findings.is_empty() && first.findings.iter().all(|f| f.new),
        "{log}"
    );
    // The same bugs again, their signatures in --out from the first run: still new.
    let (code, second, log, _) = fuzz_run(dir.path(), &out, &corpus, &canary, &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        second.findings.iter().all(|f| f.new && f.known_as.is_none()),
        "{log}"
    );
    // A corpus case with the signature makes it known; one without the header does not.
    let kept = &first.findings[0];
    std::fs::write(corpus.join("kept.case"), &kept.script).unwrap();
    let unsigned: String = second.findings[0]
        .script
        .lines()
        .filter(|l| !l.starts_with("# signature"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(corpus.join("unsigned.case"), unsigned).unwrap();
    let (code, third, log, _) = fuzz_run(dir.path(), &out, &corpus, &canary, &[]);
    let known: Vec<_> = third.findings.iter().filter(|f| !f.new).collect();
    assert!(known.iter().any(|f| f.signature == kept.signature), "{log}");
    for f in &third.findings {
        assert_eq!(f.new, f.signature != kept.signature, "{}", f.signature);
    }
    // Exit 1 exactly when something is new.
    let any_new = third.findings.iter().any(|f| f.new);
    assert_eq!(code, Some(any_new as i32), "{log}");
    assert_eq!(third.new, third.findings.iter().filter(|f| f.new).count());
}

/// Live processes (case processes included, whoever their parent is now) whose environment
/// holds `mark`.
fn marked_left(mark: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            String::from_utf8_lossy(&env).contains(mark) && !stat.contains(") Z ")
        })
        .map(|e| std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default())
        .collect()
}

#[test]
fn a_hang_at_the_end_of_the_budget_is_reported_lost() {
    if skip_without_kernel("a_hang_at_the_end_of_the_budget_is_reported_lost") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (out, corpus) = (dir.path().join("found"), dir.path().join("corpus"));
    std::fs::create_dir_all(&corpus).unwrap();
    // The case process stops answering at its first op, and the worker waits on it far
    // longer than the budget: the worker hangs in the middle of a case until it is killed.
    let mark = format!("MAPCHECK_TEST_MARK={}", dir.path().display());
    let env = [
        ("MAPCHECK_CHILD_HOOK", "hang:fdtable"),
        ("MAPCHECK_CHILD_TIMEOUT_MS", "600000"),
        ("MAPCHECK_TEST_MARK", mark.split_once('=').unwrap().1),
    ];
    let args = [
        "--budget",
        "3s",
        "--case-timeout",
        "4s",
        "--no-swarm",
        "--seed",
        "0x7",
    ];
    let (code, s, log, took) = fuzz_run(dir.path(), &out, &corpus, &args, &env);
    assert!(took < Duration::from_secs(20), "{took:?}\n{log}");
    assert_eq!(code, Some(1), "{log}");
    let lost: Vec<_> = s.findings.iter().filter(|f| f.kind == "lost").collect();
    assert_eq!(lost.len(), 1, "{log}");
    let f = lost[0];
    assert!(
        f.new && f.signature.starts_with("lost/hang: lost-"),
        "{}",
        f.signature
    );
    assert!(f.script.contains("after the end of the budget"), "{}", f.script);
    let case = Case::load(Path::new(&f.path)).unwrap();
    assert_eq!(case.get("signature"), Some(f.signature.as_str()));
    assert_eq!(case.steps[0].op.to_string(), "fdtable", "{}", f.script);
    assert!(log.contains("FOUND by worker 0: lost/hang"), "{log}");
    // The worker and its hung case process are gone, and so are their mounts and cgroups.
    assert_eq!(marked_left(&mark), Vec::<String>::new());
    assert_eq!(
        mapcheck::env::dead_bpffs_mounts(),
        Vec::<String>::new(),
        "left mounted"
    );
}
