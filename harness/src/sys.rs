//! The one seam through which every `bpf(2)` call passes: raw fds in, raw errno out.
//! The core idea: `Kernel` talks to a `Sys`; `RealSys` calls libbpf-sys (and the raw syscall
//! for MAP_CREATE), and unit tests swap in a fake to test errno handling without root.

use mapcheck_model::{Call, Errno, Kind, MapSpec, ProgSpec};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Every syscall the kernel backend makes.
pub trait Sys {
    /// `BPF_MAP_CREATE` with exactly these attributes (`inner_map_fd` given raw).
    fn map_create(&mut self, spec: &MapSpec, inner_fd: RawFd) -> Result<OwnedFd, Errno>;
    /// `BPF_PROG_LOAD` of `r1 = <map>` (ld_imm64 BPF_PSEUDO_MAP_FD) for each map fd, then
    /// `r0 = 0; exit`.
    fn prog_load(&mut self, spec: &ProgSpec, maps: &[RawFd]) -> Result<OwnedFd, Errno>;
    /// `BPF_OBJ_GET_INFO_BY_FD` of a map fd: the `bpf_map_info` fields up to `map_extra`,
    /// read into a poisoned buffer (a field the kernel does not write shows the poison).
    fn map_info(&mut self, fd: RawFd) -> Result<MapInfoRaw, Errno>;
    /// close(2), with its result (the fd is gone either way).
    fn close(&mut self, fd: OwnedFd) -> Result<(), Errno>;
    /// The object id behind a map or program fd (`BPF_OBJ_GET_INFO_BY_FD`).
    fn obj_id(&mut self, kind: Kind, fd: RawFd) -> Result<u32, Errno>;
    /// `BPF_{MAP,PROG}_GET_FD_BY_ID`.
    fn fd_by_id(&mut self, kind: Kind, id: u32, open_flags: u32) -> Result<OwnedFd, Errno>;
    /// `BPF_{MAP,PROG}_GET_NEXT_ID`: the next id above `start` (takes no reference).
    fn next_id(&mut self, kind: Kind, start: u32) -> Result<u32, Errno>;
    /// `perf_event_open` of a software BPF_OUTPUT event: cpu 0, or `inherit` on this task.
    fn perf_open(&mut self, inherit: bool) -> Result<OwnedFd, Errno>;
    /// mkdir(2).
    fn mkdir(&mut self, path: &Path) -> Result<(), Errno>;
    /// rmdir(2).
    fn rmdir(&mut self, path: &Path) -> Result<(), Errno>;
    /// open(2) of a directory, O_RDONLY or O_PATH.
    fn open_dir(&mut self, path: &Path, o_path: bool) -> Result<OwnedFd, Errno>;
    /// mount(2) of a bpf filesystem on `dir`.
    fn mount_bpffs(&mut self, dir: &Path) -> Result<(), Errno>;
    /// umount2(2) with MNT_DETACH.
    fn umount(&mut self, dir: &Path) -> Result<(), Errno>;
    /// `BPF_OBJ_PIN`.
    fn obj_pin(&mut self, fd: RawFd, path: &Path) -> Result<(), Errno>;
    /// `BPF_OBJ_GET` with `file_flags`.
    fn obj_get(&mut self, path: &Path, file_flags: u32) -> Result<OwnedFd, Errno>;
    /// unlink(2).
    fn unlink(&mut self, path: &Path) -> Result<(), Errno>;
    /// `BPF_MAP_UPDATE_ELEM`.
    fn update(&mut self, fd: RawFd, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno>;
    /// `BPF_MAP_LOOKUP_ELEM` into `value`.
    fn lookup(&mut self, fd: RawFd, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno>;
    /// `BPF_MAP_DELETE_ELEM`.
    fn delete(&mut self, fd: RawFd, key: &[u8]) -> Result<(), Errno>;
    /// `BPF_MAP_GET_NEXT_KEY`; `None` passes a NULL key.
    fn next_key(&mut self, fd: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno>;
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` into `value`.
    fn lookup_and_delete(&mut self, fd: RawFd, key: &[u8], value: &mut [u8], flags: u64)
        -> Result<(), Errno>;
    /// `BPF_MAP_FREEZE`.
    fn freeze(&mut self, fd: RawFd) -> Result<(), Errno>;
    /// `BPF_MAP_LOOKUP_BATCH`: returns the count written, with the errno if the call failed
    /// (ENOENT at the end of the map still carries a partial count).
    fn lookup_batch(&mut self, fd: RawFd, b: &mut Batch<'_>) -> (u32, Option<Errno>);
    /// `BPF_MAP_UPDATE_BATCH` of `count` records (elem_flags 0): the count done, with the
    /// errno if the call failed.
    fn update_batch(&mut self, fd: RawFd, keys: &[u8], values: &[u8], count: u32) -> (u32, Option<Errno>);
    /// A batch command with every field its op carries: LOOKUP and LOOKUP_AND_DELETE fill
    /// `keys`, `values` and `out_batch`; UPDATE and DELETE read `keys` (and `values`).
    /// Returns `count` as the kernel left it, with the errno if the call failed.
    fn batch(&mut self, fd: RawFd, cmd: BatchCmd, b: &mut Batch<'_>) -> (u32, Option<Errno>);
    /// A program-side map op: a SCHED_CLS program that calls `call` on the map with `key`
    /// (and `value`, `flags`) is loaded, run once through BPF_PROG_TEST_RUN on a packet of
    /// 14 + `value_size` bytes and closed. Returns the program's return (a lookup: 1 with the
    /// value stored at offset 14 of the packet, 0 for NULL, 2 if the store failed; with
    /// `value_size` 0 only 1 or 0; an update or delete: the helper's) and the packet after
    /// the run. A seam without programs
    /// (the unit tests' fakes) says ENOSYS.
    fn prog_elem(
        &mut self,
        _map_fd: RawFd,
        _call: Call,
        _key: &[u8],
        _value: &[u8],
        _flags: u64,
        _value_size: usize,
    ) -> Result<(i32, Vec<u8>), Errno> {
        Err(Errno::raw(libc::ENOSYS))
    }
    /// The deliberate kernel bug this seam plants (`faulty.rs`), by name: case processes
    /// started for it plant the same one.
    fn planted(&self) -> Option<&'static str> {
        None
    }
    /// `nr_dying_descendants` from `dir/cgroup.stat`.
    fn dying_count(&mut self, dir: &Path) -> Result<u32, Errno> {
        let stat = std::fs::read_to_string(dir.join("cgroup.stat")).map_err(|_| Errno::ENOENT)?;
        stat.lines()
            .find_map(|l| l.strip_prefix("nr_dying_descendants "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(Errno::EINVAL)
    }
}

/// What every output buffer holds before the syscall, so that a kernel saying "ok" without
/// writing it shows up as these bytes, not as plausible zeroes.
pub const POISON: u8 = 0xa5;

/// The `struct bpf_map_info` prefix up to `map_extra` (include/uapi/linux/bpf.h): 88 bytes,
/// short of 6.18's `hash` / `hash_size`, which the kernel reads back from the buffer
/// (`bpf_map_get_info_by_fd`: poison there would ask for a hash).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapInfoRaw {
    /// `type`.
    pub map_type: u32,
    /// `id`.
    pub id: u32,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: u32,
    /// `name`.
    pub name: [u8; 16],
    /// `ifindex`.
    pub ifindex: u32,
    /// `btf_vmlinux_value_type_id`.
    pub btf_vmlinux_value_type_id: u32,
    /// `netns_dev`.
    pub netns_dev: u64,
    /// `netns_ino`.
    pub netns_ino: u64,
    /// `btf_id`.
    pub btf_id: u32,
    /// `btf_key_type_id`.
    pub btf_key_type_id: u32,
    /// `btf_value_type_id`.
    pub btf_value_type_id: u32,
    /// `btf_vmlinux_id`.
    pub btf_vmlinux_id: u32,
    /// `map_extra`.
    pub map_extra: u64,
}

impl MapInfoRaw {
    /// Every byte `POISON`.
    pub fn poisoned() -> MapInfoRaw {
        let w = u32::from_ne_bytes([POISON; 4]);
        let d = u64::from_ne_bytes([POISON; 8]);
        MapInfoRaw {
            map_type: w,
            id: w,
            key_size: w,
            value_size: w,
            max_entries: w,
            map_flags: w,
            name: [POISON; 16],
            ifindex: w,
            btf_vmlinux_value_type_id: w,
            netns_dev: d,
            netns_ino: d,
            btf_id: w,
            btf_key_type_id: w,
            btf_value_type_id: w,
            btf_vmlinux_id: w,
            map_extra: d,
        }
    }
}

/// How many bytes of `bpf_map_info` this kernel writes, learnt once per process from a zeroed
/// buffer: `bpf_map_get_info_by_fd` copies min(len, sizeof(info)) and refuses a longer buffer
/// whose tail is not zero (`bpf_check_uarg_tail_zero`: E2BIG). 80 on 5.10 (no
/// `map_extra`), the whole 88-byte prefix since 5.16 (`map_extra`, 9330986c0300).
fn info_len(fd: RawFd) -> Result<usize, Errno> {
    static LEN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let full = std::mem::size_of::<MapInfoRaw>();
    if let Some(n) = LEN.get() {
        return Ok(*n);
    }
    let mut z = MapInfoRaw::poisoned();
    // SAFETY: as in `map_info`.
    unsafe { std::slice::from_raw_parts_mut((&mut z as *mut MapInfoRaw).cast::<u8>(), full) }.fill(0);
    let mut len = full as u32;
    // SAFETY: z is plain data, live for the call, and `len` says its size. An error (a bad
    // fd) says nothing about the size: it is learnt at the next call.
    ret(unsafe { libbpf_sys::bpf_obj_get_info_by_fd(fd, (&mut z as *mut MapInfoRaw).cast(), &mut len) })?;
    Ok(*LEN.get_or_init(|| (len as usize).min(full)))
}

/// Buffers of one `BPF_MAP_LOOKUP_BATCH` call.
pub struct Batch<'a> {
    /// The cursor to continue from (`None` = from the start).
    pub in_batch: Option<&'a [u8]>,
    /// Where the kernel writes the next cursor.
    pub out_batch: &'a mut [u8],
    /// `count` keys of key_size bytes.
    pub keys: &'a mut [u8],
    /// `count` values of the syscall value size.
    pub values: &'a mut [u8],
    /// How many elements fit (or, for UPDATE and DELETE, are given).
    pub count: u32,
    /// `elem_flags`.
    pub elem_flags: u64,
    /// `flags`.
    pub flags: u64,
}

/// Which batch command (`BPF_MAP_*_BATCH`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BatchCmd {
    /// `BPF_MAP_LOOKUP_BATCH`.
    Lookup,
    /// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`.
    LookupAndDelete,
    /// `BPF_MAP_UPDATE_BATCH`.
    Update,
    /// `BPF_MAP_DELETE_BATCH`.
    Delete,
}

/// The real kernel through libbpf-sys.
#[derive(Default)]
pub struct RealSys;

fn ret(r: i32) -> Result<(), Errno> {
    // libbpf 1.x returns -errno directly (libbpf_err_errno), ENOTSUPP included.
    if r < 0 {
        Err(Errno::raw(-r))
    } else {
        Ok(())
    }
}

/// A buffer's address, NULL for an empty one: a keyless map (key_size 0) takes a NULL key
/// and refuses any other (`__bpf_copy_key`: EINVAL).
fn ptr(b: &[u8]) -> *const libc::c_void {
    match b.is_empty() {
        true => std::ptr::null(),
        false => b.as_ptr().cast(),
    }
}

fn mptr(b: &mut [u8]) -> *mut libc::c_void {
    match b.is_empty() {
        true => std::ptr::null_mut(),
        false => b.as_mut_ptr().cast(),
    }
}

/// The MAP_CREATE part of `union bpf_attr` up to `map_extra` (include/uapi/linux/bpf.h);
/// the kernel zero-extends the rest.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

fn last_errno() -> Errno {
    Errno::raw(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

fn owned(fd: i64) -> Result<OwnedFd, Errno> {
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// libbpf's fd-returning calls give -errno.
fn owned_neg(fd: i32) -> Result<OwnedFd, Errno> {
    if fd < 0 {
        return Err(Errno::raw(-fd));
    }
    // SAFETY: as in `owned`.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cpath(p: &Path) -> Result<CString, Errno> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

impl Sys for RealSys {
    fn map_create(&mut self, spec: &MapSpec, inner_fd: RawFd) -> Result<OwnedFd, Errno> {
        let _ids = crate::idlock::IdLock::shared();
        // Raw syscall, not libbpf's bpf_map_create: that one truncates names to 15 bytes plus a
        // NUL, drops them when its feature probe fails, and loads probe programs first.
        let mut attr = MapCreateAttr {
            map_type: spec.map_type.raw(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.map_flags,
            numa_node: spec.numa_node,
            map_extra: spec.map_extra,
            inner_map_fd: inner_fd as u32,
            ..Default::default()
        };
        let n = spec.name.len().min(16);
        attr.map_name[..n].copy_from_slice(&spec.name[..n]);
        // SAFETY: attr is a valid, fully initialised bpf_attr prefix of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                libbpf_sys::BPF_MAP_CREATE,
                &attr as *const MapCreateAttr,
                std::mem::size_of::<MapCreateAttr>(),
            )
        };
        owned(fd)
    }

    fn prog_load(&mut self, spec: &ProgSpec, maps: &[RawFd]) -> Result<OwnedFd, Errno> {
        let insn = |code: u8, dst: u8, src: u8, imm: i32| libbpf_sys::bpf_insn {
            code,
            _bitfield_align_1: [],
            _bitfield_1: libbpf_sys::bpf_insn::new_bitfield_1(dst, src),
            off: 0,
            imm,
        };
        let mut insns = Vec::new();
        for fd in maps {
            // r1 = map (BPF_LD | BPF_DW | BPF_IMM, src_reg = BPF_PSEUDO_MAP_FD), two slots.
            insns.push(insn(0x18, 1, 1, *fd));
            insns.push(insn(0, 0, 0, 0));
        }
        // r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K), exit (BPF_JMP | BPF_EXIT).
        insns.extend([insn(0xb7, 0, 0, 0), insn(0x95, 0, 0, 0)]);
        // BPF_F_XDP_HAS_FRAGS.
        let flags = if spec.xdp_frags { 1 << 5 } else { 0 };
        load_prog(spec.prog_type.raw(), &insns, flags, spec.attach)
    }

    fn prog_elem(
        &mut self,
        map_fd: RawFd,
        call: Call,
        key: &[u8],
        value: &[u8],
        flags: u64,
        value_size: usize,
    ) -> Result<(i32, Vec<u8>), Errno> {
        let insns = prog_elem_insns(map_fd, call, key, value, flags, value_size);
        let prog = load_prog(libbpf_sys::BPF_PROG_TYPE_SCHED_CLS, &insns, 0, 0)?;
        let data_in = vec![0u8; 14 + value_size];
        let mut data_out = vec![0u8; 14 + value_size + 64];
        // SAFETY: as above.
        let mut run: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        run.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        run.data_in = data_in.as_ptr().cast();
        run.data_size_in = data_in.len() as u32;
        run.data_out = data_out.as_mut_ptr().cast();
        run.data_size_out = data_out.len() as u32;
        run.repeat = 1;
        // SAFETY: the buffers outlive the call; their sizes are given.
        let r = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut run) };
        if r < 0 {
            return Err(Errno::raw(-r));
        }
        data_out.truncate((run.data_size_out as usize).min(data_out.len()));
        Ok((run.retval as i32, data_out))
    }

    fn map_info(&mut self, fd: RawFd) -> Result<MapInfoRaw, Errno> {
        let full = std::mem::size_of::<MapInfoRaw>();
        let known = info_len(fd)?;
        let mut info = MapInfoRaw::poisoned();
        // Poison only what this kernel writes: it refuses a longer buffer whose tail is not
        // zero (E2BIG). SAFETY: MapInfoRaw is repr(C) plain data without padding.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut((&mut info as *mut MapInfoRaw).cast::<u8>(), full) };
        bytes[known..].fill(0);
        let mut len = full as u32;
        // SAFETY: info is plain data, live for the call, and `len` says its size.
        ret(unsafe {
            libbpf_sys::bpf_obj_get_info_by_fd(fd, (&mut info as *mut MapInfoRaw).cast(), &mut len)
        })?;
        Ok(info)
    }

    fn close(&mut self, fd: OwnedFd) -> Result<(), Errno> {
        let raw = fd.into_raw_fd();
        // SAFETY: `raw` was owned and is used no more; close(2) releases it even on EINTR/EIO.
        if crate::spawn::outside_window(|| unsafe { libc::close(raw) }) < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn obj_id(&mut self, kind: Kind, fd: RawFd) -> Result<u32, Errno> {
        // SAFETY: info structs are plain data, live for the call, `len` says their size.
        unsafe {
            match kind {
                Kind::Map => {
                    let mut info: libbpf_sys::bpf_map_info = std::mem::zeroed();
                    let mut len = std::mem::size_of_val(&info) as u32;
                    ret(libbpf_sys::bpf_map_get_info_by_fd(fd, &mut info, &mut len))?;
                    Ok(info.id)
                }
                Kind::Prog => {
                    let mut info: libbpf_sys::bpf_prog_info = std::mem::zeroed();
                    let mut len = std::mem::size_of_val(&info) as u32;
                    ret(libbpf_sys::bpf_prog_get_info_by_fd(fd, &mut info, &mut len))?;
                    Ok(info.id)
                }
                _ => Err(Errno::EINVAL),
            }
        }
    }

    fn fd_by_id(&mut self, kind: Kind, id: u32, open_flags: u32) -> Result<OwnedFd, Errno> {
        let opts = libbpf_sys::bpf_get_fd_by_id_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_get_fd_by_id_opts>() as _,
            open_flags,
            token_fd: 0,
        };
        // SAFETY: opts is live for the call.
        let fd = unsafe {
            match kind {
                Kind::Map => libbpf_sys::bpf_map_get_fd_by_id_opts(id, &opts),
                _ => libbpf_sys::bpf_prog_get_fd_by_id_opts(id, &opts),
            }
        };
        owned_neg(fd)
    }

    fn next_id(&mut self, kind: Kind, start: u32) -> Result<u32, Errno> {
        let mut next = 0u32;
        // SAFETY: next is live for the call.
        let r = unsafe {
            match kind {
                Kind::Map => libbpf_sys::bpf_map_get_next_id(start, &mut next),
                _ => libbpf_sys::bpf_prog_get_next_id(start, &mut next),
            }
        };
        ret(r).map(|_| next)
    }

    fn perf_open(&mut self, inherit: bool) -> Result<OwnedFd, Errno> {
        // struct perf_event_attr (PERF_ATTR_SIZE_VER7 = 128 bytes): type, size, config,
        // sample_period, sample_type, read_format, then the flag bits (inherit is bit 1).
        let mut attr = [0u64; 16];
        attr[0] = 1 | (128u64 << 32); // PERF_TYPE_SOFTWARE, size
        attr[1] = 10; // PERF_COUNT_SW_BPF_OUTPUT
        attr[2] = 1; // sample_period
        attr[3] = 1 << 10; // PERF_SAMPLE_RAW
        if inherit {
            attr[5] = 1 << 1;
        }
        let (pid, cpu) = if inherit { (0, -1) } else { (-1, 0) };
        // SAFETY: attr is a live, zero-padded perf_event_attr of the size it declares.
        let fd = unsafe {
            // PERF_FLAG_FD_CLOEXEC = 1 << 3.
            libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), pid, cpu, -1, 8u64)
        };
        owned(fd)
    }

    fn mkdir(&mut self, path: &Path) -> Result<(), Errno> {
        let c = cpath(path)?;
        // SAFETY: c is a NUL-terminated path.
        if unsafe { libc::mkdir(c.as_ptr(), 0o755) } < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn rmdir(&mut self, path: &Path) -> Result<(), Errno> {
        let c = cpath(path)?;
        // SAFETY: c is a NUL-terminated path.
        if unsafe { libc::rmdir(c.as_ptr()) } < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn mount_bpffs(&mut self, dir: &Path) -> Result<(), Errno> {
        let c = cpath(dir)?;
        // SAFETY: NUL-terminated strings, no data argument.
        let r = unsafe { libc::mount(c"bpf".as_ptr(), c.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) };
        if r < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn umount(&mut self, dir: &Path) -> Result<(), Errno> {
        let c = cpath(dir)?;
        // SAFETY: c is a NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn obj_pin(&mut self, fd: RawFd, path: &Path) -> Result<(), Errno> {
        let c = cpath(path)?;
        // SAFETY: c is a NUL-terminated path.
        ret(unsafe { libbpf_sys::bpf_obj_pin(fd, c.as_ptr()) })
    }

    fn obj_get(&mut self, path: &Path, file_flags: u32) -> Result<OwnedFd, Errno> {
        let c = cpath(path)?;
        let opts = libbpf_sys::bpf_obj_get_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_obj_get_opts>() as _,
            file_flags,
            path_fd: 0,
        };
        // SAFETY: c and opts are live for the call.
        owned_neg(unsafe { libbpf_sys::bpf_obj_get_opts(c.as_ptr(), &opts) })
    }

    fn unlink(&mut self, path: &Path) -> Result<(), Errno> {
        let c = cpath(path)?;
        // SAFETY: c is a NUL-terminated path.
        if unsafe { libc::unlink(c.as_ptr()) } < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn open_dir(&mut self, path: &Path, o_path: bool) -> Result<OwnedFd, Errno> {
        let c = cpath(path)?;
        let flags = libc::O_DIRECTORY | libc::O_CLOEXEC | if o_path { libc::O_PATH } else { libc::O_RDONLY };
        // SAFETY: c is a NUL-terminated path.
        owned(unsafe { libc::open(c.as_ptr(), flags) } as i64)
    }

    fn update(&mut self, fd: RawFd, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        // SAFETY: key and value are live buffers at least as large as the kernel reads
        // (Kernel sizes them from the map's attributes).
        ret(unsafe { libbpf_sys::bpf_map_update_elem(fd, ptr(key), ptr(value), flags) })
    }

    fn lookup(&mut self, fd: RawFd, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        // SAFETY: as in `update`; value is writable for the syscall value size.
        ret(unsafe { libbpf_sys::bpf_map_lookup_elem_flags(fd, ptr(key), mptr(value), flags) })
    }

    fn delete(&mut self, fd: RawFd, key: &[u8]) -> Result<(), Errno> {
        // SAFETY: key is a live buffer of at least key_size bytes.
        ret(unsafe { libbpf_sys::bpf_map_delete_elem(fd, ptr(key)) })
    }

    fn next_key(&mut self, fd: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        let k = key.map_or(std::ptr::null(), ptr);
        // SAFETY: key is NULL or a live key buffer; next is writable for key_size bytes.
        ret(unsafe { libbpf_sys::bpf_map_get_next_key(fd, k, mptr(next)) })
    }

    fn lookup_and_delete(
        &mut self,
        fd: RawFd,
        key: &[u8],
        value: &mut [u8],
        flags: u64,
    ) -> Result<(), Errno> {
        // SAFETY: as in `lookup`.
        ret(unsafe { libbpf_sys::bpf_map_lookup_and_delete_elem_flags(fd, ptr(key), mptr(value), flags) })
    }

    fn freeze(&mut self, fd: RawFd) -> Result<(), Errno> {
        // SAFETY: plain fd argument.
        ret(unsafe { libbpf_sys::bpf_map_freeze(fd) })
    }

    fn lookup_batch(&mut self, fd: RawFd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
        self.batch(fd, BatchCmd::Lookup, b)
    }

    fn batch(&mut self, fd: RawFd, cmd: BatchCmd, b: &mut Batch<'_>) -> (u32, Option<Errno>) {
        let opts = libbpf_sys::bpf_map_batch_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
            elem_flags: b.elem_flags,
            flags: b.flags,
        };
        let mut count = b.count;
        let in_batch = b
            .in_batch
            .map_or(std::ptr::null_mut(), |x| x.as_ptr() as *mut libc::c_void);
        // SAFETY: keys/values hold `count` records of the map's key and value size, the
        // cursors are at least as large as the map's batch token, count and opts are live;
        // UPDATE and DELETE only read the buffers.
        let r = unsafe {
            match cmd {
                BatchCmd::Lookup => libbpf_sys::bpf_map_lookup_batch(
                    fd,
                    in_batch,
                    mptr(b.out_batch),
                    mptr(b.keys),
                    mptr(b.values),
                    &mut count,
                    &opts,
                ),
                BatchCmd::LookupAndDelete => libbpf_sys::bpf_map_lookup_and_delete_batch(
                    fd,
                    in_batch,
                    mptr(b.out_batch),
                    mptr(b.keys),
                    mptr(b.values),
                    &mut count,
                    &opts,
                ),
                BatchCmd::Update => {
                    libbpf_sys::bpf_map_update_batch(fd, ptr(b.keys), ptr(b.values), &mut count, &opts)
                }
                BatchCmd::Delete => libbpf_sys::bpf_map_delete_batch(fd, ptr(b.keys), &mut count, &opts),
            }
        };
        (count, ret(r).err())
    }

    fn update_batch(&mut self, fd: RawFd, keys: &[u8], values: &[u8], count: u32) -> (u32, Option<Errno>) {
        let opts = libbpf_sys::bpf_map_batch_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
            elem_flags: 0,
            flags: 0,
        };
        let mut done = count;
        // SAFETY: keys and values hold `count` records of the map's key and value size (the
        // kernel only reads them), count and opts are live.
        let r = unsafe { libbpf_sys::bpf_map_update_batch(fd, ptr(keys), ptr(values), &mut done, &opts) };
        (done, ret(r).err())
    }
}

/// Closes every fd numbered `from..=to` (close_range(2); before 5.9, each one
/// /proc/self/fd lists).
///
/// # Safety
/// Nothing in the process may own or use those numbers any more: it is for a process of
/// mapcheck's own that is arranging its fd table (a case process, an amplify measurement).
pub unsafe fn close_fds(from: u32, to: u32) {
    // SAFETY: the caller's promise; close_range only closes descriptors.
    if unsafe { libc::syscall(libc::SYS_close_range, from, to, 0u32) } == 0 {
        return;
    }
    // Read the directory to the end (its own fd closes) before closing anything.
    let fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|fd| (from..=to).contains(fd)) {
        // SAFETY: as above.
        unsafe { libc::close(fd as i32) };
    }
}

/// A close-on-exec duplicate of `fd` numbered `min` or above (fcntl F_DUPFD_CLOEXEC), so
/// that it occupies no number a case counts.
pub fn dup_at_least(fd: &impl AsFd, min: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: fcntl on a borrowed, open fd; the new number is ours alone.
    let high = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if high < 0 {
        return Err(last_errno());
    }
    // SAFETY: `high` was just returned by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// capget(2) with version 3 headers: the two words of each set.
fn capget() -> Result<[CapData; 2], Errno> {
    let mut h = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: a header and two data structs, live for the call, as capget v3 expects.
    if unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr()) } != 0 {
        return Err(last_errno());
    }
    Ok(d)
}

fn capset(d: &[CapData; 2]) -> Result<(), Errno> {
    let mut h = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    // SAFETY: as in capget.
    if unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// Drops CAP_SYS_RESOURCE from this process's effective set (capset(2)), so that raising a
/// hard rlimit is refused from then on: the kernel's `capable()` looks at the effective set.
/// The permitted set keeps it, so a case process can take it back for its next case.
pub fn drop_cap_sys_resource() -> Result<(), Errno> {
    const CAP_SYS_RESOURCE: u32 = 24;
    let mut d = capget()?;
    d[0].effective &= !(1 << CAP_SYS_RESOURCE);
    capset(&d)
}

/// `BPF_PROG_LOAD` of these instructions, GPL, with these prog flags and attach type.
fn load_prog(
    prog_type: u32,
    insns: &[libbpf_sys::bpf_insn],
    prog_flags: u32,
    attach: u32,
) -> Result<OwnedFd, Errno> {
    // SAFETY: bpf_prog_load_opts is plain data; zero is its documented default.
    let mut opts: libbpf_sys::bpf_prog_load_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as _;
    opts.prog_flags = prog_flags;
    opts.expected_attach_type = attach;
    let license = c"GPL";
    // SAFETY: insns, license and opts are live for the call.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            prog_type,
            std::ptr::null(),
            license.as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut opts,
        )
    };
    owned_neg(fd)
}

