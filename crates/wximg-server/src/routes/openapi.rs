//! The platform's debugging tools for developers: `openapi/quota/get` (an API's daily
//! quota and use), `clear_quota` and `clear_quota/v2` (clearing an account's counts, 10
//! times a month), and `openapi/rid/get` (the request behind a rid from a log).
//!
//! Invariant: each answers only about the calling account. In order, as every
//! token-authenticated route: the caller (41001/40001/42001, `crate::extract::Caller`;
//! any authorizer grant will do, as on the platform; cloud calls are not supported:
//! 48001), the API's own quota (45009/45011), the body (44002/47001), then the API's own
//! codes: 76021/76022 (`cgi_path`), 41002/40013/48006 (`clear_quota`),
//! 76002/76004/76001/76003 (`rid`).
//!
//! Departures, for the README: wximg counts an API only while a limit is set for it
//! (`wximg app quota`), so an unlimited API shows `used` 0 and the limits [`UNLIMITED`];
//! `component_rate_limit` repeats `rate_limit` (an authorizer's calls share the account's
//! counts); `component_access_token` is not accepted by these routes.

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use wximg_proto::wire::Rid;
use wximg_proto::{AppId, ErrCode};
use wximg_store::request_log::KEEP_SECS;

use crate::answer::{ApiJson, endpoint_name};
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Via};
use crate::platform::quota::{self, beijing_day, minute};
use crate::platform::update;
use crate::state::AppState;
use crate::tokens;

/// The limit shown for an API without one.
pub const UNLIMITED: i64 = i32::MAX as i64;

/// Clears an account may make in a (Beijing) month, as the platform's.
pub const CLEARS_PER_MONTH: i64 = 10;

/// A JSON string; any other value reads as absent (as the platform reads fields).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct QuotaGetRequest {
    #[serde(default, deserialize_with = "text")]
    cgi_path: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Quota {
    daily_limit: i64,
    used: i64,
    remain: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimit {
    call_count: i64,
    refresh_second: i64,
}

#[derive(Debug, Serialize)]
pub struct QuotaGetOk {
    errcode: i64,
    errmsg: &'static str,
    quota: Quota,
    rate_limit: RateLimit,
    component_rate_limit: RateLimit,
}

/// The plain `{"errcode":0,"errmsg":"ok"}` of `clear_quota`.
#[derive(Debug, Serialize)]
pub struct Ok0 {
    errcode: i64,
    errmsg: &'static str,
}

const OK: Ok0 = Ok0 {
    errcode: 0,
    errmsg: "ok",
};

/// 48001 for a cloud call: these APIs do not support them.
fn no_cloud_call(caller: &Caller, api: &str) -> Result<(), ApiError> {
    match caller.via {
        Via::CloudCall { .. } => Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("{api} does not support cloud calls (the platform's rule)"),
        )),
        _ => Ok(()),
    }
}

/// The quota API a `cgi_path` names: 76021 for none, 76022 for one the caller's kind of
/// token cannot ask about (`/sns/…`, the third-party platform's own APIs).
pub fn quota_api(cgi_path: &str) -> Result<&'static str, ApiError> {
    let path = cgi_path.split('?').next().unwrap_or("");
    if path.starts_with("/sns/") || path.contains("/sns/") {
        return Err(ApiError::detail(
            ErrCode::CgiPathNoPermission,
            format!("{path}: /sns/ APIs have no quota to query"),
        ));
    }
    if path.starts_with("/cgi-bin/component/") && endpoint_name(path) != "other" {
        return Err(ApiError::detail(
            ErrCode::CgiPathNoPermission,
            format!("{path} is a third-party platform API: ask with its component_access_token"),
        ));
    }
    let name = endpoint_name(path);
    if quota::APIS.contains(&name) {
        Ok(name)
    } else {
        Err(ApiError::detail(
            ErrCode::CgiPathNotFound,
            format!("{cgi_path:?} is no API of wximg (a path such as /cgi-bin/media/uploadimg)"),
        ))
    }
}

