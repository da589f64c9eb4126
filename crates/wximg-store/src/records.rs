//! The records storage keeps: one struct per table row, shared by every backend and
//! by everything above storage. They are plain values; the rules that make them (token
//! lifetimes, secret hashing) live in the server, and how a row becomes one lives in
//! `rows`.

use wximg_proto::{AppId, AppType, ImageFormat, ImageId};

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub appid: AppId,
    pub app_type: AppType,
    pub name: String,
    /// Keyed BLAKE3 of the secret (see `auth::hash_secret`); the secret itself is never stored.
    pub secret_hash: [u8; 32],
    pub created_at: i64,
}

/// Which endpoint issued a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `/cgi-bin/token`
    Classic,
    /// `/cgi-bin/stable_token`
    Stable,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Classic => "classic",
            TokenKind::Stable => "stable",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "classic" => Some(TokenKind::Classic),
            "stable" => Some(TokenKind::Stable),
            _ => None,
        }
    }
}

/// An access token, known only by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: [u8; 32],
    pub appid: AppId,
    pub kind: TokenKind,
    pub issued_at: i64,
    /// End of its natural life: after it the token answers 42001.
    pub expires_at: i64,
    /// Set when a newer token ends it: from then on it answers 40001.
    pub ended_at: Option<i64>,
}

/// An app's stable-token state. The token itself is never stored: it is derived from the
/// caller's secret and `nonce` (see `auth::derive_stable_token`), so only someone who
/// knows the secret can get it back, yet every node hands out the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StableState {
    pub appid: AppId,
    /// Bumped by every rotation; rotations are compare-and-swap on it.
    pub generation: i64,
    pub nonce: [u8; 32],
    pub token_hash: [u8; 32],
    pub issued_at: i64,
    pub expires_at: i64,
    pub last_force_at: Option<i64>,
    /// Beijing day number (`wximg_proto::calendar::beijing_day`) that `force_count` counts.
    pub force_day: i64,
    pub force_count: i64,
}

/// A stored picture's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: ImageId,
    pub format: ImageFormat,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    /// The app that uploaded these bytes: one row per (picture, app), so the same bytes
    /// uploaded by two apps are one blob and two rows.
    pub appid: AppId,
    pub created_at: i64,
}

/// A platform record with its key and end of life, as [`crate::MetaStore::export`] copies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub key: String,
    pub record: Record,
    pub expires_at: Option<i64>,
}

/// An app's call counts for one API: the day and minute they belong to and the counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCount {
    pub appid: AppId,
    pub api: String,
    pub day: i64,
    pub day_count: i64,
    pub minute: i64,
    pub minute_count: i64,
}

/// Every metadata row but the pictures' (whose rows go in only after their blobs, see
/// [`crate::transfer`]): what `wximg migrate` copies from one store into another.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Export {
    pub apps: Vec<AppRecord>,
    /// Ended and expired ones too, so old tokens keep answering 40001/42001 as before.
    pub tokens: Vec<TokenRecord>,
    pub stable_states: Vec<StableState>,
    /// Platform records (whitelists, quota limits, third-party platform state).
    pub records: Vec<StoredRecord>,
    pub call_counts: Vec<CallCount>,
    /// The takedown audit log (`wximg image takedowns`).
    pub takedowns: Vec<TakedownRecord>,
    /// Bytes refused on upload (`wximg image delete --block`).
    pub blocked: Vec<BlockedRecord>,
    /// The draft boxes (see [`crate::articles`]).
    pub drafts: Vec<crate::articles::DraftRecord>,
    /// Publish jobs, ended or not.
    pub publish_jobs: Vec<crate::articles::PublishJobRecord>,
    /// Published articles (deleted ones too, so their pages keep saying so).
    pub published_articles: Vec<crate::articles::PublishedRecord>,
}

/// One picture row removed by a takedown: the audit log's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakedownRecord {
    /// The takedown generation of its transaction (see [`crate::MetaStore::take_down`]).
    pub generation: i64,
    pub id: ImageId,
    /// The account whose row was removed.
    pub appid: AppId,
    pub format: ImageFormat,
    pub size: u64,
    pub taken_at: i64,
    pub reason: String,
    /// Who did it, as given on the command line.
    pub taken_by: String,
    /// Whether the bytes were blocked too.
    pub blocked: bool,
}

/// Bytes refused on upload, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRecord {
    pub id: ImageId,
    pub blocked_at: i64,
    pub reason: String,
    pub blocked_by: String,
}

/// A takedown to carry out (see [`crate::Storage::take_down`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakedownRequest {
    pub id: ImageId,
    /// Only this account's row; `None`: every account's row of the picture.
    pub appid: Option<AppId>,
    pub reason: String,
    pub by: String,
    /// Keep the hash, so the same bytes uploaded again are refused (87014).
    pub block: bool,
    pub at: i64,
}

/// What a takedown did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakedownOutcome {
    /// The rows removed (one per account); empty: there was no such picture row.
    pub removed: Vec<ImageRecord>,
    /// The accounts whose rows of the same bytes remain (the blob stays for them).
    pub remaining: Vec<AppId>,
    /// Whether the blob was removed (no row points at it any more).
    pub blob_removed: bool,
    /// The takedown generation nodes will see.
    pub generation: i64,
}

/// One page of `wximg image list`: newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    pub appid: Option<AppId>,
    /// Only pictures stored at or after this Unix time.
    pub since: Option<i64>,
    /// Only pictures older than this row (the previous page's last), in the list's order.
    pub before: Option<ImageCursor>,
    pub limit: u32,
}

/// A place in the newest-first list of picture rows: `(created_at, id, appid)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCursor {
    pub created_at: i64,
    pub id: ImageId,
    pub appid: AppId,
}

impl ImageCursor {
    /// The cursor just past `image` in the list.
    pub fn after(image: &ImageRecord) -> ImageCursor {
        ImageCursor {
            created_at: image.created_at,
            id: image.id,
            appid: image.appid.clone(),
        }
    }

    /// `TIME.HEX.APPID`, what `--before` takes.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.created_at, self.id.hex(), self.appid)
    }

    pub fn parse(s: &str) -> Option<ImageCursor> {
        let mut parts = s.splitn(3, '.');
        let created_at = parts.next()?.parse().ok()?;
        let id = ImageId::from_hex(parts.next()?)?;
        let appid = AppId::parse(parts.next()?)?;
        Some(ImageCursor {
            created_at,
            id,
            appid,
        })
    }
}

/// What one account's picture rows weigh (`wximg image usage`), from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUsage {
    pub appid: AppId,
    pub pictures: u64,
    pub bytes: u64,
}

/// Every account's usage, and what the blobs weigh once (shared bytes counted once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub apps: Vec<AppUsage>,
    pub distinct_pictures: u64,
    pub distinct_bytes: u64,
}

/// A platform record: a JSON document and its version (bumped by every write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: String,
    pub version: i64,
}
