//! S3 tier correctness when writers race or outlive a takeover (moto, as in
//! `s3_tier.rs`): promotion rounds of one database never overlap; a writer whose prefix
//! was taken over can neither lock the new owner out nor replace its data, and learns it
//! was fenced even when idle; takeovers in random order with kill -9 always leave a
//! prefix that restores to the last owner's promoted writes; an unresponsive store fails
//! within the configured timeout; bad configurations get errors that name the problem
//! and leave nothing behind.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Rng, small_options, vector};
use crate::s3_tier::{endpoint, options, tier, unique_prefix};
use drift::{Database, DocumentId, Error, Metric, Posting, SearchOptions, TierMode};

const DIM: usize = 16;

/// Adds documents `first..first + n`, one posting each.
fn add_ids(c: &drift::Collection, first: u64, n: u64) {
    for from in (first..first + n).step_by(200) {
        let to = (from + 200).min(first + n);
        let vs: Vec<Vec<f32>> = (from..to).map(|id| vector(id, 0, DIM)).collect();
        let ps: Vec<_> = vs.iter().zip(from..).map(|(v, id)| Posting::new(id, v)).collect();
        c.add(&ps).unwrap();
    }
}

/// Every document id of collection `c`.
fn ids(db: &Database) -> BTreeSet<u64> {
    db.collection("c").unwrap().export().unwrap().iter().map(|p| p.document_id.0 as u64).collect()
}

/// Restores the prefix into a new directory and returns its document ids (checking
/// the restored database verifies clean).
fn restored_ids(ep: &(String, String), prefix: &str) -> BTreeSet<u64> {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options(ep, prefix, TierMode::Restore)).unwrap();
    assert!(db.verify().unwrap().is_empty(), "a restore verifies clean");
    ids(&db)
}

fn not_owner(result: drift::Result<()>) -> String {
    match result {
        Err(e @ Error::NotOwner { .. }) => e.to_string(),
        other => panic!("expected NotOwner, got {other:?}"),
    }
}

#[test]
fn two_threads_syncing_at_once_never_cost_the_writer_its_prefix() {
    //! Defect 1 of the S3 probe: two overlapping rounds both published generation
    //! G+1; the loser of the pointer race declared the prefix lost for good.
    let Some(ep) = endpoint() else { return };
    for attempt in 0..4 {
        let prefix = unique_prefix("sync-race");
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(dir.path(), options(&ep, &prefix, TierMode::Writer)).unwrap());
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        add_ids(&c, 0, 100);
        db.flush().unwrap();
        let syncs: Vec<_> = (0..2)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || db.sync_object_store())
            })
            .collect();
        for s in syncs {
            s.join().unwrap().unwrap_or_else(|e| panic!("attempt {attempt}: a concurrent sync failed: {e}"));
        }
        add_ids(&c, 100, 100);
        db.flush().unwrap();
        db.sync_object_store().unwrap();
        assert!(db.stats().tier.unwrap().ownership_lost.is_none());
        assert_eq!(restored_ids(&ep, &prefix), (0..200).collect());
    }
}

#[test]
fn background_rounds_and_explicit_syncs_never_overlap() {
    //! The probe's kill runs: background rounds every 200 ms plus explicit syncs left
    //! restores 14,000 rows behind. Here rounds run every 20 ms while two threads sync
    //! after every flush; every flushed document must reach the prefix.
    let Some(ep) = endpoint() else { return };
    let prefix = unique_prefix("background-race");
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::open(dir.path(), options(&ep, &prefix, TierMode::Writer).with_background_threads(true)).unwrap());
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                db.sync_object_store().unwrap();
            }
        })
    };
    for batch in 0..15 {
        add_ids(&c, batch * 50, 50);
        db.flush().unwrap();
        db.sync_object_store().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    syncer.join().unwrap();
    db.sync_object_store().unwrap();
    assert_eq!(restored_ids(&ep, &prefix), (0..750).collect());
}

/// A writer in `old_dir` that promoted documents 0..100, and a restore into `new_dir`
/// that took the prefix over while the old writer stays open.
fn promoted_then_taken_over(ep: &(String, String), prefix: &str, old_dir: &Path, new_dir: &Path) -> (Database, drift::Collection, Database) {
    let old = Database::open(old_dir, options(ep, prefix, TierMode::Writer)).unwrap();
    let old_c = old.create_collection("c", DIM, Metric::L2).unwrap();
    add_ids(&old_c, 0, 100);
    old.flush().unwrap();
    old.sync_object_store().unwrap();
    let new = Database::open(new_dir, options(ep, prefix, TierMode::Restore)).unwrap();
    (old, old_c, new)
}

