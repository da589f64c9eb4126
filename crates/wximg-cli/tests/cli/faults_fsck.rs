//! `wximg fsck` on a real data directory written by a real server: clean after uploads;
//! an orphan blob makes it unclean until `--repair` removes it; a lost or damaged picture
//! makes it fail, and `--repair` leaves such blobs alone.

use crate::support::pictures::{base_jpeg, distinct_jpeg};
use crate::support::{Backend, fsck, http, serve_with_token, upload, url_path, wximg};

fn blob_path(data: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
    let hex = blake3::hash(bytes).to_hex().to_string();
    data.join("blobs").join(&hex[..2]).join(&hex)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_finds_orphans_lost_and_damaged_pictures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (mut server, token) = serve_with_token(&data, &[]).await;
    let http = http();
    let base = base_jpeg();
    let mut pictures = Vec::new();
    for n in 0..3 {
        let bytes = distinct_jpeg(&base, n, 0);
        let v = upload(&http, &server.base, &token, bytes.clone()).await;
        assert_eq!(v["errcode"], 0, "{v}");
        pictures.push((v["url"].as_str().expect("url").to_string(), bytes));
    }
    server.kill();

    let (ok, report) = fsck(&data, &[]);
    assert!(ok, "{report}");
    assert_eq!(report["rows"], 3);
    assert_eq!(report["verified"], 3);

    // An orphan: a whole blob with no row (what a crash between blob and row leaves).
    let orphan = distinct_jpeg(&base, 99, 0);
    let orphan_path = blob_path(&data, &orphan);
    std::fs::create_dir_all(orphan_path.parent().expect("shard")).expect("shard dir");
    std::fs::write(&orphan_path, &orphan).expect("orphan");
    let (ok, report) = fsck(&data, &[]);
    assert!(!ok, "an orphan is not clean: {report}");
    assert_eq!(
        report["orphans"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert!(report["missing"].as_array().is_some_and(Vec::is_empty));
    assert!(
        orphan_path.exists(),
        "fsck without --repair removes nothing"
    );
    let (ok, report) = fsck(&data, &["--repair", "--grace", "0"]);
    assert!(ok, "{report}");
    assert_eq!(
        report["removed"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert!(!orphan_path.exists());
    assert!(fsck(&data, &[]).0);

    // Lose one picture, damage another: fsck fails and --repair touches neither.
    let lost = blob_path(&data, &pictures[0].1);
    let damaged = blob_path(&data, &pictures[1].1);
    std::fs::remove_file(&lost).expect("remove");
    std::fs::write(&damaged, b"not the picture").expect("damage");
    let (ok, report) = fsck(&data, &["--repair", "--grace", "0"]);
    assert!(!ok, "{report}");
    let lost_id = url_path(&pictures[0].0)
        .split('/')
        .nth(2)
        .expect("id")
        .to_string();
    assert_eq!(report["missing"], serde_json::json!([lost_id]), "{report}");
    assert_eq!(
        report["corrupt"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["verified"], 1);
    assert!(report["removed"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(
        std::fs::read(&damaged).expect("kept"),
        b"not the picture",
        "--repair never removes a row's blob"
    );

    // Text output and exit status agree.
    let out = wximg(Backend::Embedded(&data), &["fsck"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("missing blob") && text.contains("NOT clean"),
        "{text}"
    );
}
