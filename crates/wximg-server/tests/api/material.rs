//! Permanent material (`add_material`, `get_materialcount`, `batchget_material`,
//! `get_material`, `del_material`) against the real server: what is accepted with which
//! answer (and no `errcode` key on success), what is refused with which code, the
//! library's cap, who may call, and the URLs served byte for byte.

use crate::support::pictures::{self, pad_jpeg};
use crate::support::{TestApp, checked_json, code, spawn_app, spawn_with};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use wximg_proto::{AppId, AppType, ImageId};
use wximg_server::platform::{QuotaLimits, component, quota};
use wximg_store::TakedownRequest;

const MIB: usize = 1_048_576;

/// `add_material?type=kind` with one `media` part of `bytes`, named `filename`, with
/// part Content-Type `mime` (none when `None`).
async fn add(
    app: &TestApp,
    token: &str,
    kind: &str,
    filename: &str,
    mime: Option<&str>,
    bytes: Vec<u8>,
) -> Value {
    let path = format!("/cgi-bin/material/add_material?access_token={token}&type={kind}");
    app.post_media(&path, Some(filename), mime, bytes).await
}

/// A success of `add_material`: a media_id and a URL, and no `errcode` key at all.
fn added(v: &Value) -> (String, String) {
    let object = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    assert!(
        !object.contains_key("errcode"),
        "success has no errcode: {v}"
    );
    assert!(!object.contains_key("errmsg"), "success has no errmsg: {v}");
    let media_id = v["media_id"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(media_id.len(), 64, "{media_id}");
    let url = v["url"].as_str().unwrap_or_else(|| panic!("no url: {v}"));
    (media_id.to_string(), url.to_string())
}

async fn call(app: &TestApp, path: &str, token: &str, body: &Value) -> Value {
    app.post_json(&format!("{path}?access_token={token}"), body)
        .await
}

async fn count(app: &TestApp, token: &str) -> Value {
    app.get_json(&format!(
        "/cgi-bin/material/get_materialcount?access_token={token}"
    ))
    .await
}

async fn batchget(app: &TestApp, token: &str, body: Value) -> Value {
    call(app, "/cgi-bin/material/batchget_material", token, &body).await
}

/// `get_material`: the raw answer (bytes on success).
async fn get_raw(app: &TestApp, token: &str, media_id: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!(
            "/cgi-bin/material/get_material?access_token={token}"
        )))
        .json(&json!({ "media_id": media_id }))
        .send()
        .await
        .expect("request")
}

async fn get_code(app: &TestApp, token: &str, media_id: &str) -> i64 {
    code(&checked_json(get_raw(app, token, media_id).await).await)
}

async fn del(app: &TestApp, token: &str, media_id: &str) -> Value {
    call(
        app,
        "/cgi-bin/material/del_material",
        token,
        &json!({ "media_id": media_id }),
    )
    .await
}

#[tokio::test]
async fn every_image_format_round_trips_with_the_platforms_url() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    // What real clients send: no part type, octet-stream, or image/jpeg whatever the bytes.
    for (bytes, kind, fmt, mime, part_type) in [
        (
            pictures::jpeg(640, 480, 1),
            "mmbiz_jpg",
            "jpeg",
            "image/jpeg",
            None,
        ),
        (
            pictures::png(320, 200, 1),
            "mmbiz_png",
            "png",
            "image/png",
            Some("application/octet-stream"),
        ),
        (
            pictures::gif(40, 30),
            "mmbiz_gif",
            "gif",
            "image/gif",
            Some("image/jpeg"),
        ),
        (
            pictures::bmp(33, 17),
            "mmbiz_bmp",
            "bmp",
            "image/bmp",
            Some("image/jpeg"),
        ),
    ] {
        let v = add(&app, &token, "image", "img.jpg", part_type, bytes.clone()).await;
        let (_, url) = added(&v);
        let id = ImageId::of(&bytes);
        assert_eq!(url, format!("{}/{kind}/{id}/0?wx_fmt={fmt}", app.base));
        let got = app.fetch(&url).await;
        assert_eq!(got.status(), 200, "{url}");
        assert_eq!(got.headers()["content-type"], mime);
        assert_eq!(got.bytes().await.expect("body").to_vec(), bytes, "{kind}");
    }
}

