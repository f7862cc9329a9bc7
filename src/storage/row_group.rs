//! Row groups: the fixed-layout blocks shard files are made of.
//!
//! A row group is a 64-byte header followed by a body of aligned columns. Its start
//! offset in the file is a multiple of 64, every column starts at a multiple of 64 from
//! the row group's start, and its total length is a multiple of 64 — so every column is
//! 64-byte aligned in the memory map and is borrowed as a typed slice without copying.
//!
//! Header (little-endian):
//!
//! | offset | size | field       | meaning                                           |
//! |-------:|-----:|-------------|---------------------------------------------------|
//! | 0      | 8    | magic       | `DRFTROWG`                                        |
//! | 8      | 2    | version     | 5 (1, 2, 3 and 4 are still read)                  |
//! | 10     | 2    | reserved    | zero                                              |
//! | 12     | 4    | row_count   | rows in the group, 1 ..= `MAX_ROWS`               |
//! | 16     | 4    | dimension   | vector dimension (equals the shard's)             |
//! | 20     | 4    | code_bits   | bits of each 1-bit code (0 in version 1: none)    |
//! | 24     | 8    | min_lsn     | smallest LSN of a row                             |
//! | 32     | 8    | max_lsn     | largest LSN of a row (tombstones compare to this) |
//! | 40     | 8    | body_len    | bytes after the header, padded to 64              |
//! | 48     | 4    | body_crc    | CRC32C of the body                                |
//! | 52     | 4    | hot_crc     | v2: CRC32C of the hot columns (v1: zero)          |
//! | 56     | 4    | attributes_len | v5: bytes of the `attributes` column (else 0)  |
//! | 60     | 4    | header_crc  | CRC32C of bytes 0..60                             |
//!
//! Body columns, each starting at the next multiple of 64 (offsets from the row group
//! start; `n` rows, dimension `d`, `B = code_bits / 8`, `H = ⌈d / 32⌉ × 16`). Version
//! 5, in order:
//! - hot (what a probed search reads, covered by `hot_crc`): `document_ids` (n × 16
//!   bytes, u128 LE), `spans` (n × {start u32, length u32}), `row_ids` (n × u64),
//!   `attributes` (`attributes_len` bytes: the rows' attribute section with each
//!   column's summary, `attributes::section`; empty when no row has a value),
//!   `bit_codes` (⌈n / 32⌉ blocks of 32 × B bytes: byte q of row 32·b + j at
//!   `b·32·B + q·32 + j`, rows past n zero), `bit_factors` (3 planes of n f32: every
//!   row's ‖x‖², then every s, then every popcount), `vector_crcs`
//!   (n × u32, CRC32C of each row's `d × 4` vector bytes), then — only when code_bits
//!   is not 0, empty otherwise — `sq4_codes` (n × H bytes, row r at r·H: byte i of
//!   16-byte chunk c holds component 32c + i in its low nibble and 32c + 16 + i in its
//!   high nibble, components past d zero) and `sq4_params` (n × {base f32, step f32}:
//!   component ≈ base + code × step, `kernels::sq4`);
//! - cold: `sq8_min` (d × f32), `sq8_scale` (d × f32), `sq8_codes` (n × d × u8,
//!   row-major) — these three only when code_bits is 0, empty otherwise — then
//!   `vectors` (n × d × f32, row-major).
//!
//! Version 4: the columns of version 5 without `attributes`.
//!
//! Version 3: the columns of version 4 without `sq4_codes` and `sq4_params`.
//!
//! Version 2: the columns of version 3 with `bit_codes` row-major (n × B bytes, row r at r·B)
//! and `bit_factors` row by row (the 3 f32 of row r at 3r).
//!
//! Version 1: `document_ids`, `spans`, `row_ids`, `sq8_min`, `sq8_scale`, `sq8_codes`,
//! `vectors` (no hot section, no 1-bit codes, no per-vector CRCs; `body_crc` only).
//!
//! Verification: `body_crc` covers the whole body and is checked on first use by every
//! reader except a probed search of a group with 1-bit codes, which checks `hot_crc`
//! on first use and each vector's own CRC every time it re-ranks that vector — so a
//! search never reads (or makes resident) the cold bytes it does not need, and never
//! uses an unverified byte.
//!
//! SQ8: `value ≈ sq8_min[j] + code × sq8_scale[j]`, with min/scale per dimension over
//! the group's rows (scale 0 when a dimension is constant).
//!
//! 1-bit codes (`kernels::rabitq`): the signs of the rotated residual of each vector
//! from the centroid of the shard (the zero vector for a shard without one), and per
//! row `‖x‖²`, the estimator scale and the code's popcount.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, Field, Layout, align_up};
use crate::io::MmapView;
use crate::attributes::section::Section;
use crate::kernels::{rabitq, sq4};

