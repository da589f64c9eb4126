//! The third-party platform ("component"): a service provider's app that official
//! accounts authorize to call APIs on their behalf.
//!
//! The flow, as on the real platform:
//! 1. wximg pushes a `component_verify_ticket` to each component app every 10 minutes;
//!    here `wximg component ticket --component ID` shows it (rotating it when older than
//!    that). The current ticket and the one before it are accepted for 12 hours.
//! 2. `POST /cgi-bin/component/api_component_token` `{component_appid,
//!    component_appsecret, component_verify_ticket}` → `{component_access_token,
//!    expires_in: 7200}`.
//!    `api_start_push_ticket` `{component_appid, component_secret}` pushes a new ticket
//!    at once (the previous one stays good).
//! 3. `api_create_preauthcode` → `{pre_auth_code, expires_in: 600}` (for the consent
//!    page; the documentation's example and its older prose say 600 s / 10 minutes, a
//!    newer page 1800 s: wximg follows the example, which is what clients see).
//! 4. An official account consents: `wximg component authorize --component ID
//!    --authorizer wx… --sets 1,11` records the grant and prints the `authorization_code`
//!    the platform would redirect with (valid 600 s, single use: the
//!    platform's `expires_in` for it). Re-authorizing replaces
//!    the permission sets and ends the previous refresh token.
//! 5. `api_query_auth` `{component_appid, authorization_code}` → `{authorization_info:
//!    {authorizer_appid, authorizer_access_token, expires_in, authorizer_refresh_token,
//!    func_info: [{funcscope_category: {id}}]}}`.
//! 6. `api_authorizer_token` `{component_appid, authorizer_appid,
//!    authorizer_refresh_token}` → a new `authorizer_access_token` and the *same* refresh
//!    token: as on the real platform the refresh token does not change on refresh; it
//!    changes only when the account authorizes again, which ends the old one (61023).
//!    `api_get_authorizer_info` and `api_get_authorizer_list` show the accounts that
//!    authorized the component ([`authorizer_info`], [`authorizer_list`]).
//! 7. `uploadimg` accepts an `authorizer_access_token` exactly like the account's own
//!    token, when the grant holds one of the sets that allow it ([`UPLOADIMG_SETS`]);
//!    otherwise 48001. `wximg component revoke` ends the grant: its tokens answer 40001 and
//!    the component's calls for that account 61003.
//! 8. `wximg component rotate-secret ID` gives the component a new secret and ends the
//!    credentials a leaked one could have minted ([`accounts`] says which);
//!    `wximg component delete ID` removes the component and everything of it
//!    ([`delete_component`]).
//!
//! Invariant: secrets and tokens are stored only as hashes, and every credential names
//! what ends it — a component token and a pre-auth code the component's `epoch`, an
//! authorization code its grant's `id`, an authorizer token both — so a re-authorization
//! or a revocation ends every code and token of the grant before it, and a secret
//! rotation or a deletion every token of the component. All state is
//! platform records: `component:ID`, `ctoken:HASH`, `preauth:HASH` ([`accounts`]: the
//! component apps, their tickets and tokens) and `grant:ID:WX`, `authcode:HASH`,
//! `atoken:HASH` ([`grants`]: what an account granted, and the tokens it yields).

mod accounts;
mod grants;

pub use accounts::{
    Component, authenticate_component, component_key, components, create_component, current_ticket,
    issue_component_token, preauth_code, rotate_component_secret, start_push_ticket,
    verify_component_request, verify_component_secret,
};
pub use grants::{
    AuthorizerTokens, Grant, authenticate_authorizer, authorize, authorizer_grant, authorizer_list,
    grant_key, query_auth, refresh_authorizer_token, revoke,
};

use wximg_proto::{AppId, ids};

use crate::error::ApiError;
use crate::platform::load;
use crate::secrets;
use wximg_store::MetaStore;

/// The permission sets under which `uploadimg` may be called (the seed: 1, 8-9, 11, 18,
/// 37, 100).
pub const UPLOADIMG_SETS: &[u32] = &[1, 8, 9, 11, 18, 37, 100];

