//! Kernel benchmarks, and the memory-bandwidth bound they are judged against.
//!
//! ```text
//! cargo bench --bench kernels                   # every level this CPU has
//! DRIFT_BENCH_GIB=2 cargo bench --bench kernels # larger streaming working set
//! ```
//!
//! - `bandwidth/*`: the bound — a plain sequential u64 sum over a working set larger
//!   than the last-level cache (1 GiB by default), and the two scan kernels streaming
//!   the same bytes: SQ8 codes of 384-d rows (`sq8_scan_l2`) and 1-bit codes of 384-d
//!   rows (`bit_scan`). Criterion reports each in bytes/s; the summary printed first
//!   gives each kernel's share of the bound from one interleaved run.
//! - `in_cache/*`: per-call cost of the f32 and code kernels on cache-resident data, at
//!   every instruction-set level (scalar reference included), among them the SQ4
//!   estimate the re-rank makes per candidate (`sq4_estimate_*_384`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use drift::kernels::dispatch::{self, KernelLevel};
use drift::kernels::{distance, int8, rabitq, sq4, sq8};

const DIM: usize = 384;

fn working_set_bytes() -> usize {
    let gib: f64 = std::env::var("DRIFT_BENCH_GIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((gib * (1u64 << 30) as f64) as usize) / (DIM * 64) * (DIM * 64)
}

fn filled(bytes: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sum_u64(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).fold(0u64, |a, c| a.wrapping_add(u64::from_le_bytes(c.try_into().unwrap())))
}

struct Streams {
    bytes: Vec<u8>,
    query: Vec<i16>,
    planes: Vec<u64>,
    tables: Vec<u8>,
    sums: Vec<i32>,
    weights: Vec<u32>,
}

impl Streams {
    fn new() -> Streams {
        let bytes = filled(working_set_bytes());
        let rows = bytes.len() / DIM;
        Streams {
            query: (0..DIM).map(|i| (i % 255) as i16).collect(),
            planes: (0..4 * 8).map(|i| 0x5555_5555_5555_5555u64.rotate_left(i)).collect(),
            tables: nibble_tables(),
            sums: vec![0; rows],
            weights: vec![0; bytes.len() / 64],
            bytes,
        }
    }
    fn bound(&self) -> u64 {
        sum_u64(&self.bytes)
    }
    fn sq8(&mut self) {
        sq8::scan_l2_codes_at(dispatch::active(), &self.bytes, &self.query, &mut self.sums);
    }
    fn bits(&mut self) {
        rabitq::weighted_popcounts(dispatch::active(), &self.bytes, &self.planes, 8, &mut self.weights);
    }
    /// The same bytes read as 512-bit codes in the blocked layout (row group v3).
    fn bits_blocked(&mut self) {
        rabitq::weighted_sums_blocked(dispatch::active(), &self.bytes, 64, &self.tables, &self.tables, &mut self.weights);
    }
}

/// Query nibble tables for 512-bit codes (32 bytes per code byte, entries ≤ 60).
fn nibble_tables() -> Vec<u8> {
    (0..64 * 32).map(|i| (i * 7 % 61) as u8).collect()
}

fn gbps(bytes: usize, f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    bytes as f64 / best / 1e9
}

fn summary(s: &mut Streams) {
    let n = s.bytes.len();
    let bound = gbps(n, &mut || {
        black_box(s.bound());
    });
    let sq8 = gbps(n, &mut || s.sq8());
    let bits = gbps(n, &mut || s.bits());
    let blocked = gbps(n, &mut || s.bits_blocked());
    println!(
        "kernel level {}; working set {:.2} GiB\n  memory-bandwidth bound (sequential u64 sum): {bound:.2} GB/s\n  \
         SQ8 L2 scan, 384-d rows: {sq8:.2} GB/s = {:.0}% of the bound ({:.1} M rows/s)\n  \
         1-bit scan, 512-bit codes: {bits:.2} GB/s = {:.0}% of the bound ({:.1} M rows/s)\n  \
         1-bit scan, 512-bit codes, blocked layout: {blocked:.2} GB/s = {:.0}% of the bound ({:.1} M rows/s)",
        dispatch::active().name(),
        n as f64 / (1u64 << 30) as f64,
        100.0 * sq8 / bound,
        sq8 * 1e9 / DIM as f64 / 1e6,
        100.0 * bits / bound,
        bits * 1e9 / 64.0 / 1e6,
        100.0 * blocked / bound,
        blocked * 1e9 / 64.0 / 1e6,
    );
}

fn bandwidth(c: &mut Criterion) {
    let mut s = Streams::new();
    summary(&mut s);
    let mut group = c.benchmark_group("bandwidth");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(s.bytes.len() as u64));
    group.bench_function("sequential_sum_bound", |b| b.iter(|| black_box(s.bound())));
    group.bench_function("sq8_scan_l2", |b| b.iter(|| s.sq8()));
    group.bench_function("bit_scan", |b| b.iter(|| s.bits()));
    group.bench_function("bit_scan_blocked", |b| b.iter(|| s.bits_blocked()));
    group.finish();
}

