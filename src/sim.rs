//! `drift sim`: replays a dataset as a stream whose distribution moves, and measures the
//! index as it goes against a fresh rebuild of the same rows.
//!
//! The stream (seeded, deterministic):
//! - **Topics arrive in phases.** Every base row has a topic (given, or one of
//!   [`SimOptions::derived_topics`] k-means clusters of a sample). The topics are
//!   shuffled by the seed and cut into [`SimOptions::phases`] groups; phase `p` adds the
//!   rows of group `p`, topic by topic, so the index is first built on the first topics
//!   alone and later topics are a real shift.
//! - **Churn after every phase.** A share of the live documents never touched before is
//!   removed (half) or replaced by an upsert with a re-embedded vector (half: the
//!   midpoint of its vector and one of the current phase's rows, so replaced documents
//!   move towards the new topics), chosen so that by the end [`SimOptions::churn`] of
//!   the rows ever added were removed or replaced.
//! - **Maintenance** (`Database::flush`, then `Database::maintain`) runs every
//!   [`SimOptions::maintain_every_rows`] rows and after each churn step, with the
//!   background threads off so its cost is measured where it runs; a thread searches
//!   meanwhile, for the latency under maintenance.
//!
//! At each checkpoint (the end of a phase, after its churn and maintenance):
//! recall@k at default search settings against exact neighbours over the live rows,
//! the same for a database rebuilt from scratch from those rows, queries/s of both
//! (one thread), the centroid count and list sizes, shard bytes against the rebuild's
//! (what the live rows take when written fresh), CPU seconds of ingest and of
//! maintenance, and search latency idle and while maintenance ran.
//!
//! Invariant: every checkpoint also checks the collection against the model — every
//! live document exactly once, with its current vector, and nothing else — and fails
//! the run with an error naming the first difference.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::kernels::distance;
use crate::kernels::kmeans::{self, SplitMix};
use crate::{Collection, Database, DatabaseOptions, DocumentId, Metric, Posting, SearchOptions};

/// What to replay: base rows, queries and (optionally) a topic per base row.
#[derive(Debug, Clone)]
pub struct SimData {
    /// Vector dimension.
    pub dimension: usize,
    /// Base rows, row-major.
    pub base: Vec<f32>,
    /// Query rows, row-major.
    pub queries: Vec<f32>,
    /// A topic label per base row; `None`: derived by k-means.
    pub topics: Option<Vec<String>>,
}

/// How to replay it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimOptions {
    /// Phases (checkpoints) the topics are cut into.
    pub phases: usize,
    /// Share of the rows ever added that are removed or replaced by the end.
    pub churn: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Queries measured at each checkpoint (the first ones of the query set).
    pub queries: usize,
    /// Neighbours per query (recall@k).
    pub k: usize,
    /// Distance metric of the collection.
    pub metric: Metric,
    /// Topics derived by k-means when the data has none.
    pub derived_topics: usize,
    /// Rows per `add` call.
    pub batch_rows: usize,
    /// Rows added between two maintenance runs within a phase.
    pub maintain_every_rows: usize,
    /// Options of both databases (background threads are turned off).
    pub database: DatabaseOptions,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            phases: 5,
            churn: 0.5,
            seed: 1,
            queries: 300,
            k: 10,
            metric: Metric::L2,
            derived_topics: 20,
            batch_rows: 1_000,
            maintain_every_rows: 10_000,
            database: DatabaseOptions::default(),
        }
    }
}

/// Percentiles of a list-size (or latency) distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
        Spread { min: values[0], median: at(0.5), p99: at(0.99), max: values[values.len() - 1] }
    }
}

