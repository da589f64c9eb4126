//! The defects a writer hit with `wximg publish` and `wximg upload`, each against a real
//! `wximg serve`: pictures the rewrite missed (`data-src`, lazy placeholders, `data:`,
//! `background-image`), a batch a person can read, a cache that survives an interrupted
//! run and is shared, backups never overwritten, settings from a config file, and
//! messages said once with what to do.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use image::ImageFormat;

use crate::support::client::AppServer;
use crate::support::pictures::{encode, picture, write, write_picture};
use crate::support::{stderr, stdout};

/// Every `{base}/mmbiz_…?from=appmsg` URL in `text`.
fn hosted(text: &str, base: &str) -> usize {
    text.matches(&format!("{base}/mmbiz_")).count()
}

#[test]
fn lazy_data_and_background_pictures_are_rehosted() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(
        dir.path(),
        "lazy.jpg",
        &picture(120, 90, 1),
        ImageFormat::Jpeg,
    );
    write_picture(dir.path(), "ds.png", &picture(60, 40, 2), ImageFormat::Png);
    write_picture(dir.path(), "bg.jpg", &picture(80, 80, 3), ImageFormat::Jpeg);
    let inline = base64::engine::general_purpose::STANDARD
        .encode(encode(&picture(30, 20, 4), ImageFormat::Png));
    let html = format!(
        "<p><img src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\" data-src=\"lazy.jpg\"></p>\n\
         <p><img data-src=\"ds.png\"></p>\n\
         <p><img src=\"data:image/png;base64,{inline}\"></p>\n\
         <section style=\"padding:4px;background-image:url(&quot;bg.jpg&quot;)\">x</section>\n"
    );
    let page = write(dir.path(), "page.html", html.as_bytes());
    let out = dir.path().join("out.html");
    let o = s.run(&[
        "publish",
        page.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = std::fs::read_to_string(&out).unwrap();
    for gone in ["lazy.jpg", "ds.png", "bg.jpg", "data:"] {
        assert!(!got.contains(gone), "{gone} left in:\n{got}");
    }
    // lazy: src + data-src; ds: data-src; the data: picture; the background.
    assert_eq!(hosted(&got, &s.server.base), 5, "{got}");
    assert!(stderr(&o).contains("4 uploaded"), "{}", stderr(&o));
}

/// Serves `/slow.jpg` only after `delay`, `/pic.jpg` at once; counts the hits of each.
async fn picture_host(jpg: Vec<u8>, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    let (j1, j2) = (jpg.clone(), jpg);
    let app = axum::Router::new()
        .route(
            "/pic.jpg",
            axum::routing::get(move || {
                h1.fetch_add(1, Ordering::SeqCst);
                let j = j1.clone();
                async move { j }
            }),
        )
        .route(
            "/slow.jpg",
            axum::routing::get(move || {
                h2.fetch_add(1, Ordering::SeqCst);
                let j = j2.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    j
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_publish_keeps_what_it_uploaded_and_remote_pictures_are_cached_by_url() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (host, hits) = picture_host(
        encode(&picture(90, 60, 7), ImageFormat::Jpeg),
        Duration::from_secs(60),
    )
    .await;
    write_picture(
        dir.path(),
        "one.jpg",
        &picture(100, 70, 5),
        ImageFormat::Jpeg,
    );
    write_picture(dir.path(), "two.png", &picture(50, 50, 6), ImageFormat::Png);
    let md = write(
        dir.path(),
        "post.md",
        format!(
            "![1](one.jpg)\n\n![2](two.png)\n\n![r]({host}/pic.jpg)\n\n![s]({host}/slow.jpg)\n"
        )
        .as_bytes(),
    );
    let cache = dir.path().join(".post.md.wximg-cache.json");
    let mut child = s
        .cmd(&["publish", "--allow-private-addresses", md.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Three pictures are done while the fourth hangs: they are in the cache already.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&cache).unwrap_or_default();
        // 3 by content + the remote one by its address.
        if hosted(&text, &s.server.base) >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cache not saved per picture: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    let pic_hits = hits.load(Ordering::SeqCst);

    // The re-run (the slow picture removed) uploads nothing and downloads nothing.
    let text = std::fs::read_to_string(&md)
        .unwrap()
        .replace(&format!("![s]({host}/slow.jpg)\n"), "");
    std::fs::write(&md, text).unwrap();
    let mut cmd = s.cmd(&["publish", "--allow-private-addresses", md.to_str().unwrap()]);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 uploaded, 3 from the cache"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        pic_hits,
        "the remote picture was downloaded again"
    );
}

#[test]
fn one_cache_serves_many_articles() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(
        dir.path(),
        "shared.jpg",
        &picture(100, 70, 8),
        ImageFormat::Jpeg,
    );
    let a = write(dir.path(), "a.md", b"![x](shared.jpg)\n");
    let b = write(dir.path(), "b.md", b"Other text.\n\n![y](shared.jpg)\n");
    let cache = dir.path().join("pictures.json");
    let c = cache.to_str().unwrap();
    let o = s.run(&["publish", a.to_str().unwrap(), "--cache", c]);
    assert!(stderr(&o).contains("1 uploaded"), "{}", stderr(&o));
    let o = s.run(&["publish", b.to_str().unwrap(), "--cache", c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 uploaded, 1 from the cache"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join(".b.md.wximg-cache.json").exists());
}

#[test]
fn in_place_never_overwrites_a_backup_and_output_over_input_is_refused() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(dir.path(), "p.jpg", &picture(100, 70, 9), ImageFormat::Jpeg);
    let original = "# Post\n\n![p](p.jpg)\n";
    let md = write(dir.path(), "post.md", original.as_bytes());
    let in_place = || {
        let o = s.run(&["publish", md.to_str().unwrap(), "--in-place"]);
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    in_place();
    // A second picture added to the rewritten article: a second backup, the first kept.
    write_picture(dir.path(), "q.jpg", &picture(90, 60, 4), ImageFormat::Jpeg);
    let rewritten = std::fs::read_to_string(&md).unwrap();
    std::fs::write(&md, format!("{rewritten}\n![q](q.jpg)\n")).unwrap();
    in_place();
    let bak = std::fs::read_to_string(dir.path().join("post.md.bak")).unwrap();
    assert_eq!(bak, original, "the first backup is the original, still");
    assert!(dir.path().join("post.md.bak.1").exists());
    // Nothing left to change: no third backup, the article untouched.
    let done = std::fs::read(&md).unwrap();
    let o = in_place();
    assert!(stderr(&o).contains("nothing to change"), "{}", stderr(&o));
    assert!(!dir.path().join("post.md.bak.2").exists());
    assert_eq!(std::fs::read(&md).unwrap(), done);

    let before = std::fs::read(&md).unwrap();
    let o = s.run(&["publish", md.to_str().unwrap(), "-o", md.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--in-place"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&md).unwrap(), before);
}

#[test]
fn upload_results_on_stdout_errors_on_stderr_and_a_summary() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let good = write_picture(
        dir.path(),
        "good.jpg",
        &picture(80, 60, 1),
        ImageFormat::Jpeg,
    );
    let same = write(dir.path(), "same.jpg", &std::fs::read(&good).unwrap());
    let bad = write(dir.path(), "bad.txt", b"not a picture");
    let sub = dir.path().join("a_directory");
    std::fs::create_dir(&sub).unwrap();
    let o = s.run(&[
        "upload",
        good.to_str().unwrap(),
        same.to_str().unwrap(),
        bad.to_str().unwrap(),
        sub.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(out.lines().count(), 2, "two results on stdout:\n{out}");
    assert!(out.lines().all(|l| l.contains(" → ")), "{out}");
    assert!(
        !out.contains("bad.txt") && err.contains("bad.txt"),
        "{out}\n{err}"
    );
    assert!(err.contains("1 uploaded, 2 failed, 1 unchanged"), "{err}");
    // The directory: said once, with what to do.
    let d = sub.display().to_string();
    assert_eq!(err.matches(&d).count(), 2, "{err}"); // the name and the example
    assert!(
        err.contains("is a directory: give the pictures inside it"),
        "{err}"
    );
}

#[test]
fn heic_and_gbk_are_said_once_with_what_to_do() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[0u8; 64]);
    let h = write(dir.path(), "photo.heic", &heic);
    for fit in [false, true] {
        let mut args = vec!["upload", h.to_str().unwrap()];
        if fit {
            args.push("--fit");
        }
        let o = s.run(&args);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(!err.contains("use --fit"), "{err}");
        assert!(err.contains("convert it to JPEG"), "{err}");
        assert_eq!(err.matches("HEIC").count(), 1, "said once: {err}");
    }

    // "你好" in GBK.
    let gbk = write(dir.path(), "gbk.md", b"# \xc4\xe3\xba\xc3\n");
    let o = s.run(&["publish", gbk.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("iconv -f GBK -t UTF-8"), "{err}");
    assert_eq!(
        err.matches("UTF-8").count(),
        2,
        "once, with the command: {err}"
    );
    assert!(!err.contains("stream did not contain"), "{err}");
    let o = s.run(&["publish", dir.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is a directory: give the article's file"),
        "{}",
        stderr(&o)
    );
}

fn write_private(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_profile_in_the_config_file_is_all_a_writer_needs() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(
        dir.path(),
        "cover.jpg",
        &picture(200, 100, 3),
        ImageFormat::Jpeg,
    );
    let md = write(
        dir.path(),
        "post.md",
        b"---\ncover: cover.jpg\n---\n# Configured\n\nBody.\n",
    );
    let secret = dir.path().join("blog.secret");
    write_private(&secret, &format!("{}\n", s.secret), 0o600);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default = \"blog\"\n[profiles.blog]\nbase_url = \"{}\"\nappid = \"{}\"\n\
             token_endpoint = \"token\"\nsecret_file = \"{}\"\ntheme = \"warm\"\n\
             [profiles.other]\nappid = \"wx0000000000000000\"\n",
            s.server.base,
            s.appid,
            secret.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = s.cmd(args);
        c.env("WXIMG_CONFIG", &config)
            .env_remove("WXIMG_BASE_URL")
            .env_remove("WXIMG_APPID")
            .env_remove("WXIMG_SECRET");
        c.output().unwrap()
    };
    let o = run(&["publish", md.to_str().unwrap(), "--draft"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("draft created"), "{}", stdout(&o));

    // A secret file others may read is refused, with the fix.
    write_private(&secret, &s.secret, 0o644);
    let o = run(&["token"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    // A profile without a secret says where one goes; an unknown profile lists the known.
    let o = run(&["token", "--profile", "other"]);
    assert!(stderr(&o).contains("secret_file"), "{}", stderr(&o));
    let o = run(&["token", "--profile", "nope"]);
    assert!(stderr(&o).contains("blog, other"), "{}", stderr(&o));
}

/// Ctrl-C in the middle of a batch: the partial summary, exit 130. Every upload answers
/// -1 here, and the Ctrl-C comes as soon as the server has answered the first one, so the
/// client is still backing off on the first picture (five more tries, ~4 s on average).
/// A fixed 1.5 s sleep before it lost that race now and then: the pauses are jittered
/// and once summed to less.
#[test]
fn ctrl_c_ends_a_batch_with_a_partial_summary() {
    let s = AppServer::start_with(&["--faults", "uploadimg:-1:1"]);
    let dir = tempfile::tempdir().unwrap();
    let a = write_picture(dir.path(), "a.jpg", &picture(80, 60, 1), ImageFormat::Jpeg);
    let b = write_picture(dir.path(), "b.png", &picture(40, 30, 2), ImageFormat::Png);
    let child = s
        .cmd(&[
            "upload",
            "--jobs",
            "1",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::client::wait_for_fault(&s.server.base);
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted: 0 uploaded, 0 failed, 0 unchanged, 2 not done"),
        "{}",
        stderr(&o)
    );
}

/// `upload` of a FIFO once waited forever for a writer (and Ctrl-C with it): it is
/// refused at once, as `publish` refuses one an article names.
#[test]
fn upload_refuses_a_fifo_at_once() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f.jpg");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|st| st.success()), "mkfifo");
    let mut child = s
        .cmd(&["upload", "--fit", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("upload of a FIFO still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("a FIFO, not a regular file"), "{err}");
    assert!(err.contains("0 uploaded, 1 failed"), "{err}");
}

/// Each cause once: a write error repeated its I/O error ("outdir: is a directory: is a
/// directory") and named tempfile's temporary file; `-` and `--download-timeout 0` were
/// not told apart from a missing file and a timeout.
#[test]
fn write_and_argument_errors_are_said_once() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let md = write(dir.path(), "post.md", b"# T\n\ntext\n");
    let outdir = dir.path().join("outdir");
    std::fs::create_dir(&outdir).unwrap();
    let md = md.to_str().unwrap();
    let o = s.run(&["publish", md, "-o", outdir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).matches("is a directory").count(),
        1,
        "{}",
        stderr(&o)
    );
    let missing = dir.path().join("nodir/x.md");
    let o = s.run(&["publish", md, "-o", missing.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(
        !err.contains(".wximg-"),
        "the temporary file is not named: {err}"
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let o = s.run(&["publish", "-"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("save it to a file"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("No such file"), "{}", stderr(&o));
    let o = s.run(&["publish", md, "--download-timeout", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--download-timeout"), "{}", stderr(&o));
    // UTF-16 is named as such, with the iconv that converts it.
    let u16 = write(dir.path(), "u16.md", b"\xff\xfe#\0 \0T\0\n\0");
    let o = s.run(&["publish", u16.to_str().unwrap(), "--draft", "--dry-run"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("UTF-16 LE") && err.contains("iconv -f UTF-16 -t UTF-8"),
        "{err}"
    );
    assert!(!err.contains("GBK"), "{err}");
}

#[test]
fn a_cache_that_cannot_be_saved_is_said_once() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_picture(dir.path(), "p.jpg", &picture(100, 70, 3), ImageFormat::Jpeg);
    write_picture(dir.path(), "q.jpg", &picture(90, 70, 5), ImageFormat::Jpeg);
    let md = write(
        dir.path(),
        "post.md",
        b"# Post\n\n![p](p.jpg)\n\n![q](q.jpg)\n",
    );
    let not_a_file = dir.path().join("cache-dir");
    std::fs::create_dir(&not_a_file).unwrap();
    let o = s.run(&[
        "publish",
        md.to_str().unwrap(),
        "--cache",
        not_a_file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.matches("the picture cache could not be saved").count(),
        1,
        "{err}"
    );
    assert!(err.contains("--cache"), "{err}");
}
