//! Helpers of the article-workflow tests (drafts, freepublish, the article page).

use serde_json::{Value, json};

use super::{TestApp, answer, pictures};

/// A permanent image material of the token's account, made over HTTP with
/// `material/add_material?type=image`: its `media_id`. (Needs the material endpoint.)
pub async fn thumb(app: &TestApp, token: &str) -> String {
    let part = reqwest::multipart::Part::bytes(pictures::jpeg(120, 80, 7)).file_name("cover.jpg");
    let form = reqwest::multipart::Form::new().part("media", part);
    let url = app.url(&format!(
        "/cgi-bin/material/add_material?access_token={token}&type=image"
    ));
    let v = answer(app.http.post(url).multipart(form)).await;
    v["media_id"]
        .as_str()
        .unwrap_or_else(|| panic!("add_material gave no media_id: {v}"))
        .to_string()
}

/// A body picture uploaded with `uploadimg`: its URL.
pub async fn body_picture(app: &TestApp, token: &str, seed: u32) -> String {
    let v = app
        .upload(token, "body.png", pictures::png(40, 30, seed))
        .await;
    v["url"]
        .as_str()
        .unwrap_or_else(|| panic!("uploadimg gave no url: {v}"))
        .to_string()
}

/// An article body with these fields.
pub fn article(title: &str, content: &str, thumb: &str) -> Value {
    json!({
        "title": title,
        "author": "作者",
        "digest": "摘要",
        "content": content,
        "content_source_url": "https://example.com/original",
        "thumb_media_id": thumb,
        "need_open_comment": 1,
        "only_fans_can_comment": 0,
    })
}

/// POSTs `body` to `path?access_token=token` as JSON.
pub async fn call(app: &TestApp, path: &str, token: &str, body: &Value) -> Value {
    app.post_json(&format!("{path}?access_token={token}"), body)
        .await
}

/// POSTs raw bytes with an optional Content-Type.
pub async fn call_raw(
    app: &TestApp,
    path: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
    content_type: Option<&str>,
) -> Value {
    let mut req = app
        .http
        .post(app.url(&format!("{path}?access_token={token}")))
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    answer(req).await
}

/// Adds a draft of `articles`: its media_id.
pub async fn add_draft(app: &TestApp, token: &str, articles: Vec<Value>) -> String {
    let v = call(
        app,
        "/cgi-bin/draft/add",
        token,
        &json!({ "articles": articles }),
    )
    .await;
    assert!(
        v.get("errcode").is_none(),
        "draft/add success has no errcode: {v}"
    );
    v["media_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no media_id: {v}"))
        .to_string()
}
