//! C ABI: databases — options, open/close, collections by name, flush, stats.

use std::ffi::{CString, c_char};
use std::sync::Arc;
use std::time::Duration;

use super::{Object, drift_collection, drift_db, drift_error, drift_string_list, put, register, require, run, string};
use crate::error::Error;
use crate::{Database, DatabaseOptions, Metric, SyncPolicy, VectorReads};

/// Acknowledge writes after `fdatasync` (the default; survives power loss).
pub const DRIFT_SYNC_ALWAYS: u32 = 0;
/// Acknowledge after the page cache; fsync every `sync_interval_ms`.
pub const DRIFT_SYNC_PERIODIC: u32 = 1;
/// Never fsync the WAL for a write (survives process crashes, not power loss).
pub const DRIFT_SYNC_NEVER: u32 = 2;

/// Re-ranked vectors are borrowed from the shard maps (the default; fastest, but every
/// re-ranked vector's pages stay resident).
pub const DRIFT_VECTOR_READS_MAPPED: u32 = 0;
/// Re-ranked vectors are copied out of the page cache with `pread`; only the scanned
/// codes and ids stay resident.
pub const DRIFT_VECTOR_READS_PREAD: u32 = 1;

/// Squared Euclidean distance.
pub const DRIFT_METRIC_L2: u32 = 1;
/// Negated inner product.
pub const DRIFT_METRIC_INNER_PRODUCT: u32 = 2;
/// Cosine distance (`1 - cos`); vectors are normalised at write time.
pub const DRIFT_METRIC_COSINE: u32 = 3;

/// Options of `drift_open`. Fill with `drift_options_default`, then change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct drift_options {
    /// `DRIFT_SYNC_ALWAYS`, `DRIFT_SYNC_PERIODIC` or `DRIFT_SYNC_NEVER`.
    pub sync_policy: u32,
    /// Interval of `DRIFT_SYNC_PERIODIC`, in milliseconds.
    pub sync_interval_ms: u32,
    /// Bytes held in memtables before a background flush.
    pub memtable_flush_bytes: u64,
    /// Size of each WAL segment file (multiple of 4096, at least 65536).
    pub wal_segment_bytes: u64,
    /// Number of preallocated WAL segments.
    pub wal_ring_segments: u32,
    /// Non-zero: run background flush (and periodic sync) threads.
    pub background_threads: u32,
    /// Rows after which a shard file is sealed.
    pub shard_max_rows: u64,
    /// Non-zero: create the directory if it does not exist.
    pub create_if_missing: u32,
    /// How probed searches read the vectors they re-rank: `DRIFT_VECTOR_READS_MAPPED`
    /// (0, the default) or `DRIFT_VECTOR_READS_PREAD`.
    pub vector_reads: u32,
}

impl drift_options {
    fn to_options(self) -> Result<DatabaseOptions, Error> {
        let sync_policy = match self.sync_policy {
            DRIFT_SYNC_ALWAYS => SyncPolicy::Always,
            DRIFT_SYNC_PERIODIC => SyncPolicy::Periodic(Duration::from_millis(u64::from(self.sync_interval_ms))),
            DRIFT_SYNC_NEVER => SyncPolicy::Never,
            other => return Err(Error::invalid(format!("unknown sync_policy {other}"))),
        };
        let vector_reads = match self.vector_reads {
            DRIFT_VECTOR_READS_MAPPED => VectorReads::Mapped,
            DRIFT_VECTOR_READS_PREAD => VectorReads::Pread,
            other => {
                return Err(Error::invalid(format!(
                    "unknown drift_options.vector_reads {other}; use DRIFT_VECTOR_READS_MAPPED or DRIFT_VECTOR_READS_PREAD"
                )));
            }
        };
        Ok(DatabaseOptions {
            sync_policy,
            memtable_flush_bytes: usize::try_from(self.memtable_flush_bytes).unwrap_or(usize::MAX),
            wal_segment_bytes: self.wal_segment_bytes,
            wal_ring_segments: self.wal_ring_segments as usize,
            shard_max_rows: self.shard_max_rows,
            background_threads: self.background_threads != 0,
            create_if_missing: self.create_if_missing != 0,
            vector_reads,
            ..DatabaseOptions::default()
        })
    }
}

