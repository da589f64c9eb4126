//! Platform fidelity on the wire: today's messages (the getStableAccessToken 40001, the
//! ` hint: [...]` of media and material refusals and none on the token family), 40014 for
//! what is no token at all, `add_material`'s filename rules, the platform's documented
//! quotas behind `--platform-quotas`, and the third-party platform's codes and calls
//! (61004, 61005, 61011, 61014; `api_start_push_ticket`, `api_get_authorizer_info`,
//! `api_get_authorizer_list`; 600 s codes) and the token calls' risk codes through fault
//! injection.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use wximg_proto::{AppId, AppType, ErrCode};
use wximg_server::platform::{component, whitelist};

use crate::support::{
    TestApp, answer, assert_hinted, assert_unhinted, code, pictures, spawn_app, spawn_with,
    token_path,
};

/// `add_material` of `bytes` as a part named `filename` (`None`: no filename at all).
async fn add_material(
    app: &TestApp,
    token: &str,
    kind: &str,
    filename: Option<&str>,
    bytes: Vec<u8>,
) -> Value {
    let path = format!("/cgi-bin/material/add_material?access_token={token}&type={kind}");
    app.post_media(&path, filename, None, bytes).await
}

#[tokio::test]
async fn media_refusals_carry_a_hint_and_token_refusals_do_not() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    // uploadimg's own refusals: hint before rid.
    let v = app.upload(&token, "a.jpg", b"not a picture".to_vec()).await;
    assert_eq!(code(&v), 40005, "{v}");
    assert_hinted(&v, "invalid file type");
    let v = app.upload(&token, "a.jpg", Vec::new()).await;
    assert_eq!(code(&v), 41005, "{v}");
    assert_hinted(&v, "media data missing");
    // The token family: none, and 40001 in its late-2023 words.
    let v = app
        .upload("unknown0token", "a.jpg", pictures::jpeg(8, 8, 1))
        .await;
    assert_eq!(code(&v), 40001, "{v}");
    assert_unhinted(
        &v,
        "invalid credential, access_token is invalid or not latest, could get access_token \
         by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
    );
    let url = app.url("/cgi-bin/media/uploadimg");
    let v = answer(app.http.post(&url).body("x")).await;
    assert_eq!(code(&v), 41001, "{v}");
    assert_unhinted(&v, "access_token missing");
    // A permission refusal: none either (`api unauthorized rid: …` in captures).
    let mini = app.create_app(AppType::MiniProgram).await;
    let mini_token = app.token(&mini).await;
    let v = app
        .upload(&mini_token, "a.jpg", pictures::jpeg(8, 8, 1))
        .await;
    assert_eq!(code(&v), 48001, "{v}");
    assert_unhinted(&v, "api unauthorized");
    // Token calls: never.
    let v = app
        .get_json(&token_path("wx0000000000000000", &"0".repeat(32)))
        .await;
    assert_eq!(code(&v), 40013, "{v}");
    assert_unhinted(&v, "invalid appid");
    // Material: the hint, and 40006 in the platform's own spelling.
    let big = vec![0xFFu8; 64 * 1024 + 1];
    let v = add_material(&app, &token, "thumb", Some("t.jpg"), big).await;
    assert_eq!(code(&v), 40006, "{v}");
    assert_hinted(&v, "invalid meida size");
    // The draft calls' own refusals (no articles, no content, …), and the retired news
    // material's, carry one too.
    let no_articles = app
        .post_json(
            &format!("/cgi-bin/draft/add?access_token={token}"),
            &serde_json::json!({"articles": []}),
        )
        .await;
    assert_hinted(&no_articles, "empty news data");
    let retired = app
        .post_json(
            &format!("/cgi-bin/material/add_news?access_token={token}"),
            &serde_json::json!({"articles": []}),
        )
        .await;
    assert_hinted(&retired, wximg_proto::ErrCode::ApiUnsupported.message());
    // Every hint is its own.
    let a = app.upload(&token, "a.jpg", b"x".to_vec()).await;
    let b = app.upload(&token, "a.jpg", b"x".to_vec()).await;
    assert_ne!(a["errmsg"], b["errmsg"]);
}

