//! Crash safety with real processes: a child writes, the parent kills it with SIGKILL
//! at random moments, reopens, and checks every acknowledged write is there bit-exact
//! and no unacknowledged write is half-applied.
//!
//! The child logs each operation to a side file before it starts ("I n") and after it
//! is acknowledged ("K n"). After a kill, the database must equal the model of all
//! acknowledged operations, plus at most the one operation that was in flight, applied
//! whole. Operations mix adds, upserts, removes, compactions and index rebalances;
//! tiny memtables, WAL segments, shards and index lists make flushes, roll-overs,
//! recycling, sealing, the index build, splits, merges and reassignments happen
//! constantly, so kills land inside all of them. Cycles alternate between the
//! `Always` and `Never` sync policies (a process kill keeps the page cache, so even
//! `Never` must keep every acknowledged write).
//!
//! `DRIFT_CRASH_CYCLES` raises the number of cycles (default 50).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Rng, small_options, vector};
use drift::{Database, DatabaseOptions, DocumentId, Metric, Posting, SyncPolicy};

const DIM: usize = 16;
/// Postings of one `Op::Topic` document: more than a flush turns into new centroids
/// (8 × `index_shard_rows`).
const TOPIC_POSTINGS: u64 = 100;
const CHILD_ENV: &str = "DRIFT_CRASH_CHILD_DIR";
const POLICY_ENV: &str = "DRIFT_CRASH_CHILD_POLICY";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add { doc: u64 },
    /// One document of many postings in a region of its own (a new topic): the flush
    /// that writes them gives the list they land in new centroids, and rebalancing
    /// adopts their neighbourhoods.
    Topic { doc: u64 },
    Upsert { doc: u64 },
    Remove { doc: u64 },
    Compact,
    Rebalance,
}

fn op_for(n: u64) -> Op {
    if n % 100 == 62 {
        Op::Topic { doc: n }
    } else if n % 50 == 49 {
        Op::Compact
    } else if n % 50 == 24 {
        Op::Rebalance
    } else if n % 11 == 10 && n > 7 {
        Op::Remove { doc: n - 7 }
    } else if n % 5 == 4 && n > 3 {
        Op::Upsert { doc: n - 3 }
    } else {
        Op::Add { doc: n }
    }
}

type Model = BTreeMap<u128, Vec<(u32, u32, Vec<f32>)>>;

fn postings_of(op: Op, n: u64) -> Vec<(u32, u32, Vec<f32>)> {
    match op {
        Op::Add { .. } => (0..8).map(|i| (i as u32, n as u32, vector(n, i, DIM))).collect(),
        Op::Topic { .. } => (0..TOPIC_POSTINGS)
            .map(|i| {
                let mut v: Vec<f32> = vector(n, i, DIM).iter().map(|x| x * 0.1).collect();
                v[(n / 100) as usize % DIM] += 6.0;
                (i as u32, TOPIC_POSTINGS as u32, v)
            })
            .collect(),
        Op::Upsert { .. } => (0..3).map(|i| (i as u32, n as u32, vector(n, i + 100, DIM))).collect(),
        _ => Vec::new(),
    }
}

fn apply(model: &mut Model, n: u64) {
    match op_for(n) {
        op @ (Op::Add { doc } | Op::Topic { doc }) => model.entry(u128::from(doc)).or_default().extend(postings_of(op, n)),
        op @ Op::Upsert { doc } => {
            model.insert(u128::from(doc), postings_of(op, n));
        }
        Op::Remove { doc } => {
            model.remove(&u128::from(doc));
        }
        Op::Compact | Op::Rebalance => {}
    }
}

fn child_options(policy: &str) -> DatabaseOptions {
    // Index early and split often, so kills also land inside index builds, routed
    // flushes, splits, merges and reassignments (run by the background thread after
    // each flush, and by the Rebalance op).
    small_options()
        .with_sync_policy(if policy == "never" { SyncPolicy::Never } else { SyncPolicy::Always })
        .with_background_threads(true)
        .with_memtable_flush_bytes(24 << 10)
        .with_index_min_rows(200)
        .with_index_shard_rows(8)
}

