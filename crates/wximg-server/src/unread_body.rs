//! Answers given before their request's body was read: a bad token, a quota, a body
//! over its limit, an unknown path.
//!
//! Invariant: such an answer never breaks an HTTP/1 keep-alive connection silently.
//! Either the answer goes out at once and the rest of the body is read and thrown away
//! behind it (at most `drain_limit` bytes, within the request timeout,
//! [`DRAIN_CONCURRENCY`] bodies at once), so the connection then takes its next request,
//! or the answer says `Connection: close` (a body declared longer than the limit, or no
//! drain free). Without this, hyper closes the
//! socket with the body unread, the kernel answers the client's data with a reset, and
//! the client — an SDK about to refresh its token and resend — may lose the answer too
//! ("remote end closed connection").
//!
//! Handlers need not care: whatever part of the body a handler (or an extractor that
//! refused) leaves unread comes back here when it is dropped. HTTP/2 needs none of this:
//! an unread body there ends its own stream, not the connection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// How much of an unread body may be read away, for how long, and how many at once.
#[derive(Debug, Clone)]
pub struct DrainLimits {
    pub bytes: u64,
    pub time: Duration,
    /// One per body being read away. Without a free one the answer says
    /// `Connection: close` instead: under a flood of refused bodies the server spends its
    /// time on other clients, not on reading the flood.
    pub slots: Arc<Semaphore>,
}

/// Bodies read away at once, by default.
pub const DRAIN_CONCURRENCY: usize = 64;

impl DrainLimits {
    pub fn new(bytes: u64, time: Duration) -> DrainLimits {
        DrainLimits {
            bytes,
            time,
            slots: Arc::new(Semaphore::new(DRAIN_CONCURRENCY)),
        }
    }
}

/// The middleware (see the module docs).
pub async fn finish(State(limits): State<DrainLimits>, request: Request, next: Next) -> Response {
    if request.version() != Version::HTTP_11 || request.body().is_end_stream() {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let (back, mut returned) = oneshot::channel();
    let body = Body::new(Returning {
        body: Some(body),
        back: Some(back),
        read: 0,
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // The handler has returned, so the body it was given has been dropped: it is here
    // now unless it was read to its end (or, never here, is still held elsewhere).
    let Ok(Unread { body, read }) = returned.try_recv() else {
        return response;
    };
    // What is left, when the client declared its length; unknown for a chunked body.
    let too_long = declared.is_some_and(|n| n.saturating_sub(read) > limits.bytes);
    match limits.slots.clone().try_acquire_owned() {
        // The answer goes out now; hyper goes on reading the body for the drain, and
        // takes the connection's next request once it has ended.
        Ok(slot) if !too_long => {
            tokio::spawn(drain(body, limits, slot));
        }
        _ => {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// Reads `body` to its end and throws it away, within the limits; past them it lets go
/// of the body, and hyper closes the connection (its answer has long been sent).
async fn drain(mut body: Body, limits: DrainLimits, _slot: OwnedSemaphorePermit) {
    use http_body_util::BodyExt as _;
    let mut seen = 0u64;
    let _ = tokio::time::timeout(limits.time, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > limits.bytes {
                    return;
                }
            }
            // Let the other connections' tasks run between frames: a drain of a fast
            // body would otherwise read megabytes per turn of the scheduler.
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// What a handler left of a body: the body, and how many bytes it had read.
struct Unread {
    body: Body,
    read: u64,
}

/// The body a handler sees. Passes every frame through; if dropped before the end, sends
/// the rest back to [`finish`].
struct Returning {
    body: Option<Body>,
    back: Option<oneshot::Sender<Unread>>,
    /// Data bytes passed through so far.
    read: u64,
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Poll::Ready(None) => {
                // The end: nothing to send back.
                self.body = None;
                self.back = None;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let (Some(body), Some(back)) = (self.body.take(), self.back.take())
            && !body.is_end_stream()
        {
            let _ = back.send(Unread {
                body,
                read: self.read,
            });
        }
    }
}
