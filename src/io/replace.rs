//! The one durable-replace helper: the only caller of `FileSystem::rename`.
//!
//! Order, and why:
//! 1. write the new contents to `<name>.tmp` in the same directory (same file system,
//!    so the rename is atomic);
//! 2. `fdatasync` the temp file — its bytes are on stable storage before any name
//!    points at them;
//! 3. rename over the target — readers see the old or the new file, never a mix;
//! 4. `fsync` the directory — the rename itself survives power loss.
//!
//! A failure before step 3 leaves the old file in place (the temp file is removed
//! best-effort and again at the next open). A failure of step 4 leaves it unknown
//! whether the rename is durable: the caller must treat it as fatal (poison).

use std::path::Path;

use super::{FileSystem, OpenMode};
use crate::error::Error;

/// Where in the replace a failure happened; `AfterRename` means the outcome on disk is
/// unknown until the next successful directory sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceStage {
    /// Nothing visible changed.
    BeforeRename,
    /// An fsync failed before the rename: nothing visible changed, but the device
    /// reported a write failure (callers poison).
    SyncFailed,
    /// The rename happened but its durability is unknown.
    AfterRename,
}

/// Atomically and durably replaces `target` with `contents`.
///
/// Returns the error together with the stage it happened in.
pub fn durable_replace(fs: &dyn FileSystem, target: &Path, contents: &[u8]) -> std::result::Result<(), (Error, ReplaceStage)> {
    durable_replace_sparse(fs, target, contents.len() as u64, &[(0, contents)])
}

/// [`durable_replace`] with a file of `len` bytes holding `pieces` (offset, bytes) and
/// zeros elsewhere, left as holes where the file system supports them.
pub fn durable_replace_sparse(
    fs: &dyn FileSystem,
    target: &Path,
    len: u64,
    pieces: &[(u64, &[u8])],
) -> std::result::Result<(), (Error, ReplaceStage)> {
    durable_replace_with(fs, target, |file| {
        let written = pieces.iter().map(|(o, b)| o + b.len() as u64).max().unwrap_or(0);
        if written < len {
            file.set_len(len)?;
        }
        for (offset, bytes) in pieces {
            file.write_all_at(bytes, *offset)?;
        }
        Ok(())
    })
}

/// [`durable_replace`] with the contents written by `write` into the temp file.
pub fn durable_replace_with(
    fs: &dyn FileSystem,
    target: &Path,
    write: impl FnOnce(&dyn super::FileHandle) -> std::io::Result<()>,
) -> std::result::Result<(), (Error, ReplaceStage)> {
    let tmp = target.with_extension("tmp");
    let before = |operation: &'static str, e| (Error::io(operation, &tmp, e), ReplaceStage::BeforeRename);
    let result = (|| {
        let file = fs.open(&tmp, OpenMode::CreateTruncate).map_err(|e| before("create temp file", e))?;
        write(file.as_ref()).map_err(|e| before("write temp file", e))?;
        file.sync_data().map_err(|e| (Error::io("fsync temp file", &tmp, e), ReplaceStage::SyncFailed))?;
        drop(file);
        fs.rename(&tmp, target).map_err(|e| before("rename temp file", e))
    })();
    if let Err(e) = result {
        let _ = fs.remove_file(&tmp);
        return Err(e);
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    fs.sync_dir(dir)
        .map_err(|e| (Error::io("fsync directory after rename", dir, e), ReplaceStage::AfterRename))
}
