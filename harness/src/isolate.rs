//! Cases whose outcomes depend on fd numbers or rlimits (`fdtable` cases) or on the CPU they
//! run on (pinned by `cpu N`) run in a child process of their own, one op per line over a
//! pipe, so no other test's fds, limits or CPUs can disturb them; a child that dies or stops
//! answering (per-op timeout) yields a `lost` outcome, which the model never allows, so the
//! case is reported with its script. Inside `Reuse` (a search) a child serves case after case:
//! after each it resets, restores its limits and CPUs and shows its fd table is the one
//! `fdtable` (or the last clean reset) left, or it is spent and the next case gets a fresh one.

use crate::kernel::{Backend, Kernel};
use mapcheck_model::outcome::{hex, MapInfo, Slot, Slots};
use mapcheck_model::text::{parse_handle, parse_hex, parse_line};
use mapcheck_model::{Errno, MapState, MapType, Op, Outcome, Ret};
use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child as Proc, ChildStdin, ChildStdout, Command, Stdio};

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The hidden subcommand a child runs.
pub const CHILD_ARG: &str = "__case-child";
/// The line that asks a child to make itself ready for another case.
const RESET: &str = "__reset";
/// The line that tells a reused child whether its next case compares map ids (`__ids 1`).
const IDS: &str = "__ids";

thread_local! {
    /// This thread's `Reuse` scopes, and the child that came back clean from its last case.
    static SCOPES: Cell<u32> = const { Cell::new(0) };
    static IDLE: RefCell<Option<Child>> = const { RefCell::new(None) };
}

/// Children that could not show themselves clean after a case (an fd or a limit the reset
/// left behind: a harness bug, never reused; tests require none).
static DIRTY: AtomicU64 = AtomicU64::new(0);

/// Children that ended after a case by design (a hard limit lowered that they may not raise).
static SPENT: AtomicU64 = AtomicU64::new(0);

/// How many children so far came back unclean from a reset.
pub fn dirty_children() -> u64 {
    DIRTY.load(Ordering::Relaxed)
}

/// How many children so far were spent by their case.
pub fn spent_children() -> u64 {
    SPENT.load(Ordering::Relaxed)
}

/// While one lives, this thread's fdtable cases reuse a case process that came back clean
/// from the case before; the last one's drop ends the idle child (it unmounts and removes
/// what it made before it exits).
pub struct Reuse(());

impl Reuse {
    /// Opens a scope (they nest; the outermost one's end ends the idle child).
    pub fn enter() -> Reuse {
        SCOPES.with(|d| d.set(d.get() + 1));
        Reuse(())
    }
}

impl Drop for Reuse {
    fn drop(&mut self) {
        let left = SCOPES.with(|d| {
            d.set(d.get().saturating_sub(1));
            d.get()
        });
        if left == 0 {
            drop(IDLE.with(|i| i.borrow_mut().take()));
        }
    }
}

/// The idle child, told whether the next case compares map ids (then it holds the id lock
/// from the case's `fdtable` to its reset); `None` if there is none, it does not answer, or it
/// runs over another kernel than `fault` (`Sys::planted`: a faulty kernel's case processes
/// plant the same fault).
pub fn idle(exact_ids: bool, fault: Option<&'static str>) -> Option<Child> {
    let mut c = IDLE.with(|i| i.borrow_mut().take())?;
    if c.fault != fault {
        return None;
    }
    let told = c.stdin.as_mut().is_some_and(|s| {
        writeln!(s, "{IDS} {}", exact_ids as u8)
            .and_then(|_| s.flush())
            .is_ok()
    });
    let why = match told.then(|| c.read_line()) {
        Some(Ok(l)) if l == "ready" => return Some(c),
        Some(Ok(l)) => format!("it said `{l}` instead of `ready`"),
        Some(Err(why)) => why,
        None => "it closed its input".into(),
    };
    // Not a case's outcome (no op ran), but never quiet: counted with the unclean ones.
    DIRTY.fetch_add(1, Ordering::Relaxed);
    eprintln!("mapcheck: an idle case process failed before its next case: {why}");
    c.lost = Some(why);
    None
}

