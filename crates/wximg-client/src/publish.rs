//! `publish`: re-host every picture of an article through `uploadimg` and rewrite its URLs.
//!
//! The article is not trusted: it reads nothing outside its own directory and fetches
//! nothing from a non-public address unless the caller allows it (the rules are
//! [`crate::fetch`]'s). For each picture URL found by [`crate::article`]:
//! - a path relative to the article (percent-decoded) is read if it is a regular file
//!   inside the article's directory; an absolute path or a `file:` URL only with
//!   [`PublishOptions::allow_outside_dir`];
//! - an `http(s)://` URL is downloaded from a public address (or any, with
//!   [`PublishOptions::allow_private_addresses`]), each redirect checked again, with a
//!   size cap and a timeout; the same cap bounds local files;
//! - a `data:` URL is decoded and uploaded (the platform drops pictures not on its host);
//! - a URL already on the picture host (`/mmbiz_jpg/…`, `/mmbiz_png/…`) is left alone.
//!
//! The bytes are hashed (BLAKE3); a cache file (beside the article,
//! `.ARTICLE.wximg-cache.json`, or one shared by many articles with `--cache FILE`) maps
//! hash → uploaded URL, and a remote picture's address → uploaded URL, per server and
//! app, so running `publish` again uploads nothing and downloads nothing it already did.
//! The cache is saved after each picture: an interrupted run loses at most the pictures
//! in flight. Pictures the server would refuse are fitted (see [`crate::fit`]); those
//! that already pass are sent unchanged. With [`PublishOptions::dry_run`] nothing is
//! uploaded: each picture says what would be done with it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::Client;
use crate::article::{ArticleKind, PictureRef, find_pictures, rewrite};
use crate::atomic_file::{Access, write_atomic};
use crate::batch::upload_bytes_with;
use crate::error::{Error, Result};
use crate::fetch::{
    FetchPolicy, Naming, NotRead, article_root, download, picture_client, read_local,
};
use crate::fit::{FitOutcome, FitSettings};

/// Settings of [`publish`].
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Uploads (and downloads) in flight at once.
    pub jobs: usize,
    /// Largest picture read, downloaded or local.
    pub max_download_bytes: u64,
    /// Time allowed for one download.
    pub download_timeout: Duration,
    /// Where the cache lives (default: beside the article).
    pub cache_file: Option<PathBuf>,
    /// Read local pictures outside the article's directory too (absolute paths, `file:`
    /// URLs, `..`, symlinks pointing out): only for a trusted article.
    pub allow_outside_dir: bool,
    /// Download pictures from loopback, private and other non-public addresses too: only
    /// for a trusted article.
    pub allow_private_addresses: bool,
    /// Upload nothing: report what would be done with each picture.
    pub dry_run: bool,
    /// How pictures (and the cover) are fitted: `--keep-metadata`, `--max-width`.
    pub fit: FitSettings,
}

impl PublishOptions {
    fn policy(&self) -> FetchPolicy {
        FetchPolicy {
            max_bytes: self.max_download_bytes,
            allow_outside_dir: self.allow_outside_dir,
            allow_private_addresses: self.allow_private_addresses,
            timeout: self.download_timeout,
        }
    }
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            jobs: 4,
            max_download_bytes: crate::fetch::MAX_PICTURE_BYTES,
            download_timeout: Duration::from_secs(30),
            cache_file: None,
            allow_outside_dir: false,
            allow_private_addresses: false,
            dry_run: false,
            fit: FitSettings::default(),
        }
    }
}

/// What the cache keys of a picture add for non-default [`FitSettings`]: the same bytes
/// fitted another way are another upload, so a re-run with `--max-width 640` after one
/// without does not reuse the full-width URL. Empty for the defaults, so caches written
/// before these settings existed stay valid.
pub(crate) fn settings_tag(fit: FitSettings) -> String {
    let mut tag = String::new();
    if fit.keep_metadata {
        tag.push_str("#keep-metadata");
    }
    if let Some(width) = fit.max_width {
        tag.push_str(&format!("#max-width={width}"));
    }
    tag
}

/// Where a picture's new URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Uploaded in this run.
    Uploaded,
    /// Found in the cache: nothing was sent.
    Cached,
    /// `--dry-run`: it would be uploaded as it is.
    WouldUpload,
    /// `--dry-run`: it would be fitted first (what the fit would do is in
    /// [`Rehosted::fit`]).
    WouldFit,
}

