//! What an op returns (`Outcome`) and what the model permits (`Allowed`).
//! The core idea: the model answers with a set of outcomes, usually a single one; every
//! non-singleton set says why the kernel is allowed to choose.

use crate::errno::Errno;
use crate::op::{Handle, MapType};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What the kernel hands back on success.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Ret {
    /// Nothing beyond "0".
    Unit,
    /// A new fd, bound to this handle.
    Fd(Handle),
    /// A new fd and its number, in a case whose fd table is modelled (`Op::FdTable`).
    FdAt(Handle, u32),
    /// The backend process died or hung: no outcome came back (the reason says which). The
    /// model never allows it, so a crashed or hung case is reported like a divergence.
    Lost(String),
    /// Value bytes (lookup, lookup_and_delete).
    Value(Vec<u8>),
    /// A key (get_next_key).
    Key(Vec<u8>),
    /// A full-state observation (`Op::Check`).
    State(MapState),
    /// An object id, resolved to the handle that created the object (`None`: an id that no
    /// object of this case has).
    Id(Option<Handle>),
    /// Liveness: is the object's id still allocated?
    Alive(bool),
    /// A count (`dying`).
    Count(u32),
    /// A full-state observation of an fd-holding map: the GET_NEXT_KEY walk, and per walked
    /// key what LOOKUP said.
    Slots(Slots),
    /// What `BPF_OBJ_GET_INFO_BY_FD` said about a map (`Op::Info`).
    Info(MapInfo),
    /// What a batch command wrote back after its `put_user(0, &count)`: an errno can come
    /// with a count (`Batch::ret` makes a plain success with nothing but a count a `Count`).
    Batch(Batch),
}

/// A batch command's answer once it has written `count`: its errno if it failed (ENOENT at
/// the end of a lookup, an element's errno), the count, the elements a lookup copied out,
/// and `out_batch` if the kernel wrote it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Batch {
    /// The call's errno, `None` for 0.
    pub err: Option<Errno>,
    /// `count` after the call.
    pub count: u32,
    /// The keys a lookup copied out, in the kernel's order.
    pub keys: Vec<Vec<u8>>,
    /// Their values.
    pub values: Vec<Vec<u8>>,
    /// `out_batch`, if written.
    pub out: Option<Vec<u8>>,
    /// The values a lookup of a map-in-map copied out, which are map ids, resolved to the
    /// handles that created the maps (`None`: no object of this case); `values` is empty.
    pub ids: Vec<Option<Handle>>,
}

impl Batch {
    /// The outcome: a success that shows nothing but its count is `Ret::Count` (what `fill`
    /// and the update and delete batches answer), anything else a `Ret::Batch`.
    pub fn ret(self) -> Outcome {
        match self {
            Batch {
                err: None,
                count,
                ref keys,
                ref values,
                out: None,
                ref ids,
            } if keys.is_empty() && values.is_empty() && ids.is_empty() => Ok(Ret::Count(count)),
            b => Ok(Ret::Batch(b)),
        }
    }
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.err {
            Some(e) => write!(f, "{e}")?,
            None => write!(f, "ok")?,
        }
        write!(f, " count={}", self.count)?;
        let list = |v: &[Vec<u8>], text: fn(&[u8]) -> String| {
            v.iter().map(|b| text(b)).collect::<Vec<_>>().join(",")
        };
        if !self.keys.is_empty() {
            write!(f, " keys={}", list(&self.keys, hex))?;
        }
        if !self.values.is_empty() {
            write!(f, " values={}", list(&self.values, value_text))?;
        }
        if !self.ids.is_empty() {
            let ids: Vec<String> = self
                .ids
                .iter()
                .map(|h| h.map_or("?".into(), |h| h.to_string()))
                .collect();
            write!(f, " ids={}", ids.join(","))?;
        }
        if let Some(o) = &self.out {
            write!(f, " out={}", hex(o))?;
        }
        Ok(())
    }
}

/// An object id as the model carries it through code that keeps values as bytes (a
/// HASH_OF_MAPS batch walk, its random-seed rule): the creating handle, never printed.
pub fn id_bytes(h: Option<Handle>) -> Vec<u8> {
    match h {
        Some(h) => format!("id:{h}").into_bytes(),
        None => b"id:?".to_vec(),
    }
}

/// The id an `id_bytes` token names (`Some(None)`: `id:?`); `None` for any other bytes. Bytes
/// can spell a token (`id:?` is 4 bytes, `id:m1` fits a 5-byte value): a token stands for an
/// id only where the model stored one, in a map holding ids (`MapObj::ids`), which the backend
/// reads back the same way; elsewhere it is printed like one and parsed back to the same bytes.
pub fn token_id(v: &[u8]) -> Option<Option<Handle>> {
    let h = match std::str::from_utf8(v).ok()?.strip_prefix("id:")? {
        "?" => None,
        s => Some(crate::text::parse_handle(s).ok()?),
    };
    // Only the spelling `id_bytes` writes (`id:m01` is bytes): printed and parsed back, a
    // value must be the same bytes.
    (id_bytes(h) == v).then_some(h)
}

/// A value as scripts write it: `id:m1` for an id the backend resolved (a map of bytes
/// holding map ids), else hex.
pub fn value_text(v: &[u8]) -> String {
    match token_id(v) {
        Some(Some(h)) => format!("id:{h}"),
        Some(None) => "id:?".into(),
        None => hex(v),
    }
}

/// `MapState` keeps values `value_size` wide: there an id is a 4-byte cell, `ID_CELL` with
/// the creating handle's number in the low half, `UNKNOWN_ID_CELL` for an id of no map of the
/// case (which the model never expects: ids of creators below m65535 only). Only maps holding
/// ids are read this way, on both sides (`cell_if`, the backend's `id_cell`), and those hold
/// ids and zeros only (`MapObj::ids`), so a cell never stands for bytes of their own.
pub const ID_CELL: u32 = 0xe1d0_0000;
/// See `ID_CELL`.
pub const UNKNOWN_ID_CELL: u32 = 0xe1d0_ffff;

/// The state cell of an id (see `ID_CELL`).
pub fn id_cell(h: Option<Handle>) -> [u8; 4] {
    match h {
        Some(h) if h.kind == crate::Kind::Map && h.n < 0xffff => (ID_CELL | h.n).to_le_bytes(),
        _ => UNKNOWN_ID_CELL.to_le_bytes(),
    }
}

/// A state cell in a divergence's explanation: hex, and the id it would stand for in a map
/// holding ids.
fn cell_text(v: &[u8]) -> String {
    let id = match <[u8; 4]>::try_from(v).map(u32::from_le_bytes) {
        Ok(UNKNOWN_ID_CELL) => Some("?".to_string()),
        Ok(c) if c & 0xffff_0000 == ID_CELL => Some(format!("m{}", c & 0xffff)),
        _ => None,
    };
    match id {
        Some(id) => format!("{} (id:{id} in a map holding ids)", hex(v)),
        None => hex(v),
    }
}

/// A stored value of a map holding ids as `MapState` holds it: a token becomes its `id_cell`,
/// a zero stays. Only for maps holding ids: elsewhere bytes that spell a token are bytes
/// (`cell_if`).
pub fn state_cell(v: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match token_id(v) {
        Some(h) => std::borrow::Cow::Owned(id_cell(h).to_vec()),
        None => std::borrow::Cow::Borrowed(v),
    }
}

/// `state_cell` in a map holding ids (`ids`), the bytes as they are elsewhere.
pub fn cell_if(ids: bool, v: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match ids {
        true => state_cell(v),
        false => std::borrow::Cow::Borrowed(v),
    }
}

/// A batch of `id_bytes` values as the kernel backend reports one: resolved ids.
pub fn ids_of(mut b: Batch) -> Batch {
    if let Some(ids) = b.values.iter().map(|v| token_id(v)).collect::<Option<Vec<_>>>() {
        b.ids = ids;
        b.values.clear();
    }
    b
}

/// A GET_NEXT_KEY step: from (`None`: NULL) to (`None`: ENOENT).
pub type Link = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Half-open bucket ranges: where a key may hash to, as far as the kernel has shown.
pub type Ranges = Vec<(u32, u32)>;

/// What a hash batch lookup under a random seed must look like
/// (`__htab_map_lookup_and_delete_batch`, kernel/bpf/hashtab.c): it copies whole buckets from
/// `from` on while they fit in what is left of `max`, and writes the bucket it stopped at
/// (`n_buckets` at the end) to `out_batch`. Which bucket a key is in depends on the map's
/// secret seed: each key carries the buckets it may still be in, narrowed by every answer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BucketRule {
    /// The bucket the cursor names (below `n_buckets`).
    pub from: u32,
    /// `count` asked.
    pub max: u32,
    /// `roundup_pow_of_two(max_entries)`.
    pub n_buckets: u32,
    /// Every present key, sorted, with its value and the buckets it may be in.
    pub present: Vec<(Vec<u8>, Vec<u8>, Ranges)>,
    /// The GET_NEXT_KEY links observed since the order last changed (GET_NEXT_KEY, `check`
    /// walks and earlier batches): a batch walks the same bucket lists.
    pub links: Links,
}

