//! The article workflow's wire: the JSON bodies of `draft/*` and `freepublish/*`, and the
//! platform's limits on an article.
//!
//! Invariant: every shape here is the platform's, field for field, so a client written
//! against the real service reads wximg's answers unchanged. Success answers of
//! `draft/add`, `draft/get`, `draft/batchget`, `draft/count` and the `freepublish` reads
//! carry **no `errcode` key** (as the platform's; one real client throws on any answer
//! holding one); `draft/update`, `draft/delete`, `freepublish/submit` and
//! `freepublish/delete` answer `errcode: 0` as the platform does. What wximg adds for the
//! developer (what the content cleaning removed) is never in these bodies.
//!
//! Requests are read leniently, as the other request types of [`crate::wire`]: a field of
//! the wrong JSON type reads as absent, and the 0/1 switches also take `"1"` and `true`.

use serde::{Deserialize, Serialize};

use crate::ErrCode;

/// Most articles in one draft (the platform's multi-article message).
pub const MAX_ARTICLES: usize = 8;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 32;
/// Longest author, in characters.
pub const MAX_AUTHOR_CHARS: usize = 16;
/// Longest digest, in characters.
pub const MAX_DIGEST_CHARS: usize = 128;
/// Content must have fewer text characters than this ("必须少于2万字符").
pub const CONTENT_TEXT_CHARS: usize = 20_000;
/// Content must be smaller than this many bytes ("小于1M").
pub const CONTENT_BYTES: usize = 1024 * 1024;
/// Content once cleaned must be smaller than this many bytes: twice what the platform
/// takes ([`CONTENT_BYTES`]), so what cleaning adds (`rel` on links) to content the
/// platform accepts fits, while content that cleaning would inflate (7-byte `<a></a>`
/// became 33 bytes: a 4 MB body stored 21 MB) is refused with 45002.
pub const CLEANED_CONTENT_BYTES: usize = 2 * CONTENT_BYTES;
/// A draft's articles, cleaned, must together be smaller than this many bytes (the cap
/// on a draft request's body): what one `draft/batchget` page can hold stays bounded.
pub const CLEANED_DRAFT_BYTES: usize = 4 * 1024 * 1024;
/// Content may nest elements at most this deep, in the tree an HTML parser builds from
/// it (paragraphs and items it closes itself, void elements and raw text not nesting).
/// Not a limit the platform states: HTML parsers spend time in proportion to depth on
/// each element, and 90,000 nested `<div>`s (450 KB, under [`CONTENT_BYTES`]) took the
/// server's sanitizer 15 s; more is answered 45002. Checked with
/// [`crate::html::check_shape`], which also bounds the elements parsing may build.
pub const MAX_CONTENT_NESTING: usize = 256;
/// `batchget`'s `count` must be in `1..=MAX_BATCH`.
pub const MAX_BATCH: i64 = 20;

/// The platform's freepublish job states (`publish_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishStatus {
    /// 0: published.
    Success,
    /// 1: still publishing.
    Publishing,
    /// 2: refused by the originality check.
    OriginalFailed,
    /// 3: a routine failure.
    NormalFailed,
    /// 4: refused by the platform's review.
    AuditFailed,
    /// 5: published, then every article deleted by the account.
    DeletedAfterSuccess,
    /// 6: published, then every article banned by the platform.
    BannedAfterSuccess,
}

impl PublishStatus {
    pub const fn code(self) -> i64 {
        match self {
            PublishStatus::Success => 0,
            PublishStatus::Publishing => 1,
            PublishStatus::OriginalFailed => 2,
            PublishStatus::NormalFailed => 3,
            PublishStatus::AuditFailed => 4,
            PublishStatus::DeletedAfterSuccess => 5,
            PublishStatus::BannedAfterSuccess => 6,
        }
    }

    pub fn from_code(code: i64) -> Option<PublishStatus> {
        Some(match code {
            0 => PublishStatus::Success,
            1 => PublishStatus::Publishing,
            2 => PublishStatus::OriginalFailed,
            3 => PublishStatus::NormalFailed,
            4 => PublishStatus::AuditFailed,
            5 => PublishStatus::DeletedAfterSuccess,
            6 => PublishStatus::BannedAfterSuccess,
            _ => return None,
        })
    }

