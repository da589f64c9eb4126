//! Cloud calls: requests from trusted networks that name their account instead of
//! sending a token.
//!
//! Invariant: only a caller inside a `--trusted-cidr` network that names its account in
//! the `X-WX-APPID` *header* can make one; from anywhere else the header is ignored and a
//! token is required. The seed lets code inside WeChat's cloud call `uploadimg` without a
//! token; wximg models that with those networks.
//!
//! The header is what makes it safe from browsers: a web page of another site, opened on
//! a developer's machine inside the network, can send a "simple" cross-site POST with any
//! query string but cannot add a custom header without the server's CORS consent (which
//! wximg never gives), and calls that carry a foreign `Origin` are refused anyway
//! ([`crate::extract::origin`]). So `from_appid` in the query names nobody on its own:
//! without the header the request is no cloud call (41001).
//!
//! With it, `from_appid` is what the open-API service ("开放接口服务") documents under
//! resource reuse: the header names the account whose environment makes the call, and
//! `from_appid=APPID` makes the call *as* that other account (the one a request came
//! from, `x-wx-from-appid`); without it the call is the environment's account's. On the
//! platform the two must share a subject and a reuse relation; wximg has neither, and
//! takes any existing account (a trusted network could name it in the header anyway, so
//! this grants nothing new). One that is malformed or unknown answers 48001, the
//! platform's answer to a call made "as the wrong subject".
//!
//! A cloud call's answer carries `x-openapi-seqid` ([`mark_cloud_calls`]), the header by
//! which clients tell that a call went through the cloud-call path, as the platform's
//! open-API service adds it.
//!
//! The token-carrying cloud calls — `?cloudbase_access_token=` in place of
//! `access_token`, or the token in `X-WX-CLOUDBASE-ACCESS-TOKEN` as the container receives
//! it — are ordinary token calls ([`token_of`]): wximg has no cloud environment pushing
//! 30-minute tokens, so any token it issued is taken there.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use wximg_proto::{AppId, ErrCode};

use super::PlatformSettings;
use crate::error::ApiError;
use wximg_store::{AppRecord, MetaStore};

/// The account a cloud call names, if this request is one: the caller inside a
/// `--trusted-cidr` network, and `X-WX-APPID` given. `Ok(None)` when it is not a cloud
/// call (the caller then needs a token: 41001).
pub async fn cloud_caller(
    settings: &PlatformSettings,
    meta: &dyn MetaStore,
    caller: IpAddr,
    headers: &HeaderMap,
    from_appid: Option<&str>,
) -> Result<Option<AppRecord>, ApiError> {
    if !settings.trusted_cidrs.iter().any(|c| c.contains(caller)) {
        return Ok(None);
    }
    let named = headers
        .get("x-wx-appid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(named) = named else {
        if from_appid.is_some_and(|s| !s.trim().is_empty()) {
            tracing::debug!(%caller, "from_appid without X-WX-APPID: not a cloud call");
        }
        return Ok(None);
    };
    let appid = AppId::parse(named).ok_or(ErrCode::InvalidAppId)?;
    let owner = meta.app(&appid).await?.ok_or(ErrCode::InvalidAppId)?;
    let Some(from) = from_appid
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != appid.as_str())
    else {
        tracing::debug!(%appid, %caller, "cloud call");
        return Ok(Some(owner));
    };
    let wrong_subject = |why: &str| {
        ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("from_appid {from:?} (resource reuse of {appid}'s environment) {why}"),
        )
    };
    let from_id = AppId::parse(from).ok_or_else(|| wrong_subject("is not an appid"))?;
    let app = meta
        .app(&from_id)
        .await?
        .ok_or_else(|| wrong_subject("names no account"))?;
    tracing::debug!(%appid, from_appid = %from_id, %caller, "cloud call, resource reuse");
    Ok(Some(app))
}

/// The token a request carries, if any, in the order the platform takes them: the query's
/// `access_token`, then `cloudbase_access_token` (what code in WeChat's cloud sends in
/// its place), then the `X-WX-CLOUDBASE-ACCESS-TOKEN` header (the token the cloud hands a
/// container, forwarded as is). Empty values count as absent.
pub fn token_of<'a>(
    query: &'a std::collections::HashMap<String, String>,
    headers: &'a HeaderMap,
) -> Option<&'a str> {
    query
        .get("access_token")
        .or_else(|| query.get("cloudbase_access_token"))
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            headers
                .get("x-wx-cloudbase-access-token")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|t| !t.is_empty())
        })
}

/// Where [`crate::extract::Caller`] records that a request is a cloud call, for
/// [`mark_cloud_calls`] to answer with `x-openapi-seqid`.
#[derive(Clone, Default)]
pub struct CloudCallSlot(Arc<OnceLock<String>>);

impl CloudCallSlot {
    /// Marks the request as a cloud call (a fresh seqid: 32 lowercase hex digits).
    pub fn mark(&self) {
        let _ = self.0.set(format!("{:032x}", rand::random::<u128>()));
    }
}

/// Route middleware: an answer to a cloud call carries `x-openapi-seqid`, success or not.
pub async fn mark_cloud_calls(mut request: Request, next: Next) -> Response {
    let slot = CloudCallSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(seqid) = slot.0.get()
        && let Ok(value) = HeaderValue::from_str(seqid)
    {
        response.headers_mut().insert("x-openapi-seqid", value);
    }
    response
}
