//! The platform features through the real binary: `wximg component …`, `wximg app
//! quota`, `wximg app whitelist` and the `serve` flags (`--faults`,
//! `--allow-fault-header`, `--trusted-cidr`, `--debug-page`), each checked on the wire
//! of a running `wximg serve`.

use std::io::Cursor;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{self, Backend, Server, create_app};

fn wximg(data: &Path, args: &[&str]) -> std::process::Output {
    let out = support::wximg(Backend::Embedded(data), args);
    assert!(
        out.status.success(),
        "wximg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_line(out: &std::process::Output) -> Value {
    let first = out.stdout.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice(first).expect("a JSON line")
}

fn jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 24, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, seed]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner()
}

/// The JSON answer to `req`.
async fn answer(req: reqwest::RequestBuilder) -> Value {
    req.send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// The HTTP status of `{base}/debug/`.
async fn debug_page_status(http: &reqwest::Client, base: &str) -> reqwest::StatusCode {
    http.get(format!("{base}/debug/"))
        .send()
        .await
        .expect("debug")
        .status()
}

async fn upload(http: &reqwest::Client, url: String, header: Option<(&str, &str)>) -> Value {
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(jpeg(rand_seed())).file_name("a.jpg"),
    );
    let mut req = http.post(url).multipart(form);
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    answer(req).await
}

fn rand_seed() -> u8 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        % 251) as u8
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn component_commands_drive_the_whole_third_party_flow() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let created = json_line(&wximg(d, &["component", "create", "--json"]));
    let component = created["appid"].as_str().expect("appid").to_string();
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(
        component.starts_with("wx") && secret.len() == 32,
        "{created}"
    );
    let ticket = String::from_utf8_lossy(
        &wximg(d, &["component", "ticket", "--component", &component]).stdout,
    )
    .trim()
    .to_string();
    assert!(!ticket.is_empty());
    let account = create_app(Backend::Embedded(d), "official").appid;
    let code = json_line(&wximg(
        d,
        &[
            "component",
            "authorize",
            "--component",
            &component,
            "--authorizer",
            &account,
            "--sets",
            "1,11",
            "--json",
        ],
    ))["authorization_code"]
        .as_str()
        .expect("authorization_code")
        .to_string();

    let server = Server::start(Backend::Embedded(d), &[]);
    let base = &server.base;
    let http = crate::support::http();
    let post = |path: String, body: Value| answer(http.post(format!("{base}{path}")).json(&body));
    let v = post(
        "/cgi-bin/component/api_component_token".into(),
        json!({"component_appid": component, "component_appsecret": secret, "component_verify_ticket": ticket}),
    )
    .await;
    let ctoken = v["component_access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let v = post(
        format!("/cgi-bin/component/api_query_auth?component_access_token={ctoken}"),
        json!({"component_appid": component, "authorization_code": code}),
    )
    .await;
    let access = v["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {v}"))
        .to_string();
    let url = format!("{base}/cgi-bin/media/uploadimg?access_token={access}");
    let v = upload(&http, url.clone(), None).await;
    assert_eq!(errcode(&v), 0, "{v}");

    // Revoked from the CLI while the server runs: the token ends at once.
    wximg(
        d,
        &[
            "component",
            "revoke",
            "--component",
            &component,
            "--authorizer",
            &account,
        ],
    );
    assert_eq!(errcode(&upload(&http, url, None).await), 40001);
}

