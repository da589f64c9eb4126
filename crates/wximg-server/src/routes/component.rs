//! `POST /cgi-bin/component/…`: the third-party platform's token endpoints, with the real
//! request and response shapes (`wximg_proto::wire`; the rules are in
//! `crate::platform::component`).
//!
//! Every call but `api_component_token` takes the component's token as
//! `?component_access_token=` (what the documentation says) or `?access_token=` (what
//! some SDKs send); both are accepted. A call from another site's web page is refused
//! first (48001, `crate::extract::origin`); then the body is read (44002/47001, see
//! `crate::extract::JsonBody`), then the component's token, then its quota.

use axum::extract::{RawQuery, State};
use wximg_proto::AppId;
use wximg_proto::wire::{
    AuthorizationInfo, AuthorizerTokenOk, AuthorizerTokenRequest, ComponentTokenOk,
    ComponentTokenRequest, FuncInfo, PreAuthCodeOk, PreAuthCodeRequest, QueryAuthOk,
    QueryAuthRequest,
};

use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::platform::{component, quota};
use crate::state::AppState;

/// Authenticates the component by its token (in the query) and the body's
/// `component_appid`, and charges its quota for `api`. Returns the component.
async fn component_call(
    state: &AppState,
    query: Option<&str>,
    component_appid: Option<&str>,
    api: &str,
) -> Result<component::Component, ApiError> {
    let q = super::query_map(query);
    let token = q
        .get("component_access_token")
        .or_else(|| q.get("access_token"))
        .map(String::as_str);
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let component = component::authenticate_component(meta, token, component_appid, now).await?;
    if let Some(appid) = AppId::parse(&component.appid) {
        quota::charge(&state.platform, meta, &appid, api, now).await?;
    }
    Ok(component)
}

/// `api_component_token` `{component_appid, component_appsecret, component_verify_ticket}`.
pub async fn component_token(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ComponentTokenRequest>,
) -> Result<ApiJson<ComponentTokenOk>, ApiError> {
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    // Credentials first, quota second: calls with a wrong secret or ticket must not use up
    // the real component's quota (the rule of every endpoint here).
    let component = component::verify_component_request(
        meta,
        request.component_appid.as_deref(),
        request.component_appsecret.as_deref(),
        request.component_verify_ticket.as_deref(),
        now,
    )
    .await?;
    if let Some(appid) = AppId::parse(&component.appid) {
        quota::charge(&state.platform, meta, &appid, "api_component_token", now).await?;
    }
    let (token, expires_in) = component::issue_component_token(meta, &component, now).await?;
    Ok(ApiJson(ComponentTokenOk {
        component_access_token: token,
        expires_in,
    }))
}

/// `api_create_preauthcode` `{component_appid}`.
pub async fn create_preauthcode(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<PreAuthCodeRequest>,
) -> Result<ApiJson<PreAuthCodeOk>, ApiError> {
    let component = component_call(
        &state,
        query.as_deref(),
        request.component_appid.as_deref(),
        "api_create_preauthcode",
    )
    .await?;
    let (code, expires_in) =
        component::preauth_code(state.storage.meta.as_ref(), &component, state.clock.now()).await?;
    Ok(ApiJson(PreAuthCodeOk {
        expires_in,
        pre_auth_code: code,
    }))
}

/// `api_query_auth` `{component_appid, authorization_code}`.
pub async fn query_auth(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<QueryAuthRequest>,
) -> Result<ApiJson<QueryAuthOk>, ApiError> {
    let component = component_call(
        &state,
        query.as_deref(),
        request.component_appid.as_deref(),
        "api_query_auth",
    )
    .await?;
    let t = component::query_auth(
        state.storage.meta.as_ref(),
        &component,
        request.authorization_code.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(ApiJson(QueryAuthOk {
        authorization_info: AuthorizationInfo {
            authorizer_access_token: t.access_token,
            authorizer_appid: t.authorizer_appid,
            authorizer_refresh_token: t.refresh_token,
            expires_in: t.expires_in,
            func_info: FuncInfo::list(&t.func_sets),
        },
    }))
}

/// `api_authorizer_token` `{component_appid, authorizer_appid, authorizer_refresh_token}`.
pub async fn authorizer_token(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<AuthorizerTokenRequest>,
) -> Result<ApiJson<AuthorizerTokenOk>, ApiError> {
    let component = component_call(
        &state,
        query.as_deref(),
        request.component_appid.as_deref(),
        "api_authorizer_token",
    )
    .await?;
    let t = component::refresh_authorizer_token(
        state.storage.meta.as_ref(),
        &component,
        request.authorizer_appid.as_deref(),
        request.authorizer_refresh_token.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(ApiJson(AuthorizerTokenOk {
        authorizer_access_token: t.access_token,
        authorizer_refresh_token: t.refresh_token,
        expires_in: t.expires_in,
    }))
}
