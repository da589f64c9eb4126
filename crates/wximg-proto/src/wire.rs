//! The JSON bodies of the API and the request id format.
//!
//! Every answer is HTTP 200 with `Content-Type: application/json; encoding=utf-8`; clients
//! read `errcode`. Token answers have no `errcode` on success, as the platform's.

use serde::{Deserialize, Serialize};

use crate::ErrCode;

/// The Content-Type of every API answer, as the platform sends it.
pub const JSON_CONTENT_TYPE: &str = "application/json; encoding=utf-8";

/// `{"errcode":N,"errmsg":"… rid: …"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errcode: i64,
    pub errmsg: String,
}

impl ErrorBody {
    /// The body for `code`, its message followed by ` rid: <rid>`.
    pub fn new(code: ErrCode, rid: &Rid) -> ErrorBody {
        ErrorBody::with_message(code, code.message(), rid)
    }

    /// The body for `code` with a message other than the table's (40164 names the caller).
    pub fn with_message(code: ErrCode, message: &str, rid: &Rid) -> ErrorBody {
        ErrorBody {
            errcode: code.code(),
            errmsg: format!("{message} rid: {rid}"),
        }
    }
}

/// `uploadimg`'s success: `{"url":"…","errcode":0,"errmsg":"ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadImgOk {
    pub url: String,
    pub errcode: i64,
    pub errmsg: String,
}

impl UploadImgOk {
    pub fn new(url: String) -> UploadImgOk {
        UploadImgOk {
            url,
            errcode: 0,
            errmsg: "ok".into(),
        }
    }
}

/// `/cgi-bin/token` and `/cgi-bin/stable_token`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenOk {
    pub access_token: String,
    pub expires_in: i64,
}

/// `/cgi-bin/stable_token`'s JSON request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StableTokenRequest {
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub force_refresh: Option<bool>,
}

/// A request id: three groups of 8 lowercase hex digits, the first the server's Unix time.
/// Sent at the end of every error message (` rid: …`) and in `X-Request-Id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rid(String);

impl Rid {
    /// The rid for a request at `unix_time` with 64 random bits.
    pub fn new(unix_time: u64, random: u64) -> Rid {
        Rid(format!(
            "{:08x}-{:08x}-{:08x}",
            unix_time as u32,
            (random >> 32) as u32,
            random as u32
        ))
    }

    /// Parses a rid (e.g. from an error message); `None` if it is not of the form.
    pub fn parse(s: &str) -> Option<Rid> {
        let groups: Vec<&str> = s.split('-').collect();
        (groups.len() == 3
            && groups
                .iter()
                .all(|g| g.len() == 8 && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))))
        .then(|| Rid(s.to_string()))
    }

    /// Finds the rid at the end of an errmsg (`… rid: x-y-z` or `…, rid: x-y-z`).
    pub fn from_errmsg(errmsg: &str) -> Option<Rid> {
        let (_, tail) = errmsg.rsplit_once("rid: ")?;
        Rid::parse(tail.trim())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Rid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_format() {
        let rid = Rid::new(0x64d0640d, 0x1a2b3c4d_5e6f7a8b);
        assert_eq!(rid.as_str(), "64d0640d-1a2b3c4d-5e6f7a8b");
        let body = ErrorBody::new(ErrCode::InvalidFileType, &rid);
        assert_eq!(
            body.errmsg,
            "invalid file type rid: 64d0640d-1a2b3c4d-5e6f7a8b"
        );
        assert_eq!(Rid::from_errmsg(&body.errmsg), Some(rid.clone()));
        assert_eq!(
            Rid::from_errmsg("invalid credential, rid: 64d0640d-1a2b3c4d-5e6f7a8b"),
            Some(rid)
        );
        assert_eq!(Rid::parse("64d0640d-1a2b3c4d-5e6f7a8"), None);
    }
}
