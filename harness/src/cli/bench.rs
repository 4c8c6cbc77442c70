//! `mapcheck bench`: lockstep throughput against a raw libbpf-sys loop doing the same ops, in
//! one run. The core idea: the lockstep run records every op it executed; the raw loop then
//! replays exactly those ops with preallocated buffers and no model, so the ratio is the
//! checker's own overhead (generation, model, comparison, shrinking bookkeeping).

use super::{exit, parse_seed, parse_types, usage, CmdResult};
use crate::env;
use crate::kernel::{dump, Kernel};
use crate::lockstep::{search, SearchConfig};
use crate::sys::RealSys;
use crate::sys::Sys as _;
use mapcheck_model::gen::GenConfig;
use mapcheck_model::{FdRef, Kind, MapSpec, Op, World};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Runs the benchmark and prints one line per family.
pub fn cmd_bench(cases: u64, ops: usize, maps: &[String], seed: &str) -> CmdResult {
    let types = parse_types(maps)?;
    let seed = parse_seed(seed).ok_or_else(|| usage(format!("bad seed `{seed}`")))?;
    super::need_kernel()?;
    let profile = env::detect_profile();
    println!(
        "mapcheck bench: kernel {}, {cases} cases of up to {ops} ops per family, seed {seed:#x}",
        profile.release
    );
    println!(
        "both sides: the same recorded ops (end-of-case checks included) on fresh maps; lockstep also \
         generates, runs the model and compares; the fdtable row's cases run in a case process \
         (reused while it comes back clean) on the lockstep side only, and the raw loop skips the \
         ops it has no direct call for (fdtable, rlimit, dropcap, idgap, fd_by_id, loads, settles, \
         cgroups, perf events, pins): that row is not like for like"
    );
    println!(
        "{:<14} {:>12} {:>12} {:>8}   ops measured",
        "family", "lockstep/s", "raw/s", "ratio"
    );
    // One row per family without fdtable cases (each runs in a process of its own, which the
    // raw loop does not), then fdtable cases alone, on arrays.
    let rows = types.iter().map(|t| (t.word(), *t, 0)).chain(std::iter::once((
        "fdtable".to_string(),
        mapcheck_model::MapType::Array,
        100,
    )));
    for (label, t, fd_table_pct) in rows {
        let world = World::new(profile.clone(), vec![]);
        // Valid creates only: the bench measures the element-op mix, as a user loop would.
        let gen = GenConfig {
            world: world.clone(),
            types: vec![t],
            invalid_create_pct: 0,
            bad_fd_pct: 0,
            fd_table_pct,
            ..GenConfig::default()
        };
        let cfg = recorded_search(seed, cases, ops, gen);
        // Three rounds, alternating, best of each: this machine's noise is larger than the
        // effect measured. The same seed gives the same ops every round.
        let (mut lockstep_secs, mut raw_secs) = (f64::MAX, f64::MAX);
        let mut recorded = Vec::new();
        let mut time = crate::lockstep::Timing::default();
        for _ in 0..3 {
            let mut kernel = Kernel::new().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
            // Lockstep: exactly what `mapcheck run` does (generation, both sides, comparison).
            let r = search(&cfg, &mut kernel, |_, _| {});
            if let Some(f) = r.found {
                let line = crate::report::one_line(&f.divergence);
                return Err((exit::DIVERGENCE, format!("bench found a divergence: {line}")));
            }
            if r.elapsed.as_secs_f64() < lockstep_secs {
                lockstep_secs = r.elapsed.as_secs_f64();
                time = r.stats.time;
            }
            recorded = r.recorded.into_iter().map(|(ops, _)| ops).collect();
            // Raw: the same ops, straight to libbpf-sys, buffers preallocated.
            drop(kernel);
            raw_secs = raw_secs.min(raw_loop(&recorded, profile.possible_cpus as usize));
        }
        let total_ops: usize = recorded.iter().map(Vec::len).sum();
        let ls = total_ops as f64 / lockstep_secs;
        let raw = total_ops as f64 / raw_secs;
        println!(
            "{:<14} {:>12.0} {:>12.0} {:>7.2}x   {} cases, {} ops",
            label,
            ls,
            raw,
            ls / raw,
            recorded.len(),
            total_ops
        );
        println!("{}", breakdown(&time, lockstep_secs, raw_secs));
    }
    Ok(exit::AGREE)
}

