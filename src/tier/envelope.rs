//! What the S3 tier writes: the pointer, manifest generations, the local owner file.
//!
//! Object keys under the prefix (version 2; every key a writer puts carries its own
//! writer id, so no other writer can produce it):
//! - `shards/<writer>-<collection>-<shard>.shard` — sealed shard files, byte-for-byte
//!   the local files (so a fetched object is mapped as it is);
//! - `manifests/<generation, 20 digits>-<writer>.manifest` — immutable manifest
//!   generations: a 64-byte generation header, a complete `MANIFEST` file, then one
//!   32-byte origin entry per shard saying whose key holds it;
//! - `POINTER` — 64 bytes naming the current generation and the writer that owns the
//!   prefix (and wrote that generation); created with `If-None-Match: *` and advanced
//!   with `If-Match: <etag>`.
//!
//! Version 1 prefixes (keys without a writer id: `shards/<collection>-<shard>.shard`,
//! `manifests/<generation>.manifest`, generations without origins) are still read: a
//! version-1 pointer names a legacy generation key, and origin writer 0 names a
//! legacy shard key.
//!
//! Locally, `<dir>/TIER` (64 bytes, written with the durable-replace helper) holds the
//! writer id of this database and the writer it took the prefix over from.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, Field, Layout};

pub(crate) const POINTER_KEY: &str = "POINTER";
pub(crate) const POINTER_MAGIC: [u8; 8] = *b"DRFTS3PT";
pub(crate) const GENERATION_MAGIC: [u8; 8] = *b"DRFTS3MG";
pub(crate) const OWNER_MAGIC: [u8; 8] = *b"DRFTTIER";
/// Version of every tier structure drift writes; version 1 is still read.
pub(crate) const VERSION: u16 = 2;
const READABLE: &[u16] = &[1, 2];

/// Where a shard's object lives: the writer whose key holds it (0 = a version-1 key).
pub(crate) type Origins = HashMap<(u64, u64), u128>;

/// Key of generation `generation` written by `writer_id` (0 = a version-1 key).
pub(crate) fn generation_key(generation: u64, writer_id: u128) -> String {
    if writer_id == 0 {
        format!("manifests/{generation:020}.manifest")
    } else {
        format!("manifests/{generation:020}-{writer_id:032x}.manifest")
    }
}

/// (generation, writer id) of a generation key; writer 0 for a version-1 key.
pub(crate) fn parse_generation_key(key: &str) -> Option<(u64, u128)> {
    let name = key.strip_prefix("manifests/")?.strip_suffix(".manifest")?;
    match name.split_once('-') {
        None => Some((name.parse().ok()?, 0)),
        Some((g, w)) if w.len() == 32 => Some((g.parse().ok()?, u128::from_str_radix(w, 16).ok()?)),
        Some(_) => None,
    }
}

/// Key of shard `shard_id` of collection `collection_id` uploaded by `writer_id`
/// (0 = a version-1 key).
pub(crate) fn shard_key(writer_id: u128, collection_id: u64, shard_id: u64) -> String {
    if writer_id == 0 {
        format!("shards/{collection_id:016x}-{shard_id:016x}.shard")
    } else {
        format!("shards/{writer_id:032x}-{collection_id:016x}-{shard_id:016x}.shard")
    }
}

/// (writer id, collection id, shard id) of a shard key; writer 0 for a version-1 key.
pub(crate) fn parse_shard_key(key: &str) -> Option<(u128, u64, u64)> {
    let name = key.strip_prefix("shards/")?.strip_suffix(".shard")?;
    let parts: Vec<&str> = name.split('-').collect();
    let hex64 = |s: &str| (s.len() == 16).then(|| u64::from_str_radix(s, 16).ok()).flatten();
    match parts.as_slice() {
        [c, s] => Some((0, hex64(c)?, hex64(s)?)),
        [w, c, s] if w.len() == 32 => Some((u128::from_str_radix(w, 16).ok()?, hex64(c)?, hex64(s)?)),
        _ => None,
    }
}

const P_MAGIC: usize = 0;
const P_VERSION: usize = P_MAGIC + 8;
const P_RESERVED: usize = P_VERSION + 2;
const P_GENERATION: usize = P_RESERVED + 6;
const P_WRITER: usize = P_GENERATION + 8;
const P_RESERVED2: usize = P_WRITER + 16;
const P_CRC: usize = P_RESERVED2 + 20;
/// Size of the pointer object.
pub const POINTER_LEN: usize = P_CRC + 4;
const _: () = assert!(POINTER_LEN == 64);

