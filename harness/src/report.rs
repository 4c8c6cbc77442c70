//! The divergence report: seed, kernel, the numbered minimal op list with each outcome, and at
//! the failing op what the model allowed and what the kernel returned; then the replay command.
//! The core idea: the report is printed only after the case is safely on disk.

use crate::corpus::{describe, Case};
use crate::lockstep::Divergence;
use mapcheck_model::outcome::fmt_outcome;
use std::path::Path;

/// The full text of a divergence report.
pub fn divergence(case: &Case, d: &Divergence, path: &Path) -> String {
    let mut s = String::new();
    s.push_str("mapcheck: DIVERGENCE: the model does not allow what the kernel did\n");
    for key in ["seed", "kernel", "faults"] {
        if let Some(v) = case.get(key) {
            s.push_str(&format!("  {key:<7} {v}\n"));
        }
    }
    s.push_str(&format!("  case    {}\n\n", path.display()));
    let n = case.steps.len();
    let width = case
        .steps
        .iter()
        .map(|st| st.op.to_string().len())
        .max()
        .unwrap_or(0);
    for (i, st) in case.steps.iter().enumerate() {
        let got = st.expect.as_ref().map(|e| e.to_string()).unwrap_or_default();
        s.push_str(&format!(
            "  {:>2}/{n}: {:<width$}  => {got}\n",
            i + 1,
            st.op.to_string()
        ));
        if i == d.index {
            s.push_str(&format!("        model allowed:   {}\n", d.allowed));
            s.push_str(&format!("        kernel returned: {}\n", describe(&d.observed)));
            if let Some(why) = d.allowed.explain(&d.observed) {
                s.push_str(&format!("        difference:      {why}\n"));
            }
            if let Some(mapcheck_model::FdRef::Handle(h)) = d.op.map_ref() {
                s.push_str(&format!(
                    "        model before:    {}\n",
                    d.world_before.describe(h)
                ));
            }
        }
    }
    if d.index >= n {
        // A divergence past the last op: an end-of-case audit, not an op of the script.
        s.push_str(&format!("  end of case: `{}`\n", d.op));
        s.push_str(&format!("        model allowed:   {}\n", d.allowed));
        s.push_str(&format!("        found:           {}\n", describe(&d.observed)));
    }
    s.push_str(&format!("\nreplay: mapcheck replay {}\n", path.display()));
    s
}

/// One-line description of a divergence.
pub fn one_line(d: &Divergence) -> String {
    format!(
        "`{}`: model allowed {}, kernel returned {}",
        d.op,
        d.allowed,
        fmt_outcome(&d.observed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapcheck_model::{Errno, Profile, World};

    /// At the failing op the report shows the model's view of the map it acts on: for an
    /// element op and for a close alike (a close that fails says which map was closed).
    #[test]
    fn the_report_shows_the_map_before_the_failing_op() {
        let text = "m0 = create hash key=4 value=4 entries=2 => ok fd=m0\n\
                    update m0 key=01000000 value=01000000 => ok\n\
                    close m0 => EBADF\n";
        let case = Case::parse(text, Path::new("t.case")).unwrap();
        let mut world = World::new(Profile::default(), vec![]);
        let ops = case.ops();
        for op in &ops[..2] {
            let o = world.allowed(op).exactly().cloned().expect("deterministic");
            world.apply(op, &o);
        }
        let d = Divergence {
            index: 2,
            op: ops[2].clone(),
            allowed: world.allowed(&ops[2]),
            observed: Err(Errno::EBADF),
            world_before: world.clone(),
        };
        let r = divergence(&case, &d, Path::new("t.case"));
        assert!(r.contains("  3/3: close m0"), "{r}");
        assert!(r.contains("kernel returned: EBADF"), "{r}");
        let before = r
            .lines()
            .find(|l| l.contains("model before:"))
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            before.contains(&world.describe(mapcheck_model::Handle::map(0))),
            "{r}"
        );
    }
}
