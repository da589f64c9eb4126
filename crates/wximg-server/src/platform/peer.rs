//! The caller's address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
//!
//! Invariant: a client outside the `--trust-forwarded-for` networks cannot choose its
//! address. Behind a reverse proxy every peer is the proxy, so `X-Forwarded-For` is
//! believed *only* when the peer is inside one of those networks; then the caller is the
//! right-most address of the header that is not itself a trusted proxy (entries further
//! left are whatever the client wrote and prove nothing).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::PlatformSettings;
use crate::state::AppState;

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

/// The caller's address, as an extractor: [`caller_ip`] of the request's peer and headers
/// under the server's [`PlatformSettings`].
#[derive(Debug, Clone, Copy)]
pub struct CallerIp(pub IpAddr);

impl FromRequestParts<AppState> for CallerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<CallerIp, Self::Rejection> {
        let Peer(peer) = Peer::from_request_parts(parts, state).await?;
        Ok(CallerIp(caller_ip(&state.platform, peer, &parts.headers)))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
