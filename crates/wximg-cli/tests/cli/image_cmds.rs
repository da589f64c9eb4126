//! `wximg image …` and takedowns (issue #16, points 1 and 2), on both backends, with a
//! server running meanwhile: pictures per account (list, paging, show, usage), and a
//! takedown's effects — rows, shared blobs, the block list (87014), the audit log, every
//! node's picture cache (two nodes on PostgreSQL + S3), and `app delete`'s choice.

use std::time::{Duration, Instant};

use serde_json::Value;
use wximg_proto::ImageId;
use wximg_store::{Storage, StorageConfig};

use crate::support::pictures::unique_png;
use crate::support::services::node;
use crate::support::{
    App, Backend, Server, classic_token, create_app, http, services, stderr, stdout, upload,
    url_path, wximg,
};

/// `wximg ARGS… --json` on `backend`: (success, one JSON value per stdout line).
fn json_lines(backend: Backend, args: &[&str]) -> (bool, Vec<Value>, String) {
    let out = wximg(backend, &[args, &["--json"]].concat());
    let lines = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (out.status.success(), lines, stderr(&out))
}

/// The storage `backend` names, opened in this process (to look at blobs directly).
async fn open(backend: Backend<'_>) -> Storage {
    let config = match backend {
        Backend::Embedded(data) => StorageConfig {
            data_dir: data.to_path_buf(),
            database_url: None,
            store: None,
        },
        Backend::ScaleOut(svc) => StorageConfig {
            data_dir: "unused".into(),
            database_url: Some(svc.database_url.clone()),
            store: Some(svc.store.clone()),
        },
    };
    wximg_store::open(&config).await.expect("open storage")
}

/// The picture id of an upload answer.
fn id_of(answer: &Value) -> String {
    let path = url_path(answer["url"].as_str().expect("url"));
    path.split('/').nth(2).expect("id segment").to_string()
}

async fn status(http: &reqwest::Client, base: &str, answer: &Value) -> u16 {
    let path = url_path(answer["url"].as_str().expect("url"));
    let got = http.get(format!("{base}{path}")).send().await.expect("GET");
    got.status().as_u16()
}

