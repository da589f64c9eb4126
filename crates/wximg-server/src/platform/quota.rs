//! Per-app, per-API quotas: calls a day (45009, the day being Beijing's, as the
//! platform's) and calls a minute (45011).
//!
//! Counts live in the metadata store's `call_counts` table and are bumped with one atomic
//! statement, so every node behind a load balancer sees the same count. Limits are a
//! platform record per app and API (`quota:wx…:uploadimg`), falling back to the server's
//! defaults, which are unlimited unless `wximg serve --default-daily-quota/
//! --default-minute-quota` say otherwise. An API with no limit at all is not counted:
//! nobody pays a database write per call for a quota nobody asked for.
//!
//! A refused call counts too (the platform's counter is of calls, not successes), and
//! `wximg app quota APPID --reset` clears the count, as the console's reset does.

use serde::{Deserialize, Serialize};
use wximg_proto::{AppId, ErrCode};

use super::PlatformSettings;
use crate::error::ApiError;
use wximg_store::MetaStore;

/// The APIs that have quotas, as `wximg app quota --api` names them.
pub const APIS: &[&str] = &[
    "uploadimg",
    "add_material",
    "get_materialcount",
    "batchget_material",
    "get_material",
    "del_material",
    "token",
    "stable_token",
    "api_component_token",
    "api_create_preauthcode",
    "api_query_auth",
    "api_authorizer_token",
    "quota_get",
    "clear_quota",
    "rid_get",
    "draft_add",
    "draft_get",
    "draft_update",
    "draft_delete",
    "draft_batchget",
    "draft_count",
    "freepublish_submit",
    "freepublish_get",
    "freepublish_getarticle",
    "freepublish_delete",
    "freepublish_batchget",
];

/// An API's limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    pub daily: Option<i64>,
    pub per_minute: Option<i64>,
}

impl QuotaLimits {
    /// Each limit this one sets, else `fallback`'s.
    pub fn or(self, fallback: QuotaLimits) -> QuotaLimits {
        QuotaLimits {
            daily: self.daily.or(fallback.daily),
            per_minute: self.per_minute.or(fallback.per_minute),
        }
    }
}

pub use wximg_proto::calendar::{beijing_day, minute};

pub fn limits_key(appid: &AppId, api: &str) -> String {
    format!("quota:{appid}:{api}")
}

/// The limits the app set for `api` (not the defaults).
pub async fn own_limits(
    meta: &dyn MetaStore,
    appid: &AppId,
    api: &str,
    now: i64,
) -> Result<QuotaLimits, ApiError> {
    Ok(
        super::load::<QuotaLimits>(meta, &limits_key(appid, api), now)
            .await?
            .map(|(l, _)| l)
            .unwrap_or_default(),
    )
}

/// Sets the app's own limits for `api` (`None` in a field: back to the default).
pub async fn set_limits(
    meta: &dyn MetaStore,
    appid: &AppId,
    api: &str,
    limits: QuotaLimits,
    now: i64,
) -> Result<(), ApiError> {
    super::update(meta, &limits_key(appid, api), now, None, |_| Ok(limits)).await?;
    Ok(())
}

/// Counts one call of `api` by `appid` and refuses it when a limit is passed: 45009 for
/// the day, else 45011 for the minute.
pub async fn charge(
    settings: &PlatformSettings,
    meta: &dyn MetaStore,
    appid: &AppId,
    api: &str,
    now: i64,
) -> Result<(), ApiError> {
    let limits = own_limits(meta, appid, api, now)
        .await?
        .or(settings.default_quota);
    if limits == QuotaLimits::default() {
        return Ok(());
    }
    let (today, this_minute) = meta
        .count_call(appid, api, beijing_day(now), minute(now))
        .await?;
    if let Some(daily) = limits.daily
        && today > daily
    {
        return Err(ApiError::detail(
            ErrCode::DailyQuota,
            format!("{appid} {api}: call {today} today, limit {daily}"),
        ));
    }
    if let Some(per_minute) = limits.per_minute
        && this_minute > per_minute
    {
        return Err(ApiError::detail(
            ErrCode::MinuteQuota,
            format!("{appid} {api}: call {this_minute} this minute, limit {per_minute}"),
        ));
    }
    Ok(())
}
