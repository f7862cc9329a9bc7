//! Compaction: rewrite shards that hold deleted rows, then drop spent tombstones.
//!
//! Steps (under the maintenance lock, so no flush runs meanwhile):
//! 1. flush, so no frozen memtable depends on a tombstone;
//! 2. snapshot the tombstones `T0` (those of documents no memtable holds: the others
//!    still hide memtable rows) and count, per shard, the rows `T0` hides;
//! 3. write each such shard's live rows into a new sealed shard (new file, new id),
//!    fsync it and the directory;
//! 4. publish the manifest naming the new shards instead of the old, with the
//!    tombstones of `T0` removed (every row they hid is gone; rows re-added after a
//!    delete have higher LSNs and were never hidden);
//! 5. swap in the next version (new readers, fewer tombstones);
//! 6. retire the old shards: each file is deleted (by the writers' side, see
//!    `storage/graveyard.rs`) once the last search or snapshot reading it is done (a
//!    crash before that leaves orphans the next open removes).
//!
//! Steps 4–6 are the one edit path (`engine::version_set`).
//!
//! A row group written by compaction takes the largest `max_lsn` of the groups its rows
//! came from; any tombstone created later has a higher LSN than every flushed row, so
//! it still hides them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::draft::{RowBuffer, ShardDraft};
use super::flush;
use crate::engine::collection_core::{CollectionCore, Install};
use crate::engine::version_set::{Edit, VersionSet};
use crate::error::Result;
use crate::storage::shard_file::{ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionReport {
    /// Shard files rewritten.
    pub shards_rewritten: usize,
    /// Deleted rows physically removed.
    pub rows_removed: u64,
    /// Bytes of shard files before minus after.
    pub bytes_reclaimed: i64,
    /// Tombstones no longer needed and dropped.
    pub tombstones_dropped: usize,
    /// Live rows written again into the new shard files.
    pub rows_rewritten: u64,
}

/// How much one compaction rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every shard holding a deleted row; every applicable tombstone is dropped
    /// (`Collection::compact`).
    Full,
    /// Shards with at least 1 in `DEAD_SHARE` of their rows deleted, most deleted first,
    /// until `max_rows` live rows are written (at least one shard); a tombstone is
    /// dropped only when no other shard may still hold a row it hides (`maintain`).
    Bounded { max_rows: u64 },
}

/// A bounded compaction rewrites a shard once this share (1 in N) of its rows is
/// deleted: space stays within 8/7 of the live rows' without rewriting a shard for a
/// few deletes. Measured with `drift sim` on the MiniLM dev set (sections as topics):
/// 1 in 5 (with rebalancing's consolidation at the same share) left queries/s at
/// 0.83× a rebuild's; 1 in 8 at ≥ 0.93× for 20% more maintenance CPU.
const DEAD_SHARE: u64 = 8;

