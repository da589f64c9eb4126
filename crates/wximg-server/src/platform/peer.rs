//! The caller's address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
//!
//! Invariant: no client can choose its address, and none can become the proxy's. Behind
//! a reverse proxy every peer is the proxy, so `X-Forwarded-For` is believed *only* when
//! the peer is inside one of the `--trust-forwarded-for` networks; then its hops (every
//! header line, in order, split at commas) are walked from the right:
//! - a hop inside a trusted proxy network is skipped (it is a proxy that forwarded);
//! - the first hop that is not is the caller (hops further left are whatever the client
//!   wrote and prove nothing);
//! - a hop that is not exactly an IP address (`1.2.3.4` or a bare IPv6 address; not
//!   empty, `garbage`, `addr:port`, `[v6]`, `[v6]:port`, not ASCII) ends the walk: the
//!   caller is then *unknown*, [`UNKNOWN_CALLER`], an address no whitelist and no
//!   `--trusted-cidr` network contains (see [`super::Cidr`]). A malformed header never
//!   makes the caller the proxy itself;
//! - every hop a trusted proxy: the caller is the left-most one; no header at all: the
//!   peer (the proxy calling on its own behalf).
//!
//! `Forwarded` (RFC 7239) and `X-Real-IP` are never read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::PlatformSettings;
use crate::state::AppState;

/// The address of a caller that cannot be known (a malformed `X-Forwarded-For` from a
/// trusted proxy, or no socket at all): the unspecified address, which no network
/// contains (see [`super::Cidr::contains`]), so it is never trusted nor whitelisted.
pub const UNKNOWN_CALLER: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// The TCP peer of a request (the accept loop puts it in every request's extensions).
/// Requests that did not come through a socket (in-process tests of the router) read as
/// the unspecified address, [`UNKNOWN_CALLER`].
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
    let mut lines = headers.get_all("x-forwarded-for").iter().peekable();
    if lines.peek().is_none() {
        // Not forwarded: the trusted peer called us itself.
        return peer;
    }
    // Split as bytes: a hop that is not ASCII is garbage like any other, and the hops to
    // its right still count.
    let hops: Vec<&[u8]> = lines
        .flat_map(|line| line.as_bytes().split(|b| *b == b','))
        .collect();
    let mut furthest = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = strict_ip(hop) else {
            // Garbage where an address should be: the hop left of the last one we could
            // read is unknown, and so is the caller. Never the proxy.
            return UNKNOWN_CALLER;
        };
        if !trusted(ip) {
            return ip;
        }
        furthest = ip;
    }
    // Every hop is a trusted proxy: the request started at the furthest one.
    furthest
}

/// A hop of `X-Forwarded-For` as an address: exactly `1.2.3.4` or a bare IPv6 address
/// (`2001:db8::1`, `::ffff:1.2.3.4`), with spaces around it. Anything else — empty,
/// `addr:port`, `[v6]`, `[v6]:port`, a zone (`fe80::1%eth0`), a name, `unknown`, an
/// obfuscated identifier — is not one.
fn strict_ip(hop: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(hop)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\t')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
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

    /// The caller for these `X-Forwarded-For` lines, from the trusted proxy 10.0.0.2
    /// (proxies: 10.0.0.0/24).
    fn behind_proxy(lines: &[&[u8]]) -> String {
        let settings = PlatformSettings {
            trust_forwarded_for: vec!["10.0.0.0/24".parse().expect("cidr")],
            ..PlatformSettings::default()
        };
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                "x-forwarded-for",
                axum::http::HeaderValue::from_bytes(line).expect("value"),
            );
        }
        let peer: SocketAddr = "10.0.0.2:5000".parse().expect("peer");
        caller_ip(&settings, peer, &headers).to_string()
    }

    /// [`behind_proxy`] of one header line.
    fn one_line(line: &str) -> String {
        behind_proxy(&[line.as_bytes()])
    }

    #[test]
    fn hops_are_walked_from_the_right_and_garbage_ends_in_an_unknown_caller() {
        // Proxies are skipped; the first address that is not one is the caller.
        assert_eq!(one_line("6.6.6.6, 1.2.3.4, 10.0.0.7"), "1.2.3.4");
        assert_eq!(
            behind_proxy(&[b"6.6.6.6", b"1.2.3.4", b"10.0.0.7"]),
            "1.2.3.4"
        );
        assert_eq!(one_line(" 2001:db8::1 ,10.0.0.3"), "2001:db8::1");
        assert_eq!(one_line("::ffff:1.2.3.4"), "1.2.3.4");
        // Only proxies: the furthest; no header: the proxy itself.
        assert_eq!(one_line("10.0.0.9, 10.0.0.7"), "10.0.0.9");
        assert_eq!(behind_proxy(&[]), "10.0.0.2");
        // What the client wrote left of its real address does not matter…
        assert_eq!(one_line("garbage, 1.2.3.4"), "1.2.3.4");
        assert_eq!(behind_proxy(&[b"garbage", b"1.2.3.4"]), "1.2.3.4");
        // …but garbage where the walk needs an address makes the caller unknown, never
        // the proxy.
        let unknown = UNKNOWN_CALLER.to_string();
        for line in [
            "garbage",
            "",
            " ",
            "1.2.3.4,",
            "1.2.3.4, , 10.0.0.7",
            "1.2.3.4:80",
            "[2001:db8::1]",
            "[2001:db8::1]:443",
            "fe80::1%eth0",
            "01.2.3.4",
            "unknown",
        ] {
            assert_eq!(one_line(line), unknown, "{line:?}");
        }
        assert_eq!(behind_proxy(&[b"1.2.3.4", b"garbage"]), unknown);
        assert_eq!(behind_proxy(&[b"1.2.3.4", b"caf\xc3\xa9"]), unknown);
        assert_eq!(behind_proxy(&[b"caf\xc3\xa9, 1.2.3.4"]), "1.2.3.4");
    }

    #[test]
    fn forwarded_and_x_real_ip_are_never_believed() {
        let settings = PlatformSettings {
            trust_forwarded_for: vec!["10.0.0.0/24".parse().expect("cidr")],
            ..PlatformSettings::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("forwarded", "for=192.0.2.60".parse().expect("value"));
        headers.insert("x-real-ip", "192.0.2.61".parse().expect("value"));
        let proxy: SocketAddr = "10.0.0.2:5000".parse().expect("peer");
        assert_eq!(
            caller_ip(&settings, proxy, &headers).to_string(),
            "10.0.0.2"
        );
        let direct: SocketAddr = "198.51.100.1:5000".parse().expect("peer");
        assert_eq!(
            caller_ip(&settings, direct, &headers).to_string(),
            "198.51.100.1"
        );
    }
}
