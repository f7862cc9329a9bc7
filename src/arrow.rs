//! Arrow interop (feature `arrow`): postings in from a [`RecordBatch`], hits and
//! postings out as record batches.
//!
//! Column conventions (names can be changed with [`ArrowColumns`]):
//!
//! | column          | type                                                   | required |
//! |-----------------|--------------------------------------------------------|----------|
//! | `document_id`   | `UInt64`, `Int64` (≥ 0), `UInt32`, `Int32` (≥ 0), or `FixedSizeBinary(16)` (little-endian u128) | yes |
//! | `vector`        | `FixedSizeList<Float32>` of the collection's dimension (`List` / `LargeList<Float32>` are accepted when every row has that length) | yes |
//! | `start`         | any integer type, 0 ..= u32::MAX                        | no (0)   |
//! | `length`        | any integer type, 0 ..= u32::MAX                        | no (0)   |
//! | an attribute's name | see below                                          | no (null) |
//!
//! A column named like an attribute of the collection's schema carries that attribute
//! (a null cell: no value): integer types for `u64` / `i64` (and `f64` when exact),
//! `Float32` / `Float64` for `f64`, `Boolean` for `bool`, `Utf8` / `LargeUtf8` for
//! `string`, `List` / `LargeList` of `Utf8` for `tags`, `Timestamp` (any unit, read
//! as microseconds) or integers for `timestamp`. Other columns are ignored. Exported
//! postings ([`postings_schema`]) carry one nullable column per attribute, named like
//! it, of the first type listed for its kind (`UInt64`, `Int64`, `Float64`, `Boolean`,
//! `Utf8`, `List<Utf8>`, `Timestamp(µs)`), so an export reads back as it was. Hit
//! batches ([`hits_schema`]) do not carry attributes.
//!
//! Invariants:
//! - **All or nothing.** A batch is checked completely (types, nulls, lengths, ranges)
//!   before anything is written, and is then added with one [`Collection::add`], which
//!   is atomic. An error names the column, the row and what would be accepted.
//! - **No silent conversion.** Nulls, negative ids, out-of-range spans, wrong list
//!   lengths and non-`Float32` vectors are errors, never truncated or cast.
//! - Output batches ([`hits_schema`], [`postings_schema`]) carry the document id as
//!   `FixedSizeBinary(16)` (little-endian u128, the C ABI's convention) and, for
//!   convenience, as a nullable `document_id_u64` (null when the id does not fit).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, FixedSizeBinaryBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::{AttributeDef, AttributeType, AttributeValue, Attributes, Collection, DocumentId, Hit, Posting, SearchOptions, StoredPosting};

/// Names of the columns [`Collection::add_record_batch_with`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrowColumns {
    /// Document id column (default `document_id`).
    pub document_id: String,
    /// Vector column (default `vector`).
    pub vector: String,
    /// Span start column, used when present (default `start`).
    pub start: String,
    /// Span length column, used when present (default `length`).
    pub length: String,
}

impl Default for ArrowColumns {
    fn default() -> Self {
        ArrowColumns { document_id: "document_id".into(), vector: "vector".into(), start: "start".into(), length: "length".into() }
    }
}

/// Schema of [`Collection::search_record_batch`]'s result: one row per hit.
///
/// `query: UInt32` (index of the query in the call), `rank: UInt32` (0 = closest),
/// `document_id: FixedSizeBinary(16)`, `document_id_u64: UInt64` (nullable),
/// `start: UInt32`, `length: UInt32`, `distance: Float32`.
pub fn hits_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("query", DataType::UInt32, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("document_id", DataType::FixedSizeBinary(16), false),
        Field::new("document_id_u64", DataType::UInt64, true),
        Field::new("start", DataType::UInt32, false),
        Field::new("length", DataType::UInt32, false),
        Field::new("distance", DataType::Float32, false),
    ]))
}

