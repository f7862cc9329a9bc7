//! `maintain(budget)`: the background work, run on the caller's schedule.
//!
//! Hosts that turn the background threads off (or want work done at a quiet moment)
//! call [`crate::Database::maintain`] with a time budget. One call flushes memtables
//! that hold data (building a collection's centroid index when it reaches the
//! threshold), then rebalances every indexed collection (split / merge / reassign /
//! consolidate, `rebalance.rs`), then compacts collections with pending tombstones,
//! most tombstones first, until the budget is spent — in bounded steps: shards with at
//! least an eighth of their rows deleted, at most a tenth of the collection per step, and
//! tombstones dropped once no shard may still hold a row they hide. A step that has started always
//! finishes (each is crash-safe on its own), so a call may overrun its budget by one
//! step.

use std::time::{Duration, Instant};

use super::{compaction, flush, rebalance};
use crate::engine::version_set::VersionSet;
use crate::error::Result;

/// What one `maintain` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// Whether memtables were flushed.
    pub flushed: bool,
    /// Index lists split, merged and consolidated.
    pub splits: usize,
    /// Index lists merged into their neighbours.
    pub merges: usize,
    /// Index lists rewritten as one shard.
    pub consolidations: usize,
    /// Index lists whose rows were reassigned to nearer lists after a split or merge
    /// next to them.
    pub reassignments: usize,
    /// Collections compacted.
    pub compactions: usize,
    /// Deleted rows physically removed by those compactions.
    pub rows_removed: u64,
    /// Rows written again by rebalancing and compaction (flushes not counted).
    pub rows_rewritten: u64,
    /// The most rows one step (a split, merge, reassignment, consolidation or
    /// compaction) wrote.
    pub largest_step_rows: u64,
    /// The rows the collection stored (deleted ones not yet removed included) when
    /// that step ran: the step's share is `largest_step_rows` over this.
    pub rows_stored_at_largest_step: u64,
    /// Work left undone because the budget ran out.
    pub budget_exhausted: bool,
}

/// A step run by `maintain` writes at most 1 / this of the collection's rows: a
/// compaction step always, a split or merge unless its own list alone is more
/// (`Collection::compact` rewrites everything at once).
pub(crate) const MAX_STEP_SHARE: u64 = 10;

pub(crate) fn maintain(vs: &VersionSet, budget: Duration) -> Result<MaintenanceReport> {
    let started = Instant::now();
    let mut report = MaintenanceReport::default();
    let collections = vs.collections();
    if collections.iter().any(|c| !c.version().active.is_empty()) {
        flush::flush(vs)?;
        report.flushed = true;
    }
    for c in &collections {
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            report.budget_exhausted = true;
            return Ok(report);
        }
        let done = rebalance::rebalance(vs, c, usize::MAX, left)?;
        report.splits += done.splits;
        report.merges += done.merges;
        report.consolidations += done.consolidations;
        report.reassignments += done.reassignments;
        report.rows_rewritten += done.rows_rewritten;
        if done.largest_step_rows > report.largest_step_rows {
            report.largest_step_rows = done.largest_step_rows;
            report.rows_stored_at_largest_step = done.rows_stored_at_largest_step;
        }
    }
    let mut pending: Vec<_> = collections
        .into_iter()
        .map(|c| {
            let tombstones = c.version().tombstones.len();
            (tombstones, c)
        })
        .filter(|(t, _)| *t > 0)
        .collect();
    pending.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    for (_, c) in pending {
        if started.elapsed() >= budget {
            report.budget_exhausted = true;
            break;
        }
        // Bounded steps (a tenth of the collection's rows at most), until one finds
        // nothing more to rewrite.
        loop {
            let rows: u64 = c.version().shards.iter().map(|s| s.rows).sum();
            let done = compaction::compact(vs, &c, compaction::Scope::Bounded { max_rows: rows / MAX_STEP_SHARE })?;
            if done.shards_rewritten == 0 && done.tombstones_dropped == 0 {
                break;
            }
            report.compactions += 1;
            report.rows_removed += done.rows_removed;
            report.rows_rewritten += done.rows_rewritten;
            if done.rows_rewritten > report.largest_step_rows {
                report.largest_step_rows = done.rows_rewritten;
                report.rows_stored_at_largest_step = rows;
            }
            if done.shards_rewritten == 0 || started.elapsed() >= budget {
                break;
            }
        }
    }
    Ok(report)
}
