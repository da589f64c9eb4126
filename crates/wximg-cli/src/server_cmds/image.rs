//! `wximg image …`: the pictures each account stored, and takedowns (works while a server
//! runs, like `wximg app`).
//!
//! Invariant: everything here reads and writes through `wximg_store` only, and a takedown
//! goes through [`wximg_store::Storage::take_down`] — rows first, then the blob once no
//! account's row needs it — so no command leaves a row without its bytes, and every
//! removal leaves an audit entry.
//!
//! - `list [--appid A] [--since T] [--before CURSOR] [--limit N]`: picture rows, newest
//!   first, a page at a time (the last line on stderr says how to get the next page).
//! - `show ID|URL`: one picture and every account that stored its bytes.
//! - `usage`: pictures and bytes per account, counted by the database (no blob scan).
//! - `delete ID|URL… --reason TEXT --by NAME [--appid A | --block]`: takedown.
//! - `takedowns [--appid A] [--limit N]`: the audit log, newest first.

use std::ffi::OsString;
use std::process::ExitCode;
use std::str::FromStr;

use serde_json::json;
use wximg_proto::{AppId, ImageId};
use wximg_server::Clock;
use wximg_store::{ImageCursor, ImageQuery, ImageRecord, Storage, TakedownRecord, TakedownRequest};

