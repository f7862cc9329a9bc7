//! Per-call cost of one search through the Rust API, on a small collection where the
//! search itself is cheap, so the language boundary's overhead shows. Also creates the
//! collection that the C, Go and Java overhead programs search
//! (`scripts/bench-call-overhead.sh` runs them all side by side).
//!
//! ```text
//! cargo run --release --example call_overhead -- create <db-dir>
//! cargo run --release --example call_overhead -- bench <db-dir> [searches]
//! ```

use std::time::Instant;

use drift::{Database, DatabaseOptions, Metric, Posting, SearchOptions};

/// Rows, dimension and the vector formula shared with the other languages' programs.
const ROWS: usize = 1000;
const DIM: usize = 16;

fn vector(i: usize) -> Vec<f32> {
    (0..DIM).map(|j| ((i * 31 + j * 17) % 97) as f32 / 97.0).collect()
}

fn main() -> drift::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, dir) = match args.as_slice() {
        [_, mode, dir, ..] => (mode.as_str(), dir.as_str()),
        _ => {
            eprintln!("usage: call_overhead create|bench <db-dir> [searches]");
            std::process::exit(2);
        }
    };
    let db = Database::open(dir, DatabaseOptions::default())?;
    if mode == "create" {
        let _ = db.drop_collection("overhead");
        let c = db.create_collection("overhead", DIM, Metric::L2)?;
        let vs: Vec<Vec<f32>> = (0..ROWS).map(vector).collect();
        let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(i as u64, v)).collect();
        c.add(&ps)?;
        db.flush()?;
        return db.close();
    }
    let searches: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let c = db.collection("overhead")?;
    let queries: Vec<Vec<f32>> = (0..ROWS).map(vector).collect();
    let options = SearchOptions::new(10);
    for q in queries.iter().take(200) {
        c.search(q, &options)?;
    }
    let started = Instant::now();
    let mut checksum = 0u128;
    for i in 0..searches {
        checksum += c.search(&queries[i % ROWS], &options)?[0].document_id.0;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / searches as f64;
    println!("rust {micros:.3} us/search (checksum {checksum})");
    db.close()
}
