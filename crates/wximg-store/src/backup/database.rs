//! The database half of a backup: the snapshot by SQLite's online backup API, its check,
//! its picture rows and its hash. The invariant: a snapshot is one consistent moment of
//! the source, and only a file that passes SQLite's check yields rows.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use wximg_proto::ImageId;

use super::{Manifest, Row, remove_if_present};
use crate::{Result, StorageError};

/// Checks the database file at `path` (a backup's, or its copy) against the manifest:
/// its hash, SQLite's check and its number of pictures; its picture rows.
pub(super) fn check_database(path: &Path, manifest: &Manifest, src: &Path) -> Result<Vec<Row>> {
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
pub(super) fn hash_file(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Copies the database at `source` (a server may be writing it) into the new file
/// `snapshot` with the online backup API (see the module docs); returns its size.
pub(super) fn snapshot_database(source: &Path, snapshot: &Path) -> Result<u64> {
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
pub(super) fn picture_rows(path: &Path) -> Result<Vec<Row>> {
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
