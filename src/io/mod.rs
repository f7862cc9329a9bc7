//! The one file-I/O seam of drift.
//!
//! Every byte drift reads or writes goes through a [`FileSystem`] and the
//! [`FileHandle`]s it opens: the WAL, shard files, the manifest and the lock. The real
//! implementation ([`RealFileSystem`]) is a thin layer over `std::fs`; tests swap in
//! `FaultInjectingFileSystem` (feature `unstable`) to make fsync fail, return ENOSPC or short-write without
//! mocking the engine, and `CrashSimulatingFileSystem` to journal every mutation and
//! build the disk images a power loss could leave.
//!
//! Invariants:
//! - `rename` is called only by [`durable_replace`], the single helper for atomically
//!   replacing a file (temp file → fsync → rename → fsync directory).
//! - Read-only memory maps are made only through [`FileHandle::map_readonly`], which
//!   returns an [`MmapView`]; all casting of mapped bytes lives in `mmap.rs`.

#[cfg(feature = "unstable")]
mod crash;
#[cfg(feature = "unstable")]
mod fault;
mod mmap;
mod real;
mod replace;

use std::any::Any;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "unstable")]
pub use crash::{CrashSimulatingFileSystem, Journal, LossPolicy};
#[cfg(feature = "unstable")]
pub use fault::{FaultInjectingFileSystem, FaultPlan};
pub use mmap::{MmapView, as_bytes, as_bytes_mut};
pub use real::RealFileSystem;
pub use replace::{durable_replace, durable_replace_sparse, durable_replace_with, ReplaceStage};

/// How [`FileSystem::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing file, read only.
    Read,
    /// Existing file, read and write.
    ReadWrite,
    /// New file, read and write; fails if it exists.
    CreateNew,
    /// Create or truncate, read and write.
    CreateTruncate,
}

/// An open file. Positioned I/O only, so one handle serves many threads.
pub trait FileHandle: Send + Sync + fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset` (error `UnexpectedEof` if short).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: data (and the size, if it changed) reach stable storage.
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing the file's dirty pages back without waiting (a hint that makes a
    /// later [`FileHandle::sync_data`] shorter; it makes nothing durable by itself).
    fn start_writeback(&self) {}
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Maps the first `len` bytes read-only.
    fn map_readonly(&self, len: u64) -> io::Result<MmapView>;
}

/// The file operations drift performs on a directory tree.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Opens `path` in `mode`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>>;
    /// Creates `path` and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The entries of a directory (full paths), in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to`. Only [`durable_replace`] calls this.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `fsync`s a directory so that entries created, renamed or removed in it persist.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates `to` as a hard link to `from` (checkpoints share immutable files this way).
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }
    /// Takes an exclusive advisory lock on `path` (created if missing) without
    /// waiting. `Ok(None)` when someone else holds it. The lock is held until the
    /// returned guard is dropped.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>>;
}
