//! The client commands' fixture: a real `wximg serve` in a scratch directory with one
//! official app, and a token cache of its own.

use std::process::{Command, Output, Stdio};

use super::{Backend, Server, WXIMG, create_app};

/// A [`Server`] on a fresh embedded data directory with one official app.
pub struct AppServer {
    /// Declared first: killed before the directories are removed.
    pub server: Server,
    pub appid: String,
    pub secret: String,
    /// Held: the data directory lives as long as the server.
    _data: tempfile::TempDir,
    /// The token cache of the client commands run through [`AppServer::cmd`].
    pub cache: tempfile::TempDir,
}

impl AppServer {
    pub fn start() -> AppServer {
        AppServer::start_with(&[])
    }

    /// [`AppServer::start`] with more `wximg serve` arguments.
    pub fn start_with(serve_args: &[&str]) -> AppServer {
        let data = tempfile::tempdir().expect("tempdir");
        let app = create_app(Backend::Embedded(data.path()), "official");
        AppServer {
            server: Server::start(Backend::Embedded(data.path()), serve_args),
            appid: app.appid,
            secret: app.secret,
            _data: data,
            cache: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `wximg ARGS…` with this server, app and token cache in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WXIMG);
        c.args(args)
            .env("WXIMG_BASE_URL", &self.server.base)
            .env("WXIMG_APPID", &self.appid)
            .env("WXIMG_SECRET", &self.secret)
            .env("WXIMG_CACHE_DIR", self.cache.path())
            // No config file of the machine's user: each test writes its own if any.
            .env("WXIMG_CONFIG", self.cache.path().join("no-config.toml"))
            .env_remove("WXIMG_PROFILE")
            .env_remove("WXIMG_ACCESS_TOKEN")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run wximg")
    }
}

/// Waits until the server at `base` has answered at least one injected fault (its
/// `wximg_faults_injected_total`), polling its metrics; panics after 30 s.
pub fn wait_for_fault(base: &str) {
    let started = std::time::Instant::now();
    loop {
        let (_, metrics) = super::get(&format!("{base}/metrics"));
        let injected: f64 = String::from_utf8_lossy(&metrics)
            .lines()
            .filter(|l| l.starts_with("wximg_faults_injected_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if injected >= 1.0 {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no fault answered in 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
