//! Databases written by each released format version still open and read back
//! exactly. `tests/fixtures/v1/` was written by format version 1: a collection with a
//! sealed shard, an open shard, tombstones, and WAL records after the checkpoint (so
//! opening it replays a v1 WAL). `tests/fixtures/v2/` was written with row groups of
//! version 2: an indexed 128-d collection (1-bit codes row-major), a routed flush,
//! tombstones and an upsert; `tests/fixtures/v3/` the same with row groups of version 3
//! (1-bit codes in blocks of 32 rows), `tests/fixtures/v4/` with row groups of version 4
//! (SQ4 codes in the hot section). A format change that cannot read them fails here.
//!
//! Regenerate only when adding a fixture for a new version, and only that one (the
//! others must stay as their version wrote them):
//! `DRIFT_WRITE_FIXTURES=1 cargo test --test integration -- format_fixtures::<its test's name>`.

use std::path::{Path, PathBuf};

use crate::common::vector;
use drift::{Database, DatabaseOptions, DocumentId, Metric, Posting, SyncPolicy};

const DIM: usize = 8;

fn options() -> DatabaseOptions {
    DatabaseOptions::default().with_sync_policy(SyncPolicy::Always).with_wal_segment_bytes(64 << 10).with_wal_ring_segments(2).with_shard_max_rows(40).with_background_threads(false).with_object_store(None)
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

/// Opens a private copy of `tests/fixtures/<name>` (rewriting the fixture first with
/// `write` when DRIFT_WRITE_FIXTURES is set); the directory lives as long as the guard.
fn open_fixture(name: &str, write: fn(&Path), options: DatabaseOptions) -> (tempfile::TempDir, Database) {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    if std::env::var("DRIFT_WRITE_FIXTURES").is_ok() {
        let _ = std::fs::remove_dir_all(&fixture);
        write(&fixture);
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    let db = Database::open(dir.path(), options).unwrap();
    (dir, db)
}

/// Every posting of `c` as (document, span start, vector), in document order.
fn exported(c: &drift::Collection) -> Vec<(u128, u32, Vec<f32>)> {
    c.export().unwrap().into_iter().map(|p| (p.document_id.0, p.start, p.vector)).collect()
}

#[test]
fn a_version_1_database_opens_and_reads_back_exactly() {
    let (_dir, db) = open_fixture("v1", write_fixture, options());
    assert!(db.recovery_report().records_replayed > 0, "the fixture exercises WAL replay");
    let c = db.collection("v1").unwrap();
    let stats = c.stats();
    assert!(stats.sealed_shards >= 1 && stats.shards > stats.sealed_shards && stats.tombstones > 0, "{stats:?}");
    assert_eq!(exported(&c), expected());
    assert!(db.verify().unwrap().is_empty());
}

// ------------------------------------------------------------------ version 2

const DIM2: usize = 128;

fn options_v2() -> DatabaseOptions {
    options().with_index_min_rows(256).with_index_shard_rows(64).with_row_group_max_rows(64).with_wal_segment_bytes(256 << 10)
}

/// Documents 0..420 (vectors of seed 2) minus every 11th, document 7 replaced.
fn expected_v2() -> Vec<(u128, u32, Vec<f32>)> {
    let mut v: Vec<(u128, u32, Vec<f32>)> = (0..420u64)
        .filter(|d| d % 11 != 4)
        .map(|d| if d == 7 { (7, 77, vector(2, 7_000, DIM2)) } else { (u128::from(d), d as u32, vector(2, d, DIM2)) })
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

fn write_fixture_v2(dir: &Path) {
    write_indexed_fixture(dir, "v2");
}

/// The indexed fixture of versions 2 to 4 (collection `name`), written by the current
/// row-group version.
fn write_indexed_fixture(dir: &Path, name: &str) {
    let db = Database::open(dir, options_v2()).unwrap();
    let c = db.create_collection(name, DIM2, Metric::L2).unwrap();
    let vectors: Vec<Vec<f32>> = (0..420u64).map(|d| vector(2, d, DIM2)).collect();
    let batch = |range: std::ops::Range<u64>| -> Vec<Posting<'_>> {
        range.map(|d| Posting::new(d, &vectors[d as usize]).with_span(d as u32, 1)).collect()
    };
    c.add(&batch(0..400)).unwrap();
    db.flush().unwrap(); // builds the index: shards of groups with 1-bit codes
    c.add(&batch(400..420)).unwrap();
    db.flush().unwrap(); // a routed flush appends groups to those shards
    let removed: Vec<DocumentId> = (0..420u64).filter(|d| d % 11 == 4).map(DocumentId::from).collect();
    c.remove(&removed).unwrap();
    c.upsert(DocumentId::from(7u64), &[Posting::new(7u64, &vector(2, 7_000, DIM2)).with_span(77, 1)]).unwrap();
    db.close().unwrap();
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

/// Probed search with every list and a wide re-rank finds what the exact scan finds.
fn assert_probed_matches_exact(c: &drift::Collection, seeds: std::ops::Range<u64>) {
    for s in seeds {
        let q = vector(9, s, DIM2);
        let probed = c.search(&q, &drift::SearchOptions::new(10).with_nprobe(1_000).with_rerank_factor(50)).unwrap();
        let exact = c.search(&q, &drift::SearchOptions::new(10).exact()).unwrap();
        let ids = |hits: &[drift::Hit]| hits.iter().map(|h| h.document_id.0).collect::<Vec<_>>();
        assert_eq!(ids(&probed), ids(&exact), "query {s}");
    }
}

#[test]
fn a_version_2_indexed_database_opens_reads_back_and_searches_exactly() {
    indexed_fixture_reads_back_and_searches_exactly("v2", write_fixture_v2);
}

// ------------------------------------------------------------------ version 3

fn write_fixture_v3(dir: &Path) {
    write_indexed_fixture(dir, "v3");
}

#[test]
fn a_version_3_indexed_database_with_blocked_codes_opens_reads_back_and_searches_exactly() {
    indexed_fixture_reads_back_and_searches_exactly("v3", write_fixture_v3);
}

// ------------------------------------------------------------------ version 4

fn write_fixture_v4(dir: &Path) {
    write_indexed_fixture(dir, "v4");
}

#[test]
fn a_version_4_indexed_database_with_sq4_codes_opens_reads_back_and_searches_exactly() {
    indexed_fixture_reads_back_and_searches_exactly("v4", write_fixture_v4);
}

/// The checks of the indexed fixtures: every posting back, probed search equal to
/// exact search before and after a routed flush of new rows.
fn indexed_fixture_reads_back_and_searches_exactly(name: &str, write: fn(&Path)) {
    let (_dir, db) = open_fixture(name, write, options_v2());
    let c = db.collection(name).unwrap();
    let stats = c.stats();
    assert!(stats.centroids >= 4 && stats.tombstones > 0, "{stats:?}");
    assert_eq!(exported(&c), expected_v2());
    assert!(db.verify().unwrap().is_empty());
    assert_probed_matches_exact(&c, 0..20);
    // Rows a routed flush appends after reopening are found too (once the row group
    // version moves on, those shards hold groups of both versions).
    let more: Vec<Vec<f32>> = (1_000..1_100u64).map(|d| vector(2, d, DIM2)).collect();
    c.add(&more.iter().zip(1_000u64..).map(|(v, d)| Posting::new(d, v)).collect::<Vec<_>>()).unwrap();
    db.flush().unwrap();
    assert_probed_matches_exact(&c, 20..40);
    assert!(db.verify().unwrap().is_empty());
}