/// Layout of the pointer object, checked against `docs/FORMAT.md`.
pub const POINTER_LAYOUT: Layout = Layout {
    name: "S3 pointer",
    size: POINTER_LEN,
    fields: &[
        Field { name: "magic", offset: P_MAGIC, size: 8 },
        Field { name: "version", offset: P_VERSION, size: 2 },
        Field { name: "reserved", offset: P_RESERVED, size: 6 },
        Field { name: "generation", offset: P_GENERATION, size: 8 },
        Field { name: "writer_id", offset: P_WRITER, size: 16 },
        Field { name: "reserved2", offset: P_RESERVED2, size: 20 },
        Field { name: "crc", offset: P_CRC, size: 4 },
    ],
};

const G_MAGIC: usize = 0;
const G_VERSION: usize = G_MAGIC + 8;
const G_RESERVED: usize = G_VERSION + 2;
const G_GENERATION: usize = G_RESERVED + 6;
const G_WRITER: usize = G_GENERATION + 8;
const G_MANIFEST_LEN: usize = G_WRITER + 16;
const G_MANIFEST_CRC: usize = G_MANIFEST_LEN + 8;
const G_ORIGIN_COUNT: usize = G_MANIFEST_CRC + 4;
const G_ORIGINS_CRC: usize = G_ORIGIN_COUNT + 4;
const G_CRC: usize = G_ORIGINS_CRC + 4;
/// Size of the generation header.
pub const GENERATION_HEADER_LEN: usize = G_CRC + 4;
const _: () = assert!(GENERATION_HEADER_LEN == 64);

/// Layout of a manifest generation's header, checked against `docs/FORMAT.md`.
pub const GENERATION_LAYOUT: Layout = Layout {
    name: "S3 manifest generation header",
    size: GENERATION_HEADER_LEN,
    fields: &[
        Field { name: "magic", offset: G_MAGIC, size: 8 },
        Field { name: "version", offset: G_VERSION, size: 2 },
        Field { name: "reserved", offset: G_RESERVED, size: 6 },
        Field { name: "generation", offset: G_GENERATION, size: 8 },
        Field { name: "writer_id", offset: G_WRITER, size: 16 },
        Field { name: "manifest_len", offset: G_MANIFEST_LEN, size: 8 },
        Field { name: "manifest_crc", offset: G_MANIFEST_CRC, size: 4 },
        Field { name: "origin_count", offset: G_ORIGIN_COUNT, size: 4 },
        Field { name: "origins_crc", offset: G_ORIGINS_CRC, size: 4 },
        Field { name: "header_crc", offset: G_CRC, size: 4 },
    ],
};

const E_COLLECTION: usize = 0;
const E_SHARD: usize = E_COLLECTION + 8;
const E_WRITER: usize = E_SHARD + 8;
/// Size of an origin entry.
pub const ORIGIN_LEN: usize = E_WRITER + 16;
const _: () = assert!(ORIGIN_LEN == 32);

/// Layout of an origin entry of a manifest generation, checked against `docs/FORMAT.md`.
pub const ORIGIN_LAYOUT: Layout = Layout {
    name: "S3 generation origin entry",
    size: ORIGIN_LEN,
    fields: &[
        Field { name: "collection_id", offset: E_COLLECTION, size: 8 },
        Field { name: "shard_id", offset: E_SHARD, size: 8 },
        Field { name: "writer_id", offset: E_WRITER, size: 16 },
    ],
};

const O_MAGIC: usize = 0;
const O_VERSION: usize = O_MAGIC + 8;
const O_RESERVED: usize = O_VERSION + 2;
const O_WRITER: usize = O_RESERVED + 6;
const O_PREDECESSOR: usize = O_WRITER + 16;
const O_RESERVED2: usize = O_PREDECESSOR + 16;
const O_CRC: usize = O_RESERVED2 + 12;
/// Size of the local owner file.
pub const OWNER_LEN: usize = O_CRC + 4;
const _: () = assert!(OWNER_LEN == 64);