/// Does any of `r` meet `[a, b)`?
pub fn ranges_meet(r: &Ranges, a: u32, b: u32) -> bool {
    r.iter().any(|&(x, y)| x < b && a < y)
}

/// The least bucket at or after `at` in `r` and below `b`.
fn least_from(r: &Ranges, at: u32, b: u32) -> Option<u32> {
    r.iter()
        .filter(|&&(x, y)| y > at && x < b)
        .map(|&(x, _)| x.max(at))
        .min()
}

impl BucketRule {
    /// The answer's cursor, if it wrote a u32 one.
    pub fn to(b: &Batch) -> Option<u32> {
        let o = b.out.as_ref().filter(|o| o.len() == 4)?;
        Some(u32::from_le_bytes([o[0], o[1], o[2], o[3]]))
    }

    /// The GET_NEXT_KEY links a batch answer from bucket `from` shows (`None`: NULL before,
    /// ENOENT after): whole consecutive buckets are consecutive in the walk, a walk from
    /// bucket 0 starts where GET_NEXT_KEY(NULL) does, and ENOENT ends it.
    pub fn links_of(from: u32, b: &Batch) -> Vec<Link> {
        let mut v = Vec::new();
        let end = b.err.is_some_and(|e| e == Errno::ENOENT);
        if from == 0 && (!b.keys.is_empty() || end) {
            v.push((None, b.keys.first().cloned()));
        }
        for w in b.keys.windows(2) {
            v.push((Some(w[0].clone()), Some(w[1].clone())));
        }
        if end && !b.keys.is_empty() {
            v.push((b.keys.last().cloned(), None));
        }
        v
    }

    /// Is `b` an answer the kernel could give, for some placement of the keys in buckets
    /// that agrees with everything shown so far?
    pub fn admits(&self, b: &Batch) -> bool {
        let Some(to) = Self::to(b) else { return false };
        let n = b.count as usize;
        let vals = if b.ids.is_empty() {
            b.values.len()
        } else {
            b.ids.len()
        };
        if n != b.keys.len() || n != vals || b.count > self.max || to > self.n_buckets {
            return false;
        }
        let ends = match b.err {
            None => b.count > 0 && to > self.from && to < self.n_buckets,
            Some(e) if e == Errno::ENOSPC => b.count == 0 && to >= self.from && to < self.n_buckets,
            Some(e) if e == Errno::ENOENT => to == self.n_buckets,
            Some(_) => false,
        };
        if !ends {
            return false;
        }
        // The copied keys: present, with their values, each once, in buckets of [from, to)
        // that do not go down along the answer.
        let find = |k: &[u8]| {
            self.present
                .binary_search_by(|p| p.0.as_slice().cmp(k))
                .ok()
                .map(|i| &self.present[i])
        };
        let mut seen = BTreeSet::new();
        let mut at = self.from;
        // A map-in-map's answer shows ids; the rule holds them as `id_bytes`.
        let values: Vec<Vec<u8>> = match b.ids.is_empty() {
            true => b.values.clone(),
            false => b.ids.iter().map(|h| id_bytes(*h)).collect(),
        };
        if n != values.len() {
            return false;
        }
        for (k, v) in b.keys.iter().zip(&values) {
            let Some(p) = find(k) else { return false };
            if &p.1 != v || !seen.insert(k) {
                return false;
            }
            match least_from(&p.2, at, to) {
                Some(x) => at = x,
                None => return false,
            }
        }
        // Every other key lies outside the buckets copied; where the walk stopped short,
        // the bucket it names holds more than the room left.
        let others = self.present.iter().filter(|p| !seen.contains(&p.0));
        let outside = others
            .clone()
            .all(|p| p.2.iter().any(|&(x, y)| x < self.from || y > to));
        let stopped_short = b.err.is_none_or(|e| e == Errno::ENOSPC);
        let room = (self.max - b.count) as usize;
        let fits = !stopped_short || others.filter(|p| ranges_meet(&p.2, to, to + 1)).count() > room;
        // The walk it shows agrees with the links seen since the order last changed: no
        // other successor, and no other predecessor.
        let agrees = Self::links_of(self.from, b).iter().all(|(f, t)| {
            self.links.get(f).is_none_or(|x| x == t)
                && (t.is_none() || self.links.iter().all(|(g, u)| u != t || g == f))
        });
        outside && fits && agrees
    }
}

/// The fields of `struct bpf_map_info` the model predicts; the id is resolved to the handle
/// that created the map, as for `Ret::Id`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MapInfo {
    /// `id`, resolved (`None`: an id no object of this case has).
    pub id: Option<Handle>,
    /// `type`.
    pub map_type: MapType,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: u32,
    /// `name`: the 16 bytes with trailing NULs dropped (a byte after a NUL stays visible).
    pub name: Vec<u8>,
    /// `map_extra`.
    pub map_extra: u64,
}

impl MapInfo {
    /// The 16 raw name bytes as `name` holds them: trailing NULs dropped.
    pub fn name_of(raw: &[u8]) -> Vec<u8> {
        let end = raw.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        raw[..end].to_vec()
    }
}

impl fmt::Display for MapInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(h) => write!(f, "id={h}")?,
            None => write!(f, "id=?")?,
        }
        write!(
            f,
            " type={} key={} value={} entries={} flags={:#x} name={}",
            self.map_type.word(),
            self.key_size,
            self.value_size,
            self.max_entries,
            self.map_flags,
            crate::text::quote(&self.name)
        )?;
        if self.map_extra != 0 {
            write!(f, " extra={:#x}", self.map_extra)?;
        }
        Ok(())
    }
}

/// What one LOOKUP of an fd-holding map's key showed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Slot {
    /// ENOENT.
    Empty,
    /// The id of the held object, resolved to its creating handle.
    Id(Option<Handle>),
    /// ENOTSUPP: the syscall cannot read this map type back (CGROUP_ARRAY, PERF_EVENT_ARRAY).
    Unreadable,
}

/// A full-state observation of an fd-holding map, sorted by key.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Slots {
    /// (key, slot) for every key of the walk, sorted by key; the walk visited each once.
    pub slots: Vec<(Vec<u8>, Slot)>,
    /// False if the walk visited a key twice or looped.
    pub walk_ok: bool,
    /// The keys in the order GET_NEXT_KEY visited them (HASH_OF_MAPS order is checked).
    pub walk: Vec<Vec<u8>>,
}

/// Observed GET_NEXT_KEY links of a hash map: `from` (None: NULL) to `to` (None: ENOENT).
pub type Links = BTreeMap<Option<Vec<u8>>, Option<Vec<u8>>>;

/// What a full-state check requires of the GET_NEXT_KEY walk beyond visiting each key once.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Walk {
    /// An order consistent with the links observed since the last reordering (none: any
    /// order): a random-seed hash (`htab_map_get_next_key` over buckets of a per-map seed).
    Links(Links),
    /// Exactly this order: a BPF_F_ZERO_SEED hash, whose buckets the model computes, or an
    /// LPM trie's postorder.
    Exact(Vec<Vec<u8>>),
}

impl Default for Walk {
    fn default() -> Walk {
        Walk::Links(Links::new())
    }
}

impl Walk {
    /// The first step of `walk` (a sequence of keys, NULL before and ENOENT after) that this
    /// rule refuses, as (index, what the model wanted there); `None` if it admits the walk.
    pub fn first_refused<'a>(
        &self,
        walk: impl Iterator<Item = &'a [u8]>,
    ) -> Option<(usize, Option<Vec<u8>>)> {
        let mut prev: Option<&[u8]> = None;
        let mut i = 0;
        let mut walk = walk.map(Some).chain(std::iter::once(None));
        loop {
            let next = walk.next()?;
            let want = match self {
                Walk::Links(l) => l.get(&prev.map(<[u8]>::to_vec)).cloned(),
                Walk::Exact(w) => Some(w.get(i).cloned()),
            };
            if let Some(want) = want {
                if want.as_deref() != next {
                    return Some((i, want));
                }
            }
            let n = next?;
            prev = Some(n);
            i += 1;
        }
    }
}

/// The contents of a map as seen through the syscall interface, flat so that a 1M-entry map
/// costs two allocations: `keys` and `values` hold fixed-size records, sorted by key bytes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct MapState {
    /// Bytes per key.
    pub key_size: usize,
    /// Bytes per value as the syscall returns it (all CPUs' slots for per-CPU maps).
    pub value_size: usize,
    /// Every key `BPF_MAP_LOOKUP_BATCH` returned, concatenated, sorted.
    pub keys: Vec<u8>,
    /// The values, in the order of `keys`.
    pub values: Vec<u8>,
    /// The keys visited walking GET_NEXT_KEY from NULL until ENOENT, in kernel order; `None`
    /// when the harness skipped the walk (maps too large for one syscall per key).
    pub walk: Option<Vec<u8>>,
}

