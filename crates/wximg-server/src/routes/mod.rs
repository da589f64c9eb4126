//! One module per endpoint. Each handler is the endpoint's logic only; the wire frame
//! (rid, error bodies, metrics) is `crate::answer`'s.

pub mod component;
pub mod debug;
pub mod fallback;
pub mod health;
pub mod images;
pub mod metrics;
pub mod stable_token;
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
