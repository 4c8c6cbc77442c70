//! The textual form of ops and outcomes, shared by reports and the corpus: one op per line,
//! `# ...` comments, an optional `=> outcome` recording what the kernel did.
//! The core idea: a counterexample printed by `run` can be pasted into `regressions/` as is.

use crate::errno::Errno;
use crate::op::flags::{ANY, EXIST, F_LOCK, MAP_FLAG_NAMES, NOEXIST};
use crate::op::{BadFd, FdRef, Handle, Kind, MapSpec, MapType, Op, ProgSpec, ProgType, Resource, Value};
use crate::outcome::{hex, Expect, MapInfo, Ret};
use std::fmt;

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateMap { handle, spec } => {
                write!(
                    f,
                    "{handle} = create {} key={} value={} entries={}",
                    spec.map_type.word(),
                    spec.key_size,
                    spec.value_size,
                    spec.max_entries
                )?;
                if spec.map_flags != 0 {
                    write!(f, " flags={}", map_flags_text(spec.map_flags))?;
                }
                if spec.numa_node != 0 {
                    write!(f, " numa={}", spec.numa_node as i32)?;
                }
                if !spec.name.is_empty() {
                    write!(f, " name={}", quote(&spec.name))?;
                }
                if spec.map_extra != 0 {
                    write!(f, " extra={:#x}", spec.map_extra)?;
                }
                if let Some(inner) = spec.inner {
                    write!(f, " inner={inner}")?;
                }
                Ok(())
            }
            Op::Update {
                map,
                key,
                value,
                flags,
            } => {
                write!(f, "update {map} key={} value={value}", hex(key))?;
                elem_flags(f, *flags)
            }
            Op::Lookup { map, key, flags } => {
                write!(f, "lookup {map} key={}", hex(key))?;
                elem_flags(f, *flags)
            }
            Op::Delete { map, key } => write!(f, "delete {map} key={}", hex(key)),
            Op::GetNextKey { map, key } => match key {
                Some(k) => write!(f, "next_key {map} key={}", hex(k)),
                None => write!(f, "next_key {map} key=NULL"),
            },
            Op::LookupAndDelete { map, key, flags } => {
                write!(f, "lookup_and_delete {map} key={}", hex(key))?;
                elem_flags(f, *flags)
            }
            Op::Freeze { map } => write!(f, "freeze {map}"),
            Op::Close { handle } => write!(f, "close {handle}"),
            Op::Info { map } => write!(f, "info {map}"),
            Op::Check { map } => write!(f, "check {map}"),
            Op::LoadProg { handle, spec, uses } => {
                write!(f, "{handle} = load {}", spec.prog_type.word())?;
                if spec.xdp_frags {
                    write!(f, " frags")?;
                }
                if spec.attach != 0 {
                    write!(f, " attach={}", spec.attach)?;
                }
                if !uses.is_empty() {
                    let u: Vec<String> = uses.iter().map(|r| r.to_string()).collect();
                    write!(f, " uses={}", u.join(","))?;
                }
                Ok(())
            }
            Op::FdById {
                handle,
                target,
                open_flags,
            } => {
                write!(f, "{handle} = fd_by_id {target}")?;
                if *open_flags != 0 {
                    write!(f, " flags={}", map_flags_text(*open_flags))?;
                }
                Ok(())
            }
            Op::Alive { target } => write!(f, "alive {target}"),
            Op::Settle { target } => write!(f, "settle {target}"),
            Op::MakeCgroup { handle } => write!(f, "{handle} = mkcgroup"),
            Op::OpenCgroup { handle, target, path } => {
                write!(
                    f,
                    "{handle} = open_cgroup {target}{}",
                    if *path { " path" } else { "" }
                )
            }
            Op::Rmdir { target } => write!(f, "rmdir {target}"),
            Op::OpenPerf { handle, inherit } => {
                write!(
                    f,
                    "{handle} = perf_event{}",
                    if *inherit { " inherit" } else { "" }
                )
            }
            Op::Dying => write!(f, "dying"),
            Op::Pin { target } => write!(f, "pin {target}"),
            Op::Unpin { target } => write!(f, "unpin {target}"),
            Op::GetPinned {
                handle,
                target,
                file_flags,
            } => {
                write!(f, "{handle} = get_pinned {target}")?;
                if *file_flags != 0 {
                    write!(f, " flags={}", map_flags_text(*file_flags))?;
                }
                Ok(())
            }
            Op::FdTable => write!(f, "fdtable"),
            Op::SetRlimit { res, soft, hard } => {
                write!(
                    f,
                    "rlimit {} soft={} hard={}",
                    res.word(),
                    limit_text(*soft),
                    limit_text(*hard)
                )
            }
            Op::DropCap => write!(f, "dropcap sys_resource"),
            Op::IdGap { from, to } => write!(f, "idgap {from} {to}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bytes(b) => write!(f, "{}", hex(b)),
            Value::Fd(r) => write!(f, "fd:{r}"),
        }
    }
}