/// The measurements of one checkpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimCheckpoint {
    /// Phase just completed (1-based).
    pub phase: usize,
    /// Topics added so far.
    pub topics: usize,
    /// Documents live.
    pub live_rows: u64,
    /// Rows ever added (replacements not counted).
    pub rows_added: u64,
    /// Rows removed or replaced so far.
    pub rows_churned: u64,
    /// Recall@k of the collection at default settings.
    pub recall: f64,
    /// Recall@k of a fresh rebuild of the live rows.
    pub rebuild_recall: f64,
    /// Queries/s of the collection, one thread.
    pub qps: f64,
    /// Queries/s of the rebuild, one thread.
    pub rebuild_qps: f64,
    /// Centroids of the collection's index.
    pub lists: usize,
    /// Centroids of the rebuild's index.
    pub rebuild_lists: usize,
    /// Rows per list.
    pub list_rows: Spread,
    /// Shard bytes of the collection.
    pub shard_bytes: u64,
    /// Shard bytes of the rebuild (the live rows written fresh).
    pub live_bytes: u64,
    /// CPU seconds spent adding, replacing, removing and flushing, so far.
    pub ingest_cpu: f64,
    /// CPU seconds spent in `maintain`, so far.
    pub maintenance_cpu: f64,
    /// Search latency (µs) with nothing else running.
    pub idle_latency_us: Spread,
    /// Search latency (µs) while this phase's maintenance ran.
    pub busy_latency_us: Spread,
    /// Searches timed while maintenance ran.
    pub busy_searches: usize,
    /// What maintenance did so far: (splits, merges, reassignments, consolidations,
    /// compactions).
    pub maintenance_steps: (usize, usize, usize, usize, usize),
    /// Rows maintenance wrote again so far (flushes not counted).
    pub rows_rewritten: u64,
    /// Rows written so far by ingest: adds and replacements.
    pub rows_ingested: u64,
    /// The largest share of the collection one maintenance step wrote so far: its rows
    /// over the rows the collection stored when it ran (deleted ones not yet removed
    /// included).
    pub largest_step_share: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimReport {
    /// One per phase.
    pub checkpoints: Vec<SimCheckpoint>,
    /// Topics of the data (given or derived).
    pub topics: usize,
    /// Whether the topics were derived by k-means.
    pub derived_topics: bool,
}

/// Process CPU time (user + system), seconds, every thread's (Linux: `/proc`, in
/// ticks of 10 ms; elsewhere 0).
fn cpu_seconds() -> f64 {
    proc_cpu_seconds("/proc/self/stat")
}

/// CPU time of the calling thread, seconds (as [`cpu_seconds`]).
fn thread_cpu_seconds() -> f64 {
    proc_cpu_seconds("/proc/thread-self/stat")
}

/// utime + stime of a `/proc/…/stat` file (fields 14 and 15, after the command name
/// in parentheses), at the kernel's fixed 100 ticks per second of that interface.
fn proc_cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else { return 0.0 };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return 0.0 };
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th
    // and 13th.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

/// The live rows the simulation expects the collection to hold.
struct Model {
    d: usize,
    /// Document ids (= base row) live, in no order.
    live: Vec<u64>,
    /// Position of a live document in `live`.
    position: HashMap<u64, usize>,
    /// Vectors of replaced documents.
    replaced: HashMap<u64, Vec<f32>>,
    /// Documents removed or replaced (never chosen again).
    touched: std::collections::HashSet<u64>,
}

impl Model {
    fn new(d: usize) -> Model {
        Model { d, live: Vec::new(), position: HashMap::new(), replaced: HashMap::new(), touched: Default::default() }
    }

    /// The model after `write` (removed and replaced documents are never chosen again).
    fn apply(&mut self, write: &SimWrite) {
        match write {
            SimWrite::Add(docs) => docs.iter().for_each(|&doc| self.insert(doc)),
            SimWrite::Remove(docs) => {
                for &doc in docs {
                    self.remove(doc);
                    self.touched.insert(doc);
                }
            }
            SimWrite::Upsert(doc, v) => {
                self.replaced.insert(*doc, v.clone());
                self.touched.insert(*doc);
            }
        }
    }

    fn vector<'a>(&'a self, base: &'a [f32], doc: u64) -> &'a [f32] {
        match self.replaced.get(&doc) {
            Some(v) => v,
            None => &base[doc as usize * self.d..(doc as usize + 1) * self.d],
        }
    }

    fn insert(&mut self, doc: u64) {
        self.position.insert(doc, self.live.len());
        self.live.push(doc);
    }

    fn remove(&mut self, doc: u64) {
        let at = self.position.remove(&doc).expect("removed document is live");
        self.live.swap_remove(at);
        if let Some(&moved) = self.live.get(at) {
            self.position.insert(moved, at);
        }
    }
}

