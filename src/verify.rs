//! Offline verification of a closed database directory: every checksum and
//! cross-reference, without changing a byte.
//!
//! [`Database::open`](crate::Database::open) *repairs* what a crash leaves behind
//! (truncates torn WAL tails and uncommitted shard bytes, removes unreferenced files).
//! [`verify_path`] instead only reads, so it can inspect a database as the crash left
//! it, or one copied off a failing disk.
//!
//! What it checks, in order:
//! 1. the manifest: header, versions, length, body CRC32C and the body's structure;
//! 2. for each collection, each shard file the manifest names: present, at least the
//!    committed length, header identity (collection, shard id, dimension, centroid),
//!    footer, row-group index and bloom filter, then every row group's body CRC, hot
//!    section CRC and per-vector CRC;
//! 3. the centroid index: every shard's centroid exists and no centroid id is named
//!    twice;
//! 4. the WAL after the checkpoint: segment headers, the segment chain and every
//!    record's CRC.
//!
//! Invariants:
//! - **Read-only.** Files are opened for reading (WAL segments are opened read-write by
//!   the shared segment scanner but never written); nothing is created, truncated,
//!   renamed or removed. The `LOCK` file is locked only if it exists.
//! - A **problem** is damage: recovery would refuse the database or lose data. A
//!   **note** is a normal leftover of a crash that the next open repairs by itself
//!   (a torn WAL tail, uncommitted shard bytes, unreferenced files). Only problems
//!   make a database unhealthy.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::{FileSystem, OpenMode, RealFileSystem};
use crate::storage::manifest::{self, Manifest};
use crate::storage::shard_file::{self, ShardHeader, ShardReader};
use crate::storage::shard_file::NO_CENTROID;
use crate::wal::replay;

/// What [`verify_path`] found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Damage, each with its file and offset. Empty = healthy.
    pub problems: Vec<Error>,
    /// Leftovers of a crash that the next open repairs; not damage.
    pub notes: Vec<String>,
    /// Shard files read end to end.
    pub shard_files: usize,
    /// Bytes of shard files whose checksums were read.
    pub shard_bytes: u64,
    /// Rows in those files.
    pub rows: u64,
    /// WAL records after the checkpoint whose checksums were read.
    pub wal_records: u64,
    /// Collections in the manifest.
    pub collections: usize,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the database at `path` without opening it for writing.
