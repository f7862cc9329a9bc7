//! Scalar quantisation to 8 bits per component (SQ8) and the code-space scan.
//!
//! Parameters are a per-dimension minimum and scale over the rows of one row group:
//! `code = round((v − min) / scale)` clamped to 0..=255, `v ≈ min + code × scale`.
//! Since format version 1 row groups store a scale per dimension; drift writes the
//! *same* scale for every dimension (the largest range / 255), which lets a search map
//! the query into code space once per row group and compare it to the codes with
//! integer SIMD (`kernels::x86`): for L2, `‖x − q‖² ≈ scale² · Σ (code − q′)²` with
//! `q′ = (q − min) / scale`; for inner product,
//! `x·q ≈ Σ min·q + scale · Σ code · q` with `q` itself quantised to i16.
//! Row groups with unequal scales (never written by drift, but legal in the format),
//! dimensions above [`MAX_INTEGER_DIMENSION`] and constant groups use an exact f32
//! evaluation of the dequantised codes instead.
//!
//! Invariant: integer sums cannot overflow i32 — query values are clamped so that
//! `dimension × max|term| < 2³¹`.

use super::dispatch::{self, KernelLevel};
use super::distance;
use crate::metric::Metric;

/// Largest dimension scanned with the integer kernels.
pub const MAX_INTEGER_DIMENSION: usize = 4096;

/// Per-dimension (min, scale) over row-major `vectors` of `dimension`; every scale is
/// the same (the largest range / 255), 0 when every row is identical.
pub fn train(vectors: &[f32], dimension: usize) -> (Vec<f32>, Vec<f32>) {
    let mut mins = vec![f32::INFINITY; dimension];
    let mut maxs = vec![f32::NEG_INFINITY; dimension];
    for row in vectors.chunks_exact(dimension) {
        for j in 0..dimension {
            mins[j] = mins[j].min(row[j]);
            maxs[j] = maxs[j].max(row[j]);
        }
    }
    let range = mins.iter().zip(&maxs).map(|(lo, hi)| if hi > lo { hi - lo } else { 0.0 }).fold(0f32, f32::max);
    for m in mins.iter_mut() {
        if !m.is_finite() {
            *m = 0.0;
        }
    }
    (mins, vec![range / 255.0; dimension])
}

/// Encodes row-major `vectors` into `codes` (same element count).
pub fn encode(vectors: &[f32], mins: &[f32], scales: &[f32], codes: &mut [u8]) {
    let dimension = mins.len();
    for (row, out) in vectors.chunks_exact(dimension).zip(codes.chunks_exact_mut(dimension)) {
        for j in 0..dimension {
            out[j] = if scales[j] > 0.0 { ((row[j] - mins[j]) / scales[j]).round().clamp(0.0, 255.0) as u8 } else { 0 };
        }
    }
}

/// `out[r] = Σ (codes[r] − query)²`, scalar reference.
pub fn scan_l2_codes_scalar(codes: &[u8], query: &[i16], out: &mut [i32]) {
    for (row, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = row.iter().zip(query).map(|(c, q)| (i32::from(*c) - i32::from(*q)).pow(2)).sum();
    }
}

/// `out[r] = Σ codes[r] × query`, scalar reference.
pub fn scan_dot_codes_scalar(codes: &[u8], query: &[i16], out: &mut [i32]) {
    for (row, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = row.iter().zip(query).map(|(c, q)| i32::from(*c) * i32::from(*q)).sum();
    }
}

/// `out[r] = Σ (codes[r] − query)²` for each row of a row-major block, at `level`.
pub fn scan_l2_codes_at(level: KernelLevel, codes: &[u8], query: &[i16], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::scan_l2_codes(level, codes, query, out).is_some() {
        return;
    }
    scan_l2_codes_scalar(codes, query, out)
}

/// `out[r] = Σ codes[r] × query` for each row of a row-major block, at `level`.
pub fn scan_dot_codes_at(level: KernelLevel, codes: &[u8], query: &[i16], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::scan_dot_codes(level, codes, query, out).is_some() {
        return;
    }
    scan_dot_codes_scalar(codes, query, out)
}

