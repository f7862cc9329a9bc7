//! [`CrashSimulatingFileSystem`]: the real file system plus a journal of every
//! mutation, from which the disk images a power loss could leave are built.
//!
//! Every operation goes to the real file system (so the engine runs normally, maps
//! included); each mutation — create, write, set_len, fdatasync, rename, remove, link,
//! directory fsync — is also appended to a [`Journal`]. [`Journal::image`] rebuilds,
//! for any prefix of the journal, a directory tree a power loss at that moment could
//! have left, under a [`LossPolicy`]:
//!
//! - **data**: a file's bytes are those of its last `fdatasync`, plus, for each 4 KiB
//!   page written since, the page as it was after some prefix of the writes to it
//!   (page cache write-back takes snapshots of whole pages), optionally torn: only the
//!   first sectors (512 bytes each) of that snapshot reached the disk;
//! - **names**: entries created, renamed, linked or removed in a directory since its
//!   last `fsync` persist as a prefix of those operations, in order (journaling file
//!   systems commit metadata in order); a file's size follows its written bytes.
//!
//! Directories themselves (`create_dir_all`) are taken as durable when created, and
//! nothing is read back through the journal: it only records.
//!
//! Invariant: `image(n, LossPolicy::KeepAll)` equals the real tree after `n` mutations
//! (what `kill -9` leaves); `image(n, LossPolicy::DropUnsynced)` holds only what was
//! made durable by then.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileHandle, FileSystem, MmapView, OpenMode, RealFileSystem};

const PAGE: u64 = 4096;
const SECTOR: u64 = 512;

/// Identity of a file (an inode): names come and go, the bytes stay with it.
type FileId = u64;

/// One mutation, as recorded.
#[derive(Debug, Clone)]
enum Mutation {
    /// A new, empty file under `path` (replacing whatever the name pointed at).
    Create { file: FileId, path: PathBuf },
    Write { file: FileId, offset: u64, bytes: Vec<u8> },
    SetLen { file: FileId, len: u64 },
    Sync { file: FileId },
    Rename { from: PathBuf, to: PathBuf },
    Remove { path: PathBuf },
    Link { from: PathBuf, to: PathBuf },
    SyncDir { dir: PathBuf },
}

/// How much of what was not made durable an image keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossPolicy {
    /// Nothing unsynced survives: only `fdatasync`ed bytes and `fsync`ed names.
    DropUnsynced,
    /// Everything survives (what `kill -9` leaves).
    KeepAll,
    /// A random legal mix, from this seed: per page a prefix of its writes (maybe torn
    /// at a sector), per directory a prefix of its name operations.
    Random(u64),
}

/// The recorded mutations, in order.
#[derive(Debug, Default)]
pub struct Journal {
    mutations: Vec<Mutation>,
    /// Current name → file, to resolve the paths later mutations use.
    names: HashMap<PathBuf, FileId>,
    next_file: FileId,
}

impl Journal {
    /// Number of mutations recorded so far (a crash point is any `0..=len()`).
    pub fn len(&self) -> usize {
        self.mutations.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.mutations.is_empty()
    }

    fn record(&mut self, m: Mutation) {
        match &m {
            Mutation::Create { file, path } => {
                self.names.insert(path.clone(), *file);
            }
            Mutation::Rename { from, to } => {
                if let Some(f) = self.names.remove(from) {
                    self.names.insert(to.clone(), f);
                }
            }
            Mutation::Remove { path } => {
                self.names.remove(path);
            }
            Mutation::Link { from, to } => {
                if let Some(f) = self.names.get(from).copied() {
                    self.names.insert(to.clone(), f);
                }
            }
            _ => {}
        }
        self.mutations.push(m);
    }

    fn new_file(&mut self) -> FileId {
        self.next_file += 1;
        self.next_file
    }

