//! The search path: exact scans, and probed scans of the centroid index.
//!
//! A probed search (collection indexed, `exact` not asked):
//! 1. routes the query to its `nprobe` nearest centroids (`RoutingSnapshot::probe`);
//! 2. scans those centroids' shards with 1-bit codes (`kernels::rabitq`: 64 bytes and 3
//!    factors per 384-d row), keeping the `rerank_factor × limit` best lower bounds
//!    (each estimate minus [`RERANK_SIGMAS`] standard errors; tombstoned rows never
//!    enter; row groups without 1-bit codes — version 1, or dimensions below 128 — are
//!    scanned with their SQ8 codes instead, `kernels::sq8::CodeQuery`); with
//!    `probe_patience` set, lists are scanned nearest centroid first and the scan stops
//!    once that many in a row added nothing to the `limit` best estimates
//!    (`BestEstimates`);
//! 3. walks those, lowest bound first, while a bound can still beat the `limit`-th
//!    smallest upper bound seen (all of them when SQ8 estimates, which are not bounds,
//!    took part): a row of a version-4 group gets an SQ4 interval from its 4-bit code
//!    (`kernels::sq4`, 200 bytes per 384-d row, in the hot section), any other row its
//!    exact distance at once;
//! 4. reads the exact f32 vectors of the rows whose SQ4 lower bound can still beat the
//!    `limit`-th exact distance, lowest first, from the memory map (or, with
//!    `VectorReads::Pread`, copied out of the file into one per-thread buffer) — on the
//!    MiniLM set 15.7 vectors per query where the 1-bit bounds alone needed 46.3;
//! 5. merges memtable rows and unrouted shards, scored exactly.
//!
//! A probe covering at least `PARALLEL_SCAN_ROWS` rows, searched outside a rayon pool
//! and without patience, splits step 2 over rayon's threads (each with its own buffers) and merges their best
//! estimates before step 3; `search_batch` stays one query per thread.
//!
//! (A middle SQ8 stage was measured earlier and dropped: it cost 25% of the queries/s.
//! A likely reason, not measured separately: its per-group, per-dimension parameters
//! (3 KB for 384-d) had to be read for nearly every candidate, each in another group.
//! SQ4 codes carry their range per row, so a candidate costs its 4 cache lines.)
//!
//! Nothing on this path allocates per row, and nothing copies a vector except a
//! `VectorReads::Pread` re-rank (into one reused buffer): codes and vectors are
//! borrowed from the maps, and the per-thread [`SearchScratch`] buffers are reused
//! (the parallel split allocates a few buffers per thread and query, not per row).

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use crate::attributes::predicate::Predicate;
use crate::engine::version::CollectionVersion;
use crate::explain::Trace;
use crate::error::Result;
use crate::io::MmapView;
use crate::kernels::distance::{self, total_order_key};
use crate::kernels::rabitq::BitQuery;
use crate::kernels::sq4::Sq4Query;
use crate::kernels::sq8::CodeQuery;
use crate::options::Metric;
use crate::posting::{DEFAULT_RERANK_FACTOR, SearchOptions, default_nprobe};
use crate::storage::shard_file::ShardReader;

/// A scored row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub distance: f32,
    pub document_id: u128,
    pub span: [u32; 2],
    pub row_id: u64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.row_id.cmp(&other.row_id))
    }
}

/// Keeps the `limit` closest candidates.
#[derive(Debug)]
pub(crate) struct TopK {
    limit: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(limit: usize) -> Self {
        TopK { limit, heap: BinaryHeap::with_capacity(limit + 1) }
    }