impl Source {
    /// The word shown for it: `uploaded`, `cached`, `upload`, `fit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Uploaded => "uploaded",
            Source::Cached => "cached",
            Source::WouldUpload => "upload",
            Source::WouldFit => "fit",
        }
    }
}

/// What happened to one picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rehosted {
    /// Its new URL (empty in a dry run).
    pub url: String,
    pub source: Source,
    /// What `--fit` did (or would do), when the picture needed it.
    pub fit: Option<FitOutcome>,
    /// Bytes sent (or that would be sent); 0 when cached.
    pub bytes: usize,
}

/// The result of [`publish`]: the rewritten article and what happened to each picture.
#[derive(Debug)]
pub struct PublishReport {
    /// The article with every picture that could be re-hosted pointing at its new URL.
    pub text: String,
    /// For each distinct picture URL of the article: what became of it.
    pub rehosted: BTreeMap<String, Rehosted>,
    /// URLs left as they were on purpose (already hosted).
    pub skipped: Vec<String>,
    /// Pictures that could not be fetched, fitted or uploaded.
    pub failed: Vec<(String, Arc<Error>)>,
    /// Why the picture cache could not be saved, if it could not (a re-run then uploads
    /// again what this one did): for the user to be told, once.
    pub cache_unsaved: Option<String>,
}

impl PublishReport {
    /// Pictures uploaded in this run.
    pub fn uploaded(&self) -> usize {
        self.count(Source::Uploaded)
    }

    /// Pictures with this source.
    pub fn count(&self, source: Source) -> usize {
        self.rehosted
            .values()
            .filter(|r| r.source == source)
            .count()
    }
}

/// The cache file's default place: `.NAME.wximg-cache.json` beside the article.
pub fn default_cache_path(article: &Path) -> PathBuf {
    let name = article
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "article".into());
    article.with_file_name(format!(".{name}.wximg-cache.json"))
}

/// The largest publish cache read: ~100,000 pictures.
pub const MAX_CACHE_BYTES: u64 = 16 << 20;

/// The cache: for each server + app, content hash (hex) → URL.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PublishCache {
    version: u32,
    servers: BTreeMap<String, BTreeMap<String, String>>,
    /// For each server + app, a remote picture's address → URL (a re-run downloads
    /// nothing it already uploaded).
    #[serde(default)]
    remote: BTreeMap<String, BTreeMap<String, String>>,
}

impl PublishCache {
    /// Reads the cache; a missing or unreadable one is empty. It sits beside an article
    /// that may not be trusted, so it is read only if it is a regular file (not through a
    /// symlink: the save replaces one) of at most [`MAX_CACHE_BYTES`].
    pub fn load(path: &Path) -> PublishCache {
        crate::fetch::read_regular(path, false, MAX_CACHE_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(PublishCache {
                version: 1,
                servers: BTreeMap::new(),
                remote: BTreeMap::new(),
            })
    }

    /// Writes it atomically (see [`crate::atomic_file`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(path, &json, Access::Private)
    }

    fn get(&self, server: &str, hash: &str) -> Option<&String> {
        self.servers.get(server)?.get(hash)
    }

    fn insert(&mut self, server: &str, hash: String, url: String) {
        self.servers
            .entry(server.to_string())
            .or_default()
            .insert(hash, url);
    }

    fn get_remote(&self, server: &str, address: &str) -> Option<&String> {
        self.remote.get(server)?.get(address)
    }

    fn insert_remote(&mut self, server: &str, address: String, url: String) {
        self.remote
            .entry(server.to_string())
            .or_default()
            .insert(address, url);
    }
}

/// What a picture URL of the article refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path relative to the article, joined to its directory.
    Local(PathBuf),
    /// An absolute path or a `file:` URL: outside the article's directory.
    Absolute(PathBuf),
    Remote(url::Url),
    /// A `data:` URL: the picture is in the article.
    Data(String),
    /// Left as is (already on the picture host, or not a picture: `#…`, empty).
    Skip,
    /// A URL scheme `publish` cannot fetch.
    Unsupported(String),
}

/// Whether `url` is an http(s) URL on a picture host (`/mmbiz_jpg/…`, `/mmbiz_png/…`):
/// the form `uploadimg` answers with.
pub fn is_hosted(url: &url::Url) -> bool {
    matches!(url.scheme(), "http" | "https")
        && [
            "/mmbiz_jpg/",
            "/mmbiz_png/",
            "/sz_mmbiz_jpg/",
            "/sz_mmbiz_png/",
        ]
        .iter()
        .any(|p| url.path().starts_with(p))
}

