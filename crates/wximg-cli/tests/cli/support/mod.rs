//! The one harness of the CLI crate's integration tests: the real `wximg` binary on a
//! backend (an embedded data directory, or PostgreSQL + S3), an app on it, a running
//! `wximg serve`, and the HTTP calls and pictures the tests share.

pub mod client;
pub mod pictures;
pub mod raw;
pub mod services;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub use services::{PrivateServices, Services, services};

pub const WXIMG: &str = env!("CARGO_BIN_EXE_wximg");

/// Serialises the tests that load the whole machine (a thousand connections and more,
/// pixel bombs, uploads under load, SIGKILL loops) and those that time the server under
/// attack: side by side on CI's two cores, one's timings would measure the other's load.
/// Held for the whole test (`let _heavy = heavy();`); it blocks, which is fine at a
/// test's start, before its runtime has anything else to run.
pub fn heavy() -> Heavy {
    let mut busy = HEAVY
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    while *busy {
        busy = HEAVY
            .1
            .wait(busy)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    *busy = true;
    Heavy
}

static HEAVY: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(false), std::sync::Condvar::new());

/// The turn of one heavy test (see [`heavy`]); the next one's when dropped, even by a
/// panic.
pub struct Heavy;

impl Drop for Heavy {
    fn drop(&mut self) {
        let mut busy = HEAVY
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *busy = false;
        HEAVY.1.notify_one();
    }
}

