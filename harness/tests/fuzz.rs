//! `mapcheck fuzz` under abuse: killed with SIGKILL at random moments with a canary fault on,
//! every finding it reported is on disk and parses, and no partial file exists; stopped with
//! SIGTERM, it writes its summary. In its own binary: it starts and kills whole process trees.

use mapcheck::corpus::Case;
use mapcheck::env::skip_without_kernel;
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

fn workers_left() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            cmd.contains("__fuzz-worker") && !stat.contains(") Z ")
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
        while workers_left() > 0 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(workers_left(), 0, "workers outlived a killed fuzz");
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
