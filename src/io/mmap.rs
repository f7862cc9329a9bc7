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
///
/// A view may also hold the file it maps (`MmapView::with_file`), so that bytes can
/// be copied out with `pread` ([`MmapView::read_exact_at`]) instead of being touched
/// through the map, and pages the process no longer needs can be unmapped
/// ([`MmapView::unmap_pages`]).
#[derive(Clone)]
pub struct MmapView {
    map: Option<Arc<memmap2::Mmap>>,
    len: usize,
    file: Option<Arc<dyn super::FileHandle>>,
}

impl fmt::Debug for MmapView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MmapView").field("len", &self.len).field("file", &self.file.is_some()).finish()
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
            return Ok(MmapView { map: None, len: 0, file: None });
        }
        let len_usize = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
        // SAFETY: the mapping is read-only and drift never modifies or truncates the
        // mapped range of a file while a view of it exists (module invariants above);
        // `memmap2` unmaps on drop of the last `Arc`, after every borrow has ended.
        let map = unsafe { memmap2::MmapOptions::new().len(len_usize).map(file)? };
        // Searches touch a few scattered pages of each shard (the hot columns of the
        // probed groups, the vectors they re-rank): random access advice turns off
        // read-ahead of pages not yet in the page cache. It does not turn off
        // fault-around: a fault still maps the cached pages of the 64 KiB around it
        // (measured on Linux 6.18), which is why `VectorReads::Pread` unmaps vector
        // columns explicitly. A hint: errors are ignored.
        let _ = map.advise(memmap2::Advice::Random);
        Ok(MmapView { map: Some(Arc::new(map)), len: len_usize, file: None })
    }

    /// This view, holding `file` (the file it maps) for [`MmapView::read_exact_at`].
    pub(crate) fn with_file(mut self, file: Arc<dyn super::FileHandle>) -> MmapView {
        self.file = Some(file);
        self
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`: with `pread` on the held file
    /// when there is one (the bytes are not mapped into the process), else from the
    /// map. `UnexpectedEof` when the range is not inside the view.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let inside = usize::try_from(offset).ok().and_then(|start| start.checked_add(buf.len())).is_some_and(|end| end <= self.len);
        if !inside {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the mapped view"));
        }
        match &self.file {
            Some(file) => file.read_exact_at(buf, offset),
            None => {
                buf.copy_from_slice(&self.bytes()[offset as usize..offset as usize + buf.len()]);
                Ok(())
            }
        }
    }

    /// Unmaps the whole pages inside `len` bytes at `offset` from this process (their
    /// contents stay in the file and the page cache; a later access through the map
    /// faults them back in). Pages only partly inside the range stay mapped. A hint:
    /// errors are ignored.
    pub fn unmap_pages(&self, offset: u64, len: u64) {
        let Some(map) = &self.map else { return };
        let page = page_size();
        let (Ok(start), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else { return };
        let end = start.saturating_add(len).min(self.len);
        let (start, end) = (start.next_multiple_of(page), end - end % page);
        if start < end {
            // SAFETY: `MADV_DONTNEED` on a read-only shared file mapping only drops the
            // page-table entries of `start..end` (inside the map, checked above): a
            // later read faults the same file bytes back in (drift never modifies the
            // mapped range of a file, module invariants), so every borrow of these
            // bytes keeps reading what it read before.
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
        }
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

    /// Starts fetching the shared handles a clone of this view updates (their
    /// reference counts), so that cloning it later does not wait on a cache miss.
    pub fn prefetch_handles(&self) {
        if let Some(map) = &self.map {
            crate::kernels::prefetch(Arc::as_ptr(map));
        }
        if let Some(file) = &self.file {
            crate::kernels::prefetch(Arc::as_ptr(file).cast::<u8>());
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

/// The system's page size (4096 when it cannot be read).
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: `sysconf` reads a configuration value; it has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).ok().filter(|&s| s.is_power_of_two()).unwrap_or(4096)
    })
}

/// The bytes of a mutable slice of plain values (to read into), without copying.
pub fn as_bytes_mut<T: Pod>(values: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`; in addition every bit pattern written through the
    // returned bytes is a valid `T` (`T: Pod`), and the exclusive borrow of `values`
    // is held for the returned lifetime.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
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
