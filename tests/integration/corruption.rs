//! Damaged files are detected, reported with a clear error, and never served.
//!
//! A small database is built once (a sealed shard, an open shard, a manifest, and a
//! WAL whose live chain spans several segments). Then, one at a time:
//! - every bit of every header and trailer byte of every file kind is flipped;
//! - row-group bodies get bit flips at sampled offsets;
//! - every file is truncated at many offsets.
//!
//! After each change the database is reopened. It must either refuse to open with a
//! corruption error, or — only where the damage can be a crash's torn tail (the last
//! WAL record) — open without the damaged, unacknowledgeable record and serve exactly
//! the rest. A damaged row-group body must make reads fail, and `verify` report it.
//! Nothing may panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{small_options, vector};
use drift::{Database, DatabaseOptions, Metric, Posting};

const DIM: usize = 8;

fn options() -> DatabaseOptions {
    small_options().with_wal_segment_bytes(64 << 10).with_wal_ring_segments(4)
}

type State = BTreeMap<(u128, u64), Vec<f32>>;

fn state(db: &Database) -> drift::Result<State> {
    Ok(db
        .collection("c")?
        .export()?
        .into_iter()
        .map(|p| ((p.document_id.0, p.row_id), p.vector))
        .collect())
}

struct Golden {
    dir: tempfile::TempDir,
    full: State,
    without_last_batch: State,
    checkpoint_lsn: u64,
}

/// Builds the database: 400 rows flushed (one sealed shard of 300 rows, one open
/// shard of 100), then 60 batches of 4 rows in the WAL only (spanning segments).
fn golden() -> Golden {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    let vs: Vec<Vec<f32>> = (0..400).map(|i| vector(11, i, DIM)).collect();
    for (b, chunk) in vs.chunks(100).enumerate() {
        let ps: Vec<_> = chunk.iter().enumerate().map(|(i, v)| Posting::new((b * 100 + i) as u64, v)).collect();
        c.add(&ps).unwrap();
    }
    db.flush().unwrap();
    let checkpoint_lsn = db.stats().checkpoint_lsn;
    let mut without_last_batch = State::new();
    for b in 0..60u64 {
        if b == 59 {
            without_last_batch = state(&db).unwrap();
        }
        let vs: Vec<Vec<f32>> = (0..4).map(|i| vector(1000 + b, i, DIM)).collect();
        // Large spans of padding vectors make the records big enough to roll over.
        let big: Vec<Vec<f32>> = (0..40).map(|i| vector(5000 + b, i, DIM)).collect();
        let mut ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(10_000 + b * 10 + i as u64, v)).collect();
        ps.extend(big.iter().map(|v| Posting::new(900_000 + b, v)));
        c.add(&ps).unwrap();
    }
    let full = state(&db).unwrap();
    let stats = c.stats();
    assert!(stats.sealed_shards == 1 && stats.shards == 2, "{stats:?}");
    drop(db);
    Golden { dir, full, without_last_batch, checkpoint_lsn }
}

