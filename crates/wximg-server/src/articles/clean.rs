//! What the platform does to an article's content, and what wximg tells the developer
//! about it.
//!
//! Invariant: **stored content is sanitized content.** Every draft's `content` went
//! through [`clean`] before it was stored: the sanitizer (`ammonia`, with an allow-list
//! modelled on what the WeChat editor keeps) removed scripts, event handlers,
//! `javascript:` URLs and disallowed tags and attributes, and every `<img>` whose picture
//! is not hosted here (see [`Hosting`]) is gone. What went is counted in a
//! [`CleaningReport`], logged with the request and stored beside the draft for the debug
//! page; the API answers never carry it.
//!
//! How, in three steps (the middle one async, so the sync ones never hold a parser
//! across an await):
//! 1. [`sanitize`]: ammonia, then a survey of its normalized output: the pictures
//!    (`src` and `data-src` of every `<img>`) it still names.
//! 2. [`hosted_pictures`]: which of them this server hosts (a picture row exists).
//! 3. [`drop_outside_pictures`]: re-reads the normalized HTML token by token, leaving out
//!    every `<img>` naming a picture not hosted here, and counts the text.
//!
//! The sanitizer's removal counts compare a survey of the input with one of its output (a
//! tokenizer that follows the raw-text rules of `<script>`, `<style>`, … as the parser
//! does); the outside pictures are counted, with their URLs, on their own.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use ammonia::Url;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{TagKind, Token, TokenSink, TokenSinkResult};
use serde::{Deserialize, Serialize};
use wximg_proto::ImageId;
use wximg_proto::html::{is_void, raw_after, tokenize};
use wximg_store::MetaStore;

/// At most this many removed picture URLs are kept in a report (the count is exact).
pub const MAX_REPORTED_URLS: usize = 50;

/// What cleaning did to one article's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleaningReport {
    /// `<img>` elements removed because their picture is not hosted here.
    pub removed_pictures: u64,
    /// The first [`MAX_REPORTED_URLS`] of their URLs.
    pub removed_picture_urls: Vec<String>,
    /// Elements the sanitizer removed, by tag name (`script`, `iframe`, …).
    pub removed_tags: BTreeMap<String, u64>,
    /// Attributes the sanitizer removed, by name (`onclick`, `id`, …).
    pub removed_attributes: BTreeMap<String, u64>,
    /// Characters of text left (what the platform's 20,000-character limit counts).
    pub text_chars: u64,
}

impl CleaningReport {
    /// Whether cleaning removed anything.
    pub fn removed_anything(&self) -> bool {
        self.removed_pictures > 0
            || !self.removed_tags.is_empty()
            || !self.removed_attributes.is_empty()
    }

    /// One line for the log: `pictures 2 (http://a/x.png, …), tags script×1, attributes onclick×1`.
    pub fn summary(&self) -> String {
        let counts = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "pictures {} [{}], tags [{}], attributes [{}]",
            self.removed_pictures,
            self.removed_picture_urls.join(" "),
            counts(&self.removed_tags),
            counts(&self.removed_attributes)
        )
    }
}

/// The sanitizer: ammonia's defaults (which drop `<script>`/`<style>` with their content,
/// event handlers, `id`, and URLs of other schemes than http(s), mailto, tel, …) widened
/// to what the WeChat editor's articles are made of: `<section>` and `<font>`, inline
/// `style` (WeChat articles are styled inline), `class`, `align` and `data-*` attributes.
/// `<iframe>` (the platform's own video embeds included), `<form>`, `<input>`, `<object>`,
/// `<embed>`, `<svg>` and `<math>` go.
fn builder() -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    b.add_tags(["section", "font"])
        .add_generic_attributes(["style", "class", "align"])
        .add_generic_attribute_prefixes(["data-"])
        .add_tag_attributes("font", ["color", "size", "face"])
        .add_tag_attributes("td", ["colspan", "rowspan", "width", "valign"])
        .add_tag_attributes("th", ["colspan", "rowspan", "width", "valign"]);
    b
}

/// Step 1: the sanitized content, and the picture URLs it still names.
pub fn sanitize(content: &str) -> (String, Vec<String>) {
    let clean = builder().clean(content).to_string();
    let survey = survey(&clean);
    (clean, survey.pictures)
}

