//! The operations the WAL logs, and their payload encoding.
//!
//! Payloads (little-endian, no padding inside; the record frame pads the end):
//!
//! - **add** (kind 1): `collection_id u64, row_id_base u64, count u32, dimension u32`,
//!   then `count` document ids (16 bytes each), `count` spans (`start u32, length u32`),
//!   `count × dimension` f32 vector components, then — only when some posting has
//!   attribute values — `attributes_len u32, reserved u32` and the postings' attribute
//!   section (`attributes::section`, `attributes_len` bytes). Posting `i` gets row id
//!   `row_id_base + i`.
//! - **upsert** (kind 2): `document_id` (16 bytes), then an add payload whose document
//!   ids all equal it. Replaces every earlier posting of the document, atomically.
//! - **remove** (kind 3): `collection_id u64, count u32, reserved u32`, then `count`
//!   document ids (16 bytes each).

use super::record::RecordKind;

/// Postings of one write, in columns (the shape the memtable and row groups use).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PostingBatch {
    pub collection_id: u64,
    pub row_id_base: u64,
    pub dimension: u32,
    pub document_ids: Vec<u128>,
    pub spans: Vec<[u32; 2]>,
    pub vectors: Vec<f32>,
    /// The postings' attribute section (empty: no values).
    pub attributes: Vec<u8>,
}

impl PostingBatch {
    pub fn len(&self) -> usize {
        self.document_ids.len()
    }
}

/// One logged write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WalOp {
    Add(PostingBatch),
    Upsert { document_id: u128, batch: PostingBatch },
    Remove { collection_id: u64, document_ids: Vec<u128> },
}

impl WalOp {
    pub fn kind(&self) -> RecordKind {
        match self {
            WalOp::Add(_) => RecordKind::Add,
            WalOp::Upsert { .. } => RecordKind::Upsert,
            WalOp::Remove { .. } => RecordKind::Remove,
        }
    }

    pub fn collection_id(&self) -> u64 {
        match self {
            WalOp::Add(batch) | WalOp::Upsert { batch, .. } => batch.collection_id,
            WalOp::Remove { collection_id, .. } => *collection_id,
        }
    }

    pub fn payload_len(&self) -> usize {
        match self {
            WalOp::Add(batch) => batch_len(batch),
            WalOp::Upsert { batch, .. } => 16 + batch_len(batch),
            WalOp::Remove { document_ids, .. } => 16 + 16 * document_ids.len(),
        }
    }

    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            WalOp::Add(batch) => encode_batch(batch, out),
            WalOp::Upsert { document_id, batch } => {
                out.extend_from_slice(&document_id.to_le_bytes());
                encode_batch(batch, out);
            }
            WalOp::Remove { collection_id, document_ids } => {
                out.extend_from_slice(&collection_id.to_le_bytes());
                out.extend_from_slice(&(document_ids.len() as u32).to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                for id in document_ids {
                    out.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
    }

    /// Decodes a payload that passed its CRC. An error here means the record is
    /// well-framed but its contents are impossible (corruption or a bug).
    pub fn decode(kind: RecordKind, payload: &[u8]) -> Result<WalOp, String> {
        let mut reader = Reader { bytes: payload, at: 0 };
        let op = match kind {
            RecordKind::Add => WalOp::Add(decode_batch(&mut reader)?),
            RecordKind::Upsert => {
                let document_id = reader.u128()?;
                let batch = decode_batch(&mut reader)?;
                if batch.document_ids.iter().any(|&id| id != document_id) {
                    return Err("upsert record holds postings of another document".into());
                }
                WalOp::Upsert { document_id, batch }
            }
            RecordKind::Remove => {
                let collection_id = reader.u64()?;
                let count = reader.u32()? as usize;
                let _reserved = reader.u32()?;
                let mut document_ids = Vec::with_capacity(count.min(payload.len() / 16));
                for _ in 0..count {
                    document_ids.push(reader.u128()?);
                }
                WalOp::Remove { collection_id, document_ids }
            }
            RecordKind::SegmentEnd => return Err("segment end record has no operation".into()),
            RecordKind::CleanClose => return Err("clean close record has no operation".into()),
        };
        if reader.at != payload.len() {
            return Err(format!("payload has {} trailing bytes", payload.len() - reader.at));
        }
        Ok(op)
    }
}

fn batch_len(batch: &PostingBatch) -> usize {
    let attributes = if batch.attributes.is_empty() { 0 } else { 8 + batch.attributes.len() };
    24 + batch.len() * (16 + 8) + batch.vectors.len() * 4 + attributes
}

fn encode_batch(batch: &PostingBatch, out: &mut Vec<u8>) {
    out.reserve(batch_len(batch));
    out.extend_from_slice(&batch.collection_id.to_le_bytes());
    out.extend_from_slice(&batch.row_id_base.to_le_bytes());
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    out.extend_from_slice(&batch.dimension.to_le_bytes());
    for id in &batch.document_ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    for [start, length] in &batch.spans {
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
    }
    for value in &batch.vectors {
        out.extend_from_slice(&value.to_le_bytes());
    }
    if !batch.attributes.is_empty() {
        out.extend_from_slice(&(batch.attributes.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&batch.attributes);
    }
}

fn decode_batch(reader: &mut Reader<'_>) -> Result<PostingBatch, String> {
    let collection_id = reader.u64()?;
    let row_id_base = reader.u64()?;
    let count = reader.u32()? as usize;
    let dimension = reader.u32()?;
    let needed = count
        .checked_mul(24 + 4 * dimension as usize)
        .ok_or("posting count overflows")?;
    if needed > reader.remaining() {
        return Err(format!("{count} postings of dimension {dimension} do not fit in the payload"));
    }
    if dimension == 0 {
        return Err("dimension 0".into());
    }
    let mut batch = PostingBatch {
        collection_id,
        row_id_base,
        dimension,
        document_ids: Vec::with_capacity(count),
        spans: Vec::with_capacity(count),
        vectors: Vec::with_capacity(count * dimension as usize),
        attributes: Vec::new(),
    };
    for _ in 0..count {
        batch.document_ids.push(reader.u128()?);
    }
    for _ in 0..count {
        batch.spans.push([reader.u32()?, reader.u32()?]);
    }
    for _ in 0..count * dimension as usize {
        let x = f32::from_bits(reader.u32()?);
        // Writes refuse non-finite values, so a logged one is damage or a bug, never data.
        if !x.is_finite() {
            return Err("a vector holds NaN or infinity, which no write can log".into());
        }
        batch.vectors.push(x);
    }
    // An upsert's batch ends its payload, an add's too: anything after the vectors is
    // the attribute section.
    if reader.remaining() > 0 {
        let len = reader.u32()? as usize;
        if reader.u32()? != 0 {
            return Err("attribute section reserved field is not zero".into());
        }
        let bytes = reader.bytes.get(reader.at..reader.at + len).ok_or("attribute section does not fit in the payload")?;
        reader.at += len;
        let section = crate::attributes::section::Section::parse(bytes, count)?;
        section.validate()?;
        if section.is_empty() {
            return Err("attribute section is present but empty".into());
        }
        batch.attributes = bytes.to_vec();
    }
    Ok(batch)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let slice = self.bytes.get(self.at..self.at + N).ok_or("payload too short")?;
        self.at += N;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.take().map(u64::from_le_bytes)
    }

    fn u128(&mut self) -> Result<u128, String> {
        self.take().map(u128::from_le_bytes)
    }
}
