//! [`MmapView`]: a read-only memory map and the only place mapped bytes are cast.
//!
//! Invariants and what they rely on:
//! - **Immutability.** drift never writes through a mapping and never rewrites bytes
//!   inside the mapped range of a file: shard files are append-only until sealed,
//!   compaction writes a new file, and recovery truncates only bytes past the
//!   manifest's committed length *before* mapping. So `&[u8]` borrowed from the map
//!   never changes under a reader.
//! - **Growth while mapped.** Appending to a file after it was mapped is harmless: the
//!   view covers the length given at map time; a new view is made to see more.
//! - **Truncation while mapped** would turn reads of the lost pages into SIGBUS. drift
//!   never truncates a mapped range (see above); an *external* truncation of a live
//!   shard file is outside the contract, like deleting a database file under a running
//!   SQLite.
//! - **Alignment.** A mapping starts on a page boundary, so a file offset that is a
//!   multiple of `align_of::<T>()` is an aligned address. Every typed accessor checks
//!   the offset's alignment and the bounds and returns `None` rather than panicking.
//! - **Partial last page.** Bytes past `len` on the last page are zero-filled by the
//!   kernel and never exposed: every accessor checks against `len`.
//! - **Endianness.** Casting stored little-endian words to native integers is only
//!   correct on little-endian targets; drift refuses to compile elsewhere.
#![allow(unsafe_code)]

#[cfg(not(target_endian = "little"))]
compile_error!("drift's on-disk format is little-endian and is read zero-copy; big-endian targets are not supported");

use std::fmt;
use std::fs::File;
use std::io;
use std::sync::Arc;

/// A read-only view of the first `len` bytes of a file. Cheap to clone.
#[derive(Clone)]
pub struct MmapView {
    map: Option<Arc<memmap2::Mmap>>,
    len: usize,
}

impl fmt::Debug for MmapView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MmapView").field("len", &self.len).finish()
    }
}

/// Plain-old-data types that may be read straight out of mapped bytes: every bit
/// pattern is a valid value and they have no padding.
pub trait Pod: Copy + 'static + private::Sealed {}
impl Pod for u8 {}
impl Pod for u32 {}
impl Pod for u64 {}
impl Pod for f32 {}
mod private {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
    impl Sealed for f32 {}
}

impl MmapView {
    /// Maps the first `len` bytes of `file` read-only. `len == 0` gives an empty view.
    pub(crate) fn map(file: &File, len: u64) -> io::Result<MmapView> {
        if len == 0 {
            return Ok(MmapView { map: None, len: 0 });
        }
        let len_usize = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
        // SAFETY: the mapping is read-only and drift never modifies or truncates the
        // mapped range of a file while a view of it exists (module invariants above);
        // `memmap2` unmaps on drop of the last `Arc`, after every borrow has ended.
        let map = unsafe { memmap2::MmapOptions::new().len(len_usize).map(file)? };
        // Searches touch a few scattered pages of each shard (the hot columns of the
        // probed groups, the vectors they re-rank): random access advice turns off
        // read-ahead and fault-around, so only those pages become resident. Bulk
        // readers (verify, compaction) stream sequentially regardless. A hint: errors
        // are ignored.
        let _ = map.advise(memmap2::Advice::Random);
        Ok(MmapView { map: Some(Arc::new(map)), len: len_usize })
    }

    /// Number of mapped bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty view.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(map) => &map[..self.len],
            None => &[],
        }
    }

    /// `len` bytes at `offset`, or `None` when out of bounds.
    pub fn slice(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.bytes().get(start..end)
    }

    /// `count` values of `T` at `offset`, borrowed from the map without copying, or
    /// `None` when out of bounds or misaligned.
    pub fn typed<T: Pod>(&self, offset: u64, count: usize) -> Option<&[T]> {
        let bytes = self.slice(offset, (count.checked_mul(size_of::<T>())?) as u64)?;
        cast_slice(bytes)
    }

    /// Asks the kernel to read ahead `len` bytes at `offset` (a hint; errors ignored).
    pub fn will_need(&self, offset: u64, len: u64) {
        if let Some(map) = &self.map {
            let (Ok(start), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else { return };
            let _ = map.advise_range(memmap2::Advice::WillNeed, start, len.min(self.len.saturating_sub(start)));
        }
    }
}

/// Reinterprets bytes as a slice of `T`; `None` when the length is not a multiple of
/// `size_of::<T>()` or the address is not aligned for `T`.
pub fn cast_slice<T: Pod>(bytes: &[u8]) -> Option<&[T]> {
    let size = size_of::<T>();
    if !bytes.len().is_multiple_of(size) || !(bytes.as_ptr() as usize).is_multiple_of(align_of::<T>()) {
        return None;
    }
    // SAFETY: the pointer is non-null and aligned for `T` (checked above), the region
    // is `bytes.len()` initialised bytes borrowed for the returned lifetime, the count
    // is exact (length checked above), and `T: Pod` accepts every bit pattern.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) })
}

/// The bytes of a slice of plain values (for checksums), without copying.
pub fn as_bytes<T: Pod>(values: &[T]) -> &[u8] {
    // SAFETY: `T: Pod` has no padding and no invalid bit patterns, so its memory is
    // `size_of_val(values)` initialised bytes; `u8` has alignment 1; the borrow keeps
    // `values` alive for the returned lifetime.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
}
