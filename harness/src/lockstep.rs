//! The lockstep runner: every op goes to the model and to the kernel; the first outcome the
//! model does not allow is a `Divergence`. The core idea: the checking model follows the
//! kernel's observed (allowed) outcome; proptest-state-machine generates and shrinks, and
//! divergences travel as values (no panics, so no backtrace per shrink step).

use crate::corpus::{Case, Step};
use crate::kernel::{Backend, Kernel};
use crate::sys::Sys;
use mapcheck_model::gen::{draw_case, set_config, GenConfig, GenState, MapMachine, Redrawing};
use mapcheck_model::outcome::fmt_outcome;
use mapcheck_model::{Allowed, Expect, FdRef, Kind, MapState, MapType, Op, Outcome, Ret, World};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use proptest_state_machine::ReferenceStateMachine;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first op whose kernel outcome the model does not allow.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// Index of the op in the executed sequence.
    pub index: usize,
    /// The op.
    pub op: Op,
    /// What the model allowed.
    pub allowed: Allowed,
    /// What the kernel did.
    pub observed: Outcome,
    /// The model's world just before the op.
    pub world_before: World,
}

/// A coverage cell: (family, op, outcome); the usual words are static, so counting an op
/// allocates nothing.
pub type Cell = (Cow<'static, str>, &'static str, Cow<'static, str>);

/// Counters of a run, including outcome coverage (family, op, outcome) -> hits.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Cases executed (shrinking runs included).
    pub cases: u64,
    /// Ops executed.
    pub ops: u64,
    /// Hits per coverage cell.
    pub cells: BTreeMap<Cell, u64>,
    /// Per coverage row and op kind: (ops the model allowed one outcome for, ops).
    pub single: BTreeMap<(Cow<'static, str>, &'static str), (u64, u64)>,
    /// The same, for ops of cases pinned to a CPU (an LRU hash's target: every op one outcome).
    pub single_pinned: BTreeMap<(Cow<'static, str>, &'static str), (u64, u64)>,
    /// Where the cases' time went, by the runner's own clock (`bench` prints it).
    pub time: Timing,
}

/// Time spent in each part of running cases; what a search spends beyond them is generation,
/// shrinking and the runner's bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// The model: preconditions, allowed sets, `admits`, `apply` (and the per-op counting).
    pub model: Duration,
    /// The backend's ops (a case process's pipe round trips included).
    pub kernel: Duration,
    /// Of `model` and `kernel`, the end-of-case observations (state, info, liveness, settles).
    pub end_of_case: Duration,
    /// Starting case processes (fdtable cases), until each says it is ready.
    pub spawn: Duration,
    /// Resetting the backend after each case (every fd closed, cgroup directories removed).
    pub reset: Duration,
    /// A scale run's ops up to its `fill` (the create and the fill), whole steps.
    pub prefix: Duration,
    /// A scale run's own ops after that prefix, whole steps (model, backend, bookkeeping).
    pub own: Duration,
    /// Case processes started.
    pub started: u64,
    /// fdtable cases run in a case process started for an earlier case.
    pub reused: u64,
}

impl Timing {
    fn add(&mut self, o: &Timing) {
        self.model += o.model;
        self.kernel += o.kernel;
        self.end_of_case += o.end_of_case;
        self.spawn += o.spawn;
        self.reset += o.reset;
        self.prefix += o.prefix;
        self.own += o.own;
        self.started += o.started;
        self.reused += o.reused;
    }
}

impl Stats {
    /// Counts the cell of `o`; an errno the model allowed is counted under the model's
    /// reason (`EINVAL[flags]`), one it did not allow under the bare errno (outside the
    /// catalogue: the case diverges anyway).
    fn record(&mut self, world: &World, op: &Op, allowed: &Allowed, o: &Outcome) {
        self.ops += 1;
        let family = match o {
            Err(e) if *e == mapcheck_model::Errno::EMFILE => Cow::Borrowed("fdtable"),
            _ => family_word(world, op),
        };
        let outcome = match o {
            Ok(mapcheck_model::Ret::Alive(true)) => Cow::Borrowed("alive"),
            Ok(mapcheck_model::Ret::Alive(false)) => Cow::Borrowed("gone"),
            // A batch's errno that came with a count: the cell of that errno.
            Ok(mapcheck_model::Ret::Batch(b)) if b.err.is_some() => {
                let e = b.err.expect("matched");
                Cow::Owned(match allowed.why_of(o) {
                    Some(w) => format!("{e}[{}]", w.word()),
                    None => e.to_string(),
                })
            }
            Ok(_) => Cow::Borrowed("ok"),
            Err(e) => Cow::Owned(match allowed.why_of(o) {
                Some(w) => format!("{e}[{}]", w.word()),
                None => e.to_string(),
            }),
        };
        let single = self.single.entry((family.clone(), op.kind())).or_default();
        single.0 += u64::from(allowed.is_single());
        single.1 += 1;
        if world.cpu.is_some() {
            let pinned = self.single_pinned.entry((family.clone(), op.kind())).or_default();
            pinned.0 += u64::from(allowed.is_single());
            pinned.1 += 1;
        }
        *self.cells.entry((family, op.kind(), outcome)).or_default() += 1;
    }
    /// Outcome coverage over `rows` (families and the other coverage rows): cells hit,
    /// cells catalogued (`model/src/coverage.rs`), and the missing ones as `row/op:outcome`.
    pub fn coverage(
        &self,
        profile: &mapcheck_model::Profile,
        rows: &[String],
    ) -> (usize, usize, Vec<String>) {
        let (mut hit, mut all, mut missing) = (0, 0, Vec::new());
        for fam in rows {
            for (op, o) in mapcheck_model::coverage::cells(fam, profile) {
                all += 1;
                if self.observed(fam, op, &o) {
                    hit += 1;
                } else {
                    missing.push(format!("{fam}/{op}:{o}"));
                }
            }
        }
        (hit, all, missing)
    }
    /// Was this cell hit? The `invalid_type` row gathers every `typeN` family.
    pub fn observed(&self, row: &str, op: &str, outcome: &str) -> bool {
        self.cells.iter().any(|((f, cop, co), n)| {
            let fam_ok = if row == "invalid_type" {
                f.starts_with("type")
            } else {
                f == row
            };
            *n > 0 && fam_ok && *cop == op && co == outcome
        })
    }
    /// Adds another run's counters.
    pub fn merge(&mut self, other: &Stats) {
        self.cases += other.cases;
        self.ops += other.ops;
        for (k, v) in &other.cells {
            *self.cells.entry(k.clone()).or_default() += v;
        }
        for (k, (a, b)) in &other.single {
            let e = self.single.entry(k.clone()).or_default();
            e.0 += a;
            e.1 += b;
        }
        for (k, (a, b)) in &other.single_pinned {
            let e = self.single_pinned.entry(k.clone()).or_default();
            e.0 += a;
            e.1 += b;
        }
        self.time.add(&other.time);
    }
}

/// The coverage row an op belongs to: its map's type, `badfd`, `nonmap` (an element op
/// through a program, cgroup or perf fd) or `objects` (everything about other objects).
pub fn family_of(world: &World, op: &Op) -> String {
    family_word(world, op).into_owned()
}

