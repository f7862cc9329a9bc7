//! Shard files: a header, row groups appended one by one, and (once sealed) a footer.
//!
//! ```text
//! 0        64                                     data_end            file end
//! | header | row group | row group | ... | row group | index | bloom | trailer |
//! ```
//!
//! Header (64 bytes, little-endian):
//!
//! | offset | size | field         | meaning                                          |
//! |-------:|-----:|---------------|--------------------------------------------------|
//! | 0      | 8    | magic         | `DRFTSHRD`                                       |
//! | 8      | 2    | version       | 1                                                |
//! | 10     | 1    | metric        | 1 L2, 2 inner product, 3 cosine                  |
//! | 11     | 1    | reserved      | zero                                             |
//! | 12     | 4    | dimension     | vector dimension                                 |
//! | 16     | 8    | collection_id | owning collection                                |
//! | 24     | 8    | shard_id      | id of the shard within its collection            |
//! | 32     | 4    | centroid_id   | routing centroid, `0xFFFFFFFF` = none yet        |
//! | 36     | 24   | reserved2     | zero                                             |
//! | 60     | 4    | header_crc    | CRC32C of bytes 0..60                            |
//!
//! Invariants:
//! - The manifest records each shard's committed length. Bytes past it belong to a
//!   flush that did not publish and are truncated at open, before mapping.
//! - An **open** shard (no footer) is read by walking row group headers from offset 64
//!   to the committed length; a **sealed** shard through its footer's index. Both take
//!   time proportional to the number of row groups, not to the data.
//! - Row-group bodies are checked against their CRC32C the first time a search (or
//!   `verify`) touches them; a damaged body is an error, never a result.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use super::bloom;
use crate::attributes::summary::GroupSummary;
use super::footer::Footer;
use super::manifest::ShardRecord;
use super::row_group::{self, RowGroupColumns, RowGroupMeta};
use crate::error::{Error, Result};
use crate::format::{self, Field, Layout};
use crate::io::{FileHandle, FileSystem, MmapView, OpenMode};
use crate::options::{Metric, VectorReads};

pub(crate) const MAGIC: [u8; 8] = *b"DRFTSHRD";
pub(crate) const VERSION: u16 = 1;
/// `centroid_id` of a shard not yet owned by a centroid.
pub const NO_CENTROID: u32 = u32::MAX;

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const METRIC_OFFSET: usize = VERSION_OFFSET + 2;
const RESERVED_OFFSET: usize = METRIC_OFFSET + 1;
const DIMENSION_OFFSET: usize = RESERVED_OFFSET + 1;
const COLLECTION_ID_OFFSET: usize = DIMENSION_OFFSET + 4;
const SHARD_ID_OFFSET: usize = COLLECTION_ID_OFFSET + 8;
const CENTROID_ID_OFFSET: usize = SHARD_ID_OFFSET + 8;
const RESERVED2_OFFSET: usize = CENTROID_ID_OFFSET + 4;
const HEADER_CRC_OFFSET: usize = RESERVED2_OFFSET + 24;
/// Size of the shard file header; the first row group starts here.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
const _: () = assert!(HEADER_LEN == 64);

/// Layout of the shard header, checked against `docs/FORMAT.md`.
pub const HEADER_LAYOUT: Layout = Layout {
    name: "Shard file header",
    size: HEADER_LEN,
    fields: &[
        Field { name: "magic", offset: MAGIC_OFFSET, size: 8 },
        Field { name: "version", offset: VERSION_OFFSET, size: 2 },
        Field { name: "metric", offset: METRIC_OFFSET, size: 1 },
        Field { name: "reserved", offset: RESERVED_OFFSET, size: 1 },
        Field { name: "dimension", offset: DIMENSION_OFFSET, size: 4 },
        Field { name: "collection_id", offset: COLLECTION_ID_OFFSET, size: 8 },
        Field { name: "shard_id", offset: SHARD_ID_OFFSET, size: 8 },
        Field { name: "centroid_id", offset: CENTROID_ID_OFFSET, size: 4 },
        Field { name: "reserved2", offset: RESERVED2_OFFSET, size: 24 },
        Field { name: "header_crc", offset: HEADER_CRC_OFFSET, size: 4 },
    ],
};

