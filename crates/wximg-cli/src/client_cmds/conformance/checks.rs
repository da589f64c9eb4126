//! The checks of `wximg conformance`, as a table: each has a name, the request it sends
//! and what it expects back; [`super::judge`] decides. Adding a check is adding a row.

use std::io::Cursor;

use reqwest::multipart::{Form, Part};
use serde_json::json;

use super::Target;

/// What a check expects of its answer (always well framed, see [`Answer::frame_ok`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    /// An error with this errcode.
    Code(i64),
    /// A classic token: `access_token`, `expires_in` 7200, no `errcode` key. The token
    /// is kept for the upload checks.
    ClassicToken,
    /// A stable token: `access_token`, `expires_in` within 300..=7200.
    StableToken,
    /// errcode 0, errmsg "ok", a URL of this kind (`mmbiz_jpg`…) that serves a picture.
    Uploaded(&'static str),
    /// An error with this errcode whose errmsg is exactly this message, then — when
    /// `hint` — the platform's ` hint: [14 characters]`, then ` rid: …` (today's form of
    /// media, material and draft errors; token-family errors have no hint).
    Message {
        code: i64,
        message: &'static str,
        hint: bool,
    },
    /// An error with this errcode that the client library takes for a token problem
    /// (fetch a new token, send once more), as wechatpy and WxJava do for 40014.
    TokenProblem(i64),
}

impl Expect {
    pub(super) fn describe(self) -> String {
        match self {
            Expect::Code(code) => code.to_string(),
            Expect::ClassicToken => "access_token, expires_in 7200".into(),
            Expect::StableToken => "access_token, expires_in 300..7200".into(),
            Expect::Uploaded(kind) => format!("errcode 0, url …/{kind}/…, served"),
            Expect::Message {
                code,
                message,
                hint: true,
            } => format!("{code} {message} hint: […]"),
            Expect::Message { code, message, .. } => format!("{code} {message}"),
            Expect::TokenProblem(code) => format!("{code}, refetch the token"),
        }
    }
}

/// One named check: the request it sends, and what it expects back.
pub(super) struct Check {
    pub(super) name: &'static str,
    pub(super) expect: Expect,
    pub(super) request: fn(&Target) -> reqwest::RequestBuilder,
}