#[test]
fn an_old_writer_after_a_takeover_cannot_lock_the_new_owner_out() {
    //! Defect 2: the old writer wrote `manifests/...02` before its pointer update
    //! failed, and from then on the new owner's rounds (and any later restore) failed
    //! with "generation 2 was written by another writer".
    let Some(ep) = endpoint() else { return };
    let prefix = unique_prefix("old-writer-lockout");
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (old, old_c, new) = promoted_then_taken_over(&ep, &prefix, old_dir.path(), new_dir.path());
    // The old writer, idle, learns it lost the prefix.
    let message = not_owner(old.sync_object_store());
    assert!(message.contains("took the prefix over"), "{message}");
    add_ids(&old_c, 100_000, 100);
    old.flush().unwrap();
    not_owner(old.sync_object_store());
    assert!(old.stats().tier.unwrap().ownership_lost.is_some());

    let new_c = new.collection("c").unwrap();
    add_ids(&new_c, 200_000, 100);
    new.flush().unwrap();
    new.sync_object_store().expect("the new owner promotes after the old writer's attempt");
    drop(new);
    let new = Database::open(new_dir.path(), options(&ep, &prefix, TierMode::Writer)).unwrap();
    add_ids(&new.collection("c").unwrap(), 200_100, 10);
    new.flush().unwrap();
    new.sync_object_store().expect("and after reopening");
    drop(new);
    // A further takeover can promote too.
    let third_dir = tempfile::tempdir().unwrap();
    let third = Database::open(third_dir.path(), options(&ep, &prefix, TierMode::Restore)).unwrap();
    add_ids(&third.collection("c").unwrap(), 300_000, 10);
    third.flush().unwrap();
    third.sync_object_store().unwrap();
    let expected: BTreeSet<u64> = (0..100).chain(200_000..200_110).chain(300_000..300_010).collect();
    assert_eq!(restored_ids(&ep, &prefix), expected);
}

#[test]
fn an_old_writer_cannot_replace_the_new_owners_data() {
    //! Defect 3: after the takeover the new owner added ids 200000+ and synced; the
    //! old writer then uploaded its shard to the same key, unconditionally, and a
    //! replica and a restore held the old writer's rows and none of the new owner's.
    let Some(ep) = endpoint() else { return };
    let prefix = unique_prefix("old-writer-overwrite");
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (old, old_c, new) = promoted_then_taken_over(&ep, &prefix, old_dir.path(), new_dir.path());
    add_ids(&new.collection("c").unwrap(), 200_000, 1000);
    new.flush().unwrap();
    new.sync_object_store().unwrap();
    // Same collection, same next shard id as the new owner's shard: the old writer's
    // upload used to land on the new owner's key.
    add_ids(&old_c, 100_000, 1000);
    old.flush().unwrap();
    not_owner(old.sync_object_store());

    let expected: BTreeSet<u64> = (0..100).chain(200_000..201_000).collect();
    let probe = tempfile::tempdir().unwrap();
    let replica = Database::open(probe.path(), options(&ep, &prefix, TierMode::Replica)).unwrap();
    assert!(replica.verify().unwrap().is_empty());
    assert_eq!(ids(&replica), expected, "the replica holds the new owner's rows only");
    // The new owner keeps promoting, and a restore (which takes the prefix over)
    // holds the new owner's rows only.
    add_ids(&new.collection("c").unwrap(), 201_000, 10);
    new.flush().unwrap();
    new.sync_object_store().unwrap();
    assert_eq!(restored_ids(&ep, &prefix), (0..100).chain(200_000..201_010).collect());
}

const CHILD_ENV: &str = "DRIFT_S3_FENCING_CHILD";

