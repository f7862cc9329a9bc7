//! [`CollectionCore`]: a collection's identity and its current version.
//!
//! Two kinds of change replace the current [`CollectionVersion`], both under the
//! collection's writer lock (held for the few microseconds of building the next
//! version, never while a search runs or while a file is written):
//! - the WAL leader applies a durable operation (`apply`): appends to the active
//!   memtable and, for deletes and upserts, adds tombstones;
//! - the version set installs an edit (`install`): a flush, compaction, index step or
//!   tier refresh swapping shard readers, frozen memtables and tombstones.
//!
//! Searches load the current version with one atomic read and hold no lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

use super::memtable::MemtableView;
use crate::attributes::AttributeDef;
use super::version::CollectionVersion;
use crate::index::routing::{CentroidTable, RoutingSnapshot};
use crate::options::Metric;
use crate::storage::manifest::CollectionRecord;
use crate::storage::shard_file::ShardReader;
use crate::storage::tombstones::Tombstones;
use crate::wal::op::WalOp;

/// A collection's identity and state, shared by every handle.
#[derive(Debug)]
pub(crate) struct CollectionCore {
    pub id: u64,
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
    current: ArcSwap<CollectionVersion>,
    /// Serialises the builders of the next version (WAL apply, edit installs).
    writer: Mutex<()>,
    /// Held shared by every write of the collection from before it is logged until it
    /// is applied, and exclusively by `remove_where` while it finds its documents and
    /// logs their removal: no write lands between the two.
    pub write_gate: RwLock<()>,
    pub next_row_id: AtomicU64,
    /// The attribute schema as last published (it only grows: ids never change).
    schema: ArcSwap<Vec<AttributeDef>>,
    pub dropped: AtomicBool,
    /// Centroid id → row count at which a split was refused (duplicate-heavy list);
    /// not retried until the list doubles. In memory only: a restart retries once.
    pub split_refused: Mutex<HashMap<u32, u64>>,
    /// Lists rebalancing found neither drifted nor holding too many deleted rows, by
    /// centroid id: (their shard ids, the newest tombstone's LSN then). Not checked again until either
    /// changes (each check reads every row of the list).
    pub lists_checked: Mutex<HashMap<u32, (Vec<u64>, u64)>>,
    /// Lists, by centroid id, whose rows a split or merge next to them left where they
    /// were although many are now nearer a new centroid (rewriting them in the same
    /// step would have passed its size bound): rebalancing reassigns each in a step of
    /// its own. In memory only: after a restart the drift check finds them.
    pub reassign_due: Mutex<Vec<u32>>,
    /// Centroids a flush added (ids) whose neighbourhood rebalancing has not yet
    /// reassigned. In memory only: after a restart they are ordinary lists.
    pub fresh_centroids: Mutex<Vec<u32>>,
}

/// How an edit changes a collection's version (see `VersionSet::apply`).
#[derive(Debug, Default)]
pub(crate) struct Install {
    /// Frozen memtables, oldest first, that the edit wrote out.
    pub frozen_flushed: usize,
    /// The new shard set, if it changes.
    pub shards: Option<Vec<Arc<ShardReader>>>,
    /// The new centroid table, if it changes (needs `shards`).
    pub table: Option<Arc<CentroidTable>>,
    /// Tombstones that hide nothing any more; each is removed if unchanged since.
    pub spent_tombstones: Option<Tombstones>,
    /// Tombstones replacing the current ones (a replica loading a generation).
    pub tombstones: Option<Tombstones>,
}

impl CollectionCore {
    /// The collection of a manifest record, with its opened shards.
    pub fn new(record: &CollectionRecord, shards: Vec<Arc<ShardReader>>) -> Self {
        let table = Arc::new(CentroidTable::from_records(record.dimension, &record.centroids));
        let version = CollectionVersion::new(record.dimension, table, shards, Tombstones::from_entries(&record.tombstones));
        CollectionCore {
            id: record.id,
            name: record.name.clone(),
            dimension: record.dimension,
            metric: record.metric,
            current: ArcSwap::from_pointee(version),
            writer: Mutex::new(()),
            write_gate: RwLock::new(()),
            next_row_id: AtomicU64::new(record.next_row_id),
            schema: ArcSwap::from_pointee(record.attributes.clone()),
            dropped: AtomicBool::new(false),
            split_refused: Mutex::new(HashMap::new()),
            lists_checked: Mutex::new(HashMap::new()),
            reassign_due: Mutex::new(Vec::new()),
            fresh_centroids: Mutex::new(Vec::new()),
        }
    }

