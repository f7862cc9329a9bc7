//! The data model's values: document ids, postings, search options and hits.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use crate::attributes::Attributes;
use crate::filter::Filter;
use crate::error::{Error, Result};

/// A 128-bit document id. New ids are ULIDs (time-ordered, random); any `u128` or `u64`
/// a caller supplies is accepted as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DocumentId(pub u128);

impl DocumentId {
    /// A fresh ULID.
    pub fn generate() -> DocumentId {
        DocumentId(u128::from(ulid::Ulid::generate()))
    }

    /// The 16 little-endian bytes drift stores on disk and the C ABI passes.
    pub fn to_le_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// The id of 16 little-endian bytes.
    pub fn from_le_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(u128::from_le_bytes(bytes))
    }
}

impl From<u128> for DocumentId {
    fn from(value: u128) -> Self {
        DocumentId(value)
    }
}

impl From<u64> for DocumentId {
    fn from(value: u64) -> Self {
        DocumentId(u128::from(value))
    }
}

impl fmt::Display for DocumentId {
    /// Formats as a 26-character Crockford base32 ULID string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&ulid::Ulid::from(self.0).to_string())
    }
}

impl FromStr for DocumentId {
    type Err = Error;
    /// Parses a ULID string or a decimal integer.
    fn from_str(s: &str) -> Result<Self> {
        if let Ok(n) = s.parse::<u128>() {
            return Ok(DocumentId(n));
        }
        ulid::Ulid::from_string(s)
            .map(|u| DocumentId(u128::from(u)))
            .map_err(|e| Error::invalid(format!("{s:?} is neither a ULID nor a decimal id: {e}")))
    }
}

/// One vector and the span of the document it embeds.
#[derive(Debug, Clone, Copy)]
pub struct Posting<'a> {
    /// The document; `None` gives the posting a fresh ULID.
    pub document_id: Option<DocumentId>,
    /// First byte (or token) of the span; 0 when unused.
    pub start: u32,
    /// Length of the span; 0 when unused.
    pub length: u32,
    /// The embedding; its length must be the collection's dimension.
    pub vector: &'a [f32],
    /// Attribute values (`None`: every attribute null); names must be in the
    /// collection's schema.
    pub attributes: Option<&'a Attributes>,
}

impl<'a> Posting<'a> {
    /// A posting of `document_id` with an unused span.
    pub fn new(document_id: impl Into<DocumentId>, vector: &'a [f32]) -> Self {
        Posting { document_id: Some(document_id.into()), start: 0, length: 0, vector, attributes: None }
    }

    /// The same posting carrying `attributes` (see [`crate::Collection`]'s schema).
    ///
    /// ```
    /// let values = drift::Attributes::new().set("lang", "en");
    /// let p = drift::Posting::new(7u64, &[0.1, 0.2]).with_attributes(&values);
    /// assert_eq!(p.attributes.unwrap().len(), 1);
    /// ```
    pub fn with_attributes(mut self, attributes: &'a Attributes) -> Self {
        self.attributes = Some(attributes);
        self
    }

    /// The same posting with the span `start..start+length`.
    ///
    /// ```
    /// use drift::{DocumentId, Posting};
    /// // The chunk at bytes 120..200 of document 7.
    /// let p = Posting::new(7u64, &[0.1, 0.2]).with_span(120, 80);
    /// assert_eq!((p.document_id, p.start, p.length), (Some(DocumentId(7)), 120, 80));
    /// ```
    pub fn with_span(mut self, start: u32, length: u32) -> Self {
        self.start = start;
        self.length = length;
        self
    }
}

/// An owned posting, as returned by [`crate::Collection::postings`] and export.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPosting {
    /// The document.
    pub document_id: DocumentId,
    /// Span start.
    pub start: u32,
    /// Span length.
    pub length: u32,
    /// Internal row id (unique in the collection, assigned at write time).
    pub row_id: u64,
    /// The vector as stored (normalised for cosine collections).
    pub vector: Vec<f32>,
    /// The posting's attribute values (attributes it has no value for are absent).
    pub attributes: crate::Attributes,
}

