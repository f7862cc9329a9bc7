//! drift's side of the comparison harness (`benches/compare/run.sh`): builds a
//! collection from an fvecs dataset, then measures recall@10, queries/s and resident
//! memory per search configuration. Prints one JSON object per line.
//!
//! ```text
//! cargo run --release --example recall_qps -- build  <dataset-dir> <db-dir>
//! cargo run --release --example recall_qps -- search <dataset-dir> <db-dir> <nprobe[/patience],...> [rerank_factor]
//! cargo run --release --example recall_qps -- filtered <dataset-dir> <db-dir> [workload,...]
//! ```
//!
//! When the dataset has `attributes.tsv` (the MiniLM dev set), `build` stores every
//! row's attributes (`DRIFT_ATTRIBUTES=0` leaves them out), and `filtered` runs the
//! workloads of its `filters.tsv` at the default settings: recall@10 against the
//! filtered ground truth, queries/s, and the plans chosen. A workload `all:<filter>`
//! runs a filter every row matches against the unfiltered ground truth: what a filter
//! costs when it removes nothing.
//!
//! `nprobe/patience` also sets `SearchOptions::probe_patience` (for example `300/180`:
//! at most 300 lists, stopping after 180 in a row that brought nothing closer).
//!
//! `build` is durable ingest (SyncPolicy::Always, batches of 1,000) plus the flush that
//! trains the index, timed together. `search` runs in a fresh process, single thread,
//! one query per call, queries/s from the fastest of 3 passes; `rss_mb` is resident memory added since before the database was
//! opened (queries and ground truth are loaded first), `anon_mb` the part of it that is
//! private (heap) memory rather than mapped file pages.
//!
//! `DRIFT_VECTOR_READS=pread` opens the database with `VectorReads::Pread` (re-ranked
//! vectors copied out of the page cache, not mapped); the default is `mapped`.
//!
//! `DRIFT_REPEAT_QUERIES=N` times the first N queries over and over instead of all of
//! them, so that the lists they probe stay cached: the search's cost without its
//! memory misses (recall is then not meaningful).

use std::path::Path;
use std::time::Instant;

use drift::{Database, DatabaseOptions, Metric, Posting, SearchOptions, VectorReads};

#[path = "support/minilm_filters.rs"]
mod minilm;

/// Timed passes over the queries per configuration; the fastest counts (the same
/// number as `benches/compare/compare.py` gives every peer).
const PASSES: usize = 3;

fn read_vecs(path: &Path) -> (usize, Vec<u32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let dim = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let mut out = Vec::with_capacity(bytes.len() / 4);
    for chunk in bytes.chunks_exact(4 + 4 * dim) {
        out.extend(chunk[4..].chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())));
    }
    (dim, out)
}

fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
    let (d, raw) = read_vecs(path);
    (d, raw.into_iter().map(f32::from_bits).collect())
}

fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resident memory: all of it (anonymous + file-backed pages mapped in).
fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

