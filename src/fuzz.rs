//! Fuzz targets: every decoder of bytes drift did not write itself in this process
//! (files on disk, objects in a bucket, filter text), each a function of arbitrary bytes that must
//! return — an error is fine — without panicking, reading out of bounds or allocating
//! from an unchecked length. Where a decoder sits behind a checksum, the target also
//! re-frames the input with valid checksums, so the fuzzer reaches the code a CRC
//! would otherwise shield (a checksum is not a validation). A decoded value is
//! re-encoded and decoded again and must come back equal: no wrong data passes as valid.
//!
//! Run by `tests/integration/fuzz_decoders.rs` (a seeded mutation fuzzer on stable, for
//! a fixed time in the test command) and by the libFuzzer targets in `fuzz/`
//! (coverage-guided, `cargo +nightly fuzz run <target>`). Unstable.

use std::path::Path;

use crate::storage::manifest::{Manifest, ShardRecord};
use crate::storage::shard_file::{ShardHeader, ShardReader};
use crate::tier::envelope;
use crate::wal::op::WalOp;
use crate::wal::record::{self, RecordKind};
use crate::wal::segment::{self, SegmentHeader};

/// The names of the targets, for [`run`].
pub const TARGETS: &[&str] = &["manifest", "wal_segment", "wal_payload", "shard_file", "tier_objects", "filter"];

/// Runs target `name` on `data`. Panics for an unknown name.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "manifest" => manifest(data),
        "wal_segment" => wal_segment(data),
        "wal_payload" => wal_payload(data),
        "shard_file" => shard_file(data),
        "tier_objects" => tier_objects(data),
        "filter" => filter(data),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// `MANIFEST` files: as they are, and re-framed with valid checksums.
pub fn manifest(data: &[u8]) {
    let path = Path::new("MANIFEST");
    let _ = Manifest::decode(data, path);
    let mut framed = data.to_vec();
    Manifest::reframe(&mut framed);
    if let Ok(m) = Manifest::decode(&framed, path) {
        let again = Manifest::decode(&m.encode(), path).expect("a decoded manifest re-encodes to a valid one");
        assert_eq!(again, m, "manifest round trip");
    }
}

/// A WAL segment file: its header, then every record from the first, each payload
/// decoded (records as they are; a CRC-valid record is what replay trusts).
pub fn wal_segment(data: &[u8]) {
    let path = Path::new("segment-000000.wal");
    let Some(head) = data.get(..segment::HEADER_LEN) else { return };
    let head: &[u8; segment::HEADER_LEN] = head.try_into().expect("length checked");
    let sequence = match SegmentHeader::decode(head, path, data.len() as u64) {
        Ok(Some(h)) => h.sequence,
        _ => SegmentHeader::sequence_hint(head, path).unwrap_or(0),
    };
    let mut offset = segment::HEADER_LEN as u64;
    while let Some(r) = record::decode(data, offset, sequence) {
        assert!(r.next_offset > offset, "a record must advance");
        if !matches!(r.kind, RecordKind::SegmentEnd | RecordKind::CleanClose) {
            let _ = WalOp::decode(r.kind, r.payload);
        }
        offset = r.next_offset;
    }
    let _ = record::torn_len(data, offset, 1);
}

/// A WAL record payload behind its CRC: the first byte picks the kind.
pub fn wal_payload(data: &[u8]) {
    let Some((&k, payload)) = data.split_first() else { return };
    let kind = [RecordKind::Add, RecordKind::Upsert, RecordKind::Remove][k as usize % 3];
    if let Ok(op) = WalOp::decode(kind, payload) {
        let mut out = Vec::new();
        op.encode_payload(&mut out);
        let again = WalOp::decode(kind, &out).expect("a decoded WAL payload re-encodes to a valid one");
        let mut out_again = Vec::new();
        again.encode_payload(&mut out_again);
        assert_eq!(out_again, out, "WAL payload round trip");
    }
}

