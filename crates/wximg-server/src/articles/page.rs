//! `GET /s/<id>`: a published article as a reader sees it — title, author, date and the
//! cleaned content, its pictures served by this server.
//!
//! Invariant: **the page runs nothing and loads nothing from elsewhere.** It is plain
//! server-rendered HTML, mobile-width, with its CSS inline; the title and author are
//! escaped; the content is the stored, cleaned content (see `super::clean`); and the
//! `Content-Security-Policy` forbids everything but same-origin pictures and inline
//! styles, so even a picture URL of another host left in a `style` cannot be fetched.
//! An unknown id is a 404; an article deleted with `freepublish/delete` is a 404 page
//! that says so, as the platform's "该内容已被发布者删除" page does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wximg_proto::articles::NewsItem;
use wximg_store::PublishedRecord;

/// What the page allows itself: pictures from this origin, inline styles, nothing else.
pub const CSP: &str = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; \
                       base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{margin:0;background:#fff;color:#333;font-family:-apple-system,\
BlinkMacSystemFont,'Helvetica Neue','PingFang SC','Microsoft YaHei',sans-serif;\
line-height:1.6}main{max-width:677px;margin:0 auto;padding:20px 16px 40px;\
box-sizing:border-box}h1{font-size:22px;line-height:1.4;margin:0 0 14px;font-weight:700}\
.meta{color:rgba(0,0,0,.45);font-size:15px;margin-bottom:22px}.meta span{margin-right:10px}\
.content{font-size:17px;overflow-wrap:break-word}.content img{max-width:100%!important;\
height:auto!important}.gone{text-align:center;color:rgba(0,0,0,.45);padding-top:30vh}";

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// `YYYY-MM-DD` of Unix time `t` in Beijing time (the date the platform's pages show).
pub fn beijing_date(t: i64) -> String {
    // Howard Hinnant's days-to-civil.
    let z = wximg_proto::calendar::beijing_day(t) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n"
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The page of a published article; `pictures` are a picture message's, shown above its
/// text (the material URLs this server serves).
pub fn render(record: &PublishedRecord, article: &NewsItem, pictures: &[String]) -> Response {
    if record.deleted_at.is_some() {
        return deleted();
    }
    let title = escape(&article.title);
    let mut meta = String::new();
    if !article.author.is_empty() {
        meta.push_str(&format!(
            "<span class=\"author\">{}</span>",
            escape(&article.author)
        ));
    }
    meta.push_str(&format!(
        "<span class=\"date\">{}</span>",
        beijing_date(record.published_at)
    ));
    let pictures: String = pictures
        .iter()
        .map(|url| format!("<p><img src=\"{}\" alt=\"\"></p>", escape(url)))
        .collect();
    let body = format!(
        "<article><h1>{title}</h1><div class=\"meta\">{meta}</div>\
         <div class=\"content\">{pictures}{}</div></article>",
        article.content
    );
    html_page(StatusCode::OK, &title, &body)
}

/// The page of an article deleted by its publisher.
pub fn deleted() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        "该内容已被发布者删除",
        "<p class=\"gone\">该内容已被发布者删除<br>This content has been deleted by the publisher.</p>",
    )
}

/// Storage failed: try again.
pub fn unavailable() -> Response {
    html_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<p class=\"gone\">Temporarily unavailable, try again.</p>",
    )
}

/// No such page.
pub fn not_found() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<p class=\"gone\">Not found</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_beijings() {
        assert_eq!(beijing_date(0), "1970-01-01");
        // 2024-02-29T16:30:00Z is 2024-03-01 00:30 in Beijing.
        assert_eq!(beijing_date(1_709_224_200), "2024-03-01");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
