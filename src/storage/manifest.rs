//! The manifest: the catalog of a database, replaced atomically as a whole.
//!
//! File `MANIFEST` = header (64 bytes) | body (`body_len` bytes) | trailer (16 bytes).
//! The body is, for each collection: a 64-byte collection entry, its name padded with
//! zeros to a multiple of 8, its shard entries (48 bytes each), its tombstones (24
//! bytes each), then (version 2) its centroids: an 8-byte centroid entry followed by
//! `dimension` f32 values, padded with zeros to a multiple of 8, then (version 3) its
//! attribute schema: per attribute an 8-byte attribute entry followed by its name
//! padded with zeros to a multiple of 8 (an attribute's id is its position). All
//! integers little-endian. Version 1 manifests (no centroids; `centroid_count` was a
//! zero reserved field) and version 2 (no schema; `attribute_count` was zero reserved
//! bytes) are still read.
//!
//! Header:
//!
//! | offset | size | field              | meaning                                       |
//! |-------:|-----:|--------------------|-----------------------------------------------|
//! | 0      | 8    | magic              | `DRFTMANI`                                    |
//! | 8      | 2    | version            | 3 (1 and 2 are still read)                    |
//! | 10     | 2    | reserved           | zero                                          |
//! | 12     | 4    | collection_count   | collections in the body                       |
//! | 16     | 8    | generation         | grows by one at every publication             |
//! | 24     | 8    | checkpoint_lsn     | every WAL record ≤ this is in shard files     |
//! | 32     | 8    | next_collection_id | ids are never reused                          |
//! | 40     | 8    | body_len           | bytes between header and trailer              |
//! | 48     | 12   | reserved2          | zero                                          |
//! | 60     | 4    | header_crc         | CRC32C of bytes 0..60                         |
//!
//! Invariants: published only through `io::durable_replace`; a reader sees the old or
//! the new manifest whole. Shard files it names were fsynced before it was written.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, Field, Layout, align_up};
use crate::attributes::{AttributeDef, AttributeType};
use crate::options::Metric;

/// File name of the manifest in the database directory.
pub const FILE_NAME: &str = "MANIFEST";
pub(crate) const MAGIC: [u8; 8] = *b"DRFTMANI";
pub(crate) const TRAILER_MAGIC: [u8; 8] = *b"DRFTMEND";
pub(crate) const VERSION: u16 = 3;
/// Versions this code reads.
pub(crate) const READABLE_VERSIONS: &[u16] = &[1, 2, 3];

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const RESERVED_OFFSET: usize = VERSION_OFFSET + 2;
const COLLECTION_COUNT_OFFSET: usize = RESERVED_OFFSET + 2;
const GENERATION_OFFSET: usize = COLLECTION_COUNT_OFFSET + 4;
const CHECKPOINT_LSN_OFFSET: usize = GENERATION_OFFSET + 8;
const NEXT_COLLECTION_ID_OFFSET: usize = CHECKPOINT_LSN_OFFSET + 8;
const BODY_LEN_OFFSET: usize = NEXT_COLLECTION_ID_OFFSET + 8;
const RESERVED2_OFFSET: usize = BODY_LEN_OFFSET + 8;
const HEADER_CRC_OFFSET: usize = RESERVED2_OFFSET + 12;
/// Size of the manifest header.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
const _: () = assert!(HEADER_LEN == 64);

/// Layout of the manifest header, checked against `docs/FORMAT.md`.
pub const HEADER_LAYOUT: Layout = Layout {
    name: "Manifest header",
    size: HEADER_LEN,
    fields: &[
        Field { name: "magic", offset: MAGIC_OFFSET, size: 8 },
        Field { name: "version", offset: VERSION_OFFSET, size: 2 },
        Field { name: "reserved", offset: RESERVED_OFFSET, size: 2 },
        Field { name: "collection_count", offset: COLLECTION_COUNT_OFFSET, size: 4 },
        Field { name: "generation", offset: GENERATION_OFFSET, size: 8 },
        Field { name: "checkpoint_lsn", offset: CHECKPOINT_LSN_OFFSET, size: 8 },
        Field { name: "next_collection_id", offset: NEXT_COLLECTION_ID_OFFSET, size: 8 },
        Field { name: "body_len", offset: BODY_LEN_OFFSET, size: 8 },
        Field { name: "reserved2", offset: RESERVED2_OFFSET, size: 12 },
        Field { name: "header_crc", offset: HEADER_CRC_OFFSET, size: 4 },
    ],
};

