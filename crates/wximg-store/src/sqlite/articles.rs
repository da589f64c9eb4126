//! [`ArticleStore`] on SQLite (see `crate::articles`). `postgres/articles.rs` is the same
//! SQL with `$N` parameters: keep the two in step.

use async_trait::async_trait;
use wximg_proto::AppId;

use super::SqliteMeta;
use crate::Result;
use crate::articles::{ArticleStore, DraftRecord, PublishJobRecord, PublishedRecord};
use crate::rows;

fn page(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl ArticleStore for SqliteMeta {
    async fn insert_draft(&self, d: &DraftRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO drafts (media_id, appid, articles, cleaning, version, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&d.media_id)
        .bind(d.appid.as_str())
        .bind(&d.articles)
        .bind(&d.cleaning)
        .bind(d.version)
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn draft(&self, appid: &AppId, media_id: &str) -> Result<Option<DraftRecord>> {
        let query = sqlx::query("SELECT * FROM drafts WHERE appid = ?1 AND media_id = ?2")
            .bind(appid.as_str())
            .bind(media_id);
        rows::one(query.fetch_optional(&self.pool).await?, rows::draft)
    }

    async fn update_draft(
        &self,
        appid: &AppId,
        media_id: &str,
        expected_version: i64,
        articles: &str,
        cleaning: &str,
        now: i64,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE drafts SET articles = ?1, cleaning = ?2, version = version + 1, \
             updated_at = ?3 WHERE appid = ?4 AND media_id = ?5 AND version = ?6",
        )
        .bind(articles)
        .bind(cleaning)
        .bind(now)
        .bind(appid.as_str())
        .bind(media_id)
        .bind(expected_version)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn delete_draft(&self, appid: &AppId, media_id: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM drafts WHERE appid = ?1 AND media_id = ?2")
            .bind(appid.as_str())
            .bind(media_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn drafts(&self, appid: &AppId, offset: u64, count: u64) -> Result<Vec<DraftRecord>> {
        let query = sqlx::query(
            "SELECT * FROM drafts WHERE appid = ?1 \
             ORDER BY updated_at DESC, media_id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(appid.as_str())
        .bind(page(count))
        .bind(page(offset));
        rows::all(query.fetch_all(&self.pool).await?, rows::draft)
    }

    async fn draft_count(&self, appid: &AppId) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS total FROM drafts WHERE appid = ?1")
            .bind(appid.as_str())
            .fetch_one(&self.pool)
            .await?;
        rows::total(&row)
    }

    async fn insert_publish_job(&self, j: &PublishJobRecord) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO publish_jobs (publish_id, appid, media_id, msg_data_id, articles, \
             cleaning, submitted_at, due_at_ms, outcome, fail_idx, article_id, status, \
             finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT DO NOTHING",
        )
        .bind(j.publish_id)
        .bind(j.appid.as_str())
        .bind(&j.media_id)
        .bind(j.msg_data_id)
        .bind(&j.articles)
        .bind(&j.cleaning)
        .bind(j.submitted_at)
        .bind(j.due_at_ms)
        .bind(j.outcome)
        .bind(&j.fail_idx)
        .bind(&j.article_id)
        .bind(j.status)
        .bind(j.finished_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn publishing_job(&self, appid: &AppId, media_id: &str) -> Result<Option<i64>> {
        let found = sqlx::query_scalar(
            "SELECT publish_id FROM publish_jobs \
             WHERE appid = ?1 AND media_id = ?2 AND status = 1",
        )
        .bind(appid.as_str())
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found)
    }

    async fn publish_job(&self, publish_id: i64) -> Result<Option<PublishJobRecord>> {
        let query =
            sqlx::query("SELECT * FROM publish_jobs WHERE publish_id = ?1").bind(publish_id);
        rows::one(query.fetch_optional(&self.pool).await?, rows::publish_job)
    }

    async fn due_publish_jobs(&self, now_ms: i64, limit: u32) -> Result<Vec<PublishJobRecord>> {
        let query = sqlx::query(
            "SELECT * FROM publish_jobs WHERE status = 1 AND due_at_ms <= ?1 \
             ORDER BY due_at_ms, publish_id LIMIT ?2",
        )
        .bind(now_ms)
        .bind(i64::from(limit));
        rows::all(query.fetch_all(&self.pool).await?, rows::publish_job)
    }

    async fn finish_publish_job(
        &self,
        publish_id: i64,
        status: i64,
        finished_at: i64,
        published: &[PublishedRecord],
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // The write first: it takes the lock, and it is the compare-and-swap.
        let job = rows::one(
            sqlx::query(
                "UPDATE publish_jobs SET status = ?1, finished_at = ?2 \
                 WHERE publish_id = ?3 AND status = 1 RETURNING *",
            )
            .bind(status)
            .bind(finished_at)
            .bind(publish_id)
            .fetch_optional(&mut *tx)
            .await?,
            rows::publish_job,
        )?;
        let Some(job) = job else {
            return Ok(false); // ended already; dropping tx rolls back nothing
        };
        if !published.is_empty() {
            for p in published {
                sqlx::query(
                    "INSERT INTO published_articles (article_id, idx, appid, publish_id, \
                     url_id, article, published_at, deleted_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .bind(&p.article_id)
                .bind(p.idx)
                .bind(p.appid.as_str())
                .bind(p.publish_id)
                .bind(&p.url_id)
                .bind(&p.article)
                .bind(p.published_at)
                .bind(p.deleted_at)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM drafts WHERE appid = ?1 AND media_id = ?2")
                .bind(job.appid.as_str())
                .bind(&job.media_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn published(&self, appid: &AppId, article_id: &str) -> Result<Vec<PublishedRecord>> {
        let query = sqlx::query(
            "SELECT * FROM published_articles WHERE appid = ?1 AND article_id = ?2 ORDER BY idx",
        )
        .bind(appid.as_str())
        .bind(article_id);
        rows::all(query.fetch_all(&self.pool).await?, rows::published)
    }

    async fn published_by_url(&self, url_id: &str) -> Result<Option<PublishedRecord>> {
        let query = sqlx::query("SELECT * FROM published_articles WHERE url_id = ?1").bind(url_id);
        rows::one(query.fetch_optional(&self.pool).await?, rows::published)
    }

    async fn published_ids(&self, appid: &AppId, offset: u64, count: u64) -> Result<Vec<String>> {
        let query = sqlx::query(
            "SELECT article_id, MAX(published_at) AS at FROM published_articles \
             WHERE appid = ?1 AND deleted_at IS NULL GROUP BY article_id \
             ORDER BY at DESC, article_id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(appid.as_str())
        .bind(page(count))
        .bind(page(offset));
        rows::all(query.fetch_all(&self.pool).await?, rows::article_id)
    }

    async fn published_count(&self, appid: &AppId) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT article_id) AS total FROM published_articles \
             WHERE appid = ?1 AND deleted_at IS NULL",
        )
        .bind(appid.as_str())
        .fetch_one(&self.pool)
        .await?;
        rows::total(&row)
    }

    async fn delete_published(
        &self,
        appid: &AppId,
        article_id: &str,
        idx: Option<i64>,
        now: i64,
    ) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE published_articles SET deleted_at = ?1 WHERE appid = ?2 AND article_id = ?3 \
             AND (?4 IS NULL OR idx = ?4) AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(appid.as_str())
        .bind(article_id)
        .bind(idx)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