/// Identity of a shard, as stored in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardHeader {
    pub metric: Metric,
    pub dimension: usize,
    pub collection_id: u64,
    pub shard_id: u64,
    pub centroid_id: u32,
}

impl ShardHeader {
    /// The header the manifest's `record` says shard `shard` must have.
    pub fn of(record: &super::manifest::CollectionRecord, shard: &ShardRecord) -> ShardHeader {
        ShardHeader {
            metric: record.metric,
            dimension: record.dimension,
            collection_id: record.id,
            shard_id: shard.shard_id,
            centroid_id: shard.centroid_id,
        }
    }

    /// The header of a new shard of `record`'s collection owned by `centroid_id`; takes
    /// the next shard id (ids are never reused).
    pub fn next(record: &mut super::manifest::CollectionRecord, centroid_id: u32) -> ShardHeader {
        let shard_id = record.next_shard_id;
        record.next_shard_id += 1;
        ShardHeader { metric: record.metric, dimension: record.dimension, collection_id: record.id, shard_id, centroid_id }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut buf = [0u8; HEADER_LEN];
        buf[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&MAGIC);
        format::put_u16(&mut buf, VERSION_OFFSET, VERSION);
        format::put_u8(&mut buf, METRIC_OFFSET, self.metric.code());
        format::put_u32(&mut buf, DIMENSION_OFFSET, self.dimension as u32);
        format::put_u64(&mut buf, COLLECTION_ID_OFFSET, self.collection_id);
        format::put_u64(&mut buf, SHARD_ID_OFFSET, self.shard_id);
        format::put_u32(&mut buf, CENTROID_ID_OFFSET, self.centroid_id);
        format::seal_header(&mut buf);
        buf
    }

    pub(crate) fn decode(buf: &[u8], path: &Path) -> Result<ShardHeader> {
        format::check_header(buf, &MAGIC, VERSION, path, 0, "shard header")?;
        let metric = Metric::from_code(format::get_u8(buf, METRIC_OFFSET))
            .ok_or_else(|| Error::corrupt(path, METRIC_OFFSET as u64, "unknown metric code"))?;
        Ok(ShardHeader {
            metric,
            dimension: format::get_u32(buf, DIMENSION_OFFSET) as usize,
            collection_id: format::get_u64(buf, COLLECTION_ID_OFFSET),
            shard_id: format::get_u64(buf, SHARD_ID_OFFSET),
            centroid_id: format::get_u32(buf, CENTROID_ID_OFFSET),
        })
    }
}

/// File name of a shard.
pub(crate) fn shard_path(shards_dir: &Path, collection_id: u64, shard_id: u64) -> PathBuf {
    shards_dir.join(format!("{collection_id:016x}-{shard_id:016x}.shard"))
}

/// (collection id, shard id) of a shard file name.
pub(crate) fn parse_shard_name(path: &Path) -> Option<(u64, u64)> {
    let name = path.file_name()?.to_str()?.strip_suffix(".shard")?;
    let (c, s) = name.split_once('-')?;
    Some((u64::from_str_radix(c, 16).ok()?, u64::from_str_radix(s, 16).ok()?))
}

/// The metadata stub an evicted shard leaves in place of its file: `C-S.evicted`.
pub(crate) fn evicted_path(shard_path: &Path) -> PathBuf {
    shard_path.with_extension("evicted")
}

/// Creates a new shard file holding only its header (not yet synced).
pub(crate) fn create(fs: &dyn FileSystem, path: &Path, header: &ShardHeader) -> Result<Arc<dyn FileHandle>> {
    let file = fs.open(path, OpenMode::CreateNew).map_err(|e| Error::io("create shard file", path, e))?;
    file.write_all_at(&header.encode(), 0).map_err(|e| Error::io("write shard header", path, e))?;
    Ok(file)
}

