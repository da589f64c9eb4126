//! Quotas (45009 daily, 45011 per minute, per app and API, counted in the database) and
//! IP whitelists for token calls (40164 naming the caller), against the real server.

use crate::support::{TestApp, answer, code, pictures, spawn_app, spawn_with, token_path};
use wximg_proto::{AppId, AppType};
use wximg_server::platform::{QuotaLimits, quota, whitelist};

/// Moves the server's clock to the start of a minute, so a test's calls share one.
fn start_of_minute(app: &crate::support::TestApp) {
    app.clock.advance(60 - app.clock.now().rem_euclid(60));
}

fn appid(s: &str) -> AppId {
    AppId::parse(s).expect("appid")
}

/// Sets the app `id`'s own limits for `api`: calls a day and a minute (`None`: no limit).
async fn set_limits(
    app: &TestApp,
    id: &str,
    api: &str,
    daily: Option<i64>,
    per_minute: Option<i64>,
) {
    let limits = QuotaLimits { daily, per_minute };
    let meta = app.storage.meta.as_ref();
    quota::set_limits(meta, &appid(id), api, limits, app.clock.now())
        .await
        .expect("limits set");
}

#[tokio::test]
async fn uploadimg_minute_quota_answers_45011_then_recovers_next_minute() {
    let app = spawn_app().await;
    start_of_minute(&app);
    let c = app.create_app(AppType::Official).await;
    let token = app.token(&c).await;
    set_limits(&app, &c.appid, "uploadimg", None, Some(2)).await;
    for seed in 0..2 {
        let v = app
            .upload(&token, "a.jpg", pictures::jpeg(16, 16, seed))
            .await;
        assert_eq!(code(&v), 0, "{v}");
    }
    let v = app.upload(&token, "a.jpg", pictures::jpeg(16, 16, 9)).await;
    assert_eq!(code(&v), 45011, "{v}");
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap_or("")
            .starts_with("api minute-quota reach limit  mustslower  retry next minute rid: "),
        "{v}"
    );
    // Token calls are another API: not limited.
    app.token(&c).await;
    app.clock.advance(60);
    let v = app.upload(&token, "a.jpg", pictures::jpeg(16, 16, 9)).await;
    assert_eq!(code(&v), 0, "{v}");
}

#[tokio::test]
async fn daily_quota_answers_45009_until_reset_or_the_next_beijing_day() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let id = appid(&c.appid);
    let meta = app.storage.meta.as_ref();
    set_limits(&app, &c.appid, "token", Some(3), None).await;
    let url = token_path(&c.appid, &c.secret);
    for _ in 0..3 {
        assert_eq!(code(&app.get_json(&url).await), 0);
    }
    let v = app.get_json(&url).await;
    assert_eq!(code(&v), 45009, "{v}");
    // The count is in the database: what a node sees is what every node sees.
    let now = app.clock.now();
    let (today, _) = meta
        .call_counts(&id, "token", quota::beijing_day(now), quota::minute(now))
        .await
        .expect("counts");
    assert_eq!(today, 4, "refused calls are counted too");
    // Another app is not affected.
    let other = app.create_app(AppType::Official).await;
    app.token(&other).await;
    // The console's reset clears the count.
    meta.reset_calls(&id, "token").await.expect("reset");
    assert_eq!(code(&app.get_json(&url).await), 0);
    for _ in 0..2 {
        app.get_json(&url).await;
    }
    assert_eq!(code(&app.get_json(&url).await), 45009);
    // A new day (in Beijing) starts a new count.
    let until_next_day = 86_400 - (now + 8 * 3600).rem_euclid(86_400);
    app.clock.advance(until_next_day);
    assert_eq!(code(&app.get_json(&url).await), 0);
}

#[tokio::test]
async fn default_quota_applies_to_apps_without_their_own() {
    let app = spawn_with(|s| {
        s.platform.default_quota = QuotaLimits {
            daily: None,
            per_minute: Some(1),
        }
    })
    .await;
    start_of_minute(&app);
    let c = app.create_app(AppType::Official).await;
    let body = serde_json::json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret});
    assert_eq!(
        code(&app.post_json("/cgi-bin/stable_token", &body).await),
        0
    );
    assert_eq!(
        code(&app.post_json("/cgi-bin/stable_token", &body).await),
        45011
    );
    // The app's own limit wins over the default.
    set_limits(&app, &c.appid, "stable_token", None, Some(100)).await;
    assert_eq!(
        code(&app.post_json("/cgi-bin/stable_token", &body).await),
        0
    );
}

