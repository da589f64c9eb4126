//! `wximg app …`: create, list, show, rotate-secret, delete, against a data directory.

use crate::support::{Backend, create_app, wximg};

fn app(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    wximg(Backend::Embedded(data), &[&["app"], args].concat())
}

#[test]
fn app_lifecycle() {
    let data = tempfile::tempdir().unwrap();
    let created = create_app(Backend::Embedded(data.path()), "service");
    let (appid, secret) = (created.appid.clone(), created.secret.clone());
    assert!(
        appid.starts_with("wx")
            && appid.len() == 18
            && appid[2..].bytes().all(|b| b.is_ascii_hexdigit())
    );
    assert!(secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created.json["type"], "service");

    let list = app(data.path(), &["list", "--json"]);
    assert!(list.status.success());
    let line: serde_json::Value =
        serde_json::from_slice(list.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["appid"], appid.as_str());
    assert!(
        line.get("secret").is_none(),
        "the secret is shown only at creation"
    );
    let db = std::fs::read(data.path().join("wximg.sqlite3")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is stored only hashed"
    );

    let show = app(data.path(), &["show", &appid]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("service"));

    let rotated = app(data.path(), &["rotate-secret", &appid, "--json"]);
    let rotated: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_ne!(rotated["secret"], secret.as_str());

    assert!(app(data.path(), &["delete", &appid]).status.success());
    let gone = app(data.path(), &["show", &appid]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("no app"),
        "says what is wrong"
    );
    let bad = app(data.path(), &["show", "not-an-appid"]);
    assert!(!bad.status.success());
    let bad_type = app(data.path(), &["create", "--type", "enterprise"]);
    assert!(!bad_type.status.success());
    assert!(
        String::from_utf8_lossy(&bad_type.stderr).contains("official"),
        "lists the valid types"
    );
}

#[test]
fn app_callback_sets_shows_validates_and_clears() {
    let data = tempfile::tempdir().unwrap();
    let created = create_app(Backend::Embedded(data.path()), "official");
    let appid = created.appid.as_str();
    let none = app(data.path(), &["callback", appid, "--show", "--json"]);
    assert!(none.status.success());
    let v: serde_json::Value = serde_json::from_slice(&none.stdout).unwrap();
    assert!(v["callback"].is_null());

    let set = app(
        data.path(),
        &[
            "callback",
            appid,
            "--url",
            "http://127.0.0.1:9/cb",
            "--token",
            "tok123",
            "--aes-key",
            "new",
            "--json",
        ],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(v["url"], "http://127.0.0.1:9/cb");
    assert_eq!(v["mode"], "safe", "a key means safe mode by default");
    assert_eq!(v["aes_key"].as_str().map(str::len), Some(43));
    assert!(v["original_id"].as_str().unwrap().starts_with("gh_"));

    for (args, says) in [
        (
            vec!["--url", "http://x/cb", "--token", "t!"],
            "3 to 32 letters and digits",
        ),
        (
            vec![
                "--url",
                "http://x/cb",
                "--token",
                "tok123",
                "--aes-key",
                "short",
            ],
            "43 characters",
        ),
        (
            vec![
                "--url",
                "http://x/cb",
                "--token",
                "tok123",
                "--mode",
                "safe",
            ],
            "needs --aes-key",
        ),
        (vec!["--url", "ftp://x/cb", "--token", "tok123"], "http://"),
        (vec!["--url", "http://x/cb"], "needs --token"),
    ] {
        let out = app(data.path(), &[&["callback", appid][..], &args].concat());
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // The refused changes left the settings as they were.
    let shown = app(data.path(), &["callback", appid]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("http://127.0.0.1:9/cb") && text.contains("safe"),
        "{text}"
    );

    let cleared = app(data.path(), &["callback", appid, "--clear"]);
    assert!(cleared.status.success());
    let after = app(data.path(), &["callback", appid, "--show"]);
    assert!(String::from_utf8_lossy(&after.stdout).contains("no callback"));
}
