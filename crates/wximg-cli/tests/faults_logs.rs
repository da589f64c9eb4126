//! Secrets and tokens never reach the logs: a real `wximg serve` with `RUST_LOG=debug`
//! (and again with `trace`, which turns on every dependency's logs too) gets the calls
//! that carry them — the secret in `/cgi-bin/token`'s query and `stable_token`'s body,
//! a wrong secret, tokens in `uploadimg`'s query, a forged token — and its whole stderr
//! is searched for each of them.

mod faults_common;
mod support;

use faults_common::*;

async fn exercise(level: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (appid, secret) = create_app(&data);
    let mut server = Server::start(&data, &[], &[("RUST_LOG", level), ("NO_COLOR", "1")]);
    let http = http();
    let base = server.base.clone();
    let token = token(&http, &base, &appid, &secret).await;
    let stable: serde_json::Value = http
        .post(format!("{base}/cgi-bin/stable_token"))
        .json(&serde_json::json!({
            "grant_type": "client_credential", "appid": appid, "secret": secret,
        }))
        .send()
        .await
        .expect("stable_token")
        .json()
        .await
        .expect("JSON");
    let stable = stable["access_token"]
        .as_str()
        .expect("stable token")
        .to_string();
    let wrong_secret = "0123456789abcdef0123456789abcdef";
    let v: serde_json::Value = http
        .get(format!(
            "{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={wrong_secret}"
        ))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    assert_eq!(v["errcode"], 40125, "{v}");
    let picture = distinct_jpeg(&base_jpeg(), 1, 0);
    assert_eq!(
        upload(&http, &base, &token, picture.clone()).await["errcode"],
        0
    );
    assert_eq!(
        upload(&http, &base, &stable, picture.clone()).await["errcode"],
        0
    );
    let forged = "FORGEDtoken0123456789abcdefFORGED";
    assert_eq!(
        upload(&http, &base, forged, picture).await["errcode"],
        40001
    );
    server.kill();
    let logs = server.logs();
    assert!(
        logs.lines().count() >= 5,
        "too few log lines at {level} to prove anything:\n{logs}"
    );
    assert!(
        logs.contains("answered"),
        "the per-request debug line is missing: the logs were not captured\n{logs}"
    );
    for (what, value) in [
        ("the app secret", secret.as_str()),
        ("a wrong secret", wrong_secret),
        ("the access token", token.as_str()),
        ("the stable token", stable.as_str()),
        ("a forged token", forged),
    ] {
        if let Some(line) = logs.lines().find(|l| l.contains(value)) {
            panic!("{what} is in the logs at RUST_LOG={level}: {line}");
        }
    }
    eprintln!(
        "RUST_LOG={level}: {} log lines, no secret or token in them",
        logs.lines().count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_debug_logs() {
    exercise("debug").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_trace_logs() {
    exercise("trace").await;
}
