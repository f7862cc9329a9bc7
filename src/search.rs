//! Top-k selection shared by every part of the search path.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// A scored row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub distance: f32,
    pub document_id: u128,
    pub span: [u32; 2],
    pub row_id: u64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.row_id.cmp(&other.row_id))
    }
}

/// Keeps the `limit` closest candidates.
#[derive(Debug)]
pub(crate) struct TopK {
    limit: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(limit: usize) -> Self {
        TopK { limit, heap: BinaryHeap::with_capacity(limit + 1) }
    }

    /// Distance a candidate must beat to enter.
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.limit {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |c| c.distance)
        }
    }

    #[inline]
    pub fn offer(&mut self, candidate: Candidate) {
        if self.heap.len() < self.limit {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst {
                *worst = candidate;
            }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Closest first.
    pub fn into_sorted(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
}

/// Keeps the first (closest) candidate of each document, up to `k` documents.
pub(crate) fn one_per_document(sorted: Vec<Candidate>, k: usize) -> Vec<Candidate> {
    let mut seen = HashSet::with_capacity(k);
    sorted.into_iter().filter(|c| seen.insert(c.document_id)).take(k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_closest_in_order() {
        let mut top = TopK::new(3);
        for (i, d) in [5.0, 1.0, 4.0, 0.5, 3.0, 2.0].into_iter().enumerate() {
            top.offer(Candidate { distance: d, document_id: i as u128, span: [0, 0], row_id: i as u64 });
        }
        let got: Vec<f32> = top.into_sorted().iter().map(|c| c.distance).collect();
        assert_eq!(got, vec![0.5, 1.0, 2.0]);
    }
}
