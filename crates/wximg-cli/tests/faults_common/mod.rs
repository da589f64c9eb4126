//! Helpers shared by the `faults_*` tests: a real `wximg serve` process on a random port,
//! an account, tokens, distinct pictures and uploads.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const WXIMG: &str = env!("CARGO_BIN_EXE_wximg");

/// A running `wximg serve`; killed when dropped. Its stderr (the logs) goes to a file.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `wximg serve` on `data` with `extra` arguments and environment.
    pub fn start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let log = data.with_extension(format!("{}.log", rand_suffix()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(WXIMG);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = cmd.spawn().expect("spawn wximg serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let base = loop {
            let mut line = String::new();
            if out.read_line(&mut line).expect("read stdout") == 0 {
                let mut logs = String::new();
                let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut logs));
                panic!("wximg serve exited before listening; logs:\n{logs}");
            }
            if let Some(b) = line.trim().strip_prefix("wximg listening on ") {
                break b.to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Server { child, base, log }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The host:port the server listens on.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Creates an official account in `data`; returns (appid, secret).
pub fn create_app(data: &Path) -> (String, String) {
    let out = Command::new(WXIMG)
        .args(["app", "create", "--type", "official", "--json", "--data"])
        .arg(data)
        .output()
        .expect("app create");
    assert!(
        out.status.success(),
        "app create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        app["appid"].as_str().expect("appid").to_string(),
        app["secret"].as_str().expect("secret").to_string(),
    )
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub use crate::support::client::classic_token as token;
pub use crate::support::pictures::{base_jpeg, distinct_jpeg};

/// Uploads `bytes` as `media`; returns the JSON answer.
pub async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    bytes: Vec<u8>,
) -> serde_json::Value {
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(bytes).file_name("p.jpg"),
    );
    http.post(format!(
        "{base}/cgi-bin/media/uploadimg?access_token={token}"
    ))
    .multipart(form)
    .send()
    .await
    .expect("upload")
    .json()
    .await
    .expect("upload JSON")
}

/// Runs `wximg fsck --json` (plus `extra`) on `data`; returns (exit success, report).
pub fn fsck(data: &Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let out = Command::new(WXIMG)
        .args(["fsck", "--json", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .expect("fsck");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fsck printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// The path of a picture URL (`/mmbiz_jpg/<id>/0`), without host and query.
pub fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("/");
    path.split('?').next().unwrap_or(path).to_string()
}
