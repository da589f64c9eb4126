//! The error table.
//!
//! Every answer of the API carries an `errcode`; `0` means success and everything else is
//! one row of this table. The server builds its error bodies from it, the client turns the
//! codes it receives back into [`ErrCode`] values, and the README's table is checked
//! against [`ErrCode::ALL`] by a test, so the three can never drift apart.
//!
//! The messages are the real platform's, byte for byte (including its odd spacing in
//! 45011, its "meida" in 40006 and the getStableAccessToken advice in 40001 since late
//! 2023), because some SDKs match on them. The table holds the message only: the frame
//! adds ` hint: [xxxxxxxxxxxxxx]` for the codes that [`ErrCode::carries_hint`] names
//! when a media, material or draft endpoint answers them, then ` rid: …`.

use std::fmt;

macro_rules! error_table {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $msg:literal, $when:literal; )*) => {
        /// One row of the error table: a non-zero `errcode` of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrCode {
            /// Every row, in table order.
            pub const ALL: &'static [ErrCode] = &[ $( ErrCode::$name, )* ];

            /// The numeric `errcode`.
            pub const fn code(self) -> i64 {
                match self { $( ErrCode::$name => $code, )* }
            }

            /// The platform's `errmsg` for this code (without the ` rid: …` suffix).
            pub const fn message(self) -> &'static str {
                match self { $( ErrCode::$name => $msg, )* }
            }

            /// When wximg answers this code, in a few words (the README's third column).
            pub const fn when(self) -> &'static str {
                match self { $( ErrCode::$name => $when, )* }
            }

            /// The row for a numeric code, if it is one of ours.
            pub fn from_code(code: i64) -> Option<ErrCode> {
                match code { $( $code => Some(ErrCode::$name), )* _ => None }
            }
        }
    };
}