#[tokio::test]
async fn thumbs_are_jpegs_of_at_most_64_kb() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let small = pictures::jpeg(120, 90, 2);
    let exact = pad_jpeg(&small, 64 * 1024);
    let (media_id, url) =
        added(&add(&app, &token, "thumb", "cover.jpg", None, exact.clone()).await);
    assert!(url.ends_with("/0?wx_fmt=jpeg"), "{url}");
    let got = get_raw(&app, &token, &media_id).await;
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert_eq!(got.bytes().await.expect("body").to_vec(), exact);

    let over = pad_jpeg(&small, 64 * 1024 + 1);
    let v = add(&app, &token, "thumb", "cover.jpg", None, over).await;
    assert_eq!(code(&v), 40006, "{v}");
    crate::support::assert_hinted(&v, "invalid meida size");
    // Not a JPEG: judged by the bytes, whatever the name and part type say — a picture
    // of a format a thumb does not take is the platform's 40113 `unsupported file type`.
    let png = pictures::png(40, 40, 3);
    let v = add(&app, &token, "thumb", "cover.jpg", Some("image/jpeg"), png).await;
    assert_eq!(code(&v), 40113, "{v}");
    crate::support::assert_hinted(&v, "unsupported file type");
    let v = add(
        &app,
        &token,
        "thumb",
        "cover.jpg",
        None,
        pictures::gif(8, 8),
    )
    .await;
    assert_eq!(code(&v), 40113, "{v}");
    // What is no picture at all stays 40005.
    let v = add(&app, &token, "thumb", "cover.jpg", None, b"text".to_vec()).await;
    assert_eq!(code(&v), 40005, "{v}");
}

#[tokio::test]
async fn images_up_to_10_mb_are_taken_and_over_it_refused() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let photo = pictures::jpeg(200, 150, 4);
    let exact = pad_jpeg(&photo, 10 * MIB);
    let (_, url) = added(&add(&app, &token, "image", "big.jpg", None, exact.clone()).await);
    let got = app.fetch(&url).await;
    assert_eq!(got.bytes().await.expect("body").len(), exact.len());
    let v = add(
        &app,
        &token,
        "image",
        "big.jpg",
        None,
        pad_jpeg(&photo, 10 * MIB + 1),
    )
    .await;
    assert_eq!(code(&v), 40006, "{v}");
    // uploadimg keeps its 1 MiB and its JPEG/PNG.
    let v = app.upload(&token, "a.jpg", pad_jpeg(&photo, 2 * MIB)).await;
    assert_eq!(code(&v), 40009, "{v}");
    let v = app.upload(&token, "a.gif", pictures::gif(8, 8)).await;
    assert_eq!(code(&v), 40005, "{v}");
    let v = app.upload(&token, "a.bmp", pictures::bmp(8, 8)).await;
    assert_eq!(code(&v), 40005, "{v}");
}

