//! Markdown → the HTML the WeChat editor keeps.
//!
//! Invariant: the output holds no `<style>` element and no `class` attribute, and every
//! element the renderer emits carries its look in a `style` attribute — the platform
//! strips style sheets and classes, so anything else would be lost on the way in.
//!
//! The steps:
//!
//! 1. [`pulldown_cmark`] parses CommonMark with tables, footnotes, task lists and
//!    strikethrough;
//! 2. fenced and indented code is highlighted by [`syntect`] into `<span style="color:…">`
//!    runs (no classes), inside a `<pre>` whose theme rule keeps whitespace
//!    (`white-space: pre-wrap`);
//! 3. links: the platform lets an article link only to other articles of the platform,
//!    so a link to `mp.weixin.qq.com` stays a link, and any other http(s) link becomes its
//!    text followed by a `[n]` marker, with the addresses listed at the end under
//!    "引用链接" (what wenyan and md2wechat do); a relative link keeps only its text;
//! 4. task-list boxes become ☐ / ☑ (the platform drops `<input>`);
//! 5. the theme's CSS is inlined into every element with [`css_inline`], which never
//!    fetches anything, and the `class` attributes the theme used are removed.
//!
//! HTML articles are not rendered: they pass through unchanged (their pictures are
//! re-hosted by [`crate::publish`]).

use std::sync::OnceLock;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use syntect::highlighting::ThemeSet;
use syntect::parsing::SyntaxSet;

use crate::error::{Error, Result};

/// A built-in theme, or the CSS of one's own (`--theme FILE.css`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Theme {
    /// Dark grey text, green accents: the WeChat look.
    Default,
    /// GitHub-like: neutral black, blue links.
    Github,
    /// A serif body with warm accents, for essays.
    Warm,
    /// Your own CSS, with `section.wximg` as the article's root.
    Custom(String),
}

impl Theme {
    /// The names of the built-in themes, for `--theme NAME`.
    pub const NAMES: [&'static str; 3] = ["default", "github", "warm"];

    /// A built-in theme by name.
    pub fn named(name: &str) -> Option<Theme> {
        match name {
            "default" => Some(Theme::Default),
            "github" => Some(Theme::Github),
            "warm" => Some(Theme::Warm),
            _ => None,
        }
    }

    /// A theme of one's own, read from a CSS file: a regular file of at most
    /// [`MAX_THEME_BYTES`], in UTF-8 (a byte-order mark removed), checked as an article
    /// is ([`crate::fetch::read_named`]). `shown` names it in messages (`--theme FILE`).
    pub fn from_file(path: &std::path::Path, shown: &str) -> Result<Theme> {
        use crate::fetch::NotRead;
        let bytes = crate::fetch::read_named(path, MAX_THEME_BYTES).map_err(|why| {
            Error::Config(match why {
                NotRead::Io(e) => format!(
                    "--theme {shown}: not a built-in theme ({}) and not a readable CSS file: {e}",
                    Theme::NAMES.join(", ")
                ),
                NotRead::NotRegular(kind) => format!(
                    "--theme {shown} is {kind}, not a regular file: give a CSS file or one \
                     of {}",
                    Theme::NAMES.join(", ")
                ),
                NotRead::TooBig => format!(
                    "--theme {shown} is larger than {} KiB, far more than a theme needs (the \
                     built-in ones are a few KB): keep only the rules the article uses",
                    MAX_THEME_BYTES >> 10
                ),
            })
        })?;
        let (css, _bom) = crate::publish::decode_text(bytes, &format!("--theme {shown}"))?;
        Ok(Theme::Custom(css))
    }

    /// The theme's CSS: a built-in theme's palette in the one stylesheet they share.
    pub fn css(&self) -> std::borrow::Cow<'_, str> {
        let palette = match self {
            Theme::Default => Palette {
                body_font: SANS,
                accent: "#07c160",
                quote_background: "#f7f7f7",
                inline_code: "#d14",
            },
            Theme::Github => Palette {
                body_font: SANS,
                accent: "#24292e",
                quote_background: "#f7f7f7",
                inline_code: "#24292e",
            },
            Theme::Warm => Palette {
                body_font: r#"Georgia, "Songti SC", "SimSun", serif"#,
                accent: "#c0632b",
                quote_background: "#fbf6f0",
                inline_code: "#d14",
            },
            Theme::Custom(css) => return css.as_str().into(),
        };
        palette.apply(include_str!("render/themes/base.css")).into()
    }