use super::StorageArgs;

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Print JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Scheme and host of picture URLs, as `wximg serve --public-url` (default: URLs are
    /// printed as paths).
    #[arg(long, env = "WXIMG_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// List picture rows, newest first, a page at a time.
    List {
        /// Only this account's pictures.
        #[arg(long)]
        appid: Option<AppId>,
        /// Only pictures stored at or after this time: Unix seconds, YYYY-MM-DD or
        /// YYYY-MM-DDTHH:MM:SSZ (UTC).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<i64>,
        /// The next page: the cursor the previous page ended with.
        #[arg(long, value_name = "CURSOR", value_parser = parse_cursor)]
        before: Option<ImageCursor>,
        /// Rows per page.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Show one picture (by id or URL) and every account that stored its bytes.
    Show {
        /// A picture id or URL (an id may begin with `-`: see [`shield_hyphen_ids`]).
        picture: PictureRef,
    },
    /// Pictures and bytes per account, counted by the database.
    Usage,
    /// Take pictures down: their rows, their blob once no account's row needs it, and
    /// their copy in every node's cache; the URL then answers 404.
    Delete {
        /// Picture ids or URLs (an id may begin with `-`: see [`shield_hyphen_ids`]).
        #[arg(required = true)]
        pictures: Vec<PictureRef>,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// Who takes it down (kept in the audit log).
        #[arg(long, value_name = "NAME")]
        by: String,
        /// Only this account's row: the bytes (and the URL) stay while another account's
        /// row points at them.
        #[arg(long, conflicts_with = "block")]
        appid: Option<AppId>,
        /// Keep the hash: the same bytes uploaded again are refused (87014). Takes the
        /// picture down for every account.
        #[arg(long)]
        block: bool,
    },
    /// The takedown audit log, newest first.
    Takedowns {
        #[arg(long)]
        appid: Option<AppId>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// A picture named by its id (as in its URL) or its URL (or path).
#[derive(Debug, Clone, Copy)]
pub struct PictureRef(pub ImageId);

impl FromStr for PictureRef {
    type Err = String;

    fn from_str(s: &str) -> Result<PictureRef, String> {
        let s = s.trim();
        if let Some(id) = ImageId::parse(s).or_else(|| ImageId::from_hex(s)) {
            return Ok(PictureRef(id));
        }
        let path = s.split(['?', '#']).next().unwrap_or(s);
        let segments: Vec<&str> = path.split('/').collect();
        segments
            .windows(2)
            .find(|w| w[0] == "mmbiz_jpg" || w[0] == "mmbiz_png")
            .and_then(|w| ImageId::parse(w[1]))
            .map(PictureRef)
            .ok_or_else(|| {
                format!(
                    "{s:?} is neither a picture id (the 43 characters after /mmbiz_jpg/ or \
                     /mmbiz_png/ in its URL) nor a picture URL"
                )
            })
    }
}

/// Rewrites each picture id that begins with `-` on a `wximg image …` command line into
/// the path form (`/mmbiz_jpg/ID`) that [`PictureRef`] also reads, so clap takes it as a
/// value and not as options (`-fX3…` would be `-f -X -3 …`).
///
/// Ids are base64url, so one in 64 begins with `-`, and `wximg image list` prints them
/// first on each line for copying. clap cannot take them as they are:
/// `allow_hyphen_values` on a list of pictures makes it swallow every option after the
/// first picture too (`--reason` becomes a picture). The rewrite is safe because no option
/// of ours is 43 base64url characters, and clap refuses a value beginning with `-` after
/// an option (`--reason -fX3…`), so every token rewritten was an error before. Tokens
/// after `--` and other commands' lines are left as they are.
pub fn shield_hyphen_ids(args: Vec<OsString>) -> Vec<OsString> {
    if args.get(1).and_then(|a| a.to_str()) != Some("image") {
        return args;
    }
    let mut escaped = false;
    args.into_iter()
        .map(|arg| {
            escaped |= arg == "--";
            match arg.to_str() {
                Some(s) if !escaped && s.starts_with('-') && ImageId::parse(s).is_some() => {
                    OsString::from(format!("/mmbiz_jpg/{s}"))
                }
                _ => arg,
            }
        })
        .collect()
}

fn parse_cursor(s: &str) -> Result<ImageCursor, String> {
    ImageCursor::parse(s).ok_or_else(|| {
        format!("{s:?} is not a cursor: use the one `wximg image list` printed last")
    })
}

/// Unix seconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[Z]` (UTC).
fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("{s:?} is not a time: give Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)")
    };
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t.trim_end_matches('Z')),
        None => (s, "00:00:00"),
    };
    let number = |p: Option<&str>| p.and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad);
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (number(d.next())?, number(d.next())?, number(d.next())?);
    let mut t = time.splitn(3, ':');
    let (hh, mm, ss) = (number(t.next())?, number(t.next())?, number(t.next())?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix time `t`.
pub fn utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// How to print: JSON or text, and the URLs' base.
struct Out {
    json: bool,
    public_url: String,
}

impl Out {
    fn url(&self, image: &ImageRecord) -> String {
        format!(
            "{}/{}/{}/0?from=appmsg",
            self.public_url,
            image.format.url_kind(),
            image.id
        )
    }

    fn image(&self, image: &ImageRecord) -> String {
        if self.json {
            json!({
                "id": image.id.to_string(),
                "url": self.url(image),
                "format": image.format.as_str(),
                "size": image.size,
                "width": image.width,
                "height": image.height,
                "appid": image.appid.as_str(),
                "created_at": image.created_at,
                "cursor": ImageCursor::after(image).encode(),
            })
            .to_string()
        } else {
            format!(
                "{}  {}  {:<4} {:>8} B  {:>5}x{:<5}  {}  {}",
                image.id,
                utc(image.created_at),
                image.format.as_str(),
                image.size,
                image.width,
                image.height,
                image.appid,
                self.url(image)
            )
        }
    }

    fn takedown(&self, t: &TakedownRecord) -> String {
        if self.json {
            json!({
                "id": t.id.to_string(),
                "appid": t.appid.as_str(),
                "format": t.format.as_str(),
                "size": t.size,
                "taken_at": t.taken_at,
                "reason": t.reason,
                "by": t.taken_by,
                "blocked": t.blocked,
            })
            .to_string()
        } else {
            format!(
                "{}  {}  {}  by {}{}: {}",
                utc(t.taken_at),
                t.id,
                t.appid,
                t.taken_by,
                if t.blocked { " (blocked)" } else { "" },
                t.reason
            )
        }
    }
}

pub async fn run(args: ImageArgs) -> anyhow::Result<ExitCode> {
    let storage = wximg_store::open(&args.storage.config()).await?;
    let out = Out {
        json: args.json,
        public_url: args
            .public_url
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
    };
    match args.command {
        ImageCommand::List {
            appid,
            since,
            before,
            limit,
        } => {
            let query = ImageQuery {
                appid,
                since,
                before,
                limit,
            };
            let page = storage.meta.list_images(&query).await?;
            for image in &page {
                println!("{}", out.image(image));
            }
            if let Some(last) = page.last().filter(|_| page.len() == limit as usize) {
                eprintln!(
                    "more may follow: add --before {}",
                    ImageCursor::after(last).encode()
                );
            }
        }
        ImageCommand::Show { picture } => return show(&storage, &out, picture.0).await,
        ImageCommand::Usage => usage(&storage, &out).await?,
        ImageCommand::Delete {
            pictures,
            reason,
            by,
            appid,
            block,
        } => {
            let mut failed = 0;
            for PictureRef(id) in pictures {
                let request = TakedownRequest {
                    id,
                    appid: appid.clone(),
                    reason: reason.clone(),
                    by: by.clone(),
                    block,
                    at: Clock::default().now(),
                };
                if !delete(&storage, &out, &request).await? {
                    failed += 1;
                }
            }
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        ImageCommand::Takedowns { appid, limit } => {
            for t in storage.meta.takedowns(appid.as_ref(), limit).await? {
                println!("{}", out.takedown(&t));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wximg image show`: the picture's rows (one per account); an error if it has none.
async fn show(storage: &Storage, out: &Out, id: ImageId) -> anyhow::Result<ExitCode> {
    let rows = storage.meta.image_rows(&id).await?;
    if rows.is_empty() {
        eprintln!("wximg: {}", missing(storage, &id, None).await?);
        return Ok(ExitCode::FAILURE);
    }
    for row in &rows {
        println!("{}", out.image(row));
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `id` (of `appid`, if given) has no row: taken down already, another account's, or
/// never stored.
async fn missing(storage: &Storage, id: &ImageId, appid: Option<&AppId>) -> anyhow::Result<String> {
    if let Some(appid) = appid {
        let others: Vec<String> = storage
            .meta
            .image_rows(id)
            .await?
            .iter()
            .map(|r| r.appid.to_string())
            .collect();
        if !others.is_empty() {
            return Ok(format!(
                "picture {id} has no row of {appid}; it is stored by {} (see `wximg image show {id}`)",
                others.join(", ")
            ));
        }
    }
    if let Some(blocked) = storage.meta.blocked(id).await? {
        return Ok(format!(
            "picture {id} was taken down and blocked on {} by {}: {}",
            utc(blocked.blocked_at),
            blocked.blocked_by,
            blocked.reason
        ));
    }
    if storage
        .meta
        .takedowns(None, u32::MAX)
        .await?
        .iter()
        .any(|t| t.id == *id)
    {
        return Ok(format!(
            "picture {id} was taken down already (see `wximg image takedowns`)"
        ));
    }
    Ok(format!(
        "no picture {id} in this storage (see `wximg image list`)"
    ))
}

/// `wximg image usage`: one line per account, then the blobs counted once.
async fn usage(storage: &Storage, out: &Out) -> anyhow::Result<()> {
    let usage = storage.meta.usage().await?;
    for app in &usage.apps {
        if out.json {
            println!(
                "{}",
                json!({"appid": app.appid.as_str(), "pictures": app.pictures, "bytes": app.bytes})
            );
        } else {
            println!(
                "{}  {:>8} pictures  {:>12} bytes",
                app.appid, app.pictures, app.bytes
            );
        }
    }
    if out.json {
        println!(
            "{}",
            json!({"total": true, "pictures": usage.distinct_pictures, "bytes": usage.distinct_bytes})
        );
    } else {
        println!(
            "stored once: {} pictures, {} bytes (bytes uploaded by several accounts count once here)",
            usage.distinct_pictures, usage.distinct_bytes
        );
    }
    Ok(())
}

/// Takes one picture down and says what happened; `false` if there was nothing to take
/// down (the reason is on stderr, or in the JSON line).
async fn delete(storage: &Storage, out: &Out, request: &TakedownRequest) -> anyhow::Result<bool> {
    let id = request.id;
    let outcome = storage.take_down(request).await?;
    if outcome.removed.is_empty() {
        let why = missing(storage, &id, request.appid.as_ref()).await?;
        if out.json {
            println!("{}", json!({"id": id.to_string(), "error": why}));
        } else {
            eprintln!("wximg: {why}");
        }
        return Ok(false);
    }
    let removed: Vec<&str> = outcome.removed.iter().map(|r| r.appid.as_str()).collect();
    let remaining: Vec<&str> = outcome.remaining.iter().map(AppId::as_str).collect();
    if out.json {
        println!(
            "{}",
            json!({
                "id": id.to_string(),
                "url": out.url(&outcome.removed[0]),
                "removed": removed,
                "remaining": remaining,
                "blob_removed": outcome.blob_removed,
                "blocked": request.block,
                "generation": outcome.generation,
            })
        );
    } else if outcome.blob_removed {
        println!(
            "took down {id} ({}): its blob is removed and its URL answers 404 on every node \
             within a few seconds{}",
            removed.join(", "),
            if request.block {
                "; the same bytes uploaded again are refused (87014)"
            } else {
                ""
            }
        );
    } else {
        println!(
            "took down {id} for {}; its bytes stay, and its URL still serves them, for {} \
             (drop --appid to take it down for every account)",
            removed.join(", "),
            remaining.join(", ")
        );
    }
    Ok(true)
}

/// `wximg app delete --delete-pictures`: takes down every picture row of `appid` (its
/// shared bytes stay for other accounts). Returns the rows and bytes removed.
pub async fn take_down_app(
    storage: &Storage,
    appid: &AppId,
    reason: &str,
    by: &str,
) -> anyhow::Result<(u64, u64)> {
    let (mut rows, mut bytes) = (0, 0);
    loop {
        // Always the first page: what was taken down is gone from the list.
        let page = storage
            .meta
            .list_images(&ImageQuery {
                appid: Some(appid.clone()),
                limit: 500,
                ..ImageQuery::default()
            })
            .await?;
        if page.is_empty() {
            return Ok((rows, bytes));
        }
        for image in page {
            let outcome = storage
                .take_down(&TakedownRequest {
                    id: image.id,
                    appid: Some(appid.clone()),
                    reason: reason.to_string(),
                    by: by.to_string(),
                    block: false,
                    at: Clock::default().now(),
                })
                .await?;
            for row in outcome.removed {
                rows += 1;
                bytes += row.size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("1970-01-02"), Ok(86_400));
        assert_eq!(parse_time("2024-02-29T12:34:56Z"), Ok(1_709_210_096));
        assert_eq!(utc(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert!(parse_time("2024-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn pictures_by_id_or_url() {
        let id = ImageId::of(b"x");
        let by_id: PictureRef = id.to_string().parse().expect("id");
        assert_eq!(by_id.0, id);
        let url = format!("https://pic.example/mmbiz_png/{id}/0?from=appmsg");
        assert_eq!(url.parse::<PictureRef>().expect("url").0, id);
        assert_eq!(id.hex().parse::<PictureRef>().expect("hex").0, id);
        assert!("https://pic.example/other/0".parse::<PictureRef>().is_err());
    }

    /// The command line as a user types it, parsed by clap.
    #[derive(clap::Parser, Debug)]
    struct Line {
        #[command(flatten)]
        args: ImageArgs,
    }

    fn parse(line: &[&str]) -> Result<Line, clap::Error> {
        use clap::Parser;
        let args = ["wximg"].iter().chain(line).map(OsString::from).collect();
        Line::try_parse_from(shield_hyphen_ids(args).into_iter().skip(1))
    }

    /// Ids are base64url, so one in 64 begins with `-`: `show` and `delete` still take it
    /// as the picture (CI once failed on a random id `-f…` read as an option), and the
    /// options after it keep their meaning.
    #[test]
    fn an_id_that_begins_with_a_hyphen_is_a_picture() {
        let id = (0u32..)
            .map(|n| ImageId::of(&n.to_le_bytes()))
            .find(|id| id.to_string().starts_with('-'))
            .expect("some id begins with -");
        let other = ImageId::of(b"other");
        let line = parse(&[
            "image",
            "delete",
            &id.to_string(),
            &other.to_string(),
            "--reason",
            "court order",
            "--by",
            "legal",
        ])
        .expect("delete parses");
        match line.args.command {
            ImageCommand::Delete {
                pictures,
                reason,
                by,
                ..
            } => {
                let ids: Vec<ImageId> = pictures.iter().map(|p| p.0).collect();
                assert_eq!(ids, [id, other]);
                assert_eq!((reason.as_str(), by.as_str()), ("court order", "legal"));
            }
            other => panic!("not delete: {other:?}"),
        }
        let line = parse(&["image", "show", &id.to_string(), "--json"]).expect("show parses");
        assert!(line.args.json);
        assert!(matches!(line.args.command, ImageCommand::Show { picture } if picture.0 == id));
        // Unshielded, clap reads it as options: the failure this guards against.
        use clap::Parser;
        assert!(Line::try_parse_from(["image", "show", &id.to_string()]).is_err());
        // A mistyped option is still an error, not a picture.
        assert!(parse(&["image", "show", &id.to_string(), "--jsn"]).is_err());
    }
}
