//! The WAL writer: a ring of preallocated segments and group commit.
//!
//! **Group commit.** A writer frames its record into the shared queue under the state
//! lock and gets its LSN. If no leader is active it becomes the leader: it takes the
//! whole queue, writes it with positioned writes, `fdatasync`s once (policy
//! [`SyncPolicy::Always`]), applies every queued operation in LSN order through
//! [`ApplyOp`], and wakes the others. Concurrent writers therefore share one sync, and
//! operations become visible in LSN order, after they are durable.
//!
//! **Roll-over.** When a record does not fit in the current segment (the last
//! [`record::END_RECORD_LEN`] bytes are always kept free), the writer queues a
//! segment-end record and an fsync of that segment, *then* the next segment's header.
//! So a segment with a successor is always complete on disk (see `replay.rs`).
//!
//! **Recycling.** After a checkpoint (manifest published with `checkpoint_lsn`), every
//! segment all of whose records are at or below it is marked free and reused at a
//! later roll-over under a new sequence. When no segment is free the ring grows.
//!
//! **Poisoning.** A failed write or fsync poisons the WAL: every later append fails
//! with [`Error::Poisoned`]; the failed fsync is never retried as if it had worked.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::op::WalOp;
use super::record::{self, RecordKind};
use super::replay::ReplayOutcome;
use super::segment::{self, SegmentFile, SegmentHeader};
use crate::error::{Error, Result};
use crate::io::FileSystem;
use crate::options::SyncPolicy;

/// Receives operations once they are durable, in LSN order.
pub(crate) trait ApplyOp {
    /// Takes the operation by value: its columns move into the memtable uncopied.
    fn apply(&self, lsn: u64, op: WalOp);
}

/// Counters of the WAL, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Segment files in the ring.
    pub segments: usize,
    /// Segments free for reuse.
    pub free_segments: usize,
    /// Next LSN to be assigned.
    pub next_lsn: u64,
    /// Highest LSN known to be on stable storage.
    pub synced_lsn: u64,
    /// Highest LSN applied (visible to searches).
    pub applied_lsn: u64,
    /// Bytes written to segment files since open.
    pub bytes_written: u64,
    /// `fdatasync` calls made for commits since open.
    pub syncs: u64,
    /// Commit groups written since open (records / groups = group-commit factor).
    pub commit_groups: u64,
    /// Records appended since open.
    pub records: u64,
}

#[derive(Debug)]
enum Step {
    Write { index: usize, offset: u64, bytes: Vec<u8> },
    Sync { index: usize },
}

#[derive(Debug, Clone, Copy)]
struct Cursor {
    index: usize,
    sequence: u64,
    offset: u64,
    /// LSN of the last record in this segment.
    last_lsn: u64,
    /// The next append must roll over (set after recovery).
    force_rollover: bool,
}

#[derive(Debug, Clone, Copy)]
struct LiveSegment {
    index: usize,
    first_lsn: u64,
}

#[derive(Debug)]
struct WalState {
    slots: Vec<Option<SegmentFile>>,
    free: Vec<usize>,
    live: VecDeque<LiveSegment>,
    current: Option<Cursor>,
    max_sequence: u64,
    next_lsn: u64,
    queue: Vec<Step>,
    queued_ops: Vec<(u64, WalOp)>,
    leader_active: bool,
    written_lsn: u64,
    synced_lsn: u64,
    applied_lsn: u64,
    poisoned: Option<String>,
    /// Last checkpoint made durable by a published manifest.
    checkpoint_lsn: u64,
    stats: WalStats,
}

/// The write-ahead log of one database.
#[derive(Debug)]
pub(crate) struct Wal {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    policy: SyncPolicy,
    segment_len: u64,
    ring_segments: usize,
    state: Mutex<WalState>,
    wake: Condvar,
    apply_lock: Mutex<()>,
}

