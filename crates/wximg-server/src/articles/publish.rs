//! Publish jobs: `freepublish/submit` makes one, it publishes for the configured delay
//! (`--publish-delay`, [`DEFAULT_DELAY`]), then it ends — in success, or in the failure
//! fault injection chose at submit (`--publish-faults`, `X-Wximg-Publish-Status`).
//!
//! Invariant: **a job ends exactly once, and nothing of its end is lost.** When it may end
//! is stored (`due_at_ms`), so every node agrees on it; whoever comes first ends it — the
//! finisher task every node runs ([`spawn_finisher`]), or a `freepublish/get` that finds it
//! due ([`status`]) — through [`finish`]: the job's event is queued first
//! (`crate::events::enqueue_publish_job_finish`, idempotent per publish_id), then one
//! transaction moves the job out of "publishing" by compare-and-swap and, on success,
//! stores the published articles and removes the draft from the draft box. A crash between
//! the two re-sends the event rather than losing it; everything a retry needs (the
//! article_id, the pages' ids) was fixed at submit or is derived from it, so it sends the
//! same event.

use std::time::Duration;

use wximg_proto::ErrCode;
use wximg_proto::articles::{
    ArticleDetail, ArticleUrl, NewsItem, PublishStatus, PublishStatusOk, SubmitOk,
};
use wximg_store::{AppRecord, PublishJobRecord, PublishedRecord};

use super::{articles_of, random_id, to_json};
use crate::error::ApiError;
use crate::events::{PublishJobFinish, enqueue_publish_job_finish};
use crate::platform::faults;
use crate::state::AppState;

/// How long a job publishes unless `--publish-delay` says otherwise.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(1500);

/// How often each node looks for jobs to end.
pub const FINISH_INTERVAL: Duration = Duration::from_millis(250);

/// The smallest and largest publish_id / msg_data_id (the platform's are 10-digit
/// numbers of this range).
const ID_RANGE: std::ops::RangeInclusive<i64> = 2_247_483_648..=4_294_967_295;

/// The page of article `idx` (from 1) of published message `article_id`: derived, so a
/// retried finish names the same pages.
pub fn url_id(article_id: &str, idx: i64) -> String {
    let hash = blake3::hash(format!("wximg article page\0{article_id}\0{idx}").as_bytes());
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &hash.as_bytes()[..16],
    )
}

/// `{public_url}/s/<url_id>`.
pub fn page_url(state: &AppState, url_id: &str) -> String {
    format!("{}/s/{url_id}", state.public_url)
}

