//! Choosing among weighted destinations and among endpoints.
//!
//! Every structure here is built at compile (or endpoint-update) time; picks
//! borrow it and allocate nothing.

pub mod address_text;
pub mod hash_policy;
mod header_hash;
pub mod maglev;
pub mod murmur2;
mod request_text;
pub mod ring_hash;
pub mod weighted;
pub mod xxh64;

#[cfg(test)]
pub(crate) mod test_support;

/// Derives an independent 64-bit value from `state` (one splitmix64 step).
///
/// The weighted-destination pick uses the caller's entropy as is (Envoy parity);
/// every other random choice draws its own value through this, so the choices
/// are independent rather than correlated.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hosts as `(key, index in hosts, normalised weight)`, weight-0 hosts left
/// out; `None` when no host has weight. Envoy's flat normalisation
/// (`thread_aware_lb_impl.cc` `normalizeHostWeights`): `w * 1.0 / sum` in f64,
/// in that order, so ring entry counts match bit for bit.
pub(crate) fn normalized_weights<'h>(
    hosts: &[(&'h str, u32)],
) -> Option<Vec<(&'h [u8], u32, f64)>> {
    let sum: u64 = hosts.iter().map(|&(_, w)| u64::from(w)).sum();
    if sum == 0 {
        return None;
    }
    Some(
        hosts
            .iter()
            .enumerate()
            .filter(|(_, &(_, w))| w != 0)
            .map(|(i, &(key, w))| (key.as_bytes(), i as u32, (f64::from(w) * 1.0) / sum as f64))
            .collect(),
    )
}

/// `x % d` without a hardware divide, for a divisor fixed at build time:
/// Maglev's table size, a route's total weight.
///
/// Barrett reduction: with `m = floor(2^64 / d)`, `q = floor(x * m / 2^64)`
/// is the true quotient or one less, so one conditional subtraction makes the
/// remainder exact for every `x` and every `d >= 2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modulus {
    d: u64,
    m: u64,
}

impl Modulus {
    /// Prepares `% d`; `d` of 0 or 1 gives remainder 0.
    pub fn new(d: u64) -> Self {
        let m = if d >= 2 {
            ((1u128 << 64) / u128::from(d)) as u64
        } else {
            0
        };
        Modulus { d, m }
    }

    /// The divisor.
    pub fn divisor(self) -> u64 {
        self.d
    }

    /// `x % d`.
    #[inline]
    pub fn remainder(self, x: u64) -> u64 {
        if self.d <= 1 {
            return 0;
        }
        let q = ((u128::from(x) * u128::from(self.m)) >> 64) as u64;
        let r = x.wrapping_sub(q.wrapping_mul(self.d));
        if r >= self.d {
            r - self.d
        } else {
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_equals_the_remainder() {
        let divisors = [
            0u64,
            1,
            2,
            3,
            7,
            100,
            131,
            65_535,
            65_537,
            5_000_011,
            1 << 31,
            0xFFFF_FFFF,
            1 << 32,
            999_999_937,
            (1 << 63) + 12345,
            u64::MAX - 58,
            u64::MAX,
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for &d in &divisors {
            let m = Modulus::new(d);
            let want = |a: u64| if d == 0 { 0 } else { a % d };
            let edges = [
                0,
                1,
                d.wrapping_sub(1),
                d,
                d.wrapping_add(1),
                d.wrapping_mul(2),
                u64::MAX,
                u64::MAX - 1,
            ];
            for a in edges {
                assert_eq!(m.remainder(a), want(a), "{a} % {d}");
            }
            for _ in 0..100_000 {
                let a = splitmix64(&mut x);
                assert_eq!(m.remainder(a), want(a), "{a} % {d}");
            }
        }
    }
}