/// Where this server's pictures live: the public URL's host and port (either scheme) and
/// path prefix.
#[derive(Debug, Clone)]
pub struct Hosting {
    host: String,
    port: Option<u16>,
    prefix: String,
}

impl Hosting {
    /// `None` if `public_url` is not an absolute http(s) URL.
    pub fn new(public_url: &str) -> Option<Hosting> {
        let url = Url::parse(public_url).ok()?;
        Some(Hosting {
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port(),
            prefix: url.path().trim_end_matches('/').to_string(),
        })
    }

    /// The picture a URL names if it has the form of one of this server's:
    /// `http(s)://HOST[:PORT]{prefix}/[sz_]mmbiz_<kind>/<id>/<width>[?…]`. The platform's
    /// own `mmbiz.qpic.cn` is not ours.
    pub fn picture_id(&self, src: &str) -> Option<ImageId> {
        let src = src.trim();
        let absolute: Cow<str> = if src.starts_with("//") {
            Cow::Owned(format!("http:{src}"))
        } else {
            Cow::Borrowed(src)
        };
        let url = Url::parse(&absolute).ok()?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str()?.to_ascii_lowercase() != self.host
            || url.port() != self.port
        {
            return None;
        }
        let path = url.path().strip_prefix(self.prefix.as_str())?;
        let mut parts = path.strip_prefix('/')?.split('/');
        let (kind, id, width) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || width.is_empty() || !width.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let kind = kind.strip_prefix("sz_").unwrap_or(kind);
        if kind.strip_prefix("mmbiz_").is_none_or(str::is_empty) {
            return None;
        }
        ImageId::parse(id)
    }
}

/// Step 2: the URLs among `urls` whose picture is hosted here (has a row).
pub async fn hosted_pictures(
    meta: &dyn MetaStore,
    hosting: &Hosting,
    urls: &[String],
) -> wximg_store::Result<HashSet<String>> {
    let mut hosted = HashSet::new();
    let mut known: std::collections::HashMap<ImageId, bool> = Default::default();
    for url in urls {
        let Some(id) = hosting.picture_id(url) else {
            continue;
        };
        let here = match known.get(&id) {
            Some(&here) => here,
            None => {
                let here = meta.image(&id).await?.is_some();
                known.insert(id, here);
                here
            }
        };
        if here {
            hosted.insert(url.clone());
        }
    }
    Ok(hosted)
}

/// Step 3: `sanitized` without the `<img>`s naming a picture outside `hosted`, and the
/// report of everything cleaning removed from `original`. An `<img>` with a hosted
/// `data-src` and no `src` gets it as `src` (the article page has no script to load it).
pub fn drop_outside_pictures(
    original: &str,
    sanitized: &str,
    hosted: &HashSet<String>,
) -> (String, CleaningReport) {
    let sink = Rewriter {
        hosted,
        out: RefCell::new(String::with_capacity(sanitized.len())),
        report: RefCell::new(CleaningReport::default()),
    };
    let sink = tokenize(sink, sanitized);
    let html = sink.out.into_inner();
    let mut report = sink.report.into_inner();
    // The sanitizer's removals: the input against its output (the outside pictures are
    // counted on their own above, not as removed `img` tags and `src` attributes).
    let (before, sanitized) = (survey(original), survey(sanitized));
    report.removed_tags = minus(&before.tags, &sanitized.tags);
    report.removed_attributes = minus(&before.attributes, &sanitized.attributes);
    report.text_chars = wximg_proto::html::text_chars(&html);
    (html, report)
}

/// The whole of it, for content whose pictures are all decided already (tests).
#[cfg(test)]
pub fn clean_with(content: &str, hosted: &HashSet<String>) -> (String, CleaningReport) {
    let (sanitized, _) = sanitize(content);
    drop_outside_pictures(content, &sanitized, hosted)
}

fn minus(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    before
        .iter()
        .filter_map(|(k, &n)| {
            let left = n.saturating_sub(after.get(k).copied().unwrap_or(0));
            (left > 0).then(|| (k.clone(), left))
        })
        .collect()
}

/// What a fragment holds: start tags and attributes by name, `<img>` picture URLs.
#[derive(Default)]
struct Survey {
    tags: BTreeMap<String, u64>,
    attributes: BTreeMap<String, u64>,
    pictures: Vec<String>,
}