/// Layout of the local `TIER` file, checked against `docs/FORMAT.md`.
pub const OWNER_LAYOUT: Layout = Layout {
    name: "Local TIER file",
    size: OWNER_LEN,
    fields: &[
        Field { name: "magic", offset: O_MAGIC, size: 8 },
        Field { name: "version", offset: O_VERSION, size: 2 },
        Field { name: "reserved", offset: O_RESERVED, size: 6 },
        Field { name: "writer_id", offset: O_WRITER, size: 16 },
        Field { name: "predecessor", offset: O_PREDECESSOR, size: 16 },
        Field { name: "reserved2", offset: O_RESERVED2, size: 12 },
        Field { name: "crc", offset: O_CRC, size: 4 },
    ],
};

/// The current generation of a prefix and the writer that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub generation: u64,
    pub writer_id: u128,
    /// 1: the generation object has a version-1 key; 2: it is `generation_key(generation, writer_id)`.
    pub version: u16,
}

impl Pointer {
    /// A version-2 pointer.
    pub fn new(generation: u64, writer_id: u128) -> Pointer {
        Pointer { generation, writer_id, version: VERSION }
    }

    /// Key of the generation object this pointer names.
    pub fn generation_key(&self) -> String {
        generation_key(self.generation, if self.version == 1 { 0 } else { self.writer_id })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; POINTER_LEN];
        b[..8].copy_from_slice(&POINTER_MAGIC);
        format::put_u16(&mut b, P_VERSION, VERSION);
        format::put_u64(&mut b, P_GENERATION, self.generation);
        format::put_u128(&mut b, P_WRITER, self.writer_id);
        format::seal_header(&mut b);
        b
    }

    pub fn decode(bytes: &[u8], location: &str) -> Result<Pointer> {
        let file = Path::new(location);
        if bytes.len() != POINTER_LEN {
            return Err(Error::corrupt(file, 0, format!("pointer object has {} bytes, expected {POINTER_LEN}", bytes.len())));
        }
        format::check_header_versions(bytes, &POINTER_MAGIC, READABLE, file, 0, "S3 pointer")?;
        Ok(Pointer {
            generation: format::get_u64(bytes, P_GENERATION),
            writer_id: format::get_u128(bytes, P_WRITER),
            version: format::get_u16(bytes, P_VERSION),
        })
    }
}

/// A decoded manifest generation object.
#[derive(Debug)]
pub(crate) struct Generation<'a> {
    pub generation: u64,
    pub writer_id: u128,
    pub manifest: &'a [u8],
    /// Whose key holds each shard; empty for a version-1 object (every shard under
    /// its version-1 key).
    pub origins: Origins,
}

/// Wraps a manifest as generation `generation` written by `writer_id`, with the
/// origin of every shard it names.
pub(crate) fn encode_generation(generation: u64, writer_id: u128, manifest: &[u8], origins: &[(u64, u64, u128)]) -> Vec<u8> {
    let mut table = vec![0u8; origins.len() * ORIGIN_LEN];
    for (entry, &(c, s, w)) in table.chunks_exact_mut(ORIGIN_LEN).zip(origins) {
        format::put_u64(entry, E_COLLECTION, c);
        format::put_u64(entry, E_SHARD, s);
        format::put_u128(entry, E_WRITER, w);
    }
    let mut b = vec![0u8; GENERATION_HEADER_LEN];
    b[..8].copy_from_slice(&GENERATION_MAGIC);
    format::put_u16(&mut b, G_VERSION, VERSION);
    format::put_u64(&mut b, G_GENERATION, generation);
    format::put_u128(&mut b, G_WRITER, writer_id);
    format::put_u64(&mut b, G_MANIFEST_LEN, manifest.len() as u64);
    format::put_u32(&mut b, G_MANIFEST_CRC, format::crc(manifest));
    format::put_u32(&mut b, G_ORIGIN_COUNT, origins.len() as u32);
    format::put_u32(&mut b, G_ORIGINS_CRC, format::crc(&table));
    format::seal_header(&mut b);
    b.extend_from_slice(manifest);
    b.extend_from_slice(&table);
    b
}

