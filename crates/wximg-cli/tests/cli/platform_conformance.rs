//! `wximg conformance` against a real `wximg serve`: every check passes on a correct
//! server, and the table shows the failures (exit status 1) on a server that answers
//! wrongly.

use std::process::Command;

use crate::support::{Backend, Server, WXIMG, create_app};

fn conformance(base: &str, appid: &str, secret: &str, json: bool) -> std::process::Output {
    let mut cmd = Command::new(WXIMG);
    cmd.args([
        "conformance",
        "--base-url",
        base,
        "--appid",
        appid,
        "--secret",
        secret,
    ]);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run wximg conformance")
}

#[test]
fn every_check_passes_against_wximg() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = create_app(Backend::Embedded(data.path()), "official");
    let server = Server::start(Backend::Embedded(data.path()), &[]);
    let out = conformance(&server.base, &app.appid, &app.secret, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let last = text.lines().last().unwrap_or("");
    assert!(last.ends_with(" passed, 0 failed"), "{text}");
    let passed: usize = last
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(passed >= 20, "{text}");
    for name in [
        "token: valid credentials",
        "token: unknown appid, no grant_type",
        "uploadimg: a PNG",
        "uploadimg: more than 1 MiB",
        "uploadimg: unknown access_token",
        "uploadimg: malformed access_token",
        "uploadimg: no media part",
        "uploadimg: not a picture",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.contains("pass")),
            "{name}: {text}"
        );
    }
}

#[test]
fn failures_are_reported_and_fail_the_run() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = create_app(Backend::Embedded(data.path()), "official");
    // A server whose uploads all fail, and whose 40005 is wrong: what a broken
    // implementation looks like from outside.
    let server = Server::start(
        Backend::Embedded(data.path()),
        &["--faults", "uploadimg:-1:1"],
    );
    let out = conformance(&server.base, &app.appid, &app.secret, true);
    assert!(!out.status.success());
    let checks: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let find = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    };
    assert_eq!(find("uploadimg: a JPEG")["pass"], false);
    assert_eq!(find("uploadimg: not a picture")["pass"], false);
    assert!(
        find("uploadimg: not a picture")["got"]
            .as_str()
            .unwrap_or("")
            .starts_with("-1 system error")
    );
    assert_eq!(find("token: valid credentials")["pass"], true);
    // The checks of today's messages and codes see the made-up answers too.
    for name in [
        "uploadimg: malformed access_token",
        "uploadimg: no media part",
        "uploadimg: unknown access_token",
    ] {
        assert_eq!(find(name)["pass"], false, "{name}");
    }
    assert_eq!(
        find("uploadimg: not a picture")["expected"],
        "40005 invalid file type hint: […]"
    );

    // And a base URL where nothing listens fails every check, not the program.
    let out = conformance(
        "http://127.0.0.1:9",
        "wx0000000000000000",
        &"0".repeat(32),
        false,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(" passed, "));
}
