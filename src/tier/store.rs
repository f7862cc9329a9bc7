//! [`RemoteStore`]: blocking calls to the object store, counted.
//!
//! object_store is async; the tier owns a small current-thread tokio runtime and
//! blocks on it, so the rest of drift stays synchronous. Every request and every byte
//! moved is counted for stats. Keys are relative to the configured prefix.

use std::sync::atomic::{AtomicU64, Ordering};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
};
use std::time::Duration;

use super::config::ObjectStoreConfig;
use crate::error::{Error, Result};

/// Counters of object-store traffic since open.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub requests: AtomicU64,
    pub bytes_uploaded: AtomicU64,
    pub bytes_downloaded: AtomicU64,
}

/// Outcome of a conditional put.
pub(crate) enum PutOutcome {
    /// Written; the new ETag.
    Written(Option<String>),
    /// The condition failed (object exists, or its ETag changed).
    ConditionFailed,
}

pub(crate) struct RemoteStore {
    runtime: tokio::runtime::Runtime,
    store: AmazonS3,
    prefix: String,
    location: String,
    pub traffic: Traffic,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore").field("location", &self.location).finish_non_exhaustive()
    }
}

fn remote_error(operation: &'static str, key: &str, e: impl std::fmt::Display) -> Error {
    Error::ObjectStore { operation, key: key.to_owned(), reason: e.to_string() }
}

impl RemoteStore {
    pub fn connect(config: &ObjectStoreConfig) -> Result<RemoteStore> {
        if config.bucket.is_empty() {
            return Err(Error::invalid("object store bucket name is empty"));
        }
        // Bounded retries with exponential backoff: a dead endpoint costs a promotion
        // round (retried at the next interval) about 15 s, never an unbounded hang.
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(5), base: 2.0 },
            max_retries: 4,
            retry_timeout: Duration::from_secs(15),
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_retry(retry)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .build()
            .map_err(|e| Error::invalid(format!("object store configuration for {}: {e}", config.location())))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("start object-store runtime", config.location(), e))?;
        Ok(RemoteStore {
            runtime,
            store,
            prefix: config.prefix.trim_matches('/').to_owned(),
            location: config.location(),
            traffic: Traffic::default(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() { ObjectPath::from(key) } else { ObjectPath::from(format!("{}/{key}", self.prefix)) }
    }

    fn count(&self) {
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The object's bytes and ETag, or `None` if it does not exist.
    pub fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
        self.count();
        let path = self.path(key);
        let result = self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => {
                    let etag = r.meta.e_tag.clone();
                    r.bytes().await.map(|b| Some((b.to_vec(), etag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = result.map_err(|e| remote_error("get", key, e))?;
        if let Some((bytes, _)) = &found {
            self.traffic.bytes_downloaded.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        Ok(found)
    }

    /// Writes an object: unconditionally, only if absent (`If-None-Match: *`), or only
    /// if its ETag is still `etag` (`If-Match`).
    pub fn put(&self, key: &str, bytes: Vec<u8>, condition: Condition) -> Result<PutOutcome> {
        self.count();
        let len = bytes.len() as u64;
        let mode = match condition {
            Condition::None => PutMode::Overwrite,
            Condition::Absent => PutMode::Create,
            Condition::ETag(e_tag) => PutMode::Update(UpdateVersion { e_tag: Some(e_tag), version: None }),
        };
        let path = self.path(key);
        let options = PutOptions { mode, ..PutOptions::default() };
        let result = self.runtime.block_on(self.store.put_opts(&path, PutPayload::from(bytes), options));
        match result {
            Ok(r) => {
                self.traffic.bytes_uploaded.fetch_add(len, Ordering::Relaxed);
                Ok(PutOutcome::Written(r.e_tag))
            }
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(PutOutcome::ConditionFailed)
            }
            Err(e) => Err(remote_error("put", key, e)),
        }
    }

    /// Uploads many objects unconditionally, at most `concurrency` at a time.
    pub fn put_many(&self, items: Vec<(String, Vec<u8>)>, concurrency: usize) -> Result<()> {
        let concurrency = concurrency.max(1);
        let mut items = items.into_iter();
        loop {
            let batch: Vec<_> = items.by_ref().take(concurrency).collect();
            if batch.is_empty() {
                return Ok(());
            }
            let futures: Vec<_> = batch
                .iter()
                .map(|(key, bytes)| {
                    self.count();
                    let path = self.path(key);
                    let payload = PutPayload::from(bytes.clone());
                    async move { self.store.put(&path, payload).await }
                })
                .collect();
            let results = self.runtime.block_on(join_all(futures));
            for ((key, bytes), result) in batch.iter().zip(results) {
                result.map_err(|e| remote_error("upload", key, e))?;
                self.traffic.bytes_uploaded.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        }
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.count();
        let path = self.path(key);
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote_error("delete", key, e)),
        }
    }

    /// Keys (relative to the prefix) and sizes of the objects directly under `dir`.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        self.count();
        let path = self.path(dir);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(Some(&path)))
            .map_err(|e| remote_error("list", dir, e))?;
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        Ok(listed
            .objects
            .into_iter()
            .map(|m| (m.location.as_ref().strip_prefix(&strip).unwrap_or(m.location.as_ref()).to_owned(), m.size))
            .collect())
    }
}

/// Runs futures concurrently on the current-thread runtime and returns their outputs
/// in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The condition of a put.
pub(crate) enum Condition {
    None,
    Absent,
    ETag(String),
}