/// Every check, in the order they run (the token check first: the uploads use its token).
pub(super) const CHECKS: &[Check] = &[
    // --- /cgi-bin/token
    Check {
        name: "token: valid credentials",
        expect: Expect::ClassicToken,
        request: |t| t.token_query("client_credential", &t.appid, &t.secret),
    },
    Check {
        name: "token: grant_type wrong",
        expect: Expect::Code(40002),
        request: |t| t.token_query("password", &t.appid, &t.secret),
    },
    Check {
        name: "token: no appid",
        expect: Expect::Code(41002),
        request: |t| {
            t.get(&format!(
                "/cgi-bin/token?grant_type=client_credential&secret={}",
                t.secret
            ))
        },
    },
    Check {
        name: "token: no secret",
        expect: Expect::Code(41004),
        request: |t| {
            t.get(&format!(
                "/cgi-bin/token?grant_type=client_credential&appid={}",
                t.appid
            ))
        },
    },
    Check {
        name: "token: unknown appid, no grant_type",
        expect: Expect::Code(40013),
        request: |t| {
            t.get(&format!(
                "/cgi-bin/token?appid=wx0000000000000000&secret={}",
                t.secret
            ))
        },
    },
    Check {
        name: "token: unknown appid",
        expect: Expect::Code(40013),
        request: |t| t.token_query("client_credential", "wx0000000000000000", &t.secret),
    },
    Check {
        name: "token: wrong secret",
        // Token-family errors carry no hint segment.
        expect: Expect::Message {
            code: 40125,
            message: wximg_proto::ErrCode::InvalidAppSecret.message(),
            hint: false,
        },
        request: |t| t.token_query("client_credential", &t.appid, &t.wrong_secret()),
    },
    // --- /cgi-bin/stable_token (never force_refresh)
    Check {
        name: "stable_token: valid credentials",
        expect: Expect::StableToken,
        request: |t| {
            t.post("/cgi-bin/stable_token").json(&json!({
                "grant_type": "client_credential", "appid": t.appid, "secret": t.secret,
                "force_refresh": false
            }))
        },
    },
    Check {
        name: "stable_token: empty body",
        expect: Expect::Code(44002),
        request: |t| t.post("/cgi-bin/stable_token").body(""),
    },
    Check {
        name: "stable_token: appid in the query only",
        expect: Expect::Code(41002),
        request: |t| {
            t.post(&format!(
                "/cgi-bin/stable_token?appid={}&secret={}",
                t.appid, t.secret
            ))
            .json(&json!({"grant_type": "client_credential"}))
        },
    },
    Check {
        name: "stable_token: GET",
        expect: Expect::Code(43002),
        request: |t| t.get("/cgi-bin/stable_token"),
    },
    // --- uploadimg
    Check {
        name: "uploadimg: a JPEG",
        expect: Expect::Uploaded("mmbiz_jpg"),
        request: |t| t.upload(jpeg(), "conformance.jpg"),
    },
    Check {
        name: "uploadimg: a PNG",
        expect: Expect::Uploaded("mmbiz_png"),
        request: |t| t.upload(png(), "conformance.png"),
    },
    Check {
        name: "uploadimg: no access_token",
        expect: Expect::Code(41001),
        request: |t| {
            t.post("/cgi-bin/media/uploadimg")
                .multipart(media(jpeg(), "a.jpg"))
        },
    },
    Check {
        name: "uploadimg: unknown access_token",
        expect: Expect::Message {
            code: 40001,
            message: wximg_proto::ErrCode::InvalidCredential.message(),
            hint: false,
        },
        request: |t| {
            t.post("/cgi-bin/media/uploadimg?access_token=conformance-not-a-token")
                .multipart(media(jpeg(), "a.jpg"))
        },
    },
    Check {
        name: "uploadimg: malformed access_token",
        expect: Expect::TokenProblem(40014),
        request: |t| {
            t.post("/cgi-bin/media/uploadimg?access_token=not%20a%20token%2B%2F%3D")
                .multipart(media(jpeg(), "a.jpg"))
        },
    },
    Check {
        name: "uploadimg: no media part",
        expect: Expect::Message {
            code: 41005,
            message: "media data missing",
            hint: true,
        },
        request: |t| {
            t.post(&t.upload_path())
                .multipart(Form::new().text("type", "news_image"))
        },
    },
    Check {
        name: "uploadimg: empty media part",
        expect: Expect::Code(41005),
        request: |t| t.upload(Vec::new(), "a.jpg"),
    },
    Check {
        name: "uploadimg: not a picture",
        expect: Expect::Message {
            code: 40005,
            message: "invalid file type",
            hint: true,
        },
        request: |t| t.upload(b"this is text, not a JPEG".to_vec(), "a.jpg"),
    },
    Check {
        name: "uploadimg: a truncated JPEG",
        expect: Expect::Code(40005),
        request: |t| {
            let whole = jpeg();
            t.upload(whole[..whole.len() / 2].to_vec(), "a.jpg")
        },
    },
    Check {
        name: "uploadimg: more than 1 MiB",
        expect: Expect::Code(40009),
        request: |t| {
            let mut big = jpeg();
            big.resize(1_048_576 + 4096, 0);
            t.upload(big, "big.jpg")
        },
    },
    Check {
        name: "uploadimg: GET",
        expect: Expect::Code(43002),
        request: |t| t.get(&t.upload_path()),
    },
    // --- material/add_material judges the filename's extension (uploadimg does not)
    Check {
        name: "add_material: a JPEG named without extension",
        expect: Expect::Message {
            code: 40113,
            message: wximg_proto::ErrCode::UnsupportedFileType.message(),
            hint: true,
        },
        request: |t| {
            t.post(&format!(
                "/cgi-bin/material/add_material?access_token={}&type=image",
                t.token
            ))
            .multipart(media(jpeg(), "picture"))
        },
    },
    Check {
        name: "add_material: a JPEG named .txt",
        expect: Expect::Code(40113),
        request: |t| {
            t.post(&format!(
                "/cgi-bin/material/add_material?access_token={}&type=image",
                t.token
            ))
            .multipart(media(jpeg(), "picture.txt"))
        },
    },
    Check {
        name: "uploadimg: a JPEG named .txt (judged by its bytes)",
        expect: Expect::Uploaded("mmbiz_jpg"),
        request: |t| t.upload(jpeg(), "picture.txt"),
    },
    // --- third-party platform
    Check {
        name: "component: an account's token on a component API",
        expect: Expect::Code(61014),
        request: |t| {
            t.post(&format!(
                "/cgi-bin/component/api_create_preauthcode?component_access_token={}",
                t.token
            ))
            .json(&json!({"component_appid": t.appid}))
        },
    },
];

fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 0x80])
    });
    let mut out = Cursor::new(Vec::new());
    // Encoding an in-memory picture cannot fail; an empty Vec would fail the check loudly.
    let _ = image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg);
    out.into_inner()
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([0x20, (x * 6) as u8, (y * 8) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    let _ = image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}

pub(super) fn media(bytes: Vec<u8>, name: &str) -> Form {
    Form::new().part("media", Part::bytes(bytes).file_name(name.to_string()))
}
