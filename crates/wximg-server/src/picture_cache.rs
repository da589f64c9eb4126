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
//!
//! Width variants (`crate::variants`) live here too, in their own byte-bounded cache
//! (`--variant-cache-mb`), under the same invariant: a takedown drops every variant of
//! the picture with it, and a variant made from a row read before a takedown this node
//! had not applied is dropped. Either cache may be off; the struct exists while one is on.

use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use wximg_proto::ImageId;

use wximg_store::{ImageRecord, Storage};

use crate::variants::{Rendered, VariantKey};

/// Weighs entries by their bytes.
#[derive(Clone)]
pub struct ByBytes;

impl Weighter<ImageId, (ImageRecord, Bytes)> for ByBytes {
    fn weight(&self, _id: &ImageId, value: &(ImageRecord, Bytes)) -> u64 {
        value.1.len() as u64 + 256 // the record and the entry's own keep
    }
}

impl Weighter<VariantKey, (ImageRecord, Rendered)> for ByBytes {
    fn weight(&self, _key: &VariantKey, value: &(ImageRecord, Rendered)) -> u64 {
        value.1.bytes.len() as u64 + 256
    }
}

/// A placeholder for a variant being made: other requests for it wait for this one.
pub type VariantGuard<'a> = quick_cache::sync::PlaceholderGuard<
    'a,
    VariantKey,
    (ImageRecord, Rendered),
    ByBytes,
    quick_cache::DefaultHashBuilder,
    quick_cache::sync::DefaultLifecycle<VariantKey, (ImageRecord, Rendered)>,
>;

pub struct PictureCache {
    /// The originals (`None`: `--picture-cache-mb 0`).
    cache: Option<Cache<ImageId, (ImageRecord, Bytes), ByBytes>>,
    /// Width variants (`None`: `--variant-cache-mb 0`).
    variants: Option<Cache<VariantKey, (ImageRecord, Rendered), ByBytes>>,
    /// The last takedown generation this node has applied (see `crate::takedowns`).
    generation: AtomicI64,
}

impl PictureCache {
    /// A cache holding up to `capacity_bytes` of pictures and `variant_bytes` of their
    /// variants; `None` when both are 0.
    pub fn new(capacity_bytes: u64, variant_bytes: u64) -> Option<PictureCache> {
        // quick_cache wants an item estimate to size its tables: assume ~100 KB pictures
        // and ~50 KB variants.
        fn sized<K: Eq + std::hash::Hash + Clone, V: Clone>(
            bytes: u64,
            item: u64,
        ) -> Option<Cache<K, V, ByBytes>>
        where
            ByBytes: Weighter<K, V>,
        {
            (bytes > 0)
                .then(|| Cache::with_weighter((bytes / item).max(16) as usize, bytes, ByBytes))
        }
        let (cache, variants) = (sized(capacity_bytes, 100_000), sized(variant_bytes, 50_000));
        (cache.is_some() || variants.is_some()).then(|| PictureCache {
            cache,
            variants,
            generation: AtomicI64::new(0),
        })
    }

    pub fn get(&self, id: &ImageId) -> Option<(ImageRecord, Bytes)> {
        self.cache.as_ref()?.get(id)
    }

    pub fn variant(&self, key: &VariantKey) -> Option<(ImageRecord, Rendered)> {
        self.variants.as_ref()?.get(key)
    }

    /// The variant, or a guard to make it under: while one request holds the guard,
    /// the others asking for the same variant wait for its result instead of resizing
    /// too. `None`: the variant cache is off.
    pub async fn variant_or_guard(
        &self,
        key: &VariantKey,
    ) -> Option<Result<(ImageRecord, Rendered), VariantGuard<'_>>> {
        Some(self.variants.as_ref()?.get_value_or_guard_async(key).await)
    }

    /// Keeps a variant made under `guard` from a row read at `generation`, unless a
    /// takedown was applied since (then drops it, as [`PictureCache::fill_later`] does).
    pub fn keep_variant(
        &self,
        guard: VariantGuard<'_>,
        key: VariantKey,
        value: (ImageRecord, Rendered),
        generation: i64,
    ) {
        let (record, mut made) = value;
        made.bytes = crate::zero_copy::Arena::keep(made.bytes);
        let _ = guard.insert((record, made));
        if self.generation() != generation
            && let Some(variants) = &self.variants
        {
            variants.remove(&key);
        }
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

    /// Drops the picture and every variant of it.
    pub fn evict(&self, id: &ImageId) {
        if let Some(cache) = &self.cache {
            cache.remove(id);
        }
        if let Some(variants) = &self.variants {
            for key in VariantKey::all_of(*id) {
                variants.remove(&key);
            }
        }
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
        if self.cache.is_none() {
            return;
        }
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
                if let Some(cache) = &this.cache {
                    let kept = crate::zero_copy::Arena::keep(Bytes::from(bytes));
                    cache.insert(id, (record, kept));
                }
                // Checked after the insert: a takedown applied meanwhile may have evicted
                // before the insert, so this removes what it could not.
                if this.generation() != generation {
                    this.evict(&id);
                }
            }
        });
    }
}
