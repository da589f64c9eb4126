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
    /// The body for `code` with the platform's ` hint: [...]` segment between the
    /// message and the rid: `invalid file type hint: [OOr9Ra0781d418] rid: …`.
    pub fn with_hint(code: ErrCode, message: &str, hint: &Hint, rid: &Rid) -> ErrorBody {
        ErrorBody {
            errcode: code.code(),
            errmsg: format!("{message} hint: [{hint}] rid: {rid}"),
        }
    }
}

/// The platform's `hint` of a media, material or draft error: 14 characters, as in
/// the captures (`OOr9Ra0781d418`, `MBuA4a08739031`, `dYFmga04150021`): five letters
/// or digits, `a`, then eight lowercase hex digits. Clients quote it; none parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(String);

impl Hint {
    /// A hint from 64 random bits.
    pub fn new(random: u64) -> Hint {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::with_capacity(14);
        let mut r = random >> 32;
        for _ in 0..5 {
            s.push(ALNUM[(r % ALNUM.len() as u64) as usize] as char);
            r /= ALNUM.len() as u64;
        }
        s.push('a');
        s.push_str(&format!("{:08x}", random as u32));
        Hint(s)
    }

    /// Splits a trailing ` hint: [...]` off `errmsg` (the rid already removed): the
    /// message the table knows, and the hint if there was one.
    pub fn split(errmsg: &str) -> (&str, Option<&str>) {
        match errmsg.trim_end().rsplit_once(" hint: [") {
            Some((head, tail)) if tail.ends_with(']') => (head, Some(&tail[..tail.len() - 1])),
            _ => (errmsg, None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// The success of calls that answer nothing but success (`del_material`):
/// `{"errcode":0,"errmsg":"ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkBody {
    pub errcode: i64,
    pub errmsg: String,
}

impl OkBody {
    pub fn ok() -> OkBody {
        OkBody {
            errcode: 0,
            errmsg: "ok".into(),
        }
    }
}

// --- Permanent material. Their success answers carry **no `errcode` key**, as the
// platform's: one real publishing client throws on any answer holding one, even 0.

/// `add_material`'s success (`type=image` and `type=thumb` alike):
/// `{"media_id":"…","url":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddMaterialOk {
    pub media_id: String,
    pub url: String,
}

/// `media/upload`'s success (temporary material): `{"type","media_id","created_at"}`,
/// except for `type=thumb`, whose id the platform names `thumb_media_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTemporaryOk {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_media_id: Option<String>,
    pub created_at: i64,
}

/// `get_materialcount`'s success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialCountOk {
    pub voice_count: u64,
    pub video_count: u64,
    pub image_count: u64,
    pub news_count: u64,
}

/// `batchget_material`'s request body `{"type":"image","offset":0,"count":20}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchGetMaterialRequest {
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub offset: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub count: Option<i64>,
}

/// `batchget_material`'s success for pictures (voice and video share the shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchGetMaterialOk {
    pub item: Vec<MaterialItem>,
    pub total_count: u64,
    pub item_count: u64,
}

/// One material of a `batchget_material` page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialItem {
    pub media_id: String,
    pub name: String,
    pub update_time: i64,
    pub url: String,
}

/// `get_material` and `del_material`'s request body `{"media_id":"…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaIdRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub media_id: Option<String>,
}

/// `/cgi-bin/token` and `/cgi-bin/stable_token`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenOk {
    pub access_token: String,
    pub expires_in: i64,
}

/// `/cgi-bin/stable_token`'s JSON request body.
///
/// Read leniently, as the platform does: a field of the wrong JSON type reads as absent
/// (an `appid` that is a number answers 41002, not 47001), and `force_refresh` also takes
/// `"true"`, `"1"` and `1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StableTokenRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub grant_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub secret: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub force_refresh: Option<bool>,
}

// The component bodies below: fields of the wrong JSON type read as absent, as above.

/// `api_component_token`'s request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentTokenRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appsecret: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_verify_ticket: Option<String>,
}

/// `api_create_preauthcode`'s request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAuthCodeRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
}