    /// The statuses a job can end in when it ends badly (what fault injection may pick).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            PublishStatus::OriginalFailed
                | PublishStatus::NormalFailed
                | PublishStatus::AuditFailed
        )
    }

    /// Whether `fail_idx` lists the refused articles for this status (2 and 4, as the
    /// platform documents).
    pub fn names_failed_articles(self) -> bool {
        matches!(
            self,
            PublishStatus::OriginalFailed | PublishStatus::AuditFailed
        )
    }
}

/// One article as a client sends it (`draft/add`'s `articles[]`, `draft/update`'s
/// `articles`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleInput {
    #[serde(default, deserialize_with = "lenient::text")]
    pub article_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub author: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub digest: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub content_source_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub thumb_media_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::switch")]
    pub show_cover_pic: Option<i64>,
    #[serde(default, deserialize_with = "lenient::switch")]
    pub need_open_comment: Option<i64>,
    #[serde(default, deserialize_with = "lenient::switch")]
    pub only_fans_can_comment: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub pic_crop_235_1: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub pic_crop_1_1: Option<String>,
    /// A picture message's (`article_type: "newspic"`) pictures.
    #[serde(default, deserialize_with = "lenient::image_info")]
    pub image_info: Option<ImageInfo>,
}

/// The article types: `news` (an article, the default) and `newspic` (a picture
/// message: up to [`MAX_NEWSPIC_IMAGES`] permanent image materials and plain text).
pub const NEWSPIC: &str = "newspic";
/// Most pictures in a picture message.
pub const MAX_NEWSPIC_IMAGES: usize = 20;

/// A picture message's pictures: `{"image_list":[{"image_media_id":"…"}, …]}`, each a
/// permanent image material of the account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    #[serde(default)]
    pub image_list: Vec<ImageRef>,
}

/// One picture of [`ImageInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    #[serde(default)]
    pub image_media_id: String,
}

impl ArticleInput {
    /// Whether it is a picture message (`article_type: "newspic"`), not an article.
    pub fn is_newspic(&self) -> bool {
        self.article_type.as_deref().map(str::trim) == Some(NEWSPIC)
    }

    /// The platform's checks that need nothing but the article (in the platform's order of
    /// fields): a title (44003) of at most [`MAX_TITLE_CHARS`] (45003), an author of at
    /// most [`MAX_AUTHOR_CHARS`] (45110), a digest of at most [`MAX_DIGEST_CHARS`] (45004),
    /// content (44004) under [`CONTENT_BYTES`] (45002), a cover (40007). The cover's
    /// existence and the content's text length are the server's to check.
    pub fn check(&self) -> Result<(), ErrCode> {
        let chars = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
        if self.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(ErrCode::EmptyNewsData);
        }
        if chars(&self.title) > MAX_TITLE_CHARS {
            return Err(ErrCode::TitleSizeOutOfLimit);
        }
        if chars(&self.author) > MAX_AUTHOR_CHARS {
            return Err(ErrCode::AuthorSizeOutOfLimit);
        }
        if chars(&self.digest) > MAX_DIGEST_CHARS {
            return Err(ErrCode::DescriptionSizeOutOfLimit);
        }
        match self.content.as_deref() {
            None => return Err(ErrCode::EmptyContent),
            Some(c) if c.trim().is_empty() => return Err(ErrCode::EmptyContent),
            Some(c) if c.len() >= CONTENT_BYTES => return Err(ErrCode::ContentSizeOutOfLimit),
            Some(_) => {}
        }
        if self.is_newspic() {
            // A picture message has no cover: its pictures (1 to 20) stand for it.
            let images = self.image_info.as_ref().map_or(0, |i| i.image_list.len());
            if !(1..=MAX_NEWSPIC_IMAGES).contains(&images)
                || self
                    .image_info
                    .iter()
                    .flat_map(|i| &i.image_list)
                    .any(|r| r.image_media_id.trim().is_empty())
            {
                return Err(ErrCode::InvalidMediaId);
            }
            return Ok(());
        }
        if self.thumb_media_id.as_deref().is_none_or(str::is_empty) {
            return Err(ErrCode::InvalidMediaId);
        }
        Ok(())
    }
}