#[tokio::test]
async fn what_is_not_a_whole_picture_is_refused() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let gif = pictures::gif(20, 20);
    let bmp = pictures::bmp(20, 20);
    for (what, bytes, expected) in [
        ("text", b"hello, not a picture".to_vec(), 40005),
        ("webp (named .jpg)", pictures::webp(16, 16), 40113),
        ("truncated gif", gif[..gif.len() - 1].to_vec(), 40005),
        ("truncated bmp", bmp[..bmp.len() - 7].to_vec(), 40005),
        ("pixel bomb", pictures::png_bomb(60_000, 60_000), 40009),
    ] {
        let v = add(&app, &token, "image", "img.jpg", Some("image/jpeg"), bytes).await;
        assert_eq!(code(&v), expected, "{what}: {v}");
    }
    // No media part, an empty one, an empty body: uploadimg's codes.
    let url = app.url(&format!(
        "/cgi-bin/material/add_material?access_token={token}&type=image"
    ));
    let form = Form::new().text("type", "image");
    let v = checked_json(
        app.http
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(code(&v), 41005, "{v}");
    let v = checked_json(app.http.post(&url).send().await.expect("sent")).await;
    assert_eq!(code(&v), 44002, "{v}");
    assert_eq!(
        count(&app, &token).await["image_count"],
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn types_wximg_does_not_host_answer_40004() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    for kind in ["voice", "video", "news", "IMAGE", "", "gif"] {
        let v = add(&app, &token, kind, "a.jpg", None, pictures::jpeg(8, 8, 5)).await;
        assert_eq!(code(&v), 40004, "type={kind}: {v}");
        crate::support::assert_hinted(&v, "invalid media type");
    }
    let url = app.url(&format!(
        "/cgi-bin/material/add_material?access_token={token}"
    ));
    let part = Part::bytes(pictures::jpeg(8, 8, 5)).file_name("a.jpg");
    let v = checked_json(
        app.http
            .post(url)
            .multipart(Form::new().part("media", part))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(code(&v), 40004, "no type: {v}");
}

#[tokio::test]
async fn count_and_list_show_the_library_newest_first() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let mut ids = Vec::new();
    for (i, name) in ["a.jpg", "/home/u/cover b.png", "c.jpg"]
        .into_iter()
        .enumerate()
    {
        let bytes = if i == 1 {
            pictures::png(30, 30, 6)
        } else {
            pictures::jpeg(30, 30, i as u32)
        };
        let kind = if i == 2 { "thumb" } else { "image" };
        ids.push(added(&add(&app, &token, kind, name, None, bytes).await));
        app.clock.advance(5);
    }
    let v = count(&app, &token).await;
    assert_eq!(
        v,
        json!({"voice_count": 0, "video_count": 0, "image_count": 3, "news_count": 0}),
        "no errcode key either"
    );
    let v = batchget(
        &app,
        &token,
        json!({"type": "image", "offset": 0, "count": 2}),
    )
    .await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert_eq!(
        (v["total_count"].as_i64(), v["item_count"].as_i64()),
        (Some(3), Some(2)),
        "{v}"
    );
    let items = v["item"].as_array().expect("items");
    assert_eq!(items[0]["media_id"], ids[2].0.as_str(), "newest first");
    assert_eq!(items[0]["url"], ids[2].1.as_str());
    assert_eq!(items[0]["name"], "c.jpg");
    assert_eq!(items[1]["name"], "cover b.png", "the path's last segment");
    assert_eq!(items[0]["update_time"].as_i64(), Some(app.clock.now() - 5));
    let fields: Vec<&String> = items[0].as_object().expect("object").keys().collect();
    assert_eq!(fields, ["media_id", "name", "update_time", "url"]);
    let v = batchget(
        &app,
        &token,
        json!({"type": "image", "offset": "2", "count": 20}),
    )
    .await;
    assert_eq!(v["item_count"], 1, "{v}");
    assert_eq!(v["item"][0]["media_id"], ids[0].0.as_str());
    let v = batchget(
        &app,
        &token,
        json!({"type": "image", "offset": 9, "count": 5}),
    )
    .await;
    assert_eq!(
        (v["item_count"].as_i64(), v["total_count"].as_i64()),
        (Some(0), Some(3))
    );
    for kind in ["video", "voice", "news"] {
        let v = batchget(&app, &token, json!({"type": kind, "offset": 0, "count": 5})).await;
        assert_eq!(
            v,
            json!({"item": [], "total_count": 0, "item_count": 0}),
            "{kind}"
        );
    }
    let v = batchget(
        &app,
        &token,
        json!({"type": "thumb", "offset": 0, "count": 5}),
    )
    .await;
    assert_eq!(code(&v), 40004, "{v}");
    for (offset, n) in [(0, 0), (0, 21), (-1, 5)] {
        let v = batchget(
            &app,
            &token,
            json!({"type": "image", "offset": offset, "count": n}),
        )
        .await;
        assert_eq!(code(&v), 47001, "offset {offset} count {n}: {v}");
    }
    // Another account sees its own (empty) library.
    let other = app.official_token().await;
    assert_eq!(count(&app, &other).await["image_count"], 0);
}

#[tokio::test]
async fn get_and_delete_know_only_the_callers_materials() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let other = app.official_token().await;
    let bytes = pictures::gif(24, 12);
    let (media_id, url) = added(&add(&app, &token, "image", "anim.gif", None, bytes.clone()).await);

    let got = get_raw(&app, &token, &media_id).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/gif");
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"anim.gif\""
    );
    assert_eq!(got.bytes().await.expect("body").to_vec(), bytes);

    assert_eq!(
        get_code(&app, &other, &media_id).await,
        40007,
        "another account's"
    );
    assert_eq!(get_code(&app, &token, "nope").await, 40007);
    let v = call(&app, "/cgi-bin/material/get_material", &token, &json!({})).await;
    assert_eq!(code(&v), 40007, "{v}");
    let v = del(&app, &other, &media_id).await;
    assert_eq!(code(&v), 40007, "{v}");
    crate::support::assert_hinted(&v, "invalid media_id");

    let v = del(&app, &token, &media_id).await;
    assert_eq!(v, json!({"errcode": 0, "errmsg": "ok"}));
    assert_eq!(get_code(&app, &token, &media_id).await, 40007);
    assert_eq!(code(&del(&app, &token, &media_id).await), 40007, "gone");
    assert_eq!(count(&app, &token).await["image_count"], 0);
    // The picture's URL stays served, as an uploadimg picture's.
    assert_eq!(app.fetch(&url).await.status(), 200);
}

