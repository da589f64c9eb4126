//! Component apps, their `component_verify_ticket`s, and the component's own tokens
//! (`component_access_token`, `pre_auth_code`).
//!
//! Invariant: a component's secret is stored only as a hash; a ticket is accepted only
//! while it is the current or the previous one and younger than [`TICKET_LIFE`]; and
//! every credential the secret led to carries the component's [`Component::epoch`], so
//! rotating the secret (a new epoch) or deleting the component ends them all at once,
//! wherever they are stored.
//!
//! What a rotation ends, and why: what a leaked secret lets an attacker mint and keep —
//! `component_access_token`s, `pre_auth_code`s, and the `authorizer_access_token`s got
//! with those tokens (40001 from then on). What it keeps: the accounts' grants, their
//! refresh tokens and unused authorization codes. Those are the accounts' consent, not
//! the secret's; ending them would make every account authorize again, and none is of use
//! without a `component_access_token`, which now takes the new secret.

use serde::{Deserialize, Serialize};
use wximg_proto::{AppId, AppSecret, ErrCode, ids};

use super::{COMPONENT_TOKEN_TTL, KEEP_EXPIRED, PREAUTH_TTL, TICKET_EVERY, TICKET_LIFE, hash_hex};
use crate::error::{ApiError, required};
use crate::platform::{create, load, update};
use crate::secrets;
use crate::tokens;
use wximg_store::MetaStore;

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
    /// Random, new with each secret: the component's tokens (and the authorizer tokens
    /// got with them) carry it, so a rotation ends them. (Records of before it was kept
    /// read as 0, as do their tokens.)
    #[serde(default)]
    pub epoch: u64,
}

/// A `component_access_token` (`ctoken:`) or `pre_auth_code` (`preauth:`), as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ComponentToken {
    component: String,
    expires_at: i64,
    /// The component's [`Component::epoch`] when it was issued.
    #[serde(default)]
    epoch: u64,
}

/// The stored form of a component's secret.
fn secret_hash_hex(secret: &AppSecret) -> String {
    ids::hex(&secrets::hash_secret(secret))
}

/// The platform record key of a component app.
pub fn component_key(appid: &AppId) -> String {
    format!("component:{appid}")
}

