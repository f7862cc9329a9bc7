//! C ABI: search one query into a caller buffer, or many into a results handle.

use std::ffi::c_char;
use std::sync::Arc;

use super::{Object, drift_collection, drift_error, drift_results, put, require, run, slice, slice_mut};
use crate::error::Error;
use crate::{Hit, SearchOptions};

/// Options of a search.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct drift_search_options {
    /// Number of hits wanted, 1 to 100000.
    pub k: u32,
    /// Non-zero: at most one hit (the closest posting) per document.
    pub one_per_document: u32,
    /// Centroids whose shards are scanned (recall/speed knob); 0 = default
    /// (⌈5·√centroids⌉, at least 16). Ignored until the collection is indexed.
    pub nprobe: u32,
    /// Candidates kept per wanted hit from the 1-bit code scan, re-ranked with exact f32
    /// distances; 0 = default (8), at most 1000 (more is refused with `DRIFT_EINVAL`).
    pub rerank_factor: u32,
    /// Stop probing after this many lists in a row added nothing to the k best
    /// estimates; 0 = scan all `nprobe` lists.
    pub probe_patience: u32,
}

/// One hit.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct drift_hit {
    /// Document id, little-endian u128.
    pub document_id: [u8; 16],
    /// Span start of the posting.
    pub start: u32,
    /// Span length of the posting.
    pub length: u32,
    /// Distance under the collection's metric (smaller is closer).
    pub distance: f32,
}

impl From<Hit> for drift_hit {
    fn from(h: Hit) -> Self {
        drift_hit { document_id: h.document_id.to_le_bytes(), start: h.start, length: h.length, distance: h.distance }
    }
}

pub(crate) fn options(ptr: *const drift_search_options) -> Result<SearchOptions, Error> {
    if ptr.is_null() {
        return Err(Error::invalid("options is NULL"));
    }
    // SAFETY: non-NULL; the caller promises a readable `drift_search_options`.
    let o = unsafe { ptr.read() };
    Ok(SearchOptions {
        k: o.k as usize,
        one_per_document: o.one_per_document != 0,
        nprobe: (o.nprobe != 0).then_some(o.nprobe as usize),
        probe_patience: (o.probe_patience != 0).then_some(o.probe_patience as usize),
        rerank_factor: (o.rerank_factor != 0).then_some(o.rerank_factor as usize),
        exact: false,
        filter: None,
    })
}

/// Searches one query of `dimension` floats. Writes up to `capacity` hits, closest
/// first, into `out_hits` and their number into `out_count` (fewer than k when the
/// collection holds fewer postings). `capacity` must be at least `options->k`. All
/// buffers are the caller's; nothing is retained. Thread-safe.
///
/// # Safety
/// `query` is valid for `dimension` floats, `out_hits` for `capacity` hits,
/// `options` and `out_count` for one value each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_search(
    collection: *mut drift_collection,
    query: *const f32,
    dimension: usize,
    options: *const drift_search_options,
    out_hits: *mut drift_hit,
    capacity: usize,
    out_count: *mut usize,
    err: *mut *mut drift_error,
) -> i32 {
    // SAFETY: the same arguments with no filter; the caller's promises carry over.
    unsafe { drift_search_filtered(collection, query, dimension, options, std::ptr::null(), out_hits, capacity, out_count, err) }
}

/// `drift_search` with a filter over the collection's attributes, in the filter
/// language's text form (`"section == 'net' and size < 500"`; see `drift::filter`), or
/// NULL / empty for none. A syntax error, an unknown attribute or a value of the wrong
/// type fails with `DRIFT_EINVAL` and a message naming the byte offset, before any
/// work.
///
/// # Safety
/// As `drift_search`; `filter` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_search_filtered(
    collection: *mut drift_collection,
    query: *const f32,
    dimension: usize,
    options: *const drift_search_options,
    filter: *const c_char,
    out_hits: *mut drift_hit,
    capacity: usize,
    out_count: *mut usize,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let mut opts = self::options(options)?;
        if !filter.is_null() {
            let text = super::string(filter, "filter")?;
            if !text.trim().is_empty() {
                opts = opts.with_filter_text(text)?;
            }
        }
        if capacity < opts.k {
            return Err(Error::invalid(format!("capacity {capacity} is smaller than k = {}", opts.k)));
        }
        require(out_count, "out_count")?;
        let query = slice(query, dimension, "query")?;
        let out = slice_mut(out_hits, capacity, "out_hits")?;
        let hits = c.search(query, &opts)?;
        for (slot, hit) in out.iter_mut().zip(&hits) {
            *slot = (*hit).into();
        }
        put(out_count, hits.len());
        Ok(())
    })
}

