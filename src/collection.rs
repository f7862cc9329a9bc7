//! Collections: the front door for writes and searches.
//!
//! A [`Collection`] is a cheap, `Send + Sync` handle. Its state — the active memtable,
//! frozen memtables being flushed, the mapped shard files and the tombstones — sits
//! behind one reader-writer lock:
//! - a write is applied under the write lock, after the WAL made it durable, in LSN
//!   order (see `wal/ring.rs`), so a search started after a write was acknowledged
//!   sees it;
//! - a search holds the read lock for its duration, so it never sees half of an upsert
//!   or of a flush/compaction swap (those swap their results in under the write lock
//!   in one step);
//! - shard data is borrowed from the memory maps, never copied on the search path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::index::routing::{CentroidTable, RoutingSnapshot};
use crate::kernels::distance;
use crate::memtable::Memtable;
use crate::options::Metric;
use crate::posting::{DocumentId, Hit, Posting, SearchOptions, StoredPosting};
use crate::search;
use crate::storage::manifest::CollectionRecord;
use crate::storage::shard_file::ShardReader;
use crate::storage::tombstones::Tombstones;
use crate::wal::op::{PostingBatch, WalOp};

/// What a collection holds right now.
#[derive(Debug)]
pub(crate) struct CollectionState {
    pub active: Memtable,
    pub frozen: Vec<Arc<Memtable>>,
    /// Every shard of the collection (also reachable through `routing`).
    pub shards: Vec<Arc<ShardReader>>,
    /// The centroid index over `shards`; replaced whole, never mutated.
    pub routing: Arc<RoutingSnapshot>,
    pub tombstones: Tombstones,
}

/// A row visited by a scan, borrowed from a memtable or a memory map.
pub(crate) struct RowRef<'a> {
    pub document_id: u128,
    pub span: [u32; 2],
    pub row_id: u64,
    pub vector: &'a [f32],
}

impl CollectionState {
    /// Installs a new shard set under the current centroids.
    pub fn set_shards(&mut self, shards: Vec<Arc<ShardReader>>) {
        self.routing = Arc::new(RoutingSnapshot::new(self.routing.table.clone(), &shards));
        self.shards = shards;
    }

    /// Installs a new shard set and a new centroid table.
    pub fn set_index(&mut self, table: Arc<CentroidTable>, shards: Vec<Arc<ShardReader>>) {
        self.routing = Arc::new(RoutingSnapshot::new(table, &shards));
        self.shards = shards;
    }

