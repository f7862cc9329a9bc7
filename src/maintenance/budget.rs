//! `maintain(budget)`: the background work, run on the caller's schedule.
//!
//! Hosts that turn the background threads off (or want work done at a quiet moment)
//! call [`crate::Database::maintain`] with a time budget. One call flushes memtables
//! that hold data (building a collection's centroid index when it reaches the
//! threshold), then rebalances every indexed collection (split / merge / reassign /
//! consolidate, `rebalance.rs`), then compacts collections with pending tombstones,
//! most tombstones first, until the budget is spent. A step that has started always
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
    /// Collections compacted.
    pub compactions: usize,
    /// Deleted rows physically removed by those compactions.
    pub rows_removed: u64,
    /// Work left undone because the budget ran out.
    pub budget_exhausted: bool,
}

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
        let done = compaction::compact(vs, &c)?;
        report.compactions += 1;
        report.rows_removed += done.rows_removed;
    }
    Ok(report)
}
