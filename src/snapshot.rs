//! [`Snapshot`]: repeatable reads of one collection.
//!
//! A snapshot holds one [`CollectionVersion`]: the memtable prefixes, shard readers,
//! index and tombstones as they were when it was taken. Every search of it returns what
//! a search at that moment would have, however many writes, flushes, compactions and
//! index steps happen meanwhile. The shard files it reads stay on disk until it is
//! dropped (a retired file is deleted with its last reader), so hold snapshots for as
//! long as the reads need them, not longer: they also keep memtables in memory.

use std::sync::Arc;

use crate::collection::{collect_version, search_version};
use crate::db::DbInner;
use crate::engine::collection_core::CollectionCore;
use crate::engine::version::CollectionVersion;
use crate::error::{Error, Result};
use crate::posting::{DocumentId, Hit, SearchOptions, StoredPosting};

/// A read-only view of a collection frozen at one moment; see
/// [`crate::Collection::snapshot`]. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) db: Arc<DbInner>,
    pub(crate) inner: Arc<CollectionCore>,
    pub(crate) version: Arc<CollectionVersion>,
}

impl Snapshot {
    fn check_open(&self) -> Result<()> {
        self.db.check_open()?;
        if self.inner.dropped.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::Closed { what: format!("collection {:?} (it was dropped)", self.inner.name) });
        }
        Ok(())
    }

    /// The `options.k` nearest postings to `query` as of the snapshot, closest first.
    pub fn search(&self, query: &[f32], options: &SearchOptions) -> Result<Vec<Hit>> {
        self.check_open()?;
        search_version(&self.inner, &self.version, query, options)
    }

    /// Every posting of `document_id` as of the snapshot (sorted by row id).
    pub fn postings(&self, document_id: DocumentId) -> Result<Vec<StoredPosting>> {
        self.check_open()?;
        collect_version(&self.version, &self.inner.schema(), Some(document_id.0))
    }

    /// Every posting of the collection as of the snapshot (sorted by document id, then
    /// row id).
    pub fn export(&self) -> Result<Vec<StoredPosting>> {
        self.check_open()?;
        collect_version(&self.version, &self.inner.schema(), None)
    }

    /// Rows the snapshot holds (deleted rows included until a flush or compaction
    /// drops them).
    pub fn stored_rows(&self) -> u64 {
        self.version.total_rows()
    }
}