/// One write of a simulated run, in the order the run makes them.
#[derive(Debug, Clone, PartialEq)]
pub enum SimWrite {
    /// Documents added, each with one posting: its base row (normalised for cosine).
    Add(Vec<u64>),
    /// Documents removed.
    Remove(Vec<u64>),
    /// A document re-embedded: its one posting replaced by this vector.
    Upsert(u64, Vec<f32>),
}

/// What a run does, in order.
enum Event {
    Write(SimWrite),
    /// `flush`, then `maintain` with a thread searching.
    Maintain,
    /// The end of a phase (after its churn and maintenance): measure.
    Checkpoint { phase: usize },
}

/// The writes a run with `options` makes over `data`, in order, without running it (a
/// crash test rebuilds any prefix of the stream from them).
///
/// ```
/// let data = drift::sim::SimData { dimension: 1, base: (0..100).map(|i| i as f32).collect(), queries: vec![0.0], topics: None };
/// let writes = drift::sim::writes(&data, &drift::sim::SimOptions::default())?;
/// assert!(matches!(writes[0], drift::sim::SimWrite::Add(_)));
/// # Ok::<(), drift::Error>(())
/// ```
pub fn writes(data: &SimData, options: &SimOptions) -> Result<Vec<SimWrite>> {
    check(data, options)?;
    let prepared = Prepared::new(data, options);
    Ok(events(&prepared, options)
        .into_iter()
        .filter_map(|e| match e {
            Event::Write(w) => Some(w),
            _ => None,
        })
        .collect())
}

/// Base and queries as the run uses them (normalised for cosine) and the rows' topics.
struct Prepared {
    d: usize,
    base: Vec<f32>,
    queries: Vec<f32>,
    topic_of: Vec<usize>,
    topic_count: usize,
    derived: bool,
}

impl Prepared {
    fn new(data: &SimData, options: &SimOptions) -> Prepared {
        let d = data.dimension;
        let mut base = data.base.clone();
        let mut queries = data.queries.clone();
        if options.metric == Metric::Cosine {
            base.chunks_mut(d).chain(queries.chunks_mut(d)).for_each(|v| {
                distance::normalize(v);
            });
        }
        queries.truncate(options.queries.min(queries.len() / d) * d);
        let (topic_of, topic_count, derived) = topics(data, &base, options);
        Prepared { d, base, queries, topic_of, topic_count, derived }
    }

    fn phases(&self, options: &SimOptions) -> usize {
        options.phases.min(self.topic_count).max(1)
    }
}

/// The seeded stream: topics shuffled and cut into phases, each phase's rows added in
/// batches (maintenance every `maintain_every_rows`), then its churn, maintenance and
/// a checkpoint.
fn events(p: &Prepared, options: &SimOptions) -> Vec<Event> {
    let mut rng = SplitMix::new(options.seed);
    let mut order: Vec<usize> = (0..p.topic_count).collect();
    shuffle(&mut order, &mut rng);
    let phases = p.phases(options);
    let mut by_topic: Vec<Vec<u64>> = vec![Vec::new(); p.topic_count];
    for (row, &t) in p.topic_of.iter().enumerate() {
        by_topic[t].push(row as u64);
    }
    let mut model = Model::new(p.d);
    let mut out = Vec::new();
    let (mut rows_added, mut churned) = (0u64, 0u64);
    let batch = options.batch_rows.max(1);
    for phase in 0..phases {
        let phase_topics = &order[phase * p.topic_count / phases..(phase + 1) * p.topic_count / phases];
        let rows: Vec<u64> = phase_topics.iter().flat_map(|&t| by_topic[t].iter().copied()).collect();
        let mut since_maintenance = 0;
        for chunk in rows.chunks(batch) {
            let write = SimWrite::Add(chunk.to_vec());
            model.apply(&write);
            out.push(Event::Write(write));
            rows_added += chunk.len() as u64;
            since_maintenance += chunk.len();
            if since_maintenance >= options.maintain_every_rows {
                since_maintenance = 0;
                out.push(Event::Maintain);
            }
        }
        // Churn: removed or replaced so far = churn × rows added so far.
        let due = ((options.churn * rows_added as f64).round() as u64).saturating_sub(churned);
        let mut candidates: Vec<u64> = model.live.iter().copied().filter(|doc| !model.touched.contains(doc)).collect();
        candidates.sort_unstable();
        shuffle(&mut candidates, &mut rng);
        candidates.truncate(due as usize);
        let (remove, replace) = candidates.split_at(candidates.len() / 2);
        let mut write = |model: &mut Model, write: SimWrite| {
            model.apply(&write);
            out.push(Event::Write(write));
        };
        for chunk in remove.chunks(batch) {
            write(&mut model, SimWrite::Remove(chunk.to_vec()));
        }
        // A removed document keeps its vector in the model's eyes, and a replaced one
        // is seen by the midpoints after it: the stream depends only on the seed.
        for &doc in replace {
            let other = rows[rng.below(rows.len())];
            let mut v: Vec<f32> = model.vector(&p.base, doc).iter().zip(model.vector(&p.base, other)).map(|(a, b)| (a + b) / 2.0).collect();
            if options.metric == Metric::Cosine {
                distance::normalize(&mut v);
            }
            write(&mut model, SimWrite::Upsert(doc, v));
        }
        churned += candidates.len() as u64;
        out.push(Event::Maintain);
        out.push(Event::Checkpoint { phase });
    }
    out
}

