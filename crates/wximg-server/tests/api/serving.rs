//! Serving pictures: exact bytes, validators, ranges, and 404 for everything else.

use crate::support::{pictures, spawn_app};

#[tokio::test]
async fn validators_ranges_and_head() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let bytes = pictures::jpeg(300, 200, 21);
    let v = app.upload(&token, "a.jpg", bytes.clone()).await;
    let url = v["url"].as_str().unwrap().to_string();

    // The first GET fills the in-memory picture cache in the background: the answers
    // must be the same before and after it has, and with the cache turned off.
    for _pass in 0..2 {
        check_serving(&app, &url, &bytes).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let uncached = crate::support::spawn_with(|s| s.picture_cache_bytes = 0).await;
    let token = uncached.official_token().await;
    let v = uncached.upload(&token, "a.jpg", bytes.clone()).await;
    let url = v["url"].as_str().unwrap().to_string();
    check_serving(&uncached, &url, &bytes).await;
}

/// A cached picture big enough for the zero-copy arena goes out with `sendfile`: the same
/// bytes, whole and in ranges (a range is an offset into the arena's memfd), and the
/// counter of bytes sent that way grows by at least the picture.
#[tokio::test]
async fn a_cached_picture_is_sent_with_sendfile_byte_for_byte() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let bytes = pictures::jpeg(900, 700, 5);
    assert!(bytes.len() > 64 * 1024, "{} bytes: too small", bytes.len());
    let v = app.upload(&token, "big.jpg", bytes.clone()).await;
    let url = v["url"].as_str().unwrap().to_string();
    // The first answer streams from storage and fills the cache behind it.
    assert_eq!(app.fetch(&url).await.bytes().await.unwrap().to_vec(), bytes);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let before = zero_copy_bytes(&app).await;
    check_serving(&app, &url, &bytes).await;
    let mid = bytes.len() / 2;
    let part = get_with(&app, &url, "range", &format!("bytes={mid}-")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), bytes[mid..].to_vec());
    let sent = zero_copy_bytes(&app).await - before;
    assert!(
        sent >= (bytes.len() + bytes.len() - mid) as u64,
        "only {sent} bytes went out with sendfile"
    );
}

async fn zero_copy_bytes(app: &crate::support::TestApp) -> u64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap();
    let text = text.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("wximg_zero_copy_bytes_total "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// A GET of `url` with the one header `name: value`.
async fn get_with(
    app: &crate::support::TestApp,
    url: &str,
    name: &str,
    value: &str,
) -> reqwest::Response {
    app.http.get(url).header(name, value).send().await.unwrap()
}

async fn check_serving(app: &crate::support::TestApp, url: &str, bytes: &[u8]) {
    let url = url.to_string();
    let full = app.fetch(&url).await;
    assert_eq!(full.status(), 200);
    let h = full.headers().clone();
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    // Bytes after a JPEG's EOI are accepted: no browser may sniff them as HTML.
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-length"], bytes.len().to_string().as_str());
    let etag = h["etag"].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong ETag: {etag}"
    );
    assert_eq!(full.bytes().await.unwrap().to_vec(), bytes);

    let not_modified = get_with(app, &url, "if-none-match", &etag).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    let other = get_with(app, &url, "if-none-match", "\"nope\"").await;
    assert_eq!(other.status(), 200);

    let part = get_with(app, &url, "range", "bytes=10-19").await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().to_vec(), bytes[10..20].to_vec());
    let tail = get_with(app, &url, "range", "bytes=-5").await;
    assert_eq!(
        tail.bytes().await.unwrap().to_vec(),
        bytes[bytes.len() - 5..].to_vec()
    );
    let beyond = get_with(app, &url, "range", &format!("bytes={}-", bytes.len() + 10)).await;
    assert_eq!(beyond.status(), 416);
    let nothing = get_with(app, &url, "range", "bytes=-0").await;
    assert_eq!(
        nothing.status(),
        416,
        "a suffix of 0 bytes is unsatisfiable"
    );
    assert_eq!(
        nothing.headers()["content-range"],
        format!("bytes */{}", bytes.len()).as_str()
    );
    let longer = get_with(app, &url, "range", &format!("bytes=-{}", bytes.len() * 2)).await;
    assert_eq!(
        longer.status(),
        206,
        "a suffix longer than the picture is all of it"
    );
    assert_eq!(
        longer.headers()["content-range"],
        format!("bytes 0-{}/{}", bytes.len() - 1, bytes.len()).as_str()
    );
    assert_eq!(longer.bytes().await.unwrap().to_vec(), bytes);
    let twice = get_with(app, &url, "range", "bytes=0-9,5-14").await;
    assert_eq!(
        twice.status(),
        200,
        "overlapping ranges: the whole, not 416"
    );

    let head = app.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "image/jpeg");
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn everything_else_is_404() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let v = app.upload(&token, "a.png", pictures::png(16, 16, 22)).await;
    let url = v["url"].as_str().unwrap().to_string();
    let id = url.split('/').nth(4).unwrap().to_string();
    let unknown = wximg_proto::ImageId::of(b"never uploaded").to_string();
    for path in [
        format!("/mmbiz_jpg/{id}/0"), // right id, wrong format
        format!("/mmbiz_png/{unknown}/0"),
        format!("/mmbiz_png/{id}/1"),
        "/mmbiz_png/../../etc/passwd/0".to_string(),
        "/mmbiz_png/%2e%2e%2f%2e%2e%2fetc%2fpasswd/0".to_string(),
        "/mmbiz_png/..%2F..%2Fwximg.sqlite3/0".to_string(),
        format!("/mmbiz_png/{}/0", &id[..42]),
        "/mmbiz_png/%ff%fe/0".to_string(),
        "/blobs/".to_string(),
        "/wximg.sqlite3".to_string(),
    ] {
        let resp = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}