pub(crate) fn metric_of(code: u32) -> Result<Metric, Error> {
    u8::try_from(code)
        .ok()
        .and_then(Metric::from_code)
        .ok_or_else(|| Error::invalid(format!("unknown metric {code}; use DRIFT_METRIC_L2, _INNER_PRODUCT or _COSINE")))
}

/// Fills `out` with the default options. Does nothing if `out` is NULL.
///
/// # Safety
/// `out` is NULL or points to writable storage for one `drift_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_options_default(out: *mut drift_options) {
    if out.is_null() {
        return;
    }
    let d = DatabaseOptions::default();
    put(
        out,
        drift_options {
            sync_policy: DRIFT_SYNC_ALWAYS,
            sync_interval_ms: 100,
            memtable_flush_bytes: d.memtable_flush_bytes as u64,
            wal_segment_bytes: d.wal_segment_bytes,
            wal_ring_segments: d.wal_ring_segments as u32,
            background_threads: 1,
            shard_max_rows: d.shard_max_rows,
            create_if_missing: 1,
            vector_reads: DRIFT_VECTOR_READS_MAPPED,
        },
    );
}

/// Opens (creating if allowed) the database in directory `path` and recovers it.
///
/// - `path`: NUL-terminated UTF-8; borrowed for the call.
/// - `options`: NULL for the defaults; borrowed for the call.
/// - `out_db`: receives the handle on success (untouched on error); release it with
///   `drift_close`.
/// - `err`: NULL, or receives an error on failure (free with `drift_error_free`).
///
/// Returns `DRIFT_OK`, or e.g. `DRIFT_ELOCKED` if another process has it open,
/// `DRIFT_ECORRUPT` if a file is damaged. Thread-safe.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_open(
    path: *const c_char,
    options: *const drift_options,
    out_db: *mut *mut drift_db,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || open_with(path, options, None, out_db))
}

/// The body of `drift_open` and `drift_open_with_object_store`.
fn open_with(
    path: *const c_char,
    options: *const drift_options,
    object_store: Option<crate::ObjectStoreConfig>,
    out_db: *mut *mut drift_db,
) -> Result<(), Error> {
    let path = string(path, "path")?;
    require(out_db, "out_db")?;
    let mut options = if options.is_null() {
        DatabaseOptions::default()
    } else {
        // SAFETY: non-NULL; the caller promises a readable `drift_options`.
        unsafe { options.read() }.to_options()?
    };
    // Without the "s3" feature, option validation refuses a tier with a clear error.
    options.object_store = object_store;
    let db = Database::open(path, options)?;
    put(out_db, register(Object::Database(Arc::new(db))));
    Ok(())
}

/// Closes a database: stops its background threads, syncs the WAL, releases the lock
/// and frees the handle. Collection handles of it then fail with `DRIFT_ECLOSED` (free
/// them with `drift_collection_free`). `drift_close(NULL, ...)` is a no-op returning
/// `DRIFT_OK`; closing an already closed handle returns `DRIFT_ECLOSED`.
///
/// # Safety
/// `err` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_close(db: *mut drift_db, err: *mut *mut drift_error) -> i32 {
    if db.is_null() {
        return super::DRIFT_OK;
    }
    run(err, || match super::unregister(db, |o| matches!(o, Object::Database(_))) {
        Some(Object::Database(db)) => db.shutdown(),
        _ => Err(Error::Closed { what: "drift_db handle (already closed or not a database)".into() }),
    })
}

/// Creates a collection named `name` (1–255 bytes of `[A-Za-z0-9_.-]`) with vectors of
/// `dimension` floats compared by `metric` (`DRIFT_METRIC_*`). Durable on return.
/// `out_collection` receives a handle (free with `drift_collection_free`).
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_create(
    db: *mut drift_db,
    name: *const c_char,
    dimension: u32,
    metric: u32,
    out_collection: *mut *mut drift_collection,
    err: *mut *mut drift_error,
) -> i32 {
    // SAFETY: the same arguments with no schema; the caller's promises carry over.
    unsafe { drift_collection_create_with_schema(db, name, dimension, metric, std::ptr::null(), out_collection, err) }
}

