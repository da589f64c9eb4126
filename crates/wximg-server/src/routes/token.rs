//! `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use wximg_proto::ErrCode;
use wximg_proto::wire::TokenOk;

use crate::answer::{ApiError, ApiJson};
use crate::platform::cloud::{self, Peer};
use crate::platform::quota;
use crate::state::AppState;
use crate::tokens;

pub async fn token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<TokenOk>, ApiError> {
    let q = super::query_map(query.as_deref());
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return Err(ErrCode::InvalidGrantType.into());
    }
    let meta = state.storage.meta.as_ref();
    let (app, _secret) = tokens::verify_app(
        meta,
        q.get("appid").map(String::as_str),
        q.get("secret").map(String::as_str),
    )
    .await?;
    let now = state.clock.now();
    let caller = cloud::caller_ip(&state.platform, peer, &headers);
    cloud::check_whitelist(meta, &app.appid, caller, now).await?;
    quota::charge(&state.platform, meta, &app.appid, "token", now).await?;
    let issued = tokens::issue_classic(meta, &app, now).await?;
    Ok(ApiJson(TokenOk {
        access_token: issued.access_token,
        expires_in: issued.expires_in,
    }))
}