struct Surveyor(RefCell<Survey>);

impl TokenSink for Surveyor {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut s = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => {
                let name = tag.name.to_string();
                *s.tags.entry(name.clone()).or_default() += 1;
                for attr in &tag.attrs {
                    let attr_name = attr.name.local.to_string();
                    if name == "img" && (attr_name == "src" || attr_name == "data-src") {
                        s.pictures.push(attr.value.to_string());
                    }
                    *s.attributes.entry(attr_name).or_default() += 1;
                }
                drop(s);
                return raw_after(&name);
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The first `n` characters of the text of `html` (whitespace runs as one space): the
/// digest the platform makes for an article that has none.
pub fn text_prefix(html: &str, n: usize) -> String {
    struct Text(RefCell<String>, usize);
    impl TokenSink for Text {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            let mut out = self.0.borrow_mut();
            match token {
                Token::CharacterTokens(text) if out.chars().count() < self.1 => {
                    for c in text.chars() {
                        if c.is_whitespace() {
                            if !out.is_empty() && !out.ends_with(' ') {
                                out.push(' ');
                            }
                        } else {
                            out.push(c);
                        }
                    }
                }
                Token::TagToken(tag) if tag.kind == TagKind::StartTag => {
                    drop(out);
                    return raw_after(&tag.name);
                }
                _ => {}
            }
            TokenSinkResult::Continue
        }
    }
    let text = tokenize(Text(RefCell::default(), n), html).0.into_inner();
    text.trim().chars().take(n).collect()
}

fn survey(html: &str) -> Survey {
    tokenize(Surveyor(RefCell::default()), html).0.into_inner()
}

/// Re-writes normalized HTML token by token, leaving out outside pictures.
struct Rewriter<'a> {
    hosted: &'a HashSet<String>,
    out: RefCell<String>,
    report: RefCell<CleaningReport>,
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
}

