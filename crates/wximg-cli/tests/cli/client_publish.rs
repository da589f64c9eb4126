//! `wximg publish` against a real `wximg serve`, with local pictures and remote ones
//! served by the test on loopback.

use std::path::Path;
use std::process::Output;

use image::ImageFormat;

use crate::support::client::AppServer;
use crate::support::pictures::{encode, picture, write, write_picture};
use crate::support::{get_async, stderr, stdout};

/// Serves `/remote.jpg` (a picture) and `/big.bin` (2 MB) on 127.0.0.1; returns its base URL.
async fn remote_host(jpg: Vec<u8>) -> String {
    let big = vec![7u8; 2_000_000];
    let app = axum::Router::new()
        .route(
            "/remote.jpg",
            axum::routing::get(move || async move { jpg.clone() }),
        )
        .route(
            "/big.bin",
            axum::routing::get(move || async move { big.clone() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn run(s: &AppServer, args: &[&str]) -> Output {
    let mut cmd = s.cmd(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run wximg"))
        .await
        .unwrap()
}

/// Every `{base}/mmbiz_…?from=appmsg` URL in `text`.
fn hosted_urls(text: &str, base: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&format!("{base}/mmbiz_")) {
        let end = rest[i..].find("from=appmsg").expect("URL end") + i + "from=appmsg".len();
        out.push(rest[i..end].to_string());
        rest = &rest[end..];
    }
    out
}

fn fixtures(dir: &Path) {
    write_picture(dir, "img/a.jpg", &picture(300, 200, 1), ImageFormat::Jpeg);
    write_picture(dir, "img/b.webp", &picture(200, 150, 2), ImageFormat::WebP);
    write_picture(dir, "img/c d.png", &picture(90, 60, 3), ImageFormat::Png);
}

/// The scene of every test: a server with an app, a remote host serving `remote_jpg`
/// (its base URL), and a scratch directory holding the [`fixtures`].
async fn scene(remote_jpg: Vec<u8>) -> (AppServer, String, tempfile::TempDir) {
    let s = AppServer::start();
    let remote = remote_host(remote_jpg).await;
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    (s, remote, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_article_is_rewritten_and_rerun_uploads_nothing() {
    let (s, remote, dir) = scene(encode(&picture(250, 100, 4), ImageFormat::Jpeg)).await;
    let remote_url = format!("{remote}/remote.jpg");
    let article = format!(
        "# A post\n\nIntro with a [link](https://example.invalid/page) and `![code](x.png)`.\n\n\
         ![local *jpg*](img/a.jpg \"A\")\n\n![needs fit](img/b.webp)\n\n![remote][r]\n\n\
         <p><img src=\"img/c%20d.png\" alt=\"c\"> <img srcset=\"img/a.jpg 1x, {remote_url} 2x\"></p>\n\n\
         ![already hosted](http://mmbiz.qpic.cn/mmbiz_jpg/abc/0?from=appmsg)\n\n[r]: {remote_url}\n"
    );
    let md = write(dir.path(), "post.md", article.as_bytes());
    let out_path = dir.path().join("out.md");

    let o = run(
        &s,
        &[
            "publish",
            md.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("4 uploaded"), "{}", stderr(&o));
    let out = std::fs::read_to_string(&out_path).unwrap();
    let urls = hosted_urls(&out, &s.server.base);
    assert_eq!(urls.len(), 6, "six picture URLs rewritten:\n{out}");
    for u in &urls {
        let (status, body) = get_async(u).await;
        assert_eq!(status, 200, "{u}");
        wximg_proto::Rules::default()
            .check(&body)
            .expect("hosted picture passes the rules");
    }
    // Everything but the URLs is byte-identical.
    let mut expected = article.clone();
    for u in [
        "img/a.jpg",
        "img/b.webp",
        "img/c%20d.png",
        remote_url.as_str(),
    ] {
        expected = expected.replace(u, "URL");
    }
    let mut got = out.clone();
    for u in &urls {
        got = got.replacen(u.as_str(), "URL", 1);
    }
    assert_eq!(got, expected);
    assert!(out.contains("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0?from=appmsg"));
    assert!(out.contains("`![code](x.png)`"));
    assert!(dir.path().join(".post.md.wximg-cache.json").exists());

    // Re-run with a wrong secret: any upload (or token call) would fail, so success means
    // nothing was sent.
    let mut cmd = s.cmd(&["publish", md.to_str().unwrap()]);
    cmd.env("WXIMG_SECRET", "f".repeat(32))
        .env("WXIMG_CACHE_DIR", dir.path().join("empty"));
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 uploaded, 4 from the cache"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stdout(&o),
        out,
        "the same article again, on standard output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_place_with_backup() {
    let (s, remote, dir) = scene(encode(&picture(80, 80, 5), ImageFormat::Jpeg)).await;
    let html = format!(
        "<!doctype html>\n<html><body>\n<h1>T</h1>\n<IMG SRC='img/a.jpg'   class=x>\n\
         <picture><source srcset=\"img/b.webp\"><img src=\"{remote}/remote.jpg\" alt=\"r\"></picture>\n\
         </body></html>\n"
    );
    let page = write(dir.path(), "page.html", html.as_bytes());
    let o = run(&s, &["publish", "--in-place", page.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let backup = std::fs::read_to_string(dir.path().join("page.html.bak")).unwrap();
    assert_eq!(backup, html);
    let now = std::fs::read_to_string(&page).unwrap();
    assert_eq!(hosted_urls(&now, &s.server.base).len(), 3, "{now}");
    assert!(
        now.contains("<IMG SRC='") && now.contains("'   class=x>"),
        "{now}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_pictures_block_the_write_unless_allowed() {
    let (s, remote, dir) = scene(Vec::new()).await;
    let md = write(
        dir.path(),
        "broken.md",
        format!("![ok](img/a.jpg)\n![gone](nope.png)\n![too big]({remote}/big.bin)\n![404]({remote}/none.jpg)\n")
            .as_bytes(),
    );
    let out = dir.path().join("out.md");
    let args = [
        "publish",
        md.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--max-download",
        "1000000",
    ];
    let o = run(&s, &args).await;
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("nope.png") && err.contains("big.bin") && err.contains("none.jpg"),
        "{err}"
    );
    assert!(err.contains("3 failed"), "{err}");
    assert!(!out.exists(), "not written without --allow-missing");

    let mut with = args.to_vec();
    with.push("--allow-missing");
    let o = run(&s, &with).await;
    assert!(!o.status.success(), "still reported as a failure");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(hosted_urls(&text, &s.server.base).len(), 1);
    assert!(text.contains("![gone](nope.png)"));
}

/// Control characters in an article's picture URL reach the terminal escaped, never as
/// the escape sequences they are (the old code echoed `\x1b[…` raw to stderr).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_urls_reach_the_terminal_escaped() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let md = write(
        dir.path(),
        "hostile.html",
        "<p><img src=\"gone\x1b]0;owned\x07\x1b[2J.png\"></p>\n".as_bytes(),
    );
    let o = run(&s, &["publish", md.to_str().unwrap(), "-o", "/dev/null"]).await;
    assert!(!o.status.success(), "a missing picture is a failure");
    let err = stderr(&o);
    assert!(err.contains("gone"), "the failure names the picture: {err}");
    assert!(
        !err.contains('\x1b') && !err.contains('\x07'),
        "raw control characters on stderr: {err:?}"
    );
    assert!(err.contains("\\u{1b}"), "shown escaped instead: {err}");
}
