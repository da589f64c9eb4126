//! Many stateless nodes on one PostgreSQL + S3: two `wximg serve` processes share the
//! services `scripts/services.sh` started, and every answer must be the same whichever
//! node gives it. A third test runs its own private services so it can stop and restart
//! them: `/readyz` must follow, and uploads must answer -1 meanwhile, leaving nothing.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use wximg_proto::ImageId;
use wximg_server::platform::quota;
use wximg_store::MetaStore;
use wximg_store::postgres::PostgresMeta;

use crate::support::pictures::unique_png;
use crate::support::services::node;
use crate::support::{
    App, Backend, PrivateServices, Server, classic_token, create_app, http, services, stable_token,
    token_answer, upload, url_path, wait_ready,
};

/// `n` calls at once, alternating between the nodes at `a` and `b`: `call(base)` for
/// each; their answers, in order.
async fn spread_over_nodes<Fut>(
    n: usize,
    a: &str,
    b: &str,
    call: impl Fn(String) -> Fut,
) -> Vec<Value>
where
    Fut: Future<Output = Value> + Send + 'static,
{
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let base = if i % 2 == 0 { a } else { b };
            tokio::spawn(call(base.to_string()))
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("join"));
    }
    answers
}

/// The shared services' official app and two nodes on them, or `None` if `test` skips.
fn app_on_two_nodes(test: &str) -> Option<(App, Server, Server)> {
    let svc = services(test)?;
    let app = create_app(Backend::ScaleOut(&svc), "official");
    Some((app, node(&svc), node(&svc)))
}