fn family_word(world: &World, op: &Op) -> Cow<'static, str> {
    let word = |t: MapType| t.name().map_or_else(|| Cow::Owned(t.word()), Cow::Borrowed);
    Cow::Borrowed(match op {
        Op::FdTable | Op::SetRlimit { .. } | Op::DropCap | Op::IdGap { .. } => "fdtable",
        Op::Cpu { .. } => "cpu",
        Op::Fill { .. } => "scale",
        Op::CreateMap { spec, .. } => return word(spec.map_type),
        Op::Close { handle } => match world.map(*handle) {
            Some(m) => return word(m.spec.map_type),
            None => "objects",
        },
        _ => match op.map_ref() {
            Some(FdRef::Handle(h)) => match world.map(h) {
                Some(m) => return word(m.spec.map_type),
                None => "nonmap",
            },
            Some(FdRef::Bad(_)) => "badfd",
            None => "objects",
        },
    })
}

/// What one executed case produced.
#[derive(Clone)]
pub struct CaseRun {
    /// The ops executed, end-of-case checks included.
    pub executed: Vec<Op>,
    /// The kernel's outcome of each executed op.
    pub outcomes: Vec<Outcome>,
    /// The divergence, if any (the last executed op).
    pub divergence: Option<Divergence>,
    /// The op (index into the case's ops) whose precondition failed, with why: the case's
    /// ops stopped there (the end-of-case observations still ran).
    pub stopped: Option<(usize, String)>,
    /// How many of `executed` are the case's own ops (the rest are end-of-case ops).
    pub own: usize,
}

/// Set (by a signal handler, say) to make `search` stop at the next chunk and cut shrinking
/// short, reporting what it has.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stopping() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Sees each case's ops before they run.
pub type CaseHook = Box<dyn FnMut(&[Op])>;
/// Sees the first failing case of a search, unshrunk, with its divergence.
pub type FailureHook = Box<dyn FnMut(&Case, &Divergence)>;

/// Observers of a search, for `fuzz` workers: every case before it runs (a hang or crash
/// then still has its script), and every failing case before it is shrunk (so that a kill
/// during shrinking loses nothing).
#[derive(Default)]
pub struct Hooks {
    /// Called with each case's ops before they run.
    pub on_case: Option<CaseHook>,
    /// Called with the first failing case, unshrunk, as a script.
    pub on_failure: Option<FailureHook>,
}

thread_local! {
    static HOOKS: RefCell<Hooks> = RefCell::new(Hooks::default());
}

/// Installs this thread's search observers.
pub fn set_hooks(h: Hooks) {
    HOOKS.with(|c| *c.borrow_mut() = h);
}

