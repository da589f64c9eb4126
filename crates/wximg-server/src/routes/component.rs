//! `POST /cgi-bin/component/…`: the third-party platform's token endpoints, with the real
//! request and response shapes (`wximg_proto::wire`; the rules are in
//! `crate::platform::component`).
//!
//! Every call but `api_component_token` takes the component's token as
//! `?component_access_token=` (what the documentation says) or `?access_token=` (what
//! some SDKs send); both are accepted. A call from another site's web page is refused
//! first (48001, `crate::extract::origin`); then the body is read (44002/47001, see
//! `crate::extract::JsonBody`), then the component's token (61014 for an account's or an
//! authorizer's token), then the caller's address (61004 outside the component's IP
//! whitelist, if it has one), then its quota.
//!
//! `api_component_token` and `api_start_push_ticket` take no token: the appid (41002,
//! 40013, 61011 for no such component), the caller's address (61004), the secret
//! (41004/40125), and for the token the ticket (61005 past its life, 61006 not one of
//! the component's).

use axum::extract::{RawQuery, State};
use wximg_proto::wire::{
    AuthorizationInfo, AuthorizerInfo, AuthorizerInfoOk, AuthorizerInfoRequest, AuthorizerListItem,
    AuthorizerListOk, AuthorizerListRequest, AuthorizerTokenOk, AuthorizerTokenRequest,
    BusinessInfo, ComponentTokenOk, ComponentTokenRequest, FuncInfo, GrantInfo, OkBody,
    PreAuthCodeOk, PreAuthCodeRequest, QueryAuthOk, QueryAuthRequest, StartPushTicketRequest,
    TypeId,
};
use wximg_proto::{AppId, AppType, ErrCode};

use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::platform::peer::CallerIp;
use crate::platform::{component, quota};
use crate::state::AppState;

/// Authenticates the component by its token (in the query) and the body's
/// `component_appid`, and charges its quota for `api`. Returns the component.
async fn component_call(
    state: &AppState,
    caller: std::net::IpAddr,
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
    component::check_component_ip(meta, &component, caller, now).await?;
    if let Some(appid) = AppId::parse(&component.appid) {
        quota::charge(&state.platform, meta, &appid, api, now).await?;
    }
    Ok(component)
}

