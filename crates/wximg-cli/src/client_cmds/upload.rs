//! `wximg upload FILE…`: upload pictures and print one result line per file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
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
    /// Print one JSON object per file: {"path","url"} or {"path","errcode","errmsg"}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.client()?;
    let bar = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(args.files.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let json = args.json;
    let opts = BatchOptions {
        jobs: usize::from(args.jobs),
        fit: args.fit,
        fit_settings: wximg_client::fit::FitSettings {
            keep_metadata: args.keep_metadata,
            max_width: args.max_width,
        },
    };
    let mut failed = 0usize;
    upload_files(&client, args.files, opts, |r| {
        if r.result.is_err() {
            failed += 1;
        }
        let line = result_line(r, json);
        let warnings = fit_warnings(r);
        let print = || {
            println!("{line}");
            for w in &warnings {
                eprintln!("{w}");
            }
        };
        match &bar {
            Some(pb) => {
                pb.suspend(print);
                pb.inc(1);
            }
            None => print(),
        }
    })
    .await;
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
        (Err(e), false) => format!("{}: {}", super::printable(&path), super::describe(e)),
        (Ok(done), true) => serde_json::json!({ "path": path, "url": done.url }).to_string(),
        (Err(e), true) => serde_json::json!({
            "path": path,
            "errcode": e.code(),
            "errmsg": e.to_string(),
        })
        .to_string(),
    }
}
