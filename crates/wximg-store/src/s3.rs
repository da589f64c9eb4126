//! The scale-out blob store: any S3-compatible object store, through Apache Arrow's
//! [`object_store`] crate.
//!
//! Configured by one URL, `s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT&region=REGION`
//! (both parameters optional: without `endpoint` it is AWS itself), with credentials from
//! the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
//! `AWS_SESSION_TOKEN`, `AWS_REGION`). An `http://` endpoint is allowed without extra flags.
//!
//! Keys mirror the local layout: `[PREFIX/]<first two hex digits>/<64 hex digits>`.
//!
//! How the [`BlobStore`] promises are kept on S3:
//!
//! - **Durable**: S3 acknowledges a PUT only once the object is stored redundantly, so a
//!   successful `put` is the moment the bytes are safe; the caller commits the metadata row
//!   only after it (blob first, then row, then errcode 0).
//! - **Atomic**: an S3 object appears whole or not at all; readers never see part of it.
//! - **Idempotent, and stored once across nodes**: the key is the BLAKE3 hash of the
//!   bytes, so an object already under it — stored earlier, or by another node a
//!   millisecond ago — *is* these bytes, and is never written again. How that is kept
//!   depends on the server, which [`S3Blobs::open`] probes once (a conditional create of
//!   its probe key, twice):
//!   - **`If-None-Match: *` enforced** (AWS S3, MinIO, R2, moto): the PUT is a
//!     conditional create ([`PutMode::Create`]), and `AlreadyExists` means success once a
//!     HEAD shows the object (S3 answers 409 while another conditional write of the key is
//!     still in flight, and that one may yet fail; then we try again). One request for a
//!     new picture.
//!   - **ignored** (Garage 2.x accepts the header and overwrites): a HEAD first, and a PUT
//!     only when the object is absent. Re-storing a picture that is there therefore never
//!     rewrites it: an overwrite would send the whole body again and make a new object
//!     version, and Garage's GET answers 500 ("version is deleted") if the version it is
//!     reading is replaced meanwhile. Two nodes storing the same *new* bytes at once may
//!     both PUT; the later simply replaces identical bytes (S3 objects appear whole), both
//!     acknowledge, and there is still one object. Nothing here relies on the
//!     precondition for correctness.
//!
//!   Either way a blob already there with another size is reported, not overwritten.
//! - **Streamed reads**: `get` hands back the HTTP body as it arrives (and a `Range` is
//!   sent to S3 as a `Range` header), so serving a picture never buffers the whole object.
//! - **Fast-failing readiness**: [`S3Blobs::ping`] uses a second client with short
//!   timeouts and no retries, so `/readyz` turns red within seconds when the store is
//!   down, and green on the first probe after it returns. Request traffic uses a client
//!   with a few quick retries, bounded in time, so an outage answers -1 rather than
//!   hanging uploads.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig,
};
use wximg_proto::ImageId;

use super::{BlobStore, ByteStream, Result, StorageError};

mod location;

pub use location::S3Location;

/// Conditional-create attempts when another writer of the same key is in flight.
const PUT_ATTEMPTS: u64 = 3;

/// Budget of one readiness probe, all requests included.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Blobs in an S3 bucket.
pub struct S3Blobs {
    /// For requests: a few quick retries.
    store: AmazonS3,
    /// For readiness probes: short timeouts, no retries.
    probe: AmazonS3,
    prefix: Option<Path>,
    /// Unique per process, so nodes probing at once do not touch each other's key.
    ping_key: Path,
    location: S3Location,
    /// Whether the server refuses a conditional create of an existing key (see the
    /// module docs); `false` until [`S3Blobs::open`] has seen it refused.
    conditional_create: AtomicBool,
}

