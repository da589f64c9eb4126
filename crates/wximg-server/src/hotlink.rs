//! `--hotlink-protection HOSTS`: what the platform's CDN does to a page of another site
//! that shows an article's picture — it answers a placeholder picture instead (on the
//! platform a grey "此图片来自微信公众平台 未经允许不可引用" image), so a writer's preview on
//! their own site shows placeholders where the pictures should be.
//!
//! Invariant: with protection on, a request whose `Referer` names a host outside the
//! allowed ones never gets a picture's bytes, whatever its path; a request with no
//! `Referer` does (the platform serves those: the common workaround for its hotlink
//! protection is `<meta name="referrer" content="no-referrer">`, which works because
//! of this). A host is allowed when it is one of `HOSTS` or below one of them
//! (`qq.com` allows `mp.weixin.qq.com`); the server's own public host is always allowed,
//! so its article pages (`/s/<id>`) and debug page show their pictures.
//!
//! The placeholder is wximg's own (a grey picture with a crossed-out frame, drawn here:
//! the platform's image is not copied), answered `200` with `Cache-Control: no-store`
//! and `Vary: Referer`, so no cache keeps it under the picture's URL, and an
//! `X-Wximg-Placeholder: hotlink-protection` header saying why.

use std::sync::OnceLock;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use image::{ImageEncoder, Rgb, RgbImage};

/// The allowed hosts, lower case.
#[derive(Debug, Clone)]
pub struct Hotlink {
    allowed: Vec<String>,
}

impl Hotlink {
    /// Protection allowing `hosts` and the host of `public_url`.
    pub fn new(hosts: &[String], public_url: &str) -> Hotlink {
        let mut allowed: Vec<String> = hosts
            .iter()
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(own) = referer_host(public_url) {
            allowed.push(own);
        }
        Hotlink { allowed }
    }

    /// Whether the request may have the picture: no `Referer`, or one naming an
    /// allowed host.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(referer) = headers.get(header::REFERER) else {
            return true;
        };
        let Some(host) = referer.to_str().ok().and_then(referer_host) else {
            return false; // a Referer we cannot read is no allowed host's
        };
        self.allowed.iter().any(|a| {
            host == *a
                || host
                    .strip_suffix(a.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// The host of an absolute `http(s)://` URL, lower case, without port or user info.
fn referer_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The placeholder picture (PNG), drawn once.
pub fn placeholder() -> Bytes {
    static PNG: OnceLock<Bytes> = OnceLock::new();
    PNG.get_or_init(draw).clone()
}

/// A 640 × 360 light grey picture with a darker frame, a mountain, a sun and a bar
/// across: "a picture you may not see here".
fn draw() -> Bytes {
    let (w, h) = (640u32, 360u32);
    let back = Rgb([242, 242, 242]);
    let ink = Rgb([190, 190, 190]);
    let mut img = RgbImage::from_pixel(w, h, back);
    let (fx0, fy0, fx1, fy1) = (250i64, 120i64, 390i64, 230i64);
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let frame = (fx0..=fx1).contains(&x)
                && (fy0..=fy1).contains(&y)
                && (x < fx0 + 5 || x > fx1 - 5 || y < fy0 + 5 || y > fy1 - 5);
            // The mountain: a triangle standing on the frame's floor.
            let inside = x > fx0 + 5 && x < fx1 - 5 && y > fy0 + 5 && y < fy1 - 5;
            let mountain = inside && y > fy1 - 5 - (60 - (x - 300).abs());
            let sun = (x - 355).pow(2) + (y - 150).pow(2) <= 12 * 12;
            // The bar: a thick diagonal from corner to corner of the frame.
            let bar = {
                let (dx, dy) = ((fx1 - fx0) as f64, (fy1 - fy0) as f64);
                let d = ((x - fx0) as f64 * dy - (y - fy0) as f64 * dx).abs() / dx.hypot(dy);
                d < 4.0 && (fx0 - 10..=fx1 + 10).contains(&x)
            };
            if frame || mountain || sun || bar {
                img.put_pixel(x as u32, y as u32, ink);
            }
        }
    }
    let mut out = Vec::new();
    // Writing a well-formed RGB buffer into a Vec cannot fail; an empty answer if it did.
    let _ = image::codecs::png::PngEncoder::new(&mut out).write_image(
        img.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    );
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_referer(r: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::REFERER, HeaderValue::from_str(r).unwrap());
        h
    }

    #[test]
    fn hosts() {
        let p = Hotlink::new(
            &["mp.weixin.qq.com".into(), ".example.org".into()],
            "http://127.0.0.1:8080",
        );
        assert!(p.allows(&HeaderMap::new()));
        assert!(p.allows(&with_referer("https://mp.weixin.qq.com/s/abc")));
        assert!(p.allows(&with_referer("https://MP.weixin.qq.com:443/s?x")));
        assert!(p.allows(&with_referer("https://blog.example.org/post")));
        assert!(p.allows(&with_referer("http://example.org")));
        assert!(p.allows(&with_referer("http://127.0.0.1:8080/s/xyz")));
        assert!(!p.allows(&with_referer("https://evilexample.org/")));
        assert!(!p.allows(&with_referer("https://mp.weixin.qq.com.evil.io/")));
        assert!(!p.allows(&with_referer("https://weixin.qq.com/")));
        assert!(!p.allows(&with_referer("https://user@other.io/")));
        assert!(!p.allows(&with_referer("not a url")));
    }

    #[test]
    fn placeholder_is_a_png() {
        let png = placeholder();
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (640, 360));
    }
}