/// `out[j] = round((q[j] − offset[j]) × inv)` clamped to `lo..=hi` (ties to even).
fn map_query(q: &[f32], offset: &[f32], inv: f32, lo: f32, hi: f32, out: &mut [i16]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::map_query(dispatch::active(), q, offset, inv, lo, hi, out).is_some() {
        return;
    }
    for ((o, x), m) in out.iter_mut().zip(q).zip(offset) {
        *o = ((x - m) * inv).clamp(lo, hi).round_ties_even() as i32 as i16;
    }
}

/// How integer sums turn into approximate distances for the current row group.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `distance ≈ offset + factor × Σ (code − q′)²`.
    L2Codes { factor: f32 },
    /// `distance ≈ offset + factor × Σ code × q′`.
    DotCodes { offset: f32, factor: f32 },
    /// Dequantise every code and evaluate in f32 (unequal scales, huge dimensions,
    /// constant groups).
    Dequantised,
}

/// A query mapped into the code space of one row group; reused across row groups and
/// searches so scanning allocates nothing once warm.
#[derive(Debug, Default)]
pub struct CodeQuery {
    metric: Option<Metric>,
    query: Vec<f32>,
    mapped: Vec<i16>,
    mins: Vec<f32>,
    scales: Vec<f32>,
    sums: Vec<i32>,
    row: Vec<f32>,
    zeros: Vec<f32>,
    mode: Option<Mode>,
}

impl CodeQuery {
    /// Sets the query (already normalised for cosine).
    pub fn set_query(&mut self, metric: Metric, query: &[f32]) {
        self.metric = Some(metric);
        self.query.clear();
        self.query.extend_from_slice(query);
        self.mode = None;
    }

    /// Maps the query into the code space of a row group with these parameters.
    pub fn prepare(&mut self, mins: &[f32], scales: &[f32]) {
        let d = self.query.len();
        let metric = self.metric.unwrap_or(Metric::L2);
        let scale = scales.first().copied().unwrap_or(0.0);
        let uniform = scales.iter().all(|s| *s == scale);
        self.mapped.clear();
        if !uniform || scale <= 0.0 || d > MAX_INTEGER_DIMENSION || mins.len() != d {
            self.mins.clear();
            self.mins.extend_from_slice(mins);
            self.scales.clear();
            self.scales.extend_from_slice(scales);
            self.mode = Some(Mode::Dequantised);
            return;
        }
        match metric {
            Metric::L2 => {
                // |code − q′| ≤ 255 + bound keeps d × (255 + bound)² below 2³¹.
                let bound = ((((1u64 << 31) / d as u64) as f64).sqrt() as i32 - 256).clamp(0, 1024) as f32;
                let (inv, lo, hi) = (1.0 / scale, -bound, 255.0 + bound);
                self.mapped.resize(d, 0);
                map_query(&self.query, mins, inv, lo, hi, &mut self.mapped);
                self.mode = Some(Mode::L2Codes { factor: scale * scale });
            }
            Metric::InnerProduct | Metric::Cosine => {
                let peak = self.query.iter().fold(0f32, |a, q| a.max(q.abs()));
                let levels = ((1u64 << 31) / (255 * d as u64)).min(2047) as f32;
                let qs = if peak > 0.0 { peak / levels } else { 1.0 };
                self.mapped.resize(d, 0);
                self.zeros.resize(d, 0.0);
                map_query(&self.query, &self.zeros, 1.0 / qs, -levels, levels, &mut self.mapped);
                let base = distance::dot_scalar(&self.query, mins);
                let sign_one = if metric == Metric::Cosine { 1.0 } else { 0.0 };
                // distance = sign_one − (base + scale × qs × Σ code × q̂)
                self.mode = Some(Mode::DotCodes { offset: sign_one - base, factor: -scale * qs });
            }
        }
    }

    /// Approximate distances of every row of `codes` (row-major, this query's
    /// dimension) into `out`, replacing its contents.
    pub fn scan(&mut self, codes: &[u8], out: &mut Vec<f32>) {
        self.scan_at(dispatch::active(), codes, out);
    }