/// A picture the cache holds is answered before the router (`routes::images::cached`),
/// and that answer must be the router's own: the same status, headers (all but the rid
/// and the date) and body, for the original and a width, the `sz_` twin, `HEAD`, 304
/// and ranges, each with its own `X-Request-Id` and counted under `image`. The router's
/// answer is had with the same path percent-encoded, which the early answer leaves to it.
#[tokio::test]
async fn a_cached_picture_gets_the_routers_own_answer() {
    let app = crate::support::spawn_with(|s| {
        s.variants.hotlink_hosts = Some(vec!["mp.weixin.qq.com".into()])
    })
    .await;
    let token = app.official_token().await;
    let bytes = pictures::jpeg(900, 700, 8);
    let v = app.upload(&token, "a.jpg", bytes.clone()).await;
    let url = v["url"].as_str().unwrap();
    let base = url.split('?').next().unwrap().strip_suffix('0').unwrap();
    // Warm both caches (the original fills in the background).
    for size in ["0", "640"] {
        assert_eq!(app.fetch(&format!("{base}{size}")).await.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let counted_before = image_requests(&app).await;
    let etag_of = |resp: reqwest::Response| resp.headers()["etag"].to_str().unwrap().to_string();
    let etag0 = etag_of(app.fetch(&format!("{base}0")).await);
    let etag640 = etag_of(app.fetch(&format!("{base}640")).await);
    let sz = base.replace("/mmbiz_jpg/", "/sz_mmbiz_jpg/");
    let mut asked = 2;
    for (prefix, size, encoded) in [
        (base, "0", "%30"),
        (base, "640", "6%340"),
        (sz.as_str(), "0", "%30"),
        (
            sz.as_str(),
            "640?wx_fmt=jpeg&from=appmsg",
            "6%340?wx_fmt=jpeg&from=appmsg",
        ),
    ] {
        let etag = if size.starts_with('0') {
            &etag0
        } else {
            &etag640
        };
        let cases: [(&str, Option<(&str, &str)>); 6] = [
            ("GET", None),
            ("HEAD", None),
            ("GET", Some(("if-none-match", etag.as_str()))),
            ("GET", Some(("range", "bytes=10-99"))),
            ("GET", Some(("range", "bytes=99999999-"))),
            ("GET", Some(("referer", "https://mp.weixin.qq.com/s/x"))),
        ];
        for (method, header) in cases {
            let ask = |path: String| {
                let mut req = app.http.request(method.parse().unwrap(), path);
                if let Some((k, v)) = header {
                    req = req.header(k, v);
                }
                async move {
                    let resp = req.send().await.unwrap();
                    let status = resp.status();
                    let mut headers = resp.headers().clone();
                    let rid = headers.remove("x-request-id").expect("x-request-id");
                    headers.remove("date");
                    (status, headers, rid, resp.bytes().await.unwrap())
                }
            };
            let early = ask(format!("{prefix}{size}")).await;
            let routed = ask(format!("{prefix}{encoded}")).await;
            asked += 2;
            let what = format!("{method} {prefix}{size} {header:?}");
            assert_eq!(early.0, routed.0, "status of {what}");
            assert_eq!(early.1, routed.1, "headers of {what}");
            assert_ne!(early.2, routed.2, "a fresh rid for {what}");
            assert_eq!(early.3, routed.3, "body of {what}");
            assert!(
                early.0.is_success() || early.0.as_u16() == 304 || early.0.as_u16() == 416,
                "{what}: {}",
                early.0
            );
        }
        // Another site's page still gets the placeholder, cached or not.
        let foreign = app
            .http
            .get(format!("{prefix}{size}"))
            .header("referer", "https://elsewhere.example/")
            .send()
            .await
            .unwrap();
        asked += 1;
        assert_eq!(
            foreign.headers()["x-wximg-placeholder"],
            "hotlink-protection"
        );
    }
    // A cached picture asked for under another format is no picture.
    let png = base.replace("/mmbiz_jpg/", "/mmbiz_png/");
    assert_eq!(app.fetch(&format!("{png}0")).await.status(), 404);
    assert_eq!(app.fetch(&format!("{png}640")).await.status(), 404);
    asked += 2;
    // At least: the metrics registry is the process's, shared with the tests running
    // beside this one. An early answer left uncounted would fall short of it.
    let counted = image_requests(&app).await - counted_before;
    assert!(
        counted >= asked,
        "{counted} of {asked} picture answers counted"
    );
}

/// Picture requests counted so far (`wximg_requests_total` under `endpoint="image"`).
async fn image_requests(app: &crate::support::TestApp) -> u64 {
    let text = app.fetch(&app.url("/metrics")).await.text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("wximg_requests_total{endpoint=\"image\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum::<u64>()
}
