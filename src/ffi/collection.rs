//! C ABI: writes to a collection, its stats, compaction, and freeing its handle.

use std::ffi::c_char;

use super::{Object, drift_collection, drift_error, put, require, run, slice, slice_mut};
use crate::error::Error;
use crate::{Attributes, DocumentId, Posting};

/// Counters of one collection.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct drift_collection_stats {
    /// Vector dimension.
    pub dimension: u64,
    /// Rows in the active memtable.
    pub memtable_rows: u64,
    /// Rows in memtables being flushed.
    pub frozen_rows: u64,
    /// Rows in shard files (deleted rows included until compaction).
    pub shard_rows: u64,
    /// Shard files.
    pub shards: u64,
    /// Sealed shard files.
    pub sealed_shards: u64,
    /// Row groups in shard files.
    pub row_groups: u64,
    /// Bytes of shard files.
    pub shard_bytes: u64,
    /// Documents with a pending tombstone.
    pub tombstones: u64,
}

fn id_array(ptr: *const u8, count: usize) -> Result<Option<Vec<DocumentId>>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    let bytes = slice(ptr, count.checked_mul(16).ok_or_else(|| Error::invalid("count too large"))?, "document_ids")?;
    Ok(Some(bytes.chunks_exact(16).map(|b| DocumentId::from_le_bytes(b.try_into().unwrap_or([0; 16]))).collect()))
}

/// Builds postings from the C arrays; `ids` may be `None` (fresh ULIDs).
fn postings<'a>(
    ids: &Option<Vec<DocumentId>>,
    starts: *const u32,
    lengths: *const u32,
    vectors: &'a [f32],
    count: usize,
    dimension: usize,
) -> Result<Vec<Posting<'a>>, Error> {
    let starts = if starts.is_null() { None } else { Some(slice(starts, count, "starts")?) };
    let lengths = if lengths.is_null() { None } else { Some(slice(lengths, count, "lengths")?) };
    Ok((0..count)
        .map(|i| Posting {
            document_id: ids.as_ref().map(|v| v[i]),
            start: starts.map_or(0, |s| s[i]),
            length: lengths.map_or(0, |l| l[i]),
            vector: &vectors[i * dimension..(i + 1) * dimension],
            attributes: None,
        })
        .collect())
}

fn vectors<'a>(ptr: *const f32, count: usize, dimension: usize, expected: usize) -> Result<&'a [f32], Error> {
    if count > 0 && dimension != expected {
        return Err(Error::DimensionMismatch { expected, actual: dimension });
    }
    let len = count.checked_mul(dimension).ok_or_else(|| Error::invalid("count × dimension overflows"))?;
    slice(ptr, len, "vectors")
}

/// Adds `count` postings atomically (all or none); returns when they are durable (per
/// the sync policy) and searchable.
///
/// - `document_ids`: `count × 16` bytes (little-endian u128 per posting), or NULL to
///   give every posting a fresh ULID.
/// - `starts`, `lengths`: `count` spans each, or NULL for 0.
/// - `vectors`: `count × dimension` floats, row-major; `dimension` must be the
///   collection's.
/// - `out_document_ids`: NULL, or `count × 16` writable bytes receiving each posting's
///   document id (useful with generated ids); written only on success.
///
/// All arrays are borrowed for the duration of the call only. Thread-safe.
///
/// # Safety
/// Each pointer is NULL (where allowed) or valid for the sizes above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_add(
    collection: *mut drift_collection,
    document_ids: *const u8,
    starts: *const u32,
    lengths: *const u32,
    vectors: *const f32,
    count: usize,
    dimension: usize,
    out_document_ids: *mut u8,
    err: *mut *mut drift_error,
) -> i32 {
    // SAFETY: the same arguments with no attributes; the caller's promises carry over.
    unsafe { drift_add_with_attributes(collection, document_ids, starts, lengths, vectors, std::ptr::null(), count, dimension, out_document_ids, err) }
}

/// `drift_add` with attribute values: `attributes` is NULL (no values) or `count`
/// pointers, each NULL or a NUL-terminated string of `name=value` entries separated by
/// tabs (`"section=net\tsize=12\ttags=x11,gui"`; tags separated by `,`, an empty
/// value is null). Names must be in the collection's schema and values must fit their
/// types, or nothing is added (`DRIFT_EINVAL`, naming the posting and the entry).
///
/// # Safety
/// As `drift_add`; `attributes` is NULL or valid for `count` pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_add_with_attributes(
    collection: *mut drift_collection,
    document_ids: *const u8,
    starts: *const u32,
    lengths: *const u32,
    vectors: *const f32,
    attributes: *const *const c_char,
    count: usize,
    dimension: usize,
    out_document_ids: *mut u8,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let ids = id_array(document_ids, count)?;
        let vs = self::vectors(vectors, count, dimension, c.dimension())?;
        let out = if out_document_ids.is_null() {
            None
        } else {
            Some(slice_mut(out_document_ids, count.saturating_mul(16), "out_document_ids")?)
        };
        let texts = if attributes.is_null() { &[][..] } else { slice(attributes, count, "attributes")? };
        let schema = c.schema();
        let mut values = Vec::with_capacity(texts.len());
        for (i, &text) in texts.iter().enumerate() {
            values.push(match text.is_null() {
                true => Attributes::new(),
                false => Attributes::parse_text(super::string(text, "an attributes string")?, &schema)
                    .map_err(|e| Error::invalid(format!("posting {i}: {e}")))?,
            });
        }
        let mut ps = postings(&ids, starts, lengths, vs, count, dimension)?;
        for (p, a) in ps.iter_mut().zip(&values) {
            p.attributes = Some(a);
        }
        let assigned = c.add(&ps)?;
        if let Some(out) = out {
            for (chunk, id) in out.chunks_exact_mut(16).zip(assigned) {
                chunk.copy_from_slice(&id.to_le_bytes());
            }
        }
        Ok(())
    })
}

