//! A fixed-layout bloom filter over document ids (stored in a sealed shard's footer).
//!
//! `words` little-endian u64 words form `64 × words` bits. A document id `x` (u128)
//! sets bits `(h1 + i × h2) mod (64 × words)` for `i in 0..hashes`, where
//! `h1 = mix(lo ^ mix(hi))`, `h2 = mix(h1 ^ 0x9E3779B97F4A7C15) | 1`, `lo`/`hi` are the
//! low and high 64 bits of `x` and `mix` is the SplitMix64 finaliser. About 10 bits per
//! id and 7 hashes give a false-positive rate near 1%.

/// Bits per inserted id.
pub(crate) const BITS_PER_ID: u64 = 10;
/// Number of probes per id.
pub(crate) const HASHES: u32 = 7;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn probes(id: u128, hashes: u32, bits: u64) -> impl Iterator<Item = u64> {
    let h1 = mix(id as u64 ^ mix((id >> 64) as u64));
    let h2 = mix(h1 ^ 0x9E37_79B9_7F4A_7C15) | 1;
    (0..u64::from(hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Builds a filter for a known number of ids.
#[derive(Debug, Clone)]
pub(crate) struct BloomBuilder {
    pub words: Vec<u64>,
}

impl BloomBuilder {
    pub fn with_capacity(ids: usize) -> Self {
        let words = (ids as u64 * BITS_PER_ID).div_ceil(64).max(1);
        BloomBuilder { words: vec![0; words as usize] }
    }

    pub fn insert(&mut self, id: u128) {
        let bits = self.words.len() as u64 * 64;
        for bit in probes(id, HASHES, bits) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }
}

/// Whether `id` may be in the filter made of `words` (false means certainly not).
pub(crate) fn may_contain(words: &[u64], hashes: u32, id: u128) -> bool {
    if words.is_empty() {
        return true;
    }
    let bits = words.len() as u64 * 64;
    probes(id, hashes, bits).all(|bit| words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_ids_are_always_found_and_others_rarely() {
        let mut b = BloomBuilder::with_capacity(10_000);
        for i in 0..10_000u128 {
            b.insert(i * 7919);
        }
        assert!((0..10_000u128).all(|i| may_contain(&b.words, HASHES, i * 7919)));
        let false_positives = (0..10_000u128).filter(|i| may_contain(&b.words, HASHES, i * 7919 + 1)).count();
        assert!(false_positives < 300, "{false_positives} false positives of 10000");
    }
}
