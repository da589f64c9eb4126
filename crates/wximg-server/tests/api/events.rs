//! Event pushes (`PUBLISHJOBFINISH`) received by a real HTTP receiver on loopback: the
//! platform's query and signatures, safe-mode decryption, retries on 5xx and timeouts,
//! none after "success", one push per publish job, none without callback settings.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use wximg_proto::{AppId, AppType};
use wximg_server::events::crypto::{AesKey, decrypt, signature};
use wximg_server::events::message::{original_id, publisher_openid};
use wximg_server::events::{
    CallbackSettings, Delivery, Mode, PublishJobFinish, enqueue_publish_job_finish, event_key,
    outbox, set_callback,
};

use crate::support::{TestApp, scaleout, spawn_with};

/// Whether `got` sends are what `want` allows. On the shared PostgreSQL every test's
/// server may claim every test's event, and a test that ends takes its in-flight claims
/// down with it (a node dying): the event is taken over when the lease ends, and the
/// send that was in flight may be made again — delivery is at least once, as the
/// platform's (which tells receivers to deduplicate on FromUserName + CreateTime).
fn sends_ok(got: usize, want: usize) -> bool {
    if scaleout() { got >= want } else { got == want }
}

const TOKEN: &str = "wximgToken42";
const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

/// What the receiver does with the next push.
#[derive(Clone)]
enum Reply {
    Say(u16, &'static str),
    /// Answers after this long (past the server's timeout: a lost push).
    Stall(Duration),
}

#[derive(Default)]
struct Receiver {
    hits: Mutex<Vec<(HashMap<String, String>, String)>>,
    replies: Mutex<VecDeque<Reply>>,
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    RawQuery(query): RawQuery,
    body: String,
) -> (StatusCode, &'static str) {
    let q = wximg_server::routes::query_map(query.as_deref());
    rx.hits.lock().expect("lock").push((q, body));
    let reply = rx
        .replies
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(Reply::Say(200, "success"));
    match reply {
        Reply::Say(status, text) => (StatusCode::from_u16(status).expect("status"), text),
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "success")
        }
    }
}