    /// The syntect colour scheme that goes with the theme.
    fn code_scheme(&self) -> &'static str {
        match self {
            Theme::Github | Theme::Custom(_) => "InspiredGitHub",
            Theme::Default | Theme::Warm => "base16-ocean.light",
        }
    }
}

/// The largest theme file read: 1 MiB. The built-in themes are about 3 KB, and every
/// rule is matched against every element of the article while it is inlined, so a
/// sheet this size is already far past any use; the cap bounds what a wrong path
/// (`--theme /dev/zero`, a 3 GB file) costs.
pub const MAX_THEME_BYTES: u64 = 1 << 20;

/// The sans-serif body font of the default and github themes.
const SANS: &str =
    r#"-apple-system, BlinkMacSystemFont, "PingFang SC", "Microsoft YaHei", sans-serif"#;

/// What tells the built-in themes apart: `render/themes/base.css` with these filled in.
struct Palette {
    body_font: &'static str,
    /// Headings' colour and rules, bold text, the quote bar.
    accent: &'static str,
    quote_background: &'static str,
    /// Inline `code`'s colour.
    inline_code: &'static str,
}

impl Palette {
    fn apply(&self, base: &str) -> String {
        base.replace("$body_font", self.body_font)
            .replace("$accent", self.accent)
            .replace("$quote_background", self.quote_background)
            .replace("$inline_code", self.inline_code)
    }
}

/// The rendered article.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The HTML fragment (a `<section>` holding the article), every element styled.
    pub html: String,
    /// The text of the first heading, if any (the default title).
    pub first_heading: Option<String>,
    /// The external links, in order, as listed at the end: (text, address).
    pub references: Vec<(String, String)>,
}

