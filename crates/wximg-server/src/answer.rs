//! The wire frame of every answer, kept apart from the handlers' logic.
//!
//! Invariant: every answer leaves through [`frame`] (a cached picture through
//! [`frame_direct`], below), and only [`frame`] writes an error body. Handlers return `Result<ApiJson<T>, ApiError>`; an [`ApiError`] only marks the
//! response with its code, and the frame — which made the rid — writes the platform's
//! error body `{"errcode":N,"errmsg":"… rid: …"}`, sets `X-Request-Id`, logs the outcome
//! and counts it in the metrics under the endpoint's name. A panic below the frame is
//! caught ([`catch_panic`], tower-http's `CatchPanicLayer`) and answers `-1 system error`
//! in that same frame instead of dropping the connection.
//!
//! The one kind of answer given outside the router, a picture the cache holds
//! (`crate::routes::images::cached`, taken by `crate::connections` before the router to
//! spare a hot picture the middleware stack), goes through [`frame_direct`]: the same
//! rid, `X-Request-Id`, metrics and log line as [`frame`] gives it. Such an answer is
//! never an error, and is no API call, so it has no error body and no request log.

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};
use wximg_proto::ErrCode;
use wximg_proto::wire::{ErrorBody, Hint, JSON_CONTENT_TYPE, Rid};

use crate::error::ApiError;

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

/// The body of an answer given outside the router (to a client refused past the
/// connection cap): `-1 system error`, with a fresh rid.
pub fn refusal_body() -> String {
    let rid = new_rid(crate::clock::Clock::default().now());
    let body = ErrorBody::with_message(ErrCode::SystemError, ErrCode::SystemError.message(), &rid);
    // Serialising two plain fields cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// The name of a route (its template, as axum's [`MatchedPath`] gives it) for logs,
/// metrics and `--faults` rules: a bounded set of values, whatever paths clients send.
pub fn endpoint_name(route: &str) -> &'static str {
    match route {
        "/cgi-bin/token" => "token",
        "/cgi-bin/stable_token" => "stable_token",
        "/cgi-bin/media/uploadimg" => "uploadimg",
        "/cgi-bin/media/upload" => "media_upload",
        "/cgi-bin/media/get" => "media_get",
        "/cgi-bin/material/add_material" => "add_material",
        "/cgi-bin/material/get_materialcount" => "get_materialcount",
        "/cgi-bin/material/batchget_material" => "batchget_material",
        "/cgi-bin/material/get_material" => "get_material",
        "/cgi-bin/material/del_material" => "del_material",
        "/cgi-bin/material/add_news" => "add_news",
        "/cgi-bin/material/update_news" => "update_news",
        "/cgi-bin/component/api_component_token" => "api_component_token",
        "/cgi-bin/component/api_create_preauthcode" => "api_create_preauthcode",
        "/cgi-bin/component/api_query_auth" => "api_query_auth",
        "/cgi-bin/component/api_authorizer_token" => "api_authorizer_token",
        "/cgi-bin/openapi/quota/get" => "quota_get",
        "/cgi-bin/clear_quota" => "clear_quota",
        "/cgi-bin/clear_quota/v2" => "clear_quota_v2",
        "/cgi-bin/openapi/rid/get" => "rid_get",
        "/cgi-bin/draft/add" => "draft_add",
        "/cgi-bin/draft/get" => "draft_get",
        "/cgi-bin/draft/update" => "draft_update",
        "/cgi-bin/draft/delete" => "draft_delete",
        "/cgi-bin/draft/batchget" => "draft_batchget",
        "/cgi-bin/draft/count" => "draft_count",
        "/cgi-bin/draft/switch" => "draft_switch",
        "/cgi-bin/freepublish/submit" => "freepublish_submit",
        "/cgi-bin/freepublish/get" => "freepublish_get",
        "/cgi-bin/freepublish/getarticle" => "freepublish_getarticle",
        "/cgi-bin/freepublish/delete" => "freepublish_delete",
        "/cgi-bin/freepublish/batchget" => "freepublish_batchget",
        "/s/{id}" => "article_page",
        "/cgi-bin/component/api_start_push_ticket" => "api_start_push_ticket",
        "/cgi-bin/component/api_get_authorizer_info" => "api_get_authorizer_info",
        "/cgi-bin/component/api_get_authorizer_list" => "api_get_authorizer_list",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        r if r.starts_with("/debug") => "debug",
        r if r.starts_with("/mmbiz_") || r.starts_with("/sz_mmbiz_") => "image",
        _ => "other",
    }
}

/// Whether `endpoint` is a media, material or draft endpoint: the ones whose own
/// refusals carry the platform's ` hint: [...]` (see [`ErrCode::carries_hint`]).
pub fn hints_errors(endpoint: &str) -> bool {
    matches!(
        endpoint,
        "uploadimg"
            | "add_material"
            | "get_materialcount"
            | "batchget_material"
            | "get_material"
            | "del_material"
            | "add_news"
            | "update_news"
            | "media_upload"
            | "media_get"
    ) || endpoint.starts_with("draft_")
}

/// The name of what answered a request that no route took.
fn unrouted_name(path: &str) -> &'static str {
    if path.starts_with("/cgi-bin/") {
        "cgi_other"
    } else {
        "other"
    }
}

/// Where [`name_endpoint`] (below the router, where [`MatchedPath`] is known) tells
/// [`frame`] (above it, where it is not yet) which route answered. A shared cell rather
/// than a response extension, so the name survives a panic of the handler.
#[derive(Clone, Default)]
struct EndpointSlot(Arc<OnceLock<&'static str>>);

/// Route middleware: records the matched route's [`endpoint_name`] for the frame.
pub async fn name_endpoint(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(route)) = (
        request.extensions().get::<EndpointSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(endpoint_name(route.as_str()));
    }
    next.run(request).await
}

