//! `GET`/`HEAD` `/mmbiz_jpg/<id>/0`, `/mmbiz_png/<id>/0` (and, for picture materials,
//! `/mmbiz_gif/<id>/0` and `/mmbiz_bmp/<id>/0`): the stored bytes; `/…/<id>/640` (and the
//! platform's other widths, `crate::variants`): the picture resized to that width. Every
//! path has its `/sz_mmbiz_<kind>/` twin, as on the platform's CDN. Of the query only
//! `tp=webp` counts (a WebP variant); `from=appmsg`, `wx_fmt=…` and the rest are ignored,
//! as the CDN does. With `--hotlink-protection`, another site's page gets a placeholder
//! (`crate::hotlink`).
//!
//! Content never changes under a URL (the id is the content's hash), so answers carry a
//! strong `ETag` (the hash; a variant's adds its width, format and recipe) and `Cache-Control: public, max-age=31536000, immutable`;
//! `If-None-Match` gives 304 and a single `Range` gives 206. Anything that is not a stored
//! picture of that format — unknown ids, taken-down pictures, `..`, encoded tricks — is a
//! plain 404.

mod byte_range;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use wximg_proto::{ImageFormat, ImageId};

use crate::state::AppState;
use crate::variants::{Output, Plan, Rendered, Size, VariantKey};
use wximg_store::ImageRecord;

const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Whether an `If-None-Match` header names `etag` (or `*`). Weak comparison, as RFC 9110
/// asks for this header.
// By hand: the `headers` crate's `IfNoneMatch` would be a dependency for these 8 lines.
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
    match byte_range::parse(range, len) {
        byte_range::Answer::Whole => Ok(None),
        byte_range::Answer::Part(r) => Ok(Some(r)),
        byte_range::Answer::Unsatisfiable => Err(()),
    }
}

/// The path's `(id, size)`; a path that does not even decode (`%ff`) is simply not found.
type IdPath = Result<Path<(String, String)>, PathRejection>;

macro_rules! handler {
    ($name:ident, $format:expr) => {
        pub async fn $name(
            state: State<AppState>,
            path: IdPath,
            RawQuery(query): RawQuery,
            request: axum::extract::Request,
        ) -> Response {
            // The request's own head, moved (the `HeaderMap` extractor would clone it).
            let (head, _no_body) = request.into_parts();
            serve(state, $format, path, query, head.method, head.headers).await
        }
    };
}

handler!(jpg, ImageFormat::Jpeg);
handler!(png, ImageFormat::Png);
handler!(gif, ImageFormat::Gif);
handler!(bmp, ImageFormat::Bmp);

/// Answers one picture request, step by step: the path, hotlink protection, then the
/// original or a width variant.
async fn serve(
    State(state): State<AppState>,
    format: ImageFormat,
    path: IdPath,
    query: Option<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some((id, size)) = picture_path(path) else {
        return not_found();
    };
    if let Some(hotlink) = &state.hotlink
        && !hotlink.allows(&headers)
    {
        return placeholder(&method);
    }
    // Before the row is read: a fill based on a row read before a takedown this node has
    // not applied yet is dropped once it applies it (see `picture_cache`).
    let generation = state.pictures.as_ref().map_or(0, |c| c.generation());
    let width = match size {
        Size::Original => None,
        Size::Width(width) => Some(width),
    };
    let request = Request {
        format,
        method: &method,
        headers: &headers,
        generation,
    };
    match width {
        None => original(&state, &request, &id).await,
        Some(width) => {
            let key = VariantKey {
                id,
                width,
                output: Output::from_query(query.as_deref()),
            };
            variant(&state, &request, key).await
        }
    }
}

/// What every step needs of the request.
struct Request<'a> {
    format: ImageFormat,
    method: &'a Method,
    headers: &'a HeaderMap,
    generation: i64,
}

