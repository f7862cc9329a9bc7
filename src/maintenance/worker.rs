//! Background threads: the flusher and, for `SyncPolicy::Periodic`, the WAL syncer.
//!
//! Both hold the database's shared state and stop when `Database` is closed or
//! dropped (which joins them). A failed background flush is recorded in stats and
//! retried with backoff; it never loses data (see `flush.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use super::flush;
use crate::db::DbInner;
use crate::options::SyncPolicy;

pub(crate) fn spawn(db: &Arc<DbInner>) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    let flusher = db.clone();
    if let Ok(h) = std::thread::Builder::new().name("drift-flush".into()).spawn(move || flush_loop(&flusher)) {
        handles.push(h);
    }
    #[cfg(feature = "s3")]
    if let (Some(_), Some(config)) = (&db.tier, &db.options.object_store) {
        let tiering = db.clone();
        let interval = config.interval;
        if let Ok(h) = std::thread::Builder::new().name("drift-tier".into()).spawn(move || tier_loop(&tiering, interval)) {
            handles.push(h);
        }
    }
    if let SyncPolicy::Periodic(interval) = db.options.sync_policy {
        let syncer = db.clone();
        if let Ok(h) = std::thread::Builder::new().name("drift-wal-sync".into()).spawn(move || sync_loop(&syncer, interval)) {
            handles.push(h);
        }
    }
    handles
}

fn flush_loop(db: &DbInner) {
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
        if db.wal.poisoned().is_some() {
            continue;
        }
        if db.memtable_bytes.load(Ordering::Relaxed) < db.options.memtable_flush_bytes as isize {
            continue;
        }
        match flush::flush(db).and_then(|()| rebalance_all(db)) {
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
    for c in db.collections() {
        super::rebalance::rebalance(db, &c, 64, Duration::from_secs(1))?;
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
        let _ = db.wal.sync_now();
    }
}

/// Promotes to (writer) or follows (replica) the S3 tier every `interval`. Errors are
/// kept in the tier's stats; the next round retries.
#[cfg(feature = "s3")]
fn tier_loop(db: &DbInner, interval: Duration) {
    while wait_unless_stopping(db, interval) {
        let _ = super::tiering::sync(db);
    }
}
