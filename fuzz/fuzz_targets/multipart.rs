//! Fuzzes the upload path's body reader (`wximg_server::media::read_media`): the real
//! streaming multipart parse the server runs on every `uploadimg` body, fed in chunks whose
//! sizes the fuzzer also chooses (a picture split across reads is where parsers slip).
//!
//! Properties checked on every input, besides "no panic":
//! - an accepted `media` part is never empty and never over the byte limit;
//! - the memory permit is always given back (no leak that would block later uploads);
//! - splitting the same body differently gives the same answer;
//! - however the body is shaped, reading it never holds more than
//!   `wximg_server::media::memory_bound` (plus a fixed allowance for the parser's and the
//!   runtime's own structures), measured by a counting allocator around each read.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tokio::sync::Semaphore;
use wximg_server::media::{Limits, memory_bound, read_media};

/// Kept small so the fuzzer reaches the over-limit branches.
const MAX_BYTES: usize = 512;

/// What the parser and the runtime allocate for themselves whatever the body (futures,
/// header maps, the boundary finders).
const FIXED_ALLOWANCE: usize = 64 * 1024;

/// The system allocator, counting the bytes live now and the most live since `reset`.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

/// Splits `body` into chunks of the sizes `sizes` cycles through (1..=256 bytes).
fn chunks(body: &[u8], sizes: &[u8]) -> Vec<Result<Bytes, std::io::Error>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < body.len() {
        let size = sizes.get(i % sizes.len().max(1)).map_or(64, |&s| usize::from(s) + 1);
        let end = (pos + size).min(body.len());
        out.push(Ok(Bytes::copy_from_slice(&body[pos..end])));
        pos = end;
        i += 1;
    }
    out
}

/// The answer as something comparable: the accepted bytes, or the error's code.
fn run(headers: &HeaderMap, body: &[u8], sizes: &[u8], permits: &Arc<Semaphore>) -> Result<Vec<u8>, String> {
    let stream = futures_util::stream::iter(chunks(body, sizes));
    let body = Body::from_stream(stream);
    let rt = runtime();
    // The input itself (already split into chunks) is counted as live before the read.
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let answer = rt.block_on(read_media(
        headers,
        body,
        Limits {
            max_bytes: MAX_BYTES,
            permits,
        },
    ));
    let held = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        held <= memory_bound(MAX_BYTES) + FIXED_ALLOWANCE,
        "reading a {}-byte body held {held} bytes",
        body_len(headers)
    );
    match answer {
        Ok(media) => {
            assert!(!media.bytes.is_empty(), "an empty media part was accepted");
            assert!(media.bytes.len() <= MAX_BYTES, "media over the limit was accepted");
            Ok(media.bytes.clone())
        }
        Err(e) => Err(format!("{:?}", e.code)),
    }
}

fn body_len(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_string()
}

fuzz_target!(|data: &[u8]| {
    // Layout: [n][n chunk sizes][content-type flag][body…]
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 8);
    if rest.len() < n + 1 {
        return;
    }
    let (sizes, rest) = rest.split_at(n);
    let (&flag, body) = rest.split_first().unwrap_or((&0, &[]));
    let mut headers = HeaderMap::new();
    let content_type = match flag % 4 {
        0 => "multipart/form-data; boundary=XyZ",
        1 => "multipart/form-data; boundary=\"XyZ\"",
        2 => "multipart/form-data",
        _ => "application/octet-stream",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if flag & 4 != 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let permits = Arc::new(Semaphore::new(1));
    let first = run(&headers, body, sizes, &permits);
    assert_eq!(permits.available_permits(), 1, "the upload permit leaked");
    let whole = run(&headers, body, &[255], &permits);
    assert_eq!(first, whole, "the answer depends on how the body was split");
});