/// The program of `Sys::prog_elem`: the key (and value) written onto the stack byte by
/// byte, the map loaded by fd, the helper called (`BPF_FUNC_map_lookup_elem` 1, `_update_elem`
/// 2, `_delete_elem` 3); a lookup's value stored into the packet at offset 14
/// (`bpf_skb_store_bytes`, 9).
pub fn prog_elem_insns(
    map_fd: RawFd,
    call: Call,
    key: &[u8],
    value: &[u8],
    flags: u64,
    value_size: usize,
) -> Vec<libbpf_sys::bpf_insn> {
    let insn = |code: u8, dst: u8, src: u8, off: i16, imm: i32| libbpf_sys::bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: libbpf_sys::bpf_insn::new_bitfield_1(dst, src),
        off,
        imm,
    };
    let (st_b, mov_x, mov_k, add_k, ld_dw, call_, exit, jeq_k, jne_k) =
        (0x72, 0xbf, 0xb7, 0x07, 0x18, 0x85, 0x95, 0x15, 0x55);
    let k = key.len().div_ceil(8) * 8;
    let v = value.len().div_ceil(8) * 8;
    let mut p = Vec::new();
    for (i, b) in key.iter().enumerate() {
        p.push(insn(st_b, 10, 0, (i as i16) - k as i16, *b as i32));
    }
    for (i, b) in value.iter().enumerate() {
        p.push(insn(st_b, 10, 0, (i as i16) - (k + v) as i16, *b as i32));
    }
    p.push(insn(mov_x, 6, 1, 0, 0)); // r6 = skb
    p.push(insn(ld_dw, 1, 1, 0, map_fd)); // r1 = map (BPF_PSEUDO_MAP_FD)
    p.push(insn(0, 0, 0, 0, 0));
    p.push(insn(mov_x, 2, 10, 0, 0));
    p.push(insn(add_k, 2, 0, 0, -(k as i32))); // r2 = &key
                                               // `return n`: r0 = n; exit.
    let ret = |n: i32| [insn(mov_k, 0, 0, 0, n), insn(exit, 0, 0, 0, 0)];
    match call {
        Call::Lookup => {
            // value_size 0: what a lookup finds is not bytes (a map-in-map's inner map), so
            // found is 1 with nothing stored; else the value goes into the packet at 14.
            let store = match value_size {
                0 => Vec::new(),
                vs => vec![
                    insn(mov_x, 1, 6, 0, 0),
                    insn(mov_k, 2, 0, 0, 14),
                    insn(mov_x, 3, 0, 0, 0),
                    insn(mov_k, 4, 0, 0, vs as i32),
                    insn(mov_k, 5, 0, 0, 0),
                    insn(call_, 0, 0, 0, 9),
                    insn(jne_k, 0, 0, 2, 0), // the store failed: return 2
                ],
            };
            let failed = if store.is_empty() {
                Vec::new()
            } else {
                ret(2).to_vec()
            };
            // NULL skips the store and both returns after it.
            let skip = (store.len() + 2 + failed.len()) as i16;
            p.extend([insn(call_, 0, 0, 0, 1), insn(jeq_k, 0, 0, skip, 0)]);
            p.extend(store);
            p.extend(ret(1));
            p.extend(failed);
            p.extend(ret(0));
        }
        Call::Update => p.extend([
            insn(mov_x, 3, 10, 0, 0),
            insn(add_k, 3, 0, 0, -((k + v) as i32)),   // r3 = &value
            insn(ld_dw, 4, 0, 0, flags as u32 as i32), // r4 = flags (64 bits)
            insn(0, 0, 0, 0, (flags >> 32) as u32 as i32),
            insn(call_, 0, 0, 0, 2),
            insn(exit, 0, 0, 0, 0),
        ]),
        Call::Delete => p.extend([insn(call_, 0, 0, 0, 3), insn(exit, 0, 0, 0, 0)]),
    }
    p
}

