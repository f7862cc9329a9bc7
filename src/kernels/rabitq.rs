//! RaBitQ-style 1-bit codes: the first, cheapest filter of a probed search.
//!
//! (Gao & Long, SIGMOD 2024, simplified.) Every stored vector `x` of a list with
//! centroid `c` (the zero vector for rows without one) keeps:
//! - `bits`: the signs of `P(x − c)`, one bit per rotated dimension, where `P` is a
//!   fixed random orthogonal rotation — three rounds of random sign flips and a
//!   normalised Walsh–Hadamard transform over the dimension padded to a power of two
//!   `D ≥ 64` (deterministic: the same for every process and file);
//! - three f32 factors: `‖x‖²`, `s = ‖x − c‖ / (√D · ⟨ō, o⟩)` with `o` the unit
//!   rotated residual and `ō = sign(o)/√D` its code, and `popcount(bits)`.
//!
//! A query is rotated once per search: `q̂ = Pq / ‖q‖`, quantised to 4 bits per
//! dimension (`q̂ᵢ ≈ lo + δ·uᵢ`). Then, per row,
//! `⟨x, q⟩ ≈ ⟨c, q⟩ + ‖q‖ · s · (2·Σ bᵢ q̂ᵢ − Σ q̂ᵢ)` with
//! `Σ bᵢ q̂ᵢ = lo·popcount(b) + δ·Σᵢ bᵢuᵢ`, and `‖x − q‖² = ‖x‖² + ‖q‖² − 2⟨x, q⟩`. The
//! estimate is unbiased with an error of order `‖x − c‖·‖q‖/√D`, so it only ranks
//! candidates: the survivors are re-scored with exact f32 vectors.
//! [`BitQuery::set_confidence`] turns estimates into lower bounds, so that re-scoring
//! can stop early.
//!
//! `Σᵢ bᵢuᵢ` is summed two ways, to the same integer. Codes stored in blocks of
//! [`BLOCK_ROWS`] rows (row groups from version 3: byte q of 32 rows together) look
//! each code nibble up in a 16-entry table of the query's level sums, 32 rows per byte
//! shuffle ([`weighted_sums_blocked`]); row-major codes (version 2) take four
//! AND+POPCNT per 64 dimensions against the 4 bit planes of `u`
//! ([`weighted_popcounts`]). The blocked sum is the faster one on x86 (131 vs 207 ns
//! per 64 rows of 512-bit codes in cache, `cargo bench --bench kernels -- in_cache`):
//! with 512-bit vectors only two ports compute, and the popcount path spends 15
//! operations per row there. Version 3 also stores the factors as three planes
//! ([`plane_factors`]), so the estimates loop reads unit-stride columns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::dispatch::{self, KernelLevel};
use super::distance;
use super::kmeans::SplitMix;
use crate::metric::Metric;

/// `√(1 − ⟨ō,o⟩²)` at the value `⟨ō,o⟩` concentrates around (√(2/π)) for the
/// dimensions codes are kept for.
const SPREAD: f32 = 0.6;

/// Factors stored per row.
pub const FACTORS: usize = 3;

/// Smallest dimension given 1-bit codes: below it the estimator's error (∝ 1/√D) is
/// too coarse to rank candidates, and SQ8 codes are scanned instead.
pub const MIN_DIMENSION: usize = 128;

/// Bits per code for vectors of `dimension`: the next power of two (0, no codes, below
/// [`MIN_DIMENSION`]).
pub fn code_bits(dimension: usize) -> usize {
    if dimension < MIN_DIMENSION { 0 } else { Rotation::padded(dimension) }
}

/// The fixed random rotation for one padded dimension.
#[derive(Debug)]
pub struct Rotation {
    bits: usize,
    signs: [Vec<f32>; 3],
}

impl Rotation {
    /// The rotation used for vectors of `dimension` (shared, built once).
    pub fn for_dimension(dimension: usize) -> Arc<Rotation> {
        static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Rotation>>>> = OnceLock::new();
        let bits = Rotation::padded(dimension);
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(bits)
            .or_insert_with(|| {
                let mut rng = SplitMix::new(0xD21F_7AB1_7000 + bits as u64);
                let mut sign = || (0..bits).map(|_| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 }).collect::<Vec<f32>>();
                Arc::new(Rotation { bits, signs: [sign(), sign(), sign()] })
            })
            .clone()
    }

    /// The padded dimension the rotation of `dimension`-long vectors works in.
    pub fn padded(dimension: usize) -> usize {
        dimension.next_power_of_two().max(64)
    }

    /// Padded dimension = bits per code.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `out = P·x` (x zero-padded to `bits`); `out.len() == bits`.
    pub fn rotate(&self, x: &[f32], out: &mut [f32]) {
        self.rotate_at(dispatch::active(), x, out)
    }

    /// [`Rotation::rotate`] at a kernel level; every level gives the same bits (the
    /// same operations in the same order, only wider), so codes written at one level
    /// are read at any other.
    pub fn rotate_at(&self, level: KernelLevel, x: &[f32], out: &mut [f32]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        out[..x.len()].copy_from_slice(x);
        let scale = 1.0 / (self.bits as f32).sqrt();
        #[cfg(target_arch = "x86_64")]
        if super::x86::rotate_rounds(level, &self.signs, scale, out).is_some() {
            return;
        }
        let _ = level;
        rotate_rounds(&self.signs, scale, out);
    }
}

