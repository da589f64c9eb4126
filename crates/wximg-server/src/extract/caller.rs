//! [`Caller`]: the account an API call acts for, and how it proved it.
//!
//! Decided from the request's head only — the query's `access_token`, the peer and the
//! headers — so a handler that takes a `Caller` has refused a bad token *before* reading
//! the body (an upload with a wrong token costs no body read). In order:
//! 0. (Before this runs: a call from another site's web page is 48001, [`super::origin`].)
//! 1. A token ([`cloud::token_of`]: `?access_token=`, `?cloudbase_access_token=`, or the
//!    `X-WX-CLOUDBASE-ACCESS-TOKEN` header): 40014 if it is not of a token's form, then
//!    the account's own token ([`crate::tokens`]: 40001, 42001), else an
//!    `authorizer_access_token` of a third-party platform
//!    ([`crate::platform::component`]); neither: 40001.
//! 2. No token: a cloud call from a `--trusted-cidr` network that names its account in
//!    the `X-WX-APPID` header ([`crate::platform::cloud`]: 40013 for an unknown one;
//!    `from_appid` alone names nobody, with the header it makes the call as that account,
//!    48001 if there is none), else 41001. Its answer carries `x-openapi-seqid`.
//!
//! What the caller may then do (48001: app type, permission sets) is the handler's to
//! say, with [`Caller::require_sets`], since it depends on the API.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use wximg_proto::ErrCode;
use wximg_store::{AppRecord, MetaStore};

use crate::error::ApiError;
use crate::platform::cloud;
use crate::platform::component;
use crate::platform::peer::CallerIp;
use crate::routes::query_map;
use crate::state::AppState;
use crate::tokens;

/// The account a request acts for, and how it authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app: AppRecord,
    pub via: Via,
}

/// How a [`Caller`] authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The account's own access token (`/cgi-bin/token` or `stable_token`).
    OwnToken,
    /// An `authorizer_access_token`: a third-party platform acting under a grant that
    /// holds these permission sets.
    Authorizer { func_sets: Vec<u32> },
    /// No token: a cloud call from this address inside a trusted network.
    CloudCall { from: IpAddr },
}

impl Caller {
    /// 48001 for an authorizer whose grant holds none of `allowed` (the permission sets
    /// under which `api` may be called); the account's own token and cloud calls pass.
    pub fn require_sets(&self, api: &str, allowed: &[u32]) -> Result<(), ApiError> {
        match &self.via {
            Via::Authorizer { func_sets } if !func_sets.iter().any(|s| allowed.contains(s)) => {
                Err(ApiError::detail(
                    ErrCode::ApiUnauthorized,
                    format!(
                        "the grant of {} holds sets {func_sets:?}, none allows {api}",
                        self.app.appid
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let q = query_map(parts.uri.query());
        let meta = state.storage.meta.as_ref();
        let now = state.clock.now();
        if let Some(token) = cloud::token_of(&q, &parts.headers) {
            let caller = by_token(meta, token, now).await?;
            crate::request_log::note_app(&parts.extensions, &caller.app.appid);
            return Ok(caller);
        }
        let Ok(CallerIp(from)) = CallerIp::from_request_parts(parts, state).await;
        let app = cloud::cloud_caller(
            &state.platform,
            meta,
            from,
            &parts.headers,
            q.get("from_appid").map(String::as_str),
        )
        .await?
        .ok_or_else(|| {
            ApiError::detail(
                ErrCode::AccessTokenMissing,
                "no access_token, and no cloud call (X-WX-APPID from a --trusted-cidr network)",
            )
        })?;
        crate::request_log::note_app(&parts.extensions, &app.appid);
        if let Some(slot) = parts.extensions.get::<cloud::CloudCallSlot>() {
            slot.mark();
        }
        Ok(Caller {
            app,
            via: Via::CloudCall { from },
        })
    }
}

/// The account a token acts for: its own access token, or else an authorizer's.
async fn by_token(meta: &dyn MetaStore, token: &str, now: i64) -> Result<Caller, ApiError> {
    match tokens::authenticate(meta, token, now).await {
        Ok(app) => Ok(Caller {
            app,
            via: Via::OwnToken,
        }),
        Err(e) if e.code == ErrCode::InvalidCredential => {
            match component::authenticate_authorizer(meta, token, now).await? {
                Some((app, func_sets)) => Ok(Caller {
                    app,
                    via: Via::Authorizer { func_sets },
                }),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
