//! `freepublish/*` against the real server: the codes that need no draft, and — with a
//! cover from `material/add_material` (the `with_material` tests) — a job's life
//! (publishing, then success or the failure fault injection chose), the draft leaving
//! the draft box, the reads and deletion.

use std::time::Duration;

use serde_json::{Value, json};
use wximg_proto::AppType;

use crate::support::articles::{add_draft, article, call, call_raw, thumb};
use crate::support::{TestApp, code, spawn_app, spawn_with};

#[tokio::test]
async fn unknown_ids_answer_the_platforms_codes() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    for body in [
        json!({"publish_id": "2247483650"}),
        json!({"publish_id": 2247483650_i64}),
        json!({"publish_id": "x"}),
        json!({}),
    ] {
        assert_eq!(
            code(&call(&app, "/cgi-bin/freepublish/get", &token, &body).await),
            40007,
            "{body}"
        );
    }
    for path in [
        "/cgi-bin/freepublish/getarticle",
        "/cgi-bin/freepublish/delete",
    ] {
        assert_eq!(
            code(&call(&app, path, &token, &json!({"article_id": "nope"})).await),
            53600,
            "{path}"
        );
    }
    assert_eq!(
        code(&call(&app, "/cgi-bin/freepublish/submit", &token, &json!({})).await),
        40007
    );
    let v = call(
        &app,
        "/cgi-bin/freepublish/batchget",
        &token,
        &json!({"offset":0,"count":10}),
    )
    .await;
    assert_eq!(v, json!({"total_count":0,"item_count":0,"item":[]}));
    let mini = app.create_app(AppType::MiniProgram).await;
    let mini = app.token(&mini).await;
    assert_eq!(
        code(
            &call(
                &app,
                "/cgi-bin/freepublish/submit",
                &mini,
                &json!({"media_id":"m"})
            )
            .await
        ),
        48001
    );
    assert_eq!(
        code(
            &app.get_json(&format!("/cgi-bin/freepublish/get?access_token={token}"))
                .await
        ),
        43002
    );
}

#[tokio::test]
async fn an_injected_errcode_on_submit_answers_before_anything_is_stored() {
    let app = spawn_with(|s| {
        s.platform.faults =
            wximg_server::platform::faults::parse_rules("freepublish_submit:-1:1.0")
                .expect("rules");
    })
    .await;
    let token = app.official_token().await;
    let v = call_raw(
        &app,
        "/cgi-bin/freepublish/submit",
        &token,
        r#"{"media_id":"m"}"#,
        None,
    )
    .await;
    assert_eq!(code(&v), -1);
    assert!(
        "9:0.5"
            .parse::<wximg_server::platform::faults::PublishFault>()
            .is_err()
    );
    assert!(
        "0:0.5"
            .parse::<wximg_server::platform::faults::PublishFault>()
            .is_err()
    );
    assert!(
        "3:0.5"
            .parse::<wximg_server::platform::faults::PublishFault>()
            .is_ok()
    );
}

/// A server whose jobs publish for one second (its clock stands still until moved).
async fn publishing_app(configure: impl FnOnce(&mut wximg_server::Settings)) -> TestApp {
    spawn_with(|s| {
        s.platform.publish_delay = Some(Duration::from_secs(1));
        s.platform.allow_fault_header = true;
        configure(s);
    })
    .await
}

async fn submit(app: &TestApp, token: &str, media_id: &str, status: Option<&str>) -> Value {
    let mut req = app
        .http
        .post(app.url(&format!("/cgi-bin/freepublish/submit?access_token={token}")))
        .json(&json!({ "media_id": media_id }));
    if let Some(s) = status {
        req = req.header("X-Wximg-Publish-Status", s);
    }
    crate::support::answer(req).await
}

async fn status(app: &TestApp, token: &str, publish_id: &Value) -> Value {
    call(
        app,
        "/cgi-bin/freepublish/get",
        token,
        &json!({ "publish_id": publish_id }),
    )
    .await
}

/// These need `material/add_material` for the cover: they pass once the material branch
/// is merged.
mod with_material {
    use super::*;