const C_ID: usize = 0;
const C_NEXT_ROW_ID: usize = C_ID + 8;
const C_NEXT_SHARD_ID: usize = C_NEXT_ROW_ID + 8;
const C_DIMENSION: usize = C_NEXT_SHARD_ID + 8;
const C_METRIC: usize = C_DIMENSION + 4;
const C_RESERVED: usize = C_METRIC + 1;
const C_NAME_LEN: usize = C_RESERVED + 1;
const C_SHARD_COUNT: usize = C_NAME_LEN + 2;
const C_CENTROID_COUNT: usize = C_SHARD_COUNT + 4;
const C_TOMBSTONE_COUNT: usize = C_CENTROID_COUNT + 4;
const C_ATTRIBUTE_COUNT: usize = C_TOMBSTONE_COUNT + 8;
const C_RESERVED3: usize = C_ATTRIBUTE_COUNT + 4;
/// Size of a collection entry.
pub const COLLECTION_LEN: usize = C_RESERVED3 + 12;
const _: () = assert!(COLLECTION_LEN == 64);

/// Layout of a manifest collection entry, checked against `docs/FORMAT.md`.
pub const COLLECTION_LAYOUT: Layout = Layout {
    name: "Manifest collection entry",
    size: COLLECTION_LEN,
    fields: &[
        Field { name: "collection_id", offset: C_ID, size: 8 },
        Field { name: "next_row_id", offset: C_NEXT_ROW_ID, size: 8 },
        Field { name: "next_shard_id", offset: C_NEXT_SHARD_ID, size: 8 },
        Field { name: "dimension", offset: C_DIMENSION, size: 4 },
        Field { name: "metric", offset: C_METRIC, size: 1 },
        Field { name: "reserved", offset: C_RESERVED, size: 1 },
        Field { name: "name_len", offset: C_NAME_LEN, size: 2 },
        Field { name: "shard_count", offset: C_SHARD_COUNT, size: 4 },
        Field { name: "centroid_count", offset: C_CENTROID_COUNT, size: 4 },
        Field { name: "tombstone_count", offset: C_TOMBSTONE_COUNT, size: 8 },
        Field { name: "attribute_count", offset: C_ATTRIBUTE_COUNT, size: 4 },
        Field { name: "reserved3", offset: C_RESERVED3, size: 12 },
    ],
};

const S_ID: usize = 0;
const S_COMMITTED_LEN: usize = S_ID + 8;
const S_ROW_COUNT: usize = S_COMMITTED_LEN + 8;
const S_ROW_GROUP_COUNT: usize = S_ROW_COUNT + 8;
const S_CENTROID_ID: usize = S_ROW_GROUP_COUNT + 4;
const S_SEALED: usize = S_CENTROID_ID + 4;
const S_RESERVED: usize = S_SEALED + 1;
/// Size of a shard entry.
pub const SHARD_LEN: usize = S_RESERVED + 15;
const _: () = assert!(SHARD_LEN == 48);

/// Layout of a manifest shard entry, checked against `docs/FORMAT.md`.
pub const SHARD_LAYOUT: Layout = Layout {
    name: "Manifest shard entry",
    size: SHARD_LEN,
    fields: &[
        Field { name: "shard_id", offset: S_ID, size: 8 },
        Field { name: "committed_len", offset: S_COMMITTED_LEN, size: 8 },
        Field { name: "row_count", offset: S_ROW_COUNT, size: 8 },
        Field { name: "row_group_count", offset: S_ROW_GROUP_COUNT, size: 4 },
        Field { name: "centroid_id", offset: S_CENTROID_ID, size: 4 },
        Field { name: "sealed", offset: S_SEALED, size: 1 },
        Field { name: "reserved", offset: S_RESERVED, size: 15 },
    ],
};

const T_DOCUMENT_ID: usize = 0;
const T_LSN: usize = T_DOCUMENT_ID + 16;
/// Size of a tombstone entry.
pub const TOMBSTONE_LEN: usize = T_LSN + 8;
const _: () = assert!(TOMBSTONE_LEN == 24);

