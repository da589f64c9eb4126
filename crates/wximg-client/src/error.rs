//! The client's errors.
//!
//! Three families are kept apart, because the right reaction differs:
//!
//! - [`Error::Api`]: the server answered, with a non-zero `errcode`. The code, the message
//!   and the request id (`rid`) are kept, so a user can quote the rid to whoever runs the
//!   server.
//! - [`Error::Rejected`]: the pre-flight check refused a picture before any byte was sent;
//!   it carries the code the server *would* have answered.
//! - [`Error::Transport`]: no answer (connection refused, timeout, TLS, a body that is not
//!   the API's JSON). Nothing is known about what the server did.
//!
//! Every message ends with what to do next.

use std::path::PathBuf;

use wximg_proto::wire::Rid;
use wximg_proto::{ErrCode, Rejection};

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a non-zero `errcode`.
    #[error("{}", api_message(*code, errmsg, rid.as_ref()))]
    Api {
        /// The numeric `errcode` as received (it may be one wximg does not know).
        code: i64,
        /// The server's `errmsg`, without the ` rid: …` suffix.
        errmsg: String,
        /// The request id the server put in the message, if any.
        rid: Option<Rid>,
    },

    /// The picture would be refused by the server; nothing was sent.
    #[error("{0}")]
    Rejected(Rejection),

    /// The request did not get an answer from the API (or got one that is not its JSON).
    #[error("{message}")]
    Transport {
        message: String,
        #[source]
        source: Option<reqwest::Error>,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `--fit` could not make the picture fit (undecodable, or too big even when shrunk).
    #[error("cannot fit the picture: {0}")]
    Fit(String),

    /// A remote picture could not be downloaded.
    #[error("cannot download {url}: {reason}")]
    Download { url: String, reason: String },

    /// A picture was not read: one an article names is outside the article's directory,
    /// not a regular file, or on a non-public address or a scheme other than http(s)
    /// (see [`crate::fetch`]); or any picture is over the byte cap. The reason says which
    /// flag allows it, if one does.
    #[error("not read: {reason}")]
    Refused {
        /// The picture as the article (or the command line) names it.
        picture: String,
        /// Why, and what to do.
        reason: String,
    },

    /// The client is not configured well enough to make the call.
    #[error("{0}")]
    Config(String),
}

