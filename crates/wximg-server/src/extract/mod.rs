//! Extractors: what a handler's signature says it needs, decided once for every route.
//!
//! Invariant: a handler never re-derives who is calling or re-parses its body; if its
//! signature takes a [`Caller`], the request was authenticated, and if it takes a
//! [`JsonBody`], the body was a JSON object small enough to read; and no API call came
//! from another site's web page ([`origin::refuse_foreign`], a layer over the API routes).
//! Each extractor refuses with an [`crate::error::ApiError`], so its refusals leave in
//! the platform's frame.

mod caller;
mod json;
pub mod origin;

pub use caller::{Caller, Via};
pub use json::{DRAFT_BODY_LIMIT, DraftBody, JSON_BODY_LIMIT, JsonBody};
