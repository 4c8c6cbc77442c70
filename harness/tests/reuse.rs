//! Inside a search, `fdtable` cases reuse a case process that came back clean from the case
//! before (`isolate::Reuse`): every corpus case still passes in a used process, a process whose
//! reset leaves something behind is caught and never reused, and nothing is left running.
//! Alone in its own binary because the leak hook is set through the environment, which every
//! child of this process inherits.

use mapcheck::corpus::{self, Case};
use mapcheck::env::{detect_profile, skip_without_kernel};
use mapcheck::isolate::{dirty_children, spent_children, Reuse};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::{needs_isolation, search, SearchConfig, Stats};
use mapcheck::replay::{self, Verdict};
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{MapType, World};
use std::path::PathBuf;
use std::time::Duration;
mod common;
use common::live_children;

fn fdtable_search(w: &World, seed: u64, cases: u64) -> SearchConfig {
    SearchConfig {
        seed,
        cases: Some(cases),
        budget: Duration::from_secs(300),
        max_ops: 24,
        record: false,
        shrink_time: Duration::from_secs(20),
        gen: GenConfig {
            world: w.clone(),
            types: vec![MapType::Array, MapType::Hash],
            fd_table_pct: 100,
            ..GenConfig::default()
        },
    }
}

#[test]
fn used_case_processes_are_clean_or_never_used_again() {
    if skip_without_kernel("used_case_processes_are_clean_or_never_used_again") {
        return;
    }
    let w = World::new(detect_profile(), vec![]);
    let mut k = Kernel::new().unwrap();

    // Every fdtable case of the corpus, twice over, in processes that served the cases
    // before it: each outcome (fd numbers, EMFILE points, ids) as in a fresh process.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../regressions");
    let cases: Vec<Case> = corpus::collect(&[root])
        .unwrap()
        .iter()
        .map(|f| Case::load(f).unwrap_or_else(|e| panic!("{e}")))
        .filter(|c| needs_isolation(&c.ops()))
        .collect();
    assert!(cases.len() >= 8, "{} fdtable cases", cases.len());
    let mut stats = Stats::default();
    let mut ran = 0;
    {
        let _reuse = Reuse::enter();
        for round in 0..2 {
            for c in &cases {
                let v = replay::replay(c, &w, &mut k, &mut stats);
                let marked = c.get("dialect").is_some();
                assert!(
                    matches!(v, Verdict::Pass) || marked && matches!(v, Verdict::NotForKernel(_)),
                    "round {round}, {}: {}",
                    c.path
                        .as_deref()
                        .unwrap_or_else(|| std::path::Path::new("?"))
                        .display(),
                    v.summary()
                );
                ran += matches!(v, Verdict::Pass) as u64;
            }
        }
        // A case that changes no limit leaves its process idle, waiting for the next case,
        // until the scope ends.
        let plain = cases
            .iter()
            .find(|c| c.get("case") == Some("fdtable-lowest-free-number-is-reused"))
            .expect("the plain case");
        assert!(matches!(
            replay::replay(plain, &w, &mut k, &mut stats),
            Verdict::Pass
        ));
        ran += 1;
        assert_eq!(live_children().len(), 1, "{:?}", stats.time);
    }
    assert_eq!(live_children().len(), 0, "the idle child ends with the scope");
    let t = stats.time;
    assert_eq!(t.started + t.reused, ran);
    assert!(t.reused > t.started, "{} reused, {} started", t.reused, t.started);
    assert_eq!(dirty_children(), 0);

    // A search reuses its case processes and finds nothing.
    let r = search(&fdtable_search(&w, 0x5e5e, 150), &mut k, |_, _| {});
    assert!(r.found.is_none(), "{:?}", r.found.map(|f| f.case.to_text()));
    let t = r.stats.time;
    assert!(t.reused > t.started, "{} reused, {} started", t.reused, t.started);
    assert_eq!(dirty_children(), 0);
    assert_eq!(live_children().len(), 0);

    // A process whose reset leaves an fd open says so, is counted, and is never given
    // another case: every case gets a process of its own, and the search still agrees.
    let spent = spent_children();
    std::env::set_var("MAPCHECK_CHILD_HOOK", "leak:reset");
    let r = search(&fdtable_search(&w, 0x5e5e, 40), &mut k, |_, _| {});
    std::env::remove_var("MAPCHECK_CHILD_HOOK");
    assert!(r.found.is_none(), "{:?}", r.found.map(|f| f.case.to_text()));
    let t = r.stats.time;
    assert_eq!((t.reused, t.started), (0, r.stats.cases));
    // (A case that lowered a hard limit spends its process before the check.)
    assert_eq!(dirty_children() + spent_children() - spent, r.stats.cases);
    assert!(dirty_children() > r.stats.cases / 2, "{}", dirty_children());
    assert_eq!(live_children().len(), 0);
    assert_eq!(mapcheck::env::dead_bpffs_mounts(), Vec::<String>::new());
    assert_eq!(k.held(), 0);
}