/// `POST /cgi-bin/openapi/quota/get` `{"cgi_path": "/cgi-bin/…"}`.
pub async fn quota_get(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<QuotaGetRequest>,
) -> Result<ApiJson<QuotaGetOk>, ApiError> {
    no_cloud_call(&caller, "openapi/quota/get")?;
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let appid = &caller.app.appid;
    quota::charge(&state.platform, meta, appid, "quota_get", now).await?;
    let cgi_path = request.cgi_path.unwrap_or_default();
    let api = quota_api(&cgi_path)?;
    let limits = quota::own_limits(meta, appid, api, now)
        .await?
        .or(state.platform.default_quota);
    let (today, _) = meta
        .call_counts(appid, api, beijing_day(now), minute(now))
        .await?;
    let daily_limit = limits.daily.unwrap_or(UNLIMITED);
    let rate = RateLimit {
        call_count: limits.per_minute.unwrap_or(UNLIMITED),
        refresh_second: 60,
    };
    Ok(ApiJson(QuotaGetOk {
        errcode: 0,
        errmsg: "ok",
        quota: Quota {
            daily_limit,
            used: today,
            remain: (daily_limit - today).max(0),
        },
        component_rate_limit: rate.clone(),
        rate_limit: rate,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct ClearQuotaRequest {
    #[serde(default, deserialize_with = "text")]
    appid: Option<String>,
    #[serde(default, deserialize_with = "text")]
    appsecret: Option<String>,
}

/// An account's clears in one month (the platform record `clearquota:wx…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Clears {
    /// `year * 100 + month`, in Beijing time.
    month: i64,
    count: i64,
}

/// `year * 100 + month` of a Beijing day number (days since 1970-01-01).
pub fn month_of_day(day: i64) -> i64 {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    y * 100 + m
}

/// Uses one of the account's clears of this month (48006 when none is left) and clears
/// its counts of every API.
async fn clear(state: &AppState, appid: &AppId) -> Result<(), ApiError> {
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    let month = month_of_day(beijing_day(now));
    let key = format!("clearquota:{appid}");
    update(meta, &key, now, None, |c: Option<Clears>| {
        let c = c
            .filter(|c| c.month == month)
            .unwrap_or(Clears { month, count: 0 });
        if c.count >= CLEARS_PER_MONTH {
            return Err(ApiError::detail(
                ErrCode::ClearQuotaLimit,
                format!("{appid}: {} clears in {month} already", c.count),
            ));
        }
        Ok(Clears {
            month,
            count: c.count + 1,
        })
    })
    .await?;
    for api in quota::APIS {
        meta.reset_calls(appid, api).await?;
    }
    tracing::info!(%appid, "API call counts cleared (clear_quota)");
    Ok(())
}

/// `POST /cgi-bin/clear_quota?access_token=…` `{"appid": "wx…"}`: the appid must be the
/// token's account (40013 otherwise, as the platform).
pub async fn clear_quota(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<ClearQuotaRequest>,
) -> Result<ApiJson<Ok0>, ApiError> {
    no_cloud_call(&caller, "clear_quota")?;
    let meta = state.storage.meta.as_ref();
    let appid = caller.app.appid.clone();
    quota::charge(
        &state.platform,
        meta,
        &appid,
        "clear_quota",
        state.clock.now(),
    )
    .await?;
    let asked = crate::error::required(request.appid.as_deref(), ErrCode::AppIdMissing)?;
    if AppId::parse(asked).as_ref() != Some(&appid) {
        return Err(ApiError::detail(
            ErrCode::InvalidAppId,
            format!("appid {asked:?} is not the token's account {appid}"),
        ));
    }
    clear(&state, &appid).await?;
    Ok(ApiJson(OK))
}

/// `POST /cgi-bin/clear_quota/v2` `{"appid", "appsecret"}`: the same with the secret
/// instead of a token (for an account whose token calls are used up).
pub async fn clear_quota_v2(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ClearQuotaRequest>,
) -> Result<ApiJson<Ok0>, ApiError> {
    let meta = state.storage.meta.as_ref();
    let (app, _) =
        tokens::verify_app(meta, request.appid.as_deref(), request.appsecret.as_deref()).await?;
    quota::charge(
        &state.platform,
        meta,
        &app.appid,
        "clear_quota",
        state.clock.now(),
    )
    .await?;
    clear(&state, &app.appid).await?;
    Ok(ApiJson(OK))
}

#[derive(Debug, Default, Deserialize)]
pub struct RidGetRequest {
    #[serde(default, deserialize_with = "text")]
    rid: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RequestInfo {
    invoke_time: i64,
    cost_in_ms: i64,
    request_url: String,
    request_body: String,
    response_body: String,
    client_ip: String,
}

#[derive(Debug, Serialize)]
pub struct RidGetOk {
    errcode: i64,
    errmsg: &'static str,
    request: RequestInfo,
}

/// `POST /cgi-bin/openapi/rid/get` `{"rid": "…"}`: the logged request (see
/// `crate::request_log`), if it was the caller's account's.
pub async fn rid_get(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<RidGetRequest>,
) -> Result<ApiJson<RidGetOk>, ApiError> {
    no_cloud_call(&caller, "openapi/rid/get")?;
    let meta = state.storage.meta.as_ref();
    let appid = &caller.app.appid;
    quota::charge(&state.platform, meta, appid, "rid_get", state.clock.now()).await?;
    let text = request.rid.unwrap_or_default();
    let rid = Rid::parse(text.trim())
        .ok_or_else(|| ApiError::detail(ErrCode::RidInvalid, format!("{text:?} is not a rid")))?;
    // The rid's first group is the server's Unix time when it answered (wall time, as
    // the request log's).
    let made = i64::from_str_radix(&rid.as_str()[..8], 16).unwrap_or(0);
    let wall = crate::clock::Clock::default().now();
    if made < wall - KEEP_SECS || made > wall + 300 {
        return Err(ApiError::detail(
            ErrCode::RidExpired,
            format!("rid {rid} is from {made}, more than 7 days from now ({wall})"),
        ));
    }
    let found = meta.request(rid.as_str()).await?.ok_or_else(|| {
        ApiError::detail(ErrCode::RidNotFound, format!("no request {rid} in the log"))
    })?;
    if found.appid.as_ref() != Some(appid) {
        return Err(ApiError::detail(
            ErrCode::RidNoPermission,
            format!("request {rid} is not {appid}'s"),
        ));
    }
    Ok(ApiJson(RidGetOk {
        errcode: 0,
        errmsg: "ok",
        request: RequestInfo {
            invoke_time: found.invoke_time,
            cost_in_ms: found.cost_in_ms,
            request_url: found.request_url,
            request_body: found.request_body,
            response_body: found.response_body,
            client_ip: found.client_ip,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_follow_the_civil_calendar() {
        assert_eq!(month_of_day(0), 197_001);
        assert_eq!(month_of_day(beijing_day(1_704_038_399)), 202_312); // 23:59:59 Dec 31, Beijing
        assert_eq!(month_of_day(beijing_day(1_704_038_400)), 202_401);
        assert_eq!(month_of_day(beijing_day(1_709_251_200 - 8 * 3600)), 202_403); // Mar 1, Beijing
    }

    #[test]
    fn cgi_paths_name_quota_apis() {
        assert_eq!(
            quota_api("/cgi-bin/media/uploadimg").ok(),
            Some("uploadimg")
        );
        assert_eq!(quota_api("/cgi-bin/token").ok(), Some("token"));
        assert_eq!(quota_api("/cgi-bin/openapi/rid/get").ok(), Some("rid_get"));
        assert_eq!(
            quota_api("/cgi-bin/nope").err().map(|e| e.code.code()),
            Some(76021)
        );
        assert_eq!(
            quota_api("cgi-bin/media/uploadimg")
                .err()
                .map(|e| e.code.code()),
            Some(76021)
        );
        assert_eq!(
            quota_api("/sns/jscode2session")
                .err()
                .map(|e| e.code.code()),
            Some(76022)
        );
        assert_eq!(
            quota_api("/cgi-bin/component/api_component_token")
                .err()
                .map(|e| e.code.code()),
            Some(76022)
        );
    }
}
