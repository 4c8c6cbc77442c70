//! `mapcheck selftest`: every deliberate bug (canary) switched on alone, each searched for with
//! a small budget: model faults (a wrong, a widened or a panicking oracle) and kernel faults (a
//! faulty `Sys` under the real model). The core idea: a checker is only as good as the bugs it
//! catches, so the whole pipeline is checked against bugs whose presence is known.

use crate::faulty::{Faulty, KernelFault};
use crate::kernel::Kernel;
use crate::lockstep::{search, Found, SearchConfig};
use crate::sys::RealSys;
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{Fault, MapType, Profile, World};
use std::time::{Duration, Instant};

/// A deliberate bug: in the model or in the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Canary {
    /// A model fault.
    Model(Fault),
    /// A kernel fault (`crate::faulty`).
    Kernel(KernelFault),
}

impl Canary {
    /// Every canary: model faults, then kernel faults.
    pub fn all() -> Vec<Canary> {
        Fault::ALL
            .into_iter()
            .map(Canary::Model)
            .chain(KernelFault::ALL.into_iter().map(Canary::Kernel))
            .collect()
    }
    /// Its name (`kernel:` first for kernel faults).
    pub fn name(self) -> &'static str {
        match self {
            Canary::Model(f) => f.name(),
            Canary::Kernel(f) => f.name(),
        }
    }
    /// Inverse of [`Canary::name`].
    pub fn from_name(s: &str) -> Option<Canary> {
        match s.starts_with("kernel:") {
            true => KernelFault::from_name(s).map(Canary::Kernel),
            false => Fault::from_name(s).map(Canary::Model),
        }
    }
}

/// The seed a canary is hunted with: derived from the run seed and the canary's name, so
/// `selftest --fault X` repeats exactly the search the full table (and the tests) ran.
pub fn seed_for(seed: u64, canary: Canary) -> u64 {
    crate::fuzz::derive(seed, crate::lockstep::fnv(canary.name().as_bytes()))
}

impl std::fmt::Display for Canary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How one canary fared.
pub struct Row {
    /// The canary.
    pub canary: Canary,
    /// What was found, if anything.
    pub found: Option<Found>,
    /// Time to catch (or the time spent looking).
    pub time: Duration,
    /// Cases generated.
    pub cases: u64,
    /// The most ops a shrunk script of this fault may have.
    pub max_len: usize,
}

impl Row {
    /// Caught, not flaky, and shrunk to at most `max_len` ops.
    pub fn ok(&self) -> bool {
        self.found
            .as_ref()
            .is_some_and(|f| !f.flaky && f.case.steps.len() <= self.max_len)
    }
}

/// The search that hunts `fault` (`mapcheck_model::gen::hunt`): its config and the shrunk
/// length a catch must reach.
pub fn config_for(fault: Fault, profile: &Profile, seed: u64, budget: Duration) -> (SearchConfig, usize) {
    let h = mapcheck_model::gen::hunt(fault, profile);
    let cfg = SearchConfig {
        seed,
        cases: Some(h.cases),
        budget,
        max_ops: 40,
        gen: h.gen,
        record: false,
        shrink_time: Duration::from_secs(h.shrink_s),
    };
    (cfg, h.max_len)
}

/// The search that hunts a kernel fault: the real model, the families the fault lives in,
/// no fdtable cases (a case process plants the same fault: `Sys::planted`; pinned LRU cases run in one).
pub fn kernel_config_for(
    fault: KernelFault,
    profile: &Profile,
    seed: u64,
    budget: Duration,
) -> (SearchConfig, usize) {
    let gen = GenConfig {
        world: World::new(profile.clone(), vec![]),
        fd_table_pct: 0,
        types: fault.types(),
        // Seed 0 hashes: the catch replays the same way (see `config_for`).
        zero_seed: fault == KernelFault::LruEvictsEarly,
        // The batch update lives in a scale run's fill only.
        prefix: match fault {
            KernelFault::BatchUpdateDropsLast => mapcheck_model::gen::fill_prefix(MapType::Hash, 64, 64),
            _ => Vec::new(),
        },
        ..GenConfig::default()
    };
    let cfg = SearchConfig {
        seed,
        cases: Some(20_000),
        budget,
        max_ops: 40,
        gen,
        record: false,
        shrink_time: Duration::from_secs(20),
    };
    (cfg, 8)
}

/// Hunts one canary: a model fault on `k`, a kernel fault on a faulty backend of its own.
pub fn run_one(canary: Canary, profile: &Profile, seed: u64, budget: Duration, k: &mut Kernel) -> Row {
    match canary {
        Canary::Model(f) => {
            let (cfg, max_len) = config_for(f, profile, seed, budget);
            hunt(canary, cfg, max_len, budget, k)
        }
        Canary::Kernel(f) => {
            let (cfg, max_len) = kernel_config_for(f, profile, seed, budget);
            match Kernel::with_sys(Faulty::new(RealSys, Some(f)), crate::env::possible_cpus()) {
                Ok(mut fk) => hunt(canary, cfg, max_len, budget, &mut fk),
                Err(_) => Row {
                    canary,
                    found: None,
                    time: Duration::ZERO,
                    cases: 0,
                    max_len,
                },
            }
        }
    }
}

fn hunt<S: crate::sys::Sys>(
    canary: Canary,
    cfg: SearchConfig,
    max_len: usize,
    budget: Duration,
    k: &mut Kernel<S>,
) -> Row {
    let start = Instant::now();
    // A case limit bounds the search; the budget bounds it in time as well.
    let deadline = start + budget;
    let mut cfg = cfg;
    let r = loop {
        let r = search(&cfg, k, |_, _| {});
        if r.found.is_some() || Instant::now() >= deadline || cfg.cases.is_none() {
            break r;
        }
        // Case limit reached without a catch, time left: switch to the time budget.
        cfg.cases = None;
        cfg.budget = deadline.saturating_duration_since(Instant::now());
    };
    Row {
        canary,
        time: start.elapsed(),
        cases: r.generated,
        found: r.found,
        max_len,
    }
}

/// The table `mapcheck selftest` prints.
pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<38} {:<8} {:>9} {:>9} {:>7}\n",
        "fault", "caught", "time", "cases", "shrunk"
    );
    for r in rows {
        let (caught, len) = match &r.found {
            Some(f) if f.flaky => ("flaky", f.case.steps.len().to_string()),
            Some(f) if f.case.steps.len() > r.max_len => ("long", f.case.steps.len().to_string()),
            Some(f) => ("yes", f.case.steps.len().to_string()),
            None => ("MISSED", "-".to_string()),
        };
        s.push_str(&format!(
            "{:<38} {:<8} {:>8.1}s {:>9} {:>7}\n",
            r.canary.name(),
            caught,
            r.time.as_secs_f64(),
            r.cases,
            len
        ));
    }
    let ok = rows.iter().filter(|r| r.ok()).count();
    s.push_str(&format!("{ok}/{} canaries caught and shrunk\n", rows.len()));
    s
}