/// Polls until the picture of `answer` answers `want` on `base`; how long it took.
async fn wait_status(http: &reqwest::Client, base: &str, answer: &Value, want: u16) -> Duration {
    let started = Instant::now();
    loop {
        let got = status(http, base, answer).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{base} still answers {got} (not {want}) 5 s on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GETs the picture a few times with pauses, so the node's cache holds it (filled in the
/// background after a miss).
async fn warm(http: &reqwest::Client, base: &str, answer: &Value) {
    for _ in 0..3 {
        assert_eq!(status(http, base, answer).await, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Two accounts; A stores `shared` and `own`, B stores `shared` and `other`.
struct Fixture {
    a: App,
    b: App,
    shared: Value,
    own: Value,
    other: Value,
    shared_bytes: Vec<u8>,
    own_bytes: Vec<u8>,
}

async fn fixture(backend: Backend<'_>, server: &Server) -> Fixture {
    let http = http();
    let (a, b) = (
        create_app(backend, "official"),
        create_app(backend, "official"),
    );
    let ta = classic_token(&http, &server.base, &a.appid, &a.secret).await;
    let tb = classic_token(&http, &server.base, &b.appid, &b.secret).await;
    let (shared_bytes, own_bytes) = (unique_png(), unique_png());
    let shared = upload(&http, &server.base, &ta, shared_bytes.clone()).await;
    let own = upload(&http, &server.base, &ta, own_bytes.clone()).await;
    let shared_b = upload(&http, &server.base, &tb, shared_bytes.clone()).await;
    let other = upload(&http, &server.base, &tb, unique_png()).await;
    for v in [&shared, &own, &shared_b, &other] {
        assert_eq!(v["errcode"], 0, "{v}");
    }
    assert_eq!(shared["url"], shared_b["url"], "same bytes, same URL");
    Fixture {
        a,
        b,
        shared,
        own,
        other,
        shared_bytes,
        own_bytes,
    }
}

/// Point 1: list (per account, newest first, paged, `--since`), show (by id or URL,
/// every account of shared bytes), usage (from the database), unknown ids.
async fn pictures_per_account(backend: Backend<'_>) {
    let server = Server::start(backend, &[]);
    let f = fixture(backend, &server).await;

    let (ok, a_rows, err) = json_lines(backend, &["image", "list", "--appid", &f.a.appid]);
    assert!(ok, "{a_rows:?} {err}");
    let ids: Vec<&str> = a_rows
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(a_rows.len(), 2, "{a_rows:?}");
    assert!(ids.contains(&id_of(&f.shared).as_str()) && ids.contains(&id_of(&f.own).as_str()));
    for row in &a_rows {
        assert_eq!(row["appid"], f.a.appid.as_str());
        assert_eq!(row["format"], "png");
        assert_eq!(
            (row["width"].as_u64(), row["height"].as_u64()),
            (Some(24), Some(16))
        );
        assert!(row["size"].as_u64().is_some_and(|s| s > 0));
        assert!(
            row["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/0?from=appmsg"))
        );
    }
    assert!(
        a_rows[0]["created_at"].as_i64() >= a_rows[1]["created_at"].as_i64(),
        "newest first: {a_rows:?}"
    );

    // Paged one row at a time: the same rows in the same order, each once.
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut args = vec!["image", "list", "--appid", &f.b.appid, "--limit", "1"];
        if let Some(cursor) = &before {
            args.extend(["--before", cursor.as_str()]);
        }
        let (ok, page, err) = json_lines(backend, &args);
        assert!(ok, "{page:?} {err}");
        let Some(row) = page.first() else { break };
        assert_eq!(page.len(), 1);
        before = row["cursor"].as_str().map(str::to_string);
        paged.push(row["id"].clone());
        assert!(paged.len() <= 2, "paging does not end: {paged:?}");
    }
    let (_, b_rows, _) = json_lines(backend, &["image", "list", "--appid", &f.b.appid]);
    let b_ids: Vec<Value> = b_rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(paged, b_ids);
    let (_, future, _) = json_lines(
        backend,
        &[
            "image",
            "list",
            "--appid",
            &f.a.appid,
            "--since",
            "2999-01-01",
        ],
    );
    assert!(future.is_empty(), "--since filters: {future:?}");

    // Show by URL: both accounts of the shared bytes.
    let url = f.shared["url"].as_str().expect("url");
    let (ok, shown, err) = json_lines(backend, &["image", "show", url]);
    assert!(ok, "{shown:?} {err}");
    let mut owners: Vec<&str> = shown
        .iter()
        .map(|r| r["appid"].as_str().expect("appid"))
        .collect();
    owners.sort();
    let mut want = vec![f.a.appid.as_str(), f.b.appid.as_str()];
    want.sort();
    assert_eq!(owners, want);

    // Usage per account, from the rows (the shared bytes count for each account).
    let (ok, usage, err) = json_lines(backend, &["image", "usage"]);
    assert!(ok, "{usage:?} {err}");
    let sizes: u64 = a_rows.iter().filter_map(|r| r["size"].as_u64()).sum();
    let line = |appid: &str| {
        usage
            .iter()
            .find(|u| u["appid"] == appid)
            .unwrap_or_else(|| panic!("no usage line for {appid}: {usage:?}"))
            .clone()
    };
    assert_eq!(line(&f.a.appid)["pictures"], 2);
    assert_eq!(line(&f.a.appid)["bytes"].as_u64(), Some(sizes));
    assert_eq!(line(&f.b.appid)["pictures"], 2);
    assert!(usage.iter().any(|u| u["total"] == true));

    // An unknown picture: a clear error and a non-zero exit.
    let unknown = ImageId::of(b"never uploaded").to_string();
    let out = wximg(backend, &["image", "show", &unknown]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no picture"), "{}", stderr(&out));
    let out = wximg(backend, &["image", "show", "not-a-picture"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither a picture id"),
        "{}",
        stderr(&out)
    );
}

/// Point 2 on one node: a takedown of one account's row keeps shared bytes; a takedown
/// of the picture removes row, blob and cached copy (404), `--block` refuses the bytes
/// with 87014, the audit log keeps every removal, fsck stays clean, and `app delete`
/// asks what becomes of an account's pictures.
async fn takedown(backend: Backend<'_>) {
    let server = Server::start(backend, &[]);
    let http = http();
    let f = fixture(backend, &server).await;
    let storage = open(backend).await;
    let shared_id = ImageId::of(&f.shared_bytes);
    warm(&http, &server.base, &f.shared).await;

    // One account's row: the bytes stay for the other, under the same URL.
    let shared_url = f.shared["url"].as_str().expect("url");
    let (ok, done, err) = json_lines(
        backend,
        &[
            "image", "delete", shared_url, "--appid", &f.a.appid, "--reason", "asked", "--by",
            "ops",
        ],
    );
    assert!(ok, "{done:?}");
    assert_eq!(done[0]["blob_removed"], false);
    assert_eq!(done[0]["remaining"][0], f.b.appid.as_str());
    assert_eq!(status(&http, &server.base, &f.shared).await, 200);
    assert!(
        storage
            .blobs
            .get(&shared_id, None)
            .await
            .expect("get")
            .is_some()
    );

    // The whole picture, blocked: 404 on the node (cached copy included), blob gone,
    // the same bytes refused with the platform's code for prohibited content.
    let (ok, done, _) = json_lines(
        backend,
        &[
            "image",
            "delete",
            &id_of(&f.shared),
            "--reason",
            "illegal",
            "--by",
            "ops",
            "--block",
        ],
    );
    assert!(ok, "{done:?}");
    assert_eq!(done[0]["blob_removed"], true);
    assert_eq!(done[0]["removed"][0], f.b.appid.as_str());
    wait_status(&http, &server.base, &f.shared, 404).await;
    assert!(
        storage
            .blobs
            .get(&shared_id, None)
            .await
            .expect("get")
            .is_none()
    );
    let tb = classic_token(&http, &server.base, &f.b.appid, &f.b.secret).await;
    let again = upload(&http, &server.base, &tb, f.shared_bytes.clone()).await;
    assert_eq!(again["errcode"], 87014, "{again}");
    assert!(
        again["errmsg"]
            .as_str()
            .is_some_and(|m| m.starts_with("risky content rid: "))
    );

    // Without --block the bytes may come back.
    let (ok, _, _) = json_lines(
        backend,
        &[
            "image",
            "delete",
            &id_of(&f.own),
            "--reason",
            "mistake",
            "--by",
            "ops",
        ],
    );
    assert!(ok, "{done:?} {err}");
    wait_status(&http, &server.base, &f.own, 404).await;
    let ta = classic_token(&http, &server.base, &f.a.appid, &f.a.secret).await;
    let back = upload(&http, &server.base, &ta, f.own_bytes.clone()).await;
    assert_eq!(back["errcode"], 0, "{back}");
    assert_eq!(status(&http, &server.base, &back).await, 200);

    // The audit log: who, when, why, for which account.
    let (ok, log, err) = json_lines(backend, &["image", "takedowns", "--appid", &f.a.appid]);
    assert!(ok, "{log:?} {err}");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["reason"], "mistake", "newest first");
    assert_eq!(log[1]["reason"], "asked");
    assert!(
        log.iter()
            .all(|t| t["by"] == "ops" && t["taken_at"].as_i64().is_some())
    );
    let (_, log_b, _) = json_lines(backend, &["image", "takedowns", "--appid", &f.b.appid]);
    assert_eq!((log_b.len(), &log_b[0]["blocked"]), (1, &Value::Bool(true)));

    // Again, or unknown: nothing to take down, said so, non-zero exit.
    let out = wximg(
        backend,
        &[
            "image",
            "delete",
            &id_of(&f.shared),
            "--reason",
            "x",
            "--by",
            "ops",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("blocked"), "{}", stderr(&out));
    let out = wximg(
        backend,
        &["image", "delete", "bogus", "--reason", "x", "--by", "ops"],
    );
    assert!(!out.status.success());

    // `app delete` never decides for the operator.
    let out = wximg(backend, &["app", "delete", &f.b.appid]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--keep-pictures"), "{}", stderr(&out));
    assert_eq!(status(&http, &server.base, &f.other).await, 200);
    let out = wximg(
        backend,
        &[
            "app",
            "delete",
            &f.b.appid,
            "--delete-pictures",
            "--by",
            "ops",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    wait_status(&http, &server.base, &f.other, 404).await;
    let out = wximg(backend, &["app", "delete", &f.a.appid, "--keep-pictures"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        status(&http, &server.base, &back).await,
        200,
        "kept pictures stay served"
    );

    // (Other tests may share the scale-out storage: only this test's pictures are judged.)
    let report = wximg_store::fsck::check(&storage, &wximg_store::fsck::Options::default())
        .await
        .expect("fsck");
    let ours = [shared_id, ImageId::of(&f.own_bytes)];
    assert!(
        report.problems.iter().all(|p| !ours.contains(p.id()))
            && report.pending_deletions.iter().all(|id| !ours.contains(id))
            && report.orphans.iter().all(|id| !ours.contains(id)),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_per_account_embedded() {
    let data = tempfile::tempdir().expect("tempdir");
    pictures_per_account(Backend::Embedded(data.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_per_account_scaleout() {
    let Some(svc) = services("pictures_per_account_scaleout") else {
        return;
    };
    pictures_per_account(Backend::ScaleOut(&svc)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takedown_embedded() {
    let data = tempfile::tempdir().expect("tempdir");
    takedown(Backend::Embedded(data.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takedown_scaleout() {
    let Some(svc) = services("takedown_scaleout") else {
        return;
    };
    takedown(Backend::ScaleOut(&svc)).await;
}

/// A takedown run on the side (the CLI) is seen by both nodes, each of which holds the
/// picture in its cache, within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takedown_seen_across_two_nodes() {
    let Some(svc) = services("takedown_seen_across_two_nodes") else {
        return;
    };
    let backend = Backend::ScaleOut(&svc);
    let (a, b) = (node(&svc), node(&svc));
    let http = http();
    let app = create_app(backend, "official");
    let token = classic_token(&http, &a.base, &app.appid, &app.secret).await;
    let answer = upload(&http, &a.base, &token, unique_png()).await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    warm(&http, &a.base, &answer).await;
    warm(&http, &b.base, &answer).await;

    let out = wximg(
        backend,
        &[
            "image",
            "delete",
            &id_of(&answer),
            "--reason",
            "court order",
            "--by",
            "legal",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (on_a, on_b) = tokio::join!(
        wait_status(&http, &a.base, &answer, 404),
        wait_status(&http, &b.base, &answer, 404)
    );
    eprintln!("takedown seen on A after {on_a:?}, on B after {on_b:?}");
}

/// `wximg migrate` carries one row per account of shared bytes, the audit log and the
/// block list: the blocked bytes stay refused (87014) on the scale-out nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_carries_rows_per_account_takedowns_and_blocks() {
    let Some(svc) = services("migrate_carries_rows_per_account_takedowns_and_blocks") else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let embedded = Backend::Embedded(data.path());
    let server = Server::start(embedded, &[]);
    let f = fixture(embedded, &server).await;
    let (ok, said, err) = json_lines(
        embedded,
        &[
            "image",
            "delete",
            &id_of(&f.own),
            "--reason",
            "spam",
            "--by",
            "ops",
            "--block",
        ],
    );
    assert!(ok, "{said:?} {err}");
    drop(server);

    let out = std::process::Command::new(crate::support::WXIMG)
        .args(["migrate", "--from"])
        .arg(data.path())
        .args(["--to-database", &svc.database_url, "--to-store", &svc.store])
        .output()
        .expect("run wximg migrate");
    let said = stdout(&out);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(said.contains("takedown audit entries: 1 copied"), "{said}");
    assert!(said.contains("blocked pictures: 1 copied"), "{said}");

    let scaleout = Backend::ScaleOut(&svc);
    let (_, shown, _) = json_lines(scaleout, &["image", "show", &id_of(&f.shared)]);
    assert_eq!(
        shown.len(),
        2,
        "both accounts' rows of the shared bytes: {shown:?}"
    );
    let (_, log, _) = json_lines(scaleout, &["image", "takedowns", "--appid", &f.a.appid]);
    assert_eq!((log.len(), &log[0]["reason"]), (1, &Value::from("spam")));

    let n = node(&svc);
    let http = http();
    let ta = classic_token(&http, &n.base, &f.a.appid, &f.a.secret).await;
    let again = upload(&http, &n.base, &ta, f.own_bytes.clone()).await;
    assert_eq!(again["errcode"], 87014, "{again}");
}
