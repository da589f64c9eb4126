//! Raw-socket helpers for the tests of hostile clients: what a well-behaved HTTP client
//! would never send, written byte by byte, and the server process's own figures.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::{Server, proc_status_kib, serve_with_token};

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None, // still open at the deadline
            Ok(Ok(0)) | Ok(Err(_)) => return Some(all),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads until what the server sent holds an errcode (or it closes, or `limit` passes).
pub async fn read_until_answer(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    while errcode(&all).is_none() {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
    Some(all)
}

/// `/healthz` answers 200 within `limit` (with a client timeout of a little more).
pub async fn healthz_within(http: &reqwest::Client, base: &str, limit: Duration) {
    let started = Instant::now();
    let resp = http
        .get(format!("{base}/healthz"))
        .timeout(limit + Duration::from_secs(3))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < limit,
        "healthz took {:?}",
        started.elapsed()
    );
}

pub async fn healthz_quickly(http: &reqwest::Client, base: &str) {
    healthz_within(http, base, Duration::from_secs(2)).await;
}

pub fn vm_rss_kb(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

/// Sockets the process holds (the database pool's files come and go with load, so they
/// are not counted).
pub fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

pub async fn start_with_app(extra: &[&str]) -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, token) = serve_with_token(&dir.path().join("data"), extra).await;
    (dir, server, token)
}

/// The head of a chunked multipart upload whose `media` part has just begun.
pub fn upload_head(token: &str) -> Vec<u8> {
    let mut head = format!(
        "POST /cgi-bin/media/uploadimg?access_token={token} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let part = b"--XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\n\r\n\xFF\xD8";
    head.extend(format!("{:x}\r\n", part.len()).as_bytes());
    head.extend(part);
    head.extend(b"\r\n");
    head
}

pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend(data);
    out.extend(b"\r\n");
    out
}

pub fn errcode(response: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(response);
    let json = &text[text.find('{')?..=text.rfind('}')?];
    serde_json::from_str::<serde_json::Value>(json).ok()?["errcode"].as_i64()
}

/// Asserts that the raw HTTP `response` carries the errcode `want`.
pub fn assert_errcode(response: &[u8], want: i64) {
    assert_eq!(
        errcode(response),
        Some(want),
        "{}",
        String::from_utf8_lossy(response)
    );
}
