//! The S3 tier: sealed shards and manifests promoted to an object store.
//!
//! Durability stays local-first: the WAL and the local manifest are the truth of a
//! writer; the object store holds a lagging, consistent snapshot of it made of
//! immutable objects plus one mutable pointer (see `envelope.rs` for the keys).
//!
//! A **promotion round** (background thread, or [`crate::Database::sync_object_store`]):
//! 1. upload every sealed shard the local manifest names and the store lacks,
//!    verbatim, a bounded number at a time (object_store retries with backoff);
//! 2. write the manifest — restricted to sealed shards — as a new immutable
//!    generation object (`If-None-Match: *`);
//! 3. advance `POINTER` to it with `If-Match: <etag of our last write>`; if that
//!    fails, another writer took the prefix: this database stops promoting for good and
//!    reports it (it never believes it still owns the prefix);
//! 4. delete shard objects no manifest of the last two generations nor the local
//!    manifest names, and generations older than the previous one.
//!
//! A crash at any step leaves `POINTER` naming a complete generation whose shards all
//! exist: shards are uploaded before the generation naming them, generations before
//! the pointer, and nothing the pointer's generation (or its predecessor) names is
//! ever deleted.
//!
//! Ownership: every writer has a random 128-bit id in `<dir>/TIER`. Opening as a
//! writer creates `POINTER` (`If-None-Match: *`) or checks that it names this id; a
//! restore takes over the prefix by rewriting `POINTER` with its new id under
//! `If-Match`.
//!
//! Not yet: evicting local copies under a disk budget and fetching them back on
//! demand (every shard is kept locally; restore and replicas download all shards).

mod config;
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(crate) mod envelope;
#[cfg(feature = "s3")]
pub(crate) mod store;

pub use config::{ObjectStoreConfig, TierMode};

#[cfg(feature = "s3")]
pub(crate) use engine::*;

/// Counters of the S3 tier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// `s3://bucket/prefix`.
    pub location: String,
    /// Generation `POINTER` names, as last written or read by this database.
    pub generation: u64,
    /// Object-store requests since open.
    pub requests: u64,
    /// Bytes uploaded since open.
    pub bytes_uploaded: u64,
    /// Bytes downloaded since open.
    pub bytes_downloaded: u64,
    /// Sealed shard files not yet promoted (upload lag).
    pub pending_files: u64,
    /// Bytes of those files.
    pub pending_bytes: u64,
    /// Why this database stopped promoting (another writer took the prefix), if it did.
    pub ownership_lost: Option<String>,
    /// The last error of a promotion round, if it failed.
    pub last_error: Option<String>,
    /// Shard files evicted from local disk since open.
    pub evictions: u64,
    /// Shard files fetched back from the object store since open.
    pub fetches: u64,
}

#[cfg(feature = "s3")]
mod engine {
    use std::collections::HashSet;
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use parking_lot::Mutex;

    use super::config::ObjectStoreConfig;
    use super::envelope::{self, Pointer};
    pub(crate) use super::store::RemoteStore;
    use super::store::{Condition, PutOutcome};
    use super::TierStats;
    use crate::error::{Error, Result};
    use crate::io::{FileSystem, OpenMode};
    use crate::storage::manifest::{self, Manifest};
    use crate::storage::shard_file;

    #[derive(Debug, Default)]
    struct State {
        pointer_etag: Option<String>,
        generation: u64,
        /// Encoded manifest of the last generation this writer published.
        published: Option<Vec<u8>>,
        /// Shard keys named by the last two published generations.
        published_keys: Vec<HashSet<String>>,
        uploaded: HashSet<String>,
        ownership_lost: Option<String>,
        last_error: Option<String>,
        pending_files: u64,
        pending_bytes: u64,
        evictions: u64,
        fetches: u64,
    }

    /// The object-store side of one database.
    #[derive(Debug)]
    pub(crate) struct Tier {
        pub store: RemoteStore,
        pub config: ObjectStoreConfig,
        pub writer_id: u128,
        state: Mutex<State>,
    }

