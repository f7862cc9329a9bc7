//! The `drift` command-line tool, run as a user runs it: a real process, real files,
//! exit codes and messages checked.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn drift(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drift")).args(args).current_dir(cwd).output().expect("run drift")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let o = drift(args, cwd);
    assert!(o.status.success(), "drift {args:?} failed: {}", text(&o));
    text(&o)
}

fn fails(args: &[&str], cwd: &Path, code: i32) -> String {
    let o = drift(args, cwd);
    assert_eq!(o.status.code(), Some(code), "drift {args:?}: {}", text(&o));
    text(&o)
}

/// Row `i` of the test vectors: mostly along axis i % d, with a row-specific tilt.
fn row(i: usize, d: usize) -> Vec<f32> {
    (0..d).map(|j| if j == i % d { 1.0 } else { ((i * 31 + j * 7) % 13) as f32 / 100.0 + (i as f32) / 1000.0 }).collect()
}

/// `rows` vectors of dimension `d` as fvecs.
fn write_fvecs(path: &Path, rows: usize, d: usize) {
    let mut out = Vec::new();
    for i in 0..rows {
        out.extend_from_slice(&(d as i32).to_le_bytes());
        for x in row(i, d) {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn demo_builds_the_bundled_dataset_and_reaches_recall_0_95_at_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&["demo", "--dir", "demo-db"], dir.path());
    let recall: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("recall@10: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no recall line in:\n{out}"));
    assert!(recall >= 0.95, "recall@10 {recall} < 0.95 on the bundled dataset:\n{out}");
    assert!(out.contains("files: "), "{out}");
    // Running it again replaces the previous demo database.
    ok(&["demo", "--dir", "demo-db"], dir.path());
    assert!(ok(&["verify", "demo-db"], dir.path()).contains("healthy"));
}

#[test]
fn create_import_search_stats_export_and_reimport_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_fvecs(&p.join("base.fvecs"), 300, 16);
    ok(&["create", "db", "docs", "--dim", "16", "--metric", "cosine"], p);
    let imported = ok(&["import", "db", "docs", "base.fvecs"], p);
    assert!(imported.contains("imported 300 rows"), "{imported}");
    assert!(imported.contains("document ids from 0"), "{imported}");
    // A second import continues the ids instead of reusing them.
    assert!(ok(&["import", "db", "docs", "base.fvecs"], p).contains("document ids from 300"));

    // Queries from stdin (text, one per line); JSON lines out.
    let mut child = Command::new(env!("CARGO_BIN_EXE_drift"))
        .args(["search", "db", "docs", "-k", "2", "--json"])
        .current_dir(p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let query: Vec<String> = row(5, 16).iter().map(|x| x.to_string()).collect();
    writeln!(child.stdin.take().unwrap(), "[{}]", query.join(", ")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["query"], 0);
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
    // Rows 5 and 305 (the second import) hold the query vector itself.
    let top: Vec<&str> = v["hits"].as_array().unwrap().iter().map(|h| h["document_id"].as_str().unwrap()).collect();
    assert!(top.contains(&"5") && top.contains(&"305"), "{line}");

    let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "db", "--json"], p)).unwrap();
    assert_eq!(stats["collections"][0]["rows"], 600);
    assert_eq!(stats["collections"][0]["metric"], "cosine");

    for ext in ["parquet", "arrow", "npy", "fvecs"] {
        let file = format!("out.{ext}");
        assert!(ok(&["export", "db", "docs", &file], p).contains("exported 600 postings"));
        let name = format!("back_{ext}");
        ok(&["import", "db", &name, &file, "--create", "--metric", "cosine"], p);
        let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "db", "--json"], p)).unwrap();
        let back = stats["collections"].as_array().unwrap().iter().find(|c| c["name"] == name.as_str()).unwrap().clone();
        assert_eq!(back["rows"], 600, "{ext}");
    }
    // Parquet and Arrow keep ids: the same query finds the same documents.
    let table = |c: &str| ok(&["search", "db", c, "base.fvecs", "-k", "3", "--exact"], p);
    assert_eq!(table("docs").lines().next(), table("back_parquet").lines().next());
    let first = |c: &str| table(c).lines().nth(1).map(str::to_owned);
    assert_eq!(first("docs"), first("back_parquet"));
    assert_eq!(first("docs"), first("back_arrow"));
    assert!(ok(&["compact", "db"], p).contains("docs:"));
    assert!(ok(&["verify", "db"], p).contains("healthy"));
}

