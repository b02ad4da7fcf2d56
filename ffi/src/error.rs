//! Result codes and their messages.

use crate::cast;
use crate::panic;

/// What a call did. `WEIR_RESULT_OK` is 0; every other number names one
/// failure and is never reused for another meaning.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum weir_result {
    /// Success.
    Ok = 0,
    /// A required pointer (handle, input or out-pointer) was NULL.
    NullParameter = 1,
    /// A string input was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An input was malformed: a length over `PTRDIFF_MAX`, an address that
    /// does not parse as `ip[:port]`, …
    InvalidArgument = 3,
    /// An input was over Weir's size limit (configs: 64 MiB).
    InputTooLarge = 4,
    /// The config had errors: nothing changed, the previous table keeps
    /// serving; the diagnostics say why.
    ConfigRejected = 5,
    /// Weir panicked inside the call (a bug): the call had no effect that
    /// can be relied on, but the process keeps running.
    Panic = 6,
    /// An index was out of range.
    IndexOutOfRange = 7,
    /// The handle is not live (freed twice, or never made by Weir); detected
    /// for engines, decisions, diagnostics and stats, not for snapshots.
    InvalidHandle = 8,
    /// The `weir_decision` holds no decision (none made yet, or the last
    /// decide call failed).
    NoDecision = 9,
    /// The caller's buffer is too small for the whole output: nothing was
    /// written, and the size needed was (`weir_engine_metrics`).
    BufferTooSmall = 10,
}

impl weir_result {
    /// The message for this code.
    pub fn message(self) -> &'static str {
        match self {
            weir_result::Ok => "ok",
            weir_result::NullParameter => "a required pointer argument was NULL",
            weir_result::InvalidUtf8 => "a string argument was not valid UTF-8",
            weir_result::InvalidArgument => {
                "an argument was malformed (length too large or unparsable address)"
            }
            weir_result::InputTooLarge => "an input exceeded the size limit",
            weir_result::ConfigRejected => "the config was rejected; see the diagnostics",
            weir_result::Panic => "internal error: weir panicked (please report this bug)",
            weir_result::IndexOutOfRange => "index out of range",
            weir_result::InvalidHandle => "the handle is not live (already freed?)",
            weir_result::NoDecision => "the decision object holds no decision",
            weir_result::BufferTooSmall => "the buffer is too small; the size needed was written",
        }
    }
}

/// Copies the message of `result` into `buf` (at most `len` bytes, not
/// NUL-terminated; truncated to fit at a character boundary) and the number
/// of bytes written into `*out_n`.
///
/// An unknown code gives `"unknown result code"`. Thread-safe; retains nothing.
///
/// # Safety
/// `buf` must be writable for `len` bytes (or NULL with `len` 0); `out_n` must
/// point to writable memory.
#[no_mangle]
pub unsafe extern "C" fn weir_error_message(
    result: u32,
    buf: *mut std::os::raw::c_char,
    len: usize,
    out_n: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let out_n = cast::try_out(out_n)?;
        let buf = cast::try_bytes_mut(buf.cast::<u8>(), len)?;
        let msg = match result {
            0..=10 => message_of(result),
            _ => "unknown result code",
        };
        let mut n = msg.len().min(buf.len());
        while !msg.is_char_boundary(n) {
            n -= 1;
        }
        buf[..n].copy_from_slice(&msg.as_bytes()[..n]);
        *out_n = n;
        Ok(())
    })
}

fn message_of(code: u32) -> &'static str {
    let r = match code {
        0 => weir_result::Ok,
        1 => weir_result::NullParameter,
        2 => weir_result::InvalidUtf8,
        3 => weir_result::InvalidArgument,
        4 => weir_result::InputTooLarge,
        5 => weir_result::ConfigRejected,
        6 => weir_result::Panic,
        7 => weir_result::IndexOutOfRange,
        8 => weir_result::InvalidHandle,
        9 => weir_result::NoDecision,
        _ => weir_result::BufferTooSmall,
    };
    r.message()
}
