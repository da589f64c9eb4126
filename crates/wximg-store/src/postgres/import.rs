//! `wximg migrate`'s way in: every row of an [`Export`] stored unless its key is here
//! already. **Nothing is overwritten** (`ON CONFLICT DO NOTHING`), so a scale-out
//! deployment that already runs keeps its own newer state, and a second run copies
//! only what the first did not.

use super::{PostgresMeta, insert_token};
use crate::articles::{ArticleStore, DraftRecord, PublishedRecord};
use crate::transfer::Tally;
use crate::{
    AppRecord, BlockedRecord, CallCount, Export, Result, StableState, StoredRecord, TakedownRecord,
    TokenRecord,
};

impl PostgresMeta {
    /// `wximg migrate`: stores every row of `rows` whose key is not here yet, and counts
    /// them. **Nothing is overwritten** (`ON CONFLICT DO NOTHING`): a scale-out deployment
    /// that already runs keeps its own newer state (e.g. a stable token it has rotated
    /// since). Picture rows are not in an [`Export`]: they go in after their blobs.
    pub async fn import(&self, rows: &Export) -> Result<Imported> {
        let mut imported = Imported::default();
        for app in &rows.apps {
            imported.apps.add(self.import_app(app).await?);
        }
        for token in &rows.tokens {
            imported.tokens.add(self.import_token(token).await?);
        }
        for state in &rows.stable_states {
            imported
                .stable_states
                .add(self.import_stable_state(state).await?);
        }
        for record in &rows.records {
            imported.records.add(self.import_record(record).await?);
        }
        for count in &rows.call_counts {
            imported
                .call_counts
                .add(self.import_call_count(count).await?);
        }
        for blocked in &rows.blocked {
            imported.blocked.add(self.import_blocked(blocked).await?);
        }
        if !rows.takedowns.is_empty() {
            // The audit log is history: its rows join this deployment's under one new
            // generation (nodes here never cached the source's pictures).
            let generation: i64 = sqlx::query_scalar(
                "UPDATE takedown_generation SET generation = generation + 1 WHERE one = 1 \
                 RETURNING generation",
            )
            .fetch_one(&self.pool)
            .await?;
            for takedown in &rows.takedowns {
                imported
                    .takedowns
                    .add(self.import_takedown(takedown, generation).await?);
            }
        }
        for draft in &rows.drafts {
            imported.drafts.add(self.import_draft(draft).await?);
        }
        for job in &rows.publish_jobs {
            imported
                .publish_jobs
                .add(self.insert_publish_job(job).await?);
        }
        for article in &rows.published_articles {
            imported
                .published_articles
                .add(self.import_published(article).await?);
        }
        Ok(imported)
    }

    /// A draft, unless its media_id is here already.
    async fn import_draft(&self, d: &DraftRecord) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO drafts (media_id, appid, articles, cleaning, version, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (media_id) DO NOTHING",
        )
        .bind(&d.media_id)
        .bind(d.appid.as_str())
        .bind(&d.articles)
        .bind(&d.cleaning)
        .bind(d.version)
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// A published article, unless (article_id, idx) is here already.
    async fn import_published(&self, p: &PublishedRecord) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO published_articles (article_id, idx, appid, publish_id, url_id, \
             article, published_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&p.article_id)
        .bind(p.idx)
        .bind(p.appid.as_str())
        .bind(p.publish_id)
        .bind(&p.url_id)
        .bind(&p.article)
        .bind(p.published_at)
        .bind(p.deleted_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// A blocked hash, unless it is blocked here already.
    async fn import_blocked(&self, b: &BlockedRecord) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO blocked_images (id, blocked_at, reason, blocked_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&b.id.hash()[..])
        .bind(b.blocked_at)
        .bind(&b.reason)
        .bind(&b.blocked_by)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// An audit entry, unless the same one (picture, account, time, reason, by) is here.
    async fn import_takedown(&self, t: &TakedownRecord, generation: i64) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO takedowns (generation, id, appid, format, size, taken_at, reason, \
             taken_by, blocked) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE NOT EXISTS (SELECT 1 FROM takedowns WHERE id = $2 AND appid = $3 \
             AND taken_at = $6 AND reason = $7 AND taken_by = $8)",
        )
        .bind(generation)
        .bind(&t.id.hash()[..])
        .bind(t.appid.as_str())
        .bind(t.format.as_str())
        .bind(i64::try_from(t.size).map_err(|_| crate::rows::corrupt("image size"))?)
        .bind(t.taken_at)
        .bind(&t.reason)
        .bind(&t.taken_by)
        .bind(i64::from(t.blocked))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn import_app(&self, app: &AppRecord) -> Result<bool> {
        Ok(self.insert_app_row(app, true).await? == 1)
    }

    /// A token row as it is (ended or not), unless its hash is known.
    async fn import_token(&self, t: &TokenRecord) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        Ok(insert_token(&mut conn, t).await? == 1)
    }

    /// An app's stable-token state, unless the app has one already.
    async fn import_stable_state(&self, state: &StableState) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO stable_tokens (appid, generation, nonce, token_hash, issued_at, expires_at, \
             last_force_at, force_day, force_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (appid) DO NOTHING",
        )
        .bind(state.appid.as_str())
        .bind(state.generation)
        .bind(&state.nonce[..])
        .bind(&state.token_hash[..])
        .bind(state.issued_at)
        .bind(state.expires_at)
        .bind(state.last_force_at)
        .bind(state.force_day)
        .bind(state.force_count)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn import_record(&self, r: &StoredRecord) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO platform_records (key, value, version, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&r.key)
        .bind(&r.record.value)
        .bind(r.record.version)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn import_call_count(&self, c: &CallCount) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO call_counts (appid, api, day, day_count, minute, minute_count) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appid, api) DO NOTHING",
        )
        .bind(c.appid.as_str())
        .bind(&c.api)
        .bind(c.day)
        .bind(c.day_count)
        .bind(c.minute)
        .bind(c.minute_count)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}

/// What [`PostgresMeta::import`] stored, and what was there already, per kind of row.
#[derive(Debug, Default, Clone, Copy)]
pub struct Imported {
    pub apps: Tally,
    pub tokens: Tally,
    pub stable_states: Tally,
    pub records: Tally,
    pub call_counts: Tally,
    pub takedowns: Tally,
    pub blocked: Tally,
    pub drafts: Tally,
    pub publish_jobs: Tally,
    pub published_articles: Tally,
}
