//! An article to a WeChat draft, and optionally to a published article, in one call:
//! render → body pictures through `uploadimg` → the cover through
//! `material/add_material` → `draft/add` (or `draft/update`) → `freepublish/submit` →
//! `freepublish/get` until it ends.
//!
//! Invariant: one article is one draft. Its `media_id` is kept beside the article
//! (`.ARTICLE.wximg-draft.json`, per server and app) as soon as the draft exists, and a
//! re-run updates that draft (`draft/update`, index 0) instead of making another; only a
//! draft the server no longer has (40007) is made again. Nothing is sent to the draft
//! API while a picture of the body is missing, and a dry run sends nothing at all.
//!
//! The metadata comes from the front matter ([`crate::frontmatter`]), each field
//! overridden by its flag; a missing title is the first heading's text; a missing cover
//! is an error (the platform requires one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wximg_proto::articles::{
    ArticleInput, DraftAddOk, DraftAddRequest, DraftUpdateRequest, MediaIdRequest, Ok0,
    PublishIdRequest, PublishStatus, PublishStatusOk, SubmitOk,
};
use wximg_proto::{ErrCode, ImageFormat};

use crate::Client;
use crate::article::ArticleKind;
use crate::atomic_file::{Access, write_atomic};
use crate::client::MaterialType;
use crate::error::{Error, Result};
use crate::fetch::{Naming, article_root, download, picture_client, read_local};
use crate::fit::FitOutcome;
use crate::frontmatter::{self, FrontMatter};
use crate::publish::{
    Location, PublishOptions, PublishReport, Rehosted, cache_key, decode_data_url, locate,
    read_article, rehost_text,
};
use crate::render::{Theme, check_length, check_nesting, html_title, render_markdown};

/// A thumb material's byte limit ("64KB"): a smaller JPEG cover is sent as a thumb.
pub const THUMB_MAX_BYTES: usize = 64 * 1024;

/// What the flags say about the article; each `Some` overrides the front matter.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub title: Option<String>,
    pub author: Option<String>,
    pub digest: Option<String>,
    /// A path (relative to the working directory) or a URL.
    pub cover: Option<String>,
    pub source_url: Option<String>,
    pub need_open_comment: Option<bool>,
    pub only_fans_can_comment: Option<bool>,
}

/// Settings of [`to_draft`].
#[derive(Debug, Clone)]
pub struct DraftOptions {
    /// How body pictures are fetched and uploaded (and `dry_run`).
    pub pictures: PublishOptions,
    pub theme: Theme,
    pub overrides: Overrides,
    /// Also submit the draft with `freepublish/submit` and wait for the outcome.
    pub publish: bool,
    /// Time between two `freepublish/get` calls.
    pub poll_interval: Duration,
    /// Longest wait for the publishing to end.
    pub publish_timeout: Duration,
    /// Where the draft's `media_id` is kept (default: beside the article).
    pub state_file: Option<PathBuf>,
}

impl Default for DraftOptions {
    fn default() -> Self {
        DraftOptions {
            pictures: PublishOptions::default(),
            theme: Theme::Default,
            overrides: Overrides::default(),
            publish: false,
            poll_interval: Duration::from_secs(1),
            publish_timeout: Duration::from_secs(600),
            state_file: None,
        }
    }
}

/// The article as it will be sent.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The body, rendered (Markdown) or as written (HTML).
    pub html: String,
    pub title: String,
    pub author: Option<String>,
    pub digest: Option<String>,
    /// The cover as written (a path relative to its base, or a URL), that base, and
    /// whether it came from a flag (trusted: it may be anywhere the user can read).
    pub cover: (String, PathBuf, bool),
    pub source_url: Option<String>,
    pub need_open_comment: bool,
    pub only_fans_can_comment: bool,
}

