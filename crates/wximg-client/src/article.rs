//! Finding the pictures of an article and rewriting their URLs in place.
//!
//! (Past 400 lines only with its unit tests, which stay beside the code they pin.)
//!
//! A real parser finds them — [`pulldown_cmark`] for Markdown (inline images `![a](u)`,
//! reference-style `![a][ref]` / `![ref]` with `[ref]: u`, and HTML blocks or inline HTML
//! inside Markdown) and [`lol_html`] for HTML (`<img src>`, `<img srcset>`,
//! `<source srcset>`). Both report byte offsets into the original text, so a rewrite
//! replaces exactly the bytes of each URL and leaves every other byte of the article as it
//! was.

use std::cell::RefCell;
use std::ops::Range;
use std::path::Path;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag};

/// What kind of document an article is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleKind {
    Markdown,
    Html,
}

impl ArticleKind {
    /// `.html` / `.htm` / `.xhtml` are HTML; anything else is read as Markdown.
    pub fn from_path(path: &Path) -> ArticleKind {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("html" | "htm" | "xhtml") => ArticleKind::Html,
            _ => ArticleKind::Markdown,
        }
    }
}

/// One picture URL in an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureRef {
    /// The bytes of the URL as written in the article (without quotes or `<>`).
    pub span: Range<usize>,
    /// The URL, with Markdown escapes and HTML character references decoded.
    pub url: String,
}

/// Every picture URL of `text`, in document order (a URL used twice appears twice).
pub fn find_pictures(text: &str, kind: ArticleKind) -> Vec<PictureRef> {
    let mut out = match kind {
        ArticleKind::Html => find_in_html(text, 0),
        ArticleKind::Markdown => find_in_markdown(text),
    };
    out.sort_by_key(|r| r.span.start);
    out.dedup_by(|a, b| a.span == b.span);
    out
}

/// `text` with the URL at each span replaced; `new_url` returns `None` to keep one as is.
pub fn rewrite(
    text: &str,
    refs: &[PictureRef],
    new_url: impl Fn(&PictureRef) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for r in refs {
        if r.span.start < pos {
            continue; // overlapping spans cannot happen with the finders above; be safe
        }
        if let Some(u) = new_url(r) {
            out.push_str(&text[pos..r.span.start]);
            out.push_str(&u);
            pos = r.span.end;
        }
    }
    out.push_str(&text[pos..]);
    out
}

fn find_in_markdown(text: &str) -> Vec<PictureRef> {
    let mut out = Vec::new();
    let mut iter = Parser::new_ext(text, Options::all()).into_offset_iter();
    let mut labels = Vec::new();
    let mut in_html_block = false;
    for (event, range) in iter.by_ref() {
        match event {
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                id,
                ..
            }) => match link_type {
                LinkType::Inline => {
                    if let Some(span) = inline_destination(text, range.clone(), &dest_url) {
                        out.push(PictureRef {
                            span,
                            url: dest_url.to_string(),
                        });
                    }
                }
                LinkType::Reference | LinkType::Collapsed | LinkType::Shortcut => {
                    labels.push(id.to_string());
                }
                _ => {} // autolinks and e-mail links are not pictures
            },
            Event::Start(Tag::HtmlBlock) => {
                in_html_block = true;
                out.extend(find_in_html(&text[range.clone()], range.start));
            }
            Event::End(pulldown_cmark::TagEnd::HtmlBlock) => in_html_block = false,
            Event::InlineHtml(_) | Event::Html(_) if !in_html_block => {
                out.extend(find_in_html(&text[range.clone()], range.start));
            }
            _ => {}
        }
    }
    let defs = iter.reference_definitions();
    for label in labels {
        if let Some(def) = defs.get(&label)
            && let Some(span) = definition_destination(text, def.span.clone())
        {
            out.push(PictureRef {
                span,
                url: def.dest.to_string(),
            });
        }
    }
    out
}

/// The destination's span inside an inline image `![alt](dest "title")`. The alt text
/// may itself hold brackets, so candidates `](` are tried from the end, and the first whose
/// destination reads as `dest` wins.
fn inline_destination(text: &str, range: Range<usize>, dest: &str) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let candidates: Vec<usize> = s.match_indices("](").map(|(i, _)| i + 2).collect();
    let mut fallback = None;
    for &start in candidates.iter().rev() {
        if let Some((span, raw)) = destination_at(s, start) {
            let span = span.start + range.start..span.end + range.start;
            if unescape(raw) == dest {
                return Some(span);
            }
            fallback.get_or_insert(span);
        }
    }
    fallback
}

/// The destination's span in a definition `[label]: dest "title"`.
fn definition_destination(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let colon = s.find("]:")? + 2;
    let (span, _) = destination_at(s, colon)?;
    Some(span.start + range.start..span.end + range.start)
}

