//! The row layer: how each table's row becomes its record, written once for every driver.
//!
//! Both backends (sqlx on SQLite and PostgreSQL, rusqlite on SQLite's upload path) read
//! rows through [`Columns`], so a column's name, its type and its validation (an appid
//! that parses, a hash of exactly 32 bytes, a size that fits) live in one place. A row
//! that fails validation is [`StorageError::Corrupt`], never a panic and never a record
//! with a made-up value.

use wximg_proto::{AppId, AppType, ImageFormat, ImageId};

use crate::{
    AppRecord, AppUsage, BlockedRecord, CallCount, Export, ImageRecord, Record, Result,
    StableState, StorageError, StoredRecord, TakedownRecord, TokenKind, TokenRecord,
};

/// A row's columns by name, for any driver's rows.
pub(crate) trait Columns {
    fn text(&self, name: &str) -> Result<String>;
    fn int(&self, name: &str) -> Result<i64>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>>;
    fn opt_text(&self, name: &str) -> Result<Option<String>>;
    fn blob(&self, name: &str) -> Result<Vec<u8>>;
}

/// Implements [`Columns`] for a sqlx row type: the four getters are the same `try_get`.
macro_rules! sqlx_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, name: &str) -> Result<String> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn int(&self, name: &str) -> Result<i64> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn opt_int(&self, name: &str) -> Result<Option<i64>> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn opt_text(&self, name: &str) -> Result<Option<String>> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
            fn blob(&self, name: &str) -> Result<Vec<u8>> {
                Ok(sqlx::Row::try_get(self, name)?)
            }
        }
    };
}

sqlx_columns!(sqlx::sqlite::SqliteRow);
sqlx_columns!(sqlx::postgres::PgRow);

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String> {
        Ok(self.get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64> {
        Ok(self.get(name)?)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name)?)
    }
    fn blob(&self, name: &str) -> Result<Vec<u8>> {
        Ok(self.get(name)?)
    }
}

pub(crate) fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("malformed {what} in the database"))
}

fn hash32(row: &impl Columns, column: &str, what: &str) -> Result<[u8; 32]> {
    row.blob(column)?.try_into().map_err(|_| corrupt(what))
}

fn appid(row: &impl Columns) -> Result<AppId> {
    AppId::parse(&row.text("appid")?).ok_or_else(|| corrupt("appid"))
}

/// A non-negative integer column that must fit `T` (sizes, dimensions).
pub(crate) fn fitting<T: TryFrom<i64>>(row: &impl Columns, column: &str, what: &str) -> Result<T> {
    T::try_from(row.int(column)?).map_err(|_| corrupt(what))
}

/// An `apps` row (or a join carrying its columns).
pub(crate) fn app(row: &impl Columns) -> Result<AppRecord> {
    Ok(AppRecord {
        appid: appid(row)?,
        app_type: AppType::parse(&row.text("app_type")?).ok_or_else(|| corrupt("app type"))?,
        name: row.text("name")?,
        secret_hash: hash32(row, "secret_hash", "secret hash")?,
        created_at: row.int("created_at")?,
    })
}

/// A `tokens` row (or a join carrying its columns).
pub(crate) fn token(row: &impl Columns) -> Result<TokenRecord> {
    Ok(TokenRecord {
        hash: hash32(row, "hash", "token hash")?,
        appid: appid(row)?,
        kind: TokenKind::parse(&row.text("kind")?).ok_or_else(|| corrupt("token kind"))?,
        issued_at: row.int("issued_at")?,
        expires_at: row.int("expires_at")?,
        ended_at: row.opt_int("ended_at")?,
    })
}

/// A `stable_tokens` row.
pub(crate) fn stable(row: &impl Columns) -> Result<StableState> {
    Ok(StableState {
        appid: appid(row)?,
        generation: row.int("generation")?,
        nonce: hash32(row, "nonce", "nonce")?,
        token_hash: hash32(row, "token_hash", "token hash")?,
        issued_at: row.int("issued_at")?,
        expires_at: row.int("expires_at")?,
        last_force_at: row.opt_int("last_force_at")?,
        force_day: row.int("force_day")?,
        force_count: row.int("force_count")?,
    })
}

/// The `id` column of an `images` row.
pub(crate) fn image_id(row: &impl Columns) -> Result<ImageId> {
    Ok(ImageId::from_hash(hash32(row, "id", "image id")?))
}

/// An `images` row.
pub(crate) fn image(row: &impl Columns) -> Result<ImageRecord> {
    Ok(ImageRecord {
        id: image_id(row)?,
        format: ImageFormat::parse(&row.text("format")?).ok_or_else(|| corrupt("image format"))?,
        size: fitting(row, "size", "image size")?,
        width: fitting(row, "width", "image width")?,
        height: fitting(row, "height", "image height")?,
        appid: appid(row)?,
        created_at: row.int("created_at")?,
    })
}