/// The layer that turns a panic below the frame into `-1 system error`.
pub fn catch_panic() -> CatchPanicLayer<PanicAnswer> {
    CatchPanicLayer::custom(PanicAnswer)
}

/// [`catch_panic`]'s answer: an [`ApiError`] mark, which [`frame`] then writes.
#[derive(Debug, Clone, Copy)]
pub struct PanicAnswer;

impl ResponseForPanic for PanicAnswer {
    type ResponseBody = axum::body::Body;

    fn response_for_panic(
        &mut self,
        panic: Box<dyn Any + Send + 'static>,
    ) -> axum::http::Response<axum::body::Body> {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        ApiError::detail(ErrCode::SystemError, format!("panic: {what}")).into_response()
    }
}

/// The middleware that frames every answer (see the module docs), and hands every API
/// request to the request log (`crate::request_log`) once answered.
pub async fn frame(
    axum::extract::State(log): axum::extract::State<crate::request_log::RequestLogger>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let rid = new_rid(crate::clock::Clock::default().now());
    let method = request.method().clone();
    let unrouted = unrouted_name(request.uri().path());
    let slot = EndpointSlot::default();
    request.extensions_mut().insert(rid.clone());
    request.extensions_mut().insert(slot.clone());
    let capture = log.watch(&mut request);

    let mut response = next.run(request).await;
    let endpoint = slot.0.get().copied().unwrap_or(unrouted);

    let errcode = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => {
            write_error(&mut response, &error, &rid, endpoint);
            error.code.code()
        }
        None => 0,
    };
    stamp_rid(&mut response, &rid);
    let elapsed = started.elapsed();
    if let Some(capture) = capture {
        response = log
            .finish(capture, response, rid.as_str(), endpoint, elapsed)
            .await;
    }
    record(&rid, &method, endpoint, errcode, &response, elapsed);
    response
}

/// What [`frame`] does to an answer made outside the router, which is never an error
/// and never an API call (see the module docs): a fresh rid in `X-Request-Id`, the
/// metrics under `endpoint`, the log line. `started` is when the request arrived.
pub fn frame_direct(
    method: &axum::http::Method,
    endpoint: &'static str,
    started: Instant,
    mut response: Response,
) -> Response {
    let rid = new_rid(crate::clock::Clock::default().now());
    stamp_rid(&mut response, &rid);
    record(&rid, method, endpoint, 0, &response, started.elapsed());
    response
}

fn stamp_rid(response: &mut Response, rid: &Rid) {
    if let Ok(value) = HeaderValue::from_str(rid.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
}

/// Counts an answer in the metrics and writes its debug line.
fn record(
    rid: &Rid,
    method: &axum::http::Method,
    endpoint: &'static str,
    errcode: i64,
    response: &Response,
    elapsed: std::time::Duration,
) {
    let status = response.status().as_u16();
    crate::metrics::record_request(endpoint, errcode, status, elapsed);
    tracing::debug!(%rid, %method, endpoint, errcode, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "answered");
}

/// Replaces `response`'s body with the platform's error body for `error` (keeping the
/// headers a handler set), and logs the refusal.
fn write_error(response: &mut Response, error: &ApiError, rid: &Rid, endpoint: &str) {
    let body = if error.code.carries_hint() && hints_errors(endpoint) {
        ErrorBody::with_hint(error.code, error.errmsg(), &Hint::new(rand::random()), rid)
    } else {
        ErrorBody::with_message(error.code, error.errmsg(), rid)
    };
    let detail = error.detail.as_deref().unwrap_or("");
    if error.code == ErrCode::SystemError {
        tracing::error!(%rid, endpoint, errcode = error.code.code(), detail, "request failed");
    } else {
        tracing::info!(%rid, endpoint, errcode = error.code.code(), detail, "request refused");
    }
    let headers = std::mem::take(response.headers_mut());
    // Serialising two plain fields cannot fail; an empty body would still be framed.
    *response = json_response(serde_json::to_vec(&body).unwrap_or_default());
    response.headers_mut().extend(headers);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_answers_system_error_in_the_frame() {
        let router: Router = Router::new()
            .route(
                "/cgi-bin/boom",
                get(|| async {
                    if true {
                        panic!("boom");
                    }
                    "unreachable"
                }),
            )
            .route_layer(axum::middleware::from_fn(name_endpoint))
            .layer(catch_panic())
            .layer(axum::middleware::from_fn_with_state(
                crate::request_log::RequestLogger::default(),
                frame,
            ));
        let request = axum::http::Request::get("/cgi-bin/boom")
            .body(Body::empty())
            .expect("request");
        let response = router.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static(JSON_CONTENT_TYPE)
        );
        let rid = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            format!(r#"{{"errcode":-1,"errmsg":"system error rid: {rid}"}}"#)
        );
    }

    #[test]
    fn routes_have_bounded_names() {
        assert_eq!(endpoint_name("/cgi-bin/media/uploadimg"), "uploadimg");
        assert_eq!(endpoint_name("/mmbiz_png/{id}/{size}"), "image");
        assert_eq!(endpoint_name("/sz_mmbiz_jpg/{id}/{size}"), "image");
        assert_eq!(unrouted_name("/cgi-bin/nope"), "cgi_other");
        assert_eq!(unrouted_name("/elsewhere"), "other");
        assert!(hints_errors("uploadimg") && hints_errors("draft_add"));
        assert!(!hints_errors("token") && !hints_errors("api_query_auth"));
    }
}