/// `drift_collection_create` with a schema of typed attributes in text form:
/// `name:type` entries separated by `,` (types `u64`, `i64`, `f64`, `bool`, `string`,
/// `tags`, `timestamp`), e.g. `"section:string, size:u64, tags:tags"`; NULL or empty
/// for none. Durable on return.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_create_with_schema(
    db: *mut drift_db,
    name: *const c_char,
    dimension: u32,
    metric: u32,
    schema: *const c_char,
    out_collection: *mut *mut drift_collection,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let db = super::database(db)?;
        let name = string(name, "name")?;
        let metric = metric_of(metric)?;
        let schema = if schema.is_null() { Vec::new() } else { crate::AttributeDef::parse_list(string(schema, "schema")?)? };
        require(out_collection, "out_collection")?;
        let c = db.create_collection_with_schema(name, dimension as usize, metric, &schema)?;
        put(out_collection, register(Object::Collection(c)));
        Ok(())
    })
}

/// Opens an existing collection; `DRIFT_ENOTFOUND` if there is none of that name.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_open(
    db: *mut drift_db,
    name: *const c_char,
    out_collection: *mut *mut drift_collection,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let db = super::database(db)?;
        let name = string(name, "name")?;
        require(out_collection, "out_collection")?;
        let c = db.collection(name)?;
        put(out_collection, register(Object::Collection(c)));
        Ok(())
    })
}

/// Drops a collection and deletes its files. Its handles then fail with
/// `DRIFT_ECLOSED`.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_drop(db: *mut drift_db, name: *const c_char, err: *mut *mut drift_error) -> i32 {
    run(err, || {
        let db = super::database(db)?;
        db.drop_collection(string(name, "name")?)
    })
}

/// The names of all collections, sorted. `out_list` receives a list handle: read it
/// with `drift_string_list_len` / `drift_string_list_get`, free it with
/// `drift_string_list_free`.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_list(
    db: *mut drift_db,
    out_list: *mut *mut drift_string_list,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let db = super::database(db)?;
        require(out_list, "out_list")?;
        let names = db
            .list_collections()
            .into_iter()
            .map(|c| CString::new(c.name).map_err(|_| Error::invalid("collection name holds NUL")))
            .collect::<Result<Vec<_>, _>>()?;
        put(out_list, register(Object::Strings(Arc::new(names))));
        Ok(())
    })
}

