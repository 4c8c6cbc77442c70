//! `mapcheck rfc-diff`: the seed's handle arraymap (`mapcheck_model::rfc`) against today's
//! kernel on the same generated sequences. The core idea: every distinct way they differ
//! (op, what the RFC allows, what the kernel did) is shrunk to a minimal script, one row each.

use crate::kernel::Kernel;
use crate::lockstep::rng_for;
use crate::sys::Sys;
use mapcheck_model::gen::{set_config, GenConfig, MapMachine};
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::rfc::RfcWorld;
use mapcheck_model::{Allowed, MapType, Op, Outcome, Ret, World};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use proptest_state_machine::ReferenceStateMachine;
use std::collections::BTreeMap;

/// One distinct difference, with its minimal script.
pub struct Row {
    /// The op kind where they part.
    pub op: &'static str,
    /// What the RFC spec allows there.
    pub rfc: String,
    /// What the kernel did.
    pub kernel: String,
    /// The minimal script, each op with the kernel's outcome.
    pub script: Vec<(Op, Outcome)>,
}

/// An outcome without the handle numbers it names, so that differences group by kind.
fn class(o: &Outcome) -> String {
    match o {
        Ok(Ret::Fd(_)) => "ok (new fd)".into(),
        Ok(Ret::Id(Some(_))) => "ok (an id)".into(),
        o => fmt_outcome(o),
    }
}

fn allowed_class(a: &Allowed) -> String {
    match a {
        Allowed::Exactly(o) => class(o),
        a => a.to_string(),
    }
}

/// Where a sequence first differs: op index, the RFC's answer, the kernel's outcome, and the
/// ops run so far with their outcomes.
type Difference = (usize, String, Outcome, Vec<(Op, Outcome)>);

/// The first difference of a sequence: (index, RFC's answer, kernel's outcome).
fn first_difference<S: Sys>(world: &World, nofile: u32, ops: &[Op], k: &mut Kernel<S>) -> Option<Difference> {
    let mut rfc = RfcWorld::new(world.clone(), nofile);
    let mut done = Vec::new();
    let mut found = None;
    for (i, op) in ops.iter().enumerate() {
        if rfc.base.precondition(op).is_err() {
            break;
        }
        let allowed = rfc.allowed(op);
        let o = k.exec(op);
        done.push((op.clone(), o.clone()));
        if !rfc.base.admits(op, &allowed, &o) {
            found = Some((i, allowed_class(&allowed), o, done.clone()));
            break;
        }
        rfc.apply(op, &o);
    }
    k.reset();
    found
}

/// Runs `cases` generated sequences (sequential filling of CGROUP_ARRAY and ARRAY_OF_MAPS)
/// and returns one shrunk row per distinct difference.
pub fn rfc_diff<S: Sys>(world: &World, nofile: u32, seed: u64, cases: u64, k: &mut Kernel<S>) -> Vec<Row> {
    let gen = GenConfig {
        world: world.clone(),
        types: vec![MapType::CgroupArray, MapType::ArrayOfMaps, MapType::Array],
        sequential: true,
        bad_fd_pct: 1,
        invalid_create_pct: 5,
        // The RFC bounds its arrays by RLIMIT_NOFILE itself; fd numbers are not its subject.
        fd_table_pct: 0,
        ..GenConfig::default()
    };
    set_config(gen);
    let strategy = MapMachine::sequential_strategy(1..=32usize);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(seed));
    let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
    for _ in 0..cases {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (state, ops, _) = tree.current();
        let Some((i, rfc, o, mut script)) = first_difference(&state.world, nofile, &ops, k) else {
            continue;
        };
        let key = (ops[i].kind().to_string(), rfc, class(&o));
        if rows.contains_key(&key) {
            continue;
        }
        // Greedy one-op deletion while the first difference stays of the same kind.
        let mut ops = ops[..=i].to_vec();
        let mut changed = true;
        while changed {
            changed = false;
            for j in (0..ops.len()).rev() {
                let mut cand = ops.clone();
                cand.remove(j);
                if !crate::lockstep::preconditions_hold(&state.world, &cand) {
                    continue;
                }
                if let Some((ci, crfc, co, shown)) = first_difference(&state.world, nofile, &cand, k) {
                    if (cand[ci].kind().to_string(), crfc, class(&co)) == key {
                        ops = cand[..=ci].to_vec();
                        script = shown;
                        changed = true;
                        break;
                    }
                }
            }
        }
        // The script is the one the kernel last showed the difference with: no re-run, which a
        // kernel choice (a deferred release) could answer otherwise.
        rows.insert(
            key.clone(),
            Row {
                op: ops.last().map_or("", Op::kind),
                rfc: key.1,
                kernel: key.2,
                script,
            },
        );
    }
    rows.into_values().collect()
}

/// The table `rfc-diff` prints.
pub fn table(rows: &[Row], nofile: u32) -> String {
    let mut s = format!(
        "The seed's handle arraymap (RLIMIT_NOFILE = {nofile}) against today's kernel \
         (CGROUP_ARRAY, ARRAY_OF_MAPS): {} distinct differences\n\n",
        rows.len()
    );
    s.push_str(&format!(
        "{:<3} {:<8} {:<34} {:<14}\n",
        "#", "op", "RFC spec allows", "kernel did"
    ));
    for (i, r) in rows.iter().enumerate() {
        s.push_str(&format!(
            "{:<3} {:<8} {:<34} {:<14}\n",
            i + 1,
            r.op,
            r.rfc,
            r.kernel
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        s.push_str(&format!(
            "\n# {}: {} (RFC: {}, kernel: {})\n",
            i + 1,
            r.op,
            r.rfc,
            r.kernel
        ));
        for (op, o) in &r.script {
            s.push_str(&format!("{op} => {}\n", fmt_outcome(o)));
        }
    }
    s
}