/// The element flag bits written by name (the mode, 0-3, and `F_LOCK`); others go as hex.
const ELEM_FLAGS_NAMED: u64 = 3 | F_LOCK;

fn elem_flags(f: &mut fmt::Formatter<'_>, flags: u64) -> fmt::Result {
    if flags == ANY {
        return Ok(());
    }
    let mut parts = Vec::new();
    match flags & 3 {
        NOEXIST => parts.push("NOEXIST".to_string()),
        EXIST => parts.push("EXIST".to_string()),
        3 => parts.push("0x3".to_string()),
        _ => {}
    }
    if flags & F_LOCK != 0 {
        parts.push("F_LOCK".into());
    }
    let rest = flags & !ELEM_FLAGS_NAMED;
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    write!(f, " flags={}", parts.join("|"))
}

fn map_flags_text(mut flags: u32) -> String {
    let mut parts = Vec::new();
    for (bit, name) in MAP_FLAG_NAMES {
        if flags & bit != 0 {
            parts.push(name.to_string());
            flags &= !bit;
        }
    }
    if flags != 0 {
        parts.push(format!("{flags:#x}"));
    }
    parts.join("|")
}

/// Quotes raw name bytes: printable ASCII as is, everything else as `\xNN`.
pub(crate) fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        if c.is_ascii_graphic() && c != b'"' && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s.push('"');
    s
}

/// A parse error: what was expected where (the caller adds file and line).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type PResult<T> = Result<T, ParseError>;

fn err<T>(msg: impl Into<String>) -> PResult<T> {
    Err(ParseError(msg.into()))
}

