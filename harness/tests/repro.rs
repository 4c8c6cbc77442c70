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
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_case(rel: &str) -> Case {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../regressions")
        .join(rel);
    Case::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// Compiles and runs the program; (exit code, stdout).
fn build_and_run(dir: &Path, name: &str, prog: &str) -> (i32, String) {
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
    let run = Command::new(&bin).output().unwrap();
    (
        run.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&run.stdout).into_owned(),
    )
}

#[test]
fn reproducers_print_what_the_kernel_backend_sees() {
    if skip_without_kernel("reproducers_print_what_the_kernel_backend_sees") {
        return;
    }
    if Command::new("gcc").arg("--version").output().is_err() {
        assert!(
            std::env::var("MAPCHECK_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "gcc is missing (ci/setup.sh installs it)"
        );
        skip_loudly(
            "reproducers_print_what_the_kernel_backend_sees",
            "gcc is not installed",
        );
        return;
    }
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
}

#[test]
fn a_reproducer_of_a_wrong_model_fails() {
    if skip_without_kernel("a_reproducer_of_a_wrong_model_fails") {
        return;
    }
    if Command::new("gcc").arg("--version").output().is_err() {
        skip_loudly("a_reproducer_of_a_wrong_model_fails", "gcc is not installed");
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
