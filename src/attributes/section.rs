//! The attribute section: the attribute values of a run of rows, in columns, with each
//! column's summary. One encoding serves a row group (version 5, in its hot section),
//! a WAL add/upsert record and a memtable batch.
//!
//! Layout (little-endian; offsets from the section's start; `n` rows):
//!
//! ```text
//! 0   column_count u16 | reserved u16 (zero) | rows u32            (8 bytes)
//! 8   column_count directory entries (32 bytes each):
//!       0 attribute_id u16   id in the collection's schema (distinct, ascending)
//!       2 kind u8            1 u64, 2 i64, 3 f64, 4 bool, 5 string, 6 tags, 7 timestamp
//!       3 reserved u8        zero
//!       4 null_count u32     rows without a value
//!       8 offset u32         where the column's body starts (a multiple of 8)
//!      12 length u32         bytes of the body
//!      16 min u64            smallest value (bits of the kind: u64, i64, f64; bool 0/1);
//!                            string and tags: 0
//!      24 max u64            largest value; string and tags: dictionary size
//! ... bodies, each starting at a multiple of 8:
//!       presence: ⌈n / 8⌉ bytes padded to a multiple of 8; bit r % 8 of byte r / 8 set
//!                 when row r has a value
//!       u64 / i64 / f64 / timestamp: n × 8 bytes (null rows zero)
//!       bool: n bytes, 0 or 1 (null rows zero)
//!       string: dictionary, then n × u32 codes (null rows zero)
//!       tags: dictionary, then (n + 1) × u32 row offsets into the codes, then the codes
//!             (u32; each row's distinct and ascending)
//!     dictionary: count u32, (count + 1) × u32 offsets into the bytes, the bytes (UTF-8
//!                 strings, distinct, ascending), zero-padded to a multiple of 4
//! ```
//!
//! A section of rows without any value is empty (zero bytes). An attribute without a
//! column is null in every row (how an attribute added to a schema reads in older
//! rows). Invariant: [`Section::parse`] checks every bound of the header, directory
//! and dictionaries, so no read below can fail on a parsed section; [`Section::validate`]
//! also checks every code and dictionary order (verify, WAL replay, fuzzing). Codes are
//! compared with the dictionary's order, so a dictionary code range is a string range.

use super::{AttributeType, AttributeValue, RowValues};
use crate::format::{Field, Layout};

const HEADER_LEN: usize = 8;
const ENTRY_LEN: usize = 32;

/// Layout of the attribute section header, checked against `docs/FORMAT.md`.
pub const HEADER_LAYOUT: Layout = Layout {
    name: "Attribute section header",
    size: HEADER_LEN,
    fields: &[
        Field { name: "column_count", offset: 0, size: 2 },
        Field { name: "reserved", offset: 2, size: 2 },
        Field { name: "rows", offset: 4, size: 4 },
    ],
};

/// Layout of an attribute column's directory entry, checked against `docs/FORMAT.md`.
pub const ENTRY_LAYOUT: Layout = Layout {
    name: "Attribute column entry",
    size: ENTRY_LEN,
    fields: &[
        Field { name: "attribute_id", offset: 0, size: 2 },
        Field { name: "kind", offset: 2, size: 1 },
        Field { name: "reserved", offset: 3, size: 1 },
        Field { name: "null_count", offset: 4, size: 4 },
        Field { name: "offset", offset: 8, size: 4 },
        Field { name: "length", offset: 12, size: 4 },
        Field { name: "min", offset: 16, size: 8 },
        Field { name: "max", offset: 24, size: 8 },
    ],
};

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

fn presence_len(rows: usize) -> usize {
    align8(rows.div_ceil(8))
}

