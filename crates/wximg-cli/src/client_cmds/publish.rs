//! `wximg publish ARTICLE`: re-host an article's pictures and rewrite their URLs, or, with
//! `--draft`, render it and make (or update) its WeChat draft; `--publish` also publishes
//! it and waits for the outcome.
//!
//! The article is treated as untrusted: unless `--allow-outside-dir` and
//! `--allow-private-addresses` say otherwise, it makes `publish` read only regular files
//! in its own directory and download only from public http(s) addresses (the rules are
//! `wximg_client::fetch`'s); a picture refused is a failure like a missing one.
//!
//! Output: with `--draft`, one result line per picture on standard output (errors on
//! standard error), then the cover, the draft and the published article's URL, and a
//! closing summary on standard error; with `--json`, one JSON object per picture, one for
//! the cover and one for the draft, all on standard output. Without `--draft`, standard
//! output is the rewritten article (unless `-o`/`--in-place`), so every line about the
//! pictures goes to standard error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use serde_json::json;
use wximg_client::atomic_file::{Access, write_atomic, write_through};
use wximg_client::config::expand_home;
use wximg_client::draft::{DraftAction, DraftOptions, Overrides, status_words, to_draft};
use wximg_client::fit::FitOutcome;
use wximg_client::publish::{PublishOptions, PublishReport, Rehosted, Source, rehost_text};
use wximg_client::render::Theme;

use super::ClientArgs;

/// `wximg publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The article: Markdown, or HTML (.html / .htm).
    pub article: PathBuf,
    /// Write the rewritten article here (default: standard output). Not the article
    /// itself: that is --in-place.
    #[arg(short = 'o', long, value_name = "OUT", conflicts_with_all = ["in_place", "draft", "publish"])]
    pub output: Option<PathBuf>,
    /// Rewrite the article itself, keeping the original as ARTICLE.bak (an existing
    /// backup is never replaced: the next free ARTICLE.bak.N is used).
    #[arg(long, conflicts_with_all = ["draft", "publish"])]
    pub in_place: bool,
    /// Render the article (Markdown: front matter, theme) and make its WeChat draft, or
    /// update the one a previous run made.
    #[arg(long)]
    pub draft: bool,
    /// Also publish the draft (freepublish) and wait until it is published. Implies
    /// --draft.
    #[arg(long)]
    pub publish: bool,
    /// Upload nothing: list every picture and what would be done with it (upload,
    /// cached, fit, refused); exit non-zero if something would fail.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per picture, one for the cover and one for the draft.
    #[arg(long)]
    pub json: bool,
    /// The look: `default`, `github`, `warm`, or a CSS file (its root is `section.wximg`).
    #[arg(long, value_name = "NAME|FILE.css")]
    pub theme: Option<String>,
    /// The draft's title (default: the front matter's `title`, else the first heading).
    #[arg(long)]
    pub title: Option<String>,
    /// The draft's author (default: the front matter's `author`).
    #[arg(long)]
    pub author: Option<String>,
    /// The summary shown in lists (default: the front matter's `digest`).
    #[arg(long)]
    pub digest: Option<String>,
    /// The cover picture, a file or a URL (default: the front matter's `cover`).
    #[arg(long, value_name = "FILE|URL")]
    pub cover: Option<String>,
    /// "Read the original" link (default: the front matter's `source_url`).
    #[arg(long, value_name = "URL")]
    pub source_url: Option<String>,
    /// Open comments (default: the front matter's `need_open_comment`).
    #[arg(long, value_name = "BOOL")]
    pub open_comment: Option<bool>,
    /// Only followers may comment (default: the front matter's `only_fans_can_comment`).
    #[arg(long, value_name = "BOOL")]
    pub only_fans_can_comment: Option<bool>,
    /// The picture cache (default: the profile's `cache`, else beside the article). One
    /// file may serve many articles: entries are kept per server and app.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// Seconds between two freepublish/get calls.
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub poll_interval: f64,
    /// Longest wait for publishing to end, in seconds.
    #[arg(long, default_value_t = 600)]
    pub publish_timeout: u64,
    /// Write the article even if some pictures could not be re-hosted (they keep their
    /// old URLs).
    #[arg(long)]
    pub allow_missing: bool,
    /// Send pictures that already pass byte for byte, metadata (EXIF, GPS position, XMP)
    /// included. Without it metadata is removed losslessly from every picture sent.
    #[arg(long)]
    pub keep_metadata: bool,
    /// Make pictures (and the cover) at most this many pixels wide: WeChat shows article
    /// pictures at most about 1080 px wide. Default: as wide as they are.
    #[arg(long, value_name = "PIXELS", value_parser = clap::value_parser!(u32).range(16..))]
    pub max_width: Option<u32>,
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
    /// Time allowed for one download, in seconds (at least 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub download_timeout: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let profile = args.client.profile()?.unwrap_or_default();
    let client = args.client.client()?;
    let opts = PublishOptions {
        jobs: usize::from(args.jobs),
        max_download_bytes: args.max_download,
        download_timeout: Duration::from_secs(args.download_timeout),
        cache_file: args
            .cache
            .clone()
            .or_else(|| profile.cache.as_deref().map(expand_home)),
        allow_outside_dir: args.allow_outside_dir,
        allow_private_addresses: args.allow_private_addresses,
        dry_run: args.dry_run,
        fit: wximg_client::fit::FitSettings {
            keep_metadata: args.keep_metadata,
            max_width: args.max_width,
        },
    };
    if let Some(out) = &args.output
        && same_file(out, &args.article)
    {
        anyhow::bail!(
            "-o {} is the article itself: use --in-place to rewrite it (a backup is kept)",
            super::printable(&out.display().to_string())
        );
    }
    let tally = Tally::default();
    let work = async {
        if args.draft || args.publish {
            let theme = theme(args.theme.as_deref().or(profile.theme.as_deref()))?;
            draft(&client, &args, opts, theme, &tally).await
        } else {
            rewrite(&client, &args, opts, &tally).await
        }
    };
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => {
            // `work` (and its spinner, cleared as it drops) is gone before this prints.
            eprintln!(
                "interrupted: {}; the pictures uploaded are in the cache: run the same \
                 command again to go on",
                tally.summary()
            );
            Ok(ExitCode::from(130))
        }
    }
}

