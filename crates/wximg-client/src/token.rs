//! Access tokens: where they come from and how long they are kept.
//!
//! (Past 400 lines only with its unit tests, which stay beside the code they pin.)
//!
//! Every `uploadimg` call needs an `access_token`. Fetching one costs a call against a
//! daily quota (and `/cgi-bin/token` even ends the previous token after 5 minutes), so the
//! provider keeps the token it got:
//!
//! - in memory, shared by every concurrent upload of one [`crate::Client`] (one fetch
//!   even when 16 jobs start at once);
//! - on disk, one small JSON file per (server, appid, secret, endpoint) under the user's
//!   cache directory (`$WXIMG_CACHE_DIR`, else `$XDG_CACHE_HOME/wximg`, else
//!   `~/.cache/wximg`), mode 0600 and written atomically, so the next command reuses it;
//!   used only while no one else could have written it ([`TokenCache`]).
//!
//! A token is used while it has more than [`REFRESH_MARGIN`] of life left. When the server
//! refuses a token (40001 / 40014 / 42001) the caller asks for [`TokenProvider::renew`]: a new token
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

/// The on-disk token cache: one file per (server, appid, secret, endpoint).
///
/// A cached token is a credential, so the cache is trusted only when no one else could
/// have written it: on Unix the directory must belong to this user and be writable by no
/// one else, and the file must be a regular file of this user's, readable by no one else.
/// Anything else (a world-writable directory someone prepared, a planted 0666 file, a
/// symlink) is ignored with a warning: the token is fetched instead and not written there.
#[derive(Debug, Clone)]
pub struct TokenCache {
    file: PathBuf,
}

