//! Backoff: the SDK against a real `wximg serve` behind a test-only front that injects
//! errors (`-1` system error, `45009` daily quota) before passing requests through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use image::ImageFormat;
use wximg_client::{Client, RetryPolicy};

use crate::support::client::AppServer;
use crate::support::pictures::{encode, picture};

/// What the front does with `uploadimg` calls.
struct Front {
    upstream: String,
    /// Answer this errcode to the first `inject` uploadimg calls.
    code: i64,
    inject: u32,
    uploads: AtomicU32,
    http: reqwest::Client,
}

async fn handle(State(f): State<Arc<Front>>, req: Request) -> Response {
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let headers: HeaderMap = req.headers().clone();
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 8 << 20).await {
        Ok(b) => b,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    if path_q.starts_with("/cgi-bin/media/uploadimg") {
        let n = f.uploads.fetch_add(1, Ordering::SeqCst);
        if n < f.inject {
            let msg = wximg_proto::ErrCode::from_code(f.code).map_or("error", |c| c.message());
            return (
                [("content-type", "application/json; encoding=utf-8")],
                format!(
                    r#"{{"errcode":{},"errmsg":"{msg} rid: 00000000-00000000-0000000{n}"}}"#,
                    f.code
                ),
            )
                .into_response();
        }
    }
    let mut up = f.http.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        format!("{}{path_q}", f.upstream),
    );
    if let Some(ct) = headers.get("content-type") {
        up = up.header("content-type", ct.as_bytes());
    }
    let r = up.body(body.to_vec()).send().await.expect("upstream");
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let bytes = r.bytes().await.expect("upstream body");
    (status, [("content-type", ct)], bytes.to_vec()).into_response()
}

/// Starts the front on 127.0.0.1:0; returns its base URL and state.
async fn front(upstream: &str, code: i64, inject: u32) -> (String, Arc<Front>) {
    let f = Arc::new(Front {
        upstream: upstream.to_string(),
        code,
        inject,
        uploads: AtomicU32::new(0),
        http: crate::support::http(),
    });
    let app = axum::Router::new().fallback(handle).with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), f)
}

fn client(base: &str, s: &AppServer, retry: RetryPolicy) -> Client {
    Client::builder()
        .base_url(base)
        .app(&s.appid, &s.secret)
        .no_disk_cache()
        .retry(retry)
        .build()
        .unwrap()
}

fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_total: Duration::from_secs(20),
    }
}

/// An upload of `bytes` as `name` by a client allowed `attempts`, through a front that
/// answers `code` to the first `inject` uploads, that must fail: the error, and how many
/// uploads reached the front.
async fn failed_upload(
    code: i64,
    inject: u32,
    attempts: u32,
    name: &str,
    bytes: Vec<u8>,
) -> (wximg_client::Error, u32) {
    let s = AppServer::start();
    let (base, f) = front(&s.server.base, code, inject).await;
    let c = client(&base, &s, quick(attempts));
    let e = c.upload_image(name, bytes.into()).await.unwrap_err();
    (e, f.uploads.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_errors_are_retried_with_backoff_until_success() {
    let s = AppServer::start();
    let (base, f) = front(&s.server.base, -1, 3).await;
    let c = client(&base, &s, quick(5));
    let jpg = encode(&picture(120, 90, 5), ImageFormat::Jpeg);
    let t = std::time::Instant::now();
    let up = c
        .upload_image("x.jpg", jpg.clone().into())
        .await
        .expect("succeeds after retries");
    assert_eq!(
        f.uploads.load(Ordering::SeqCst),
        4,
        "3 refused + 1 passed through"
    );
    assert!(up.url.contains("/mmbiz_jpg/"));
    // The URL is the real server's: the bytes are there.
    let path = up.url.split_once("/mmbiz_jpg/").unwrap().1;
    let body = crate::support::http()
        .get(format!("{}/mmbiz_jpg/{path}", s.server.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), &jpg[..]);
    assert!(t.elapsed() < Duration::from_secs(5), "bounded backoff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded() {
    let jpg = encode(&picture(60, 40, 6), ImageFormat::Jpeg);
    let (e, uploads) = failed_upload(-1, 100, 3, "x.jpg", jpg).await;
    assert_eq!(e.code(), -1);
    assert!(
        matches!(&e, wximg_client::Error::Api { rid: Some(_), .. }),
        "{e:?}"
    );
    assert_eq!(uploads, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_quota_is_not_retried() {
    let jpg = encode(&picture(60, 40, 8), ImageFormat::Jpeg);
    let (e, uploads) = failed_upload(45009, 100, 5, "x.jpg", jpg).await;
    assert_eq!(e.code(), 45009);
    assert!(e.to_string().contains("not retried"), "{e}");
    assert_eq!(uploads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_pictures_send_nothing() {
    let webp = encode(&picture(60, 40, 9), ImageFormat::WebP);
    let (e, uploads) = failed_upload(-1, 0, 5, "x.webp", webp).await;
    assert!(matches!(e, wximg_client::Error::Rejected(_)), "{e:?}");
    assert_eq!(e.code(), 40005);
    assert_eq!(uploads, 0, "pre-flight: no byte sent");
}

/// 40014 `invalid access_token` is a token problem, as 40001 and 42001 are (wechatpy and
/// WxJava refetch on it): one fresh token, the picture sent once more — and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_access_token_refetches_the_token_once() {
    let s = AppServer::start();
    let (base, f) = front(&s.server.base, 40014, 1).await;
    let c = client(&base, &s, quick(5));
    let jpg = encode(&picture(60, 40, 10), ImageFormat::Jpeg);
    let up = c
        .upload_image("x.jpg", jpg.into())
        .await
        .expect("succeeds with a fresh token");
    assert!(up.url.contains("/mmbiz_jpg/"));
    assert_eq!(
        f.uploads.load(Ordering::SeqCst),
        2,
        "refused once, then sent again"
    );

    let jpg = encode(&picture(60, 40, 11), ImageFormat::Jpeg);
    let (e, uploads) = failed_upload(40014, 100, 5, "x.jpg", jpg).await;
    assert_eq!(e.code(), 40014);
    assert!(e.is_token_problem());
    assert_eq!(uploads, 2, "one refetch, not a loop");
}
