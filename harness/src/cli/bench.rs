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
         (reused while it comes back clean) on the lockstep side only"
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
        let cfg = SearchConfig {
            seed,
            cases: Some(cases),
            budget: Duration::MAX,
            max_ops: ops,
            gen,
            record: true,
            shrink_time: Duration::from_secs(30),
        };
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
            recorded = r.recorded;
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
    let mut key = vec![0u8; 4096];
    let mut val = vec![0u8; 1 << 20];
    let start = Instant::now();
    for ops in cases {
        let mut fds: Vec<Option<(OwnedFd, MapSpec)>> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
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
                            fd(&fds, map),
                            k.as_ptr().cast(),
                            value.bytes().unwrap_or(&[0; 4]).as_ptr().cast(),
                            *flags,
                        );
                    }
                    Op::Lookup { map, key: k, flags } => {
                        libbpf_sys::bpf_map_lookup_elem_flags(
                            fd(&fds, map),
                            k.as_ptr().cast(),
                            val.as_mut_ptr().cast(),
                            *flags,
                        );
                    }
                    Op::Delete { map, key: k } => {
                        libbpf_sys::bpf_map_delete_elem(fd(&fds, map), k.as_ptr().cast());
                    }
                    Op::GetNextKey { map, key: k } => {
                        let kp = k.as_ref().map_or(std::ptr::null(), |k| k.as_ptr().cast());
                        libbpf_sys::bpf_map_get_next_key(fd(&fds, map), kp, key.as_mut_ptr().cast());
                    }
                    Op::LookupAndDelete { map, key: k, flags } => {
                        libbpf_sys::bpf_map_lookup_and_delete_elem_flags(
                            fd(&fds, map),
                            k.as_ptr().cast(),
                            val.as_mut_ptr().cast(),
                            *flags,
                        );
                    }
                    Op::Freeze { map } => {
                        libbpf_sys::bpf_map_freeze(fd(&fds, map));
                    }
                    Op::Close { handle } => {
                        if let Some(f) = fds.get_mut(handle.n as usize) {
                            f.take();
                        }
                    }
                    Op::Info { map } => {
                        let _ = RealSys.map_info(fd(&fds, map));
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
                        let _ = dump(&mut RealSys, fd(&fds, map), spec.as_ref(), cpus);
                    }
                }
            }
        }
    }
    start.elapsed().as_secs_f64()
}