/// Child: the owner of a restored directory, writing 20 new documents per batch from
/// a given first id (at most 30 batches, one every 10 ms), flushing and syncing after
/// each, then syncing idle; prints `promoted <last id>` after every sync that
/// returned, `fenced` (and exits) when the prefix was taken.
#[test]
fn s3_fencing_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let Some(ep) = endpoint() else { return };
    let mut parts = spec.split('|');
    let (dir, prefix, first) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap().parse::<u64>().unwrap());
    let db = match Database::open(dir, options(&ep, prefix, TierMode::Writer)) {
        Ok(db) => db,
        Err(Error::NotOwner { .. }) => {
            println!("fenced");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let c = db.collection("c").unwrap();
    let mut out = std::io::stdout();
    for batch in 0.. {
        let from = first + batch.min(29) * 20;
        if batch < 30 {
            add_ids(&c, from, 20);
            db.flush().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
        match db.sync_object_store() {
            Ok(()) => writeln!(out, "promoted {}", from + 19).unwrap(),
            Err(Error::NotOwner { .. }) => {
                writeln!(out, "fenced").unwrap();
                return;
            }
            Err(e) => panic!("{e}"),
        }
        out.flush().unwrap();
    }
}

#[test]
fn takeovers_in_random_order_with_kills_restore_the_last_owners_promoted_writes() {
    //! N owners in turn: each round an owner runs in a child process, writing and
    //! promoting; meanwhile a restore takes the prefix over. Whatever the timing, the
    //! restore holds everything the owner had reported promoted before the restore
    //! began and nothing it wrote that was not its own; the old owner is fenced
    //! (killed at a random moment, or left to find out), cannot reopen as the writer,
    //! and the new owner promotes. The final restore equals the model exactly.
    let Some(ep) = endpoint() else { return };
    let rounds: u64 = std::env::var("DRIFT_S3_RACE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seed: u64 = std::env::var("DRIFT_S3_RACE_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let mut rng = Rng::new(seed);
    let prefix = unique_prefix("takeover-race");
    let exe = std::env::current_exe().unwrap();
    let mut dirs = vec![tempfile::tempdir().unwrap()];
    let mut model: BTreeSet<u64> = BTreeSet::new();
    {
        let db = Database::open(dirs[0].path(), options(&ep, &prefix, TierMode::Writer)).unwrap();
        let c = db.create_collection("c", DIM, Metric::L2).unwrap();
        add_ids(&c, 0, 20);
        db.flush().unwrap();
        db.sync_object_store().unwrap();
        model.extend(0..20);
    }
    let (mut kills, mut fenced_seen) = (0, 0);
    for round in 1..=rounds {
        let owner_dir = dirs.last().unwrap().path().to_owned();
        let first = round * 1_000_000;
        let mut child = Command::new(&exe)
            .args(["--exact", "s3_fencing::s3_fencing_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}|{prefix}|{first}", owner_dir.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let reader = {
            let (stdout, lines) = (child.stdout.take().unwrap(), lines.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
        let promoted_before = |lines: &[String]| {
            lines.iter().filter_map(|l| l.strip_prefix("promoted ")).filter_map(|n| n.parse::<u64>().ok()).max()
        };
        let reported = promoted_before(&lines.lock().unwrap());
        // Take over while the owner is still writing.
        let next = tempfile::tempdir().unwrap();
        let taken = loop {
            match Database::open(next.path(), options(&ep, &prefix, TierMode::Restore)) {
                Ok(db) => break db,
                // The owner moved the pointer while we restored: the restore removed
                // what it wrote; retry.
                Err(Error::NotOwner { .. }) => assert!(!next.path().join("MANIFEST").exists()),
                Err(e) => panic!("round {round}: restore failed: {e}"),
            }
        };
        let restored = ids(&taken);
        let written_by_owner = |id: u64| id >= first && id < first + 1_000_000;
        assert!(model.is_subset(&restored), "round {round}: the restore lost promoted writes of earlier owners");
        if let Some(last) = reported {
            assert!(restored.contains(&last), "round {round}: the owner reported {last} promoted before the restore began");
        }
        for id in restored.difference(&model) {
            assert!(written_by_owner(*id), "round {round}: the restore holds {id}, which its owner never wrote");
        }
        if rng.below(2) == 0 {
            kills += 1;
            child.kill().unwrap();
        } else {
            // Left running, the old owner must find out at its next round.
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "round {round}: the fenced owner never learned it");
                std::thread::sleep(Duration::from_millis(20));
            }
            fenced_seen += 1;
            assert!(lines.lock().unwrap().iter().any(|l| l == "fenced"), "round {round}: the old owner exited without being told");
        }
        child.wait().unwrap();
        reader.join().unwrap();
        // The old owner's directory is no writer of the prefix any more.
        assert!(matches!(Database::open(&owner_dir, options(&ep, &prefix, TierMode::Writer)), Err(Error::NotOwner { .. })));
        model = restored;
        let c = taken.collection("c").unwrap();
        add_ids(&c, first + 500_000, 20);
        taken.flush().unwrap();
        taken.sync_object_store().unwrap();
        model.extend(first + 500_000..first + 500_020);
        drop(taken);
        dirs.push(next);
    }
    assert_eq!(restored_ids(&ep, &prefix), model, "the final restore equals the last owner's promoted writes");
    println!("takeover race: {rounds} rounds (seed {seed}), {kills} owners killed, {fenced_seen} fenced while running, {} documents", model.len());
}

/// A local TCP server that accepts connections and never answers.
fn silent_endpoint() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.push(stream);
        }
    });
    (address, handle)
}

#[test]
fn a_store_that_never_answers_fails_open_within_the_timeout() {
    let Some(ep) = endpoint() else { return };
    let (silent, _server) = silent_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let mut config = tier(&(silent.clone(), ep.1.clone()), "hang", TierMode::Writer);
    config.request_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let err = Database::open(dir.path(), small_options().with_object_store(Some(config))).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::ObjectStore { .. }), "{err}");
    assert!(err.to_string().contains(&silent), "the error names the store: {err}");
    assert!(took < Duration::from_secs(5), "open failed after {took:?}, the timeout is 800 ms");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "a refused open leaves nothing behind");
}

