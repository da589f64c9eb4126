//! Who is calling, from where: the caller's address, IP whitelists and cloud calls.
//!
//! **The caller's address** is the TCP peer. Behind a reverse proxy every peer is the
//! proxy, so `X-Forwarded-For` is believed *only* when the peer is inside one of the
//! `--trust-forwarded-for` networks; then the caller is the right-most address of the
//! header that is not itself a trusted proxy (entries further left are whatever the client
//! wrote and prove nothing). A client outside those networks cannot choose its address.
//!
//! **IP whitelists** (per app, for `/cgi-bin/token` and `/cgi-bin/stable_token`): an app
//! with a non-empty whitelist gets 40164 from anywhere else, with the real message that
//! names the caller: `invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist`.
//!
//! **Cloud calls**: the seed lets code inside WeChat's cloud call `uploadimg` without a
//! token. wximg models that with `--trusted-cidr` networks: a request from inside one may
//! omit `access_token` and name its account with the `X-WX-APPID` header (or the
//! `from_appid` query parameter). From anywhere else the header is ignored.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use wximg_proto::{AppId, ErrCode};

use super::PlatformSettings;
use crate::answer::ApiError;
use wximg_store::{AppRecord, MetaStore};

/// A network: an address and a prefix length (`10.0.0.0/8`, `::1/128`; a bare address is
/// one host). IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The TCP peer of a request (the accept loop puts it in every request's extensions).
/// Requests that did not come through a socket (in-process tests of the router) read as
/// the unspecified address, which no whitelist or trusted network contains by accident.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        ))
    }
}

/// The caller's address (see the module docs for when `X-Forwarded-For` counts).
pub fn caller_ip(settings: &PlatformSettings, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip().to_canonical();
    let trusted = |ip: IpAddr| settings.trust_forwarded_for.iter().any(|c| c.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()))
        .collect::<Result<_, _>>()
        // A malformed header is not evidence of anything: fall back to the peer.
        .unwrap_or_default();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted(*ip))
        .unwrap_or(peer)
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

/// An app's IP whitelist, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Whitelist {
    pub networks: Vec<String>,
}

pub fn whitelist_key(appid: &AppId) -> String {
    format!("whitelist:{appid}")
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
        detail: Some(format!("{appid} whitelists {} network(s)", networks.len())),
    })
}

/// The account a cloud call names, if this request is one: no token, the caller inside a
/// `--trusted-cidr` network, and `X-WX-APPID` (or `from_appid`) given. `Ok(None)` when it
/// is not a cloud call (the caller then needs a token: 41001).
pub async fn cloud_caller(
    settings: &PlatformSettings,
    meta: &dyn MetaStore,
    caller: IpAddr,
    headers: &HeaderMap,
    from_appid: Option<&str>,
) -> Result<Option<AppRecord>, ApiError> {
    if !settings.trusted_cidrs.iter().any(|c| c.contains(caller)) {
        return Ok(None);
    }
    let named = headers
        .get("x-wx-appid")
        .and_then(|v| v.to_str().ok())
        .or(from_appid)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(named) = named else {
        return Ok(None);
    };
    let appid = AppId::parse(named).ok_or(ErrCode::InvalidAppId)?;
    let app = meta.app(&appid).await?.ok_or(ErrCode::InvalidAppId)?;
    tracing::debug!(%appid, %caller, "cloud call");
    Ok(Some(app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_what_they_should() {
        let n: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(n.contains("10.1.200.3".parse().expect("ip")));
        assert!(!n.contains("10.2.0.1".parse().expect("ip")));
        assert!(n.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let host: Cidr = "127.0.0.1".parse().expect("host");
        assert!(host.contains("127.0.0.1".parse().expect("ip")));
        assert!(!host.contains("127.0.0.2".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("all");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        let v6: Cidr = "fd00::/8".parse().expect("v6");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut settings = PlatformSettings::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4".parse().expect("value"),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("peer");
        assert_eq!(
            caller_ip(&settings, peer, &headers).to_string(),
            "127.0.0.1"
        );
        settings.trust_forwarded_for = vec!["127.0.0.1/32".parse().expect("cidr")];
        assert_eq!(caller_ip(&settings, peer, &headers).to_string(), "1.2.3.4");
    }

    #[test]
    fn the_message_is_the_platforms() {
        assert_eq!(
            not_in_whitelist_message("1.2.3.4".parse().expect("ip")),
            "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist"
        );
    }
}
