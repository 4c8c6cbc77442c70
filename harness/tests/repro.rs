//! `mapcheck repro --c`: the C reproducers of corpus cases compile with gcc, run, print the
//! same outcomes the kernel backend observes wherever the model allows exactly one, and fail
//! (exit 1, a MISMATCH line) when the model they assert is wrong.

use mapcheck::corpus::Case;
use mapcheck::env::{detect_profile, skip_loudly, skip_without_kernel};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::{run_routed, Stats};
use mapcheck::repro::{c_program, parse_output};
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::{Allowed, Fault, Ret, World};
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn corpus_case(rel: &str) -> Case {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../regressions")
        .join(rel);
    Case::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// Skips loudly without the kernel or gcc; with MAPCHECK_REQUIRE_KERNEL=1 a missing gcc is
/// a failure (ci/setup.sh installs it), like a missing privilege.
fn skip_without_kernel_or_gcc(test: &str) -> bool {
    if skip_without_kernel(test) {
        return true;
    }
    if Command::new("gcc").arg("--version").output().is_ok() {
        return false;
    }
    assert!(
        std::env::var("MAPCHECK_REQUIRE_KERNEL").as_deref() != Ok("1"),
        "gcc is missing (ci/setup.sh installs it)"
    );
    skip_loudly(test, "gcc is not installed");
    true
}

/// The kernel tests one at a time: the killed reproducer's test counts the maps and programs
/// that exist, which the others create.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Compiles and runs the program; (exit code, stdout).
fn build_and_run(dir: &Path, name: &str, prog: &str) -> (i32, String) {
    let (status, out, _) = build_and_run_status(dir, name, prog);
    (status.code().unwrap_or(-1), out)
}

/// Compiles and runs the program; (status, stdout, pid).
fn build_and_run_status(dir: &Path, name: &str, prog: &str) -> (ExitStatus, String, u32) {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, prog).unwrap();
    // The other test's in-process cases close maps: not while a child holds our fd table.
    let _window = mapcheck::spawn::window();
    let cc = Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{name}: gcc:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let child = Command::new(&bin).stdout(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let run = child.wait_with_output().unwrap();
    (run.status, String::from_utf8_lossy(&run.stdout).into_owned(), pid)
}

/// Mounts and directories of the /tmp fallback for pins, which the host would see; removed
/// once seen, so that a failing test leaves none behind either.
fn repro_bpffs_left() -> Vec<String> {
    let left = repro_bpffs_seen();
    for p in left.iter().filter(|p| p.starts_with('/')) {
        let _ = Command::new("umount").arg("-l").arg(p).status();
        let _ = std::fs::remove_dir(p);
    }
    left
}

fn repro_bpffs_seen() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts = info
        .lines()
        .filter(|l| l.contains("mapcheck-repro-bpffs"))
        .map(str::to_string);
    let dirs = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .filter(|p| p.contains("mapcheck-repro-bpffs"));
    mounts.chain(dirs).collect()
}

fn ids(next: unsafe extern "C" fn(u32, *mut u32) -> i32) -> BTreeSet<u32> {
    let (mut cur, mut out) = (0u32, BTreeSet::new());
    // SAFETY: n is live for the call.
    while let (0, n) = {
        let mut n = 0u32;
        (unsafe { next(cur, &mut n) }, n)
    } {
        out.insert(n);
        cur = n;
    }
    out
}