#[tokio::test]
async fn the_library_is_capped_and_uploadimg_does_not_count() {
    let app = spawn_with(|s| s.material_limit = 3).await;
    let token = app.official_token().await;
    let mut ids = Vec::new();
    for seed in 0..3 {
        ids.push(
            added(
                &add(
                    &app,
                    &token,
                    "image",
                    "a.jpg",
                    None,
                    pictures::jpeg(16, 16, seed),
                )
                .await,
            )
            .0,
        );
    }
    let v = add(
        &app,
        &token,
        "thumb",
        "a.jpg",
        None,
        pictures::jpeg(16, 16, 9),
    )
    .await;
    assert_eq!(code(&v), 45034, "{v}");
    crate::support::assert_hinted(&v, "media file count is out of limit");
    assert_eq!(count(&app, &token).await["image_count"], 3);
    // uploadimg pictures are not in the library.
    assert_eq!(
        code(
            &app.upload(&token, "b.jpg", pictures::jpeg(16, 16, 10))
                .await
        ),
        0
    );
    // Another account has its own library.
    let other = app.official_token().await;
    added(
        &add(
            &app,
            &other,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(16, 16, 11),
        )
        .await,
    );
    // A deletion frees a place.
    assert_eq!(code(&del(&app, &token, &ids[0]).await), 0);
    added(
        &add(
            &app,
            &token,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(16, 16, 12),
        )
        .await,
    );
    assert_eq!(
        code(
            &add(
                &app,
                &token,
                "image",
                "a.jpg",
                None,
                pictures::jpeg(16, 16, 13)
            )
            .await
        ),
        45034
    );
}

#[tokio::test]
async fn concurrent_adds_never_pass_the_cap() {
    let app = spawn_with(|s| s.material_limit = 5).await;
    let token = app.official_token().await;
    let adds = (0..12).map(|seed| {
        let (app, token) = (&app, &token);
        async move {
            code(
                &add(
                    app,
                    token,
                    "image",
                    "a.jpg",
                    None,
                    pictures::jpeg(16, 16, 100 + seed),
                )
                .await,
            )
        }
    });
    let codes = futures_util::future::join_all(adds).await;
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 5, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 45034), "{codes:?}");
    assert_eq!(count(&app, &token).await["image_count"], 5);
    let v = batchget(
        &app,
        &token,
        json!({"type": "image", "offset": 0, "count": 20}),
    )
    .await;
    assert_eq!(v["item_count"], 5);
}

