//! Grants: what an official account authorized a component to do, and the
//! `authorizer_access_token`s and refresh tokens it yields.
//!
//! Invariant: everything a grant yields carries its random `id` — its authorization code
//! and its access tokens — so authorizing again (a new id) or revoking ends them all at
//! once: an earlier code answers 61009 and never carries a later grant's permission
//! sets, an access token 40001; and a refresh token is good only while it is the grant's
//! current one (61023 otherwise). Access tokens also carry the component's epoch, so a
//! rotation of the component's secret ends them (see [`super::accounts`]).

use serde::{Deserialize, Serialize};
use wximg_proto::{AppId, ErrCode};

use super::accounts::{self, Component};
use super::{AUTH_CODE_TTL, AUTHORIZER_TOKEN_TTL, KEEP_EXPIRED, hash_hex};
use crate::error::{ApiError, required};
use crate::platform::{create, load, update};
use crate::secrets;
use wximg_store::{AppRecord, MetaStore};

/// An authorizer's grant to a component.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// Random, new with each authorization: tokens carry it, so a later authorization
    /// (or a revocation) ends them.
    pub id: u64,
    pub component: String,
    pub authorizer: String,
    pub func_sets: Vec<u32>,
    /// Hash of the current refresh token (`None` until the authorization code is used).
    pub refresh_hash: Option<String>,
    pub granted_at: i64,
    pub revoked_at: Option<i64>,
}

/// The live grant of `authorizer` to `component` (61003 if it has none, or revoked it).
pub async fn authorizer_grant(
    meta: &dyn MetaStore,
    component: &Component,
    authorizer: Option<&str>,
    now: i64,
) -> Result<(Grant, AppRecord), ApiError> {
    let authorizer = required(authorizer, ErrCode::AppIdMissing)?;
    let appid = AppId::parse(authorizer).ok_or(ErrCode::InvalidAppId)?;
    let (grant, _) = load::<Grant>(meta, &grant_key(&component.appid, authorizer), now)
        .await?
        .filter(|(g, _)| g.revoked_at.is_none())
        .ok_or(ErrCode::ComponentNotAuthorized)?;
    let app = meta
        .app(&appid)
        .await?
        .ok_or(ErrCode::ComponentNotAuthorized)?;
    Ok((grant, app))
}

/// Every live grant to `component`, oldest authorization first (ties by appid), and
/// their number: what `api_get_authorizer_list` pages through.
pub async fn authorizer_list(
    meta: &dyn MetaStore,
    component: &Component,
    now: i64,
) -> Result<Vec<Grant>, ApiError> {
    let mut grants: Vec<Grant> = meta
        .records(&grants_prefix(&component.appid), now)
        .await?
        .into_iter()
        .filter_map(|(_, r)| serde_json::from_str::<Grant>(&r.value).ok())
        .filter(|g| g.revoked_at.is_none())
        .collect();
    grants.sort_by(|a, b| (a.granted_at, &a.authorizer).cmp(&(b.granted_at, &b.authorizer)));
    Ok(grants)
}

/// An unused authorization code (`authcode:`): single use, for one grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthCode {
    component: String,
    authorizer: String,
    expires_at: i64,
    /// The [`Grant::id`] it was issued for (codes stored before it was kept have none,
    /// and are refused: they live an hour).
    #[serde(default)]
    grant_id: Option<u64>,
}

/// An `authorizer_access_token` (`atoken:`), as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthorizerToken {
    component: String,
    authorizer: String,
    expires_at: i64,
    /// The grant it was issued under (see [`Grant::id`]).
    grant_id: u64,
    /// The component's epoch it was issued under (see `Component::epoch`).
    #[serde(default)]
    component_epoch: u64,
}

/// The platform record key of `authorizer`'s grant to `component`.
pub fn grant_key(component: &str, authorizer: &str) -> String {
    format!("grant:{component}:{authorizer}")
}

/// The prefix of every grant's key to `component`.
pub(super) fn grants_prefix(component: &str) -> String {
    format!("grant:{component}:")
}

