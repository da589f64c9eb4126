//! [`JsonBody`]: the small JSON object body of `stable_token` and the component calls.
//!
//! Invariant: every such route answers a bad body the same way, in the platform's frame
//! (HTTP 200 + errcode): nothing but whitespace is 44002 `empty post data`; anything that
//! is not a JSON object, or is over [`JSON_BODY_LIMIT`], is 47001 `data format error`
//! (the rest of an oversized body is read away by `crate::unread_body`). At most
//! `Settings::body_concurrency` bodies are read at once; the others wait unread, in the
//! kernel's socket buffers rather than ours.
//! The body is read whatever its Content-Type (real clients send none, `text/plain` or
//! `application/json`), and fields of the wrong JSON type read as absent (see the request
//! types of `wximg_proto::wire`), so a wrong field answers the field's own errcode.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wximg_proto::ErrCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest JSON body read. The bodies of these calls are a few hundred bytes; this
/// leaves room for whitespace and unknown fields, and keeps a bogus body cheap.
pub const JSON_BODY_LIMIT: usize = 8 * 1024;

/// The largest body of the draft calls (`draft/add`, `draft/update`): up to eight
/// articles whose content must each stay under 1 MiB, JSON-escaped (`\u5b57` is six bytes
/// for a three-byte character) — bounded, but not by the 8 KiB of the small bodies.
pub const DRAFT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// A request body read as JSON object `T` (see the module docs for what is refused).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<JsonBody<T>, ApiError> {
        let _permit = state
            .body_permits
            .acquire()
            .await
            .map_err(|e| ApiError::detail(ErrCode::SystemError, e.to_string()))?;
        let bytes = read_small(
            request.into_body(),
            JSON_BODY_LIMIT,
            ErrCode::DataFormatError,
        )
        .await?;
        parse(&bytes).map(JsonBody)
    }
}

/// A draft body read as JSON object `T`: as [`JsonBody`], up to [`DRAFT_BODY_LIMIT`];
/// a longer one is 45002 `content size out of limit` (only content makes a draft body
/// that large). It holds one of the upload permits while it is read and parsed, so at
/// most `Settings::upload_concurrency` such bodies are in memory at once.
#[derive(Debug, Clone)]
pub struct DraftBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for DraftBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<DraftBody<T>, ApiError> {
        let _permit = state
            .upload_permits
            .acquire()
            .await
            .map_err(|e| ApiError::detail(ErrCode::SystemError, e.to_string()))?;
        let bytes = read_small(
            request.into_body(),
            DRAFT_BODY_LIMIT,
            ErrCode::ContentSizeOutOfLimit,
        )
        .await?;
        parse(&bytes).map(DraftBody)
    }
}

/// The whole body if it is at most `limit` bytes; a longer one is `over`.
async fn read_small(body: Body, limit: usize, over: ErrCode) -> Result<Vec<u8>, ApiError> {
    let failed = |e: axum::Error| ApiError::detail(ErrCode::DataFormatError, format!("body: {e}"));
    let mut data = crate::pace::paced(body.into_data_stream());
    let mut bytes = Vec::new();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(failed)?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::detail(over, format!("body over {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The JSON object in `bytes` as a `T`.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ErrCode::EmptyPostData.into());
    }
    // Through a `Value` first: a repeated key then means its last value (as before
    // typed bodies) instead of a serde "duplicate field" error.
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::detail(ErrCode::DataFormatError, format!("body: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::detail(
            ErrCode::DataFormatError,
            "body is not a JSON object",
        ));
    }
    T::deserialize(value)
        .map_err(|e| ApiError::detail(ErrCode::DataFormatError, format!("body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wximg_proto::wire::StableTokenRequest;

    fn code(bytes: &[u8]) -> Option<i64> {
        parse::<StableTokenRequest>(bytes)
            .err()
            .map(|e| e.code.code())
    }

    #[test]
    fn bad_bodies_have_their_codes() {
        assert_eq!(code(b""), Some(44002));
        assert_eq!(code(b" \n\t"), Some(44002));
        assert_eq!(code(b"{nope"), Some(47001));
        assert_eq!(code(b"[1]"), Some(47001));
        assert_eq!(code(b"\"x\""), Some(47001));
        assert_eq!(code(br#"{"appid":1}"#), None);
    }

    #[test]
    fn a_repeated_key_means_its_last_value() {
        let r: StableTokenRequest = parse(br#"{"appid":"a","appid":"b"}"#).expect("parsed");
        assert_eq!(r.appid.as_deref(), Some("b"));
    }
}