impl MapState {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len().checked_div(self.key_size).unwrap_or(0)
    }
    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    /// Entry `i` as (key, value).
    pub fn entry(&self, i: usize) -> (&[u8], &[u8]) {
        let (k, v) = (self.key_size, self.value_size);
        (&self.keys[i * k..(i + 1) * k], &self.values[i * v..(i + 1) * v])
    }
    /// Index of key `k` (binary search over the sorted keys).
    pub fn find(&self, k: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry(mid).0.cmp(k) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
    /// Builds a state from unsorted records, sorting them by key bytes.
    pub fn from_unsorted(key_size: usize, value_size: usize, keys: &[u8], values: &[u8]) -> Self {
        let n = keys.len().checked_div(key_size).unwrap_or(0);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| {
            keys[a * key_size..(a + 1) * key_size].cmp(&keys[b * key_size..(b + 1) * key_size])
        });
        let mut st = MapState {
            key_size,
            value_size,
            ..Default::default()
        };
        for i in order {
            st.keys.extend_from_slice(&keys[i * key_size..(i + 1) * key_size]);
            st.values
                .extend_from_slice(&values[i * value_size..(i + 1) * value_size]);
        }
        st
    }
    /// Is the walk exactly the indices 0, 1, ..., `max_entries - 1` in order, as
    /// `array_map_get_next_key` (kernel/bpf/arraymap.c) hands them out? No walk (a map too
    /// large for one syscall per key) is judged by the batch alone.
    pub fn walk_is_array_order(&self, max_entries: u32) -> bool {
        let Some(walk) = &self.walk else { return true };
        self.key_size == 4
            && walk.len() == 4 * max_entries as usize
            && walk.chunks(4).zip(0u32..).all(|(k, i)| k == i.to_le_bytes())
    }
    /// Does the walk visit exactly the keys of `self`, each once?
    pub fn walk_visits_each_key_once(&self) -> bool {
        let Some(walk) = &self.walk else { return true };
        if walk.len() != self.keys.len() || self.key_size == 0 {
            return walk.len() == self.keys.len();
        }
        let mut w: Vec<&[u8]> = walk.chunks(self.key_size).collect();
        w.sort();
        w.into_iter().eq(self.keys.chunks(self.key_size))
    }
}

/// `Ok(Ret)` or `Err(Errno)`.
pub type Outcome = Result<Ret, Errno>;

/// Writes an outcome in the script syntax: `ok`, `ok value=0a0b`, `ENOENT`, ...
pub fn fmt_outcome(o: &Outcome) -> String {
    match o {
        Err(e) => e.to_string(),
        Ok(Ret::Unit) => "ok".into(),
        Ok(Ret::Fd(h)) => format!("ok fd={h}"),
        Ok(Ret::FdAt(h, n)) => format!("ok fd={h} num={n}"),
        Ok(Ret::Lost(why)) => format!("lost {why}"),
        Ok(Ret::Value(v)) => format!("ok value={}", value_text(v)),
        Ok(Ret::Key(k)) => format!("ok key={}", hex(k)),
        Ok(Ret::State(s)) => format!("ok entries={}", s.len()),
        Ok(Ret::Id(Some(h))) => format!("ok id={h}"),
        Ok(Ret::Id(None)) => "ok id=?".into(),
        Ok(Ret::Alive(true)) => "ok alive".into(),
        Ok(Ret::Alive(false)) => "ok gone".into(),
        Ok(Ret::Count(n)) => format!("ok count={n}"),
        Ok(Ret::Slots(s)) => format!("ok slots={}", s.slots.len()),
        Ok(Ret::Info(i)) => format!("ok {i}"),
        Ok(Ret::Batch(b)) => b.to_string(),
    }
}

