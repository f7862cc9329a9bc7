//! Helpers shared by the integration tests.
#![allow(dead_code)]

use drift::{DatabaseOptions, SyncPolicy};

/// Options that make every mechanism run on small data: tiny WAL segments (roll-over
/// and recycling), tiny memtables (frequent flushes) and small shards (sealing).
pub fn small_options() -> DatabaseOptions {
    DatabaseOptions::default().with_sync_policy(SyncPolicy::Always).with_memtable_flush_bytes(64 << 10).with_wal_segment_bytes(64 << 10).with_wal_ring_segments(3).with_shard_max_rows(300).with_row_group_max_rows(128).with_background_threads(false)
}

/// A small deterministic generator for test data (the library's SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(drift::kernels::kmeans::SplitMix);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(drift::kernels::kmeans::SplitMix::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// The vector of posting `i` of write `seed` (deterministic, so a verifier can
/// recompute what a writer wrote).
pub fn vector(seed: u64, i: u64, dimension: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i));
    (0..dimension).map(|_| rng.f32()).collect()
}

/// Path of a dataset under `../shared/datasets/`, or `None` (and a "skipped" line).
pub fn dataset(name: &str) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets").join(name);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: dataset not found ({})", path.display());
        None
    }
}

/// Reads an `.fvecs` file.
pub fn read_fvecs(path: &std::path::Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).expect("read fvecs");
    let dim = i32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let row = 4 + 4 * dim;
    let mut out = Vec::with_capacity(bytes.len() / row * dim);
    for chunk in bytes.chunks_exact(row) {
        out.extend(chunk[4..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())));
    }
    (dim, out)
}