/// The CPUs this thread may run on (`sched_getaffinity`), ascending.
pub fn affinity() -> Result<Vec<usize>, Errno> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the size is the set's.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(last_errno());
    }
    // SAFETY: CPU_ISSET reads a bit of the set, below CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect())
}

/// Lets this thread run on these CPUs only (`sched_setaffinity`; each below 1024): EINVAL if
/// none of them is online.
pub fn set_affinity(cpus: &[usize]) -> Result<(), Errno> {
    // SAFETY: as in `affinity`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for c in cpus.iter().filter(|c| **c < libc::CPU_SETSIZE as usize) {
        // SAFETY: below CPU_SETSIZE.
        unsafe { libc::CPU_SET(*c, &mut set) };
    }
    // SAFETY: pid 0 is this thread; the set is initialised and its size given.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    match r {
        0 => Ok(()),
        _ => Err(last_errno()),
    }
}

/// This process's effective capabilities (the low 64 bits).
pub fn effective_caps() -> Result<u64, Errno> {
    let d = capget()?;
    Ok(u64::from(d[0].effective) | u64::from(d[1].effective) << 32)
}

/// Sets the effective capabilities (within the permitted set, which stays as it is).
pub fn set_effective_caps(eff: u64) -> Result<(), Errno> {
    let mut d = capget()?;
    d[0].effective = eff as u32;
    d[1].effective = (eff >> 32) as u32;
    capset(&d)
}

