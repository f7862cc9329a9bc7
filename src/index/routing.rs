//! [`RoutingSnapshot`]: which shards a search scans, as one immutable value.
//!
//! Invariants: every shard of the collection appears exactly once — in the list of the
//! centroid its header names, or among `unrouted` when it names none (or a centroid the
//! table lacks, which a search then scans rather than misses); centroids are stored
//! row-major in one contiguous block so routing is one pass over memory.

use std::sync::Arc;

use crate::kernels::distance::total_order_key;
use crate::kernels::{distance, kmeans};
use crate::kernels::sq8::{self, CodeQuery};
use crate::options::Metric;
use crate::storage::manifest::CentroidRecord;
use crate::storage::shard_file::ShardReader;

/// The centroids of one collection, row-major, with an SQ8 copy for routing (a
/// quarter of the bytes to stream per query; the probe order barely depends on the
/// last bits, and probed lists use the exact vectors).
#[derive(Debug, Default)]
pub(crate) struct CentroidTable {
    pub dimension: usize,
    pub ids: Vec<u32>,
    pub vectors: Vec<f32>,
    codes: Vec<u8>,
    code_mins: Vec<f32>,
    code_scales: Vec<f32>,
    /// ‖c‖² of every centroid.
    pub norms_sq: Vec<f32>,
}

impl CentroidTable {
    pub fn new(dimension: usize, ids: Vec<u32>, vectors: Vec<f32>) -> CentroidTable {
        let (code_mins, code_scales) = sq8::train(&vectors, dimension.max(1));
        let mut codes = vec![0u8; vectors.len()];
        sq8::encode(&vectors, &code_mins, &code_scales, &mut codes);
        let norms_sq = vectors.chunks_exact(dimension.max(1)).map(|c| distance::dot(c, c)).collect();
        CentroidTable { dimension, ids, vectors, codes, code_mins, code_scales, norms_sq }
    }

    pub fn from_records(dimension: usize, records: &[CentroidRecord]) -> CentroidTable {
        CentroidTable::new(
            dimension,
            records.iter().map(|r| r.id).collect(),
            records.iter().flat_map(|r| r.vector.iter().copied()).collect(),
        )
    }

    pub fn records(&self) -> Vec<CentroidRecord> {
        self.ids
            .iter()
            .zip(self.vectors.chunks_exact(self.dimension.max(1)))
            .map(|(id, v)| CentroidRecord { id: *id, vector: v.to_vec() })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dimension..(i + 1) * self.dimension]
    }

    /// Position of the centroid nearest to each row of row-major `vectors`, scored as
    /// searches route (L2, or largest inner product for inner-product collections); the
    /// table is not empty.
    pub fn nearest_many(&self, metric: Metric, vectors: &[f32]) -> Vec<usize> {
        nearest_among(metric, vectors, &self.vectors, self.dimension)
    }

    pub fn position(&self, id: u32) -> Option<usize> {
        self.ids.iter().position(|x| *x == id)
    }
}

/// The shards a search may scan, grouped by centroid.
#[derive(Debug, Default)]
pub(crate) struct RoutingSnapshot {
    pub table: Arc<CentroidTable>,
    /// `lists[i]`: the shards of centroid `table.ids[i]`.
    pub lists: Vec<Vec<Arc<ShardReader>>>,
    /// Shards without a (known) centroid: always scanned, exactly.
    pub unrouted: Vec<Arc<ShardReader>>,
}

impl RoutingSnapshot {
    pub fn new(table: Arc<CentroidTable>, shards: &[Arc<ShardReader>]) -> RoutingSnapshot {
        let mut lists = vec![Vec::new(); table.len()];
        let mut unrouted = Vec::new();
        for s in shards {
            match table.position(s.header.centroid_id) {
                Some(i) => lists[i].push(s.clone()),
                None => unrouted.push(s.clone()),
            }
        }
        RoutingSnapshot { table, lists, unrouted }
    }

    /// Rows per centroid list.
    pub fn list_rows(&self, i: usize) -> u64 {
        self.lists[i].iter().map(|s| s.rows).sum()
    }

    /// Fills `out` with the indices of the `nprobe` centroids nearest to `query` by
    /// their SQ8 copies, nearest first, and `scores` with (approximate routing score,
    /// index) in the same order; `codes`, `distances` and `keys` are scratch.
    #[allow(clippy::too_many_arguments)] // the last five are the caller's reusable scratch
    pub fn probe(
        &self,
        metric: Metric,
        query: &[f32],
        nprobe: usize,
        codes: &mut CodeQuery,
        distances: &mut Vec<f32>,
        keys: &mut Vec<u64>,
        scores: &mut Vec<(f32, u32)>,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        scores.clear();
        let table = &self.table;
        codes.set_query(if metric == Metric::InnerProduct { Metric::InnerProduct } else { Metric::L2 }, query);
        codes.prepare(&table.code_mins, &table.code_scales);
        codes.scan(&table.codes, distances);
        // Selected and sorted as one u64 per centroid: the score's total-order key above
        // its index, so each comparison is one integer compare (ties go to the lower
        // index, as a stable sort by score would order them).
        keys.clear();
        keys.extend(distances.iter().enumerate().map(|(i, d)| (u64::from(total_order_key(*d)) << 32) | i as u64));
        let n = nprobe.min(keys.len());
        if n == 0 {
            return;
        }
        if n < keys.len() {
            keys.select_nth_unstable(n - 1);
            keys.truncate(n);
        }
        keys.sort_unstable();
        scores.extend(keys.iter().map(|k| (distances[(*k as u32) as usize], *k as u32)));
        out.extend(keys.iter().map(|k| (*k as u32) as usize));
    }
}

/// For every row of row-major `vectors`, the position of the nearest of the row-major
/// `candidates` (not empty), scored as searches route ([`route_score`]; blocked kernels
/// for L2 and cosine).
pub(crate) fn nearest_among(metric: Metric, vectors: &[f32], candidates: &[f32], dimension: usize) -> Vec<usize> {
    let d = dimension.max(1);
    match metric {
        Metric::L2 | Metric::Cosine => {
            let points: Vec<&[f32]> = vectors.chunks_exact(d).collect();
            kmeans::nearest_many(&points, candidates, d).into_iter().map(|(c, _)| c).collect()
        }
        Metric::InnerProduct => vectors
            .chunks_exact(d)
            .map(|v| {
                let scores = candidates.chunks_exact(d).map(|c| route_score(metric, v, c));
                scores.enumerate().fold((0, f32::INFINITY), |best, (i, s)| if s < best.1 { (i, s) } else { best }).0
            })
            .collect(),
    }
}

/// How close `v` is to centroid `c` for routing (smaller is closer).
#[inline]
pub(crate) fn route_score(metric: Metric, v: &[f32], c: &[f32]) -> f32 {
    match metric {
        Metric::L2 | Metric::Cosine => distance::l2_squared(v, c),
        Metric::InnerProduct => -distance::dot(v, c),
    }
}

impl CentroidTable {
    /// ⟨c, q⟩ of centroid `i` from its routing score for `query` (`‖q‖² = query_norm_sq`).
    pub fn dot_from_score(&self, metric: Metric, i: usize, score: f32, query_norm_sq: f32) -> f32 {
        match metric {
            Metric::InnerProduct => -score,
            Metric::L2 | Metric::Cosine => 0.5 * (self.norms_sq[i] + query_norm_sq - score),
        }
    }
}
