//! AVX2 and AVX-512 kernels (x86-64 only). The one place SIMD intrinsics live.
//!
//! Invariants every function here relies on, upheld by its callers in
//! `kernels::distance` and `kernels::sq8`:
//! - it is only called when `kernels::dispatch` found its features on the running CPU;
//! - paired slices have equal lengths (the callers check; loads stay within
//!   `len()` because each loop only reads a full vector while `i + LANES <= len`, and
//!   tails are summed by scalar code).
//!
//! Code distances: `codes` are SQ8 codes (u8) widened to i16 and compared with a query
//! already mapped into code space as i16 (`kernels::sq8::PreparedQuery`); products and
//! squares are summed with `madd_epi16` into i32 lanes. Callers bound the query so sums
//! cannot overflow (see `sq8`).
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::dispatch::{self, KernelLevel};

// ---------------------------------------------------------------- AVX2 + FMA

#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    let hi = _mm256_extractf128_ps(v, 1);
    let lo = _mm256_castps256_ps128(v);
    let s = _mm_add_ps(hi, lo);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2")]
fn hsum256_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// Squared L2 distance of two f32 slices of equal length.
#[target_feature(enable = "avx2,fma")]
fn l2_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both 8-lane loads at i and i + 8 are in bounds.
        let (x0, y0, x1, y1) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                _mm256_loadu_ps(a.as_ptr().add(i + 8)),
                _mm256_loadu_ps(b.as_ptr().add(i + 8)),
            )
        };
        let d0 = _mm256_sub_ps(x0, y0);
        let d1 = _mm256_sub_ps(x1, y1);
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        i += 16;
    }
    if i + 8 <= n {
        // SAFETY: i + 8 <= n.
        let (x, y) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
        let d = _mm256_sub_ps(x, y);
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += 8;
    }
    let mut sum = hsum256(_mm256_add_ps(acc0, acc1));
    while i < n {
        let d = a[i] - b[i];
        sum += d * d;
        i += 1;
    }
    sum
}

/// Inner product of two f32 slices of equal length.
#[target_feature(enable = "avx2,fma")]
fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both 8-lane loads at i and i + 8 are in bounds.
        let (x0, y0, x1, y1) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                _mm256_loadu_ps(a.as_ptr().add(i + 8)),
                _mm256_loadu_ps(b.as_ptr().add(i + 8)),
            )
        };
        acc0 = _mm256_fmadd_ps(x0, y0, acc0);
        acc1 = _mm256_fmadd_ps(x1, y1, acc1);
        i += 16;
    }
    if i + 8 <= n {
        // SAFETY: i + 8 <= n.
        let (x, y) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
        acc0 = _mm256_fmadd_ps(x, y, acc0);
        i += 8;
    }
    let mut sum = hsum256(_mm256_add_ps(acc0, acc1));
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

/// Σ (code − query)² over one row of SQ8 codes.
#[target_feature(enable = "avx2")]
fn l2_codes_avx2(codes: &[u8], query: &[i16]) -> i32 {
    let n = codes.len().min(query.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n: 16 bytes of codes and 16 i16 of query are in bounds.
        let (c, q) = unsafe {
            (
                _mm256_cvtepu8_epi16(_mm_loadu_si128(codes.as_ptr().add(i).cast())),
                _mm256_loadu_si256(query.as_ptr().add(i).cast()),
            )
        };
        let d = _mm256_sub_epi16(c, q);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d, d));
        i += 16;
    }
    let mut sum = hsum256_epi32(acc);
    while i < n {
        let d = i32::from(codes[i]) - i32::from(query[i]);
        sum += d * d;
        i += 1;
    }
    sum
}

/// Σ code × query over one row of SQ8 codes.
#[target_feature(enable = "avx2")]
fn dot_codes_avx2(codes: &[u8], query: &[i16]) -> i32 {
    let n = codes.len().min(query.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n: 16 bytes of codes and 16 i16 of query are in bounds.
        let (c, q) = unsafe {
            (
                _mm256_cvtepu8_epi16(_mm_loadu_si128(codes.as_ptr().add(i).cast())),
                _mm256_loadu_si256(query.as_ptr().add(i).cast()),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(c, q));
        i += 16;
    }
    let mut sum = hsum256_epi32(acc);
    while i < n {
        sum += i32::from(codes[i]) * i32::from(query[i]);
        i += 1;
    }
    sum
}

/// `out[r] = Σ (codes[r] − query)²` for every row of a row-major code block.
#[target_feature(enable = "avx2")]
fn scan_l2_codes_avx2(codes: &[u8], query: &[i16], out: &mut [i32]) {
    let d = query.len();
    for (row, o) in codes.chunks_exact(d).zip(out.iter_mut()) {
        *o = l2_codes_avx2(row, query);
    }
}

/// `out[r] = Σ codes[r] × query` for every row of a row-major code block.
#[target_feature(enable = "avx2")]
fn scan_dot_codes_avx2(codes: &[u8], query: &[i16], out: &mut [i32]) {
    let d = query.len();
    for (row, o) in codes.chunks_exact(d).zip(out.iter_mut()) {
        *o = dot_codes_avx2(row, query);
    }
}

// ---------------------------------------------------------------- AVX-512 F + BW

/// Squared L2 distance of two f32 slices of equal length.
#[target_feature(enable = "avx512f")]
fn l2_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n, so both 16-lane loads at i and i + 16 are in bounds.
        let (x0, y0, x1, y1) = unsafe {
            (
                _mm512_loadu_ps(a.as_ptr().add(i)),
                _mm512_loadu_ps(b.as_ptr().add(i)),
                _mm512_loadu_ps(a.as_ptr().add(i + 16)),
                _mm512_loadu_ps(b.as_ptr().add(i + 16)),
            )
        };
        let d0 = _mm512_sub_ps(x0, y0);
        let d1 = _mm512_sub_ps(x1, y1);
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
        i += 32;
    }
    if i + 16 <= n {
        // SAFETY: i + 16 <= n.
        let (x, y) = unsafe { (_mm512_loadu_ps(a.as_ptr().add(i)), _mm512_loadu_ps(b.as_ptr().add(i))) };
        let d = _mm512_sub_ps(x, y);
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += 16;
    }
    let mut sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    while i < n {
        let d = a[i] - b[i];
        sum += d * d;
        i += 1;
    }
    sum
}