/// A shard file, opened (header, footer, row-group headers, bloom filter) with the
/// manifest's expectations taken from the file itself, then verified and read.
pub fn shard_file(data: &[u8]) {
    thread_local! {
        static PATH: std::path::PathBuf = std::env::temp_dir()
            .join(format!("drift-fuzz-{}-{:?}.shard", std::process::id(), std::thread::current().id()).replace(['(', ')'], ""));
    }
    PATH.with(|path| {
        let path = path.as_path();
        std::fs::write(path, data).expect("write the fuzz input");
        let Some(header) = data.get(..crate::storage::shard_file::HEADER_LEN) else { return };
        let Ok(identity) = ShardHeader::decode(header, path) else { return };
        let sealed = data.len() >= 64 && data[data.len() - 64..data.len() - 56] == *b"DRFTFOOT";
        let mut expect = ShardRecord {
            shard_id: identity.shard_id,
            committed_len: data.len() as u64,
            row_count: 0,
            row_group_count: 0,
            centroid_id: identity.centroid_id,
            sealed,
        };
        let fs = crate::io::RealFileSystem;
        let mut opened = ShardReader::open(&fs, path, &expect, &identity, crate::VectorReads::Mapped);
        // The counts live in the manifest; take them from the file's own claim and retry.
        if let Err(crate::Error::Corrupt { reason, .. }) = &opened {
            let numbers: Vec<u64> = reason.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
            if reason.starts_with("shard holds") && numbers.len() >= 2 {
                expect.row_group_count = numbers[0] as u32;
                expect.row_count = numbers[1];
                opened = ShardReader::open(&fs, path, &expect, &identity, crate::VectorReads::Mapped);
            }
        }
        let Ok(reader) = opened else { return };
        let problems = reader.verify();
        if let Ok(view) = reader.mapped() {
            for g in 0..reader.row_groups.len() {
                if let Ok(columns) = reader.row_group(&view, g) {
                    for r in 0..columns.rows {
                        let _ = columns.document_id(r);
                        let _ = columns.checked_vector(r, path);
                    }
                }
            }
        }
        let _ = reader.may_contain(1);
        drop(problems);
    });
}

/// The S3 tier's objects and local file: `POINTER`, manifest generations, `TIER` —
/// as they are and with their header checksums re-sealed.
pub fn tier_objects(data: &[u8]) {
    let _ = envelope::Pointer::decode(data, "POINTER");
    let _ = envelope::decode_generation(data, "manifests/g");
    let _ = envelope::decode_owner(data, Path::new("TIER"));
    let mut sealed = data.to_vec();
    if sealed.len() >= 64 {
        crate::format::seal_header(&mut sealed[..64]);
        if let Ok(p) = envelope::Pointer::decode(&sealed, "POINTER") {
            let _ = p.generation_key();
        }
        let _ = envelope::decode_owner(&sealed, Path::new("TIER"));
        if let Ok(g) = envelope::decode_generation(&sealed, "manifests/g") {
            let _ = Manifest::decode(g.manifest, Path::new("manifests/g"));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = envelope::parse_shard_key(text);
        let _ = envelope::parse_generation_key(text);
    }
}

/// Filter text: parsed, and whatever parses prints to a text that parses back equal.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = crate::filter::Filter::parse(text) {
        let printed = f.to_string();
        let again = crate::filter::Filter::parse(&printed).expect("a printed filter parses");
        assert_eq!(again, f, "filter round trip through {printed:?}");
    }
}

/// Seeds the fuzzers cannot take from a database's files: WAL payloads of each kind
/// (with the kind byte [`wal_payload`] reads first) and the S3 tier's objects.
pub fn synthetic_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use crate::wal::op::PostingBatch;
    let batch = |document: u128| PostingBatch {
        collection_id: 1,
        row_id_base: 7,
        dimension: 3,
        document_ids: vec![document, document],
        spans: vec![[0, 4], [4, 4]],
        vectors: vec![0.5, -1.0, 2.0, 3.0, 0.0, 1.0],
        attributes: Vec::new(),
    };
    let mut out = Vec::new();
    for (kind, op) in [
        (0u8, WalOp::Add(batch(9))),
        (1, WalOp::Upsert { document_id: 9, batch: batch(9) }),
        (2, WalOp::Remove { collection_id: 1, document_ids: vec![3, 9, u128::MAX] }),
    ] {
        let mut payload = vec![kind];
        op.encode_payload(&mut payload);
        out.push(("wal_payload", payload));
    }
    let manifest = Manifest { generation: 3, ..Manifest::empty() }.encode();
    out.push(("tier_objects", envelope::Pointer::new(4, 0x0123_4567_89ab_cdef).encode()));
    out.push(("tier_objects", envelope::encode_generation(4, 0x0123_4567_89ab_cdef, &manifest, &[(1, 2, 0x0123_4567_89ab_cdef), (1, 3, 0)])));
    out.push(("tier_objects", envelope::encode_owner(envelope::Owner { writer_id: 5, predecessor: 6 })));
    for text in [
        "section == 'net' and installed_size < 500",
        "arch in ('amd64', 'all') or not (tags contains 'x11' and size >= 1.5e3)",
        "built is not null and flag == true and t > -9223372036854775808",
    ] {
        out.push(("filter", text.as_bytes().to_vec()));
    }
    out
}