/// Classifies a picture URL of an article in `article_dir`.
pub fn locate(url: &str, article_dir: &Path) -> Location {
    let u = url.trim();
    if u.is_empty() || u.starts_with('#') {
        return Location::Skip;
    }
    if u.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
        return Location::Data(u.to_string());
    }
    let absolute = if let Some(rest) = u.strip_prefix("//") {
        url::Url::parse(&format!("https://{rest}")).ok()
    } else {
        url::Url::parse(u).ok()
    };
    match absolute {
        Some(abs) => match abs.scheme() {
            "http" | "https" => {
                if is_hosted(&abs) {
                    Location::Skip
                } else {
                    Location::Remote(abs)
                }
            }
            "file" => abs
                .to_file_path()
                .map(Location::Absolute)
                .unwrap_or_else(|_| Location::Unsupported(u.to_string())),
            // A Windows drive letter parses as a scheme: treat as a path.
            s if s.len() == 1 => Location::Absolute(PathBuf::from(u)),
            s => Location::Unsupported(format!("{s}: URLs cannot be fetched")),
        },
        None => {
            // A relative reference: drop any query or fragment, decode %XX.
            let path_part = u.split(['?', '#']).next().unwrap_or(u);
            let decoded = percent_encoding::percent_decode_str(path_part).decode_utf8_lossy();
            let path = Path::new(decoded.as_ref());
            if path.has_root() {
                Location::Absolute(path.to_path_buf())
            } else {
                Location::Local(article_dir.join(path))
            }
        }
    }
}

/// The server + app a cache entry belongs to.
pub fn cache_key(client: &Client) -> String {
    format!(
        "{} {}",
        client.base_url().as_str().trim_end_matches('/'),
        client.appid().unwrap_or("-")
    )
}

/// The largest article file read: 16 MiB. What is sent must be under 1 MiB of HTML
/// ([`wximg_proto::articles::CONTENT_BYTES`]), and rendering only makes Markdown longer,
/// so no article near this size can be sent; the room above 1 MiB is for what is read
/// but not sent as it is (`data:` pictures, replaced by short URLs; front matter;
/// comments). It bounds what a mistaken or hostile path costs: `publish /dev/zero` or a
/// 3 GB file read until memory ran out.
pub const MAX_ARTICLE_BYTES: u64 = 16 << 20;

/// An article's text as [`read_article`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleText {
    /// The text, without a UTF-8 byte-order mark.
    pub text: String,
    /// Whether the file opened with a UTF-8 byte-order mark (removed from `text`).
    pub bom: bool,
}

impl ArticleText {
    /// `text` as the file would hold it: with the byte-order mark back if it had one.
    pub fn file_bytes(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 3);
        if self.bom {
            out.extend_from_slice(UTF8_BOM);
        }
        out.extend_from_slice(text.as_bytes());
        out
    }
}

/// The UTF-8 byte-order mark some editors (Notepad) put at the start of a file.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads an article as text: a regular file of at most [`MAX_ARTICLE_BYTES`], in UTF-8
/// (a byte-order mark removed, here and only here), with a message that says what to
/// do when it is a directory, a FIFO or a device, too long, UTF-16 or not UTF-8 (an
/// article saved as GBK by an old editor).
pub fn read_article(article: &Path) -> Result<ArticleText> {
    let shown = article.display();
    if article.as_os_str() == "-" {
        return Err(Error::Config(
            "-: an article is not read from standard input (its pictures are found relative \
             to its file): save it to a file, e.g. post.md, and publish that"
                .into(),
        ));
    }
    let bytes = crate::fetch::read_named(article, MAX_ARTICLE_BYTES).map_err(|why| match why {
        NotRead::Io(e) => Error::io(article, e),
        NotRead::NotRegular("a directory") => Error::Config(format!(
            "{shown} is a directory: give the article's file (e.g. {shown}/index.md)"
        )),
        NotRead::NotRegular(kind) => Error::Config(format!(
            "{shown} is {kind}, not a regular file: give the article's file"
        )),
        NotRead::TooBig => Error::Config(format!(
            "{shown} is larger than {} MiB: far too long for one WeChat article (under 1 MiB \
             of HTML, or the platform answers 45002): split it into several articles",
            MAX_ARTICLE_BYTES >> 20
        )),
    })?;
    let (text, bom) = decode_text(bytes, &shown.to_string())?;
    Ok(ArticleText { text, bom })
}