/// Searches `query_count` queries (`query_count × dimension` floats, row-major). On
/// success `out_results` receives a handle: read it with `drift_results_count` and
/// `drift_results_get`, free it with `drift_results_free`.
///
/// # Safety
/// `queries` is valid for `query_count × dimension` floats; other pointers as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_search_batch(
    collection: *mut drift_collection,
    queries: *const f32,
    query_count: usize,
    dimension: usize,
    options: *const drift_search_options,
    out_results: *mut *mut drift_results,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let c = super::collection(collection)?;
        let opts = self::options(options)?;
        require(out_results, "out_results")?;
        let queries = query_rows(&c, queries, query_count, dimension)?;
        let mut all = Vec::with_capacity(query_count);
        for q in 0..query_count {
            let hits = c.search(&queries[q * dimension..(q + 1) * dimension], &opts)?;
            all.push(hits.into_iter().map(drift_hit::from).collect());
        }
        put(out_results, super::register(Object::Results(Arc::new(all))));
        Ok(())
    })
}

/// The `query_count × dimension` floats at `queries`, checked against the collection's
/// dimension and for overflow.
pub(crate) fn query_rows<'a>(c: &crate::Collection, queries: *const f32, query_count: usize, dimension: usize) -> Result<&'a [f32], Error> {
    if query_count > 0 && dimension != c.dimension() {
        return Err(Error::DimensionMismatch { expected: c.dimension(), actual: dimension });
    }
    let len = query_count.checked_mul(dimension).ok_or_else(|| Error::invalid("query_count × dimension overflows"))?;
    slice(queries, len, "queries")
}

fn results(handle: *const drift_results) -> Option<Arc<Vec<Vec<drift_hit>>>> {
    match super::REGISTRY.read().objects.get(&super::id_of(handle)) {
        Some(Object::Results(r)) => Some(r.clone()),
        _ => None,
    }
}

/// Number of queries in a results handle (0 for an invalid handle).
#[unsafe(no_mangle)]
pub extern "C" fn drift_results_count(results: *const drift_results) -> usize {
    std::panic::catch_unwind(|| self::results(results).map_or(0, |r| r.len())).unwrap_or(0)
}

/// The hits of query `index`: `*out_hits` points at `*out_count` hits owned by the
/// results handle (valid until `drift_results_free`). Returns `DRIFT_EINVAL` for an
/// index out of range, `DRIFT_ECLOSED` for an invalid handle.
///
/// # Safety
/// `out_hits` and `out_count` are valid for one value each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn drift_results_get(
    results: *const drift_results,
    index: usize,
    out_hits: *mut *const drift_hit,
    out_count: *mut usize,
    err: *mut *mut drift_error,
) -> i32 {
    run(err, || {
        let r = self::results(results).ok_or_else(|| Error::Closed { what: "drift_results handle".into() })?;
        require(out_hits, "out_hits")?;
        require(out_count, "out_count")?;
        let hits = r.get(index).ok_or_else(|| Error::invalid(format!("query index {index} out of range (0..{})", r.len())))?;
        // The Vec lives in the registry until drift_results_free; its buffer does not move.
        put(out_hits, hits.as_ptr());
        put(out_count, hits.len());
        Ok(())
    })
}

/// Frees a results handle. NULL and invalid handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn drift_results_free(results: *mut drift_results) {
    let _ = std::panic::catch_unwind(|| super::unregister(results, |o| matches!(o, Object::Results(_))));
}
