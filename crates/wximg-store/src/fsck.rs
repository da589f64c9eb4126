//! `fsck`: proves that storage keeps the promise "every acknowledged picture is served,
//! byte for byte", and finds what a crash may have left behind.
//!
//! (One file past 400 lines: half of it is the tests that damage storage on purpose.)
//!
//! It works only through the two storage traits ([`MetaStore`] and [`BlobStore`]), so the
//! same check runs on the embedded storage and on PostgreSQL + S3.
//!
//! What it looks at:
//! - **Every picture row must have its blob, and the blob must hash to the row's id** (the
//!   id *is* the BLAKE3 hash of the bytes) and be as long as the row says. A row without
//!   its blob is [`Problem::Missing`]; a blob with other bytes is [`Problem::Corrupt`].
//!   Either means an acknowledged picture is lost or damaged: fsck reports it and never
//!   "repairs" it, because the row is the proof of what was promised.
//! - **Blobs without a row are orphans.** The upload path stores the blob first and the
//!   row after it, so a crash (or a failed commit) between the two leaves a blob nobody
//!   was told about. They are harmless garbage; `repair` removes them.
//! - **Blobs marked for deletion** by a takedown (see `crate::takedown`) whose deletion a
//!   crash interrupted: no row points at them and uploads of those bytes are refused while
//!   the mark stays, so `repair` finishes the deletion (the blob, then the mark) at once.
//!
//! - **Every material row must name a picture row of its own account** (see
//!   `crate::material`): one that does not is a [`DanglingMaterial`], a material whose
//!   bytes are no longer promised anywhere. Never repaired either: it is reported.
//!
//! - **Pictures the articles show** (drafts and published articles, see
//!   `crate::articles`): each picture URL of this server in their content should name a
//!   picture row of the article's account. One that does not is a
//!   [`BrokenArticlePicture`]: the article shows a broken picture. A takedown does that on
//!   purpose (the picture was removed, the article was not), so these are reported, with
//!   the takedown that explains them, and do not make the check fail.
//!
//! Repair and running servers: a server that is storing a picture has its blob in place
//! a moment before its row. To not delete such a blob, [`check`] with `repair` waits
//! [`Options::grace`] (longer than a request may take), lists the rows again, and removes
//! only blobs that are still orphans, re-checking each row just before its delete. With no
//! server running, a grace of zero is safe.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use wximg_proto::ImageId;

use crate::{BlobStore, ImageRecord, Result, Storage};

/// How to run a check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Remove orphan blobs (never a blob that has a row).
    pub repair: bool,
    /// With `repair`: how long to wait before removing orphans, so uploads in flight can
    /// commit their rows. Make it longer than the server's request timeout (60 s) when a
    /// server may be running; zero when none is.
    pub grace: Duration,
    /// How many blobs to read and hash at once.
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repair: false,
            grace: Duration::from_secs(120),
            jobs: 4,
        }
    }
}

/// Something wrong with a picture that has a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The row exists but its blob does not: an acknowledged picture is lost.
    Missing { id: ImageId },
    /// The blob's bytes are not the ones the row promises.
    Corrupt { id: ImageId, reason: String },
}

impl Problem {
    pub fn id(&self) -> &ImageId {
        match self {
            Problem::Missing { id } | Problem::Corrupt { id, .. } => id,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { id } => write!(f, "missing blob for picture {id}"),
            Problem::Corrupt { id, reason } => write!(f, "corrupt blob for picture {id}: {reason}"),
        }
    }
}

/// A material row whose account has no row of its picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingMaterial {
    pub appid: wximg_proto::AppId,
    pub media_id: String,
    pub image: ImageId,
}

impl std::fmt::Display for DanglingMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "material {} of {} names picture {}, which has no row of that account",
            self.media_id, self.appid, self.image
        )
    }
}

/// A picture an article shows that is no longer stored for the article's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenArticlePicture {
    pub appid: wximg_proto::AppId,
    /// `draft MEDIA_ID` or `article ARTICLE_ID #IDX`.
    pub article: String,
    pub image: ImageId,
    /// Whether a takedown of the picture (for that account) explains it.
    pub taken_down: bool,
}

