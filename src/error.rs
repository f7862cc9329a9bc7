//! The one error type of drift.
//!
//! Every fallible operation returns [`Result<T>`]. Variants carry evidence: the file,
//! the byte offset, the expected and the actual checksum, the name that was not found.
//! The C layer maps each variant to a stable [`ErrorCode`]; codes are never renumbered.
//!
//! Invariant: an operation that returns an error for bad input (`InvalidArgument`,
//! `DimensionMismatch`, `NonFiniteValue`, `CollectionNotFound`, ...) changed nothing.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Shorthand for `std::result::Result<T, drift::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in drift.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    Io {
        /// What drift was doing ("write row group", "fsync WAL segment", ...).
        operation: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A stored checksum does not match the bytes it covers.
    ChecksumMismatch {
        /// The file holding the damaged bytes.
        file: PathBuf,
        /// Byte offset of the checksummed structure in the file.
        offset: u64,
        /// Which structure ("row group header", "manifest body", ...).
        structure: &'static str,
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum of the bytes as they are now.
        actual: u32,
    },
    /// A structure is malformed in a way a checksum does not describe (bad magic,
    /// impossible length, broken cross-reference, file shorter than recorded).
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong, in words.
        reason: String,
    },
    /// A file was written by a format version this build cannot read.
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// Another process (or another `Database` in this process) holds the database lock.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An earlier fsync or WAL write failed; the database refuses writes until reopened.
    Poisoned {
        /// The failure that poisoned the database.
        cause: String,
    },
    /// The database (or this collection handle's collection) was closed or dropped.
    Closed {
        /// What was closed.
        what: String,
    },
    /// An argument is invalid; nothing was changed.
    InvalidArgument {
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A vector's length is not the collection's dimension; nothing was changed.
    DimensionMismatch {
        /// The collection's dimension.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
    /// A vector holds NaN or an infinity; nothing was changed.
    NonFiniteValue {
        /// Index of the offending vector in the call.
        vector: usize,
        /// Index of the offending component in that vector.
        component: usize,
    },
    /// No collection of this name exists.
    CollectionNotFound {
        /// The name that was asked for.
        name: String,
    },
    /// A collection of this name exists already.
    CollectionExists {
        /// The name.
        name: String,
    },
    /// An object-store request failed (after the client's retries).
    ObjectStore {
        /// What drift was doing ("get", "put", "upload", "list", ...).
        operation: &'static str,
        /// The object key, relative to the configured prefix.
        key: String,
        /// The store's or client's error.
        reason: String,
    },
    /// The object-store prefix belongs to another writer (or was taken over).
    NotOwner {
        /// `s3://bucket/prefix`.
        location: String,
        /// Who owns it and what to do.
        reason: String,
    },
    /// The database is a read-only replica.
    ReadOnly {
        /// Where it replicates from.
        location: String,
    },
    /// A write waited for flushes to drain the memtables and they did not in time.
    Backpressure {
        /// Memtable bytes not yet flushed.
        pending_bytes: u64,
        /// The bound writers wait at.
        limit_bytes: u64,
        /// How long the write waited.
        waited_ms: u64,
        /// The last background flush error, if any (why flushes are not keeping up).
        flush_error: Option<String>,
    },
}

/// Stable numeric codes, shared with the C ABI (`DRIFT_E*` in `drift.h`).
///
/// The numbers are part of the ABI: new codes are only ever appended.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Success (never carried by an `Error`; used by the C layer).
    Ok = 0,
    /// [`Error::InvalidArgument`].
    InvalidArgument = 1,
    /// [`Error::DimensionMismatch`].
    DimensionMismatch = 2,
    /// [`Error::NonFiniteValue`].
    NonFiniteValue = 3,
    /// [`Error::CollectionNotFound`].
    NotFound = 4,
    /// [`Error::CollectionExists`].
    AlreadyExists = 5,
    /// [`Error::Locked`].
    Locked = 6,
    /// [`Error::Io`] other than a full disk.
    Io = 7,
    /// [`Error::Io`] whose cause is ENOSPC or EDQUOT.
    NoSpace = 8,
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`].
    Corrupt = 9,
    /// [`Error::UnsupportedVersion`].
    UnsupportedVersion = 10,
    /// [`Error::Poisoned`].
    Poisoned = 11,
    /// [`Error::Closed`].
    Closed = 12,
    /// A panic was caught at the C boundary.
    Internal = 13,
    /// [`Error::ObjectStore`].
    ObjectStore = 14,
    /// [`Error::NotOwner`].
    NotOwner = 15,
    /// [`Error::ReadOnly`].
    ReadOnly = 16,
    /// [`Error::Backpressure`].
    Backpressure = 17,
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { source, .. } => {
                if is_no_space(source) {
                    ErrorCode::NoSpace
                } else {
                    ErrorCode::Io
                }
            }
            Error::ChecksumMismatch { .. } | Error::Corrupt { .. } => ErrorCode::Corrupt,
            Error::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            Error::Locked { .. } => ErrorCode::Locked,
            Error::Poisoned { .. } => ErrorCode::Poisoned,
            Error::Closed { .. } => ErrorCode::Closed,
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::DimensionMismatch { .. } => ErrorCode::DimensionMismatch,
            Error::NonFiniteValue { .. } => ErrorCode::NonFiniteValue,
            Error::CollectionNotFound { .. } => ErrorCode::NotFound,
            Error::CollectionExists { .. } => ErrorCode::AlreadyExists,
            Error::ObjectStore { .. } => ErrorCode::ObjectStore,
            Error::NotOwner { .. } => ErrorCode::NotOwner,
            Error::ReadOnly { .. } => ErrorCode::ReadOnly,
            Error::Backpressure { .. } => ErrorCode::Backpressure,
        }
    }

    /// True for damage found in stored data (checksum, structure or version).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::ChecksumMismatch { .. } | Error::Corrupt { .. } | Error::UnsupportedVersion { .. }
        )
    }

    pub(crate) fn io(operation: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { operation, path: path.into(), source }
    }

    pub(crate) fn corrupt(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt { file: file.into(), offset, reason: reason.into() }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidArgument { reason: reason.into() }
    }
}

pub(crate) fn is_no_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(code) if code == libc::ENOSPC || code == libc::EDQUOT)
        || error.kind() == io::ErrorKind::StorageFull
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { operation, path, source } => {
                write!(f, "I/O error during {operation} on {}: {source}", path.display())?;
                if is_no_space(source) {
                    write!(f, " (free disk space, then retry; acknowledged writes are safe in the WAL)")?;
                }
                Ok(())
            }
            Error::ChecksumMismatch { file, offset, structure, expected, actual } => write!(
                f,
                "checksum mismatch in {structure} of {} at offset {offset}: stored {expected:#010x}, computed {actual:#010x} (the file is damaged; restore it from a backup or S3)",
                file.display()
            ),
            Error::Corrupt { file, offset, reason } => {
                write!(f, "corrupt file {} at offset {offset}: {reason}", file.display())
            }
            Error::UnsupportedVersion { file, found, supported } => write!(
                f,
                "{} has format version {found}, this build reads up to version {supported} (upgrade drift)",
                file.display()
            ),
            Error::Locked { path } => write!(
                f,
                "database is locked by another process or handle ({}); close the other user first",
                path.display()
            ),
            Error::Poisoned { cause } => write!(
                f,
                "database refuses writes after an earlier I/O failure ({cause}); close and reopen it"
            ),
            Error::Closed { what } => write!(f, "{what} is closed"),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Error::DimensionMismatch { expected, actual } => write!(
                f,
                "vector has {actual} components but the collection's dimension is {expected}"
            ),
            Error::NonFiniteValue { vector, component } => write!(
                f,
                "vector {vector} has a NaN or infinite value at component {component}"
            ),
            Error::CollectionNotFound { name } => write!(f, "no collection named {name:?}"),
            Error::CollectionExists { name } => write!(f, "a collection named {name:?} exists already"),
            Error::ObjectStore { operation, key, reason } => {
                write!(f, "object store {operation} of {key:?} failed: {reason}")
            }
            Error::NotOwner { location, reason } => write!(f, "{location} is not this database's to write: {reason}"),
            Error::ReadOnly { location } => {
                write!(f, "this database is a read-only replica of {location}; write to its writer instead")
            }
            Error::Backpressure { pending_bytes, limit_bytes, waited_ms, flush_error } => {
                write!(
                    f,
                    "write refused after waiting {waited_ms} ms: {pending_bytes} bytes of memtables wait for a flush (writers wait above {limit_bytes}); "
                )?;
                match flush_error {
                    Some(e) => write!(f, "the last background flush failed: {e}"),
                    None => write!(f, "flushes are not keeping up; retry later or flush"),
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
