//! 4-bit scalar codes with a range per row (SQ4): the re-rank's second estimate.
//!
//! Each row is quantised over its own range in 16 bins of equal width: `step = (max −
//! min) / 16` of the row's components, `code = ⌊(v − min) / step⌋` clamped to 0..=15,
//! decoded at the bin's centre: `v ≈ base + code × step` with `base = min + step / 2`
//! (`step` 0 and `base` the value for a constant row). Whole bins, centred, keep the
//! rounding error unbiased: rounding to 15 levels from `min` would leave half-width
//! end bins whose errors all point inwards (measured: the L2 estimate then sat 1.4
//! standard errors above the exact distance on average). A code is `⌈d / 32⌉` chunks of 16 bytes: byte `i` of
//! chunk `c` holds component `32c + i` in its low nibble and `32c + 16 + i` in its
//! high nibble; components past `d` are 0. So one 16-byte load gives 32 components in
//! two runs of 16, in order, and the kernel needs no shuffles.
//!
//! Estimates: the distance to the decoded row `x̂`, with a slack and a standard error
//! for the rounding errors `e = x − x̂` (each at most `step / 2`, about uniform):
//! - L2: `‖x − q‖² = ‖x̂ − q‖² + 2 ⟨x̂ − q, e⟩ + ‖e‖²`; the cross term has standard
//!   error `step · √(‖x̂ − q‖² / 3)` when `e` is independent of the query, and the
//!   slack `d · step² / 12` (the mean of `‖e‖²`) covers the shift either way: `+‖e‖²`
//!   for a query unrelated to the row, about `−‖e‖²` for a query next to it (then `q`
//!   itself tells which way `e` points). Measured on the MiniLM set: centring on
//!   `‖x̂ − q‖² + d · step² / 12` put the true neighbours' exact distances up to 8
//!   standard errors below the estimate.
//! - inner product and cosine: `⟨q, x̂⟩ = base · Σq + step · Σ code · q`, standard error
//!   `step · ‖q‖ / √12` for the term `⟨q, e⟩`, the same slack for a query next to the row.
//!
//! A search uses `distance ± (slack + z · error)` as statistical bounds (`search.rs`): the
//! 1-bit codes pick candidates, these bounds decide which of them need their exact f32
//! vector read at all.

use super::dispatch::KernelLevel;
use crate::metric::Metric;

/// Components per 16-byte chunk of a code.
pub(crate) const CHUNK_DIMS: usize = 32;

/// Bytes of one row's code.
pub fn code_len(dimension: usize) -> usize {
    dimension.div_ceil(CHUNK_DIMS) * (CHUNK_DIMS / 2)
}

/// Encodes one row into `code` (`code_len(row.len())` bytes); returns `(base, step)`.
pub fn encode_row(row: &[f32], code: &mut [u8]) -> (f32, f32) {
    let (min, max) = row.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let step = if max > min { (max - min) / 16.0 } else { 0.0 };
    let base = if step > 0.0 { min + step / 2.0 } else if min.is_finite() { min } else { 0.0 };
    let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
    // `as u8` of a non-negative value truncates, which is the floor; NaN becomes 0.
    let bin = |x: &f32| ((x - min) * inv).min(15.0) as u8;
    for (part, out) in row.chunks(CHUNK_DIMS).zip(code.chunks_exact_mut(CHUNK_DIMS / 2)) {
        let (low, high) = part.split_at(part.len().min(CHUNK_DIMS / 2));
        for (i, o) in out.iter_mut().enumerate() {
            *o = low.get(i).map_or(0, bin) | (high.get(i).map_or(0, bin) << 4);
        }
    }
    (base, step)
}

/// The decoded row (for tests and tools; the search never decodes).
pub fn decode_row(code: &[u8], min: f32, step: f32, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        let (chunk, at) = (j / CHUNK_DIMS, j % CHUNK_DIMS);
        let byte = code[chunk * (CHUNK_DIMS / 2) + at % (CHUNK_DIMS / 2)];
        let c = if at < CHUNK_DIMS / 2 { byte & 15 } else { byte >> 4 };
        *o = min + f32::from(c) * step;
    }
}

/// A query prepared for SQ4 estimates: padded to whole chunks, with its sums.
#[derive(Debug, Clone, Default)]
pub struct Sq4Query {
    metric: Option<Metric>,
    dimension: usize,
    /// The query, zero-padded to `code_len × 2` components.
    query: Vec<f32>,
    sum: f32,
    norm_sq: f32,
}

