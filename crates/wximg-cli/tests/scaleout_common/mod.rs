//! Harness of the scale-out tests: real `wximg serve` processes on a real PostgreSQL and a
//! real S3-compatible server (moto), as `scripts/services.sh start` provides them:
//!
//! ```sh
//! eval "$(scripts/services.sh start)"; trap 'scripts/services.sh stop' EXIT
//! cargo test -p wximg-cli --test 'scaleout_*'
//! ```
//!
//! Without `WXIMG_TEST_DATABASE_URL` / `WXIMG_TEST_STORE` the tests say loudly that they
//! did not run and pass — except under CI (`CI` set), where that is a failure.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const WXIMG: &str = env!("CARGO_BIN_EXE_wximg");

/// What every node puts in front of returned picture URLs.
pub const PUBLIC_URL: &str = "http://pictures.wximg.test";

/// Where PostgreSQL and S3 are.
#[derive(Debug, Clone)]
pub struct Services {
    pub database_url: String,
    pub store: String,
    /// Extra environment for child processes (AWS_* keys of private services).
    pub env: Vec<(String, String)>,
}

/// The shared services named by the environment, or `None` (loudly) outside CI.
pub fn services(test: &str) -> Option<Services> {
    match (
        std::env::var("WXIMG_TEST_DATABASE_URL"),
        std::env::var("WXIMG_TEST_STORE"),
    ) {
        (Ok(database_url), Ok(store)) => Some(Services {
            database_url,
            store,
            env: Vec::new(),
        }),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: CI is set but WXIMG_TEST_DATABASE_URL / WXIMG_TEST_STORE are not: \
                 run `eval \"$(scripts/services.sh start)\"` first"
            );
            eprintln!(
                "\n!!! SKIPPED {test}: needs PostgreSQL + S3. Run \
                 `eval \"$(scripts/services.sh start)\"` to test the scale-out backend !!!\n"
            );
            None
        }
    }
}

pub fn services_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh")
}

/// A PostgreSQL + moto of a test's own, for tests that stop and restart them (the shared
/// ones serve other tests running at the same time). Stopped and removed on drop.
pub struct PrivateServices {
    pub services: Services,
    pub dir: String,
}

impl PrivateServices {
    pub fn start() -> PrivateServices {
        let out = Command::new("bash")
            .arg(services_script())
            .arg("start")
            .env_remove("WXIMG_SERVICES_DIR")
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/services.sh start");
        assert!(out.status.success(), "scripts/services.sh start failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut vars = std::collections::HashMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("export ") else {
                continue;
            };
            for assignment in rest.split_whitespace() {
                if let Some((k, v)) = assignment.split_once('=') {
                    vars.insert(k.to_string(), v.trim_matches('\'').to_string());
                }
            }
        }
        let get = |k: &str| {
            vars.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("services.sh printed no {k}: {text}"))
        };
        PrivateServices {
            services: Services {
                database_url: get("WXIMG_TEST_DATABASE_URL"),
                store: get("WXIMG_TEST_STORE"),
                env: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]
                    .iter()
                    .map(|k| (k.to_string(), get(k)))
                    .collect(),
            },
            dir: get("WXIMG_SERVICES_DIR"),
        }
    }

    /// `pg-stop`, `pg-start`, `s3-stop`, `s3-start`.
    pub fn control(&self, command: &str) {
        let status = Command::new("bash")
            .arg(services_script())
            .arg(command)
            .env("WXIMG_SERVICES_DIR", &self.dir)
            .status()
            .expect("run scripts/services.sh");
        assert!(status.success(), "scripts/services.sh {command} failed");
    }
}

impl Drop for PrivateServices {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(services_script())
            .arg("stop")
            .env("WXIMG_SERVICES_DIR", &self.dir)
            .status();
    }
}

/// Runs `wximg ARGS --database-url … --store …` and returns its stdout.
pub fn wximg(svc: &Services, args: &[&str]) -> std::process::Output {
    Command::new(WXIMG)
        .args(args)
        .arg("--database-url")
        .arg(&svc.database_url)
        .arg("--store")
        .arg(&svc.store)
        .envs(svc.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run wximg")
}

/// Creates an official account with `wximg app create --json`: (appid, secret).
pub fn create_app(svc: &Services) -> (String, String) {
    let out = wximg(svc, &["app", "create", "--type", "official", "--json"]);
    assert!(
        out.status.success(),
        "app create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: Value = serde_json::from_slice(&out.stdout).expect("app create prints JSON");
    let field = |k: &str| {
        app[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {app}"))
            .to_string()
    };
    (field("appid"), field("secret"))
}

/// A `wximg serve` process, killed on drop.
pub struct Node {
    pub child: Child,
    pub base: String,
}

impl Node {
    pub fn start(svc: &Services) -> Node {
        let mut child = Command::new(WXIMG)
            // One public name for all nodes, as behind a load balancer.
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--public-url",
                PUBLIC_URL,
            ])
            .arg("--database-url")
            .arg(&svc.database_url)
            .arg("--store")
            .arg(&svc.store)
            .envs(svc.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wximg serve");
        let base = crate::support::process::wait_listening(&mut child);
        Node { child, base }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// A small, whole PNG nobody else uploads.
pub fn unique_png() -> Vec<u8> {
    let seed: [u8; 16] = rand_bytes();
    let img = image::RgbImage::from_fn(24, 16, |x, y| {
        let i = (x as usize + y as usize * 24) % 16;
        image::Rgb([seed[i], (x * 10) as u8, (y * 15) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode PNG");
    out.into_inner()
}

fn rand_bytes() -> [u8; 16] {
    // No rand dependency in this crate: the time and a counter are unique enough here.
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let h = spread(t ^ (u64::from(std::process::id()) << 32), n);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h.0.to_le_bytes());
    out[8..].copy_from_slice(&h.1.to_le_bytes());
    out
}

/// Two rounds of splitmix64: spreads the bits of (time, counter).
fn spread(a: u64, b: u64) -> (u64, u64) {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    (mix(a ^ mix(b)), mix(b ^ mix(a)))
}

pub async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("JSON answer")
}

pub use crate::support::client::classic_token;

pub async fn stable_token(
    http: &reqwest::Client,
    base: &str,
    appid: &str,
    secret: &str,
    force_refresh: bool,
) -> Value {
    json(
        http.post(format!("{base}/cgi-bin/stable_token"))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": appid,
                "secret": secret,
                "force_refresh": force_refresh,
            }))
            .send()
            .await
            .expect("stable_token call"),
    )
    .await
}

/// Uploads `bytes` as `media`; the JSON answer (or `errcode: -999` if the call itself
/// failed, e.g. the node is gone).
pub async fn upload(http: &reqwest::Client, base: &str, token: &str, bytes: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(bytes).file_name("p.png"),
    );
    match http
        .post(format!(
            "{base}/cgi-bin/media/uploadimg?access_token={token}"
        ))
        .multipart(form)
        .send()
        .await
    {
        Ok(resp) => json(resp).await,
        Err(e) => serde_json::json!({"errcode": -999, "errmsg": e.to_string()}),
    }
}

/// The path part of a returned picture URL (`/mmbiz_png/<id>/0?from=appmsg`).
pub fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let start = after_scheme.find('/').expect("URL has a path");
    after_scheme[start..].to_string()
}

/// Polls `/readyz` until it answers `want` (or panics after `within`).
pub async fn wait_ready(http: &reqwest::Client, base: &str, want: u16, within: Duration) {
    let started = std::time::Instant::now();
    loop {
        let got = match http.get(format!("{base}/readyz")).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < within,
            "/readyz still {got} after {within:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
