//! Checkpoints: a consistent, openable copy of a whole database, made in time
//! proportional to the number of files rather than their bytes.
//!
//! Steps, under the maintenance lock (no flush, compaction or index step changes a
//! file meanwhile; writes go on into the WAL and memtables):
//! 1. flush, so every write acknowledged before the call is in shard files and the
//!    manifest in force names them (a replica, which cannot flush, copies the
//!    generation it serves);
//! 2. **seal** every open shard (footer, fsync, one edit publishing them sealed): a
//!    sealed file is immutable — never appended to again, only replaced by new files —
//!    so it can be shared; an open one could not (a later append by either database
//!    would land in the other's file, and either's open would truncate the other's
//!    bytes). The next flush starts new shards for those lists; index maintenance
//!    consolidates them as usual;
//! 3. create `<dst>/shards` and `<dst>/wal` and **hard-link** every shard file (a copy
//!    only where linking fails, e.g. across file systems); an evicted shard of the S3
//!    tier is fetched back first; fsync each copy;
//! 4. fsync `<dst>/shards`, then write `<dst>/MANIFEST` (durable replace) naming the
//!    same generation, checkpoint LSN and files, then fsync `<dst>`.
//!
//! The manifest is written last, so a checkpoint cut short (a crash, a full disk) is
//! a directory without one, which `Database::open` refuses with a clear error rather
//! than opening half a copy. The source is only read (and flushed, which is crash-safe
//! on its own). The copy has an empty WAL: it opens at the manifest's checkpoint LSN,
//! holds no `LOCK` and no S3 tier identity (`TIER`) — it is a plain local database.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::draft::ShardDraft;
use super::flush;
use crate::engine::collection_core::Install;
use crate::engine::version_set::{Edit, VersionSet};
use crate::error::{Error, Result};
use crate::io::{OpenMode, durable_replace};
use crate::storage::manifest;
use crate::storage::shard_file;

/// What [`crate::Database::checkpoint`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// Open shards sealed first (so that they could be shared).
    pub shards_sealed: usize,
    /// Sealed shard files hard-linked into the checkpoint.
    pub files_linked: usize,
    /// Open shard files whose committed bytes were copied.
    pub files_copied: usize,
    /// Bytes copied (open shards only).
    pub bytes_copied: u64,
    /// Manifest generation the checkpoint holds.
    pub generation: u64,
    /// Every WAL record at or below this LSN is in the checkpoint.
    pub checkpoint_lsn: u64,
    /// Wall time, flush included, in microseconds.
    pub micros: u64,
}

pub(crate) fn checkpoint(vs: &VersionSet, dst: &Path) -> Result<CheckpointReport> {
    let started = Instant::now();
    let fs = vs.fs.as_ref();
    if dst.as_os_str().is_empty() {
        return Err(Error::invalid("checkpoint directory path is empty"));
    }
    if fs.exists(dst) && fs.read_dir(dst).map(|e| !e.is_empty()).unwrap_or(true) {
        return Err(Error::invalid(format!("checkpoint directory {} exists and is not empty", dst.display())));
    }
    let _m = vs.maintenance.lock();
    let mut report_sealed = 0;
    if vs.read_only.is_none() {
        flush::flush_locked(vs)?;
        report_sealed = seal_open_shards(vs)?;
    }
    let manifest = vs.draft();
    let (shards_dst, wal_dst) = (dst.join("shards"), dst.join("wal"));
    for dir in [&shards_dst, &wal_dst] {
        fs.create_dir_all(dir).map_err(|e| Error::io("create checkpoint directory", dir, e))?;
    }
    let mut report = CheckpointReport {
        generation: manifest.generation,
        checkpoint_lsn: manifest.checkpoint_lsn,
        shards_sealed: report_sealed,
        ..Default::default()
    };
    let src_dir = vs.shards_dir();
    for record in &manifest.collections {
        let readers = vs.by_id(record.id).map(|c| c.version().shards.clone());
        for s in &record.shards {
            let from = shard_file::shard_path(&src_dir, record.id, s.shard_id);
            let to = shard_file::shard_path(&shards_dst, record.id, s.shard_id);
            if !fs.exists(&from) {
                // Evicted to the S3 tier: mapping the reader fetches the file back.
                let reader = readers.as_ref().and_then(|r| r.iter().find(|r| r.header.shard_id == s.shard_id).cloned());
                match reader {
                    Some(r) => drop(r.mapped()?),
                    None => return Err(Error::corrupt(&from, 0, "the manifest names a shard file that is missing")),
                }
            }
            if s.sealed && fs.hard_link(&from, &to).is_ok() {
                report.files_linked += 1;
                continue;
            }
            // A replica's open shards (it cannot seal them) and files on another file
            // system are copied.
            report.bytes_copied += copy_prefix(vs, &from, &to, s.committed_len)?;
            report.files_copied += 1;
        }
    }
    fs.sync_dir(&shards_dst).map_err(|e| Error::io("fsync checkpoint shards directory", &shards_dst, e))?;
    fs.sync_dir(&wal_dst).map_err(|e| Error::io("fsync checkpoint WAL directory", &wal_dst, e))?;
    let target = dst.join(manifest::FILE_NAME);
    durable_replace(fs, &target, &manifest.encode()).map_err(|(e, _)| e)?;
    report.micros = started.elapsed().as_micros() as u64;
    Ok(report)
}

/// Seals every open shard of every collection, as one edit; returns how many.
fn seal_open_shards(vs: &VersionSet) -> Result<usize> {
    let mut edit = Edit::new(vs.draft());
    let mut sealed = 0;
    for c in vs.collections() {
        let v = c.version();
        if v.shards.iter().all(|s| s.sealed) {
            continue;
        }
        let Some(record) = edit.manifest.collection_mut(c.id) else { continue };
        let mut readers = Vec::with_capacity(v.shards.len());
        for reader in v.shards.iter() {
            if reader.sealed {
                readers.push(reader.clone());
                continue;
            }
            let mut draft = ShardDraft::resume(vs, reader)?;
            draft.seal()?;
            draft.sync(vs)?;
            let entry = draft.record();
            if let Some(existing) = record.shards.iter_mut().find(|s| s.shard_id == entry.shard_id) {
                *existing = entry;
            }
            readers.push(draft.open_reader(vs)?);
            sealed += 1;
        }
        edit.installs.push((c.clone(), Install { shards: Some(readers), ..Install::default() }));
    }
    if sealed > 0 {
        vs.apply(edit)?;
    }
    Ok(sealed)
}

/// Copies the first `len` bytes of `from` into a new file `to` and fsyncs it.
fn copy_prefix(vs: &VersionSet, from: &Path, to: &PathBuf, len: u64) -> Result<u64> {
    let fs = vs.fs.as_ref();
    let src = fs.open(from, OpenMode::Read).map_err(|e| Error::io("open shard file", from, e))?;
    let out = fs.open(to, OpenMode::CreateNew).map_err(|e| Error::io("create checkpoint shard file", to, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < len {
        let n = ((len - offset) as usize).min(buf.len());
        src.read_exact_at(&mut buf[..n], offset).map_err(|e| Error::io("read shard file", from, e))?;
        out.write_all_at(&buf[..n], offset).map_err(|e| Error::io("write checkpoint shard file", to, e))?;
        offset += n as u64;
    }
    out.sync_data().map_err(|e| Error::io("fsync checkpoint shard file", to, e))?;
    Ok(len)
}
