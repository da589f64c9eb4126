//! PostgreSQL and an S3-compatible server (moto) for the scale-out tests, as
//! `scripts/services.sh start` provides them:
//!
//! ```sh
//! eval "$(scripts/services.sh start)"; trap 'scripts/services.sh stop' EXIT
//! cargo test -p wximg-cli --test cli scaleout_
//! ```
//!
//! Without `WXIMG_TEST_DATABASE_URL` / `WXIMG_TEST_STORE` the tests say loudly that they
//! did not run and pass — except under CI (`CI` set), where that is a failure.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{Backend, Server};

/// What every scale-out node puts in front of returned picture URLs.
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

/// A scale-out node: `wximg serve` on `svc` with the one public name all nodes share, as
/// behind a load balancer.
pub fn node(svc: &Services) -> Server {
    Server::start_with_env(
        Backend::ScaleOut(svc),
        &["--public-url", PUBLIC_URL],
        &[("RUST_LOG", "warn")],
    )
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
