//! [`RowSet`]: visible rows gathered in memory for a rewrite (index build, split,
//! merge, reassignment) and written back out as one new shard per centroid.
//!
//! Invariant: a row set never holds a row hidden by the tombstones it was gathered
//! under (see `draft::RowBuffer` for why that keeps LSN bounds safe).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use super::draft::{RowBuffer, ShardDraft};
use crate::db::DbInner;
use crate::error::Result;
use crate::index::routing::CentroidTable;
use crate::memtable::Memtable;
use crate::storage::manifest::CollectionRecord;
use crate::storage::shard_file::{ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;

/// Rows in columns; row `i` has LSNs within `min_lsns[i]..=max_lsns[i]`.
///
/// The columns borrow a frozen memtable's when it is the set's only source and hides
/// no row (the common flush: a flush of 59k MiniLM rows then copies no 90 MB of
/// vectors before writing them); anything added after that copies them first.
#[derive(Debug, Default)]
pub(crate) struct RowSet<'a> {
    pub dimension: usize,
    pub ids: Cow<'a, [u128]>,
    pub spans: Cow<'a, [[u32; 2]]>,
    pub row_ids: Cow<'a, [u64]>,
    pub vectors: Cow<'a, [f32]>,
    pub min_lsns: Cow<'a, [u64]>,
    pub max_lsns: Cow<'a, [u64]>,
}