/// Parses one op line (comments already removed); returns the op and the recorded outcome.
pub fn parse_line(line: &str) -> PResult<(Op, Option<Expect>)> {
    let (op_text, expect) = match line.split_once("=>") {
        Some((a, b)) => (a.trim(), Some(parse_expect(b.trim())?)),
        None => (line.trim(), None),
    };
    // Quoted names never hold spaces (the textual form escapes them), so words split cleanly.
    let words: Vec<String> = op_text.split_whitespace().map(str::to_string).collect();
    let Some(first) = words.first() else {
        return err("expected an op");
    };
    let op = if words.get(1).map(String::as_str) == Some("=") {
        let handle = parse_handle(first)?;
        let rest = words.get(3..).unwrap_or_default();
        let want = |k: Kind| {
            if handle.kind == k {
                Ok(())
            } else {
                err(format!(
                    "`{handle}` names a {:?}; this op creates a {k:?} (handle `{}{}`)",
                    handle.kind,
                    k.letter(),
                    handle.n
                ))
            }
        };
        let flag = |w: &str| rest.iter().any(|x| x == w);
        match words.get(2).map(String::as_str) {
            Some("create") => {
                want(Kind::Map)?;
                parse_create(handle, rest)?
            }
            Some("load") => {
                want(Kind::Prog)?;
                let t = rest.first().ok_or_else(|| ParseError("expected a program type after `load`".into()))?;
                let prog_type = ProgType::from_word(t).ok_or_else(|| {
                    ParseError(format!("unknown program type `{t}` (socket_filter, sched_cls, xdp)"))
                })?;
                let uses = match rest.iter().find_map(|w| w.strip_prefix("uses=")) {
                    Some(list) => list.split(',').map(parse_ref).collect::<PResult<Vec<_>>>()?,
                    None => Vec::new(),
                };
                let attach = match rest.iter().find_map(|w| w.strip_prefix("attach=")) {
                    Some(a) => a.parse().map_err(|_| ParseError(format!("bad attach=`{a}`")))?,
                    None => 0,
                };
                Op::LoadProg { handle, spec: ProgSpec { prog_type, xdp_frags: flag("frags"), attach }, uses }
            }
            Some("fd_by_id") => {
                let target = parse_handle(rest.first().map_or("", String::as_str))?;
                if target.kind != handle.kind {
                    return err(format!("`{handle} = fd_by_id {target}`: both handles must be of one kind"));
                }
                let kv = KeyValues::new(&rest[1..])?;
                kv.no_extra(&["flags"])?;
                let open_flags = kv.opt("flags").map_or(Ok(0), parse_map_flags)?;
                Op::FdById { handle, target, open_flags }
            }
            Some("get_pinned") => {
                let target = parse_handle(rest.first().map_or("", String::as_str))?;
                let kv = KeyValues::new(&rest[1..])?;
                kv.no_extra(&["flags"])?;
                let file_flags = kv.opt("flags").map_or(Ok(0), parse_map_flags)?;
                Op::GetPinned { handle, target, file_flags }
            }
            Some("mkcgroup") => {
                want(Kind::Cgroup)?;
                Op::MakeCgroup { handle }
            }
            Some("open_cgroup") => {
                want(Kind::Cgroup)?;
                let target = parse_handle(rest.first().map_or("", String::as_str))?;
                Op::OpenCgroup { handle, target, path: flag("path") }
            }
            Some("perf_event") => {
                want(Kind::Perf)?;
                Op::OpenPerf { handle, inherit: flag("inherit") }
            }
            other => {
                return err(format!(
                    "expected create, load, fd_by_id, mkcgroup, open_cgroup or perf_event after `{first} =`, found `{}`",
                    other.unwrap_or("")
                ))
            }
        }
    } else if first == "dying" {
        Op::Dying
    } else if first == "fdtable" {
        Op::FdTable
    } else if first == "dropcap" {
        if words.get(1).map(String::as_str) != Some("sys_resource") {
            return err("expected `dropcap sys_resource`");
        }
        Op::DropCap
    } else if first == "idgap" {
        let (Some(a), Some(b)) = (words.get(1), words.get(2)) else {
            return err("expected `idgap <map> <map>`");
        };
        Op::IdGap {
            from: parse_handle(a)?,
            to: parse_handle(b)?,
        }
    } else if first == "rlimit" {
        let res = match words.get(1).map(String::as_str) {
            Some("nofile") => Resource::Nofile,
            Some("memlock") => Resource::Memlock,
            _ => return err("expected `rlimit nofile|memlock soft=N hard=N`"),
        };
        let kv = KeyValues::new(&words[2..])?;
        kv.no_extra(&["soft", "hard"])?;
        Op::SetRlimit {
            res,
            soft: parse_limit(kv.get("soft")?)?,
            hard: parse_limit(kv.get("hard")?)?,
        }
    } else {
        let Some(target) = words.get(1) else {
            return err(format!("`{first}` needs a map"));
        };
        let kv = KeyValues::new(&words[2..])?;
        let op = match first.as_str() {
            "update" => Op::Update {
                map: parse_ref(target)?,
                key: kv.bytes("key")?,
                value: match kv.get("value")?.strip_prefix("fd:") {
                    Some(r) => Value::Fd(parse_ref(r)?),
                    None => Value::Bytes(kv.bytes("value")?),
                },
                flags: kv.elem_flags()?,
            },
            "lookup" => Op::Lookup {
                map: parse_ref(target)?,
                key: kv.bytes("key")?,
                flags: kv.elem_flags()?,
            },
            "delete" => Op::Delete {
                map: parse_ref(target)?,
                key: kv.bytes("key")?,
            },
            "next_key" => Op::GetNextKey {
                map: parse_ref(target)?,
                key: match kv.get("key")? {
                    "NULL" => None,
                    k => Some(parse_hex(k)?),
                },
            },
            "lookup_and_delete" => Op::LookupAndDelete {
                map: parse_ref(target)?,
                key: kv.bytes("key")?,
                flags: kv.elem_flags()?,
            },
            "freeze" => Op::Freeze {
                map: parse_ref(target)?,
            },
            "check" => Op::Check {
                map: parse_ref(target)?,
            },
            "info" => Op::Info {
                map: parse_ref(target)?,
            },
            "close" => Op::Close {
                handle: parse_handle(target)?,
            },
            "alive" => Op::Alive {
                target: parse_handle(target)?,
            },
            "settle" => Op::Settle {
                target: parse_handle(target)?,
            },
            "rmdir" => Op::Rmdir {
                target: parse_handle(target)?,
            },
            "pin" => Op::Pin {
                target: parse_handle(target)?,
            },
            "unpin" => Op::Unpin {
                target: parse_handle(target)?,
            },
            other => {
                return err(format!(
                    "unknown op `{other}`; expected one of update, lookup, delete, next_key, \
                     lookup_and_delete, freeze, check, info, close, alive, settle, rmdir, dying, pin, unpin"
                ))
            }
        };
        kv.no_extra(&["key", "value", "flags"])?;
        op
    };
    Ok((op, expect))
}