/// Three rounds of sign flips and normalised Walsh–Hadamard transforms, in place.
#[inline(always)]
pub(crate) fn rotate_rounds(signs: &[Vec<f32>; 3], scale: f32, out: &mut [f32]) {
    for signs in signs {
        for (o, s) in out.iter_mut().zip(signs) {
            *o *= s;
        }
        hadamard(out);
        out.iter_mut().for_each(|o| *o *= scale);
    }
}

/// In-place unnormalised Walsh–Hadamard transform (length a power of two).
#[inline(always)]
fn hadamard(v: &mut [f32]) {
    let n = v.len();
    // The butterflies of spans 1, 2, 4 and 8 stay within 16 components: done per
    // 16-component chunk as whole-array steps (shuffles, adds and blends once compiled),
    // the same additions and subtractions as the loop below would make, so the same bits.
    let mut h = 1;
    if n.is_multiple_of(16) {
        for chunk in v.as_chunks_mut::<16>().0 {
            *chunk = butterflies::<8>(butterflies::<4>(butterflies::<2>(butterflies::<1>(*chunk))));
        }
        h = 16;
    }
    while h < n {
        for block in v.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (s, t) = (*x + *y, *x - *y);
                *x = s;
                *y = t;
            }
        }
        h *= 2;
    }
}

/// One Walsh–Hadamard stage of span `H` (< 16) over 16 components: `(x, y)` at
/// `(i, i + H)` becomes `(x + y, x − y)`.
#[inline(always)]
fn butterflies<const H: usize>(a: [f32; 16]) -> [f32; 16] {
    std::array::from_fn(|i| if i & H == 0 { a[i] + a[i ^ H] } else { a[i ^ H] - a[i] })
}

/// Encodes row-major `vectors` relative to `centroid` (zero when `None`): `bits / 8`
/// code bytes and [`FACTORS`] factors per row.
pub fn encode(vectors: &[f32], dimension: usize, centroid: Option<&[f32]>, codes: &mut [u8], factors: &mut [f32]) {
    let rotation = Rotation::for_dimension(dimension);
    let bits = rotation.bits();
    let mut residual = vec![0f32; dimension];
    let mut rotated = vec![0f32; bits];
    for ((x, code), f) in vectors.chunks_exact(dimension).zip(codes.chunks_exact_mut(bits / 8)).zip(factors.chunks_exact_mut(FACTORS)) {
        for (j, r) in residual.iter_mut().enumerate() {
            *r = x[j] - centroid.map_or(0.0, |c| c[j]);
        }
        rotation.rotate(&residual, &mut rotated);
        let abs_sum = f64::from(sign_bits(&rotated, code));
        let ones: u32 = code.iter().map(|b| b.count_ones()).sum();
        let norm_r = f64::from(distance::dot(&residual, &residual)).sqrt();
        // ⟨ō, o⟩ = Σ|oᵢ|/√D with o = rotated / ‖r‖; s = ‖r‖ / (√D·⟨ō, o⟩) = ‖r‖² / Σ|rotatedᵢ|.
        let s = if abs_sum > 0.0 { norm_r * norm_r / abs_sum } else { 0.0 };
        f[0] = distance::dot(x, x);
        f[1] = s as f32;
        f[2] = ones as f32;
    }
}

