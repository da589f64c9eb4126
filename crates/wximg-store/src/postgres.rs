//! The scale-out metadata store: PostgreSQL, shared by any number of `wximg serve` nodes.
//!
//! (One file past 400 lines: it is the `MetaStore` impl for PostgreSQL, and a trait impl
//! is one block; what is not that impl lives in `postgres/import.rs`.)
//!
//! It keeps the exact semantics of [`super::sqlite::SqliteMeta`]; only the way atomicity is
//! reached differs. SQLite has one writer at a time, so every write transaction there is
//! serial for free. PostgreSQL runs transactions concurrently (at READ COMMITTED), so
//! where two nodes could interleave we make the order explicit:
//!
//! - **Token writes of one app are serialized** by locking the app's row
//!   (`SELECT … FOR UPDATE`) first. Without it two nodes issuing a classic token at the
//!   same instant would each end the *other* live tokens but not each other's, leaving two
//!   "latest" tokens; with it the later one sees and ends the earlier, as on SQLite.
//! - **Stable-token rotation is a real compare-and-swap**: `UPDATE … WHERE generation =
//!   $expected` (or `INSERT … ON CONFLICT DO NOTHING` for the first one). A concurrent
//!   UPDATE of the same row waits for the first to commit, then re-checks its WHERE against
//!   the new row and matches nothing, so exactly one rotation wins and the loser re-reads.
//! - **Pictures are idempotent** with `ON CONFLICT (id, appid) DO NOTHING`: two nodes
//!   storing the same bytes for one app both succeed, and the first row stays. The insert
//!   checks the block list and the blob-deletion marks in its own statement.
//! - **Takedowns are serialized with picture inserts**: a takedown's transaction first
//!   takes `images` in SHARE ROW EXCLUSIVE mode, which waits for the inserts in flight and
//!   holds new ones until it commits; every statement after the lock (READ COMMITTED: a
//!   new snapshot each) sees every row committed before it, and an insert held back sees
//!   the takedown's marks (see `crate::takedown`). Takedowns are rare; the hold lasts a
//!   few statements.
//!
//! The schema lives in `migrations/postgres/`, embedded in the binary and applied at open;
//! sqlx takes an advisory lock while migrating, so nodes starting together are safe.
//!
//! Configuration errors are reported once, on one line, naming `host:port` and never the
//! password (see [`PostgresMeta::open`]).

mod articles;
mod import;
mod material;
mod request_log;

pub use import::Imported;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};
use wximg_proto::{AppId, ImageId};

use crate::rows;
use crate::{
    AppRecord, BlockedRecord, Export, ImageQuery, ImageRecord, MetaStore, Record, Result,
    StableState, StorageError, TakedownOutcome, TakedownRecord, TakedownRequest, TokenKind,
    TokenRecord, Usage,
};

/// Connections each node keeps at most. Ten nodes use 160 of PostgreSQL's default 100…
/// so raise `max_connections` or put PgBouncer in front past six nodes (see
/// `docs/scaleout.md`). Every request holds a connection only for single statements or a
/// short transaction, never while reading an upload body.
pub const MAX_CONNECTIONS: u32 = 16;

/// How long a request waits for a free connection, or for a new one to be made, before
/// answering -1. Short, so an unreachable database fails requests fast instead of piling
/// them up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole budget of a readiness probe.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `open` tries to reach the database before giving up with a clear line.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Metadata in PostgreSQL.
pub struct PostgresMeta {
    pool: PgPool,
}

/// `host:port` of a connection, for messages (never the user or password).
fn where_is(options: &PgConnectOptions) -> String {
    let host = options.get_host();
    if host.starts_with('/') {
        // A Unix socket directory.
        format!("{host} (port {})", options.get_port())
    } else {
        format!("{host}:{}", options.get_port())
    }
}

