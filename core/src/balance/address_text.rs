//! Socket addresses and IPs written as Envoy writes them, into stack
//! buffers: the text some hash keys and the generated cookie are hashed from.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// A fixed-capacity `fmt::Write` target on the stack; writes past capacity fail.
#[derive(Debug)]
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text written so far (only `&str`s are ever written).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `ip:port`, IPv6 as `[ip]:port`, like Envoy's `Address::Instance::asString()`.
pub fn write_socket_addr(out: &mut dyn fmt::Write, addr: SocketAddr) -> fmt::Result {
    match addr {
        SocketAddr::V4(a) => write!(out, "{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            out.write_char('[')?;
            write_ipv6(out, a.ip())?;
            write!(out, "]:{}", a.port())
        }
    }
}

/// The IP as Envoy's `addressAsString()` writes it (no port, no brackets).
pub fn write_ip(out: &mut dyn fmt::Write, ip: IpAddr) -> fmt::Result {
    match ip {
        IpAddr::V4(a) => write!(out, "{a}"),
        IpAddr::V6(a) => write_ipv6(out, &a),
    }
}

/// IPv6 text exactly as glibc's `inet_ntop`, which Envoy's
/// `Ipv6Instance::makeFriendlyAddress` calls: the longest run (first on ties)
/// of two or more zero groups becomes `::`, groups are lower-case hex without
/// leading zeros, and IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
/// (`::a.b.c.d`, both last groups non-zero) addresses end in a dotted quad.
/// Rust's `Display` differs on the IPv4-compatible form.
fn write_ipv6(out: &mut dyn fmt::Write, ip: &Ipv6Addr) -> fmt::Result {
    let w = ip.segments();
    // Longest run of zero groups.
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_base = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if i == best_base {
            out.write_char(':')?;
            i += best_len;
            continue;
        }
        if i != 0 {
            out.write_char(':')?;
        }
        let embedded_v4 =
            i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff));
        if embedded_v4 {
            return write!(
                out,
                "{}.{}.{}.{}",
                w[6] >> 8,
                w[6] & 0xff,
                w[7] >> 8,
                w[7] & 0xff
            );
        }
        write!(out, "{:x}", w[i])?;
        i += 1;
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.write_char(':')?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn socket_addresses_format_like_envoy() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.99:54321", "10.0.0.99:54321"),
            ("[2001:db8::1]:8080", "[2001:db8::1]:8080"),
            ("[::ffff:127.0.0.1]:1", "[::ffff:127.0.0.1]:1"),
        ];
        for &(addr, want) in cases {
            let mut out = StackBuf::<64>::new();
            write_socket_addr(&mut out, addr.parse().unwrap()).unwrap();
            assert_eq!(out.as_str(), want);
        }
        let mut tiny = StackBuf::<4>::new();
        assert!(tiny.write_str("hello").is_err());
    }
}
