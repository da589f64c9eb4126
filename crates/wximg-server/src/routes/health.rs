//! `/healthz` (the process answers) and `/readyz` (storage is usable).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database takes a write lock and the blob store takes a write.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let meta = state.storage.meta.ping().await;
    let blobs = state.storage.blobs.ping().await;
    match (meta, blobs) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready\n".into()),
        (meta, blobs) => {
            let mut why = String::from("not ready:");
            if let Err(e) = meta {
                why.push_str(&format!(" metadata: {e};"));
            }
            if let Err(e) = blobs {
                why.push_str(&format!(" blobs: {e};"));
            }
            tracing::warn!("{why}");
            (StatusCode::SERVICE_UNAVAILABLE, why + "\n")
        }
    }
}
