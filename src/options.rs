//! Every tunable of a database, with defaults and validation.
//!
//! Invariant: [`DatabaseOptions::validate`] is called by `Database::open` before anything
//! touches the disk, so a bad option never leaves a half-created database behind.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::io::{FileSystem, RealFileSystem};
pub use crate::metric::{MAX_DIMENSION, Metric};

/// When a write is acknowledged relative to the WAL reaching stable storage.
///
/// This is the durability contract (see the README): with [`SyncPolicy::Always`] an
/// acknowledged write survives `kill -9` and power loss; with the other two it survives
/// `kill -9` of the process (the data is in the kernel's page cache) but a power loss
/// may lose the last `interval` (or everything since the last flush) of writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// `fdatasync` the WAL before acknowledging (concurrent writers share one sync).
    Always,
    /// Acknowledge after the write reaches the page cache; a background thread
    /// `fdatasync`s the WAL every `interval`.
    Periodic(Duration),
    /// Never `fdatasync` the WAL for a write (only at segment roll-over and flush).
    Never,
}

/// How a probed search reads the full-precision vectors it re-ranks.
///
/// Both read the same bytes and check the same per-vector CRC32C, so results are
/// identical; they differ in what stays mapped into the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VectorReads {
    /// Borrow each vector from the shard's memory map (zero-copy, about 0.1 µs per
    /// vector on the project's machine). Every re-ranked vector's pages stay mapped, so
    /// over many queries the resident set grows to about the whole shard files.
    #[default]
    Mapped,
    /// Copy each re-ranked vector out of the page cache with `pread` into a per-thread
    /// buffer (about 0.5 µs more per vector there), and unmap the vector columns of
    /// the rows a probed search scans: only the codes, ids and CRCs a probe reads stay
    /// resident (about 10% of the raw f32 bytes for 384-d rows). The page cache still
    /// holds what was read, but it is the kernel's to reclaim, not the process's.
    /// Costs one open file descriptor per shard.
    Pread,
}

