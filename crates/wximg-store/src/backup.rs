//! Online backup and restore of the embedded store (`wximg backup`, `wximg restore`).
//!
//! The invariant it keeps: **a backup directory with its manifest (`backup.json`) holds a
//! consistent snapshot of the database and, each verified by its BLAKE3 hash, every blob
//! the snapshot's rows reference** — so every picture acknowledged before the backup
//! started is in it, and a restore of it is a data directory that `fsck` finds clean.
//!
//! (One file past 400 lines: backup and restore share the blob copy and the directory
//! rules; a third of it is their tests.)
//!
//! How a backup keeps it while a server writes (the data directory is only read; with no
//! server on it, SQLite's read-only connection may leave its empty `-wal` and `-shm`
//! coordination files there, as any reader does):
//! 1. **The database first**, with SQLite's online backup API, in one step: in WAL mode
//!    the step holds only a read transaction on the source, which never blocks the
//!    server's writers, and one step cannot be restarted by their commits (a stepped
//!    copy starts over after every write, and under a stream of uploads would never end).
//!    The copy goes to `DEST/.tmp/`, is checked (`PRAGMA quick_check`; the manifest
//!    records its hash for restore), switched to a
//!    self-contained rollback journal and fsynced.
//! 2. **Then the blobs its rows reference**, and no others. A row is committed only after
//!    its blob is durable (see [`crate::Storage::store_picture`]), so every row of the
//!    snapshot has its blob in the source. Each is read, hashed and checked against its
//!    id and size, then written to `DEST/blobs/<shard path>` (temp file, flushed, renamed,
//!    the rename flushed; a flush per batch, see [`copy_blobs`]). A blob already in DEST whose hash verifies is not copied again
//!    (content addressing: same name, same bytes), so a second run copies only new ones.
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
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use wximg_proto::ImageId;

use crate::{Result, StorageError};

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

/// Checks the database file at `path` (a backup's, or its copy) against the manifest:
/// its hash, SQLite's check and its number of pictures; its picture rows.
fn check_database(path: &Path, manifest: &Manifest, src: &Path) -> Result<Vec<Row>> {
    let changed = |what: String| {
        StorageError::Corrupt(format!(
            "{what}: the backup in {} was damaged or changed after it was written; \
             restore another one",
            src.display()
        ))
    };
    let hash = hash_file(path)?;
    if hash != manifest.database_blake3 {
        return Err(changed(format!(
            "its database hashes to {hash}, its manifest says {}",
            manifest.database_blake3
        )));
    }
    let rows = picture_rows(path)?;
    if rows.len() as u64 != manifest.pictures {
        return Err(changed(format!(
            "its database has {} picture rows, its manifest says {}",
            rows.len(),
            manifest.pictures
        )));
    }
    Ok(rows)
}

