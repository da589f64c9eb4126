//! `wximg publish` against a real `wximg serve`, with local pictures and remote ones
//! served by the test on loopback (so the tests that fetch them pass
//! `--allow-private-addresses`), and untrusted articles that try to read more.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use image::ImageFormat;

use crate::support::client::AppServer;
use crate::support::pictures::{encode, picture, write, write_picture};
use crate::support::{Watched, get_async, output_watched, stderr, stdout};

/// Serves `/remote.jpg` (a picture), `/big.bin` (2 MB) and `/stall.jpg` (never
/// answered) on 127.0.0.1; returns its base URL.
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
        )
        .route(
            "/stall.jpg",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }),
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
            "--allow-private-addresses",
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
    let mut cmd = s.cmd(&["publish", "--allow-private-addresses", md.to_str().unwrap()]);
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
    let o = run(
        &s,
        &[
            "publish",
            "--allow-private-addresses",
            "--in-place",
            page.to_str().unwrap(),
        ],
    )
    .await;
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
        "--allow-private-addresses",
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

/// `wximg ARGS…` under [`output_watched`]: killed (and the test failed) past 60 s or a
/// 300 MiB peak RSS.
async fn run_watched(s: &AppServer, args: &[&str]) -> Watched {
    let cmd = s.cmd(args);
    tokio::task::spawn_blocking(move || output_watched(cmd, Duration::from_secs(60), 300 << 10))
        .await
        .unwrap()
}

/// The failure line `publish` printed for `picture` (`  PICTURE: reason`).
fn failure<'a>(err: &'a str, picture: &str) -> &'a str {
    let head = format!("  {picture}: ");
    err.lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no failure line for {picture}:\n{err}"))
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// Issue #12 point 10, local pictures. An untrusted article reads only regular files
/// inside its own directory, at most the byte cap of downloads: an absolute path, a
/// `file:` URL, `../`, a symlink leading out, `/dev/zero`, a FIFO, a directory and an
/// oversized file are each refused with the flag that would allow it (if any), nothing
/// of theirs is uploaded and their references stay as written. The old code uploaded the
/// outside picture under all four names and read `/dev/zero` until memory ran out (and
/// would block forever on the FIFO); `output_watched` turns either into a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_article_reads_only_regular_files_in_its_directory() {
    let s = AppServer::start();
    let root = tempfile::tempdir().unwrap();
    let art = root.path().join("article");
    write_picture(&art, "img/in.jpg", &picture(120, 80, 11), ImageFormat::Jpeg);
    let outside = write_picture(
        root.path(),
        "outside.jpg",
        &picture(100, 70, 12),
        ImageFormat::Jpeg,
    );
    let outside = outside.to_str().unwrap();
    std::os::unix::fs::symlink(outside, art.join("img/link.jpg")).unwrap();
    mkfifo(&art.join("img/pipe.jpg"));
    std::fs::create_dir(art.join("img/dir.png")).unwrap();
    write(&art, "img/big.jpg", &vec![0u8; 1_500_000]);
    let article = format!(
        "![in](img/in.jpg)\n![zero](/dev/zero)\n![abs]({outside})\n![file](file://{outside})\n\
         ![up](../outside.jpg)\n![link](img/link.jpg)\n![pipe](img/pipe.jpg)\n\
         ![dir](img/dir.png)\n![big](img/big.jpg)\n"
    );
    let md = write(&art, "post.md", article.as_bytes());
    let out = root.path().join("out.md");
    let (md, out) = (md.to_str().unwrap(), out.to_str().unwrap());
    let base = ["publish", md, "-o", out, "--max-download", "1000000"];

    let w = run_watched(&s, &base).await;
    let err = stderr(&w.output);
    assert!(!w.output.status.success(), "{err}");
    assert!(
        err.contains("1 uploaded") && err.contains("8 failed"),
        "{err}"
    );
    assert!(!Path::new(out).exists(), "written despite failures: {err}");
    let file_url = format!("file://{outside}");
    for absolute in ["/dev/zero", outside, file_url.as_str()] {
        let line = failure(&err, absolute);
        assert!(
            line.contains("absolute path or file: URL") && line.contains("--allow-outside-dir"),
            "{line}"
        );
    }
    for escape in ["../outside.jpg", "img/link.jpg"] {
        let line = failure(&err, escape);
        assert!(
            line.contains("outside the article's directory")
                && line.contains("--allow-outside-dir"),
            "{line}"
        );
    }
    assert!(
        failure(&err, "img/pipe.jpg").contains("is a FIFO, not a regular file"),
        "{err}"
    );
    assert!(
        failure(&err, "img/dir.png").contains("is a directory, not a regular file"),
        "{err}"
    );
    assert!(
        failure(&err, "img/big.jpg").contains("larger than the 1000000-byte limit"),
        "{err}"
    );

    // Written anyway: only the picture inside is rewritten, every other reference kept.
    let mut allow_missing = base.to_vec();
    allow_missing.push("--allow-missing");
    let w = run_watched(&s, &allow_missing).await;
    assert!(!w.output.status.success(), "still a failure");
    let text = std::fs::read_to_string(out).unwrap();
    assert_eq!(hosted_urls(&text, &s.server.base).len(), 1, "{text}");
    assert_eq!(
        text.replacen(&hosted_urls(&text, &s.server.base)[0], "img/in.jpg", 1),
        article
    );

    // A trusted article may name files anywhere, but still only regular ones.
    allow_missing.push("--allow-outside-dir");
    let w = run_watched(&s, &allow_missing).await;
    let err = stderr(&w.output);
    assert!(
        err.contains("5 picture(s) re-hosted") && err.contains("4 failed"),
        "{err}"
    );
    assert!(
        failure(&err, "/dev/zero").contains("is a device, not a regular file"),
        "{err}"
    );
    assert!(failure(&err, "img/pipe.jpg").contains("a FIFO"), "{err}");
    let text = std::fs::read_to_string(out).unwrap();
    assert_eq!(hosted_urls(&text, &s.server.base).len(), 5, "{text}");
    assert!(text.contains("![zero](/dev/zero)"), "{text}");
}

