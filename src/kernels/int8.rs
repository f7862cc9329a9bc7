//! Eight-bit codes k-means compares rows with centroids through, on CPUs that multiply
//! bytes natively (AVX-512 VNNI: 64 products per instruction where an f32 FMA makes
//! 16, from a quarter of the bytes). The codes only estimate distances: k-means takes
//! the best estimate in its Lloyd steps and measures its few best candidates exactly in
//! f32 for the final assignment (`kernels::kmeans`).
//!
//! One [`CodeSpace`] serves a whole training run: a centre `μ` (the midpoint of every
//! component's range over the rows) and one scale `s = 127 / h` for the largest
//! half-range `h`. Distances do not change when both sides are moved by `μ`, so a
//! centroid (a mean of rows, so within the same ranges) is coded `round((c − μ) · s)` as
//! i8 and a row `round((x − μ) · s) + 128` as u8 (the instruction multiplies unsigned by
//! signed bytes); then `(x − μ) · (c − μ) ≈ (Σ u·c_code − 128 Σ c_code) / s²` and
//! `‖x − c‖² ≈ ‖x − μ‖² + ‖c − μ‖² − 2 (x − μ) · (c − μ)`. Centring keeps the rounding
//! error proportional to the rows' spread, not to their distance from the origin.
//!
//! Invariant: integer sums cannot overflow i32 — every product is at most 255 × 127 in
//! magnitude and a row has at most `MAX_DIMENSION` (65,536) components, so a sum stays
//! within ±2,122,317,824 < 2³¹.

use super::dispatch::{self, KernelLevel};

/// The centre and scale of one training run's codes (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSpace {
    centre: Vec<f32>,
    scale: f32,
}

impl CodeSpace {
    /// The space that codes every component of `rows` (row-major, `d` wide, finite)
    /// within ±127 around its range's midpoint (scale 1 when every row is the same).
    pub fn fit(rows: &[f32], d: usize) -> Self {
        let d = d.max(1);
        let (mut lo, mut hi) = (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d]);
        for row in rows.chunks_exact(d) {
            // Written as selects, which the compiler turns into vector min / max.
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *l = if x < *l { x } else { *l };
                *h = if x > *h { x } else { *h };
            }
        }
        if rows.len() < d {
            return CodeSpace { centre: vec![0.0; d], scale: 1.0 };
        }
        let centre: Vec<f32> = lo.iter().zip(&hi).map(|(l, h)| l + (h - l) / 2.0).collect();
        let half = lo.iter().zip(&hi).fold(0f32, |m, (l, h)| m.max((h - l) / 2.0));
        CodeSpace { centre, scale: if half > 0.0 { 127.0 / half } else { 1.0 } }
    }

    /// `(v − μ) · s` clamped into ±127 and rounded half to even (what AVX-512's
    /// conversion does, so every level codes alike).
    #[inline]
    fn quantise(&self, v: f32, centre: f32) -> i32 {
        ((v - centre) * self.scale).clamp(-127.0, 127.0).round_ties_even() as i32
    }

    /// Appends the unsigned code of the row `x`.
    pub fn encode_row(&self, x: &[f32], out: &mut Vec<u8>) {
        self.encode_row_at(dispatch::active(), x, out)
    }

    /// [`CodeSpace::encode_row`] at a given level (AVX-512 or the scalar reference).
    pub fn encode_row_at(&self, level: KernelLevel, x: &[f32], out: &mut Vec<u8>) {
        let start = out.len();
        let x = &x[..x.len().min(self.centre.len())];
        out.resize(start + x.len(), 0);
        #[cfg(target_arch = "x86_64")]
        if super::x86::encode_u8(level, x, &self.centre, self.scale, &mut out[start..]).is_some() {
            return;
        }
        let _ = level;
        for ((o, &v), &c) in out[start..].iter_mut().zip(x).zip(&self.centre) {
            *o = (self.quantise(v, c) + 128) as u8;
        }
    }

    /// Appends the signed code of the centroid `c`; returns the sum of its code.
    pub fn encode_centroid(&self, c: &[f32], out: &mut Vec<i8>) -> i32 {
        // The row code less its offset: one rounding routine for both.
        let mut unsigned = Vec::with_capacity(c.len());
        self.encode_row(c, &mut unsigned);
        let start = out.len();
        out.extend(unsigned.iter().map(|&u| (i32::from(u) - 128) as i8));
        out[start..].iter().map(|&q| i32::from(q)).sum()
    }

    /// `‖x − μ‖²`, the norm the estimates are taken with.
    pub fn centred_norm(&self, x: &[f32]) -> f32 {
        x.iter().zip(&self.centre).map(|(v, c)| (v - c) * (v - c)).sum()
    }

    /// `(a, b)` with `‖x − c‖² ≈ ‖x − μ‖² + a − b · raw` for `raw = Σ u·c_code`, given
    /// the centroid's `‖c − μ‖²` and code sum: the 128 offset and the scale folded into
    /// one constant per centroid and one multiplier.
    #[inline]
    pub fn distance_terms(&self, centroid_centred_norm: f32, centroid_code_sum: i32) -> (f32, f32) {
        let inv = 1.0 / (self.scale * self.scale);
        (centroid_centred_norm + 256.0 * centroid_code_sum as f32 * inv, 2.0 * inv)
    }
}

