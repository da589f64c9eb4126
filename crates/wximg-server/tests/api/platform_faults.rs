//! Fault injection: `--faults` rules and the `X-Wximg-Fault` header make the real server
//! answer chosen codes; faults store nothing and are counted in the metrics.

use crate::support::{code, pictures, spawn_app, spawn_with};
use wximg_proto::{AppType, ImageId};
use wximg_server::platform::faults;

#[tokio::test]
async fn a_rule_at_rate_one_always_answers_its_code_and_stores_nothing() {
    let app = spawn_with(|s| {
        s.platform.faults = faults::parse_rules("uploadimg:-1:1.0").expect("rules");
    })
    .await;
    let token = app.official_token().await; // token calls are not affected
    let bytes = pictures::jpeg(32, 32, 5);
    let v = app.upload(&token, "a.jpg", bytes.clone()).await;
    assert_eq!(code(&v), -1, "{v}");
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap_or("")
            .starts_with("system error rid: ")
    );
    let stored = app
        .storage
        .meta
        .image(&ImageId::of(&bytes))
        .await
        .expect("lookup");
    assert!(stored.is_none(), "a fault must not store the picture");

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("wximg_faults_injected_total{")
                && l.contains("endpoint=\"uploadimg\"")
                && l.contains("errcode=\"-1\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rule_at_a_fraction_fires_about_that_often() {
    let app = spawn_with(|s| {
        s.platform.faults = faults::parse_rules("token:45011:0.5").expect("rules");
    })
    .await;
    let c = app.create_app(AppType::Official).await;
    let url = format!(
        "/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
        c.appid, c.secret
    );
    let mut faulted = 0;
    for _ in 0..200 {
        match code(&app.get_json(&url).await) {
            45011 => faulted += 1,
            0 => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Binomial(200, 0.5): outside 60..=140 has probability < 1e-8.
    assert!((60..=140).contains(&faulted), "{faulted} of 200");
}

#[tokio::test]
async fn the_fault_header_is_honoured_only_when_allowed() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    let send = |app: &crate::support::TestApp, token: String| {
        let form = reqwest::multipart::Form::new().part(
            "media",
            reqwest::multipart::Part::bytes(pictures::jpeg(8, 8, 1)).file_name("a.jpg"),
        );
        let req = app
            .http
            .post(app.url(&format!("/cgi-bin/media/uploadimg?access_token={token}")))
            .header("x-wximg-fault", "42001")
            .multipart(form);
        async move { crate::support::checked_json(req.send().await.expect("request")).await }
    };
    assert_eq!(
        code(&send(&app, token).await),
        0,
        "ignored when not allowed"
    );

    let app = spawn_with(|s| s.platform.allow_fault_header = true).await;
    let token = app.official_token().await;
    let v = send(&app, token).await;
    assert_eq!(code(&v), 42001, "{v}");
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap_or("")
            .starts_with("access_token expired rid: ")
    );
}

#[test]
fn rules_are_parsed_strictly() {
    let rules = faults::parse_rules("uploadimg:-1:0.1,token:45011:0.05").expect("rules");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1].code.code(), 45011);
    assert!(faults::parse_rules("uploadimg:-1").is_err());
    assert!(faults::parse_rules("uploadimg:12345:0.1").is_err());
    assert!(faults::parse_rules("uploadimg:-1:1.5").is_err());
    assert!(
        faults::parse_rules("upload:-1:0.5").is_err(),
        "a typo must not silently never fire"
    );
    assert!(faults::parse_rules("*:-1:0.5").is_ok());
}

/// An injected fault reads the body away inside the request timeout: a body that drips
/// gets its answer by the timeout (the fault layer used to sit outside it, and a dripping
/// body held the answer for as long as it dripped).
#[tokio::test]
async fn a_fault_on_a_dripping_body_answers_by_the_request_timeout() {
    let app = spawn_with(|s| {
        s.platform.faults = faults::parse_rules("uploadimg:-1:1.0").expect("rules");
        s.request_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    let token = app.official_token().await;
    // 20 chunks, one every 500 ms: ten seconds of body.
    let drip = futures_util::stream::unfold(0u32, |n| async move {
        if n == 20 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        Some((Ok::<_, std::io::Error>(vec![b'x'; 64]), n + 1))
    });
    let started = std::time::Instant::now();
    let resp = app
        .http
        .post(app.url(&format!("/cgi-bin/media/uploadimg?access_token={token}")))
        .header("content-type", "multipart/form-data; boundary=drip")
        .body(reqwest::Body::wrap_stream(drip))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let v: serde_json::Value = resp.json().await.expect("JSON");
    let took = started.elapsed();
    assert_eq!(code(&v), -1, "{v}");
    assert!(
        took < std::time::Duration::from_secs(6),
        "answered after {took:?}, past the 2 s request timeout"
    );
}