/// The child's body; a no-op unless the parent started this process as a child.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let policy = std::env::var(POLICY_ENV).unwrap_or_default();
    let dir = Path::new(&dir);
    let log_path = dir.join("ops.log");
    let mut n = std::fs::read_to_string(&log_path).unwrap_or_default().lines().filter(|l| l.starts_with('I')).count() as u64;
    let db = Database::open(dir.join("db"), child_options(&policy)).expect("child open");
    let c = match db.collection("c") {
        Ok(c) => c,
        Err(_) => db.create_collection("c", DIM, Metric::L2).expect("create"),
    };
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
    loop {
        let op = op_for(n);
        log.write_all(format!("I {n}\n").as_bytes()).unwrap();
        let postings = postings_of(op, n);
        match op {
            Op::Add { doc } | Op::Topic { doc } => {
                let ps: Vec<_> = postings.iter().map(|(s, l, v)| Posting::new(doc, v).with_span(*s, *l)).collect();
                c.add(&ps).expect("add");
            }
            Op::Upsert { doc } => {
                let ps: Vec<_> = postings.iter().map(|(s, l, v)| Posting::new(doc, v).with_span(*s, *l)).collect();
                c.upsert(DocumentId::from(doc), &ps).expect("upsert");
            }
            Op::Remove { doc } => c.remove(&[DocumentId::from(doc)]).expect("remove"),
            Op::Compact => {
                c.compact().expect("compact");
            }
            Op::Rebalance => {
                c.rebalance().expect("rebalance");
            }
        }
        log.write_all(format!("K {n}\n").as_bytes()).unwrap();
        n += 1;
    }
}

fn stored(dir: &Path) -> Model {
    // The read-only check sees the directory exactly as the kill left it (before open
    // repairs anything): a crash leaves notes at most, never a problem.
    if dir.join("db/MANIFEST").exists() {
        let report = drift::verify_path(dir.join("db")).unwrap_or_else(|e| panic!("verify_path after kill failed: {e}"));
        assert!(report.is_healthy(), "verify_path after a kill found {:?} (notes: {:?})", report.problems, report.notes);
    }
    let db = Database::open(dir.join("db"), small_options()).unwrap_or_else(|e| panic!("reopen after kill failed: {e}"));
    let problems = db.verify().unwrap();
    assert!(problems.is_empty(), "verify found {problems:?}");
    let mut model = Model::new();
    if let Ok(c) = db.collection("c") {
        for p in c.export().unwrap() {
            model.entry(p.document_id.0).or_default().push((p.start, p.length, p.vector));
        }
    }
    for postings in model.values_mut() {
        postings.sort_by_key(|a| (a.0, a.1));
    }
    model
}

fn normalized(mut m: Model) -> Model {
    for postings in m.values_mut() {
        postings.sort_by_key(|a| (a.0, a.1));
    }
    m
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let cycles: u64 = std::env::var("DRIFT_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(0x5eed ^ std::process::id() as u64);
    let mut model = Model::new();
    let mut resolved = 0u64; // operations 0..resolved are folded into `model`
    let mut in_flight_applied = 0u64;
    for cycle in 0..cycles {
        let policy = if cycle % 2 == 0 { "always" } else { "never" };
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_kill9::child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(POLICY_ENV, policy)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 + rng.below(160)));
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("child exited by itself ({status}) in cycle {cycle}: {err}");
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let log = std::fs::read_to_string(dir.path().join("ops.log")).unwrap_or_default();
        let mut acked = HashMap::new();
        let mut started = 0u64;
        for line in log.lines() {
            let (tag, n) = line.split_once(' ').unwrap_or(("", ""));
            // A line cut by the kill has no newline-terminated successor; ignore it.
            let Ok(n) = n.parse::<u64>() else { continue };
            match tag {
                "I" => started = started.max(n + 1),
                "K" => {
                    acked.insert(n, ());
                }
                _ => {}
            }
        }
        for n in resolved..started {
            if acked.contains_key(&n) {
                apply(&mut model, n);
            } else if n + 1 != started {
                panic!("operation {n} was never acknowledged yet a later one started");
            }
        }
        let last = started.checked_sub(1);
        let actual = stored(dir.path());
        let without = normalized(model.clone());
        match last {
            Some(l) if !acked.contains_key(&l) => {
                let mut with = model.clone();
                apply(&mut with, l);
                let with = normalized(with);
                if actual == with {
                    model = with;
                    in_flight_applied += 1;
                } else {
                    assert!(actual == without, "cycle {cycle}: state matches neither with nor without in-flight op {l}");
                }
            }
            _ => assert!(actual == without, "cycle {cycle}: state differs from the acknowledged writes"),
        }
        // The in-flight op is now resolved either way; the child will reuse no numbers.
        resolved = started;
    }
    assert!(resolved > cycles, "the children made too little progress: {resolved} operations");
    let db = Database::open(dir.path().join("db"), small_options()).unwrap();
    let stats = db.collection("c").unwrap().stats();
    assert!(stats.centroids > 0, "the crash run never built the centroid index: {stats:?}");
    println!(
        "{cycles} kill cycles, {resolved} operations, {in_flight_applied} in-flight operations found applied; \
         index at the end: {} centroids over {} shards",
        stats.centroids, stats.shards
    );
}
