//! Copying one deployment's data into another (`wximg migrate`), through the storage
//! traits only: a store is read the way `fsck` reads it, and written the way the upload
//! path writes it.
//!
//! The invariant it keeps: **the target never has a picture row without its verified
//! bytes.** Every blob is checked twice by its BLAKE3 hash — the source's bytes must hash
//! to the picture id before they are sent, and the copy read back from the target must
//! hash to the same before its row is written ([`Storage::store_picture_verified`]) — so
//! an interrupted run resumes by skipping exactly the pictures whose rows exist.

use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use wximg_proto::ImageId;

use crate::{ImageRecord, Storage};

/// Counts of one kind of thing a copy went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Copied by this run.
    pub copied: u64,
    /// In the target already (left as it was).
    pub present: u64,
    /// Not copied (see the run's errors).
    pub failed: u64,
}

impl Tally {
    /// Counts one item: copied (`true`) or there already (`false`).
    pub fn add(&mut self, copied: bool) {
        if copied {
            self.copied += 1;
        } else {
            self.present += 1;
        }
    }

    /// One line for people: `apps: 2 copied, 1 already there[, 1 FAILED]`.
    pub fn line(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} copied, {} already there",
            self.copied, self.present
        );
        if self.failed > 0 {
            s.push_str(&format!(", {} FAILED", self.failed));
        }
        s
    }
}

/// Copies one picture from `source` to `target`: `Ok(false)` if its row is in the
/// target already. The error says what failed, for a line naming the picture.
pub async fn copy_picture(
    source: &Storage,
    target: &Storage,
    image: &ImageRecord,
) -> Result<bool, String> {
    let id = image.id;
    // One row per (picture, app): another app's row of the same bytes is not this one.
    if target
        .meta
        .image_rows(&id)
        .await
        .map_err(|e| format!("target lookup: {e}"))?
        .iter()
        .any(|row| row.appid == image.appid)
    {
        return Ok(false);
    }
    let bytes = source
        .blobs
        .get(&id, None)
        .await
        .map_err(|e| format!("source blob: {e}"))?
        .ok_or("the source has its row but not its blob (run `wximg fsck` on the source)")?
        .try_fold(BytesMut::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .map_err(|e| format!("source blob: {e}"))?
        .freeze();
    if ImageId::of(&bytes) != id {
        return Err(
            "the source blob does not hash to its id (BLAKE3 mismatch): \
                    the source is damaged"
                .into(),
        );
    }
    if bytes.len() as u64 != image.size {
        return Err(format!(
            "the source blob has {} bytes, its row says {}",
            bytes.len(),
            image.size
        ));
    }
    target
        .store_picture_verified(image, bytes)
        .await
        .map_err(|e| format!("target: {e}"))?;
    Ok(true)
}

/// Copies every picture row of `source` (with its blob) that `target` lacks, `jobs` at
/// once. Returns the tally and, for each picture that failed, its id and why.
pub async fn copy_pictures(
    source: &Storage,
    target: &Storage,
    images: Vec<ImageRecord>,
    jobs: usize,
) -> (Tally, Vec<(ImageId, String)>) {
    let results: Vec<(ImageId, Result<bool, String>)> = futures_util::stream::iter(images)
        .map(|image| async move { (image.id, copy_picture(source, target, &image).await) })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (id, result) in results {
        match result {
            Ok(copied) => tally.add(copied),
            Err(why) => {
                tally.failed += 1;
                failures.push((id, why));
            }
        }
    }
    (tally, failures)
}

/// Copies every material of `source` that `target` lacks, after the pictures (a material
/// row must name a picture row of its account, see `crate::material`): a material whose
/// picture row the target does not have (its copy failed) is not written, and fails.
/// Returns the tally and, for each material that failed, its media_id and why.
pub async fn copy_materials(source: &Storage, target: &Storage) -> (Tally, Vec<(String, String)>) {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let materials = match source.meta.all_materials().await {
        Ok(materials) => materials,
        Err(e) => {
            tally.failed += 1;
            failures.push((String::new(), format!("source materials: {e}")));
            return (tally, failures);
        }
    };
    for material in materials {
        let copied = async {
            let has_picture = target
                .meta
                .image_rows(&material.image)
                .await
                .map_err(|e| format!("target lookup: {e}"))?
                .iter()
                .any(|row| row.appid == material.appid);
            if !has_picture {
                return Err(format!(
                    "its picture {} was not copied, so the material is not either",
                    material.image
                ));
            }
            target
                .meta
                .import_material(&material)
                .await
                .map_err(|e| format!("target: {e}"))
        }
        .await;
        match copied {
            Ok(copied) => tally.add(copied),
            Err(why) => {
                tally.failed += 1;
                failures.push((material.media_id.clone(), why));
            }
        }
    }
    (tally, failures)
}
