//! The database: a directory, its lock, its WAL, its manifest and its collections.
//!
//! Directory layout:
//!
//! ```text
//! <dir>/LOCK                  exclusive advisory lock of the owning process
//! <dir>/MANIFEST              the catalog (storage/manifest.rs), replaced atomically
//! <dir>/wal/segment-NNNNNN.wal   the WAL ring (wal/)
//! <dir>/shards/<collection>-<shard>.shard   shard files (storage/shard_file.rs)
//! ```
//!
//! Opening = lock → load the manifest → open every shard it names (truncating bytes an
//! unpublished flush left past the committed length) → delete files no manifest names
//! → replay the WAL after the checkpoint into memtables → start background threads.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::background;
use crate::collection::{Collection, CollectionInfo, CollectionStats};
use crate::engine::collection_core::CollectionCore;
use crate::engine::version_set::{Edit, VersionSet, VersionSetParts};
use crate::error::{Error, Result};
use crate::io::{FileSystem, OpenMode};
use crate::maintenance::flush;
use crate::attributes::AttributeDef;
use crate::options::{self, DatabaseOptions, Metric};
use crate::storage::manifest::{self, CollectionRecord, Manifest};
use crate::storage::shard_file::{self, ShardHeader, ShardReader};
use crate::wal::op::WalOp;
use crate::wal::replay;
use crate::wal::ring::{ApplyOp, Wal};
use crate::wal::WalStats;

/// What opening the database found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// WAL records replayed into memtables (those after the checkpoint).
    pub records_replayed: u64,
    /// Bytes of those records.
    pub bytes_replayed: u64,
    /// Bytes of a damaged record at the end of the WAL that were discarded. The log was
    /// not closed cleanly (a clean close marks its end, and damage before the marker is
    /// an error), so this is most likely a write cut by a crash before it was
    /// acknowledged — but damage to the last acknowledged write looks the same, and that
    /// write is then lost.
    pub torn_bytes_truncated: u64,
    /// Bytes past committed lengths of shard files that were truncated.
    pub shard_bytes_truncated: u64,
    /// Files no manifest referenced that were deleted.
    pub orphan_files_removed: u64,
    /// Checkpoint LSN of the manifest.
    pub checkpoint_lsn: u64,
    /// Damaged WAL segment files the log did not need (old, recycled ones, e.g.
    /// truncated), replaced by fresh segments.
    pub wal_segments_replaced: u64,
    /// Wall time of the open, in microseconds.
    pub open_micros: u64,
}

/// Counters of a database.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DatabaseStats {
    /// Per collection, by name.
    pub collections: BTreeMap<String, CollectionStats>,
    /// The WAL's counters.
    pub wal: WalStats,
    /// Manifest generation last published.
    pub manifest_generation: u64,
    /// WAL records at or below this LSN are in shard files.
    pub checkpoint_lsn: u64,
    /// Bytes in memtables not yet written to shard files (active and frozen).
    pub memtable_bytes: u64,
    /// Flushes completed since open.
    pub flushes: u64,
    /// Compactions completed since open.
    pub compactions: u64,
    /// What opening found.
    pub recovery: RecoveryReport,
    /// Why writes are refused, if they are.
    pub poisoned: Option<String>,
    /// The S3 tier's counters, when one is configured.
    pub tier: Option<crate::tier::TierStats>,
    /// Last error of a background flush, if any.
    pub last_background_error: Option<String>,
}

/// One problem found by [`Database::verify`].
#[derive(Debug)]
pub struct VerifyProblem {
    /// The collection whose file is affected.
    pub collection: String,
    /// The error, with file and offset.
    pub error: Error,
}

#[derive(Debug, Default)]
pub(crate) struct WorkerSignal {
    pub stop: bool,
    pub flush_requested: bool,
}

