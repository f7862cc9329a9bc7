//! `VectorReads::Pread`: a probed search that copies the vectors it re-ranks out of the
//! page cache returns exactly what the mapped re-rank returns, refuses a damaged vector
//! the same way, and leaves the vector columns out of the process's resident set.

use std::path::Path;

use crate::common::Rng;
use drift::{Collection, Database, DatabaseOptions, Error, Metric, Posting, SearchOptions, VectorReads};

const DIM: usize = 384;
const ROWS: usize = 2_000;

fn options(vector_reads: VectorReads) -> DatabaseOptions {
    DatabaseOptions::default().with_wal_segment_bytes(4 << 20).with_background_threads(false).with_index_min_rows(400).with_index_shard_rows(64).with_vector_reads(vector_reads)
}

/// Clustered 384-d rows (so the 1-bit codes and the re-rank both have work to do).
fn rows() -> Vec<Vec<f32>> {
    let mut rng = Rng::new(5);
    let centres: Vec<Vec<f32>> = (0..16).map(|_| (0..DIM).map(|_| rng.f32() * 2.0 - 1.0).collect()).collect();
    (0..ROWS).map(|i| centres[i % 16].iter().map(|x| x + (rng.f32() - 0.5) * 0.6).collect()).collect()
}

fn queries(rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(9);
    (0..60).map(|q| rows[q * 31 % rows.len()].iter().map(|x| x + (rng.f32() - 0.5) * 0.2).collect()).collect()
}

/// Writes `rows` as documents 0, 1, … into collection "c" and flushes them into an
/// indexed collection.
fn build(dir: &Path, rows: &[Vec<f32>]) {
    let db = Database::open(dir, options(VectorReads::Mapped)).unwrap();
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    for (at, chunk) in rows.chunks(200).enumerate() {
        let postings: Vec<_> = chunk.iter().enumerate().map(|(i, v)| Posting::new((at * 200 + i) as u64, v)).collect();
        c.add(&postings).unwrap();
    }
    db.flush().unwrap();
    assert!(c.stats().centroids > 10, "indexed into {} lists", c.stats().centroids);
}

/// (document, distance bits) of every hit of every query.
fn answers(c: &Collection, queries: &[Vec<f32>], options: &SearchOptions) -> Vec<Vec<(u128, u32)>> {
    queries
        .iter()
        .map(|q| c.search(q, options).unwrap().iter().map(|h| (h.document_id.0, h.distance.to_bits())).collect())
        .collect()
}

#[test]
fn pread_reads_return_exactly_the_hits_of_mapped_reads() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows();
    let queries = queries(&rows);
    build(dir.path(), &rows);
    let probes = [SearchOptions::new(10).with_nprobe(4), SearchOptions::new(10).with_nprobe(12).with_probe_patience(3), SearchOptions::new(25)];
    let mut by_mode = Vec::new();
    for mode in [VectorReads::Mapped, VectorReads::Pread] {
        let db = Database::open(dir.path(), options(mode)).unwrap();
        let c = db.collection("c").unwrap();
        let per_probe: Vec<_> = probes.iter().map(|p| answers(&c, &queries, p)).collect();
        let flat: Vec<f32> = queries.concat();
        let batch = c.search_batch(&flat, &probes[0]).unwrap();
        let batch: Vec<Vec<(u128, u32)>> =
            batch.iter().map(|hits| hits.iter().map(|h| (h.document_id.0, h.distance.to_bits())).collect()).collect();
        assert_eq!(batch, per_probe[0], "{mode:?}: a batch answers as single searches do");
        assert!(per_probe.iter().flatten().all(|hits| !hits.is_empty()));
        by_mode.push(per_probe);
    }
    assert_eq!(by_mode[0], by_mode[1], "the same hits, in the same order, with the same distance bits");
}

