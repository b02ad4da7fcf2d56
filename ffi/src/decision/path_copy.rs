//! The request path's copy into the decision object, inline for short paths.

/// Paths up to this long are copied inline by [`copy_short`].
pub(super) const SHORT_PATH: usize = 64;

/// Copies `src` (at most [`SHORT_PATH`] bytes) to the start of `dst`'s
/// buffer (its capacity is at least that; its length is left as it is),
/// with a few overlapping 16-, 8- or 4-byte moves instead of a call to
/// `memcpy` (measured in benches/ffi.rs).
///
/// The move ending at `n` goes first: the path is read
/// from its start soon after (the core's `?` scan and prefix matches), and
/// a load that finds its bytes in two in-flight stores waits for both to
/// commit, while one inside the last (youngest) store is forwarded from it.
#[inline(always)]
pub(super) fn copy_short(dst: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    assert!(n <= SHORT_PATH && dst.capacity() >= SHORT_PATH);
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    // SAFETY: every move reads within `src` and writes within the first `n`
    // bytes of `dst`'s capacity (checked above); unaligned reads and writes
    // of byte arrays are allowed anywhere in bounds.
    unsafe {
        let move16 = |at: usize| {
            d.add(at)
                .cast::<[u8; 16]>()
                .write_unaligned(s.add(at).cast::<[u8; 16]>().read_unaligned());
        };
        if n >= 16 {
            move16(n - 16);
            for at in [0, 16, 32] {
                if at + 16 < n {
                    move16(at);
                }
            }
        } else if n >= 8 {
            d.add(n - 8)
                .cast::<[u8; 8]>()
                .write_unaligned(s.add(n - 8).cast::<[u8; 8]>().read_unaligned());
            d.cast::<[u8; 8]>()
                .write_unaligned(s.cast::<[u8; 8]>().read_unaligned());
        } else {
            for i in 0..n {
                *d.add(i) = *s.add(i);
            }
        }
    }
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    /// Every length up to [`SHORT_PATH`], each byte distinct from its neighbours.
    #[test]
    fn copy_short_copies_every_length() {
        let src: Vec<u8> = (0..SHORT_PATH as u8)
            .map(|b| b.wrapping_mul(7) ^ 0x5a)
            .collect();
        for n in 0..=SHORT_PATH {
            let mut dst = Vec::with_capacity(SHORT_PATH + 8);
            copy_short(&mut dst, &src[..n]);
            // SAFETY: `copy_short` wrote the first `n` bytes of the buffer.
            let copied = unsafe { std::slice::from_raw_parts(dst.as_ptr(), n) };
            assert_eq!(copied, &src[..n], "len {n}");
            assert!(dst.is_empty(), "the length is left as it is");
        }
    }
}
