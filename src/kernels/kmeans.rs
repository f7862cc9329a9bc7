//! k-means for the centroid index: k-means++ seeding from a fixed seed, Lloyd
//! iterations, and a two-level (hierarchical) build for large `k`.
//!
//! Invariants: deterministic — the same vectors, `k` and seed give the same centroids
//! bit for bit (one thread, fixed iteration order, a seeded generator); never returns
//! an empty centroid set for non-empty input, and never more centroids than distinct
//! input rows can support (duplicates collapse into one cluster, the rest are
//! dropped rather than left empty).

use super::distance::l2_squared;

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Index of the nearest of `centroids` (row-major, `d` wide) to `v`, and its squared
/// distance.
pub fn nearest(v: &[f32], centroids: &[f32], d: usize) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (i, c) in centroids.chunks_exact(d).enumerate() {
        let dist = l2_squared(v, c);
        if dist < best.1 {
            best = (i, dist);
        }
    }
    best
}

/// Calls `visit(point, centroid, squared distance)` for every pair of `points` and
/// `centroids` (row-major, `d` wide), computing `‖p‖² + ‖c‖² − 2 p·c` over 4 × 4
/// blocks (`distance::dots_4x4`) and exact L2 for the ragged edges.
pub fn for_each_distance(points: &[&[f32]], centroids: &[f32], d: usize, mut visit: impl FnMut(usize, usize, f32)) {
    let k = centroids.len() / d.max(1);
    if k == 0 {
        return;
    }
    let cnorm: Vec<f32> = centroids.chunks_exact(d.max(1)).map(|c| super::distance::dot(c, c)).collect();
    let mut block = [0f32; 16];
    for (pb, points4) in points.chunks(4).enumerate() {
        let base = pb * 4;
        // Ragged edges repeat the last row or centroid; their results are not visited.
        let prow = [0, 1, 2, 3].map(|r| points4[r.min(points4.len() - 1)]);
        let pn = prow.map(|p| super::distance::dot(p, p));
        for c0 in (0..k).step_by(4) {
            let cidx = [0, 1, 2, 3].map(|j| (c0 + j).min(k - 1));
            let cs = cidx.map(|c| &centroids[c * d..(c + 1) * d]);
            super::distance::dots_4x4(prow, cs, &mut block);
            for r in 0..points4.len() {
                for j in 0..(k - c0).min(4) {
                    visit(base + r, c0 + j, (pn[r] + cnorm[c0 + j] - 2.0 * block[4 * r + j]).max(0.0));
                }
            }
        }
    }
}

/// For each of `points`, the index of the nearest of `centroids` and its squared
/// distance.
pub fn nearest_many(points: &[&[f32]], centroids: &[f32], d: usize) -> Vec<(usize, f32)> {
    let mut best = vec![(0usize, f32::INFINITY); points.len()];
    for_each_distance(points, centroids, d, |p, c, dist| {
        if dist < best[p].1 {
            best[p] = (c, dist);
        }
    });
    best
}

/// Nearest centroid of every row.
pub fn assign(vectors: &[f32], d: usize, centroids: &[f32]) -> Vec<u32> {
    let points: Vec<&[f32]> = vectors.chunks_exact(d).collect();
    nearest_many(&points, centroids, d).into_iter().map(|(c, _)| c as u32).collect()
}

/// Up to `max` rows picked evenly (deterministic), as indices.
fn sample(n: usize, max: usize, rng: &mut SplitMix) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    // Partial Fisher–Yates over an index permutation, then sorted for locality.
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..max {
        let j = i + rng.below(n - i);
        idx.swap(i, j);
    }
    idx.truncate(max);
    idx.sort_unstable();
    idx
}

/// k-means++ seeding over `points` (indices into `vectors`).
fn seed_plus_plus(vectors: &[f32], d: usize, points: &[usize], k: usize, rng: &mut SplitMix) -> Vec<f32> {
    let row = |i: usize| &vectors[points[i] * d..points[i] * d + d];
    let mut centroids = Vec::with_capacity(k * d);
    centroids.extend_from_slice(row(rng.below(points.len())));
    let mut best: Vec<f32> = (0..points.len()).map(|i| l2_squared(row(i), &centroids[..d])).collect();
    while centroids.len() < k * d {
        let total: f64 = best.iter().map(|x| f64::from(*x)).sum();
        if total <= 0.0 {
            break; // every remaining point coincides with a centroid
        }
        let mut target = rng.unit() * total;
        let mut chosen = points.len() - 1;
        for (i, b) in best.iter().enumerate() {
            target -= f64::from(*b);
            if target < 0.0 {
                chosen = i;
                break;
            }
        }
        let start = centroids.len();
        centroids.extend_from_slice(row(chosen));
        for (i, b) in best.iter_mut().enumerate() {
            let dist = l2_squared(row(i), &centroids[start..start + d]);
            if dist < *b {
                *b = dist;
            }
        }
    }
    centroids
}

