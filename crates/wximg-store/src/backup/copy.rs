//! The blob half of a backup or a restore. The invariant: a blob reaches its final path
//! only with the bytes its id (their BLAKE3 hash) and its row's size promise, flushed
//! before the rename, and every rename is flushed before the copy returns.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use wximg_proto::ImageId;

use super::{Failure, Options, Progress, Report, Row, sync_dir};
use crate::Result;

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
pub(super) fn copy_blobs(
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
pub(super) fn prune(blobs: &Path, keep: &HashSet<ImageId>) -> Result<u64> {
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
