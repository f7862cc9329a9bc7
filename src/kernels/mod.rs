//! Distance, quantisation and clustering kernels.
//!
//! `dispatch` picks an instruction-set level once per process; `distance` (f32) and
//! `sq8` (8-bit codes) have a scalar reference and AVX2 / AVX-512 versions (in `x86`,
//! the only module here with `unsafe`), compared by parity tests; `kmeans` trains the
//! centroid index. Public for benchmarks and tools; not a stable API.

pub mod dispatch;
pub mod distance;
pub mod kmeans;
pub mod rabitq;
pub mod sq8;
#[cfg(target_arch = "x86_64")]
mod x86;