/// Trains up to `k` centroids on the rows `points` of `vectors` (row-major, `d`
/// wide): k-means++ seeding on at most `max_sample` of them, then `iterations` Lloyd
/// steps. Empty clusters are re-seeded from the point farthest from its centroid.
pub fn train(vectors: &[f32], d: usize, points: &[usize], k: usize, iterations: usize, max_sample: usize, seed: u64) -> Vec<f32> {
    if points.is_empty() || k == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix::new(seed);
    let chosen = sample(points.len(), max_sample.max(k), &mut rng);
    // The training rows, copied next to each other: every pass below streams them, and
    // a contiguous block of a cluster's rows stays in cache where scattered rows do not.
    let mut rows = Vec::with_capacity(chosen.len() * d);
    for i in &chosen {
        let p = points[*i];
        rows.extend_from_slice(&vectors[p * d..p * d + d]);
    }
    let training: Vec<usize> = (0..chosen.len()).collect();
    let vectors = &rows;
    let mut centroids = seed_plus_plus(vectors, d, &training, k.min(training.len()), &mut rng);
    let k = centroids.len() / d;
    let mut sums = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
    let points: Vec<&[f32]> = vectors.chunks_exact(d).collect();
    for _ in 0..iterations {
        let mut assigned = nearest_many(&points, &centroids, d);
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for ((c, _), p) in assigned.iter().zip(&points) {
            counts[*c] += 1;
            for (s, x) in sums[c * d..c * d + d].iter_mut().zip(p.iter()) {
                *s += f64::from(*x);
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    centroids[c * d + j] = (sums[c * d + j] / counts[c] as f64) as f32;
                }
            } else if let Some((far, _)) =
                assigned.iter().enumerate().max_by(|a, b| a.1.1.total_cmp(&b.1.1).then(b.0.cmp(&a.0)))
            {
                centroids[c * d..c * d + d].copy_from_slice(points[far]);
                assigned[far].1 = 0.0;
            }
        }
    }
    centroids
}

/// A trained partition: centroids and the centroid of every input row.
#[derive(Debug, Clone)]
pub struct Partition {
    /// Row-major centroids.
    pub centroids: Vec<f32>,
    /// For every input row, the index of its centroid.
    pub assignment: Vec<u32>,
}

/// Partitions every row of `vectors` into about `k` clusters.
///
/// For `k` up to 64 this is plain k-means. Above, it is two-level: `√k` top clusters,
/// then each top cluster split into a share of `k` proportional to its size; every row
/// is finally assigned to its nearest centroid among the children of its three nearest
/// top clusters, and each centroid is moved to the mean of its rows. Cost is about
/// `n·(√k + 3·√k)·d` per pass instead of `n·k·d`.
pub fn partition(vectors: &[f32], d: usize, k: usize, seed: u64) -> Partition {
    // Lloyd passes per level. On the MiniLM dev set (59k × 384-d, 461 centroids) 16
    // instead of 8 raised recall@10 at a fixed nprobe (0.9918 vs 0.9900 at 240, 0.9875
    // vs 0.9853 at 208), so recall 0.99 needs ~6% fewer lists, for 0.1 s more build
    // (1.15 vs 1.04 s); 32 found no more.
    const ITERATIONS: usize = 16;
    let n = vectors.len() / d.max(1);
    let all: Vec<usize> = (0..n).collect();
    if n == 0 {
        return Partition { centroids: Vec::new(), assignment: Vec::new() };
    }
    let k = k.clamp(1, n);
    if k <= 64 {
        let centroids = train(vectors, d, &all, k, ITERATIONS, 256 * k, seed);
        let assignment = assign(vectors, d, &centroids);
        return finish(vectors, d, centroids, assignment);
    }
    let top_k = ((k as f64).sqrt().round() as usize).max(2);
    let top = train(vectors, d, &all, top_k, ITERATIONS, 64 * top_k, seed);
    let top_k = top.len() / d;
    let top_of = assign(vectors, d, &top);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); top_k];
    for (i, t) in top_of.iter().enumerate() {
        members[*t as usize].push(i);
    }
    let mut centroids = Vec::with_capacity(k * d);
    let mut children: Vec<std::ops::Range<usize>> = Vec::with_capacity(top_k);
    for (t, rows) in members.iter().enumerate() {
        let first = centroids.len() / d;
        if !rows.is_empty() {
            let share = ((k * rows.len()) as f64 / n as f64).round().max(1.0) as usize;
            centroids.extend(train(vectors, d, rows, share, ITERATIONS, 64 * share, seed ^ (t as u64 + 1)));
        }
        children.push(first..centroids.len() / d);
    }
    // Every row against the children of its three nearest top clusters, blocked per top
    // cluster: gather the rows that consider each top, then one blocked pass each.
    const PROBE: usize = 3;
    let all_points: Vec<&[f32]> = vectors.chunks_exact(d).collect();
    let mut nearest_tops = vec![[(f32::INFINITY, usize::MAX); PROBE]; n];
    for_each_distance(&all_points, &top, d, |p, t, dist| {
        let slots = &mut nearest_tops[p];
        if dist < slots[PROBE - 1].0 {
            slots[PROBE - 1] = (dist, t);
            slots.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
    });
    let mut considering: Vec<Vec<usize>> = vec![Vec::new(); top_k];
    for (p, slots) in nearest_tops.iter().enumerate() {
        for &(_, t) in slots.iter().filter(|(_, t)| *t != usize::MAX) {
            considering[t].push(p);
        }
    }
    let mut best = vec![(u32::MAX, f32::INFINITY); n];
    for (t, rows) in considering.iter().enumerate() {
        let range = children[t].clone();
        if rows.is_empty() || range.is_empty() {
            continue;
        }
        let points: Vec<&[f32]> = rows.iter().map(|p| all_points[*p]).collect();
        for_each_distance(&points, &centroids[range.start * d..range.end * d], d, |i, c, dist| {
            let slot = &mut best[rows[i]];
            let id = (range.start + c) as u32;
            if dist < slot.1 || (dist == slot.1 && id < slot.0) {
                *slot = (id, dist);
            }
        });
    }
    // Defensive: a row whose considered tops had no children gets the global nearest.
    let orphans: Vec<usize> = (0..n).filter(|p| best[*p].0 == u32::MAX).collect();
    if !orphans.is_empty() {
        let points: Vec<&[f32]> = orphans.iter().map(|p| all_points[*p]).collect();
        for (p, (c, dist)) in orphans.iter().zip(nearest_many(&points, &centroids, d)) {
            best[*p] = (c as u32, dist);
        }
    }
    let assignment: Vec<u32> = best.iter().map(|(c, _)| *c).collect();
    finish(vectors, d, centroids, assignment)
}