/// Reads a link destination starting at `start` (after optional spaces / one newline):
/// `<…>` or a run without spaces and with balanced parentheses. Returns its span (inside
/// any `<>`) and raw text.
fn destination_at(s: &str, start: usize) -> Option<(Range<usize>, &str)> {
    let bytes = s.as_bytes();
    let mut i = start;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'<') {
        let end = i + 1 + s[i + 1..].find('>')?;
        return Some((i + 1..end, &s[i + 1..end]));
    }
    let begin = i;
    let mut depth = 0i32;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            b' ' | b'\t' | b'\n' | b'\r' => break,
            _ => {}
        }
        i += 1;
    }
    let end = i.min(bytes.len());
    (end > begin).then(|| (begin..end, &s[begin..end]))
}

/// Removes Markdown backslash escapes (`\(` → `(`).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            continue;
        }
        out.push(c);
    }
    out
}

/// Picture URLs in an HTML document or fragment; spans are offset by `base`.
///
/// Besides `<img src>` and `srcset`: `data-src` (what WeChat's own editor and lazy
/// loaders write: the real picture), a lazy-load placeholder `src="data:…"` beside a
/// `data-src` (its span gets the `data-src` URL, so both end up pointing at the
/// re-hosted picture), and `url(…)` in any element's inline `style`
/// (`background-image`).
fn find_in_html(html: &str, base: usize) -> Vec<PictureRef> {
    let found = RefCell::new(Vec::new());
    let collect = |el: &mut lol_html::html_content::Element| {
        let is_img = el.tag_name() == "img";
        let data_src = el
            .get_attribute("data-src")
            .map(|v| decode_entities(v.trim()))
            .filter(|v| !v.is_empty());
        for attr in el.attributes() {
            let name = attr.name();
            let Some(loc) = attr.value_source_location() else {
                continue;
            };
            let loc = loc.bytes();
            let value = &html[loc.clone()];
            let push = |span: Range<usize>, url: String| {
                found.borrow_mut().push(PictureRef {
                    span: base + loc.start + span.start..base + loc.start + span.end,
                    url,
                });
            };
            match name.as_str() {
                "src" | "data-src" if is_img => {
                    let (s, e) = trim_span(value);
                    if s < e {
                        let url = decode_entities(&value[s..e]);
                        let placeholder = name == "src" && url.starts_with("data:");
                        match (&data_src, placeholder) {
                            (Some(real), true) => push(s..e, real.clone()),
                            _ => push(s..e, url),
                        }
                    }
                }
                "srcset" | "data-srcset" if is_img || el.tag_name() == "source" => {
                    for span in srcset_urls(value) {
                        let url = decode_entities(&value[span.clone()]);
                        push(span, url);
                    }
                }
                "style" => {
                    for span in css_urls(value) {
                        let url = decode_entities(&value[span.clone()]);
                        push(span, url);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    };
    let settings = lol_html::RewriteStrSettings::new()
        .append_element_content_handler(lol_html::element!("*", collect));
    // The rewriter's output is not used: only the positions it reports.
    if let Err(e) = lol_html::rewrite_str(html, settings) {
        tracing::warn!("HTML not fully parsed: {e}");
    }
    found.into_inner()
}

/// The spans of the URLs inside `url(…)` in a CSS declaration list (quotes, written
/// plainly or as `&quot;` / `&#39;`, are not part of the span).
fn css_urls(style: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let lower = style.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("url(") {
        let open = from + i + 4;
        let Some(close) = style[open..].find(')').map(|c| open + c) else {
            break;
        };
        let mut inner = open..close;
        let trim = |r: Range<usize>| {
            let v = &style[r.clone()];
            let s = r.start + (v.len() - v.trim_start().len());
            let e = r.start + v.trim_end().len();
            s..e.max(s)
        };
        inner = trim(inner);
        for q in ["&quot;", "&#39;", "&#34;", "\"", "'"] {
            let v = &style[inner.clone()];
            if v.len() >= 2 * q.len() && v.starts_with(q) && v.ends_with(q) {
                inner = inner.start + q.len()..inner.end - q.len();
                break;
            }
        }
        inner = trim(inner);
        if inner.start < inner.end {
            out.push(inner);
        }
        from = close + 1;
    }
    out
}

fn trim_span(v: &str) -> (usize, usize) {
    let start = v.len() - v.trim_start().len();
    let end = v.trim_end().len();
    (start, end.max(start))
}

/// The URL spans of a `srcset` value: comma-separated candidates `url [descriptor]`.
/// (A URL may itself contain commas; per the HTML spec a candidate's URL runs to the next
/// whitespace, and a trailing comma ends it.)
fn srcset_urls(v: &str) -> Vec<Range<usize>> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut end = i;
        while end > start && b[end - 1] == b',' {
            end -= 1;
        }
        if end > start {
            out.push(start..end);
        }
        if end < i {
            continue; // the URL ended with a comma: no descriptor
        }
        // Skip the descriptor up to the next comma.
        while i < b.len() && b[i] != b',' {
            i += 1;
        }
    }
    out
}

/// Decodes the character references that occur in URLs (`&amp;` and numeric ones).
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';').filter(|&n| n <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if name.starts_with("#x") || name.starts_with("#X") => {
                u32::from_str_radix(&name[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str, kind: ArticleKind) -> Vec<String> {
        find_pictures(text, kind)
            .into_iter()
            .map(|r| {
                assert_eq!(
                    &text[r.span.clone()].replace("&amp;", "&").replace('\\', ""),
                    &r.url.replace('\\', ""),
                    "span and url agree"
                );
                r.url
            })
            .collect()
    }

    #[test]
    fn markdown_inline_reference_and_html() {
        let md = "# Title\n\n![a [nested](x.html) alt](img/one.png \"t\") and [a link](nope.png)\n\n\
                  ![ref pic][r1] ![Shortcut]\n\n<img src=\"two.jpg\" alt=x>\n\n\
                  <p>inline <img srcset=\"s1.png 1x, s2.png 2x\"></p>\n\n\
                  `![not](code.png)`\n\n    ![indented](code2.png)\n\n\
                  ![angle](<with space.png>)\n\n[r1]: ref.jpg \"title\"\n[shortcut]:\n  <short cut.gif>\n";
        let got = urls(md, ArticleKind::Markdown);
        let set: std::collections::BTreeSet<_> = got.iter().map(String::as_str).collect();
        let want: std::collections::BTreeSet<_> = [
            "img/one.png",
            "ref.jpg",
            "short cut.gif",
            "two.jpg",
            "s1.png",
            "s2.png",
            "with space.png",
        ]
        .into_iter()
        .collect();
        assert_eq!(set, want);
    }

    #[test]
    fn lazy_pictures_and_backgrounds() {
        let html = "<p><img data-src=\"real.jpg\" src=\"data:image/gif;base64,R0lGOD\">\
                    <img data-src=\"only.png\"><img src=\"data:image/png;base64,iVBOR\">\
                    <section style=\"color:red; background-image: url(&quot;bg.jpg&quot;)\">x</section>\
                    <div style='background:URL( plain.png ) no-repeat'></div></p>";
        let got: Vec<String> = find_pictures(html, ArticleKind::Html)
            .into_iter()
            .map(|r| r.url)
            .collect();
        assert_eq!(
            got,
            vec![
                "real.jpg",
                "real.jpg",
                "only.png",
                "data:image/png;base64,iVBOR",
                "bg.jpg",
                "plain.png"
            ]
        );
    }

    #[test]
    fn rewrite_touches_only_urls() {
        let md = "Intro ![a](p\\(1\\).png 'x')\n\n![b][r]\n\n<img class=\"c\"  src='q.jpg'   >\n\n[r]: <r.png>\n";
        let refs = find_pictures(md, ArticleKind::Markdown);
        assert_eq!(refs.len(), 3, "{refs:?}");
        let out = rewrite(md, &refs, |r| Some(format!("https://h/{}", r.url.len())));
        assert_eq!(
            out,
            "Intro ![a](https://h/8 'x')\n\n![b][r]\n\n<img class=\"c\"  src='https://h/5'   >\n\n[r]: <https://h/5>\n"
        );
        // Keeping every URL gives the text back byte for byte.
        assert_eq!(rewrite(md, &refs, |_| None), md);
    }

    #[test]
    fn html_img_src_srcset_and_entities() {
        let html = "<!doctype html><html><body><p>Hi</p>\n<img src=\"a.png?x=1&amp;y=2\">\
                    <picture><source srcset=\"w.webp 1x,w2.webp 2x\"><img src=b.jpg alt=''></picture>\
                    <IMG SRC=\"C.PNG\"><script>var s='<img src=no.png>'</script></body></html>";
        let got: Vec<String> = find_pictures(html, ArticleKind::Html)
            .into_iter()
            .map(|r| r.url)
            .collect();
        assert_eq!(
            got,
            ["a.png?x=1&y=2", "w.webp", "w2.webp", "b.jpg", "C.PNG"]
        );
    }

    #[test]
    fn srcset_parsing() {
        let v = "a.png 1x, b,c.png 2x,d.png";
        let spans: Vec<&str> = srcset_urls(v).into_iter().map(|r| &v[r]).collect();
        assert_eq!(spans, ["a.png", "b,c.png", "d.png"]);
    }

    #[test]
    fn kind_from_extension() {
        assert_eq!(
            ArticleKind::from_path(Path::new("a.HTML")),
            ArticleKind::Html
        );
        assert_eq!(
            ArticleKind::from_path(Path::new("a.md")),
            ArticleKind::Markdown
        );
    }
}