/// Inner product of two f32 slices of equal length.
#[target_feature(enable = "avx512f")]
fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n, so both 16-lane loads at i and i + 16 are in bounds.
        let (x0, y0, x1, y1) = unsafe {
            (
                _mm512_loadu_ps(a.as_ptr().add(i)),
                _mm512_loadu_ps(b.as_ptr().add(i)),
                _mm512_loadu_ps(a.as_ptr().add(i + 16)),
                _mm512_loadu_ps(b.as_ptr().add(i + 16)),
            )
        };
        acc0 = _mm512_fmadd_ps(x0, y0, acc0);
        acc1 = _mm512_fmadd_ps(x1, y1, acc1);
        i += 32;
    }
    if i + 16 <= n {
        // SAFETY: i + 16 <= n.
        let (x, y) = unsafe { (_mm512_loadu_ps(a.as_ptr().add(i)), _mm512_loadu_ps(b.as_ptr().add(i))) };
        acc0 = _mm512_fmadd_ps(x, y, acc0);
        i += 16;
    }
    let mut sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

/// Σ (code − query)² over one row of SQ8 codes.
#[target_feature(enable = "avx512f,avx512bw")]
fn l2_codes_avx512(codes: &[u8], query: &[i16]) -> i32 {
    let n = codes.len().min(query.len());
    let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n: 2 × 32 code bytes and 2 × 32 query i16 are in bounds.
        let (c0, q0, c1, q1) = unsafe {
            (
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i).cast())),
                _mm512_loadu_si512(query.as_ptr().add(i).cast()),
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i + 32).cast())),
                _mm512_loadu_si512(query.as_ptr().add(i + 32).cast()),
            )
        };
        let d0 = _mm512_sub_epi16(c0, q0);
        let d1 = _mm512_sub_epi16(c1, q1);
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(d1, d1));
        i += 64;
    }
    if i + 32 <= n {
        // SAFETY: i + 32 <= n.
        let (c, q) = unsafe {
            (
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i).cast())),
                _mm512_loadu_si512(query.as_ptr().add(i).cast()),
            )
        };
        let d = _mm512_sub_epi16(c, q);
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d, d));
        i += 32;
    }
    let mut sum = _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
    while i < n {
        let d = i32::from(codes[i]) - i32::from(query[i]);
        sum += d * d;
        i += 1;
    }
    sum
}

/// Σ code × query over one row of SQ8 codes.
#[target_feature(enable = "avx512f,avx512bw")]
fn dot_codes_avx512(codes: &[u8], query: &[i16]) -> i32 {
    let n = codes.len().min(query.len());
    let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n: 2 × 32 code bytes and 2 × 32 query i16 are in bounds.
        let (c0, q0, c1, q1) = unsafe {
            (
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i).cast())),
                _mm512_loadu_si512(query.as_ptr().add(i).cast()),
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i + 32).cast())),
                _mm512_loadu_si512(query.as_ptr().add(i + 32).cast()),
            )
        };
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(c0, q0));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(c1, q1));
        i += 64;
    }
    if i + 32 <= n {
        // SAFETY: i + 32 <= n.
        let (c, q) = unsafe {
            (
                _mm512_cvtepu8_epi16(_mm256_loadu_si256(codes.as_ptr().add(i).cast())),
                _mm512_loadu_si512(query.as_ptr().add(i).cast()),
            )
        };
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(c, q));
        i += 32;
    }
    let mut sum = _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
    while i < n {
        sum += i32::from(codes[i]) * i32::from(query[i]);
        i += 1;
    }
    sum
}

/// `out[r] = Σ (codes[r] − query)²` for every row of a row-major code block.
#[target_feature(enable = "avx512f,avx512bw")]
fn scan_l2_codes_avx512(codes: &[u8], query: &[i16], out: &mut [i32]) {
    let d = query.len();
    for (row, o) in codes.chunks_exact(d).zip(out.iter_mut()) {
        *o = l2_codes_avx512(row, query);
    }
}