    /// Distance a candidate must beat to enter.
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.limit {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |c| c.distance)
        }
    }

    #[inline]
    pub fn offer(&mut self, candidate: Candidate) {
        if self.heap.len() < self.limit {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst {
                *worst = candidate;
            }
    }

    /// Closest first.
    pub fn into_sorted(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
}

/// Every visible row scored exactly; the `limit` closest, closest first.
pub(crate) fn exact(st: &CollectionVersion, metric: Metric, q: &[f32], limit: usize, filter: Option<&Predicate>, trace: &mut Trace) -> Result<Vec<Candidate>> {
    let mut top = TopK::new(limit.max(1));
    offer_exact(st, &st.shards, metric, q, &mut top, filter, trace)?;
    trace.reranked += trace.rows_scanned;
    Ok(top.into_sorted())
}

/// Offers every visible memtable row and every row of `shards` that `filter` matches
/// to `top`, scored with exact f32 distances.
fn offer_exact(
    st: &CollectionVersion,
    shards: &[Arc<ShardReader>],
    metric: Metric,
    q: &[f32],
    top: &mut TopK,
    filter: Option<&Predicate>,
    trace: &mut Trace,
) -> Result<()> {
    let threshold = std::cell::Cell::new(top.threshold());
    st.scan_rows(
        shards,
        filter,
        trace,
        |v| {
            let dist = distance::distance(metric, q, v);
            (dist <= threshold.get()).then_some(dist)
        },
        |row, dist| {
            top.offer(Candidate { distance: dist, document_id: row.document_id, span: row.span, row_id: row.row_id });
            threshold.set(top.threshold());
        },
    )
}

/// A row found by the code-space scan, waiting for its exact re-rank.
#[derive(Debug, Clone, Copy)]
struct Approximate {
    distance: f32,
    /// Index into `SearchScratch::views` / `shards`.
    shard: u32,
    group: u32,
    row: u32,
}

impl PartialEq for Approximate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Approximate {}
impl PartialOrd for Approximate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Approximate {
    /// Orders by distance (as `f32::total_cmp`), ties by position: one integer compare.
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(total_order_key(self.distance)) << 96) | (u128::from(self.shard) << 64) | (u128::from(self.group) << 32) | u128::from(self.row)
    }
}

impl Ord for Approximate {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Buffers a thread reuses from search to search.
#[derive(Default)]
struct SearchScratch {
    bit_query: BitQuery,
    code_query: CodeQuery,
    route_query: CodeQuery,
    distances: Vec<f32>,
    probe_keys: Vec<u64>,
    probe_scores: Vec<(f32, u32)>,
    probed: Vec<usize>,
    /// (list, query · centroid) of each probed list.
    lists: Vec<(usize, f32)>,
    views: Vec<MmapView>,
    shards: Vec<(u32, u32)>,
    coarse: Shortlist,
    ordered: Vec<Approximate>,
    best: BestEstimates,
    rerank_buffers: RerankBuffers,
    /// A filtered probe's row mask of the current group.
    mask: Vec<u64>,
}

/// What the re-rank reuses from search to search.
#[derive(Default)]
struct RerankBuffers {
    sq4_query: Sq4Query,
    /// The `limit` smallest SQ4 upper bounds (and exact distances) so far.
    upper: BestEstimates,
    /// Candidates with their SQ4 lower bound, waiting for an exact read.
    refine: Vec<Approximate>,
    /// The vector being re-ranked, when vectors are read with `pread`.
    vector: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<SearchScratch> = RefCell::new(SearchScratch::default());
}


/// The `cap` smallest estimates offered, kept without ordering them on every offer:
/// entries below the bar are appended, and when twice `cap` have gathered the `cap`
/// smallest are selected in linear time and the bar drops to the largest kept. An
/// offer is one comparison and, rarely, a push (a heap paid a sift per admission).
///
/// Invariant: every estimate offered that is among the `cap` smallest so far is in
/// `entries`, and `bar` is at or above the `cap`-th smallest (∞ until `cap` are kept).
#[derive(Debug, Default)]
struct Shortlist {
    entries: Vec<Approximate>,
    cap: usize,
    bar: f32,
}

impl Shortlist {
    fn reset(&mut self, cap: usize) {
        self.entries.clear();
        self.cap = cap.max(1);
        self.bar = f32::INFINITY;
    }

    /// The distance an estimate must be below to be kept.
    #[inline]
    fn bar(&self) -> f32 {
        self.bar
    }

    #[inline]
    fn offer(&mut self, candidate: Approximate) {
        if candidate.distance < self.bar {
            self.entries.push(candidate);
            if self.entries.len() >= 2 * self.cap {
                self.shrink();
            }
        }
    }

    /// Keeps only the `cap` smallest entries and lowers the bar to the largest of them.
    fn shrink(&mut self) {
        let cap = self.cap;
        if self.entries.len() > cap {
            self.entries.select_nth_unstable(cap - 1);
            self.entries.truncate(cap);
            self.bar = self.entries.iter().map(|a| a.distance).fold(f32::NEG_INFINITY, f32::max);
        }
    }

    /// The `cap` smallest, smallest first; leaves the list empty.
    fn drain_sorted(&mut self, out: &mut Vec<Approximate>) {
        self.shrink();
        out.clear();
        out.append(&mut self.entries);
        out.sort_unstable();
    }
}

/// The `limit` closest rows by the probed path (see the module docs), closest first.
/// A filter's part in a probed search: the rows it masks, and how far the probe
/// widens to find them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FilteredProbe<'a> {
    pub predicate: &'a Predicate,
    /// Lists the probe may scan at most (nearest first).
    pub lists: usize,
    /// Lists it scans at least (the unfiltered probe's count); past them it stops once
    /// it has scanned as many matching rows as those lists hold rows.
    pub min_lists: usize,
    /// The share of rows the filter matches (estimated).
    pub selectivity: f64,
}