/// Schema of [`postings_to_record_batch`]: `document_id: FixedSizeBinary(16)`,
/// `document_id_u64: UInt64` (nullable), `start: UInt32`, `length: UInt32`,
/// `row_id: UInt64`, `vector: FixedSizeList<Float32>(dimension)`, then one nullable
/// column per attribute of `attributes` (see the [module documentation](crate::arrow)).
/// It is accepted back by [`Collection::add_record_batch`].
pub fn postings_schema(dimension: usize, attributes: &[AttributeDef]) -> SchemaRef {
    let mut fields = vec![
        Field::new("document_id", DataType::FixedSizeBinary(16), false),
        Field::new("document_id_u64", DataType::UInt64, true),
        Field::new("start", DataType::UInt32, false),
        Field::new("length", DataType::UInt32, false),
        Field::new("row_id", DataType::UInt64, false),
        Field::new("vector", vector_type(dimension), false),
    ];
    fields.extend(attributes.iter().map(|def| Field::new(&def.name, attribute_type(def.kind), true)));
    Arc::new(Schema::new(fields))
}

/// The Arrow type an attribute of `kind` is exported as.
fn attribute_type(kind: AttributeType) -> DataType {
    match kind {
        AttributeType::U64 => DataType::UInt64,
        AttributeType::I64 => DataType::Int64,
        AttributeType::F64 => DataType::Float64,
        AttributeType::Bool => DataType::Boolean,
        AttributeType::String => DataType::Utf8,
        AttributeType::Tags => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        AttributeType::Timestamp => DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
    }
}

