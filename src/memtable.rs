//! Level 0: recent writes in memory, searched exactly.
//!
//! Rows are kept in columns (the shape of a row group) so a flush writes them without
//! reshaping. A document index makes deletes and upserts O(rows of the document).
//!
//! Invariants:
//! - Every row carries the LSN of the write that added it.
//! - Deleting a document removes its rows here physically; rows of it in frozen
//!   memtables and shards are hidden by a tombstone instead.
//! - A memtable is mutable while active; once frozen for a flush it sits behind an
//!   `Arc` and never changes again.

use std::collections::HashMap;

use crate::wal::op::PostingBatch;

/// One collection's in-memory rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memtable {
    pub dimension: usize,
    pub document_ids: Vec<u128>,
    pub spans: Vec<[u32; 2]>,
    pub row_ids: Vec<u64>,
    pub lsns: Vec<u64>,
    pub vectors: Vec<f32>,
    by_document: HashMap<u128, Vec<u32>>,
}

impl Memtable {
    pub fn new(dimension: usize) -> Self {
        Memtable { dimension, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.document_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.document_ids.is_empty()
    }

    /// Approximate heap bytes held (what the flush threshold counts).
    pub fn bytes(&self) -> usize {
        self.vectors.len() * 4 + self.len() * (16 + 8 + 8 + 8 + 16)
    }

    pub fn append(&mut self, batch: &PostingBatch, lsn: u64) {
        for i in 0..batch.len() {
            let row = self.document_ids.len() as u32;
            let id = batch.document_ids[i];
            self.document_ids.push(id);
            self.spans.push(batch.spans[i]);
            self.row_ids.push(batch.row_id_base + i as u64);
            self.lsns.push(lsn);
            self.by_document.entry(id).or_default().push(row);
        }
        self.vectors.extend_from_slice(&batch.vectors);
    }

    pub fn contains(&self, document_id: u128) -> bool {
        self.by_document.contains_key(&document_id)
    }

    /// Removes every row of `document_id`; returns how many.
    pub fn remove_document(&mut self, document_id: u128) -> usize {
        let Some(mut rows) = self.by_document.remove(&document_id) else { return 0 };
        rows.sort_unstable_by(|a, b| b.cmp(a));
        for &row in &rows {
            self.swap_remove(row as usize);
        }
        rows.len()
    }

    fn swap_remove(&mut self, row: usize) {
        let last = self.len() - 1;
        if row != last {
            let moved = self.document_ids[last];
            if let Some(list) = self.by_document.get_mut(&moved) {
                for r in list.iter_mut() {
                    if *r as usize == last {
                        *r = row as u32;
                    }
                }
            }
            let d = self.dimension;
            self.vectors.copy_within(last * d..(last + 1) * d, row * d);
        }
        self.document_ids.swap_remove(row);
        self.spans.swap_remove(row);
        self.row_ids.swap_remove(row);
        self.lsns.swap_remove(row);
        self.vectors.truncate(last * self.dimension);
    }

    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dimension..(row + 1) * self.dimension]
    }

    /// Rows of `document_id`, if any.
    #[cfg(test)]
    pub fn rows_of(&self, document_id: u128) -> &[u32] {
        self.by_document.get(&document_id).map_or(&[], |v| v.as_slice())
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
        }
    }

    #[test]
    fn removing_a_document_keeps_every_other_row_intact() {
        let mut m = Memtable::new(3);
        m.append(&batch(&[1, 2, 1, 3, 1, 4], 3, 0), 1);
        assert_eq!(m.remove_document(1), 3);
        assert_eq!(m.len(), 3);
        for row in 0..m.len() {
            let id = m.document_ids[row];
            assert_ne!(id, 1);
            assert_eq!(m.vector(row), &[id as f32; 3]);
            assert_eq!(m.spans[row], [id as u32, 1]);
            assert_eq!(m.rows_of(id), &[row as u32]);
        }
        assert_eq!(m.remove_document(1), 0);
    }
}
