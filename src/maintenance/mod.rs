//! Work that moves data between levels: flush (memtable → shard files), compaction
//! (shard files without deleted rows), and the background worker that schedules it.

pub(crate) mod compaction;
pub(crate) mod draft;
pub(crate) mod flush;
pub(crate) mod worker;
