//! Choosing among weighted destinations and among endpoints.
//!
//! Every structure here is built at compile (or endpoint-update) time; picks
//! borrow it and allocate nothing.

pub mod hash_policy;
pub mod maglev;
pub mod ring_hash;
pub mod weighted;
pub mod xxh64;

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
