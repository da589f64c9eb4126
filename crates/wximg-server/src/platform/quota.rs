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
//! With `wximg serve --platform-quotas`, an API that has no limit of the app's own gets
//! the platform's documented default ([`platform_limits`]) before the server's
//! `--default-*` ones: an integration that calls `/cgi-bin/token` on every request meets
//! 45009 after 2,000 calls in development, as it would in production.
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
    "media_upload",
    "media_get",
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
    "draft_switch",
    "freepublish_submit",
    "freepublish_get",
    "freepublish_getarticle",
    "freepublish_delete",
    "freepublish_batchget",
    "api_start_push_ticket",
    "api_get_authorizer_info",
    "api_get_authorizer_list",
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

/// The platform's documented default limits of an API, by the name quotas count it
/// under; `QuotaLimits::default()` (none) where the documentation gives no number.
///
/// Sources: the "接口调用频次限制说明" table of the Official Account documentation
/// (`doc/service/Message_Management/API_Call_Limits.html`: 获取access_token 2000 a day;
/// 草稿箱 新建/删除/修改/总数/列表 1000, 获取草稿 500; 发布能力 发布/轮询/通过 article_id
/// 获取/成功发布列表 100, 删除发布 10) and `getStableAccessToken`'s ("调用频率限制为 1 万次
/// 每分钟，每天限制调用 50 万次"). `uploadimg`, `add_material` and the other material
/// calls, and the third-party platform's calls, have no documented number: none here.
pub fn platform_limits(api: &str) -> QuotaLimits {
    let daily = |n: i64| QuotaLimits {
        daily: Some(n),
        per_minute: None,
    };
    match api {
        "token" => daily(2_000),
        "stable_token" => QuotaLimits {
            daily: Some(500_000),
            per_minute: Some(10_000),
        },
        "draft_add" | "draft_delete" | "draft_update" | "draft_count" | "draft_batchget" => {
            daily(1_000)
        }
        "draft_get" => daily(500),
        "freepublish_submit"
        | "freepublish_get"
        | "freepublish_getarticle"
        | "freepublish_batchget" => daily(100),
        "freepublish_delete" => daily(10),
        _ => QuotaLimits::default(),
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
    let platform = if settings.platform_quotas {
        platform_limits(api)
    } else {
        QuotaLimits::default()
    };
    let limits = own_limits(meta, appid, api, now)
        .await?
        .or(platform)
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
