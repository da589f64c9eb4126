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
//! - **Idempotent, and stored once across nodes**: the PUT is a conditional create
//!   (`If-None-Match: *`, [`PutMode::Create`]). The key is the BLAKE3 hash of the bytes, so
//!   if the object already exists — stored earlier, or by another node a millisecond ago —
//!   it *is* these bytes, and `AlreadyExists` means success once a HEAD shows the object
//!   (S3 answers 409 while another conditional write of the key is still in flight, and
//!   that one may yet fail; then we try again). No node overwrites another's object, and
//!   the store never holds two copies.
//! - **Streamed reads**: `get` hands back the HTTP body as it arrives (and a `Range` is
//!   sent to S3 as a `Range` header), so serving a picture never buffers the whole object.
//! - **Fast-failing readiness**: [`S3Blobs::ping`] uses a second client with short
//!   timeouts and no retries, so `/readyz` turns red within seconds when the store is
//!   down, and green on the first probe after it returns. Request traffic uses a client
//!   with a few quick retries, bounded in time, so an outage answers -1 rather than
//!   hanging uploads.

use std::ops::Range;
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

/// Conditional-create attempts when another writer of the same key is in flight.
const PUT_ATTEMPTS: u64 = 3;

/// Budget of one readiness probe, all requests included.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the store is, parsed from the `--store` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix without leading or trailing `/`; empty for none.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]?endpoint=…&region=…`. Any other query parameter is
    /// refused, so a typo does not silently fall back to a default.
    pub fn parse(store: &str) -> std::result::Result<S3Location, String> {
        let url = url::Url::parse(store)
            .map_err(|e| format!("--store {store:?} is not a URL ({e}); expected s3://bucket?endpoint=http://host:port&region=us-east-1"))?;
        if url.scheme() != "s3" {
            return Err(format!(
                "--store {store:?}: only s3:// stores are supported (s3://bucket?endpoint=…)"
            ));
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(format!("--store {store:?} names no bucket (s3://BUCKET…)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "--store must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .into(),
            );
        }
        let prefix = url.path().trim_matches('/').to_string();
        if !prefix.is_empty() {
            Path::parse(&prefix)
                .map_err(|e| format!("--store {store:?}: bad key prefix {prefix:?}: {e}"))?;
        }
        let (mut endpoint, mut region) = (None, None);
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "endpoint" => {
                    let parsed = url::Url::parse(&value)
                        .map_err(|e| format!("--store: endpoint {value:?} is not a URL ({e})"))?;
                    if !matches!(parsed.scheme(), "http" | "https") {
                        return Err(format!(
                            "--store: endpoint {value:?} must be http:// or https://"
                        ));
                    }
                    endpoint = Some(value.trim_end_matches('/').to_string());
                }
                "region" => region = Some(value.into_owned()),
                other => {
                    return Err(format!(
                        "--store: unknown parameter {other:?} (known: endpoint, region)"
                    ));
                }
            }
        }
        Ok(S3Location {
            bucket,
            prefix,
            endpoint,
            region,
        })
    }

    /// `endpoint/bucket/prefix`, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}/{}",
            self.endpoint
                .as_deref()
                .unwrap_or("https://s3.amazonaws.com"),
            self.bucket
        );
        if !self.prefix.is_empty() {
            s.push('/');
            s.push_str(&self.prefix);
        }
        s
    }
}

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
        Ok(blobs)
    }

    /// Builds the clients without touching the network.
    pub fn connect(location: S3Location) -> Result<S3Blobs> {
        let base = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        let has_keys = base
            .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
            .is_some()
            && base
                .get_config_value(&AmazonS3ConfigKey::SecretAccessKey)
                .is_some();
        let other_source = [
            AmazonS3ConfigKey::WebIdentityTokenFile,
            AmazonS3ConfigKey::ContainerCredentialsRelativeUri,
            AmazonS3ConfigKey::ContainerCredentialsFullUri,
        ]
        .iter()
        .any(|k| base.get_config_value(k).is_some())
            || base
                .get_config_value(&AmazonS3ConfigKey::SkipSignature)
                .is_some_and(|v| v == "true");
        if !has_keys && !other_source {
            // Without keys object_store would fall back to the EC2 instance-metadata
            // service; off AWS that is a long, puzzling timeout. Say what is missing.
            return Err(StorageError::Config(format!(
                "no credentials for the S3 store {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                location.describe()
            )));
        }
        let mut base = base;
        // Lives in the client options, which are replaced below: carried by hand.
        let allow_http = location
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
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

        let store = base
            .clone()
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(allow_http)
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(30)),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
            })
            .build()
            .map_err(|e| StorageError::Config(format!("--store: {e}")))?;
        let probe = base
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(allow_http)
                    .with_connect_timeout(Duration::from_secs(1))
                    .with_timeout(PING_TIMEOUT),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 0,
                retry_timeout: PING_TIMEOUT,
            })
            .build()
            .map_err(|e| StorageError::Config(format!("--store: {e}")))?;
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
                    match self.store.head(&key).await {
                        Ok(meta) if meta.size == len => return Ok(()),
                        Ok(meta) => {
                            return Err(StorageError::Corrupt(format!(
                                "object {key} has {} bytes, expected {len}",
                                meta.size
                            )));
                        }
                        Err(object_store::Error::NotFound { .. }) => {
                            // The other write has not landed (or failed): try again.
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                        Err(e) => return Err(blob_error(e)),
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_store_urls() {
        let l =
            S3Location::parse("s3://pics/a/b/?endpoint=http://127.0.0.1:9000/&region=eu-west-1")
                .unwrap();
        assert_eq!(l.bucket, "pics");
        assert_eq!(l.prefix, "a/b");
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(l.region.as_deref(), Some("eu-west-1"));
        assert_eq!(l.describe(), "http://127.0.0.1:9000/pics/a/b");

        let l = S3Location::parse("s3://pics").unwrap();
        assert_eq!((l.prefix.as_str(), l.endpoint, l.region), ("", None, None));

        assert!(S3Location::parse("file:///tmp").is_err());
        assert!(S3Location::parse("s3://pics?endpont=http://x").is_err());
        assert!(S3Location::parse("s3://pics?endpoint=ftp://x").is_err());
        assert!(S3Location::parse("s3://key:secret@pics").is_err());
        assert!(S3Location::parse("not a url").is_err());
    }
}