/// Brings back the bytes of a sealed shard whose local copy was evicted (the S3 tier
/// implements it): writes the file at `path` and maps its first `len` bytes.
pub(crate) trait ShardFetch: Send + Sync + std::fmt::Debug {
    /// `keep_file`: the view holds the fetched file for `pread` ([`MmapView::with_file`]).
    fn fetch(&self, path: &Path, collection_id: u64, shard_id: u64, len: u64, keep_file: bool) -> Result<MmapView>;
}

/// A shard file opened for search: its map and checked row-group headers.
///
/// The map may be dropped (`evict`) for a sealed shard that a [`ShardFetch`] can bring
/// back; [`ShardReader::mapped`] then fetches it on first use. Row-group metadata and
/// the bloom filter stay in memory, so an evicted shard still answers "may it hold
/// this document?" without a fetch. A search holds its own clone of the map, so an
/// eviction never pulls pages from under it.
#[derive(Debug)]
pub(crate) struct ShardReader {
    pub path: PathBuf,
    pub header: ShardHeader,
    view: RwLock<Option<MmapView>>,
    len: u64,
    pub row_groups: Vec<RowGroupMeta>,
    verified: Vec<AtomicBool>,
    /// Hot section of row group i checked (version 2 groups read by probed searches).
    hot_verified: Vec<AtomicBool>,
    pub sealed: bool,
    pub data_end: u64,
    bloom: Option<(Vec<u64>, u32)>,
    pub rows: u64,
    remote: OnceLock<Arc<dyn ShardFetch>>,
    last_used: AtomicU64,
    /// Address of the first byte of the current map (0 while evicted), for prefetch
    /// hints only: it is never dereferenced, and a hint at a stale address is harmless.
    map_hint: AtomicUsize,
    /// How probed searches read the vectors they re-rank. With `Pread` the view holds
    /// the file, and the vector columns of groups with a hot section are unmapped at
    /// open and again after each first hot-section check (whose faults map the cached
    /// pages around them).
    pub vector_reads: VectorReads,
    /// Set when an edit retired the file: the last drop of the reader deletes it.
    retired: OnceLock<Arc<super::graveyard::Graveyard>>,
    /// Each row group's attribute summaries, decoded on the first filtered search.
    summaries: OnceLock<Vec<GroupSummary>>,
}

impl Drop for ShardReader {
    /// A retired shard's file may go with its last reader: no version (and so no
    /// search or snapshot) references it any more. The reader only buries the path;
    /// the writers' side deletes it (`graveyard.rs`: never an unlink on a search).
    fn drop(&mut self) {
        if let Some(graveyard) = self.retired.get() {
            graveyard.bury(std::mem::take(&mut self.path));
        }
    }
}

/// The address [`ShardReader`] keeps as its map hint: the map's first byte, or 0 when
/// the view maps nothing.
fn map_hint(view: &MmapView) -> usize {
    let bytes = view.bytes();
    if bytes.is_empty() { 0 } else { bytes.as_ptr() as usize }
}

/// Code lines of each row group [`ShardReader::prefetch_scan_start`] starts fetching:
/// the 512 bytes the blocked kernel reads before its own prefetch distance.
const SCAN_START_LINES: usize = 8;

/// How far around a faulting address the kernel may map cached pages of the file
/// (fault-around: 64 KiB by default, at most one 2 MiB page table; large page-cache
/// folios are mapped whole). Vector columns this close to a hot section are unmapped
/// again after that section is first read.
const FAULT_AROUND_REACH: u64 = 2 << 20;