/// Options of a search, built from [`SearchOptions::new`] with the `with_*` methods
/// (new options may come in any release):
///
/// ```
/// let options = drift::SearchOptions::new(10).with_nprobe(64).with_rerank_factor(6);
/// assert_eq!((options.k(), options.nprobe(), options.rerank_factor()), (10, Some(64), Some(6)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Number of hits wanted (1 to [`MAX_K`]).
    pub(crate) k: usize,
    /// Return at most one hit (the closest posting) per document.
    pub(crate) one_per_document: bool,
    /// Centroids whose shards are scanned (the recall/speed knob). `None`: the
    /// default, [`default_nprobe`] of the collection's centroid count. Ignored (all
    /// shards are scanned) until the collection is indexed.
    pub(crate) nprobe: Option<usize>,
    /// Stop probing early: once this many lists in a row (nearest centroid first) have
    /// added nothing to the `k` best code-scan estimates, the remaining of the `nprobe`
    /// lists are skipped. Easy queries then stop long before hard ones, which is where
    /// a fixed `nprobe` spends most of its time. `None`: every one of the `nprobe` lists
    /// is scanned. A patient probe runs on the calling thread (a large probe is
    /// otherwise split over rayon's threads).
    ///
    /// Measured on the MiniLM dev set (`recall_qps`, 461 lists of 128 rows on average):
    /// nprobe 120 with patience 45 reached recall@10 0.952 scanning 67 lists per query
    /// on average, where a fixed probe needs about 78 for the same recall; nprobe 300
    /// with patience 140 reached 0.991 in 186 lists, against 215 (+3% and +9%
    /// queries/s).
    pub(crate) probe_patience: Option<usize>,
    /// Candidates kept from the code scan per wanted hit (by their 1-bit lower bounds),
    /// then re-ranked with exact f32 distances, lowest bound first, until no remaining
    /// bound can beat the k-th exact distance. `None`: [`DEFAULT_RERANK_FACTOR`].
    ///
    /// The bounds are statistical (each estimate less 3 standard errors of the
    /// estimator), so even a probe of every list that keeps every row can, rarely, stop
    /// before a true hit: 1 hit in 1,200 in `tests/integration/centroid_index.rs` (inner product,
    /// 160 dimensions), none for L2 and cosine there. [`SearchOptions::exact()`] is exact.
    pub(crate) rerank_factor: Option<usize>,
    /// Scan every row with exact f32 distances (ground truth; slow on large
    /// collections).
    pub(crate) exact: bool,
    /// Only postings whose attributes match (see [`SearchOptions::with_filter`]).
    pub(crate) filter: Option<Arc<FilterSpec>>,
}

/// A filter as a search carries it: the expression and, when it came as text, where
/// each comparison starts (for errors that name the byte).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FilterSpec {
    pub filter: Filter,
    pub positions: Option<Vec<usize>>,
}

/// Rerank factor used when [`SearchOptions::rerank_factor`] is `None`.
pub const DEFAULT_RERANK_FACTOR: usize = 8;

/// Centroids probed by default for a collection with `centroids` centroids:
/// ⌈5·√centroids⌉, at least 16 (and never more than there are).
///
/// A fixed fraction does not fit every size: on the MiniLM embeddings (128 rows per
/// centroid, the default) recall@10 ≈ 0.95 needs 17% of the 461 centroids of 59k
/// vectors, and the default probes 45 of 79 centroids for 10k vectors (recall 0.981)
/// and 108 of 461 for 59k (0.966). The fraction keeps falling as collections grow, as
/// the rows near a query do. `benches/compare` measures the whole curve.
pub fn default_nprobe(centroids: usize) -> usize {
    let root = (centroids as f64).sqrt();
    ((5.0 * root).ceil() as usize).max(16).min(centroids.max(1))
}

/// Largest accepted `k`.
pub const MAX_K: usize = 100_000;

impl SearchOptions {
    /// `k` nearest postings, several per document allowed.
    pub fn new(k: usize) -> Self {
        SearchOptions { k, one_per_document: false, nprobe: None, probe_patience: None, rerank_factor: None, exact: false, filter: None }
    }