const K_ID: usize = 0;
const K_RESERVED: usize = K_ID + 4;
/// Size of a centroid entry's head (the `dimension` f32 values follow it).
pub const CENTROID_LEN: usize = K_RESERVED + 4;
const _: () = assert!(CENTROID_LEN == 8);

/// Layout of a manifest centroid entry head, checked against `docs/FORMAT.md`.
pub const CENTROID_LAYOUT: Layout = Layout {
    name: "Manifest centroid entry",
    size: CENTROID_LEN,
    fields: &[Field { name: "centroid_id", offset: K_ID, size: 4 }, Field { name: "reserved", offset: K_RESERVED, size: 4 }],
};

/// Layout of a manifest tombstone entry, checked against `docs/FORMAT.md`.
pub const TOMBSTONE_LAYOUT: Layout = Layout {
    name: "Manifest tombstone entry",
    size: TOMBSTONE_LEN,
    fields: &[Field { name: "document_id", offset: T_DOCUMENT_ID, size: 16 }, Field { name: "lsn", offset: T_LSN, size: 8 }],
};

const A_KIND: usize = 0;
const A_RESERVED: usize = A_KIND + 1;
const A_NAME_LEN: usize = A_RESERVED + 1;
const A_RESERVED2: usize = A_NAME_LEN + 2;
/// Size of an attribute entry's head (its name follows, padded to a multiple of 8).
pub const ATTRIBUTE_LEN: usize = A_RESERVED2 + 4;
const _: () = assert!(ATTRIBUTE_LEN == 8);

/// Layout of a manifest attribute entry head, checked against `docs/FORMAT.md`.
pub const ATTRIBUTE_LAYOUT: Layout = Layout {
    name: "Manifest attribute entry",
    size: ATTRIBUTE_LEN,
    fields: &[
        Field { name: "kind", offset: A_KIND, size: 1 },
        Field { name: "reserved", offset: A_RESERVED, size: 1 },
        Field { name: "name_len", offset: A_NAME_LEN, size: 2 },
        Field { name: "reserved2", offset: A_RESERVED2, size: 4 },
    ],
};

const TR_BODY_CRC: usize = 0;
const TR_RESERVED: usize = TR_BODY_CRC + 4;
const TR_MAGIC: usize = TR_RESERVED + 4;
/// Size of the manifest trailer.
pub const TRAILER_LEN: usize = TR_MAGIC + 8;
const _: () = assert!(TRAILER_LEN == 16);

/// Layout of the manifest trailer, checked against `docs/FORMAT.md`.
pub const TRAILER_LAYOUT: Layout = Layout {
    name: "Manifest trailer",
    size: TRAILER_LEN,
    fields: &[
        Field { name: "body_crc", offset: TR_BODY_CRC, size: 4 },
        Field { name: "reserved", offset: TR_RESERVED, size: 4 },
        Field { name: "magic", offset: TR_MAGIC, size: 8 },
    ],
};

/// One shard as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardRecord {
    pub shard_id: u64,
    pub committed_len: u64,
    pub row_count: u64,
    pub row_group_count: u32,
    pub centroid_id: u32,
    pub sealed: bool,
}

/// One collection as the manifest records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CollectionRecord {
    pub id: u64,
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
    pub next_row_id: u64,
    pub next_shard_id: u64,
    pub shards: Vec<ShardRecord>,
    /// (document id, LSN of the delete), sorted by document id.
    pub tombstones: Vec<(u128, u64)>,
    /// The centroid index (empty until the collection is large enough to be indexed).
    pub centroids: Vec<CentroidRecord>,
    /// The attribute schema; an attribute's id is its position.
    pub attributes: Vec<AttributeDef>,
}

/// One centroid of a collection's index; shards name it by `id`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CentroidRecord {
    pub id: u32,
    pub vector: Vec<f32>,
}

/// The whole catalog.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    pub generation: u64,
    pub checkpoint_lsn: u64,
    pub next_collection_id: u64,
    pub collections: Vec<CollectionRecord>,
}

impl Manifest {
    pub fn empty() -> Manifest {
        Manifest { generation: 0, checkpoint_lsn: 0, next_collection_id: 1, collections: Vec::new() }
    }

