//! What every handler shares: one [`Shared`] behind an `Arc`, so that handing it to a
//! handler or a middleware (axum clones the state for each) costs one reference count,
//! not one per field.

use std::sync::Arc;

use tokio::sync::Semaphore;
use wximg_proto::Rules;

use crate::clock::Clock;
use wximg_store::Storage;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub storage: Storage,
    pub clock: Clock,
    /// Base of returned picture URLs, without a trailing slash.
    pub public_url: Arc<str>,
    pub rules: Rules,
    /// One permit per picture held in memory (see `Settings::upload_concurrency`).
    pub upload_permits: Arc<Semaphore>,
    /// How many permits `upload_permits` holds in all (`Settings::upload_concurrency`).
    pub upload_permit_total: usize,
    /// Picture materials one account may hold (`Settings::material_limit`).
    pub material_limit: u64,
    /// One permit per small (JSON) body being read (see `Settings::body_concurrency`).
    pub body_permits: Arc<Semaphore>,
    pub drain_limit: u64,
    /// `/readyz`'s last answer, shared by every caller for a second.
    pub readiness: Arc<crate::routes::health::Readiness>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Hot pictures kept in memory for GETs (`None`: off).
    pub pictures: Option<Arc<crate::picture_cache::PictureCache>>,
    /// The bounds on making width variants (see `crate::variants`).
    pub resizer: Arc<crate::variants::Resizer>,
    /// `--hotlink-protection` (`None`: off).
    pub hotlink: Option<Arc<crate::hotlink::Hotlink>>,
    /// Quotas, proxies, cloud calls, faults (see `crate::platform`).
    pub platform: Arc<crate::platform::PlatformSettings>,
}