/// The column of attribute `def` over `postings` (null where a posting has no value).
fn attribute_column(postings: &[StoredPosting], def: &AttributeDef) -> ArrayRef {
    let values = postings.iter().map(|p| p.attributes.get(&def.name));
    macro_rules! fixed {
        ($builder:expr, $variant:path) => {{
            let mut b = $builder;
            for v in values {
                b.append_option(match v {
                    Some($variant(x)) => Some(x.clone()),
                    _ => None,
                });
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    match def.kind {
        AttributeType::U64 => fixed!(UInt64Builder::with_capacity(postings.len()), AttributeValue::U64),
        AttributeType::I64 => fixed!(Int64Builder::with_capacity(postings.len()), AttributeValue::I64),
        AttributeType::F64 => fixed!(Float64Builder::with_capacity(postings.len()), AttributeValue::F64),
        AttributeType::Bool => fixed!(BooleanBuilder::with_capacity(postings.len()), AttributeValue::Bool),
        AttributeType::String => fixed!(StringBuilder::with_capacity(postings.len(), 0), AttributeValue::String),
        AttributeType::Timestamp => fixed!(TimestampMicrosecondBuilder::with_capacity(postings.len()), AttributeValue::Timestamp),
        AttributeType::Tags => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for v in values {
                match v {
                    Some(AttributeValue::Tags(tags)) => {
                        tags.iter().for_each(|t| b.values().append_value(t));
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
    }
}

fn vector_type(dimension: usize) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), dimension as i32)
}

fn arrow_error(e: arrow_schema::ArrowError) -> Error {
    Error::invalid(format!("could not build an Arrow record batch: {e}"))
}

/// Builds a record batch of hits ([`hits_schema`]), one row per hit, `query` = index
/// of the hit list in `results`.
pub fn hits_to_record_batch(results: &[Vec<Hit>]) -> Result<RecordBatch> {
    let rows: usize = results.iter().map(Vec::len).sum();
    let mut query = UInt32Builder::with_capacity(rows);
    let mut rank = UInt32Builder::with_capacity(rows);
    let mut id = FixedSizeBinaryBuilder::with_capacity(rows, 16);
    let mut id64 = UInt64Builder::with_capacity(rows);
    let mut start = UInt32Builder::with_capacity(rows);
    let mut length = UInt32Builder::with_capacity(rows);
    let mut distance = Float32Builder::with_capacity(rows);
    for (q, hits) in results.iter().enumerate() {
        for (r, hit) in hits.iter().enumerate() {
            query.append_value(q as u32);
            rank.append_value(r as u32);
            id.append_value(hit.document_id.to_le_bytes()).map_err(arrow_error)?;
            id64.append_option(u64::try_from(hit.document_id.0).ok());
            start.append_value(hit.start);
            length.append_value(hit.length);
            distance.append_value(hit.distance);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(query.finish()),
        Arc::new(rank.finish()),
        Arc::new(id.finish()),
        Arc::new(id64.finish()),
        Arc::new(start.finish()),
        Arc::new(length.finish()),
        Arc::new(distance.finish()),
    ];
    RecordBatch::try_new(hits_schema(), columns).map_err(arrow_error)
}

/// Builds a record batch of stored postings ([`postings_schema`]) with a column per
/// attribute of `attributes`.
pub fn postings_to_record_batch(postings: &[StoredPosting], dimension: usize, attributes: &[AttributeDef]) -> Result<RecordBatch> {
    let rows = postings.len();
    let mut id = FixedSizeBinaryBuilder::with_capacity(rows, 16);
    let mut id64 = UInt64Builder::with_capacity(rows);
    let mut start = UInt32Builder::with_capacity(rows);
    let mut length = UInt32Builder::with_capacity(rows);
    let mut row_id = UInt64Builder::with_capacity(rows);
    let mut vector = FixedSizeListBuilder::with_capacity(Float32Builder::with_capacity(rows * dimension), dimension as i32, rows)
        .with_field(Arc::new(Field::new("item", DataType::Float32, true)));
    for p in postings {
        if p.vector.len() != dimension {
            return Err(Error::DimensionMismatch { expected: dimension, actual: p.vector.len() });
        }
        id.append_value(p.document_id.to_le_bytes()).map_err(arrow_error)?;
        id64.append_option(u64::try_from(p.document_id.0).ok());
        start.append_value(p.start);
        length.append_value(p.length);
        row_id.append_value(p.row_id);
        vector.values().append_slice(&p.vector);
        vector.append(true);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(id64.finish()),
        Arc::new(start.finish()),
        Arc::new(length.finish()),
        Arc::new(row_id.finish()),
        Arc::new(vector.finish()),
    ];
    columns.extend(attributes.iter().map(|def| attribute_column(postings, def)));
    RecordBatch::try_new(postings_schema(dimension, attributes), columns).map_err(arrow_error)
}

/// The checked columns of one batch, borrowed from its buffers.
struct BatchColumns<'a> {
    ids: Vec<DocumentId>,
    spans: Vec<[u32; 2]>,
    /// Per row, its vector.
    vectors: Vec<&'a [f32]>,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema_ref().index_of(name).ok().map(|i| batch.column(i))
}

fn first_null(array: &dyn Array) -> Option<usize> {
    (array.null_count() > 0).then(|| (0..array.len()).find(|&i| array.is_null(i))).flatten()
}

/// Reads an integer column as u128 values, refusing negatives and values above `max`.
fn integers(array: &ArrayRef, name: &str, max: u128) -> Result<Vec<u128>> {
    if let Some(row) = first_null(array.as_ref()) {
        return Err(Error::invalid(format!("column {name:?} has a null at row {row}; every row needs a value")));
    }
    let signed = |values: Vec<i128>| -> Result<Vec<u128>> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                u128::try_from(v)
                    .ok()
                    .filter(|&v| v <= max)
                    .ok_or_else(|| Error::invalid(format!("column {name:?} row {row} holds {v}, outside 0..={max}")))
            })
            .collect()
    };
    let unsigned = |values: Vec<u128>| -> Result<Vec<u128>> {
        match values.iter().position(|&v| v > max) {
            Some(row) => Err(Error::invalid(format!("column {name:?} row {row} holds {}, above {max}", values[row]))),
            None => Ok(values),
        }
    };
    match array.data_type() {
        DataType::UInt8 => unsigned(array.as_primitive::<UInt8Type>().values().iter().map(|&v| v as u128).collect()),
        DataType::UInt16 => unsigned(array.as_primitive::<UInt16Type>().values().iter().map(|&v| v as u128).collect()),
        DataType::UInt32 => unsigned(array.as_primitive::<UInt32Type>().values().iter().map(|&v| v as u128).collect()),
        DataType::UInt64 => unsigned(array.as_primitive::<UInt64Type>().values().iter().map(|&v| v as u128).collect()),
        DataType::Int8 => signed(array.as_primitive::<Int8Type>().values().iter().map(|&v| v as i128).collect()),
        DataType::Int16 => signed(array.as_primitive::<Int16Type>().values().iter().map(|&v| v as i128).collect()),
        DataType::Int32 => signed(array.as_primitive::<Int32Type>().values().iter().map(|&v| v as i128).collect()),
        DataType::Int64 => signed(array.as_primitive::<Int64Type>().values().iter().map(|&v| v as i128).collect()),
        other => Err(Error::invalid(format!("column {name:?} has type {other}; an integer type is needed"))),
    }
}

fn document_ids(array: &ArrayRef, name: &str) -> Result<Vec<DocumentId>> {
    if let DataType::FixedSizeBinary(16) = array.data_type() {
        if let Some(row) = first_null(array.as_ref()) {
            return Err(Error::invalid(format!("column {name:?} has a null at row {row}; every row needs a document id")));
        }
        let a = array.as_fixed_size_binary();
        return Ok((0..a.len())
            .map(|i| {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(a.value(i));
                DocumentId::from_le_bytes(bytes)
            })
            .collect());
    }
    match array.data_type() {
        DataType::FixedSizeBinary(n) => {
            Err(Error::invalid(format!("column {name:?} is FixedSizeBinary({n}); document ids are FixedSizeBinary(16) or an integer type")))
        }
        _ => Ok(integers(array, name, u128::MAX)?.into_iter().map(DocumentId).collect()),
    }
}

fn vectors<'a>(array: &'a ArrayRef, name: &str, dimension: usize) -> Result<Vec<&'a [f32]>> {
    if let Some(row) = first_null(array.as_ref()) {
        return Err(Error::invalid(format!("column {name:?} has a null vector at row {row}")));
    }
    let check_items = |items: &'a ArrayRef| -> Result<&'a [f32]> {
        if items.data_type() != &DataType::Float32 {
            return Err(Error::invalid(format!(
                "column {name:?} holds {} items; drift stores Float32 vectors (cast the column to float32 first)",
                items.data_type()
            )));
        }
        Ok(items.as_primitive::<Float32Type>().values())
    };
    let null_item = |items: &ArrayRef, from: usize, to: usize| (from..to).find(|&i| items.is_null(i));
    let mut out = Vec::with_capacity(array.len());
    match array.data_type() {
        DataType::FixedSizeList(_, size) => {
            let list = array.as_fixed_size_list();
            if *size as usize != dimension {
                return Err(Error::DimensionMismatch { expected: dimension, actual: *size as usize });
            }
            let items = list.values();
            let values = check_items(items)?;
            for row in 0..list.len() {
                let from = list.value_offset_at(row);
                if items.null_count() > 0 && null_item(items, from, from + dimension).is_some() {
                    return Err(Error::invalid(format!("column {name:?} row {row} has a null component")));
                }
                out.push(&values[from..from + dimension]);
            }
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let (items, offsets): (&ArrayRef, Vec<(usize, usize)>) = match array.data_type() {
                DataType::List(_) => {
                    let l = array.as_list::<i32>();
                    (l.values(), l.offsets().windows(2).map(|w| (w[0] as usize, w[1] as usize)).collect())
                }
                _ => {
                    let l = array.as_list::<i64>();
                    (l.values(), l.offsets().windows(2).map(|w| (w[0] as usize, w[1] as usize)).collect())
                }
            };
            let values = check_items(items)?;
            for (row, (from, to)) in offsets.into_iter().enumerate() {
                if to - from != dimension {
                    return Err(Error::invalid(format!(
                        "column {name:?} row {row} has {} components; the collection's dimension is {dimension}",
                        to - from
                    )));
                }
                if items.null_count() > 0 && null_item(items, from, to).is_some() {
                    return Err(Error::invalid(format!("column {name:?} row {row} has a null component")));
                }
                out.push(&values[from..to]);
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "column {name:?} has type {other}; vectors are FixedSizeList<Float32>({dimension}) (or List<Float32>)"
            )));
        }
    }
    Ok(out)
}

