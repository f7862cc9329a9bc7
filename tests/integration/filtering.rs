//! Filtered search: typed attributes on postings, one filter language, masks inside the
//! scan. Every filtered result is compared with a brute-force model of the same rows
//! — in the memtable, in unindexed shards, in indexed shards, after splits, merges and
//! compaction, and after a reopen that replays the WAL.

use std::collections::BTreeMap;

use crate::common::{Rng, dataset, read_fvecs, small_options};
use drift::filter::Filter;
use drift::{
    AttributeDef, AttributeType, AttributeValue, Attributes, Collection, Database, DatabaseOptions, DocumentId, Metric, Posting,
    SearchOptions, SearchPlan,
};

const DIM: usize = 16;
const SECTIONS: [&str; 6] = ["admin", "libs", "net", "python", "web", "x11"];
const TAGS: [&str; 5] = ["devel", "gui", "lang:c", "lang:py", "role:lib"];

fn schema() -> Vec<AttributeDef> {
    vec![
        AttributeDef::new("size", AttributeType::U64),
        AttributeDef::new("delta", AttributeType::I64),
        AttributeDef::new("score", AttributeType::F64),
        AttributeDef::new("free", AttributeType::Bool),
        AttributeDef::new("section", AttributeType::String),
        AttributeDef::new("tags", AttributeType::Tags),
        AttributeDef::new("built", AttributeType::Timestamp),
    ]
}

/// One model row: its vector and its attribute values (absent = null).
#[derive(Debug, Clone)]
struct Row {
    vector: Vec<f32>,
    values: Attributes,
}

/// Document `doc`'s row: clustered vectors (so the index has structure) and values
/// correlated with the cluster, each null one time in five.
fn row(rng: &mut Rng, doc: u64) -> Row {
    let cluster = doc % 12;
    let vector: Vec<f32> = (0..DIM).map(|j| if j as u64 == cluster { 4.0 } else { 0.0 } + rng.f32()).collect();
    let mut values = Attributes::new();
    let mut maybe = |name: &str, value: AttributeValue, rng: &mut Rng| {
        if rng.below(5) != 0 {
            values.insert(name, value);
        }
    };
    maybe("size", AttributeValue::U64(rng.below(1000)), rng);
    maybe("delta", AttributeValue::I64(rng.below(200) as i64 - 100), rng);
    maybe("score", AttributeValue::F64(rng.below(400) as f64 / 100.0 - 2.0), rng);
    maybe("free", AttributeValue::Bool(rng.below(2) == 0), rng);
    let section = SECTIONS[((cluster + rng.below(2)) % SECTIONS.len() as u64) as usize];
    maybe("section", AttributeValue::String(section.into()), rng);
    let tags: Vec<String> = TAGS.iter().filter(|_| rng.below(3) == 0).map(|t| (*t).to_owned()).collect();
    maybe("tags", AttributeValue::Tags(tags), rng);
    maybe("built", AttributeValue::Timestamp(rng.below(10) as i64 * 86_400_000_000), rng);
    Row { vector, values }
}

fn int(r: &Row, name: &str) -> Option<i128> {
    match r.values.get(name)? {
        AttributeValue::U64(n) => Some(i128::from(*n)),
        AttributeValue::I64(n) | AttributeValue::Timestamp(n) => Some(i128::from(*n)),
        _ => None,
    }
}
fn float(r: &Row) -> Option<f64> {
    match r.values.get("score")? {
        AttributeValue::F64(x) => Some(*x),
        _ => None,
    }
}
fn text<'a>(r: &'a Row, name: &str) -> Option<&'a str> {
    match r.values.get(name)? {
        AttributeValue::String(s) => Some(s),
        _ => None,
    }
}
fn has_tag(r: &Row, tag: &str) -> bool {
    matches!(r.values.get("tags"), Some(AttributeValue::Tags(t)) if t.iter().any(|x| x == tag))
}

type Check = fn(&Row) -> bool;