/// Reads and renders the article and settles its metadata; sends nothing.
pub fn prepare(article: &Path, opts: &DraftOptions) -> Result<Prepared> {
    let text = read_article(article)?.text;
    let (fm, body) = frontmatter::split(&text)?;
    let (html, first_heading) = match ArticleKind::from_path(article) {
        ArticleKind::Markdown => {
            // The body is the end of the text: the lines before it are the front matter's.
            let header = text.len() - body.len();
            let first_line = 1 + text.get(..header).map_or(0, |h| h.matches('\n').count());
            let r = render_markdown(body, first_line, &opts.theme)?;
            (r.html, r.first_heading)
        }
        ArticleKind::Html => {
            // Passed through as it is, but refused here rather than by the server's 45002
            // after every picture is sent.
            check_length(body)?;
            check_nesting(body)?;
            (body.to_string(), html_title(body))
        }
    };
    let o = &opts.overrides;
    let FrontMatter {
        title,
        author,
        digest,
        cover,
        source_url,
        need_open_comment,
        only_fans_can_comment,
    } = fm;
    let title = o
        .title
        .clone()
        .or(title)
        .or(first_heading)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            Error::Config(format!(
                "{}: no title: add `title:` to the front matter or a `# heading`, or pass --title",
                article.display()
            ))
        })?;
    let article_dir = article
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let cover = match (&o.cover, cover) {
        (Some(flag), _) => (flag.clone(), PathBuf::from("."), true),
        (None, Some(fm)) => (fm, article_dir, false),
        (None, None) => {
            return Err(Error::Config(format!(
                "{}: no cover: add `cover: path/to/picture.jpg` to the front matter or pass \
                 --cover FILE (a draft needs one)",
                article.display()
            )));
        }
    };
    let prepared = Prepared {
        html,
        title,
        author: o.author.clone().or(author),
        digest: o.digest.clone().or(digest),
        cover,
        source_url: o.source_url.clone().or(source_url),
        need_open_comment: o
            .need_open_comment
            .or(need_open_comment.map(frontmatter::Switch::on))
            .unwrap_or(false),
        only_fans_can_comment: o
            .only_fans_can_comment
            .or(only_fans_can_comment.map(frontmatter::Switch::on))
            .unwrap_or(false),
    };
    // The platform's checks on the fields, before any picture is sent.
    let probe = prepared.input(String::from("x"), String::from("x"));
    probe.check().map_err(|code| {
        Error::Config(format!(
            "{}: the draft would be refused with {code}: the title takes at most {} characters, \
             the author {}, the digest {}",
            article.display(),
            wximg_proto::articles::MAX_TITLE_CHARS,
            wximg_proto::articles::MAX_AUTHOR_CHARS,
            wximg_proto::articles::MAX_DIGEST_CHARS,
        ))
    })?;
    // The text, counted as the server counts it (its pictures do not change it).
    let chars = wximg_proto::html::text_chars(&prepared.html);
    if chars >= wximg_proto::articles::CONTENT_TEXT_CHARS as u64 {
        return Err(Error::Config(format!(
            "{}: the draft would be refused with {}: its text is {chars} characters, and the \
             platform takes under {}: split the article into several",
            article.display(),
            ErrCode::ContentSizeOutOfLimit,
            wximg_proto::articles::CONTENT_TEXT_CHARS,
        )));
    }
    Ok(prepared)
}

impl Prepared {
    fn input(&self, content: String, thumb_media_id: String) -> ArticleInput {
        ArticleInput {
            article_type: Some("news".into()),
            title: Some(self.title.clone()),
            author: self.author.clone(),
            digest: self.digest.clone(),
            content: Some(content),
            content_source_url: self.source_url.clone(),
            thumb_media_id: Some(thumb_media_id),
            need_open_comment: Some(i64::from(self.need_open_comment)),
            only_fans_can_comment: Some(i64::from(self.only_fans_can_comment)),
            ..ArticleInput::default()
        }
    }
}

/// What became of the cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverResult {
    /// The cover as written.
    pub cover: String,
    /// Its material `media_id` (empty in a dry run).
    pub media_id: String,
    /// `image` or `thumb`.
    pub kind: &'static str,
    /// Uploaded now, found in the draft's record, or (dry run) what would be done.
    pub source: crate::publish::Source,
    pub fit: Option<FitOutcome>,
    pub bytes: usize,
}

/// Whether the draft was made or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftAction {
    Created,
    Updated,
}