    pub fn collection_mut(&mut self, id: u64) -> Option<&mut CollectionRecord> {
        self.collections.iter_mut().find(|c| c.id == id)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for c in &self.collections {
            let mut entry = [0u8; COLLECTION_LEN];
            format::put_u64(&mut entry, C_ID, c.id);
            format::put_u64(&mut entry, C_NEXT_ROW_ID, c.next_row_id);
            format::put_u64(&mut entry, C_NEXT_SHARD_ID, c.next_shard_id);
            format::put_u32(&mut entry, C_DIMENSION, c.dimension as u32);
            format::put_u8(&mut entry, C_METRIC, c.metric.code());
            format::put_u16(&mut entry, C_NAME_LEN, c.name.len() as u16);
            format::put_u32(&mut entry, C_SHARD_COUNT, c.shards.len() as u32);
            format::put_u32(&mut entry, C_CENTROID_COUNT, c.centroids.len() as u32);
            format::put_u64(&mut entry, C_TOMBSTONE_COUNT, c.tombstones.len() as u64);
            format::put_u32(&mut entry, C_ATTRIBUTE_COUNT, c.attributes.len() as u32);
            body.extend_from_slice(&entry);
            body.extend_from_slice(c.name.as_bytes());
            body.resize(align_up(body.len() as u64, 8) as usize, 0);
            for s in &c.shards {
                let mut e = [0u8; SHARD_LEN];
                format::put_u64(&mut e, S_ID, s.shard_id);
                format::put_u64(&mut e, S_COMMITTED_LEN, s.committed_len);
                format::put_u64(&mut e, S_ROW_COUNT, s.row_count);
                format::put_u32(&mut e, S_ROW_GROUP_COUNT, s.row_group_count);
                format::put_u32(&mut e, S_CENTROID_ID, s.centroid_id);
                format::put_u8(&mut e, S_SEALED, u8::from(s.sealed));
                body.extend_from_slice(&e);
            }
            for (id, lsn) in &c.tombstones {
                let mut e = [0u8; TOMBSTONE_LEN];
                format::put_u128(&mut e, T_DOCUMENT_ID, *id);
                format::put_u64(&mut e, T_LSN, *lsn);
                body.extend_from_slice(&e);
            }
            for k in &c.centroids {
                let mut e = [0u8; CENTROID_LEN];
                format::put_u32(&mut e, K_ID, k.id);
                body.extend_from_slice(&e);
                for x in &k.vector {
                    body.extend_from_slice(&x.to_le_bytes());
                }
                body.resize(align_up(body.len() as u64, 8) as usize, 0);
            }
            for a in &c.attributes {
                let mut e = [0u8; ATTRIBUTE_LEN];
                format::put_u8(&mut e, A_KIND, a.kind.code());
                format::put_u16(&mut e, A_NAME_LEN, a.name.len() as u16);
                body.extend_from_slice(&e);
                body.extend_from_slice(a.name.as_bytes());
                body.resize(align_up(body.len() as u64, 8) as usize, 0);
            }
        }
        let mut out = vec![0u8; HEADER_LEN];
        out[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&MAGIC);
        format::put_u16(&mut out, VERSION_OFFSET, VERSION);
        format::put_u32(&mut out, COLLECTION_COUNT_OFFSET, self.collections.len() as u32);
        format::put_u64(&mut out, GENERATION_OFFSET, self.generation);
        format::put_u64(&mut out, CHECKPOINT_LSN_OFFSET, self.checkpoint_lsn);
        format::put_u64(&mut out, NEXT_COLLECTION_ID_OFFSET, self.next_collection_id);
        format::put_u64(&mut out, BODY_LEN_OFFSET, body.len() as u64);
        format::seal_header(&mut out);
        let body_crc = format::crc(&body);
        out.extend_from_slice(&body);
        let mut trailer = [0u8; TRAILER_LEN];
        format::put_u32(&mut trailer, TR_BODY_CRC, body_crc);
        trailer[TR_MAGIC..TR_MAGIC + 8].copy_from_slice(&TRAILER_MAGIC);
        out.extend_from_slice(&trailer);
        out
    }

