//! The footer of a sealed shard file: row-group index, bloom filter, trailer.
//!
//! Laid out after the last row group: the index (one 32-byte entry per row group) at
//! `index_offset` (64-aligned), the bloom filter words at `bloom_offset` (64-aligned),
//! then the 64-byte trailer at the next 64-aligned offset, which is the last 64 bytes
//! of the file.
//!
//! Index entry: `offset u64, total_len u64, row_count u32, reserved u32, max_lsn u64`.
//!
//! Trailer:
//!
//! | offset | size | field           | meaning                                   |
//! |-------:|-----:|-----------------|-------------------------------------------|
//! | 0      | 8    | magic           | `DRFTFOOT`                                |
//! | 8      | 2    | version         | 1                                         |
//! | 10     | 2    | reserved        | zero                                      |
//! | 12     | 4    | row_group_count | entries in the index                      |
//! | 16     | 8    | index_offset    | file offset of the index                  |
//! | 24     | 8    | bloom_offset    | file offset of the bloom words            |
//! | 32     | 4    | bloom_words     | number of u64 bloom words                 |
//! | 36     | 4    | bloom_hashes    | probes per id                             |
//! | 40     | 8    | row_count       | rows in the shard                         |
//! | 48     | 4    | footer_crc      | CRC32C of the index and bloom bytes       |
//! | 52     | 8    | reserved2       | zero                                      |
//! | 60     | 4    | trailer_crc     | CRC32C of bytes 0..60                     |

use std::path::Path;

use super::bloom::{self, BloomBuilder};
use super::row_group::{ALIGN, RowGroupMeta};
use crate::error::{Error, Result};
use crate::format::{self, Field, Layout, align_up};
use crate::io::MmapView;

pub(crate) const MAGIC: [u8; 8] = *b"DRFTFOOT";
pub(crate) const VERSION: u16 = 1;

const ENTRY_OFFSET_OFFSET: usize = 0;
const ENTRY_TOTAL_LEN_OFFSET: usize = ENTRY_OFFSET_OFFSET + 8;
const ENTRY_ROW_COUNT_OFFSET: usize = ENTRY_TOTAL_LEN_OFFSET + 8;
const ENTRY_RESERVED_OFFSET: usize = ENTRY_ROW_COUNT_OFFSET + 4;
const ENTRY_MAX_LSN_OFFSET: usize = ENTRY_RESERVED_OFFSET + 4;
/// Size of one index entry.
pub const INDEX_ENTRY_LEN: usize = ENTRY_MAX_LSN_OFFSET + 8;
const _: () = assert!(INDEX_ENTRY_LEN == 32);

/// Layout of a footer index entry, checked against `docs/FORMAT.md`.
pub const INDEX_ENTRY_LAYOUT: Layout = Layout {
    name: "Footer index entry",
    size: INDEX_ENTRY_LEN,
    fields: &[
        Field { name: "offset", offset: ENTRY_OFFSET_OFFSET, size: 8 },
        Field { name: "total_len", offset: ENTRY_TOTAL_LEN_OFFSET, size: 8 },
        Field { name: "row_count", offset: ENTRY_ROW_COUNT_OFFSET, size: 4 },
        Field { name: "reserved", offset: ENTRY_RESERVED_OFFSET, size: 4 },
        Field { name: "max_lsn", offset: ENTRY_MAX_LSN_OFFSET, size: 8 },
    ],
};

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const RESERVED_OFFSET: usize = VERSION_OFFSET + 2;
const ROW_GROUP_COUNT_OFFSET: usize = RESERVED_OFFSET + 2;
const INDEX_OFFSET_OFFSET: usize = ROW_GROUP_COUNT_OFFSET + 4;
const BLOOM_OFFSET_OFFSET: usize = INDEX_OFFSET_OFFSET + 8;
const BLOOM_WORDS_OFFSET: usize = BLOOM_OFFSET_OFFSET + 8;
const BLOOM_HASHES_OFFSET: usize = BLOOM_WORDS_OFFSET + 4;
const ROW_COUNT_OFFSET: usize = BLOOM_HASHES_OFFSET + 4;
const FOOTER_CRC_OFFSET: usize = ROW_COUNT_OFFSET + 8;
const RESERVED2_OFFSET: usize = FOOTER_CRC_OFFSET + 4;
const TRAILER_CRC_OFFSET: usize = RESERVED2_OFFSET + 8;
/// Size of the footer trailer.
pub const TRAILER_LEN: usize = TRAILER_CRC_OFFSET + 4;
const _: () = assert!(TRAILER_LEN == 64);

