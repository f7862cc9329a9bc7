//! Measures the S3 tier on a real dataset: bytes uploaded vs local bytes, requests and
//! bytes fetched for one cold query, and the time to restore the collection into an
//! empty directory. Needs an S3-compatible endpoint in the environment:
//!
//! ```text
//! eval "$(scripts/s3-server.sh start)"
//! cargo run --release --example s3_report -- ../shared/datasets/minilm-debian-59k
//! scripts/s3-server.sh stop
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use drift::{Database, DatabaseOptions, Metric, ObjectStoreConfig, Posting, SearchOptions, TierMode};

fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let dim = i32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let mut out = Vec::with_capacity(bytes.len() / (4 + 4 * dim) * dim);
    for chunk in bytes.chunks_exact(4 + 4 * dim) {
        out.extend(chunk[4..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())));
    }
    (dim, out)
}

fn options(prefix: &str, mode: TierMode, budget: Option<u64>) -> DatabaseOptions {
    let endpoint = std::env::var("DRIFT_S3_ENDPOINT").expect("DRIFT_S3_ENDPOINT (run scripts/s3-server.sh start)");
    let bucket = std::env::var("DRIFT_S3_BUCKET").unwrap_or_else(|_| "drift-test".into());
    let mut tier = ObjectStoreConfig::new(bucket, prefix).with_endpoint(endpoint).with_mode(mode);
    tier.local_disk_budget = budget;
    DatabaseOptions::default().with_object_store(Some(tier)).with_background_threads(false)
}

fn main() -> drift::Result<()> {
    let dataset = PathBuf::from(std::env::args().nth(1).expect("usage: s3_report <dataset-dir>"));
    let (dim, vectors) = read_fvecs(&dataset.join("base.fvecs"));
    let (_, queries) = read_fvecs(&dataset.join("query.fvecs"));
    let n = vectors.len() / dim;
    let work = PathBuf::from("target/s3-report");
    let _ = std::fs::remove_dir_all(&work);
    let prefix = format!("s3-report-{}", std::process::id());

    let db = Database::open(work.join("writer"), options(&prefix, TierMode::Writer, Some(0)))?;
    let c = db.create_collection("minilm", dim, Metric::L2)?;
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let ps: Vec<_> = (start..end).map(|i| Posting::new(i as u64, &vectors[i * dim..(i + 1) * dim])).collect();
        c.add(&ps)?;
    }
    db.flush()?;
    let local = c.stats().shard_bytes;
    let shards = c.stats().shards;
    let before = db.stats().tier.unwrap_or_default();
    let t = Instant::now();
    db.sync_object_store()?;
    let promoted = db.stats().tier.unwrap_or_default();
    println!("promotion of {n} vectors in {shards} sealed shards: {:.2} s, {} requests", t.elapsed().as_secs_f64(), promoted.requests - before.requests);
    println!("bytes uploaded {} vs local shard bytes {local} (ratio {:.3})", promoted.bytes_uploaded, promoted.bytes_uploaded as f64 / local as f64);
    println!("evicted {} shard file(s) under a 0-byte local budget", promoted.evictions);
    let t = Instant::now();
    c.search(&queries[..dim], &SearchOptions::new(10))?;
    let cold = db.stats().tier.unwrap_or_default();
    println!(
        "one cold query: {} requests, {:.1} MB fetched, {:.3} s",
        cold.requests - promoted.requests,
        (cold.bytes_downloaded - promoted.bytes_downloaded) as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    c.search(&queries[dim..2 * dim], &SearchOptions::new(10))?;
    println!(
        "the next query (another one; the shards the first fetched are local now): {} requests, {:.4} s",
        db.stats().tier.unwrap_or_default().requests - cold.requests,
        t.elapsed().as_secs_f64()
    );
    db.close()?;

    let t = Instant::now();
    let restored = Database::open(work.join("restored"), options(&prefix, TierMode::Restore, None))?;
    let secs = t.elapsed().as_secs_f64();
    let rows = restored.collection("minilm")?.stats().shard_rows;
    println!("restore of {rows} vectors into an empty directory: {secs:.2} s ({} requests)", restored.stats().tier.unwrap_or_default().requests);
    restored.close()
}
