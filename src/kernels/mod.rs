//! Distance, quantisation and clustering kernels.
//!
//! `dispatch` picks an instruction-set level once per process; `distance` (f32) and
//! `sq8` (8-bit codes) and `sq4` (4-bit codes, a range per row) have a scalar reference and AVX2 / AVX-512 versions (in `x86`,
//! the only module here with `unsafe`), compared by parity tests; `kmeans` trains the
//! centroid index, choosing candidates by `int8` codes where the CPU has AVX-512 VNNI. Public for benchmarks and tools; not a stable API.

pub mod dispatch;
pub mod distance;
pub mod int8;
pub mod kmeans;
pub mod rabitq;
pub mod sq4;
pub mod sq8;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Hints the CPU to fetch the cache line holding `p` (a no-op off x86-64). Never
/// faults, whatever the address: a search uses it to start the cache misses of lists it
/// will scan next while it scans the current one.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    x86::prefetch(p);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