/// `out[r] = Σ codes[r] × query` for every row of a row-major code block.
#[target_feature(enable = "avx512f,avx512bw")]
fn scan_dot_codes_avx512(codes: &[u8], query: &[i16], out: &mut [i32]) {
    let d = query.len();
    for (row, o) in codes.chunks_exact(d).zip(out.iter_mut()) {
        *o = dot_codes_avx512(row, query);
    }
}

// ---------------------------------------------------------------- blocked dot products

/// `out[4i + j] = a[i] · b[j]` for four rows of `a` and four of `b`, all of length `d`:
/// 16 accumulators, so each loaded value feeds four FMAs (k-means assignment and
/// routed flushes, where many points meet many centroids).
#[target_feature(enable = "avx512f")]
fn dots_4x4_avx512(a: [&[f32]; 4], b: [&[f32]; 4], out: &mut [f32; 16]) {
    let d = a.iter().chain(b.iter()).map(|r| r.len()).min().unwrap_or(0);
    let mut acc = [_mm512_setzero_ps(); 16];
    let mut i = 0;
    while i < d {
        let take = (d - i).min(16);
        let mask: __mmask16 = if take == 16 { 0xFFFF } else { (1u16 << take) - 1 };
        // SAFETY: every row holds at least `d` floats and lanes past `d − i` are masked
        // off, and masked-off lanes are never read.
        let (x, y) = unsafe {
            (
                [0, 1, 2, 3].map(|r| _mm512_maskz_loadu_ps(mask, a[r].as_ptr().add(i))),
                [0, 1, 2, 3].map(|r| _mm512_maskz_loadu_ps(mask, b[r].as_ptr().add(i))),
            )
        };
        for r in 0..4 {
            for c in 0..4 {
                acc[4 * r + c] = _mm512_fmadd_ps(x[r], y[c], acc[4 * r + c]);
            }
        }
        i += 16;
    }
    for (o, v) in out.iter_mut().zip(acc) {
        *o = _mm512_reduce_add_ps(v);
    }
}

/// `dots_4x4_avx512` in 8 lanes: AVX2 has 16 registers, too few for 16 accumulators
/// and the loads beside them, so the block is two passes of four rows of `a` against
/// two of `b` (8 accumulators, 6 loads; each `a` value feeds two FMAs, each `b` four).
/// Components past the last multiple of 8 are summed in scalar.
#[target_feature(enable = "avx2,fma")]
fn dots_4x4_avx2(a: [&[f32]; 4], b: [&[f32]; 4], out: &mut [f32; 16]) {
    let d = a.iter().chain(b.iter()).map(|r| r.len()).min().unwrap_or(0);
    let whole = d - d % 8;
    for half in [0, 2] {
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 8 <= whole <= d, and every row holds at least `d` floats.
            let (x, y) = unsafe {
                (
                    [0, 1, 2, 3].map(|r| _mm256_loadu_ps(a[r].as_ptr().add(i))),
                    [0, 1].map(|c| _mm256_loadu_ps(b[half + c].as_ptr().add(i))),
                )
            };
            for r in 0..4 {
                for c in 0..2 {
                    acc[2 * r + c] = _mm256_fmadd_ps(x[r], y[c], acc[2 * r + c]);
                }
            }
            i += 8;
        }
        for r in 0..4 {
            for c in 0..2 {
                let tail: f32 = a[r][whole..d].iter().zip(&b[half + c][whole..d]).map(|(x, y)| x * y).sum();
                out[4 * r + half + c] = hsum256(acc[2 * r + c]) + tail;
            }
        }
    }
}

/// Sixteen dot products of a 4 × 4 block (see `dots_4x4_avx512`, `dots_4x4_avx2`);
/// `None` at the scalar level.
pub(crate) fn dots_4x4(level: KernelLevel, a: [&[f32]; 4], b: [&[f32]; 4], out: &mut [f32; 16]) -> Option<()> {
    match level.min(dispatch::supported()) {
        // SAFETY: `dispatch::supported` detected AVX-512 F on this CPU.
        KernelLevel::Avx512 => unsafe { dots_4x4_avx512(a, b, out) },
        // SAFETY: `dispatch::supported` detected AVX2 and FMA on this CPU.
        KernelLevel::Avx2 => unsafe { dots_4x4_avx2(a, b, out) },
        _ => return None,
    }
    Some(())
}

/// The sixteen accumulators of `Σ a[i] · b[j]` over four u8 rows and four i8 rows
/// (k-means' 8-bit codes, `kernels::int8`), the shortest length `d` of them: `VPDPBUSD`
/// multiplies 64 byte pairs and adds each four into an i32 lane. Sums fit i32 by
/// `int8`'s invariant.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
fn code_products_vnni(a: [&[u8]; 4], b: [&[i8]; 4]) -> [__m512i; 16] {
    let d = a.iter().map(|r| r.len()).chain(b.iter().map(|r| r.len())).min().unwrap_or(0);
    let mut acc = [_mm512_setzero_si512(); 16];
    let mut i = 0;
    while i < d {
        let take = (d - i).min(64);
        let mask: __mmask64 = if take == 64 { u64::MAX } else { (1u64 << take) - 1 };
        // SAFETY: every row holds at least `d` bytes and lanes past `d − i` are masked
        // off (masked-off lanes are never read).
        let (x, y) = unsafe {
            (
                [0, 1, 2, 3].map(|r| _mm512_maskz_loadu_epi8(mask, a[r].as_ptr().add(i).cast())),
                [0, 1, 2, 3].map(|r| _mm512_maskz_loadu_epi8(mask, b[r].as_ptr().add(i).cast())),
            )
        };
        for r in 0..4 {
            for c in 0..4 {
                acc[4 * r + c] = _mm512_dpbusd_epi32(acc[4 * r + c], x[r], y[c]);
            }
        }
        i += 64;
    }
    acc
}

