//! Drift-aware maintenance of the centroid index: split, merge, reassign, consolidate.
//!
//! Each step changes one centroid list and its neighbourhood and is published on its
//! own (one manifest, one new routing snapshot), under the maintenance lock:
//! - **split** a list above `4 × index_shard_rows` rows, or whose rows drifted from its
//!   centroid (their mean is further than half the list's RMS radius from it): local
//!   k-means replaces the centroid by as many as bring the list to about
//!   `2 × index_shard_rows` rows each (at least 2, at most 16; children below the
//!   merge threshold are left out and their rows reassigned);
//! - **merge** a list below `index_shard_rows / 4` rows: its centroid is removed;
//! - after either, the rows of the list and of its 8 nearest neighbour lists are
//!   **reassigned** to their nearest centroid among the new ones and those neighbours
//!   (SPFresh's LIRE: a split moves the boundary, so rows near it may now belong
//!   elsewhere); only the neighbours that would lose at least 10% of their rows are
//!   rewritten — the others keep their rows, and get the rows that arrive as one more
//!   shard (or nothing, when none arrive);
//! - **bounded steps**: a split or merge rewrites losing neighbours (most affected
//!   first) only while it writes at most a tenth of the collection's rows, or its own
//!   list's rows when that alone is more; each neighbour past the bound keeps its rows
//!   for now and is queued (`CollectionCore::reassign_due`) for a **reassignment** step
//!   of its own: its rows nearer one of its 8 nearest lists move there (as one more
//!   shard), the rest are rewritten in place, when at least 10% move;
//! - **adopt**: a centroid a flush added for a new topic (`flush.rs`;
//!   `CollectionCore::fresh_centroids`) gets the rows of its 8 nearest lists that are
//!   nearer to it, by the same reassignment and bound (nothing is written when no
//!   neighbour would lose 10% of its rows);
//! - **consolidate** a list split over many row groups, or whose shards appended by
//!   flushes hold as many rows as its main shard (so a row is rewritten a bounded
//!   number of times, as in a tiered LSM), or with more than 1/8 of its rows hidden by
//!   tombstones: rewritten as one shard of live rows, under a centroid moved to their
//!   mean (a new id: the rows flushed in since moved it);
//!
//! Hysteresis: a split child holds at least a quarter of the target (the merge
//! threshold), so a split never feeds a merge. A split whose largest child would hold
//! more than 90% of the rows — duplicates, which k-means cannot separate — is refused
//! and not retried until the list doubles.
//!
//! Crash safety: every step writes new shard files (fsync, directory fsync), then
//! publishes the manifest naming the new centroids and shards (durable replace), then
//! swaps the routing snapshot, then deletes the replaced files. A kill before the
//! publish leaves the old manifest (new files are orphans the next open removes); after
//! it, the new one (old files are the orphans). No step is ever half applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::budget::MAX_STEP_SHARE;
use super::row_set::RowSet;
use crate::engine::collection_core::{CollectionCore, Install};
use crate::engine::version_set::{Edit, VersionSet};
use crate::error::Result;
use crate::index::routing::{CentroidTable, RoutingSnapshot, nearest_among, route_score};
use crate::kernels::{distance, kmeans};

/// What a rebalance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RebalanceReport {
    /// Lists split in two.
    pub splits: usize,
    /// Lists merged into their neighbours.
    pub merges: usize,
    /// Lists rewritten as one shard.
    pub consolidations: usize,
    /// Lists whose rows were reassigned in a step of their own (deferred from a split
    /// or merge next to them).
    pub reassignments: usize,
    /// Splits refused (the list's rows could not be separated).
    pub refused_splits: usize,
    /// Rows that changed centroid.
    pub rows_moved: u64,
    /// Rows written into new shard files (every step rewrites what it touches).
    pub rows_rewritten: u64,
    /// The most rows one step wrote.
    pub largest_step_rows: u64,
    /// The rows the collection stored (deleted ones not yet removed included) when
    /// that step ran.
    pub rows_stored_at_largest_step: u64,
}