    #[tokio::test]
    async fn a_job_publishes_then_succeeds_and_the_draft_leaves_the_box() {
        let app = publishing_app(|_| {}).await;
        let token = app.official_token().await;
        let cover = thumb(&app, &token).await;
        let media_id = add_draft(
            &app,
            &token,
            vec![
                article("一", "<p>1</p>", &cover),
                article("二", "<p>2</p>", &cover),
            ],
        )
        .await;
        let v = submit(&app, &token, &media_id, None).await;
        assert_eq!(v["errcode"], 0, "{v}");
        assert_eq!(v["errmsg"], "ok");
        let publish_id = v["publish_id"].clone();
        let id: i64 = publish_id
            .as_str()
            .expect("a string")
            .parse()
            .expect("numeric");
        assert!(id >= 2_247_483_648, "{id}");
        assert_eq!(v["msg_data_id"].as_i64(), Some(id));

        let v = status(&app, &token, &publish_id).await;
        assert_eq!(
            v,
            json!({"publish_id": publish_id, "publish_status": 1, "fail_idx": []})
        );
        app.clock.advance(2);
        let v = status(&app, &token, &publish_id).await;
        assert_eq!(v["publish_status"], 0, "{v}");
        let article_id = v["article_id"].as_str().expect("article_id").to_string();
        assert_eq!(v["article_detail"]["count"], 2);
        let items = v["article_detail"]["item"].as_array().expect("items");
        assert_eq!(items[0]["idx"], 1);
        assert_eq!(items[1]["idx"], 2);
        let url = items[0]["article_url"].as_str().expect("url");
        assert!(url.starts_with(&format!("{}/s/", app.base)), "{url}");
        assert_eq!(v["fail_idx"], json!([]));
        // The same answer again (ended once), and the draft is gone from the box.
        assert_eq!(status(&app, &token, &publish_id).await, v);
        assert_eq!(
            code(
                &call(
                    &app,
                    "/cgi-bin/draft/get",
                    &token,
                    &json!({"media_id": media_id})
                )
                .await
            ),
            40007
        );
        assert_eq!(
            app.get_json(&format!("/cgi-bin/draft/count?access_token={token}"))
                .await["total_count"],
            0
        );
        // Another account knows nothing of it.
        let other = app.official_token().await;
        assert_eq!(code(&status(&app, &other, &publish_id).await), 40007);
        assert_eq!(
            code(
                &call(
                    &app,
                    "/cgi-bin/freepublish/getarticle",
                    &other,
                    &json!({"article_id": article_id})
                )
                .await
            ),
            53600
        );

        let v = call(
            &app,
            "/cgi-bin/freepublish/getarticle",
            &token,
            &json!({"article_id": article_id}),
        )
        .await;
        assert!(v.get("errcode").is_none(), "{v}");
        assert_eq!(v["news_item"][0]["title"], "一");
        assert_eq!(v["news_item"][0]["url"].as_str(), Some(url));
        assert_eq!(v["news_item"][0]["is_deleted"], false);
        let v = call(
            &app,
            "/cgi-bin/freepublish/batchget",
            &token,
            &json!({"offset":0,"count":10,"no_content":1}),
        )
        .await;
        assert_eq!(v["total_count"], 1);
        assert_eq!(
            v["item"][0]["article_id"].as_str(),
            Some(article_id.as_str())
        );
        assert_eq!(
            v["item"][0]["content"]["news_item"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(
            v["item"][0]["content"]["news_item"][0]
                .get("content")
                .is_none()
        );

        // Deleting article 2, then a bad index, then all: status 5 once nothing is left.
        let del = |index: Value| {
            let body = json!({"article_id": article_id, "index": index});
            let (app, token) = (&app, &token);
            async move { call(app, "/cgi-bin/freepublish/delete", token, &body).await }
        };
        // An index that is no integer is no article's: never "all of them".
        for unreadable in [
            json!(true),
            json!(1.5),
            json!("two"),
            json!(99_999_999_999_999_999_999.0),
        ] {
            assert_eq!(code(&del(unreadable.clone()).await), 53600, "{unreadable}");
        }
        assert_eq!(
            status(&app, &token, &publish_id).await["article_detail"]["count"],
            2
        );
        assert_eq!(del(json!(2.0)).await, json!({"errcode":0,"errmsg":"ok"}));
        assert_eq!(code(&del(json!(3)).await), 53600);
        let v = status(&app, &token, &publish_id).await;
        assert_eq!(v["publish_status"], 0);
        assert_eq!(v["article_detail"]["count"], 1);
        assert_eq!(del(json!(0)).await, json!({"errcode":0,"errmsg":"ok"}));
        assert_eq!(status(&app, &token, &publish_id).await["publish_status"], 5);
        let v = call(
            &app,
            "/cgi-bin/freepublish/getarticle",
            &token,
            &json!({"article_id": article_id}),
        )
        .await;
        assert_eq!(v["news_item"][0]["is_deleted"], true);
        let v = call(
            &app,
            "/cgi-bin/freepublish/batchget",
            &token,
            &json!({"offset":0,"count":10}),
        )
        .await;
        assert_eq!(v["total_count"], 0);
    }

    #[tokio::test]
    async fn a_draft_is_published_once_and_not_changed_while_it_publishes() {
        let app = publishing_app(|_| {}).await;
        let token = app.official_token().await;
        let cover = thumb(&app, &token).await;
        let media_id = add_draft(&app, &token, vec![article("一", "<p>1</p>", &cover)]).await;
        // Five submits at once: one job.
        let answers =
            futures_util::future::join_all((0..5).map(|_| submit(&app, &token, &media_id, None)))
                .await;
        let accepted: Vec<&Value> = answers.iter().filter(|v| v["errcode"] == 0).collect();
        assert_eq!(accepted.len(), 1, "{answers:?}");
        assert!(
            answers
                .iter()
                .all(|v| v["errcode"] == 0 || code(v) == 40007)
        );
        let publish_id = accepted[0]["publish_id"].clone();
        // While it publishes: no second submit, no edit, no deletion.
        assert_eq!(code(&submit(&app, &token, &media_id, None).await), 40007);
        let update = json!({"media_id": media_id, "index": 0, "articles": article("改", "<p>2</p>", &cover)});
        let v = call(&app, "/cgi-bin/draft/update", &token, &update).await;
        assert_eq!(code(&v), 40007, "{v}");
        assert!(
            v["errmsg"]
                .as_str()
                .is_some_and(|m| m.starts_with("invalid media_id")),
            "{v}"
        );
        let delete = json!({"media_id": media_id});
        assert_eq!(
            code(&call(&app, "/cgi-bin/draft/delete", &token, &delete).await),
            40007
        );
        app.clock.advance(2);
        let v = status(&app, &token, &publish_id).await;
        assert_eq!(v["publish_status"], 0, "{v}");
        let article_id = v["article_id"].clone();
        let v = call(
            &app,
            "/cgi-bin/freepublish/getarticle",
            &token,
            &json!({"article_id": article_id}),
        )
        .await;
        assert_eq!(
            v["news_item"][0]["content"], "<p>1</p>",
            "what was submitted"
        );
        let v = call(
            &app,
            "/cgi-bin/freepublish/batchget",
            &token,
            &json!({"offset":0,"count":10}),
        )
        .await;
        assert_eq!(v["total_count"], 1, "published once: {v}");
    }

    #[tokio::test]
    async fn injected_failures_end_jobs_in_their_status_and_keep_the_draft() {
        let app = publishing_app(|_| {}).await;
        let token = app.official_token().await;
        let cover = thumb(&app, &token).await;
        let media_id = add_draft(
            &app,
            &token,
            vec![
                article("一", "<p>1</p>", &cover),
                article("二", "<p>2</p>", &cover),
            ],
        )
        .await;
        let routine = submit(&app, &token, &media_id, Some("3")).await["publish_id"].clone();
        assert_eq!(status(&app, &token, &routine).await["publish_status"], 1);
        app.clock.advance(2);
        assert_eq!(
            status(&app, &token, &routine).await,
            json!({"publish_id": routine, "publish_status": 3, "fail_idx": []})
        );
        // A failed job left the draft: it can be submitted again.
        let review = submit(&app, &token, &media_id, Some("4")).await["publish_id"].clone();
        app.clock.advance(2);
        assert_eq!(
            status(&app, &token, &review).await,
            json!({"publish_id": review, "publish_status": 4, "fail_idx": [1, 2]})
        );
        assert_eq!(
            app.get_json(&format!("/cgi-bin/draft/count?access_token={token}"))
                .await["total_count"],
            1
        );

        let app = publishing_app(|s| {
            s.platform.publish_faults = vec!["2:1.0".parse().expect("rule")];
        })
        .await;
        let token = app.official_token().await;
        let cover = thumb(&app, &token).await;
        let media_id = add_draft(&app, &token, vec![article("一", "<p>1</p>", &cover)]).await;
        let id = submit(&app, &token, &media_id, None).await["publish_id"].clone();
        app.clock.advance(2);
        assert_eq!(status(&app, &token, &id).await["publish_status"], 2);
    }

    #[tokio::test]
    async fn the_finisher_ends_due_jobs_without_being_asked() {
        let app = publishing_app(|_| {}).await;
        let token = app.official_token().await;
        let cover = thumb(&app, &token).await;
        let media_id = add_draft(&app, &token, vec![article("一", "<p>1</p>", &cover)]).await;
        let id: i64 = submit(&app, &token, &media_id, None).await["publish_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("numeric");
        app.clock.advance(2);
        let meta = app.storage.meta.as_ref();
        let mut ended = None;
        for _ in 0..40 {
            let job = meta.publish_job(id).await.expect("read").expect("job");
            if job.status != 1 {
                ended = Some(job);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let job = ended.expect("the finisher ended the job");
        assert_eq!(job.status, 0);
        assert_eq!(
            meta.published(&job.appid, &job.article_id)
                .await
                .expect("read")
                .len(),
            1
        );
        assert_eq!(meta.draft_count(&job.appid).await.expect("count"), 0);
    }
}

#[tokio::test]
async fn a_picture_message_is_drafted_and_published_with_its_pictures() {
    let app = publishing_app(|_| {}).await;
    let token = app.official_token().await;
    let (one, two) = (thumb(&app, &token).await, thumb(&app, &token).await);
    let newspic = |images: Vec<&str>| {
        let list: Vec<Value> = images
            .iter()
            .map(|id| json!({ "image_media_id": id }))
            .collect();
        json!({"articles":[{"article_type":"newspic","title":"图片","content":"两张图",
                            "image_info":{"image_list": list}}]})
    };
    // No cover needed; its pictures must be the account's image materials.
    let v = call(
        &app,
        "/cgi-bin/draft/add",
        &token,
        &newspic(vec![&one, &two]),
    )
    .await;
    let media_id = v["media_id"].as_str().expect("media_id").to_string();
    for bad in [newspic(vec![]), newspic(vec!["nope"])] {
        let v = call(&app, "/cgi-bin/draft/add", &token, &bad).await;
        assert_eq!(code(&v), 40007, "{v}");
    }
    let v = call(
        &app,
        "/cgi-bin/draft/get",
        &token,
        &json!({"media_id": media_id}),
    )
    .await;
    let item = &v["news_item"][0];
    assert_eq!(item["article_type"], "newspic", "{v}");
    assert_eq!(
        item["image_info"]["image_list"][1]["image_media_id"],
        two.as_str()
    );
    // An article is `news`.
    let article_id = add_draft(&app, &token, vec![article("文", "<p>x</p>", &one)]).await;
    let v = call(
        &app,
        "/cgi-bin/draft/get",
        &token,
        &json!({"media_id": article_id}),
    )
    .await;
    assert_eq!(v["news_item"][0]["article_type"], "news");
    assert!(v["news_item"][0].get("image_info").is_none(), "{v}");

    // Published: its page shows both pictures above the text.
    let publish_id = submit(&app, &token, &media_id, None).await["publish_id"].clone();
    app.clock.advance(2);
    let v = status(&app, &token, &publish_id).await;
    let url = v["article_detail"]["item"][0]["article_url"]
        .as_str()
        .expect("article_url")
        .to_string();
    let page = app.fetch(&url).await.text().await.expect("page");
    let material_url = |id: &str| {
        let id = id.to_string();
        let (app, token) = (&app, &token);
        async move {
            let v = call(
                app,
                "/cgi-bin/material/batchget_material",
                token,
                &json!({"type":"image","offset":0,"count":20}),
            )
            .await;
            v["item"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["media_id"] == id.as_str()))
                .and_then(|i| i["url"].as_str())
                .map(str::to_string)
                .expect("the material's url")
        }
    };
    for id in [&one, &two] {
        let url = material_url(id).await.replace('&', "&amp;");
        assert!(page.contains(&url), "{url} not in the page");
    }
    assert!(page.contains("两张图"));
}