/// Below this selectivity a filtered probe sets the estimates of rejected rows to +∞
/// in one pass over each group (they are many, and would otherwise pass the bar one by
/// one); above it, the mask is tested only for the rows that pass the bar. Measured on
/// the MiniLM dev set (`recall_qps filtered`, one thread): the per-row test gained 25%
/// queries/s at 85% selectivity and lost 23% at 4.6% (`own_section`).
const BLANK_BELOW_SELECTIVITY: f64 = 0.5;

pub(crate) fn probed(
    st: &CollectionVersion,
    metric: Metric,
    q: &[f32],
    options: &SearchOptions,
    limit: usize,
    filter: Option<FilteredProbe<'_>>,
    trace: &mut Trace,
) -> Result<Vec<Candidate>> {
    let routing = &st.routing;
    let limit = limit.max(1);
    let nprobe = match filter {
        Some(f) => f.lists,
        None => options.nprobe.unwrap_or_else(|| default_nprobe(routing.table.len())),
    };
    trace.lists_planned = nprobe.min(routing.table.len());
    let keep = limit.saturating_mul(options.rerank_factor.unwrap_or(DEFAULT_RERANK_FACTOR)).max(limit);
    let coarse_cap = keep;
    let mut top = TopK::new(limit);
    offer_exact(st, &routing.unrouted, metric, q, &mut top, filter.map(|f| f.predicate), trace)?;
    trace.reranked += trace.rows_scanned;
    SCRATCH.with(|cell| {
        let mut fresh = None;
        let mut guard = cell.try_borrow_mut().ok();
        let scratch: &mut SearchScratch = match guard.as_deref_mut() {
            Some(s) => s,
            None => fresh.insert(SearchScratch::default()),
        };
        let SearchScratch { bit_query, code_query, route_query, distances, probe_keys, probe_scores, probed, lists, views, shards, coarse, ordered, best, rerank_buffers, mask } =
            scratch;
        routing.probe(metric, q, nprobe, route_query, distances, probe_keys, probe_scores, probed);
        let bits = crate::kernels::rabitq::code_bits(q.len());
        if bits > 0 {
            bit_query.prepare(metric, q);
            bit_query.set_confidence(RERANK_SIGMAS);
        }
        code_query.set_query(metric, q);
        coarse.reset(coarse_cap);
        views.clear();
        shards.clear();
        let result = (|| -> Result<()> {
            // Stage 1: 1-bit estimates (SQ8 for version-1 groups) over the probed lists.
            // Tombstoned rows never enter.
            let query_norm_sq = distance::dot(q, q);
            lists.clear();
            lists.extend(
                probed
                    .iter()
                    .zip(probe_scores.iter())
                    .map(|(&list, &(score, _))| (list, routing.table.dot_from_score(metric, list, score, query_norm_sq))),
            );
            let rows: u64 = probed.iter().map(|&l| routing.list_rows(l)).sum();
            // A patient probe stops by the order lists are scanned in, so it stays on one
            // thread (and returns what `search_batch` returns).
            let splittable =
                options.probe_patience.is_none() && filter.is_none() && rayon::current_num_threads() > 1 && rayon::current_thread_index().is_none();
            if rows >= PARALLEL_SCAN_ROWS && splittable {
                return rerank_parallel(st, metric, q, lists, bits, bit_query, coarse_cap, limit, rerank_buffers, &mut top, trace);
            }
            best.reset(limit);
            // A filtered probe counts quiet lists (its own stopping rule) even without
            // a patience of the caller's.
            let patience = match (options.probe_patience, filter) {
                (Some(lists), _) => Some((lists, best)),
                (None, Some(_)) => Some((usize::MAX, best)),
                (None, None) => None,
            };
            let masking = filter.map(|f| {
                let wanted: u64 = probed.iter().take(f.min_lists).map(|&l| routing.list_rows(l)).sum();
                let quiet_lists = (f.min_lists * FILTER_QUIET_LISTS_PER_4 / 4).max(1);
                let blank = f.selectivity < BLANK_BELOW_SELECTIVITY;
                Masking { predicate: f.predicate, min_lists: f.min_lists, wanted, quiet_lists, blank, mask }
            });
            let mut stage = Stage { bit_query, code_query, distances, views, shards, coarse, patience, bounds_only: true, masking, trace: &mut *trace };
            estimate_lists(st, lists, bits, &mut stage)?;
            let stoppable = stage.bounds_only;
            coarse.drain_sorted(ordered);
            let result = rerank(st, metric, q, ordered, views, shards, stoppable, limit, rerank_buffers, &mut top, trace);
            ordered.clear();
            result
        })();
        views.clear();
        result
    })?;
    Ok(top.into_sorted())
}