/// The UTF-8 text of a file read whole (an article, a theme), and whether it opened with
/// a UTF-8 byte-order mark (removed). UTF-16 (told by its byte-order mark) and other
/// encodings are refused with the `iconv` command that converts them.
pub(crate) fn decode_text(mut bytes: Vec<u8>, shown: &str) -> Result<(String, bool)> {
    let convert = |from: &str, what: String| {
        Error::Config(format!(
            "{shown} is not UTF-8 ({what}): convert it with \
             `iconv -f {from} -t UTF-8 {shown} -o {shown}.utf8` and use that"
        ))
    };
    let utf16 = match bytes.get(..2) {
        Some([0xFF, 0xFE]) => Some("LE"),
        Some([0xFE, 0xFF]) => Some("BE"),
        _ => None,
    };
    if let Some(order) = utf16 {
        return Err(convert("UTF-16", format!("it is UTF-16 {order}")));
    }
    let bom = bytes.starts_with(UTF8_BOM);
    if bom {
        bytes.drain(..UTF8_BOM.len());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        convert("GBK", format!("byte {at}; perhaps GBK"))
    })?;
    Ok((text, bom))
}

/// Re-hosts every picture of the article at `article` and returns the rewritten text
/// (nothing is written but the cache: the caller decides what to do with the result).
pub async fn publish(
    client: &Client,
    article: &Path,
    opts: &PublishOptions,
) -> Result<PublishReport> {
    let text = read_article(article)?.text;
    let kind = ArticleKind::from_path(article);
    rehost_text(client, &text, kind, article, opts, |_, _| {}).await
}

/// Re-hosts every picture of `text` (of kind `kind`, whose relative paths are relative
/// to `article`'s directory) and returns the rewritten text. `on_picture` is called as
/// each distinct picture is done, in completion order.
pub async fn rehost_text(
    client: &Client,
    text: &str,
    kind: ArticleKind,
    article: &Path,
    opts: &PublishOptions,
    mut on_picture: impl FnMut(&str, &std::result::Result<Rehosted, Arc<Error>>),
) -> Result<PublishReport> {
    let refs = find_pictures(text, kind);
    let dir = article
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));

    let cache_path = opts
        .cache_file
        .clone()
        .unwrap_or_else(|| default_cache_path(article));
    let server = cache_key(client);
    let cache = std::sync::Mutex::new(PublishCache::load(&cache_path));

    let mut skipped = Vec::new();
    let mut todo: Vec<(String, Location)> = Vec::new();
    for r in &refs {
        if todo.iter().any(|(u, _)| *u == r.url) || skipped.contains(&r.url) {
            continue;
        }
        match locate(&r.url, dir) {
            Location::Skip => skipped.push(r.url.clone()),
            loc => todo.push((r.url.clone(), loc)),
        }
    }

    let root = article_root(dir)?;
    let http = picture_client(&opts.policy())?;
    let mut stream = futures_util::stream::iter(todo)
        .map(|(url, loc)| {
            let (http, cache, server, root) = (&http, &cache, &server, &root);
            async move {
                let r = rehost(client, http, loc, &url, root, cache, server, opts)
                    .await
                    .map_err(Arc::new);
                (url, r)
            }
        })
        .buffer_unordered(opts.jobs.max(1));

    let mut rehosted = BTreeMap::new();
    let mut failed = Vec::new();
    let mut cache_unsaved = None;
    while let Some((url, r)) = stream.next().await {
        on_picture(&url, &r);
        match r {
            Ok(v) => {
                // Saved after each new picture: an interrupted run keeps what it sent.
                if v.source == Source::Uploaded {
                    let snapshot = cache.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(e) = snapshot.save(&cache_path)
                        && cache_unsaved.is_none()
                    {
                        cache_unsaved = Some(format!("{}: {e}", cache_path.display()));
                    }
                }
                rehosted.insert(url, v);
            }
            Err(e) => failed.push((url, e)),
        }
    }
    drop(stream);
    failed.sort_by(|a, b| a.0.cmp(&b.0));
    let new_urls: HashMap<&str, &str> = rehosted
        .iter()
        .filter(|(_, v)| !v.url.is_empty())
        .map(|(k, v)| (k.as_str(), v.url.as_str()))
        .collect();
    let text = rewrite(text, &refs, |r: &PictureRef| {
        new_urls.get(r.url.as_str()).map(|u| u.to_string())
    });
    Ok(PublishReport {
        text,
        rehosted,
        skipped,
        failed,
        cache_unsaved,
    })
}

