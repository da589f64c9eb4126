//! Permanent material: an account's picture library (`add_material` and friends).
//!
//! Invariant: **a material row always names a picture row of its own account**, so its
//! bytes are kept, served, checked (`fsck`), copied (`migrate`) and taken down like any
//! picture's. [`crate::Storage::store_material`] writes the picture first (blob, then
//! row) and the material row last; a takedown of the picture removes its materials in the
//! same transaction. The library's cap is kept by a per-account counter bumped in the
//! material insert's own transaction, conditionally (`count < cap`), so two nodes adding
//! the last free slot at once cannot both get it.

use async_trait::async_trait;
use wximg_proto::{AppId, ImageFormat, ImageId};

use crate::Result;

/// The platform's material types that wximg hosts: pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaterialKind {
    /// `type=image`: bmp/png/jpeg/gif, up to 10 MB.
    Image,
    /// `type=thumb`: a JPEG of up to 64 KB (covers of legacy news, music thumbnails).
    Thumb,
}

impl MaterialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialKind::Image => "image",
            MaterialKind::Thumb => "thumb",
        }
    }

    pub fn parse(s: &str) -> Option<MaterialKind> {
        match s {
            "image" => Some(MaterialKind::Image),
            "thumb" => Some(MaterialKind::Thumb),
            _ => None,
        }
    }
}

/// One material of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialRecord {
    /// Opaque and random (64 URL-safe characters, as the platform's), unique per account.
    pub media_id: String,
    pub appid: AppId,
    pub kind: MaterialKind,
    /// The picture row (of `appid`) that holds its bytes.
    pub image: ImageId,
    pub format: ImageFormat,
    /// The uploaded part's filename (`batchget_material`'s `name`).
    pub name: String,
    /// The URL `add_material` answered (`…/mmbiz_<kind>/<id>/0?wx_fmt=<fmt>`).
    pub url: String,
    /// Unix seconds it was added (`batchget_material`'s `update_time`).
    pub created_at: i64,
}

/// A temporary material (`media/upload`): a picture row's bytes that `media/get` serves
/// under `media_id` for [`TEMPORARY_SECS`] after `created_at`. Not in the library: no
/// cap, never listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryRecord {
    /// Opaque and random (64 URL-safe characters), unique per account.
    pub media_id: String,
    pub appid: AppId,
    pub kind: MaterialKind,
    /// The picture row (of `appid`) that holds its bytes.
    pub image: ImageId,
    pub format: ImageFormat,
    /// Unix seconds it was uploaded (the answer's `created_at`).
    pub created_at: i64,
}

/// How long the platform keeps a temporary material: three days.
pub const TEMPORARY_SECS: i64 = 3 * 86_400;

/// What adding a material did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialInsert {
    Added,
    /// The account already holds `cap` materials; nothing was written (45034).
    LibraryFull,
}

/// The materials repository (a supertrait of [`crate::MetaStore`]). Every method is one
/// atomic step.
#[async_trait]
pub trait MaterialStore {
    /// Adds `material` if its account holds fewer than `cap` materials: the counter's
    /// conditional increment and the row's insert are one transaction.
    async fn insert_material(&self, material: &MaterialRecord, cap: u64) -> Result<MaterialInsert>;
    /// The account's material with this media_id (what drafts use for thumb_media_id:
    /// `None` answers 40007).
    async fn material(&self, appid: &AppId, media_id: &str) -> Result<Option<MaterialRecord>>;
    /// How many materials the account holds (the counter: no rows counted).
    async fn material_count(&self, appid: &AppId) -> Result<u64>;
    /// One page of the account's materials, newest first.
    async fn list_materials(
        &self,
        appid: &AppId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<MaterialRecord>>;
    /// Removes the account's material (its picture row stays, as an uploadimg picture's
    /// would); `false` if there was none.
    async fn delete_material(&self, appid: &AppId, media_id: &str) -> Result<bool>;
    /// Every material of every account, oldest first (`migrate`, `fsck`).
    async fn all_materials(&self) -> Result<Vec<MaterialRecord>>;
    /// `migrate`: stores `material` unless its (appid, media_id) is here already (`false`),
    /// counting it, whatever the cap (the source held it).
    async fn import_material(&self, material: &MaterialRecord) -> Result<bool>;
    /// Stores a temporary material's row (its picture is stored first); `false` if its
    /// media_id is taken.
    async fn insert_temporary(&self, media: &TemporaryRecord) -> Result<bool>;
    /// The account's temporary material with this media_id, whatever its age (the
    /// caller decides whether it has expired).
    async fn temporary(&self, appid: &AppId, media_id: &str) -> Result<Option<TemporaryRecord>>;
}