/// Rows a probe must cover before its lists are estimated on several threads (only
/// outside a rayon pool, so `search_batch` keeps one query per thread). Below it one
/// thread is faster than the fork and join: on the project's 2-vCPU machine (MiniLM,
/// 384-d, `recall_qps` with RAYON_NUM_THREADS 1 vs 2) splitting cost 22% of the
/// queries/s at 16k rows, broke even at 38k and gained 20% at 58k.
/// Standard errors subtracted from each 1-bit estimate to make it a lower bound
/// (`BitQuery::set_confidence`). Re-ranking walks candidates by that bound and stops
/// at the first one that cannot beat the k-th exact distance. Measured on the MiniLM
/// dev set (`recall_qps`, rerank factor 8): 3 kept recall@10 at nprobe 128 and 400
/// exactly where ranking by the bare estimate had it (0.9526, 0.9911) while
/// re-ranking 46 rather than 80 rows per query; 2 re-ranked 30 but lost 0.002.
const RERANK_SIGMAS: f32 = 3.0;

/// Standard errors of the rounding errors' cross term added, beyond the slack, around
/// each SQ4 estimate (`Sq4Estimate::lower` / `upper`) in the re-rank. Measured on the
/// MiniLM dev set (`recall_qps`, nprobe 120 / patience 45 and 300 / 135, with a
/// temporary override of this constant and temporary read counters, not kept in the
/// tree): 4 kept recall@10 exactly where the re-rank without SQ4 codes had it (0.9523,
/// 0.9903) while reading 15.7 rather than 46.3 exact vectors per query (from 61 SQ4
/// estimates); 3 lost 0.0001, 2 lost 0.0002.
const SQ4_SIGMAS: f32 = 4.0;

pub(crate) const PARALLEL_SCAN_ROWS: u64 = 49_152;

/// A filtered probe scans at least the unfiltered probe's lists, then goes on until
/// it has scanned as many matching rows as those lists hold, or until this many
/// quarters of their number in a row brought no better matching estimate. Measured on
/// the MiniLM dev set's six filter workloads (`recall_qps filtered`, 1,000 queries,
/// default nprobe 108): 1 quarter (27 lists) left recall@10 at 0.931 on
/// `section == 'libs'`, 2 at 0.946, 3 at 0.961 (the lowest of the six: 0.956,
/// `installed_size_kb < 40`), 4 at 0.972 for 12% fewer queries/s.
const FILTER_QUIET_LISTS_PER_4: usize = 3;

/// The buffers stage 1 fills: mapped views of the shards it touched (`shards[i]` =
/// (list, position in list) of `views[i]`) and the shortlist of the best estimates.
struct Stage<'a> {
    bit_query: &'a mut BitQuery,
    code_query: &'a mut CodeQuery,
    distances: &'a mut Vec<f32>,
    views: &'a mut Vec<MmapView>,
    shards: &'a mut Vec<(u32, u32)>,
    coarse: &'a mut Shortlist,
    /// The probe's patience (lists in a row without a gain before it stops) and the
    /// best estimates a gain is judged against; `None` scans every list.
    patience: Option<(usize, &'a mut BestEstimates)>,
    /// Every estimate offered was a 1-bit lower bound (false once an SQ8-scanned group,
    /// whose estimates may sit above the exact distance, has contributed).
    bounds_only: bool,
    /// The filter, when there is one.
    masking: Option<Masking<'a>>,
    trace: &'a mut Trace,
}

/// A filtered probe's state in stage 1.
struct Masking<'a> {
    predicate: &'a Predicate,
    min_lists: usize,
    /// Matching rows to scan before stopping (after `min_lists`).
    wanted: u64,
    /// Lists in a row that added nothing to the best matching estimates before
    /// stopping (after `min_lists`).
    quiet_lists: usize,
    /// Set the estimates of rejected rows to +∞ (selective filters) rather than test the
    /// mask row by row after the bar (see [`BLANK_BELOW_SELECTIVITY`]).
    blank: bool,
    /// The current group's row mask.
    mask: &'a mut Vec<u64>,
}

