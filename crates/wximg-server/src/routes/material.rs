//! Permanent material: `POST /cgi-bin/material/add_material?access_token=…&type=image|thumb`
//! (multipart `media`), `get_materialcount`, `batchget_material`, `get_material` and
//! `del_material` — an account's picture library.
//!
//! Invariant: a `media_id` is answered only once its picture is durable (blob, then
//! picture row, as `uploadimg`'s) and its material row committed within the library's cap
//! (`wximg_store::Storage::store_material`); every refusal leaves no material row. Success
//! answers of `add_material`, `get_materialcount` and `batchget_material` carry **no
//! `errcode` key** (a real client throws on one, even 0).
//!
//! In order, for every call: the caller (41001/40001/42001, see `crate::extract::Caller`),
//! its grant (48001 unless it holds set 11 or 100) and app type (48001 unless an official
//! or service account), the quota (45009/45011, counted per call name as `uploadimg`'s).
//! Then `add_material`: the `type` (40004 unless `image` or `thumb`: wximg hosts pictures
//! only, so `voice` and `video` get the platform's answer to a type it does not take), the
//! body read streaming (44002/47001/41005; over 10 MB, or 64 KB for a thumb, 40006), the
//! filename ([`material_name`]: 41005 without one, 40113 without an extension the type
//! takes), the picture rules by the bytes (40113 for a picture of a format the type does
//! not take, 40005 for anything else that is not a whole picture; the pixel limit
//! 40009), storage (87014 for blocked bytes, 45034 when the library is full).
//!
//! A material's URL is served by this server as `uploadimg`'s are, in the platform's form
//! `{public_url}/mmbiz_<kind>/<id>/0?wx_fmt=<jpeg|png|gif|bmp>`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use wximg_proto::wire::{
    AddMaterialOk, BatchGetMaterialOk, BatchGetMaterialRequest, MaterialCountOk, MaterialItem,
    MediaIdRequest, OkBody,
};
use wximg_proto::{
    AppId, ErrCode, IMAGE_MATERIAL_FORMATS, ImageFormat, Rules, THUMB_MATERIAL_FORMATS,
};
use wximg_store::{MaterialInsert, MaterialKind, MaterialRecord};

use crate::answer::ApiJson;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody};
use crate::media::{self, Limits};
use crate::platform::{component, quota};
use crate::routes::query_map;
use crate::state::AppState;

/// An image material's byte limit: "10M".
pub const IMAGE_MAX_BYTES: usize = 10 * 1024 * 1024;
/// A thumb material's byte limit: "64KB".
pub const THUMB_MAX_BYTES: usize = 64 * 1024;
/// `batchget_material`'s largest page: "取值在1到20之间".
pub const MAX_PAGE: i64 = 20;

/// What a material of `kind` may be: its byte limit and formats.
fn limits_of(kind: MaterialKind) -> (usize, &'static [ImageFormat]) {
    match kind {
        MaterialKind::Image => (IMAGE_MAX_BYTES, IMAGE_MATERIAL_FORMATS),
        MaterialKind::Thumb => (THUMB_MAX_BYTES, THUMB_MATERIAL_FORMATS),
    }
}

/// What every material call checks first: the grant, the account type, the quota.
/// Returns the caller's appid.
pub(super) async fn admit(state: &AppState, caller: Caller, api: &str) -> Result<AppId, ApiError> {
    caller.require_sets(api, component::MATERIAL_SETS)?;
    let app = caller.app;
    if !app.app_type.may_upload_article_images() {
        return Err(ApiError::detail(
            ErrCode::ApiUnauthorized,
            format!("{} is a {} account", app.appid, app.app_type),
        ));
    }
    let meta = state.storage.meta.as_ref();
    quota::charge(&state.platform, meta, &app.appid, api, state.clock.now()).await?;
    Ok(app.appid)
}

/// The `type` of an `add_material` call, if wximg hosts it.
pub(super) fn material_kind(uri: &Uri) -> Result<MaterialKind, ApiError> {
    let q = query_map(uri.query());
    let given = q.get("type").map(String::as_str).unwrap_or("");
    match MaterialKind::parse(given) {
        Some(kind) => Ok(kind),
        None if matches!(given, "voice" | "video") => Err(ApiError::detail(
            ErrCode::InvalidMediaType,
            format!("type={given}: wximg hosts picture material only (image, thumb)"),
        )),
        None => Err(ApiError::detail(
            ErrCode::InvalidMediaType,
            format!("type={given:?} is not image, thumb, voice or video"),
        )),
    }
}

