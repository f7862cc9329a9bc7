//! The subcommands other than `demo`. Each returns `Err(message)` with what went wrong
//! and what to do next; `main` prints it and exits 1.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use drift::arrow::ArrowColumns;
use drift::{
    AttributeDef, AttributeType, AttributeValue, Attributes, Collection, Database, DatabaseOptions, DocumentId, Error, Metric, Posting,
    SearchExplain, SearchOptions,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::input::{self, Chunk, Format};

/// Turns a drift error into a message that says what to do next.
pub fn explain(e: Error, db: &Path) -> String {
    let d = db.display();
    let hint = match &e {
        Error::Locked { .. } => format!("another process has {d} open; stop it (or close its Database) and run the command again"),
        Error::CollectionNotFound { .. } => format!("`drift stats {d}` lists the collections; `drift create {d} <name> --dim <N>` makes one"),
        Error::CollectionExists { .. } => format!("pick another name, or import into it with `drift import {d} <name> <file>`"),
        Error::DimensionMismatch { .. } => "the vectors must have the collection's dimension (`drift stats` shows it)".into(),
        Error::ChecksumMismatch { .. } | Error::Corrupt { .. } => {
            format!("the database is damaged; `drift verify {d}` lists every problem (restore from a backup or the S3 tier)")
        }
        Error::UnsupportedVersion { .. } => "this database was written by a newer drift; upgrade drift to read it".into(),
        Error::Poisoned { .. } => "a disk write failed; check free space and the disk, then run the command again".into(),
        _ => String::new(),
    };
    if hint.is_empty() { e.to_string() } else { format!("{e}\n  hint: {hint}") }
}

/// How the CLI names an input path in messages.
fn shown(path: &Path) -> String {
    if path == Path::new("-") { "stdin".into() } else { path.display().to_string() }
}

/// Opens an existing database for a command that does not create one.
fn open_existing(db: &Path) -> Result<Database, String> {
    if !db.join("MANIFEST").exists() {
        return Err(if db.exists() {
            format!("{} is not a drift database (no MANIFEST file in it)", db.display())
        } else {
            format!(
                "no database at {}\n  hint: create one with `drift create {} <collection> --dim <N>` or `drift import {} <collection> <file> --create`",
                db.display(),
                db.display(),
                db.display()
            )
        });
    }
    let options = DatabaseOptions::default().with_create_if_missing(false).with_background_threads(false);
    Database::open(db, options).map_err(|e| explain(e, db))
}

fn open_or_create(db: &Path) -> Result<Database, String> {
    let options = DatabaseOptions::default().with_background_threads(false);
    Database::open(db, options).map_err(|e| explain(e, db))
}

fn metric_name(m: Metric) -> &'static str {
    m.name()
}

