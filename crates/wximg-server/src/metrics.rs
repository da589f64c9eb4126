//! Prometheus metrics, through the `metrics` facade.
//!
//! - `wximg_requests_total{endpoint,errcode,status}`: every answer.
//! - `wximg_request_duration_seconds{endpoint}`: latency histogram.
//! - `wximg_upload_bytes_total`, `wximg_uploads_total{format}`: accepted pictures.
//! - `wximg_zero_copy_bytes_total`: cached picture bytes sent with `sendfile`
//!   (`crate::zero_copy`).
//! - `wximg_faults_injected_total{endpoint,errcode}`: answers made up by `--faults` or
//!   `X-Wximg-Fault` (see `crate::platform::faults`).

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (more servers in one test
/// process) share it.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!("metrics recorder not installed: {e}"))
                .ok()
        })
        .clone()
}

pub fn record_request(endpoint: &'static str, errcode: i64, status: u16, elapsed: Duration) {
    let (count, latency) = request_metrics(endpoint, errcode, status);
    count.increment(1);
    latency.record(elapsed.as_secs_f64());
}

/// The handles of one (endpoint, errcode, status), registered once: looking a labelled
/// metric up formats and hashes its labels, which on a hot picture cost as much as the
/// answer's headers. There are few such triples (endpoints and codes are fixed sets).
fn request_metrics(
    endpoint: &'static str,
    errcode: i64,
    status: u16,
) -> (metrics::Counter, metrics::Histogram) {
    type Handles = HashMap<(&'static str, i64, u16), (metrics::Counter, metrics::Histogram)>;
    static HANDLES: OnceLock<RwLock<Handles>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let key = (endpoint, errcode, status);
    if let Some(found) = handles.read().ok().and_then(|h| h.get(&key).cloned()) {
        return found;
    }
    let made = (
        metrics::counter!(
            "wximg_requests_total",
            "endpoint" => endpoint,
            "errcode" => errcode.to_string(),
            "status" => status.to_string()
        ),
        metrics::histogram!("wximg_request_duration_seconds", "endpoint" => endpoint),
    );
    // Before the recorder is installed a handle goes nowhere: keep none of those.
    if matches!(HANDLE.get(), Some(Some(_)))
        && let Ok(mut h) = handles.write()
    {
        h.insert(key, made.clone());
    }
    made
}

pub fn record_upload(format: &'static str, bytes: usize) {
    metrics::counter!("wximg_upload_bytes_total").increment(bytes as u64);
    metrics::counter!("wximg_uploads_total", "format" => format).increment(1);
}

pub fn record_fault(endpoint: &'static str, errcode: i64) {
    metrics::counter!(
        "wximg_faults_injected_total",
        "endpoint" => endpoint,
        "errcode" => errcode.to_string()
    )
    .increment(1);
}

/// Bytes of cached pictures sent with `sendfile` (`crate::zero_copy`), not copied.
pub fn record_zero_copy(bytes: usize) {
    metrics::counter!("wximg_zero_copy_bytes_total").increment(bytes as u64);
}

/// A client answered 503 and closed because the connection cap was reached.
pub fn record_refused_connection() {
    metrics::counter!("wximg_connections_refused_total").increment(1);
}

/// `/readyz` probed storage (at most once a second, however many ask).
pub fn record_readiness_probe() {
    metrics::counter!("wximg_readiness_probes_total").increment(1);
}
