//! The request log: what `openapi/rid/get` answers for a rid — the request's time, cost,
//! URL, body, answer and caller, with secrets masked.
//!
//! Invariant: the log is bounded — rows older than [`KEEP_SECS`] (the platform's 7 days)
//! or past the newest [`KEEP_ROWS`] are pruned — and holds no secret: the server masks
//! tokens, secrets and tickets before a row is written (see `wximg_server::request_log`),
//! and writes rows in batches off the request path. It is debugging data: `wximg migrate`
//! does not copy it.

use async_trait::async_trait;
use wximg_proto::AppId;

use crate::Result;

/// How long a request stays queryable: the platform's 7 days.
pub const KEEP_SECS: i64 = 7 * 86_400;

/// The most rows kept, newest first.
pub const KEEP_ROWS: u64 = 200_000;

/// One API request, as `openapi/rid/get` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    pub rid: String,
    /// The account the request acted for, when the server knew it.
    pub appid: Option<AppId>,
    /// The route's name (`uploadimg`, `token`, …).
    pub endpoint: String,
    /// Unix seconds the request arrived.
    pub invoke_time: i64,
    pub cost_in_ms: i64,
    /// The query string (masked).
    pub request_url: String,
    /// The body (masked, truncated; a multipart upload is a summary).
    pub request_body: String,
    /// The answer (masked, truncated).
    pub response_body: String,
    pub client_ip: String,
}

/// The request log's storage.
#[async_trait]
pub trait RequestLogStore: Send + Sync {
    /// Appends `entries` in one transaction.
    async fn insert_requests(&self, entries: &[RequestLogEntry]) -> Result<()>;
    /// The request with this rid, if kept.
    async fn request(&self, rid: &str) -> Result<Option<RequestLogEntry>>;
    /// Removes the rows older than `before` and all but the newest `keep`; returns how
    /// many went.
    async fn prune_requests(&self, before: i64, keep: u64) -> Result<u64>;
}
