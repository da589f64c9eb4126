//! The API client: tokens, pre-flight and `uploadimg`, with the retries the platform needs.
//!
//! (Past 400 lines only with its unit tests, which stay beside the code they pin.)

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use url::Url;
use wximg_proto::wire::{StableTokenRequest, TokenOk, UploadImgOk};
use wximg_proto::{ImageFormat, PictureInfo, Rules};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::token::{CachedToken, FetchToken, TokenCache, TokenEndpoint, TokenProvider};

/// The real service's API host, used when no base URL is given.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";

/// How the client gets its `access_token`.
#[derive(Clone)]
pub enum Auth {
    /// Fetch (and cache) tokens with the app's id and secret.
    App { appid: String, secret: String },
    /// Use this token as is; never fetch one.
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::App { appid, .. } => write!(f, "App {{ appid: {appid:?}, secret: … }}"),
            Auth::Token(_) => f.write_str("Token(…)"),
        }
    }
}

/// A picture `uploadimg` accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The URL to put in the article.
    pub url: String,
    /// What the pre-flight check learnt about the bytes that were sent.
    pub info: PictureInfo,
}

/// Configures a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    auth: Option<Auth>,
    endpoint: TokenEndpoint,
    cache_dir: Option<PathBuf>,
    use_disk_cache: bool,
    retry: RetryPolicy,
    timeout: Duration,
    rules: Rules,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: DEFAULT_BASE_URL.to_string(),
            auth: None,
            endpoint: TokenEndpoint::default(),
            cache_dir: None,
            use_disk_cache: true,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            rules: Rules::default(),
        }
    }
}

impl ClientBuilder {
    /// The API's base URL (`https://api.weixin.qq.com`, or a wximg's `http://host:port`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Fetch tokens with this app's id and secret.
    pub fn app(mut self, appid: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth = Some(Auth::App {
            appid: appid.into(),
            secret: secret.into(),
        });
        self
    }

    /// Use this access token as is.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Token(token.into()));
        self
    }

    /// `stable_token` (default) or the classic `token` endpoint.
    pub fn token_endpoint(mut self, e: TokenEndpoint) -> Self {
        self.endpoint = e;
        self
    }

    /// Where tokens are cached (default: [`crate::token::default_cache_dir`]).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Keep tokens in memory only.
    pub fn no_disk_cache(mut self) -> Self {
        self.use_disk_cache = false;
        self
    }

    /// How transient failures are retried.
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// Timeout of one HTTP request.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn build(self) -> Result<Client> {
        let auth = self.auth.ok_or_else(|| {
            Error::Config(
                "no credentials: give --appid and --secret (WXIMG_APPID, WXIMG_SECRET) \
                 or --access-token (WXIMG_ACCESS_TOKEN)"
                    .into(),
            )
        })?;
        let mut base = Url::parse(&self.base_url).map_err(|e| {
            Error::Config(format!("--base-url {:?} is not a URL: {e}", self.base_url))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "--base-url {:?} must be http:// or https://",
                self.base_url
            )));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let cache = match (&auth, self.use_disk_cache) {
            (Auth::App { appid, secret }, true) => self
                .cache_dir
                .or_else(crate::token::default_cache_dir)
                .map(|dir| TokenCache::new(&dir, base.as_str(), appid, secret, self.endpoint)),
            _ => None,
        };
        Ok(Client {
            http: http_client(self.timeout)?,
            base,
            auth,
            endpoint: self.endpoint,
            tokens: TokenProvider::new(cache),
            retry: self.retry,
            rules: self.rules,
        })
    }
}

/// A reqwest client with rustls on the `ring` provider.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    // Installing fails only when a provider is already installed: that one is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(15))
        .user_agent(concat!("wximg/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::transport("cannot set up the HTTP client", e))
}

/// The `uploadimg` client. Cheap to share behind an `Arc`; all methods take `&self` and
/// may run concurrently (they share one token).
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    endpoint: TokenEndpoint,
    tokens: TokenProvider,
    retry: RetryPolicy,
    rules: Rules,
}

impl Client {
    /// A client for `base_url` (`None`: the real service) that fetches tokens with this
    /// app's credentials, caching them under the user's cache directory.
    pub fn new(base_url: Option<&str>, appid: &str, secret: &str) -> Result<Client> {
        Client::builder()
            .base_url(base_url.unwrap_or(DEFAULT_BASE_URL))
            .app(appid, secret)
            .build()
    }

    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The appid, when the client fetches its own tokens.
    pub fn appid(&self) -> Option<&str> {
        match &self.auth {
            Auth::App { appid, .. } => Some(appid),
            Auth::Token(_) => None,
        }
    }

    /// The rules pictures are checked against before sending.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// A valid access token: the one given, else a cached one with life left, else a new
    /// one from the server.
    pub async fn access_token(&self) -> Result<String> {
        match &self.auth {
            Auth::Token(t) => Ok(t.clone()),
            Auth::App { .. } => self.tokens.get(self).await,
        }
    }