/// Stage 1 over `lists` (list index, query · centroid): offers the estimate of every
/// live row to `stage.coarse`.
fn estimate_lists(st: &CollectionVersion, lists: &[(usize, f32)], bits: usize, stage: &mut Stage<'_>) -> Result<()> {
    let routing = &st.routing;
    let check_tombstones = !st.tombstones.is_empty();
    let now = crate::storage::shard_file::now_millis();
    // Lists in a row that added nothing to the best estimates (the patience rule).
    let mut quiet = 0;
    for (i, &(list, centroid_dot)) in lists.iter().enumerate() {
        if stage.patience.as_ref().is_some_and(|(lists, _)| quiet >= *lists) {
            break;
        }
        if let Some(m) = &stage.masking
            && i >= m.min_lists
            && (stage.trace.rows_matched >= m.wanted || quiet >= m.quiet_lists)
        {
            break;
        }
        stage.trace.lists_probed += 1;
        let mut gained = false;
        prefetch_lists_ahead(routing, lists, i);
        for (j, shard) in routing.lists[list].iter().enumerate() {
            let at = stage.views.len() as u32;
            stage.views.push(shard.mapped_at(now)?);
            stage.shards.push((list as u32, j as u32));
            let view = &stage.views[at as usize];
            let summaries = match &stage.masking {
                Some(_) => shard.summaries(view)?,
                None => &[],
            };
            for g in 0..shard.row_groups.len() {
                if let Some(m) = &stage.masking
                    && summaries.get(g).is_some_and(|summary| !m.predicate.may_match_summary(summary))
                {
                    stage.trace.groups_skipped += 1;
                    continue;
                }
                let columns = shard.row_group_for_search(view, g)?;
                if let Some(m) = stage.masking.as_mut() {
                    let section = columns.attributes(&shard.path)?;
                    stage.trace.bytes += section_bytes(shard, g);
                    let matched = m.predicate.mask(&section, columns.rows, m.mask);
                    if matched == 0 {
                        stage.trace.groups_without_match += 1;
                        continue;
                    }
                    stage.trace.rows_matched += matched as u64;
                }
                stage.trace.groups_scanned += 1;
                stage.trace.rows_scanned += columns.rows as u64;
                stage.trace.bytes += (columns.bit_codes.len() + columns.bit_factors.len() * 4 + columns.sq8_codes.len()) as u64;
                let sparse = stage.masking.as_ref().filter(|m| m.blank).map(|m| &m.mask[..]);
                if bits > 0 && columns.code_bits == bits {
                    if let (true, Some(mask)) = (columns.codes_blocked, sparse) {
                        // A selective filter's rejected rows are blanked below: blocks of
                        // 32 rows without a match are not scanned at all.
                        stage.bit_query.scan_blocked_masked(columns.bit_codes, columns.rows, columns.bit_factors, centroid_dot, mask, stage.distances);
                    } else if columns.codes_blocked {
                        stage.bit_query.scan_blocked(columns.bit_codes, columns.rows, columns.bit_factors, centroid_dot, stage.distances);
                    } else {
                        stage.bit_query.scan(columns.bit_codes, columns.bit_factors, centroid_dot, stage.distances);
                    }
                } else {
                    stage.code_query.prepare(columns.sq8_min, columns.sq8_scale);
                    stage.code_query.scan(columns.sq8_codes, stage.distances);
                    stage.bounds_only = false;
                }
                // Rows the filter rejects never reach the shortlist: blanked in one pass,
                // or tested after the bar (which about 1 row in 40 passes).
                let mut masked = false;
                let mut mask: &[u64] = &[];
                if let Some(m) = &stage.masking {
                    if m.blank {
                        for (r, d) in stage.distances.iter_mut().enumerate() {
                            if m.mask[r / 64] >> (r % 64) & 1 == 0 {
                                *d = f32::INFINITY;
                            }
                        }
                    } else {
                        (masked, mask) = (true, &m.mask[..]);
                    }
                }
                // The bar only falls as the shortlist fills, so most rows are turned away by
                // one comparison.
                let mut bar = stage.coarse.bar();
                let distances = &stage.distances[..];
                let (runs, _) = distances.as_chunks::<SKIP_RUN>();
                let mut start = 0;
                while start < distances.len() {
                    // A whole run with nothing below the bar is turned away by one vector
                    // compare and mask test.
                    if runs.get(start / SKIP_RUN).is_some_and(|run| !any_below(run, bar)) {
                        start += SKIP_RUN;
                        continue;
                    }
                    let end = (start + SKIP_RUN).min(distances.len());
                    for (r, &d) in distances.iter().enumerate().take(end).skip(start) {
                        if d >= bar {
                            continue;
                        }
                        if masked && mask[r / 64] >> (r % 64) & 1 == 0 {
                            continue;
                        }
                        if check_tombstones && st.tombstones.hides(columns.document_id(r), columns.max_lsn) {
                            continue;
                        }
                        stage.coarse.offer(Approximate { distance: d, shard: at, group: g as u32, row: r as u32 });
                        bar = stage.coarse.bar();
                        // The shortlist keeps at least `limit`, so a row that improves
                        // the `limit` best has passed its bar.
                        if let Some((_, best)) = stage.patience.as_mut() {
                            gained |= best.offer(d);
                        }
                    }
                    start = end;
                }
            }
        }
        quiet = if gained { 0 } else { quiet + 1 };
    }
    Ok(())
}

