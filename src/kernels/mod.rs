//! Distance and quantisation kernels.
//!
//! Only portable scalar code lives here for now, written in 8-lane chunks so the
//! compiler vectorises it; runtime-dispatched SIMD (AVX2 / AVX-512 / NEON) with a
//! scalar reference and parity tests comes with the centroid index.

pub(crate) mod distance;
pub(crate) mod sq8;
