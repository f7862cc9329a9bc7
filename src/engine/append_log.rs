//! [`AppendLog`]: an append-only list that one writer grows while any number of
//! readers read it, without a lock and without unsafe code.
//!
//! Items live in buckets of doubling size (bucket `b` holds `FIRST_BUCKET << b` items),
//! each allocated once on first use and never moved, so an item's address is stable for
//! the log's lifetime. A writer sets the item's slot, then publishes the new length with
//! a release store; a reader loads the length with an acquire load and reads only the
//! slots below it, which are set and never change again.
//!
//! Invariants:
//! - slots `0..len()` are set; slots at or past `len()` are not read;
//! - items are never removed or replaced (appends only);
//! - pushes are serialised by the caller (the collection's writer lock); a second
//!   writer racing on one slot is caught (`OnceLock::set` fails) and reported, never
//!   undefined behaviour.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Capacity of bucket 0; bucket `b` holds `FIRST_BUCKET << b` items.
const FIRST_BUCKET: usize = 64;
/// Buckets: `FIRST_BUCKET × (2^BUCKETS − 1)` items in all, far beyond any memtable.
const BUCKETS: usize = 40;

/// An append-only list readable while it grows.
#[derive(Debug)]
pub(crate) struct AppendLog<T> {
    buckets: [OnceLock<Box<[OnceLock<T>]>>; BUCKETS],
    len: AtomicUsize,
}

impl<T> Default for AppendLog<T> {
    fn default() -> Self {
        AppendLog { buckets: std::array::from_fn(|_| OnceLock::new()), len: AtomicUsize::new(0) }
    }
}

/// (bucket, index in bucket) of item `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let n = i / FIRST_BUCKET + 1;
    let bucket = (usize::BITS - 1 - n.leading_zeros()) as usize;
    let start = FIRST_BUCKET * ((1 << bucket) - 1);
    (bucket, i - start)
}

impl<T> AppendLog<T> {
    /// Items published so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Item `i`, if it is published.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len() {
            return None;
        }
        let (b, j) = locate(i);
        self.buckets[b].get()?.get(j)?.get()
    }

    /// The first `n` items (at most the published ones), in order.
    pub fn iter(&self, n: usize) -> impl Iterator<Item = &T> {
        (0..n.min(self.len())).filter_map(|i| self.get(i))
    }

    /// Appends `item` and publishes it; returns its index. Callers serialise pushes.
    ///
    /// # Panics
    /// If two pushes race (a caller broke the single-writer rule), or the log is full.
    pub fn push(&self, item: T) -> usize {
        let i = self.len.load(Ordering::Relaxed);
        let (b, j) = locate(i);
        assert!(b < BUCKETS, "append log is full");
        let bucket = self.buckets[b].get_or_init(|| (0..FIRST_BUCKET << b).map(|_| OnceLock::new()).collect());
        if bucket[j].set(item).is_err() {
            panic!("two writers appended to one append log at once");
        }
        self.len.store(i + 1, Ordering::Release);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_order_across_bucket_boundaries() {
        let log = AppendLog::default();
        for i in 0..5_000usize {
            assert_eq!(log.push(i), i);
        }
        assert_eq!(log.len(), 5_000);
        assert!(log.iter(usize::MAX).copied().eq(0..5_000));
        assert_eq!(log.get(4_999), Some(&4_999));
        assert_eq!(log.get(5_000), None);
        assert!(log.iter(10).copied().eq(0..10), "a reader sees the prefix it asked for");
    }

    #[test]
    fn locate_maps_every_index_to_one_slot() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
    }

    #[test]
    fn readers_see_only_published_items_while_a_writer_appends() {
        let log = std::sync::Arc::new(AppendLog::default());
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    log.push(i * 3);
                }
            })
        };
        while log.len() < 20_000 {
            let n = log.len();
            // Every published item is there and holds what was written.
            assert!(log.iter(n).enumerate().all(|(i, v)| *v == i as u64 * 3));
            assert_eq!(log.iter(n).count(), n);
        }
        writer.join().unwrap();
    }
}
