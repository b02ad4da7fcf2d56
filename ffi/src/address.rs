//! `weir_address`: an IP address and port in binary form, the way a proxy has
//! its peer from `accept()` or `getsockname()`. Requests and connections carry
//! their addresses like this, so nothing is parsed per request: parsing text
//! (`"10.1.2.3:54321"`) costs ~16 ns, more than the rest of the C ABI's own
//! work per decide (benches/ffi.rs). `weir_address_parse` turns text into one,
//! once per connection.

use crate::cast;
use crate::error::weir_result;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::raw::c_char;

/// `weir_address.family`: no address (unknown). A zeroed `weir_address` is this.
pub const WEIR_ADDRESS_NONE: u8 = 0;
/// `weir_address.family`: IPv4, in `ip[0..4]`.
pub const WEIR_ADDRESS_IPV4: u8 = 4;
/// `weir_address.family`: IPv6, in `ip[0..16]`.
pub const WEIR_ADDRESS_IPV6: u8 = 6;

/// An IP address and port. All-zero is "no address" (`WEIR_ADDRESS_NONE`).
///
/// From a `struct sockaddr_in`: `family = WEIR_ADDRESS_IPV4`, copy the 4
/// bytes of `sin_addr` into `ip`, `port = ntohs(sin_port)`; from a
/// `sockaddr_in6`, the 16 bytes of `sin6_addr` (the scope id is not carried).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct weir_address {
    /// `WEIR_ADDRESS_NONE`, `WEIR_ADDRESS_IPV4` or `WEIR_ADDRESS_IPV6`; any
    /// other value is refused with `WEIR_RESULT_INVALID_ARGUMENT`.
    pub family: u8,
    /// The port, in host byte order; 0 when unknown.
    pub port: u16,
    /// The address in network byte order: IPv4 in the first 4 bytes (the
    /// rest is ignored), IPv6 in all 16.
    pub ip: [u8; 16],
}

impl weir_address {
    /// The address as the core takes it: `None` for `WEIR_ADDRESS_NONE`.
    #[inline(always)]
    pub(crate) fn to_socket_addr(self) -> Result<Option<SocketAddr>, weir_result> {
        let mut out = None;
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// [`to_socket_addr`](Self::to_socket_addr) written in place, each
    /// family with its own stores. The decide path writes its request's
    /// field this way: a value built first and then copied in went through
    /// staged, overlapping stores (a store-to-load forwarding stall).
    #[inline(always)]
    pub(crate) fn write_to(&self, out: &mut Option<SocketAddr>) -> Result<(), weir_result> {
        match self.family {
            WEIR_ADDRESS_NONE => *out = None,
            WEIR_ADDRESS_IPV4 => {
                let [a, b, c, d, ..] = self.ip;
                let ip = Ipv4Addr::from_bits(u32::from_be_bytes([a, b, c, d]));
                *out = Some(SocketAddr::V4(SocketAddrV4::new(ip, self.port)));
            }
            WEIR_ADDRESS_IPV6 => {
                let ip = Ipv6Addr::from_bits(u128::from_be_bytes(self.ip));
                *out = Some(SocketAddr::V6(SocketAddrV6::new(ip, self.port, 0, 0)));
            }
            _ => return Err(weir_result::InvalidArgument),
        }
        Ok(())
    }

    /// The binary form of `addr` (`None`: no address).
    pub(crate) fn from_socket_addr(addr: Option<SocketAddr>) -> Self {
        let Some(addr) = addr else {
            return Self::default();
        };
        let mut ip = [0u8; 16];
        let family = match addr.ip() {
            IpAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.octets());
                WEIR_ADDRESS_IPV4
            }
            IpAddr::V6(v6) => {
                ip = v6.octets();
                WEIR_ADDRESS_IPV6
            }
        };
        weir_address {
            family,
            port: addr.port(),
            ip,
        }
    }
}

/// Parses `ip`, `ip:port`, `[v6]` or `[v6]:port`; empty is `None`.
fn parse_address(text: &str) -> Result<Option<SocketAddr>, weir_result> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(Some(sa));
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Ok(Some(SocketAddr::new(ip, 0))),
        Err(_) => Err(weir_result::InvalidArgument),
    }
}

/// Parses an address written as text (`10.1.2.3`, `10.1.2.3:54321`,
/// `[2001:db8::1]:443`, `::1`) into `*out`; no port reads as port 0, and
/// empty text (`(NULL, 0)`) as no address (`WEIR_ADDRESS_NONE`).
///
/// For callers that hold addresses as text (Go's `http.Request.RemoteAddr`,
/// a test file): parse once per connection, not per request.
///
/// Errors: `WEIR_RESULT_NULL_PARAMETER`, `WEIR_RESULT_INVALID_UTF8`,
/// `WEIR_RESULT_INVALID_ARGUMENT` (text that is not an address). Thread-safe.
///
/// # Safety
/// `text` valid for `text_len` bytes (or NULL with 0); `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_address_parse(
    text: *const c_char,
    text_len: usize,
    out: *mut weir_address,
) -> weir_result {
    crate::panic::boundary(|| {
        let out = cast::try_out(out)?;
        let addr = parse_address(cast::try_str(text, text_len)?)?;
        *out = weir_address::from_socket_addr(addr);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text → binary → the core's `SocketAddr` gives back what std parses.
    #[test]
    fn text_and_binary_forms_agree() {
        for text in ["10.1.2.3:54321", "[2001:db8::1]:443", "[::ffff:1.2.3.4]:1"] {
            let want: SocketAddr = text.parse().unwrap();
            let a = weir_address::from_socket_addr(Some(want));
            assert_eq!(a.to_socket_addr(), Ok(Some(want)), "{text}");
        }
        let v4 = weir_address::from_socket_addr(parse_address("10.0.0.1").unwrap());
        assert_eq!(
            (v4.family, v4.port, &v4.ip[..4]),
            (WEIR_ADDRESS_IPV4, 0, &[10, 0, 0, 1][..])
        );
        let v6 = weir_address::from_socket_addr(parse_address("[::1]").unwrap());
        assert_eq!((v6.family, v6.port, v6.ip[15]), (WEIR_ADDRESS_IPV6, 0, 1));
        assert_eq!(weir_address::default().to_socket_addr(), Ok(None));
        assert_eq!(parse_address(""), Ok(None));
        for bad in ["not-an-ip", "10.0.0.1:99999", "[::1", "1.2.3"] {
            assert_eq!(
                parse_address(bad),
                Err(weir_result::InvalidArgument),
                "{bad}"
            );
        }
    }

    /// A family the ABI does not define is an error, not a guess.
    #[test]
    fn unknown_families_are_refused() {
        for family in [1, 2, 5, 10, 255] {
            let a = weir_address {
                family,
                ..weir_address::default()
            };
            assert_eq!(a.to_socket_addr(), Err(weir_result::InvalidArgument));
        }
    }
}
