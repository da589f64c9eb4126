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
//! without the header the request is no cloud call (41001). With it, `from_appid` — on
//! the platform, the account whose resources a cloud call reuses — may only repeat the
//! header's account: resource reuse between accounts is not modelled (48001).

use std::net::IpAddr;

use axum::http::HeaderMap;
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
    if let Some(from) = from_appid.map(str::trim).filter(|s| !s.is_empty())
        && from != appid.as_str()
    {
        return Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!(
                "from_appid {from} is not the X-WX-APPID account {appid}: wximg does not model \
                 resource reuse between accounts; drop from_appid or make it {appid}"
            ),
        ));
    }
    let app = meta.app(&appid).await?.ok_or(ErrCode::InvalidAppId)?;
    tracing::debug!(%appid, %caller, "cloud call");
    Ok(Some(app))
}
