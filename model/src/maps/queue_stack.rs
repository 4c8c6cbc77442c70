//! QUEUE and STACK: keyless rings of max_entries values (kernel/bpf/queue_stack_maps.c).
//! UPDATE pushes, LOOKUP peeks, LOOKUP_AND_DELETE pops (a queue its oldest, a stack its
//! newest); a push with BPF_EXIST into a full map drops the oldest, for a stack too.

use crate::errno::Errno;
use crate::fault::Fault;
use crate::maps::{Family, GenHints, ValueMap, NO_HINTS};
use crate::op::flags::*;
use crate::op::{FdRef, MapSpec, MapType, Op};
use crate::outcome::{Allowed, Outcome, Ret};
use crate::profile::Profile;
use crate::reason::Why;
use std::collections::VecDeque;

/// `QUEUE_STACK_CREATE_FLAG_MASK`: BPF_F_NUMA_NODE and the access flags.
const CREATE_FLAGS: u32 = NUMA_NODE | RDONLY | WRONLY | RDONLY_PROG | WRONLY_PROG;

/// `KMALLOC_MAX_SIZE` on x86_64 (4 MiB).
const KMALLOC_MAX_SIZE: u32 = 1 << 22;

/// QUEUE and STACK.
pub const FAMILY: Family = Family {
    types: &[MapType::Queue, MapType::Stack],
    keyless: true,
    map_extra: false,
    alloc_check: |s, _, _| alloc_check(s),
    too_many_entries: |_, _| false,
    alloc_bytes: |s, _| (s.max_entries as u64 + 1) * s.value_size as u64,
    new: Some(|s, value_len, _, faults| {
        Box::new(QueueStack {
            newest_out: s.map_type == MapType::Stack && !faults.contains(&Fault::StackPopsOldest),
            max_entries: s.max_entries,
            value_len,
            items: VecDeque::new(),
        })
    }),
    ok_ops: |_| {
        &[
            "create",
            "update",
            "lookup",
            "lookup_and_delete",
            "freeze",
            "close",
            "info",
        ]
    },
    batch: crate::maps::no_batch,
    gen: GenHints {
        key_size: Some(|_| 0),
        ..NO_HINTS
    },
};

/// `queue_stack_map_alloc_check`: one compound EINVAL in the kernel (each part its own path
/// here), then a value no syscall could copy (E2BIG). Root has CAP_BPF, so no EPERM.
fn alloc_check(s: &MapSpec) -> Result<(), Errno> {
    if s.max_entries == 0 {
        return Err(Why::NoEntries.errno());
    }
    if s.key_size != 0 {
        return Err(Why::KeySize.errno());
    }
    if s.value_size == 0 {
        return Err(Why::ValueSize.errno());
    }
    if s.map_flags & !CREATE_FLAGS != 0 {
        return Err(Why::Flags.errno());
    }
    // bpf_map_flags_access_ok: not both program-side read-only and write-only.
    if s.map_flags & (RDONLY_PROG | WRONLY_PROG) == RDONLY_PROG | WRONLY_PROG {
        return Err(Why::ProgAccess.errno());
    }
    if s.value_size > KMALLOC_MAX_SIZE {
        return Err(Why::ValueTooBig.errno());
    }
    Ok(())
}

/// The contents of one queue or stack, oldest first.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QueueStack {
    /// A stack peeks and pops its newest element, a queue its oldest.
    pub newest_out: bool,
    /// `max_entries`: the ring holds that many (it has one slot more, always free).
    pub max_entries: u32,
    /// `value_size`.
    pub value_len: usize,
    /// The elements, oldest first.
    pub items: VecDeque<Vec<u8>>,
}

impl QueueStack {
    /// The element a peek or pop reads (`__queue_map_get` / `__stack_map_get`).
    fn next_out(&self) -> Option<&Vec<u8>> {
        match self.newest_out {
            true => self.items.back(),
            false => self.items.front(),
        }
    }
}

impl ValueMap for QueueStack {
    /// `queue_map_peek_elem` / `stack_map_peek_elem` (syscall LOOKUP): empty is ENOENT.
    fn lookup(&self, _: &[u8]) -> Outcome {
        match self.next_out() {
            Some(v) => Ok(Ret::Value(v.clone())),
            None => Err(Why::Empty.errno()),
        }
    }

