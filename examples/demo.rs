//! drift's main job on an embedded default: build a durable collection, search it,
//! and print recall@10, queries per second and where the files went.
//!
//! ```text
//! cargo run --release --example demo [-- <database-dir>]
//! ```
//!
//! The data is generated (20,000 vectors of dimension 128 around 200 random centres,
//! 200 held-out queries), so the command needs nothing but this repository. Recall is
//! measured against brute-force ground truth computed here.

use std::path::PathBuf;
use std::time::Instant;

use drift::{Database, DatabaseOptions, Metric, Posting, SearchOptions};

const N: usize = 20_000;
const QUERIES: usize = 200;
const DIM: usize = 128;
const CENTRES: usize = 200;
const K: usize = 10;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn main() -> drift::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/drift-demo".into()));
    let mut rng = Rng(42);
    let centres: Vec<f32> = (0..CENTRES * DIM).map(|_| rng.next() * 4.0).collect();
    let point = |rng: &mut Rng| -> Vec<f32> {
        let c = ((rng.next() + 0.5) * CENTRES as f32) as usize % CENTRES;
        (0..DIM).map(|j| centres[c * DIM + j] + rng.next()).collect()
    };
    let base: Vec<Vec<f32>> = (0..N).map(|_| point(&mut rng)).collect();
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| point(&mut rng)).collect();
    let truth: Vec<Vec<usize>> = queries
        .iter()
        .map(|q| {
            let mut d: Vec<(f32, usize)> = base.iter().enumerate().map(|(i, v)| (l2(q, v), i)).collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            d.iter().take(K).map(|x| x.1).collect()
        })
        .collect();

    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove the previous demo database");
    }
    let db = Database::open(&dir, DatabaseOptions::default())?;
    let c = db.create_collection("demo", DIM, Metric::L2)?;
    let started = Instant::now();
    for (b, chunk) in base.chunks(1000).enumerate() {
        let postings: Vec<_> = chunk.iter().enumerate().map(|(i, v)| Posting::new((b * 1000 + i) as u64, v)).collect();
        c.add(&postings)?;
    }
    let ingest = started.elapsed().as_secs_f64();
    db.flush()?;
    let flushed = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut hits_found = 0;
    for (q, t) in queries.iter().zip(&truth) {
        let hits = c.search(q, &SearchOptions::new(K))?;
        hits_found += hits.iter().filter(|h| t.contains(&(h.document_id.0 as usize))).count();
    }
    let qps = QUERIES as f64 / started.elapsed().as_secs_f64();
    let stats = c.stats();
    println!("drift demo: {N} vectors of dimension {DIM}, {QUERIES} queries, k = {K}");
    println!(
        "  durable ingest (fsync per batch of 1000): {:.0} vectors/s; flushed and indexed ({} centroids) after {flushed:.2} s",
        N as f64 / ingest,
        c.stats().centroids
    );
    println!("  recall@{K}: {:.3}", hits_found as f64 / (QUERIES * K) as f64);
    println!("  queries/s (one thread, default nprobe {}): {qps:.0}", drift::default_nprobe(stats.centroids));
    println!("  {} rows in {} shard file(s), {} row groups, {:.1} MB", stats.shard_rows, stats.shards, stats.row_groups, stats.shard_bytes as f64 / 1e6);
    println!("  files: {}", std::fs::canonicalize(&dir).unwrap_or(dir).display());
    db.close()
}
