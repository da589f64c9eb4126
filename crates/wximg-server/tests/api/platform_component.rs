//! The third-party platform end to end against the real server: component token from
//! the pushed ticket, pre-auth code, authorization, `api_query_auth`,
//! `api_authorizer_token` (refresh token kept; re-authorization replaces it), uploads with
//! the `authorizer_access_token` (allowed sets only), and revocation.

use crate::support::{code, pictures, spawn_app};
use serde_json::{Value, json};
use wximg_proto::{AppId, AppType};
use wximg_server::platform::component;

struct Platform {
    appid: String,
    secret: String,
    token: String,
}

async fn component_with_token(app: &crate::support::TestApp) -> Platform {
    let meta = app.storage.meta.as_ref();
    let now = app.clock.now();
    let (id, secret) = component::create_component(meta, "test platform", now)
        .await
        .expect("component");
    let ticket = verify_ticket(app, &id).await;
    let v = app
        .post_json(
            "/cgi-bin/component/api_component_token",
            &json!({
                "component_appid": id.as_str(),
                "component_appsecret": secret.expose(),
                "component_verify_ticket": ticket,
            }),
        )
        .await;
    assert_eq!(v["expires_in"], 7200, "{v}");
    assert!(v.get("errcode").is_none(), "success has no errcode: {v}");
    Platform {
        appid: id.to_string(),
        secret: secret.expose().to_string(),
        token: text(&v, "component_access_token"),
    }
}

async fn authorize(
    app: &crate::support::TestApp,
    p: &Platform,
    authorizer: &str,
    sets: &[u32],
) -> String {
    component::authorize(
        app.storage.meta.as_ref(),
        &AppId::parse(&p.appid).expect("appid"),
        &AppId::parse(authorizer).expect("appid"),
        sets,
        app.clock.now(),
    )
    .await
    .expect("authorized")
}

/// The component's current verify ticket.
async fn verify_ticket(app: &crate::support::TestApp, id: &AppId) -> String {
    component::current_ticket(app.storage.meta.as_ref(), id, app.clock.now())
        .await
        .expect("ticket")
        .expect("exists")
}

/// A string field of an answer, as a String (panics with the answer if missing).
fn text(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .to_string()
}

async fn query_auth(app: &crate::support::TestApp, p: &Platform, code: &str) -> Value {
    app.post_json(
        &format!(
            "/cgi-bin/component/api_query_auth?component_access_token={}",
            p.token
        ),
        &json!({"component_appid": p.appid, "authorization_code": code}),
    )
    .await
}

#[tokio::test]
async fn component_token_needs_the_right_secret_and_ticket() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    let call = |secret: &str, ticket: &str| json!({"component_appid": p.appid, "component_appsecret": secret, "component_verify_ticket": ticket});
    let url = "/cgi-bin/component/api_component_token";
    let id = AppId::parse(&p.appid).expect("appid");
    let ticket = verify_ticket(&app, &id).await;
    assert_eq!(
        code(&app.post_json(url, &call(&p.secret, "ticket@@@nope")).await),
        61006
    );
    assert_eq!(
        code(&app.post_json(url, &call(&"0".repeat(32), &ticket)).await),
        40125
    );
    assert_eq!(
        code(
            &app.post_json(url, &json!({"component_appsecret": p.secret}))
                .await
        ),
        41002
    );
    // Tickets rotate every 10 minutes; the previous one still works, older ones do not.
    app.clock.advance(601);
    let second = verify_ticket(&app, &id).await;
    assert_ne!(second, ticket);
    assert_eq!(
        code(&app.post_json(url, &call(&p.secret, &ticket)).await),
        0
    );
    app.clock.advance(601);
    let third = verify_ticket(&app, &id).await;
    assert_eq!(
        code(&app.post_json(url, &call(&p.secret, &ticket)).await),
        61006
    );
    assert_eq!(code(&app.post_json(url, &call(&p.secret, &third)).await), 0);
}

