//! Write-acknowledge latency with and without concurrent searches, and the time of a
//! checkpoint: what the engine core's "searches never block writers" is worth.
//!
//! Loads a dataset's base vectors (or, without one, 50,000 synthetic 384-d vectors),
//! flushes and indexes them, then times durable 10-vector adds (fsync per add, one
//! writer thread) in four phases of the same length:
//! - idle: nothing else runs;
//! - control: one thread spins on the CPU without calling drift (the machine's share
//!   of any tail below);
//! - exact: one thread runs exact searches with k = 1,000 in a loop;
//! - probed: one thread runs probed searches with k = 1,000 over every list;
//! - batch: one thread runs `search_batch` of 64 default probed queries (k = 10);
//! - cold S3 fetch (only with `DRIFT_S3_ENDPOINT` set, e.g. by `scripts/s3-server.sh
//!   start`): the database has an S3 tier with a local disk budget of 0, and one thread
//!   promotes and evicts every shard, then searches every list, fetching each shard back.
//!
//! Then it times a checkpoint of the database (hard links) and prints one table.
//!
//! ```sh
//! cargo run --release --example write_latency -- ../shared/datasets/minilm-debian-59k
//! cargo run --release --example write_latency            # synthetic data
//! eval "$(scripts/s3-server.sh start)"; cargo run --release --example write_latency -- <dataset>; scripts/s3-server.sh stop
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drift::{Collection, Database, DatabaseOptions, Metric, ObjectStoreConfig, Posting, SearchOptions};

fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let d = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    let row = 4 + 4 * d;
    let mut out = Vec::with_capacity(bytes.len() / row * d);
    for chunk in bytes.chunks_exact(row) {
        out.extend(chunk[4..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())));
    }
    (d, out)
}

fn synthetic(rows: usize, d: usize) -> Vec<f32> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..rows * d)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// (p50, p99) in ms of durable 10-vector adds for `window`, while `load` runs (if any).
fn phase(c: &Collection, vectors: &[f32], d: usize, window: Duration, load: Option<Box<dyn Fn() + Send>>) -> (f64, f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicU64::new(0));
    let thread = load.map(|run| {
        let (stop, searches) = (stop.clone(), searches.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                run();
                searches.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    std::thread::sleep(Duration::from_millis(50));
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut i = 0usize;
    while started.elapsed() < window {
        let at = (i * 10) % (vectors.len() / d - 10);
        let postings: Vec<Posting> = (0..10).map(|j| Posting::new(10_000_000 + (i * 10 + j) as u64, &vectors[(at + j) * d..(at + j + 1) * d])).collect();
        let t = Instant::now();
        c.add(&postings).expect("add");
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        i += 1;
    }
    stop.store(true, Ordering::Release);
    if let Some(t) = thread {
        t.join().unwrap();
    }
    latencies.sort_by(f64::total_cmp);
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99), searches.load(Ordering::Relaxed))
}

fn main() {
    let dataset = std::env::args().nth(1);
    let (d, base) = match &dataset {
        Some(dir) => read_fvecs(&Path::new(dir).join("base.fvecs")),
        None => (384, synthetic(50_000, 384)),
    };
    let rows = base.len() / d;
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = std::env::var("DRIFT_S3_ENDPOINT").ok().map(|endpoint| {
        let bucket = std::env::var("DRIFT_S3_BUCKET").unwrap_or_else(|_| "drift-test".into());
        let prefix = format!("write-latency-{}", std::process::id());
        let mut tier = ObjectStoreConfig::new(bucket, prefix).with_endpoint(endpoint);
        tier.local_disk_budget = Some(0);
        tier.interval = Duration::from_secs(3600);
        tier
    });
    let options = DatabaseOptions::default().with_object_store(s3.clone());
    let db = Arc::new(Database::open(dir.path().join("db"), options).expect("open"));
    let c = db.create_collection("bench", d, Metric::L2).expect("create");
    for (b, chunk) in base.chunks(5_000 * d).enumerate() {
        let postings: Vec<Posting> = chunk.chunks_exact(d).enumerate().map(|(i, v)| Posting::new((b * 5_000 + i) as u64, v)).collect();
        c.add(&postings).expect("load");
    }
    db.flush().expect("flush");
    let lists = c.stats().centroids;
    println!("write_latency: {rows} rows of {d} dimensions ({}), {lists} lists; durable 10-vector adds, one writer", dataset.as_deref().unwrap_or("synthetic"));

    let window = Duration::from_secs(4);
    let query: Vec<f32> = base[..d].to_vec();
    let mut table = Vec::new();
    table.push(("idle", phase(&c, &base, d, window, None)));
    // A control: one thread spinning on the CPU without touching drift. What this adds
    // to the writes' tail is the machine's scheduling, not drift's locking.
    let spin = || {
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    };
    table.push(("busy CPU, no drift (control)", phase(&c, &base, d, window, Some(Box::new(spin)))));
    let (cq, q) = (c.clone(), query.clone());
    table.push(("exact k=1000", phase(&c, &base, d, window, Some(Box::new(move || drop(cq.search(&q, &SearchOptions::new(1_000).exact())))))));
    let (cq, q) = (c.clone(), query.clone());
    let wide = SearchOptions::new(1_000).with_nprobe(lists.max(1));
    table.push(("probed k=1000, all lists", phase(&c, &base, d, window, Some(Box::new(move || drop(cq.search(&q, &wide)))))));
    let (cq, batch) = (c.clone(), base[..64 * d].to_vec());
    table.push(("search_batch 64 x k=10", phase(&c, &base, d, window, Some(Box::new(move || drop(cq.search_batch(&batch, &SearchOptions::new(10))))))));
    if s3.is_some() {
        let (cq, q, dbq) = (c.clone(), query.clone(), db.clone());
        let wide = SearchOptions::new(10).with_nprobe(lists.max(1));
        let cold = move || {
            dbq.sync_object_store().expect("promote and evict"); // budget 0: every promoted shard leaves the disk
            drop(cq.search(&q, &wide)); // fetches every shard back from the store
        };
        table.push(("cold S3 fetch, all lists", phase(&c, &base, d, window, Some(Box::new(cold)))));
    }

    let (idle50, idle99, _) = table[0].1;
    println!("{:<26} {:>9} {:>9} {:>9} {:>9} {:>10}", "concurrent load", "p50 ms", "p99 ms", "p50 ×", "p99 ×", "searches");
    for (name, (p50, p99, searches)) in &table {
        println!("{name:<26} {p50:>9.3} {p99:>9.3} {:>9.2} {:>9.2} {searches:>10}", p50 / idle50, p99 / idle99);
    }
    let report = db.checkpoint(dir.path().join("checkpoint")).expect("checkpoint");
    println!(
        "checkpoint: {:.1} ms ({} open shards sealed, {} files linked, {} copied, {:.1} MB copied; flush included)",
        report.micros as f64 / 1e3,
        report.shards_sealed,
        report.files_linked,
        report.files_copied,
        report.bytes_copied as f64 / 1e6
    );
    let again = db.checkpoint(dir.path().join("checkpoint-2")).expect("second checkpoint");
    println!("second checkpoint (every shard sealed already): {:.1} ms, {} files linked", again.micros as f64 / 1e3, again.files_linked);
}
