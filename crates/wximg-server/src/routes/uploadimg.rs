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
use crate::platform::cloud::{self, Peer};
use crate::platform::{component, quota};
use crate::state::AppState;
use crate::tokens;
use wximg_store::ImageRecord;

pub async fn uploadimg(
    State(state): State<AppState>,
    Peer(peer): Peer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiJson<UploadImgOk>, ApiError> {
    let q = super::query_map(query.as_deref());
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let app = match q.get("access_token").filter(|t| !t.is_empty()) {
        Some(token) => caller_of(meta, token, now).await?,
        // No token: a cloud call from a trusted network, or 41001.
        None => cloud::cloud_caller(
            &state.platform,
            meta,
            cloud::caller_ip(&state.platform, peer, &headers),
            &headers,
            q.get("from_appid").map(String::as_str),
        )
        .await?
        .ok_or(ErrCode::AccessTokenMissing)?,
    };
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

    let record = ImageRecord {
        id,
        format: info.format,
        size: size as u64,
        width: info.width,
        height: info.height,
        appid: app.appid.clone(),
        created_at: now,
    };
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

/// The account a token acts for: its own access token, or an `authorizer_access_token`
/// of a third-party platform whose grant holds a permission set that allows `uploadimg`
/// (48001 otherwise).
async fn caller_of(
    meta: &dyn wximg_store::MetaStore,
    token: &str,
    now: i64,
) -> Result<wximg_store::AppRecord, ApiError> {
    match tokens::authenticate(meta, token, now).await {
        Err(e) if e.code == ErrCode::InvalidCredential => {
            let Some((app, sets)) = component::authenticate_authorizer(meta, token, now).await?
            else {
                return Err(e);
            };
            if !sets.iter().any(|s| component::UPLOADIMG_SETS.contains(s)) {
                return Err(ApiError::detail(
                    ErrCode::ApiUnauthorized,
                    format!(
                        "the grant of {} holds sets {sets:?}, none allows uploadimg",
                        app.appid
                    ),
                ));
            }
            Ok(app)
        }
        other => other,
    }
}
