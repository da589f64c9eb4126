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