    /// Keys of the shards a manifest names.
    fn shard_keys(m: &Manifest) -> HashSet<String> {
        m.collections
            .iter()
            .flat_map(|c| c.shards.iter().map(move |s| envelope::shard_key(c.id, s.shard_id)))
            .collect()
    }

    /// The part of a local manifest that is promoted: sealed shards only.
    fn promotable(local: &Manifest) -> Manifest {
        let mut m = local.clone();
        for c in &mut m.collections {
            c.shards.retain(|s| s.sealed);
        }
        m
    }

    fn read_local(fs: &dyn FileSystem, path: &Path) -> Result<Vec<u8>> {
        let file = fs.open(path, OpenMode::Read).map_err(|e| Error::io("open for upload", path, e))?;
        let len = file.len().map_err(|e| Error::io("stat for upload", path, e))?;
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, 0).map_err(|e| Error::io("read for upload", path, e))?;
        Ok(bytes)
    }

    /// The writer id in `<dir>/TIER`, created if absent.
    pub(crate) fn local_writer_id(fs: &dyn FileSystem, dir: &Path, fresh: bool) -> Result<u128> {
        let path = dir.join("TIER");
        if fs.exists(&path) && !fresh {
            return envelope::decode_owner(&read_local(fs, &path)?, &path);
        }
        let id = u128::from(ulid::Ulid::generate());
        crate::io::durable_replace(fs, &path, &envelope::encode_owner(id)).map_err(|(e, _)| e)?;
        Ok(id)
    }

    impl Tier {
        /// Connects as the writer `writer_id`: creates `POINTER` or checks it is ours.
        pub fn claim(config: &ObjectStoreConfig, writer_id: u128) -> Result<Tier> {
            let store = RemoteStore::connect(config)?;
            let tier = Tier { store, config: config.clone(), writer_id, state: Mutex::new(State::default()) };
            match tier.store.get(envelope::POINTER_KEY)? {
                None => {
                    let pointer = Pointer { generation: 0, writer_id };
                    match tier.store.put(envelope::POINTER_KEY, pointer.encode(), Condition::Absent)? {
                        PutOutcome::Written(etag) => tier.state.lock().pointer_etag = etag,
                        PutOutcome::ConditionFailed => return Err(tier.not_owner("another writer created it first")),
                    }
                }
                Some((bytes, etag)) => {
                    let pointer = Pointer::decode(&bytes, &tier.location_of(envelope::POINTER_KEY))?;
                    if pointer.writer_id != writer_id {
                        return Err(tier.not_owner(&format!("it belongs to writer {}", ulid::Ulid::from(pointer.writer_id))));
                    }
                    let mut st = tier.state.lock();
                    st.pointer_etag = etag;
                    st.generation = pointer.generation;
                }
            }
            let uploaded = tier.store.list("shards")?.into_iter().map(|(k, _)| k).collect();
            tier.state.lock().uploaded = uploaded;
            Ok(tier)
        }

        /// Connects a read-only replica (no ownership claim).
        pub fn connect_replica(config: &ObjectStoreConfig) -> Result<Tier> {
            let store = RemoteStore::connect(config)?;
            Ok(Tier { store, config: config.clone(), writer_id: 0, state: Mutex::new(State::default()) })
        }

        /// The generation this database has published (writer) or loaded (replica).
        pub fn generation(&self) -> u64 {
            self.state.lock().generation
        }

        /// Records the generation a replica loaded.
        pub fn set_generation(&self, generation: u64) {
            self.state.lock().generation = generation;
        }

        /// Records the outcome of a background round that did not go through `promote`.
        pub fn record_error(&self, error: Option<String>) {
            self.state.lock().last_error = error;
        }

        fn location_of(&self, key: &str) -> String {
            format!("{}/{key}", self.store.location())
        }

        fn not_owner(&self, why: &str) -> Error {
            Error::NotOwner {
                location: self.store.location().to_owned(),
                reason: format!("{why}; open it as a replica, or restore it into an empty directory to take it over"),
            }
        }

        /// One promotion round (see the module documentation).
        pub fn promote(&self, fs: &dyn FileSystem, shards_dir: &Path, local: &Manifest) -> Result<()> {
            if let Some(lost) = self.state.lock().ownership_lost.clone() {
                return Err(Error::NotOwner { location: self.store.location().to_owned(), reason: lost });
            }
            let result = self.promote_round(fs, shards_dir, local);
            let mut st = self.state.lock();
            st.last_error = result.as_ref().err().map(|e| e.to_string());
            result
        }

        fn promote_round(&self, fs: &dyn FileSystem, shards_dir: &Path, local: &Manifest) -> Result<()> {
            let target = promotable(local);
            let mut uploads = Vec::new();
            {
                let st = self.state.lock();
                for c in &target.collections {
                    for s in &c.shards {
                        let key = envelope::shard_key(c.id, s.shard_id);
                        if !st.uploaded.contains(&key) {
                            uploads.push((key, shard_file::shard_path(shards_dir, c.id, s.shard_id), s.committed_len));
                        }
                    }
                }
            }
            {
                let mut st = self.state.lock();
                st.pending_files = uploads.len() as u64;
                st.pending_bytes = uploads.iter().map(|u| u.2).sum();
            }
            // Upload in groups so memory holds at most `concurrency` files at once.
            for group in uploads.chunks(self.config.upload_concurrency.max(1)) {
                let items = group
                    .iter()
                    .map(|(key, path, len)| {
                        let bytes = read_local(fs, path)?;
                        if bytes.len() as u64 != *len {
                            return Err(Error::corrupt(path, 0, format!("sealed shard has {} bytes, the manifest commits {len}", bytes.len())));
                        }
                        Ok((key.clone(), bytes))
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.store.put_many(items, self.config.upload_concurrency)?;
                let mut st = self.state.lock();
                for (key, _, len) in group {
                    st.uploaded.insert(key.clone());
                    st.pending_files -= 1;
                    st.pending_bytes -= len;
                }
            }
            let encoded = target.encode();
            let (mut generation, etag) = {
                let st = self.state.lock();
                if st.published.as_ref() == Some(&encoded) {
                    return Ok(());
                }
                (st.generation + 1, st.pointer_etag.clone())
            };
            // A generation object may already exist under the next number: left by this
            // writer when a crash cut a round between the generation and the pointer
            // (nothing references it, so the next number is taken instead), or written by
            // another writer (then the prefix is no longer ours).
            loop {
                let key = envelope::generation_key(generation);
                let object = envelope::encode_generation(generation, self.writer_id, &encoded);
                match self.store.put(&key, object, Condition::Absent)? {
                    PutOutcome::Written(_) => break,
                    PutOutcome::ConditionFailed => {
                        let writer = match self.store.get(&key)? {
                            Some((bytes, _)) => envelope::decode_generation(&bytes, &self.location_of(&key))?.1,
                            None => 0,
                        };
                        if writer != self.writer_id {
                            return Err(self.lose_ownership(&format!("generation {generation} was written by another writer")));
                        }
                        generation += 1;
                    }
                }
            }
            let pointer = Pointer { generation, writer_id: self.writer_id };
            let condition = match etag {
                Some(e) => Condition::ETag(e),
                None => Condition::Absent,
            };
            match self.store.put(envelope::POINTER_KEY, pointer.encode(), condition)? {
                PutOutcome::Written(new_etag) => {
                    let mut st = self.state.lock();
                    st.pointer_etag = new_etag;
                    st.generation = generation;
                    st.published = Some(encoded);
                    st.published_keys.push(shard_keys(&target));
                    if st.published_keys.len() > 2 {
                        st.published_keys.remove(0);
                    }
                }
                PutOutcome::ConditionFailed => {
                    return Err(self.lose_ownership("POINTER changed under this writer (another writer took the prefix)"));
                }
            }
            self.collect_garbage(local, generation)
        }

        fn lose_ownership(&self, why: &str) -> Error {
            let reason = format!("{why}; this database no longer promotes to {}", self.store.location());
            self.state.lock().ownership_lost = Some(reason.clone());
            Error::NotOwner { location: self.store.location().to_owned(), reason }
        }

        /// Deletes shard objects nothing references and generations older than the
        /// previous one.
        fn collect_garbage(&self, local: &Manifest, generation: u64) -> Result<()> {
            let mut keep = shard_keys(local);
            for keys in &self.state.lock().published_keys {
                keep.extend(keys.iter().cloned());
            }
            for (key, _) in self.store.list("shards")? {
                if !keep.contains(&key) {
                    self.store.delete(&key)?;
                    self.state.lock().uploaded.remove(&key);
                }
            }
            for (key, _) in self.store.list("manifests")? {
                let old = key
                    .strip_prefix("manifests/")
                    .and_then(|k| k.strip_suffix(".manifest"))
                    .and_then(|g| g.parse::<u64>().ok())
                    .is_some_and(|g| g + 1 < generation);
                if old {
                    self.store.delete(&key)?;
                }
            }
            Ok(())
        }

        pub fn stats(&self) -> TierStats {
            let st = self.state.lock();
            TierStats {
                location: self.store.location().to_owned(),
                generation: st.generation,
                requests: self.store.traffic.requests.load(Ordering::Relaxed),
                bytes_uploaded: self.store.traffic.bytes_uploaded.load(Ordering::Relaxed),
                bytes_downloaded: self.store.traffic.bytes_downloaded.load(Ordering::Relaxed),
                pending_files: st.pending_files,
                pending_bytes: st.pending_bytes,
                ownership_lost: st.ownership_lost.clone(),
                last_error: st.last_error.clone(),
                evictions: st.evictions,
                fetches: st.fetches,
            }
        }

        /// Whether the last published generation names this shard (so its local copy
        /// may be evicted).
        pub fn is_published(&self, collection_id: u64, shard_id: u64) -> bool {
            let key = envelope::shard_key(collection_id, shard_id);
            self.state.lock().published_keys.last().is_some_and(|k| k.contains(&key))
        }

        pub fn count_eviction(&self) {
            self.state.lock().evictions += 1;
        }

        /// Downloads one shard object to `path` (durably) and checks its length.
        pub fn download_shard(&self, fs: &dyn FileSystem, path: &Path, collection_id: u64, shard_id: u64, len: u64) -> Result<()> {
            let key = envelope::shard_key(collection_id, shard_id);
            let (bytes, _) = self.store.get(&key)?.ok_or_else(|| Error::ObjectStore {
                operation: "get",
                key: key.clone(),
                reason: "the shard object is missing".into(),
            })?;
            if bytes.len() as u64 != len {
                return Err(Error::corrupt(Path::new(&key), 0, format!("object has {} bytes, the manifest commits {len}", bytes.len())));
            }
            crate::io::durable_replace(fs, path, &bytes).map_err(|(e, _)| e)?;
            self.state.lock().fetches += 1;
            Ok(())
        }
    }

    /// Fetches evicted shards back through a [`Tier`].
    #[derive(Debug)]
    pub(crate) struct RemoteShards {
        pub tier: std::sync::Arc<Tier>,
        pub fs: std::sync::Arc<dyn FileSystem>,
    }

    impl crate::storage::shard_file::ShardFetch for RemoteShards {
        fn fetch(&self, path: &Path, collection_id: u64, shard_id: u64, len: u64, keep_file: bool) -> Result<crate::io::MmapView> {
            self.tier.download_shard(self.fs.as_ref(), path, collection_id, shard_id, len)?;
            let file = self.fs.open(path, OpenMode::Read).map_err(|e| Error::io("open fetched shard", path, e))?;
            let view = file.map_readonly(len).map_err(|e| Error::io("map fetched shard", path, e))?;
            Ok(if keep_file { view.with_file(file) } else { view })
        }
    }

    /// The latest published state of a prefix.
    pub(crate) struct Published {
        pub pointer: Pointer,
        pub etag: Option<String>,
        pub manifest: Vec<u8>,
    }

    /// Reads `POINTER` and the generation it names; `None` if nothing was published.
    pub(crate) fn read_published(store: &RemoteStore) -> Result<Option<Published>> {
        let Some((bytes, etag)) = store.get(envelope::POINTER_KEY)? else { return Ok(None) };
        let pointer = Pointer::decode(&bytes, &format!("{}/{}", store.location(), envelope::POINTER_KEY))?;
        if pointer.generation == 0 {
            let manifest = Manifest { generation: 1, ..Manifest::empty() }.encode();
            return Ok(Some(Published { pointer, etag, manifest }));
        }
        let key = envelope::generation_key(pointer.generation);
        let (object, _) = store.get(&key)?.ok_or_else(|| Error::ObjectStore {
            operation: "get",
            key: key.clone(),
            reason: "the generation POINTER names is missing".into(),
        })?;
        let (generation, _, manifest) = envelope::decode_generation(&object, &format!("{}/{key}", store.location()))?;
        if generation != pointer.generation {
            return Err(Error::corrupt(Path::new(&key), 0, "generation object names another generation"));
        }
        Ok(Some(Published { pointer, etag, manifest: manifest.to_vec() }))
    }

    /// Downloads a published state into `dir`: every shard it names that is not there
    /// yet (each through the durable-replace helper), then `MANIFEST`. Returns the
    /// manifest.
    pub(crate) fn download_state(store: &RemoteStore, fs: &dyn FileSystem, dir: &Path, manifest_bytes: &[u8]) -> Result<Manifest> {
        let manifest_path = dir.join(manifest::FILE_NAME);
        let m = Manifest::decode(manifest_bytes, &manifest_path)?;
        let shards_dir = dir.join("shards");
        fs.create_dir_all(&shards_dir).map_err(|e| Error::io("create shards directory", &shards_dir, e))?;
        for c in &m.collections {
            for s in &c.shards {
                let path = shard_file::shard_path(&shards_dir, c.id, s.shard_id);
                if fs.exists(&path) {
                    continue;
                }
                let key = envelope::shard_key(c.id, s.shard_id);
                let (bytes, _) = store.get(&key)?.ok_or_else(|| Error::ObjectStore {
                    operation: "get",
                    key: key.clone(),
                    reason: "a shard the published manifest names is missing".into(),
                })?;
                if bytes.len() as u64 != s.committed_len {
                    return Err(Error::corrupt(Path::new(&key), 0, format!("object has {} bytes, the manifest commits {}", bytes.len(), s.committed_len)));
                }
                crate::io::durable_replace(fs, &path, &bytes).map_err(|(e, _)| e)?;
            }
        }
        crate::io::durable_replace(fs, &manifest_path, manifest_bytes).map_err(|(e, _)| e)?;
        Ok(m)
    }

    /// Restores the published state of `config`'s prefix into the empty directory
    /// `dir` and takes the prefix over with a new writer id.
    pub(crate) fn restore(config: &ObjectStoreConfig, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        if fs.exists(&dir.join(manifest::FILE_NAME)) {
            return Err(Error::invalid(format!(
                "restore needs an empty directory, but {} already holds a database",
                dir.display()
            )));
        }
        let store = RemoteStore::connect(config)?;
        let Published { pointer, etag, manifest: manifest_bytes } = read_published(&store)?.ok_or_else(|| Error::ObjectStore {
            operation: "restore",
            key: envelope::POINTER_KEY.into(),
            reason: format!("nothing has been published to {}", config.location()),
        })?;
        download_state(&store, fs, dir, &manifest_bytes)?;
        let writer_id = local_writer_id(fs, dir, true)?;
        let taken = Pointer { generation: pointer.generation, writer_id };
        let condition = etag.map_or(Condition::None, Condition::ETag);
        match store.put(envelope::POINTER_KEY, taken.encode(), condition)? {
            PutOutcome::Written(_) => Ok(()),
            PutOutcome::ConditionFailed => Err(Error::NotOwner {
                location: config.location(),
                reason: "the prefix changed while it was being restored; retry the restore".into(),
            }),
        }
    }
}