/// Decodes a `data:` URL's picture (base64 or percent-encoded); its name comes from the
/// media type.
pub fn decode_data_url(url: &str, max_bytes: u64) -> Result<(Vec<u8>, String)> {
    use base64::Engine as _;
    let refuse = |reason: &str| Error::Refused {
        picture: format!("{}…", url.chars().take(40).collect::<String>()),
        reason: reason.to_string(),
    };
    let rest = &url[5..];
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| refuse("a data: URL without a comma"))?;
    if data.len() as u64 > max_bytes.saturating_mul(2) {
        return Err(refuse("larger than the largest picture read"));
    }
    let mime = meta
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let bytes = if meta
        .split(';')
        .any(|p| p.trim().eq_ignore_ascii_case("base64"))
    {
        let clean: String = percent_encoding::percent_decode_str(data)
            .decode_utf8_lossy()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(clean.trim_end_matches('='))
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.trim_end_matches('='))
            })
            .map_err(|e| refuse(&format!("its base64 does not decode: {e}")))?
    } else {
        percent_encoding::percent_decode_str(data).collect()
    };
    if bytes.is_empty() {
        return Err(refuse("an empty data: URL"));
    }
    let ext = match mime.as_str() {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        _ => "bin",
    };
    Ok((bytes, format!("inline.{ext}")))
}

#[allow(clippy::too_many_arguments)] // one call site, each argument distinct
async fn rehost(
    client: &Client,
    http: &reqwest::Client,
    loc: Location,
    url: &str,
    root: &Path,
    cache: &std::sync::Mutex<PublishCache>,
    server: &str,
    opts: &PublishOptions,
) -> Result<Rehosted> {
    let policy = opts.policy();
    let tag = settings_tag(opts.fit);
    let believed = |u: &String| url::Url::parse(u).is_ok_and(|u| is_hosted(&u));
    let cached = |url: String| Rehosted {
        url,
        source: Source::Cached,
        fit: None,
        bytes: 0,
    };
    let (bytes, name, remote) = match loc {
        Location::Local(p) => {
            let (b, n) = read_picture(url, p, Naming::Relative, root, policy).await?;
            (b, n, None)
        }
        Location::Absolute(p) => {
            let (b, n) = read_picture(url, p, Naming::Absolute, root, policy).await?;
            (b, n, None)
        }
        Location::Data(d) => {
            let (b, n) = decode_data_url(&d, policy.max_bytes)?;
            (b, n, None)
        }
        Location::Remote(u) => {
            let address = format!("{u}{tag}");
            let known = cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_remote(server, &address)
                .filter(|v| believed(v))
                .cloned();
            if let Some(done) = known {
                return Ok(cached(done));
            }
            let b = download(http, &u, &policy).await?;
            let name = u
                .path_segments()
                .and_then(|mut s| s.next_back().map(str::to_string))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "media".into());
            (b, name, Some(address))
        }
        Location::Unsupported(why) => {
            return Err(Error::Download {
                url: url.to_string(),
                reason: why,
            });
        }
        Location::Skip => unreachable!("skipped URLs are not fetched"),
    };
    let hash = format!("{}{tag}", blake3::hash(&bytes).to_hex());
    // A cache beside an untrusted article may have been written by its author: only an
    // entry of the form uploadimg answers with is believed (anything else is uploaded).
    let known = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(server, &hash)
        .filter(|v| believed(v))
        .cloned();
    if let Some(done) = known {
        if let Some(address) = remote {
            cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert_remote(server, address, done.clone());
        }
        return Ok(cached(done));
    }
    if opts.dry_run {
        return plan(client, bytes, opts.fit).await;
    }
    let done = upload_bytes_with(client, &name, bytes, Some(opts.fit)).await?;
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    c.insert(server, hash, done.url.clone());
    if let Some(address) = remote {
        c.insert_remote(server, address, done.url.clone());
    }
    Ok(Rehosted {
        url: done.url,
        source: Source::Uploaded,
        fit: done.fit.filter(|f| *f != FitOutcome::Unchanged),
        bytes: done.bytes,
    })
}