impl ShardReader {
    /// Opens a shard as the manifest describes it. Bytes past the committed length are
    /// not mapped (the caller truncates them first when it may write).
    pub fn open(
        fs: &dyn FileSystem,
        path: &Path,
        expect: &ShardRecord,
        identity: &ShardHeader,
        vector_reads: VectorReads,
    ) -> Result<ShardReader> {
        let file = fs.open(path, OpenMode::Read).map_err(|e| Error::io("open shard file", path, e))?;
        let len = file.len().map_err(|e| Error::io("stat shard file", path, e))?;
        if len < expect.committed_len {
            return Err(Error::corrupt(
                path,
                len,
                format!("shard file has {len} bytes but the manifest commits {}", expect.committed_len),
            ));
        }
        if expect.committed_len < HEADER_LEN as u64 {
            return Err(Error::corrupt(path, 0, "manifest commits less than a shard header"));
        }
        let mut view = file.map_readonly(expect.committed_len).map_err(|e| Error::io("map shard file", path, e))?;
        if vector_reads == VectorReads::Pread {
            view = view.with_file(file);
        }
        let header = ShardHeader::decode(view.slice(0, HEADER_LEN as u64).unwrap_or(&[0; HEADER_LEN]), path)?;
        if header != *identity {
            return Err(Error::corrupt(
                path,
                0,
                format!("shard header {header:?} does not match the manifest's {identity:?}"),
            ));
        }
        let dim = header.dimension;
        let (row_groups, data_end, bloom) = if expect.sealed {
            let footer = Footer::parse(&view, expect.committed_len, path)?;
            let mut groups = Vec::with_capacity(footer.entries.len());
            let mut expected_offset = HEADER_LEN as u64;
            for &(offset, total_len, rows, max_lsn) in &footer.entries {
                if offset != expected_offset {
                    return Err(Error::corrupt(path, footer.index_offset, "footer index does not follow the row groups"));
                }
                let meta = RowGroupMeta::parse(&view, offset, footer.index_offset, dim, path)?;
                if meta.layout.total_len != total_len || meta.rows != rows || meta.max_lsn != max_lsn {
                    return Err(Error::corrupt(path, offset, "footer index disagrees with the row group header"));
                }
                expected_offset = offset + total_len;
                groups.push(meta);
            }
            if expected_offset != footer.index_offset {
                return Err(Error::corrupt(path, footer.index_offset, "footer index does not end at the last row group"));
            }
            if footer.rows != groups.iter().map(|g| g.rows as u64).sum::<u64>() {
                return Err(Error::corrupt(path, footer.index_offset, "footer row count disagrees with the row groups"));
            }
            (groups, footer.index_offset, Some((footer.bloom_offset, footer.bloom_words, footer.bloom_hashes)))
        } else {
            let mut groups = Vec::with_capacity(expect.row_group_count as usize);
            let mut offset = HEADER_LEN as u64;
            while offset < expect.committed_len {
                let meta = RowGroupMeta::parse(&view, offset, expect.committed_len, dim, path)?;
                offset += meta.layout.total_len;
                groups.push(meta);
            }
            (groups, offset, None)
        };
        let rows: u64 = row_groups.iter().map(|g| g.rows as u64).sum();
        if row_groups.len() as u64 != u64::from(expect.row_group_count) || rows != expect.row_count {
            return Err(Error::corrupt(
                path,
                0,
                format!(
                    "shard holds {} row groups / {rows} rows but the manifest records {} / {}",
                    row_groups.len(),
                    expect.row_group_count,
                    expect.row_count
                ),
            ));
        }
        let verified = row_groups.iter().map(|_| AtomicBool::new(false)).collect();
        let hot_verified = row_groups.iter().map(|_| AtomicBool::new(false)).collect();
        let bloom = match bloom {
            Some((offset, words, hashes)) => Some((
                view.typed::<u64>(offset, words)
                    .ok_or_else(|| Error::corrupt(path, offset, "bloom filter out of bounds or misaligned"))?
                    .to_vec(),
                hashes,
            )),
            None => None,
        };
        let reader = ShardReader {
            path: path.to_owned(),
            header,
            len: expect.committed_len,
            view: RwLock::new(None),
            row_groups,
            verified,
            hot_verified,
            sealed: expect.sealed,
            data_end,
            bloom,
            rows,
            remote: OnceLock::new(),
            retired: OnceLock::new(),
            last_used: AtomicU64::new(0),
            map_hint: AtomicUsize::new(map_hint(&view)),
            vector_reads,
            summaries: OnceLock::new(),
        };
        // Reading the headers and the footer faulted in the pages around them.
        reader.unmap_vectors(&view, 0, u64::MAX);
        *reader.view.write() = Some(view);
        Ok(reader)
    }