/// Bytes of a row group's attribute section.
fn section_bytes(shard: &ShardReader, group: usize) -> u64 {
    shard.row_groups[group].layout.attributes_len
}

/// The `limit` smallest stage-1 estimates offered so far (a max-heap of their
/// [`total_order_key`] keys), which tell the patience rule whether a list brought anything
/// closer.
#[derive(Debug, Default)]
struct BestEstimates {
    heap: BinaryHeap<u32>,
    limit: usize,
}

impl BestEstimates {
    fn reset(&mut self, limit: usize) {
        self.heap.clear();
        self.limit = limit.max(1);
    }

    /// Whether `limit` estimates are kept and `bound` is at or above every one of them
    /// (so a row whose distance is at least `bound` cannot be among the best).
    #[inline]
    fn is_beaten_by(&self, bound: f32) -> bool {
        self.heap.len() >= self.limit && self.heap.peek().is_some_and(|&worst| total_order_key(bound) >= worst)
    }

    /// Keeps `estimate` if it is among the `limit` smallest so far; whether it was.
    #[inline]
    fn offer(&mut self, estimate: f32) -> bool {
        let key = total_order_key(estimate);
        if self.heap.len() < self.limit {
            self.heap.push(key);
            return true;
        }
        match self.heap.peek_mut() {
            Some(mut worst) if key < *worst => {
                *worst = key;
                true
            }
            _ => false,
        }
    }
}

/// Estimates stage 1 compares with the shortlist's bar at once before looking at any
/// of them alone (about 1 row in 40 passes it on the MiniLM dev set).
const SKIP_RUN: usize = 8;

/// Whether any of `run` is below `bar` (NaN never is), without a branch per estimate.
#[inline(always)]
fn any_below(run: &[f32; SKIP_RUN], bar: f32) -> bool {
    run.iter().fold(false, |any, &d| any | (d < bar))
}

/// How many candidates ahead of the exact re-rank their vectors are prefetched.
const RERANK_PREFETCH_AHEAD: usize = 2;

/// How many lists ahead of the scan a probed search starts each of its dependent
/// fetches (see [`prefetch_lists_ahead`]).
const PREFETCH_LIST_ENTRIES_AHEAD: usize = 8;
const PREFETCH_READERS_AHEAD: usize = 4;
const PREFETCH_METADATA_AHEAD: usize = 2;
const PREFETCH_SCAN_START_AHEAD: usize = 1;

/// Starts the cache misses of the lists a scan at `lists[i]` reaches next. What a list
/// scan reads first is a chain of pointers — the list's entry, its shard readers, their
/// row-group headers, then the first code and factor lines in the map — cold by then
/// when a probe's lists do not fit the cache; each link is prefetched a few lists
/// before the next one is read, so every step finds the line it follows in cache.
fn prefetch_lists_ahead(routing: &crate::index::routing::RoutingSnapshot, lists: &[(usize, f32)], i: usize) {
    if let Some(&(ahead, _)) = lists.get(i + PREFETCH_LIST_ENTRIES_AHEAD) {
        crate::kernels::prefetch(routing.lists[ahead].as_ptr());
    }
    if let Some(&(ahead, _)) = lists.get(i + PREFETCH_READERS_AHEAD) {
        routing.lists[ahead].iter().for_each(ShardReader::prefetch_reader);
    }
    if let Some(&(ahead, _)) = lists.get(i + PREFETCH_METADATA_AHEAD) {
        routing.lists[ahead].iter().for_each(|s| s.prefetch_metadata());
    }
    if let Some(&(next, _)) = lists.get(i + PREFETCH_SCAN_START_AHEAD) {
        routing.lists[next].iter().for_each(|s| s.prefetch_scan_start());
    }
}

/// An estimate with the (list, position in list) of its shard.
type Located = (Approximate, (u32, u32));