async fn set_whitelist(app: &crate::support::TestApp, id: &str, networks: &[&str]) {
    wximg_server::platform::update(
        app.storage.meta.as_ref(),
        &whitelist::whitelist_key(&appid(id)),
        app.clock.now(),
        None,
        |_: Option<whitelist::Whitelist>| {
            Ok(whitelist::Whitelist {
                networks: networks.iter().map(|s| s.to_string()).collect(),
            })
        },
    )
    .await
    .expect("whitelist set");
}

#[tokio::test]
async fn whitelist_refuses_token_calls_from_elsewhere_with_the_callers_address() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let url = token_path(&c.appid, &c.secret);
    set_whitelist(&app, &c.appid, &["10.0.0.0/8", "192.168.1.7"]).await;
    let v = app.get_json(&url).await;
    assert_eq!(code(&v), 40164, "{v}");
    let msg = v["errmsg"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: "),
        "{msg}"
    );
    let stable = serde_json::json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret});
    assert_eq!(
        code(&app.post_json("/cgi-bin/stable_token", &stable).await),
        40164
    );
    // A wrong secret is still 40125 (credentials are checked first).
    let bad = app.get_json(&token_path(&c.appid, &"0".repeat(32))).await;
    assert_eq!(code(&bad), 40125);
    // X-Forwarded-For from an untrusted peer changes nothing.
    let v = answer(
        app.http
            .get(app.url(&url))
            .header("x-forwarded-for", "10.1.2.3"),
    )
    .await;
    assert_eq!(code(&v), 40164);

    set_whitelist(&app, &c.appid, &["10.0.0.0/8", "127.0.0.0/8"]).await;
    assert_eq!(code(&app.get_json(&url).await), 0);
    assert_eq!(
        code(&app.post_json("/cgi-bin/stable_token", &stable).await),
        0
    );
    // An empty list means no restriction.
    set_whitelist(&app, &c.appid, &[]).await;
    assert_eq!(code(&app.get_json(&url).await), 0);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_the_trusted_proxy() {
    let app = spawn_with(|s| {
        s.platform.trust_forwarded_for = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    set_whitelist(&app, &c.appid, &["203.0.113.0/24"]).await;
    let url = app.url(&token_path(&c.appid, &c.secret));
    let call = |xff: &'static str| answer(app.http.get(&url).header("x-forwarded-for", xff));
    assert_eq!(code(&call("203.0.113.9").await), 0);
    // The right-most hop is what the proxy saw; what the client wrote left of it is not.
    let v = call("203.0.113.9, 198.51.100.4").await;
    assert_eq!(code(&v), 40164);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid ip 198.51.100.4 ipv6 ::ffff:198.51.100.4, not in whitelist"),
        "{v}"
    );
}

/// Quotas are charged only once the caller has proven who it is: calls with a wrong
/// secret do not use up a component's quota (six of them used to lock the real
/// component out of a daily quota of five).
#[tokio::test]
async fn wrong_credentials_do_not_use_up_a_component_quota() {
    use wximg_server::platform::component;
    let app = spawn_app().await;
    let meta = app.storage.meta.as_ref();
    let now = app.clock.now();
    let (id, secret) = component::create_component(meta, "quota test", now)
        .await
        .expect("component");
    set_limits(&app, id.as_str(), "api_component_token", Some(5), None).await;
    let ticket = component::current_ticket(meta, &id, now)
        .await
        .expect("ticket")
        .expect("a ticket");
    let call = |secret: &str| {
        serde_json::json!({
            "component_appid": id.as_str(),
            "component_appsecret": secret,
            "component_verify_ticket": ticket,
        })
    };
    let url = "/cgi-bin/component/api_component_token";
    for i in 0..6 {
        let v = app.post_json(url, &call(&"0".repeat(32))).await;
        assert_eq!(code(&v), 40125, "wrong secret, call {i}: {v}");
    }
    for i in 0..5 {
        let v = app.post_json(url, &call(secret.expose())).await;
        assert!(
            v["component_access_token"].is_string(),
            "right secret, call {i}: {v}"
        );
    }
    let v = app.post_json(url, &call(secret.expose())).await;
    assert_eq!(
        code(&v),
        45009,
        "the sixth proven call is over the quota: {v}"
    );
}