/// Writes the sign bits of `rotated` into `code` (bit i of byte i / 8) and returns
/// `Σ |rotatedᵢ|`.
fn sign_bits(rotated: &[f32], code: &mut [u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(sum) = super::x86::sign_bits(dispatch::active(), rotated, code) {
        return sum;
    }
    sign_bits_body(rotated, code)
}

/// Plain code for [`sign_bits`], vectorised by the compiler at each level.
#[inline(always)]
pub(crate) fn sign_bits_body(rotated: &[f32], code: &mut [u8]) -> f32 {
    let mut abs = [0f32; 8];
    for (byte, chunk) in code.iter_mut().zip(rotated.chunks_exact(8)) {
        let mut b = 0u8;
        for (j, v) in chunk.iter().enumerate() {
            b |= u8::from(*v > 0.0) << j;
            abs[j] += v.abs();
        }
        *byte = b;
    }
    abs.iter().sum()
}

/// A query prepared for 1-bit scans: rotated once, quantised to 4-bit levels, with
/// the nibble tables blocked codes are summed with (bit planes for row-major codes
/// follow on first use).
/// Cloning a prepared query gives another thread its own scan buffers.
#[derive(Debug, Default, Clone)]
pub struct BitQuery {
    rotated: Vec<f32>,
    /// 4 planes × (bits / 64) words, built on the first row-major (version 2) scan of
    /// the query (`planes_ready`): blocked scans use the nibble tables instead.
    planes: Vec<u64>,
    planes_ready: bool,
    words: usize,
    lo: f32,
    delta: f32,
    sum_q: f32,
    norm: f32,
    norm_sq: f32,
    metric: Option<Metric>,
    /// Subtracted from each estimate per unit of the row's scale factor `s` (see
    /// [`BitQuery::set_confidence`]); 0 gives the plain estimate.
    margin: f32,
    weighted: Vec<u32>,
    levels: Vec<u8>,
    /// Per code byte `q`: the 16 sums `Σₜ bitₜ(e)·levels[8q + t]` of its low nibble `e`,
    /// twice (32 bytes: one copy per 128-bit lane), for [`weighted_sums_blocked`].
    lut_lo: Vec<u8>,
    /// The same for the high nibble of byte `q` (levels `8q + 4 ..`).
    lut_hi: Vec<u8>,
    rotation: Option<Arc<Rotation>>,
}

impl BitQuery {
    /// Prepares `query` (already normalised for cosine).
    pub fn prepare(&mut self, metric: Metric, query: &[f32]) {
        // The rotation is cached per thread's query (no shared lock on the search path).
        if self.rotation.as_ref().is_none_or(|r| r.bits() != Rotation::padded(query.len())) {
            self.rotation = Some(Rotation::for_dimension(query.len()));
        }
        let Some(rotation) = self.rotation.clone() else { return };
        let bits = rotation.bits();
        self.metric = Some(metric);
        self.rotated.resize(bits, 0.0);
        rotation.rotate(query, &mut self.rotated);
        self.norm_sq = distance::dot(query, query);
        self.norm = self.norm_sq.sqrt();
        let inv = if self.norm > 0.0 { 1.0 / self.norm } else { 0.0 };
        // Eight running minima and maxima (one per lane, so the loop is vector code; a
        // single serial min chain took most of this function's time). `bits` is a
        // power of two ≥ 64, so the chunks cover every component.
        let (mut lows, mut highs) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
        for chunk in self.rotated.chunks_exact_mut(8) {
            for ((v, l), h) in chunk.iter_mut().zip(&mut lows).zip(&mut highs) {
                *v *= inv;
                *l = l.min(*v);
                *h = h.max(*v);
            }
        }
        let lo = lows.iter().fold(f32::INFINITY, |a, b| a.min(*b));
        let hi = highs.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b));
        self.lo = lo;
        self.delta = if hi > lo { (hi - lo) / 15.0 } else { 0.0 };
        self.words = bits / 64;
        self.planes_ready = false;
        let inv_delta = if self.delta > 0.0 { 1.0 / self.delta } else { 0.0 };
        self.levels.clear();
        // Adding and removing 2²³ rounds to nearest, ties to even, like
        // `f32::round_ties_even` for these values (0 ..= 15), without the libm call the
        // x86-64 baseline makes of it.
        const ROUND: f32 = 8_388_608.0;
        self.levels.extend(self.rotated.iter().map(|v| (((v - lo) * inv_delta).clamp(0.0, 15.0) + ROUND - ROUND) as u8));
        let sum_u: u32 = self.levels.iter().map(|u| u32::from(*u)).sum();
        self.sum_q = lo * bits as f32 + self.delta * sum_u as f32;
        self.margin = 0.0;
        let code_bytes = bits / 8;
        self.lut_lo.clear();
        self.lut_lo.resize(code_bytes * LUT_STRIDE, 0);
        self.lut_hi.clear();
        self.lut_hi.resize(code_bytes * LUT_STRIDE, 0);
        for (q, levels) in self.levels.chunks_exact(8).enumerate() {
            for (half, lut) in [&mut self.lut_lo, &mut self.lut_hi].into_iter().enumerate() {
                let l = &levels[4 * half..4 * half + 4];
                let table = &mut lut[q * LUT_STRIDE..(q + 1) * LUT_STRIDE];
                // Entry e adds the level of each bit set in e (≤ 4 × 15 = 60): built up
                // as e without its lowest set bit plus that bit's level, one add each.
                let mut sums = [0u8; 16];
                for e in 1..16 {
                    sums[e] = sums[e & (e - 1)] + l[e.trailing_zeros() as usize];
                }
                table[..16].copy_from_slice(&sums);
                table[16..].copy_from_slice(&sums);
            }
        }
    }

    /// The 4 bit planes of the levels, for row-major scans; built once per query.
    fn ensure_planes(&mut self) {
        if self.planes_ready {
            return;
        }
        self.planes.clear();
        self.planes.resize(4 * self.words, 0);
        for (w, chunk) in self.levels.chunks_exact(64).enumerate() {
            for (bit, u) in chunk.iter().enumerate() {
                for j in 0..4 {
                    self.planes[j * self.words + w] |= u64::from(u >> j & 1) << bit;
                }
            }
        }
        self.planes_ready = true;
    }

    /// Makes scans return lower bounds instead of estimates: each estimate minus
    /// `sigmas` standard errors of the estimator. RaBitQ's error on `⟨x, q⟩` is
    /// `‖q‖·‖x − c‖·√(1 − ⟨ō,o⟩²)/(⟨ō,o⟩·√(D − 1))` per standard error, which with the
    /// stored `s = ‖x − c‖/(√D·⟨ō,o⟩)` is `‖q‖·s·√(1 − ⟨ō,o⟩²)·√(D/(D − 1))`; `⟨ō,o⟩`
    /// concentrates at √(2/π) ≈ 0.80, so `√(1 − ⟨ō,o⟩²)` is taken as `SPREAD` (0.6). A
    /// squared L2 distance moves by twice the inner product's error.
    pub fn set_confidence(&mut self, sigmas: f32) {
        let bits = (self.words * 64) as f32;
        let per_dot = if bits > 1.0 { self.norm * SPREAD * (bits / (bits - 1.0)).sqrt() } else { 0.0 };
        let distance_factor = if self.metric.unwrap_or(Metric::L2) == Metric::L2 { 2.0 } else { 1.0 };
        self.margin = sigmas * per_dot * distance_factor;
    }

    /// Estimated distances of every row (codes row-major, `bits / 8` bytes each)
    /// relative to a centroid with `⟨c, q⟩ = centroid_dot`, into `out`.
    pub fn scan(&mut self, codes: &[u8], factors: &[f32], centroid_dot: f32, out: &mut Vec<f32>) {
        self.scan_at(dispatch::active(), codes, factors, centroid_dot, out)
    }

    /// [`BitQuery::scan`] at a kernel level.
    pub fn scan_at(&mut self, level: KernelLevel, codes: &[u8], factors: &[f32], centroid_dot: f32, out: &mut Vec<f32>) {
        let bytes = self.words * 8;
        let rows = codes.len().checked_div(bytes).unwrap_or(0).min(factors.len() / FACTORS);
        self.ensure_planes();
        self.weighted.clear();
        self.weighted.resize(rows, 0);
        weighted_popcounts(level, codes, &self.planes, self.words, &mut self.weighted);
        self.estimates(factors.chunks_exact(FACTORS).map(|f| [f[0], f[1], f[2]]), centroid_dot, out);
    }

    /// [`BitQuery::scan`] over a group of `rows` rows stored the version-3 way: codes in
    /// the blocked layout ([`block_codes`]) and factors planar ([`plane_factors`]). The
    /// same estimates, bit for bit.
    pub fn scan_blocked(&mut self, codes: &[u8], rows: usize, factors: &[f32], centroid_dot: f32, out: &mut Vec<f32>) {
        self.scan_blocked_at(dispatch::active(), codes, rows, factors, centroid_dot, out)
    }

    /// [`BitQuery::scan_blocked`] at a kernel level.
    pub fn scan_blocked_at(&mut self, level: KernelLevel, codes: &[u8], rows: usize, factors: &[f32], centroid_dot: f32, out: &mut Vec<f32>) {
        let bytes = self.words * 8;
        // Each plane holds one factor of every row of the group, whatever is scanned.
        let plane = factors.len() / FACTORS;
        let rows = rows.min(plane).min(codes.len() / bytes.max(1) / BLOCK_ROWS * BLOCK_ROWS);
        self.weighted.clear();
        self.weighted.resize(rows, 0);
        weighted_sums_blocked(level, codes, bytes, &self.lut_lo, &self.lut_hi, &mut self.weighted);
        self.planar_estimates_into(level, factors, plane, rows, centroid_dot, out);
    }

    /// [`BitQuery::scan_blocked`] for the blocks of [`BLOCK_ROWS`] rows that hold a row
    /// set in `mask` (bit r of word r / 64 for row r) only: the other blocks' codes are
    /// not read, and their rows' estimates are not meaningful (the caller discards
    /// them). A filtered search uses it when few rows of a group match.
    pub fn scan_blocked_masked(&mut self, codes: &[u8], rows: usize, factors: &[f32], centroid_dot: f32, mask: &[u64], out: &mut Vec<f32>) {
        let level = dispatch::active();
        let bytes = self.words * 8;
        let plane = factors.len() / FACTORS;
        let rows = rows.min(plane).min(codes.len() / bytes.max(1) / BLOCK_ROWS * BLOCK_ROWS);
        self.weighted.clear();
        self.weighted.resize(rows, 0);
        let block_bytes = BLOCK_ROWS * bytes;
        const _: () = assert!(64 % BLOCK_ROWS == 0);
        for (b, weighted) in self.weighted.chunks_mut(BLOCK_ROWS).enumerate() {
            let first = b * BLOCK_ROWS;
            let bits = mask.get(first / 64).map_or(0, |w| w >> (first % 64)) & ((1u64 << BLOCK_ROWS) - 1);
            if bits != 0 {
                weighted_sums_blocked(level, &codes[b * block_bytes..(b + 1) * block_bytes], bytes, &self.lut_lo, &self.lut_hi, weighted);
            }
        }
        self.planar_estimates_into(level, factors, plane, rows, centroid_dot, out);
    }

    /// Turns `self.weighted` (the first `rows` rows) into estimates with the factor
    /// planes (each `plane` long) of a blocked group.
    fn planar_estimates_into(&self, level: KernelLevel, factors: &[f32], plane: usize, rows: usize, centroid_dot: f32, out: &mut Vec<f32>) {
        let (norms, rest) = factors.split_at(plane);
        let (scales, rest) = rest.split_at(plane);
        let planes = PlanarFactors { norms: &norms[..rows], scales: &scales[..rows], popcounts: &rest[..rows.min(rest.len())] };
        out.clear();
        out.resize(rows, 0.0);
        planar_estimates(level, &self.terms(centroid_dot), &self.weighted, &planes, out);
    }

    /// The per-query terms of [`EstimateTerms`] for a list whose centroid has
    /// `⟨c, q⟩ = centroid_dot`.
    fn terms(&self, centroid_dot: f32) -> EstimateTerms {
        EstimateTerms {
            metric: self.metric.unwrap_or(Metric::L2),
            a: 2.0 * self.norm * self.lo,
            b: 2.0 * self.norm * self.delta,
            c: self.norm * self.sum_q,
            norm_sq: self.norm_sq,
            margin: self.margin,
            centroid_dot,
        }
    }

    /// Turns `self.weighted` (one sum per row) into estimates with the rows' factors
    /// (`[‖x‖², s, popcount]` per row, in row order).
    fn estimates(&self, factors: impl Iterator<Item = [f32; FACTORS]>, centroid_dot: f32, out: &mut Vec<f32>) {
        let terms = self.terms(centroid_dot);
        out.clear();
        out.extend(self.weighted.iter().zip(factors).map(|(w, [n, s, p])| terms.estimate(*w, n, s, p)));
    }
}

