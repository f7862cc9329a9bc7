//! Building the centroid index of a collection that reached `index_min_rows`.
//!
//! Runs inside a flush (under the maintenance lock, after the freeze):
//! 1. gather every visible row — the unrouted shards' and the frozen memtables' — into
//!    a [`RowSet`] (rows hidden by the current tombstones are dropped);
//! 2. partition them with k-means into `rows / index_shard_rows` clusters
//!    (`kernels::kmeans::partition`, seeded with the collection id: deterministic);
//! 3. write one new shard per centroid, fsync each, then the directory;
//! 4. the flush's edit publishes one manifest naming the centroids and the new shards in
//!    place of the old ones, swaps in the new version and retires the old shards (each
//!    file is deleted once no search still reads it).
//!
//! A crash before step 4's manifest leaves the old manifest in force (the new files are
//! orphans the next open removes, the WAL still holds the frozen rows); after it, the
//! index is in force and the old files are orphans. Nothing is ever between.

use std::path::PathBuf;
use std::sync::Arc;

use super::row_set::RowSet;
use crate::engine::collection_core::CollectionCore;
use crate::engine::memtable::MemtableView;
use crate::engine::version_set::VersionSet;
use crate::error::Result;
use crate::index::routing::CentroidTable;
use crate::kernels::kmeans;
use crate::storage::manifest::CollectionRecord;
use crate::storage::shard_file::ShardReader;
use crate::storage::tombstones::Tombstones;

/// What a build produced, to be published by the flush.
pub(crate) struct BuiltIndex {
    pub table: Arc<CentroidTable>,
    pub readers: Vec<Arc<ShardReader>>,
    /// The shards the index replaced (retired by the flush's edit).
    pub retired: Vec<Arc<ShardReader>>,
}

/// Whether a collection holding `rows` rows and no centroids should be indexed now.
pub(crate) fn due(vs: &VersionSet, table: &CentroidTable, rows: u64) -> bool {
    table.is_empty() && rows >= vs.options.index_min_rows
}

/// Builds the index over `shards` and `frozen` (steps 1–3 above) and records it in
/// `record` (centroids and shard list); the caller publishes.
pub(crate) fn build(
    vs: &VersionSet,
    c: &CollectionCore,
    record: &mut CollectionRecord,
    frozen: &[MemtableView],
    shards: &[Arc<ShardReader>],
    tombstones: &Tombstones,
    created: &mut Vec<PathBuf>,
) -> Result<BuiltIndex> {
    let d = c.dimension;
    let mut rows = RowSet::new(d);
    for shard in shards {
        rows.add_shard(shard, tombstones)?;
    }
    for m in frozen {
        rows.add_memtable(m, tombstones);
    }
    let k = (rows.len() as u64).div_ceil(vs.options.index_shard_rows).max(1) as usize;
    let partition = kmeans::partition(&rows.vectors, d, k, 0x000D_21F7 ^ c.id);
    let k = partition.centroids.len() / d;
    let mut members = vec![Vec::new(); k];
    for (i, a) in partition.assignment.iter().enumerate() {
        members[*a as usize].push(i as u32);
    }
    let ids: Vec<u32> = (0..k as u32).collect();
    let table = Arc::new(CentroidTable::new(d, ids, partition.centroids));
    let positions: Vec<usize> = (0..k).collect();
    record.shards.clear();
    let seal = vs.options.object_store.is_some();
    let readers = rows.write_shards(vs, record, &members, &table, &positions, seal, created)?;
    record.centroids = table.records();
    Ok(BuiltIndex { table, readers, retired: shards.to_vec() })
}
