//! Shared helpers of the client_* integration tests: a real `wximg serve` in a scratch
//! directory, an app on it, and picture fixtures made with real encoders.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

pub use super::process::WXIMG;

/// A `wximg serve` process on 127.0.0.1 with one official app; killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
    pub appid: String,
    pub secret: String,
    pub data: tempfile::TempDir,
    /// The token cache of the client commands run through [`Server::cmd`].
    pub cache: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let data = tempfile::tempdir().expect("tempdir");
        let app = super::process::create_app(data.path(), "official");
        let (child, base_url) = super::process::serve(data.path(), &[]);
        Server {
            child,
            base_url,
            appid: app["appid"].as_str().expect("appid").to_string(),
            secret: app["secret"].as_str().expect("secret").to_string(),
            data,
            cache: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `wximg ARGS…` with this server, app and token cache in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WXIMG);
        c.args(args)
            .env("WXIMG_BASE_URL", &self.base_url)
            .env("WXIMG_APPID", &self.appid)
            .env("WXIMG_SECRET", &self.secret)
            .env("WXIMG_CACHE_DIR", self.cache.path())
            .env_remove("WXIMG_ACCESS_TOKEN")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run wximg")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small photo-like picture (gradients + texture), deterministic per `seed`.
pub fn picture(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(73_856_093)
            ^ y.wrapping_mul(19_349_663)
            ^ seed.wrapping_mul(83_492_791))
            % 23;
        Rgb([
            ((x * 255 / w.max(1)) as u8).wrapping_add(n as u8),
            ((y * 255 / h.max(1)) as u8).wrapping_add(seed as u8),
            (((x + y) * 3) as u8).wrapping_add(n as u8),
        ])
    })
}

pub fn encode(img: &RgbImage, fmt: ImageFormat) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut c, fmt)
        .expect("encode");
    c.into_inner()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, bytes).expect("write fixture");
    p
}

/// GETs a URL (blocking, on a throwaway runtime).
pub fn get(url: &str) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r = reqwest::get(url).await.expect("GET");
        let status = r.status().as_u16();
        (status, r.bytes().await.expect("body").to_vec())
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// GETs a URL from async code.
pub async fn get_async(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// A classic access token for `appid` from the server at `base` (panics with the answer
/// if there is none).
pub async fn classic_token(
    http: &reqwest::Client,
    base: &str,
    appid: &str,
    secret: &str,
) -> String {
    let v: serde_json::Value = http
        .get(format!(
            "{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"
        ))
        .send()
        .await
        .expect("token call")
        .json()
        .await
        .expect("token JSON");
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {v}"))
        .to_string()
}