/// The outcome of a publish job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub publish_id: String,
    /// The last `publish_status` read.
    pub status: i64,
    /// The article's page, when it was published.
    pub article_url: Option<String>,
    pub article_id: Option<String>,
    /// Articles the platform refused (`fail_idx`, from 1).
    pub fail_idx: Vec<i64>,
}

impl Published {
    pub fn succeeded(&self) -> bool {
        self.status == PublishStatus::Success.code()
    }
}

/// Everything [`to_draft`] did.
#[derive(Debug)]
pub struct DraftReport {
    pub title: String,
    /// The body's pictures.
    pub pictures: PublishReport,
    /// The cover, when it was reached (not when a body picture failed).
    pub cover: Option<std::result::Result<CoverResult, Arc<Error>>>,
    /// The draft's `media_id` and what was done, when it was reached.
    pub draft: Option<(String, DraftAction)>,
    /// The publish job, with `publish`.
    pub published: Option<Published>,
}

/// The platform's words for a `publish_status`, and what to do next.
pub fn status_words(status: i64) -> &'static str {
    match PublishStatus::from_code(status) {
        Some(PublishStatus::Success) => "published",
        Some(PublishStatus::Publishing) => {
            "still publishing: check later with freepublish/get and the publish_id"
        }
        Some(PublishStatus::OriginalFailed) => {
            "refused by the originality check (原创失败): the article was judged to copy a \
             published one; edit it or drop the claim of originality, then publish again"
        }
        Some(PublishStatus::NormalFailed) => {
            "failed (常规失败): the platform gave no reason; publish again later"
        }
        Some(PublishStatus::AuditFailed) => {
            "refused by the platform's review (平台审核不通过): change what the review \
             objects to (see fail_idx), then publish again"
        }
        Some(PublishStatus::DeletedAfterSuccess) => {
            "published, then every article was deleted by the account"
        }
        Some(PublishStatus::BannedAfterSuccess) => {
            "published, then every article was banned by the platform"
        }
        None => "a status this client does not know",
    }
}

/// The draft's record beside the article: per server and app, its `media_id` and the
/// cover material it uses (reused while the cover's bytes are the same).
#[derive(Debug, Default, Serialize, Deserialize)]
struct DraftState {
    version: u32,
    servers: BTreeMap<String, DraftEntry>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct DraftEntry {
    #[serde(default)]
    media_id: Option<String>,
    #[serde(default)]
    cover_hash: Option<String>,
    #[serde(default)]
    cover_media_id: Option<String>,
    #[serde(default)]
    cover_kind: Option<String>,
}

/// `.NAME.wximg-draft.json` beside the article.
pub fn default_state_path(article: &Path) -> PathBuf {
    let name = article
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "article".into());
    article.with_file_name(format!(".{name}.wximg-draft.json"))
}

