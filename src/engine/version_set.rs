//! [`VersionSet`]: the one path by which the catalog of a database changes.
//!
//! Every change to what is on disk — flush, compaction, index build, split, merge,
//! reassign, consolidate, create and drop collection, a replica loading a generation —
//! is an [`Edit`]: a draft of the next manifest, the version changes it implies per
//! collection, the files it created and the shard readers it retires.
//! [`VersionSet::apply`] takes it through the same steps every time:
//!
//! 1. the draft gets the next generation and is published durably (temp file → fsync →
//!    rename → fsync directory); if that fails, the files the edit created are removed
//!    and nothing else changes (a failed fsync or a rename of unknown outcome poisons
//!    the database: writes stop until it is reopened);
//! 2. the in-memory manifest becomes the draft, and collections are added or removed;
//! 3. each collection's next version is installed by an atomic pointer swap;
//! 4. retired shard readers are marked: each deletes its file when the last version
//!    (held by a running search or a snapshot) that references it is dropped —
//!    reference counts, never timers.
//!
//! Edits are prepared and applied under the maintenance lock ([`VersionSet::maintenance`]),
//! so they are serialised and each draft starts from the manifest in force. Writes
//! never take that lock: the WAL leader only appends to versions (`CollectionCore::apply`).
//!
//! Maintenance jobs get a `&VersionSet`: the options, the file system and the
//! file-level helpers here, the collections and their versions, and the WAL (for the
//! flush's cut and checkpoint). They never see the `Database` around it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::collection_core::{CollectionCore, Install};
use crate::error::{Error, Result};
use crate::io::{FileHandle, FileSystem, ReplaceStage, durable_replace};
use crate::options::DatabaseOptions;
use crate::storage::manifest::{self, Manifest};
use crate::storage::shard_file::ShardReader;
use crate::wal::op::WalOp;
use crate::wal::ring::Wal;

/// A change of the catalog, applied whole or not at all (see the module docs).
#[derive(Debug)]
pub(crate) struct Edit {
    /// The next manifest (from [`VersionSet::draft`]); its generation is set by `apply`.
    pub manifest: Manifest,
    /// Version changes, per collection.
    pub installs: Vec<(Arc<CollectionCore>, Install)>,
    /// Collections the edit creates.
    pub added: Vec<Arc<CollectionCore>>,
    /// Collections the edit drops.
    pub dropped: Vec<Arc<CollectionCore>>,
    /// Files the edit wrote, removed if it is not published.
    pub created: Vec<PathBuf>,
    /// Shard readers whose files the new manifest no longer names.
    pub retired: Vec<Arc<ShardReader>>,
    /// The manifest is on disk already, with its own generation (a replica wrote the
    /// one it downloaded): step 1 is skipped.
    pub already_durable: bool,
}

impl Edit {
    /// An edit starting from `manifest` (a draft of the next one).
    pub fn new(manifest: Manifest) -> Edit {
        Edit { manifest, installs: Vec::new(), added: Vec::new(), dropped: Vec::new(), created: Vec::new(), retired: Vec::new(), already_durable: false }
    }
}

#[derive(Debug, Default)]
struct Registry {
    by_name: BTreeMap<String, Arc<CollectionCore>>,
    by_id: HashMap<u64, Arc<CollectionCore>>,
}

/// The collections of a database, their versions, and the manifest they are published in.
pub(crate) struct VersionSet {
    pub path: PathBuf,
    pub options: DatabaseOptions,
    pub fs: Arc<dyn FileSystem>,
    pub wal: Wal,
    manifest: Mutex<Manifest>,
    /// Serialises edits (held while one is prepared and applied).
    pub maintenance: Mutex<()>,
    registry: RwLock<Registry>,
    /// Bytes in memtables not yet written to shard files (active and frozen).
    pub memtable_bytes: AtomicIsize,
    /// Woken whenever an edit (a flush) drains memtable bytes.
    drained: Condvar,
    drained_lock: Mutex<()>,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    /// Retired shard files waiting to be deleted off the search path.
    pub graveyard: Arc<crate::storage::graveyard::Graveyard>,
    /// Where a read-only replica follows from; `None` for a writable database.
    pub read_only: Option<String>,
    /// The S3 tier, through which evicted shard readers fetch their files back.
    #[cfg(feature = "s3")]
    pub tier: Option<Arc<crate::tier::Tier>>,
}