/// Forwards connections to `target` until `hang` is set; from then on accepts and
/// never answers.
fn switchable_proxy(target: String, hang: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let target = target.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            if hang.load(Ordering::Relaxed) {
                held.push(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    address
}

#[test]
fn a_cold_search_against_a_silent_store_fails_in_time_and_never_blocks_writers() {
    let Some(ep) = endpoint() else { return };
    let hang = Arc::new(AtomicBool::new(false));
    let proxy = switchable_proxy(ep.0.clone(), hang.clone());
    let prefix = unique_prefix("cold-timeout");
    let dir = tempfile::tempdir().unwrap();
    let mut config = tier(&(proxy.clone(), ep.1.clone()), &prefix, TierMode::Writer);
    config.local_disk_budget = Some(0);
    config.request_timeout = Duration::from_secs(1);
    let db = Arc::new(Database::open(dir.path(), small_options().with_object_store(Some(config))).unwrap());
    let c = db.create_collection("c", DIM, Metric::L2).unwrap();
    add_ids(&c, 0, 400);
    db.flush().unwrap();
    db.sync_object_store().unwrap();
    assert!(db.stats().tier.unwrap().evictions > 0, "the promoted shards were evicted");

    hang.store(true, Ordering::Relaxed);
    let searcher = {
        let c = db.collection("c").unwrap();
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = c.search(&vector(5, 0, DIM), &SearchOptions::new(5));
            (result, started.elapsed())
        })
    };
    // Writes go on while the search waits on the store.
    std::thread::sleep(Duration::from_millis(100));
    let write = Instant::now();
    add_ids(&c, 10_000, 10);
    assert!(write.elapsed() < Duration::from_millis(900), "a write waited {:?} behind a cold search", write.elapsed());
    let (result, took) = searcher.join().unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, Error::ObjectStore { .. }), "{err}");
    assert!(err.to_string().contains(&proxy), "the error names the store: {err}");
    assert!(took < Duration::from_secs(6), "the cold search failed after {took:?} with a 1 s timeout");
    // The store answers again: the same search succeeds.
    hang.store(false, Ordering::Relaxed);
    assert_eq!(c.search(&vector(5, 0, DIM), &SearchOptions::new(5)).unwrap()[0].document_id, DocumentId::from(5u64));
}

#[test]
fn bad_configurations_are_named_and_leave_nothing_behind() {
    let Some(ep) = endpoint() else { return };
    // A bucket that does not exist is named as such.
    for mode in [TierMode::Restore, TierMode::Replica] {
        let dir = tempfile::tempdir().unwrap();
        let err = Database::open(dir.path(), small_options().with_object_store(Some(tier(&(ep.0.clone(), "no-such-bucket-x".into()), "p", mode)))).unwrap_err();
        assert!(err.to_string().contains("no-such-bucket-x") && err.to_string().contains("does not exist"), "{mode:?}: {err}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{mode:?} left files behind");
    }
    // A prefix with nothing published says so.
    let dir = tempfile::tempdir().unwrap();
    let err = Database::open(dir.path(), options(&ep, &unique_prefix("empty"), TierMode::Replica)).unwrap_err();
    assert!(err.to_string().contains("nothing has been published"), "{err}");
    // http:// without allow_http.
    let mut config = tier(&ep, "p", TierMode::Writer);
    config.allow_http = false;
    let err = Database::open(dir.path(), small_options().with_object_store(Some(config))).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("allow_http"), "{err}");
    // A refused writer open leaves no TIER (nor anything else) behind, so the directory
    // can then be a replica.
    let prefix = unique_prefix("refused-writer");
    let owner_dir = tempfile::tempdir().unwrap();
    {
        let owner = Database::open(owner_dir.path(), options(&ep, &prefix, TierMode::Writer)).unwrap();
        add_ids(&owner.create_collection("c", DIM, Metric::L2).unwrap(), 0, 10);
        owner.flush().unwrap();
        owner.sync_object_store().unwrap();
    }
    let other = tempfile::tempdir().unwrap();
    let err = Database::open(other.path(), options(&ep, &prefix, TierMode::Writer)).unwrap_err();
    assert!(matches!(err, Error::NotOwner { .. }), "{err}");
    assert!(std::fs::read_dir(other.path()).unwrap().next().is_none(), "a refused writer open left files behind");
    let replica = Database::open(other.path(), options(&ep, &prefix, TierMode::Replica)).unwrap();
    assert_eq!(ids(&replica), (0..10).collect());
}
