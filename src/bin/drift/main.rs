//! `drift`: the command-line tool of the drift vector storage engine.
//!
//! ```text
//! drift demo                                  build a collection from the bundled dataset, print recall and speed
//! drift create  <DB> <COLLECTION> --dim N     create a collection
//! drift import  <DB> <COLLECTION> <FILE>      load fvecs / bvecs / .npy / Arrow IPC / Parquet
//! drift search  <DB> <COLLECTION> [FILE|-]    nearest neighbours of query vectors (table or --json;
//!                                             --filter 'lang == "en"', --explain)
//! drift stats   <DB>                          collections, rows, files, index
//! drift verify  <DB>                          every checksum and cross-reference; exit 0 = healthy
//! drift compact <DB> [COLLECTION]             drop deleted rows, rebalance the index
//! drift export  <DB> <COLLECTION> <FILE>      write postings to fvecs / .npy / Arrow IPC / Parquet
//! ```
//!
//! Exit codes: 0 success (for `verify`: healthy), 1 failure (for `verify`: problems
//! found), 2 usage error or, for `verify`, the check could not run.

mod commands;
mod demo;
mod input;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "drift", version, about = "drift: an embeddable, durable, memory-mapped vector store", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Distance metric of a new collection.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MetricArg {
    /// Squared Euclidean distance.
    L2,
    /// Negative inner product.
    Ip,
    /// Cosine distance (vectors normalised on write).
    Cosine,
}

impl From<MetricArg> for drift::Metric {
    fn from(m: MetricArg) -> Self {
        match m {
            MetricArg::L2 => drift::Metric::L2,
            MetricArg::Ip => drift::Metric::InnerProduct,
            MetricArg::Cosine => drift::Metric::Cosine,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Build a collection from the bundled real dataset (10,000 MiniLM embeddings of
    /// Debian package descriptions), then print recall@10, queries/s, an example
    /// search and where the files went.
    Demo {
        /// Where to create the demo database (replaced if it is a previous demo's).
        #[arg(long, default_value = "drift-demo")]
        dir: PathBuf,
    },
    /// Create a collection (and the database directory, if needed).
    Create {
        /// Database directory.
        db: PathBuf,
        /// Collection name: 1–255 characters of [A-Za-z0-9_.-].
        collection: String,
        /// Vector dimension.
        #[arg(long)]
        dim: usize,
        /// Distance metric.
        #[arg(long, value_enum, default_value = "l2")]
        metric: MetricArg,
        /// A typed attribute of the postings, `name:type` (type: u64, i64, f64, bool,
        /// string, tags, timestamp); repeat for several. Filters (`drift search
        /// --filter`) test them; more can be added later by an import's TSV header.
        #[arg(long = "attribute", value_name = "NAME:TYPE")]
        attributes: Vec<String>,
    },
    /// Load vectors from fvecs, bvecs, .npy, Arrow IPC or Parquet files.
    ///
    /// fvecs/bvecs/.npy rows get document ids first-id, first-id+1, ... Arrow and
    /// Parquet rows take theirs from the id column (UInt64/Int64 or 16-byte binary),
    /// with optional start/length span columns.
    Import(commands::ImportArgs),
    /// Find the nearest neighbours of query vectors read from a file or stdin.
    Search(commands::SearchArgs),
    /// Show collections, rows, files and index state.
    Stats {
        /// Database directory.
        db: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Read every checksum and cross-reference without changing anything. Exit code 0:
    /// healthy; 1: problems found (each with file and offset); 2: could not verify.
    Verify {
        /// Database directory.
        db: PathBuf,
    },
    /// Remove deleted rows from shard files and rebalance the centroid index.
    Compact {
        /// Database directory.
        db: PathBuf,
        /// Only this collection (default: all).
        collection: Option<String>,
    },
    /// Write a collection's postings to a file (format from the extension).
    Export(commands::ExportArgs),
    /// Write a consistent, openable copy of a database into a new directory: sealed
    /// shard files are hard-linked (time grows with the number of files, not bytes).
    Backup {
        /// Database directory to copy (not open in another process).
        src: PathBuf,
        /// Where the copy goes (must not exist, or be empty).
        dst: PathBuf,
    },
    /// Replay a dataset as a stream whose topics move (phases of new topics, deletes,
    /// re-embedded documents) and compare the index at each checkpoint with a fresh
    /// rebuild: recall, queries/s, list sizes, disk, CPU, latency. Writes a CSV and an
    /// SVG plot.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    // Die quietly, as other Unix tools do, when the reader of stdout goes away
    // (`drift search ... | head`); Rust's default is to ignore SIGPIPE and panic on the
    // next print. Every drift write is crash-safe, so dying here loses nothing.
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo { dir } => demo::run(&dir),
        Command::Create { db, collection, dim, metric, attributes } => commands::create(&db, &collection, dim, metric.into(), &attributes),
        Command::Import(args) => commands::import(&args),
        Command::Search(args) => commands::search(&args),
        Command::Stats { db, json } => commands::stats(&db, json),
        Command::Verify { db } => return commands::verify(&db),
        Command::Compact { db, collection } => commands::compact(&db, collection.as_deref()),
        Command::Export(args) => commands::export(&args),
        Command::Backup { src, dst } => commands::backup(&src, &dst),
        Command::Sim(args) => sim::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
