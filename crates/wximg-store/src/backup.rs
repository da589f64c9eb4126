//! Online backup and restore of the embedded store (`wximg backup`, `wximg restore`).
//!
//! The invariant it keeps: **a backup directory with its manifest (`backup.json`) holds a
//! consistent snapshot of the database and, each verified by its BLAKE3 hash, every blob
//! the snapshot's rows reference** — so every picture acknowledged before the backup
//! started is in it, and a restore of it is a data directory that `fsck` finds clean.
//!
//! Layout: this file runs both (and keeps the manifest); `dirs` says which directories a
//! backup may write into, `database` snapshots and checks the database, `copy` copies and
//! verifies the blobs.
//!
//! How a backup keeps it while a server writes (the data directory is only read; with no
//! server on it, SQLite's read-only connection may leave its empty `-wal` and `-shm`
//! coordination files there, as any reader does):
//! 1. **The database first**, with SQLite's online backup API, in one step: in WAL mode
//!    the step holds only a read transaction on the source, which never blocks the
//!    server's writers, and one step cannot be restarted by their commits (a stepped
//!    copy starts over after every write, and under a stream of uploads would never end).
//!    The copy goes to `DEST/.tmp/`, is checked (`PRAGMA quick_check`; the manifest
//!    records its hash for restore), switched to a self-contained rollback journal and
//!    fsynced.
//! 2. **Then the blobs its rows reference**, and no others. A row is committed only after
//!    its blob is durable (see [`crate::Storage::store_picture`]), so every row of the
//!    snapshot has its blob in the source. Each is read, hashed and checked against its
//!    id and size, then written to `DEST/blobs/<shard path>` (temp file, flushed, renamed,
//!    the rename flushed; a flush per batch, see [`copy_blobs`]). A blob already in DEST
//!    whose hash verifies is not copied again (content addressing: same name, same
//!    bytes), so a second run copies only new ones.
//! 3. **Only when every blob is in place** is the snapshot renamed to
//!    `DEST/wximg.sqlite3`, the blobs no row references any more are removed, and the
//!    manifest written last. A failed or interrupted run leaves the previous backup as it
//!    was (or, once its database was swapped, without a manifest: incomplete, refused by
//!    restore until a run completes).
//!
//! A DEST is accepted only if it is absent, empty, or marked as a backup by an earlier
//! run (`.wximg-backup`, which also carries the lock against two runs at once); it may
//! be neither the data directory nor inside it, nor hold it.
//!
//! A restore goes the other way with the upload path's order: every blob (verified)
//! first, the database last, into a directory that must be empty or absent.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wximg_proto::ImageId;

use crate::{Result, StorageError};

mod copy;
mod database;
mod dirs;

use copy::{copy_blobs, prune};
use database::{check_database, hash_file, picture_rows, snapshot_database};
use dirs::{prepare_dest, refuse_overlap};

/// The database file, in a data directory and in a backup.
pub const DATABASE: &str = "wximg.sqlite3";
/// The manifest of a complete backup.
pub const MANIFEST: &str = "backup.json";
/// The mark (and lock) of a backup directory, written first into an empty DEST.
pub const MARKER: &str = ".wximg-backup";
/// The manifest's format number: a restore refuses any other.
pub const FORMAT: u32 = 1;

/// What `backup.json` says; written last, so its presence means the backup is complete.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub wximg_version: String,
    /// Unix seconds: when the run started (before the snapshot) and ended.
    pub started_at: u64,
    pub finished_at: u64,
    /// The data directory it was taken from.
    pub source: String,
    pub database_bytes: u64,
    /// The BLAKE3 hex of the database file, which restore checks.
    pub database_blake3: String,
    /// Picture rows in the snapshot, and the bytes of their blobs.
    pub pictures: u64,
    pub blob_bytes: u64,
}

/// How to run a backup or a restore.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many blobs to copy at once.
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { jobs: 4 }
    }
}

/// How far the blob copy is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub copied_bytes: u64,
}

/// A blob that could not be copied, and why (the run is then not complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub id: ImageId,
    pub reason: String,
}

/// What a run did. It is complete only when `failures` is empty.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Picture rows in the snapshot and the bytes of their blobs.
    pub pictures: u64,
    pub blob_bytes: u64,
    /// Blobs written by this run, and their bytes.
    pub copied: u64,
    pub copied_bytes: u64,
    /// Blobs that were in the destination already, verified.
    pub present: u64,
    /// Blobs of an earlier backup that no row of this snapshot references, removed.
    pub removed: u64,
    pub database_bytes: u64,
    /// How long the database snapshot and the whole run took.
    pub snapshot_time: Duration,
    pub elapsed: Duration,
    pub failures: Vec<Failure>,
}

