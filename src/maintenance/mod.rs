//! Work that moves data between levels: flush (memtable → shard files), compaction
//! (shard files without deleted rows), the background worker that schedules it, and
//! `maintain(budget)` for hosts that schedule it themselves.

pub(crate) mod budget;
pub(crate) mod compaction;
pub(crate) mod draft;
pub(crate) mod flush;
pub(crate) mod index_build;
pub mod rebalance;
pub(crate) mod row_set;
#[cfg(feature = "s3")]
pub(crate) mod tiering;

