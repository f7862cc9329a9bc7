//! Measures the storage foundation on a real dataset: durable ingest throughput, time to
//! open a flushed collection, recovery time after `kill -9` with a full memtable, and
//! resident memory after open compared with the files' size.
//!
//! ```text
//! cargo run --release --example ingest_report -- ../shared/datasets/minilm-debian-59k [work-dir]
//! ```
//!
//! The work directory (default `./target/ingest-report`) must be on the disk you want
//! to measure (fsync cost is the disk's).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use drift::{Database, DatabaseOptions, Metric, Posting, SearchOptions};

fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let dim = i32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let row = 4 + 4 * dim;
    let mut out = Vec::with_capacity(bytes.len() / row * dim);
    for chunk in bytes.chunks_exact(row) {
        out.extend(chunk[4..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())));
    }
    (dim, out)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
    }
    total
}

fn ingest(db: &Database, dim: usize, vectors: &[f32]) -> f64 {
    let c = db.create_collection("minilm", dim, Metric::L2).unwrap();
    let n = vectors.len() / dim;
    let started = Instant::now();
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let postings: Vec<_> =
            (start..end).map(|i| Posting::new(i as u64, &vectors[i * dim..(i + 1) * dim])).collect();
        c.add(&postings).unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dataset = PathBuf::from(args.next().expect("usage: ingest_report <dataset-dir> [work-dir]"));
    let work = PathBuf::from(args.next().unwrap_or_else(|| "target/ingest-report".into()));
    let (dim, vectors) = read_fvecs(&dataset.join("base.fvecs"));
    let n = vectors.len() / dim;

    if std::env::var("DRIFT_REPORT_CHILD").is_ok() {
        // Child: ingest everything into the memtable (no flush), say so, wait to be killed.
        let options = DatabaseOptions::default().with_memtable_flush_bytes(usize::MAX / 2);
        let db = Database::open(work.join("killed"), options).unwrap();
        ingest(&db, dim, &vectors);
        println!("ingested");
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return;
    }

    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    println!("dataset: {} ({n} vectors, dimension {dim}); work dir {}", dataset.display(), work.display());

    // 1. Durable ingest with the default sync policy.
    let flushed_dir = work.join("flushed");
    let db = Database::open(&flushed_dir, DatabaseOptions::default()).unwrap();
    let secs = ingest(&db, dim, &vectors);
    println!("durable ingest (SyncPolicy::Always, batches of 1000): {:.2} s, {:.0} vectors/s, {:.1} MB/s of f32",
        secs, n as f64 / secs, (n * dim * 4) as f64 / secs / 1e6);
    let t = Instant::now();
    db.flush().unwrap();
    println!("final flush: {:.3} s", t.elapsed().as_secs_f64());
    let wal = db.stats().wal;
    println!("WAL: {} records in {} commit groups, {} fsyncs", wal.records, wal.commit_groups, wal.syncs);
    db.close().unwrap();

    // 2. Open time of the flushed collection, and memory after open.
    let rss_before = rss_kib();
    let t = Instant::now();
    let db = Database::open(&flushed_dir, DatabaseOptions::default()).unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_open = rss_kib();
    let files = dir_bytes(&flushed_dir);
    let shard_bytes = dir_bytes(&flushed_dir.join("shards"));
    println!("open of the flushed database: {open_ms:.2} ms (replayed {} records)", db.recovery_report().records_replayed);
    println!("files: {:.1} MB in total, {:.1} MB of shard files", files as f64 / 1e6, shard_bytes as f64 / 1e6);
    println!("resident memory added by open: {:.2} MB ({:.3}% of the shard files)",
        (rss_open.saturating_sub(rss_before)) as f64 / 1024.0,
        (rss_open.saturating_sub(rss_before)) as f64 * 1024.0 / shard_bytes as f64 * 100.0);
    let c = db.collection("minilm").unwrap();
    let (_, queries) = read_fvecs(&dataset.join("query.fvecs"));
    let t = Instant::now();
    let q = 100;
    for i in 0..q {
        c.search(&queries[i * dim..(i + 1) * dim], &SearchOptions::new(10)).unwrap();
    }
    println!("indexed search (default nprobe, first 100 queries, pages cold): {:.1} queries/s; resident after searching: {:.1} MB (mapped pages are the page cache)",
        q as f64 / t.elapsed().as_secs_f64(), rss_kib() as f64 / 1024.0);
    db.close().unwrap();

    // 3. Recovery after kill -9 with a full memtable.
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .arg(&dataset)
        .arg(&work)
        .env("DRIFT_REPORT_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ingested");
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    let db = Database::open(work.join("killed"), DatabaseOptions::default().with_background_threads(false)).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let report = db.recovery_report();
    let c = db.collection("minilm").unwrap();
    assert_eq!(c.stats().memtable_rows as usize, n);
    println!("recovery after kill -9 with {n} vectors in the memtable: {:.3} s ({} records, {:.1} MB replayed, {:.0} MB/s)",
        secs, report.records_replayed, report.bytes_replayed as f64 / 1e6, report.bytes_replayed as f64 / 1e6 / secs);
}