    /// `queue_stack_map_push_elem` (syscall UPDATE): NOEXIST or an unknown flag is EINVAL;
    /// full is E2BIG unless BPF_EXIST makes room.
    fn update(&self, _: &[u8], flags: u64, _: &[Fault]) -> Outcome {
        if flags & NOEXIST != 0 || flags > EXIST {
            return Err(Why::PushFlags.errno());
        }
        if self.items.len() >= self.max_entries as usize && flags & EXIST == 0 {
            return Err(Why::Full.errno());
        }
        Ok(Ret::Unit)
    }

    /// `queue_stack_map_delete_elem`: no deletes.
    fn delete(&self, _: &[u8], _: &[Fault]) -> Outcome {
        Err(Why::KeylessDelete.errno())
    }

    /// `queue_stack_map_get_next_key`: no keys to walk.
    fn next_key(&self, _: Option<&[u8]>, _: &[Fault]) -> Allowed {
        Allowed::Exactly(Err(Why::KeylessNextKey.errno()))
    }

    /// `queue_map_pop_elem` / `stack_map_pop_elem` (syscall LOOKUP_AND_DELETE, which has
    /// had them since 4.20).
    fn lookup_and_delete(&self, key: &[u8], _: &Profile) -> Outcome {
        self.lookup(key)
    }

    /// `bpf_map_do_batch`: no `map_lookup_batch` (the end of a case drains it instead).
    fn state(&self, _: usize, _: bool, _: &[Fault]) -> Allowed {
        Allowed::Exactly(Err(Why::KeylessBatch.errno()))
    }

    /// A push: into a full map (BPF_EXIST) the oldest element goes first.
    fn store(&mut self, _: &[u8], value: Vec<u8>, _: &[Fault]) {
        if self.items.len() >= self.max_entries as usize {
            self.items.pop_front();
        }
        self.items.push_back(value);
    }

    /// A pop.
    fn remove(&mut self, _: &[u8]) {
        match self.newest_out {
            true => self.items.pop_back(),
            false => self.items.pop_front(),
        };
    }

    fn value(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }

    /// It cannot be read back whole: pop it dry (destructive, so only at the end), one more
    /// than it can hold, so that the last pop shows it empty.
    fn read_back(&self, map: FdRef, can_read: bool, can_write: bool) -> Vec<Op> {
        if !can_read || !can_write || self.max_entries > 256 {
            return Vec::new();
        }
        let pop = Op::LookupAndDelete {
            map,
            key: Vec::new(),
            flags: 0,
        };
        vec![pop; self.max_entries as usize + 1]
    }

    fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.items.iter().map(|v| (Vec::new(), v.clone())).collect()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(stack: bool, max: u32) -> QueueStack {
        QueueStack {
            newest_out: stack,
            max_entries: max,
            value_len: 1,
            items: VecDeque::new(),
        }
    }

    /// test_maps.c's test_queuemap / test_stackmap in small: push to full, E2BIG, BPF_EXIST
    /// drops the oldest (a stack's bottom too), peek and pop from each end, ENOENT when empty,
    /// no delete, no walk, NOEXIST refused.
    #[test]
    fn push_peek_pop_as_the_selftests_do() {
        for stack in [false, true] {
            let mut m = map(stack, 3);
            assert_eq!(m.lookup(&[]), Err(Errno::ENOENT));
            for v in 1..=3u8 {
                assert_eq!(m.update(&[], ANY, &[]), Ok(Ret::Unit));
                m.store(&[], vec![v], &[]);
            }
            assert_eq!(m.update(&[], ANY, &[]), Err(Errno::E2BIG));
            assert_eq!(m.update(&[], NOEXIST, &[]), Err(Errno::EINVAL));
            assert_eq!(m.update(&[], 4, &[]), Err(Errno::EINVAL));
            assert_eq!(m.update(&[], EXIST, &[]), Ok(Ret::Unit));
            m.store(&[], vec![4], &[]);
            // 1 went: the queue holds 2 3 4, the stack 2 3 4 (bottom to top).
            let first = if stack { 4 } else { 2 };
            assert_eq!(m.lookup(&[]), Ok(Ret::Value(vec![first])));
            let mut popped = Vec::new();
            while let Ok(Ret::Value(v)) = m.lookup_and_delete(&[], &Profile::default()) {
                popped.push(v[0]);
                m.remove(&[]);
            }
            assert_eq!(popped, if stack { [4, 3, 2] } else { [2, 3, 4] });
            assert_eq!(m.delete(&[], &[]), Err(Errno::EINVAL));
            assert_eq!(m.next_key(None, &[]), Allowed::Exactly(Err(Errno::EINVAL)));
        }
    }

