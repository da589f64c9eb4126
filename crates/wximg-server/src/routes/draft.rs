//! `draft/add`, `draft/get`, `draft/update`, `draft/delete`, `draft/batchget`,
//! `draft/count`: the account's draft box, with the platform's shapes and codes.
//!
//! Invariant: every call is refused, in this order, before anything is read or stored:
//! the caller (41001/40001/42001), who may call (48001: grant, cloud call, account type,
//! see `crate::articles::authorize`), the quota (45009/45011); then the body (44002,
//! 47001, 45002 over 4 MiB), then the article checks and cleaning
//! (`crate::articles::prepare`). A draft is stored whole or not at all.

use axum::extract::{FromRequest, Request, State};
use wximg_proto::ErrCode;
use wximg_proto::articles::{
    BatchGetRequest, CountOk, DraftAddOk, DraftAddRequest, DraftBatchOk, DraftContent, DraftItem,
    DraftSwitchOk, DraftUpdateRequest, MAX_ARTICLES, MAX_BATCH, MediaIdRequest, NewsOk, Ok0,
};
use wximg_store::{AppRecord, DraftRecord};

use crate::answer::ApiJson;
use crate::articles::{self, articles_of, cleaning_notes, to_json};
use crate::error::ApiError;
use crate::extract::{Caller, DraftBody, JsonBody};
use crate::state::AppState;

/// The account's draft `media_id`, or 40007.
async fn draft_of(
    state: &AppState,
    app: &AppRecord,
    media_id: Option<&str>,
) -> Result<DraftRecord, ApiError> {
    let media_id = media_id.unwrap_or_default();
    state
        .storage
        .meta
        .draft(&app.appid, media_id)
        .await?
        .ok_or_else(|| {
            ApiError::detail(
                ErrCode::InvalidMediaId,
                format!("{} has no draft {media_id:?}", app.appid),
            )
        })
}

/// `POST /cgi-bin/draft/add`: `{"articles":[…]}` → `{"media_id":"…"}` (no errcode).
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<DraftAddOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "draft_add").await?;
    let DraftBody(body) = DraftBody::<DraftAddRequest>::from_request(request, &state).await?;
    let inputs = body.articles.unwrap_or_default();
    if inputs.is_empty() {
        return Err(ApiError::detail(ErrCode::EmptyNewsData, "no articles"));
    }
    if inputs.len() > MAX_ARTICLES {
        return Err(ApiError::detail(
            ErrCode::ArticleSizeOutOfLimit,
            format!("{} articles, at most {MAX_ARTICLES}", inputs.len()),
        ));
    }
    let single = inputs.len() == 1;
    let mut items = Vec::with_capacity(inputs.len());
    let mut reports = Vec::with_capacity(inputs.len());
    for input in inputs {
        let (item, report) = articles::prepare(&state, app, input, single).await?;
        items.push(item);
        reports.push(report);
    }
    articles::check_draft_size(&items)?;
    let now = state.clock.now();
    let media_id = articles::random_id(48);
    state
        .storage
        .meta
        .insert_draft(&DraftRecord {
            media_id: media_id.clone(),
            appid: app.appid.clone(),
            articles: to_json(&items)?,
            cleaning: to_json(&reports)?,
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .await?;
    articles::log_cleaning(app, &media_id, &reports);
    tracing::info!(appid = %app.appid, media_id, articles = items.len(), "draft added");
    Ok(ApiJson(DraftAddOk { media_id }))
}

/// `POST /cgi-bin/draft/get`: `{"media_id"}` → `{"news_item":[…]}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<NewsOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "draft_get").await?;
    let JsonBody(body) = JsonBody::<MediaIdRequest>::from_request(request, &state).await?;
    let draft = draft_of(&state, app, body.media_id.as_deref()).await?;
    Ok(ApiJson(NewsOk {
        news_item: articles_of(&draft)?,
    }))
}

