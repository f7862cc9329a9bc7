//! drift's integration tests, one module per behaviour, linked into one test binary
//! (one link of the crate and its dependencies instead of one per file).
//!
//! Tests that run a child process (`crash_kill9`, `s3_tier`) start this same binary
//! with `--exact <module>::<test>`; the datasets under `../shared/datasets/` are optional
//! (a test that needs one says "skipped: dataset not found" without it).

mod common;

mod api_basics;
#[cfg(feature = "arrow")]
mod arrow_record_batch;
mod c_header;
mod centroid_index;
#[cfg(feature = "cli")]
mod cli;
mod concurrent_search;
mod corruption;
mod crash_kill9;
mod drift_sim;
mod engine_core;
mod fault_injection;
mod filtering;
mod format_doc;
mod format_fixtures;
mod fuzz_decoders;
#[cfg(feature = "s3")]
mod power_loss;
mod s3_fencing;
mod s3_tier;
mod soak;
mod vector_reads;
mod wal_group_commit;
mod wal_recovery;
mod zero_copy_search;
