//! The CDN's URL forms: width variants (`/640`, `/300`, `/1080`, `?tp=webp`), the
//! `sz_mmbiz_*` twins, and `--hotlink-protection`.

use std::time::Duration;

use wximg_proto::ImageId;
use wximg_store::TakedownRequest;

use crate::support::{TestApp, pictures, spawn_app, spawn_with};

/// Uploads `bytes` and returns the URL's base, without the `0?from=appmsg` tail
/// (`http://…/mmbiz_jpg/<id>/`).
async fn uploaded(app: &TestApp, bytes: Vec<u8>, name: &str) -> String {
    let token = app.official_token().await;
    let v = app.upload(&token, name, bytes).await;
    let url = v["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    url.strip_suffix("0?from=appmsg")
        .unwrap_or_else(|| panic!("uploadimg's URL form: {url}"))
        .to_string()
}

async fn decoded(resp: reqwest::Response) -> image::DynamicImage {
    let bytes = resp.bytes().await.expect("body");
    image::load_from_memory(&bytes).expect("a picture")
}

#[tokio::test]
async fn widths_are_smaller_same_format_immutable_and_never_enlarged() {
    let app = spawn_app().await;
    let original = pictures::jpeg(1600, 1200, 5);
    let base = uploaded(&app, original.clone(), "a.jpg").await;

    for (width, height) in [(640, 480), (300, 225), (1080, 810)] {
        let resp = app
            .fetch(&format!("{base}{width}?wx_fmt=jpeg&from=appmsg"))
            .await;
        assert_eq!(resp.status(), 200, "/{width}");
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "image/jpeg");
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
        let etag = h["etag"].to_str().unwrap().to_string();
        assert!(
            etag.starts_with('"') && etag.contains(&format!(".{width}.")),
            "{etag}"
        );
        let len: usize = h["content-length"].to_str().unwrap().parse().unwrap();
        assert!(len < original.len(), "/{width}: {len} ≥ {}", original.len());
        let img = decoded(resp).await;
        assert_eq!((img.width(), img.height()), (width, height), "/{width}");
        // Immutable: the same bytes again (from the cache), and 304 for the ETag.
        let again = app.fetch(&format!("{base}{width}")).await;
        assert_eq!(again.headers()["etag"], etag.as_str());
        let not_modified = app
            .http
            .get(format!("{base}{width}"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(not_modified.status(), 304);
        let part = app
            .http
            .get(format!("{base}{width}"))
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap().len(), 10);
    }
    // The original is unchanged under /0, with its own ETag.
    let whole = app.fetch(&format!("{base}0")).await;
    assert_eq!(whole.bytes().await.unwrap().to_vec(), original);

    // Never enlarged: a picture narrower than the width is answered with its own bytes.
    let small = pictures::jpeg(200, 150, 6);
    let base = uploaded(&app, small.clone(), "s.jpg").await;
    let resp = app.fetch(&format!("{base}640?wx_fmt=jpeg")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), small);
}

