//! The S3 tier: sealed shards and manifests promoted to an object store.
//!
//! Durability stays local-first: the WAL and the local manifest are the truth of a
//! writer; the object store holds a lagging, consistent snapshot of it made of
//! immutable objects plus one mutable pointer (see `envelope.rs` for the keys).
//!
//! **Fencing.** Every writer has a random 128-bit id (`<dir>/TIER`). Every object it
//! puts is either under a key that carries that id — shard and generation objects,
//! created `If-None-Match: *`, so no other writer can produce or overwrite them — or is
//! `POINTER`, advanced only `If-Match: <etag of our last write>`. Readers (restores,
//! replicas, fetches) follow only `POINTER` → the generation it names → the shard keys
//! that generation's origin table names. A writer whose prefix was taken over can
//! still put objects under its own keys, but nothing follows them; its pointer update
//! fails, and it stops promoting for good. A takeover (restore) writes its own
//! generation under its own id, so it can always promote.
//!
//! A **promotion round** (background thread, or [`crate::Database::sync_object_store`]),
//! one at a time per database ([`Tier::round`]):
//! 1. upload every sealed shard the local manifest names and the store lacks,
//!    verbatim, a bounded number at a time;
//! 2. write the manifest — restricted to sealed shards — with the origin of every
//!    shard as a new generation object under this writer's id;
//! 3. advance `POINTER` to it with `If-Match`; if that fails, another writer took the
//!    prefix: this database stops promoting for good and reports it. A round with
//!    nothing new to publish reads `POINTER` instead, so a fenced writer learns it
//!    even when idle;
//! 4. delete what no one can follow any more: shard objects of this writer or of the
//!    writers it took over from that neither the local manifest nor its last two
//!    generations name, generations older than the previous one, and generations its
//!    predecessors wrote after they were fenced. It never deletes a successor's key.
//!
//! A crash at any step leaves `POINTER` naming a complete generation whose shards all
//! exist: shards are uploaded before the generation naming them, generations before
//! the pointer, and nothing the pointer's generation (or its predecessor) names is
//! ever deleted.
//!
//! Every request is bounded by the configured timeouts (retries included), so an
//! unresponsive store fails a round or a cold fetch in seconds with an error naming it.

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
    /// Milliseconds since a round first found local state the store does not have yet
    /// (0 when the last round published everything).
    pub lag_ms: u64,
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
    use std::time::Instant;

    use parking_lot::{Mutex, MutexGuard};

    use super::config::ObjectStoreConfig;
    use super::envelope::{self, Generation, Origins, Owner, Pointer};
    pub(crate) use super::store::RemoteStore;
    use super::store::{Condition, PutOutcome};
    use super::TierStats;
    use crate::error::{Error, Result};
    use crate::io::{FileSystem, OpenMode};
    use crate::storage::manifest::{self, Manifest};
    use crate::storage::shard_file;

    /// Generation numbers a round tries past its own orphans before giving up.
    const MAX_ORPHAN_GENERATIONS: u64 = 1000;

    #[derive(Debug, Default)]
    struct State {
        pointer_etag: Option<String>,
        generation: u64,
        /// Encoded manifest of the last generation this writer published (or found
        /// published under its id at open).
        published: Option<Vec<u8>>,
        /// Shard keys named by the last two published generations.
        published_keys: Vec<HashSet<String>>,
        /// Where each shard the store holds for us lives (whose key).
        located: Origins,
        /// Writers this one took the prefix over from, directly or not (0 = version-1
        /// keys): their leftover objects are ours to delete.
        ancestors: HashSet<u128>,
        ownership_lost: Option<String>,
        last_error: Option<String>,
        pending_files: u64,
        pending_bytes: u64,
        behind_since: Option<Instant>,
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
        /// Held for a whole promotion (or refresh) round: rounds never overlap.
        round: Mutex<()>,
    }

    /// The keys of the shards `m` names, each under the key `located` says holds it.
    fn shard_keys(m: &Manifest, located: &Origins) -> HashSet<String> {
        m.collections
            .iter()
            .flat_map(|c| c.shards.iter().map(move |s| (c.id, s.shard_id)))
            .filter_map(|at| located.get(&at).map(|w| envelope::shard_key(*w, at.0, at.1)))
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

    fn ulid(id: u128) -> ulid::Ulid {
        ulid::Ulid::from(id)
    }

    /// The owner in `<dir>/TIER`, and whether this call created the file (a new
    /// writer id with no predecessor).
    pub(crate) fn local_owner(fs: &dyn FileSystem, dir: &Path) -> Result<(Owner, bool)> {
        let path = dir.join("TIER");
        if fs.exists(&path) {
            return Ok((envelope::decode_owner(&read_local(fs, &path)?, &path)?, false));
        }
        Ok((write_owner(fs, dir, 0)?, true))
    }

    /// Writes `<dir>/TIER` with a new writer id that took over from `predecessor`.
    fn write_owner(fs: &dyn FileSystem, dir: &Path, predecessor: u128) -> Result<Owner> {
        let owner = Owner { writer_id: u128::from(ulid::Ulid::generate()), predecessor };
        crate::io::durable_replace(fs, &dir.join("TIER"), &envelope::encode_owner(owner)).map_err(|(e, _)| e)?;
        Ok(owner)
    }

    impl Tier {
        fn new(store: RemoteStore, config: &ObjectStoreConfig, writer_id: u128) -> Tier {
            Tier { store, config: config.clone(), writer_id, state: Mutex::new(State::default()), round: Mutex::new(()) }
        }

        /// Connects as the writer `owner`: creates `POINTER`, or checks that it names
        /// this writer and loads the generation it names (what is published, and
        /// where its shards are).
        pub fn claim(config: &ObjectStoreConfig, owner: Owner) -> Result<Tier> {
            let tier = Tier::new(RemoteStore::connect(config)?, config, owner.writer_id);
            let me = owner.writer_id;
            {
                let mut st = tier.state.lock();
                st.ancestors.insert(0);
                if owner.predecessor != 0 {
                    st.ancestors.insert(owner.predecessor);
                }
            }
            match tier.store.get(envelope::POINTER_KEY)? {
                None => {
                    let pointer = Pointer::new(0, me);
                    match tier.store.put(envelope::POINTER_KEY, pointer.encode(), Condition::Absent)? {
                        PutOutcome::Written(etag) => tier.state.lock().pointer_etag = etag,
                        PutOutcome::ConditionFailed => return Err(tier.not_owner("another writer created it first")),
                    }
                }
                Some((bytes, etag)) => {
                    let pointer = Pointer::decode(&bytes, &tier.location_of(envelope::POINTER_KEY))?;
                    if pointer.writer_id != me {
                        return Err(tier.not_owner(&format!("it belongs to writer {}", ulid(pointer.writer_id))));
                    }
                    let published = read_generation(&tier.store, &pointer)?;
                    let mut st = tier.state.lock();
                    st.pointer_etag = etag;
                    st.generation = pointer.generation;
                    if pointer.generation > 0 {
                        let m = Manifest::decode(&published.manifest, Path::new(&pointer.generation_key()))?;
                        st.located = published.origins.clone();
                        st.ancestors.extend(published.origins.values().filter(|w| **w != me));
                        st.published_keys.push(shard_keys(&m, &published.origins));
                        st.published = Some(published.manifest);
                    }
                }
            }
            for (key, _) in tier.store.list("shards")? {
                if let Some((w, c, s)) = envelope::parse_shard_key(&key).filter(|k| k.0 == me) {
                    tier.state.lock().located.entry((c, s)).or_insert(w);
                }
            }
            Ok(tier)
        }

        /// Connects a read-only replica (no ownership claim).
        pub fn connect_replica(config: &ObjectStoreConfig) -> Result<Tier> {
            Ok(Tier::new(RemoteStore::connect(config)?, config, 0))
        }

        /// Held for a whole promotion or refresh round, so rounds never overlap: an
        /// explicit sync during a background round waits for it, then runs its own.
        pub fn round(&self) -> MutexGuard<'_, ()> {
            self.round.lock()
        }

        /// The generation this database has published (writer) or loaded (replica).
        pub fn generation(&self) -> u64 {
            self.state.lock().generation
        }

        /// Records the generation a replica loaded and where its shards are.
        pub fn set_loaded(&self, published: &Published) {
            let mut st = self.state.lock();
            st.generation = published.pointer.generation;
            st.located = published.origins.clone();
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

        /// One promotion round (see the module documentation). The caller holds
        /// [`Tier::round`] and took `local` after taking it.
        pub fn promote(&self, fs: &dyn FileSystem, shards_dir: &Path, local: &Manifest) -> Result<()> {
            if let Some(lost) = self.state.lock().ownership_lost.clone() {
                return Err(Error::NotOwner { location: self.store.location().to_owned(), reason: lost });
            }
            let result = self.promote_round(fs, shards_dir, local);
            self.state.lock().last_error = result.as_ref().err().map(|e| e.to_string());
            result
        }

        fn promote_round(&self, fs: &dyn FileSystem, shards_dir: &Path, local: &Manifest) -> Result<()> {
            let me = self.writer_id;
            let target = promotable(local);
            let encoded = target.encode();
            let mut uploads = Vec::new();
            {
                let mut st = self.state.lock();
                for c in &target.collections {
                    for s in &c.shards {
                        if !st.located.contains_key(&(c.id, s.shard_id)) {
                            let key = envelope::shard_key(me, c.id, s.shard_id);
                            uploads.push(((c.id, s.shard_id), key, shard_file::shard_path(shards_dir, c.id, s.shard_id), s.committed_len));
                        }
                    }
                }
                st.pending_files = uploads.len() as u64;
                st.pending_bytes = uploads.iter().map(|u| u.3).sum();
                if st.published.as_ref() != Some(&encoded) && st.behind_since.is_none() {
                    st.behind_since = Some(Instant::now());
                }
            }
            // Upload in groups so memory holds at most `concurrency` files at once.
            for group in uploads.chunks(self.config.upload_concurrency.max(1)) {
                let items = group
                    .iter()
                    .map(|(_, key, path, len)| {
                        let bytes = read_local(fs, path)?;
                        if bytes.len() as u64 != *len {
                            return Err(Error::corrupt(path, 0, format!("sealed shard has {} bytes, the manifest commits {len}", bytes.len())));
                        }
                        Ok((key.clone(), bytes))
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.store.create_many(items, self.config.upload_concurrency)?;
                let mut st = self.state.lock();
                for (at, _, _, len) in group {
                    st.located.insert(*at, me);
                    st.pending_files -= 1;
                    st.pending_bytes -= len;
                }
            }
            let (mut generation, etag, origins) = {
                let mut st = self.state.lock();
                if st.published.as_ref() == Some(&encoded) {
                    st.behind_since = None;
                    drop(st);
                    return self.check_ownership();
                }
                let origins: Vec<(u64, u64, u128)> = target
                    .collections
                    .iter()
                    .flat_map(|c| c.shards.iter().map(move |s| (c.id, s.shard_id)))
                    .map(|(c, s)| (c, s, st.located[&(c, s)]))
                    .collect();
                (st.generation + 1, st.pointer_etag.clone(), origins)
            };
            // Our own key may already hold this number: an orphan of a crash between
            // the generation and the pointer. Nothing follows it; take the next number.
            let first = generation;
            loop {
                let key = envelope::generation_key(generation, me);
                let object = envelope::encode_generation(generation, me, &encoded, &origins);
                match self.store.put(&key, object, Condition::Absent)? {
                    PutOutcome::Written(_) => break,
                    PutOutcome::ConditionFailed if generation - first < MAX_ORPHAN_GENERATIONS => generation += 1,
                    PutOutcome::ConditionFailed => {
                        return Err(Error::ObjectStore {
                            operation: "put",
                            key: self.location_of(&key),
                            reason: format!("generations {first}..={generation} of this writer all exist already"),
                        });
                    }
                }
            }
            let pointer = Pointer::new(generation, me);
            let condition = etag.map_or(Condition::Absent, Condition::ETag);
            match self.store.put(envelope::POINTER_KEY, pointer.encode(), condition)? {
                PutOutcome::Written(new_etag) => {
                    let mut st = self.state.lock();
                    st.pointer_etag = new_etag;
                    st.generation = generation;
                    st.published = Some(encoded);
                    let keys = shard_keys(&target, &st.located);
                    st.published_keys.push(keys);
                    if st.published_keys.len() > 2 {
                        st.published_keys.remove(0);
                    }
                    st.behind_since = None;
                }
                PutOutcome::ConditionFailed => return Err(self.fenced()),
            }
            self.collect_garbage(local, generation)
        }

        /// A round with nothing to publish: checks `POINTER` still names this writer.
        fn check_ownership(&self) -> Result<()> {
            let Some((bytes, etag)) = self.store.get(envelope::POINTER_KEY)? else {
                return Err(self.lose_ownership("POINTER was deleted"));
            };
            let pointer = Pointer::decode(&bytes, &self.location_of(envelope::POINTER_KEY))?;
            let mut st = self.state.lock();
            if pointer.writer_id == self.writer_id && pointer.generation == st.generation {
                st.pointer_etag = etag;
                return Ok(());
            }
            drop(st);
            Err(self.lose_ownership(&format!(
                "writer {} took the prefix over (POINTER names its generation {})",
                ulid(pointer.writer_id),
                pointer.generation
            )))
        }

        /// The pointer update failed: names who holds the prefix now.
        fn fenced(&self) -> Error {
            let holder = self
                .store
                .get(envelope::POINTER_KEY)
                .ok()
                .flatten()
                .and_then(|(b, _)| Pointer::decode(&b, "POINTER").ok())
                .map_or_else(|| "another writer".to_owned(), |p| format!("writer {}", ulid(p.writer_id)));
            self.lose_ownership(&format!("POINTER changed under this writer: {holder} took the prefix over"))
        }

        fn lose_ownership(&self, why: &str) -> Error {
            let reason = format!("{why}; this database no longer promotes to {}", self.store.location());
            self.state.lock().ownership_lost = Some(reason.clone());
            Error::NotOwner { location: self.store.location().to_owned(), reason }
        }

        /// Deletes what no reader can follow any more (module documentation, step 4).
        fn collect_garbage(&self, local: &Manifest, generation: u64) -> Result<()> {
            let me = self.writer_id;
            let (keep, ancestors) = {
                let st = self.state.lock();
                let mut keep = shard_keys(local, &st.located);
                for keys in &st.published_keys {
                    keep.extend(keys.iter().cloned());
                }
                (keep, st.ancestors.clone())
            };
            let ours = |w: u128| w == me || ancestors.contains(&w);
            for (key, _) in self.store.list("shards")? {
                let Some((w, c, s)) = envelope::parse_shard_key(&key) else { continue };
                if ours(w) && !keep.contains(&key) {
                    self.store.delete(&key)?;
                    let mut st = self.state.lock();
                    if st.located.get(&(c, s)) == Some(&w) {
                        st.located.remove(&(c, s));
                    }
                }
            }
            for (key, _) in self.store.list("manifests")? {
                let Some((g, w)) = envelope::parse_generation_key(&key) else { continue };
                // Older than the previous generation: nothing follows it. A fenced
                // predecessor's generation past ours: nothing ever will.
                let stale = g + 1 < generation || (w != me && ancestors.contains(&w) && g >= generation);
                if stale {
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
                lag_ms: st.behind_since.map_or(0, |t| t.elapsed().as_millis() as u64),
                ownership_lost: st.ownership_lost.clone(),
                last_error: st.last_error.clone(),
                evictions: st.evictions,
                fetches: st.fetches,
            }
        }

        /// Whether the last published generation names this shard (so its local copy
        /// may be evicted).
        pub fn is_published(&self, collection_id: u64, shard_id: u64) -> bool {
            let st = self.state.lock();
            let Some(w) = st.located.get(&(collection_id, shard_id)) else { return false };
            let key = envelope::shard_key(*w, collection_id, shard_id);
            st.published_keys.last().is_some_and(|k| k.contains(&key))
        }

        pub fn count_eviction(&self) {
            self.state.lock().evictions += 1;
        }

        /// Downloads one shard object to `path` (durably) and checks its length.
        pub fn download_shard(&self, fs: &dyn FileSystem, path: &Path, collection_id: u64, shard_id: u64, len: u64) -> Result<()> {
            let origin = self.state.lock().located.get(&(collection_id, shard_id)).copied();
            let origin = origin.ok_or_else(|| Error::ObjectStore {
                operation: "get",
                key: self.location_of(&envelope::shard_key(self.writer_id, collection_id, shard_id)),
                reason: "no published generation names this shard".into(),
            })?;
            let key = envelope::shard_key(origin, collection_id, shard_id);
            fetch_shard(&self.store, fs, path, &key, len)?;
            self.state.lock().fetches += 1;
            Ok(())
        }
    }

    /// Downloads the shard object `key` to `path` through the durable-replace helper,
    /// checking its length against the manifest's.
    fn fetch_shard(store: &RemoteStore, fs: &dyn FileSystem, path: &Path, key: &str, len: u64) -> Result<()> {
        let (bytes, _) = store.get(key)?.ok_or_else(|| Error::ObjectStore {
            operation: "get",
            key: format!("{}/{key}", store.location()),
            reason: "a shard the published generation names is missing".into(),
        })?;
        if bytes.len() as u64 != len {
            return Err(Error::corrupt(Path::new(key), 0, format!("object has {} bytes, the manifest commits {len}", bytes.len())));
        }
        crate::io::durable_replace(fs, path, &bytes).map_err(|(e, _)| e)
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
    #[derive(Debug)]
    pub(crate) struct Published {
        pub pointer: Pointer,
        pub etag: Option<String>,
        pub manifest: Vec<u8>,
        pub origins: Origins,
    }

    /// The generation `pointer` names (an empty manifest for generation 0), with the
    /// origin of every shard it names.
    fn read_generation(store: &RemoteStore, pointer: &Pointer) -> Result<Published> {
        let mut published = Published { pointer: *pointer, etag: None, manifest: Vec::new(), origins: Origins::new() };
        if pointer.generation == 0 {
            published.manifest = Manifest { generation: 1, ..Manifest::empty() }.encode();
            return Ok(published);
        }
        let key = pointer.generation_key();
        let location = format!("{}/{key}", store.location());
        let (object, _) = store.get(&key)?.ok_or_else(|| Error::ObjectStore {
            operation: "get",
            key: location.clone(),
            reason: "the generation POINTER names is missing".into(),
        })?;
        let Generation { generation, writer_id, manifest, origins } = envelope::decode_generation(&object, &location)?;
        if generation != pointer.generation || (pointer.version > 1 && writer_id != pointer.writer_id) {
            return Err(Error::corrupt(Path::new(&location), 0, "generation object disagrees with POINTER on its generation or writer"));
        }
        let m = Manifest::decode(manifest, Path::new(&location))?;
        // Every shard gets an explicit origin (0 = version-1 key); a version-2 object
        // must name them all.
        for c in &m.collections {
            for s in &c.shards {
                let origin = origins.get(&(c.id, s.shard_id)).copied();
                if origin.is_none() && !origins.is_empty() {
                    return Err(Error::corrupt(Path::new(&location), 0, format!("origin table lacks shard {}-{}", c.id, s.shard_id)));
                }
                published.origins.insert((c.id, s.shard_id), origin.unwrap_or(0));
            }
        }
        published.manifest = manifest.to_vec();
        Ok(published)
    }

    /// Reads `POINTER` and the generation it names; `None` if nothing was published.
    pub(crate) fn read_published(store: &RemoteStore) -> Result<Option<Published>> {
        let Some((bytes, etag)) = store.get(envelope::POINTER_KEY)? else { return Ok(None) };
        let pointer = Pointer::decode(&bytes, &format!("{}/{}", store.location(), envelope::POINTER_KEY))?;
        let mut published = read_generation(store, &pointer)?;
        published.etag = etag;
        Ok(Some(published))
    }

    /// [`read_published`] for a restore or replica, which need something published:
    /// says whether the bucket itself is missing or just the prefix is empty.
    pub(crate) fn require_published(store: &RemoteStore, operation: &'static str) -> Result<Published> {
        if let Some(p) = read_published(store)? {
            return Ok(p);
        }
        store.check_bucket()?;
        Err(Error::ObjectStore {
            operation,
            key: format!("{}/{}", store.location(), envelope::POINTER_KEY),
            reason: "nothing has been published under this prefix (no POINTER); check the prefix".into(),
        })
    }

    /// Downloads a published state into `dir`: every shard it names that is not there
    /// yet (each through the durable-replace helper), then `MANIFEST`. Returns the
    /// manifest.
    pub(crate) fn download_state(store: &RemoteStore, fs: &dyn FileSystem, dir: &Path, published: &Published) -> Result<Manifest> {
        let manifest_path = dir.join(manifest::FILE_NAME);
        let m = Manifest::decode(&published.manifest, &manifest_path)?;
        let shards_dir = dir.join("shards");
        fs.create_dir_all(&shards_dir).map_err(|e| Error::io("create shards directory", &shards_dir, e))?;
        for c in &m.collections {
            for s in &c.shards {
                let path = shard_file::shard_path(&shards_dir, c.id, s.shard_id);
                if fs.exists(&path) {
                    continue;
                }
                let origin = published.origins.get(&(c.id, s.shard_id)).copied().unwrap_or(0);
                fetch_shard(store, fs, &path, &envelope::shard_key(origin, c.id, s.shard_id), s.committed_len)?;
            }
        }
        crate::io::durable_replace(fs, &manifest_path, &published.manifest).map_err(|(e, _)| e)?;
        Ok(m)
    }

    /// Downloads the newest published state into `dir` (see [`download_state`]). An
    /// owner promoting meanwhile may delete the shards of a generation two behind its
    /// newest; when a download misses a shard and `POINTER` has moved, it starts over
    /// from the new generation (files of the old one are removed as orphans at open).
    pub(crate) fn download_latest(store: &RemoteStore, fs: &dyn FileSystem, dir: &Path, operation: &'static str) -> Result<(Published, Manifest)> {
        let mut attempts = 0;
        loop {
            let published = require_published(store, operation)?;
            match download_state(store, fs, dir, &published) {
                Ok(m) => return Ok((published, m)),
                Err(e) => {
                    attempts += 1;
                    let moved = read_published(store).ok().flatten().is_some_and(|now| now.etag != published.etag);
                    if !moved || attempts >= 8 {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Restores the published state of `config`'s prefix into the empty directory
    /// `dir` and takes the prefix over: a new writer id (whose predecessor is the old
    /// owner) republishes the restored manifest as its own next generation, then moves
    /// `POINTER` to it with `If-Match`, so the old owner's next pointer update fails.
    pub(crate) fn restore(config: &ObjectStoreConfig, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        if fs.exists(&dir.join(manifest::FILE_NAME)) {
            return Err(Error::invalid(format!(
                "restore needs an empty directory, but {} already holds a database",
                dir.display()
            )));
        }
        let store = RemoteStore::connect(config)?;
        let (published, m) = download_latest(&store, fs, dir, "restore")?;
        let owner = write_owner(fs, dir, published.pointer.writer_id)?;
        let generation = published.pointer.generation + 1;
        let origins: Vec<(u64, u64, u128)> = m
            .collections
            .iter()
            .flat_map(|c| c.shards.iter().map(move |s| (c.id, s.shard_id)))
            .map(|(c, s)| (c, s, published.origins.get(&(c, s)).copied().unwrap_or(0)))
            .collect();
        let key = envelope::generation_key(generation, owner.writer_id);
        let object = envelope::encode_generation(generation, owner.writer_id, &published.manifest, &origins);
        if let PutOutcome::ConditionFailed = store.put(&key, object, Condition::Absent)? {
            return Err(Error::ObjectStore { operation: "put", key, reason: "a fresh writer's generation key exists".into() });
        }
        let taken = Pointer::new(generation, owner.writer_id);
        let condition = published.etag.map_or(Condition::None, Condition::ETag);
        match store.put(envelope::POINTER_KEY, taken.encode(), condition)? {
            PutOutcome::Written(_) => Ok(()),
            PutOutcome::ConditionFailed => {
                let _ = store.delete(&key);
                Err(Error::NotOwner {
                    location: config.location(),
                    reason: "the prefix changed while it was being restored; retry the restore".into(),
                })
            }
        }
    }
}