/// An authorizer consents (the CLI's `component authorize`): records the grant with
/// `func_sets`, ends any previous refresh token, and returns the authorization code.
pub async fn authorize(
    meta: &dyn MetaStore,
    component: &AppId,
    authorizer: &AppId,
    func_sets: &[u32],
    now: i64,
) -> Result<String, ApiError> {
    load::<Component>(meta, &accounts::component_key(component), now)
        .await?
        .ok_or_else(|| {
            ApiError::detail(ErrCode::InvalidAppId, format!("no component {component}"))
        })?;
    let app = meta
        .app(authorizer)
        .await?
        .ok_or_else(|| ApiError::detail(ErrCode::InvalidAppId, format!("no app {authorizer}")))?;
    // Any account type may authorize a component; what its tokens may then call is
    // decided per API (uploadimg: official and service accounts only, 48001 otherwise).
    let _ = app;
    let mut sets: Vec<u32> = func_sets.to_vec();
    sets.sort_unstable();
    sets.dedup();
    let grant = update(
        meta,
        &grant_key(component.as_str(), authorizer.as_str()),
        now,
        None,
        |_: Option<Grant>| {
            Ok(Grant {
                id: rand::random(),
                component: component.to_string(),
                authorizer: authorizer.to_string(),
                func_sets: sets.clone(),
                refresh_hash: None,
                granted_at: now,
                revoked_at: None,
            })
        },
    )
    .await?;
    let code = format!("queryauthcode@@@{}", secrets::new_token());
    create(
        meta,
        &format!("authcode:{}", hash_hex(&code)),
        &AuthCode {
            component: component.to_string(),
            authorizer: authorizer.to_string(),
            expires_at: now + AUTH_CODE_TTL,
            grant_id: Some(grant.id),
        },
        Some(now + AUTH_CODE_TTL + KEEP_EXPIRED),
        now,
    )
    .await?;
    Ok(code)
}

/// Ends an authorization (the account unauthorized the component). `false` if there was
/// no live grant.
pub async fn revoke(
    meta: &dyn MetaStore,
    component: &AppId,
    authorizer: &AppId,
    now: i64,
) -> Result<bool, ApiError> {
    let key = grant_key(component.as_str(), authorizer.as_str());
    match load::<Grant>(meta, &key, now).await? {
        Some((g, _)) if g.revoked_at.is_none() => {}
        _ => return Ok(false),
    }
    update(meta, &key, now, None, |g: Option<Grant>| {
        let mut g = g.ok_or(ErrCode::ComponentNotAuthorized)?;
        g.revoked_at = Some(now);
        g.refresh_hash = None;
        Ok(g)
    })
    .await?;
    Ok(true)
}

/// What `api_query_auth` and `api_authorizer_token` hand out.
#[derive(Debug, Clone)]
pub struct AuthorizerTokens {
    pub authorizer_appid: String,
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub func_sets: Vec<u32>,
}

async fn issue_authorizer_token(
    meta: &dyn MetaStore,
    grant: &Grant,
    component: &Component,
    now: i64,
) -> Result<String, ApiError> {
    let token = secrets::new_token();
    create(
        meta,
        &format!("atoken:{}", hash_hex(&token)),
        &AuthorizerToken {
            component: grant.component.clone(),
            authorizer: grant.authorizer.clone(),
            expires_at: now + AUTHORIZER_TOKEN_TTL,
            grant_id: grant.id,
            component_epoch: component.epoch,
        },
        Some(now + AUTHORIZER_TOKEN_TTL + KEEP_EXPIRED),
        now,
    )
    .await?;
    Ok(token)
}