/// An SQ4 estimate of a distance and its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sq4Estimate {
    /// The distance to the decoded row under the query's metric.
    pub distance: f32,
    /// The standard error of the rounding errors' cross term.
    pub error: f32,
    /// `d · step² / 12`, the mean squared rounding error, by which the distance may be
    /// shifted either way besides the cross term.
    pub slack: f32,
}

impl Sq4Estimate {
    /// `distance − slack − z · error`.
    #[inline]
    pub fn lower(&self, z: f32) -> f32 {
        self.distance - self.slack - z * self.error
    }

    /// `distance + slack + z · error`.
    #[inline]
    pub fn upper(&self, z: f32) -> f32 {
        self.distance + self.slack + z * self.error
    }
}

impl Sq4Query {
    /// Prepares `query` (already normalised for cosine) under `metric`.
    pub fn prepare(&mut self, metric: Metric, query: &[f32]) {
        self.metric = Some(metric);
        self.dimension = query.len();
        self.query.clear();
        self.query.extend_from_slice(query);
        self.query.resize(code_len(query.len()) * 2, 0.0);
        self.sum = query.iter().sum();
        self.norm_sq = query.iter().map(|x| x * x).sum();
    }

    /// The estimate for one row's `code` and `(base, step)` at the active kernel level.
    #[inline]
    pub fn estimate(&self, code: &[u8], min: f32, step: f32) -> Sq4Estimate {
        self.estimate_at(super::dispatch::active(), code, min, step)
    }

    /// [`Sq4Query::estimate`] at `level` (parity tests compare the levels).
    pub fn estimate_at(&self, level: KernelLevel, code: &[u8], min: f32, step: f32) -> Sq4Estimate {
        let code = &code[..self.query.len() / 2];
        let slack = self.dimension as f32 * step * step / 12.0;
        match self.metric.unwrap_or(Metric::L2) {
            Metric::L2 => {
                let sq = l2_at(level, code, &self.query, min, step, self.dimension);
                Sq4Estimate { distance: sq, error: step * (sq / 3.0).sqrt(), slack }
            }
            metric => {
                let dot = min * self.sum + step * dot_at(level, code, &self.query);
                let error = step * (self.norm_sq / 12.0).sqrt();
                let distance = if metric == Metric::Cosine { 1.0 - dot } else { -dot };
                Sq4Estimate { distance, error, slack }
            }
        }
    }
}

/// `Σ code_j · q_j` over whole chunks (plain code the compiler vectorises, with the
/// features enabled around it for the SIMD levels).
#[inline(always)]
pub(crate) fn dot_body(code: &[u8], q: &[f32]) -> f32 {
    let mut acc = [0f32; CHUNK_DIMS / 2];
    for (bytes, qs) in code.chunks_exact(CHUNK_DIMS / 2).zip(q.chunks_exact(CHUNK_DIMS)) {
        let (lo, hi) = qs.split_at(CHUNK_DIMS / 2);
        for i in 0..CHUNK_DIMS / 2 {
            let b = bytes[i];
            acc[i] += f32::from(b & 15) * lo[i] + f32::from(b >> 4) * hi[i];
        }
    }
    acc.iter().sum()
}

/// `Σ (base + code_j · step − q_j)²` over the first `dimension` components, `min` being
/// the row's `base` (padding components decode to it, so their share `base²` is taken
/// back out).
#[inline(always)]
pub(crate) fn l2_body(code: &[u8], q: &[f32], min: f32, step: f32, dimension: usize) -> f32 {
    let mut acc = [0f32; CHUNK_DIMS / 2];
    for (bytes, qs) in code.chunks_exact(CHUNK_DIMS / 2).zip(q.chunks_exact(CHUNK_DIMS)) {
        let (lo, hi) = qs.split_at(CHUNK_DIMS / 2);
        for i in 0..CHUNK_DIMS / 2 {
            let b = bytes[i];
            // Not `mul_add`: without FMA in the target (the scalar level on x86-64) it is
            // a library call, 19× slower than the multiply and add.
            let a = f32::from(b & 15) * step + min - lo[i];
            let c = f32::from(b >> 4) * step + min - hi[i];
            acc[i] += a * a + c * c;
        }
    }
    let padding = (q.len() - dimension) as f32;
    acc.iter().sum::<f32>() - padding * min * min
}