#[tokio::test]
async fn a_malformed_token_is_40014_and_an_unknown_one_40001() {
    let app = spawn_app().await;
    let jpeg = pictures::jpeg(8, 8, 2);
    for bad in [
        "not%20a%20token",
        "abc%2Bdef%2F%3D",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        &"a".repeat(513),
    ] {
        let v = app
            .upload_form(
                bad,
                Form::new().part("media", Part::bytes(jpeg.clone()).file_name("a.jpg")),
            )
            .await;
        assert_eq!(code(&v), 40014, "{bad}: {v}");
        assert_unhinted(&v, "invalid access_token");
    }
    // Of a token's form but not one: 40001, as before.
    let v = app.upload(&"a".repeat(512), "a.jpg", jpeg.clone()).await;
    assert_eq!(code(&v), 40001, "{v}");
    // Material calls and component calls too.
    let v = add_material(&app, "bad%20token", "image", Some("a.jpg"), jpeg).await;
    assert_eq!(code(&v), 40014, "{v}");
    let v = app
        .post_json(
            "/cgi-bin/component/api_create_preauthcode?component_access_token=bad%20token",
            &json!({}),
        )
        .await;
    assert_eq!(code(&v), 40014, "{v}");
    assert!(ErrCode::InvalidAccessToken.is_token_problem());
}

#[tokio::test]
async fn add_material_judges_the_filename_extension_and_uploadimg_does_not() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let jpeg = pictures::jpeg(20, 20, 3);
    let png = pictures::png(20, 20, 3);
    for name in [
        "media",
        "cover",
        "cover.",
        "a.webp",
        "a.jpg.txt",
        "a.png.exe",
    ] {
        let v = add_material(&app, &token, "image", Some(name), jpeg.clone()).await;
        assert_eq!(code(&v), 40113, "{name}: {v}");
        assert_hinted(&v, "unsupported file type");
    }
    // A thumb takes jpg/jpeg only.
    let v = add_material(&app, &token, "thumb", Some("t.png"), jpeg.clone()).await;
    assert_eq!(code(&v), 40113, "{v}");
    let v = add_material(&app, &token, "thumb", Some("T.JPEG"), jpeg.clone()).await;
    assert!(v.get("media_id").is_some(), "{v}");
    // No filename at all: the part is no file (41005).
    let v = add_material(&app, &token, "image", None, jpeg.clone()).await;
    assert_eq!(code(&v), 41005, "{v}");
    // Any accepted extension, whatever the bytes: the bytes decide the format.
    for (name, bytes, kind) in [
        ("cover.jpg", png.clone(), "mmbiz_png"),
        ("img.PNG", jpeg.clone(), "mmbiz_jpg"),
        ("/home/u/photo.gif", jpeg.clone(), "mmbiz_jpg"),
    ] {
        let v = add_material(&app, &token, "image", Some(name), bytes).await;
        assert!(
            v["url"].as_str().is_some_and(|u| u.contains(kind)),
            "{name}: {v}"
        );
        assert!(v.get("errcode").is_none(), "{v}");
    }
    // uploadimg: the name is not looked at.
    for name in ["media", "x.webp", "noextension"] {
        let v = app.upload(&token, name, jpeg.clone()).await;
        assert_eq!(code(&v), 0, "{name}: {v}");
    }
}

#[tokio::test]
async fn platform_quotas_give_token_its_documented_2000_a_day() {
    let app = spawn_with(|s| s.platform.platform_quotas = true).await;
    let c = app.create_app(AppType::Official).await;
    let appid = AppId::parse(&c.appid).expect("appid");
    let meta = app.storage.meta.as_ref();
    let now = app.clock.now();
    // 1,999 calls already made today (counted as the server counts them).
    for _ in 0..1999 {
        meta.count_call(
            &appid,
            "token",
            wximg_server::platform::quota::beijing_day(now),
            wximg_server::platform::quota::minute(now),
        )
        .await
        .expect("counted");
    }
    let url = token_path(&c.appid, &c.secret);
    let v = app.get_json(&url).await;
    assert!(v["access_token"].is_string(), "call 2000: {v}");
    let v = app.get_json(&url).await;
    assert_eq!(code(&v), 45009, "call 2001: {v}");
    assert_unhinted(&v, "reach max api daily quota limit");
    // uploadimg has no documented number: not limited.
    let token = {
        let v = app
            .post_json(
                "/cgi-bin/stable_token",
                &json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret}),
            )
            .await;
        v["access_token"]
            .as_str()
            .expect("stable token")
            .to_string()
    };
    assert_eq!(
        code(&app.upload(&token, "a.jpg", pictures::jpeg(8, 8, 4)).await),
        0
    );
    // Off by default: nothing counted, nothing refused.
    let plain = spawn_app().await;
    let c = plain.create_app(AppType::Official).await;
    let v = plain.get_json(&token_path(&c.appid, &c.secret)).await;
    assert!(v["access_token"].is_string(), "{v}");
}

