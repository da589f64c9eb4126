//! `POST /cgi-bin/media/uploadimg?access_token=…`, multipart field `media`.
//!
//! In order: the token (41001/40001/42001), the app type (48001), the body read streaming
//! (44002/47001/41005/40009, see `crate::media`), the picture rules (40005/40009), then
//! storage. errcode 0 is sent only once the blob is durable and its row committed; any
//! storage failure answers -1 and leaves no row pointing at a missing blob.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use wximg_proto::wire::UploadImgOk;
use wximg_proto::{ErrCode, ImageId};

use crate::answer::{ApiError, ApiJson};
use crate::media::{self, Limits};
use crate::state::AppState;
use crate::storage::ImageRecord;
use crate::tokens;

pub async fn uploadimg(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiJson<UploadImgOk>, ApiError> {
    let q = super::query_map(query.as_deref());
    let token = q
        .get("access_token")
        .filter(|t| !t.is_empty())
        .ok_or(ErrCode::AccessTokenMissing)?;
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let app = tokens::authenticate(meta, token, now).await?;
    if !app.app_type.may_upload_article_images() {
        return Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("{} is a {} account", app.appid, app.app_type),
        ));
    }

    let media = media::read_media(
        &headers,
        body,
        Limits {
            max_bytes: state.rules.max_bytes,
            drain_limit: state.drain_limit,
            permits: &state.upload_permits,
        },
    )
    .await?;
    let info = state
        .rules
        .check(&media.bytes)
        .map_err(|r| ApiError::detail(r.code, r.reason))?;
    let id = ImageId::of(&media.bytes);
    let size = media.bytes.len();

    let newly_stored = meta.image(&id).await?.is_none();
    if newly_stored {
        // Blob first, then the row: a crash between them leaves an orphan blob (swept by
        // fsck), never a row without its bytes.
        state
            .storage
            .blobs
            .put(&id, Bytes::from(media.bytes))
            .await?;
        meta.insert_image(&ImageRecord {
            id,
            format: info.format,
            size: size as u64,
            width: info.width,
            height: info.height,
            appid: app.appid.clone(),
            created_at: now,
        })
        .await?;
    }
    crate::metrics::record_upload(info.format.as_str(), size, newly_stored);
    tracing::info!(appid = %app.appid, %id, size, format = info.format.as_str(), newly_stored, "picture stored");
    Ok(ApiJson(UploadImgOk::new(format!(
        "{}/{}/{}/0?from=appmsg",
        state.public_url,
        info.format.url_kind(),
        id
    ))))
}
