//! The LRU corpus (`regressions/lru/`, the two LRU refill dialect cases), every outcome
//! recorded from the kernel, run through the model alone: the list walks of `lru.rs` are
//! checked by the selftests' sequences here, not only by the lockstep run.

use crate::outcome::{Allowed, Expect, MapState, Ret};
use crate::profile::Profile;
use crate::world::World;

/// The cases, by name: every one of `regressions/lru/` and the refill dialects but the two
/// unpinned ones, whose `any` lines are the kernel's choice among list states (the lockstep
/// replay follows the kernel there; the model alone has nothing to follow).
const CASES: &[(&str, &str)] = &[
    (
        "lookup-and-delete-lru_hash",
        include_str!("../../../../regressions/lru/lookup-and-delete-lru_hash.case"),
    ),
    (
        "lookup-and-delete-lru_percpu_hash",
        include_str!("../../../../regressions/lru/lookup-and-delete-lru_percpu_hash.case"),
    ),
    (
        "percpu-lists-round-max-entries",
        include_str!("../../../../regressions/lru/percpu-lists-round-max-entries.case"),
    ),
    (
        "refused-and-program-updates-evict",
        include_str!("../../../../regressions/lru/refused-and-program-updates-evict.case"),
    ),
    (
        "rotate-lru_hash-no-common-lru-11",
        include_str!("../../../../regressions/lru/rotate-lru_hash-no-common-lru-11.case"),
    ),
    (
        "sanity0-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity0-lru_hash-no-common-lru.case"),
    ),
    (
        "sanity0-lru_hash",
        include_str!("../../../../regressions/lru/sanity0-lru_hash.case"),
    ),
    (
        "sanity0-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity0-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "sanity0-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity0-lru_percpu_hash.case"),
    ),
    (
        "sanity1-lru_hash",
        include_str!("../../../../regressions/lru/sanity1-lru_hash.case"),
    ),
    (
        "sanity1-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity1-lru_percpu_hash.case"),
    ),
    (
        "sanity2-lru_hash",
        include_str!("../../../../regressions/lru/sanity2-lru_hash.case"),
    ),
    (
        "sanity2-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity2-lru_percpu_hash.case"),
    ),
    (
        "sanity3-lru_hash",
        include_str!("../../../../regressions/lru/sanity3-lru_hash.case"),
    ),
    (
        "sanity3-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity3-lru_percpu_hash.case"),
    ),
    (
        "sanity4-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity4-lru_hash-no-common-lru.case"),
    ),
    (
        "sanity4-lru_hash",
        include_str!("../../../../regressions/lru/sanity4-lru_hash.case"),
    ),
    (
        "sanity4-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity4-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "sanity4-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity4-lru_percpu_hash.case"),
    ),
    (
        "sanity5-lru_hash",
        include_str!("../../../../regressions/lru/sanity5-lru_hash.case"),
    ),
    (
        "sanity5-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity5-lru_percpu_hash.case"),
    ),
    (
        "sanity6-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity6-lru_hash-no-common-lru.case"),
    ),
    (
        "sanity6-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity6-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "sanity7-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity7-lru_hash-no-common-lru.case"),
    ),
    (
        "sanity7-lru_hash",
        include_str!("../../../../regressions/lru/sanity7-lru_hash.case"),
    ),
    (
        "sanity7-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity7-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "sanity7-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity7-lru_percpu_hash.case"),
    ),
    (
        "sanity8-lru_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity8-lru_hash-no-common-lru.case"),
    ),
    (
        "sanity8-lru_hash",
        include_str!("../../../../regressions/lru/sanity8-lru_hash.case"),
    ),
    (
        "sanity8-lru_percpu_hash-no-common-lru",
        include_str!("../../../../regressions/lru/sanity8-lru_percpu_hash-no-common-lru.case"),
    ),
    (
        "sanity8-lru_percpu_hash",
        include_str!("../../../../regressions/lru/sanity8-lru_percpu_hash.case"),
    ),
    (
        "update-evicts-its-own-key",
        include_str!("../../../../regressions/lru/update-evicts-its-own-key.case"),
    ),
    (
        "walk-lru_hash-1",
        include_str!("../../../../regressions/lru/walk-lru_hash-1.case"),
    ),
    (
        "walk-lru_hash-5",
        include_str!("../../../../regressions/lru/walk-lru_hash-5.case"),
    ),
    (
        "walk-lru_hash-no-common-lru-2",
        include_str!("../../../../regressions/lru/walk-lru_hash-no-common-lru-2.case"),
    ),
    (
        "walk-lru_hash-no-common-lru-6",
        include_str!("../../../../regressions/lru/walk-lru_hash-no-common-lru-6.case"),
    ),
    (
        "walk-lru_percpu_hash-3",
        include_str!("../../../../regressions/lru/walk-lru_percpu_hash-3.case"),
    ),
    (
        "walk-lru_percpu_hash-no-common-lru-4",
        include_str!("../../../../regressions/lru/walk-lru_percpu_hash-no-common-lru-4.case"),
    ),
    (
        "walk-lru_hash-128-7",
        include_str!("../../../../regressions/lru/walk-lru_hash-128-7.case"),
    ),
    (
        "walk-lru_hash-128-8",
        include_str!("../../../../regressions/lru/walk-lru_hash-128-8.case"),
    ),
    (
        "steal-from-pending-128",
        include_str!("../../../../regressions/lru/steal-from-pending-128.case"),
    ),
    (
        "dialects/lru-target-free",
        include_str!("../../../../regressions/dialects/lru-target-free.case"),
    ),
    (
        "dialects/lru-target-free-128",
        include_str!("../../../../regressions/dialects/lru-target-free-128.case"),
    ),
];