/// What turns one row's weighted sum and factors into its estimate for one query and
/// list (see the module docs): `⟨x, q⟩ ≈ centroid_dot + s·(a·popcount + b·weighted − c)`,
/// then the metric's distance less `margin·s`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EstimateTerms {
    pub metric: Metric,
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub norm_sq: f32,
    pub margin: f32,
    pub centroid_dot: f32,
}

impl EstimateTerms {
    /// One row's estimate. Every scan path computes it with these operations in this
    /// order, so the row-major and blocked layouts and every kernel level agree bit for
    /// bit.
    #[inline(always)]
    pub fn estimate(&self, weighted: u32, norm: f32, s: f32, popcount: f32) -> f32 {
        let dot = self.centroid_dot + s * (self.a * popcount + self.b * weighted as f32 - self.c);
        match self.metric {
            Metric::L2 => norm + self.norm_sq - 2.0 * dot - self.margin * s,
            Metric::InnerProduct => -dot - self.margin * s,
            Metric::Cosine => 1.0 - dot - self.margin * s,
        }
    }
}

/// The three factor planes of a version-3 group, cut to the rows scanned.
pub(crate) struct PlanarFactors<'a> {
    pub norms: &'a [f32],
    pub scales: &'a [f32],
    pub popcounts: &'a [f32],
}

