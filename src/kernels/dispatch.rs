//! Which instruction set the kernels use, chosen once per process at run time.
//!
//! Invariant: a level is only ever returned when the running CPU supports it, so the
//! `unsafe` calls into `kernels::x86` that rely on it are sound. `DRIFT_KERNELS`
//! (`scalar`, `avx2`, `avx512`) may lower the level for tests and benchmarks; asking for
//! a level the CPU lacks falls back to the best supported one below it.

use std::sync::OnceLock;

/// An instruction-set level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelLevel {
    /// Portable Rust, written in 8-lane chunks the compiler vectorises (on aarch64
    /// this compiles to NEON, which is part of the baseline there).
    Scalar,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512 F + BW.
    Avx512,
}

impl KernelLevel {
    /// Name as `DRIFT_KERNELS` spells it.
    pub fn name(self) -> &'static str {
        match self {
            KernelLevel::Scalar => "scalar",
            KernelLevel::Avx2 => "avx2",
            KernelLevel::Avx512 => "avx512",
        }
    }
}

/// The best level this CPU supports (detected once: every kernel call asks).
pub fn supported() -> KernelLevel {
    static SUPPORTED: OnceLock<KernelLevel> = OnceLock::new();
    *SUPPORTED.get_or_init(detect)
}

fn detect() -> KernelLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
            return KernelLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return KernelLevel::Avx2;
        }
    }
    KernelLevel::Scalar
}

/// Whether this CPU has AVX-512 VNNI (byte dot products into i32), which k-means'
/// 8-bit codes (`kernels::int8`) use on top of [`KernelLevel::Avx512`].
pub fn has_vnni() -> bool {
    static VNNI: OnceLock<bool> = OnceLock::new();
    *VNNI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            supported() == KernelLevel::Avx512 && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The levels this CPU supports, lowest first (what parity tests compare).
pub fn available() -> Vec<KernelLevel> {
    [KernelLevel::Scalar, KernelLevel::Avx2, KernelLevel::Avx512].into_iter().filter(|l| *l <= supported()).collect()
}

/// The level in use: the best supported, or lower if `DRIFT_KERNELS` asks for it.
pub fn active() -> KernelLevel {
    static LEVEL: OnceLock<KernelLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let best = supported();
        match std::env::var("DRIFT_KERNELS").ok().as_deref() {
            Some("scalar") => KernelLevel::Scalar,
            Some("avx2") => best.min(KernelLevel::Avx2),
            _ => best,
        }
    })
}