/// The profile a case was recorded on: 6.18 with the header's `# cpus:` and `# dialect:`.
fn profile_of(case: &str) -> Profile {
    let mut p = Profile::default();
    for line in case.lines() {
        if let Some(n) = line.strip_prefix("# cpus:") {
            p.possible_cpus = n.trim().parse().expect("# cpus: a number");
        }
        if let Some(words) = line.strip_prefix("# dialect:") {
            for w in words.split_whitespace() {
                let (name, on) = match w.strip_prefix("no-") {
                    Some(n) => (n, false),
                    None => (w, true),
                };
                assert!(p.set_dialect(name, on), "unknown dialect {w}");
            }
        }
    }
    p
}

/// The full states a `check` may see: one, or one per list state the case left open.
fn states(a: &Allowed) -> Vec<MapState> {
    match a {
        Allowed::State(st, _) => vec![st.clone()],
        Allowed::Either(parts, _) => parts.iter().flat_map(states).collect(),
        _ => Vec::new(),
    }
}

/// Runs a case through the model: the first line the model does not allow as recorded (a
/// `check`'s entry count must pick out one state), or None.
fn disagreement(case: &str) -> Option<String> {
    let mut w = World::new(profile_of(case), vec![]);
    let body = case
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    for line in body {
        let (op, expect) = crate::text::parse_line(line).unwrap();
        if let Err(e) = w.precondition(&op) {
            return Some(format!("{line}: precondition: {e}"));
        }
        let allowed = w.allowed(&op);
        let o = match (&allowed, expect) {
            (Allowed::Exactly(o), Some(e)) if e.matches(o) => o.clone(),
            (_, Some(Expect::Exactly(o))) if w.admits(&op, &allowed, &o) => o,
            (_, Some(Expect::Entries(n))) => {
                let mut fit: Vec<MapState> = states(&allowed).into_iter().filter(|s| s.len() == n).collect();
                fit.dedup();
                match fit.len() {
                    1 => Ok(Ret::State(fit.remove(0))),
                    _ => {
                        return Some(format!(
                            "{line}: {} states of {n} entries in {allowed}",
                            fit.len()
                        ))
                    }
                }
            }
            _ => return Some(format!("{line}: the model allows {allowed}")),
        };
        w.apply(&op, &o);
    }
    None
}

/// Every LRU case's recorded kernel outcomes are the model's.
#[test]
fn the_lru_corpus_is_the_models() {
    for (name, case) in CASES {
        assert_eq!(disagreement(case), None, "{name}");
    }
}

/// A model whose refill batch is the other kernel's disagrees with each refill dialect case:
/// the runner above can fail.
#[test]
fn a_case_of_the_other_dialect_disagrees() {
    for (name, case) in &CASES[CASES.len() - 2..] {
        let flipped = case
            .replace("# dialect: no-lru-target-free", "# dialect: X")
            .replace("# dialect: lru-target-free", "# dialect: no-lru-target-free");
        let flipped = flipped.replace("# dialect: X", "# dialect: lru-target-free");
        assert!(disagreement(&flipped).is_some(), "{name}");
    }
}
