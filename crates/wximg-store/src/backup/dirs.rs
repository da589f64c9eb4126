//! Which directories a backup may write into. The invariant: a backup never writes into
//! the data directory (nor a directory holding it), nor into anything that is not empty
//! or an earlier backup, and two runs never write into one DEST at once.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{MARKER, config, sync_dir};
use crate::Result;

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
pub(super) fn refuse_overlap(data_dir: &Path, dest: &Path) -> Result<()> {
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
pub(super) fn prepare_dest(dest: &Path) -> Result<File> {
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
