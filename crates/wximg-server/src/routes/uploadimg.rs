//! `POST /cgi-bin/media/uploadimg?access_token=…`, multipart field `media`.
//!
//! Invariant: errcode 0 is sent only once the blob is durable and its row committed; any
//! storage failure answers -1 and leaves no row pointing at a missing blob. In order: the
//! caller (41001/40001/42001, see `crate::extract::Caller`), its grant and app type
//! (48001), the quota (45009/45011), the body read streaming (44002/47001/41005/40009, see
//! `crate::media`), the picture rules (40005/40009), then storage (87014 for bytes taken
//! down with `--block`, refused in the row's own insert).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use wximg_proto::ErrCode;
use wximg_proto::wire::UploadImgOk;

use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::media::{self, Limits};
use crate::platform::{component, quota};
use crate::state::AppState;

/// The handler. [`Caller`] has checked the token (or the cloud call) before this runs,
/// and so before a byte of the body is read.
pub async fn uploadimg(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiJson<UploadImgOk>, ApiError> {
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    caller.require_sets("uploadimg", component::UPLOADIMG_SETS)?;
    let app = caller.app;
    if !app.app_type.may_upload_article_images() {
        return Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("{} is a {} account", app.appid, app.app_type),
        ));
    }
    quota::charge(&state.platform, meta, &app.appid, "uploadimg", now).await?;

    let media = media::read_media(
        &headers,
        body,
        Limits {
            max_bytes: state.rules.max_bytes,
            permits: &state.upload_permits,
            weight: 1,
        },
    )
    .await?;
    let (media, verdict) = media::check(state.rules, media, wximg_proto::UPLOADIMG_FORMATS).await?;
    let info = verdict.map_err(|r| ApiError::detail(r.code, r.reason))?;
    let record = media::picture_record(&media.bytes, &info, &app.appid, now);
    let (id, size) = (record.id, media.bytes.len());
    state
        .storage
        .store_picture(&record, Bytes::from(media.bytes))
        .await?;
    crate::metrics::record_upload(info.format.as_str(), size);
    tracing::info!(appid = %app.appid, %id, size, format = info.format.as_str(), "picture stored");
    Ok(ApiJson(UploadImgOk::new(format!(
        "{}/{}/{}/0?from=appmsg",
        state.public_url,
        info.format.url_kind(),
        id
    ))))
}
