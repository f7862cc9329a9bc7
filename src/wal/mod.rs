//! The write-ahead log: a ring of fixed-size segment files.
//!
//! - `segment.rs`: segment header and preallocation;
//! - `record.rs`: record framing (LSN, kind, length, CRC32C);
//! - `op.rs`: the logged operations and their payloads;
//! - `ring.rs`: the writer — group commit, roll-over, recycling, poisoning;
//! - `replay.rs`: recovery — live chain, torn tail vs corruption.

pub(crate) mod op;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod ring;
pub(crate) mod segment;

pub use ring::WalStats;