pub fn create(db: &Path, name: &str, dimension: usize, metric: Metric, attributes: &[String]) -> Result<(), String> {
    let schema = attributes.iter().map(|a| AttributeDef::parse(a)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let database = open_or_create(db)?;
    database.create_collection_with_schema(name, dimension, metric, &schema).map_err(|e| explain(e, db))?;
    database.close().map_err(|e| explain(e, db))?;
    let with = if schema.is_empty() {
        String::new()
    } else {
        format!(", attributes {}", schema.iter().map(|a| format!("{}:{}", a.name, a.kind)).collect::<Vec<_>>().join(" "))
    };
    println!("created collection {name:?} ({dimension} dimensions, {}{with}) in {}", metric_name(metric), db.display());
    println!("next: drift import {} {name} <vectors.fvecs|.npy|.parquet|.arrow>", db.display());
    Ok(())
}

/// Arguments of `drift import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// Database directory.
    pub db: PathBuf,
    /// Collection to load into.
    pub collection: String,
    /// Input file(s); `-` reads text from stdin (one vector per line).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Input format (default: from the file extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Create the collection (and database) if missing, with the file's dimension.
    #[arg(long)]
    pub create: bool,
    /// Metric of a collection made by --create.
    #[arg(long, value_enum, default_value = "l2")]
    pub metric: crate::MetricArg,
    /// Document id of the first row of fvecs/bvecs/.npy input; later rows count up.
    /// Default: the collection's row count (0 for a new collection), so repeated
    /// imports do not reuse ids.
    #[arg(long)]
    pub first_id: Option<u64>,
    /// Rows per atomic, durable write batch.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Attribute values of fvecs/bvecs/.npy/text rows: a TSV file with a header, one
    /// line per vector row in the same order. Header cells name attributes (`name`, or
    /// `name:type` to add one the schema lacks); a column named `row` or `id` is
    /// skipped. Empty cells are null; tags are separated by `,`.
    #[arg(long, value_name = "TSV")]
    pub attributes: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Column names of Arrow / Parquet input.
#[derive(clap::Args)]
pub struct ColumnArgs {
    /// Arrow/Parquet column holding document ids.
    #[arg(long, default_value = "document_id")]
    pub id_column: String,
    /// Arrow/Parquet column holding vectors (FixedSizeList or List of float32).
    #[arg(long, default_value = "vector")]
    pub vector_column: String,
    /// Arrow/Parquet column holding span starts (optional).
    #[arg(long, default_value = "start")]
    pub start_column: String,
    /// Arrow/Parquet column holding span lengths (optional).
    #[arg(long, default_value = "length")]
    pub length_column: String,
}

impl ColumnArgs {
    fn columns(&self) -> ArrowColumns {
        ArrowColumns {
            document_id: self.id_column.clone(),
            vector: self.vector_column.clone(),
            start: self.start_column.clone(),
            length: self.length_column.clone(),
        }
    }
}

/// The progress bar's `{rate}`: whole rows per second.
fn rate(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0} rows/s", state.per_sec());
}