/// Stages 1 and 2 for a large probe: the lists are split over rayon's threads, each
/// estimating its share with its own buffers and a clone of the prepared `bit_query`;
/// the `cap` best estimates of all of them are then re-ranked exactly into `top`.
#[allow(clippy::too_many_arguments)]
fn rerank_parallel(
    st: &CollectionVersion,
    metric: Metric,
    q: &[f32],
    lists: &[(usize, f32)],
    bits: usize,
    bit_query: &BitQuery,
    cap: usize,
    limit: usize,
    buffers: &mut RerankBuffers,
    top: &mut TopK,
    trace: &mut Trace,
) -> Result<()> {
    use rayon::prelude::*;
    let routing = &st.routing;
    let parts = rayon::current_num_threads().min(lists.len()).max(1);
    let per_part: Vec<Result<(Vec<Located>, bool, Trace)>> = lists
        .par_chunks(lists.len().div_ceil(parts))
        .map(|chunk| {
            let (mut bq, mut cq) = (bit_query.clone(), CodeQuery::default());
            cq.set_query(metric, q);
            let (mut distances, mut views, mut shards, mut coarse) = (Vec::new(), Vec::new(), Vec::new(), Shortlist::default());
            coarse.reset(cap);
            let mut part_trace = Trace::default();
            let mut stage = Stage {
                bit_query: &mut bq,
                code_query: &mut cq,
                distances: &mut distances,
                views: &mut views,
                shards: &mut shards,
                coarse: &mut coarse,
                patience: None,
                bounds_only: true,
                masking: None,
                trace: &mut part_trace,
            };
            estimate_lists(st, chunk, bits, &mut stage)?;
            let bounds_only = stage.bounds_only;
            coarse.shrink();
            Ok((coarse.entries.iter().map(|a| (*a, shards[a.shard as usize])).collect(), bounds_only, part_trace))
        })
        .collect();
    let (mut all, mut stoppable) = (Vec::new(), true);
    for part in per_part {
        let (located, bounds_only, part_trace) = part?;
        all.extend(located);
        stoppable &= bounds_only;
        trace.add(&part_trace);
    }
    if all.len() > cap {
        all.select_nth_unstable_by(cap, |a, b| a.0.distance.total_cmp(&b.0.distance));
        all.truncate(cap);
    }
    // One view per candidate (a few dozen clones of an `Arc`), indexed like the
    // sequential path's.
    let mut views = Vec::with_capacity(all.len());
    let mut shards = Vec::with_capacity(all.len());
    let mut ordered = Vec::with_capacity(all.len());
    for (a, (list, j)) in all {
        ordered.push(Approximate { shard: views.len() as u32, ..a });
        views.push(routing.lists[list as usize][j as usize].mapped()?);
        shards.push((list, j));
    }
    ordered.sort_unstable();
    rerank(st, metric, q, &ordered, &views, &shards, stoppable, limit, buffers, top, trace)
}

/// Stages 2 and 3: `ordered` (stage-1 candidates, lowest bound first) re-ranked into
/// `top` with exact distances, reading as few vectors as the bounds allow.
///
/// Stage 2 walks the candidates while their stage-1 bound is below the `limit`-th
/// smallest upper bound seen (or, with `stoppable` false, all of them): a candidate of
/// a group with SQ4 codes gets the statistical interval `distance ± (slack +
/// SQ4_SIGMAS × error)`, whose upper end joins the upper bounds and whose lower end queues it; any
/// other is read exactly at once. Stage 3 reads the queued vectors, lowest SQ4 bound
/// first, until that bound cannot beat the `limit`-th exact distance. Each vector's
/// CRC is checked as it is read (`ShardReader::vector_for_rerank`).
#[allow(clippy::too_many_arguments)]
fn rerank(
    st: &CollectionVersion,
    metric: Metric,
    q: &[f32],
    ordered: &[Approximate],
    views: &[MmapView],
    shards: &[(u32, u32)],
    stoppable: bool,
    limit: usize,
    buffers: &mut RerankBuffers,
    top: &mut TopK,
    trace: &mut Trace,
) -> Result<()> {
    let RerankBuffers { sq4_query, upper, refine, vector } = buffers;
    let vector_bytes = q.len() as u64 * 4;
    let shard_of = |a: &Approximate| {
        let (list, j) = shards[a.shard as usize];
        (&st.routing.lists[list as usize][j as usize], &views[a.shard as usize])
    };
    let exact = |a: &Approximate, vector: &mut Vec<f32>, top: &mut TopK| -> Result<f32> {
        let (shard, view) = shard_of(a);
        let columns = shard.row_group_for_search(view, a.group as usize)?;
        let r = a.row as usize;
        let dist = distance::distance(metric, q, shard.vector_for_rerank(view, &columns, a.group as usize, r, vector)?);
        top.offer(Candidate { distance: dist, document_id: columns.document_id(r), span: columns.span(r), row_id: columns.row_id(r) });
        Ok(dist)
    };
    sq4_query.prepare(metric, q);
    upper.reset(limit);
    refine.clear();
    // Stage 2.
    let prefetch_codes = |a: &Approximate| {
        let (shard, view) = shard_of(a);
        shard.prefetch_sq4(view, a.group as usize, a.row as usize);
    };
    visit_prefetched(ordered, prefetch_codes, |a| {
        if stoppable && (a.distance >= top.threshold() || upper.is_beaten_by(a.distance)) {
            return Ok(false);
        }
        let (shard, view) = shard_of(a);
        let columns = shard.row_group_for_search(view, a.group as usize)?;
        if columns.has_sq4() {
            let (code, base, step) = columns.sq4(a.row as usize);
            trace.bytes += code.len() as u64 + 8;
            let e = sq4_query.estimate(code, base, step);
            upper.offer(e.upper(SQ4_SIGMAS));
            refine.push(Approximate { distance: e.lower(SQ4_SIGMAS), ..*a });
        } else {
            let dist = exact(a, vector, top)?;
            trace.reranked += 1;
            trace.bytes += vector_bytes;
            upper.offer(dist);
        }
        Ok(true)
    })?;
    // Stage 3.
    refine.sort_unstable();
    let prefetch_vector = |a: &Approximate| {
        let (shard, view) = shard_of(a);
        shard.prefetch_vector(view, a.group as usize, a.row as usize);
    };
    visit_prefetched(refine, prefetch_vector, |a| {
        if a.distance >= top.threshold() {
            return Ok(false);
        }
        exact(a, vector, top)?;
        trace.reranked += 1;
        trace.bytes += vector_bytes;
        Ok(true)
    })
}

