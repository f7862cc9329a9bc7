//! What the S3 tier writes: the pointer, manifest generations, the local owner file.
//!
//! Object keys under the prefix:
//! - `shards/<collection>-<shard>.shard` — sealed shard files, byte-for-byte the local
//!   files (so a fetched object is mapped as it is);
//! - `manifests/<generation, 20 digits>.manifest` — immutable manifest generations:
//!   a 64-byte generation header followed by a complete `MANIFEST` file;
//! - `POINTER` — 64 bytes naming the current generation and its writer; created with
//!   `If-None-Match: *` and advanced with `If-Match: <etag>`.
//!
//! Locally, `<dir>/TIER` (64 bytes, written with the durable-replace helper) holds the
//! writer id of this database.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, Field, Layout};

pub(crate) const POINTER_KEY: &str = "POINTER";
pub(crate) const POINTER_MAGIC: [u8; 8] = *b"DRFTS3PT";
pub(crate) const GENERATION_MAGIC: [u8; 8] = *b"DRFTS3MG";
pub(crate) const OWNER_MAGIC: [u8; 8] = *b"DRFTTIER";
pub(crate) const VERSION: u16 = 1;

pub(crate) fn generation_key(generation: u64) -> String {
    format!("manifests/{generation:020}.manifest")
}

pub(crate) fn shard_key(collection_id: u64, shard_id: u64) -> String {
    format!("shards/{collection_id:016x}-{shard_id:016x}.shard")
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
const G_RESERVED2: usize = G_MANIFEST_CRC + 4;
const G_CRC: usize = G_RESERVED2 + 8;
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
        Field { name: "reserved2", offset: G_RESERVED2, size: 8 },
        Field { name: "header_crc", offset: G_CRC, size: 4 },
    ],
};

const O_MAGIC: usize = 0;
const O_VERSION: usize = O_MAGIC + 8;
const O_RESERVED: usize = O_VERSION + 2;
const O_WRITER: usize = O_RESERVED + 6;
const O_RESERVED2: usize = O_WRITER + 16;
const O_CRC: usize = O_RESERVED2 + 28;
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
        Field { name: "reserved2", offset: O_RESERVED2, size: 28 },
        Field { name: "crc", offset: O_CRC, size: 4 },
    ],
};

/// The current generation of a prefix and who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub generation: u64,
    pub writer_id: u128,
}

impl Pointer {
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
        format::check_header(bytes, &POINTER_MAGIC, VERSION, file, 0, "S3 pointer")?;
        Ok(Pointer { generation: format::get_u64(bytes, P_GENERATION), writer_id: format::get_u128(bytes, P_WRITER) })
    }
}

/// Wraps a manifest as generation `generation` written by `writer_id`.
pub(crate) fn encode_generation(generation: u64, writer_id: u128, manifest: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; GENERATION_HEADER_LEN];
    b[..8].copy_from_slice(&GENERATION_MAGIC);
    format::put_u16(&mut b, G_VERSION, VERSION);
    format::put_u64(&mut b, G_GENERATION, generation);
    format::put_u128(&mut b, G_WRITER, writer_id);
    format::put_u64(&mut b, G_MANIFEST_LEN, manifest.len() as u64);
    format::put_u32(&mut b, G_MANIFEST_CRC, format::crc(manifest));
    format::seal_header(&mut b);
    b.extend_from_slice(manifest);
    b
}

/// (generation, writer id, manifest bytes) of a generation object.
pub(crate) fn decode_generation<'a>(bytes: &'a [u8], key: &str) -> Result<(u64, u128, &'a [u8])> {
    let file = Path::new(key);
    let header = bytes
        .get(..GENERATION_HEADER_LEN)
        .ok_or_else(|| Error::corrupt(file, 0, "manifest generation shorter than its header"))?;
    format::check_header(header, &GENERATION_MAGIC, VERSION, file, 0, "S3 manifest generation header")?;
    let len = format::get_u64(header, G_MANIFEST_LEN);
    let body = &bytes[GENERATION_HEADER_LEN..];
    if body.len() as u64 != len {
        return Err(Error::corrupt(file, G_MANIFEST_LEN as u64, "manifest generation length disagrees with its header"));
    }
    let expected = format::get_u32(header, G_MANIFEST_CRC);
    let actual = format::crc(body);
    if expected != actual {
        return Err(Error::ChecksumMismatch { file: file.to_owned(), offset: GENERATION_HEADER_LEN as u64, structure: "S3 manifest generation body", expected, actual });
    }
    Ok((format::get_u64(header, G_GENERATION), format::get_u128(header, G_WRITER), body))
}

pub(crate) fn encode_owner(writer_id: u128) -> Vec<u8> {
    let mut b = vec![0u8; OWNER_LEN];
    b[..8].copy_from_slice(&OWNER_MAGIC);
    format::put_u16(&mut b, O_VERSION, VERSION);
    format::put_u128(&mut b, O_WRITER, writer_id);
    format::seal_header(&mut b);
    b
}

pub(crate) fn decode_owner(bytes: &[u8], path: &Path) -> Result<u128> {
    if bytes.len() != OWNER_LEN {
        return Err(Error::corrupt(path, 0, format!("TIER file has {} bytes, expected {OWNER_LEN}", bytes.len())));
    }
    format::check_header(bytes, &OWNER_MAGIC, VERSION, path, 0, "TIER file")?;
    Ok(format::get_u128(bytes, O_WRITER))
}
