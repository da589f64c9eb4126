//! # wximg-server
//!
//! The wximg service: a wire-compatible implementation of WeChat's `uploadimg` API and
//! the token endpoints it needs.
//!
//! Layout (find a behaviour by its name):
//! - [`startup`]: builds the service and runs it; [`configuration`]: its settings.
//! - [`routes`]: one module per endpoint; [`answer`]: the wire frame of every answer.
//! - [`tokens`] and [`auth`]: the platform's token rules, and how secrets are kept.
//! - [`media`]: streaming the `media` part; the picture rules are `wximg_proto::rules`.
//! - [`storage`]: the metadata and blob traits and their backends; [`apps`]: accounts.
//! - [`fsck`]: checks that every picture row has its exact blob, and removes orphans.

pub mod answer;
pub mod apps;
pub mod auth;
pub mod clock;
pub mod configuration;
pub mod media;
pub mod metrics;
pub mod picture_cache;
pub mod platform;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;

pub use clock::Clock;
pub use configuration::Settings;
pub use startup::Application;
pub use wximg_store::StorageConfig;
