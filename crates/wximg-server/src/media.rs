//! Reading the `media` part of an upload, streaming.
//!
//! The body is parsed as it arrives (`multer`). Only the `media` part is kept, and only up
//! to the byte limit: at limit + 1 the picture is refused (40009) and the rest is read and
//! thrown away — up to `drain_limit`, so an SDK that is still sending can read the answer —
//! never buffered. Other parts (EasyWeChat's `type=news_image`, …) are skipped unread.
//! Reading a body holds one permit of `upload_permits` from its first byte, which bounds
//! memory however many clients send at once: the multipart parser buffers whatever the
//! socket has ready, so the permit must come before the parser, not after it finds `media`.
//! Bodies without a permit wait in the kernel's socket buffers, not in ours.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wximg_proto::ErrCode;

use crate::error::ApiError;

/// The bytes of a `media` part, with the memory permit they hold.
pub struct Media {
    pub bytes: Vec<u8>,
    pub _permit: OwnedSemaphorePermit,
}

pub struct Limits<'a> {
    pub max_bytes: usize,
    pub drain_limit: u64,
    pub permits: &'a std::sync::Arc<Semaphore>,
}

fn malformed(e: impl std::fmt::Display) -> ApiError {
    ApiError::detail(ErrCode::DataFormatError, format!("multipart: {e}"))
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
        .acquire_owned()
        .await
        .map_err(|e| ApiError::detail(ErrCode::SystemError, e.to_string()))?;
    let mut data = body.into_data_stream();
    // An empty body is its own error (44002), whatever the Content-Type says.
    let first = loop {
        match data.next().await {
            None => return Err(ErrCode::EmptyPostData.into()),
            Some(Err(e)) => return Err(malformed(e)),
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
    let body = stream::once(async move { Ok::<_, axum::Error>(first) }).chain(data);
    let mut multipart = multer::Multipart::new(body, boundary);

    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() != Some("media") {
            // Skipped without keeping a byte.
            while field.chunk().await.map_err(malformed)?.is_some() {}
            continue;
        }
        let hint = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(64 * 1024);
        let mut bytes = Vec::with_capacity(hint.min(limits.max_bytes + 1));
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > limits.max_bytes {
                let seen = (bytes.len() + chunk.len()) as u64;
                drop(bytes);
                drop(permit);
                drain(field, seen, limits.drain_limit).await;
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
            _permit: permit,
        });
    }
    Err(ApiError::detail(ErrCode::MediaDataMissing, "no media part"))
}

/// Reads and discards the rest of an oversized part, up to `limit` bytes.
async fn drain(field: multer::Field<'_>, mut seen: u64, limit: u64) {
    let mut field = field.into_stream();
    while seen < limit {
        match field.try_next().await {
            Ok(Some(chunk)) => seen += chunk.len() as u64,
            _ => break,
        }
    }
}
