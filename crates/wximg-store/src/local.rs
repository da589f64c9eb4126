//! Picture bytes as files: `blobs/<first two hex digits>/<hash hex>`.
//!
//! (One file past 400 lines: the writer thread and the `BlobStore` impl share the group
//! commit's private state; over a third of it is the tests of that protocol.)
//!
//! A put is crash-safe in the classic way: write a temp file in `blobs/.tmp`, make it
//! durable, rename it into place, make the rename durable. A file at its final path is
//! therefore always whole, and a crash leaves at most an orphan in `.tmp`, which
//! [`LocalBlobs::open`] sweeps.
//!
//! Puts are *group-committed* by one writer thread, like the picture rows of
//! [`super::sqlite`]: it takes every put waiting, writes their temp files, makes them all
//! durable with one `syncfs(2)`, renames them all, and makes the renames durable with the
//! next `syncfs` (which also flushes the next group's temp files, see [`write_blobs`]).
//! A flush or two acknowledge a whole group, where a file-at-a-time writer pays an fsync
//! of each file and of its directory (each of which, on ext4 without a journal, also
//! writes the parent directory synchronously). `syncfs` flushes the whole
//! filesystem the data directory is on, so it suits a data directory on its own
//! filesystem or one shared with little else; elsewhere than Linux each file and
//! directory is fsynced instead.
//!
//! Written by hand rather than with `object_store`'s `LocalFileSystem` because we need the
//! durable rename (without it a power loss can forget the rename) and the group commit.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_util::io::ReaderStream;
use wximg_proto::ImageId;

use super::writer_thread;
use super::{BlobStore, ByteStream, Result, StorageError};

/// Blobs in a directory of the local filesystem.
pub struct LocalBlobs {
    root: PathBuf,
    tmp: PathBuf,
    /// To the writer thread (see the module docs); it ends when this is dropped. `None`
    /// when opened read-only.
    writer: Option<mpsc::Sender<Put>>,
}

/// One blob waiting for the writer thread.
struct Put {
    dest: PathBuf,
    bytes: Bytes,
    done: oneshot::Sender<io::Result<()>>,
}

impl LocalBlobs {
    /// Opens the store at `root`, creating it if needed and removing orphan temp files
    /// left by a crash.
    pub async fn open(root: &Path) -> Result<LocalBlobs> {
        let root = root.to_path_buf();
        let tmp = root.join(".tmp");
        let (root2, tmp2) = (root.clone(), tmp.clone());
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            fs::create_dir_all(&tmp2)?;
            let mut swept = 0;
            for entry in fs::read_dir(&tmp2)? {
                let entry = entry?;
                // Another live process on this data directory (a server, while `wximg
                // fsck` or `wximg app` opens it) may be writing this very file.
                if writer_alive(&entry.file_name().to_string_lossy()) {
                    continue;
                }
                fs::remove_file(entry.path())?;
                swept += 1;
            }
            if swept > 0 {
                tracing::info!(swept, "removed orphan temp files left by an earlier crash");
            }
            // A writer killed between a rename and its flush leaves the renamed file in
            // the page cache only; flushing now makes every blob found at its path (and
            // so acknowledged again without a write, see `write_temps`) durable.
            flush(&[tmp2.clone(), root2.clone()])
        })
        .await
        .map_err(join_error)??;
        let (writer, queue) = mpsc::channel();
        let tmp_dir = tmp.clone();
        writer_thread::spawn("wximg-blob-writer", move || write_blobs(&tmp_dir, &queue))?;
        Ok(LocalBlobs {
            root,
            tmp,
            writer: Some(writer),
        })
    }

    /// Opens the store at `root` for reading only: nothing is created, swept or written
    /// (a server may be running on it), and every `put` fails.
    pub fn open_read_only(root: &Path) -> Result<LocalBlobs> {
        if !root.is_dir() {
            return Err(StorageError::Config(format!(
                "{} is not a blob directory",
                root.display()
            )));
        }
        Ok(LocalBlobs {
            root: root.to_path_buf(),
            tmp: root.join(".tmp"),
            writer: None,
        })
    }

    fn path(&self, id: &ImageId) -> PathBuf {
        self.root.join(id.shard_path())
    }
}

