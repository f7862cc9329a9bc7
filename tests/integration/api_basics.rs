//! The Rust API's contract: lifecycle, writes, search semantics, persistence, errors.

use crate::common::{small_options, vector};
use drift::{Database, DatabaseOptions, DocumentId, Error, Metric, Posting, SearchOptions};

fn open(dir: &std::path::Path) -> Database {
    Database::open(dir, small_options()).expect("open")
}

#[test]
fn collections_are_created_listed_reopened_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        db.create_collection("a", 8, Metric::L2).unwrap();
        db.create_collection("b", 3, Metric::Cosine).unwrap();
        assert!(matches!(db.create_collection("a", 8, Metric::L2), Err(Error::CollectionExists { .. })));
    }
    let db = open(dir.path());
    let names: Vec<_> = db.list_collections().into_iter().map(|c| (c.name, c.dimension, c.metric)).collect();
    assert_eq!(names, vec![("a".into(), 8, Metric::L2), ("b".into(), 3, Metric::Cosine)]);
    let b = db.collection("b").unwrap();
    db.drop_collection("b").unwrap();
    assert!(matches!(db.collection("b"), Err(Error::CollectionNotFound { .. })));
    assert!(matches!(b.search(&[1.0, 0.0, 0.0], &SearchOptions::new(1)), Err(Error::Closed { .. })));
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.list_collections().len(), 1);
}

#[test]
fn bad_input_is_rejected_with_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for bad in ["", ".hidden", "has space", "slash/name", &"x".repeat(256)] {
        assert!(matches!(db.create_collection(bad, 4, Metric::L2), Err(Error::InvalidArgument { .. })), "{bad:?}");
    }
    assert!(matches!(db.create_collection("zero", 0, Metric::L2), Err(Error::InvalidArgument { .. })));
    assert!(matches!(db.collection("missing"), Err(Error::CollectionNotFound { .. })));
    let c = db.create_collection("c", 4, Metric::L2).unwrap();
    let good = [1.0, 2.0, 3.0, 4.0];
    let err = c.add(&[Posting::new(1u64, &good), Posting::new(2u64, &[1.0, 2.0])]).unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch { expected: 4, actual: 2 }), "{err}");
    let err = c.add(&[Posting::new(1u64, &good), Posting::new(2u64, &[1.0, f32::NAN, 0.0, 0.0])]).unwrap_err();
    assert!(matches!(err, Error::NonFiniteValue { vector: 1, component: 1 }), "{err}");
    assert!(matches!(c.add(&[Posting::new(3u64, &[f32::INFINITY, 0.0, 0.0, 0.0])]), Err(Error::NonFiniteValue { .. })));
    assert!(c.export().unwrap().is_empty(), "a rejected batch must not be half-applied");
    assert!(matches!(c.search(&good, &SearchOptions::new(0)), Err(Error::InvalidArgument { .. })));
    assert!(matches!(c.search(&good[..3], &SearchOptions::new(1)), Err(Error::DimensionMismatch { .. })));
    assert!(matches!(c.search(&[f32::NAN; 4], &SearchOptions::new(1)), Err(Error::NonFiniteValue { .. })));
    let cos = db.create_collection("cos", 2, Metric::Cosine).unwrap();
    assert!(matches!(cos.add(&[Posting::new(1u64, &[0.0, 0.0])]), Err(Error::InvalidArgument { .. })));
    let err = cos.upsert(DocumentId(5), &[Posting::new(6u64, &[1.0, 0.0])]).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let bad_options = DatabaseOptions::default().with_wal_segment_bytes(1000);
    assert!(matches!(Database::open(dir.path().join("other"), bad_options), Err(Error::InvalidArgument { .. })));
    // Finite but so large that distances overflow f32: refused, for every metric.
    for (name, metric) in [("big_l2", Metric::L2), ("big_ip", Metric::InnerProduct), ("big_cos", Metric::Cosine)] {
        let big = db.create_collection(name, 2, metric).unwrap();
        let err = big.add(&[Posting::new(1u64, &[3e38, 0.0])]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("too large"), "{err}");
        assert!(big.search(&[3e38, 1.0], &SearchOptions::new(1)).is_err());
        big.add(&[Posting::new(2u64, &[1e18, -1e18])]).unwrap();
        let hits = big.search(&[-1e18, 1e18], &SearchOptions::new(1)).unwrap();
        assert!(hits[0].distance.is_finite(), "{:?}", hits[0]);
        assert_eq!(big.export().unwrap().len(), 1);
    }
}

