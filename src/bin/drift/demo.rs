//! `drift demo`: drift's main job on the bundled real dataset (see
//! `data/minilm-debian-10k/README.md`), compiled into the binary so it runs from any
//! directory: durable ingest, flush with index build, recall@10 against exact ground
//! truth computed here, single-thread queries/s, an example search with its texts,
//! and where the files went.

use std::path::Path;
use std::time::Instant;

use drift::{Database, DatabaseOptions, Metric, Posting, SearchOptions};

use crate::commands::explain;
use crate::input;

static BASE: &[u8] = include_bytes!("../../../data/minilm-debian-10k/base.npy");
static QUERIES: &[u8] = include_bytes!("../../../data/minilm-debian-10k/queries.npy");
static TEXTS: &str = include_str!("../../../data/minilm-debian-10k/texts.txt");
const K: usize = 10;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalised(mut v: Vec<f32>, d: usize) -> Vec<f32> {
    for row in v.chunks_exact_mut(d) {
        let n = dot(row, row).sqrt();
        row.iter_mut().for_each(|x| *x /= n);
    }
    v
}

pub fn run(dir: &Path) -> Result<(), String> {
    let (d, base) = input::npy_from_bytes(BASE, "bundled base.npy")?;
    let (dq, queries) = input::npy_from_bytes(QUERIES, "bundled queries.npy")?;
    assert_eq!(d, dq, "bundled dataset: base and queries differ in dimension");
    let texts: Vec<&str> = TEXTS.lines().collect();
    let (n, nq) = (base.len() / d, queries.len() / d);
    println!("drift demo: {n} real text embeddings (all-MiniLM-L6-v2, {d} dimensions) of Debian package descriptions, {nq} held-out queries, k = {K}");

    // Exact ground truth by brute force over the same (normalised) vectors.
    let (nb, nqv) = (normalised(base.clone(), d), normalised(queries.clone(), d));
    let truth: Vec<Vec<usize>> = nqv
        .chunks_exact(d)
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = nb.chunks_exact(d).enumerate().map(|(i, v)| (-dot(q, v), i)).collect();
            scored.select_nth_unstable_by(K, |a, b| a.0.total_cmp(&b.0));
            scored.truncate(K);
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect();

    if dir.exists() {
        let previous_demo = dir.join("MANIFEST").exists() || std::fs::read_dir(dir).map(|mut e| e.next().is_none()).unwrap_or(false);
        if !previous_demo {
            return Err(format!("{} exists and is not a drift database; pass another directory with --dir", dir.display()));
        }
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove the previous demo database {}: {e}", dir.display()))?;
    }
    let started = Instant::now();
    let db = Database::open(dir, DatabaseOptions::default()).map_err(|e| explain(e, dir))?;
    let c = db.create_collection("debian", d, Metric::Cosine).map_err(|e| explain(e, dir))?;
    for (b, chunk) in base.chunks(1000 * d).enumerate() {
        let postings: Vec<Posting<'_>> = chunk
            .chunks_exact(d)
            .enumerate()
            .map(|(i, v)| {
                let row = b * 1000 + i;
                Posting::new(row as u64, v).with_span(0, texts.get(row).map_or(0, |t| t.len() as u32))
            })
            .collect();
        c.add(&postings).map_err(|e| explain(e, dir))?;
    }
    let ingest = started.elapsed().as_secs_f64();
    db.flush().map_err(|e| explain(e, dir))?;
    let flushed = started.elapsed().as_secs_f64();
    let stats = c.stats();
    println!(
        "  durable ingest (fsync per batch of 1,000): {:.0} vectors/s; flushed and indexed ({} centroids) after {flushed:.2} s",
        n as f64 / ingest,
        stats.centroids
    );

    let options = SearchOptions::new(K);
    let mut found = 0usize;
    let started = Instant::now();
    let mut first_hits = Vec::new();
    for (qi, (q, t)) in queries.chunks_exact(d).zip(&truth).enumerate() {
        let hits = c.search(q, &options).map_err(|e| explain(e, dir))?;
        found += hits.iter().filter(|h| t.contains(&(h.document_id.0 as usize))).count();
        if qi == 0 {
            first_hits = hits;
        }
    }
    let qps = nq as f64 / started.elapsed().as_secs_f64();
    println!("  recall@10: {:.3} (against exact brute force)", found as f64 / (nq * K) as f64);
    println!("  queries/s (one thread, default nprobe {}): {qps:.0}", drift::default_nprobe(stats.centroids));
    println!("  example: nearest descriptions to \"{}\"", texts.get(n).copied().unwrap_or("?"));
    for h in first_hits.iter().take(5) {
        println!("    {:.3}  {}", h.distance, texts.get(h.document_id.0 as usize).copied().unwrap_or("?"));
    }
    let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    println!(
        "  {} rows in {} shard file(s), {:.1} MB; files: {}",
        stats.shard_rows,
        stats.shards,
        stats.shard_bytes as f64 / 1e6,
        shown.display()
    );
    db.close().map_err(|e| explain(e, dir))?;
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let drift = match (&exe, &cwd) {
        (Some(e), Some(c)) => e.strip_prefix(c).map(|p| p.display().to_string()).unwrap_or_else(|_| e.display().to_string()),
        _ => "drift".into(),
    };
    println!("next: {drift} stats {0}   ·   {drift} verify {0}   ·   {drift} --help", dir.display());
    Ok(())
}
