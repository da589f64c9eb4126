//! `GET /debug/`: the seed's "Debugging Tools" — one page, served from the binary (its
//! assets are embedded; nothing comes from a CDN), where a person picks an endpoint,
//! enters appid/secret or a token, chooses a picture, sends, and sees the raw request
//! and the raw JSON answer, with the picture shown when an upload succeeds.
//!
//! The page calls the same API paths as any SDK, from the browser, so what it shows is
//! exactly what a client gets. It is served when `--debug-page` is on (the default with
//! embedded storage, off with PostgreSQL; see `PlatformSettings::debug_page`).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

const INDEX: &str = include_str!("../../assets/debug/index.html");
const SCRIPT: &str = include_str!("../../assets/debug/debug.js");
const STYLE: &str = include_str!("../../assets/debug/debug.css");

/// The page's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/debug", get(|| async { Redirect::permanent("/debug/") }))
        .route(
            "/debug/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/debug/debug.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/debug/debug.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            // The page only talks to this origin; the pictures it shows may be on the
            // `--public-url` host; no other site may frame it (clickjacking).
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src * blob: data:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}
