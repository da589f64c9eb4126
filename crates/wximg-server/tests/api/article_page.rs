//! `/s/<id>`, the published article's page, over HTTP (the browser test,
//! `scripts/browser/article_page.mjs`, loads it in Chromium).

use std::time::Duration;

use serde_json::json;

use crate::support::articles::{add_draft, article, body_picture, call, thumb};
use crate::support::{spawn_app, spawn_with};

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = spawn_app().await;
    for path in ["/s/AAAAAAAAAAAAAAAAAAAAAA", "/s/short", "/s/..%2F..%2Fetc"] {
        let resp = app.fetch(&app.url(path)).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert!(
            resp.headers()["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'")
        );
    }
}

/// Needs `material/add_material` for the cover: passes once the material branch is merged.
#[tokio::test]
async fn with_material_the_page_shows_the_cleaned_article_and_nothing_from_elsewhere() {
    let app = spawn_with(|s| s.platform.publish_delay = Some(Duration::ZERO)).await;
    let token = app.official_token().await;
    let cover = thumb(&app, &token).await;
    let picture = body_picture(&app, &token, 3).await;
    let content = format!(
        r#"<p>正文</p><img src="{picture}"><img src="https://example.com/x.png"><script>alert(1)</script>"#
    );
    let mut a = article("<b>标题</b> & 1", &content, &cover);
    a["author"] = json!("<i>作者</i>");
    let media_id = add_draft(&app, &token, vec![a]).await;
    let v = call(
        &app,
        "/cgi-bin/freepublish/submit",
        &token,
        &json!({"media_id": media_id}),
    )
    .await;
    let v = call(
        &app,
        "/cgi-bin/freepublish/get",
        &token,
        &json!({"publish_id": v["publish_id"]}),
    )
    .await;
    assert_eq!(v["publish_status"], 0, "{v}");
    let url = v["article_detail"]["item"][0]["article_url"]
        .as_str()
        .expect("url")
        .to_string();

    let resp = app.fetch(&url).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("img-src 'self'"),
        "{csp}"
    );
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("&lt;b&gt;标题&lt;/b&gt; &amp; 1"),
        "title escaped: {html}"
    );
    assert!(html.contains("&lt;i&gt;作者&lt;/i&gt;"), "author escaped");
    assert!(html.contains(r#"name="viewport""#));
    assert!(html.contains(&picture), "the hosted picture");
    for gone in ["example.com", "<script", "alert"] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
    assert_eq!(
        app.fetch(&picture).await.status(),
        200,
        "the picture is served here"
    );

    let article_id = v["article_id"].as_str().expect("article_id");
    call(
        &app,
        "/cgi-bin/freepublish/delete",
        &token,
        &json!({"article_id": article_id}),
    )
    .await;
    let resp = app.fetch(&url).await;
    assert_eq!(resp.status(), 404);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("该内容已被发布者删除")
    );
}
