//! `drift sim`: a short simulation whose topics move keeps recall at the rebuild's, the
//! same seed gives the same report, duplicates do not split endlessly, the CLI writes
//! its table, CSV and plot, and a run killed with SIGKILL recovers exactly the state
//! after some prefix of its writes (`drift::sim::writes`).

use drift::DatabaseOptions;
use std::collections::HashMap;

use drift::sim::{SimData, SimOptions, SimWrite};

/// `topics` clusters of `per_topic` rows in `d` dimensions (a deterministic LCG), and
/// `queries` rows near random cluster centres.
fn clustered(topics: usize, per_topic: usize, d: usize, queries: usize) -> SimData {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..topics).map(|_| (0..d).map(|_| next() * 8.0).collect()).collect();
    let mut base = Vec::new();
    let mut labels = Vec::new();
    for (t, centre) in centres.iter().enumerate() {
        for _ in 0..per_topic {
            base.extend(centre.iter().map(|c| c + next() * 6.0));
            labels.push(format!("topic-{t}"));
        }
    }
    let mut q = Vec::new();
    for i in 0..queries {
        q.extend(centres[i % topics].iter().map(|c| c + next() * 6.0));
    }
    SimData { dimension: d, base, queries: q, topics: Some(labels) }
}

fn small_options(phases: usize) -> SimOptions {
    let mut options = SimOptions::default();
    options.phases = phases;
    options.queries = 60;
    options.batch_rows = 250;
    options.maintain_every_rows = 1_000;
    options.database = DatabaseOptions::default().with_index_min_rows(512).with_index_shard_rows(16);
    options
}

#[test]
fn a_short_simulation_keeps_recall_at_the_rebuilds_and_churns_half_the_rows() {
    let data = clustered(3, 1_500, 16, 60);
    let dir = tempfile::tempdir().unwrap();
    let report = drift::sim::run(&data, &small_options(3), dir.path()).unwrap();
    eprintln!("{}", report.table());
    assert_eq!((report.topics, report.derived_topics, report.checkpoints.len()), (3, false, 3));
    for c in &report.checkpoints {
        assert!(c.recall >= c.rebuild_recall - 0.01, "checkpoint {}: recall {} vs rebuild {}\n{}", c.phase, c.recall, c.rebuild_recall, report.table());
        assert!(c.lists > 0 && c.list_rows.max >= c.list_rows.median, "{}", report.table());
    }
    let last = report.checkpoints.last().unwrap();
    assert_eq!(last.rows_added, 4_500);
    assert_eq!(last.rows_churned, 2_250, "half the rows ever added were removed or replaced");
    assert_eq!(last.live_rows, 4_500 - 2_250 / 2, "half of the churned rows were removed, half replaced");
    // The table, CSV and plot describe the same checkpoints.
    assert_eq!(report.csv().lines().count(), 4);
    assert!(report.svg().starts_with("<svg") && report.svg().contains("polyline"));
    assert_eq!(report.table().lines().count(), 4);
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let data = clustered(3, 600, 8, 30);
    let run = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let mut options = small_options(3);
        options.seed = seed;
        options.database = options.database.with_index_min_rows(256).with_index_shard_rows(32);
        drift::sim::run(&data, &options, dir.path()).unwrap().without_timings()
    };
    assert_eq!(run(7), run(7));
}

#[test]
fn topics_are_derived_when_the_data_has_none_and_duplicates_do_not_split_endlessly() {
    // One topic of 1,500 copies of one vector among two ordinary ones: k-means cannot
    // separate duplicates, so every split of their list is refused rather than retried.
    let mut data = clustered(2, 1_000, 8, 30);
    data.base.extend(std::iter::repeat_n([0.25f32; 8], 1_500).flatten());
    data.topics = None;
    let mut options = small_options(2);
    options.derived_topics = 3;
    let dir = tempfile::tempdir().unwrap();
    let report = drift::sim::run(&data, &options, dir.path()).unwrap();
    assert!(report.derived_topics && report.topics == 3, "{report:?}");
    let last = report.checkpoints.last().unwrap();
    assert!(last.lists < 200, "{}", report.table());
    assert!(last.recall >= 0.9, "{}", report.table());
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let mut data = clustered(2, 100, 4, 4);
    data.topics = Some(vec!["a".into(); 3]);
    let dir = tempfile::tempdir().unwrap();
    let e = drift::sim::run(&data, &SimOptions::default(), dir.path()).unwrap_err();
    assert!(e.to_string().contains("3 topic labels for 200 base rows"), "{e}");
    let mut options = SimOptions::default();
    options.churn = 1.5;
    let e = drift::sim::run(&clustered(2, 100, 4, 4), &options, dir.path()).unwrap_err();
    assert!(e.to_string().contains("churn 1.5"), "{e}");
}