    /// The attribute schema (one atomic load).
    pub fn schema(&self) -> Arc<Vec<AttributeDef>> {
        self.schema.load_full()
    }

    /// Takes the schema of a just-published manifest record.
    pub fn set_schema(&self, attributes: &[AttributeDef]) {
        if self.schema.load().len() != attributes.len() {
            self.schema.store(Arc::new(attributes.to_vec()));
        }
    }

    /// The current version (one atomic load; no lock is held afterwards).
    pub fn version(&self) -> Arc<CollectionVersion> {
        self.current.load_full()
    }

    /// Builds and publishes the next version from the current one.
    fn publish<T>(&self, next: impl FnOnce(&CollectionVersion) -> (CollectionVersion, T)) -> T {
        let _w = self.writer.lock();
        let (version, out) = next(&self.current.load());
        self.current.store(Arc::new(version));
        out
    }

    /// Applies one durable operation (called by the WAL leader in LSN order, and by
    /// recovery); its columns move into the memtable. Returns the bytes the active
    /// memtable grew by.
    pub fn apply(&self, lsn: u64, op: WalOp) -> usize {
        let ids_end = match &op {
            WalOp::Add(b) | WalOp::Upsert { batch: b, .. } => b.row_id_base + b.len() as u64,
            WalOp::Remove { .. } => 0,
        };
        self.next_row_id.fetch_max(ids_end, Ordering::Relaxed);
        self.publish(|v| {
            let mut next = v.clone();
            let mut hide = |id: u128| {
                if v.may_hold(id) {
                    Arc::make_mut(&mut next.tombstones).insert(id, lsn);
                }
            };
            let batch = match op {
                WalOp::Add(batch) => Some(batch),
                WalOp::Upsert { document_id, batch } => {
                    hide(document_id);
                    Some(batch)
                }
                WalOp::Remove { document_ids, .. } => {
                    document_ids.iter().for_each(|id| hide(*id));
                    None
                }
            };
            let added = match batch {
                Some(b) => {
                    let rows = b.len();
                    let bytes = v.active.table.append(b, lsn);
                    next.active = v.active.grown(rows);
                    bytes
                }
                None => 0,
            };
            (next, added)
        })
    }

    /// Moves the active memtable to the frozen ones (a flush's freeze); returns the
    /// bytes it holds.
    pub fn freeze(&self) -> usize {
        self.publish(|v| {
            if v.active.is_empty() {
                return (v.clone(), 0);
            }
            let mut next = v.clone();
            next.frozen.push(v.active.clone());
            next.active = MemtableView::empty(self.dimension);
            (next, v.active.bytes())
        })
    }

    /// Installs an edit's change (after the manifest naming it is durable); returns the
    /// bytes of the frozen memtables it let go.
    pub fn install(&self, change: Install) -> usize {
        self.publish(|v| {
            let mut next = match change.shards {
                Some(shards) => v.with_shards(change.table, shards),
                None => v.clone(),
            };
            let flushed = change.frozen_flushed.min(next.frozen.len());
            let freed = next.frozen.drain(..flushed).map(|m| m.bytes()).sum();
            if let Some(spent) = &change.spent_tombstones {
                Arc::make_mut(&mut next.tombstones).remove_applied(spent);
            }
            if let Some(t) = change.tombstones {
                next.tombstones = Arc::new(t);
            }
            (next, freed)
        })
    }

    /// Empties the collection (it was dropped); returns the memtable bytes freed.
    pub fn clear(&self) -> usize {
        self.publish(|v| {
            let freed = v.active.bytes() + v.frozen.iter().map(|m| m.bytes()).sum::<usize>();
            let empty = CollectionVersion {
                active: MemtableView::empty(self.dimension),
                frozen: Vec::new(),
                shards: Arc::new(Vec::new()),
                routing: Arc::new(RoutingSnapshot::new(v.routing.table.clone(), &[])),
                tombstones: Arc::new(Tombstones::default()),
            };
            (empty, freed)
        })
    }
}