fn progress(rows: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match rows {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{wide_bar} {human_pos}/{human_len} rows  {rate}  {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", rate),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {human_pos} rows  {rate}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("rate", rate),
        ),
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Adds one chunk; record batches are added in slices of at most `batch` rows (each
/// slice one atomic write that fits a WAL segment).
/// The attribute values of an import, read from a TSV file one line per vector row.
struct AttributeRows {
    path: PathBuf,
    lines: std::io::Lines<std::io::BufReader<File>>,
    /// (column index, attribute name, type) of each attribute column.
    columns: Vec<(usize, String, AttributeType)>,
    line: u64,
}

impl AttributeRows {
    /// Opens `path`, reads its header and declares attributes it types that `c` lacks.
    fn open(path: &Path, c: &Collection) -> Result<AttributeRows, String> {
        use std::io::BufRead;
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let header = lines
            .next()
            .ok_or_else(|| format!("{} is empty: it needs a header line naming the attributes", path.display()))?
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut columns = Vec::new();
        for (i, cell) in header.split('\t').enumerate() {
            let cell = cell.trim();
            if i == 0 && (cell == "row" || cell == "id") {
                continue;
            }
            let kind = if cell.contains(':') {
                let def = AttributeDef::parse(cell).map_err(|e| format!("{}: header cell {}: {e}", path.display(), i + 1))?;
                c.add_attribute(def.clone()).map_err(|e| format!("{}: header cell {}: {e}", path.display(), i + 1))?;
                (def.name, def.kind)
            } else {
                let kind = c.schema().into_iter().find(|a| a.name == cell).map(|a| a.kind).ok_or_else(|| {
                    format!(
                        "{}: attribute {cell:?} is not in collection {:?}'s schema\n  hint: write `{cell}:<type>` in the header (u64, i64, f64, bool, string, tags, timestamp) or create the collection with --attribute {cell}:<type>",
                        path.display(),
                        c.name()
                    )
                })?;
                (cell.to_owned(), kind)
            };
            columns.push((i, kind.0, kind.1));
        }
        Ok(AttributeRows { path: path.to_owned(), lines, columns, line: 1 })
    }

    /// The next `n` rows' values.
    fn take(&mut self, n: usize) -> Result<Vec<Attributes>, String> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            self.line += 1;
            let line = self
                .lines
                .next()
                .ok_or_else(|| format!("{} ends at line {} but the vectors go on: one line per vector row is needed", self.path.display(), self.line - 1))?
                .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
            let cells: Vec<&str> = line.split('\t').collect();
            let mut values = Attributes::new();
            for (i, name, kind) in &self.columns {
                let cell = cells.get(*i).copied().unwrap_or("");
                let value = AttributeValue::parse_text(cell, *kind)
                    .map_err(|e| format!("{} line {}, column {name:?}: {e}", self.path.display(), self.line))?;
                if let Some(v) = value {
                    values.insert(name.clone(), v);
                }
            }
            out.push(values);
        }
        Ok(out)
    }
}

fn add_chunk(c: &Collection, chunk: Chunk, next_id: &mut u64, columns: &ArrowColumns, batch: usize, attributes: Option<&mut AttributeRows>) -> Result<u64, String> {
    match chunk {
        Chunk::Vectors(v) => {
            let d = c.dimension();
            let values = match attributes {
                Some(a) => a.take(v.len() / d)?,
                None => Vec::new(),
            };
            let postings: Vec<Posting<'_>> = v
                .chunks_exact(d)
                .enumerate()
                .map(|(i, row)| {
                    let p = Posting::new(DocumentId::from(*next_id + i as u64), row);
                    match values.get(i) {
                        Some(a) => p.with_attributes(a),
                        None => p,
                    }
                })
                .collect();
            c.add(&postings).map_err(|e| e.to_string())?;
            *next_id += postings.len() as u64;
            Ok(postings.len() as u64)
        }
        Chunk::Batch(b) => {
            if attributes.is_some() {
                return Err("--attributes applies to fvecs, bvecs, .npy and text input; Arrow and Parquet rows carry their own columns".into());
            }
            let mut added = 0;
            while added < b.num_rows() {
                let len = batch.min(b.num_rows() - added);
                added += c.add_record_batch_with(&b.slice(added, len), columns).map_err(|e| e.to_string())?;
            }
            Ok(added as u64)
        }
    }
}

pub fn import(args: &ImportArgs) -> Result<(), String> {
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    // A database this import creates is removed again if the import fails before
    // anything was imported: a bad file leaves nothing behind.
    let created_here = args.create && !args.db.join("MANIFEST").exists() && !args.db.exists();
    let mut total = 0u64;
    let result = import_into(args, &mut total);
    if let Err(message) = result {
        if created_here && total == 0 {
            let _ = std::fs::remove_dir_all(&args.db);
            return Err(format!("{message}
  (the database {} this import created was removed)", args.db.display()));
        }
        return Err(message);
    }
    Ok(())
}

fn import_into(args: &ImportArgs, total: &mut u64) -> Result<(), String> {
    let columns = args.columns.columns();
    let started = Instant::now();
    let database = if args.create { open_or_create(&args.db)? } else { open_existing(&args.db)? };
    let mut next_id = None;
    let mut attributes: Option<AttributeRows> = None;
    for file in &args.files {
        let format = Format::resolve(args.format, file)?;
        let source = input::open_source(file, format, args.batch, &columns)?;
        let c = match database.collection(&args.collection) {
            Ok(c) => c,
            Err(Error::CollectionNotFound { .. }) if args.create => {
                database.create_collection(&args.collection, source.dimension, args.metric.into()).map_err(|e| explain(e, &args.db))?
            }
            Err(Error::CollectionNotFound { .. }) => {
                return Err(format!(
                    "collection {:?} does not exist in {}\n  hint: add --create to make it with the file's dimension ({}), or run `drift create {} {} --dim {}`",
                    args.collection,
                    args.db.display(),
                    source.dimension,
                    args.db.display(),
                    args.collection,
                    source.dimension
                ));
            }
            Err(e) => return Err(explain(e, &args.db)),
        };
        if c.dimension() != source.dimension {
            return Err(format!(
                "{} holds vectors of dimension {}, collection {:?} has dimension {}; nothing was imported from it",
                file.display(),
                source.dimension,
                args.collection,
                c.dimension()
            ));
        }
        let next_id = next_id.get_or_insert_with(|| {
            // Row ids are never reused, so starting at the count of rows ever added
            // cannot collide with ids an earlier import gave out this way, even after
            // removes and a compaction.
            let s = c.stats();
            args.first_id.unwrap_or(s.rows_added.max(s.shard_rows + s.memtable_rows + s.frozen_rows))
        });
        if matches!(format, Format::Fvecs | Format::Bvecs | Format::Npy | Format::Text) {
            println!("{}: document ids from {next_id} (row numbers; --first-id sets the start)", shown(file));
        }
        let bar = progress(source.rows, args.quiet);
        let mut rows = 0u64;
        // One TSV serves every file of the import, in order.
        if attributes.is_none()
            && let Some(path) = &args.attributes
        {
            attributes = Some(AttributeRows::open(path, &c)?);
        }
        for chunk in source.chunks {
            let added = chunk.map_err(|e| format!("{e}\n  {rows} rows of {} were imported before this (they are durable)", file.display()))?;
            let added = add_chunk(&c, added, next_id, &columns, args.batch, attributes.as_mut())
                .map_err(|e| format!("{e}\n  {rows} rows of {} were imported before this (they are durable)", file.display()))?;
            rows += added;
            bar.inc(added);
        }
        bar.finish_and_clear();
        *total += rows;
        println!("imported {rows} rows from {} ({format:?})", shown(file));
    }
    if let Some(a) = &mut attributes
        && let Some(Ok(extra)) = a.lines.next()
        && !extra.trim().is_empty()
    {
        eprintln!("warning: {} has more lines than there were vectors (line {} and after were not used)", a.path.display(), a.line + 1);
    }
    let ingest = started.elapsed().as_secs_f64();
    database.flush().map_err(|e| explain(e, &args.db))?;
    let c = database.collection(&args.collection).map_err(|e| explain(e, &args.db))?;
    // Without background threads nothing else rebalances the index after this flush.
    c.rebalance().map_err(|e| explain(e, &args.db))?;
    let stats = c.stats();
    database.close().map_err(|e| explain(e, &args.db))?;
    println!(
        "{} rows durable in {ingest:.2} s ({:.0} rows/s); flushed to {} shard file(s){} in {:.2} s",
        *total,
        *total as f64 / ingest.max(1e-9),
        stats.shards,
        if stats.centroids > 0 { format!(" with a {}-centroid index", stats.centroids) } else { String::new() },
        started.elapsed().as_secs_f64()
    );
    println!("next: drift search {} {} <queries> -k 10", args.db.display(), args.collection);
    Ok(())
}

/// Arguments of `drift search`.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// Database directory.
    pub db: PathBuf,
    /// Collection to search.
    pub collection: String,
    /// Query vectors: a file (fvecs, bvecs, .npy, Arrow, Parquet, or text with one
    /// vector per line) or `-` for text on stdin (the default when stdin is a pipe).
    pub queries: Option<PathBuf>,
    /// Query file format (default: from the extension; stdin is text).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Hits per query.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// Centroids probed (default: ⌈5·√centroids⌉, at least 16).
    #[arg(long)]
    pub nprobe: Option<usize>,
    /// Stop probing after this many centroids in a row brought nothing closer (default:
    /// probe all --nprobe).
    #[arg(long)]
    pub probe_patience: Option<usize>,
    /// Candidates re-ranked exactly per wanted hit (default 8).
    #[arg(long)]
    pub rerank_factor: Option<usize>,
    /// Scan every row exactly (slow, perfect recall).
    #[arg(long)]
    pub exact: bool,
    /// At most one hit per document.
    #[arg(long)]
    pub one_per_document: bool,
    /// Only postings whose attributes match, e.g. `section == 'net' and size < 500`
    /// (==, !=, <, <=, >, >=, in (...), contains, is [not] null, and, or, not).
    #[arg(long)]
    pub filter: Option<String>,
    /// Print what each query did (plan, lists probed, row groups skipped, rows
    /// scanned, vectors re-ranked, bytes touched) after its hits.
    #[arg(long)]
    pub explain: bool,
    /// Print JSON lines (one object per query) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub columns: ColumnArgs,
}

/// A document id as the CLI prints it: decimal when it fits in 64 bits (ids the CLI
/// and most hosts assign), the ULID form otherwise.
fn show_id(id: DocumentId) -> String {
    if id.0 <= u64::MAX as u128 { id.0.to_string() } else { id.to_string() }
}

pub fn search(args: &SearchArgs) -> Result<(), String> {
    let path = match &args.queries {
        Some(p) => p.clone(),
        None if !std::io::stdin().is_terminal() => PathBuf::from("-"),
        None => {
            return Err("no query vectors: pass a file (fvecs, .npy, Parquet, text...) or pipe vectors into stdin, one per line\n  example: echo '0.1, 0.2, 0.3' | drift search <db> <collection>".into());
        }
    };
    let format = if path == Path::new("-") { Format::Text } else { Format::resolve(args.format, &path)? };
    let columns = args.columns.columns();
    let source = input::open_source(&path, format, 4096, &columns)?;
    let dimension = source.dimension;
    let queries = input::all_vectors(source, &columns)?;
    let database = open_existing(&args.db)?;
    let c = database.collection(&args.collection).map_err(|e| explain(e, &args.db))?;
    if c.dimension() != dimension {
        return Err(format!("the queries have dimension {dimension}, collection {:?} has {}", args.collection, c.dimension()));
    }
    let mut options = SearchOptions::new(args.k);
    if let Some(n) = args.nprobe {
        options = options.with_nprobe(n);
    }
    if let Some(p) = args.probe_patience {
        options = options.with_probe_patience(p);
    }
    if let Some(f) = args.rerank_factor {
        options = options.with_rerank_factor(f);
    }
    if args.exact {
        options = options.exact();
    }
    if args.one_per_document {
        options = options.one_per_document();
    }
    if let Some(text) = &args.filter {
        options = options.with_filter_text(text).map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let (results, explained) = if args.explain {
        let explained: Vec<SearchExplain> =
            queries.chunks_exact(dimension).map(|q| c.explain(q, &options)).collect::<Result<_, _>>().map_err(|e| explain(e, &args.db))?;
        (explained.iter().map(|e| e.hits.clone()).collect::<Vec<_>>(), explained)
    } else {
        (c.search_batch(&queries, &options).map_err(|e| explain(e, &args.db))?, Vec::new())
    };
    let elapsed = started.elapsed();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let w = |r: std::io::Result<()>| r.map_err(|e| format!("cannot write to stdout: {e}"));
    if args.json {
        for (q, hits) in results.iter().enumerate() {
            let hits: Vec<_> = hits
                .iter()
                .enumerate()
                .map(|(rank, h)| json!({"rank": rank, "document_id": show_id(h.document_id), "start": h.start, "length": h.length, "distance": h.distance}))
                .collect();
            let mut line = json!({"query": q, "hits": hits});
            if let Some(e) = explained.get(q) {
                line["explain"] = json!({
                    "plan": e.plan.name(),
                    "estimated_selectivity": e.estimated_selectivity,
                    "lists_planned": e.lists_planned,
                    "lists_probed": e.lists_probed,
                    "row_groups_scanned": e.row_groups_scanned,
                    "row_groups_skipped": e.row_groups_skipped,
                    "row_groups_without_match": e.row_groups_without_match,
                    "rows_scanned": e.rows_scanned,
                    "rows_matched": e.rows_matched,
                    "vectors_reranked": e.vectors_reranked,
                    "bytes_touched": e.bytes_touched,
                });
            }
            w(writeln!(out, "{line}"))?;
        }
    } else {
        w(writeln!(out, "{:>5}  {:>4}  {:>26}  {:>10}  {:>10}  {:>12}", "query", "rank", "document_id", "start", "length", "distance"))?;
        for (q, hits) in results.iter().enumerate() {
            for (rank, h) in hits.iter().enumerate() {
                w(writeln!(out, "{q:>5}  {rank:>4}  {:>26}  {:>10}  {:>10}  {:>12.6}", show_id(h.document_id), h.start, h.length, h.distance))?;
            }
            if let Some(e) = explained.get(q) {
                w(writeln!(out, "query {q} explained:"))?;
                for line in e.to_string().lines() {
                    w(writeln!(out, "  {line}"))?;
                }
            }
        }
    }
    w(out.flush())?;
    if !args.json {
        eprintln!("{} queries in {:.1} ms", results.len(), elapsed.as_secs_f64() * 1e3);
    }
    Ok(())
}

pub fn stats(db: &Path, as_json: bool) -> Result<(), String> {
    let database = open_existing(db)?;
    let s = database.stats();
    let infos = database.list_collections();
    if as_json {
        let collections: Vec<_> = infos
            .iter()
            .map(|i| {
                let c = &s.collections[&i.name];
                json!({
                    "name": i.name, "dimension": i.dimension, "metric": metric_name(i.metric),
                    "rows": c.shard_rows + c.memtable_rows + c.frozen_rows, "shard_rows": c.shard_rows, "memtable_rows": c.memtable_rows,
                    "shards": c.shards, "sealed_shards": c.sealed_shards, "row_groups": c.row_groups, "shard_bytes": c.shard_bytes,
                    "centroids": c.centroids, "tombstones": c.tombstones,
                })
            })
            .collect();
        let r = &s.recovery;
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "path": db.display().to_string(),
                "collections": collections,
                "manifest_generation": s.manifest_generation,
                "checkpoint_lsn": s.checkpoint_lsn,
                "recovery": {"records_replayed": r.records_replayed, "torn_bytes_truncated": r.torn_bytes_truncated,
                             "shard_bytes_truncated": r.shard_bytes_truncated, "orphan_files_removed": r.orphan_files_removed,
                             "open_micros": r.open_micros},
            }))
            .unwrap_or_default()
        );
    } else {
        println!("database {} (manifest generation {}, checkpoint LSN {})", db.display(), s.manifest_generation, s.checkpoint_lsn);
        if infos.is_empty() {
            println!("no collections; create one with `drift create {} <name> --dim <N>`", db.display());
        } else {
            println!("{:<24} {:>5} {:>7} {:>10} {:>8} {:>10} {:>10} {:>10}", "collection", "dim", "metric", "rows", "shards", "MB", "centroids", "tombstones");
            for i in &infos {
                let c = &s.collections[&i.name];
                println!(
                    "{:<24} {:>5} {:>7} {:>10} {:>8} {:>10.1} {:>10} {:>10}",
                    i.name,
                    i.dimension,
                    metric_name(i.metric),
                    c.shard_rows + c.memtable_rows + c.frozen_rows,
                    c.shards,
                    c.shard_bytes as f64 / 1e6,
                    c.centroids,
                    c.tombstones
                );
            }
        }
        let r = &s.recovery;
        if r.records_replayed > 0 || r.torn_bytes_truncated > 0 || r.orphan_files_removed > 0 {
            println!(
                "this open recovered: {} WAL records replayed, {} torn bytes discarded, {} unreferenced files removed",
                r.records_replayed, r.torn_bytes_truncated, r.orphan_files_removed
            );
        }
    }
    database.close().map_err(|e| explain(e, db))
}

