//! Per-app IP whitelists for the token calls (`/cgi-bin/token`, `/cgi-bin/stable_token`).
//!
//! Invariant: an app with a non-empty whitelist gets no token from outside it — 40164,
//! with the real message that names the caller:
//! `invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist`. An app without one is
//! unrestricted. The list is the platform record `whitelist:wx…`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wximg_proto::{AppId, ErrCode};

use super::Cidr;
use crate::error::ApiError;
use wximg_store::MetaStore;

/// An app's IP whitelist, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Whitelist {
    pub networks: Vec<String>,
}

/// The platform record key of `appid`'s whitelist.
pub fn whitelist_key(appid: &AppId) -> String {
    format!("whitelist:{appid}")
}

/// The 40164 message for a caller, in the real platform's format.
pub fn not_in_whitelist_message(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!(
            "invalid ip {v4} ipv6 {}, not in whitelist",
            v4.to_ipv6_mapped()
        ),
        IpAddr::V6(v6) => format!("invalid ip {v6} ipv6 {v6}, not in whitelist"),
    }
}

/// The networks of `appid`'s whitelist (empty: no restriction).
pub async fn whitelist(
    meta: &dyn MetaStore,
    appid: &AppId,
    now: i64,
) -> Result<Vec<Cidr>, ApiError> {
    let Some((list, _)) = super::load::<Whitelist>(meta, &whitelist_key(appid), now).await? else {
        return Ok(Vec::new());
    };
    list.networks
        .iter()
        .map(|n| {
            n.parse::<Cidr>().map_err(|e| {
                ApiError::detail(ErrCode::SystemError, format!("whitelist of {appid}: {e}"))
            })
        })
        .collect()
}

/// 40164 unless `ip` is allowed to make token calls for `appid`.
pub async fn check_whitelist(
    meta: &dyn MetaStore,
    appid: &AppId,
    ip: IpAddr,
    now: i64,
) -> Result<(), ApiError> {
    let networks = whitelist(meta, appid, now).await?;
    if networks.is_empty() || networks.iter().any(|n| n.contains(ip)) {
        return Ok(());
    }
    Err(ApiError {
        code: ErrCode::IpNotInWhitelist,
        message: Some(not_in_whitelist_message(ip)),
        detail: Some(if ip.is_unspecified() {
            format!(
                "{appid} whitelists {} network(s); the caller is unknown (a malformed \
                 X-Forwarded-For from a trusted proxy)",
                networks.len()
            )
        } else {
            format!("{appid} whitelists {} network(s)", networks.len())
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_platforms() {
        assert_eq!(
            not_in_whitelist_message("1.2.3.4".parse().expect("ip")),
            "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist"
        );
    }
}
