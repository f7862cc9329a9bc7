//! [`ShardDraft`]: a shard file being written by a flush or a compaction.
//!
//! A draft appends row groups at its committed offset with positioned writes, may seal
//! the file (footer), and is fsynced by its owner before the manifest that names its
//! new length is published. Until then readers map only the old committed range, so a
//! failed draft leaves nothing visible: bytes past the committed length are
//! overwritten by the next flush or truncated at the next open.

use std::path::PathBuf;
use std::sync::Arc;

use crate::attributes::RowValues;
use crate::engine::version_set::VersionSet;
use crate::error::{Error, Result};
use crate::io::{FileHandle, OpenMode};
use crate::storage::bloom::BloomBuilder;
use crate::storage::footer;
use crate::storage::manifest::ShardRecord;
use crate::storage::row_group::{self, RowGroupInput, RowGroupMeta};
use crate::storage::shard_file::{self, ShardHeader, ShardReader};

/// A shard file being appended to.
pub(crate) struct ShardDraft {
    pub path: PathBuf,
    pub file: Arc<dyn FileHandle>,
    pub header: ShardHeader,
    pub committed: u64,
    pub metas: Vec<RowGroupMeta>,
    pub rows: u64,
    pub sealed: bool,
    /// The centroid the shard's 1-bit codes are relative to (`None`: zero vector).
    pub centroid: Option<Vec<f32>>,
    existing: Option<Arc<ShardReader>>,
    new_ids: Vec<u128>,
}

impl ShardDraft {
    /// Continues an open (unsealed) shard.
    pub fn resume(vs: &VersionSet, reader: &Arc<ShardReader>) -> Result<ShardDraft> {
        let file = vs.fs.open(&reader.path, OpenMode::ReadWrite).map_err(|e| Error::io("open shard for append", &reader.path, e))?;
        Ok(ShardDraft {
            path: reader.path.clone(),
            file,
            header: reader.header,
            committed: reader.data_end,
            metas: reader.row_groups.clone(),
            rows: reader.rows,
            sealed: false,
            centroid: None,
            existing: Some(reader.clone()),
            new_ids: Vec::new(),
        })
    }

    /// Starts a new shard file; its path is pushed to `created` so a failed caller can
    /// remove it.
    pub fn create(vs: &VersionSet, header: ShardHeader, created: &mut Vec<PathBuf>) -> Result<ShardDraft> {
        let path = shard_file::shard_path(&vs.shards_dir(), header.collection_id, header.shard_id);
        let file = shard_file::create(vs.fs.as_ref(), &path, &header)?;
        created.push(path.clone());
        Ok(ShardDraft {
            path,
            file,
            header,
            committed: shard_file::HEADER_LEN as u64,
            metas: Vec::new(),
            rows: 0,
            sealed: false,
            centroid: None,
            existing: None,
            new_ids: Vec::new(),
        })
    }

    /// Appends one row group.
    pub fn append(&mut self, input: &RowGroupInput<'_>) -> Result<()> {
        let (bytes, mut meta) = row_group::encode(input)?;
        self.file.write_all_at(&bytes, self.committed).map_err(|e| Error::io("write row group", &self.path, e))?;
        meta.offset = self.committed;
        self.committed += bytes.len() as u64;
        self.rows += meta.rows as u64;
        self.metas.push(meta);
        self.new_ids.extend_from_slice(input.document_ids);
        Ok(())
    }

    /// Writes the footer (row-group index and bloom filter over every document id).
    pub fn seal(&mut self) -> Result<()> {
        let mut bloom = BloomBuilder::with_capacity(self.rows as usize);
        if let Some(reader) = &self.existing {
            let view = reader.mapped()?;
            for g in 0..reader.row_groups.len() {
                let columns = reader.row_group(&view, g)?;
                for r in 0..columns.rows {
                    bloom.insert(columns.document_id(r));
                }
            }
        }
        for id in &self.new_ids {
            bloom.insert(*id);
        }
        let bytes = footer::encode(self.committed, &self.metas, &bloom);
        self.file.write_all_at(&bytes, self.committed).map_err(|e| Error::io("write shard footer", &self.path, e))?;
        self.committed += bytes.len() as u64;
        self.sealed = true;
        Ok(())
    }

