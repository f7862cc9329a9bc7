//! The search path borrows vectors from the memory map: the number of heap
//! allocations of a search does not grow with the number of rows it scans.
//!
//! A counting global allocator measures a search over 2,000 and over 20,000 flushed
//! rows; both must allocate the same small amount (the result vector and the top-k
//! heap), proving there is no per-vector allocation or copy on the search path. It
//! counts per thread: the other integration tests run in this process at the same time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crate::common::{small_options, vector};
use drift::{Database, Metric, Posting, SearchOptions};

struct Counting;

thread_local! {
    /// Allocations made by this thread (const-initialised: reading it never allocates).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_of_one_search(rows: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_shard_max_rows(1 << 20).with_row_group_max_rows(4096).with_wal_segment_bytes(4 << 20);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", 32, Metric::L2).unwrap();
    let vs: Vec<Vec<f32>> = (0..rows).map(|i| vector(2, i, 32)).collect();
    for chunk in vs.chunks(1000).enumerate() {
        let ps: Vec<_> = chunk.1.iter().enumerate().map(|(i, v)| Posting::new((chunk.0 * 1000 + i) as u64, v)).collect();
        c.add(&ps).unwrap();
    }
    db.flush().unwrap();
    let query = vector(9, 9, 32);
    let options = SearchOptions::new(10);
    c.search(&query, &options).unwrap(); // first touch verifies row-group checksums
    let before = allocations();
    let hits = c.search(&query, &options).unwrap();
    let used = allocations() - before;
    assert_eq!(hits.len(), 10);
    used
}

#[test]
fn search_allocations_do_not_grow_with_the_rows_scanned() {
    let small = allocations_of_one_search(2_000);
    let large = allocations_of_one_search(20_000);
    assert!(large <= small + 2, "search allocated {small} times over 2,000 rows but {large} times over 20,000");
    assert!(large < 16, "a search should allocate only its result and heap, made {large} allocations");
    println!("allocations per search: {small} (2,000 rows), {large} (20,000 rows)");
}
