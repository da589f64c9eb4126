//! Access tokens: where they come from and how long they are kept.
//!
//! Every `uploadimg` call needs an `access_token`. Fetching one costs a call against a
//! daily quota (and `/cgi-bin/token` even ends the previous token after 5 minutes), so the
//! provider keeps the token it got:
//!
//! - in memory, shared by every concurrent upload of one [`crate::Client`] (one fetch
//!   even when 16 jobs start at once);
//! - on disk, one small JSON file per (server, appid, endpoint) under the user's cache
//!   directory (`$WXIMG_CACHE_DIR`, else `$XDG_CACHE_HOME/wximg`, else `~/.cache/wximg`),
//!   mode 0600 and written atomically, so the next command reuses it.
//!
//! A token is used while it has more than [`REFRESH_MARGIN`] of life left. When the server
//! refuses a token (40001 / 42001) the caller asks for [`TokenProvider::renew`]: a new token
//! is fetched (with `force_refresh` on `stable_token` if the server hands back the very
//! token it just refused).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::atomic_file::{Access, write_atomic};
use crate::error::{Error, Result};

/// A token with less life than this left is not used; a new one is fetched.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Which endpoint hands out tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpoint {
    /// `POST /cgi-bin/stable_token`: the same token for every caller until it nears its
    /// end. The default: several tools sharing an app do not end each other's tokens.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: a new token per call, the previous one kept 5 more minutes.
    Classic,
}

impl TokenEndpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpoint::Stable => "stable",
            TokenEndpoint::Classic => "token",
        }
    }
}

/// A token and the moment (Unix seconds) it stops being valid.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    pub access_token: String,
    pub expires_at: u64,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("access_token", &"…")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl CachedToken {
    /// A token answered now with `expires_in` seconds of life.
    pub fn new(access_token: String, expires_in: i64) -> CachedToken {
        CachedToken {
            access_token,
            expires_at: now_secs().saturating_add(expires_in.max(0) as u64),
        }
    }

    /// Whether it has more than [`REFRESH_MARGIN`] (or, for short-lived tokens, a tenth of
    /// its life) left.
    pub fn is_fresh(&self) -> bool {
        self.remaining() > REFRESH_MARGIN
    }

    /// Life left.
    pub fn remaining(&self) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(now_secs()))
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The directory where tokens are cached: `$WXIMG_CACHE_DIR`, else the platform's user
/// cache directory + `wximg` (`$XDG_CACHE_HOME/wximg` or `~/.cache/wximg` on Linux).
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WXIMG_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("wximg"))
}

/// The on-disk token cache: one file per (server, appid, endpoint).
#[derive(Debug, Clone)]
pub struct TokenCache {
    file: PathBuf,
}

