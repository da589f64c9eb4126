//! The `/debug/` page is served from the binary when enabled, and not at all otherwise.
//! (The page itself is driven in a real browser by `scripts/browser/debug_page.sh`.)

use crate::support::spawn_with;

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let app = spawn_with(|s| s.platform.debug_page = Some(true)).await;
    let resp = app.fetch(&app.url("/debug/")).await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap_or("");
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "no other site may frame the page: {csp}"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let html = resp.text().await.expect("body");
    assert!(html.contains("<select id=\"endpoint\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside resources"
    );
    for (path, kind) in [
        ("/debug/debug.js", "text/javascript"),
        ("/debug/debug.css", "text/css"),
    ] {
        let resp = app.fetch(&app.url(path)).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with(kind)
        );
    }
}

#[tokio::test]
async fn the_page_is_absent_when_off() {
    let app = spawn_with(|s| s.platform.debug_page = Some(false)).await;
    assert_eq!(app.fetch(&app.url("/debug/")).await.status(), 404);
    assert_eq!(app.fetch(&app.url("/debug/debug.js")).await.status(), 404);
}

#[tokio::test]
async fn by_default_it_follows_the_storage() {
    let app = spawn_with(|_| {}).await;
    let status = app.fetch(&app.url("/debug/")).await.status();
    if crate::support::scaleout() {
        assert_eq!(status, 404, "off by default with PostgreSQL");
    } else {
        assert_eq!(status, 200, "on by default with embedded storage");
    }
}