/// The `value` and `version` of a `platform_records` row.
pub(crate) fn record(row: &impl Columns) -> Result<Record> {
    Ok(Record {
        value: row.text("value")?,
        version: row.int("version")?,
    })
}

/// A whole `platform_records` row, as `export` copies it.
pub(crate) fn stored_record(row: &impl Columns) -> Result<StoredRecord> {
    Ok(StoredRecord {
        key: row.text("key")?,
        record: record(row)?,
        expires_at: row.opt_int("expires_at")?,
    })
}

/// A `call_counts` row.
pub(crate) fn call_count(row: &impl Columns) -> Result<CallCount> {
    Ok(CallCount {
        appid: appid(row)?,
        api: row.text("api")?,
        day: row.int("day")?,
        day_count: row.int("day_count")?,
        minute: row.int("minute")?,
        minute_count: row.int("minute_count")?,
    })
}

/// A `takedowns` row.
pub(crate) fn takedown(row: &impl Columns) -> Result<TakedownRecord> {
    Ok(TakedownRecord {
        generation: row.int("generation")?,
        id: image_id(row)?,
        appid: appid(row)?,
        format: ImageFormat::parse(&row.text("format")?).ok_or_else(|| corrupt("image format"))?,
        size: fitting(row, "size", "image size")?,
        taken_at: row.int("taken_at")?,
        reason: row.text("reason")?,
        taken_by: row.text("taken_by")?,
        blocked: row.int("blocked")? != 0,
    })
}

/// A `blocked_images` row.
pub(crate) fn blocked(row: &impl Columns) -> Result<BlockedRecord> {
    Ok(BlockedRecord {
        id: image_id(row)?,
        blocked_at: row.int("blocked_at")?,
        reason: row.text("reason")?,
        blocked_by: row.text("blocked_by")?,
    })
}

/// A row of [`USAGE_QUERY`].
pub(crate) fn app_usage(row: &impl Columns) -> Result<AppUsage> {
    Ok(AppUsage {
        appid: appid(row)?,
        pictures: fitting(row, "pictures", "picture count")?,
        bytes: fitting(row, "bytes", "byte count")?,
    })
}

/// `wximg image usage` per account (the same SQL on both databases; sums cast so both
/// drivers read a 64-bit integer).
pub(crate) const USAGE_QUERY: &str = "SELECT appid, COUNT(*) AS pictures, \
     CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM images GROUP BY appid ORDER BY appid";

/// What the blobs weigh, each counted once.
pub(crate) const DISTINCT_USAGE_QUERY: &str = "SELECT COUNT(*) AS pictures, \
     CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes \
     FROM (SELECT id, MAX(size) AS size FROM images GROUP BY id) AS blobs";

/// The tables [`crate::MetaStore::export`] copies, each with the query that reads it
/// whole (the same SQL on both databases).
pub(crate) const EXPORT_QUERIES: [(&str, &str); 10] = [
    ("apps", "SELECT * FROM apps ORDER BY created_at, appid"),
    ("tokens", "SELECT * FROM tokens ORDER BY issued_at"),
    (
        "stable_tokens",
        "SELECT * FROM stable_tokens ORDER BY appid",
    ),
    (
        "platform_records",
        "SELECT key, value, version, expires_at FROM platform_records ORDER BY key",
    ),
    (
        "call_counts",
        "SELECT appid, api, day, day_count, minute, minute_count FROM call_counts \
         ORDER BY appid, api",
    ),
    (
        "takedowns",
        "SELECT generation, id, appid, format, size, taken_at, reason, taken_by, blocked \
         FROM takedowns ORDER BY seq",
    ),
    (
        "blocked_images",
        "SELECT id, blocked_at, reason, blocked_by FROM blocked_images ORDER BY blocked_at, id",
    ),
    (
        "drafts",
        "SELECT * FROM drafts ORDER BY created_at, media_id",
    ),
    (
        "publish_jobs",
        "SELECT * FROM publish_jobs ORDER BY submitted_at, publish_id",
    ),
    (
        "published_articles",
        "SELECT * FROM published_articles ORDER BY published_at, article_id, idx",
    ),
];

/// Maps the rows of one of [`EXPORT_QUERIES`]' tables into `export`.
pub(crate) fn add_to_export<R: Columns>(
    export: &mut Export,
    table: &str,
    found: Vec<R>,
) -> Result<()> {
    match table {
        "apps" => export.apps = all(found, app)?,
        "tokens" => export.tokens = all(found, token)?,
        "stable_tokens" => export.stable_states = all(found, stable)?,
        "platform_records" => export.records = all(found, stored_record)?,
        "call_counts" => export.call_counts = all(found, call_count)?,
        "takedowns" => export.takedowns = all(found, takedown)?,
        "blocked_images" => export.blocked = all(found, blocked)?,
        "drafts" => export.drafts = all(found, draft)?,
        "publish_jobs" => export.publish_jobs = all(found, publish_job)?,
        "published_articles" => export.published_articles = all(found, published)?,
        other => return Err(StorageError::Corrupt(format!("no export of table {other}"))),
    }
    Ok(())
}