    /// Visits every visible memtable row and every row of `shards`, scored by `pre`
    /// (which may reject a row before the tombstone check).
    pub fn scan_rows<'s>(
        &'s self,
        shards: impl IntoIterator<Item = &'s Arc<ShardReader>>,
        mut pre: impl FnMut(&[f32]) -> Option<f32>,
        mut visit: impl FnMut(RowRef<'_>, f32),
    ) -> Result<()> {
        let m = &self.active;
        for row in 0..m.len() {
            let v = m.vector(row);
            if let Some(score) = pre(v) {
                visit(RowRef { document_id: m.document_ids[row], span: m.spans[row], row_id: m.row_ids[row], vector: v }, score);
            }
        }
        for m in &self.frozen {
            for row in 0..m.len() {
                let v = m.vector(row);
                if let Some(score) = pre(v) {
                    let id = m.document_ids[row];
                    if !self.tombstones.hides(id, m.lsns[row]) {
                        visit(RowRef { document_id: id, span: m.spans[row], row_id: m.row_ids[row], vector: v }, score);
                    }
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

    /// Whether a delete of `document_id` must leave a tombstone (some frozen memtable
    /// or shard may hold rows of it).
    pub fn stored_elsewhere(&self, document_id: u128) -> bool {
        self.frozen.iter().any(|m| m.contains(document_id)) || self.shards.iter().any(|s| s.may_contain(document_id))
    }

    /// Visits every visible row. `pre` sees the vector first and may reject the row
    /// before the (more expensive) tombstone check; `visit` gets the rows that pass.
    pub fn scan(&self, pre: impl FnMut(&[f32]) -> Option<f32>, visit: impl FnMut(RowRef<'_>, f32)) -> Result<()> {
        self.scan_rows(&self.shards, pre, visit)
    }

    pub fn total_rows(&self) -> u64 {
        self.active.len() as u64
            + self.frozen.iter().map(|m| m.len() as u64).sum::<u64>()
            + self.shards.iter().map(|s| s.rows).sum::<u64>()
    }
}

/// A collection's identity and state, shared by every handle.
#[derive(Debug)]
pub(crate) struct CollectionInner {
    pub id: u64,
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
    pub state: RwLock<CollectionState>,
    pub next_row_id: AtomicU64,
    pub dropped: AtomicBool,
    /// Centroid id → row count at which a split was refused (duplicate-heavy list);
    /// not retried until the list doubles. In memory only: a restart retries once.
    pub split_refused: parking_lot::Mutex<std::collections::HashMap<u32, u64>>,
}

impl CollectionInner {
    /// The in-memory collection of a manifest record, with its opened shards.
    pub fn new(record: &CollectionRecord, shards: Vec<Arc<ShardReader>>) -> Self {
        let table = Arc::new(CentroidTable::from_records(record.dimension, &record.centroids));
        let routing = Arc::new(RoutingSnapshot::new(table, &shards));
        CollectionInner {
            id: record.id,
            name: record.name.clone(),
            dimension: record.dimension,
            metric: record.metric,
            state: RwLock::new(CollectionState {
                active: Memtable::new(record.dimension),
                frozen: Vec::new(),
                shards,
                routing,
                tombstones: Tombstones::from_entries(&record.tombstones),
            }),
            next_row_id: AtomicU64::new(record.next_row_id),
            dropped: AtomicBool::new(false),
            split_refused: parking_lot::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Applies one durable operation (called by the WAL leader in LSN order, and by
    /// recovery). Returns the change of the active memtable's size in bytes.
    pub fn apply(&self, lsn: u64, op: &WalOp) -> isize {
        let mut st = self.state.write();
        let before = st.active.bytes() as isize;
        match op {
            WalOp::Add(batch) => st.active.append(batch, lsn),
            WalOp::Upsert { document_id, batch } => {
                delete(&mut st, *document_id, lsn);
                st.active.append(batch, lsn);
            }
            WalOp::Remove { document_ids, .. } => {
                for id in document_ids {
                    delete(&mut st, *id, lsn);
                }
            }
        }
        let ids_end = match op {
            WalOp::Add(b) | WalOp::Upsert { batch: b, .. } => b.row_id_base + b.len() as u64,
            WalOp::Remove { .. } => 0,
        };
        self.next_row_id.fetch_max(ids_end, Ordering::Relaxed);
        st.active.bytes() as isize - before
    }
}

fn delete(st: &mut CollectionState, document_id: u128, lsn: u64) {
    st.active.remove_document(document_id);
    if st.stored_elsewhere(document_id) {
        st.tombstones.insert(document_id, lsn);
    }
}

/// Summary of a collection, as [`crate::Database::list_collections`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Name.
    pub name: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Distance metric.
    pub metric: Metric,
}

/// Counters of one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionStats {
    /// Rows in the active memtable.
    pub memtable_rows: u64,
    /// Rows in memtables being flushed.
    pub frozen_rows: u64,
    /// Rows in shard files (deleted rows included until compaction).
    pub shard_rows: u64,
    /// Shard files.
    pub shards: usize,
    /// Sealed shard files.
    pub sealed_shards: usize,
    /// Row groups in shard files.
    pub row_groups: usize,
    /// Bytes of shard files.
    pub shard_bytes: u64,
    /// Documents with a pending tombstone.
    pub tombstones: usize,
    /// Centroids of the index (0 until the collection reaches `index_min_rows`).
    pub centroids: usize,
}

/// A handle to a named collection. Cheap to clone; `Send + Sync`.
///
/// ```
/// # fn main() -> drift::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
/// let docs = db.create_collection("docs", 3, drift::Metric::L2)?;
/// docs.add(&[drift::Posting::new(7u64, &[1.0, 0.0, 0.0]).with_span(0, 12)])?;
/// let hits = docs.search(&[0.9, 0.1, 0.0], &drift::SearchOptions::new(1))?;
/// assert_eq!(hits[0].document_id, drift::DocumentId(7));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Collection {
    pub(crate) db: Arc<DbInner>,
    pub(crate) inner: Arc<CollectionInner>,
}

impl Collection {
    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The collection's vector dimension.
    pub fn dimension(&self) -> usize {
        self.inner.dimension
    }

    /// The collection's metric.
    pub fn metric(&self) -> Metric {
        self.inner.metric
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        self.db.check_open()?;
        if self.inner.dropped.load(Ordering::Acquire) {
            return Err(Error::Closed { what: format!("collection {:?} (it was dropped)", self.inner.name) });
        }
        Ok(())
    }

    /// Checks and converts postings into a batch (normalising for cosine).
    fn batch(&self, postings: &[Posting<'_>], upsert_id: Option<DocumentId>) -> Result<(PostingBatch, Vec<DocumentId>)> {
        let d = self.inner.dimension;
        let mut vectors = Vec::with_capacity(postings.len() * d);
        let mut ids = Vec::with_capacity(postings.len());
        for (i, p) in postings.iter().enumerate() {
            if p.vector.len() != d {
                return Err(Error::DimensionMismatch { expected: d, actual: p.vector.len() });
            }
            if let Some(component) = p.vector.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteValue { vector: i, component });
            }
            let id = match (upsert_id, p.document_id) {
                (Some(u), Some(given)) if given != u => {
                    return Err(Error::invalid(format!(
                        "posting {i} names document {given} but the upsert is for document {u}"
                    )));
                }
                (Some(u), _) => u,
                (None, Some(given)) => given,
                (None, None) => DocumentId::generate(),
            };
            ids.push(id);
            let start = vectors.len();
            vectors.extend_from_slice(p.vector);
            if self.inner.metric == Metric::Cosine && !distance::normalize(&mut vectors[start..]) {
                return Err(Error::invalid(format!("vector {i} is zero and cannot be normalised for cosine")));
            }
        }
        let row_id_base = self.inner.next_row_id.fetch_add(postings.len() as u64, Ordering::Relaxed);
        Ok((
            PostingBatch {
                collection_id: self.inner.id,
                row_id_base,
                dimension: d as u32,
                document_ids: ids.iter().map(|i| i.0).collect(),
                spans: postings.iter().map(|p| [p.start, p.length]).collect(),
                vectors,
            },
            ids,
        ))
    }

    /// Adds postings atomically (all or none) and returns their document ids (fresh
    /// ULIDs where none was given). Returns once the batch is durable per the sync
    /// policy and visible to searches.
    pub fn add(&self, postings: &[Posting<'_>]) -> Result<Vec<DocumentId>> {
        self.check_open()?;
        if postings.is_empty() {
            return Ok(Vec::new());
        }
        let (batch, ids) = self.batch(postings, None)?;
        self.db.log(WalOp::Add(batch))?;
        Ok(ids)
    }

    /// Replaces every posting of `document_id` with `postings`, atomically: a search
    /// sees the old postings or the new ones, never a mix. Postings must name this
    /// document or none. An empty `postings` removes the document.
    pub fn upsert(&self, document_id: DocumentId, postings: &[Posting<'_>]) -> Result<()> {
        self.check_open()?;
        let (batch, _) = self.batch(postings, Some(document_id))?;
        self.db.log(WalOp::Upsert { document_id: document_id.0, batch })?;
        Ok(())
    }

    /// Removes every posting of the given documents (unknown ids are ignored).
    pub fn remove(&self, document_ids: &[DocumentId]) -> Result<()> {
        self.check_open()?;
        if document_ids.is_empty() {
            return Ok(());
        }
        self.db.log(WalOp::Remove { collection_id: self.inner.id, document_ids: document_ids.iter().map(|d| d.0).collect() })?;
        Ok(())
    }

    /// The `options.k` nearest postings to `query`, closest first.
    pub fn search(&self, query: &[f32], options: &SearchOptions) -> Result<Vec<Hit>> {
        self.check_open()?;
        options.validate()?;
        let d = self.inner.dimension;
        if query.len() != d {
            return Err(Error::DimensionMismatch { expected: d, actual: query.len() });
        }
        if let Some(component) = query.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteValue { vector: 0, component });
        }
        let mut normalized;
        let mut q = query;
        if self.inner.metric == Metric::Cosine {
            normalized = query.to_vec();
            if !distance::normalize(&mut normalized) {
                return Err(Error::invalid("query vector is zero and cannot be normalised for cosine"));
            }
            q = &normalized;
        }
        let metric = self.inner.metric;
        let st = self.inner.state.read();
        let total = st.total_rows() as usize;
        let mut limit = if options.one_per_document { options.k.saturating_mul(4) } else { options.k };
        loop {
            let found = if options.exact || st.routing.table.is_empty() {
                search::exact(&st, metric, q, limit)?
            } else {
                search::probed(&st, metric, q, options, limit)?
            };
            let complete = found.len() < limit || limit >= total;
            let mut found = found;
            if options.one_per_document {
                found = search::one_per_document(found, options.k);
                if found.len() < options.k && !complete {
                    limit = limit.saturating_mul(4);
                    continue;
                }
            }
            return Ok(found
                .into_iter()
                .take(options.k)
                .map(|c| Hit { document_id: DocumentId(c.document_id), start: c.span[0], length: c.span[1], distance: c.distance })
                .collect());
        }
    }

    /// Searches many queries (row-major, `dimension` floats each), in parallel over
    /// queries; `result[i]` answers query `i`.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// c.add(&[drift::Posting::new(1u64, &[0.0, 0.0]), drift::Posting::new(2u64, &[5.0, 5.0])])?;
    /// let answers = c.search_batch(&[0.1, 0.0, 4.9, 5.0], &drift::SearchOptions::new(1))?;
    /// assert_eq!(answers[0][0].document_id, drift::DocumentId(1));
    /// assert_eq!(answers[1][0].document_id, drift::DocumentId(2));
    /// # Ok(()) }
    /// ```
    pub fn search_batch(&self, queries: &[f32], options: &SearchOptions) -> Result<Vec<Vec<Hit>>> {
        let d = self.inner.dimension;
        if !queries.len().is_multiple_of(d) {
            return Err(Error::invalid(format!("{} floats is not a whole number of {d}-dimensional queries", queries.len())));
        }
        use rayon::prelude::*;
        queries.par_chunks(d).map(|q| self.search(q, options)).collect()
    }

    /// Every stored posting of `document_id` (sorted by row id).
    pub fn postings(&self, document_id: DocumentId) -> Result<Vec<StoredPosting>> {
        self.collect(Some(document_id.0))
    }

    /// Every posting of the collection (sorted by document id, then row id).
    pub fn export(&self) -> Result<Vec<StoredPosting>> {
        self.collect(None)
    }

    fn collect(&self, only: Option<u128>) -> Result<Vec<StoredPosting>> {
        self.check_open()?;
        let st = self.inner.state.read();
        let mut out = Vec::new();
        st.scan(
            |_| Some(0.0),
            |row, _| {
                if only.is_none_or(|id| id == row.document_id) {
                    out.push(StoredPosting {
                        document_id: DocumentId(row.document_id),
                        start: row.span[0],
                        length: row.span[1],
                        row_id: row.row_id,
                        vector: row.vector.to_vec(),
                    });
                }
            },
        )?;
        out.sort_by_key(|p| (p.document_id, p.row_id));
        Ok(out)
    }

    /// Rewrites shards holding deleted rows without them and drops the tombstones
    /// that no stored row needs any more. Flushes the memtables first.
    pub fn compact(&self) -> Result<crate::maintenance::compaction::CompactionReport> {
        self.check_open()?;
        crate::maintenance::compaction::compact(&self.db, &self.inner)
    }

    /// Runs the centroid index's maintenance now — split, merge, reassign, consolidate
    /// (see [`crate::DatabaseOptions::index_shard_rows`]) — until no step is due. The
    /// background thread and [`crate::Database::maintain`] do the same.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = drift::DatabaseOptions { index_min_rows: 64, index_shard_rows: 8, ..Default::default() };
    /// let db = drift::Database::open(dir.path(), options)?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// let points: Vec<[f32; 2]> = (0..200).map(|i| [(i % 7) as f32, (i / 7) as f32]).collect();
    /// let postings: Vec<_> = points.iter().enumerate().map(|(i, p)| drift::Posting::new(i as u64, p)).collect();
    /// c.add(&postings)?;
    /// db.flush()?; // 200 rows ≥ index_min_rows: the flush builds the index
    /// assert!(c.stats().centroids > 0);
    /// c.rebalance()?; // lists above 4 × 8 rows split, tiny ones merge
    /// let hits = c.search(&[3.0, 3.0], &drift::SearchOptions::new(1).with_nprobe(4))?;
    /// assert_eq!(hits[0].document_id, drift::DocumentId(3 * 7 + 3));
    /// # Ok(()) }
    /// ```
    pub fn rebalance(&self) -> Result<crate::maintenance::rebalance::RebalanceReport> {
        self.check_open()?;
        crate::maintenance::rebalance::rebalance(&self.db, &self.inner, usize::MAX, std::time::Duration::MAX)
    }

    /// Current counters.
    pub fn stats(&self) -> CollectionStats {
        let st = self.inner.state.read();
        CollectionStats {
            memtable_rows: st.active.len() as u64,
            frozen_rows: st.frozen.iter().map(|m| m.len() as u64).sum(),
            shard_rows: st.shards.iter().map(|s| s.rows).sum(),
            shards: st.shards.len(),
            sealed_shards: st.shards.iter().filter(|s| s.sealed).count(),
            row_groups: st.shards.iter().map(|s| s.row_groups.len()).sum(),
            shard_bytes: st.shards.iter().map(|s| s.file_len()).sum(),
            centroids: st.routing.table.len(),
            tombstones: st.tombstones.len(),
        }
    }
}
