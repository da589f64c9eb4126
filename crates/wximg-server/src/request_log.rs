//! The request log behind `openapi/rid/get`: every API request (`/cgi-bin/…`) with its
//! rid, time, cost, masked URL and bodies, and caller address.
//!
//! Invariant: **logging never slows or fails a request.** The frame (`crate::answer`)
//! hands each finished request to [`RequestLogger::record`], which only tries to put it
//! in a bounded in-memory queue: when the queue is full the row is dropped and counted
//! (`wximg_request_log_dropped_total`), never waited for. One background task per server
//! writes the queue to storage in batches (one transaction per batch) and prunes the log
//! to the platform's 7 days and [`wximg_store::request_log::KEEP_ROWS`] rows.
//!
//! What a row holds is masked first ([`mask_query`], [`mask_body`]): tokens keep their
//! first 4 characters (`access_token=50_Ixxxx`, as the platform's own example shows),
//! secrets, codes and tickets none. Bodies are cut at [`BODY_LIMIT`] bytes; a multipart
//! upload is recorded as a summary (its size), never its bytes.
//!
//! The account a row belongs to is whoever [`crate::extract::Caller`] authenticated
//! ([`note_app`]); a token call names its appid in the query or body. A request no
//! account was known for (a bad token) belongs to nobody, and `rid/get` answers 76003
//! for it to everyone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use http_body::{Body as _, Frame, SizeHint};
use serde_json::Value;
use tokio::sync::mpsc;
use wximg_proto::AppId;
use wximg_store::request_log::{KEEP_ROWS, KEEP_SECS};
use wximg_store::{RequestLogEntry, Storage};

/// Bytes of a request or response body kept.
pub const BODY_LIMIT: usize = 4096;

/// Rows waiting to be written at most; past it they are dropped.
const QUEUE: usize = 8192;

/// Rows written in one transaction at most.
const BATCH: usize = 512;

/// How often the log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Fields whose values are credentials that stay recognisable: the first 4 characters
/// are kept.
const TOKENS: &[&str] = &[
    "access_token",
    "component_access_token",
    "authorizer_access_token",
    "authorizer_refresh_token",
    "refresh_token",
];

/// Fields whose values are secrets, codes or tickets: nothing of them is kept.
const SECRETS: &[&str] = &[
    "secret",
    "appsecret",
    "component_appsecret",
    "component_verify_ticket",
    "ticket",
    "pre_auth_code",
    "authorization_code",
    "auth_code",
    "code",
];

fn masked(key: &str, value: &str) -> Option<String> {
    if TOKENS.contains(&key) {
        Some(format!("{}xxxx", value.chars().take(4).collect::<String>()))
    } else if SECRETS.contains(&key) {
        Some("xxxx".into())
    } else {
        None
    }
}

/// A query string with its credentials masked.
pub fn mask_query(query: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let shown = masked(&k, &v).unwrap_or_else(|| v.into_owned());
        out.append_pair(&k, &shown);
    }
    out.finish()
}

fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if let Value::String(s) = v
                    && let Some(m) = masked(k, s)
                {
                    *s = m;
                } else {
                    mask_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

/// JSON text that did not parse whole (it was cut, or is malformed) with the values of
/// [`TOKENS`] and [`SECRETS`] keys masked: every string is read as JSON reads it
/// (escapes decoded, so `"sec\u0072et"` is `secret`), and a string followed by `:` is a
/// key. A value cut short is masked all the same. Hand-written: no JSON crate reads a
/// document that stops midway.
fn mask_json_text(text: &str) -> String {
    /// The string starting at `bytes[start]` (a `"`): its end (past the closing quote,
    /// or the text's end) and its decoded value.
    fn string_at(text: &str, start: usize) -> (usize, String) {
        let bytes = text.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    let raw = &text[start..=i];
                    let value = serde_json::from_str::<String>(raw).unwrap_or_default();
                    return (i + 1, value);
                }
                _ => i += 1,
            }
        }
        (bytes.len(), String::new())
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    let mut key: Option<String> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let (end, value) = string_at(text, i);
                let after = text[end.min(text.len())..].trim_start();
                if let Some(k) = key.take() {
                    // A value: masked when its key says so.
                    if let Some(m) = masked(&k, &value) {
                        out.push_str(&text[copied..i]);
                        out.push('"');
                        out.push_str(&m);
                        out.push('"');
                        copied = end;
                    }
                } else if after.starts_with(':') {
                    key = Some(value);
                }
                i = end;
            }
            b':' | b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            _ => {
                key = None;
                i += 1;
            }
        }
    }
    if copied < text.len() {
        out.push_str(&text[copied..]);
    }
    out
}

