//! A bounded in-memory cache of hot pictures for GETs.
//!
//! A picture's bytes never change under its URL (the id is their hash) and rows are never
//! rewritten, so a cached copy can never be stale: there is nothing to invalidate. The
//! cache is weighed in bytes (`--picture-cache-mb`, 0 turns it off). A miss is served
//! streaming from the blob store as before, and the cache is filled in the background
//! afterwards, so a request never waits for, or buffers, a whole object.

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use wximg_proto::ImageId;

use wximg_store::{ImageRecord, Storage};

#[derive(Clone)]
struct ByBytes;

impl Weighter<ImageId, (ImageRecord, Bytes)> for ByBytes {
    fn weight(&self, _id: &ImageId, value: &(ImageRecord, Bytes)) -> u64 {
        value.1.len() as u64 + 256 // the record and the entry's own keep
    }
}

pub struct PictureCache {
    cache: Cache<ImageId, (ImageRecord, Bytes), ByBytes>,
}

impl PictureCache {
    /// A cache holding up to `capacity_bytes` of pictures; `None` when 0.
    pub fn new(capacity_bytes: u64) -> Option<PictureCache> {
        (capacity_bytes > 0).then(|| PictureCache {
            // quick_cache wants an item estimate to size its tables: assume ~100 KB pictures.
            cache: Cache::with_weighter(
                (capacity_bytes / 100_000).max(16) as usize,
                capacity_bytes,
                ByBytes,
            ),
        })
    }

    pub fn get(&self, id: &ImageId) -> Option<(ImageRecord, Bytes)> {
        self.cache.get(id)
    }

    /// Reads the whole picture in the background and keeps it, if it is what `record` says.
    pub fn fill_later(self: &std::sync::Arc<Self>, storage: &Storage, record: ImageRecord) {
        let (this, blobs) = (self.clone(), storage.blobs.clone());
        tokio::spawn(async move {
            let Ok(Some(mut stream)) = blobs.get(&record.id, None).await else {
                return;
            };
            let mut bytes = Vec::with_capacity(record.size as usize);
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                match chunk {
                    Ok(chunk) if bytes.len() + chunk.len() <= record.size as usize => {
                        bytes.extend_from_slice(&chunk)
                    }
                    _ => return, // an error, or more bytes than the row says: keep nothing
                }
            }
            if bytes.len() as u64 == record.size {
                this.cache.insert(record.id, (record, Bytes::from(bytes)));
            }
        });
    }
}
