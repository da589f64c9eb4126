//! Writing a file whole or not at all: a reader (or a crash) sees the old contents or
//! the new ones, never part of them.
//!
//! The bytes go to a temporary file in the destination's directory ([`tempfile`], which
//! creates it exclusively with owner-only permissions), are flushed to disk, and the
//! file is then renamed over the destination (`persist`) and the directory flushed, so
//! the rename itself survives a power loss. Used for the token cache, the publish cache
//! and `publish`'s output.

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

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |e: std::io::Error| Error::io(path, e);
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

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no-such-dir").join("out.txt");
        assert!(write_atomic(&missing, b"x", Access::Shared).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
