//! Background threads: the flusher (flush, then a bounded round of index
//! maintenance), the S3 tier's promotion or replica rounds, and, for
//! `SyncPolicy::Periodic`, the WAL syncer.
//!
//! Each holds the database's shared state and stops when `Database` is closed or
//! dropped (which joins them). A failed flush is recorded in stats and retried with
//! backoff; it never loses data (see `maintenance/flush.rs`). A thread that cannot be
//! started, or that panics, poisons the database with a message naming the job: a
//! database whose flusher is gone would otherwise fill memory silently.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::db::DbInner;
use crate::maintenance::{flush, rebalance};
use crate::options::SyncPolicy;

pub(crate) fn spawn(db: &Arc<DbInner>) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    start(db, "drift-flush", &mut handles, flush_loop);
    #[cfg(feature = "s3")]
    if let (Some(_), Some(config)) = (&db.versions.tier, &db.versions.options.object_store) {
        let interval = config.interval;
        start(db, "drift-tier", &mut handles, move |db| tier_loop(db, interval));
    }
    if let SyncPolicy::Periodic(interval) = db.versions.options.sync_policy {
        start(db, "drift-wal-sync", &mut handles, move |db| sync_loop(db, interval));
    }
    handles
}

/// Starts `job` on a thread named `name`; a failed start or a panic poisons `db`.
fn start(db: &Arc<DbInner>, name: &'static str, handles: &mut Vec<JoinHandle<()>>, job: impl FnOnce(&DbInner) + Send + 'static) {
    let shared = db.clone();
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| job(&shared))) {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            shared.poison_with(format!("background thread {name} panicked: {what}"));
        }
    });
    match spawned {
        Ok(h) => handles.push(h),
        Err(e) => db.poison_with(format!("background thread {name} could not be started: {e}")),
    }
}

fn flush_loop(db: &DbInner) {
    let vs = &db.versions;
    let mut backoff = Duration::from_millis(10);
    loop {
        {
            let mut signal = db.signal.lock();
            if !signal.stop && !signal.flush_requested {
                db.wake.wait_for(&mut signal, Duration::from_millis(250));
            }
            if signal.stop {
                return;
            }
            signal.flush_requested = false;
        }
        vs.graveyard.clear();
        if vs.wal.poisoned().is_some() {
            continue;
        }
        if vs.memtable_bytes.load(Ordering::Relaxed) < vs.options.memtable_flush_bytes as isize {
            continue;
        }
        match flush::flush(vs).and_then(|()| rebalance_all(db)) {
            Ok(()) => {
                backoff = Duration::from_millis(10);
                *db.last_background_error.lock() = None;
            }
            Err(e) => {
                *db.last_background_error.lock() = Some(e.to_string());
                wait_unless_stopping(db, backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// After a background flush: a bounded round of index maintenance per collection
/// (what is left is picked up after the next flush, or by `maintain`).
fn rebalance_all(db: &DbInner) -> crate::error::Result<()> {
    for c in db.versions.collections() {
        rebalance::rebalance(&db.versions, &c, 64, Duration::from_secs(1))?;
    }
    Ok(())
}

/// Sleeps `interval` (or until woken); false once the database is stopping.
fn wait_unless_stopping(db: &DbInner, interval: Duration) -> bool {
    let mut signal = db.signal.lock();
    if !signal.stop {
        db.wake.wait_for(&mut signal, interval);
    }
    !signal.stop
}

fn sync_loop(db: &DbInner, interval: Duration) {
    while wait_unless_stopping(db, interval) {
        // A failure poisons the WAL; writers see the error.
        let _ = db.versions.wal.sync_now();
    }
}

/// Promotes to (writer) or follows (replica) the S3 tier every `interval`. Errors are
/// kept in the tier's stats; the next round retries.
#[cfg(feature = "s3")]
fn tier_loop(db: &DbInner, interval: Duration) {
    while wait_unless_stopping(db, interval) {
        let _ = crate::maintenance::tiering::sync(&db.versions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_background_job_poisons_the_database_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::DatabaseOptions { background_threads: false, ..Default::default() };
        let db = crate::Database::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", 2, crate::Metric::L2).unwrap();
        let mut handles = Vec::new();
        start(&db.inner, "drift-test-job", &mut handles, |_| panic!("the disk said no"));
        handles.pop().unwrap().join().unwrap();
        let cause = db.stats().poisoned.expect("poisoned");
        assert!(cause.contains("drift-test-job") && cause.contains("the disk said no"), "{cause}");
        let refused = c.add(&[crate::Posting::new(1u64, &[0.0, 0.0])]).unwrap_err();
        assert_eq!(refused.code(), crate::ErrorCode::Poisoned, "{refused}");
    }
}