    /// Only postings whose attributes match `filter` (see [`crate::filter`]). Rows are
    /// masked inside the scan, before the candidates are chosen, so a filter never
    /// returns fewer than `k` hits when `k` matching postings exist in the scanned
    /// lists; per query, a selective filter is answered by an exact scan of the
    /// matching rows and any other by a probe widened until it has covered as many
    /// matching rows as an unfiltered probe covers rows ([`crate::Collection::explain`]
    /// says which). A filter naming an attribute the schema lacks, or comparing it with
    /// a value of the wrong type, fails the search before any work.
    ///
    /// ```
    /// use drift::filter::Filter;
    /// let options = drift::SearchOptions::new(10).with_filter(Filter::attr("lang").eq("en"));
    /// assert_eq!(options.filter().unwrap().to_string(), "lang == 'en'");
    /// ```
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(Arc::new(FilterSpec { filter, positions: None }));
        self
    }

    /// [`SearchOptions::with_filter`] with the filter's text form, parsed here (a
    /// syntax error is returned at once; a schema error names the byte at search time).
    ///
    /// ```
    /// let options = drift::SearchOptions::new(10).with_filter_text("size < 100 and lang in ('en', 'fr')").unwrap();
    /// assert!(options.filter().is_some());
    /// assert!(drift::SearchOptions::new(10).with_filter_text("size <").unwrap_err().to_string().contains("byte 6"));
    /// ```
    pub fn with_filter_text(mut self, text: &str) -> Result<Self> {
        let (filter, positions) = Filter::parse_located(text)?;
        self.filter = Some(Arc::new(FilterSpec { filter, positions: Some(positions) }));
        Ok(self)
    }

    /// The filter, if set.
    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_deref().map(|f| &f.filter)
    }

    /// Centroids whose shards are scanned (the recall/speed knob). `None`: the
    /// default, [`default_nprobe`] of the collection's centroid count. Ignored (all
    /// shards are scanned) until the collection is indexed.
    pub fn with_nprobe(mut self, nprobe: usize) -> Self {
        self.nprobe = Some(nprobe);
        self
    }

    /// Stop probing early: once this many lists in a row (nearest centroid first) have
    /// added nothing to the `k` best code-scan estimates, the remaining of the `nprobe`
    /// lists are skipped. Easy queries then stop long before hard ones, which is where
    /// a fixed `nprobe` spends most of its time. `None`: every one of the `nprobe` lists
    /// is scanned. A patient probe runs on the calling thread (a large probe is
    /// otherwise split over rayon's threads).
    ///
    /// Measured on the MiniLM dev set (`recall_qps`, 461 lists of 128 rows on average):
    /// nprobe 120 with patience 45 reached recall@10 0.952 scanning 67 lists per query
    /// on average, where a fixed probe needs about 78 for the same recall; nprobe 300
    /// with patience 140 reached 0.991 in 186 lists, against 215 (+3% and +9%
    /// queries/s).
    ///
    /// ```
    /// use drift::SearchOptions;
    /// // Probe at most 300 centroids, stopping after 180 that bring nothing closer.
    /// let options = SearchOptions::new(10).with_nprobe(300).with_probe_patience(180);
    /// assert_eq!(options.probe_patience(), Some(180));
    /// ```
    pub fn with_probe_patience(mut self, lists: usize) -> Self {
        self.probe_patience = Some(lists);
        self
    }

    /// Candidates kept from the code scan per wanted hit (by their 1-bit lower bounds),
    /// then re-ranked with exact f32 distances, lowest bound first, until no remaining
    /// bound can beat the k-th exact distance. `None`: [`DEFAULT_RERANK_FACTOR`].
    ///
    /// The bounds are statistical (each estimate less 3 standard errors of the
    /// estimator), so even a probe of every list that keeps every row can, rarely, stop
    /// before a true hit: 1 hit in 1,200 in `tests/integration/centroid_index.rs` (inner product,
    /// 160 dimensions), none for L2 and cosine there. [`SearchOptions::exact()`] is exact.
    pub fn with_rerank_factor(mut self, factor: usize) -> Self {
        self.rerank_factor = Some(factor);
        self
    }

    /// Scan every row with exact f32 distances (ground truth; slow on large
    /// collections).
    ///
    /// ```
    /// let options = drift::SearchOptions::new(100).exact();
    /// assert!(options.is_exact());
    /// ```
    pub fn exact(mut self) -> Self {
        self.exact = true;
        self
    }

    /// Return at most one hit (the closest posting) per document.
    ///
    /// ```
    /// let options = drift::SearchOptions::new(5).one_per_document();
    /// assert!(options.is_one_per_document());
    /// ```
    pub fn one_per_document(mut self) -> Self {
        self.one_per_document = true;
        self
    }

    /// Hits wanted.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Centroids probed, if set (`None`: [`default_nprobe`]).
    pub fn nprobe(&self) -> Option<usize> {
        self.nprobe
    }

    /// Probe patience, if set (see [`SearchOptions::with_probe_patience`]).
    pub fn probe_patience(&self) -> Option<usize> {
        self.probe_patience
    }

    /// Rerank factor, if set (`None`: [`DEFAULT_RERANK_FACTOR`]).
    pub fn rerank_factor(&self) -> Option<usize> {
        self.rerank_factor
    }

    /// Whether every row is scanned exactly.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Whether at most one hit per document is returned.
    pub fn is_one_per_document(&self) -> bool {
        self.one_per_document
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::invalid(format!("k must be between 1 and {MAX_K}, got {}", self.k)));
        }
        if self.nprobe == Some(0) {
            return Err(Error::invalid("nprobe must be at least 1 (or unset for the default)"));
        }
        if self.probe_patience == Some(0) {
            return Err(Error::invalid("probe_patience must be at least 1 (or unset to scan all nprobe lists)"));
        }
        if self.rerank_factor.is_some_and(|f| f == 0 || f > 1000) {
            return Err(Error::invalid("rerank_factor must be between 1 and 1000 (or unset for the default)"));
        }
        Ok(())
    }
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The document the posting belongs to.
    pub document_id: DocumentId,
    /// Span start of the posting.
    pub start: u32,
    /// Span length of the posting.
    pub length: u32,
    /// Distance under the collection's metric (smaller is closer).
    pub distance: f32,
}