/// Decodes a generation object (version 1 or 2). Lengths come from the checksummed
/// header and must add up to the object's size exactly.
pub(crate) fn decode_generation<'a>(bytes: &'a [u8], key: &str) -> Result<Generation<'a>> {
    let file = Path::new(key);
    let header = bytes
        .get(..GENERATION_HEADER_LEN)
        .ok_or_else(|| Error::corrupt(file, 0, "manifest generation shorter than its header"))?;
    format::check_header_versions(header, &GENERATION_MAGIC, READABLE, file, 0, "S3 manifest generation header")?;
    let version = format::get_u16(header, G_VERSION);
    let manifest_len = format::get_u64(header, G_MANIFEST_LEN);
    let origin_count = if version == 1 { 0 } else { u64::from(format::get_u32(header, G_ORIGIN_COUNT)) };
    let body = &bytes[GENERATION_HEADER_LEN..];
    if Some(body.len() as u64) != manifest_len.checked_add(origin_count * ORIGIN_LEN as u64) {
        return Err(Error::corrupt(file, G_MANIFEST_LEN as u64, "manifest generation length disagrees with its header"));
    }
    let (manifest, table) = body.split_at(manifest_len as usize);
    let check = |bytes: &[u8], at: usize, offset: usize, structure: &'static str| {
        let expected = format::get_u32(header, at);
        let actual = format::crc(bytes);
        if expected != actual {
            return Err(Error::ChecksumMismatch { file: file.to_owned(), offset: offset as u64, structure, expected, actual });
        }
        Ok(())
    };
    check(manifest, G_MANIFEST_CRC, GENERATION_HEADER_LEN, "S3 manifest generation body")?;
    let mut origins = Origins::new();
    if version > 1 {
        check(table, G_ORIGINS_CRC, GENERATION_HEADER_LEN + manifest.len(), "S3 generation origin table")?;
        for entry in table.chunks_exact(ORIGIN_LEN) {
            let at = (format::get_u64(entry, E_COLLECTION), format::get_u64(entry, E_SHARD));
            if origins.insert(at, format::get_u128(entry, E_WRITER)).is_some() {
                return Err(Error::corrupt(file, 0, format!("origin table names shard {:?} twice", at)));
            }
        }
    }
    Ok(Generation { generation: format::get_u64(header, G_GENERATION), writer_id: format::get_u128(header, G_WRITER), manifest, origins })
}

/// The local `TIER` file: this database's writer id and the writer it took the prefix
/// over from (0 if none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub writer_id: u128,
    pub predecessor: u128,
}

pub(crate) fn encode_owner(owner: Owner) -> Vec<u8> {
    let mut b = vec![0u8; OWNER_LEN];
    b[..8].copy_from_slice(&OWNER_MAGIC);
    format::put_u16(&mut b, O_VERSION, VERSION);
    format::put_u128(&mut b, O_WRITER, owner.writer_id);
    format::put_u128(&mut b, O_PREDECESSOR, owner.predecessor);
    format::seal_header(&mut b);
    b
}

pub(crate) fn decode_owner(bytes: &[u8], path: &Path) -> Result<Owner> {
    if bytes.len() != OWNER_LEN {
        return Err(Error::corrupt(path, 0, format!("TIER file has {} bytes, expected {OWNER_LEN}", bytes.len())));
    }
    format::check_header_versions(bytes, &OWNER_MAGIC, READABLE, path, 0, "TIER file")?;
    // Version 1 kept these bytes reserved (zero): no predecessor.
    Ok(Owner { writer_id: format::get_u128(bytes, O_WRITER), predecessor: format::get_u128(bytes, O_PREDECESSOR) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_carry_the_writer() {
        let w = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        assert_eq!(parse_shard_key(&shard_key(w, 3, 9)), Some((w, 3, 9)));
        assert_eq!(parse_shard_key(&shard_key(0, 3, 9)), Some((0, 3, 9)));
        assert_ne!(shard_key(w, 3, 9), shard_key(w ^ 1, 3, 9));
        assert_eq!(parse_generation_key(&generation_key(7, w)), Some((7, w)));
        assert_eq!(parse_generation_key(&generation_key(7, 0)), Some((7, 0)));
        assert_eq!(parse_shard_key("shards/x.shard"), None);
    }

    #[test]
    fn a_generation_round_trips_and_any_flipped_bit_is_refused() {
        let origins = [(1, 2, 5u128), (1, 3, 0)];
        let bytes = encode_generation(4, 5, b"manifest bytes", &origins);
        let g = decode_generation(&bytes, "k").unwrap();
        assert_eq!((g.generation, g.writer_id, g.manifest), (4, 5, &b"manifest bytes"[..]));
        assert_eq!((g.origins[&(1, 2)], g.origins[&(1, 3)], g.origins.len()), (5, 0, 2));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_generation(&damaged, "k").is_err(), "bit {bit}");
        }
        assert!(decode_generation(&bytes[..bytes.len() - 1], "k").is_err());
    }
}
