use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use super::*;
use crate::{ImageRecord, Storage, StorageConfig, fsck};
use bytes::Bytes;
use wximg_proto::{AppId, ImageFormat};

async fn embedded(dir: &Path) -> Storage {
    crate::open(&StorageConfig {
        data_dir: dir.to_path_buf(),
        database_url: None,
        store: None,
    })
    .await
    .expect("open storage")
}

/// Stores `bytes` as a picture the way the upload path does; its id.
async fn picture(storage: &Storage, bytes: &[u8]) -> ImageId {
    let id = ImageId::of(bytes);
    let record = ImageRecord {
        id,
        format: ImageFormat::Jpeg,
        size: bytes.len() as u64,
        width: 1,
        height: 1,
        appid: AppId::parse("wx0123456789abcdef").expect("appid"),
        created_at: 0,
    };
    storage
        .store_picture(&record, Bytes::copy_from_slice(bytes))
        .await
        .expect("store");
    id
}

fn run_backup(data: &Path, dest: &Path) -> Result<Report> {
    backup(data, dest, &Options { jobs: 2 }, &|_| {})
}

fn run_restore(src: &Path, data: &Path) -> Result<Report> {
    restore(src, data, &Options { jobs: 2 }, &|_| {})
}

fn is_config(result: Result<Report>, says: &str) -> bool {
    matches!(&result, Err(StorageError::Config(m)) if m.contains(says))
}

#[tokio::test]
async fn a_live_store_backs_up_restores_clean_and_a_second_run_copies_only_new_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest, restored) = (
        dir.path().join("data"),
        dir.path().join("backup"),
        dir.path().join("restored"),
    );
    let live = embedded(&data).await;
    let first = picture(&live, b"first").await;
    picture(&live, b"second").await;

    let report = run_backup(&data, &dest).expect("backup");
    assert!(report.is_complete(), "{report:?}");
    assert_eq!((report.pictures, report.copied, report.present), (2, 2, 0));
    assert_eq!(report.blob_bytes, 11);
    let manifest = read_manifest(&dest).expect("manifest");
    assert_eq!((manifest.pictures, manifest.blob_bytes), (2, 11));

    let third = picture(&live, b"third").await;
    let again = run_backup(&data, &dest).expect("second backup");
    assert!(again.is_complete(), "{again:?}");
    assert_eq!(
        (again.pictures, again.copied, again.present, again.removed),
        (3, 1, 2, 0)
    );
    assert_eq!(again.copied_bytes, 5);

    let report = run_restore(&dest, &restored).expect("restore");
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.copied, 3);
    let copy = embedded(&restored).await;
    let check = fsck::check(
        &copy,
        &fsck::Options {
            grace: Duration::ZERO,
            ..fsck::Options::default()
        },
    )
    .await
    .expect("fsck");
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.verified, 3);
    for id in [first, third] {
        assert!(copy.meta.image(&id).await.expect("row").is_some());
    }
    assert!(
        !dest
            .join(".tmp")
            .join(format!("{DATABASE}.partial"))
            .exists(),
        "the staged snapshot was renamed into place"
    );
}

#[tokio::test]
async fn a_stopped_store_backs_up_without_writing_into_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest) = (dir.path().join("data"), dir.path().join("backup"));
    let storage = embedded(&data).await;
    picture(&storage, b"kept").await;
    drop(storage);
    // Let the last connection close (sqlx closes on its own threads). Whether it managed
    // to checkpoint its WAL varies with the machine's load, so the WAL is compared with
    // itself below rather than expected empty.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sqlite_own = |p: &PathBuf| {
        let name = p.to_string_lossy();
        name.ends_with("-shm") || name.ends_with("-wal")
    };
    let wal = data.join("wximg.sqlite3-wal");
    let wal_before = fs::read(&wal).unwrap_or_default();
    let mut before = listing(&data);
    before.retain(|e| !sqlite_own(&e.0));
    let report = run_backup(&data, &dest).expect("backup");
    assert!(report.is_complete() && report.copied == 1, "{report:?}");
    // A read-only SQLite connection to a WAL database with no server on it leaves
    // SQLite's coordination files (an empty WAL and its index) behind, and never writes
    // a frame: the WAL is as it was (or empty, if there was none).
    assert!(
        fs::read(&wal).unwrap_or_default() == wal_before,
        "the backup wrote into {}",
        wal.display()
    );
    let mut after = listing(&data);
    after.retain(|e| !sqlite_own(&e.0));
    assert_eq!(before, after, "the backup changed the data directory");
}

/// Every path under `dir` with its length and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut all = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(entry.path());
            }
            let modified = meta.modified().expect("mtime");
            all.push((entry.path(), meta.len(), modified));
        }
    }
    all.sort();
    all
}

