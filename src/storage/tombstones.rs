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

/// The tombstones of one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tombstones {
    deleted_at: HashMap<u128, u64>,
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
