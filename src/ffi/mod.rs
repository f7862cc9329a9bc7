//! The C ABI: `extern "C"` functions only — convert, check, catch panics.
//!
//! Mirrors `include/drift.h` (generated from these files by cbindgen):
//! `mod.rs` (status codes, version, errors, the handle registry), `database.rs`
//! (open/close/options/flush/stats/collections), `collection.rs` (writes, stats,
//! compaction), `search.rs` (single and batch search, result handles).
//!
//! Invariants:
//! - **Handles are registry ids, never addresses.** Every opaque pointer handed to C
//!   is a number looked up in a global registry. A NULL, closed, freed or made-up handle
//!   finds nothing and returns `DRIFT_ECLOSED` or `DRIFT_EINVAL`; drift never
//!   dereferences a handle, so a use-after-free in the caller cannot crash drift.
//! - **No panic crosses the boundary.** Every exported body runs under
//!   `catch_unwind`; a panic becomes `DRIFT_EINTERNAL` with a message.
//! - **Out-parameters are written only on success.** The error out-parameter is
//!   written only on failure, and only if non-NULL.
//! - **Arrays:** a NULL pointer with length 0 is an empty array; NULL with a non-zero
//!   length is `DRIFT_EINVAL`. Pointers are checked for alignment.
//! - **Thread safety:** every function may be called from any thread, concurrently.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

pub mod collection;
pub mod database;
pub mod search;
#[cfg(feature = "arrow")]
pub mod arrow;

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use crate::error::Error;
use crate::{Collection, Database};

/// Success.
pub const DRIFT_OK: i32 = 0;
/// An argument is invalid (NULL pointer, bad name, k = 0, ...); nothing changed.
pub const DRIFT_EINVAL: i32 = 1;
/// A vector's length is not the collection's dimension; nothing changed.
pub const DRIFT_EDIMENSION: i32 = 2;
/// A vector holds NaN or infinity; nothing changed.
pub const DRIFT_ENONFINITE: i32 = 3;
/// No collection of that name.
pub const DRIFT_ENOTFOUND: i32 = 4;
/// A collection of that name exists already.
pub const DRIFT_EEXISTS: i32 = 5;
/// The database is locked by another process or handle.
pub const DRIFT_ELOCKED: i32 = 6;
/// An I/O error.
pub const DRIFT_EIO: i32 = 7;
/// The disk is full; acknowledged writes are safe.
pub const DRIFT_ENOSPACE: i32 = 8;
/// A file is damaged (checksum or structure).
pub const DRIFT_ECORRUPT: i32 = 9;
/// A file has a format version this build cannot read.
pub const DRIFT_EVERSION: i32 = 10;
/// An earlier fsync failed; writes are refused until the database is reopened.
pub const DRIFT_EPOISONED: i32 = 11;
/// The handle is NULL, closed, freed or not a handle of this kind.
pub const DRIFT_ECLOSED: i32 = 12;
/// A bug in drift (a caught panic); the message says where.
pub const DRIFT_EINTERNAL: i32 = 13;
/// An object-store (S3) request failed.
pub const DRIFT_EREMOTE: i32 = 14;
/// The object-store prefix belongs to another writer.
pub const DRIFT_ENOTOWNER: i32 = 15;
/// The database is a read-only replica.
pub const DRIFT_EREADONLY: i32 = 16;
/// Writes waited for flushes to catch up and timed out (backpressure); the message
/// says why flushes are behind. Retry later.
pub const DRIFT_EBUSY: i32 = 17;

/// Major version of the library (semantic versioning; the ABI changes only with it).
pub const DRIFT_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const DRIFT_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const DRIFT_VERSION_PATCH: u32 = 0;

/// An open database. Opaque; obtained from `drift_open`, released by `drift_close`.
pub struct drift_db {
    _private: [u8; 0],
}

/// A collection handle. Opaque; released by `drift_collection_free`.
pub struct drift_collection {
    _private: [u8; 0],
}

/// An error: a status code and a message. Released by `drift_error_free`.
pub struct drift_error {
    _private: [u8; 0],
}

/// Results of a batch search. Released by `drift_results_free`.
pub struct drift_results {
    _private: [u8; 0],
}

/// A list of strings (collection names). Released by `drift_string_list_free`.
pub struct drift_string_list {
    _private: [u8; 0],
}

pub(crate) struct ErrorObject {
    code: i32,
    message: CString,
}

