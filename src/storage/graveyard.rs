//! Files of retired shards, waiting to be deleted.
//!
//! An edit that replaces shards retires their readers; a reader's file may only go
//! when no version — so no search or snapshot — references the reader any more. The
//! last holder is often a search that started before the edit, and deleting the file
//! there put an `unlink` (tens to hundreds of microseconds, more while the journal is
//! busy) on the search path: `drift sim` measured search p99 under maintenance at
//! 3–4× idle, and 1.2–2× with the deletes moved off it. So a retired reader's drop only
//! *buries* its path here (a push under a mutex), and the writers' side deletes what
//! is buried: after every edit, every `flush` / `maintain` call, each wake of the
//! background flusher, and when the last holder of the graveyard goes (database close).
//!
//! Invariant: a buried path is never named by the manifest in force (it was retired by
//! an edit that published a manifest without it), so deleting it late is safe; a crash
//! before it is deleted leaves an orphan that the next open removes.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::io::FileSystem;

/// Paths of retired shard files no reader references any more.
pub(crate) struct Graveyard {
    fs: Arc<dyn FileSystem>,
    buried: Mutex<Vec<PathBuf>>,
}

impl Graveyard {
    pub fn new(fs: Arc<dyn FileSystem>) -> Arc<Graveyard> {
        Arc::new(Graveyard { fs, buried: Mutex::new(Vec::new()) })
    }

    /// Records that `path` (a retired shard file) can be deleted.
    pub fn bury(&self, path: PathBuf) {
        self.buried.lock().push(path);
    }

    /// Deletes every buried file (and the stub of an evicted one); returns how many.
    /// A failure leaves an orphan that the next open removes.
    pub fn clear(&self) -> usize {
        let paths = std::mem::take(&mut *self.buried.lock());
        for path in &paths {
            let _ = self.fs.remove_file(path);
            let _ = self.fs.remove_file(&super::shard_file::evicted_path(path));
        }
        paths.len()
    }
}

impl Drop for Graveyard {
    fn drop(&mut self) {
        self.clear();
    }
}

impl std::fmt::Debug for Graveyard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graveyard").field("buried", &self.buried.lock().len()).finish_non_exhaustive()
    }
}
