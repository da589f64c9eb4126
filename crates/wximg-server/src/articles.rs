//! The article workflow: drafts (`draft/*`), publishing (`freepublish/*`) and the
//! published article's page (`/s/<id>`).
//!
//! Invariant: **a draft holds only what the platform would keep.** An article is stored
//! only after the platform's checks passed ([`prepare`]: required fields, lengths, a
//! cover that is a permanent material of the account, 40007) and its content went through
//! the platform's cleaning ([`clean`]); what cleaning removed is logged with the request
//! and kept beside the draft ([`cleaning_notes`]) — never in an answer, whose shapes are
//! the platform's ([`wximg_proto::articles`]).
//!
//! - [`clean`]: the sanitizer and "is this picture hosted here".
//! - [`publish`]: publish jobs: submit, status, the finisher every node runs.
//! - [`page`]: the article as a reader sees it.
//!
//! Who may call: official and service accounts (48001 for the others), their own token or
//! an authorizer whose grant holds one of [`ARTICLE_SETS`]; not cloud calls (the
//! platform's draft and publishing APIs do not take them). Each API has its quota,
//! counted as `uploadimg`'s ([`authorize`]).

pub mod clean;
pub mod page;
pub mod publish;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use wximg_proto::ErrCode;
use wximg_proto::articles::{
    ArticleInput, CLEANED_CONTENT_BYTES, CLEANED_DRAFT_BYTES, CONTENT_TEXT_CHARS,
    MAX_CONTENT_NESTING, NEWSPIC, NewsItem,
};
use wximg_store::{AppRecord, DraftRecord, MaterialStore};

use crate::error::ApiError;
use crate::extract::{Caller, Via};
use crate::platform::quota;
use crate::state::AppState;
pub use clean::CleaningReport;

pub use crate::platform::component::ARTICLE_SETS;

/// How many characters of text make a single article's digest when it has none (the
/// platform: "默认抓取正文前54个字").
pub const DEFAULT_DIGEST_CHARS: usize = 54;

/// The account `caller` acts for, if it may call `api`: grant (48001), no cloud call
/// (48001), account type (48001), then the quota (45009/45011).
pub async fn authorize<'a>(
    state: &AppState,
    caller: &'a Caller,
    api: &str,
) -> Result<&'a AppRecord, ApiError> {
    caller.require_sets(api, ARTICLE_SETS)?;
    let app = &caller.app;
    if let Via::CloudCall { from } = caller.via {
        return Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("{api} takes no cloud calls (from {from})"),
        ));
    }
    if !app.app_type.may_upload_article_images() {
        return Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("{} is a {} account", app.appid, app.app_type),
        ));
    }
    quota::charge(
        &state.platform,
        state.storage.meta.as_ref(),
        &app.appid,
        api,
        state.clock.now(),
    )
    .await?;
    Ok(app)
}