#[tokio::test]
async fn png_stays_png_and_keeps_its_alpha() {
    let app = spawn_app().await;
    let base = uploaded(&app, pictures::png(1000, 500, 9), "a.png").await;
    let resp = app.fetch(&format!("{base}640?wx_fmt=png")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let img = decoded(resp).await;
    assert_eq!((img.width(), img.height()), (640, 320));

    let base = uploaded(&app, pictures::png_with_alpha(800, 400), "b.png").await;
    let img = decoded(app.fetch(&format!("{base}300")).await).await;
    assert_eq!((img.width(), img.height()), (300, 150));
    assert!(img.color().has_alpha());
    // A PNG under its JPEG kind (and the reverse) is no picture.
    let wrong = base.replace("/mmbiz_png/", "/mmbiz_jpg/");
    assert_eq!(app.fetch(&format!("{wrong}300")).await.status(), 404);
}

#[tokio::test]
async fn tp_webp_gives_webp() {
    let app = spawn_app().await;
    let base = uploaded(&app, pictures::jpeg(1280, 720, 3), "a.jpg").await;
    let resp = app
        .fetch(&format!(
            "{base}640?wx_fmt=jpeg&tp=webp&wxfrom=5&wx_lazy=1&wx_co=1"
        ))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/webp");
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.contains(".webp."), "{etag}");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    let img = image::load_from_memory(&bytes).expect("a WebP");
    assert_eq!((img.width(), img.height()), (640, 360));
    // Without tp the same width is the JPEG variant, another representation.
    let jpeg = app.fetch(&format!("{base}640?wx_fmt=jpeg")).await;
    assert_eq!(jpeg.headers()["content-type"], "image/jpeg");
    assert_ne!(jpeg.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn unknown_widths_and_forms_are_not_found() {
    let app = spawn_app().await;
    let base = uploaded(&app, pictures::jpeg(800, 600, 4), "a.jpg").await;
    // The variants a picture can have are the platform's widths only: no width a
    // caller makes up costs a resize or a cache entry.
    for size in [
        "641",
        "1",
        "00",
        "0640",
        "-640",
        "99999999999999999999",
        "640x480",
    ] {
        assert_eq!(
            app.fetch(&format!("{base}{size}")).await.status(),
            404,
            "/{size}"
        );
    }
    assert_eq!(app.state.resizer.renders(), 0);
    assert_eq!(wximg_server::variants::MAX_VARIANTS_PER_PICTURE, 6);
}

#[tokio::test]
async fn sz_forms_serve_the_same_pictures() {
    let app = spawn_app().await;
    let bytes = pictures::jpeg(900, 600, 8);
    let base = uploaded(&app, bytes.clone(), "a.jpg").await;
    let sz = base.replace("/mmbiz_jpg/", "/sz_mmbiz_jpg/");
    let whole = app.fetch(&format!("{sz}0?wx_fmt=jpeg&from=appmsg")).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().to_vec(), bytes);
    let img = decoded(app.fetch(&format!("{sz}640?wx_fmt=jpeg")).await).await;
    assert_eq!((img.width(), img.height()), (640, 427));
    assert_eq!(
        app.fetch(&format!(
            "{}0",
            base.replace("/mmbiz_jpg/", "/sz_mmbiz_png/")
        ))
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn resizes_are_bounded_and_made_once() {
    let app = spawn_with(|s| s.variants.resize_concurrency = 1).await;
    let base = uploaded(&app, pictures::jpeg(1600, 1200, 11), "a.jpg").await;
    // Every variant of the picture at once: one resize at a time.
    let urls: Vec<String> = ["300", "640", "1080"]
        .iter()
        .flat_map(|w| [format!("{base}{w}"), format!("{base}{w}?tp=webp")])
        .collect();
    let answers = futures_util::future::join_all(urls.iter().map(|u| app.fetch(u))).await;
    for (url, resp) in urls.iter().zip(answers) {
        assert_eq!(resp.status(), 200, "{url}");
    }
    assert_eq!(app.state.resizer.peak_concurrency(), 1);
    assert_eq!(app.state.resizer.renders(), 6);

    // Sixteen requests for one cold variant: one resize, sixteen equal answers.
    let base = uploaded(&app, pictures::jpeg(1500, 750, 12), "b.jpg").await;
    let url = format!("{base}640?wx_fmt=jpeg");
    let before = app.state.resizer.renders();
    let answers = futures_util::future::join_all((0..16).map(|_| app.fetch(&url))).await;
    let mut bodies = Vec::new();
    for resp in answers {
        assert_eq!(resp.status(), 200);
        bodies.push(resp.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.state.resizer.renders() - before, 1);
}

#[tokio::test]
async fn a_picture_too_large_for_the_budget_is_answered_whole() {
    // 256 KiB of resize memory: a 700 × 500 PNG (1.4 MB decoded) is not resized.
    let app = spawn_with(|s| s.variants.resize_memory_bytes = 256 << 10).await;
    let bytes = pictures::png(700, 500, 2);
    let base = uploaded(&app, bytes.clone(), "a.png").await;
    let resp = app.fetch(&format!("{base}640")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(app.state.resizer.renders(), 0);
}

#[tokio::test]
async fn jpegs_whose_decoding_the_budget_cannot_hold_are_answered_whole() {
    // 3 MiB of resize memory: a 1000 × 1000 baseline JPEG at /300 fits (decoded at 3/8);
    // the same picture progressive makes libjpeg hold its 6 MB of coefficients.
    let app = spawn_with(|s| s.variants.resize_memory_bytes = 3 << 20).await;
    let baseline = pictures::jpeg(1000, 1000, 3);
    let base = uploaded(&app, baseline.clone(), "b.jpg").await;
    let made = app
        .fetch(&format!("{base}300"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_ne!(made.to_vec(), baseline);
    assert_eq!(app.state.resizer.renders(), 1);
    let progressive = pictures::progressive_jpeg(1000, 1000, 3);
    let base = uploaded(&app, progressive.clone(), "p.jpg").await;
    let resp = app.fetch(&format!("{base}300")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), progressive);
    // Past 100 scans, whatever the size: each is a pass over every block.
    let flat = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        320,
        240,
        image::Rgb([40, 90, 160]),
    ));
    let mut small = std::io::Cursor::new(Vec::new());
    flat.write_to(&mut small, image::ImageFormat::Jpeg)
        .expect("encode");
    let small = small.into_inner();
    let many = pictures::with_repeated_scan(&small, 100);
    assert!(many.len() < 1024 * 1024, "{} bytes", many.len());
    let base = uploaded(&app, many.clone(), "m.jpg").await;
    let resp = app.fetch(&format!("{base}300")).await;
    assert_eq!(resp.bytes().await.unwrap().to_vec(), many);
    assert_eq!(app.state.resizer.renders(), 1, "neither was decoded");
    // A progressive picture the budget holds is still made.
    let small_progressive = pictures::progressive_jpeg(400, 300, 5);
    let base = uploaded(&app, small_progressive.clone(), "s.jpg").await;
    let made = app.fetch(&format!("{base}300")).await;
    assert_eq!(decoded(made).await.width(), 300);
}

#[tokio::test]
async fn a_takedown_makes_every_variant_404() {
    for caches in [true, false] {
        let app = spawn_with(|s| {
            if !caches {
                s.picture_cache_bytes = 0;
                s.variants.cache_bytes = 0;
            }
        })
        .await;
        let bytes = pictures::jpeg(1400, 700, 21 + caches as u32);
        let base = uploaded(&app, bytes.clone(), "a.jpg").await;
        let urls = [
            format!("{base}640"),
            format!("{base}300?tp=webp"),
            format!("{base}0"),
        ];
        for url in &urls {
            assert_eq!(app.fetch(url).await.status(), 200, "{url}");
        }
        app.storage
            .take_down(&TakedownRequest {
                id: ImageId::of(&bytes),
                appid: None,
                reason: "test".into(),
                by: "tester".into(),
                block: false,
                at: app.clock.now(),
            })
            .await
            .expect("taken down");
        // Within one takedown poll (1 s) every node stops serving it from memory.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for url in &urls {
            loop {
                let status = app.fetch(url).await.status();
                if status == 404 {
                    break;
                }
                assert_eq!(status, 200);
                assert!(
                    caches && std::time::Instant::now() < deadline,
                    "{url} still served after its takedown (caches {caches})"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Variants are never stored: fsck finds nothing of them.
        let report = wximg_store::fsck::check(
            &app.storage,
            &wximg_store::fsck::Options {
                grace: Duration::ZERO,
                ..Default::default()
            },
        )
        .await
        .expect("fsck");
        assert!(
            !format!("{report:?}").contains(&ImageId::of(&bytes).hex()),
            "{report:?}"
        );
    }
}

#[tokio::test]
async fn hotlink_protection_serves_the_placeholder_to_other_sites() {
    let bytes = pictures::jpeg(800, 600, 31);
    // Off (the default): every Referer gets the picture.
    let open = spawn_app().await;
    let base = uploaded(&open, bytes.clone(), "a.jpg").await;
    let resp = open
        .http
        .get(format!("{base}0"))
        .header("referer", "https://my-blog.example/preview")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().to_vec(), bytes);

    let app = spawn_with(|s| {
        s.variants.hotlink_hosts = Some(vec!["mp.weixin.qq.com".into(), "example.org".into()])
    })
    .await;
    let base = uploaded(&app, bytes.clone(), "a.jpg").await;
    let get = |url: String, referer: Option<&'static str>| {
        let mut req = app.http.get(url);
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        req.send()
    };
    for size in ["0", "640"] {
        // Another site's page: the placeholder, never the picture, and no cache keeps it.
        let resp = get(
            format!("{base}{size}"),
            Some("https://my-blog.example/preview"),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["vary"], "Referer");
        assert_eq!(h["x-wximg-placeholder"], "hotlink-protection");
        assert!(h.get("etag").is_none());
        let img = decoded(resp).await;
        assert_eq!((img.width(), img.height()), (640, 360));
        // No Referer (a browser's address bar, `no-referrer` pages, curl): the picture.
        let resp = get(format!("{base}{size}"), None).await.unwrap();
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        assert!(resp.headers().get("x-wximg-placeholder").is_none());
        // The allowed hosts, hosts below them, and the server's own pages: the picture.
        for referer in [
            "https://mp.weixin.qq.com/s/abc",
            "https://www.example.org/a",
        ] {
            let resp = get(format!("{base}{size}"), Some(referer)).await.unwrap();
            assert_eq!(resp.headers()["content-type"], "image/jpeg", "{referer}");
        }
        let own = app.url("/s/whatever");
        let resp = app
            .http
            .get(format!("{base}{size}"))
            .header("referer", own)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
    }
    let whole = get(format!("{base}0"), None).await.unwrap();
    assert_eq!(whole.bytes().await.unwrap().to_vec(), bytes);
}

#[tokio::test]
async fn the_width_is_the_displayed_width_of_a_turned_photo() {
    // An 800 × 400 JPEG whose EXIF says "turn 90° clockwise" shows 400 × 800: its 300
    // variant is 300 × 600, upright (the variant carries no EXIF to turn it again).
    let plain = pictures::jpeg(800, 400, 41);
    let tiff: &[u8] = &[
        0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, // little-endian, IFD at 8
        0x01, 0x00, // one entry
        0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
        0x00, // Orientation 6
        0x00, 0x00, 0x00, 0x00, // no next IFD
    ];
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend(b"Exif\0\0");
    app1.extend(tiff);
    let mut turned = plain[..2].to_vec();
    turned.extend(app1);
    turned.extend(&plain[2..]);

    let app = spawn_app().await;
    let base = uploaded(&app, turned, "turned.jpg").await;
    let img = decoded(app.fetch(&format!("{base}300")).await).await;
    assert_eq!((img.width(), img.height()), (300, 600));
}
