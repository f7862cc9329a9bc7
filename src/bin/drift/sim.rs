//! `drift sim`: the drift simulator on the command line — reads the vectors and topic
//! labels, runs `drift::sim::run` in a scratch directory, prints the table and writes
//! the CSV and the SVG plot.

use std::path::{Path, PathBuf};

use drift::arrow::ArrowColumns;
use drift::sim::{SimData, SimOptions};

use crate::MetricArg;
use crate::input::{self, Format};

/// Arguments of `drift sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// Base vectors (fvecs, bvecs, .npy, Arrow, Parquet), or a dataset directory
    /// holding `base.fvecs` and `query.fvecs` (and `attributes.tsv`, whose `section`
    /// column is then the topic unless --topics says otherwise).
    pub base: PathBuf,
    /// Query vectors (not needed with a dataset directory).
    pub queries: Option<PathBuf>,
    /// Topic labels: one a line, or a TSV with a header (pick the column with
    /// --topic-column). Without labels, 20 topics are derived by k-means.
    #[arg(long)]
    pub topics: Option<PathBuf>,
    /// Column of the --topics TSV holding the topic.
    #[arg(long)]
    pub topic_column: Option<String>,
    /// Phases the topics arrive in (one checkpoint each).
    #[arg(long, default_value_t = 5)]
    pub phases: usize,
    /// Share of the rows ever added that are removed or replaced by the end.
    #[arg(long, default_value_t = 0.5)]
    pub churn: f64,
    /// Seed of every random choice (same seed, same stream).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rows added between two maintenance runs (`flush` then `maintain`, with a thread
    /// searching); maintenance also runs after each churn step.
    #[arg(long, default_value_t = SimOptions::default().maintain_every_rows)]
    pub maintain_every: usize,
    /// Queries measured at each checkpoint.
    #[arg(long, default_value_t = 300)]
    pub queries_per_checkpoint: usize,
    /// Distance metric.
    #[arg(long, value_enum, default_value = "l2")]
    pub metric: MetricArg,
    /// Where the CSV (`sim.csv`) and the plot (`sim.svg`) go.
    #[arg(long, default_value = "drift-sim")]
    pub out: PathBuf,
}

/// Runs `drift sim`.
pub fn run(args: &SimArgs) -> Result<(), String> {
    let dataset = args.base.is_dir().then(|| args.base.clone());
    let (base_path, query_path) = match (&dataset, &args.queries) {
        (Some(dir), None) => (dir.join("base.fvecs"), dir.join("query.fvecs")),
        (None, Some(q)) => (args.base.clone(), q.clone()),
        (Some(_), Some(_)) => return Err("with a dataset directory, leave the queries out (its query.fvecs is used)".into()),
        (None, None) => return Err("no query vectors: pass a queries file after the base file, or a dataset directory".into()),
    };
    let (dimension, base) = vectors(&base_path)?;
    let (query_dimension, queries) = vectors(&query_path)?;
    if dimension != query_dimension {
        return Err(format!("{} has dimension {dimension}, {} has {query_dimension}", base_path.display(), query_path.display()));
    }
    let rows = base.len() / dimension.max(1);
    let topics = match (&args.topics, &dataset) {
        (Some(path), _) => Some(labels(path, args.topic_column.as_deref(), rows)?),
        (None, Some(dir)) if dir.join("attributes.tsv").exists() => {
            Some(labels(&dir.join("attributes.tsv"), Some(args.topic_column.as_deref().unwrap_or("section")), rows)?)
        }
        _ => None,
    };
    let mut options = SimOptions::default();
    options.phases = args.phases;
    options.churn = args.churn;
    options.seed = args.seed;
    options.maintain_every_rows = args.maintain_every;
    options.queries = args.queries_per_checkpoint;
    options.metric = args.metric.into();
    let data = SimData { dimension, base, queries, topics };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    // The simulated database and the rebuilds live here while the run lasts.
    let scratch = args.out.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("replaying {rows} rows of dimension {dimension} in {} phases (churn {}, seed {})…", options.phases, options.churn, options.seed);
    let report = drift::sim::run(&data, &options, &scratch).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    println!(
        "{} topics ({}), {} queries per checkpoint, recall@{} at default settings\n",
        report.topics,
        if report.derived_topics { "derived by k-means" } else { "from the labels" },
        options.queries.min(data.queries.len() / dimension),
        options.k
    );
    print!("{}", report.table());
    let csv = args.out.join("sim.csv");
    let svg = args.out.join("sim.svg");
    std::fs::write(&csv, report.csv()).map_err(|e| format!("cannot write {}: {e}", csv.display()))?;
    std::fs::write(&svg, report.svg()).map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
    println!("\nwrote {} and {}", csv.display(), svg.display());
    Ok(())
}

fn vectors(path: &Path) -> Result<(usize, Vec<f32>), String> {
    let columns = ArrowColumns::default();
    let source = input::open_source(path, Format::resolve(None, path)?, 65_536, &columns)?;
    let dimension = source.dimension;
    Ok((dimension, input::all_vectors(source, &columns)?))
}

/// One label per base row: the lines of `path`, or with `column` the cells of that
/// column of a TSV with a header.
fn labels(path: &Path, column: Option<&str>, rows: usize) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    let labels: Vec<String> = match column {
        None => lines.map(str::to_owned).collect(),
        Some(name) => {
            let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
            let at = header
                .iter()
                .position(|h| h.split(':').next() == Some(name))
                .ok_or_else(|| format!("{} has no column {name:?} (it has: {})", path.display(), header.join(", ")))?;
            lines
                .enumerate()
                .map(|(i, line)| {
                    line.split('\t').nth(at).map(str::to_owned).ok_or_else(|| format!("{} line {}: no cell in column {name:?}", path.display(), i + 2))
                })
                .collect::<Result<_, _>>()?
        }
    };
    if labels.len() != rows {
        return Err(format!("{} has {} labels for {rows} base rows; one a row is needed", path.display(), labels.len()));
    }
    Ok(labels)
}