/// A fresh `component_verify_ticket`.
fn new_ticket() -> String {
    format!("ticket@@@{}", secrets::new_token())
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
        epoch: rand::random(),
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

/// `api_component_token`'s checks: appid, secret and ticket. Returns the component;
/// nothing is written, so the caller can charge the quota of a proven caller only
/// before [`issue_component_token`].
pub async fn verify_component_request(
    meta: &dyn MetaStore,
    appid: Option<&str>,
    secret: Option<&str>,
    ticket: Option<&str>,
    now: i64,
) -> Result<Component, ApiError> {
    let component = verify_component_secret(meta, appid, secret, now).await?;
    let ticket = ticket.unwrap_or("");
    // The ticket's age when it is the current or the previous one.
    let age = if !ticket.is_empty() && component.ticket == ticket {
        Some(now - component.ticket_at)
    } else if !ticket.is_empty() && component.previous_ticket.as_deref() == Some(ticket) {
        component.previous_ticket_at.map(|at| now - at)
    } else {
        None
    };
    match age {
        Some(age) if age < TICKET_LIFE => Ok(component),
        Some(age) => Err(ApiError::detail(
            ErrCode::ComponentTicketExpired,
            format!(
                "{}: its ticket is {age} s old, more than {TICKET_LIFE}",
                component.appid
            ),
        )),
        None => Err(ApiError::detail(
            ErrCode::ComponentTicketInvalid,
            format!("{}: not its current or previous ticket", component.appid),
        )),
    }
}

/// The component an appid and secret prove, in the platform's order: 41002 / 41004
/// when absent, 40013 for a malformed appid, 61011 `invalid component` for one that
/// names no component, 40125 for a wrong secret.
pub async fn verify_component_secret(
    meta: &dyn MetaStore,
    appid: Option<&str>,
    secret: Option<&str>,
    now: i64,
) -> Result<Component, ApiError> {
    let (appid, secret) = tokens::credentials(appid, secret)?;
    let (component, _) = load::<Component>(meta, &component_key(&appid), now)
        .await?
        .ok_or_else(|| {
            ApiError::detail(ErrCode::InvalidComponent, format!("no component {appid}"))
        })?;
    let secret = AppSecret::parse(secret).ok_or(ErrCode::InvalidAppSecret)?;
    let given = secret_hash_hex(&secret);
    if !secrets::same_text(&given, &component.secret_hash) {
        return Err(ErrCode::InvalidAppSecret.into());
    }
    Ok(component)
}

/// `api_start_push_ticket`: the platform (re)starts pushing tickets — a new
/// `component_verify_ticket` now, the current one kept as the previous.
pub async fn start_push_ticket(
    meta: &dyn MetaStore,
    component: &Component,
    now: i64,
) -> Result<(), ApiError> {
    let appid = component.appid.clone();
    update(
        meta,
        &format!("component:{appid}"),
        now,
        None,
        |c: Option<Component>| {
            let mut c = c.ok_or_else(|| {
                ApiError::detail(
                    ErrCode::InvalidComponent,
                    format!("{appid} deleted meanwhile"),
                )
            })?;
            c.previous_ticket = Some(std::mem::replace(&mut c.ticket, new_ticket()));
            c.previous_ticket_at = Some(std::mem::replace(&mut c.ticket_at, now));
            Ok(c)
        },
    )
    .await?;
    Ok(())
}

/// Issues a component token for `component` (checked by [`verify_component_request`]).
pub async fn issue_component_token(
    meta: &dyn MetaStore,
    component: &Component,
    now: i64,
) -> Result<(String, i64), ApiError> {
    let token = secrets::new_token();
    create(
        meta,
        &format!("ctoken:{}", hash_hex(&token)),
        &ComponentToken {
            component: component.appid.clone(),
            expires_at: now + COMPONENT_TOKEN_TTL,
            epoch: component.epoch,
        },
        Some(now + COMPONENT_TOKEN_TTL + KEEP_EXPIRED),
        now,
    )
    .await?;
    Ok((token, COMPONENT_TOKEN_TTL))
}

/// The component a `component_access_token` belongs to (41001 / 40014 / 40001 / 42001;
/// 61014 for a token that is an account's or an authorizer's, not a component's), checked
/// against the body's `component_appid` when one is given. A token of a deleted
/// component, or of one whose secret was rotated since, is ended (40001).
pub async fn authenticate_component(
    meta: &dyn MetaStore,
    token: Option<&str>,
    component_appid: Option<&str>,
    now: i64,
) -> Result<Component, ApiError> {
    let token = required(token, ErrCode::AccessTokenMissing)?;
    tokens::check_token_form(token)?;
    let Some((record, _)) =
        load::<ComponentToken>(meta, &format!("ctoken:{}", hash_hex(token)), now).await?
    else {
        return Err(if super::is_account_token(meta, token, now).await? {
            ApiError::detail(
                ErrCode::MustUseComponentToken,
                "an account's access_token or an authorizer_access_token on a component API",
            )
        } else {
            ErrCode::InvalidCredential.into()
        });
    };
    let component = live_component(meta, &record.component, record.epoch, now).await?;
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
    Ok(component)
}

/// The component `appid` if it still exists with `epoch` (the one a credential was
/// issued under); else 40001: the component was deleted or its secret rotated since.
pub(super) async fn live_component(
    meta: &dyn MetaStore,
    appid: &str,
    epoch: u64,
    now: i64,
) -> Result<Component, ApiError> {
    let ended = |why: &str| {
        ApiError::detail(
            ErrCode::InvalidCredential,
            format!("component {appid} {why}"),
        )
    };
    let Some(id) = AppId::parse(appid) else {
        return Err(ended("is not a valid appid"));
    };
    match load::<Component>(meta, &component_key(&id), now).await? {
        None => Err(ended("was deleted")),
        Some((c, _)) if c.epoch != epoch => Err(ended("rotated its secret since")),
        Some((c, _)) => Ok(c),
    }
}

/// `api_create_preauthcode`.
pub async fn preauth_code(
    meta: &dyn MetaStore,
    component: &Component,
    now: i64,
) -> Result<(String, i64), ApiError> {
    let code = format!("preauthcode@@@{}", secrets::new_token());
    create(
        meta,
        &format!("preauth:{}", hash_hex(&code)),
        &ComponentToken {
            component: component.appid.clone(),
            expires_at: now + PREAUTH_TTL,
            epoch: component.epoch,
        },
        Some(now + PREAUTH_TTL),
        now,
    )
    .await?;
    Ok((code, PREAUTH_TTL))
}

/// `wximg component rotate-secret`: a new secret (returned once, stored hashed) and a new
/// epoch, in one compare-and-swap, which ends the component's tokens, pre-auth codes and
/// the authorizer tokens got with them (see the module docs). `None`: no such component.
pub async fn rotate_component_secret(
    meta: &dyn MetaStore,
    appid: &AppId,
    now: i64,
) -> Result<Option<AppSecret>, ApiError> {
    if load::<Component>(meta, &component_key(appid), now)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let secret = AppSecret::from_random(rand::random());
    let hash = secret_hash_hex(&secret);
    update(
        meta,
        &component_key(appid),
        now,
        None,
        |c: Option<Component>| {
            let mut c = c.ok_or_else(|| {
                ApiError::detail(
                    ErrCode::InvalidAppId,
                    format!("component {appid} was deleted meanwhile"),
                )
            })?;
            c.secret_hash = hash.clone();
            // Never the old epoch again, however unlikely the draw.
            let drawn: u64 = rand::random();
            c.epoch = if drawn == c.epoch {
                drawn.wrapping_add(1)
            } else {
                drawn
            };
            Ok(c)
        },
    )
    .await?;
    Ok(Some(secret))
}

/// The keys of every record of `component` under `prefix` whose JSON names it in its
/// `component` field (tokens and codes are keyed by their hash, so they are found by
/// what they hold).
pub(super) async fn records_of(
    meta: &dyn MetaStore,
    prefix: &str,
    component: &AppId,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Owner {
        component: Option<String>,
    }
    Ok(meta
        .records(prefix, now)
        .await?
        .into_iter()
        .filter(|(_, r)| {
            serde_json::from_str::<Owner>(&r.value)
                .ok()
                .and_then(|o| o.component)
                .is_some_and(|c| c == component.as_str())
        })
        .map(|(key, _)| key)
        .collect())
}