impl std::fmt::Display for BrokenArticlePicture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} shows picture {}, which is not stored for that account{}",
            self.article,
            self.appid,
            self.image,
            if self.taken_down { " (taken down)" } else { "" }
        )
    }
}

/// What a check found (and, with `repair`, did).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Picture rows looked at.
    pub rows: usize,
    /// Blobs found in the store.
    pub blobs: usize,
    /// Rows whose blob was read whole and hashed to the right id.
    pub verified: usize,
    /// Rows whose picture is lost or damaged.
    pub problems: Vec<Problem>,
    /// Blobs without a row that are still there after the check.
    pub orphans: Vec<ImageId>,
    /// Orphans removed by `repair`.
    pub removed: Vec<ImageId>,
    /// Blobs still marked for deletion by a takedown (one in flight, or interrupted).
    pub pending_deletions: Vec<ImageId>,
    /// Interrupted takedowns `repair` finished (blob and mark removed).
    pub finished_deletions: Vec<ImageId>,
    /// Material rows looked at.
    pub materials: usize,
    /// Materials without their picture row.
    pub dangling_materials: Vec<DanglingMaterial>,
    /// Drafts and published articles looked at.
    pub articles: usize,
    /// Pictures those articles show that are not stored (reported, not a failure).
    pub broken_article_pictures: Vec<BrokenArticlePicture>,
}

impl Report {
    /// Nothing wrong and nothing left to clean up: the exit status 0 of `wximg fsck`.
    pub fn is_clean(&self) -> bool {
        self.is_intact() && self.orphans.is_empty() && self.pending_deletions.is_empty()
    }

    /// No acknowledged picture is lost or damaged (orphans may remain).
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty() && self.dangling_materials.is_empty()
    }
}

/// Reads the blob of `id` whole and checks it against the row; `None` if it is right.
async fn verify(storage: &Storage, id: ImageId) -> Result<Option<Problem>> {
    let Some(record) = storage.meta.image(&id).await? else {
        // The row went away between the listing and now (a takedown): nothing is promised
        // for it any more.
        return Ok(None);
    };
    check_blob(storage.blobs.as_ref(), &record).await
}

/// Reads the blob of `record` whole and checks it against the row (its hash is the id,
/// its length the size); `None` if it is right.
pub async fn check_blob(blobs: &dyn BlobStore, record: &ImageRecord) -> Result<Option<Problem>> {
    let id = record.id;
    let Some(mut stream) = blobs.get(&id, None).await? else {
        return Ok(Some(Problem::Missing { id }));
    };
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                len += chunk.len() as u64;
                hasher.update(&chunk);
            }
            Err(e) => {
                return Ok(Some(Problem::Corrupt {
                    id,
                    reason: format!("unreadable after {len} bytes: {e}"),
                }));
            }
        }
    }
    let actual = ImageId::from_hash(*hasher.finalize().as_bytes());
    if actual != id {
        return Ok(Some(Problem::Corrupt {
            id,
            reason: format!("its {len} bytes hash to {actual}"),
        }));
    }
    if len != record.size {
        return Ok(Some(Problem::Corrupt {
            id,
            reason: format!("the row says {} bytes, the blob has {len}", record.size),
        }));
    }
    Ok(None)
}

/// Every material row against the picture rows: `(materials looked at, dangling ones)`.
/// Materials are listed before pictures (a material commits after its picture, so a
/// listed material's picture is in the later listing), and each suspect is looked at
/// again on its own, since a takedown may have removed both in between.
async fn check_materials(storage: &Storage) -> Result<(usize, Vec<DanglingMaterial>)> {
    let materials = storage.meta.all_materials().await?;
    let pictures: HashSet<(ImageId, wximg_proto::AppId)> = storage
        .meta
        .images()
        .await?
        .into_iter()
        .map(|row| (row.id, row.appid))
        .collect();
    let mut dangling = Vec::new();
    for m in &materials {
        if pictures.contains(&(m.image, m.appid.clone())) {
            continue;
        }
        let still = storage
            .meta
            .material(&m.appid, &m.media_id)
            .await?
            .is_some();
        let has_row = storage
            .meta
            .image_rows(&m.image)
            .await?
            .iter()
            .any(|row| row.appid == m.appid);
        if still && !has_row {
            dangling.push(DanglingMaterial {
                appid: m.appid.clone(),
                media_id: m.media_id.clone(),
                image: m.image,
            });
        }
    }
    Ok((materials.len(), dangling))
}