fn in_cache(c: &mut Criterion) {
    let a: Vec<f32> = (0..DIM).map(|i| (i as f32 * 0.1).sin()).collect();
    let b: Vec<f32> = (0..DIM).map(|i| (i as f32 * 0.2).cos()).collect();
    let codes = filled(DIM * 256);
    let query: Vec<i16> = (0..DIM).map(|i| (i % 200) as i16).collect();
    let mut sums = vec![0i32; 256];
    // 64 rows of 512-bit codes: one shard list of the MiniLM index, as a probe scans it.
    let bit_codes = filled(64 * 64);
    let planes: Vec<u64> = (0..4 * 8).map(|i| 0x5555_5555_5555_5555u64.rotate_left(i)).collect();
    let tables = nibble_tables();
    let mut weights = vec![0u32; 64];
    // One SQ4 code of a 384-d row, as the re-rank estimates a candidate.
    let mut sq4_code = vec![0u8; sq4::code_len(DIM)];
    let (base, step) = sq4::encode_row(&a, &mut sq4_code);
    let mut sq4_l2 = sq4::Sq4Query::default();
    sq4_l2.prepare(drift::Metric::L2, &b);
    let mut sq4_ip = sq4::Sq4Query::default();
    sq4_ip.prepare(drift::Metric::InnerProduct, &b);
    let mut bit_query = rabitq::BitQuery::default();
    let mut group = c.benchmark_group("in_cache");
    // Once per search: rotate the 384-d query and build its nibble tables.
    group.throughput(Throughput::Elements(1));
    group.bench_function("bit_query_prepare_384", |bench| {
        bench.iter(|| bit_query.prepare(drift::Metric::L2, black_box(&b)))
    });
    // One 4 × 4 block of 384-d dot products, as k-means compares rows with centroids.
    let rows4: Vec<Vec<f32>> = (0..8).map(|r| (0..DIM).map(|i| ((r * DIM + i) as f32 * 0.01).sin()).collect()).collect();
    let mut block = [0f32; 16];
    group.throughput(Throughput::Elements(16));
    group.bench_function("dots_4x4_384", |bench| {
        let (x, y) = ([0, 1, 2, 3].map(|r| &rows4[r][..]), [4, 5, 6, 7].map(|r| &rows4[r][..]));
        bench.iter(|| distance::dots_4x4(black_box(x), black_box(y), &mut block))
    });
    // The same block as 8-bit codes, as k-means chooses candidates where the CPU has VNNI.
    let space = int8::CodeSpace::fit(&rows4.concat(), DIM);
    let row_codes: Vec<Vec<u8>> = rows4[..4]
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            space.encode_row(r, &mut out);
            out
        })
        .collect();
    let centroid_codes: Vec<Vec<i8>> = rows4[4..]
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            space.encode_centroid(r, &mut out);
            out
        })
        .collect();
    // What k-means runs: the products with their sums and distance terms in registers.
    group.bench_function("estimates_4x4_int8_384", |bench| {
        let (x, y) = ([0, 1, 2, 3].map(|r| &row_codes[r][..]), [0, 1, 2, 3].map(|r| &centroid_codes[r][..]));
        bench.iter(|| int8::estimates_4x4(black_box(x), black_box(y), [1.0; 4], [0.5; 4], 1e-4, &mut block))
    });
    for level in dispatch::available() {
        let name = level.name();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("l2_f32_384/{name}"), |bench| {
            bench.iter(|| distance::l2_squared_at(level, black_box(&a), black_box(&b)))
        });
        group.bench_function(format!("sq4_estimate_l2_384/{name}"), |bench| {
            bench.iter(|| sq4_l2.estimate_at(level, black_box(&sq4_code), base, step))
        });
        group.bench_function(format!("sq4_estimate_ip_384/{name}"), |bench| {
            bench.iter(|| sq4_ip.estimate_at(level, black_box(&sq4_code), base, step))
        });
        group.throughput(Throughput::Elements(256));
        group.bench_function(format!("sq8_l2_256_rows/{name}"), |bench| {
            bench.iter(|| sq8::scan_l2_codes_at(level, black_box(&codes), &query, &mut sums))
        });
        group.throughput(Throughput::Elements(64));
        group.bench_function(format!("bit_scan_64_rows/{name}"), |bench| {
            bench.iter(|| rabitq::weighted_popcounts(level, black_box(&bit_codes), &planes, 8, &mut weights))
        });
        group.bench_function(format!("bit_scan_blocked_64_rows/{name}"), |bench| {
            bench.iter(|| rabitq::weighted_sums_blocked(level, black_box(&bit_codes), 64, &tables, &tables, &mut weights))
        });
    }
    let _ = KernelLevel::Scalar;
    group.finish();
}

criterion_group!(benches, bandwidth, in_cache);
criterion_main!(benches);