#[test]
fn verify_reports_damage_with_file_and_offset_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_fvecs(&p.join("base.fvecs"), 200, 8);
    ok(&["import", "db", "docs", "base.fvecs", "--create"], p);
    assert!(ok(&["verify", "db"], p).contains("healthy"));

    let shard = std::fs::read_dir(p.join("db/shards")).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&shard).unwrap();
    let last = bytes.len() - 200; // inside the vectors of the last row group
    bytes[last] ^= 0x40;
    std::fs::write(&shard, &bytes).unwrap();
    let out = fails(&["verify", "db"], p, 1);
    let name = shard.file_name().unwrap().to_str().unwrap();
    assert!(out.contains("problem: ") && out.contains(name) && out.contains("offset"), "{out}");
    assert_eq!(std::fs::read(&shard).unwrap(), bytes, "verify changed the damaged file");

    // An unreferenced file is a note (the next open removes it), not a problem.
    let dir2 = tempfile::tempdir().unwrap();
    write_fvecs(&dir2.path().join("base.fvecs"), 50, 8);
    ok(&["import", "db", "docs", "base.fvecs", "--create"], dir2.path());
    let orphan = dir2.path().join("db/shards/0000000000000001-00000000000000ff.shard");
    std::fs::write(&orphan, b"left by a crash").unwrap();
    let out = ok(&["verify", "db"], dir2.path());
    assert!(out.contains("note: ") && out.contains("healthy"), "{out}");
    assert!(orphan.exists(), "verify must not remove files");

    let out = fails(&["verify", "no-such-db"], p, 2);
    assert!(out.contains("does not exist"), "{out}");
}

#[test]
fn mistakes_get_errors_that_say_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_fvecs(&p.join("base.fvecs"), 20, 8);
    let out = fails(&["import", "db", "docs", "base.fvecs"], p, 1);
    assert!(out.contains("no database at db") && out.contains("--create"), "{out}");
    ok(&["create", "db", "other", "--dim", "4"], p);
    let out = fails(&["import", "db", "docs", "base.fvecs"], p, 1);
    assert!(out.contains("does not exist") && out.contains("--create") && out.contains("--dim 8"), "{out}");
    let out = fails(&["import", "db", "other", "base.fvecs"], p, 1);
    assert!(out.contains("dimension 8") && out.contains("nothing was imported"), "{out}");

    let bytes = std::fs::read(p.join("base.fvecs")).unwrap();
    std::fs::write(p.join("cut.fvecs"), &bytes[..bytes.len() - 3]).unwrap();
    let out = fails(&["import", "db", "other", "cut.fvecs"], p, 1);
    assert!(out.contains("truncated"), "{out}");
    let out = fails(&["import", "db", "other", "base.bin"], p, 1);
    assert!(out.contains("--format"), "{out}");
    let out = fails(&["search", "db", "nope", "base.fvecs"], p, 1);
    assert!(out.contains("drift stats db"), "{out}");
    fails(&["create", "db"], p, 2); // usage error: clap explains the missing arguments
}

#[test]
fn a_second_import_after_removes_and_compaction_never_reuses_a_document_id() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_fvecs(&p.join("base.fvecs"), 300, 16);
    ok(&["import", "db", "docs", "base.fvecs", "--create"], p);
    {
        let db = drift::Database::open(p.join("db"), drift::DatabaseOptions::default()).unwrap();
        let docs = db.collection("docs").unwrap();
        let removed: Vec<drift::DocumentId> = (0..100u64).map(drift::DocumentId::from).collect();
        docs.remove(&removed).unwrap();
        docs.compact().unwrap();
        db.close().unwrap();
    }
    // 200 rows remain, but 300 were ever added: the next ids start at 300.
    assert!(ok(&["import", "db", "docs", "base.fvecs"], p).contains("document ids from 300"));
    let db = drift::Database::open(p.join("db"), drift::DatabaseOptions::default()).unwrap();
    let postings = db.collection("docs").unwrap().export().unwrap();
    let mut ids: Vec<u128> = postings.iter().map(|p| p.document_id.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 500, "every live document has one posting");
}

#[test]
fn a_failed_import_with_create_leaves_no_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("broken.fvecs"), [7u8, 0, 0]).unwrap();
    let out = fails(&["import", "db", "docs", "broken.fvecs", "--create"], p, 1);
    assert!(out.contains("removed"), "{out}");
    assert!(!p.join("db").exists(), "a new, empty database was left behind");
}

