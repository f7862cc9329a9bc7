//! Recovery of the WAL ring: find the live chain, replay it, classify its end.
//!
//! The live chain starts at the segment of highest sequence whose `first_lsn` is at or
//! before `checkpoint_lsn + 1` and continues through consecutive sequences. Records
//! with an LSN at or below the checkpoint are already in shard files and are skipped.
//!
//! How the end of the log is judged:
//! - A segment that has a successor must end with a segment-end record; the writer
//!   fsyncs it before writing anything to the successor, so every record before it was
//!   durable. A damaged record there is **corruption**.
//! - In the last segment, a damaged record is a **torn tail** (the write was cut by a
//!   crash and never acknowledged) unless a later valid record proves, through its
//!   `durable_lsn`, that the damaged one had been fsynced — then it is corruption.
//!   A torn tail is reported and excluded; the writer continues in a fresh segment.

use std::collections::HashMap;
use std::path::Path;

use super::op::WalOp;
use super::record::{self, RecordKind};
use super::segment::{self, SegmentFile, SegmentHeader};
use crate::error::{Error, Result};
use crate::io::{FileSystem, OpenMode};

/// A segment file found at open.
#[derive(Debug, Clone)]
pub(crate) struct FoundSegment {
    pub index: usize,
    pub file: SegmentFile,
    pub header: Option<SegmentHeader>,
    /// Why the file is unreadable as a segment (shorter than its header says, or than
    /// a header), and the ring sequence it belonged to when its header still tells.
    pub damaged: Option<(String, Option<u64>)>,
}

/// A segment of the live chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainSegment {
    pub index: usize,
    pub first_lsn: u64,
}

/// Where the log ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogTail {
    pub index: usize,
    pub sequence: u64,
    /// Offset just past the last valid record.
    pub offset: u64,
    /// LSN of the last record in this segment.
    pub last_lsn: u64,
    /// The segment already ends with a segment-end record.
    pub ended: bool,
}

/// Everything recovery learned about the ring.
#[derive(Debug)]
pub(crate) struct ReplayOutcome {
    pub segments: Vec<FoundSegment>,
    pub chain: Vec<ChainSegment>,
    pub tail: Option<LogTail>,
    /// Highest LSN seen in the log (0 if none).
    pub last_lsn: u64,
    pub records_replayed: u64,
    pub bytes_replayed: u64,
    pub torn_bytes: u64,
    /// Damaged segment files the log does not need (older than its start, or past a
    /// tail that is still open): the writer replaces them.
    pub discarded: Vec<std::path::PathBuf>,
}

/// Opens every segment file under `wal_dir` and reads its header.
pub(crate) fn find_segments(fs: &dyn FileSystem, wal_dir: &Path) -> Result<Vec<FoundSegment>> {
    let mut found = Vec::new();
    let entries = fs.read_dir(wal_dir).map_err(|e| Error::io("list WAL directory", wal_dir, e))?;
    for path in entries {
        let Some(index) = segment::parse_segment_name(&path) else { continue };
        let file = fs.open(&path, OpenMode::ReadWrite).map_err(|e| Error::io("open WAL segment", &path, e))?;
        let len = file.len().map_err(|e| Error::io("stat WAL segment", &path, e))?;
        let mut buf = [0u8; segment::HEADER_LEN];
        // A damaged file is not an error yet: `replay` decides whether the log needs it
        // (an old, recycled segment is not needed and is replaced).
        let (header, damaged) = if len < segment::HEADER_LEN as u64 {
            (None, Some((format!("WAL segment is only {len} bytes long"), None)))
        } else {
            file.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read WAL segment header", &path, e))?;
            match SegmentHeader::decode(&buf, &path, len) {
                Ok(header) => (header, None),
                Err(e) => (None, Some((e.to_string(), SegmentHeader::sequence_hint(&buf, &path)))),
            }
        };
        found.push(FoundSegment { index, file: SegmentFile { path, file, len }, header, damaged });
    }
    found.sort_by_key(|s| s.index);
    Ok(found)
}