/// Moves each centroid to the mean of its rows and drops centroids with no rows
/// (renumbering the assignment).
fn finish(vectors: &[f32], d: usize, centroids: Vec<f32>, mut assignment: Vec<u32>) -> Partition {
    let k = centroids.len() / d;
    let mut sums = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
    for (v, c) in vectors.chunks_exact(d).zip(&assignment) {
        let c = *c as usize;
        counts[c] += 1;
        for (s, x) in sums[c * d..c * d + d].iter_mut().zip(v) {
            *s += f64::from(*x);
        }
    }
    let mut renumber = vec![u32::MAX; k];
    let mut out = Vec::with_capacity(k * d);
    for c in 0..k {
        if counts[c] > 0 {
            renumber[c] = (out.len() / d) as u32;
            out.extend((0..d).map(|j| (sums[c * d + j] / counts[c] as f64) as f32));
        }
    }
    for a in assignment.iter_mut() {
        *a = renumber[*a as usize];
    }
    Partition { centroids: out, assignment }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(per: usize, centers: &[[f32; 2]], seed: u64) -> Vec<f32> {
        let mut rng = SplitMix::new(seed);
        let mut out = Vec::new();
        for c in centers {
            for _ in 0..per {
                out.push(c[0] + (rng.unit() as f32 - 0.5) * 0.1);
                out.push(c[1] + (rng.unit() as f32 - 0.5) * 0.1);
            }
        }
        out
    }

    #[test]
    fn finds_well_separated_clusters() {
        let centers = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
        let v = blobs(50, &centers, 1);
        let p = partition(&v, 2, 4, 7);
        assert_eq!(p.centroids.len(), 8);
        for (i, a) in p.assignment.iter().enumerate() {
            assert_eq!(*a, p.assignment[i / 50 * 50], "row {i} left its blob");
        }
    }

    #[test]
    fn is_deterministic_and_handles_duplicates() {
        let v = blobs(300, &[[0.0, 0.0], [5.0, 5.0], [9.0, 1.0]], 3);
        let a = partition(&v, 2, 100, 42);
        let b = partition(&v, 2, 100, 42);
        assert_eq!(a.centroids, b.centroids);
        assert_eq!(a.assignment, b.assignment);
        let same = vec![1.0f32; 2 * 500];
        let p = partition(&same, 2, 20, 1);
        assert_eq!(p.centroids, vec![1.0, 1.0], "identical rows collapse into one cluster");
        assert!(p.assignment.iter().all(|a| *a == 0));
    }
}
