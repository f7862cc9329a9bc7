//! Collections: the front door for writes and searches.
//!
//! A [`Collection`] is a cheap, `Send + Sync` handle to a [`CollectionCore`]:
//! - a write goes to the WAL and, once durable, the WAL leader appends it to the
//!   collection's current version (`CollectionCore::apply`), in LSN order, so a search
//!   started after a write was acknowledged sees it;
//! - a search loads the current [`CollectionVersion`] with one atomic read and holds no
//!   lock while it runs, so it never delays a writer, and it never sees half of an
//!   upsert or of a flush/compaction (each publishes a whole new version);
//! - [`Collection::snapshot`] keeps one version for many searches;
//! - shard data is borrowed from the memory maps, never copied on the search path.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::attributes::{AttributeDef, Attributes, RowValues};
use crate::db::DbInner;
use crate::engine::collection_core::CollectionCore;
use crate::engine::version::CollectionVersion;
use crate::error::{Error, Result};
use crate::kernels::distance;
use crate::options::Metric;
use crate::posting::{DocumentId, Hit, Posting, SearchOptions, StoredPosting};
use crate::search::{self, FilteredProbe};
use crate::attributes::predicate::Predicate;
use crate::filter::Filter;
use crate::explain::{SearchExplain, SearchPlan, Trace};
use crate::posting::default_nprobe;
use crate::snapshot::Snapshot;
use crate::wal::op::{PostingBatch, WalOp};

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
#[non_exhaustive]
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
    /// Rows ever added (row ids count up from 0 and are never reused, whatever was
    /// removed or compacted since).
    pub rows_added: u64,
    /// Rows stored per centroid list of the index, in centroid order (deleted rows
    /// included until compaction).
    pub list_rows: Vec<u64>,
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
    pub(crate) inner: Arc<CollectionCore>,
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

    /// The collection's attribute schema (an attribute's id is its position).
    pub fn schema(&self) -> Vec<AttributeDef> {
        self.inner.schema().to_vec()
    }

    /// Adds an attribute to the schema; postings written before read it as null.
    /// Declaring an existing attribute again with its type does nothing; with another
    /// type it is refused (a type never changes). Durable when this returns.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use drift::{AttributeDef, AttributeType};
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// c.add_attribute(AttributeDef::new("lang", AttributeType::String))?;
    /// assert!(c.add_attribute(AttributeDef::new("lang", AttributeType::U64)).is_err());
    /// assert_eq!(c.schema().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn add_attribute(&self, attribute: AttributeDef) -> Result<()> {
        self.check_open()?;
        self.db.check_writable()?;
        crate::attributes::check_name(&attribute.name)?;
        let vs = &self.db.versions;
        let _m = vs.maintenance.lock();
        let mut edit = crate::engine::version_set::Edit::new(vs.draft());
        let Some(record) = edit.manifest.collection_mut(self.inner.id) else {
            return Err(Error::Closed { what: format!("collection {:?} (it was dropped)", self.inner.name) });
        };
        if let Some(existing) = record.attributes.iter().find(|a| a.name == attribute.name) {
            if existing.kind == attribute.kind {
                return Ok(());
            }
            return Err(Error::invalid(format!(
                "attribute {:?} is {}; its type cannot change to {}",
                attribute.name, existing.kind, attribute.kind
            )));
        }
        record.attributes.push(attribute);
        crate::attributes::check_schema(&record.attributes)?;
        vs.apply(edit)
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
        let mut rows: Vec<RowValues> = Vec::new();
        if postings.iter().any(|p| p.attributes.is_some_and(|a| !a.is_empty())) {
            let schema = self.inner.schema();
            rows = postings
                .iter()
                .enumerate()
                .map(|(i, p)| p.attributes.map_or(Ok(RowValues::new()), |a| crate::attributes::row_values(&schema, a, i)))
                .collect::<Result<_>>()?;
        }
        for (i, p) in postings.iter().enumerate() {
            if p.vector.len() != d {
                return Err(Error::DimensionMismatch { expected: d, actual: p.vector.len() });
            }
            if let Some(component) = p.vector.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteValue { vector: i, component });
            }
            check_magnitude(p.vector, &format!("vector {i}"))?;
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
                attributes: crate::attributes::section::encode(&rows),
            },
            ids,
        ))
    }

    /// Adds postings atomically (all or none) and returns their document ids (fresh
    /// ULIDs where none was given). Returns once the batch is durable per the sync
    /// policy and visible to searches.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// // Ids given, or generated (ULIDs) for postings without one.
    /// let ids = c.add(&[drift::Posting::new(1u64, &[0.0, 1.0]), drift::Posting::new(2u64, &[1.0, 0.0])])?;
    /// assert_eq!(ids, [drift::DocumentId(1), drift::DocumentId(2)]);
    /// # Ok(()) }
    /// ```
    pub fn add(&self, postings: &[Posting<'_>]) -> Result<Vec<DocumentId>> {
        self.check_open()?;
        if postings.is_empty() {
            return Ok(Vec::new());
        }
        let (batch, ids) = self.batch(postings, None)?;
        let _gate = self.inner.write_gate.read();
        self.db.log(WalOp::Add(batch))?;
        Ok(ids)
    }

    /// Replaces every posting of `document_id` with `postings`, atomically: a search
    /// sees the old postings or the new ones, never a mix. Postings must name this
    /// document or none. An empty `postings` removes the document.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// let doc = drift::DocumentId(7);
    /// c.add(&[drift::Posting::new(doc, &[0.0, 1.0]), drift::Posting::new(doc, &[1.0, 1.0])])?;
    /// c.upsert(doc, &[drift::Posting::new(doc, &[5.0, 5.0])])?; // both old postings go
    /// assert_eq!(c.postings(doc)?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn upsert(&self, document_id: DocumentId, postings: &[Posting<'_>]) -> Result<()> {
        self.check_open()?;
        let (batch, _) = self.batch(postings, Some(document_id))?;
        let _gate = self.inner.write_gate.read();
        self.db.log(WalOp::Upsert { document_id: document_id.0, batch })?;
        Ok(())
    }

    /// Removes every posting of the given documents (unknown ids are ignored).
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// c.add(&[drift::Posting::new(1u64, &[0.0, 1.0]), drift::Posting::new(2u64, &[1.0, 0.0])])?;
    /// c.remove(&[drift::DocumentId(1), drift::DocumentId(99)])?;
    /// assert_eq!(c.export()?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn remove(&self, document_ids: &[DocumentId]) -> Result<()> {
        self.check_open()?;
        if document_ids.is_empty() {
            return Ok(());
        }
        let _gate = self.inner.write_gate.read();
        self.db.log(WalOp::Remove { collection_id: self.inner.id, document_ids: document_ids.iter().map(|d| d.0).collect() })?;
        Ok(())
    }

    /// Removes every document with a posting whose attributes match `filter` (all of
    /// its postings: deletes are per document), atomically and durably — one WAL record,
    /// so after any crash all of them are gone or none — and returns how many. The
    /// documents are those that match when it runs: writes to the collection wait while
    /// it finds them (a scan of the matching row groups) and logs their removal.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use drift::{AttributeDef, Attributes, Posting, filter::Filter};
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection_with_schema("c", 2, drift::Metric::L2, &AttributeDef::parse_list("tenant:u64")?)?;
    /// let (a, b) = (Attributes::new().set("tenant", 1u64), Attributes::new().set("tenant", 2u64));
    /// c.add(&[Posting::new(1u64, &[0.0, 1.0]).with_attributes(&a), Posting::new(2u64, &[1.0, 0.0]).with_attributes(&b)])?;
    /// assert_eq!(c.remove_where(&Filter::attr("tenant").eq(1))?, 1);
    /// assert_eq!(c.export()?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn remove_where(&self, filter: &Filter) -> Result<usize> {
        self.remove_matching(filter, None)
    }

    /// [`Collection::remove_where`] with the filter's text form (errors name the byte).
    pub fn remove_where_text(&self, filter: &str) -> Result<usize> {
        let (filter, positions) = Filter::parse_located(filter)?;
        self.remove_matching(&filter, Some(&positions))
    }

    /// Replaces the attribute values of every posting of `document_id` with `values`
    /// (attributes `values` does not name become null), keeping the vectors and spans
    /// as stored — no re-embedding. Atomic and durable: one WAL upsert record of the
    /// document's postings with their new values, so after any crash a search sees the
    /// old values or the new ones, never a mix; writes to the collection wait while it
    /// reads the postings and logs them. Returns how many postings were updated (0 for
    /// an unknown document, which is left unknown).
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use drift::{AttributeDef, Attributes, DocumentId, Posting, SearchOptions};
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection_with_schema("c", 2, drift::Metric::L2, &AttributeDef::parse_list("stage:string")?)?;
    /// c.add(&[Posting::new(7u64, &[0.0, 1.0]).with_attributes(&Attributes::new().set("stage", "draft"))])?;
    /// assert_eq!(c.update_attributes(DocumentId(7), &Attributes::new().set("stage", "published"))?, 1);
    /// let hits = c.search(&[0.0, 1.0], &SearchOptions::new(1).with_filter_text("stage == 'published'")?)?;
    /// assert_eq!(hits[0].document_id, DocumentId(7));
    /// # Ok(()) }
    /// ```
    pub fn update_attributes(&self, document_id: DocumentId, values: &Attributes) -> Result<usize> {
        self.check_open()?;
        self.db.check_writable()?;
        let row = crate::attributes::row_values(&self.inner.schema(), values, 0)?;
        let _gate = self.inner.write_gate.write();
        let version = self.inner.version();
        let d = self.inner.dimension;
        let mut postings: Vec<(u64, [u32; 2], Vec<f32>)> = Vec::new();
        let candidates = version.shards.iter().filter(|s| s.may_contain(document_id.0));
        version.scan_rows(candidates, None, &mut Trace::default(), |_| Some(0.0), |r, _| {
            if r.document_id == document_id.0 {
                postings.push((r.row_id, r.span, r.vector.to_vec()));
            }
        })?;
        if postings.is_empty() {
            return Ok(0);
        }
        postings.sort_by_key(|p| p.0);
        let n = postings.len();
        // The stored vectors as they are (already normalised for cosine): not passed
        // through `batch`, which would normalise them again.
        let batch = PostingBatch {
            collection_id: self.inner.id,
            row_id_base: self.inner.next_row_id.fetch_add(n as u64, Ordering::Relaxed),
            dimension: d as u32,
            document_ids: vec![document_id.0; n],
            spans: postings.iter().map(|p| p.1).collect(),
            vectors: postings.iter().flat_map(|p| p.2.iter().copied()).collect(),
            attributes: crate::attributes::section::encode(&vec![row; n]),
        };
        self.db.log(WalOp::Upsert { document_id: document_id.0, batch })?;
        Ok(n)
    }

    fn remove_matching(&self, filter: &Filter, positions: Option<&[usize]>) -> Result<usize> {
        self.check_open()?;
        self.db.check_writable()?;
        let predicate = Predicate::resolve(filter, &self.inner.schema(), positions)?;
        let _gate = self.inner.write_gate.write();
        let version = self.inner.version();
        let mut documents = std::collections::BTreeSet::new();
        version.scan_rows(version.shards.iter(), Some(&predicate), &mut Trace::default(), |_| Some(0.0), |row, _| {
            documents.insert(row.document_id);
        })?;
        if documents.is_empty() {
            return Ok(0);
        }
        let count = documents.len();
        self.db.log(WalOp::Remove { collection_id: self.inner.id, document_ids: documents.into_iter().collect() })?;
        Ok(count)
    }

    /// The `options.k` nearest postings to `query`, closest first.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::Cosine)?;
    /// c.add(&[drift::Posting::new(1u64, &[0.0, 1.0]).with_span(0, 50), drift::Posting::new(2u64, &[1.0, 0.0])])?;
    /// let hits = c.search(&[0.1, 0.9], &drift::SearchOptions::new(1))?;
    /// assert_eq!((hits[0].document_id, hits[0].start, hits[0].length), (drift::DocumentId(1), 0, 50));
    /// # Ok(()) }
    /// ```
    pub fn search(&self, query: &[f32], options: &SearchOptions) -> Result<Vec<Hit>> {
        self.check_open()?;
        search_version(&self.inner, &self.inner.version(), query, options)
    }

    /// [`Collection::search`], returning beside the hits what the search did: the plan
    /// it chose (with a filter: an exact scan of the matching rows, or a widened
    /// probe), lists probed, row groups skipped by their summaries, rows scanned,
    /// vectors re-ranked and bytes touched.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// c.add(&[drift::Posting::new(1u64, &[0.0, 1.0])])?;
    /// let explained = c.explain(&[0.0, 1.0], &drift::SearchOptions::new(1))?;
    /// assert_eq!(explained.plan, drift::SearchPlan::Exact); // not indexed yet
    /// assert_eq!((explained.hits.len(), explained.rows_scanned), (1, 1));
    /// # Ok(()) }
    /// ```
    pub fn explain(&self, query: &[f32], options: &SearchOptions) -> Result<SearchExplain> {
        self.check_open()?;
        explain_version(&self.inner, &self.inner.version(), query, options)
    }

    /// A snapshot of the collection as it is now: its searches return the same results
    /// until it is dropped, while writes, flushes, compactions and index maintenance go
    /// on (the files it reads stay on disk until then).
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// c.add(&[drift::Posting::new(1u64, &[0.0, 0.0])])?;
    /// let before = c.snapshot()?;
    /// c.add(&[drift::Posting::new(2u64, &[0.1, 0.0])])?;
    /// c.remove(&[drift::DocumentId(1)])?;
    /// db.flush()?;
    /// let hits = before.search(&[0.0, 0.0], &drift::SearchOptions::new(5))?;
    /// assert_eq!(hits.len(), 1);
    /// assert_eq!(hits[0].document_id, drift::DocumentId(1));
    /// assert_eq!(c.search(&[0.0, 0.0], &drift::SearchOptions::new(5))?[0].document_id, drift::DocumentId(2));
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.check_open()?;
        Ok(Snapshot { db: self.db.clone(), inner: self.inner.clone(), version: self.inner.version() })
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
        collect_version(&self.inner.version(), &self.inner.schema(), only)
    }

    /// Rewrites shards holding deleted rows without them and drops the tombstones
    /// that no stored row needs any more. Flushes the memtables first.
    pub fn compact(&self) -> Result<crate::maintenance::compaction::CompactionReport> {
        self.check_open()?;
        crate::maintenance::compaction::compact(&self.db.versions, &self.inner, crate::maintenance::compaction::Scope::Full)
    }

    /// Runs the centroid index's maintenance now — split, merge, reassign, consolidate
    /// (see [`crate::DatabaseOptions::index_shard_rows`]) — until no step is due. The
    /// background thread and [`crate::Database::maintain`] do the same.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = drift::DatabaseOptions::default().with_index_min_rows(64).with_index_shard_rows(8);
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
        crate::maintenance::rebalance::rebalance(&self.db.versions, &self.inner, usize::MAX, std::time::Duration::MAX)
    }

    /// Current counters.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("c", 2, drift::Metric::L2)?;
    /// c.add(&[drift::Posting::new(1u64, &[0.0, 1.0])])?;
    /// assert_eq!(c.stats().memtable_rows, 1);
    /// db.flush()?;
    /// assert_eq!((c.stats().memtable_rows, c.stats().shard_rows), (0, 1));
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> CollectionStats {
        let st = self.inner.version();
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
            rows_added: self.inner.next_row_id.load(Ordering::Relaxed),
            list_rows: (0..st.routing.table.len()).map(|i| st.routing.list_rows(i)).collect(),
        }
    }
}

