//! `fdtable` cases run in a process of their own: a child that crashes or hangs is a reported
//! failure carrying the case's script, never a lost one, and leaves nothing behind. Alone in
//! its own binary because the crash and hang hooks are set through the environment, which
//! every child of this process inherits.

use mapcheck::corpus::Case;
use mapcheck::env::{detect_profile, skip_without_kernel};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::{search, SearchConfig, Stats};
use mapcheck::replay::{self, Verdict};
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{MapType, Ret, World};
use std::path::PathBuf;
use std::time::{Duration, Instant};
mod common;
use common::live_children;

fn case(name: &str) -> Case {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../regressions/fdtable")
        .join(name);
    Case::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn lost_reason(v: &Verdict) -> String {
    match v {
        Verdict::Diverged { divergence, .. } => match &divergence.observed {
            Ok(Ret::Lost(why)) => why.clone(),
            o => panic!("expected a lost outcome, got {o:?}"),
        },
        v => panic!("expected a divergence, got {}", v.summary()),
    }
}

#[test]
fn crashed_and_hung_case_processes_are_reported_with_their_script() {
    if skip_without_kernel("crashed_and_hung_case_processes_are_reported_with_their_script") {
        return;
    }
    let w = World::new(detect_profile(), vec![]);
    let mut k = Kernel::new().unwrap();
    let mut stats = Stats::default();
    let c = case("emfile-create-consumes-an-id.case");
    assert!(matches!(
        replay::replay(&c, &w, &mut k, &mut stats),
        Verdict::Pass
    ));

    // A crash at the last op: the divergence is that op, with the exit status.
    std::env::set_var("MAPCHECK_CHILD_HOOK", "crash:idgap");
    let why = lost_reason(&replay::replay(&c, &w, &mut k, &mut stats));
    assert!(why.contains("died") && why.contains("signal"), "{why}");

    // A hang: killed after the per-op timeout, reported, nothing left running.
    std::env::set_var("MAPCHECK_CHILD_HOOK", "hang:idgap");
    std::env::set_var("MAPCHECK_CHILD_TIMEOUT_MS", "1500");
    let t = Instant::now();
    let why = lost_reason(&replay::replay(&c, &w, &mut k, &mut stats));
    assert!(why.contains("hung"), "{why}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(live_children(), Vec::<u32>::new());

    // A search that meets a crashing process shrinks and reports it as a case script that
    // parses back and ends at the op that never answered.
    std::env::set_var("MAPCHECK_CHILD_HOOK", "crash:rlimit");
    let cfg = SearchConfig {
        seed: 0x1057,
        cases: Some(200),
        budget: Duration::from_secs(120),
        max_ops: 20,
        record: false,
        shrink_time: Duration::from_secs(20),
        gen: GenConfig {
            world: w.clone(),
            types: vec![MapType::Array],
            fd_table_pct: 100,
            ..GenConfig::default()
        },
    };
    let r = search(&cfg, &mut k, |_, _| {});
    let found = r.found.expect("the crash is reported");
    let text = found.case.to_text();
    assert!(text.contains("=> lost the case process died"), "{text}");
    let back = Case::parse(&text, std::path::Path::new("found.case")).unwrap();
    assert_eq!(back.steps.len(), found.case.steps.len());
    assert!(
        found.case.steps.len() <= 3,
        "fdtable, then the rlimit that crashed:\n{text}"
    );
    std::env::remove_var("MAPCHECK_CHILD_HOOK");
    std::env::remove_var("MAPCHECK_CHILD_TIMEOUT_MS");
    assert_eq!(live_children(), Vec::<u32>::new());
    assert!(matches!(
        replay::replay(&c, &w, &mut k, &mut stats),
        Verdict::Pass
    ));
    // The killed children's bpffs mounts were removed by the parent.
    assert_eq!(
        mapcheck::env::dead_bpffs_mounts(),
        Vec::<String>::new(),
        "a dead process's bpffs is still mounted"
    );
}