    /// [`CodeQuery::scan`] at a given kernel level.
    pub fn scan_at(&mut self, level: KernelLevel, codes: &[u8], out: &mut Vec<f32>) {
        let d = self.query.len().max(1);
        let rows = codes.len() / d;
        out.clear();
        self.sums.clear();
        self.sums.resize(rows, 0);
        match self.mode.unwrap_or(Mode::Dequantised) {
            Mode::L2Codes { factor } => {
                scan_l2_codes_at(level, codes, &self.mapped, &mut self.sums);
                out.extend(self.sums.iter().map(|s| factor * *s as f32));
            }
            Mode::DotCodes { offset, factor } => {
                scan_dot_codes_at(level, codes, &self.mapped, &mut self.sums);
                out.extend(self.sums.iter().map(|s| offset + factor * *s as f32));
            }
            Mode::Dequantised => {
                let metric = self.metric.unwrap_or(Metric::L2);
                for codes in codes.chunks_exact(d) {
                    self.row.clear();
                    self.row.extend(codes.iter().zip(self.mins.iter().zip(&self.scales)).map(|(c, (m, s))| m + f32::from(*c) * s));
                    out.push(distance::distance(metric, &self.query, &self.row));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..rows * dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 20_000) as f32 / 10_000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn codes_reconstruct_within_half_a_step() {
        let dim = 5;
        let vectors = data(50, dim, 1);
        let (mins, scales) = train(&vectors, dim);
        assert!(scales.iter().all(|s| *s == scales[0]), "drift writes one scale for every dimension");
        let mut codes = vec![0u8; vectors.len()];
        encode(&vectors, &mins, &scales, &mut codes);
        for (i, v) in vectors.iter().enumerate() {
            let j = i % dim;
            let back = mins[j] + f32::from(codes[i]) * scales[j];
            assert!((back - v).abs() <= scales[j] * 0.5 + 1e-5);
        }
    }

    #[test]
    fn integer_scans_agree_at_every_level_for_every_tail_length() {
        for dim in (1..140).chain([255, 384, 385, 768, 1023]) {
            let codes: Vec<u8> = (0..dim * 9).map(|i| ((i * 131 + dim) % 256) as u8).collect();
            let query: Vec<i16> = (0..dim).map(|i| ((i * 97) % 700) as i16 - 200).collect();
            let (mut want_l2, mut want_dot) = (vec![0; 9], vec![0; 9]);
            scan_l2_codes_scalar(&codes, &query, &mut want_l2);
            scan_dot_codes_scalar(&codes, &query, &mut want_dot);
            for level in dispatch::available() {
                let (mut l2, mut dot) = (vec![0; 9], vec![0; 9]);
                scan_l2_codes_at(level, &codes, &query, &mut l2);
                scan_dot_codes_at(level, &codes, &query, &mut dot);
                assert_eq!(l2, want_l2, "{level:?} dim {dim}");
                assert_eq!(dot, want_dot, "{level:?} dim {dim}");
            }
        }
    }

    #[test]
    fn approximate_distances_track_exact_ones() {
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            for dim in [3, 17, 64, 384, 5000] {
                let rows = 20;
                let vectors = data(rows, dim, dim as u64);
                let query = data(1, dim, 99 + dim as u64);
                let (mins, scales) = train(&vectors, dim);
                let mut codes = vec![0u8; vectors.len()];
                encode(&vectors, &mins, &scales, &mut codes);
                let mut cq = CodeQuery::default();
                cq.set_query(metric, &query);
                cq.prepare(&mins, &scales);
                let mut approx = Vec::new();
                cq.scan(&codes, &mut approx);
                for (r, row) in vectors.chunks_exact(dim).enumerate() {
                    let exact = distance::distance(metric, &query, row);
                    let tolerance = 0.02 * (1.0 + exact.abs()) + 0.01 * dim as f32 * scales[0] * scales[0] * 255.0;
                    assert!((approx[r] - exact).abs() <= tolerance, "{metric:?} dim {dim} row {r}: {} vs {exact}", approx[r]);
                }
            }
        }
    }
}
