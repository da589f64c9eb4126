//! `wximg backup` and `wximg restore` (issue #16, point 3) on a real data directory that a
//! real `wximg serve` writes: a backup taken during a stream of uploads holds every
//! upload acknowledged before it started (restored, served and fetched byte for byte), a
//! second run copies only the new blobs, a damaged blob fails the run and leaves the
//! previous backup whole, and what is not an embedded store or a backup is refused.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::pictures::{base_jpeg, distinct_jpeg};
use crate::support::{
    Backend, Server, classic_token, create_app, fsck, http, http_with_timeout, serve_with_token,
    stderr, upload, url_path, wximg,
};

const PUBLIC: &str = "http://backup.test";

/// An acknowledged upload: its URL, the bytes sent, and when errcode 0 arrived.
type Acked = (String, Vec<u8>, Instant);

/// `wximg backup DEST --data DATA --json`: (exit success, report, stderr).
fn backup(data: &Path, dest: &Path) -> (bool, Value, String) {
    let dest = dest.to_str().expect("UTF-8 path");
    run_json(Backend::Embedded(data), &["backup", dest, "--json"])
}

/// `wximg restore SRC --data DATA --json`: (exit success, report, stderr).
fn restore(src: &Path, data: &Path) -> (bool, Value, String) {
    let src = src.to_str().expect("UTF-8 path");
    run_json(Backend::Embedded(data), &["restore", src, "--json"])
}

fn run_json(backend: Backend, args: &[&str]) -> (bool, Value, String) {
    let out = wximg(backend, args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out.status.success(), report, stderr(&out))
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Waits until `acked` holds at least `n` uploads (or panics after a minute).
async fn until_acked(acked: &Mutex<Vec<Acked>>, n: usize) {
    let started = Instant::now();
    while acked.lock().expect("acked").len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "fewer than {n} uploads acknowledged in a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_holds_every_upload_acknowledged_before_it_started() {
    let _heavy = crate::support::heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest, restored) = (
        dir.path().join("data"),
        dir.path().join("backup"),
        dir.path().join("restored"),
    );
    let app = create_app(Backend::Embedded(&data), "official");
    let server = Server::start(Backend::Embedded(&data), &["--public-url", PUBLIC]);
    let http = http_with_timeout(Duration::from_secs(30));
    let token = classic_token(&http, &server.base, &app.appid, &app.secret).await;

    // Four clients upload distinct pictures (~40 KB each) until told to stop; each
    // finishes the upload it has started, so every row the server commits is counted.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let failed: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let base_pic = Arc::new(base_jpeg());
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        let (counter, base_pic) = (counter.clone(), base_pic.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let bytes = distinct_jpeg(&base_pic, n, 40_000);
                let v = upload(&http, &base, &token, bytes.clone()).await;
                let now = Instant::now();
                match v["url"].as_str() {
                    Some(url) if v["errcode"] == 0 => {
                        acked
                            .lock()
                            .expect("acked")
                            .push((url.to_string(), bytes, now));
                    }
                    _ => failed.lock().expect("failed").push(v),
                }
            }
        }));
    }

    until_acked(&acked, 300).await;
    let started = Instant::now();
    let (ok, first, err) = {
        let (data, dest) = (data.clone(), dest.clone());
        tokio::task::spawn_blocking(move || backup(&data, &dest))
            .await
            .expect("backup task")
    };
    let ended = Instant::now();
    assert!(ok, "backup under load failed: {first}\n{err}");
    assert_eq!(first["complete"], true, "{first}");
    let during = acked
        .lock()
        .expect("acked")
        .iter()
        .filter(|(_, _, at)| *at > started && *at < ended)
        .count();
    let after_backup = acked.lock().expect("acked").len();
    until_acked(&acked, after_backup + 50).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("uploader");
    }
    let failed = failed.lock().expect("failed").clone();
    assert!(failed.is_empty(), "uploads failed: {failed:?}");
    let acked = acked.lock().expect("acked").clone();
    let before: Vec<&Acked> = acked.iter().filter(|(_, _, at)| *at < started).collect();
    assert!(before.len() >= 300, "{} acknowledged before", before.len());
    assert!(
        during > 0,
        "no upload was acknowledged while the backup ran: it did not run under load"
    );
    let pictures = count(&first, "pictures");
    assert!(
        pictures as usize >= before.len(),
        "the backup has {pictures} pictures, {} were acknowledged before it started",
        before.len()
    );
    assert_eq!(count(&first, "copied"), pictures, "{first}");

    // Restore into a new directory: fsck clean, and every upload acknowledged before the
    // backup started is served from it with its exact bytes.
    let (ok, report, err) = restore(&dest, &restored);
    assert!(ok, "restore failed: {report}\n{err}");
    assert_eq!(count(&report, "pictures"), pictures, "{report}");
    let (clean, check) = fsck(&restored, &[]);
    assert!(clean, "the restored directory is not clean: {check}");
    assert_eq!(count(&check, "rows"), pictures, "{check}");
    let copy = Server::start(Backend::Embedded(&restored), &["--public-url", PUBLIC]);
    for (url, bytes, _) in &before {
        let resp = http
            .get(format!("{}{}", copy.base, url_path(url)))
            .send()
            .await
            .expect("GET");
        assert_eq!(
            resp.status(),
            200,
            "{url}, acknowledged before the backup, is not in it"
        );
        let got = resp.bytes().await.expect("body");
        assert!(got[..] == bytes[..], "{url} differs in the restored copy");
    }
    drop(copy);

    // A second run into the same backup copies only the pictures uploaded since.
    let (ok, second, err) = backup(&data, &dest);
    assert!(ok, "second backup failed: {second}\n{err}");
    assert_eq!(count(&second, "pictures"), acked.len() as u64, "{second}");
    assert_eq!(count(&second, "present"), pictures, "{second}");
    assert_eq!(
        count(&second, "copied"),
        acked.len() as u64 - pictures,
        "{second}"
    );
    assert!(count(&second, "copied_bytes") < count(&second, "blob_bytes"));
    let (ok, check) = fsck(&data, &[]);
    assert!(
        ok,
        "the live data directory is not clean after two backups: {check}"
    );

    eprintln!(
        "backup under load: {pictures} pictures, {:.1} MB of blobs, database {:.0} KB; \
         {:.2} s in all ({:.3} s the database snapshot; the CLI's own run {:.2} s), \
         {during} uploads acknowledged meanwhile, {} before it started; \
         second run: {} copied ({:.1} MB), {} present, {:.2} s",
        count(&first, "blob_bytes") as f64 / 1e6,
        count(&first, "database_bytes") as f64 / 1e3,
        first["seconds"].as_f64().unwrap_or(f64::NAN),
        first["snapshot_seconds"].as_f64().unwrap_or(f64::NAN),
        (ended - started).as_secs_f64(),
        before.len(),
        count(&second, "copied"),
        count(&second, "copied_bytes") as f64 / 1e6,
        count(&second, "present"),
        second["seconds"].as_f64().unwrap_or(f64::NAN),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_blob_fails_the_backup_names_it_and_keeps_the_previous_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest, restored) = (
        dir.path().join("data"),
        dir.path().join("backup"),
        dir.path().join("restored"),
    );
    let (server, token) = serve_with_token(&data, &[]).await;
    let http = http();
    let base = base_jpeg();
    let mut ids = Vec::new();
    for n in 0..3 {
        let bytes = distinct_jpeg(&base, n, 0);
        let v = upload(&http, &server.base, &token, bytes.clone()).await;
        assert_eq!(v["errcode"], 0, "{v}");
        ids.push((wximg_proto::ImageId::of(&bytes), bytes));
        if n == 1 {
            let (ok, report, err) = backup(&data, &dest);
            assert!(ok, "{report}\n{err}");
            assert_eq!(count(&report, "pictures"), 2);
        }
    }
    // The third picture's blob rots on disk (same length, one byte changed).
    let (damaged, bytes) = &ids[2];
    let path = data.join("blobs").join(damaged.shard_path());
    let mut rotten = bytes.clone();
    rotten[100] ^= 0x55;
    std::fs::write(&path, &rotten).expect("damage the blob");

    let (ok, report, err) = backup(&data, &dest);
    assert!(!ok, "a backup with a damaged blob exited 0: {report}");
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(report["failures"][0]["id"], damaged.to_string(), "{report}");
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(1));
    assert!(
        err.contains(&damaged.to_string()) && err.contains("wximg fsck"),
        "stderr does not name the picture and the next step: {err}"
    );
    assert!(
        !dest.join("blobs").join(damaged.shard_path()).exists(),
        "the damaged blob was copied"
    );

    // The backup from before is still whole: it restores clean, with its two pictures.
    let (ok, report, err) = restore(&dest, &restored);
    assert!(ok, "{report}\n{err}");
    assert_eq!(count(&report, "pictures"), 2, "{report}");
    let (clean, check) = fsck(&restored, &[]);
    assert!(clean, "{check}");
    drop(server);
}

