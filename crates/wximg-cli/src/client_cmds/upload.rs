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
    };
    let mut failed = 0usize;
    upload_files(&client, args.files, opts, |r| {
        if r.result.is_err() {
            failed += 1;
        }
        let line = result_line(r, json);
        match &bar {
            Some(pb) => {
                pb.suspend(|| println!("{line}"));
                pb.inc(1);
            }
            None => println!("{line}"),
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

/// `path → url`, `path: code message`, or the JSON form.
fn result_line(r: &FileResult, json: bool) -> String {
    let path = r.path.display().to_string();
    match (&r.result, json) {
        (Ok(done), false) => format!(
            "{} → {}",
            super::printable(&path),
            super::printable(&done.url)
        ),
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