impl std::fmt::Debug for VersionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionSet").field("path", &self.path).finish_non_exhaustive()
    }
}

/// What [`VersionSet::new`] needs besides the recovered collections.
pub(crate) struct VersionSetParts {
    pub path: PathBuf,
    pub options: DatabaseOptions,
    pub fs: Arc<dyn FileSystem>,
    pub wal: Wal,
    pub manifest: Manifest,
    pub memtable_bytes: isize,
    pub read_only: Option<String>,
    #[cfg(feature = "s3")]
    pub tier: Option<Arc<crate::tier::Tier>>,
}

impl VersionSet {
    pub fn new(parts: VersionSetParts, collections: Vec<Arc<CollectionCore>>) -> VersionSet {
        let mut registry = Registry::default();
        for c in collections {
            registry.by_id.insert(c.id, c.clone());
            registry.by_name.insert(c.name.clone(), c);
        }
        let graveyard = crate::storage::graveyard::Graveyard::new(parts.fs.clone());
        VersionSet {
            path: parts.path,
            options: parts.options,
            fs: parts.fs,
            wal: parts.wal,
            manifest: Mutex::new(parts.manifest),
            maintenance: Mutex::new(()),
            registry: RwLock::new(registry),
            memtable_bytes: AtomicIsize::new(parts.memtable_bytes),
            drained: Condvar::new(),
            drained_lock: Mutex::new(()),
            flushes: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            graveyard,
            read_only: parts.read_only,
            #[cfg(feature = "s3")]
            tier: parts.tier,
        }
    }

    pub fn shards_dir(&self) -> PathBuf {
        self.path.join("shards")
    }

    /// A copy of the manifest in force, to edit into the next one.
    pub fn draft(&self) -> Manifest {
        self.manifest.lock().clone()
    }

    /// Generation and checkpoint LSN of the manifest in force.
    pub fn published(&self) -> (u64, u64) {
        let m = self.manifest.lock();
        (m.generation, m.checkpoint_lsn)
    }

    /// Fails unless writes and edits are allowed (not a replica, not poisoned).
    pub fn check_writable(&self) -> Result<()> {
        if let Some(location) = &self.read_only {
            return Err(Error::ReadOnly { location: location.clone() });
        }
        match self.wal.poisoned() {
            Some(cause) => Err(Error::Poisoned { cause }),
            None => Ok(()),
        }
    }

    /// Poisons the database after a failed fsync (or a write whose outcome is unknown).
    pub fn poison(&self, error: &Error) {
        self.wal.poison(error.to_string());
    }

    /// Fsyncs a file; a failure poisons the database.
    pub fn sync_file(&self, file: &dyn FileHandle, path: &Path, operation: &'static str) -> Result<()> {
        file.sync_data().map_err(|e| {
            let error = Error::io(operation, path, e);
            self.poison(&error);
            error
        })
    }