/// Held shared by every case that runs in this process, exclusively while a case process
/// is started (see `run_routed`).
static CASES: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Does this case need a process of its own (fd numbers and rlimits are part of it, or it
/// pins itself to a CPU)?
pub fn needs_isolation(ops: &[Op]) -> bool {
    ops.first() == Some(&Op::FdTable) || ops.iter().any(|o| matches!(o, Op::Cpu { .. }))
}

/// `run_case` on the right backend: `kernel`, or a child process for an `fdtable` case: a
/// fresh one, or inside `isolate::Reuse` one that served an earlier case and proved itself
/// clean (a child that cannot start makes every op `lost`, reported like any divergence).
pub fn run_routed<S: Sys>(
    world: World,
    kernel: &mut Kernel<S>,
    ops: &[Op],
    end_checks: bool,
    stats: &mut Stats,
    seen: Option<&AtomicUsize>,
) -> CaseRun {
    HOOKS.with(|h| {
        if let Some(f) = h.borrow_mut().on_case.as_mut() {
            f(ops)
        }
    });
    if !needs_isolation(ops) {
        let _case = CASES.read().unwrap_or_else(|e| e.into_inner());
        return run_case(world, kernel, ops, end_checks, stats, seen);
    }
    let exact = ops.iter().any(|o| matches!(o, Op::IdGap { .. }));
    // A case process that served an earlier case and came back clean (`isolate::Reuse`).
    let fault = kernel.planted();
    if let Some(mut child) = crate::isolate::idle(exact, fault) {
        stats.time.reused += 1;
        let run = run_case(world, &mut child, ops, end_checks, stats, seen);
        crate::isolate::put_back(child);
        return run;
    }
    // Until its exec, a new process shares every open file of this one: a map another
    // thread closes meanwhile would outlive its close. No in-process case runs meanwhile.
    let started = Instant::now();
    let spawned = {
        let _spawn = CASES.write().unwrap_or_else(|e| e.into_inner());
        crate::isolate::Child::spawn(exact, fault)
    };
    stats.time.spawn += started.elapsed();
    stats.time.started += 1;
    match spawned {
        Ok(mut child) => {
            let run = run_case(world, &mut child, ops, end_checks, stats, seen);
            crate::isolate::put_back(child);
            run
        }
        Err(why) => run_case(
            world,
            &mut crate::isolate::Unstarted(why),
            ops,
            end_checks,
            stats,
            seen,
        ),
    }
}

/// Runs `ops` in lockstep from `world`, then (if `end_checks`) the end-of-case observations
/// (`end_of_case`); stops at the first divergence. A precondition that fails mid-case (the
/// kernel took another allowed path than the script assumed) stops the ops and is reported in
/// `CaseRun::stopped`, and the end-of-case observations still run. A panic anywhere (model,
/// runner, a kernel answer that breaks an assumption) is a divergence whose outcome is `lost`.
/// The backend is reset afterwards in every case, panic or not.
pub fn run_case<B: Backend + ?Sized>(
    world: World,
    kernel: &mut B,
    ops: &[Op],
    end_checks: bool,
    stats: &mut Stats,
    seen: Option<&AtomicUsize>,
) -> CaseRun {
    stats.cases += 1;
    let mut run = CaseRun {
        executed: Vec::new(),
        outcomes: Vec::new(),
        divergence: None,
        stopped: None,
        own: 0,
    };
    let mut world = world;
    // The op being run, and how many ops had been executed when it started.
    let mut current: Option<(Op, usize)> = None;
    let caught = catch_panic(std::panic::AssertUnwindSafe(|| {
        run_steps(
            &mut world,
            kernel,
            ops,
            end_checks,
            stats,
            seen,
            &mut run,
            &mut current,
        )
    }));
    if let Err(msg) = caught {
        // The op that was running is where the case failed; if the kernel had answered it
        // (the panic came from the model's `admits` or `apply`), the answer is replaced.
        let (op, start) = current.unwrap_or((Op::Dying, run.executed.len()));
        run.executed.truncate(start);
        run.outcomes.truncate(start);
        let observed: Outcome = Ok(mapcheck_model::Ret::Lost(format!("panic: {msg}")));
        run.executed.push(op.clone());
        run.outcomes.push(observed.clone());
        // A panic among the script's ops: those that ran are its own (`run_steps` never got
        // to count them).
        if run.own == 0 {
            run.own = run.executed.len();
        }
        run.divergence = Some(Divergence {
            index: run.executed.len() - 1,
            op,
            allowed: Allowed::OneOf(Vec::new(), "nothing: the model or the harness panicked"),
            observed,
            world_before: world,
        });
    }
    let started = Instant::now();
    kernel.reset();
    stats.time.reset += started.elapsed();
    run
}

/// The body of `run_case`; `current` holds the op being run, for a panic's report.
#[allow(clippy::too_many_arguments)]
fn run_steps<B: Backend + ?Sized>(
    world: &mut World,
    kernel: &mut B,
    ops: &[Op],
    end_checks: bool,
    stats: &mut Stats,
    seen: Option<&AtomicUsize>,
    run: &mut CaseRun,
    current: &mut Option<(Op, usize)>,
) {
    // One op: false when the case must stop (divergence, or a precondition that fails).
    let mut step =
        |world: &mut World, op: &Op, run: &mut CaseRun, current: &mut Option<(Op, usize)>| -> bool {
            *current = Some((op.clone(), run.executed.len()));
            let t0 = Instant::now();
            if let Err(why) = world.precondition(op) {
                run.stopped = Some((run.executed.len(), why));
                return false;
            }
            let allowed = world.allowed(op);
            let t1 = Instant::now();
            let observed = kernel.exec(op);
            let t2 = Instant::now();
            stats.record(world, op, &allowed, &observed);
            run.executed.push(op.clone());
            run.outcomes.push(observed.clone());
            let admitted = world.admits(op, &allowed, &observed);
            stats.time.kernel += t2 - t1;
            if !admitted {
                stats.time.model += (t1 - t0) + t2.elapsed();
                run.divergence = Some(Divergence {
                    index: run.executed.len() - 1,
                    op: op.clone(),
                    allowed,
                    observed,
                    world_before: world.clone(),
                });
                return false;
            }
            world.apply(op, &observed);
            // Four clock reads an op: they were 4 % of a hash run's time at seven.
            stats.time.model += (t1 - t0) + t2.elapsed();
            // Every new map fd (create, fd_by_id, get_pinned) is read back at once with
            // BPF_OBJ_GET_INFO_BY_FD: which object it refers to and the attributes the kernel
            // kept. Not written into the script when it agrees (replay repeats it); when it
            // does not, the `info` is appended after the op and is the divergence.
            let new_map = op.creates().filter(|h| world.map(*h).is_some());
            if let (Some(h), Ok(_)) = (new_map, &observed) {
                let info = Op::Info {
                    map: FdRef::Handle(h),
                };
                let allowed = world.allowed(&info);
                let t4 = Instant::now();
                let got = kernel.exec(&info);
                stats.time.kernel += t4.elapsed();
                stats.record(world, &info, &allowed, &got);
                if !world.admits(&info, &allowed, &got) {
                    run.executed.push(info.clone());
                    run.outcomes.push(got.clone());
                    run.divergence = Some(Divergence {
                        index: run.executed.len() - 1,
                        op: info,
                        allowed,
                        observed: got,
                        world_before: world.clone(),
                    });
                    return false;
                }
            }
            true
        };
    // A scale run's ops up to its fill are booked apart (`bench --fill`).
    let prefix_end = ops.iter().position(|o| matches!(o, Op::Fill { .. }));
    let (mut prefix, mut own) = (Duration::ZERO, Duration::ZERO);
    for (i, op) in ops.iter().enumerate() {
        if let Some(s) = seen {
            s.fetch_add(1, Ordering::Relaxed);
        }
        let t = prefix_end.map(|_| Instant::now());
        let ok = step(world, op, run, current);
        match (t, prefix_end.is_some_and(|e| i <= e)) {
            (Some(t), true) => prefix += t.elapsed(),
            (Some(t), false) => own += t.elapsed(),
            (None, _) => {}
        }
        if !ok {
            break;
        }
    }
    run.own = run.executed.len();
    if run.divergence.is_some() || !end_checks {
        stats.time.prefix += prefix;
        stats.time.own += own;
        return;
    }
    // The end-of-case ops are built one at a time: each settle changes what is pending.
    let end_start = run.executed.len();
    let end_clock = Instant::now();
    'end: {
        let mut done = 0;
        while let Some(op) = end_of_case(world, done) {
            done += 1;
            let before = run.stopped.take();
            let ok = step(world, &op, run, current);
            // An end-of-case op the model refuses is a harness bug: a divergence, so that a
            // search fails on it too (a stop alone ends a generated case quietly). Like the audit
            // below it lies past the last op run: the op never ran, and a script of the case's
            // own ops meets it again at its end.
            if let Some((_, why)) = run.stopped.take() {
                let observed: Outcome = Ok(mapcheck_model::Ret::Lost(format!(
                    "not run: the model refuses this end-of-case op: {why}"
                )));
                run.divergence = Some(Divergence {
                    index: run.executed.len(),
                    op,
                    allowed: Allowed::OneOf(Vec::new(), "nothing: an end-of-case op must apply"),
                    observed,
                    world_before: world.clone(),
                });
                run.stopped = before;
                break 'end;
            }
            run.stopped = before;
            if !ok {
                break 'end;
            }
        }
        // Nondeterminism must narrow: once every release has settled, liveness and the dying
        // count are single outcomes. A model still allowing a set here would let a kernel that
        // never releases anything pass.
        let cgroups = world.profile.cgroup2
            && world.limits.is_none()
            && world.created.keys().any(|h| h.kind == Kind::Cgroup);
        // The same holds for an order once it is seen: after a full `check` walk the first key
        // of the map is known. (A map above `kernel::WALK_LIMIT` entries is dumped by batch
        // only: no walk, no order seen.)
        let walked: Vec<Op> = run.executed[end_start..]
            .iter()
            .zip(&run.outcomes[end_start..])
            .filter_map(|(op, o)| match (op, o) {
                (Op::Check { map }, Ok(Ret::State(MapState { walk: Some(_), .. }) | Ret::Slots(_))) => {
                    Some(Op::GetNextKey { map: *map, key: None })
                }
                _ => None,
            })
            .collect();
        // And the contents of a map once its full state is seen: an LRU hash an unpinned case
        // wrote may still be in several list states (`World::split`), but only ones that hold
        // what the kernel showed.
        let dumped: Vec<Op> = run.executed[end_start..]
            .iter()
            .zip(&run.outcomes[end_start..])
            .filter(|(op, o)| matches!((op, o), (Op::Check { .. }, Ok(Ret::State(_)))))
            .map(|(op, _)| op.clone())
            .collect();
        let unsettled = world
            .created
            .keys()
            .filter(|h| matches!(h.kind, Kind::Map | Kind::Prog))
            .map(|h| Op::Alive { target: *h })
            .chain(cgroups.then_some(Op::Dying))
            .chain(walked)
            .find(|op| world.allowed(op).exactly().is_none())
            .or_else(|| {
                (dumped.into_iter())
                    .find(|op| matches!(world.allowed(op), Allowed::Either(..) | Allowed::OneOf(..)))
            });
        if let Some(op) = unsettled {
            // Not an op of the script (nothing runs): the divergence sits past its last op, so a
            // replay meets it again at the end of the case.
            let allowed = world.allowed(&op);
            let observed: Outcome = Ok(mapcheck_model::Ret::Lost(format!(
                "not run: every release has settled and every map was walked, yet the model still allows {allowed}: a set must narrow once the kernel's choice is seen"
            )));
            run.divergence = Some(Divergence {
                index: run.executed.len(),
                op,
                allowed,
                observed,
                world_before: world.clone(),
            });
        }
    }
    stats.time.end_of_case += end_clock.elapsed();
    stats.time.prefix += prefix;
    stats.time.own += own;
}

