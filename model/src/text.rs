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
                    write!(f, " numa={}", numa_text(spec.numa_node))?;
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
            Op::Lookup {
                map,
                key,
                input,
                flags,
            } => {
                write!(f, "lookup {map} key={}", hex(key))?;
                if !input.is_empty() {
                    write!(f, " value={}", hex(input))?;
                }
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
            Op::LookupBatch {
                map,
                delete,
                cursor,
                count,
                elem_flags,
                flags,
            } => {
                let word = if *delete {
                    "lookup_and_delete_batch"
                } else {
                    "lookup_batch"
                };
                match cursor {
                    Some(c) => write!(f, "{word} {map} in={}", hex(c))?,
                    None => write!(f, "{word} {map} in=NULL")?,
                }
                write!(f, " count={count}")?;
                named_elem_flags(f, "elem_flags", *elem_flags)?;
                named_elem_flags(f, "flags", *flags)
            }
            Op::UpdateBatch {
                map,
                keys,
                values,
                elem_flags,
                flags,
            } => {
                write!(f, "update_batch {map}")?;
                batch_records(f, keys, Some(values))?;
                named_elem_flags(f, "elem_flags", *elem_flags)?;
                named_elem_flags(f, "flags", *flags)
            }
            Op::DeleteBatch {
                map,
                keys,
                elem_flags,
                flags,
            } => {
                write!(f, "delete_batch {map}")?;
                batch_records(f, keys, None)?;
                named_elem_flags(f, "elem_flags", *elem_flags)?;
                named_elem_flags(f, "flags", *flags)
            }
            Op::Freeze { map } => write!(f, "freeze {map}"),
            Op::Close { handle } => write!(f, "close {handle}"),
            Op::Info { map } => write!(f, "info {map}"),
            Op::Check { map } => write!(f, "check {map}"),
            Op::Fill { map, n, from: 0 } => write!(f, "fill {map} n={n}"),
            Op::Fill { map, n, from } => write!(f, "fill {map} n={n} from={from}"),
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
            Op::SettleDying { max } => write!(f, "settle dying max={max}"),
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
            Op::Cpu { cpu } => write!(f, "cpu {cpu}"),
            Op::ProgElem {
                call,
                map,
                key,
                value,
                flags,
            } => {
                write!(f, "prog {} {map} key={}", call.word(), hex(key))?;
                if *call == crate::op::Call::Update {
                    write!(f, " value={}", hex(value))?;
                }
                elem_flags(f, *flags)
            }
            Op::IdGap { from, to } => write!(f, "idgap {from} {to}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bytes(b) => write!(f, "{}", hex(b)),
            Value::Fd(r) => write!(f, "fd:{r}"),
            Value::Id(h) => write!(f, "id:{h}"),
        }
    }
}

/// The element flag bits written by name (the mode, 0-3, and `F_LOCK`); others go as hex.
const ELEM_FLAGS_NAMED: u64 = 3 | F_LOCK;

fn elem_flags(f: &mut fmt::Formatter<'_>, flags: u64) -> fmt::Result {
    named_elem_flags(f, "flags", flags)
}

/// ` name=NOEXIST|F_LOCK` unless `flags` is 0 (a batch's `elem_flags=` and `flags=`).
fn named_elem_flags(f: &mut fmt::Formatter<'_>, name: &str, flags: u64) -> fmt::Result {
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
    write!(f, " {name}={}", parts.join("|"))
}

/// Comma-separated hex records (a batch's keys or values); nothing for none.
fn hex_list<'a>(v: impl Iterator<Item = &'a [u8]>) -> String {
    v.map(hex).collect::<Vec<_>>().join(",")
}

