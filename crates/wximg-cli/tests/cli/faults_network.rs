//! Hostile and broken clients against a real `wximg serve`: each must be bounded by a
//! timeout or a limit, and the server must keep answering everyone else.
//!
//! - slow-loris: a request head sent a byte at a time, or never, or a kept-alive
//!   connection left idle → cut off by the 30 s header-read timeout, while other clients
//!   are served;
//! - a body that never ends → refused (40009) after the 1 MiB limit, the rest drained only
//!   up to the drain limit, with bounded memory;
//! - a body that stalls or drips → -1 when the whole-request timeout ends it;
//! - stalled uploads beyond the upload concurrency do not block other endpoints;
//! - a request head over the buffer limit → refused;
//! - 10,000 connections opened and dropped (some mid-request) → still answers, no
//!   descriptor leak.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::pictures::numbered_jpeg;
use crate::support::raw::{
    assert_errcode, chunk, errcode, healthz_quickly, open_sockets, read_until_answer,
    read_until_closed, start_with_app, upload_head, vm_rss_kb,
};
use crate::support::{Backend, Server, get_json, http, proc_status_kib, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_loris_heads_are_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(Backend::Embedded(&dir.path().join("data")), &[]);
    let http = http();
    let started = Instant::now();
    // 200 connections that send part of a head and then one header byte a second, 50
    // that send nothing at all, and 20 kept alive after one request and then left idle.
    let mut drippers = Vec::new();
    for i in 0..270 {
        let addr = server.addr();
        drippers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            if i < 200 {
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .expect("write");
            }
            if i >= 250 {
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .expect("write");
                let mut answer = [0u8; 1024];
                let n = s.read(&mut answer).await.expect("answer");
                assert!(
                    answer[..n].starts_with(b"HTTP/1.1 200"),
                    "keep-alive request"
                );
            }
            let opened = Instant::now();
            let mut buf = [0u8; 64];
            loop {
                if i < 200 && s.write_all(b"X").await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break, // closed by the server
                    Ok(Ok(_)) => panic!("a request with an unfinished head was answered"),
                    Err(_) => {}
                }
                if opened.elapsed() > Duration::from_secs(60) {
                    break;
                }
            }
            (i, opened.elapsed())
        }));
    }
    // Everyone else is served meanwhile.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        healthz_quickly(&http, &server.base).await;
    }
    let mut too_long = Vec::new();
    for d in drippers {
        let (i, lasted) = d.await.expect("dripper");
        if lasted >= Duration::from_secs(40) {
            let kind = match i {
                0..200 => "dripping",
                200..250 => "silent",
                _ => "idle keep-alive",
            };
            too_long.push((kind, lasted));
        }
    }
    assert!(
        too_long.is_empty(),
        "{} slow-loris connections outlived the 30 s header-read timeout, e.g. {:?}",
        too_long.len(),
        &too_long[..too_long.len().min(3)]
    );
    eprintln!(
        "270 slow-loris and idle connections all cut off within {:?}",
        started.elapsed()
    );
    healthz_quickly(&http, &server.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endless_body_is_refused_with_bounded_reading_and_memory() {
    let (_dir, server, token) = start_with_app(&[]).await;
    let pid = server.child.id();
    let rss_before = vm_rss_kb(pid);
    let mut s = TcpStream::connect(server.addr()).await.expect("connect");
    s.write_all(&upload_head(&token)).await.expect("head");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let block = chunk(&[0x42; 64 * 1024]);
        let mut sent: u64 = 0;
        // Never ends by itself: stops when the server stops reading, or at 1 GiB.
        while sent < 1 << 30 {
            match tokio::time::timeout(Duration::from_secs(5), wr.write_all(&block)).await {
                Ok(Ok(())) => sent += block.len() as u64,
                _ => break,
            }
        }
        sent
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buf[..n]);
                    if errcode(&response).is_some() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(answered.is_ok(), "no answer to an endless body within 60 s");
    assert_errcode(&response, 40009);
    drop(rd);
    let sent = writer.await.expect("writer");
    let rss_after = vm_rss_kb(pid);
    eprintln!(
        "endless body: server read ~{} MiB before refusing; RSS {} → {} KiB",
        sent >> 20,
        rss_before,
        rss_after
    );
    // The drain limit is 64 MiB; allow socket buffers on top, and nothing like 1 GiB.
    assert!(sent < 80 << 20, "the server kept reading: {sent} bytes");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB for one hostile body"
    );
    healthz_quickly(&http(), &server.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_and_dripping_bodies_end_at_the_request_timeout() {
    let (_dir, server, token) = start_with_app(&["--request-timeout", "3"]).await;
    // A body that stops, and one that drips a byte every 200 ms for ever.
    let mut stalled = TcpStream::connect(server.addr()).await.expect("connect");
    stalled.write_all(&upload_head(&token)).await.expect("head");
    let addr = server.addr();
    let dripper = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&upload_head(&token)).await.expect("head");
        let started = Instant::now();
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        while started.elapsed() < Duration::from_secs(30) {
            if s.write_all(&chunk(b"\x00")).await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    response.extend_from_slice(&buf[..n]);
                    if errcode(&response).is_some() {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        (started.elapsed(), response)
    });
    let started = Instant::now();
    let response = read_until_answer(&mut stalled, Duration::from_secs(30)).await;
    let waited = started.elapsed();
    let response = response.unwrap_or_else(|| panic!("a stalled body was held for {waited:?}"));
    assert_errcode(&response, -1);
    assert!(
        waited < Duration::from_secs(5),
        "stalled body answered after {waited:?}"
    );
    let (dripped, response) = dripper.await.expect("dripper");
    assert_errcode(&response, -1);
    assert!(
        dripped < Duration::from_secs(10),
        "dripping body answered after {dripped:?}"
    );
    eprintln!("stalled body answered -1 after {waited:?}, dripping body after {dripped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_uploads_beyond_the_concurrency_limit_do_not_block_the_rest() {
    let (_dir, server, token) =
        start_with_app(&["--upload-concurrency", "2", "--request-timeout", "20"]).await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(server.addr()).await.expect("connect");
        s.write_all(&upload_head(&token)).await.expect("head");
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = http();
    healthz_quickly(&http, &server.base).await;
    let started = Instant::now();
    let resp = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(resp.status(), 200);
    let v = get_json(
        &http,
        &format!("{}/cgi-bin/token?grant_type=client_credential", server.base),
    )
    .await;
    assert!(v["errcode"].as_i64().is_some(), "{v}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_request_head_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(Backend::Embedded(&dir.path().join("data")), &[]);
    let mut s = TcpStream::connect(server.addr()).await.expect("connect");
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..4000 {
        head.extend(format!("X-Filler-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    head.extend(b"\r\n");
    let _ = s.write_all(&head).await; // the server may close before it has read it all
    let response = read_until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("the connection is closed");
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "a ~200 KB head was not refused: {text}"
    );
    healthz_quickly(&http(), &server.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_connections_opened_and_dropped() {
    let _heavy = crate::support::heavy();
    let (_dir, server, token) = start_with_app(&[]).await;
    let pid = server.child.id();
    let http = http();
    // Warm up first, so the database pool and the like hold what they keep anyway.
    let v = upload(&http, &server.base, &token, numbered_jpeg(0)).await;
    assert_eq!(v["errcode"], 0, "{v}");
    healthz_quickly(&http, &server.base).await;
    let fds_before = open_sockets(pid);
    let started = Instant::now();
    // In waves of 1,000 held at once: a third send nothing, a third part of a head, a
    // third a whole upload head and part of its body; all dropped without a goodbye.
    let total = 10_000;
    let wave = 1_000;
    let head = upload_head(&token);
    for w in 0..total / wave {
        let mut conns = Vec::with_capacity(wave);
        for i in 0..wave {
            let mut s = TcpStream::connect(server.addr()).await.expect("connect");
            match (w * wave + i) % 3 {
                0 => {}
                1 => {
                    let _ = s
                        .write_all(b"POST /cgi-bin/media/uploadimg HTTP/1.1\r\nHo")
                        .await;
                }
                _ => {
                    let _ = s.write_all(&head).await;
                }
            }
            conns.push(s);
        }
        drop(conns);
    }
    let elapsed = started.elapsed();
    // Still answers, at once, including an upload.
    healthz_quickly(&http, &server.base).await;
    let v = upload(&http, &server.base, &token, numbered_jpeg(1)).await;
    assert_eq!(v["errcode"], 0, "{v}");
    // And lets go of every dropped connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fds = open_sockets(pid);
    while fds > fds_before + 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fds = open_sockets(pid);
    }
    assert!(
        fds <= fds_before + 4,
        "the server holds {fds} sockets, {fds_before} before the 10,000 connections"
    );
    eprintln!(
        "{total} connections opened and dropped in {elapsed:?}; sockets {fds_before} → {fds}"
    );
}

/// CPU seconds (user + system) the process has used, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("ticks");
    (ticks(11) + ticks(12)) / 100.0 // utime, stime (fields 14, 15), at 100 ticks a second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_multipart_framing_costs_bounded_memory_and_linear_time() {
    let _heavy = crate::support::heavy();
    let (_dir, server, token) = start_with_app(&[]).await;
    let pid = server.child.id();
    let http = http();
    let v = upload(&http, &server.base, &token, numbered_jpeg(0)).await;
    assert_eq!(v["errcode"], 0, "{v}");
    // Each body: (what it is, its first bytes, filler byte). The filler goes on for
    // 200 MiB (declared), the first MiB of it in 64-byte writes (small TCP segments are
    // what made the parser's rescans quadratic).
    let part = "--XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\n";
    let tiny_parts: String = (0..10_000)
        .map(|i| format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n\r\n"))
        .collect();
    let shapes: [(&str, String, u8); 3] = [
        (
            "a preamble that never reaches the boundary",
            String::new(),
            b'a',
        ),
        (
            "a part header that never ends",
            format!("{part}X-Filler: "),
            b'h',
        ),
        ("10,000 empty parts", tiny_parts, b'z'),
    ];
    for (what, prefix, filler) in shapes {
        // Reset the peak (VmHWM) to the current RSS, so the peak below is this body's.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
        let rss_before = vm_rss_kb(pid);
        let cpu_before = cpu_seconds(pid);
        let s = TcpStream::connect(server.addr()).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let head = format!(
            "POST /cgi-bin/media/uploadimg?access_token={token} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
            200 << 20
        );
        let (mut rd, mut wr) = s.into_split();
        let writer = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await?;
            wr.write_all(prefix.as_bytes()).await?;
            let small = [filler; 64];
            for _ in 0..(1 << 20) / small.len() {
                wr.write_all(&small).await?;
            }
            let big = vec![filler; 1 << 20];
            for _ in 0..199 {
                wr.write_all(&big).await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let started = Instant::now();
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while errcode(&response).is_none() {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => response.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        let took = started.elapsed();
        writer.abort();
        let grown = proc_status_kib(pid, "VmHWM:").saturating_sub(rss_before);
        let cpu = cpu_seconds(pid) - cpu_before;
        eprintln!("{what}: answered in {took:?}, peak RSS +{grown} KiB, {cpu:.2} s CPU");
        assert_errcode(&response, 47001);
        assert!(
            took < Duration::from_secs(5),
            "{what}: answered after {took:?}"
        );
        assert!(grown < 8 * 1024, "{what}: peak RSS grew by {grown} KiB");
        assert!(cpu < 2.0, "{what}: {cpu:.2} s of CPU");
    }
    healthz_quickly(&http, &server.base).await;
}
