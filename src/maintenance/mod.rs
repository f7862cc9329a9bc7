//! Work that moves data between levels: flush (memtable → shard files), compaction
//! (shard files without deleted rows), the background worker that schedules it, and
//! `maintain(budget)` for hosts that schedule it themselves, and checkpoints (a
//! consistent copy of the database by hard links). Every job changes the catalog
//! through one path: an edit applied by `engine::version_set::VersionSet`.

pub(crate) mod budget;
pub(crate) mod checkpoint;
pub(crate) mod compaction;
pub(crate) mod draft;
pub(crate) mod flush;
pub(crate) mod index_build;
pub mod rebalance;
pub(crate) mod row_set;
#[cfg(feature = "s3")]
pub(crate) mod tiering;