    /// The create checks in the kernel's order.
    #[test]
    fn creates_are_keyless_with_values() {
        let ok = MapSpec::new(MapType::Queue, 0, 4, 8);
        assert_eq!(alloc_check(&ok), Ok(()));
        let with = |f: fn(&mut MapSpec)| {
            let mut s = ok.clone();
            f(&mut s);
            alloc_check(&s).map_err(|e| e.why())
        };
        assert_eq!(with(|s| s.max_entries = 0), Err(Some(Why::NoEntries)));
        assert_eq!(with(|s| s.key_size = 4), Err(Some(Why::KeySize)));
        assert_eq!(with(|s| s.value_size = 0), Err(Some(Why::ValueSize)));
        assert_eq!(with(|s| s.map_flags = NO_PREALLOC), Err(Some(Why::Flags)));
        assert_eq!(
            with(|s| s.map_flags = RDONLY_PROG | WRONLY_PROG),
            Err(Some(Why::ProgAccess))
        );
        assert_eq!(
            with(|s| s.value_size = (1 << 22) + 1),
            Err(Some(Why::ValueTooBig))
        );
        assert_eq!(with(|s| s.map_flags = NUMA_NODE | RDONLY), Ok(()));
        // KMALLOC_MAX_SIZE itself is taken (replayed on 6.18.44: a 4 MiB value, then E2BIG
        // one byte above).
        assert_eq!(with(|s| s.value_size = 1 << 22), Ok(()));
    }

    /// `queue_stack_map_alloc`: max_entries + 1 slots of value_size (one slot stays empty,
    /// so that head == tail means empty).
    #[test]
    fn a_map_holds_one_slot_more_than_its_entries() {
        let s = MapSpec::new(MapType::Queue, 0, 8, 10);
        assert_eq!((FAMILY.alloc_bytes)(&s, 2), 11 * 8);
    }

    /// The family's maps: a STACK gives out its newest element (`__stack_map_get`), a QUEUE
    /// its oldest (`__queue_map_get`), and a STACK under the `stack-pops-oldest` fault its
    /// oldest too.
    #[test]
    fn the_family_makes_stacks_and_queues() {
        let peek = |t: MapType, faults: &[Fault]| {
            let s = MapSpec::new(t, 0, 1, 4);
            let mut m = (FAMILY.new.unwrap())(&s, 1, &crate::profile::Profile::default(), faults);
            for v in [1u8, 2] {
                assert_eq!(m.update(&[], ANY, &[]), Ok(Ret::Unit));
                m.store(&[], vec![v], &[]);
            }
            m.lookup(&[])
        };
        let value = |v: u8| Ok(Ret::Value(vec![v]));
        assert_eq!(peek(MapType::Stack, &[]), value(2));
        assert_eq!(peek(MapType::Queue, &[]), value(1));
        assert_eq!(peek(MapType::Stack, &[Fault::StackPopsOldest]), value(1));
        assert_eq!(peek(MapType::Queue, &[Fault::StackPopsOldest]), value(1));
    }

    /// The end of a case pops the map dry, one pop more than it can hold (the last shows it
    /// empty), through an fd that may read and write (a pop is both), and not for maps of
    /// over 256 entries; what it holds is its values, oldest first, with no keys.
    #[test]
    fn the_end_of_a_case_pops_it_dry() {
        let mut m = map(true, 3);
        assert!(m.is_empty());
        for v in [1u8, 2] {
            m.store(&[], vec![v], &[]);
        }
        assert!(!m.is_empty());
        assert_eq!(m.entries(), vec![(vec![], vec![1]), (vec![], vec![2])]);
        let fd = FdRef::Handle(crate::op::Handle::map(0));
        let pops = m.read_back(fd, true, true);
        let pop = Op::LookupAndDelete {
            map: fd,
            key: Vec::new(),
            flags: 0,
        };
        assert_eq!(pops, vec![pop; 4]);
        assert!(m.read_back(fd, false, true).is_empty());
        assert!(m.read_back(fd, true, false).is_empty());
        assert_eq!(map(false, 256).read_back(fd, true, true).len(), 257);
        assert!(map(false, 257).read_back(fd, true, true).is_empty());
    }
}
