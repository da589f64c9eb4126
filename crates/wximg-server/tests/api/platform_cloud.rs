//! Cloud calls: from a `--trusted-cidr` network, `uploadimg` may omit the token and name
//! the account with the `X-WX-APPID` header; from anywhere else it may not, nor may a web
//! page of another site, nor may `from_appid` in the query alone.

use crate::support::{code, pictures, spawn_app, spawn_with};
use wximg_proto::{AppId, AppType};
use wximg_server::platform::whitelist;

/// An upload without a token, to `uploadimg{query}` with `headers`.
async fn cloud_upload(
    app: &crate::support::TestApp,
    query: &str,
    headers: &[(&str, &str)],
) -> serde_json::Value {
    cloud_upload_of(app, query, headers, pictures::jpeg(12, 12, 3)).await
}

/// [`cloud_upload`] of these bytes.
async fn cloud_upload_of(
    app: &crate::support::TestApp,
    query: &str,
    headers: &[(&str, &str)],
    bytes: Vec<u8>,
) -> serde_json::Value {
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(bytes).file_name("c.jpg"),
    );
    let mut req = app
        .http
        .post(app.url(&format!("/cgi-bin/media/uploadimg{query}")))
        .multipart(form);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    crate::support::answer(req).await
}

#[tokio::test]
async fn trusted_networks_may_name_the_account_instead_of_sending_a_token() {
    let app = spawn_with(|s| {
        s.platform.trusted_cidrs = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    let v = cloud_upload(&app, "", &[("X-WX-APPID", &c.appid)]).await;
    assert_eq!(code(&v), 0, "{v}");
    assert!(v["url"].as_str().unwrap_or("").contains("/mmbiz_jpg/"));
    // from_appid may repeat the header's account.
    let v = cloud_upload(
        &app,
        &format!("?from_appid={}", c.appid),
        &[("X-WX-APPID", &c.appid)],
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    // Naming nobody is still 41001; naming an unknown account 40013.
    assert_eq!(code(&cloud_upload(&app, "", &[]).await), 41001);
    assert_eq!(
        code(&cloud_upload(&app, "", &[("X-WX-APPID", "wx0000000000000000")]).await),
        40013
    );
    // The account's type still decides: a mini program may not call uploadimg.
    let mini = app.create_app(AppType::MiniProgram).await;
    assert_eq!(
        code(&cloud_upload(&app, "", &[("X-WX-APPID", &mini.appid)]).await),
        48001
    );
}

#[tokio::test]
async fn outside_trusted_networks_the_header_is_ignored() {
    // No trusted networks at all.
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    assert_eq!(
        code(&cloud_upload(&app, "", &[("X-WX-APPID", &c.appid)]).await),
        41001
    );
    // A trusted network that is not the caller's.
    let app = spawn_with(|s| {
        s.platform.trusted_cidrs = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    assert_eq!(
        code(&cloud_upload(&app, "", &[("X-WX-APPID", &c.appid)]).await),
        41001
    );
    // A client claiming, through X-Forwarded-For, to be inside: not believed.
    let headers = [
        ("x-wx-appid", c.appid.as_str()),
        ("x-forwarded-for", "10.0.0.5"),
    ];
    assert_eq!(code(&cloud_upload(&app, "", &headers).await), 41001);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_decides() {
    let app = spawn_with(|s| {
        s.platform.trusted_cidrs = vec!["10.0.0.0/8".parse().expect("cidr")];
        s.platform.trust_forwarded_for = vec!["127.0.0.1".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    for (xff, want) in [
        ("10.0.0.5", 0),
        ("192.0.2.1", 41001),
        ("10.9.9.9, 192.0.2.1", 41001),
    ] {
        let headers = [("x-wx-appid", c.appid.as_str()), ("x-forwarded-for", xff)];
        assert_eq!(
            code(&cloud_upload(&app, "", &headers).await),
            want,
            "XFF {xff}"
        );
    }
}

/// Issue #12, point 5: a client behind the trusted proxy that writes a malformed entry in
/// its own `X-Forwarded-For` must not become the proxy (whose network is trusted and
/// whitelisted here). It used to: the whole header was dropped and the caller was the
/// proxy, so a tokenless cloud upload got errcode 0 and a whitelisted token call
/// succeeded from outside.
#[tokio::test]
async fn a_malformed_forwarded_for_never_makes_the_caller_the_proxy() {
    let app = spawn_with(|s| {
        // The proxy (127.0.0.1) sits inside the trusted network, as when the cloud
        // callers and the proxy share a host or a subnet.
        s.platform.trusted_cidrs = vec!["127.0.0.0/8".parse().expect("cidr")];
        s.platform.trust_forwarded_for = vec!["127.0.0.1".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    wximg_server::platform::update(
        app.storage.meta.as_ref(),
        &whitelist::whitelist_key(&AppId::parse(&c.appid).expect("appid")),
        app.clock.now(),
        None,
        |_: Option<whitelist::Whitelist>| {
            Ok(whitelist::Whitelist {
                networks: vec!["127.0.0.0/8".into()],
            })
        },
    )
    .await
    .expect("whitelist set");
    let token_url = app.url(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
        c.appid, c.secret
    ));
    // What reaches wximg when the client 192.0.2.1 sends its own header through a proxy
    // that appends (nginx's $proxy_add_x_forwarded_for), or passes it on and adds a line.
    let outside: &[&[&str]] = &[
        &["garbage, 192.0.2.1"],
        &[", 192.0.2.1"],
        &["192.0.2.9:80, 192.0.2.1"],
        &["[2001:db8::1], 192.0.2.1"],
        &["[2001:db8::1]:443, 192.0.2.1"],
        &["garbage", "192.0.2.1"],
        // A caller that cannot be known at all: neither trusted nor whitelisted.
        &["garbage"],
        &[""],
        &["192.0.2.1:5000"],
        &["[2001:db8::1]"],
        &["127.0.0.5, garbage"],
    ];
    for lines in outside {
        let mut headers = vec![("x-wx-appid", c.appid.as_str())];
        headers.extend(lines.iter().map(|l| ("x-forwarded-for", *l)));
        let v = cloud_upload(&app, "", &headers).await;
        assert_eq!(code(&v), 41001, "cloud upload with XFF {lines:?}: {v}");
        let mut req = app.http.get(&token_url);
        for line in *lines {
            req = req.header("x-forwarded-for", *line);
        }
        let v = crate::support::answer(req).await;
        assert_eq!(
            code(&v),
            40164,
            "whitelisted token call with XFF {lines:?}: {v}"
        );
    }
    // A well-formed header from inside still works, so the refusals above are the
    // header's doing.
    let inside = [
        ("x-wx-appid", c.appid.as_str()),
        ("x-forwarded-for", "garbage, 127.0.0.9"),
    ];
    assert_eq!(code(&cloud_upload(&app, "", &inside).await), 0);
    let req = app
        .http
        .get(&token_url)
        .header("x-forwarded-for", "127.0.0.9");
    assert_eq!(code(&crate::support::answer(req).await), 0);
}

/// Issue #12, point 5: a cross-site page in a developer's browser on the trusted network
/// can send a "simple" multipart POST with any query string, but no custom header. It
/// used to make a cloud call with `from_appid` in the query (errcode 0), and one with the
/// header and a foreign `Origin` went through as well.
#[tokio::test]
async fn only_the_header_names_a_cloud_caller_and_foreign_pages_are_refused() {
    let app = spawn_with(|s| {
        s.platform.trusted_cidrs = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    let other = app.create_app(AppType::Official).await;
    let from = format!("?from_appid={}", c.appid);
    let header = ("X-WX-APPID", c.appid.as_str());
    // The query alone names nobody.
    let v = cloud_upload(&app, &from, &[]).await;
    assert_eq!(code(&v), 41001, "from_appid without the header: {v}");
    // With the header, from_appid is resource reuse: the call is made as that account
    // (see `resource_reuse_makes_the_call_as_from_appid`); one that names nobody is the
    // platform's "wrong subject", 48001.
    let v = cloud_upload(&app, "?from_appid=wx0000000000000000", &[header]).await;
    assert_eq!(code(&v), 48001, "from_appid naming no account: {v}");
    let v = cloud_upload(&app, "?from_appid=nonsense", &[header]).await;
    assert_eq!(code(&v), 48001, "from_appid not an appid: {v}");
    let _ = other;
    // A web page of another origin or site, even with the header.
    for refused in [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        let v = cloud_upload(&app, &from, &[header, refused]).await;
        assert_eq!(code(&v), 48001, "{refused:?}: {v}");
    }
    // The server's own pages (the /debug/ page) still may.
    let own = [
        header,
        ("Origin", app.base.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let v = cloud_upload(&app, "", &own).await;
    assert_eq!(code(&v), 0, "same origin: {v}");

    // Every endpoint that takes credentials refuses a foreign page, before anything else.
    let evil = "http://evil.example";
    let token_url = app.url(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
        c.appid, c.secret
    ));
    let v = crate::support::answer(app.http.get(&token_url).header("Origin", evil)).await;
    assert_eq!(code(&v), 48001, "token: {v}");
    let v =
        crate::support::answer(app.http.get(&token_url).header("Origin", app.base.as_str())).await;
    assert_eq!(code(&v), 0, "token from the same origin: {v}");
    let token = v["access_token"].as_str().unwrap_or_default().to_string();
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(pictures::jpeg(10, 10, 4)).file_name("t.jpg"),
    );
    let req = app
        .http
        .post(app.url(&format!("/cgi-bin/media/uploadimg?access_token={token}")))
        .header("Origin", evil)
        .multipart(form);
    assert_eq!(
        code(&crate::support::answer(req).await),
        48001,
        "uploadimg with a token"
    );
    let body = serde_json::json!({"grant_type": "client_credential", "appid": c.appid, "secret": c.secret});
    for path in [
        "/cgi-bin/stable_token",
        "/cgi-bin/component/api_component_token",
        "/cgi-bin/component/api_create_preauthcode",
        "/cgi-bin/component/api_query_auth",
        "/cgi-bin/component/api_authorizer_token",
    ] {
        let req = app
            .http
            .post(app.url(path))
            .header("Origin", evil)
            .json(&body);
        assert_eq!(code(&crate::support::answer(req).await), 48001, "{path}");
    }
}

/// The open-API service's resource reuse: the header names the environment's account,
/// `from_appid` the account the call is made as (its pictures, its quota, its type).
#[tokio::test]
async fn resource_reuse_makes_the_call_as_from_appid() {
    let app = spawn_with(|s| {
        s.platform.trusted_cidrs = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let owner = app.create_app(AppType::Official).await;
    let reuser = app.create_app(AppType::Service).await;
    let mini = app.create_app(AppType::MiniProgram).await;
    let header = [("X-WX-APPID", owner.appid.as_str())];
    // Bytes of this test alone: pictures are shared by content, and the first uploader's
    // row is the one kept (the scale-out database is shared by every test).
    let bytes = pictures::jpeg(14, 11, rand::random());
    let v = cloud_upload_of(
        &app,
        &format!("?from_appid={}", reuser.appid),
        &header,
        bytes,
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    let id = v["url"]
        .as_str()
        .and_then(|u| u.split('/').nth_back(1))
        .expect("an id in the url")
        .to_string();
    let record = app
        .storage
        .meta
        .image(&wximg_proto::ImageId::parse(&id).expect("image id"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        record.appid.as_str(),
        reuser.appid,
        "stored as from_appid's"
    );
    // The account the call is made as decides what it may do.
    let v = cloud_upload(&app, &format!("?from_appid={}", mini.appid), &header).await;
    assert_eq!(code(&v), 48001, "{v}");
}

/// A cloud call's answer carries `x-openapi-seqid` (how clients tell the cloud path was
/// taken); a token call's does not.
#[tokio::test]
async fn cloud_calls_answer_with_an_openapi_seqid() {
    let app = spawn_with(|s| {
        s.platform.trusted_cidrs = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    let send = |headers: Vec<(&'static str, String)>, query: String| {
        let form = reqwest::multipart::Form::new().part(
            "media",
            reqwest::multipart::Part::bytes(pictures::jpeg(12, 12, 5)).file_name("c.jpg"),
        );
        let mut req = app
            .http
            .post(app.url(&format!("/cgi-bin/media/uploadimg{query}")))
            .multipart(form);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.send()
    };
    let resp = send(vec![("X-WX-APPID", c.appid.clone())], String::new())
        .await
        .expect("sent");
    let seqid = resp
        .headers()
        .get("x-openapi-seqid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("x-openapi-seqid on a cloud call");
    assert_eq!(seqid.len(), 32, "{seqid}");
    let v: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(code(&v), 0, "{v}");
    // Each call its own.
    let again = send(vec![("X-WX-APPID", c.appid.clone())], String::new())
        .await
        .expect("sent");
    assert_ne!(
        again
            .headers()
            .get("x-openapi-seqid")
            .and_then(|v| v.to_str().ok()),
        Some(seqid.as_str())
    );
    // A refusal after the caller was known still carries it (a mini program may not).
    let mini = app.create_app(AppType::MiniProgram).await;
    let resp = send(vec![("X-WX-APPID", mini.appid.clone())], String::new())
        .await
        .expect("sent");
    assert!(resp.headers().contains_key("x-openapi-seqid"));
    // A token call: none.
    let token = app.token(&c).await;
    let resp = send(vec![], format!("?access_token={token}"))
        .await
        .expect("sent");
    assert!(!resp.headers().contains_key("x-openapi-seqid"));
}

/// `cloudbase_access_token` in the query, or the `X-WX-CLOUDBASE-ACCESS-TOKEN` header as
/// a container receives it, stands in for `access_token` (from anywhere: it is a token).
#[tokio::test]
async fn cloudbase_access_token_is_taken_in_the_query_and_the_header() {
    let app = spawn_app().await;
    let c = app.create_app(AppType::Official).await;
    let token = app.token(&c).await;
    let v = cloud_upload(&app, &format!("?cloudbase_access_token={token}"), &[]).await;
    assert_eq!(code(&v), 0, "{v}");
    let v = cloud_upload(&app, "", &[("X-WX-CLOUDBASE-ACCESS-TOKEN", &token)]).await;
    assert_eq!(code(&v), 0, "{v}");
    // access_token wins when both are given; a wrong one is refused like any token.
    let v = cloud_upload(
        &app,
        &format!("?access_token=unknown0token&cloudbase_access_token={token}"),
        &[],
    )
    .await;
    assert_eq!(code(&v), 40001, "{v}");
    let v = cloud_upload(&app, "?cloudbase_access_token=unknown0token", &[]).await;
    assert_eq!(code(&v), 40001, "{v}");
    let v = cloud_upload(&app, "?cloudbase_access_token=not%20a%20token", &[]).await;
    assert_eq!(code(&v), 40014, "{v}");
}