/// `wximg component rotate-secret` and `delete` while the server runs: the old secret and
/// what it minted end at once; deletion takes the component and all of it; a wrong appid
/// says what to do next.
#[tokio::test]
async fn component_rotate_secret_and_delete_take_effect_on_a_running_server() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let created = json_line(&wximg(d, &["component", "create", "--json"]));
    let component = created["appid"].as_str().expect("appid").to_string();
    let secret = created["secret"].as_str().expect("secret").to_string();
    let ticket = || {
        String::from_utf8_lossy(
            &wximg(d, &["component", "ticket", "--component", &component]).stdout,
        )
        .trim()
        .to_string()
    };
    let server = Server::start(Backend::Embedded(d), &[]);
    let base = &server.base;
    let http = crate::support::http();
    let post = |path: String, body: Value| answer(http.post(format!("{base}{path}")).json(&body));
    let token_call = |secret: &str, ticket: &str| json!({"component_appid": component, "component_appsecret": secret, "component_verify_ticket": ticket});
    let v = post(
        "/cgi-bin/component/api_component_token".into(),
        token_call(&secret, &ticket()),
    )
    .await;
    let ctoken = v["component_access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let preauth = |token: String| {
        post(
            format!("/cgi-bin/component/api_create_preauthcode?component_access_token={token}"),
            json!({"component_appid": component}),
        )
    };
    assert_eq!(errcode(&preauth(ctoken.clone()).await), 0);

    let rotated = json_line(&wximg(
        d,
        &["component", "rotate-secret", &component, "--json"],
    ));
    assert_eq!(rotated["appid"], component.as_str(), "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_string();
    assert!(new_secret.len() == 32 && new_secret != secret, "{rotated}");
    assert_eq!(
        errcode(&preauth(ctoken).await),
        40001,
        "the old token ended"
    );
    let url = "/cgi-bin/component/api_component_token".to_string();
    assert_eq!(
        errcode(&post(url.clone(), token_call(&secret, &ticket())).await),
        40125
    );
    let v = post(url.clone(), token_call(&new_secret, &ticket())).await;
    let ctoken = v["component_access_token"]
        .as_str()
        .expect("token")
        .to_string();

    let deleted = json_line(&wximg(d, &["component", "delete", &component, "--json"]));
    assert_eq!(deleted["deleted"], true, "{deleted}");
    assert_eq!(
        errcode(&preauth(ctoken).await),
        40001,
        "its tokens went with it"
    );
    assert_eq!(
        errcode(&post(url, token_call(&new_secret, "x")).await),
        61011,
        "no such component: invalid component"
    );
    assert!(
        !String::from_utf8_lossy(&wximg(d, &["component", "list"]).stdout).contains(&component)
    );
    // A second time: no such component, and where to look.
    for command in ["delete", "rotate-secret"] {
        let out = support::wximg(Backend::Embedded(d), &["component", command, &component]);
        assert!(!out.status.success(), "{command} of a deleted component");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("no component {component}"))
                && stderr.contains("wximg component list"),
            "{command}: {stderr}"
        );
    }
}

#[tokio::test]
async fn app_quota_and_whitelist_commands_change_what_the_server_answers() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let support::App { appid, secret, .. } = create_app(Backend::Embedded(d), "official");
    let shown = json_line(&wximg(
        d,
        &[
            "app", "quota", &appid, "--api", "token", "--daily", "2", "--json",
        ],
    ));
    assert_eq!(shown["daily"], 2, "{shown}");
    assert_eq!(shown["api"], "token");

    let server = Server::start(Backend::Embedded(d), &[]);
    let base = &server.base;
    let http = crate::support::http();
    let token_url =
        format!("{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}");
    let get = || answer(http.get(&token_url));
    assert_eq!(errcode(&get().await), 0);
    assert_eq!(errcode(&get().await), 0);
    assert_eq!(errcode(&get().await), 45009);
    let shown = json_line(&wximg(
        d,
        &["app", "quota", &appid, "--api", "token", "--json"],
    ));
    assert_eq!(shown["used_today"], 3, "{shown}");
    wximg(d, &["app", "quota", &appid, "--api", "token", "--reset"]);
    assert_eq!(errcode(&get().await), 0);
    wximg(
        d,
        &["app", "quota", &appid, "--api", "token", "--unlimited"],
    );

    let listed = json_line(&wximg(
        d,
        &[
            "app",
            "whitelist",
            &appid,
            "--add",
            "10.0.0.0/8",
            "--add",
            "192.0.2.1",
            "--json",
        ],
    ));
    assert_eq!(listed["whitelist"], json!(["10.0.0.0/8", "192.0.2.1/32"]));
    let v = get().await;
    assert_eq!(errcode(&v), 40164);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: "),
        "{v}"
    );
    wximg(d, &["app", "whitelist", &appid, "--add", "127.0.0.1"]);
    assert_eq!(errcode(&get().await), 0);
    wximg(d, &["app", "whitelist", &appid, "--remove", "127.0.0.1"]);
    assert_eq!(errcode(&get().await), 40164);
    let cleared = json_line(&wximg(
        d,
        &["app", "whitelist", &appid, "--clear", "--json"],
    ));
    assert_eq!(cleared["whitelist"], json!([]));
    assert_eq!(errcode(&get().await), 0);
}