/// `out[i] = round(clamp((x[i] − centre[i]) · scale, −127, 127)) + 128` (rounding half to
/// even), 16 components per step (`kernels::int8::CodeSpace::encode_row`).
#[target_feature(enable = "avx512f")]
fn encode_u8_avx512(x: &[f32], centre: &[f32], scale: f32, out: &mut [u8]) {
    let n = x.len().min(centre.len()).min(out.len());
    let (s, lo, hi, offset) = (_mm512_set1_ps(scale), _mm512_set1_ps(-127.0), _mm512_set1_ps(127.0), _mm512_set1_epi32(128));
    let mut i = 0;
    while i < n {
        let take = (n - i).min(16);
        let mask: __mmask16 = if take == 16 { 0xFFFF } else { (1u16 << take) - 1 };
        // SAFETY: lanes past `n − i` are masked off on the loads and the store, so only
        // `x[i..n]` and `centre[i..n]` are read and `out[i..n]` written.
        unsafe {
            let v = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x.as_ptr().add(i)), _mm512_maskz_loadu_ps(mask, centre.as_ptr().add(i)));
            let clamped = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, s), lo), hi);
            let code = _mm512_add_epi32(_mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(clamped), offset);
            _mm512_mask_cvtepi32_storeu_epi8(out.as_mut_ptr().add(i).cast(), mask, code);
        }
        i += 16;
    }
}

/// [`encode_u8_avx512`] where the CPU has AVX-512; `None` below it.
pub(crate) fn encode_u8(level: KernelLevel, x: &[f32], centre: &[f32], scale: f32, out: &mut [u8]) -> Option<()> {
    if level.min(dispatch::supported()) == KernelLevel::Avx512 {
        // SAFETY: `dispatch` detected AVX-512 F on this CPU.
        unsafe { encode_u8_avx512(x, centre, scale, out) };
        return Some(());
    }
    None
}

/// The four i32 sums of `acc[4j..4j + 4]` in 128-bit lane `j` (element `i` of the
/// result is the sum of `acc[i]`'s sixteen lanes): a transposing reduction of 45
/// operations where sixteen separate horizontal sums take about 110.
#[target_feature(enable = "avx512f")]
fn transposed_sums(acc: [__m512i; 16]) -> __m512i {
    // Per 128-bit lane, pairs interleaved and added: [a0+a2, b0+b2, a1+a3, b1+b3].
    let pair = |a: __m512i, b: __m512i| _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    let p: [__m512i; 8] = std::array::from_fn(|i| pair(acc[2 * i], acc[2 * i + 1]));
    // Then quadruples: [a, b, c, d] partial sums per 128-bit lane.
    let quad = |a: __m512i, b: __m512i| _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    let q: [__m512i; 4] = std::array::from_fn(|i| quad(p[2 * i], p[2 * i + 1]));
    // Then the four 128-bit lanes of each quadruple, two quadruples at a time.
    let lanes = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_shuffle_i32x4::<0b10_00_10_00>(a, b), _mm512_shuffle_i32x4::<0b11_01_11_01>(a, b))
    };
    lanes(lanes(q[0], q[1]), lanes(q[2], q[3]))
}

/// `out[4r + c] = max(0, rows[r] + offsets[c] − per_unit · Σ a[r] · b[c])` for a 4 × 4
/// block of codes (`kernels::int8::estimates_4x4`): the products of
/// `code_products_vnni`, then the sums and the distance terms without leaving the
/// vector registers.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn estimates_u8i8_4x4_vnni(a: [&[u8]; 4], b: [&[i8]; 4], rows: [f32; 4], offsets: [f32; 4], per_unit: f32, out: &mut [f32; 16]) {
    let acc = code_products_vnni(a, b);
    let raw = _mm512_cvtepi32_ps(transposed_sums(acc));
    let row_terms = _mm512_setr_ps(
        rows[0], rows[0], rows[0], rows[0], rows[1], rows[1], rows[1], rows[1], rows[2], rows[2], rows[2], rows[2], rows[3], rows[3],
        rows[3], rows[3],
    );
    let offset_terms = _mm512_setr_ps(
        offsets[0], offsets[1], offsets[2], offsets[3], offsets[0], offsets[1], offsets[2], offsets[3], offsets[0], offsets[1],
        offsets[2], offsets[3], offsets[0], offsets[1], offsets[2], offsets[3],
    );
    // The scalar reference's order of operations, so both levels give the same bits.
    let estimate = _mm512_sub_ps(_mm512_add_ps(row_terms, offset_terms), _mm512_mul_ps(_mm512_set1_ps(per_unit), raw));
    // SAFETY: `out` holds sixteen f32.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_max_ps(estimate, _mm512_setzero_ps())) };
}