fn files(dir: &Path, sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Byte ranges of the live WAL chain worth damaging: segment headers and the headers
/// of the first, a middle and the last record of each segment (and its end record).
/// Returns (file, offset, len, is_last_record_of_log).
fn wal_targets(dir: &Path, checkpoint_lsn: u64) -> Vec<(PathBuf, usize, usize, bool)> {
    let mut segments: Vec<(u64, u64, PathBuf, Vec<u8>)> = files(dir, "wal")
        .into_iter()
        .filter_map(|p| {
            let b = std::fs::read(&p).unwrap();
            (b[..8] == *b"DRFTWALS").then(|| (u64_at(&b, 16), u64_at(&b, 24), p, b))
        })
        .collect();
    segments.sort_by_key(|s| s.0);
    let start = segments.iter().rposition(|s| s.1 <= checkpoint_lsn + 1).expect("chain start");
    let chain = &segments[start..];
    assert!(chain.len() >= 2, "the golden WAL must span segments");
    let mut targets = Vec::new();
    for (si, (_, first_lsn, path, bytes)) in chain.iter().enumerate() {
        targets.push((path.clone(), 0, 64, false));
        let mut offsets = Vec::new();
        let mut at = 64usize;
        let mut lsn = *first_lsn;
        loop {
            let kind = bytes[at + 24];
            if kind == 4 {
                offsets.push((at, false));
                break;
            }
            if !(1..=3).contains(&kind) || u64_at(bytes, at + 8) != lsn {
                break;
            }
            offsets.push((at, false));
            at += (32 + u32_at(bytes, at + 4) as usize).div_ceil(8) * 8;
            lsn += 1;
        }
        let last_segment = si == chain.len() - 1;
        if last_segment
            && let Some(l) = offsets.last_mut() {
                l.1 = true;
            }
        let picks = [0, offsets.len() / 2, offsets.len().saturating_sub(1)];
        let mut seen = Vec::new();
        for p in picks {
            if let Some(&(off, last)) = offsets.get(p)
                && !seen.contains(&off) {
                    seen.push(off);
                    targets.push((path.clone(), off, 32, last));
                }
        }
    }
    targets
}

/// Header and trailer ranges of shard files and the manifest.
fn structure_targets(dir: &Path) -> Vec<(PathBuf, usize, usize)> {
    let mut targets = Vec::new();
    let manifest = dir.join("MANIFEST");
    let len = std::fs::metadata(&manifest).unwrap().len() as usize;
    targets.push((manifest, 0, len));
    for shard in files(dir, "shards") {
        let b = std::fs::read(&shard).unwrap();
        targets.push((shard.clone(), 0, 64));
        targets.push((shard.clone(), 64, 64));
        if b[b.len() - 64..b.len() - 56] == *b"DRFTFOOT" {
            let index = u64_at(&b, b.len() - 64 + 16) as usize;
            targets.push((shard.clone(), b.len() - 64, 64));
            targets.push((shard.clone(), index, 32));
        }
    }
    targets
}

fn flip(path: &Path, offset: usize, bit: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[offset] ^= 1 << bit;
    std::fs::write(path, b).unwrap();
}

/// Opens the damaged database and checks the outcome; returns true if it opened.
fn check_open(g: &Golden, what: &str, torn_tail_possible: bool) -> bool {
    match Database::open(g.dir.path(), options()) {
        Err(e) => {
            assert!(e.is_corruption(), "{what}: expected a corruption error, got {e}");
            let text = e.to_string();
            assert!(text.contains(".wal") || text.contains(".shard") || text.contains("MANIFEST"), "{what}: error names no file: {text}");
            false
        }
        Ok(db) => {
            let s = state(&db).unwrap_or_else(|e| panic!("{what}: opened but reads fail: {e}"));
            assert!(torn_tail_possible, "{what}: damage went undetected");
            assert!(s == g.without_last_batch, "{what}: served data other than the log without its torn tail");
            true
        }
    }
}

#[test]
fn damaged_files_are_detected_reported_and_never_served() {
    let g = golden();
    let dir = g.dir.path();
    {
        let db = Database::open(dir, options()).unwrap();
        assert!(state(&db).unwrap() == g.full, "the intact golden database reads back whole");
    }
    let mut flips = 0;
    for (path, offset, len) in structure_targets(dir) {
        let original = std::fs::read(&path).unwrap();
        for at in offset..offset + len {
            for bit in 0..8 {
                flip(&path, at, bit);
                check_open(&g, &format!("{} byte {at} bit {bit}", path.display()), false);
                std::fs::write(&path, &original).unwrap();
                flips += 1;
            }
        }
    }
    let mut torn = 0;
    for (path, offset, len, last) in wal_targets(dir, g.checkpoint_lsn) {
        let original = std::fs::read(&path).unwrap();
        for at in offset..offset + len {
            for bit in 0..8 {
                flip(&path, at, bit);
                if check_open(&g, &format!("{} byte {at} bit {bit}", path.display()), last) {
                    torn += 1;
                }
                // Opening may have closed the damaged tail; restore every WAL file.
                std::fs::write(&path, &original).unwrap();
                flips += 1;
            }
        }
        restore_wal(dir, &g);
    }
    println!("{flips} single-bit flips detected ({torn} read as a torn tail of the last record)");
}

/// Reopening after a torn-tail recovery writes a segment-end record and may start a
/// new segment; put the WAL back exactly as golden by rebuilding it from a snapshot.
fn restore_wal(dir: &Path, g: &Golden) {
    let db = Database::open(dir, options()).expect("golden WAL restored");
    assert!(state(&db).unwrap() == g.full);
}

#[test]
fn damaged_row_group_bodies_fail_reads_and_verify() {
    let g = golden();
    let dir = g.dir.path();
    for shard in files(dir, "shards") {
        let original = std::fs::read(&shard).unwrap();
        let body_start = 128;
        let sealed = original[original.len() - 64..original.len() - 56] == *b"DRFTFOOT";
        let body_end = if sealed { u64_at(&original, original.len() - 64 + 16) as usize } else { original.len() };
        let step = ((body_end - body_start) / 25).max(1);
        for at in (body_start..body_end).step_by(step) {
            flip(&shard, at, (at % 8) as u8);
            match Database::open(dir, options()) {
                Err(e) => assert!(e.is_corruption(), "{e}"),
                Ok(db) => {
                    let problems = db.verify().unwrap();
                    let read = state(&db);
                    // Padding bytes between columns are covered by the body CRC too.
                    assert!(!problems.is_empty(), "{} byte {at}: verify missed the damage", shard.display());
                    // One flipped bit: verify names the damaged byte, not the row group.
                    assert!(
                        problems.iter().any(|p| matches!(&p.error, drift::Error::Corrupt { offset, .. } if *offset == at as u64)),
                        "{} byte {at}: verify did not name the damaged byte: {problems:?}",
                        shard.display()
                    );
                    let err = read.expect_err("a damaged body must not be served");
                    assert!(err.is_corruption(), "{err}");
                }
            }
            std::fs::write(&shard, &original).unwrap();
        }
    }
}

#[test]
fn truncated_files_are_detected() {
    let g = golden();
    let dir = g.dir.path();
    let mut all = vec![dir.join("MANIFEST")];
    all.extend(files(dir, "shards"));
    all.extend(files(dir, "wal"));
    for path in all {
        let original = std::fs::read(&path).unwrap();
        let len = original.len();
        let mut cuts: Vec<usize> = (0..40).map(|i| i * len / 40).collect();
        cuts.extend([1, 63, 64, 65, len - 1]);
        for cut in cuts {
            std::fs::write(&path, &original[..cut]).unwrap();
            match Database::open(dir, options()) {
                Err(e) => assert!(e.is_corruption(), "{} cut at {cut}: {e}", path.display()),
                Ok(db) => {
                    // Only a segment that is not part of the live log may be cut
                    // without consequence: the data must then be whole.
                    let s = state(&db).unwrap();
                    assert!(s == g.full, "{} cut at {cut}: opened with different data", path.display());
                }
            }
            std::fs::write(&path, &original).unwrap();
        }
    }
}
