//! WAL record framing.
//!
//! Byte layout of the 32-byte record header (little-endian), followed by
//! `payload_len` bytes of payload and zero padding to the next multiple of 8:
//!
//! | offset | size | field        | meaning                                                  |
//! |-------:|-----:|--------------|----------------------------------------------------------|
//! | 0      | 4    | record_crc   | CRC32C of (segment sequence as u64 LE, bytes 4..32, payload) |
//! | 4      | 4    | payload_len  | payload bytes (padding excluded)                         |
//! | 8      | 8    | lsn          | log sequence number; consecutive within the log          |
//! | 16     | 8    | durable_lsn  | highest LSN known fsynced when this record was written   |
//! | 24     | 1    | kind         | 1 add, 2 upsert, 3 remove, 4 segment end, 5 clean close  |
//! | 25     | 7    | reserved     | zero                                                     |
//!
//! Salting the CRC with the segment sequence makes records left over from an earlier
//! use of a recycled segment fail their check. `durable_lsn` lets recovery tell a torn
//! tail (nothing after it was ever acknowledged) from corruption in the middle (a later
//! record proves the damaged one had been fsynced, i.e. acknowledged). A clean close
//! writes a **clean close** record after the last one, so that even the last record of
//! a cleanly closed log, when damaged, is told from a torn write.

use crate::format::{self, Field, Layout};

const CRC_OFFSET: usize = 0;
const PAYLOAD_LEN_OFFSET: usize = CRC_OFFSET + 4;
const LSN_OFFSET: usize = PAYLOAD_LEN_OFFSET + 4;
const DURABLE_LSN_OFFSET: usize = LSN_OFFSET + 8;
const KIND_OFFSET: usize = DURABLE_LSN_OFFSET + 8;
const RESERVED_OFFSET: usize = KIND_OFFSET + 1;
/// Size of a record header.
pub const HEADER_LEN: usize = RESERVED_OFFSET + 7;
const _: () = assert!(HEADER_LEN == 32);
/// Records start at multiples of this.
pub const ALIGN: u64 = 8;
/// Bytes always kept free at the end of a segment for its end record.
pub const END_RECORD_LEN: u64 = HEADER_LEN as u64;

/// Layout of the record header, checked against `docs/FORMAT.md`.
pub const LAYOUT: Layout = Layout {
    name: "WAL record header",
    size: HEADER_LEN,
    fields: &[
        Field { name: "record_crc", offset: CRC_OFFSET, size: 4 },
        Field { name: "payload_len", offset: PAYLOAD_LEN_OFFSET, size: 4 },
        Field { name: "lsn", offset: LSN_OFFSET, size: 8 },
        Field { name: "durable_lsn", offset: DURABLE_LSN_OFFSET, size: 8 },
        Field { name: "kind", offset: KIND_OFFSET, size: 1 },
        Field { name: "reserved", offset: RESERVED_OFFSET, size: 7 },
    ],
};

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Add = 1,
    Upsert = 2,
    Remove = 3,
    /// Marks the end of a segment; the log continues in the segment of the next
    /// sequence. Its `lsn` is the LSN of the last record before it.
    SegmentEnd = 4,
    /// Written by a clean close after the last record (whose LSN it carries), and
    /// fsynced: a damaged record before it was acknowledged, never torn.
    CleanClose = 5,
}

impl RecordKind {
    fn from_code(code: u8) -> Option<RecordKind> {
        match code {
            1 => Some(RecordKind::Add),
            2 => Some(RecordKind::Upsert),
            3 => Some(RecordKind::Remove),
            4 => Some(RecordKind::SegmentEnd),
            5 => Some(RecordKind::CleanClose),
            _ => None,
        }
    }
}

/// Total bytes a record with `payload_len` bytes of payload occupies.
pub(crate) fn framed_len(payload_len: usize) -> u64 {
    format::align_up((HEADER_LEN + payload_len) as u64, ALIGN)
}

fn checksum(sequence: u64, header: &[u8], payload: &[u8]) -> u32 {
    let salt = crc32c::crc32c(&sequence.to_le_bytes());
    let sum = crc32c::crc32c_append(salt, &header[PAYLOAD_LEN_OFFSET..HEADER_LEN]);
    crc32c::crc32c_append(sum, payload)
}

/// Appends one framed record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, sequence: u64, lsn: u64, durable_lsn: u64, kind: RecordKind, payload: &[u8]) {
    let start = out.len();
    let mut header = [0u8; HEADER_LEN];
    format::put_u32(&mut header, PAYLOAD_LEN_OFFSET, payload.len() as u32);
    format::put_u64(&mut header, LSN_OFFSET, lsn);
    format::put_u64(&mut header, DURABLE_LSN_OFFSET, durable_lsn);
    format::put_u8(&mut header, KIND_OFFSET, kind as u8);
    let sum = checksum(sequence, &header, payload);
    format::put_u32(&mut header, CRC_OFFSET, sum);
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    out.resize(start + framed_len(payload.len()) as usize, 0);
}

/// A record that passed its checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub lsn: u64,
    pub durable_lsn: u64,
    pub kind: RecordKind,
    pub payload: &'a [u8],
    /// Offset just past this record (and its padding).
    pub next_offset: u64,
}

/// Decodes the record at `offset` of a segment's bytes; `None` if there is no valid
/// record there (torn, stale, zero or damaged — the caller decides which).
pub(crate) fn decode(segment: &[u8], offset: u64, sequence: u64) -> Option<Record<'_>> {
    let start = usize::try_from(offset).ok()?;
    let header = segment.get(start..start.checked_add(HEADER_LEN)?)?;
    let kind = RecordKind::from_code(format::get_u8(header, KIND_OFFSET))?;
    if !format::all_zero(&header[RESERVED_OFFSET..HEADER_LEN]) {
        return None;
    }
    let payload_len = format::get_u32(header, PAYLOAD_LEN_OFFSET) as usize;
    let payload_start = start + HEADER_LEN;
    let payload = segment.get(payload_start..payload_start.checked_add(payload_len)?)?;
    let next_offset = offset + framed_len(payload_len);
    if next_offset > segment.len() as u64 {
        return None;
    }
    if format::get_u32(header, CRC_OFFSET) != checksum(sequence, header, payload) {
        return None;
    }
    Some(Record {
        lsn: format::get_u64(header, LSN_OFFSET),
        durable_lsn: format::get_u64(header, DURABLE_LSN_OFFSET),
        kind,
        payload,
        next_offset,
    })
}

/// Bytes of a torn record at `offset` where LSN `expected` was due, for the recovery
/// report: 0 when the bytes there are zero or a stale record of an earlier use of the
/// segment (a smaller LSN), else the length the damaged header claims (or just the
/// header when that claim is implausible).
pub(crate) fn torn_len(segment: &[u8], offset: u64, expected: u64) -> u64 {
    let Ok(start) = usize::try_from(offset) else { return 0 };
    let Some(header) = segment.get(start..start.saturating_add(HEADER_LEN)) else { return 0 };
    if format::all_zero(header) || format::get_u64(header, LSN_OFFSET) < expected {
        return 0;
    }
    let len = framed_len(format::get_u32(header, PAYLOAD_LEN_OFFSET) as usize);
    if offset + len <= segment.len() as u64 { len } else { HEADER_LEN as u64 }
}
