//! The deliverer: claims pending outbox entries and pushes them (see `crate::events`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::callback::{CallbackSettings, Mode};
use super::{
    Delivery, DeliverySettings, KEEP_FINISHED, Lease, OUTBOX_PREFIX, OutboxEntry, PublishJobFinish,
    REPLY_LIMIT, callback, crypto, message,
};
use crate::clock::Clock;
use tokio::sync::{Notify, Semaphore};
use wximg_store::Storage;

/// One push, ready to send: the URL with the platform's query, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub url: String,
    pub body: String,
}

/// The push of `event` under `settings` at `timestamp` with `nonce` (and, when the mode
/// encrypts, `random` as the ciphertext's first plaintext bytes).
pub fn push_for(
    settings: &CallbackSettings,
    event: &PublishJobFinish,
    timestamp: i64,
    nonce: &str,
    random: [u8; 16],
) -> Push {
    let xml = message::publish_job_finish_xml(event);
    let timestamp = timestamp.to_string();
    let openid = message::publisher_openid(&event.appid);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair(
            "signature",
            &crypto::signature(&[&settings.token, &timestamp, nonce]),
        )
        .append_pair("timestamp", &timestamp)
        .append_pair("nonce", nonce)
        .append_pair("openid", &openid);
    let body = match (settings.mode, settings.key()) {
        (Mode::Plain, _) | (_, None) => xml,
        (mode, Some(key)) => {
            let sealed = crypto::encrypt(&key, event.appid.as_str(), xml.as_bytes(), random);
            query.append_pair("encrypt_type", "aes").append_pair(
                "msg_signature",
                &crypto::signature(&[&settings.token, &timestamp, nonce, &sealed]),
            );
            let encrypt = format!("<Encrypt><![CDATA[{sealed}]]></Encrypt>");
            if mode == Mode::Safe {
                format!(
                    "<xml><ToUserName><![CDATA[{}]]></ToUserName>{encrypt}</xml>",
                    message::original_id(&event.appid)
                )
            } else {
                // Compatible: the plaintext fields and their encrypted copy.
                let open = xml.strip_suffix("</xml>").unwrap_or(&xml);
                format!("{open}{encrypt}</xml>")
            }
        }
    };
    let sep = if settings.url.contains('?') { '&' } else { '?' };
    Push {
        url: format!("{}{sep}{}", settings.url, query.finish()),
        body,
    }
}

pub(super) struct Deliverer {
    storage: Storage,
    clock: Clock,
    settings: DeliverySettings,
    http: Result<reqwest::Client, String>,
    /// This deliverer's name in leases.
    owner: String,
    permits: Arc<Semaphore>,
    /// Keys this node is sending now (not to be claimed again meanwhile).
    in_flight: Mutex<HashSet<String>>,
}

/// Polls between two sweeps of expired platform records.
const SWEEP_EVERY: u32 = 300;

