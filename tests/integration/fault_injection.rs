//! Faults injected through the I/O seam (`FaultInjectingFileSystem`), not mocks: the
//! engine runs on the real file system while the test makes fsync fail or the disk
//! run out of space at chosen moments.
//!
//! - A failed fsync poisons the database: later writes fail until it is reopened, and
//!   the failed fsync is never retried as if it had worked.
//! - ENOSPC while flushing loses nothing acknowledged and leaves the database usable.

use std::sync::Arc;

use crate::common::{small_options, vector};
use drift::io::FaultInjectingFileSystem;
use drift::{Database, DatabaseOptions, DocumentId, Error, ErrorCode, Metric, Posting, SearchOptions};

const DIM: usize = 8;

fn faulty() -> (FaultInjectingFileSystem, DatabaseOptions) {
    let fs = FaultInjectingFileSystem::new();
    let options = small_options().with_file_system(Arc::new(fs.clone()));
    (fs, options)
}

fn add_batch(c: &drift::Collection, batch: u64, rows: u64) -> drift::Result<Vec<DocumentId>> {
    let vs: Vec<Vec<f32>> = (0..rows).map(|i| vector(batch, i, DIM)).collect();
    let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(batch * 1000 + i as u64, v)).collect();
    c.add(&ps)
}

fn assert_batch_present(c: &drift::Collection, batch: u64, rows: u64) {
    for i in 0..rows {
        let p = c.postings(DocumentId::from(batch * 1000 + i)).unwrap();
        assert_eq!(p.len(), 1, "batch {batch} row {i} missing");
        assert_eq!(p[0].vector, vector(batch, i, DIM));
    }
}

#[test]
fn a_failed_wal_fsync_poisons_writes_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, options) = faulty();
    let plan = fs.plan();
    {
        let db = Database::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        add_batch(&c, 1, 10).unwrap();
        plan.fail_syncs();
        let err = add_batch(&c, 2, 10).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        plan.clear();
        let err = add_batch(&c, 3, 10).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Poisoned, "{err}");
        assert!(err.to_string().contains("reopen"));
        assert!(matches!(db.flush(), Err(Error::Poisoned { .. })));
        assert!(matches!(db.create_collection("d", 2, Metric::L2), Err(Error::Poisoned { .. })));
        assert!(db.stats().poisoned.is_some());
        // Reads keep working and show only acknowledged writes.
        let hits = c.search(&vector(1, 0, DIM), &SearchOptions::new(100)).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.document_id.0 / 1000 == 1));
    }
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.collection("c").unwrap();
    assert_batch_present(&c, 1, 10);
    assert!(c.postings(DocumentId::from(3000u64)).unwrap().is_empty(), "a refused write must not appear");
    add_batch(&c, 4, 10).expect("a reopened database accepts writes again");
}

#[test]
fn a_failed_shard_fsync_during_flush_poisons_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, options) = faulty();
    let plan = fs.plan();
    {
        let db = Database::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        for b in 0..5 {
            add_batch(&c, b, 50).unwrap();
        }
        plan.fail_sync_after(0);
        let err = db.flush().unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(matches!(add_batch(&c, 9, 1), Err(Error::Poisoned { .. })));
        for b in 0..5 {
            assert_batch_present(&c, b, 50);
        }
    }
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.collection("c").unwrap();
    for b in 0..5 {
        assert_batch_present(&c, b, 50);
    }
    assert!(db.verify().unwrap().is_empty());
}

#[test]
fn enospc_during_flush_loses_nothing_and_the_database_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, options) = faulty();
    let plan = fs.plan();
    {
        let db = Database::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        for b in 0..4 {
            add_batch(&c, b, 100).unwrap();
        }
        db.flush().unwrap();
        add_batch(&c, 4, 100).unwrap();
        for fragment in ["shards", "MANIFEST"] {
            plan.no_space_on(fragment);
            let err = db.flush().unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoSpace, "{fragment}: {err}");
            assert!(err.to_string().contains("free disk space"), "{err}");
            plan.clear();
            assert!(db.stats().poisoned.is_none(), "ENOSPC is not an fsync failure: no poisoning");
            // Writes and searches go on; the frozen rows stay searchable.
            add_batch(&c, 10 + u64::from(fragment == "MANIFEST"), 20).unwrap();
            for b in 0..5 {
                assert_batch_present(&c, b, 100);
            }
        }
        assert!(c.stats().frozen_rows > 0);
        let leftovers = std::fs::read_dir(dir.path().join("shards")).unwrap().count();
        assert_eq!(leftovers, c.stats().shards, "a failed flush leaves no stray files");
        db.flush().unwrap();
        assert_eq!(c.stats().frozen_rows, 0);
    }
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.collection("c").unwrap();
    for b in 0..5 {
        assert_batch_present(&c, b, 100);
    }
    assert_batch_present(&c, 10, 20);
    assert_batch_present(&c, 11, 20);
}

#[test]
fn enospc_on_the_wal_refuses_the_write_and_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, options) = faulty();
    let plan = fs.plan();
    {
        let db = Database::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        add_batch(&c, 1, 10).unwrap();
        plan.no_space_on("wal");
        assert!(add_batch(&c, 2, 10).is_err());
        plan.clear();
    }
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.collection("c").unwrap();
    assert_batch_present(&c, 1, 10);
}