impl<'a> RowSet<'a> {
    pub fn new(dimension: usize) -> RowSet<'a> {
        RowSet { dimension, ..RowSet::default() }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dimension..(i + 1) * self.dimension]
    }

    fn push(&mut self, id: u128, span: [u32; 2], row_id: u64, vector: &[f32], min_lsn: u64, max_lsn: u64) {
        self.ids.to_mut().push(id);
        self.spans.to_mut().push(span);
        self.row_ids.to_mut().push(row_id);
        self.vectors.to_mut().extend_from_slice(vector);
        self.min_lsns.to_mut().push(min_lsn);
        self.max_lsns.to_mut().push(max_lsn);
    }

    /// Adds the rows of `shard` that `tombstones` does not hide.
    pub fn add_shard(&mut self, shard: &ShardReader, tombstones: &Tombstones) -> Result<()> {
        let view = shard.mapped()?;
        for g in 0..shard.row_groups.len() {
            let columns = shard.row_group(&view, g)?;
            let min_lsn = shard.row_groups[g].min_lsn;
            for r in 0..columns.rows {
                let id = columns.document_id(r);
                if !tombstones.hides(id, columns.max_lsn) {
                    self.push(id, columns.span(r), columns.row_id(r), columns.vector(r), min_lsn, columns.max_lsn);
                }
            }
        }
        Ok(())
    }

    /// Adds the rows of a frozen memtable that `tombstones` does not hide (borrowing its
    /// columns when the set is empty and nothing is hidden).
    pub fn add_memtable(&mut self, m: &'a Memtable, tombstones: &Tombstones) {
        if self.len() == 0 && (0..m.len()).all(|r| !tombstones.hides(m.document_ids[r], m.lsns[r])) {
            self.ids = Cow::Borrowed(&m.document_ids);
            self.spans = Cow::Borrowed(&m.spans);
            self.row_ids = Cow::Borrowed(&m.row_ids);
            self.vectors = Cow::Borrowed(&m.vectors[..m.len() * m.dimension]);
            self.min_lsns = Cow::Borrowed(&m.lsns);
            self.max_lsns = Cow::Borrowed(&m.lsns);
            return;
        }
        for r in 0..m.len() {
            let id = m.document_ids[r];
            if !tombstones.hides(id, m.lsns[r]) {
                self.push(id, m.spans[r], m.row_ids[r], m.vector(r), m.lsns[r], m.lsns[r]);
            }
        }
    }

    /// Writes the rows `members` into `draft` in row groups of at most
    /// `row_group_max_rows`.
    pub fn append_to(&self, draft: &mut ShardDraft, members: &[u32], row_group_max_rows: usize) -> Result<()> {
        let mut buffer = RowBuffer::default();
        for &i in members {
            let i = i as usize;
            buffer.push(self.ids[i], self.spans[i], self.row_ids[i], self.vector(i), self.min_lsns[i], self.max_lsns[i]);
            if buffer.len() >= row_group_max_rows {
                buffer.write(draft, self.dimension)?;
            }
        }
        buffer.write(draft, self.dimension)
    }

    /// Writes `members[i]` into a new shard owned by centroid `positions[i]` of `table`, for
    /// every non-empty member list; seals the shards when `seal` and fsyncs them (the
    /// caller fsyncs the directory and publishes). New paths go to `created`.
    #[allow(clippy::too_many_arguments)] // what to write, where, and the caller's undo list
    pub fn write_shards(
        &self,
        db: &DbInner,
        record: &mut CollectionRecord,
        members: &[Vec<u32>],
        table: &CentroidTable,
        positions: &[usize],
        seal: bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<Vec<Arc<ShardReader>>> {
        let mut drafts = Vec::new();
        for (rows, &position) in members.iter().zip(positions) {
            if rows.is_empty() {
                continue;
            }
            let centroid_id = table.ids[position];
            let mut draft = ShardDraft::create(db, ShardHeader::next(record, centroid_id), created)?;
            draft.centroid = Some(table.vector(position).to_vec());
            self.append_to(&mut draft, rows, db.options.row_group_max_rows)?;
            if seal {
                draft.seal()?;
            }
            draft.start_writeback();
            drafts.push(draft);
        }
        // Many small files: their fsyncs are independent, so they are issued a few at a
        // time (every one must succeed before the caller publishes; a failure poisons).
        use rayon::prelude::*;
        drafts.par_iter().with_min_len(8).try_for_each(|draft| draft.sync(db))?;
        let mut readers = Vec::with_capacity(drafts.len());
        for draft in &drafts {
            record.shards.push(draft.record());
            readers.push(draft.open_reader(db)?);
        }
        Ok(readers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::op::PostingBatch;

    fn memtable(ids: &[u128], lsn: u64) -> Memtable {
        let mut m = Memtable::new(2);
        let batch = PostingBatch {
            collection_id: 1,
            row_id_base: lsn * 100,
            dimension: 2,
            document_ids: ids.to_vec(),
            spans: ids.iter().map(|&i| [i as u32, 1]).collect(),
            vectors: ids.iter().flat_map(|&i| [i as f32, -(i as f32)]).collect(),
        };
        m.append(&batch, lsn);
        m
    }

    /// (id, vector, min LSN, max LSN) of every row, in order.
    fn rows(set: &RowSet<'_>) -> Vec<(u128, Vec<f32>, u64, u64)> {
        (0..set.len()).map(|i| (set.ids[i], set.vector(i).to_vec(), set.min_lsns[i], set.max_lsns[i])).collect()
    }

    #[test]
    fn a_sole_memtable_is_borrowed_and_a_second_source_copies_then_appends() {
        let (first, second) = (memtable(&[1, 2], 5), memtable(&[3], 6));
        let mut set = RowSet::new(2);
        set.add_memtable(&first, &Tombstones::default());
        assert!(matches!(set.vectors, Cow::Borrowed(_)), "nothing to filter: the columns are the memtable's");
        set.add_memtable(&second, &Tombstones::default());
        assert_eq!(
            rows(&set),
            vec![(1, vec![1.0, -1.0], 5, 5), (2, vec![2.0, -2.0], 5, 5), (3, vec![3.0, -3.0], 6, 6)]
        );
        assert_eq!(&set.row_ids[..], &[500, 501, 600]);
    }

    #[test]
    fn a_memtable_with_hidden_rows_is_copied_without_them() {
        let m = memtable(&[1, 2, 3], 5);
        let mut tombstones = Tombstones::default();
        tombstones.insert(2, 7);
        let mut set = RowSet::new(2);
        set.add_memtable(&m, &tombstones);
        assert!(matches!(set.vectors, Cow::Owned(_)));
        assert_eq!(rows(&set), vec![(1, vec![1.0, -1.0], 5, 5), (3, vec![3.0, -3.0], 5, 5)]);
    }
}
