//! `mapcheck amplify`: the seed's RLIMIT_NOFILE^3 question, answered by experiment. With the
//! soft RLIMIT_NOFILE set to N, it builds the deepest holding structure today's kernel allows
//! (a pinned PROG_ARRAY of N programs, each using N ARRAY_OF_MAPS, each holding N inner
//! maps), counts the objects alive by id (GET_NEXT_ID, no references taken), releases
//! everything and verifies that it is gone. Each N runs in a fresh process with only fds 0-2,
//! so the count does not depend on what the caller inherited.

use crate::sys::{RealSys, Sys};
use mapcheck_model::{Errno, Kind, MapSpec, MapType, ProgSpec, ProgType};
use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// One row of the table.
pub struct Row {
    /// RLIMIT_NOFILE (soft) during the build.
    pub nofile: u64,
    /// Most fds open at once in the process while building (counted in /proc/self/fd).
    pub peak_fds: usize,
    /// Fds mapcheck holds at the end (the structure is reachable through a pin).
    pub end_fds: usize,
    /// Maps and programs alive that were not there before, counted from the kernel.
    pub alive: usize,
    /// Seconds to build.
    pub build_secs: f64,
    /// Everything released again, verified by id.
    pub released: bool,
}

fn ids(kind: Kind) -> BTreeSet<u32> {
    let (mut cur, mut out) = (0, BTreeSet::new());
    while let Ok(n) = RealSys.next_id(kind, cur) {
        out.insert(n);
        cur = n;
    }
    out
}

fn all_ids() -> BTreeSet<(u8, u32)> {
    let maps = ids(Kind::Map).into_iter().map(|i| (0, i));
    maps.chain(ids(Kind::Prog).into_iter().map(|i| (1, i))).collect()
}

/// Fds open below 900 (the id lock's fd lives above), not counting the directory's own.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| {
        d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|fd| *fd < 900)
            .count()
            .saturating_sub(1)
    })
}

fn update_batch(fd: RawFd, keys: &[u32], values: &[i32]) -> Result<(), Errno> {
    let opts = libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
        elem_flags: 0,
        flags: 0,
    };
    let mut count = keys.len() as u32;
    // SAFETY: keys and values hold `count` u32 / i32 records, as the map's key and value.
    let r = unsafe {
        libbpf_sys::bpf_map_update_batch(
            fd,
            keys.as_ptr().cast(),
            values.as_ptr().cast(),
            &mut count,
            &opts,
        )
    };
    if r < 0 {
        Err(Errno::raw(-r))
    } else {
        Ok(())
    }
}

/// Builds the structure for one N inside `bpffs` (a mounted bpf filesystem), measures,
/// releases, verifies.
pub fn measure(n: u32, bpffs: &std::path::Path) -> Result<Row, String> {
    let before = all_ids();
    let err = |what: &str, e: Errno| format!("N={n}: {what} failed: {e:?}");
    let mut sys = RealSys;
    let mut peak = open_fds();
    let start = Instant::now();
    let pin = bpffs.join(format!("amplify{n}"));
    {
        let prog_array = sys
            .map_create(&MapSpec::new(MapType::ProgArray, 4, 4, n), 0)
            .map_err(|e| err("prog array", e))?;
        let template = sys
            .map_create(&MapSpec::new(MapType::Array, 4, 4, 1), 0)
            .map_err(|e| err("template", e))?;
        // Inner maps go in by batches of as many fds as the limit leaves.
        let batch = (n as usize).saturating_sub(open_fds() + 2).max(1);
        for p in 0..n {
            let mut outers: Vec<OwnedFd> = Vec::new();
            let mut outer_fds: Vec<RawFd> = Vec::new();
            for _ in 0..n.min(64) {
                let outer = sys
                    .map_create(&MapSpec::new(MapType::ArrayOfMaps, 4, 4, n), template.as_raw_fd())
                    .map_err(|e| err("outer map", e))?;
                let mut k = 0u32;
                while k < n {
                    let m = (batch as u32)
                        .min(n - k)
                        .min((n as usize).saturating_sub(open_fds() + 1).max(1) as u32);
                    let inner: Vec<OwnedFd> = (0..m)
                        .map(|_| sys.map_create(&MapSpec::new(MapType::Array, 4, 4, 1), 0))
                        .collect::<Result<_, _>>()
                        .map_err(|e| err("inner map", e))?;
                    peak = peak.max(open_fds());
                    let keys: Vec<u32> = (k..k + m).collect();
                    let vals: Vec<i32> = inner.iter().map(|f| f.as_raw_fd()).collect();
                    update_batch(outer.as_raw_fd(), &keys, &vals).map_err(|e| err("inner batch", e))?;
                    k += m;
                }
                // The program will hold the outer map: its fd can go after the load.
                outer_fds.push(outer.as_raw_fd());
                outers.push(outer);
                if open_fds() + 2 > n as usize {
                    break;
                }
            }
            let prog = sys
                .prog_load(
                    &ProgSpec {
                        prog_type: ProgType::SocketFilter,
                        xdp_frags: false,
                        attach: 0,
                    },
                    &outer_fds,
                )
                .map_err(|e| err("program", e))?;
            peak = peak.max(open_fds());
            drop(outers);
            sys.update(
                prog_array.as_raw_fd(),
                &p.to_le_bytes(),
                &prog.as_raw_fd().to_le_bytes(),
                0,
            )
            .map_err(|e| err("prog array slot", e))?;
        }
        // A pin is a user reference: the whole structure stays with no fd open.
        sys.obj_pin(prog_array.as_raw_fd(), &pin)
            .map_err(|e| err("pin", e))?;
    }
    let build_secs = start.elapsed().as_secs_f64();
    let end_fds = open_fds();
    let alive = all_ids().difference(&before).count();
    // Release: unlink the pin; the chain goes through deferred work (prog_array_map_clear,
    // RCU for used_maps, bpf_map_free_deferred for the outers).
    sys.unlink(&pin).map_err(|e| err("unpin", e))?;
    let t = Instant::now();
    let mut released = false;
    while t.elapsed() < Duration::from_secs(60) {
        if all_ids().difference(&before).next().is_none() {
            released = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Row {
        nofile: n as u64,
        peak_fds: peak,
        end_fds,
        alive,
        build_secs,
        released,
    })
}

/// The hidden subcommand a measurement runs in.
pub const CHILD_ARG: &str = "__amplify-child";

impl Row {
    fn encode(&self) -> String {
        format!(
            "row nofile={} peak_fds={} end_fds={} alive={} build_secs={} released={}",
            self.nofile, self.peak_fds, self.end_fds, self.alive, self.build_secs, self.released
        )
    }

    fn decode(line: &str) -> Result<Row, String> {
        let bad = || format!("unreadable measurement `{line}`");
        let fields: Vec<(&str, &str)> = line
            .strip_prefix("row ")
            .ok_or_else(bad)?
            .split(' ')
            .map(|kv| kv.split_once('=').ok_or_else(bad))
            .collect::<Result<_, _>>()?;
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| *v)
                .ok_or_else(bad)
        };
        Ok(Row {
            nofile: get("nofile")?.parse().map_err(|_| bad())?,
            peak_fds: get("peak_fds")?.parse().map_err(|_| bad())?,
            end_fds: get("end_fds")?.parse().map_err(|_| bad())?,
            alive: get("alive")?.parse().map_err(|_| bad())?,
            build_secs: get("build_secs")?.parse().map_err(|_| bad())?,
            released: get("released")?.parse().map_err(|_| bad())?,
        })
    }
}

