//! The pace a request body must keep while it holds a permit.
//!
//! Invariant: **a body being read under a permit (an upload's memory, a JSON body's
//! slot) arrives at [`MIN_RATE`] on average once [`GRACE`] has passed**, or it is
//! refused (47001) and its permit freed. The permits bound memory by the number of
//! bodies read at once; without a pace, a sender dripping a byte a second held one for
//! the whole request timeout, so four of them stopped every account's uploads and 256
//! (needing no token) stopped every JSON call.
//!
//! Only the average counts, measured from when reading began: a pause is fine as long
//! as what came before paid for it.

use std::time::Duration;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt, stream};

/// How long a body may take before its pace is counted.
pub const GRACE: Duration = Duration::from_secs(5);

/// The least average pace after [`GRACE`], in bytes a second (8 KiB/s: a 1 MB picture
/// in about two minutes, far under what the request timeout allows anyway).
pub const MIN_RATE: u64 = 8 * 1024;

/// The error a body too slow ends with.
#[derive(Debug, thiserror::Error)]
#[error(
    "the body arrived slower than {} KiB/s ({received} bytes in {:.0} s)",
    MIN_RATE / 1024,
    elapsed.as_secs_f64()
)]
pub struct TooSlow {
    pub received: u64,
    pub elapsed: Duration,
}

/// The latest moment the next chunk may arrive, `received` bytes in.
fn deadline(started: tokio::time::Instant, received: u64) -> tokio::time::Instant {
    started + GRACE + Duration::from_secs_f64(received as f64 / MIN_RATE as f64)
}

/// `body`, ended with a [`TooSlow`] error once it falls behind the pace.
pub fn paced<S>(body: S) -> impl Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin,
{
    let started = tokio::time::Instant::now();
    // Fused: the multipart parser polls again after the end (an unfused `unfold` panics).
    Box::pin(
        stream::unfold(
            (body, 0u64, false),
            move |(mut body, received, ended)| async move {
                if ended {
                    return None;
                }
                match tokio::time::timeout_at(deadline(started, received), body.next()).await {
                    Ok(Some(Ok(chunk))) => {
                        let received = received + chunk.len() as u64;
                        Some((Ok(chunk), (body, received, false)))
                    }
                    Ok(Some(Err(e))) => Some((Err(e), (body, received, true))),
                    Ok(None) => None,
                    Err(_) => {
                        let slow = TooSlow {
                            received,
                            elapsed: started.elapsed(),
                        };
                        Some((Err(axum::Error::new(slow)), (body, received, true)))
                    }
                }
            },
        )
        .fuse(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(n: usize) -> Vec<Result<Bytes, axum::Error>> {
        (0..n).map(|_| Ok(Bytes::from(vec![0u8; 1024]))).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_drip_is_ended_and_a_steady_body_is_read() {
        // One byte a second: ended once the grace has passed.
        let drip = stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok::<_, axum::Error>(Bytes::from_static(b"x")), n + 1))
        });
        let mut body = paced(Box::pin(drip));
        let mut got = 0;
        let error = loop {
            match body.next().await {
                Some(Ok(_)) => got += 1,
                Some(Err(e)) => break e.to_string(),
                None => panic!("a drip does not end by itself"),
            }
        };
        assert!((4..=6).contains(&got), "{got} bytes before the end");
        assert!(error.contains("slower than 8 KiB/s"), "{error}");
        assert!(body.next().await.is_none(), "nothing after the error");
        assert!(body.next().await.is_none(), "and polling again is fine");

        // 16 KiB/s for 20 s: read whole.
        let steady = stream::iter(chunks(320)).then(|c| async move {
            tokio::time::sleep(Duration::from_millis(62)).await;
            c
        });
        let mut body = paced(Box::pin(steady));
        let mut read = Vec::new();
        while let Some(chunk) = body.next().await {
            read.push(chunk);
        }
        assert!(body.next().await.is_none(), "polled after its end");
        assert_eq!(read.len(), 320);
        assert!(read.iter().all(Result::is_ok));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_paid_for_by_what_came_before_is_fine() {
        // 200 KiB at once, then 20 s of silence (200 KiB buys 25 s), then the rest.
        let fast = stream::iter(chunks(200));
        let pause = stream::once(async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            Ok(Bytes::from_static(b"end"))
        });
        let read: Vec<_> = paced(Box::pin(fast.chain(pause))).collect().await;
        assert_eq!(read.len(), 201);
        assert!(read.iter().all(Result::is_ok));
    }
}