/// An error of the S3 client as one short line: S3 error bodies are multi-line XML, and a
/// start-up failure must be one line an operator can read. A missing bucket is named.
fn one_line(message: &str) -> String {
    if message.contains("<Code>NoSuchBucket</Code>") {
        return "the bucket does not exist (NoSuchBucket)".into();
    }
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

fn blob_error(e: object_store::Error) -> StorageError {
    StorageError::Io(std::io::Error::other(e))
}

/// The settings both clients share: bucket, credentials from the environment (which
/// must be there, see [`check_credentials`]), endpoint (path-style) and region.
fn base_builder(location: &S3Location) -> Result<AmazonS3Builder> {
    let mut base = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
    check_credentials(&base, location)?;
    if let Some(endpoint) = &location.endpoint {
        base = base
            .with_endpoint(endpoint)
            // Path-style requests (`endpoint/bucket/key`): what every S3-compatible
            // server understands, and no DNS per bucket.
            .with_virtual_hosted_style_request(false);
    }
    if let Some(region) = &location.region {
        base = base.with_region(region);
    } else if base.get_config_value(&AmazonS3ConfigKey::Region).is_none() {
        base = base.with_region("us-east-1");
    }
    Ok(base)
}

/// Refuses a configuration with no credentials at all. Without keys object_store would
/// fall back to the EC2 instance-metadata service; off AWS that is a long, puzzling
/// timeout. Say what is missing instead.
fn check_credentials(base: &AmazonS3Builder, location: &S3Location) -> Result<()> {
    let set = |key: &AmazonS3ConfigKey| base.get_config_value(key).is_some();
    let has_keys = set(&AmazonS3ConfigKey::AccessKeyId) && set(&AmazonS3ConfigKey::SecretAccessKey);
    let other_source = [
        AmazonS3ConfigKey::WebIdentityTokenFile,
        AmazonS3ConfigKey::ContainerCredentialsRelativeUri,
        AmazonS3ConfigKey::ContainerCredentialsFullUri,
    ]
    .iter()
    .any(set)
        || base
            .get_config_value(&AmazonS3ConfigKey::SkipSignature)
            .is_some_and(|v| v == "true");
    if has_keys || other_source {
        return Ok(());
    }
    Err(StorageError::Config(format!(
        "no credentials for the S3 store {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        location.describe()
    )))
}

/// One client: the shared settings with its own timeouts and retries.
fn build_client(
    base: AmazonS3Builder,
    options: ClientOptions,
    retry: RetryConfig,
) -> Result<AmazonS3> {
    base.with_client_options(options)
        .with_retry(retry)
        .build()
        .map_err(|e| StorageError::Config(format!("--store: {e}")))
}

impl S3Blobs {
    /// Builds the clients for `store` (see the module docs for the URL) and proves the
    /// bucket is reachable and writable, so that a wrong endpoint, bucket or key fails at
    /// start with one line instead of at the first upload.
    pub async fn open(store: &str) -> Result<S3Blobs> {
        let location = S3Location::parse(store).map_err(StorageError::Config)?;
        let blobs = S3Blobs::connect(location)?;
        blobs.ping().await.map_err(|e| {
            StorageError::Config(format!(
                "cannot use the S3 store {}: {}",
                blobs.location.describe(),
                one_line(&e.to_string())
            ))
        })?;
        let enforced = blobs.probe_conditional_create().await;
        if !enforced {
            tracing::info!(
                store = %blobs.location.describe(),
                "the S3 server does not refuse If-None-Match: * on an existing key; \
                 pictures are stored with a HEAD first and a PUT only when absent"
            );
        }
        blobs.conditional_create.store(enforced, Ordering::Relaxed);
        Ok(blobs)
    }

    /// Does the server refuse a conditional create (`If-None-Match: *`) of a key that
    /// exists? Tried on a key of this process's own, then removed. Anything but a clear
    /// refusal — the second create accepted (Garage), or an error — counts as "no": the
    /// HEAD-first path is correct on every server, only one request slower.
    async fn probe_conditional_create(&self) -> bool {
        let key = Self::key_in(
            &self.prefix,
            &format!(".wximg-ping/{:032x}-create", rand::random::<u128>()),
        );
        let create = || PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let probe = async {
            self.probe
                .put_opts(&key, PutPayload::from_static(b"1"), create())
                .await?;
            let second = self
                .probe
                .put_opts(&key, PutPayload::from_static(b"2"), create())
                .await;
            Ok::<_, object_store::Error>(matches!(
                second,
                Err(object_store::Error::AlreadyExists { .. })
            ))
        };
        let enforced = match tokio::time::timeout(PING_TIMEOUT, probe).await {
            Ok(Ok(enforced)) => enforced,
            Ok(Err(e)) => {
                tracing::warn!(error = %one_line(&e.to_string()), "conditional-create probe failed");
                false
            }
            Err(_) => false,
        };
        if let Err(e) = self.probe.delete(&key).await {
            tracing::warn!(%key, error = %one_line(&e.to_string()), "could not remove the conditional-create probe key");
        }
        enforced
    }

    /// Whether puts rely on the server's conditional create (see the module docs).
    pub fn conditional_create(&self) -> bool {
        self.conditional_create.load(Ordering::Relaxed)
    }

    /// Builds the clients without touching the network, in three steps: the shared
    /// settings ([`base_builder`]), then the request client and the probe client, which
    /// differ only in timeouts and retries ([`build_client`]).
    pub fn connect(location: S3Location) -> Result<S3Blobs> {
        // object_store's reqwest is built on rustls without a provider of its own (see
        // Cargo.toml): the process's is ring, as the client's. Another one installed
        // first is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = base_builder(&location)?;
        // Lives in the client options, which each client sets anew: carried by hand.
        let allow_http = location
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        let store = build_client(
            base.clone(),
            ClientOptions::new()
                .with_allow_http(allow_http)
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(30)),
            RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
            },
        )?;
        let probe = build_client(
            base,
            ClientOptions::new()
                .with_allow_http(allow_http)
                .with_connect_timeout(Duration::from_secs(1))
                .with_timeout(PING_TIMEOUT),
            RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 0,
                retry_timeout: PING_TIMEOUT,
            },
        )?;
        let prefix = (!location.prefix.is_empty()).then(|| Path::from(location.prefix.as_str()));
        let ping_key = Self::key_in(
            &prefix,
            &format!(".wximg-ping/{:032x}", rand::random::<u128>()),
        );
        Ok(S3Blobs {
            store,
            probe,
            prefix,
            ping_key,
            location,
            conditional_create: AtomicBool::new(false),
        })
    }

    fn key_in(prefix: &Option<Path>, rest: &str) -> Path {
        match prefix {
            Some(p) => Path::from(format!("{p}/{rest}")),
            None => Path::from(rest),
        }
    }

    /// `[prefix/]ab/ab12…` — the object key of a picture.
    pub fn key(&self, id: &ImageId) -> Path {
        Self::key_in(&self.prefix, &id.shard_path())
    }

    /// The underlying client (with request retries), for tools and tests.
    pub fn raw(&self) -> &AmazonS3 {
        &self.store
    }

    /// Is an object of `len` bytes under `key`? `false` if there is none; an object of
    /// another size is a damaged store, reported rather than overwritten.
    async fn stored(&self, key: &Path, len: u64) -> Result<bool> {
        match self.store.head(key).await {
            Ok(meta) if meta.size == len => Ok(true),
            Ok(meta) => Err(StorageError::Corrupt(format!(
                "object {key} has {} bytes, expected {len}",
                meta.size
            ))),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(blob_error(e)),
        }
    }

    /// Where this store is (`endpoint/bucket/prefix`), for messages.
    pub fn location(&self) -> &S3Location {
        &self.location
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn ping(&self) -> Result<()> {
        let probe = async {
            self.probe
                .put(&self.ping_key, PutPayload::from_static(b"ok"))
                .await?;
            self.probe.delete(&self.ping_key).await
        };
        match tokio::time::timeout(PING_TIMEOUT, probe).await {
            Ok(result) => result.map_err(blob_error),
            Err(_) => Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("S3 did not answer within {PING_TIMEOUT:?}"),
            ))),
        }
    }

    async fn put(&self, id: &ImageId, bytes: Bytes) -> Result<()> {
        let key = self.key(id);
        let len = bytes.len() as u64;
        if !self.conditional_create() {
            // The server would overwrite: never PUT over an object that is there.
            if self.stored(&key, len).await? {
                return Ok(());
            }
            return self
                .store
                .put(&key, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(blob_error);
        }
        let payload = PutPayload::from(bytes);
        for attempt in 1..=PUT_ATTEMPTS {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match self.store.put_opts(&key, payload.clone(), options).await {
                Ok(_) => return Ok(()),
                // Content-addressed: an object under this key holds exactly these bytes…
                // once it is there. object_store also reports S3's 409 (another
                // conditional write of the key still in flight) as AlreadyExists, and that
                // other write may yet fail; so see the object before trusting it, or the
                // caller would commit a row for bytes that never landed.
                Err(object_store::Error::AlreadyExists { .. }) => {
                    if self.stored(&key, len).await? {
                        return Ok(());
                    }
                    // The other write has not landed (or failed): try again.
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(blob_error(e)),
            }
        }
        Err(StorageError::Io(std::io::Error::other(format!(
            "object {key}: a concurrent conditional write never landed after {PUT_ATTEMPTS} attempts"
        ))))
    }

    async fn get(&self, id: &ImageId, range: Option<Range<u64>>) -> Result<Option<ByteStream>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key(id), options).await {
            Ok(result) => {
                let stream = result.into_stream().map_err(std::io::Error::other).boxed();
                Ok(Some(stream))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(blob_error(e)),
        }
    }

    async fn ids(&self) -> Result<Vec<ImageId>> {
        let mut listing = self.store.list(self.prefix.as_ref());
        let mut ids = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(blob_error)?;
            let parts: Vec<_> = meta.location.parts().collect();
            // Only `<shard>/<hex>` right under the prefix: skips the ping probes and
            // anything else sharing the bucket.
            let depth = self.prefix.as_ref().map_or(0, |p| p.parts().count());
            if parts.len() != depth + 2 {
                continue;
            }
            let (shard, name) = (parts[depth].as_ref(), parts[depth + 1].as_ref());
            if let Some(id) = ImageId::from_hex(name)
                && name.starts_with(shard)
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    async fn delete(&self, id: &ImageId) -> Result<()> {
        match self.store.delete(&self.key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(blob_error(e)),
        }
    }
}
