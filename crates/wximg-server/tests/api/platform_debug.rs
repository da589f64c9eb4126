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

/// `/debug/cleaning` shows what the content rules removed from a draft — what the
/// platform's own answer never says — and only to the draft's account.
#[tokio::test]
async fn the_cleaning_notes_of_a_draft_are_shown_to_its_account_only() {
    use crate::support::articles::{add_draft, article, body_picture, thumb};
    use serde_json::Value;

    let app = spawn_with(|s| s.platform.debug_page = Some(true)).await;
    let token = app.official_token().await;
    let cover = thumb(&app, &token).await;
    let hosted = body_picture(&app, &token, 1).await;
    let content = format!(
        r#"<p onclick="x()">text</p><img src="{hosted}"><img src="https://example.com/elsewhere.png"><script>alert(1)</script>"#
    );
    let media_id = add_draft(&app, &token, vec![article("t", &content, &cover)]).await;
    let notes = |token: String, media_id: String| {
        let app = &app;
        async move {
            let url = app.url(&format!(
                "/debug/cleaning?access_token={token}&media_id={media_id}"
            ));
            let text = app.fetch(&url).await.text().await.expect("body");
            serde_json::from_str::<Value>(&text).expect("JSON")
        }
    };
    let v = notes(token.clone(), media_id.clone()).await;
    assert_eq!(v["media_id"], media_id.as_str(), "{v}");
    let first = &v["articles"][0];
    assert_eq!(first["removed_pictures"], 1, "{v}");
    assert_eq!(
        first["removed_picture_urls"][0], "https://example.com/elsewhere.png",
        "{v}"
    );
    assert_eq!(first["removed_tags"]["script"], 1, "{v}");
    assert_eq!(first["removed_attributes"]["onclick"], 1, "{v}");
    assert!(
        !v.to_string().contains(&hosted),
        "the hosted picture stays: {v}"
    );

    // Another account's token, or no such draft: 40007, as the draft calls answer.
    let other = app.official_token().await;
    assert_eq!(
        notes(other, media_id.clone()).await["errcode"],
        40007,
        "another account's draft"
    );
    assert_eq!(notes(token.clone(), "nope".into()).await["errcode"], 40007);
    assert_eq!(
        notes("bad-token".into(), media_id).await["errcode"],
        40001,
        "a token is needed"
    );
}
