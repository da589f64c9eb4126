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
//! 3. `api_create_preauthcode` → `{pre_auth_code, expires_in: 1800}` (for the consent page).
//! 4. An official account consents: `wximg component authorize --component ID
//!    --authorizer wx… --sets 1,11` records the grant and prints the `authorization_code`
//!    the platform would redirect with (valid 3600 s, single use). Re-authorizing replaces
//!    the permission sets and ends the previous refresh token.
//! 5. `api_query_auth` `{component_appid, authorization_code}` → `{authorization_info:
//!    {authorizer_appid, authorizer_access_token, expires_in, authorizer_refresh_token,
//!    func_info: [{funcscope_category: {id}}]}}`.
//! 6. `api_authorizer_token` `{component_appid, authorizer_appid,
//!    authorizer_refresh_token}` → a new `authorizer_access_token` and the *same* refresh
//!    token: as on the real platform the refresh token does not change on refresh; it
//!    changes only when the account authorizes again, which ends the old one (61023).
//! 7. `uploadimg` accepts an `authorizer_access_token` exactly like the account's own
//!    token, when the grant holds one of the sets that allow it ([`UPLOADIMG_SETS`]);
//!    otherwise 48001. `wximg component revoke` ends the grant: its tokens answer 40001 and
//!    the component's calls for that account 61003.
//!
//! Secrets and tokens are stored only as hashes; all state is platform records:
//! `component:ID`, `ctoken:HASH`, `preauth:HASH`, `authcode:HASH`, `grant:ID:WX`, `atoken:HASH`.

use serde::{Deserialize, Serialize};
use wximg_proto::{AppId, AppSecret, ErrCode, ids};

use super::{create, load, update};
use crate::answer::ApiError;
use crate::auth;
use wximg_store::{AppRecord, MetaStore};

/// The permission sets under which `uploadimg` may be called (the seed: 1, 8-9, 11, 18,
/// 37, 100).
pub const UPLOADIMG_SETS: &[u32] = &[1, 8, 9, 11, 18, 37, 100];

pub const COMPONENT_TOKEN_TTL: i64 = 7200;
pub const PREAUTH_TTL: i64 = 1800;
pub const AUTH_CODE_TTL: i64 = 3600;
pub const AUTHORIZER_TOKEN_TTL: i64 = 7200;
/// How often the platform pushes a new ticket, and how long one stays usable.
pub const TICKET_EVERY: i64 = 600;
pub const TICKET_LIFE: i64 = 12 * 3600;
/// Token records outlive the token by a day, so a late use answers 42001, not 40001.
use wximg_store::KEEP_EXPIRED_SECS as KEEP_EXPIRED;