fn dot_at(level: KernelLevel, code: &[u8], q: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(v) = super::x86::sq4_dot(level, code, q) {
        return v;
    }
    let _ = level;
    dot_body(code, q)
}

fn l2_at(level: KernelLevel, code: &[u8], q: &[f32], min: f32, step: f32, dimension: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(v) = super::x86::sq4_l2(level, code, q, min, step, dimension) {
        return v;
    }
    let _ = level;
    l2_body(code, q, min, step, dimension)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::dispatch;
    use crate::kernels::distance;
    use crate::kernels::kmeans::SplitMix;

    fn row(rng: &mut SplitMix, d: usize) -> Vec<f32> {
        (0..d).map(|_| (rng.unit() as f32 - 0.5) * 0.4).collect()
    }

    #[test]
    fn decoding_a_code_is_within_half_a_step_of_the_row() {
        let mut rng = SplitMix::new(3);
        for d in [1, 7, 31, 32, 33, 130, 384, 1000] {
            let v = row(&mut rng, d);
            let mut code = vec![0u8; code_len(d)];
            let (min, step) = encode_row(&v, &mut code);
            let mut back = vec![0f32; d];
            decode_row(&code, min, step, &mut back);
            for (x, y) in v.iter().zip(&back) {
                assert!((x - y).abs() <= step / 2.0 + 1e-6, "d {d}: {x} decoded as {y} (step {step})");
            }
        }
        let mut code = vec![0u8; code_len(5)];
        assert_eq!(encode_row(&[0.25; 5], &mut code), (0.25, 0.0), "a constant row has step 0");
    }

    #[test]
    fn every_kernel_level_gives_the_scalar_estimates() {
        let mut rng = SplitMix::new(8);
        for d in [1, 15, 16, 17, 32, 100, 128, 160, 384, 385, 768] {
            for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
                let (v, q) = (row(&mut rng, d), row(&mut rng, d));
                let mut code = vec![0u8; code_len(d)];
                let (min, step) = encode_row(&v, &mut code);
                let mut query = Sq4Query::default();
                query.prepare(metric, &q);
                let reference = query.estimate_at(KernelLevel::Scalar, &code, min, step);
                for level in dispatch::available() {
                    let e = query.estimate_at(level, &code, min, step);
                    let tolerance = 1e-4 * (1.0 + reference.distance.abs());
                    assert!((e.distance - reference.distance).abs() <= tolerance, "{level:?} d {d} {metric:?}: {e:?} vs {reference:?}");
                    assert!((e.error - reference.error).abs() <= tolerance, "{level:?} d {d} {metric:?}");
                    assert_eq!(e.slack, reference.slack);
                }
                // The decoded row's exact distance is what the estimate is built on.
                let mut back = vec![0f32; d];
                decode_row(&code, min, step, &mut back);
                let decoded = distance::distance(metric, &q, &back);
                assert!((reference.distance - decoded).abs() <= 1e-4 * (1.0 + decoded.abs()), "d {d} {metric:?}");
            }
        }
    }

    #[test]
    fn the_exact_distance_falls_within_the_bounds_for_far_and_near_queries() {
        let mut rng = SplitMix::new(21);
        let d = 384;
        for metric in [Metric::L2, Metric::InnerProduct] {
            let (mut outside_far, mut outside_near) = (0, 0);
            for _ in 0..2_000 {
                let v = row(&mut rng, d);
                let far = row(&mut rng, d);
                // A query next to the row: within a fifth of a step's range per component.
                let near: Vec<f32> = v.iter().map(|x| x + (rng.unit() as f32 - 0.5) * 0.005).collect();
                let mut code = vec![0u8; code_len(d)];
                let (base, step) = encode_row(&v, &mut code);
                for (q, outside) in [(&far, &mut outside_far), (&near, &mut outside_near)] {
                    let mut query = Sq4Query::default();
                    query.prepare(metric, q);
                    let e = query.estimate(&code, base, step);
                    let exact = distance::distance(metric, q, &v);
                    if exact < e.lower(3.0) || exact > e.upper(3.0) {
                        *outside += 1;
                    }
                }
            }
            // A normal tail beyond 3 standard errors is 27 in 10,000.
            assert!(outside_far <= 15 && outside_near <= 15, "{metric:?}: {outside_far} far and {outside_near} near queries of 2,000 outside");
        }
    }
}