impl Report {
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A picture row as the copy needs it.
struct Row {
    id: ImageId,
    size: u64,
}

/// Backs up the embedded store in `data_dir` into `dest` (see the module docs). Blocking:
/// run it off the async runtime. `Err` when nothing could start or a step failed; a
/// [`Report`] with failures when blobs were missing or damaged in the source.
pub fn backup(
    data_dir: &Path,
    dest: &Path,
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let started = Instant::now();
    let started_at = unix_now();
    let source_db = data_dir.join(DATABASE);
    if !source_db.is_file() || !data_dir.join("blobs").is_dir() {
        return Err(config(format!(
            "{} is not a wximg data directory (no {DATABASE} and blobs/ in it): \
             give the data directory the server runs on with --data",
            data_dir.display()
        )));
    }
    refuse_overlap(data_dir, dest)?;
    let _lock = prepare_dest(dest)?;
    let tmp = dest.join(".tmp");
    fs::create_dir_all(&tmp)?;
    // What an interrupted run staged (the lock says no other run is writing).
    for entry in fs::read_dir(&tmp)? {
        remove_if_present(&entry?.path())?;
    }

    let snapshot = tmp.join(format!("{DATABASE}.partial"));
    let database_bytes = snapshot_database(&source_db, &snapshot)?;
    let snapshot_time = started.elapsed();
    let rows = picture_rows(&snapshot)?;
    let database_blake3 = hash_file(&snapshot)?;

    let blobs = dest.join("blobs");
    let mut report = copy_blobs(
        &data_dir.join("blobs"),
        &blobs,
        &tmp,
        &rows,
        options,
        progress,
    )?;
    report.database_bytes = database_bytes;
    report.snapshot_time = snapshot_time;
    if !report.is_complete() {
        // The previous backup (if any) stays whole: its database still names only its blobs.
        let _ = fs::remove_file(&snapshot);
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    // Every blob is in place: swap the database in. The old manifest goes first, so no
    // moment shows a manifest over a database it does not describe.
    remove_if_present(&dest.join(MANIFEST))?;
    fs::rename(&snapshot, dest.join(DATABASE))?;
    sync_dir(dest)?;
    let referenced: HashSet<ImageId> = rows.iter().map(|r| r.id).collect();
    report.removed = prune(&blobs, &referenced)?;

    let manifest = Manifest {
        format: FORMAT,
        wximg_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: unix_now(),
        source: fs::canonicalize(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .display()
            .to_string(),
        database_bytes,
        database_blake3,
        pictures: report.pictures,
        blob_bytes: report.blob_bytes,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| StorageError::Corrupt(format!("cannot write the manifest: {e}")))?;
    write_durably(
        &tmp.join(format!("{MANIFEST}.partial")),
        &dest.join(MANIFEST),
        &text,
    )?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Restores the backup in `src` into `data_dir`, which must be empty or absent: every
/// blob the backup's database references, verified, then the database. Blocking.
pub fn restore(
    src: &Path,
    data_dir: &Path,
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let started = Instant::now();
    let manifest = read_manifest(src)?;
    let database = src.join(DATABASE);
    check_database(&database, &manifest, src)?;
    match fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(config(format!(
                    "{} is not empty: restore writes only into an empty or new directory \
                     (it never overwrites a data directory); give another --data",
                    data_dir.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(data_dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(config(format!("{} is not a directory", data_dir.display())));
        }
        Err(e) => return Err(e.into()),
    }

    // The database is copied first to a name a server does not open, and renamed into
    // place only after its blobs: the data directory never has a row without its blob.
    let tmp = data_dir.join("blobs").join(".tmp");
    fs::create_dir_all(&tmp)?;
    let staged = data_dir.join(format!("{DATABASE}.restoring"));
    fs::copy(&database, &staged)?;
    File::open(&staged)?.sync_all()?;
    let rows = check_database(&staged, &manifest, src)?;
    let mut report = copy_blobs(
        &src.join("blobs"),
        &data_dir.join("blobs"),
        &tmp,
        &rows,
        options,
        progress,
    )?;
    report.database_bytes = fs::metadata(&staged)?.len();
    if report.is_complete() {
        fs::rename(&staged, data_dir.join(DATABASE))?;
        sync_dir(data_dir)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Reads and checks the manifest of the backup in `src`.
pub fn read_manifest(src: &Path) -> Result<Manifest> {
    let path = src.join(MANIFEST);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let why = if src.join(MARKER).exists() {
                "the backup that wrote it did not finish: run `wximg backup` into it again"
            } else {
                "it is not a wximg backup directory"
            };
            return Err(config(format!(
                "{} holds no complete backup (no {MANIFEST}): {why}",
                src.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        StorageError::Corrupt(format!("{} is not a backup manifest: {e}", path.display()))
    })?;
    if manifest.format != FORMAT {
        return Err(config(format!(
            "{} is a backup of format {}, this wximg reads format {FORMAT}: \
             restore it with the wximg version that wrote it ({})",
            src.display(),
            manifest.format,
            manifest.wximg_version
        )));
    }
    Ok(manifest)
}

fn config(message: String) -> StorageError {
    StorageError::Config(message)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `bytes` to `staged`, fsyncs it, renames it to `dest` and fsyncs `dest`'s directory.
fn write_durably(staged: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    remove_if_present(staged)?;
    write_synced(staged, bytes)?;
    fs::rename(staged, dest)?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