pub(crate) fn compact(vs: &VersionSet, c: &Arc<CollectionCore>, scope: Scope) -> Result<CompactionReport> {
    vs.check_writable()?;
    let _m = vs.maintenance.lock();
    flush::flush_locked(vs)?;
    let v = c.version();
    // Tombstones of documents a memtable may still hold stay: they hide memtable rows
    // that this compaction does not rewrite.
    let memtables: Vec<_> = std::iter::once(&v.active).chain(&v.frozen).collect();
    let compactable: Vec<(u128, u64)> =
        v.tombstones.entries().into_iter().filter(|(id, _)| !memtables.iter().any(|m| m.may_contain(*id))).collect();
    let applied = &Tombstones::from_entries(&compactable);
    let (shards, table) = (&v.shards, &v.routing.table);
    let mut report = CompactionReport::default();
    if applied.is_empty() {
        return Ok(report);
    }
    let mut victims: Vec<(Arc<ShardReader>, u64)> = Vec::new();
    for shard in shards.iter() {
        let mut dead = 0u64;
        let view = shard.mapped()?;
        for g in 0..shard.row_groups.len() {
            let columns = shard.row_group(&view, g)?;
            dead += (0..columns.rows).filter(|&r| applied.hides(columns.document_id(r), columns.max_lsn)).count() as u64;
        }
        let due = match scope {
            Scope::Full => dead > 0,
            Scope::Bounded { .. } => dead > 0 && dead * DEAD_SHARE >= shard.rows,
        };
        if due {
            victims.push((shard.clone(), dead));
        }
    }
    // The tombstones this compaction drops: all of them when every shard with a
    // deleted row is rewritten; otherwise those no other shard may still need.
    let spent = match scope {
        Scope::Full => applied.clone(),
        Scope::Bounded { max_rows } => {
            victims.sort_by(|a, b| (b.1 * a.0.rows).cmp(&(a.1 * b.0.rows)).then(a.0.header.shard_id.cmp(&b.0.header.shard_id)));
            let mut written = 0u64;
            victims.retain(|(shard, dead)| {
                let take = written == 0 || written + (shard.rows - dead) <= max_rows;
                if take {
                    written += shard.rows - dead;
                }
                take
            });
            let victim_ids: Vec<u64> = victims.iter().map(|(v, _)| v.header.shard_id).collect();
            let others: Vec<&Arc<ShardReader>> = shards.iter().filter(|s| !victim_ids.contains(&s.header.shard_id)).collect();
            let droppable: Vec<(u128, u64)> =
                compactable.iter().copied().filter(|&(doc, lsn)| !others.iter().any(|s| s.may_hold_hidden(doc, lsn))).collect();
            Tombstones::from_entries(&droppable)
        }
    };
    if victims.is_empty() && spent.is_empty() {
        return Ok(report);
    }
    let mut edit = Edit::new(vs.draft());
    let Some(record) = edit.manifest.collection_mut(c.id) else { return Ok(report) };
    let mut created = Vec::new();
    let mut replacements = Vec::new();
    let result = (|| -> Result<()> {
        for (victim, dead) in &victims {
            let rows = victim.rows - dead;
            report.rows_removed += dead;
            report.rows_rewritten += rows;
            if rows == 0 {
                continue;
            }
            let mut out = ShardDraft::create(vs, ShardHeader::next(record, victim.header.centroid_id), &mut created)?;
            out.centroid = table.position(victim.header.centroid_id).map(|p| table.vector(p).to_vec());
            let mut buffer = RowBuffer::default();
            let view = victim.mapped()?;
            for g in 0..victim.row_groups.len() {
                let columns = victim.row_group(&view, g)?;
                let attributes = columns.attributes(&victim.path)?;
                for r in 0..columns.rows {
                    let id = columns.document_id(r);
                    if applied.hides(id, columns.max_lsn) {
                        continue;
                    }
                    let (span, row_id, vector) = (columns.span(r), columns.row_id(r), columns.vector(r));
                    buffer.push(id, span, row_id, vector, attributes.row(r), victim.row_groups[g].min_lsn, columns.max_lsn);
                    if buffer.ids.len() >= vs.options.row_group_max_rows {
                        buffer.write(&mut out, c.dimension)?;
                    }
                }
            }
            buffer.write(&mut out, c.dimension)?;
            out.seal()?;
            out.sync(vs)?;
            replacements.push(out);
        }
        if !created.is_empty() {
            vs.sync_dir(&vs.shards_dir())?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        vs.remove_created(&created);
        return Err(e);
    }
    let victim_ids: Vec<u64> = victims.iter().map(|(v, _)| v.header.shard_id).collect();
    record.shards.retain(|s| !victim_ids.contains(&s.shard_id));
    let mut readers: Vec<Arc<ShardReader>> =
        shards.iter().filter(|s| !victim_ids.contains(&s.header.shard_id)).cloned().collect();
    for out in &replacements {
        record.shards.push(out.record());
        match out.open_reader(vs) {
            Ok(reader) => readers.push(reader),
            Err(e) => {
                vs.remove_created(&created);
                return Err(e);
            }
        }
    }
    let mut remaining = (*c.version().tombstones).clone();
    remaining.remove_applied(&spent);
    record.tombstones = remaining.entries();
    report.tombstones_dropped = spent.len();
    let before: u64 = shards.iter().map(|s| s.file_len()).sum();
    let after: u64 = readers.iter().map(|s| s.file_len()).sum();
    edit.created = created;
    edit.retired = victims.iter().map(|(v, _)| v.clone()).collect();
    let change = Install { shards: Some(readers), spent_tombstones: Some(spent), ..Install::default() };
    edit.installs.push((c.clone(), change));
    vs.apply(edit)?;
    report.bytes_reclaimed = before as i64 - after as i64;
    report.shards_rewritten = victims.len();
    vs.compactions.fetch_add(1, Ordering::Relaxed);
    Ok(report)
}
