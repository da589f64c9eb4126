//! Answers for what no route takes: wrong methods and unknown paths.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use wximg_proto::ErrCode;

use crate::error::ApiError;

/// A GET endpoint called with a method it does not take.
pub async fn require_get() -> ApiError {
    ErrCode::RequireGet.into()
}

/// A POST-only endpoint called with another method.
pub async fn require_post() -> ApiError {
    ErrCode::RequirePost.into()
}

/// Unknown paths: an API error under `/cgi-bin/`, a plain 404 elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/cgi-bin/") {
        ApiError::detail(ErrCode::InvalidUrl, format!("no API at {}", uri.path())).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}