impl TokenSink for Rewriter<'_> {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut out = self.out.borrow_mut();
        match token {
            Token::TagToken(mut tag) => {
                let name = tag.name.to_string();
                if tag.kind == TagKind::EndTag {
                    if !is_void(&name) {
                        out.push_str("</");
                        out.push_str(&name);
                        out.push('>');
                    }
                    return TokenSinkResult::Continue;
                }
                if name == "img" {
                    let value = |n: &str| {
                        tag.attrs
                            .iter()
                            .find(|a| &*a.name.local == n)
                            .map(|a| a.value.to_string())
                    };
                    let (src, data_src) = (value("src"), value("data-src"));
                    let outside: Vec<String> = [&src, &data_src]
                        .into_iter()
                        .flatten()
                        .filter(|u| !self.hosted.contains(*u))
                        .cloned()
                        .collect();
                    if !outside.is_empty() {
                        let mut report = self.report.borrow_mut();
                        report.removed_pictures += 1;
                        for url in outside {
                            if report.removed_picture_urls.len() < MAX_REPORTED_URLS
                                && !report.removed_picture_urls.contains(&url)
                            {
                                report.removed_picture_urls.push(url);
                            }
                        }
                        return TokenSinkResult::Continue;
                    }
                    if src.is_none()
                        && let Some(data_src) = data_src
                    {
                        tag.attrs.push(html5ever::Attribute {
                            name: html5ever::QualName::new(
                                None,
                                html5ever::ns!(),
                                html5ever::local_name!("src"),
                            ),
                            value: StrTendril::from(data_src),
                        });
                    }
                }
                out.push('<');
                out.push_str(&name);
                for attr in &tag.attrs {
                    out.push(' ');
                    out.push_str(&attr.name.local);
                    out.push_str("=\"");
                    escape_attr(&mut out, &attr.value);
                    out.push('"');
                }
                out.push('>');
            }
            Token::CharacterTokens(text) => escape_text(&mut out, &text),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: &str = "http://127.0.0.1:8080/mmbiz_png/ABC/0?from=appmsg";

    fn hosted() -> HashSet<String> {
        [HERE.to_string()].into()
    }

    #[test]
    fn outside_pictures_go_hosted_ones_stay() {
        let content = format!(
            r#"<p>a<img src="https://example.com/x.png">b<img src="{HERE}" style="width:10px"></p>"#
        );
        let (html, report) = clean_with(&content, &hosted());
        assert!(!html.contains("example.com"), "{html}");
        assert!(html.contains(r#"src="http://127.0.0.1:8080/mmbiz_png/ABC/0?from=appmsg""#));
        assert!(
            html.contains(r#"style="width:10px""#),
            "inline style is kept: {html}"
        );
        assert_eq!(report.removed_pictures, 1);
        assert_eq!(report.removed_picture_urls, ["https://example.com/x.png"]);
        assert_eq!(
            report.removed_tags.get("img"),
            None,
            "counted as a picture, not a tag"
        );
        assert!(report.removed_attributes.is_empty(), "{report:?}");
    }

    #[test]
    fn scripts_handlers_and_javascript_urls_go() {
        let content = r#"<section id="s" onclick="evil()" class="c"><script>alert("<b>x</b>")</script><a href="javascript:evil()">l</a><iframe src="https://v.qq.com/x"></iframe><p>t</p></section>"#;
        let (html, report) = clean_with(content, &HashSet::new());
        for gone in ["script", "alert", "onclick", "javascript", "iframe", "id="] {
            assert!(!html.contains(gone), "{gone} left in {html}");
        }
        assert!(html.contains(r#"class="c""#), "{html}");
        assert_eq!(report.removed_tags.get("script"), Some(&1));
        assert_eq!(
            report.removed_tags.get("b"),
            None,
            "script text is not markup"
        );
        assert_eq!(report.removed_tags.get("iframe"), Some(&1));
        assert_eq!(report.removed_attributes.get("onclick"), Some(&1));
        assert_eq!(report.removed_attributes.get("id"), Some(&1));
        assert!(report.removed_anything());
    }

    #[test]
    fn a_lazy_picture_gets_its_src() {
        let content = format!(r#"<img data-src="{HERE}" data-ratio="0.5">"#);
        let (html, report) = clean_with(&content, &hosted());
        assert!(html.contains(&format!(r#"src="{}""#, HERE)), "{html}");
        assert!(!report.removed_anything(), "{report:?}");
        let outside =
            r#"<img src="http://127.0.0.1:8080/mmbiz_png/ABC/0" data-src="http://x/y.png">"#;
        assert_eq!(clean_with(outside, &hosted()).1.removed_pictures, 1);
    }

    #[test]
    fn text_is_counted_and_escaped() {
        let (html, report) = clean_with("<p>a &lt;b&gt; 字</p>", &HashSet::new());
        assert_eq!(html, "<p>a &lt;b&gt; 字</p>");
        assert_eq!(report.text_chars, 5, "whitespace is not counted");
    }

    #[test]
    fn a_digest_is_the_first_text() {
        assert_eq!(
            text_prefix("<p>  one\n two</p><p>three</p>", 9),
            "one twoth"
        );
    }

    #[test]
    fn hosting_knows_this_servers_picture_urls() {
        let h = Hosting::new("http://127.0.0.1:8080").expect("url");
        let id = ImageId::of(b"x").to_string();
        let ok = |u: String| h.picture_id(&u).is_some();
        assert!(ok(format!(
            "http://127.0.0.1:8080/mmbiz_jpg/{id}/0?from=appmsg"
        )));
        assert!(ok(format!("https://127.0.0.1:8080/sz_mmbiz_png/{id}/640")));
        assert!(ok(format!("//127.0.0.1:8080/mmbiz_gif/{id}/0?wx_fmt=gif")));
        assert!(!ok(format!("http://127.0.0.1:9090/mmbiz_jpg/{id}/0")));
        assert!(!ok(format!("http://mmbiz.qpic.cn/mmbiz_jpg/{id}/0")));
        assert!(!ok(format!("http://127.0.0.1:8080/mmbiz_jpg/{id}/x")));
        assert!(!ok(format!("http://127.0.0.1:8080/other/{id}/0")));
        assert!(!ok(format!("/mmbiz_jpg/{id}/0")));
        let prefixed = Hosting::new("https://pics.example.com/wximg/").expect("url");
        assert!(
            prefixed
                .picture_id(&format!("http://pics.example.com/wximg/mmbiz_jpg/{id}/0"))
                .is_some()
        );
        assert!(
            prefixed
                .picture_id(&format!("http://pics.example.com/mmbiz_jpg/{id}/0"))
                .is_none()
        );
    }
}
