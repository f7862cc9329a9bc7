//! Level 0: recent writes in memory, searched exactly.
//!
//! A memtable is an append-only log of write batches ([`MemBatch`], one per WAL
//! operation, in columns: the shape of a row group) that the WAL leader appends to while
//! searches read it. A [`MemtableView`] is what a collection version holds: the
//! memtable and how many batches of it that version sees, so a version (and a snapshot
//! holding it) always sees the same rows however much is appended later.
//!
//! Invariants:
//! - Every row carries the LSN of the write that added it (its batch's LSN).
//! - Nothing is ever removed or changed: a delete or upsert leaves a tombstone in the
//!   version, which hides the document's rows with smaller LSNs here as in shards.
//! - Appends are serialised by the collection's writer lock; reads take no lock.
//! - Once frozen for a flush a memtable is never appended to again.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::append_log::AppendLog;
use crate::wal::op::PostingBatch;

/// The rows of one write: the WAL operation's columns, moved in, and its LSN.
#[derive(Debug)]
pub(crate) struct MemBatch {
    pub lsn: u64,
    pub rows: PostingBatch,
}

impl MemBatch {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// One collection's in-memory rows.
#[derive(Debug)]
pub(crate) struct Memtable {
    pub dimension: usize,
    batches: AppendLog<MemBatch>,
    bytes: AtomicUsize,
    /// Documents with rows here (the writer's question "may a delete hide something?").
    documents: Mutex<HashSet<u128>>,
}

/// Heap bytes a row costs beyond its vector: id, span, row id, LSN share and the
/// document set's entry.
const ROW_OVERHEAD: usize = 16 + 8 + 8 + 8 + 16;

impl Memtable {
    pub fn new(dimension: usize) -> Self {
        Memtable { dimension, batches: AppendLog::default(), bytes: AtomicUsize::new(0), documents: Mutex::new(HashSet::new()) }
    }

    /// Batches appended so far.
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    /// Approximate heap bytes held (what the flush threshold counts): vectors, per-row
    /// overhead and attribute sections.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Appends the rows of one durable write (moved in, not copied); returns the bytes
    /// added. The caller holds the collection's writer lock.
    pub fn append(&self, batch: PostingBatch, lsn: u64) -> usize {
        if batch.len() == 0 {
            return 0;
        }
        self.documents.lock().extend(batch.document_ids.iter().copied());
        let added = batch.vectors.len() * 4 + batch.len() * ROW_OVERHEAD + batch.attributes.len();
        self.batches.push(MemBatch { lsn, rows: batch });
        self.bytes.fetch_add(added, Ordering::Relaxed);
        added
    }

    /// Whether some row here belongs to `document_id` (hidden or not).
    pub fn contains(&self, document_id: u128) -> bool {
        self.documents.lock().contains(&document_id)
    }

    /// A view of everything appended so far.
    #[cfg(test)]
    pub fn view(self: &Arc<Self>) -> MemtableView {
        let batches = self.batches.len();
        let rows = self.batches.iter(batches).map(MemBatch::len).sum();
        MemtableView { table: self.clone(), batches, rows }
    }
}

/// The first `batches` batches of a memtable: what one version sees of it.
#[derive(Debug, Clone)]
pub(crate) struct MemtableView {
    pub table: Arc<Memtable>,
    pub batches: usize,
    pub rows: usize,
}

/// A row of a memtable view.
#[cfg(test)]
pub(crate) struct MemRow<'a> {
    pub document_id: u128,
    pub row_id: u64,
    pub lsn: u64,
    pub vector: &'a [f32],
}

impl MemtableView {
    pub fn empty(dimension: usize) -> Self {
        MemtableView { table: Arc::new(Memtable::new(dimension)), batches: 0, rows: 0 }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The view extended by the batch just appended (`added` rows).
    pub fn grown(&self, added: usize) -> Self {
        MemtableView { table: self.table.clone(), batches: self.table.batches(), rows: self.rows + added }
    }

    /// The view's batches, in LSN order.
    pub fn batches(&self) -> impl Iterator<Item = &MemBatch> {
        self.table.batches.iter(self.batches)
    }

    /// The view's rows, in LSN order.
    #[cfg(test)]
    pub fn rows(&self) -> impl Iterator<Item = MemRow<'_>> {
        let d = self.table.dimension;
        self.batches().flat_map(move |b| {
            let rows = &b.rows;
            (0..b.len()).map(move |r| MemRow {
                document_id: rows.document_ids[r],
                row_id: rows.row_id_base + r as u64,
                lsn: b.lsn,
                vector: &rows.vectors[r * d..(r + 1) * d],
            })
        })
    }

    /// Whether some row of the view may belong to `document_id`.
    pub fn may_contain(&self, document_id: u128) -> bool {
        self.table.contains(document_id)
    }

    /// Heap bytes of the memtable.
    pub fn bytes(&self) -> usize {
        self.table.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[u128], dim: usize, base: u64) -> PostingBatch {
        PostingBatch {
            collection_id: 1,
            row_id_base: base,
            dimension: dim as u32,
            document_ids: ids.to_vec(),
            spans: ids.iter().map(|&i| [i as u32, 1]).collect(),
            vectors: ids.iter().flat_map(|&i| vec![i as f32; dim]).collect(),
            attributes: Vec::new(),
        }
    }

    #[test]
    fn a_view_keeps_seeing_the_rows_it_was_taken_with() {
        let m = Arc::new(Memtable::new(3));
        m.append(batch(&[1, 2], 3, 0), 5);
        let before = m.view();
        m.append(batch(&[3], 3, 2), 6);
        let after = m.view();
        assert_eq!(before.len(), 2);
        assert_eq!(after.len(), 3);
        let rows: Vec<_> = after.rows().map(|r| (r.document_id, r.row_id, r.lsn, r.vector.to_vec())).collect();
        assert_eq!(rows, vec![(1, 0, 5, vec![1.0; 3]), (2, 1, 5, vec![2.0; 3]), (3, 2, 6, vec![3.0; 3])]);
        assert_eq!(before.rows().count(), 2, "the older view does not see the later append");
        assert!(m.contains(3) && !m.contains(4));
    }

    #[test]
    fn bytes_count_vectors_and_row_overhead() {
        let m = Memtable::new(4);
        assert_eq!(m.append(batch(&[1, 2], 4, 0), 1), 2 * (16 + ROW_OVERHEAD));
        assert_eq!(m.bytes(), 2 * (16 + ROW_OVERHEAD));
        assert_eq!(m.append(batch(&[], 4, 2), 2), 0);
        let mut with_values = batch(&[3], 4, 2);
        with_values.attributes = vec![0; 48];
        assert_eq!(m.append(with_values, 3), 16 + ROW_OVERHEAD + 48, "attribute sections count too");
    }
}