/// Encodes the values of `rows` (one [`RowValues`] per row); empty when no row has one.
pub(crate) fn encode(rows: &[RowValues]) -> Vec<u8> {
    let n = rows.len();
    let mut ids: Vec<(u16, AttributeType)> = Vec::new();
    for row in rows {
        for (id, value) in row {
            if !ids.iter().any(|(i, _)| i == id) {
                ids.push((*id, value.kind()));
            }
        }
    }
    if ids.is_empty() {
        return Vec::new();
    }
    ids.sort_by_key(|(id, _)| *id);
    let mut out = vec![0u8; HEADER_LEN + ids.len() * ENTRY_LEN];
    out[0..2].copy_from_slice(&(ids.len() as u16).to_le_bytes());
    out[4..8].copy_from_slice(&(n as u32).to_le_bytes());
    for (c, &(id, kind)) in ids.iter().enumerate() {
        let values: Vec<Option<&AttributeValue>> =
            rows.iter().map(|row| row.binary_search_by_key(&id, |(i, _)| *i).ok().map(|at| &row[at].1)).collect();
        let start = out.len();
        let mut presence = vec![0u8; presence_len(n)];
        for (r, v) in values.iter().enumerate() {
            if v.is_some() {
                presence[r / 8] |= 1 << (r % 8);
            }
        }
        out.extend_from_slice(&presence);
        let nulls = values.iter().filter(|v| v.is_none()).count() as u32;
        let (mut min, mut max) = (0u64, 0u64);
        match kind {
            k if k.is_numeric() => {
                let bits: Vec<Option<u64>> = values.iter().map(|v| v.map(numeric_bits)).collect();
                let present: Vec<u64> = bits.iter().flatten().copied().collect();
                if let Some(&first) = present.first() {
                    let (lo, hi) = present.iter().fold((first, first), |(lo, hi), &b| {
                        (if order(k, b, lo).is_lt() { b } else { lo }, if order(k, b, hi).is_gt() { b } else { hi })
                    });
                    (min, max) = (lo, hi);
                }
                for b in bits {
                    out.extend_from_slice(&b.unwrap_or(0).to_le_bytes());
                }
            }
            AttributeType::Bool => {
                let bools: Vec<u8> = values.iter().map(|v| u8::from(matches!(v, Some(AttributeValue::Bool(true))))).collect();
                let present: Vec<u8> = values.iter().zip(&bools).filter(|(v, _)| v.is_some()).map(|(_, b)| *b).collect();
                min = u64::from(present.iter().copied().min().unwrap_or(0));
                max = u64::from(present.iter().copied().max().unwrap_or(0));
                out.extend_from_slice(&bools);
            }
            AttributeType::String => {
                let mut dict: Vec<&str> = values.iter().flatten().map(|v| as_str(v)).collect();
                dict.sort_unstable();
                dict.dedup();
                write_dictionary(&mut out, &dict);
                for v in &values {
                    let code = v.map_or(0, |v| dict.binary_search(&as_str(v)).expect("in the dictionary") as u32);
                    out.extend_from_slice(&code.to_le_bytes());
                }
                max = dict.len() as u64;
            }
            AttributeType::Tags => {
                let mut dict: Vec<&str> = values.iter().flatten().flat_map(|v| as_tags(v)).map(String::as_str).collect();
                dict.sort_unstable();
                dict.dedup();
                write_dictionary(&mut out, &dict);
                let mut codes = Vec::new();
                out.extend_from_slice(&0u32.to_le_bytes());
                for v in &values {
                    let mut row: Vec<u32> = v
                        .map(|v| as_tags(v).iter().map(|t| dict.binary_search(&t.as_str()).expect("in the dictionary") as u32).collect())
                        .unwrap_or_default();
                    row.sort_unstable();
                    row.dedup();
                    codes.extend(row);
                    out.extend_from_slice(&(codes.len() as u32).to_le_bytes());
                }
                for code in codes {
                    out.extend_from_slice(&code.to_le_bytes());
                }
                max = dict.len() as u64;
            }
            _ => unreachable!("every kind is handled"),
        }
        out.resize(align8(out.len()), 0);
        let entry = HEADER_LEN + c * ENTRY_LEN;
        out[entry..entry + 2].copy_from_slice(&id.to_le_bytes());
        out[entry + 2] = kind.code();
        out[entry + 4..entry + 8].copy_from_slice(&nulls.to_le_bytes());
        out[entry + 8..entry + 12].copy_from_slice(&(start as u32).to_le_bytes());
        let length = (out.len() - start) as u32;
        out[entry + 12..entry + 16].copy_from_slice(&length.to_le_bytes());
        out[entry + 16..entry + 24].copy_from_slice(&min.to_le_bytes());
        out[entry + 24..entry + 32].copy_from_slice(&max.to_le_bytes());
    }
    out
}

