//! # wximg-client
//!
//! The client side of `uploadimg`, for the real service or any wximg:
//!
//! - [`Client`]: tokens (`stable_token` by default, cached on disk per app, renewed once
//!   when the server refuses one), pre-flight with the server's own rules, uploads with
//!   backoff on transient failures; every server `errcode` becomes an [`Error::Api`].
//! - [`fit`]: turns any common picture into a JPEG or PNG that passes the rules, at the
//!   best quality that fits.
//! - [`batch`]: many files at once with bounded concurrency, identical files sent once.
//! - [`article`] and [`publish`]: find every picture of a Markdown or HTML article,
//!   upload it and rewrite its URL in place; [`fetch`] keeps an untrusted article's
//!   pictures to its own directory and to public http(s) addresses.
//! - [`render`], [`frontmatter`] and [`draft`]: a Markdown article rendered into the
//!   inline-styled HTML the WeChat editor keeps, its cover uploaded as material, and one
//!   draft made, updated on re-runs, and published (`freepublish`).
//! - [`config`]: `~/.config/wximg/config.toml` profiles (base URL, appid, secret file).
//! - [`atomic_file`]: files written whole or not at all (token cache, publish cache).
//!
//! ```no_run
//! # async fn demo() -> wximg_client::Result<()> {
//! let client = wximg_client::Client::new(Some("http://127.0.0.1:8080"), "wx0123456789abcdef", "…")?;
//! let bytes = std::fs::read("photo.jpg").map_err(|e| wximg_client::Error::Io { path: "photo.jpg".into(), source: e })?;
//! let up = client.upload_image("photo.jpg", bytes.into()).await?;
//! println!("{}", up.url);
//! # Ok(()) }
//! ```

pub mod article;
pub mod atomic_file;
pub mod batch;
pub mod client;
pub mod config;
pub mod draft;
pub mod error;
pub mod fetch;
pub mod fit;
pub mod frontmatter;
pub mod publish;
pub mod render;
pub mod retry;
pub mod token;

pub use client::{Auth, Client, ClientBuilder, DEFAULT_BASE_URL, Uploaded};
pub use error::{Error, Result};
pub use retry::RetryPolicy;
pub use token::TokenEndpoint;
