//! WAL segment files: fixed-size, preallocated, reused in a ring.
//!
//! Byte layout of the 64-byte segment header (little-endian), at offset 0:
//!
//! | offset | size | field        | meaning                                             |
//! |-------:|-----:|--------------|-----------------------------------------------------|
//! | 0      | 8    | magic        | `DRFTWALS`                                          |
//! | 8      | 2    | version      | format version, 1                                   |
//! | 10     | 6    | reserved     | zero                                                |
//! | 16     | 8    | sequence     | position of this use of the file in the ring, ≥ 1   |
//! | 24     | 8    | first_lsn    | LSN of the first record in this use                 |
//! | 32     | 8    | segment_len  | file length in bytes                                |
//! | 40     | 20   | reserved2    | zero                                                |
//! | 60     | 4    | header_crc   | CRC32C of bytes 0..60                               |
//!
//! Records follow at offset 64, each 8-byte aligned (see `record.rs`).
//!
//! Invariants:
//! - A segment file is always exactly `segment_len` bytes (zero-filled when created),
//!   so record writes never change the file size and `fdatasync` flushes data only.
//! - A header is either all zero (never used) or valid; anything else is corruption.
//! - Sequences are unique and grow by one at every roll-over, so the live chain is the
//!   run of consecutive sequences that starts at the checkpoint.
//! - Records of a previous use of the file are salted with the old sequence and fail
//!   their CRC under the new one, so stale bytes are never replayed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{self, Field, Layout};
use crate::io::{FileHandle, FileSystem, OpenMode};

pub(crate) const MAGIC: [u8; 8] = *b"DRFTWALS";
pub(crate) const VERSION: u16 = 1;

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const RESERVED_OFFSET: usize = VERSION_OFFSET + 2;
const SEQUENCE_OFFSET: usize = RESERVED_OFFSET + 6;
const FIRST_LSN_OFFSET: usize = SEQUENCE_OFFSET + 8;
const SEGMENT_LEN_OFFSET: usize = FIRST_LSN_OFFSET + 8;
const RESERVED2_OFFSET: usize = SEGMENT_LEN_OFFSET + 8;
const CRC_OFFSET: usize = RESERVED2_OFFSET + 20;
/// Size of the segment header; records start here.
pub const HEADER_LEN: usize = CRC_OFFSET + 4;
const _: () = assert!(HEADER_LEN == 64);

/// Layout of the segment header, checked against `docs/FORMAT.md`.
pub const LAYOUT: Layout = Layout {
    name: "WAL segment header",
    size: HEADER_LEN,
    fields: &[
        Field { name: "magic", offset: MAGIC_OFFSET, size: 8 },
        Field { name: "version", offset: VERSION_OFFSET, size: 2 },
        Field { name: "reserved", offset: RESERVED_OFFSET, size: 6 },
        Field { name: "sequence", offset: SEQUENCE_OFFSET, size: 8 },
        Field { name: "first_lsn", offset: FIRST_LSN_OFFSET, size: 8 },
        Field { name: "segment_len", offset: SEGMENT_LEN_OFFSET, size: 8 },
        Field { name: "reserved2", offset: RESERVED2_OFFSET, size: 20 },
        Field { name: "header_crc", offset: CRC_OFFSET, size: 4 },
    ],
};

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub sequence: u64,
    pub first_lsn: u64,
    pub segment_len: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut buf = [0u8; HEADER_LEN];
        buf[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&MAGIC);
        format::put_u16(&mut buf, VERSION_OFFSET, VERSION);
        format::put_u64(&mut buf, SEQUENCE_OFFSET, self.sequence);
        format::put_u64(&mut buf, FIRST_LSN_OFFSET, self.first_lsn);
        format::put_u64(&mut buf, SEGMENT_LEN_OFFSET, self.segment_len);
        format::seal_header(&mut buf);
        buf
    }

    /// `Ok(None)` for an all-zero (never used) header.
    /// The sequence number of a header whose magic, version and checksum hold (even if
    /// the rest of it, such as the file length, does not): which generation of the ring
    /// a damaged segment file belonged to.
    pub fn sequence_hint(buf: &[u8; HEADER_LEN], path: &Path) -> Option<u64> {
        format::check_header(buf, &MAGIC, VERSION, path, 0, "WAL segment header").ok()?;
        Some(format::get_u64(buf, SEQUENCE_OFFSET))
    }

    pub fn decode(buf: &[u8; HEADER_LEN], path: &Path, file_len: u64) -> Result<Option<SegmentHeader>> {
        if format::all_zero(buf) {
            return Ok(None);
        }
        format::check_header(buf, &MAGIC, VERSION, path, 0, "WAL segment header")?;
        let header = SegmentHeader {
            sequence: format::get_u64(buf, SEQUENCE_OFFSET),
            first_lsn: format::get_u64(buf, FIRST_LSN_OFFSET),
            segment_len: format::get_u64(buf, SEGMENT_LEN_OFFSET),
        };
        if header.segment_len != file_len {
            return Err(Error::corrupt(
                path,
                SEGMENT_LEN_OFFSET as u64,
                format!("segment header says {} bytes but the file has {file_len}", header.segment_len),
            ));
        }
        if header.sequence == 0 || header.first_lsn == 0 {
            return Err(Error::corrupt(path, SEQUENCE_OFFSET as u64, "segment sequence and first LSN must be positive"));
        }
        Ok(Some(header))
    }
}

/// One file of the ring.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    pub path: PathBuf,
    pub file: Arc<dyn FileHandle>,
    pub len: u64,
}

/// Name of ring slot `index`.
pub(crate) fn segment_path(wal_dir: &Path, index: usize) -> PathBuf {
    wal_dir.join(format!("segment-{index:06}.wal"))
}

/// Slot index of a segment file name, if it is one.
pub(crate) fn parse_segment_name(path: &Path) -> Option<usize> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_prefix("segment-")?.strip_suffix(".wal")?;
    if digits.len() != 6 {
        return None;
    }
    digits.parse().ok()
}

/// Creates a zero-filled segment file of `len` bytes and makes it durable (file data
/// and the directory entry), so later record writes only overwrite allocated blocks.
/// It is filled under a temporary name and renamed into place (the durable-replace
/// helper): a crash while it is created leaves a `.tmp` file, removed at the next open,
/// never a short segment the log might seem to need.
pub(crate) fn create_segment(fs: &dyn FileSystem, wal_dir: &Path, index: usize, len: u64) -> Result<SegmentFile> {
    let path = segment_path(wal_dir, index);
    crate::io::durable_replace_with(fs, &path, |file| {
        let zeros = vec![0u8; 1 << 20];
        let mut written = 0u64;
        while written < len {
            let n = (len - written).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], written)?;
            written += n as u64;
        }
        Ok(())
    })
    .map_err(|(e, _)| e)?;
    let file = fs.open(&path, OpenMode::ReadWrite).map_err(|e| Error::io("open new WAL segment", &path, e))?;
    Ok(SegmentFile { path, file, len })
}
