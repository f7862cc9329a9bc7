//! Times the k-means partition an index build runs (`kernels::kmeans::partition`) on an
//! fvecs dataset, and reports its quality: the rows not with their nearest centroid
//! and the inertia (Σ of each row's squared distance to its centroid) next to the
//! inertia of assigning every row to its nearest.
//!
//! ```text
//! cargo run --release --example partition_time -- <dataset-dir> [k] [repetitions]
//! ```
//!
//! `k` defaults to 461 (what a build of the MiniLM dev set's 59,004 rows trains with
//! the default `index_shard_rows`), repetitions to 5; the time printed is the fastest
//! and the median repetition. `DRIFT_KERNELS=avx2` (or `scalar`) times the f32 path at
//! that level on a CPU with AVX-512 VNNI.

use std::path::Path;
use std::time::Instant;

use drift::kernels::kmeans;

fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let dim = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let mut out = Vec::with_capacity(bytes.len() / 4);
    for chunk in bytes.chunks_exact(4 + 4 * dim) {
        out.extend(chunk[4..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))));
    }
    (dim, out)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dataset) = args.get(1) else {
        eprintln!("usage: partition_time <dataset-dir> [k] [repetitions]");
        std::process::exit(2);
    };
    let k: usize = args.get(2).map_or(461, |s| s.parse().expect("k"));
    let repetitions: usize = args.get(3).map_or(5, |s| s.parse().expect("repetitions")).max(1);
    let (d, vectors) = read_fvecs(&Path::new(dataset).join("base.fvecs"));
    let mut times = Vec::new();
    let mut partition = None;
    for _ in 0..repetitions {
        let started = Instant::now();
        partition = Some(kmeans::partition(&vectors, d, k, 7));
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let p = partition.expect("at least one repetition");
    let rows: Vec<&[f32]> = vectors.chunks_exact(d).collect();
    let nearest = kmeans::nearest_many(&rows, &p.centroids, d);
    let misassigned = nearest.iter().zip(&p.assignment).filter(|(n, a)| n.0 != **a as usize).count();
    let inertia: f64 = rows
        .iter()
        .zip(&p.assignment)
        .map(|(row, a)| {
            let c = &p.centroids[*a as usize * d..(*a as usize + 1) * d];
            row.iter().zip(c).map(|(x, y)| f64::from((x - y) * (x - y))).sum::<f64>()
        })
        .sum();
    let best: f64 = nearest.iter().map(|n| f64::from(n.1)).sum();
    println!(
        "{{\"rows\":{},\"k\":{},\"centroids\":{},\"fastest_s\":{:.3},\"median_s\":{:.3},\"misassigned\":{misassigned},\"inertia\":{inertia:.2},\"nearest_inertia\":{best:.2}}}",
        rows.len(),
        k,
        p.centroids.len() / d,
        times[0],
        times[times.len() / 2]
    );
}
