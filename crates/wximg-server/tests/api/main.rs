//! The server's integration tests, one binary: the HTTP suite (a module per area, on the
//! backend the environment names: see `support`) and `scaleout_backend`, the PostgreSQL
//! and S3 backends on their own.
//!
//! ```sh
//! cargo test -p wximg-server --test api                                # everything
//! cargo test -p wximg-server --test api -- --skip scaleout_backend::   # the HTTP suite
//! cargo test -p wximg-server --test api scaleout_backend::             # the backends alone
//! ```

mod support;

mod article_page;
mod drafts;
mod events;
mod freepublish;
mod material;
mod openapi;
mod ops;
mod platform_cloud;
mod platform_component;
mod platform_debug;
mod platform_faults;
mod platform_fidelity;
mod platform_quota;
mod scaleout_backend;
mod serving;
mod serving_variants;
mod tokens;
mod upload;