    /// The files (path relative to the journal's root → bytes) a power loss after the
    /// first `crash_point` mutations could leave, under `policy`.
    pub fn image(&self, root: &Path, crash_point: usize, policy: LossPolicy) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut rng = SplitMix(match policy {
            LossPolicy::Random(seed) => seed,
            _ => 0,
        });
        let mut files: HashMap<FileId, FileState> = HashMap::new();
        let mut durable_names: BTreeMap<PathBuf, FileId> = BTreeMap::new();
        let mut pending_names: Vec<(PathBuf, Mutation)> = Vec::new();
        for m in &self.mutations[..crash_point.min(self.mutations.len())] {
            match m {
                Mutation::Create { file, path } => {
                    files.insert(*file, FileState::default());
                    pending_names.push((parent(path), m.clone()));
                }
                Mutation::Write { file, offset, bytes } => files.entry(*file).or_default().write(*offset, bytes),
                Mutation::SetLen { file, len } => files.entry(*file).or_default().set_len(*len),
                Mutation::Sync { file } => files.entry(*file).or_default().sync(),
                // A name operation belongs to the directory of the name it creates or
                // removes (drift renames within one directory).
                Mutation::Rename { to: path, .. } | Mutation::Link { to: path, .. } | Mutation::Remove { path } => {
                    pending_names.push((parent(path), m.clone()));
                }
                Mutation::SyncDir { dir } => {
                    let (now, later): (Vec<_>, Vec<_>) = pending_names.drain(..).partition(|(d, _)| d == dir);
                    pending_names = later;
                    for (_, op) in now {
                        apply_name(&mut durable_names, &op);
                    }
                }
            }
        }
        // Names: per directory, a prefix of its pending operations.
        let mut names = durable_names;
        let mut by_dir: BTreeMap<PathBuf, Vec<Mutation>> = BTreeMap::new();
        for (dir, op) in pending_names {
            by_dir.entry(dir).or_default().push(op);
        }
        for ops in by_dir.values() {
            let keep = match policy {
                LossPolicy::DropUnsynced => 0,
                LossPolicy::KeepAll => ops.len(),
                LossPolicy::Random(_) => rng.below(ops.len() as u64 + 1) as usize,
            };
            for op in &ops[..keep] {
                apply_name(&mut names, op);
            }
        }
        let mut out = BTreeMap::new();
        let mut contents: HashMap<FileId, Vec<u8>> = HashMap::new();
        for (path, file) in names {
            let bytes = contents
                .entry(file)
                .or_insert_with(|| files.get(&file).map(|f| f.after_crash(policy, &mut rng)).unwrap_or_default())
                .clone();
            out.insert(path.strip_prefix(root).unwrap_or(&path).to_owned(), bytes);
        }
        out
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new("")).to_owned()
}

/// Applies a name operation to `names`.
fn apply_name(names: &mut BTreeMap<PathBuf, FileId>, op: &Mutation) {
    match op {
        Mutation::Create { file, path } => {
            names.insert(path.clone(), *file);
        }
        Mutation::Rename { from, to } => {
            if let Some(f) = names.remove(from) {
                names.insert(to.clone(), f);
            }
        }
        Mutation::Link { from, to } => {
            if let Some(f) = names.get(from).copied() {
                names.insert(to.clone(), f);
            }
        }
        Mutation::Remove { path } => {
            names.remove(path);
        }
        _ => {}
    }
}

/// A file's bytes as of its last sync, and the changes since.
#[derive(Debug, Default, Clone)]
struct FileState {
    durable: Vec<u8>,
    current: Vec<u8>,
    /// Writes since the last sync, in order.
    pending: Vec<(u64, Vec<u8>)>,
    /// A size change since the last sync.
    pending_len: bool,
}

impl FileState {
    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset as usize + bytes.len();
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[offset as usize..end].copy_from_slice(bytes);
        self.pending.push((offset, bytes.to_vec()));
    }

    fn set_len(&mut self, len: u64) {
        self.current.resize(len as usize, 0);
        self.pending_len = true;
    }

    fn sync(&mut self) {
        self.durable = self.current.clone();
        self.pending.clear();
        self.pending_len = false;
    }

    /// The bytes a power loss leaves (see the module documentation).
    fn after_crash(&self, policy: LossPolicy, rng: &mut SplitMix) -> Vec<u8> {
        match policy {
            LossPolicy::DropUnsynced => return self.durable.clone(),
            LossPolicy::KeepAll => return self.current.clone(),
            LossPolicy::Random(_) => {}
        }
        let mut out = self.durable.clone();
        // Size: the synced one or the current one (a size change is metadata that may
        // or may not have been written back).
        let len = if (self.pending_len || self.current.len() != self.durable.len()) && rng.below(2) == 1 {
            self.current.len()
        } else {
            self.durable.len()
        };
        out.resize(len, 0);
        // Pages: for each page written since the sync, a prefix of its writes.
        let mut pages: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, (offset, bytes)) in self.pending.iter().enumerate() {
            let first = offset / PAGE;
            let last = (offset + bytes.len().max(1) as u64 - 1) / PAGE;
            for p in first..=last {
                pages.entry(p).or_default().push(i);
            }
        }
        for (page, writes) in pages {
            let keep = rng.below(writes.len() as u64 + 1) as usize;
            if keep == 0 {
                continue;
            }
            let start = page * PAGE;
            let mut snapshot: Vec<u8> = (start..start + PAGE).map(|a| out.get(a as usize).copied().unwrap_or(0)).collect();
            for &w in &writes[..keep] {
                let (offset, bytes) = &self.pending[w];
                for (k, b) in bytes.iter().enumerate() {
                    let at = offset + k as u64;
                    if at >= start && at < start + PAGE {
                        snapshot[(at - start) as usize] = *b;
                    }
                }
            }
            // A torn write-back: only the first sectors of the page reached the disk.
            let sectors = if rng.below(4) == 0 { rng.below(PAGE / SECTOR) } else { PAGE / SECTOR };
            let end = (start + sectors * SECTOR).min(out.len() as u64);
            for at in start..end {
                out[at as usize] = snapshot[(at - start) as usize];
            }
        }
        out
    }
}

/// The library's SplitMix64 (a small deterministic generator).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// A [`FileSystem`] that forwards to the real one and journals every mutation.
#[derive(Debug, Clone, Default)]
pub struct CrashSimulatingFileSystem {
    journal: Arc<Mutex<Journal>>,
}