/// The answer to a `GET`/`HEAD` of a picture (or variant) the cache holds, made without
/// the router: `crate::connections` asks here first, so that a hot picture skips the
/// middleware stack, and gives the request to the router when this says `None`.
///
/// Invariant: `Some` only when the router would give this very answer (its frame adds
/// the rid, as [`crate::answer::frame_direct`] does): a path in the routes' exact form
/// (`/mmbiz_<kind>/<id>/<size>` or its `sz_` twin, nothing percent-encoded), no request
/// body, a Referer hotlink protection allows, and a cache hit of that format. Anything
/// else — a miss, a 404, a placeholder — is `None`, and the router answers it.
pub fn cached(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    if *method != Method::GET && *method != Method::HEAD {
        return None;
    }
    let cache = state.pictures.as_deref()?;
    let path = uri.path();
    let rest = path
        .strip_prefix("/mmbiz_")
        .or_else(|| path.strip_prefix("/sz_mmbiz_"))?;
    let (kind, rest) = rest.split_once('/')?;
    let format = match kind {
        "jpg" => ImageFormat::Jpeg,
        "png" => ImageFormat::Png,
        "gif" => ImageFormat::Gif,
        "bmp" => ImageFormat::Bmp,
        _ => return None,
    };
    let (id, size) = rest.split_once('/')?;
    // The router decodes `%xx` in a segment; it answers those itself.
    if size.contains(['/', '%']) || id.contains('%') {
        return None;
    }
    let (id, size) = (ImageId::parse(id)?, Size::parse(size)?);
    if let Some(hotlink) = &state.hotlink
        && !hotlink.allows(headers)
    {
        return None;
    }
    let request = Request {
        format,
        method,
        headers,
        generation: cache.generation(),
    };
    match size {
        Size::Original => {
            let (record, bytes) = cache.get(&id)?;
            let etag = original_etag(&record);
            (record.format == format).then(|| send(&request, &etag, &record, format.mime(), bytes))
        }
        Size::Width(width) => {
            let key = VariantKey {
                id,
                width,
                output: Output::from_query(uri.query()),
            };
            let (record, made) = cache.variant(&key)?;
            (record.format == format).then(|| variant_answer(&request, &key, &record, made))
        }
    }
}

/// `/0`: the stored bytes, from the cache or streamed from the blob store.
async fn original(state: &AppState, request: &Request<'_>, id: &ImageId) -> Response {
    match find(state, id, request.format).await {
        Ok(Some((record, cached))) => whole(state, request, record, cached).await,
        Ok(None) => not_found(),
        Err(unavailable) => unavailable,
    }
}

/// The picture's own bytes for its row: the validators, the range, then the bytes.
async fn whole(
    state: &AppState,
    request: &Request<'_>,
    record: ImageRecord,
    cached: Option<Bytes>,
) -> Response {
    let etag = original_etag(&record);
    let mime = request.format.mime();
    if let Some(bytes) = cached {
        return send(request, &etag, &record, mime, bytes);
    }
    let mut answer = Headers::validators(&etag, &record);
    if none_match(request.headers, &etag) {
        return (StatusCode::NOT_MODIFIED, answer.0).into_response();
    }
    answer.set_static(header::CONTENT_TYPE, mime);
    let (status, range) = match answer.range(request.headers, &etag, record.size) {
        Ok(chosen) => chosen,
        Err(()) => return (StatusCode::RANGE_NOT_SATISFIABLE, answer.0).into_response(),
    };
    if *request.method == Method::HEAD {
        return (status, answer.0).into_response();
    }
    stream(state, record, range, status, answer.0, request.generation).await
}

/// The strong `ETag` of a picture's own bytes: its content hash.
fn original_etag(record: &ImageRecord) -> String {
    format!("\"{}\"", record.id.hex())
}

/// Bytes held in memory (a cached original, a variant), with their validators.
fn send(
    request: &Request<'_>,
    etag: &str,
    record: &ImageRecord,
    mime: &'static str,
    bytes: Bytes,
) -> Response {
    let mut answer = Headers::validators(etag, record);
    if none_match(request.headers, etag) {
        return (StatusCode::NOT_MODIFIED, answer.0).into_response();
    }
    answer.set_static(header::CONTENT_TYPE, mime);
    let (status, range) = match answer.range(request.headers, etag, bytes.len() as u64) {
        Ok(chosen) => chosen,
        Err(()) => return (StatusCode::RANGE_NOT_SATISFIABLE, answer.0).into_response(),
    };
    if *request.method == Method::HEAD {
        return (status, answer.0).into_response();
    }
    let body = match range {
        Some(r) => bytes.slice(r.start as usize..r.end as usize),
        None => bytes,
    };
    (status, answer.0, body).into_response()
}

