//! [`refuse_foreign`]: API calls made by web pages of other sites are refused.
//!
//! Invariant: a browser can be made to call the API only from a page of this server's own
//! origin. A page of another site, opened by a developer on a trusted or whitelisted
//! network, could otherwise lend that network position to a request of its choosing (a
//! "simple" cross-site POST needs no CORS permission to be *sent*, only to be read). So
//! every API call (a layer over every `/cgi-bin/` route, so no new endpoint can forget
//! it) first passes this check, and answers 48001 when the browser says the call comes
//! from elsewhere:
//! - an `Origin` header that is present and not this server's origin: the `--public-url`'s
//!   (scheme, host, port), or — so that `/debug/` opened by address, e.g. at
//!   `http://localhost:8080/` when the public URL names `127.0.0.1`, keeps working — the
//!   origin the request itself was sent to, when its `Host` is an IP address or
//!   `localhost` (no DNS answer can make another site's page carry such an origin; a host
//!   *name* could be rebound, so a name must be the public URL's);
//! - `Sec-Fetch-Site: cross-site` or `same-site` (the browsers' own verdict, sent even
//!   where they send no `Origin`, as on a cross-site `<img src>` GET).
//!
//! SDKs and `curl` send neither header, so nothing changes for them.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wximg_proto::ErrCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The layer: 48001 for a call from another site's web page, before anything else of the
/// request is looked at.
pub async fn refuse_foreign(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match check(&state.public_url, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// 48001 unless the request may come from where its headers say (see the module docs).
pub fn check(public_url: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    for site in headers.get_all("sec-fetch-site") {
        if matches!(site.as_bytes(), b"cross-site" | b"same-site") {
            return Err(ApiError::detail(
                ErrCode::ApiUnauthorized,
                format!(
                    "a web page of another site made this call (Sec-Fetch-Site: {}); \
                     call the API from a program, or from {public_url}/debug/",
                    String::from_utf8_lossy(site.as_bytes())
                ),
            ));
        }
    }
    let own = Origin::parse(public_url);
    for origin in headers.get_all(ORIGIN) {
        let given = std::str::from_utf8(origin.as_bytes())
            .ok()
            .and_then(Origin::parse);
        let allowed = given
            .as_ref()
            .is_some_and(|given| own.as_ref() == Some(given) || sent_to_by_address(given, headers));
        if !allowed {
            return Err(ApiError::detail(
                ErrCode::ApiUnauthorized,
                format!(
                    "a web page of another origin ({}) made this call; this server's is \
                     {public_url} (--public-url): call the API from a program, or from \
                     {public_url}/debug/",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            ));
        }
    }
    Ok(())
}

/// A web origin: scheme, lowercase host, port (the scheme's default filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of a URL or of an `Origin` header (`http://host:port[/path]`); `None`
    /// for anything that is not http(s) with a host (`null`, garbage).
    fn parse(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or_else(|| default_port(&scheme))?;
        Some(Origin {
            host: uri.host()?.to_ascii_lowercase(),
            scheme,
            port,
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Whether `origin` is where the request itself was sent, by its `Host` header, and
/// that host is an IP address or `localhost` (which no DNS answer can give another site).
fn sent_to_by_address(origin: &Origin, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    // `Host` has no scheme: it is the origin's, whose default port applies when none is
    // written.
    let Some(sent_to) = Origin::parse(&format!("{}://{host}", origin.scheme)) else {
        return false;
    };
    let name = sent_to.host.trim_start_matches('[').trim_end_matches(']');
    let by_address = name == "localhost" || name.parse::<std::net::IpAddr>().is_ok();
    by_address && sent_to == *origin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("value"));
        }
        h
    }

    fn allowed(public_url: &str, pairs: &[(&'static str, &'static str)]) -> bool {
        check(public_url, &headers(pairs)).is_ok()
    }

    #[test]
    fn only_the_servers_own_origin_passes() {
        let public = "http://127.0.0.1:8080";
        // SDKs, curl: no Origin at all.
        assert!(allowed(public, &[]));
        assert!(allowed(public, &[("sec-fetch-site", "none")]));
        // The server's own pages.
        assert!(allowed(public, &[("origin", "http://127.0.0.1:8080")]));
        assert!(allowed(
            public,
            &[
                ("origin", "HTTP://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]
        ));
        assert!(allowed(
            "https://pics.example.com/",
            &[("origin", "https://pics.example.com:443")]
        ));
        // Opened by another address of the same server.
        assert!(allowed(
            public,
            &[
                ("origin", "http://localhost:8080"),
                ("host", "localhost:8080")
            ]
        ));
        assert!(allowed(
            public,
            &[("origin", "http://[::1]:8080"), ("host", "[::1]:8080")]
        ));
        assert!(allowed(
            public,
            &[("origin", "http://10.1.2.3"), ("host", "10.1.2.3")]
        ));
        // Other sites.
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:8081",
            "https://127.0.0.1",
            "null",
            "",
            "garbage",
        ] {
            let pairs: [(&'static str, &'static str); 2] =
                [("origin", origin), ("host", "127.0.0.1:8080")];
            assert!(!allowed(public, &pairs), "{origin}");
        }
        // A host *name* in Host proves nothing (DNS rebinding): only the public URL's.
        assert!(!allowed(
            public,
            &[
                ("origin", "http://rebound.example:8080"),
                ("host", "rebound.example:8080")
            ]
        ));
        assert!(!allowed(
            public,
            &[
                ("origin", "http://localhost:8081"),
                ("host", "localhost:8080")
            ]
        ));
        // One foreign Origin among several is enough to refuse.
        assert!(!allowed(
            public,
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("origin", "http://evil.example")
            ]
        ));
        // The browsers' own verdict.
        for site in ["cross-site", "same-site"] {
            let pairs: [(&'static str, &'static str); 1] = [("sec-fetch-site", site)];
            assert!(!allowed(public, &pairs), "{site}");
        }
        let e = check(public, &headers(&[("origin", "http://evil.example")])).expect_err("refused");
        assert_eq!(e.code, ErrCode::ApiUnauthorized);
    }
}