/// Shorthand for the client's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Api`] from an answer's `errcode` and `errmsg`, splitting off the rid.
    pub fn from_answer(code: i64, errmsg: &str) -> Error {
        let rid = Rid::from_errmsg(errmsg);
        let errmsg = match errmsg.rsplit_once("rid: ") {
            Some((head, _)) if rid.is_some() => head.trim_end().trim_end_matches(',').trim_end(),
            _ => errmsg,
        };
        // Media, material and draft errors carry ` hint: [...]` before the rid: the
        // message is what comes before it (the hint identifies nothing a user can use).
        let errmsg = wximg_proto::wire::Hint::split(errmsg).0.to_string();
        Error::Api { code, errmsg, rid }
    }

    /// The error-table row of an API error or a pre-flight rejection.
    pub fn errcode(&self) -> Option<ErrCode> {
        match self {
            Error::Api { code, .. } => ErrCode::from_code(*code),
            Error::Rejected(r) => Some(r.code),
            _ => None,
        }
    }

    /// The numeric code to report for this error (`-1` for non-API failures, as the
    /// platform's own "system error" when nothing better is known).
    pub fn code(&self) -> i64 {
        match self {
            Error::Api { code, .. } => *code,
            Error::Rejected(r) => r.code.code(),
            _ => -1,
        }
    }

    /// Whether waiting and trying again may succeed: `-1`, `45011`, and connection errors.
    /// `45009` (daily quota) is *not* transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { .. } => self.errcode().is_some_and(ErrCode::is_transient),
            Error::Transport {
                source: Some(e), ..
            } => e.is_connect() || e.is_timeout() || e.is_request(),
            _ => false,
        }
    }

    /// Whether the token was refused (40001 / 40014 / 42001): fetch a new one and try
    /// once more, as wechatpy and WxJava do.
    pub fn is_token_problem(&self) -> bool {
        matches!(self, Error::Api { .. }) && self.errcode().is_some_and(ErrCode::is_token_problem)
    }

    pub(crate) fn transport(message: impl Into<String>, source: reqwest::Error) -> Error {
        Error::Transport {
            message: message.into(),
            source: Some(source),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `40125 invalid appsecret (rid: …): check --secret / WXIMG_SECRET`.
fn api_message(code: i64, errmsg: &str, rid: Option<&Rid>) -> String {
    let mut s = format!("{code} {errmsg}");
    if let Some(rid) = rid {
        s.push_str(&format!(" (rid: {rid})"));
    }
    if let Some(hint) = ErrCode::from_code(code).and_then(hint) {
        s.push_str(" — ");
        s.push_str(hint);
    }
    s
}

/// What the user can do about an API error.
fn hint(code: ErrCode) -> Option<&'static str> {
    Some(match code {
        ErrCode::SystemError => "the server failed and stored nothing; try again later",
        ErrCode::InvalidCredential | ErrCode::AccessTokenExpired => {
            "the access token was refused; drop --access-token to let wximg fetch one"
        }
        ErrCode::InvalidFileType => "only whole JPEG and PNG files are accepted; use --fit",
        ErrCode::InvalidImageSize => "the limit is 1,048,576 bytes and 50 megapixels; use --fit",
        ErrCode::InvalidAppId => "check --appid / WXIMG_APPID",
        ErrCode::InvalidAppSecret => "check --secret / WXIMG_SECRET",
        ErrCode::IpNotInWhitelist => {
            "add this machine's address to the app's IP whitelist, or call from a listed one"
        }
        ErrCode::AccessTokenMissing => "give --appid and --secret, or --access-token",
        ErrCode::AppIdMissing => "give --appid or WXIMG_APPID",
        ErrCode::AppSecretMissing => "give --secret or WXIMG_SECRET",
        ErrCode::DailyQuota => {
            "the app's daily quota for this API is used up; not retried, try again tomorrow"
        }
        ErrCode::MinuteQuota => "the per-minute quota is used up; wait a minute, or lower --jobs",
        ErrCode::ApiUnauthorized => {
            "this account may not call uploadimg (only official and service accounts may)"
        }
        ErrCode::ApiUnauthorizedToComponent => {
            "the authorizer's grant does not cover this API; ask for permission set 1, 8, 9, 11, 18, 37 or 100"
        }
        ErrCode::ContentSizeOutOfLimit => {
            "one article takes fewer than 20,000 characters of text and under 1 MiB of HTML, \
             nested at most 256 deep; split it in two, or flatten it (the pictures sent are \
             cached: a re-run sends none again)"
        }
        ErrCode::EmptyContent => {
            "the article has no content left once the platform's cleaning removed what it \
             does not keep (scripts, forms, frames); write some text"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_keeps_code_message_and_rid() {
        let e = Error::from_answer(40125, "invalid appsecret rid: 64d0640d-1a2b3c4d-5e6f7a8b");
        let Error::Api { code, errmsg, rid } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*code, 40125);
        assert_eq!(errmsg, "invalid appsecret");
        assert_eq!(
            rid.as_ref().map(Rid::as_str),
            Some("64d0640d-1a2b3c4d-5e6f7a8b")
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with("40125 invalid appsecret (rid: 64d0640d"),
            "{shown}"
        );
        assert!(shown.contains("--secret"), "{shown}");
    }

    #[test]
    fn comma_before_rid_and_no_rid() {
        let e = Error::from_answer(40001, "invalid credential, rid: 64d0640d-1a2b3c4d-5e6f7a8b");
        assert!(matches!(&e, Error::Api { errmsg, .. } if errmsg == "invalid credential"));
        assert!(e.is_token_problem());
        let e = Error::from_answer(99999, "something new");
        assert!(matches!(&e, Error::Api { errmsg, rid: None, .. } if errmsg == "something new"));
        assert!(!e.is_transient());
    }

    #[test]
    fn hints_are_split_off_and_40014_is_a_token_problem() {
        let e = Error::from_answer(
            40005,
            "invalid file type hint: [OOr9Ra0781d418] rid: 64d0640d-1a2b3c4d-5e6f7a8b",
        );
        assert!(
            matches!(&e, Error::Api { errmsg, rid: Some(_), .. } if errmsg == "invalid file type")
        );
        assert!(!e.is_token_problem());
        assert!(Error::from_answer(40014, "invalid access_token").is_token_problem());
    }

    #[test]
    fn a_too_long_article_says_the_limits_and_to_split_it() {
        let shown = Error::from_answer(45002, "content size out of limit").to_string();
        let chars = wximg_proto::articles::CONTENT_TEXT_CHARS;
        let limit = format!("{},{:03}", chars / 1000, chars % 1000);
        assert!(
            shown.contains(&limit) && shown.contains("split it"),
            "{shown}"
        );
        assert_eq!(
            wximg_proto::articles::CONTENT_BYTES,
            1 << 20,
            "the hint says 1 MiB"
        );
    }

    #[test]
    fn transient_codes() {
        assert!(Error::from_answer(-1, "system error").is_transient());
        assert!(Error::from_answer(45011, "api minute-quota").is_transient());
        let daily = Error::from_answer(45009, "reach max api daily quota limit");
        assert!(!daily.is_transient());
        assert!(daily.to_string().contains("not retried"));
    }
}
