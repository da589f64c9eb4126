//! Writing a file whole or not at all: a reader (or a crash) sees the old contents or
//! the new ones, never part of them.
//!
//! The bytes go to a temporary file in the destination's directory ([`tempfile`], which
//! creates it exclusively with owner-only permissions), are flushed to disk, and the
//! file is then renamed over the destination (`persist`) and the directory flushed, so
//! the rename itself survives a power loss. Used for the token cache, the publish cache
//! and `publish`'s output.
//!
//! Only a regular file (or a missing one) is replaced. [`write_through`] writes *into*
//! what is not a regular file — a character device (`/dev/null`, a terminal), a FIFO,
//! `/dev/stdout` — and follows a symlink to replace its target, so `-o /dev/null` run
//! as root never swaps the machine's `/dev/null` for a regular file.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Who may read the file once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner only (0600): tokens and caches.
    Private,
    /// As the file it replaces, or 0644 for a new one: documents a person reads.
    Shared,
}

/// Writes `bytes` to `path` as a person's output should go: into a device, FIFO or
/// other special file as it is; through a symlink to its target; a regular or missing
/// file replaced atomically ([`write_atomic`]), keeping the replaced file's mode.
pub fn write_through(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = resolve_links(path).map_err(|e| Error::io(path, e))?;
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        )),
        Ok(meta) if !meta.is_file() => {
            // A device or FIFO: write into it, never replace it.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| Error::io(path, e))?;
            f.write_all(bytes).map_err(|e| Error::io(path, e))
        }
        _ => write_atomic(&target, bytes, Access::Shared),
    }
}

/// The path a chain of symlinks ends at (which may not exist yet); `path` itself when it
/// is no symlink. A loop of links is an error.
fn resolve_links(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` to `path` atomically (see the module docs). `path` itself is replaced,
/// even if it is a symlink: use [`write_through`] for a person's output.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Named by the destination only: tempfile's own errors name its temporary file
    // ("… at path \"dir/.wximg-AbC123.tmp\""), a name the user never gave.
    let fail = |e: std::io::Error| Error::io(path, without_temp_path(e));
    let mut tmp = tempfile::Builder::new()
        .prefix(".wximg-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    #[cfg(unix)]
    if access == Access::Shared {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(fail)?;
    }
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    // On failure the temporary file is removed when the error drops it.
    tmp.persist(path).map_err(|e| fail(e.error))?;
    sync_dir(dir).map_err(fail)
}

/// `e` without the path tempfile wraps its errors in (`{error} at path "{temp}"`; the
/// wrapper hides the operating system's error from `source()`): the same kind, with the
/// words before the path.
fn without_temp_path(e: std::io::Error) -> std::io::Error {
    if e.raw_os_error().is_some() {
        return e;
    }
    let text = e.to_string();
    match text.split_once(" at path ") {
        Some((words, _)) => std::io::Error::new(e.kind(), words.to_string()),
        None => e,
    }
}

/// Flushes a directory's entries (the rename) to disk; a no-op where directories cannot
/// be opened as files.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_names_the_destination_and_its_cause_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dest = dir.path().join("nodir").join("x.md");
        let e = write_through(&dest, b"text")
            .expect_err("no directory")
            .to_string();
        assert!(e.starts_with(&dest.display().to_string()), "{e}");
        assert!(!e.contains(".wximg-") && !e.contains("at path"), "{e}");
        assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    }

    #[test]
    fn replaces_whole_and_keeps_modes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("out.txt");
        write_atomic(&file, b"first", Access::Shared).expect("write");
        write_atomic(&file, b"second", Access::Shared).expect("rewrite");
        assert_eq!(std::fs::read(&file).expect("read"), b"second");
        let secret = dir.path().join("token.json");
        write_atomic(&secret, b"{}", Access::Private).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode(&file), 0o644);
            assert_eq!(mode(&secret), 0o600);
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
            write_atomic(&file, b"third", Access::Shared).expect("rewrite");
            assert_eq!(mode(&file), 0o640, "the replaced file's mode is kept");
        }
        // Nothing but the two files is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn output_goes_into_devices_and_fifos_and_through_symlinks() {
        use std::os::unix::fs::{FileTypeExt, symlink};
        let dir = tempfile::tempdir().expect("temp dir");
        // A character device is written into, never replaced (the old code renamed a
        // temp file over it: run as root, over the machine's /dev/null). The test makes
        // its own null device where it may (as root, as CI runs), else uses /dev/null.
        let own_null = dir.path().join("null");
        let made = std::process::Command::new("mknod")
            .arg(&own_null)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success());
        let null = if made {
            own_null
        } else {
            Path::new("/dev/null").to_path_buf()
        };
        write_through(&null, b"discarded").expect("write into the null device");
        let meta = std::fs::symlink_metadata(&null).expect("stat the null device");
        assert!(
            meta.file_type().is_char_device(),
            "{} was replaced",
            null.display()
        );

        // A FIFO gets the bytes, and stays a FIFO.
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).expect("read the FIFO"))
            };
            write_through(&fifo, b"through the pipe").expect("write into the FIFO");
            assert_eq!(reader.join().expect("reader"), b"through the pipe");
            let kind = std::fs::symlink_metadata(&fifo).expect("stat").file_type();
            assert!(kind.is_fifo(), "the FIFO was replaced by a {kind:?}");
        }
        // A symlink: its target is replaced, the link stays a link.
        let real = dir.path().join("real.md");
        std::fs::write(&real, b"old").expect("write");
        let link = dir.path().join("link.md");
        symlink("real.md", &link).expect("symlink");
        write_through(&link, b"new").expect("write through the link");
        assert_eq!(std::fs::read(&real).expect("read"), b"new");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("stat")
                .file_type()
                .is_symlink()
        );
        // A directory is refused.
        assert!(write_through(dir.path(), b"x").is_err());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no-such-dir").join("out.txt");
        assert!(write_atomic(&missing, b"x", Access::Shared).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
