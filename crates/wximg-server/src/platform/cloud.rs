//! Cloud calls: requests from trusted networks that name their account instead of
//! sending a token.
//!
//! Invariant: only a caller inside a `--trusted-cidr` network can make one; from anywhere
//! else `X-WX-APPID` and `from_appid` are ignored and a token is required. The seed lets
//! code inside WeChat's cloud call `uploadimg` without a token; wximg models that with
//! those networks: a request from inside one may omit `access_token` and name its account
//! with the `X-WX-APPID` header (or the `from_appid` query parameter).

use std::net::IpAddr;

use axum::http::HeaderMap;
use wximg_proto::{AppId, ErrCode};

use super::PlatformSettings;
use crate::error::ApiError;
use wximg_store::{AppRecord, MetaStore};

/// The account a cloud call names, if this request is one: the caller inside a
/// `--trusted-cidr` network, and `X-WX-APPID` (or `from_appid`) given. `Ok(None)` when it
/// is not a cloud call (the caller then needs a token: 41001).
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
        .or(from_appid)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(named) = named else {
        return Ok(None);
    };
    let appid = AppId::parse(named).ok_or(ErrCode::InvalidAppId)?;
    let app = meta.app(&appid).await?.ok_or(ErrCode::InvalidAppId)?;
    tracing::debug!(%appid, %caller, "cloud call");
    Ok(Some(app))
}