/// Serves, on 127.0.0.1: `/remote.jpg`, `/hop` (a redirect to it), `/to-file` and
/// `/to-ftp` (redirects to other schemes) and `/loop` (a redirect to itself); counts the
/// requests it gets.
async fn redirecting_host(jpg: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    use axum::response::Redirect;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new()
        .route(
            "/remote.jpg",
            axum::routing::get(move || async move { jpg.clone() }),
        )
        .route(
            "/hop",
            axum::routing::get(|| async { Redirect::to("/remote.jpg") }),
        )
        .route(
            "/to-file",
            axum::routing::get(|| async { Redirect::temporary("file:///etc/passwd") }),
        )
        .route(
            "/to-ftp",
            axum::routing::get(|| async { Redirect::permanent("ftp://127.0.0.1/x.jpg") }),
        )
        .route(
            "/loop",
            axum::routing::get(|| async { Redirect::to("/loop") }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

/// Issue #12 point 10, remote pictures. By default nothing is fetched from a non-public
/// address: a loopback literal, and a name (`localhost`) resolving only to loopback, are
/// refused before any request reaches the service, with the flag that allows it. With
/// `--allow-private-addresses`, redirects are still followed only to http(s): one to
/// `file:` or `ftp:` is refused by name, a loop ends; an http redirect still works. The
/// old code fetched both loopback pictures and re-hosted them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_article_fetches_only_public_http() {
    let s = AppServer::start();
    let (remote, hits) = redirecting_host(encode(&picture(90, 60, 21), ImageFormat::Jpeg)).await;
    let port = remote.rsplit(':').next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let literal = format!("{remote}/remote.jpg");
    let named = format!("http://localhost:{port}/remote.jpg");
    let md = write(
        dir.path(),
        "post.md",
        format!("![a]({literal})\n![b]({named})\n").as_bytes(),
    );
    let md = md.to_str().unwrap();
    let w = run_watched(&s, &["publish", md, "-o", "/dev/null"]).await;
    let err = stderr(&w.output);
    assert!(!w.output.status.success(), "{err}");
    assert!(
        err.contains("2 failed") && err.contains("0 uploaded"),
        "{err}"
    );
    let line = failure(&err, &literal);
    assert!(
        line.contains("127.0.0.1 is a loopback address")
            && line.contains("--allow-private-addresses"),
        "{line}"
    );
    let line = failure(&err, &named);
    assert!(
        line.contains("localhost resolves to no public address")
            && line.contains("--allow-private-addresses"),
        "{line}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request reached the service"
    );

    let pictures = ["to-file", "to-ftp", "loop", "hop"].map(|p| format!("{remote}/{p}"));
    let md2 = write(
        dir.path(),
        "hops.md",
        pictures
            .iter()
            .map(|u| format!("![x]({u})\n"))
            .collect::<String>()
            .as_bytes(),
    );
    let out = dir.path().join("hops.out.md");
    let w = run_watched(
        &s,
        &[
            "publish",
            "--allow-private-addresses",
            "--allow-missing",
            md2.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let err = stderr(&w.output);
    assert!(
        err.contains("1 uploaded") && err.contains("3 failed"),
        "{err}"
    );
    let line = failure(&err, &pictures[0]);
    assert!(
        line.contains(
            "redirected to file:///etc/passwd: file: URLs are not fetched (only http and https)"
        ),
        "{line}"
    );
    let line = failure(&err, &pictures[1]);
    assert!(
        line.contains("redirected to ftp://127.0.0.1/x.jpg: ftp: URLs are not fetched"),
        "{line}"
    );
    assert!(
        failure(&err, &pictures[2]).contains("more than 10 redirects"),
        "{err}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(hosted_urls(&text, &s.server.base).len(), 1, "{text}");
    assert!(text.contains(&format!("![x]({})", pictures[0])), "{text}");
}

/// Siblings of point 10: the publish cache sits beside the article, so an untrusted
/// article's directory may bring its own. A cache that is a symlink to `/dev/zero` is not
/// read (the old code read it until memory ran out), and an entry that maps a picture to
/// a URL of the author's choosing (not the form uploadimg answers with) is not believed:
/// the picture is uploaded and gets the server's URL. A symlink left at ARTICLE.bak is
/// not written through: `--in-place` leaves it and keeps the backup as ARTICLE.bak.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_cache_or_backup_link_is_not_followed_or_believed() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pic = write_picture(
        dir.path(),
        "in.jpg",
        &picture(60, 40, 31),
        ImageFormat::Jpeg,
    );
    let md = write(dir.path(), "post.md", b"![x](in.jpg)\n");
    let cache = dir.path().join(".post.md.wximg-cache.json");
    std::os::unix::fs::symlink("/dev/zero", &cache).unwrap();
    let victim = write(dir.path(), "victim.txt", b"keep me");
    std::os::unix::fs::symlink(&victim, dir.path().join("post.md.bak")).unwrap();
    let md = md.to_str().unwrap();
    let w = run_watched(&s, &["publish", md, "--in-place"]).await;
    assert!(w.output.status.success(), "{}", stderr(&w.output));
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"keep me",
        "written through the .bak link"
    );
    // An existing ARTICLE.bak, link or not, is never replaced: the next free name is.
    assert!(
        std::fs::symlink_metadata(dir.path().join("post.md.bak"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read(dir.path().join("post.md.bak.1")).unwrap(),
        b"![x](in.jpg)\n"
    );

    // The cache the run saved replaced the link; now plant an entry in it.
    std::fs::write(md, b"![x](in.jpg)\n").unwrap();
    let hash = blake3::hash(&std::fs::read(&pic).unwrap())
        .to_hex()
        .to_string();
    let server = format!("{} {}", s.server.base, s.appid);
    let planted = serde_json::json!({
        "version": 1,
        "servers": { server: { hash: "https://tracker.example/pixel.gif" } },
    });
    std::fs::write(&cache, planted.to_string()).unwrap();
    let w = run_watched(&s, &["publish", md]).await;
    let (out, err) = (stdout(&w.output), stderr(&w.output));
    assert!(w.output.status.success(), "{err}");
    assert!(err.contains("1 uploaded, 0 from the cache"), "{err}");
    assert!(!out.contains("tracker.example"), "{out}");
    assert_eq!(hosted_urls(&out, &s.server.base).len(), 1, "{out}");
}

/// Ctrl-C in the middle of a publish: exit 130 with what was done so far, and what was
/// uploaded before it is in the cache, so the next run does not send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_says_what_was_done_and_keeps_it() {
    let (s, remote, dir) = scene(encode(&picture(60, 40, 8), ImageFormat::Jpeg)).await;
    let article = format!("# P\n\n![a](img/a.jpg)\n\n![stalls]({remote}/stall.jpg)\n");
    let md = write(dir.path(), "post.md", article.as_bytes());
    let cache = dir.path().join(".post.md.wximg-cache.json");
    let child = s
        .cmd(&[
            "publish",
            "--allow-private-addresses",
            "--jobs",
            "2",
            md.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once the local picture is uploaded (its URL saved) and the remote one
    // still hangs.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&cache).is_ok_and(|c| c.contains("/mmbiz_jpg/")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first picture was never cached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted: 1 uploaded, 0 from the cache, 0 failed so far"),
        "{}",
        stderr(&o)
    );
    // The next run takes the first picture from the cache (the stalled one times out).
    let o = run(
        &s,
        &[
            "publish",
            "--allow-private-addresses",
            "--download-timeout",
            "1",
            "--allow-missing",
            md.to_str().unwrap(),
        ],
    )
    .await;
    assert!(o.status.code() == Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 uploaded, 1 from the cache") && stderr(&o).contains("1 failed"),
        "{}",
        stderr(&o)
    );
}