/// An article as stored and as the reads answer it (`news_item[]`). `url` is the page
/// of the article (a preview for a draft, the published page once published).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsItem {
    /// `news` or `newspic` (stored drafts from before it was kept read as `news`).
    #[serde(default = "news")]
    pub article_type: String,
    pub title: String,
    pub author: String,
    pub digest: String,
    /// Left out when empty: what `no_content: 1` asks for (a stored article always has
    /// content, 44004 otherwise).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    pub content_source_url: String,
    pub thumb_media_id: String,
    pub show_cover_pic: i64,
    pub need_open_comment: i64,
    pub only_fans_can_comment: i64,
    pub url: String,
    pub thumb_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_crop_235_1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_crop_1_1: Option<String>,
    /// Only in `freepublish` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_deleted: Option<bool>,
    /// A picture message's pictures (`newspic` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_info: Option<ImageInfo>,
}

fn news() -> String {
    "news".into()
}

/// `draft/add`'s request. `articles` that is not an array reads as absent (44003); an
/// element that is not an object reads as an empty article.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftAddRequest {
    #[serde(default, deserialize_with = "lenient::articles")]
    pub articles: Option<Vec<ArticleInput>>,
}

/// `draft/add`'s success: `{"media_id":"…"}` (no errcode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftAddOk {
    pub media_id: String,
}

/// The body of `draft/get`, `draft/delete` and `freepublish/submit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaIdRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub media_id: Option<String>,
}

/// `draft/get`'s and `freepublish/getarticle`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsOk {
    pub news_item: Vec<NewsItem>,
}

/// `draft/update`'s request: `articles` is ONE article object, `index` counts from 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftUpdateRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub media_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::index")]
    pub index: Option<i64>,
    #[serde(default, deserialize_with = "lenient::article")]
    pub articles: Option<ArticleInput>,
}

/// `{"errcode":0,"errmsg":"ok"}`, and what some calls add to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ok0 {
    pub errcode: i64,
    pub errmsg: String,
}

impl Ok0 {
    pub fn new() -> Ok0 {
        Ok0 {
            errcode: 0,
            errmsg: "ok".into(),
        }
    }
}

impl Default for Ok0 {
    fn default() -> Ok0 {
        Ok0::new()
    }
}

/// `draft/batchget`'s and `freepublish/batchget`'s request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchGetRequest {
    #[serde(default, deserialize_with = "lenient::number")]
    pub offset: Option<i64>,
    #[serde(default, deserialize_with = "lenient::number")]
    pub count: Option<i64>,
    /// A 0/1 switch: `1`, `"1"` and `true` (which some clients send) ask for no content.
    #[serde(default, deserialize_with = "lenient::switch")]
    pub no_content: Option<i64>,
}

/// `draft/batchget`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftBatchOk {
    pub total_count: u64,
    pub item_count: u64,
    pub item: Vec<DraftItem>,
}

/// One draft of `draft/batchget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftItem {
    pub media_id: String,
    pub content: DraftContent,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftContent {
    pub news_item: Vec<NewsItem>,
}

/// `draft/count`'s and `freepublish`'s count answers: `{"total_count":N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountOk {
    pub total_count: u64,
}

/// `draft/switch`'s answer: the draft box is open (`is_open: 1`; wximg's always is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftSwitchOk {
    pub errcode: i64,
    pub errmsg: String,
    pub is_open: i64,
}

/// `freepublish/submit`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOk {
    pub errcode: i64,
    pub errmsg: String,
    pub publish_id: String,
    pub msg_data_id: i64,
}

/// `freepublish/get`'s request; `publish_id` may come as a string or a number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishIdRequest {
    #[serde(default, deserialize_with = "lenient::id")]
    pub publish_id: Option<String>,
}