/// A body as it may be logged: JSON and form bodies masked, anything cut at
/// [`BODY_LIMIT`] (`total` is the body's whole length).
pub fn mask_body(bytes: &[u8], total: u64, form: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown = if let Ok(mut v) = serde_json::from_slice::<Value>(bytes) {
        mask_json(&mut v);
        v.to_string()
    } else if form {
        mask_query(&text)
    } else {
        // Cut short (only the first BODY_LIMIT bytes are kept) or not JSON at all: its
        // keys are still found and their values masked.
        mask_json_text(&text)
    };
    if total as usize > bytes.len() || shown.len() > BODY_LIMIT {
        let mut cut = BODY_LIMIT.min(shown.len());
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push_str(&format!("…({total} bytes)"));
    }
    shown
}

/// Where the extractor tells the frame which account a request acts for.
#[derive(Clone, Default)]
pub struct AppSlot(Arc<OnceLock<AppId>>);

/// Notes, for the request log, the account the request in `extensions` acts for.
pub fn note_app(extensions: &axum::http::Extensions, appid: &AppId) {
    if let Some(slot) = extensions.get::<AppSlot>() {
        let _ = slot.0.set(appid.clone());
    }
}

/// What is seen of a request body as it is read: its first bytes and its length.
#[derive(Default)]
struct Seen {
    head: Vec<u8>,
    total: u64,
}