/// Replays every record after `checkpoint_lsn` through `apply`, in LSN order.
pub(crate) fn replay(
    segments: Vec<FoundSegment>,
    checkpoint_lsn: u64,
    mut apply: impl FnMut(u64, WalOp) -> Result<()>,
) -> Result<ReplayOutcome> {
    let mut outcome = ReplayOutcome {
        segments: Vec::new(),
        chain: Vec::new(),
        tail: None,
        last_lsn: 0,
        records_replayed: 0,
        bytes_replayed: 0,
        torn_bytes: 0,
        discarded: Vec::new(),
    };
    // Damaged files go aside; once the live chain is known, each is either not needed
    // (discarded) or its damage is the log's (an error).
    let (damaged, segments): (Vec<FoundSegment>, Vec<FoundSegment>) = segments.into_iter().partition(|s| s.damaged.is_some());
    let damage_error = |s: &FoundSegment| {
        let reason = s.damaged.as_ref().map(|(r, _)| r.clone()).unwrap_or_default();
        Error::corrupt(&s.file.path, 0, format!("{reason}; the log may need this segment"))
    };
    let by_sequence: HashMap<u64, usize> = segments
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.header.map(|h| (h.sequence, i)))
        .collect();
    let start = segments
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.header.map(|h| (h, i)))
        .filter(|(h, _)| h.first_lsn <= checkpoint_lsn + 1)
        .max_by_key(|(h, _)| h.sequence);
    let Some((start_header, mut at)) = start else {
        if let Some(d) = damaged.first() {
            return Err(damage_error(d));
        }
        if let Some(s) = segments.iter().find(|s| s.header.is_some()) {
            let first = s.header.map(|h| h.first_lsn).unwrap_or(0);
            return Err(Error::corrupt(
                &s.file.path,
                0,
                format!("the WAL starts at LSN {first} but the checkpoint is {checkpoint_lsn}: records are missing"),
            ));
        }
        outcome.segments = segments;
        return Ok(outcome);
    };

    let mut expected = 0u64; // next LSN expected; 0 = take the segment's first_lsn
    loop {
        let segment = &segments[at];
        let Some(header) = segment.header else { return Err(chain_error(&segment.file.path)) };
        if expected != 0 && header.first_lsn != expected {
            // A gap is only acceptable when the checkpoint covers it.
            if header.first_lsn < expected || header.first_lsn - 1 > checkpoint_lsn {
                return Err(Error::corrupt(
                    &segment.file.path,
                    0,
                    format!("segment starts at LSN {} but the log continues at {expected}", header.first_lsn),
                ));
            }
        }
        expected = header.first_lsn;
        outcome.chain.push(ChainSegment { index: segment.index, first_lsn: header.first_lsn });
        let successor = by_sequence.get(&(header.sequence + 1)).copied();
        let view = segment
            .file
            .file
            .map_readonly(segment.file.len)
            .map_err(|e| Error::io("map WAL segment", &segment.file.path, e))?;
        let bytes = view.bytes();
        let mut offset = segment::HEADER_LEN as u64;
        let mut ended = false;
        loop {
            match record::decode(bytes, offset, header.sequence) {
                // Markers carry the LSN of the record before them.
                Some(rec) if matches!(rec.kind, RecordKind::CleanClose | RecordKind::SegmentEnd) => {
                    if rec.lsn + 1 != expected {
                        return Err(Error::corrupt(
                            &segment.file.path,
                            offset,
                            format!("{:?} record names LSN {} but the last record is {}", rec.kind, rec.lsn, expected - 1),
                        ));
                    }
                    if rec.kind == RecordKind::SegmentEnd {
                        ended = true;
                        break;
                    }
                    // A clean close: the log may go on after it (a later open writes
                    // on, in this segment or the next).
                    offset = rec.next_offset;
                }
                Some(rec) => {
                    if rec.lsn != expected {
                        return Err(Error::corrupt(
                            &segment.file.path,
                            offset,
                            format!("record has LSN {} where {expected} was expected", rec.lsn),
                        ));
                    }
                    if rec.lsn > checkpoint_lsn {
                        let op = WalOp::decode(rec.kind, rec.payload)
                            .map_err(|reason| Error::corrupt(&segment.file.path, offset, reason))?;
                        apply(rec.lsn, op)?;
                        outcome.records_replayed += 1;
                        outcome.bytes_replayed += rec.next_offset - offset;
                    }
                    outcome.last_lsn = rec.lsn;
                    expected += 1;
                    offset = rec.next_offset;
                }
                None => {
                    if successor.is_some() {
                        return Err(Error::corrupt(
                            &segment.file.path,
                            offset,
                            format!("damaged WAL record (LSN {expected}) in the middle of the log"),
                        ));
                    }
                    if let Some(proof) = later_durable_record(bytes, offset, header.sequence, expected) {
                        return Err(Error::corrupt(
                            &segment.file.path,
                            offset,
                            format!(
                                "damaged WAL record (LSN {expected}) followed by record at offset {proof} that was written after it was acknowledged"
                            ),
                        ));
                    }
                    outcome.torn_bytes = record::torn_len(bytes, offset, expected);
                    break;
                }
            }
        }
        match successor {
            Some(next) if ended => at = next,
            Some(_) => return Err(chain_error(&segment.file.path)),
            None => {
                outcome.tail = Some(LogTail {
                    index: segment.index,
                    sequence: header.sequence,
                    offset,
                    last_lsn: expected - 1,
                    ended,
                });
                break;
            }
        }
    }
    // A damaged segment is needed if it belongs to the live chain's generations, or, its
    // generation unknown, if the log may continue past a tail that was closed (its
    // successor could be that file).
    let tail_closed = outcome.tail.is_some_and(|t| t.ended);
    for d in damaged {
        let needed = match d.damaged.as_ref().and_then(|(_, sequence)| *sequence) {
            Some(sequence) => sequence >= start_header.sequence,
            None => tail_closed,
        };
        if needed {
            return Err(damage_error(&d));
        }
        outcome.discarded.push(d.file.path.clone());
    }
    outcome.segments = segments;
    Ok(outcome)
}

fn chain_error(path: &Path) -> Error {
    Error::corrupt(path, 0, "WAL segment has a successor but no segment-end record")
}

/// Offset of a valid record after `offset` whose `durable_lsn` shows that LSN
/// `expected` had been fsynced, if any.
fn later_durable_record(bytes: &[u8], offset: u64, sequence: u64, expected: u64) -> Option<u64> {
    let mut at = offset + record::ALIGN;
    while at + record::HEADER_LEN as u64 <= bytes.len() as u64 {
        let kind = bytes[at as usize + 24];
        if (1..=5).contains(&kind)
            && let Some(rec) = record::decode(bytes, at, sequence)
                && rec.lsn >= expected && rec.durable_lsn >= expected {
                    return Some(at);
                }
        at += record::ALIGN;
    }
    None
}