/// Maps the row a lookup found, if any (any driver's row).
pub(crate) fn one<R: Columns, T>(row: Option<R>, map: fn(&R) -> Result<T>) -> Result<Option<T>> {
    row.as_ref().map(map).transpose()
}

/// Maps every row a listing found (any driver's rows).
pub(crate) fn all<R: Columns, T>(rows: Vec<R>, map: fn(&R) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(map).collect()
}

/// A `materials` row.
pub(crate) fn material(row: &impl Columns) -> Result<crate::MaterialRecord> {
    Ok(crate::MaterialRecord {
        media_id: row.text("media_id")?,
        appid: appid(row)?,
        kind: crate::MaterialKind::parse(&row.text("kind")?)
            .ok_or_else(|| corrupt("material kind"))?,
        image: ImageId::from_hash(hash32(row, "image", "material image id")?),
        format: ImageFormat::parse(&row.text("format")?)
            .ok_or_else(|| corrupt("material format"))?,
        name: row.text("name")?,
        url: row.text("url")?,
        created_at: row.int("created_at")?,
    })
}
/// A `temporary_media` row.
pub(crate) fn temporary(row: &impl Columns) -> Result<crate::TemporaryRecord> {
    Ok(crate::TemporaryRecord {
        media_id: row.text("media_id")?,
        appid: appid(row)?,
        kind: crate::MaterialKind::parse(&row.text("kind")?)
            .ok_or_else(|| corrupt("temporary material kind"))?,
        image: ImageId::from_hash(hash32(row, "image", "temporary material image id")?),
        format: ImageFormat::parse(&row.text("format")?)
            .ok_or_else(|| corrupt("temporary material format"))?,
        created_at: row.int("created_at")?,
    })
}

/// A `drafts` row.
pub(crate) fn draft(row: &impl Columns) -> Result<crate::articles::DraftRecord> {
    Ok(crate::articles::DraftRecord {
        media_id: row.text("media_id")?,
        appid: appid(row)?,
        articles: row.text("articles")?,
        cleaning: row.text("cleaning")?,
        version: row.int("version")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// A `publish_jobs` row.
pub(crate) fn publish_job(row: &impl Columns) -> Result<crate::articles::PublishJobRecord> {
    Ok(crate::articles::PublishJobRecord {
        publish_id: row.int("publish_id")?,
        appid: appid(row)?,
        media_id: row.text("media_id")?,
        msg_data_id: row.int("msg_data_id")?,
        articles: row.text("articles")?,
        cleaning: row.text("cleaning")?,
        submitted_at: row.int("submitted_at")?,
        due_at_ms: row.int("due_at_ms")?,
        outcome: row.int("outcome")?,
        fail_idx: row.text("fail_idx")?,
        article_id: row.text("article_id")?,
        status: row.int("status")?,
        finished_at: row.opt_int("finished_at")?,
    })
}

/// A `published_articles` row.
pub(crate) fn published(row: &impl Columns) -> Result<crate::articles::PublishedRecord> {
    Ok(crate::articles::PublishedRecord {
        article_id: row.text("article_id")?,
        idx: row.int("idx")?,
        appid: appid(row)?,
        publish_id: row.int("publish_id")?,
        url_id: row.text("url_id")?,
        article: row.text("article")?,
        published_at: row.int("published_at")?,
        deleted_at: row.opt_int("deleted_at")?,
    })
}

/// The `article_id` column of a listing.
pub(crate) fn article_id(row: &impl Columns) -> Result<String> {
    row.text("article_id")
}

/// A `total` count column.
pub(crate) fn total(row: &impl Columns) -> Result<u64> {
    fitting(row, "total", "count")
}

/// A `request_log` row.
pub(crate) fn request_log_entry(row: &impl Columns) -> Result<crate::request_log::RequestLogEntry> {
    Ok(crate::request_log::RequestLogEntry {
        rid: row.text("rid")?,
        appid: match row.opt_text("appid")? {
            None => None,
            Some(s) => Some(AppId::parse(&s).ok_or_else(|| corrupt("request_log appid"))?),
        },
        endpoint: row.text("endpoint")?,
        invoke_time: row.int("invoke_time")?,
        cost_in_ms: row.int("cost_in_ms")?,
        request_url: row.text("request_url")?,
        request_body: row.text("request_body")?,
        response_body: row.text("response_body")?,
        client_ip: row.text("client_ip")?,
    })
}
