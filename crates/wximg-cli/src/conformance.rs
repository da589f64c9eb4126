//! `wximg conformance --base-url URL --appid … --secret …`: the wire checks of this
//! project, run against any server — a wximg, or the real platform — printed as a
//! pass/fail table.
//!
//! Each check sends one request and compares what matters to clients: the `errcode`,
//! the success body's fields, the frame (HTTP 200, `application/json; encoding=utf-8`,
//! a rid at the end of every error message) and, for uploads, that the returned URL
//! serves a picture. It sends only what is needed — two small pictures are uploaded (a
//! JPEG and a PNG), `stable_token` is never force-refreshed (that would end the app's
//! current token and spend one of its 20 daily forces) — and it deletes nothing, since
//! it makes nothing that can be deleted.
//!
//! Exit status 0 only when every check passed.

use std::io::Cursor;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

#[derive(clap::Args, Debug)]
pub struct ConformanceArgs {
    /// The server to check: a wximg's http://host:port, or the real service.
    #[arg(long, env = "WXIMG_BASE_URL")]
    pub base_url: String,
    /// An app of that server allowed to call uploadimg (an official or service account).
    #[arg(long, env = "WXIMG_APPID")]
    pub appid: String,
    #[arg(long, env = "WXIMG_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Print one JSON object per check instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// What one check found.
struct Outcome {
    name: &'static str,
    expected: String,
    got: String,
    pass: bool,
}

/// A parsed API answer and the frame around it.
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl Answer {
    fn errcode(&self) -> i64 {
        self.body["errcode"].as_i64().unwrap_or(0)
    }

    /// HTTP 200, the platform's Content-Type and, for errors, a rid at the end of errmsg.
    fn frame_ok(&self) -> Result<(), String> {
        if self.status != 200 {
            return Err(format!("HTTP {}", self.status));
        }
        if !self.content_type.starts_with("application/json") {
            return Err(format!("Content-Type {:?}", self.content_type));
        }
        if self.errcode() != 0 {
            let msg = self.body["errmsg"].as_str().unwrap_or("");
            if !ends_with_rid(msg) {
                return Err(format!("errmsg {msg:?} has no rid"));
            }
        }
        Ok(())
    }
}

/// `… rid: 64d0640d-1a2b3c4d-5e6f7a8b` at the end (after a space or a comma).
fn ends_with_rid(msg: &str) -> bool {
    let Some((_, rid)) = msg.rsplit_once("rid: ") else {
        return false;
    };
    let groups: Vec<&str> = rid.split('-').collect();
    groups.len() == 3
        && groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

struct Checker {
    http: reqwest::Client,
    base: String,
    outcomes: Vec<Outcome>,
}

impl Checker {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let resp = request
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
        let body = serde_json::from_str(&text)
            .map_err(|_| format!("not JSON: {:?}", text.chars().take(80).collect::<String>()))?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    fn record(
        &mut self,
        name: &'static str,
        expected: impl Into<String>,
        got: Result<String, String>,
    ) {
        let expected = expected.into();
        let (got, pass) = match got {
            Ok(g) => (g, true),
            Err(g) => (g, false),
        };
        self.outcomes.push(Outcome {
            name,
            expected,
            got,
            pass,
        });
    }

    /// A check whose whole expectation is one errcode (and a well-framed answer).
    async fn expect_code(
        &mut self,
        name: &'static str,
        code: i64,
        request: reqwest::RequestBuilder,
    ) {
        let got = match self.answer(request).await {
            Ok(a) => match a.frame_ok() {
                Err(e) => Err(e),
                Ok(()) if a.errcode() == code => Ok(code.to_string()),
                Ok(()) => Err(format!(
                    "{} {}",
                    a.errcode(),
                    a.body["errmsg"].as_str().unwrap_or("")
                )),
            },
            Err(e) => Err(e),
        };
        self.record(name, code.to_string(), got);
    }
}

fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 0x80])
    });
    let mut out = Cursor::new(Vec::new());
    // Encoding an in-memory picture cannot fail; an empty Vec would fail the check loudly.
    let _ = image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg);
    out.into_inner()
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([0x20, (x * 6) as u8, (y * 8) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    let _ = image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}

fn media(bytes: Vec<u8>, name: &str) -> Form {
    Form::new().part("media", Part::bytes(bytes).file_name(name.to_string()))
}

pub async fn run(args: ConformanceArgs) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("wximg-conformance/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut c = Checker {
        http,
        base: args.base_url.trim_end_matches('/').to_string(),
        outcomes: Vec::new(),
    };
    let (appid, secret) = (args.appid.as_str(), args.secret.as_str());
    let token_url = |grant: &str, appid: &str, secret: &str| {
        format!("/cgi-bin/token?grant_type={grant}&appid={appid}&secret={secret}")
    };

    // --- /cgi-bin/token
    let mut token = String::new();
    let got = match c
        .answer(
            c.http
                .get(c.url(&token_url("client_credential", appid, secret))),
        )
        .await
    {
        Ok(a) => match (
            a.frame_ok(),
            a.body["access_token"].as_str(),
            a.body["expires_in"].as_i64(),
        ) {
            (Err(e), _, _) => Err(e),
            (Ok(()), Some(t), Some(7200)) if !t.is_empty() && a.body.get("errcode").is_none() => {
                token = t.to_string();
                Ok("access_token, expires_in 7200".into())
            }
            _ => Err(a.body.to_string()),
        },
        Err(e) => Err(e),
    };
    c.record(
        "token: valid credentials",
        "access_token, expires_in 7200",
        got,
    );
    c.expect_code(
        "token: grant_type wrong",
        40002,
        c.http.get(c.url(&token_url("password", appid, secret))),
    )
    .await;
    c.expect_code(
        "token: no appid",
        41002,
        c.http.get(c.url(&format!(
            "/cgi-bin/token?grant_type=client_credential&secret={secret}"
        ))),
    )
    .await;
    c.expect_code(
        "token: no secret",
        41004,
        c.http.get(c.url(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={appid}"
        ))),
    )
    .await;
    c.expect_code(
        "token: unknown appid",
        40013,
        c.http.get(c.url(&token_url(
            "client_credential",
            "wx0000000000000000",
            secret,
        ))),
    )
    .await;
    let wrong_secret = if secret.starts_with('0') {
        "1".repeat(32)
    } else {
        "0".repeat(32)
    };
    c.expect_code(
        "token: wrong secret",
        40125,
        c.http
            .get(c.url(&token_url("client_credential", appid, &wrong_secret))),
    )
    .await;

    // --- /cgi-bin/stable_token (never force_refresh)
    let stable_body = json!({"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": false});
    let got = match c
        .answer(
            c.http
                .post(c.url("/cgi-bin/stable_token"))
                .json(&stable_body),
        )
        .await
    {
        Ok(a) => match (
            a.frame_ok(),
            a.body["access_token"].as_str(),
            a.body["expires_in"].as_i64(),
        ) {
            (Err(e), _, _) => Err(e),
            (Ok(()), Some(t), Some(e)) if !t.is_empty() && (300..=7200).contains(&e) => {
                Ok(format!("access_token, expires_in {e}"))
            }
            _ => Err(a.body.to_string()),
        },
        Err(e) => Err(e),
    };
    c.record(
        "stable_token: valid credentials",
        "access_token, expires_in 300..7200",
        got,
    );
    c.expect_code(
        "stable_token: empty body",
        44002,
        c.http.post(c.url("/cgi-bin/stable_token")).body(""),
    )
    .await;
    c.expect_code(
        "stable_token: appid in the query only",
        41002,
        c.http
            .post(c.url(&format!(
                "/cgi-bin/stable_token?appid={appid}&secret={secret}"
            )))
            .json(&json!({"grant_type": "client_credential"})),
    )
    .await;
    c.expect_code(
        "stable_token: GET",
        43002,
        c.http.get(c.url("/cgi-bin/stable_token")),
    )
    .await;

    // --- uploadimg
    let upload_path = format!("/cgi-bin/media/uploadimg?access_token={token}");
    for (name, bytes, file, kind) in [
        ("uploadimg: a JPEG", jpeg(), "conformance.jpg", "mmbiz_jpg"),
        ("uploadimg: a PNG", png(), "conformance.png", "mmbiz_png"),
    ] {
        let got = match c
            .answer(
                c.http
                    .post(c.url(&upload_path))
                    .multipart(media(bytes, file)),
            )
            .await
        {
            Ok(a) => match (a.frame_ok(), a.body["url"].as_str()) {
                (Err(e), _) => Err(e),
                (Ok(()), Some(url))
                    if a.errcode() == 0 && a.body["errmsg"] == "ok" && url.contains(kind) =>
                {
                    // Serving: the URL answers with a picture.
                    match c.http.get(url).send().await {
                        Ok(r)
                            if r.status() == 200
                                && r.headers()
                                    .get(reqwest::header::CONTENT_TYPE)
                                    .and_then(|v| v.to_str().ok())
                                    .is_some_and(|t| t.starts_with("image/")) =>
                        {
                            Ok(format!("url …/{kind}/…, served"))
                        }
                        Ok(r) => Err(format!("{url} answered HTTP {}", r.status())),
                        Err(e) => Err(format!("{url}: {e}")),
                    }
                }
                _ => Err(a.body.to_string()),
            },
            Err(e) => Err(e),
        };
        c.record(name, format!("errcode 0, url …/{kind}/…, served"), got);
    }
    c.expect_code(
        "uploadimg: no access_token",
        41001,
        c.http
            .post(c.url("/cgi-bin/media/uploadimg"))
            .multipart(media(jpeg(), "a.jpg")),
    )
    .await;
    c.expect_code(
        "uploadimg: unknown access_token",
        40001,
        c.http
            .post(c.url("/cgi-bin/media/uploadimg?access_token=conformance-not-a-token"))
            .multipart(media(jpeg(), "a.jpg")),
    )
    .await;
    c.expect_code(
        "uploadimg: no media part",
        41005,
        c.http
            .post(c.url(&upload_path))
            .multipart(Form::new().text("type", "news_image")),
    )
    .await;
    c.expect_code(
        "uploadimg: empty media part",
        41005,
        c.http
            .post(c.url(&upload_path))
            .multipart(media(Vec::new(), "a.jpg")),
    )
    .await;
    c.expect_code(
        "uploadimg: not a picture",
        40005,
        c.http
            .post(c.url(&upload_path))
            .multipart(media(b"this is text, not a JPEG".to_vec(), "a.jpg")),
    )
    .await;
    let whole = jpeg();
    let truncated = whole[..whole.len() / 2].to_vec();
    c.expect_code(
        "uploadimg: a truncated JPEG",
        40005,
        c.http
            .post(c.url(&upload_path))
            .multipart(media(truncated, "a.jpg")),
    )
    .await;
    let mut big = jpeg();
    big.resize(1_048_576 + 4096, 0);
    c.expect_code(
        "uploadimg: more than 1 MiB",
        40009,
        c.http
            .post(c.url(&upload_path))
            .multipart(media(big, "big.jpg")),
    )
    .await;
    c.expect_code("uploadimg: GET", 43002, c.http.get(c.url(&upload_path)))
        .await;

    print_report(&c.outcomes, args.json);
    let failed = c.outcomes.iter().filter(|o| !o.pass).count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(outcomes: &[Outcome], json: bool) {
    let passed = outcomes.iter().filter(|o| o.pass).count();
    let failed = outcomes.len() - passed;
    if json {
        for o in outcomes {
            println!(
                "{}",
                json!({"check": o.name, "expected": o.expected, "got": o.got, "pass": o.pass})
            );
        }
        return;
    }
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<width$}  {:<6}  {:<34}  got",
        "check", "result", "expected"
    );
    for o in outcomes {
        let got: String = o.got.chars().take(100).collect();
        println!(
            "{:<width$}  {:<6}  {:<38}  {got}",
            o.name,
            if o.pass { "pass" } else { "FAIL" },
            o.expected
        );
    }
    println!("{passed} passed, {failed} failed");
}