/// `out[r]` = the estimate of row `r` from `weighted[r]` and its planar factors; one
/// loop per metric, so each compiles to straight vector code (at the widest level the
/// caller's target features allow: see `x86::planar_estimates`).
#[inline(always)]
pub(crate) fn planar_estimates_body(terms: &EstimateTerms, weighted: &[u32], f: &PlanarFactors<'_>, out: &mut [f32]) {
    #[inline(always)]
    fn fill(t: EstimateTerms, weighted: &[u32], f: &PlanarFactors<'_>, out: &mut [f32]) {
        for ((o, w), ((n, s), p)) in out.iter_mut().zip(weighted).zip(f.norms.iter().zip(f.scales).zip(f.popcounts)) {
            *o = t.estimate(*w, *n, *s, *p);
        }
    }
    // Each call passes a constant metric, so its inlined loop has no branch on it.
    let with = |metric| EstimateTerms { metric, ..*terms };
    match terms.metric {
        Metric::L2 => fill(with(Metric::L2), weighted, f, out),
        Metric::InnerProduct => fill(with(Metric::InnerProduct), weighted, f, out),
        Metric::Cosine => fill(with(Metric::Cosine), weighted, f, out),
    }
}

/// [`planar_estimates_body`] at a kernel level (AVX2 computes 8 rows per instruction,
/// the baseline 4).
pub(crate) fn planar_estimates(level: KernelLevel, terms: &EstimateTerms, weighted: &[u32], f: &PlanarFactors<'_>, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::planar_estimates(level, terms, weighted, f, out).is_some() {
        return;
    }
    let _ = level;
    planar_estimates_body(terms, weighted, f, out)
}

/// Rewrites per-row factors (`[‖x‖², s, popcount]` for each row in turn, as [`encode`]
/// gives them) into three planes: every row's `‖x‖²`, then every `s`, then every
/// popcount — the version-3 column, which a scan reads with unit-stride vector loads.
pub fn plane_factors(interleaved: &[f32], out: &mut [f32]) {
    let rows = interleaved.len() / FACTORS;
    for (r, f) in interleaved.chunks_exact(FACTORS).enumerate() {
        for (k, v) in f.iter().enumerate() {
            if let Some(slot) = out.get_mut(k * rows + r) {
                *slot = *v;
            }
        }
    }
}

/// Rows per block of the blocked code layout.
pub const BLOCK_ROWS: usize = 32;

/// Bytes per code byte in a query's nibble tables (two 16-entry copies).
const LUT_STRIDE: usize = 32;

/// Bytes the blocked layout of `rows` codes of `bits` bits takes: whole blocks of
/// [`BLOCK_ROWS`] rows (the last padded with zero codes).
pub fn blocked_len(rows: usize, bits: usize) -> usize {
    rows.div_ceil(BLOCK_ROWS) * BLOCK_ROWS * (bits / 8)
}

/// Rewrites row-major codes (`code_bytes` bytes each) into the blocked layout: for each
/// block of [`BLOCK_ROWS`] rows, byte `q` of row `j` of the block at `q·32 + j`, so one
/// 32-byte load holds byte `q` of 32 rows. `out` (`blocked_len` bytes) is overwritten;
/// rows past the last fill their block with zeros.
pub fn block_codes(row_major: &[u8], code_bytes: usize, out: &mut [u8]) {
    out.iter_mut().for_each(|b| *b = 0);
    let block_bytes = BLOCK_ROWS * code_bytes;
    for (r, code) in row_major.chunks_exact(code_bytes.max(1)).enumerate() {
        let base = (r / BLOCK_ROWS) * block_bytes + r % BLOCK_ROWS;
        for (q, byte) in code.iter().enumerate() {
            if let Some(slot) = out.get_mut(base + q * BLOCK_ROWS) {
                *slot = *byte;
            }
        }
    }
}

