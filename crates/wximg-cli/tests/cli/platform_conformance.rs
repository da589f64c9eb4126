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
    assert!(last.contains(" passed, 0 failed, "), "{text}");
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
        "token: wrong secret",
        "add_material: a JPEG named without extension",
        "add_material: a JPEG named .txt",
        "uploadimg: a JPEG named .txt (judged by its bytes)",
        "component: an account's token on a component API",
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

/// Over HTTPS with `--ca`: the certificate validates for the platform's host names; without
/// `--ca` the TLS checks are skipped (with the reason), never passed; a CA the certificate
/// does not chain to fails them.
#[test]
fn tls_checks_validate_the_platform_names_against_the_given_ca() {
    let data = tempfile::tempdir().expect("tempdir");
    let tls = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    for dir in [tls.path(), other.path()] {
        let out = Command::new(WXIMG)
            .args(["tls", "init", "--dir"])
            .arg(dir)
            .output()
            .expect("tls init");
        assert!(out.status.success());
    }
    let app = create_app(Backend::Embedded(data.path()), "official");
    let cert = tls.path().join("cert.pem");
    let key = tls.path().join("key.pem");
    let server = Server::start(
        Backend::Embedded(data.path()),
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let run = |ca: Option<&std::path::Path>| {
        let mut cmd = Command::new(WXIMG);
        cmd.args(["conformance", "--json", "--base-url", &server.base])
            .args(["--appid", &app.appid, "--secret", &app.secret]);
        if let Some(ca) = ca {
            cmd.arg("--ca").arg(ca);
        }
        let out = cmd.output().expect("run wximg conformance");
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        (out.status.success(), lines)
    };
    let result = |lines: &[serde_json::Value], name: &str| {
        lines
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {lines:?}"))["result"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let tls_names = [
        "tls: api.weixin.qq.com's certificate, token",
        "tls: mmbiz.qpic.cn's certificate, picture",
    ];

    let (ok, lines) = run(Some(&tls.path().join("ca.pem")));
    assert!(ok, "{lines:#?}");
    for name in tls_names {
        assert_eq!(result(&lines, name), "pass", "{name}: {lines:#?}");
    }
    // This server does not serve the CDN's widths: the point-5 group is skipped, saying so.
    let width = lines
        .iter()
        .find(|c| c["check"] == "cdn: /640?wx_fmt=jpeg, not upscaled")
        .expect("the width check");
    if width["result"] == "skip" {
        assert!(
            width["got"]
                .as_str()
                .unwrap_or("")
                .starts_with("not served by this server"),
            "{width}"
        );
    } else {
        assert_eq!(width["result"], "pass", "{width}");
    }

    // A CA the certificate does not chain to: the TLS checks fail.
    let (ok, lines) = run(Some(&other.path().join("ca.pem")));
    assert!(!ok);
    for name in tls_names {
        assert_eq!(result(&lines, name), "fail", "{name}: {lines:#?}");
    }
}
