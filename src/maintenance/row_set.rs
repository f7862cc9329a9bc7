//! [`RowSet`]: visible rows gathered in memory for a rewrite (index build, split,
//! merge, reassignment) and written back out as one new shard per centroid.
//!
//! Invariant: a row set never holds a row hidden by the tombstones it was gathered
//! under (see `draft::RowBuffer` for why that keeps LSN bounds safe).

use std::path::PathBuf;
use std::sync::Arc;

use super::draft::{RowBuffer, ShardDraft};
use crate::attributes::RowValues;
use crate::attributes::section::Section;
use crate::engine::memtable::MemtableView;
use crate::engine::version_set::VersionSet;
use crate::error::Result;
use crate::index::routing::CentroidTable;
use crate::storage::manifest::CollectionRecord;
use crate::storage::shard_file::{ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;

/// Rows in columns; row `i` has LSNs within `min_lsns[i]..=max_lsns[i]`.
#[derive(Debug, Default)]
pub(crate) struct RowSet {
    pub dimension: usize,
    pub ids: Vec<u128>,
    pub spans: Vec<[u32; 2]>,
    pub row_ids: Vec<u64>,
    pub vectors: Vec<f32>,
    /// Row `i`'s attribute values (shorter than the other columns when the rows past
    /// its end have none).
    pub attributes: Vec<RowValues>,
    pub min_lsns: Vec<u64>,
    pub max_lsns: Vec<u64>,
}

impl RowSet {
    pub fn new(dimension: usize) -> RowSet {
        RowSet { dimension, ..RowSet::default() }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dimension..(i + 1) * self.dimension]
    }

    #[allow(clippy::too_many_arguments)] // one row's columns
    fn push(&mut self, id: u128, span: [u32; 2], row_id: u64, vector: &[f32], values: RowValues, min_lsn: u64, max_lsn: u64) {
        if !values.is_empty() {
            self.attributes.resize(self.ids.len(), RowValues::new());
            self.attributes.push(values);
        }
        self.ids.push(id);
        self.spans.push(span);
        self.row_ids.push(row_id);
        self.vectors.extend_from_slice(vector);
        self.min_lsns.push(min_lsn);
        self.max_lsns.push(max_lsn);
    }

    /// Adds the rows of `shard` that `tombstones` does not hide.
    pub fn add_shard(&mut self, shard: &ShardReader, tombstones: &Tombstones) -> Result<()> {
        let view = shard.mapped()?;
        for g in 0..shard.row_groups.len() {
            let columns = shard.row_group(&view, g)?;
            let attributes = columns.attributes(&shard.path)?;
            let min_lsn = shard.row_groups[g].min_lsn;
            for r in 0..columns.rows {
                let id = columns.document_id(r);
                if !tombstones.hides(id, columns.max_lsn) {
                    self.push(id, columns.span(r), columns.row_id(r), columns.vector(r), attributes.row(r), min_lsn, columns.max_lsn);
                }
            }
        }
        Ok(())
    }

    /// Adds the rows of a memtable view that `tombstones` does not hide.
    pub fn add_memtable(&mut self, m: &MemtableView, tombstones: &Tombstones) {
        let check = !tombstones.is_empty();
        let d = m.table.dimension;
        for batch in m.batches() {
            let rows = &batch.rows;
            // Checked when the write was logged (or replayed): it parses.
            let attributes = Section::parse(&rows.attributes, rows.len()).unwrap_or_default();
            for r in 0..rows.len() {
                let id = rows.document_ids[r];
                if !(check && tombstones.hides(id, batch.lsn)) {
                    let vector = &rows.vectors[r * d..(r + 1) * d];
                    self.push(id, rows.spans[r], rows.row_id_base + r as u64, vector, attributes.row(r), batch.lsn, batch.lsn);
                }
            }
        }
    }

    /// Row `i`'s attribute values.
    pub fn values(&self, i: usize) -> RowValues {
        self.attributes.get(i).cloned().unwrap_or_default()
    }

    /// Writes the rows `members` into `draft` in row groups of at most
    /// `row_group_max_rows`.
    pub fn append_to(&self, draft: &mut ShardDraft, members: &[u32], row_group_max_rows: usize) -> Result<()> {
        let mut buffer = RowBuffer::default();
        for &i in members {
            let i = i as usize;
            buffer.push(self.ids[i], self.spans[i], self.row_ids[i], self.vector(i), self.values(i), self.min_lsns[i], self.max_lsns[i]);
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
        vs: &VersionSet,
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
            let mut draft = ShardDraft::create(vs, ShardHeader::next(record, centroid_id), created)?;
            draft.centroid = Some(table.vector(position).to_vec());
            self.append_to(&mut draft, rows, vs.options.row_group_max_rows)?;
            if seal {
                draft.seal()?;
            }
            draft.start_writeback();
            drafts.push(draft);
        }
        // Many small files: their fsyncs are independent, so they are issued a few at a
        // time (every one must succeed before the caller publishes; a failure poisons).
        use rayon::prelude::*;
        drafts.par_iter().with_min_len(8).try_for_each(|draft| draft.sync(vs))?;
        let mut readers = Vec::with_capacity(drafts.len());
        for draft in &drafts {
            record.shards.push(draft.record());
            readers.push(draft.open_reader(vs)?);
        }
        Ok(readers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::memtable::Memtable;
    use crate::wal::op::PostingBatch;

    fn memtable(ids: &[u128], lsn: u64) -> MemtableView {
        let m = std::sync::Arc::new(Memtable::new(2));
        let batch = PostingBatch {
            collection_id: 1,
            row_id_base: lsn * 100,
            dimension: 2,
            document_ids: ids.to_vec(),
            spans: ids.iter().map(|&i| [i as u32, 1]).collect(),
            vectors: ids.iter().flat_map(|&i| [i as f32, -(i as f32)]).collect(),
            attributes: Vec::new(),
        };
        m.append(batch, lsn);
        m.view()
    }

    /// (id, vector, min LSN, max LSN) of every row, in order.
    fn rows(set: &RowSet) -> Vec<(u128, Vec<f32>, u64, u64)> {
        (0..set.len()).map(|i| (set.ids[i], set.vector(i).to_vec(), set.min_lsns[i], set.max_lsns[i])).collect()
    }

    #[test]
    fn memtables_are_gathered_in_order_with_their_row_ids_and_lsns() {
        let (first, second) = (memtable(&[1, 2], 5), memtable(&[3], 6));
        let mut set = RowSet::new(2);
        set.add_memtable(&first, &Tombstones::default());
        set.add_memtable(&second, &Tombstones::default());
        assert_eq!(
            rows(&set),
            vec![(1, vec![1.0, -1.0], 5, 5), (2, vec![2.0, -2.0], 5, 5), (3, vec![3.0, -3.0], 6, 6)]
        );
        assert_eq!(&set.row_ids[..], &[500, 501, 600]);
    }

    #[test]
    fn rows_hidden_by_a_tombstone_are_left_out() {
        let m = memtable(&[1, 2, 3], 5);
        let mut tombstones = Tombstones::default();
        tombstones.insert(2, 7);
        let mut set = RowSet::new(2);
        set.add_memtable(&m, &tombstones);
        assert_eq!(rows(&set), vec![(1, vec![1.0, -1.0], 5, 5), (3, vec![3.0, -3.0], 5, 5)]);
    }
}