/// Runs the simulation in `dir` (created; the collection's database and each
/// checkpoint's rebuild live under it) and returns what it measured.
///
/// ```no_run
/// let data = drift::sim::SimData { dimension: 2, base: vec![0.0; 2_000], queries: vec![0.0; 20], topics: None };
/// let report = drift::sim::run(&data, &drift::sim::SimOptions::default(), std::path::Path::new("sim-dir"))?;
/// println!("{}", report.table());
/// # Ok::<(), drift::Error>(())
/// ```
pub fn run(data: &SimData, options: &SimOptions, dir: &Path) -> Result<SimReport> {
    check(data, options)?;
    let p = Prepared::new(data, options);
    let (d, base, queries) = (p.d, &p.base, &p.queries[..]);
    let phases = p.phases(options);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let db_options = options.database.clone().with_background_threads(false);
    let db = Database::open(dir.join("db"), db_options.clone())?;
    let c = db.create_collection("sim", d, options.metric)?;
    let mut model = Model::new(d);
    let mut report = SimReport { topics: p.topic_count, derived_topics: p.derived, ..SimReport::default() };
    let (mut ingest_cpu, mut maintenance_cpu) = (0.0, 0.0);
    // CPU of a run of writes is read once, at its end (the next event that is not one).
    let mut writing_since: Option<f64> = None;
    let (mut rows_added, mut churned) = (0u64, 0u64);
    let mut steps = Steps::default();
    let mut busy = Vec::new();
    for event in events(&p, options) {
        if !matches!(event, Event::Write(_))
            && let Some(started) = writing_since.take()
        {
            ingest_cpu += cpu_seconds() - started;
        }
        match event {
            Event::Write(write) => {
                writing_since.get_or_insert_with(cpu_seconds);
                match &write {
                    SimWrite::Add(docs) => {
                        let postings: Vec<Posting<'_>> = docs.iter().map(|&doc| Posting::new(doc, model.vector(base, doc))).collect();
                        c.add(&postings)?;
                        rows_added += docs.len() as u64;
                    }
                    SimWrite::Remove(docs) => {
                        let ids: Vec<DocumentId> = docs.iter().map(|&doc| DocumentId::from(doc)).collect();
                        c.remove(&ids)?;
                        churned += docs.len() as u64;
                    }
                    SimWrite::Upsert(doc, v) => {
                        c.upsert(DocumentId::from(*doc), &[Posting::new(*doc, v)])?;
                        churned += 1;
                    }
                }
                model.apply(&write);
            }
            Event::Maintain => maintain(&db, &c, queries, options, &mut ingest_cpu, &mut maintenance_cpu, &mut steps, &mut busy)?,
            Event::Checkpoint { phase } => {
                check_model(&c, &model, base, &dir.join("db"))?;
                let truth = exact_neighbours(&model, base, queries, options);
                let (recall, qps) = measure(&c, queries, &truth, options)?;
                let idle = latencies(&c, queries, options, None)?;
                let stats = c.stats();
                let rebuilt = rebuild(&model, base, queries, &truth, options, &dir.join(format!("rebuild-{}", phase + 1)), &db_options)?;
                report.checkpoints.push(SimCheckpoint {
                    phase: phase + 1,
                    topics: (phase + 1) * p.topic_count / phases,
                    live_rows: model.live.len() as u64,
                    rows_added,
                    rows_churned: churned,
                    recall,
                    rebuild_recall: rebuilt.recall,
                    qps,
                    rebuild_qps: rebuilt.qps,
                    lists: stats.centroids,
                    rebuild_lists: rebuilt.lists,
                    list_rows: Spread::of(stats.list_rows.iter().map(|&r| r as f64).collect()),
                    shard_bytes: stats.shard_bytes,
                    live_bytes: rebuilt.shard_bytes,
                    ingest_cpu,
                    maintenance_cpu,
                    idle_latency_us: Spread::of(idle),
                    busy_searches: busy.len(),
                    busy_latency_us: Spread::of(std::mem::take(&mut busy)),
                    maintenance_steps: steps.counts,
                    rows_rewritten: steps.rows_rewritten,
                    rows_ingested: rows_added + model.replaced.len() as u64,
                    largest_step_share: steps.largest_share,
                });
            }
        }
    }
    db.close()?;
    Ok(report)
}

