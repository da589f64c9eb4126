//! Taking a picture down: its rows, then its blob, never a row without its blob.
//!
//! The invariant: **a picture row always has its blob**, through takedowns, crashes and
//! uploads of the same bytes racing them. It is kept by ordering and by one mark:
//!
//! 1. [`MetaStore::take_down`], one transaction serialized with every picture-row insert
//!    (SQLite has one writer; PostgreSQL takes `images` in SHARE ROW EXCLUSIVE mode, which
//!    waits for inserts in flight and holds new ones until the commit): the rows go, the
//!    audit log and the block list get theirs, the takedown generation is bumped, and if
//!    no other app's row points at the bytes, a *deletion mark* for the blob is written.
//! 2. The blob is deleted, then the mark removed ([`Storage::finish_blob_deletion`]).
//!
//! While the mark is there, every insert of a row for those bytes is refused
//! ([`StorageError::DeletionPending`], checked in the insert's own statement or
//! transaction). The upload then waits for the mark to go and puts the blob again
//! before retrying its row ([`Storage::store_picture`]): its first put may have found the
//! blob that step 2 removes, but a put after the mark is gone writes the bytes anew.
//!
//! A crash between 1 and 2 leaves an orphan blob and its mark: no row points at the
//! blob, so nothing is lost; `wximg fsck` reports the mark and `--repair` finishes the
//! deletion. Serving reads the row first, so the URL answers 404 from the commit of step
//! 1 on every node; each node's picture cache drops the id when it sees the generation
//! move (`wximg_server::takedowns`).

use std::time::Duration;

use wximg_proto::ImageId;

use crate::{Result, Storage, StorageError, TakedownOutcome, TakedownRequest};

/// How long an upload waits for a takedown of the same bytes to finish before answering
/// -1 (a takedown's blob delete takes milliseconds; a mark older than this was left by a
/// crash, and `wximg fsck --repair` finishes it).
pub const DELETION_WAIT: Duration = Duration::from_secs(5);

impl Storage {
    /// Takes a picture down (see the module docs): its rows in one transaction, then its
    /// blob if no app's row needs it any more. Returns once both are done; `removed` is
    /// empty when no row matched (and nothing changed).
    pub async fn take_down(&self, request: &TakedownRequest) -> Result<TakedownOutcome> {
        let outcome = self.meta.take_down(request).await?;
        if outcome.blob_removed {
            self.finish_blob_deletion(&request.id).await?;
        }
        Ok(outcome)
    }

    /// Step 2: deletes the blob marked for deletion, then its mark. Idempotent, so it also
    /// finishes a deletion a crash interrupted (`fsck --repair`).
    pub async fn finish_blob_deletion(&self, id: &ImageId) -> Result<()> {
        self.blobs.delete(id).await?;
        self.meta.finish_blob_deletion(id).await
    }