#[test]
fn a_simulated_run_killed_at_random_points_recovers_exactly_a_prefix_of_its_writes() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = clustered(3, 2_000, 8, 20);
    let write = |name: &str, rows: &[f32]| {
        let mut bytes = Vec::new();
        for row in rows.chunks(8) {
            bytes.extend(8i32.to_le_bytes());
            row.iter().for_each(|x| bytes.extend(x.to_le_bytes()));
        }
        std::fs::write(dir.path().join(name), bytes).unwrap();
    };
    write("base.fvecs", &data.base);
    write("query.fvecs", &data.queries);
    std::fs::write(dir.path().join("topics.txt"), data.topics.as_ref().unwrap().join("\n") + "\n").unwrap();
    // What `drift sim … --phases 3` writes (the CLI's defaults otherwise).
    let mut options = SimOptions::default();
    options.phases = 3;
    let writes = drift::sim::writes(&data, &options).unwrap();
    let mut rng = crate::common::Rng::new(31);
    for cycle in 0..8 {
        let out = dir.path().join(format!("out-{cycle}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_drift"))
            .args(["sim", "base.fvecs", "query.fvecs", "--topics", "topics.txt", "--phases", "3", "--queries-per-checkpoint", "5", "--out"])
            .arg(&out)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(350 + rng.below(1_500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let db = out.join("scratch/db");
        if !db.join("MANIFEST").exists() {
            continue; // killed before the database was created, or after the run
        }
        let report = drift::verify_path(&db).unwrap();
        assert!(report.problems.is_empty(), "cycle {cycle}: {:?}", report.problems);
        let reopened = drift::Database::open(&db, DatabaseOptions::default()).unwrap();
        let Ok(c) = reopened.collection("sim") else { continue }; // killed before it was created
        let mut recovered: HashMap<u64, Vec<u32>> = HashMap::new();
        for p in c.export().unwrap() {
            let bits = p.vector.iter().map(|x| x.to_bits()).collect();
            assert!(recovered.insert(p.document_id.0 as u64, bits).is_none(), "cycle {cycle}: document {:?} twice", p.document_id);
        }
        // The model: the state after some prefix of the run's writes (each write is
        // atomic and every acknowledged one durable), whatever maintenance was doing.
        let mut state: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut prefix = None;
        for (n, write) in writes.iter().enumerate() {
            if state.len() == recovered.len() && state == recovered {
                prefix = Some(n);
                break;
            }
            apply(&mut state, write, &data.base, 8);
        }
        if prefix.is_none() && state == recovered {
            prefix = Some(writes.len());
        }
        assert!(prefix.is_some(), "cycle {cycle}: the {} recovered documents are no prefix of the run's {} writes", recovered.len(), writes.len());
        assert!(reopened.verify().unwrap().is_empty());
    }
}

/// The state after `write`: document → its one posting's vector bits.
fn apply(state: &mut HashMap<u64, Vec<u32>>, write: &SimWrite, base: &[f32], d: usize) {
    match write {
        SimWrite::Add(docs) => {
            for &doc in docs {
                state.insert(doc, base[doc as usize * d..(doc as usize + 1) * d].iter().map(|x| x.to_bits()).collect());
            }
        }
        SimWrite::Remove(docs) => docs.iter().for_each(|doc| {
            state.remove(doc);
        }),
        SimWrite::Upsert(doc, v) => {
            state.insert(*doc, v.iter().map(|x| x.to_bits()).collect());
        }
    }
}