fn check(data: &SimData, options: &SimOptions) -> Result<()> {
    let d = data.dimension;
    if d == 0 || !data.base.len().is_multiple_of(d) || !data.queries.len().is_multiple_of(d) {
        return Err(Error::invalid(format!("sim: base ({} floats) and queries ({} floats) must be whole rows of dimension {d}", data.base.len(), data.queries.len())));
    }
    let n = data.base.len() / d;
    if n == 0 || data.queries.is_empty() || options.queries == 0 {
        return Err(Error::invalid("sim: needs base rows and at least one query"));
    }
    if let Some(t) = &data.topics
        && t.len() != n
    {
        return Err(Error::invalid(format!("sim: {} topic labels for {n} base rows; one label per row is needed", t.len())));
    }
    if !(0.0..=0.9).contains(&options.churn) {
        return Err(Error::invalid(format!("sim: churn {} is outside 0..=0.9", options.churn)));
    }
    if options.phases == 0 || options.k == 0 || options.derived_topics == 0 {
        return Err(Error::invalid("sim: phases, k and derived topics must be at least 1"));
    }
    Ok(())
}

/// Each row's topic index, the topic count, and whether they were derived.
fn topics(data: &SimData, base: &[f32], options: &SimOptions) -> (Vec<usize>, usize, bool) {
    let d = data.dimension;
    let n = base.len() / d;
    match &data.topics {
        Some(labels) => {
            let mut names: Vec<&String> = labels.iter().collect();
            names.sort();
            names.dedup();
            let index: HashMap<&String, usize> = names.iter().enumerate().map(|(i, s)| (*s, i)).collect();
            (labels.iter().map(|l| index[l]).collect(), names.len(), false)
        }
        None => {
            let points: Vec<usize> = (0..n).collect();
            let centroids = kmeans::train(base, d, &points, options.derived_topics.min(n), 10, 20_000, options.seed);
            let assigned = kmeans::assign(base, d, &centroids);
            (assigned.into_iter().map(|t| t as usize).collect(), centroids.len() / d, true)
        }
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut SplitMix) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// What maintenance did over the run.
#[derive(Default)]
struct Steps {
    /// (splits, merges, reassignments, consolidations, compactions).
    counts: (usize, usize, usize, usize, usize),
    rows_rewritten: u64,
    largest_share: f64,
}

/// Flushes (ingest) then maintains (maintenance) while a thread searches, appending
/// the latencies it saw to `busy`.
#[allow(clippy::too_many_arguments)] // the run's counters, updated in place
fn maintain(
    db: &Database,
    c: &Collection,
    queries: &[f32],
    options: &SimOptions,
    ingest_cpu: &mut f64,
    maintenance_cpu: &mut f64,
    steps: &mut Steps,
    busy: &mut Vec<f64>,
) -> Result<()> {
    let started = cpu_seconds();
    db.flush()?;
    *ingest_cpu += cpu_seconds() - started;
    let done = AtomicBool::new(false);
    let started = cpu_seconds();
    let (result, (seen, searcher_cpu)) = std::thread::scope(|s| {
        let searcher = s.spawn(|| {
            let cpu = thread_cpu_seconds();
            let seen = latencies(c, queries, options, Some(&done));
            (seen, thread_cpu_seconds() - cpu)
        });
        let result = db.maintain(Duration::from_secs(24 * 3600));
        done.store(true, Ordering::Release);
        (result, searcher.join().expect("the searching thread does not panic"))
    });
    *maintenance_cpu += (cpu_seconds() - started - searcher_cpu).max(0.0);
    let done = result?;
    steps.counts.0 += done.splits;
    steps.counts.1 += done.merges;
    steps.counts.2 += done.reassignments;
    steps.counts.3 += done.consolidations;
    steps.counts.4 += done.compactions;
    steps.rows_rewritten += done.rows_rewritten;
    steps.largest_share = steps.largest_share.max(done.largest_step_rows as f64 / done.rows_stored_at_largest_step.max(1) as f64);
    busy.extend(seen?);
    Ok(())
}

/// Latencies (µs) of searches over `queries`: until `until` is set (at least one), or
/// once through the queries.
fn latencies(c: &Collection, queries: &[f32], options: &SimOptions, until: Option<&AtomicBool>) -> Result<Vec<f64>> {
    let d = c.dimension();
    let search = SearchOptions::new(options.k);
    let mut out = Vec::new();
    for q in queries.chunks(d).cycle() {
        let started = Instant::now();
        c.search(q, &search)?;
        out.push(started.elapsed().as_secs_f64() * 1e6);
        match until {
            Some(flag) if flag.load(Ordering::Acquire) => break,
            None if out.len() * d >= queries.len() => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Exact top-k document ids of every query over the model's live rows.
fn exact_neighbours(model: &Model, base: &[f32], queries: &[f32], options: &SimOptions) -> Vec<Vec<u64>> {
    use rayon::prelude::*;
    queries
        .par_chunks(model.d)
        .map(|q| {
            let mut scored: Vec<(f32, u64)> = model.live.iter().map(|&doc| (distance::distance(options.metric, q, model.vector(base, doc)), doc)).collect();
            let k = options.k.min(scored.len());
            if k == 0 {
                return Vec::new();
            }
            scored.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            scored.truncate(k);
            scored.into_iter().map(|(_, doc)| doc).collect()
        })
        .collect()
}

/// Recall@k against `truth` and queries/s, one thread, default settings.
fn measure(c: &Collection, queries: &[f32], truth: &[Vec<u64>], options: &SimOptions) -> Result<(f64, f64)> {
    let search = SearchOptions::new(options.k);
    let started = Instant::now();
    let mut found = 0usize;
    let mut wanted = 0usize;
    for (q, want) in queries.chunks(c.dimension()).zip(truth) {
        let hits = c.search(q, &search)?;
        found += hits.iter().filter(|h| want.iter().any(|&doc| DocumentId::from(doc) == h.document_id)).count();
        wanted += want.len();
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    Ok((found as f64 / wanted.max(1) as f64, truth.len() as f64 / elapsed))
}

/// The collection holds every live document exactly once with its current vector.
fn check_model(c: &Collection, model: &Model, base: &[f32], path: &Path) -> Result<()> {
    let differs = |what: String| Error::corrupt(path, 0, format!("the collection differs from what was written: {what}"));
    let stored = c.export()?;
    let mut seen = std::collections::HashSet::new();
    for p in &stored {
        let doc = u64::try_from(p.document_id.0).map_err(|_| differs(format!("unexpected document {}", p.document_id.0)))?;
        if !seen.insert(doc) {
            return Err(differs(format!("document {doc} is stored more than once")));
        }
        if !model.position.contains_key(&doc) {
            return Err(differs(format!("document {doc} is stored but was removed")));
        }
        if p.vector != model.vector(base, doc) {
            return Err(differs(format!("document {doc} has a stale vector")));
        }
    }
    if seen.len() != model.live.len() {
        return Err(differs(format!("{} documents stored, {} live", seen.len(), model.live.len())));
    }
    Ok(())
}

struct Rebuilt {
    recall: f64,
    qps: f64,
    lists: usize,
    shard_bytes: u64,
}

/// A database built from scratch from the live rows (in `dir`, deleted after).
fn rebuild(model: &Model, base: &[f32], queries: &[f32], truth: &[Vec<u64>], options: &SimOptions, dir: &Path, db_options: &DatabaseOptions) -> Result<Rebuilt> {
    let _ = std::fs::remove_dir_all(dir);
    let db = Database::open(dir, db_options.clone())?;
    let c = db.create_collection("rebuild", model.d, options.metric)?;
    let mut live = model.live.clone();
    live.sort_unstable();
    for chunk in live.chunks(options.batch_rows.max(1)) {
        let postings: Vec<Posting<'_>> = chunk.iter().map(|&doc| Posting::new(doc, model.vector(base, doc))).collect();
        c.add(&postings)?;
    }
    db.flush()?;
    db.maintain(Duration::from_secs(24 * 3600))?;
    let (recall, qps) = measure(&c, queries, truth, options)?;
    let stats = c.stats();
    db.close()?;
    std::fs::remove_dir_all(dir).map_err(|e| Error::io("remove directory", dir, e))?;
    Ok(Rebuilt { recall, qps, lists: stats.centroids, shard_bytes: stats.shard_bytes })
}

impl SimReport {
    /// The checkpoints as a terminal table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>5} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8} {:>6} {:>6} {:>5} {:>22} {:>8} {:>9} {:>9} {:>15} {:>15} {:>19} {:>7} {:>6}",
            "phase", "topics", "live", "churned", "recall", "rebuild", "qps", "×rbld", "lists", "rbld", "list min/med/p99/max", "disk/liv", "ingest s", "maint s", "idle p50/p99µs", "maint p50/p99µs", "spl/mrg/rea/cns/cmp", "rewr/in", "step%"
        );
        for c in &self.checkpoints {
            let _ = writeln!(
                out,
                "{:>5} {:>6} {:>7} {:>7} {:>7.4} {:>8.4} {:>8.0} {:>6.2} {:>6} {:>5} {:>22} {:>8.2} {:>9.2} {:>9.2} {:>15} {:>15} {:>19} {:>7.2} {:>6.1}",
                c.phase,
                c.topics,
                c.live_rows,
                c.rows_churned,
                c.recall,
                c.rebuild_recall,
                c.qps,
                c.qps / c.rebuild_qps.max(1e-9),
                c.lists,
                c.rebuild_lists,
                format!("{:.0}/{:.0}/{:.0}/{:.0}", c.list_rows.min, c.list_rows.median, c.list_rows.p99, c.list_rows.max),
                c.shard_bytes as f64 / c.live_bytes.max(1) as f64,
                c.ingest_cpu,
                c.maintenance_cpu,
                format!("{:.0}/{:.0}", c.idle_latency_us.median, c.idle_latency_us.p99),
                format!("{:.0}/{:.0}", c.busy_latency_us.median, c.busy_latency_us.p99),
                format!(
                    "{}/{}/{}/{}/{}",
                    c.maintenance_steps.0, c.maintenance_steps.1, c.maintenance_steps.2, c.maintenance_steps.3, c.maintenance_steps.4
                ),
                c.rows_rewritten as f64 / c.rows_ingested.max(1) as f64,
                100.0 * c.largest_step_share,
            );
        }
        out
    }

    /// The checkpoints as CSV (a header line, then one line per checkpoint).
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "phase,topics,live_rows,rows_added,rows_churned,recall,rebuild_recall,qps,rebuild_qps,lists,rebuild_lists,list_min,list_median,list_p99,list_max,shard_bytes,live_bytes,ingest_cpu_s,maintenance_cpu_s,idle_p50_us,idle_p99_us,busy_p50_us,busy_p99_us,busy_searches,splits,merges,reassignments,consolidations,compactions,rows_rewritten,rows_ingested,largest_step_share\n",
        );
        for c in &self.checkpoints {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.4},{:.4},{:.1},{:.1},{},{},{},{},{},{},{},{},{:.3},{:.3},{:.1},{:.1},{:.1},{:.1},{},{},{},{},{},{},{},{},{:.4}",
                c.phase,
                c.topics,
                c.live_rows,
                c.rows_added,
                c.rows_churned,
                c.recall,
                c.rebuild_recall,
                c.qps,
                c.rebuild_qps,
                c.lists,
                c.rebuild_lists,
                c.list_rows.min,
                c.list_rows.median,
                c.list_rows.p99,
                c.list_rows.max,
                c.shard_bytes,
                c.live_bytes,
                c.ingest_cpu,
                c.maintenance_cpu,
                c.idle_latency_us.median,
                c.idle_latency_us.p99,
                c.busy_latency_us.median,
                c.busy_latency_us.p99,
                c.busy_searches,
                c.maintenance_steps.0,
                c.maintenance_steps.1,
                c.maintenance_steps.2,
                c.maintenance_steps.3,
                c.maintenance_steps.4,
                c.rows_rewritten,
                c.rows_ingested,
                c.largest_step_share
            );
        }
        out
    }

    /// A plot (SVG): recall of the collection and of the rebuild at each checkpoint
    /// (left axis), and the collection's list count (right axis).
    pub fn svg(&self) -> String {
        let (w, h, left, right, top, bottom) = (720.0, 400.0, 70.0, 70.0, 40.0, 50.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let n = self.checkpoints.len().max(1);
        let x = |i: usize| left + if n == 1 { pw / 2.0 } else { pw * i as f64 / (n - 1) as f64 };
        let lowest = self.checkpoints.iter().flat_map(|c| [c.recall, c.rebuild_recall]).fold(1.0f64, f64::min);
        let floor = ((lowest - 0.02) * 50.0).floor() / 50.0;
        let floor = floor.clamp(0.0, 0.98);
        let y = |r: f64| top + ph * (1.0 - (r - floor) / (1.0 - floor));
        let most = self.checkpoints.iter().map(|c| c.lists.max(c.rebuild_lists)).max().unwrap_or(1).max(1) as f64;
        let yl = |l: f64| top + ph * (1.0 - l / (most * 1.1));
        let line = |points: Vec<(f64, f64)>, colour: &str, dash: &str| {
            let p: Vec<String> = points.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" {dash} points=\"{}\"/>\n", p.join(" "))
        };
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
        let _ = writeln!(s, "<text x=\"{left}\" y=\"22\" font-size=\"14\">drift sim: recall@10 of the collection and of a rebuild, and lists, per checkpoint</text>");
        let _ = writeln!(s, "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>");
        for step in 0..=4 {
            let r = floor + (1.0 - floor) * step as f64 / 4.0;
            let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{r:.3}</text>", left - 6.0, y(r) + 4.0);
            let l = most * 1.1 * step as f64 / 4.0;
            let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\">{l:.0}</text>", w - right + 6.0, yl(l) + 4.0);
        }
        for (i, c) in self.checkpoints.iter().enumerate() {
            let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", x(i), h - bottom + 18.0, c.phase);
        }
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">checkpoint (phase)</text>", left + pw / 2.0, h - 12.0);
        s += &line(self.checkpoints.iter().enumerate().map(|(i, c)| (x(i), yl(c.lists as f64))).collect(), "#bbb", "stroke-dasharray=\"4 3\"");
        s += &line(self.checkpoints.iter().enumerate().map(|(i, c)| (x(i), y(c.rebuild_recall))).collect(), "#e67e22", "");
        s += &line(self.checkpoints.iter().enumerate().map(|(i, c)| (x(i), y(c.recall))).collect(), "#2266cc", "");
        let legend = [("#2266cc", "drift recall@10"), ("#e67e22", "rebuild recall@10"), ("#bbb", "lists (right axis)")];
        for (i, (colour, label)) in legend.iter().enumerate() {
            let ly = top + 16.0 + 16.0 * i as f64;
            let _ = writeln!(s, "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>", left + 10.0, left + 30.0);
            let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\">{label}</text>", left + 36.0, ly + 4.0);
        }
        s += "</svg>\n";
        s
    }

    /// The report without what depends on timing (queries/s, CPU seconds, latencies):
    /// two runs with the same data, options and seed give the same.
    pub fn without_timings(&self) -> SimReport {
        let mut report = self.clone();
        for c in &mut report.checkpoints {
            (c.qps, c.rebuild_qps, c.ingest_cpu, c.maintenance_cpu) = (0.0, 0.0, 0.0, 0.0);
            (c.idle_latency_us, c.busy_latency_us, c.busy_searches) = (Spread::default(), Spread::default(), 0);
        }
        report
    }
}