fn parse_create(handle: Handle, words: &[String]) -> PResult<Op> {
    let Some(t) = words.first() else {
        return err("expected a map type after `create`");
    };
    let map_type = MapType::from_word(t).ok_or_else(|| {
        ParseError(format!(
            "unknown map type `{t}` (array, percpu_array, hash, percpu_hash, typeN)"
        ))
    })?;
    let kv = KeyValues::new(&words[1..])?;
    kv.no_extra(&[
        "key", "value", "entries", "flags", "numa", "name", "extra", "inner",
    ])?;
    let mut spec = MapSpec::new(map_type, kv.u32("key")?, kv.u32("value")?, kv.u32("entries")?);
    if let Some(f) = kv.opt("flags") {
        spec.map_flags = parse_map_flags(f)?;
    }
    if let Some(n) = kv.opt("numa") {
        // -1 is NUMA_NO_NODE; the field is a u32 in bpf_attr.
        let v = parse_i64(n)?;
        if !(-1..=u32::MAX as i64).contains(&v) {
            return err(format!("`numa={n}` is out of range"));
        }
        spec.numa_node = v as u32;
    }
    if let Some(n) = kv.opt("name") {
        spec.name = unquote(n)?;
    }
    if let Some(x) = kv.opt("extra") {
        spec.map_extra = parse_i64(x)? as u64;
    }
    if let Some(i) = kv.opt("inner") {
        spec.inner = Some(parse_ref(i)?);
    }
    Ok(Op::CreateMap { handle, spec })
}

/// RLIM_INFINITY is written `inf`.
fn limit_text(v: u64) -> String {
    if v == u64::MAX {
        "inf".into()
    } else {
        v.to_string()
    }
}

fn parse_limit(w: &str) -> PResult<u64> {
    if w == "inf" {
        return Ok(u64::MAX);
    }
    w.parse()
        .map_err(|_| ParseError(format!("expected a number or `inf`, found `{w}`")))
}

