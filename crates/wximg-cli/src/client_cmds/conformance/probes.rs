//! The checks of `wximg conformance` that take more than one request: HTTPS on the
//! platform's host names, and the CDN's URL forms. Each returns its outcomes; a check
//! that cannot apply to the server under test is skipped with the reason, never passed.
//!
//! - [`tls_checks`] (issue 15, point 6): with `--ca`, a client trusting only that CA and
//!   sending `api.weixin.qq.com` and `mmbiz.qpic.cn` to the base URL's address gets a
//!   token and the uploaded picture — what a client with a hard-coded host sees after
//!   `wximg tls init`.
//! - [`cdn_checks`] (issue 15, point 5): the uploaded JPEG at a width (`/640?wx_fmt=jpeg`,
//!   never upscaled), under `sz_mmbiz_jpg`, as WebP (`tp=webp`), and hotlink protection
//!   (a platform Referer gets the picture; with `--expect-hotlink-protection` a foreign one
//!   gets the placeholder). A server that answers 404 for `/640` does not serve the CDN's
//!   forms at all: the whole group is skipped with "not served by this server".

use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::{Outcome, Target};

/// The platform's names a hard-coded client reaches (`wximg tls init` certifies both).
const API_HOST: &str = "api.weixin.qq.com";
const PICTURE_HOST: &str = "mmbiz.qpic.cn";

/// A Referer of the platform's own pages (the CDN serves them the picture).
const PLATFORM_REFERER: &str = "https://mp.weixin.qq.com/";
/// A Referer of any other site (the CDN serves it its placeholder picture).
const FOREIGN_REFERER: &str = "https://example.com/article.html";

/// `https://host:port/…` → (host, port); the port defaults to the scheme's.
fn authority(base: &str) -> Option<(String, u16, bool)> {
    let (scheme, rest) = base.split_once("://")?;
    let https = scheme.eq_ignore_ascii_case("https");
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None if https => 443,
        None => 80,
    };
    Some((host.to_string(), port, https))
}

/// The path and query of a URL (`/mmbiz_jpg/<id>/0?from=appmsg`).
fn path_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map(|i| &rest[i..])
}

/// HTTPS under the platform's host names, validated against `ca` only.
pub(super) async fn tls_checks(target: &Target, ca: Option<&Path>) -> Vec<Outcome> {
    let names = [
        "tls: api.weixin.qq.com's certificate, token",
        "tls: mmbiz.qpic.cn's certificate, picture",
    ];
    let expected = [
        "valid for api.weixin.qq.com under --ca; access_token",
        "valid for mmbiz.qpic.cn under --ca; image/*",
    ];
    let skip_all = |why: &str| {
        names
            .iter()
            .zip(expected)
            .map(|(n, e)| Outcome::skipped(n, e, why))
            .collect()
    };
    let Some((host, port, https)) = authority(&target.base) else {
        return skip_all("the base URL has no host");
    };
    if !https {
        return skip_all("the base URL is http:// (serve --tls-cert to check HTTPS)");
    }
    let Some(ca) = ca else {
        return skip_all("no --ca FILE given (the CA the certificate should chain to)");
    };
    let client = match platform_client(ca, &host, port).await {
        Ok(client) => client,
        Err(e) => {
            return names
                .iter()
                .zip(expected)
                .map(|(n, x)| Outcome::judged(n, x, Err(e.clone())))
                .collect();
        }
    };
    let token = async {
        let url = format!(
            "https://{API_HOST}:{port}/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
            target.appid, target.secret
        );
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{API_HOST}: {}", chain(&e)))?;
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("body: {e}"))?;
        match body["access_token"].as_str() {
            Some(t) if !t.is_empty() => Ok("certificate valid, access_token".to_string()),
            _ => Err(body.to_string()),
        }
    }
    .await;
    let picture = async {
        let url = target
            .jpeg_url
            .as_deref()
            .and_then(path_of)
            .ok_or("no uploaded JPEG to fetch (the upload check failed)")?;
        let resp = client
            .get(format!("https://{PICTURE_HOST}:{port}{url}"))
            .send()
            .await
            .map_err(|e| format!("{PICTURE_HOST}: {}", chain(&e)))?;
        match content_type(&resp) {
            t if resp.status() == 200 && t.starts_with("image/") => {
                Ok(format!("certificate valid, {t}"))
            }
            t => Err(format!("HTTP {} {t}", resp.status())),
        }
    }
    .await;
    vec![
        Outcome::judged(names[0], expected[0], token),
        Outcome::judged(names[1], expected[1], picture),
    ]
}

/// A client trusting only `ca` that sends both platform names to `host:port`'s address.
async fn platform_client(ca: &Path, host: &str, port: u16) -> Result<reqwest::Client, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
    if certs.is_empty() {
        return Err(format!("--ca {}: no PEM certificate", ca.display()));
    }
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {host}: no address"))?;
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .tls_certs_only(certs)
        .resolve(API_HOST, addr)
        .resolve(PICTURE_HOST, addr)
        .build()
        .map_err(|e| format!("TLS client: {e}"))
}

/// An error and its causes on one line (a TLS refusal is two levels down).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// A fetched picture: status, Content-Type, bytes.
async fn fetch(
    http: &reqwest::Client,
    url: &str,
    referer: Option<&str>,
) -> Result<(u16, String, Vec<u8>), String> {
    let mut request = http.get(url);
    if let Some(referer) = referer {
        request = request.header(reqwest::header::REFERER, referer);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| format!("{url}: {}", chain(&e)))?;
    let status = resp.status().as_u16();
    let ctype = content_type(&resp);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("{url}: body: {e}"))?;
    Ok((status, ctype, bytes.to_vec()))
}

