//! An app's callback settings: where its events are pushed, and how they are signed and
//! encrypted — the console's "server configuration" (URL, Token, EncodingAESKey and the
//! message encryption mode), set with `wximg app callback`.
//!
//! Invariant: a stored setting is always usable — [`CallbackSettings::new`] is the only
//! way to make one, and it refuses (with a sentence saying why) a URL that is not
//! `http(s)://host…`, a token that is not 3–32 letters and digits, a missing or malformed
//! EncodingAESKey in a mode that encrypts. The setting is a platform record
//! (`callback:wx…`), so every node reads the same one and `wximg migrate` copies it.

use serde::{Deserialize, Serialize};
use wximg_proto::AppId;

use super::crypto::AesKey;
use crate::error::ApiError;
use crate::platform::{load, update};
use wximg_store::MetaStore;

/// The console's "message encryption mode".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// 明文模式: the XML as is, signed with `signature`.
    Plain,
    /// 兼容模式: the plaintext fields and their `Encrypt`ed copy in one body.
    Compatible,
    /// 安全模式: only `ToUserName` and `Encrypt`, signed with `msg_signature` too.
    Safe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Compatible => "compatible",
            Mode::Safe => "safe",
        }
    }

    /// Whether the body carries an `Encrypt` element.
    pub fn encrypts(self) -> bool {
        !matches!(self, Mode::Plain)
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "plain" => Ok(Mode::Plain),
            "compatible" => Ok(Mode::Compatible),
            "safe" => Ok(Mode::Safe),
            other => Err(format!(
                "{other:?} is not a mode: plain, compatible or safe"
            )),
        }
    }
}

/// Where and how an app's events are pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackSettings {
    pub url: String,
    pub token: String,
    /// The EncodingAESKey (43 characters); required by the modes that encrypt.
    pub aes_key: Option<String>,
    pub mode: Mode,
}

impl CallbackSettings {
    /// Checked settings; `mode` defaults to safe when a key is given, else plain.
    pub fn new(
        url: &str,
        token: &str,
        aes_key: Option<&str>,
        mode: Option<Mode>,
    ) -> Result<CallbackSettings, String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("--url {url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!(
                "--url {url:?} must be http:// or https:// with a host, as the platform's \
                 server URL"
            ));
        }
        if !(3..=32).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "--token must be 3 to 32 letters and digits (the platform's rule), got {} \
                 characters{}",
                token.chars().count(),
                if token.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    ""
                } else {
                    " with others than A-Z, a-z, 0-9"
                }
            ));
        }
        if let Some(key) = aes_key {
            AesKey::parse(key).map_err(|e| format!("--aes-key: {e}"))?;
        }
        let mode = mode.unwrap_or(if aes_key.is_some() {
            Mode::Safe
        } else {
            Mode::Plain
        });
        if mode.encrypts() && aes_key.is_none() {
            return Err(format!(
                "--mode {} encrypts: it needs --aes-key (43 characters; `--aes-key new` makes one)",
                mode.as_str()
            ));
        }
        Ok(CallbackSettings {
            url: url.to_string(),
            token: token.to_string(),
            aes_key: aes_key.map(str::to_string),
            mode,
        })
    }

    /// The AES key, when the mode encrypts.
    pub fn key(&self) -> Option<AesKey> {
        self.aes_key
            .as_deref()
            .filter(|_| self.mode.encrypts())
            .and_then(|k| AesKey::parse(k).ok())
    }
}

/// The platform record key of an app's callback settings.
pub fn callback_key(appid: &AppId) -> String {
    format!("callback:{appid}")
}

/// The app's callback settings, if it has any.
pub async fn callback(
    meta: &dyn MetaStore,
    appid: &AppId,
    now: i64,
) -> Result<Option<CallbackSettings>, ApiError> {
    Ok(load::<CallbackSettings>(meta, &callback_key(appid), now)
        .await?
        .map(|(s, _)| s))
}

/// Sets (replaces) the app's callback settings.
pub async fn set_callback(
    meta: &dyn MetaStore,
    appid: &AppId,
    settings: &CallbackSettings,
    now: i64,
) -> Result<(), ApiError> {
    update(meta, &callback_key(appid), now, None, |_| {
        Ok(settings.clone())
    })
    .await?;
    Ok(())
}

/// Removes the app's callback settings (its events are no longer pushed); `false` if
/// it had none.
pub async fn clear_callback(meta: &dyn MetaStore, appid: &AppId) -> Result<bool, ApiError> {
    Ok(meta.delete_record(&callback_key(appid)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

    #[test]
    fn settings_are_checked() {
        let s = CallbackSettings::new("http://127.0.0.1:9/cb", "tok123", None, None).expect("ok");
        assert_eq!(s.mode, Mode::Plain);
        let s =
            CallbackSettings::new("https://x.example/cb", "tok123", Some(KEY), None).expect("ok");
        assert_eq!(s.mode, Mode::Safe);
        assert!(s.key().is_some());
        for (url, token, key, mode, why) in [
            ("ftp://x/cb", "tok123", None, None, "http://"),
            ("not a url", "tok123", None, None, "not a URL"),
            ("http://x/cb", "to", None, None, "3 to 32"),
            ("http://x/cb", "tok-123", None, None, "others than"),
            ("http://x/cb", &"t".repeat(33), None, None, "3 to 32"),
            (
                "http://x/cb",
                "tok123",
                Some("short"),
                None,
                "43 characters",
            ),
            (
                "http://x/cb",
                "tok123",
                None,
                Some(Mode::Safe),
                "needs --aes-key",
            ),
            (
                "http://x/cb",
                "tok123",
                None,
                Some(Mode::Compatible),
                "needs --aes-key",
            ),
        ] {
            let e = CallbackSettings::new(url, token, key, mode).expect_err(url);
            assert!(e.contains(why), "{e:?} should say {why:?}");
        }
    }
}