pub(crate) const MAGIC: [u8; 8] = *b"DRFTROWG";
pub(crate) const VERSION: u16 = 5;
/// Versions this code reads.
pub(crate) const READABLE_VERSIONS: &[u16] = &[1, 2, 3, 4, 5];
/// Largest row count of one row group.
pub const MAX_ROWS: usize = 1 << 22;
/// Alignment of row groups and columns.
pub const ALIGN: u64 = 64;

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const RESERVED_OFFSET: usize = VERSION_OFFSET + 2;
const ROW_COUNT_OFFSET: usize = RESERVED_OFFSET + 2;
const DIMENSION_OFFSET: usize = ROW_COUNT_OFFSET + 4;
const CODE_BITS_OFFSET: usize = DIMENSION_OFFSET + 4;
const MIN_LSN_OFFSET: usize = CODE_BITS_OFFSET + 4;
const MAX_LSN_OFFSET: usize = MIN_LSN_OFFSET + 8;
const BODY_LEN_OFFSET: usize = MAX_LSN_OFFSET + 8;
const BODY_CRC_OFFSET: usize = BODY_LEN_OFFSET + 8;
const HOT_CRC_OFFSET: usize = BODY_CRC_OFFSET + 4;
const ATTRIBUTES_LEN_OFFSET: usize = HOT_CRC_OFFSET + 4;
const HEADER_CRC_OFFSET: usize = ATTRIBUTES_LEN_OFFSET + 4;
/// Size of the row group header.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
const _: () = assert!(HEADER_LEN == 64);

/// Layout of the row group header, checked against `docs/FORMAT.md`.
pub const LAYOUT: Layout = Layout {
    name: "Row group header",
    size: HEADER_LEN,
    fields: &[
        Field { name: "magic", offset: MAGIC_OFFSET, size: 8 },
        Field { name: "version", offset: VERSION_OFFSET, size: 2 },
        Field { name: "reserved", offset: RESERVED_OFFSET, size: 2 },
        Field { name: "row_count", offset: ROW_COUNT_OFFSET, size: 4 },
        Field { name: "dimension", offset: DIMENSION_OFFSET, size: 4 },
        Field { name: "code_bits", offset: CODE_BITS_OFFSET, size: 4 },
        Field { name: "min_lsn", offset: MIN_LSN_OFFSET, size: 8 },
        Field { name: "max_lsn", offset: MAX_LSN_OFFSET, size: 8 },
        Field { name: "body_len", offset: BODY_LEN_OFFSET, size: 8 },
        Field { name: "body_crc", offset: BODY_CRC_OFFSET, size: 4 },
        Field { name: "hot_crc", offset: HOT_CRC_OFFSET, size: 4 },
        Field { name: "attributes_len", offset: ATTRIBUTES_LEN_OFFSET, size: 4 },
        Field { name: "header_crc", offset: HEADER_CRC_OFFSET, size: 4 },
    ],
};

/// Column offsets (from the row group start) of a group of `rows` rows of `dimension`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnLayout {
    pub document_ids: u64,
    pub spans: u64,
    pub row_ids: u64,
    /// The attribute section (version 5; empty before).
    pub attributes: u64,
    pub attributes_len: u64,
    pub sq8_min: u64,
    pub sq8_scale: u64,
    pub sq8_codes: u64,
    pub bit_codes: u64,
    pub bit_factors: u64,
    pub vector_crcs: u64,
    pub sq4_codes: u64,
    pub sq4_params: u64,
    pub vectors: u64,
    /// End of the hot section (version 2), 0 when there is none (version 1).
    pub hot_end: u64,
    /// Header plus body, a multiple of 64.
    pub total_len: u64,
}

