//! Corpus mutation: every recorded outcome in `regressions/` is replaced by another outcome the
//! op could plausibly give (another errno, another value or key, alive for gone, another count),
//! and replay must fail for each edit. Lines the script marks `any` are choices and are left
//! alone. The score is printed; anything below 100 % names the lines that still pass.

use mapcheck::corpus::{self, Case};
use mapcheck::env::{detect_profile, skip_without_kernel};
use mapcheck::kernel::Kernel;
use mapcheck::lockstep::Stats;
use mapcheck::replay;
use mapcheck_model::{Errno, Expect, Ret, World};
use std::path::PathBuf;

/// Another outcome for the same op: the smallest edit that changes what is recorded.
fn mutate(e: &Expect) -> Option<Expect> {
    let other_errno = |x: Errno| {
        if x == Errno::ENOENT {
            Errno::EINVAL
        } else {
            Errno::ENOENT
        }
    };
    let flip = |v: &[u8]| {
        let mut v = v.to_vec();
        match v.first_mut() {
            Some(b) => *b ^= 1,
            None => v.push(1),
        }
        v
    };
    Some(match e {
        Expect::Any => return None,
        Expect::AnyOk => Expect::Exactly(Err(Errno::EPERM)),
        Expect::Entries(n) => Expect::Entries(n + 1),
        Expect::Slots(n) => Expect::Slots(n + 1),
        Expect::Exactly(Err(x)) => Expect::Exactly(Err(other_errno(*x))),
        Expect::Exactly(Ok(r)) => Expect::Exactly(Ok(match r {
            Ret::Unit => return Some(Expect::Exactly(Err(Errno::EPERM))),
            Ret::Fd(_) => return Some(Expect::Exactly(Err(Errno::EINVAL))),
            Ret::FdAt(h, n) => Ret::FdAt(*h, n + 1),
            Ret::Lost(_) => return Some(Expect::Exactly(Err(Errno::EINVAL))),
            Ret::Value(v) => Ret::Value(flip(v)),
            Ret::Key(k) => Ret::Key(flip(k)),
            Ret::Id(Some(_)) => Ret::Id(None),
            Ret::Id(None) => return Some(Expect::Exactly(Err(Errno::ENOENT))),
            Ret::Alive(a) => Ret::Alive(!a),
            Ret::Count(n) => Ret::Count(n + 1),
            Ret::Info(i) => {
                let mut i = i.clone();
                i.map_flags ^= 1;
                Ret::Info(i)
            }
            Ret::State(_) | Ret::Slots(_) => return Some(Expect::Exactly(Err(Errno::EPERM))),
            // A batch: its first key changed, or (nothing copied) its count.
            Ret::Batch(b) => {
                let mut b = b.clone();
                match b.keys.first_mut() {
                    Some(k) => *k = flip(k),
                    None => b.count += 1,
                }
                Ret::Batch(b)
            }
        })),
    })
}

#[test]
fn every_recorded_outcome_is_pinned_by_replay() {
    if skip_without_kernel("every_recorded_outcome_is_pinned_by_replay") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../regressions");
    let world = World::new(detect_profile(), vec![]);
    let mut k = Kernel::new().unwrap();
    let mut stats = Stats::default();
    let (mut edits, mut caught, mut choices, mut not_here, mut sampled) = (0, 0, 0, 0, 0);
    let mut survivors = Vec::new();
    for f in corpus::collect(&[root]).unwrap() {
        let case = Case::load(&f).unwrap_or_else(|e| panic!("{e}"));
        // Another kernel's recording fails here for that reason alone: not an edit caught.
        if replay::dialect_mismatch(&case, &world.profile) != Ok(None) {
            not_here += 1;
            continue;
        }
        let recorded: Vec<usize> = (0..case.steps.len())
            .filter(|i| case.steps[*i].expect.is_some())
            .collect();
        // The mutation judge (ci/mutants.sh) edits at most this many lines of a case, evenly
        // spread: it judges replay's verdict code, which a few hundred short cases exercise,
        // and the LRU selftest's sequences alone take a minute and a half line by line.
        // Everywhere else every line is edited.
        let stride = match std::env::var("MAPCHECK_CORPUS_MUTATION_MAX_LINES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            Some(max) if max > 0 => recorded.len().div_ceil(max).max(1),
            _ => 1,
        };
        if stride > 1 {
            sampled += 1;
        }
        for i in recorded.into_iter().step_by(stride) {
            let Some(rec) = &case.steps[i].expect else {
                continue;
            };
            let Some(m) = mutate(rec) else {
                choices += 1;
                continue;
            };
            // The edited line is the last one run: what follows it cannot make the edit pass
            // (replay reports the first failure in script order), and long cases (the LRU
            // selftest's sequences) would run every line after it once per edit.
            let mut edited = case.clone();
            edited.steps.truncate(i + 1);
            edited.steps[i].expect = Some(m.clone());
            edits += 1;
            let v = replay::replay(&edited, &world, &mut k, &mut stats);
            if v.passed() {
                survivors.push(format!(
                    "{}:{}: `{}` => {m} still passes",
                    f.display(),
                    case.steps[i].line,
                    case.steps[i].op
                ));
            } else {
                caught += 1;
            }
        }
    }
    let pct = 100.0 * caught as f64 / edits.max(1) as f64;
    println!("corpus mutation: {caught} of {edits} edited outcomes fail replay ({pct:.1} %); {choices} choice lines (`any`) left alone; {not_here} cases recorded for other kernels");
    if sampled > 0 {
        println!("corpus mutation: {sampled} long cases edited at a sample of lines only (MAPCHECK_CORPUS_MUTATION_MAX_LINES)");
    }
    assert!(
        edits > 500,
        "the corpus should record hundreds of outcomes, found {edits}"
    );
    assert!(
        survivors.is_empty(),
        "edits replay did not catch:\n{}",
        survivors.join("\n")
    );
    assert_eq!(k.held(), 0);
}
