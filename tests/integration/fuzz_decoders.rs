//! The decoders of untrusted bytes under a seeded mutation fuzzer (stable Rust, no
//! coverage guidance): seeds are real files of a small database (manifest, WAL
//! segments, shard files) and the S3 tier's objects; each round mutates a seed (bit
//! flips, interesting bytes and integers, truncation, extension, splices) and runs the
//! target from `drift::fuzz`, which must return without panicking (and round-trip
//! whatever it accepts). Inputs that once failed are kept under `fuzz/crashers/` and
//! replayed first. `DRIFT_FUZZ_SECONDS` sets the time per target (default 2);
//! `DRIFT_FUZZ_EXECS=N` runs N mutated inputs per target instead, whatever it takes;
//! `DRIFT_WRITE_FUZZ_CORPUS=1` writes the seeds to `fuzz/corpus/` (libFuzzer's seeds).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Rng, small_options, vector};
use drift::{Attributes, Database, DocumentId, Metric, Posting};

/// Files of a small database, grouped by the target that decodes them.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), small_options().with_index_min_rows(150).with_index_shard_rows(80)).unwrap();
        // Attributes of every type, so WAL records, row groups and the manifest carry
        // attribute sections and a schema.
        let schema = drift::AttributeDef::parse_list("lang:string, size:u64, delta:i64, score:f64, free:bool, tags:tags, at:timestamp").unwrap();
        let c = db.create_collection_with_schema("c", 8, Metric::Cosine, &schema).unwrap();
        let other = db.create_collection("other", 3, Metric::L2).unwrap();
        let values: Vec<Attributes> = (0..20u64)
            .map(|i| {
                let text = format!("lang={}\tsize={i}\tdelta=-{i}\tscore={}.5\tfree={}\ttags=t{},u\tat={}", ["en", "fr"][i as usize % 2], i, i % 3 == 0, i % 4, i * 1000);
                if i % 5 == 4 { Attributes::new() } else { Attributes::parse_text(&text, &schema).unwrap() }
            })
            .collect();
        for b in 0..12u64 {
            let vs: Vec<Vec<f32>> = (0..20).map(|i| vector(b * 20 + i, 0, 8)).collect();
            let ps: Vec<_> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| Posting::new(b * 20 + i as u64, v).with_span(i as u32, 3).with_attributes(&values[i]))
                .collect();
            c.add(&ps).unwrap();
            if b % 4 == 3 {
                c.remove(&[DocumentId::from(b * 20)]).unwrap();
                db.flush().unwrap();
            }
        }
        other.add(&[Posting::new(1u64, &[1.0, 2.0, 3.0])]).unwrap();
        db.maintain(Duration::from_millis(100)).unwrap();
        c.add(&[Posting::new(9999u64, &vector(9999, 0, 8))]).unwrap();
    }
    let mut out = vec![("manifest", std::fs::read(dir.path().join("MANIFEST")).unwrap())];
    for (sub, target) in [("wal", "wal_segment"), ("shards", "shard_file")] {
        for entry in std::fs::read_dir(dir.path().join(sub)).unwrap() {
            out.push((target, std::fs::read(entry.unwrap().path()).unwrap()));
        }
    }
    for (target, bytes) in drift::fuzz::synthetic_seeds() {
        out.push((target, bytes));
    }
    out
}