/// `api_component_token` `{component_appid, component_appsecret, component_verify_ticket}`.
pub async fn component_token(
    State(state): State<AppState>,
    CallerIp(caller): CallerIp,
    JsonBody(request): JsonBody<ComponentTokenRequest>,
) -> Result<ApiJson<ComponentTokenOk>, ApiError> {
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    ip_of_named_component(&state, request.component_appid.as_deref(), caller).await?;
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
    CallerIp(caller): CallerIp,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<PreAuthCodeRequest>,
) -> Result<ApiJson<PreAuthCodeOk>, ApiError> {
    let component = component_call(
        &state,
        caller,
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
    CallerIp(caller): CallerIp,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<QueryAuthRequest>,
) -> Result<ApiJson<QueryAuthOk>, ApiError> {
    let component = component_call(
        &state,
        caller,
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
    CallerIp(caller): CallerIp,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<AuthorizerTokenRequest>,
) -> Result<ApiJson<AuthorizerTokenOk>, ApiError> {
    let component = component_call(
        &state,
        caller,
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

/// 61004 before the secret is looked at: the caller of a component named by a
/// well-formed appid must be in its IP whitelist (other failures are left to the
/// credential checks that follow, in their order).
async fn ip_of_named_component(
    state: &AppState,
    component_appid: Option<&str>,
    caller: std::net::IpAddr,
) -> Result<(), ApiError> {
    let Some(appid) = component_appid.and_then(AppId::parse) else {
        return Ok(());
    };
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let Some((c, _)) =
        crate::platform::load::<component::Component>(meta, &component::component_key(&appid), now)
            .await?
    else {
        return Ok(());
    };
    component::check_component_ip(meta, &c, caller, now).await
}

/// `api_start_push_ticket` `{component_appid, component_secret}`: starts (here: does at
/// once) the ticket push; `{"errcode":0,"errmsg":"ok"}`.
pub async fn start_push_ticket(
    State(state): State<AppState>,
    CallerIp(caller): CallerIp,
    JsonBody(request): JsonBody<StartPushTicketRequest>,
) -> Result<ApiJson<OkBody>, ApiError> {
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    ip_of_named_component(&state, request.component_appid.as_deref(), caller).await?;
    let component = component::verify_component_secret(
        meta,
        request.component_appid.as_deref(),
        request.component_secret.as_deref(),
        now,
    )
    .await?;
    if let Some(appid) = AppId::parse(&component.appid) {
        quota::charge(&state.platform, meta, &appid, "api_start_push_ticket", now).await?;
    }
    component::start_push_ticket(meta, &component, now).await?;
    Ok(ApiJson(OkBody::ok()))
}

/// `api_get_authorizer_info` `{component_appid, authorizer_appid}`.
pub async fn get_authorizer_info(
    State(state): State<AppState>,
    CallerIp(caller): CallerIp,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<AuthorizerInfoRequest>,
) -> Result<ApiJson<AuthorizerInfoOk>, ApiError> {
    let component = component_call(
        &state,
        caller,
        query.as_deref(),
        request.component_appid.as_deref(),
        "api_get_authorizer_info",
    )
    .await?;
    let (grant, app) = component::authorizer_grant(
        state.storage.meta.as_ref(),
        &component,
        request.authorizer_appid.as_deref(),
        state.clock.now(),
    )
    .await?;
    // The original ID: `gh_` and 12 hex digits, derived from the appid so it is stable.
    let user_name = format!("gh_{}", &app.appid.as_str()[2..14]);
    Ok(ApiJson(AuthorizerInfoOk {
        authorizer_info: AuthorizerInfo {
            nick_name: app.name.clone(),
            head_img: String::new(),
            service_type_info: TypeId {
                id: if app.app_type == AppType::Service {
                    2
                } else {
                    0
                },
            },
            verify_type_info: TypeId { id: -1 },
            user_name,
            principal_name: String::new(),
            alias: String::new(),
            business_info: BusinessInfo::default(),
            qrcode_url: String::new(),
        },
        authorization_info: GrantInfo {
            authorizer_appid: app.appid.to_string(),
            func_info: FuncInfo::list(&grant.func_sets),
        },
    }))
}

/// `api_get_authorizer_list` `{component_appid, offset, count}`: `count` 1 to 500
/// (47001 otherwise, or for a negative offset).
pub async fn get_authorizer_list(
    State(state): State<AppState>,
    CallerIp(caller): CallerIp,
    RawQuery(query): RawQuery,
    JsonBody(request): JsonBody<AuthorizerListRequest>,
) -> Result<ApiJson<AuthorizerListOk>, ApiError> {
    let component = component_call(
        &state,
        caller,
        query.as_deref(),
        request.component_appid.as_deref(),
        "api_get_authorizer_list",
    )
    .await?;
    let offset = request.offset.unwrap_or(0);
    let count = request.count.unwrap_or(0);
    if offset < 0 || !(1..=MAX_AUTHORIZER_PAGE).contains(&count) {
        return Err(ApiError::detail(
            ErrCode::DataFormatError,
            format!("offset {offset}, count {count}: count must be 1 to {MAX_AUTHORIZER_PAGE}"),
        ));
    }
    let grants =
        component::authorizer_list(state.storage.meta.as_ref(), &component, state.clock.now())
            .await?;
    let list = grants
        .iter()
        .skip(offset as usize)
        .take(count as usize)
        .map(|g| AuthorizerListItem {
            authorizer_appid: g.authorizer.clone(),
            auth_time: g.granted_at,
        })
        .collect();
    Ok(ApiJson(AuthorizerListOk {
        total_count: grants.len() as i64,
        list,
    }))
}

/// `api_get_authorizer_list`'s largest page: "拉取数量，最大为 500".
pub const MAX_AUTHORIZER_PAGE: i64 = 500;
