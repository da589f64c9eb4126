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