/// Whether a link may stay a link in a WeChat article: only to the platform's articles.
fn link_allowed(url: &url::Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host_str() == Some("mp.weixin.qq.com")
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn schemes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

/// `code` highlighted as `lang` (plain text when unknown), in a `<pre>` with inline
/// colours only.
pub fn highlight(code: &str, lang: &str, theme: &Theme) -> String {
    let ss = syntaxes();
    let syntax = ss
        .find_syntax_by_token(lang.trim())
        .unwrap_or_else(|| ss.find_syntax_plain_text());
    let scheme = schemes()
        .themes
        .get(theme.code_scheme())
        .or_else(|| schemes().themes.values().next());
    let highlighted = scheme.and_then(|scheme| {
        syntect::html::highlighted_html_for_string(code, ss, syntax, scheme).ok()
    });
    let body = highlighted.unwrap_or_else(|| {
        format!(
            "<pre><span style=\"color:#333333;\">{}</span></pre>",
            escape(code)
        )
    });
    // syntect opens with "<pre style=…>\n": that newline would show as an empty line.
    let body = body.replacen(">\n", ">", 1);
    // A `<code>` inside keeps the theme's monospace rules apart from inline code.
    body.replacen('>', "><code>", 1)
        .replace("</pre>", "</code></pre>")
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The parser options: CommonMark plus tables, footnotes, task lists, strikethrough.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
}

/// How deep elements may nest in a rendered article (quotes in quotes, lists in lists,
/// emphasis in emphasis). Far more than any article needs (the WeChat editor indents a few
/// levels), and far less than what hurts: a line of 100,000 `>` (100 KB) made 100,000
/// nested `<blockquote>`s, which the theme's inliner took 32 s to parse (each element
/// looks through all those open around it) and then overflowed the stack on.
pub const MAX_NESTING: usize = 100;

/// Renders Markdown (without its front matter) into styled HTML. `first_line` is the
/// line of the article's file the Markdown starts on (after the front matter), for
/// messages.
pub fn render_markdown(markdown: &str, first_line: usize, theme: &Theme) -> Result<Rendered> {
    let mut events: Vec<Event> = Vec::new();
    let mut references: Vec<(String, String)> = Vec::new();
    let mut first_heading: Option<String> = None;
    let mut heading_text: Option<String> = None;
    // The link being read: Some(address) when it becomes a reference, None when dropped.
    let mut link: Option<Option<String>> = None;
    let mut link_text = String::new();
    let mut code: Option<(String, String)> = None;
    let mut depth = 0usize;
    // A lower bound on the HTML's length, counted as it is made (the text is written at
    // least as long as it is read; a paragraph, cell or item adds its tags): refused as soon as it is
    // at the content limit, rather than once millions of events are held (1 GB for 9 MB
    // of one-letter paragraphs). `data:` URLs are left out, as `check_length` does.
    let mut least = 0usize;
    let limit = wximg_proto::articles::CONTENT_BYTES;

    for (event, at) in Parser::new_ext(markdown, markdown_options()).into_offset_iter() {
        match &event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        least += match &event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                t.len() - data_url_bytes(t)
            }
            Event::End(TagEnd::Paragraph) => "<p></p>".len(),
            Event::End(TagEnd::TableCell) => "<td></td>".len(),
            Event::End(TagEnd::Item) => "<li></li>".len(),
            _ => 0,
        };
        if least >= limit {
            return Err(too_long(format!("over {limit} bytes")));
        }
        if depth > MAX_NESTING {
            let before = markdown.get(..at.start).unwrap_or(markdown);
            let line = first_line + before.bytes().filter(|&b| b == b'\n').count();
            return Err(Error::Config(format!(
                "line {line} of the article: quotes, lists or emphasis nested more \
                 than {MAX_NESTING} deep; wximg renders at most {MAX_NESTING} levels (the \
                 WeChat editor shows a few): flatten them"
            )));
        }
        if let Some((lang, text)) = code.as_mut() {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    events.push(Event::Html(highlight(text, lang, theme).into()));
                    code = None;
                }
                _ => {}
            }
            continue;
        }
        match &event {
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading_text.as_mut() {
                    h.push_str(t);
                }
                if link.is_some() {
                    link_text.push_str(t);
                }
            }
            Event::Start(Tag::Heading { .. }) if first_heading.is_none() => {
                heading_text = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = heading_text.take() {
                    let h = h.trim().to_string();
                    if !h.is_empty() {
                        first_heading = Some(h);
                    }
                }
            }
            _ => {}
        }
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                let kept = url::Url::parse(&dest_url).ok().filter(link_allowed);
                let external = url::Url::parse(&dest_url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https" | "mailto"));
                if kept.is_some() || dest_url.starts_with('#') {
                    // Footnote anchors and platform links stay links.
                    events.push(Event::Start(Tag::Link {
                        link_type: pulldown_cmark::LinkType::Inline,
                        dest_url,
                        title: "".into(),
                        id: "".into(),
                    }));
                } else {
                    link = Some(external.map(|u| u.to_string()));
                    link_text.clear();
                }
            }
            Event::End(TagEnd::Link) => match link.take() {
                None => events.push(Event::End(TagEnd::Link)),
                Some(None) => {}
                Some(Some(address)) => {
                    let text = link_text.trim().to_string();
                    let n = match references.iter().position(|(_, a)| *a == address) {
                        Some(i) => i + 1,
                        None => {
                            references.push((text, address));
                            references.len()
                        }
                    };
                    events.push(Event::Html(format!("<sup>[{n}]</sup>").into()));
                }
            },
            Event::TaskListMarker(done) => {
                events.push(Event::Text(if done { "☑ " } else { "☐ " }.into()));
            }
            other => events.push(other),
        }
    }

    let mut body = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut body, events.into_iter());
    if !references.is_empty() {
        body.push_str("<section class=\"wximg-references\"><h3>引用链接</h3>");
        for (i, (text, address)) in references.iter().enumerate() {
            let n = i + 1;
            if text.is_empty() || *text == *address {
                body.push_str(&format!("<p>[{n}] <i>{}</i></p>", escape(address)));
            } else {
                body.push_str(&format!(
                    "<p>[{n}] {}: <i>{}</i></p>",
                    escape(text),
                    escape(address)
                ));
            }
        }
        body.push_str("</section>");
    }
    let html = style_fragment(&format!("<section class=\"wximg\">{body}</section>"), theme)?;
    Ok(Rendered {
        html,
        first_heading,
        references,
    })
}