pub fn verify(db: &Path) -> ExitCode {
    let started = Instant::now();
    let report = match drift::verify_path(db) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not verify: {}", explain(e, db));
            return ExitCode::from(2);
        }
    };
    for note in &report.notes {
        println!("note: {note}");
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    println!(
        "checked {} collections, {} shard files ({} rows, {:.1} MB), {} WAL records in {:.2} s",
        report.collections,
        report.shard_files,
        report.rows,
        report.shard_bytes as f64 / 1e6,
        report.wal_records,
        started.elapsed().as_secs_f64()
    );
    if report.is_healthy() {
        println!("healthy");
        ExitCode::SUCCESS
    } else {
        println!(
            "{} problem(s) found; nothing was changed. Restore the damaged files from a backup (or the S3 tier), or `drift export` what still reads and re-import it",
            report.problems.len()
        );
        ExitCode::from(1)
    }
}

pub fn backup(src: &Path, dst: &Path) -> Result<(), String> {
    let database = open_existing(src)?;
    let report = database.checkpoint(dst).map_err(|e| explain(e, src))?;
    println!(
        "backup of {} in {}: generation {}, {} shard files linked, {} copied ({:.1} MB), {:.3} s",
        src.display(),
        dst.display(),
        report.generation,
        report.files_linked,
        report.files_copied,
        report.bytes_copied as f64 / 1e6,
        report.micros as f64 / 1e6
    );
    database.close().map_err(|e| explain(e, src))
}