impl Wal {
    /// The writer after recovery. Preallocates the ring up to `ring_segments` files.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        policy: SyncPolicy,
        segment_len: u64,
        ring_segments: usize,
        checkpoint_lsn: u64,
        replayed: ReplayOutcome,
    ) -> Result<Wal> {
        // Damaged segment files the log does not need are replaced by fresh ones below.
        for path in &replayed.discarded {
            fs.remove_file(path).map_err(|e| Error::io("remove damaged, unneeded WAL segment", path, e))?;
        }
        let max_index = replayed.segments.iter().map(|s| s.index + 1).max().unwrap_or(0);
        let mut slots: Vec<Option<SegmentFile>> = vec![None; max_index];
        let mut max_sequence = 0;
        for found in replayed.segments {
            if let Some(h) = found.header {
                max_sequence = max_sequence.max(h.sequence);
            }
            slots[found.index] = Some(found.file);
        }
        // A torn tail was reported by this open; zero its bytes (as the preallocated
        // segment had them), so the next open finds a clean end instead of reporting
        // the same torn record again.
        if let (Some(tail), true) = (&replayed.tail, replayed.torn_bytes > 0)
            && let Some(Some(segment)) = slots.get(tail.index)
        {
            let end = (tail.offset + replayed.torn_bytes).min(segment.len);
            let zeros = vec![0u8; end.saturating_sub(tail.offset) as usize];
            segment.file.write_all_at(&zeros, tail.offset).map_err(|e| Error::io("clear torn WAL tail", &segment.path, e))?;
            segment.file.sync_data().map_err(|e| Error::io("fsync WAL segment", &segment.path, e))?;
        }
        for index in 0..ring_segments {
            if slots.get(index).is_none_or(|s| s.is_none()) {
                if slots.len() <= index {
                    slots.resize(index + 1, None);
                }
                slots[index] = Some(segment::create_segment(fs.as_ref(), dir, index, segment_len)?);
            }
        }
        let live: VecDeque<LiveSegment> =
            replayed.chain.iter().map(|c| LiveSegment { index: c.index, first_lsn: c.first_lsn }).collect();
        let free = (0..slots.len())
            .rev()
            .filter(|i| slots[*i].is_some() && !live.iter().any(|l| l.index == *i))
            .collect();
        // A tail already closed by a segment-end record needs no cursor: the next
        // append starts a fresh segment. An open tail is closed at the first append.
        let current = replayed.tail.filter(|t| !t.ended).map(|t| Cursor {
            index: t.index,
            sequence: t.sequence,
            offset: t.offset,
            last_lsn: t.last_lsn,
            force_rollover: true,
        });
        let last = replayed.last_lsn.max(checkpoint_lsn);
        let mut state = WalState {
            slots,
            free,
            live,
            current,
            max_sequence,
            next_lsn: last + 1,
            queue: Vec::new(),
            queued_ops: Vec::new(),
            leader_active: false,
            written_lsn: last,
            synced_lsn: last,
            applied_lsn: last,
            poisoned: None,
            checkpoint_lsn,
            stats: WalStats::default(),
        };
        release_checkpointed(&mut state, checkpoint_lsn);
        Ok(Wal {
            fs,
            dir: dir.to_owned(),
            policy,
            segment_len,
            ring_segments,
            state: Mutex::new(state),
            wake: Condvar::new(),
            apply_lock: Mutex::new(()),
        })
    }

    /// Largest payload one record may carry.
    pub fn max_payload(&self) -> usize {
        (self.segment_len - segment::HEADER_LEN as u64 - record::END_RECORD_LEN - record::HEADER_LEN as u64) as usize
    }

    /// Logs `op`, waits until it is durable (per the sync policy) and applied, and
    /// returns its LSN. On error the operation was not applied.
    pub fn append(&self, op: WalOp, applier: &dyn ApplyOp) -> Result<u64> {
        let payload_len = op.payload_len();
        if payload_len > self.max_payload() {
            return Err(Error::invalid(format!(
                "write batch of {payload_len} bytes does not fit in one WAL segment ({} bytes of payload at most); split the batch or raise wal_segment_bytes",
                self.max_payload()
            )));
        }
        let framed = record::framed_len(payload_len);
        let mut st = self.state.lock();
        if let Some(cause) = &st.poisoned {
            return Err(Error::Poisoned { cause: cause.clone() });
        }
        self.ensure_room(&mut st, framed)?;
        let lsn = st.next_lsn;
        st.next_lsn += 1;
        let durable = st.synced_lsn;
        let Some(cursor) = st.current.as_mut() else {
            return Err(Error::Poisoned { cause: "WAL has no current segment".into() });
        };
        let (index, sequence, offset) = (cursor.index, cursor.sequence, cursor.offset);
        cursor.offset += framed;
        cursor.last_lsn = lsn;
        let buffer = queue_write(&mut st.queue, index, offset);
        let mut payload = Vec::with_capacity(payload_len);
        op.encode_payload(&mut payload);
        record::encode(buffer, sequence, lsn, durable, op.kind(), &payload);
        st.queued_ops.push((lsn, op));
        st.stats.records += 1;

        loop {
            if st.applied_lsn >= lsn {
                return Ok(lsn);
            }
            if let Some(cause) = &st.poisoned {
                return Err(Error::Poisoned { cause: cause.clone() });
            }
            if st.leader_active {
                self.wake.wait(&mut st);
                continue;
            }
            st.leader_active = true;
            let steps = std::mem::take(&mut st.queue);
            let ops = std::mem::take(&mut st.queued_ops);
            let slots = st.slots.clone();
            drop(st);
            let written = self.write_steps(&steps, &slots);
            let group_last = ops.last().map(|(l, _)| *l);
            let apply_guard = self.apply_lock.lock();
            if written.is_ok() {
                for (op_lsn, op) in ops {
                    applier.apply(op_lsn, op);
                }
            }
            st = self.state.lock();
            st.leader_active = false;
            let group_last = group_last.unwrap_or(st.applied_lsn);
            match written {
                Ok(synced) => {
                    st.written_lsn = group_last;
                    if synced {
                        st.synced_lsn = group_last;
                        st.stats.syncs += 1;
                    }
                    st.applied_lsn = group_last;
                    st.stats.commit_groups += 1;
                    st.stats.bytes_written += steps
                        .iter()
                        .map(|s| if let Step::Write { bytes, .. } = s { bytes.len() as u64 } else { 0 })
                        .sum::<u64>();
                }
                Err(e) => {
                    // The leader's own record was in the failed group: it gets the
                    // real error; everyone else sees the poisoning it caused.
                    st.poisoned.get_or_insert_with(|| e.to_string());
                    drop(st);
                    drop(apply_guard);
                    self.wake.notify_all();
                    return Err(e);
                }
            }
            drop(apply_guard);
            self.wake.notify_all();
        }
    }

    /// Makes room for `framed` bytes in the current segment, rolling over if needed.
    fn ensure_room(&self, st: &mut WalState, framed: u64) -> Result<()> {
        if let Some(c) = st.current {
            let len = st.slots[c.index].as_ref().map_or(0, |s| s.len);
            if !c.force_rollover && c.offset + framed + record::END_RECORD_LEN <= len {
                return Ok(());
            }
        }
        let index = match st.free.pop() {
            Some(index) => index,
            None => {
                let index = st.slots.len();
                let file = segment::create_segment(self.fs.as_ref(), &self.dir, index, self.segment_len)?;
                st.slots.push(Some(file));
                index
            }
        };
        let new_len = st.slots[index].as_ref().map_or(0, |s| s.len);
        if new_len < segment::HEADER_LEN as u64 + framed + record::END_RECORD_LEN {
            st.free.push(index);
            return Err(Error::invalid("write batch does not fit in a WAL segment"));
        }
        if let Some(c) = st.current {
            let durable = st.synced_lsn;
            let buffer = queue_write(&mut st.queue, c.index, c.offset);
            record::encode(buffer, c.sequence, c.last_lsn, durable, RecordKind::SegmentEnd, &[]);
            st.queue.push(Step::Sync { index: c.index });
        }
        st.max_sequence += 1;
        let header = SegmentHeader { sequence: st.max_sequence, first_lsn: st.next_lsn, segment_len: new_len };
        queue_write(&mut st.queue, index, 0).extend_from_slice(&header.encode());
        st.live.push_back(LiveSegment { index, first_lsn: st.next_lsn });
        st.current = Some(Cursor {
            index,
            sequence: st.max_sequence,
            offset: segment::HEADER_LEN as u64,
            last_lsn: st.next_lsn - 1,
            force_rollover: false,
        });
        let checkpoint_lsn = st.checkpoint_lsn;
        release_checkpointed(st, checkpoint_lsn);
        Ok(())
    }

    /// Performs queued writes and syncs; returns whether the group was fsynced.
    fn write_steps(&self, steps: &[Step], slots: &[Option<SegmentFile>]) -> Result<bool> {
        let mut unsynced: Vec<usize> = Vec::new();
        for step in steps {
            match step {
                Step::Write { index, offset, bytes } => {
                    let seg = slot(slots, *index)?;
                    seg.file.write_all_at(bytes, *offset).map_err(|e| Error::io("write WAL record", &seg.path, e))?;
                    if !unsynced.contains(index) {
                        unsynced.push(*index);
                    }
                }
                Step::Sync { index } => {
                    let seg = slot(slots, *index)?;
                    seg.file.sync_data().map_err(|e| Error::io("fsync WAL segment", &seg.path, e))?;
                    unsynced.retain(|i| i != index);
                }
            }
        }
        if self.policy != SyncPolicy::Always {
            return Ok(false);
        }
        for index in unsynced {
            let seg = slot(slots, index)?;
            seg.file.sync_data().map_err(|e| Error::io("fsync WAL segment", &seg.path, e))?;
        }
        Ok(true)
    }

    /// Fsyncs the current segment (the periodic sync thread and close call this).
    pub fn sync_now(&self) -> Result<()> {
        let (file, written) = {
            let st = self.state.lock();
            if let Some(cause) = &st.poisoned {
                return Err(Error::Poisoned { cause: cause.clone() });
            }
            let Some(c) = st.current else { return Ok(()) };
            (st.slots[c.index].clone(), st.written_lsn)
        };
        let Some(seg) = file else { return Ok(()) };
        let result = seg.file.sync_data().map_err(|e| Error::io("fsync WAL segment", &seg.path, e));
        let mut st = self.state.lock();
        match &result {
            Ok(()) => st.synced_lsn = st.synced_lsn.max(written),
            Err(e) => {
                st.poisoned.get_or_insert_with(|| e.to_string());
            }
        }
        result
    }

    /// Closes the log cleanly: syncs it, then (when records were appended to the
    /// current segment since open and room is left beside the segment-end reserve)
    /// writes a clean close record naming the last LSN and syncs again. Recovery then
    /// knows that every record before the marker was acknowledged, so a damaged last
    /// record is reported as corruption, not discarded as a torn write.
    pub fn close_cleanly(&self) -> Result<()> {
        self.sync_now()?;
        let mut st = self.state.lock();
        while st.leader_active || !st.queue.is_empty() {
            self.wake.wait(&mut st);
        }
        if let Some(cause) = &st.poisoned {
            return Err(Error::Poisoned { cause: cause.clone() });
        }
        let Some(c) = st.current else { return Ok(()) };
        let Some(segment) = st.slots[c.index].clone() else { return Ok(()) };
        let framed = record::framed_len(0);
        if c.force_rollover || c.offset + framed + record::END_RECORD_LEN > segment.len || st.synced_lsn < c.last_lsn {
            return Ok(());
        }
        let mut marker = Vec::with_capacity(framed as usize);
        record::encode(&mut marker, c.sequence, c.last_lsn, st.synced_lsn, RecordKind::CleanClose, &[]);
        drop(st);
        let written = segment
            .file
            .write_all_at(&marker, c.offset)
            .and_then(|()| segment.file.sync_data())
            .map_err(|e| Error::io("write WAL clean close record", &segment.path, e));
        let mut st = self.state.lock();
        match written {
            Ok(()) => {
                if let Some(cur) = st.current.as_mut() {
                    cur.offset += framed;
                }
                Ok(())
            }
            Err(e) => {
                st.poisoned.get_or_insert_with(|| e.to_string());
                Err(e)
            }
        }
    }

    /// Runs `f` with the LSN up to which operations are applied, while no operation
    /// is being applied (the flush freezes memtables at a consistent cut this way).
    pub fn with_apply_paused<T>(&self, f: impl FnOnce(u64) -> T) -> T {
        let _guard = self.apply_lock.lock();
        let applied = self.state.lock().applied_lsn;
        f(applied)
    }

    /// Marks segments whose records are all at or below `checkpoint_lsn` free. Call
    /// only after a manifest with that checkpoint is durable.
    ///
    /// When every record of the current segment is checkpointed too, the next append
    /// starts a fresh segment, so recovery after a flush reads no redundant records.
    pub fn checkpoint(&self, checkpoint_lsn: u64) {
        let mut st = self.state.lock();
        st.checkpoint_lsn = st.checkpoint_lsn.max(checkpoint_lsn);
        if let Some(c) = st.current.as_mut()
            && c.last_lsn <= checkpoint_lsn && c.offset > segment::HEADER_LEN as u64 {
                c.force_rollover = true;
            }
        release_checkpointed(&mut st, checkpoint_lsn);
        // Shrink a ring that grew under load back to its configured size.
        let surplus: Vec<usize> = st.free.iter().copied().filter(|&i| i >= self.ring_segments).collect();
        if surplus.is_empty() {
            return;
        }
        st.free.retain(|i| !surplus.contains(i));
        for index in surplus {
            if let Some(seg) = st.slots[index].take() {
                // A failure leaves a free segment file behind; it is reused or removed later.
                if self.fs.remove_file(&seg.path).is_err() {
                    st.slots[index] = Some(seg);
                    st.free.push(index);
                }
            }
        }
        while st.slots.last().is_some_and(|s| s.is_none()) {
            st.slots.pop();
        }
    }

    /// Poisons the WAL from outside (a failed fsync elsewhere in the database).
    pub fn poison(&self, cause: String) {
        self.state.lock().poisoned.get_or_insert(cause);
        self.wake.notify_all();
    }

    /// Why the WAL refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.state.lock().poisoned.clone()
    }

    /// Current counters.
    pub fn stats(&self) -> WalStats {
        let st = self.state.lock();
        WalStats {
            segments: st.slots.iter().filter(|s| s.is_some()).count(),
            free_segments: st.free.len(),
            next_lsn: st.next_lsn,
            synced_lsn: st.synced_lsn,
            applied_lsn: st.applied_lsn,
            ..st.stats
        }
    }
}