#[test]
fn the_documented_limits() {
    use wximg_server::platform::quota::platform_limits;
    assert_eq!(platform_limits("token").daily, Some(2000));
    assert_eq!(platform_limits("stable_token").daily, Some(500_000));
    assert_eq!(platform_limits("stable_token").per_minute, Some(10_000));
    assert_eq!(platform_limits("draft_add").daily, Some(1000));
    assert_eq!(platform_limits("draft_get").daily, Some(500));
    assert_eq!(platform_limits("freepublish_submit").daily, Some(100));
    assert_eq!(platform_limits("freepublish_delete").daily, Some(10));
    assert_eq!(platform_limits("uploadimg").daily, None);
    assert_eq!(platform_limits("add_material").daily, None);
}

#[tokio::test]
async fn token_risk_codes_are_answered_through_fault_injection() {
    let app = spawn_with(|s| s.platform.allow_fault_header = true).await;
    let c = app.create_app(AppType::Official).await;
    let body = json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret});
    for fault in [
        ErrCode::IpNeedsConfirmation,
        ErrCode::IpRefusedForADay,
        ErrCode::IpRefusedForAnHour,
        ErrCode::AppSecretFrozen,
    ] {
        let n = fault.code().to_string();
        let v = answer(
            app.http
                .get(app.url(&token_path(&c.appid, &c.secret)))
                .header("X-Wximg-Fault", &n),
        )
        .await;
        assert_eq!(code(&v), fault.code(), "{v}");
        assert_unhinted(&v, fault.message());
        let v = answer(
            app.http
                .post(app.url("/cgi-bin/stable_token"))
                .header("X-Wximg-Fault", &n)
                .json(&body),
        )
        .await;
        assert_eq!(code(&v), fault.code(), "{v}");
    }
    // And through --faults rules, which name them by code.
    let rules = wximg_server::platform::faults::parse_rules("token:89503:1,stable_token:40243:1")
        .expect("rules parse");
    assert_eq!(rules[0].code, ErrCode::IpNeedsConfirmation);
    assert_eq!(rules[1].code, ErrCode::AppSecretFrozen);
}

/// A component with a component token, as `platform_component` makes them.
struct Platform {
    appid: AppId,
    secret: String,
    token: String,
}