/// Filters of every operator and type, each with the model's reading of it.
fn filters() -> Vec<(&'static str, Check)> {
    vec![
        ("size < 100", |r| int(r, "size").is_some_and(|n| n < 100)),
        ("size >= 900 or size == 5", |r| int(r, "size").is_some_and(|n| n >= 900 || n == 5)),
        ("size != 500 and size <= 600", |r| int(r, "size").is_some_and(|n| n != 500 && n <= 600)),
        ("size in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)", |r| int(r, "size").is_some_and(|n| (1..=12).contains(&n))),
        ("delta > 50", |r| int(r, "delta").is_some_and(|n| n > 50)),
        ("score <= -1.5", |r| float(r).is_some_and(|x| x <= -1.5)),
        ("free == true and section == 'net'", |r| {
            matches!(r.values.get("free"), Some(AttributeValue::Bool(true))) && text(r, "section") == Some("net")
        }),
        ("section in ('libs', 'x11')", |r| matches!(text(r, "section"), Some("libs" | "x11"))),
        ("section > 'python'", |r| text(r, "section").is_some_and(|s| s > "python")),
        ("section != 'admin'", |r| text(r, "section").is_some_and(|s| s != "admin")),
        ("tags contains 'gui' and not tags contains 'devel'", |r| has_tag(r, "gui") && !has_tag(r, "devel")),
        ("section is null", |r| r.values.get("section").is_none()),
        ("tags is not null and built >= '1970-01-08'", |r| {
            r.values.get("tags").is_some() && int(r, "built").is_some_and(|t| t >= 7 * 86_400_000_000)
        }),
        ("not (section == 'web' or size < 500)", |r| !(text(r, "section") == Some("web") || int(r, "size").is_some_and(|n| n < 500))),
    ]
}

