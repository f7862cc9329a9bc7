//! Power loss at every point of a workload, through `CrashSimulatingFileSystem`.
//!
//! One workload — adds, removes, upserts, flushes, compactions, index builds and
//! maintenance (split / merge / reassign), a checkpoint, a close and reopen — runs on
//! a file system that journals every mutation. For crash points across the journal,
//! images of what a power loss could leave are built (unsynced data dropped, kept, or a
//! random legal mix: per page a prefix of its writes, torn at a sector; per directory a
//! prefix of its name operations) and each one is:
//! - opened (recovery must succeed: a real power loss can produce it),
//! - compared with a model of the acknowledged operations: everything acknowledged
//!   before the crash point is there, the operation in flight is there whole or not at
//!   all, nothing later is,
//! - closed and checked by `verify_path` (healthy),
//! - and, if it holds the checkpoint's `MANIFEST`, the checkpoint opens with the state
//!   acknowledged before it was taken.
//!
//! The operations between the adds are drawn at random (`DRIFT_POWER_LOSS_SEED`), so
//! each seed is another API sequence checked against the model at every crash point.
//! The test command runs a sample (`DRIFT_POWER_LOSS_IMAGES`, default 2000 images of a
//! 48-batch workload); `DRIFT_POWER_LOSS_IMAGES=all` runs a 160-batch workload and
//! builds up to 140 images at every crash point with unsynced data (identical images
//! are opened once).

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Rng, small_options, vector};
use drift::io::{CrashSimulatingFileSystem, LossPolicy};
use drift::{AttributeDef, AttributeType, Attributes, Database, DocumentId, Metric, Posting, SearchOptions};

const DIM: usize = 8;

/// Document id → number of postings.
type State = BTreeMap<u64, usize>;

/// What one workload step does to the model.
#[derive(Debug, Clone)]
enum Effect {
    Nothing,
    Add(Vec<u64>),
    Remove(Vec<u64>),
    Upsert(u64, usize),
}

/// A workload step: the journal positions around it and its effect once acknowledged.
#[derive(Debug, Clone)]
struct Step {
    what: String,
    start: usize,
    end: usize,
    effect: Effect,
}

fn apply(state: &mut State, effect: &Effect) {
    match effect {
        Effect::Nothing => {}
        Effect::Add(ids) => {
            for id in ids {
                *state.entry(*id).or_default() += 1;
            }
        }
        Effect::Remove(ids) => {
            for id in ids {
                state.remove(id);
            }
        }
        Effect::Upsert(id, n) => {
            state.insert(*id, *n);
        }
    }
}

struct Workload {
    steps: Vec<Step>,
    /// Splits, merges and consolidations the maintenance steps did.
    rebalances: usize,
    /// Journal length when the checkpoint call started, and the state then.
    checkpoint: Option<(usize, State)>,
    journal_len: usize,
}

