//! Secrets and tokens never reach the logs: a real `wximg serve` with `RUST_LOG=debug`
//! (and again with `trace`, which turns on every dependency's logs too) gets the calls
//! that carry them — the secret in `/cgi-bin/token`'s query and `stable_token`'s body,
//! a wrong secret, tokens in `uploadimg`'s query, a forged token — and its whole stderr
//! is searched for each of them.

use crate::support::pictures::numbered_jpeg;
use crate::support::{
    App, Backend, Server, classic_token, create_app, http, stable_token, token_answer, upload,
};

async fn exercise(level: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let App { appid, secret, .. } = create_app(Backend::Embedded(&data), "official");
    let mut server = Server::start_with_env(
        Backend::Embedded(&data),
        &[],
        &[("RUST_LOG", level), ("NO_COLOR", "1")],
    );
    let http = http();
    let base = server.base.clone();
    let token = classic_token(&http, &base, &appid, &secret).await;
    let stable = stable_token(&http, &base, &appid, &secret, false).await;
    let stable = stable["access_token"]
        .as_str()
        .expect("stable token")
        .to_string();
    let wrong_secret = "0123456789abcdef0123456789abcdef";
    let v = token_answer(&http, &base, &appid, wrong_secret).await;
    assert_eq!(v["errcode"], 40125, "{v}");
    let picture = numbered_jpeg(1);
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