/// `bench --fill`: for each N, a HASH of N entries filled by one batch before every case,
/// then the case's ops. Per op it measures the ops after the fill (model and backend time on
/// the lockstep side, the same ops on the raw side); per case, the fill and the full-state
/// check apart; and the memory the model takes for N entries.
pub fn cmd_bench_fill(cases: u64, ops: usize, fills: &[u32], seed: &str) -> CmdResult {
    let seed = parse_seed(seed).ok_or_else(|| usage(format!("bad seed `{seed}`")))?;
    super::need_kernel()?;
    let profile = env::detect_profile();
    let cases = cases.min(100);
    println!(
        "mapcheck bench --fill: kernel {}, a HASH (4-byte keys, 8-byte values, max_entries N) filled to N \
         by one UPDATE_BATCH, then up to {ops} element ops on it, {cases} cases per N, seed {seed:#x}",
        profile.release
    );
    println!(
        "ops after the fill: lockstep = each op's whole step (model, backend, comparison, \
         bookkeeping; generation is per case, below), raw = the same ops by libbpf-sys on a map \
         filled the same way; per case: the fill and the end-of-case `check` \
         (a full dump compared with the model)"
    );
    println!(
        "{:>9} {:>11} {:>11} {:>7}  {:>21}  {:>21}  {:>10} {:>9}",
        "N", "lockstep/s", "raw/s", "ratio", "fill lockstep/raw", "check lockstep/raw", "model", "peak RSS"
    );
    for &n in fills {
        let world = World::new(profile.clone(), vec![]);
        let model_bytes = model_bytes(&world, n);
        let gen = GenConfig {
            world: world.clone(),
            types: vec![mapcheck_model::MapType::Hash],
            entries: Some(n.max(1)),
            max_live: 1,
            invalid_create_pct: 0,
            bad_fd_pct: 0,
            fd_table_pct: 0,
            prefix: mapcheck_model::gen::fill_prefix(mapcheck_model::MapType::Hash, n.max(1), n),
            // Element ops on the filled map: a `check` reads all N entries (it is timed per
            // case, at its end), a create of another N-entry map allocates N elements.
            swarm_off: vec!["check", "create", "close"],
            ..GenConfig::default()
        };
        let cfg = recorded_search(seed, cases, ops, gen);
        let mut kernel = Kernel::new().map_err(|e| (exit::ENVIRONMENT, e.to_string()))?;
        let r = search(&cfg, &mut kernel, |_, _| {});
        if let Some(f) = r.found {
            let line = crate::report::one_line(&f.divergence);
            return Err((exit::DIVERGENCE, format!("bench found a divergence: {line}")));
        }
        drop(kernel);
        let t = r.stats.time;
        let cases_run = r.recorded.len().max(1) as f64;
        // The case's own ops after the prefix (create, fill); the info read back after the
        // create is not among the recorded ops, so it is left out of both sides.
        let after: usize = r
            .recorded
            .iter()
            .map(|(o, own)| own.saturating_sub(2).min(o.len()))
            .sum();
        let lockstep_ops = t.own;
        let raw = raw_fill_phases(&r.recorded, profile.possible_cpus as usize);
        let per_case = |d: Duration| d.as_secs_f64() * 1e3 / cases_run;
        println!(
            "{:>9} {:>11.0} {:>11.0} {:>6.2}x  {:>9.1}/{:<7.1} ms  {:>9.1}/{:<7.1} ms  {:>7.1} MB {:>6.0} MB",
            n,
            after as f64 / lockstep_ops.as_secs_f64(),
            after as f64 / raw.ops.as_secs_f64(),
            raw.ops.as_secs_f64() / lockstep_ops.as_secs_f64(),
            per_case(t.prefix),
            per_case(raw.fill),
            per_case(t.end_of_case),
            per_case(raw.end),
            model_bytes as f64 / 1e6,
            peak_rss() as f64 / 1e6,
        );
        let gen_rest = r.elapsed.saturating_sub(t.model + t.kernel + t.reset + t.spawn);
        println!(
            "           {} cases, {after} ops after the fill; per case also: generation and bookkeeping {:.1} ms \
             (its world after the fill cloned), reset {:.1} ms",
            r.recorded.len(),
            per_case(gen_rest),
            per_case(t.reset)
        );
    }
    Ok(exit::AGREE)
}