/// Removes every document with a posting whose attributes match `filter` (text form),
/// atomically and durably; `out_count` (may be NULL) receives how many documents. A bad
/// filter fails with `DRIFT_EINVAL` naming the byte, before anything is removed.
///
/// # Safety
/// `filter` is a NUL-terminated string; `out_count` is NULL or valid for one value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_remove_where(collection: *mut drift_collection, filter: *const c_char, out_count: *mut u64, err: *mut *mut drift_error) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let removed = c.remove_where_text(super::string(filter, "filter")?)?;
        if !out_count.is_null() {
            put(out_count, removed as u64);
        }
        Ok(())
    })
}

/// Replaces the attribute values of every posting of the document `document_id` (16
/// bytes, little-endian u128) with `values` (`"name=value\tname=value"`, as in
/// `drift_add_with_attributes`; attributes not named become null), keeping vectors and
/// spans: atomic and durable. `out_count` (may be NULL) receives the postings updated
/// (0: no such document).
///
/// # Safety
/// `document_id` is valid for 16 bytes, `values` is a NUL-terminated string,
/// `out_count` is NULL or valid for one value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_update_attributes(
    collection: *mut drift_collection,
    document_id: *const u8,
    values: *const c_char,
    out_count: *mut u64,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let id = id_array(document_id, 1)?.and_then(|ids| ids.first().copied()).ok_or_else(|| Error::invalid("document_id is NULL"))?;
        let values = Attributes::parse_text(super::string(values, "values")?, &c.schema())?;
        let updated = c.update_attributes(id, &values)?;
        if !out_count.is_null() {
            put(out_count, updated as u64);
        }
        Ok(())
    })
}

/// Adds an attribute (`"name:type"`) to the collection's schema; postings written
/// before read it as null. The same declaration again does nothing; another type for
/// an existing name fails with `DRIFT_EINVAL`. Durable on return.
///
/// # Safety
/// `attribute` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_add_attribute(collection: *mut drift_collection, attribute: *const c_char, err: *mut *mut drift_error) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        c.add_attribute(crate::AttributeDef::parse(super::string(attribute, "attribute")?)?)
    })
}

/// Replaces every posting of the document `document_id` (16 bytes, little-endian
/// u128) with the `count` given ones, atomically. `count == 0` removes the document.
/// Arrays as in `drift_add`.
///
/// # Safety
/// Each pointer is NULL (where allowed) or valid for the sizes above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_upsert(
    collection: *mut drift_collection,
    document_id: *const u8,
    starts: *const u32,
    lengths: *const u32,
    vectors: *const f32,
    count: usize,
    dimension: usize,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let id = id_array(document_id, 1)?
            .and_then(|v| v.first().copied())
            .ok_or_else(|| Error::invalid("document_id is NULL"))?;
        let vs = self::vectors(vectors, count, dimension, c.dimension())?;
        let ps = postings(&None, starts, lengths, vs, count, dimension)?;
        c.upsert(id, &ps)
    })
}

/// Removes every posting of `count` documents (`count × 16` bytes of ids). Unknown ids
/// are ignored.
///
/// # Safety
/// `document_ids` is NULL with `count == 0`, or valid for `count × 16` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_remove(
    collection: *mut drift_collection,
    document_ids: *const u8,
    count: usize,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        if count > 0 && document_ids.is_null() {
            return Err(Error::invalid("document_ids is NULL but count is not 0"));
        }
        let ids = id_array(document_ids, count)?.unwrap_or_default();
        c.remove(&ids)
    })
}

/// Rewrites shard files holding deleted rows without them (flushing first).
///
/// # Safety
/// `err` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_compact(collection: *mut drift_collection, err: *mut *mut drift_error) -> i32 {
    run(err, || super::collection(collection)?.compact().map(|_| ()))
}

/// Fills `out` with the collection's counters.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_collection_stats_get(
    collection: *mut drift_collection,
    out: *mut drift_collection_stats,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        require(out, "out")?;
        let s = c.stats();
        put(
            out,
            drift_collection_stats {
                dimension: c.dimension() as u64,
                memtable_rows: s.memtable_rows,
                frozen_rows: s.frozen_rows,
                shard_rows: s.shard_rows,
                shards: s.shards as u64,
                sealed_shards: s.sealed_shards as u64,
                row_groups: s.row_groups as u64,
                shard_bytes: s.shard_bytes,
                tombstones: s.tombstones as u64,
            },
        );
        Ok(())
    })
}

/// Frees a collection handle (the collection itself stays). NULL and invalid handles
/// are ignored. Thread-safe; calls in flight on other threads complete normally.
#[unsafe(no_mangle)]
pub extern "C" fn drift_collection_free(collection: *mut drift_collection) {
    let _ = std::panic::catch_unwind(|| super::unregister(collection, |o| matches!(o, Object::Collection(_))));
}
