//! The cast layer: every raw pointer from C becomes a Rust reference here,
//! after its NULL check, and handles are boxed, registered and freed here.
//!
//! Handles that are created rarely (engine, decision, diagnostics, stats) are
//! recorded in a set of live addresses so that freeing one twice is reported
//! (`WEIR_RESULT_INVALID_HANDLE`) instead of corrupting the heap. Snapshots are
//! taken per request and skip the set: their handle is the table's `Arc`.

use crate::error::weir_result;
use std::collections::HashSet;
use std::os::raw::c_char;
use std::sync::{Arc, LazyLock, Mutex};

type R<T> = Result<T, weir_result>;

static LIVE: LazyLock<Mutex<HashSet<usize>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

fn live() -> std::sync::MutexGuard<'static, HashSet<usize>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Boxes `value`, records the address as live, and returns it.
pub(crate) fn new_handle<T>(value: T) -> *mut T {
    let p = Box::into_raw(Box::new(value));
    live().insert(p as usize);
    p
}

/// Frees a handle made by [`new_handle`]. NULL is a no-op; an address that is
/// not live gives `InvalidHandle` and frees nothing.
///
/// # Safety
/// `p` must be NULL or a pointer returned by `new_handle::<T>`.
pub(crate) unsafe fn free_handle<T>(p: *mut T) -> R<()> {
    if p.is_null() {
        return Ok(());
    }
    if !live().remove(&(p as usize)) {
        return Err(weir_result::InvalidHandle);
    }
    drop(Box::from_raw(p));
    Ok(())
}

/// `&T` from a non-NULL pointer.
///
/// # Safety
/// `p` must be NULL or valid for reads of `T` for `'a`.
#[inline(always)]
pub(crate) unsafe fn try_ref<'a, T>(p: *const T) -> R<&'a T> {
    p.as_ref().ok_or(weir_result::NullParameter)
}

/// `&mut T` from a non-NULL pointer.
///
/// # Safety
/// `p` must be NULL or valid for reads and writes of `T` for `'a`, unaliased.
#[inline(always)]
pub(crate) unsafe fn try_mut<'a, T>(p: *mut T) -> R<&'a mut T> {
    p.as_mut().ok_or(weir_result::NullParameter)
}

/// `Some(&T)` from a pointer that may be NULL (an optional argument).
///
/// # Safety
/// As [`try_ref`].
#[inline(always)]
pub(crate) unsafe fn opt_ref<'a, T>(p: *const T) -> Option<&'a T> {
    p.as_ref()
}

/// `Some(&mut T)` from a pointer that may be NULL (an optional output or
/// handle).
///
/// # Safety
/// As [`try_mut`].
#[inline(always)]
pub(crate) unsafe fn opt_mut<'a, T>(p: *mut T) -> Option<&'a mut T> {
    p.as_mut()
}

/// `r` with a lifetime the caller chooses: for views into data an object
/// owns (a source's boxed strings, a decision's held table) that Rust's
/// borrows cannot express.
///
/// # Safety
/// What `r` points at must stay alive and unchanged for `'a`.
#[inline(always)]
pub(crate) unsafe fn unbounded<'a, T: ?Sized>(r: &T) -> &'a T {
    &*std::ptr::from_ref::<T>(r)
}

/// An out-pointer, checked before any work so outputs are written only on success.
///
/// # Safety
/// As [`try_mut`]; the pointee may be uninitialised (it is only written).
#[inline(always)]
pub(crate) unsafe fn try_out<'a, T: Copy>(p: *mut T) -> R<&'a mut T> {
    p.as_mut().ok_or(weir_result::NullParameter)
}

/// A borrowed slice from `ptr + len`: `(NULL, 0)` is empty, NULL with a
/// length is `NullParameter`, a length over `isize::MAX` bytes is `InvalidArgument`.
///
/// # Safety
/// A non-NULL `p` must be valid for reads of `len` elements for `'a`.
#[inline(always)]
pub(crate) unsafe fn try_slice<'a, T>(p: *const T, len: usize) -> R<&'a [T]> {
    // One branch for both errors, none for an empty pair: the decide path
    // checks several of these per request.
    if bad_pair(p, len) {
        return Err(pair_error(p));
    }
    Ok(checked_slice(p, len))
}

/// True when [`try_slice`] refuses `(p, len)`: NULL with a length, or more
/// than `isize::MAX` bytes. Branch-free: `try_slice` tests it with one branch.
#[inline(always)]
fn bad_pair<T>(p: *const T, len: usize) -> bool {
    // NULL allows only 0 elements; any other pointer up to `isize::MAX` bytes.
    let limit = if p.is_null() {
        0
    } else {
        isize::MAX as usize / std::mem::size_of::<T>().max(1)
    };
    len > limit
}