/// `out[r] = Σᵢ bitᵢ(code_r) · levelᵢ` for codes in the blocked layout, from the
/// query's nibble tables (`lut_lo`, `lut_hi`: 32 bytes per code byte, see
/// [`BitQuery`]); scalar reference. The same totals as [`weighted_popcounts_scalar`]
/// on the row-major codes.
pub fn weighted_sums_blocked_scalar(codes: &[u8], code_bytes: usize, lut_lo: &[u8], lut_hi: &[u8], out: &mut [u32]) {
    let block_bytes = BLOCK_ROWS * code_bytes;
    for (r, o) in out.iter_mut().enumerate() {
        let base = (r / BLOCK_ROWS) * block_bytes + r % BLOCK_ROWS;
        let mut total = 0u32;
        for q in 0..code_bytes {
            let byte = codes.get(base + q * BLOCK_ROWS).copied().unwrap_or(0) as usize;
            total += u32::from(lut_lo[q * LUT_STRIDE + (byte & 15)]) + u32::from(lut_hi[q * LUT_STRIDE + (byte >> 4)]);
        }
        *o = total;
    }
}

/// [`weighted_sums_blocked_scalar`] at a kernel level (from AVX2 up, byte shuffles look
/// up 32 nibbles per instruction).
pub fn weighted_sums_blocked(level: KernelLevel, codes: &[u8], code_bytes: usize, lut_lo: &[u8], lut_hi: &[u8], out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::weighted_sums_blocked(level, codes, code_bytes, lut_lo, lut_hi, out).is_some() {
        return;
    }
    let _ = level;
    weighted_sums_blocked_scalar(codes, code_bytes, lut_lo, lut_hi, out)
}

/// `out[r] = Σⱼ 2ʲ · popcount(code_r ∧ plane_j)`, scalar reference.
pub fn weighted_popcounts_scalar(codes: &[u8], planes: &[u64], words: usize, out: &mut [u32]) {
    for (code, o) in codes.chunks_exact(words * 8).zip(out.iter_mut()) {
        let mut total = 0u32;
        for (w, chunk) in code.chunks_exact(8).enumerate() {
            let c = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            for j in 0..4 {
                total += (c & planes[j * words + w]).count_ones() << j;
            }
        }
        *o = total;
    }
}