impl CrashSimulatingFileSystem {
    /// A new file system with an empty journal. Only files it creates are journaled:
    /// start it on an empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The journal, shared with every file this file system opened.
    pub fn journal(&self) -> Arc<Mutex<Journal>> {
        self.journal.clone()
    }

    fn record(&self, m: Mutation) {
        self.journal.lock().record(m);
    }
}

#[derive(Debug)]
struct JournaledFile {
    inner: Arc<dyn FileHandle>,
    file: FileId,
    journal: Arc<Mutex<Journal>>,
}

impl FileHandle for JournaledFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        // Journaled under the lock, so the journal's order is the order of the writes.
        let mut journal = self.journal.lock();
        self.inner.write_all_at(buf, offset)?;
        journal.record(Mutation::Write { file: self.file, offset, bytes: buf.to_vec() });
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()?;
        self.journal.lock().record(Mutation::Sync { file: self.file });
        Ok(())
    }

    fn start_writeback(&self) {
        self.inner.start_writeback()
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut journal = self.journal.lock();
        self.inner.set_len(len)?;
        journal.record(Mutation::SetLen { file: self.file, len });
        Ok(())
    }

    fn map_readonly(&self, len: u64) -> io::Result<MmapView> {
        self.inner.map_readonly(len)
    }
}

impl FileSystem for CrashSimulatingFileSystem {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>> {
        let mut journal = self.journal.lock();
        let existing = journal.names.get(path).copied();
        let inner = RealFileSystem.open(path, mode)?;
        let file = match (mode, existing) {
            (OpenMode::CreateNew, _) | (OpenMode::CreateTruncate, None) => {
                let file = journal.new_file();
                journal.record(Mutation::Create { file, path: path.to_owned() });
                file
            }
            (OpenMode::CreateTruncate, Some(file)) => {
                journal.record(Mutation::SetLen { file, len: 0 });
                file
            }
            (_, Some(file)) => file,
            (_, None) => {
                return Err(io::Error::other(format!("{} was not created through the crash-simulating file system", path.display())));
            }
        };
        Ok(Arc::new(JournaledFile { inner, file, journal: self.journal.clone() }))
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
        let mut journal = self.journal.lock();
        RealFileSystem.remove_file(path)?;
        journal.record(Mutation::Remove { path: path.to_owned() });
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut journal = self.journal.lock();
        RealFileSystem.rename(from, to)?;
        journal.record(Mutation::Rename { from: from.to_owned(), to: to.to_owned() });
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        RealFileSystem.sync_dir(path)?;
        self.record(Mutation::SyncDir { dir: path.to_owned() });
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut journal = self.journal.lock();
        RealFileSystem.hard_link(from, to)?;
        journal.record(Mutation::Link { from: from.to_owned(), to: to.to_owned() });
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        // The lock file is created (empty) outside the journal's concern: no image
        // needs it (open recreates it).
        RealFileSystem.try_lock(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_bytes_and_names_may_be_lost_synced_ones_never() {
        let dir = tempfile::tempdir().unwrap();
        let fs = CrashSimulatingFileSystem::new();
        let a = dir.path().join("a");
        let f = fs.open(&a, OpenMode::CreateNew).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(dir.path()).unwrap();
        f.write_all_at(b"HE", 0).unwrap();
        let journal = fs.journal();
        let j = journal.lock();
        let n = j.len();
        let lost = j.image(dir.path(), n, LossPolicy::DropUnsynced);
        assert_eq!(lost[Path::new("a")], b"hello");
        let kept = j.image(dir.path(), n, LossPolicy::KeepAll);
        assert_eq!(kept[Path::new("a")], b"HEllo");
        for seed in 0..50 {
            let any = j.image(dir.path(), n, LossPolicy::Random(seed));
            assert!(any[Path::new("a")] == b"hello" || any[Path::new("a")] == b"HEllo");
        }
        // Before the directory sync, the name itself may be missing.
        assert!(j.image(dir.path(), 2, LossPolicy::DropUnsynced).is_empty());
    }

    #[test]
    fn a_rename_without_a_directory_sync_may_not_have_happened() {
        let dir = tempfile::tempdir().unwrap();
        let fs = CrashSimulatingFileSystem::new();
        let (tmp, target) = (dir.path().join("x.tmp"), dir.path().join("x"));
        let f = fs.open(&tmp, OpenMode::CreateNew).unwrap();
        f.write_all_at(b"new", 0).unwrap();
        f.sync_data().unwrap();
        fs.rename(&tmp, &target).unwrap();
        let journal = fs.journal();
        let n = journal.lock().len();
        let before = journal.lock().image(dir.path(), n, LossPolicy::DropUnsynced);
        assert!(before.is_empty(), "{before:?}");
        fs.sync_dir(dir.path()).unwrap();
        let n = journal.lock().len();
        let after = journal.lock().image(dir.path(), n, LossPolicy::DropUnsynced);
        assert_eq!(after.keys().collect::<Vec<_>>(), vec![Path::new("x")]);
        assert_eq!(after[Path::new("x")], b"new");
    }
}
