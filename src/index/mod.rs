//! The copy-on-write centroid index.
//!
//! A collection below `DatabaseOptions::index_min_rows` has no centroids: its shards are
//! *unrouted* and every search scans them exactly. Once it reaches the threshold, a
//! flush trains k-means (`kernels::kmeans`, fixed seed) over every stored row and
//! rewrites the rows into one shard per centroid (`maintenance::index_build`). From then
//! on a flush appends each posting to the shard of its nearest centroid, and only split
//! and merge (`maintenance::rebalance`) change the set of centroids.
//!
//! Searches see the index through a [`routing::RoutingSnapshot`]: an immutable value
//! (centroids, their shards, the unrouted shards) replaced as a whole — never mutated —
//! whenever a flush, compaction, split or merge publishes a new manifest. A search keeps
//! the `Arc` it started with, so it never sees half of a change.

pub(crate) mod routing;
