//! `/healthz` (the process answers) and `/readyz` (storage is usable).
//!
//! Invariant: however many callers ask `/readyz`, storage is probed at most once a
//! second: a probe takes the database's write lock, so an unauthenticated caller must not
//! be able to make every request queue behind probes. Callers within a second of a probe
//! (or while one runs) get its answer.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::state::AppState;

/// How long one probe's answer is given to every caller.
pub const READINESS_TTL: Duration = Duration::from_secs(1);

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The last probe: when it ended, and its answer.
#[derive(Default)]
pub struct Readiness {
    last: Mutex<Option<(Instant, StatusCode, String)>>,
}

/// Ready when the database takes a write lock and the blob store takes a write (probed
/// at most once per [`READINESS_TTL`], see the module docs).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    // Held across the probe: concurrent callers wait for it instead of probing too.
    let mut last = state.readiness.last.lock().await;
    if let Some((at, status, body)) = last.as_ref()
        && at.elapsed() < READINESS_TTL
    {
        return (*status, body.clone());
    }
    let (status, body) = probe(&state).await;
    *last = Some((Instant::now(), status, body.clone()));
    (status, body)
}

async fn probe(state: &AppState) -> (StatusCode, String) {
    crate::metrics::record_readiness_probe();
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
