//! Tombstones: which documents were deleted, and when.
//!
//! A tombstone `(document, t)` hides every stored row of the document whose LSN is
//! below `t`. Rows in shards carry the LSN bound of their row group (`max_lsn`), rows in
//! a frozen memtable their own LSN. A row group whose `max_lsn < t` was written before
//! the delete, so its rows of the document are hidden; rows re-added after the delete
//! have LSNs above `t` and stay visible. The active memtable removes a deleted
//! document's rows physically and needs no tombstone.
//!
//! Tombstones persist in the manifest and are dropped by compaction once no stored row
//! is hidden by them.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// The tombstones of one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tombstones {
    deleted_at: HashMap<u128, u64, IdHashing>,
}

/// Hashing of document ids for the tombstone map, which searches consult for every
/// candidate row while deletes are pending: one multiply-and-fold per id instead of
/// SipHash's rounds, keyed by a per-process random seed so ids chosen to collide
/// cannot be computed in advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdHashing {
    seed: u64,
}

impl Default for IdHashing {
    fn default() -> Self {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let seed = *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x7D1F_7E57u64) | 1);
        IdHashing { seed }
    }
}

impl BuildHasher for IdHashing {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.seed }
    }
}

/// The hasher of [`IdHashing`].
pub(crate) struct IdHasher {
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        let m = u128::from(self.state ^ x) * 0x9E37_79B9_7F4A_7C15u128;
        self.state = (m as u64) ^ ((m >> 64) as u64);
    }

    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.write_u64(x as u64);
        self.write_u64((x >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

impl Tombstones {
    pub fn from_entries(entries: &[(u128, u64)]) -> Self {
        Tombstones { deleted_at: entries.iter().copied().collect() }
    }

    /// Records that `document_id` was deleted at `lsn`.
    pub fn insert(&mut self, document_id: u128, lsn: u64) {
        let at = self.deleted_at.entry(document_id).or_insert(lsn);
        *at = (*at).max(lsn);
    }

    /// Whether a row of `document_id` stored with LSN bound `row_lsn` is deleted.
    #[inline]
    pub fn hides(&self, document_id: u128, row_lsn: u64) -> bool {
        !self.deleted_at.is_empty() && self.deleted_at.get(&document_id).is_some_and(|&t| row_lsn < t)
    }

    pub fn len(&self) -> usize {
        self.deleted_at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deleted_at.is_empty()
    }

    /// The LSN of the newest tombstone (0 without any).
    pub fn newest_lsn(&self) -> u64 {
        self.deleted_at.values().copied().max().unwrap_or(0)
    }

    /// Sorted entries, for the manifest.
    pub fn entries(&self) -> Vec<(u128, u64)> {
        let mut v: Vec<_> = self.deleted_at.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        v
    }

    /// Removes the entries of `applied` that are unchanged since (compaction applied them).
    pub fn remove_applied(&mut self, applied: &Tombstones) {
        for (id, lsn) in &applied.deleted_at {
            if self.deleted_at.get(id) == Some(lsn) {
                self.deleted_at.remove(id);
            }
        }
    }
}