/// The vectors of `batch`'s column `column`, borrowed from its buffers, checked as
/// [`Collection::add_record_batch`] checks them. With `dimension` `None`, the column's
/// fixed list size (or its first row's length) sets it.
pub fn batch_vectors<'a>(batch: &'a RecordBatch, column_name: &str, dimension: Option<usize>) -> Result<Vec<&'a [f32]>> {
    let names = || batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    let array = column(batch, column_name)
        .ok_or_else(|| Error::invalid(format!("the record batch has no column {column_name:?} (it has: {})", names())))?;
    let dimension = match (dimension, array.data_type()) {
        (Some(d), _) => d,
        (None, DataType::FixedSizeList(_, n)) => *n as usize,
        (None, DataType::List(_)) if !array.is_empty() => array.as_list::<i32>().value_length(0) as usize,
        (None, DataType::LargeList(_)) if !array.is_empty() => array.as_list::<i64>().value_length(0) as usize,
        (None, _) => 0,
    };
    vectors(array, column_name, dimension)
}

fn read_batch<'a>(batch: &'a RecordBatch, columns: &ArrowColumns, dimension: usize) -> Result<BatchColumns<'a>> {
    let names = || batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    let required = |name: &str| {
        column(batch, name).ok_or_else(|| Error::invalid(format!("the record batch has no column {name:?} (it has: {})", names())))
    };
    let ids = document_ids(required(&columns.document_id)?, &columns.document_id)?;
    let vectors = vectors(required(&columns.vector)?, &columns.vector, dimension)?;
    let span = |name: &str| -> Result<Vec<u32>> {
        match column(batch, name) {
            Some(a) => Ok(integers(a, name, u32::MAX as u128)?.into_iter().map(|v| v as u32).collect()),
            None => Ok(vec![0; batch.num_rows()]),
        }
    };
    let starts = span(&columns.start)?;
    let lengths = span(&columns.length)?;
    let spans = starts.into_iter().zip(lengths).map(|(s, l)| [s, l]).collect();
    Ok(BatchColumns { ids, spans, vectors })
}

