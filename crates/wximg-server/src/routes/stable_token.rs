//! `POST /cgi-bin/stable_token` with JSON `{grant_type, appid, secret, force_refresh}`.
//!
//! The credentials must be in the JSON body: an appid in the query string alone answers
//! 41002, as the platform does.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;
use wximg_proto::ErrCode;
use wximg_proto::wire::TokenOk;

use crate::answer::{ApiError, ApiJson};
use crate::platform::cloud::{self, Peer};
use crate::platform::quota;
use crate::state::AppState;
use crate::tokens;

pub async fn stable_token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<TokenOk>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ErrCode::EmptyPostData.into());
    }
    let json: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::detail(ErrCode::DataFormatError, format!("stable_token body: {e}"))
    })?;
    let Value::Object(fields) = json else {
        return Err(ApiError::detail(
            ErrCode::DataFormatError,
            "stable_token body is not a JSON object",
        ));
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    if text("grant_type") != Some("client_credential") {
        return Err(ErrCode::InvalidGrantType.into());
    }
    // SDKs send a JSON boolean; accept "true"/1 as well, as a lenient server should.
    let force_refresh = match fields.get("force_refresh") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    };
    let meta = state.storage.meta.as_ref();
    let (app, secret) = tokens::verify_app(meta, text("appid"), text("secret")).await?;
    let now = state.clock.now();
    let caller = cloud::caller_ip(&state.platform, peer, &headers);
    cloud::check_whitelist(meta, &app.appid, caller, now).await?;
    quota::charge(&state.platform, meta, &app.appid, "stable_token", now).await?;
    let issued = tokens::stable(meta, &app, &secret, force_refresh, now).await?;
    Ok(ApiJson(TokenOk {
        access_token: issued.access_token,
        expires_in: issued.expires_in,
    }))
}
