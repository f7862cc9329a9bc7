//! k-means for the centroid index: k-means++ seeding from a fixed seed, Lloyd
//! iterations, and for large `k` flat k-means trained on a sample with a grouped
//! assignment of every row ([`partition`]).
//!
//! Invariants: deterministic — the same vectors, `k` and seed give the same centroids
//! bit for bit at one kernel level (one thread, fixed iteration order, a seeded
//! generator; the level in use — scalar, AVX2, AVX-512, AVX-512 with VNNI codes —
//! orders the sums differently, so two machines may disagree); never returns
//! an empty centroid set for non-empty input, and never more centroids than distinct
//! input rows can support (duplicates collapse into one cluster, the rest are
//! dropped rather than left empty).

use super::distance::l2_squared;
use super::int8::{self, CodeSpace};

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

/// Calls `visit(i0, j0, values)` for every 4 × 4 block of `points` × `centroids`
/// (`values[4r + c]` is point `i0 + r` against centroid `j0 + c`), with the values
/// `block(i0, j0, its four points, its four centroids, values)` computes (a blocked
/// kernel). Ragged edges repeat the last row or centroid: their values stand at
/// positions past the valid ones.
fn for_each_block<P: Copy, C: Copy, T: Copy + Default>(
    points: &[P],
    centroids: &[C],
    mut block: impl FnMut(usize, usize, [P; 4], [C; 4], &mut [T; 16]),
    mut visit: impl FnMut(usize, usize, &[T; 16]),
) {
    let k = centroids.len();
    if k == 0 {
        return;
    }
    let mut out = [T::default(); 16];
    for (pb, points4) in points.chunks(4).enumerate() {
        let prow = [0, 1, 2, 3].map(|r| points4[r.min(points4.len() - 1)]);
        for c0 in (0..k).step_by(4) {
            block(pb * 4, c0, prow, [0, 1, 2, 3].map(|j| centroids[(c0 + j).min(k - 1)]), &mut out);
            visit(pb * 4, c0, &out);
        }
    }
}

/// Calls `visit(point, centroid, squared distance)` for every pair of `points` and
/// `centroids` (row-major, `d` wide), computing `‖p‖² + ‖c‖² − 2 p·c` over 4 × 4
/// blocks (`distance::dots_4x4`).
pub fn for_each_distance(points: &[&[f32]], centroids: &[f32], d: usize, mut visit: impl FnMut(usize, usize, f32)) {
    let centroids: Vec<&[f32]> = centroids.chunks_exact(d.max(1)).collect();
    let point_norms = squared_norms(points);
    let centroid_norms = squared_norms(&centroids);
    let (n, k) = (points.len(), centroids.len());
    for_each_block(points, &centroids, |_, _, p, c, out| super::distance::dots_4x4(p, c, out), |p0, c0, dots| {
        for p in p0..(p0 + 4).min(n) {
            for c in c0..(c0 + 4).min(k) {
                visit(p, c, (point_norms[p] + centroid_norms[c] - 2.0 * dots[4 * (p - p0) + c - c0]).max(0.0));
            }
        }
    });
}

/// `‖r‖²` of every row.
fn squared_norms(rows: &[&[f32]]) -> Vec<f32> {
    rows.iter().map(|r| super::distance::dot(r, r)).collect()
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
    lloyd(&rows, d, &mut centroids, iterations, None);
    centroids
}

