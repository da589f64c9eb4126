//! `wximg publish ARTICLE`: re-host an article's pictures and rewrite their URLs.
//!
//! The article is treated as untrusted: unless `--allow-outside-dir` and
//! `--allow-private-addresses` say otherwise, it makes `publish` read only regular files
//! in its own directory and download only from public http(s) addresses (the rules are
//! `wximg_client::fetch`'s); a picture refused is a failure like a missing one.

use std::path::PathBuf;
use std::process::ExitCode;

use wximg_client::atomic_file::{Access, write_atomic, write_through};
use wximg_client::publish::{PublishOptions, publish};

use super::ClientArgs;

/// `wximg publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The article: Markdown, or HTML (.html / .htm).
    pub article: PathBuf,
    /// Write the rewritten article here (default: standard output).
    #[arg(short = 'o', long, value_name = "OUT", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Rewrite the article itself, keeping the original as ARTICLE.bak.
    #[arg(long)]
    pub in_place: bool,
    /// Write the article even if some pictures could not be re-hosted (they keep their
    /// old URLs).
    #[arg(long)]
    pub allow_missing: bool,
    /// Pictures fetched and uploaded at once.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Largest picture read, in bytes: downloaded, or a local file.
    #[arg(long, default_value_t = wximg_client::fetch::MAX_PICTURE_BYTES)]
    pub max_download: u64,
    /// Also read local pictures outside the article's directory: absolute paths, file:
    /// URLs, `..` and symlinks that lead out. Only for an article you trust.
    #[arg(long)]
    pub allow_outside_dir: bool,
    /// Also download pictures from loopback, private (10/8, 172.16/12, 192.168/16),
    /// link-local, CGNAT, unique-local and other non-public addresses, and through the
    /// environment's proxy. Only for an article you trust.
    #[arg(long)]
    pub allow_private_addresses: bool,
    /// Time allowed for one download, in seconds.
    #[arg(long, default_value_t = 30)]
    pub download_timeout: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.client()?;
    let opts = PublishOptions {
        jobs: usize::from(args.jobs),
        max_download_bytes: args.max_download,
        download_timeout: std::time::Duration::from_secs(args.download_timeout),
        cache_file: None,
        allow_outside_dir: args.allow_outside_dir,
        allow_private_addresses: args.allow_private_addresses,
    };
    let report = publish(&client, &args.article, &opts).await?;
    let cached = report.rehosted.len() - report.uploaded();
    eprintln!(
        "{}: {} picture(s) re-hosted ({} uploaded, {} from the cache), {} left as they were, {} failed",
        super::printable(&args.article.display().to_string()),
        report.rehosted.len(),
        report.uploaded(),
        cached,
        report.skipped.len(),
        report.failed.len()
    );
    for (url, e) in &report.failed {
        eprintln!("  {}: {}", super::printable(url), super::describe(e));
    }
    if !report.failed.is_empty() && !args.allow_missing {
        eprintln!("the article was not written (pass --allow-missing to write it anyway)");
        return Ok(ExitCode::FAILURE);
    }
    if args.in_place {
        let mut backup = args.article.clone().into_os_string();
        backup.push(".bak");
        // Replaced, never written through: a symlink left at ARTICLE.bak in an
        // untrusted directory must not turn the backup into a write elsewhere.
        let original = std::fs::read(&args.article)?;
        write_atomic(std::path::Path::new(&backup), &original, Access::Shared)?;
        write_through(&args.article, report.text.as_bytes())?;
    } else if let Some(out) = &args.output {
        write_through(out, report.text.as_bytes())?;
    } else {
        use std::io::Write;
        std::io::stdout().write_all(report.text.as_bytes())?;
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
