//! Configuration of the S3 tier.

use std::time::Duration;

/// What this database is to its object-store prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TierMode {
    /// The local database is the writer: it claims the prefix (or checks that it owns
    /// it) and promotes sealed shards and manifests to it.
    Writer,
    /// The local directory must be empty: download the latest published state from
    /// the prefix, take over ownership of it, and continue as its writer.
    Restore,
    /// Read-only replica: download the latest published state into the local
    /// directory (a cache) and follow newly published generations. Writes fail.
    Replica,
}

/// Where and how the S3 tier keeps a database. Credentials come from the usual AWS
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, ...).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ObjectStoreConfig {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix of this database inside the bucket (no leading or trailing `/`).
    pub prefix: String,
    /// Endpoint URL of an S3-compatible store; `None` for AWS.
    pub endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    pub region: String,
    /// Allow `http://` endpoints (local test servers).
    pub allow_http: bool,
    /// Writer, restore or replica.
    pub mode: TierMode,
    /// Uploads in flight at once. Default 4.
    pub upload_concurrency: usize,
    /// How often the background uploader looks for sealed shards to promote (writer),
    /// or for a new generation (replica). Default 1 s.
    pub interval: Duration,
    /// Bytes of shard files to keep on local disk. Above it, promoted sealed shards
    /// are evicted (least recently searched first) and fetched back whole when a
    /// search needs them. `None` (default) keeps everything local.
    pub local_disk_budget: Option<u64>,
    /// How long connecting to the store may take. Default 3 s.
    pub connect_timeout: Duration,
    /// How long one object-store operation may take, retries included: an
    /// unresponsive store fails it (a promotion round, an open, a cold search's fetch)
    /// after this long with [`crate::Error::ObjectStore`] naming the store. Default
    /// 10 s; raise it when whole shard files cross a slow link.
    pub request_timeout: Duration,
}

impl ObjectStoreConfig {
    /// A writer configuration for `bucket`/`prefix` with defaults for the rest.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        ObjectStoreConfig {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: None,
            region: "us-east-1".into(),
            allow_http: false,
            mode: TierMode::Writer,
            upload_concurrency: 4,
            interval: Duration::from_secs(1),
            local_disk_budget: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// The same configuration with an S3-compatible endpoint (http allowed).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self.allow_http = true;
        self
    }

    /// The same configuration in another mode.
    pub fn with_mode(mut self, mode: TierMode) -> Self {
        self.mode = mode;
        self
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}