/// `api_query_auth`'s request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAuthRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub authorization_code: Option<String>,
}

/// `api_authorizer_token`'s request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerTokenRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub authorizer_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub authorizer_refresh_token: Option<String>,
}

/// `api_start_push_ticket`'s request body (note `component_secret`, not
/// `api_component_token`'s `component_appsecret`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartPushTicketRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_secret: Option<String>,
}

/// `api_get_authorizer_info`'s request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerInfoRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub authorizer_appid: Option<String>,
}

/// `api_get_authorizer_list`'s request body: `offset` and `count` (at most 500).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerListRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub component_appid: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub offset: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub count: Option<i64>,
}

// The component answers below keep the field order wximg has always sent: alphabetical
// (they were once `serde_json::Value` maps). Clients read them by name; do not reorder.

/// `api_component_token`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentTokenOk {
    pub component_access_token: String,
    pub expires_in: i64,
}

/// `api_create_preauthcode`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAuthCodeOk {
    pub expires_in: i64,
    pub pre_auth_code: String,
}

/// `api_query_auth`'s success: `{"authorization_info":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAuthOk {
    pub authorization_info: AuthorizationInfo,
}

/// What an authorization gave the component: the account's tokens and permission sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationInfo {
    pub authorizer_access_token: String,
    pub authorizer_appid: String,
    pub authorizer_refresh_token: String,
    pub expires_in: i64,
    pub func_info: Vec<FuncInfo>,
}

/// One permission set of a grant: `{"funcscope_category":{"id":N}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncInfo {
    pub funcscope_category: FuncScope,
}

/// The permission set's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncScope {
    pub id: u32,
}

impl FuncInfo {
    /// The entries for permission sets `ids`, in that order.
    pub fn list(ids: &[u32]) -> Vec<FuncInfo> {
        ids.iter()
            .map(|&id| FuncInfo {
                funcscope_category: FuncScope { id },
            })
            .collect()
    }
}

/// `api_authorizer_token`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerTokenOk {
    pub authorizer_access_token: String,
    pub authorizer_refresh_token: String,
    pub expires_in: i64,
}

/// `api_get_authorizer_info`'s success: the account, and what it authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerInfoOk {
    pub authorizer_info: AuthorizerInfo,
    pub authorization_info: GrantInfo,
}

/// The account part of `api_get_authorizer_info` (an official account's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerInfo {
    pub nick_name: String,
    pub head_img: String,
    /// 0 subscription account, 2 service account (mini programs: 0).
    pub service_type_info: TypeId,
    /// -1 not verified.
    pub verify_type_info: TypeId,
    /// The original ID, `gh_` + 12 hex digits.
    pub user_name: String,
    pub principal_name: String,
    pub alias: String,
    pub business_info: BusinessInfo,
    pub qrcode_url: String,
}

/// `{"id": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeId {
    pub id: i64,
}

/// What the account has opened (wximg's accounts: nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessInfo {
    pub open_store: u8,
    pub open_scan: u8,
    pub open_pay: u8,
    pub open_card: u8,
    pub open_shake: u8,
}

/// The authorization part of `api_get_authorizer_info`. The platform also sends
/// `authorizer_refresh_token`; wximg stores refresh tokens only as hashes and cannot
/// (the platform itself omits it in some answers, see `AuthorizerListItem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub authorizer_appid: String,
    pub func_info: Vec<FuncInfo>,
}

/// `api_get_authorizer_list`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerListOk {
    pub total_count: i64,
    pub list: Vec<AuthorizerListItem>,
}

/// One authorized account. No `refresh_token`: wximg keeps only its hash (answers of
/// the platform without it are reported when the code was never exchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerListItem {
    pub authorizer_appid: String,
    pub auth_time: i64,
}

