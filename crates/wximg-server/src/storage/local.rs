//! Picture bytes as files: `blobs/<first two hex digits>/<hash hex>`.
//!
//! A put is crash-safe in the classic way: write a temp file in `blobs/.tmp`, fsync it,
//! rename it into place, fsync the directory. A file at its final path is therefore always
//! whole, and a crash leaves at most an orphan in `.tmp`, which [`LocalBlobs::open`] sweeps.
//!
//! Written by hand rather than with `object_store`'s `LocalFileSystem` because we need the
//! directory fsync after the rename (without it a power loss can forget the rename), and
//! the whole sequence runs in one blocking task instead of one per file operation.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::io::ReaderStream;
use wximg_proto::ImageId;

use super::{BlobStore, ByteStream, Result, StorageError};

/// Blobs in a directory of the local filesystem.
pub struct LocalBlobs {
    root: PathBuf,
    tmp: PathBuf,
}

impl LocalBlobs {
    /// Opens the store at `root`, creating it if needed and removing orphan temp files
    /// left by a crash.
    pub async fn open(root: &Path) -> Result<LocalBlobs> {
        let root = root.to_path_buf();
        let tmp = root.join(".tmp");
        let store = LocalBlobs { root, tmp };
        let (root, tmp) = (store.root.clone(), store.tmp.clone());
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            fs::create_dir_all(&tmp)?;
            let mut swept = 0;
            for entry in fs::read_dir(&tmp)? {
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
            fsync_dir(&tmp)?;
            fsync_dir(&root)
        })
        .await
        .map_err(join_error)??;
        Ok(store)
    }

    fn path(&self, id: &ImageId) -> PathBuf {
        let hex = id.hex();
        self.root.join(&hex[..2]).join(hex)
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

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dest` durably through a temp file in `tmp_dir`.
fn durable_write(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    if dest.exists() {
        return Ok(()); // content-addressed: whatever is there is these very bytes, whole
    }
    let shard = dest
        .parent()
        .ok_or_else(|| io::Error::other("blob path has no parent"))?;
    if !shard.exists() {
        fs::create_dir_all(shard)?;
        if let Some(root) = shard.parent() {
            fsync_dir(root)?;
        }
    }
    let tmp = tmp_dir.join(temp_name(""));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dest)?;
        fsync_dir(shard)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp); // best effort; open() sweeps what is left
    }
    result
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn ping(&self) -> Result<()> {
        let tmp = self.tmp.clone();
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
        let (tmp, dest) = (self.tmp.clone(), self.path(id));
        tokio::task::spawn_blocking(move || durable_write(&tmp, &dest, &bytes))
            .await
            .map_err(join_error)??;
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
                    if let Some(id) = name.to_str().and_then(parse_hex_id) {
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

/// Parses a blob file name (64 hex digits) back into its id.
pub fn parse_hex_id(s: &str) -> Option<ImageId> {
    if s.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(ImageId::from_hash(hash))
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

    #[test]
    fn hex_ids_round_trip() {
        let id = ImageId::of(b"abc");
        assert_eq!(parse_hex_id(&id.hex()), Some(id));
        assert_eq!(parse_hex_id("zz"), None);
    }
}