error_table! {
    /// Storage failure or a caught panic; nothing was acknowledged.
    SystemError = -1, "system error", "storage failure or internal fault; nothing is acknowledged, retry";
    /// Unknown token, or one ended by a newer one.
    InvalidCredential = 40001, "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r", "unknown token, or one ended by a newer token";
    /// `grant_type` is missing or not `client_credential`.
    InvalidGrantType = 40002, "invalid grant_type", "grant_type missing or not client_credential";
    /// `add_material`'s `type` is missing or not one wximg hosts (`image`, `thumb`), or
    /// `batchget_material`'s is not one the platform lists.
    InvalidMediaType = 40004, "invalid media type", "add_material: type missing, unknown, or voice/video (wximg hosts pictures only); batchget_material: type not image/video/voice/news";
    /// The upload is not a real, whole JPEG or PNG.
    InvalidFileType = 40005, "invalid file type", "media is not a whole, well-formed picture of a format the call takes (uploadimg: JPEG/PNG; image material: also GIF/BMP; thumb: JPEG), judged by its bytes";
    /// A material's file is over its type's byte limit. ("meida": the platform's own
    /// spelling, in its documentation and in every capture.)
    InvalidMediaSize = 40006, "invalid meida size", "add_material: media over 10 MB (image) or 64 KB (thumb)";
    /// No material of the caller's app has this media_id.
    InvalidMediaId = 40007, "invalid media_id", "get_material/del_material: media_id missing or not a material of the caller's account; draft/freepublish: thumb_media_id not a permanent material of this account, or an unknown draft media_id / publish_id";
    /// The upload is too large in bytes or in pixels.
    InvalidImageSize = 40009, "invalid image size", "uploadimg: media larger than 1,048,576 bytes; any picture whose header claims more than the pixel limit";
    /// Unknown or malformed appid.
    InvalidAppId = 40013, "invalid appid", "appid unknown or not of the form wx + 16 hex digits";
    /// A token that is not of the form of any token the platform issues.
    InvalidAccessToken = 40014, "invalid access_token", "access_token (or cloudbase_access_token) not of a token's form: a character outside A-Z a-z 0-9 _ -, or more than 512 characters";
    /// The multipart filename of a permanent material has no extension, or one the
    /// material's type does not take.
    UnsupportedFileType = 40113, "unsupported file type", "add_material: the media part's filename has no extension, or one the type does not take (image: jpg/jpeg/png/gif/bmp; thumb: jpg/jpeg)";
    /// The app's secret is frozen (the platform's console can freeze it).
    AppSecretFrozen = 40243, "AppSecret已被冻结，请登录MP解冻后再次调用。", "token calls: the app's secret is frozen (fault injection only: wximg has no console to freeze it)";
    /// The secret does not match the app.
    InvalidAppSecret = 40125, "invalid appsecret", "secret does not match the app";
    /// The caller's address is not in the app's whitelist.
    IpNotInWhitelist = 40164, "invalid ip, not in whitelist", "token call from an address outside the app's IP whitelist";
    /// No such API: a path under `/cgi-bin/` that the platform does not have.
    InvalidUrl = 40066, "invalid url", "a path under /cgi-bin/ that is not an API";
    /// No `access_token` in the query.
    AccessTokenMissing = 41001, "access_token missing", "no access_token (nor cloudbase_access_token, nor X-WX-CLOUDBASE-ACCESS-TOKEN header) and no cloud call";
    /// No `appid` where one is required.
    AppIdMissing = 41002, "appid missing", "no appid (stable_token: appid given in the query instead of the JSON body)";
    /// No `secret` where one is required.
    AppSecretMissing = 41004, "appsecret missing", "no secret";
    /// No `media` part, or an empty one.
    MediaDataMissing = 41005, "media data missing", "no media part in the multipart body, or an empty one; add_material: a media part without a filename";
    /// The token's life is over.
    AccessTokenExpired = 42001, "access_token expired", "token past its expires_in";
    /// A GET endpoint was called with a method it does not take.
    RequireGet = 43001, "require GET method", "PUT, DELETE, … on a GET endpoint (/cgi-bin/token)";
    /// A POST-only endpoint was called with another method.
    RequirePost = 43002, "require POST method", "GET (or another method) on a POST-only endpoint";
    /// The request has no body.
    EmptyPostData = 44002, "empty post data", "POST with an empty body";
    /// The app's daily quota for this API is used up.
    DailyQuota = 45009, "reach max api daily quota limit", "the app's daily quota for this API (or 20 stable_token force refreshes) is used up";
    /// The app's per-minute quota for this API is used up.
    MinuteQuota = 45011, "api minute-quota reach limit  mustslower  retry next minute", "the app's per-minute quota for this API is used up";
    /// The account's material library is full.
    MediaCountLimit = 45034, "media file count is out of limit", "add_material: the account already holds 100,000 picture materials (uploadimg pictures do not count)";
    /// The body could not be parsed.
    DataFormatError = 47001, "data format error", "body is not valid JSON / multipart, or a small JSON body over 8 KiB (draft bodies: see 45002), or a body arriving slower than 8 KiB/s after its first 5 s; draft/freepublish batchget count outside 1..=20";
    /// The app type (or grant) does not allow this API, or the call came from a web page
    /// of another site.
    ApiUnauthorized = 48001, "api unauthorized", "the app type (or a component grant) does not allow this API, or a web page of another site made the call (Origin, Sec-Fetch-Site)";
    /// The caller's address is not among the component's registered outbound IPs.
    ComponentIpNotRegistered = 61004, "access clientip is not registered", "third-party platform: a component call from an address outside the component's IP whitelist (`wximg app whitelist COMPONENT_APPID`)";
    /// The component's ticket is past its life.
    ComponentTicketExpired = 61005, "component ticket is expired", "third-party platform: component_verify_ticket was the component's but is older than its 12 h life";
    /// The component_appid names no component.
    InvalidComponent = 61011, "invalid component", "third-party platform: component_appid is well formed but names no component app";
    /// A component API was called with a token that is not a component_access_token.
    MustUseComponentToken = 61014, "must use component token for component api", "third-party platform: a component API called with an account's access_token or an authorizer_access_token";
    /// A component (third-party platform) may not call this API for the authorizer.
    ApiUnauthorizedToComponent = 61007, "api is unauthorized to component", "the authorizer's grant does not cover this API";
    /// The component's authorizer has not authorized it (or revoked the authorization).
    ComponentNotAuthorized = 61003, "component is not authorized by this account", "third-party platform: the authorizer has not authorized the component, or revoked it";
    /// `component_verify_ticket` is not the component's current (or previous) ticket.
    ComponentTicketInvalid = 61006, "component ticket is invalid", "third-party platform: component_verify_ticket is not the one wximg pushed";
    /// The `authorization_code` is unknown, already used, or of an authorization since
    /// revoked or replaced.
    AuthorizationCodeInvalid = 61009, "code is invalid", "third-party platform: authorization_code unknown, already used, or issued before a revocation or re-authorization";
    /// The `authorization_code` is past its life.
    AuthorizationCodeExpired = 61010, "code is expired", "third-party platform: authorization_code past its 600 s life";
    /// The `authorizer_refresh_token` is not the grant's current one.
    RefreshTokenInvalid = 61023, "refresh_token is invalid", "third-party platform: authorizer_refresh_token unknown, or replaced by a re-authorization";
    /// `clear_quota`: the account's 10 clears of this month are spent.
    ClearQuotaLimit = 48006, "forbid to clear quota because of reaching the limit", "clear_quota: the account's 10 clears this month (Beijing time) are used up";
    /// `openapi/rid/get`: no request with this rid is kept.
    RidNotFound = 76001, "rid not found, please check", "openapi/rid/get: no request with this rid in the request log (kept 7 days, bounded)";
    /// `openapi/rid/get`: the rid is empty or not of the platform's form.
    RidInvalid = 76002, "rid is error", "openapi/rid/get: rid missing or not three groups of 8 hex digits";
    /// `openapi/rid/get`: the rid is another account's request.
    RidNoPermission = 76003, "could not query this rid,no permission", "openapi/rid/get: the rid belongs to another account's request (or to one no account was known for)";
    /// `openapi/rid/get`: the rid is older than 7 days.
    RidExpired = 76004, "rid time is error", "openapi/rid/get: the rid's time is more than 7 days ago (or in the future)";
    /// `openapi/quota/get`: no such API.
    CgiPathNotFound = 76021, "cgi_path not found, please check", "openapi/quota/get: cgi_path names no API of wximg";
    /// `openapi/quota/get`: the API is not the caller's kind of account's.
    CgiPathNoPermission = 76022, "could not use this cgi_path，no permission", "openapi/quota/get: a /sns/ path, or a third-party platform API asked with an account's token";
    // --- Drafts and publishing (draft/*, freepublish/*; see wximg_proto::articles).
    /// A draft body without articles.
    EmptyNewsData = 44003, "empty news data", "draft: no articles (or an article without a title)";
    /// An article without content.
    EmptyContent = 44004, "empty content", "draft: an article's content is missing or empty";
    /// An article's content over the platform's size.
    ContentSizeOutOfLimit = 45002, "content size out of limit", "draft: content of 20,000 text characters or more, or of 1 MiB or more, or nesting elements more than 256 deep, or parsing into more elements than one per two bytes plus 1,024, or into more attribute bytes than four per byte plus 256 KiB (formatting tags left open are rebuilt in each paragraph after them), or content of 2 MiB or more once cleaned (a draft's articles together: 4 MiB), or a draft body over 4 MiB";
    /// An article's title over the platform's length.
    TitleSizeOutOfLimit = 45003, "title size out of limit", "draft: title longer than 32 characters";
    /// An article's digest over the platform's length.
    DescriptionSizeOutOfLimit = 45004, "description size out of limit", "draft: digest longer than 128 characters";
    /// Too many articles in one draft.
    ArticleSizeOutOfLimit = 45008, "article size out of limit", "draft: more than 8 articles";
    /// An article's author over the platform's length.
    AuthorSizeOutOfLimit = 45110, "author size out of limit", "draft: author longer than 16 characters";
    /// An API the platform retired: the legacy news material calls.
    ApiUnsupported = 45106, "This API has been unsupported. For more details, please view https://mp.weixin.qq.com/cgi-bin/announce?action=getannouncement&announce_id=11644831863qFQSh", "material/add_news, material/update_news: retired by the platform on 2022-02-28; make a draft with draft/add instead";
    /// A published article's `article_id` (or its index) is unknown.
    InvalidArticleId = 53600, "invalid article_id", "freepublish: unknown article_id, or an index it does not have";
    /// A token call from a new IP awaits the administrator's confirmation.
    IpNeedsConfirmation = 89503, "此次调用需要管理员确认，请耐心等候", "token calls from an IP the account's administrator must confirm (fault injection only)";
    /// The administrator refused the IP twice within 24 hours.
    IpRefusedForADay = 89506, "该IP调用求请求已被公众号管理员拒绝，请24小时后再试，建议调用前与管理员沟通确认", "token calls from an IP the administrator refused twice in 24 h (fault injection only)";
    /// The administrator refused the IP within the hour.
    IpRefusedForAnHour = 89507, "该IP调用求请求已被公众号管理员拒绝，请1小时后再试，建议调用前与管理员沟通确认", "token calls from an IP the administrator refused in the last hour (fault injection only)";
    /// The bytes were taken down with `wximg image delete --block`: the platform's code
    /// for content its security check refuses.
    RiskyContent = 87014, "risky content", "the picture's bytes were taken down with `wximg image delete --block`";
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

impl ErrCode {
    /// Codes a client may retry after a pause (the server may succeed next time).
    pub const fn is_transient(self) -> bool {
        matches!(self, ErrCode::SystemError | ErrCode::MinuteQuota)
    }

    /// Codes that mean "fetch a new token and try again".
    pub const fn is_token_problem(self) -> bool {
        matches!(
            self,
            ErrCode::InvalidCredential | ErrCode::InvalidAccessToken | ErrCode::AccessTokenExpired
        )
    }

    /// Whether this code, answered by a media, material or draft endpoint, carries the
    /// platform's ` hint: [xxxxxxxxxxxxxx]` segment before ` rid:` — the codes those
    /// endpoints decide themselves (the body, the picture, the media_id, the library).
    /// What the gateway decides before them (token, quota, permission: 40001, 41001,
    /// 45009, 48001, …) and `-1` carry none, as in today's captures
    /// (`api unauthorized rid: …`, `invalid credential, … rid: …`).
    pub const fn carries_hint(self) -> bool {
        matches!(
            self,
            ErrCode::InvalidMediaType
                | ErrCode::InvalidFileType
                | ErrCode::InvalidMediaSize
                | ErrCode::InvalidMediaId
                | ErrCode::InvalidImageSize
                | ErrCode::UnsupportedFileType
                | ErrCode::MediaDataMissing
                | ErrCode::EmptyPostData
                | ErrCode::DataFormatError
                | ErrCode::MediaCountLimit
                | ErrCode::EmptyNewsData
                | ErrCode::EmptyContent
                | ErrCode::ContentSizeOutOfLimit
                | ErrCode::TitleSizeOutOfLimit
                | ErrCode::DescriptionSizeOutOfLimit
                | ErrCode::ArticleSizeOutOfLimit
                | ErrCode::AuthorSizeOutOfLimit
                | ErrCode::ApiUnsupported
        )
    }

    /// The README's error table, in Markdown, generated from [`ErrCode::ALL`].
    pub fn markdown_table() -> String {
        let mut out = String::from("| errcode | errmsg | when |\n|---|---|---|\n");
        for e in Self::ALL {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                e.code(),
                e.message(),
                e.when()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, a) in ErrCode::ALL.iter().enumerate() {
            assert_eq!(ErrCode::from_code(a.code()), Some(*a));
            for b in &ErrCode::ALL[i + 1..] {
                assert_ne!(a.code(), b.code(), "{a:?} and {b:?} share a code");
            }
        }
        assert_eq!(ErrCode::from_code(0), None);
    }

    #[test]
    fn messages_match_the_platform() {
        assert_eq!(ErrCode::InvalidFileType.message(), "invalid file type");
        assert_eq!(ErrCode::InvalidImageSize.message(), "invalid image size");
        assert_eq!(ErrCode::InvalidFileType.code(), 40005);
        assert_eq!(ErrCode::InvalidImageSize.code(), 40009);
    }
}
