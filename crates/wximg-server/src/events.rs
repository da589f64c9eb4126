// PLACEHOLDER: replaced by the events branch at merge
//! Events pushed to an app's callback URL. Only the seam the articles code calls lives
//! here until the events branch lands.

use wximg_proto::AppId;

use crate::error::ApiError;
use crate::state::AppState;

/// A freepublish job ended (the platform's `PUBLISHJOBFINISH` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishJobFinish {
    pub appid: AppId,
    pub publish_id: String,
    /// The platform's freepublish status code (0 = success, …).
    pub publish_status: i64,
    /// Some on success.
    pub article_id: Option<String>,
    /// `article_detail.item[i].article_url`, idx = i + 1.
    pub article_urls: Vec<String>,
    /// The platform's `fail_idx` (failed article indexes).
    pub fail_idx: Vec<i64>,
    /// Unix seconds the job ended.
    pub create_time: i64,
}

/// Queues the event durably (idempotent per publish_id).
pub async fn enqueue_publish_job_finish(
    _state: &AppState,
    _event: &PublishJobFinish,
) -> Result<(), ApiError> {
    Ok(())
}
