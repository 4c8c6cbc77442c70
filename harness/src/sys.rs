//! The one seam through which every `bpf(2)` call passes: raw fds in, raw errno out.
//! The core idea: `Kernel` talks to a `Sys`; `RealSys` calls libbpf-sys (and the raw syscall
//! for MAP_CREATE), and unit tests swap in a fake to test errno handling without root.

use mapcheck_model::{Errno, MapSpec};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Every syscall the kernel backend makes.
pub trait Sys {
    /// `BPF_MAP_CREATE` with exactly these attributes.
    fn map_create(&mut self, spec: &MapSpec) -> Result<OwnedFd, Errno>;
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
    /// How many elements fit.
    pub count: u32,
}

/// The real kernel through libbpf-sys.
#[derive(Default)]
pub struct RealSys;

fn ret(r: i32) -> Result<(), Errno> {
    // libbpf 1.x returns -errno directly (libbpf_err_errno), ENOTSUPP included.
    if r < 0 {
        Err(Errno(-r))
    } else {
        Ok(())
    }
}

fn ptr(b: &[u8]) -> *const libc::c_void {
    b.as_ptr().cast()
}

fn mptr(b: &mut [u8]) -> *mut libc::c_void {
    b.as_mut_ptr().cast()
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

impl Sys for RealSys {
    fn map_create(&mut self, spec: &MapSpec) -> Result<OwnedFd, Errno> {
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
        if fd < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)));
        }
        // SAFETY: the kernel just returned this fd and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
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
        let opts = libbpf_sys::bpf_map_batch_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
            elem_flags: 0,
            flags: 0,
        };
        let mut count = b.count;
        let in_batch = b
            .in_batch
            .map_or(std::ptr::null_mut(), |x| x.as_ptr() as *mut libc::c_void);
        // SAFETY: keys/values hold `count` records of the map's key and value size, the
        // cursors are at least as large as the map's batch token, count and opts are live.
        let r = unsafe {
            libbpf_sys::bpf_map_lookup_batch(
                fd,
                in_batch,
                mptr(b.out_batch),
                mptr(b.keys),
                mptr(b.values),
                &mut count,
                &opts,
            )
        };
        (count, ret(r).err())
    }
}