/// How deep the HTML given to the theme's inliner may nest, counting the raw HTML of a
/// Markdown article, which [`MAX_NESTING`] does not see: the server's own limit on
/// content (so what renders is not then refused). The inliner walks its tree
/// recursively: 30,000 nested `<span>`s (180 KB) overflowed the 8 MB main stack at once,
/// and 100,000 `<div>`s took 21 s to parse first. 256 levels is a few hundred KB of stack
/// at most, safe on any thread.
pub const MAX_HTML_NESTING: usize = wximg_proto::articles::MAX_CONTENT_NESTING;

/// Refuses HTML the theme's inliner should not parse and the server would answer 45002
/// for: elements nesting more than [`MAX_HTML_NESTING`] deep, or making the parser build
/// more elements than the content's length allows. The server's own check
/// ([`wximg_proto::html::check_shape`]), a parse that builds no tree.
pub fn check_nesting(html: &str) -> Result<()> {
    wximg_proto::html::check_shape(html, MAX_HTML_NESTING).map_err(|why| {
        Error::Config(format!(
            "the article's HTML cannot be sent: {why}. Close or flatten those tags"
        ))
    })
}

/// Refuses HTML that is already too long to be sent as one article: at or over
/// [`wximg_proto::articles::CONTENT_BYTES`] (the platform answers 45002), not counting
/// its `data:` URLs (pictures, replaced by short URLs once uploaded). Checked before the
/// theme is inlined, which only makes HTML longer (a style attribute on every element:
/// 30 to 300 times longer), and which ran out of memory on a 9 MB article
/// (`a\n\n` × 3,000,000) rather than reach the check after it.
pub fn check_length(html: &str) -> Result<()> {
    let limit = wximg_proto::articles::CONTENT_BYTES;
    let sent = html.len().saturating_sub(data_url_bytes(html));
    if sent < limit {
        return Ok(());
    }
    Err(too_long(format!("{sent} bytes")))
}

/// The refusal of an article whose HTML is `size` before any style is added.
fn too_long(size: String) -> Error {
    let limit = wximg_proto::articles::CONTENT_BYTES;
    Error::Config(format!(
        "the article is too long for one WeChat article: its HTML is {size} before the \
         theme's styles are added, and the platform takes under {limit} (1 MiB; it answers \
         45002 to more): split the article into several"
    ))
}

/// The bytes of the `data:` URLs in `html` (each up to the quote, parenthesis, space or
/// `>` that ends it).
fn data_url_bytes(html: &str) -> usize {
    let bytes = html.as_bytes();
    let mut total = 0;
    let mut at = 0;
    while let Some(i) = html.get(at..).and_then(|rest| rest.find("data:")) {
        let start = at + i;
        let len = bytes[start..]
            .iter()
            .position(|b| {
                matches!(b, b'"' | b'\'' | b'(' | b')' | b'>' | b'<') || b.is_ascii_whitespace()
            })
            .unwrap_or(bytes.len() - start);
        total += len;
        at = start + len.max(1);
    }
    total
}

/// Inlines the theme into `fragment`, then removes every `class` and `id` attribute
/// (and in-page `href="#…"`) and any `<style>` left. Refused if it is already too long
/// to be sent ([`check_length`]) or nests more than [`MAX_HTML_NESTING`] deep
/// ([`check_nesting`]).
pub fn style_fragment(fragment: &str, theme: &Theme) -> Result<String> {
    check_length(fragment)?;
    check_nesting(fragment)?;
    let inliner = css_inline::CSSInliner::options()
        .keep_style_tags(false)
        .keep_link_tags(false)
        .load_remote_stylesheets(false)
        .build();
    let inlined = inliner
        .inline_fragment(fragment, &theme.css())
        .map_err(|e| Error::Config(format!("the theme's CSS could not be applied: {e}")))?;
    let settings = lol_html::RewriteStrSettings::new().append_element_content_handler(
        lol_html::element!("*", |el| {
            el.remove_attribute("class");
            // The platform strips ids too, so in-page anchors (footnote back-links)
            // would lead nowhere: they are dropped with them.
            el.remove_attribute("id");
            if el.tag_name() == "a" && el.get_attribute("href").is_some_and(|h| h.starts_with('#'))
            {
                el.remove_attribute("href");
            }
            if el.tag_name() == "style" {
                el.remove();
            }
            Ok(())
        }),
    );
    lol_html::rewrite_str(&inlined, settings)
        .map_err(|e| Error::Config(format!("the rendered HTML could not be cleaned: {e}")))
}