impl ColumnLayout {
    pub fn new(rows: usize, dimension: usize, code_bits: usize, version: u16, attributes_len: u64) -> Option<ColumnLayout> {
        let n = rows as u64;
        let d = dimension as u64;
        let next = |start: u64, len: u64| -> Option<u64> { Some(align_up(start.checked_add(len)?, ALIGN)) };
        let document_ids = HEADER_LEN as u64;
        let spans = next(document_ids, n.checked_mul(16)?)?;
        let row_ids = next(spans, n.checked_mul(8)?)?;
        let attributes = next(row_ids, n.checked_mul(8)?)?;
        let attributes_len = if version >= 5 { attributes_len } else { 0 };
        let after_row_ids = next(attributes, attributes_len)?;
        let factors = if code_bits == 0 { 0 } else { rabitq::FACTORS as u64 * 4 };
        if version == 1 {
            let sq8_min = after_row_ids;
            let sq8_scale = next(sq8_min, d.checked_mul(4)?)?;
            let sq8_codes = next(sq8_scale, d.checked_mul(4)?)?;
            let vectors = next(sq8_codes, n.checked_mul(d)?)?;
            let total_len = next(vectors, n.checked_mul(d)?.checked_mul(4)?)?;
            return Some(ColumnLayout {
                document_ids,
                spans,
                row_ids,
                attributes,
                attributes_len,
                sq8_min,
                sq8_scale,
                sq8_codes,
                bit_codes: vectors,
                bit_factors: vectors,
                vector_crcs: vectors,
                sq4_codes: vectors,
                sq4_params: vectors,
                vectors,
                hot_end: 0,
                total_len,
            });
        }
        let bit_codes = after_row_ids;
        let bit_factors = next(bit_codes, bit_codes_len(rows, code_bits, version)? as u64)?;
        let vector_crcs = next(bit_factors, n.checked_mul(factors)?)?;
        // SQ4 codes (version 4, with 1-bit codes): the re-rank's second estimate.
        let with_sq4 = version >= 4 && code_bits > 0;
        let sq4_codes = next(vector_crcs, n.checked_mul(4)?)?;
        let sq4_params = next(sq4_codes, if with_sq4 { n.checked_mul(sq4::code_len(dimension) as u64)? } else { 0 })?;
        // SQ8 columns only where there are no 1-bit codes (dimensions below 128): a
        // search of a group with 1-bit codes never reads them.
        let sq8_dims = if code_bits == 0 { d } else { 0 };
        let sq8_min = next(sq4_params, if with_sq4 { n.checked_mul(8)? } else { 0 })?;
        let sq8_scale = next(sq8_min, sq8_dims.checked_mul(4)?)?;
        let sq8_codes = next(sq8_scale, sq8_dims.checked_mul(4)?)?;
        let vectors = next(sq8_codes, n.checked_mul(sq8_dims)?)?;
        let total_len = next(vectors, n.checked_mul(d)?.checked_mul(4)?)?;
        Some(ColumnLayout {
            document_ids,
            spans,
            row_ids,
            attributes,
            attributes_len,
            sq8_min,
            sq8_scale,
            sq8_codes,
            bit_codes,
            bit_factors,
            vector_crcs,
            sq4_codes,
            sq4_params,
            vectors,
            hot_end: sq8_min,
            total_len,
        })
    }
}

/// Rows to be written as one row group, in columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowGroupInput<'a> {
    pub dimension: usize,
    pub document_ids: &'a [u128],
    pub spans: &'a [[u32; 2]],
    pub row_ids: &'a [u64],
    pub vectors: &'a [f32],
    /// The rows' attribute section (`attributes::section`; empty: no values).
    pub attributes: &'a [u8],
    pub min_lsn: u64,
    pub max_lsn: u64,
    /// The centroid the 1-bit codes are relative to (`None`: the zero vector).
    pub centroid: Option<&'a [f32]>,
}

/// Bytes of the `bit_codes` column: row-major codes in version 2, whole blocks of
/// `rabitq::BLOCK_ROWS` rows from version 3.
fn bit_codes_len(rows: usize, code_bits: usize, version: u16) -> Option<usize> {
    let stored = if version >= 3 { rows.checked_next_multiple_of(rabitq::BLOCK_ROWS)? } else { rows };
    stored.checked_mul(code_bits / 8)
}