/// A component app, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    pub appid: String,
    pub name: String,
    pub secret_hash: String,
    pub ticket: String,
    pub ticket_at: i64,
    pub previous_ticket: Option<String>,
    pub previous_ticket_at: Option<i64>,
    pub created_at: i64,
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ComponentToken {
    component: String,
    expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthCode {
    component: String,
    authorizer: String,
    expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthorizerToken {
    component: String,
    authorizer: String,
    expires_at: i64,
    /// The grant it was issued under (see [`Grant::id`]).
    grant_id: u64,
}

fn hash_hex(token: &str) -> String {
    ids::hex(&auth::hash_token(token))
}

fn secret_hash_hex(secret: &AppSecret) -> String {
    ids::hex(&auth::hash_secret(secret))
}

pub fn component_key(appid: &AppId) -> String {
    format!("component:{appid}")
}

pub fn grant_key(component: &str, authorizer: &str) -> String {
    format!("grant:{component}:{authorizer}")
}

fn new_ticket() -> String {
    format!("ticket@@@{}", auth::new_token())
}

/// Creates a component app; returns its appid and secret (shown once, stored hashed).
pub async fn create_component(
    meta: &dyn MetaStore,
    name: &str,
    now: i64,
) -> Result<(AppId, AppSecret), ApiError> {
    let appid = AppId::from_random(rand::random());
    let secret = AppSecret::from_random(rand::random());
    let component = Component {
        appid: appid.to_string(),
        name: name.to_string(),
        secret_hash: secret_hash_hex(&secret),
        ticket: new_ticket(),
        ticket_at: now,
        previous_ticket: None,
        previous_ticket_at: None,
        created_at: now,
    };
    create(meta, &component_key(&appid), &component, None, now).await?;
    Ok((appid, secret))
}

/// Every component app.
pub async fn components(meta: &dyn MetaStore, now: i64) -> Result<Vec<Component>, ApiError> {
    meta.records("component:", now)
        .await?
        .into_iter()
        .map(|(key, r)| {
            serde_json::from_str(&r.value).map_err(|e| {
                ApiError::detail(ErrCode::SystemError, format!("platform record {key}: {e}"))
            })
        })
        .collect()
}

/// The component's current `component_verify_ticket`, pushing a new one (and keeping the
/// previous) when the current is older than [`TICKET_EVERY`]. `None`: no such component.
pub async fn current_ticket(
    meta: &dyn MetaStore,
    appid: &AppId,
    now: i64,
) -> Result<Option<String>, ApiError> {
    if load::<Component>(meta, &component_key(appid), now)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let c = update(
        meta,
        &component_key(appid),
        now,
        None,
        |c: Option<Component>| {
            let mut c = c.ok_or(ErrCode::InvalidAppId)?;
            if now - c.ticket_at >= TICKET_EVERY {
                c.previous_ticket = Some(std::mem::replace(&mut c.ticket, new_ticket()));
                c.previous_ticket_at = Some(std::mem::replace(&mut c.ticket_at, now));
            }
            Ok(c)
        },
    )
    .await?;
    Ok(Some(c.ticket))
}

/// `api_component_token`: checks appid, secret and ticket; issues a component token.
pub async fn component_token(
    meta: &dyn MetaStore,
    appid: Option<&str>,
    secret: Option<&str>,
    ticket: Option<&str>,
    now: i64,
) -> Result<(String, i64), ApiError> {
    let appid = appid
        .filter(|s| !s.is_empty())
        .ok_or(ErrCode::AppIdMissing)?;
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(ErrCode::AppSecretMissing)?;
    let appid = AppId::parse(appid).ok_or(ErrCode::InvalidAppId)?;
    let (component, _) = load::<Component>(meta, &component_key(&appid), now)
        .await?
        .ok_or(ErrCode::InvalidAppId)?;
    let secret = AppSecret::parse(secret).ok_or(ErrCode::InvalidAppSecret)?;
    let given = ids::hex(&auth::hash_secret(&secret));
    if !constant_time_eq(&given, &component.secret_hash) {
        return Err(ErrCode::InvalidAppSecret.into());
    }
    let ticket = ticket.unwrap_or("");
    let current = component.ticket == ticket && now - component.ticket_at < TICKET_LIFE;
    let previous = component.previous_ticket.as_deref() == Some(ticket)
        && component
            .previous_ticket_at
            .is_some_and(|at| now - at < TICKET_LIFE);
    if ticket.is_empty() || !(current || previous) {
        return Err(ApiError::detail(
            ErrCode::ComponentTicketInvalid,
            format!("{appid}: not its current or previous ticket"),
        ));
    }
    let token = auth::new_token();
    create(
        meta,
        &format!("ctoken:{}", hash_hex(&token)),
        &ComponentToken {
            component: appid.to_string(),
            expires_at: now + COMPONENT_TOKEN_TTL,
        },
        Some(now + COMPONENT_TOKEN_TTL + KEEP_EXPIRED),
        now,
    )
    .await?;
    Ok((token, COMPONENT_TOKEN_TTL))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The component a `component_access_token` belongs to (41001 / 40001 / 42001), checked
/// against the body's `component_appid` when one is given.
pub async fn authenticate_component(
    meta: &dyn MetaStore,
    token: Option<&str>,
    component_appid: Option<&str>,
    now: i64,
) -> Result<String, ApiError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(ErrCode::AccessTokenMissing)?;
    let (record, _) = load::<ComponentToken>(meta, &format!("ctoken:{}", hash_hex(token)), now)
        .await?
        .ok_or(ErrCode::InvalidCredential)?;
    if record.expires_at <= now {
        return Err(ErrCode::AccessTokenExpired.into());
    }
    if let Some(given) = component_appid.filter(|s| !s.is_empty())
        && given != record.component
    {
        return Err(ApiError::detail(
            ErrCode::InvalidAppId,
            format!("component_appid {given} is not the token's component"),
        ));
    }
    Ok(record.component)
}

/// `api_create_preauthcode`.
pub async fn preauth_code(
    meta: &dyn MetaStore,
    component: &str,
    now: i64,
) -> Result<(String, i64), ApiError> {
    let code = format!("preauthcode@@@{}", auth::new_token());
    create(
        meta,
        &format!("preauth:{}", hash_hex(&code)),
        &ComponentToken {
            component: component.to_string(),
            expires_at: now + PREAUTH_TTL,
        },
        Some(now + PREAUTH_TTL),
        now,
    )
    .await?;
    Ok((code, PREAUTH_TTL))
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
    load::<Component>(meta, &component_key(component), now)
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
    update(
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
    let code = format!("queryauthcode@@@{}", auth::new_token());
    create(
        meta,
        &format!("authcode:{}", hash_hex(&code)),
        &AuthCode {
            component: component.to_string(),
            authorizer: authorizer.to_string(),
            expires_at: now + AUTH_CODE_TTL,
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
    now: i64,
) -> Result<String, ApiError> {
    let token = auth::new_token();
    create(
        meta,
        &format!("atoken:{}", hash_hex(&token)),
        &AuthorizerToken {
            component: grant.component.clone(),
            authorizer: grant.authorizer.clone(),
            expires_at: now + AUTHORIZER_TOKEN_TTL,
            grant_id: grant.id,
        },
        Some(now + AUTHORIZER_TOKEN_TTL + KEEP_EXPIRED),
        now,
    )
    .await?;
    Ok(token)
}

/// `api_query_auth`: uses the authorization code once; issues the authorizer's access
/// token and a new refresh token (ending any earlier one).
pub async fn query_auth(
    meta: &dyn MetaStore,
    component: &str,
    code: Option<&str>,
    now: i64,
) -> Result<AuthorizerTokens, ApiError> {
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or(ErrCode::AuthorizationCodeInvalid)?;
    let key = format!("authcode:{}", hash_hex(code));
    let (record, _) = load::<AuthCode>(meta, &key, now)
        .await?
        .ok_or(ErrCode::AuthorizationCodeInvalid)?;
    if record.component != component {
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
    let refresh_token = format!("refreshtoken@@@{}", auth::new_token());
    let refresh_hash = hash_hex(&refresh_token);
    let grant = update(
        meta,
        &grant_key(component, &record.authorizer),
        now,
        None,
        |g: Option<Grant>| {
            let mut g = g
                .filter(|g| g.revoked_at.is_none())
                .ok_or(ErrCode::ComponentNotAuthorized)?;
            g.refresh_hash = Some(refresh_hash.clone());
            Ok(g)
        },
    )
    .await?;
    let access_token = issue_authorizer_token(meta, &grant, now).await?;
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
    component: &str,
    authorizer: Option<&str>,
    refresh_token: Option<&str>,
    now: i64,
) -> Result<AuthorizerTokens, ApiError> {
    let authorizer = authorizer
        .filter(|s| !s.is_empty())
        .ok_or(ErrCode::AppIdMissing)?;
    let refresh_token = refresh_token
        .filter(|s| !s.is_empty())
        .ok_or(ErrCode::RefreshTokenInvalid)?;
    let (grant, _) = load::<Grant>(meta, &grant_key(component, authorizer), now)
        .await?
        .filter(|(g, _)| g.revoked_at.is_none())
        .ok_or(ErrCode::ComponentNotAuthorized)?;
    let given = hash_hex(refresh_token);
    if !grant
        .refresh_hash
        .as_deref()
        .is_some_and(|h| constant_time_eq(h, &given))
    {
        return Err(ErrCode::RefreshTokenInvalid.into());
    }
    let access_token = issue_authorizer_token(meta, &grant, now).await?;
    Ok(AuthorizerTokens {
        authorizer_appid: authorizer.to_string(),
        access_token,
        expires_in: AUTHORIZER_TOKEN_TTL,
        refresh_token: refresh_token.to_string(),
        func_sets: grant.func_sets,
    })
}

/// The account an `authorizer_access_token` acts for and its grant's permission sets;
/// `Ok(None)` if `token` is not one. A revoked grant ends its tokens (40001).
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
    if record.expires_at <= now {
        return Err(ErrCode::AccessTokenExpired.into());
    }
    let appid = AppId::parse(&record.authorizer).ok_or(ErrCode::InvalidCredential)?;
    let app = meta.app(&appid).await?.ok_or(ErrCode::InvalidCredential)?;
    Ok(Some((app, grant.func_sets)))
}