/// Lower-case hex without separators; the empty string for no bytes.
pub fn hex(b: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The outcomes the model permits for one op.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Allowed {
    /// Exactly this outcome.
    Exactly(Outcome),
    /// Any present key but these, or ENOENT when `may_end`: hash iteration order depends on
    /// a per-map random seed (`htab_map_get_next_key` walks buckets of `jhash(key, seed)`);
    /// `except` holds the key passed in and every key the observed links rule out.
    AnyKeyExcept {
        /// Keys that cannot come back.
        except: BTreeSet<Vec<u8>>,
        /// Whether ENOENT (end of iteration) is possible.
        may_end: bool,
    },
    /// Exactly these entries, with the walk a permutation of their keys (each once) that the
    /// walk rule admits.
    State(MapState, Walk),
    /// Any of these outcomes; `why` names the kernel path that makes the choice.
    OneOf(Vec<Outcome>, &'static str),
    /// An fd-holding map's full state: exactly these slots (sorted), walk each key once, in
    /// an order the walk rule admits.
    Slots(Vec<(Vec<u8>, Slot)>, Walk),
    /// A hash's LOOKUP_BATCH under a random seed: whole buckets from `from` on, in bucket
    /// order, which buckets the model knows only as far as earlier batches showed.
    Buckets(BucketRule),
    /// Whatever one of these sets admits: an LRU hash written by a case on no one CPU may
    /// be in any of several list states (`World::split`), each with its own answer; `why`
    /// names the choice.
    Either(Vec<Allowed>, &'static str),
    /// An array's full state without materialising it: every index below `max_entries` once,
    /// with the written value or zeroes.
    ArrayState {
        /// `max_entries`.
        max_entries: u32,
        /// Bytes per value.
        value_len: usize,
        /// The slots holding non-zero values.
        written: std::collections::BTreeMap<u32, Vec<u8>>,
    },
}

impl Allowed {
    /// One set for the answers of several possible states (`Either`): the one they share,
    /// their outcomes where each is a plain set, else each set.
    pub fn union(sets: Vec<Allowed>, why: &'static str) -> Allowed {
        let mut distinct: Vec<Allowed> = Vec::new();
        for a in sets {
            if !distinct.contains(&a) {
                distinct.push(a);
            }
        }
        if distinct.len() == 1 {
            return distinct.remove(0);
        }
        let plain = |a: &Allowed| matches!(a, Allowed::Exactly(_) | Allowed::OneOf(..));
        if !distinct.iter().all(plain) {
            return Allowed::Either(distinct, why);
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        for a in distinct {
            let os = match a {
                Allowed::Exactly(o) => vec![o],
                Allowed::OneOf(v, _) => v,
                _ => unreachable!("plain sets only"),
            };
            for o in os {
                if !outcomes.contains(&o) {
                    outcomes.push(o);
                }
            }
        }
        Allowed::OneOf(outcomes, why)
    }

    /// The model's reason for the errno `o`, if `o` is a refusal in the set.
    pub fn why_of(&self, o: &Outcome) -> Option<crate::reason::Why> {
        if let Allowed::Either(sets, _) = self {
            return sets.iter().find_map(|a| a.why_of(o));
        }
        // A batch's errno that came with a count: the model's matching answer names it.
        // (Only an answer the set admits: a diverging one is counted under its bare errno.)
        if let Ok(Ret::Batch(b)) = o {
            let found = match self {
                Allowed::Exactly(x) => Some(x).filter(|x| *x == o),
                Allowed::OneOf(v, _) => v.iter().find(|x| *x == o),
                _ => None,
            };
            return match found {
                Some(Ok(Ret::Batch(m))) => m.err.and_then(|e| e.why()),
                // A random seed's bucket walk: its end, or a first bucket too large.
                _ => match (self, b.err) {
                    (Allowed::Buckets(r), Some(e)) if e == Errno::ENOENT && r.admits(b) => {
                        Some(crate::reason::Why::End)
                    }
                    (Allowed::Buckets(r), Some(e)) if e == Errno::ENOSPC && r.admits(b) => {
                        Some(crate::reason::Why::BatchSpace)
                    }
                    _ => None,
                },
            };
        }
        let Err(e) = o else { return None };
        let found = match self {
            Allowed::Exactly(x) => Some(x),
            Allowed::OneOf(v, _) => v.iter().find(|x| *x == o),
            // The only refusal of an open hash walk is its end.
            Allowed::AnyKeyExcept { may_end: true, .. } if *e == Errno::ENOENT => {
                return Some(crate::reason::Why::End)
            }
            _ => None,
        };
        match found {
            Some(Err(x)) if x == e => x.why(),
            _ => None,
        }
    }
    /// Is `o` in the set? `present` answers "is this key in the map" for `AnyKeyExcept`.
    pub fn admits(&self, o: &Outcome, present: &dyn Fn(&[u8]) -> bool) -> bool {
        match self {
            Allowed::Exactly(x) => x == o,
            Allowed::AnyKeyExcept { except, may_end } => match o {
                Err(e) => *may_end && *e == Errno::ENOENT,
                Ok(Ret::Key(k)) => !except.contains(k) && present(k),
                Ok(_) => false,
            },
            Allowed::State(want, rule) => match o {
                Ok(Ret::State(got)) => {
                    got.key_size == want.key_size
                        && got.value_size == want.value_size
                        && got.keys == want.keys
                        && got.values == want.values
                        && got.walk_visits_each_key_once()
                        && got
                            .walk
                            .as_ref()
                            .is_none_or(|w| rule.first_refused(w.chunks(got.key_size.max(1))).is_none())
                }
                _ => false,
            },
            Allowed::OneOf(set, _) => set.contains(o),
            Allowed::Either(sets, _) => sets.iter().any(|a| a.admits(o, present)),
            Allowed::Buckets(rule) => matches!(o, Ok(Ret::Batch(b)) if rule.admits(b)),
            Allowed::Slots(want, rule) => matches!(o, Ok(Ret::Slots(got))
                if got.walk_ok && got.slots == *want
                    && rule.first_refused(got.walk.iter().map(Vec::as_slice)).is_none()),
            Allowed::ArrayState {
                max_entries,
                value_len,
                written,
            } => match o {
                Ok(Ret::State(got)) => {
                    got.key_size == 4
                        && got.value_size == *value_len
                        && got.len() == *max_entries as usize
                        && got.walk_is_array_order(*max_entries)
                        && array_matches(got, *max_entries, written)
                }
                _ => false,
            },
        }
    }
    /// Where a full-state observation differs from the allowed state, in one line.
    pub fn explain(&self, o: &Outcome) -> Option<String> {
        if let Allowed::Either(sets, _) = self {
            let (i, why) = sets
                .iter()
                .enumerate()
                .find_map(|(i, a)| Some((i, a.explain(o)?)))?;
            return Some(format!("in list state {} of {}: {why}", i + 1, sets.len()));
        }
        if let (Allowed::Slots(want, rule), Ok(Ret::Slots(got))) = (self, o) {
            if !got.walk_ok {
                return Some("the GET_NEXT_KEY walk visited a key twice".into());
            }
            let diff = want.iter().zip(&got.slots).find(|(a, b)| a != b);
            return Some(match diff {
                Some(((k, w), (_, g))) => {
                    format!("key {}: model {}, kernel {}", hex(k), slot_text(w), slot_text(g))
                }
                None if want.len() != got.slots.len() => {
                    format!("model has {} keys, kernel {}", want.len(), got.slots.len())
                }
                None => walk_text(rule, got.walk.iter().map(Vec::as_slice), &got.walk)?,
            });
        }
        let Ok(Ret::State(got)) = o else { return None };
        // A state whose values are not value_size per key is a bug on one side: said, not
        // indexed (this runs outside the case's panic catch, in a report).
        let whole =
            |s: &MapState| s.keys.len() == s.len() * s.key_size && s.values.len() == s.len() * s.value_size;
        let want = match self {
            Allowed::State(want, _) => want,
            _ => got,
        };
        if !whole(want) || !whole(got) {
            return Some(format!(
                "a state is not whole: model {} keys, {} value bytes; kernel {} keys, {} value bytes",
                want.len(),
                want.values.len(),
                got.len(),
                got.values.len()
            ));
        }
        let want_size = match self {
            Allowed::State(want, _) => want.value_size,
            Allowed::ArrayState { value_len, .. } => *value_len,
            _ => return None,
        };
        if want_size != got.value_size {
            return Some(format!(
                "value size: model {want_size}, kernel {}",
                got.value_size
            ));
        }
        for i in 0..got.len() {
            let (k, v) = got.entry(i);
            match self.expected_value(k) {
                None => return Some(format!("kernel has key {} that the model does not", hex(k))),
                Some(w) if w != v => {
                    return Some(format!(
                        "key {}: model value {}, kernel value {}",
                        hex(k),
                        cell_text(&w),
                        cell_text(v)
                    ))
                }
                _ => {}
            }
        }
        if let Allowed::ArrayState { max_entries, .. } = self {
            if !got.walk_is_array_order(*max_entries) {
                let walk = got.walk.as_deref().unwrap_or_default();
                let shown: Vec<String> = walk.chunks(got.key_size.max(1)).take(8).map(hex).collect();
                return Some(format!(
                    "GET_NEXT_KEY walk is not 0..{max_entries} in order: {}{}",
                    shown.join(","),
                    if walk.len() > 8 * got.key_size.max(1) {
                        ",..."
                    } else {
                        ""
                    }
                ));
            }
        }
        if !got.walk_visits_each_key_once() {
            let n = got.walk.as_ref().map_or(0, |w| w.len() / got.key_size.max(1));
            return Some(format!(
                "GET_NEXT_KEY walk visited {n} keys for {} entries (not each once)",
                got.len()
            ));
        }
        if let (Allowed::State(want, rule), Some(w)) = (self, &got.walk) {
            if want.keys == got.keys {
                let keys: Vec<Vec<u8>> = w.chunks(got.key_size.max(1)).map(<[u8]>::to_vec).collect();
                return walk_text(rule, keys.iter().map(Vec::as_slice), &keys);
            }
        }
        Some(format!(
            "the kernel returned {} entries; the model has keys the kernel lacks",
            got.len()
        ))
    }

    /// The value a full-state `Allowed` expects under key `k`, if the key should be present.
    fn expected_value(&self, k: &[u8]) -> Option<Vec<u8>> {
        match self {
            Allowed::State(want, _) => {
                let i = want.find(k)?;
                Some(want.entry(i).1.to_vec())
            }
            Allowed::ArrayState {
                max_entries,
                value_len,
                written,
            } => {
                let i = u32::from_le_bytes(k.get(..4)?.try_into().ok()?);
                (i < *max_entries).then(|| written.get(&i).cloned().unwrap_or_else(|| vec![0; *value_len]))
            }
            _ => None,
        }
    }

    /// The single outcome, if the set is a singleton.
    pub fn exactly(&self) -> Option<&Outcome> {
        match self {
            Allowed::Exactly(o) => Some(o),
            _ => None,
        }
    }

    /// Is one outcome allowed: an exact answer, or a full state walked in one known order
    /// (a set, a rule or an order that links narrow are not)?
    pub fn is_single(&self) -> bool {
        matches!(
            self,
            Allowed::Exactly(_)
                | Allowed::State(_, Walk::Exact(_))
                | Allowed::Slots(_, Walk::Exact(_))
                | Allowed::ArrayState { .. }
        )
    }
}

/// Keys are distinct indices below `max` (sorted by bytes, so neighbours differ) and each value
/// is the written one or zeroes.
fn array_matches(got: &MapState, max: u32, written: &std::collections::BTreeMap<u32, Vec<u8>>) -> bool {
    let mut prev: Option<&[u8]> = None;
    (0..got.len()).all(|i| {
        let (k, v) = got.entry(i);
        let idx = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
        let distinct = prev.is_none_or(|p| p != k);
        prev = Some(k);
        let value_ok = match written.get(&idx) {
            Some(w) => w.as_slice() == v,
            None => v.iter().all(|b| *b == 0),
        };
        distinct && idx < max && value_ok
    })
}

/// Where a walk leaves the walk rule, in one line.
fn walk_text<'a>(rule: &Walk, walk: impl Iterator<Item = &'a [u8]>, keys: &[Vec<u8>]) -> Option<String> {
    let (i, want) = rule.first_refused(walk)?;
    let step = |k: Option<&Vec<u8>>| k.map_or("ENOENT".to_string(), |k| format!("key {}", hex(k)));
    let after = match i {
        0 => "NULL".to_string(),
        _ => format!("key {}", hex(&keys[i - 1])),
    };
    Some(format!(
        "GET_NEXT_KEY walk step {i} (after {after}): model {}, kernel {}",
        step(want.as_ref()),
        step(keys.get(i))
    ))
}

fn slot_text(s: &Slot) -> String {
    match s {
        Slot::Empty => "empty".into(),
        Slot::Id(Some(h)) => h.to_string(),
        Slot::Id(None) => "?".into(),
        Slot::Unreadable => "unreadable".into(),
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Exactly(o) => write!(f, "{}", fmt_outcome(o)),
            Allowed::AnyKeyExcept { except, may_end } => {
                write!(f, "ok key=<any present key")?;
                if !except.is_empty() {
                    let but: Vec<String> = except.iter().map(|k| hex(k)).collect();
                    write!(f, " but {}", but.join(", "))?;
                }
                write!(f, ">")?;
                if *may_end {
                    write!(f, " or ENOENT")?;
                }
                Ok(())
            }
            Allowed::Buckets(r) => write!(
                f,
                "whole buckets from bucket {} on, at most {} of the {} present keys (a random-seed hash's buckets, as far as earlier batches showed them)",
                r.from,
                r.max,
                r.present.len()
            ),
            Allowed::State(e, Walk::Exact(w)) => {
                let shown: Vec<String> = w.iter().take(8).map(|k| hex(k)).collect();
                let more = if w.len() > 8 { ", ..." } else { "" };
                write!(
                    f,
                    "ok entries={} (the GET_NEXT_KEY walk exactly {}{more}: a zero-seed hash's buckets, an LPM trie's postorder)",
                    e.len(),
                    shown.join(", ")
                )
            }
            Allowed::State(e, Walk::Links(l)) => write!(
                f,
                "ok entries={} (each key once in the GET_NEXT_KEY walk, {} observed links kept)",
                e.len(),
                l.len()
            ),
            Allowed::ArrayState {
                max_entries, written, ..
            } => write!(
                f,
                "ok entries={max_entries} ({} non-zero, GET_NEXT_KEY walk 0..{max_entries} in order)",
                written.len()
            ),
            Allowed::Slots(want, _) => {
                let shown: Vec<String> = want
                    .iter()
                    .filter(|(_, s)| *s != Slot::Empty)
                    .map(|(k, s)| format!("{}:{}", hex(k), slot_text(s)))
                    .collect();
                write!(f, "ok slots={} {{{}}}", want.len(), shown.join(", "))
            }
            Allowed::OneOf(set, why) => {
                let alts: Vec<String> = set.iter().map(fmt_outcome).collect();
                write!(f, "one of {{{}}} ({why})", alts.join(", "))
            }
            Allowed::Either(sets, why) => {
                let shown: Vec<String> = sets.iter().take(3).map(|a| a.to_string()).collect();
                let more = if sets.len() > 3 { " | ..." } else { "" };
                write!(f, "what one of {} states allows ({why}): {}{more}", sets.len(), shown.join(" | "))
            }
        }
    }
}

/// A recorded outcome in a script (`=> ...`). Every form but `any` pins what the kernel must
/// return; `any` says explicitly that the kernel may choose (the model's set alone judges).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expect {
    /// A bare `ok`: success with nothing to show (`ok` of an op that returns nothing), or a
    /// full-state `check` whose contents the model compares.
    AnyOk,
    /// This exact outcome.
    Exactly(Outcome),
    /// `ok entries=N`: a `check` of a value map that returned N entries.
    Entries(usize),
    /// `ok slots=N`: a `check` of an fd-holding map whose walk returned N keys.
    Slots(usize),
    /// `any`: whatever the model allows (a deferred release, a seed-dependent order).
    Any,
}

impl Expect {
    /// Does the observed outcome match what the script recorded?
    pub fn matches(&self, o: &Outcome) -> bool {
        match (self, o) {
            (Expect::AnyOk, Ok(Ret::Unit | Ret::State(_) | Ret::Slots(_))) => true,
            (Expect::Exactly(x), _) => x == o,
            (Expect::Entries(n), Ok(Ret::State(s))) => s.len() == *n,
            (Expect::Slots(n), Ok(Ret::Slots(s))) => s.slots.len() == *n,
            (Expect::Any, _) => true,
            _ => false,
        }
    }
    /// What a script records for an observed outcome: states as their size.
    pub fn of(o: &Outcome) -> Expect {
        match o {
            Ok(Ret::State(s)) => Expect::Entries(s.len()),
            Ok(Ret::Slots(s)) => Expect::Slots(s.slots.len()),
            _ => Expect::Exactly(o.clone()),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::AnyOk => write!(f, "ok"),
            Expect::Exactly(o) => write!(f, "{}", fmt_outcome(o)),
            Expect::Entries(n) => write!(f, "ok entries={n}"),
            Expect::Slots(n) => write!(f, "ok slots={n}"),
            Expect::Any => write!(f, "any"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// A batch answer that shows nothing but its count is a count (what fill and the write
    /// batches answer); one that shows keys, values, ids, a cursor or an errno keeps them.
    #[test]
    fn a_batch_is_a_count_only_when_it_shows_nothing_else() {
        let count = Batch {
            count: 2,
            ..Batch::default()
        };
        assert_eq!(count.clone().ret(), Ok(Ret::Count(2)));
        let shows = [
            Batch {
                keys: vec![vec![1]],
                ..count.clone()
            },
            Batch {
                values: vec![vec![1]],
                ..count.clone()
            },
            Batch {
                ids: vec![None],
                ..count.clone()
            },
            Batch {
                out: Some(vec![1]),
                ..count.clone()
            },
            Batch {
                err: Some(Errno::ENOENT),
                ..count.clone()
            },
        ];
        for b in shows {
            assert_eq!(b.clone().ret(), Ok(Ret::Batch(b)));
        }
    }

    /// A random-seed hash's batch over 4 buckets, keys 1 and 3 in bucket 1, key 2 in bucket
    /// 2, key 4 in bucket 3. From bucket 0: with room for two, ok with keys 1 and 3 and the cursor at bucket 2
    /// (not when GET_NEXT_KEY showed 2 after 1); ENOSPC only with nothing copied; with room for
    /// one, ENOSPC and nothing (bucket 1 does not fit), never ok with nothing; an answer whose
    /// keys are more than its count is refused. From bucket 2: no ENOSPC cursor below it; with
    /// room for two, a walk that stops before a bucket that fits is refused.
    #[test]
    fn a_bucket_batch_is_whole_buckets_and_ok_only_with_keys() {
        let present = vec![
            (vec![1], vec![10], vec![(1, 2)]),
            (vec![2], vec![20], vec![(2, 3)]),
            (vec![3], vec![30], vec![(1, 2)]),
            (vec![4], vec![40], vec![(3, 4)]),
        ];
        let rule = |from: u32, max: u32, links: Links| BucketRule {
            from,
            max,
            n_buckets: 4,
            present: present.clone(),
            links,
        };
        let batch = |err: Option<Errno>, count: u32, keys: &[u8], values: &[u8], to: u32| Batch {
            err,
            count,
            keys: keys.iter().map(|k| vec![*k]).collect(),
            values: values.iter().map(|v| vec![*v]).collect(),
            out: Some(to.to_le_bytes().to_vec()),
            ids: Vec::new(),
        };
        let enospc = Some(Errno::ENOSPC);
        let none = Links::new;
        assert!(rule(0, 2, none()).admits(&batch(None, 2, &[1, 3], &[10, 30], 2)));
        let seen: Links = [(Some(vec![1]), Some(vec![2]))].into_iter().collect();
        assert!(!rule(0, 2, seen).admits(&batch(None, 2, &[1, 3], &[10, 30], 2)));
        assert!(!rule(0, 2, none()).admits(&batch(enospc, 2, &[1, 3], &[10, 30], 2)));
        assert!(!rule(0, 2, none()).admits(&batch(None, 2, &[1, 3, 2], &[10, 30], 2)));
        assert!(rule(0, 1, none()).admits(&batch(enospc, 0, &[], &[], 1)));
        assert!(!rule(0, 1, none()).admits(&batch(None, 0, &[], &[], 1)));
        assert!(!rule(2, 1, none()).admits(&batch(enospc, 0, &[], &[], 1)));
        // From bucket 2 with room for two: key 2, then bucket 3 (key 4) fits: the walk goes
        // on to the end.
        assert!(rule(2, 2, none()).admits(&batch(Some(Errno::ENOENT), 2, &[2, 4], &[20, 40], 4)));
        assert!(!rule(2, 2, none()).admits(&batch(None, 1, &[2], &[20], 3)));
        // Everything from bucket 0 is ENOENT at the end; no other errno.
        let all = |err| batch(err, 4, &[1, 3, 2, 4], &[10, 30, 20, 40], 4);
        assert!(rule(0, 4, none()).admits(&all(Some(Errno::ENOENT))));
        assert!(!rule(0, 4, none()).admits(&all(Some(Errno::EINVAL))));
        // The links a walk from bucket 0 shows start at NULL, ENOENT or not; an ENOENT with
        // nothing copied is NULL's own end; from a later bucket no NULL link.
        let k = |b: u8| Some(vec![b]);
        let from_0 = BucketRule::links_of(0, &batch(None, 2, &[1, 3], &[10, 30], 2));
        assert_eq!(from_0, vec![(None, k(1)), (k(1), k(3))]);
        let empty = BucketRule::links_of(0, &batch(Some(Errno::ENOENT), 0, &[], &[], 4));
        assert_eq!(empty, vec![(None, None)]);
        let later = BucketRule::links_of(2, &batch(Some(Errno::ENOENT), 1, &[2], &[20], 4));
        assert_eq!(later, vec![(k(2), None)]);
    }

    /// Bucket ranges are half-open: `[2, 4)` meets `[3, 5)` and `[0, 3)`, not `[4, 6)` or
    /// `[0, 2)`; an empty list meets nothing; the least bucket at or after `at` below `b` is
    /// in a range that ends after `at`.
    #[test]
    fn bucket_ranges_are_half_open() {
        let r: Ranges = vec![(2, 4)];
        assert!(ranges_meet(&r, 3, 5) && ranges_meet(&r, 0, 3) && ranges_meet(&r, 0, 9));
        assert!(!ranges_meet(&r, 4, 6) && !ranges_meet(&r, 0, 2));
        assert!(!ranges_meet(&Vec::new(), 0, 9));
        assert!(ranges_meet(&vec![(0, 1), (7, 8)], 7, 9) && !ranges_meet(&vec![(0, 1), (7, 8)], 1, 7));
        let r: Ranges = vec![(0, 2), (5, 7)];
        assert_eq!(least_from(&r, 2, 9), Some(5));
        assert_eq!(least_from(&r, 1, 9), Some(1));
        assert_eq!(least_from(&r, 6, 9), Some(6));
        assert_eq!((least_from(&r, 2, 5), least_from(&r, 7, 9)), (None, None));
    }

    fn state(keys: &[u8], values: &[u8], walk: Option<&[u8]>) -> MapState {
        MapState {
            key_size: 1,
            value_size: 1,
            keys: keys.to_vec(),
            values: values.to_vec(),
            walk: walk.map(<[u8]>::to_vec),
        }
    }

    /// A walk that visits a key twice is explained with the number of keys it visited.
    #[test]
    fn a_repeating_walk_is_explained_with_its_count() {
        let got = MapState::from_unsorted(2, 1, &[1, 0, 2, 0], &[5, 6]);
        let want = Allowed::State(got.clone(), Walk::default());
        let twice = MapState {
            walk: Some(vec![1, 0, 1, 0, 2, 0]),
            ..got
        };
        let why = want.explain(&Ok(Ret::State(twice))).unwrap();
        assert!(why.contains("visited 3 keys for 2 entries"), "{why}");
    }

    #[test]
    fn a_state_counts_its_entries() {
        let s = MapState::from_unsorted(2, 1, &[3, 0, 1, 0], &[7, 8]);
        assert_eq!((s.len(), s.is_empty()), (2, false));
        assert_eq!(s.entry(0), (&[1, 0][..], &[8][..]));
        assert!(state(&[], &[], None).is_empty());
        let wide = MapState::from_unsorted(2, 2, &[1, 0, 2, 0, 3, 0], &[1, 1, 2, 2, 3, 3]);
        assert_eq!(wide.entry(2), (&[3, 0][..], &[3, 3][..]));
        // The kernel's 16 name bytes: trailing NULs go, a NUL inside stays.
        assert_eq!(MapInfo::name_of(b"ab\0c\0\0\0"), b"ab\0c".to_vec());
        assert_eq!(MapInfo::name_of(&[0; 16]), Vec::<u8>::new());
        assert_eq!(MapInfo::name_of(b"mapcheck.m_0"), b"mapcheck.m_0".to_vec());
    }

    #[test]
    fn states_sort_search_and_check_their_walk() {
        let s = MapState::from_unsorted(2, 1, &[3, 0, 1, 0, 2, 0], &[30, 10, 20]);
        assert_eq!(s.keys, vec![1, 0, 2, 0, 3, 0]);
        assert_eq!(s.values, vec![10, 20, 30]);
        // Whole keys compare (big-endian-looking bytes, each key's own): 4-byte keys given
        // in reverse order come out sorted by their bytes, each with its value.
        let keys: Vec<u8> = [
            [0, 0, 0, 9],
            [0, 0, 1, 0],
            [0, 0, 0, 5],
            [1, 0, 0, 0],
            [0, 2, 0, 0],
        ]
        .concat();
        let four = MapState::from_unsorted(4, 1, &keys, &[1, 2, 3, 4, 5]);
        assert_eq!(
            four.keys,
            [
                [0, 0, 0, 5],
                [0, 0, 0, 9],
                [0, 0, 1, 0],
                [0, 2, 0, 0],
                [1, 0, 0, 0]
            ]
            .concat()
        );
        assert_eq!(four.values, vec![3, 1, 2, 5, 4]);
        assert_eq!(
            (s.find(&[1, 0]), s.find(&[2, 0]), s.find(&[3, 0])),
            (Some(0), Some(1), Some(2))
        );
        assert_eq!((s.find(&[0, 0]), s.find(&[4, 0]), s.len()), (None, None, 3));
        assert!(state(&[1, 2], &[0, 0], None).walk_visits_each_key_once());
        assert!(state(&[1, 2], &[0, 0], Some(&[2, 1])).walk_visits_each_key_once());
        assert!(!state(&[1, 2], &[0, 0], Some(&[1, 1])).walk_visits_each_key_once());
        assert!(!state(&[1, 2], &[0, 0], Some(&[1])).walk_visits_each_key_once());
        assert!(!state(&[1, 2], &[0, 0], Some(&[1, 2, 1])).walk_visits_each_key_once());
        // A keyless map's state: no keys, an empty walk (no chunks of size 0 to compare).
        let keyless = MapState {
            key_size: 0,
            walk: Some(Vec::new()),
            ..state(&[], &[], None)
        };
        assert!(keyless.walk_visits_each_key_once());
    }

    /// A union of plain sets is one set of all their outcomes, each once.
    #[test]
    fn a_union_of_plain_sets_is_their_outcomes() {
        let u = Allowed::union(
            vec![
                Allowed::Exactly(Ok(Ret::Unit)),
                Allowed::OneOf(vec![Err(Errno::ENOENT), Ok(Ret::Unit)], "x"),
            ],
            "why",
        );
        assert_eq!(u, Allowed::OneOf(vec![Ok(Ret::Unit), Err(Errno::ENOENT)], "why"));
    }

    /// What a divergence report says the model allowed: each kind of set in its own words,
    /// at most 8 keys of an exact walk and 3 states of an `Either` (then `...`), only the
    /// slots that hold something; `is_single` for the sets that admit one outcome.
    #[test]
    fn allowed_sets_print_what_they_admit() {
        let text = |a: &Allowed| a.to_string();
        assert_eq!(text(&Allowed::Exactly(Err(Errno::ENOENT))), "ENOENT");
        let any = |except: &[u8], may_end| Allowed::AnyKeyExcept {
            except: except.iter().map(|k| vec![*k]).collect(),
            may_end,
        };
        assert_eq!(text(&any(&[], false)), "ok key=<any present key>");
        assert_eq!(
            text(&any(&[1, 2], true)),
            "ok key=<any present key but 01, 02> or ENOENT"
        );
        let exact = |n: u8| {
            let keys: Vec<u8> = (1..=n).collect();
            let walk = Walk::Exact(keys.iter().map(|k| vec![*k]).collect());
            Allowed::State(state(&keys, &keys, None), walk)
        };
        assert!(text(&exact(8))
            .starts_with("ok entries=8 (the GET_NEXT_KEY walk exactly 01, 02, 03, 04, 05, 06, 07, 08: "));
        assert!(text(&exact(9)).starts_with(
            "ok entries=9 (the GET_NEXT_KEY walk exactly 01, 02, 03, 04, 05, 06, 07, 08, ...: "
        ));
        assert!(text(&exact(1)).starts_with("ok entries=1 (the GET_NEXT_KEY walk exactly 01: "));
        let linked = Allowed::State(state(&[1, 2], &[0, 0], None), Walk::default());
        assert_eq!(
            text(&linked),
            "ok entries=2 (each key once in the GET_NEXT_KEY walk, 0 observed links kept)"
        );
        let slots = Allowed::Slots(
            vec![
                (vec![0], Slot::Empty),
                (vec![1], Slot::Id(Some(Handle::map(3)))),
                (vec![2], Slot::Unreadable),
            ],
            Walk::default(),
        );
        assert_eq!(text(&slots), "ok slots=3 {01:m3, 02:unreadable}");
        let one = Allowed::OneOf(vec![Ok(Ret::Unit), Err(Errno::EPERM)], "why");
        assert_eq!(text(&one), "one of {ok, EPERM} (why)");
        let either = |n: usize| Allowed::Either(vec![Allowed::Exactly(Ok(Ret::Unit)); n], "w");
        assert_eq!(text(&either(3)), "what one of 3 states allows (w): ok | ok | ok");
        assert_eq!(
            text(&either(4)),
            "what one of 4 states allows (w): ok | ok | ok | ..."
        );
        assert_eq!(text(&either(2)), "what one of 2 states allows (w): ok | ok");
        let arr = Allowed::ArrayState {
            max_entries: 4,
            value_len: 1,
            written: BTreeMap::from([(1, vec![1])]),
        };
        assert_eq!(
            text(&arr),
            "ok entries=4 (1 non-zero, GET_NEXT_KEY walk 0..4 in order)"
        );
        for (a, single) in [
            (Allowed::Exactly(Ok(Ret::Unit)), true),
            (exact(2), true),
            (arr, true),
            (Allowed::Slots(Vec::new(), Walk::Exact(Vec::new())), true),
            (slots, false),
            (linked, false),
            (one, false),
            (either(2), false),
            (any(&[], true), false),
        ] {
            assert_eq!(a.is_single(), single, "{a}");
        }
    }

    /// `why_of` names the reason the model gave the errno that was seen: from an exact
    /// answer, a set (the matching member, not the first), each set of an `Either`, a
    /// batch's errno that came with a count (only an answer the set has, compared whole), a
    /// random-seed bucket walk's end or first bucket too large (only a batch the rule
    /// admits), an open hash walk's end; nothing for an errno the model did not allow.
    #[test]
    fn why_of_names_the_models_reason_for_the_errno_seen() {
        use crate::reason::Why;
        let (einval, enoent, eperm, enospc) = (Errno::EINVAL, Errno::ENOENT, Errno::EPERM, Errno::ENOSPC);
        let flags = Allowed::Exactly(Err(einval.because(Why::Flags)));
        assert_eq!(flags.why_of(&Err(einval)), Some(Why::Flags));
        assert_eq!(flags.why_of(&Err(eperm)), None);
        assert_eq!(flags.why_of(&Ok(Ret::Unit)), None);
        assert_eq!(Allowed::Exactly(Err(einval)).why_of(&Err(einval)), None);
        let set = Allowed::OneOf(
            vec![
                Err(enoent.because(Why::NoKey)),
                Err(einval.because(Why::Flags)),
                Ok(Ret::Unit),
            ],
            "x",
        );
        assert_eq!(set.why_of(&Err(einval)), Some(Why::Flags));
        assert_eq!(set.why_of(&Err(enoent)), Some(Why::NoKey));
        assert_eq!(set.why_of(&Err(eperm)), None);
        let either = Allowed::Either(vec![Allowed::Exactly(Err(eperm.because(Why::Frozen))), set], "y");
        assert_eq!(either.why_of(&Err(eperm)), Some(Why::Frozen));
        assert_eq!(either.why_of(&Err(einval)), Some(Why::Flags));
        let open = |may_end| Allowed::AnyKeyExcept {
            except: BTreeSet::new(),
            may_end,
        };
        assert_eq!(open(true).why_of(&Err(enoent)), Some(Why::End));
        assert_eq!(open(true).why_of(&Err(einval)), None);
        assert_eq!(open(false).why_of(&Err(enoent)), None);
        // Batches: the errno rides in the answer; the model's tag comes from its equal.
        let batch = |err: Option<Errno>, count: u32, keys: &[u8], to: u32| Batch {
            err,
            count,
            keys: keys.iter().map(|k| vec![*k]).collect(),
            values: keys.iter().map(|k| vec![*k * 10]).collect(),
            out: Some(to.to_le_bytes().to_vec()),
            ids: Vec::new(),
        };
        let seen = |b: Batch| Ok(Ret::Batch(b));
        let end = Allowed::Exactly(seen(batch(Some(enoent.because(Why::End)), 2, &[1, 2], 2)));
        assert_eq!(
            end.why_of(&seen(batch(Some(enoent), 2, &[1, 2], 2))),
            Some(Why::End)
        );
        assert_eq!(end.why_of(&seen(batch(Some(enoent), 1, &[1], 1))), None);
        let both = Allowed::OneOf(
            vec![
                seen(batch(Some(enoent.because(Why::End)), 2, &[1, 2], 2)),
                seen(batch(Some(enospc.because(Why::BatchSpace)), 0, &[], 0)),
            ],
            "x",
        );
        assert_eq!(
            both.why_of(&seen(batch(Some(enospc), 0, &[], 0))),
            Some(Why::BatchSpace)
        );
        assert_eq!(
            both.why_of(&seen(batch(Some(enoent), 2, &[1, 2], 2))),
            Some(Why::End)
        );
        assert_eq!(both.why_of(&seen(batch(Some(enospc), 0, &[], 1))), None);
        // Keys 1 and 3 in bucket 1, 2 in bucket 2, 4 in bucket 3 of 4.
        let rule = |from: u32, max: u32| {
            Allowed::Buckets(BucketRule {
                from,
                max,
                n_buckets: 4,
                present: [(1, 1), (2, 2), (3, 1), (4, 3)]
                    .map(|(k, b)| (vec![k], vec![k * 10], vec![(b, b + 1)]))
                    .to_vec(),
                links: Links::new(),
            })
        };
        let admitted = |r: &Allowed, b: &Batch| matches!(r, Allowed::Buckets(x) if x.admits(b));
        let all = |err| batch(err, 4, &[1, 3, 2, 4], 4);
        assert!(admitted(&rule(0, 4), &all(Some(enoent))));
        assert_eq!(rule(0, 4).why_of(&seen(all(Some(enoent)))), Some(Why::End));
        assert!(!admitted(&rule(0, 4), &all(Some(einval))));
        assert_eq!(rule(0, 4).why_of(&seen(all(Some(einval)))), None);
        let short = batch(Some(enoent), 2, &[1, 3], 4);
        assert!(!admitted(&rule(0, 4), &short));
        assert_eq!(rule(0, 4).why_of(&seen(short)), None);
        let too_large = batch(Some(enospc), 0, &[], 1);
        assert!(admitted(&rule(0, 1), &too_large));
        assert_eq!(rule(0, 1).why_of(&seen(too_large.clone())), Some(Why::BatchSpace));
        assert!(!admitted(&rule(2, 1), &too_large));
        assert_eq!(rule(2, 1).why_of(&seen(too_large)), None);
    }

    #[test]
    fn admits_each_kind_of_set() {
        let present = |k: &[u8]| k == [1] || k == [2];
        let any = Allowed::AnyKeyExcept {
            except: BTreeSet::from([vec![1]]),
            may_end: false,
        };
        assert!(any.admits(&Ok(Ret::Key(vec![2])), &present));
        assert!(
            !any.admits(&Ok(Ret::Key(vec![1])), &present),
            "not the key passed in"
        );
        assert!(!any.admits(&Ok(Ret::Key(vec![3])), &present), "not an absent key");
        assert!(
            !any.admits(&Err(Errno::ENOENT), &present),
            "the walk cannot end yet"
        );
        let end = Allowed::AnyKeyExcept {
            except: BTreeSet::new(),
            may_end: true,
        };
        assert!(end.admits(&Err(Errno::ENOENT), &present));
        assert!(!end.admits(&Err(Errno::EINVAL), &present));
        let want = state(&[1, 2], &[5, 6], None);
        let st = Allowed::State(want.clone(), Walk::default());
        assert!(st.admits(&Ok(Ret::State(state(&[1, 2], &[5, 6], Some(&[2, 1])))), &present));
        assert!(!st.admits(&Ok(Ret::State(state(&[1, 2], &[5, 7], None))), &present));
        assert!(!st.admits(&Ok(Ret::State(state(&[1, 2], &[5, 6], Some(&[2, 2])))), &present));
        let mut wide = want.clone();
        wide.key_size = 2;
        assert!(!st.admits(&Ok(Ret::State(wide)), &present));
        let arr = Allowed::ArrayState {
            max_entries: 2,
            value_len: 1,
            written: BTreeMap::from([(1, vec![9])]),
        };
        let a = |vals: &[u8], keys: &[u32]| {
            let k: Vec<u8> = keys.iter().flat_map(|i| i.to_le_bytes()).collect();
            Ok(Ret::State(MapState {
                key_size: 4,
                value_size: 1,
                keys: k,
                values: vals.to_vec(),
                walk: None,
            }))
        };
        assert!(arr.admits(&a(&[0, 9], &[0, 1]), &present));
        assert!(!arr.admits(&a(&[0, 8], &[0, 1]), &present), "the written value");
        assert!(
            !arr.admits(&a(&[1, 9], &[0, 1]), &present),
            "zeroes where nothing was written"
        );
        assert!(
            !arr.admits(&a(&[0, 9, 0], &[0, 1, 2]), &present),
            "index max_entries"
        );
        assert!(!arr.admits(&a(&[0], &[0]), &present), "every index");
        assert!(!arr.admits(&a(&[0, 0], &[0, 2]), &present), "index 2 of 2");
    }

    /// An id as a script writes it, as a token, and as a state's 4-byte cell: a map handle
    /// below 0xffff has a cell of its own, anything else the unknown id's; bytes stay bytes.
    #[test]
    fn ids_print_parse_and_fill_cells() {
        let m1 = Handle::map(1);
        assert_eq!(value_text(&id_bytes(Some(m1))), "id:m1");
        assert_eq!(value_text(&id_bytes(None)), "id:?");
        assert_eq!(value_text(&[0x69, 0x64]), "6964");
        assert_eq!(token_id(&id_bytes(Some(m1))), Some(Some(m1)));
        assert_eq!(token_id(b"id:zz"), None);
        assert_eq!(token_id(b"id:m01"), None);
        assert_eq!(value_text(b"id:m01"), "69643a6d3031");
        assert_eq!(id_cell(Some(m1)), (ID_CELL | 1).to_le_bytes());
        assert_eq!(id_cell(Some(Handle::map(0xfffe))), 0xe1d0_fffe_u32.to_le_bytes());
        for h in [None, Some(Handle::map(0xffff)), Some(Handle::prog(1))] {
            assert_eq!(id_cell(h), UNKNOWN_ID_CELL.to_le_bytes(), "{h:?}");
        }
        assert_eq!(*state_cell(&id_bytes(Some(m1))), (ID_CELL | 1).to_le_bytes());
        assert_eq!(*state_cell(&[1, 2, 3, 4]), [1, 2, 3, 4]);
        // Elsewhere bytes that spell a token stay bytes.
        assert_eq!(*cell_if(false, b"id:?"), *b"id:?");
        assert_eq!(*cell_if(true, b"id:?"), UNKNOWN_ID_CELL.to_le_bytes());
        // A divergence in a map holding ids names the ids behind the cells.
        // A map holding ids: its state has the cells (`ValueMap::state` with `ids`).
        let written = BTreeMap::from([(0u32, id_cell(Some(m1)).to_vec())]);
        let arr = Allowed::ArrayState {
            max_entries: 1,
            value_len: 4,
            written,
        };
        let got = |v: [u8; 4]| {
            Ok(Ret::State(MapState {
                key_size: 4,
                value_size: 4,
                keys: 0u32.to_le_bytes().to_vec(),
                values: v.to_vec(),
                walk: None,
            }))
        };
        assert!(arr.admits(&got(id_cell(Some(m1))), &|_| true));
        assert!(!arr.admits(&got(id_cell(Some(Handle::map(2)))), &|_| true));
        assert_eq!(
            arr.explain(&got(id_cell(None))).unwrap(),
            "key 00000000: model value 0100d0e1 (id:m1 in a map holding ids), kernel value ffffd0e1 (id:? in a map holding ids)"
        );
        assert_eq!(cell_text(&[1, 0, 0, 0]), "01000000");
        // A state that is not whole is said, never indexed.
        let mut torn = state(&[1, 2], &[5, 6], None);
        torn.values.push(7);
        let st = Allowed::State(state(&[1, 2], &[5, 6], None), Walk::default());
        assert!(st.explain(&Ok(Ret::State(torn))).unwrap().contains("not whole"));
    }

    #[test]
    fn explain_names_the_first_difference() {
        let st = Allowed::State(state(&[1, 2], &[5, 6], None), Walk::default());
        let got = |k: &[u8], v: &[u8], w: Option<&[u8]>| Ok(Ret::State(state(k, v, w)));
        let e = |o| st.explain(&o).unwrap();
        assert_eq!(
            e(got(&[1, 2], &[5, 7], None)),
            "key 02: model value 06, kernel value 07"
        );
        assert_eq!(
            e(got(&[1, 3], &[5, 6], None)),
            "kernel has key 03 that the model does not"
        );
        assert!(e(got(&[1], &[5], None)).contains("returned 1 entries"));
        assert!(e(got(&[1, 2], &[5, 6], Some(&[1, 1]))).contains("visited 2 keys for 2 entries"));
        // The model's own state not whole (a value short) is said, whatever the kernel's.
        let short = Allowed::State(state(&[1, 2], &[5], None), Walk::default());
        assert!(short
            .explain(&got(&[1, 2], &[5, 6], None))
            .unwrap()
            .starts_with("a state is not whole: model 2 keys, 1 value bytes"));
        let mut wide = state(&[1], &[5, 5], None);
        wide.value_size = 2;
        assert_eq!(
            st.explain(&Ok(Ret::State(wide))).unwrap(),
            "value size: model 1, kernel 2"
        );
        let arr = Allowed::ArrayState {
            max_entries: 1,
            value_len: 1,
            written: BTreeMap::new(),
        };
        let over = MapState {
            key_size: 4,
            value_size: 1,
            keys: 1u32.to_le_bytes().to_vec(),
            values: vec![0],
            walk: None,
        };
        assert_eq!(
            arr.explain(&Ok(Ret::State(over))).unwrap(),
            "kernel has key 01000000 that the model does not"
        );
        // Below max_entries an unwritten index is expected to read as zeroes.
        let wrong = MapState {
            key_size: 4,
            value_size: 1,
            keys: 0u32.to_le_bytes().to_vec(),
            values: vec![7],
            walk: None,
        };
        assert_eq!(
            arr.explain(&Ok(Ret::State(wrong))).unwrap(),
            "key 00000000: model value 00, kernel value 07"
        );
        assert_eq!(Allowed::Exactly(Ok(Ret::Unit)).explain(&Ok(Ret::Unit)), None);
        let slots = Allowed::Slots(vec![(vec![0], Slot::Empty)], Walk::default());
        let got_slots = |s: Vec<(Vec<u8>, Slot)>, walk_ok| {
            Ok(Ret::Slots(Slots {
                slots: s,
                walk_ok,
                walk: Vec::new(),
            }))
        };
        assert!(slots
            .explain(&got_slots(vec![], false))
            .unwrap()
            .contains("twice"));
        assert_eq!(
            slots
                .explain(&got_slots(vec![(vec![0], Slot::Unreadable)], true))
                .unwrap(),
            "key 00: model empty, kernel unreadable"
        );
        assert_eq!(
            slots.explain(&got_slots(vec![], true)).unwrap(),
            "model has 1 keys, kernel 0"
        );
    }

    /// A walk rule refuses the first step that leaves it: an exact order anywhere (also a
    /// walk too short or too long), observed links only where they were observed.
    #[test]
    fn walk_rules_name_the_first_step_they_refuse() {
        let w = |keys: &[u8]| keys.iter().map(|k| vec![*k]).collect::<Vec<_>>();
        let refused = |rule: &Walk, keys: &[u8]| rule.first_refused(w(keys).iter().map(Vec::as_slice));
        let exact = Walk::Exact(w(&[2, 1]));
        assert_eq!(refused(&exact, &[2, 1]), None);
        assert_eq!(refused(&exact, &[1, 2]), Some((0, Some(vec![2]))));
        assert_eq!(refused(&exact, &[2]), Some((1, Some(vec![1]))));
        assert_eq!(refused(&exact, &[2, 1, 3]), Some((2, None)));
        let links = Walk::Links(Links::from([
            (Some(vec![1]), Some(vec![3])),
            (Some(vec![3]), None),
        ]));
        assert_eq!(refused(&links, &[2, 1, 3]), None);
        assert_eq!(refused(&links, &[1, 2, 3]), Some((1, Some(vec![3]))));
        assert_eq!(
            refused(&links, &[2, 3, 1]),
            Some((2, None)),
            "3 was seen to be last"
        );
        assert_eq!(refused(&Walk::default(), &[3, 1, 2]), None);
        // A Slots observation is held to its rule too, and the report says where.
        let want = vec![(vec![1], Slot::Empty), (vec![2], Slot::Empty)];
        let got = |walk: &[u8]| {
            Ok(Ret::Slots(Slots {
                slots: want.clone(),
                walk_ok: true,
                walk: w(walk),
            }))
        };
        let slots = Allowed::Slots(want.clone(), Walk::Exact(w(&[1, 2])));
        let none = |_: &[u8]| false;
        assert!(slots.admits(&got(&[1, 2]), &none));
        assert!(!slots.admits(&got(&[2, 1]), &none));
        assert_eq!(
            slots.explain(&got(&[2, 1])).unwrap(),
            "GET_NEXT_KEY walk step 0 (after NULL): model key 01, kernel key 02"
        );
    }

    #[test]
    fn expectations_match_and_print() {
        assert!(Expect::AnyOk.matches(&Ok(Ret::Unit)) && !Expect::AnyOk.matches(&Err(Errno::EPERM)));
        let e = Expect::Exactly(Err(Errno::ENOENT));
        assert!(
            e.matches(&Err(Errno::ENOENT)) && !e.matches(&Err(Errno::EINVAL)) && !e.matches(&Ok(Ret::Unit))
        );
        assert_eq!(e.to_string(), "ENOENT");
        assert_eq!(Expect::AnyOk.to_string(), "ok");
        assert_eq!(Expect::of(&Ok(Ret::Slots(Slots::default()))), Expect::Slots(0));
        // A recorded size is compared; a bare `ok` is not any success.
        let one = Ok(Ret::State(MapState {
            key_size: 1,
            value_size: 1,
            keys: vec![1],
            values: vec![2],
            walk: None,
        }));
        assert!(Expect::Entries(1).matches(&one) && !Expect::Entries(999).matches(&one));
        assert!(Expect::AnyOk.matches(&one) && !Expect::AnyOk.matches(&Ok(Ret::Alive(true))));
        assert!(Expect::Any.matches(&Err(Errno::EPERM)));
        assert_eq!(Expect::of(&Ok(Ret::Count(2))).to_string(), "ok count=2");
    }

    /// An ARRAY's walk is its indices in order; the sorted comparison hash maps get would
    /// accept a reordered one.
    #[test]
    fn array_walks_must_be_in_index_order() {
        let st = |walk: &[u32]| MapState {
            key_size: 4,
            value_size: 1,
            keys: (0..3u32).flat_map(|i| i.to_le_bytes()).collect(),
            values: vec![0; 3],
            walk: Some(walk.iter().flat_map(|i| i.to_le_bytes()).collect()),
        };
        assert!(st(&[0, 1, 2]).walk_is_array_order(3));
        assert!(st(&[0, 2, 1]).walk_visits_each_key_once() && !st(&[0, 2, 1]).walk_is_array_order(3));
        assert!(!st(&[0, 1]).walk_is_array_order(3) && !st(&[0, 1, 2, 0]).walk_is_array_order(3));
        let arr = Allowed::ArrayState {
            max_entries: 3,
            value_len: 1,
            written: BTreeMap::new(),
        };
        assert!(arr.admits(&Ok(Ret::State(st(&[0, 1, 2]))), &|_| false));
        assert!(!arr.admits(&Ok(Ret::State(st(&[0, 2, 1]))), &|_| false));
        let why = arr.explain(&Ok(Ret::State(st(&[1, 0, 2])))).unwrap();
        assert_eq!(
            why,
            "GET_NEXT_KEY walk is not 0..3 in order: 01000000,00000000,02000000"
        );
    }
}