#[cfg(test)]
mod tests {
    use super::MapInfoRaw;
    use libbpf_sys as uapi;

    /// The poisoned info buffer is the header's `bpf_map_info` up to `map_extra`, field for
    /// field, and stops where `hash` begins.
    #[test]
    fn map_info_prefix_is_the_headers() {
        use std::mem::offset_of;
        assert_eq!(
            std::mem::size_of::<MapInfoRaw>(),
            offset_of!(uapi::bpf_map_info, hash)
        );
        assert_eq!(offset_of!(MapInfoRaw, id), offset_of!(uapi::bpf_map_info, id));
        assert_eq!(
            offset_of!(MapInfoRaw, map_flags),
            offset_of!(uapi::bpf_map_info, map_flags)
        );
        assert_eq!(offset_of!(MapInfoRaw, name), offset_of!(uapi::bpf_map_info, name));
        assert_eq!(
            offset_of!(MapInfoRaw, netns_dev),
            offset_of!(uapi::bpf_map_info, netns_dev)
        );
        assert_eq!(
            offset_of!(MapInfoRaw, map_extra),
            offset_of!(uapi::bpf_map_info, map_extra)
        );
        let p = MapInfoRaw::poisoned();
        assert_eq!(
            (p.id, p.map_extra, p.name[15]),
            (0xa5a5_a5a5, 0xa5a5_a5a5_a5a5_a5a5, 0xa5)
        );
    }
    use mapcheck_model::op::flags;
    use mapcheck_model::{Errno, MapType, ProgType};

