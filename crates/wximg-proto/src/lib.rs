//! # wximg-proto
//!
//! Everything both sides of wximg must agree on, with no I/O:
//!
//! - [`error`]: the error table — every `errcode` the server answers and the client
//!   understands, with its message. It is the only place codes and messages are written.
//! - [`rules`]: the picture rules (`uploadimg` takes whole JPEG/PNG files of at most
//!   1,048,576 bytes and at most 50 megapixels), decided from the bytes by a structural
//!   parse. The server runs them on every upload; the client runs the very same code as a
//!   pre-flight check.
//! - [`wire`]: the JSON bodies of the API, and the request id (`rid`) format.
//! - [`ids`]: validated domain values — [`ids::AppId`], [`ids::ImageId`], …
//! - [`articles`]: the bodies and limits of drafts and publishing (`draft/*`,
//!   `freepublish/*`).
//! - [`html`]: article HTML read token by token, as both sides count its nesting.
//! - [`calendar`]: the day and minute a count belongs to (Beijing days, as the platform).

pub mod articles;
pub mod calendar;
pub mod error;
pub mod html;
pub mod ids;
pub mod rules;
pub mod wire;

pub use error::ErrCode;
pub use ids::{AppId, AppSecret, AppType, ImageId};
pub use rules::{
    IMAGE_MATERIAL_FORMATS, ImageFormat, PictureInfo, Rejection, Rules, THUMB_MATERIAL_FORMATS,
    UPLOADIMG_FORMATS,
};