pub(crate) enum Object {
    Database(Arc<Database>),
    Collection(Collection),
    Error(Arc<ErrorObject>),
    Results(Arc<Vec<Vec<search::drift_hit>>>),
    Strings(Arc<Vec<CString>>),
}

#[derive(Default)]
struct Registry {
    next: u64,
    objects: HashMap<u64, Object>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| RwLock::new(Registry { next: 1, objects: HashMap::new() }));

/// A key drawn once per process (std's randomly seeded hasher), so handles cannot be
/// guessed: `(drift_db *)1` or a neighbour of a real handle names nothing.
static HANDLE_KEY: LazyLock<u64> = LazyLock::new(|| {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x6472_6966_7448_4e44u64)
});

/// The handle of registration number `sequence`: a bijection of it (xor with the
/// process key, then SplitMix64's finaliser), so distinct registrations never collide
/// and consecutive ones look unrelated.
fn handle_id(sequence: u64) -> u64 {
    let mut z = sequence ^ *HANDLE_KEY;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Registers an object and returns its handle (never NULL, never reused, not guessable).
pub(crate) fn register<T>(object: Object) -> *mut T {
    let mut r = REGISTRY.write();
    let id = loop {
        let id = handle_id(r.next);
        r.next += 1;
        if id != 0 {
            break id;
        }
    };
    r.objects.insert(id, object);
    id as usize as *mut T
}

fn id_of<T>(handle: *const T) -> u64 {
    handle as usize as u64
}

/// Removes a handle's object if it is of the kind `is_kind` accepts; `None` if the
/// handle is unknown or of another kind (which then stays registered).
pub(crate) fn unregister<T>(handle: *const T, is_kind: fn(&Object) -> bool) -> Option<Object> {
    if handle.is_null() {
        return None;
    }
    let mut r = REGISTRY.write();
    let id = id_of(handle);
    if r.objects.get(&id).is_some_and(is_kind) { r.objects.remove(&id) } else { None }
}

fn closed(what: &str) -> Error {
    Error::Closed { what: format!("{what} handle (NULL, closed, freed or of another kind)") }
}

pub(crate) fn database(handle: *const drift_db) -> Result<Arc<Database>, Error> {
    match REGISTRY.read().objects.get(&id_of(handle)) {
        Some(Object::Database(db)) => Ok(db.clone()),
        _ => Err(closed("drift_db")),
    }
}

pub(crate) fn collection(handle: *const drift_collection) -> Result<Collection, Error> {
    match REGISTRY.read().objects.get(&id_of(handle)) {
        Some(Object::Collection(c)) => {
            c.check_open()?;
            Ok(c.clone())
        }
        _ => Err(closed("drift_collection")),
    }
}

fn error_object(handle: *const drift_error) -> Option<Arc<ErrorObject>> {
    match REGISTRY.read().objects.get(&id_of(handle)) {
        Some(Object::Error(e)) => Some(e.clone()),
        _ => None,
    }
}

/// Runs an exported body: catches panics, maps errors to codes, fills `err`.
pub(crate) fn run(err: *mut *mut drift_error, body: impl FnOnce() -> Result<(), Error>) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let (code, message) = match outcome {
        Ok(Ok(())) => return DRIFT_OK,
        Ok(Err(e)) => (e.code() as i32, e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (DRIFT_EINTERNAL, format!("internal error in drift (please report): {what}"))
        }
    };
    if !err.is_null() {
        let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
        let handle = register::<drift_error>(Object::Error(Arc::new(ErrorObject { code, message })));
        // SAFETY: `err` is non-NULL and, per the header's contract, points to writable
        // storage for one `drift_error*`.
        unsafe { err.write(handle) };
    }
    code
}

/// Checks an array argument: `Ok(false)` for an empty array (any pointer with length
/// 0), `Ok(true)` for a non-NULL, aligned pointer whose byte size fits in `isize`.
fn check_array<T>(ptr: *const T, len: usize, what: &str) -> Result<bool, Error> {
    if len == 0 {
        return Ok(false);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL but its length is {len}")));
    }
    if !(ptr as usize).is_multiple_of(align_of::<T>()) {
        return Err(Error::invalid(format!("{what} is not aligned for its element type")));
    }
    if len.checked_mul(size_of::<T>()).is_none_or(|n| n > isize::MAX as usize) {
        return Err(Error::invalid(format!("{what} length {len} is too large")));
    }
    Ok(true)
}