/// The `n`th end-of-case observation of `world`, if any: `info` and the full state of every
/// open map, every queue and stack popped dry, a delete of every index of the unreadable fd
/// arrays, the liveness of every map and program
/// the case created (a release the model knows is pending is *settled*: it must come within
/// the bound, or it is a leak), and removed cgroups settled the same way.
pub fn end_of_case(world: &World, n: usize) -> Option<Op> {
    // What the kernel says each open map fd refers to (its id resolves to the creating
    // handle, so an fd of another object shows), then the full state of every open map.
    let infos = world.handles().filter(|h| h.kind == Kind::Map).map(|h| Op::Info {
        map: FdRef::Handle(h),
    });
    let checks = world
        .handles()
        .filter(|h| h.kind == Kind::Map)
        .map(|h| Op::Check {
            map: FdRef::Handle(h),
        });
    // Liveness: `alive` of a live object, `settle` of a pending one (it must go).
    let lives = world
        .created
        .keys()
        .filter(|h| matches!(h.kind, Kind::Map | Kind::Prog))
        .map(|h| match world.object_of(*h).map(|o| o.life) {
            Some(mapcheck_model::world::Life::Pending) => Op::Settle { target: *h },
            _ => Op::Alive { target: *h },
        });
    let dying = world.dying_pending().then(|| Op::SettleDying {
        max: world.dying_counts().0,
    });
    // CGROUP_ARRAY and PERF_EVENT_ARRAY cannot be read back; a delete of every index
    // (destructive, so only now) shows which slots the kernel still holds.
    let probes = world.handles().filter_map(|h| {
        let m = world.map(h)?;
        let small = m.spec.max_entries <= 256 && world.fds[&h].write && !m.frozen;
        let unreadable = matches!(m.spec.map_type, MapType::CgroupArray | MapType::PerfEventArray);
        (small && unreadable).then(|| {
            (0..m.spec.max_entries).map(move |i| Op::Delete {
                map: FdRef::Handle(h),
                key: i.to_le_bytes().to_vec(),
            })
        })
    });
    // What a family reads back beyond `check` (a queue popped dry, a bloom filter's pushed
    // values peeked): `ValueMap::read_back`, destructive, so only now.
    let read_backs = world.handles().filter_map(|h| {
        let m = world.map(h)?;
        let fd = &world.fds[&h];
        match &m.data {
            mapcheck_model::world::MapData::Values(v) => {
                Some(v.read_back(FdRef::Handle(h), fd.read, fd.write && !m.frozen))
            }
            mapcheck_model::world::MapData::Fds(_) => None,
        }
    });
    // Probes first: a delete can release a held object, whose release is then settled.
    infos
        .chain(checks)
        .chain(read_backs.flatten())
        .chain(probes.flatten())
        .chain(lives)
        .chain(dying)
        .nth(n)
}