/// Runs the workload (`batches` add batches with the other steps between them) on `fs`
/// under `root`, recording each step's journal positions.
fn run_workload(fs: &CrashSimulatingFileSystem, root: &Path, batches: u64, seed: u64) -> Workload {
    let journal = fs.journal();
    let at = || journal.lock().len();
    let options = small_options().with_file_system(Arc::new(fs.clone())).with_index_min_rows(120).with_index_shard_rows(60);
    let mut steps = Vec::new();
    let mut state = State::new();
    let mut checkpoint = None;
    let mut step = |what: &str, effect: Effect, f: &mut dyn FnMut()| {
        let start = at();
        f();
        steps.push(Step { what: what.to_owned(), start, end: at(), effect });
    };
    let db_path = root.join("db");
    let mut db = None;
    step("open", Effect::Nothing, &mut || db = Some(Database::open(&db_path, options.clone()).unwrap()));
    let mut c = None;
    step("create collection", Effect::Nothing, &mut || {
        let schema = [AttributeDef::new("parity", AttributeType::U64)];
        c = Some(db.as_ref().unwrap().create_collection_with_schema("c", DIM, Metric::L2, &schema).unwrap());
    });
    let mut rng = Rng::new(seed);
    let mut rebalances = 0;
    for i in 0..batches {
        let ids: Vec<u64> = (i * 8..i * 8 + 8).collect();
        let vectors: Vec<Vec<f32>> = ids.iter().map(|&id| vector(id, 0, DIM)).collect();
        let effect = Effect::Add(ids.clone());
        step("add", effect.clone(), &mut || {
            let values: Vec<Attributes> = ids.iter().map(|&id| parity(id)).collect();
            let ps: Vec<_> = ids.iter().zip(&vectors).zip(&values).map(|((&id, v), a)| Posting::new(id, v).with_attributes(a)).collect();
            c.as_ref().unwrap().add(&ps).unwrap();
        });
        apply(&mut state, &effect);
        if rng.below(4) == 0 && i > 0 {
            let gone: Vec<u64> = (0..2).map(|_| rng.below(i * 8)).collect();
            let effect = Effect::Remove(gone.clone());
            step("remove", effect.clone(), &mut || {
                let ids: Vec<DocumentId> = gone.iter().map(|&id| DocumentId::from(id)).collect();
                c.as_ref().unwrap().remove(&ids).unwrap();
            });
            apply(&mut state, &effect);
        }
        if rng.below(5) == 0 {
            let id = rng.below(i * 8 + 8);
            let effect = Effect::Upsert(id, 2);
            step("upsert", effect.clone(), &mut || {
                let (a, b) = (vector(id, 1, DIM), vector(id, 2, DIM));
                let p = parity(id);
                let ps = [Posting::new(id, &a).with_span(0, 1).with_attributes(&p), Posting::new(id, &b).with_span(1, 1).with_attributes(&p)];
                c.as_ref().unwrap().upsert(DocumentId::from(id), &ps).unwrap();
            });
            apply(&mut state, &effect);
        }
        if rng.below(12) == 0 {
            // Removal by filter: every document carrying parity 1 at this moment, in one
            // WAL record (all of them or none after a crash).
            let matching: Vec<u64> = state.keys().copied().filter(|id| id % 3 == 1).collect();
            let effect = Effect::Remove(matching.clone());
            step("remove where", effect.clone(), &mut || {
                let removed = c.as_ref().unwrap().remove_where_text("parity == 1").unwrap();
                assert_eq!(removed, matching.len());
            });
            apply(&mut state, &effect);
        }
        if rng.below(8) == 0 {
            // New attribute values (the same parity, so the check below still holds) for
            // every posting of a document: one upsert record of its stored vectors.
            let id = rng.below(i * 8 + 8);
            let count = state.get(&id).copied().unwrap_or(0);
            let effect = if count == 0 { Effect::Nothing } else { Effect::Upsert(id, count) };
            step("update attributes", effect.clone(), &mut || {
                let updated = c.as_ref().unwrap().update_attributes(DocumentId::from(id), &parity(id)).unwrap();
                assert_eq!(updated, count);
            });
            apply(&mut state, &effect);
        }
        if rng.below(6) == 0 {
            step("flush", Effect::Nothing, &mut || db.as_ref().unwrap().flush().unwrap());
        }
        if rng.below(6) == 0 {
            step("maintain", Effect::Nothing, &mut || {
                let r = db.as_ref().unwrap().maintain(Duration::from_millis(200)).unwrap();
                rebalances += r.splits + r.merges + r.consolidations;
            });
        }
        if rng.below(10) == 0 {
            step("compact", Effect::Nothing, &mut || {
                c.as_ref().unwrap().compact().unwrap();
            });
        }
        if i == batches / 2 - 4 {
            checkpoint = Some((at(), state.clone()));
            step("checkpoint", Effect::Nothing, &mut || {
                db.as_ref().unwrap().checkpoint(root.join("ckpt")).unwrap();
            });
        }
        if i == batches * 2 / 3 {
            step("close and reopen", Effect::Nothing, &mut || {
                c = None;
                db.take().unwrap().close().unwrap();
                db = Some(Database::open(&db_path, options.clone()).unwrap());
                c = Some(db.as_ref().unwrap().collection("c").unwrap());
            });
        }
    }
    step("close", Effect::Nothing, &mut || {
        c = None;
        db.take().unwrap().close().unwrap();
    });
    Workload { steps, rebalances, checkpoint, journal_len: at() }
}

/// The attribute values every posting of document `id` carries.
fn parity(id: u64) -> Attributes {
    Attributes::new().set("parity", id % 3)
}

/// The document ids and posting counts of collection "c" (empty if it does not exist),
/// after checking that every posting kept its attribute value: a filtered exact search
/// for each value returns exactly the postings of the documents that carry it.
fn actual_state(db: &Database) -> State {
    let Ok(c) = db.collection("c") else { return State::new() };
    let mut state = State::new();
    for p in c.export().unwrap() {
        *state.entry(p.document_id.0 as u64).or_default() += 1;
    }
    let total: usize = state.values().sum();
    for r in 0..3u64 {
        if total == 0 {
            break;
        }
        let options = SearchOptions::new(total).exact().with_filter_text(&format!("parity == {r}")).unwrap();
        let hits = c.search(&[0.0; DIM], &options).unwrap();
        let want: usize = state.iter().filter(|&(id, _)| id % 3 == r).map(|(_, n)| n).sum();
        assert!(
            hits.len() == want && hits.iter().all(|h| h.document_id.0 as u64 % 3 == r),
            "attribute parity == {r}: {} postings found, {want} carry it",
            hits.len()
        );
    }
    state
}

