//! The engine core's promises, tested on real files and real processes:
//!
//! - searches never block writers: a write is acknowledged while exact searches with
//!   k = 1,000 over 50k vectors are in flight;
//! - a shard file retired by an edit outlives the searches (snapshots) reading it and
//!   is gone after the last one;
//! - a snapshot returns identical results across writes, flushes, compaction and
//!   index maintenance;
//! - a checkpoint taken during a write load opens with every write acknowledged before
//!   it; `kill -9` during a checkpoint leaves the source intact;
//! - backpressure: when flushes fail, writers get `Error::Backpressure` instead of
//!   growing memory without bound.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{small_options, vector};
use drift::io::FaultInjectingFileSystem;
use drift::{Database, DatabaseOptions, DocumentId, ErrorCode, Metric, Posting, SearchOptions, SyncPolicy};

fn add_rows(c: &drift::Collection, first: u64, rows: u64, dim: usize) -> drift::Result<Vec<DocumentId>> {
    let vs: Vec<Vec<f32>> = (first..first + rows).map(|i| vector(i % 97, i, dim)).collect();
    let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(first + i as u64, v)).collect();
    c.add(&ps)
}

fn shard_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".shard"))
        .collect();
    names.sort();
    names
}

#[test]
fn writes_are_acknowledged_while_wide_exact_searches_are_in_flight() {
    const DIM: usize = 128;
    let dir = tempfile::tempdir().unwrap();
    let options = DatabaseOptions::default().with_sync_policy(SyncPolicy::Never).with_background_threads(false);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    for first in (0..50_000).step_by(5_000) {
        add_rows(&c, first, 5_000, DIM).unwrap();
    }
    db.flush().unwrap();

    // One clock for every event: each search and each write records the ticks at which
    // it started and finished.
    let clock = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let searchers: Vec<_> = (0..2)
        .map(|t| {
            let (c, clock, stop, searches) = (c.clone(), clock.clone(), stop.clone(), searches.clone());
            std::thread::spawn(move || {
                let options = SearchOptions::new(1_000).exact();
                while !stop.load(Ordering::Acquire) {
                    let started = clock.fetch_add(1, Ordering::SeqCst);
                    let hits = c.search(&vector(t, 7, DIM), &options).unwrap();
                    let finished = clock.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(hits.len(), 1_000);
                    searches.lock().unwrap().push((started, finished));
                }
            })
        })
        .collect();
    let mut writes = Vec::new();
    while clock.load(Ordering::SeqCst) < 4 {
        std::thread::yield_now(); // both searchers are running
    }
    for i in 0..300u64 {
        let started = clock.fetch_add(1, Ordering::SeqCst);
        add_rows(&c, 100_000 + i * 10, 10, DIM).unwrap();
        let finished = clock.fetch_add(1, Ordering::SeqCst);
        writes.push((started, finished));
    }
    stop.store(true, Ordering::Release);
    searchers.into_iter().for_each(|t| t.join().unwrap());

    // A write nested inside one search's interval was acknowledged while that search
    // was running: the search did not hold it back.
    let searches = searches.lock().unwrap();
    let nested = writes.iter().filter(|(ws, wf)| searches.iter().any(|(ss, sf)| ss < ws && wf < sf)).count();
    eprintln!("{nested} of {} writes acknowledged inside one search ({} searches)", writes.len(), searches.len());
    assert!(nested >= 30, "only {nested} of {} writes were acknowledged during a search ({} searches)", writes.len(), searches.len());
    assert_eq!(c.search(&vector(0, 0, DIM), &SearchOptions::new(10).exact()).unwrap().len(), 10);
    assert_eq!(c.stats().memtable_rows, 3_000);
}

/// An indexed collection of 2,000 rows in 8 dimensions, flushed.
fn indexed(dir: &Path) -> (Database, drift::Collection) {
    let options = small_options().with_index_min_rows(512).with_index_shard_rows(64);
    let db = Database::open(dir, options).unwrap();
    let c = db.create_collection("c", 8, Metric::L2).unwrap();
    for first in (0..2_000).step_by(250) {
        add_rows(&c, first, 250, 8).unwrap();
    }
    db.flush().unwrap();
    assert!(c.stats().centroids > 0);
    (db, c)
}

fn answers(search: impl Fn(&[f32], &SearchOptions) -> drift::Result<Vec<drift::Hit>>) -> Vec<Vec<(DocumentId, u32)>> {
    (0..40u64)
        .map(|q| {
            let options = if q % 2 == 0 { SearchOptions::new(10) } else { SearchOptions::new(25).exact() };
            search(&vector(q % 97, q * 13, 8), &options).unwrap().iter().map(|h| (h.document_id, h.distance.to_bits())).collect()
        })
        .collect()
}

#[test]
fn a_snapshot_answers_identically_across_writes_flushes_compaction_and_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let (db, c) = indexed(dir.path());
    add_rows(&c, 5_000, 100, 8).unwrap(); // memtable rows in the snapshot too
    let snapshot = c.snapshot().unwrap();
    let before = answers(|q, o| snapshot.search(q, o));
    let exported = snapshot.export().unwrap();

    add_rows(&c, 10_000, 600, 8).unwrap();
    let removed: Vec<DocumentId> = (0..2_000u64).step_by(3).map(DocumentId::from).collect();
    c.remove(&removed).unwrap();
    c.upsert(DocumentId::from(5_001u64), &[Posting::new(5_001u64, &[9.0; 8])]).unwrap();
    db.flush().unwrap();
    c.compact().unwrap();
    c.rebalance().unwrap();
    add_rows(&c, 20_000, 50, 8).unwrap();

    assert_eq!(answers(|q, o| snapshot.search(q, o)), before);
    assert_eq!(snapshot.export().unwrap(), exported);
    assert_ne!(answers(|q, o| c.search(q, o)), before, "the collection itself moved on");
}

