//! Databases written by each released format version still open and read back
//! exactly. `tests/fixtures/v1/` was written by format version 1: a collection with a
//! sealed shard, an open shard, tombstones, and WAL records after the checkpoint (so
//! opening it replays a v1 WAL). A format change that cannot read it fails here.
//!
//! Regenerate only when adding a fixture for a new version:
//! `DRIFT_WRITE_FIXTURES=1 cargo test --test format_fixtures`.

mod common;

use std::path::{Path, PathBuf};

use common::vector;
use drift::{Database, DatabaseOptions, DocumentId, Metric, Posting, SyncPolicy};

const DIM: usize = 8;

fn options() -> DatabaseOptions {
    DatabaseOptions {
        sync_policy: SyncPolicy::Always,
        wal_segment_bytes: 64 << 10,
        wal_ring_segments: 2,
        shard_max_rows: 40,
        background_threads: false,
        object_store: None,
        ..DatabaseOptions::default()
    }
}

/// The postings the fixture must hold: documents 0..60 minus the removed ones,
/// document 5 replaced by its upsert.
fn expected() -> Vec<(u128, u32, Vec<f32>)> {
    let mut v: Vec<(u128, u32, Vec<f32>)> = (0..60u64)
        .filter(|d| d % 7 != 3)
        .map(|d| if d == 5 { (5, 99, vector(500, 0, DIM)) } else { (u128::from(d), d as u32, vector(d, 0, DIM)) })
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

fn write_fixture(dir: &Path) {
    let db = Database::open(dir, options()).unwrap();
    let c = db.create_collection("v1", DIM, Metric::L2).unwrap();
    for d in 0..50u64 {
        c.add(&[Posting::new(d, &vector(d, 0, DIM)).with_span(d as u32, 1)]).unwrap();
    }
    db.flush().unwrap();
    let removed: Vec<DocumentId> = (0..50u64).filter(|d| d % 7 == 3).map(DocumentId::from).collect();
    c.remove(&removed).unwrap();
    db.flush().unwrap();
    for d in 50..60u64 {
        c.add(&[Posting::new(d, &vector(d, 0, DIM)).with_span(d as u32, 1)]).unwrap();
    }
    c.remove(&[DocumentId::from(52u64), DocumentId::from(59u64)]).unwrap();
    c.upsert(DocumentId::from(5u64), &[Posting::new(5u64, &vector(500, 0, DIM)).with_span(99, 1)]).unwrap();
    db.close().unwrap();
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_version_1_database_opens_and_reads_back_exactly() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    if std::env::var("DRIFT_WRITE_FIXTURES").is_ok() {
        let _ = std::fs::remove_dir_all(&fixture);
        write_fixture(&fixture);
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    let db = Database::open(dir.path(), options()).unwrap();
    assert!(db.recovery_report().records_replayed > 0, "the fixture exercises WAL replay");
    let c = db.collection("v1").unwrap();
    let stats = c.stats();
    assert!(stats.sealed_shards >= 1 && stats.shards > stats.sealed_shards && stats.tombstones > 0, "{stats:?}");
    let got: Vec<(u128, u32, Vec<f32>)> = c.export().unwrap().into_iter().map(|p| (p.document_id.0, p.start, p.vector)).collect();
    assert_eq!(got, expected());
    assert!(db.verify().unwrap().is_empty());
}