    /// Waits (up to [`DELETION_WAIT`]) until the blob of `id` is no longer marked for
    /// deletion.
    pub(crate) async fn wait_for_deletion(&self, id: &ImageId) -> Result<()> {
        let deadline = tokio::time::Instant::now() + DELETION_WAIT;
        while self.meta.blob_deletion_pending(id).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError::DeletionPending(*id));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageRecord, StorageConfig, fsck};
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

    fn app(n: u8) -> AppId {
        AppId::parse(&format!("wx{:016x}", n)).expect("appid")
    }

    fn row(bytes: &[u8], appid: AppId, at: i64) -> ImageRecord {
        ImageRecord {
            id: ImageId::of(bytes),
            format: ImageFormat::Png,
            size: bytes.len() as u64,
            width: 1,
            height: 1,
            appid,
            created_at: at,
        }
    }

    fn request(id: ImageId, appid: Option<AppId>, block: bool) -> TakedownRequest {
        TakedownRequest {
            id,
            appid,
            reason: "test".into(),
            by: "tester".into(),
            block,
            at: 100,
        }
    }

    async fn has_blob(storage: &Storage, id: &ImageId) -> bool {
        storage.blobs.get(id, None).await.expect("get").is_some()
    }

    const BYTES: &[u8] = b"shared bytes";

    #[tokio::test]
    async fn shared_bytes_stay_until_the_last_row_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        let (a, b) = (app(1), app(2));
        for (appid, at) in [(a.clone(), 1), (b.clone(), 2)] {
            storage
                .store_picture(&row(BYTES, appid, at), Bytes::from_static(BYTES))
                .await
                .expect("store");
        }
        let id = ImageId::of(BYTES);
        assert_eq!(storage.meta.image_rows(&id).await.expect("rows").len(), 2);

        let one = storage
            .take_down(&request(id, Some(a.clone()), false))
            .await
            .expect("take down");
        assert_eq!(one.removed.len(), 1);
        assert_eq!(one.remaining, vec![b.clone()]);
        assert!(!one.blob_removed, "b's row still points at the bytes");
        assert!(has_blob(&storage, &id).await);
        assert_eq!(
            storage.meta.image(&id).await.expect("row").map(|r| r.appid),
            Some(b)
        );

        let last = storage
            .take_down(&request(id, None, false))
            .await
            .expect("take down");
        assert!(last.blob_removed && last.remaining.is_empty());
        assert!(
            !has_blob(&storage, &id).await,
            "the blob went with the last row"
        );
        assert!(storage.meta.image(&id).await.expect("row").is_none());
        assert_eq!(storage.meta.takedown_generation().await.expect("gen"), 2);
        let log = storage.meta.takedowns(None, 10).await.expect("log");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].generation, 2, "newest first");
        assert!(
            fsck::check(&storage, &fsck::Options::default())
                .await
                .expect("fsck")
                .is_clean()
        );

        // Nothing to take down: nothing changes.
        let none = storage
            .take_down(&request(id, None, false))
            .await
            .expect("noop");
        assert!(none.removed.is_empty());
        assert_eq!(storage.meta.takedown_generation().await.expect("gen"), 2);
    }

    #[tokio::test]
    async fn blocked_bytes_are_refused_and_others_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        storage
            .store_picture(&row(BYTES, app(1), 1), Bytes::from_static(BYTES))
            .await
            .expect("store");
        let id = ImageId::of(BYTES);
        storage
            .take_down(&request(id, None, true))
            .await
            .expect("block");
        let again = storage
            .store_picture(&row(BYTES, app(2), 2), Bytes::from_static(BYTES))
            .await;
        assert!(
            matches!(again, Err(StorageError::Blocked(got)) if got == id),
            "{again:?}"
        );
        assert!(storage.meta.image(&id).await.expect("row").is_none());
        assert!(storage.meta.blocked(&id).await.expect("blocked").is_some());
        assert!(
            !has_blob(&storage, &id).await,
            "a refused upload leaves no orphan"
        );
        storage
            .store_picture(&row(b"other", app(2), 3), Bytes::from_static(b"other"))
            .await
            .expect("other bytes are fine");
    }

    /// A crash between the rows' commit and the blob's delete: fsck reports it, uploads of
    /// those bytes wait and then fail (-1), `fsck --repair` finishes it, and uploads work.
    #[tokio::test]
    async fn an_interrupted_takedown_leaves_an_orphan_that_fsck_finishes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        storage
            .store_picture(&row(BYTES, app(1), 1), Bytes::from_static(BYTES))
            .await
            .expect("store");
        let id = ImageId::of(BYTES);
        // Step 1 only, as if the process died right after its commit.
        let half = storage
            .meta
            .take_down(&request(id, None, false))
            .await
            .expect("rows");
        assert!(half.blob_removed);
        assert!(has_blob(&storage, &id).await, "the orphan is there");

        let report = fsck::check(
            &storage,
            &fsck::Options {
                repair: false,
                ..Default::default()
            },
        )
        .await
        .expect("fsck");
        assert!(report.is_intact() && !report.is_clean());
        assert_eq!(report.pending_deletions, vec![id]);
        assert!(
            report.orphans.is_empty(),
            "reported as a deletion, not twice"
        );

        let refused = storage
            .store_picture(&row(BYTES, app(2), 2), Bytes::from_static(BYTES))
            .await;
        assert!(
            matches!(refused, Err(StorageError::DeletionPending(_))),
            "{refused:?}"
        );

        let options = fsck::Options {
            repair: true,
            grace: Duration::ZERO,
            jobs: 1,
        };
        let repaired = fsck::check(&storage, &options).await.expect("repair");
        assert_eq!(repaired.finished_deletions, vec![id]);
        assert!(repaired.is_clean(), "{repaired:?}");
        assert!(!has_blob(&storage, &id).await);

        storage
            .store_picture(&row(BYTES, app(2), 3), Bytes::from_static(BYTES))
            .await
            .expect("uploads of the bytes work again");
        assert!(
            has_blob(&storage, &id).await,
            "and the blob is written anew"
        );
    }

    /// An upload of the same bytes while a takedown deletes them: the upload waits for
    /// the mark to go, then writes the blob again, so its row never lacks its bytes.
    #[tokio::test]
    async fn an_upload_racing_a_takedown_rewrites_the_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = embedded(dir.path()).await;
        storage
            .store_picture(&row(BYTES, app(1), 1), Bytes::from_static(BYTES))
            .await
            .expect("store");
        let id = ImageId::of(BYTES);
        storage
            .meta
            .take_down(&request(id, None, false))
            .await
            .expect("rows");
        let finisher = {
            let storage = storage.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                storage.finish_blob_deletion(&id).await
            })
        };
        storage
            .store_picture(&row(BYTES, app(2), 2), Bytes::from_static(BYTES))
            .await
            .expect("waits, then stores");
        finisher.await.expect("join").expect("finish");
        assert!(storage.meta.image(&id).await.expect("row").is_some());
        assert!(has_blob(&storage, &id).await, "the row has its blob");
        assert!(
            fsck::check(&storage, &fsck::Options::default())
                .await
                .expect("fsck")
                .is_clean()
        );
    }
}
