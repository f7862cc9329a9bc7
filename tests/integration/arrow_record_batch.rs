//! Arrow interop (feature `arrow`): record batches in and out of a collection.

use std::sync::Arc;

use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Int64Array, ListArray, RecordBatch, UInt32Array, UInt64Array};
use drift::{Database, DatabaseOptions, DocumentId, ErrorCode, Metric, SearchOptions};

fn fixed(vectors: &[[f32; 3]]) -> ArrayRef {
    Arc::new(FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
        vectors.iter().map(|v| Some(v.iter().map(|&x| Some(x)).collect::<Vec<_>>())),
        3,
    ))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
fn a_batch_round_trips_through_export_and_import_with_ids_and_spans() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default()).unwrap();
    let a = db.create_collection("a", 3, Metric::L2).unwrap();
    let input = batch(vec![
        ("document_id", Arc::new(UInt64Array::from(vec![5, 6, 7])) as ArrayRef),
        ("vector", fixed(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])),
        ("start", Arc::new(UInt32Array::from(vec![0, 10, 20]))),
        ("length", Arc::new(Int64Array::from(vec![10, 10, 5]))),
    ]);
    assert_eq!(a.add_record_batch(&input).unwrap(), 3);
    db.flush().unwrap();

    let exported = a.export_record_batches(2).unwrap();
    assert_eq!(exported.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![2, 1]);

    // The exported batches (16-byte ids) are accepted back by another collection.
    let b = db.create_collection("b", 3, Metric::L2).unwrap();
    for e in &exported {
        b.add_record_batch(e).unwrap();
    }
    let (pa, pb) = (a.export().unwrap(), b.export().unwrap());
    assert_eq!(pa.len(), 3);
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!((x.document_id, x.start, x.length, &x.vector), (y.document_id, y.start, y.length, &y.vector));
    }
    assert_eq!((pb[2].document_id, pb[2].start, pb[2].length), (DocumentId(7), 20, 5));
}

#[test]
fn search_results_are_one_row_per_hit_with_query_and_rank() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default()).unwrap();
    let c = db.create_collection("c", 3, Metric::L2).unwrap();
    c.add_record_batch(&batch(vec![
        ("document_id", Arc::new(UInt64Array::from(vec![1, 2])) as ArrayRef),
        ("vector", fixed(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
    ]))
    .unwrap();
    let hits = c.search_record_batch(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], &SearchOptions::new(2)).unwrap();
    assert_eq!(hits.num_rows(), 4);
    let col = |name: &str| hits.column_by_name(name).unwrap().clone();
    let query = col("query");
    let query = query.as_any().downcast_ref::<UInt32Array>().unwrap();
    let id = col("document_id_u64");
    let id = id.as_any().downcast_ref::<UInt64Array>().unwrap();
    assert_eq!(query.values().to_vec(), vec![0, 0, 1, 1]);
    assert_eq!(id.values().to_vec(), vec![1, 2, 2, 1]);
    assert_eq!(hits.schema().field_with_name("document_id").unwrap().data_type(), &arrow_schema::DataType::FixedSizeBinary(16));
}

#[test]
fn variable_lists_are_accepted_only_when_every_row_has_the_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default()).unwrap();
    let c = db.create_collection("c", 3, Metric::Cosine).unwrap();
    let ok = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![Some(vec![Some(1.0), Some(2.0), Some(3.0)])]);
    c.add_record_batch(&batch(vec![("document_id", Arc::new(Int64Array::from(vec![4])) as ArrayRef), ("vector", Arc::new(ok))]))
        .unwrap();
    let short = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![Some(vec![Some(1.0), Some(2.0), Some(3.0)]), Some(vec![Some(1.0)])]);
    let err = c
        .add_record_batch(&batch(vec![("document_id", Arc::new(Int64Array::from(vec![5, 6])) as ArrayRef), ("vector", Arc::new(short))]))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.to_string().contains("row 1 has 1 components"), "{err}");
    assert_eq!(c.export().unwrap().len(), 1, "the refused batch added nothing");
}

#[test]
fn bad_columns_are_refused_with_the_column_and_row_and_nothing_is_added() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default()).unwrap();
    let c = db.create_collection("c", 3, Metric::L2).unwrap();
    let v = fixed(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    let cases: Vec<(RecordBatch, &str)> = vec![
        (batch(vec![("document_id", Arc::new(Int64Array::from(vec![1, -2])) as ArrayRef), ("vector", v.clone())]), "row 1 holds -2"),
        (batch(vec![("id", Arc::new(UInt64Array::from(vec![1, 2])) as ArrayRef), ("vector", v.clone())]), "no column \"document_id\""),
        (
            batch(vec![
                ("document_id", Arc::new(UInt64Array::from(vec![1, 2])) as ArrayRef),
                ("vector", v.clone()),
                ("start", Arc::new(Int64Array::from(vec![0, 1 << 40]))),
            ]),
            "column \"start\" row 1",
        ),
        (
            batch(vec![("document_id", Arc::new(UInt64Array::from(vec![Some(1), None])) as ArrayRef), ("vector", v.clone())]),
            "null at row 1",
        ),
    ];
    for (b, expected) in cases {
        let err = c.add_record_batch(&b).unwrap_err();
        assert!(err.to_string().contains(expected), "{err} should mention {expected:?}");
    }
    assert!(c.export().unwrap().is_empty());
}

