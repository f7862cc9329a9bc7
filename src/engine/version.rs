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
use crate::attributes::predicate::Predicate;
use crate::attributes::section::Section;
use crate::explain::Trace;
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
    /// The attribute section of the row's group (or memtable batch) and the row's
    /// index in it: its values are `section.row(row)`.
    pub section: Section<'a>,
    pub row: usize,
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

    /// Visits every visible memtable row and every row of `shards` that `filter`
    /// matches (all rows without one), scored by `pre` (which may reject a row before
    /// the tombstone check). Row groups whose summaries rule the filter out are
    /// skipped unread; `trace` counts what was read.
    pub fn scan_rows<'s>(
        &'s self,
        shards: impl IntoIterator<Item = &'s Arc<ShardReader>>,
        filter: Option<&Predicate>,
        trace: &mut Trace,
        mut pre: impl FnMut(&[f32]) -> Option<f32>,
        mut visit: impl FnMut(RowRef<'_>, f32),
    ) -> Result<()> {
        let check = !self.tombstones.is_empty();
        let mut mask = Vec::new();
        let d = self.active.table.dimension;
        let scanned_before = trace.rows_scanned;
        for m in std::iter::once(&self.active).chain(&self.frozen) {
            for batch in m.batches() {
                let rows = &batch.rows;
                let n = rows.len();
                // Checked when the write was logged (or replayed): it parses.
                let section = Section::parse(&rows.attributes, n).unwrap_or_default();
                if let Some(p) = filter {
                    trace.bytes += rows.attributes.len() as u64;
                    if p.mask(&section, n, &mut mask) == 0 {
                        trace.groups_without_match += 1;
                        continue;
                    }
                }
                trace.groups_scanned += 1;
                for r in 0..n {
                    if filter.is_some() && mask[r / 64] >> (r % 64) & 1 == 0 {
                        continue;
                    }
                    trace.rows_scanned += 1;
                    let (id, vector) = (rows.document_ids[r], &rows.vectors[r * d..(r + 1) * d]);
                    if let Some(score) = pre(vector)
                        && !(check && self.tombstones.hides(id, batch.lsn))
                    {
                        visit(RowRef { document_id: id, span: rows.spans[r], row_id: rows.row_id_base + r as u64, vector, section, row: r }, score);
                    }
                }
            }
        }
        let now = crate::storage::shard_file::now_millis();
        for shard in shards {
            let view = shard.mapped_at(now)?;
            let summaries = if filter.is_some() { shard.summaries(&view)? } else { &[] };
            for g in 0..shard.row_groups.len() {
                if let Some(p) = filter
                    && summaries.get(g).is_some_and(|summary| !p.may_match_summary(summary))
                {
                    trace.groups_skipped += 1;
                    continue;
                }
                let columns = shard.row_group(&view, g)?;
                let n = columns.rows;
                let section = columns.attributes(&shard.path)?;
                if let Some(p) = filter {
                    trace.bytes += shard.row_groups[g].layout.attributes_len;
                    if p.mask(&section, n, &mut mask) == 0 {
                        trace.groups_without_match += 1;
                        continue;
                    }
                }
                trace.groups_scanned += 1;
                for row in 0..n {
                    if filter.is_some() && mask[row / 64] >> (row % 64) & 1 == 0 {
                        continue;
                    }
                    trace.rows_scanned += 1;
                    let v = columns.vector(row);
                    if let Some(score) = pre(v) {
                        let id = columns.document_id(row);
                        if !self.tombstones.hides(id, columns.max_lsn) {
                            visit(RowRef { document_id: id, span: columns.span(row), row_id: columns.row_id(row), vector: v, section, row }, score);
                        }
                    }
                }
            }
        }
        let scanned = trace.rows_scanned - scanned_before;
        trace.rows_matched += scanned;
        trace.bytes += scanned * (d as u64 * 4);
        Ok(())
    }

    /// How many rows `filter` matches, estimated from the memtables and the row groups
    /// of every `stride`-th shard (a group its summaries rule out counts zero without
    /// being read), stopping early once `enough(matched, seen)` says so; returns
    /// (matching rows found, rows looked at).
    pub fn count_matches(&self, filter: &Predicate, stride: usize, trace: &mut Trace, enough: impl Fn(u64, u64) -> bool) -> Result<(u64, u64)> {
        let (mut matched, mut seen) = (0u64, 0u64);
        let mut mask = Vec::new();
        for m in std::iter::once(&self.active).chain(&self.frozen) {
            for batch in m.batches() {
                let n = batch.rows.len();
                let section = Section::parse(&batch.rows.attributes, n).unwrap_or_default();
                matched += filter.mask(&section, n, &mut mask) as u64;
                seen += n as u64;
                trace.bytes += batch.rows.attributes.len() as u64;
            }
        }
        let now = crate::storage::shard_file::now_millis();
        for shard in self.shards.iter().step_by(stride.max(1)) {
            let view = shard.mapped_at(now)?;
            let summaries = shard.summaries(&view)?;
            if enough(matched, seen) {
                break;
            }
            for (g, summary) in summaries.iter().enumerate() {
                seen += summary.rows as u64;
                if filter.may_match_summary(summary) {
                    let columns = shard.row_group_for_search(&view, g)?;
                    let section = columns.attributes(&shard.path)?;
                    trace.bytes += shard.row_groups[g].layout.attributes_len;
                    matched += filter.mask(&section, columns.rows, &mut mask) as u64;
                }
            }
        }
        Ok((matched, seen))
    }

    /// Visits every visible row. `pre` sees the vector first and may reject the row
    /// before the (more expensive) tombstone check; `visit` gets the rows that pass.
    pub fn scan(&self, pre: impl FnMut(&[f32]) -> Option<f32>, visit: impl FnMut(RowRef<'_>, f32)) -> Result<()> {
        self.scan_rows(self.shards.iter(), None, &mut Trace::default(), pre, visit)
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