/// Shared state of an open database: the engine core ([`VersionSet`]: collections,
/// versions, manifest, WAL) and what only the open database needs around it (the lock,
/// the background threads' mailbox, the recovery report).
pub(crate) struct DbInner {
    pub versions: VersionSet,
    pub closed: AtomicBool,
    pub lock: Mutex<Option<Box<dyn Any + Send + Sync>>>,
    pub recovery: Mutex<RecoveryReport>,
    pub last_background_error: Mutex<Option<String>>,
    pub signal: Mutex<WorkerSignal>,
    pub wake: Condvar,
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbInner").field("path", &self.versions.path).finish_non_exhaustive()
    }
}

impl ApplyOp for DbInner {
    fn apply(&self, lsn: u64, op: WalOp) {
        if self.versions.apply_op(lsn, op) >= self.versions.options.memtable_flush_bytes as isize {
            self.request_flush();
        }
    }
}

impl DbInner {
    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: format!("database {}", self.versions.path.display()) });
        }
        Ok(())
    }

    pub fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        self.versions.check_writable()
    }

    /// Logs an operation and waits until it is durable and applied. Waits first while
    /// memtables hold more than `write_stall_multiple` × the flush threshold (with
    /// background threads; without them the host flushes on its own schedule).
    pub fn log(&self, op: WalOp) -> Result<u64> {
        self.check_writable()?;
        self.wait_for_room()?;
        self.versions.wal.append(op, self)
    }

    /// Backpressure: holds a writer while flushes are behind, up to the stall timeout.
    fn wait_for_room(&self) -> Result<()> {
        let options = &self.versions.options;
        if !options.background_threads || options.write_stall_multiple == 0 {
            return Ok(());
        }
        let limit = options.memtable_flush_bytes.saturating_mul(options.write_stall_multiple) as isize;
        if self.versions.memtable_bytes.load(Ordering::Relaxed) < limit {
            return Ok(());
        }
        let started = Instant::now();
        self.request_flush();
        if self.versions.wait_for_drain(limit, options.write_stall_timeout) {
            return Ok(());
        }
        self.versions.check_writable()?;
        Err(Error::Backpressure {
            pending_bytes: self.versions.memtable_bytes.load(Ordering::Relaxed).max(0) as u64,
            limit_bytes: limit as u64,
            waited_ms: started.elapsed().as_millis() as u64,
            flush_error: self.last_background_error.lock().clone(),
        })
    }

    /// Poisons the database: writes fail with `cause` until it is reopened.
    pub fn poison_with(&self, cause: String) {
        self.versions.wal.poison(cause);
        self.versions.notify_drained();
    }

    /// The collection named `name`.
    pub fn lookup(&self, name: &str) -> Result<Arc<CollectionCore>> {
        self.versions.lookup(name)
    }

    pub fn request_flush(&self) {
        self.signal.lock().flush_requested = true;
        self.wake.notify_all();
    }
}