/// Bytes the model takes for a HASH of `n` filled entries: the resident growth while one is
/// built, after returning freed memory to the system (glibc `malloc_trim`).
fn model_bytes(world: &World, n: u32) -> u64 {
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe { libc::malloc_trim(0) };
    let before = rss_now();
    let mut w = world.clone();
    for op in mapcheck_model::gen::fill_prefix(mapcheck_model::MapType::Hash, n.max(1), n) {
        let o = mapcheck_model::gen::predict(&w, &op);
        w.apply(&op, &o);
    }
    let grown = rss_now().saturating_sub(before);
    drop(w);
    grown
}

/// Resident bytes now (/proc/self/statm).
fn rss_now() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf reads a constant.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64
}

/// This process's peak resident bytes so far (getrusage).
fn peak_rss() -> u64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as u64 * 1024
}

/// Raw time of each phase of fill cases.
struct RawPhases {
    fill: Duration,
    ops: Duration,
    end: Duration,
}

/// The recorded fill cases by libbpf-sys: create and fill, the case's own ops, the end-of-case
/// observations, each phase timed apart.
fn raw_fill_phases(cases: &[(Vec<Op>, usize)], cpus: usize) -> RawPhases {
    let mut p = RawPhases {
        fill: Duration::ZERO,
        ops: Duration::ZERO,
        end: Duration::ZERO,
    };
    for (ops, own) in cases {
        let own = (*own).min(ops.len());
        let prefix = 2.min(own);
        let mut state = RawState::default();
        let t0 = Instant::now();
        raw_ops(&mut state, &ops[..prefix], cpus);
        let t1 = Instant::now();
        raw_ops(&mut state, &ops[prefix..own], cpus);
        let t2 = Instant::now();
        raw_ops(&mut state, &ops[own..], cpus);
        let t3 = Instant::now();
        p.fill += t1 - t0;
        p.ops += t2 - t1;
        p.end += t3 - t2;
        drop(state);
    }
    p
}

/// The bench's search: `cases` cases of up to `ops` ops from `gen`, every executed op recorded
/// for the raw side.
fn recorded_search(seed: u64, cases: u64, ops: usize, gen: GenConfig) -> SearchConfig {
    SearchConfig {
        seed,
        cases: Some(cases),
        budget: Duration::MAX,
        max_ops: ops,
        gen,
        record: true,
        shrink_time: Duration::from_secs(30),
    }
}

/// Where the best lockstep round's time went, by the runner's counters, against the raw
/// loop's whole time: `kernel` is what the raw side also pays (plus the pipe round trips of
/// fdtable cases), the rest is the checker's own.
fn breakdown(t: &crate::lockstep::Timing, lockstep_secs: f64, raw_secs: f64) -> String {
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / lockstep_secs;
    let counted = t.model + t.kernel + t.spawn + t.reset;
    let rest = Duration::from_secs_f64((lockstep_secs - counted.as_secs_f64()).max(0.0));
    format!(
        "  lockstep {lockstep_secs:.2}s: kernel ops {:.0}%, model {:.0}%, reset {:.0}%, case processes {:.0}%, \
         generation/shrinking/bookkeeping {:.0}% (end-of-case checks {:.0}% of the whole); raw {raw_secs:.2}s{}",
        pct(t.kernel),
        pct(t.model),
        pct(t.reset),
        pct(t.spawn),
        pct(rest),
        pct(t.end_of_case),
        match t.started + t.reused {
            0 => String::new(),
            n => format!("; {n} fdtable cases in {} case processes", t.started),
        }
    )
}

