//! The debugging tools: `openapi/quota/get`, `clear_quota` (+ `/v2`) and
//! `openapi/rid/get`, against the real server and its request log.

use std::time::Duration;

use serde_json::{Value, json};
use wximg_proto::wire::Rid;
use wximg_proto::{AppId, AppType};
use wximg_server::platform::{QuotaLimits, quota};

use crate::support::{TestApp, answer, code, pictures, spawn_app, token_path};

async fn set_limits(
    app: &TestApp,
    id: &str,
    api: &str,
    daily: Option<i64>,
    per_minute: Option<i64>,
) {
    let appid = AppId::parse(id).expect("appid");
    quota::set_limits(
        app.storage.meta.as_ref(),
        &appid,
        api,
        QuotaLimits { daily, per_minute },
        app.clock.now(),
    )
    .await
    .expect("limits set");
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    app.post_json(&format!("{path}?access_token={token}"), &body)
        .await
}

#[tokio::test]
async fn quota_get_reports_the_limit_and_todays_use_of_a_cgi_path() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    set_limits(&app, &c.appid, "token", Some(100), Some(50)).await;
    let token = app.token(&c).await;
    app.token(&c).await;
    let v = post(
        &app,
        "/cgi-bin/openapi/quota/get",
        &token,
        json!({"cgi_path": "/cgi-bin/token"}),
    )
    .await;
    assert_eq!(
        v,
        json!({"errcode": 0, "errmsg": "ok",
               "quota": {"daily_limit": 100, "used": 2, "remain": 98},
               "rate_limit": {"call_count": 50, "refresh_second": 60},
               "component_rate_limit": {"call_count": 50, "refresh_second": 60}})
    );
    // An API without limits: nothing counted, the largest limit shown.
    let v = post(
        &app,
        "/cgi-bin/openapi/quota/get",
        &token,
        json!({"cgi_path": "/cgi-bin/media/uploadimg"}),
    )
    .await;
    assert_eq!(
        v["quota"],
        json!({"daily_limit": 2147483647, "used": 0, "remain": 2147483647})
    );
    for (path, want) in [
        ("/cgi-bin/nope", 76021),
        ("cgi-bin/media/uploadimg", 76021),
        ("/sns/jscode2session", 76022),
        ("/cgi-bin/component/api_component_token", 76022),
    ] {
        let v = post(
            &app,
            "/cgi-bin/openapi/quota/get",
            &token,
            json!({"cgi_path": path}),
        )
        .await;
        assert_eq!(code(&v), want, "{path}: {v}");
    }
    let v = post(&app, "/cgi-bin/openapi/quota/get", &token, json!({})).await;
    assert_eq!(code(&v), 76021);
    let v = answer(
        app.http
            .post(app.url(&format!("/cgi-bin/openapi/quota/get?access_token={token}"))),
    )
    .await;
    assert_eq!(code(&v), 44002);
    let v = app
        .get_json(&format!("/cgi-bin/openapi/quota/get?access_token={token}"))
        .await;
    assert_eq!(code(&v), 43002);
    let v = app
        .post_json(
            "/cgi-bin/openapi/quota/get",
            &json!({"cgi_path": "/cgi-bin/token"}),
        )
        .await;
    assert_eq!(code(&v), 41001);
    // Every kind of account may ask.
    let mini = app.create_app(AppType::MiniProgram).await;
    let mini_token = app.token(&mini).await;
    let v = post(
        &app,
        "/cgi-bin/openapi/quota/get",
        &mini_token,
        json!({"cgi_path": "/cgi-bin/token"}),
    )
    .await;
    assert_eq!(code(&v), 0);
    assert_eq!(v["quota"]["used"], 0, "another account's counts");
}

#[tokio::test]
async fn clear_quota_clears_the_counts_ten_times_a_month() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    set_limits(&app, &c.appid, "token", Some(3), None).await;
    let token = app.token(&c).await;
    app.token(&c).await;
    app.token(&c).await;
    let v = app.get_json(&token_path(&c.appid, &c.secret)).await;
    assert_eq!(code(&v), 45009, "the daily quota is spent");

    let other = app.create_app(AppType::Official).await;
    let v = post(
        &app,
        "/cgi-bin/clear_quota",
        &token,
        json!({"appid": other.appid}),
    )
    .await;
    assert_eq!(code(&v), 40013, "only the token's own account");
    let v = post(&app, "/cgi-bin/clear_quota", &token, json!({})).await;
    assert_eq!(code(&v), 41002);
    let v = post(
        &app,
        "/cgi-bin/clear_quota",
        &token,
        json!({"appid": c.appid}),
    )
    .await;
    assert_eq!(v, json!({"errcode": 0, "errmsg": "ok"}));
    assert_eq!(
        code(&app.get_json(&token_path(&c.appid, &c.secret)).await),
        0,
        "counts cleared"
    );

    let v = app
        .post_json(
            "/cgi-bin/clear_quota/v2",
            &json!({"appid": c.appid, "appsecret": "0".repeat(32)}),
        )
        .await;
    assert_eq!(code(&v), 40125);
    let v = app
        .post_json("/cgi-bin/clear_quota/v2", &json!({"appid": c.appid}))
        .await;
    assert_eq!(code(&v), 41004);
    let v = app
        .post_json(
            "/cgi-bin/clear_quota/v2",
            &json!({"appid": c.appid, "appsecret": c.secret}),
        )
        .await;
    assert_eq!(code(&v), 0);
    for _ in 2..10 {
        let v = post(
            &app,
            "/cgi-bin/clear_quota",
            &token,
            json!({"appid": c.appid}),
        )
        .await;
        assert_eq!(code(&v), 0);
    }
    let v = post(
        &app,
        "/cgi-bin/clear_quota",
        &token,
        json!({"appid": c.appid}),
    )
    .await;
    assert_eq!(code(&v), 48006, "the 11th clear of the month: {v}");
    assert_eq!(
        v["errmsg"]
            .as_str()
            .map(|m| m.starts_with("forbid to clear quota because of reaching the limit rid: ")),
        Some(true)
    );
    let v = app
        .post_json(
            "/cgi-bin/clear_quota/v2",
            &json!({"appid": c.appid, "appsecret": c.secret}),
        )
        .await;
    assert_eq!(code(&v), 48006, "v2 shares the month's clears");
    // Next month (32 days on): ten more.
    app.clock.advance(32 * 86_400);
    let token = app.token(&c).await;
    let v = post(
        &app,
        "/cgi-bin/clear_quota",
        &token,
        json!({"appid": c.appid}),
    )
    .await;
    assert_eq!(code(&v), 0);
}