/// `/640` and the other widths: the variant from the cache, or made (once, however many
/// ask at the same time), or the picture's own bytes when no variant is to be made.
async fn variant(state: &AppState, request: &Request<'_>, key: VariantKey) -> Response {
    let cache = state.pictures.as_deref();
    if let Some((record, made)) = cache.and_then(|c| c.variant(&key)) {
        return variant_answer(request, &key, &record, made);
    }
    let (record, cached) = match find(state, &key.id, request.format).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(unavailable) => return unavailable,
    };
    let size = (record.width, record.height);
    let estimate =
        match state
            .resizer
            .plan(request.format, size, record.size, key.width, key.output)
        {
            Plan::Original => return whole(state, request, record, cached).await,
            Plan::Make { estimate } => estimate,
        };
    let guard = match cache {
        Some(c) => match c.variant_or_guard(&key).await {
            Some(Ok((record, made))) => return variant_answer(request, &key, &record, made),
            Some(Err(guard)) => Some(guard),
            None => None,
        },
        None => None,
    };
    // The reservation first: requests waiting for one hold no picture bytes.
    let reservation = match state.resizer.reserve(estimate).await {
        Ok(reservation) => reservation,
        Err(e) => {
            tracing::warn!(id = %key.id, "no variant: {e}");
            return whole(state, request, record, cached).await;
        }
    };
    let source = match cached {
        Some(bytes) => bytes,
        None => match read_whole(state, &record).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return not_found(),
            Err(unavailable) => return unavailable,
        },
    };
    // What the bytes say the decoder will hold (a JPEG of many scans): more of the
    // budget, or no variant at all.
    let reservation = match state.resizer.refine(request.format, &source, estimate) {
        Some(full) if full > estimate => {
            drop(reservation);
            match state.resizer.reserve(full).await {
                Ok(reservation) => reservation,
                Err(e) => {
                    tracing::warn!(id = %key.id, "no variant: {e}");
                    let etag = original_etag(&record);
                    return send(request, &etag, &record, request.format.mime(), source);
                }
            }
        }
        Some(_) => reservation,
        None => {
            drop(reservation);
            tracing::info!(id = %key.id, width = key.width, "no variant of this JPEG (too many scans, or too big to decode in the budget): the original");
            let etag = original_etag(&record);
            return send(request, &etag, &record, request.format.mime(), source);
        }
    };
    let made = state
        .resizer
        .render(
            reservation,
            source.clone(),
            request.format,
            key.width,
            key.output,
        )
        .await;
    match made {
        Ok(made) => {
            if let (Some(c), Some(guard)) = (cache, guard) {
                c.keep_variant(
                    guard,
                    key,
                    (record.clone(), made.clone()),
                    request.generation,
                );
            }
            variant_answer(request, &key, &record, made)
        }
        Err(e) => {
            // The rules accepted these bytes, so this is a decoder's limit: the picture
            // itself is still the best answer.
            tracing::warn!(id = %key.id, width = key.width, "no variant, answering the original: {e}");
            let etag = original_etag(&record);
            send(request, &etag, &record, request.format.mime(), source)
        }
    }
}

fn variant_answer(
    request: &Request<'_>,
    key: &VariantKey,
    record: &ImageRecord,
    made: Rendered,
) -> Response {
    if record.format != request.format {
        return not_found();
    }
    send(request, &key.etag(), record, made.mime, made.bytes)
}

/// The placeholder answered to another site's page (see `crate::hotlink`).
fn placeholder(method: &Method) -> Response {
    let png = crate::hotlink::placeholder();
    let headers = [
        (header::CONTENT_TYPE, "image/png"),
        (header::CACHE_CONTROL, "no-store"),
        (header::VARY, "Referer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    let extra = [("x-wximg-placeholder", "hotlink-protection")];
    if *method == Method::HEAD {
        let len = [(header::CONTENT_LENGTH, png.len().to_string())];
        return (StatusCode::OK, headers, extra, len).into_response();
    }
    (StatusCode::OK, headers, extra, png).into_response()
}

/// The whole blob of a picture the cache does not hold, for a resize. `Ok(None)`: taken
/// down meanwhile (404).
async fn read_whole(state: &AppState, record: &ImageRecord) -> Result<Option<Bytes>, Response> {
    let mut stream = match state.storage.blobs.get(&record.id, None).await {
        Ok(Some(stream)) => stream,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::error!(id = %record.id, "blob read failed: {e}");
            return Err(unavailable());
        }
    };
    let mut bytes = Vec::with_capacity(record.size as usize);
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(chunk) if bytes.len() + chunk.len() <= record.size as usize => {
                bytes.extend_from_slice(&chunk)
            }
            Ok(_) => {
                tracing::error!(id = %record.id, "blob longer than its row: run `wximg fsck`");
                return Err(unavailable());
            }
            Err(e) => {
                tracing::error!(id = %record.id, "blob read failed: {e}");
                return Err(unavailable());
            }
        }
    }
    Ok(Some(bytes.into()))
}