/// Executes recorded ops with direct libbpf-sys calls; returns the seconds it took.
fn raw_loop(cases: &[Vec<Op>], cpus: usize) -> f64 {
    let mut state = RawState::default();
    let start = Instant::now();
    for ops in cases {
        raw_ops(&mut state, ops, cpus);
        // The case's maps close with it.
        state.fds.clear();
        state.ids.clear();
    }
    start.elapsed().as_secs_f64()
}

/// The raw loop's maps (by handle number) and buffers, preallocated.
struct RawState {
    fds: Vec<Option<(OwnedFd, MapSpec)>>,
    ids: Vec<u32>,
    key: Vec<u8>,
    val: Vec<u8>,
}

impl Default for RawState {
    fn default() -> RawState {
        RawState {
            fds: Vec::new(),
            ids: Vec::new(),
            key: vec![0u8; 4096],
            val: vec![0u8; 1 << 20],
        }
    }
}

/// A batch op by a direct call: its buffers, one `bpf(2)`.
fn raw_batch(fd: i32, spec: Option<&MapSpec>, op: &Op, cpus: usize) {
    use crate::sys::{Batch, BatchCmd};
    let (ks, vl) = spec.map_or((4, 8), |s| {
        (s.key_size as usize, crate::kernel::value_len(s, cpus))
    });
    let tok = spec.map_or(4, mapcheck_model::world::batch_cursor_len).max(1);
    let mut out = vec![0u8; tok];
    let (cmd, count, cursor, mut kb, mut vb, elem_flags, flags) = match op {
        Op::LookupBatch {
            delete,
            cursor,
            count,
            elem_flags,
            flags,
            ..
        } => (
            if *delete {
                BatchCmd::LookupAndDelete
            } else {
                BatchCmd::Lookup
            },
            *count,
            cursor.clone(),
            vec![0u8; *count as usize * ks],
            vec![0u8; *count as usize * vl],
            *elem_flags,
            *flags,
        ),
        Op::UpdateBatch {
            keys,
            values,
            elem_flags,
            flags,
            ..
        } => (
            BatchCmd::Update,
            keys.len() as u32,
            None,
            keys.concat(),
            values
                .iter()
                .flat_map(|v| v.bytes().unwrap_or(&[0; 4]).to_vec())
                .collect(),
            *elem_flags,
            *flags,
        ),
        Op::DeleteBatch {
            keys,
            elem_flags,
            flags,
            ..
        } => (
            BatchCmd::Delete,
            keys.len() as u32,
            None,
            keys.concat(),
            Vec::new(),
            *elem_flags,
            *flags,
        ),
        _ => return,
    };
    let _ = RealSys.batch(
        fd,
        cmd,
        &mut Batch {
            in_batch: cursor.as_deref(),
            out_batch: &mut out,
            keys: &mut kb,
            values: &mut vb,
            count,
            elem_flags,
            flags,
        },
    );
}