fn delay(state: &AppState) -> i64 {
    let d = state.platform.publish_delay.unwrap_or(DEFAULT_DELAY);
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `freepublish/submit` of the account's draft `media_id` (40007 if it has none such).
pub async fn submit(
    state: &AppState,
    app: &AppRecord,
    media_id: &str,
    headers: &axum::http::HeaderMap,
) -> Result<SubmitOk, ApiError> {
    let meta = state.storage.meta.as_ref();
    let Some(draft) = meta.draft(&app.appid, media_id).await? else {
        return Err(ApiError::detail(
            ErrCode::InvalidMediaId,
            format!("{} has no draft {media_id:?}", app.appid),
        ));
    };
    refuse_while_publishing(state, app, media_id).await?;
    let count = articles_of(&draft)?.len() as i64;
    let outcome = faults::publish_outcome(&state.platform, headers);
    let fail_idx: Vec<i64> = if outcome.names_failed_articles() {
        (1..=count).collect()
    } else {
        Vec::new()
    };
    let now = state.clock.now();
    for _ in 0..8 {
        let publish_id = rand::random_range(ID_RANGE);
        let job = PublishJobRecord {
            publish_id,
            appid: app.appid.clone(),
            media_id: media_id.to_string(),
            msg_data_id: publish_id,
            articles: draft.articles.clone(),
            cleaning: draft.cleaning.clone(),
            submitted_at: now,
            due_at_ms: state.clock.now_ms().saturating_add(delay(state)),
            outcome: outcome.code(),
            fail_idx: to_json(&fail_idx)?,
            article_id: random_id(32),
            status: PublishStatus::Publishing.code(),
            finished_at: None,
        };
        if !meta.insert_publish_job(&job).await? {
            // Taken: the publish_id (draw another), or the draft by a submit just now.
            refuse_while_publishing(state, app, media_id).await?;
            continue;
        }
        tracing::info!(appid = %app.appid, media_id, publish_id, outcome = outcome.code(), "publish job submitted");
        return Ok(SubmitOk {
            errcode: 0,
            errmsg: "ok".into(),
            publish_id: publish_id.to_string(),
            msg_data_id: publish_id,
        });
    }
    Err(ApiError::detail(
        ErrCode::SystemError,
        "no free publish_id after 8 draws",
    ))
}

/// 40007 while draft `media_id` has a job publishing: one job publishes a draft at a
/// time, and an edit or a deletion then would be answered 0 and lost (the job publishes
/// what it took at submit, then removes the draft).
pub async fn refuse_while_publishing(
    state: &AppState,
    app: &AppRecord,
    media_id: &str,
) -> Result<(), ApiError> {
    match state
        .storage
        .meta
        .publishing_job(&app.appid, media_id)
        .await?
    {
        Some(publish_id) => Err(ApiError::detail(
            ErrCode::InvalidMediaId,
            format!(
                "draft {media_id:?} is being published (publish_id {publish_id}): it cannot \
                 be submitted, updated or deleted until freepublish/get says that job ended"
            ),
        )),
        None => Ok(()),
    }
}

/// Ends `job` if it is still publishing (see the module docs). `Ok(false)`: another node
/// or request ended it first.
pub async fn finish(state: &AppState, job: &PublishJobRecord) -> Result<bool, ApiError> {
    let status = PublishStatus::from_code(job.outcome).unwrap_or(PublishStatus::NormalFailed);
    let now = state.clock.now();
    let fail_idx: Vec<i64> = serde_json::from_str(&job.fail_idx).unwrap_or_default();
    let mut published = Vec::new();
    if status == PublishStatus::Success {
        let articles: Vec<NewsItem> = serde_json::from_str(&job.articles).map_err(|e| {
            ApiError::from(wximg_store::StorageError::Corrupt(format!(
                "publish job {}: articles: {e}",
                job.publish_id
            )))
        })?;
        for (i, mut article) in articles.into_iter().enumerate() {
            let idx = i as i64 + 1;
            let url_id = url_id(&job.article_id, idx);
            article.url = page_url(state, &url_id);
            published.push(PublishedRecord {
                article_id: job.article_id.clone(),
                idx,
                appid: job.appid.clone(),
                publish_id: job.publish_id,
                url_id,
                article: to_json(&article)?,
                published_at: now,
                deleted_at: None,
            });
        }
    }
    let event = PublishJobFinish {
        appid: job.appid.clone(),
        publish_id: job.publish_id.to_string(),
        publish_status: status.code(),
        article_id: (status == PublishStatus::Success).then(|| job.article_id.clone()),
        article_urls: published
            .iter()
            .map(|p| page_url(state, &p.url_id))
            .collect(),
        fail_idx,
        create_time: now,
    };
    // The event first: a crash now re-sends it (idempotent) rather than losing it.
    enqueue_publish_job_finish(state, &event).await?;
    let ended = state
        .storage
        .meta
        .finish_publish_job(job.publish_id, status.code(), now, &published)
        .await?;
    if ended {
        tracing::info!(appid = %job.appid, publish_id = job.publish_id, publish_status = status.code(), "publish job ended");
    }
    Ok(ended)
}

/// `freepublish/get`: the job's state as the platform answers it (40007 for a publish_id
/// the account does not have). A job found due is ended here and then.
pub async fn status(
    state: &AppState,
    app: &AppRecord,
    publish_id: &str,
) -> Result<PublishStatusOk, ApiError> {
    let meta = state.storage.meta.as_ref();
    let unknown = || {
        ApiError::detail(
            ErrCode::InvalidMediaId,
            format!("{} has no publish job {publish_id:?}", app.appid),
        )
    };
    let id: i64 = publish_id.trim().parse().map_err(|_| unknown())?;
    let mut job = meta
        .publish_job(id)
        .await?
        .filter(|j| j.appid == app.appid)
        .ok_or_else(unknown)?;
    if job.status == PublishStatus::Publishing.code() && state.clock.now_ms() >= job.due_at_ms {
        finish(state, &job).await?;
        job = meta.publish_job(id).await?.ok_or_else(unknown)?;
    }
    let mut answer = PublishStatusOk {
        publish_id: job.publish_id.to_string(),
        publish_status: job.status,
        article_id: None,
        article_detail: None,
        fail_idx: Vec::new(),
    };
    if job.status == PublishStatus::Success.code() {
        let articles = meta.published(&app.appid, &job.article_id).await?;
        if !articles.is_empty() && articles.iter().all(|a| a.deleted_at.is_some()) {
            answer.publish_status = PublishStatus::DeletedAfterSuccess.code();
        }
        let live: Vec<ArticleUrl> = articles
            .iter()
            .filter(|a| a.deleted_at.is_none())
            .map(|a| ArticleUrl {
                idx: a.idx,
                article_url: page_url(state, &a.url_id),
            })
            .collect();
        answer.article_id = Some(job.article_id.clone());
        answer.article_detail = Some(ArticleDetail {
            count: live.len() as u64,
            item: live,
        });
    } else if job.status != PublishStatus::Publishing.code() {
        answer.fail_idx = serde_json::from_str(&job.fail_idx).unwrap_or_default();
    }
    Ok(answer)
}

/// Ends every job that is due, a batch at a time; returns how many this call ended.
pub async fn finish_due(state: &AppState) -> Result<usize, ApiError> {
    let due = state
        .storage
        .meta
        .due_publish_jobs(state.clock.now_ms(), 100)
        .await?;
    let mut ended = 0;
    for job in &due {
        if finish(state, job).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Starts the finisher of this node: every [`FINISH_INTERVAL`], the due jobs end (so their
/// events go out even if nobody asks `freepublish/get`). Nodes race harmlessly: each job
/// ends once (the compare-and-swap of [`finish`]).
pub fn spawn_finisher(state: AppState) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(FINISH_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            match finish_due(&state).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("publish jobs end again");
                }
                Ok(_) => {}
                // Once per outage: the jobs stay due and end on a later tick.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(
                        detail = e.detail.as_deref().unwrap_or(""),
                        "cannot end publish jobs yet"
                    );
                }
                Err(_) => {}
            }
        }
    });
}
