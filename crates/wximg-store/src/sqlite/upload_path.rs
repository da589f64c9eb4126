//! The upload path's statements (its token, its quota record, its picture row) on direct connections (rusqlite), without sqlx.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and talks to it through
//! channels: every statement costs a few thread wake-ups, which on a busy upload path
//! cost far more CPU than the statement itself (a read from the page cache takes
//! microseconds). So the two reads every upload makes (its token with its app, and its
//! quota record) and its one write (the picture row) run here:
//!
//! - **Reads** run on the caller's thread, on a connection from a small pool. In WAL mode
//!   a reader never waits for a writer, so a read does not stall the async runtime.
//! - **Picture rows** are *group-committed* by one writer thread: it takes every row
//!   waiting, commits them in one transaction (one fsync of the WAL), then answers each
//!   caller. Under load one fsync acknowledges many uploads; alone, a row still commits
//!   at once. Each row is checked against the block list and the blob-deletion marks in
//!   the same transaction (see `crate::takedown`), and refused alone.
//!
//! The schema and every other statement stay with sqlx ([`super::SqliteMeta`]); both
//! drivers link the same SQLite library and share the database file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use crate::writer_thread;
use crate::{ImageRecord, Result, StorageError};

/// Idle reader connections kept for reuse.
const MAX_IDLE_READERS: usize = 16;

type ImageJob = (ImageRecord, oneshot::Sender<Result<()>>);

pub(super) struct UploadPath {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// To the writer thread of picture rows; it ends when this is dropped. `None` when
    /// opened read-only.
    images: Option<mpsc::Sender<ImageJob>>,
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> StorageError {
        StorageError::Unavailable(format!("database: {e}"))
    }
}

impl UploadPath {
    /// Opens the database at `path`, which sqlx has created and migrated; `read_only`:
    /// reads only, with no writer thread, every picture row refused.
    pub fn open(path: &Path, read_only: bool) -> Result<UploadPath> {
        let flags = if read_only { READ_ONLY } else { READ_WRITE };
        let first = connect(path, flags)?; // fails now, not at the first upload
        let images = if read_only {
            None
        } else {
            let (images, queue) = mpsc::channel();
            let writer_path = path.to_path_buf();
            writer_thread::spawn("wximg-row-writer", move || {
                write_images(&writer_path, queue)
            })?;
            Some(images)
        };
        Ok(UploadPath {
            path: path.to_path_buf(),
            readers: Mutex::new(vec![first]),
            images,
        })
    }

    /// How connections are opened: read-only exactly when there is no writer thread.
    fn flags(&self) -> OpenFlags {
        if self.images.is_some() {
            READ_WRITE
        } else {
            READ_ONLY
        }
    }

    /// Runs `read` on a pooled connection, on this thread.
    pub fn read<R>(&self, read: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let idle = self.lock_readers().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path, self.flags())?,
        };
        let result = read(&conn);
        // A connection that failed may be in a bad state: only a good one goes back.
        if result.is_ok() && conn.is_autocommit() {
            let mut readers = self.lock_readers();
            if readers.len() < MAX_IDLE_READERS {
                readers.push(conn);
            }
        }
        result
    }

    fn lock_readers(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A panic while holding the lock cannot leave the Vec half-changed.
        self.readers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits `image`'s row (with the group waiting, see the module docs).
    pub async fn insert_image(&self, image: &ImageRecord) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let Some(images) = &self.images else {
            return Err(StorageError::Unavailable(
                "the database is open read-only".into(),
            ));
        };
        let gone = || StorageError::Unavailable("the picture-row writer has stopped".into());
        images.send((image.clone(), reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

const READ_WRITE: OpenFlags =
    OpenFlags::SQLITE_OPEN_READ_WRITE.union(OpenFlags::SQLITE_OPEN_NO_MUTEX);
const READ_ONLY: OpenFlags =
    OpenFlags::SQLITE_OPEN_READ_ONLY.union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // WAL mode is a property of the file (sqlx set it); these are per connection.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// The writer thread of picture rows. Ends when [`UploadPath`] is dropped.
fn write_images(path: &Path, queue: mpsc::Receiver<ImageJob>) {
    let mut conn: Option<Connection> = None;
    while let Some(group) = writer_thread::next_group(&queue, true) {
        let result = conn
            .take()
            .map_or_else(|| connect(path, READ_WRITE), Ok)
            .and_then(|mut c| {
                let result = insert_images(&mut c, &group);
                if result.is_ok() {
                    conn = Some(c); // after a failure the next group starts afresh
                }
                result
            });
        for (i, (image, reply)) in group.into_iter().enumerate() {
            let answer = match &result {
                Ok(refusals) => match refusals.get(i) {
                    Some(Some(Refusal::Blocked)) => Err(StorageError::Blocked(image.id)),
                    Some(Some(Refusal::DeletionPending)) => {
                        Err(StorageError::DeletionPending(image.id))
                    }
                    _ => Ok(()),
                },
                Err(e) => Err(StorageError::Unavailable(format!(
                    "group commit failed: {e}"
                ))),
            };
            let _ = reply.send(answer); // the caller may have given up
        }
    }
}

/// Why a row of a group was not inserted (the others are).
enum Refusal {
    Blocked,
    DeletionPending,
}

/// Commits the group's rows in one transaction; returns, for each, why it was refused if
/// it was.
fn insert_images(
    conn: &mut Connection,
    group: &[ImageJob],
) -> rusqlite::Result<Vec<Option<Refusal>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut refusals = Vec::with_capacity(group.len());
    {
        let mut check = tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM blocked_images WHERE id = ?1) AS blocked, \
             EXISTS (SELECT 1 FROM blob_deletions WHERE id = ?1) AS pending",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO images (id, format, size, width, height, appid, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, appid) DO NOTHING",
        )?;
        for (image, _) in group {
            let (blocked, pending): (bool, bool) =
                check.query_row([&image.id.hash()[..]], |row| Ok((row.get(0)?, row.get(1)?)))?;
            if blocked || pending {
                refusals.push(Some(if blocked {
                    Refusal::Blocked
                } else {
                    Refusal::DeletionPending
                }));
                continue;
            }
            refusals.push(None);
            insert.execute(rusqlite::params![
                &image.id.hash()[..],
                image.format.as_str(),
                image.size as i64,
                image.width as i64,
                image.height as i64,
                image.appid.as_str(),
                image.created_at,
            ])?;
        }
    }
    tx.commit()?;
    Ok(refusals)
}