/// The ids of this server's pictures an article's content shows: every
/// `…mmbiz_<kind>/<id>/…` path (also `sz_mmbiz_…`), once each, in order. Cleaning left
/// only this server's pictures in stored content, so the host need not be looked at.
/// (A scan by hand: one fixed pattern does not justify a regex dependency in the store.)
pub fn article_picture_ids(content: &str) -> Vec<ImageId> {
    let mut ids = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.find("mmbiz_") {
        rest = &rest[at + "mmbiz_".len()..];
        let kind = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        let Some(after) = rest[kind..].strip_prefix('/') else {
            continue;
        };
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        if kind > 0
            && after[len..].starts_with('/')
            && let Some(id) = ImageId::parse(&after[..len])
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// The content fields of a JSON article (or array of articles), as stored.
fn contents(json: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|a| a.get("content").and_then(|c| c.as_str()).map(String::from))
            .collect(),
        Ok(one) => one
            .get("content")
            .and_then(|c| c.as_str())
            .map(String::from)
            .into_iter()
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every draft and published article against the picture rows: `(articles looked at,
/// broken pictures)`.
async fn check_articles(storage: &Storage) -> Result<(usize, Vec<BrokenArticlePicture>)> {
    let export = storage.meta.export().await?;
    let pictures: HashSet<(ImageId, wximg_proto::AppId)> = storage
        .meta
        .images()
        .await?
        .into_iter()
        .map(|row| (row.id, row.appid))
        .collect();
    let taken: HashSet<(ImageId, wximg_proto::AppId)> = export
        .takedowns
        .iter()
        .map(|t| (t.id, t.appid.clone()))
        .collect();
    let articles = export
        .drafts
        .iter()
        .map(|d| {
            (
                d.appid.clone(),
                format!("draft {}", d.media_id),
                &d.articles,
            )
        })
        .chain(
            export
                .published_articles
                .iter()
                .filter(|p| p.deleted_at.is_none())
                .map(|p| {
                    (
                        p.appid.clone(),
                        format!("article {} #{}", p.article_id, p.idx),
                        &p.article,
                    )
                }),
        )
        .collect::<Vec<_>>();
    let mut broken = Vec::new();
    for (appid, article, json) in &articles {
        for content in contents(json) {
            for image in article_picture_ids(&content) {
                let key = (image, appid.clone());
                if !pictures.contains(&key) {
                    broken.push(BrokenArticlePicture {
                        appid: appid.clone(),
                        article: article.clone(),
                        image,
                        taken_down: taken.contains(&key),
                    });
                }
            }
        }
    }
    Ok((articles.len(), broken))
}

/// Checks storage; with [`Options::repair`], removes orphan blobs. Errors are storage
/// failures that stopped the check (it then proves nothing); problems it found are in the
/// [`Report`].
pub async fn check(storage: &Storage, options: &Options) -> Result<Report> {
    // Blobs first, rows second: a picture stored during the check has its blob listed
    // only if its row (committed after the blob) can be listed too, so it is never taken
    // for an orphan merely because the two listings were taken at different moments.
    let blob_ids = storage.blobs.ids().await?;
    let row_ids = storage.meta.image_ids().await?;
    let rows: HashSet<ImageId> = row_ids.iter().copied().collect();
    let mut report = Report {
        rows: row_ids.len(),
        blobs: blob_ids.len(),
        ..Report::default()
    };

    let results: Vec<Option<Problem>> = futures_util::stream::iter(row_ids)
        .map(|id| verify(storage, id))
        .buffer_unordered(options.jobs.max(1))
        .try_collect()
        .await?;
    for result in results {
        match result {
            None => report.verified += 1,
            Some(problem) => report.problems.push(problem),
        }
    }
    report.problems.sort_by_key(|p| p.id().hex());
    let (materials, dangling) = check_materials(storage).await?;
    report.materials = materials;
    report.dangling_materials = dangling;
    let (articles, broken) = check_articles(storage).await?;
    report.articles = articles;
    report.broken_article_pictures = broken;

    let marked: HashSet<ImageId> = storage.meta.blob_deletions().await?.into_iter().collect();
    let mut orphans: Vec<ImageId> = blob_ids
        .into_iter()
        .filter(|id| !rows.contains(id) && !marked.contains(id))
        .collect();
    orphans.sort_by_key(ImageId::hex);
    let mut pending: Vec<ImageId> = marked.into_iter().collect();
    pending.sort_by_key(ImageId::hex);
    if options.repair {
        // No row can point at a marked blob (inserts are refused while the mark stays),
        // so no grace is needed; both steps are idempotent.
        let mut kept = Vec::new();
        for id in pending {
            match storage.finish_blob_deletion(&id).await {
                Ok(()) => report.finished_deletions.push(id),
                Err(e) => {
                    tracing::warn!(%id, error = %e, "could not finish a takedown's blob deletion");
                    kept.push(id);
                }
            }
        }
        pending = kept;
    }
    report.pending_deletions = pending;

    if options.repair && !orphans.is_empty() {
        if !options.grace.is_zero() {
            tokio::time::sleep(options.grace).await;
        }
        let rows_now: HashSet<ImageId> = storage.meta.image_ids().await?.into_iter().collect();
        let mut kept = Vec::new();
        for id in orphans {
            // Re-checked one by one, right before the delete, to keep the window in which
            // an upload of these very bytes could commit a row as small as it can be.
            if rows_now.contains(&id) || storage.meta.image(&id).await?.is_some() {
                continue; // it got its row: it is a picture now, not an orphan
            }
            match storage.blobs.delete(&id).await {
                Ok(()) => report.removed.push(id),
                Err(e) => {
                    tracing::warn!(%id, error = %e, "could not remove an orphan blob");
                    kept.push(id);
                }
            }
        }
        orphans = kept;
    }
    report.orphans = orphans;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_picture_ids_finds_this_servers_picture_paths_once_each() {
        let a = ImageId::of(b"a");
        let b = ImageId::of(b"b");
        let content = format!(
            r#"<img src="http://h/mmbiz_jpg/{a}/0?from=appmsg"><img data-src="https://h/sz_mmbiz_png/{b}/640?wx_fmt=png">
            <img src="http://h/mmbiz_jpg/{a}/0"> mmbiz_/x/ mmbiz_jpg/short/ mmbiz_png/{b}"#
        );
        assert_eq!(article_picture_ids(&content), vec![a, b]);
        assert!(article_picture_ids("<p>no pictures</p>").is_empty());
    }
    use crate::{ImageRecord, StorageConfig};
    use bytes::Bytes;
    use wximg_proto::{AppId, ImageFormat};

    async fn embedded(dir: &std::path::Path) -> Storage {
        crate::open(&StorageConfig {
            data_dir: dir.to_path_buf(),
            database_url: None,
            store: None,
        })
        .await
        .expect("open storage")
    }

    fn record(id: ImageId, size: u64) -> ImageRecord {
        ImageRecord {
            id,
            format: ImageFormat::Jpeg,
            size,
            width: 1,
            height: 1,
            appid: AppId::parse("wx0123456789abcdef").expect("appid"),
            created_at: 0,
        }
    }

    /// Stores a picture the way the upload path does: blob, then row.
    async fn picture(storage: &Storage, bytes: &'static [u8]) -> ImageId {
        let id = ImageId::of(bytes);
        storage
            .blobs
            .put(&id, Bytes::from_static(bytes))
            .await
            .expect("put");
        storage
            .meta
            .insert_image(&record(id, bytes.len() as u64))
            .await
            .expect("row");
        id
    }

    /// A check with repair and no grace (no server runs in these tests).
    async fn repair(storage: &Storage) -> Report {
        let options = Options {
            repair: true,
            ..now()
        };
        check(storage, &options).await.expect("check with repair")
    }

    /// Whether the blob of `id` is still stored.
    async fn has_blob(storage: &Storage, id: &ImageId) -> bool {
        storage.blobs.get(id, None).await.expect("get").is_some()
    }

    fn now() -> Options {
        Options {
            repair: false,
            grace: Duration::ZERO,
            jobs: 2,
        }
    }

    #[tokio::test]
    async fn clean_storage_is_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        let report = check(&storage, &now()).await.expect("check");
        assert!(report.is_clean());
        picture(&storage, b"one").await;
        picture(&storage, b"two").await;
        let report = check(&storage, &now()).await.expect("check");
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.rows, report.blobs, report.verified), (2, 2, 2));
    }

    #[tokio::test]
    async fn finds_missing_and_corrupt_blobs_and_never_repairs_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        let lost = picture(&storage, b"lost").await;
        let damaged = picture(&storage, b"damaged").await;
        let shortened = picture(&storage, b"row says more").await;
        let fine = picture(&storage, b"fine").await;
        storage.blobs.delete(&lost).await.expect("delete");
        let path = dir.path().join("blobs").join(damaged.shard_path());
        std::fs::write(&path, b"DAMAGED").expect("overwrite");
        // A row whose size disagrees with its (right) bytes.
        sqlx_size(dir.path(), &shortened, 999).await;

        let report = repair(&storage).await;
        assert!(!report.is_intact());
        assert_eq!(report.verified, 1);
        assert!(report.problems.contains(&Problem::Missing { id: lost }));
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::Corrupt { id, .. } if *id == damaged))
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::Corrupt { id, reason } if *id == shortened && reason.contains("999")))
        );
        assert!(report.removed.is_empty(), "rows' blobs are never removed");
        assert_eq!(std::fs::read(&path).expect("still there"), b"DAMAGED");
        assert!(has_blob(&storage, &fine).await);
    }

    /// Changes a row's size behind the traits' back (they offer no update).
    async fn sqlx_size(dir: &std::path::Path, id: &ImageId, size: i64) {
        let url = format!("sqlite://{}", dir.join("wximg.sqlite3").display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        sqlx::query("UPDATE images SET size = ? WHERE id = ?")
            .bind(size)
            .bind(&id.hash()[..])
            .execute(&pool)
            .await
            .expect("update");
        pool.close().await;
    }

    #[tokio::test]
    async fn repair_removes_orphans_and_only_orphans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        let kept = picture(&storage, b"kept").await;
        let orphan = ImageId::of(b"orphan");
        storage
            .blobs
            .put(&orphan, Bytes::from_static(b"orphan"))
            .await
            .expect("put");

        let report = check(&storage, &now()).await.expect("check");
        assert!(report.is_intact());
        assert!(!report.is_clean());
        assert_eq!(report.orphans, vec![orphan]);
        assert!(report.removed.is_empty(), "no repair without asking");
        assert!(has_blob(&storage, &orphan).await);

        let report = repair(&storage).await;
        assert_eq!(report.removed, vec![orphan]);
        assert!(report.is_clean(), "{report:?}");
        assert!(
            !has_blob(&storage, &orphan).await,
            "the orphan was not removed"
        );
        assert!(has_blob(&storage, &kept).await);
        assert!(check(&storage, &now()).await.expect("check").is_clean());
    }

    #[tokio::test]
    async fn repair_spares_an_orphan_whose_row_commits_during_the_grace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        let late = ImageId::of(b"late row");
        storage
            .blobs
            .put(&late, Bytes::from_static(b"late row"))
            .await
            .expect("put");
        let options = Options {
            repair: true,
            grace: Duration::from_millis(500),
            jobs: 2,
        };
        let (report, ()) = tokio::join!(check(&storage, &options), async {
            // An upload in flight: its row lands while fsck waits.
            tokio::time::sleep(Duration::from_millis(100)).await;
            storage
                .meta
                .insert_image(&record(late, 8))
                .await
                .expect("row");
        });
        let report = report.expect("check");
        assert!(report.removed.is_empty(), "{report:?}");
        assert!(report.orphans.is_empty());
        assert!(has_blob(&storage, &late).await);
    }
}