/// An open database. `Send + Sync`; share it (or its [`Collection`] handles) between
/// threads. Dropping it closes it.
///
/// ```
/// # fn main() -> drift::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
/// db.create_collection("a", 4, drift::Metric::Cosine)?;
/// assert_eq!(db.list_collections()[0].name, "a");
/// db.close()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Database {
    pub(crate) inner: Arc<DbInner>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Database {
    /// Opens (creating if missing and allowed) the database in directory `path`,
    /// recovering from the WAL. Fails with [`Error::Locked`] if another process or
    /// handle has it open.
    pub fn open(path: impl AsRef<Path>, options: DatabaseOptions) -> Result<Database> {
        let started = Instant::now();
        options.validate()?;
        let path = path.as_ref().to_owned();
        if path.as_os_str().is_empty() {
            // Refused before anything is written (an empty path would mean the current
            // directory to some calls and nothing to others).
            return Err(Error::invalid("database path is empty"));
        }
        let fs = options.file_system.clone();
        let created_dir = !fs.exists(&path);
        if created_dir {
            if !options.create_if_missing {
                return Err(Error::invalid(format!("database directory {} does not exist", path.display())));
            }
            fs.create_dir_all(&path).map_err(|e| Error::io("create database directory", &path, e))?;
        }
        let lock_path = path.join("LOCK");
        let lock = fs
            .try_lock(&lock_path)
            .map_err(|e| Error::io("lock database", &lock_path, e))?
            .ok_or_else(|| Error::Locked { path: lock_path.clone() })?;

        #[cfg(feature = "s3")]
        let (tier, replica_of) = {
            let existed = fs.exists(&path.join(manifest::FILE_NAME));
            match open_tier(fs.as_ref(), &path, &options) {
                Ok(t) => t,
                Err(e) => {
                    // A refused open of a new database leaves nothing behind (so the
                    // directory can be used again, e.g. as a replica).
                    if !existed {
                        drop(lock);
                        remove_new_database(fs.as_ref(), &path, created_dir);
                    }
                    return Err(e);
                }
            }
        };
        #[cfg(not(feature = "s3"))]
        let replica_of: Option<String> = None;
        let wal_dir = path.join("wal");
        let shards_dir = path.join("shards");
        let manifest_path = path.join(manifest::FILE_NAME);
        let mut report = RecoveryReport::default();
        let manifest = if fs.exists(&manifest_path) {
            read_manifest(fs.as_ref(), &manifest_path)?
        } else {
            for dir in [&wal_dir, &shards_dir] {
                if fs.exists(dir) && fs.read_dir(dir).map(|e| !e.is_empty()).unwrap_or(true) {
                    return Err(Error::corrupt(
                        &manifest_path,
                        0,
                        format!("MANIFEST is missing but {} holds files; restore the manifest or remove the directory", dir.display()),
                    ));
                }
            }
            let fresh = Manifest { generation: 1, ..Manifest::empty() };
            crate::io::durable_replace(fs.as_ref(), &manifest_path, &fresh.encode()).map_err(|(e, _)| e)?;
            fresh
        };
        for dir in [&wal_dir, &shards_dir] {
            fs.create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        }
        fs.sync_dir(&path).map_err(|e| Error::io("fsync database directory", &path, e))?;
        let _ = fs.remove_file(&manifest_path.with_extension("tmp"));
        report.checkpoint_lsn = manifest.checkpoint_lsn;

        let mut collections: Vec<Arc<CollectionCore>> = Vec::new();
        let mut referenced = HashSet::new();
        for record in &manifest.collections {
            let mut shards = Vec::with_capacity(record.shards.len());
            for s in &record.shards {
                let file_path = shard_file::shard_path(&shards_dir, record.id, s.shard_id);
                referenced.insert(file_path.clone());
                if !s.sealed {
                    report.shard_bytes_truncated += truncate_uncommitted(fs.as_ref(), &file_path, s.committed_len)?;
                }
                let identity = ShardHeader::of(record, s);
                let stub = shard_file::evicted_path(&file_path);
                if s.sealed {
                    referenced.insert(stub.clone());
                }
                #[cfg(feature = "s3")]
                let evicted = tier.is_some() && s.sealed && !fs.exists(&file_path);
                #[cfg(not(feature = "s3"))]
                let evicted = false;
                #[cfg(feature = "s3")]
                if let (true, Some(t)) = (evicted && !fs.exists(&stub), &tier) {
                    // Evicted without a metadata stub (by an older drift): fetch it now.
                    t.download_shard(fs.as_ref(), &file_path, record.id, s.shard_id, s.committed_len)?;
                }
                let reader = if evicted && fs.exists(&stub) {
                    // Evicted before the last close: rebuilt from its stub, fetched on first use.
                    Arc::new(ShardReader::open_evicted(fs.as_ref(), &file_path, s, &identity, options.vector_reads)?)
                } else {
                    Arc::new(ShardReader::open(fs.as_ref(), &file_path, s, &identity, options.vector_reads)?)
                };
                #[cfg(feature = "s3")]
                if let Some(t) = &tier {
                    reader.attach_remote(Arc::new(crate::tier::RemoteShards { tier: t.clone(), fs: fs.clone() }));
                }
                shards.push(reader);
            }
            collections.push(Arc::new(CollectionCore::new(record, shards)));
        }
        for file in fs.read_dir(&shards_dir).map_err(|e| Error::io("list shards", &shards_dir, e))? {
            let ours = shard_file::parse_shard_name(&file).is_some() || file.extension().is_some_and(|e| e == "tmp" || e == "evicted");
            if ours && !referenced.contains(&file) {
                fs.remove_file(&file).map_err(|e| Error::io("remove unreferenced shard file", &file, e))?;
                report.orphan_files_removed += 1;
            }
        }
        if report.orphan_files_removed > 0 {
            fs.sync_dir(&shards_dir).map_err(|e| Error::io("fsync shards directory", &shards_dir, e))?;
        }

        // A segment whose creation a crash cut short is only a temp file.
        for file in fs.read_dir(&wal_dir).map_err(|e| Error::io("list WAL directory", &wal_dir, e))? {
            if file.extension().is_some_and(|e| e == "tmp") {
                fs.remove_file(&file).map_err(|e| Error::io("remove unfinished WAL segment", &file, e))?;
            }
        }
        let segments = replay::find_segments(fs.as_ref(), &wal_dir)?;
        let mut memtable_bytes = 0isize;
        let outcome = replay::replay(segments, manifest.checkpoint_lsn, |lsn, op| {
            if let Some(c) = collections.iter().find(|c| c.id == op.collection_id()) {
                validate_replayed(c, &op)?;
                memtable_bytes += c.apply(lsn, op) as isize;
            }
            Ok(())
        })?;
        report.records_replayed = outcome.records_replayed;
        report.bytes_replayed = outcome.bytes_replayed;
        report.torn_bytes_truncated = outcome.torn_bytes;
        report.wal_segments_replaced = outcome.discarded.len() as u64;
        let wal = Wal::open(
            fs.clone(),
            &wal_dir,
            options.sync_policy,
            options.wal_segment_bytes,
            options.wal_ring_segments,
            manifest.checkpoint_lsn,
            outcome,
        )?;
        report.open_micros = started.elapsed().as_micros() as u64;

        let parts = VersionSetParts {
            path,
            options,
            fs,
            wal,
            manifest,
            memtable_bytes,
            read_only: replica_of,
            #[cfg(feature = "s3")]
            tier,
        };
        let inner = Arc::new(DbInner {
            versions: VersionSet::new(parts, collections),
            closed: AtomicBool::new(false),
            lock: Mutex::new(Some(lock)),
            recovery: Mutex::new(report),
            last_background_error: Mutex::new(None),
            signal: Mutex::new(WorkerSignal::default()),
            wake: Condvar::new(),
        });
        let workers = if inner.versions.options.background_threads { background::spawn(&inner) } else { Vec::new() };
        if memtable_bytes >= inner.versions.options.memtable_flush_bytes as isize {
            inner.request_flush();
        }
        Ok(Database { inner, workers: Mutex::new(workers) })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.versions.path
    }

    /// Creates a collection. Durable when this returns.
    pub fn create_collection(&self, name: &str, dimension: usize, metric: Metric) -> Result<Collection> {
        self.create_collection_with_schema(name, dimension, metric, &[])
    }

    /// Creates a collection whose postings carry the typed `attributes` (more can be
    /// added later with [`Collection::add_attribute`]). Durable when this returns.
    ///
    /// ```
    /// use drift::{AttributeDef, AttributeType, Attributes, Posting, SearchOptions};
    /// use drift::filter::Filter;
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let schema = [AttributeDef::new("lang", AttributeType::String), AttributeDef::new("year", AttributeType::U64)];
    /// let c = db.create_collection_with_schema("docs", 2, drift::Metric::L2, &schema)?;
    /// let (en, fr) = (Attributes::new().set("lang", "en").set("year", 2024u64), Attributes::new().set("lang", "fr"));
    /// c.add(&[Posting::new(1u64, &[0.0, 1.0]).with_attributes(&en), Posting::new(2u64, &[0.0, 0.9]).with_attributes(&fr)])?;
    /// let hits = c.search(&[0.0, 0.9], &SearchOptions::new(5).with_filter(Filter::parse("lang == 'en'")?))?;
    /// assert_eq!(hits.len(), 1);
    /// assert_eq!(hits[0].document_id, drift::DocumentId(1));
    /// # Ok(()) }
    /// ```
    pub fn create_collection_with_schema(&self, name: &str, dimension: usize, metric: Metric, attributes: &[AttributeDef]) -> Result<Collection> {
        self.inner.check_writable()?;
        options::validate_collection_name(name)?;
        options::validate_dimension(dimension)?;
        crate::attributes::check_schema(attributes)?;
        let vs = &self.inner.versions;
        let _m = vs.maintenance.lock();
        if vs.lookup(name).is_ok() {
            return Err(Error::CollectionExists { name: name.to_owned() });
        }
        let mut edit = Edit::new(vs.draft());
        let id = edit.manifest.next_collection_id;
        edit.manifest.next_collection_id += 1;
        let record = CollectionRecord {
            id,
            name: name.to_owned(),
            dimension,
            metric,
            next_row_id: 0,
            next_shard_id: 1,
            shards: Vec::new(),
            tombstones: Vec::new(),
            centroids: Vec::new(),
            attributes: attributes.to_vec(),
        };
        let inner = Arc::new(CollectionCore::new(&record, Vec::new()));
        edit.manifest.collections.push(record);
        edit.added.push(inner.clone());
        vs.apply(edit)?;
        Ok(Collection { db: self.inner.clone(), inner })
    }

    /// A handle to an existing collection.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        self.inner.check_open()?;
        let inner = self.inner.lookup(name)?;
        Ok(Collection { db: self.inner.clone(), inner })
    }

    /// Drops a collection and deletes its files (each once no search or snapshot still
    /// reads it). Existing handles to it fail with [`Error::Closed`] from then on.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let c = db.create_collection("old", 2, drift::Metric::L2)?;
    /// db.drop_collection("old")?;
    /// assert!(db.list_collections().is_empty());
    /// assert_eq!(c.search(&[0.0, 0.0], &drift::SearchOptions::new(1)).unwrap_err().code(), drift::ErrorCode::Closed);
    /// # Ok(()) }
    /// ```
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        self.inner.check_writable()?;
        let vs = &self.inner.versions;
        let _m = vs.maintenance.lock();
        let inner = vs.lookup(name)?;
        let mut edit = Edit::new(vs.draft());
        edit.manifest.collections.retain(|c| c.id != inner.id);
        edit.retired.extend(inner.version().shards.iter().cloned());
        edit.dropped.push(inner);
        vs.apply(edit)
    }

    /// Every collection, by name.
    pub fn list_collections(&self) -> Vec<CollectionInfo> {
        self.inner
            .versions
            .collections()
            .iter()
            .map(|c| CollectionInfo { name: c.name.clone(), dimension: c.dimension, metric: c.metric })
            .collect()
    }

    /// Moves every memtable into shard files, publishes the manifest and recycles the
    /// WAL segments this made redundant. Returns when all of that is durable.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_writable()?;
        flush::flush(&self.inner.versions)?;
        // Shard files retired earlier whose last search has finished since.
        self.inner.versions.graveyard.clear();
        Ok(())
    }

    /// Runs pending maintenance (flush, index rebalancing, compaction of shards with
    /// at least 1/8 of their rows deleted, a tenth of the collection per step) for about
    /// `budget` of wall time; for hosts that schedule work themselves. Fewer deletes stay
    /// hidden without a rewrite; [`crate::Collection::compact`] removes every one.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let report = db.maintain(std::time::Duration::from_millis(50))?;
    /// assert!(!report.flushed); // nothing to do yet
    /// # Ok(()) }
    /// ```
    pub fn maintain(&self, budget: Duration) -> Result<crate::maintenance::budget::MaintenanceReport> {
        self.inner.check_writable()?;
        let report = crate::maintenance::budget::maintain(&self.inner.versions, budget)?;
        self.inner.versions.graveyard.clear();
        Ok(report)
    }

    /// Runs one promotion round to the S3 tier now: uploads sealed shards not yet
    /// promoted, publishes the manifest generation and advances the pointer. For a
    /// replica, loads the newest published generation instead. Background threads do
    /// the same every `ObjectStoreConfig::interval`.
    pub fn sync_object_store(&self) -> Result<()> {
        self.inner.check_open()?;
        #[cfg(feature = "s3")]
        return crate::maintenance::tiering::sync(&self.inner.versions);
        #[cfg(not(feature = "s3"))]
        Err(Error::invalid("drift was built without the \"s3\" feature"))
    }

    /// Writes a consistent copy of the whole database into `dir` (which must not exist
    /// or be empty) that opens as a database holding every write acknowledged before
    /// this call. Sealed shard files are hard-linked, not copied, so it takes time
    /// proportional to the number of files; only open shards' committed bytes are
    /// copied. Flushes first. The source stays open for reads and writes throughout.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// let (dir, backups) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// db.create_collection("c", 2, drift::Metric::L2)?.add(&[drift::Posting::new(1u64, &[0.5, 0.5])])?;
    /// let copy = backups.path().join("monday");
    /// db.checkpoint(&copy)?;
    /// let restored = drift::Database::open(&copy, drift::DatabaseOptions::default())?;
    /// assert_eq!(restored.collection("c")?.export()?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<crate::maintenance::checkpoint::CheckpointReport> {
        self.inner.check_open()?;
        if self.inner.versions.read_only.is_none() {
            self.inner.check_writable()?;
        }
        crate::maintenance::checkpoint::checkpoint(&self.inner.versions, dir.as_ref())
    }

    /// What opening the database found.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.inner.recovery.lock().clone()
    }

    /// Current counters.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// db.create_collection("c", 2, drift::Metric::L2)?.add(&[drift::Posting::new(1u64, &[0.0, 1.0])])?;
    /// let stats = db.stats();
    /// assert_eq!(stats.collections["c"].memtable_rows, 1);
    /// assert!(stats.poisoned.is_none());
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> DatabaseStats {
        let vs = &self.inner.versions;
        let (generation, checkpoint_lsn) = vs.published();
        DatabaseStats {
            collections: vs
                .collections()
                .iter()
                .map(|c| (c.name.clone(), Collection { db: self.inner.clone(), inner: c.clone() }.stats()))
                .collect(),
            wal: vs.wal.stats(),
            manifest_generation: generation,
            checkpoint_lsn,
            memtable_bytes: vs.memtable_bytes.load(Ordering::Relaxed).max(0) as u64,
            flushes: vs.flushes.load(Ordering::Relaxed),
            compactions: vs.compactions.load(Ordering::Relaxed),
            recovery: self.recovery_report(),
            poisoned: vs.wal.poisoned(),
            last_background_error: self.inner.last_background_error.lock().clone(),
            #[cfg(feature = "s3")]
            tier: vs.tier.as_ref().map(|t| t.stats()),
            #[cfg(not(feature = "s3"))]
            tier: None,
        }
    }

    /// Reads every checksum of every shard file (row-group bodies, footers, bloom
    /// filters) and returns each problem found; changes nothing.
    ///
    /// ```
    /// # fn main() -> drift::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// db.create_collection("c", 2, drift::Metric::L2)?.add(&[drift::Posting::new(1u64, &[0.0, 1.0])])?;
    /// db.flush()?;
    /// assert!(db.verify()?.is_empty(), "every checksum holds");
    /// # Ok(()) }
    /// ```
    pub fn verify(&self) -> Result<Vec<VerifyProblem>> {
        self.inner.check_open()?;
        let mut problems = Vec::new();
        for c in self.inner.versions.collections() {
            let version = c.version();
            for s in version.shards.iter() {
                problems.extend(s.verify().into_iter().map(|error| VerifyProblem { collection: c.name.clone(), error }));
            }
        }
        Ok(problems)
    }

    /// Stops background threads, syncs the WAL and releases the lock. Handles to
    /// collections fail with [`Error::Closed`] afterwards.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    pub(crate) fn shutdown(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.signal.lock().stop = true;
        self.inner.wake.notify_all();
        for handle in self.workers.lock().drain(..) {
            let _ = handle.join();
        }
        let result = match self.inner.versions.wal.poisoned() {
            Some(_) => Ok(()),
            None => self.inner.versions.wal.close_cleanly(),
        };
        *self.inner.lock.lock() = None;
        result
    }

    /// Waits up to `timeout` for background flushes to bring memtables under the
    /// threshold (for tests and tools).
    pub fn wait_for_background_flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let vs = &self.inner.versions;
            if vs.memtable_bytes.load(Ordering::Relaxed) < vs.options.memtable_flush_bytes as isize {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

pub(crate) fn read_manifest(fs: &dyn FileSystem, path: &Path) -> Result<Manifest> {
    let file = fs.open(path, OpenMode::Read).map_err(|e| Error::io("open manifest", path, e))?;
    let len = file.len().map_err(|e| Error::io("stat manifest", path, e))?;
    if len > 1 << 32 {
        return Err(Error::corrupt(path, 0, format!("manifest is implausibly large ({len} bytes)")));
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0).map_err(|e| Error::io("read manifest", path, e))?;
    Manifest::decode(&bytes, path)
}

/// Cuts an open shard back to its committed length; returns the bytes removed.
fn truncate_uncommitted(fs: &dyn FileSystem, path: &Path, committed: u64) -> Result<u64> {
    let file = fs.open(path, OpenMode::ReadWrite).map_err(|e| Error::io("open shard file", path, e))?;
    let len = file.len().map_err(|e| Error::io("stat shard file", path, e))?;
    if len <= committed {
        return Ok(0);
    }
    file.set_len(committed).map_err(|e| Error::io("truncate uncommitted shard bytes", path, e))?;
    file.sync_data().map_err(|e| Error::io("fsync truncated shard", path, e))?;
    Ok(len - committed)
}

/// A replayed record passed its CRC, but its contents must still fit the collection.
fn validate_replayed(c: &CollectionCore, op: &WalOp) -> Result<()> {
    if let WalOp::Add(b) | WalOp::Upsert { batch: b, .. } = op
        && b.dimension as usize != c.dimension {
            return Err(Error::Corrupt {
                file: PathBuf::from("wal"),
                offset: 0,
                reason: format!("WAL record of dimension {} for collection {:?} of dimension {}", b.dimension, c.name, c.dimension),
            });
        }
    Ok(())
}

/// Connects the S3 tier per the options: restores into an empty directory, downloads
/// a replica's state, or claims the prefix for this writer. A refused or failed
/// connection removes the `TIER` file it created; the caller removes the rest of a
/// database this open created.
#[cfg(feature = "s3")]
fn open_tier(fs: &dyn FileSystem, path: &Path, options: &DatabaseOptions) -> Result<(Option<Arc<crate::tier::Tier>>, Option<String>)> {
    use crate::tier::{Tier, TierMode};
    let Some(config) = &options.object_store else { return Ok((None, None)) };
    match config.mode {
        TierMode::Replica => {
            let tier = Tier::connect_replica(config)?;
            crate::maintenance::tiering::download_replica(&tier, fs, path)?;
            Ok((Some(Arc::new(tier)), Some(config.location())))
        }
        TierMode::Restore | TierMode::Writer => {
            if config.mode == TierMode::Restore {
                crate::tier::restore(config, fs, path)?;
            }
            let (owner, created) = crate::tier::local_owner(fs, path)?;
            match Tier::claim(config, owner) {
                Ok(tier) => Ok((Some(Arc::new(tier)), None)),
                Err(e) => {
                    if created {
                        let _ = fs.remove_file(&path.join("TIER"));
                    }
                    Err(e)
                }
            }
        }
    }
}

/// Removes what a failed open of a new database created in `path` (the files and
/// directories drift names, nothing else), and `path` itself if the open created it
/// and it is empty then.
#[cfg(feature = "s3")]
fn remove_new_database(fs: &dyn FileSystem, path: &Path, created_dir: bool) {
    for dir in ["shards", "wal"] {
        let dir = path.join(dir);
        if let Ok(files) = fs.read_dir(&dir) {
            for f in files {
                let _ = fs.remove_file(&f);
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
    for name in ["TIER", manifest::FILE_NAME, "MANIFEST.tmp", "LOCK"] {
        let _ = fs.remove_file(&path.join(name));
    }
    if created_dir {
        let _ = std::fs::remove_dir(path);
    }
}