/// The file extensions a material of `kind` may be named with: the documentation's
/// "bmp/png/jpeg/jpg/gif" for an image, "JPG" for a thumb. Compared without case.
fn extensions_of(kind: MaterialKind) -> &'static [&'static str] {
    match kind {
        MaterialKind::Image => &["jpg", "jpeg", "png", "gif", "bmp"],
        MaterialKind::Thumb => &["jpg", "jpeg"],
    }
}

/// The material's `name` (what `batchget_material` lists) from the part's filename: its
/// last path segment (silenceper sends the full path) — if the platform would take it.
///
/// The one place where the rule on filenames lives. The platform judges
/// `add_material`'s filename by its extension: none, or one the type does not take,
/// answers 40113 `unsupported file type` (captured: "不加后缀名会：unsupported file type
/// hint"; an SDK that sends `media` without extension gets it), and a part with no
/// filename at all 41005 (captured on the temporary-material upload, whose
/// multipart handling `add_material` shares: "filename 必传，否则报错 41005"). Which
/// accepted extension it is does not matter: the bytes decide the format, so a PNG
/// named `cover.jpg` — what clients that name every part `img.jpg` or `cover.jpg`
/// send — is taken as the PNG it is. (`uploadimg` judges by the bytes alone: no
/// evidence was found that it looks at the name.)
fn material_name(kind: MaterialKind, filename: Option<&str>) -> Result<String, ApiError> {
    let name = filename
        .and_then(|f| f.rsplit(['/', '\\']).next())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::detail(ErrCode::MediaDataMissing, "the media part has no filename")
        })?;
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| !ext.is_empty());
    match extension {
        Some(ext) if extensions_of(kind).contains(&ext.as_str()) => Ok(name.to_string()),
        other => Err(ApiError::detail(
            ErrCode::UnsupportedFileType,
            format!(
                "filename {name:?}: extension {other:?} is not one of {:?} ({kind:?})",
                extensions_of(kind)
            ),
        )),
    }
}

/// The code for bytes the picture rules refused as a material of `formats`: 40113 when
/// they are a picture of a format the type does not take (a WebP or HEIC named `.png`, a
/// PNG thumb — captured as `unsupported file type` on `add_material`), else the rules'
/// own code (40005 for what is no picture or a broken one, 40009 for a pixel bomb).
fn material_refusal(
    bytes: &[u8],
    formats: &[ImageFormat],
    rejection: wximg_proto::Rejection,
) -> ApiError {
    let other_format = ImageFormat::ALL
        .into_iter()
        .find(|f| !formats.contains(f) && wximg_proto::rules::sniff_format(bytes) == Some(*f))
        .map(ImageFormat::name)
        .or_else(|| {
            wximg_proto::rules::sniff_other(bytes)
                .filter(|n| is_picture_format(n) && !formats.iter().any(|f| f.name() == *n))
        });
    match other_format {
        Some(found) if rejection.code == ErrCode::InvalidFileType => ApiError::detail(
            ErrCode::UnsupportedFileType,
            format!("{found} bytes: {}", rejection.reason),
        ),
        _ => ApiError::detail(rejection.code, rejection.reason),
    }
}

/// Whether a name from `sniff_other` is a picture format (not text, PDF, ISO media…).
fn is_picture_format(name: &str) -> bool {
    matches!(
        name,
        "GIF" | "WebP" | "BMP" | "TIFF" | "AVIF" | "HEIC" | "JPEG 2000" | "JPEG XL" | "ICO"
    )
}

/// A new media_id: 48 random bytes, URL-safe base64 (64 characters, as the platform's).
pub(super) fn new_media_id() -> String {
    let mut bytes = [0u8; 48];
    bytes[..32].copy_from_slice(&rand::random::<[u8; 32]>());
    bytes[32..].copy_from_slice(&rand::random::<[u8; 16]>());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A media_id from a request body: given and non-empty, else 40007.
fn media_id(request: &MediaIdRequest) -> Result<&str, ApiError> {
    request
        .media_id
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::detail(ErrCode::InvalidMediaId, "no media_id"))
}

/// The caller's material `media_id`, else 40007 (another account's is not found either).
async fn find(state: &AppState, appid: &AppId, id: &str) -> Result<MaterialRecord, ApiError> {
    state
        .storage
        .meta
        .material(appid, id)
        .await?
        .ok_or_else(|| ApiError::detail(ErrCode::InvalidMediaId, format!("{appid} has no {id}")))
}