    /// Fsyncs a directory; a failure poisons the database.
    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.fs.sync_dir(dir).map_err(|e| {
            let error = Error::io("fsync directory", dir, e);
            self.poison(&error);
            error
        })
    }

    /// Removes files a failed edit created (best effort: the next open removes whatever
    /// is left, since no manifest names them).
    pub fn remove_created(&self, created: &[PathBuf]) {
        for path in created {
            let _ = self.fs.remove_file(path);
        }
    }

    /// Lets a sealed shard reader be evicted and fetched back through the S3 tier.
    pub fn attach_remote(&self, reader: &Arc<ShardReader>) {
        #[cfg(feature = "s3")]
        if let Some(t) = &self.tier {
            reader.attach_remote(Arc::new(crate::tier::RemoteShards { tier: t.clone(), fs: self.fs.clone() }));
        }
        #[cfg(not(feature = "s3"))]
        let _ = reader;
    }

    /// The collection named `name`.
    pub fn lookup(&self, name: &str) -> Result<Arc<CollectionCore>> {
        self.registry.read().by_name.get(name).cloned().ok_or_else(|| Error::CollectionNotFound { name: name.to_owned() })
    }

    /// The collection with id `id`, if it exists.
    pub fn by_id(&self, id: u64) -> Option<Arc<CollectionCore>> {
        self.registry.read().by_id.get(&id).cloned()
    }

    /// Every collection, by name.
    pub fn collections(&self) -> Vec<Arc<CollectionCore>> {
        self.registry.read().by_name.values().cloned().collect()
    }

    /// Applies one durable operation to its collection (the WAL leader, in LSN order);
    /// returns the memtable bytes now held.
    pub fn apply_op(&self, lsn: u64, op: WalOp) -> isize {
        match self.by_id(op.collection_id()) {
            Some(c) => {
                let delta = c.apply(lsn, op) as isize;
                self.memtable_bytes.fetch_add(delta, Ordering::Relaxed) + delta
            }
            None => self.memtable_bytes.load(Ordering::Relaxed),
        }
    }

    /// Waits until memtable bytes are below `limit` or `timeout` passes; true if they are.
    pub fn wait_for_drain(&self, limit: isize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.drained_lock.lock();
        loop {
            if self.memtable_bytes.load(Ordering::Relaxed) < limit {
                return true;
            }
            if self.wal.poisoned().is_some() || self.drained.wait_until(&mut guard, deadline).timed_out() {
                return self.memtable_bytes.load(Ordering::Relaxed) < limit;
            }
        }
    }

    /// Wakes writers waiting in [`VersionSet::wait_for_drain`].
    pub fn notify_drained(&self) {
        let _g = self.drained_lock.lock();
        self.drained.notify_all();
    }

    /// Applies `edit` (see the module docs). The caller holds [`VersionSet::maintenance`].
    pub fn apply(&self, edit: Edit) -> Result<()> {
        let Edit { mut manifest, installs, added, dropped, created, retired, already_durable } = edit;
        if !already_durable {
            manifest.generation = self.manifest.lock().generation + 1;
        }
        let target = self.path.join(manifest::FILE_NAME);
        let published = if already_durable { Ok(()) } else { durable_replace(self.fs.as_ref(), &target, &manifest.encode()) };
        if let Err((error, stage)) = published {
            if stage != ReplaceStage::BeforeRename {
                self.poison(&error);
            }
            self.remove_created(&created);
            return Err(error);
        }
        for record in &manifest.collections {
            if let Some(c) = added.iter().find(|c| c.id == record.id).cloned().or_else(|| self.by_id(record.id)) {
                c.set_schema(&record.attributes);
            }
        }
        *self.manifest.lock() = manifest;
        if !added.is_empty() || !dropped.is_empty() {
            let mut registry = self.registry.write();
            for c in added {
                registry.by_id.insert(c.id, c.clone());
                registry.by_name.insert(c.name.clone(), c);
            }
            for c in &dropped {
                registry.by_id.remove(&c.id);
                registry.by_name.remove(&c.name);
            }
        }
        for (c, install) in installs {
            let freed = c.install(install) as isize;
            self.memtable_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        for c in dropped {
            c.dropped.store(true, Ordering::Release);
            let freed = c.clear() as isize;
            self.memtable_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        for reader in retired {
            reader.retire(self.graveyard.clone());
        }
        // Files whose last reader went since the previous edit.
        self.graveyard.clear();
        self.notify_drained();
        Ok(())
    }
}
