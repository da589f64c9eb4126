//! A hostile 50 MB `media` part must not raise the server's memory: it is refused at
//! 1 MiB and the rest is read and thrown away, never kept.

use futures_util::stream;

use crate::support::{Backend, Server, classic_token, create_app, proc_status_kib};

#[tokio::test]
async fn a_50_mb_body_does_not_raise_rss() {
    let data = tempfile::tempdir().unwrap();
    let app = create_app(Backend::Embedded(data.path()), "official");
    let server = Server::start(Backend::Embedded(data.path()), &[]);
    let (pid, base) = (server.child.id(), &server.base);
    let http = crate::support::http();
    let token = classic_token(&http, base, &app.appid, &app.secret).await;
    let upload = format!("{base}/cgi-bin/media/uploadimg?access_token={token}");
    let send = |mb: usize| {
        let chunk = vec![0u8; 1 << 20];
        let body = stream::iter((0..mb).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(body))
            .file_name("huge.jpg");
        http.post(&upload)
            .multipart(reqwest::multipart::Form::new().part("media", part))
            .send()
    };
    // Warm up the same path (allocator, buffers) with a small oversized body.
    let warm: serde_json::Value = send(2).await.unwrap().json().await.unwrap();
    assert_eq!(warm["errcode"], 40009);
    let before = proc_status_kib(pid, "VmHWM:");
    let answer: serde_json::Value = send(50).await.unwrap().json().await.unwrap();
    assert_eq!(answer["errcode"], 40009);
    let after = proc_status_kib(pid, "VmHWM:");
    assert!(
        after.saturating_sub(before) < 4 * 1024,
        "peak RSS grew by {} KiB for a 50 MB body",
        after - before
    );
    drop(server);
}
