//! Takedowns seen by every node: each node polls the database's takedown generation and
//! drops the pictures taken down from its picture cache.
//!
//! Invariant: within [`POLL_INTERVAL`] (plus one query) of a takedown's commit on any node
//! or CLI, no node serves the picture from memory; without the cache every GET reads the
//! row, so the URL answers 404 from the commit on. The poll is one indexed one-row read;
//! only when the generation moved does it read the new audit entries.

use std::sync::{Arc, Weak};
use std::time::Duration;

use wximg_store::Storage;

use crate::picture_cache::PictureCache;

/// How often each node reads the takedown generation.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the poller for `cache` (it stops when the cache is dropped). The generation
/// is read once first, so takedowns from before this node started cost nothing.
pub async fn spawn_poller(storage: Storage, cache: &Arc<PictureCache>) {
    match storage.meta.takedown_generation().await {
        Ok(generation) => cache.apply_takedowns(generation, []),
        Err(e) => tracing::warn!("cannot read the takedown generation yet: {e}"),
    }
    let cache = Arc::downgrade(cache);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            let Some(cache) = Weak::upgrade(&cache) else {
                return;
            };
            match poll_once(&storage, &cache).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("takedown polling works again");
                }
                Ok(()) => {}
                // Once per outage, not every second; the cache keeps what it has (a
                // takedown needs the database too, so none can commit unseen for long).
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!("cannot poll takedowns: {e}");
                }
                Err(_) => {}
            }
        }
    });
}

/// One poll: applies every takedown after the cache's generation.
pub async fn poll_once(storage: &Storage, cache: &PictureCache) -> wximg_store::Result<()> {
    let seen = cache.generation();
    let now = storage.meta.takedown_generation().await?;
    if now <= seen {
        return Ok(());
    }
    let taken = storage.meta.takedowns_after(seen).await?;
    tracing::info!(
        generation = now,
        pictures = taken.len(),
        "takedowns applied to the picture cache"
    );
    cache.apply_takedowns(now, taken.into_iter().map(|t| t.id));
    Ok(())
}