#[test]
fn retired_shard_files_outlive_the_searches_that_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let (db, c) = indexed(dir.path());
    let files_before = shard_files(dir.path());
    let reading = c.snapshot().unwrap(); // a search in flight across the compaction
    let expected = answers(|q, o| reading.search(q, o));

    let removed: Vec<DocumentId> = (0..2_000u64).step_by(2).map(DocumentId::from).collect();
    c.remove(&removed).unwrap();
    let report = c.compact().unwrap();
    assert!(report.shards_rewritten > 0);
    let files_during = shard_files(dir.path());
    assert!(files_before.iter().all(|f| files_during.contains(f)), "a retired file went while a search still read it");
    assert_eq!(answers(|q, o| reading.search(q, o)), expected, "the old files still read correctly");
    assert_eq!(reading.export().unwrap().len(), 2_000);

    // The last reader's drop only buries the files (no unlink on a search); the next
    // maintenance call deletes them.
    drop(reading);
    assert_eq!(shard_files(dir.path()), files_during, "nothing is deleted on the reader's side");
    db.flush().unwrap();
    let files_after = shard_files(dir.path());
    let gone = files_before.iter().filter(|f| !files_after.contains(f)).count();
    assert_eq!(gone, report.shards_rewritten, "every rewritten shard's file is deleted once its last reader is gone");
    assert_eq!(c.export().unwrap().len(), 1_000);
    drop(db);
}

#[test]
fn a_checkpoint_during_a_write_load_holds_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap().path().join("copy");
    let options = small_options().with_index_min_rows(512).with_index_shard_rows(64).with_background_threads(true);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", 8, Metric::L2).unwrap();
    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (c, acknowledged, stop) = (c.clone(), acknowledged.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut next = 0;
            while !stop.load(Ordering::Acquire) {
                add_rows(&c, next, 20, 8).unwrap();
                next += 20;
                acknowledged.store(next, Ordering::Release);
            }
        })
    };
    while acknowledged.load(Ordering::Acquire) < 3_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = acknowledged.load(Ordering::Acquire);
    let report = db.checkpoint(&copy).unwrap();
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    assert!(report.files_linked + report.files_copied > 0, "{report:?}");

    let restored = Database::open(&copy, small_options()).unwrap();
    let rc = restored.collection("c").unwrap();
    let held: std::collections::HashSet<u128> = rc.export().unwrap().iter().map(|p| p.document_id.0).collect();
    assert!((0..before as u128).all(|id| held.contains(&id)), "a write acknowledged before the checkpoint is missing");
    assert!(restored.verify().unwrap().is_empty());
    // The copy is a database of its own: writing to it leaves the source alone.
    add_rows(&rc, 1_000_000, 5, 8).unwrap();
    assert!(c.postings(DocumentId::from(1_000_000u64)).unwrap().is_empty());
    assert!(db.verify().unwrap().is_empty());
}

#[test]
fn kill_9_during_a_checkpoint_leaves_the_source_intact() {
    let dir = tempfile::tempdir().unwrap();
    let rows = {
        let options = small_options().with_index_min_rows(512).with_index_shard_rows(16);
        let db = Database::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", 8, Metric::L2).unwrap();
        for first in (0..6_000).step_by(500) {
            add_rows(&c, first, 500, 8).unwrap();
        }
        db.flush().unwrap();
        c.stats().shard_rows
    };
    let out = tempfile::tempdir().unwrap();
    for round in 0..6u64 {
        let dst = out.path().join(format!("copy-{round}"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drift"))
            .arg("backup")
            .arg(dir.path())
            .arg(&dst)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2 + round * 7));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        // A checkpoint cut short has no MANIFEST and is refused, never half opened.
        if dst.exists() && !dst.join("MANIFEST").exists() {
            let refused = Database::open(&dst, small_options()).err();
            assert!(refused.as_ref().is_none_or(|e| e.is_corruption() || e.code() == ErrorCode::InvalidArgument), "{refused:?}");
        }
        let db = Database::open(dir.path(), small_options()).unwrap();
        assert!(db.verify().unwrap().is_empty());
        assert_eq!(db.collection("c").unwrap().stats().shard_rows, rows);
    }
}

#[test]
fn writers_get_backpressure_instead_of_unbounded_memory_when_flushes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFileSystem::new();
    let options = small_options().with_file_system(Arc::new(fs.clone())).with_background_threads(true).with_memtable_flush_bytes(32 << 10).with_write_stall_multiple(4).with_write_stall_timeout(Duration::from_millis(300));
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", 8, Metric::L2).unwrap();
    fs.plan().no_space_on("shards");
    let mut refused = None;
    for batch in 0..10_000u64 {
        if let Err(e) = add_rows(&c, batch * 10, 10, 8) {
            refused = Some((batch, e));
            break;
        }
    }
    let (batch, error) = refused.expect("writes never stalled");
    assert_eq!(error.code(), ErrorCode::Backpressure, "{error}");
    let message = error.to_string();
    assert!(message.contains("flush") && message.contains("No space"), "{message}");
    let held = db.stats().memtable_bytes;
    assert!(held <= (4 * (32 << 10) + 4096) as u64, "memtables grew to {held} bytes");
    eprintln!("backpressure after {batch} batches with {held} bytes held in memtables (limit {})", 4 * (32 << 10));

    // Once the disk has room again, flushes drain the memtables and writes resume;
    // every acknowledged write is there.
    fs.plan().clear();
    assert!(db.wait_for_background_flush(Duration::from_secs(20)));
    add_rows(&c, 1_000_000, 10, 8).unwrap();
    assert_eq!(c.export().unwrap().len() as u64, batch * 10 + 10);
}