/// The `k` nearest model rows matching `check`, as (document, distance).
fn model_top(model: &BTreeMap<u64, Row>, q: &[f32], check: Check, k: usize) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = model
        .iter()
        .filter(|(_, r)| check(r))
        .map(|(d, r)| (*d, r.vector.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

/// Checks every filter against the model: the exact filtered search returns exactly
/// the model's hits; the default (probed) search returns only matching rows, as many
/// as exist up to `k`, and finds at least `min_recall` of the model's.
fn check_against_model(c: &Collection, model: &BTreeMap<u64, Row>, stage: &str, min_recall: f64) {
    const K: usize = 10;
    let mut rng = Rng::new(99);
    for (text, check) in filters() {
        let (mut found, mut wanted) = (0, 0);
        for _ in 0..8 {
            let doc = rng.below(1000);
            let q: Vec<f32> = row(&mut rng, doc).vector;
            let want = model_top(model, &q, check, K);
            let options = SearchOptions::new(K).with_filter_text(text).unwrap();
            let exact = c.search(&q, &options.clone().exact()).unwrap();
            let got: Vec<u64> = exact.iter().map(|h| h.document_id.0 as u64).collect();
            let expected: Vec<u64> = want.iter().map(|w| w.0).collect();
            if got != expected {
                // Equal distances may come in either order; compare distances then.
                let (a, b): (Vec<f32>, Vec<f32>) = (exact.iter().map(|h| h.distance).collect(), want.iter().map(|w| w.1).collect());
                assert!(a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4), "{stage}: `{text}` exact: {got:?} != {expected:?}");
            }
            let probed = c.search(&q, &options).unwrap();
            for h in &probed {
                let r = &model[&(h.document_id.0 as u64)];
                assert!(check(r), "{stage}: `{text}` returned document {} that does not match: {:?}", h.document_id.0, r.values);
            }
            assert_eq!(probed.len(), want.len(), "{stage}: `{text}` returned {} hits, {} match", probed.len(), want.len());
            found += probed.iter().filter(|h| expected.contains(&(h.document_id.0 as u64))).count();
            wanted += want.len();
        }
        let recall = if wanted == 0 { 1.0 } else { found as f64 / wanted as f64 };
        assert!(recall >= min_recall, "{stage}: `{text}` recall {recall:.3} < {min_recall}");
    }
}

fn add_rows(c: &Collection, model: &mut BTreeMap<u64, Row>, rng: &mut Rng, docs: std::ops::Range<u64>) {
    let rows: Vec<(u64, Row)> = docs.map(|d| (d, row(rng, d))).collect();
    for chunk in rows.chunks(97) {
        let postings: Vec<Posting<'_>> = chunk.iter().map(|(d, r)| Posting::new(*d, &r.vector).with_attributes(&r.values)).collect();
        c.add(&postings).unwrap();
    }
    model.extend(rows);
}

#[test]
fn filtered_search_matches_the_model_in_every_place_rows_live() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_memtable_flush_bytes(64 << 20).with_index_min_rows(1500).with_index_shard_rows(64);
    let mut model = BTreeMap::new();
    let mut rng = Rng::new(7);
    {
        let db = Database::open(dir.path(), options.clone()).unwrap();
        let c = db.create_collection_with_schema("c", DIM, Metric::L2, &schema()).unwrap();
        add_rows(&c, &mut model, &mut rng, 0..600);
        check_against_model(&c, &model, "memtable", 1.0);
        db.flush().unwrap();
        assert_eq!(c.stats().centroids, 0);
        add_rows(&c, &mut model, &mut rng, 600..800);
        check_against_model(&c, &model, "unindexed shards + memtable", 1.0);
        add_rows(&c, &mut model, &mut rng, 800..2400);
        db.flush().unwrap();
        assert!(c.stats().centroids > 0, "indexed");
        add_rows(&c, &mut model, &mut rng, 2400..2600);
        check_against_model(&c, &model, "indexed shards + memtable", 0.9);
        // Deletes, an upsert with new values, then splits/merges and compaction.
        let gone: Vec<DocumentId> = (0..2600u64).step_by(3).map(DocumentId::from).collect();
        c.remove(&gone).unwrap();
        for d in (0..2600u64).step_by(3) {
            model.remove(&d);
        }
        let replaced = row(&mut rng, 1);
        c.upsert(DocumentId::from(1u64), &[Posting::new(1u64, &replaced.vector).with_attributes(&replaced.values)]).unwrap();
        model.insert(1, replaced);
        db.flush().unwrap();
        c.rebalance().unwrap();
        c.compact().unwrap();
        check_against_model(&c, &model, "after delete, rebalance and compaction", 0.9);
        add_rows(&c, &mut model, &mut rng, 3000..3100);
        db.close().unwrap();
    }
    // Reopen: the last rows come back from the WAL, the rest from shards.
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.schema(), schema());
    check_against_model(&c, &model, "after reopen", 0.9);
    assert!(db.verify().unwrap().is_empty());
}

#[test]
fn attributes_survive_export_and_reads_of_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.create_collection_with_schema("c", 2, Metric::L2, &schema()).unwrap();
    let a = Attributes::new().set("size", 7u64).set("tags", ["b", "a", "b"]).set("built", AttributeValue::Timestamp(-5));
    c.add(&[Posting::new(1u64, &[0.0, 1.0]).with_attributes(&a), Posting::new(2u64, &[1.0, 0.0])]).unwrap();
    for flushed in [false, true] {
        let hits = c.search(&[0.0, 1.0], &SearchOptions::new(5).with_filter_text("tags contains 'a' and built < 0").unwrap()).unwrap();
        assert_eq!(hits.len(), 1, "flushed {flushed}");
        let none = c.search(&[0.0, 1.0], &SearchOptions::new(5).with_filter_text("size is null").unwrap()).unwrap();
        assert_eq!(none.iter().map(|h| h.document_id.0).collect::<Vec<_>>(), [2], "flushed {flushed}");
        db.flush().unwrap();
    }
}