/// A temp file's name: the writing process's id, then a random part, so a sweep can tell
/// a crashed writer's leftovers from a live writer's files.
fn temp_name(kind: &str) -> String {
    format!(
        "{}-{kind}{:032x}",
        std::process::id(),
        rand::random::<u128>()
    )
}

/// Whether the process that named temp file `name` (see [`temp_name`]) is another process
/// that still runs. Files of this process, of dead processes, or not named by
/// [`temp_name`] are fair game; without `/proc` every file is.
fn writer_alive(name: &str) -> bool {
    let Some(pid) = name
        .split_once('-')
        .and_then(|(pid, _)| pid.parse::<u32>().ok())
    else {
        return false;
    };
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && Path::new(&format!("/proc/{pid}")).exists()
}

fn join_error(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io(io::Error::other(e))
}

/// Makes every write to the files (or directories) in `paths` durable: on Linux one
/// `syncfs` of their filesystem (they all live under one data directory), elsewhere an
/// fsync of each.
fn flush(paths: &[PathBuf]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        match paths.first() {
            Some(any) => rustix::fs::syncfs(File::open(any)?).map_err(io::Error::from),
            None => Ok(()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        paths.iter().try_for_each(|p| File::open(p)?.sync_all())
    }
}

/// A blob on its way: its temp file, its final path, and every put waiting for it.
struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    waiting: Vec<oneshot::Sender<io::Result<()>>>,
}

/// The writer thread (see the module docs). Ends when [`LocalBlobs`] is dropped.
///
/// Each turn takes the puts waiting, writes their temp files, then flushes once: that one
/// flush makes this group's temp files durable *and* the previous group's renames, so
/// under load every group costs one flush, not two, while each put still waits for both.
/// A put is answered `Ok` only after its rename has been flushed.
fn write_blobs(tmp_dir: &Path, queue: &mpsc::Receiver<Put>) {
    // Renamed into place, waiting for the next flush; by final path, so that a put of the
    // same bytes meanwhile waits for that flush too instead of trusting the file it sees.
    let mut renamed: HashMap<PathBuf, Pending> = HashMap::new();
    // Wait for puts only when no rename awaits a flush; `None`: the store is gone and
    // nothing is in flight.
    while let Some(group) = writer_thread::next_group(queue, renamed.is_empty()) {
        let written = write_temps(tmp_dir, group, &mut renamed);
        if written.is_empty() && renamed.is_empty() {
            continue;
        }
        let paths: Vec<PathBuf> = written
            .iter()
            .map(|p| p.tmp.clone())
            .chain(renamed_dirs(&renamed))
            .collect();
        if let Err(e) = flush(&paths) {
            fail_all(renamed.drain().map(|(_, p)| p), &e, |p| &p.dest);
            fail_all(written, &e, |p| &p.tmp);
            continue;
        }
        for (_, p) in renamed.drain() {
            answer(p.waiting, Ok(()));
        }
        for p in written {
            match fs::rename(&p.tmp, &p.dest) {
                Ok(()) => {
                    renamed.insert(p.dest.clone(), p);
                }
                Err(e) => {
                    let _ = fs::remove_file(&p.tmp);
                    answer(p.waiting, Err(&e));
                }
            }
        }
    }
}

/// Writes the temp file of each put of `group` whose blob is neither stored nor on its
/// way, and answers the puts that need no write. A put fails alone when its own file
/// fails (disk full, say), leaving no temp file behind.
fn write_temps(
    tmp_dir: &Path,
    group: Vec<Put>,
    renamed: &mut HashMap<PathBuf, Pending>,
) -> Vec<Pending> {
    let mut written: Vec<Pending> = Vec::with_capacity(group.len());
    for put in group {
        if let Some(p) = renamed.get_mut(&put.dest) {
            p.waiting.push(put.done); // renamed, not yet flushed
            continue;
        }
        if let Some(p) = written.iter_mut().find(|p| p.dest == put.dest) {
            p.waiting.push(put.done); // the same bytes twice in one group
            continue;
        }
        if put.dest.exists() {
            // Content-addressed: whatever is there is these very bytes, whole and durable
            // (a file reaches its path only from a flushed temp file, and a renamed file
            // not yet flushed is in `renamed`, or was flushed by `open` after a crash).
            let _ = put.done.send(Ok(()));
            continue;
        }
        let tmp = tmp_dir.join(temp_name(""));
        match write_temp(&tmp, &put.dest, &put.bytes) {
            Ok(()) => written.push(Pending {
                tmp,
                dest: put.dest,
                waiting: vec![put.done],
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp); // best effort; open() sweeps what is left
                let _ = put.done.send(Err(e));
            }
        }
    }
    written
}

