//! Test harness: start the real service on a random loopback port and talk HTTP to it.
//!
//! Storage comes from the environment so one suite covers every backend: with
//! `WXIMG_TEST_BACKEND=scaleout` it runs on the PostgreSQL + S3 that
//! `WXIMG_TEST_DATABASE_URL` and `WXIMG_TEST_STORE` name (see `scripts/services.sh`),
//! otherwise on the embedded SQLite + files in a temp directory.

pub mod articles;
pub mod pictures;

use std::net::SocketAddr;

use serde_json::Value;
use wximg_proto::AppType;
use wximg_server::{Application, Clock, Settings, StorageConfig};
use wximg_store::Storage;

pub struct TestApp {
    pub base: String,
    #[allow(dead_code)] // no test needs it yet
    pub addr: SocketAddr,
    pub clock: Clock,
    pub storage: Storage,
    /// The server's shared state (what a handler sees).
    #[allow(dead_code)]
    pub state: wximg_server::state::AppState,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    /// Held: dropping it stops the server.
    #[allow(dead_code)]
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Whether this run is on the scale-out backend: only with `WXIMG_TEST_BACKEND=scaleout`
/// (the services' variables alone are not enough: `scripts/test.sh` exports them for the
/// whole run, and the suite must run on embedded storage first).
pub fn scaleout() -> bool {
    if std::env::var("WXIMG_TEST_BACKEND").as_deref() != Ok("scaleout") {
        return false;
    }
    assert!(
        std::env::var_os("WXIMG_TEST_DATABASE_URL").is_some()
            && std::env::var_os("WXIMG_TEST_STORE").is_some(),
        "WXIMG_TEST_BACKEND=scaleout needs WXIMG_TEST_DATABASE_URL and WXIMG_TEST_STORE \
         (eval \"$(scripts/services.sh start)\")"
    );
    true
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let storage = StorageConfig {
        data_dir: data_dir.path().to_path_buf(),
        database_url: std::env::var("WXIMG_TEST_DATABASE_URL")
            .ok()
            .filter(|_| scaleout()),
        store: std::env::var("WXIMG_TEST_STORE")
            .ok()
            .filter(|_| scaleout()),
    };
    let mut settings = Settings::new("127.0.0.1:0".parse().expect("addr"), storage);
    configure(&mut settings);
    // Tests count seconds exactly (token boundaries, quota minutes): a stopped clock. It
    // starts an hour into a Beijing day (the platform's day for daily counts), so no test
    // crosses a midnight it did not ask for: run just before 16:00 UTC, twenty forced
    // stable tokens 31 s apart used to straddle one and find the count reset.
    let clock = Clock::frozen();
    let into_day = (clock.now() + 8 * 3600).rem_euclid(86_400);
    clock.advance(86_400 - into_day + 3600);
    let app = Application::build(settings, clock.clone())
        .await
        .expect("server builds");
    let addr = app.local_addr().expect("bound");
    let storage = app.storage().clone();
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        addr,
        clock,
        storage,
        state,
        http: {
            // reqwest links rustls without a provider of its own (see wximg-store).
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::new()
        },
        data_dir,
        shutdown: Some(tx),
    }
}

pub struct Creds {
    pub appid: String,
    pub secret: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn create_app(&self, app_type: AppType) -> Creds {
        let (app, secret) = wximg_server::apps::create(
            self.storage.meta.as_ref(),
            app_type,
            "test",
            self.clock.now(),
        )
        .await
        .expect("app created");
        Creds {
            appid: app.appid.to_string(),
            secret: secret.expose().to_string(),
        }
    }

