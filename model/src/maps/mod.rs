//! One file per map family. Each family answers element commands after the generic checks of
//! `world.rs` (fd, access mode, flags) have passed, citing the kernel function it mirrors.

pub mod array;
pub mod fd_array;
pub mod hash;

/// `round_up(value_size, 8)`: the stride of one CPU's slot in a per-CPU value buffer
/// (`bpf_map_value_size` in kernel/bpf/syscall.c).
pub fn percpu_stride(value_size: u32) -> usize {
    (value_size as usize).div_ceil(8) * 8
}

/// Keeps the first `value_size` bytes of every CPU's slot and zeroes the padding up to the
/// stride: what a syscall update stores on kernels whose `pcpu_copy_value` uses
/// `copy_map_value` (bpf-next after 6.18). On 6.18 `bpf_percpu_array_update` and
/// `pcpu_copy_value` use `copy_map_value_long`, so the padding round-trips and this is unused
/// (`Profile::percpu_padding_roundtrips`).
pub fn percpu_store(value: &[u8], value_size: u32, stride: usize) -> Vec<u8> {
    let mut out = vec![0u8; value.len()];
    for (dst, src) in out.chunks_mut(stride).zip(value.chunks(stride)) {
        let n = (value_size as usize).min(src.len());
        dst[..n].copy_from_slice(&src[..n]);
    }
    out
}