/// The pictures done so far, for the summary of an interrupted run.
#[derive(Default)]
struct Tally {
    uploaded: AtomicUsize,
    cached: AtomicUsize,
    failed: AtomicUsize,
}

impl Tally {
    fn record(&self, r: &Result<Rehosted, Arc<wximg_client::Error>>) {
        let counter = match r {
            Ok(p) if p.source == Source::Cached => &self.cached,
            Ok(_) => &self.uploaded,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn summary(&self) -> String {
        format!(
            "{} uploaded, {} from the cache, {} failed so far",
            self.uploaded.load(Ordering::Relaxed),
            self.cached.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        )
    }
}

/// `--theme`: a built-in name or a CSS file.
fn theme(arg: Option<&str>) -> anyhow::Result<Theme> {
    let Some(arg) = arg else {
        return Ok(Theme::Default);
    };
    if let Some(t) = Theme::named(arg) {
        return Ok(t);
    }
    let path = expand_home(arg);
    Ok(Theme::from_file(&path, &super::printable(arg))?)
}

/// Whether two paths name the same file (the second may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The first `ARTICLE.bak`, `ARTICLE.bak.1`, … that does not exist (not even as a
/// dangling symlink).
fn free_backup(article: &Path) -> PathBuf {
    let base = article.as_os_str().to_owned();
    (0..)
        .map(|n| {
            let mut p = base.clone();
            p.push(if n == 0 {
                ".bak".to_string()
            } else {
                format!(".bak.{n}")
            });
            PathBuf::from(p)
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| article.with_extension("bak"))
}

/// Without `--draft`: rewrite the article's picture URLs.
async fn rewrite(
    client: &wximg_client::Client,
    args: &PublishArgs,
    opts: PublishOptions,
    tally: &Tally,
) -> anyhow::Result<ExitCode> {
    let read = wximg_client::publish::read_article(&args.article)?;
    let text = &read.text;
    let kind = wximg_client::article::ArticleKind::from_path(&args.article);
    let json = args.json;
    let report = rehost_text(client, text, kind, &args.article, &opts, |url, r| {
        tally.record(r);
        if json {
            println!("{}", picture_json(url, r));
        } else if args.dry_run {
            eprintln!("{}", picture_line(url, r));
        }
    })
    .await?;
    cache_warning(&report);
    let cached = report.count(Source::Cached);
    if !json {
        eprintln!(
            "{}: {} picture(s) re-hosted ({} uploaded, {} from the cache), {} left as they were, {} failed",
            super::printable(&args.article.display().to_string()),
            report.rehosted.len(),
            report.uploaded(),
            cached,
            report.skipped.len(),
            report.failed.len()
        );
        if !args.dry_run {
            for (url, e) in &report.failed {
                eprintln!("  {}: {}", super::printable(url), super::describe(e));
            }
        }
    }
    if args.dry_run {
        return Ok(exit(report.failed.is_empty()));
    }
    if !report.failed.is_empty() && !args.allow_missing {
        eprintln!("the article was not written (pass --allow-missing to write it anyway)");
        return Ok(ExitCode::FAILURE);
    }
    if args.in_place && report.text == *text {
        // Nothing to rewrite: no backup (it would be the article itself, a new
        // ARTICLE.bak.N every run), and the article untouched.
        eprintln!(
            "{}: nothing to change, left as it is",
            super::printable(&args.article.display().to_string())
        );
    } else if args.in_place {
        // Never over an existing backup (a second run would replace the original with
        // the rewritten article), and replaced, never written through: a symlink left
        // at ARTICLE.bak in an untrusted directory must not turn the backup into a
        // write elsewhere.
        let backup = free_backup(&args.article);
        write_atomic(&backup, &read.file_bytes(text), Access::Shared)?;
        eprintln!(
            "the original is kept as {}",
            super::printable(&backup.display().to_string())
        );
        write_through(&args.article, &read.file_bytes(&report.text))?;
    } else if let Some(out) = &args.output {
        write_through(out, &read.file_bytes(&report.text))?;
    } else if !json {
        use std::io::Write;
        std::io::stdout().write_all(report.text.as_bytes())?;
    }
    Ok(exit(report.failed.is_empty()))
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--draft` / `--publish`.
async fn draft(
    client: &wximg_client::Client,
    args: &PublishArgs,
    pictures: PublishOptions,
    theme: Theme,
    tally: &Tally,
) -> anyhow::Result<ExitCode> {
    let opts = DraftOptions {
        pictures,
        theme,
        overrides: Overrides {
            title: args.title.clone(),
            author: args.author.clone(),
            digest: args.digest.clone(),
            cover: args.cover.clone(),
            source_url: args.source_url.clone(),
            need_open_comment: args.open_comment,
            only_fans_can_comment: args.only_fans_can_comment,
        },
        publish: args.publish,
        poll_interval: Duration::try_from_secs_f64(args.poll_interval)
            .unwrap_or(Duration::from_secs(1)),
        publish_timeout: Duration::from_secs(args.publish_timeout),
        state_file: None,
    };
    let json = args.json;
    let spinner = (!json && std::io::stderr().is_terminal()).then(|| {
        // Cleared however it ends: Ctrl-C drops it (with `work`) without a finish
        // (tests/cli/client_terminal.rs reads the screen it leaves).
        let pb = ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear);
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb
    });
    let say = |line: String, err: bool| match &spinner {
        Some(pb) => pb.suspend(|| {
            if err {
                eprintln!("{line}")
            } else {
                println!("{line}")
            }
        }),
        None if err => eprintln!("{line}"),
        None => println!("{line}"),
    };
    let report = to_draft(
        client,
        &args.article,
        &opts,
        |url, r| {
            tally.record(r);
            if json {
                println!("{}", picture_json(url, r));
            } else {
                say(picture_line(url, r), r.is_err());
            }
        },
        |waited, status| {
            if let Some(pb) = &spinner {
                pb.set_message(format!(
                    "publishing… {}s, publish_status {status} ({})",
                    waited.as_secs(),
                    status_words(status)
                ));
                pb.tick();
            }
        },
    )
    .await;
    if let Some(pb) = &spinner {
        pb.finish_and_clear();
    }
    let report = report?;
    let pictures = &report.pictures;
    let mut ok = pictures.failed.is_empty();
    if let Some(cover) = &report.cover {
        match cover {
            Ok(c) if json => println!(
                "{}",
                json!({
                    "cover": c.cover,
                    "media_id": c.media_id,
                    "type": c.kind,
                    "action": c.source.as_str(),
                    "fit": c.fit.map(fit_json),
                    "bytes": c.bytes,
                })
            ),
            Ok(c) => say(
                format!(
                    "cover {} → {} material {} ({}{})",
                    super::printable(&c.cover),
                    c.kind,
                    if c.media_id.is_empty() {
                        "-"
                    } else {
                        &c.media_id
                    },
                    c.source.as_str(),
                    c.fit
                        .map(|f| format!(", {}", fit_words(f)))
                        .unwrap_or_default()
                ),
                false,
            ),
            Err(e) => {
                ok = false;
                if json {
                    println!(
                        "{}",
                        json!({"cover": opts.overrides.cover, "errcode": e.code(), "errmsg": e.to_string()})
                    );
                } else {
                    say(format!("cover: {}", super::describe(e)), true);
                }
            }
        }
    }
    let (uploaded, cached) = (pictures.uploaded(), pictures.count(Source::Cached));
    let planned = pictures.count(Source::WouldUpload) + pictures.count(Source::WouldFit);
    let mut draft_json = json!({
        "title": report.title,
        "pictures": {
            "uploaded": uploaded,
            "failed": pictures.failed.len(),
            "unchanged": cached,
            "would_upload": planned,
        },
    });
    match &report.draft {
        Some((media_id, action)) => {
            let action = match action {
                DraftAction::Created => "created",
                DraftAction::Updated => "updated",
            };
            draft_json["draft"] = json!(media_id);
            draft_json["action"] = json!(action);
            if !json {
                say(format!("draft {action}: {media_id}"), false);
            }
        }
        None if args.dry_run => {
            draft_json["action"] = json!("dry-run");
        }
        None => {
            ok = false;
            draft_json["action"] = json!("not-made");
            if !json {
                say(
                    "no draft was made: fix the pictures above and run again (what was \
                     uploaded is cached)"
                        .into(),
                    true,
                );
            }
        }
    }
    if let Some(p) = &report.published {
        draft_json["publish_id"] = json!(p.publish_id);
        draft_json["publish_status"] = json!(p.status);
        draft_json["article_url"] = json!(p.article_url);
        draft_json["article_id"] = json!(p.article_id);
        if p.succeeded() {
            if !json {
                say(
                    format!(
                        "published: {}",
                        p.article_url.as_deref().unwrap_or("(no URL answered)")
                    ),
                    false,
                );
            }
        } else {
            ok = false;
            draft_json["publish_error"] = json!(status_words(p.status));
            if !json {
                say(
                    format!(
                        "not published: publish_status {}: {}{}",
                        p.status,
                        status_words(p.status),
                        if p.fail_idx.is_empty() {
                            String::new()
                        } else {
                            format!(" (articles {:?})", p.fail_idx)
                        }
                    ),
                    true,
                );
            }
        }
    }
    cache_warning(pictures);
    if json {
        println!("{draft_json}");
    } else {
        summary(pictures, args.dry_run);
    }
    Ok(exit(ok))
}

/// Says, once, that the picture cache could not be saved (what a re-run then redoes).
fn cache_warning(r: &PublishReport) {
    if let Some(why) = &r.cache_unsaved {
        eprintln!(
            "warning: the picture cache could not be saved ({why}): a re-run will upload \
             these pictures again; give --cache a writable file"
        );
    }
}

/// The closing line: `N uploaded, M failed, K unchanged`.
fn summary(r: &PublishReport, dry_run: bool) {
    if dry_run {
        eprintln!(
            "dry run: {} to upload, {} to fit first, {} cached, {} would fail",
            r.count(Source::WouldUpload),
            r.count(Source::WouldFit),
            r.count(Source::Cached),
            r.failed.len()
        );
    } else {
        eprintln!(
            "{} uploaded, {} failed, {} unchanged",
            r.uploaded(),
            r.failed.len(),
            r.count(Source::Cached)
        );
    }
}

fn fit_words(f: FitOutcome) -> String {
    match f {
        FitOutcome::Unchanged => "unchanged".into(),
        FitOutcome::Png => "fitted: PNG".into(),
        FitOutcome::Jpeg { quality, scaled } => format!(
            "fitted: JPEG q{quality}{}",
            if scaled { ", scaled down" } else { "" }
        ),
    }
}

fn fit_json(f: FitOutcome) -> serde_json::Value {
    match f {
        FitOutcome::Unchanged => json!({"format": "unchanged"}),
        FitOutcome::Png => json!({"format": "png"}),
        FitOutcome::Jpeg { quality, scaled } => {
            json!({"format": "jpeg", "quality": quality, "scaled": scaled})
        }
    }
}

/// A picture longer than a line (a `data:` URL) is shown by its start.
fn shown(url: &str) -> String {
    let short: String = url.chars().take(80).collect();
    let more = if short.len() < url.len() { "…" } else { "" };
    super::printable(&format!("{short}{more}"))
}

/// `picture → URL (uploaded)`, `picture: would fit (JPEG q80), 123 bytes`, or the error.
fn picture_line(url: &str, r: &Result<Rehosted, Arc<wximg_client::Error>>) -> String {
    match r {
        Ok(p) => match p.source {
            Source::WouldUpload => format!("{}: would upload ({} bytes)", shown(url), p.bytes),
            Source::WouldFit => format!(
                "{}: would fit ({}), {} bytes",
                shown(url),
                p.fit.map(fit_words).unwrap_or_default(),
                p.bytes
            ),
            Source::Cached => format!("{} → {} (cached)", shown(url), super::printable(&p.url)),
            Source::Uploaded => format!(
                "{} → {} (uploaded{})",
                shown(url),
                super::printable(&p.url),
                p.fit
                    .map(|f| format!(", {}", fit_words(f)))
                    .unwrap_or_default()
            ),
        },
        Err(e) => format!("{}: refused: {}", shown(url), super::describe_for(e)),
    }
}

fn picture_json(url: &str, r: &Result<Rehosted, Arc<wximg_client::Error>>) -> serde_json::Value {
    match r {
        Ok(p) => json!({
            "picture": url,
            "action": p.source.as_str(),
            "url": p.url,
            "fit": p.fit.map(fit_json),
            "bytes": p.bytes,
        }),
        Err(e) => json!({
            "picture": url,
            "action": "refused",
            "errcode": e.code(),
            "errmsg": e.to_string(),
        }),
    }
}