/// The permission sets under which the permanent-material calls (`add_material`,
/// `get_material`, `get_materialcount`, `batchget_material`, `del_material`) may be
/// called: 11 and 100, as the platform's documentation of each says.
pub const MATERIAL_SETS: &[u32] = &[11, 100];
/// The sets under which an authorizer token may call the draft and publishing APIs
/// (`draft/*`, `freepublish/*`): the platform's draft_add page names 11 and 100.
pub const ARTICLE_SETS: &[u32] = &[11, 100];

pub const COMPONENT_TOKEN_TTL: i64 = 7200;
pub const PREAUTH_TTL: i64 = 600;
pub const AUTH_CODE_TTL: i64 = 600;
pub const AUTHORIZER_TOKEN_TTL: i64 = 7200;
/// How often the platform pushes a new ticket, and how long one stays usable.
pub const TICKET_EVERY: i64 = 600;
pub const TICKET_LIFE: i64 = 12 * 3600;
/// Token records outlive the token by a day, so a late use answers 42001, not 40001.
use wximg_store::KEEP_EXPIRED_SECS as KEEP_EXPIRED;

/// Whether `token` is an account's own access token or an `authorizer_access_token`
/// (live or past its life): what a component API answers 61014 for.
async fn is_account_token(meta: &dyn MetaStore, token: &str, now: i64) -> Result<bool, ApiError> {
    match crate::tokens::authenticate(meta, token, now).await {
        Ok(_) => return Ok(true),
        Err(e) if e.code == wximg_proto::ErrCode::AccessTokenExpired => return Ok(true),
        Err(e) if e.code == wximg_proto::ErrCode::SystemError => return Err(e),
        Err(_) => {}
    }
    match grants::authenticate_authorizer(meta, token, now).await {
        Ok(Some(_)) => Ok(true),
        Err(e) if e.code == wximg_proto::ErrCode::AccessTokenExpired => Ok(true),
        Err(e) if e.code == wximg_proto::ErrCode::SystemError => Err(e),
        _ => Ok(false),
    }
}

/// The 61004 check of a component call: the caller must be in the component's IP
/// whitelist (`wximg app whitelist COMPONENT_APPID --add …`, the same record as an
/// account's), when it has one — the platform's "第三方平台出口IP".
pub async fn check_component_ip(
    meta: &dyn MetaStore,
    component: &Component,
    caller: std::net::IpAddr,
    now: i64,
) -> Result<(), ApiError> {
    let Some(appid) = AppId::parse(&component.appid) else {
        return Ok(());
    };
    let networks = crate::platform::whitelist::whitelist(meta, &appid, now).await?;
    if networks.is_empty() || networks.iter().any(|n| n.contains(caller)) {
        return Ok(());
    }
    Err(ApiError::detail(
        wximg_proto::ErrCode::ComponentIpNotRegistered,
        format!(
            "{caller} is not in the {} network(s) of {appid}",
            networks.len()
        ),
    ))
}

/// The stored form of a token or code: the hex of its hash.
fn hash_hex(token: &str) -> String {
    ids::hex(&secrets::hash_token(token))
}

/// `wximg component delete`: removes the component (its secret and tickets), its
/// component tokens and pre-auth codes, its authorization codes, its grants and the
/// authorizer tokens they yielded — in one transaction of the store, so nothing of it is
/// left half-deleted. `false`: no such component.
///
/// Tokens and codes are keyed by their hash, so they are found by what they name; one
/// issued while this runs may escape the sweep, but it names a component that no longer
/// exists and is refused like the others (40001), until its record expires.
pub async fn delete_component(
    meta: &dyn MetaStore,
    appid: &AppId,
    now: i64,
) -> Result<bool, ApiError> {
    if load::<Component>(meta, &component_key(appid), now)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let mut keys = vec![component_key(appid)];
    for prefix in ["ctoken:", "preauth:", "authcode:", "atoken:"] {
        keys.extend(accounts::records_of(meta, prefix, appid, now).await?);
    }
    let deleted = meta
        .delete_records(&keys, &[grants::grants_prefix(appid.as_str())])
        .await?;
    tracing::info!(%appid, records = deleted, "component deleted");
    Ok(true)
}
