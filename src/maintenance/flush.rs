//! Flush: memtables → row groups in shard files → manifest → WAL recycling.
//!
//! The order, and why each step is where it is:
//! 1. **Freeze** every collection's active memtable at one LSN cut, while the WAL
//!    applies nothing (`Wal::with_apply_paused`). Frozen memtables stay searchable.
//! 2. **Write** each frozen memtable as row groups appended to the collection's open
//!    shard (a new shard when there is none or it is full; a full shard is sealed with
//!    its footer). Then **fsync** every shard file touched and the shards directory.
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
use crate::storage::shard_file::{NO_CENTROID, ShardHeader, ShardReader};

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
    for c in &collections {
        let (frozen, shards) = {
            let st = c.state.read();
            (st.frozen.clone(), st.shards.clone())
        };
        if frozen.is_empty() {
            continue;
        }
        let Some(record) = manifest.collection_mut(c.id) else { continue };
        match write_frozen(db, c, record, &frozen, &shards, &mut created) {
            Ok(readers) => swaps.push((c.clone(), frozen.len(), readers)),
            Err(e) => {
                draft::remove_created(db, &created);
                return Err(e);
            }
        }
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
    for (c, flushed, readers) in swaps {
        let mut st = c.state.write();
        st.frozen.drain(..flushed);
        st.shards = readers;
    }
    *db.manifest.lock() = manifest;
    db.wal.checkpoint(cut);
    db.flushes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Writes frozen memtables into the collection's shards; returns the collection's
/// shard readers as they will be once the manifest is published.
fn write_frozen(
    db: &DbInner,
    c: &CollectionInner,
    record: &mut CollectionRecord,
    frozen: &[Arc<Memtable>],
    shards: &[Arc<ShardReader>],
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
                    let header = ShardHeader {
                        metric: c.metric,
                        dimension: c.dimension,
                        collection_id: c.id,
                        shard_id: record.next_shard_id,
                        centroid_id: NO_CENTROID,
                    };
                    record.next_shard_id += 1;
                    ShardDraft::create(db, header, created)?
                }
            };
            let mut draft = draft;
            let room = (max_rows - draft.rows).min(group_rows) as usize;
            let end = (start + room).min(m.len());
            draft.append_memtable(m, start..end)?;
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
    if !created.is_empty() {
        db.sync_dir(&db.shards_dir())?;
    }
    let mut readers: Vec<Arc<ShardReader>> = shards
        .iter()
        .filter(|s| !touched.iter().any(|d| d.header.shard_id == s.header.shard_id))
        .cloned()
        .collect();
    for draft in &touched {
        let entry = draft.record();
        match record.shards.iter_mut().find(|s| s.shard_id == entry.shard_id) {
            Some(existing) => *existing = entry,
            None => record.shards.push(entry),
        }
        readers.push(draft.open_reader(db)?);
    }
    Ok(readers)
}
