//! A bounded in-memory cache of hot pictures for GETs.
//!
//! Invariant: the cache never serves a picture longer than one poll after its takedown
//! committed. A picture's bytes never change under its URL (the id is their hash), so the
//! only way a cached copy goes stale is a takedown; `crate::takedowns` polls the
//! database's takedown generation and [`PictureCache::evict`]s the ids taken down, and a
//! fill that read its row before a takedown it had not seen yet is dropped
//! ([`PictureCache::fill_later`] compares generations). The cache is weighed in bytes
//! (`--picture-cache-mb`, 0 turns it off). A miss is served streaming from the blob store
//! as before, and the cache is filled in the background afterwards, so a request never
//! waits for, or buffers, a whole object.

use std::sync::atomic::{AtomicI64, Ordering};

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
    /// The last takedown generation this node has applied (see `crate::takedowns`).
    generation: AtomicI64,
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
            generation: AtomicI64::new(0),
        })
    }

    pub fn get(&self, id: &ImageId) -> Option<(ImageRecord, Bytes)> {
        self.cache.get(id)
    }

    /// The takedown generation applied so far: read it *before* looking up the row a fill
    /// will be based on.
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Applies takedown generation `generation`: records it first, then drops `ids`, so a
    /// fill racing this either sees the new generation or is dropped by it.
    pub fn apply_takedowns(&self, generation: i64, ids: impl IntoIterator<Item = ImageId>) {
        self.generation.fetch_max(generation, Ordering::SeqCst);
        for id in ids {
            self.evict(&id);
        }
    }

    pub fn evict(&self, id: &ImageId) {
        self.cache.remove(id);
    }

    /// Reads the whole picture in the background and keeps it, if it is what `record` says
    /// and no takedown was applied since `generation` (what [`PictureCache::generation`]
    /// said before `record` was read).
    pub fn fill_later(
        self: &std::sync::Arc<Self>,
        storage: &Storage,
        record: ImageRecord,
        generation: i64,
    ) {
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
                let id = record.id;
                this.cache.insert(id, (record, Bytes::from(bytes)));
                // Checked after the insert: a takedown applied meanwhile may have evicted
                // before the insert, so this removes what it could not.
                if this.generation() != generation {
                    this.evict(&id);
                }
            }
        });
    }
}
