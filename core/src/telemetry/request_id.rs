//! `x-request-id`: when a request arrives without one, the proxy sets a
//! UUID v4 (as Envoy's connection manager does with `generate_request_id`),
//! made here from the decision's entropy so the same input gives the same id.

use crate::request::Headers;

/// The header Envoy and Istio propagate for tracing and access logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A UUID v4 in its 36-character text form (lower-case hex, RFC 9562).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId([u8; 36]);

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RequestId {
    /// The id of `entropy`: 122 bits drawn by two splitmix64 steps from a
    /// value of their own (the weighted pick uses the entropy itself, so the
    /// id is independent of it), version 4 and RFC variant bits set.
    pub fn from_entropy(entropy: u64) -> RequestId {
        // A stream apart from the other draws derived from the entropy.
        let mut state = entropy ^ 0x7265_7175_6573_7469; // "requesti"
        let hi = crate::balance::splitmix64(&mut state);
        let lo = crate::balance::splitmix64(&mut state);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10xx
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut at = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 0xf)];
            at += 2;
        }
        RequestId(out)
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The id the proxy must set on a request with these headers: `None`
    /// when it has a non-empty `x-request-id` (kept as sent, as Envoy keeps
    /// an edge request's id unless told to regenerate it).
    pub fn to_set(headers: &dyn Headers, entropy: u64) -> Option<RequestId> {
        match headers.get(REQUEST_ID_HEADER) {
            Some(v) if !v.is_empty() => None,
            _ => Some(RequestId::from_entropy(entropy)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;

    #[test]
    fn ids_are_uuid_v4_text() {
        for entropy in [0u64, 1, 42, u64::MAX, 0x9E37_79B9_7F4A_7C15] {
            let id = RequestId::from_entropy(entropy);
            let s = id.as_str();
            assert_eq!(s.len(), 36);
            let groups: Vec<&str> = s.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{s}"
            );
            assert!(s
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert_eq!(&s[14..15], "4", "version nibble: {s}");
            assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "variant: {s}");
            assert_eq!(
                RequestId::from_entropy(entropy),
                id,
                "same entropy, same id"
            );
        }
        assert_ne!(RequestId::from_entropy(1), RequestId::from_entropy(2));
    }

    #[test]
    fn an_existing_id_is_kept() {
        let with = [("X-Request-Id", "abc")];
        let empty = [("x-request-id", "")];
        assert_eq!(RequestId::to_set(&HeaderList(&with), 7), None);
        assert_eq!(
            RequestId::to_set(&HeaderList(&empty), 7),
            Some(RequestId::from_entropy(7))
        );
        assert_eq!(
            RequestId::to_set(&HeaderList(&[]), 7),
            Some(RequestId::from_entropy(7))
        );
    }

    /// Over 4096 ids, each of the 122 random bits is set about half the
    /// time: within 6 standard deviations (sd = 32) of 2048.
    #[test]
    fn random_bits_are_balanced() {
        let mut ones = [0u32; 128];
        for e in 0..4096u64 {
            let id = RequestId::from_entropy(e);
            let hex: String = id.as_str().chars().filter(|&c| c != '-').collect();
            let v = u128::from_str_radix(&hex, 16).unwrap();
            for (bit, n) in ones.iter_mut().enumerate() {
                *n += ((v >> bit) & 1) as u32;
            }
        }
        let fixed = [76, 77, 78, 79, 62, 63]; // version and variant bits
        for (bit, &n) in ones.iter().enumerate() {
            if !fixed.contains(&bit) {
                assert!((2048 - 192..=2048 + 192).contains(&n), "bit {bit}: {n}");
            }
        }
    }
}