#[test]
fn a_schema_grows_but_never_changes_a_type() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), small_options()).unwrap();
        let c = db.create_collection_with_schema("c", 2, Metric::L2, &[AttributeDef::new("lang", AttributeType::String)]).unwrap();
        let en = Attributes::new().set("lang", "en");
        c.add(&[Posting::new(1u64, &[0.0, 1.0]).with_attributes(&en)]).unwrap();
        db.flush().unwrap();
        let e = c.add_attribute(AttributeDef::new("lang", AttributeType::U64)).unwrap_err().to_string();
        assert!(e.contains("cannot change"), "{e}");
        c.add_attribute(AttributeDef::new("lang", AttributeType::String)).unwrap();
        c.add_attribute(AttributeDef::new("year", AttributeType::U64)).unwrap();
        let y = Attributes::new().set("lang", "fr").set("year", 2026u64);
        c.add(&[Posting::new(2u64, &[0.0, 0.9]).with_attributes(&y)]).unwrap();
        assert!(c.add_attribute(AttributeDef::new("not", AttributeType::U64)).is_err(), "a keyword is not a name");
    }
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.schema().len(), 2);
    let search = |text: &str| -> Vec<u128> {
        c.search(&[0.0, 1.0], &SearchOptions::new(5).with_filter_text(text).unwrap()).unwrap().iter().map(|h| h.document_id.0).collect()
    };
    assert_eq!(search("year is null"), [1], "rows written before the attribute existed read it as null");
    assert_eq!(search("year == 2026"), [2]);
    assert_eq!(search("lang in ('en', 'fr')").len(), 2);
}

#[test]
fn bad_filters_and_bad_values_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.create_collection_with_schema("c", 2, Metric::L2, &schema()).unwrap();
    c.add(&[Posting::new(1u64, &[0.0, 1.0])]).unwrap();
    for (text, wanted) in [
        ("size < 10 and colour == 'red'", "byte 14: unknown attribute `colour`"),
        ("section == 10", "byte 0: `section` is string"),
        ("size == 'big'", "not a number"),
        ("free > false", "only == and !="),
        ("tags == 'gui'", "contains"),
        ("size <", "filter syntax error at byte 6"),
    ] {
        let e = SearchOptions::new(3).with_filter_text(text).and_then(|o| c.search(&[0.0, 1.0], &o)).unwrap_err();
        assert_eq!(e.code(), drift::ErrorCode::InvalidArgument);
        assert!(e.to_string().contains(wanted), "{text}: {e}");
    }
    let before = c.stats().memtable_rows;
    for (values, wanted) in [
        (Attributes::new().set("colour", "red"), "unknown attribute \"colour\""),
        (Attributes::new().set("size", -1i64), "is u64"),
        (Attributes::new().set("score", f64::NAN), "is f64"),
        (Attributes::new().set("tags", "gui"), "is tags"),
    ] {
        let e = c.add(&[Posting::new(2u64, &[1.0, 0.0]), Posting::new(3u64, &[1.0, 1.0]).with_attributes(&values)]).unwrap_err();
        assert!(e.to_string().contains(wanted) && e.to_string().contains("posting 1"), "{e}");
    }
    assert_eq!(c.stats().memtable_rows, before, "a refused write adds nothing");
    let plain = db.create_collection("plain", 2, Metric::L2).unwrap();
    let e = plain.search(&[0.0, 1.0], &SearchOptions::new(1).with_filter(Filter::attr("x").eq(1))).unwrap_err().to_string();
    assert!(e.contains("no attributes"), "{e}");
}

