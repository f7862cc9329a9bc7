//! WAL recovery: a torn tail is cut and reported, damage that a later durable record
//! proves was acknowledged is a corruption error, and the ring recycles its segments
//! instead of growing while checkpoints advance.

use crate::common::{small_options, vector};
use drift::{Database, DocumentId, Metric, Posting, SyncPolicy};
use std::time::Duration;

const DIM: usize = 8;

fn write_batches(c: &drift::Collection, range: std::ops::Range<u64>) {
    for b in range {
        let vs: Vec<Vec<f32>> = (0..4).map(|i| vector(b, i, DIM)).collect();
        let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(b * 10 + i as u64, v)).collect();
        c.add(&ps).unwrap();
    }
}

fn count(db: &Database) -> usize {
    db.collection("c").unwrap().export().unwrap().len()
}

/// (path, offset) of every record of the segment with the highest sequence.
fn last_segment_records(dir: &std::path::Path) -> (std::path::PathBuf, Vec<usize>) {
    let mut best: Option<(u64, std::path::PathBuf, Vec<u8>)> = None;
    for e in std::fs::read_dir(dir.join("wal")).unwrap() {
        let p = e.unwrap().path();
        let b = std::fs::read(&p).unwrap();
        if b[..8] != *b"DRFTWALS" {
            continue;
        }
        let seq = u64::from_le_bytes(b[16..24].try_into().unwrap());
        if best.as_ref().is_none_or(|(s, _, _)| seq > *s) {
            best = Some((seq, p, b));
        }
    }
    let (_, path, b) = best.unwrap();
    let mut lsn = u64::from_le_bytes(b[24..32].try_into().unwrap());
    let mut at = 64;
    let mut offsets = Vec::new();
    while (1..=3).contains(&b[at + 24]) && u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap()) == lsn {
        offsets.push(at);
        at += (32 + u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize).div_ceil(8) * 8;
        lsn += 1;
    }
    (path, offsets)
}

/// A database whose collection "c" received batches 0..10, closed cleanly.
fn ten_batches_closed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), small_options()).unwrap();
    write_batches(&db.create_collection("c", DIM, Metric::L2).unwrap(), 0..10);
    db.close().unwrap();
    dir
}

#[test]
fn a_torn_last_record_is_cut_reported_and_writing_resumes_cleanly() {
    let dir = ten_batches_closed();
    let (path, records) = last_segment_records(dir.path());
    let last = *records.last().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Tear the record: its header made it to disk, the rest of its payload did not,
    // and the process died before a clean close could write its marker after it.
    for b in &mut bytes[last + 60..] {
        *b = 0;
    }
    std::fs::write(&path, &bytes).unwrap();
    {
        let db = Database::open(dir.path(), small_options()).unwrap();
        let report = db.recovery_report();
        assert!(report.torn_bytes_truncated > 0, "{report:?}");
        assert_eq!(count(&db), 9 * 4, "the torn batch is excluded, the others kept");
    }
    {
        // Reported once: a clean open and close without writes does not find it again.
        let db = Database::open(dir.path(), small_options()).unwrap();
        assert_eq!(db.recovery_report().torn_bytes_truncated, 0, "{:?}", db.recovery_report());
        assert_eq!(count(&db), 9 * 4);
        write_batches(&db.collection("c").unwrap(), 100..105);
    }
    let db = Database::open(dir.path(), small_options()).unwrap();
    assert_eq!(db.recovery_report().torn_bytes_truncated, 0, "the tail was closed cleanly: {:?}", db.recovery_report());
    assert_eq!(count(&db), 14 * 4);
}

#[test]
fn a_damaged_last_record_of_a_cleanly_closed_log_is_corruption_not_a_torn_write() {
    let dir = ten_batches_closed(); // a clean close writes its record after the last one
    let (path, records) = last_segment_records(dir.path());
    let last = *records.last().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[last + 40] ^= 0x04; // one bit of the last acknowledged record's payload
    std::fs::write(&path, &bytes).unwrap();
    let err = Database::open(dir.path(), small_options()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    let report = drift::verify_path(dir.path()).unwrap();
    assert!(!report.is_healthy(), "verify must not call a lost acknowledged write healthy: {report:?}");
}

#[test]
fn a_clean_close_marker_is_skipped_and_writing_goes_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let db = Database::open(dir.path(), small_options()).unwrap();
        let c = db.collection("c").or_else(|_| db.create_collection("c", DIM, Metric::L2)).unwrap();
        assert_eq!(db.recovery_report().torn_bytes_truncated, 0);
        assert_eq!(count(&db), round as usize * 5 * 4);
        write_batches(&c, round * 100..round * 100 + 5);
        db.close().unwrap();
    }
    // A close without writes since open adds no marker and changes nothing.
    Database::open(dir.path(), small_options()).unwrap().close().unwrap();
    let db = Database::open(dir.path(), small_options()).unwrap();
    assert_eq!(count(&db), 3 * 5 * 4);
    drop(db);
    let report = drift::verify_path(dir.path()).unwrap();
    assert!(report.is_healthy() && report.notes.is_empty(), "{report:?}");
}