fn write_dictionary(out: &mut Vec<u8>, dict: &[&str]) {
    out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    let mut at = 0u32;
    out.extend_from_slice(&at.to_le_bytes());
    for s in dict {
        at += s.len() as u32;
        out.extend_from_slice(&at.to_le_bytes());
    }
    for s in dict {
        out.extend_from_slice(s.as_bytes());
    }
    out.resize(out.len().div_ceil(4) * 4, 0);
}

fn as_str(v: &AttributeValue) -> &str {
    match v {
        AttributeValue::String(s) => s,
        _ => "",
    }
}

fn as_tags(v: &AttributeValue) -> &[String] {
    match v {
        AttributeValue::Tags(t) => t,
        _ => &[],
    }
}

/// The stored bits of a numeric value.
fn numeric_bits(v: &AttributeValue) -> u64 {
    match v {
        AttributeValue::U64(n) => *n,
        AttributeValue::I64(n) | AttributeValue::Timestamp(n) => *n as u64,
        AttributeValue::F64(x) => x.to_bits(),
        _ => 0,
    }
}

/// Orders two stored numeric values of `kind`.
pub(crate) fn order(kind: AttributeType, a: u64, b: u64) -> std::cmp::Ordering {
    match kind {
        AttributeType::U64 => a.cmp(&b),
        AttributeType::F64 => f64::from_bits(a).total_cmp(&f64::from_bits(b)),
        _ => (a as i64).cmp(&(b as i64)),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// A dictionary: sorted distinct strings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dictionary<'a> {
    pub len: usize,
    offsets: &'a [u8],
    bytes: &'a [u8],
}

impl<'a> Dictionary<'a> {
    /// Parses a dictionary at the start of `bytes`; returns it and its padded length.
    fn parse(bytes: &'a [u8]) -> Option<(Dictionary<'a>, usize)> {
        let len = u32_at(bytes, 0)? as usize;
        let offsets = bytes.get(4..4 + (len.checked_add(1)?).checked_mul(4)?)?;
        let data_len = u32_at(offsets, len * 4)? as usize;
        let data_at = 4 + offsets.len();
        let data = bytes.get(data_at..data_at.checked_add(data_len)?)?;
        Some((Dictionary { len, offsets, bytes: data }, (data_at + data_len).div_ceil(4) * 4))
    }

    /// The string of `code`; empty when damaged (only [`Section::validate`] tells).
    pub fn get(&self, code: usize) -> &'a [u8] {
        let (Some(a), Some(b)) = (u32_at(self.offsets, code * 4), u32_at(self.offsets, code * 4 + 4)) else { return &[] };
        self.bytes.get(a as usize..b as usize).unwrap_or(&[])
    }

    /// The code of `s`, or where it would be inserted.
    pub fn find(&self, s: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(s.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn validate(&self) -> Result<(), String> {
        let mut prev = 0u32;
        for i in 0..=self.len {
            let at = u32_at(self.offsets, i * 4).ok_or("dictionary offsets out of bounds")?;
            if at < prev || at as usize > self.bytes.len() {
                return Err("dictionary offsets are not ascending".into());
            }
            prev = at;
        }
        for i in 0..self.len {
            std::str::from_utf8(self.get(i)).map_err(|_| "a dictionary string is not UTF-8")?;
            if i > 0 && self.get(i - 1) >= self.get(i) {
                return Err("dictionary strings are not distinct and ascending".into());
            }
        }
        Ok(())
    }
}

/// The body of a column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    /// u64, i64, f64, timestamp: 8 bytes per row.
    Fixed(&'a [u8]),
    /// bool: 1 byte per row.
    Bool(&'a [u8]),
    /// string: a u32 code per row.
    Str { dict: Dictionary<'a>, codes: &'a [u8] },
    /// tags: row offsets into the codes.
    Tags { dict: Dictionary<'a>, offsets: &'a [u8], codes: &'a [u8] },
}

/// One attribute's column, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column<'a> {
    pub attribute: u16,
    pub kind: AttributeType,
    pub null_count: u32,
    pub min: u64,
    pub max: u64,
    rows: usize,
    presence: &'a [u8],
    pub body: Body<'a>,
}

impl<'a> Column<'a> {
    /// Whether row `r` has a value.
    #[inline]
    pub fn present(&self, r: usize) -> bool {
        self.presence.get(r / 8).is_some_and(|b| b & (1 << (r % 8)) != 0)
    }

    /// The presence bitmap as bytes (bit r % 8 of byte r / 8).
    pub fn presence(&self) -> &'a [u8] {
        self.presence
    }

    /// The stored bits of row `r` of a fixed-width column.
    #[inline]
    pub fn fixed(&self, r: usize) -> u64 {
        match self.body {
            Body::Fixed(b) => u64_at(b, r * 8).unwrap_or(0),
            _ => 0,
        }
    }

    /// The code of row `r` of a string column.
    #[inline]
    pub fn code(&self, r: usize) -> u32 {
        match self.body {
            Body::Str { codes, .. } => u32_at(codes, r * 4).unwrap_or(u32::MAX),
            _ => u32::MAX,
        }
    }

    /// The codes of row `r` of a tags column.
    pub fn tag_codes(&self, r: usize) -> impl Iterator<Item = u32> + 'a {
        let (codes, from, to) = match self.body {
            Body::Tags { offsets, codes, .. } => {
                let from = u32_at(offsets, r * 4).unwrap_or(0) as usize;
                let to = u32_at(offsets, r * 4 + 4).unwrap_or(0) as usize;
                (codes, from, to.max(from))
            }
            _ => (&[][..], 0, 0),
        };
        (from..to).filter_map(move |i| u32_at(codes, i * 4))
    }

    /// The value of row `r` (`None`: null).
    pub fn value(&self, r: usize) -> Option<AttributeValue> {
        if r >= self.rows || !self.present(r) {
            return None;
        }
        let text = |dict: &Dictionary<'_>, code: u32| String::from_utf8_lossy(dict.get(code as usize)).into_owned();
        Some(match (self.kind, self.body) {
            (AttributeType::U64, _) => AttributeValue::U64(self.fixed(r)),
            (AttributeType::I64, _) => AttributeValue::I64(self.fixed(r) as i64),
            (AttributeType::Timestamp, _) => AttributeValue::Timestamp(self.fixed(r) as i64),
            (AttributeType::F64, _) => AttributeValue::F64(f64::from_bits(self.fixed(r))),
            (AttributeType::Bool, Body::Bool(b)) => AttributeValue::Bool(b.get(r).is_some_and(|&x| x != 0)),
            (AttributeType::String, Body::Str { dict, .. }) => AttributeValue::String(text(&dict, self.code(r))),
            (AttributeType::Tags, Body::Tags { dict, .. }) => {
                AttributeValue::Tags(self.tag_codes(r).map(|c| text(&dict, c)).collect())
            }
            _ => return None,
        })
    }
}

/// A parsed attribute section.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Section<'a> {
    bytes: &'a [u8],
    columns: usize,
    rows: usize,
}

