//! Fault injection: the server answers chosen error codes at chosen rates, so a client's
//! retry and recovery logic can be tested against the wire (no other implementation,
//! the real platform included, offers this).
//!
//! - `--faults 'uploadimg:-1:0.1,token:45011:0.05'`: for each rule `ENDPOINT:CODE:RATE`,
//!   that fraction of the endpoint's requests answer `CODE` (an endpoint may have several
//!   rules; the first that fires wins). Endpoints are named as in the metrics (`uploadimg`,
//!   `token`, `stable_token`, `api_component_token`, …) or `*` for every API.
//! - `X-Wximg-Fault: 42001` on one request answers that code, but only with
//!   `--allow-fault-header` (otherwise the header is ignored, so a public server cannot be
//!   made to lie by its callers).
//!
//! - `--publish-faults '3:0.5,4:0.1'`: for each rule `STATUS:RATE`, that fraction of the
//!   accepted `freepublish/submit` jobs end in `publish_status` STATUS (2 original
//!   failed, 3 routine failure, 4 refused by review) instead of 0 when they finish; and,
//!   with `--allow-fault-header`, `X-Wximg-Publish-Status: 3` on a submit decides its
//!   job's end. (A submit itself still answers 0 with its publish_id, as the platform's
//!   does: the failure shows in `freepublish/get` and in the job's event.)
//!
//! A fault is answered before the handler runs, so it never stores anything (the body it
//! leaves unread is read away by `crate::unread_body`, so the client can read the
//! answer). Each one is counted in `wximg_faults_injected_total{endpoint,errcode}`.

use std::str::FromStr;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wximg_proto::ErrCode;

use crate::answer::endpoint_name;
use crate::error::ApiError;
use crate::state::AppState;

/// One `ENDPOINT:CODE:RATE` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub endpoint: String,
    pub code: ErrCode,
    /// Probability in `0.0..=1.0`.
    pub rate: f64,
}

impl FromStr for FaultRule {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultRule, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [endpoint, code, rate] = parts[..] else {
            return Err(format!(
                "{s:?}: a fault is ENDPOINT:ERRCODE:RATE, e.g. uploadimg:-1:0.1"
            ));
        };
        let code = code
            .parse::<i64>()
            .ok()
            .and_then(ErrCode::from_code)
            .ok_or_else(|| format!("{s:?}: {code} is not an errcode of the error table"))?;
        let rate = rate
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("{s:?}: the rate must be a number from 0 to 1"))?;
        if endpoint != "*" && !super::quota::APIS.contains(&endpoint) {
            return Err(format!(
                "{s:?}: no endpoint {endpoint:?}; one of *, {}",
                super::quota::APIS.join(", ")
            ));
        }
        Ok(FaultRule {
            endpoint: endpoint.to_string(),
            code,
            rate,
        })
    }
}

/// One `STATUS:RATE` rule of `--publish-faults`: a failure a publish job ends in.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishFault {
    pub status: wximg_proto::articles::PublishStatus,
    /// Probability in `0.0..=1.0`.
    pub rate: f64,
}

impl FromStr for PublishFault {
    type Err = String;

    fn from_str(s: &str) -> Result<PublishFault, String> {
        let Some((status, rate)) = s.trim().split_once(':') else {
            return Err(format!("{s:?}: a publish fault is STATUS:RATE, e.g. 3:0.5"));
        };
        let status = status
            .parse::<i64>()
            .ok()
            .and_then(wximg_proto::articles::PublishStatus::from_code)
            .filter(|s| s.is_failure())
            .ok_or_else(|| {
                format!("{s:?}: the status must be a failure publish_status (2, 3 or 4)")
            })?;
        let rate = rate
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("{s:?}: the rate must be a number from 0 to 1"))?;
        Ok(PublishFault { status, rate })
    }
}

/// The status a new publish job will end in: the `X-Wximg-Publish-Status` header's (with
/// `--allow-fault-header`), else the first `--publish-faults` rule that fires, else 0.
pub fn publish_outcome(
    platform: &super::PlatformSettings,
    headers: &axum::http::HeaderMap,
) -> wximg_proto::articles::PublishStatus {
    use wximg_proto::articles::PublishStatus;
    if platform.allow_fault_header
        && let Some(value) = headers.get("x-wximg-publish-status")
    {
        match value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(PublishStatus::from_code)
            .filter(|s| s.is_failure() || *s == PublishStatus::Success)
        {
            Some(status) => return status,
            None => tracing::warn!(
                ?value,
                "X-Wximg-Publish-Status is not 0, 2, 3 or 4; ignored"
            ),
        }
    }
    platform
        .publish_faults
        .iter()
        .find(|r| rand::random::<f64>() < r.rate)
        .map_or(PublishStatus::Success, |r| r.status)
}

/// Parses a comma-separated list of rules (the `--faults` value).
pub fn parse_rules(s: &str) -> Result<Vec<FaultRule>, String> {
    s.split(',')
        .filter(|r| !r.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The code to answer for this request, if any.
fn chosen(state: &AppState, endpoint: &str, request: &Request) -> Option<ErrCode> {
    let platform = &state.platform;
    if platform.allow_fault_header
        && let Some(value) = request.headers().get("x-wximg-fault")
    {
        match value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(ErrCode::from_code)
        {
            Some(code) => return Some(code),
            None => tracing::warn!(
                ?value,
                "X-Wximg-Fault names no errcode of the table; ignored"
            ),
        }
    }
    platform
        .faults
        .iter()
        .filter(|r| r.endpoint == endpoint || r.endpoint == "*")
        .find(|r| rand::random::<f64>() < r.rate)
        .map(|r| r.code)
}

/// The middleware (on the API routes only, inside the `frame`, which writes the body).
pub async fn inject(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |route| endpoint_name(route.as_str()));
    let Some(code) = chosen(&state, endpoint, &request) else {
        return next.run(request).await;
    };
    crate::metrics::record_fault(endpoint, code.code());
    drop(request);
    ApiError::detail(code, format!("injected fault on {endpoint}")).into_response()
}
