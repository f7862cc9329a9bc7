//! k-means for the centroid index: k-means++ seeding from a fixed seed, Lloyd
//! iterations, and for large `k` flat k-means trained on a sample with a grouped
//! assignment of every row ([`partition`]).
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
    let mut centroids = seed_plus_plus(&rows, d, &training, k.min(training.len()), &mut rng);
    lloyd(&rows, d, &mut centroids, iterations, false);
    centroids
}

/// `iterations` Lloyd steps of `centroids` over `rows` (both row-major, `d` wide):
/// every row to its nearest centroid (`grouped`: its nearest through
/// `CentroidGroups`, regrouped every step), every centroid to the mean of its rows.
/// An empty cluster is re-seeded from the row farthest from its centroid.
fn lloyd(rows: &[f32], d: usize, centroids: &mut [f32], iterations: usize, grouped: bool) {
    let k = centroids.len() / d;
    let mut sums = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
    let points: Vec<&[f32]> = rows.chunks_exact(d).collect();
    for _ in 0..iterations {
        let mut assigned =
            if grouped { CentroidGroups::new(centroids, d).nearest(&points) } else { nearest_many(&points, centroids, d) };
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
/// For `k` up to 64 this is plain k-means (k-means++ seeding, then Lloyd steps over up
/// to 256 rows per centroid) and every row goes to its nearest centroid.
///
/// Above, flat k-means is trained on a sample of `SAMPLE_PER_CENTROID` rows per
/// centroid, seeded with `k` distinct sample rows, for `SAMPLED_ITERATIONS` Lloyd
/// steps. In each step, and in the final assignment of every row, the centroids are
/// grouped by k-means into `√k` groups (`CentroidGroups`) and a row goes to its
/// nearest centroid among the members of its three nearest groups. Cost is about
/// `(s·k·i + n)·4√k·d` for `s·k` sample rows and `i` steps, instead of `n·k·i·d`.
///
/// The centroids returned are the trained ones, not the means of the rows assigned to
/// them: a row then sits in the list of the centroid that routing finds nearest it
/// (simulated with FAISS on MiniLM, moving them afterwards lowered the share of true
/// top-10 neighbours within 74 lists from 0.956 to 0.948).
pub fn partition(vectors: &[f32], d: usize, k: usize, seed: u64) -> Partition {
    // Lloyd passes of the plain (small k) case.
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
        return finish(centroids, d, assignment);
    }
    // Flat k-means over a sample, seeded with distinct sample rows.
    let mut rng = SplitMix::new(seed);
    let chosen = sample(n, SAMPLE_PER_CENTROID * k, &mut rng);
    let mut rows = Vec::with_capacity(chosen.len() * d);
    for &p in &chosen {
        rows.extend_from_slice(&vectors[p * d..p * d + d]);
    }
    let mut centroids = Vec::with_capacity(k * d);
    for i in sample(chosen.len(), k, &mut rng) {
        centroids.extend_from_slice(&rows[i * d..i * d + d]);
    }
    lloyd(&rows, d, &mut centroids, SAMPLED_ITERATIONS, true);
    let all_points: Vec<&[f32]> = vectors.chunks_exact(d).collect();
    let assignment = CentroidGroups::new(&centroids, d).nearest(&all_points).into_iter().map(|(c, _)| c as u32).collect();
    finish(centroids, d, assignment)
}

/// Training rows per centroid of a large-`k` partition. On the MiniLM dev set (59k ×
/// 384-d, 461 centroids; `recall_qps`, three interleaved rounds) 32 rows × 10 grouped
/// steps reached recall@10 0.95 within 76 lists (12.3k rows per query) and 0.99 within
/// 215, at 12–18% and 7–9% more queries/s than the two-level k-means it replaced (√k
/// top clusters trained first, each split on its own rows: 92 lists, 12.9k rows, and
/// 232). Smaller samples give fewer but larger lists near the queries: 6 rows reached
/// 0.95 within 68 lists but 15.8k rows, and ran 3–4% slower than the two-level build.
const SAMPLE_PER_CENTROID: usize = 32;

/// Lloyd steps of a large-`k` partition over its sample.
const SAMPLED_ITERATIONS: usize = 10;

/// Centroids grouped by k-means into `√k` groups, each group's members laid out
/// contiguously, so that a row can be compared with the members of its three nearest
/// groups only (about `4√k` distances instead of `k`).
struct CentroidGroups {
    d: usize,
    /// Row-major group centres.
    centres: Vec<f32>,
    /// The centroids, ordered by group.
    members: Vec<f32>,
    /// `order[i]`: the caller's index of `members` row `i`.
    order: Vec<usize>,
    /// `ranges[g]`: group `g`'s rows of `members`.
    ranges: Vec<std::ops::Range<usize>>,
}

impl CentroidGroups {
    /// Groups found by 16 Lloyd steps from a fixed seed (deterministic).
    fn new(centroids: &[f32], d: usize) -> Self {
        let k = centroids.len() / d;
        let every: Vec<usize> = (0..k).collect();
        let centres = train(centroids, d, &every, ((k as f64).sqrt().round() as usize).max(2), 16, k, 0x6A09_E667);
        let group_of = assign(centroids, d, &centres);
        let mut order = every;
        order.sort_by_key(|&c| (group_of[c], c));
        let mut ranges = vec![0..0; centres.len() / d];
        let mut members = Vec::with_capacity(k * d);
        for (at, &c) in order.iter().enumerate() {
            let g = group_of[c] as usize;
            if ranges[g].is_empty() {
                ranges[g] = at..at;
            }
            ranges[g].end = at + 1;
            members.extend_from_slice(&centroids[c * d..c * d + d]);
        }
        CentroidGroups { d, centres, members, order, ranges }
    }

    /// For each of `points`, the caller's index of its nearest centroid among the
    /// members of its three nearest groups, and the squared distance; blocked per
    /// group (gather the rows that consider each group, then one blocked pass each).
    fn nearest(&self, points: &[&[f32]]) -> Vec<(usize, f32)> {
        const PROBE: usize = 3;
        let d = self.d;
        let mut nearest_groups = vec![[(f32::INFINITY, usize::MAX); PROBE]; points.len()];
        for_each_distance(points, &self.centres, d, |p, g, dist| {
            let slots = &mut nearest_groups[p];
            if dist < slots[PROBE - 1].0 {
                slots[PROBE - 1] = (dist, g);
                slots.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            }
        });
        let mut considering: Vec<Vec<usize>> = vec![Vec::new(); self.ranges.len()];
        for (p, slots) in nearest_groups.iter().enumerate() {
            for &(_, g) in slots.iter().filter(|(_, g)| *g != usize::MAX) {
                considering[g].push(p);
            }
        }
        let mut best = vec![(usize::MAX, f32::INFINITY); points.len()];
        for (g, rows) in considering.iter().enumerate() {
            let range = self.ranges[g].clone();
            if rows.is_empty() || range.is_empty() {
                continue;
            }
            let gathered: Vec<&[f32]> = rows.iter().map(|p| points[*p]).collect();
            for_each_distance(&gathered, &self.members[range.start * d..range.end * d], d, |i, c, dist| {
                let slot = &mut best[rows[i]];
                let at = range.start + c;
                if dist < slot.1 || (dist == slot.1 && at < slot.0) {
                    *slot = (at, dist);
                }
            });
        }
        // Defensive: a row whose considered groups had no members gets the global nearest.
        let orphans: Vec<usize> = (0..points.len()).filter(|p| best[*p].0 == usize::MAX).collect();
        if !orphans.is_empty() {
            let gathered: Vec<&[f32]> = orphans.iter().map(|p| points[*p]).collect();
            for (p, found) in orphans.iter().zip(nearest_many(&gathered, &self.members, d)) {
                best[*p] = found;
            }
        }
        best.into_iter().map(|(at, dist)| (self.order[at], dist)).collect()
    }
}

/// Drops centroids no row was assigned to (renumbering the assignment); the others
/// are kept as trained.
fn finish(centroids: Vec<f32>, d: usize, mut assignment: Vec<u32>) -> Partition {
    let k = centroids.len() / d;
    let mut counts = vec![0usize; k];
    for c in &assignment {
        counts[*c as usize] += 1;
    }
    let mut renumber = vec![u32::MAX; k];
    let mut out = Vec::with_capacity(k * d);
    for c in 0..k {
        if counts[c] > 0 {
            renumber[c] = (out.len() / d) as u32;
            out.extend_from_slice(&centroids[c * d..c * d + d]);
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

    /// Rows of `points` whose assigned centroid is not their nearest one.
    fn misassigned(points: &[f32], p: &Partition) -> usize {
        points
            .chunks_exact(2)
            .zip(&p.assignment)
            .filter(|(v, a)| {
                let own = l2_squared(v, &p.centroids[**a as usize * 2..**a as usize * 2 + 2]);
                nearest(v, &p.centroids, 2).1 < own
            })
            .count()
    }

    #[test]
    fn a_large_k_partition_puts_rows_with_their_nearest_trained_centroid() {
        // 10 × 10 separated blobs of 30 rows, 100 centroids: the sampled path.
        let centers: Vec<[f32; 2]> = (0..100).map(|i| [(i % 10) as f32 * 10.0, (i / 10) as f32 * 10.0]).collect();
        let v = blobs(30, &centers, 5);
        let p = partition(&v, 2, 100, 9);
        let k = p.centroids.len() / 2;
        assert!(k > 64 && k <= 100, "{k} centroids");
        let mut rows = vec![0; k];
        p.assignment.iter().for_each(|a| rows[*a as usize] += 1);
        assert!(rows.iter().all(|r| *r > 0), "no centroid is left without rows");
        // The grouped assignment may miss a nearest centroid just across a group's edge.
        assert!(misassigned(&v, &p) * 50 <= v.len() / 2, "{} of {} rows not with their nearest centroid", misassigned(&v, &p), v.len() / 2);
        let again = partition(&v, 2, 100, 9);
        assert_eq!((again.centroids, again.assignment), (p.centroids, p.assignment), "deterministic");
    }

    #[test]
    fn a_large_k_partition_of_uniform_rows_assigns_nearly_all_to_their_nearest() {
        let k = 300;
        let mut rng = SplitMix::new(4);
        let v: Vec<f32> = (0..2 * SAMPLE_PER_CENTROID * k * 2).map(|_| rng.unit() as f32 * 100.0).collect();
        let p = partition(&v, 2, k, 3);
        let found = p.centroids.len() / 2;
        assert!(found > k * 9 / 10 && found <= k, "{found} centroids of {k}");
        // Uniform rows: the grouped assignment finds the nearest for nearly all.
        assert!(misassigned(&v, &p) * 50 <= v.len() / 2, "{} of {} rows not with their nearest centroid", misassigned(&v, &p), v.len() / 2);
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