/// A slice of `len` `T`s at `ptr`: NULL with 0 is empty; NULL with more is an error.
pub(crate) fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Error> {
    if !check_array(ptr, len, what)? {
        return Ok(&[]);
    }
    // SAFETY: non-NULL, aligned, size fits in isize (check_array); the caller
    // promises (header contract) that `len` initialised elements are readable for the
    // duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A mutable slice, with the same rules as [`slice`].
pub(crate) fn slice_mut<'a, T>(ptr: *mut T, len: usize, what: &str) -> Result<&'a mut [T], Error> {
    if !check_array(ptr, len, what)? {
        return Ok(&mut []);
    }
    // SAFETY: as in `slice`; the caller promises the memory is writable and not
    // aliased for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// A NUL-terminated UTF-8 string argument.
pub(crate) fn string<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL; the caller promises a NUL-terminated string readable for the
    // duration of the call.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// Writes `value` to a required out-parameter.
pub(crate) fn put<T>(out: *mut T, value: T) {
    // SAFETY: callers check `out` for NULL before running the operation (so the
    // out-parameter is only written on success), and the caller promises it points
    // to writable storage for one `T`.
    unsafe { out.write(value) }
}

pub(crate) fn require<T>(out: *mut T, what: &str) -> Result<(), Error> {
    if out.is_null() { Err(Error::invalid(format!("{what} is NULL"))) } else { Ok(()) }
}

/// The library version, e.g. `"0.1.0"`. A static string; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn drift_version() -> *const c_char {
    static VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    VERSION.as_ptr()
}

/// The status code carried by `error` (`DRIFT_ECLOSED` for an invalid handle).
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn drift_error_code(error: *const drift_error) -> i32 {
    catch_unwind(|| error_object(error).map_or(DRIFT_ECLOSED, |e| e.code)).unwrap_or(DRIFT_EINTERNAL)
}

/// The readable message of `error`: a NUL-terminated UTF-8 string owned by the error,
/// valid until `drift_error_free(error)`. For an invalid handle, a static string.
#[unsafe(no_mangle)]
pub extern "C" fn drift_error_message(error: *const drift_error) -> *const c_char {
    catch_unwind(|| match error_object(error) {
        // The CString lives inside the registry entry until drift_error_free.
        Some(e) => e.message.as_ptr(),
        None => c"invalid drift_error handle".as_ptr(),
    })
    .unwrap_or(c"internal error".as_ptr())
}

/// Frees an error. NULL and already-freed errors are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn drift_error_free(error: *mut drift_error) {
    let _ = catch_unwind(|| {
        unregister(error, |o| matches!(o, Object::Error(_)));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn handles_are_distinct_and_not_small_sequential_numbers() {
        let ids: Vec<u64> = (1..=1_000).map(handle_id).collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids.iter().all(|id| *id > 1 << 20), "a handle is a small number");
        assert!(ids.windows(2).all(|w| w[1].abs_diff(w[0]) > 1 << 20), "neighbouring handles");
    }

    #[test]
    fn status_constants_are_the_stable_error_codes() {
        let pairs = [
            (DRIFT_OK, ErrorCode::Ok),
            (DRIFT_EINVAL, ErrorCode::InvalidArgument),
            (DRIFT_EDIMENSION, ErrorCode::DimensionMismatch),
            (DRIFT_ENONFINITE, ErrorCode::NonFiniteValue),
            (DRIFT_ENOTFOUND, ErrorCode::NotFound),
            (DRIFT_EEXISTS, ErrorCode::AlreadyExists),
            (DRIFT_ELOCKED, ErrorCode::Locked),
            (DRIFT_EIO, ErrorCode::Io),
            (DRIFT_ENOSPACE, ErrorCode::NoSpace),
            (DRIFT_ECORRUPT, ErrorCode::Corrupt),
            (DRIFT_EVERSION, ErrorCode::UnsupportedVersion),
            (DRIFT_EPOISONED, ErrorCode::Poisoned),
            (DRIFT_ECLOSED, ErrorCode::Closed),
            (DRIFT_EINTERNAL, ErrorCode::Internal),
            (DRIFT_EREMOTE, ErrorCode::ObjectStore),
            (DRIFT_ENOTOWNER, ErrorCode::NotOwner),
            (DRIFT_EREADONLY, ErrorCode::ReadOnly),
            (DRIFT_EBUSY, ErrorCode::Backpressure),
        ];
        for (constant, code) in pairs {
            assert_eq!(constant, code as i32, "{code:?}");
        }
    }
}