impl TokenCache {
    /// The cache file for this server, appid, secret and endpoint inside `dir`. The
    /// server is part of the key, so a token of a local wximg is never sent to the real
    /// service or the other way round; so is the secret (through a derived hash, never
    /// the secret itself), so a wrong secret never gets the right secret's token.
    pub fn new(
        dir: &Path,
        base_url: &str,
        appid: &str,
        secret: &str,
        endpoint: TokenEndpoint,
    ) -> TokenCache {
        let mut key = blake3::Hasher::new_derive_key("wximg 2026 token cache file name");
        for part in [base_url.trim_end_matches('/'), appid, secret] {
            key.update(&(part.len() as u64).to_le_bytes());
            key.update(part.as_bytes());
        }
        let key = key.finalize().to_hex();
        let safe_appid: String = appid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(40)
            .collect();
        TokenCache {
            file: dir.join(format!(
                "token-{safe_appid}-{}-{}.json",
                endpoint.as_str(),
                &key[..24]
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The cached token, if there is a readable one in a cache that is safe to trust. A
    /// missing or damaged file is no token.
    pub fn load(&self) -> Option<CachedToken> {
        if let Err(why) = self.trusted(true) {
            tracing::warn!("not using the cached token: {why}");
            return None;
        }
        let text = std::fs::read(&self.file).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Stores a token: written to a temporary file with mode 0600, synced, then renamed
    /// over the old one, so a reader sees the old token or the new one, never half of one.
    /// Refused (an error the caller reports) when the directory is not safe to trust.
    pub fn store(&self, token: &CachedToken) -> Result<()> {
        let dir = self.dir();
        create_private_dir(dir)?;
        self.trusted(false).map_err(Error::Config)?;
        let json = serde_json::to_vec(token).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(&self.file, &json, Access::Private)
    }

    /// Removes the cached token (after the server refused it).
    pub fn clear(&self) {
        let _ = std::fs::remove_file(&self.file);
    }

    fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// Whether the directory (and, with `file`, the file) could only have been written by
    /// this user; the error says what is wrong and how to mend it.
    fn trusted(&self, file: bool) -> std::result::Result<(), String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            let dir = self.dir();
            if let Ok(meta) = std::fs::metadata(dir)
                && (meta.uid() != me || meta.mode() & 0o022 != 0)
            {
                return Err(format!(
                    "the cache directory {} belongs to another user or others may write to \
                     it (mode {:o}); run `chmod 700` on it or set WXIMG_CACHE_DIR",
                    dir.display(),
                    meta.mode() & 0o7777
                ));
            }
            if file
                && let Ok(meta) = std::fs::symlink_metadata(&self.file)
                && (!meta.file_type().is_file() || meta.uid() != me || meta.mode() & 0o077 != 0)
            {
                return Err(format!(
                    "{} is not a private regular file of this user's (mode {:o}); remove it",
                    self.file.display(),
                    meta.mode() & 0o7777
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = file;
        Ok(())
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
    /// Why the last fetch failed, when no later one can do better in this run (see
    /// [`account_wide`]): every later caller is told at once instead of asking again.
    failed: std::sync::Mutex<Option<Failure>>,
}

/// A token failure kept for the callers after the first (errors are not `Clone`).
#[derive(Debug, Clone)]
enum Failure {
    Api { code: i64, errmsg: String },
    Transport(String),
}

impl Failure {
    fn error(&self) -> Error {
        match self {
            Failure::Api { code, errmsg } => Error::Api {
                code: *code,
                errmsg: errmsg.clone(),
                rid: None,
            },
            Failure::Transport(message) => Error::Transport {
                message: message.clone(),
                source: None,
            },
        }
    }
}

/// The token failures that no retry in this run can mend, so one fetch says it for every
/// picture of a batch: a wrong appid or secret, an address the account does not allow,
/// an administrator's refusal, a server that does not answer (after the retry policy
/// has retried it). A quota or a system error may pass, and is asked again.
fn account_wide(e: &Error) -> Option<Failure> {
    match e {
        Error::Api { code, errmsg, .. }
            if matches!(
                code,
                40002 | 40013 | 40125 | 40164 | 41002 | 41004 | 48001 | 89503 | 89506 | 89507
            ) =>
        {
            Some(Failure::Api {
                code: *code,
                errmsg: errmsg.clone(),
            })
        }
        Error::Transport { .. } => Some(Failure::Transport(e.to_string())),
        _ => None,
    }
}

impl TokenProvider {
    pub(crate) fn new(cache: Option<TokenCache>) -> TokenProvider {
        TokenProvider {
            cache,
            current: Mutex::new(None),
            failed: std::sync::Mutex::new(None),
        }
    }

    /// The account-wide failure of an earlier fetch, if there was one.
    fn failure(&self) -> Option<Error> {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.as_ref().map(Failure::error)
    }

    /// Fetches a token; an account-wide failure is kept for every later caller.
    async fn fetch(&self, fetcher: &impl FetchToken, force: bool) -> Result<CachedToken> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let fetched = fetcher.fetch_token(force).await;
        if let Err(e) = &fetched
            && let Some(failure) = account_wide(e)
        {
            *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure);
        }
        fetched
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
        let t = self.fetch(fetcher, false).await?;
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
        let mut t = self.fetch(fetcher, false).await?;
        if t.access_token == refused {
            // The server still hands out the token it refuses: ask for a new one.
            t = self.fetch(fetcher, true).await?;
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

    /// A server refusing the secret (40125), or a quota (45009), counted.
    struct Refusing(AtomicU32, i64);

    impl FetchToken for Refusing {
        async fn fetch_token(&self, _force: bool) -> Result<CachedToken> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(Error::Api {
                code: self.1,
                errmsg: "refused".into(),
                rid: None,
            })
        }
    }

    #[tokio::test]
    async fn a_wrong_secret_is_asked_once_for_the_whole_run() {
        let provider = TokenProvider::new(None);
        let server = Refusing(AtomicU32::new(0), 40125);
        for _ in 0..20 {
            let e = provider.get(&server).await.expect_err("refused");
            assert_eq!(e.errcode().map(|c| c.code()), Some(40125), "{e}");
        }
        assert!(provider.renew(&server, "t").await.is_err());
        assert_eq!(server.0.load(Ordering::SeqCst), 1, "one token request");
        // A quota may pass: asked again.
        let provider = TokenProvider::new(None);
        let quota = Refusing(AtomicU32::new(0), 45009);
        for _ in 0..3 {
            assert!(provider.get(&quota).await.is_err());
        }
        assert_eq!(quota.0.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn cached_on_disk_with_private_mode_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(
            dir.path(),
            "http://x",
            "wx0123456789abcdef",
            "s",
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
        let cache = TokenCache::new(dir.path(), "http://x", "wxa", "s", TokenEndpoint::Classic);
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
    fn cache_key_separates_servers_secrets_and_endpoints() {
        let d = Path::new("/c");
        let file = |base: &str, appid: &str, secret: &str, endpoint| {
            TokenCache::new(d, base, appid, secret, endpoint)
                .path()
                .to_path_buf()
        };
        let local = "http://127.0.0.1:8080";
        let stable = file(local, "wx1", "s", TokenEndpoint::Stable);
        assert_ne!(
            file(
                "https://api.weixin.qq.com",
                "wx1",
                "s",
                TokenEndpoint::Stable
            ),
            stable
        );
        assert_ne!(
            file("http://127.0.0.1:8080/", "wx1", "s", TokenEndpoint::Classic),
            stable
        );
        // A wrong secret never finds the right secret's token.
        assert_ne!(file(local, "wx1", "t", TokenEndpoint::Stable), stable);
        // The same server with or without a trailing slash is one server.
        assert_eq!(
            file("http://127.0.0.1:8080/", "wx1", "s", TokenEndpoint::Stable),
            stable
        );
        let hostile = file("x", "../../etc", "s", TokenEndpoint::Stable);
        assert!(!hostile.to_string_lossy().contains(".."));
    }

    #[test]
    fn debug_hides_the_token() {
        let t = CachedToken::new("SECRET-TOKEN".into(), 10);
        assert!(!format!("{t:?}").contains("SECRET"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_unsafe_cache_is_neither_read_nor_written() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        // A far-from-expired token, written by someone else, with this mode.
        let plant = |p: &Path, token: &str, mode: u32| {
            let json = format!(r#"{{"access_token":"{token}","expires_at":99999999999}}"#);
            std::fs::write(p, json).unwrap();
            chmod(p, mode);
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path(), "http://x", "wxa", "s", TokenEndpoint::Stable);
        cache.store(&CachedToken::new("mine".into(), 7200)).unwrap();
        assert_eq!(cache.load().unwrap().access_token, "mine");

        // A planted token readable and writable by everyone is not used.
        plant(cache.path(), "planted", 0o666);
        assert!(cache.load().is_none(), "a 0666 token file was trusted");
        let f = counter(false);
        let p = TokenProvider::new(Some(cache.clone()));
        assert_eq!(p.get(&f).await.unwrap(), "t0", "the planted token was used");

        // A directory others may write to is neither read nor written.
        std::fs::remove_file(cache.path()).unwrap();
        cache.store(&CachedToken::new("mine".into(), 7200)).unwrap();
        chmod(dir.path(), 0o777);
        assert!(
            cache.load().is_none(),
            "a world-writable cache directory was trusted"
        );
        assert!(cache.store(&CachedToken::new("x".into(), 7200)).is_err());
        chmod(dir.path(), 0o700);
        assert_eq!(cache.load().unwrap().access_token, "mine");

        // A symlink in place of the file is not followed.
        std::fs::remove_file(cache.path()).unwrap();
        let elsewhere = dir.path().join("elsewhere.json");
        plant(&elsewhere, "linked", 0o600);
        std::os::unix::fs::symlink(&elsewhere, cache.path()).unwrap();
        assert!(cache.load().is_none(), "a symlinked token file was trusted");
    }
}