/// The error of a pair [`bad_pair`] refused: NULL with a length, or too long.
#[cold]
fn pair_error<T>(p: *const T) -> weir_result {
    if p.is_null() {
        weir_result::NullParameter
    } else {
        weir_result::InvalidArgument
    }
}

/// The slice of a pair [`bad_pair`] accepted (not re-checked here). NULL,
/// which comes only with length 0, becomes a dangling pointer without a
/// branch (no slice may have a NULL pointer).
///
/// # Safety
/// `(p, len)` accepted by `bad_pair`; a non-NULL `p` valid for reads of
/// `len` elements for `'a`.
#[inline(always)]
pub(crate) unsafe fn checked_slice<'a, T>(p: *const T, len: usize) -> &'a [T] {
    let p = if p.is_null() {
        std::ptr::NonNull::<T>::dangling().as_ptr().cast_const()
    } else {
        p
    };
    std::slice::from_raw_parts(p, len)
}

/// As [`try_slice`], for bytes given as `const char *`.
///
/// # Safety
/// As [`try_slice`].
#[inline(always)]
pub(crate) unsafe fn try_chars<'a>(p: *const c_char, len: usize) -> R<&'a [u8]> {
    try_slice(p.cast::<u8>(), len)
}

/// A borrowed UTF-8 string from `ptr + len` (`utf8` takes 0 bytes as ASCII,
/// so an empty pair costs no branch either).
///
/// # Safety
/// As [`try_slice`].
#[inline(always)]
pub(crate) unsafe fn try_str<'a>(p: *const c_char, len: usize) -> R<&'a str> {
    utf8(try_chars(p, len)?).ok_or(weir_result::InvalidUtf8)
}

/// `bytes` as UTF-8, or `None`. Request lines and header values are almost
/// always ASCII; checking that first skips `from_utf8`'s per-call setup
/// (measured in benches/ffi.rs).
#[inline(always)]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    non_ascii_utf8(bytes)
}

/// The full UTF-8 check, out of line: rare in request lines and headers.
#[cold]
#[inline(never)]
fn non_ascii_utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// True when every byte is ASCII. Request fields up to 64 bytes (methods,
/// schemes, hosts, most paths) take a few overlapping loads and no call;
/// longer ones (paths with a query string) a 16-byte loop out of line. std's
/// `is_ascii` goes a word at a time after an alignment prologue: ~1
/// instruction a byte, ~6 ns on a 140-byte path (callgrind, benches/ffi.rs).
#[inline(always)]
pub(crate) fn is_ascii(b: &[u8]) -> bool {
    let n = b.len();
    if n < 4 {
        // First, middle and last bytes cover lengths 1 to 3 without a loop.
        return n == 0 || (b[0] | b[n / 2] | b[n - 1]) < 0x80;
    }
    if n <= 8 {
        let (head, tail) = (load::<4>(b, 0), load::<4>(b, n - 4));
        return (u32::from_le_bytes(head) | u32::from_le_bytes(tail)) & 0x8080_8080 == 0;
    }
    if n <= 16 {
        let (head, tail) = (load::<8>(b, 0), load::<8>(b, n - 8));
        return (u64::from_le_bytes(head) | u64::from_le_bytes(tail)) & HIGH_BITS_64 == 0;
    }
    if n <= 64 {
        return is_ascii_17_to_64(b);
    }
    is_ascii_long(b)
}

const HIGH_BITS_64: u64 = 0x8080_8080_8080_8080;

/// [`is_ascii`] for 17 to 64 bytes, inline: the chunks at 0, 16 and 32
/// (each tested against the length, no loop).
#[inline(always)]
fn is_ascii_17_to_64(b: &[u8]) -> bool {
    debug_assert!((17..=64).contains(&b.len()));
    is_ascii_by_chunks(b, [0, 16, 32])
}

/// [`is_ascii`] for more than 64 bytes, out of line: a loop over the chunks.
#[inline(never)]
fn is_ascii_long(b: &[u8]) -> bool {
    let n = b.len();
    is_ascii_by_chunks(b, (0..).step_by(16).take_while(|i| i + 16 < n))
}