/// The estimates of a 4 × 4 block of codes (see `estimates_u8i8_4x4_vnni`); `None` below
/// AVX-512 or without VNNI.
pub(crate) fn estimates_u8i8_4x4(
    level: KernelLevel,
    a: [&[u8]; 4],
    b: [&[i8]; 4],
    rows: [f32; 4],
    offsets: [f32; 4],
    per_unit: f32,
    out: &mut [f32; 16],
) -> Option<()> {
    if level.min(dispatch::supported()) == KernelLevel::Avx512 && dispatch::has_vnni() {
        // SAFETY: `dispatch` detected AVX-512 F, BW and VNNI on this CPU.
        unsafe { estimates_u8i8_4x4_vnni(a, b, rows, offsets, per_unit, out) };
        return Some(());
    }
    None
}

// ---------------------------------------------------------------- prefetch

/// Hints the CPU to bring the cache line holding `p` into every cache level.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    // SAFETY: PREFETCHT0 (SSE, part of every x86-64 CPU) is a hint: it never faults and
    // never reads memory architecturally, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

// ---------------------------------------------------------------- 1-bit codes

/// Σⱼ 2ʲ·popcount(code ∧ planeⱼ) of one row as 8 u64 lanes (each ≤ 15 × 64).
///
/// # Safety
/// AVX-512 F and VPOPCNTDQ must be available, `code` must point at `chunks × 64`
/// readable bytes and `planes` at 4 × `words` u64 with `chunks × 8 ≤ words`.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
#[inline]
unsafe fn weighted_lanes_avx512(code: *const u8, planes: *const u64, words: usize, chunks: usize) -> __m512i {
    let mut acc = _mm512_setzero_si512();
    for k in 0..chunks {
        // SAFETY: the caller guarantees chunk k's 64 code bytes and 8 words of each of
        // the 4 planes are readable.
        let (c, p0, p1, p2, p3) = unsafe {
            (
                _mm512_loadu_si512(code.add(k * 64).cast()),
                _mm512_loadu_si512(planes.add(k * 8).cast()),
                _mm512_loadu_si512(planes.add(words + k * 8).cast()),
                _mm512_loadu_si512(planes.add(2 * words + k * 8).cast()),
                _mm512_loadu_si512(planes.add(3 * words + k * 8).cast()),
            )
        };
        let a0 = _mm512_popcnt_epi64(_mm512_and_si512(c, p0));
        let a1 = _mm512_popcnt_epi64(_mm512_and_si512(c, p1));
        let a2 = _mm512_popcnt_epi64(_mm512_and_si512(c, p2));
        let a3 = _mm512_popcnt_epi64(_mm512_and_si512(c, p3));
        let low = _mm512_add_epi64(a0, _mm512_slli_epi64::<1>(a1));
        let high = _mm512_add_epi64(a2, _mm512_slli_epi64::<1>(a3));
        acc = _mm512_add_epi64(acc, _mm512_add_epi64(low, _mm512_slli_epi64::<2>(high)));
    }
    acc
}

/// Σⱼ 2ʲ·popcount(code ∧ planeⱼ) per row, 512 bits at a time (`words` a multiple of 8).
///
/// Four rows share one horizontal reduction: a row's total is at most 15 × its bits,
/// below 2¹⁶ for codes of up to 4,096 bits, so the four rows' lanes are packed into the
/// 16-bit fields of one u64 lane each and summed together without carrying across
/// fields. Longer codes reduce one row at a time.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn weighted_popcounts_avx512(codes: &[u8], planes: &[u64], words: usize, out: &mut [u32]) {
    let chunks = words / 8;
    let bytes = words * 8;
    let rows = (codes.len() / bytes).min(out.len());
    let mut r = 0;
    if words * 64 * 15 < 1 << 16 {
        while r + 4 <= rows {
            // SAFETY: rows r..r + 4 lie within `codes` (r + 4 ≤ rows ≤ codes.len() /
            // bytes) and `planes` holds 4 × `words` u64 (checked by the caller); the
            // prefetch hint reads nothing.
            let packed = unsafe {
                let base = codes.as_ptr().add(r * bytes);
                _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(8 * bytes).cast());
                _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(10 * bytes).cast());
                let a = weighted_lanes_avx512(base, planes.as_ptr(), words, chunks);
                let b = weighted_lanes_avx512(base.add(bytes), planes.as_ptr(), words, chunks);
                let c = weighted_lanes_avx512(base.add(2 * bytes), planes.as_ptr(), words, chunks);
                let d = weighted_lanes_avx512(base.add(3 * bytes), planes.as_ptr(), words, chunks);
                let ab = _mm512_add_epi64(a, _mm512_slli_epi64::<16>(b));
                let cd = _mm512_add_epi64(c, _mm512_slli_epi64::<16>(d));
                _mm512_reduce_add_epi64(_mm512_add_epi64(ab, _mm512_slli_epi64::<32>(cd))) as u64
            };
            for (i, o) in out[r..r + 4].iter_mut().enumerate() {
                *o = (packed >> (16 * i)) as u32 & 0xFFFF;
            }
            r += 4;
        }
    }
    for (row, o) in out.iter_mut().enumerate().take(rows).skip(r) {
        // SAFETY: `row < rows`, so its `bytes` lie within `codes`; planes as above.
        let acc = unsafe { weighted_lanes_avx512(codes.as_ptr().add(row * bytes), planes.as_ptr(), words, chunks) };
        *o = _mm512_reduce_add_epi64(acc) as u32;
    }
}

