//! Account administration (the `wximg app` commands): create, list, rotate, delete.

use wximg_proto::{AppId, AppSecret, AppType};

use crate::secrets;
use wximg_store::{AppRecord, MetaStore, Result};

/// Creates an app; returns it and its secret, which is shown once and stored only hashed.
pub async fn create(
    meta: &dyn MetaStore,
    app_type: AppType,
    name: &str,
    now: i64,
) -> Result<(AppRecord, AppSecret)> {
    let secret = AppSecret::from_random(rand::random());
    let app = AppRecord {
        appid: AppId::from_random(rand::random()),
        app_type,
        name: name.to_string(),
        secret_hash: secrets::hash_secret(&secret),
        created_at: now,
    };
    meta.insert_app(&app).await?;
    Ok((app, secret))
}

/// Gives the app a new secret and ends its tokens. `None` if there is no such app.
pub async fn rotate_secret(
    meta: &dyn MetaStore,
    appid: &AppId,
    now: i64,
) -> Result<Option<AppSecret>> {
    let secret = AppSecret::from_random(rand::random());
    Ok(meta
        .set_secret(appid, secrets::hash_secret(&secret), now)
        .await?
        .then_some(secret))
}