    /// With [`VectorReads::Pread`]: unmaps the vector columns of the groups with a hot
    /// section that overlap `from..to` (file offsets); otherwise does nothing.
    fn unmap_vectors(&self, view: &MmapView, from: u64, to: u64) {
        if self.vector_reads != VectorReads::Pread {
            return;
        }
        let first = self.row_groups.partition_point(|g| g.offset + g.layout.total_len <= from);
        for group in self.row_groups[first..].iter().take_while(|g| g.offset < to) {
            if group.has_hot_section() {
                view.unmap_pages(group.offset + group.layout.vectors, group.layout.total_len - group.layout.vectors);
            }
        }
    }

    /// The f32 vector of `row` in the columns of row group `group` (from
    /// [`Self::row_group_for_search`] on `view`), its CRC checked: borrowed from the
    /// map, or with [`VectorReads::Pread`] copied into `buf`.
    pub fn vector_for_rerank<'a>(
        &self,
        view: &MmapView,
        columns: &RowGroupColumns<'a>,
        group: usize,
        row: usize,
        buf: &'a mut Vec<f32>,
    ) -> Result<&'a [f32]> {
        if self.vector_reads == VectorReads::Mapped || !self.row_groups[group].has_hot_section() {
            return columns.checked_vector(row, &self.path);
        }
        let d = self.header.dimension;
        buf.resize(d, 0.0);
        let meta = &self.row_groups[group];
        let offset = meta.offset + meta.layout.vectors + (row * d * 4) as u64;
        view.read_exact_at(crate::io::as_bytes_mut(&mut buf[..]), offset)
            .map_err(|e| Error::io("read vector from shard file", &self.path, e))?;
        columns.check_vector(row, &buf[..], &self.path)?;
        Ok(&buf[..])
    }

    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    /// Lets this (sealed) shard be evicted and fetched back through `remote`.
    pub fn attach_remote(&self, remote: Arc<dyn ShardFetch>) {
        if self.sealed {
            let _ = self.remote.set(remote);
        }
    }

    /// Starts fetching the reader's own fields into the cache (first of the two
    /// prefetch steps a probed search takes ahead of scanning a shard).
    pub fn prefetch_reader(reader: &Arc<ShardReader>) {
        let at = Arc::as_ptr(reader).cast::<u8>();
        for line in 0..size_of::<ShardReader>().div_ceil(64) {
            crate::kernels::prefetch(at.wrapping_add(line * 64));
        }
    }

    /// Starts fetching what a probed search reads first from this shard: its row-group
    /// headers, their verification flags and the map's shared handle (whose count a
    /// search's clone of the map increments).
    pub fn prefetch_metadata(&self) {
        let headers = self.row_groups.as_ptr().cast::<u8>();
        for line in 0..size_of_val(&self.row_groups[..]).div_ceil(64) {
            crate::kernels::prefetch(headers.wrapping_add(line * 64));
        }
        crate::kernels::prefetch(self.hot_verified.as_ptr());
        if let Some(view) = self.view.try_read()
            && let Some(view) = view.as_ref()
        {
            view.prefetch_handles();
        }
    }

    /// Starts fetching the first lines a probed search's scan reads from this shard's
    /// map: each row group's first 1-bit code lines and the head of each factor plane
    /// (the scan's own prefetch runs ahead from there). Needs the row-group headers
    /// cached ([`Self::prefetch_metadata`] a list earlier) to be cheap; reads nothing
    /// from the map.
    pub fn prefetch_scan_start(&self) {
        let base = self.map_hint.load(Ordering::Relaxed);
        if base == 0 {
            return;
        }
        for meta in &self.row_groups {
            if meta.code_bits == 0 {
                continue;
            }
            let codes = base.wrapping_add(meta.offset.wrapping_add(meta.layout.bit_codes) as usize) as *const u8;
            for line in 0..SCAN_START_LINES {
                crate::kernels::prefetch(codes.wrapping_add(line * 64));
            }
            // One line on each later page of the codes, so that their translations are
            // walked before the kernel reaches them.
            let code_bytes = meta.layout.bit_factors.saturating_sub(meta.layout.bit_codes) as usize;
            for at in (SCAN_START_LINES * 64..code_bytes).step_by(4096) {
                crate::kernels::prefetch(codes.wrapping_add(at));
            }
            let factors = base.wrapping_add(meta.offset.wrapping_add(meta.layout.bit_factors) as usize) as *const u8;
            for plane in 0..crate::kernels::rabitq::FACTORS {
                crate::kernels::prefetch(factors.wrapping_add(plane * meta.rows * 4));
            }
        }
    }

    /// Starts fetching the SQ4 code and parameters of `row` in row group `group` (a
    /// hint, like [`Self::prefetch_vector`]; nothing for groups without SQ4 codes).
    pub fn prefetch_sq4(&self, view: &MmapView, group: usize, row: usize) {
        let Some(meta) = self.row_groups.get(group) else { return };
        let layout = &meta.layout;
        let len = layout.sq4_params - layout.sq4_codes;
        if len == 0 {
            return;
        }
        let row_len = crate::kernels::sq4::code_len(self.header.dimension) as u64;
        let bytes = view.bytes();
        let code = meta.offset + layout.sq4_codes + row as u64 * row_len;
        for at in (code..code + row_len).step_by(64).chain([meta.offset + layout.sq4_params + row as u64 * 8]) {
            if let Some(byte) = usize::try_from(at).ok().and_then(|at| bytes.get(at)) {
                crate::kernels::prefetch(byte);
            }
        }
    }

    /// Starts fetching the f32 vector of `row` in row group `group` (a hint: nothing is
    /// read, out-of-range positions are ignored), so that a re-rank's next reads
    /// overlap the current one's.
    pub fn prefetch_vector(&self, view: &MmapView, group: usize, row: usize) {
        if self.vector_reads == VectorReads::Pread {
            return;
        }
        let Some(meta) = self.row_groups.get(group) else { return };
        let row_bytes = self.header.dimension * 4;
        let Ok(start) = usize::try_from(meta.offset + meta.layout.vectors) else { return };
        let Some(vector) = view.bytes().get(start + row * row_bytes..start + (row + 1) * row_bytes) else { return };
        for line in vector.chunks(64) {
            crate::kernels::prefetch(line.as_ptr());
        }
    }

    /// The shard's map, fetching the file back first if it was evicted.
    pub fn mapped(&self) -> Result<MmapView> {
        self.mapped_at(now_millis())
    }

    /// [`ShardReader::mapped`] with the caller's clock reading (milliseconds since the
    /// epoch), so a search reads the clock once rather than once per shard; the
    /// last-use stamp is only written when it changes.
    pub fn mapped_at(&self, now: u64) -> Result<MmapView> {
        if self.last_used.load(Ordering::Relaxed) != now {
            self.last_used.store(now, Ordering::Relaxed);
        }
        if let Some(view) = self.view.read().as_ref() {
            return Ok(view.clone());
        }
        let mut guard = self.view.write();
        if let Some(view) = guard.as_ref() {
            return Ok(view.clone());
        }
        let remote = self
            .remote
            .get()
            .ok_or_else(|| Error::corrupt(&self.path, 0, "shard was evicted but has no remote copy"))?;
        let view = remote.fetch(&self.path, self.header.collection_id, self.header.shard_id, self.len, self.vector_reads == VectorReads::Pread)?;
        let header = ShardHeader::decode(view.slice(0, HEADER_LEN as u64).unwrap_or(&[0; HEADER_LEN]), &self.path)?;
        if header != self.header || view.len() as u64 != self.len {
            return Err(Error::corrupt(&self.path, 0, "fetched shard does not match the shard that was evicted"));
        }
        for v in self.verified.iter().chain(&self.hot_verified) {
            v.store(false, Ordering::Release);
        }
        self.unmap_vectors(&view, 0, u64::MAX);
        self.map_hint.store(map_hint(&view), Ordering::Relaxed);
        *guard = Some(view.clone());
        Ok(view)
    }

    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    /// Drops the local copy of a sealed shard that can be fetched back; returns the
    /// bytes freed (0 if it was not local, cannot be fetched back, or its metadata stub
    /// could not be written).
    ///
    /// First the stub `C-S.evicted` is written (durably): a sparse file of the shard's
    /// length holding only the bytes [`ShardReader::open`] reads (shard header, row-group
    /// headers, footer), so a reopen rebuilds this reader without a download.
    pub fn evict(&self, fs: &dyn FileSystem) -> u64 {
        if self.remote.get().is_none() {
            return 0;
        }
        let Some(view) = self.view.read().clone() else { return 0 };
        let mut pieces: Vec<(u64, &[u8])> = Vec::with_capacity(self.row_groups.len() + 2);
        let mut piece = |offset: u64, len: u64| view.slice(offset, len).map(|b| pieces.push((offset, b)));
        let complete = piece(0, HEADER_LEN as u64).is_some()
            && self.row_groups.iter().all(|g| piece(g.offset, row_group::HEADER_LEN as u64).is_some())
            && piece(self.data_end, self.len - self.data_end).is_some();
        if !complete || crate::io::durable_replace_sparse(fs, &evicted_path(&self.path), self.len, &pieces).is_err() {
            return 0;
        }
        drop(view);
        let mut guard = self.view.write();
        if guard.take().is_none() {
            return 0;
        }
        self.map_hint.store(0, Ordering::Relaxed);
        // Searches holding a clone of the map keep reading it; the file's blocks are
        // freed when the last clone is dropped.
        let _ = fs.remove_file(&self.path);
        self.len
    }

    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    /// Opens a sealed shard evicted before the last close from its metadata stub
    /// (`evicted_path(path)`): checked like a shard file, then left unmapped, so its
    /// bytes are fetched (to `path`) on first use. Attach the remote before searching.
    pub fn open_evicted(
        fs: &dyn FileSystem,
        path: &Path,
        expect: &ShardRecord,
        identity: &ShardHeader,
        vector_reads: VectorReads,
    ) -> Result<ShardReader> {
        let mut reader = Self::open(fs, &evicted_path(path), expect, identity, vector_reads)?;
        reader.path = path.to_owned();
        *reader.view.get_mut() = None;
        reader.map_hint.store(0, Ordering::Relaxed);
        Ok(reader)
    }

    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    /// Whether the file is on local disk (mapped).
    pub fn is_local(&self) -> bool {
        self.view.read().is_some()
    }

    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    /// When the shard was last searched (milliseconds since the Unix epoch).
    pub fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// The columns of row group `i` in `view` (from [`Self::mapped`]), checking its
    /// body CRC on first use.
    pub fn row_group<'a>(&self, view: &'a MmapView, i: usize) -> Result<RowGroupColumns<'a>> {
        let meta = &self.row_groups[i];
        if !self.verified[i].load(Ordering::Acquire) {
            meta.verify_body(view, &self.path)?;
            self.verified[i].store(true, Ordering::Release);
        }
        meta.columns(view, self.header.dimension, &self.path)
    }

    /// The columns of row group `i` for a probed search: a version-2 group with 1-bit
    /// codes has only its hot section verified (once); its vectors must then be read
    /// with `RowGroupColumns::checked_vector`. Any other group is verified whole.
    pub fn row_group_for_search<'a>(&self, view: &'a MmapView, i: usize) -> Result<RowGroupColumns<'a>> {
        let meta = &self.row_groups[i];
        if !meta.has_hot_section() {
            return self.row_group(view, i);
        }
        if !self.hot_verified[i].load(Ordering::Acquire) && !self.verified[i].load(Ordering::Acquire) {
            meta.verify_hot(view, &self.path)?;
            // The check read every hot page; their faults mapped the cached pages
            // around them, vector columns included.
            let hot_end = meta.offset + meta.layout.hot_end;
            self.unmap_vectors(view, meta.offset.saturating_sub(FAULT_AROUND_REACH), hot_end.saturating_add(FAULT_AROUND_REACH));
            self.hot_verified[i].store(true, Ordering::Release);
        }
        meta.columns(view, self.header.dimension, &self.path)
    }

    /// The attribute summaries of every row group, decoded on first use from the
    /// groups' attribute sections (read through [`Self::row_group_for_search`], so
    /// checked by their CRC, and validated whole once: a mask never reads an
    /// unchecked code).
    pub fn summaries(&self, view: &MmapView) -> Result<&[GroupSummary]> {
        if let Some(s) = self.summaries.get() {
            return Ok(s);
        }
        let mut out = Vec::with_capacity(self.row_groups.len());
        for g in 0..self.row_groups.len() {
            let columns = self.row_group_for_search(view, g)?;
            let section = columns.attributes(&self.path)?;
            section.validate().map_err(|e| Error::corrupt(&self.path, self.row_groups[g].offset, format!("row group attribute section: {e}")))?;
            out.push(GroupSummary::of(&section, columns.rows));
        }
        Ok(self.summaries.get_or_init(|| out))
    }

    /// Marks the file for deletion when the last reference to this reader drops (an
    /// edit published a manifest that no longer names it): its path goes to
    /// `graveyard`.
    pub fn retire(&self, graveyard: Arc<super::graveyard::Graveyard>) {
        let _ = self.retired.set(graveyard);
    }

    /// Whether the shard may hold a row of `document_id` that a tombstone at `lsn`
    /// hides (false means certainly not: no such document per the Bloom filter, or
    /// every row group written at or after `lsn`). A tombstone no shard answers true
    /// for — and no memtable holds — can be dropped.
    pub fn may_hold_hidden(&self, document_id: u128, lsn: u64) -> bool {
        self.row_groups.iter().any(|g| g.max_lsn < lsn) && self.may_contain(document_id)
    }

    /// Whether the shard may hold rows of `document_id` (false means certainly not).
    pub fn may_contain(&self, document_id: u128) -> bool {
        match &self.bloom {
            Some((words, hashes)) => bloom::may_contain(words, *hashes, document_id),
            None => true,
        }
    }

    /// Reads every checksum of the file; returns each problem found.
    pub fn verify(&self) -> Vec<Error> {
        let view = match self.mapped() {
            Ok(v) => v,
            Err(e) => return vec![e],
        };
        let mut problems = Vec::new();
        for (i, meta) in self.row_groups.iter().enumerate() {
            let checked = meta.verify_body(&view, &self.path).and_then(|()| {
                if meta.has_hot_section() {
                    meta.verify_hot(&view, &self.path)?;
                }
                let columns = meta.columns(&view, self.header.dimension, &self.path)?;
                columns
                    .attributes(&self.path)?
                    .validate()
                    .map_err(|e| Error::corrupt(&self.path, meta.offset, format!("row group attribute section: {e}")))?;
                columns.verify_vectors(&self.path)
            });
            match checked {
                Ok(()) => self.verified[i].store(true, Ordering::Release),
                Err(e) => problems.push(e),
            }
        }
        if self.bloom.is_some() && problems.is_empty() {
            for i in 0..self.row_groups.len() {
                if let Ok(columns) = self.row_group(&view, i)
                    && (0..columns.rows).any(|r| !self.may_contain(columns.document_id(r))) {
                        problems.push(Error::corrupt(&self.path, self.row_groups[i].offset, "bloom filter misses a document id of this row group"));
                    }
            }
        }
        problems
    }

    /// Bytes on disk (mapped length).
    pub fn file_len(&self) -> u64 {
        self.len
    }
}

/// Wall-clock milliseconds, the unit of a shard's last-use stamp.
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
