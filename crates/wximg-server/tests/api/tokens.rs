//! `/cgi-bin/token` and `/cgi-bin/stable_token`: every rule of DESIGN.md, and every
//! error-table row they can answer.

use crate::support::{Creds, TestApp, answer, code, spawn_app, token_path};
use serde_json::{Value, json};
use wximg_proto::AppType;

#[tokio::test]
async fn token_issues_long_random_tokens() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let v = app.get_json(&token_path(&c.appid, &c.secret)).await;
    assert_eq!(v["expires_in"], 7200);
    assert!(
        v.get("errcode").is_none(),
        "success has no errcode, as the platform's: {v}"
    );
    let t1 = v["access_token"].as_str().unwrap().to_string();
    let t2 = app.token(&c).await;
    assert_ne!(t1, t2, "every call issues a new token");
    // ≥ 128 bits: at least 22 base64 characters.
    assert!(
        t1.len() >= 22
            && t1
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[tokio::test]
async fn token_refusals() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let cases = [
        (
            format!("/cgi-bin/token?appid={}&secret={}", c.appid, c.secret),
            40002,
        ),
        (
            format!(
                "/cgi-bin/token?grant_type=password&appid={}&secret={}",
                c.appid, c.secret
            ),
            40002,
        ),
        (
            format!(
                "/cgi-bin/token?grant_type=client_credential&secret={}",
                c.secret
            ),
            41002,
        ),
        (
            format!(
                "/cgi-bin/token?grant_type=client_credential&appid={}",
                c.appid
            ),
            41004,
        ),
        (token_path("wx123", &c.secret), 40013),
        (token_path("wx0000000000000000", &c.secret), 40013),
        // The platform's order: the appid before the grant type, the grant type before
        // the secret (captured: a bad appid and no grant_type answers 40013).
        (
            format!(
                "/cgi-bin/token?appid=wx0000000000000000&secret={}",
                c.secret
            ),
            40013,
        ),
        ("/cgi-bin/token?appid=nonsense".to_string(), 40013),
        ("/cgi-bin/token?secret=x".to_string(), 41002),
        ("/cgi-bin/token".to_string(), 41002),
        (format!("/cgi-bin/token?appid={}", c.appid), 40002),
        (
            format!(
                "/cgi-bin/token?grant_type=password&appid={}&secret=bad",
                c.appid
            ),
            40002,
        ),
        (
            token_path(&c.appid, "00000000000000000000000000000000"),
            40125,
        ),
        (token_path(&c.appid, "not-hex"), 40125),
    ];
    for (path, want) in cases {
        let v = app.get_json(&path).await;
        assert_eq!(code(&v), want, "{path} → {v}");
    }
    let put = answer(app.http.put(app.url(&token_path(&c.appid, &c.secret)))).await;
    assert_eq!(code(&put), 43001);
}

#[tokio::test]
async fn classic_token_rollover_and_expiry() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let old = app.token(&c).await;
    let new = app.token(&c).await;
    let png = crate::support::pictures::png(4, 4, 1);
    // The previous token keeps working for 5 minutes…
    assert_eq!(code(&app.upload(&old, "a.png", png.clone()).await), 0);
    app.clock.advance(299);
    assert_eq!(code(&app.upload(&old, "a.png", png.clone()).await), 0);
    // …then it is "not latest".
    app.clock.advance(2);
    assert_eq!(code(&app.upload(&old, "a.png", png.clone()).await), 40001);
    assert_eq!(code(&app.upload(&new, "a.png", png.clone()).await), 0);
    // The newest one lives 7200 s, then it has expired.
    app.clock.advance(7200 - 301 - 1);
    assert_eq!(code(&app.upload(&new, "a.png", png.clone()).await), 0);
    app.clock.advance(2);
    assert_eq!(code(&app.upload(&new, "a.png", png.clone()).await), 42001);
    assert_eq!(
        code(&app.upload("no-such-token", "a.png", png).await),
        40001
    );
}

/// `/cgi-bin/stable_token`'s answer for the app `c`, with `force_refresh: force`.
async fn stable_token(app: &TestApp, c: &Creds, force: bool) -> Value {
    let body = json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret, "force_refresh": force});
    app.post_json("/cgi-bin/stable_token", &body).await
}

#[tokio::test]
async fn stable_token_is_stable_and_separate() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let a = stable_token(&app, &c, false).await;
    let b = stable_token(&app, &c, false).await;
    assert_eq!(
        a["access_token"], b["access_token"],
        "normal mode returns the current token"
    );
    assert_eq!(a["expires_in"], 7200);
    let stable = a["access_token"].as_str().unwrap().to_string();
    // A classic token does not end the stable one, nor the reverse.
    let classic = app.token(&c).await;
    let png = crate::support::pictures::png(4, 4, 2);
    assert_eq!(code(&app.upload(&stable, "a.png", png.clone()).await), 0);
    let _ = stable_token(&app, &c, true).await;
    assert_eq!(code(&app.upload(&classic, "a.png", png).await), 0);
}

#[tokio::test]
async fn stable_token_rotates_early_so_expires_in_is_at_least_300() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let first = stable_token(&app, &c, false).await;
    app.clock.advance(7200 - 300);
    let same = stable_token(&app, &c, false).await;
    assert_eq!(same["access_token"], first["access_token"]);
    assert_eq!(same["expires_in"], 300);
    app.clock.advance(1);
    let next = stable_token(&app, &c, false).await;
    assert_ne!(next["access_token"], first["access_token"]);
    assert_eq!(next["expires_in"], 7200);
    // The old one is not ended early: it lives out its last 299 seconds.
    let old = first["access_token"].as_str().unwrap();
    assert_eq!(
        code(
            &app.upload(old, "a.png", crate::support::pictures::png(4, 4, 3))
                .await
        ),
        0
    );
}