#[test]
fn damage_before_a_durable_record_is_a_corruption_error_not_a_truncation() {
    let dir = ten_batches_closed();
    let (path, records) = last_segment_records(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[records[4] + 40] ^= 0x10; // payload of an acknowledged record in the middle
    std::fs::write(&path, &bytes).unwrap();
    let err = Database::open(dir.path(), small_options()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    let text = err.to_string();
    assert!(text.contains("segment-") && text.contains("offset"), "the error names file and offset: {text}");
}

#[test]
fn the_ring_recycles_segments_as_checkpoints_advance() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_wal_ring_segments(3);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    let per_segment = (64 << 10) / (4 * (DIM * 4 + 24) + 64);
    for round in 0..20u64 {
        write_batches(&c, round * per_segment as u64..(round + 1) * per_segment as u64);
        db.flush().unwrap();
    }
    let wal = db.stats().wal;
    assert!(wal.segments <= 4, "the ring grew to {} segments despite checkpoints", wal.segments);
    let files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(files, wal.segments);
    drop(db);
    let db = Database::open(dir.path(), small_options()).unwrap();
    assert_eq!(count(&db), 20 * per_segment * 4);
}

#[test]
fn periodic_and_never_policies_keep_writes_across_a_clean_close() {
    for policy in [SyncPolicy::Periodic(Duration::from_millis(5)), SyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        {
            let options = small_options().with_sync_policy(policy).with_background_threads(true);
            let db = Database::open(dir.path(), options).unwrap();
            let c = db.create_collection("c", DIM, Metric::L2).unwrap();
            write_batches(&c, 0..50);
            std::thread::sleep(Duration::from_millis(20));
            if matches!(policy, SyncPolicy::Periodic(_)) {
                let wal = db.stats().wal;
                assert!(wal.synced_lsn > 0, "the periodic thread synced: {wal:?}");
            }
            db.close().unwrap();
        }
        let db = Database::open(dir.path(), small_options()).unwrap();
        assert_eq!(count(&db), 200, "{policy:?}");
        assert_eq!(db.collection("c").unwrap().postings(DocumentId::from(491u64)).unwrap()[0].vector, vector(49, 1, DIM));
    }
}

#[test]
fn a_ring_that_grew_under_load_shrinks_back_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_wal_ring_segments(2).with_memtable_flush_bytes(64 << 20);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    write_batches(&c, 0..2000);
    let grown = db.stats().wal.segments;
    assert!(grown > 2, "the test must make the ring grow: {grown}");
    db.flush().unwrap();
    write_batches(&c, 2000..2001);
    db.flush().unwrap();
    let wal = db.stats().wal;
    assert!(wal.segments <= 3, "ring still has {} segments after checkpoints", wal.segments);
    assert_eq!(std::fs::read_dir(dir.path().join("wal")).unwrap().count(), wal.segments);
    drop(db);
    let db = Database::open(dir.path(), small_options()).unwrap();
    assert_eq!(count(&db), 2001 * 4);
}

/// (path, sequence, first LSN) of every WAL segment file with a header.
fn segment_headers(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64, u64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let sequence = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
            let first_lsn = u64::from_le_bytes(bytes[24..32].try_into().unwrap());
            (sequence > 0).then_some((p, sequence, first_lsn))
        })
        .collect();
    out.sort_by_key(|(_, s, _)| *s);
    out
}

#[test]
fn a_damaged_recycled_segment_is_replaced_but_a_damaged_live_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let per_segment = (64 << 10) / (4 * (DIM * 4 + 24) + 64);
    {
        let db = Database::open(dir.path(), small_options().with_wal_ring_segments(3)).unwrap();
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        for round in 0..4u64 {
            write_batches(&c, round * per_segment as u64..(round + 1) * per_segment as u64);
            db.flush().unwrap();
        }
        write_batches(&c, 10_000..10_010); // unflushed: only in the newest segment
    }
    let segments = segment_headers(dir.path());
    assert!(segments.len() >= 2, "{segments:?}");
    // The oldest segment holds only checkpointed records: truncating it loses nothing.
    let (oldest, _, _) = &segments[0];
    std::fs::OpenOptions::new().write(true).open(oldest).unwrap().set_len(1000).unwrap();
    let report = drift::verify_path(dir.path()).unwrap();
    assert!(report.is_healthy(), "{report:?}");
    assert!(report.notes.iter().any(|n| n.contains("recycled")), "{report:?}");
    {
        let db = Database::open(dir.path(), small_options()).unwrap();
        assert_eq!(db.recovery_report().wal_segments_replaced, 1, "{:?}", db.recovery_report());
        assert_eq!(count(&db), (4 * per_segment + 10) * 4);
    }
    assert_eq!(std::fs::metadata(oldest).unwrap().len(), 64 << 10, "replaced by a full-size segment");
    // The newest segment holds unflushed, acknowledged writes: truncating it is damage.
    let (newest, _, _) = segment_headers(dir.path()).pop().unwrap();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(1000).unwrap();
    let err = Database::open(dir.path(), small_options()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(!drift::verify_path(dir.path()).unwrap().is_healthy());
}