#[test]
fn an_empty_database_path_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<_> = std::fs::read_dir(".").unwrap().map(|e| e.unwrap().file_name()).collect();
    let err = Database::open("", small_options()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("empty"), "{err}");
    let after: Vec<_> = std::fs::read_dir(".").unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "nothing written into the current directory");
    drop(dir);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let err = Database::open(dir.path(), small_options()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"));
    db.close().unwrap();
    Database::open(dir.path(), small_options()).expect("lock is released by close");
}

#[test]
fn search_is_exact_across_memtable_and_shards_for_every_metric() {
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let c = db.create_collection("v", 16, metric).unwrap();
        let vectors: Vec<Vec<f32>> = (0..700).map(|i| vector(1, i, 16)).collect();
        for (b, chunk) in vectors.chunks(50).enumerate() {
            let postings: Vec<_> =
                chunk.iter().enumerate().map(|(i, v)| Posting::new((b * 50 + i) as u64, v)).collect();
            c.add(&postings).unwrap();
            if b == 5 || b == 9 {
                db.flush().unwrap();
            }
        }
        let stats = c.stats();
        assert!(stats.shard_rows > 0 && stats.memtable_rows > 0 && stats.sealed_shards >= 1, "{stats:?}");
        let query = vector(99, 0, 16);
        let hits = c.search(&query, &SearchOptions::new(10)).unwrap();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut exact: Vec<(f32, u64)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let d = match metric {
                    Metric::L2 => v.iter().zip(&query).map(|(a, b)| (a - b) * (a - b)).sum(),
                    Metric::InnerProduct => -v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>(),
                    Metric::Cosine => 1.0 - v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>() / (norm(v) * norm(&query)),
                    other => unreachable!("no reference distance for {other:?}"),
                };
                (d, i as u64)
            })
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        let got: Vec<u128> = hits.iter().map(|h| h.document_id.0).collect();
        let want: Vec<u128> = exact.iter().take(10).map(|e| u128::from(e.1)).collect();
        assert_eq!(got, want, "{metric:?}");
        for (h, e) in hits.iter().zip(&exact) {
            assert!((h.distance - e.0).abs() < 1e-4, "{metric:?}: {} vs {}", h.distance, e.0);
        }
    }
}

#[test]
fn writes_survive_reopen_bit_exact_with_spans_and_generated_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, expected) = {
        let db = open(dir.path());
        let c = db.create_collection("v", 8, Metric::L2).unwrap();
        let vs: Vec<Vec<f32>> = (0..400).map(|i| vector(7, i, 8)).collect();
        let postings: Vec<_> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| Posting { document_id: None, start: i as u32, length: 3, vector: v, attributes: None })
            .collect();
        let ids = c.add(&postings[..200]).unwrap();
        db.flush().unwrap();
        let more = c.add(&postings[200..]).unwrap();
        (ids.into_iter().chain(more).collect::<Vec<_>>(), vs)
    };
    assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), 400, "fresh ULIDs are distinct");
    let db = open(dir.path());
    assert!(db.recovery_report().records_replayed > 0);
    let c = db.collection("v").unwrap();
    for (i, id) in ids.iter().enumerate() {
        let p = c.postings(*id).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].vector, expected[i]);
        assert_eq!((p[0].start, p[0].length), (i as u32, 3));
    }
}

#[test]
fn upsert_replaces_all_postings_of_a_document_and_remove_hides_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("v", 4, Metric::L2).unwrap();
    let a = [1.0, 0.0, 0.0, 0.0];
    let b = [0.0, 1.0, 0.0, 0.0];
    let z = [0.0, 0.0, 0.0, 1.0];
    c.add(&[Posting::new(1u64, &a), Posting::new(1u64, &b), Posting::new(2u64, &z)]).unwrap();
    db.flush().unwrap();
    c.upsert(DocumentId(1), &[Posting::new(1u64, &z).with_span(5, 5)]).unwrap();
    let p = c.postings(DocumentId(1)).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].vector.as_slice(), p[0].start), (&z[..], 5));
    let hits = c.search(&a, &SearchOptions::new(3)).unwrap();
    assert_eq!(hits.len(), 2, "the replaced postings are gone: {hits:?}");
    c.remove(&[DocumentId(2)]).unwrap();
    db.flush().unwrap();
    drop(db);
    let db = open(dir.path());
    let c = db.collection("v").unwrap();
    let all = c.export().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].document_id, DocumentId(1));
    // Re-adding a deleted document makes it visible again.
    c.add(&[Posting::new(2u64, &b)]).unwrap();
    db.flush().unwrap();
    assert_eq!(c.postings(DocumentId(2)).unwrap().len(), 1);
}

