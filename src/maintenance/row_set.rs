//! [`RowSet`]: visible rows gathered in memory for a rewrite (index build, split,
//! merge, reassignment) and written back out as one new shard per centroid.
//!
//! Invariant: a row set never holds a row hidden by the tombstones it was gathered
//! under (see `draft::RowBuffer` for why that keeps LSN bounds safe).

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
#[derive(Debug, Default)]
pub(crate) struct RowSet {
    pub dimension: usize,
    pub ids: Vec<u128>,
    pub spans: Vec<[u32; 2]>,
    pub row_ids: Vec<u64>,
    pub vectors: Vec<f32>,
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

    fn push(&mut self, id: u128, span: [u32; 2], row_id: u64, vector: &[f32], min_lsn: u64, max_lsn: u64) {
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

    /// Adds the rows of a frozen memtable that `tombstones` does not hide.
    pub fn add_memtable(&mut self, m: &Memtable, tombstones: &Tombstones) {
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
