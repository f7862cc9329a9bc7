//! Searches running while writes, flushes and compactions go on always see every
//! write acknowledged before they began, never a deleted document whose delete was
//! acknowledged, and never half of an upsert.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Rng, small_options, vector};
use drift::{Database, DocumentId, Metric, Posting, SearchOptions};
use parking_lot::Mutex;

const DIM: usize = 12;
const ROWS: u64 = 10;
const BATCHES: u64 = 1200;
const UPSERTED: u64 = u64::MAX / 2;

fn is_removal_target(batch: u64) -> bool {
    (batch + 3).is_multiple_of(7)
}

#[test]
fn searches_see_acknowledged_writes_during_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_background_threads(true).with_memtable_flush_bytes(32 << 10);
    let db = Arc::new(Database::open(dir.path(), options).unwrap());
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let removed = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (c, acked, removed, done) = (c.clone(), acked.clone(), removed.clone(), done.clone());
        std::thread::spawn(move || {
            for b in 0..BATCHES {
                let vs: Vec<Vec<f32>> = (0..ROWS).map(|i| vector(b, i, DIM)).collect();
                let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(b * ROWS + i as u64, v)).collect();
                c.add(&ps).unwrap();
                acked.store(b + 1, Ordering::SeqCst);
                if b >= 3 && is_removal_target(b - 3) {
                    let target = b - 3;
                    let ids: Vec<_> = (0..ROWS).map(|i| DocumentId::from(target * ROWS + i)).collect();
                    c.remove(&ids).unwrap();
                    removed.lock().insert(target);
                }
                let version = b as u32;
                let up: Vec<Vec<f32>> = (0..4).map(|i| vector(1_000_000 + b, i, DIM)).collect();
                let ps: Vec<_> = up.iter().map(|v| Posting::new(UPSERTED, v).with_span(0, version)).collect();
                c.upsert(DocumentId::from(UPSERTED), &ps).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let maintainer = {
        let (db, c, done) = (db.clone(), c.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst) {
                if rounds % 3 == 2 {
                    c.compact().unwrap();
                } else {
                    db.flush().unwrap();
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(15));
            }
            rounds
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (c, acked, removed, done) = (c.clone(), acked.clone(), removed.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(r + 1);
                let mut checks = 0u64;
                while !done.load(Ordering::SeqCst) || checks < 200 {
                    let n = acked.load(Ordering::SeqCst);
                    if n == 0 {
                        continue;
                    }
                    let removed_before: HashSet<u64> = removed.lock().clone();
                    let b = rng.below(n);
                    let i = rng.below(ROWS);
                    let hits = c.search(&vector(b, i, DIM), &SearchOptions::new(1)).unwrap();
                    let target = DocumentId::from(b * ROWS + i);
                    let found = hits.first().is_some_and(|h| h.document_id == target && h.distance == 0.0);
                    if removed_before.contains(&b) {
                        assert!(!found, "batch {b} was removed before the search began but was found");
                    } else if !is_removal_target(b) {
                        assert!(found, "batch {b} row {i} was acknowledged before the search began but not found: {hits:?}");
                    }
                    let versions: HashSet<u32> = c.postings(DocumentId::from(UPSERTED)).unwrap().iter().map(|p| p.length).collect();
                    assert!(versions.len() <= 1, "torn upsert: versions {versions:?} visible together");
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    writer.join().unwrap();
    let rounds = maintainer.join().unwrap();
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let stats = db.stats();
    assert!(stats.flushes > 3, "flushes must have run during the test: {stats:?}");
    println!("{checks} checked searches during {rounds} flush/compaction rounds, {} flushes", stats.flushes);
    let upserted = c.postings(DocumentId::from(UPSERTED)).unwrap();
    assert_eq!(upserted.len(), 4);
    assert!(upserted.iter().all(|p| p.length == (BATCHES - 1) as u32));
}