impl<'a> Section<'a> {
    /// Parses the section of `rows` rows in `bytes` (empty: no attributes), checking
    /// the header and the directory's bounds; each column's own bounds are checked when
    /// [`Section::column`] hands it out (a damaged one reads as absent), all of them by
    /// [`Section::validate`].
    pub fn parse(bytes: &'a [u8], rows: usize) -> Result<Section<'a>, String> {
        if bytes.is_empty() {
            return Ok(Section { bytes, columns: 0, rows });
        }
        if bytes.len() < HEADER_LEN {
            return Err("attribute section shorter than its header".into());
        }
        let columns = u16::from_le_bytes([bytes[0], bytes[1]]) as usize;
        if bytes[2..4] != [0, 0] {
            return Err("attribute section reserved bytes are not zero".into());
        }
        if u32_at(bytes, 4) != Some(rows as u32) {
            return Err(format!("attribute section is for {:?} rows, the group has {rows}", u32_at(bytes, 4)));
        }
        if columns == 0 || HEADER_LEN + columns * ENTRY_LEN > bytes.len() {
            return Err("attribute section directory out of bounds".into());
        }
        Ok(Section { bytes, columns, rows })
    }

    /// Checks every column's bounds and their order (what [`Section::column`] checks
    /// lazily, one column at a time).
    fn check_columns(&self) -> Result<(), String> {
        let mut previous: Option<u16> = None;
        for c in 0..self.columns {
            let column = self.column_at(c)?;
            if previous.is_some_and(|p| p >= column.attribute) {
                return Err("attribute section columns are not in ascending attribute order".into());
            }
            previous = Some(column.attribute);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.columns == 0
    }

    fn column_at(&self, c: usize) -> Result<Column<'a>, String> {
        let e = HEADER_LEN + c * ENTRY_LEN;
        let entry = &self.bytes[e..e + ENTRY_LEN];
        let attribute = u16::from_le_bytes([entry[0], entry[1]]);
        let kind = AttributeType::from_code(entry[2]).ok_or_else(|| format!("attribute column {c} has unknown kind {}", entry[2]))?;
        if entry[3] != 0 {
            return Err(format!("attribute column {c} reserved byte is not zero"));
        }
        let null_count = u32_at(entry, 4).unwrap_or(0);
        let offset = u32_at(entry, 8).unwrap_or(0) as usize;
        let length = u32_at(entry, 12).unwrap_or(0) as usize;
        let bad = |what: &str| format!("attribute column {c} (attribute {attribute}): {what}");
        if !offset.is_multiple_of(8) || offset < HEADER_LEN + self.columns * ENTRY_LEN {
            return Err(bad("body offset is misaligned or inside the directory"));
        }
        let body = self.bytes.get(offset..offset.checked_add(length).ok_or_else(|| bad("length overflows"))?).ok_or_else(|| bad("body out of bounds"))?;
        let n = self.rows;
        let plen = presence_len(n);
        let presence = body.get(..plen).ok_or_else(|| bad("presence bitmap out of bounds"))?;
        let rest = &body[plen..];
        let body = match kind {
            k if k.is_numeric() => Body::Fixed(rest.get(..n * 8).ok_or_else(|| bad("values out of bounds"))?),
            AttributeType::Bool => Body::Bool(rest.get(..n).ok_or_else(|| bad("values out of bounds"))?),
            AttributeType::String => {
                let (dict, used) = Dictionary::parse(rest).ok_or_else(|| bad("dictionary out of bounds"))?;
                let codes = rest.get(used..used + n * 4).ok_or_else(|| bad("codes out of bounds"))?;
                Body::Str { dict, codes }
            }
            _ => {
                let (dict, used) = Dictionary::parse(rest).ok_or_else(|| bad("dictionary out of bounds"))?;
                let offsets = rest.get(used..used + (n + 1) * 4).ok_or_else(|| bad("tag offsets out of bounds"))?;
                let total = u32_at(offsets, n * 4).unwrap_or(0) as usize;
                let at = used + (n + 1) * 4;
                let codes = rest.get(at..at.checked_add(total.checked_mul(4).ok_or_else(|| bad("tag count overflows"))?).ok_or_else(|| bad("tag count overflows"))?).ok_or_else(|| bad("tag codes out of bounds"))?;
                Body::Tags { dict, offsets, codes }
            }
        };
        Ok(Column { attribute, kind, null_count, min: u64_at(entry, 16).unwrap_or(0), max: u64_at(entry, 24).unwrap_or(0), rows: n, presence, body })
    }

    /// The column of `attribute`, if the section has one (and it is whole).
    #[inline]
    pub fn column(&self, attribute: u16) -> Option<Column<'a>> {
        let id = attribute.to_le_bytes();
        let c = (0..self.columns).find(|c| self.bytes[HEADER_LEN + c * ENTRY_LEN..][..2] == id)?;
        self.column_at(c).ok()
    }