/// One to eight random mutations of `input`, some splicing in bytes of `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = b.len().max(1) as u64;
        let at = rng.below(len) as usize;
        match rng.below(9) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
            1 if !b.is_empty() => b[at] = rng.below(256) as u8,
            2 if !b.is_empty() => b[at] = [0u8, 0xff, 0x7f, 0x80, 1][rng.below(5) as usize],
            3 if b.len() >= 8 => {
                let at = at.min(b.len() - 8);
                let value: u64 = [0, 1, u32::MAX as u64, u64::MAX, 1 << 31, 1 << 40, b.len() as u64, rng.next_u64()][rng.below(8) as usize];
                let width = [2usize, 4, 8][rng.below(3) as usize];
                b[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
            }
            4 => b.truncate(at),
            5 => b.extend((0..rng.below(128)).map(|_| rng.below(256) as u8)),
            6 if !other.is_empty() => {
                let from = rng.below(other.len() as u64) as usize;
                let n = (rng.below(256) as usize).min(other.len() - from);
                let at = at.min(b.len());
                b.splice(at..(at + n).min(b.len()), other[from..from + n].iter().copied());
            }
            7 if !b.is_empty() => {
                let n = (rng.below(64) as usize).min(b.len() - at);
                let chunk = b[at..at + n].to_vec();
                b.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    b
}

fn crashers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashers")
}

/// Runs `target` on `data`, turning a panic into an error naming the saved input.
fn run_caught(target: &str, data: &[u8]) -> Result<(), String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| drift::fuzz::run(target, data))) {
        Ok(()) => Ok(()),
        Err(panic) => {
            let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashers");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{target}-{:08x}.bin", crc32c::crc32c(data)));
            std::fs::write(&path, data).unwrap();
            Err(format!("{target} panicked ({message:?}) on the input saved as {}", path.display()))
        }
    }
}

