//! The database side of the S3 tier: promotion rounds of a writer, and a replica
//! loading newly published generations into its collections.
//!
//! A replica swaps each collection's shard readers and tombstones under the
//! collection's write lock, so a search sees one generation or the next, never a mix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::collection::CollectionInner;
use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::io::FileSystem;
use crate::storage::shard_file::{self, ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;
use crate::tier;

/// One round: promotion for a writer, refresh for a replica.
pub(crate) fn sync(db: &DbInner) -> Result<()> {
    let Some(tier) = &db.tier else {
        return Err(Error::invalid("no object store is configured for this database"));
    };
    if db.replica_of.is_some() {
        let result = refresh(db, tier);
        tier.record_error(result.as_ref().err().map(|e| e.to_string()));
        return result;
    }
    let local = db.manifest.lock().clone();
    tier.promote(db.fs.as_ref(), &db.shards_dir(), &local)?;
    evict_over_budget(db, tier);
    Ok(())
}

/// Evicts promoted sealed shards, least recently searched first, until the local
/// shard files fit the configured disk budget.
fn evict_over_budget(db: &DbInner, tier: &tier::Tier) {
    let Some(budget) = tier.config.local_disk_budget else { return };
    let mut readers: Vec<Arc<ShardReader>> =
        db.collections().iter().flat_map(|c| c.state.read().shards.clone()).filter(|s| s.is_local()).collect();
    let mut local: u64 = readers.iter().map(|s| s.file_len()).sum();
    readers.sort_by_key(|s| s.last_used());
    for reader in readers {
        if local <= budget {
            break;
        }
        if reader.sealed && tier.is_published(reader.header.collection_id, reader.header.shard_id) {
            let freed = reader.evict(db.fs.as_ref());
            if freed > 0 {
                local -= freed;
                tier.count_eviction();
            }
        }
    }
}

/// Downloads the published state of `config` into a replica's directory.
pub(crate) fn download_replica(tier: &tier::Tier, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    if fs.exists(&dir.join("TIER")) {
        return Err(Error::invalid(format!(
            "{} holds a writer's database; a replica needs its own directory",
            dir.display()
        )));
    }
    let tier::Published { pointer, manifest, .. } = tier::read_published(&tier.store)?.ok_or_else(|| Error::ObjectStore {
        operation: "open replica",
        key: "POINTER".into(),
        reason: format!("nothing has been published to {}", tier.config.location()),
    })?;
    tier::download_state(&tier.store, fs, dir, &manifest)?;
    tier.set_generation(pointer.generation);
    Ok(())
}

/// Loads the newest published generation into a replica, if there is a newer one.
fn refresh(db: &DbInner, tier: &tier::Tier) -> Result<()> {
    let Some(tier::Published { pointer, manifest: bytes, .. }) = tier::read_published(&tier.store)? else { return Ok(()) };
    if pointer.generation <= tier.generation() {
        return Ok(());
    }
    let _m = db.maintenance.lock();
    let manifest = tier::download_state(&tier.store, db.fs.as_ref(), &db.path, &bytes)?;
    let shards_dir = db.shards_dir();
    let mut registry = db.registry.write();
    let mut keep_files = Vec::new();
    for record in &manifest.collections {
        let existing: HashMap<u64, Arc<ShardReader>> = registry
            .by_id
            .get(&record.id)
            .map(|c| c.state.read().shards.iter().map(|s| (s.header.shard_id, s.clone())).collect())
            .unwrap_or_default();
        let mut shards = Vec::with_capacity(record.shards.len());
        for s in &record.shards {
            let path = shard_file::shard_path(&shards_dir, record.id, s.shard_id);
            keep_files.push(path.clone());
            match existing.get(&s.shard_id) {
                Some(reader) if reader.file_len() == s.committed_len => shards.push(reader.clone()),
                _ => {
                    let identity = ShardHeader::of(record, s);
                    let reader = Arc::new(ShardReader::open(db.fs.as_ref(), &path, s, &identity, db.options.vector_reads)?);
                    db.attach_remote(&reader);
                    shards.push(reader);
                }
            }
        }
        match registry.by_id.get(&record.id) {
            Some(c) => {
                let mut st = c.state.write();
                let table = Arc::new(crate::index::routing::CentroidTable::from_records(record.dimension, &record.centroids));
                st.set_index(table, shards);
                st.tombstones = Tombstones::from_entries(&record.tombstones);
            }
            None => {
                let c = Arc::new(CollectionInner::new(record, shards));
                registry.by_id.insert(record.id, c.clone());
                registry.by_name.insert(record.name.clone(), c);
            }
        }
    }
    let gone: Vec<u64> = registry.by_id.keys().copied().filter(|id| !manifest.collections.iter().any(|c| c.id == *id)).collect();
    for id in gone {
        if let Some(c) = registry.by_id.remove(&id) {
            c.dropped.store(true, Ordering::Release);
            registry.by_name.remove(&c.name);
        }
    }
    drop(registry);
    *db.manifest.lock() = manifest;
    tier.set_generation(pointer.generation);
    // Files of shards the new generation no longer names (searches holding the old
    // readers keep their mappings; unlinking does not disturb them).
    if let Ok(files) = db.fs.read_dir(&shards_dir) {
        for file in files {
            if shard_file::parse_shard_name(&file).is_some() && !keep_files.contains(&file) {
                let _ = db.fs.remove_file(&file);
            }
        }
    }
    Ok(())
}
