//! The token rules of the platform.
//!
//! - `/cgi-bin/token` issues a new token on every call, valid 7200 s; the previous tokens
//!   of the app stay valid for 5 more minutes, then answer 40001 ("not latest").
//! - `/cgi-bin/stable_token` is separate (neither endpoint ends the other's tokens). In
//!   normal mode it returns the current stable token while it has at least 5 minutes left,
//!   and rotates early otherwise, so `expires_in` ≥ 300. `force_refresh` issues a new one
//!   and ends the old at once; repeated forces within 30 s return the same token; at most
//!   20 forces per app per day (45009), the day being Beijing's (UTC+8), as the platform's.
//! - A token past its life answers 42001; one unknown or ended answers 40001; a string
//!   that is not of a token's form at all ([`is_token_form`]) answers 40014, the code the
//!   platform gives an access_token its gateway cannot parse.

use wximg_proto::wire::TokenOk;
use wximg_proto::{AppId, AppSecret, ErrCode};

use crate::error::{ApiError, required};
use crate::secrets;
use wximg_store::{AppRecord, MetaStore, StableState, TokenKind, TokenRecord};

pub const TOKEN_TTL: i64 = 7200;
pub const ROLLOVER_GRACE: i64 = 300;
pub const STABLE_MIN_LIFE: i64 = 300;
pub const FORCE_DEBOUNCE: i64 = 30;
pub const FORCES_PER_DAY: i64 = 20;

/// A token handed to a caller.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
}

impl From<Issued> for TokenOk {
    fn from(issued: Issued) -> TokenOk {
        TokenOk {
            access_token: issued.access_token,
            expires_in: issued.expires_in,
        }
    }
}

/// The appid and secret a token call names: 41002 / 41004 when one is absent or empty,
/// 40013 when the appid is malformed. Whether the secret is the app's is the caller's to
/// check, once it has found the app (40013 before 40125, as the platform).
pub fn credentials<'a>(
    appid: Option<&'a str>,
    secret: Option<&'a str>,
) -> Result<(AppId, &'a str), ApiError> {
    let appid = required(appid, ErrCode::AppIdMissing)?;
    let secret = required(secret, ErrCode::AppSecretMissing)?;
    let appid = AppId::parse(appid).ok_or(ErrCode::InvalidAppId)?;
    Ok((appid, secret))
}

/// The checks of a token call (`/cgi-bin/token`, `/cgi-bin/stable_token`) in the
/// platform's order: the appid first (41002 missing; 40013 malformed or unknown), then
/// the grant type (40002), then the secret (41004 missing; 40125 wrong). The appid comes
/// before the grant type: a capture of `/cgi-bin/token?appid=<bad>` with no
/// `grant_type` answers 40013, not 40002. Returns the app and its secret.
pub async fn verify_token_request(
    meta: &dyn MetaStore,
    appid: Option<&str>,
    grant_type: Option<&str>,
    secret: Option<&str>,
) -> Result<(AppRecord, AppSecret), ApiError> {
    let app = named_app(meta, appid).await?;
    if grant_type != Some("client_credential") {
        return Err(ApiError::detail(
            ErrCode::InvalidGrantType,
            format!("grant_type {grant_type:?}"),
        ));
    }
    let secret = app_secret(&app, secret)?;
    Ok((app, secret))
}

/// The checks of a call that names an account by appid and secret without a grant type
/// (`clear_quota/v2`), in the same order as a token call's: the appid (41002, 40013),
/// then the secret (41004, 40125).
pub async fn verify_app(
    meta: &dyn MetaStore,
    appid: Option<&str>,
    secret: Option<&str>,
) -> Result<(AppRecord, AppSecret), ApiError> {
    let app = named_app(meta, appid).await?;
    let secret = app_secret(&app, secret)?;
    Ok((app, secret))
}

/// The app an `appid` names: 41002 when absent or empty, 40013 when malformed or unknown.
async fn named_app(meta: &dyn MetaStore, appid: Option<&str>) -> Result<AppRecord, ApiError> {
    let appid = required(appid, ErrCode::AppIdMissing)?;
    let appid = AppId::parse(appid).ok_or(ErrCode::InvalidAppId)?;
    Ok(meta.app(&appid).await?.ok_or(ErrCode::InvalidAppId)?)
}

/// `secret` checked against the app's: 41004 when absent or empty, 40125 when wrong.
fn app_secret(app: &AppRecord, secret: Option<&str>) -> Result<AppSecret, ApiError> {
    let secret = required(secret, ErrCode::AppSecretMissing)?;
    let secret = AppSecret::parse(secret).ok_or(ErrCode::InvalidAppSecret)?;
    if !secrets::same_hash(&secrets::hash_secret(&secret), &app.secret_hash) {
        return Err(ErrCode::InvalidAppSecret.into());
    }
    Ok(secret)
}

