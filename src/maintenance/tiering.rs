//! The database side of the S3 tier: promotion rounds of a writer, and a replica
//! loading newly published generations into its collections.
//!
//! A replica loads a generation as one edit (`engine::version_set`): each collection's
//! next version swaps in whole, so a search sees one generation or the next, never a
//! mix, and files the new generation no longer names are deleted once no search reads
//! them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::engine::collection_core::{CollectionCore, Install};
use crate::engine::version_set::{Edit, VersionSet};
use crate::error::{Error, Result};
use crate::io::FileSystem;
use crate::storage::shard_file::{self, ShardHeader, ShardReader};
use crate::storage::tombstones::Tombstones;
use crate::tier;

/// One round: promotion for a writer, refresh for a replica.
pub(crate) fn sync(vs: &VersionSet) -> Result<()> {
    let Some(tier) = &vs.tier else {
        return Err(Error::invalid("no object store is configured for this database"));
    };
    // One round at a time: a second caller waits for the running round, then runs its
    // own against the state as it is then.
    let _round = tier.round();
    if vs.read_only.is_some() {
        let result = refresh(vs, tier);
        tier.record_error(result.as_ref().err().map(|e| e.to_string()));
        return result;
    }
    // The manifest in force and the versions that match it, taken together under the
    // maintenance lock: holding the versions keeps every file the manifest names on
    // disk for the round (a flush or rebalance meanwhile retires files, but a retired
    // file is deleted only with its last reader).
    let (local, _held) = {
        let _m = vs.maintenance.lock();
        (vs.draft(), vs.collections().iter().map(|c| c.version()).collect::<Vec<_>>())
    };
    tier.promote(vs.fs.as_ref(), &vs.shards_dir(), &local)?;
    evict_over_budget(vs, tier);
    Ok(())
}

/// Evicts promoted sealed shards, least recently searched first, until the local
/// shard files fit the configured disk budget.
fn evict_over_budget(vs: &VersionSet, tier: &tier::Tier) {
    let Some(budget) = tier.config.local_disk_budget else { return };
    let mut readers: Vec<Arc<ShardReader>> =
        vs.collections().iter().flat_map(|c| c.version().shards.iter().cloned().collect::<Vec<_>>()).filter(|s| s.is_local()).collect();
    let mut local: u64 = readers.iter().map(|s| s.file_len()).sum();
    readers.sort_by_key(|s| s.last_used());
    for reader in readers {
        if local <= budget {
            break;
        }
        if reader.sealed && tier.is_published(reader.header.collection_id, reader.header.shard_id) {
            let freed = reader.evict(vs.fs.as_ref());
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
    let (published, _) = tier::download_latest(&tier.store, fs, dir, "open replica")?;
    tier.set_loaded(&published);
    Ok(())
}

/// Loads the newest published generation into a replica, if there is a newer one.
fn refresh(vs: &VersionSet, tier: &tier::Tier) -> Result<()> {
    let Some(published) = tier::read_published(&tier.store)? else { return Ok(()) };
    if published.pointer.generation <= tier.generation() {
        return Ok(());
    }
    let _m = vs.maintenance.lock();
    let manifest = tier::download_state(&tier.store, vs.fs.as_ref(), &vs.path, &published)?;
    let shards_dir = vs.shards_dir();
    let mut edit = Edit::new(manifest.clone());
    for record in &manifest.collections {
        let current = vs.by_id(record.id);
        let existing: HashMap<u64, Arc<ShardReader>> = current
            .as_ref()
            .map(|c| c.version().shards.iter().map(|s| (s.header.shard_id, s.clone())).collect())
            .unwrap_or_default();
        let mut shards = Vec::with_capacity(record.shards.len());
        for s in &record.shards {
            let path = shard_file::shard_path(&shards_dir, record.id, s.shard_id);
            match existing.get(&s.shard_id) {
                Some(reader) if reader.file_len() == s.committed_len => shards.push(reader.clone()),
                _ => {
                    let identity = ShardHeader::of(record, s);
                    let reader = Arc::new(ShardReader::open(vs.fs.as_ref(), &path, s, &identity, vs.options.vector_reads)?);
                    vs.attach_remote(&reader);
                    shards.push(reader);
                }
            }
        }
        match current {
            Some(c) => {
                let kept: Vec<u64> = record.shards.iter().map(|s| s.shard_id).collect();
                edit.retired.extend(existing.values().filter(|r| !kept.contains(&r.header.shard_id)).cloned());
                let table = Arc::new(crate::index::routing::CentroidTable::from_records(record.dimension, &record.centroids));
                let change = Install {
                    shards: Some(shards),
                    table: Some(table),
                    tombstones: Some(Tombstones::from_entries(&record.tombstones)),
                    ..Install::default()
                };
                edit.installs.push((c, change));
            }
            None => edit.added.push(Arc::new(CollectionCore::new(record, shards))),
        }
    }
    for c in vs.collections() {
        if !manifest.collections.iter().any(|r| r.id == c.id) {
            edit.retired.extend(c.version().shards.iter().cloned());
            edit.dropped.push(c);
        }
    }
    // `download_state` wrote the MANIFEST durably, with the writer's generation.
    edit.already_durable = true;
    vs.apply(edit)?;
    tier.set_loaded(&published);
    Ok(())
}
