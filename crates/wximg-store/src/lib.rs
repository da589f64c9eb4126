//! Storage: where apps, tokens and pictures live.
//!
//! Two traits carry it, and handlers only ever see these:
//!
//! - [`MetaStore`]: the metadata repository — apps, tokens, stable-token state, pictures.
//! - [`BlobStore`]: the pictures' bytes, addressed by content ([`ImageId`]).
//!
//! The embedded default is [`sqlite::SqliteMeta`] + [`local::LocalBlobs`] in one data
//! directory, with no setup. [`open`] picks the implementations from a [`StorageConfig`].

pub mod fsck;
pub mod local;
pub mod postgres;
pub mod s3;
pub mod sqlite;
mod writer_thread;

use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use wximg_proto::{AppId, AppType, ImageFormat, ImageId};

/// What went wrong below the API. Every variant answers `-1 system error`; the detail is
/// logged with the request's rid, never sent.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Corrupt(String),
    #[error("configuration: {0}")]
    Config(String),
    /// A write that could not be carried out (e.g. a failed group commit); nothing of it
    /// was kept.
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// How long a spent token or platform record is kept after its natural end, so that it
/// still answers "expired" (42001, 61010, …) rather than "invalid" for a day.
pub const KEEP_EXPIRED_SECS: i64 = 86_400;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub appid: AppId,
    pub app_type: AppType,
    pub name: String,
    /// Keyed BLAKE3 of the secret (see `auth::hash_secret`); the secret itself is never stored.
    pub secret_hash: [u8; 32],
    pub created_at: i64,
}

/// Which endpoint issued a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `/cgi-bin/token`
    Classic,
    /// `/cgi-bin/stable_token`
    Stable,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Classic => "classic",
            TokenKind::Stable => "stable",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "classic" => Some(TokenKind::Classic),
            "stable" => Some(TokenKind::Stable),
            _ => None,
        }
    }
}

/// An access token, known only by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: [u8; 32],
    pub appid: AppId,
    pub kind: TokenKind,
    pub issued_at: i64,
    /// End of its natural life: after it the token answers 42001.
    pub expires_at: i64,
    /// Set when a newer token ends it: from then on it answers 40001.
    pub ended_at: Option<i64>,
}

/// An app's stable-token state. The token itself is never stored: it is derived from the
/// caller's secret and `nonce` (see `auth::derive_stable_token`), so only someone who
/// knows the secret can get it back, yet every node hands out the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StableState {
    pub appid: AppId,
    /// Bumped by every rotation; rotations are compare-and-swap on it.
    pub generation: i64,
    pub nonce: [u8; 32],
    pub token_hash: [u8; 32],
    pub issued_at: i64,
    pub expires_at: i64,
    pub last_force_at: Option<i64>,
    /// Beijing day number (`wximg_proto::calendar::beijing_day`) that `force_count` counts.
    pub force_day: i64,
    pub force_count: i64,
}

/// A stored picture's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: ImageId,
    pub format: ImageFormat,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    /// The app that first uploaded these bytes.
    pub appid: AppId,
    pub created_at: i64,
}

/// The metadata repository. Every method is one atomic step.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Cheap round trip that proves the database answers and is writable.
    async fn ping(&self) -> Result<()>;

    async fn insert_app(&self, app: &AppRecord) -> Result<()>;
    async fn app(&self, appid: &AppId) -> Result<Option<AppRecord>>;
    async fn apps(&self) -> Result<Vec<AppRecord>>;
    /// Replaces the secret hash and ends every token of the app. `false` if no such app.
    async fn set_secret(&self, appid: &AppId, secret_hash: [u8; 32], now: i64) -> Result<bool>;
    /// Deletes the app and its tokens (its pictures stay served). `false` if no such app.
    async fn delete_app(&self, appid: &AppId) -> Result<bool>;

    /// Stores a classic token and, in the same transaction, gives every other live classic
    /// token of the app at most `grace_until` (the 5-minute rollover).
    async fn issue_classic_token(&self, token: &TokenRecord, grace_until: i64) -> Result<()>;
    async fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>>;
    /// A token and its app (`None` if the app is gone): what every authenticated call
    /// needs, in one round trip where the backend can join.
    async fn token_with_app(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(TokenRecord, Option<AppRecord>)>> {
        let Some(token) = self.token(hash).await? else {
            return Ok(None);
        };
        let app = self.app(&token.appid).await?;
        Ok(Some((token, app)))
    }

    async fn stable_state(&self, appid: &AppId) -> Result<Option<StableState>>;
    /// Installs `next` if the app's stable state still has generation `expected`
    /// (`None`: no state yet), stores its token, and — when `end_previous` — ends the
    /// previous stable token at `next.issued_at`. `false` if another node got there first.
    async fn swap_stable_state(
        &self,
        expected: Option<i64>,
        next: &StableState,
        end_previous: Option<[u8; 32]>,
    ) -> Result<bool>;

    /// Records a picture. Idempotent: the same id twice keeps the first record.
    async fn insert_image(&self, image: &ImageRecord) -> Result<()>;
    async fn image(&self, id: &ImageId) -> Result<Option<ImageRecord>>;
    /// Every picture id (for `fsck`).
    async fn image_ids(&self) -> Result<Vec<ImageId>>;

    // --- Platform records (see `crate::platform`): small JSON documents under keys such
    // as `whitelist:wx…` or `grant:wx…:wx…`, each with a version for compare-and-swap and
    // an optional end of life after which it reads as absent.

    /// The record under `key` and its version; `None` if absent or past `expires_at`.
    async fn record(&self, key: &str, now: i64) -> Result<Option<Record>>;
    /// Writes `value` under `key` if its version is still `expected` (`None`: only if
    /// absent or expired). `false` if another writer got there first.
    async fn swap_record(
        &self,
        key: &str,
        expected: Option<i64>,
        value: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool>;
    /// Removes `key`; `false` if it was not there.
    async fn delete_record(&self, key: &str) -> Result<bool>;
    /// Every live record whose key starts with `prefix`, by key.
    async fn records(&self, prefix: &str, now: i64) -> Result<Vec<(String, Record)>>;
    /// Deletes the records past their `expires_at` (spent tokens and codes); returns how
    /// many went.
    async fn sweep_records(&self, now: i64) -> Result<u64>;

    /// Counts one call of `api` by `appid` in Beijing day `day` and minute `minute`
    /// (atomically, so every node sees the same count) and returns the counts including
    /// this call: `(calls today, calls this minute)`.
    async fn count_call(
        &self,
        appid: &AppId,
        api: &str,
        day: i64,
        minute: i64,
    ) -> Result<(i64, i64)>;
    /// The counts so far `(today, this minute)` without counting.
    async fn call_counts(
        &self,
        appid: &AppId,
        api: &str,
        day: i64,
        minute: i64,
    ) -> Result<(i64, i64)>;
    /// Clears the counts of `appid` for `api` (as the console's "reset" does).
    async fn reset_calls(&self, appid: &AppId, api: &str) -> Result<()>;
}

/// A platform record: a JSON document and its version (bumped by every write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: String,
    pub version: i64,
}

