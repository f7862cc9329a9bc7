//! Soak: writers, readers, maintenance and checkpoints running together in a child
//! process that is killed with SIGKILL (or closes cleanly) every few seconds, against
//! a model. Each writer owns its documents and logs every operation before (`B`) and
//! after (`A`) it is acknowledged; after each cycle the parent opens the database and
//! requires: the open succeeds, `verify_path` is healthy, every acknowledged operation
//! is there, the one in flight per writer is there whole or not at all, and the newest
//! checkpoint opens and verifies. `DRIFT_SOAK_SECONDS` sets the length (default 60; the
//! long run is 1800).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Rng, small_options, vector};
use drift::{Database, DocumentId, Metric, Posting, SearchOptions};

const CHILD_ENV: &str = "DRIFT_SOAK_CHILD";
const DIM: usize = 8;
const WRITERS: u64 = 3;

/// Document id → postings.
type State = BTreeMap<u64, usize>;

/// One logged operation of a writer.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add(u64),
    Upsert(u64, usize),
    Remove(u64),
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        let p: Vec<&str> = s.split(' ').collect();
        let n = |i: usize| p.get(i).and_then(|x| x.parse::<u64>().ok());
        match p[0] {
            "add" => Some(Op::Add(n(1)?)),
            "upsert" => Some(Op::Upsert(n(1)?, n(2)? as usize)),
            "remove" => Some(Op::Remove(n(1)?)),
            _ => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Op::Add(id) => format!("add {id}"),
            Op::Upsert(id, n) => format!("upsert {id} {n}"),
            Op::Remove(id) => format!("remove {id}"),
        }
    }

    fn apply(&self, s: &mut State) {
        match self {
            Op::Add(id) => *s.entry(*id).or_default() += 1,
            Op::Upsert(id, n) => {
                s.insert(*id, *n);
            }
            Op::Remove(id) => {
                s.remove(id);
            }
        }
    }

    fn document(&self) -> u64 {
        match self {
            Op::Add(id) | Op::Upsert(id, _) | Op::Remove(id) => *id,
        }
    }
}

fn options() -> drift::DatabaseOptions {
    small_options().with_background_threads(true).with_index_min_rows(300).with_index_shard_rows(150)
}