#[test]
fn a_damaged_vector_is_refused_by_a_pread_re_rank() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows();
    build(dir.path(), &rows);
    // Find row 7's stored f32 bytes in its shard file and flip one bit in the middle.
    let needle: Vec<u8> = rows[7].iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut damaged = None;
    for entry in std::fs::read_dir(dir.path().join("shards")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle.as_slice()) {
            bytes[at + DIM * 2] ^= 0x10;
            std::fs::write(&path, &bytes).unwrap();
            damaged = Some((path, (at + DIM * 2) as u64));
            break;
        }
    }
    let (damaged, byte) = damaged.expect("row 7's vector is stored in a shard file");
    for mode in [VectorReads::Mapped, VectorReads::Pread] {
        let db = Database::open(dir.path(), options(mode)).unwrap();
        let c = db.collection("c").unwrap();
        match c.search(&rows[7], &SearchOptions::new(10)) {
            // One flipped bit: the error names the damaged byte itself.
            Err(Error::Corrupt { file, offset, reason }) => {
                assert_eq!(file, damaged, "{mode:?}");
                assert_eq!(offset, byte, "{mode:?}: {reason}");
                assert!(reason.contains("bit 4") && reason.contains("vector"), "{mode:?}: {reason}");
            }
            other => panic!("{mode:?}: a search re-ranking the damaged vector returned {other:?}"),
        }
        // A query whose re-rank never reaches that vector is still answered.
        let far: Vec<f32> = rows[8].iter().map(|x| -x).collect();
        assert!(c.search(&far, &SearchOptions::new(3).with_nprobe(1)).is_ok(), "{mode:?}");
    }
}

/// Resident and mapped bytes of this process's mappings of files under `dir`, from
/// `/proc/self/smaps` (a page-table walk, exact at the time of reading).
fn mapped_bytes_under(dir: &Path) -> Option<(u64, u64)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let dir = dir.to_str()?;
    let (mut resident, mut size, mut inside) = (0u64, 0u64, false);
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-') {
            inside = line.contains(dir);
        } else if inside && first == "Rss:" {
            resident += fields.next()?.parse::<u64>().ok()? * 1024;
        } else if inside && first == "Size:" {
            size += fields.next()?.parse::<u64>().ok()? * 1024;
        }
    }
    Some((resident, size))
}

#[test]
fn pread_reads_keep_the_vector_columns_out_of_the_resident_set() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows();
    let queries = queries(&rows);
    build(dir.path(), &rows);
    let shards = dir.path().join("shards");
    let mut resident_share = Vec::new();
    for mode in [VectorReads::Mapped, VectorReads::Pread] {
        let db = Database::open(dir.path(), options(mode)).unwrap();
        let c = db.collection("c").unwrap();
        // Every list probed and many rows re-ranked: every hot section is read.
        let lists = c.stats().centroids;
        for q in &queries {
            assert_eq!(c.search(q, &SearchOptions::new(10).with_nprobe(lists).with_rerank_factor(8)).unwrap().len(), 10);
        }
        let Some((resident, size)) = mapped_bytes_under(&shards) else {
            eprintln!("skipped: /proc/self/smaps is not readable here");
            return;
        };
        assert!(size > (ROWS * DIM * 4) as u64, "{mode:?}: {size} bytes of shard files mapped");
        resident_share.push(resident as f64 / size as f64);
        drop(c);
        db.close().unwrap();
    }
    eprintln!("resident share of the mapped shard bytes: mapped reads {:.3}, pread {:.3}", resident_share[0], resident_share[1]);
    // 384-d rows: 1-bit and SQ4 codes, ids and CRCs are 312 of every 1,848 bytes (17%;
    // measured 20% with the pages the columns share); the rest is the vector column a
    // pread re-rank never maps.
    assert!(resident_share[1] < 0.25, "pread: {:.0}% of the mapped shard bytes resident", 100.0 * resident_share[1]);
    assert!(
        resident_share[1] < resident_share[0],
        "pread {:.0}% against mapped {:.0}% resident",
        100.0 * resident_share[1],
        100.0 * resident_share[0]
    );
}