fn strings(list: *const drift_string_list) -> Option<Arc<Vec<CString>>> {
    match super::REGISTRY.read().objects.get(&super::id_of(list)) {
        Some(Object::Strings(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Number of strings in `list` (0 for an invalid handle).
#[unsafe(no_mangle)]
pub extern "C" fn drift_string_list_len(list: *const drift_string_list) -> usize {
    std::panic::catch_unwind(|| strings(list).map_or(0, |s| s.len())).unwrap_or(0)
}

/// String `index` of `list`, NUL-terminated, owned by the list (valid until
/// `drift_string_list_free`); NULL if the handle or index is invalid.
#[unsafe(no_mangle)]
pub extern "C" fn drift_string_list_get(list: *const drift_string_list, index: usize) -> *const c_char {
    std::panic::catch_unwind(|| strings(list).and_then(|s| s.get(index).map(|c| c.as_ptr())).unwrap_or(std::ptr::null()))
        .unwrap_or(std::ptr::null())
}

/// Frees a string list. NULL and invalid handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn drift_string_list_free(list: *mut drift_string_list) {
    let _ = std::panic::catch_unwind(|| super::unregister(list, |o| matches!(o, Object::Strings(_))));
}

/// Moves every memtable into shard files and publishes the manifest; returns when
/// that is durable.
///
/// # Safety
/// `err` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_flush(db: *mut drift_db, err: *mut *mut drift_error) -> i32 {
    run(err, || super::database(db)?.flush())
}

/// Writes a consistent, openable copy of the whole database into the directory
/// `path` (which must not exist, or be empty): flushes, then hard-links every sealed
/// shard file and copies only the committed bytes of open ones, so it takes time
/// proportional to the number of files. The copy holds every write acknowledged
/// before the call. The database stays usable by other threads meanwhile.
///
/// # Safety
/// `path` is a NUL-terminated string; `err` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_checkpoint(db: *mut drift_db, path: *const c_char, err: *mut *mut drift_error) -> i32 {
    run(err, || {
        let dir = string(path, "path")?;
        super::database(db)?.checkpoint(dir).map(|_| ())
    })
}

/// Counters of a database.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct drift_db_stats {
    /// Number of collections.
    pub collections: u64,
    /// Bytes held in memtables not yet written to shard files.
    pub memtable_bytes: u64,
    /// WAL segment files.
    pub wal_segments: u64,
    /// Next LSN the WAL will assign.
    pub wal_next_lsn: u64,
    /// WAL records appended since open.
    pub wal_records: u64,
    /// WAL commit groups (fsyncs under DRIFT_SYNC_ALWAYS) since open.
    pub wal_commit_groups: u64,
    /// Every WAL record at or below this LSN is in shard files.
    pub checkpoint_lsn: u64,
    /// Generation of the last published manifest.
    pub manifest_generation: u64,
    /// Flushes completed since open.
    pub flushes: u64,
    /// Compactions completed since open.
    pub compactions: u64,
    /// WAL records replayed when the database was opened.
    pub records_replayed: u64,
    /// Bytes of a torn WAL tail discarded when the database was opened.
    pub torn_bytes_truncated: u64,
    /// Non-zero when writes are refused after a failed fsync.
    pub poisoned: u32,
    /// Zero.
    pub reserved: u32,
}

/// Fills `out` with the database's counters.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_db_stats_get(db: *mut drift_db, out: *mut drift_db_stats, err: *mut *mut drift_error) -> i32 {
    run(err, || {
        let db = super::database(db)?;
        require(out, "out")?;
        let s = db.stats();
        put(
            out,
            drift_db_stats {
                collections: s.collections.len() as u64,
                memtable_bytes: s.memtable_bytes,
                wal_segments: s.wal.segments as u64,
                wal_next_lsn: s.wal.next_lsn,
                wal_records: s.wal.records,
                wal_commit_groups: s.wal.commit_groups,
                checkpoint_lsn: s.checkpoint_lsn,
                manifest_generation: s.manifest_generation,
                flushes: s.flushes,
                compactions: s.compactions,
                records_replayed: s.recovery.records_replayed,
                torn_bytes_truncated: s.recovery.torn_bytes_truncated,
                poisoned: u32::from(s.poisoned.is_some()),
                reserved: 0,
            },
        );
        Ok(())
    })
}

/// Runs pending maintenance (flush, index rebalancing, compaction of shards with at
/// least 1/8 of their rows deleted; `drift_compact` removes every deleted row) for about
/// `budget_ms` milliseconds, for hosts that schedule work themselves (with
/// `background_threads = 0`). A started step always completes, so a call may overrun
/// its budget by one step.
///
/// # Safety
/// `err` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_maintain(db: *mut drift_db, budget_ms: u64, err: *mut *mut drift_error) -> i32 {
    run(err, || super::database(db)?.maintain(Duration::from_millis(budget_ms)).map(|_| ()))
}

/// The object store is the database's writer: promote to it.
pub const DRIFT_TIER_WRITER: u32 = 0;
/// Restore the prefix into the (empty) directory and take it over.
pub const DRIFT_TIER_RESTORE: u32 = 1;
/// Follow the prefix read-only.
pub const DRIFT_TIER_REPLICA: u32 = 2;

