//! # wximg-store
//!
//! Storage: where apps, tokens, platform records and pictures live. The promise it keeps
//! for everything above it: **a picture acknowledged once is served byte for byte
//! afterwards**, whatever crashes in between ([`Storage::store_picture`] writes the blob,
//! then its row; [`fsck`] proves it).
//!
//! Two traits carry it, and the server's handlers only ever see these:
//!
//! - [`MetaStore`]: the metadata repository — apps, tokens, stable-token state, platform
//!   records, call counts, picture rows.
//! - [`BlobStore`]: the pictures' bytes, addressed by content ([`ImageId`]).
//!
//! Layout (find a behaviour by its name):
//! - [`sqlite`] (with its `upload_path` statements on direct connections) + [`local`]: the
//!   embedded default, one data directory with no setup; both group-commit their writes
//!   on writer threads.
//! - [`postgres`] + [`s3`]: scale-out, shared by any number of nodes.
//! - [`material`]: permanent material, an account's picture library over picture rows.
//! - `rows`: how each table's row becomes its record, once for every driver.
//! - [`fsck`]: every row has its exact blob; orphans found and removed.
//! - [`articles`]: drafts, publish jobs and published articles ([`ArticleStore`]).
//! - [`material`]: permanent materials ([`MaterialStore`]).
//! - `takedown`: removing a picture ([`Storage::take_down`]): its rows, then its blob once
//!   no row needs it, never the other way round.
//! - [`request_log`]: the bounded, masked log of API requests behind `openapi/rid/get`.
//! - [`transfer`]: copying one deployment into another (`wximg migrate`).
//! - [`backup`]: online backup and restore of the embedded store (`wximg backup`,
//!   `wximg restore`).
//!
//! [`open`] picks the implementations from a [`StorageConfig`]; [`open_read_only`] opens
//! an embedded store without writing to it.

pub mod articles;
pub mod backup;
pub mod fsck;
pub mod local;
pub mod material;
pub mod postgres;
mod records;
pub mod request_log;
mod rows;
pub mod s3;
pub mod sqlite;
mod takedown;
pub mod transfer;
mod writer_thread;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use wximg_proto::{AppId, ImageId};

pub use articles::{ArticleStore, DraftRecord, PublishJobRecord, PublishedRecord};
pub use material::{
    MaterialInsert, MaterialKind, MaterialRecord, MaterialStore, TEMPORARY_SECS, TemporaryRecord,
};
pub use records::{
    AppRecord, AppUsage, BlockedRecord, CallCount, Export, ImageCursor, ImageQuery, ImageRecord,
    Record, StableState, StoredRecord, TakedownOutcome, TakedownRecord, TakedownRequest, TokenKind,
    TokenRecord, Usage,
};
pub use request_log::{RequestLogEntry, RequestLogStore};
pub use takedown::DELETION_WAIT;

/// What went wrong below the API. Every variant but [`StorageError::Blocked`] answers
/// `-1 system error`; the detail is logged with the request's rid, never sent.
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
    /// The bytes were taken down with `--block`: the upload is refused (87014).
    #[error("picture {0} is blocked (taken down with --block)")]
    Blocked(ImageId),
    /// A takedown is removing the blob of these bytes right now: no row may point at it
    /// until it is gone (see `takedown`). Retried by [`Storage::store_picture`]; one left
    /// by a crash is finished by `wximg fsck --repair`.
    #[error(
        "the blob of picture {0} is being deleted by a takedown (if this lasts, run `wximg fsck --repair`)"
    )]
    DeletionPending(ImageId),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// How long a spent token or platform record is kept after its natural end, so that it
/// still answers "expired" (42001, 61010, …) rather than "invalid" for a day.
pub const KEEP_EXPIRED_SECS: i64 = 86_400;

