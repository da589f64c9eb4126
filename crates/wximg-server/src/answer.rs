//! The wire frame of every API answer, kept apart from the handlers' logic.
//!
//! Handlers return `Result<ApiJson<T>, ApiError>`. Neither writes a body that needs the
//! request id: [`ApiError`] only marks the response with its code, and the [`frame`]
//! middleware — which made the rid — writes the platform's error body
//! `{"errcode":N,"errmsg":"… rid: …"}`, sets `X-Request-Id`, logs the outcome, counts it in
//! the metrics, and turns a panic into `-1 system error` instead of a dropped connection.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use serde::Serialize;
use wximg_proto::ErrCode;
use wximg_proto::wire::{ErrorBody, JSON_CONTENT_TYPE, Rid};

use wximg_store::StorageError;

/// An API failure: one row of the error table, plus what to log.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrCode,
    /// A message other than the table's (e.g. 40164 names the caller's address).
    pub message: Option<String>,
    /// Logged with the rid, never sent.
    pub detail: Option<String>,
}

impl ApiError {
    pub fn detail(code: ErrCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: None,
            detail: Some(detail.into()),
        }
    }
}

impl From<ErrCode> for ApiError {
    fn from(code: ErrCode) -> ApiError {
        ApiError {
            code,
            message: None,
            detail: None,
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        ApiError::detail(ErrCode::SystemError, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// A successful JSON answer with the platform's Content-Type.
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => json_response(body),
            Err(e) => {
                ApiError::detail(ErrCode::SystemError, format!("serialising: {e}")).into_response()
            }
        }
    }
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// Makes a fresh rid: the Unix time, then 64 random bits.
pub fn new_rid(now: i64) -> Rid {
    Rid::new(now as u64, rand::random())
}

/// Names the endpoint for logs and metrics, with a bounded set of values.
pub fn endpoint_label(path: &str) -> &'static str {
    match path {
        "/cgi-bin/token" => "token",
        "/cgi-bin/stable_token" => "stable_token",
        "/cgi-bin/media/uploadimg" => "uploadimg",
        "/cgi-bin/component/api_component_token" => "api_component_token",
        "/cgi-bin/component/api_create_preauthcode" => "api_create_preauthcode",
        "/cgi-bin/component/api_query_auth" => "api_query_auth",
        "/cgi-bin/component/api_authorizer_token" => "api_authorizer_token",
        p if p.starts_with("/debug/") => "debug",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        p if p.starts_with("/mmbiz_") => "image",
        p if p.starts_with("/cgi-bin/") => "cgi_other",
        _ => "other",
    }
}

/// The middleware that frames every answer (see the module docs).
pub async fn frame(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let rid = new_rid(crate::clock::Clock::default().now());
    let method = request.method().clone();
    let endpoint = endpoint_label(request.uri().path());
    request.extensions_mut().insert(rid.clone());

    let mut response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ApiError::detail(ErrCode::SystemError, format!("panic: {what}")).into_response()
        }
    };

    let errcode = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => {
            let body = ErrorBody::with_message(
                error.code,
                error.message.as_deref().unwrap_or(error.code.message()),
                &rid,
            );
            let detail = error.detail.as_deref().unwrap_or("");
            if error.code == ErrCode::SystemError {
                tracing::error!(%rid, endpoint, errcode = error.code.code(), detail, "request failed");
            } else {
                tracing::info!(%rid, endpoint, errcode = error.code.code(), detail, "request refused");
            }
            let headers = std::mem::take(response.headers_mut());
            response = json_response(serde_json::to_vec(&body).unwrap_or_default());
            response.headers_mut().extend(headers);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_CONTENT_TYPE),
            );
            error.code.code()
        }
        None => 0,
    };
    if let Ok(value) = HeaderValue::from_str(rid.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    let elapsed = started.elapsed();
    crate::metrics::record_request(endpoint, errcode, response.status().as_u16(), elapsed);
    tracing::debug!(%rid, %method, endpoint, errcode, status = response.status().as_u16(), elapsed_ms = elapsed.as_secs_f64() * 1000.0, "answered");
    response
}
