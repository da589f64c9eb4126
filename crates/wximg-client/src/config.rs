//! Settings: `~/.config/wximg/config.toml` (or `$WXIMG_CONFIG`), so a writer types
//! `wximg publish post.md --draft` and nothing else.
//!
//! Invariant: a secret never has to be on the command line, and one read from a file is
//! read only when the file is private to its owner (no group or other permission bits):
//! a secret others can read is refused, with the `chmod` that fixes it.
//!
//! ```toml
//! default = "blog"                 # the profile used when none is named
//!
//! [profiles.blog]
//! base_url = "https://api.weixin.qq.com"
//! appid = "wx0123456789abcdef"
//! token_endpoint = "stable"        # or "token"
//! secret_file = "~/.config/wximg/blog.secret"   # chmod 600
//! # secret_env = "BLOG_SECRET"     # or: the secret is in this environment variable
//! theme = "default"                # default | github | warm | a .css file
//! cache = "~/.cache/wximg/blog-pictures.json"   # one picture cache for every article
//! ```
//!
//! Flags and `WXIMG_*` variables override the profile; the profile overrides the
//! defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when none is named.
    pub default: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One account on one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub base_url: Option<String>,
    pub appid: Option<String>,
    /// `stable` or `token`.
    pub token_endpoint: Option<String>,
    /// A file holding the secret (mode 0600 or stricter).
    pub secret_file: Option<String>,
    /// An environment variable holding the secret.
    pub secret_env: Option<String>,
    /// The theme for `publish --draft`: a built-in name or a CSS file.
    pub theme: Option<String>,
    /// One picture cache shared by every article of this profile.
    pub cache: Option<String>,
}

/// Where the config file is: `$WXIMG_CONFIG`, else `~/.config/wximg/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WXIMG_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    dirs::config_dir().map(|d| d.join("wximg").join("config.toml"))
}

/// `~/…` expanded; anything else as is.
pub fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(p)),
        None => PathBuf::from(p),
    }
}

impl Config {
    /// Reads the config at `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        toml::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.to_string().trim_end())))
    }

    /// The profile `name`, or the default one (`default = …`, else a profile called
    /// `default`); `None` when the file names none. A name given but absent is an error.
    pub fn profile(&self, name: Option<&str>, path: &Path) -> Result<Option<Profile>> {
        match name {
            Some(n) => self.profiles.get(n).cloned().map(Some).ok_or_else(|| {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                Error::Config(format!(
                    "no profile {n:?} in {} (it has: {})",
                    path.display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            }),
            None => match &self.default {
                Some(d) => self.profile(Some(d), path),
                None => Ok(self.profiles.get("default").cloned()),
            },
        }
    }
}

impl Profile {
    /// The profile's secret: from `secret_env`, else from `secret_file` (which must be
    /// private to its owner); `None` when it names neither.
    pub fn secret(&self) -> Result<Option<String>> {
        if let Some(var) = &self.secret_env
            && let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return Ok(Some(v.trim().to_string()));
        }
        let Some(file) = &self.secret_file else {
            return Ok(None);
        };
        let path = expand_home(file);
        read_private(&path).map(Some)
    }
}

/// A secret file's content, refused unless only its owner may read it.
pub fn read_private(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "{} is readable by others (mode {mode:04o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(Error::Config(format!("{} is empty", path.display())));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn profiles_and_private_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s");
        std::fs::write(&secret, "abc\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cfg_path = dir.path().join("config.toml");
        std::fs::write(
            &cfg_path,
            format!(
                "default = \"blog\"\n[profiles.blog]\nappid = \"wx0123456789abcdef\"\nsecret_file = \"{}\"\n",
                secret.display()
            ),
        )
        .unwrap();
        let cfg = Config::load(&cfg_path).unwrap();
        let p = cfg.profile(None, &cfg_path).unwrap().unwrap();
        assert_eq!(p.appid.as_deref(), Some("wx0123456789abcdef"));
        let e = p.secret().unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(p.secret().unwrap().as_deref(), Some("abc"));
        assert!(cfg.profile(Some("nope"), &cfg_path).is_err());
        assert!(Config::load(&dir.path().join("missing.toml")).is_ok());
        std::fs::write(&cfg_path, "[profiles.x]\nsecret = \"inline\"\n").unwrap();
        assert!(Config::load(&cfg_path).is_err(), "unknown keys are refused");
    }
}
