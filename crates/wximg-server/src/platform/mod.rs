//! Platform fidelity beyond the token + upload path: what integration developers need to
//! exercise every way the seed names of calling `uploadimg`, and their own retry logic.
//!
//! - [`quota`]: per-app, per-API daily (45009) and per-minute (45011) quotas, counted in
//!   the database so every node agrees.
//! - [`cidr`]: the networks the operator configures (trusted networks, proxies,
//!   whitelists).
//! - [`peer`]: the caller's address (the TCP peer, or `X-Forwarded-For` from a trusted
//!   proxy).
//! - [`whitelist`]: per-app IP whitelists for token calls (40164).
//! - [`cloud`]: "cloud calls" from trusted networks that name their account instead of
//!   sending a token.
//! - [`faults`]: answers chosen error codes at chosen rates, for testing clients.
//! - [`component`]: the third-party platform (component apps, tickets, authorizations
//!   and `authorizer_access_token`).
//!
//! Their state lives in the metadata store's *platform records* (small JSON documents
//! under namespaced keys, see [`wximg_store::MetaStore::record`]); [`load`] and
//! [`update`] are the typed way in.

pub mod cidr;
pub mod cloud;
pub mod component;
pub mod faults;
pub mod peer;
pub mod quota;
pub mod whitelist;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wximg_proto::ErrCode;

use crate::error::ApiError;
use wximg_store::{MetaStore, StorageError};

pub use cidr::Cidr;
pub use faults::FaultRule;
pub use quota::QuotaLimits;

/// What the operator configures about the platform features (`wximg serve` flags).
#[derive(Debug, Clone, Default)]
pub struct PlatformSettings {
    /// Networks whose requests may make cloud calls (no token, account named by the
    /// `X-WX-APPID` header). Empty: no cloud calls.
    pub trusted_cidrs: Vec<Cidr>,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Empty: the header is ignored
    /// and the caller is the TCP peer.
    pub trust_forwarded_for: Vec<Cidr>,
    /// Injected failures (`--faults`).
    pub faults: Vec<FaultRule>,
    /// Whether `X-Wximg-Fault: CODE` is honoured.
    pub allow_fault_header: bool,
    /// Quotas of apps that have none of their own (unlimited by default, and then
    /// nothing is counted: no database write on the hot path unless someone asked).
    pub default_quota: QuotaLimits,
    /// Whether APIs without limits of the app's own get the platform's documented
    /// defaults (`--platform-quotas`, see [`quota::platform_limits`]) before
    /// `default_quota`.
    pub platform_quotas: bool,
    /// Whether `/debug/` is served; `None`: on with embedded storage, off with PostgreSQL.
    pub debug_page: Option<bool>,
    /// How event pushes are sent (see `crate::events`).
    pub events: crate::events::DeliverySettings,
    /// How long a freepublish job publishes before it ends (`--publish-delay`); `None`:
    /// [`crate::articles::publish::DEFAULT_DELAY`].
    pub publish_delay: Option<std::time::Duration>,
    /// Publish jobs made to end in a failure status (`--publish-faults`).
    pub publish_faults: Vec<faults::PublishFault>,
}

fn corrupt(key: &str, e: serde_json::Error) -> ApiError {
    ApiError::from(StorageError::Corrupt(format!("platform record {key}: {e}")))
}

/// The record under `key` as a `T`, with its version.
pub async fn load<T: DeserializeOwned>(
    meta: &dyn MetaStore,
    key: &str,
    now: i64,
) -> Result<Option<(T, i64)>, ApiError> {
    match meta.record(key, now).await? {
        None => Ok(None),
        Some(r) => Ok(Some((
            serde_json::from_str(&r.value).map_err(|e| corrupt(key, e))?,
            r.version,
        ))),
    }
}

/// Read-modify-write of the record under `key`, retried on a concurrent write (the
/// store's compare-and-swap makes nodes agree). `change` gets the current value (`None`
/// if absent) and returns the new one, or an error that aborts.
pub async fn update<T, F>(
    meta: &dyn MetaStore,
    key: &str,
    now: i64,
    expires_at: Option<i64>,
    mut change: F,
) -> Result<T, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, ApiError>,
{
    for _ in 0..16 {
        let current = load::<T>(meta, key, now).await?;
        let version = current.as_ref().map(|(_, v)| *v);
        let next = change(current.map(|(t, _)| t))?;
        let text = serde_json::to_string(&next).map_err(|e| corrupt(key, e))?;
        if meta
            .swap_record(key, version, &text, expires_at, now)
            .await?
        {
            return Ok(next);
        }
    }
    Err(ApiError::detail(
        ErrCode::SystemError,
        format!("platform record {key}: too many concurrent writers"),
    ))
}

/// One in this many record creations also sweeps the expired records, so spent tokens
/// and codes do not pile up, at a cost spread thin.
const SWEEP_ONE_IN: u32 = 64;

/// Writes a new record that must not exist yet (keys made from fresh random values).
pub async fn create<T: Serialize>(
    meta: &dyn MetaStore,
    key: &str,
    value: &T,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), ApiError> {
    if rand::random_ratio(1, SWEEP_ONE_IN) {
        match meta.sweep_records(now).await {
            Ok(n) if n > 0 => tracing::debug!(swept = n, "expired platform records removed"),
            Ok(_) => {}
            // Sweeping is housekeeping: its failure must not fail the request.
            Err(e) => tracing::warn!("sweeping expired platform records: {e}"),
        }
    }
    let text = serde_json::to_string(value).map_err(|e| corrupt(key, e))?;
    if meta.swap_record(key, None, &text, expires_at, now).await? {
        Ok(())
    } else {
        Err(ApiError::detail(
            ErrCode::SystemError,
            format!("platform record {key} already exists"),
        ))
    }
}