#[tokio::test]
async fn stable_token_force_refresh_rules() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let png = crate::support::pictures::png(4, 4, 4);
    let t0 = stable_token(&app, &c, false).await;
    let t1 = stable_token(&app, &c, true).await;
    assert_ne!(t0["access_token"], t1["access_token"]);
    // The old token ends at once (no grace).
    assert_eq!(
        code(
            &app.upload(t0["access_token"].as_str().unwrap(), "a.png", png.clone())
                .await
        ),
        40001
    );
    // Forces within 30 s return the same token.
    app.clock.advance(29);
    let t2 = stable_token(&app, &c, true).await;
    assert_eq!(t1["access_token"], t2["access_token"]);
    // At most 20 forces a day: 19 more work, the 21st is refused.
    for i in 2..=20 {
        app.clock.advance(31);
        let t = stable_token(&app, &c, true).await;
        assert!(t["access_token"].is_string(), "force {i}: {t}");
    }
    app.clock.advance(31);
    let refused = stable_token(&app, &c, true).await;
    assert_eq!(code(&refused), 45009);
    // Normal mode still works.
    let normal = stable_token(&app, &c, false).await;
    assert!(normal["access_token"].is_string());
}

#[tokio::test]
async fn stable_token_refusals() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    // appid in the query string instead of the body
    let v = answer(
        app.http
            .post(app.url(&format!(
                "/cgi-bin/stable_token?appid={}&secret={}",
                c.appid, c.secret
            )))
            .json(&json!({"grant_type": "client_credential", "secret": c.secret})),
    )
    .await;
    assert_eq!(code(&v), 41002);
    let cases = [
        (
            json!({"grant_type": "client_credential", "appid": c.appid}),
            41004,
        ),
        (
            json!({"grant_type": "nope", "appid": c.appid, "secret": c.secret}),
            40002,
        ),
        (
            json!({"grant_type": "client_credential", "appid": "wx1", "secret": c.secret}),
            40013,
        ),
        (
            json!({"grant_type": "client_credential", "appid": c.appid, "secret": "0".repeat(32)}),
            40125,
        ),
        (json!([1, 2]), 47001),
        // /cgi-bin/token's order: appid, grant type, secret.
        (
            json!({"appid": "wx0000000000000000", "secret": c.secret}),
            40013,
        ),
        (json!({"grant_type": "nope", "appid": "wx1"}), 40013),
        (json!({"grant_type": "nope"}), 41002),
        (json!({"appid": c.appid}), 40002),
    ];
    for (body, want) in cases {
        assert_eq!(
            code(&app.post_json("/cgi-bin/stable_token", &body).await),
            want,
            "{body}"
        );
    }
    for (body, want) in [("", 44002), ("{not json", 47001)] {
        let v = answer(app.http.post(app.url("/cgi-bin/stable_token")).body(body)).await;
        assert_eq!(code(&v), want, "{body:?}");
    }
    let v = answer(app.http.get(app.url("/cgi-bin/stable_token"))).await;
    assert_eq!(code(&v), 43002);
}

#[tokio::test]
async fn rotated_secret_ends_tokens() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let t = app.token(&c).await;
    let appid = wximg_proto::AppId::parse(&c.appid).unwrap();
    let secret =
        wximg_server::apps::rotate_secret(app.storage.meta.as_ref(), &appid, app.clock.now())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        code(
            &app.upload(&t, "a.png", crate::support::pictures::png(4, 4, 5))
                .await
        ),
        40001
    );
    assert_eq!(
        code(&app.get_json(&token_path(&c.appid, &c.secret)).await),
        40125
    );
    assert!(app.get_json(&token_path(&c.appid, secret.expose())).await["access_token"].is_string());
}

/// A JSON body over the limit (8 KiB) is refused in the platform's frame — HTTP 200,
/// errcode 47001, a rid — on every JSON endpoint; it used to get axum's HTTP 413 in
/// text/plain past 2 MB, and be parsed whole below that.
#[tokio::test]
async fn oversized_json_bodies_answer_47001_in_the_frame() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let padding = " ".repeat(wximg_server::extract::JSON_BODY_LIMIT + 1);
    let just_over = format!(
        r#"{{"grant_type":"client_credential","appid":"{}","secret":"{}"}}{padding}"#,
        c.appid, c.secret
    );
    for path in [
        "/cgi-bin/stable_token",
        "/cgi-bin/component/api_component_token",
        "/cgi-bin/component/api_create_preauthcode?component_access_token=x",
    ] {
        for body in [just_over.clone(), "x".repeat(3 << 20)] {
            let len = body.len();
            let v = answer(app.http.post(app.url(path)).body(body)).await;
            assert_eq!(code(&v), 47001, "{path}, {len} bytes: {v}");
        }
    }
    // The same body within the limit is read: a body's size alone decides.
    let within = format!(
        r#"{{"grant_type":"client_credential","appid":"{}","secret":"{}"}}"#,
        c.appid, c.secret
    );
    let v = answer(app.http.post(app.url("/cgi-bin/stable_token")).body(within)).await;
    assert!(v["access_token"].is_string(), "{v}");
}