#[test]
fn every_decoder_survives_mutated_inputs() {
    let seconds: u64 = std::env::var("DRIFT_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let execs: Option<u64> = std::env::var("DRIFT_FUZZ_EXECS").ok().and_then(|s| s.parse().ok());
    let seeds = seeds();
    // The seed corpus of the libFuzzer targets in fuzz/ is these seeds.
    if std::env::var_os("DRIFT_WRITE_FUZZ_CORPUS").is_some() {
        for (i, (target, bytes)) in seeds.iter().enumerate() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{i:03}")), bytes).unwrap();
        }
    }
    let mut failures = Vec::new();
    // Inputs that once failed come first.
    for target in drift::fuzz::TARGETS {
        if let Ok(entries) = std::fs::read_dir(crashers_dir().join(target)) {
            for entry in entries {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                failures.extend(run_caught(target, &data).err());
            }
        }
    }
    let mut rng = Rng::new(std::env::var("DRIFT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed));
    for target in drift::fuzz::TARGETS {
        let mine: Vec<&Vec<u8>> = seeds.iter().filter(|(t, _)| t == target).map(|(_, b)| b).collect();
        assert!(!mine.is_empty(), "no seed for {target}");
        let (started, mut runs) = (Instant::now(), 0u64);
        for seed in &mine {
            failures.extend(run_caught(target, seed).err());
        }
        let more = |runs: u64| match execs {
            Some(n) => runs < n,
            None => started.elapsed() < Duration::from_secs(seconds),
        };
        while more(runs) && failures.len() < 5 {
            let seed = mine[rng.below(mine.len() as u64) as usize];
            let other = &seeds[rng.below(seeds.len() as u64) as usize].1;
            let input = mutate(&mut rng, seed, other);
            failures.extend(run_caught(target, &input).err());
            runs += 1;
        }
        println!("fuzz {target}: {runs} mutated inputs in {:.1} s", started.elapsed().as_secs_f64());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The `drift` tool's input readers, compiled into this test from the binary's source.
#[allow(dead_code)]
#[path = "../../src/bin/drift/input.rs"]
mod input;

/// Valid input files of every format the `drift` tool reads: 3 vectors of dimension 4.
fn cli_seeds() -> Vec<(input::Format, &'static str, Vec<u8>)> {
    use std::sync::Arc;
    let rows: Vec<[f32; 4]> = vec![[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.5], [9.0, 8.0, 7.0, 6.0]];
    let mut fvecs = Vec::new();
    let mut bvecs = Vec::new();
    for r in &rows {
        fvecs.extend(4i32.to_le_bytes());
        bvecs.extend(4i32.to_le_bytes());
        for x in r {
            fvecs.extend(x.to_le_bytes());
            bvecs.push(x.abs() as u8);
        }
    }
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    for r in &rows {
        for x in r {
            npy.extend(x.to_le_bytes());
        }
    }
    let text = b"1,2,3,4\n[0.5 -1 0 2.5]\n9 8 7 6\n".to_vec();
    let item = Arc::new(arrow_schema::Field::new("item", arrow_schema::DataType::Float32, false));
    let values = arrow_array::Float32Array::from(rows.iter().flatten().copied().collect::<Vec<f32>>());
    let vectors = arrow_array::FixedSizeListArray::new(item, 4, Arc::new(values), None);
    let ids = arrow_array::UInt64Array::from(vec![1u64, 2, 3]);
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        ("document_id", Arc::new(ids) as arrow_array::ArrayRef),
        ("vector", Arc::new(vectors) as arrow_array::ArrayRef),
    ])
    .unwrap();
    let mut ipc = Vec::new();
    {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut ipc, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }
    let mut parquet_bytes = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut parquet_bytes, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    use input::Format::*;
    vec![(Fvecs, "fvecs", fvecs), (Bvecs, "bvecs", bvecs), (Npy, "npy", npy), (Text, "txt", text), (Arrow, "arrow", ipc), (Parquet, "parquet", parquet_bytes)]
}

#[test]
fn every_cli_input_reader_survives_mutated_files() {
    let seconds: u64 = std::env::var("DRIFT_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let execs: Option<u64> = std::env::var("DRIFT_FUZZ_EXECS").ok().and_then(|s| s.parse().ok());
    let seeds = cli_seeds();
    let dir = tempfile::tempdir().unwrap();
    let columns = drift::arrow::ArrowColumns::default();
    let mut rng = Rng::new(0xc11);
    let mut failures = Vec::new();
    for (format, ext, seed) in &seeds {
        let path = dir.path().join(format!("input.{ext}"));
        let read = |bytes: &[u8]| -> Result<(), String> {
            std::fs::write(&path, bytes).unwrap();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                input::open_source(&path, *format, 2, &columns).and_then(|s| {
                    let dimension = s.dimension;
                    input::all_vectors(s, &columns).map(|v| (dimension, v))
                })
            }));
            match outcome {
                // No rows is for the caller to refuse (the CLI says "holds no vectors").
                Ok(Ok((dimension, v))) if if dimension == 0 { !v.is_empty() } else { v.len() % dimension != 0 } => {
                    Err(format!("{ext}: {} values read for dimension {dimension}", v.len()))
                }
                Ok(_) => Ok(()),
                Err(_) => {
                    let saved = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/fuzz-crashers/cli-{ext}-{:08x}", crc32c::crc32c(bytes)));
                    std::fs::create_dir_all(saved.parent().unwrap()).unwrap();
                    std::fs::write(&saved, bytes).unwrap();
                    Err(format!("the {ext} reader panicked on the input saved as {}", saved.display()))
                }
            }
        };
        assert!(read(seed).is_ok(), "the {ext} seed must read");
        // Files that once failed come first.
        if let Ok(entries) = std::fs::read_dir(crashers_dir().join(format!("cli_{ext}"))) {
            for entry in entries {
                failures.extend(read(&std::fs::read(entry.unwrap().path()).unwrap()).err());
            }
        }
        let (started, mut runs) = (Instant::now(), 0u64);
        let more = |runs: u64| match execs {
            Some(n) => runs < n / 100,
            None => started.elapsed() < Duration::from_secs(seconds) / 3,
        };
        while more(runs) && failures.len() < 5 {
            let other = &seeds[rng.below(seeds.len() as u64) as usize].2;
            failures.extend(read(&mutate(&mut rng, seed, other)).err());
            runs += 1;
        }
        println!("fuzz cli input {ext}: {runs} mutated files in {:.1} s", started.elapsed().as_secs_f64());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
