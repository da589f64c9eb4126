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
//! After the table of one-request checks ([`checks::CHECKS`]) come the checks that take
//! several requests ([`probes`]): HTTPS on the platform's host names (`--ca`), and the
//! CDN's URL forms (widths, `tp=webp`, `sz_mmbiz_*`, hotlink protection). A check that
//! cannot apply to this server says why and counts as skipped, never as passed.
//!
//! Exit status 0 only when no check failed.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

mod checks;
mod probes;

use checks::{CHECKS, Expect, media};

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
    /// A CA certificate (PEM) the server's certificate must validate against for the
    /// platform's host names, api.weixin.qq.com and mmbiz.qpic.cn (`wximg tls init`'s
    /// ca.pem); the names are sent to the --base-url's address. Without it the TLS
    /// checks are skipped.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
    /// The server protects pictures from hotlinking (`serve --hotlink-protection`, as
    /// the platform's CDN always does): a foreign Referer must get the placeholder.
    #[arg(long)]
    pub expect_hotlink_protection: bool,
}

/// What one check found.
struct Outcome {
    name: &'static str,
    expected: String,
    got: String,
    verdict: Verdict,
}

/// A check's result: a skipped check could not apply here (and says why in `got`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

impl Outcome {
    fn judged(
        name: &'static str,
        expected: impl Into<String>,
        got: Result<String, String>,
    ) -> Self {
        Outcome {
            name,
            expected: expected.into(),
            verdict: if got.is_ok() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            got: got.unwrap_or_else(|e| e),
        }
    }

    fn skipped(name: &'static str, expected: impl Into<String>, why: impl Into<String>) -> Self {
        Outcome {
            name,
            expected: expected.into(),
            got: why.into(),
            verdict: Verdict::Skip,
        }
    }
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

/// ` hint: [xxxxxxxxxxxxxx]`: the platform's hint segment (wximg's are 14 letters and
/// digits; captures of the platform also show `.`, `-`, `_`, `!`, so any short word).
fn is_hint(s: &str) -> bool {
    s.strip_prefix(" hint: [")
        .and_then(|s| s.strip_suffix(']'))
        .is_some_and(|h| {
            (1..=32).contains(&h.len()) && !h.bytes().any(|b| b.is_ascii_whitespace() || b == b']')
        })
}

/// Where the checks go and what they carry: the app's credentials, and the token the
/// first check obtains for the upload checks.
struct Target {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: String,
    token: String,
    /// The URL the JPEG upload check was given, for the serving checks after it.
    jpeg_url: Option<String>,
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }

    fn token_query(&self, grant: &str, appid: &str, secret: &str) -> reqwest::RequestBuilder {
        self.get(&format!(
            "/cgi-bin/token?grant_type={grant}&appid={appid}&secret={secret}"
        ))
    }

    fn upload_path(&self) -> String {
        format!("/cgi-bin/media/uploadimg?access_token={}", self.token)
    }

    fn upload(&self, bytes: Vec<u8>, name: &str) -> reqwest::RequestBuilder {
        self.post(&self.upload_path()).multipart(media(bytes, name))
    }

    /// A secret of the right form that is not the app's.
    fn wrong_secret(&self) -> String {
        if self.secret.starts_with('0') {
            "1".repeat(32)
        } else {
            "0".repeat(32)
        }
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
}

/// Judges one answer against what its check expects: `Ok(what was seen)` when it
/// passes, `Err(what was seen instead)` when it fails. A classic token is kept in
/// `target` for the checks after it.
async fn judge(target: &mut Target, expect: Expect, answer: Answer) -> Result<String, String> {
    answer.frame_ok()?;
    let body = &answer.body;
    let token = body["access_token"].as_str().filter(|t| !t.is_empty());
    let expires_in = body["expires_in"].as_i64();
    match expect {
        Expect::Code(code) if answer.errcode() == code => Ok(code.to_string()),
        Expect::Code(_) => Err(format!(
            "{} {}",
            answer.errcode(),
            body["errmsg"].as_str().unwrap_or("")
        )),
        Expect::ClassicToken => match (token, expires_in) {
            (Some(t), Some(7200)) if body.get("errcode").is_none() => {
                target.token = t.to_string();
                Ok(expect.describe())
            }
            _ => Err(body.to_string()),
        },
        Expect::StableToken => match (token, expires_in) {
            (Some(_), Some(e)) if (300..=7200).contains(&e) => {
                Ok(format!("access_token, expires_in {e}"))
            }
            _ => Err(body.to_string()),
        },
        Expect::Message {
            code,
            message,
            hint,
        } => {
            let errmsg = body["errmsg"].as_str().unwrap_or("");
            let shown = format!("{} {errmsg}", answer.errcode());
            if answer.errcode() != code {
                return Err(shown);
            }
            let head = errmsg
                .rsplit_once(" rid: ")
                .map_or(errmsg, |(head, _)| head);
            let matches = match head.strip_prefix(message) {
                Some("") => !hint,
                Some(rest) => hint && is_hint(rest),
                None => false,
            };
            if matches {
                Ok(expect.describe())
            } else {
                Err(shown)
            }
        }
        Expect::TokenProblem(code) => {
            let errmsg = body["errmsg"].as_str().unwrap_or("");
            let seen = wximg_client::Error::from_answer(answer.errcode(), errmsg);
            if answer.errcode() == code && seen.is_token_problem() {
                Ok(expect.describe())
            } else {
                Err(format!("{} {errmsg}", answer.errcode()))
            }
        }
        Expect::Uploaded(kind) => match body["url"].as_str() {
            Some(url) if answer.errcode() == 0 && body["errmsg"] == "ok" && url.contains(kind) => {
                if kind == "mmbiz_jpg" && target.jpeg_url.is_none() {
                    target.jpeg_url = Some(url.to_string());
                }
                served(&target.http, url, kind).await
            }
            _ => Err(body.to_string()),
        },
    }
}

/// Serving: the URL answers with a picture.
async fn served(http: &reqwest::Client, url: &str, kind: &str) -> Result<String, String> {
    match http.get(url).send().await {
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

pub async fn run(args: ConformanceArgs) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("wximg-conformance/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &args.ca {
        // A server with a local CA's certificate is reached by its own URL too.
        let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("--ca {}: {e}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow::anyhow!("--ca {}: {e}", ca.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let http = builder.build()?;
    let mut target = Target {
        http,
        base: args.base_url.trim_end_matches('/').to_string(),
        appid: args.appid,
        secret: args.secret,
        token: String::new(),
        jpeg_url: None,
    };
    let mut outcomes = Vec::with_capacity(CHECKS.len() + 10);
    for check in CHECKS {
        let got = match target.answer((check.request)(&target)).await {
            Ok(answer) => judge(&mut target, check.expect, answer).await,
            Err(e) => Err(e),
        };
        outcomes.push(Outcome::judged(check.name, check.expect.describe(), got));
    }
    outcomes.extend(probes::tls_checks(&target, args.ca.as_deref()).await);
    outcomes.extend(probes::cdn_checks(&target, args.expect_hotlink_protection).await);
    print_report(&outcomes, args.json);
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(outcomes: &[Outcome], json: bool) {
    let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
    let (passed, failed, skipped) = (
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skip),
    );
    if json {
        for o in outcomes {
            println!(
                "{}",
                json!({
                    "check": o.name, "expected": o.expected, "got": o.got,
                    "pass": o.verdict == Verdict::Pass,
                    "result": o.verdict.word().to_ascii_lowercase(),
                })
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
            o.verdict.word(),
            o.expected
        );
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
}