/// Options of [`crate::Database::open`]. Start from [`DatabaseOptions::default`] and
/// change what you need with the `with_*` methods (new options may be added in any
/// release, so the struct cannot be built field by field outside drift):
///
/// ```
/// use std::time::Duration;
/// use drift::{DatabaseOptions, SyncPolicy};
/// let options = DatabaseOptions::default()
///     .with_sync_policy(SyncPolicy::Periodic(Duration::from_millis(10)))
///     .with_memtable_flush_bytes(16 << 20);
/// assert_eq!(options.memtable_flush_bytes, 16 << 20);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct DatabaseOptions {
    /// When writes are acknowledged. Default: [`SyncPolicy::Always`].
    pub sync_policy: SyncPolicy,
    /// Bytes of vectors held in memtables before a background flush. Default 64 MiB.
    pub memtable_flush_bytes: usize,
    /// Size of each preallocated WAL segment file. Default 16 MiB; minimum 64 KiB.
    /// One write batch must fit in one segment (about 10,000 postings of dimension
    /// 384 with the default).
    pub wal_segment_bytes: u64,
    /// Number of WAL segments preallocated in the ring. Default 4; the ring grows
    /// when every segment still holds records newer than the last checkpoint.
    pub wal_ring_segments: usize,
    /// Rows after which a shard file is sealed (footer written) and a new one started.
    /// Default 1,048,576.
    pub shard_max_rows: u64,
    /// Rows per row group written by compaction. Default 65,536.
    pub row_group_max_rows: usize,
    /// Rows a collection must hold before a flush builds its centroid index (k-means
    /// over every stored row). Below it, searches scan everything exactly. Default
    /// 4,096.
    pub index_min_rows: u64,
    /// Target rows per centroid (and so per indexed shard): the index is built with
    /// `rows / index_shard_rows` centroids; maintenance splits a shard above 4× this and
    /// merges one below ¼ of it. Default 128: on the MiniLM dev set (59k × 384-d,
    /// `recall_qps`, one thread) lists of 128 rows reached recall@10 0.99 with 21% more
    /// queries/s than lists of 64 and 0.95 with 7% more, and built the index 14%
    /// faster; 192 was no better and 256 was slower at 0.95.
    pub index_shard_rows: u64,
    /// Run the flush thread (and, for [`SyncPolicy::Periodic`], the sync thread).
    /// Default true; hosts that schedule work themselves call `flush()`.
    pub background_threads: bool,
    /// Open read-write; creating the directory if it does not exist. Default true.
    pub create_if_missing: bool,
    /// The file-I/O seam. Default: the real file system. Tests inject faults here.
    pub file_system: Arc<dyn FileSystem>,
    /// The S3 tier (feature `s3`): where sealed shards and manifests are promoted,
    /// or restored / replicated from. Default `None`. With a tier, every flush seals
    /// the shards it writes, so flushed data becomes promotable.
    pub object_store: Option<crate::tier::ObjectStoreConfig>,
    /// How a probed search reads the vectors it re-ranks. Default
    /// [`VectorReads::Mapped`].
    pub vector_reads: VectorReads,
    /// Backpressure: when memtables hold more than this many times
    /// `memtable_flush_bytes` (flushes are behind: a slow disk, a full one), writers
    /// wait for a flush to catch up. Default 4; 0 never holds writers back. Applies
    /// with background threads only (without them the host flushes on its own
    /// schedule).
    pub write_stall_multiple: usize,
    /// How long a writer waits under backpressure before it fails with
    /// [`crate::Error::Backpressure`]. Default 30 s.
    pub write_stall_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            sync_policy: SyncPolicy::Always,
            memtable_flush_bytes: 64 << 20,
            wal_segment_bytes: 16 << 20,
            wal_ring_segments: 4,
            shard_max_rows: 1 << 20,
            row_group_max_rows: 1 << 16,
            index_min_rows: 4096,
            index_shard_rows: 128,
            background_threads: true,
            create_if_missing: true,
            file_system: Arc::new(RealFileSystem),
            object_store: None,
            vector_reads: VectorReads::Mapped,
            write_stall_multiple: 4,
            write_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Builds `with_<field>` setters, each documented by its field's own documentation.
