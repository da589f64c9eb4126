//! `wximg migrate`: an embedded deployment copied into PostgreSQL + S3 keeps working there
//! — same accounts, same tokens, same pictures — and a damaged blob is refused, not copied,
//! then picked up by the next run once repaired.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wximg_proto::ImageId;
use wximg_server::platform::quota;
use wximg_store::MetaStore;
use wximg_store::postgres::PostgresMeta;
use wximg_store::sqlite::SqliteMeta;

use crate::support::pictures::unique_png;
use crate::support::services::{PUBLIC_URL, node};
use crate::support::{
    App, Backend, Server, Services, WXIMG, classic_token, create_app, http, services, stable_token,
    upload, url_path,
};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// `wximg serve --data DIR` (embedded), with the scale-out nodes' public name.
fn embedded_node(data: &Path) -> Server {
    Server::start(Backend::Embedded(data), &["--public-url", PUBLIC_URL])
}

fn migrate(svc: &Services, data: &Path) -> (bool, String) {
    let out = Command::new(WXIMG)
        .arg("migrate")
        .arg("--from")
        .arg(data)
        .arg("--to-database")
        .arg(&svc.database_url)
        .arg("--to-store")
        .arg(&svc.store)
        .output()
        .expect("run wximg migrate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_verifies_and_resumes() {
    let Some(svc) = services("migrate_copies_verifies_and_resumes") else {
        return;
    };
    let data = tempfile::tempdir().expect("temp dir");
    let App { appid, secret, .. } = create_app(Backend::Embedded(data.path()), "official");

    // Life on embedded storage: tokens of both kinds, five pictures.
    let http = http();
    let (classic, stable, pictures) = {
        let node = embedded_node(data.path());
        let classic = classic_token(&http, &node.base, &appid, &secret).await;
        let stable = stable_token(&http, &node.base, &appid, &secret, false).await;
        let stable = stable["access_token"].as_str().expect("stable").to_string();
        let mut pictures = Vec::new();
        for _ in 0..5 {
            let png = unique_png();
            let v = upload(&http, &node.base, &classic, png.clone()).await;
            assert_eq!(v["errcode"], 0, "{v}");
            pictures.push((url_path(v["url"].as_str().expect("url")), png));
        }
        (classic, stable, pictures)
    };

    // A platform record (the app's upload quota) set on the embedded side.
    let app_id = wximg_proto::AppId::parse(&appid).expect("appid");
    let limits = quota::QuotaLimits {
        daily: Some(500),
        per_minute: Some(50),
    };
    {
        let source = SqliteMeta::open(&data.path().join("wximg.sqlite3"))
            .await
            .expect("open the source");
        quota::set_limits(&source, &app_id, "uploadimg", limits, now())
            .await
            .expect("set a quota");
    }

    // Damage one blob file: migrate must refuse it and leave its row out.
    let (_, damaged) = &pictures[4];
    let hex = ImageId::of(damaged).hex();
    let blob = data.path().join("blobs").join(&hex[..2]).join(&hex);
    let mut broken = damaged.clone();
    broken[20] ^= 0xFF;
    std::fs::write(&blob, &broken).expect("damage the blob");

    let (ok, text) = migrate(&svc, data.path());
    assert!(!ok, "migrate succeeded with a damaged blob:\n{text}");
    assert!(text.contains("apps: 1 copied"), "{text}");
    assert!(text.contains("platform records: 1 copied"), "{text}");
    assert!(
        text.contains("pictures: 4 copied, 0 already there, 1 FAILED"),
        "{text}"
    );
    assert!(text.contains("BLAKE3 mismatch"), "{text}");
    let meta = PostgresMeta::open(&svc.database_url).await.expect("meta");
    assert_eq!(
        meta.image(&ImageId::of(damaged)).await.expect("lookup"),
        None,
        "a damaged picture got a row"
    );

    // Repaired, the next run copies just that one; the run after copies nothing.
    std::fs::write(&blob, damaged).expect("repair the blob");
    let (ok, text) = migrate(&svc, data.path());
    assert!(ok, "{text}");
    assert!(text.contains("apps: 0 copied, 1 already there"), "{text}");
    assert!(
        text.contains("pictures: 1 copied, 4 already there"),
        "{text}"
    );
    let (ok, text) = migrate(&svc, data.path());
    assert!(ok, "{text}");
    assert!(
        text.contains("pictures: 0 copied, 5 already there"),
        "{text}"
    );
    assert!(text.contains("tokens: 0 copied, 2 already there"), "{text}");

    assert_eq!(
        quota::own_limits(&meta, &app_id, "uploadimg", now())
            .await
            .expect("limits"),
        limits,
        "the quota record was not migrated"
    );

    // On the scale-out side the same credentials, tokens and pictures work.
    let node = node(&svc);
    let v = upload(&http, &node.base, &classic, unique_png()).await;
    assert_eq!(v["errcode"], 0, "migrated classic token refused: {v}");
    let s = stable_token(&http, &node.base, &appid, &secret, false).await;
    assert_eq!(s["access_token"].as_str(), Some(stable.as_str()), "{s}");
    for (path, png) in &pictures {
        let got = http
            .get(format!("{}{path}", node.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(got.status(), 200, "{path}");
        assert_eq!(&got.bytes().await.expect("body").to_vec(), png, "{path}");
    }
}

/// `add_material?type=image` of `bytes` on the server at `base`.
async fn add_material(http: &reqwest::Client, base: &str, token: &str, bytes: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(bytes).file_name("img.jpg"),
    );
    let resp = http
        .post(format!(
            "{base}/cgi-bin/material/add_material?access_token={token}&type=image"
        ))
        .multipart(form)
        .send()
        .await
        .expect("add_material");
    resp.json().await.expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_materials_after_their_pictures() {
    let Some(svc) = services("migrate_copies_materials_after_their_pictures") else {
        return;
    };
    let data = tempfile::tempdir().expect("temp dir");
    let App { appid, secret, .. } = create_app(Backend::Embedded(data.path()), "official");
    let http = http();
    let (token, materials) = {
        let node = embedded_node(data.path());
        let token = classic_token(&http, &node.base, &appid, &secret).await;
        let mut materials = Vec::new();
        for _ in 0..2 {
            let png = unique_png();
            let v = add_material(&http, &node.base, &token, png.clone()).await;
            assert!(v.get("errcode").is_none(), "{v}");
            let media_id = v["media_id"].as_str().expect("media_id").to_string();
            materials.push((media_id, url_path(v["url"].as_str().expect("url")), png));
        }
        (token, materials)
    };

    // The second material's picture is damaged: neither it nor its material is copied.
    let (_, _, damaged) = &materials[1];
    let hex = ImageId::of(damaged).hex();
    let blob = data.path().join("blobs").join(&hex[..2]).join(&hex);
    let mut broken = damaged.clone();
    broken[20] ^= 0xFF;
    std::fs::write(&blob, &broken).expect("damage the blob");
    let (ok, text) = migrate(&svc, data.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("pictures: 1 copied, 0 already there, 1 FAILED"),
        "{text}"
    );
    assert!(
        text.contains("materials: 1 copied, 0 already there, 1 FAILED"),
        "{text}"
    );
    assert!(
        text.contains("was not copied, so the material is not either"),
        "{text}"
    );

    std::fs::write(&blob, damaged).expect("repair the blob");
    let (ok, text) = migrate(&svc, data.path());
    assert!(ok, "{text}");
    assert!(
        text.contains("materials: 1 copied, 1 already there"),
        "{text}"
    );
    let (ok, text) = migrate(&svc, data.path());
    assert!(ok, "{text}");
    assert!(
        text.contains("materials: 0 copied, 2 already there"),
        "{text}"
    );

    // On the scale-out side: the library, its count (the cap's counter came along), the
    // bytes by media_id and by URL.
    let node = node(&svc);
    let count: Value = http
        .get(format!(
            "{}/cgi-bin/material/get_materialcount?access_token={token}",
            node.base
        ))
        .send()
        .await
        .expect("count")
        .json()
        .await
        .expect("JSON");
    assert_eq!(count["image_count"], 2, "{count}");
    for (media_id, path, png) in &materials {
        let got = http
            .post(format!(
                "{}/cgi-bin/material/get_material?access_token={token}",
                node.base
            ))
            .json(&serde_json::json!({ "media_id": media_id }))
            .send()
            .await
            .expect("get_material");
        assert_eq!(got.headers()["content-type"], "image/png");
        assert_eq!(&got.bytes().await.expect("body").to_vec(), png);
        let got = http
            .get(format!("{}{path}", node.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(&got.bytes().await.expect("body").to_vec(), png, "{path}");
    }
}

/// Drafts, publish jobs and published articles are copied too, once; the article's page
/// is then served by the scale-out nodes.
#[tokio::test]
async fn migrate_copies_the_article_workflow() {
    use wximg_store::{ArticleStore, DraftRecord, PublishJobRecord, PublishedRecord};
    let Some(svc) = services("migrate_copies_the_article_workflow") else {
        return;
    };
    let data = tempfile::tempdir().expect("temp dir");
    let App { appid, .. } = create_app(Backend::Embedded(data.path()), "official");
    let appid = wximg_proto::AppId::parse(&appid).expect("appid");
    let t = now();
    let unique = format!("{t}{}", std::process::id());
    let article = r#"{"title":"迁移","author":"a","digest":"d","content":"<p>moved</p>","content_source_url":"","thumb_media_id":"m","show_cover_pic":0,"need_open_comment":0,"only_fans_can_comment":0,"url":"","thumb_url":""}"#;
    let draft = DraftRecord {
        media_id: format!("draft-{unique}"),
        appid: appid.clone(),
        articles: format!("[{article}]"),
        cleaning: "[{}]".into(),
        version: 1,
        created_at: t,
        updated_at: t,
    };
    let article_id = format!("article-{unique}");
    let url_id = wximg_server::articles::publish::url_id(&article_id, 1);
    let publish_id = 2_247_483_648 + (t % 1_000_000) * 1000 + i64::from(std::process::id() % 1000);
    let job = PublishJobRecord {
        publish_id,
        appid: appid.clone(),
        media_id: format!("published-draft-{unique}"),
        msg_data_id: publish_id,
        articles: format!("[{article}]"),
        cleaning: "[{}]".into(),
        submitted_at: t,
        due_at_ms: t * 1000,
        outcome: 0,
        fail_idx: "[]".into(),
        article_id: article_id.clone(),
        status: 1,
        finished_at: None,
    };
    {
        let source = SqliteMeta::open(&data.path().join("wximg.sqlite3"))
            .await
            .expect("open the source");
        source.insert_draft(&draft).await.expect("draft");
        assert!(source.insert_publish_job(&job).await.expect("job"));
        let published = PublishedRecord {
            article_id: article_id.clone(),
            idx: 1,
            appid: appid.clone(),
            publish_id,
            url_id: url_id.clone(),
            article: article.into(),
            published_at: t,
            deleted_at: None,
        };
        assert!(
            source
                .finish_publish_job(publish_id, 0, t, &[published])
                .await
                .expect("finish")
        );
    }
    let (ok, text) = migrate(&svc, data.path());
    assert!(ok, "{text}");
    assert!(text.contains("drafts: 1 copied"), "{text}");
    assert!(text.contains("publish jobs: 1 copied"), "{text}");
    assert!(text.contains("published articles: 1 copied"), "{text}");
    let (ok, text) = migrate(&svc, data.path());
    assert!(ok, "{text}");
    assert!(text.contains("drafts: 0 copied, 1 already there"), "{text}");
    assert!(
        text.contains("published articles: 0 copied, 1 already there"),
        "{text}"
    );

    let meta = PostgresMeta::open(&svc.database_url).await.expect("meta");
    assert_eq!(
        meta.draft(&appid, &draft.media_id).await.expect("read"),
        Some(draft)
    );
    let copied = meta
        .publish_job(publish_id)
        .await
        .expect("read")
        .expect("job");
    assert_eq!((copied.status, copied.finished_at), (0, Some(t)));
    assert_eq!(
        meta.published(&appid, &article_id)
            .await
            .expect("read")
            .len(),
        1
    );
    let node = node(&svc);
    let page = http()
        .get(format!("{}/s/{url_id}", node.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("迁移"));
}

#[test]
fn migrate_refuses_what_is_not_a_data_directory() {
    let empty = tempfile::tempdir().expect("temp dir");
    let out = Command::new(WXIMG)
        .arg("migrate")
        .arg("--from")
        .arg(empty.path())
        .args([
            "--to-database",
            "postgres://u:p@127.0.0.1:1/x",
            "--to-store",
            "s3://b?endpoint=http://127.0.0.1:1",
        ])
        .output()
        .expect("run wximg migrate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a wximg data directory"), "{err}");
}