/// The states allowed after a crash at `point`: everything acknowledged by then, with
/// the step in flight either applied whole or not at all.
fn allowed_states(steps: &[Step], point: usize) -> (State, State, Option<String>) {
    let mut before = State::new();
    let mut in_flight = None;
    for s in steps {
        if s.end <= point {
            apply(&mut before, &s.effect);
        } else if s.start < point {
            in_flight = Some(s);
        }
    }
    let mut after = before.clone();
    if let Some(s) = in_flight {
        apply(&mut after, &s.effect);
    }
    (before, after, in_flight.map(|s| s.what.clone()))
}

fn materialize(image: &BTreeMap<std::path::PathBuf, Vec<u8>>, dir: &Path) {
    for (path, bytes) in image {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, bytes).unwrap();
    }
}

#[test]
fn every_power_loss_image_opens_with_every_acknowledged_write_and_nothing_half_applied() {
    let budget = std::env::var("DRIFT_POWER_LOSS_IMAGES").unwrap_or_else(|_| "2000".into());
    let root = tempfile::tempdir().unwrap();
    let fs = CrashSimulatingFileSystem::new();
    // The seed picks the workload's sequence of operations (a random API sequence).
    let seed: u64 = std::env::var("DRIFT_POWER_LOSS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11);
    let workload = run_workload(&fs, root.path(), if budget == "all" { 160 } else { 48 }, seed);
    assert!(workload.rebalances > 0, "the workload's maintenance never split, merged or consolidated a list");
    let journal = fs.journal();
    let journal = journal.lock();
    let points: Vec<usize> = (0..=workload.journal_len).collect();
    let (chosen, variants): (Vec<usize>, u64) = match budget.as_str() {
        "all" => (points.clone(), 140),
        n => {
            let images: usize = n.parse().expect("DRIFT_POWER_LOSS_IMAGES is a number or \"all\"");
            let variants = 6;
            let count = (images / variants as usize).clamp(1, points.len());
            let mut rng = Rng::new(5);
            let mut chosen: Vec<usize> = (0..count).map(|_| points[rng.below(points.len() as u64) as usize]).collect();
            chosen.push(workload.journal_len);
            chosen.sort_unstable();
            chosen.dedup();
            (chosen, variants)
        }
    };
    let started = Instant::now();
    let mut distinct = HashSet::new();
    let (mut images, mut failures) = (0u64, Vec::new());
    for &point in &chosen {
        let (before, after, in_flight) = allowed_states(&workload.steps, point);
        // Random mixes differ from the two extremes only where something is unsynced.
        let unsynced = journal.image(root.path(), point, LossPolicy::DropUnsynced) != journal.image(root.path(), point, LossPolicy::KeepAll);
        let variants = if unsynced { variants } else { 2 };
        for v in 0..variants {
            let policy = match v {
                0 => LossPolicy::DropUnsynced,
                1 => LossPolicy::KeepAll,
                seed => LossPolicy::Random(point as u64 * 1000 + seed),
            };
            let image = journal.image(root.path(), point, policy);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            image.hash(&mut h);
            if !distinct.insert(h.finish()) {
                continue;
            }
            images += 1;
            let dir = tempfile::tempdir().unwrap();
            materialize(&image, dir.path());
            let context = format!("crash point {point}/{} ({policy:?}, in flight: {in_flight:?})", workload.journal_len);
            let db = match Database::open(dir.path().join("db"), small_options()) {
                Ok(db) => db,
                Err(e) => {
                    failures.push(format!("{context}: open failed: {e}"));
                    continue;
                }
            };
            let actual = actual_state(&db);
            if actual != before && actual != after {
                let missing: Vec<_> = before.iter().filter(|(k, v)| actual.get(k) != Some(v)).take(5).collect();
                let extra: Vec<_> = actual.iter().filter(|(k, v)| after.get(k) != Some(v)).take(5).collect();
                failures.push(format!("{context}: state differs from the model; acknowledged but not so: {missing:?}; present but not allowed: {extra:?}"));
            }
            db.close().unwrap();
            let report = drift::verify_path(dir.path().join("db")).unwrap();
            if !report.is_healthy() {
                failures.push(format!("{context}: verify after recovery: {:?}", report.problems));
            }
            if let (true, Some((_, at_checkpoint))) = (dir.path().join("ckpt/MANIFEST").exists(), &workload.checkpoint) {
                match Database::open(dir.path().join("ckpt"), small_options()) {
                    Ok(ckpt) => {
                        if actual_state(&ckpt) != *at_checkpoint {
                            failures.push(format!("{context}: the checkpoint does not hold the state acknowledged before it"));
                        }
                    }
                    Err(e) => failures.push(format!("{context}: the checkpoint's MANIFEST is there but it does not open: {e}")),
                }
            }
            if failures.len() >= 10 {
                break;
            }
        }
        if failures.len() >= 10 {
            break;
        }
    }
    println!(
        "power loss (seed {seed}): {images} distinct images over {} of {} crash points ({} workload steps, {} rebalances) in {:.1} s, {} failures",
        chosen.len(),
        workload.journal_len + 1,
        workload.steps.len(),
        workload.rebalances,
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
