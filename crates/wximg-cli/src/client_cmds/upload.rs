//! `wximg upload FILE…`: upload pictures and print one result line per file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use wximg_client::batch::{BatchOptions, FileResult, upload_files};

use super::ClientArgs;

/// `wximg upload`.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// The pictures to upload.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Convert and recompress pictures that would be refused (any common format, any
    /// size) into a JPEG or PNG that passes, at the best quality that fits.
    #[arg(long)]
    pub fit: bool,
    /// With --fit: send pictures that already pass byte for byte, metadata (EXIF, GPS
    /// position, XMP) included. Without it --fit removes metadata losslessly.
    #[arg(long, requires = "fit")]
    pub keep_metadata: bool,
    /// With --fit: make pictures at most this many pixels wide (WeChat shows article
    /// pictures at most about 1080 px wide). Default: as wide as they are.
    #[arg(long, requires = "fit", value_name = "PIXELS", value_parser = clap::value_parser!(u32).range(16..))]
    pub max_width: Option<u32>,
    /// Uploads in flight at once.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Print one JSON object per file on standard output: {"path","url"} or
    /// {"path","errcode","errmsg"}. Without it, results go to standard output, errors
    /// to standard error, and a summary closes the run.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.client()?;
    let json = args.json;
    // A directory is said once, with what to do, and not sent to the batch.
    let mut files = Vec::new();
    let mut failed = 0usize;
    for f in args.files {
        if f.is_dir() {
            failed += 1;
            let shown = super::printable(&f.display().to_string());
            let msg =
                format!("{shown} is a directory: give the pictures inside it (e.g. {shown}/*.jpg)");
            if json {
                println!(
                    "{}",
                    serde_json::json!({"path": f.display().to_string(), "errcode": -1, "errmsg": msg})
                );
            } else {
                eprintln!("{msg}");
            }
        } else {
            files.push(f);
        }
    }
    let total = files.len();
    let bar = if std::io::stderr().is_terminal() {
        // Cleared however it ends (see publish's spinner), not only by the code below.
        let pb = ProgressBar::new(total as u64).with_finish(ProgressFinish::AndClear);
        pb.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        // Drawn (and its clock kept going) while the first pictures are still on their way.
        pb.enable_steady_tick(std::time::Duration::from_millis(250));
        Some(pb)
    } else {
        None
    };
    let opts = BatchOptions {
        jobs: usize::from(args.jobs),
        fit: args.fit,
        fit_settings: wximg_client::fit::FitSettings {
            keep_metadata: args.keep_metadata,
            max_width: args.max_width,
        },
    };
    let tally = std::cell::RefCell::new(Tally {
        failed,
        ..Tally::default()
    });
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    let batch = upload_files(&client, files, opts, |r| {
        let mut t = tally.borrow_mut();
        match &r.result {
            Ok(done) if !seen.borrow_mut().insert(done.url.clone()) => t.unchanged += 1,
            Ok(_) => t.uploaded += 1,
            Err(_) => t.failed += 1,
        }
        let line = result_line(r, json);
        let to_stderr = r.result.is_err() && !json;
        let warnings = fit_warnings(r);
        let print = || {
            for w in &warnings {
                eprintln!("{w}");
            }
            if to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        };
        match &bar {
            Some(pb) => {
                pb.suspend(print);
                pb.inc(1);
            }
            None => print(),
        }
    });
    let interrupted = tokio::select! {
        _ = batch => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let t = *tally.borrow();
    let done = t.uploaded + t.unchanged + t.failed - failed;
    if interrupted {
        eprintln!(
            "interrupted: {} uploaded, {} failed, {} unchanged, {} not done",
            t.uploaded,
            t.failed,
            t.unchanged,
            total.saturating_sub(done)
        );
        return Ok(ExitCode::from(130));
    }
    if !json {
        eprintln!(
            "{} uploaded, {} failed, {} unchanged",
            t.uploaded, t.failed, t.unchanged
        );
    }
    Ok(if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a batch did so far: uploaded, failed, and unchanged (the same bytes as another
/// file of the batch: they got its URL without being sent again).
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    uploaded: usize,
    failed: usize,
    unchanged: usize,
}

/// `warning: path: what --fit lost` lines (transparency, animation), for stderr.
fn fit_warnings(r: &FileResult) -> Vec<String> {
    let Ok(done) = &r.result else {
        return Vec::new();
    };
    let path = r.path.display().to_string();
    done.fit_note
        .iter()
        .flat_map(|n| &n.warnings)
        .map(|w| format!("warning: {}: {w}", super::printable(&path)))
        .collect()
}

/// `path → url` (with --fit, followed by `  fit: what was done`), `path: code message`,
/// or the JSON form (with --fit, a `fit` object: `summary`, `warnings`).
fn result_line(r: &FileResult, json: bool) -> String {
    let path = r.path.display().to_string();
    match (&r.result, json) {
        (Ok(done), false) => {
            let mut line = format!(
                "{} → {}",
                super::printable(&path),
                super::printable(&done.url)
            );
            if let Some(note) = &done.fit_note {
                line.push_str(&format!("\n  fit: {}", note.summary));
            }
            line
        }
        (Ok(done), true) if done.fit_note.is_some() => {
            let note = done.fit_note.as_ref().map(|n| {
                serde_json::json!({
                    "summary": n.summary,
                    "warnings": n.warnings,
                    "input_format": n.report.input_format,
                    "input_width": n.report.input_width,
                    "input_height": n.report.input_height,
                    "input_bytes": n.report.input_bytes,
                    "format": n.format,
                    "width": n.width,
                    "height": n.height,
                    "quality": n.quality,
                    "bytes": done.bytes,
                    "metadata_removed": n.report.metadata_removed,
                    "dct_scale": n.report.dct_scale,
                })
            });
            serde_json::json!({ "path": path, "url": done.url, "fit": note }).to_string()
        }
        (Err(e), false) => format!("{}: {}", super::printable(&path), super::describe_for(e)),
        (Ok(done), true) => serde_json::json!({ "path": path, "url": done.url }).to_string(),
        (Err(e), true) => serde_json::json!({
            "path": path,
            "errcode": e.code(),
            "errmsg": e.to_string(),
        })
        .to_string(),
    }
}
