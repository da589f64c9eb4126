//! Many uploads at once: bounded concurrency, identical files sent once, fit on demand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::OnceCell;

use crate::Client;
use crate::error::{Error, Result};
use crate::fit::{FitOptions, FitOutcome};

/// Settings of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Uploads in flight at once (at least 1).
    pub jobs: usize,
    /// Re-encode pictures that would be refused (see [`crate::fit`]).
    pub fit: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            jobs: 4,
            fit: false,
        }
    }
}

/// A successful upload of one picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub url: String,
    /// What `--fit` did, when it ran.
    pub fit: Option<FitOutcome>,
    /// Bytes sent (after fitting).
    pub bytes: usize,
}

/// The outcome for one input file. Identical files share one outcome, so errors are
/// behind an [`Arc`].
#[derive(Debug, Clone)]
pub struct FileResult {
    pub path: PathBuf,
    pub result: std::result::Result<Done, Arc<Error>>,
}

type Shared = Arc<OnceCell<std::result::Result<Done, Arc<Error>>>>;

/// Uploads `paths`, at most `opts.jobs` at a time; files with the same content are
/// uploaded once and all get its URL. `on_result` is called as each file finishes (in
/// completion order); all results are also returned, in that order.
pub async fn upload_files(
    client: &Client,
    paths: Vec<PathBuf>,
    opts: BatchOptions,
    mut on_result: impl FnMut(&FileResult),
) -> Vec<FileResult> {
    let by_hash: Mutex<HashMap<blake3::Hash, Shared>> = Mutex::new(HashMap::new());
    let by_hash = &by_hash;
    let mut stream = futures_util::stream::iter(paths)
        .map(|path| async move {
            let result = upload_path(client, &path, opts.fit, by_hash).await;
            FileResult { path, result }
        })
        .buffer_unordered(opts.jobs.max(1));
    let mut out = Vec::new();
    while let Some(r) = stream.next().await {
        on_result(&r);
        out.push(r);
    }
    out
}

async fn upload_path(
    client: &Client,
    path: &Path,
    fit: bool,
    by_hash: &Mutex<HashMap<blake3::Hash, Shared>>,
) -> std::result::Result<Done, Arc<Error>> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| Arc::new(Error::io(path, e)))?;
    let hash = blake3::hash(&bytes);
    let cell = {
        let mut map = by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(hash).or_default().clone()
    };
    cell.get_or_init(|| async {
        upload_bytes(client, &file_name(path), bytes, fit)
            .await
            .map_err(Arc::new)
    })
    .await
    .clone()
}

/// The name sent in the multipart part: the file's name (servers ignore it).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "media".into())
}

/// The permits for fits running at once: one per core.
fn fit_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// Fits (if asked) and uploads one picture.
pub async fn upload_bytes(client: &Client, name: &str, bytes: Vec<u8>, fit: bool) -> Result<Done> {
    let (bytes, outcome, name) = if fit {
        let opts = FitOptions {
            rules: *client.rules(),
            ..FitOptions::default()
        };
        // Fits at once: no more than the cores, whatever --jobs says, so memory stays
        // bounded by a few decoded pictures (uploads still run --jobs at once).
        let _permit = fit_permits()
            .acquire()
            .await
            .map_err(|e| Error::Fit(format!("the fitting queue is closed: {e}")))?;
        let fitted = tokio::task::spawn_blocking(move || crate::fit::fit(&bytes, &opts))
            .await
            .map_err(|e| Error::Fit(format!("the fitting task failed: {e}")))??;
        let name = match fitted.outcome {
            FitOutcome::Unchanged => name.to_string(),
            _ => with_extension(name, fitted.format.as_str()),
        };
        (fitted.bytes, Some(fitted.outcome), name)
    } else {
        (bytes, None, name.to_string())
    };
    let len = bytes.len();
    let up = client.upload_image(&name, bytes.into()).await?;
    Ok(Done {
        url: up.url,
        fit: outcome,
        bytes: len,
    })
}

fn with_extension(name: &str, ext: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "media".into());
    format!("{stem}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(with_extension("a/b/photo.webp", "jpg"), "photo.jpg");
        assert_eq!(file_name(Path::new("/x/y.png")), "y.png");
    }
}
