//! `wximg publish --draft / --publish / --dry-run / --json` against a real `wximg serve`:
//! the rendered HTML as the draft API stores it, one draft per article across re-runs,
//! publishing polled to its end and the article page served, and the front matter.

use std::path::Path;

use image::ImageFormat;
use serde_json::{Value, json};

use crate::support::client::AppServer;
use crate::support::pictures::{encode, picture, write, write_picture};
use crate::support::{get, stderr, stdout};

/// POSTs `body` to `path` with a token of the app; the JSON answer.
pub fn api(s: &AppServer, path: &str, body: Value) -> Value {
    let token = s.run(&["token"]);
    assert!(token.status.success(), "{}", stderr(&token));
    let token = stdout(&token).trim().to_string();
    let url = format!("{}/cgi-bin/{path}?access_token={token}", s.server.base);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r = crate::support::http()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("POST");
        r.json().await.expect("JSON answer")
    })
}

/// The sample article: every construct the renderer styles, three pictures (a JPEG, a
/// PNG, a WebP that must be fitted) and a cover.
pub fn sample(dir: &Path) -> std::path::PathBuf {
    write_picture(dir, "img/a.jpg", &picture(300, 200, 1), ImageFormat::Jpeg);
    write_picture(dir, "img/b.png", &picture(120, 80, 2), ImageFormat::Png);
    write_picture(dir, "img/c.webp", &picture(200, 150, 3), ImageFormat::WebP);
    write_picture(
        dir,
        "img/cover.jpg",
        &picture(900, 500, 4),
        ImageFormat::Jpeg,
    );
    let md = "---\ntitle: Sample post\nauthor: Writer\ndigest: What it is about\n\
              cover: img/cover.jpg\nneed_open_comment: true\n---\n\
              # The first heading\n\n\
              Text with **bold**, *em*, ~~struck~~, `inline code` and [a link](https://example.com/ref).[^n]\n\n\
              ## Pictures\n\n![a](img/a.jpg)\n\n![b](img/b.png)\n\n![c](img/c.webp)\n\n\
              ### Lists\n\n- one\n- two\n\n1. first\n2. second\n\n- [x] done\n- [ ] todo\n\n\
              > A quote.\n\n| h1 | h2 |\n|----|----|\n| c1 | c2 |\n\n\
              ```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n---\n\n[^n]: The note.\n";
    write(dir, "post.md", md.as_bytes())
}

/// The start tags of `html`, each with its attributes as written.
fn start_tags(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('/') || tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        out.push((name.to_ascii_lowercase(), tag.to_string()));
    }
    out
}

fn draft_content(s: &AppServer, media_id: &str) -> Value {
    let got = api(s, "draft/get", json!({ "media_id": media_id }));
    got["news_item"][0].clone()
}

/// The JSON lines of an output.
fn json_lines(o: &std::process::Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn rendered_article_is_styled_inline_and_stored_as_a_draft() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let md = sample(dir.path());
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft", "--json"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let lines = json_lines(&o);
    let draft = lines.last().unwrap();
    assert_eq!(draft["action"], "created", "{draft}");
    let media_id = draft["draft"].as_str().unwrap().to_string();
    let pictures: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("picture").is_some())
        .collect();
    assert_eq!(pictures.len(), 3, "{lines:?}");
    assert!(
        pictures.iter().all(|p| p["action"] == "uploaded"),
        "{pictures:?}"
    );
    let webp = pictures
        .iter()
        .find(|p| p["picture"] == "img/c.webp")
        .unwrap();
    assert_eq!(webp["fit"]["format"], "jpeg", "the WebP was fitted: {webp}");
    let cover = lines.iter().find(|l| l.get("cover").is_some()).unwrap();
    assert_eq!(cover["action"], "uploaded");

    let item = draft_content(&s, &media_id);
    assert_eq!(item["title"], "Sample post");
    assert_eq!(item["author"], "Writer");
    assert_eq!(item["digest"], "What it is about");
    assert_eq!(item["need_open_comment"], 1);
    assert!(
        item["thumb_url"].as_str().unwrap().contains("/mmbiz_"),
        "{item}"
    );
    let html = item["content"].as_str().unwrap();
    assert!(!html.contains("<style"), "{html}");
    assert!(!html.contains("class="), "{html}");
    let tags = start_tags(html);
    let unstyled: Vec<&(String, String)> = tags
        .iter()
        .filter(|(_, t)| !t.contains("style=\""))
        .collect();
    assert!(unstyled.is_empty(), "every element styled: {unstyled:?}");
    // The structure, block by block (code spans and inline runs left out).
    let blocks: Vec<&str> = tags
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| {
            [
                "section",
                "h1",
                "h2",
                "h3",
                "p",
                "img",
                "ul",
                "ol",
                "li",
                "blockquote",
                "table",
                "thead",
                "tbody",
                "tr",
                "th",
                "td",
                "pre",
                "hr",
                "div",
            ]
            .contains(n)
        })
        .collect();
    assert_eq!(
        blocks,
        [
            "section",
            "h1",
            "p",
            "h2",
            "p",
            "img",
            "p",
            "img",
            "p",
            "img",
            "h3",
            "ul",
            "li",
            "li",
            "ol",
            "li",
            "li",
            "ul",
            "li",
            "li",
            "blockquote",
            "p",
            "table",
            "thead",
            "tr",
            "th",
            "th",
            "tbody",
            "tr",
            "td",
            "td",
            "pre",
            "hr",
            "div",
            "p",
            "section",
            "h3",
            "p"
        ],
        "{html}"
    );
    // Pictures point at the server; the external link is a reference; code keeps its
    // indentation and colours.
    for (n, t) in &tags {
        if n == "img" {
            assert!(
                t.contains(&format!("src=\"{}/mmbiz_", s.server.base)),
                "{t}"
            );
        }
    }
    assert!(!html.contains("href=\"https://example.com"), "{html}");
    assert!(html.contains("引用链接") && html.contains("https://example.com/ref"));
    assert!(html.contains("white-space: pre-wrap"), "{html}");
    assert!(
        html.contains("color: #") || html.contains("color:#"),
        "{html}"
    );
    assert!(html.contains("☑ done"), "{html}");
}