/// Each row's attribute values from the batch's columns named like `schema`'s
/// attributes (rows without any: empty); a column of a type its attribute cannot take
/// is refused, naming both.
fn read_attributes(batch: &RecordBatch, schema: &[AttributeDef]) -> Result<Vec<Attributes>> {
    use arrow_array::types::{TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType};
    use arrow_schema::TimeUnit;
    let mut rows = vec![Attributes::new(); batch.num_rows()];
    for def in schema {
        let Some(a) = column(batch, &def.name) else { continue };
        let wrong = || Error::invalid(format!("column {:?} is {}, which attribute {:?} ({}) cannot take", def.name, a.data_type(), def.name, def.kind));
        for (r, row) in rows.iter_mut().enumerate() {
            if a.is_null(r) {
                continue;
            }
            let value = match a.data_type() {
                DataType::Utf8 => AttributeValue::String(a.as_string::<i32>().value(r).to_owned()),
                DataType::LargeUtf8 => AttributeValue::String(a.as_string::<i64>().value(r).to_owned()),
                DataType::Boolean => AttributeValue::Bool(a.as_boolean().value(r)),
                DataType::Float32 => AttributeValue::F64(f64::from(a.as_primitive::<Float32Type>().value(r))),
                DataType::Float64 => AttributeValue::F64(a.as_primitive::<arrow_array::types::Float64Type>().value(r)),
                DataType::Timestamp(unit, _) => {
                    let (v, per_micro) = match unit {
                        TimeUnit::Second => (a.as_primitive::<TimestampSecondType>().value(r), 1_000_000i128),
                        TimeUnit::Millisecond => (a.as_primitive::<TimestampMillisecondType>().value(r), 1_000),
                        TimeUnit::Microsecond => (a.as_primitive::<TimestampMicrosecondType>().value(r), 1),
                        TimeUnit::Nanosecond => (a.as_primitive::<TimestampNanosecondType>().value(r) / 1_000, 1),
                    };
                    let micros = i64::try_from(i128::from(v) * per_micro).map_err(|_| wrong())?;
                    AttributeValue::Timestamp(micros)
                }
                DataType::List(_) | DataType::LargeList(_) => {
                    let list = match a.data_type() {
                        DataType::List(_) => a.as_list::<i32>().value(r),
                        _ => a.as_list::<i64>().value(r),
                    };
                    let tags = match list.data_type() {
                        DataType::Utf8 => list.as_string::<i32>().iter().flatten().map(str::to_owned).collect(),
                        DataType::LargeUtf8 => list.as_string::<i64>().iter().flatten().map(str::to_owned).collect(),
                        _ => return Err(wrong()),
                    };
                    AttributeValue::Tags(tags)
                }
                t if t.is_integer() => {
                    let n = integers(&a.slice(r, 1), &def.name, u64::MAX as u128).ok().and_then(|v| v.first().copied());
                    match n {
                        Some(n) => AttributeValue::U64(n as u64),
                        // A negative integer (`integers` takes the non-negative ones).
                        None => AttributeValue::I64(signed_at(a, r).ok_or_else(wrong)?),
                    }
                }
                _ => return Err(wrong()),
            };
            let stored = value.coerce(def.kind).ok_or_else(|| {
                Error::invalid(format!("column {:?} row {r}: {value:?} does not fit attribute {:?} ({})", def.name, def.name, def.kind))
            })?;
            row.insert(def.name.clone(), stored);
        }
    }
    Ok(rows)
}

