//! Prometheus metrics, through the `metrics` facade.
//!
//! - `wximg_requests_total{endpoint,errcode,status}`: every answer.
//! - `wximg_request_duration_seconds{endpoint}`: latency histogram.
//! - `wximg_upload_bytes_total`, `wximg_uploads_total{format}`: accepted pictures.
//! - `wximg_faults_injected_total{endpoint,errcode}`: answers made up by `--faults` or
//!   `X-Wximg-Fault` (see `crate::platform::faults`).

use std::sync::OnceLock;
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
    metrics::counter!(
        "wximg_requests_total",
        "endpoint" => endpoint,
        "errcode" => errcode.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("wximg_request_duration_seconds", "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
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

/// A client answered 503 and closed because the connection cap was reached.
pub fn record_refused_connection() {
    metrics::counter!("wximg_connections_refused_total").increment(1);
}

/// `/readyz` probed storage (at most once a second, however many ask).
pub fn record_readiness_probe() {
    metrics::counter!("wximg_readiness_probes_total").increment(1);
}
