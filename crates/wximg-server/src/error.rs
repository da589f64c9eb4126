//! The one error type of the API: every refusal is a row of the error table.
//!
//! Invariant: a handler never writes an error body itself. An [`ApiError`] only marks the
//! response with its code (see its `IntoResponse`); the frame (`crate::answer::frame`),
//! which made the request id, turns the mark into `{"errcode":N,"errmsg":"… rid: …"}`.
//! So the rules (`tokens`, `platform::*`) can fail with an `ApiError` without knowing
//! anything about HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wximg_proto::ErrCode;
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
    /// The table's message for `code`, with `detail` for the log only.
    pub fn detail(code: ErrCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: None,
            detail: Some(detail.into()),
        }
    }

    /// The message the caller reads: the table's unless this error names its own.
    pub fn errmsg(&self) -> &str {
        self.message.as_deref().unwrap_or(self.code.message())
    }
}

/// A request field that must be given and non-empty: the field, or `missing`'s error.
pub fn required(field: Option<&str>, missing: ErrCode) -> Result<&str, ApiError> {
    field.filter(|s| !s.is_empty()).ok_or(missing.into())
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
        let code = match e {
            StorageError::Blocked(_) => ErrCode::RiskyContent,
            _ => ErrCode::SystemError,
        };
        ApiError::detail(code, e.to_string())
    }
}

/// An empty HTTP 200 carrying the error in its extensions, for the frame to write.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