/// The same with the scalar POPCNT instruction, any `words`.
#[target_feature(enable = "popcnt")]
fn weighted_popcounts_popcnt(codes: &[u8], planes: &[u64], words: usize, out: &mut [u32]) {
    for (code, o) in codes.chunks_exact(words * 8).zip(out.iter_mut()) {
        let mut total = 0u32;
        for (w, chunk) in code.chunks_exact(8).enumerate() {
            let c = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            total += (c & planes[w]).count_ones()
                + ((c & planes[words + w]).count_ones() << 1)
                + ((c & planes[2 * words + w]).count_ones() << 2)
                + ((c & planes[3 * words + w]).count_ones() << 3);
        }
        *o = total;
    }
}

/// Weighted popcounts of 1-bit codes against 4 query bit planes (see
/// `kernels::rabitq`); `None` at the scalar level. AVX-512 needs VPOPCNTDQ and whole
/// 512-bit codes, otherwise the POPCNT instruction is used.
pub(crate) fn weighted_popcounts(level: KernelLevel, codes: &[u8], planes: &[u64], words: usize, out: &mut [u32]) -> Option<()> {
    static VPOPCNTDQ: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let level = level.min(dispatch::supported());
    if planes.len() < 4 * words || words == 0 {
        return None;
    }
    if level == KernelLevel::Avx512 && words.is_multiple_of(8) && *VPOPCNTDQ.get_or_init(|| is_x86_feature_detected!("avx512vpopcntdq")) {
        // SAFETY: AVX-512 F was detected by `dispatch` and VPOPCNTDQ just above; the
        // lengths it relies on were checked above.
        unsafe { weighted_popcounts_avx512(codes, planes, words, out) };
        return Some(());
    }
    if level >= KernelLevel::Avx2 {
        // SAFETY: every CPU with AVX2 has POPCNT (and `dispatch` found AVX2).
        unsafe { weighted_popcounts_popcnt(codes, planes, words, out) };
        return Some(());
    }
    None
}

// ---------------------------------------------------------------- blocked 1-bit codes

/// How far ahead of its loads the blocked kernel prefetches (bytes).
const PREFETCH_AHEAD: usize = 512;

/// Code bytes one pass of 16-bit accumulators takes before it could overflow: each
/// adds at most 2 × 60 (two nibble sums) to a row's field, and 256 × 120 < 2¹⁶.
const BLOCKED_SEGMENT: usize = 256;

/// One 32-row block: 32 bytes (code byte q of 32 rows) per step, each nibble looked up
/// in its 16-byte table by VPSHUFB; the 32 row totals are stored at `out`.
///
/// 256 bits wide at the AVX-512 level too: in-lane byte shuffles issue on two ports at
/// 256 bits but on one at 512 on the project's Xeon, and a 512-bit version of this loop
/// measured 158 ns per 64 rows of 512-bit codes against 126 ns for this one (`cargo
/// bench --bench kernels -- in_cache/bit_scan`).
///
/// # Safety
/// AVX2 must be available; `block` must point at `32 × code_bytes` readable bytes,
/// `lut_lo` and `lut_hi` at `32 × code_bytes` each, and `out` at 32 writable `u32`s.
#[target_feature(enable = "avx2")]
unsafe fn blocked_block_avx2(block: *const u8, code_bytes: usize, lut_lo: *const u8, lut_hi: *const u8, out: *mut u32) {
    let nibbles = _mm256_set1_epi8(0x0F);
    let low_bytes = _mm256_set1_epi16(0x00FF);
    // Row totals, 8 rows per register: rows 0–7, 8–15, 16–23, 24–31.
    let mut totals = [_mm256_setzero_si256(); 4];
    let mut q = 0;
    while q < code_bytes {
        let end = (q + BLOCKED_SEGMENT).min(code_bytes);
        let (mut even, mut odd) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        // One code byte's lookups, ≤ 120 per row.
        let step = |q: usize| {
            // SAFETY: q < code_bytes, so the 32 bytes at q·32 lie within the block and
            // both tables (caller's contract).
            let (v, lo_table, hi_table) = unsafe {
                (
                    _mm256_loadu_si256(block.add(q * 32).cast()),
                    _mm256_loadu_si256(lut_lo.add(q * 32).cast()),
                    _mm256_loadu_si256(lut_hi.add(q * 32).cast()),
                )
            };
            let lo = _mm256_and_si256(v, nibbles);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), nibbles);
            _mm256_add_epi8(_mm256_shuffle_epi8(lo_table, lo), _mm256_shuffle_epi8(hi_table, hi))
        };
        while q < end {
            // The hint reads nothing; it starts the lines 512 bytes ahead (within this
            // block or the next) while these are summed.
            _mm_prefetch::<_MM_HINT_T0>(block.wrapping_add(q * 32 + PREFETCH_AHEAD).cast());
            // Two bytes' sums (≤ 240) still fit a byte; widen once per pair.
            let sums = if q + 1 < end { _mm256_add_epi8(step(q), step(q + 1)) } else { step(q) };
            even = _mm256_add_epi16(even, _mm256_and_si256(sums, low_bytes));
            odd = _mm256_add_epi16(odd, _mm256_srli_epi16::<8>(sums));
            q += 2;
        }
        // Byte b of the sums belongs to row b % 32, so 16-bit field e of `even` is row
        // 2e (of `odd`, row 2e + 1) within its 128-bit lane's 16 rows: interleaving the
        // two puts rows in order, 8 per half-lane.
        let (lo, hi) = (_mm256_unpacklo_epi16(even, odd), _mm256_unpackhi_epi16(even, odd));
        let rows = [
            _mm256_castsi256_si128(lo),
            _mm256_castsi256_si128(hi),
            _mm256_extracti128_si256::<1>(lo),
            _mm256_extracti128_si256::<1>(hi),
        ];
        for (t, r) in totals.iter_mut().zip(rows) {
            *t = _mm256_add_epi32(*t, _mm256_cvtepu16_epi32(r));
        }
    }
    for (i, t) in totals.iter().enumerate() {
        // SAFETY: `out` holds 32 u32s (caller's contract); register i is rows 8i..8i+8.
        unsafe { _mm256_storeu_si256(out.add(8 * i).cast(), *t) };
    }
}