/// Ops by direct libbpf-sys calls, on the maps in `st`.
fn raw_ops(st: &mut RawState, ops: &[Op], cpus: usize) {
    let RawState { fds, ids, key, val } = st;
    {
        for op in ops {
            let fd = |fds: &Vec<Option<(OwnedFd, MapSpec)>>, m: &FdRef| match m {
                FdRef::Handle(h) => fds
                    .get(h.n as usize)
                    .and_then(|f| f.as_ref())
                    .map_or(-1, |f| f.0.as_raw_fd()),
                FdRef::Bad(_) => -1,
            };
            // SAFETY: buffers are larger than any key or value the generator produces.
            unsafe {
                match op {
                    Op::CreateMap { handle, spec } => {
                        // Create and read the id, as the backend does for every new map.
                        let f = RealSys.map_create(spec, 0).ok().map(|f| (f, spec.clone()));
                        let i = handle.n as usize;
                        if fds.len() <= i {
                            fds.resize_with(i + 1, || None);
                            ids.resize(i + 1, 0);
                        }
                        if let Some((fd, _)) = &f {
                            ids[i] = RealSys.obj_id(Kind::Map, fd.as_raw_fd()).unwrap_or(0);
                        }
                        fds[i] = f;
                    }
                    Op::Update {
                        map,
                        key: k,
                        value,
                        flags,
                    } => {
                        libbpf_sys::bpf_map_update_elem(
                            fd(fds, map),
                            k.as_ptr().cast(),
                            value.bytes().unwrap_or(&[0; 4]).as_ptr().cast(),
                            *flags,
                        );
                    }
                    Op::Lookup {
                        map, key: k, flags, ..
                    } => {
                        libbpf_sys::bpf_map_lookup_elem_flags(
                            fd(fds, map),
                            k.as_ptr().cast(),
                            val.as_mut_ptr().cast(),
                            *flags,
                        );
                    }
                    Op::Delete { map, key: k } => {
                        libbpf_sys::bpf_map_delete_elem(fd(fds, map), k.as_ptr().cast());
                    }
                    Op::GetNextKey { map, key: k } => {
                        let kp = k.as_ref().map_or(std::ptr::null(), |k| k.as_ptr().cast());
                        libbpf_sys::bpf_map_get_next_key(fd(fds, map), kp, key.as_mut_ptr().cast());
                    }
                    Op::LookupAndDelete { map, key: k, flags } => {
                        libbpf_sys::bpf_map_lookup_and_delete_elem_flags(
                            fd(fds, map),
                            k.as_ptr().cast(),
                            val.as_mut_ptr().cast(),
                            *flags,
                        );
                    }
                    Op::Freeze { map } => {
                        libbpf_sys::bpf_map_freeze(fd(fds, map));
                    }
                    Op::Fill { map, n, from } => {
                        let f = fds.get(map.n as usize).and_then(|f| f.as_ref());
                        if let Some((f, spec)) = f {
                            let (k, v) = crate::kernel::fill_buffers(spec, cpus, *n, *from);
                            let _ = RealSys.update_batch(f.as_raw_fd(), &k, &v, *n);
                        }
                    }
                    // The same buffers the backend hands the kernel.
                    Op::LookupBatch { map, .. }
                    | Op::UpdateBatch { map, .. }
                    | Op::DeleteBatch { map, .. } => {
                        let spec = match map {
                            FdRef::Handle(h) => fds
                                .get(h.n as usize)
                                .and_then(|f| f.as_ref())
                                .map(|f| f.1.clone()),
                            FdRef::Bad(_) => None,
                        };
                        raw_batch(fd(fds, map), spec.as_ref(), op, cpus);
                    }
                    Op::Close { handle } => {
                        if let Some(f) = fds.get_mut(handle.n as usize) {
                            f.take();
                        }
                    }
                    Op::Info { map } => {
                        let _ = RealSys.map_info(fd(fds, map));
                    }
                    // The bench mix is value maps only: no programs, cgroups or perf events.
                    Op::LoadProg { .. }
                    | Op::FdById { .. }
                    | Op::Settle { .. }
                    | Op::MakeCgroup { .. }
                    | Op::OpenCgroup { .. }
                    | Op::Rmdir { .. }
                    | Op::OpenPerf { .. }
                    | Op::Dying
                    | Op::SettleDying { .. }
                    | Op::Pin { .. }
                    | Op::Unpin { .. }
                    | Op::GetPinned { .. }
                    | Op::FdTable
                    | Op::SetRlimit { .. }
                    | Op::DropCap
                    | Op::Cpu { .. }
                    | Op::ProgElem { .. }
                    | Op::IdGap { .. } => {}
                    Op::Alive { target } => {
                        let id = ids.get(target.n as usize).copied().unwrap_or(0);
                        let _ = RealSys.next_id(Kind::Map, id.saturating_sub(1));
                    }
                    Op::Check { map } => {
                        // The same batch dump and walk the lockstep check does.
                        let spec = match map {
                            FdRef::Handle(h) => fds
                                .get(h.n as usize)
                                .and_then(|f| f.as_ref())
                                .map(|f| f.1.clone()),
                            FdRef::Bad(_) => None,
                        };
                        let _ = dump(&mut RealSys, fd(fds, map), spec.as_ref(), cpus);
                    }
                }
            }
        }
    }
}