/// `POST /cgi-bin/draft/update`: `{"media_id","index","articles":{…}}` replaces article
/// `index` (from 0) → `{"errcode":0,"errmsg":"ok"}`.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<Ok0>, ApiError> {
    let app = articles::authorize(&state, &caller, "draft_update").await?;
    let DraftBody(body) = DraftBody::<DraftUpdateRequest>::from_request(request, &state).await?;
    let media_id = body.media_id.unwrap_or_default();
    let index = body.index.unwrap_or(0);
    let Some(input) = body.articles else {
        return Err(ApiError::detail(
            ErrCode::EmptyNewsData,
            "no articles object (draft/update takes one article, not an array)",
        ));
    };
    let draft = draft_of(&state, app, Some(&media_id)).await?;
    articles::publish::refuse_while_publishing(&state, app, &media_id).await?;
    let count = articles_of(&draft)?.len();
    let slot = usize::try_from(index)
        .ok()
        .filter(|i| *i < count)
        .ok_or_else(|| {
            ApiError::detail(
                ErrCode::InvalidMediaId,
                format!("draft {media_id:?} has {count} articles, no index {index}"),
            )
        })?;
    let (item, report) = articles::prepare(&state, app, input, count == 1).await?;
    // Read, replace, compare-and-swap on the draft's version: a concurrent update of
    // another article is kept, not overwritten.
    let mut draft = draft;
    for _ in 0..16 {
        let mut items = articles_of(&draft)?;
        let mut reports = cleaning_notes(&draft)?;
        let Some(target) = items.get_mut(slot) else {
            return Err(ApiError::detail(
                ErrCode::InvalidMediaId,
                format!("draft {media_id:?} lost article {index} meanwhile"),
            ));
        };
        *target = item.clone();
        articles::check_draft_size(&items)?;
        reports.resize(items.len(), Default::default());
        reports[slot] = report.clone();
        if state
            .storage
            .meta
            .update_draft(
                &app.appid,
                &media_id,
                draft.version,
                &to_json(&items)?,
                &to_json(&reports)?,
                state.clock.now(),
            )
            .await?
        {
            articles::log_cleaning(app, &media_id, &reports[slot..=slot]);
            return Ok(ApiJson(Ok0::new()));
        }
        draft = draft_of(&state, app, Some(&media_id)).await?;
    }
    Err(ApiError::detail(
        ErrCode::SystemError,
        format!("draft {media_id:?}: too many concurrent updates"),
    ))
}

/// `POST /cgi-bin/draft/delete`: `{"media_id"}` → `{"errcode":0,"errmsg":"ok"}`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<Ok0>, ApiError> {
    let app = articles::authorize(&state, &caller, "draft_delete").await?;
    let JsonBody(body) = JsonBody::<MediaIdRequest>::from_request(request, &state).await?;
    let media_id = body.media_id.unwrap_or_default();
    articles::publish::refuse_while_publishing(&state, app, &media_id).await?;
    if !state
        .storage
        .meta
        .delete_draft(&app.appid, &media_id)
        .await?
    {
        return Err(ApiError::detail(
            ErrCode::InvalidMediaId,
            format!("{} has no draft {media_id:?}", app.appid),
        ));
    }
    Ok(ApiJson(Ok0::new()))
}

/// `offset` (from 0) and `count` (1 to 20) of a batchget, or 47001.
pub fn page_of(body: &BatchGetRequest) -> Result<(u64, u64), ApiError> {
    let offset = u64::try_from(body.offset.unwrap_or(0))
        .map_err(|_| ApiError::detail(ErrCode::DataFormatError, "offset below 0"))?;
    let count = body
        .count
        .filter(|c| (1..=MAX_BATCH).contains(c))
        .ok_or_else(|| {
            ApiError::detail(
                ErrCode::DataFormatError,
                format!("count must be 1 to {MAX_BATCH}"),
            )
        })?;
    Ok((offset, count as u64))
}

/// `POST /cgi-bin/draft/batchget`: `{"offset","count","no_content"}` → the account's
/// drafts, last updated first.
pub async fn batchget(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<ApiJson<DraftBatchOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "draft_batchget").await?;
    let JsonBody(body) = JsonBody::<BatchGetRequest>::from_request(request, &state).await?;
    let (offset, count) = page_of(&body)?;
    let no_content = body.no_content == Some(1);
    let meta = state.storage.meta.as_ref();
    let total_count = meta.draft_count(&app.appid).await?;
    let mut item = Vec::new();
    for draft in meta.drafts(&app.appid, offset, count).await? {
        let mut news_item = articles_of(&draft)?;
        if no_content {
            news_item.iter_mut().for_each(|n| n.content.clear());
        }
        item.push(DraftItem {
            media_id: draft.media_id,
            content: DraftContent { news_item },
            update_time: draft.updated_at,
        });
    }
    Ok(ApiJson(DraftBatchOk {
        total_count,
        item_count: item.len() as u64,
        item,
    }))
}

/// `POST /cgi-bin/draft/switch` (`?checkonly=1` to only ask) →
/// `{"errcode":0,"errmsg":"ok","is_open":1}`: the platform's switch from its old
/// editor to the draft box, which opens it for good. Every wximg draft box is open, so
/// asking and opening answer the same.
pub async fn switch(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<DraftSwitchOk>, ApiError> {
    articles::authorize(&state, &caller, "draft_switch").await?;
    Ok(ApiJson(DraftSwitchOk {
        errcode: 0,
        errmsg: "ok".into(),
        is_open: 1,
    }))
}

/// `GET /cgi-bin/draft/count` → `{"total_count":N}`.
pub async fn count(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<CountOk>, ApiError> {
    let app = articles::authorize(&state, &caller, "draft_count").await?;
    Ok(ApiJson(CountOk {
        total_count: state.storage.meta.draft_count(&app.appid).await?,
    }))
}
