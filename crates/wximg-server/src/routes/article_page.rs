//! `GET /s/<id>`: the published article's page (see `crate::articles::page`).

use axum::extract::{Path, State};
use axum::response::Response;
use wximg_proto::articles::NewsItem;

use crate::articles::page;
use crate::state::AppState;

pub async fn article_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    // Page ids are 22 URL-safe characters; anything else is no page (and no query).
    if id.len() != 22
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return page::not_found();
    }
    let record = match state.storage.meta.published_by_url(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => return page::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "article page: storage");
            return page::unavailable();
        }
    };
    match serde_json::from_str::<NewsItem>(&record.article) {
        Ok(article) => {
            // A picture message's pictures, by their materials' URLs (one gone since,
            // deleted from the library, is left out).
            let mut pictures = Vec::new();
            for image in article.image_info.iter().flat_map(|i| &i.image_list) {
                match state
                    .storage
                    .meta
                    .material(&record.appid, &image.image_media_id)
                    .await
                {
                    Ok(Some(material)) => pictures.push(material.url),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "article page: storage");
                        return page::unavailable();
                    }
                }
            }
            page::render(&record, &article, &pictures)
        }
        Err(e) => {
            tracing::error!(error = %e, article_id = record.article_id, "article page: stored article");
            page::unavailable()
        }
    }
}