#[test]
fn remove_where_removes_the_matching_documents_whole_and_nothing_written_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_index_min_rows(300).with_index_shard_rows(64);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection_with_schema("c", DIM, Metric::L2, &schema()).unwrap();
    let mut model = BTreeMap::new();
    add_rows(&c, &mut model, &mut Rng::new(5), 0..1500);
    db.flush().unwrap();
    // A document with two postings, one of which matches: the whole document goes.
    let two = [row(&mut Rng::new(1), 5000), row(&mut Rng::new(2), 5000)];
    let matching = Attributes::new().set("size", 3u64);
    c.add(&[Posting::new(5000u64, &two[0].vector).with_attributes(&matching), Posting::new(5000u64, &two[1].vector)]).unwrap();
    let e = c.remove_where_text("size < 10 and colour == 1").unwrap_err().to_string();
    assert!(e.contains("byte 14"), "{e}");
    // Writers keep going while it runs; what they write after it is kept.
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for d in 6000..6050u64 {
                let v = vec![d as f32; DIM];
                c.add(&[Posting::new(d, &v).with_attributes(&Attributes::new().set("size", 1u64))]).unwrap();
            }
        });
        let removed = c.remove_where_text("size < 10").unwrap();
        writer.join().unwrap();
        let expected: usize = model.values().filter(|r| int(r, "size").is_some_and(|n| n < 10)).count() + 1;
        let late = c.search(&[0.0; DIM], &SearchOptions::new(100).exact().with_filter_text("size == 1").unwrap()).unwrap();
        // Each writer posting was either removed with the others (logged before) or kept.
        assert!(removed >= expected && removed <= expected + 50, "removed {removed}, matched {expected} before the writer");
        assert_eq!(removed - expected + late.iter().filter(|h| h.document_id.0 >= 6000).count(), 50);
    });
    assert!(c.postings(DocumentId::from(5000u64)).unwrap().is_empty(), "the whole document is removed");
    let left = c.search(&[0.0; DIM], &SearchOptions::new(10).with_filter_text("size < 10 and size != 1").unwrap()).unwrap();
    assert!(left.is_empty(), "nothing matching is left: {left:?}");
    assert_eq!(c.remove_where_text("size < 10 and size != 1").unwrap(), 0);
}

#[test]
fn update_attributes_replaces_a_documents_values_and_keeps_its_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), small_options()).unwrap();
    let c = db.create_collection_with_schema("c", 2, Metric::Cosine, &schema()).unwrap();
    let a = Attributes::new().set("section", "net").set("size", 5u64);
    c.add(&[Posting::new(1u64, &[3.0, 4.0]).with_span(0, 10).with_attributes(&a), Posting::new(1u64, &[4.0, 3.0]).with_span(10, 5)]).unwrap();
    c.add(&[Posting::new(2u64, &[1.0, 0.0]).with_attributes(&a)]).unwrap();
    let before = c.postings(DocumentId::from(1u64)).unwrap();
    for flushed in [false, true] {
        let n = c.update_attributes(DocumentId::from(1u64), &Attributes::new().set("section", "web")).unwrap();
        assert_eq!(n, 2);
        let after = c.postings(DocumentId::from(1u64)).unwrap();
        let shape = |p: &[drift::StoredPosting]| p.iter().map(|p| (p.start, p.length, p.vector.clone())).collect::<Vec<_>>();
        assert_eq!(shape(&after), shape(&before), "vectors (bit for bit) and spans kept, flushed {flushed}");
        let web = c.search(&[0.6, 0.8], &SearchOptions::new(5).exact().with_filter_text("section == 'web'").unwrap()).unwrap();
        assert_eq!(web.len(), 2);
        let sized = c.search(&[0.6, 0.8], &SearchOptions::new(5).with_filter_text("size == 5").unwrap()).unwrap();
        assert_eq!(sized.iter().map(|h| h.document_id.0).collect::<Vec<_>>(), [2], "unnamed attributes became null");
        db.flush().unwrap();
    }
    assert_eq!(c.update_attributes(DocumentId::from(99u64), &Attributes::new()).unwrap(), 0);
    assert!(c.postings(DocumentId::from(99u64)).unwrap().is_empty(), "an unknown document stays unknown");
    let e = c.update_attributes(DocumentId::from(1u64), &Attributes::new().set("colour", "red")).unwrap_err().to_string();
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn explain_reports_the_plan_and_what_the_summaries_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_options().with_memtable_flush_bytes(64 << 20).with_index_min_rows(1000).with_index_shard_rows(64);
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.create_collection_with_schema("c", DIM, Metric::L2, &schema()).unwrap();
    let mut model = BTreeMap::new();
    add_rows(&c, &mut model, &mut Rng::new(3), 0..3000);
    db.flush().unwrap();
    let q = model[&5].vector.clone();
    let unfiltered = c.explain(&q, &SearchOptions::new(10)).unwrap();
    assert_eq!(unfiltered.plan, SearchPlan::Probe);
    assert_eq!(unfiltered.estimated_selectivity, None);
    let rare = c.explain(&q, &SearchOptions::new(10).with_filter_text("size == 5").unwrap()).unwrap();
    assert_eq!(rare.plan, SearchPlan::FilteredExact, "{rare}");
    assert!(rare.row_groups_skipped > 0, "min/max rule out groups: {rare}");
    assert!(rare.estimated_selectivity.unwrap() < 0.01);
    let broad = c.explain(&q, &SearchOptions::new(10).with_filter_text("size >= 50").unwrap()).unwrap();
    assert_eq!(broad.plan, SearchPlan::FilteredProbe, "{broad}");
    assert!(broad.lists_probed >= unfiltered.lists_probed, "a filtered probe is at least as wide: {broad}");
    assert!(broad.rows_matched < broad.rows_scanned + 1 && broad.vectors_reranked > 0, "{broad}");
    assert!(broad.hits.len() == 10 && rare.hits.len() <= 10);
    let text = broad.to_string();
    assert!(text.contains("plan                    filtered-probe") && text.contains("rows scanned"), "{text}");
}

