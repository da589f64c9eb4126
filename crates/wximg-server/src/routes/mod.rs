//! One module per endpoint.
//!
//! Invariant: each handler is its endpoint's logic only. The wire frame (rid, error
//! bodies, metrics) is `crate::answer`'s; who is calling and what a JSON body holds are
//! decided by the extractors of `crate::extract` that the handler's signature takes; the
//! bodies' shapes are `wximg_proto::wire`'s.

pub mod article_page;
pub mod component;
pub mod debug;
pub mod draft;
pub mod fallback;
pub mod freepublish;
pub mod health;
pub mod images;
pub mod material;
pub mod metrics;
pub mod openapi;
pub mod stable_token;
pub mod temporary;
pub mod token;
pub mod uploadimg;

use std::collections::HashMap;

/// Parses a query string leniently (first value of a name wins; bad escapes kept as is).
pub fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}