/// Whether this CPU compares the codes natively at the active level (k-means uses
/// exact f32 distances throughout otherwise: the scalar codes would be slower).
pub fn native() -> bool {
    dispatch::active() == KernelLevel::Avx512 && dispatch::has_vnni()
}

/// `out[4i + j] = Σ a[i] · b[j]` over a 4 × 4 block of codes (equal lengths), the sums
/// of the scalar reference of [`estimates_4x4_at`].
fn code_sums_scalar(a: [&[u8]; 4], b: [&[i8]; 4], out: &mut [i32; 16]) {
    for r in 0..4 {
        for c in 0..4 {
            out[4 * r + c] = a[r].iter().zip(b[c]).map(|(&u, &s)| i32::from(u) * i32::from(s)).sum();
        }
    }
}

/// `out[4r + c] = max(0, rows[r] + offsets[c] − per_unit · Σ a[r] · b[c])` for a 4 × 4
/// block: squared-distance estimates from [`CodeSpace::distance_terms`] (`rows[r]` the
/// row's `‖x − μ‖²`, `offsets[c]` and `per_unit` the centroid's terms) at a given level;
/// every level gives the same bits.
pub fn estimates_4x4_at(level: KernelLevel, a: [&[u8]; 4], b: [&[i8]; 4], rows: [f32; 4], offsets: [f32; 4], per_unit: f32, out: &mut [f32; 16]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::estimates_u8i8_4x4(level, a, b, rows, offsets, per_unit, out).is_some() {
        return;
    }
    let mut raw = [0i32; 16];
    code_sums_scalar(a, b, &mut raw);
    for (i, (o, r)) in out.iter_mut().zip(raw).enumerate() {
        *o = (rows[i / 4] + offsets[i % 4] - per_unit * r as f32).max(0.0);
    }
}