/// `weighted_sums_blocked` with SIMD shuffles; `None` at the scalar level or when the
/// buffers are shorter than the rows asked for (the reference then decides).
pub(crate) fn weighted_sums_blocked(
    level: KernelLevel,
    codes: &[u8],
    code_bytes: usize,
    lut_lo: &[u8],
    lut_hi: &[u8],
    out: &mut [u32],
) -> Option<()> {
    let level = level.min(dispatch::supported());
    let block_bytes = 32 * code_bytes;
    let blocks = out.len().div_ceil(32);
    if level < KernelLevel::Avx2
        || code_bytes == 0
        || codes.len() < blocks * block_bytes
        || lut_lo.len() < block_bytes
        || lut_hi.len() < block_bytes
    {
        return None;
    }
    for (b, rows) in out.chunks_mut(32).enumerate() {
        let block = codes[b * block_bytes..].as_ptr();
        let sum_into = |at: &mut [u32; 32]| {
            // SAFETY: AVX2 was detected by `dispatch` (every level from Avx2 up has it);
            // block b's 32 × code_bytes bytes and both tables' lengths were checked
            // above, and `at` is 32 u32s.
            unsafe { blocked_block_avx2(block, code_bytes, lut_lo.as_ptr(), lut_hi.as_ptr(), at.as_mut_ptr()) }
        };
        // A whole block's totals are stored in place; a group's last block may be short.
        match <&mut [u32; 32]>::try_from(&mut *rows) {
            Ok(whole) => sum_into(whole),
            Err(_) => {
                let mut short = [0u32; 32];
                sum_into(&mut short);
                let n = rows.len();
                rows.copy_from_slice(&short[..n]);
            }
        }
    }
    Some(())
}

/// `rabitq::planar_estimates_body` compiled for AVX2 (8 rows per instruction; the
/// same operations in the same order, so the same bits); `None` below AVX2.
pub(crate) fn planar_estimates(
    level: KernelLevel,
    terms: &super::rabitq::EstimateTerms,
    weighted: &[u32],
    f: &super::rabitq::PlanarFactors<'_>,
    out: &mut [f32],
) -> Option<()> {
    if level.min(dispatch::supported()) < KernelLevel::Avx2 {
        return None;
    }
    // SAFETY: AVX2 was detected by `dispatch`; the body is safe code over slices.
    unsafe { planar_estimates_avx2(terms, weighted, f, out) };
    Some(())
}

#[target_feature(enable = "avx2")]
fn planar_estimates_avx2(terms: &super::rabitq::EstimateTerms, weighted: &[u32], f: &super::rabitq::PlanarFactors<'_>, out: &mut [f32]) {
    super::rabitq::planar_estimates_body(terms, weighted, f, out)
}

// ---------------------------------------------------------------- query mapping

/// `out[j] = round((q[j] − offset[j]) × inv)` clamped to `lo..=hi` (plain code, which
/// the compiler vectorises with the features enabled around it).
#[inline(always)]
fn map_query_body(q: &[f32], offset: &[f32], inv: f32, lo: f32, hi: f32, out: &mut [i16]) {
    for ((o, x), m) in out.iter_mut().zip(q).zip(offset) {
        *o = ((x - m) * inv).clamp(lo, hi).round_ties_even() as i32 as i16;
    }
}

#[target_feature(enable = "avx512f,avx512bw")]
fn map_query_avx512(q: &[f32], offset: &[f32], inv: f32, lo: f32, hi: f32, out: &mut [i16]) {
    map_query_body(q, offset, inv, lo, hi, out)
}

