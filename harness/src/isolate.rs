//! Cases whose outcomes depend on fd numbers or rlimits (`fdtable` cases) run in a child
//! process of their own, one op per line over a pipe, so no other test's fds or limits can
//! disturb them; a child that dies or stops answering (per-op timeout) yields a `lost`
//! outcome, which the model never allows, so the case is reported with its script.

use crate::kernel::{Backend, Kernel};
use mapcheck_model::outcome::{hex, MapInfo, Slot, Slots};
use mapcheck_model::text::{parse_handle, parse_hex, parse_line};
use mapcheck_model::{Errno, MapState, MapType, Op, Outcome, Ret};
use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child as Proc, ChildStdin, ChildStdout, Command, Stdio};

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The hidden subcommand a child runs.
pub const CHILD_ARG: &str = "__case-child";

static EXE: OnceLock<PathBuf> = OnceLock::new();
/// Sets the `mapcheck` executable children are started from (the CLI passes its own path;
/// tests pass `env!("CARGO_BIN_EXE_mapcheck")`).
pub fn set_exe(path: impl Into<PathBuf>) {
    let _ = EXE.set(path.into());
}

/// The executable: as set, else `$MAPCHECK_EXE`, else the `mapcheck` that cargo builds
/// next to a test binary (`target/<profile>/deps/..`).
pub(crate) fn exe() -> Option<PathBuf> {
    EXE.get()
        .cloned()
        .or_else(|| std::env::var_os("MAPCHECK_EXE").map(PathBuf::from))
        .or_else(|| {
            let me = std::env::current_exe().ok()?;
            let dir = me.parent()?;
            let dir = if dir.ends_with("deps") { dir.parent()? } else { dir };
            Some(dir.join("mapcheck")).filter(|p| p.exists())
        })
}