    /// Checks a picture with the server's own rules; the error says what the server would
    /// answer (e.g. `40005 invalid file type — WebP is not accepted, only JPEG and PNG`).
    pub fn preflight(&self, bytes: &[u8]) -> Result<PictureInfo> {
        self.rules.check(bytes).map_err(Error::Rejected)
    }

    /// Uploads one picture with `uploadimg` and returns its URL.
    ///
    /// The bytes are checked first (nothing is sent if the server would refuse them).
    /// Transient failures are retried with backoff; if the token is refused (40001 /
    /// 40014 / 42001) a new one is fetched and the whole picture sent once more.
    pub async fn upload_image(&self, file_name: &str, bytes: Bytes) -> Result<Uploaded> {
        let info = self.preflight(&bytes)?;
        let token = self.access_token().await?;
        let first = self
            .retry
            .run(|| self.upload_once(&token, file_name, info.format, bytes.clone()))
            .await;
        let url = match first {
            Err(e) if e.is_token_problem() && matches!(self.auth, Auth::App { .. }) => {
                tracing::debug!("token refused ({e}); fetching a new one and sending again");
                let token = self.tokens.renew(self, &token).await?;
                self.retry
                    .run(|| self.upload_once(&token, file_name, info.format, bytes.clone()))
                    .await?
            }
            other => other?,
        };
        Ok(Uploaded { url, info })
    }

    async fn upload_once(
        &self,
        token: &str,
        file_name: &str,
        format: ImageFormat,
        bytes: Bytes,
    ) -> Result<String> {
        let mut url = self.endpoint_url("cgi-bin/media/uploadimg")?;
        url.query_pairs_mut().append_pair("access_token", token);
        let part = reqwest::multipart::Part::stream_with_length(bytes.clone(), bytes.len() as u64)
            .file_name(file_name.to_string())
            .mime_str(format.mime())
            .map_err(|e| Error::transport("bad part type", e))?;
        let form = reqwest::multipart::Form::new().part("media", part);
        let resp = self.http.post(url).multipart(form).send().await;
        let ok: UploadImgOk = self.answer(resp, "uploadimg").await?;
        Ok(ok.url)
    }

    /// Calls a JSON API (`cgi-bin/draft/add`, …) with the token in the query and `body`
    /// as JSON; transient failures are retried, and a refused token is renewed once.
    pub async fn call_json<B, T>(&self, path: &str, body: &B) -> Result<T>
    where
        B: serde::Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let body = serde_json::to_vec(&without_nulls(
            serde_json::to_value(body).map_err(|e| Error::Config(e.to_string()))?,
        ))
        .map_err(|e| Error::Config(e.to_string()))?;
        let what = path.rsplit("cgi-bin/").next().unwrap_or(path);
        self.with_token(|token| {
            let body = body.clone();
            async move {
                let mut url = self.endpoint_url(path)?;
                url.query_pairs_mut().append_pair("access_token", &token);
                let resp = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                self.answer(resp, what).await
            }
        })
        .await
    }

    /// Uploads a picture as permanent material (`material/add_material?type=image|thumb`):
    /// the cover of a draft. `bytes` must already pass the type's limits; the part is
    /// named `cover.<ext>` after its format (the platform judges the name's extension).
    pub async fn add_material(
        &self,
        kind: MaterialType,
        format: ImageFormat,
        bytes: Bytes,
    ) -> Result<wximg_proto::wire::AddMaterialOk> {
        let name = format!("cover.{}", format.as_str());
        self.with_token(|token| {
            let (bytes, name) = (bytes.clone(), name.clone());
            async move {
                let mut url = self.endpoint_url("cgi-bin/material/add_material")?;
                url.query_pairs_mut()
                    .append_pair("access_token", &token)
                    .append_pair("type", kind.as_str());
                let part =
                    reqwest::multipart::Part::stream_with_length(bytes.clone(), bytes.len() as u64)
                        .file_name(name)
                        .mime_str(format.mime())
                        .map_err(|e| Error::transport("bad part type", e))?;
                let form = reqwest::multipart::Form::new().part("media", part);
                let resp = self.http.post(url).multipart(form).send().await;
                self.answer(resp, "add_material").await
            }
        })
        .await
    }

    /// Runs `call` with a token, retrying transient failures; if the token is refused
    /// (40001 / 40014 / 42001) a new one is fetched and `call` runs once more.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let token = self.access_token().await?;
        let first = self.retry.run(|| call(token.clone())).await;
        match first {
            Err(e) if e.is_token_problem() && matches!(self.auth, Auth::App { .. }) => {
                tracing::debug!("token refused ({e}); fetching a new one and calling again");
                let token = self.tokens.renew(self, &token).await?;
                self.retry.run(|| call(token.clone())).await
            }
            other => other,
        }
    }

    fn endpoint_url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::Config(format!("bad base URL {}: {e}", self.base)))
    }

    /// Reads an API answer: `errcode` ≠ 0 → [`Error::Api`]; otherwise the success type.
    async fn answer<T: DeserializeOwned>(
        &self,
        resp: reqwest::Result<reqwest::Response>,
        what: &str,
    ) -> Result<T> {
        let resp = resp.map_err(|e| {
            Error::transport(format!("{what}: no answer from {}: {e}", self.base), e)
        })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::transport(format!("{what}: the answer was cut off: {e}"), e))?;
        parse_answer(what, status, &body, &self.base)
    }
}

