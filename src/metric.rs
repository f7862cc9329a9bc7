//! The vector space: how distances are measured, and how many dimensions a vector may
//! have. Depends on nothing in the crate, so the kernels below everything else can use
//! it.

/// How distances between vectors are measured. Smaller distance = closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Negated inner product (`-dot(a, b)`), so that smaller is closer.
    InnerProduct,
    /// `1 - cos(a, b)`. Vectors and queries are normalised to unit length at write and
    /// query time; a zero vector is rejected.
    Cosine,
}

impl Metric {
    /// On-disk code of the metric.
    pub fn code(self) -> u8 {
        match self {
            Metric::L2 => 1,
            Metric::InnerProduct => 2,
            Metric::Cosine => 3,
        }
    }

    /// Short name: `l2`, `ip` or `cosine` (what the command-line tool prints and reads).
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }

    /// The metric of an on-disk code.
    pub fn from_code(code: u8) -> Option<Metric> {
        match code {
            1 => Some(Metric::L2),
            2 => Some(Metric::InnerProduct),
            3 => Some(Metric::Cosine),
            _ => None,
        }
    }
}

/// Largest accepted vector dimension.
pub const MAX_DIMENSION: usize = 65_536;