#[tokio::test]
async fn a_damaged_or_missing_source_blob_fails_the_run_and_keeps_the_previous_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest) = (dir.path().join("data"), dir.path().join("backup"));
    let live = embedded(&data).await;
    picture(&live, b"fine").await;
    run_backup(&data, &dest).expect("first backup");
    let previous = fs::read(dest.join(DATABASE)).expect("first snapshot");

    let damaged = picture(&live, b"to be damaged").await;
    let lost = picture(&live, b"to be lost").await;
    let blobs = data.join("blobs");
    fs::write(blobs.join(damaged.shard_path()), b"to be DAMAGED").expect("damage");
    fs::remove_file(blobs.join(lost.shard_path())).expect("lose");

    let report = run_backup(&data, &dest).expect("second backup");
    assert!(!report.is_complete());
    let failed: Vec<ImageId> = report.failures.iter().map(|f| f.id).collect();
    assert_eq!(failed.len(), 2, "{report:?}");
    assert!(failed.contains(&damaged) && failed.contains(&lost));
    assert!(report.failures.iter().any(|f| f.reason.contains("BLAKE3")));
    assert!(!dest.join("blobs").join(damaged.shard_path()).exists());
    assert_eq!(
        fs::read(dest.join(DATABASE)).expect("snapshot"),
        previous,
        "a failed run replaced the previous backup's database"
    );
    assert_eq!(read_manifest(&dest).expect("manifest").pictures, 1);
}

#[tokio::test]
async fn blobs_no_row_references_any_more_leave_the_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest) = (dir.path().join("data"), dir.path().join("backup"));
    let live = embedded(&data).await;
    let gone = picture(&live, b"taken down").await;
    picture(&live, b"kept").await;
    run_backup(&data, &dest).expect("first backup");
    // A row deleted behind the traits' back (they offer no delete of a picture).
    let conn = Connection::open(data.join(DATABASE)).expect("open");
    conn.execute("DELETE FROM images WHERE id = ?", [&gone.hash()[..]])
        .expect("delete");
    drop(conn);

    let report = run_backup(&data, &dest).expect("second backup");
    assert_eq!((report.pictures, report.present, report.removed), (1, 1, 1));
    assert!(!dest.join("blobs").join(gone.shard_path()).exists());
}

#[tokio::test]
async fn a_backup_whose_database_changed_is_not_restored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, dest) = (dir.path().join("data"), dir.path().join("backup"));
    let live = embedded(&data).await;
    let gone = picture(&live, b"one").await;
    picture(&live, b"two").await;
    run_backup(&data, &dest).expect("backup");
    let conn = Connection::open(dest.join(DATABASE)).expect("open the backup");
    conn.execute("DELETE FROM images WHERE id = ?", [&gone.hash()[..]])
        .expect("delete");
    drop(conn);

    let target = dir.path().join("restored");
    let result = run_restore(&dest, &target);
    assert!(
        matches!(&result, Err(StorageError::Corrupt(m)) if m.contains("changed after it was written")),
        "{result:?}"
    );
    assert!(!target.exists(), "a refused restore created its directory");
}

#[tokio::test]
async fn refuses_what_is_not_a_backup_or_not_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let live = embedded(&data).await;
    picture(&live, b"one").await;

    let unrelated = dir.path().join("unrelated");
    fs::create_dir_all(&unrelated).expect("mkdir");
    fs::write(unrelated.join("notes.txt"), b"mine").expect("write");
    assert!(is_config(
        run_backup(&data, &unrelated),
        "not a wximg backup"
    ));
    assert_eq!(fs::read_dir(&unrelated).expect("ls").count(), 1);

    assert!(is_config(run_backup(&data, &data), "overlaps"));
    assert!(is_config(run_backup(&data, &data.join("b")), "overlaps"));
    assert!(is_config(run_backup(&data, dir.path()), "overlaps"));
    assert!(is_config(
        run_backup(&dir.path().join("nothing"), &dir.path().join("b")),
        "not a wximg data directory"
    ));

    // An interrupted backup (marked, no manifest) is not restored.
    let half = dir.path().join("half");
    fs::create_dir_all(&half).expect("mkdir");
    fs::write(half.join(MARKER), b"").expect("mark");
    assert!(is_config(
        run_restore(&half, &dir.path().join("r1")),
        "did not finish"
    ));

    let dest = dir.path().join("backup");
    run_backup(&data, &dest).expect("backup");
    assert!(is_config(run_restore(&dest, &data), "not empty"));
    assert!(is_config(
        run_restore(&unrelated, &dir.path().join("r2")),
        "not a wximg backup directory"
    ));
}