/// Encodes a row group (header and body) ready to be written at a 64-aligned offset,
/// with its meta (offset 0: the caller sets where it writes it).
pub(crate) fn encode(input: &RowGroupInput<'_>) -> Result<(Vec<u8>, RowGroupMeta)> {
    let n = input.document_ids.len();
    let d = input.dimension;
    if n == 0 || n > MAX_ROWS || input.spans.len() != n || input.row_ids.len() != n || input.vectors.len() != n * d {
        return Err(Error::invalid(format!("row group of {n} rows is malformed or larger than {MAX_ROWS} rows")));
    }
    let code_bits = rabitq::code_bits(d);
    let layout = ColumnLayout::new(n, d, code_bits, VERSION, input.attributes.len() as u64)
        .ok_or_else(|| Error::invalid("row group too large"))?;
    if input.centroid.is_some_and(|c| c.len() != d) {
        return Err(Error::invalid("centroid dimension differs from the row group's"));
    }
    let mut buf = vec![0u8; layout.total_len as usize];
    for (i, id) in input.document_ids.iter().enumerate() {
        format::put_u128(&mut buf, layout.document_ids as usize + i * 16, *id);
    }
    for (i, [start, length]) in input.spans.iter().enumerate() {
        format::put_u32(&mut buf, layout.spans as usize + i * 8, *start);
        format::put_u32(&mut buf, layout.spans as usize + i * 8 + 4, *length);
    }
    for (i, row_id) in input.row_ids.iter().enumerate() {
        format::put_u64(&mut buf, layout.row_ids as usize + i * 8, *row_id);
    }
    let at = layout.attributes as usize;
    buf[at..at + input.attributes.len()].copy_from_slice(input.attributes);
    if code_bits == 0 {
        let (mins, scales) = crate::kernels::sq8::train(input.vectors, d);
        for j in 0..d {
            format::put_u32(&mut buf, layout.sq8_min as usize + j * 4, mins[j].to_bits());
            format::put_u32(&mut buf, layout.sq8_scale as usize + j * 4, scales[j].to_bits());
        }
        let codes_at = layout.sq8_codes as usize;
        crate::kernels::sq8::encode(input.vectors, &mins, &scales, &mut buf[codes_at..codes_at + n * d]);
    }
    if code_bits > 0 {
        let (codes_at, factors_at) = (layout.bit_codes as usize, layout.bit_factors as usize);
        let mut factors = vec![0f32; n * rabitq::FACTORS];
        let mut row_major = vec![0u8; n * code_bits / 8];
        rabitq::encode(input.vectors, d, input.centroid, &mut row_major, &mut factors);
        let blocked = rabitq::blocked_len(n, code_bits);
        rabitq::block_codes(&row_major, code_bits / 8, &mut buf[codes_at..codes_at + blocked]);
        let mut planar = vec![0f32; factors.len()];
        rabitq::plane_factors(&factors, &mut planar);
        for (i, f) in planar.iter().enumerate() {
            format::put_u32(&mut buf, factors_at + i * 4, f.to_bits());
        }
    }
    if layout.sq4_params > layout.sq4_codes {
        let row_len = sq4::code_len(d);
        for (r, row) in input.vectors.chunks_exact(d).enumerate() {
            let at = layout.sq4_codes as usize + r * row_len;
            let (base, step) = sq4::encode_row(row, &mut buf[at..at + row_len]);
            format::put_u32(&mut buf, layout.sq4_params as usize + r * 8, base.to_bits());
            format::put_u32(&mut buf, layout.sq4_params as usize + r * 8 + 4, step.to_bits());
        }
    }
    for (i, v) in input.vectors.iter().enumerate() {
        format::put_u32(&mut buf, layout.vectors as usize + i * 4, v.to_bits());
    }
    for r in 0..n {
        let at = layout.vectors as usize + r * d * 4;
        let crc = format::crc(&buf[at..at + d * 4]);
        format::put_u32(&mut buf, layout.vector_crcs as usize + r * 4, crc);
    }
    let hot_crc = format::crc(&buf[HEADER_LEN..layout.hot_end as usize]);
    let body_crc = format::crc(&buf[HEADER_LEN..]);
    let header = &mut buf[..HEADER_LEN];
    header[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&MAGIC);
    format::put_u16(header, VERSION_OFFSET, VERSION);
    format::put_u32(header, ROW_COUNT_OFFSET, n as u32);
    format::put_u32(header, DIMENSION_OFFSET, d as u32);
    format::put_u32(header, CODE_BITS_OFFSET, code_bits as u32);
    format::put_u64(header, MIN_LSN_OFFSET, input.min_lsn);
    format::put_u64(header, MAX_LSN_OFFSET, input.max_lsn);
    format::put_u64(header, BODY_LEN_OFFSET, layout.total_len - HEADER_LEN as u64);
    format::put_u32(header, BODY_CRC_OFFSET, body_crc);
    format::put_u32(header, HOT_CRC_OFFSET, hot_crc);
    format::put_u32(header, ATTRIBUTES_LEN_OFFSET, input.attributes.len() as u32);
    format::seal_header(header);
    let meta = RowGroupMeta {
        offset: 0,
        rows: n,
        min_lsn: input.min_lsn,
        max_lsn: input.max_lsn,
        body_crc,
        hot_crc,
        version: VERSION,
        code_bits,
        layout,
    };
    Ok((buf, meta))
}