impl TokenCache {
    /// The cache file for this server, appid and endpoint inside `dir`. The server is part
    /// of the key (as a short hash of its base URL), so a token of a local wximg is never
    /// sent to the real service or the other way round.
    pub fn new(dir: &Path, base_url: &str, appid: &str, endpoint: TokenEndpoint) -> TokenCache {
        let server = blake3::hash(base_url.trim_end_matches('/').as_bytes()).to_hex();
        let safe_appid: String = appid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(40)
            .collect();
        TokenCache {
            file: dir.join(format!(
                "token-{}-{}-{}.json",
                &server[..12],
                safe_appid,
                endpoint.as_str()
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The cached token, if there is a readable one. A missing or damaged file is no token.
    pub fn load(&self) -> Option<CachedToken> {
        let text = std::fs::read(&self.file).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Stores a token: written to a temporary file with mode 0600, synced, then renamed
    /// over the old one, so a reader sees the old token or the new one, never half of one.
    pub fn store(&self, token: &CachedToken) -> Result<()> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let json = serde_json::to_vec(token).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(&self.file, &json, Access::Private)
    }

    /// Removes the cached token (after the server refused it).
    pub fn clear(&self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| Error::io(dir, e))
}

/// Something that can fetch a token from the server (the [`crate::Client`] does).
pub(crate) trait FetchToken {
    async fn fetch_token(&self, force_refresh: bool) -> Result<CachedToken>;
}

/// Hands out a valid token, from memory, disk or the server, in that order.
#[derive(Debug)]
pub(crate) struct TokenProvider {
    cache: Option<TokenCache>,
    current: Mutex<Option<CachedToken>>,
}

impl TokenProvider {
    pub(crate) fn new(cache: Option<TokenCache>) -> TokenProvider {
        TokenProvider {
            cache,
            current: Mutex::new(None),
        }
    }

    /// A fresh token. Concurrent callers wait for one fetch rather than each fetching.
    pub(crate) async fn get(&self, fetcher: &impl FetchToken) -> Result<String> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref().filter(|t| t.is_fresh()) {
            return Ok(t.access_token.clone());
        }
        if let Some(t) = self.cache.as_ref().and_then(TokenCache::load)
            && t.is_fresh()
        {
            let token = t.access_token.clone();
            *current = Some(t);
            return Ok(token);
        }
        let t = fetcher.fetch_token(false).await?;
        self.remember(&mut current, t)
    }

    /// A new token after the server refused `refused`. If another task already replaced
    /// it, that newer token is returned without a call.
    pub(crate) async fn renew(&self, fetcher: &impl FetchToken, refused: &str) -> Result<String> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref()
            && t.access_token != refused
            && t.is_fresh()
        {
            return Ok(t.access_token.clone());
        }
        *current = None;
        if let Some(c) = &self.cache {
            c.clear();
        }
        let mut t = fetcher.fetch_token(false).await?;
        if t.access_token == refused {
            // The server still hands out the token it refuses: ask for a new one.
            t = fetcher.fetch_token(true).await?;
        }
        self.remember(&mut current, t)
    }

    fn remember(&self, slot: &mut Option<CachedToken>, t: CachedToken) -> Result<String> {
        if let Some(c) = &self.cache
            && let Err(e) = c.store(&t)
        {
            tracing::warn!("could not cache the token: {e}");
        }
        let token = t.access_token.clone();
        *slot = Some(t);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counter {
        calls: AtomicU32,
        forced: AtomicU32,
        same_first: bool,
    }

    impl FetchToken for Counter {
        async fn fetch_token(&self, force: bool) -> Result<CachedToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if force {
                self.forced.fetch_add(1, Ordering::SeqCst);
            }
            let name = if self.same_first && !force {
                "t0".to_string()
            } else {
                format!("t{n}")
            };
            Ok(CachedToken::new(name, 7200))
        }
    }

    fn counter(same_first: bool) -> Counter {
        Counter {
            calls: AtomicU32::new(0),
            forced: AtomicU32::new(0),
            same_first,
        }
    }

    #[tokio::test]
    async fn cached_on_disk_with_private_mode_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(
            dir.path(),
            "http://x",
            "wx0123456789abcdef",
            TokenEndpoint::Stable,
        );
        let f = counter(false);
        let p = TokenProvider::new(Some(cache.clone()));
        assert_eq!(p.get(&f).await.unwrap(), "t0");
        assert_eq!(p.get(&f).await.unwrap(), "t0");
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second provider (the next command) reads the file instead of calling.
        let p2 = TokenProvider::new(Some(cache.clone()));
        assert_eq!(p2.get(&f).await.unwrap(), "t0");
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn stale_tokens_are_refetched() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path(), "http://x", "wxa", TokenEndpoint::Classic);
        cache.store(&CachedToken::new("old".into(), 200)).unwrap();
        let f = counter(false);
        let p = TokenProvider::new(Some(cache.clone()));
        assert_eq!(p.get(&f).await.unwrap(), "t0");
        assert_eq!(cache.load().unwrap().access_token, "t0");
    }

    #[tokio::test]
    async fn renew_forces_when_server_repeats_the_refused_token() {
        let f = counter(true);
        let p = TokenProvider::new(None);
        assert_eq!(p.get(&f).await.unwrap(), "t0");
        let t = p.renew(&f, "t0").await.unwrap();
        assert_ne!(t, "t0");
        assert_eq!(f.forced.load(Ordering::SeqCst), 1);
        // A second task reporting the same refused token gets the new one, no call.
        let calls = f.calls.load(Ordering::SeqCst);
        assert_eq!(p.renew(&f, "t0").await.unwrap(), t);
        assert_eq!(f.calls.load(Ordering::SeqCst), calls);
    }

    #[test]
    fn cache_key_separates_servers_and_endpoints() {
        let d = Path::new("/c");
        let a = TokenCache::new(d, "https://api.weixin.qq.com", "wx1", TokenEndpoint::Stable);
        let b = TokenCache::new(d, "http://127.0.0.1:8080", "wx1", TokenEndpoint::Stable);
        let c = TokenCache::new(d, "http://127.0.0.1:8080/", "wx1", TokenEndpoint::Classic);
        assert_ne!(a.path(), b.path());
        assert_ne!(b.path(), c.path());
        assert!(
            !TokenCache::new(d, "x", "../../etc", TokenEndpoint::Stable)
                .path()
                .to_string_lossy()
                .contains("..")
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let t = CachedToken::new("SECRET-TOKEN".into(), 10);
        assert!(!format!("{t:?}").contains("SECRET"));
    }
}