async fn platform(app: &TestApp) -> Platform {
    let meta = app.storage.meta.as_ref();
    let (id, secret) = component::create_component(meta, "fidelity", app.clock.now())
        .await
        .expect("component");
    let ticket = component::current_ticket(meta, &id, app.clock.now())
        .await
        .expect("ticket")
        .expect("exists");
    let v = app
        .post_json(
            "/cgi-bin/component/api_component_token",
            &json!({"component_appid": id.as_str(), "component_appsecret": secret.expose(),
                    "component_verify_ticket": ticket}),
        )
        .await;
    Platform {
        appid: id,
        secret: secret.expose().to_string(),
        token: v["component_access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string(),
    }
}

async fn component_post(app: &TestApp, p: &Platform, api: &str, body: Value) -> Value {
    app.post_json(
        &format!(
            "/cgi-bin/component/{api}?component_access_token={}",
            p.token
        ),
        &body,
    )
    .await
}

#[tokio::test]
async fn component_codes_61004_61005_61011_61014() {
    let app = spawn_app().await;
    let p = platform(&app).await;
    let meta = app.storage.meta.as_ref();
    let url = "/cgi-bin/component/api_component_token";
    let token_call = |ticket: &str| {
        json!({"component_appid": p.appid.as_str(), "component_appsecret": p.secret,
               "component_verify_ticket": ticket})
    };
    // 61005: the component's own ticket, past its 12 hours (and no newer one fetched).
    let ticket = component::current_ticket(meta, &p.appid, app.clock.now())
        .await
        .expect("ticket")
        .expect("exists");
    app.clock.advance(12 * 3600 + 1);
    let v = app.post_json(url, &token_call(&ticket)).await;
    assert_eq!(code(&v), 61005, "{v}");
    assert_unhinted(&v, "component ticket is expired");
    let v = app.post_json(url, &token_call("ticket@@@never")).await;
    assert_eq!(code(&v), 61006, "{v}");
    // 61011: a well-formed appid of no component; a malformed one stays 40013.
    let v = app
        .post_json(
            url,
            &json!({"component_appid": "wx0000000000000000", "component_appsecret": p.secret,
                    "component_verify_ticket": ticket}),
        )
        .await;
    assert_eq!(code(&v), 61011, "{v}");
    assert_unhinted(&v, "invalid component");
    let v = app
        .post_json(
            url,
            &json!({"component_appid": "nope", "component_appsecret": p.secret}),
        )
        .await;
    assert_eq!(code(&v), 40013, "{v}");

    // 61014: an account's own token, or an authorizer's, on a component API.
    let p = platform(&app).await;
    let account = app.create_app(AppType::Official).await;
    let own = app.token(&account).await;
    let preauth = |token: String| {
        let appid = p.appid.to_string();
        let app = &app;
        async move {
            app.post_json(
                &format!(
                    "/cgi-bin/component/api_create_preauthcode?component_access_token={token}"
                ),
                &json!({"component_appid": appid}),
            )
            .await
        }
    };
    let v = preauth(own).await;
    assert_eq!(code(&v), 61014, "{v}");
    assert_unhinted(&v, "must use component token for component api");
    let code_ = component::authorize(
        meta,
        &p.appid,
        &AppId::parse(&account.appid).expect("id"),
        &[1],
        app.clock.now(),
    )
    .await
    .expect("authorized");
    let v = component_post(
        &app,
        &p,
        "api_query_auth",
        json!({"component_appid": p.appid.as_str(), "authorization_code": code_}),
    )
    .await;
    let authorizer_token = v["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    assert_eq!(code(&preauth(authorizer_token).await), 61014);
    assert_eq!(code(&preauth("unknown0token".into()).await), 40001);
    assert_eq!(code(&preauth(p.token.clone()).await), 0);

    // 61004: the component's IP whitelist (the record `wximg app whitelist` writes).
    wximg_server::platform::update(
        meta,
        &whitelist::whitelist_key(&p.appid),
        app.clock.now(),
        None,
        |_: Option<whitelist::Whitelist>| {
            Ok(whitelist::Whitelist {
                networks: vec!["192.0.2.0/24".into()],
            })
        },
    )
    .await
    .expect("whitelisted");
    let v = preauth(p.token.clone()).await;
    assert_eq!(code(&v), 61004, "{v}");
    assert_unhinted(&v, "access clientip is not registered");
    let ticket = component::current_ticket(meta, &p.appid, app.clock.now())
        .await
        .expect("ticket")
        .expect("exists");
    let v = app
        .post_json(
            url,
            &json!({"component_appid": p.appid.as_str(), "component_appsecret": p.secret,
                    "component_verify_ticket": ticket}),
        )
        .await;
    assert_eq!(code(&v), 61004, "{v}");
    wximg_server::platform::update(
        meta,
        &whitelist::whitelist_key(&p.appid),
        app.clock.now(),
        None,
        |_: Option<whitelist::Whitelist>| {
            Ok(whitelist::Whitelist {
                networks: vec!["127.0.0.0/8".into()],
            })
        },
    )
    .await
    .expect("whitelisted");
    assert_eq!(code(&preauth(p.token.clone()).await), 0);
}

#[tokio::test]
async fn codes_live_600_seconds_and_the_new_component_calls() {
    let app = spawn_app().await;
    let p = platform(&app).await;
    let meta = app.storage.meta.as_ref();
    let v = component_post(
        &app,
        &p,
        "api_create_preauthcode",
        json!({"component_appid": p.appid.as_str()}),
    )
    .await;
    assert_eq!(v["expires_in"], 600, "{v}");
    // The authorization code: 600 s.
    let official = app.create_app(AppType::Official).await;
    let service = app.create_app(AppType::Service).await;
    let id = |c: &crate::support::Creds| AppId::parse(&c.appid).expect("appid");
    let stale = component::authorize(meta, &p.appid, &id(&official), &[1, 11], app.clock.now())
        .await
        .expect("authorized");
    app.clock.advance(601);
    let v = component_post(
        &app,
        &p,
        "api_query_auth",
        json!({"component_appid": p.appid.as_str(), "authorization_code": stale}),
    )
    .await;
    assert_eq!(code(&v), 61010, "{v}");
    component::authorize(meta, &p.appid, &id(&official), &[1, 11], app.clock.now())
        .await
        .expect("authorized");
    app.clock.advance(5);
    component::authorize(meta, &p.appid, &id(&service), &[11], app.clock.now())
        .await
        .expect("authorized");

    // api_get_authorizer_info
    let v = component_post(
        &app,
        &p,
        "api_get_authorizer_info",
        json!({"component_appid": p.appid.as_str(), "authorizer_appid": service.appid}),
    )
    .await;
    assert!(v.get("errcode").is_none(), "{v}");
    let info = &v["authorizer_info"];
    assert_eq!(info["service_type_info"]["id"], 2, "{v}");
    assert_eq!(info["verify_type_info"]["id"], -1, "{v}");
    assert!(
        info["user_name"]
            .as_str()
            .is_some_and(|u| u.starts_with("gh_") && u.len() == 15),
        "{v}"
    );
    assert!(
        info["nick_name"].is_string() && info["business_info"]["open_pay"] == 0,
        "{v}"
    );
    assert_eq!(
        v["authorization_info"]["authorizer_appid"],
        service.appid.as_str()
    );
    assert_eq!(
        v["authorization_info"]["func_info"],
        json!([{"funcscope_category": {"id": 11}}])
    );
    let stranger = app.create_app(AppType::Official).await;
    let v = component_post(
        &app,
        &p,
        "api_get_authorizer_info",
        json!({"component_appid": p.appid.as_str(), "authorizer_appid": stranger.appid}),
    )
    .await;
    assert_eq!(code(&v), 61003, "{v}");

    // api_get_authorizer_list: oldest first, paged, 1..=500.
    let list = |offset: i64, count: i64| {
        component_post(
            &app,
            &p,
            "api_get_authorizer_list",
            json!({"component_appid": p.appid.as_str(), "offset": offset, "count": count}),
        )
    };
    let v = list(0, 100).await;
    assert_eq!(v["total_count"], 2, "{v}");
    assert_eq!(
        v["list"][0]["authorizer_appid"],
        official.appid.as_str(),
        "{v}"
    );
    assert_eq!(
        v["list"][1]["authorizer_appid"],
        service.appid.as_str(),
        "{v}"
    );
    assert!(
        v["list"][0]["auth_time"].as_i64().is_some_and(|t| t > 0),
        "{v}"
    );
    let v = list(1, 1).await;
    assert_eq!(v["total_count"], 2);
    assert_eq!(v["list"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["list"][0]["authorizer_appid"], service.appid.as_str());
    for (offset, count) in [(0, 0), (0, 501), (-1, 10)] {
        assert_eq!(code(&list(offset, count).await), 47001, "{offset} {count}");
    }
    component::revoke(meta, &p.appid, &id(&official), app.clock.now())
        .await
        .expect("revoked");
    assert_eq!(list(0, 10).await["total_count"], 1);

    // api_start_push_ticket: a new ticket now, the old one still good; a wrong secret is
    // 40125, no token needed.
    let before = component::current_ticket(meta, &p.appid, app.clock.now())
        .await
        .expect("ticket")
        .expect("exists");
    let start = |secret: String| {
        let body = json!({"component_appid": p.appid.as_str(), "component_secret": secret});
        let app = &app;
        async move {
            app.post_json("/cgi-bin/component/api_start_push_ticket", &body)
                .await
        }
    };
    let v = start(p.secret.clone()).await;
    assert_eq!(v, json!({"errcode": 0, "errmsg": "ok"}));
    let after = component::current_ticket(meta, &p.appid, app.clock.now())
        .await
        .expect("ticket")
        .expect("exists");
    assert_ne!(before, after);
    for ticket in [&before, &after] {
        let v = app
            .post_json(
                "/cgi-bin/component/api_component_token",
                &json!({"component_appid": p.appid.as_str(), "component_appsecret": p.secret,
                        "component_verify_ticket": ticket}),
            )
            .await;
        assert!(v["component_access_token"].is_string(), "{v}");
    }
    assert_eq!(code(&start("0".repeat(32)).await), 40125);
    assert_eq!(
        code(
            &app.post_json(
                "/cgi-bin/component/api_start_push_ticket",
                &json!({"component_appid": "wx0000000000000000", "component_secret": p.secret}),
            )
            .await
        ),
        61011
    );
}