    pub async fn get_json(&self, path: &str) -> Value {
        answer(self.http.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        answer(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn token(&self, c: &Creds) -> String {
        let v = self.get_json(&token_path(&c.appid, &c.secret)).await;
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {v}"))
            .to_string()
    }

    /// An official account and a token for it.
    pub async fn official_token(&self) -> String {
        let c = self.create_app(AppType::Official).await;
        self.token(&c).await
    }

    /// Uploads `bytes` as the `media` part with `filename`.
    /// POSTs one multipart `media` part of `bytes` to `path_and_query` (which carries
    /// the token), named `filename` (`None`: no filename at all), with part Content-Type
    /// `mime` (none when `None`): what `add_material` and `media/upload` take.
    pub async fn post_media(
        &self,
        path_and_query: &str,
        filename: Option<&str>,
        mime: Option<&str>,
        bytes: Vec<u8>,
    ) -> Value {
        let mut part = reqwest::multipart::Part::bytes(bytes);
        if let Some(name) = filename {
            part = part.file_name(name.to_string());
        }
        if let Some(mime) = mime {
            part = part.mime_str(mime).expect("mime");
        }
        let form = reqwest::multipart::Form::new().part("media", part);
        checked_json(
            self.http
                .post(self.url(path_and_query))
                .multipart(form)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn upload(&self, token: &str, filename: &str, bytes: Vec<u8>) -> Value {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string());
        let form = reqwest::multipart::Form::new().part("media", part);
        self.upload_form(token, form).await
    }

    pub async fn upload_form(&self, token: &str, form: reqwest::multipart::Form) -> Value {
        let url = self.url(&format!("/cgi-bin/media/uploadimg?access_token={token}"));
        answer(self.http.post(url).multipart(form)).await
    }

    /// The HTTP status of a GET of `path` (health, readiness, plain 404s).
    pub async fn status(&self, path: &str) -> u16 {
        let resp = self.http.get(self.url(path)).send().await.expect("request");
        resp.status().as_u16()
    }

    /// GETs a returned picture URL.
    pub async fn fetch(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("request")
    }
}

/// The path of a classic token call for `appid` and `secret`.
pub fn token_path(appid: &str, secret: &str) -> String {
    format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}")
}

/// Sends `req` and returns its API answer, checked as [`checked_json`] checks it.
pub async fn answer(req: reqwest::RequestBuilder) -> Value {
    checked_json(req.send().await.expect("request")).await
}

/// Every API answer: HTTP 200, the platform's Content-Type, a rid in `X-Request-Id` that
/// matches the one at the end of an error message.
pub async fn checked_json(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "API answers are always HTTP 200");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string());
    assert_eq!(ct.as_deref(), Some("application/json; encoding=utf-8"));
    let rid = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("X-Request-Id header");
    let v: Value = resp.json().await.expect("JSON body");
    if let Some(code) = v["errcode"].as_i64().filter(|c| *c != 0) {
        let msg = v["errmsg"].as_str().expect("errmsg");
        assert!(
            msg.ends_with(&format!(" rid: {rid}")),
            "errmsg {msg:?} must end with the rid {rid}"
        );
        let time = u32::from_str_radix(&rid[..8], 16).expect("hex time") as i64;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs() as i64;
        assert!(
            (now - time).abs() < 120,
            "rid's first group is the Unix time"
        );
        assert!(
            wximg_proto::ErrCode::from_code(code).is_some(),
            "{code} is in the error table"
        );
    }
    v
}

/// The errcode of an answer (0 for success bodies without one).
pub fn code(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

/// Asserts that `v` is an error whose errmsg is `message`, the platform's
/// ` hint: [xxxxxxxxxxxxxx]` (14 letters and digits), then ` rid: …`: the form of media,
/// material and draft errors today.
#[allow(dead_code)]
pub fn assert_hinted(v: &Value, message: &str) {
    let msg = v["errmsg"].as_str().unwrap_or("");
    let hint = msg
        .strip_prefix(message)
        .and_then(|rest| rest.strip_prefix(" hint: ["))
        .and_then(|rest| rest.split_once("] rid: "))
        .map(|(hint, _)| hint);
    assert!(
        hint.is_some_and(|h| h.len() == 14 && h.bytes().all(|b| b.is_ascii_alphanumeric())),
        "errmsg {msg:?} is not {message:?} + hint + rid"
    );
}

/// Asserts that `v`'s errmsg is exactly `message` then ` rid: …`, with no hint (the
/// token family, quotas, permissions).
#[allow(dead_code)]
pub fn assert_unhinted(v: &Value, message: &str) {
    let msg = v["errmsg"].as_str().unwrap_or("");
    assert!(
        msg.strip_prefix(message)
            .is_some_and(|rest| rest.starts_with(" rid: ")),
        "errmsg {msg:?} is not {message:?} + rid"
    );
}