/// Reads a picture material's `media` part and judges it as a material of `kind`: the
/// body (44002/47001/41005; over the type's limit 40006), the filename
/// ([`material_name`]), the picture rules (40113/40005/40009). What `add_material` and
/// the temporary `media/upload` share.
pub(super) async fn receive(
    state: &AppState,
    kind: MaterialKind,
    headers: &HeaderMap,
    body: Body,
) -> Result<(media::Media, wximg_proto::PictureInfo, String), ApiError> {
    let (max_bytes, formats) = limits_of(kind);
    let media = media::read_media(
        headers,
        body,
        Limits {
            max_bytes,
            permits: &state.upload_permits,
            weight: media::permits_for(max_bytes, state.rules.max_bytes, state.upload_permit_total),
        },
    )
    .await
    .map_err(|e| match e.code {
        // Over the type's byte limit: the material calls' own code.
        ErrCode::InvalidImageSize => ApiError {
            code: ErrCode::InvalidMediaSize,
            ..e
        },
        _ => e,
    })?;
    let name = material_name(kind, media.filename.as_deref())?;
    let rules = Rules {
        max_bytes,
        max_pixels: state.rules.max_pixels,
    };
    let (media, verdict) = crate::media::check(rules, media, formats).await?;
    let info = verdict.map_err(|r| material_refusal(&media.bytes, formats, r))?;

    Ok((media, info, name))
}

