//! Event pushes: when a publish job ends, the app's callback URL gets the platform's
//! `PUBLISHJOBFINISH` event, signed, encrypted and retried as the platform does it.
//!
//! Invariant: **an event enqueued is pushed until it is answered, or the platform's
//! attempts are spent — never lost to a crash, and sent by one node at a time.** It goes
//! through a durable outbox:
//!
//! 1. [`enqueue_publish_job_finish`] writes the event as a platform record
//!    (`event:wx…:<publish_id>`) before the caller records its job as ended. Writing it
//!    is create-if-absent, so calling it again for the same job changes nothing (the
//!    articles code may re-run after a crash). An app without callback settings
//!    ([`callback`], `wximg app callback`) gets no push, as on the platform.
//! 2. Every node runs a deliverer ([`spawn_deliverer`], started with the server). It
//!    polls the outbox (and is woken at once by a local enqueue), and *claims* a pending
//!    event by compare-and-swap of its record, writing a lease (owner, end). Only the
//!    node whose swap won sends; a lease left by a node that died ends, and another node
//!    takes the event over with the attempts it has left.
//! 3. A push is an HTTP POST of the XML (see [`message`]) to the callback URL with the
//!    platform's query (`signature`, `timestamp`, `nonce`, `openid`, and in the modes that
//!    encrypt `encrypt_type=aes&msg_signature=…`, see [`crypto`]). As the platform: the
//!    receiver has [`DeliverySettings::timeout`] (5 s) to answer, and an event is sent at
//!    most [`DeliverySettings::attempts`] (3) times. Any 2xx answer ends it — the
//!    platform's documented answers are `success` or an empty body; anything else is
//!    logged and still ends it, as the platform does not resend an answered push. A
//!    timeout, a refused connection or a non-2xx status is retried. Redirects are not
//!    followed, and at most [`REPLY_LIMIT`] bytes of a reply are read.
//! 4. Each attempt is written to the record (so a take-over continues the count); the
//!    finished record (`delivered` or `failed`) is kept for [`KEEP_FINISHED`] and then
//!    swept.

pub mod callback;
pub mod crypto;
mod deliver;
pub mod message;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use wximg_proto::{AppId, ErrCode};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::state::AppState;
use wximg_store::{MetaStore, Storage};

pub use callback::{CallbackSettings, Mode, callback, callback_key, clear_callback, set_callback};

/// A publish job's end, as the articles code reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishJobFinish {
    pub appid: AppId,
    pub publish_id: String,
    /// The platform's freepublish status code (0 = success, …).
    pub publish_status: i64,
    /// Some on success.
    pub article_id: Option<String>,
    /// `article_detail.item[i].article_url`, idx = i + 1.
    pub article_urls: Vec<String>,
    /// The platform's fail_idx (failed article indexes).
    pub fail_idx: Vec<i64>,
    /// Unix seconds the job ended.
    pub create_time: i64,
}

/// How pushes are sent (`wximg serve` keeps the platform's values; tests shorten them).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// How long a receiver has to answer one push (the platform's 5 s).
    pub timeout: Duration,
    /// Sends of one event at most (the platform's 3).
    pub attempts: u32,
    /// Pause after a failed send before the next.
    pub retry_delay: Duration,
    /// How often the outbox is read when nothing woke the deliverer.
    pub poll_interval: Duration,
    /// Events sent at once by one node.
    pub concurrency: usize,
    /// How much longer than its attempts' timeouts and pauses a claim lasts: a node that
    /// died holding a claim delays its event by about this much.
    pub lease_margin: Duration,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            timeout: Duration::from_secs(5),
            attempts: 3,
            retry_delay: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            concurrency: 16,
            lease_margin: Duration::from_secs(30),
        }
    }
}

/// How long a delivered or failed event stays readable (for the debug page) before it is
/// swept.
pub const KEEP_FINISHED: i64 = 3600;

/// The largest reply read from a receiver.
pub const REPLY_LIMIT: usize = 64 * 1024;

/// The prefix of the outbox's records.
pub const OUTBOX_PREFIX: &str = "event:";

/// The outbox key of a publish job's event.
pub fn event_key(appid: &AppId, publish_id: &str) -> String {
    format!("{OUTBOX_PREFIX}{appid}:{publish_id}")
}