#[target_feature(enable = "avx2,fma")]
fn map_query_avx2(q: &[f32], offset: &[f32], inv: f32, lo: f32, hi: f32, out: &mut [i16]) {
    map_query_body(q, offset, inv, lo, hi, out)
}

// ---------------------------------------------------------------- rotation

#[target_feature(enable = "avx512f")]
fn rotate_rounds_avx512(signs: &[Vec<f32>; 3], scale: f32, out: &mut [f32]) {
    super::rabitq::rotate_rounds(signs, scale, out)
}

#[target_feature(enable = "avx2,fma")]
fn rotate_rounds_avx2(signs: &[Vec<f32>; 3], scale: f32, out: &mut [f32]) {
    super::rabitq::rotate_rounds(signs, scale, out)
}

#[target_feature(enable = "avx512f,avx512bw")]
fn sign_bits_avx512(rotated: &[f32], code: &mut [u8]) -> f32 {
    super::rabitq::sign_bits_body(rotated, code)
}

#[target_feature(enable = "avx2,fma")]
fn sign_bits_avx2(rotated: &[f32], code: &mut [u8]) -> f32 {
    super::rabitq::sign_bits_body(rotated, code)
}

// ---------------------------------------------------------------- SQ4 estimates

#[target_feature(enable = "avx512f,avx512bw")]
fn sq4_dot_avx512(code: &[u8], q: &[f32]) -> f32 {
    super::sq4::dot_body(code, q)
}

#[target_feature(enable = "avx2,fma")]
fn sq4_dot_avx2(code: &[u8], q: &[f32]) -> f32 {
    super::sq4::dot_body(code, q)
}

#[target_feature(enable = "avx512f,avx512bw")]
fn sq4_l2_avx512(code: &[u8], q: &[f32], min: f32, step: f32, dimension: usize) -> f32 {
    super::sq4::l2_body(code, q, min, step, dimension)
}

#[target_feature(enable = "avx2,fma")]
fn sq4_l2_avx2(code: &[u8], q: &[f32], min: f32, step: f32, dimension: usize) -> f32 {
    super::sq4::l2_body(code, q, min, step, dimension)
}

// ---------------------------------------------------------------- safe entry points

/// Runs the AVX-512 or AVX2 version of a kernel for `level` (clamped to what the CPU
/// supports); `None` for the scalar level, which the caller evaluates itself.
macro_rules! entry {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, $avx512:ident, $avx2:ident) => {
        $(#[$doc])*
        pub(crate) fn $name(level: KernelLevel, $($arg: $ty),*) -> Option<$ret> {
            match level.min(dispatch::supported()) {
                // SAFETY: `dispatch::supported` detected AVX-512 F + BW on this CPU.
                KernelLevel::Avx512 => Some(unsafe { $avx512($($arg),*) }),
                // SAFETY: `dispatch::supported` detected AVX2 + FMA on this CPU.
                KernelLevel::Avx2 => Some(unsafe { $avx2($($arg),*) }),
                KernelLevel::Scalar => None,
            }
        }
    };
}

entry!(
    /// Squared L2 distance of two f32 slices.
    l2_f32(a: &[f32], b: &[f32]) -> f32, l2_f32_avx512, l2_f32_avx2
);
entry!(
    /// Inner product of two f32 slices.
    dot_f32(a: &[f32], b: &[f32]) -> f32, dot_f32_avx512, dot_f32_avx2
);
entry!(
    /// Σ (code − query)² per row of a code block.
    scan_l2_codes(codes: &[u8], query: &[i16], out: &mut [i32]) -> (), scan_l2_codes_avx512, scan_l2_codes_avx2
);
entry!(
    /// Σ code × query per row of a code block.
    scan_dot_codes(codes: &[u8], query: &[i16], out: &mut [i32]) -> (), scan_dot_codes_avx512, scan_dot_codes_avx2
);
entry!(
    /// Maps a query into SQ8 code space: `round((q − offset) × inv)` clamped.
    map_query(q: &[f32], offset: &[f32], inv: f32, lo: f32, hi: f32, out: &mut [i16]) -> (), map_query_avx512, map_query_avx2
);
entry!(
    /// The 1-bit codes' rotation (plain code the compiler vectorises for the level).
    rotate_rounds(signs: &[Vec<f32>; 3], scale: f32, out: &mut [f32]) -> (), rotate_rounds_avx512, rotate_rounds_avx2
);
entry!(
    /// Σ code × q of an SQ4 code (plain code the compiler vectorises for the level).
    sq4_dot(code: &[u8], q: &[f32]) -> f32, sq4_dot_avx512, sq4_dot_avx2
);
entry!(
    /// Σ (min + code × step − q)² of an SQ4 code.
    sq4_l2(code: &[u8], q: &[f32], min: f32, step: f32, dimension: usize) -> f32, sq4_l2_avx512, sq4_l2_avx2
);
entry!(
    /// Sign bits of a rotated residual and the sum of its magnitudes.
    sign_bits(rotated: &[f32], code: &mut [u8]) -> f32, sign_bits_avx512, sign_bits_avx2
);