/// The per-op timeout: `MAPCHECK_CHILD_TIMEOUT_MS`, else 30 s (the slowest op, `settle`,
/// waits up to 5 s).
fn op_timeout() -> Duration {
    std::env::var("MAPCHECK_CHILD_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis)
}

/// A backend in a child process.
pub struct Child {
    proc: Proc,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    buf: Vec<u8>,
    lost: Option<String>,
    timeout: Duration,
}

impl Child {
    /// Starts a child and waits for it to be ready. With `exact_ids` (the case compares map
    /// ids) the child holds the id lock exclusively from `fdtable` on, so no other mapcheck
    /// creates a map meanwhile.
    pub fn spawn(exact_ids: bool) -> Result<Child, String> {
        let exe = exe().ok_or("no mapcheck executable to start a case's process from (isolate::set_exe)")?;
        // Until `ready`: the child has closed what it copied of our fd table (crate::spawn).
        let window = crate::spawn::window();
        let mut proc = Command::new(&exe)
            .arg(CHILD_ARG)
            .env("MAPCHECK_IDS_EXACT", if exact_ids { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdin = proc.stdin.take();
        let stdout = proc.stdout.take().expect("piped");
        let mut c = Child {
            proc,
            stdin,
            stdout,
            buf: Vec::new(),
            lost: None,
            timeout: op_timeout(),
        };
        let ready = c.read_line();
        drop(window);
        match ready {
            Ok(l) if l == "ready" => Ok(c),
            Ok(l) => Err(format!("the case process said `{l}` instead of `ready`")),
            Err(e) => Err(e),
        }
    }

    /// One line from the child, or why none came.
    fn read_line(&mut self) -> Result<String, String> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = self.proc.kill();
                let _ = self.proc.wait();
                return Err(format!(
                    "the case process hung: no answer in {:?}, killed",
                    self.timeout
                ));
            }
            let mut p = libc::pollfd {
                fd: self.stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, live for the call.
            let n = unsafe { libc::poll(&mut p, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if n <= 0 {
                continue;
            }
            let mut chunk = [0u8; 65536];
            match std::io::Read::read(&mut self.stdout, &mut chunk) {
                Ok(0) | Err(_) => {
                    let status = self.proc.wait().map_or("unknown".into(), |s| s.to_string());
                    return Err(format!("the case process died ({status})"));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

impl Backend for Child {
    fn exec(&mut self, op: &Op) -> Outcome {
        if let Some(why) = &self.lost {
            return Ok(Ret::Lost(why.clone()));
        }
        let sent = self
            .stdin
            .as_mut()
            .map(|s| writeln!(s, "{op}").and_then(|_| s.flush()).is_ok())
            .unwrap_or(false);
        let got = if sent {
            self.read_line()
        } else {
            Err("the case process closed its input".into())
        };
        match got.and_then(|l| decode(&l)) {
            Ok(o) => o,
            Err(why) => {
                self.lost = Some(why.clone());
                Ok(Ret::Lost(why))
            }
        }
    }
    fn reset(&mut self) {
        // End of input: the child drops its backend (closing every fd) and exits.
        self.stdin = None;
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.proc.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.proc.try_wait() {
            let _ = self.proc.kill();
            let _ = self.proc.wait();
        }
        if self.lost.is_some() {
            // A killed child could not unmount its bpffs or remove its cgroup directories.
            crate::env::remove_stale_bpffs();
            crate::kernel::remove_stale_cgroups_now();
        }
    }
}

/// A backend that could not start: every op is lost, with the reason.
pub struct Unstarted(pub String);

impl Backend for Unstarted {
    fn exec(&mut self, _: &Op) -> Outcome {
        Ok(Ret::Lost(self.0.clone()))
    }
    fn reset(&mut self) {}
}

/// The child's side: ops in on stdin, outcomes out on stdout, until end of input.
/// `MAPCHECK_CHILD_HOOK=crash:<op>` or `hang:<op>` makes it abort or stop answering at the
/// first op of that kind (for the harness's own tests).
pub fn serve() -> std::process::ExitCode {
    crate::idlock::set_exact(std::env::var("MAPCHECK_IDS_EXACT").as_deref() == Ok("1"));
    crate::idlock::keep_lock_fd_high();
    let hook = std::env::var("MAPCHECK_CHILD_HOOK").ok();
    let hook = hook.as_deref().and_then(|h| h.split_once(':'));
    let mut kernel = match Kernel::new() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("mapcheck case process: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    kernel.isolated = true;
    let out = std::io::stdout();
    let say = |s: &str| {
        let mut o = out.lock();
        writeln!(o, "{s}").and_then(|_| o.flush()).is_ok()
    };
    if !say("ready") {
        return std::process::ExitCode::from(2);
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let o = match parse_line(&line) {
            Ok((op, _)) => {
                match hook {
                    Some(("crash", k)) if k == op.kind() => std::process::abort(),
                    Some(("hang", k)) if k == op.kind() => loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    },
                    _ => {}
                }
                kernel.exec(&op)
            }
            Err(e) => Ok(Ret::Lost(format!("the case process cannot parse `{line}`: {e}"))),
        };
        if !say(&encode(&o)) {
            break;
        }
    }
    std::process::ExitCode::SUCCESS
}

/// An outcome on one line, losslessly (unlike the script syntax, which abbreviates states).
pub fn encode(o: &Outcome) -> String {
    let h = |b: &[u8]| if b.is_empty() { "-".to_string() } else { hex(b) };
    match o {
        Err(e) => format!("err {}", e.num()),
        Ok(Ret::Unit) => "unit".into(),
        Ok(Ret::Fd(x)) => format!("fd {x}"),
        Ok(Ret::FdAt(x, n)) => format!("fdat {x} {n}"),
        Ok(Ret::Value(v)) => format!("value {}", h(v)),
        Ok(Ret::Key(k)) => format!("key {}", h(k)),
        Ok(Ret::State(s)) => format!(
            "state {} {} {} {} {}",
            s.key_size,
            s.value_size,
            h(&s.keys),
            h(&s.values),
            s.walk.as_ref().map_or("none".into(), |w| h(w))
        ),
        Ok(Ret::Id(x)) => format!("id {}", x.map_or("-".into(), |x| x.to_string())),
        Ok(Ret::Alive(a)) => format!("alive {}", *a as u8),
        Ok(Ret::Count(n)) => format!("count {n}"),
        Ok(Ret::Slots(s)) => {
            // The walk in visit order (comma-separated keys, `-` for none), then the slots.
            let walk: Vec<String> = s.walk.iter().map(|k| h(k)).collect();
            let walk = if walk.is_empty() {
                "-".into()
            } else {
                walk.join(",")
            };
            let mut t = format!("slots {} {walk}", s.walk_ok as u8);
            for (k, slot) in &s.slots {
                let v = match slot {
                    Slot::Empty => "e".to_string(),
                    Slot::Unreadable => "u".to_string(),
                    Slot::Id(None) => "i-".to_string(),
                    Slot::Id(Some(x)) => format!("i{x}"),
                };
                t.push_str(&format!(" {}:{v}", h(k)));
            }
            t
        }
        Ok(Ret::Lost(why)) => format!("lost {why}"),
        Ok(Ret::Info(i)) => format!(
            "info {} {} {} {} {} {} {} {}",
            i.id.map_or("-".into(), |x| x.to_string()),
            i.map_type.raw(),
            i.key_size,
            i.value_size,
            i.max_entries,
            i.map_flags,
            h(&i.name),
            i.map_extra
        ),
    }
}

/// Inverse of [`encode`].
pub fn decode(line: &str) -> Result<Outcome, String> {
    let bad = || format!("the case process answered `{line}`");
    let mut w = line.split(' ');
    let tag = w.next().ok_or_else(bad)?;
    let mut next = || w.next().ok_or_else(bad);
    let bytes = |s: &str| match s {
        "-" => Ok(Vec::new()),
        s => parse_hex(s).map_err(|_| bad()),
    };
    let handle = |s: &str| parse_handle(s).map_err(|_| bad());
    let num = |s: &str| -> Result<u64, String> { s.parse().map_err(|_| bad()) };
    Ok(match tag {
        "err" => Err(Errno::raw(num(next()?)? as i32)),
        "unit" => Ok(Ret::Unit),
        "fd" => Ok(Ret::Fd(handle(next()?)?)),
        "fdat" => Ok(Ret::FdAt(handle(next()?)?, num(next()?)? as u32)),
        "value" => Ok(Ret::Value(bytes(next()?)?)),
        "key" => Ok(Ret::Key(bytes(next()?)?)),
        "state" => {
            let key_size = num(next()?)? as usize;
            let value_size = num(next()?)? as usize;
            let keys = bytes(next()?)?;
            let values = bytes(next()?)?;
            let walk = match next()? {
                "none" => None,
                s => Some(bytes(s)?),
            };
            Ok(Ret::State(MapState {
                key_size,
                value_size,
                keys,
                values,
                walk,
            }))
        }
        "id" => Ok(Ret::Id(match next()? {
            "-" => None,
            s => Some(handle(s)?),
        })),
        "alive" => Ok(Ret::Alive(next()? == "1")),
        "count" => Ok(Ret::Count(num(next()?)? as u32)),
        "slots" => {
            let walk_ok = next()? == "1";
            let walk = match next()? {
                "-" => Vec::new(),
                s => s.split(',').map(bytes).collect::<Result<Vec<_>, _>>()?,
            };
            let mut slots = Vec::new();
            for item in w {
                let (k, v) = item.split_once(':').ok_or_else(bad)?;
                let slot = match v {
                    "e" => Slot::Empty,
                    "u" => Slot::Unreadable,
                    "i-" => Slot::Id(None),
                    s => Slot::Id(Some(handle(s.strip_prefix('i').ok_or_else(bad)?)?)),
                };
                slots.push((bytes(k)?, slot));
            }
            Ok(Ret::Slots(Slots { slots, walk_ok, walk }))
        }
        "info" => Ok(Ret::Info(MapInfo {
            id: match next()? {
                "-" => None,
                s => Some(handle(s)?),
            },
            map_type: MapType::from_raw(num(next()?)? as u32),
            key_size: num(next()?)? as u32,
            value_size: num(next()?)? as u32,
            max_entries: num(next()?)? as u32,
            map_flags: num(next()?)? as u32,
            name: bytes(next()?)?,
            map_extra: num(next()?)?,
        })),
        "lost" => Ok(Ret::Lost(line.strip_prefix("lost ").unwrap_or("").to_string())),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapcheck_model::Handle;

    #[test]
    fn outcomes_survive_the_pipe() {
        let all = vec![
            Err(Errno::EMFILE),
            Ok(Ret::Unit),
            Ok(Ret::Fd(Handle::map(3))),
            Ok(Ret::FdAt(Handle::prog(1), 7)),
            Ok(Ret::Value(vec![])),
            Ok(Ret::Value(vec![1, 0xab])),
            Ok(Ret::Key(vec![0; 4])),
            Ok(Ret::State(MapState {
                key_size: 4,
                value_size: 2,
                keys: vec![0, 0, 0, 0],
                values: vec![9, 9],
                walk: None,
            })),
            Ok(Ret::State(MapState {
                key_size: 4,
                value_size: 0,
                keys: vec![],
                values: vec![],
                walk: Some(vec![]),
            })),
            Ok(Ret::Id(None)),
            Ok(Ret::Id(Some(Handle::map(2)))),
            Ok(Ret::Alive(true)),
            Ok(Ret::Count(12)),
            Ok(Ret::Slots(Slots {
                slots: vec![
                    (vec![0; 4], Slot::Empty),
                    (vec![1, 0, 0, 0], Slot::Id(Some(Handle::prog(0)))),
                    (vec![2, 0, 0, 0], Slot::Id(None)),
                    (vec![3, 0, 0, 0], Slot::Unreadable),
                ],
                walk_ok: false,
                walk: vec![vec![3, 0, 0, 0], vec![0; 4]],
            })),
            Ok(Ret::Slots(Slots::default())),
            Ok(Ret::Lost("the case process died (signal: 6)".into())),
            Ok(Ret::Info(MapInfo {
                id: Some(Handle::map(1)),
                map_type: MapType::PercpuArray,
                key_size: 4,
                value_size: 12,
                max_entries: 3,
                map_flags: 0x400,
                name: b"a\0b".to_vec(),
                map_extra: u64::MAX,
            })),
            Ok(Ret::Info(MapInfo {
                id: None,
                map_type: MapType::Other(0xa5a5_a5a5),
                key_size: 0,
                value_size: 0,
                max_entries: 0,
                map_flags: 0,
                name: vec![],
                map_extra: 0,
            })),
        ];
        for o in all {
            assert_eq!(decode(&encode(&o)), Ok(o.clone()), "{}", encode(&o));
        }
        assert!(decode("bogus 1").is_err());
        assert!(decode("fdat m1").is_err());
    }
}