#[tokio::test]
async fn the_whole_flow_and_uploads_with_the_authorizer_token() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    let account = app.create_app(AppType::Official).await;

    // Pre-auth code, with either query parameter name.
    for name in ["component_access_token", "access_token"] {
        let v = app
            .post_json(
                &format!(
                    "/cgi-bin/component/api_create_preauthcode?{name}={}",
                    p.token
                ),
                &json!({"component_appid": p.appid}),
            )
            .await;
        assert!(
            v["pre_auth_code"].as_str().is_some_and(|c| !c.is_empty()),
            "{v}"
        );
        assert_eq!(v["expires_in"], 600, "the documentation's example: 600 s");
    }
    let v = app
        .post_json(
            "/cgi-bin/component/api_create_preauthcode?component_access_token=nope",
            &json!({"component_appid": p.appid}),
        )
        .await;
    assert_eq!(code(&v), 40001);

    let auth_code = authorize(&app, &p, &account.appid, &[1, 11]).await;
    let v = query_auth(&app, &p, &auth_code).await;
    let info = &v["authorization_info"];
    assert_eq!(info["authorizer_appid"], account.appid.as_str(), "{v}");
    assert_eq!(info["expires_in"], 7200);
    assert_eq!(
        info["func_info"],
        json!([{"funcscope_category": {"id": 1}}, {"funcscope_category": {"id": 11}}])
    );
    let access = text(info, "authorizer_access_token");
    let refresh = text(info, "authorizer_refresh_token");
    // The code is single use.
    assert_eq!(code(&query_auth(&app, &p, &auth_code).await), 61009);

    let v = app.upload(&access, "p.png", pictures::png(20, 20, 1)).await;
    assert_eq!(code(&v), 0, "{v}");
    assert!(v["url"].as_str().unwrap_or("").contains("/mmbiz_png/"));

    // Refresh: a new access token, the same refresh token; both access tokens work.
    let refresh_call = |rt: &str| json!({"component_appid": p.appid, "authorizer_appid": account.appid, "authorizer_refresh_token": rt});
    let url = format!(
        "/cgi-bin/component/api_authorizer_token?component_access_token={}",
        p.token
    );
    let v = app.post_json(&url, &refresh_call(&refresh)).await;
    assert_eq!(v["authorizer_refresh_token"], refresh.as_str(), "{v}");
    let access2 = text(&v, "authorizer_access_token");
    assert_ne!(access2, access);
    assert_eq!(
        code(&app.upload(&access2, "a.jpg", pictures::jpeg(9, 9, 2)).await),
        0
    );
    assert_eq!(
        code(
            &app.post_json(&url, &refresh_call("refreshtoken@@@nope"))
                .await
        ),
        61023
    );

    // Re-authorization: the old refresh token and access tokens end; the new ones work.
    let code2 = authorize(&app, &p, &account.appid, &[8]).await;
    let v = query_auth(&app, &p, &code2).await;
    let refresh2 = text(&v["authorization_info"], "authorizer_refresh_token");
    let access3 = text(&v["authorization_info"], "authorizer_access_token");
    assert_ne!(refresh2, refresh);
    assert_eq!(
        code(&app.post_json(&url, &refresh_call(&refresh)).await),
        61023
    );
    assert_eq!(
        code(&app.upload(&access2, "a.jpg", pictures::jpeg(9, 9, 3)).await),
        40001
    );
    assert_eq!(
        code(&app.upload(&access3, "a.jpg", pictures::jpeg(9, 9, 3)).await),
        0
    );

    // Revocation: tokens end (40001), component calls for the account answer 61003.
    assert!(
        component::revoke(
            app.storage.meta.as_ref(),
            &AppId::parse(&p.appid).expect("appid"),
            &AppId::parse(&account.appid).expect("appid"),
            app.clock.now()
        )
        .await
        .expect("revoked")
    );
    assert_eq!(
        code(&app.upload(&access3, "a.jpg", pictures::jpeg(9, 9, 4)).await),
        40001
    );
    assert_eq!(
        code(&app.post_json(&url, &refresh_call(&refresh2)).await),
        61003
    );

    // Tokens expire like any other: 42001 after their life.
    let code3 = authorize(&app, &p, &account.appid, &[1]).await;
    let v = query_auth(&app, &p, &code3).await;
    let access4 = text(&v["authorization_info"], "authorizer_access_token");
    app.clock.advance(7201);
    assert_eq!(
        code(&app.upload(&access4, "a.jpg", pictures::jpeg(9, 9, 5)).await),
        42001
    );
}