impl Deliverer {
    pub(super) fn new(storage: Storage, clock: Clock, settings: DeliverySettings) -> Deliverer {
        // reqwest links rustls without a provider (see wximg-store): ring, as elsewhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("Mozilla/4.0")
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"));
        if let Err(e) = &http {
            tracing::error!("event pushes are off: {e}");
        }
        let owner: u64 = rand::random();
        Deliverer {
            storage,
            clock,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            http,
            owner: format!("{owner:016x}"),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// The seconds a claim lasts: every attempt's timeout and pause, and the margin.
    fn lease_secs(&self) -> i64 {
        let per = self.settings.timeout + self.settings.retry_delay;
        let all = per * self.settings.attempts + self.settings.lease_margin;
        all.as_secs() as i64 + 1
    }

    pub(super) async fn run(self: Arc<Self>, wake: &'static Notify) {
        let mut polls = 0u32;
        let mut failing = false;
        loop {
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.clone().poll_once().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("the event outbox is readable again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!("cannot read the event outbox: {e}");
                }
                Err(_) => {}
            }
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(SWEEP_EVERY) {
                let now = self.clock.now();
                if let Err(e) = self.storage.meta.sweep_records(now).await {
                    tracing::warn!("sweeping expired platform records: {e}");
                }
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Claims every due entry it has room for and starts sending each.
    async fn poll_once(self: Arc<Self>) -> wximg_store::Result<()> {
        let meta = self.storage.meta.as_ref();
        let now = self.clock.now();
        let wall = Clock::default().now();
        for (key, record) in meta.records(OUTBOX_PREFIX, now).await? {
            let Ok(mut entry) = serde_json::from_str::<OutboxEntry>(&record.value) else {
                tracing::warn!(key, "an outbox record that is not an event: left alone");
                continue;
            };
            let free = entry.lease.as_ref().is_none_or(|l| l.until <= wall);
            if entry.state != Delivery::Pending || !free || self.sending(&key) {
                continue;
            }
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break; // every slot busy: the rest wait for the next poll
            };
            entry.lease = Some(Lease {
                owner: self.owner.clone(),
                until: wall + self.lease_secs(),
            });
            let Ok(text) = serde_json::to_string(&entry) else {
                continue;
            };
            if !meta
                .swap_record(&key, Some(record.version), &text, None, now)
                .await?
            {
                continue; // another node claimed it first
            }
            self.mark(&key, true);
            let this = self.clone();
            tokio::spawn(async move {
                this.deliver(&key, entry).await;
                this.mark(&key, false);
                drop(permit);
            });
        }
        Ok(())
    }

    fn sending(&self, key: &str) -> bool {
        self.in_flight
            .lock()
            .map(|set| set.contains(key))
            .unwrap_or(false)
    }

    fn mark(&self, key: &str, on: bool) {
        if let Ok(mut set) = self.in_flight.lock() {
            if on {
                set.insert(key.to_string());
            } else {
                set.remove(key);
            }
        }
    }

    /// Sends a claimed entry until it is answered or its attempts are spent.
    async fn deliver(&self, key: &str, mut entry: OutboxEntry) {
        let Some(event) = entry.event.event() else {
            entry.last_result = Some(format!("not an appid: {}", entry.event.appid));
            self.save(key, entry, Delivery::Failed).await;
            return;
        };
        while entry.attempts < self.settings.attempts {
            let now = self.clock.now();
            let settings = match callback(self.storage.meta.as_ref(), &event.appid, now).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    entry.last_result = Some("the app's callback settings were removed".into());
                    self.save(key, entry, Delivery::Failed).await;
                    return;
                }
                Err(e) => {
                    // Storage trouble: keep the lease; the entry is retried when it ends.
                    tracing::warn!(key, "cannot read the callback settings: {e:?}");
                    return;
                }
            };
            let nonce = rand::random::<u32>().to_string();
            let push = push_for(&settings, &event, now, &nonce, rand::random());
            let outcome = self.send(&push).await;
            entry.attempts += 1;
            let ok = outcome.is_ok();
            let said = match outcome {
                Ok(s) | Err(s) => s,
            };
            tracing::info!(key, attempt = entry.attempts, ok, result = %said, url = %settings.url, "PUBLISHJOBFINISH pushed");
            entry.last_result = Some(said);
            if ok {
                self.save(key, entry, Delivery::Delivered).await;
                return;
            }
            if entry.attempts < self.settings.attempts {
                if !self.save(key, entry.clone(), Delivery::Pending).await {
                    return; // the lease was lost to another node
                }
                tokio::time::sleep(self.settings.retry_delay).await;
            }
        }
        self.save(key, entry, Delivery::Failed).await;
    }

    /// Writes the entry's progress if this node still holds its lease; `false` if not.
    async fn save(&self, key: &str, mut entry: OutboxEntry, state: Delivery) -> bool {
        let meta = self.storage.meta.as_ref();
        let now = self.clock.now();
        let current = match meta.record(key, now).await {
            Ok(Some(r)) => r,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(key, "cannot record the push's outcome: {e}");
                return false;
            }
        };
        let held = serde_json::from_str::<OutboxEntry>(&current.value)
            .ok()
            .and_then(|e| e.lease)
            .is_some_and(|l| l.owner == self.owner);
        if !held {
            tracing::warn!(key, "the event's lease went to another node");
            return false;
        }
        entry.state = state;
        let expires_at = if state == Delivery::Pending {
            None
        } else {
            entry.lease = None;
            entry.finished_at = Some(now);
            Some(now + KEEP_FINISHED)
        };
        if state == Delivery::Failed {
            tracing::warn!(key, attempts = entry.attempts, last = ?entry.last_result, "PUBLISHJOBFINISH not delivered: attempts spent");
        }
        let Ok(text) = serde_json::to_string(&entry) else {
            return false;
        };
        match meta
            .swap_record(key, Some(current.version), &text, expires_at, now)
            .await
        {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!(key, "cannot record the push's outcome: {e}");
                false
            }
        }
    }

    /// One POST; `Ok` with what the receiver said when it answered 2xx.
    async fn send(&self, push: &Push) -> Result<String, String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let mut response = http
            .post(&push.url)
            .header("content-type", "text/xml")
            .body(push.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        let mut reply = Vec::new();
        while reply.len() < REPLY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => reply.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "HTTP {}, reading the reply: {}",
                        status.as_u16(),
                        describe(&e)
                    ));
                }
            }
        }
        reply.truncate(REPLY_LIMIT);
        let text = String::from_utf8_lossy(&reply);
        let shown: String = text.trim().chars().take(200).collect();
        let said = format!("HTTP {} {shown:?}", status.as_u16());
        if !status.is_success() {
            return Err(said);
        }
        if !(shown.is_empty() || shown == "success" || shown.starts_with("<xml")) {
            tracing::info!(url = %push.url, reply = %shown, "the receiver answered neither \"success\" nor an empty body (the push counts as delivered)");
        }
        Ok(said)
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wximg_proto::AppId;

    const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

    fn event() -> PublishJobFinish {
        PublishJobFinish {
            appid: AppId::parse("wx0123456789abcdef").expect("appid"),
            publish_id: "100000001".into(),
            publish_status: 0,
            article_id: Some("art".into()),
            article_urls: vec!["http://x/s/art".into()],
            fail_idx: vec![],
            create_time: 1_700_000_000,
        }
    }

    fn query(url: &str) -> std::collections::HashMap<String, String> {
        crate::routes::query_map(url.split_once('?').map(|(_, q)| q))
    }

    #[test]
    fn plaintext_push_is_signed() {
        let s = CallbackSettings::new("http://h/cb?x=1", "tok123", None, None).expect("ok");
        let push = push_for(&s, &event(), 1_700_000_001, "42", [0; 16]);
        assert!(push.url.starts_with("http://h/cb?x=1&signature="));
        let q = query(&push.url);
        assert_eq!(
            q["signature"],
            crypto::signature(&["tok123", "1700000001", "42"])
        );
        assert_eq!(q["openid"], message::publisher_openid(&event().appid));
        assert!(!q.contains_key("encrypt_type"));
        assert_eq!(push.body, message::publish_job_finish_xml(&event()));
    }

    #[test]
    fn safe_push_decrypts_to_the_event() {
        for mode in [Mode::Safe, Mode::Compatible] {
            let s =
                CallbackSettings::new("http://h/cb", "tok123", Some(KEY), Some(mode)).expect("ok");
            let push = push_for(&s, &event(), 1_700_000_001, "42", rand::random());
            let q = query(&push.url);
            assert_eq!(q["encrypt_type"], "aes");
            let sealed = push
                .body
                .split("<Encrypt><![CDATA[")
                .nth(1)
                .and_then(|r| r.split("]]>").next())
                .expect("an Encrypt element");
            assert_eq!(
                q["msg_signature"],
                crypto::signature(&["tok123", "1700000001", "42", sealed])
            );
            let (xml, appid) =
                crypto::decrypt(&crypto::AesKey::parse(KEY).expect("key"), sealed).expect("ok");
            assert_eq!(appid, "wx0123456789abcdef");
            assert_eq!(xml, message::publish_job_finish_xml(&event()).as_bytes());
            assert_eq!(
                push.body.contains("<Event>"),
                mode == Mode::Compatible,
                "only compatible mode shows the plaintext"
            );
        }
    }
}
