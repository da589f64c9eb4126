//! `GET /debug/`: the seed's "Debugging Tools" — one page, served from the binary (its
//! assets are embedded; nothing comes from a CDN), where a person picks an endpoint,
//! enters appid/secret or a token, chooses a picture, sends, and sees the raw request
//! and the raw JSON answer, with the picture shown when an upload succeeds.
//!
//! The page calls the same API paths as any SDK, from the browser, so what it shows is
//! exactly what a client gets. It is served when `--debug-page` is on (the default with
//! embedded storage, off with PostgreSQL; see `PlatformSettings::debug_page`).
//!
//! One thing the platform never says in an answer is what its content rules removed
//! from a draft (scripts, disallowed tags and attributes, pictures it does not host):
//! `GET /debug/cleaning?access_token=&media_id=` shows it for a draft of the token's
//! account, from the notes `draft/add` and `draft/update` keep with the draft.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use wximg_proto::ErrCode;

use crate::articles::{self, CleaningReport};
use crate::error::ApiError;
use crate::extract::Caller;
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
        .route("/debug/cleaning", get(cleaning))
}

#[derive(Deserialize)]
struct CleaningQuery {
    #[serde(default)]
    media_id: String,
}

/// What cleaning removed from a draft, article by article.
#[derive(Serialize)]
struct CleaningAnswer {
    media_id: String,
    articles: Vec<CleaningReport>,
}

/// `GET /debug/cleaning`: the cleaning notes of one of the caller's drafts; 40007 for a
/// draft that is not the caller's (or not there).
async fn cleaning(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CleaningQuery>,
) -> Result<Json<CleaningAnswer>, ApiError> {
    let appid = &caller.app.appid;
    let draft = state
        .storage
        .meta
        .draft(appid, &query.media_id)
        .await?
        .ok_or_else(|| {
            ApiError::detail(
                ErrCode::InvalidMediaId,
                format!("{appid} has no draft {:?}", query.media_id),
            )
        })?;
    Ok(Json(CleaningAnswer {
        articles: articles::cleaning_notes(&draft)?,
        media_id: draft.media_id,
    }))
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