/// The BLAKE3 hex of the file at `path`.
fn hash_file(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn config(message: String) -> StorageError {
    StorageError::Config(message)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The absolute form of `path`, which may not exist yet (its parent must, or it is taken
/// as it is).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = fs::canonicalize(path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => absolute(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
        .join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Refuses a DEST that is the data directory, is inside it, or holds it: the backup must
/// never write into the live data directory, nor copy itself.
fn refuse_overlap(data_dir: &Path, dest: &Path) -> Result<()> {
    let (data, dest_abs) = (absolute(data_dir), absolute(dest));
    if dest_abs.starts_with(&data) || data.starts_with(&dest_abs) {
        return Err(config(format!(
            "{} overlaps the data directory {}: a backup goes outside the data \
             directory (another disk, ideally)",
            dest.display(),
            data.display()
        )));
    }
    Ok(())
}

/// Makes sure `dest` may take a backup (absent, empty, or an earlier backup's), marks it
/// and locks it against a second run; the lock lasts as long as the returned file.
fn prepare_dest(dest: &Path) -> Result<File> {
    match fs::read_dir(dest) {
        Ok(entries) => {
            let mut names = Vec::new();
            for entry in entries {
                names.push(entry?.file_name());
            }
            if !names.is_empty() && !names.iter().any(|n| n == MARKER) {
                return Err(config(format!(
                    "{} is not empty and is not a wximg backup (no {MARKER} in it): \
                     back up into an empty or new directory, or into an earlier backup",
                    dest.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dest)?,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(config(format!("{} is not a directory", dest.display())));
        }
        Err(e) => return Err(e.into()),
    }
    let marker = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dest.join(MARKER))?;
    if marker.metadata()?.len() == 0 {
        (&marker).write_all(b"a wximg backup directory: `wximg restore` reads it\n")?;
        marker.sync_all()?;
        sync_dir(dest)?;
    }
    match marker.try_lock() {
        Ok(()) => Ok(marker),
        Err(fs::TryLockError::WouldBlock) => Err(config(format!(
            "another `wximg backup` is writing into {}: wait for it to finish",
            dest.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Copies the database at `source` (a server may be writing it) into the new file
/// `snapshot` with the online backup API (see the module docs); returns its size.
fn snapshot_database(source: &Path, snapshot: &Path) -> Result<u64> {
    remove_if_present(snapshot)?; // an interrupted run's
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    from.busy_timeout(Duration::from_secs(10))?;
    let mut to = Connection::open(snapshot)?;
    {
        let copy = Backup::new(&from, &mut to)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match copy.step(-1)? {
                StepResult::Done => break,
                // Every page in one step, so `More` only if the source grew meanwhile.
                StepResult::More => continue,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    return Err(StorageError::Unavailable(
                        "the database stayed locked for 30 s: is something holding an \
                         exclusive lock on it?"
                            .into(),
                    ));
                }
            }
        }
    }
    drop(from);
    // The snapshot stands alone: a rollback journal, not the source's WAL (a server that
    // opens a restored copy switches it back).
    let mode: String = to.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StorageError::Corrupt(format!(
            "the database snapshot kept journal mode {mode}"
        )));
    }
    to.close().map_err(|(_, e)| e)?;
    let file = File::open(snapshot)?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// The picture rows of the database file at `path` (a snapshot, not a live database),
/// once SQLite's `quick_check` passes on it.
fn picture_rows(path: &Path) -> Result<Vec<Row>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StorageError::Corrupt(format!(
            "the database copy {} fails SQLite's check: {check}",
            path.display()
        )));
    }
    let mut query = conn.prepare("SELECT id, size FROM images ORDER BY created_at")?;
    query
        .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?
        .map(|row| {
            let (id, size) = row?;
            let hash: [u8; 32] = id.try_into().map_err(|_| {
                StorageError::Corrupt("a picture row whose id is not 32 bytes".into())
            })?;
            Ok(Row {
                id: ImageId::from_hash(hash),
                size: u64::try_from(size).map_err(|_| {
                    StorageError::Corrupt("a picture row with a negative size".into())
                })?,
            })
        })
        .collect()
}

/// What became of one blob.
enum Copied {
    /// In the destination already, verified.
    Present,
    /// Verified and written to its temp file, not yet flushed nor renamed.
    Staged { staged: PathBuf, dest: PathBuf },
}

/// Blobs staged between two flushes: one `syncfs` makes a whole batch durable.
const BATCH: usize = 512;

/// Copies the blob of every row from `from` into `to` (staging in `tmp`, on the same
/// filesystem as `to`), `jobs` at once, verifying each; the report's counts and failures.
///
/// Durability without an fsync per file: a batch of blobs is written to temp files, one
/// flush makes them durable, then they are renamed into place; the next batch's flush
/// (or the last one) makes those renames durable. A blob is at its final path only once
/// its bytes were flushed, so an interrupted copy leaves whole blobs or temp files.
fn copy_blobs(
    from: &Path,
    to: &Path,
    tmp: &Path,
    rows: &[Row],
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    fs::create_dir_all(to)?;
    let mut report = Report {
        pictures: rows.len() as u64,
        blob_bytes: rows.iter().map(|r| r.size).sum(),
        ..Report::default()
    };
    let done = AtomicU64::new(0);
    let mut shards: HashSet<PathBuf> = HashSet::new();
    for (batch, chunk) in rows.chunks(BATCH).enumerate() {
        let results = stage_batch(from, to, tmp, chunk, options, &|| {
            progress(Progress {
                done: done.fetch_add(1, Ordering::Relaxed) + 1,
                total: rows.len() as u64,
                copied_bytes: report.copied_bytes,
            });
        });
        let staged: Vec<&Path> = results
            .iter()
            .filter_map(|r| match r {
                Ok(Copied::Staged { staged, .. }) => Some(staged.as_path()),
                _ => None,
            })
            .collect();
        flush(to, &staged)?;
        for (i, result) in results.into_iter().enumerate() {
            let row = &chunk[i];
            match result {
                Ok(Copied::Present) => report.present += 1,
                Ok(Copied::Staged { staged, dest }) => match fs::rename(&staged, &dest) {
                    Ok(()) => {
                        report.copied += 1;
                        report.copied_bytes += row.size;
                        shards.insert(dest.parent().unwrap_or(to).to_path_buf());
                    }
                    Err(e) => {
                        let _ = fs::remove_file(&staged);
                        report.failures.push(Failure {
                            id: row.id,
                            reason: format!("cannot write {}: {e}", dest.display()),
                        });
                    }
                },
                Err(reason) => report.failures.push(Failure { id: row.id, reason }),
            }
        }
        tracing::debug!(batch, copied = report.copied, "blob batch renamed");
    }
    // The last batch's renames: durable once their directories are (each shard, and
    // `to` for new shards).
    let mut dirs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    dirs.push(to);
    flush(to, &dirs)?;
    Ok(report)
}

/// Stages every blob of `chunk`, `jobs` at once; the results in `chunk`'s order.
fn stage_batch(
    from: &Path,
    to: &Path,
    tmp: &Path,
    chunk: &[Row],
    options: &Options,
    tick: &(dyn Fn() + Sync),
) -> Vec<std::result::Result<Copied, String>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, std::result::Result<Copied, String>)>> = Mutex::default();
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, 64) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = chunk.get(i) else { break };
                    let result = stage_blob(from, to, tmp, row);
                    lock(&results).push((i, result));
                    tick();
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Makes the writes to `paths` durable: on Linux one `syncfs` of `on`'s filesystem (they
/// all live on it), elsewhere an fsync of each.
fn flush(on: &Path, paths: &[&Path]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = paths;
        rustix::fs::syncfs(File::open(on)?).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = on;
        paths.iter().try_for_each(|p| File::open(p)?.sync_all())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Verifies one row's blob and writes it to a temp file unless `to` has it whole
/// already; the error says why not.
fn stage_blob(
    from: &Path,
    to: &Path,
    tmp: &Path,
    row: &Row,
) -> std::result::Result<Copied, String> {
    let shard_path = row.id.shard_path();
    let dest = to.join(&shard_path);
    if let Ok(Ok(())) = read_verified(&dest, row).map(|(_, check)| check) {
        return Ok(Copied::Present);
    }
    let source = from.join(&shard_path);
    let bytes = match read_verified(&source, row) {
        Ok((bytes, Ok(()))) => bytes,
        Ok((_, Err(why))) => {
            return Err(format!(
                "the source blob {} is damaged ({why}): run `wximg fsck` on the data directory",
                source.display()
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "the source has its row but not its blob {}: run `wximg fsck` on the data \
                 directory (or, if the picture was taken down since, run the backup again)",
                source.display()
            ));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", source.display())),
    };
    let staged = tmp.join(format!(
        "{}-backup{:032x}",
        std::process::id(),
        rand::random::<u128>()
    ));
    let written = fs::create_dir_all(dest.parent().unwrap_or(to)).and_then(|()| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged)?;
        f.write_all(&bytes)
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&staged);
        return Err(format!("cannot write {}: {e}", dest.display()));
    }
    Ok(Copied::Staged { staged, dest })
}

/// Reads the blob at `path` (at most one byte more than the row says) and checks it:
/// `Err` if it cannot be read, `Ok((bytes, Err(why)))` if it is not the row's picture.
fn read_verified(path: &Path, row: &Row) -> io::Result<(Vec<u8>, std::result::Result<(), String>)> {
    let mut bytes = Vec::with_capacity(usize::try_from(row.size).unwrap_or(0).min(2 << 20));
    File::open(path)?
        .take(row.size.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let check = if bytes.len() as u64 != row.size {
        Err(format!(
            "{} bytes where the row says {}",
            if bytes.len() as u64 > row.size {
                "more".to_string()
            } else {
                bytes.len().to_string()
            },
            row.size
        ))
    } else if ImageId::of(&bytes) != row.id {
        Err("its bytes do not hash to its id (BLAKE3 mismatch)".to_string())
    } else {
        Ok(())
    };
    Ok((bytes, check))
}

/// Removes every blob under `blobs` whose id is not in `keep`; how many went.
fn prune(blobs: &Path, keep: &HashSet<ImageId>) -> Result<u64> {
    let mut removed = 0;
    for shard in fs::read_dir(blobs)? {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        let mut changed = false;
        for blob in fs::read_dir(shard.path())? {
            let blob = blob?;
            let name = blob.file_name();
            if let Some(id) = name.to_str().and_then(ImageId::from_hex)
                && !keep.contains(&id)
            {
                fs::remove_file(blob.path())?;
                removed += 1;
                changed = true;
            }
        }
        if changed {
            sync_dir(&shard.path())?;
        }
    }
    Ok(removed)
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
mod tests {
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
        // Let the last connection close and checkpoint (sqlx closes on its own threads).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = listing(&data);
        let report = run_backup(&data, &dest).expect("backup");
        assert!(report.is_complete() && report.copied == 1, "{report:?}");
        // A read-only SQLite connection to a WAL database with no server on it leaves
        // SQLite's coordination files (an empty WAL and its index) behind; nothing else.
        let sqlite_own = |p: &PathBuf| {
            let name = p.to_string_lossy();
            name.ends_with("-shm") || name.ends_with("-wal")
        };
        let mut after = listing(&data);
        for (path, len, _) in after
            .iter()
            .filter(|e| e.0.to_string_lossy().ends_with("-wal"))
        {
            assert_eq!(*len, 0, "{} holds frames", path.display());
        }
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
}