/// Neighbour lists whose rows are reassigned after a split or merge.
const NEIGHBOURS: usize = 8;
/// A neighbour of a split or merged list is rewritten only when the reassignment takes
/// at least 1 in this many of its rows; otherwise its rows stay. Measured on the MiniLM
/// dev set (`drift sim`, sections as topics): rewriting every neighbour that lost any
/// row wrote 8.9 rows per row ingested.
const KEEP_NEIGHBOUR_BELOW: usize = 10;
/// Children a split may make at most.
const MAX_SPLIT_WAYS: usize = 16;
/// Row groups or shards a list may have before it is consolidated.
const MAX_GROUPS_PER_LIST: usize = 8;

/// One planned step.
enum Step {
    Split(usize),
    Merge(usize),
    /// Rows of the list that are nearer another list move there (deferred LIRE).
    Reassign(usize),
    /// The neighbours of a list a flush added give it the rows nearer to it (LIRE
    /// without a split: the flush made the centroid).
    Adopt(usize),
    Consolidate(usize),
}

/// Runs steps on `c` until none is due, `max_steps` ran, or `budget` is spent.
pub(crate) fn rebalance(vs: &VersionSet, c: &Arc<CollectionCore>, max_steps: usize, budget: Duration) -> Result<RebalanceReport> {
    vs.check_writable()?;
    let _m = vs.maintenance.lock();
    let started = Instant::now();
    let mut report = RebalanceReport::default();
    for _ in 0..max_steps {
        if started.elapsed() >= budget {
            break;
        }
        let routing = c.version().routing.clone();
        let Some(step) = plan(vs, c, &routing)? else { break };
        execute(vs, c, &routing, step, &mut report)?;
    }
    Ok(report)
}

/// The most urgent step, if any.
fn plan(vs: &VersionSet, c: &CollectionCore, routing: &RoutingSnapshot) -> Result<Option<Step>> {
    let table = &routing.table;
    if table.is_empty() {
        return Ok(None);
    }
    let target = vs.options.index_shard_rows;
    // Centroids a flush added first: their neighbourhoods still hold rows of theirs.
    loop {
        let Some(id) = c.fresh_centroids.lock().pop() else { break };
        if let Some(i) = table.position(id) {
            return Ok(Some(Step::Adopt(i)));
        }
    }
    let refused = c.split_refused.lock().clone();
    let may_split = |i: usize, rows: u64| refused.get(&table.ids[i]).is_none_or(|at| rows >= 2 * at);
    let rows: Vec<u64> = (0..table.len()).map(|i| routing.list_rows(i)).collect();
    if let Some((i, _)) = rows.iter().enumerate().filter(|(i, r)| **r > 4 * target && may_split(*i, **r)).max_by_key(|(_, r)| **r) {
        return Ok(Some(Step::Split(i)));
    }
    if table.len() > 1
        && let Some((i, _)) = rows.iter().enumerate().filter(|(_, r)| **r < (target / 4).max(1)).min_by_key(|(_, r)| **r)
    {
        return Ok(Some(Step::Merge(i)));
    }
    // Neighbours a split or merge left to a step of their own.
    loop {
        let Some(id) = c.reassign_due.lock().pop() else { break };
        if let Some(i) = table.position(id) {
            return Ok(Some(Step::Reassign(i)));
        }
    }
    let tombstones = c.version().tombstones.clone();
    // Deletes only add tombstones with higher LSNs, so (shards, newest tombstone LSN)
    // names what a list check saw.
    let newest_tombstone = tombstones.newest_lsn();
    for (i, list) in routing.lists.iter().enumerate() {
        let groups: usize = list.iter().map(|s| s.row_groups.len()).sum();
        if groups <= 1 {
            continue; // written whole by a build, split or consolidation: nothing new
        }
        // Rows appended by flushes are merged into the list once they add up to its
        // main shard (each row is rewritten a bounded number of times, as in a tiered
        // LSM), or when the list is in too many pieces.
        let largest = list.iter().map(|s| s.rows).max().unwrap_or(0);
        if groups > MAX_GROUPS_PER_LIST || rows[i] - largest >= largest {
            return Ok(Some(Step::Consolidate(i)));
        }
        // Rows were appended since the list was written: check drift and deletes (once
        // per state of the list).
        let state = (list.iter().map(|s| s.header.shard_id).collect::<Vec<u64>>(), newest_tombstone);
        if c.lists_checked.lock().get(&table.ids[i]) == Some(&state) {
            continue;
        }
        let mut set = RowSet::new(table.dimension);
        for shard in list {
            set.add_shard(shard, &crate::storage::tombstones::Tombstones::default())?;
        }
        let hidden = (0..set.len()).filter(|r| tombstones.hides(set.ids[*r], set.max_lsns[*r])).count();
        if hidden * 8 > set.len() {
            return Ok(Some(Step::Consolidate(i)));
        }
        if set.len() as u64 >= target && drifted(&set, table.vector(i)) && may_split(i, set.len() as u64) {
            return Ok(Some(Step::Split(i)));
        }
        c.lists_checked.lock().insert(table.ids[i], state);
    }
    Ok(None)
}

