//! Validated domain values. Parse, don't validate: once a value of these types exists it
//! is known to be well-formed, so handlers and storage never re-check strings.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// An account's appid: `wx` followed by 16 lowercase hex digits, as the platform issues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(String);

impl AppId {
    /// Accepts `wx` + 16 hex digits (either case; kept as lowercase).
    pub fn parse(s: &str) -> Option<AppId> {
        let rest = s.strip_prefix("wx")?;
        (rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| AppId(format!("wx{}", rest.to_ascii_lowercase())))
    }

    /// Builds an appid from 8 random bytes.
    pub fn from_random(bytes: [u8; 8]) -> AppId {
        AppId(format!("wx{:016x}", u64::from_be_bytes(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AppId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppId::parse(s)
            .ok_or_else(|| format!("{s:?} is not an appid (wx followed by 16 hex digits)"))
    }
}

/// An app secret: 32 hex digits (128 random bits). Its `Debug` hides the value so it can
/// never reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret(String);

impl AppSecret {
    pub fn parse(s: &str) -> Option<AppSecret> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| AppSecret(s.to_ascii_lowercase()))
    }

    pub fn from_random(bytes: [u8; 16]) -> AppSecret {
        AppSecret(format!("{:032x}", u128::from_be_bytes(bytes)))
    }

    /// The secret in clear: only to show it once to its owner, or to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret(…)")
    }
}

/// The kinds of account the platform knows. Per the seed's scope table only official and
/// service accounts may call `uploadimg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppType {
    Official,
    Service,
    MiniProgram,
    MiniGame,
}

impl AppType {
    pub const ALL: [AppType; 4] = [
        AppType::Official,
        AppType::Service,
        AppType::MiniProgram,
        AppType::MiniGame,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppType::Official => "official",
            AppType::Service => "service",
            AppType::MiniProgram => "miniprogram",
            AppType::MiniGame => "minigame",
        }
    }

    pub fn parse(s: &str) -> Option<AppType> {
        AppType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether this kind of account may call `uploadimg`.
    pub fn may_upload_article_images(self) -> bool {
        matches!(self, AppType::Official | AppType::Service)
    }
}

impl fmt::Display for AppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppType::parse(s).ok_or_else(|| {
            format!("{s:?} is not an app type (official, service, miniprogram, minigame)")
        })
    }
}

/// The public id of a stored picture: the URL-safe base64 of its BLAKE3 hash (43 chars).
/// Derived from the content, so the same bytes always get the same URL, and not guessable
/// from an upload counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageId([u8; 32]);

impl ImageId {
    /// The id of these bytes.
    pub fn of(bytes: &[u8]) -> ImageId {
        ImageId(*blake3::hash(bytes).as_bytes())
    }

    pub fn from_hash(hash: [u8; 32]) -> ImageId {
        ImageId(hash)
    }

    /// Parses the id segment of a picture URL. Anything that is not exactly 43 URL-safe
    /// base64 characters (so any `..`, `/` or `%`) is refused.
    pub fn parse(s: &str) -> Option<ImageId> {
        if s.len() != 43
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let v = URL_SAFE_NO_PAD.decode(s).ok()?;
        let hash: [u8; 32] = v.try_into().ok()?;
        // Refuse non-canonical encodings (trailing bits set), so one picture has one URL.
        (URL_SAFE_NO_PAD.encode(hash) == s).then_some(ImageId(hash))
    }

    pub fn hash(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex of the hash: the blob's storage key and its strong ETag.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses the 64 lowercase hex digits of [`ImageId::hex`] (a blob's file or object
    /// name) back into its id; anything else is refused.
    pub fn from_hex(s: &str) -> Option<ImageId> {
        // blake3's parser takes upper case too; a blob's name is always lower case.
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        blake3::Hash::from_hex(s)
            .ok()
            .map(|h| ImageId(*h.as_bytes()))
    }

    /// Where the blob lives under a blob root, as `/`-separated segments:
    /// `<first two hex digits>/<64 hex digits>`. Both blob stores (files and S3 keys)
    /// and everything that copies between them use this one layout.
    pub fn shard_path(&self) -> String {
        let hex = self.hex();
        format!("{}/{hex}", &hex[..2])
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Lowercase hex of a 32-byte hash (a BLAKE3 hash or keyed hash).
pub fn hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appid_parse() {
        assert!(AppId::parse("wx0123456789abcdef").is_some());
        assert_eq!(
            AppId::parse("wx0123456789ABCDEF").unwrap().as_str(),
            "wx0123456789abcdef"
        );
        assert!(AppId::parse("wx0123456789abcde").is_none());
        assert!(AppId::parse("wy0123456789abcdef").is_none());
        assert!(AppId::parse("wx0123456789abcdeg").is_none());
        assert!(AppId::parse("").is_none());
    }

    #[test]
    fn image_id_round_trip_and_refusals() {
        let id = ImageId::of(b"hello");
        let s = id.to_string();
        assert_eq!(s.len(), 43);
        assert_eq!(ImageId::parse(&s), Some(id));
        assert!(ImageId::parse("..").is_none());
        assert!(ImageId::parse(&format!("{}/", &s[..42])).is_none());
        assert!(ImageId::parse("%2e%2e%2f%2e%2e%2fetc%2fpasswd0000000000000").is_none());
    }

    #[test]
    fn hex_ids_round_trip_and_shard() {
        let id = ImageId::of(b"abc");
        let hex = id.hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(ImageId::from_hex(&hex), Some(id));
        assert_eq!(ImageId::from_hex(&hex.to_uppercase()), None);
        assert_eq!(ImageId::from_hex("zz"), None);
        assert_eq!(ImageId::from_hex(&hex[..63]), None);
        assert_eq!(id.shard_path(), format!("{}/{hex}", &hex[..2]));
    }

    #[test]
    fn secret_debug_hides_value() {
        let s = AppSecret::from_random([7; 16]);
        assert!(!format!("{s:?}").contains("0707"));
    }
}
