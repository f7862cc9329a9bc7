//! [`RoutingSnapshot`]: which shards a search scans, as one immutable value.
//!
//! Invariants: every shard of the collection appears exactly once — in the list of the
//! centroid its header names, or among `unrouted` when it names none (or a centroid the
//! table lacks, which a search then scans rather than misses); centroids are stored
//! row-major in one contiguous block so routing is one pass over memory.

use std::sync::Arc;

use crate::kernels::distance;
use crate::options::Metric;
use crate::storage::manifest::CentroidRecord;
use crate::storage::shard_file::ShardReader;

/// The centroids of one collection, row-major.
#[derive(Debug, Default)]
pub(crate) struct CentroidTable {
    pub dimension: usize,
    pub ids: Vec<u32>,
    pub vectors: Vec<f32>,
}

impl CentroidTable {
    pub fn from_records(dimension: usize, records: &[CentroidRecord]) -> CentroidTable {
        CentroidTable {
            dimension,
            ids: records.iter().map(|r| r.id).collect(),
            vectors: records.iter().flat_map(|r| r.vector.iter().copied()).collect(),
        }
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

    /// Position of the centroid nearest to `v`, scored as searches route (L2, or
    /// largest inner product for inner-product collections). The table is not empty.
    pub fn nearest(&self, metric: Metric, v: &[f32]) -> usize {
        let mut best = (0, f32::INFINITY);
        for i in 0..self.len() {
            let score = route_score(metric, v, self.vector(i));
            if score < best.1 {
                best = (i, score);
            }
        }
        best.0
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

    /// Fills `out` with the indices of the `nprobe` centroids nearest to `query`,
    /// nearest first; `scores` is scratch.
    pub fn probe(&self, metric: Metric, query: &[f32], nprobe: usize, scores: &mut Vec<(f32, u32)>, out: &mut Vec<usize>) {
        out.clear();
        scores.clear();
        let table = &self.table;
        scores.extend((0..table.len()).map(|i| {
            (route_score(metric, query, table.vector(i)), i as u32)
        }));
        let n = nprobe.min(scores.len());
        if n == 0 {
            return;
        }
        if n < scores.len() {
            scores.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0));
            scores.truncate(n);
        }
        scores.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        out.extend(scores.iter().map(|(_, i)| *i as usize));
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