/// A handle as scripts write it: `m0`, `p1`, `c2`, `e3`.
pub fn parse_handle(w: &str) -> PResult<Handle> {
    let mut chars = w.chars();
    let kind = chars.next().and_then(Kind::from_letter);
    match (kind, chars.as_str().parse::<u32>()) {
        (Some(kind), Ok(n)) => Ok(Handle { kind, n }),
        _ => err(format!(
            "expected a handle like `m0`, `p1`, `c2` or `e3`, found `{w}`"
        )),
    }
}

fn parse_ref(w: &str) -> PResult<FdRef> {
    if let Some(b) = w.strip_prefix("badfd:") {
        return BadFd::from_word(b)
            .map(FdRef::Bad)
            .ok_or_else(|| ParseError(format!("unknown bad fd `{b}` (closed, never, file)")));
    }
    parse_handle(w).map(FdRef::Handle)
}

/// Hex bytes (`01ab`); a non-ASCII digit is an error, not a split inside a character.
pub fn parse_hex(s: &str) -> PResult<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return err(format!("hex bytes need an even number of digits: `{s}`"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| ParseError(format!("bad hex `{s}`")))
        })
        .collect()
}

fn parse_i64(s: &str) -> PResult<i64> {
    let r = match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| ParseError(format!("expected a number, found `{s}`")))
}

fn parse_map_flags(s: &str) -> PResult<u32> {
    let mut v = 0u32;
    for part in s.split('|') {
        v |= match MAP_FLAG_NAMES.iter().find(|(_, n)| *n == part) {
            Some((bit, _)) => *bit,
            None => parse_i64(part).map_err(|_| ParseError(format!("unknown map flag `{part}`")))? as u32,
        };
    }
    Ok(v)
}

fn parse_elem_flags(s: &str) -> PResult<u64> {
    let mut v = 0u64;
    for part in s.split('|') {
        v |= match part {
            "ANY" => ANY,
            "NOEXIST" => NOEXIST,
            "EXIST" => EXIST,
            "F_LOCK" => F_LOCK,
            _ => parse_i64(part).map_err(|_| ParseError(format!("unknown element flag `{part}`")))? as u64,
        };
    }
    Ok(v)
}

fn unquote(s: &str) -> PResult<Vec<u8>> {
    let inner = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .ok_or_else(|| ParseError(format!("expected a quoted name, found `{s}`")))?;
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let h = inner.get(i + 2..i + 4).filter(|_| b.get(i + 1) == Some(&b'x'));
            let h = h.ok_or_else(|| ParseError(format!("bad escape in {s}: expected \\xNN")))?;
            out.push(parse_hex(h)?[0]);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

struct KeyValues<'a>(Vec<(&'a str, &'a str)>);

impl<'a> KeyValues<'a> {
    fn new(words: &'a [String]) -> PResult<Self> {
        let mut v = Vec::new();
        for w in words {
            match w.split_once('=') {
                Some((k, val)) => v.push((k, val)),
                None => return err(format!("expected `name=value`, found `{w}`")),
            }
        }
        Ok(KeyValues(v))
    }
    fn opt(&self, k: &str) -> Option<&'a str> {
        self.0.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }
    fn get(&self, k: &str) -> PResult<&'a str> {
        self.opt(k).ok_or_else(|| ParseError(format!("missing `{k}=`")))
    }
    fn bytes(&self, k: &str) -> PResult<Vec<u8>> {
        parse_hex(self.get(k)?)
    }
    fn num(&self, k: &str) -> PResult<i64> {
        parse_i64(self.get(k)?)
    }
    fn u32(&self, k: &str) -> PResult<u32> {
        let n = self.num(k)?;
        u32::try_from(n).map_err(|_| ParseError(format!("`{k}={n}` does not fit in 32 bits")))
    }
    fn elem_flags(&self) -> PResult<u64> {
        self.opt("flags").map_or(Ok(ANY), parse_elem_flags)
    }
    fn no_extra(&self, known: &[&str]) -> PResult<()> {
        match self.0.iter().find(|(n, _)| !known.contains(n)) {
            Some((n, _)) => err(format!(
                "unknown field `{n}=` (expected one of {})",
                known.join(", ")
            )),
            None => Ok(()),
        }
    }
}