#[tokio::test]
async fn grants_without_an_allowed_set_get_48001() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    let account = app.create_app(AppType::Service).await;
    let auth_code = authorize(&app, &p, &account.appid, &[2, 3, 7]).await;
    let v = query_auth(&app, &p, &auth_code).await;
    let access = text(&v["authorization_info"], "authorizer_access_token");
    let v = app.upload(&access, "a.jpg", pictures::jpeg(9, 9, 1)).await;
    assert_eq!(code(&v), 48001, "{v}");
    // Every set the seed names allows it.
    for set in [1, 8, 9, 11, 18, 37, 100] {
        let c = authorize(&app, &p, &account.appid, &[set]).await;
        let v = query_auth(&app, &p, &c).await;
        let access = text(&v["authorization_info"], "authorizer_access_token");
        assert_eq!(
            code(
                &app.upload(&access, "a.jpg", pictures::jpeg(9, 9, set))
                    .await
            ),
            0,
            "set {set}"
        );
    }
}

#[tokio::test]
async fn component_calls_check_their_input() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    let base = "/cgi-bin/component/api_query_auth";
    assert_eq!(
        code(
            &app.post_json(base, &json!({"component_appid": p.appid}))
                .await
        ),
        41001
    );
    let resp = app.http.get(app.url(base)).send().await.expect("request");
    assert_eq!(code(&crate::support::checked_json(resp).await), 43002);
    let resp = app
        .http
        .post(app.url(&format!("{base}?component_access_token={}", p.token)))
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(code(&crate::support::checked_json(resp).await), 47001);
    let v = app
        .post_json(
            &format!("{base}?component_access_token={}", p.token),
            &json!({"component_appid": p.appid, "authorization_code": "queryauthcode@@@nope"}),
        )
        .await;
    assert_eq!(code(&v), 61009);
    // Another component's appid with this token.
    let v = app
        .post_json(
            &format!("{base}?component_access_token={}", p.token),
            &json!({"component_appid": "wx0123456789abcdef", "authorization_code": "x"}),
        )
        .await;
    assert_eq!(code(&v), 40013);
}