/// Where a `wximg` command keeps its state.
#[derive(Clone, Copy, Debug)]
pub enum Backend<'a> {
    /// `--data DIR`: SQLite + files (created if missing).
    Embedded(&'a Path),
    /// `--database-url … --store …`: PostgreSQL + S3, with the services' environment.
    ScaleOut(&'a Services),
}

impl Backend<'_> {
    /// `wximg ARGS… <backend arguments>`, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(WXIMG);
        cmd.args(args);
        match self {
            // A developer's own scale-out variables must not redirect an embedded test.
            Backend::Embedded(data) => {
                cmd.arg("--data")
                    .arg(data)
                    .env_remove("WXIMG_DATABASE_URL")
                    .env_remove("WXIMG_STORE");
            }
            Backend::ScaleOut(svc) => {
                cmd.arg("--database-url")
                    .arg(&svc.database_url)
                    .arg("--store")
                    .arg(&svc.store)
                    .envs(svc.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
        }
        cmd
    }
}

/// Runs `wximg ARGS… <backend arguments>` to the end.
pub fn wximg(backend: Backend, args: &[&str]) -> Output {
    backend.command(args).output().expect("run wximg")
}

/// An app made by `wximg app create --json`.
pub struct App {
    pub appid: String,
    pub secret: String,
    /// The whole JSON line (`appid`, `secret`, `type`, …).
    pub json: Value,
}

/// `wximg app create --type TYPE --json` on `backend`.
pub fn create_app(backend: Backend, app_type: &str) -> App {
    let out = wximg(backend, &["app", "create", "--type", app_type, "--json"]);
    assert!(
        out.status.success(),
        "app create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first_line = out.stdout.split(|&b| b == b'\n').next().unwrap_or_default();
    let json: Value = serde_json::from_slice(first_line).expect("app create prints JSON");
    let field = |k: &str| {
        json[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {json}"))
            .to_string()
    };
    App {
        appid: field("appid"),
        secret: field("secret"),
        json,
    }
}

/// A running `wximg serve --listen 127.0.0.1:0`; killed when dropped. Its stderr (the
/// logs) goes to a temp file, its stdout is drained after the listening line.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// `wximg serve --listen 127.0.0.1:0 ARGS… <backend arguments>`, once it listens.
    pub fn start(backend: Backend, args: &[&str]) -> Server {
        Server::start_with_env(backend, args, &[])
    }

    /// [`Server::start`] with extra environment (`RUST_LOG`, …).
    pub fn start_with_env(backend: Backend, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = backend.command(&["serve", "--listen", "127.0.0.1:0"]);
        cmd.args(args).envs(env.iter().copied());
        Server::start_command(cmd)
    }

    /// [`Server::start`] with the server alone under `prlimit --nofile=NOFILE` (the test
    /// process keeps its own limits).
    pub fn start_with_nofile(backend: Backend, args: &[&str], nofile: u32) -> Server {
        let mut inner = backend.command(&["serve", "--listen", "127.0.0.1:0"]);
        inner.args(args);
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}"))
            .arg("--")
            .arg(inner.get_program())
            .args(inner.get_args());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        Server::start_command(cmd)
    }

    /// Runs `cmd` (a `wximg serve --listen 127.0.0.1:0 …`) until it listens.
    fn start_command(mut cmd: Command) -> Server {
        let log = tempfile::Builder::new()
            .prefix("wximg-serve-")
            .suffix(".log")
            .tempfile()
            .expect("log file");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .expect("spawn wximg serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let base = wait_listening(&mut out, log.path());
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Server { child, base, log }
    }

    /// What the server has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The host:port the server listens on.
    pub fn addr(&self) -> String {
        let base = self.base.as_str();
        let base = base.strip_prefix("https://").unwrap_or(base);
        base.trim_start_matches("http://").to_string()
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a starting `wximg serve`'s stdout up to its `wximg listening on http://ADDR`
/// line and returns `http://ADDR`; panics with the logs if it exits first.
fn wait_listening(out: &mut impl BufRead, log: &Path) -> String {
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read stdout") == 0 {
            let logs = std::fs::read_to_string(log).unwrap_or_default();
            panic!("wximg serve exited before listening; logs:\n{logs}");
        }
        if let Some(base) = line.trim().strip_prefix("wximg listening on ") {
            return base.to_string();
        }
    }
}

/// An official app on the embedded `data`, a server on it with `args`, and a classic
/// token for the app: where most fault tests start.
pub async fn serve_with_token(data: &Path, args: &[&str]) -> (Server, String) {
    let app = create_app(Backend::Embedded(data), "official");
    let server = Server::start(Backend::Embedded(data), args);
    let token = classic_token(&http(), &server.base, &app.appid, &app.secret).await;
    (server, token)
}

/// Runs `wximg fsck --json EXTRA…` on `data`; returns (exit success, report).
pub fn fsck(data: &Path, extra: &[&str]) -> (bool, Value) {
    let out = wximg(
        Backend::Embedded(data),
        &[&["fsck", "--json"], extra].concat(),
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fsck printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An HTTP client that gives up on a call after 60 s.
pub fn http() -> reqwest::Client {
    http_with_timeout(Duration::from_secs(60))
}

/// An HTTP client that gives up on a call after `timeout`. reqwest is built with rustls
/// but no crypto provider of its own (see wximg-store's Cargo.toml): ring is installed
/// first, as every wximg program does.
pub fn http_with_timeout(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("HTTP client")
}

/// GETs a URL (blocking, on a throwaway runtime).
pub fn get(url: &str) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(get_async(url))
}

/// GETs a URL from async code.
pub async fn get_async(url: &str) -> (u16, Vec<u8>) {
    let r = http().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// The JSON answer of a GET.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    json(http.get(url).send().await.expect("GET")).await
}

pub async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("JSON answer")
}

/// `/cgi-bin/token`'s answer for `appid` and `secret` from the server at `base`.
pub async fn token_answer(http: &reqwest::Client, base: &str, appid: &str, secret: &str) -> Value {
    get_json(
        http,
        &format!("{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"),
    )
    .await
}

/// A classic access token for `appid` from the server at `base` (panics with the answer
/// if there is none).
pub async fn classic_token(
    http: &reqwest::Client,
    base: &str,
    appid: &str,
    secret: &str,
) -> String {
    let v = token_answer(http, base, appid, secret).await;
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {v}"))
        .to_string()
}

/// `/cgi-bin/stable_token`'s answer.
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

/// Uploads `bytes` as `media` (named `p.png` or `p.jpg` after its first bytes); the
/// JSON answer (or `errcode: -999` if the call itself failed, e.g. the node is gone).
pub async fn upload(http: &reqwest::Client, base: &str, token: &str, bytes: Vec<u8>) -> Value {
    let name = if bytes.starts_with(b"\x89PNG") {
        "p.png"
    } else {
        "p.jpg"
    };
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(bytes).file_name(name),
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

/// The path and query of a returned picture URL (`/mmbiz_png/<id>/0?from=appmsg`), to
/// fetch it from a server's own address.
pub fn url_path(url: &str) -> String {
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

/// A `kB` line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in KiB.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// What [`output_watched`] saw of a command.
pub struct Watched {
    pub output: Output,
    /// The highest `VmHWM` seen while it ran, in KiB (sampled every 10 ms: a peak shorter
    /// than that may be missed).
    pub peak_kib: u64,
    pub elapsed: Duration,
}

/// Runs `cmd` to the end, killing it (and panicking) if it runs longer than `within` or
/// its peak RSS passes `max_kib`: a test of a hostile input fails instead of taking the
/// machine's memory or hanging on the old code.
pub fn output_watched(mut cmd: Command, within: Duration, max_kib: u64) -> Watched {
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let pid = child.id();
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        // Gone between the two calls (a zombie has no Vm lines): keep the last sample.
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        {
            peak_kib = peak_kib.max(kib);
        }
        let over_time = started.elapsed() > within;
        if over_time || peak_kib > max_kib {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!(
                "killed after {:?} at a peak RSS of {} MiB (limits: {within:?}, {} MiB); \
                 stderr:\n{stderr}",
                started.elapsed(),
                peak_kib >> 10,
                max_kib >> 10
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Watched {
        output: Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        },
        peak_kib,
        elapsed: started.elapsed(),
    }
}