/// Whether the rows' mean lies further than half their RMS radius from `centroid`.
fn drifted(rows: &RowSet, centroid: &[f32]) -> bool {
    let d = rows.dimension;
    let n = rows.len();
    if n == 0 {
        return false;
    }
    let mut mean = vec![0f64; d];
    let mut radius = 0f64;
    for r in 0..n {
        let v = rows.vector(r);
        radius += f64::from(distance::l2_squared(v, centroid));
        for (m, x) in mean.iter_mut().zip(v) {
            *m += f64::from(*x);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / n as f64) as f32).collect();
    let shift = f64::from(distance::l2_squared(&mean, centroid));
    shift > 0.25 * (radius / n as f64)
}

/// The mean of `vectors` (row-major, dimension `d`), or `None` without rows.
fn mean(vectors: &[f32], d: usize) -> Option<Vec<f32>> {
    let n = vectors.len() / d;
    if n == 0 {
        return None;
    }
    let mut sum = vec![0f64; d];
    for v in vectors.chunks_exact(d) {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += f64::from(*x);
        }
    }
    Some(sum.iter().map(|s| (s / n as f64) as f32).collect())
}

/// The `m` centroids nearest to centroid `i` (excluding it).
fn neighbours(table: &CentroidTable, metric: crate::Metric, i: usize, m: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> =
        (0..table.len()).filter(|j| *j != i).map(|j| (route_score(metric, table.vector(i), table.vector(j)), j)).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(m).map(|(_, j)| j).collect()
}