/// A request body that keeps a copy of its first [`BODY_LIMIT`] bytes (none when
/// `count_only`, for uploads) as the handler reads it.
struct Tee {
    inner: Body,
    seen: Arc<Mutex<Seen>>,
    count_only: bool,
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Ok(mut seen) = self.seen.lock()
        {
            seen.total += data.len() as u64;
            if !self.count_only && seen.head.len() < BODY_LIMIT {
                let room = BODY_LIMIT - seen.head.len();
                seen.head.extend_from_slice(&data[..room.min(data.len())]);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request being watched by the frame.
pub struct Capture {
    started_at: i64,
    query: String,
    client_ip: String,
    seen: Arc<Mutex<Seen>>,
    /// `Some(content type)` for a multipart upload.
    multipart: Option<String>,
    form: bool,
    slot: AppSlot,
}

/// The handle every request's frame records through (cheap to clone).
#[derive(Clone, Default)]
pub struct RequestLogger {
    tx: Option<mpsc::Sender<RequestLogEntry>>,
    settings: Arc<crate::platform::PlatformSettings>,
}

/// Rows dropped because the queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

impl RequestLogger {
    /// Starts the writer for `storage` (it ends once every logger is dropped, after
    /// writing what is queued).
    pub fn spawn(
        storage: Storage,
        settings: Arc<crate::platform::PlatformSettings>,
    ) -> RequestLogger {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(storage, rx));
        RequestLogger {
            tx: Some(tx),
            settings,
        }
    }

    /// Starts watching `request` if it is an API call: its body is wrapped to see what
    /// the handler reads.
    pub fn watch(&self, request: &mut axum::extract::Request) -> Option<Capture> {
        self.tx.as_ref()?;
        if !request.uri().path().starts_with("/cgi-bin/") {
            return None;
        }
        let headers = request.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let multipart = content_type
            .starts_with("multipart/")
            .then(|| content_type.clone());
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let client_ip = crate::platform::peer::caller_ip(&self.settings, peer, headers).to_string();
        let slot = AppSlot::default();
        request.extensions_mut().insert(slot.clone());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let body = std::mem::take(request.body_mut());
        *request.body_mut() = Body::new(Tee {
            inner: body,
            seen: seen.clone(),
            count_only: multipart.is_some(),
        });
        Some(Capture {
            started_at: crate::clock::Clock::default().now(),
            query: request.uri().query().unwrap_or("").to_string(),
            client_ip,
            seen,
            multipart,
            form: content_type.starts_with("application/x-www-form-urlencoded"),
            slot,
        })
    }

    /// Records the finished request (never waits: a full queue drops the row). Returns
    /// the response, whose body was read to copy it when it is small and in memory.
    pub async fn finish(
        &self,
        capture: Capture,
        response: axum::response::Response,
        rid: &str,
        endpoint: &str,
        elapsed: Duration,
    ) -> axum::response::Response {
        let Some(tx) = &self.tx else {
            return response;
        };
        let (parts, body) = response.into_parts();
        let exact = body.size_hint().exact().filter(|n| *n <= 1 << 20);
        let (body, response_body) = match exact {
            Some(_) => match http_body_util::BodyExt::collect(body).await {
                Ok(collected) => {
                    let bytes = collected.to_bytes();
                    let shown = mask_body(
                        &bytes[..bytes.len().min(BODY_LIMIT)],
                        bytes.len() as u64,
                        false,
                    );
                    (Body::from(bytes), shown)
                }
                Err(e) => (Body::empty(), format!("(the answer failed: {e})")),
            },
            None => (body, "(a streamed answer, not recorded)".to_string()),
        };
        let (head, total) = capture
            .seen
            .lock()
            .map(|s| (s.head.clone(), s.total))
            .unwrap_or_default();
        let request_body = match &capture.multipart {
            Some(ct) => {
                let kind = ct.split(';').next().unwrap_or(ct);
                format!("({kind}, {total} bytes read, not recorded)")
            }
            None => mask_body(&head, total, capture.form),
        };
        let appid = capture.slot.0.get().cloned().or_else(|| {
            // Token calls name their account themselves.
            let q = crate::routes::query_map(Some(&capture.query));
            let body: Option<Value> = serde_json::from_slice(&head).ok();
            let named = q.get("appid").cloned().or_else(|| {
                body.as_ref()
                    .and_then(|b| b.get("appid"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            matches!(endpoint, "token" | "stable_token")
                .then_some(named)
                .flatten()
                .and_then(|a| AppId::parse(&a))
        });
        let entry = RequestLogEntry {
            rid: rid.to_string(),
            appid,
            endpoint: endpoint.to_string(),
            invoke_time: capture.started_at,
            cost_in_ms: elapsed.as_millis() as i64,
            request_url: mask_query(&capture.query),
            request_body,
            response_body,
            client_ip: capture.client_ip,
        };
        if tx.try_send(entry).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wximg_request_log_dropped_total").increment(1);
        }
        axum::response::Response::from_parts(parts, body)
    }
}

/// Rows dropped so far by this process (a full queue).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Writes queued rows in batches until every sender is gone; prunes now and then.
async fn write_loop(storage: Storage, mut rx: mpsc::Receiver<RequestLogEntry>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return; // closed and drained
        }
        if let Err(e) = storage.meta.insert_requests(&batch).await {
            tracing::warn!(rows = batch.len(), "request log rows not written: {e}");
            DROPPED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        batch.clear();
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(tokio::time::Instant::now());
            let before = crate::clock::Clock::default().now() - KEEP_SECS;
            match storage.meta.prune_requests(before, KEEP_ROWS).await {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "request log pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!("pruning the request log: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked() {
        assert_eq!(
            mask_query("access_token=50_Im7abcdef&type=image"),
            "access_token=50_Ixxxx&type=image"
        );
        assert_eq!(
            mask_query("grant_type=client_credential&appid=wx1&secret=0123456789abcdef"),
            "grant_type=client_credential&appid=wx1&secret=xxxx"
        );
        let body =
            br#"{"appid":"wx1","secret":"s3cr3t","nested":[{"component_verify_ticket":"t"}]}"#;
        let shown = mask_body(body, body.len() as u64, false);
        assert!(
            !shown.contains("s3cr3t") && shown.contains(r#""secret":"xxxx""#),
            "{shown}"
        );
        assert!(
            shown.contains(r#""component_verify_ticket":"xxxx""#),
            "{shown}"
        );
        let answer = br#"{"access_token":"ABCDEFGHIJ","expires_in":7200}"#;
        assert_eq!(
            mask_body(answer, answer.len() as u64, false),
            r#"{"access_token":"ABCDxxxx","expires_in":7200}"#
        );
        assert_eq!(mask_body(b"secret=abc&x=1", 14, true), "secret=xxxx&x=1");
    }

    #[test]
    fn bodies_cut_short_are_masked_too() {
        let padding = "x".repeat(BODY_LIMIT);
        let long = format!(
            r#"{{"appid":"wx1","sec\u0072et":"s3cr3t","access_token" : "ABCDEFGH","pad":"{padding}","code":"c0de"}}"#
        );
        let shown = mask_body(&long.as_bytes()[..BODY_LIMIT], long.len() as u64, false);
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("EFGH"),
            "{shown}"
        );
        assert!(shown.contains(r#""ABCDxxxx""#), "{shown}");
        // Cut inside a secret's value: what was seen of it is not shown either.
        let cut = r#"{"appid":"wx1","secret":"0123456789"#;
        let shown = mask_body(cut.as_bytes(), 4 * 1024 * 1024, false);
        assert!(!shown.contains("0123"), "{shown}");
        // Keys as values, and values that merely look like keys, are left alone.
        let text = r#"{"name":"secret","note":"code: 12", "secret": 5"#;
        assert_eq!(mask_json_text(text), text);
    }

    #[test]
    fn long_bodies_are_cut_and_say_their_length() {
        let long = "é".repeat(BODY_LIMIT);
        let shown = mask_body(&long.as_bytes()[..BODY_LIMIT], long.len() as u64, false);
        assert!(shown.ends_with(&format!("…({} bytes)", long.len())));
        assert!(shown.len() <= BODY_LIMIT + 32);
    }
}