#[tokio::test]
async fn serve_flags_faults_cloud_calls_and_the_debug_page() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let support::App { appid, secret, .. } = create_app(Backend::Embedded(d), "official");
    let server = Server::start(
        Backend::Embedded(d),
        &[
            "--faults",
            "stable_token:-1:1",
            "--allow-fault-header",
            "--trusted-cidr",
            "127.0.0.1/32",
            "--debug-page=false",
        ],
    );
    let base = &server.base;
    let http = crate::support::http();
    let v = answer(
        http.post(format!("{base}/cgi-bin/stable_token"))
            .json(&json!({"grant_type": "client_credential", "appid": appid, "secret": secret})),
    )
    .await;
    assert_eq!(errcode(&v), -1, "{v}");
    let v = upload(
        &http,
        format!("{base}/cgi-bin/media/uploadimg"),
        Some(("X-WX-APPID", &appid)),
    )
    .await;
    assert_eq!(errcode(&v), 0, "a cloud call from a trusted network: {v}");
    let v = upload(
        &http,
        format!("{base}/cgi-bin/media/uploadimg"),
        Some(("X-Wximg-Fault", "45009")),
    )
    .await;
    assert_eq!(errcode(&v), 45009, "{v}");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for (endpoint, code) in [("stable_token", "-1"), ("uploadimg", "45009")] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("wximg_faults_injected_total{")
                    && l.contains(&format!("endpoint=\"{endpoint}\""))
                    && l.contains(&format!("errcode=\"{code}\""))),
            "{metrics}"
        );
    }
    assert_eq!(
        debug_page_status(&http, base).await,
        404,
        "--debug-page=false"
    );

    // Embedded storage: the page is on by default.
    let other = tempfile::tempdir().expect("tempdir");
    let second = Server::start(Backend::Embedded(other.path()), &[]);
    assert_eq!(debug_page_status(&http, &second.base).await, 200);
}

/// `serve --platform-quotas`: `/cgi-bin/token` gets the platform's documented 2,000 calls
/// a day, so an integration that fetches a token per request meets 45009 here first.
#[tokio::test]
async fn serve_platform_quotas_refuse_the_2001st_token_call() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let support::App { appid, secret, .. } = create_app(Backend::Embedded(d), "official");
    let server = Server::start(Backend::Embedded(d), &["--platform-quotas"]);
    let url = format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}",
        server.base
    );
    let http = crate::support::http();
    for call in 1..=2000 {
        let v = answer(http.get(&url)).await;
        assert!(v["access_token"].is_string(), "call {call}: {v}");
    }
    let v = answer(http.get(&url)).await;
    assert_eq!(errcode(&v), 45009, "call 2001: {v}");
    // `wximg app quota` lifts it for the app, as the console's own limit would.
    let out = wximg(
        d,
        &["app", "quota", &appid, "--api", "token", "--daily", "5000"],
    );
    assert!(out.status.success());
    let v = answer(http.get(&url)).await;
    assert!(v["access_token"].is_string(), "{v}");
}