/// `measure` in a fresh `mapcheck __amplify-child` process: RLIMIT_NOFILE is lowered only
/// there, and fds the caller inherited (a CI runner's, a test harness's) cannot eat into N.
pub fn measure_isolated(n: u32, bpffs: &Path) -> Result<Row, String> {
    let exe = crate::isolate::exe().ok_or("no mapcheck executable to measure in (isolate::set_exe)")?;
    // Until it exits: the child closes what it copied of our fd table (crate::spawn).
    let window = crate::spawn::window();
    let out = Command::new(&exe)
        .arg(CHILD_ARG)
        .arg(n.to_string())
        .arg(bpffs)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    drop(window);
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    match last.strip_prefix("error ") {
        Some(e) => Err(e.to_string()),
        None if last.starts_with("row ") => Row::decode(last),
        None => Err(format!(
            "N={n}: the measuring process ended with {} and said `{last}`",
            out.status
        )),
    }
}

/// The child's side: only fds 0-2, the soft limit set to N (warm libbpf first: it caches its
/// feature probes, failures too), one measurement printed as a `row` or `error` line.
pub fn serve_child(n: u32, bpffs: &Path) -> ExitCode {
    // SAFETY: first thing in this process of our own: fds from 3 up are only what whoever
    // started us left open, and nothing here uses them.
    unsafe { crate::sys::close_fds(3, u32::MAX) };
    crate::idlock::keep_lock_fd_high();
    let _ = libbpf_rs::num_possible_cpus();
    let line = match rlimit::getrlimit(rlimit::Resource::NOFILE)
        .and_then(|(_, hard)| rlimit::setrlimit(rlimit::Resource::NOFILE, n as u64, hard))
    {
        Err(e) => format!("error setrlimit({n}): {e}"),
        Ok(()) => match measure(n, bpffs) {
            Ok(row) => row.encode(),
            Err(e) => format!("error {e}"),
        },
    };
    println!("{line}");
    ExitCode::SUCCESS
}

/// The table, with N, N^2, N^3 for comparison.
pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:>6} {:>9} {:>8} {:>10} {:>12} {:>6} {:>8} {:>10} {:>8} {:>9}\n",
        "N", "peak fds", "end fds", "alive", "alive/N", "N^2", "N^3", "alive/N^3", "build s", "released"
    );
    for r in rows {
        let n = r.nofile as f64;
        s.push_str(&format!(
            "{:>6} {:>9} {:>8} {:>10} {:>12.1} {:>6} {:>8} {:>10.2} {:>8.1} {:>9}\n",
            r.nofile,
            r.peak_fds,
            r.end_fds,
            r.alive,
            r.alive as f64 / n,
            r.nofile * r.nofile,
            r.nofile * r.nofile * r.nofile,
            r.alive as f64 / (n * n * n),
            r.build_secs,
            if r.released { "yes" } else { "NO" }
        ));
    }
    s
}
