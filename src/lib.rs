//! # drift — an embeddable, memory-mapped, durable vector store
//!
//! A [`Database`] is a directory holding named [`Collection`]s of *postings*: a vector,
//! the 128-bit id of the document it embeds and the span `(start, length)` it covers.
//! Writes go to a write-ahead log (a ring of preallocated segments with group commit)
//! and an in-memory memtable; a background flush moves them into shard files made of
//! fixed-layout row groups that searches read zero-copy from memory maps.
//!
//! ```
//! use drift::{Database, DatabaseOptions, Metric, Posting, SearchOptions, DocumentId};
//!
//! # fn main() -> drift::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), DatabaseOptions::default())?;
//! let chunks = db.create_collection("chunks", 4, Metric::Cosine)?;
//!
//! // Two postings of one document, one of another. Acknowledged = durable.
//! let doc = DocumentId::generate();
//! chunks.add(&[
//!     Posting::new(doc, &[1.0, 0.0, 0.0, 0.0]).with_span(0, 120),
//!     Posting::new(doc, &[0.0, 1.0, 0.0, 0.0]).with_span(120, 80),
//!     Posting::new(42u64, &[0.0, 0.0, 1.0, 0.0]),
//! ])?;
//!
//! let hits = chunks.search(&[0.9, 0.1, 0.0, 0.0], &SearchOptions::new(2))?;
//! assert_eq!(hits[0].document_id, doc);
//! assert_eq!((hits[0].start, hits[0].length), (0, 120));
//!
//! // Replace the document's postings atomically, then delete the other one.
//! chunks.upsert(doc, &[Posting::new(doc, &[0.0, 0.0, 0.0, 1.0])])?;
//! chunks.remove(&[DocumentId::from(42u64)])?;
//! db.flush()?; // memtable → shard files; also happens in the background
//! assert_eq!(chunks.export()?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! Durability contract: see [`SyncPolicy`]. With the default, a write is acknowledged
//! only after its WAL record is `fdatasync`ed, and survives `kill -9` and power loss.
//! On-disk layouts are in `docs/FORMAT.md`, the architecture in
//! `docs/ARCHITECTURE.md`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "arrow")]
pub mod arrow;
mod background;
mod collection;
mod db;
pub(crate) mod engine;
mod error;
mod explain;
/// Declares a module that is public with the `unstable` feature (for drift's own tests
/// and benchmarks) and private otherwise.
macro_rules! internal_module {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[cfg(feature = "unstable")]
        pub mod $name;
        #[cfg(not(feature = "unstable"))]
        #[allow(dead_code, unused_imports)]
        mod $name;
    };
}

// The C ABI (`include/drift.h` is generated from it by cbindgen, which reads this plain
// `mod` declaration): its `#[no_mangle]` functions are exported from libdrift whatever
// the module's visibility; Rust code uses the crate's API instead.
#[allow(dead_code)]
mod ffi;
internal_module!(
    /// Fixed-layout descriptions of every on-disk structure, checked against
    /// `docs/FORMAT.md`. Unstable.
    format
);
pub mod attributes;
pub mod filter;
pub mod sim;
#[cfg(feature = "unstable")]
pub mod fuzz;
pub mod io;
internal_module!(
    /// Distance, quantisation and k-means kernels. Unstable.
    kernels
);
pub(crate) mod index;
pub(crate) mod maintenance;
mod metric;
mod options;
mod posting;
mod search;
mod snapshot;
pub(crate) mod storage;
mod verify;
internal_module!(
    /// The S3 tier's internals (its options and counters are re-exported at the root).
    /// Unstable.
    tier
);
pub(crate) mod wal;

pub use attributes::{AttributeDef, AttributeType, AttributeValue, Attributes};
pub use collection::{Collection, CollectionInfo, CollectionStats};
pub use snapshot::Snapshot;
pub use db::{Database, DatabaseStats, RecoveryReport, VerifyProblem};
pub use error::{Error, ErrorCode, Result};
pub use explain::{SearchExplain, SearchPlan};
pub use maintenance::budget::MaintenanceReport;
pub use maintenance::checkpoint::CheckpointReport;
pub use maintenance::compaction::CompactionReport;
pub use maintenance::rebalance::RebalanceReport;
pub use options::{DatabaseOptions, MAX_DIMENSION, MAX_NAME_LEN, Metric, SyncPolicy, VectorReads};
pub use posting::{DEFAULT_RERANK_FACTOR, DocumentId, Hit, MAX_K, Posting, SearchOptions, StoredPosting, default_nprobe};
pub use verify::{VerifyReport, verify_path};
pub use tier::{ObjectStoreConfig, TierMode, TierStats};
pub use wal::WalStats;