/// Visits `items` in order until `visit` answers `false`, first starting the memory
/// reads of the item [`RERANK_PREFETCH_AHEAD`] places ahead with `prefetch`: each
/// candidate's first read is a cache miss in another shard's pages, and the next ones'
/// then overlap the current one's.
fn visit_prefetched(
    items: &[Approximate],
    prefetch: impl Fn(&Approximate),
    mut visit: impl FnMut(&Approximate) -> Result<bool>,
) -> Result<()> {
    items.iter().skip(1).take(RERANK_PREFETCH_AHEAD - 1).for_each(&prefetch);
    for (i, a) in items.iter().enumerate() {
        if let Some(ahead) = items.get(i + RERANK_PREFETCH_AHEAD) {
            prefetch(ahead);
        }
        if !visit(a)? {
            break;
        }
    }
    Ok(())
}

/// Keeps the first (closest) candidate of each document, up to `k` documents.
pub(crate) fn one_per_document(sorted: Vec<Candidate>, k: usize) -> Vec<Candidate> {
    let mut seen = HashSet::with_capacity(k);
    sorted.into_iter().filter(|c| seen.insert(c.document_id)).take(k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_closest_in_order() {
        let mut top = TopK::new(3);
        for (i, d) in [5.0, 1.0, 4.0, 0.5, 3.0, 2.0].into_iter().enumerate() {
            top.offer(Candidate { distance: d, document_id: i as u128, span: [0, 0], row_id: i as u64 });
        }
        let got: Vec<f32> = top.into_sorted().iter().map(|c| c.distance).collect();
        assert_eq!(got, vec![0.5, 1.0, 2.0]);
    }

    #[test]
    fn a_shortlist_keeps_exactly_the_smallest_estimates_in_order() {
        let mut rng = crate::kernels::kmeans::SplitMix::new(7);
        for cap in [1, 3, 80] {
            let offered: Vec<Approximate> = (0..1_000)
                .map(|i| Approximate { distance: (rng.next_u64() % 500) as f32, shard: i % 7, group: 0, row: i })
                .collect();
            let mut list = Shortlist::default();
            list.reset(cap);
            offered.iter().for_each(|a| list.offer(*a));
            let mut got = Vec::new();
            list.drain_sorted(&mut got);
            let mut expected = offered.clone();
            expected.sort_unstable();
            expected.truncate(cap);
            // Ties at the bar may keep either of the equal estimates.
            let distances = |v: &[Approximate]| v.iter().map(|a| a.distance).collect::<Vec<_>>();
            assert_eq!(distances(&got), distances(&expected), "cap {cap}");
            assert!(got.iter().all(|a| offered.contains(a)));
        }
    }

    #[test]
    fn a_shortlist_with_fewer_offers_than_its_cap_keeps_them_all() {
        let mut list = Shortlist::default();
        list.reset(10);
        for (i, d) in [3.0, 1.0, 2.0].into_iter().enumerate() {
            list.offer(Approximate { distance: d, shard: 0, group: 0, row: i as u32 });
        }
        assert_eq!(list.bar(), f32::INFINITY);
        let mut got = Vec::new();
        list.drain_sorted(&mut got);
        assert_eq!(got.iter().map(|a| a.distance).collect::<Vec<_>>(), vec![1.0, 2.0, 3.0]);
    }
}