/// Layout of the footer trailer, checked against `docs/FORMAT.md`.
pub const TRAILER_LAYOUT: Layout = Layout {
    name: "Shard footer trailer",
    size: TRAILER_LEN,
    fields: &[
        Field { name: "magic", offset: MAGIC_OFFSET, size: 8 },
        Field { name: "version", offset: VERSION_OFFSET, size: 2 },
        Field { name: "reserved", offset: RESERVED_OFFSET, size: 2 },
        Field { name: "row_group_count", offset: ROW_GROUP_COUNT_OFFSET, size: 4 },
        Field { name: "index_offset", offset: INDEX_OFFSET_OFFSET, size: 8 },
        Field { name: "bloom_offset", offset: BLOOM_OFFSET_OFFSET, size: 8 },
        Field { name: "bloom_words", offset: BLOOM_WORDS_OFFSET, size: 4 },
        Field { name: "bloom_hashes", offset: BLOOM_HASHES_OFFSET, size: 4 },
        Field { name: "row_count", offset: ROW_COUNT_OFFSET, size: 8 },
        Field { name: "footer_crc", offset: FOOTER_CRC_OFFSET, size: 4 },
        Field { name: "reserved2", offset: RESERVED2_OFFSET, size: 8 },
        Field { name: "trailer_crc", offset: TRAILER_CRC_OFFSET, size: 4 },
    ],
};

/// Encodes the footer to be written at `data_end` (the end of the last row group).
pub(crate) fn encode(data_end: u64, groups: &[RowGroupMeta], bloom: &BloomBuilder) -> Vec<u8> {
    let index_offset = data_end;
    let bloom_offset = align_up(index_offset + (groups.len() * INDEX_ENTRY_LEN) as u64, ALIGN);
    let trailer_offset = align_up(bloom_offset + bloom.words.len() as u64 * 8, ALIGN);
    let mut buf = vec![0u8; (trailer_offset + TRAILER_LEN as u64 - data_end) as usize];
    for (i, g) in groups.iter().enumerate() {
        let at = i * INDEX_ENTRY_LEN;
        format::put_u64(&mut buf, at + ENTRY_OFFSET_OFFSET, g.offset);
        format::put_u64(&mut buf, at + ENTRY_TOTAL_LEN_OFFSET, g.layout.total_len);
        format::put_u32(&mut buf, at + ENTRY_ROW_COUNT_OFFSET, g.rows as u32);
        format::put_u64(&mut buf, at + ENTRY_MAX_LSN_OFFSET, g.max_lsn);
    }
    let bloom_at = (bloom_offset - data_end) as usize;
    for (i, w) in bloom.words.iter().enumerate() {
        format::put_u64(&mut buf, bloom_at + i * 8, *w);
    }
    let trailer_at = (trailer_offset - data_end) as usize;
    let footer_crc = format::crc(&buf[..trailer_at]);
    let rows: u64 = groups.iter().map(|g| g.rows as u64).sum();
    let t = &mut buf[trailer_at..];
    t[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&MAGIC);
    format::put_u16(t, VERSION_OFFSET, VERSION);
    format::put_u32(t, ROW_GROUP_COUNT_OFFSET, groups.len() as u32);
    format::put_u64(t, INDEX_OFFSET_OFFSET, index_offset);
    format::put_u64(t, BLOOM_OFFSET_OFFSET, bloom_offset);
    format::put_u32(t, BLOOM_WORDS_OFFSET, bloom.words.len() as u32);
    format::put_u32(t, BLOOM_HASHES_OFFSET, bloom::HASHES);
    format::put_u64(t, ROW_COUNT_OFFSET, rows);
    format::put_u32(t, FOOTER_CRC_OFFSET, footer_crc);
    format::seal_header(t);
    buf
}