/// ` count=N keys=..`: written only where some key has bytes (a keyless map's keys are
/// empty, and `count` says how many).
fn batch_records(f: &mut fmt::Formatter<'_>, keys: &[Vec<u8>], values: Option<&[Value]>) -> fmt::Result {
    write!(f, " count={}", keys.len())?;
    if keys.iter().any(|k| !k.is_empty()) {
        write!(f, " keys={}", hex_list(keys.iter().map(Vec::as_slice)))?;
    }
    if let Some(values) = values {
        if values.iter().any(|v| !v.is_empty() || matches!(v, Value::Fd(_))) {
            let v: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            write!(f, " values={}", v.join(","))?;
        }
    }
    Ok(())
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

/// Quotes raw name bytes: printable ASCII as is, everything else as `\xNN`; so are `"` and `\`
/// (the quoting) and `=` (a name holding `=>` would split the line at the outcome).
pub(crate) fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        if c.is_ascii_graphic() && !matches!(c, b'"' | b'\\' | b'=') {
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
/// A step number as a divergence report prints it (`  3/5: `) may lead the line, so that
/// report lines paste into a script as they are.
pub fn parse_line(line: &str) -> PResult<(Op, Option<Expect>)> {
    let line = strip_step_number(line);
    let (op_text, expect) = match line.split_once("=>") {
        Some((a, b)) => (a.trim(), Some(parse_expect(b.trim())?)),
        None => (line.trim(), None),
    };
    Ok((parse_op(op_text)?, expect))
}

/// `  3/5: op...` -> `op...`; any other line is returned as it is (ops hold no `N/M:`).
fn strip_step_number(line: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match line.trim_start().split_once(':') {
        Some((n, rest)) if n.split_once('/').is_some_and(|(a, b)| digits(a) && digits(b)) => rest,
        _ => line,
    }
}

/// Reads the words after an op's own word (for `h = WORD`, also the handle it binds).
type PlainParser = fn(&[&str]) -> PResult<Op>;
type BindingParser = fn(Handle, &[&str]) -> PResult<Op>;

/// The ops that start with their word; with [`BINDING_OPS`], the one table the parser
/// dispatches on and its error messages list, so that an op cannot be missing from either.
const PLAIN_OPS: [(&str, PlainParser); 26] = [
    ("update", p_update),
    ("lookup", p_lookup),
    ("delete", p_delete),
    ("next_key", p_next_key),
    ("lookup_and_delete", p_lookup_and_delete),
    ("lookup_batch", |a| p_lookup_batch("lookup_batch", false, a)),
    ("lookup_and_delete_batch", |a| {
        p_lookup_batch("lookup_and_delete_batch", true, a)
    }),
    ("update_batch", |a| p_write_batch("update_batch", true, a)),
    ("delete_batch", |a| p_write_batch("delete_batch", false, a)),
    ("freeze", |a| {
        Ok(Op::Freeze {
            map: parse_ref(one_arg("freeze <map>", a)?)?,
        })
    }),
    ("check", |a| {
        Ok(Op::Check {
            map: parse_ref(one_arg("check <map>", a)?)?,
        })
    }),
    ("fill", |a| match a {
        [map, n] if n.starts_with("n=") => Ok(Op::Fill {
            map: parse_handle(map)?,
            n: parse_u32("n", &n[2..])?,
            from: 0,
        }),
        [map, n, from] if n.starts_with("n=") && from.starts_with("from=") => Ok(Op::Fill {
            map: parse_handle(map)?,
            n: parse_u32("n", &n[2..])?,
            from: parse_u32("from", &from[5..])?,
        }),
        _ => err(format!(
            "expected `fill <map> n=N [from=K]`, found `fill {}`",
            a.join(" ")
        )),
    }),
    ("info", |a| {
        Ok(Op::Info {
            map: parse_ref(one_arg("info <map>", a)?)?,
        })
    }),
    ("close", |a| {
        Ok(Op::Close {
            handle: parse_handle(one_arg("close <handle>", a)?)?,
        })
    }),
    ("alive", |a| {
        Ok(Op::Alive {
            target: parse_handle(one_arg("alive <handle>", a)?)?,
        })
    }),
    ("settle", |a| match a {
        ["dying", rest @ ..] => match rest {
            [m] if m.starts_with("max=") => {
                let n = &m[4..];
                Ok(Op::SettleDying {
                    max: n
                        .parse()
                        .map_err(|_| ParseError(format!("bad count `{n}` in `max=`")))?,
                })
            }
            _ => err("expected `settle dying max=N`"),
        },
        _ => Ok(Op::Settle {
            target: parse_handle(one_arg("settle <handle>", a)?)?,
        }),
    }),
    ("rmdir", |a| {
        Ok(Op::Rmdir {
            target: parse_handle(one_arg("rmdir <cgroup>", a)?)?,
        })
    }),
    ("pin", |a| {
        Ok(Op::Pin {
            target: parse_handle(one_arg("pin <handle>", a)?)?,
        })
    }),
    ("unpin", |a| {
        Ok(Op::Unpin {
            target: parse_handle(one_arg("unpin <handle>", a)?)?,
        })
    }),
    ("dying", |a| no_args("dying", a).map(|_| Op::Dying)),
    ("fdtable", |a| no_args("fdtable", a).map(|_| Op::FdTable)),
    ("rlimit", p_rlimit),
    ("dropcap", |a| match a {
        ["sys_resource"] => Ok(Op::DropCap),
        _ => err(format!(
            "expected `dropcap sys_resource`, found `dropcap {}`",
            a.join(" ")
        )),
    }),
    ("prog", p_prog),
    ("cpu", |a| {
        let n = one_arg("cpu <number>", a)?;
        match n.parse() {
            Ok(cpu) => Ok(Op::Cpu { cpu }),
            Err(_) => err(format!("expected `cpu <number>`, found `cpu {n}`")),
        }
    }),
    ("idgap", |a| match a {
        [from, to] => Ok(Op::IdGap {
            from: parse_handle(from)?,
            to: parse_handle(to)?,
        }),
        _ => err(format!(
            "expected `idgap <map> <map>`, found `idgap {}`",
            a.join(" ")
        )),
    }),
];

/// The ops that bind a new handle: `h = WORD ...`.
const BINDING_OPS: [(&str, BindingParser); 7] = [
    ("create", p_create),
    ("load", p_load),
    ("fd_by_id", p_fd_by_id),
    ("get_pinned", p_get_pinned),
    ("mkcgroup", |h, a| {
        want(h, Kind::Cgroup)?;
        no_args("mkcgroup", a).map(|_| Op::MakeCgroup { handle: h })
    }),
    ("open_cgroup", |h, a| {
        want(h, Kind::Cgroup)?;
        let (target, path) = match a {
            [t] => (t, false),
            [t, "path"] => (t, true),
            _ => {
                return err(format!(
                    "expected `{h} = open_cgroup <cgroup> [path]`, found `{}`",
                    a.join(" ")
                ))
            }
        };
        Ok(Op::OpenCgroup {
            handle: h,
            target: parse_handle(target)?,
            path,
        })
    }),
    ("perf_event", |h, a| {
        want(h, Kind::Perf)?;
        let inherit = bare_option("perf_event", "inherit", a)?;
        Ok(Op::OpenPerf { handle: h, inherit })
    }),
];

/// Every op word a script may use: the plain ops, then the ones written `h = WORD`.
pub fn op_words() -> impl Iterator<Item = &'static str> {
    PLAIN_OPS
        .iter()
        .map(|(w, _)| *w)
        .chain(BINDING_OPS.iter().map(|(w, _)| *w))
}

/// Every map type word `create` takes by name (a raw number is written `typeN`).
pub fn map_type_words() -> Vec<String> {
    MapType::all().map(|t| t.word()).collect()
}

fn parse_op(text: &str) -> PResult<Op> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(&first) = words.first() else {
        return err("expected an op");
    };
    let binding: Vec<&str> = BINDING_OPS.iter().map(|(w, _)| *w).collect();
    if words.get(1) == Some(&"=") {
        let handle = parse_handle(first)?;
        let word = words.get(2).copied().unwrap_or("");
        return match BINDING_OPS.iter().find(|(w, _)| *w == word) {
            Some((_, p)) => p(handle, &words[3..]),
            None => err(format!(
                "expected one of {} after `{first} =`, found `{word}`",
                binding.join(", ")
            )),
        };
    }
    if let Some((_, p)) = PLAIN_OPS.iter().find(|(w, _)| *w == first) {
        return p(&words[1..]);
    }
    if binding.contains(&first) {
        return err(format!(
            "`{first}` makes a new handle: write it `h = {first} ...` (e.g. `m0 = create ...`)"
        ));
    }
    let plain: Vec<&str> = PLAIN_OPS.iter().map(|(w, _)| *w).collect();
    err(format!(
        "unknown op `{first}`; expected one of {}, or `h = ` one of {}",
        plain.join(", "),
        binding.join(", ")
    ))
}

/// Exactly one positional argument.
fn one_arg<'a>(usage: &str, args: &[&'a str]) -> PResult<&'a str> {
    match args {
        [a] => Ok(a),
        _ => err(format!("expected `{usage}`, found {} arguments", args.len())),
    }
}

fn no_args(op: &str, args: &[&str]) -> PResult<()> {
    match args {
        [] => Ok(()),
        _ => err(format!("`{op}` takes no arguments, found `{}`", args.join(" "))),
    }
}

/// An optional bare word (`inherit`): present, absent, or an error for anything else.
fn bare_option(op: &str, word: &str, args: &[&str]) -> PResult<bool> {
    match args {
        [] => Ok(false),
        [w] if *w == word => Ok(true),
        _ => err(format!("`{op}` takes only `{word}`, found `{}`", args.join(" "))),
    }
}

fn want(handle: Handle, k: Kind) -> PResult<()> {
    if handle.kind == k {
        return Ok(());
    }
    err(format!(
        "`{handle}` names a {:?}; this op creates a {k:?} (handle `{}{}`)",
        handle.kind,
        k.letter(),
        handle.n
    ))
}

/// `<map> name=value...` with only the `known` names.
fn map_and_fields<'a>(op: &str, args: &[&'a str], known: &[&str]) -> PResult<(FdRef, KeyValues<'a>)> {
    let Some((target, rest)) = args.split_first() else {
        return err(format!("`{op}` needs a map"));
    };
    let kv = KeyValues::new(rest)?;
    kv.no_extra(known)?;
    Ok((parse_ref(target)?, kv))
}

fn p_update(a: &[&str]) -> PResult<Op> {
    let (map, kv) = map_and_fields("update", a, &["key", "value", "flags"])?;
    let value = match kv.get("value")? {
        v if v.starts_with("fd:") => Value::Fd(parse_ref(&v[3..])?),
        v if v.starts_with("id:") => Value::Id(parse_handle(&v[3..])?),
        _ => Value::Bytes(kv.bytes("value")?),
    };
    Ok(Op::Update {
        map,
        key: kv.bytes("key")?,
        value,
        flags: kv.elem_flags()?,
    })
}

/// `prog lookup|update|delete <map> key=.. [value=..] [flags=..]`.
fn p_prog(a: &[&str]) -> PResult<Op> {
    let usage = "expected `prog lookup|update|delete <map> key=<hex> [value=<hex>] [flags=..]`";
    let Some((word, rest)) = a.split_first() else {
        return err(usage);
    };
    let Some(call) = crate::op::Call::ALL.into_iter().find(|c| c.word() == *word) else {
        return err(format!("{usage}, found `prog {}`", a.join(" ")));
    };
    let known: &[&str] = match call {
        crate::op::Call::Update => &["key", "value", "flags"],
        _ => &["key"],
    };
    let (map, kv) = map_and_fields("prog", rest, known)?;
    let FdRef::Handle(map) = map else {
        return err("a program takes the map by a handle (`prog lookup m0 ...`)");
    };
    Ok(Op::ProgElem {
        call,
        map,
        key: kv.bytes("key")?,
        value: match call {
            crate::op::Call::Update => kv.bytes("value")?,
            _ => Vec::new(),
        },
        flags: kv.elem_flags()?,
    })
}