/// A fresh random id of `bytes` random bytes, URL-safe base64 (as the platform's ids
/// look: 64 characters for a media_id, 43 for an article_id).
pub fn random_id(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// An article the client sent, checked and cleaned as the platform would, ready to store;
/// `single` when it is the draft's only article (it then gets a default digest).
pub async fn prepare(
    state: &AppState,
    app: &AppRecord,
    input: ArticleInput,
    single: bool,
) -> Result<(NewsItem, CleaningReport), ApiError> {
    input
        .check()
        .map_err(|code| ApiError::detail(code, "the article fails the platform's checks"))?;
    let thumb_media_id = input.thumb_media_id.clone().unwrap_or_default();
    let meta = state.storage.meta.as_ref();
    let newspic = input.is_newspic();
    // A picture message: each picture a permanent image material of the account; its
    // cover is optional (the first picture stands for it).
    if newspic {
        for image in input.image_info.iter().flat_map(|i| &i.image_list) {
            let found = MaterialStore::material(meta, &app.appid, &image.image_media_id).await?;
            if !found.is_some_and(|m| m.kind == wximg_store::MaterialKind::Image) {
                return Err(ApiError::detail(
                    ErrCode::InvalidMediaId,
                    format!(
                        "image_media_id {:?} is not a permanent image material of {}",
                        image.image_media_id, app.appid
                    ),
                ));
            }
        }
    }
    let thumb_url = if newspic && thumb_media_id.is_empty() {
        String::new()
    } else {
        match MaterialStore::material(meta, &app.appid, &thumb_media_id).await? {
            Some(thumb) => thumb.url,
            None => {
                return Err(ApiError::detail(
                    ErrCode::InvalidMediaId,
                    format!(
                        "thumb_media_id {thumb_media_id:?} is not a permanent material of {}",
                        app.appid
                    ),
                ));
            }
        }
    };
    let content = input.content.clone().unwrap_or_default();
    let hosting = clean::Hosting::new(&state.public_url).ok_or_else(|| {
        ApiError::detail(
            ErrCode::SystemError,
            format!("public URL {:?} is not an http(s) URL", state.public_url),
        )
    })?;
    // Its shape first, in a parse that builds no tree: the sanitizer's parse costs more
    // than the content's size alone bounds (see `check_shape`).
    let (sanitized, pictures) = blocking({
        let content = content.clone();
        move || {
            wximg_proto::html::check_shape(&content, MAX_CONTENT_NESTING)?;
            Ok(clean::sanitize(&content))
        }
    })
    .await?
    .map_err(|why: wximg_proto::html::Overbuilt| {
        ApiError::detail(ErrCode::ContentSizeOutOfLimit, format!("content: {why}"))
    })?;
    let hosted = clean::hosted_pictures(meta, &hosting, &pictures).await?;
    let (html, report) =
        blocking(move || clean::drop_outside_pictures(&content, &sanitized, &hosted)).await?;
    if report.text_chars >= CONTENT_TEXT_CHARS as u64 {
        return Err(ApiError::detail(
            ErrCode::ContentSizeOutOfLimit,
            format!("{} characters of text", report.text_chars),
        ));
    }
    if html.len() >= CLEANED_CONTENT_BYTES {
        return Err(ApiError::detail(
            ErrCode::ContentSizeOutOfLimit,
            format!(
                "content is {} bytes once cleaned, {CLEANED_CONTENT_BYTES} or more",
                html.len()
            ),
        ));
    }
    if html.trim().is_empty() {
        return Err(ApiError::detail(
            ErrCode::EmptyContent,
            "nothing of the content is left after cleaning",
        ));
    }
    let digest = match input.digest.filter(|d| !d.is_empty()) {
        Some(d) => d,
        None if single => clean::text_prefix(&html, DEFAULT_DIGEST_CHARS),
        None => String::new(),
    };
    Ok((
        NewsItem {
            article_type: if newspic { NEWSPIC } else { "news" }.to_string(),
            title: input.title.unwrap_or_default(),
            author: input.author.unwrap_or_default(),
            digest,
            content: html,
            content_source_url: input.content_source_url.unwrap_or_default(),
            thumb_media_id,
            show_cover_pic: input.show_cover_pic.unwrap_or(0),
            need_open_comment: input.need_open_comment.unwrap_or(0),
            only_fans_can_comment: input.only_fans_can_comment.unwrap_or(0),
            url: String::new(),
            thumb_url,
            pic_crop_235_1: input.pic_crop_235_1,
            pic_crop_1_1: input.pic_crop_1_1,
            is_deleted: None,
            image_info: input.image_info.filter(|_| newspic),
        },
        report,
    ))
}

/// Refuses a draft whose articles' cleaned content is together [`CLEANED_DRAFT_BYTES`]
/// or more (45002).
pub fn check_draft_size(items: &[NewsItem]) -> Result<(), ApiError> {
    let bytes: usize = items.iter().map(|i| i.content.len()).sum();
    if bytes >= CLEANED_DRAFT_BYTES {
        return Err(ApiError::detail(
            ErrCode::ContentSizeOutOfLimit,
            format!(
                "the draft's content is {bytes} bytes once cleaned, {CLEANED_DRAFT_BYTES} or more"
            ),
        ));
    }
    Ok(())
}

/// Runs CPU work (parsing up to megabytes of HTML) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::detail(ErrCode::SystemError, format!("cleaning: {e}")))
}

/// Logs what cleaning removed from a draft's articles, one line per article that lost
/// something: the surprise integrations hit in production, said where they look.
pub fn log_cleaning(app: &AppRecord, media_id: &str, reports: &[CleaningReport]) {
    for (i, report) in reports.iter().enumerate() {
        if report.removed_anything() {
            tracing::info!(
                appid = %app.appid,
                media_id,
                index = i,
                removed = %report.summary(),
                "draft content cleaned: the platform would remove this too"
            );
        }
    }
}

/// The draft's articles as stored.
pub fn articles_of(draft: &DraftRecord) -> Result<Vec<NewsItem>, ApiError> {
    serde_json::from_str(&draft.articles).map_err(|e| {
        ApiError::from(wximg_store::StorageError::Corrupt(format!(
            "draft {}: articles: {e}",
            draft.media_id
        )))
    })
}

/// What cleaning removed from each of the draft's articles (for the debug page): one
/// report per article, in the draft's order.
pub fn cleaning_notes(draft: &DraftRecord) -> Result<Vec<CleaningReport>, ApiError> {
    serde_json::from_str(&draft.cleaning).map_err(|e| {
        ApiError::from(wximg_store::StorageError::Corrupt(format!(
            "draft {}: cleaning notes: {e}",
            draft.media_id
        )))
    })
}

/// JSON of a value wximg made itself (articles, notes): cannot fail for these types.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|e| ApiError::detail(ErrCode::SystemError, format!("serialising: {e}")))
}
