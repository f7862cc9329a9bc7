//! Durable storage: shard files of row groups, the manifest, tombstones.
//!
//! - `row_group.rs`: the fixed-layout block of aligned columns;
//! - `shard_file.rs`: shard header, reader (zero-copy map), creation;
//! - `footer.rs` and `bloom.rs`: what sealing a shard appends;
//! - `manifest.rs`: the catalog, replaced atomically;
//! - `tombstones.rs`: deletes applied at query time until compaction.

pub(crate) mod bloom;
pub(crate) mod footer;
pub(crate) mod graveyard;
pub(crate) mod manifest;
pub(crate) mod row_group;
pub(crate) mod shard_file;
pub(crate) mod tombstones;
