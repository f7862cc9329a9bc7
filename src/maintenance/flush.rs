//! Flush: memtables → row groups in shard files → manifest → WAL recycling.
//!
//! The order, and why each step is where it is:
//! 1. **Freeze** every collection's active memtable at one LSN cut, while the WAL
//!    applies nothing (`Wal::with_apply_paused`). Frozen memtables stay searchable.
//! 2. **Write** each frozen memtable's visible rows (rows hidden by a tombstone are
//!    dropped) as row groups:
//!    - unindexed collection: appended to the collection's open shard (a new shard
//!      when there is none or it is full; a full shard is sealed with its footer);
//!    - indexed collection: each row goes to its nearest centroid, and each centroid's
//!      rows become one row group appended to that centroid's open shard (a new shard
//!      only when the centroid has no open one — flushes never add centroids);
//!    - a collection reaching `index_min_rows`: the index is built
//!      (`index_build.rs`), which rewrites every row into one shard per centroid.
//!
//!    Then **fsync** every shard file touched and the shards directory.
//! 3. **Publish** the manifest naming the new committed lengths, the tombstones and
//!    `checkpoint_lsn = cut` (durable replace: temp → fsync → rename → fsync dir).
//! 4. **Swap** the new shard readers in and drop the frozen memtables, under each
//!    collection's write lock (a search sees before or after, never both or neither).
//! 5. **Recycle** WAL segments whose records are all ≤ the cut.
//!
//! A failure in 1–2 leaves the old manifest in force and the frozen memtables in
//! memory and the WAL: nothing acknowledged is lost, the next flush retries. A failed
//! fsync poisons the database. Files created by the failed attempt are removed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::draft::{self, ShardDraft};
use crate::collection::CollectionInner;
use crate::db::DbInner;
use crate::error::Result;
use crate::memtable::Memtable;
use crate::storage::manifest::CollectionRecord;
use crate::index::routing::CentroidTable;
use crate::storage::shard_file::{NO_CENTROID, ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;
use super::index_build;
use super::row_set::RowSet;

/// Flushes, taking the maintenance lock.
pub(crate) fn flush(db: &DbInner) -> Result<()> {
    let _m = db.maintenance.lock();
    flush_locked(db)
}

/// Flushes; the caller holds the maintenance lock.
pub(crate) fn flush_locked(db: &DbInner) -> Result<()> {
    db.check_writable()?;
    let collections = db.collections();
    let cut = db.wal.with_apply_paused(|applied| {
        let mut moved = 0isize;
        for c in &collections {
            let mut st = c.state.write();
            if !st.active.is_empty() {
                moved += st.active.bytes() as isize;
                let m = std::mem::replace(&mut st.active, Memtable::new(c.dimension));
                st.frozen.push(Arc::new(m));
            }
        }
        db.memtable_bytes.fetch_sub(moved, Ordering::Relaxed);
        applied
    });

    let mut manifest = db.manifest.lock().clone();
    let mut swaps = Vec::new();
    let mut created = Vec::new();
    let mut retired = Vec::new();
    for c in &collections {
        let (frozen, shards, table, tombstones) = {
            let st = c.state.read();
            (st.frozen.clone(), st.shards.clone(), st.routing.table.clone(), st.tombstones.clone())
        };
        if frozen.is_empty() {
            continue;
        }
        let Some(record) = manifest.collection_mut(c.id) else { continue };
        let rows = shards.iter().map(|s| s.rows).sum::<u64>() + frozen.iter().map(|m| m.len() as u64).sum::<u64>();
        let written = if index_build::due(db, &table, rows) {
            index_build::build(db, c, record, &frozen, &shards, &tombstones, &mut created).map(|built| {
                retired.extend(built.retired);
                (built.readers, Some(built.table))
            })
        } else if !table.is_empty() {
            write_routed(db, c, record, &frozen, &shards, &table, &tombstones, &mut created).map(|r| (r, None))
        } else {
            write_frozen(db, record, &frozen, &shards, &tombstones, &mut created).map(|r| (r, None))
        };
        match written {
            Ok((readers, table)) => swaps.push((c.clone(), frozen.len(), readers, table)),
            Err(e) => {
                draft::remove_created(db, &created);
                return Err(e);
            }
        }
    }
    if !created.is_empty()
        && let Err(e) = db.sync_dir(&db.shards_dir())
    {
        draft::remove_created(db, &created);
        return Err(e);
    }
    if swaps.is_empty() && cut <= manifest.checkpoint_lsn {
        return Ok(());
    }
    for c in &collections {
        if let Some(record) = manifest.collection_mut(c.id) {
            record.tombstones = c.state.read().tombstones.entries();
            record.next_row_id = record.next_row_id.max(c.next_row_id.load(Ordering::Relaxed));
        }
    }
    manifest.checkpoint_lsn = manifest.checkpoint_lsn.max(cut);
    manifest.generation += 1;
    if let Err(e) = db.publish(&manifest) {
        draft::remove_created(db, &created);
        return Err(e);
    }
    for (c, flushed, readers, table) in swaps {
        let mut st = c.state.write();
        st.frozen.drain(..flushed);
        match table {
            Some(table) => st.set_index(table, readers),
            None => st.set_shards(readers),
        }
    }
    *db.manifest.lock() = manifest;
    for path in &retired {
        let _ = db.fs.remove_file(path);
    }
    db.wal.checkpoint(cut);
    db.flushes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Writes frozen memtables into the collection's shards; returns the collection's
/// shard readers as they will be once the manifest is published.
fn write_frozen(
    db: &DbInner,
    record: &mut CollectionRecord,
    frozen: &[Arc<Memtable>],
    shards: &[Arc<ShardReader>],
    tombstones: &Tombstones,
    created: &mut Vec<std::path::PathBuf>,
) -> Result<Vec<Arc<ShardReader>>> {
    let max_rows = db.options.shard_max_rows;
    let group_rows = db.options.row_group_max_rows as u64;
    let mut open = match shards.iter().find(|s| !s.sealed) {
        Some(reader) => Some(ShardDraft::resume(db, reader)?),
        None => None,
    };
    let mut touched: Vec<ShardDraft> = Vec::new();
    for m in frozen {
        let mut start = 0;
        while start < m.len() {
            let draft = match open.take() {
                Some(d) if d.rows < max_rows => d,
                full => {
                    touched.extend(full);
                    ShardDraft::create(db, ShardHeader::next(record, NO_CENTROID), created)?
                }
            };
            let mut draft = draft;
            let room = (max_rows - draft.rows).min(group_rows) as usize;
            let end = (start + room).min(m.len());
            draft.append_memtable(m, start..end, tombstones)?;
            start = end;
            open = Some(draft);
        }
    }
    touched.extend(open);
    // With an S3 tier every flush seals what it wrote, so flushed rows are promotable.
    let seal_all = db.options.object_store.is_some();
    for draft in &mut touched {
        if draft.rows >= max_rows || (seal_all && !draft.sealed) {
            draft.seal()?;
        }
        draft.sync(db)?;
    }
    install(db, record, shards, &touched)
}

/// Writes frozen memtables of an indexed collection: every visible row to its nearest
/// centroid, each centroid's rows as one row group appended to its open shard (or a new
/// shard of that centroid). Returns the collection's shard readers as they will be once
/// the manifest is published.
#[allow(clippy::too_many_arguments)]
fn write_routed(
    db: &DbInner,
    c: &CollectionInner,
    record: &mut CollectionRecord,
    frozen: &[Arc<Memtable>],
    shards: &[Arc<ShardReader>],
    table: &CentroidTable,
    tombstones: &Tombstones,
    created: &mut Vec<std::path::PathBuf>,
) -> Result<Vec<Arc<ShardReader>>> {
    let mut rows = RowSet::new(c.dimension);
    for m in frozen {
        rows.add_memtable(m, tombstones);
    }
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); table.len()];
    for (i, position) in table.nearest_many(c.metric, &rows.vectors).into_iter().enumerate() {
        members[position].push(i as u32);
    }
    let seal_all = db.options.object_store.is_some();
    let mut touched: Vec<ShardDraft> = Vec::new();
    for (position, rows_of) in members.iter().enumerate() {
        if rows_of.is_empty() {
            continue;
        }
        let centroid_id = table.ids[position];
        let open = shards.iter().find(|s| !s.sealed && s.header.centroid_id == centroid_id && s.rows < db.options.shard_max_rows);
        let mut draft = match open {
            Some(reader) => ShardDraft::resume(db, reader)?,
            None => ShardDraft::create(db, ShardHeader::next(record, centroid_id), created)?,
        };
        draft.centroid = Some(table.vector(position).to_vec());
        rows.append_to(&mut draft, rows_of, db.options.row_group_max_rows)?;
        if seal_all || draft.rows >= db.options.shard_max_rows {
            draft.seal()?;
        }
        draft.sync(db)?;
        touched.push(draft);
    }
    install(db, record, shards, &touched)
}

/// Records the written drafts in the manifest entry and returns the collection's shard
/// readers as they will be once it is published: the untouched ones plus the drafts.
fn install(db: &DbInner, record: &mut CollectionRecord, shards: &[Arc<ShardReader>], touched: &[ShardDraft]) -> Result<Vec<Arc<ShardReader>>> {
    let mut readers: Vec<Arc<ShardReader>> = shards
        .iter()
        .filter(|s| !touched.iter().any(|d| d.header.shard_id == s.header.shard_id))
        .cloned()
        .collect();
    for draft in touched {
        let entry = draft.record();
        match record.shards.iter_mut().find(|s| s.shard_id == entry.shard_id) {
            Some(existing) => *existing = entry,
            None => record.shards.push(entry),
        }
        readers.push(draft.open_reader(db)?);
    }
    Ok(readers)
}
