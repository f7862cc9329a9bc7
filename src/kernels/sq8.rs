//! Scalar quantisation to 8 bits per component (SQ8).
//!
//! Parameters are a per-dimension minimum and scale over a set of rows:
//! `code = round((v - min) / scale)` clamped to 0..=255, `v ≈ min + code × scale`.

/// Per-dimension (min, scale) over row-major `vectors` of `dimension`.
pub(crate) fn train(vectors: &[f32], dimension: usize) -> (Vec<f32>, Vec<f32>) {
    let mut mins = vec![f32::INFINITY; dimension];
    let mut maxs = vec![f32::NEG_INFINITY; dimension];
    for row in vectors.chunks_exact(dimension) {
        for j in 0..dimension {
            mins[j] = mins[j].min(row[j]);
            maxs[j] = maxs[j].max(row[j]);
        }
    }
    let scales = mins
        .iter()
        .zip(&maxs)
        .map(|(lo, hi)| if hi > lo { (hi - lo) / 255.0 } else { 0.0 })
        .collect();
    for m in mins.iter_mut() {
        if !m.is_finite() {
            *m = 0.0;
        }
    }
    (mins, scales)
}

/// Encodes row-major `vectors` into `codes` (same element count).
pub(crate) fn encode(vectors: &[f32], mins: &[f32], scales: &[f32], codes: &mut [u8]) {
    let dimension = mins.len();
    for (row, out) in vectors.chunks_exact(dimension).zip(codes.chunks_exact_mut(dimension)) {
        for j in 0..dimension {
            out[j] = if scales[j] > 0.0 {
                ((row[j] - mins[j]) / scales[j]).round().clamp(0.0, 255.0) as u8
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_reconstruct_within_half_a_step() {
        let dim = 5;
        let vectors: Vec<f32> = (0..dim * 50).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
        let (mins, scales) = train(&vectors, dim);
        let mut codes = vec![0u8; vectors.len()];
        encode(&vectors, &mins, &scales, &mut codes);
        for (i, v) in vectors.iter().enumerate() {
            let j = i % dim;
            let back = mins[j] + f32::from(codes[i]) * scales[j];
            assert!((back - v).abs() <= scales[j] * 0.5 + 1e-5);
        }
    }
}
