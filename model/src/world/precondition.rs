//! Preconditions: which scripts make sense at all (handles named before use, values of the
//! right kind), apart from what the kernel answers.

use super::*;

/// The most list states an LRU hash written by an unpinned case may be in (`World::split`):
/// each write multiplies them by the CPUs until the kernel's answers tell them apart, and
/// each op on the map is answered once per state.
pub const LRU_STATES: usize = 64;

impl World {
    /// Why `op` cannot run in this world (a stale script), or `Ok`.
    pub fn precondition(&self, op: &Op) -> Result<(), String> {
        if !self.profile.bpffs && matches!(op, Op::Pin { .. } | Op::Unpin { .. } | Op::GetPinned { .. }) {
            return Err("no private bpf filesystem can be mounted here".into());
        }
        let cgroup_op = matches!(
            op,
            Op::MakeCgroup { .. }
                | Op::OpenCgroup { .. }
                | Op::Rmdir { .. }
                | Op::Dying
                | Op::SettleDying { .. }
        );
        if !self.profile.cgroup2 && cgroup_op {
            return Err("no writable cgroup v2 mount here".into());
        }
        if self.limits.is_some() && matches!(op, Op::Dying | Op::SettleDying { .. }) {
            return Err("`dying` reads a file, which needs a spare fd: not in an fdtable case".into());
        }
        if let Some(h) = op.creates() {
            if self.used.contains(&h) {
                return Err(format!("{h} is already defined"));
            }
        }
        let open = |h: &Handle| {
            if self.fds.contains_key(h) {
                Ok(())
            } else {
                Err(format!("{h} is not open"))
            }
        };
        let fdref_ok = |r: &FdRef| match r {
            FdRef::Handle(h) => open(h),
            FdRef::Bad(_) => Ok(()),
        };
        let made = |h: &Handle| self.object_of(*h).ok_or_else(|| format!("{h} was never created"));
        let needs_table = matches!(op, Op::SetRlimit { .. } | Op::DropCap | Op::IdGap { .. });
        if needs_table && self.limits.is_none() {
            return Err(format!("`{}` needs a case that starts with `fdtable`", op.kind()));
        }
        match op {
            Op::FdTable => {
                if self.limits.is_some() || !self.used.is_empty() {
                    return Err("`fdtable` must be the first op of a case".into());
                }
                return Ok(());
            }
            Op::SetRlimit { .. } | Op::DropCap => return Ok(()),
            Op::IdGap { from, to } => {
                return match (self.id_ord.get(from), self.id_ord.get(to)) {
                    (Some(a), Some(b)) if a < b => Ok(()),
                    (Some(_), Some(_)) => Err(format!("{from} must be created before {to}")),
                    _ => Err("idgap compares two maps this case created".into()),
                };
            }
            Op::CreateMap { spec, .. } => {
                if let MapType::Other(n) = spec.map_type {
                    if n != 0 && n < 64 {
                        return Err(format!("map type {n} is not modelled"));
                    }
                }
                if spec.name.len() > 16 {
                    return Err("map name longer than 16 bytes".into());
                }
                // The model keeps every LRU node (`lru.rs`); past E2BIG's bound it would not.
                let lru_nodes =
                    spec.max_entries > 1 << 20 && spec.max_entries <= self.profile.hash_max_entries;
                if spec.map_type.is_lru() && lru_nodes {
                    return Err("the model keeps every LRU node: at most 2^20 entries".into());
                }
                match (spec.map_type.is_map_in_map(), spec.inner) {
                    (true, None) => return Err("a map-in-map needs inner=".into()),
                    (false, Some(_)) => return Err("inner= is only for map-in-map types".into()),
                    (_, Some(r)) => fdref_ok(&r)?,
                    _ => {}
                }
                return Ok(());
            }
            Op::Close { handle } => return open(handle),
            // A program fd answers with a `bpf_prog_info`, which the model does not predict.
            Op::Info { map } => {
                fdref_ok(map)?;
                return match map {
                    FdRef::Handle(h) if h.kind == Kind::Prog => Err(format!(
                        "`info {h}`: info reads map fds; a program's is bpf_prog_info"
                    )),
                    _ => Ok(()),
                };
            }
            Op::FdById { handle, target, .. } => {
                if !matches!(handle.kind, Kind::Map | Kind::Prog) {
                    return Err("fd_by_id is for maps and programs".into());
                }
                let o = made(target)?;
                if o.life == Life::Pending {
                    return Err(format!("{target}'s release is pending: settle it first"));
                }
                let prog_array = matches!(&o.body, Body::Map(m) if m.spec.map_type == MapType::ProgArray);
                let no_fd = !self
                    .fds
                    .values()
                    .any(|f| Some(&f.obj) == self.created.get(target));
                if prog_array && no_fd {
                    return Err(format!(
                        "{target} lost its user references: a new fd races prog_array_map_clear"
                    ));
                }
                return Ok(());
            }
            Op::Alive { target } | Op::Settle { target } => {
                if !matches!(target.kind, Kind::Map | Kind::Prog) {
                    return Err("alive and settle observe maps and programs (by id)".into());
                }
                made(target)?;
                return Ok(());
            }
            Op::OpenCgroup { target, .. } | Op::Rmdir { target } => {
                if target.kind != Kind::Cgroup {
                    return Err(format!("{target} is not a cgroup handle"));
                }
                made(target)?;
                return Ok(());
            }
            Op::LoadProg { uses, .. } => return uses.iter().try_for_each(fdref_ok),
            Op::ProgElem {
                call,
                map,
                key,
                value,
                ..
            } => return self.prog_elem_ok(*call, *map, key, value),
            // A `cpu_set_t` holds CPUs 0-1023.
            Op::Cpu { cpu } if *cpu >= 1024 => return Err("cpu takes a CPU below 1024".into()),
            Op::Cpu { .. } => return Ok(()),
            Op::MakeCgroup { .. } | Op::OpenPerf { .. } | Op::Dying | Op::SettleDying { .. } => return Ok(()),
            Op::Pin { target } => return open(target),
            Op::Unpin { target } => {
                return match self.used.contains(target) {
                    true => Ok(()),
                    false => Err(format!("{target} was never defined")),
                }
            }
            Op::GetPinned { handle, target, .. } => {
                if !matches!(handle.kind, Kind::Map | Kind::Prog) {
                    return Err("get_pinned makes map or program handles".into());
                }
                return match self.pins.get(target).map(|o| &self.objects[o].body) {
                    Some(Body::Map(_)) if handle.kind != Kind::Map => Err(format!("{target} pins a map")),
                    Some(Body::Prog(..)) if handle.kind != Kind::Prog => {
                        Err(format!("{target} pins a program"))
                    }
                    _ => Ok(()),
                };
            }
            // Element ops: checked below. (No `_` arm: a new op must say what it needs.)
            Op::Fill { .. }
            | Op::Update { .. }
            | Op::Lookup { .. }
            | Op::Delete { .. }
            | Op::GetNextKey { .. }
            | Op::LookupAndDelete { .. }
            | Op::LookupBatch { .. }
            | Op::UpdateBatch { .. }
            | Op::DeleteBatch { .. }
            | Op::Freeze { .. }
            | Op::Check { .. } => {}
        }
        let Some(map_ref) = op.map_ref() else {
            unreachable!("element ops name a map")
        };
        fdref_ok(&map_ref)?;
        // The map an `id:` names, whatever fd the write goes through (the backend asks the
        // kernel for its id before the write).
        let named = match op {
            Op::Update { value, .. } => std::slice::from_ref(value),
            Op::UpdateBatch { values, .. } => values.as_slice(),
            _ => &[],
        };
        named.iter().try_for_each(|v| match v {
            Value::Id(id) => self.named_id_ok(*id),
            _ => Ok(()),
        })?;
        let FdRef::Handle(h) = map_ref else { return Ok(()) };
        // An element op through a non-map fd is fine (EINVAL); sizes only matter for maps.
        let Some(m) = self.map(h) else { return Ok(()) };
        // Which node an LRU update takes depends on the CPU it runs on: unpinned, each write
        // is one list state per CPU (`World::split`), as many as the model follows; a batch
        // or a fill may move to another CPU between elements (`generic_map_update_batch`'s
        // `cond_resched`), one state per CPU per element.
        if let (MapData::Values(v), None) = (&m.data, self.cpu) {
            let states = v.states() * self.profile.possible_cpus.max(1) as usize;
            match op {
                _ if !v.needs_cpu() => {}
                Op::Update { .. } if states > LRU_STATES => {
                    return Err(format!(
                        "{h} is an LRU hash whose unpinned writes may have left {} list states, and \
                         the model follows at most {LRU_STATES}: pin the case (`cpu 0`) or let \
                         answers tell them apart first",
                        v.states()
                    ))
                }
                Op::UpdateBatch { .. } | Op::Fill { .. } => {
                    return Err(format!(
                        "{h} is an LRU hash: pin the case to a CPU (`cpu 0`) before a batch write"
                    ))
                }
                _ => {}
            }
        }
        let key_ok = |k: &[u8]| k.len() == m.spec.key_size as usize;
        match op {
            Op::Update {
                key, value, flags, ..
            } => {
                // With the CPU flags either buffer will do: the kernel reads the first value.
                let want = self.value_len_for(&m.spec, *flags);
                let full = self.value_len(&m.spec);
                if !key_ok(key) {
                    return Err(format!("{h} takes {}-byte keys", m.spec.key_size));
                }
                match (m.spec.map_type.holds_fds(), value) {
                    (true, Value::Fd(r)) => fdref_ok(r),
                    (true, _) => Err(format!("{h} holds fds: value=fd:<handle>")),
                    (false, Value::Fd(_)) => Err(format!("{h} holds bytes, not fds")),
                    (false, Value::Bytes(b)) if b.len() != want && b.len() != full => {
                        Err(format!("{h} takes {want}-byte values"))
                    }
                    (false, v) => self.id_value_ok(h, m, v),
                }
            }
            // A bloom filter peeks for a value (the buffer is read); every other map writes it.
            Op::Lookup { input, .. } if m.spec.map_type == MapType::BloomFilter => {
                let vl = self.value_len(&m.spec);
                match input.len() == vl {
                    true => Ok(()),
                    false => Err(format!("{h} peeks for {vl}-byte values: value=<hex>")),
                }
            }
            Op::Lookup { input, .. } if !input.is_empty() => Err(format!(
                "lookup value= is the value a bloom filter peeks for; {h} is {}",
                m.spec.map_type.word()
            )),
            Op::Lookup { key, .. } | Op::Delete { key, .. } | Op::LookupAndDelete { key, .. }
                if !key_ok(key) =>
            {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            Op::GetNextKey { key: Some(key), .. } if !key_ok(key) => {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            Op::UpdateBatch { keys, .. } | Op::DeleteBatch { keys, .. }
                if !keys.iter().all(|k| key_ok(k)) =>
            {
                Err(format!("{h} takes {}-byte keys", m.spec.key_size))
            }
            Op::UpdateBatch { keys, values, .. } if keys.len() != values.len() => {
                Err("update_batch takes one value per key".into())
            }
            Op::UpdateBatch { values, .. } if m.spec.map_type.holds_fds() => {
                values.iter().try_for_each(|v| match v {
                    Value::Fd(r) => fdref_ok(r),
                    _ => Err(format!("{h} holds fds: values=fd:<handle>,...")),
                })
            }
            Op::UpdateBatch { values, .. } => {
                let vl = self.value_len(&m.spec);
                match values
                    .iter()
                    .all(|v| matches!(v, Value::Bytes(b) if b.len() == vl) || matches!(v, Value::Id(_)))
                {
                    true if values.iter().any(|v| matches!(v, Value::Id(_)))
                        && values
                            .iter()
                            .any(|v| v.bytes().is_some_and(|b| b.iter().any(|x| *x != 0))) =>
                    {
                        Err(format!(
                            "update_batch writes ids and bytes into {h}: a map holds one or the other"
                        ))
                    }
                    true => values.iter().try_for_each(|v| self.id_value_ok(h, m, v)),
                    false => Err(format!("{h} takes {vl}-byte values")),
                }
            }
            Op::LookupBatch { count, .. } if *count > MAX_BATCH => Err(format!(
                "lookup_batch count={count}: the buffers hold at most {MAX_BATCH}"
            )),
            Op::LookupBatch { cursor: Some(c), .. } if c.len() != batch_cursor_len(&m.spec) => Err(format!(
                "{h}'s batch cursor is {} bytes ({})",
                batch_cursor_len(&m.spec),
                if is_bucket_cursor(m.spec.map_type) {
                    "a u32 bucket index"
                } else {
                    "a key"
                }
            )),
            // A scale run's fill: every element an insert that succeeds (distinct keys, room
            // for all), so the batch's one count says everything.
            Op::Fill { n, from, .. } => {
                let (empty, v) = match &m.data {
                    MapData::Values(v) => (v.is_empty(), v),
                    MapData::Fds(_) => return Err(format!("fill writes bytes; {h} holds fds")),
                };
                let key_space = 1u64 << (8 * m.spec.key_size.min(4));
                // An LRU hash makes room by evicting: every new key is an insert that succeeds.
                let lru = m.spec.map_type.is_lru();
                // (Looked for in an LRU hash only: the others are filled from empty.)
                let present =
                    || (0..*n).find(|i| v.has_key(&crate::op::fill_key(m.spec.key_size as usize, from + i)));
                if lru && !m.frozen && m.ids != Some(true) {
                    match present() {
                        _ if u64::from(*from) + u64::from(*n) > key_space => Err(format!(
                            "fill n={n} from={from}: {h}'s {}-byte keys number {key_space}",
                            m.spec.key_size
                        )),
                        Some(i) => Err(format!("fill writes new keys; {h} has element {}", from + i)),
                        None => Ok(()),
                    }
                } else if *from > 0 {
                    Err("fill from=K takes an LRU hash (other maps are filled from empty)".into())
                } else if !MapType::MODELLED.contains(&m.spec.map_type) {
                    // fill_key writes i into the key's first bytes: an LPM prefixlen.
                    Err(format!(
                        "fill takes an array or hash; {h} is {}",
                        m.spec.map_type.word()
                    ))
                } else if m.ids == Some(true) {
                    Err(format!("fill writes bytes; {h} holds ids"))
                } else if !empty || m.frozen {
                    Err(format!("fill needs {h} empty and not frozen"))
                } else if u64::from(*n) > u64::from(m.spec.max_entries).min(key_space) {
                    Err(format!(
                        "fill n={n}: {h} has room for {}",
                        u64::from(m.spec.max_entries).min(key_space)
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }?;
        // BPF_F_CPU in a batch (7.0) changes the value stride: not modelled.
        let cpu_batch = |f: u64| {
            self.profile.percpu_cpu_flags && m.spec.map_type.is_percpu() && f & (F_CPU | F_ALL_CPUS) != 0
        };
        match op {
            Op::LookupBatch { elem_flags, .. } | Op::UpdateBatch { elem_flags, .. }
                if cpu_batch(*elem_flags) =>
            {
                Err("BPF_F_CPU and BPF_F_ALL_CPUS in a batch are not modelled yet".into())
            }
            _ => Ok(()),
        }
    }
}

/// The most elements a batch lookup asks for (its buffers are allocated in full).
pub const MAX_BATCH: u32 = 1 << 16;

/// Hash-shaped maps walk by bucket (`__htab_map_lookup_and_delete_batch`), the rest by key
/// (`generic_map_lookup_batch`).
pub fn is_bucket_cursor(t: MapType) -> bool {
    matches!(t, MapType::Hash | MapType::PercpuHash | MapType::HashOfMaps) || t.is_lru()
}

/// The bytes the kernel reads from `in_batch`: a u32 bucket index, or a key.
pub fn batch_cursor_len(spec: &MapSpec) -> usize {
    match is_bucket_cursor(spec.map_type) {
        true => 4,
        false => spec.key_size as usize,
    }
}

impl World {
    /// An update's value and what the map holds (`MapObj::ids`): an `id:` value is an open
    /// map's id written as the 4 bytes of a map of bytes that is neither per-CPU (a value for
    /// every CPU) nor a bloom filter (its bits hash the value); a map holds ids and zeros, or
    /// bytes, so that the backend can read its values back as ids.
    fn id_value_ok(&self, h: Handle, m: &MapObj, v: &Value) -> Result<(), String> {
        match v {
            Value::Id(id) => {
                let t = m.spec.map_type;
                if t.is_percpu() || t == MapType::BloomFilter || m.spec.value_size != 4 {
                    return Err(format!(
                        "id: values go into maps of 4-byte values, not per-CPU or bloom filters; {h} is {} of {}-byte values",
                        t.word(),
                        m.spec.value_size
                    ));
                }
                self.named_id_ok(*id)?;
                match m.ids {
                    Some(false) => Err(format!(
                        "{h} was written bytes (even by a write that failed): an id among them could not be told from them"
                    )),
                    _ => Ok(()),
                }
            }
            Value::Bytes(b) if m.ids == Some(true) && b.iter().any(|x| *x != 0) => {
                Err(format!("{h} holds ids: only ids and zeros go in"))
            }
            _ => Ok(()),
        }
    }

    /// `id:X` names an open map fd, whose map was made by a handle below m65535: a state cell
    /// holds the creator's number in 16 bits and gives the top one to an unknown id
    /// (`outcome::id_cell`), which the model must never expect.
    fn named_id_ok(&self, id: Handle) -> Result<(), String> {
        let creator = match self.fds.get(&id) {
            Some(fd) if id.kind == Kind::Map && self.map(id).is_some() => self.objects[&fd.obj].creator,
            _ => return Err(format!("id:{id} names no open map fd")),
        };
        match creator.n < 0xffff {
            true => Ok(()),
            false => Err(format!(
                "id:{id} names a map made by {creator}: ids of maps made by handles below m65535 only"
            )),
        }
    }
}

impl World {
    /// What a program-side op needs: an open read-write fd of a map of bytes with keys
    /// (`prog_elem_type`), without the verifier's BPF_F_RDONLY_PROG/WRONLY_PROG checks (not
    /// modelled), a key and one CPU's value that fit the program's stack with room to spare,
    /// a per-CPU update of whole 8-byte words (the padding a helper writes is not modelled),
    /// and a pinned case where the CPU matters (per-CPU maps, LRU hashes).
    fn prog_elem_ok(&self, call: Call, map: Handle, key: &[u8], value: &[u8]) -> Result<(), String> {
        let fd = self.fds.get(&map).ok_or_else(|| format!("{map} is not open"))?;
        let m = self.map(map).ok_or_else(|| format!("{map} is not a map"))?;
        let t = m.spec.map_type;
        // A keyless map's program would pass a key of no bytes at the frame pointer, which
        // the verifier judges before the map's type (EACCES): not a map's answer.
        if !World::prog_elem_type(t) && !t.holds_fds() {
            return Err(format!("program-side ops are not modelled on {}", t.word()));
        }
        if fd.path || !fd.read || !fd.write {
            return Err(format!(
                "`prog` takes a read-write fd of the map; {map} is not one"
            ));
        }
        if m.spec.map_flags & (RDONLY_PROG | WRONLY_PROG) != 0 {
            return Err("the verifier's BPF_F_RDONLY_PROG/WRONLY_PROG checks are not modelled".into());
        }
        if m.ids == Some(true) && call == Call::Update {
            return Err(format!("{map} holds map ids: a program writes bytes"));
        }
        let vs = m.spec.value_size as usize;
        if key.len() != m.spec.key_size as usize {
            return Err(format!("{map} takes {}-byte keys", m.spec.key_size));
        }
        if call == Call::Update && value.len() != vs {
            return Err(format!("a program writes one CPU's value: {vs} bytes"));
        }
        if call != Call::Update && !value.is_empty() {
            return Err("only `prog update` takes a value".into());
        }
        if call == Call::Update && t.is_percpu() && !vs.is_multiple_of(8) {
            return Err("a program's per-CPU update is modelled for values of whole 8-byte words".into());
        }
        if key.len().div_ceil(8) * 8 + vs.div_ceil(8) * 8 > 448 {
            return Err("the program holds key and value on its stack: at most 448 bytes".into());
        }
        if (t.is_percpu() || t.is_lru()) && self.cpu.is_none() {
            return Err(format!(
                "{map}'s answer depends on the CPU the program runs on: pin the case (`cpu 0`) first"
            ));
        }
        Ok(())
    }
}