fn p_lookup(a: &[&str]) -> PResult<Op> {
    let (map, kv) = map_and_fields("lookup", a, &["key", "value", "flags"])?;
    Ok(Op::Lookup {
        map,
        key: kv.bytes("key")?,
        // A bloom filter's peek: the value it asks about.
        input: kv.opt("value").map_or(Ok(Vec::new()), parse_hex)?,
        flags: kv.elem_flags()?,
    })
}

fn p_delete(a: &[&str]) -> PResult<Op> {
    let (map, kv) = map_and_fields("delete", a, &["key"])?;
    Ok(Op::Delete {
        map,
        key: kv.bytes("key")?,
    })
}

fn p_next_key(a: &[&str]) -> PResult<Op> {
    let (map, kv) = map_and_fields("next_key", a, &["key"])?;
    let key = match kv.get("key")? {
        "NULL" => None,
        k => Some(parse_hex(k)?),
    };
    Ok(Op::GetNextKey { map, key })
}

fn p_lookup_and_delete(a: &[&str]) -> PResult<Op> {
    let (map, kv) = map_and_fields("lookup_and_delete", a, &["key", "flags"])?;
    Ok(Op::LookupAndDelete {
        map,
        key: kv.bytes("key")?,
        flags: kv.elem_flags()?,
    })
}

fn p_lookup_batch(word: &str, delete: bool, a: &[&str]) -> PResult<Op> {
    let (map, kv) = map_and_fields(word, a, &["in", "count", "elem_flags", "flags"])?;
    let cursor = match kv.get("in")? {
        "NULL" => None,
        c => Some(parse_hex(c)?),
    };
    Ok(Op::LookupBatch {
        map,
        delete,
        cursor,
        count: kv.u32("count")?,
        elem_flags: kv.opt("elem_flags").map_or(Ok(ANY), parse_elem_flags)?,
        flags: kv.opt("flags").map_or(Ok(ANY), parse_elem_flags)?,
    })
}

/// `count` records of comma-separated hex (`None`: `count` empty ones, a keyless map's).
fn parse_records(field: &str, list: Option<&str>, count: u32) -> PResult<Vec<Vec<u8>>> {
    let v: Vec<Vec<u8>> = match list {
        None => vec![Vec::new(); count as usize],
        Some("") => Vec::new(),
        Some(l) => l.split(',').map(parse_hex).collect::<PResult<_>>()?,
    };
    if v.len() != count as usize {
        return err(format!("`count={count}` but `{field}=` lists {}", v.len()));
    }
    Ok(v)
}

fn p_write_batch(word: &str, update: bool, a: &[&str]) -> PResult<Op> {
    let known: &[&str] = match update {
        true => &["count", "keys", "values", "elem_flags", "flags"],
        false => &["count", "keys", "elem_flags", "flags"],
    };
    let (map, kv) = map_and_fields(word, a, known)?;
    let count = kv.u32("count")?;
    let keys = parse_records("keys", kv.opt("keys"), count)?;
    let elem_flags = kv.opt("elem_flags").map_or(Ok(ANY), parse_elem_flags)?;
    let flags = kv.opt("flags").map_or(Ok(ANY), parse_elem_flags)?;
    if !update {
        return Ok(Op::DeleteBatch {
            map,
            keys,
            elem_flags,
            flags,
        });
    }
    let values = match kv.opt("values") {
        Some(l) if l.starts_with("fd:") => l
            .split(',')
            .map(|w| match w.strip_prefix("fd:") {
                Some(r) => parse_ref(r).map(Value::Fd),
                None => err(format!("`values=` mixes fds and bytes: `{w}`")),
            })
            .collect::<PResult<Vec<_>>>()?,
        // Ids and bytes may mix: a map holding ids holds zeros too.
        Some(l) if l.split(',').any(|w| w.starts_with("id:")) => {
            let v = l
                .split(',')
                .map(|w| match w.strip_prefix("id:") {
                    Some(h) => parse_handle(h).map(Value::Id),
                    None => parse_hex(w).map(Value::Bytes),
                })
                .collect::<PResult<Vec<_>>>()?;
            if v.len() != count as usize {
                return err(format!("`count={count}` but `values=` lists {}", v.len()));
            }
            v
        }
        l => parse_records("values", l, count)?
            .into_iter()
            .map(Value::Bytes)
            .collect(),
    };
    if values.len() != keys.len() {
        return err(format!("`count={count}` but `values=` lists {}", values.len()));
    }
    Ok(Op::UpdateBatch {
        map,
        keys,
        values,
        elem_flags,
        flags,
    })
}

fn p_rlimit(a: &[&str]) -> PResult<Op> {
    let usage = || {
        let words: Vec<&str> = Resource::ALL.iter().map(|r| r.word()).collect();
        ParseError(format!("expected `rlimit {} soft=N hard=N`", words.join("|")))
    };
    let (w, rest) = a.split_first().ok_or_else(usage)?;
    let res = Resource::ALL
        .into_iter()
        .find(|r| r.word() == *w)
        .ok_or_else(usage)?;
    let kv = KeyValues::new(rest)?;
    kv.no_extra(&["soft", "hard"])?;
    Ok(Op::SetRlimit {
        res,
        soft: parse_limit(kv.get("soft")?)?,
        hard: parse_limit(kv.get("hard")?)?,
    })
}