/// The bytes the node at `base` serves for the picture URL `url`.
async fn served(http: &reqwest::Client, base: &str, url: &Value) -> Vec<u8> {
    let path = url_path(url.as_str().expect("url"));
    let got = http.get(format!("{base}{path}")).send().await.expect("GET");
    got.bytes().await.expect("body").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_on_one_node_hold_on_the_other() {
    let Some((App { appid, secret, .. }, a, b)) =
        app_on_two_nodes("tokens_issued_on_one_node_hold_on_the_other")
    else {
        return;
    };
    let http = http();

    // A token from A works on B (an upload with no media: the token is checked first,
    // so 41005/44002 rather than 40001 proves B accepted it).
    let t1 = classic_token(&http, &a.base, &appid, &secret).await;
    let v = upload(&http, &b.base, &t1, unique_png()).await;
    assert_eq!(v["errcode"], 0, "token from A refused by B: {v}");

    // A newer token from B: A's keeps its 5 minutes of grace, on both nodes.
    let t2 = classic_token(&http, &b.base, &appid, &secret).await;
    assert_ne!(t1, t2);
    for base in [&a.base, &b.base] {
        for t in [&t1, &t2] {
            let v = upload(&http, base, t, unique_png()).await;
            assert_eq!(v["errcode"], 0, "{base} refused a live token: {v}");
        }
    }

    // Stable tokens: both nodes hand out the same one.
    let s_a = stable_token(&http, &a.base, &appid, &secret, false).await;
    let s_b = stable_token(&http, &b.base, &appid, &secret, false).await;
    let old = s_a["access_token"]
        .as_str()
        .expect("stable token")
        .to_string();
    assert_eq!(s_b["access_token"], s_a["access_token"], "{s_a} vs {s_b}");

    // force_refresh on A ends the old one on B at once, and B accepts the new one.
    let forced = stable_token(&http, &a.base, &appid, &secret, true).await;
    let new = forced["access_token"].as_str().expect("forced").to_string();
    assert_ne!(new, old);
    let v = upload(&http, &b.base, &old, unique_png()).await;
    assert_eq!(
        v["errcode"], 40001,
        "old stable token still accepted on B: {v}"
    );
    let v = upload(&http, &b.base, &new, unique_png()).await;
    assert_eq!(v["errcode"], 0, "new stable token refused on B: {v}");
    // Within 30 s a second force (on B this time) returns the same token.
    let again = stable_token(&http, &b.base, &appid, &secret, true).await;
    assert_eq!(again["access_token"].as_str(), Some(new.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_nodes_agree_and_share_pictures() {
    let Some((App { appid, secret, .. }, a, b)) =
        app_on_two_nodes("racing_nodes_agree_and_share_pictures")
    else {
        return;
    };
    let http = http();

    // The first stable_token calls race to create the state, split across both nodes:
    // one rotation wins and everyone gets its token.
    for force in [false, true] {
        let answers = spread_over_nodes(12, &a.base, &b.base, |base| {
            let (http, appid, secret) = (http.clone(), appid.clone(), secret.clone());
            async move { stable_token(&http, &base, &appid, &secret, force).await }
        })
        .await;
        let mut tokens = BTreeSet::new();
        for v in answers {
            tokens.insert(
                v["access_token"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no token: {v}"))
                    .to_string(),
            );
        }
        assert_eq!(
            tokens.len(),
            1,
            "force={force}: nodes disagreed: {tokens:?}"
        );
    }

    // Uploaded on A, served by B: same bytes, validators, ranges.
    let token = classic_token(&http, &a.base, &appid, &secret).await;
    let png = unique_png();
    let v = upload(&http, &a.base, &token, png.clone()).await;
    assert_eq!(v["errcode"], 0, "{v}");
    let path = url_path(v["url"].as_str().expect("url"));
    let got = http
        .get(format!("{}{path}", b.base))
        .send()
        .await
        .expect("GET on B");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    let etag = got.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(got.bytes().await.expect("body").to_vec(), png);
    let head = http
        .head(format!("{}{path}", b.base))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(
        head.headers()["content-length"],
        png.len().to_string().as_str()
    );
    let not_modified = http
        .get(format!("{}{path}", a.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional GET");
    assert_eq!(not_modified.status(), 304);
    let range = http
        .get(format!("{}{path}", b.base))
        .header("range", "bytes=8-27")
        .send()
        .await
        .expect("range GET");
    assert_eq!(range.status(), 206);
    assert_eq!(
        range.bytes().await.expect("body").to_vec(),
        png[8..28].to_vec()
    );

    // The same new bytes sent to both nodes at once: one URL, one picture row.
    let twin = unique_png();
    let (va, vb) = tokio::join!(
        upload(&http, &a.base, &token, twin.clone()),
        upload(&http, &b.base, &token, twin.clone())
    );
    assert_eq!(va["errcode"], 0, "{va}");
    assert_eq!(vb["errcode"], 0, "{vb}");
    assert_eq!(va["url"], vb["url"]);
    assert_eq!(served(&http, &a.base, &va["url"]).await, twin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_postgres_and_s3_and_uploads_fail_cleanly_meanwhile() {
    // Needs the shared services only as proof that this machine can run them; it starts
    // its own pair, because it stops them.
    if services("readyz_follows_postgres_and_s3").is_none() {
        return;
    }
    let private = PrivateServices::start();
    let svc = private.services.clone();
    let App { appid, secret, .. } = create_app(Backend::ScaleOut(&svc), "official");
    let node = node(&svc);
    let http = http();
    let meta = PostgresMeta::open(&svc.database_url).await.expect("meta");

    wait_ready(&http, &node.base, 200, Duration::from_secs(5)).await;
    let token = classic_token(&http, &node.base, &appid, &secret).await;
    let first_png = unique_png();
    let first = upload(&http, &node.base, &token, first_png.clone()).await;
    assert_eq!(first["errcode"], 0, "{first}");

    // PostgreSQL down: red, and uploads answer -1 (the token cannot even be checked).
    private.control("pg-stop");
    wait_ready(&http, &node.base, 503, Duration::from_secs(10)).await;
    let v = upload(&http, &node.base, &token, unique_png()).await;
    assert_eq!(v["errcode"], -1, "upload while PostgreSQL is down: {v}");
    let v = token_answer(&http, &node.base, &appid, &secret).await;
    assert_eq!(v["errcode"], -1, "token while PostgreSQL is down: {v}");

    // Back: green again, and the token issued before the outage still works.
    private.control("pg-start");
    wait_ready(&http, &node.base, 200, Duration::from_secs(20)).await;
    let v = upload(&http, &node.base, &token, unique_png()).await;
    assert_eq!(v["errcode"], 0, "after PostgreSQL returned: {v}");

    // S3 down: red, uploads of new bytes answer -1 and leave no row behind.
    private.control("s3-stop");
    wait_ready(&http, &node.base, 503, Duration::from_secs(10)).await;
    let png = unique_png();
    let id = ImageId::of(&png);
    let v = upload(&http, &node.base, &token, png.clone()).await;
    assert_eq!(v["errcode"], -1, "upload while S3 is down: {v}");
    assert_eq!(
        meta.image(&id).await.expect("image lookup"),
        None,
        "a row points at a blob that was never stored"
    );

    // Back (moto starts empty, with the bucket recreated; Garage keeps its data): green,
    // and the same upload works.
    private.control("s3-start");
    wait_ready(&http, &node.base, 200, Duration::from_secs(20)).await;
    let v = upload(&http, &node.base, &token, png.clone()).await;
    assert_eq!(v["errcode"], 0, "after S3 returned: {v}");
    assert_eq!(served(&http, &node.base, &v["url"]).await, png);
    if std::env::var("WXIMG_TEST_S3_SERVER").as_deref() == Ok("garage") {
        // A production store keeps what it acknowledged across its own restart.
        assert_eq!(served(&http, &node.base, &first["url"]).await, first_png);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_quota_holds_across_nodes() {
    let Some(svc) = services("a_daily_quota_holds_across_nodes") else {
        return;
    };
    let App { appid, secret, .. } = create_app(Backend::ScaleOut(&svc), "official");
    let meta = PostgresMeta::open(&svc.database_url).await.expect("meta");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    quota::set_limits(
        &meta,
        &wximg_proto::AppId::parse(&appid).expect("appid"),
        "token",
        quota::QuotaLimits {
            daily: Some(7),
            per_minute: None,
        },
        now,
    )
    .await
    .expect("set the quota");
    let (a, b) = (node(&svc), node(&svc));
    let http = http();

    // 20 token calls at once, split over both nodes: exactly 7 get a token, the rest 45009.
    let answers = spread_over_nodes(20, &a.base, &b.base, |base| {
        let (http, appid, secret) = (http.clone(), appid.clone(), secret.clone());
        async move { token_answer(&http, &base, &appid, &secret).await }
    })
    .await;
    let (mut granted, mut refused) = (0, 0);
    for v in answers {
        if v["access_token"].is_string() {
            granted += 1;
        } else {
            assert_eq!(v["errcode"], 45009, "{v}");
            refused += 1;
        }
    }
    assert_eq!((granted, refused), (7, 13), "the quota leaked across nodes");
}
