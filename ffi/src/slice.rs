//! Borrowed strings and pairs shared by inputs and outputs.

use std::os::raw::c_char;

/// A real address for empty outputs (see [`weir_str::EMPTY`]); a one-byte
/// literal, so it is not folded to a dangling pointer.
const EMPTY_BYTES: &[u8] = b"\0";

/// A borrowed UTF-8 string: `len` bytes at `ptr`, not NUL-terminated.
///
/// As an output its lifetime is stated by the function that fills it; `ptr` is
/// never NULL (an empty string points at a static empty string).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_str {
    /// First byte.
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

impl weir_str {
    /// The empty string. Its pointer is a real address: Rust's pointer for
    /// an empty string or slice is a dangling small number (`0x1`), which
    /// must not reach Go (its stack copier aborts on a pointer below 4096).
    pub const EMPTY: weir_str = weir_str {
        ptr: EMPTY_BYTES.as_ptr().cast(),
        len: 0,
    };

    /// Borrows `s` (the caller states how long it lives).
    #[inline(always)]
    pub fn new(s: &str) -> weir_str {
        if s.is_empty() {
            return weir_str::EMPTY;
        }
        weir_str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    /// A static string.
    pub fn from_static(s: &'static str) -> weir_str {
        weir_str::new(s)
    }
}

impl Default for weir_str {
    fn default() -> Self {
        weir_str::EMPTY
    }
}

/// Borrowed bytes (not necessarily UTF-8), e.g. a direct response's body.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_bytes {
    /// First byte (never NULL in outputs).
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl weir_bytes {
    /// Borrows `b`.
    pub fn new(b: &[u8]) -> weir_bytes {
        let b: &[u8] = if b.is_empty() { &EMPTY_BYTES[..0] } else { b };
        weir_bytes {
            ptr: b.as_ptr(),
            len: b.len(),
        }
    }
}

impl Default for weir_bytes {
    fn default() -> Self {
        weir_bytes::new(&[])
    }
}

/// A name/value pair of borrowed strings: a request header, a workload label,
/// a header edit. As an input both are `ptr + len` UTF-8 (`(NULL, 0)` empty).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_header {
    /// Name bytes.
    pub name: *const c_char,
    /// Name length.
    pub name_len: usize,
    /// Value bytes.
    pub value: *const c_char,
    /// Value length.
    pub value_len: usize,
}

impl weir_header {
    /// Borrows `name` and `value` (an empty one as [`weir_str::EMPTY`]).
    pub fn new(name: &str, value: &str) -> weir_header {
        let (name, value) = (weir_str::new(name), weir_str::new(value));
        weir_header {
            name: name.ptr,
            name_len: name.len,
            value: value.ptr,
            value_len: value.len,
        }
    }
}