    /// Every column.
    pub fn columns(&self) -> impl Iterator<Item = Column<'a>> + '_ {
        (0..self.columns).filter_map(|c| self.column_at(c).ok())
    }

    /// The values of row `r`.
    pub fn row(&self, r: usize) -> RowValues {
        self.columns().filter_map(|c| c.value(r).map(|v| (c.attribute, v))).collect()
    }

    /// Checks everything [`Section::parse`] does not: dictionaries, codes, tag offsets,
    /// null counts and summaries.
    pub fn validate(&self) -> Result<(), String> {
        self.check_columns()?;
        for column in self.columns() {
            let bad = |what: &str| format!("attribute column of attribute {}: {what}", column.attribute);
            let present = (0..self.rows).filter(|&r| column.present(r)).count();
            if present + column.null_count as usize != self.rows {
                return Err(bad("null count disagrees with the presence bitmap"));
            }
            match column.body {
                Body::Fixed(_) => {
                    let values: Vec<u64> = (0..self.rows).filter(|&r| column.present(r)).map(|r| column.fixed(r)).collect();
                    if column.kind == AttributeType::F64 && values.iter().any(|&b| !f64::from_bits(b).is_finite()) {
                        return Err(bad("a float value is not finite"));
                    }
                    let out_of_range = values
                        .iter()
                        .any(|&v| order(column.kind, v, column.min).is_lt() || order(column.kind, v, column.max).is_gt());
                    if out_of_range {
                        return Err(bad("a value lies outside the column's min/max"));
                    }
                }
                Body::Bool(b) => {
                    if b.iter().any(|&x| x > 1) || column.max > 1 || column.min > column.max {
                        return Err(bad("a bool value or summary is not 0 or 1"));
                    }
                }
                Body::Str { dict, .. } => {
                    dict.validate().map_err(|e| bad(&e))?;
                    if column.max != dict.len as u64 || (0..self.rows).any(|r| column.present(r) && column.code(r) as usize >= dict.len) {
                        return Err(bad("a code lies outside the dictionary"));
                    }
                }
                Body::Tags { dict, offsets, .. } => {
                    dict.validate().map_err(|e| bad(&e))?;
                    if column.max != dict.len as u64 {
                        return Err(bad("dictionary size disagrees with the summary"));
                    }
                    let mut prev = 0;
                    for r in 0..=self.rows {
                        let at = u32_at(offsets, r * 4).unwrap_or(u32::MAX);
                        if at < prev {
                            return Err(bad("tag offsets are not ascending"));
                        }
                        prev = at;
                    }
                    for r in 0..self.rows {
                        let codes: Vec<u32> = column.tag_codes(r).collect();
                        if codes.windows(2).any(|w| w[0] >= w[1]) || codes.iter().any(|&c| c as usize >= dict.len) {
                            return Err(bad("a row's tag codes are not distinct, ascending dictionary codes"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttributeValue as V;

    fn rows() -> Vec<RowValues> {
        vec![
            vec![(0, V::U64(5)), (1, V::String("net".into())), (2, V::Tags(vec!["a".into(), "b".into()]))],
            vec![(1, V::String("admin".into())), (3, V::F64(-1.5))],
            vec![],
            vec![(0, V::U64(2)), (2, V::Tags(vec![])), (3, V::F64(2.0)), (4, V::Bool(true)), (5, V::Timestamp(-7))],
        ]
    }

    #[test]
    fn every_row_reads_back_as_written() {
        let rows = rows();
        let bytes = encode(&rows);
        assert_eq!(bytes.len() % 8, 0);
        let section = Section::parse(&bytes, rows.len()).unwrap();
        section.validate().unwrap();
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(&section.row(r), row, "row {r}");
        }
    }

    #[test]
    fn summaries_hold_min_max_nulls_and_dictionary_sizes() {
        let bytes = encode(&rows());
        let section = Section::parse(&bytes, 4).unwrap();
        let size = section.column(0).unwrap();
        assert_eq!((size.min, size.max, size.null_count), (2, 5, 2));
        let float = section.column(3).unwrap();
        assert_eq!((f64::from_bits(float.min), f64::from_bits(float.max)), (-1.5, 2.0));
        let Body::Str { dict, .. } = section.column(1).unwrap().body else { panic!("string column") };
        assert_eq!((dict.len, dict.find("net"), dict.find("b")), (2, Ok(1), Err(1)));
        assert!(section.column(9).is_none());
    }

    #[test]
    fn rows_without_values_make_an_empty_section() {
        assert!(encode(&[vec![], vec![]]).is_empty());
        assert!(Section::parse(&[], 2).unwrap().is_empty());
    }

    #[test]
    fn damage_is_refused_never_a_panic() {
        let bytes = encode(&rows());
        for cut in 0..bytes.len() {
            let _ = Section::parse(&bytes[..cut], 4).map(|s| s.validate());
        }
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                if let Ok(s) = Section::parse(&damaged, 4) {
                    let _ = s.validate();
                    for r in 0..4 {
                        let _ = s.row(r);
                    }
                }
            }
        }
        assert!(Section::parse(&bytes, 5).is_err(), "a row count that disagrees is refused");
    }
}