    /// Frames `bytes` as a manifest around whatever body they hold — magic, a readable
    /// version, body length, header CRC, trailer magic and body CRC — so a fuzzer reaches
    /// the body's decoder behind the checksums.
    #[cfg(feature = "unstable")]
    pub(crate) fn reframe(bytes: &mut Vec<u8>) {
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            bytes.resize(HEADER_LEN + TRAILER_LEN, 0);
        }
        let body_end = bytes.len() - TRAILER_LEN;
        bytes[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&MAGIC);
        if !READABLE_VERSIONS.contains(&format::get_u16(bytes, VERSION_OFFSET)) {
            format::put_u16(bytes, VERSION_OFFSET, VERSION);
        }
        format::put_u64(bytes, BODY_LEN_OFFSET, (body_end - HEADER_LEN) as u64);
        format::seal_header(&mut bytes[..HEADER_LEN]);
        let body_crc = format::crc(&bytes[HEADER_LEN..body_end]);
        format::put_u32(&mut bytes[body_end..], TR_BODY_CRC, body_crc);
        bytes[body_end + TR_MAGIC..body_end + TR_MAGIC + 8].copy_from_slice(&TRAILER_MAGIC);
    }

    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let corrupt = |offset: usize, reason: &str| Error::corrupt(path, offset as u64, reason.to_owned());
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(corrupt(0, "manifest is shorter than its header and trailer"));
        }
        let header = &bytes[..HEADER_LEN];
        format::check_header_versions(header, &MAGIC, READABLE_VERSIONS, path, 0, "manifest header")?;
        let body_len = format::get_u64(header, BODY_LEN_OFFSET);
        if body_len != (bytes.len() - HEADER_LEN - TRAILER_LEN) as u64 {
            return Err(corrupt(BODY_LEN_OFFSET, "manifest length disagrees with its header (truncated or extended)"));
        }
        let body = &bytes[HEADER_LEN..bytes.len() - TRAILER_LEN];
        let trailer = &bytes[bytes.len() - TRAILER_LEN..];
        let trailer_at = bytes.len() - TRAILER_LEN;
        if trailer[TR_MAGIC..TR_MAGIC + 8] != TRAILER_MAGIC || !format::all_zero(&trailer[TR_RESERVED..TR_MAGIC]) {
            return Err(corrupt(trailer_at, "bad manifest trailer"));
        }
        let expected = format::get_u32(trailer, TR_BODY_CRC);
        let actual = format::crc(body);
        if expected != actual {
            return Err(Error::ChecksumMismatch { file: path.to_owned(), offset: HEADER_LEN as u64, structure: "manifest body", expected, actual });
        }
        let mut manifest = Manifest {
            generation: format::get_u64(header, GENERATION_OFFSET),
            checkpoint_lsn: format::get_u64(header, CHECKPOINT_LSN_OFFSET),
            next_collection_id: format::get_u64(header, NEXT_COLLECTION_ID_OFFSET),
            collections: Vec::new(),
        };
        let count = format::get_u32(header, COLLECTION_COUNT_OFFSET) as usize;
        let mut at = 0usize;
        let take = |at: &mut usize, len: usize| -> Result<&[u8]> {
            let slice = body
                .get(*at..at.checked_add(len).unwrap_or(usize::MAX))
                .ok_or_else(|| corrupt(HEADER_LEN + *at, "manifest body ends early"))?;
            *at += len;
            Ok(slice)
        };
        for _ in 0..count {
            let entry_at = HEADER_LEN + at;
            let e = take(&mut at, COLLECTION_LEN)?;
            let name_len = format::get_u16(e, C_NAME_LEN) as usize;
            let shard_count = format::get_u32(e, C_SHARD_COUNT) as usize;
            let tombstone_count = format::get_u64(e, C_TOMBSTONE_COUNT) as usize;
            let centroid_count = format::get_u32(e, C_CENTROID_COUNT) as usize;
            let metric = Metric::from_code(format::get_u8(e, C_METRIC)).ok_or_else(|| corrupt(entry_at, "unknown metric"))?;
            let mut record = CollectionRecord {
                id: format::get_u64(e, C_ID),
                name: String::new(),
                dimension: format::get_u32(e, C_DIMENSION) as usize,
                metric,
                next_row_id: format::get_u64(e, C_NEXT_ROW_ID),
                next_shard_id: format::get_u64(e, C_NEXT_SHARD_ID),
                shards: Vec::new(),
                tombstones: Vec::new(),
                centroids: Vec::new(),
                attributes: Vec::new(),
            };
            let attribute_count = format::get_u32(e, C_ATTRIBUTE_COUNT) as usize;
            if attribute_count > crate::attributes::MAX_ATTRIBUTES {
                return Err(corrupt(entry_at, "collection entry claims more attributes than a schema may hold"));
            }
            let name = take(&mut at, align_up(name_len as u64, 8) as usize)?;
            record.name = std::str::from_utf8(&name[..name_len])
                .map_err(|_| corrupt(entry_at, "collection name is not UTF-8"))?
                .to_owned();
            if shard_count.saturating_mul(SHARD_LEN).saturating_add(tombstone_count.saturating_mul(TOMBSTONE_LEN)) > body.len() - at {
                return Err(corrupt(entry_at, "collection entry counts exceed the manifest body"));
            }
            for _ in 0..shard_count {
                let s = take(&mut at, SHARD_LEN)?;
                record.shards.push(ShardRecord {
                    shard_id: format::get_u64(s, S_ID),
                    committed_len: format::get_u64(s, S_COMMITTED_LEN),
                    row_count: format::get_u64(s, S_ROW_COUNT),
                    row_group_count: format::get_u32(s, S_ROW_GROUP_COUNT),
                    centroid_id: format::get_u32(s, S_CENTROID_ID),
                    sealed: format::get_u8(s, S_SEALED) != 0,
                });
            }
            for _ in 0..tombstone_count {
                let t = take(&mut at, TOMBSTONE_LEN)?;
                record.tombstones.push((format::get_u128(t, T_DOCUMENT_ID), format::get_u64(t, T_LSN)));
            }
            let centroid_len = align_up((CENTROID_LEN + 4 * record.dimension) as u64, 8) as usize;
            if centroid_count.saturating_mul(centroid_len) > body.len() - at {
                return Err(corrupt(entry_at, "collection centroid count exceeds the manifest body"));
            }
            for _ in 0..centroid_count {
                let k = take(&mut at, centroid_len)?;
                let vector: Vec<f32> = k[CENTROID_LEN..CENTROID_LEN + 4 * record.dimension]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                if vector.iter().any(|x| !x.is_finite()) {
                    return Err(corrupt(entry_at, "a centroid holds a non-finite value"));
                }
                record.centroids.push(CentroidRecord { id: format::get_u32(k, K_ID), vector });
            }
            for _ in 0..attribute_count {
                let a = take(&mut at, ATTRIBUTE_LEN)?;
                let kind = AttributeType::from_code(format::get_u8(a, A_KIND)).ok_or_else(|| corrupt(entry_at, "unknown attribute type"))?;
                let name_len = format::get_u16(a, A_NAME_LEN) as usize;
                let name = take(&mut at, align_up(name_len as u64, 8) as usize)?;
                let name = std::str::from_utf8(&name[..name_len]).map_err(|_| corrupt(entry_at, "attribute name is not UTF-8"))?;
                record.attributes.push(AttributeDef::new(name, kind));
            }
            crate::attributes::check_schema(&record.attributes).map_err(|e| corrupt(entry_at, &format!("bad attribute schema: {e}")))?;
            manifest.collections.push(record);
        }
        if at != body.len() {
            return Err(corrupt(HEADER_LEN + at, "manifest body has trailing bytes"));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips() {
        let m = Manifest {
            generation: 7,
            checkpoint_lsn: 99,
            next_collection_id: 3,
            collections: vec![CollectionRecord {
                id: 2,
                name: "docs".into(),
                dimension: 384,
                metric: Metric::Cosine,
                next_row_id: 10,
                next_shard_id: 2,
                shards: vec![ShardRecord { shard_id: 1, committed_len: 4096, row_count: 10, row_group_count: 1, centroid_id: u32::MAX, sealed: true }],
                tombstones: vec![(5, 40)],
                centroids: Vec::new(),
                attributes: vec![crate::attributes::AttributeDef::new("size", crate::attributes::AttributeType::U64)],
            }],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, Path::new("MANIFEST")).unwrap(), m);
        let mut indexed = m.clone();
        indexed.collections[0].dimension = 3;
        indexed.collections[0].centroids =
            vec![CentroidRecord { id: 0, vector: vec![1.0, 2.0, 3.0] }, CentroidRecord { id: 9, vector: vec![-1.0, 0.5, 0.0] }];
        let bytes = indexed.encode();
        assert_eq!(Manifest::decode(&bytes, Path::new("MANIFEST")).unwrap(), indexed);
    }
}
