//! The fast lockstep check that judges each model mutant (`ci/mutants.sh`): the whole corpus,
//! then a short seeded search over every family (fdtable cases included) that must agree with
//! the kernel and reach most outcome cells. A mutant survives only if all of it passes.

use mapcheck::corpus::{self, Case};
use mapcheck::env::{detect_profile, skip_without_kernel};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::{search, SearchConfig, Stats};
use mapcheck::replay::{self, Verdict};
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{coverage, MapType, World};
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn corpus_and_a_short_search_agree_with_the_kernel() {
    if skip_without_kernel("corpus_and_a_short_search_agree_with_the_kernel") {
        return;
    }
    let w = World::new(detect_profile(), vec![]);
    let mut k = Kernel::new().unwrap();
    let mut stats = Stats::default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../regressions");
    for f in corpus::collect(&[root]).unwrap() {
        let case = Case::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let v = replay::replay(&case, &w, &mut k, &mut stats);
        assert!(matches!(v, Verdict::Pass), "{}: {}", f.display(), v.summary());
    }
    let types: Vec<MapType> = MapType::MODELLED
        .iter()
        .chain(&MapType::HANDLE_MAPS)
        .copied()
        .collect();
    let cfg = SearchConfig {
        seed: 0x3174_a175,
        cases: Some(2000),
        budget: Duration::from_secs(300),
        max_ops: 40,
        record: false,
        shrink_time: Duration::from_secs(5),
        gen: GenConfig {
            world: w.clone(),
            types: types.clone(),
            fd_table_pct: 8,
            ..GenConfig::default()
        },
    };
    let r = search(&cfg, &mut k, |_, _| {});
    if let Some(f) = &r.found {
        panic!("divergence:\n{}", f.case.to_text());
    }
    // A generator that stops producing some op or outcome is caught here. The catalogue is
    // by refusal path (468 cells on 6.18); these 2,000 cases hit 438 of them (93.6 %): the
    // rest are rare map-in-map and O_PATH paths that `run`'s 30 s reaches.
    let mut rows: Vec<String> = types.iter().map(|t| t.word()).collect();
    rows.extend(["badfd", "objects", "fdtable"].map(String::from));
    let (hit, all, missing) = r.stats.coverage(&w.profile, &rows);
    eprintln!("coverage {hit}/{all}");
    assert!(
        hit * 100 >= all * 92,
        "coverage {hit}/{all} below 92%; missing {}",
        missing.join(" ")
    );
    // And the catalogue knows every cell the run saw (a catalogue that lost a row or a
    // cell is caught here).
    for (f, op, o) in r.stats.cells.keys() {
        assert!(
            coverage::cells(f, &w.profile)
                .iter()
                .any(|(cop, co)| cop == op && co == o),
            "{f}/{op}:{o} observed but outside the catalogue (model/src/reason.rs scopes)"
        );
    }
}