/// Lenient readers of request fields: what the platform accepts, not what serde would.
pub(crate) mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// A JSON string; any other value reads as absent.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    /// A JSON integer, or a string of one (`"20"`); any other value reads as absent.
    /// See [`integer`] for what counts as an integer.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(integer(&Value::deserialize(d)?))
    }

    /// The integer a JSON value stands for: an integer, one written as a float with
    /// nothing after the point (`2.0`, `1e6`), or a string of either; one past the range
    /// of `i64` is the nearest end of it (so an offset of `18446744073709551615` is past
    /// every page, not the first). Anything else is `None`.
    pub fn integer(value: &Value) -> Option<i64> {
        let float = |f: f64| (f.is_finite() && f.fract() == 0.0).then_some(f as i64);
        match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_u64().map(|_| i64::MAX))
                .or_else(|| n.as_f64().and_then(float)),
            Value::String(s) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().and_then(float))
            }
            _ => None,
        }
    }

    /// `true`/`false`, or `"true"`/`"1"`/`1` for true; any other value reads as false,
    /// and `null` as absent.
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(b) => Some(b),
            Value::String(s) => Some(s == "true" || s == "1"),
            Value::Number(n) => Some(n.as_i64() == Some(1)),
            _ => None,
        })
    }
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

    #[test]
    fn hints_sit_between_message_and_rid() {
        let rid = Rid::new(0x64d0640d, 0x1a2b3c4d_5e6f7a8b);
        let hint = Hint::new(0x0123_4567_0781_d418);
        assert_eq!(hint.as_str().len(), 14);
        assert!(hint.as_str()[5..].starts_with("a0781d418"), "{hint}");
        let body = ErrorBody::with_hint(ErrCode::InvalidFileType, "invalid file type", &hint, &rid);
        assert_eq!(
            body.errmsg,
            format!("invalid file type hint: [{hint}] rid: 64d0640d-1a2b3c4d-5e6f7a8b")
        );
        assert_eq!(Rid::from_errmsg(&body.errmsg), Some(rid));
        assert_eq!(
            Hint::split("media data missing hint: [MBuA4a08739031]"),
            ("media data missing", Some("MBuA4a08739031"))
        );
        assert_eq!(Hint::split("api unauthorized"), ("api unauthorized", None));
    }

    #[test]
    fn component_answers_keep_their_field_order() {
        let info = QueryAuthOk {
            authorization_info: AuthorizationInfo {
                authorizer_access_token: "a".into(),
                authorizer_appid: "wx".into(),
                authorizer_refresh_token: "r".into(),
                expires_in: 7200,
                func_info: FuncInfo::list(&[1, 11]),
            },
        };
        assert_eq!(
            serde_json::to_string(&info).expect("json"),
            r#"{"authorization_info":{"authorizer_access_token":"a","authorizer_appid":"wx","authorizer_refresh_token":"r","expires_in":7200,"func_info":[{"funcscope_category":{"id":1}},{"funcscope_category":{"id":11}}]}}"#
        );
        let pre = PreAuthCodeOk {
            expires_in: 1800,
            pre_auth_code: "p".into(),
        };
        assert_eq!(
            serde_json::to_string(&pre).expect("json"),
            r#"{"expires_in":1800,"pre_auth_code":"p"}"#
        );
    }

    #[test]
    fn material_answers_have_no_errcode() {
        let ok = AddMaterialOk {
            media_id: "m".into(),
            url: "u".into(),
        };
        assert_eq!(
            serde_json::to_string(&ok).expect("json"),
            r#"{"media_id":"m","url":"u"}"#
        );
        let r: BatchGetMaterialRequest =
            serde_json::from_str(r#"{"type":"image","offset":"5","count":20}"#).expect("lenient");
        assert_eq!(
            (r.kind.as_deref(), r.offset, r.count),
            (Some("image"), Some(5), Some(20))
        );
    }

    #[test]
    fn request_fields_are_read_leniently() {
        let r: StableTokenRequest =
            serde_json::from_str(r#"{"appid":5,"secret":"s","force_refresh":"1"}"#)
                .expect("lenient");
        assert_eq!(r.appid, None);
        assert_eq!(r.secret.as_deref(), Some("s"));
        assert_eq!(r.force_refresh, Some(true));
        let r: StableTokenRequest =
            serde_json::from_str(r#"{"force_refresh":2}"#).expect("lenient");
        assert_eq!(r.force_refresh, Some(false));
    }
}
