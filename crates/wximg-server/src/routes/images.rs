//! `GET`/`HEAD` `/mmbiz_jpg/<id>/0` and `/mmbiz_png/<id>/0`: the stored bytes.
//!
//! Content never changes under a URL (the id is the content's hash), so answers carry a
//! strong `ETag` (the hash) and `Cache-Control: public, max-age=31536000, immutable`;
//! `If-None-Match` gives 304 and a single `Range` gives 206. Anything that is not a stored
//! picture of that format — unknown ids, `..`, encoded tricks — is a plain 404.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wximg_proto::{ImageFormat, ImageId};

use crate::state::AppState;

const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Whether an `If-None-Match` header names `etag` (or `*`). Weak comparison, as RFC 9110
/// asks for this header.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// The byte range to send: `None` for the whole, `Err` if unsatisfiable.
fn wanted_range(
    headers: &HeaderMap,
    etag: &str,
    len: u64,
) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    // If-Range with another validator: send the whole (the client's copy is stale).
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(None);
    }
    match http_range_header::parse_range_header(range).map(|r| r.validate(len)) {
        Ok(Ok(ranges)) if ranges.len() == 1 => Ok(Some(*ranges[0].start()..*ranges[0].end() + 1)),
        Ok(Ok(_)) => Ok(None), // several ranges: we may send the whole instead (RFC 9110 §14.2)
        Ok(Err(_)) => Err(()),
        Err(_) => Ok(None), // a malformed Range header is ignored
    }
}

/// The path's `(id, size)`; a path that does not even decode (`%ff`) is simply not found.
type IdPath = Result<Path<(String, String)>, PathRejection>;

pub async fn jpg(
    state: State<AppState>,
    id: IdPath,
    method: Method,
    headers: HeaderMap,
) -> Response {
    serve(state, ImageFormat::Jpeg, id, method, headers).await
}

pub async fn png(
    state: State<AppState>,
    id: IdPath,
    method: Method,
    headers: HeaderMap,
) -> Response {
    serve(state, ImageFormat::Png, id, method, headers).await
}

async fn serve(
    State(state): State<AppState>,
    format: ImageFormat,
    path: IdPath,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((id, size))) = path else {
        return not_found();
    };
    let Some(id) = ImageId::parse(&id) else {
        return not_found();
    };
    if size != "0" {
        return not_found();
    }
    let cached = state.pictures.as_ref().and_then(|c| c.get(&id));
    let record = match &cached {
        Some((record, _)) if record.format == format => record.clone(),
        Some(_) => return not_found(),
        None => match state.storage.meta.image(&id).await {
            Ok(Some(r)) if r.format == format => r,
            Ok(_) => return not_found(),
            Err(e) => {
                tracing::error!(%id, "image lookup failed: {e}");
                return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response();
            }
        },
    };
    let etag = format!("\"{}\"", id.hex());
    let mut response_headers = HeaderMap::new();
    let mut set = |name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            response_headers.insert(name, v);
        }
    };
    set(header::ETAG, &etag);
    set(header::CACHE_CONTROL, CACHE_CONTROL);
    set(header::ACCEPT_RANGES, "bytes");
    set(
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(record.created_at.max(0) as u64),
        ),
    );

    if none_match(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    set(header::CONTENT_TYPE, format.mime());
    let len = record.size;
    let (status, range) = match wanted_range(&headers, &etag, len) {
        Ok(None) => (StatusCode::OK, None),
        Ok(Some(r)) => {
            set(
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{len}", r.start, r.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, Some(r))
        }
        Err(()) => {
            set(header::CONTENT_RANGE, &format!("bytes */{len}"));
            return (StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response();
        }
    };
    let body_len = range.as_ref().map_or(len, |r| r.end - r.start);
    set(header::CONTENT_LENGTH, &body_len.to_string());
    if method == Method::HEAD {
        return (status, response_headers).into_response();
    }
    if let Some((_, bytes)) = cached {
        let body = match range {
            Some(r) => bytes.slice(r.start as usize..r.end as usize),
            None => bytes,
        };
        return (status, response_headers, body).into_response();
    }
    match state.storage.blobs.get(&id, range).await {
        Ok(Some(stream)) => {
            if let Some(cache) = &state.pictures {
                cache.fill_later(&state.storage, record);
            }
            (status, response_headers, Body::from_stream(stream)).into_response()
        }
        Ok(None) => {
            tracing::error!(%id, "picture row without its blob: run `wximg fsck`");
            not_found()
        }
        Err(e) => {
            tracing::error!(%id, "blob read failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ranges() {
        let e = "\"ab\"";
        assert_eq!(
            wanted_range(&headers(&[(header::RANGE, "bytes=0-9")]), e, 100),
            Ok(Some(0..10))
        );
        assert_eq!(
            wanted_range(&headers(&[(header::RANGE, "bytes=-10")]), e, 100),
            Ok(Some(90..100))
        );
        assert_eq!(
            wanted_range(&headers(&[(header::RANGE, "bytes=95-")]), e, 100),
            Ok(Some(95..100))
        );
        assert_eq!(
            wanted_range(&headers(&[(header::RANGE, "bytes=200-300")]), e, 100),
            Err(())
        );
        assert_eq!(
            wanted_range(&headers(&[(header::RANGE, "chars=1-2")]), e, 100),
            Ok(None)
        );
        assert_eq!(
            wanted_range(
                &headers(&[(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"old\"")]),
                e,
                100
            ),
            Ok(None)
        );
        assert!(none_match(
            &headers(&[(header::IF_NONE_MATCH, "\"x\", \"ab\"")]),
            e
        ));
        assert!(!none_match(
            &headers(&[(header::IF_NONE_MATCH, "\"x\"")]),
            e
        ));
    }
}