#[test]
fn columns_named_like_attributes_carry_their_values_and_a_misfit_type_is_refused() {
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{BooleanArray, Float64Array, StringArray, TimestampMillisecondArray};
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default()).unwrap();
    let schema = drift::AttributeDef::parse_list("lang:string, size:u64, delta:i64, score:f64, free:bool, tags:tags, at:timestamp").unwrap();
    let c = db.create_collection_with_schema("c", 3, Metric::L2, &schema).unwrap();
    let mut tags = ListBuilder::new(StringBuilder::new());
    tags.values().append_value("x11");
    tags.values().append_value("gui");
    tags.append(true);
    tags.append(false);
    tags.append(true);
    let input = batch(vec![
        ("document_id", Arc::new(UInt64Array::from(vec![1, 2, 3])) as ArrayRef),
        ("vector", fixed(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])),
        ("lang", Arc::new(StringArray::from(vec![Some("en"), None, Some("fr")]))),
        ("size", Arc::new(Int64Array::from(vec![10, 20, 30]))),
        ("delta", Arc::new(Int64Array::from(vec![-5, 0, 5]))),
        ("score", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5]))),
        ("free", Arc::new(BooleanArray::from(vec![true, false, true]))),
        ("tags", Arc::new(tags.finish())),
        ("at", Arc::new(TimestampMillisecondArray::from(vec![1_000, 2_000, 3_000]))),
        ("unrelated", Arc::new(UInt32Array::from(vec![7, 8, 9]))),
    ]);
    assert_eq!(c.add_record_batch(&input).unwrap(), 3);
    let ids = |filter: &str| -> Vec<u128> {
        let mut v: Vec<u128> = c
            .search(&[0.0; 3], &SearchOptions::new(5).with_filter_text(filter).unwrap())
            .unwrap()
            .iter()
            .map(|h| h.document_id.0)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids("lang is null"), [2]);
    assert_eq!(ids("size >= 20 and delta >= 0"), [2, 3]);
    assert_eq!(ids("delta < 0 and score == 0.5 and free == true"), [1]);
    assert_eq!(ids("tags contains 'gui'"), [1]);
    assert_eq!(ids("tags is null"), [2]);
    assert_eq!(ids("at == 2000000"), [2], "milliseconds read as microseconds");
    // A column whose type its attribute cannot take: refused, nothing added.
    let bad = batch(vec![
        ("document_id", Arc::new(UInt64Array::from(vec![4])) as ArrayRef),
        ("vector", fixed(&[[1.0, 1.0, 0.0]])),
        ("size", Arc::new(StringArray::from(vec!["big"]))),
    ]);
    let e = c.add_record_batch(&bad).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(e.to_string().contains("\"size\"") && e.to_string().contains("u64"), "{e}");
    let negative = batch(vec![
        ("document_id", Arc::new(UInt64Array::from(vec![4])) as ArrayRef),
        ("vector", fixed(&[[1.0, 1.0, 0.0]])),
        ("size", Arc::new(Int64Array::from(vec![-1]))),
    ]);
    assert!(c.add_record_batch(&negative).unwrap_err().to_string().contains("does not fit"));
    assert_eq!(c.export().unwrap().len(), 3);
}

#[test]
fn exported_batches_carry_every_attribute_and_read_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default()).unwrap();
    let schema = drift::AttributeDef::parse_list("lang:string, size:u64, delta:i64, score:f64, free:bool, tags:tags, at:timestamp").unwrap();
    let a = db.create_collection_with_schema("a", 3, Metric::L2, &schema).unwrap();
    let full = drift::Attributes::new()
        .set("lang", "en")
        .set("size", 10u64)
        .set("delta", -5i64)
        .set("score", 0.5)
        .set("free", true)
        // Tags are a set: stored (and so exported) sorted.
        .set("tags", ["gui", "x11"])
        .set("at", drift::AttributeValue::Timestamp(1_000_000));
    let some = drift::Attributes::new().set("tags", Vec::<String>::new()).set("size", 7u64);
    let none = drift::Attributes::new();
    a.add(&[
        drift::Posting::new(1u64, &[1.0, 0.0, 0.0]).with_attributes(&full),
        drift::Posting::new(2u64, &[0.0, 1.0, 0.0]).with_attributes(&some),
        drift::Posting::new(3u64, &[0.0, 0.0, 1.0]).with_attributes(&none),
    ])
    .unwrap();
    // Values from the memtable and, after a flush, from a shard read the same.
    for flushed in [false, true] {
        if flushed {
            db.flush().unwrap();
        }
        let batches = a.export_record_batches(2).unwrap();
        assert_eq!(batches[0].schema(), drift::arrow::postings_schema(3, &schema));
        let names: Vec<String> = batches[0].schema().fields().iter().skip(6).map(|f| f.name().clone()).collect();
        assert_eq!(names, ["lang", "size", "delta", "score", "free", "tags", "at"]);
        let b = db.create_collection_with_schema(if flushed { "b2" } else { "b1" }, 3, Metric::L2, &schema).unwrap();
        for batch in &batches {
            b.add_record_batch(batch).unwrap();
        }
        let back: Vec<drift::Attributes> = b.export().unwrap().into_iter().map(|p| p.attributes).collect();
        let sorted = |x: &drift::Attributes| {
            let mut v: Vec<(String, drift::AttributeValue)> = x.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
            v.sort_by(|p, q| p.0.cmp(&q.0));
            v
        };
        assert_eq!(back.iter().map(sorted).collect::<Vec<_>>(), [&full, &some, &none].map(sorted), "flushed: {flushed}");
    }
}