/// The rid of an answer: its `X-Request-Id`.
async fn rid_of(resp: reqwest::Response) -> String {
    resp.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string()
}

/// `rid/get` of `rid` with `token`, waiting out the log's batching (76001 meanwhile).
async fn rid_get(app: &TestApp, token: &str, rid: &str) -> Value {
    let mut v = Value::Null;
    for _ in 0..100 {
        v = post(app, "/cgi-bin/openapi/rid/get", token, json!({"rid": rid})).await;
        if code(&v) != 76001 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    v
}

#[tokio::test]
async fn rid_get_shows_the_callers_own_request_masked() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let token = app.token(&c).await;
    // A failed upload (no media part): what a developer has a rid of.
    let form = reqwest::multipart::Form::new().text("type", "image");
    let resp = app
        .http
        .post(app.url(&format!("/cgi-bin/media/uploadimg?access_token={token}")))
        .multipart(form)
        .send()
        .await
        .expect("request");
    let rid = rid_of(resp).await;
    let v = rid_get(&app, &token, &rid).await;
    assert_eq!(code(&v), 0, "{v}");
    let r = &v["request"];
    assert_eq!(
        r["request_url"],
        format!("access_token={}xxxx", &token[..4])
    );
    assert!(!r.to_string().contains(&token), "the token is masked: {r}");
    assert!(
        r["request_body"]
            .as_str()
            .expect("text")
            .starts_with("(multipart/form-data, "),
        "{r}"
    );
    let body: Value =
        serde_json::from_str(r["response_body"].as_str().expect("text")).expect("json");
    assert_eq!(body["errcode"], 41005);
    assert!(body["errmsg"].as_str().expect("text").ends_with(&rid));
    assert_eq!(r["client_ip"], "127.0.0.1");
    assert!(r["cost_in_ms"].as_i64().is_some());
    let made = i64::from_str_radix(&rid[..8], 16).expect("hex");
    assert!((r["invoke_time"].as_i64().expect("time") - made).abs() <= 1);

    // Another account may not read it.
    let other = app.create_app(AppType::Official).await;
    let other_token = app.token(&other).await;
    let v = rid_get(&app, &other_token, &rid).await;
    assert_eq!(code(&v), 76003);

    // A token call with a wrong secret: the secret is not kept.
    let resp = app
        .http
        .get(app.url(&token_path(&c.appid, &"f".repeat(32))))
        .send()
        .await
        .expect("request");
    let rid = rid_of(resp).await;
    let v = rid_get(&app, &token, &rid).await;
    assert_eq!(code(&v), 0, "{v}");
    let url = v["request"]["request_url"].as_str().expect("text");
    assert!(
        url.contains("secret=xxxx") && !url.contains("ffff"),
        "{url}"
    );

    // A JSON body is kept, masked.
    let resp = app
        .http
        .post(app.url("/cgi-bin/stable_token"))
        .json(&json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret}))
        .send()
        .await
        .expect("request");
    let rid = rid_of(resp).await;
    let v = rid_get(&app, &token, &rid).await;
    let r = &v["request"];
    assert!(
        r["request_body"]
            .as_str()
            .expect("text")
            .contains(r#""secret":"xxxx""#),
        "{r}"
    );
    let answered: Value =
        serde_json::from_str(r["response_body"].as_str().expect("text")).expect("json");
    assert!(
        answered["access_token"]
            .as_str()
            .expect("token")
            .ends_with("xxxx"),
        "{answered}"
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    for (rid, want) in [
        ("nonsense".to_string(), 76002),
        (String::new(), 76002),
        (Rid::new(now, 7).to_string(), 76001),
        (Rid::new(now - 8 * 86_400, 7).to_string(), 76004),
    ] {
        let v = post(
            &app,
            "/cgi-bin/openapi/rid/get",
            &token,
            json!({"rid": rid}),
        )
        .await;
        assert_eq!(code(&v), want, "{rid:?}: {v}");
    }
}

#[tokio::test]
async fn a_picture_upload_is_logged_as_a_summary_not_its_bytes() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let token = app.token(&c).await;
    let jpeg = pictures::jpeg(64, 48, 3);
    let size = jpeg.len();
    let part = reqwest::multipart::Part::bytes(jpeg).file_name("a.jpg");
    let resp = app
        .http
        .post(app.url(&format!("/cgi-bin/media/uploadimg?access_token={token}")))
        .multipart(reqwest::multipart::Form::new().part("media", part))
        .send()
        .await
        .expect("request");
    let rid = rid_of(resp).await;
    let v = rid_get(&app, &token, &rid).await;
    let body = v["request"]["request_body"].as_str().expect("text");
    let read: usize = body
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a byte count");
    assert!(
        read > size,
        "the whole multipart body was read ({read} > {size})"
    );
    assert!(
        v["request"]["response_body"]
            .as_str()
            .expect("text")
            .contains("mmbiz_jpg")
    );
}