/// Parses a recorded outcome: `ok`, `ok value=..`, `ok key=..`, `ok fd=m0`, `ENOENT`, `E524`.
pub fn parse_expect(s: &str) -> PResult<Expect> {
    let mut words = s.split_whitespace();
    let Some(first) = words.next() else {
        return err("expected an outcome after `=>`");
    };
    if first == "lost" {
        let why = s.trim_start().strip_prefix("lost").unwrap_or("").trim();
        return Ok(Expect::Exactly(Ok(Ret::Lost(why.to_string()))));
    }
    if first != "ok" {
        return Errno::parse(first)
            .map(|e| Expect::Exactly(Err(e)))
            .ok_or_else(|| {
                ParseError(format!(
                    "expected `ok` or an errno name like ENOENT, found `{first}`"
                ))
            });
    }
    let Some(payload) = words.next() else {
        return Ok(Expect::AnyOk);
    };
    let ret = match payload.split_once('=') {
        Some(("value", h)) => Ret::Value(parse_hex(h)?),
        Some(("key", h)) => Ret::Key(parse_hex(h)?),
        Some(("fd", h)) => match words.next().map(|w| w.split_once('=')) {
            Some(Some(("num", n))) => Ret::FdAt(
                parse_handle(h)?,
                n.parse()
                    .map_err(|_| ParseError(format!("bad fd number `{n}`")))?,
            ),
            Some(_) => return err(format!("expected `num=N` after `fd={h}`")),
            None => Ret::Fd(parse_handle(h)?),
        },
        Some(("id", h)) => {
            let id = match h {
                "?" => None,
                h => Some(parse_handle(h)?),
            };
            let rest: Vec<String> = words.map(str::to_string).collect();
            if rest.is_empty() {
                Ret::Id(id)
            } else {
                Ret::Info(parse_info(id, &rest)?)
            }
        }
        Some(("count", n)) => Ret::Count(n.parse().map_err(|_| ParseError(format!("bad count `{n}`")))?),
        Some(("entries" | "slots", _)) => return Ok(Expect::AnyOk),
        None if payload == "alive" => Ret::Alive(true),
        None if payload == "gone" => Ret::Alive(false),
        _ => return err(format!("unknown outcome payload `{payload}`")),
    };
    Ok(Expect::Exactly(Ok(ret)))
}

