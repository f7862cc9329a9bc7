//! What one exact re-read of a vector costs through the map (what drift's re-rank does)
//! and through `pread` (what a re-rank that keeps vectors out of the resident set would
//! do): random 1,536-byte reads (a 384-d f32 vector) from the shard files of a
//! database, all in the page cache.
//!
//! ```sh
//! cargo run --release --example recall_qps -- build ../shared/datasets/minilm-debian-59k target/compare-db
//! cargo run --release --example reread_cost -- target/compare-db
//! ```

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

const READ_BYTES: usize = 1536;
const READS: usize = 200_000;

fn main() {
    let Some(db) = std::env::args().nth(1) else {
        eprintln!("usage: reread_cost <database-dir>");
        std::process::exit(2);
    };
    let shards = std::path::Path::new(&db).join("shards");
    let files: Vec<(File, u64)> = std::fs::read_dir(&shards)
        .unwrap_or_else(|e| panic!("read {}: {e}", shards.display()))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|x| x == "shard"))
        .filter_map(|entry| {
            let file = File::open(entry.path()).ok()?;
            let len = file.metadata().ok()?.len();
            (len > 2 * READ_BYTES as u64).then_some((file, len))
        })
        .collect();
    assert!(!files.is_empty(), "no shard files under {}", shards.display());
    // SAFETY: the files are opened read-only and nothing in this process writes or
    // truncates them while the maps live.
    let maps: Vec<memmap2::Mmap> = files.iter().map(|(f, _)| unsafe { memmap2::Mmap::map(f) }.expect("map shard file")).collect();
    // The same pseudo-random (file, offset) sequence for both ways, 64-byte aligned.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let picks: Vec<(usize, usize)> = (0..READS)
        .map(|_| {
            let f = (next() % files.len() as u64) as usize;
            let at = (next() % (files[f].1 - READ_BYTES as u64)) as usize & !63;
            (f, at)
        })
        .collect();
    // Warm the page cache and the maps once.
    let mut sink = 0u64;
    for map in &maps {
        sink += map.iter().step_by(4096).map(|b| u64::from(*b)).sum::<u64>();
    }
    let mut buf = [0u8; READ_BYTES];
    for pass in 0..2 {
        let started = Instant::now();
        for &(f, at) in &picks {
            files[f].0.read_exact_at(&mut buf, at as u64).expect("pread");
            sink += u64::from(buf[READ_BYTES / 2]);
        }
        let pread_ns = started.elapsed().as_nanos() as f64 / READS as f64;
        let started = Instant::now();
        for &(f, at) in &picks {
            sink += maps[f][at..at + READ_BYTES].iter().step_by(64).map(|b| u64::from(*b)).sum::<u64>();
        }
        let map_ns = started.elapsed().as_nanos() as f64 / READS as f64;
        println!("pass {pass}: pread {pread_ns:.0} ns per {READ_BYTES}-byte read, touch through the map {map_ns:.0} ns ({} files)", files.len());
    }
    std::hint::black_box(sink);
}
