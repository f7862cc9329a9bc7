//! [`CollectionVersion`]: everything a search of one collection reads, frozen.
//!
//! A version is immutable: the memtables' visible prefixes, the shard readers, the
//! routing snapshot over them and the tombstones. Writers and maintenance never change
//! one; they build the next version and publish it with an atomic pointer swap
//! (`CollectionCore::publish`). A search loads the current version once and reads it
//! without any lock, so it never waits for a writer and no writer waits for it.
//!
//! Invariants:
//! - every shard file a version references stays on disk while the version lives (a
//!   retired reader deletes its file when the last `Arc` to it drops);
//! - `routing` is built over exactly `shards`;
//! - `tombstones` hide rows of memtables and shards alike (a row with LSN bound `l` of
//!   a document deleted at `t` is hidden iff `l < t`);
//! - shard data is borrowed from the memory maps, never copied on the search path.

use std::sync::Arc;

use super::memtable::MemtableView;
use crate::error::Result;
use crate::index::routing::{CentroidTable, RoutingSnapshot};
use crate::storage::shard_file::ShardReader;
use crate::storage::tombstones::Tombstones;

/// One collection's readable state at one moment.
#[derive(Debug, Clone)]
pub(crate) struct CollectionVersion {
    /// The memtable receiving writes, as far as this version sees it.
    pub active: MemtableView,
    /// Memtables being flushed, oldest first.
    pub frozen: Vec<MemtableView>,
    /// Every shard of the collection (also reachable through `routing`).
    pub shards: Arc<Vec<Arc<ShardReader>>>,
    /// The centroid index over `shards`.
    pub routing: Arc<RoutingSnapshot>,
    pub tombstones: Arc<Tombstones>,
}

/// A row visited by a scan, borrowed from a memtable or a memory map.
pub(crate) struct RowRef<'a> {
    pub document_id: u128,
    pub span: [u32; 2],
    pub row_id: u64,
    pub vector: &'a [f32],
}

impl CollectionVersion {
    /// The first version of a collection: empty memtable, the given shards and index.
    pub fn new(dimension: usize, table: Arc<CentroidTable>, shards: Vec<Arc<ShardReader>>, tombstones: Tombstones) -> Self {
        let routing = Arc::new(RoutingSnapshot::new(table, &shards));
        CollectionVersion {
            active: MemtableView::empty(dimension),
            frozen: Vec::new(),
            shards: Arc::new(shards),
            routing,
            tombstones: Arc::new(tombstones),
        }
    }

    /// This version with another shard set (and, when given, another centroid table).
    pub fn with_shards(&self, table: Option<Arc<CentroidTable>>, shards: Vec<Arc<ShardReader>>) -> Self {
        let table = table.unwrap_or_else(|| self.routing.table.clone());
        CollectionVersion { routing: Arc::new(RoutingSnapshot::new(table, &shards)), shards: Arc::new(shards), ..self.clone() }
    }

    /// Visits every visible memtable row and every row of `shards`, scored by `pre`
    /// (which may reject a row before the tombstone check).
    pub fn scan_rows<'s>(
        &'s self,
        shards: impl IntoIterator<Item = &'s Arc<ShardReader>>,
        mut pre: impl FnMut(&[f32]) -> Option<f32>,
        mut visit: impl FnMut(RowRef<'_>, f32),
    ) -> Result<()> {
        let check = !self.tombstones.is_empty();
        for m in std::iter::once(&self.active).chain(&self.frozen) {
            for row in m.rows() {
                if let Some(score) = pre(row.vector)
                    && !(check && self.tombstones.hides(row.document_id, row.lsn))
                {
                    visit(RowRef { document_id: row.document_id, span: row.span, row_id: row.row_id, vector: row.vector }, score);
                }
            }
        }
        for shard in shards {
            let view = shard.mapped()?;
            for g in 0..shard.row_groups.len() {
                let columns = shard.row_group(&view, g)?;
                for row in 0..columns.rows {
                    let v = columns.vector(row);
                    if let Some(score) = pre(v) {
                        let id = columns.document_id(row);
                        if !self.tombstones.hides(id, columns.max_lsn) {
                            visit(RowRef { document_id: id, span: columns.span(row), row_id: columns.row_id(row), vector: v }, score);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Visits every visible row. `pre` sees the vector first and may reject the row
    /// before the (more expensive) tombstone check; `visit` gets the rows that pass.
    pub fn scan(&self, pre: impl FnMut(&[f32]) -> Option<f32>, visit: impl FnMut(RowRef<'_>, f32)) -> Result<()> {
        self.scan_rows(self.shards.iter(), pre, visit)
    }

    /// Whether some memtable or shard of this version may hold rows of `document_id`
    /// (so deleting it must leave a tombstone).
    pub fn may_hold(&self, document_id: u128) -> bool {
        std::iter::once(&self.active).chain(&self.frozen).any(|m| m.may_contain(document_id))
            || self.shards.iter().any(|s| s.may_contain(document_id))
    }

    /// Rows stored (deleted rows included until a flush or compaction drops them).
    pub fn total_rows(&self) -> u64 {
        self.active.len() as u64
            + self.frozen.iter().map(|m| m.len() as u64).sum::<u64>()
            + self.shards.iter().map(|s| s.rows).sum::<u64>()
    }
}
