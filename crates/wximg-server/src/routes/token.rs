//! `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`
//!
//! In order: a call from another site's web page (48001, `crate::extract::origin`),
//! the appid (41002/40013), the grant type (40002), the secret (41004/40125) — the
//! platform's order, see [`tokens::verify_token_request`] — the app's IP whitelist
//! (40164), the quota (45009/45011); then a new token.

use axum::extract::{RawQuery, State};
use wximg_proto::wire::TokenOk;

use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::platform::peer::CallerIp;
use crate::platform::{quota, whitelist};
use crate::state::AppState;
use crate::tokens;

pub async fn token(
    State(state): State<AppState>,
    CallerIp(caller): CallerIp,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<TokenOk>, ApiError> {
    let q = super::query_map(query.as_deref());
    let meta = state.storage.meta.as_ref();
    let (app, _secret) = tokens::verify_token_request(
        meta,
        q.get("appid").map(String::as_str),
        q.get("grant_type").map(String::as_str),
        q.get("secret").map(String::as_str),
    )
    .await?;
    let now = state.clock.now();
    whitelist::check_whitelist(meta, &app.appid, caller, now).await?;
    quota::charge(&state.platform, meta, &app.appid, "token", now).await?;
    Ok(ApiJson(
        tokens::issue_classic(meta, &app, now).await?.into(),
    ))
}
