//! The article workflow's rows: drafts, publish jobs and published articles, each keyed
//! by account.
//!
//! Invariant: **every step of a draft's life is one transaction**, so no crash and no
//! second node sees half of one: a draft's articles are replaced whole and only if the
//! draft is still at the version its writer read ([`ArticleStore::update_draft`]); a
//! publish job ends exactly once ([`ArticleStore::finish_publish_job`] moves it out of
//! "publishing" with a compare-and-swap, and on success stores the published articles
//! and removes the draft in that same transaction); a draft has at most one job
//! publishing at a time (a unique index the insert of a second one runs into).
//!
//! The articles themselves are JSON documents the server owns (`wximg_proto::articles::
//! NewsItem`s), as platform records are: storage keeps them whole and never looks
//! inside. Next to each draft and job is its `cleaning` document: what the content
//! cleaning removed, for the developer (the debug page), never sent in an API answer.

use async_trait::async_trait;
use wximg_proto::AppId;

use crate::Result;

/// A draft in an account's draft box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftRecord {
    pub media_id: String,
    pub appid: AppId,
    /// A JSON array of the draft's articles.
    pub articles: String,
    /// A JSON array, one entry per article: what cleaning removed from it.
    pub cleaning: String,
    /// Bumped by every update (the compare-and-swap of [`ArticleStore::update_draft`]).
    pub version: i64,
    pub created_at: i64,
    /// `update_time`.
    pub updated_at: i64,
}

/// A `freepublish/submit`: publishing until its `due_at_ms`, then ended in `outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishJobRecord {
    /// The platform's numeric `publish_id` (sent as a string).
    pub publish_id: i64,
    pub appid: AppId,
    /// The draft it publishes.
    pub media_id: String,
    pub msg_data_id: i64,
    /// The draft's articles when it was submitted (what gets published).
    pub articles: String,
    pub cleaning: String,
    pub submitted_at: i64,
    /// Unix milliseconds from which the job may end (every node reads the same).
    pub due_at_ms: i64,
    /// The `publish_status` it ends in (decided at submit: 0, or a failure chosen by
    /// fault injection).
    pub outcome: i64,
    /// A JSON array of the failed article indexes (from 1) when it ends in a failure.
    pub fail_idx: String,
    /// The `article_id` it gets on success (chosen at submit, told only on success).
    pub article_id: String,
    /// 1 while publishing; `outcome` once ended.
    pub status: i64,
    pub finished_at: Option<i64>,
}

/// One published article (an item of a published message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRecord {
    pub article_id: String,
    /// From 1.
    pub idx: i64,
    pub appid: AppId,
    pub publish_id: i64,
    /// The id of its page, `/s/<url_id>`.
    pub url_id: String,
    /// The article, a JSON object.
    pub article: String,
    pub published_at: i64,
    /// When `freepublish/delete` removed it.
    pub deleted_at: Option<i64>,
}

/// Drafts, publish jobs and published articles (see the module docs).
#[async_trait]
pub trait ArticleStore {
    async fn insert_draft(&self, draft: &DraftRecord) -> Result<()>;
    async fn draft(&self, appid: &AppId, media_id: &str) -> Result<Option<DraftRecord>>;
    /// Replaces the draft's articles (and notes) if it is still at `expected_version`,
    /// bumping it; `false` if it is gone or another writer got there first.
    async fn update_draft(
        &self,
        appid: &AppId,
        media_id: &str,
        expected_version: i64,
        articles: &str,
        cleaning: &str,
        now: i64,
    ) -> Result<bool>;
    /// `false` if there was no such draft.
    async fn delete_draft(&self, appid: &AppId, media_id: &str) -> Result<bool>;
    /// One page of the account's drafts, last updated first.
    async fn drafts(&self, appid: &AppId, offset: u64, count: u64) -> Result<Vec<DraftRecord>>;
    async fn draft_count(&self, appid: &AppId) -> Result<u64>;

    /// Stores a new job; `false` if its `publish_id` is taken (the caller draws another)
    /// or its draft already has a job publishing ([`ArticleStore::publishing_job`] tells
    /// which): a unique index keeps that to one, atomically.
    async fn insert_publish_job(&self, job: &PublishJobRecord) -> Result<bool>;
    /// The `publish_id` of the job publishing draft `media_id` of `appid`, if one is.
    async fn publishing_job(&self, appid: &AppId, media_id: &str) -> Result<Option<i64>>;
    async fn publish_job(&self, publish_id: i64) -> Result<Option<PublishJobRecord>>;
    /// Jobs still publishing whose time has come, oldest first.
    async fn due_publish_jobs(&self, now_ms: i64, limit: u32) -> Result<Vec<PublishJobRecord>>;
    /// Ends a job, once: in one transaction, moves it from publishing to `status` and,
    /// when `published` is not empty (a success), stores those articles and removes the
    /// job's draft. `false` (and nothing changed) if it had ended already.
    async fn finish_publish_job(
        &self,
        publish_id: i64,
        status: i64,
        finished_at: i64,
        published: &[PublishedRecord],
    ) -> Result<bool>;

    /// The articles of a published message, by index (deleted ones too).
    async fn published(&self, appid: &AppId, article_id: &str) -> Result<Vec<PublishedRecord>>;
    /// The article whose page is `/s/<url_id>`.
    async fn published_by_url(&self, url_id: &str) -> Result<Option<PublishedRecord>>;
    /// One page of the account's published messages that still have an article, newest
    /// first: their `article_id`s.
    async fn published_ids(&self, appid: &AppId, offset: u64, count: u64) -> Result<Vec<String>>;
    /// How many published messages of the account still have an article.
    async fn published_count(&self, appid: &AppId) -> Result<u64>;
    /// Marks article `idx` (or, `None`, every article) of a published message deleted;
    /// returns how many were not deleted before.
    async fn delete_published(
        &self,
        appid: &AppId,
        article_id: &str,
        idx: Option<i64>,
        now: i64,
    ) -> Result<u64>;
}