/// The directories whose entries the renames changed: each shard, and the root for
/// shards created meanwhile (for [`flush`] where it fsyncs each; `syncfs` covers all).
fn renamed_dirs(renamed: &HashMap<PathBuf, Pending>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = renamed
        .keys()
        .filter_map(|dest| dest.parent())
        .flat_map(|shard| [Some(shard), shard.parent()])
        .flatten()
        .map(Path::to_path_buf)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Writes `bytes` to the new temp file `tmp`, creating `dest`'s shard directory first if
/// needed (the group's flush makes the new directory durable with the rest).
fn write_temp(tmp: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let shard = dest
        .parent()
        .ok_or_else(|| io::Error::other("blob path has no parent"))?;
    if !shard.exists() {
        fs::create_dir_all(shard)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    f.write_all(bytes)
}

/// Answers every put of `pending` with `error`, removing the file `file` picks for each
/// (so no file of a failed put stays at its final path, nor any temp file).
fn fail_all(
    pending: impl IntoIterator<Item = Pending>,
    error: &io::Error,
    file: impl Fn(&Pending) -> &PathBuf,
) {
    for p in pending {
        let _ = fs::remove_file(file(&p));
        answer(p.waiting, Err(error));
    }
}

/// Answers every put waiting for one blob (an `io::Error` is not `Clone`: each gets a copy).
fn answer(waiting: Vec<oneshot::Sender<io::Result<()>>>, result: Result<(), &io::Error>) {
    for done in waiting {
        let result = result.map_err(|e| io::Error::new(e.kind(), e.to_string()));
        let _ = done.send(result); // the uploader may have given up
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn ping(&self) -> Result<()> {
        let tmp = self.tmp.clone();
        if self.writer.is_none() {
            // Opened read-only: reachable is all it promises, and nothing is written.
            let root = self.root.clone();
            tokio::task::spawn_blocking(move || fs::read_dir(root).map(drop))
                .await
                .map_err(join_error)??;
            return Ok(());
        }
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let probe = tmp.join(temp_name("ping-"));
            fs::write(&probe, b"ok")?;
            fs::remove_file(&probe)
        })
        .await
        .map_err(join_error)??;
        Ok(())
    }

    async fn put(&self, id: &ImageId, bytes: Bytes) -> Result<()> {
        let (done, result) = oneshot::channel();
        let Some(writer) = &self.writer else {
            return Err(StorageError::Unavailable(
                "the blob store is open read-only".into(),
            ));
        };
        let stopped = || StorageError::Io(io::Error::other("the blob writer thread stopped"));
        writer
            .send(Put {
                dest: self.path(id),
                bytes,
                done,
            })
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())??;
        Ok(())
    }

    async fn get(&self, id: &ImageId, range: Option<Range<u64>>) -> Result<Option<ByteStream>> {
        let path = self.path(id);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let stream: ByteStream = match range {
            None => Box::pin(ReaderStream::with_capacity(file, 64 * 1024)),
            Some(r) => {
                let mut std_file = file.into_std().await;
                let start = r.start;
                let std_file = tokio::task::spawn_blocking(move || {
                    std_file.seek(SeekFrom::Start(start)).map(|_| std_file)
                })
                .await
                .map_err(join_error)??;
                let limited = tokio::io::AsyncReadExt::take(
                    tokio::fs::File::from_std(std_file),
                    r.end - r.start,
                );
                Box::pin(ReaderStream::with_capacity(limited, 64 * 1024))
            }
        };
        Ok(Some(stream))
    }

    async fn ids(&self) -> Result<Vec<ImageId>> {
        let root = self.root.clone();
        let ids = tokio::task::spawn_blocking(move || -> io::Result<Vec<ImageId>> {
            let mut ids = Vec::new();
            for shard in fs::read_dir(&root)? {
                let shard = shard?;
                if shard.file_name() == ".tmp" || !shard.file_type()?.is_dir() {
                    continue;
                }
                for blob in fs::read_dir(shard.path())? {
                    let name = blob?.file_name();
                    if let Some(id) = name.to_str().and_then(ImageId::from_hex) {
                        ids.push(id);
                    }
                }
            }
            Ok(ids)
        })
        .await
        .map_err(join_error)??;
        Ok(ids)
    }

    async fn delete(&self, id: &ImageId) -> Result<()> {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn read_all(s: ByteStream) -> Vec<u8> {
        s.try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn put_get_range_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = LocalBlobs::open(&root).await.unwrap();
        let bytes = Bytes::from_static(b"0123456789");
        let id = ImageId::of(&bytes);
        store.put(&id, bytes.clone()).await.unwrap();
        store.put(&id, bytes.clone()).await.unwrap(); // idempotent
        assert_eq!(
            read_all(store.get(&id, None).await.unwrap().unwrap()).await,
            b"0123456789"
        );
        assert_eq!(
            read_all(store.get(&id, Some(2..5)).await.unwrap().unwrap()).await,
            b"234"
        );
        assert!(store.get(&ImageId::of(b"x"), None).await.unwrap().is_none());
        assert_eq!(store.ids().await.unwrap(), vec![id]);

        fs::write(root.join(".tmp").join("orphan"), b"half").unwrap();
        drop(store);
        let _store = LocalBlobs::open(&root).await.unwrap();
        assert_eq!(fs::read_dir(root.join(".tmp")).unwrap().count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_of_puts_stores_each_once_and_fails_only_its_own_bad_put() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = std::sync::Arc::new(LocalBlobs::open(&root).await.unwrap());
        // A plain file where one blob's shard directory must go: that put alone fails.
        let bad = (0u32..)
            .map(|n| Bytes::from(format!("bad {n}")))
            .find(|b| ImageId::of(b).hex().starts_with("ff"))
            .unwrap();
        fs::write(root.join("ff"), b"in the way").unwrap();
        let good: Vec<Bytes> = (0u32..)
            .map(|n| Bytes::from(format!("picture {n}")))
            .filter(|b| !ImageId::of(b).hex().starts_with("ff"))
            .take(100)
            .collect();
        let mut puts = Vec::new();
        // Every picture twice, so duplicates meet within a group and across groups.
        for bytes in good.iter().chain(&good).cloned() {
            let store = store.clone();
            puts.push(tokio::spawn(async move {
                let id = ImageId::of(&bytes);
                store.put(&id, bytes.clone()).await.map(|()| (id, bytes))
            }));
        }
        let bad_put = {
            let (store, bad) = (store.clone(), bad.clone());
            tokio::spawn(async move { store.put(&ImageId::of(&bad), bad).await })
        };
        let mut stored = Vec::new();
        for put in puts {
            stored.push(put.await.unwrap().unwrap());
        }
        assert!(
            bad_put.await.unwrap().is_err(),
            "a put whose shard is a file succeeded"
        );
        for (id, bytes) in &stored {
            let got = read_all(store.get(id, None).await.unwrap().unwrap()).await;
            assert_eq!(&got[..], &bytes[..]);
        }
        let mut ids = store.ids().await.unwrap();
        ids.sort_by_key(|id| id.hex());
        ids.dedup();
        assert_eq!(ids.len(), 100);
        assert_eq!(fs::read_dir(root.join(".tmp")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_sweep_spares_a_live_writers_temp_files() {
        // `wximg fsck` or `wximg app` opening the data directory of a running server must
        // not remove the temp file of an upload the server is writing (it answered -1).
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        fs::create_dir_all(root.join(".tmp")).unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let live_file = root.join(".tmp").join(format!("{}-{:032x}", live.id(), 1));
        let dead_file = root
            .join(".tmp")
            .join(format!("{}-{:032x}", u32::MAX - 1, 2));
        let own_file = root.join(".tmp").join(temp_name(""));
        let legacy_file = root.join(".tmp").join(format!("{:032x}", 3));
        for f in [&live_file, &dead_file, &own_file, &legacy_file] {
            fs::write(f, b"half").unwrap();
        }
        let _store = LocalBlobs::open(&root).await.unwrap();
        let _ = live.kill();
        let _ = live.wait();
        assert!(live_file.exists(), "a live writer's temp file was swept");
        assert!(!dead_file.exists() && !own_file.exists() && !legacy_file.exists());
    }
}
