//! The embedded metadata store: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives power loss.
//!
//! (One file past 400 lines: it is the `MetaStore` impl for SQLite, and a trait impl is
//! one block; the upload path's statements live in `sqlite/upload_path.rs`.)
//!
//! Statements run through sqlx, except the upload path's (its token, its quota record,
//! the group-committed picture row), which run on direct connections: see [`upload_path`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use wximg_proto::{AppId, ImageId};

use crate::rows;
use crate::{
    AppRecord, BlockedRecord, Export, ImageQuery, ImageRecord, MetaStore, Record, Result,
    StableState, StorageError, TakedownOutcome, TakedownRecord, TakedownRequest, TokenKind,
    TokenRecord, Usage,
};

mod articles;
mod material;
mod request_log;
mod upload_path;

pub struct SqliteMeta {
    pool: SqlitePool,
    /// The database file, for [`MetaStore::ping`]'s writability check.
    path: std::path::PathBuf,
    /// The upload path's statements, on direct connections (see [`upload_path`]).
    upload_path: upload_path::UploadPath,
}

impl SqliteMeta {
    /// Opens (creating) the database file and applies the embedded migrations.
    pub async fn open(path: &Path) -> Result<SqliteMeta> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        SqliteMeta::with_upload_path(pool, path, false).await
    }

    /// Opens an existing database file for reading only (`wximg migrate`'s source):
    /// nothing is created or migrated, so a server may keep running on it, and every
    /// write fails.
    pub async fn open_read_only(path: &Path) -> Result<SqliteMeta> {
        if !path.is_file() {
            return Err(StorageError::Config(format!(
                "{} is not a wximg data directory (no {} in it)",
                path.parent().unwrap_or(path).display(),
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            )));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        SqliteMeta::with_upload_path(pool, path, true).await
    }

    /// The last step of both opens: the upload path's direct connections beside `pool`.
    async fn with_upload_path(
        pool: SqlitePool,
        path: &Path,
        read_only: bool,
    ) -> Result<SqliteMeta> {
        let file = path.to_path_buf();
        let upload_path =
            tokio::task::spawn_blocking(move || upload_path::UploadPath::open(&file, read_only))
                .await
                .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
        Ok(SqliteMeta {
            pool,
            path: path.to_path_buf(),
            upload_path,
        })
    }
}