/// What the header of a row group says, validated against its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowGroupMeta {
    pub offset: u64,
    pub rows: usize,
    pub min_lsn: u64,
    pub max_lsn: u64,
    pub body_crc: u32,
    /// CRC32C of the hot section (version 2).
    pub hot_crc: u32,
    pub version: u16,
    /// Bits per 1-bit code (0: the group has none, version 1).
    pub code_bits: usize,
    pub layout: ColumnLayout,
}

impl RowGroupMeta {
    /// Parses and checks the header at `offset`; the whole group must end by `limit`.
    pub fn parse(view: &MmapView, offset: u64, limit: u64, dimension: usize, path: &Path) -> Result<RowGroupMeta> {
        if !offset.is_multiple_of(ALIGN) {
            return Err(Error::corrupt(path, offset, "row group is not 64-byte aligned"));
        }
        let header = view
            .slice(offset, HEADER_LEN as u64)
            .filter(|_| offset + HEADER_LEN as u64 <= limit)
            .ok_or_else(|| Error::corrupt(path, offset, "file ends inside a row group header"))?;
        format::check_header_versions(header, &MAGIC, READABLE_VERSIONS, path, offset, "row group header")?;
        let code_bits = format::get_u32(header, CODE_BITS_OFFSET) as usize;
        let version = format::get_u16(header, VERSION_OFFSET);
        if version == 1 && code_bits != 0 {
            return Err(Error::corrupt(path, offset, "version 1 row group claims 1-bit codes"));
        }
        let rows = format::get_u32(header, ROW_COUNT_OFFSET) as usize;
        let dim = format::get_u32(header, DIMENSION_OFFSET) as usize;
        if dim != dimension {
            return Err(Error::corrupt(path, offset, format!("row group dimension {dim}, shard dimension {dimension}")));
        }
        if rows == 0 || rows > MAX_ROWS {
            return Err(Error::corrupt(path, offset, format!("row group claims {rows} rows")));
        }
        if code_bits != 0 && code_bits != rabitq::code_bits(dim) {
            return Err(Error::corrupt(path, offset, format!("row group code_bits {code_bits} does not fit dimension {dim}")));
        }
        let attributes_len = u64::from(format::get_u32(header, ATTRIBUTES_LEN_OFFSET));
        if version < 5 && attributes_len != 0 {
            return Err(Error::corrupt(path, offset, format!("version {version} row group has a nonzero reserved field")));
        }
        let layout = ColumnLayout::new(rows, dim, code_bits, version, attributes_len)
            .ok_or_else(|| Error::corrupt(path, offset, "row group size overflows"))?;
        let body_len = format::get_u64(header, BODY_LEN_OFFSET);
        if body_len != layout.total_len - HEADER_LEN as u64 {
            return Err(Error::corrupt(path, offset, format!("row group body length {body_len} does not match its row count")));
        }
        if offset.checked_add(layout.total_len).is_none_or(|end| end > limit) {
            return Err(Error::corrupt(path, offset, "row group extends past the end of the shard's data"));
        }
        let min_lsn = format::get_u64(header, MIN_LSN_OFFSET);
        let max_lsn = format::get_u64(header, MAX_LSN_OFFSET);
        if min_lsn > max_lsn {
            return Err(Error::corrupt(path, offset, "row group min LSN exceeds its max LSN"));
        }
        Ok(RowGroupMeta {
            offset,
            rows,
            min_lsn,
            max_lsn,
            body_crc: format::get_u32(header, BODY_CRC_OFFSET),
            hot_crc: format::get_u32(header, HOT_CRC_OFFSET),
            version,
            code_bits,
            layout,
        })
    }