/// `--dry-run`: what would be done with a picture that is not in the cache — sent as it
/// is, or fitted (the fit is run, to say what it would give), or refused. With
/// `--max-width`, a picture that passes is still fitted when it is wider.
async fn plan(client: &Client, bytes: Vec<u8>, settings: FitSettings) -> Result<Rehosted> {
    let passes = client
        .preflight(&bytes)
        .is_ok_and(|info| settings.max_width.is_none_or(|max| info.width <= max));
    if passes {
        return Ok(Rehosted {
            url: String::new(),
            source: Source::WouldUpload,
            fit: None,
            bytes: bytes.len(),
        });
    }
    let opts = settings.options(*client.rules());
    let fitted = tokio::task::spawn_blocking(move || crate::fit::fit(&bytes, &opts))
        .await
        .map_err(|e| Error::Fit(format!("the fitting task failed: {e}")))??;
    Ok(Rehosted {
        url: String::new(),
        source: Source::WouldFit,
        fit: Some(fitted.outcome),
        bytes: fitted.bytes.len(),
    })
}

/// Reads a local picture of the article (off the async threads) and names it.
async fn read_picture(
    url: &str,
    path: PathBuf,
    naming: Naming,
    root: &Path,
    policy: FetchPolicy,
) -> Result<(Vec<u8>, String)> {
    let name = crate::batch::file_name(&path);
    let (picture, root) = (url.to_string(), root.to_path_buf());
    let bytes =
        tokio::task::spawn_blocking(move || read_local(&picture, &path, naming, &root, &policy))
            .await
            .map_err(|e| Error::Config(format!("the reading task failed: {e}")))??;
    Ok((bytes, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_read_capped_from_regular_files_without_their_bom() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("bom.md");
        std::fs::write(&md, b"\xEF\xBB\xBF# Heading\n").expect("write");
        let read = read_article(&md).expect("read");
        assert_eq!(read.text, "# Heading\n");
        assert!(read.bom);
        assert_eq!(read.file_bytes("x"), b"\xEF\xBB\xBFx");
        for (bom, order) in [(b"\xFF\xFE", "LE"), (b"\xFE\xFF", "BE")] {
            std::fs::write(&md, [&bom[..], b"#\0 \0T\0"].concat()).expect("write");
            let e = read_article(&md).expect_err("UTF-16").to_string();
            assert!(e.contains(&format!("UTF-16 {order}")), "{e}");
            assert!(
                e.contains("iconv -f UTF-16 -t UTF-8") && !e.contains("GBK"),
                "{e}"
            );
        }
        let e = read_article(Path::new("/dev/zero"))
            .expect_err("device")
            .to_string();
        assert!(e.contains("a device, not a regular file"), "{e}");
        let e = read_article(Path::new("-")).expect_err("stdin").to_string();
        assert!(e.contains("save it to a file"), "{e}");
        assert_eq!(e.matches("No such file").count(), 0, "{e}");
        // A sparse 3 GB file is refused after MAX_ARTICLE_BYTES + 1 bytes.
        let big = dir.path().join("big.md");
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(3 << 30))
            .expect("sparse file");
        let e = read_article(&big).expect_err("too big").to_string();
        assert!(
            e.contains("larger than 16 MiB") && e.contains("split it"),
            "{e}"
        );
    }

    #[test]
    fn locations() {
        let d = Path::new("/art");
        assert_eq!(
            locate("img/a%20b.png?v=1", d),
            Location::Local("/art/img/a b.png".into())
        );
        assert_eq!(
            locate("/abs/x.png", d),
            Location::Absolute("/abs/x.png".into())
        );
        assert_eq!(
            locate("%2Fetc%2Fx.png", d),
            Location::Absolute("/etc/x.png".into())
        );
        assert_eq!(
            locate("file:///t/x.png", d),
            Location::Absolute("/t/x.png".into())
        );
        assert_eq!(
            locate("../up.png", d),
            Location::Local("/art/../up.png".into())
        );
        assert!(matches!(
            locate("https://e.com/x.png", d),
            Location::Remote(_)
        ));
        assert!(matches!(locate("//e.com/x.png", d), Location::Remote(u) if u.scheme() == "https"));
        assert_eq!(
            locate("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0?from=appmsg", d),
            Location::Skip
        );
        assert!(matches!(
            locate("data:image/png;base64,AAAA", d),
            Location::Data(_)
        ));
        assert!(matches!(
            locate("ftp://e.com/x.png", d),
            Location::Unsupported(_)
        ));
    }

    #[test]
    fn cache_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = default_cache_path(&dir.path().join("post.md"));
        assert!(p.ends_with(".post.md.wximg-cache.json"));
        let mut c = PublishCache::load(&p);
        c.insert("s", "h".into(), "u".into());
        c.save(&p).unwrap();
        assert_eq!(
            PublishCache::load(&p).get("s", "h").map(String::as_str),
            Some("u")
        );
        assert_eq!(PublishCache::load(&p).get("other", "h"), None);
    }
}