    /// The model writes its UAPI numbers by hand (it links nothing): each one must be the
    /// header's, as bindgen read it into libbpf-sys, and each errno libc's. A wrong constant
    /// would otherwise agree with itself on both sides of the lockstep (generator and model).
    #[test]
    fn the_models_uapi_numbers_are_the_headers() {
        // (name, the model's constant, the header's): the constant and the text form's name.
        let map_flags = [
            ("NO_PREALLOC", flags::NO_PREALLOC, uapi::BPF_F_NO_PREALLOC),
            ("NO_COMMON_LRU", flags::NO_COMMON_LRU, uapi::BPF_F_NO_COMMON_LRU),
            ("NUMA_NODE", flags::NUMA_NODE, uapi::BPF_F_NUMA_NODE),
            ("RDONLY", flags::RDONLY, uapi::BPF_F_RDONLY),
            ("WRONLY", flags::WRONLY, uapi::BPF_F_WRONLY),
            (
                "STACK_BUILD_ID",
                flags::STACK_BUILD_ID,
                uapi::BPF_F_STACK_BUILD_ID,
            ),
            ("ZERO_SEED", flags::ZERO_SEED, uapi::BPF_F_ZERO_SEED),
            ("RDONLY_PROG", flags::RDONLY_PROG, uapi::BPF_F_RDONLY_PROG),
            ("WRONLY_PROG", flags::WRONLY_PROG, uapi::BPF_F_WRONLY_PROG),
            ("CLONE", flags::CLONE, uapi::BPF_F_CLONE),
            ("MMAPABLE", flags::MMAPABLE, uapi::BPF_F_MMAPABLE),
            (
                "PRESERVE_ELEMS",
                flags::PRESERVE_ELEMS,
                uapi::BPF_F_PRESERVE_ELEMS,
            ),
            ("INNER_MAP", flags::INNER_MAP, uapi::BPF_F_INNER_MAP),
        ];
        assert_eq!(flags::MAP_FLAG_NAMES.len(), map_flags.len());
        for (name, ours, header) in map_flags {
            assert_eq!(ours, header, "BPF_F_{name}");
            let named = flags::MAP_FLAG_NAMES.iter().find(|(_, n)| *n == name);
            assert_eq!(
                named.map(|(v, _)| *v),
                Some(header),
                "BPF_F_{name} in MAP_FLAG_NAMES"
            );
        }
        let elem = [
            (flags::ANY, uapi::BPF_ANY),
            (flags::NOEXIST, uapi::BPF_NOEXIST),
            (flags::EXIST, uapi::BPF_EXIST),
            (flags::F_LOCK, uapi::BPF_F_LOCK),
            (flags::F_CPU, uapi::BPF_F_CPU),
            (flags::F_ALL_CPUS, uapi::BPF_F_ALL_CPUS),
        ];
        for (ours, header) in elem {
            assert_eq!(ours, header as u64);
        }
        let types = [
            (MapType::Hash, uapi::BPF_MAP_TYPE_HASH),
            (MapType::Array, uapi::BPF_MAP_TYPE_ARRAY),
            (MapType::ProgArray, uapi::BPF_MAP_TYPE_PROG_ARRAY),
            (MapType::PerfEventArray, uapi::BPF_MAP_TYPE_PERF_EVENT_ARRAY),
            (MapType::PercpuHash, uapi::BPF_MAP_TYPE_PERCPU_HASH),
            (MapType::PercpuArray, uapi::BPF_MAP_TYPE_PERCPU_ARRAY),
            (MapType::CgroupArray, uapi::BPF_MAP_TYPE_CGROUP_ARRAY),
            (MapType::ArrayOfMaps, uapi::BPF_MAP_TYPE_ARRAY_OF_MAPS),
            (MapType::HashOfMaps, uapi::BPF_MAP_TYPE_HASH_OF_MAPS),
            (MapType::LruHash, uapi::BPF_MAP_TYPE_LRU_HASH),
            (MapType::LruPercpuHash, uapi::BPF_MAP_TYPE_LRU_PERCPU_HASH),
        ];
        for (t, header) in types {
            assert_eq!(t.raw(), header, "{t:?}");
        }
        let progs = [
            (ProgType::SocketFilter, uapi::BPF_PROG_TYPE_SOCKET_FILTER),
            (ProgType::SchedCls, uapi::BPF_PROG_TYPE_SCHED_CLS),
            (ProgType::Xdp, uapi::BPF_PROG_TYPE_XDP),
        ];
        for (t, header) in progs {
            assert_eq!(t.raw(), header, "{t:?}");
        }
        let errnos = [
            (Errno::EPERM, libc::EPERM),
            (Errno::ENOENT, libc::ENOENT),
            (Errno::EIO, libc::EIO),
            (Errno::E2BIG, libc::E2BIG),
            (Errno::EBADF, libc::EBADF),
            (Errno::ENOMEM, libc::ENOMEM),
            (Errno::EFAULT, libc::EFAULT),
            (Errno::EBUSY, libc::EBUSY),
            (Errno::EEXIST, libc::EEXIST),
            (Errno::EINVAL, libc::EINVAL),
            (Errno::EMFILE, libc::EMFILE),
            (Errno::ENOSPC, libc::ENOSPC),
            (Errno::EBADFD, libc::EBADFD),
            (Errno::EOPNOTSUPP, libc::EOPNOTSUPP),
        ];
        for (ours, libc_value) in errnos {
            assert_eq!(ours.num(), libc_value, "{ours}");
        }
        // ENOTSUPP is kernel-internal (include/linux/errno.h), not in libc.
        assert_eq!(Errno::ENOTSUPP.num(), 524);
    }
}
