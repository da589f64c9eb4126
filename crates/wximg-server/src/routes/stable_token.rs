//! `POST /cgi-bin/stable_token` with JSON `{grant_type, appid, secret, force_refresh}`.
//!
//! The credentials must be in the JSON body: an appid in the query string alone answers
//! 41002, as the platform does. In order: a call from another site's web page (48001,
//! `crate::extract::origin`), the body (44002/47001, see `crate::extract::JsonBody`),
//! the appid, the grant type (40002) and the secret in `/cgi-bin/token`'s order (see
//! `crate::tokens::verify_token_request`), the app's IP whitelist (40164), the quota;
//! then the stable token (see `crate::tokens::stable`).

use axum::extract::State;
use wximg_proto::wire::{StableTokenRequest, TokenOk};

use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::platform::peer::CallerIp;
use crate::platform::{quota, whitelist};
use crate::state::AppState;
use crate::tokens;

pub async fn stable_token(
    State(state): State<AppState>,
    CallerIp(caller): CallerIp,
    JsonBody(request): JsonBody<StableTokenRequest>,
) -> Result<ApiJson<TokenOk>, ApiError> {
    let meta = state.storage.meta.as_ref();
    let (app, secret) = tokens::verify_token_request(
        meta,
        request.appid.as_deref(),
        request.grant_type.as_deref(),
        request.secret.as_deref(),
    )
    .await?;
    let now = state.clock.now();
    whitelist::check_whitelist(meta, &app.appid, caller, now).await?;
    quota::charge(&state.platform, meta, &app.appid, "stable_token", now).await?;
    let force_refresh = request.force_refresh.unwrap_or(false);
    Ok(ApiJson(
        tokens::stable(meta, &app, &secret, force_refresh, now)
            .await?
            .into(),
    ))
}