/// Runs `f`, turning a panic into `Err(message with its location)`. While it runs, this
/// thread's panics are not printed (each is reported once, as a divergence, with its case).
pub fn catch_panic<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    let quiet = QuietPanics::new();
    let r = std::panic::catch_unwind(f);
    drop(quiet);
    r.map_err(|_| {
        PANIC_MSG
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// While one lives, this thread's panics are recorded (`PANIC_MSG`) instead of printed: a
/// search reports each as a divergence with its script (generation catches its own).
pub struct QuietPanics;

impl QuietPanics {
    /// Starts a quiet scope (they nest).
    pub fn new() -> QuietPanics {
        install_panic_hook();
        CAPTURING.with(|c| c.set(c.get() + 1));
        QuietPanics
    }
}

impl Default for QuietPanics {
    fn default() -> Self {
        QuietPanics::new()
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.set(c.get().saturating_sub(1)));
        // A panic escaping the scope was caught by nobody: say it, as the default hook would.
        if std::thread::panicking() && CAPTURING.with(|c| c.get()) == 0 {
            if let Some(msg) = PANIC_MSG.with(|m| m.borrow_mut().take()) {
                eprintln!("mapcheck panicked: {msg}");
            }
        }
    }
}

thread_local! {
    static CAPTURING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static PANIC_MSG: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(|c| c.get() > 0) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
                // One line, so that the outcome prints and parses back as `lost panic: ...`.
                let text = format!("{msg}{at}").replace(['\n', '\r'], " ");
                PANIC_MSG.with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// `settle`'s bound while shrinking (see `search`).
const SHRINK_SETTLE_BOUND: Duration = Duration::from_millis(300);

/// What kind of failure a divergence is: the op kind and the observed outcome's first word
/// (`ok`, an errno, `lost`). Shrinking keeps only candidates that fail the same way.
pub fn kind_of(d: &Divergence) -> (&'static str, String) {
    let o = fmt_outcome(&d.observed);
    (d.op.kind(), o.split_whitespace().next().unwrap_or("").to_string())
}

/// How to search.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// The run seed; everything generated follows from it.
    pub seed: u64,
    /// Stop after this many cases (shrinking excluded)...
    pub cases: Option<u64>,
    /// ...or when this much time has passed.
    pub budget: Duration,
    /// Longest generated case.
    pub max_ops: usize,
    /// What to generate.
    pub gen: GenConfig,
    /// Keep every executed op sequence in `SearchResult::recorded` (for `bench`).
    pub record: bool,
    /// Time allowed for proptest's shrinking, and again for the final greedy deletion.
    pub shrink_time: Duration,
}

/// A shrunk divergence as a case ready to be written.
pub struct Found {
    /// The minimal script, annotated with the kernel's outcomes.
    pub case: Case,
    /// The divergence at its last op.
    pub divergence: Divergence,
    /// The divergence did not come back when the shrunk script was re-run.
    pub flaky: bool,
}

/// What a search produced.
pub struct SearchResult {
    /// Counters.
    pub stats: Stats,
    /// Cases generated (not counting shrink steps).
    pub generated: u64,
    /// The shrunk divergence, if one was found.
    pub found: Option<Found>,
    /// Wall time.
    pub elapsed: Duration,
    /// Every executed case's ops, if `SearchConfig::record`, with how many of them were the
    /// case's own (the rest are its end-of-case observations).
    pub recorded: Vec<(Vec<Op>, usize)>,
}

/// Expands a u64 run seed into proptest's 32-byte ChaCha seed.
pub fn rng_for(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    let mut x = seed;
    for chunk in bytes.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&mapcheck_model::gen::mix64(x).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Generates cases until the budget is spent or a divergence is found, and shrinks it.
/// `tick` is called after every chunk of cases with the stats so far (progress display).
pub fn search<S: Sys>(
    cfg: &SearchConfig,
    kernel: &mut Kernel<S>,
    mut tick: impl FnMut(&Stats, u64),
) -> SearchResult {
    set_config(cfg.gen.clone());
    let _quiet = QuietPanics::new();
    // fdtable cases reuse a case process that came back clean (isolate::Reuse).
    let _reuse = crate::isolate::Reuse::enter();
    let start = Instant::now();
    const CHUNK: u64 = 32;
    let pconfig = Config {
        cases: 1,
        failure_persistence: None,
        max_shrink_iters: 100_000,
        // Ops that wait (map-in-map writes: an RCU grace period; settle: up to 5 s) make
        // shrink steps slow; a bounded shrink reports a slightly longer script instead.
        max_shrink_time: cfg.shrink_time.as_millis() as u32,
        max_local_rejects: 1 << 20,
        max_global_rejects: 1 << 20,
        ..Config::default()
    };
    // Cases are drawn from one RNG (`draw_case`: no value trees on the hot path); a failing
    // one is redrawn as proptest's value tree and shrunk by a runner whose RNG comes from the
    // same one: the whole run still follows from the seed.
    let mut master = TestRunner::new_with_rng(pconfig.clone(), rng_for(cfg.seed));
    let stats = RefCell::new(Stats::default());
    let kernel = RefCell::new(kernel);
    let mut generated = 0u64;
    let all_recorded = RefCell::new(Vec::new());
    let last_failing: RefCell<Option<(World, Vec<Op>, CaseRun)>> = RefCell::new(None);
    let reported_raw = std::cell::Cell::new(false);
    let first_kind: RefCell<Option<(&'static str, String)>> = RefCell::new(None);
    let test = |(state, ops, seen): (GenState, Vec<Op>, Option<Arc<AtomicUsize>>)| {
        let mut k = kernel.borrow_mut();
        // Once a case failed, every run is a shrink step: a leak need not wait 5 s each
        // time (the shrunk script is re-run with the full bound before it is reported).
        k.settle_bound = match reported_raw.get() {
            true => SHRINK_SETTLE_BOUND,
            false => crate::kernel::SETTLE_BOUND,
        };
        // An fdtable case was generated from the world after `fdtable`; it runs from the
        // base world with that op first, in its own process.
        // A scale run's prefix (create, fill) likewise runs first, from the base world.
        // A pinned case (LRU hashes) likewise starts with its `cpu` op.
        let mut first = Vec::new();
        if state.world.limits.is_some() {
            first.push(Op::FdTable);
        }
        if let (Some(cpu), None) = (state.world.cpu, cfg.gen.world.cpu) {
            first.push(Op::Cpu { cpu });
        }
        let (start, ops) = match first.is_empty() && cfg.gen.prefix.is_empty() {
            true => (state.world.clone(), ops),
            false => (
                cfg.gen.world.clone(),
                [first, cfg.gen.prefix.clone(), ops].concat(),
            ),
        };
        let run = run_routed(
            start.clone(),
            &mut **k,
            &ops,
            true,
            &mut stats.borrow_mut(),
            seen.as_deref(),
        );
        if cfg.record {
            all_recorded.borrow_mut().push((run.executed.clone(), run.own));
        }
        match &run.divergence {
            None => Ok(()),
            // A shrink step that fails another way (a release slower than the short
            // shrink bound, say) is not the failure being shrunk: it counts as a pass.
            Some(d) if reported_raw.get() && Some(kind_of(d)) != *first_kind.borrow() => Ok(()),
            Some(d) => {
                // proptest hands back its tree's current value, which after a final
                // passing `complicate` need not fail; keep the last failing input.
                if !reported_raw.get() {
                    *first_kind.borrow_mut() = Some(kind_of(d));
                }
                if !reported_raw.replace(true) {
                    HOOKS.with(|h| {
                        if let Some(f) = h.borrow_mut().on_failure.as_mut() {
                            f(&case_from_run(&run, &start, cfg.seed), d)
                        }
                    });
                }
                let why = format!("divergence at op {}", d.index);
                let n = run.executed.len().min(ops.len());
                *last_failing.borrow_mut() = Some((start, ops[..n].to_vec(), run));
                Err(TestCaseError::fail(why))
            }
        }
    };
    loop {
        let limit_hit = cfg.cases.is_some_and(|c| generated >= c);
        if limit_hit || (cfg.cases.is_none() && start.elapsed() >= cfg.budget) || stopping() {
            break;
        }
        let drawn = draw_case(master.rng(), cfg.max_ops);
        let n = drawn.ops.len();
        let failed = test((drawn.start, drawn.ops, None)).is_err();
        generated += 1;
        if generated.is_multiple_of(CHUNK) || failed {
            tick(&stats.borrow(), generated);
        }
        if failed {
            // Shrinking proper: the same case as proptest's value tree, shrunk by proptest
            // (the redraw runs it first; a case that passes then is still reported below,
            // from its first run).
            let _redraw = Redrawing::start(drawn.draws);
            let mut runner = TestRunner::new_with_rng(pconfig.clone(), master.new_rng());
            let _ = runner.run(&MapMachine::sequential_strategy(n..=n), test);
        }
        if let Some((world, ops, recorded)) = last_failing.take() {
            let mut k = kernel.borrow_mut();
            let mut st = stats.borrow_mut();
            // Shrink steps ran with the short bound; `minimize` re-runs its start with this.
            k.settle_bound = crate::kernel::SETTLE_BOUND;
            let kind = first_kind.borrow().clone();
            let ops = minimize(
                &world,
                ops,
                &mut k,
                &mut st,
                Instant::now() + cfg.shrink_time,
                kind,
            );
            k.settle_bound = crate::kernel::SETTLE_BOUND;
            let mut rerun = run_routed(world.clone(), &mut k, &ops, true, &mut st, None);
            // A divergence in the end-of-case observations: keep only the observation that
            // failed, if that alone still shows it.
            if let Some(d) = rerun.divergence.as_ref().filter(|d| d.index >= ops.len()) {
                let mut short = ops.clone();
                short.push(d.op.clone());
                let alone = run_routed(world.clone(), &mut k, &short, false, &mut st, None);
                if alone.divergence.is_some() {
                    rerun = alone;
                }
            }
            // A divergence that does not come back on a re-run is still reported, with the
            // last script that showed it, and marked flaky.
            let flaky = rerun.divergence.is_none();
            let run = if flaky { recorded } else { rerun };
            let found = run.divergence.clone().map(|d| {
                let mut case = case_from_run(&run, &world, cfg.seed);
                if flaky {
                    case.header.push((
                        "flaky".into(),
                        "did not reproduce on a re-run of the shrunk script".into(),
                    ));
                }
                Found {
                    case,
                    divergence: d,
                    flaky,
                }
            });
            drop(st);
            return SearchResult {
                stats: stats.into_inner(),
                generated,
                found,
                elapsed: start.elapsed(),
                recorded: all_recorded.take(),
            };
        }
    }
    // The last few cases of a search that ends between ticks are shown too.
    tick(&stats.borrow(), generated);
    SearchResult {
        stats: stats.into_inner(),
        generated,
        found: None,
        elapsed: start.elapsed(),
        recorded: all_recorded.take(),
    }
}

/// Greedy one-op deletion (and smaller creates) until nothing more goes: proptest-state-machine
/// deletes in one back-to-front pass before it shrinks individual ops, and a shrunk op can
/// make an earlier one unnecessary. A change is kept only if the model's preconditions still
/// hold and the case still diverges the way it first did (`kind`) or the way `ops` diverge
/// when run again here, with the kernel's full settle bound: where the kernel chooses (a
/// hash walk's first key, say), one bug can show as another op's divergence on each run, and
/// a kind that never comes back would keep every op. Candidates run with the short bound.
pub fn minimize<S: Sys>(
    world: &World,
    ops: Vec<Op>,
    kernel: &mut Kernel<S>,
    stats: &mut Stats,
    deadline: Instant,
    kind: Option<(&'static str, String)>,
) -> Vec<Op> {
    let mut kinds: Vec<_> = kind.into_iter().collect();
    if Instant::now() > deadline || stopping() {
        return ops;
    }
    let again = run_routed(world.clone(), kernel, &ops, true, stats, None);
    if let Some(d) = again.divergence.as_ref().filter(|_| !kinds.is_empty()) {
        if !kinds.contains(&kind_of(d)) {
            kinds.push(kind_of(d));
        }
    }
    let bound = std::mem::replace(&mut kernel.settle_bound, SHRINK_SETTLE_BOUND);
    let ops = minimize_kinds(world, ops, kernel, stats, deadline, &kinds);
    kernel.settle_bound = bound;
    ops
}

/// `minimize`'s loop: a candidate is kept if it diverges with one of `kinds` (any, if empty).
fn minimize_kinds<S: Sys>(
    world: &World,
    mut ops: Vec<Op>,
    kernel: &mut Kernel<S>,
    stats: &mut Stats,
    deadline: Instant,
    kinds: &[(&'static str, String)],
) -> Vec<Op> {
    let mut changed = true;
    while changed {
        changed = false;
        // Candidates: each op deleted; then each create with fewer entries (proptest
        // shrinks the choices a create is decoded from, which need not reach small sizes,
        // and a smaller map can make ops that filled it unnecessary).
        let mut cands: Vec<Vec<Op>> = (0..ops.len())
            .rev()
            .map(|i| {
                let mut c = ops.clone();
                c.remove(i);
                c
            })
            .collect();
        // ...each op deleted with the later ops that cannot run without it (a create with its
        // close, a map with the fd_by_id of it), where deleting it alone leaves a case the
        // preconditions refuse: one by one neither deletion is tried, and a pair stays.
        let pruned: Vec<Vec<Op>> = cands
            .iter()
            .filter(|c| !preconditions_hold(world, c))
            .map(|c| runnable(world, c))
            .filter(|c| c.len() < ops.len() - 1)
            .collect();
        cands.extend(pruned);
        for (i, op) in ops.iter().enumerate() {
            if let Op::CreateMap { handle, spec } = op {
                for n in [1, spec.max_entries / 2] {
                    if n >= 1 && n < spec.max_entries {
                        let mut c = ops.clone();
                        let mut s = spec.clone();
                        s.max_entries = n;
                        c[i] = Op::CreateMap {
                            handle: *handle,
                            spec: s,
                        };
                        cands.push(c);
                    }
                }
            }
        }
        for cand in cands {
            if Instant::now() > deadline || stopping() {
                return ops;
            }
            if !preconditions_hold(world, &cand) {
                continue;
            }
            let run = run_routed(world.clone(), kernel, &cand, true, stats, None);
            if run
                .divergence
                .as_ref()
                .is_some_and(|d| kinds.is_empty() || kinds.contains(&kind_of(d)))
            {
                ops = cand;
                changed = true;
                break;
            }
        }
    }
    ops
}

/// The ops of `ops` whose preconditions hold once those before them that failed theirs are
/// left out (following the model's own predictions).
fn runnable(world: &World, ops: &[Op]) -> Vec<Op> {
    let mut w = world.clone();
    let mut kept = Vec::new();
    for op in ops {
        if w.precondition(op).is_ok() {
            let o = mapcheck_model::gen::predict(&w, op);
            w.apply(op, &o);
            kept.push(op.clone());
        }
    }
    kept
}

/// Do the model's preconditions hold along `ops` (following the model's own predictions)?
pub fn preconditions_hold(world: &World, ops: &[Op]) -> bool {
    let mut w = world.clone();
    ops.iter().all(|op| {
        let ok = w.precondition(op).is_ok();
        if ok {
            let o = mapcheck_model::gen::predict(&w, op);
            w.apply(op, &o);
        }
        ok
    })
}

/// Turns an executed case into a script: each op annotated with what the kernel did.
pub fn case_from_run(run: &CaseRun, world: &World, seed: u64) -> Case {
    let d = run.divergence.as_ref();
    // An end-of-case audit's divergence comes back when the case's own ops are replayed
    // (replay runs the end-of-case ops itself): those alone are the script.
    let audit = d.is_some_and(|d| d.index >= run.executed.len());
    let n = if audit { run.own } else { run.executed.len() };
    let mut text = String::new();
    for op in &run.executed[..n] {
        text.push_str(&op.to_string());
    }
    let name = format!("found-{:016x}", fnv(text.as_bytes()));
    let mut header = vec![
        ("case".to_string(), name.clone()),
        ("kernel".to_string(), world.profile.release.clone()),
        ("seed".to_string(), format!("{seed:#x}")),
    ];
    if let Some(d) = d {
        // A state's outcome line says only its size: the difference says what differs.
        let diff = d
            .allowed
            .explain(&d.observed)
            .map_or(String::new(), |e| format!(" ({e})"));
        header.push((
            "why".to_string(),
            format!(
                "divergence at op {}: model allowed {}, kernel returned {}{diff}",
                d.index + 1,
                d.allowed,
                fmt_outcome(&d.observed)
            ),
        ));
    }
    if !world.faults.is_empty() {
        let f: Vec<_> = world.faults.iter().map(|f| f.name()).collect();
        header.push(("faults".to_string(), f.join(",")));
    }
    let steps = run
        .executed
        .iter()
        .take(n)
        .zip(&run.outcomes)
        .enumerate()
        .map(|(i, (op, o))| Step {
            op: op.clone(),
            // A panic is no kernel outcome: the line records none (the `why` header has it),
            // so a replay on a mended model compares nothing there.
            expect: match o {
                Ok(mapcheck_model::Ret::Lost(why)) if why.starts_with("panic: ") => None,
                _ => Some(Expect::of(o)),
            },
            line: i + 1,
            finding: false,
        })
        .collect();
    Case {
        name,
        header,
        steps,
        path: None,
    }
}

/// FNV-1a, for stable case names.
pub fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ *x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mapcheck_model::{Errno, FdRef, Handle, Why};

    /// Each op is counted in one coverage row (and fuzz signatures name it): the fd table's
    /// ops, `cpu`, a scale run's `fill`, a map's own type for creates, closes and element
    /// ops, `objects` for another object's close, `nonmap` for an element op through one.
    #[test]
    fn family_of_names_the_coverage_row() {
        let mut w = World::default();
        let lines = [
            "m0 = create array key=4 value=4 entries=4",
            "p0 = load socket_filter",
        ];
        for l in lines {
            let op = mapcheck_model::text::parse_line(l).unwrap().0;
            let o = w.allowed(&op).exactly().cloned().unwrap();
            w.apply(&op, &o);
        }
        let family = |line: &str| family_of(&w, &mapcheck_model::text::parse_line(line).unwrap().0);
        assert_eq!(family("fdtable"), "fdtable");
        assert_eq!(family("cpu 0"), "cpu");
        assert_eq!(family("fill m0 n=1"), "scale");
        assert_eq!(family("m1 = create hash key=4 value=4 entries=1"), "hash");
        assert_eq!(family("close m0"), "array");
        assert_eq!(family("close p0"), "objects");
        assert_eq!(family("lookup m0 key=00000000"), "array");
        assert_eq!(family("lookup p0 key=00000000"), "nonmap");
    }

    /// The share of ops the model left one outcome for (`run` prints it per family), with
    /// a pinned case's ops counted apart too; merging adds both counters.
    #[test]
    fn single_outcome_shares_are_counted_and_merged() {
        let mut w = World::default();
        let op = Op::Freeze {
            map: FdRef::Handle(Handle::map(0)),
        };
        let one = Allowed::Exactly(Ok(mapcheck_model::Ret::Unit));
        let two = Allowed::OneOf(vec![Err(Errno::EPERM), Err(Errno::EBUSY)], "test");
        let mut st = Stats::default();
        st.record(&w, &op, &one, &Ok(mapcheck_model::Ret::Unit));
        st.record(&w, &op, &two, &Err(Errno::EPERM));
        w.cpu = Some(0);
        st.record(&w, &op, &one, &Ok(mapcheck_model::Ret::Unit));
        st.record(&w, &op, &two, &Err(Errno::EBUSY));
        st.record(&w, &op, &one, &Ok(mapcheck_model::Ret::Unit));
        st.record(&w, &op, &one, &Ok(mapcheck_model::Ret::Unit));
        let shares = |st: &Stats| {
            let v = |m: &BTreeMap<_, (u64, u64)>| m.values().copied().collect::<Vec<_>>();
            (v(&st.single), v(&st.single_pinned))
        };
        // (Counts whose doubles are not their squares: merging adds, it does not multiply.)
        assert_eq!(shares(&st), (vec![(4, 6)], vec![(3, 4)]));
        let mut merged = st.clone();
        merged.merge(&st);
        assert_eq!(shares(&merged), (vec![(8, 12)], vec![(6, 8)]));
    }

    /// Merged stats (a parallel search's workers, `bench`'s runs) add every part of the
    /// time split, which `bench` prints to say where a run's time went.
    #[test]
    fn merging_adds_each_part_of_the_time_split() {
        let ms = Duration::from_millis;
        let part = |n: u64| Timing {
            model: ms(n),
            kernel: ms(n + 1),
            end_of_case: ms(n + 2),
            spawn: ms(n + 3),
            reset: ms(n + 4),
            prefix: ms(n + 5),
            own: ms(n + 6),
            started: n + 7,
            reused: n + 8,
        };
        let mut a = Stats {
            time: part(10),
            ..Stats::default()
        };
        a.merge(&Stats {
            time: part(3),
            ..Stats::default()
        });
        let t = a.time;
        let got = [
            t.model,
            t.kernel,
            t.end_of_case,
            t.spawn,
            t.reset,
            t.prefix,
            t.own,
        ];
        let want: Vec<Duration> = (0..7).map(|i| ms(10 + i) + ms(3 + i)).collect();
        assert_eq!(got.to_vec(), want);
        assert_eq!((t.started, t.reused), (17 + 10, 18 + 11));
    }

    /// A refusal the model allowed is counted under the model's path; one it did not allow
    /// (a divergence) under the bare errno, which no catalogue cell matches.
    #[test]
    fn refusals_are_counted_by_path() {
        let w = World::default();
        let op = Op::Freeze {
            map: FdRef::Handle(Handle::map(0)),
        };
        let mut st = Stats::default();
        let allowed = Allowed::OneOf(vec![Err(Why::Access.errno()), Err(Why::Refreeze.errno())], "test");
        st.record(&w, &op, &allowed, &Err(Errno::EPERM));
        st.record(&w, &op, &allowed, &Err(Errno::EBUSY));
        st.record(
            &w,
            &op,
            &Allowed::Exactly(Ok(mapcheck_model::Ret::Unit)),
            &Ok(mapcheck_model::Ret::Unit),
        );
        let cells: Vec<String> = st.cells.keys().map(|(_, op, o)| format!("{op}:{o}")).collect();
        // The first member with the kernel's number names the path: equal numbers, one cell.
        assert_eq!(cells, ["freeze:EBUSY", "freeze:EPERM[access]", "freeze:ok"]);
        assert_eq!(st.ops, 3);
    }

    /// Coverage counts exactly the catalogue cells hit at least once, per row (`typeN`
    /// families in the `invalid_type` row), and names the others; merging adds counters.
    #[test]
    fn coverage_counts_exactly_what_was_hit() {
        let p = mapcheck_model::Profile::default();
        let mut st = Stats::default();
        let cell =
            |f: &str, op: &'static str, o: &str| -> Cell { (f.to_string().into(), op, o.to_string().into()) };
        st.cells.insert(cell("array", "update", "ok"), 2);
        st.cells.insert(cell("array", "update", "EINVAL[flags]"), 1);
        st.cells.insert(cell("array", "lookup", "ok"), 0);
        st.cells.insert(cell("hash", "delete", "ok"), 1);
        st.cells.insert(cell("type27", "create", "EINVAL[type]"), 1);
        let rows = ["array", "invalid_type"].map(String::from);
        let (hit, all, missing) = st.coverage(&p, &rows);
        let catalogue = mapcheck_model::coverage::cells("array", &p).len() + 1;
        assert_eq!((hit, all), (3, catalogue));
        assert_eq!(missing.len(), catalogue - 3);
        assert!(missing.contains(&"array/lookup:ok".to_string()), "{missing:?}");
        assert!(!missing.iter().any(|m| m.starts_with("invalid_type/")));
        assert!(st.observed("array", "update", "ok") && !st.observed("array", "lookup", "ok"));
        assert!(!st.observed("array", "delete", "ok") && !st.observed("percpu_array", "update", "ok"));
        assert!(st.observed("invalid_type", "create", "EINVAL[type]"));
        assert!(!st.observed("array", "update", "EINVAL[f-lock]"));
        let mut sum = Stats {
            cases: 2,
            ops: 5,
            ..Stats::default()
        };
        st.cases = 3;
        st.ops = 7;
        sum.merge(&st);
        sum.merge(&st);
        assert_eq!((sum.cases, sum.ops), (8, 19));
        assert_eq!(sum.cells[&cell("array", "update", "ok")], 4);
        assert_eq!(sum.cells.len(), st.cells.len());
    }

    /// Shrinking keeps a candidate only if it fails the same way: the op kind and the first
    /// word of what the kernel said.
    #[test]
    fn a_failure_kind_is_the_op_and_the_outcome_word() {
        let d = |op: Op, observed: Outcome| Divergence {
            index: 0,
            op,
            allowed: Allowed::Exactly(Ok(mapcheck_model::Ret::Unit)),
            observed,
            world_before: World::default(),
        };
        let m = FdRef::Handle(Handle::map(0));
        let freeze = d(Op::Freeze { map: m }, Err(Errno::EPERM));
        assert_eq!(kind_of(&freeze), ("freeze", "EPERM".to_string()));
        let lost = d(
            Op::Check { map: m },
            Ok(mapcheck_model::Ret::Lost("panic: x".into())),
        );
        assert_eq!(kind_of(&lost).0, "check");
        assert_ne!(
            kind_of(&lost),
            kind_of(&d(Op::Check { map: m }, Err(Errno::EPERM)))
        );
    }

    /// FNV-1a 64 (names of found cases, canary seeds): the reference values.
    #[test]
    fn fnv_is_fnv1a_64() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// The end-of-case ops of a world, in order: `info` then `check` of every open map fd,
    /// delete probes of the small writable CGROUP_ARRAY / PERF_EVENT_ARRAY only (not the
    /// 300-entry one), then liveness of every map and program created (a settle for the
    /// inner map whose release through its closed outer map is pending).
    #[test]
    fn end_of_case_reads_back_probes_and_settles_in_order() {
        let script = "m0 = create array key=4 value=4 entries=2 => ok fd=m0\n\
                      m1 = create cgroup_array key=4 value=4 entries=2 => ok fd=m1\n\
                      m2 = create cgroup_array key=4 value=4 entries=300 => ok fd=m2\n\
                      m3 = create hash key=4 value=4 entries=2 => ok fd=m3\n\
                      close m3 => ok\n\
                      p0 = load socket_filter => ok fd=p0\n\
                      m4 = create array key=4 value=4 entries=1 => ok fd=m4\n\
                      m5 = create array_of_maps key=4 value=4 entries=1 inner=m4 => ok fd=m5\n\
                      update m5 key=00000000 value=fd:m4 => ok\n\
                      close m4 => ok\n\
                      close m5 => ok\n";
        let case = crate::corpus::Case::parse(script, std::path::Path::new("t.case")).unwrap();
        let mut w = World::default();
        for op in case.ops() {
            let out = mapcheck_model::gen::predict(&w, &op);
            w.apply(&op, &out);
        }
        let ops: Vec<String> = (0..)
            .map_while(|n| end_of_case(&w, n))
            .map(|o| o.to_string().trim().to_string())
            .collect();
        assert_eq!(
            ops,
            [
                "info m0",
                "info m1",
                "info m2",
                "check m0",
                "check m1",
                "check m2",
                "delete m1 key=00000000",
                "delete m1 key=01000000",
                "alive m0",
                "alive m1",
                "alive m2",
                "alive m3",
                "settle m4",
                "alive m5",
                "alive p0",
            ]
        );
    }

    /// A backend that answers every op after a pause and takes a while to reset, as a slow
    /// kernel would: the case's time is booked to the kernel and the reset, not the model.
    struct Slow;
    impl Backend for Slow {
        fn exec(&mut self, op: &Op) -> Outcome {
            std::thread::sleep(Duration::from_millis(2));
            World::default()
                .allowed(op)
                .exactly()
                .cloned()
                .unwrap_or(Ok(mapcheck_model::Ret::Unit))
        }
        fn reset(&mut self) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn time_is_booked_where_it_was_spent() {
        let lookup = Op::Lookup {
            map: FdRef::Bad(mapcheck_model::BadFd::NeverOpened),
            key: vec![0; 4],
            input: Vec::new(),
            flags: 0,
        };
        let ops = vec![lookup; 3];
        let mut st = Stats::default();
        let run = run_case(World::default(), &mut Slow, &ops, false, &mut st, None);
        assert!(run.divergence.is_none());
        let t = st.time;
        assert!(t.kernel >= Duration::from_millis(6), "{t:?}");
        assert!(t.reset >= Duration::from_millis(5), "{t:?}");
        assert!(t.model < Duration::from_millis(2), "{t:?}");
        assert_eq!((t.spawn, t.end_of_case), (Duration::ZERO, Duration::ZERO));
        let mut sum = Stats::default();
        sum.merge(&st);
        sum.merge(&st);
        assert_eq!(sum.time.kernel, t.kernel * 2);
    }

    /// Script lines as ops (the kernel tests use it too).
    pub(crate) fn parsed(lines: &[&str]) -> Vec<Op> {
        lines
            .iter()
            .map(|l| mapcheck_model::text::parse_line(l).unwrap().0)
            .collect()
    }

    /// A shrink candidate whose close lost its create is refused, and its runnable part
    /// leaves out what cannot run, following the model's own predictions (a lookup on a map
    /// whose create the model expects to fail goes too).
    #[test]
    fn runnable_leaves_out_what_cannot_run() {
        let w = World::default();
        let ops = parsed(&[
            "m1 = create hash key=4 value=4 entries=1",
            "close m1",
            "m0 = create array key=4 value=4 entries=1",
            "lookup m0 key=00000000",
        ]);
        assert!(preconditions_hold(&w, &ops));
        assert!(!preconditions_hold(&w, &ops[1..]));
        let text = |ops: &[Op]| ops.iter().map(|o| o.to_string()).collect::<String>();
        assert_eq!(text(&runnable(&w, &ops[1..])), text(&ops[2..]));
        let einval = parsed(&[
            "m2 = create array key=4 value=4 entries=0",
            "lookup m2 key=00000000",
        ]);
        assert!(!preconditions_hold(&w, &einval));
        assert_eq!(text(&runnable(&w, &einval)), text(&einval[..1]));
    }

    /// A written case ends where replay meets its divergence again: at the end-of-case op
    /// that diverged (those before it included), or after the case's own ops where an
    /// end-of-case audit found it (replay runs the end-of-case ops itself); it names the model
    /// faults it ran under, and no `faults` header without them.
    #[test]
    fn a_written_case_ends_where_replay_meets_its_divergence() {
        use mapcheck_model::Fault;
        let ops = parsed(&[
            "m0 = create array key=4 value=4 entries=1",
            "alive m0",
            "alive m0",
        ]);
        let run = |len: usize, index: usize| CaseRun {
            executed: ops[..len].to_vec(),
            outcomes: vec![Ok(Ret::Alive(true)); len],
            divergence: Some(Divergence {
                index,
                op: ops[1].clone(),
                allowed: Allowed::Exactly(Ok(Ret::Alive(false))),
                observed: Ok(Ret::Alive(true)),
                world_before: World::default(),
            }),
            stopped: None,
            own: 1,
        };
        let w = World::default();
        let steps = |r: &CaseRun, w: &World| case_from_run(r, w, 1).steps.len();
        assert_eq!(steps(&run(3, 2), &w), 3);
        assert_eq!(steps(&run(2, 2), &w), 1);
        let has_faults = |w: &World| {
            case_from_run(&run(3, 2), w, 1)
                .header
                .iter()
                .any(|(k, _)| k == "faults")
        };
        assert!(!has_faults(&w));
        let faulty = World::new(w.profile.clone(), vec![Fault::ArrayNoexistSucceeds]);
        assert!(has_faults(&faulty));
    }
}