/// `iterations` Lloyd steps of `centroids` over `rows` (both row-major, `d` wide):
/// every row to its nearest centroid (with `grouped`, the same rows prepared for it:
/// its nearest through `CentroidGroups`, regrouped every step), every centroid to the
/// mean of its rows (summed in f32: a cluster holds a few hundred training rows at
/// most, and on the MiniLM dev set the partition came out the same as with f64 sums,
/// 5% faster). An empty cluster is re-seeded from the row farthest from its centroid.
fn lloyd(rows: &[f32], d: usize, centroids: &mut [f32], iterations: usize, grouped: Option<&GroupedRows>) {
    let k = centroids.len() / d;
    let mut sums = vec![0f32; k * d];
    let mut counts = vec![0usize; k];
    let points: Vec<&[f32]> = rows.chunks_exact(d).collect();
    for _ in 0..iterations {
        let mut assigned = match grouped {
            Some(rows) => CentroidGroups::new(centroids, d, rows.space).nearest(rows, Exactness::Estimated),
            None => nearest_many(&points, centroids, d),
        };
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for ((c, _), p) in assigned.iter().zip(&points) {
            counts[*c] += 1;
            for (s, x) in sums[c * d..c * d + d].iter_mut().zip(p.iter()) {
                *s += *x;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    centroids[c * d + j] = sums[c * d + j] / counts[c] as f32;
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
/// Where the CPU has AVX-512 VNNI and rows have at least `MIN_CODED_DIMENSION`
/// components, those distances are estimated from 8-bit codes (`kernels::int8`): a
/// Lloyd step takes the best estimate, and the final assignment measures each row's
/// `CODE_CANDIDATES` best in f32. On the MiniLM dev set (`examples/partition_time.rs`,
/// interleaved with the f32 build) that took the partition from 0.66–0.69 s to
/// 0.44–0.50 s at the same quality: inertia 35,834 vs 35,820, recall@10 (`recall_qps`)
/// 0.9522 vs 0.9523 at nprobe 120 / patience 45 and 0.9897 vs 0.9903 at 300 / 135.
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
    // One code space for every row (centroids, as means of rows, stay within it).
    let space = (int8::native() && d >= MIN_CODED_DIMENSION).then(|| CodeSpace::fit(vectors, d));
    lloyd(&rows, d, &mut centroids, SAMPLED_ITERATIONS, Some(&GroupedRows::new(&rows, d, space.as_ref())));
    let every_row = GroupedRows::new(vectors, d, space.as_ref());
    let groups = CentroidGroups::new(&centroids, d, space.as_ref());
    let assignment = groups.nearest(&every_row, Exactness::Measured).into_iter().map(|(c, _)| c as u32).collect();
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

/// Rows a grouped assignment places: the f32 rows, their squared norms, and, when
/// k-means compares codes (`space` is set), their 8-bit row codes; the norms are then
/// taken around the code space's centre, as the estimates need them.
struct GroupedRows<'a> {
    d: usize,
    rows: Vec<&'a [f32]>,
    norms: Vec<f32>,
    space: Option<&'a CodeSpace>,
    /// Row-major u8 codes, `d` per row (empty without `space`).
    codes: Vec<u8>,
}

impl<'a> GroupedRows<'a> {
    fn new(vectors: &'a [f32], d: usize, space: Option<&'a CodeSpace>) -> Self {
        let rows: Vec<&[f32]> = vectors.chunks_exact(d).collect();
        let mut codes = Vec::with_capacity(if space.is_some() { vectors.len() } else { 0 });
        let norms = match space {
            Some(space) => {
                rows.iter().for_each(|r| space.encode_row(r, &mut codes));
                rows.iter().map(|r| space.centred_norm(r)).collect()
            }
            None => squared_norms(&rows),
        };
        GroupedRows { d, norms, rows, space, codes }
    }

    fn code(&self, i: usize) -> &[u8] {
        &self.codes[i * self.d..(i + 1) * self.d]
    }
}

/// Centroids (or group centres) as a grouped assignment compares rows with them: f32
/// rows, squared norms, and with a code space their i8 codes, each code's sum, and norms
/// taken around the space's centre.
struct Targets {
    d: usize,
    rows: Vec<f32>,
    norms: Vec<f32>,
    codes: Vec<i8>,
    code_sums: Vec<i32>,
}

impl Targets {
    fn new(rows: Vec<f32>, d: usize, space: Option<&CodeSpace>) -> Self {
        let (mut codes, mut code_sums) = (Vec::new(), Vec::new());
        let norms = match space {
            Some(space) => rows
                .chunks_exact(d)
                .map(|c| {
                    code_sums.push(space.encode_centroid(c, &mut codes));
                    space.centred_norm(c)
                })
                .collect(),
            None => squared_norms(&rows.chunks_exact(d).collect::<Vec<_>>()),
        };
        Targets { d, rows, norms, codes, code_sums }
    }

    /// Calls `visit(i, j, estimate)` for every row `points[which[i]]` and every target
    /// `range.start + j`: the squared distance, exact or (with codes) estimated from
    /// them. Visits go a 4 × 4 block at a time ([`BlockVisit`]).
    fn estimate(&self, points: &GroupedRows, which: &[usize], range: std::ops::Range<usize>, mut visit: impl FnMut(BlockVisit, &[f32; 16])) {
        let d = self.d;
        let (n, k) = (which.len(), range.len());
        // Norms and per-target terms padded to whole blocks, so a block's sixteen
        // estimates are one branch-free loop.
        let mut norms: Vec<f32> = which.iter().map(|&p| points.norms[p]).collect();
        norms.resize(n.next_multiple_of(4), 0.0);
        let blocks = |i0: usize, j0: usize| BlockVisit { i0, j0, rows: (n - i0).min(4), targets: (k - j0).min(4) };
        match points.space {
            Some(space) => {
                let rows: Vec<&[u8]> = which.iter().map(|&p| points.code(p)).collect();
                let targets: Vec<&[i8]> = range.clone().map(|j| &self.codes[j * d..(j + 1) * d]).collect();
                let per_unit = space.distance_terms(0.0, 0).1;
                let mut offsets: Vec<f32> = range.map(|t| space.distance_terms(self.norms[t], self.code_sums[t]).0).collect();
                offsets.resize(k.next_multiple_of(4), 0.0);
                let kernel = |i0: usize, j0: usize, p: [&[u8]; 4], c: [&[i8]; 4], out: &mut [f32; 16]| {
                    int8::estimates_4x4(p, c, quad(&norms, i0), quad(&offsets, j0), per_unit, out)
                };
                for_each_block(&rows, &targets, kernel, |i0, j0, estimates| visit(blocks(i0, j0), estimates));
            }
            None => {
                let rows: Vec<&[f32]> = which.iter().map(|&p| points.rows[p]).collect();
                let mut offsets = self.norms[range.clone()].to_vec();
                offsets.resize(k.next_multiple_of(4), 0.0);
                let targets: Vec<&[f32]> = range.map(|j| &self.rows[j * d..(j + 1) * d]).collect();
                let kernel = |i0: usize, j0: usize, p: [&[f32]; 4], c: [&[f32]; 4], out: &mut [f32; 16]| {
                    super::distance::dots_4x4(p, c, out);
                    let (rows, targets) = (quad(&norms, i0), quad(&offsets, j0));
                    // Fixed-size rows of four: each is one vector add, subtract and max.
                    for (e, row) in out.chunks_exact_mut(4).zip(rows) {
                        for c in 0..4 {
                            e[c] = (row + targets[c] - 2.0 * e[c]).max(0.0);
                        }
                    }
                };
                for_each_block(&rows, &targets, kernel, |i0, j0, estimates| visit(blocks(i0, j0), estimates));
            }
        }
    }
}

/// `values[at..at + 4]` (padded to whole blocks by the caller).
#[inline]
fn quad(values: &[f32], at: usize) -> [f32; 4] {
    values[at..at + 4].try_into().expect("padded to whole blocks")
}

/// Where one 4 × 4 block of estimates stands: `estimates[4r + c]` is row `i0 + r`
/// against target `j0 + c`, valid for `r < rows` and `c < targets` (the rest repeat
/// edge values).
#[derive(Debug, Clone, Copy)]
struct BlockVisit {
    i0: usize,
    j0: usize,
    rows: usize,
    targets: usize,
}

impl BlockVisit {
    /// Offers every valid (`estimates[4r + c]`, `index_base + j0 + c`) of row `i0 + r` to
    /// the first `keep` slots of `table[row_of(i0 + r)]` through [`keep_smallest`].
    #[inline]
    fn offer<const N: usize>(
        &self,
        estimates: &[f32; 16],
        index_base: usize,
        table: &mut [[(f32, usize); N]],
        row_of: impl Fn(usize) -> usize,
        keep: usize,
    ) {
        for r in 0..self.rows {
            let row = &estimates[4 * r..4 * r + self.targets];
            let slots = &mut table[row_of(self.i0 + r)][..keep];
            // Most rows keep nothing from a block: one comparison with the row's minimum.
            let least = row.iter().fold(f32::INFINITY, |m, &e| if e < m { e } else { m });
            if slots.last().is_some_and(|last| least <= last.0) {
                for (c, &e) in row.iter().enumerate() {
                    keep_smallest(slots, (e, index_base + self.j0 + c));
                }
            }
        }
    }
}

/// Centroids grouped by k-means into `√k` groups, each group's members laid out
/// contiguously, so that a row can be compared with the members of its three nearest
/// groups only (about `4√k` distances instead of `k`).
struct CentroidGroups {
    /// The group centres.
    centres: Targets,
    /// The centroids, ordered by group.
    members: Targets,
    /// `order[i]`: the caller's index of `members` row `i`.
    order: Vec<usize>,
    /// `ranges[g]`: group `g`'s rows of `members`.
    ranges: Vec<std::ops::Range<usize>>,
}

/// Whether a grouped assignment with codes measures its candidates exactly (the final
/// assignment: a row then goes to the nearest of them in f32) or takes the best code
/// estimate as it is (Lloyd steps, whose centroids are means of many rows and whose
/// distances only pick the row that re-seeds an empty cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exactness {
    Estimated,
    Measured,
}

/// Rows narrower than this are compared in f32 even where codes are native: their
/// distances are cheap, and with few components one code step is a larger share of
/// the gap between neighbouring centroids.
const MIN_CODED_DIMENSION: usize = 64;

/// Groups whose members a row is compared with.
const GROUPS_PROBED: usize = 3;

/// Candidates a row keeps from its code estimates for the exact comparison: the codes
/// move a squared distance by far less than the gap between a row's two nearest
/// centroids, so the nearest is among the first few.
const CODE_CANDIDATES: usize = 3;

impl CentroidGroups {
    /// Groups found by 16 Lloyd steps from a fixed seed (deterministic); with `space`,
    /// the centres and members are also coded.
    fn new(centroids: &[f32], d: usize, space: Option<&CodeSpace>) -> Self {
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
        CentroidGroups { centres: Targets::new(centres, d, space), members: Targets::new(members, d, space), order, ranges }
    }

    /// For each row of `points`, the caller's index of its nearest centroid among the
    /// members of its three nearest groups, and the squared distance; blocked per
    /// group (gather the rows that consider each group, then one blocked pass each).
    /// With codes, groups and candidates are chosen by code estimates and the
    /// [`CODE_CANDIDATES`] best members are compared exactly.
    fn nearest(&self, points: &GroupedRows, exact: Exactness) -> Vec<(usize, f32)> {
        let n = points.rows.len();
        let every: Vec<usize> = (0..n).collect();
        let mut nearest_groups = vec![[(f32::INFINITY, usize::MAX); GROUPS_PROBED]; n];
        self.centres.estimate(points, &every, 0..self.ranges.len(), |block, estimates| block.offer(estimates, 0, &mut nearest_groups, |p| p, GROUPS_PROBED));
        let mut considering: Vec<Vec<usize>> = vec![Vec::new(); self.ranges.len()];
        for (p, slots) in nearest_groups.iter().enumerate() {
            for &(_, g) in slots.iter().filter(|(_, g)| *g != usize::MAX) {
                considering[g].push(p);
            }
        }
        // (estimate, member) of each row's best candidates, smallest first.
        let mut candidates = vec![[(f32::INFINITY, usize::MAX); CODE_CANDIDATES]; n];
        // Exact distances, or estimates taken as they are, need only the best.
        let refine = points.space.is_some() && exact == Exactness::Measured;
        let keep = if refine { CODE_CANDIDATES } else { 1 };
        for (g, rows) in considering.iter().enumerate() {
            let range = self.ranges[g].clone();
            if rows.is_empty() || range.is_empty() {
                continue;
            }
            let start = range.start;
            self.members.estimate(points, rows, range, |block, estimates| block.offer(estimates, start, &mut candidates, |i| rows[i], keep));
        }
        let d = self.members.d;
        let mut best: Vec<(usize, f32)> = candidates
            .iter()
            .enumerate()
            .map(|(p, slots)| {
                let found = slots[..keep].iter().filter(|(_, at)| *at != usize::MAX);
                if !refine {
                    return found.map(|&(dist, at)| (at, dist)).next().unwrap_or((usize::MAX, f32::INFINITY));
                }
                found.fold((usize::MAX, f32::INFINITY), |best, &(_, at)| {
                    let dist = l2_squared(points.rows[p], &self.members.rows[at * d..(at + 1) * d]);
                    if dist < best.1 || (dist == best.1 && at < best.0) { (at, dist) } else { best }
                })
            })
            .collect();
        // Defensive: a row whose considered groups had no members gets the global nearest.
        let orphans: Vec<usize> = (0..n).filter(|p| best[*p].0 == usize::MAX).collect();
        if !orphans.is_empty() {
            let gathered: Vec<&[f32]> = orphans.iter().map(|p| points.rows[*p]).collect();
            for (p, found) in orphans.iter().zip(nearest_many(&gathered, &self.members.rows, d)) {
                best[*p] = found;
            }
        }
        best.into_iter().map(|(at, dist)| (self.order[at], dist)).collect()
    }
}

/// Inserts `entry` (distance, index) into `slots` (sorted, smallest first) if it is
/// smaller than the last, ties going to the lower index; the last entry falls out.
#[inline]
fn keep_smallest(slots: &mut [(f32, usize)], entry: (f32, usize)) {
    let below = |a: &(f32, usize), b: &(f32, usize)| a.0 < b.0 || (a.0 == b.0 && a.1 < b.1);
    let Some(last) = slots.last() else { return };
    if !below(&entry, last) {
        return;
    }
    let mut i = slots.len() - 1;
    while i > 0 && below(&entry, &slots[i - 1]) {
        slots[i] = slots[i - 1];
        i -= 1;
    }
    slots[i] = entry;
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

    /// `count` rows of `d` components around `centres` well-separated points far from the
    /// origin (as unnormalised embeddings sit), in a fixed order.
    fn offset_blobs(centres: usize, per: usize, d: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix::new(seed);
        let points: Vec<Vec<f32>> = (0..centres).map(|_| (0..d).map(|_| 40.0 + rng.unit() as f32 * 4.0).collect()).collect();
        let mut out = Vec::with_capacity(centres * per * d);
        for i in 0..centres * per {
            out.extend(points[i % centres].iter().map(|c| c + (rng.unit() as f32 - 0.5) * 0.2));
        }
        out
    }

    #[test]
    fn a_grouped_assignment_by_codes_finds_the_nearest_centroid_of_nearly_every_row() {
        // Forced codes (the scalar kernel stands in where the CPU has no VNNI).
        let d = 96;
        let rows = offset_blobs(120, 10, d, 11);
        let centroids = offset_blobs(120, 1, d, 11);
        let space = CodeSpace::fit(&rows, d);
        let grouped = GroupedRows::new(&rows, d, Some(&space));
        let groups = CentroidGroups::new(&centroids, d, Some(&space));
        let exact = nearest_many(&rows.chunks_exact(d).collect::<Vec<_>>(), &centroids, d);
        for exactness in [Exactness::Estimated, Exactness::Measured] {
            let found = groups.nearest(&grouped, exactness);
            let wrong = found.iter().zip(&exact).filter(|(f, e)| f.0 != e.0).count();
            assert!(wrong * 100 <= found.len(), "{exactness:?}: {wrong} of {} rows not with their nearest", found.len());
            if exactness == Exactness::Measured {
                // The distance reported is the exact one of the centroid chosen.
                for (f, row) in found.iter().zip(rows.chunks_exact(d)) {
                    assert_eq!(f.1, l2_squared(row, &centroids[f.0 * d..(f.0 + 1) * d]));
                }
            }
        }
    }

    #[test]
    fn a_large_k_partition_of_wide_rows_far_from_the_origin_keeps_its_clusters() {
        // Wide enough for the coded assignment where the CPU has VNNI, f32 elsewhere.
        let (d, k) = (MIN_CODED_DIMENSION, 80);
        let v = offset_blobs(k, 40, d, 21);
        let p = partition(&v, d, k, 5);
        let found = p.centroids.len() / d;
        assert!(found > k * 9 / 10 && found <= k, "{found} centroids of {k}");
        let wrong = v
            .chunks_exact(d)
            .zip(&p.assignment)
            .filter(|(row, a)| nearest(row, &p.centroids, d).0 != **a as usize)
            .count();
        assert!(wrong * 50 <= v.len() / d, "{wrong} of {} rows not with their nearest centroid", v.len() / d);
        assert_eq!(partition(&v, d, k, 5).assignment, p.assignment, "deterministic");
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