#[test]
fn a_rerun_updates_the_same_draft() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let md = sample(dir.path());
    let first = s.run(&["publish", md.to_str().unwrap(), "--draft", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first = json_lines(&first).pop().unwrap();
    assert_eq!(first["action"], "created");

    // Edit the article: the title (a flag overrides the front matter) and the text.
    let text = std::fs::read_to_string(&md)
        .unwrap()
        .replace("A quote.", "An edited quote.");
    std::fs::write(&md, text).unwrap();
    let second = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--draft",
        "--json",
        "--title",
        "Edited title",
    ]);
    assert!(second.status.success(), "{}", stderr(&second));
    let lines = json_lines(&second);
    let second = lines.last().unwrap();
    assert_eq!(second["action"], "updated", "{second}");
    assert_eq!(second["draft"], first["draft"], "the same draft");
    assert!(
        lines
            .iter()
            .filter(|l| l.get("picture").is_some() || l.get("cover").is_some())
            .all(|l| l["action"] == "cached"),
        "nothing uploaded again: {lines:?}"
    );
    assert_eq!(api(&s, "draft/count", json!({}))["total_count"], 1);
    let item = draft_content(&s, first["draft"].as_str().unwrap());
    assert_eq!(item["title"], "Edited title");
    assert!(
        item["content"]
            .as_str()
            .unwrap()
            .contains("An edited quote.")
    );

    // A draft deleted meanwhile is made again, not an error.
    let del = api(&s, "draft/delete", json!({ "media_id": first["draft"] }));
    assert_eq!(del["errcode"], 0, "{del}");
    let third = s.run(&["publish", md.to_str().unwrap(), "--draft", "--json"]);
    assert!(third.status.success(), "{}", stderr(&third));
    let third = json_lines(&third).pop().unwrap();
    assert_eq!(third["action"], "created", "{third}");
    assert_ne!(third["draft"], first["draft"]);
}

#[test]
fn publish_is_polled_to_success_and_the_page_is_served() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let md = sample(dir.path());
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--publish",
        "--poll-interval",
        "0.2",
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("published: "))
        .unwrap_or_else(|| panic!("no article URL:\n{out}"));
    assert!(url.starts_with(&s.server.base), "{url}");
    let (status, page) = get(url);
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("Sample post"), "{page}");
    assert!(page.contains("The first heading"));
    assert!(
        stderr(&o).contains("3 uploaded, 0 failed, 0 unchanged"),
        "{}",
        stderr(&o)
    );
    // Published drafts leave the draft box; the next --draft makes a new one.
    assert_eq!(api(&s, "draft/count", json!({}))["total_count"], 0);
}

#[test]
fn a_failed_publish_is_explained_in_words() {
    let s = AppServer::start_with(&["--publish-faults", "4:1", "--publish-delay", "0.3"]);
    let dir = tempfile::tempdir().unwrap();
    let md = sample(dir.path());
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--publish",
        "--poll-interval",
        "0.1",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("not published: publish_status 4: refused by the platform's review"),
        "{err}"
    );
    assert!(!stdout(&o).contains("published:"), "{}", stdout(&o));
}

#[test]
fn dry_run_lists_every_picture_and_sends_nothing() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let md = sample(dir.path());
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--draft",
        "--dry-run",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    let action = |p: &str| {
        lines
            .iter()
            .find(|l| l["picture"] == p)
            .map(|l| l["action"].clone())
    };
    assert_eq!(action("img/a.jpg"), Some(json!("upload")));
    assert_eq!(action("img/b.png"), Some(json!("upload")));
    assert_eq!(action("img/c.webp"), Some(json!("fit")));
    assert_eq!(lines.last().unwrap()["action"], "dry-run");
    assert_eq!(api(&s, "draft/count", json!({}))["total_count"], 0);
    let count = api(&s, "material/get_materialcount", json!({}));
    assert_eq!(count["image_count"], 0, "{count}");
    // Nothing was cached either: the real run uploads all three.
    let real = s.run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(real.status.success(), "{}", stderr(&real));
    assert!(stderr(&real).contains("3 uploaded"), "{}", stderr(&real));

    // A picture that would fail makes the dry run fail, and says why.
    let text = std::fs::read_to_string(&md).unwrap() + "\n![gone](img/missing.png)\n";
    std::fs::write(&md, text).unwrap();
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft", "--dry-run"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("img/missing.png: refused"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("img/a.jpg → "),
        "cached now: {}",
        stdout(&o)
    );
}