/// `freepublish/get`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStatusOk {
    pub publish_id: String,
    pub publish_status: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_detail: Option<ArticleDetail>,
    pub fail_idx: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleDetail {
    pub count: u64,
    pub item: Vec<ArticleUrl>,
}

/// One published article's page: `idx` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleUrl {
    pub idx: i64,
    pub article_url: String,
}

/// `freepublish/getarticle`'s and `freepublish/delete`'s request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleIdRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    pub article_id: Option<String>,
    /// `delete` only: which article (from 1); absent or 0: all of them. A value that is
    /// no integer is no article's (53600), never "all".
    #[serde(default, deserialize_with = "lenient::index")]
    pub index: Option<i64>,
}

/// `freepublish/batchget`'s success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedBatchOk {
    pub total_count: u64,
    pub item_count: u64,
    pub item: Vec<PublishedItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedItem {
    pub article_id: String,
    pub content: PublishedContent,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedContent {
    pub news_item: Vec<NewsItem>,
    pub create_time: i64,
    pub update_time: i64,
}

/// Lenient readers of request fields (see the module docs).
mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    use super::ArticleInput;

    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    /// A string or a number, as text (ids some clients send as numbers).
    pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    }

    /// An integer, or a string of one ([`crate::wire::lenient::integer`]).
    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(crate::wire::lenient::integer(&Value::deserialize(d)?))
    }

    /// Which article: as [`number`], but a value present that is no integer reads as
    /// `-1`, an index no article has, never as absent: absent means "the first" to
    /// `draft/update` and "all of them" to `freepublish/delete`.
    pub fn index<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => None,
            v => Some(crate::wire::lenient::integer(&v).unwrap_or(-1)),
        })
    }

    /// A 0/1 switch: `1`, `"1"`, `true` are 1; any other value present is 0.
    pub fn switch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => None,
            Value::Bool(b) => Some(i64::from(b)),
            Value::Number(n) => Some(i64::from(n.as_i64() == Some(1))),
            Value::String(s) => Some(i64::from(s.trim() == "1" || s.trim() == "true")),
            _ => Some(0),
        })
    }

    fn one(value: Value) -> ArticleInput {
        if value.is_object() {
            ArticleInput::deserialize(value).unwrap_or_default()
        } else {
            ArticleInput::default()
        }
    }

    /// `{"image_list":[{"image_media_id"}]}`; any other shape reads as absent, an entry
    /// that is no object (or has no string id) as an empty id.
    pub fn image_info<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<super::ImageInfo>, D::Error> {
        let Value::Object(info) = Value::deserialize(d)? else {
            return Ok(None);
        };
        let Some(Value::Array(list)) = info.get("image_list") else {
            return Ok(None);
        };
        let image_list = list
            .iter()
            .map(|item| super::ImageRef {
                image_media_id: item
                    .get("image_media_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect();
        Ok(Some(super::ImageInfo { image_list }))
    }

    pub fn article<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ArticleInput>, D::Error> {
        Ok(match Value::deserialize(d)? {
            v @ Value::Object(_) => Some(one(v)),
            _ => None,
        })
    }

    pub fn articles<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<ArticleInput>>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Array(items) => Some(items.into_iter().map(one).collect()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(json: &str) -> ArticleInput {
        serde_json::from_str(json).expect("article")
    }

    #[test]
    fn numbers_are_read_by_value_and_an_unreadable_index_is_no_article() {
        let index = |v: &str| {
            serde_json::from_str::<ArticleIdRequest>(&format!(r#"{{"index":{v}}}"#))
                .expect("request")
                .index
        };
        assert_eq!(index("2"), Some(2));
        assert_eq!(index("2.0"), Some(2));
        assert_eq!(index("1e1"), Some(10));
        assert_eq!(index(r#""3""#), Some(3));
        assert_eq!(index("99999999999999999999"), Some(i64::MAX));
        for unreadable in ["true", "2.5", r#""two""#, "[1]", "{}"] {
            assert_eq!(index(unreadable), Some(-1), "{unreadable}");
        }
        assert_eq!(index("null"), None);
        let update: DraftUpdateRequest =
            serde_json::from_str(r#"{"index":false}"#).expect("update");
        assert_eq!(update.index, Some(-1));
        let offset = |v: &str| {
            serde_json::from_str::<BatchGetRequest>(&format!(r#"{{"offset":{v}}}"#))
                .expect("request")
                .offset
        };
        assert_eq!(offset("1e6"), Some(1_000_000));
        assert_eq!(offset("1000000.0"), Some(1_000_000));
        assert_eq!(offset("18446744073709551615"), Some(i64::MAX));
        assert_eq!(offset("true"), None, "other types still read as absent");
        let no_content = |v: &str| {
            serde_json::from_str::<BatchGetRequest>(&format!(r#"{{"no_content":{v}}}"#))
                .expect("request")
                .no_content
        };
        assert_eq!(no_content("true"), Some(1));
        assert_eq!(no_content(r#""1""#), Some(1));
        assert_eq!(no_content("false"), Some(0));
    }

    #[test]
    fn checks_answer_the_platform_codes() {
        let ok = r#"{"title":"t","content":"<p>x</p>","thumb_media_id":"m"}"#;
        assert_eq!(article(ok).check(), Ok(()));
        let cases = [
            (
                r#"{"content":"x","thumb_media_id":"m"}"#,
                ErrCode::EmptyNewsData,
            ),
            (
                r#"{"title":" ","content":"x","thumb_media_id":"m"}"#,
                ErrCode::EmptyNewsData,
            ),
            (
                r#"{"title":"t","thumb_media_id":"m"}"#,
                ErrCode::EmptyContent,
            ),
            (
                r#"{"title":"t","content":"  ","thumb_media_id":"m"}"#,
                ErrCode::EmptyContent,
            ),
            (r#"{"title":"t","content":"x"}"#, ErrCode::InvalidMediaId),
            (
                r#"{"title":"t","content":"x","thumb_media_id":7}"#,
                ErrCode::InvalidMediaId,
            ),
        ];
        for (json, code) in cases {
            assert_eq!(article(json).check(), Err(code), "{json}");
        }
        let long = |field: &str, n: usize| {
            let mut a = article(ok);
            let s = Some("字".repeat(n));
            match field {
                "title" => a.title = s,
                "author" => a.author = s,
                _ => a.digest = s,
            }
            a.check()
        };
        assert_eq!(long("title", 32), Ok(()));
        assert_eq!(long("title", 33), Err(ErrCode::TitleSizeOutOfLimit));
        assert_eq!(long("author", 16), Ok(()));
        assert_eq!(long("author", 17), Err(ErrCode::AuthorSizeOutOfLimit));
        assert_eq!(long("digest", 128), Ok(()));
        assert_eq!(long("digest", 129), Err(ErrCode::DescriptionSizeOutOfLimit));
        let mut big = article(ok);
        big.content = Some("x".repeat(CONTENT_BYTES));
        assert_eq!(big.check(), Err(ErrCode::ContentSizeOutOfLimit));
    }

    #[test]
    fn requests_are_read_leniently() {
        let r: DraftAddRequest =
            serde_json::from_str(r#"{"articles":[{"title":1,"need_open_comment":"1"},5]}"#)
                .expect("body");
        let a = r.articles.expect("articles");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].title, None);
        assert_eq!(a[0].need_open_comment, Some(1));
        assert_eq!(a[1], ArticleInput::default());
        let r: DraftAddRequest = serde_json::from_str(r#"{"articles":{}}"#).expect("body");
        assert_eq!(r.articles, None);
        let r: PublishIdRequest = serde_json::from_str(r#"{"publish_id":2247483650}"#).expect("id");
        assert_eq!(r.publish_id.as_deref(), Some("2247483650"));
    }

    #[test]
    fn publish_statuses_round_trip() {
        for code in 0..=6 {
            assert_eq!(
                PublishStatus::from_code(code).map(PublishStatus::code),
                Some(code)
            );
        }
        assert_eq!(PublishStatus::from_code(7), None);
    }
}
