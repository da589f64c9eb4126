// PLACEHOLDER: replaced by the material branch at merge
//! Permanent materials (`material/add_material`): only the one lookup drafts need
//! (`thumb_media_id` must name a permanent material of the account, 40007 otherwise).
//! The material branch replaces this file with the real store.

use async_trait::async_trait;
use wximg_proto::{AppId, ImageFormat, ImageId};

use crate::Result;

/// What kind of permanent material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialKind {
    Image,
    Thumb,
}

/// A permanent material of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialRecord {
    pub media_id: String,
    pub appid: AppId,
    pub kind: MaterialKind,
    pub image: ImageId,
    pub format: ImageFormat,
    pub name: String,
    pub url: String,
    /// `update_time`.
    pub created_at: i64,
}

#[async_trait]
pub trait MaterialStore {
    /// The account's permanent material `media_id`, if it has one.
    async fn material(&self, appid: &AppId, media_id: &str) -> Result<Option<MaterialRecord>>;
}
