//! `freepublish/submit`, `freepublish/get`, `freepublish/getarticle`,
//! `freepublish/delete`, `freepublish/batchget`: publishing a draft and the account's
//! published articles (the jobs themselves: `crate::articles::publish`).
//!
//! Invariant: as the draft calls, every call is refused before its body is read when the
//! caller may not make it (41001/40001/42001, 48001, 45009/45011); a published article
//! of another account is unknown (53600), never shown.

use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use wximg_proto::ErrCode;
use wximg_proto::articles::{
    ArticleIdRequest, BatchGetRequest, MediaIdRequest, NewsItem, NewsOk, Ok0, PublishIdRequest,
    PublishStatusOk, PublishedBatchOk, PublishedContent, PublishedItem, SubmitOk,
};
use wximg_store::{AppRecord, PublishedRecord};

use super::draft::page_of;
use crate::answer::ApiJson;
use crate::articles::{self, publish};
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody};
use crate::state::AppState;

/// `POST /cgi-bin/freepublish/submit`: `{"media_id"}` →
/// `{"errcode":0,"errmsg":"ok","publish_id":"…","msg_data_id":N}`.
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: Request,
) -> Result<ApiJson<SubmitOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "freepublish_submit").await?;
    let JsonBody(body) = JsonBody::<MediaIdRequest>::from_request(request, &state).await?;
    let media_id = body.media_id.unwrap_or_default();
    Ok(ApiJson(
        publish::submit(&state, app, &media_id, &headers).await?,
    ))
}

/// `POST /cgi-bin/freepublish/get`: `{"publish_id"}` → the job's `publish_status`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<PublishStatusOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "freepublish_get").await?;
    let JsonBody(body) = JsonBody::<PublishIdRequest>::from_request(request, &state).await?;
    let publish_id = body.publish_id.unwrap_or_default();
    Ok(ApiJson(publish::status(&state, app, &publish_id).await?))
}

/// The account's published message `article_id`, by index, or 53600.
async fn published_of(
    state: &AppState,
    app: &AppRecord,
    article_id: &str,
) -> Result<Vec<PublishedRecord>, ApiError> {
    let found = state.storage.meta.published(&app.appid, article_id).await?;
    if found.is_empty() {
        return Err(ApiError::detail(
            ErrCode::InvalidArticleId,
            format!("{} has no published article {article_id:?}", app.appid),
        ));
    }
    Ok(found)
}

/// A published article as the reads answer it.
fn news_item(state: &AppState, record: &PublishedRecord) -> Result<NewsItem, ApiError> {
    let mut item: NewsItem = serde_json::from_str(&record.article).map_err(|e| {
        ApiError::from(wximg_store::StorageError::Corrupt(format!(
            "published article {} {}: {e}",
            record.article_id, record.idx
        )))
    })?;
    item.url = publish::page_url(state, &record.url_id);
    item.is_deleted = Some(record.deleted_at.is_some());
    Ok(item)
}

/// `POST /cgi-bin/freepublish/getarticle`: `{"article_id"}` → `{"news_item":[…]}`.
pub async fn getarticle(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<NewsOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "freepublish_getarticle").await?;
    let JsonBody(body) = JsonBody::<ArticleIdRequest>::from_request(request, &state).await?;
    let article_id = body.article_id.unwrap_or_default();
    let news_item = published_of(&state, app, &article_id)
        .await?
        .iter()
        .map(|r| news_item(&state, r))
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(NewsOk { news_item }))
}

/// `POST /cgi-bin/freepublish/delete`: `{"article_id","index"}` deletes article `index`
/// (from 1; absent or 0: all of them) → `{"errcode":0,"errmsg":"ok"}`. Its page then
/// says it was deleted (404).
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<Ok0>, ApiError> {
    let app = articles::authorize(&state, &caller, "freepublish_delete").await?;
    let JsonBody(body) = JsonBody::<ArticleIdRequest>::from_request(request, &state).await?;
    let article_id = body.article_id.unwrap_or_default();
    let found = published_of(&state, app, &article_id).await?;
    let idx = body.index.filter(|i| *i != 0);
    if let Some(i) = idx
        && !found.iter().any(|r| r.idx == i)
    {
        return Err(ApiError::detail(
            ErrCode::InvalidArticleId,
            format!("published article {article_id:?} has no index {i}"),
        ));
    }
    let deleted = state
        .storage
        .meta
        .delete_published(&app.appid, &article_id, idx, state.clock.now())
        .await?;
    tracing::info!(appid = %app.appid, article_id, ?idx, deleted, "published article deleted");
    Ok(ApiJson(Ok0::new()))
}

/// `POST /cgi-bin/freepublish/batchget`: `{"offset","count","no_content"}` → the
/// account's published messages, newest first (deleted articles left out).
pub async fn batchget(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<PublishedBatchOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "freepublish_batchget").await?;
    let JsonBody(body) = JsonBody::<BatchGetRequest>::from_request(request, &state).await?;
    let (offset, count) = page_of(&body)?;
    let no_content = body.no_content == Some(1);
    let meta = state.storage.meta.as_ref();
    let total_count = meta.published_count(&app.appid).await?;
    let mut item = Vec::new();
    for article_id in meta.published_ids(&app.appid, offset, count).await? {
        let records = meta.published(&app.appid, &article_id).await?;
        let time = records.iter().map(|r| r.published_at).max().unwrap_or(0);
        let mut news_item = Vec::new();
        for record in records.iter().filter(|r| r.deleted_at.is_none()) {
            let mut n = news_item_of(&state, record, no_content)?;
            n.is_deleted = Some(false);
            news_item.push(n);
        }
        item.push(PublishedItem {
            article_id,
            content: PublishedContent {
                news_item,
                create_time: time,
                update_time: time,
            },
            update_time: time,
        });
    }
    Ok(ApiJson(PublishedBatchOk {
        total_count,
        item_count: item.len() as u64,
        item,
    }))
}

fn news_item_of(
    state: &AppState,
    record: &PublishedRecord,
    no_content: bool,
) -> Result<NewsItem, ApiError> {
    let mut n = news_item(state, record)?;
    if no_content {
        n.content.clear();
    }
    Ok(n)
}