impl PostgresMeta {
    /// Connects to `url` (`postgres://user:password@host:port/db?…`), applies the embedded
    /// migrations and returns the store.
    ///
    /// Every failure is one [`StorageError::Config`] line meant for the operator:
    /// `cannot connect to PostgreSQL at 127.0.0.1:5432: connection refused …`. The URL is
    /// never echoed, since it may carry the password.
    pub async fn open(url: &str) -> Result<PostgresMeta> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StorageError::Config(
                "--database-url is not a valid PostgreSQL URL: it must start with postgres:// \
                 (postgres://user:password@host:port/database)"
                    .into(),
            ));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StorageError::Config(format!(
                "--database-url is not a valid PostgreSQL URL (postgres://user:password@host:port/database): {}",
                redact(&e.to_string(), url)
            ))
        })?;
        // PostgreSQL's NOTICEs ("relation … already exists, skipping" from every
        // migration check) are not news for an operator.
        let options = options.options([("client_min_messages", "warning")]);
        let at = where_is(&options);
        let fail = |e: &dyn std::fmt::Display| {
            StorageError::Config(format!(
                "cannot connect to PostgreSQL at {at}: {}",
                redact(&e.to_string(), url)
            ))
        };
        // One direct connection first: the pool retries "retryable" errors until its
        // timeout and then reports only "pool timed out", which tells the operator nothing.
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Err(_) => return Err(fail(&format!("no answer within {CONNECT_TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(fail(&e)),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection broken by a database restart is found and dropped here instead
            // of failing the request that would have used it.
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(|e| fail(&e))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| {
                StorageError::Config(format!(
                    "cannot apply the schema migrations to PostgreSQL at {at}: {e}"
                ))
            })?;
        Ok(PostgresMeta { pool })
    }

    /// The pool, for tools that work on the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PostgresMeta {
    /// Stores an app's row; returns how many rows went in. `if_absent`: an existing appid
    /// is left as it is (`migrate`'s import) instead of failing the insert.
    async fn insert_app_row(&self, app: &AppRecord, if_absent: bool) -> Result<u64> {
        let sql = if if_absent {
            "INSERT INTO apps (appid, app_type, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (appid) DO NOTHING"
        } else {
            "INSERT INTO apps (appid, app_type, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)"
        };
        let done = sqlx::query(sql)
            .bind(app.appid.as_str())
            .bind(app.app_type.as_str())
            .bind(&app.name)
            .bind(&app.secret_hash[..])
            .bind(app.created_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Removes the password of `url` from an error message, should a driver ever quote it.
fn redact(message: &str, url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.password() {
            Some(p) if !p.is_empty() => message.replace(p, "***"),
            _ => message.to_string(),
        },
        Err(_) => message.to_string(),
    }
}

/// Takes the app's row lock for the rest of the transaction: token writes of one app run
/// one after another across all nodes (see the module docs). A missing app locks nothing,
/// which is fine: there is nothing to race over.
async fn lock_app(tx: &mut PgConnection, appid: &AppId) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM apps WHERE appid = $1 FOR UPDATE")
        .bind(appid.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    Ok(())
}

/// Stores a token row; `ON CONFLICT DO NOTHING` makes a retried statement harmless (the
/// hash of 128+ random bits never collides otherwise).
/// Returns how many rows it stored (0 or 1).
async fn insert_token(
    conn: &mut PgConnection,
    t: &TokenRecord,
) -> std::result::Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO tokens (hash, appid, kind, issued_at, expires_at, ended_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&t.hash[..])
    .bind(t.appid.as_str())
    .bind(t.kind.as_str())
    .bind(t.issued_at)
    .bind(t.expires_at)
    .bind(t.ended_at)
    .execute(&mut *conn)
    .await
    .map(|done| done.rows_affected())
}

#[async_trait]
impl MetaStore for PostgresMeta {
    async fn ping(&self) -> Result<()> {
        // Proves a connection can be had and that the server takes writes (a hot standby
        // or a database set read-only answers, but is not ready for us).
        let probe = async {
            let row = sqlx::query(
                "SELECT pg_is_in_recovery() AS standby, \
                 current_setting('transaction_read_only') AS read_only",
            )
            .fetch_one(&self.pool)
            .await?;
            let standby: bool = row.try_get("standby")?;
            let read_only: String = row.try_get("read_only")?;
            if standby || read_only == "on" {
                return Err(StorageError::Corrupt(
                    "PostgreSQL is read-only (a standby, or default_transaction_read_only)".into(),
                ));
            }
            Ok(())
        };
        match tokio::time::timeout(PING_TIMEOUT, probe).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("PostgreSQL did not answer within {PING_TIMEOUT:?}"),
            ))),
        }
    }

    async fn insert_app(&self, app: &AppRecord) -> Result<()> {
        self.insert_app_row(app, false).await.map(drop)
    }

    async fn app(&self, appid: &AppId) -> Result<Option<AppRecord>> {
        let query = sqlx::query("SELECT * FROM apps WHERE appid = $1").bind(appid.as_str());
        rows::one(query.fetch_optional(&self.pool).await?, rows::app)
    }

    async fn apps(&self) -> Result<Vec<AppRecord>> {
        let query = sqlx::query("SELECT * FROM apps ORDER BY created_at, appid");
        rows::all(query.fetch_all(&self.pool).await?, rows::app)
    }

    async fn set_secret(&self, appid: &AppId, secret_hash: [u8; 32], now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // The UPDATE takes the app's row lock, ordering this after any token write in
        // flight and before any that follows.
        let updated = sqlx::query("UPDATE apps SET secret_hash = $1 WHERE appid = $2")
            .bind(&secret_hash[..])
            .bind(appid.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE tokens SET ended_at = $1 WHERE appid = $2 AND (ended_at IS NULL OR ended_at > $1)",
        )
        .bind(now)
        .bind(appid.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM stable_tokens WHERE appid = $1")
            .bind(appid.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(updated > 0)
    }

    async fn delete_app(&self, appid: &AppId) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM apps WHERE appid = $1")
            .bind(appid.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for statement in [
            "DELETE FROM tokens WHERE appid = $1",
            "DELETE FROM stable_tokens WHERE appid = $1",
        ] {
            sqlx::query(statement)
                .bind(appid.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn issue_classic_token(&self, token: &TokenRecord, grace_until: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_app(&mut tx, &token.appid).await?;
        sqlx::query(
            "UPDATE tokens SET ended_at = $1 WHERE appid = $2 AND kind = 'classic' \
             AND (ended_at IS NULL OR ended_at > $1)",
        )
        .bind(grace_until)
        .bind(token.appid.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM tokens WHERE appid = $1 AND expires_at < $2")
            .bind(token.appid.as_str())
            .bind(token.issued_at - crate::KEEP_EXPIRED_SECS)
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        let query = sqlx::query("SELECT * FROM tokens WHERE hash = $1").bind(&hash[..]);
        rows::one(query.fetch_optional(&self.pool).await?, rows::token)
    }

    async fn stable_state(&self, appid: &AppId) -> Result<Option<StableState>> {
        let query =
            sqlx::query("SELECT * FROM stable_tokens WHERE appid = $1").bind(appid.as_str());
        rows::one(query.fetch_optional(&self.pool).await?, rows::stable)
    }

    async fn swap_stable_state(
        &self,
        expected: Option<i64>,
        next: &StableState,
        end_previous: Option<[u8; 32]>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock_app(&mut tx, &next.appid).await?;
        let query = match expected {
            None => sqlx::query(
                "INSERT INTO stable_tokens (appid, generation, nonce, token_hash, issued_at, expires_at, \
                 last_force_at, force_day, force_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (appid) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE stable_tokens SET generation = $2, nonce = $3, token_hash = $4, \
                 issued_at = $5, expires_at = $6, last_force_at = $7, force_day = $8, force_count = $9 \
                 WHERE appid = $1 AND generation = $10",
            ),
        };
        let mut query = query
            .bind(next.appid.as_str())
            .bind(next.generation)
            .bind(&next.nonce[..])
            .bind(&next.token_hash[..])
            .bind(next.issued_at)
            .bind(next.expires_at)
            .bind(next.last_force_at)
            .bind(next.force_day)
            .bind(next.force_count);
        if let Some(generation) = expected {
            query = query.bind(generation);
        }
        let swapped = query.execute(&mut *tx).await?.rows_affected() == 1;
        if !swapped {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(previous) = end_previous {
            sqlx::query(
                "UPDATE tokens SET ended_at = $1 WHERE hash = $2 AND (ended_at IS NULL OR ended_at > $1)",
            )
            .bind(next.issued_at)
            .bind(&previous[..])
            .execute(&mut *tx)
            .await?;
        }
        insert_token(
            &mut tx,
            &TokenRecord {
                hash: next.token_hash,
                appid: next.appid.clone(),
                kind: TokenKind::Stable,
                issued_at: next.issued_at,
                expires_at: next.expires_at,
                ended_at: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_image(&self, image: &ImageRecord) -> Result<()> {
        // One statement, one snapshot: the checks and the insert cannot straddle a
        // takedown's commit (see the module docs).
        let row = sqlx::query(
            "WITH refusal AS (SELECT \
               EXISTS (SELECT 1 FROM blocked_images WHERE id = $1) AS blocked, \
               EXISTS (SELECT 1 FROM blob_deletions WHERE id = $1) AS pending), \
             inserted AS (INSERT INTO images (id, format, size, width, height, appid, created_at) \
               SELECT $1, $2, $3, $4, $5, $6, $7 FROM refusal WHERE NOT blocked AND NOT pending \
               ON CONFLICT (id, appid) DO NOTHING) \
             SELECT blocked, pending FROM refusal",
        )
        .bind(&image.id.hash()[..])
        .bind(image.format.as_str())
        .bind(i64::try_from(image.size).map_err(|_| rows::corrupt("image size"))?)
        .bind(i64::from(image.width))
        .bind(i64::from(image.height))
        .bind(image.appid.as_str())
        .bind(image.created_at)
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<bool, _>("blocked")? {
            return Err(StorageError::Blocked(image.id));
        }
        if row.try_get::<bool, _>("pending")? {
            return Err(StorageError::DeletionPending(image.id));
        }
        Ok(())
    }

    async fn image(&self, id: &ImageId) -> Result<Option<ImageRecord>> {
        let query =
            sqlx::query("SELECT * FROM images WHERE id = $1 ORDER BY created_at, appid LIMIT 1")
                .bind(&id.hash()[..]);
        rows::one(query.fetch_optional(&self.pool).await?, rows::image)
    }

    async fn image_rows(&self, id: &ImageId) -> Result<Vec<ImageRecord>> {
        let query = sqlx::query("SELECT * FROM images WHERE id = $1 ORDER BY created_at, appid")
            .bind(&id.hash()[..]);
        rows::all(query.fetch_all(&self.pool).await?, rows::image)
    }

    async fn image_ids(&self) -> Result<Vec<ImageId>> {
        let query = sqlx::query("SELECT DISTINCT id FROM images");
        rows::all(query.fetch_all(&self.pool).await?, rows::image_id)
    }

    async fn images(&self) -> Result<Vec<ImageRecord>> {
        let query = sqlx::query("SELECT * FROM images ORDER BY created_at");
        rows::all(query.fetch_all(&self.pool).await?, rows::image)
    }

    async fn list_images(&self, q: &ImageQuery) -> Result<Vec<ImageRecord>> {
        let before = q.before.as_ref();
        let query = sqlx::query(
            "SELECT * FROM images WHERE ($1::TEXT IS NULL OR appid = $1) \
             AND ($2::BIGINT IS NULL OR created_at >= $2) \
             AND ($3::BIGINT IS NULL OR (created_at, id, appid) < ($3, $4, $5)) \
             ORDER BY created_at DESC, id DESC, appid DESC LIMIT $6",
        )
        .bind(q.appid.as_ref().map(|a| a.as_str().to_string()))
        .bind(q.since)
        .bind(before.map(|c| c.created_at))
        .bind(before.map(|c| c.id.hash().to_vec()))
        .bind(before.map(|c| c.appid.as_str().to_string()))
        .bind(i64::from(q.limit));
        rows::all(query.fetch_all(&self.pool).await?, rows::image)
    }

    async fn usage(&self) -> Result<Usage> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let apps = sqlx::query(rows::USAGE_QUERY).fetch_all(&mut *tx).await?;
        let distinct = sqlx::query(rows::DISTINCT_USAGE_QUERY)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Usage {
            apps: rows::all(apps, rows::app_usage)?,
            distinct_pictures: rows::fitting(&distinct, "pictures", "picture count")?,
            distinct_bytes: rows::fitting(&distinct, "bytes", "byte count")?,
        })
    }

    async fn take_down(&self, r: &TakedownRequest) -> Result<TakedownOutcome> {
        let id = &r.id.hash()[..];
        let appid = r.appid.as_ref().map(|a| a.as_str().to_string());
        let mut tx = self.pool.begin().await?;
        // See the module docs: no picture row commits between what this reads and writes.
        // Takedowns take this lock first, then the generation row: never a deadlock.
        sqlx::query("LOCK TABLE images IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let generation: i64 = sqlx::query_scalar(
            "UPDATE takedown_generation SET generation = generation + 1 WHERE one = 1 \
             RETURNING generation",
        )
        .fetch_one(&mut *tx)
        .await?;
        let removed = rows::all(
            sqlx::query(
                "DELETE FROM images WHERE id = $1 AND ($2::TEXT IS NULL OR appid = $2) RETURNING *",
            )
            .bind(id)
            .bind(&appid)
            .fetch_all(&mut *tx)
            .await?,
            rows::image,
        )?;
        if removed.is_empty() {
            tx.rollback().await?;
            return Ok(TakedownOutcome {
                removed,
                remaining: Vec::new(),
                blob_removed: false,
                generation: generation - 1,
            });
        }
        // The materials of the removed rows go with them (see `crate::material`).
        material::drop_materials_of(&mut tx, &r.id, r.appid.as_ref()).await?;
        for row in &removed {
            sqlx::query(
                "INSERT INTO takedowns (generation, id, appid, format, size, taken_at, reason, \
                 taken_by, blocked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(generation)
            .bind(id)
            .bind(row.appid.as_str())
            .bind(row.format.as_str())
            .bind(i64::try_from(row.size).map_err(|_| rows::corrupt("image size"))?)
            .bind(r.at)
            .bind(&r.reason)
            .bind(&r.by)
            .bind(i64::from(r.block))
            .execute(&mut *tx)
            .await?;
        }
        if r.block {
            sqlx::query(
                "INSERT INTO blocked_images (id, blocked_at, reason, blocked_by) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(r.at)
            .bind(&r.reason)
            .bind(&r.by)
            .execute(&mut *tx)
            .await?;
        }
        let remaining = rows::all(
            sqlx::query("SELECT * FROM images WHERE id = $1 ORDER BY created_at, appid")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?,
            rows::image,
        )?;
        let blob_removed = remaining.is_empty();
        if blob_removed {
            sqlx::query(
                "INSERT INTO blob_deletions (id, since) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(r.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(TakedownOutcome {
            removed,
            remaining: remaining.into_iter().map(|row| row.appid).collect(),
            blob_removed,
            generation,
        })
    }

    async fn finish_blob_deletion(&self, id: &ImageId) -> Result<()> {
        sqlx::query("DELETE FROM blob_deletions WHERE id = $1")
            .bind(&id.hash()[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn blob_deletion_pending(&self, id: &ImageId) -> Result<bool> {
        let found = sqlx::query("SELECT 1 FROM blob_deletions WHERE id = $1")
            .bind(&id.hash()[..])
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn blob_deletions(&self) -> Result<Vec<ImageId>> {
        let query = sqlx::query("SELECT id FROM blob_deletions ORDER BY since");
        rows::all(query.fetch_all(&self.pool).await?, rows::image_id)
    }

    async fn takedown_generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT generation FROM takedown_generation WHERE one = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn takedowns_after(&self, generation: i64) -> Result<Vec<TakedownRecord>> {
        let query =
            sqlx::query("SELECT * FROM takedowns WHERE generation > $1 ORDER BY generation, seq")
                .bind(generation);
        rows::all(query.fetch_all(&self.pool).await?, rows::takedown)
    }

    async fn takedowns(&self, appid: Option<&AppId>, limit: u32) -> Result<Vec<TakedownRecord>> {
        let query = sqlx::query(
            "SELECT * FROM takedowns WHERE ($1::TEXT IS NULL OR appid = $1) \
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(appid.map(|a| a.as_str().to_string()))
        .bind(i64::from(limit));
        rows::all(query.fetch_all(&self.pool).await?, rows::takedown)
    }

    async fn blocked(&self, id: &ImageId) -> Result<Option<BlockedRecord>> {
        let query = sqlx::query("SELECT * FROM blocked_images WHERE id = $1").bind(&id.hash()[..]);
        rows::one(query.fetch_optional(&self.pool).await?, rows::blocked)
    }

    async fn export(&self) -> Result<Export> {
        // One REPEATABLE READ transaction: every table from the same snapshot.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut export = Export::default();
        for (table, sql) in rows::EXPORT_QUERIES {
            let found = sqlx::query(sql).fetch_all(&mut *tx).await?;
            rows::add_to_export(&mut export, table, found)?;
        }
        tx.commit().await?;
        Ok(export)
    }

    async fn record(&self, key: &str, now: i64) -> Result<Option<Record>> {
        let query = sqlx::query(
            "SELECT value, version FROM platform_records WHERE key = $1 \
             AND (expires_at IS NULL OR expires_at > $2)",
        );
        rows::one(
            query.bind(key).bind(now).fetch_optional(&self.pool).await?,
            rows::record,
        )
    }

    async fn swap_record(
        &self,
        key: &str,
        expected: Option<i64>,
        value: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let done = match expected {
            // Insert, or take over a record past its life.
            None => sqlx::query(
                "INSERT INTO platform_records (key, value, version, expires_at) \
                 VALUES ($1, $2, 1, $3) ON CONFLICT (key) DO UPDATE \
                 SET value = excluded.value, version = platform_records.version + 1, \
                 expires_at = excluded.expires_at \
                 WHERE platform_records.expires_at IS NOT NULL AND platform_records.expires_at <= $4",
            )
            .bind(key)
            .bind(value)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some(version) => sqlx::query(
                "UPDATE platform_records SET value = $1, version = version + 1, expires_at = $2 \
                 WHERE key = $3 AND version = $4 AND (expires_at IS NULL OR expires_at > $5)",
            )
            .bind(value)
            .bind(expires_at)
            .bind(key)
            .bind(version)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected(),
        };
        Ok(done == 1)
    }

    async fn delete_record(&self, key: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM platform_records WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn delete_records(&self, keys: &[String], prefixes: &[String]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for key in keys {
            deleted += sqlx::query("DELETE FROM platform_records WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        for prefix in prefixes {
            // substr, as in `records`: `_` and `%` in a prefix mean nothing.
            deleted +=
                sqlx::query("DELETE FROM platform_records WHERE substr(key, 1, length($1)) = $1")
                    .bind(prefix)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn records(&self, prefix: &str, now: i64) -> Result<Vec<(String, Record)>> {
        // substr rather than LIKE, so `_` and `%` in keys mean nothing (and no collation
        // decides what a prefix is).
        sqlx::query(
            "SELECT key, value, version FROM platform_records WHERE substr(key, 1, length($1)) = $1 \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY key",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("key")?, rows::record(row)?)))
        .collect()
    }

    async fn sweep_records(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM platform_records WHERE expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn count_call(
        &self,
        appid: &AppId,
        api: &str,
        day: i64,
        minute: i64,
    ) -> Result<(i64, i64)> {
        // One statement: the increment and the read-back cannot interleave with another
        // node's. In SET, the right-hand sides see the row as it was.
        let row = sqlx::query(
            "INSERT INTO call_counts (appid, api, day, day_count, minute, minute_count) \
             VALUES ($1, $2, $3, 1, $4, 1) ON CONFLICT (appid, api) DO UPDATE SET \
             day_count = CASE WHEN call_counts.day = excluded.day THEN call_counts.day_count + 1 ELSE 1 END, \
             minute_count = CASE WHEN call_counts.minute = excluded.minute THEN call_counts.minute_count + 1 ELSE 1 END, \
             day = excluded.day, minute = excluded.minute \
             RETURNING day_count, minute_count",
        )
        .bind(appid.as_str())
        .bind(api)
        .bind(day)
        .bind(minute)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("day_count")?, row.try_get("minute_count")?))
    }

    async fn call_counts(
        &self,
        appid: &AppId,
        api: &str,
        day: i64,
        minute: i64,
    ) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT day, day_count, minute, minute_count FROM call_counts WHERE appid = $1 AND api = $2",
        )
        .bind(appid.as_str())
        .bind(api)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok((0, 0));
        };
        let today = if row.try_get::<i64, _>("day")? == day {
            row.try_get("day_count")?
        } else {
            0
        };
        let this_minute = if row.try_get::<i64, _>("minute")? == minute {
            row.try_get("minute_count")?
        } else {
            0
        };
        Ok((today, this_minute))
    }

    async fn reset_calls(&self, appid: &AppId, api: &str) -> Result<()> {
        sqlx::query("DELETE FROM call_counts WHERE appid = $1 AND api = $2")
            .bind(appid.as_str())
            .bind(api)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