macro_rules! setters {
    ($($name:ident => $field:ident: $ty:ty),* $(,)?) => {
        impl DatabaseOptions {
            $(
                #[doc = concat!("These options with [`DatabaseOptions::", stringify!($field), "`] set to `value`.")]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    with_sync_policy => sync_policy: SyncPolicy,
    with_memtable_flush_bytes => memtable_flush_bytes: usize,
    with_wal_segment_bytes => wal_segment_bytes: u64,
    with_wal_ring_segments => wal_ring_segments: usize,
    with_shard_max_rows => shard_max_rows: u64,
    with_row_group_max_rows => row_group_max_rows: usize,
    with_index_min_rows => index_min_rows: u64,
    with_index_shard_rows => index_shard_rows: u64,
    with_background_threads => background_threads: bool,
    with_create_if_missing => create_if_missing: bool,
    with_file_system => file_system: Arc<dyn FileSystem>,
    with_object_store => object_store: Option<crate::tier::ObjectStoreConfig>,
    with_vector_reads => vector_reads: VectorReads,
    with_write_stall_multiple => write_stall_multiple: usize,
    with_write_stall_timeout => write_stall_timeout: Duration,
}

impl fmt::Debug for DatabaseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseOptions")
            .field("sync_policy", &self.sync_policy)
            .field("memtable_flush_bytes", &self.memtable_flush_bytes)
            .field("wal_segment_bytes", &self.wal_segment_bytes)
            .field("wal_ring_segments", &self.wal_ring_segments)
            .field("shard_max_rows", &self.shard_max_rows)
            .field("row_group_max_rows", &self.row_group_max_rows)
            .field("index_min_rows", &self.index_min_rows)
            .field("index_shard_rows", &self.index_shard_rows)
            .field("background_threads", &self.background_threads)
            .field("create_if_missing", &self.create_if_missing)
            .field("object_store", &self.object_store)
            .field("vector_reads", &self.vector_reads)
            .field("write_stall_multiple", &self.write_stall_multiple)
            .field("write_stall_timeout", &self.write_stall_timeout)
            .finish_non_exhaustive()
    }
}

/// Smallest accepted WAL segment.
pub const MIN_WAL_SEGMENT_BYTES: u64 = 64 << 10;
/// Largest accepted WAL segment (record lengths are u32).
pub const MAX_WAL_SEGMENT_BYTES: u64 = 1 << 31;

impl DatabaseOptions {
    /// Checks every option; returns `InvalidArgument` naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_WAL_SEGMENT_BYTES..=MAX_WAL_SEGMENT_BYTES).contains(&self.wal_segment_bytes)
            || !self.wal_segment_bytes.is_multiple_of(4096)
        {
            return Err(Error::invalid(format!(
                "wal_segment_bytes must be a multiple of 4096 between {MIN_WAL_SEGMENT_BYTES} and {MAX_WAL_SEGMENT_BYTES}, got {}",
                self.wal_segment_bytes
            )));
        }
        if !(2..=1024).contains(&self.wal_ring_segments) {
            return Err(Error::invalid(format!(
                "wal_ring_segments must be between 2 and 1024, got {}",
                self.wal_ring_segments
            )));
        }
        if self.memtable_flush_bytes == 0 {
            return Err(Error::invalid("memtable_flush_bytes must be positive"));
        }
        if self.shard_max_rows == 0 {
            return Err(Error::invalid("shard_max_rows must be positive"));
        }
        if self.row_group_max_rows == 0 || self.row_group_max_rows > crate::storage::row_group::MAX_ROWS {
            return Err(Error::invalid(format!(
                "row_group_max_rows must be between 1 and {}, got {}",
                crate::storage::row_group::MAX_ROWS,
                self.row_group_max_rows
            )));
        }
        if self.index_shard_rows < 4 || self.index_min_rows < self.index_shard_rows {
            return Err(Error::invalid(format!(
                "index_shard_rows must be at least 4 and at most index_min_rows, got {} and {}",
                self.index_shard_rows, self.index_min_rows
            )));
        }
        if let Some(tier) = &self.object_store {
            if !cfg!(feature = "s3") {
                return Err(Error::invalid(format!("{} is configured but drift was built without the \"s3\" feature", tier.location())));
            }
            if tier.bucket.is_empty() || tier.interval.is_zero() || tier.upload_concurrency == 0 {
                return Err(Error::invalid("object_store needs a bucket, a positive interval and upload_concurrency"));
            }
        }
        if let SyncPolicy::Periodic(interval) = self.sync_policy
            && interval.is_zero() {
                return Err(Error::invalid("SyncPolicy::Periodic needs a positive interval"));
            }
        Ok(())
    }
}

/// Longest accepted collection name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a collection name: 1 to 255 bytes of ASCII letters, digits, `_`, `-`, `.`,
/// not starting with `.`.
pub fn validate_collection_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "collection name must be 1 to {MAX_NAME_LEN} bytes long, got {} bytes",
            name.len()
        )));
    }
    if name.starts_with('.') {
        return Err(Error::invalid(format!("collection name {name:?} must not start with '.'")));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(Error::invalid(format!(
            "collection name {name:?} contains {bad:?}; use ASCII letters, digits, '_', '-' and '.'"
        )));
    }
    Ok(())
}

/// Checks a dimension for a new collection.
pub fn validate_dimension(dimension: usize) -> Result<()> {
    if dimension == 0 || dimension > MAX_DIMENSION {
        return Err(Error::invalid(format!(
            "dimension must be between 1 and {MAX_DIMENSION}, got {dimension}"
        )));
    }
    Ok(())
}
