//! The engine core: collection versions and the one path that changes them.
//!
//! - [`version::CollectionVersion`]: what a search reads — memtable prefixes, shard
//!   readers, routing snapshot, tombstones — immutable, published by pointer swap;
//! - [`collection_core::CollectionCore`]: a collection's identity and current version;
//!   the WAL leader appends writes to it without waiting for any search;
//! - [`version_set::VersionSet`]: the manifest and the collections; every change of
//!   what is on disk is an [`version_set::Edit`] applied by it (publish, swap, retire);
//! - [`memtable`] and [`append_log`]: the memtable writers append to while searches
//!   read it.
//!
//! The arrows point one way: `db.rs` and `collection.rs` (the public API) use the
//! engine and `maintenance/`; maintenance uses the engine; the search path uses
//! versions; none of them reaches back up.

pub(crate) mod append_log;
pub(crate) mod collection_core;
pub(crate) mod memtable;
pub(crate) mod version;
pub(crate) mod version_set;
