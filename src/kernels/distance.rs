//! Exact f32 distances. Smaller is closer for every metric.
//!
//! Each kernel has a portable scalar reference (`*_scalar`, written in 8-lane chunks
//! the compiler vectorises) and AVX2 / AVX-512 versions in `kernels::x86`; the plain
//! functions dispatch on [`super::dispatch::active`]. Parity tests below and in
//! `tests/kernel_parity.rs` compare every level over many dimensions, tails included.

use super::dispatch::{self, KernelLevel};
use crate::metric::Metric;

const LANES: usize = 8;

/// Squared Euclidean distance, scalar reference.
pub fn l2_squared_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for i in 0..LANES {
            let d = ca[i] - cb[i];
            acc[i] += d * d;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in n / LANES * LANES..n {
        let d = a[i] - b[i];
        sum += d * d;
    }
    sum
}

/// Inner product, scalar reference.
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in n / LANES * LANES..n {
        sum += a[i] * b[i];
    }
    sum
}

/// Squared Euclidean distance at a given level (clamped to what the CPU supports).
pub fn l2_squared_at(level: KernelLevel, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if let Some(d) = super::x86::l2_f32(level, a, b) {
        return d;
    }
    l2_squared_scalar(a, b)
}

/// Inner product at a given level (clamped to what the CPU supports).
pub fn dot_at(level: KernelLevel, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if let Some(d) = super::x86::dot_f32(level, a, b) {
        return d;
    }
    dot_scalar(a, b)
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    l2_squared_at(dispatch::active(), a, b)
}

/// Inner product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_at(dispatch::active(), a, b)
}

/// `out[4i + j] = a[i] · b[j]` for a 4 × 4 block of rows (equal lengths).
#[inline]
pub fn dots_4x4(a: [&[f32]; 4], b: [&[f32]; 4], out: &mut [f32; 16]) {
    dots_4x4_at(dispatch::active(), a, b, out)
}

/// [`dots_4x4`] at a given kernel level (for parity tests and benchmarks).
pub fn dots_4x4_at(level: KernelLevel, a: [&[f32]; 4], b: [&[f32]; 4], out: &mut [f32; 16]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::dots_4x4(level, a, b, out).is_some() {
        return;
    }
    for r in 0..4 {
        for c in 0..4 {
            out[4 * r + c] = dot_at(level, a[r], b[c]);
        }
    }
}

/// Distance under `metric` (vectors of cosine collections are already unit length).
#[inline]
pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 => l2_squared(a, b),
        Metric::InnerProduct => -dot(a, b),
        Metric::Cosine => 1.0 - dot(a, b),
    }
}

/// Scales `v` to unit length; `false` (and `v` unchanged) for a zero vector.
pub(crate) fn normalize(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return false;
    }
    for x in v.iter_mut() {
        *x /= norm;
    }
    true
}

/// A `u32` that orders as `f32::total_cmp` orders `x` (negatives have every bit
/// flipped, the rest only the sign bit), so floats can be selected and heaped as plain
/// integers.
#[inline]
pub(crate) fn total_order_key(x: f32) -> u32 {
    let bits = x.to_bits();
    bits ^ ((((bits as i32) >> 31) as u32) | 0x8000_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_order_keys_sort_like_total_cmp() {
        let mut xs = vec![3.5f32, -0.0, 0.0, -7.25, f32::INFINITY, f32::NEG_INFINITY, 1e-30, -1e-30, 42.0, f32::NAN, -f32::NAN];
        let mut by_key = xs.clone();
        xs.sort_by(f32::total_cmp);
        by_key.sort_by_key(|x| total_order_key(*x));
        assert_eq!(xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), by_key.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    }

    fn naive_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(x - y) * f64::from(x - y)).sum()
    }

    #[test]
    fn every_level_matches_a_naive_sum_for_every_tail_length() {
        for level in dispatch::available() {
            for dim in 1..200 {
                let a: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
                let b: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
                let l2 = f64::from(l2_squared_at(level, &a, &b));
                assert!((l2 - naive_l2(&a, &b)).abs() < 1e-4 * (1.0 + l2), "{level:?} dim {dim}");
                let naive_dot: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
                assert!((f64::from(dot_at(level, &a, &b)) - naive_dot).abs() < 1e-4 * (1.0 + naive_dot.abs()), "{level:?} dim {dim}");
            }
        }
    }

    #[test]
    fn blocked_dots_match_single_dots_at_every_level_for_every_tail_length() {
        for (level, dim) in dispatch::available().into_iter().flat_map(|l| [1, 7, 8, 9, 16, 17, 33, 384, 385].map(|d| (l, d))) {
            let rows: Vec<Vec<f32>> = (0..8).map(|r| (0..dim).map(|i| ((i * 7 + r * 3) as f32 * 0.13).sin()).collect()).collect();
            let a = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
            let b = [&rows[4][..], &rows[5][..], &rows[6][..], &rows[7][..]];
            let mut out = [0f32; 16];
            dots_4x4_at(level, a, b, &mut out);
            for r in 0..4 {
                for c in 0..4 {
                    let want = dot_scalar(a[r], b[c]);
                    assert!((out[4 * r + c] - want).abs() < 1e-3 * (1.0 + want.abs()), "{level:?} dim {dim} ({r},{c})");
                }
            }
        }
    }

    #[test]
    fn normalize_refuses_zero_vectors() {
        let mut zero = vec![0.0; 4];
        assert!(!normalize(&mut zero));
        let mut v = vec![3.0, 4.0];
        assert!(normalize(&mut v));
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }
}