/// Largest squared norm accepted: distances between two such vectors (at most
/// 4 × this for L2) stay finite in f32.
const MAX_SQUARED_NORM: f64 = f32::MAX as f64 / 4.0;

/// Refuses a finite vector whose distances would overflow f32 (3e38 in one component,
/// say): searches would otherwise return infinite distances.
fn check_magnitude(v: &[f32], what: &str) -> Result<()> {
    let squared: f64 = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    if squared > MAX_SQUARED_NORM {
        return Err(Error::invalid(format!(
            "{what} is too large: its squared norm {squared:.3e} would overflow f32 distances (at most {MAX_SQUARED_NORM:.3e})"
        )));
    }
    Ok(())
}

/// Searches one version of a collection: checks the query, normalises it for cosine,
/// and runs the exact or probed path (shared by [`Collection`] and [`Snapshot`]).
pub(crate) fn search_version(c: &CollectionCore, st: &CollectionVersion, query: &[f32], options: &SearchOptions) -> Result<Vec<Hit>> {
    explain_version(c, st, query, options).map(|e| e.hits)
}

/// Rows whose match count a filtered search samples, at most, to estimate the
/// filter's selectivity (whole shards, every n-th).
const SELECTIVITY_SAMPLE_ROWS: u64 = 16_384;