pub fn compact(db: &Path, only: Option<&str>) -> Result<(), String> {
    let database = open_existing(db)?;
    let names: Vec<String> = match only {
        Some(n) => vec![n.to_string()],
        None => database.list_collections().into_iter().map(|i| i.name).collect(),
    };
    for name in names {
        let c = database.collection(&name).map_err(|e| explain(e, db))?;
        let compacted = c.compact().map_err(|e| explain(e, db))?;
        let rebalanced = c.rebalance().map_err(|e| explain(e, db))?;
        println!(
            "{name}: {} shard files rewritten, {} deleted rows removed, {:.1} MB reclaimed; index: {} splits, {} merges, {} reassignments, {} consolidations",
            compacted.shards_rewritten,
            compacted.rows_removed,
            compacted.bytes_reclaimed as f64 / 1e6,
            rebalanced.splits,
            rebalanced.merges,
            rebalanced.reassignments,
            rebalanced.consolidations
        );
    }
    database.close().map_err(|e| explain(e, db))
}

/// Arguments of `drift export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Database directory.
    pub db: PathBuf,
    /// Collection to export.
    pub collection: String,
    /// Output file; fvecs and .npy hold vectors only, Arrow IPC and Parquet also ids
    /// and spans (and re-import with `drift import`).
    pub output: PathBuf,
    /// Output format (default: from the extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn export(args: &ExportArgs) -> Result<(), String> {
    let format = Format::resolve(args.format, &args.output)?;
    let database = open_existing(&args.db)?;
    let c = database.collection(&args.collection).map_err(|e| explain(e, &args.db))?;
    let d = c.dimension();
    let tmp = args.output.with_extension("partial");
    let io = |e: std::io::Error| format!("cannot write {}: {e}", tmp.display());
    let rows;
    match format {
        Format::Fvecs | Format::Npy => {
            let postings = c.export().map_err(|e| explain(e, &args.db))?;
            rows = postings.len();
            let mut out = BufWriter::new(File::create(&tmp).map_err(io)?);
            if format == Format::Npy {
                let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {d}), }}");
                let pad = 64 - (10 + dict.len() + 1) % 64;
                let header = format!("{dict}{}\n", " ".repeat(pad % 64));
                out.write_all(b"\x93NUMPY\x01\x00").map_err(io)?;
                out.write_all(&(header.len() as u16).to_le_bytes()).map_err(io)?;
                out.write_all(header.as_bytes()).map_err(io)?;
            }
            for p in &postings {
                if format == Format::Fvecs {
                    out.write_all(&(d as i32).to_le_bytes()).map_err(io)?;
                }
                for x in &p.vector {
                    out.write_all(&x.to_le_bytes()).map_err(io)?;
                }
            }
            out.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        }
        Format::Arrow | Format::Parquet => {
            let batches = c.export_record_batches(65_536).map_err(|e| explain(e, &args.db))?;
            rows = batches.iter().map(|b| b.num_rows()).sum();
            let schema = drift::arrow::postings_schema(d, &c.schema());
            let file = File::create(&tmp).map_err(io)?;
            let file = if format == Format::Arrow {
                let mut w = arrow_ipc::writer::FileWriter::try_new(file, &schema).map_err(|e| e.to_string())?;
                for b in &batches {
                    w.write(b).map_err(|e| e.to_string())?;
                }
                w.finish().map_err(|e| e.to_string())?;
                w.into_inner().map_err(|e| e.to_string())?
            } else {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
                for b in &batches {
                    w.write(b).map_err(|e| e.to_string())?;
                }
                w.into_inner().map_err(|e| e.to_string())?
            };
            file.sync_all().map_err(io)?;
        }
        Format::Bvecs | Format::Text => {
            return Err(format!("export writes fvecs, npy, arrow or parquet, not {format:?}; pick one with --format or the file extension"));
        }
    }
    std::fs::rename(&tmp, &args.output).map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), args.output.display()))?;
    database.close().map_err(|e| explain(e, &args.db))?;
    println!("exported {rows} postings of {:?} (dimension {d}) to {} ({format:?})", args.collection, args.output.display());
    if matches!(format, Format::Fvecs | Format::Npy) {
        println!("note: {format:?} holds vectors only, sorted by document id; export to .parquet or .arrow to keep ids and spans");
    }
    Ok(())
}