impl DraftState {
    fn load(path: &Path) -> DraftState {
        crate::fetch::read_regular(path, false, 1 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(DraftState {
                version: 1,
                servers: BTreeMap::new(),
            })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(path, &json, Access::Private)
    }
}

/// The article at `article` as a draft (see the module docs). `on_picture` is called as
/// each body picture is done; `on_poll` after each `freepublish/get`, with the time
/// waited so far.
pub async fn to_draft(
    client: &Client,
    article: &Path,
    opts: &DraftOptions,
    on_picture: impl FnMut(&str, &std::result::Result<Rehosted, Arc<Error>>),
    mut on_poll: impl FnMut(Duration, i64),
) -> Result<DraftReport> {
    let prepared = prepare(article, opts)?;
    let pictures = rehost_text(
        client,
        &prepared.html,
        ArticleKind::Html,
        article,
        &opts.pictures,
        on_picture,
    )
    .await?;
    let mut report = DraftReport {
        title: prepared.title.clone(),
        pictures,
        cover: None,
        draft: None,
        published: None,
    };
    if !report.pictures.failed.is_empty() {
        return Ok(report);
    }
    // The content's own limits, now that its picture URLs are final: said here, before
    // the cover is sent, rather than by draft/add after it.
    let content = &report.pictures.text;
    if let Err(code) = prepared.input(content.clone(), "x".into()).check() {
        let why = match code {
            ErrCode::ContentSizeOutOfLimit => format!(
                "its HTML is {} bytes, and the platform takes under {} (1 MiB): split the \
                 article in two",
                content.len(),
                wximg_proto::articles::CONTENT_BYTES
            ),
            _ => "write some content".to_string(),
        };
        return Err(Error::Config(format!(
            "{}: the draft would be refused with {code}: {why}",
            article.display()
        )));
    }
    let state_path = opts
        .state_file
        .clone()
        .unwrap_or_else(|| default_state_path(article));
    let server = cache_key(client);
    let mut state = DraftState::load(&state_path);
    let mut entry = state.servers.get(&server).cloned().unwrap_or_default();

    let cover = cover_material(client, &prepared, &mut entry, opts).await;
    let cover = match cover {
        Ok(c) => c,
        Err(e) => {
            report.cover = Some(Err(Arc::new(e)));
            return Ok(report);
        }
    };
    report.cover = Some(Ok(cover.clone()));
    if opts.pictures.dry_run {
        return Ok(report);
    }
    state.servers.insert(server.clone(), entry.clone());
    state.save(&state_path)?;

    let input = prepared.input(report.pictures.text.clone(), cover.media_id.clone());
    let updated = match entry.media_id.clone() {
        Some(media_id) => {
            let body = DraftUpdateRequest {
                media_id: Some(media_id.clone()),
                index: Some(0),
                articles: Some(input.clone()),
            };
            match client
                .call_json::<_, Ok0>("cgi-bin/draft/update", &body)
                .await
            {
                Ok(_) => Some(media_id),
                // The draft is gone (deleted, or published): make a new one.
                Err(e) if e.code() == 40007 => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let (media_id, action) = match updated {
        Some(id) => (id, DraftAction::Updated),
        None => {
            let body = DraftAddRequest {
                articles: Some(vec![input]),
            };
            let ok: DraftAddOk = client.call_json("cgi-bin/draft/add", &body).await?;
            entry.media_id = Some(ok.media_id.clone());
            state.servers.insert(server.clone(), entry.clone());
            state.save(&state_path)?;
            (ok.media_id, DraftAction::Created)
        }
    };
    report.draft = Some((media_id.clone(), action));
    if !opts.publish {
        return Ok(report);
    }

    let submitted: SubmitOk = client
        .call_json(
            "cgi-bin/freepublish/submit",
            &MediaIdRequest {
                media_id: Some(media_id),
            },
        )
        .await?;
    // A submitted draft leaves the draft box: the next run makes a new one.
    entry.media_id = None;
    state.servers.insert(server, entry);
    state.save(&state_path)?;
    let started = Instant::now();
    let request = PublishIdRequest {
        publish_id: Some(submitted.publish_id.clone()),
    };
    let status = loop {
        let s: PublishStatusOk = client
            .call_json("cgi-bin/freepublish/get", &request)
            .await?;
        on_poll(started.elapsed(), s.publish_status);
        if s.publish_status != PublishStatus::Publishing.code()
            || started.elapsed() >= opts.publish_timeout
        {
            break s;
        }
        tokio::time::sleep(opts.poll_interval).await;
    };
    report.published = Some(Published {
        publish_id: submitted.publish_id,
        status: status.publish_status,
        article_url: status
            .article_detail
            .as_ref()
            .and_then(|d| d.item.first())
            .map(|i| i.article_url.clone()),
        article_id: status.article_id,
        fail_idx: status.fail_idx,
    });
    Ok(report)
}

/// The cover as material: reused from the draft's record while its bytes are the same,
/// else fitted to `uploadimg`'s limits (a JPEG or PNG of at most 1 MB, well within an
/// image material's) and uploaded as a `thumb` when it is a JPEG of at most 64 KB, as an
/// `image` otherwise (the platform takes either as `thumb_media_id`).
async fn cover_material(
    client: &Client,
    prepared: &Prepared,
    entry: &mut DraftEntry,
    opts: &DraftOptions,
) -> Result<CoverResult> {
    let (written, base, trusted) = &prepared.cover;
    let bytes = read_cover(written, base, *trusted, &opts.pictures).await?;
    let hash = format!(
        "{}{}",
        blake3::hash(&bytes).to_hex(),
        crate::publish::settings_tag(opts.pictures.fit)
    );
    if entry.cover_hash.as_deref() == Some(hash.as_str())
        && let Some(id) = entry.cover_media_id.clone()
    {
        return Ok(CoverResult {
            cover: written.clone(),
            media_id: id,
            kind: if entry.cover_kind.as_deref() == Some("thumb") {
                "thumb"
            } else {
                "image"
            },
            source: crate::publish::Source::Cached,
            fit: None,
            bytes: 0,
        });
    }
    let fit_opts = opts.pictures.fit.options(*client.rules());
    let fitted = tokio::task::spawn_blocking(move || crate::fit::fit(&bytes, &fit_opts))
        .await
        .map_err(|e| Error::Fit(format!("the fitting task failed: {e}")))?
        .map_err(|e| Error::Refused {
            picture: written.clone(),
            reason: format!("the cover cannot be used: {e}"),
        })?;
    let kind = if fitted.format == ImageFormat::Jpeg && fitted.bytes.len() <= THUMB_MAX_BYTES {
        MaterialType::Thumb
    } else {
        MaterialType::Image
    };
    let fit = Some(fitted.outcome).filter(|f| *f != FitOutcome::Unchanged);
    let len = fitted.bytes.len();
    if opts.pictures.dry_run {
        return Ok(CoverResult {
            cover: written.clone(),
            media_id: String::new(),
            kind: kind.as_str(),
            source: if fit.is_some() {
                crate::publish::Source::WouldFit
            } else {
                crate::publish::Source::WouldUpload
            },
            fit,
            bytes: len,
        });
    }
    let ok = client
        .add_material(kind, fitted.format, fitted.bytes.into())
        .await?;
    entry.cover_hash = Some(hash);
    entry.cover_media_id = Some(ok.media_id.clone());
    entry.cover_kind = Some(kind.as_str().to_string());
    Ok(CoverResult {
        cover: written.clone(),
        media_id: ok.media_id,
        kind: kind.as_str(),
        source: crate::publish::Source::Uploaded,
        fit,
        bytes: len,
    })
}

/// Reads the cover with the same rules as the body's pictures.
async fn read_cover(
    written: &str,
    base: &Path,
    trusted: bool,
    opts: &PublishOptions,
) -> Result<Vec<u8>> {
    let policy = crate::fetch::FetchPolicy {
        max_bytes: opts.max_download_bytes,
        allow_outside_dir: opts.allow_outside_dir || trusted,
        allow_private_addresses: opts.allow_private_addresses,
        timeout: opts.download_timeout,
    };
    let read = |path: PathBuf, naming: Naming| {
        let (picture, root, policy) = (written.to_string(), article_root(base), policy);
        async move {
            let root = root?;
            tokio::task::spawn_blocking(move || read_local(&picture, &path, naming, &root, &policy))
                .await
                .map_err(|e| Error::Config(format!("the reading task failed: {e}")))?
        }
    };
    match locate(written, base) {
        Location::Local(p) => read(p, Naming::Relative).await,
        Location::Absolute(p) => read(p, Naming::Absolute).await,
        Location::Remote(u) => {
            let http = picture_client(&policy)?;
            download(&http, &u, &policy).await
        }
        Location::Data(d) => Ok(decode_data_url(&d, policy.max_bytes)?.0),
        Location::Skip | Location::Unsupported(_) => Err(Error::Refused {
            picture: written.to_string(),
            reason: "the cover must be a picture file or an http(s) URL".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_words() {
        assert_eq!(status_words(0), "published");
        for s in 2..=6 {
            assert_ne!(status_words(s), status_words(99), "status {s}");
        }
        assert!(status_words(4).contains("review"));
        assert!(status_words(2).contains("originality"));
    }

    #[test]
    fn html_nested_past_the_servers_limit_is_refused_before_sending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let article = dir.path().join("post.html");
        let opts = DraftOptions::default();
        let nested = |n: usize| format!("<h1>T</h1>{}x{}", "<div>".repeat(n), "</div>".repeat(n));
        std::fs::write(&article, nested(crate::render::MAX_HTML_NESTING + 1)).expect("write");
        // (`Prepared` has no `Debug`, so no `expect_err`.)
        let refusal = |article: &Path| match prepare(article, &opts) {
            Ok(_) => panic!("{} was prepared", article.display()),
            Err(e) => e.to_string(),
        };
        let e = refusal(&article);
        assert!(e.contains("more than 256 deep"), "{e}");
        std::fs::write(&article, nested(crate::render::MAX_HTML_NESTING)).expect("write");
        // At the limit it goes on, to the next thing missing: the cover.
        let e = refusal(&article);
        assert!(e.contains("no cover"), "{e}");
    }

    #[test]
    fn text_past_the_platforms_count_is_refused_before_sending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let article = dir.path().join("long.md");
        let opts = DraftOptions::default();
        let refusal = |article: &Path| match prepare(article, &opts) {
            Ok(_) => panic!("{} was prepared", article.display()),
            Err(e) => e.to_string(),
        };
        // 20,000 characters of text (spaces do not count), as the server counts them.
        let long = format!("---\ncover: c.png\n---\n# 长\n\n{}\n", "字 ".repeat(19_999));
        std::fs::write(&article, long).expect("write");
        let e = refusal(&article);
        assert!(e.contains("20000 characters") && e.contains("45002"), "{e}");
        let under = format!("---\ncover: c.png\n---\n# 长\n\n{}\n", "字 ".repeat(19_998));
        std::fs::write(&article, under).expect("write");
        assert!(prepare(&article, &opts).is_ok(), "19,999 characters pass");
    }

    #[test]
    fn a_bom_before_the_first_heading_keeps_it_the_title() {
        let dir = tempfile::tempdir().expect("tempdir");
        let article = dir.path().join("bom.md");
        std::fs::write(&article, b"\xEF\xBB\xBF# Heading\n\ntext\n").expect("write");
        let opts = DraftOptions {
            overrides: Overrides {
                cover: Some("c.png".into()),
                ..Overrides::default()
            },
            ..DraftOptions::default()
        };
        let Ok(p) = prepare(&article, &opts) else {
            panic!("not prepared")
        };
        assert_eq!(p.title, "Heading");
        assert!(
            p.html.contains("<h1") && !p.html.contains('\u{feff}'),
            "{}",
            p.html
        );
    }

    #[test]
    fn front_matter_never_ends_up_in_the_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let article = dir.path().join("post.md");
        let opts = DraftOptions {
            overrides: Overrides {
                cover: Some("c.png".into()),
                ..Overrides::default()
            },
            ..DraftOptions::default()
        };
        for text in [
            "---\ntitle: Kept\n---   \n# Body\n",
            "+++\ntitle = \"Kept\"\n+++\n# Body\n",
        ] {
            std::fs::write(&article, text).expect("write");
            let p = match prepare(&article, &opts) {
                Ok(p) => p,
                Err(e) => panic!("{text:?}: {e}"),
            };
            assert_eq!(p.title, "Kept", "{text:?}");
            assert!(!p.html.contains("title"), "{text:?}: {}", p.html);
        }
        std::fs::write(&article, "---\ntitle: Lost\n# Body\n").expect("write");
        match prepare(&article, &opts) {
            Ok(p) => panic!("an unclosed front matter was sent: {}", p.html),
            Err(e) => assert!(e.to_string().contains("line 1"), "{e}"),
        }
    }

    #[test]
    fn html_past_the_content_limit_is_refused_before_sending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let article = dir.path().join("post.html");
        let p = "<p>x</p>".repeat(wximg_proto::articles::CONTENT_BYTES / 8 + 1);
        std::fs::write(&article, format!("<h1>T</h1>{p}")).expect("write");
        match prepare(&article, &DraftOptions::default()) {
            Ok(_) => panic!("prepared"),
            Err(e) => assert!(e.to_string().contains("too long"), "{e}"),
        }
    }

    #[test]
    fn state_sits_beside_the_article() {
        let p = default_state_path(Path::new("/a/b/post.md"));
        assert_eq!(p, Path::new("/a/b/.post.md.wximg-draft.json"));
    }
}
