//! C ABI: Arrow in and out through the Arrow C Data Interface and C Stream Interface
//! (feature `arrow`).
//!
//! Ownership (the Arrow spec's "move" semantics, as ADBC uses them):
//! - `drift_add_arrow` and `drift_add_arrow_stream` **take** the
//!   structures they are given: drift releases them before returning, whatever the
//!   outcome, and marks them released (`release == NULL`). The caller must not release
//!   them again (releasing a released structure is a no-op by the spec).
//! - `drift_collection_search_arrow` **writes** a new stream into caller storage; the
//!   caller owns it and calls its `release` when done.
//!
//! Column conventions are those of [`crate::arrow`].

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi};
use arrow_array::ffi_stream::{RecordBatchStreamReader, FFI_ArrowArrayStream};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, RecordBatchIterator, make_array};

use super::search::{drift_search_options, options, query_rows};
use super::{drift_collection, drift_error, put, require, run};
use crate::error::Error;

fn take_array(array: *mut FFI_ArrowArray) -> Option<FFI_ArrowArray> {
    // SAFETY: non-NULL; the caller promises (header contract) a valid, aligned
    // ArrowArray. `from_raw` moves it out and leaves a released (empty) struct behind,
    // so the caller's copy can no longer free what we now own.
    (!array.is_null()).then(|| unsafe { FFI_ArrowArray::from_raw(array) })
}

fn take_schema(schema: *mut FFI_ArrowSchema) -> Option<FFI_ArrowSchema> {
    // SAFETY: as `take_array`, for an ArrowSchema.
    (!schema.is_null()).then(|| unsafe { FFI_ArrowSchema::from_raw(schema) })
}

fn take_stream(stream: *mut FFI_ArrowArrayStream) -> Option<FFI_ArrowArrayStream> {
    // SAFETY: as `take_array`, for an ArrowArrayStream.
    (!stream.is_null()).then(|| unsafe { FFI_ArrowArrayStream::from_raw(stream) })
}

fn import_batch(array: FFI_ArrowArray, schema: &FFI_ArrowSchema) -> Result<RecordBatch, Error> {
    if array.is_released() {
        return Err(Error::invalid("the ArrowArray is already released"));
    }
    // SAFETY: `array` and `schema` came from the caller as valid C Data Interface
    // structures describing the same data; `from_ffi` validates the buffers against
    // the schema's layout before any value is read.
    let data = unsafe { from_ffi(array, schema) }.map_err(|e| Error::invalid(format!("invalid Arrow C data: {e}")))?;
    let array = make_array(data);
    match array.as_struct_opt() {
        Some(s) if s.null_count() == 0 => Ok(RecordBatch::from(s)),
        Some(_) => Err(Error::invalid("the Arrow struct array has null rows; pass a record batch (a struct array without nulls)")),
        None => Err(Error::invalid(format!(
            "the ArrowArray is of type {}; pass a record batch (a struct array with document_id and vector columns)",
            array.data_type()
        ))),
    }
}

/// Adds the rows of one Arrow record batch (a struct array exported through the
/// Arrow C Data Interface) to the collection, atomically. Columns: `document_id`
/// (UInt64, Int64 ≥ 0, or FixedSizeBinary(16) little-endian u128), `vector`
/// (`FixedSizeList<Float32>` of the collection's dimension), optional `start` and
/// `length` (integers). On success `out_added` (optional) receives the row count.
/// drift takes ownership of `array` and `schema` and releases both before returning,
/// on success and on failure.
///
/// # Safety
/// `array` and `schema` are NULL or valid Arrow C Data Interface structures.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_add_arrow(
    collection: *mut drift_collection,
    array: *mut FFI_ArrowArray,
    schema: *mut FFI_ArrowSchema,
    out_added: *mut usize,
    err: *mut *mut drift_error,
) -> i32 {
    let array = take_array(array);
    let schema = take_schema(schema);
    run(err, move || {
        let c = super::collection(collection)?;
        let (Some(array), Some(schema)) = (array, schema) else {
            return Err(Error::invalid("array and schema must both be non-NULL"));
        };
        let batch = import_batch(array, &schema)?;
        let added = c.add_record_batch(&batch)?;
        if !out_added.is_null() {
            put(out_added, added);
        }
        Ok(())
    })
}

/// Adds every record batch of an Arrow C stream to the collection. Each batch is added
/// atomically; on an error the batches before it stay added and the message says how
/// many rows were. On success `out_added` (optional) receives the row count. drift
/// takes ownership of `stream` and releases it before returning.
///
/// # Safety
/// `stream` is NULL or a valid Arrow C Stream Interface structure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_add_arrow_stream(
    collection: *mut drift_collection,
    stream: *mut FFI_ArrowArrayStream,
    out_added: *mut u64,
    err: *mut *mut drift_error,
) -> i32 {
    let stream = take_stream(stream);
    run(err, move || {
        let c = super::collection(collection)?;
        let Some(stream) = stream else { return Err(Error::invalid("stream is NULL")) };
        let reader = RecordBatchStreamReader::try_new(stream).map_err(|e| Error::invalid(format!("invalid Arrow C stream: {e}")))?;
        let mut added = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| {
                Error::invalid(format!("reading the Arrow stream failed after {added} rows were added: {e}"))
            })?;
            match c.add_record_batch(&batch) {
                Ok(n) => added += n as u64,
                Err(e) if added > 0 => {
                    return Err(Error::invalid(format!("{e} (the {added} rows of earlier batches were added)")));
                }
                Err(e) => return Err(e),
            }
        }
        if !out_added.is_null() {
            put(out_added, added);
        }
        Ok(())
    })
}

/// Searches `query_count` queries (`query_count × dimension` floats, row-major) and
/// writes into `out_stream` an Arrow C stream yielding one record batch with a row per
/// hit: `query` (UInt32), `rank` (UInt32), `document_id` (FixedSizeBinary(16),
/// little-endian u128), `document_id_u64` (UInt64, null when the id does not fit),
/// `start` (UInt32), `length` (UInt32), `distance` (Float32). The caller owns the
/// stream and calls its `release`.
///
/// # Safety
/// `queries` is valid for `query_count × dimension` floats; `out_stream` points to
/// writable storage for one `struct ArrowArrayStream`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_search_arrow(
    collection: *mut drift_collection,
    queries: *const f32,
    query_count: usize,
    dimension: usize,
    options: *const drift_search_options,
    out_stream: *mut FFI_ArrowArrayStream,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let opts = self::options(options)?;
        require(out_stream, "out_stream")?;
        let queries = query_rows(&c, queries, query_count, dimension)?;
        let batch = c.search_record_batch(queries, &opts)?;
        let schema = batch.schema();
        let reader = RecordBatchIterator::new([Ok(batch)], schema);
        put(out_stream, FFI_ArrowArrayStream::new(Box::new(reader)));
        Ok(())
    })
}
