//! What one search did: the plan it chose and how much it read
//! ([`crate::Collection::explain`], `drift search --explain`).
//!
//! The counters are exact counts of the work the search performed, except
//! `bytes_touched`, which adds up the sizes of the column ranges it read (codes,
//! factors, attribute sections, vectors) — the bytes it made resident, not bytes from
//! disk, which depend on the page cache.

use std::fmt;

use crate::posting::Hit;

/// How a search found its hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchPlan {
    /// Every row scored exactly (`exact()`, or a collection not indexed yet).
    Exact,
    /// The centroid index probed, without a filter.
    Probe,
    /// A filter selective enough that scoring only its matching rows exactly was
    /// cheaper than a probe wide enough to find them.
    FilteredExact,
    /// The index probed with matching rows masked inside the scan, widened until it
    /// covered as many matching rows as an unfiltered probe covers rows.
    FilteredProbe,
}

impl SearchPlan {
    /// A short name (`exact`, `probe`, `filtered-exact`, `filtered-probe`).
    pub fn name(self) -> &'static str {
        match self {
            SearchPlan::Exact => "exact",
            SearchPlan::Probe => "probe",
            SearchPlan::FilteredExact => "filtered-exact",
            SearchPlan::FilteredProbe => "filtered-probe",
        }
    }
}

/// The hits of a search and what it did to find them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SearchExplain {
    /// The hits, as [`crate::Collection::search`] returns them.
    pub hits: Vec<Hit>,
    /// The plan chosen.
    pub plan: SearchPlan,
    /// With a filter: the share of rows it matches, estimated before the search from
    /// the row groups' summaries and masks (a sample of them on large collections).
    pub estimated_selectivity: Option<f64>,
    /// Centroid lists the probe asked for (the default or `nprobe`, widened for a filter).
    pub lists_planned: usize,
    /// Centroid lists scanned.
    pub lists_probed: usize,
    /// Row groups (and memtable batches) whose rows were scanned.
    pub row_groups_scanned: u64,
    /// Row groups skipped because their summaries (min/max, null counts,
    /// dictionaries) show no row can match the filter.
    pub row_groups_skipped: u64,
    /// Row groups whose masks matched no row (skipped before any distance).
    pub row_groups_without_match: u64,
    /// Rows whose codes or vectors were scored.
    pub rows_scanned: u64,
    /// Rows of the scanned groups that matched the filter (all of them without one).
    pub rows_matched: u64,
    /// Vectors whose exact distance was computed.
    pub vectors_reranked: u64,
    /// Bytes of the columns read (see the module documentation).
    pub bytes_touched: u64,
}

impl fmt::Display for SearchExplain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan                    {}", self.plan.name())?;
        if let Some(s) = self.estimated_selectivity {
            writeln!(f, "estimated selectivity   {:.4}%", s * 100.0)?;
        }
        if matches!(self.plan, SearchPlan::Probe | SearchPlan::FilteredProbe) {
            writeln!(f, "lists planned           {}", self.lists_planned)?;
            writeln!(f, "lists probed            {}", self.lists_probed)?;
        }
        writeln!(f, "row groups scanned      {}", self.row_groups_scanned)?;
        writeln!(f, "row groups skipped      {} (by summaries), {} (no row matched)", self.row_groups_skipped, self.row_groups_without_match)?;
        writeln!(f, "rows scanned            {}", self.rows_scanned)?;
        writeln!(f, "rows matched            {}", self.rows_matched)?;
        writeln!(f, "vectors re-ranked       {}", self.vectors_reranked)?;
        write!(f, "bytes touched           {}", self.bytes_touched)
    }
}

/// The counters a search fills in (cheap: a few additions per row group).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Trace {
    pub lists_planned: usize,
    pub lists_probed: usize,
    pub groups_scanned: u64,
    pub groups_skipped: u64,
    pub groups_without_match: u64,
    pub rows_scanned: u64,
    pub rows_matched: u64,
    pub reranked: u64,
    pub bytes: u64,
}

impl Trace {
    pub fn add(&mut self, other: &Trace) {
        self.lists_probed += other.lists_probed;
        self.groups_scanned += other.groups_scanned;
        self.groups_skipped += other.groups_skipped;
        self.groups_without_match += other.groups_without_match;
        self.rows_scanned += other.rows_scanned;
        self.rows_matched += other.rows_matched;
        self.reranked += other.reranked;
        self.bytes += other.bytes;
    }

    pub fn explain(&self, hits: Vec<Hit>, plan: SearchPlan, estimated_selectivity: Option<f64>) -> SearchExplain {
        SearchExplain {
            hits,
            plan,
            estimated_selectivity,
            lists_planned: self.lists_planned,
            lists_probed: self.lists_probed,
            row_groups_scanned: self.groups_scanned,
            row_groups_skipped: self.groups_skipped,
            row_groups_without_match: self.groups_without_match,
            rows_scanned: self.rows_scanned,
            rows_matched: self.rows_matched,
            vectors_reranked: self.reranked,
            bytes_touched: self.bytes,
        }
    }
}