/// Where an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    Pending,
    Delivered,
    Failed,
}

/// A node's claim on an entry. Its end is wall-clock time (leases are about nodes being
/// alive, not about the platform's time), whatever clock the server's rules use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
}

/// The event as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub appid: String,
    pub publish_id: String,
    pub publish_status: i64,
    pub article_id: Option<String>,
    pub article_urls: Vec<String>,
    pub fail_idx: Vec<i64>,
    pub create_time: i64,
}

impl StoredEvent {
    fn of(e: &PublishJobFinish) -> StoredEvent {
        StoredEvent {
            appid: e.appid.to_string(),
            publish_id: e.publish_id.clone(),
            publish_status: e.publish_status,
            article_id: e.article_id.clone(),
            article_urls: e.article_urls.clone(),
            fail_idx: e.fail_idx.clone(),
            create_time: e.create_time,
        }
    }

    fn event(&self) -> Option<PublishJobFinish> {
        Some(PublishJobFinish {
            appid: AppId::parse(&self.appid)?,
            publish_id: self.publish_id.clone(),
            publish_status: self.publish_status,
            article_id: self.article_id.clone(),
            article_urls: self.article_urls.clone(),
            fail_idx: self.fail_idx.clone(),
            create_time: self.create_time,
        })
    }
}

/// One outbox record: the event and how its delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub event: StoredEvent,
    pub enqueued_at: i64,
    pub state: Delivery,
    /// Sends so far.
    pub attempts: u32,
    pub lease: Option<Lease>,
    /// What the last send got (an answer's status and first bytes, or the error).
    pub last_result: Option<String>,
    pub finished_at: Option<i64>,
}

/// Wakes the deliverers of this process (a local enqueue); others find the event at
/// their next poll.
fn wake() -> &'static Notify {
    static WAKE: std::sync::OnceLock<Notify> = std::sync::OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Puts the end of a publish job in the outbox (see the module docs). Idempotent per
/// `publish_id`; a no-op for an app without callback settings.
pub async fn enqueue_publish_job_finish(
    state: &AppState,
    event: &PublishJobFinish,
) -> Result<(), ApiError> {
    let meta = state.storage.meta.as_ref();
    let now = state.clock.now();
    if callback(meta, &event.appid, now).await?.is_none() {
        tracing::debug!(appid = %event.appid, publish_id = %event.publish_id, "no callback URL: the event is not pushed");
        return Ok(());
    }
    let key = event_key(&event.appid, &event.publish_id);
    let entry = OutboxEntry {
        event: StoredEvent::of(event),
        enqueued_at: now,
        state: Delivery::Pending,
        attempts: 0,
        lease: None,
        last_result: None,
        finished_at: None,
    };
    let text = serde_json::to_string(&entry)
        .map_err(|e| ApiError::detail(ErrCode::SystemError, format!("event {key}: {e}")))?;
    // Create-if-absent: the same job's event again is the one already there.
    if meta.swap_record(&key, None, &text, None, now).await? {
        tracing::info!(appid = %event.appid, publish_id = %event.publish_id, "PUBLISHJOBFINISH queued");
        wake().notify_waiters();
    }
    Ok(())
}

/// The outbox entries (pending, and finished ones not yet swept), by key.
pub async fn outbox(
    meta: &dyn MetaStore,
    now: i64,
) -> wximg_store::Result<Vec<(String, OutboxEntry)>> {
    Ok(meta
        .records(OUTBOX_PREFIX, now)
        .await?
        .into_iter()
        .filter_map(|(key, r)| Some((key, serde_json::from_str(&r.value).ok()?)))
        .collect())
}

/// The running deliverer of a node: dropping it stops it (an event in flight keeps its
/// lease, so it is resent by whichever node takes it over once the lease ends).
pub struct DelivererHandle(tokio::task::JoinHandle<()>);

impl Drop for DelivererHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts this node's deliverer (see the module docs).
pub fn spawn_deliverer(
    storage: Storage,
    clock: Clock,
    settings: DeliverySettings,
) -> DelivererHandle {
    let deliverer = Arc::new(deliver::Deliverer::new(storage, clock, settings));
    DelivererHandle(tokio::spawn(async move { deliverer.run(wake()).await }))
}
