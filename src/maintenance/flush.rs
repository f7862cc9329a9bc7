//! Flush: memtables → row groups in shard files → manifest → WAL recycling.
//!
//! The order, and why each step is where it is:
//! 1. **Freeze** every collection's active memtable at one LSN cut, while the WAL
//!    applies nothing (`Wal::with_apply_paused`: a few microseconds per collection).
//!    Frozen memtables stay searchable; writers go on into a fresh active memtable.
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
//! 4. **Swap** in each collection's next version — new shard readers, without the
//!    frozen memtables and without the tombstones that hid only rows of them
//!    (`VersionSet::apply`: a search sees before or after, never both or neither).
//! 5. **Recycle** WAL segments whose records are all ≤ the cut.
//!
//! Steps 3 and 4 are the one edit path every maintenance job takes
//! (`engine::version_set`).
//!
//! A failure in 1–2 leaves the old manifest in force and the frozen memtables in
//! memory and the WAL: nothing acknowledged is lost, the next flush retries. A failed
//! fsync poisons the database. Files created by the failed attempt are removed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::draft::ShardDraft;
use super::index_build;
use super::row_set::RowSet;
use crate::engine::collection_core::{CollectionCore, Install};
use crate::engine::memtable::MemtableView;
use crate::engine::version_set::{Edit, VersionSet};
use crate::error::Result;
use crate::index::routing::CentroidTable;
use crate::storage::manifest::CollectionRecord;
use crate::storage::shard_file::{NO_CENTROID, ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;

/// Flushes, taking the maintenance lock.
pub(crate) fn flush(vs: &VersionSet) -> Result<()> {
    let _m = vs.maintenance.lock();
    flush_locked(vs)
}

/// Flushes; the caller holds the maintenance lock.
pub(crate) fn flush_locked(vs: &VersionSet) -> Result<()> {
    vs.check_writable()?;
    let collections = vs.collections();
    let cut = vs.wal.with_apply_paused(|applied| {
        for c in &collections {
            c.freeze();
        }
        applied
    });

    let mut edit = Edit::new(vs.draft());
    let (mut created, mut retired) = (Vec::new(), Vec::new());
    for c in &collections {
        let v = c.version();
        if v.frozen.is_empty() {
            continue;
        }
        let Some(record) = edit.manifest.collection_mut(c.id) else { continue };
        let table = &v.routing.table;
        let rows = v.shards.iter().map(|s| s.rows).sum::<u64>() + v.frozen.iter().map(|m| m.len() as u64).sum::<u64>();
        let retired_before = retired.len();
        let written = if index_build::due(vs, table, rows) {
            index_build::build(vs, c, record, &v.frozen, &v.shards, &v.tombstones, &mut created).map(|built| {
                retired.extend(built.retired);
                (built.readers, Some(built.table))
            })
        } else if !table.is_empty() {
            write_routed(vs, c, record, &v.frozen, &v.shards, table, &v.tombstones, &mut created).map(|r| (r, None))
        } else {
            write_frozen(vs, record, &v.frozen, &v.shards, &v.tombstones, &mut created).map(|r| (r, None))
        };
        match written {
            Ok((readers, table)) => {
                let kept: Vec<&Arc<ShardReader>> =
                    v.shards.iter().filter(|s| !retired[retired_before..].iter().any(|r: &Arc<ShardReader>| Arc::ptr_eq(r, s))).collect();
                let spent = spent_tombstones(&v.tombstones, cut, &kept);
                let change = Install {
                    frozen_flushed: v.frozen.len(),
                    shards: Some(readers),
                    table,
                    spent_tombstones: Some(spent),
                    tombstones: None,
                };
                edit.installs.push((c.clone(), change));
            }
            Err(e) => {
                vs.remove_created(&created);
                return Err(e);
            }
        }
    }
    if !created.is_empty()
        && let Err(e) = vs.sync_dir(&vs.shards_dir())
    {
        vs.remove_created(&created);
        return Err(e);
    }
    if edit.installs.is_empty() && cut <= edit.manifest.checkpoint_lsn {
        return Ok(());
    }
    for c in &collections {
        if let Some(record) = edit.manifest.collection_mut(c.id) {
            let mut tombstones = (*c.version().tombstones).clone();
            if let Some((_, change)) = edit.installs.iter().find(|(i, _)| i.id == c.id)
                && let Some(spent) = &change.spent_tombstones
            {
                tombstones.remove_applied(spent);
            }
            record.tombstones = tombstones.entries();
            record.next_row_id = record.next_row_id.max(c.next_row_id.load(Ordering::Relaxed));
        }
    }
    edit.manifest.checkpoint_lsn = edit.manifest.checkpoint_lsn.max(cut);
    edit.created = created;
    edit.retired = retired;
    vs.apply(edit)?;
    vs.wal.checkpoint(cut);
    vs.flushes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Tombstones a flush at `cut` leaves with nothing to hide: deleted at or before the
/// cut (so every memtable row they hid was just written out without it, and every
/// later row has a higher LSN) and hiding no row of the `kept` shards (those the flush
/// did not rewrite; `ShardReader::may_hold_hidden`, the test compaction uses too).
fn spent_tombstones(tombstones: &Tombstones, cut: u64, kept: &[&Arc<ShardReader>]) -> Tombstones {
    let spent: Vec<(u128, u64)> = tombstones
        .entries()
        .into_iter()
        .filter(|&(id, at)| at <= cut && !kept.iter().any(|s| s.may_hold_hidden(id, at)))
        .collect();
    Tombstones::from_entries(&spent)
}

/// Writes frozen memtables into the collection's shards; returns the collection's
/// shard readers as they will be once the manifest is published.
fn write_frozen(
    vs: &VersionSet,
    record: &mut CollectionRecord,
    frozen: &[MemtableView],
    shards: &[Arc<ShardReader>],
    tombstones: &Tombstones,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<Arc<ShardReader>>> {
    let max_rows = vs.options.shard_max_rows;
    let group_rows = vs.options.row_group_max_rows as u64;
    let mut rows = RowSet::new(record.dimension);
    for m in frozen {
        rows.add_memtable(m, tombstones);
    }
    let mut open = match shards.iter().find(|s| !s.sealed) {
        Some(reader) => Some(ShardDraft::resume(vs, reader)?),
        None => None,
    };
    let mut touched: Vec<ShardDraft> = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut draft = match open.take() {
            Some(d) if d.rows < max_rows => d,
            full => {
                touched.extend(full);
                ShardDraft::create(vs, ShardHeader::next(record, NO_CENTROID), created)?
            }
        };
        let room = (max_rows - draft.rows).min(group_rows) as usize;
        let end = (start + room).min(rows.len());
        let members: Vec<u32> = (start as u32..end as u32).collect();
        rows.append_to(&mut draft, &members, room)?;
        start = end;
        open = Some(draft);
    }
    touched.extend(open);
    // With an S3 tier every flush seals what it wrote, so flushed rows are promotable.
    let seal_all = vs.options.object_store.is_some();
    for draft in &mut touched {
        if draft.rows >= max_rows || (seal_all && !draft.sealed) {
            draft.seal()?;
        }
        draft.sync(vs)?;
    }
    install(vs, record, shards, &touched)
}

/// Writes frozen memtables of an indexed collection: every visible row to its nearest
/// centroid, each centroid's rows as one row group appended to its open shard (or a new
/// shard of that centroid). Returns the collection's shard readers as they will be once
/// the manifest is published.
#[allow(clippy::too_many_arguments)]
fn write_routed(
    vs: &VersionSet,
    c: &CollectionCore,
    record: &mut CollectionRecord,
    frozen: &[MemtableView],
    shards: &[Arc<ShardReader>],
    table: &CentroidTable,
    tombstones: &Tombstones,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<Arc<ShardReader>>> {
    let mut rows = RowSet::new(c.dimension);
    for m in frozen {
        rows.add_memtable(m, tombstones);
    }
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); table.len()];
    for (i, position) in table.nearest_many(c.metric, &rows.vectors).into_iter().enumerate() {
        members[position].push(i as u32);
    }
    let seal_all = vs.options.object_store.is_some();
    let mut touched: Vec<ShardDraft> = Vec::new();
    for (position, rows_of) in members.iter().enumerate() {
        if rows_of.is_empty() {
            continue;
        }
        let centroid_id = table.ids[position];
        let open = shards.iter().find(|s| !s.sealed && s.header.centroid_id == centroid_id && s.rows < vs.options.shard_max_rows);
        let mut draft = match open {
            Some(reader) => ShardDraft::resume(vs, reader)?,
            None => ShardDraft::create(vs, ShardHeader::next(record, centroid_id), created)?,
        };
        draft.centroid = Some(table.vector(position).to_vec());
        rows.append_to(&mut draft, rows_of, vs.options.row_group_max_rows)?;
        if seal_all || draft.rows >= vs.options.shard_max_rows {
            draft.seal()?;
        }
        draft.sync(vs)?;
        touched.push(draft);
    }
    install(vs, record, shards, &touched)
}

/// Records the written drafts in the manifest entry and returns the collection's shard
/// readers as they will be once it is published: the untouched ones plus the drafts.
fn install(vs: &VersionSet, record: &mut CollectionRecord, shards: &[Arc<ShardReader>], touched: &[ShardDraft]) -> Result<Vec<Arc<ShardReader>>> {
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
        readers.push(draft.open_reader(vs)?);
    }
    Ok(readers)
}
