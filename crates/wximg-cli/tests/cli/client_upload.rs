//! `wximg upload` and `wximg token` against a real `wximg serve`.

use std::time::Duration;

use image::ImageFormat;

use crate::support::client::AppServer;
use crate::support::pictures::{flat_png, picture, write, write_picture};
use crate::support::{get, http, output_watched, stable_token, stderr, stdout};

#[test]
fn upload_prints_urls_dedups_and_reports_refusals() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let jpg = write_picture(
        dir.path(),
        "a.jpg",
        &picture(320, 200, 1),
        ImageFormat::Jpeg,
    );
    let png = write_picture(dir.path(), "b.png", &picture(100, 80, 2), ImageFormat::Png);
    let dup = write(dir.path(), "copy of a.jpg", &std::fs::read(&jpg).unwrap());
    let webp = write_picture(dir.path(), "c.webp", &picture(64, 64, 3), ImageFormat::WebP);

    let out = s.run(&[
        "upload",
        "--json",
        jpg.to_str().unwrap(),
        png.to_str().unwrap(),
        dup.to_str().unwrap(),
        webp.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "a refused file makes the exit status non-zero"
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 4, "{}", stdout(&out));
    let by_path = |p: &std::path::Path| {
        lines
            .iter()
            .find(|v| v["path"] == p.to_str().unwrap())
            .unwrap_or_else(|| panic!("no line for {p:?}"))
            .clone()
    };
    let a = by_path(&jpg);
    let url_a = a["url"].as_str().expect("url for a.jpg");
    assert!(
        url_a.starts_with(&s.server.base) && url_a.contains("/mmbiz_jpg/"),
        "{url_a}"
    );
    assert_eq!(
        by_path(&dup)["url"],
        a["url"],
        "identical files get one URL"
    );
    assert!(
        by_path(&png)["url"]
            .as_str()
            .unwrap()
            .contains("/mmbiz_png/")
    );
    let w = by_path(&webp);
    assert_eq!(w["errcode"], 40005, "{w}");
    assert!(w["errmsg"].as_str().unwrap().contains("WebP"), "{w}");

    // The URL serves the exact bytes.
    let (status, body) = get(url_a);
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(&jpg).unwrap());

    // Plain output: `path → url` on stdout, `path: code message` on stderr.
    let out = s.run(&["upload", jpg.to_str().unwrap(), webp.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{} → {url_a}", jpg.display())),
        "{text}"
    );
    assert!(
        stderr(&out).contains(&format!("{}: 40005 invalid file type", webp.display())),
        "{}",
        stderr(&out)
    );

    // With --fit the WebP is converted and accepted.
    let out = s.run(&["upload", "--fit", webp.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("/mmbiz_"), "{}", stdout(&out));
}

#[test]
fn token_is_cached_privately_and_bad_secret_is_explained() {
    let s = AppServer::start();
    let t1 = s.run(&["token"]);
    assert!(t1.status.success(), "{}", stderr(&t1));
    let t2 = s.run(&["token"]);
    assert_eq!(stdout(&t1), stdout(&t2), "the second call uses the cache");
    let files: Vec<_> = std::fs::read_dir(s.cache.path())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            files[0].metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let bad = s
        .cmd(&["token", "--token-endpoint", "token"])
        .env("WXIMG_SECRET", "0".repeat(32))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert!(err.contains("40125") && err.contains("--secret"), "{err}");
    assert!(
        !err.contains(&"0".repeat(32)),
        "the secret is never printed"
    );
}

#[test]
fn upload_recovers_after_the_token_is_force_refreshed() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let jpg = write_picture(
        dir.path(),
        "p.jpg",
        &picture(200, 100, 7),
        ImageFormat::Jpeg,
    );
    let old = stdout(&s.run(&["token"])).trim().to_string();
    assert!(!old.is_empty());

    // Someone else force-refreshes the stable token: the cached one is ended at once.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let new = rt.block_on(stable_token(
        &http(),
        &s.server.base,
        &s.appid,
        &s.secret,
        true,
    ));
    let new = new["access_token"].as_str().expect("new token").to_string();
    assert_ne!(new, old);

    // The CLI still holds the old token in its cache; the upload must recover.
    let out = s.run(&["upload", jpg.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("/mmbiz_jpg/"));
    let now = stdout(&s.run(&["token"])).trim().to_string();
    assert_eq!(now, new, "the cache now holds the current token");
}

/// Issue #12 point 11. `upload --fit --jobs 8` on a batch holding pixel bombs — real
/// PNGs of 40000×40000 and 12000×12000 pixels that are a few MB and ~420 KB on disk —
/// gives every file its JSON line: each bomb refused from its header with what to do,
/// the other files uploaded, and the peak RSS far from the GBs a decode takes. The code
/// before the decoder limit aborted the whole batch (SIGABRT on a failed 4.5 GB
/// allocation: no line for any file), or with the memory to spare, decoded 4.8 GB.
#[test]
fn fit_batch_refuses_pixel_bombs_and_reports_every_file() {
    let _heavy = crate::support::heavy();
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let small = write_picture(
        dir.path(),
        "a.jpg",
        &picture(320, 200, 1),
        ImageFormat::Jpeg,
    );
    let webp = write_picture(dir.path(), "c.webp", &picture(64, 64, 3), ImageFormat::WebP);
    let huge = write(dir.path(), "huge.png", &flat_png(40_000, 40_000, 1));
    let big = write(dir.path(), "big.png", &flat_png(12_000, 12_000, 2));
    let files = [&small, &huge, &webp, &big].map(|p| p.to_str().unwrap().to_string());
    let mut cmd = s.cmd(&["upload", "--fit", "--jobs", "8", "--json"]);
    cmd.args(&files);
    let w = output_watched(cmd, Duration::from_secs(120), 300 << 10);
    let out = stdout(&w.output);
    assert!(
        !w.output.status.success(),
        "a refusal: exit status non-zero"
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 4, "{out}{}", stderr(&w.output));
    for v in &lines {
        let path = v["path"].as_str().unwrap();
        if path.ends_with("big.png") {
            // 144 MP: no longer refused, but read a row at a time into a reduced copy.
            let summary = v["fit"]["summary"].as_str().unwrap_or_default();
            assert!(
                v["url"].as_str().is_some_and(|u| u.contains("/mmbiz_"))
                    && summary.contains("read at 1/"),
                "{v}"
            );
        } else if path.ends_with("huge.png") {
            let msg = v["errmsg"].as_str().unwrap_or_default();
            assert!(
                msg.contains("more than --fit reads") && msg.contains("scale it down"),
                "{v}"
            );
        } else {
            assert!(
                v["url"].as_str().is_some_and(|u| u.contains("/mmbiz_")),
                "{v}"
            );
        }
    }
    eprintln!(
        "upload --fit --jobs 8 with 40000² and 12000² PNGs: peak RSS {} MiB, {:?}",
        w.peak_kib >> 10,
        w.elapsed
    );
}
