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

#[cfg(test)]
mod tests {
    use super::*;

    /// The newer kernels' store (unused on 6.18, so only this test checks it): each CPU's
    /// slot keeps its `value_size` bytes and loses the padding up to the 8-byte stride.
    #[test]
    fn percpu_store_zeroes_each_slots_padding() {
        let stride = percpu_stride(5);
        assert_eq!(stride, 8);
        let value: Vec<u8> = (1..=16).collect();
        assert_eq!(
            percpu_store(&value, 5, stride),
            vec![1, 2, 3, 4, 5, 0, 0, 0, 9, 10, 11, 12, 13, 0, 0, 0]
        );
        // A multiple of 8 has no padding: the value round-trips.
        assert_eq!(percpu_store(&value, 8, percpu_stride(8)), value);
    }
}
