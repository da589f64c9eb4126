//! Many uploads at once: bounded concurrency, identical files sent once, fit on demand.
//!
//! Memory stays bounded whatever the inputs and `--jobs`: each file is read up to
//! [`MAX_PICTURE_BYTES`], at most `jobs` at once; fits (which decode) run at most one per
//! core and hold at most [`FIT_PIXEL_BUDGET_MP`] decoded megapixels between them (counted
//! from the headers before decoding), and each refuses pictures over
//! [`crate::fit::MAX_DECODE_PIXELS`] from its header.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::OnceCell;

use crate::Client;
use crate::error::{Error, Result};
use crate::fetch::{MAX_PICTURE_BYTES, NotRead, read_named};
use crate::fit::{FitNote, FitOutcome, FitSettings};

/// Settings of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Uploads in flight at once (at least 1).
    pub jobs: usize,
    /// Re-encode pictures that would be refused (see [`crate::fit`]).
    pub fit: bool,
    /// `--keep-metadata`, `--max-width`: how `fit` treats pictures.
    pub fit_settings: FitSettings,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            jobs: 4,
            fit: false,
            fit_settings: FitSettings::default(),
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
    /// What `--fit` did, for people: a summary line and warnings.
    pub fit_note: Option<FitNote>,
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
            let fit = opts.fit.then_some(opts.fit_settings);
            let result = upload_path(client, &path, fit, by_hash).await;
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
    fit: Option<FitSettings>,
    by_hash: &Mutex<HashMap<blake3::Hash, Shared>>,
) -> std::result::Result<Done, Arc<Error>> {
    let bytes = read_input(path).await.map_err(Arc::new)?;
    let hash = blake3::hash(&bytes);
    let cell = {
        let mut map = by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(hash).or_default().clone()
    };
    cell.get_or_init(|| async {
        upload_bytes_with(client, &file_name(path), bytes, fit)
            .await
            .map_err(Arc::new)
    })
    .await
    .clone()
}

/// Reads a file given to `upload`: a regular file only, at most [`MAX_PICTURE_BYTES`] of
/// it — the check `publish` makes of pictures ([`crate::fetch::read_named`]), so a FIFO
/// cannot hang the batch (nor Ctrl-C, which waits for the read) and `/dev/zero` is not
/// read at all.
async fn read_input(path: &Path) -> Result<Vec<u8>> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_named(&owned, MAX_PICTURE_BYTES))
        .await
        .map_err(|e| Error::Config(format!("the reading task failed: {e}")))?;
    let refuse = |reason: String| Error::Refused {
        picture: path.display().to_string(),
        reason,
    };
    read.map_err(|why| match why {
        NotRead::Io(e) => Error::io(path, e),
        NotRead::NotRegular(kind) => refuse(format!(
            "it is {kind}, not a regular file: give a picture file"
        )),
        NotRead::TooBig => refuse(format!(
            "larger than the {MAX_PICTURE_BYTES}-byte limit of a picture; shrink it first"
        )),
    })
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

/// Decoded pixels of all fits in flight, in megapixels: one picture at the decode limit
/// ([`crate::fit::MAX_DECODE_PIXELS`]), which took ~1.5 GB at its peak when measured
/// (the decode, and the resize's intermediate buffer). Smaller pictures fit side by side.
pub const FIT_PIXEL_BUDGET_MP: u32 = (crate::fit::MAX_DECODE_PIXELS / 1_000_000) as u32;

fn pixel_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(FIT_PIXEL_BUDGET_MP as usize))
}

/// A fit's share of [`FIT_PIXEL_BUDGET_MP`]: its megapixels from the header (at least 1,
/// at most the whole budget; a header that cannot be read takes the whole budget, and the
/// fit itself then says what is wrong).
fn pixel_share(bytes: &[u8]) -> u32 {
    crate::fit::header_pixels(bytes).map_or(FIT_PIXEL_BUDGET_MP, |px| {
        px.div_ceil(1_000_000)
            .clamp(1, u64::from(FIT_PIXEL_BUDGET_MP)) as u32
    })
}

/// Fits (if `fit` is given) and uploads one picture.
pub async fn upload_bytes_with(
    client: &Client,
    name: &str,
    bytes: Vec<u8>,
    fit: Option<FitSettings>,
) -> Result<Done> {
    // Formats no decoder of this build reads: said once, with the way out, instead of
    // "use --fit" followed by "--fit cannot read it".
    if let Some(kind @ ("HEIC" | "AVIF")) = wximg_proto::rules::sniff_other(&bytes) {
        return Err(Error::Refused {
            picture: name.to_string(),
            reason: format!(
                "{kind} is not accepted and this build cannot convert it: convert it to JPEG \
                 first (e.g. `heif-convert {name} out.jpg` from libheif-examples, or \
                 `vips copy {name} out.jpg`)"
            ),
        });
    }
    let (bytes, outcome, name, note) = if let Some(settings) = fit {
        let opts = settings.options(*client.rules());
        // Fits at once: no more than the cores, whatever --jobs says, and between them
        // no more than FIT_PIXEL_BUDGET decoded pixels, so memory stays bounded by about
        // one picture at the decode limit whatever the machine (uploads still run --jobs
        // at once). A picture that passes as it is is not decoded and takes no permit.
        let _permits = if client.rules().check(&bytes).is_ok() {
            None
        } else {
            let cpu = fit_permits()
                .acquire()
                .await
                .map_err(|e| Error::Fit(format!("the fitting queue is closed: {e}")))?;
            let mem = pixel_permits()
                .acquire_many(pixel_share(&bytes))
                .await
                .map_err(|e| Error::Fit(format!("the fitting queue is closed: {e}")))?;
            Some((cpu, mem))
        };
        let fitted = tokio::task::spawn_blocking(move || crate::fit::fit(&bytes, &opts))
            .await
            .map_err(|e| Error::Fit(format!("the fitting task failed: {e}")))??;
        let name = match fitted.outcome {
            FitOutcome::Unchanged => name.to_string(),
            _ => with_extension(name, fitted.format.as_str()),
        };
        let note = fitted.note();
        (fitted.bytes, Some(fitted.outcome), name, Some(note))
    } else {
        (bytes, None, name.to_string(), None)
    };
    let len = bytes.len();
    let up = client.upload_image(&name, bytes.into()).await?;
    Ok(Done {
        url: up.url,
        fit: outcome,
        bytes: len,
        fit_note: note,
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