fn execute(vs: &VersionSet, c: &Arc<CollectionCore>, routing: &RoutingSnapshot, step: Step, report: &mut RebalanceReport) -> Result<()> {
    let table = &routing.table;
    let d = table.dimension;
    let tombstones = c.version().tombstones.clone();
    // Which lists are rewritten, which centroid goes, which come.
    // The changed list first, then (split, merge) its neighbours; every row read once.
    let changed = match step {
        Step::Split(i) | Step::Merge(i) | Step::Reassign(i) | Step::Adopt(i) | Step::Consolidate(i) => i,
    };
    // `gather`: the lists whose rows are read (and may be rewritten); `targets`: the
    // lists that may receive rows. A reassignment reads only its own list.
    let mut gather = vec![changed];
    let mut targets = vec![changed];
    match step {
        Step::Split(_) | Step::Merge(_) | Step::Adopt(_) => {
            gather.extend(neighbours(table, c.metric, changed, NEIGHBOURS));
            targets.clone_from(&gather);
        }
        Step::Reassign(_) => targets.extend(neighbours(table, c.metric, changed, NEIGHBOURS)),
        Step::Consolidate(_) => {}
    }
    let mut rows = RowSet::new(d);
    let mut origin = Vec::new();
    for &j in &gather {
        let before = rows.len();
        for shard in &routing.lists[j] {
            rows.add_shard(shard, &tombstones)?;
        }
        origin.extend(std::iter::repeat_n(table.ids[j], rows.len() - before));
    }
    // The changed list's rows lead the set.
    let own = &rows.vectors[..origin.iter().take_while(|id| **id == table.ids[changed]).count() * d];
    let own_rows = own.len() / d;
    // Which centroid goes, which come.
    let (victim, added): (Option<usize>, Vec<Vec<f32>>) = match step {
        // The list is rewritten anyway: it gets a centroid at the mean of its live rows
        // (the rows flushed into it since it was written moved it), under a new id, as
        // a split's children do.
        Step::Consolidate(i) => match mean(own, d) {
            Some(centre) => (Some(i), vec![centre]),
            None => (None, Vec::new()),
        },
        Step::Merge(i) => (Some(i), Vec::new()),
        Step::Reassign(_) | Step::Adopt(_) => (None, Vec::new()),
        Step::Split(i) => {
            // As many children as it takes to bring the list to about twice the target
            // (so rows that keep arriving in one list are rewritten once, not once per
            // halving).
            let target = vs.options.index_shard_rows as usize;
            let ways = own_rows.div_ceil(2 * target).clamp(2, MAX_SPLIT_WAYS);
            let parts = kmeans::partition(own, d, ways, 0x5B17 ^ u64::from(table.ids[i]));
            let mut sizes: Vec<(usize, usize)> =
                (0..parts.centroids.len() / d).map(|h| (parts.assignment.iter().filter(|a| **a as usize == h).count(), h)).collect();
            sizes.sort_by(|a, b| b.cmp(a));
            if sizes.len() < 2 || sizes[0].0 * 10 > own_rows * 9 {
                c.split_refused.lock().insert(table.ids[i], own_rows as u64);
                report.refused_splits += 1;
                return Ok(());
            }
            // Children too small to stand (below the merge threshold) are left out; their
            // rows go to the nearest of the others or of the neighbours.
            let children = sizes
                .iter()
                .enumerate()
                .filter(|(rank, (size, _))| *rank < 2 || *size * 4 >= target)
                .map(|(_, (_, h))| parts.centroids[h * d..(h + 1) * d].to_vec())
                .collect();
            (Some(i), children)
        }
    };
    // The new table: every surviving centroid in order, then the added ones.
    let mut next_id = table.ids.iter().copied().max().unwrap_or(0);
    let (mut ids, mut vectors) = (Vec::with_capacity(table.len() + added.len()), Vec::new());
    for j in (0..table.len()).filter(|j| Some(*j) != victim) {
        ids.push(table.ids[j]);
        vectors.extend_from_slice(table.vector(j));
    }
    for v in &added {
        next_id += 1;
        ids.push(next_id);
        vectors.extend_from_slice(v);
    }
    let new_table = CentroidTable::new(d, ids, vectors);
    // A consolidated list keeps its refused split under its new id (duplicates stay
    // duplicates).
    if let (Step::Consolidate(i), false, Some(&new_id)) = (&step, added.is_empty(), new_table.ids.last()) {
        let mut refused = c.split_refused.lock();
        if let Some(&at) = refused.get(&table.ids[*i]) {
            refused.insert(new_id, at);
        }
    }
    // Destinations: the target lists that survive, and the added centroids.
    let destinations: Vec<usize> = targets
        .iter()
        .filter(|j| Some(**j) != victim)
        .filter_map(|j| new_table.position(table.ids[*j]))
        .chain(table.len() - usize::from(victim.is_some())..new_table.len())
        .collect();
    // Each row's nearest destination.
    let candidates: Vec<f32> = destinations.iter().flat_map(|&p| new_table.vector(p).iter().copied()).collect();
    let mut best: Vec<usize> =
        if destinations.is_empty() { vec![0; origin.len()] } else { nearest_among(c.metric, &rows.vectors, &candidates, d) };
    // A surviving neighbour that would lose fewer than 1 in `KEEP_NEIGHBOUR_BELOW` of
    // its rows keeps them all, and its shards: untouched when nothing arrives, given one
    // more shard of the rows that arrive otherwise. Only the changed list and the
    // neighbours that lose more are rewritten. (A consolidation rewrites its list
    // whatever happens: that is its purpose.)
    //
    // The neighbours that would lose more are rewritten most-affected first while the
    // step stays within a tenth of the collection's rows (or the changed list's own
    // rows, when that alone is more); the rest keep their rows too, so no step rewrites
    // a large share of the collection however many rows a neighbourhood holds.
    let collection_rows: u64 = (0..table.len()).map(|j| routing.list_rows(j)).sum();
    let mut budget = (collection_rows / MAX_STEP_SHARE).max(own_rows as u64).saturating_sub(own_rows as u64);
    let mut kept = Vec::new();
    let mut losing = Vec::new();
    for (k, &position) in destinations.iter().enumerate().filter(|_| victim.is_some() || matches!(step, Step::Adopt(_))) {
        let own = new_table.ids[position];
        let Some(j) = gather.iter().copied().find(|&j| Some(j) != victim && table.ids[j] == own) else { continue };
        let (held, lost) = origin.iter().zip(&best).filter(|(from, _)| **from == own).fold((0, 0), |(h, l), (_, b)| (h + 1, l + usize::from(*b != k)));
        if lost * KEEP_NEIGHBOUR_BELOW < held.max(1) {
            kept.push((j, k, own));
        } else {
            losing.push((j, k, own, held, lost));
        }
    }
    // Largest share lost first (lost / held, compared without division); the ones past
    // the bound are reassigned later, each in a step of its own.
    losing.sort_by(|a, b| (b.4 * a.3).cmp(&(a.4 * b.3)).then(a.0.cmp(&b.0)));
    for (j, k, own, held, _) in losing {
        if held as u64 <= budget {
            budget -= held as u64;
        } else {
            kept.push((j, k, own));
            let mut due = c.reassign_due.lock();
            if !due.contains(&own) {
                due.push(own);
            }
        }
    }
    // A reassignment moves its list's rows that are nearer a neighbour when that is at
    // least 1 in `KEEP_NEIGHBOUR_BELOW` of them (else it does nothing); the neighbours
    // keep their rows and get the arrivals as one more shard.
    if let Step::Reassign(_) = step {
        let staying = destinations.iter().position(|p| new_table.ids[*p] == table.ids[changed]);
        let lost = best.iter().filter(|b| Some(**b) != staying).count();
        if staying.is_none() || lost * KEEP_NEIGHBOUR_BELOW < own_rows.max(1) {
            return Ok(());
        }
        for (k, &position) in destinations.iter().enumerate().filter(|(k, _)| Some(*k) != staying) {
            kept.push((position, k, new_table.ids[position])); // the table is unchanged: same position
        }
    }
    if matches!(step, Step::Adopt(_)) && kept.len() == gather.len() {
        return Ok(()); // no list loses enough rows to the added one to be rewritten
    }
    for &(_, k, own) in &kept {
        origin.iter().zip(best.iter_mut()).filter(|(from, _)| **from == own).for_each(|(_, b)| *b = k);
    }
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); destinations.len()];
    for (r, (from, &b)) in origin.iter().zip(&best).enumerate() {
        if new_table.ids[destinations[b]] != *from {
            report.rows_moved += 1;
        }
        if kept.iter().any(|&(_, k, own)| k == b && own == *from) {
            continue; // stays where it is
        }
        members[b].push(r as u32);
    }
    let kept: Vec<usize> = kept.into_iter().map(|(j, _, _)| j).collect();
    let retired: Vec<Arc<crate::storage::shard_file::ShardReader>> =
        gather.iter().filter(|j| !kept.contains(j)).flat_map(|j| routing.lists[*j].iter().cloned()).collect();

    let mut edit = Edit::new(vs.draft());
    let Some(record) = edit.manifest.collection_mut(c.id) else { return Ok(()) };
    let retired_ids: Vec<u64> = retired.iter().map(|s| s.header.shard_id).collect();
    record.shards.retain(|s| !retired_ids.contains(&s.shard_id));
    let mut created = Vec::new();
    let seal = vs.options.object_store.is_some();
    let written = rows.write_shards(vs, record, &members, &new_table, &destinations, seal, &mut created).and_then(|readers| {
        if !created.is_empty() {
            vs.sync_dir(&vs.shards_dir())?;
        }
        Ok(readers)
    });
    let new_readers = match written {
        Ok(r) => r,
        Err(e) => {
            vs.remove_created(&created);
            return Err(e);
        }
    };
    let new_table = Arc::new(new_table);
    record.centroids = new_table.records();
    // Shards of the lists this step did not touch, as the version has them now.
    let mut shards: Vec<_> = c.version().shards.iter().filter(|s| !retired_ids.contains(&s.header.shard_id)).cloned().collect();
    shards.extend(new_readers);
    let rows_written: u64 = members.iter().map(|m| m.len() as u64).sum();
    report.rows_rewritten += rows_written;
    if rows_written > report.largest_step_rows {
        report.largest_step_rows = rows_written;
        report.rows_stored_at_largest_step = collection_rows;
    }
    edit.created = created;
    edit.retired = retired;
    edit.installs.push((c.clone(), Install { shards: Some(shards), table: Some(new_table), ..Install::default() }));
    vs.apply(edit)?;
    match step {
        Step::Split(_) => report.splits += 1,
        Step::Merge(_) => report.merges += 1,
        Step::Reassign(_) | Step::Adopt(_) => report.reassignments += 1,
        Step::Consolidate(_) => report.consolidations += 1,
    }
    Ok(())
}