#[test]
fn one_hit_per_document_returns_each_documents_closest_posting() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("v", 2, Metric::L2).unwrap();
    let mut postings = Vec::new();
    let vs: Vec<[f32; 2]> = (0..30).map(|i| [i as f32 * 0.01, 0.0]).collect();
    for (i, v) in vs.iter().enumerate() {
        postings.push(Posting::new(if i < 20 { 1u64 } else { i as u64 }, v).with_span(i as u32, 1));
    }
    c.add(&postings).unwrap();
    let hits = c.search(&[0.0, 0.0], &SearchOptions::new(3).one_per_document()).unwrap();
    let docs: Vec<u128> = hits.iter().map(|h| h.document_id.0).collect();
    assert_eq!(docs, vec![1, 20, 21]);
    assert_eq!(hits[0].start, 0);
    let plain = c.search(&[0.0, 0.0], &SearchOptions::new(3)).unwrap();
    assert!(plain.iter().all(|h| h.document_id.0 == 1));
}

#[test]
fn compaction_reclaims_deleted_rows_and_keeps_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("v", 8, Metric::L2).unwrap();
    let vs: Vec<Vec<f32>> = (0..600).map(|i| vector(3, i, 8)).collect();
    let postings: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(i as u64, v)).collect();
    c.add(&postings).unwrap();
    db.flush().unwrap();
    let before = c.stats();
    let removed: Vec<DocumentId> = (0..600u64).filter(|i| i % 3 == 0).map(DocumentId::from).collect();
    c.remove(&removed).unwrap();
    assert!(c.stats().tombstones > 0);
    let report = c.compact().unwrap();
    assert_eq!(report.rows_removed, 200);
    assert!(report.bytes_reclaimed > 0, "{report:?}");
    let after = c.stats();
    assert_eq!(after.tombstones, 0);
    assert_eq!(after.shard_rows, 400);
    assert!(after.shard_bytes < before.shard_bytes);
    drop(db);
    let db = open(dir.path());
    let c = db.collection("v").unwrap();
    let all = c.export().unwrap();
    assert_eq!(all.len(), 400);
    for p in all {
        let i = p.document_id.0 as usize;
        assert_ne!(i % 3, 0);
        assert_eq!(p.vector, vs[i]);
    }
    assert!(db.verify().unwrap().is_empty());
}

#[test]
fn empty_batches_are_no_ops_and_handles_fail_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("v", 2, Metric::L2).unwrap();
    assert!(c.add(&[]).unwrap().is_empty());
    c.remove(&[]).unwrap();
    db.close().unwrap();
    assert!(matches!(c.add(&[Posting::new(1u64, &[0.0, 1.0])]), Err(Error::Closed { .. })));
}

#[test]
fn maintain_flushes_and_compacts_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("v", 4, Metric::L2).unwrap();
    let vs: Vec<Vec<f32>> = (0..100).map(|i| vector(5, i, 4)).collect();
    let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(i as u64, v)).collect();
    c.add(&ps).unwrap();
    let report = db.maintain(std::time::Duration::from_secs(5)).unwrap();
    assert!(report.flushed && report.compactions == 0, "{report:?}");
    // A few deletes: hidden, but not worth rewriting the shard for (less than 1/8).
    c.remove(&[DocumentId(3), DocumentId(4)]).unwrap();
    let report = db.maintain(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!((report.compactions, report.rows_removed), (0, 0), "{report:?}");
    assert_eq!((c.stats().tombstones, c.export().unwrap().len()), (2, 98));
    // Enough of them: the shard is rewritten without them and the tombstones dropped.
    c.remove(&(5..20).map(DocumentId).collect::<Vec<_>>()).unwrap();
    let report = db.maintain(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!((report.compactions, report.rows_removed, report.rows_rewritten), (1, 17, 83), "{report:?}");
    assert_eq!((c.stats().tombstones, c.export().unwrap().len()), (0, 83));
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Database>();
    assert_send_sync::<drift::Collection>();
}