fn options() -> DatabaseOptions {
    let mut o = DatabaseOptions::default().with_background_threads(false);
    if let Some(rows) = std::env::var("DRIFT_INDEX_SHARD_ROWS").ok().and_then(|v| v.parse().ok()) {
        o.index_shard_rows = rows;
    }
    o.vector_reads = match std::env::var("DRIFT_VECTOR_READS").as_deref() {
        Ok("pread") => VectorReads::Pread,
        Ok("mapped") | Err(_) => VectorReads::Mapped,
        Ok(other) => {
            eprintln!("DRIFT_VECTOR_READS must be mapped or pread, got {other:?}");
            std::process::exit(2);
        }
    };
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: recall_qps build <dataset-dir> <db-dir> | search <dataset-dir> <db-dir> <nprobe,...> [rerank_factor]");
        std::process::exit(2);
    }
    let dataset = Path::new(&args[2]);
    let dir = Path::new(&args[3]);
    match args[1].as_str() {
        "build" => {
            let (d, base) = read_fvecs(&dataset.join("base.fvecs"));
            let _ = std::fs::remove_dir_all(dir);
            let started = Instant::now();
            let attributes_path = dataset.join("attributes.tsv");
            let attributes = (attributes_path.exists() && std::env::var("DRIFT_ATTRIBUTES").as_deref() != Ok("0"))
                .then(|| minilm::read_attributes(&attributes_path));
            let db = Database::open(dir, options()).expect("open");
            let schema = if attributes.is_some() { minilm::schema() } else { Vec::new() };
            let c = db.create_collection_with_schema("bench", d, Metric::L2, &schema).expect("create");
            let n = base.len() / d;
            for start in (0..n).step_by(1000) {
                let end = (start + 1000).min(n);
                let postings: Vec<_> = (start..end)
                    .map(|i| {
                        let p = Posting::new(i as u64, &base[i * d..(i + 1) * d]);
                        match &attributes {
                            Some(a) => p.with_attributes(&a[i]),
                            None => p,
                        }
                    })
                    .collect();
                c.add(&postings).expect("add");
            }
            let ingest = started.elapsed().as_secs_f64();
            db.flush().expect("flush");
            let total = started.elapsed().as_secs_f64();
            let s = c.stats();
            db.close().expect("close");
            println!(
                "{{\"phase\":\"build\",\"rows\":{n},\"ingest_s\":{ingest:.3},\"build_s\":{total:.3},\"shards\":{},\"shard_bytes\":{}}}",
                s.shards, s.shard_bytes
            );
        }
        "search" => {
            let (d, queries) = read_fvecs(&dataset.join("query.fvecs"));
            let (gt_k, gt) = read_vecs(&dataset.join("gt_l2_top100.ivecs"));
            // `nprobe` or `nprobe/patience` (see `SearchOptions::probe_patience`).
            let probes: Vec<(usize, Option<usize>)> = args
                .get(4)
                .map(|s| {
                    s.split(',')
                        .map(|p| match p.split_once('/') {
                            Some((n, patience)) => (n.parse().expect("nprobe"), Some(patience.parse().expect("patience"))),
                            None => (p.parse().expect("nprobe"), None),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rerank: Option<usize> = args.get(5).map(|s| s.parse().expect("rerank_factor"));
            let baseline = rss_mb();
            let baseline_anon = status_mb("RssAnon:");
            let options = options();
            let reads = options.vector_reads;
            let db = Database::open(dir, options).expect("open");
            let c = db.collection("bench").expect("collection");
            eprintln!("resident memory added by open: {:.1} MB", rss_mb() - baseline);
            if std::env::var_os("DRIFT_DUMP_SMAPS").is_some() {
                let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
                let mut name = String::new();
                for line in smaps.lines() {
                    if line.contains('-') && line.split_whitespace().count() >= 5 && !line.starts_with(char::is_uppercase) {
                        name = line.to_string();
                    } else if let Some(kb) = line.strip_prefix("Rss:") {
                        let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                        if kb > 1024 {
                            eprintln!("{kb:>8} kB  {name}");
                        }
                    }
                }
            }
            let nq = queries.len() / d;
            let repeat: usize = std::env::var("DRIFT_REPEAT_QUERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(0).min(nq);
            for (nprobe, patience) in probes {
                let mut opts = SearchOptions::new(10).with_nprobe(nprobe);
                if let Some(f) = rerank {
                    opts = opts.with_rerank_factor(f);
                }
                if let Some(p) = patience {
                    opts = opts.with_probe_patience(p);
                }
                for q in queries.chunks_exact(d).take(50) {
                    c.search(q, &opts).expect("warm-up");
                }
                let (mut hits, mut secs) = (Vec::with_capacity(nq), f64::INFINITY);
                for _ in 0..PASSES {
                    hits.clear();
                    let started = Instant::now();
                    for i in 0..nq {
                        let q = if repeat > 0 { i % repeat } else { i };
                        hits.push(c.search(&queries[q * d..(q + 1) * d], &opts).expect("search"));
                    }
                    secs = secs.min(started.elapsed().as_secs_f64());
                }
                let mut found = 0usize;
                for (i, h) in hits.iter().enumerate() {
                    let truth = &gt[i * gt_k..i * gt_k + 10];
                    found += h.iter().filter(|hit| truth.contains(&(hit.document_id.0 as u32))).count();
                }
                println!(
                    "{{\"phase\":\"search\",\"vector_reads\":\"{}\",\"nprobe\":{nprobe},\"patience\":{},\"rerank_factor\":{},\"recall\":{:.4},\"qps\":{:.1},\"rss_mb\":{:.1},\"anon_mb\":{:.1}}}",
                    if reads == VectorReads::Pread { "pread" } else { "mapped" },
                    patience.map_or("null".to_string(), |p| p.to_string()),
                    opts.rerank_factor().unwrap_or(drift::DEFAULT_RERANK_FACTOR),
                    found as f64 / (nq * 10) as f64,
                    nq as f64 / secs,
                    rss_mb() - baseline,
                    status_mb("RssAnon:") - baseline_anon
                );
            }
        }
        "filtered" => {
            let (d, queries) = read_fvecs(&dataset.join("query.fvecs"));
            let query_attributes = minilm::read_attributes(&dataset.join("query_attributes.tsv"));
            let workloads: Vec<String> =
                args.get(4).map_or_else(|| minilm::WORKLOADS.iter().map(|w| w.to_string()).collect(), |s| s.split(',').map(str::to_owned).collect());
            let baseline = rss_mb();
            let db = Database::open(dir, options()).expect("open");
            let c = db.collection("bench").expect("collection");
            let nq = queries.len() / d;
            for name in workloads {
                // `all:<filter>`: a filter every row matches, against the unfiltered truth
                // (what a filter costs when it removes nothing).
                let (gt_k, gt) = match name.strip_prefix("all:") {
                    Some(_) => read_vecs(&dataset.join("gt_l2_top100.ivecs")),
                    None => read_vecs(&dataset.join(format!("gt_filter_{name}_l2_top100.ivecs"))),
                };
                let options: Vec<SearchOptions> = (0..nq)
                    .map(|i| {
                        let text = name.strip_prefix("all:").map_or_else(|| minilm::filter_text(&name, &query_attributes[i]), str::to_owned);
                        SearchOptions::new(10).with_filter_text(&text).expect("filter")
                    })
                    .collect();
                for (i, q) in queries.chunks_exact(d).enumerate().take(50) {
                    c.search(q, &options[i]).expect("warm-up");
                }
                let (mut hits, mut secs) = (Vec::with_capacity(nq), f64::INFINITY);
                for _ in 0..PASSES {
                    hits.clear();
                    let started = Instant::now();
                    for (i, q) in queries.chunks_exact(d).enumerate() {
                        hits.push(c.search(q, &options[i]).expect("search"));
                    }
                    secs = secs.min(started.elapsed().as_secs_f64());
                }
                let (mut found, mut wanted) = (0usize, 0usize);
                for (i, h) in hits.iter().enumerate() {
                    // -1 pads the ground truth of queries with fewer than 100 matches.
                    let truth: Vec<u32> = gt[i * gt_k..i * gt_k + 10].iter().copied().filter(|&t| t as i32 >= 0).collect();
                    found += h.iter().filter(|hit| truth.contains(&(hit.document_id.0 as u32))).count();
                    wanted += truth.len();
                }
                let mut plans = std::collections::BTreeMap::new();
                let (mut lists, mut scanned, mut reranked) = (0usize, 0u64, 0u64);
                for (i, q) in queries.chunks_exact(d).enumerate() {
                    let e = c.explain(q, &options[i]).expect("explain");
                    *plans.entry(e.plan.name()).or_insert(0usize) += 1;
                    lists += e.lists_probed;
                    scanned += e.rows_scanned;
                    reranked += e.vectors_reranked;
                }
                let plans: Vec<String> = plans.iter().map(|(p, n)| format!("\"{p}\":{n}")).collect();
                println!(
                    "{{\"phase\":\"filtered\",\"workload\":\"{name}\",\"recall\":{:.4},\"qps\":{:.1},\"plans\":{{{}}},\"lists_per_query\":{:.1},\"rows_scanned_per_query\":{:.0},\"reranked_per_query\":{:.1},\"rss_mb\":{:.1}}}",
                    found as f64 / wanted.max(1) as f64,
                    nq as f64 / secs,
                    plans.join(","),
                    lists as f64 / nq as f64,
                    scanned as f64 / nq as f64,
                    reranked as f64 / nq as f64,
                    rss_mb() - baseline
                );
            }
        }
        other => {
            eprintln!("unknown phase {other:?}");
            std::process::exit(2);
        }
    }
}