/// Rows of the sample counted before the count may stop early (see `explain_version`).
const SELECTIVITY_EARLY_ROWS: u64 = 1_024;

/// A filtered search scores its matching rows exactly when there are at most
/// 1 / `EXACT_ROW_COST` as many as the unfiltered probe would scan rows; otherwise it
/// probes (skipping the groups whose summaries rule the filter out). Measured on the
/// MiniLM dev set (`recall_qps filtered`, one thread; the unfiltered probe there scans
/// 13,800 rows): 117 and 381 matches (0.2%, 0.6%) ran 1.5× and 2× faster exact than
/// probed; on `own_section` (a different section per query, 4.6% of rows on average)
/// 8 sent 369 of 1,000 queries to the exact plan at 3,343 queries/s, 16 sent 162 at
/// 4,318 (recall 0.983 and 0.976), 32 sent 122 at 4,448 (0.975).
const EXACT_ROW_COST: f64 = 16.0;

/// [`search_version`], with what the search did.
pub(crate) fn explain_version(c: &CollectionCore, st: &CollectionVersion, query: &[f32], options: &SearchOptions) -> Result<SearchExplain> {
    options.validate()?;
    let d = c.dimension;
    if query.len() != d {
        return Err(Error::DimensionMismatch { expected: d, actual: query.len() });
    }
    if let Some(component) = query.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFiniteValue { vector: 0, component });
    }
    check_magnitude(query, "the query")?;
    let predicate = match options.filter.as_deref() {
        Some(spec) => Some(Predicate::resolve(&spec.filter, &c.schema(), spec.positions.as_deref())?),
        None => None,
    };
    let mut normalized;
    let mut q = query;
    if c.metric == Metric::Cosine {
        normalized = query.to_vec();
        if !distance::normalize(&mut normalized) {
            return Err(Error::invalid("query vector is zero and cannot be normalised for cosine"));
        }
        q = &normalized;
    }
    let metric = c.metric;
    let total = st.total_rows();
    let mut trace = Trace::default();
    let indexed = !st.routing.table.is_empty();
    let exact = options.exact || !indexed;
    let (plan, selectivity, probe) = match &predicate {
        None => (if exact { SearchPlan::Exact } else { SearchPlan::Probe }, None, None),
        Some(_) if exact => (SearchPlan::FilteredExact, None, None),
        Some(p) => {
            let lists = st.routing.table.len();
            let nprobe = options.nprobe.unwrap_or_else(|| default_nprobe(lists)).min(lists);
            let probe_rows = total as f64 * nprobe as f64 / lists as f64;
            let shard_rows: u64 = st.shards.iter().map(|s| s.rows).sum();
            let stride = shard_rows.div_ceil(SELECTIVITY_SAMPLE_ROWS).max(1) as usize;
            // The count stops once a sample of SELECTIVITY_EARLY_ROWS rows shows 4× more
            // matches than the exact plan takes: the choice is made, and an unselective
            // filter does not pay for masking the whole sample.
            let exact_share = probe_rows / EXACT_ROW_COST / total as f64;
            let enough = |matched: u64, seen: u64| seen >= SELECTIVITY_EARLY_ROWS && matched as f64 > 4.0 * exact_share * seen as f64;
            let (matched, seen) = st.count_matches(p, stride, &mut trace, enough)?;
            let s = if seen == 0 { 1.0 } else { matched as f64 / seen as f64 };
            if s * total as f64 * EXACT_ROW_COST <= probe_rows {
                (SearchPlan::FilteredExact, Some(s), None)
            } else {
                let widened = ((nprobe as f64 / s.max(1e-9)) * 2.0).ceil().min(lists as f64) as usize;
                (SearchPlan::FilteredProbe, Some(s), Some(FilteredProbe { predicate: p, lists: widened.max(nprobe), min_lists: nprobe, selectivity: s }))
            }
        }
    };
    let mut limit = if options.one_per_document { options.k.saturating_mul(4) } else { options.k };
    loop {
        let found = match plan {
            SearchPlan::Exact | SearchPlan::FilteredExact => search::exact(st, metric, q, limit, predicate.as_ref(), &mut trace)?,
            _ => search::probed(st, metric, q, options, limit, probe, &mut trace)?,
        };
        let complete = found.len() < limit || limit as u64 >= total;
        let mut found = found;
        if options.one_per_document {
            found = search::one_per_document(found, options.k);
            if found.len() < options.k && !complete {
                limit = limit.saturating_mul(4);
                continue;
            }
        }
        let hits = found
            .into_iter()
            .take(options.k)
            .map(|c| Hit { document_id: DocumentId(c.document_id), start: c.span[0], length: c.span[1], distance: c.distance })
            .collect();
        return Ok(trace.explain(hits, plan, selectivity));
    }
}

/// Every visible posting of a version, or only those of `only` (sorted by document id,
/// then row id), with their attribute values named by `schema`.
pub(crate) fn collect_version(st: &CollectionVersion, schema: &[AttributeDef], only: Option<u128>) -> Result<Vec<StoredPosting>> {
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
                    attributes: crate::attributes::named(schema, row.section.row(row.row)),
                });
            }
        },
    )?;
    out.sort_by_key(|p| (p.document_id, p.row_id));
    Ok(out)
}