#[test]
fn title_falls_back_to_the_first_heading_and_a_cover_is_required() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(dir.path(), "c.jpg", &picture(100, 60, 9), ImageFormat::Jpeg);
    let md = write(
        dir.path(),
        "t.md",
        b"Intro.\n\n## The *real* title\n\nBody.\n",
    );
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("no cover") && err.contains("--cover"), "{err}");
    assert_eq!(err.matches("no cover").count(), 1, "said once: {err}");

    let cover = dir.path().join("c.jpg");
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--draft",
        "--json",
        "--cover",
        cover.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    let cover = lines.iter().find(|l| l.get("cover").is_some()).unwrap();
    assert_eq!(
        cover["type"], "thumb",
        "a small JPEG cover is a thumb: {cover}"
    );
    let media_id = lines.last().unwrap()["draft"].as_str().unwrap().to_string();
    assert_eq!(draft_content(&s, &media_id)["title"], "The real title");

    // No heading, no title: said, with the ways to give one.
    let md = write(dir.path(), "u.md", b"Just text.\n");
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no title"), "{}", stderr(&o));

    // A title over the platform's 32 characters is refused before anything is sent.
    let long = format!("---\ntitle: {}\ncover: c.jpg\n---\nx\n", "长".repeat(33));
    let md = write(dir.path(), "v.md", long.as_bytes());
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("45003"), "{}", stderr(&o));
}

#[test]
fn an_article_too_big_or_too_deep_is_refused_before_the_cover_is_sent() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(dir.path(), "c.jpg", &picture(100, 60, 9), ImageFormat::Jpeg);
    // 1 MiB of HTML once rendered: said with its size, before the cover (a permanent
    // material) is uploaded for a draft that draft/add would refuse.
    let big = format!(
        "---\ntitle: Big\ncover: c.jpg\n---\n{}\n\nx\n",
        "<span></span>".repeat(90_000)
    );
    let md = write(dir.path(), "big.md", big.as_bytes());
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("45002") && err.contains("split the article"),
        "{err}"
    );
    // Nested past what the renderer and the server read: said at once, with the line.
    let deep = format!(
        "---\ntitle: Deep\ncover: c.jpg\n---\n# D\n\n{} x\n",
        ">".repeat(100_000)
    );
    let md = write(dir.path(), "deep.md", deep.as_bytes());
    let o = s.run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("line 7 of the article"),
        "{}",
        stderr(&o)
    );
    let html = format!("<h1>H</h1>{}x", "<span>".repeat(30_000));
    let page = write(dir.path(), "deep.html", html.as_bytes());
    let cover = dir.path().join("c.jpg");
    let o = s.run(&[
        "publish",
        page.to_str().unwrap(),
        "--draft",
        "--cover",
        cover.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("more than 256 deep"), "{}", stderr(&o));
    let count = api(&s, "material/get_materialcount", json!({}));
    assert_eq!(count["image_count"], 0, "no cover was sent: {count}");
    assert_eq!(api(&s, "draft/count", json!({}))["total_count"], 0);
}

#[test]
fn html_articles_pass_through_and_themes_change_the_look() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.jpg",
        &encode(&picture(100, 80, 5), ImageFormat::Jpeg),
    );
    let html = "<h1>Raw page</h1><p style=\"color:red\">kept <b>as is</b></p><img src=\"a.jpg\">";
    let page = write(dir.path(), "page.html", html.as_bytes());
    let cover = dir.path().join("a.jpg");
    let o = s.run(&[
        "publish",
        page.to_str().unwrap(),
        "--draft",
        "--json",
        "--cover",
        cover.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = json_lines(&o).pop().unwrap()["draft"]
        .as_str()
        .unwrap()
        .to_string();
    let item = draft_content(&s, &id);
    assert_eq!(item["title"], "Raw page");
    let content = item["content"].as_str().unwrap();
    assert!(
        content.contains("<p style=\"color:red\">kept <b>as is</b></p>"),
        "{content}"
    );
    assert!(!content.contains("font-family"), "not themed: {content}");

    // Markdown with a theme of one's own.
    let md = write(dir.path(), "m.md", b"# T\n\nHello.\n");
    let css = write(dir.path(), "mine.css", b"p { color: rgb(1, 2, 3); }");
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--draft",
        "--json",
        "--cover",
        cover.to_str().unwrap(),
        "--theme",
        css.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = json_lines(&o).pop().unwrap()["draft"]
        .as_str()
        .unwrap()
        .to_string();
    let content = draft_content(&s, &id)["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.contains("color: rgb(1, 2, 3)"), "{content}");
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--draft",
        "--theme",
        "nope",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("default, github, warm"),
        "{}",
        stderr(&o)
    );
}