fn p_load(handle: Handle, a: &[&str]) -> PResult<Op> {
    want(handle, Kind::Prog)?;
    let types: Vec<&str> = ProgType::ALL.iter().map(|t| t.word()).collect();
    let Some((t, rest)) = a.split_first() else {
        return err(format!(
            "expected a program type after `load` ({})",
            types.join(", ")
        ));
    };
    let prog_type = ProgType::from_word(t)
        .ok_or_else(|| ParseError(format!("unknown program type `{t}` ({})", types.join(", "))))?;
    let (bare, fields): (Vec<&str>, Vec<&str>) = rest.iter().partition(|w| !w.contains('='));
    let xdp_frags = bare_option("load", "frags", &bare)?;
    let kv = KeyValues::new(&fields)?;
    kv.no_extra(&["uses", "attach"])?;
    let uses = match kv.opt("uses") {
        Some(list) => list.split(',').map(parse_ref).collect::<PResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    let attach = kv.opt("attach").map_or(Ok(0), |a| parse_u32("attach", a))?;
    Ok(Op::LoadProg {
        handle,
        spec: ProgSpec {
            prog_type,
            xdp_frags,
            attach,
        },
        uses,
    })
}

fn p_fd_by_id(handle: Handle, a: &[&str]) -> PResult<Op> {
    let target = parse_handle(a.first().copied().unwrap_or(""))?;
    if target.kind != handle.kind {
        return err(format!(
            "`{handle} = fd_by_id {target}`: both handles must be of one kind"
        ));
    }
    let kv = KeyValues::new(&a[1..])?;
    kv.no_extra(&["flags"])?;
    let open_flags = kv.opt("flags").map_or(Ok(0), parse_map_flags)?;
    Ok(Op::FdById {
        handle,
        target,
        open_flags,
    })
}

fn p_get_pinned(handle: Handle, a: &[&str]) -> PResult<Op> {
    let target = parse_handle(a.first().copied().unwrap_or(""))?;
    let kv = KeyValues::new(&a[1..])?;
    kv.no_extra(&["flags"])?;
    let file_flags = kv.opt("flags").map_or(Ok(0), parse_map_flags)?;
    Ok(Op::GetPinned {
        handle,
        target,
        file_flags,
    })
}

fn p_create(handle: Handle, words: &[&str]) -> PResult<Op> {
    want(handle, Kind::Map)?;
    let Some(t) = words.first() else {
        return err("expected a map type after `create`");
    };
    let map_type = MapType::from_word(t).ok_or_else(|| {
        ParseError(format!(
            "unknown map type `{t}` ({}, or typeN for a raw number)",
            map_type_words().join(", ")
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
        spec.numa_node = parse_numa(n)?;
    }
    if let Some(n) = kv.opt("name") {
        spec.name = unquote(n)?;
    }
    if let Some(x) = kv.opt("extra") {
        spec.map_extra = parse_u64(x)?;
    }
    if let Some(i) = kv.opt("inner") {
        spec.inner = Some(parse_ref(i)?);
    }
    Ok(Op::CreateMap { handle, spec })
}

/// NUMA_NO_NODE (`u32::MAX` in bpf_attr's u32 `numa_node`) is written `-1`.
fn numa_text(n: u32) -> String {
    if n == u32::MAX {
        "-1".into()
    } else {
        n.to_string()
    }
}

fn parse_numa(s: &str) -> PResult<u32> {
    if s == "-1" {
        return Ok(u32::MAX);
    }
    parse_u32("numa", s)
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

/// A handle as scripts write it: `m0`, `p1`, `c2`, `e3` (digits only: no sign).
pub fn parse_handle(w: &str) -> PResult<Handle> {
    let mut chars = w.chars();
    let kind = chars.next().and_then(Kind::from_letter);
    let digits = chars.as_str();
    let n = Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok());
    match (kind, n) {
        (Some(kind), Some(n)) => Ok(Handle { kind, n }),
        _ => err(format!(
            "expected a handle like `m0`, `p1`, `c2` or `e3`, found `{w}`"
        )),
    }
}

fn parse_ref(w: &str) -> PResult<FdRef> {
    if let Some(b) = w.strip_prefix("badfd:") {
        return BadFd::from_word(b).map(FdRef::Bad).ok_or_else(|| {
            let words: Vec<&str> = BadFd::ALL.iter().map(|b| b.word()).collect();
            ParseError(format!("unknown bad fd `{b}` ({})", words.join(", ")))
        });
    }
    parse_handle(w).map(FdRef::Handle)
}

/// A value in an outcome: hex, or `id:m1` (`id:?`) for an id the backend resolved.
pub fn parse_value(s: &str) -> PResult<Vec<u8>> {
    match s.strip_prefix("id:") {
        Some("?") => Ok(crate::outcome::id_bytes(None)),
        Some(h) => Ok(crate::outcome::id_bytes(Some(parse_handle(h)?))),
        None => parse_hex(s),
    }
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

/// A u64 in decimal or `0x` hex, as the printers write every number; a sign is an error.
fn parse_u64(s: &str) -> PResult<u64> {
    let (digits, radix) = match s.strip_prefix("0x") {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return err(format!("expected a number (decimal or 0x hex), found `{s}`"));
    }
    u64::from_str_radix(digits, radix).map_err(|_| ParseError(format!("`{s}` does not fit in 64 bits")))
}

fn parse_u32(field: &str, s: &str) -> PResult<u32> {
    u32::try_from(parse_u64(s)?).map_err(|_| ParseError(format!("`{field}={s}` does not fit in 32 bits")))
}

/// `A|B|0x100`: names from MAP_FLAG_NAMES or numbers; the field is a u32 in bpf_attr.
fn parse_map_flags(s: &str) -> PResult<u32> {
    let mut v = 0u32;
    for part in s.split('|') {
        v |= match MAP_FLAG_NAMES.iter().find(|(_, n)| *n == part) {
            Some((bit, _)) => *bit,
            None if part.starts_with(|c: char| c.is_ascii_digit()) => parse_u32("flags", part)?,
            None => {
                let names: Vec<&str> = MAP_FLAG_NAMES.iter().map(|(_, n)| *n).collect();
                return err(format!(
                    "unknown map flag `{part}` ({}, or a number)",
                    names.join(", ")
                ));
            }
        };
    }
    Ok(v)
}

/// `NOEXIST|F_LOCK|0x8`: the element commands' u64 `flags`.
fn parse_elem_flags(s: &str) -> PResult<u64> {
    let mut v = 0u64;
    for part in s.split('|') {
        v |= match part {
            "ANY" => ANY,
            "NOEXIST" => NOEXIST,
            "EXIST" => EXIST,
            "F_LOCK" => F_LOCK,
            _ if part.starts_with(|c: char| c.is_ascii_digit()) => parse_u64(part)?,
            _ => {
                return err(format!(
                    "unknown element flag `{part}` (ANY, NOEXIST, EXIST, F_LOCK, or a number)"
                ))
            }
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
    fn new(words: &[&'a str]) -> PResult<Self> {
        let mut v: Vec<(&str, &str)> = Vec::new();
        for w in words {
            match w.split_once('=') {
                Some((k, _)) if v.iter().any(|(n, _)| *n == k) => return err(format!("`{k}=` given twice")),
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
    fn u32(&self, k: &str) -> PResult<u32> {
        parse_u32(k, self.get(k)?)
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
    if first == "any" && words.next().is_none() {
        return Ok(Expect::Any);
    }
    if first == "lost" {
        let why = s.trim_start().strip_prefix("lost").unwrap_or("").trim();
        return Ok(Expect::Exactly(Ok(Ret::Lost(why.to_string()))));
    }
    let errno = match first {
        "ok" => None,
        _ => Some(Errno::parse(first).ok_or_else(|| {
            ParseError(format!(
                "expected `ok` or an errno name like ENOENT, found `{first}`"
            ))
        })?),
    };
    // A batch's answer: `ok count=2 keys=.. values=.. out=..`, `ENOENT count=1 ...`.
    let rest: Vec<&str> = s.split_whitespace().skip(1).collect();
    if (errno.is_some() && !rest.is_empty()) || (rest.len() > 1 && rest[0].starts_with("count=")) {
        return Ok(Expect::Exactly(parse_batch(errno, &rest)?));
    }
    if let Some(e) = errno {
        return Ok(Expect::Exactly(Err(e)));
    }
    let Some(payload) = words.next() else {
        return Ok(Expect::AnyOk);
    };
    let ret = match payload.split_once('=') {
        Some(("value", h)) => Ret::Value(parse_value(h)?),
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
            let rest: Vec<&str> = words.by_ref().collect();
            if rest.is_empty() {
                Ret::Id(id)
            } else {
                Ret::Info(parse_info(id, &rest)?)
            }
        }
        Some(("count", n)) => Ret::Count(n.parse().map_err(|_| ParseError(format!("bad count `{n}`")))?),
        Some(("entries", n)) => {
            let n = n
                .parse()
                .map_err(|_| ParseError(format!("bad entry count `{n}`")))?;
            no_more_words(&mut words)?;
            return Ok(Expect::Entries(n));
        }
        Some(("slots", n)) => {
            let n = n
                .parse()
                .map_err(|_| ParseError(format!("bad slot count `{n}`")))?;
            no_more_words(&mut words)?;
            return Ok(Expect::Slots(n));
        }
        None if payload == "alive" => Ret::Alive(true),
        None if payload == "gone" => Ret::Alive(false),
        _ => return err(format!("unknown outcome payload `{payload}`")),
    };
    no_more_words(&mut words)?;
    Ok(Expect::Exactly(Ok(ret)))
}

/// The fields of a batch's answer after its `ok` or errno: `count=` first, then `keys=`,
/// `values=` and `out=` as written.
fn parse_batch(errno: Option<Errno>, words: &[&str]) -> PResult<crate::Outcome> {
    if !words.first().is_some_and(|w| w.starts_with("count=")) {
        return err(format!(
            "expected `count=N` after `{}`",
            errno.map_or("ok".into(), |e| e.to_string())
        ));
    }
    let kv = KeyValues::new(words)?;
    kv.no_extra(&["count", "keys", "values", "ids", "out"])?;
    let list = |k: &str, parse: fn(&str) -> PResult<Vec<u8>>| match kv.opt(k) {
        None | Some("") => Ok(Vec::new()),
        Some(l) => l.split(',').map(parse).collect::<PResult<Vec<_>>>(),
    };
    let b = crate::outcome::Batch {
        err: errno,
        count: kv.u32("count")?,
        keys: list("keys", parse_hex)?,
        values: list("values", parse_value)?,
        out: kv.opt("out").map(parse_hex).transpose()?,
        ids: match kv.opt("ids") {
            None | Some("") => Vec::new(),
            Some(l) => l
                .split(',')
                .map(|w| match w {
                    "?" => Ok(None),
                    w => parse_handle(w).map(Some),
                })
                .collect::<PResult<Vec<_>>>()?,
        },
    };
    Ok(match b.err {
        // Written as a batch, read as one (`ok count=N` alone is a `Count`).
        Some(_) => Ok(Ret::Batch(b)),
        None => b.ret(),
    })
}

/// An outcome is one or two words: anything after them is a mistake, not a comment.
fn no_more_words<'a>(words: &mut impl Iterator<Item = &'a str>) -> PResult<()> {
    match words.next() {
        Some(w) => err(format!("unexpected `{w}` after the outcome")),
        None => Ok(()),
    }
}

/// Strategies for any op and any outcome the printers can be handed, extremes and odd names
/// included: the round-trip tests here and in the harness (report lines, case files) use them.
#[cfg(feature = "proptest")]
pub mod arb {
    use crate::errno::Errno;
    use crate::op::{BadFd, FdRef, Handle, Kind, MapSpec, MapType, Op, ProgSpec, ProgType, Resource, Value};
    use crate::outcome::{MapState, Outcome, Ret, Slot, Slots};
    use proptest::prelude::*;

    /// A u32 biased to its edges.
    pub fn num32() -> impl Strategy<Value = u32> + Clone {
        prop_oneof![Just(0), Just(u32::MAX), Just(1 << 31), 0..70u32, any::<u32>()]
    }

    /// A u64 biased to its edges (flags: every bit, one bit, the sign bit).
    pub fn num64() -> impl Strategy<Value = u64> + Clone {
        prop_oneof![
            Just(0),
            Just(u64::MAX),
            Just(1 << 63),
            (0..64u32).prop_map(|b| 1u64 << b),
            0..16u64,
            any::<u64>()
        ]
    }

    fn handle_of(kind: Kind) -> impl Strategy<Value = Handle> + Clone {
        num32().prop_map(move |n| Handle { kind, n })
    }

    /// A handle of any kind.
    pub fn handle() -> impl Strategy<Value = Handle> + Clone {
        (
            prop::sample::select(vec![Kind::Map, Kind::Prog, Kind::Cgroup, Kind::Perf]),
            num32(),
        )
            .prop_map(|(kind, n)| Handle { kind, n })
    }

    fn fd_ref() -> impl Strategy<Value = FdRef> + Clone {
        prop_oneof![
            handle().prop_map(FdRef::Handle),
            prop::sample::select(BadFd::ALL.to_vec()).prop_map(FdRef::Bad)
        ]
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> + Clone {
        prop::collection::vec(any::<u8>(), 0..24)
    }

    fn nonempty() -> impl Strategy<Value = Vec<u8>> + Clone {
        prop::collection::vec(any::<u8>(), 1..24)
    }

    /// Name bytes: anything, with the characters the textual form treats specially made likely.
    pub fn name() -> impl Strategy<Value = Vec<u8>> + Clone {
        let special = b"\"\\=>#|,: \t\n\r\x00\x7f\x80\xe9\xff".to_vec();
        prop::collection::vec(prop_oneof![any::<u8>(), prop::sample::select(special)], 0..20)
    }

    fn map_type() -> impl Strategy<Value = MapType> + Clone {
        let named: Vec<MapType> = MapType::MODELLED
            .iter()
            .chain(&MapType::HANDLE_MAPS)
            .copied()
            .collect();
        prop_oneof![prop::sample::select(named), num32().prop_map(MapType::Other)]
    }

    fn spec() -> impl Strategy<Value = MapSpec> {
        (
            map_type(),
            (num32(), num32(), num32(), num32(), num32()),
            name(),
            num64(),
            prop::option::of(fd_ref()),
        )
            .prop_map(|(t, (k, v, e, flags, numa), name, extra, inner)| {
                let mut s = MapSpec::new(t, k, v, e);
                s.map_flags = flags;
                s.numa_node = numa;
                s.name = name;
                s.map_extra = extra;
                s.inner = inner;
                s
            })
    }

    /// Any op, every variant, any field values the types allow (fd_by_id binds a handle of
    /// its target's kind: the parser refuses anything else).
    pub fn op() -> BoxedStrategy<Op> {
        let m = || handle_of(Kind::Map);
        let value = prop_oneof![
            bytes().prop_map(Value::Bytes),
            fd_ref().prop_map(Value::Fd),
            handle().prop_map(Value::Id)
        ];
        let prog = (
            prop::sample::select(ProgType::ALL.to_vec()),
            any::<bool>(),
            num32(),
        )
            .prop_map(|(prog_type, xdp_frags, attach)| ProgSpec {
                prog_type,
                xdp_frags,
                attach,
            });
        let res = prop::sample::select(Resource::ALL.to_vec());
        prop_oneof![
            (m(), spec()).prop_map(|(handle, spec)| Op::CreateMap { handle, spec }),
            (fd_ref(), bytes(), value, num64()).prop_map(|(map, key, value, flags)| Op::Update {
                map,
                key,
                value,
                flags
            }),
            (fd_ref(), bytes(), bytes(), num64()).prop_map(|(map, key, input, flags)| Op::Lookup {
                map,
                key,
                input,
                flags
            }),
            (fd_ref(), bytes()).prop_map(|(map, key)| Op::Delete { map, key }),
            (fd_ref(), prop::option::of(bytes())).prop_map(|(map, key)| Op::GetNextKey { map, key }),
            (fd_ref(), bytes(), num64()).prop_map(|(map, key, flags)| Op::LookupAndDelete {
                map,
                key,
                flags
            }),
            (
                fd_ref(),
                any::<bool>(),
                prop::option::of(bytes()),
                num32(),
                num64(),
                num64()
            )
                .prop_map(
                    |(map, delete, cursor, count, elem_flags, flags)| Op::LookupBatch {
                        map,
                        delete,
                        cursor,
                        count,
                        elem_flags,
                        flags
                    }
                ),
            (
                fd_ref(),
                prop::collection::vec((bytes(), bytes(), fd_ref(), prop::option::of(handle())), 0..4),
                any::<bool>(),
                num64(),
                num64()
            )
                .prop_map(|(map, elems, fds, elem_flags, flags)| Op::UpdateBatch {
                    map,
                    keys: elems.iter().map(|e| e.0.clone()).collect(),
                    // `values=` is all fds, or bytes and ids.
                    values: elems
                        .iter()
                        .map(|e| match (fds, e.3) {
                            (true, _) => Value::Fd(e.2),
                            (false, Some(h)) => Value::Id(h),
                            (false, None) => Value::Bytes(e.1.clone()),
                        })
                        .collect(),
                    elem_flags,
                    flags
                }),
            (fd_ref(), prop::collection::vec(bytes(), 0..4), num64(), num64()).prop_map(
                |(map, keys, elem_flags, flags)| Op::DeleteBatch {
                    map,
                    keys,
                    elem_flags,
                    flags
                }
            ),
            fd_ref().prop_map(|map| Op::Freeze { map }),
            handle().prop_map(|handle| Op::Close { handle }),
            fd_ref().prop_map(|map| Op::Check { map }),
            fd_ref().prop_map(|map| Op::Info { map }),
            (handle_of(Kind::Prog), prog, prop::collection::vec(fd_ref(), 0..4))
                .prop_map(|(handle, spec, uses)| Op::LoadProg { handle, spec, uses }),
            (handle(), num32(), num32()).prop_map(|(target, n, open_flags)| Op::FdById {
                handle: Handle { kind: target.kind, n },
                target,
                open_flags
            }),
            handle().prop_map(|target| Op::Alive { target }),
            handle().prop_map(|target| Op::Settle { target }),
            handle_of(Kind::Cgroup).prop_map(|handle| Op::MakeCgroup { handle }),
            (handle_of(Kind::Cgroup), handle(), any::<bool>())
                .prop_map(|(handle, target, path)| Op::OpenCgroup { handle, target, path }),
            handle().prop_map(|target| Op::Rmdir { target }),
            (handle_of(Kind::Perf), any::<bool>())
                .prop_map(|(handle, inherit)| Op::OpenPerf { handle, inherit }),
            Just(Op::Dying),
            num32().prop_map(|max| Op::SettleDying { max }),
            handle().prop_map(|target| Op::Pin { target }),
            handle().prop_map(|target| Op::Unpin { target }),
            (handle(), handle(), num32()).prop_map(|(handle, target, file_flags)| Op::GetPinned {
                handle,
                target,
                file_flags
            }),
            Just(Op::FdTable),
            (res, num64(), num64()).prop_map(|(res, soft, hard)| Op::SetRlimit { res, soft, hard }),
            Just(Op::DropCap),
            num32().prop_map(|cpu| Op::Cpu { cpu }),
            (handle(), bytes(), bytes(), num64()).prop_map(|(map, key, value, flags)| Op::ProgElem {
                call: crate::op::Call::Update,
                map,
                key,
                value,
                flags
            }),
            (handle(), bytes()).prop_map(|(map, key)| Op::ProgElem {
                call: crate::op::Call::Lookup,
                map,
                key,
                value: Vec::new(),
                flags: 0
            }),
            (handle(), handle()).prop_map(|(from, to)| Op::IdGap { from, to }),
            (handle(), num32(), num32()).prop_map(|(map, n, from)| Op::Fill { map, n, from }),
        ]
        .boxed()
    }

    /// An errno: every named one, unnamed numbers (`E524` is named, `E999` is not), extremes.
    pub fn errno() -> impl Strategy<Value = Errno> + Clone {
        prop_oneof![
            (1..140i32).prop_map(Errno::raw),
            prop::sample::select(vec![512, 524, 999, 4242, i32::MAX]).prop_map(Errno::raw),
            (1..=i32::MAX).prop_map(Errno::raw),
        ]
    }

    /// A reason a case process gives for a lost outcome: one line of printable text (a
    /// reason is the rest of the line after `lost`, so it cannot hold a newline or ` #`).
    fn reason() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select((b' '..=b'~').filter(|c| *c != b'#').collect::<Vec<u8>>()),
            1..30,
        )
        .prop_map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .prop_filter("a reason has words", |s| !s.is_empty())
    }

    /// A map's info, with the numbers at their edges and any name.
    fn info() -> impl Strategy<Value = crate::outcome::MapInfo> {
        (
            prop::option::of(handle()),
            map_type(),
            (num32(), num32(), num32(), num32()),
            name(),
            num64(),
        )
            .prop_map(
                |(id, map_type, (key_size, value_size, max_entries, map_flags), name, map_extra)| {
                    crate::outcome::MapInfo {
                        id,
                        map_type,
                        key_size,
                        value_size,
                        max_entries,
                        map_flags,
                        name,
                        map_extra,
                    }
                },
            )
    }

    /// Any outcome, every `Ret` variant.
    pub fn outcome() -> BoxedStrategy<Outcome> {
        let state = (0..4usize, 0..6usize).prop_map(|(k, n)| MapState {
            key_size: k.max(1),
            value_size: 1,
            keys: vec![0; k.max(1) * n],
            values: vec![0; n],
            walk: None,
        });
        let slots = prop::collection::vec((bytes(), Just(Slot::Empty)), 0..4).prop_map(|slots| Slots {
            walk: slots.iter().map(|(k, _)| k.clone()).collect(),
            slots,
            walk_ok: true,
        });
        prop_oneof![
            Just(Ok(Ret::Unit)),
            handle().prop_map(|h| Ok(Ret::Fd(h))),
            (handle(), num32()).prop_map(|(h, n)| Ok(Ret::FdAt(h, n))),
            reason().prop_map(|r| Ok(Ret::Lost(r))),
            bytes().prop_map(|b| Ok(Ret::Value(b))),
            prop::option::of(handle()).prop_map(|h| Ok(Ret::Value(crate::outcome::id_bytes(h)))),
            bytes().prop_map(|b| Ok(Ret::Key(b))),
            state.prop_map(|s| Ok(Ret::State(s))),
            prop::option::of(handle()).prop_map(|h| Ok(Ret::Id(h))),
            any::<bool>().prop_map(|a| Ok(Ret::Alive(a))),
            num32().prop_map(|n| Ok(Ret::Count(n))),
            slots.prop_map(|s| Ok(Ret::Slots(s))),
            info().prop_map(|i| Ok(Ret::Info(i))),
            errno().prop_map(Err),
            // Records of at least one byte: a list of one empty record prints as none.
            (
                prop::option::of(errno()),
                num32(),
                prop::collection::vec((nonempty(), nonempty(), prop::option::of(handle())), 0..3),
                prop::option::of(nonempty()),
                any::<bool>()
            )
                .prop_map(|(err, count, recs, out, ids)| crate::outcome::Batch {
                    err,
                    count,
                    keys: recs.iter().map(|r| r.0.clone()).collect(),
                    // Some values ids read back from a map holding ids.
                    values: recs
                        .iter()
                        .filter(|_| !ids)
                        .map(|r| match r.1[0] % 2 {
                            1 => crate::outcome::id_bytes(r.2),
                            _ => r.1.clone(),
                        })
                        .collect(),
                    out,
                    ids: recs.iter().filter(|_| ids).map(|r| r.2).collect(),
                }
                .ret()),
        ]
        .boxed()
    }
}

/// The rest of `ok id=m0 type=hash key=4 value=8 entries=16 flags=0x0 name="abc" [extra=N]`.
fn parse_info(id: Option<Handle>, words: &[&str]) -> PResult<MapInfo> {
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
        map_extra: kv.opt("extra").map_or(Ok(0), parse_u64)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element flags print by name (the mode and F_LOCK), others as hex; a parse error
    /// shows its message; "0x" alone is not a number.
    #[test]
    fn flags_print_by_name_and_errors_say_why() {
        let (op, _) = parse_line("update m0 key=00000000 value=00 flags=EXIST|F_LOCK").unwrap();
        assert_eq!(
            op.to_string().trim(),
            "update m0 key=00000000 value=00 flags=EXIST|F_LOCK"
        );
        // ANY is a name too (0), alone or joined.
        for line in [
            "update m0 key=00 value=00 flags=ANY",
            "update m0 key=00 value=00 flags=ANY|ANY",
        ] {
            let (op, _) = parse_line(line).unwrap();
            assert!(matches!(op, Op::Update { flags: 0, .. }), "{line}: {op}");
        }
        // `ok count=N` alone is a count, and says so when N is no number.
        let e = parse_line("update_batch m0 count=0 => ok count=zz").unwrap_err();
        assert!(e.0.contains("bad count `zz`"), "{e}");
        assert_eq!(ParseError("bad thing".into()).to_string(), "bad thing");
        let e = parse_u64("0x").unwrap_err().to_string();
        assert!(e.contains("expected a number"), "{e}");
    }
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
            Op::Cpu { cpu: 1 },
            Op::ProgElem {
                call: crate::op::Call::Update,
                map: Handle::map(0),
                key: vec![1, 0, 0, 0],
                value: vec![2; 8],
                flags: NOEXIST | F_LOCK,
            },
            Op::ProgElem {
                call: crate::op::Call::Delete,
                map: Handle::map(0),
                key: vec![1, 0, 0, 0],
                value: Vec::new(),
                flags: 0,
            },
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
                input: vec![],
                flags: F_LOCK,
            },
            Op::Lookup {
                map: FdRef::Handle(Handle::map(2)),
                key: vec![],
                input: vec![1, 2, 3],
                flags: 0,
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
            Op::Delete {
                map: FdRef::Handle(Handle::map(0)),
                key: vec![0; 4],
            },
            Op::Freeze {
                map: FdRef::Handle(Handle::map(0)),
            },
            Op::Check {
                map: FdRef::Handle(Handle::map(0)),
            },
            Op::Info {
                map: FdRef::Handle(Handle::map(4)),
            },
            Op::Info {
                map: FdRef::Bad(BadFd::NeverOpened),
            },
            Op::Fill {
                map: Handle::map(2),
                n: 1_000_000,
                from: 0,
            },
            Op::Fill {
                map: Handle::map(2),
                n: 64,
                from: 513,
            },
            Op::LookupBatch {
                map: FdRef::Handle(Handle::map(1)),
                delete: false,
                cursor: None,
                count: 3,
                elem_flags: 0,
                flags: 0,
            },
            Op::LookupBatch {
                map: FdRef::Handle(Handle::map(1)),
                delete: true,
                cursor: Some(vec![4, 0, 0, 0]),
                count: 0,
                elem_flags: F_LOCK,
                flags: 1,
            },
            Op::UpdateBatch {
                map: FdRef::Handle(Handle::map(1)),
                keys: vec![vec![0; 4], vec![1, 0, 0, 0]],
                values: vec![Value::Bytes(vec![7; 8]), Value::Bytes(vec![8; 8])],
                elem_flags: EXIST,
                flags: 0,
            },
            Op::UpdateBatch {
                map: FdRef::Handle(Handle::map(1)),
                keys: vec![vec![0; 4]],
                values: vec![Value::Fd(FdRef::Handle(Handle::map(0)))],
                elem_flags: 0,
                flags: 0,
            },
            Op::UpdateBatch {
                map: FdRef::Handle(Handle::map(5)),
                keys: vec![vec![], vec![]],
                values: vec![Value::Bytes(vec![1]), Value::Bytes(vec![2])],
                elem_flags: 0,
                flags: 0,
            },
            Op::DeleteBatch {
                map: FdRef::Bad(BadFd::Closed),
                keys: vec![],
                elem_flags: 0,
                flags: 9,
            },
        ];
        // `prog lookup|update|delete` is one word.
        let word = |k: &'static str| if k.starts_with("prog_") { "prog" } else { k };
        let kinds: std::collections::BTreeSet<&str> = ops.iter().map(|o| word(o.kind())).collect();
        assert_eq!(kinds, op_words().collect(), "one sample per op word");
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
            Err(Errno::raw(4242)),
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
        // A form's words are checked before they are read.
        for line in ["fill m0 x=1", "fill m0 n=1 x=2", "fill m0 x=1 from=2"] {
            let e = parse_line(line).unwrap_err();
            assert!(e.0.contains("expected `fill <map> n=N [from=K]`"), "{line}: {e}");
        }
        let e = parse_line("settle dying count=3").unwrap_err();
        assert!(e.0.contains("expected `settle dying max=N`"), "{e}");
        // An empty write batch lists no values (not one empty value).
        let (op, _) = parse_line("update_batch m0 count=0 keys= values=").unwrap();
        assert!(
            matches!(op, Op::UpdateBatch { ref values, .. } if values.is_empty()),
            "{op}"
        );
        let (_, exp) = parse_line("delete m0 key=00000000 => E524").unwrap();
        assert_eq!(exp, Some(Expect::Exactly(Err(Errno::ENOTSUPP))));
    }

    /// Both error lists come from the tables the parser dispatches on: every word listed
    /// parses, and every op variant's word is listed.
    #[test]
    fn every_listed_word_parses() {
        let e = parse_line("frobnicate m0").unwrap_err();
        for w in op_words() {
            assert!(
                e.0.contains(&format!(" {w},")) || e.0.ends_with(&format!(" {w}")),
                "{w}: {e}"
            );
        }
        for (w, _) in PLAIN_OPS {
            let as_op = parse_line(w).err().map(|e| e.0).unwrap_or_default();
            assert!(
                !as_op.contains("unknown op"),
                "`{w}` is listed but not dispatched: {as_op}"
            );
        }
        for (w, _) in BINDING_OPS {
            let bound = parse_line(&format!("m0 = {w}"))
                .err()
                .map(|e| e.0)
                .unwrap_or_default();
            assert!(
                !bound.contains("expected one of"),
                "`{w}` is listed but not dispatched: {bound}"
            );
        }
        for w in ["fdtable", "rlimit", "dropcap", "idgap", "get_pinned"] {
            assert!(op_words().any(|x| x == w), "{w}");
        }
        let e = parse_line("m0 = create ringbuf key=4 value=4 entries=1").unwrap_err();
        let types = map_type_words();
        assert_eq!(types.len(), 15);
        for w in &types {
            assert!(e.0.contains(w.as_str()), "{w}: {e}");
            let (op, _) = parse_line(&format!("m0 = create {w} key=4 value=4 entries=1")).unwrap();
            let Op::CreateMap { spec, .. } = op else {
                panic!("{w}")
            };
            assert_eq!(&spec.map_type.word(), w);
        }
        assert_eq!(MapType::from_word("type2"), Some(MapType::Other(2)));
        assert_eq!(MapType::from_word("type+2"), None);
        let e = parse_line("m0 = frobnicate").unwrap_err();
        for w in [
            "create",
            "load",
            "fd_by_id",
            "get_pinned",
            "mkcgroup",
            "open_cgroup",
            "perf_event",
        ] {
            assert!(e.0.contains(w), "{w}: {e}");
        }
        let e = parse_line("create array key=4 value=4 entries=1").unwrap_err();
        assert!(e.0.contains("m0 = create"), "{e}");
    }

    /// A u64 field takes any u64 in hex or decimal; a u32 field refuses what does not fit
    /// instead of truncating it.
    #[test]
    fn numbers_take_their_whole_range_and_no_more() {
        let flags = |line: &str| match parse_line(line).map(|(op, _)| op) {
            Ok(Op::Update { flags, .. } | Op::Lookup { flags, .. }) => Ok(flags),
            Ok(op) => panic!("{op:?}"),
            Err(e) => Err(e.0),
        };
        let u = "update m0 key=00 value=00 flags=";
        assert_eq!(flags(&format!("{u}0xffffffffffffffff")), Ok(u64::MAX));
        assert_eq!(flags(&format!("{u}18446744073709551615")), Ok(u64::MAX));
        assert_eq!(flags(&format!("{u}0x3|F_LOCK|0xfffffffffffffff8")), Ok(u64::MAX));
        assert_eq!(flags("lookup m0 key=00 flags=0x8000000000000000"), Ok(1 << 63));
        assert!(flags(&format!("{u}0x10000000000000000"))
            .unwrap_err()
            .contains("64 bits"));
        assert!(flags(&format!("{u}-1"))
            .unwrap_err()
            .contains("unknown element flag"));
        assert!(flags(&format!("{u}+1")).is_err());
        let create = |f: &str| parse_line(&format!("m0 = create hash key=4 value=4 entries=1 {f}"));
        assert!(create("flags=0x100000000").unwrap_err().0.contains("32 bits"));
        assert!(create("flags=4294967296").unwrap_err().0.contains("32 bits"));
        assert!(create("flags=NO_PREALLOC|BOGUS")
            .unwrap_err()
            .0
            .contains("NO_PREALLOC, NO_COMMON_LRU"));
        assert!(create("entries=1").unwrap_err().0.contains("given twice"));
        for (field, v) in [
            ("numa", "2147483648"),
            ("numa", "-1"),
            ("extra", "0xffffffffffffffff"),
        ] {
            let (op, _) = create(&format!("{field}={v}")).unwrap();
            assert_eq!(parse_line(&op.to_string()).unwrap().0, op, "{op}");
        }
        assert!(create("numa=-2").is_err());
        let mut spec = MapSpec::new(MapType::Hash, u32::MAX, u32::MAX, u32::MAX);
        spec.map_flags = u32::MAX;
        spec.numa_node = 1 << 31;
        spec.map_extra = u64::MAX;
        let op = Op::CreateMap {
            handle: Handle::map(u32::MAX),
            spec,
        };
        assert_eq!(parse_line(&op.to_string()).unwrap().0, op, "{op}");
    }

    /// Words the parser used to skip over (or, for a handle, read past) are errors now.
    #[test]
    fn stray_words_are_errors() {
        for line in [
            "close m0 key=00",
            "freeze m0 flags=EXIST",
            "delete m0 key=00 flags=EXIST",
            "check m0 m1",
            "dying now",
            "fdtable 1",
            "idgap m0 m1 m2",
            "dropcap sys_resource sys_admin",
            "e0 = perf_event inheritt",
            "p0 = load xdp frag",
            "p0 = load xdp frags frags",
            "c1 = open_cgroup c0 pth",
            "c0 = mkcgroup c1",
            "close m+1",
            "update m0 key=00 value=00 => ok value=01 junk",
            "update m0 key=00 value=00 => ENOENT junk",
            "update m0 key=00 value=00 => E+5",
            "update m0 key=00 value=00 => E",
            "alive m0 => ok gne",
        ] {
            assert!(parse_line(line).is_err(), "{line}");
        }
    }

    /// The step number a report prints is skipped; nothing else that looks like it is.
    #[test]
    fn report_step_numbers_are_skipped() {
        let (op, e) = parse_line("   3/12: freeze m8                 => EPERM").unwrap();
        assert_eq!(
            op,
            Op::Freeze {
                map: FdRef::Handle(Handle::map(8))
            }
        );
        assert_eq!(e, Some(Expect::Exactly(Err(Errno::EPERM))));
        assert!(parse_line("3/: freeze m8").is_err());
        assert!(parse_line("a/1: freeze m8").is_err());
        let (op, _) = parse_line("update badfd:closed key=00 value=fd:m0").unwrap();
        assert_eq!(op.map_ref(), Some(FdRef::Bad(BadFd::Closed)));
    }

    /// The outcome the printer's text reads back as: a bare `ok` (Unit) is "any success" by
    /// design, and a full state prints only its size, so neither compares more than that.
    #[cfg(feature = "proptest")]
    fn read_back(o: &crate::Outcome) -> Expect {
        match o {
            Ok(Ret::Unit) => Expect::AnyOk,
            Ok(Ret::State(s)) => Expect::Entries(s.len()),
            Ok(Ret::Slots(s)) => Expect::Slots(s.slots.len()),
            _ => Expect::Exactly(o.clone()),
        }
    }

    /// Every op of every variant, with extreme numbers and odd names, prints to a line that
    /// parses back to the same op; the same for every outcome and recorded expectation.
    #[cfg(feature = "proptest")]
    #[test]
    fn anything_printed_parses_back() {
        use crate::outcome::fmt_outcome;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        use std::cell::RefCell;
        let seen = RefCell::new(std::collections::BTreeSet::new());
        // Lost reasons drawn: how many had a letter or digit (the strategy draws printable
        // text, not only the punctuation it must avoid).
        let worded = std::cell::Cell::new(0);
        let mut runner = TestRunner::new(Config {
            cases: 6000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(arb::op(), arb::outcome()), |(op, o)| {
                // `settle dying` is the `settle` word's second form.
                seen.borrow_mut().insert(match op.kind() {
                    "settle_dying" => "settle",
                    k if k.starts_with("prog_") => "prog",
                    k => k,
                });
                if matches!(&o, Ok(Ret::Lost(r)) if r.chars().any(|c| c.is_ascii_alphanumeric())) {
                    worded.set(worded.get() + 1);
                }
                let line = format!("{op} => {}", fmt_outcome(&o));
                let (back, expect) =
                    parse_line(&line).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
                prop_assert_eq!(&back, &op, "{}", line);
                prop_assert_eq!(expect.as_ref(), Some(&read_back(&o)), "{}", line);
                prop_assert!(read_back(&o).matches(&o), "{}", line);
                let recorded = Expect::of(&o);
                let again = parse_expect(&recorded.to_string()).map_err(|e| TestCaseError::fail(e.0))?;
                prop_assert!(again == recorded || again == Expect::AnyOk, "{}", recorded);
                prop_assert!(again.matches(&o), "{}", recorded);
                Ok(())
            })
            .unwrap();
        let all: std::collections::BTreeSet<&str> = op_words().collect();
        assert_eq!(*seen.borrow(), all, "every op variant was generated");
        assert!(worded.get() > 50, "{} lost reasons with words", worded.get());
    }

    /// What the generator produces for each family, handle maps and fdtable cases included,
    /// prints to lines that parse back (the case process reads its ops this way).
    #[cfg(feature = "proptest")]
    #[test]
    fn generated_ops_parse_back() {
        use crate::gen::{set_config, GenConfig, MapMachine};
        use proptest::test_runner::{Config, TestCaseError, TestRunner};
        use proptest_state_machine::ReferenceStateMachine;
        let all: Vec<MapType> = MapType::MODELLED
            .iter()
            .chain(&MapType::HANDLE_MAPS)
            .copied()
            .collect();
        let kinds = std::cell::RefCell::new(std::collections::BTreeSet::new());
        for (types, fdtable, sequential) in [
            (MapType::MODELLED.to_vec(), 0, false),
            (all.clone(), 0, false),
            (all.clone(), 60, false),
            (all, 0, true),
        ] {
            set_config(GenConfig {
                types,
                fd_table_pct: fdtable,
                sequential,
                invalid_create_pct: 40,
                bad_fd_pct: 10,
                ..GenConfig::default()
            });
            let mut runner = TestRunner::new(Config {
                cases: 300,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&MapMachine::sequential_strategy(1..=40usize), |(_, ops, _)| {
                    for op in ops {
                        kinds.borrow_mut().insert(op.kind());
                        let text = op.to_string();
                        match parse_line(&text) {
                            Ok((back, _)) if back == op => {}
                            other => return Err(TestCaseError::fail(format!("{text}: {other:?}"))),
                        }
                    }
                    Ok(())
                })
                .unwrap();
        }
        set_config(GenConfig::default());
        // Every op kind the generator has (lockstep adds `fdtable` itself; `alive` and
        // `settle` need a created object's life, both come up).
        for k in [
            "create",
            "update",
            "lookup",
            "load",
            "rlimit",
            "idgap",
            "dropcap",
            "get_pinned",
            "settle",
        ] {
            assert!(kinds.borrow().contains(k), "{k} not generated: {kinds:?}");
        }
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