/// `/cgi-bin/token`: a new token; earlier ones keep 5 minutes.
pub async fn issue_classic(
    meta: &dyn MetaStore,
    app: &AppRecord,
    now: i64,
) -> Result<Issued, ApiError> {
    let access_token = secrets::new_token();
    let record = TokenRecord {
        hash: secrets::hash_token(&access_token),
        appid: app.appid.clone(),
        kind: TokenKind::Classic,
        issued_at: now,
        expires_at: now + TOKEN_TTL,
        ended_at: None,
    };
    meta.issue_classic_token(&record, now + ROLLOVER_GRACE)
        .await?;
    Ok(Issued {
        access_token,
        expires_in: TOKEN_TTL,
    })
}

/// `/cgi-bin/stable_token`.
pub async fn stable(
    meta: &dyn MetaStore,
    app: &AppRecord,
    secret: &AppSecret,
    force_refresh: bool,
    now: i64,
) -> Result<Issued, ApiError> {
    // Rotations are compare-and-swap on the state's generation, so nodes racing to rotate
    // agree on one winner; the losers re-read and hand out the winner's token.
    for _ in 0..8 {
        let state = meta.stable_state(&app.appid).await?;
        let current = state.as_ref().and_then(|s| {
            let token = secrets::derive_stable_token(secret, &s.nonce);
            secrets::same_hash(&secrets::hash_token(&token), &s.token_hash).then_some((token, s))
        });
        if let Some((token, s)) = &current {
            let remaining = s.expires_at - now;
            let debounced = s.last_force_at.is_some_and(|at| now - at < FORCE_DEBOUNCE);
            if (force_refresh && debounced) || (!force_refresh && remaining >= STABLE_MIN_LIFE) {
                return Ok(Issued {
                    access_token: token.clone(),
                    expires_in: remaining,
                });
            }
        }
        let day = wximg_proto::calendar::beijing_day(now);
        let (force_day, force_count) = match &state {
            Some(s) if s.force_day == day => (day, s.force_count),
            _ => (day, 0),
        };
        if force_refresh && force_count >= FORCES_PER_DAY {
            return Err(ApiError::detail(
                ErrCode::DailyQuota,
                "stable_token force_refresh: 20 a day already used",
            ));
        }
        let nonce: [u8; 32] = rand::random();
        let access_token = secrets::derive_stable_token(secret, &nonce);
        let next = StableState {
            appid: app.appid.clone(),
            generation: state.as_ref().map_or(1, |s| s.generation + 1),
            nonce,
            token_hash: secrets::hash_token(&access_token),
            issued_at: now,
            expires_at: now + TOKEN_TTL,
            last_force_at: if force_refresh {
                Some(now)
            } else {
                state.as_ref().and_then(|s| s.last_force_at)
            },
            force_day,
            force_count: force_count + i64::from(force_refresh),
        };
        let end_previous = if force_refresh {
            state.as_ref().map(|s| s.token_hash)
        } else {
            None
        };
        if meta
            .swap_stable_state(state.as_ref().map(|s| s.generation), &next, end_previous)
            .await?
        {
            return Ok(Issued {
                access_token,
                expires_in: TOKEN_TTL,
            });
        }
    }
    Err(ApiError::detail(
        ErrCode::SystemError,
        "stable_token: could not settle a rotation race",
    ))
}

/// The longest token the platform documents ("至少保留 512 个字符的存储空间").
pub const MAX_TOKEN_LEN: usize = 512;

/// Whether `token` could be an access token at all: the platform's and wximg's are
/// URL-safe (`A-Z a-z 0-9 _ -`) and at most [`MAX_TOKEN_LEN`] long. Anything else —
/// a space, `+`/`/`/`=` of non-URL-safe base64, quotes copied with it, a JWT's dots —
/// is 40014 `invalid access_token`, before any lookup.
pub fn is_token_form(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 40014 unless `token` is of a token's form ([`is_token_form`]).
pub fn check_token_form(token: &str) -> Result<(), ApiError> {
    if is_token_form(token) {
        return Ok(());
    }
    Err(ApiError::detail(
        ErrCode::InvalidAccessToken,
        format!(
            "a token of {} characters that is not URL-safe or longer than {MAX_TOKEN_LEN}",
            token.chars().count()
        ),
    ))
}

/// Finds the app an access token belongs to.
pub async fn authenticate(
    meta: &dyn MetaStore,
    token: &str,
    now: i64,
) -> Result<AppRecord, ApiError> {
    if token.is_empty() {
        return Err(ErrCode::AccessTokenMissing.into());
    }
    check_token_form(token)?;
    let hash = secrets::hash_token(token);
    let (record, app) = meta
        .token_with_app(&hash)
        .await?
        .filter(|(r, _)| secrets::same_hash(&r.hash, &hash))
        .ok_or(ErrCode::InvalidCredential)?;
    if record.ended_at.is_some_and(|at| at <= now) {
        return Err(ErrCode::InvalidCredential.into());
    }
    if record.expires_at <= now {
        return Err(ErrCode::AccessTokenExpired.into());
    }
    Ok(app.ok_or(ErrCode::InvalidCredential)?)
}