#[test]
fn a_malformed_arrow_file_is_refused_with_its_name_not_a_panic() {
    //! Found by the CLI input fuzzer: arrow-ipc panics on this file (a buffer past the
    //! end of the body); the import reports it as a malformed file and leaves nothing.
    let dir = tempfile::tempdir().unwrap();
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashers/cli_arrow/buffer-slice-past-end.arrow");
    let out = fails(&["import", "db", "c", bad.to_str().unwrap(), "--create"], dir.path(), 1);
    assert!(out.contains("malformed file") && out.contains("buffer-slice-past-end.arrow"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(!dir.path().join("db").exists(), "the failed import left its database behind");
}

#[test]
fn attributes_come_from_a_tsv_and_search_filters_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    write_fvecs(&dir.path().join("v.fvecs"), 200, 8);
    let mut tsv = String::from("row\tlang\tsize:u64\ttags\n");
    for i in 0..200 {
        tsv.push_str(&format!("{i}\t{}\t{i}\t{}\n", ["en", "fr"][i % 2], if i % 10 == 0 { "x11,gui" } else { "" }));
    }
    std::fs::write(dir.path().join("a.tsv"), tsv).unwrap();
    let out = ok(&["create", "db", "docs", "--dim", "8", "--attribute", "lang:string", "--attribute", "tags:tags"], dir.path());
    assert!(out.contains("attributes lang:string tags:tags"), "{out}");
    ok(&["import", "db", "docs", "v.fvecs", "--attributes", "a.tsv", "-q"], dir.path());
    std::fs::write(dir.path().join("q.txt"), format!("{}\n", row(20, 8).iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "))).unwrap();
    let out = ok(&["search", "db", "docs", "q.txt", "-k", "3", "--filter", "tags contains 'x11' and size < 100", "--json", "--explain"], dir.path());
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let ids: Vec<u64> = line["hits"].as_array().unwrap().iter().map(|h| h["document_id"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ids.iter().all(|id| id % 10 == 0 && *id < 100) && ids[0] == 20, "{out}");
    assert_eq!(line["explain"]["plan"], "filtered-exact", "{out}");
    // A bad filter: exit 1, the byte and the reason.
    let out = fails(&["search", "db", "docs", "q.txt", "--filter", "lang == 'en' and colour == 1"], dir.path(), 1);
    assert!(out.contains("filter error at byte 17") && out.contains("unknown attribute `colour`"), "{out}");
    let out = fails(&["search", "db", "docs", "q.txt", "--filter", "lang = 'en'"], dir.path(), 1);
    assert!(out.contains("syntax error at byte 5"), "{out}");
    // A TSV naming an attribute the schema lacks, without a type: refused with a hint.
    std::fs::write(dir.path().join("b.tsv"), "colour\nred\n").unwrap();
    let out = fails(&["import", "db", "docs", "v.fvecs", "--attributes", "b.tsv", "-q"], dir.path(), 1);
    assert!(out.contains("\"colour\" is not in collection") && out.contains("colour:<type>"), "{out}");
    // Exported to Parquet, the attribute columns come along and read back as they were.
    ok(&["export", "db", "docs", "out.parquet"], dir.path());
    ok(&["create", "db", "back", "--dim", "8", "--attribute", "lang:string", "--attribute", "size:u64", "--attribute", "tags:tags"], dir.path());
    ok(&["import", "db", "back", "out.parquet", "-q"], dir.path());
    let filtered = |collection: &str| {
        let out = ok(&["search", "db", collection, "q.txt", "-k", "5", "--filter", "lang == 'en' and tags contains 'gui'"], dir.path());
        out.lines().filter(|l| !l.contains("queries in")).map(str::to_owned).collect::<Vec<_>>()
    };
    let hits = filtered("docs");
    assert_eq!(hits.len(), 6, "{hits:?}");
    assert_eq!(hits, filtered("back"));
}

#[test]
fn sim_prints_a_table_and_writes_the_csv_and_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    write_fvecs(&dir.path().join("base.fvecs"), 600, 8);
    write_fvecs(&dir.path().join("query.fvecs"), 20, 8);
    let labels: String = (0..600).map(|i| format!("{}\n", ["red", "green", "blue"][i * 3 / 600])).collect();
    std::fs::write(dir.path().join("topics.txt"), labels).unwrap();
    let out = ok(&["sim", "base.fvecs", "query.fvecs", "--topics", "topics.txt", "--phases", "3", "--out", "out"], dir.path());
    assert!(out.contains("3 topics (from the labels)") && out.contains("recall"), "{out}");
    let csv = std::fs::read_to_string(dir.path().join("out/sim.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(std::fs::read_to_string(dir.path().join("out/sim.svg")).unwrap().starts_with("<svg"));
    assert!(!dir.path().join("out/scratch").exists(), "the scratch databases are removed");
    // Labels that do not cover every row: refused before any work.
    std::fs::write(dir.path().join("few.txt"), "red\n").unwrap();
    let out = fails(&["sim", "base.fvecs", "query.fvecs", "--topics", "few.txt"], dir.path(), 1);
    assert!(out.contains("1 labels for 600 base rows"), "{out}");
}