/// Child: runs the load on `dir` for cycle `cycle` until killed (or, on even cycles,
/// closes cleanly after a while).
#[test]
fn soak_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (dir, cycle) = spec.split_once('|').unwrap();
    let cycle: u64 = cycle.parse().unwrap();
    let dir = Path::new(dir);
    let db = Arc::new(Database::open(dir.join("db"), options()).unwrap());
    let c = db.collection("c").or_else(|_| db.create_collection("c", DIM, Metric::L2)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (c, stop, dir) = (c.clone(), stop.clone(), dir.to_owned());
        threads.push(std::thread::spawn(move || {
            let mut log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("log-{cycle}-{w}"))).unwrap();
            let mut rng = Rng::new(cycle * 100 + w);
            let base = cycle * 10_000_000 + w * 1_000_000;
            let mut next = 0u64;
            // A bounded number of operations per cycle keeps a long soak's database
            // (and the model) from growing without end; the parent drops old cycles.
            for _ in 0..1500 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let op = match rng.below(10) {
                    0..=5 => {
                        next += 1;
                        Op::Add(base + next)
                    }
                    6 | 7 if next > 0 => Op::Upsert(base + 1 + rng.below(next), 1 + rng.below(3) as usize),
                    _ if next > 0 => Op::Remove(base + 1 + rng.below(next)),
                    _ => continue,
                };
                // One write per line, so a kill leaves whole lines (or an unfinished last one).
                log.write_all(format!("B {}\n", op.text()).as_bytes()).unwrap();
                let id = op.document();
                match &op {
                    Op::Add(_) => {
                        c.add(&[Posting::new(id, &vector(id, 0, DIM))]).unwrap();
                    }
                    Op::Upsert(_, n) => {
                        let vs: Vec<Vec<f32>> = (0..*n).map(|i| vector(id, i as u64 + 1, DIM)).collect();
                        let ps: Vec<_> = vs.iter().enumerate().map(|(i, v)| Posting::new(id, v).with_span(i as u32, 1)).collect();
                        c.upsert(DocumentId::from(id), &ps).unwrap();
                    }
                    Op::Remove(_) => c.remove(&[DocumentId::from(id)]).unwrap(),
                };
                log.write_all(b"A\n").unwrap();
            }
        }));
    }
    for r in 0..2 {
        let (c, stop) = (c.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng::new(r);
            while !stop.load(Ordering::Relaxed) {
                let q = vector(rng.below(1 << 20), 0, DIM);
                let hits = c.search(&q, &SearchOptions::new(10)).unwrap();
                assert!(hits.len() <= 10 && hits.windows(2).all(|h| h[0].distance <= h[1].distance), "{hits:?}");
                assert!(hits.iter().all(|h| h.distance.is_finite()));
            }
        }));
    }
    {
        let (db, c, stop, dir) = (db.clone(), c.clone(), stop.clone(), dir.to_owned());
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(300));
                db.maintain(Duration::from_millis(100)).unwrap();
                if n % 3 == 0 {
                    c.compact().unwrap();
                }
                if n % 4 == 1 {
                    db.checkpoint(dir.join(format!("ckpt-{cycle}-{n}"))).unwrap();
                }
                n += 1;
            }
        }));
    }
    if cycle.is_multiple_of(2) {
        std::thread::sleep(Duration::from_millis(2500));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        drop(c);
        Arc::try_unwrap(db).ok().unwrap().close().unwrap();
        println!("closed");
    } else {
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// The writers' logs of `cycle`: acknowledged operations, and the one in flight.
fn read_logs(dir: &Path, cycle: u64) -> Vec<(Vec<Op>, Option<Op>)> {
    (0..WRITERS)
        .map(|w| {
            let text = std::fs::read_to_string(dir.join(format!("log-{cycle}-{w}"))).unwrap_or_default();
            let (mut acked, mut pending) = (Vec::new(), None);
            for line in text.split_inclusive('\n') {
                let whole = line.ends_with('\n');
                let line = line.trim_end_matches('\n');
                if let Some(op) = line.strip_prefix("B ") {
                    // An unfinished last line was cut by the kill before its operation began.
                    pending = Op::parse(op);
                    assert!(pending.is_some() || !whole, "bad log line {line:?}");
                } else if line == "A" {
                    acked.push(pending.take().expect("an A follows its B"));
                } else {
                    assert!(!whole, "bad log line {line:?}");
                }
            }
            (acked, pending)
        })
        .collect()
}

fn state(db: &Database) -> State {
    let Ok(c) = db.collection("c") else { return State::new() };
    let mut s = State::new();
    for p in c.export().unwrap() {
        *s.entry(p.document_id.0 as u64).or_default() += 1;
    }
    s
}

#[test]
fn soak_with_kills_matches_the_model() {
    let seconds: u64 = std::env::var("DRIFT_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(99);
    let mut model = State::new();
    let started = Instant::now();
    let (mut cycles, mut kills, mut acked_ops) = (0u64, 0u64, 0usize);
    while started.elapsed() < Duration::from_secs(seconds) {
        let cycle = cycles;
        let mut child = Command::new(&exe)
            .args(["--exact", "soak::soak_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}|{cycle}", dir.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if !cycle.is_multiple_of(2) {
            std::thread::sleep(Duration::from_millis(800 + rng.below(2500)));
            child.kill().unwrap();
            kills += 1;
        }
        let out = child.wait_with_output().unwrap();
        if cycle.is_multiple_of(2) {
            assert!(out.status.success(), "cycle {cycle}: the child failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        // Everything acknowledged is there; each writer's operation in flight is
        // there whole or not at all.
        let db = Database::open(dir.path().join("db"), options().with_background_threads(false))
            .unwrap_or_else(|e| panic!("cycle {cycle}: open after the child failed: {e}"));
        let actual = state(&db);
        let logs = read_logs(dir.path(), cycle);
        for (acked, _) in &logs {
            acked_ops += acked.len();
            for op in acked {
                op.apply(&mut model);
            }
        }
        for (w, (_, pending)) in logs.iter().enumerate() {
            let range = cycle * 10_000_000 + w as u64 * 1_000_000..cycle * 10_000_000 + (w as u64 + 1) * 1_000_000;
            let mine = |s: &State| s.range(range.clone()).map(|(k, v)| (*k, *v)).collect::<Vec<_>>();
            let without = mine(&model);
            let mut with = model.clone();
            if let Some(op) = pending {
                op.apply(&mut with);
            }
            let got = mine(&actual);
            assert!(
                got == without || got == mine(&with),
                "cycle {cycle} writer {w}: the state differs from the model (in flight: {pending:?})"
            );
        }
        let earlier: Vec<_> = actual.range(..cycle * 10_000_000).map(|(k, v)| (*k, *v)).collect();
        // (the model holds only documents of cycles not yet dropped)
        let expected: Vec<_> = model.range(..cycle * 10_000_000).map(|(k, v)| (*k, *v)).collect();
        assert_eq!(earlier, expected, "cycle {cycle}: documents of earlier cycles changed");
        model = actual;
        // Documents of cycles before the last two go, so a long soak stays bounded.
        if cycle >= 2 {
            let old: Vec<DocumentId> = model.range(..(cycle - 1) * 10_000_000).map(|(k, _)| DocumentId::from(*k)).collect();
            let c = db.collection("c").unwrap();
            for chunk in old.chunks(1000) {
                c.remove(chunk).unwrap();
            }
            model.retain(|k, _| *k >= (cycle - 1) * 10_000_000);
            assert_eq!(state(&db), model, "cycle {cycle}: removing old cycles");
        }
        db.close().unwrap();
        let report = drift::verify_path(dir.path().join("db")).unwrap();
        assert!(report.is_healthy(), "cycle {cycle}: verify after recovery: {:?}", report.problems);
        // The newest checkpoint whose MANIFEST was written opens and verifies.
        let newest = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("ckpt-{cycle}-")) && p.join("MANIFEST").exists())
            .max();
        if let Some(ckpt) = newest {
            let report = drift::verify_path(&ckpt).unwrap();
            assert!(report.is_healthy(), "cycle {cycle}: checkpoint {}: {:?}", ckpt.display(), report.problems);
            Database::open(&ckpt, small_options()).unwrap_or_else(|e| panic!("cycle {cycle}: checkpoint {} does not open: {e}", ckpt.display()));
        }
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("ckpt-") {
                std::fs::remove_dir_all(p).unwrap();
            }
        }
        cycles += 1;
    }
    println!(
        "soak: {:.0} s, {cycles} cycles ({kills} killed, {} closed), {acked_ops} acknowledged operations, {} documents, 0 mismatches",
        started.elapsed().as_secs_f64(),
        cycles - kills,
        model.len()
    );
}
