//! Health, readiness, metrics, and the frame of every answer.

use crate::support::{code, spawn_app};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.status("/healthz").await, 200);
    assert_eq!(app.status("/readyz").await, 200);
}

#[tokio::test]
async fn readiness_goes_red_when_the_blob_directory_is_unusable() {
    if crate::support::scaleout() {
        return; // breaks the local blob directory; scale-out readiness has its own tests
    }
    let app = spawn_app().await;
    let tmp = app.data_dir.path().join("blobs/.tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    assert_eq!(app.status("/readyz").await, 503);
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    // The red answer is given for a second (one probe a second, whoever asks); then the
    // next probe sees the repair.
    assert_eq!(app.status("/readyz").await, 503, "the last probe's answer");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.status("/readyz").await, 200);
}

#[tokio::test]
async fn unknown_api_paths_answer_40066() {
    let app = spawn_app().await;
    for path in ["/cgi-bin/media/voice_to_text", "/cgi-bin/nope", "/cgi-bin/"] {
        assert_eq!(code(&app.get_json(path).await), 40066, "{path}");
    }
    assert_eq!(app.status("/not-an-api").await, 404);
}

#[tokio::test]
async fn metrics_count_requests_by_endpoint_and_errcode() {
    let app = spawn_app().await;
    let token = app.official_token().await;
    assert_eq!(
        code(
            &app.upload(&token, "a.png", crate::support::pictures::png(8, 8, 31))
                .await
        ),
        0
    );
    assert_eq!(
        code(&app.upload(&token, "a.jpg", b"nope".to_vec()).await),
        40005
    );
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "wximg_requests_total{endpoint=\"uploadimg\",errcode=\"0\"",
        "wximg_requests_total{endpoint=\"uploadimg\",errcode=\"40005\"",
        "wximg_request_duration_seconds_bucket{endpoint=\"uploadimg\"",
        "wximg_upload_bytes_total",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}