/// [`weighted_popcounts_scalar`] at a kernel level.
pub fn weighted_popcounts(level: KernelLevel, codes: &[u8], planes: &[u64], words: usize, out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::weighted_popcounts(level, codes, planes, words, out).is_some() {
        return;
    }
    let _ = level;
    weighted_popcounts_scalar(codes, planes, words, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::distance;

    #[test]
    fn the_rotation_is_orthogonal() {
        let r = Rotation::for_dimension(200);
        assert_eq!(r.bits(), 256);
        let x: Vec<f32> = (0..100).map(|i| (i as f32 * 0.3).sin()).collect();
        let y: Vec<f32> = (0..100).map(|i| (i as f32 * 0.7).cos()).collect();
        let (mut rx, mut ry) = (vec![0.0; 256], vec![0.0; 256]);
        r.rotate(&x, &mut rx);
        r.rotate(&y, &mut ry);
        assert!((distance::dot_scalar(&rx, &ry) - distance::dot_scalar(&x, &y)).abs() < 1e-3);
        assert!((distance::dot_scalar(&rx, &rx) - distance::dot_scalar(&x, &x)).abs() < 1e-3);
    }

    #[test]
    fn the_chunked_hadamard_makes_the_textbook_butterflies_bit_for_bit() {
        // Codes on disk depend on these bits: the 16-component fast path must add and
        // subtract exactly what the plain stage loop does.
        for n in [64usize, 128, 512, 1024] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1013) as f32 * 0.37).sin() * 3.1).collect();
            let mut want = x.clone();
            let mut h = 1;
            while h < n {
                for block in want.chunks_exact_mut(2 * h) {
                    let (a, b) = block.split_at_mut(h);
                    for (p, q) in a.iter_mut().zip(b.iter_mut()) {
                        (*p, *q) = (*p + *q, *p - *q);
                    }
                }
                h *= 2;
            }
            let mut got = x.clone();
            hadamard(&mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(&got), bits(&want), "n = {n}");
        }
    }

    #[test]
    fn the_rotation_is_bit_identical_at_every_level() {
        let r = Rotation::for_dimension(384);
        let x: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let mut want = vec![0.0; 512];
        r.rotate_at(KernelLevel::Scalar, &x, &mut want);
        for level in dispatch::available() {
            let mut got = vec![0.0; 512];
            r.rotate_at(level, &x, &mut got);
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{level:?}");
        }
    }

    #[test]
    fn popcount_kernels_agree_at_every_level() {
        for words in [1usize, 2, 4, 8, 16] {
            let mut rng = SplitMix::new(words as u64);
            let codes: Vec<u8> = (0..words * 8 * 13).map(|_| rng.next_u64() as u8).collect();
            let planes: Vec<u64> = (0..4 * words).map(|_| rng.next_u64()).collect();
            let mut want = vec![0; 13];
            weighted_popcounts_scalar(&codes, &planes, words, &mut want);
            for level in dispatch::available() {
                let mut got = vec![0; 13];
                weighted_popcounts(level, &codes, &planes, words, &mut got);
                assert_eq!(got, want, "{level:?} words {words}");
            }
        }
    }

    #[test]
    fn blocked_scans_give_the_row_major_estimates_bit_for_bit_at_every_level() {
        // Dimensions from the smallest coded one to codes past one 16-bit accumulator
        // segment of either SIMD kernel; row counts with ragged last blocks.
        for d in [128usize, 200, 384, 1000, 4096, 16384] {
            let bits = code_bits(d);
            let mut rng = SplitMix::new(d as u64);
            let mut gaussian = || (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0;
            let query: Vec<f32> = (0..d).map(|_| gaussian()).collect();
            let centroid: Vec<f32> = (0..d).map(|_| gaussian() * 0.1).collect();
            for rows in [1usize, 13, 31, 32, 33, 100] {
                let vectors: Vec<f32> = (0..rows * d).map(|_| gaussian()).collect();
                let (mut codes, mut factors) = (vec![0u8; rows * bits / 8], vec![0f32; rows * FACTORS]);
                encode(&vectors, d, Some(&centroid), &mut codes, &mut factors);
                let mut blocked = vec![0xAAu8; blocked_len(rows, bits)];
                block_codes(&codes, bits / 8, &mut blocked);
                let mut planar = vec![f32::NAN; factors.len()];
                plane_factors(&factors, &mut planar);
                for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
                    let mut query_state = BitQuery::default();
                    query_state.prepare(metric, &query);
                    query_state.set_confidence(3.0);
                    let (mut want, mut got) = (Vec::new(), Vec::new());
                    query_state.scan_at(KernelLevel::Scalar, &codes, &factors, 0.25, &mut want);
                    for level in dispatch::available() {
                        query_state.scan_blocked_at(level, &blocked, rows, &planar, 0.25, &mut got);
                        let bits_of = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits_of(&got), bits_of(&want), "{metric:?} {level:?} d {d} rows {rows}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_masked_blocked_scan_gives_the_full_scans_estimates_for_every_masked_row() {
        let d = 384;
        let bits = code_bits(d);
        let mut rng = SplitMix::new(9);
        let mut gaussian = || (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0;
        let query: Vec<f32> = (0..d).map(|_| gaussian()).collect();
        for rows in [1usize, 31, 32, 65, 100, 128] {
            let vectors: Vec<f32> = (0..rows * d).map(|_| gaussian()).collect();
            let (mut codes, mut factors) = (vec![0u8; rows * bits / 8], vec![0f32; rows * FACTORS]);
            encode(&vectors, d, None, &mut codes, &mut factors);
            let mut blocked = vec![0u8; blocked_len(rows, bits)];
            block_codes(&codes, bits / 8, &mut blocked);
            let mut planar = vec![0f32; factors.len()];
            plane_factors(&factors, &mut planar);
            let mut q = BitQuery::default();
            q.prepare(Metric::L2, &query);
            let (mut all, mut some) = (Vec::new(), Vec::new());
            q.scan_blocked(&blocked, rows, &planar, 0.0, &mut all);
            // Rows 3 and 70 (blocks 0 and 2) only.
            let mut mask = vec![0u64; rows.div_ceil(64)];
            for r in [3usize, 70].into_iter().filter(|&r| r < rows) {
                mask[r / 64] |= 1 << (r % 64);
            }
            q.scan_blocked_masked(&blocked, rows, &planar, 0.0, &mask, &mut some);
            assert_eq!(some.len(), all.len());
            for r in [3usize, 70].into_iter().filter(|&r| r < rows) {
                assert_eq!(some[r].to_bits(), all[r].to_bits(), "rows {rows}, row {r}");
            }
        }
    }

    #[test]
    fn blocked_kernels_agree_at_their_largest_totals() {
        // Every table entry at its maximum (60): each code byte adds 120 to its row, past
        // what one 16-bit accumulator holds for the longest codes.
        for code_bytes in [16usize, 512, 2048] {
            let rows = 40;
            let codes = vec![0xFFu8; blocked_len(rows, code_bytes * 8)];
            let tables = vec![60u8; code_bytes * LUT_STRIDE];
            let mut want = vec![0; rows];
            weighted_sums_blocked_scalar(&codes, code_bytes, &tables, &tables, &mut want);
            assert_eq!(want, vec![120 * code_bytes as u32; rows]);
            for level in dispatch::available() {
                let mut got = vec![0; rows];
                weighted_sums_blocked(level, &codes, code_bytes, &tables, &tables, &mut got);
                assert_eq!(got, want, "{level:?} code bytes {code_bytes}");
            }
        }
    }

    #[test]
    fn blocking_puts_byte_q_of_row_j_at_q_times_32_plus_j() {
        let code_bytes = 16;
        let rows = 35;
        let codes: Vec<u8> = (0..rows * code_bytes).map(|i| (i % 251) as u8 + 1).collect();
        let mut blocked = vec![0u8; blocked_len(rows, code_bytes * 8)];
        block_codes(&codes, code_bytes, &mut blocked);
        assert_eq!(blocked.len(), 2 * BLOCK_ROWS * code_bytes);
        for r in 0..rows {
            for q in 0..code_bytes {
                let at = (r / 32) * 32 * code_bytes + q * 32 + r % 32;
                assert_eq!(blocked[at], codes[r * code_bytes + q]);
            }
        }
        // The padding rows of the last block are zero codes.
        for r in rows..64 {
            assert!((0..code_bytes).all(|q| blocked[32 * code_bytes + q * 32 + r % 32] == 0));
        }
    }

    #[test]
    fn popcount_kernels_agree_at_their_largest_totals() {
        // All bits set: every row reaches 15 × its bits, the most a packed 16-bit field
        // holds at 4,096 bits and beyond it at 8,192 (where rows reduce one by one).
        for words in [8usize, 64, 128] {
            let codes = vec![0xFFu8; words * 8 * 7];
            let planes = vec![u64::MAX; 4 * words];
            for level in dispatch::available() {
                let mut got = vec![0; 7];
                weighted_popcounts(level, &codes, &planes, words, &mut got);
                assert_eq!(got, vec![15 * 64 * words as u32; 7], "{level:?} words {words}");
            }
        }
    }

    #[test]
    fn estimates_rank_like_exact_distances() {
        let d = 384;
        let mut rng = SplitMix::new(5);
        let centroid: Vec<f32> = (0..d).map(|_| (rng.unit() as f32 - 0.5) * 0.2).collect();
        // Rows at graded distances from the query's neighbourhood, so ranking matters.
        let rows: Vec<f32> = (0..200 * d).map(|i| centroid[i % d] + (rng.unit() as f32 - 0.5) * (0.2 + (i / d) as f32 * 0.004)).collect();
        let query: Vec<f32> = (0..d).map(|i| centroid[i] + (rng.unit() as f32 - 0.5) * 0.2).collect();
        let bits = code_bits(d);
        let mut codes = vec![0u8; 200 * bits / 8];
        let mut factors = vec![0f32; 200 * FACTORS];
        encode(&rows, d, Some(&centroid), &mut codes, &mut factors);
        let mut bq = BitQuery::default();
        bq.prepare(Metric::L2, &query);
        let mut est = Vec::new();
        bq.scan(&codes, &factors, distance::dot_scalar(&centroid, &query), &mut est);
        let exact: Vec<f32> = rows.chunks_exact(d).map(|r| distance::l2_squared_scalar(r, &query)).collect();
        // The estimate's error is small next to the spread of distances: its 20 best
        // include most of the exact 10 best.
        let mut order: Vec<usize> = (0..200).collect();
        order.sort_by(|a, b| est[*a].total_cmp(&est[*b]));
        let mut truth: Vec<usize> = (0..200).collect();
        truth.sort_by(|a, b| exact[*a].total_cmp(&exact[*b]));
        let hits = truth[..10].iter().filter(|t| order[..40].contains(t)).count();
        assert!(hits >= 8, "only {hits} of the exact top 10 among the estimated top 40");
        // Mean error within a few times the theoretical scale 2·‖r‖·‖q‖/√D.
        let norm = |v: &[f32]| distance::dot_scalar(v, v).sqrt();
        let scale = 2.0 * norm(&rows[..d].iter().zip(&centroid).map(|(x, c)| x - c).collect::<Vec<_>>()) * norm(&query)
            / (bits as f32).sqrt();
        let err = est.iter().zip(&exact).map(|(e, x)| (e - x).abs()).sum::<f32>() / 200.0;
        assert!(err < 2.0 * scale, "mean error {err}, scale {scale}");
    }

    #[test]
    fn three_standard_errors_below_the_estimate_is_a_lower_bound() {
        for metric in [Metric::L2, Metric::InnerProduct] {
            let d = 384;
            let n = 2000;
            let mut rng = SplitMix::new(11);
            let centroid: Vec<f32> = (0..d).map(|_| (rng.unit() as f32 - 0.5) * 0.2).collect();
            let rows: Vec<f32> = (0..n * d).map(|i| centroid[i % d] + (rng.unit() as f32 - 0.5) * 0.3).collect();
            let query: Vec<f32> = (0..d).map(|i| centroid[i] + (rng.unit() as f32 - 0.5) * 0.3).collect();
            let bits = code_bits(d);
            let mut codes = vec![0u8; n * bits / 8];
            let mut factors = vec![0f32; n * FACTORS];
            encode(&rows, d, Some(&centroid), &mut codes, &mut factors);
            let exact: Vec<f32> = rows
                .chunks_exact(d)
                .map(|r| match metric {
                    Metric::InnerProduct => -distance::dot_scalar(r, &query),
                    _ => distance::l2_squared_scalar(r, &query),
                })
                .collect();
            let centroid_dot = distance::dot_scalar(&centroid, &query);
            let mut bq = BitQuery::default();
            bq.prepare(metric, &query);
            let (mut estimates, mut bounds) = (Vec::new(), Vec::new());
            bq.scan(&codes, &factors, centroid_dot, &mut estimates);
            bq.set_confidence(3.0);
            bq.scan(&codes, &factors, centroid_dot, &mut bounds);
            // Every bound sits below its estimate, and at 3 standard errors fewer than
            // 1 in 100 rows (a normal tail would give 0.13%) lies above the exact value.
            assert!(bounds.iter().zip(&estimates).all(|(b, e)| b < e), "{metric:?}");
            let above = bounds.iter().zip(&exact).filter(|(b, x)| b > x).count();
            assert!(above * 100 < n, "{metric:?}: {above} of {n} bounds above the exact distance");
            // A fresh prepare forgets the confidence: plain estimates again.
            bq.prepare(metric, &query);
            let mut again = Vec::new();
            bq.scan(&codes, &factors, centroid_dot, &mut again);
            assert_eq!(again, estimates, "{metric:?}");
        }
    }
}