#[tokio::test]
async fn spent_records_read_as_absent_and_are_swept() {
    let app = spawn_app().await;
    let meta = app.storage.meta.as_ref();
    let now = app.clock.now();
    let tag = format!("sweeptest{}:", rand_suffix());
    let spent = format!("{tag}spent");
    let live = format!("{tag}live");
    let forever = format!("{tag}forever");
    assert!(
        meta.swap_record(&spent, None, "{}", Some(now + 10), now)
            .await
            .expect("spent")
    );
    assert!(
        meta.swap_record(&live, None, "{}", Some(now + 1000), now)
            .await
            .expect("live")
    );
    assert!(
        meta.swap_record(&forever, None, "{}", None, now)
            .await
            .expect("forever")
    );
    let later = now + 100;
    assert!(
        meta.record(&spent, later).await.expect("read").is_none(),
        "past its life: absent"
    );
    assert_eq!(meta.records(&tag, later).await.expect("list").len(), 2);
    assert!(meta.sweep_records(later).await.expect("sweep") >= 1);
    // Gone for good, even read as of before its end; the others stay.
    assert!(meta.record(&spent, now).await.expect("read").is_none());
    assert!(meta.record(&live, later).await.expect("read").is_some());
    assert!(meta.record(&forever, later).await.expect("read").is_some());
    for key in [&live, &forever] {
        assert!(meta.delete_record(key).await.expect("delete"));
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Issue #12, point 7: an authorization code is bound to the grant it was issued for. A
/// code issued before a re-authorization (or a revocation) used to work afterwards and
/// carry the later grant's permission sets (and replace its refresh token).
#[tokio::test]
async fn an_authorization_code_is_bound_to_its_grant() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    let account = app.create_app(AppType::Official).await;
    let refresh_url = format!(
        "/cgi-bin/component/api_authorizer_token?component_access_token={}",
        p.token
    );
    let refresh_call = |rt: &str| json!({"component_appid": p.appid, "authorizer_appid": account.appid, "authorizer_refresh_token": rt});

    // Re-authorization: the earlier code is spent, and carries nothing of the new grant.
    let narrow = authorize(&app, &p, &account.appid, &[2]).await;
    let wide = authorize(&app, &p, &account.appid, &[1, 11]).await;
    let v = query_auth(&app, &p, &narrow).await;
    assert_eq!(code(&v), 61009, "a code of a replaced grant: {v}");
    let v = query_auth(&app, &p, &wide).await;
    let info = &v["authorization_info"];
    assert_eq!(
        info["func_info"],
        json!([{"funcscope_category": {"id": 1}}, {"funcscope_category": {"id": 11}}]),
        "{v}"
    );
    // The refused code did not touch the live grant's refresh token.
    let refresh = text(info, "authorizer_refresh_token");
    let v = app.post_json(&refresh_url, &refresh_call(&refresh)).await;
    assert_eq!(code(&v), 0, "{v}");

    // Revocation, then a new authorization: a code from before the revocation is spent.
    let before = authorize(&app, &p, &account.appid, &[8]).await;
    let meta = app.storage.meta.as_ref();
    let (component_id, account_id) = (
        AppId::parse(&p.appid).expect("appid"),
        AppId::parse(&account.appid).expect("appid"),
    );
    assert!(
        component::revoke(meta, &component_id, &account_id, app.clock.now())
            .await
            .expect("revoked")
    );
    assert_eq!(
        code(&query_auth(&app, &p, &before).await),
        61009,
        "after a revocation"
    );
    let before_again = authorize(&app, &p, &account.appid, &[100]).await;
    let after = authorize(&app, &p, &account.appid, &[1]).await;
    assert!(
        component::revoke(meta, &component_id, &account_id, app.clock.now())
            .await
            .expect("revoked")
    );
    let after_reauth = authorize(&app, &p, &account.appid, &[9]).await;
    for old in [&before_again, &after] {
        let v = query_auth(&app, &p, old).await;
        assert_eq!(
            code(&v),
            61009,
            "a code from before a revoke and re-authorization: {v}"
        );
    }
    let v = query_auth(&app, &p, &after_reauth).await;
    assert_eq!(
        v["authorization_info"]["func_info"],
        json!([{"funcscope_category": {"id": 9}}]),
        "{v}"
    );
}

/// Issue #12, point 7: a component's secret can be rotated, ending what a leaked one
/// could have minted, and a component can be deleted with everything of it.
#[tokio::test]
async fn rotating_a_component_secret_or_deleting_it_ends_its_credentials() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    let id = AppId::parse(&p.appid).expect("appid");
    let account = app.create_app(AppType::Official).await;
    let auth_code = authorize(&app, &p, &account.appid, &[1]).await;
    let info = query_auth(&app, &p, &auth_code).await["authorization_info"].clone();
    let access = text(&info, "authorizer_access_token");
    let refresh = text(&info, "authorizer_refresh_token");
    // An unused code of another account (authorizing this one again would end `access`
    // by itself).
    let second = app.create_app(AppType::Service).await;
    let pending = authorize(&app, &p, &second.appid, &[1, 11]).await;
    let preauth = |token: String| {
        let app = &app;
        let body = json!({"component_appid": p.appid});
        async move {
            app.post_json(
                &format!(
                    "/cgi-bin/component/api_create_preauthcode?component_access_token={token}"
                ),
                &body,
            )
            .await
        }
    };
    assert_eq!(code(&preauth(p.token.clone()).await), 0);

    let meta = app.storage.meta.as_ref();
    let secret = component::rotate_component_secret(meta, &id, app.clock.now())
        .await
        .expect("rotated")
        .expect("exists");
    assert_ne!(secret.expose(), p.secret);
    // What the old secret minted has ended; the old secret itself is refused.
    assert_eq!(
        code(&preauth(p.token.clone()).await),
        40001,
        "old component token"
    );
    assert_eq!(
        code(&app.upload(&access, "a.jpg", pictures::jpeg(9, 9, 1)).await),
        40001,
        "authorizer token got with the old secret"
    );
    let ticket = verify_ticket(&app, &id).await;
    let token_call = |secret: &str| json!({"component_appid": p.appid, "component_appsecret": secret, "component_verify_ticket": ticket});
    let url = "/cgi-bin/component/api_component_token";
    assert_eq!(
        code(&app.post_json(url, &token_call(&p.secret)).await),
        40125
    );
    // The new secret works, and the accounts' consent survived it.
    let v = app.post_json(url, &token_call(secret.expose())).await;
    let fresh = Platform {
        appid: p.appid.clone(),
        secret: secret.expose().to_string(),
        token: text(&v, "component_access_token"),
    };
    let v = app
        .post_json(
            &format!(
                "/cgi-bin/component/api_authorizer_token?component_access_token={}",
                fresh.token
            ),
            &json!({"component_appid": p.appid, "authorizer_appid": account.appid, "authorizer_refresh_token": refresh}),
        )
        .await;
    let access2 = text(&v, "authorizer_access_token");
    assert_eq!(
        code(&app.upload(&access2, "a.jpg", pictures::jpeg(9, 9, 2)).await),
        0
    );
    let v = query_auth(&app, &fresh, &pending).await;
    let access3 = text(&v["authorization_info"], "authorizer_access_token");

    // Deletion: the component and all of it go, on every backend.
    assert!(
        component::delete_component(meta, &id, app.clock.now())
            .await
            .expect("deleted")
    );
    assert_eq!(code(&preauth(fresh.token.clone()).await), 40001);
    assert_eq!(
        code(&app.post_json(url, &token_call(secret.expose())).await),
        61011,
        "a deleted component is no component: invalid component"
    );
    for token in [&access2, &access3] {
        assert_eq!(
            code(&app.upload(token, "a.jpg", pictures::jpeg(9, 9, 3)).await),
            40001
        );
    }
    let now = app.clock.now();
    assert!(
        meta.records(&format!("grant:{id}:"), now)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        component::current_ticket(meta, &id, now)
            .await
            .expect("ticket")
            .is_none(),
        "its tickets went with it"
    );
    for prefix in ["ctoken:", "preauth:", "authcode:", "atoken:"] {
        let left: Vec<_> = meta
            .records(prefix, now)
            .await
            .expect("list")
            .into_iter()
            .filter(|(_, r)| r.value.contains(id.as_str()))
            .collect();
        assert!(
            left.is_empty(),
            "{prefix} records of the deleted component: {left:?}"
        );
    }
    assert!(
        !component::delete_component(meta, &id, now)
            .await
            .expect("second delete"),
        "nothing left to delete"
    );
    assert!(
        component::rotate_component_secret(meta, &id, now)
            .await
            .expect("rotate")
            .is_none()
    );
}

