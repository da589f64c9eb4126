//! The `--store` URL, `s3://BUCKET[/PREFIX]?endpoint=…&region=…`, parsed into where the
//! store is. Anything it does not understand is refused with a line that says what is
//! expected, so a typo never falls back to a default silently.

use object_store::path::Path;

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