/// The first `<h1>` (else `<title>`) of an HTML article, as text: its default title.
pub fn html_title(html: &str) -> Option<String> {
    use std::cell::{Cell, RefCell};
    let (h1, h1_seen) = (RefCell::new(String::new()), Cell::new(0u32));
    let (title, title_seen) = (RefCell::new(String::new()), Cell::new(0u32));
    let settings = lol_html::RewriteStrSettings::new()
        .append_element_content_handler(lol_html::element!("h1", |_| {
            h1_seen.set(h1_seen.get() + 1);
            Ok(())
        }))
        .append_element_content_handler(lol_html::element!("title", |_| {
            title_seen.set(title_seen.get() + 1);
            Ok(())
        }))
        .append_element_content_handler(lol_html::text!("h1", |t| {
            if h1_seen.get() == 1 {
                h1.borrow_mut().push_str(t.as_str());
            }
            Ok(())
        }))
        .append_element_content_handler(lol_html::text!("title", |t| {
            if title_seen.get() == 1 {
                title.borrow_mut().push_str(t.as_str());
            }
            Ok(())
        }));
    let _ = lol_html::rewrite_str(html, settings);
    let clean = |s: String| {
        Some(s.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty())
    };
    clean(h1.into_inner()).or_else(|| clean(title.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_fills_the_whole_stylesheet() {
        for name in Theme::NAMES {
            let theme = Theme::named(name).unwrap();
            let css = theme.css();
            assert!(!css.contains('$'), "{name}: {css}");
            assert!(css.contains("section.wximg { font-family: "), "{name}");
        }
        assert_ne!(Theme::Default.css(), Theme::Warm.css());
    }

    #[test]
    fn links_become_references_and_code_keeps_whitespace() {
        let md = "# Hello *world*\n\nSee [the docs](https://example.com/docs) and \
                  [again](https://example.com/docs), [an article](https://mp.weixin.qq.com/s/x), \
                  [local](other.md).\n\n```rust\nfn main() {\n    let x = 1;\n}\n```\n\n- [x] done\n- [ ] todo\n";
        let r = render_markdown(md, 1, &Theme::Default).unwrap();
        assert_eq!(r.first_heading.as_deref(), Some("Hello world"));
        assert_eq!(
            r.references,
            vec![("the docs".into(), "https://example.com/docs".into())]
        );
        assert!(!r.html.contains("class="), "{}", r.html);
        assert!(!r.html.contains("<style"), "{}", r.html);
        assert!(r.html.contains("href=\"https://mp.weixin.qq.com/s/x\""));
        assert!(!r.html.contains("href=\"https://example.com"), "{}", r.html);
        assert!(!r.html.contains("other.md"));
        assert_eq!(r.html.matches("<sup").count(), 2, "{}", r.html);
        assert!(r.html.contains("引用链接"));
        assert!(
            r.html.contains("white-space: pre-wrap") || r.html.contains("white-space:pre-wrap")
        );
        let text = strip_tags(&r.html);
        assert!(text.contains("{\n    let x"), "indentation kept: {text}");
        assert!(r.html.contains("☑ done") && r.html.contains("☐ todo"));
        assert!(!r.html.contains("<input"));
    }

    fn strip_tags(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn nesting_past_the_limit_is_refused_with_its_line() {
        let deep = |n: usize| format!("# T\n\n{} deep\n", ">".repeat(n));
        let started = std::time::Instant::now();
        let e = render_markdown(&deep(100_000), 5, &Theme::Default).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let e = e.to_string();
        assert!(
            e.contains("line 7 of the article") && e.contains("flatten"),
            "{e}"
        );
        // Lists and emphasis count too; the limit itself renders.
        let list: String = (0..=MAX_NESTING)
            .map(|i| format!("{}- x\n", "  ".repeat(i)))
            .collect();
        assert!(render_markdown(&list, 1, &Theme::Default).is_err());
        let ok = render_markdown(&deep(MAX_NESTING - 1), 1, &Theme::Default).unwrap();
        assert_eq!(ok.html.matches("<blockquote").count(), MAX_NESTING - 1);
    }

    #[test]
    fn raw_html_nested_past_the_limit_is_refused() {
        let started = std::time::Instant::now();
        let spans = format!("# T\n\n{}x\n", "<span>".repeat(30_000));
        let e = render_markdown(&spans, 1, &Theme::Default)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("more than 256 deep") && e.contains("<span>"),
            "{e}"
        );
        let divs = format!("{}x{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
        assert!(style_fragment(&divs, &Theme::Default).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Closed elements at the limit, and paragraphs or items left open, are read.
        let at = format!(
            "{}x{}",
            "<div>".repeat(MAX_HTML_NESTING),
            "</div>".repeat(MAX_HTML_NESTING)
        );
        assert!(style_fragment(&at, &Theme::Default).is_ok());
        assert!(style_fragment(&"<p>one<br><img src=a.png>".repeat(2000), &Theme::Default).is_ok());
        let list = format!("<ul>{}</ul>", "<li>item".repeat(2000));
        assert!(style_fragment(&list, &Theme::Default).is_ok());
        let deeper = format!(
            "{}x{}",
            "<div>".repeat(MAX_HTML_NESTING + 1),
            "</div>".repeat(MAX_HTML_NESTING + 1)
        );
        assert!(style_fragment(&deeper, &Theme::Default).is_err());
        // Formatting tags left open are rebuilt in each paragraph after them: 19 KB that
        // would build 400,000 elements in the inliner is refused before it parses.
        let started = std::time::Instant::now();
        let opened: String = (0..200).map(|i| format!("<b title={i}>")).collect();
        let rebuilt = format!("<p>{opened}</p>{}", "<p>x</p>".repeat(2_000));
        let e = style_fragment(&rebuilt, &Theme::Default)
            .unwrap_err()
            .to_string();
        assert!(e.contains("elements") && e.contains("<b>"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn html_already_past_the_content_limit_is_refused_before_inlining() {
        let limit = wximg_proto::articles::CONTENT_BYTES;
        // "<p>a</p>\n" per paragraph: just over 1 MiB of HTML before any style.
        let paragraphs = limit / 9 + 10;
        let md = format!("# T\n{}", "a\n\n".repeat(paragraphs));
        let started = std::time::Instant::now();
        let e = render_markdown(&md, 1, &Theme::Default)
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(
            e.contains("too long for one WeChat article") && e.contains("45002"),
            "{e}"
        );
        assert!(e.contains("split the article"), "{e}");
        // A `data:` picture is uploaded and replaced by a short URL: it does not count.
        let picture = format!("![p](data:image/png;base64,{})", "A".repeat(limit + 10));
        let r = render_markdown(&format!("# T\n\n{picture}\n"), 1, &Theme::Default).unwrap();
        assert!(r.html.len() > limit);
    }

    #[test]
    fn theme_files_are_capped_regular_files_without_a_bom() {
        let dir = tempfile::tempdir().expect("tempdir");
        let css = dir.path().join("t.css");
        std::fs::write(&css, b"\xEF\xBB\xBFp { color: red }").expect("write");
        assert_eq!(
            Theme::from_file(&css, "t.css").expect("theme"),
            Theme::Custom("p { color: red }".into())
        );
        let e = Theme::from_file(std::path::Path::new("/dev/zero"), "/dev/zero")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a device, not a regular file"), "{e}");
        std::fs::File::create(&css)
            .and_then(|f| f.set_len(3 << 30))
            .expect("sparse file");
        let e = Theme::from_file(&css, "t.css").unwrap_err().to_string();
        assert!(e.contains("larger than 1024 KiB"), "{e}");
    }

    #[test]
    fn html_titles() {
        assert_eq!(
            html_title("<html><head><title>T t</title></head><body><h1> Big <b>one</b></h1>"),
            Some("Big one".into())
        );
        assert_eq!(html_title("<title>Only</title>"), Some("Only".into()));
        assert_eq!(html_title("<p>none</p>"), None);
    }
}
