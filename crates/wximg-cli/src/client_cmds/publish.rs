//! `wximg publish ARTICLE`: re-host an article's pictures and rewrite their URLs.

use std::path::PathBuf;
use std::process::ExitCode;

use wximg_client::atomic_file::write_through;
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
    /// Largest remote picture downloaded, in bytes.
    #[arg(long, default_value_t = 50 << 20)]
    pub max_download: u64,
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
        std::fs::copy(&args.article, &backup)?;
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
