//! MurmurHash2, 64-bit: the hash Envoy's ring hash uses for
//! `hash_function: MURMUR_HASH_2` (`source/common/common/hash.h`).

/// Envoy's murmur2 seed (`source/common/common/hash.h`, `MurmurHash::STD_HASH_SEED`).
pub const MURMUR_SEED: u64 = 0xc70f_6907;

/// MurmurHash2, 64-bit, as libstdc++'s `std::_Hash_bytes` computes it on
/// 64-bit targets (Envoy `MurmurHash::murmurHash2`): 8-byte little-endian
/// blocks, the tail read as a little-endian integer.
pub fn murmur_hash2_64(bytes: &[u8], seed: u64) -> u64 {
    const MUL: u64 = 0xc6a4_a793_5bd1_e995;
    fn shift_mix(v: u64) -> u64 {
        v ^ (v >> 47)
    }
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(MUL);
    let mut blocks = bytes.chunks_exact(8);
    for b in &mut blocks {
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        let data = shift_mix(u64::from_le_bytes(word).wrapping_mul(MUL)).wrapping_mul(MUL);
        h ^= data;
        h = h.wrapping_mul(MUL);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let data = tail
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        h ^= data;
        h = h.wrapping_mul(MUL);
    }
    h = shift_mix(h).wrapping_mul(MUL);
    shift_mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_envoy_hash_test() {
        // hash_test.cc (spec §5): (input, murmur2 with Envoy's seed)
        let cases: &[(&str, u64)] = &[
            ("foo", 9631199822919835226),
            ("", 6142509188972423790),
            ("lyft", 12847078931730529320),
        ];
        for &(input, want) in cases {
            assert_eq!(
                murmur_hash2_64(input.as_bytes(), MURMUR_SEED),
                want,
                "{input:?}"
            );
        }
    }
}