/// `api_query_auth`: uses the authorization code once; issues the authorizer's access
/// token and a new refresh token (ending any earlier one). A code of a grant since
/// revoked or replaced by a new authorization answers 61009.
pub async fn query_auth(
    meta: &dyn MetaStore,
    component: &Component,
    code: Option<&str>,
    now: i64,
) -> Result<AuthorizerTokens, ApiError> {
    let code = required(code, ErrCode::AuthorizationCodeInvalid)?;
    let key = format!("authcode:{}", hash_hex(code));
    let (record, _) = load::<AuthCode>(meta, &key, now)
        .await?
        .ok_or(ErrCode::AuthorizationCodeInvalid)?;
    if record.component != component.appid {
        return Err(ApiError::detail(
            ErrCode::AuthorizationCodeInvalid,
            "the code was issued to another component",
        ));
    }
    // Single use: whoever deletes it first has it.
    if !meta.delete_record(&key).await? {
        return Err(ErrCode::AuthorizationCodeInvalid.into());
    }
    if record.expires_at <= now {
        return Err(ErrCode::AuthorizationCodeExpired.into());
    }
    let refresh_token = format!("refreshtoken@@@{}", secrets::new_token());
    let refresh_hash = hash_hex(&refresh_token);
    let grant = update(
        meta,
        &grant_key(&component.appid, &record.authorizer),
        now,
        None,
        |g: Option<Grant>| {
            // Checked inside the compare-and-swap: a revocation or re-authorization that
            // lands first makes this code spent, not a key to the newer grant.
            let mut g = g
                .filter(|g| g.revoked_at.is_none() && Some(g.id) == record.grant_id)
                .ok_or_else(|| {
                    ApiError::detail(
                        ErrCode::AuthorizationCodeInvalid,
                        "the code's authorization was revoked or replaced by a newer one",
                    )
                })?;
            g.refresh_hash = Some(refresh_hash.clone());
            Ok(g)
        },
    )
    .await?;
    let access_token = issue_authorizer_token(meta, &grant, component, now).await?;
    Ok(AuthorizerTokens {
        authorizer_appid: record.authorizer,
        access_token,
        expires_in: AUTHORIZER_TOKEN_TTL,
        refresh_token,
        func_sets: grant.func_sets,
    })
}

/// `api_authorizer_token`: a new access token for the refresh token (which stays the same).
pub async fn refresh_authorizer_token(
    meta: &dyn MetaStore,
    component: &Component,
    authorizer: Option<&str>,
    refresh_token: Option<&str>,
    now: i64,
) -> Result<AuthorizerTokens, ApiError> {
    let authorizer = required(authorizer, ErrCode::AppIdMissing)?;
    let refresh_token = required(refresh_token, ErrCode::RefreshTokenInvalid)?;
    let (grant, _) = load::<Grant>(meta, &grant_key(&component.appid, authorizer), now)
        .await?
        .filter(|(g, _)| g.revoked_at.is_none())
        .ok_or(ErrCode::ComponentNotAuthorized)?;
    let given = hash_hex(refresh_token);
    if !grant
        .refresh_hash
        .as_deref()
        .is_some_and(|h| secrets::same_text(h, &given))
    {
        return Err(ErrCode::RefreshTokenInvalid.into());
    }
    let access_token = issue_authorizer_token(meta, &grant, component, now).await?;
    Ok(AuthorizerTokens {
        authorizer_appid: authorizer.to_string(),
        access_token,
        expires_in: AUTHORIZER_TOKEN_TTL,
        refresh_token: refresh_token.to_string(),
        func_sets: grant.func_sets,
    })
}

/// The account an `authorizer_access_token` acts for and its grant's permission sets;
/// `Ok(None)` if `token` is not one. A revoked or replaced grant, and a deleted component
/// or one whose secret was rotated, end its tokens (40001).
pub async fn authenticate_authorizer(
    meta: &dyn MetaStore,
    token: &str,
    now: i64,
) -> Result<Option<(AppRecord, Vec<u32>)>, ApiError> {
    let Some((record, _)) =
        load::<AuthorizerToken>(meta, &format!("atoken:{}", hash_hex(token)), now).await?
    else {
        return Ok(None);
    };
    let (grant, _) = load::<Grant>(meta, &grant_key(&record.component, &record.authorizer), now)
        .await?
        .filter(|(g, _)| g.revoked_at.is_none() && g.id == record.grant_id)
        .ok_or_else(|| {
            ApiError::detail(
                ErrCode::InvalidCredential,
                "the grant was revoked or authorized again",
            )
        })?;
    accounts::live_component(meta, &record.component, record.component_epoch, now).await?;
    if record.expires_at <= now {
        return Err(ErrCode::AccessTokenExpired.into());
    }
    let appid = AppId::parse(&record.authorizer).ok_or(ErrCode::InvalidCredential)?;
    let app = meta.app(&appid).await?.ok_or(ErrCode::InvalidCredential)?;
    Ok(Some((app, grant.func_sets)))
}
