//! Temporary material: `POST /cgi-bin/media/upload?access_token=…&type=image|thumb`
//! (multipart `media`) and `GET /cgi-bin/media/get?access_token=…&media_id=…`.
//!
//! Invariant: a temporary `media_id` is answered only once its picture is durable (blob,
//! then picture row, then its own row: `wximg_store::Storage::store_temporary`), and
//! `media/get` serves its bytes to its own account for three days
//! ([`wximg_store::TEMPORARY_SECS`], by the injected clock), 40007 after that or to
//! anyone else.
//!
//! The body is judged exactly as `add_material`'s ([`super::material::receive`]: the
//! same limits, filename rule and picture rules), since the platform's two uploads share
//! their multipart handling; `voice` and `video` answer 40004, as there. The answer is
//! the platform's, with its quirk: a thumb's id is `thumb_media_id`, not `media_id`
//! (captured: `{"type":"thumb","thumb_media_id":"…","created_at":1417016644}`). Success
//! answers carry no `errcode`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use wximg_proto::ErrCode;
use wximg_proto::wire::UploadTemporaryOk;
use wximg_store::{MaterialKind, TEMPORARY_SECS, TemporaryRecord};

use super::material::{admit, material_kind, new_media_id, receive};
use super::query_map;
use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// `media/upload`. [`Caller`] has checked the token before a byte of the body is read.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiJson<UploadTemporaryOk>, ApiError> {
    let appid = admit(&state, caller, "media_upload").await?;
    let kind = material_kind(&uri)?;
    let (media, info, _name) = receive(&state, kind, &headers, body).await?;
    let now = state.clock.now();
    let picture = crate::media::picture_record(&media.bytes, &info, &appid, now);
    let (id, size) = (picture.id, media.bytes.len());
    let temporary = TemporaryRecord {
        media_id: new_media_id(),
        appid: appid.clone(),
        kind,
        image: id,
        format: info.format,
        created_at: now,
    };
    state
        .storage
        .store_temporary(&picture, Bytes::from(media.bytes), &temporary)
        .await?;
    crate::metrics::record_upload(info.format.as_str(), size);
    tracing::info!(%appid, %id, size, kind = kind.as_str(), "temporary material stored");
    let (media_id, thumb_media_id) = match kind {
        MaterialKind::Thumb => (None, Some(temporary.media_id)),
        MaterialKind::Image => (Some(temporary.media_id), None),
    };
    Ok(ApiJson(UploadTemporaryOk {
        kind: kind.as_str().to_string(),
        media_id,
        thumb_media_id,
        created_at: now,
    }))
}

/// `media/get?media_id=…`: the bytes of the account's temporary material (`GET`, or a
/// `POST` naming it in the query, as SDKs send), with its type and an attachment name.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let appid = admit(&state, caller, "media_get").await?;
    let query = query_map(uri.query());
    let media_id = query.get("media_id").map(String::as_str).unwrap_or("");
    let unknown = |why: &str| {
        ApiError::detail(
            ErrCode::InvalidMediaId,
            format!("{appid} has no temporary material {media_id:?}: {why}"),
        )
    };
    if media_id.is_empty() {
        return Err(unknown("no media_id"));
    }
    let found = state
        .storage
        .meta
        .temporary(&appid, media_id)
        .await?
        .ok_or_else(|| unknown("not uploaded by it"))?;
    if state.clock.now() >= found.created_at.saturating_add(TEMPORARY_SECS) {
        return Err(unknown("expired (temporary material lasts three days)"));
    }
    // A takedown removes the picture row and its bytes: the material goes with them.
    if state.storage.meta.image(&found.image).await?.is_none() {
        return Err(unknown("its picture was taken down"));
    }
    let Some(stream) = state.storage.blobs.get(&found.image, None).await? else {
        return Err(unknown("its picture was taken down"));
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(found.format.mime()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.{}\"",
        found.media_id,
        found.format.as_str()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
