//! The divergence report: seed, kernel, the numbered minimal op list with each outcome, and at
//! the failing op what the model allowed and what the kernel returned; then the replay command.
//! The core idea: the report is printed only after the case is safely on disk.

use crate::corpus::Case;
use crate::lockstep::Divergence;
use mapcheck_model::outcome::fmt_outcome;
use std::path::Path;

/// An outcome with the raw number for errors: `EEXIST (17)`.
pub fn describe(o: &mapcheck_model::Outcome) -> String {
    match o {
        Err(e) => format!("{e:?}"),
        ok => fmt_outcome(ok),
    }
}

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
        // Each numbered line parses as a script line (`text::parse_line` skips the number).
        let line = match &st.expect {
            Some(e) => format!("{:<width$}  => {e}", st.op.to_string()),
            None => st.op.to_string(),
        };
        s.push_str(&format!("  {:>2}/{n}: {line}\n", i + 1));
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
    use mapcheck_model::{Allowed, Errno, Expect, Profile, Ret, World};

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

    /// Every numbered line of a report, and every line of the case file written next to it,
    /// parses back to its op and recorded outcome: any op, odd names and extreme numbers
    /// included (a bare `ok` reads back as "any success", which is what it prints for).
    #[test]
    fn report_lines_and_case_files_parse_back() {
        use crate::corpus::Step;
        use mapcheck_model::text::{arb, parse_line};
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let same = |got: &Option<Expect>, want: &Option<Expect>| {
            got == want || (*want == Some(Expect::Exactly(Ok(Ret::Unit))) && *got == Some(Expect::AnyOk))
        };
        let steps = prop::collection::vec((arb::op(), prop::option::of(arb::outcome())), 1..8);
        let mut runner = TestRunner::new(Config {
            cases: 400,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&steps, |steps| {
                let case = Case {
                    name: "t".into(),
                    header: vec![("seed".into(), "0x1".into())],
                    steps: steps
                        .iter()
                        .enumerate()
                        .map(|(i, (op, o))| Step {
                            op: op.clone(),
                            expect: o.as_ref().map(Expect::of),
                            line: i + 1,
                            finding: false,
                        })
                        .collect(),
                    path: None,
                };
                let last = steps.len() - 1;
                let d = Divergence {
                    index: last,
                    op: steps[last].0.clone(),
                    allowed: Allowed::Exactly(Ok(Ret::Unit)),
                    observed: Err(Errno::EPERM),
                    world_before: World::new(Profile::default(), vec![]),
                };
                let r = divergence(&case, &d, Path::new("t.case"));
                let numbered: Vec<&str> = r
                    .lines()
                    .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
                    .collect();
                prop_assert_eq!(numbered.len(), steps.len(), "{}", r);
                for (l, st) in numbered.iter().zip(&case.steps) {
                    let (op, e) = parse_line(l).map_err(|e| TestCaseError::fail(format!("{l}: {e}")))?;
                    prop_assert_eq!(&op, &st.op, "{}", l);
                    prop_assert!(same(&e, &st.expect), "{}: {:?}", l, e);
                }
                let text = case.to_text();
                let back = Case::parse(&text, Path::new("t.case"))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back.steps.len(), case.steps.len(), "{}", text);
                for (b, st) in back.steps.iter().zip(&case.steps) {
                    prop_assert_eq!(&b.op, &st.op, "{}", text);
                    prop_assert!(same(&b.expect, &st.expect), "{}", text);
                }
                Ok(())
            })
            .unwrap();
    }
}