#[path = "../../examples/support/minilm_filters.rs"]
mod minilm;

#[test]
fn filtered_recall_at_the_default_settings_holds_on_all_six_workloads() {
    let Some(path) = dataset("minilm-debian-59k") else { return };
    let (d, base) = read_fvecs(&path.join("base.fvecs"));
    let (_, queries) = read_fvecs(&path.join("query.fvecs"));
    let attributes = minilm::read_attributes(&path.join("attributes.tsv"));
    let query_attributes = minilm::read_attributes(&path.join("query_attributes.tsv"));
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DatabaseOptions::default().with_background_threads(false)).unwrap();
    let c = db.create_collection_with_schema("minilm", d, Metric::L2, &minilm::schema()).unwrap();
    for start in (0..base.len() / d).step_by(2000) {
        let end = (start + 2000).min(base.len() / d);
        let postings: Vec<_> =
            (start..end).map(|i| Posting::new(i as u64, &base[i * d..(i + 1) * d]).with_attributes(&attributes[i])).collect();
        c.add(&postings).unwrap();
    }
    db.flush().unwrap();
    assert!(c.stats().centroids > 100);
    let step = 4;
    for name in minilm::WORKLOADS {
        let gt_bytes = std::fs::read(path.join(format!("gt_filter_{name}_l2_top100.ivecs"))).unwrap();
        let gt: Vec<i32> = gt_bytes.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect();
        let (mut found, mut wanted, mut plans) = (0, 0, BTreeMap::new());
        for (i, q) in queries.chunks_exact(d).enumerate().step_by(step) {
            let truth: Vec<u64> = gt[i * 101 + 1..i * 101 + 11].iter().filter(|&&t| t >= 0).map(|&t| t as u64).collect();
            let options = SearchOptions::new(10).with_filter_text(&minilm::filter_text(name, &query_attributes[i])).unwrap();
            let explained = c.explain(q, &options).unwrap();
            *plans.entry(explained.plan.name()).or_insert(0) += 1;
            found += explained.hits.iter().filter(|h| truth.contains(&(h.document_id.0 as u64))).count();
            wanted += truth.len();
        }
        let recall = found as f64 / wanted as f64;
        println!("{name:20} recall@10 {recall:.4} over {} queries, plans {plans:?}", queries.len() / d / step);
        assert!(recall >= 0.95, "{name}: recall@10 {recall:.4} < 0.95 at the default settings");
    }
}
