//! Reading the `media` part of an upload, streaming.
//!
//! Invariant: however a body is shaped, reading it holds at most [`memory_bound`] bytes
//! and costs time linear in its length. The body is parsed as it arrives (`multer`),
//! behind [`framing`]'s caps on the preamble, each part's header block and the number of
//! parts, and multer's own cap on the whole body ([`BODY_OVERHEAD`] over the picture
//! limit). Only the `media` part is kept, and only up to the byte limit: at limit + 1 the
//! picture is refused (40009); other parts (EasyWeChat's `type=news_image`, …) are
//! skipped unread. What is left of a refused body is read away by `crate::unread_body`,
//! so an SDK still sending can read the answer.
//!
//! Reading a body holds one permit of `upload_permits` from its first byte, which bounds
//! memory however many clients send at once: the multipart parser buffers whatever the
//! socket has ready, so the permit must come before the parser, not after it finds `media`.
//! Bodies without a permit wait in the kernel's socket buffers, not in ours. A permit is
//! sized for `uploadimg`'s picture limit; a call with a larger limit (a 10 MB image
//! material) takes as many permits as its [`memory_bound`] needs ([`permits_for`]), so
//! the bound of `upload_concurrency` × one picture holds whatever mix of calls arrives.

pub mod framing;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use futures_util::{StreamExt, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wximg_proto::ErrCode;

use crate::error::ApiError;

/// The bytes of a `media` part, with the memory permit they hold.
pub struct Media {
    pub bytes: Vec<u8>,
    /// The part's filename, as sent (a bare name, a full path, or none).
    pub filename: Option<String>,
    pub _permit: OwnedSemaphorePermit,
}

pub struct Limits<'a> {
    pub max_bytes: usize,
    pub permits: &'a std::sync::Arc<Semaphore>,
    /// How many of `permits` reading this body holds (see [`permits_for`]); 1 for a body
    /// of the picture limit the permits were sized for.
    pub weight: u32,
}

/// The permits a body of limit `max_bytes` must hold when one permit stands for a body
/// of limit `unit_bytes`: enough that its [`memory_bound`] is covered, and never more
/// than the `total` there are (or it would wait forever).
pub fn permits_for(max_bytes: usize, unit_bytes: usize, total: usize) -> u32 {
    let need = memory_bound(max_bytes).div_ceil(memory_bound(unit_bytes).max(1));
    u32::try_from(need.clamp(1, total.max(1))).unwrap_or(u32::MAX)
}

/// What a body may carry beyond its picture: part headers, boundaries, small fields.
pub const BODY_OVERHEAD: usize = 64 * 1024;

/// The most a body read with a picture limit of `max_bytes` holds in memory: the picture,
/// the parser's buffer (the capped preamble or header block, or one joined chunk) and
/// the stream's chunks in flight.
pub const fn memory_bound(max_bytes: usize) -> usize {
    max_bytes + framing::PREAMBLE_LIMIT + framing::PART_HEAD_LIMIT + 4 * framing::MIN_CHUNK
}

/// An error of the body stream: the socket's, or a framing limit.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error(transparent)]
    Read(#[from] axum::Error),
    #[error(transparent)]
    Framing(#[from] framing::FramingError),
}

fn malformed(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => ApiError::detail(
            ErrCode::InvalidImageSize,
            format!("multipart body over {limit} bytes"),
        ),
        e => ApiError::detail(ErrCode::DataFormatError, format!("multipart: {e}")),
    }
}

/// The picture row of `bytes`, which the rules accepted as `info`, for `appid`, at `now`.
pub fn picture_record(
    bytes: &[u8],
    info: &wximg_proto::PictureInfo,
    appid: &wximg_proto::AppId,
    now: i64,
) -> wximg_store::ImageRecord {
    wximg_store::ImageRecord {
        id: wximg_proto::ImageId::of(bytes),
        format: info.format,
        size: bytes.len() as u64,
        width: info.width,
        height: info.height,
        appid: appid.clone(),
        created_at: now,
    }
}

/// Runs the picture rules on `media` as `formats` off the async workers (the PNG rule
/// inflates the image data: up to a few hundred MB for a 50 MP picture), and gives the
/// media back with the verdict.
pub async fn check(
    rules: wximg_proto::Rules,
    media: Media,
    formats: &'static [wximg_proto::ImageFormat],
) -> Result<
    (
        Media,
        Result<wximg_proto::PictureInfo, wximg_proto::Rejection>,
    ),
    ApiError,
> {
    tokio::task::spawn_blocking(move || {
        let verdict = rules.check_as(&media.bytes, formats);
        (media, verdict)
    })
    .await
    .map_err(|e| ApiError::detail(ErrCode::SystemError, format!("picture rules: {e}")))
}

/// Reads the first `media` part of a multipart body.
pub async fn read_media(
    headers: &HeaderMap,
    body: Body,
    limits: Limits<'_>,
) -> Result<Media, ApiError> {
    let permit = limits
        .permits
        .clone()
        .acquire_many_owned(limits.weight.max(1))
        .await
        .map_err(|e| ApiError::detail(ErrCode::SystemError, e.to_string()))?;
    // At a pace, or the permit goes back (see `crate::pace`).
    let mut data = crate::pace::paced(body.into_data_stream());
    // An empty body is its own error (44002), whatever the Content-Type says.
    let first = loop {
        match data.next().await {
            None => return Err(ErrCode::EmptyPostData.into()),
            Some(Err(e)) => {
                return Err(ApiError::detail(
                    ErrCode::DataFormatError,
                    format!("body: {e}"),
                ));
            }
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => break chunk,
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        ApiError::detail(
            ErrCode::DataFormatError,
            format!("Content-Type {content_type:?}: {e}"),
        )
    })?;
    let body = stream::iter([Ok::<_, axum::Error>(first)]).chain(data);
    let body = framing::Framing::new(body.map(|c| c.map_err(BodyError::from)), &boundary);
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new().whole_stream((limits.max_bytes + BODY_OVERHEAD) as u64),
    );
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);

    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() != Some("media") {
            // Skipped without keeping a byte.
            while field.chunk().await.map_err(malformed)?.is_some() {}
            continue;
        }
        let filename = field.file_name().map(str::to_string);
        let hint = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(64 * 1024);
        let mut bytes = Vec::with_capacity(hint.min(limits.max_bytes + 1));
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > limits.max_bytes {
                return Err(ApiError::detail(
                    ErrCode::InvalidImageSize,
                    format!("media part over {} bytes", limits.max_bytes),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(ApiError::detail(
                ErrCode::MediaDataMissing,
                "empty media part",
            ));
        }
        return Ok(Media {
            bytes,
            filename,
            _permit: permit,
        });
    }
    Err(ApiError::detail(ErrCode::MediaDataMissing, "no media part"))
}
