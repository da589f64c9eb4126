//! # wximg-server
//!
//! The wximg service: a wire-compatible implementation of WeChat's `uploadimg` API and
//! the token endpoints it needs.
//!
//! Layout (find a behaviour by its name):
//! - [`startup`]: builds the service and runs it; [`configuration`]: its settings;
//!   [`state`]: what every handler shares; [`connections`]: the accept loop (the
//!   connection cap, idle and header timeouts); [`unread_body`]: keeping a connection
//!   usable when an answer comes before its request's body was read; [`tls`]: HTTPS
//!   (`--tls-cert/--tls-key`).
//! - [`routes`]: one module per endpoint; [`answer`]: the wire frame of every answer;
//!   [`error`]: [`error::ApiError`], the one error type the rules and handlers return.
//! - [`extract`]: what a handler's signature asks for — [`extract::Caller`] (who is
//!   calling, and how it proved it) and [`extract::JsonBody`] (a small JSON body).
//! - [`tokens`]: the platform's token rules; [`secrets`]: how secrets and tokens are
//!   made, hashed and compared; [`apps`]: account administration.
//! - [`media`]: streaming the `media` part; the picture rules are `wximg_proto::rules`
//!   and the JSON bodies `wximg_proto::wire`.
//! - [`articles`]: drafts, publishing and the published article's page (`/s/<id>`):
//!   the content cleaning, the publish jobs and their finisher.
//! - [`platform`]: quotas, IP whitelists, cloud calls, fault injection and the
//!   third-party platform.
//! - [`events`]: pushing the platform's events (`PUBLISHJOBFINISH`) to an app's callback
//!   URL, through a durable outbox; [`request_log`]: what `openapi/rid/get` answers.
//! - [`picture_cache`], [`metrics`], [`telemetry`], [`clock`]: serving hot pictures from
//!   memory, Prometheus metrics, logs, and the (testable) time; [`takedowns`]: every
//!   node drops taken-down pictures from its cache; [`variants`]: the CDN's width
//!   variants (`/640`, `?tp=webp`); [`hotlink`]: `--hotlink-protection`'s placeholder.
//!
//! Storage — the metadata and blob traits, their backends, and `fsck` — is the
//! `wximg-store` crate; handlers only see its traits.

pub mod answer;
pub mod apps;
pub mod articles;
pub mod clock;
pub mod configuration;
pub mod connections;
pub mod error;
pub mod events;
pub mod extract;
pub mod hotlink;
pub mod media;
pub mod metrics;
pub mod pace;
pub mod picture_cache;
pub mod platform;
pub mod request_log;
pub mod routes;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod takedowns;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod unread_body;
pub mod variants;
pub mod zero_copy;

pub use clock::Clock;
pub use configuration::Settings;
pub use startup::Application;
pub use wximg_store::StorageConfig;