/// After a case: keeps the child for the next case if its reset proved it clean and a `Reuse`
/// scope is open; otherwise it ends here.
pub fn put_back(c: Child) {
    if c.reusable && SCOPES.with(Cell::get) > 0 {
        IDLE.with(|i| *i.borrow_mut() = Some(c));
    }
}

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
    /// Started inside a `Reuse` scope: `reset` asks it to get ready for another case
    /// instead of ending it.
    reuse: bool,
    /// Its last reset left it clean and ready.
    reusable: bool,
    /// The kernel fault its backend plants (`MAPCHECK_KERNEL_FAULT`), if any.
    fault: Option<&'static str>,
}

impl Child {
    /// Starts a child and waits for it to be ready. With `exact_ids` (the case compares map
    /// ids) the child holds the id lock exclusively from `fdtable` on, so no other mapcheck
    /// creates a map meanwhile.
    pub fn spawn(exact_ids: bool, fault: Option<&'static str>) -> Result<Child, String> {
        let exe = exe().ok_or("no mapcheck executable to start a case's process from (isolate::set_exe)")?;
        // Until `ready`: the child has closed what it copied of our fd table (crate::spawn).
        let window = crate::spawn::window();
        let mut proc = Command::new(&exe)
            .arg(CHILD_ARG)
            .env("MAPCHECK_IDS_EXACT", if exact_ids { "1" } else { "0" })
            .env("MAPCHECK_KERNEL_FAULT", fault.unwrap_or(""))
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
            reuse: SCOPES.with(Cell::get) > 0,
            reusable: false,
            fault,
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
        self.reusable = false;
        if self.reuse && self.lost.is_none() && self.ready_again() {
            self.reusable = true;
            return;
        }
        self.end();
    }
}

impl Child {
    /// Asks the child to reset for another case: true if it says it is clean and ready.
    fn ready_again(&mut self) -> bool {
        let sent = self
            .stdin
            .as_mut()
            .is_some_and(|s| writeln!(s, "{RESET}").and_then(|_| s.flush()).is_ok());
        match sent.then(|| self.read_line()) {
            Some(Ok(l)) if l == "ready" => true,
            // Spent by design (it dropped a capability): a fresh process serves the next case.
            Some(Ok(l)) if l.starts_with("spent ") => {
                SPENT.fetch_add(1, Ordering::Relaxed);
                false
            }
            Some(Ok(l)) => {
                DIRTY.fetch_add(1, Ordering::Relaxed);
                eprintln!("mapcheck: a case process is not clean after its reset: {l}");
                false
            }
            Some(Err(why)) => {
                self.lost = Some(why);
                false
            }
            None => false,
        }
    }