    /// Checks the body checksum (reads every byte of the group).
    pub fn verify_body(&self, view: &MmapView, path: &Path) -> Result<()> {
        self.check_section(view, path, self.layout.total_len, self.body_crc, "row group body")
    }

    /// CRC32C of the body bytes up to `end` (from the group start) against `expected`.
    fn check_section(&self, view: &MmapView, path: &Path, end: u64, expected: u32, structure: &'static str) -> Result<()> {
        let bytes = view
            .slice(self.offset + HEADER_LEN as u64, end.saturating_sub(HEADER_LEN as u64))
            .ok_or_else(|| Error::corrupt(path, self.offset, format!("{structure} out of bounds")))?;
        if format::crc(bytes) != expected {
            return Err(format::checksum_error(path, self.offset, self.offset + HEADER_LEN as u64, bytes, structure, expected));
        }
        Ok(())
    }

    /// Whether a probed search may verify only the hot section (version 2 with 1-bit
    /// codes); otherwise it verifies the whole body like every other reader.
    pub fn has_hot_section(&self) -> bool {
        self.version >= 2 && self.code_bits > 0
    }

    /// Checks the hot section's checksum (reads only the hot columns).
    pub fn verify_hot(&self, view: &MmapView, path: &Path) -> Result<()> {
        self.check_section(view, path, self.layout.hot_end, self.hot_crc, "row group hot columns")
    }

    /// The columns, borrowed from the map.
    pub fn columns<'a>(&self, view: &'a MmapView, dimension: usize, path: &Path) -> Result<RowGroupColumns<'a>> {
        let at = |column: u64| self.offset + column;
        let n = self.rows;
        let bad = || Error::corrupt(path, self.offset, "row group column out of bounds or misaligned");
        let sq8_dims = if self.code_bits == 0 { dimension } else { 0 };
        Ok(RowGroupColumns {
            rows: n,
            dimension,
            max_lsn: self.max_lsn,
            document_ids: view.typed::<u64>(at(self.layout.document_ids), n * 2).ok_or_else(bad)?,
            spans: view.typed::<u32>(at(self.layout.spans), n * 2).ok_or_else(bad)?,
            row_ids: view.typed::<u64>(at(self.layout.row_ids), n).ok_or_else(bad)?,
            attributes: view.typed::<u8>(at(self.layout.attributes), self.layout.attributes_len as usize).ok_or_else(bad)?,
            sq8_min: view.typed::<f32>(at(self.layout.sq8_min), sq8_dims).ok_or_else(bad)?,
            sq8_scale: view.typed::<f32>(at(self.layout.sq8_scale), sq8_dims).ok_or_else(bad)?,
            sq8_codes: view.typed::<u8>(at(self.layout.sq8_codes), n * sq8_dims).ok_or_else(bad)?,
            code_bits: self.code_bits,
            codes_blocked: self.version >= 3,
            bit_codes: view
                .typed::<u8>(at(self.layout.bit_codes), bit_codes_len(n, self.code_bits, self.version).ok_or_else(bad)?)
                .ok_or_else(bad)?,
            bit_factors: view
                .typed::<f32>(at(self.layout.bit_factors), if self.code_bits == 0 { 0 } else { n * rabitq::FACTORS })
                .ok_or_else(bad)?,
            vectors: view.typed::<f32>(at(self.layout.vectors), n * dimension).ok_or_else(bad)?,
            vector_crcs: view.typed::<u32>(at(self.layout.vector_crcs), if self.version >= 2 { n } else { 0 }).ok_or_else(bad)?,
            sq4_codes: view
                .typed::<u8>(at(self.layout.sq4_codes), (self.layout.sq4_params - self.layout.sq4_codes) as usize)
                .ok_or_else(bad)?,
            sq4_params: view
                .typed::<f32>(at(self.layout.sq4_params), if self.layout.sq4_params > self.layout.sq4_codes { 2 * n } else { 0 })
                .ok_or_else(bad)?,
            vectors_at: at(self.layout.vectors),
            attributes_at: at(self.layout.attributes),
        })
    }
}