async fn insert_token(
    tx: &mut sqlx::SqliteConnection,
    t: &TokenRecord,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tokens (hash, appid, kind, issued_at, expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.hash[..])
    .bind(t.appid.as_str())
    .bind(t.kind.as_str())
    .bind(t.issued_at)
    .bind(t.expires_at)
    .bind(t.ended_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl MetaStore for SqliteMeta {
    async fn ping(&self) -> Result<()> {
        // BEGIN IMMEDIATE takes the write lock: proves the file is writable, not just readable.
        let mut conn = self.pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            // Still inside the transaction (a filesystem gone read-only can do this):
            // never hand this connection back to the pool, or the next user of it fails.
            conn.close_on_drop();
            return Err(e.into());
        }
        // In WAL mode that lock lives in the -shm file, and commits go to the -wal file:
        // both work while the database file itself has become read-only, which only the
        // next checkpoint would find out. Opening the file for writing (and writing
        // nothing) does (faults_storage: read_only_database_file_turns_readyz_red).
        tokio::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .await?;
        Ok(())
    }

    async fn insert_app(&self, app: &AppRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO apps (appid, app_type, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(app.appid.as_str())
        .bind(app.app_type.as_str())
        .bind(&app.name)
        .bind(&app.secret_hash[..])
        .bind(app.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn app(&self, appid: &AppId) -> Result<Option<AppRecord>> {
        let query = sqlx::query("SELECT * FROM apps WHERE appid = ?").bind(appid.as_str());
        rows::one(query.fetch_optional(&self.pool).await?, rows::app)
    }

    async fn apps(&self) -> Result<Vec<AppRecord>> {
        let query = sqlx::query("SELECT * FROM apps ORDER BY created_at, appid");
        rows::all(query.fetch_all(&self.pool).await?, rows::app)
    }

    async fn set_secret(&self, appid: &AppId, secret_hash: [u8; 32], now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE apps SET secret_hash = ? WHERE appid = ?")
            .bind(&secret_hash[..])
            .bind(appid.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE tokens SET ended_at = ? WHERE appid = ? AND (ended_at IS NULL OR ended_at > ?)",
        )
        .bind(now)
        .bind(appid.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM stable_tokens WHERE appid = ?")
            .bind(appid.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(updated > 0)
    }

    async fn delete_app(&self, appid: &AppId) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM apps WHERE appid = ?")
            .bind(appid.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for statement in [
            "DELETE FROM tokens WHERE appid = ?",
            "DELETE FROM stable_tokens WHERE appid = ?",
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
        sqlx::query(
            "UPDATE tokens SET ended_at = ? WHERE appid = ? AND kind = 'classic' \
             AND (ended_at IS NULL OR ended_at > ?)",
        )
        .bind(grace_until)
        .bind(token.appid.as_str())
        .bind(grace_until)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM tokens WHERE appid = ? AND expires_at < ?")
            .bind(token.appid.as_str())
            .bind(token.issued_at - crate::KEEP_EXPIRED_SECS)
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        let query = sqlx::query("SELECT * FROM tokens WHERE hash = ?").bind(&hash[..]);
        rows::one(query.fetch_optional(&self.pool).await?, rows::token)
    }

    async fn token_with_app(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(TokenRecord, Option<AppRecord>)>> {
        // On the upload path: a direct read (see `upload_path`). The join's columns carry the
        // names `rows::token` and `rows::app` read; `app_type` is NULL when the app is
        // gone.
        self.upload_path.read(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT t.hash, t.appid, t.kind, t.issued_at, t.expires_at, t.ended_at, \
                 a.app_type, a.name, a.secret_hash, a.created_at \
                 FROM tokens t LEFT JOIN apps a ON a.appid = t.appid WHERE t.hash = ?",
            )?;
            let mut rows = query.query([&hash[..]])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let app_type: Option<String> = row.get("app_type")?;
            let app = app_type.map(|_| rows::app(row)).transpose()?;
            Ok(Some((rows::token(row)?, app)))
        })
    }

    async fn stable_state(&self, appid: &AppId) -> Result<Option<StableState>> {
        let query = sqlx::query("SELECT * FROM stable_tokens WHERE appid = ?").bind(appid.as_str());
        rows::one(query.fetch_optional(&self.pool).await?, rows::stable)
    }

    async fn swap_stable_state(
        &self,
        expected: Option<i64>,
        next: &StableState,
        end_previous: Option<[u8; 32]>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let query = match expected {
            None => sqlx::query(
                "INSERT INTO stable_tokens (appid, generation, nonce, token_hash, issued_at, expires_at, \
                 last_force_at, force_day, force_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (appid) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE stable_tokens SET generation = ?2, nonce = ?3, token_hash = ?4, \
                 issued_at = ?5, expires_at = ?6, last_force_at = ?7, force_day = ?8, force_count = ?9 \
                 WHERE appid = ?1 AND generation = ?10",
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
            return Ok(false); // dropping tx rolls back
        }
        if let Some(previous) = end_previous {
            sqlx::query("UPDATE tokens SET ended_at = ? WHERE hash = ? AND (ended_at IS NULL OR ended_at > ?)")
                .bind(next.issued_at)
                .bind(&previous[..])
                .bind(next.issued_at)
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
        self.upload_path.insert_image(image).await
    }

    async fn image(&self, id: &ImageId) -> Result<Option<ImageRecord>> {
        let query =
            sqlx::query("SELECT * FROM images WHERE id = ? ORDER BY created_at, appid LIMIT 1")
                .bind(&id.hash()[..]);
        rows::one(query.fetch_optional(&self.pool).await?, rows::image)
    }

    async fn image_rows(&self, id: &ImageId) -> Result<Vec<ImageRecord>> {
        let query = sqlx::query("SELECT * FROM images WHERE id = ? ORDER BY created_at, appid")
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
            "SELECT * FROM images WHERE (?1 IS NULL OR appid = ?1) \
             AND (?2 IS NULL OR created_at >= ?2) \
             AND (?3 IS NULL OR (created_at, id, appid) < (?3, ?4, ?5)) \
             ORDER BY created_at DESC, id DESC, appid DESC LIMIT ?6",
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
        // A write first: the database's one write lock is taken now, so no picture row
        // (group-committed by the upload path's writer) lands between what this reads
        // and what it writes.
        let generation: i64 = sqlx::query_scalar(
            "UPDATE takedown_generation SET generation = generation + 1 WHERE one = 1 \
             RETURNING generation",
        )
        .fetch_one(&mut *tx)
        .await?;
        let removed = rows::all(
            sqlx::query(
                "SELECT * FROM images WHERE id = ?1 AND (?2 IS NULL OR appid = ?2) \
                 ORDER BY created_at, appid",
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
        sqlx::query("DELETE FROM images WHERE id = ?1 AND (?2 IS NULL OR appid = ?2)")
            .bind(id)
            .bind(&appid)
            .execute(&mut *tx)
            .await?;
        // The materials of the removed rows go with them (see `crate::material`).
        material::drop_materials_of(&mut tx, &r.id, r.appid.as_ref()).await?;
        for row in &removed {
            sqlx::query(
                "INSERT INTO takedowns (generation, id, appid, format, size, taken_at, reason, \
                 taken_by, blocked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                 VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(r.at)
            .bind(&r.reason)
            .bind(&r.by)
            .execute(&mut *tx)
            .await?;
        }
        let remaining = rows::all(
            sqlx::query("SELECT * FROM images WHERE id = ? ORDER BY created_at, appid")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?,
            rows::image,
        )?;
        let blob_removed = remaining.is_empty();
        if blob_removed {
            sqlx::query(
                "INSERT INTO blob_deletions (id, since) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
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
        sqlx::query("DELETE FROM blob_deletions WHERE id = ?")
            .bind(&id.hash()[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn blob_deletion_pending(&self, id: &ImageId) -> Result<bool> {
        let found = sqlx::query("SELECT 1 FROM blob_deletions WHERE id = ?")
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
            sqlx::query("SELECT * FROM takedowns WHERE generation > ? ORDER BY generation, seq")
                .bind(generation);
        rows::all(query.fetch_all(&self.pool).await?, rows::takedown)
    }

    async fn takedowns(&self, appid: Option<&AppId>, limit: u32) -> Result<Vec<TakedownRecord>> {
        let query = sqlx::query(
            "SELECT * FROM takedowns WHERE (?1 IS NULL OR appid = ?1) ORDER BY seq DESC LIMIT ?2",
        )
        .bind(appid.map(|a| a.as_str().to_string()))
        .bind(i64::from(limit));
        rows::all(query.fetch_all(&self.pool).await?, rows::takedown)
    }

    async fn blocked(&self, id: &ImageId) -> Result<Option<BlockedRecord>> {
        let query = sqlx::query("SELECT * FROM blocked_images WHERE id = ?").bind(&id.hash()[..]);
        rows::one(query.fetch_optional(&self.pool).await?, rows::blocked)
    }

    async fn export(&self) -> Result<Export> {
        // One read transaction: in WAL mode it sees one snapshot while a server writes.
        let mut tx = self.pool.begin().await?;
        let mut export = Export::default();
        for (table, sql) in rows::EXPORT_QUERIES {
            // Data directories from before a table existed lack it (read-only opens do
            // not migrate): such a table has no rows to copy.
            let present =
                sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
                    .bind(table)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            if present {
                let found = sqlx::query(sql).fetch_all(&mut *tx).await?;
                rows::add_to_export(&mut export, table, found)?;
            }
        }
        tx.commit().await?;
        Ok(export)
    }

    async fn record(&self, key: &str, now: i64) -> Result<Option<Record>> {
        // On the upload path (its quota): a direct read (see `upload_path`).
        self.upload_path.read(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT value, version FROM platform_records WHERE key = ? \
                 AND (expires_at IS NULL OR expires_at > ?)",
            )?;
            let mut rows = query.query(rusqlite::params![key, now])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            Ok(Some(rows::record(row)?))
        })
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
                 VALUES (?, ?, 1, ?) ON CONFLICT (key) DO UPDATE \
                 SET value = excluded.value, version = platform_records.version + 1, \
                 expires_at = excluded.expires_at \
                 WHERE platform_records.expires_at IS NOT NULL AND platform_records.expires_at <= ?",
            )
            .bind(key)
            .bind(value)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some(version) => sqlx::query(
                "UPDATE platform_records SET value = ?, version = version + 1, expires_at = ? \
                 WHERE key = ? AND version = ? AND (expires_at IS NULL OR expires_at > ?)",
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
        let deleted = sqlx::query("DELETE FROM platform_records WHERE key = ?")
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
            deleted += sqlx::query("DELETE FROM platform_records WHERE key = ?")
                .bind(key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        for prefix in prefixes {
            // substr, as in `records`: `_` and `%` in a prefix mean nothing.
            deleted +=
                sqlx::query("DELETE FROM platform_records WHERE substr(key, 1, length(?)) = ?")
                    .bind(prefix)
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
            "SELECT key, value, version FROM platform_records WHERE substr(key, 1, length(?)) = ? \
             AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
        )
        .bind(prefix)
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
            "DELETE FROM platform_records WHERE expires_at IS NOT NULL AND expires_at <= ?",
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
             VALUES (?, ?, ?, 1, ?, 1) ON CONFLICT (appid, api) DO UPDATE SET \
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
            "SELECT day, day_count, minute, minute_count FROM call_counts WHERE appid = ? AND api = ?",
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
        sqlx::query("DELETE FROM call_counts WHERE appid = ? AND api = ?")
            .bind(appid.as_str())
            .bind(api)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