/// [`estimates_4x4_at`] at the active level.
#[inline]
pub fn estimates_4x4(a: [&[u8]; 4], b: [&[i8]; 4], rows: [f32; 4], offsets: [f32; 4], per_unit: f32, out: &mut [f32; 16]) {
    estimates_4x4_at(dispatch::active(), a, b, rows, offsets, per_unit, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_estimates_a_block_with_the_same_bits() {
        for dim in [1, 7, 63, 64, 65, 127, 384, 385] {
            let a: Vec<Vec<u8>> = (0..4).map(|r| (0..dim).map(|i| ((i * 29 + r * 13) % 256) as u8).collect()).collect();
            let b: Vec<Vec<i8>> = (0..4).map(|r| (0..dim).map(|i| (((i * 41 + r * 5) % 255) - 127) as i8).collect()).collect();
            let (a, b) = ([0, 1, 2, 3].map(|r| &a[r][..]), [0, 1, 2, 3].map(|r| &b[r][..]));
            let (rows, offsets, per_unit) = ([9.5e5, 1.25e6, 3.0e5, 0.0], [2.0e5, -1.0e5, 7.5e5, 1.0], 0.37);
            let mut want = [0f32; 16];
            estimates_4x4_at(KernelLevel::Scalar, a, b, rows, offsets, per_unit, &mut want);
            let mut raw = [0i32; 16];
            code_sums_scalar(a, b, &mut raw);
            for i in 0..16 {
                let expect = (rows[i / 4] + offsets[i % 4] - per_unit * raw[i] as f32).max(0.0);
                assert_eq!(want[i].to_bits(), expect.to_bits(), "scalar reference, dim {dim}, {i}");
            }
            for level in dispatch::available() {
                let mut out = [0f32; 16];
                estimates_4x4_at(level, a, b, rows, offsets, per_unit, &mut out);
                assert_eq!(out.map(f32::to_bits), want.map(f32::to_bits), "{level:?} dim {dim}");
            }
        }
    }

    #[test]
    fn the_extreme_codes_of_the_largest_dimension_do_not_overflow() {
        let dim = crate::metric::MAX_DIMENSION;
        let (u, s) = (vec![255u8; dim], vec![-127i8; dim]);
        // With no norm terms and a multiplier of 1 the estimate is −Σ u·c; a wrapped sum
        // would turn positive and clamp the estimate to 0.
        let want = (255 * 127 * dim as i64) as f32;
        for level in dispatch::available() {
            let mut out = [0f32; 16];
            estimates_4x4_at(level, [&u[..]; 4], [&s[..]; 4], [0.0; 4], [0.0; 4], 1.0, &mut out);
            assert!(out.iter().all(|&v| v == want), "{level:?}: {out:?}");
        }
    }

    #[test]
    fn a_coded_distance_is_close_to_the_exact_one_even_far_from_the_origin() {
        // Rows offset far from the origin: centring keeps the codes' steps small.
        let rows: Vec<f32> = (0..4 * 384).map(|i| 50.0 + ((i as f32) * 0.31).sin() * 0.2).collect();
        let space = CodeSpace::fit(&rows, 384);
        let (x, c) = (&rows[..384], &rows[384..768]);
        let (mut u, mut s) = (Vec::new(), Vec::new());
        space.encode_row(x, &mut u);
        let sum = space.encode_centroid(c, &mut s);
        let mut out = [0i32; 16];
        code_sums_scalar([&u[..]; 4], [&s[..]; 4], &mut out);
        let (offset, per_unit) = space.distance_terms(space.centred_norm(c), sum);
        let estimate = space.centred_norm(x) + offset - per_unit * out[0] as f32;
        let exact: f32 = x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
        // Half a step (0.2 / 127 / 2) per component on each side, over 384 components.
        let step = 0.2 / 127.0;
        let bound: f32 = x.iter().zip(c).map(|(a, b)| 2.0 * (a - b).abs() * step + step * step).sum();
        assert!((estimate - exact).abs() <= bound, "{estimate} vs {exact} (bound {bound})");
    }

    #[test]
    fn codes_round_half_to_even_and_clamp_at_every_level() {
        // Range −1..1: centre 0, scale 127.
        let space = CodeSpace::fit(&[1.0, -1.0, -1.0, 1.0], 2);
        let cases: [(f32, i8); 7] = [(0.5 / 127.0, 0), (1.5 / 127.0, 2), (-1.5 / 127.0, -2), (2.5 / 127.0, 2), (2.0, 127), (-2.0, -127), (0.0, 0)];
        for (v, want) in cases {
            let mut s = Vec::new();
            space.encode_centroid(&[v, 0.0], &mut s);
            assert_eq!(s[0], want, "{v}");
            for level in dispatch::available() {
                let mut u = vec![7];
                space.encode_row_at(level, &[v, 0.0], &mut u);
                assert_eq!(u, vec![7, (i32::from(want) + 128) as u8, 128], "{level:?} {v} appends after what was there");
            }
        }
    }

    #[test]
    fn every_level_codes_rows_alike_for_every_tail_length() {
        for dim in [1, 15, 16, 17, 100, 384] {
            let rows: Vec<f32> = (0..3 * dim).map(|i| ((i as f32) * 0.91).sin() * 0.3 + 2.0).collect();
            let space = CodeSpace::fit(&rows, dim);
            let mut want = Vec::new();
            space.encode_row_at(KernelLevel::Scalar, &rows[..dim], &mut want);
            for level in dispatch::available() {
                let mut got = Vec::new();
                space.encode_row_at(level, &rows[..dim], &mut got);
                assert_eq!(got, want, "{level:?} dim {dim}");
            }
        }
    }

    #[test]
    fn identical_rows_code_to_the_centre() {
        let space = CodeSpace::fit(&[3.0; 8], 4);
        let mut s = Vec::new();
        assert_eq!(space.encode_centroid(&[3.0; 4], &mut s), 0);
        assert_eq!(space.centred_norm(&[3.0; 4]), 0.0);
        assert_eq!(space.distance_terms(0.0, 0).0, 0.0);
    }
}