/// The metadata repository. Every method is one atomic step.
#[async_trait]
pub trait MetaStore:
    MaterialStore + ArticleStore + RequestLogStore + Send + Sync + 'static
{
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

    /// Records an app's picture row. Idempotent: the same (id, app) twice keeps the first
    /// row. Refused, atomically with the insert, with [`StorageError::Blocked`] when the
    /// bytes are blocked and [`StorageError::DeletionPending`] while a takedown removes
    /// their blob.
    async fn insert_image(&self, image: &ImageRecord) -> Result<()>;
    /// A row of the picture: the oldest, when several apps uploaded the bytes (they all
    /// describe the same bytes; only `appid` and `created_at` differ).
    async fn image(&self, id: &ImageId) -> Result<Option<ImageRecord>>;
    /// Every app's row of the picture, oldest first.
    async fn image_rows(&self, id: &ImageId) -> Result<Vec<ImageRecord>>;
    /// Every picture id, once each (for `fsck`).
    async fn image_ids(&self) -> Result<Vec<ImageId>>;
    /// Every picture row, oldest first (for `migrate`).
    async fn images(&self) -> Result<Vec<ImageRecord>>;
    /// One page of picture rows, newest first (`wximg image list`).
    async fn list_images(&self, query: &ImageQuery) -> Result<Vec<ImageRecord>>;
    /// Pictures and bytes per app, counted by the database (`wximg image usage`).
    async fn usage(&self) -> Result<Usage>;

    // --- Takedowns (see `takedown` for the protocol).

    /// In one transaction, serialized with every picture-row insert: removes the rows
    /// `request` names, logs each in the audit log, blocks the bytes if asked, bumps the
    /// takedown generation, and — when no row of the bytes is left — marks their blob for
    /// deletion (`blob_removed` is then `true`: the caller must delete the blob and call
    /// [`MetaStore::finish_blob_deletion`]; [`Storage::take_down`] does). Nothing changes
    /// when no row matches (`removed` is empty).
    async fn take_down(&self, request: &TakedownRequest) -> Result<TakedownOutcome>;
    /// Removes the deletion mark of a blob that is gone.
    async fn finish_blob_deletion(&self, id: &ImageId) -> Result<()>;
    /// Whether the blob of `id` is marked for deletion.
    async fn blob_deletion_pending(&self, id: &ImageId) -> Result<bool>;
    /// Every blob marked for deletion (a takedown in flight, or one a crash interrupted).
    async fn blob_deletions(&self) -> Result<Vec<ImageId>>;
    /// The takedown generation: bumped by every takedown (what nodes poll).
    async fn takedown_generation(&self) -> Result<i64>;
    /// The audit entries of the takedowns after `generation`, oldest first.
    async fn takedowns_after(&self, generation: i64) -> Result<Vec<TakedownRecord>>;
    /// The audit log, newest first, of one app or all.
    async fn takedowns(&self, appid: Option<&AppId>, limit: u32) -> Result<Vec<TakedownRecord>>;
    /// Why the bytes of `id` are blocked, if they are.
    async fn blocked(&self, id: &ImageId) -> Result<Option<BlockedRecord>>;

    /// Every row but the pictures' (for `migrate`), read in one transaction so the copy
    /// is consistent. A read-only store of an older data directory that lacks a table
    /// exports none of its rows.
    async fn export(&self) -> Result<Export>;

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
    /// Removes, in one transaction, the records under `keys` and every record whose key
    /// starts with one of `prefixes` (live or not): all of them or, on an error, none.
    /// Returns how many went.
    async fn delete_records(&self, keys: &[String], prefixes: &[String]) -> Result<u64>;
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
        self.store(record, bytes, false).await
    }

    /// [`Storage::store_picture`] that also reads the stored blob back and checks its hash
    /// and size (as `fsck` does) before the row is written: for copies into a store whose
    /// writes are not this process's own (`migrate` into S3).
    pub async fn store_picture_verified(&self, record: &ImageRecord, bytes: Bytes) -> Result<()> {
        self.store(record, bytes, true).await
    }

    /// Stores a permanent material: its picture as [`Storage::store_picture`] does (blob,
    /// then row), then the material row if the account's library has room (`cap`). Only
    /// `Added` may be acknowledged. A refusal ([`MaterialInsert::LibraryFull`]) or a
    /// crash after the picture leaves that picture row (one per bytes and account, as an
    /// `uploadimg` of them would), never a material without its picture.
    pub async fn store_material(
        &self,
        record: &ImageRecord,
        bytes: Bytes,
        material: &MaterialRecord,
        cap: u64,
    ) -> Result<MaterialInsert> {
        debug_assert_eq!(material.image, record.id);
        debug_assert_eq!(material.appid, record.appid);
        // Full already: nothing to store (the insert below re-checks, race-free).
        if self.meta.material_count(&record.appid).await? >= cap {
            return Ok(MaterialInsert::LibraryFull);
        }
        self.store_picture(record, bytes).await?;
        self.meta.insert_material(material, cap).await
    }

    /// Stores a temporary material: its picture as [`Storage::store_picture`] does (blob,
    /// then row), then its row. A crash between the two leaves the picture row alone.
    pub async fn store_temporary(
        &self,
        record: &ImageRecord,
        bytes: Bytes,
        media: &TemporaryRecord,
    ) -> Result<()> {
        debug_assert_eq!(media.image, record.id);
        self.store_picture(record, bytes).await?;
        if !self.meta.insert_temporary(media).await? {
            // A media_id collision (2^-384).
            return Err(StorageError::Unavailable("media_id already taken".into()));
        }
        Ok(())
    }

    async fn store(&self, record: &ImageRecord, bytes: Bytes, read_back: bool) -> Result<()> {
        debug_assert_eq!(ImageId::of(&bytes), record.id);
        loop {
            self.blobs.put(&record.id, bytes.clone()).await?;
            if read_back
                && let Some(problem) = fsck::check_blob(self.blobs.as_ref(), record).await?
            {
                return Err(StorageError::Corrupt(format!(
                    "the stored copy is not the picture: {problem}"
                )));
            }
            match self.meta.insert_image(record).await {
                // A takedown is deleting these very bytes: the put above may have found
                // the blob that is about to go. Once the mark is gone the blob is too, so
                // the next put writes it anew (see `takedown`).
                Err(StorageError::DeletionPending(id)) => self.wait_for_deletion(&id).await?,
                // Blocked bytes have no row and can get none (a block takes every row and
                // refuses new ones), so the blob just put is nobody's: remove it rather
                // than leave an orphan per refused upload.
                Err(StorageError::Blocked(id)) => {
                    if let Err(e) = self.blobs.delete(&id).await {
                        tracing::warn!(%id, error = %e, "could not remove a blocked upload's blob");
                    }
                    return Err(StorageError::Blocked(id));
                }
                done => return done,
            }
        }
    }
}

/// Opens the embedded storage in `data_dir` for reading only: nothing is created,
/// migrated, swept or written, so a server may keep running on it meanwhile (`wximg
/// migrate` copies from it). Every write through the returned storage fails.
pub async fn open_read_only(data_dir: &Path) -> Result<Storage> {
    let meta = sqlite::SqliteMeta::open_read_only(&data_dir.join("wximg.sqlite3")).await?;
    let blobs = local::LocalBlobs::open_read_only(&data_dir.join("blobs"))?;
    Ok(Storage {
        meta: Arc::new(meta),
        blobs: Arc::new(blobs),
    })
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