/// The id and size of a `/mmbiz_*/<id>/<size>` path; `None` (404) for anything else.
fn picture_path(path: IdPath) -> Option<(ImageId, Size)> {
    let Ok(Path((id, size))) = path else {
        return None;
    };
    Some((ImageId::parse(&id)?, Size::parse(&size)?))
}

/// The picture's row, and its bytes when the cache has them. `Ok(None)`: no picture of
/// this format (404); `Err`: the store is unavailable (503).
async fn find(
    state: &AppState,
    id: &ImageId,
    format: ImageFormat,
) -> Result<Option<(ImageRecord, Option<Bytes>)>, Response> {
    if let Some((record, bytes)) = state.pictures.as_ref().and_then(|c| c.get(id)) {
        return Ok((record.format == format).then_some((record, Some(bytes))));
    }
    match state.storage.meta.image(id).await {
        Ok(Some(record)) if record.format == format => Ok(Some((record, None))),
        Ok(_) => Ok(None),
        Err(e) => {
            tracing::error!(%id, "image lookup failed: {e}");
            Err(unavailable())
        }
    }
}

/// The blob, streamed, for a picture the cache does not hold (and fills it afterwards).
async fn stream(
    state: &AppState,
    record: ImageRecord,
    range: Option<std::ops::Range<u64>>,
    status: StatusCode,
    headers: HeaderMap,
    generation: i64,
) -> Response {
    let id = record.id;
    match state.storage.blobs.get(&id, range).await {
        Ok(Some(stream)) => {
            if let Some(cache) = &state.pictures {
                cache.fill_later(&state.storage, record, generation);
            }
            (status, headers, Body::from_stream(stream)).into_response()
        }
        Ok(None) => {
            // Taken down between the row's read and now; otherwise storage is damaged.
            if matches!(state.storage.meta.image(&id).await, Ok(Some(_))) {
                tracing::error!(%id, "picture row without its blob: run `wximg fsck`");
            }
            not_found()
        }
        Err(e) => {
            tracing::error!(%id, "blob read failed: {e}");
            unavailable()
        }
    }
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
}

/// The headers of a picture answer, in the order they are sent.
struct Headers(HeaderMap);

impl Headers {
    /// What every answer about the picture carries, 304 included: its validators and
    /// caching rules.
    fn validators(etag: &str, record: &ImageRecord) -> Headers {
        let mut h = Headers(HeaderMap::new());
        h.set(header::ETAG, etag);
        h.set_static(header::CACHE_CONTROL, CACHE_CONTROL);
        h.set_static(header::ACCEPT_RANGES, "bytes");
        // A JPEG may carry anything after its EOI (tolerated by design, see the rules):
        // no browser may take it for HTML.
        h.set_static(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        let modified =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(record.created_at.max(0) as u64);
        h.set(header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
        h
    }

    /// A fixed value (not checked again on every answer, as `set` checks).
    fn set_static(&mut self, name: header::HeaderName, value: &'static str) {
        self.0.insert(name, HeaderValue::from_static(value));
    }

    fn set(&mut self, name: header::HeaderName, value: &str) {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.0.insert(name, v);
        }
    }

    /// The status and byte range to send for the request's `Range` (setting
    /// `Content-Range` and `Content-Length`); `Err` when unsatisfiable (416).
    fn range(
        &mut self,
        request: &HeaderMap,
        etag: &str,
        len: u64,
    ) -> Result<(StatusCode, Option<std::ops::Range<u64>>), ()> {
        let (status, range) = match wanted_range(request, etag, len) {
            Ok(None) => (StatusCode::OK, None),
            Ok(Some(r)) => {
                self.set(
                    header::CONTENT_RANGE,
                    &format!("bytes {}-{}/{len}", r.start, r.end - 1),
                );
                (StatusCode::PARTIAL_CONTENT, Some(r))
            }
            Err(()) => {
                self.set(header::CONTENT_RANGE, &format!("bytes */{len}"));
                return Err(());
            }
        };
        let body_len = range.as_ref().map_or(len, |r| r.end - r.start);
        self.set(header::CONTENT_LENGTH, &body_len.to_string());
        Ok((status, range))
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