///
/// Returns `Err` only when verification cannot run: the directory does not exist or
/// holds no database, or another process has the database open (its files are
/// changing). Damage is reported in [`VerifyReport::problems`].
///
/// ```
/// # fn main() -> drift::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
/// db.create_collection("docs", 2, drift::Metric::L2)?.add(&[drift::Posting::new(1u64, &[1.0, 2.0])])?;
/// db.close()?;
/// let report = drift::verify_path(dir.path())?;
/// assert!(report.is_healthy(), "{:?}", report.problems);
/// # Ok(()) }
/// ```
pub fn verify_path(path: impl AsRef<Path>) -> Result<VerifyReport> {
    let fs = RealFileSystem;
    let path = path.as_ref();
    let manifest_path = path.join(manifest::FILE_NAME);
    if !fs.exists(path) {
        return Err(Error::invalid(format!("{} does not exist", path.display())));
    }
    if !fs.exists(&manifest_path) {
        return Err(Error::invalid(format!("{} holds no drift database (no MANIFEST file)", path.display())));
    }
    let lock_path = path.join("LOCK");
    let _lock = if fs.exists(&lock_path) {
        Some(
            fs.try_lock(&lock_path)
                .map_err(|e| Error::io("lock database", &lock_path, e))?
                .ok_or_else(|| Error::Locked { path: lock_path.clone() })?,
        )
    } else {
        None
    };

    let mut report = VerifyReport::default();
    let manifest = match crate::db::read_manifest(&fs, &manifest_path) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(e);
            return Ok(report);
        }
    };
    report.collections = manifest.collections.len();
    if fs.exists(&manifest_path.with_extension("tmp")) {
        report.notes.push(format!("{} is a manifest write cut by a crash; the next open removes it", manifest_path.with_extension("tmp").display()));
    }

    let shards_dir = path.join("shards");
    let mut referenced = HashSet::new();
    for record in &manifest.collections {
        let centroid_ids: HashSet<u32> = record.centroids.iter().map(|c| c.id).collect();
        if centroid_ids.len() != record.centroids.len() {
            report.problems.push(Error::corrupt(&manifest_path, 0, format!("collection {:?} names a centroid id twice", record.name)));
        }
        for s in &record.shards {
            let file_path = shard_file::shard_path(&shards_dir, record.id, s.shard_id);
            referenced.insert(file_path.clone());
            if s.centroid_id != NO_CENTROID && !centroid_ids.contains(&s.centroid_id) {
                report.problems.push(Error::corrupt(
                    &manifest_path,
                    0,
                    format!("collection {:?}: shard {} names centroid {} which the manifest does not hold", record.name, s.shard_id, s.centroid_id),
                ));
            }
            if !fs.exists(&file_path) && s.sealed && fs.exists(&shard_file::evicted_path(&file_path)) {
                report.notes.push(format!(
                    "{}: evicted to the S3 tier (its metadata stub is here); its bytes are checked when a search fetches them back",
                    file_path.display()
                ));
                continue;
            }
            if !fs.exists(&file_path) {
                report.problems.push(Error::corrupt(&file_path, 0, format!("collection {:?}: the manifest names this shard file but it is missing", record.name)));
                continue;
            }
            let len = fs.open(&file_path, OpenMode::Read).and_then(|f| f.len()).map_err(|e| Error::io("stat shard file", &file_path, e));
            match len {
                Ok(len) if len > s.committed_len && !s.sealed => report.notes.push(format!(
                    "{}: {} bytes past the committed length {} (a flush cut by a crash; the next open truncates them)",
                    file_path.display(),
                    len - s.committed_len,
                    s.committed_len
                )),
                Ok(_) => {}
                Err(e) => {
                    report.problems.push(e);
                    continue;
                }
            }
            let identity = ShardHeader::of(record, s);
            match ShardReader::open(&fs, &file_path, s, &identity, crate::options::VectorReads::Mapped) {
                Ok(reader) => {
                    report.shard_files += 1;
                    report.shard_bytes += s.committed_len;
                    report.rows += s.row_count;
                    report.problems.extend(reader.verify());
                }
                Err(e) => report.problems.push(e),
            }
        }
    }
    match fs.read_dir(&shards_dir) {
        Ok(files) => {
            for file in files {
                let ours = shard_file::parse_shard_name(&file).is_some() || file.extension().is_some_and(|e| e == "tmp");
                if ours && !referenced.contains(&file) {
                    report.notes.push(format!("{}: no manifest names this file (written by work a crash cut short); the next open removes it", file.display()));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => report.problems.push(Error::io("list shards", &shards_dir, e)),
    }

    verify_wal(&fs, &path.join("wal"), &manifest, &mut report);
    Ok(report)
}

fn verify_wal(fs: &dyn FileSystem, wal_dir: &Path, manifest: &Manifest, report: &mut VerifyReport) {
    if !fs.exists(wal_dir) {
        return;
    }
    let segments = match replay::find_segments(fs, wal_dir) {
        Ok(s) => s,
        Err(e) => {
            report.problems.push(e);
            return;
        }
    };
    match replay::replay(segments, manifest.checkpoint_lsn, |_, _| Ok(())) {
        Ok(outcome) => {
            report.wal_records = outcome.records_replayed;
            if outcome.torn_bytes > 0 {
                report.notes.push(format!(
                    "{}: a damaged record of {} bytes at the end of the WAL, after no clean close: most likely a write cut by a crash before it was acknowledged, but damage to the last acknowledged write looks the same, and that write would be lost; the next open discards it",
                    wal_dir.display(),
                    outcome.torn_bytes
                ));
            }
            for path in &outcome.discarded {
                report.notes.push(format!(
                    "{}: damaged, but older than the log's start (a recycled segment); the next open replaces it",
                    path.display()
                ));
            }
        }
        Err(e) => report.problems.push(e),
    }
}
