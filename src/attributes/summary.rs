//! [`GroupSummary`]: a row group's attribute summaries, decoded once into memory so a
//! filtered search decides whether to skip a group without touching its pages.
//!
//! Built from the summaries the row group stores in its attribute section (min/max,
//! null counts, dictionaries). A dictionary is kept as a small Bloom filter over its
//! strings: a filter's string literal is hashed once per query and tested against each
//! group's filter in a few instructions. False positives only cost a mask; a group
//! with a match is never skipped.

use super::section::{Body, Section};

/// Bits per dictionary string in a Bloom filter (3 probes: about 3% false positives).
const BITS_PER_STRING: usize = 12;
/// Largest Bloom filter, in 64-bit words (a dictionary past 2,730 strings saturates it
/// a little).
const MAX_BLOOM_WORDS: usize = 512;

/// The hash of a string for [`GroupSummary`] Bloom filters (FNV-1a, then mixed).
pub(crate) fn hash(s: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in s {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// One attribute column's summary.
#[derive(Debug, Clone)]
pub(crate) struct ColumnSummary {
    pub attribute: u16,
    pub null_count: u32,
    pub min: u64,
    pub max: u64,
    /// Strings of the dictionary (string and tags columns).
    pub dictionary_len: u32,
    bloom: Box<[u64]>,
}

impl ColumnSummary {
    /// Whether the dictionary may hold the string of hash `h` (always false for an
    /// empty dictionary, never false for one it holds).
    #[inline]
    pub fn may_hold(&self, h: u64) -> bool {
        if self.bloom.is_empty() {
            return false;
        }
        let bits = self.bloom.len() as u64 * 64;
        (0..3).all(|i| {
            let bit = h.rotate_left(21 * i) % bits;
            self.bloom[(bit / 64) as usize] >> (bit % 64) & 1 == 1
        })
    }
}

/// A row group's summaries, by attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupSummary {
    pub rows: usize,
    columns: Vec<ColumnSummary>,
}

impl GroupSummary {
    /// The summaries of `section` (a group of `rows` rows).
    pub fn of(section: &Section<'_>, rows: usize) -> GroupSummary {
        let columns = section
            .columns()
            .map(|c| {
                let mut bloom: Box<[u64]> = Box::new([]);
                let dictionary = match c.body {
                    Body::Str { dict, .. } | Body::Tags { dict, .. } => Some(dict),
                    _ => None,
                };
                if let Some(dict) = dictionary.filter(|d| d.len > 0) {
                    let words = (dict.len * BITS_PER_STRING).div_ceil(64).next_power_of_two().min(MAX_BLOOM_WORDS);
                    let mut b = vec![0u64; words];
                    let bits = words as u64 * 64;
                    for i in 0..dict.len {
                        let h = hash(dict.get(i));
                        for k in 0..3 {
                            let bit = h.rotate_left(21 * k) % bits;
                            b[(bit / 64) as usize] |= 1 << (bit % 64);
                        }
                    }
                    bloom = b.into_boxed_slice();
                }
                ColumnSummary {
                    attribute: c.attribute,
                    null_count: c.null_count,
                    min: c.min,
                    max: c.max,
                    dictionary_len: dictionary.map_or(0, |d| d.len as u32),
                    bloom,
                }
            })
            .collect();
        GroupSummary { rows, columns }
    }

    /// The summary of `attribute`'s column (`None`: null in every row).
    #[inline]
    pub fn column(&self, attribute: u16) -> Option<&ColumnSummary> {
        self.columns.iter().find(|c| c.attribute == attribute)
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::AttributeValue;
    use crate::attributes::section;

    #[test]
    fn a_dictionary_string_is_always_found_and_most_others_are_not() {
        let rows: Vec<_> = (0..300).map(|i| vec![(0u16, AttributeValue::String(format!("value-{}", i % 100)))]).collect();
        let bytes = section::encode(&rows);
        let summary = GroupSummary::of(&Section::parse(&bytes, rows.len()).unwrap(), rows.len());
        let column = summary.column(0).unwrap();
        assert_eq!(column.dictionary_len, 100);
        assert!((0..100).all(|i| column.may_hold(hash(format!("value-{i}").as_bytes()))));
        let false_positives = (0..10_000).filter(|i| column.may_hold(hash(format!("other-{i}").as_bytes()))).count();
        assert!(false_positives < 500, "{false_positives} false positives in 10,000");
        assert!(summary.column(1).is_none());
    }
}