/// The S3 tier of `drift_open_with_object_store`. Strings are NUL-terminated UTF-8,
/// borrowed for the call. Credentials come from the AWS environment variables.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct drift_object_store_options {
    /// Bucket name (required).
    pub bucket: *const c_char,
    /// Key prefix of the database in the bucket (required, may be "").
    pub prefix: *const c_char,
    /// Endpoint URL of an S3-compatible store; NULL for AWS.
    pub endpoint: *const c_char,
    /// Region; NULL for "us-east-1".
    pub region: *const c_char,
    /// `DRIFT_TIER_WRITER`, `DRIFT_TIER_RESTORE` or `DRIFT_TIER_REPLICA`.
    pub mode: u32,
    /// Non-zero: allow `http://` endpoints.
    pub allow_http: u32,
    /// Bytes of shard files kept locally; above it, promoted sealed shards are evicted
    /// and fetched back when searched. `DRIFT_KEEP_ALL_LOCAL` keeps everything; 0
    /// keeps no promoted shard (as the Rust option `Some(0)`).
    pub local_disk_budget: u64,
    /// Milliseconds between background promotion (or refresh) rounds; 0 = 1000.
    pub interval_ms: u64,
    /// Milliseconds connecting to the store may take; 0 = 3000.
    pub connect_timeout_ms: u64,
    /// Milliseconds one object-store operation may take, retries included (an open,
    /// a promotion round's request, a cold search's fetch); 0 = 10000.
    pub request_timeout_ms: u64,
}

/// `local_disk_budget` that keeps every shard file on local disk.
pub const DRIFT_KEEP_ALL_LOCAL: u64 = u64::MAX;

/// Fills `out` with the default S3 tier options: writer mode, every shard kept local,
/// 1 s rounds, 3 s connect and 10 s request timeouts; set `bucket` and `prefix` (and
/// `endpoint`, `allow_http` for a local server) after. Does nothing if `out` is NULL.
///
/// # Safety
/// `out` is NULL or points to writable memory for the struct.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_object_store_options_default(out: *mut drift_object_store_options) {
    if out.is_null() {
        return;
    }
    put(
        out,
        drift_object_store_options {
            bucket: std::ptr::null(),
            prefix: std::ptr::null(),
            endpoint: std::ptr::null(),
            region: std::ptr::null(),
            mode: DRIFT_TIER_WRITER,
            allow_http: 0,
            local_disk_budget: DRIFT_KEEP_ALL_LOCAL,
            interval_ms: 1000,
            connect_timeout_ms: 3000,
            request_timeout_ms: 10_000,
        },
    );
}

fn object_store_config(o: &drift_object_store_options) -> Result<crate::ObjectStoreConfig, Error> {
    let mut config = crate::ObjectStoreConfig::new(string(o.bucket, "bucket")?, string(o.prefix, "prefix")?);
    if !o.endpoint.is_null() {
        config.endpoint = Some(string(o.endpoint, "endpoint")?.to_owned());
    }
    if !o.region.is_null() {
        config.region = string(o.region, "region")?.to_owned();
    }
    config.allow_http = o.allow_http != 0;
    config.mode = match o.mode {
        DRIFT_TIER_WRITER => crate::TierMode::Writer,
        DRIFT_TIER_RESTORE => crate::TierMode::Restore,
        DRIFT_TIER_REPLICA => crate::TierMode::Replica,
        other => return Err(Error::invalid(format!("unknown object store mode {other}"))),
    };
    config.local_disk_budget = (o.local_disk_budget != DRIFT_KEEP_ALL_LOCAL).then_some(o.local_disk_budget);
    if o.interval_ms > 0 {
        config.interval = Duration::from_millis(o.interval_ms);
    }
    if o.connect_timeout_ms > 0 {
        config.connect_timeout = Duration::from_millis(o.connect_timeout_ms);
    }
    if o.request_timeout_ms > 0 {
        config.request_timeout = Duration::from_millis(o.request_timeout_ms);
    }
    Ok(config)
}

/// As `drift_open`, with the S3 tier configured by `object_store` (required): promote
/// to it (writer), restore from it into an empty directory, or follow it read-only.
/// `DRIFT_ENOTOWNER` if another writer owns the prefix; `DRIFT_EREMOTE` if the store
/// cannot be reached; `DRIFT_EINVAL` if this library was built without S3 support.
///
/// # Safety
/// Pointers are NULL (where allowed) or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_open_with_object_store(
    path: *const c_char,
    options: *const drift_options,
    object_store: *const drift_object_store_options,
    out_db: *mut *mut drift_db,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        if object_store.is_null() {
            return Err(Error::invalid("object_store is NULL (use drift_open for a local-only database)"));
        }
        // SAFETY: non-NULL (checked above); the caller promises a readable struct.
        let config = object_store_config(&unsafe { object_store.read() })?;
        open_with(path, options, Some(config), out_db)
    })
}

