//! Nothing is left behind: after a run over every family and a replay of the corpus, every
//! map and program this process created is gone (compared by id with what existed before),
//! and no mapcheck cgroup directory remains (also from the test binaries that ran earlier).
//! Alone in its own binary so that no other test's objects come and go meanwhile.

use mapcheck::corpus::{self, Case};
use mapcheck::env::{cgroup2_mount, detect_profile, skip_without_kernel};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::{search, SearchConfig, Stats};
use mapcheck::replay;
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{MapType, World};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn ids(next: unsafe extern "C" fn(u32, *mut u32) -> i32) -> BTreeSet<u32> {
    let (mut cur, mut out) = (0u32, BTreeSet::new());
    loop {
        let mut n = 0u32;
        // SAFETY: n is live for the call.
        if unsafe { next(cur, &mut n) } != 0 {
            return out;
        }
        out.insert(n);
        cur = n;
    }
}

fn all_ids() -> (BTreeSet<u32>, BTreeSet<u32>) {
    (
        ids(libbpf_sys::bpf_map_get_next_id),
        ids(libbpf_sys::bpf_prog_get_next_id),
    )
}

fn leftover_cgroups() -> Vec<PathBuf> {
    let Some(mnt) = cgroup2_mount() else { return vec![] };
    std::fs::read_dir(mnt)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("mapcheck-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn nothing_is_left_alive_or_on_disk() {
    if skip_without_kernel("nothing_is_left_alive_or_on_disk") {
        return;
    }
    let (maps0, progs0) = all_ids();
    {
        let world = World::new(detect_profile(), vec![]);
        let mut types = MapType::MODELLED.to_vec();
        types.extend(MapType::HANDLE_MAPS);
        let cfg = SearchConfig {
            seed: 0x1ea4,
            cases: Some(1500),
            budget: Duration::from_secs(600),
            max_ops: 40,
            gen: GenConfig {
                world: world.clone(),
                types,
                ..GenConfig::default()
            },
            record: false,
            shrink_time: Duration::from_secs(10),
        };
        // Earlier runs' leftovers are not this run's.
        mapcheck::env::remove_stale_bpffs();
        let mut k = Kernel::new().unwrap();
        let r = search(&cfg, &mut k, |_, _| {});
        assert!(
            r.found.is_none(),
            "divergence:\n{}",
            r.found.map(|f| f.case.to_text()).unwrap_or_default()
        );
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../regressions");
        let mut stats = Stats::default();
        for f in corpus::collect(&[dir]).unwrap() {
            replay::replay(&Case::load(&f).unwrap(), &world, &mut k, &mut stats);
        }
        assert!(stats.ops > 300, "the corpus replay ran");
    }
    // Releases held by other objects are deferred (workqueue, RCU): wait for them.
    let start = Instant::now();
    let (mut maps_left, mut progs_left);
    loop {
        let (maps, progs) = all_ids();
        maps_left = maps.difference(&maps0).copied().collect::<Vec<_>>();
        progs_left = progs.difference(&progs0).copied().collect::<Vec<_>>();
        if (maps_left.is_empty() && progs_left.is_empty()) || start.elapsed() > Duration::from_secs(10) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // libbpf's one-time feature probe loads a program of its own; it is gone by now too.
    assert!(
        maps_left.is_empty(),
        "maps still alive after the run: ids {maps_left:?}"
    );
    assert!(
        progs_left.is_empty(),
        "programs still alive after the run: ids {progs_left:?}"
    );
    let dirs = leftover_cgroups();
    assert!(dirs.is_empty(), "cgroup directories left behind: {dirs:?}");
    // Nor a bpffs directory of a process that is gone (fdtable cases run in processes of
    // their own, which may end with no fd free to remove a directory the usual way).
    let stale: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let pid = n
                .strip_prefix("mapcheck-bpffs-")
                .and_then(|r| r.split('-').next());
            pid.is_some_and(|p| !std::path::Path::new("/proc").join(p).exists())
        })
        .collect();
    assert!(
        stale.is_empty(),
        "bpffs directories left behind: {:?}",
        &stale[..stale.len().min(5)]
    );
}