/// True when the 16-byte chunks at `starts` that lie before the last 16
/// bytes, and the last 16 bytes (overlapping whatever came before), are all
/// ASCII: OR-ed together, on x86-64 in SSE2 registers (baseline), and tested
/// once with `pmovmskb`. `b` is over 16 bytes.
#[inline(always)]
fn is_ascii_by_chunks(b: &[u8], starts: impl IntoIterator<Item = usize>) -> bool {
    let n = b.len();
    debug_assert!(n > 16);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128};
        let at = |i: usize| {
            let chunk: &[u8; 16] = b[i..i + 16].try_into().expect("16 bytes");
            // SAFETY: SSE2 is part of the x86-64 baseline; the load reads
            // the 16 bytes of `chunk`, unaligned loads are allowed.
            unsafe { _mm_loadu_si128(std::ptr::from_ref(chunk).cast::<__m128i>()) }
        };
        let mut any = at(n - 16);
        for i in starts {
            if i + 16 < n {
                // SAFETY: as above.
                any = unsafe { _mm_or_si128(any, at(i)) };
            }
        }
        // SAFETY: as above.
        unsafe { _mm_movemask_epi8(any) == 0 }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        const HIGH_BITS_128: u128 = (HIGH_BITS_64 as u128) << 64 | HIGH_BITS_64 as u128;
        let mut any = u128::from_le_bytes(load::<16>(b, n - 16));
        for at in starts {
            if at + 16 < n {
                any |= u128::from_le_bytes(load::<16>(b, at));
            }
        }
        any & HIGH_BITS_128 == 0
    }
}

/// `N` bytes of `b` from `at` (in bounds: callers check the length first).
#[inline(always)]
fn load<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// A writable byte buffer from `ptr + len` (`(NULL, 0)` is empty).
///
/// # Safety
/// A non-NULL `p` must be valid for writes of `len` bytes for `'a`.
pub(crate) unsafe fn try_bytes_mut<'a>(p: *mut u8, len: usize) -> R<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(weir_result::NullParameter);
    }
    if len > isize::MAX as usize {
        return Err(weir_result::InvalidArgument);
    }
    Ok(std::slice::from_raw_parts_mut(p, len))
}

/// Turns an `Arc` into a handle (no allocation: the pointer is the `Arc`'s).
pub(crate) fn arc_into_handle<T, H>(arc: Arc<T>) -> *const H {
    Arc::into_raw(arc).cast::<H>()
}

/// Borrows the `T` behind an `Arc` handle.
///
/// # Safety
/// `p` must be NULL or a live handle made by [`arc_into_handle`] from `Arc<T>`.
#[inline(always)]
pub(crate) unsafe fn arc_ref<'a, T, H>(p: *const H) -> R<&'a T> {
    try_ref(p.cast::<T>())
}

/// A new `Arc` on the `T` behind a handle (one more strong count).
///
/// # Safety
/// As [`arc_ref`], non-NULL.
pub(crate) unsafe fn arc_clone<T, H>(p: *const H) -> Arc<T> {
    let p = p.cast::<T>();
    Arc::increment_strong_count(p);
    Arc::from_raw(p)
}

/// Releases an `Arc` handle; NULL is a no-op.
///
/// # Safety
/// As [`arc_ref`]; the handle must not be used afterwards.
pub(crate) unsafe fn arc_free<T, H>(p: *const H) {
    if !p.is_null() {
        drop(Arc::from_raw(p.cast::<T>()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length up to 300 (each branch and the long loop), with one
    /// non-ASCII byte at every position.
    #[test]
    fn is_ascii_finds_any_high_byte() {
        for n in 0..300 {
            let mut b = vec![b'a'; n];
            assert!(is_ascii(&b), "len {n}");
            for i in 0..n {
                b[i] = 0x80;
                assert!(!is_ascii(&b), "len {n}, high byte at {i}");
                b[i] = b'a';
            }
        }
    }

    /// `try_str`'s answers for empty, bad and non-ASCII pairs, as the C
    /// tests expect them through `weir_snapshot_decide`.
    #[test]
    fn try_str_accepts_and_refuses_pairs() {
        let text = "caf\u{e9}";
        let bad_utf8 = [b'a', 0xff];
        let cases: [(*const c_char, usize, Result<&str, weir_result>); 6] = [
            (std::ptr::null(), 0, Ok("")),
            ("x".as_ptr().cast(), 0, Ok("")),
            (std::ptr::null(), 3, Err(weir_result::NullParameter)),
            (
                "x".as_ptr().cast(),
                usize::MAX,
                Err(weir_result::InvalidArgument),
            ),
            (text.as_ptr().cast(), text.len(), Ok(text)),
            (bad_utf8.as_ptr().cast(), 2, Err(weir_result::InvalidUtf8)),
        ];
        for (p, len, want) in cases {
            // SAFETY: every non-NULL pointer is valid for its length, except
            // the huge one, which is refused before anything is read.
            assert_eq!(unsafe { try_str(p, len) }, want, "len {len}");
        }
    }
}