fn width_of(bytes: &[u8]) -> Option<u32> {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
        .map(|(w, _)| w)
}

/// The CDN's URL forms of the uploaded JPEG (issue 15, point 5).
pub(super) async fn cdn_checks(target: &Target, expect_hotlink: bool) -> Vec<Outcome> {
    const WIDTH: &str = "cdn: /640?wx_fmt=jpeg, not upscaled";
    const SZ: &str = "cdn: sz_mmbiz_jpg form";
    const WEBP: &str = "cdn: tp=webp";
    const PLATFORM: &str = "cdn: platform Referer gets the picture";
    const FOREIGN: &str = "cdn: foreign Referer gets the placeholder";
    let expected = [
        (WIDTH, "200 image/jpeg, width ≤ the original's"),
        (SZ, "200, the same bytes as /0"),
        (WEBP, "200 image/webp"),
        (PLATFORM, "200, the same bytes as /0"),
        (FOREIGN, "200 image/*, not the picture"),
    ];
    let skip_all = |why: String| -> Vec<Outcome> {
        expected
            .iter()
            .map(|(n, e)| Outcome::skipped(n, *e, why.clone()))
            .collect()
    };
    let Some(url) = target.jpeg_url.as_deref() else {
        return skip_all("no uploaded JPEG (the upload check failed)".into());
    };
    // `{public}/mmbiz_jpg/<id>/0?from=appmsg` → `{public}/mmbiz_jpg/<id>`
    let Some(stem) = url
        .split_once('?')
        .map_or(url, |(u, _)| u)
        .strip_suffix("/0")
    else {
        return skip_all(format!("{url} does not end in /0"));
    };
    let http = &target.http;
    let original = match fetch(http, url, None).await {
        Ok((200, _, bytes)) => bytes,
        Ok((status, ..)) => return skip_all(format!("{url} answered HTTP {status}")),
        Err(e) => return skip_all(e),
    };
    let original_width = width_of(&original).unwrap_or(u32::MAX);

    let mut out = Vec::with_capacity(expected.len());
    let width_url = format!("{stem}/640?wx_fmt=jpeg");
    // The point-5 hook: until the server serves widths, the group is skipped as a whole.
    let width = match fetch(http, &width_url, None).await {
        Ok((404, ..)) => {
            return skip_all("not served by this server (/640?wx_fmt=jpeg answered 404)".into());
        }
        Ok((200, t, bytes)) if t.starts_with("image/jpeg") => match width_of(&bytes) {
            Some(w) if w <= 640 && w <= original_width => Ok(format!("200 {t}, width {w}")),
            w => Err(format!("width {w:?}, original {original_width}")),
        },
        Ok((status, t, _)) => Err(format!("HTTP {status} {t}")),
        Err(e) => Err(e),
    };
    out.push(Outcome::judged(WIDTH, expected[0].1, width));

    let sz_url = stem.replacen("/mmbiz_jpg/", "/sz_mmbiz_jpg/", 1) + "/0?wx_fmt=jpeg";
    let sz = match fetch(http, &sz_url, None).await {
        Ok((200, t, bytes)) if bytes == original => Ok(format!("200 {t}, same bytes")),
        Ok((status, t, bytes)) => Err(format!("HTTP {status} {t}, {} bytes", bytes.len())),
        Err(e) => Err(e),
    };
    out.push(Outcome::judged(SZ, expected[1].1, sz));

    // The form article HTML uses: a width with `tp=webp` (`/0` stays the exact bytes).
    let webp_url = format!("{stem}/300?wx_fmt=jpeg&tp=webp");
    let webp = match fetch(http, &webp_url, None).await {
        Ok((200, t, bytes))
            if t.starts_with("image/webp")
                && bytes.len() > 12
                && &bytes[..4] == b"RIFF"
                && &bytes[8..12] == b"WEBP" =>
        {
            Ok(format!("200 {t}"))
        }
        Ok((status, t, _)) => Err(format!("HTTP {status} {t}")),
        Err(e) => Err(e),
    };
    out.push(Outcome::judged(WEBP, expected[2].1, webp));

    let platform = match fetch(http, url, Some(PLATFORM_REFERER)).await {
        Ok((200, t, bytes)) if bytes == original => Ok(format!("200 {t}, the picture")),
        Ok((status, t, _)) => Err(format!("HTTP {status} {t}, not the picture")),
        Err(e) => Err(e),
    };
    out.push(Outcome::judged(PLATFORM, expected[3].1, platform));

    if expect_hotlink {
        let foreign = match fetch(http, url, Some(FOREIGN_REFERER)).await {
            Ok((200, t, bytes)) if t.starts_with("image/") && bytes != original => {
                Ok(format!("200 {t}, a placeholder"))
            }
            Ok((200, _, _)) => Err("the picture itself".into()),
            Ok((status, t, _)) => Err(format!("HTTP {status} {t}")),
            Err(e) => Err(e),
        };
        out.push(Outcome::judged(FOREIGN, expected[4].1, foreign));
    } else {
        out.push(Outcome::skipped(
            FOREIGN,
            expected[4].1,
            "not asked (--expect-hotlink-protection)",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{authority, path_of};

    #[test]
    fn authorities() {
        assert_eq!(
            authority("https://127.0.0.1:8443"),
            Some(("127.0.0.1".into(), 8443, true))
        );
        assert_eq!(
            authority("https://api.weixin.qq.com/"),
            Some(("api.weixin.qq.com".into(), 443, true))
        );
        assert_eq!(
            authority("http://[::1]:80/x"),
            Some(("::1".into(), 80, false))
        );
        assert_eq!(
            path_of("http://h:1/mmbiz_jpg/a/0?from=appmsg"),
            Some("/mmbiz_jpg/a/0?from=appmsg")
        );
    }
}