/// A parsed, checked footer.
#[derive(Debug, Clone)]
pub(crate) struct Footer {
    /// (offset, total_len, rows, max_lsn) per row group.
    pub entries: Vec<(u64, u64, usize, u64)>,
    pub bloom_offset: u64,
    pub bloom_words: usize,
    pub bloom_hashes: u32,
    pub rows: u64,
    pub index_offset: u64,
}

impl Footer {
    /// Parses the footer of a sealed shard whose mapped length is `file_len`.
    pub fn parse(view: &MmapView, file_len: u64, path: &Path) -> Result<Footer> {
        let trailer_offset = file_len
            .checked_sub(TRAILER_LEN as u64)
            .ok_or_else(|| Error::corrupt(path, 0, "sealed shard too short for a footer"))?;
        let t = view
            .slice(trailer_offset, TRAILER_LEN as u64)
            .ok_or_else(|| Error::corrupt(path, trailer_offset, "footer trailer out of bounds"))?;
        format::check_header(t, &MAGIC, VERSION, path, trailer_offset, "shard footer trailer")?;
        let count = format::get_u32(t, ROW_GROUP_COUNT_OFFSET) as usize;
        let index_offset = format::get_u64(t, INDEX_OFFSET_OFFSET);
        let bloom_offset = format::get_u64(t, BLOOM_OFFSET_OFFSET);
        let bloom_words = format::get_u32(t, BLOOM_WORDS_OFFSET) as usize;
        let bloom_hashes = format::get_u32(t, BLOOM_HASHES_OFFSET);
        let rows = format::get_u64(t, ROW_COUNT_OFFSET);
        let index_end = index_offset.checked_add((count * INDEX_ENTRY_LEN) as u64);
        let bloom_end = bloom_offset.checked_add(bloom_words as u64 * 8);
        let consistent = index_end.is_some_and(|e| e <= bloom_offset)
            && bloom_end.is_some_and(|e| e <= trailer_offset)
            && index_offset.is_multiple_of(ALIGN)
            && bloom_offset.is_multiple_of(ALIGN)
            && (1..=64).contains(&bloom_hashes);
        if !consistent {
            return Err(Error::corrupt(path, trailer_offset, "footer offsets are inconsistent"));
        }
        let covered = view
            .slice(index_offset, trailer_offset - index_offset)
            .ok_or_else(|| Error::corrupt(path, index_offset, "footer out of bounds"))?;
        let actual = format::crc(covered);
        let expected = format::get_u32(t, FOOTER_CRC_OFFSET);
        if expected != actual {
            return Err(Error::ChecksumMismatch {
                file: path.to_owned(),
                offset: index_offset,
                structure: "shard footer index and bloom",
                expected,
                actual,
            });
        }
        let entries = (0..count)
            .map(|i| {
                let e = &covered[i * INDEX_ENTRY_LEN..(i + 1) * INDEX_ENTRY_LEN];
                (
                    format::get_u64(e, ENTRY_OFFSET_OFFSET),
                    format::get_u64(e, ENTRY_TOTAL_LEN_OFFSET),
                    format::get_u32(e, ENTRY_ROW_COUNT_OFFSET) as usize,
                    format::get_u64(e, ENTRY_MAX_LSN_OFFSET),
                )
            })
            .collect();
        Ok(Footer { entries, bloom_offset, bloom_words, bloom_hashes, rows, index_offset })
    }
}