#[test]
fn reproducers_print_what_the_kernel_backend_sees() {
    if skip_without_kernel_or_gcc("reproducers_print_what_the_kernel_backend_sees") {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(detect_profile(), vec![]);
    let mut k = Kernel::new().unwrap();
    let cases = [
        "array-update-oob-e2big-lookup-oob-enoent.case",
        "hash-full.case",
        "percpu-array-padding-roundtrips.case",
        "frozen-writes-eperm.case",
        "bad-fds.case",
        "info-readback.case",
        "handles/prog-array-lookup-returns-id.case",
        "handles/map-in-map-keeps-inner-alive.case",
        "handles/pins-are-user-references.case",
        "handles/cgroup-array-holds-dying-cgroup.case",
        "handles/perf-event-array-typing.case",
        "fdtable/emfile-at-the-soft-limit.case",
        "fdtable/emfile-create-consumes-an-id.case",
        "fdtable/setrlimit-order.case",
        "keyless/stack-selftest-sequence.case",
        // A peek reads the buffer, `check` is a LOOKUP_BATCH, and a choice (`=> any`).
        "keyless/bloom-commands.case",
        "keyless/bloom-zero-seed-false-positive.case",
        // Prefix keys, GET_NEXT_KEY in postorder, the dump, frozen.
        "lpm/keys-and-commands.case",
        // The batch commands: cursors, counts that come with an errno, records, out_batch.
        "batch/array-selftest.case",
        "batch/htab-selftest-zero-seed.case",
        "batch/lpm-selftest.case",
        "batch/map-in-map-writes.case",
    ];
    let mut compared = 0;
    for rel in cases {
        let case = corpus_case(rel);
        let prog = c_program(&case, &w).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let (code, out) = build_and_run(dir.path(), &case.name, &prog);
        assert_eq!(code, 0, "{rel}: the reproducer disagrees with the model:\n{out}");
        let printed = parse_output(&out);
        assert_eq!(printed.len(), case.steps.len(), "{rel}: one line per op:\n{out}");
        // The same ops through the kernel backend (in its own process for fdtable cases).
        let ops: Vec<_> = case.steps.iter().map(|s| s.op.clone()).collect();
        let run = run_routed(w.clone(), &mut k, &ops, false, &mut Stats::default(), None);
        assert!(
            run.divergence.is_none(),
            "{rel}: {:?}",
            run.divergence.map(|d| d.op)
        );
        let mut model = w.clone();
        for (i, (op, o)) in ops.iter().zip(&run.outcomes).enumerate() {
            let exact = matches!(model.allowed(op), Allowed::Exactly(Ok(ref r)) if !matches!(r, Ret::State(_) | Ret::Slots(_)))
                || matches!(model.allowed(op), Allowed::Exactly(Err(_)));
            if exact {
                assert_eq!(printed[i], (i + 1, fmt_outcome(o)), "{rel}: op {} `{op}`", i + 1);
                compared += 1;
            }
            model.apply(op, o);
        }
    }
    assert!(compared > 60, "only {compared} outcomes compared");
    // Pins went to a bpffs in the reproducers' own mount namespaces: nothing in the host's.
    let left = repro_bpffs_left();
    assert!(
        left.is_empty(),
        "reproducers left bpffs mounts or directories: {left:?}"
    );
}

/// A reproducer killed right after its first pin (no cleanup can run) leaves no mount, and
/// its pinned PROG_ARRAY and program go: the bpffs lived in the process's mount namespace.
#[test]
fn a_killed_reproducer_leaves_no_mount_and_no_pinned_object() {
    if skip_without_kernel_or_gcc("a_killed_reproducer_leaves_no_mount_and_no_pinned_object") {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(detect_profile(), vec![]);
    let case = corpus_case("handles/pins-are-user-references.case");
    let prog = c_program(&case, &w).unwrap();
    let pin = "result(sys_bpf(BPF_OBJ_PIN, &a));";
    assert!(prog.contains(pin) && prog.contains("#define _GNU_SOURCE\n"));
    let prog = prog
        .replacen(
            "#define _GNU_SOURCE\n",
            "#define _GNU_SOURCE\n#include <signal.h>\n",
            1,
        )
        .replacen(pin, "PINNED", 1);
    // After the pin's own step line (the next `step(` call).
    let (head, tail) = prog.split_once("PINNED").unwrap();
    let at = tail.find("\n\tstep(").unwrap();
    let at = at + tail[at..].find(");").unwrap() + 2;
    let prog = format!(
        "{head}{pin}{} kill(getpid(), SIGKILL);{}",
        &tail[..at],
        &tail[at..]
    );
    let (maps0, progs0) = (
        ids(libbpf_sys::bpf_map_get_next_id),
        ids(libbpf_sys::bpf_prog_get_next_id),
    );
    let (status, out, pid) = build_and_run_status(dir.path(), "killed", &prog);
    // Its cgroup directory is the one thing SIGKILL leaves (empty, so it can go here).
    if let Some(cg) = mapcheck::env::cgroup2_mount() {
        let _ = std::fs::remove_dir(cg.join(format!("mapcheck-{pid}-repro")));
    }
    assert_eq!(status.signal(), Some(9), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("4: pin m0 => ok")),
        "the pin ran first:\n{out}"
    );
    let left = repro_bpffs_left();
    assert!(left.is_empty(), "a killed reproducer left its bpffs: {left:?}");
    // The pin held the map (and the map its program) until the namespace went.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (maps, progs) = loop {
        let maps: BTreeSet<u32> = ids(libbpf_sys::bpf_map_get_next_id)
            .difference(&maps0)
            .copied()
            .collect();
        let progs: BTreeSet<u32> = ids(libbpf_sys::bpf_prog_get_next_id)
            .difference(&progs0)
            .copied()
            .collect();
        if (maps.is_empty() && progs.is_empty()) || Instant::now() > deadline {
            break (maps, progs);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        maps.is_empty() && progs.is_empty(),
        "still alive: maps {maps:?}, programs {progs:?}"
    );
}

#[test]
fn a_reproducer_of_a_wrong_model_fails() {
    if skip_without_kernel_or_gcc("a_reproducer_of_a_wrong_model_fails") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(detect_profile(), vec![Fault::ArrayNoexistSucceeds]);
    let case = corpus_case("array-noexist-always-eexist.case");
    let (code, out) = build_and_run(dir.path(), "wrong", &c_program(&case, &w).unwrap());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH: the model allows ok"), "{out}");
}

/// The reproducer kept for the upstream report (docs/findings/) is exactly what `repro --c`
/// prints for its case, under the 6.18 dialect and the release and CPU count its header
/// names: a copy of the tool's output that cannot drift from the case or the generator
/// (regenerate with `mapcheck repro --c <case> -o <file>`).
#[test]
fn the_kept_finding_reproducer_is_what_repro_prints() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let kept = std::fs::read_to_string(root.join("docs/findings/percpu-update-flags-3.c")).unwrap();
    let header = kept
        .lines()
        .find_map(|l| l.strip_prefix(" * kernel: "))
        .expect("a ` * kernel: <release> (<n> possible CPUs...` line");
    let (release, rest) = header.split_once(" (").unwrap();
    let cpus: u32 = rest.split_whitespace().next().unwrap().parse().unwrap();
    let profile = mapcheck_model::Profile {
        release: release.to_string(),
        ..mapcheck_model::Profile::linux_6_18(cpus)
    };
    let case = corpus_case("percpu-update-flags-3-einval.case");
    let now = c_program(&case, &World::new(profile, vec![])).unwrap();
    assert!(
        now == kept,
        "docs/findings/percpu-update-flags-3.c is stale: regenerate it with `mapcheck repro --c`"
    );
}
