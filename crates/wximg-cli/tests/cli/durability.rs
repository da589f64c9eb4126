//! Durability: an acknowledged upload survives `kill -9`.
//!
//! Eight clients upload distinct pictures as fast as they can while the server is killed
//! with SIGKILL at random moments and restarted, several times. Afterwards every upload
//! that was answered errcode 0 must serve its exact bytes, and no temp file may be left.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::pictures::{base_jpeg, distinct_jpeg};
use crate::support::{App, Backend, Server, classic_token, create_app};

/// An acknowledged upload: its URL and the bytes sent.
type Acked = (String, Vec<u8>);

const PUBLIC: &str = "http://durable.test";

fn start(data: &Path) -> Server {
    Server::start(Backend::Embedded(data), &["--public-url", PUBLIC])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_uploads_survive_sigkill() {
    let _heavy = crate::support::heavy();
    let data = tempfile::tempdir().expect("tempdir");
    let App { appid, secret, .. } = create_app(Backend::Embedded(data.path()), "official");

    let base_pic = Arc::new(base_jpeg());
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let http = crate::support::http_with_timeout(Duration::from_secs(10));
    let kills = 4;
    for round in 0..kills {
        let mut server = start(data.path());
        let base = server.base.clone();
        let token = classic_token(&http, &base, &appid, &secret).await;
        let mut workers = Vec::new();
        for _ in 0..8 {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let (acked, counter, base_pic) = (acked.clone(), counter.clone(), base_pic.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let bytes = distinct_jpeg(&base_pic, n, 0);
                    let form = reqwest::multipart::Form::new().part(
                        "media",
                        reqwest::multipart::Part::bytes(bytes.clone()).file_name("p.jpg"),
                    );
                    let sent = http
                        .post(format!(
                            "{base}/cgi-bin/media/uploadimg?access_token={token}"
                        ))
                        .multipart(form)
                        .send()
                        .await;
                    let Ok(resp) = sent else { break }; // the server is gone
                    let Ok(v) = resp.json::<serde_json::Value>().await else {
                        break;
                    };
                    if v["errcode"] == 0 {
                        acked
                            .lock()
                            .unwrap()
                            .push((v["url"].as_str().unwrap().to_string(), bytes));
                    }
                }
            }));
        }
        // Kill at a pseudo-random moment between 150 and 650 ms.
        let wait = 150 + (round as u64 * 277 + std::process::id() as u64) % 500;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        let _ = server.child.wait();
        for w in workers {
            let _ = w.await;
        }
    }

    // Restart once more and check every acknowledged picture.
    let server = start(data.path());
    let base = &server.base;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "only {} uploads were acknowledged; the test proves little",
        acked.len()
    );
    for (url, bytes) in &acked {
        let path = url
            .strip_prefix(PUBLIC)
            .expect("public URL")
            .split('?')
            .next()
            .unwrap();
        let resp = http.get(format!("{base}{path}")).send().await.expect("GET");
        assert_eq!(resp.status(), 200, "{url} lost after SIGKILL");
        assert_eq!(
            &resp.bytes().await.unwrap().to_vec(),
            bytes,
            "{url} changed after SIGKILL"
        );
    }
    let leftovers = std::fs::read_dir(data.path().join("blobs/.tmp"))
        .expect("tmp dir")
        .count();
    assert_eq!(leftovers, 0, "orphan temp files are swept at start");
    eprintln!(
        "{} acknowledged uploads survived {kills} SIGKILLs",
        acked.len()
    );
    drop(server);
}
