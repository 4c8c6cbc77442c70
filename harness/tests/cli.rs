//! The `mapcheck` binary's exit codes and messages.

use mapcheck::env::skip_without_kernel;
use std::process::Command;

fn mapcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mapcheck"))
        .args(args)
        .output()
        .expect("run mapcheck");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn bad_usage_is_exit_2() {
    assert_eq!(mapcheck(&["run", "--budget", "soon"]).0, 2);
    let (code, text) = mapcheck(&["run", "--map", "ringbuf"]);
    assert_eq!(code, 2);
    for w in mapcheck_model::text::map_type_words() {
        assert!(text.contains(&w), "{w}: {text}");
    }
    assert_eq!(mapcheck(&["frobnicate"]).0, 2);
    let (code, text) = mapcheck(&["run", "--fault", "nope"]);
    assert_eq!(code, 2);
    assert!(text.contains("unknown fault"), "{text}");
}

#[test]
fn bad_script_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.case");
    std::fs::write(
        &p,
        "# case: bad\nm0 = create array key=4 value=8 entries=1\nupdate m0 key=0 value=00\n",
    )
    .unwrap();
    let (code, text) = mapcheck(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("bad.case:3:") && text.contains("even number"),
        "{text}"
    );
    // In a directory, one unreadable file does not stop the others: each gets its line.
    if skip_without_kernel("bad_script_names_file_and_line (directory)") {
        return;
    }
    std::fs::write(
        dir.path().join("good.case"),
        "# case: good\nm0 = create array key=4 value=8 entries=1 => ok fd=m0\nlookup m0 key=00000000 => ok value=0000000000000000\n",
    )
    .unwrap();
    let (code, text) = mapcheck(&["replay", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("bad.case") && text.contains("UNREADABLE"), "{text}");
    assert!(text.contains("good.case") && text.contains(" ok"), "{text}");
    assert!(text.contains("1 passed, 1 failed"), "{text}");
}

#[test]
fn run_agrees_and_a_fault_is_exit_1_with_the_case_on_disk() {
    if skip_without_kernel("run_agrees_and_a_fault_is_exit_1_with_the_case_on_disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, text) = mapcheck(&["run", "--cases", "200", "--seed", "7", "--out", out]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("model and kernel agree") && text.contains("ops/s"),
        "{text}"
    );
    let (code, text) = mapcheck(&[
        "run",
        "--cases",
        "2000",
        "--seed",
        "7",
        "--fault",
        "refreeze-ok",
        "--out",
        out,
    ]);
    assert_eq!(code, 1, "{text}");
    let replay_line = text
        .lines()
        .find(|l| l.starts_with("replay: mapcheck replay "))
        .expect("replay command");
    let path = replay_line.trim_start_matches("replay: mapcheck replay ");
    assert!(std::path::Path::new(path).exists(), "{path}");
    assert!(text.contains("kernel returned: EPERM (1)"), "{text}");
    let (code, _) = mapcheck(&["replay", "--fault", "refreeze-ok", path]);
    assert_eq!(code, 1);
    let (code, text) = mapcheck(&["replay", path]);
    assert_eq!(code, 0, "{text}");
}

/// An LRU-only run pins five cases in six and writes LRU hashes in the others too: the
/// share of ops with one allowed outcome is printed for all of them and for the pinned ones,
/// and the unpinned writes leave some ops a set (a kind below 100 % is never printed as 100).
#[test]
fn an_lru_run_prints_its_pinned_cases_apart() {
    if skip_without_kernel("an_lru_run_prints_its_pinned_cases_apart") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, text) = mapcheck(&[
        "run", "--map", "lru_hash", "--cases", "1500", "--seed", "4", "--out", out,
    ]);
    assert_eq!(code, 0, "{text}");
    let shares = text
        .split("ops with one allowed outcome:")
        .nth(1)
        .unwrap_or_default();
    let line = |prefix: &str| {
        shares
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line:\n{text}"))
            .to_string()
    };
    let all = line("lru_hash  ");
    let pinned = line("lru_hash (pinned)");
    // Unpinned writes: some op (a lookup whose key another CPU's lists may have evicted, an
    // update that may evict) is a set outside the pinned cases only.
    let kinds = |l: &str| -> std::collections::BTreeSet<String> {
        let less = l.split("less: ").nth(1).unwrap_or_default();
        less.split(' ').step_by(2).map(String::from).collect()
    };
    assert!(
        kinds(&all).difference(&kinds(&pinned)).next().is_some(),
        "{all}\n{pinned}"
    );
    assert!(!text.contains("100%"), "{text}");
}

#[test]
fn selftest_prints_its_table_and_repro_writes_c() {
    if skip_without_kernel("selftest_prints_its_table_and_repro_writes_c") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = mapcheck(&[
        "selftest",
        "--fault",
        "array-noexist-succeeds",
        "--fault",
        "fd-limit-ignored",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("fault") && text.contains("shrunk"), "{text}");
    assert!(text.contains("2/2 canaries caught and shrunk"), "{text}");
    let case = dir.path().join("array-noexist-succeeds.case");
    let out = dir.path().join("r.c");
    let (code, text) = mapcheck(&[
        "repro",
        "--c",
        case.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    let c = std::fs::read_to_string(&out).unwrap();
    assert!(
        c.contains("BPF_MAP_UPDATE_ELEM") && c.contains("int main(void)"),
        "{c}"
    );
    let (code, text) = mapcheck(&["repro", "--c", "/nonexistent.case"]);
    assert_eq!(code, 2, "{text}");
}

/// Runs mapcheck with stdout a pipe whose read end is already closed (`mapcheck ... | head -1`
/// after head has gone): its first write fails with EPIPE.
fn with_stdout_gone(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_mapcheck"))
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run mapcheck")
}

/// A reader that went away ends mapcheck as it ends a Unix tool: killed by SIGPIPE (after its
/// own cleanup), no panic message, not exit 101.
fn assert_quiet_sigpipe(args: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    let (code, text) = mapcheck(args);
    assert_eq!(code, 0, "the command itself works: {text}");
    assert!(!text.is_empty());
    let out = with_stdout_gone(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{args:?}: {:?} {err}",
        out.status
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.case");
    std::fs::write(&p, "m0 = create array key=4 value=8 entries=1 => ok fd=m0\n").unwrap();
    let case = p.to_str().unwrap();
    assert_quiet_sigpipe(&["repro", "--c", case]);
    if skip_without_kernel("a_closed_stdout_ends_quietly") {
        return;
    }
    assert_quiet_sigpipe(&["replay", case]);
}
