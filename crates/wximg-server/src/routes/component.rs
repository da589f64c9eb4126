//! `POST /cgi-bin/component/…`: the third-party platform's token endpoints, with the real
//! request and response shapes (the rules are in `crate::platform::component`).
//!
//! Every call but `api_component_token` takes the component's token as
//! `?component_access_token=` (what the documentation says) or `?access_token=` (what
//! some SDKs send); both are accepted.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value, json};
use wximg_proto::{AppId, ErrCode};

use crate::answer::{ApiError, ApiJson};
use crate::platform::{component, quota};
use crate::state::AppState;

/// The JSON object body (44002 when empty, 47001 when not an object).
fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ErrCode::EmptyPostData.into());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ApiError::detail(
            ErrCode::DataFormatError,
            "body is not a JSON object",
        )),
        Err(e) => Err(ApiError::detail(
            ErrCode::DataFormatError,
            format!("body: {e}"),
        )),
    }
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

fn token_of(q: &HashMap<String, String>) -> Option<&str> {
    q.get("component_access_token")
        .or_else(|| q.get("access_token"))
        .map(String::as_str)
}

/// Authenticates the component and charges its quota for `api`.
async fn component_call(
    state: &AppState,
    query: Option<&str>,
    fields: &Map<String, Value>,
    api: &str,
) -> Result<String, ApiError> {
    let q = super::query_map(query);
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let component =
        component::authenticate_component(meta, token_of(&q), text(fields, "component_appid"), now)
            .await?;
    if let Some(appid) = AppId::parse(&component) {
        quota::charge(&state.platform, meta, &appid, api, now).await?;
    }
    Ok(component)
}

fn func_info(sets: &[u32]) -> Value {
    Value::Array(
        sets.iter()
            .map(|id| json!({"funcscope_category": {"id": id}}))
            .collect(),
    )
}

/// `api_component_token` `{component_appid, component_appsecret, component_verify_ticket}`.
pub async fn component_token(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<ApiJson<Value>, ApiError> {
    let fields = object(&body)?;
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let appid = text(&fields, "component_appid");
    if let Some(appid) = appid.and_then(AppId::parse) {
        quota::charge(&state.platform, meta, &appid, "api_component_token", now).await?;
    }
    let (token, expires_in) = component::component_token(
        meta,
        appid,
        text(&fields, "component_appsecret"),
        text(&fields, "component_verify_ticket"),
        now,
    )
    .await?;
    Ok(ApiJson(
        json!({"component_access_token": token, "expires_in": expires_in}),
    ))
}

/// `api_create_preauthcode` `{component_appid}`.
pub async fn create_preauthcode(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<ApiJson<Value>, ApiError> {
    let fields = object(&body)?;
    let component =
        component_call(&state, query.as_deref(), &fields, "api_create_preauthcode").await?;
    let (code, expires_in) =
        component::preauth_code(state.storage.meta.as_ref(), &component, state.clock.now()).await?;
    Ok(ApiJson(
        json!({"pre_auth_code": code, "expires_in": expires_in}),
    ))
}

/// `api_query_auth` `{component_appid, authorization_code}`.
pub async fn query_auth(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<ApiJson<Value>, ApiError> {
    let fields = object(&body)?;
    let component = component_call(&state, query.as_deref(), &fields, "api_query_auth").await?;
    let t = component::query_auth(
        state.storage.meta.as_ref(),
        &component,
        text(&fields, "authorization_code"),
        state.clock.now(),
    )
    .await?;
    Ok(ApiJson(json!({
        "authorization_info": {
            "authorizer_appid": t.authorizer_appid,
            "authorizer_access_token": t.access_token,
            "expires_in": t.expires_in,
            "authorizer_refresh_token": t.refresh_token,
            "func_info": func_info(&t.func_sets),
        }
    })))
}

/// `api_authorizer_token` `{component_appid, authorizer_appid, authorizer_refresh_token}`.
pub async fn authorizer_token(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<ApiJson<Value>, ApiError> {
    let fields = object(&body)?;
    let component =
        component_call(&state, query.as_deref(), &fields, "api_authorizer_token").await?;
    let t = component::refresh_authorizer_token(
        state.storage.meta.as_ref(),
        &component,
        text(&fields, "authorizer_appid"),
        text(&fields, "authorizer_refresh_token"),
        state.clock.now(),
    )
    .await?;
    Ok(ApiJson(json!({
        "authorizer_access_token": t.access_token,
        "expires_in": t.expires_in,
        "authorizer_refresh_token": t.refresh_token,
    })))
}
