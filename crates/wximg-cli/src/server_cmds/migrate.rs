//! `wximg migrate --from DATA_DIR --to-database postgres://… --to-store s3://…`: copies an
//! embedded deployment (SQLite + picture files) into a scale-out one (PostgreSQL + S3).
//!
//! What is copied, in this order:
//! 1. apps, 2. token rows (ended and expired ones too, so old tokens keep answering
//!    40001/42001 as before), 3. stable-token states, 4. platform records (whitelists,
//!    quota limits, third-party platform state) and quota counters, when the source has
//!    them, 5. pictures: blob, then row.
//!
//! The rules that make it safe to run at any time, any number of times:
//! - **Nothing is overwritten.** Every row is inserted with `ON CONFLICT DO NOTHING`; a
//!   scale-out deployment that already runs keeps its own newer state (e.g. a stable token
//!   it has rotated since).
//! - **Every blob is verified by its BLAKE3 hash twice**: the local file must hash to its
//!   name (the picture id) before it is sent, and the copy read back from S3 must hash to
//!   the same before its row is written.
//! - **A picture's row is written only after its blob is stored and verified**, so the
//!   target never has a row without its bytes, and an interrupted run resumes by
//!   skipping exactly the pictures whose rows exist.
//! - **The source is only read**: the SQLite file is opened read-only and the blob files
//!   are read directly, so a server may keep running on the data directory meanwhile
//!   (what it accepts after the copy started is picked up by running `migrate` again).
//!
//! The exit status is 0 only when everything was copied or already there.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use wximg_proto::{AppId, AppType, ImageFormat, ImageId};
use wximg_store::postgres::PostgresMeta;
use wximg_store::s3::S3Blobs;
use wximg_store::{
    AppRecord, BlobStore, ImageRecord, MetaStore, StableState, TokenKind, TokenRecord,
};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Data directory of the embedded deployment to copy from (holds wximg.sqlite3 and blobs/).
    #[arg(long, value_name = "DATA_DIR")]
    pub from: PathBuf,
    /// PostgreSQL to copy into (postgres://user:password@host:port/database).
    #[arg(
        long,
        value_name = "URL",
        env = "WXIMG_DATABASE_URL",
        hide_env_values = true
    )]
    pub to_database: String,
    /// S3-compatible store to copy the pictures into (s3://bucket?endpoint=…&region=…).
    #[arg(long, value_name = "URL", env = "WXIMG_STORE")]
    pub to_store: String,
    /// How many pictures to copy at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
}

/// Counts of one kind of thing.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    copied: u64,
    present: u64,
    failed: u64,
}

impl Tally {
    fn add(&mut self, copied: bool) {
        if copied {
            self.copied += 1;
        } else {
            self.present += 1;
        }
    }