/// A chunked body of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Content-addressed picture bytes.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Proves the store is reachable and writable.
    async fn ping(&self) -> Result<()>;
    /// Stores `bytes` under `id` durably: when this returns `Ok`, the bytes survive a crash
    /// or power loss. Atomic (a reader never sees part of it) and idempotent.
    async fn put(&self, id: &ImageId, bytes: Bytes) -> Result<()>;
    /// Streams `range` (or all) of the blob; `None` if there is no such blob.
    async fn get(&self, id: &ImageId, range: Option<Range<u64>>) -> Result<Option<ByteStream>>;
    /// Every blob id (for `fsck`).
    async fn ids(&self) -> Result<Vec<ImageId>>;
    async fn delete(&self, id: &ImageId) -> Result<()>;
}

/// Where storage lives. Every command that touches storage takes these.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The embedded default: SQLite + files in this directory.
    pub data_dir: PathBuf,
    /// `postgres://…` for scale-out metadata (see [`postgres`]); needs `store` too.
    pub database_url: Option<String>,
    /// `s3://bucket[/prefix]?endpoint=…&region=…` for scale-out blobs (see [`s3`]).
    pub store: Option<String>,
}

/// The two halves of storage, shared by every handler.
#[derive(Clone)]
pub struct Storage {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
}

impl Storage {
    /// Stores a picture: its blob first, then its row, and only then `Ok`. A crash
    /// between the two leaves an orphan blob (which `fsck` finds and removes), never a
    /// row without its bytes. Both steps are idempotent, so bytes already stored cost a
    /// stat (or a refused conditional PUT) and a no-op insert, without a lookup first.
    ///
    /// `bytes` must be the bytes whose hash is `record.id`; the upload route and
    /// `migrate`'s import both go through here.
    pub async fn store_picture(&self, record: &ImageRecord, bytes: Bytes) -> Result<()> {
        debug_assert_eq!(ImageId::of(&bytes), record.id);
        self.blobs.put(&record.id, bytes).await?;
        self.meta.insert_image(record).await
    }
}

/// Opens (creating if needed) the storage `config` names, applying migrations and
/// sweeping orphan temp files.
pub async fn open(config: &StorageConfig) -> Result<Storage> {
    match (&config.database_url, &config.store) {
        // Scale-out: PostgreSQL + S3, shared by every node (see `postgres` and `s3`).
        (Some(url), Some(store)) => {
            let meta = postgres::PostgresMeta::open(url).await?;
            let blobs = s3::S3Blobs::open(store).await?;
            return Ok(Storage {
                meta: Arc::new(meta),
                blobs: Arc::new(blobs),
            });
        }
        // Half a scale-out setup would let nodes disagree (rows in a shared database
        // pointing at one node's local files), so the two go together.
        (Some(_), None) => {
            return Err(StorageError::Config(
                "--database-url needs --store too (s3://bucket?endpoint=…): \
                 nodes sharing PostgreSQL must share their blobs as well"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(StorageError::Config(
                "--store needs --database-url too (postgres://…): \
                 nodes sharing blobs must share their metadata as well"
                    .into(),
            ));
        }
        (None, None) => {}
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        StorageError::Config(format!(
            "cannot create the data directory {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let meta = sqlite::SqliteMeta::open(&config.data_dir.join("wximg.sqlite3")).await?;
    let blobs = local::LocalBlobs::open(&config.data_dir.join("blobs")).await?;
    Ok(Storage {
        meta: Arc::new(meta),
        blobs: Arc::new(blobs),
    })
}