/// Bytes of `drift_tier_stats.last_error`, its NUL included.
pub const DRIFT_TIER_ERROR_LEN: usize = 512;

/// The S3 tier's state (`drift_tier_stats_get`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct drift_tier_stats {
    /// Generation `POINTER` names, as last written (writer) or loaded (replica).
    pub generation: u64,
    /// Object-store requests since open.
    pub requests: u64,
    /// Bytes uploaded since open.
    pub bytes_uploaded: u64,
    /// Bytes downloaded since open.
    pub bytes_downloaded: u64,
    /// Sealed shard files not yet promoted.
    pub pending_files: u64,
    /// Bytes of those files.
    pub pending_bytes: u64,
    /// Milliseconds since a round first found local state the store does not have
    /// yet; 0 when the last round published everything.
    pub lag_ms: u64,
    /// Shard files evicted from local disk since open.
    pub evictions: u64,
    /// Shard files fetched back from the store since open.
    pub fetches: u64,
    /// Non-zero once another writer took the prefix over: this database no longer
    /// promotes (`last_error` says who).
    pub ownership_lost: u32,
    /// Non-zero when the last round failed (its message is in `last_error`).
    pub has_error: u32,
    /// The last round's error (or why ownership was lost), NUL-terminated UTF-8, cut
    /// at a character boundary to fit; empty when the last round succeeded.
    pub last_error: [c_char; DRIFT_TIER_ERROR_LEN],
}

/// Copies `text` into `out` NUL-terminated, cut at a character boundary to fit.
fn copy_message(text: &str, out: &mut [c_char]) {
    let mut end = text.len().min(out.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (o, b) in out.iter_mut().zip(&text.as_bytes()[..end]) {
        *o = *b as c_char;
    }
    out[end] = 0;
}

/// Fills `out` with the S3 tier's state: pending uploads and lag, traffic, evictions,
/// and whether promotion stopped (ownership lost, last error). `DRIFT_EINVAL` if the
/// database has no object store.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_tier_stats_get(db: *mut drift_db, out: *mut drift_tier_stats, err: *mut *mut drift_error) -> i32 {
    run(err, || {
        let db = super::database(db)?;
        require(out, "out")?;
        let t = db.stats().tier.ok_or_else(|| Error::invalid("this database has no object store"))?;
        let mut stats = drift_tier_stats {
            generation: t.generation,
            requests: t.requests,
            bytes_uploaded: t.bytes_uploaded,
            bytes_downloaded: t.bytes_downloaded,
            pending_files: t.pending_files,
            pending_bytes: t.pending_bytes,
            lag_ms: t.lag_ms,
            evictions: t.evictions,
            fetches: t.fetches,
            ownership_lost: u32::from(t.ownership_lost.is_some()),
            has_error: u32::from(t.last_error.is_some()),
            last_error: [0; DRIFT_TIER_ERROR_LEN],
        };
        if let Some(message) = t.last_error.as_ref().or(t.ownership_lost.as_ref()) {
            copy_message(message, &mut stats.last_error);
        }
        put(out, stats);
        Ok(())
    })
}

/// Runs one S3 promotion round now (writer) or loads the newest generation (replica).
/// Rounds never overlap: a call during a background round waits for it, then runs
/// its own. `DRIFT_ENOTOWNER` once another writer took the prefix over (also when
/// there was nothing new to promote); `DRIFT_EREMOTE` when the store fails or does
/// not answer within `request_timeout_ms`.
///
/// # Safety
/// `err` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_sync_object_store(db: *mut drift_db, err: *mut *mut drift_error) -> i32 {
    run(err, || super::database(db)?.sync_object_store())
}