    /// End of input: the child drops its backend (closing every fd, unmounting its bpffs,
    /// removing its cgroup directories) and exits; killed if it does not in time.
    fn end(&mut self) {
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
        self.lost
            .get_or_insert_with(|| "the case process did not exit".into());
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.proc.try_wait() {
            if self.lost.is_none() {
                self.end();
            } else {
                let _ = self.proc.kill();
                let _ = self.proc.wait();
            }
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
/// first op of that kind, `leak:reset` leave an fd open after its reset (for the harness's
/// own tests). A `__reset` line ends a case: `ready` (clean for another), or `spent <why>`
/// (by design: a hard limit this process may not raise again) or `dirty: <why>`, and the
/// process exits. `__ids 0|1` says whether the next case compares map ids.
pub fn serve() -> std::process::ExitCode {
    crate::idlock::set_exact(std::env::var("MAPCHECK_IDS_EXACT").as_deref() == Ok("1"));
    crate::idlock::keep_lock_fd_high();
    let hook = std::env::var("MAPCHECK_CHILD_HOOK").ok();
    let hook = hook.as_deref().and_then(|h| h.split_once(':'));
    // The faulty kernel a parent's backend plants, planted here too (selftest's kernel
    // canaries reach pinned and fdtable cases this way); none: a pass-through.
    let fault = std::env::var("MAPCHECK_KERNEL_FAULT")
        .ok()
        .and_then(|n| crate::faulty::KernelFault::from_name(&n));
    let sys = crate::faulty::Faulty::new(crate::sys::RealSys, fault);
    let mut kernel = match Kernel::with_sys(sys, crate::env::possible_cpus()) {
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
    // `fdtable` lowers the hard RLIMIT_NOFILE to MAX_NOFILE_HARD first thing; done here once,
    // the limits a reset puts back need no CAP_SYS_RESOURCE to raise them again.
    if let Ok((_, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        let h = hard.min(mapcheck_model::limits::MAX_NOFILE_HARD);
        let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, h, h);
    }
    let start = Limits::now();
    // The fds `fdtable` left (the case's starting table); a case without one (a pinned case)
    // must leave the table as the last clean reset did (or the start).
    let mut after_fdtable: Option<Vec<i32>> = None;
    let mut clean_fds: Option<Vec<i32>> = open_fds().ok();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Some(v) = line.strip_prefix(IDS) {
            crate::idlock::set_exact(v.trim() == "1");
            if !say("ready") {
                break;
            }
            continue;
        }
        if line == RESET {
            kernel.reset();
            // The id lock is held from `fdtable` to here in a case that compares ids.
            crate::idlock::release_ids();
            let answer = match start.as_ref() {
                Err(e) => Err(format!("spent its limits were unreadable at start: {e}")),
                Ok(start) => {
                    let before = after_fdtable.take().or_else(|| clean_fds.clone());
                    clean_for_next(start, before, hook == Some(("leak", "reset")))
                }
            };
            match answer {
                Ok(()) => {
                    clean_fds = open_fds().ok();
                    if !say("ready") {
                        break;
                    }
                }
                Err(why) => {
                    say(&why);
                    break;
                }
            }
            continue;
        }
        let o = match parse_line(&line) {
            Ok((op, _)) => {
                match hook {
                    Some(("crash", k)) if k == op.kind() => std::process::abort(),
                    Some(("hang", k)) if k == op.kind() => loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    },
                    _ => {}
                }
                let o = kernel.exec(&op);
                if op == Op::FdTable && o == Ok(Ret::Unit) {
                    after_fdtable = open_fds().ok();
                }
                o
            }
            Err(e) => Ok(Ret::Lost(format!("the case process cannot parse `{line}`: {e}"))),
        };
        if !say(&encode(&o)) {
            break;
        }
    }
    std::process::ExitCode::SUCCESS
}

/// The resource limits and effective capabilities a case may change, as this process
/// started with them.
#[derive(Debug, PartialEq)]
struct Limits {
    nofile: (u64, u64),
    memlock: (u64, u64),
    caps: u64,
    /// The CPUs it may run on (a `cpu` op pins it; its reset puts them back).
    cpus: Vec<usize>,
}

impl Limits {
    fn now() -> std::io::Result<Limits> {
        use rlimit::Resource as R;
        Ok(Limits {
            nofile: rlimit::getrlimit(R::NOFILE)?,
            memlock: rlimit::getrlimit(R::MEMLOCK)?,
            caps: crate::sys::effective_caps().map_err(|e| std::io::Error::from_raw_os_error(e.num()))?,
            cpus: crate::sys::affinity().map_err(|e| std::io::Error::from_raw_os_error(e.num()))?,
        })
    }
}

/// This process's open fds, from /proc/self/fd (the listing's own fd included: in a table
/// like the last one it gets the same number).
fn open_fds() -> std::io::Result<Vec<i32>> {
    let mut fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    Ok(fds)
}

/// After a case's reset: its limits put back as the process started, and its fd table the
/// one `fdtable` left, so the next case starts where a fresh process would. `Err` is the
/// answer the parent gets (`dirty ...`).
/// `leak`: leave an fd open after the limits are back (the harness's own tests).
fn clean_for_next(start: &Limits, after_fdtable: Option<Vec<i32>>, leak: bool) -> Result<(), String> {
    use rlimit::Resource as R;
    // `dropcap` took CAP_SYS_RESOURCE from the effective set only: back first, as raising a
    // hard limit lowered by the case needs it.
    if let Err(e) = crate::sys::set_effective_caps(start.caps) {
        return Err(format!("dirty: its capabilities cannot be put back: {e}"));
    }
    let restore = rlimit::setrlimit(R::NOFILE, start.nofile.0, start.nofile.1)
        .and_then(|_| rlimit::setrlimit(R::MEMLOCK, start.memlock.0, start.memlock.1));
    match restore {
        Ok(()) => {}
        // A case lowered a hard limit, and this process may not raise it (this machine's root
        // may lack CAP_SYS_RESOURCE).
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            return Err(format!("spent a hard limit was lowered: {e}"))
        }
        Err(e) => return Err(format!("dirty: its limits cannot be put back: {e}")),
    }
    match Limits::now() {
        Ok(now) if &now == start => {}
        now => return Err(format!("dirty: its limits are {now:?}, not {start:?}")),
    }
    if leak {
        std::mem::forget(std::fs::File::open("/dev/null"));
    }
    let Some(before) = after_fdtable else {
        return Err("dirty: its fd table was never read".into());
    };
    match open_fds() {
        Ok(now) if now == before => Ok(()),
        now => Err(format!(
            "dirty: its fds are {now:?}, not {before:?} as at the case's start"
        )),
    }
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
        Ok(Ret::Batch(b)) => {
            let list = |v: &[Vec<u8>]| match v.is_empty() {
                true => "-".to_string(),
                false => v.iter().map(|x| h(x)).collect::<Vec<_>>().join(","),
            };
            let ids: Vec<String> = b
                .ids
                .iter()
                .map(|x| x.map_or("?".into(), |x| x.to_string()))
                .collect();
            format!(
                "batch {} {} {} {} {} {}",
                b.err.map_or("-".into(), |e| e.num().to_string()),
                b.count,
                list(&b.keys),
                list(&b.values),
                b.out.as_ref().map_or("none".into(), |o| h(o)),
                if ids.is_empty() { "-".into() } else { ids.join(",") }
            )
        }
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
        "batch" => {
            let err = match next()? {
                "-" => None,
                e => Some(Errno::raw(num(e)? as i32)),
            };
            let count = num(next()?)? as u32;
            let list = |s: &str| match s {
                "-" => Ok(Vec::new()),
                s => s.split(',').map(bytes).collect::<Result<Vec<_>, _>>(),
            };
            let keys = list(next()?)?;
            let values = list(next()?)?;
            let out = match next()? {
                "none" => None,
                s => Some(bytes(s)?),
            };
            let ids = match next()? {
                "-" => Vec::new(),
                s => s
                    .split(',')
                    .map(|w| match w {
                        "?" => Ok(None),
                        w => handle(w).map(Some),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(Ret::Batch(mapcheck_model::outcome::Batch {
                err,
                count,
                keys,
                values,
                out,
                ids,
            }))
        }
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
            // Batches: an errno with a count, records and a cursor; a map-in-map's ids.
            Ok(Ret::Batch(mapcheck_model::outcome::Batch {
                err: Some(Errno::ENOENT),
                count: 2,
                keys: vec![vec![1, 0, 0, 0], vec![2, 0, 0, 0]],
                values: vec![vec![9; 8], vec![]],
                out: Some(vec![4, 0, 0, 0]),
                ids: vec![],
            })),
            Ok(Ret::Batch(mapcheck_model::outcome::Batch {
                err: None,
                count: 2,
                keys: vec![vec![0; 4], vec![3, 0, 0, 0]],
                values: vec![],
                out: None,
                ids: vec![Some(Handle::map(1)), None],
            })),
            Ok(Ret::Batch(mapcheck_model::outcome::Batch {
                err: Some(Errno::E2BIG),
                count: 0,
                ..Default::default()
            })),
        ];
        for o in all {
            assert_eq!(decode(&encode(&o)), Ok(o.clone()), "{}", encode(&o));
        }
        assert!(decode("bogus 1").is_err());
        assert!(decode("fdat m1").is_err());
    }
}
