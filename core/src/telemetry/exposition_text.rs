//! Where exposition text goes (a `String`, a caller's buffer, or only its
//! length) and how its numbers print: integers through a small formatter,
//! sums exactly as the first, `format!`-based renderer printed them.

use std::fmt::Write;

/// Where rendered text goes: a `String`, a caller's buffer, or nowhere
/// (only its length is wanted).
pub(super) trait Text {
    fn put(&mut self, s: &str);
    /// Puts ASCII bytes (digits), sparing a UTF-8 check where bytes are
    /// what is written.
    fn put_ascii(&mut self, ascii: &[u8]);
}

impl Text for String {
    #[inline]
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    #[inline]
    fn put_ascii(&mut self, ascii: &[u8]) {
        self.extend(ascii.iter().map(|&b| char::from(b)));
    }
}

/// Counts the bytes only: sizes the text before it is written.
pub(super) struct Length(pub(super) usize);

impl Text for Length {
    #[inline]
    fn put(&mut self, s: &str) {
        self.0 += s.len();
    }
    #[inline]
    fn put_ascii(&mut self, ascii: &[u8]) {
        self.0 += ascii.len();
    }
}

/// A caller's buffer, sized beforehand; never written past its end.
pub(super) struct Buffer<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) len: usize,
}

impl Text for Buffer<'_> {
    #[inline]
    fn put(&mut self, s: &str) {
        self.put_ascii(s.as_bytes());
    }
    #[inline]
    fn put_ascii(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }
}

/// `"00"`, `"01"`, … `"99"`: two digits a division.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `v` in decimal (as `{v}` prints it), written at the end of `buf`.
#[inline]
fn decimal_ascii(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    &buf[i..]
}

/// [`decimal_ascii`] as text (for label values, made once a series).
pub(super) fn decimal(v: u64, buf: &mut [u8; 20]) -> &str {
    // Only ASCII digits were written.
    std::str::from_utf8(decimal_ascii(v, buf)).unwrap_or("0")
}

#[inline]
pub(super) fn put_u64(out: &mut impl Text, v: u64) {
    out.put_ascii(decimal_ascii(v, &mut [0u8; 20]));
}

/// A short text made with `write!` on the stack (no allocation): the rare
/// numbers only `f64`'s printing gets right.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `v` as `{v}` prints an `f64` (shortest text that reads back the same).
fn put_f64(out: &mut impl Text, v: f64) {
    let mut text = StackText {
        buf: [0; 64],
        len: 0,
    };
    // An f64 below 2^64 prints in well under 64 bytes.
    if write!(text, "{v}").is_ok() {
        out.put(std::str::from_utf8(&text.buf[..text.len]).unwrap_or("0"));
    }
}

/// Sums at or above this are printed through `f64` (the first renderer
/// wrote `sum as f64`): below it the integer or the three-decimal quotient
/// is exactly what `f64` prints (its ulp stays under a thousandth).
const EXACT_BELOW: u64 = 1 << 50;

/// A duration sum of `micros` microseconds in milliseconds, as the
/// `f64` `micros / 1000.0` prints: integer part, then up to three
/// decimals without trailing zeros.
pub(super) fn put_millis(out: &mut impl Text, micros: u64) {
    if micros >= EXACT_BELOW {
        return put_f64(out, micros as f64 / 1000.0);
    }
    put_u64(out, micros / 1000);
    let frac = micros % 1000;
    if frac != 0 {
        let digit = |d: u64| b'0' + d as u8;
        let text = [
            b'.',
            digit(frac / 100),
            digit(frac / 10 % 10),
            digit(frac % 10),
        ];
        let len = if frac % 10 != 0 {
            4
        } else if frac % 100 != 0 {
            3
        } else {
            2
        };
        out.put_ascii(&text[..len]);
    }
}

/// A byte sum, as the `f64` `bytes as f64` prints.
pub(super) fn put_bytes(out: &mut impl Text, bytes: u64) {
    if bytes >= EXACT_BELOW {
        put_f64(out, bytes as f64);
    } else {
        put_u64(out, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integers, milliseconds and byte sums print as the `format!`
    /// renderer printed them (`{u64}`, `{micros as f64 / 1000.0}`,
    /// `{bytes as f64}`), over edges and a fixed pseudo-random sweep of
    /// every magnitude.
    #[test]
    fn numbers_print_as_format_did() {
        let mut values = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            1001,
            1010,
            1100,
            123_456_789,
            EXACT_BELOW - 1,
            EXACT_BELOW,
            EXACT_BELOW + 1,
            (1 << 53) - 1,
            1 << 53,
            (1 << 53) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            // splitmix64, shifted to spread values over every bit length.
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            values.push(z >> (z % 64));
        }
        for v in values {
            let mut s = String::new();
            put_u64(&mut s, v);
            assert_eq!(s, format!("{v}"));
            s.clear();
            put_millis(&mut s, v);
            assert_eq!(s, format!("{}", v as f64 / 1000.0), "millis of {v}");
            s.clear();
            put_bytes(&mut s, v);
            assert_eq!(s, format!("{}", v as f64), "bytes {v}");
        }
    }

    /// The buffer writer never writes past the end it was given.
    #[test]
    fn buffer_never_overruns() {
        let mut buf = [b'#'; 4];
        let mut out = Buffer {
            buf: &mut buf[..3],
            len: 0,
        };
        out.put("ab");
        out.put("cd");
        assert_eq!(out.len, 4);
        assert_eq!(&buf, b"ab##");
    }
}