/// `add_material`. [`Caller`] has checked the token before a byte of the body is read.
pub async fn add_material(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiJson<AddMaterialOk>, ApiError> {
    let appid = admit(&state, caller, "add_material").await?;
    let kind = material_kind(&uri)?;
    let (media, info, name) = receive(&state, kind, &headers, body).await?;

    let now = state.clock.now();
    let picture = media::picture_record(&media.bytes, &info, &appid, now);
    let (id, size) = (picture.id, media.bytes.len());
    let url = format!(
        "{}/{}/{}/0?wx_fmt={}",
        state.public_url,
        info.format.url_kind(),
        id,
        info.format.wx_fmt()
    );
    let material = MaterialRecord {
        media_id: new_media_id(),
        appid: appid.clone(),
        kind,
        image: id,
        format: info.format,
        name,
        url,
        created_at: now,
    };
    let stored = state
        .storage
        .store_material(
            &picture,
            Bytes::from(media.bytes),
            &material,
            state.material_limit,
        )
        .await?;
    if stored == MaterialInsert::LibraryFull {
        return Err(ApiError::detail(
            ErrCode::MediaCountLimit,
            format!("{appid} holds {} materials", state.material_limit),
        ));
    }
    crate::metrics::record_upload(info.format.as_str(), size);
    tracing::info!(%appid, %id, size, kind = kind.as_str(), format = info.format.as_str(), "material stored");
    Ok(ApiJson(AddMaterialOk {
        media_id: material.media_id,
        url: material.url,
    }))
}

/// `get_materialcount`: pictures are all wximg hosts, so only `image_count` (image and
/// thumb materials) can be other than 0.
pub async fn get_materialcount(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<MaterialCountOk>, ApiError> {
    let appid = admit(&state, caller, "get_materialcount").await?;
    let image_count = state.storage.meta.material_count(&appid).await?;
    Ok(ApiJson(MaterialCountOk {
        voice_count: 0,
        video_count: 0,
        image_count,
        news_count: 0,
    }))
}

/// `batchget_material` `{"type","offset","count"}`: a page of the account's materials,
/// newest first. `type` must be one the platform lists (40004); `count` 1 to 20 and
/// `offset` not negative (47001). `image` lists image and thumb materials; `voice`,
/// `video` and `news` are empty (wximg hosts none).
pub async fn batchget_material(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<BatchGetMaterialRequest>,
) -> Result<ApiJson<BatchGetMaterialOk>, ApiError> {
    let appid = admit(&state, caller, "batchget_material").await?;
    let kind = request.kind.as_deref().unwrap_or("");
    if !matches!(kind, "image" | "video" | "voice" | "news") {
        return Err(ApiError::detail(
            ErrCode::InvalidMediaType,
            format!("type {kind:?} is not image, video, voice or news"),
        ));
    }
    let offset = request.offset.unwrap_or(0);
    let count = request.count.unwrap_or(0);
    if offset < 0 || !(1..=MAX_PAGE).contains(&count) {
        return Err(ApiError::detail(
            ErrCode::DataFormatError,
            format!("offset {offset}, count {count}: count must be 1 to {MAX_PAGE}"),
        ));
    }
    if kind != "image" {
        return Ok(ApiJson(BatchGetMaterialOk {
            item: Vec::new(),
            total_count: 0,
            item_count: 0,
        }));
    }
    let meta = state.storage.meta.as_ref();
    let total_count = meta.material_count(&appid).await?;
    // Both fit: checked just above.
    let page = meta
        .list_materials(&appid, offset as u64, count as u32)
        .await?;
    let item: Vec<MaterialItem> = page
        .into_iter()
        .map(|m| MaterialItem {
            media_id: m.media_id,
            name: m.name,
            update_time: m.created_at,
            url: m.url,
        })
        .collect();
    Ok(ApiJson(BatchGetMaterialOk {
        item_count: item.len() as u64,
        item,
        total_count,
    }))
}

/// `get_material` `{"media_id"}`: a picture material's bytes themselves (as the
/// platform answers for every type but news and video), with its Content-Type and its
/// name as the attachment's filename.
pub async fn get_material(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<MediaIdRequest>,
) -> Result<Response, ApiError> {
    let appid = admit(&state, caller, "get_material").await?;
    let material = find(&state, &appid, media_id(&request)?).await?;
    let Some(stream) = state.storage.blobs.get(&material.image, None).await? else {
        return Err(ApiError::detail(
            ErrCode::SystemError,
            format!(
                "material {} has no blob {}: run `wximg fsck`",
                material.media_id, material.image
            ),
        ));
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(material.format.mime()),
    );
    // Names are the client's: only a plain ASCII one goes into the header as is.
    let filename: String = material
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `del_material` `{"media_id"}`: `{"errcode":0,"errmsg":"ok"}`. The picture row stays
/// (its URL keeps working, as the bytes of an `uploadimg` would); only the library entry
/// goes, and with it its place under the cap.
pub async fn del_material(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<MediaIdRequest>,
) -> Result<ApiJson<OkBody>, ApiError> {
    let appid = admit(&state, caller, "del_material").await?;
    let id = media_id(&request)?;
    if !state.storage.meta.delete_material(&appid, id).await? {
        return Err(ApiError::detail(
            ErrCode::InvalidMediaId,
            format!("{appid} has no {id}"),
        ));
    }
    Ok(ApiJson(OkBody::ok()))
}

/// `add_news` and `update_news`, the legacy news material: retired by the platform on
/// 2022-02-28 (drafts replaced them), and answered as it answers them, 45106, once the
/// caller is known (tools that still call them then say "use drafts", not "wrong URL").
pub async fn retired_news(caller: Caller) -> Result<ApiJson<OkBody>, ApiError> {
    Err(ApiError::detail(
        ErrCode::ApiUnsupported,
        format!(
            "{}: the news material calls were retired on 2022-02-28; use draft/add",
            caller.app.appid
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_look_like_the_platforms() {
        let a = new_media_id();
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, new_media_id());
    }

    #[test]
    fn names_are_the_last_path_segment_with_an_accepted_extension() {
        let name = |f| material_name(MaterialKind::Image, f).expect("taken");
        assert_eq!(name(Some("/home/u/a b.jpg")), "a b.jpg");
        assert_eq!(name(Some("C:\\pics\\cover.JPG")), "cover.JPG");
        assert_eq!(name(Some("x.Png")), "x.Png");
        let code = |kind, f| material_name(kind, f).map_err(|e| e.code).err();
        assert_eq!(
            code(MaterialKind::Image, None),
            Some(ErrCode::MediaDataMissing)
        );
        assert_eq!(
            code(MaterialKind::Image, Some("")),
            Some(ErrCode::MediaDataMissing)
        );
        for bad in ["media", "cover.", "a.webp", "a.jpg.exe", "jpg"] {
            assert_eq!(
                code(MaterialKind::Image, Some(bad)),
                Some(ErrCode::UnsupportedFileType),
                "{bad}"
            );
        }
        assert_eq!(code(MaterialKind::Thumb, Some("c.jpeg")), None);
        assert_eq!(
            code(MaterialKind::Thumb, Some("c.png")),
            Some(ErrCode::UnsupportedFileType)
        );
    }

    #[test]
    fn a_ten_megabyte_body_takes_its_share_of_permits() {
        let unit = wximg_proto::rules::MAX_BYTES;
        assert_eq!(media::permits_for(unit, unit, 32), 1);
        assert_eq!(media::permits_for(THUMB_MAX_BYTES, unit, 32), 1);
        let big = media::permits_for(IMAGE_MAX_BYTES, unit, 32);
        assert!(
            u64::from(big) * media::memory_bound(unit) as u64
                >= media::memory_bound(IMAGE_MAX_BYTES) as u64
        );
        assert_eq!(
            media::permits_for(IMAGE_MAX_BYTES, unit, 4),
            4,
            "never more than there are"
        );
    }
}