/// A receiver on a loopback port answering `replies` in turn (then "success"), and its URL.
async fn receiver(replies: Vec<Reply>) -> (Arc<Receiver>, String) {
    let rx = Arc::new(Receiver {
        replies: Mutex::new(replies.into()),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new()
        .route("/wx/callback", post(receive))
        .with_state(rx.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (rx, format!("http://{addr}/wx/callback"))
}

/// A server whose pushes time out after 1 s and are retried 100 ms apart.
async fn server() -> TestApp {
    spawn_with(|s| {
        s.platform.events.timeout = Duration::from_secs(1);
        s.platform.events.retry_delay = Duration::from_millis(100);
        s.platform.events.poll_interval = Duration::from_millis(100);
        // On the shared PostgreSQL every test's server may claim every test's event, and
        // a test that ends takes its claims down with it: another takes over soon.
        s.platform.events.lease_margin = Duration::from_secs(1);
    })
    .await
}

async fn official_with_callback(app: &TestApp, url: &str, mode: Mode) -> AppId {
    let c = app.create_app(AppType::Official).await;
    let appid = AppId::parse(&c.appid).expect("appid");
    let key = mode.encrypts().then_some(KEY);
    let settings = CallbackSettings::new(url, TOKEN, key, Some(mode)).expect("settings");
    set_callback(
        app.storage.meta.as_ref(),
        &appid,
        &settings,
        app.clock.now(),
    )
    .await
    .expect("set");
    appid
}

fn finished(appid: &AppId, publish_id: &str, now: i64) -> PublishJobFinish {
    PublishJobFinish {
        appid: appid.clone(),
        publish_id: publish_id.into(),
        publish_status: 0,
        article_id: Some("ArtId_0123".into()),
        article_urls: vec![
            "http://127.0.0.1/s/one".into(),
            "http://127.0.0.1/s/two".into(),
        ],
        fail_idx: vec![],
        create_time: now,
    }
}

/// Waits until the receiver has `n` pushes (at most `within`).
async fn wait_for_hits(
    rx: &Receiver,
    n: usize,
    within: Duration,
) -> Vec<(HashMap<String, String>, String)> {
    let start = std::time::Instant::now();
    loop {
        let hits = rx.hits.lock().expect("lock").clone();
        if hits.len() >= n || start.elapsed() > within {
            return hits;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the outbox entry of `publish_id` is finished; returns its state and sends.
async fn wait_finished(app: &TestApp, appid: &AppId, publish_id: &str) -> (Delivery, u32) {
    let key = event_key(appid, publish_id);
    // On the shared PostgreSQL a server of another test module, with the default events
    // settings, may claim this event and then end with its test: the claim then runs out
    // after the default lease (about 50 s) before one of ours takes the event over.
    let rounds = if scaleout() { 6000 } else { 1500 };
    for _ in 0..rounds {
        let entries = outbox(app.storage.meta.as_ref(), app.clock.now())
            .await
            .expect("outbox");
        if let Some((_, e)) = entries.iter().find(|(k, _)| *k == key)
            && e.state != Delivery::Pending
        {
            return (e.state, e.attempts);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the event of {publish_id} did not finish");
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let v = &xml[start..end];
    Some(
        v.strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(v),
    )
}

#[tokio::test]
async fn a_plaintext_push_is_signed_and_sent_once_after_success() {
    let app = server().await;
    let (rx, url) = receiver(vec![]).await;
    let appid = official_with_callback(&app, &url, Mode::Plain).await;
    let now = app.clock.now();
    let event = finished(&appid, "2247503051", now);
    enqueue_publish_job_finish(&app.state, &event)
        .await
        .expect("enqueued");
    // Again, as a re-run after a crash would: still one push.
    enqueue_publish_job_finish(&app.state, &event)
        .await
        .expect("enqueued");
    let (state, attempts) = wait_finished(&app, &appid, "2247503051").await;
    assert_eq!(state, Delivery::Delivered);
    assert!(scaleout() || attempts == 1, "{attempts} attempts");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let hits = wait_for_hits(&rx, 1, Duration::from_secs(5)).await;
    assert!(
        sends_ok(hits.len(), 1),
        "one push per job, none after success: {}",
        hits.len()
    );
    let (q, body) = &hits[0];
    assert_eq!(
        q["signature"],
        signature(&[TOKEN, &q["timestamp"], &q["nonce"]]),
        "signature is SHA-1 of the sorted token, timestamp, nonce"
    );
    assert_eq!(q["timestamp"], now.to_string());
    assert_eq!(q["openid"], publisher_openid(&appid));
    assert!(!q.contains_key("encrypt_type"));
    assert_eq!(
        element(body, "ToUserName"),
        Some(original_id(&appid).as_str())
    );
    assert_eq!(
        element(body, "FromUserName"),
        Some(publisher_openid(&appid).as_str())
    );
    assert_eq!(element(body, "MsgType"), Some("event"));
    assert_eq!(element(body, "Event"), Some("PUBLISHJOBFINISH"));
    assert_eq!(element(body, "CreateTime"), Some(now.to_string().as_str()));
    assert_eq!(element(body, "publish_id"), Some("2247503051"));
    assert_eq!(element(body, "publish_status"), Some("0"));
    assert_eq!(element(body, "article_id"), Some("ArtId_0123"));
    assert_eq!(element(body, "count"), Some("2"));
    assert!(body.contains(
        "<item><idx>2</idx><article_url><![CDATA[http://127.0.0.1/s/two]]></article_url></item>"
    ));
}

#[tokio::test]
async fn a_safe_mode_push_decrypts_with_the_apps_key() {
    let app = server().await;
    let (rx, url) = receiver(vec![]).await;
    let appid = official_with_callback(&app, &url, Mode::Safe).await;
    let mut event = finished(&appid, "77", app.clock.now());
    event.publish_status = 2;
    event.article_id = None;
    event.article_urls = vec![];
    event.fail_idx = vec![1, 2];
    enqueue_publish_job_finish(&app.state, &event)
        .await
        .expect("enqueued");
    let (state, attempts) = wait_finished(&app, &appid, "77").await;
    assert_eq!(state, Delivery::Delivered);
    assert!(scaleout() || attempts == 1, "{attempts} attempts");
    let hits = wait_for_hits(&rx, 1, Duration::from_secs(5)).await;
    let (q, body) = &hits[0];
    assert_eq!(q["encrypt_type"], "aes");
    assert_eq!(
        element(body, "ToUserName"),
        Some(original_id(&appid).as_str())
    );
    assert!(
        element(body, "Event").is_none(),
        "safe mode sends no plaintext field"
    );
    let sealed = element(body, "Encrypt").expect("Encrypt");
    assert_eq!(
        q["msg_signature"],
        signature(&[TOKEN, &q["timestamp"], &q["nonce"], sealed])
    );
    assert_eq!(
        q["signature"],
        signature(&[TOKEN, &q["timestamp"], &q["nonce"]])
    );
    let (xml, from) = decrypt(&AesKey::parse(KEY).expect("key"), sealed).expect("decrypts");
    assert_eq!(from, appid.as_str());
    let xml = String::from_utf8(xml).expect("utf-8");
    assert_eq!(element(&xml, "Event"), Some("PUBLISHJOBFINISH"));
    assert_eq!(element(&xml, "publish_status"), Some("2"));
    assert!(
        xml.contains("<fail_idx>1</fail_idx><fail_idx>2</fail_idx>"),
        "{xml}"
    );
    assert!(!xml.contains("article_detail"));
}

#[tokio::test]
async fn a_compatible_mode_push_carries_both() {
    let app = server().await;
    let (rx, url) = receiver(vec![]).await;
    let appid = official_with_callback(&app, &url, Mode::Compatible).await;
    enqueue_publish_job_finish(&app.state, &finished(&appid, "78", app.clock.now()))
        .await
        .expect("enqueued");
    let hits = wait_for_hits(&rx, 1, Duration::from_secs(5)).await;
    let (q, body) = hits.first().expect("a push");
    assert_eq!(element(body, "Event"), Some("PUBLISHJOBFINISH"));
    let sealed = element(body, "Encrypt").expect("Encrypt");
    assert_eq!(
        q["msg_signature"],
        signature(&[TOKEN, &q["timestamp"], &q["nonce"], sealed])
    );
    let (xml, _) = decrypt(&AesKey::parse(KEY).expect("key"), sealed).expect("decrypts");
    assert!(
        body.starts_with(
            std::str::from_utf8(&xml)
                .expect("utf-8")
                .trim_end_matches("</xml>")
        )
    );
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers() {
    let app = server().await;
    let (rx, url) = receiver(vec![Reply::Say(500, "oops"), Reply::Say(502, "")]).await;
    let appid = official_with_callback(&app, &url, Mode::Plain).await;
    enqueue_publish_job_finish(&app.state, &finished(&appid, "79", app.clock.now()))
        .await
        .expect("enqueued");
    let (state, attempts) = wait_finished(&app, &appid, "79").await;
    assert_eq!(state, Delivery::Delivered);
    assert!(scaleout() || attempts == 3, "{attempts} attempts");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let hits = rx.hits.lock().expect("lock").len();
    assert!(sends_ok(hits, 3), "{hits} sends");
}

#[tokio::test]
async fn a_receiver_that_never_answers_in_time_gets_three_sends_then_none() {
    let app = server().await;
    // Longer than every server's timeout, the default 5 s too: on the shared PostgreSQL a
    // server of another test module may be the one that sends.
    let stall = Reply::Stall(Duration::from_secs(7));
    // Every send stalls, however many come: on the shared PostgreSQL a server whose test
    // ended may have sent too, and a fifth send answered "success" made it Delivered.
    let (rx, url) = receiver(vec![stall; 64]).await;
    let appid = official_with_callback(&app, &url, Mode::Plain).await;
    enqueue_publish_job_finish(&app.state, &finished(&appid, "80", app.clock.now()))
        .await
        .expect("enqueued");
    assert_eq!(wait_finished(&app, &appid, "80").await.0, Delivery::Failed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = rx.hits.lock().expect("lock").len();
    assert!(sends_ok(hits, 3), "the platform's three sends, not {hits}");
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_counts_as_a_failed_send() {
    let app = server().await;
    let (rx, url) = receiver(vec![
        Reply::Say(302, ""),
        Reply::Say(302, ""),
        Reply::Say(302, ""),
    ])
    .await;
    let appid = official_with_callback(&app, &url, Mode::Plain).await;
    enqueue_publish_job_finish(&app.state, &finished(&appid, "81", app.clock.now()))
        .await
        .expect("enqueued");
    assert_eq!(wait_finished(&app, &appid, "81").await.0, Delivery::Failed);
    let hits = rx.hits.lock().expect("lock").len();
    assert!(sends_ok(hits, 3), "{hits} sends");
}

#[tokio::test]
async fn an_app_without_callback_settings_gets_no_push() {
    let app = server().await;
    let c = app.create_app(AppType::Official).await;
    let appid = AppId::parse(&c.appid).expect("appid");
    enqueue_publish_job_finish(&app.state, &finished(&appid, "82", app.clock.now()))
        .await
        .expect("a no-op");
    let entries = outbox(app.storage.meta.as_ref(), app.clock.now())
        .await
        .expect("outbox");
    assert!(entries.iter().all(|(k, _)| *k != event_key(&appid, "82")));
}