fn slot(slots: &[Option<SegmentFile>], index: usize) -> Result<&SegmentFile> {
    slots
        .get(index)
        .and_then(|s| s.as_ref())
        .ok_or_else(|| Error::Poisoned { cause: format!("WAL segment slot {index} vanished") })
}

/// The buffer to append bytes destined for `offset` of segment `index`: the last
/// queued write when contiguous with it, else a new one.
fn queue_write(queue: &mut Vec<Step>, index: usize, offset: u64) -> &mut Vec<u8> {
    let contiguous = matches!(
        queue.last(),
        Some(Step::Write { index: i, offset: o, bytes }) if *i == index && o + bytes.len() as u64 == offset
    );
    if !contiguous {
        queue.push(Step::Write { index, offset, bytes: Vec::new() });
    }
    match queue.last_mut() {
        Some(Step::Write { bytes, .. }) => bytes,
        _ => unreachable!("a write step was just ensured"),
    }
}

fn release_checkpointed(st: &mut WalState, checkpoint_lsn: u64) {
    while st.live.len() >= 2 && st.live[1].first_lsn <= checkpoint_lsn + 1 {
        if let Some(done) = st.live.pop_front()
            && st.current.is_none_or(|c| c.index != done.index) {
                st.free.push(done.index);
            }
    }
}
