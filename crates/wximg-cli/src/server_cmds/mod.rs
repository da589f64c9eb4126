//! The commands that work on storage: `serve`, `app`, `image`, `component`, `fsck`,
//! `migrate`, `backup`, `restore`; and `tls init`, which makes the certificate `serve
//! --tls-cert` uses.
//!
//! Each takes the same storage flags ([`StorageArgs`]) and opens storage through
//! `wximg-store`; none writes SQL or files of its own.

pub mod app;
pub mod backup;
pub mod component;
pub mod fsck;
pub mod image;
pub mod migrate;
pub mod serve;
pub mod tls;

use std::path::PathBuf;

use wximg_server::StorageConfig;

/// Where storage lives; every storage command takes the same flags.
#[derive(clap::Args, Debug, Clone)]
pub struct StorageArgs {
    /// Data directory of the embedded storage (SQLite + picture files).
    #[arg(
        long = "data",
        env = "WXIMG_DATA",
        default_value = "./wximg-data",
        global = true
    )]
    pub data: PathBuf,
    /// PostgreSQL URL for scale-out metadata (postgres://…).
    #[arg(
        long,
        env = "WXIMG_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// S3-compatible store for scale-out blobs (s3://bucket?endpoint=…).
    #[arg(long, env = "WXIMG_STORE", global = true)]
    pub store: Option<String>,
}

impl StorageArgs {
    pub fn config(&self) -> StorageConfig {
        StorageConfig {
            data_dir: self.data.clone(),
            database_url: self.database_url.clone(),
            store: self.store.clone(),
        }
    }
}

/// Prints new credentials once: `{"appid","secret"}` with `--json`, else two aligned lines.
pub fn print_credentials(
    appid: &impl std::fmt::Display,
    secret: &wximg_proto::AppSecret,
    json: bool,
) {
    if json {
        println!(
            "{}",
            serde_json::json!({"appid": appid.to_string(), "secret": secret.expose()})
        );
    } else {
        println!("appid   {appid}\nsecret  {}", secret.expose());
    }
}
