//! Concurrent writers share fsyncs (group commit), and every one of their writes is
//! durable and visible when acknowledged.

use std::sync::Arc;

use crate::common::{small_options, vector};
use drift::io::FaultInjectingFileSystem;
use drift::{Database, DocumentId, Metric, Posting};

#[test]
fn concurrent_writers_share_one_fsync_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFileSystem::new();
    let plan = fs.plan();
    let options = small_options().with_file_system(Arc::new(fs)).with_wal_segment_bytes(4 << 20);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", 4, Metric::L2).unwrap();
    let before = plan.sync_count();
    const THREADS: u64 = 8;
    const WRITES: u64 = 200;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for w in 0..WRITES {
                    let v = vector(t, w, 4);
                    c.add(&[Posting::new(t * 10_000 + w, &v)]).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let syncs = plan.sync_count() - before;
    let stats = db.stats().wal;
    assert_eq!(stats.records, THREADS * WRITES);
    assert!(syncs < THREADS * WRITES, "{syncs} fsyncs for {} writes: no grouping", THREADS * WRITES);
    assert_eq!(stats.syncs, stats.commit_groups, "policy Always syncs every group");
    println!("{} writes from {THREADS} threads in {} groups ({syncs} fsyncs)", THREADS * WRITES, stats.commit_groups);
    drop(db);
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.export().unwrap().len() as u64, THREADS * WRITES);
    assert_eq!(c.postings(DocumentId::from(3 * 10_000 + 7u64)).unwrap()[0].vector, vector(3, 7, 4));
}