    fn line(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} copied, {} already there",
            self.copied, self.present
        );
        if self.failed > 0 {
            s.push_str(&format!(", {} FAILED", self.failed));
        }
        s
    }
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let source = open_source(&args.from).await?;
    let meta = PostgresMeta::open(&args.to_database).await?;
    let blobs = Arc::new(S3Blobs::open(&args.to_store).await?);

    let mut apps = Tally::default();
    for app in read_apps(&source).await? {
        apps.add(meta.import_app(&app).await?);
    }
    println!("{}", apps.line("apps"));

    let mut tokens = Tally::default();
    for token in read_tokens(&source).await? {
        tokens.add(meta.import_token(&token).await?);
    }
    println!("{}", tokens.line("tokens"));

    let mut stable = Tally::default();
    for state in read_stable_states(&source).await? {
        stable.add(meta.import_stable_state(&state).await?);
    }
    println!("{}", stable.line("stable-token states"));

    // Platform records (whitelists, quota limits, third-party platform state) and today's
    // call counts, where the source has them (data directories from before they existed
    // have neither table).
    if has_table(&source, "platform_records").await? {
        let mut records = Tally::default();
        let rows = sqlx::query("SELECT key, value, version, expires_at FROM platform_records")
            .fetch_all(&source)
            .await?;
        for row in &rows {
            let inserted = sqlx::query(
                "INSERT INTO platform_records (key, value, version, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
            )
            .bind(row.try_get::<String, _>("key")?)
            .bind(row.try_get::<String, _>("value")?)
            .bind(row.try_get::<i64, _>("version")?)
            .bind(row.try_get::<Option<i64>, _>("expires_at")?)
            .execute(meta.pool())
            .await?
            .rows_affected();
            records.add(inserted == 1);
        }
        println!("{}", records.line("platform records"));
    }
    if has_table(&source, "call_counts").await? {
        let mut counts = Tally::default();
        let rows =
            sqlx::query("SELECT appid, api, day, day_count, minute, minute_count FROM call_counts")
                .fetch_all(&source)
                .await?;
        for row in &rows {
            let inserted = sqlx::query(
                "INSERT INTO call_counts (appid, api, day, day_count, minute, minute_count) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appid, api) DO NOTHING",
            )
            .bind(row.try_get::<String, _>("appid")?)
            .bind(row.try_get::<String, _>("api")?)
            .bind(row.try_get::<i64, _>("day")?)
            .bind(row.try_get::<i64, _>("day_count")?)
            .bind(row.try_get::<i64, _>("minute")?)
            .bind(row.try_get::<i64, _>("minute_count")?)
            .execute(meta.pool())
            .await?
            .rows_affected();
            counts.add(inserted == 1);
        }
        println!("{}", counts.line("quota counters"));
    }

    let images = read_images(&source).await?;
    let total = images.len();
    let blob_dir = args.from.join("blobs");
    let meta = Arc::new(meta);
    let results: Vec<(ImageId, Result<bool, String>)> = futures_util::stream::iter(images)
        .map(|image| {
            let (meta, blobs, blob_dir) = (meta.clone(), blobs.clone(), blob_dir.clone());
            async move {
                let id = image.id;
                (id, copy_picture(&meta, &blobs, &blob_dir, image).await)
            }
        })
        .buffer_unordered(args.jobs.max(1))
        .collect()
        .await;
    let mut pictures = Tally::default();
    for (id, result) in results {
        match result {
            Ok(copied) => pictures.add(copied),
            Err(why) => {
                pictures.failed += 1;
                eprintln!("wximg migrate: picture {}: {why}", id.hex());
            }
        }
    }
    println!("{} (of {total})", pictures.line("pictures"));

    if pictures.failed > 0 {
        eprintln!(
            "wximg migrate: {} picture(s) not copied; their rows were not written. \
             Fix the cause (`wximg fsck` for the source) and run migrate again: \
             it resumes where it stopped.",
            pictures.failed
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies one picture: `Ok(false)` if its row is in the target already.
async fn copy_picture(
    meta: &PostgresMeta,
    blobs: &S3Blobs,
    blob_dir: &Path,
    image: ImageRecord,
) -> Result<bool, String> {
    let id = image.id;
    if meta
        .image(&id)
        .await
        .map_err(|e| format!("target lookup: {e}"))?
        .is_some()
    {
        return Ok(false);
    }
    let hex = id.hex();
    let path = blob_dir.join(&hex[..2]).join(&hex);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if ImageId::of(&bytes) != id {
        return Err(format!(
            "{} does not hash to its name (BLAKE3 mismatch): the source is damaged",
            path.display()
        ));
    }
    if bytes.len() as u64 != image.size {
        return Err(format!(
            "{} has {} bytes, its row says {}",
            path.display(),
            bytes.len(),
            image.size
        ));
    }
    blobs
        .put(&id, Bytes::from(bytes))
        .await
        .map_err(|e| format!("upload: {e}"))?;
    // Read the stored copy back and hash it as it streams in.
    let stream = blobs
        .get(&id, None)
        .await
        .map_err(|e| format!("read back: {e}"))?
        .ok_or("read back: the object is missing right after it was stored")?;
    let hasher = stream
        .try_fold(blake3::Hasher::new(), |mut h, chunk| async move {
            h.update(&chunk);
            Ok(h)
        })
        .await
        .map_err(|e| format!("read back: {e}"))?;
    if hasher.finalize().as_bytes() != id.hash() {
        return Err("the copy in S3 does not hash to the picture's id (BLAKE3 mismatch)".into());
    }
    meta.insert_image(&image)
        .await
        .map_err(|e| format!("target row: {e}"))?;
    Ok(true)
}

/// Whether the source database has `table` (older data directories lack later tables).
async fn has_table(pool: &SqlitePool, table: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// Opens the source database read-only; it must exist.
async fn open_source(dir: &Path) -> anyhow::Result<SqlitePool> {
    let file = dir.join("wximg.sqlite3");
    if !file.is_file() {
        bail!(
            "{} is not a wximg data directory (no wximg.sqlite3 in it)",
            dir.display()
        );
    }
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open {}", file.display()))
}

fn bad(what: &str) -> anyhow::Error {
    anyhow::anyhow!("malformed {what} in the source database")
}

fn hash32(v: Vec<u8>, what: &str) -> anyhow::Result<[u8; 32]> {
    v.try_into().map_err(|_| bad(what))
}

fn appid(row: &SqliteRow) -> anyhow::Result<AppId> {
    let s: String = row.try_get("appid")?;
    AppId::parse(&s).ok_or_else(|| bad("appid"))
}

async fn read_apps(pool: &SqlitePool) -> anyhow::Result<Vec<AppRecord>> {
    let rows = sqlx::query("SELECT * FROM apps ORDER BY created_at, appid")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let app_type: String = row.try_get("app_type")?;
            Ok(AppRecord {
                appid: appid(row)?,
                app_type: AppType::parse(&app_type).ok_or_else(|| bad("app type"))?,
                name: row.try_get("name")?,
                secret_hash: hash32(row.try_get("secret_hash")?, "secret hash")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

async fn read_tokens(pool: &SqlitePool) -> anyhow::Result<Vec<TokenRecord>> {
    let rows = sqlx::query("SELECT * FROM tokens ORDER BY issued_at")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(TokenRecord {
                hash: hash32(row.try_get("hash")?, "token hash")?,
                appid: appid(row)?,
                kind: TokenKind::parse(&kind).ok_or_else(|| bad("token kind"))?,
                issued_at: row.try_get("issued_at")?,
                expires_at: row.try_get("expires_at")?,
                ended_at: row.try_get("ended_at")?,
            })
        })
        .collect()
}

async fn read_stable_states(pool: &SqlitePool) -> anyhow::Result<Vec<StableState>> {
    let rows = sqlx::query("SELECT * FROM stable_tokens")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StableState {
                appid: appid(row)?,
                generation: row.try_get("generation")?,
                nonce: hash32(row.try_get("nonce")?, "nonce")?,
                token_hash: hash32(row.try_get("token_hash")?, "token hash")?,
                issued_at: row.try_get("issued_at")?,
                expires_at: row.try_get("expires_at")?,
                last_force_at: row.try_get("last_force_at")?,
                force_day: row.try_get("force_day")?,
                force_count: row.try_get("force_count")?,
            })
        })
        .collect()
}

async fn read_images(pool: &SqlitePool) -> anyhow::Result<Vec<ImageRecord>> {
    let rows = sqlx::query("SELECT * FROM images ORDER BY created_at")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let format: String = row.try_get("format")?;
            let size: i64 = row.try_get("size")?;
            let width: i64 = row.try_get("width")?;
            let height: i64 = row.try_get("height")?;
            Ok(ImageRecord {
                id: ImageId::from_hash(hash32(row.try_get("id")?, "image id")?),
                format: ImageFormat::parse(&format).ok_or_else(|| bad("image format"))?,
                size: u64::try_from(size).map_err(|_| bad("image size"))?,
                width: u32::try_from(width).map_err(|_| bad("image width"))?,
                height: u32::try_from(height).map_err(|_| bad("image height"))?,
                appid: appid(row)?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