#[tokio::test]
async fn only_official_and_service_accounts_may_call() {
    let app = spawn_app().await;
    let service = app.create_app(AppType::Service).await;
    let token = app.token(&service).await;
    added(
        &add(
            &app,
            &token,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(8, 8, 1),
        )
        .await,
    );
    for kind in [AppType::MiniProgram, AppType::MiniGame] {
        let c = app.create_app(kind).await;
        let token = app.token(&c).await;
        let v = add(
            &app,
            &token,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(8, 8, 2),
        )
        .await;
        assert_eq!(code(&v), 48001, "{kind}: {v}");
        assert_eq!(code(&count(&app, &token).await), 48001);
        let v = batchget(
            &app,
            &token,
            json!({"type": "image", "offset": 0, "count": 1}),
        )
        .await;
        assert_eq!(code(&v), 48001);
        assert_eq!(get_code(&app, &token, "x").await, 48001);
        assert_eq!(code(&del(&app, &token, "x").await), 48001);
    }
}

#[tokio::test]
async fn authorizer_tokens_need_set_11_or_100() {
    let app = spawn_app().await;
    let account = app.create_app(AppType::Official).await;
    let meta = app.storage.meta.as_ref();
    let now = app.clock.now();
    let (component_id, secret) = component::create_component(meta, "platform", now)
        .await
        .expect("component");
    let ticket = component::current_ticket(meta, &component_id, now)
        .await
        .expect("ticket")
        .expect("exists");
    let v = app
        .post_json(
            "/cgi-bin/component/api_component_token",
            &json!({
                "component_appid": component_id.as_str(),
                "component_appsecret": secret.expose(),
                "component_verify_ticket": ticket,
            }),
        )
        .await;
    let component_token = v["component_access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let authorizer = AppId::parse(&account.appid).expect("appid");
    for (sets, allowed) in [(&[11][..], true), (&[100][..], true), (&[1, 8][..], false)] {
        let auth_code = component::authorize(meta, &component_id, &authorizer, sets, now)
            .await
            .expect("authorized");
        let v = app
            .post_json(
                &format!(
                    "/cgi-bin/component/api_query_auth?component_access_token={component_token}"
                ),
                &json!({"component_appid": component_id.as_str(), "authorization_code": auth_code}),
            )
            .await;
        let access = v["authorization_info"]["authorizer_access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string();
        let v = add(
            &app,
            &access,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(8, 8, sets[0]),
        )
        .await;
        let expected = if allowed { 0 } else { 48001 };
        assert_eq!(code(&v), expected, "sets {sets:?}: {v}");
        assert_eq!(code(&count(&app, &access).await), expected, "sets {sets:?}");
    }
}

#[tokio::test]
async fn quotas_count_each_call_like_uploadimgs() {
    let app = spawn_app().await;
    app.clock.advance(60 - app.clock.now().rem_euclid(60));
    let c = app.create_app(AppType::Official).await;
    let token = app.token(&c).await;
    let limits = QuotaLimits {
        daily: None,
        per_minute: Some(1),
    };
    let appid = AppId::parse(&c.appid).expect("appid");
    for api in ["add_material", "get_materialcount"] {
        quota::set_limits(
            app.storage.meta.as_ref(),
            &appid,
            api,
            limits,
            app.clock.now(),
        )
        .await
        .expect("limits");
    }
    added(
        &add(
            &app,
            &token,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(8, 8, 1),
        )
        .await,
    );
    let v = add(
        &app,
        &token,
        "image",
        "a.jpg",
        None,
        pictures::jpeg(8, 8, 2),
    )
    .await;
    assert_eq!(code(&v), 45011, "{v}");
    assert_eq!(code(&count(&app, &token).await), 0);
    assert_eq!(code(&count(&app, &token).await), 45011);
    // Other calls are other APIs.
    let v = batchget(
        &app,
        &token,
        json!({"type": "image", "offset": 0, "count": 1}),
    )
    .await;
    assert_eq!(v["item_count"], 1, "{v}");
}

#[tokio::test]
async fn a_takedown_of_the_picture_removes_its_materials() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let bytes = pictures::jpeg(20, 20, 77);
    let (media_id, url) = added(&add(&app, &token, "image", "a.jpg", None, bytes.clone()).await);
    let outcome = app
        .storage
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
    assert_eq!(outcome.removed.len(), 1);
    assert_eq!(get_code(&app, &token, &media_id).await, 40007);
    assert_eq!(count(&app, &token).await["image_count"], 0);
    assert_eq!(app.fetch(&url).await.status(), 404);
    let report = wximg_store::fsck::check(
        &app.storage,
        &wximg_store::fsck::Options {
            grace: std::time::Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .expect("fsck");
    // On the scale-out backend the database is shared with the tests running alongside:
    // only what this test made is looked at.
    assert!(
        report
            .dangling_materials
            .iter()
            .all(|m| m.media_id != media_id),
        "{report:?}"
    );
}

#[tokio::test]
async fn fsck_counts_materials_and_reports_one_without_its_picture() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let (media_id, _) = added(
        &add(
            &app,
            &token,
            "image",
            "a.jpg",
            None,
            pictures::jpeg(20, 20, 78),
        )
        .await,
    );
    let options = wximg_store::fsck::Options {
        grace: std::time::Duration::ZERO,
        ..Default::default()
    };
    let report = wximg_store::fsck::check(&app.storage, &options)
        .await
        .expect("fsck");
    // On the scale-out backend the database is shared with the tests running alongside:
    // only what this test made is looked at.
    let ours = |r: &wximg_store::fsck::Report, id: &str| {
        r.dangling_materials
            .iter()
            .filter(|m| m.media_id == id)
            .count()
    };
    assert_eq!(ours(&report, &media_id), 0, "{report:?}");
    assert!(report.materials >= 1);
    // A material row naming a picture its account has no row of (only damage does this).
    let mut stray = app
        .storage
        .meta
        .material(
            &AppId::parse(&app_of(&app, &token).await).expect("appid"),
            &media_id,
        )
        .await
        .expect("read")
        .expect("there");
    stray.media_id = format!("stray{}", rand_suffix());
    stray.image = ImageId::of(b"never stored");
    assert!(
        app.storage
            .meta
            .import_material(&stray)
            .await
            .expect("imported")
    );
    let report = wximg_store::fsck::check(&app.storage, &options)
        .await
        .expect("fsck");
    assert!(!report.is_intact(), "{report:?}");
    assert_eq!(ours(&report, &stray.media_id), 1, "{report:?}");
    assert_eq!(ours(&report, &media_id), 0, "{report:?}");
}

/// The appid a token belongs to.
async fn app_of(app: &TestApp, token: &str) -> String {
    let hash = wximg_server::secrets::hash_token(token);
    app.storage
        .meta
        .token(&hash)
        .await
        .expect("read")
        .expect("token")
        .appid
        .to_string()
}

#[tokio::test]
async fn methods_and_paths() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let v = app
        .get_json(&format!(
            "/cgi-bin/material/add_material?access_token={token}&type=image"
        ))
        .await;
    assert_eq!(code(&v), 43002, "{v}");
    let v = checked_json(
        app.http
            .put(app.url(&format!(
                "/cgi-bin/material/get_materialcount?access_token={token}"
            )))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(code(&v), 43001, "{v}");
    let v = app
        .post_json(
            &format!("/cgi-bin/material/get_materialcount?access_token={token}"),
            &json!({}),
        )
        .await;
    assert_eq!(v["image_count"], 0, "POST is taken too: {v}");
    let v = app.get_json("/cgi-bin/material/get_materialcount").await;
    assert_eq!(code(&v), 41001, "{v}");
}

/// A suffix no other run picked (the scale-out database outlives a run).
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[tokio::test]
async fn the_retired_news_material_calls_answer_45106() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let news = json!({"articles":[{"title":"t","content":"<p>x</p>","thumb_media_id":"m"}]});
    for path in [
        "/cgi-bin/material/add_news",
        "/cgi-bin/material/update_news",
    ] {
        let v = app
            .post_json(&format!("{path}?access_token={token}"), &news)
            .await;
        assert_eq!(code(&v), 45106, "{path}: {v}");
        let msg = v["errmsg"].as_str().unwrap_or_default();
        assert!(msg.starts_with("This API has been unsupported."), "{msg}");
        // The caller is checked first, as for every call.
        let v = app
            .post_json(&format!("{path}?access_token=not-a-token"), &news)
            .await;
        assert_eq!(code(&v), 40001, "{path}: {v}");
    }
}

/// `media/upload?type=kind` (temporary material) with one `media` part.
async fn upload_temporary(
    app: &TestApp,
    token: &str,
    kind: &str,
    filename: Option<&str>,
    bytes: Vec<u8>,
) -> Value {
    let path = format!("/cgi-bin/media/upload?access_token={token}&type={kind}");
    app.post_media(&path, filename, None, bytes).await
}

#[tokio::test]
async fn temporary_material_is_served_to_its_account_for_three_days() {
    let app = spawn_app().await;
    let account = app.create_app(AppType::Official).await;
    let token = app.token(&account).await;
    let photo = pictures::jpeg(320, 200, 4);
    let v = upload_temporary(&app, &token, "image", Some("a.jpg"), photo.clone()).await;
    assert!(v.get("errcode").is_none(), "no errcode on success: {v}");
    assert_eq!(v["type"], "image");
    assert_eq!(v["created_at"].as_i64(), Some(app.clock.now()));
    let media_id = v["media_id"].as_str().expect("media_id").to_string();
    assert_eq!(media_id.len(), 64);
    // A thumb's id is `thumb_media_id`, as the platform names it.
    let thumb = pictures::jpeg(64, 64, 5);
    let t = upload_temporary(&app, &token, "thumb", Some("t.jpg"), thumb).await;
    assert_eq!(t["type"], "thumb");
    assert!(
        t["thumb_media_id"].as_str().is_some_and(|m| m.len() == 64),
        "{t}"
    );
    assert!(t.get("media_id").is_none(), "{t}");

    let get = |token: String, id: String| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&format!(
                    "/cgi-bin/media/get?access_token={token}&media_id={id}"
                )))
                .send()
                .await
                .expect("request")
        }
    };
    let resp = get(token.clone(), media_id.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.bytes().await.expect("body").to_vec(), photo);
    // Not another account's, not an unknown id, not after three days.
    let other = app.official_token().await;
    let v = checked_json(get(other, media_id.clone()).await).await;
    assert_eq!(code(&v), 40007, "{v}");
    let v = checked_json(get(token.clone(), "nope".into()).await).await;
    assert_eq!(code(&v), 40007, "{v}");
    app.clock.advance(3 * 86_400 - 60);
    // The token has expired meanwhile: the same account's new one.
    let token = app.token(&account).await;
    let resp = get(token.clone(), media_id.clone()).await;
    let body = resp.bytes().await.expect("body").to_vec();
    assert!(body == photo, "still there a minute before");
    app.clock.advance(60);
    let v = checked_json(get(token.clone(), media_id).await).await;
    assert_eq!(code(&v), 40007, "expired: {v}");

    // Refused as add_material refuses: voice/video, no filename, not a picture.
    let v = upload_temporary(&app, &token, "voice", Some("a.mp3"), vec![1; 10]).await;
    assert_eq!(code(&v), 40004, "{v}");
    let v = upload_temporary(&app, &token, "image", None, photo.clone()).await;
    assert_eq!(code(&v), 41005, "{v}");
    let v = upload_temporary(
        &app,
        &token,
        "image",
        Some("a.jpg"),
        b"not a picture".to_vec(),
    )
    .await;
    assert_eq!(code(&v), 40005, "{v}");
    // It is not a permanent material: the library stays empty.
    let count = app
        .get_json(&format!(
            "/cgi-bin/material/get_materialcount?access_token={token}"
        ))
        .await;
    assert_eq!(count["image_count"], 0, "{count}");
}