/// The rest of `ok id=m0 type=hash key=4 value=8 entries=16 flags=0x0 name="abc" [extra=N]`.
fn parse_info(id: Option<Handle>, words: &[String]) -> PResult<MapInfo> {
    let kv = KeyValues::new(words)?;
    kv.no_extra(&["type", "key", "value", "entries", "flags", "name", "extra"])?;
    let t = kv.get("type")?;
    Ok(MapInfo {
        id,
        map_type: MapType::from_word(t).ok_or_else(|| ParseError(format!("unknown map type `{t}`")))?,
        key_size: kv.u32("key")?,
        value_size: kv.u32("value")?,
        max_entries: kv.u32("entries")?,
        map_flags: kv.u32("flags")?,
        name: unquote(kv.get("name")?)?,
        map_extra: kv.opt("extra").map_or(Ok(0), parse_i64)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::flags;

    #[test]
    fn ops_roundtrip_through_text() {
        let mut spec = MapSpec::new(MapType::Hash, 4, 8, 16);
        spec.map_flags = flags::NO_PREALLOC | flags::RDONLY | 0x8000_0000;
        spec.name = b"a.b\xe9-\0".to_vec();
        spec.numa_node = u32::MAX;
        let mut outer = MapSpec::new(MapType::ArrayOfMaps, 4, 4, 2);
        outer.inner = Some(FdRef::Handle(Handle::map(3)));
        let ops = vec![
            Op::CreateMap {
                handle: Handle::map(5),
                spec: outer,
            },
            Op::CreateMap {
                handle: Handle::map(3),
                spec,
            },
            Op::Update {
                map: FdRef::Handle(Handle::map(3)),
                key: vec![1, 2, 3, 4],
                value: Value::Bytes(vec![0; 8]),
                flags: 7,
            },
            Op::Update {
                map: FdRef::Handle(Handle::map(3)),
                key: vec![1, 2, 3, 4],
                value: Value::Fd(FdRef::Handle(Handle::prog(2))),
                flags: 0,
            },
            Op::LoadProg {
                handle: Handle::prog(0),
                spec: ProgSpec {
                    prog_type: ProgType::Xdp,
                    xdp_frags: true,
                    attach: 37,
                },
                uses: vec![FdRef::Handle(Handle::map(3)), FdRef::Bad(BadFd::Closed)],
            },
            Op::FdById {
                handle: Handle::map(4),
                target: Handle::map(3),
                open_flags: flags::RDONLY,
            },
            Op::Alive {
                target: Handle::prog(0),
            },
            Op::Settle {
                target: Handle::map(3),
            },
            Op::MakeCgroup {
                handle: Handle::cgroup(0),
            },
            Op::OpenCgroup {
                handle: Handle::cgroup(1),
                target: Handle::cgroup(0),
                path: true,
            },
            Op::Rmdir {
                target: Handle::cgroup(0),
            },
            Op::OpenPerf {
                handle: Handle::perf(0),
                inherit: true,
            },
            Op::Dying,
            Op::FdTable,
            Op::SetRlimit {
                res: Resource::Nofile,
                soft: 3,
                hard: u64::MAX,
            },
            Op::SetRlimit {
                res: Resource::Memlock,
                soft: 0,
                hard: 0,
            },
            Op::DropCap,
            Op::IdGap {
                from: Handle::map(0),
                to: Handle::map(4),
            },
            Op::Pin {
                target: Handle::prog(0),
            },
            Op::Unpin {
                target: Handle::map(3),
            },
            Op::GetPinned {
                handle: Handle::map(9),
                target: Handle::map(3),
                file_flags: flags::WRONLY,
            },
            Op::Lookup {
                map: FdRef::Bad(BadFd::NotBpf),
                key: vec![],
                flags: F_LOCK,
            },
            Op::GetNextKey {
                map: FdRef::Handle(Handle::map(0)),
                key: None,
            },
            Op::LookupAndDelete {
                map: FdRef::Bad(BadFd::Closed),
                key: vec![9],
                flags: 0,
            },
            Op::Close {
                handle: Handle::cgroup(1),
            },
            Op::Info {
                map: FdRef::Handle(Handle::map(4)),
            },
            Op::Info {
                map: FdRef::Bad(BadFd::NeverOpened),
            },
        ];
        for op in ops {
            let text = op.to_string();
            let (back, _) = parse_line(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, op, "{text}");
        }
    }

    #[test]
    fn outcomes_roundtrip_through_text() {
        use crate::outcome::fmt_outcome;
        // A bare `ok` reads back as "any success" (Expect::AnyOk), by design.
        assert_eq!(parse_expect("ok"), Ok(Expect::AnyOk));
        let outs = vec![
            Ok(Ret::Fd(Handle::perf(2))),
            Ok(Ret::FdAt(Handle::map(1), 17)),
            Ok(Ret::Lost("the case process died (signal: 6)".into())),
            Ok(Ret::Value(vec![1, 2])),
            Ok(Ret::Key(vec![0xff])),
            Ok(Ret::Id(Some(Handle::prog(1)))),
            Ok(Ret::Id(None)),
            Ok(Ret::Alive(true)),
            Ok(Ret::Alive(false)),
            Ok(Ret::Count(3)),
            Ok(Ret::Info(MapInfo {
                id: Some(Handle::map(2)),
                map_type: MapType::PercpuHash,
                key_size: 4,
                value_size: 12,
                max_entries: 16,
                map_flags: flags::NO_PREALLOC | flags::ZERO_SEED,
                name: b"a.b\0x y\xe9".to_vec(),
                map_extra: 0,
            })),
            Ok(Ret::Info(MapInfo {
                id: None,
                map_type: MapType::Other(99),
                key_size: 0,
                value_size: 0,
                max_entries: u32::MAX,
                map_flags: 0x8000_0000,
                name: Vec::new(),
                map_extra: 0x1_0000_0000,
            })),
            Err(Errno::ENOTSUPP),
            Err(Errno(4242)),
        ];
        for o in outs {
            let text = fmt_outcome(&o);
            assert_eq!(parse_expect(&text), Ok(Expect::Exactly(o)), "{text}");
        }
    }

    #[test]
    fn errors_say_what_was_expected() {
        let e = parse_line("update m0 key=0 value=00").unwrap_err();
        assert!(e.0.contains("even number"), "{e}");
        let e = parse_line("m0 = create array key=4 value=8 entries=4294967296").unwrap_err();
        assert!(e.0.contains("32 bits"), "{e}");
        let e = parse_line("frobnicate m0").unwrap_err();
        assert!(e.0.contains("unknown op"), "{e}");
        let e = parse_line("m0 = create array key=4 value=8").unwrap_err();
        assert!(e.0.contains("entries"), "{e}");
        // Malformed input is an error, never a panic.
        let e = parse_line("update m0 key=a\u{e9}b value=00").unwrap_err();
        assert!(e.0.contains("bad hex"), "{e}");
        assert!(parse_line("m0 =").is_err());
        let (_, exp) = parse_line("delete m0 key=00000000 => E524").unwrap();
        assert_eq!(exp, Some(Expect::Exactly(Err(Errno::ENOTSUPP))));
    }

    /// Any line a person could type (a valid line cut short, or with a script word or an odd
    /// character spliced in anywhere) parses or is refused with an error; it never panics.
    #[cfg(feature = "proptest")]
    #[test]
    fn no_line_panics() {
        use proptest::prelude::*;
        let lines = [
            "m0 = create hash key=4 value=4 entries=2 flags=NO_PREALLOC name=x => ok fd=m0",
            "m1 = create array_of_maps key=4 value=4 entries=1 inner=m0 => EINVAL",
            "update m0 key=01000000 value=fd:p0 flags=NOEXIST|F_LOCK => ok",
            "p0 = load socket_filter uses=m0,badfd:closed => ok fd=p0 num=3",
            "rlimit nofile soft=8 hard=inf => EPERM",
            "idgap m0 m3 => ok 2",
            "check m0 => ok",
        ];
        for l in lines {
            for (i, _) in l.char_indices() {
                let _ = parse_line(&l[..i]);
            }
        }
        let words = vec![
            "m0", "=", "=>", "key=", "a\u{e9}", "\u{e9}", "0x", "|", ",", "fd:", "inf", " ",
        ];
        let spliced = (
            prop::sample::select(lines.to_vec()),
            any::<prop::sample::Index>(),
            prop::sample::select(words),
        )
            .prop_map(|(l, at, w)| {
                let cuts: Vec<usize> = l.char_indices().map(|(i, _)| i).collect();
                let i = cuts[at.index(cuts.len())];
                format!("{}{w}{}", &l[..i], &l[i..])
            });
        proptest!(ProptestConfig::with_cases(4000), |(l in spliced)| {
            let _ = parse_line(&l);
        });
    }
}