/// The columns of one row group, borrowed straight from the memory map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowGroupColumns<'a> {
    pub rows: usize,
    pub dimension: usize,
    pub max_lsn: u64,
    document_ids: &'a [u64],
    spans: &'a [u32],
    row_ids: &'a [u64],
    /// The attribute section's bytes (empty: no values, or a version before 5).
    attributes: &'a [u8],
    pub sq8_min: &'a [f32],
    pub sq8_scale: &'a [f32],
    pub sq8_codes: &'a [u8],
    /// 0 when the group has no 1-bit codes (version 1).
    pub code_bits: usize,
    /// Version 3: `bit_codes` in blocks of 32 rows and `bit_factors` in three planes
    /// (`BitQuery::scan_blocked`); version 2: both row by row (`BitQuery::scan`).
    pub codes_blocked: bool,
    pub bit_codes: &'a [u8],
    pub bit_factors: &'a [f32],
    pub vectors: &'a [f32],
    /// Per-row vector CRCs (empty in version 1).
    vector_crcs: &'a [u32],
    /// Version 4 with 1-bit codes: each row's SQ4 code (`kernels::sq4`, row-major,
    /// `sq4::code_len(d)` bytes per row) and its (base, step); empty otherwise.
    sq4_codes: &'a [u8],
    sq4_params: &'a [f32],
    /// File offset of the vectors column (for error reports).
    vectors_at: u64,
    /// File offset of the attributes column (for error reports).
    attributes_at: u64,
}

impl<'a> RowGroupColumns<'a> {
    pub fn document_id(&self, row: usize) -> u128 {
        u128::from(self.document_ids[2 * row]) | (u128::from(self.document_ids[2 * row + 1]) << 64)
    }

    pub fn span(&self, row: usize) -> [u32; 2] {
        [self.spans[2 * row], self.spans[2 * row + 1]]
    }

    pub fn row_id(&self, row: usize) -> u64 {
        self.row_ids[row]
    }

    /// The rows' attribute section (its bounds checked; an empty section when the
    /// group has no values). A section that does not parse is damage the hot or body
    /// CRC did not catch, reported as corruption.
    pub fn attributes(&self, path: &Path) -> Result<Section<'a>> {
        Section::parse(self.attributes, self.rows).map_err(|e| Error::corrupt(path, self.attributes_at, format!("row group attribute section: {e}")))
    }

    /// Whether the group has SQ4 codes (version 4 with 1-bit codes).
    pub fn has_sq4(&self) -> bool {
        !self.sq4_params.is_empty()
    }

    /// The SQ4 code of `row` and its (base, step); only when [`Self::has_sq4`].
    #[inline]
    pub fn sq4(&self, row: usize) -> (&'a [u8], f32, f32) {
        let len = sq4::code_len(self.dimension);
        (&self.sq4_codes[row * len..(row + 1) * len], self.sq4_params[2 * row], self.sq4_params[2 * row + 1])
    }

    pub fn vector(&self, row: usize) -> &'a [f32] {
        &self.vectors[row * self.dimension..(row + 1) * self.dimension]
    }

    /// The vector of `row` after checking its own CRC (version 2; version 1 groups were
    /// verified whole before their columns were handed out).
    pub fn checked_vector(&self, row: usize, path: &Path) -> Result<&'a [f32]> {
        let v = self.vector(row);
        self.check_vector(row, v, path)?;
        Ok(v)
    }

    /// Checks `v` (the vector of `row`, read from the map or the file) against the
    /// row's CRC (version 2 and later; nothing to check in version 1).
    pub fn check_vector(&self, row: usize, v: &[f32], path: &Path) -> Result<()> {
        if let Some(expected) = self.vector_crcs.get(row) {
            let bytes = crate::io::as_bytes(v);
            if format::crc(bytes) != *expected {
                let at = self.vectors_at + (row * self.dimension * 4) as u64;
                return Err(format::checksum_error(path, at, at, bytes, "vector", *expected));
            }
        }
        Ok(())
    }

    /// Every per-vector CRC matches (part of `verify`).
    pub fn verify_vectors(&self, path: &Path) -> Result<()> {
        for r in 0..self.vector_crcs.len() {
            self.checked_vector(r, path)?;
        }
        Ok(())
    }
}
