//! [`FaultInjectingFileSystem`]: the real file system with switchable failures.
//!
//! Tests hold the [`FaultPlan`] and flip faults on and off while the engine runs:
//! fsync failure (EIO) from now on or after N more syncs, and ENOSPC on writes to paths
//! containing a fragment (`"shards"`, `"wal"`, `"MANIFEST"`). Nothing is mocked: every
//! operation that is not failed goes to the real file system.

use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::{FileHandle, FileSystem, MmapView, OpenMode, RealFileSystem};

/// The switchboard of injected faults. All switches start off.
#[derive(Debug)]
pub struct FaultPlan {
    fail_all_syncs: AtomicBool,
    syncs_until_failure: AtomicI64,
    no_space_fragment: Mutex<Option<String>>,
    syncs: AtomicU64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            fail_all_syncs: AtomicBool::new(false),
            syncs_until_failure: AtomicI64::new(-1),
            no_space_fragment: Mutex::new(None),
            syncs: AtomicU64::new(0),
        }
    }
}

impl FaultPlan {
    /// Every later `fdatasync`/directory sync fails with EIO (until [`Self::clear`]).
    pub fn fail_syncs(&self) {
        self.fail_all_syncs.store(true, Ordering::SeqCst);
    }

    /// The sync after `n` more successful ones fails with EIO, once.
    pub fn fail_sync_after(&self, n: u32) {
        self.syncs_until_failure.store(i64::from(n), Ordering::SeqCst);
    }

    /// Writes to any path containing `fragment` fail with ENOSPC.
    pub fn no_space_on(&self, fragment: &str) {
        *self.no_space_fragment.lock() = Some(fragment.to_owned());
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.fail_all_syncs.store(false, Ordering::SeqCst);
        self.syncs_until_failure.store(-1, Ordering::SeqCst);
        *self.no_space_fragment.lock() = None;
    }

    /// Number of syncs attempted so far (failed ones included).
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    fn check_sync(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        if self.fail_all_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let left = self.syncs_until_failure.load(Ordering::SeqCst);
        if left >= 0 {
            if left == 0 {
                self.syncs_until_failure.store(-1, Ordering::SeqCst);
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            self.syncs_until_failure.store(left - 1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn check_write(&self, path: &Path) -> io::Result<()> {
        if let Some(fragment) = self.no_space_fragment.lock().as_deref()
            && path.to_string_lossy().contains(fragment) {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        Ok(())
    }
}

/// A [`FileSystem`] that forwards to the real one unless its [`FaultPlan`] says fail.
#[derive(Debug, Clone, Default)]
pub struct FaultInjectingFileSystem {
    plan: Arc<FaultPlan>,
}

impl FaultInjectingFileSystem {
    /// A new file system with every fault off.
    pub fn new() -> Self {
        Self::default()
    }

    /// The switchboard, shared with every file this file system opened.
    pub fn plan(&self) -> Arc<FaultPlan> {
        self.plan.clone()
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn FileHandle>,
    path: PathBuf,
    plan: Arc<FaultPlan>,
}

impl FileHandle for FaultyFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.plan.check_write(&self.path)?;
        self.inner.write_all_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.plan.check_sync()?;
        self.inner.sync_data()
    }

    fn start_writeback(&self) {
        self.inner.start_writeback()
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > self.inner.len()? {
            self.plan.check_write(&self.path)?;
        }
        self.inner.set_len(len)
    }

    fn map_readonly(&self, len: u64) -> io::Result<MmapView> {
        self.inner.map_readonly(len)
    }
}

impl FileSystem for FaultInjectingFileSystem {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>> {
        if matches!(mode, OpenMode::CreateNew | OpenMode::CreateTruncate) {
            self.plan.check_write(path)?;
        }
        let inner = RealFileSystem.open(path, mode)?;
        Ok(Arc::new(FaultyFile { inner, path: path.to_owned(), plan: self.plan.clone() }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        RealFileSystem.create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        RealFileSystem.read_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        RealFileSystem.exists(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFileSystem.remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.plan.check_write(to)?;
        RealFileSystem.rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.plan.check_sync()?;
        RealFileSystem.sync_dir(path)
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        RealFileSystem.try_lock(path)
    }
}