#[test]
fn what_is_not_an_embedded_store_or_a_backup_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    create_app(Backend::Embedded(&data), "official");

    let dest = dir.path().join("b");
    let out = wximg(
        Backend::Embedded(&data),
        &[
            "backup",
            dest.to_str().expect("path"),
            "--database-url",
            "postgres://127.0.0.1:1/none",
            "--store",
            "s3://none",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("docs/scaleout.md"),
        "{}",
        stderr(&out)
    );
    assert!(!dest.exists(), "a refused backup created its destination");

    let unrelated = dir.path().join("photos");
    std::fs::create_dir_all(&unrelated).expect("mkdir");
    std::fs::write(unrelated.join("holiday.jpg"), b"mine").expect("write");
    let out = wximg(
        Backend::Embedded(&data),
        &["backup", unrelated.to_str().expect("path")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a wximg backup"),
        "{}",
        stderr(&out)
    );
    let out = wximg(
        Backend::Embedded(&data),
        &["backup", data.join("inside").to_str().expect("path")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("overlaps"), "{}", stderr(&out));

    let (ok, _, err) = backup(&data, &dest);
    assert!(ok, "{err}");
    let out = wximg(
        Backend::Embedded(&data),
        &["restore", dest.to_str().expect("path")],
    );
    assert!(!out.status.success(), "restore over a data directory");
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    let out = wximg(
        Backend::Embedded(&dir.path().join("r")),
        &["restore", unrelated.to_str().expect("path")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no complete backup"),
        "{}",
        stderr(&out)
    );
}