/// The draft and publishing APIs take an authorizer token only under sets 11 or 100.
#[tokio::test]
async fn drafts_and_publishing_need_set_11_or_100() {
    let app = spawn_app().await;
    let p = component_with_token(&app).await;
    for (sets, allowed) in [
        (&[1u32, 8][..], false),
        (&[11][..], true),
        (&[100][..], true),
    ] {
        let account = app.create_app(AppType::Official).await;
        let auth_code = authorize(&app, &p, &account.appid, sets).await;
        let v = query_auth(&app, &p, &auth_code).await;
        let access = text(&v["authorization_info"], "authorizer_access_token");
        let v = app
            .get_json(&format!("/cgi-bin/draft/count?access_token={access}"))
            .await;
        let get = app
            .post_json(
                &format!("/cgi-bin/freepublish/get?access_token={access}"),
                &json!({"publish_id": "2247483650"}),
            )
            .await;
        if allowed {
            assert_eq!(v, json!({"total_count": 0}), "sets {sets:?}");
            assert_eq!(code(&get), 40007, "sets {sets:?}: {get}");
        } else {
            assert_eq!(code(&v), 48001, "sets {sets:?}: {v}");
            assert_eq!(code(&get), 48001, "sets {sets:?}: {get}");
        }
    }
}