/// Row `r` of a signed integer column.
fn signed_at(a: &ArrayRef, r: usize) -> Option<i64> {
    Some(match a.data_type() {
        DataType::Int8 => i64::from(a.as_primitive::<Int8Type>().value(r)),
        DataType::Int16 => i64::from(a.as_primitive::<Int16Type>().value(r)),
        DataType::Int32 => i64::from(a.as_primitive::<Int32Type>().value(r)),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(r),
        _ => return None,
    })
}

impl Collection {
    /// Adds every row of `batch` as a posting, atomically (all rows or none), with the
    /// default column names (`document_id`, `vector`, optional `start` and `length`;
    /// see the [module documentation](crate::arrow)). Returns the number of rows added.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, FixedSizeListArray, RecordBatch, UInt64Array, types::Float32Type};
    ///
    /// # fn main() -> drift::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = drift::Database::open(dir.path(), drift::DatabaseOptions::default())?;
    /// let docs = db.create_collection("docs", 2, drift::Metric::L2)?;
    /// let ids: ArrayRef = Arc::new(UInt64Array::from(vec![7, 8]));
    /// let vectors: ArrayRef = Arc::new(FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
    ///     vec![Some(vec![Some(1.0), Some(0.0)]), Some(vec![Some(0.0), Some(1.0)])],
    ///     2,
    /// ));
    /// let batch = RecordBatch::try_from_iter([("document_id", ids), ("vector", vectors)]).unwrap();
    /// assert_eq!(docs.add_record_batch(&batch)?, 2);
    ///
    /// let hits = docs.search_record_batch(&[0.9, 0.1], &drift::SearchOptions::new(1))?;
    /// assert_eq!(hits.num_rows(), 1);
    /// # Ok(()) }
    /// ```
    pub fn add_record_batch(&self, batch: &RecordBatch) -> Result<usize> {
        self.add_record_batch_with(batch, &ArrowColumns::default())
    }

    /// [`Collection::add_record_batch`] with other column names.
    pub fn add_record_batch_with(&self, batch: &RecordBatch, columns: &ArrowColumns) -> Result<usize> {
        let read = read_batch(batch, columns, self.dimension())?;
        let values = read_attributes(batch, &self.schema())?;
        let postings: Vec<Posting<'_>> = read
            .ids
            .iter()
            .zip(&read.spans)
            .zip(&read.vectors)
            .zip(&values)
            .map(|(((&id, span), v), a)| Posting::new(id, v).with_span(span[0], span[1]).with_attributes(a))
            .collect();
        self.add(&postings)?;
        Ok(postings.len())
    }

    /// Searches `queries` (row-major, a multiple of the dimension) and returns every
    /// hit as one record batch ([`hits_schema`]).
    pub fn search_record_batch(&self, queries: &[f32], options: &SearchOptions) -> Result<RecordBatch> {
        let d = self.dimension();
        if !queries.len().is_multiple_of(d) {
            return Err(Error::invalid(format!(
                "{} floats of queries is not a multiple of the collection's dimension {d}",
                queries.len()
            )));
        }
        let results = if queries.len() <= d {
            if queries.is_empty() { Vec::new() } else { vec![self.search(queries, options)?] }
        } else {
            self.search_batch(queries, options)?
        };
        hits_to_record_batch(&results)
    }

    /// Every posting of the collection as record batches of at most `rows_per_batch`
    /// rows ([`postings_schema`] with the collection's attributes), sorted by document
    /// id, then row id.
    pub fn export_record_batches(&self, rows_per_batch: usize) -> Result<Vec<RecordBatch>> {
        if rows_per_batch == 0 {
            return Err(Error::invalid("rows_per_batch must be at least 1"));
        }
        let schema = self.schema();
        let postings = self.export()?;
        postings.chunks(rows_per_batch).map(|chunk| postings_to_record_batch(chunk, self.dimension(), &schema)).collect()
    }
}