/// `add_material`'s `type`: what a cover may be uploaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialType {
    /// Up to 10 MB; JPEG, PNG, GIF or BMP.
    Image,
    /// Up to 64 KB; JPEG only.
    Thumb,
}

impl MaterialType {
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialType::Image => "image",
            MaterialType::Thumb => "thumb",
        }
    }
}

/// `value` without its `null` members: an article's absent fields are left out, as the
/// platform's own clients send them, rather than sent as `null`.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(without_nulls).collect())
        }
        other => other,
    }
}

/// Decodes an answer body. Separate from I/O so it can be tested on its own.
pub(crate) fn parse_answer<T: DeserializeOwned>(
    what: &str,
    status: reqwest::StatusCode,
    body: &[u8],
    base: &Url,
) -> Result<T> {
    #[derive(serde::Deserialize)]
    struct Code {
        #[serde(default)]
        errcode: i64,
        #[serde(default)]
        errmsg: String,
    }
    let not_api = || Error::Transport {
        message: format!(
            "{what}: {base} answered HTTP {status} with something that is not the API's JSON \
             ({:?}); is --base-url right?",
            String::from_utf8_lossy(&body[..body.len().min(120)])
        ),
        source: None,
    };
    let code: Code = serde_json::from_slice(body).map_err(|_| not_api())?;
    if code.errcode != 0 {
        return Err(Error::from_answer(code.errcode, &code.errmsg));
    }
    serde_json::from_slice(body).map_err(|_| not_api())
}

impl FetchToken for Client {
    async fn fetch_token(&self, force_refresh: bool) -> Result<CachedToken> {
        let Auth::App { appid, secret } = &self.auth else {
            return Err(Error::Config(
                "no app credentials to fetch a token with".into(),
            ));
        };
        let ok: TokenOk = self
            .retry
            .run(|| async {
                let resp = match self.endpoint {
                    TokenEndpoint::Stable => {
                        let body = StableTokenRequest {
                            grant_type: Some("client_credential".into()),
                            appid: Some(appid.clone()),
                            secret: Some(secret.clone()),
                            force_refresh: Some(force_refresh),
                        };
                        let url = self.endpoint_url("cgi-bin/stable_token")?;
                        self.http.post(url).json(&body).send().await
                    }
                    TokenEndpoint::Classic => {
                        let mut url = self.endpoint_url("cgi-bin/token")?;
                        url.query_pairs_mut()
                            .append_pair("grant_type", "client_credential")
                            .append_pair("appid", appid)
                            .append_pair("secret", secret);
                        self.http.get(url).send().await
                    }
                };
                // The URL of a classic token call holds the secret: keep it out of errors.
                let resp = resp.map_err(|e| e.without_url());
                self.answer(resp, "token").await
            })
            .await?;
        Ok(CachedToken::new(ok.access_token, ok.expires_in))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_decoded() {
        let base = Url::parse("http://x/").unwrap();
        let ok: UploadImgOk = parse_answer(
            "u",
            reqwest::StatusCode::OK,
            br#"{"url":"http://a/mmbiz_jpg/x/0?from=appmsg","errcode":0,"errmsg":"ok"}"#,
            &base,
        )
        .unwrap();
        assert!(ok.url.ends_with("from=appmsg"));
        let t: TokenOk = parse_answer(
            "t",
            reqwest::StatusCode::OK,
            br#"{"access_token":"abc","expires_in":7200}"#,
            &base,
        )
        .unwrap();
        assert_eq!(t.expires_in, 7200);
        let e = parse_answer::<TokenOk>(
            "t",
            reqwest::StatusCode::OK,
            br#"{"errcode":40013,"errmsg":"invalid appid rid: 64d0640d-1a2b3c4d-5e6f7a8b"}"#,
            &base,
        )
        .unwrap_err();
        assert_eq!(e.code(), 40013);
        let e = parse_answer::<TokenOk>(
            "t",
            reqwest::StatusCode::NOT_FOUND,
            b"<html>not found</html>",
            &base,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Transport { .. }));
        assert!(e.to_string().contains("--base-url"), "{e}");
    }

    #[test]
    fn builder_needs_credentials_and_a_url() {
        assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
        let e = Client::builder()
            .base_url("ftp://x")
            .access_token("t")
            .build();
        assert!(matches!(e, Err(Error::Config(_))));
        let c = Client::builder()
            .base_url("http://127.0.0.1:1/prefix")
            .access_token("t")
            .build()
            .unwrap();
        assert_eq!(
            c.endpoint_url("cgi-bin/token").unwrap().as_str(),
            "http://127.0.0.1:1/prefix/cgi-bin/token"
        );
    }

    #[test]
    fn preflight_names_the_code() {
        let c = Client::builder().access_token("t").build().unwrap();
        let e = c.preflight(b"RIFF\0\0\0\0WEBPVP8 ").unwrap_err();
        assert_eq!(e.code(), 40005);
        assert!(e.to_string().contains("WebP"), "{e}");
    }
}