    /// Starts writing what was appended back to storage, so the [`ShardDraft::sync`]
    /// that makes it durable waits less (a hint: nothing is durable until then).
    pub fn start_writeback(&self) {
        self.file.start_writeback();
    }

    /// Fsyncs the file (a failure poisons the database).
    pub fn sync(&self, vs: &VersionSet) -> Result<()> {
        vs.sync_file(self.file.as_ref(), &self.path, "fsync shard file")
    }

    /// The manifest entry describing the draft as written.
    pub fn record(&self) -> ShardRecord {
        ShardRecord {
            shard_id: self.header.shard_id,
            committed_len: self.committed,
            row_count: self.rows,
            row_group_count: self.metas.len() as u32,
            centroid_id: self.header.centroid_id,
            sealed: self.sealed,
        }
    }

    /// Maps the draft's committed bytes for search.
    pub fn open_reader(&self, vs: &VersionSet) -> Result<Arc<ShardReader>> {
        let reader = Arc::new(ShardReader::open(vs.fs.as_ref(), &self.path, &self.record(), &self.header, vs.options.vector_reads)?);
        vs.attach_remote(&reader);
        Ok(reader)
    }
}

/// Rows gathered for one output row group (by compaction, index builds, splits and
/// routed flushes).
///
/// Invariant kept by every caller: no row pushed here is hidden by a tombstone that
/// exists when the rewrite starts (such rows are dropped instead). The group then takes
/// the largest LSN bound of its rows, which cannot resurrect anything: every tombstone
/// created later has a larger LSN than every row already flushed.
#[derive(Default)]
pub(crate) struct RowBuffer {
    pub ids: Vec<u128>,
    pub spans: Vec<[u32; 2]>,
    pub row_ids: Vec<u64>,
    pub vectors: Vec<f32>,
    /// Each row's attribute values (empty when no row has any).
    pub attributes: Vec<RowValues>,
    pub min_lsn: u64,
    pub max_lsn: u64,
}

impl RowBuffer {
    /// Adds one row whose LSNs lie within `min_lsn..=max_lsn`.
    #[allow(clippy::too_many_arguments)] // one row's columns
    pub fn push(&mut self, id: u128, span: [u32; 2], row_id: u64, vector: &[f32], values: RowValues, min_lsn: u64, max_lsn: u64) {
        if self.ids.is_empty() {
            self.min_lsn = min_lsn;
            self.max_lsn = max_lsn;
        }
        self.ids.push(id);
        self.spans.push(span);
        self.row_ids.push(row_id);
        self.vectors.extend_from_slice(vector);
        if !values.is_empty() && self.attributes.len() < self.ids.len() {
            self.attributes.resize(self.ids.len() - 1, RowValues::new());
        }
        if !self.attributes.is_empty() || !values.is_empty() {
            self.attributes.push(values);
        }
        self.min_lsn = self.min_lsn.min(min_lsn);
        self.max_lsn = self.max_lsn.max(max_lsn);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Appends the gathered rows to `draft` as one row group (nothing when empty) and
    /// empties the buffer.
    pub fn write(&mut self, draft: &mut ShardDraft, dimension: usize) -> Result<()> {
        if !self.ids.is_empty() {
            let centroid = draft.centroid.clone();
            if !self.attributes.is_empty() {
                self.attributes.resize(self.ids.len(), RowValues::new());
            }
            let attributes = crate::attributes::section::encode(&self.attributes);
            draft.append(&RowGroupInput {
                dimension,
                document_ids: &self.ids,
                spans: &self.spans,
                row_ids: &self.row_ids,
                vectors: &self.vectors,
                attributes: &attributes,
                min_lsn: self.min_lsn,
                max_lsn: self.max_lsn,
                centroid: centroid.as_deref(),
            })?;
        }
        *self = RowBuffer::default();
        Ok(())
    }
}
