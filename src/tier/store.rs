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
    /// The endpoint URL, for messages.
    endpoint: String,
    /// The request timeout: no operation outlives it.
    deadline: Duration,
    pub traffic: Traffic,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl RemoteStore {
    pub fn connect(config: &ObjectStoreConfig) -> Result<RemoteStore> {
        if config.bucket.is_empty() {
            return Err(Error::invalid("object store bucket name is empty"));
        }
        if let Some(endpoint) = config.endpoint.as_ref().filter(|e| e.starts_with("http://") && !config.allow_http) {
            return Err(Error::invalid(format!(
                "object store endpoint {endpoint} is plain http, which is refused unless allow_http is set \
                 (Rust: ObjectStoreConfig::allow_http or with_endpoint; C: drift_object_store_options.allow_http)"
            )));
        }
        if config.request_timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(Error::invalid("object store connect and request timeouts must be above zero"));
        }
        // Retries with exponential backoff, all within the request timeout; the
        // deadline in `bounded` enforces it whatever the client does.
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(2), base: 2.0 },
            max_retries: 4,
            retry_timeout: config.request_timeout,
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_retry(retry)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_connect_timeout(config.connect_timeout)
                    .with_timeout(config.request_timeout),
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
            endpoint: config.endpoint.clone().unwrap_or_else(|| "AWS S3".into()),
            deadline: config.request_timeout,
            traffic: Traffic::default(),
        })
    }

    /// Runs one operation on the runtime, failing it when the request timeout passes.
    fn bounded<T>(
        &self,
        operation: &'static str,
        key: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<object_store::Result<T>> {
        self.runtime.block_on(async { tokio::time::timeout(self.deadline, fut).await }).map_err(|_| Error::ObjectStore {
            operation,
            key: self.full_key(key),
            reason: format!("no answer from {} within {:?} (request_timeout)", self.endpoint, self.deadline),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}/{key}", self.location)
    }

    fn error(&self, operation: &'static str, key: &str, e: object_store::Error) -> Error {
        Error::ObjectStore { operation, key: self.full_key(key), reason: format!("{e} (endpoint {})", self.endpoint) }
    }

    /// Fails with a message naming the bucket when it does not exist (or cannot be
    /// listed); a restore or replica that finds nothing published asks this first.
    pub fn check_bucket(&self) -> Result<()> {
        self.count();
        let path = self.path("");
        match self.bounded("list", "", self.store.list_with_delimiter(Some(&path)))? {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                let reason = if text.contains("NoSuchBucket") || matches!(e, object_store::Error::NotFound { .. }) {
                    format!("bucket {:?} does not exist at {}", self.location.trim_start_matches("s3://").split('/').next().unwrap_or(""), self.endpoint)
                } else {
                    format!("{text} (endpoint {})", self.endpoint)
                };
                Err(Error::ObjectStore { operation: "list", key: self.location.clone(), reason })
            }
        }
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
        let result = self.bounded("get", key, async {
            match self.store.get(&path).await {
                Ok(r) => {
                    let etag = r.meta.e_tag.clone();
                    r.bytes().await.map(|b| Some((b.to_vec(), etag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let found = result.map_err(|e| self.error("get", key, e))?;
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
        let result = self.bounded("put", key, self.store.put_opts(&path, PutPayload::from(bytes), options))?;
        match result {
            Ok(r) => {
                self.traffic.bytes_uploaded.fetch_add(len, Ordering::Relaxed);
                Ok(PutOutcome::Written(r.e_tag))
            }
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(PutOutcome::ConditionFailed)
            }
            Err(e) => Err(self.error("put", key, e)),
        }
    }

    /// Creates many objects (`If-None-Match: *`), at most `concurrency` at a time. An
    /// object that exists already is left as it is: these keys carry the writer's id
    /// and a sealed shard's identity, so it holds the same bytes.
    pub fn create_many(&self, items: Vec<(String, Vec<u8>)>, concurrency: usize) -> Result<()> {
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
                    let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
                    async move { self.store.put_opts(&path, payload, options).await }
                })
                .collect();
            let first = batch.first().map_or("", |(k, _)| k.as_str());
            let results = self.bounded("upload", first, async { Ok(join_all(futures).await) })?.unwrap_or_default();
            for ((key, bytes), result) in batch.iter().zip(results) {
                match result {
                    Ok(_) => {
                        self.traffic.bytes_uploaded.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {}
                    Err(e) => return Err(self.error("upload", key, e)),
                }
            }
        }
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.count();
        let path = self.path(key);
        match self.bounded("delete", key, self.store.delete(&path))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", key, e)),
        }
    }

    /// Keys (relative to the prefix) and sizes of the objects directly under `dir`.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        self.count();
        let path = self.path(dir);
        let listed = self.bounded("list", dir, self.store.list_with_delimiter(Some(&path)))?.map_err(|e| self.error("list", dir, e))?;
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
