//! The picture rules of `uploadimg` and of permanent material (`add_material`).
//!
//! `uploadimg` takes "jpg / png only, under 1 MB" ([`Rules::check`]); an image material
//! also takes GIF and BMP, up to 10 MB, and a thumb only JPEG up to 64 KB
//! ([`Rules::check_as`] with the formats and limit of the call). wximg decides that from the bytes alone
//! — never from a filename or a part's Content-Type — with a *structural* parse that reads
//! every header but decodes no pixel:
//!
//! - **JPEG**: SOI; well-formed marker segments; exactly one SOF with sane dimensions and
//!   components; at least one SOS followed by entropy-coded data; EOI. Bytes after EOI are
//!   tolerated, because phone cameras append motion-photo video there and those are real
//!   photos people upload.
//! - **PNG**: the signature; IHDR first with valid fields; every chunk's CRC; PLTE where the
//!   colour type needs one; consecutive IDAT chunks; IEND last, with nothing after it.
//! - **GIF** (material only): the header; the logical screen descriptor; the colour
//!   tables its flags announce; every extension and image block with its sub-blocks
//!   (each image with an LZW code size and data); at least one image; the trailer (bytes
//!   after it tolerated, as after a JPEG's EOI).
//! - **BMP** (material only): the file header; a known info header with sane fields
//!   (planes 1, a known bit depth and compression); the pixel array where the header puts
//!   it, whole (uncompressed: every row; RLE: every run up to end-of-bitmap).
//! - **Size**: more than [`Rules::max_bytes`] (1,048,576) bytes → 40009; a header claiming
//!   more than [`Rules::max_pixels`] (50 megapixels) → 40009, decided from the header, so a
//!   "pixel bomb" costs nothing to refuse.
//!
//! No crate does this: decoders either stop at the headers (and miss a truncated or corrupt
//! file) or decode every pixel (too slow, and the bomb is what we must not decode). The
//! parse is a few hundred lines over a byte slice and is fuzzed.

use std::fmt;

use crate::ErrCode;

mod bmp;
mod gif;
mod jpeg;
mod png;
pub mod properties;

use bmp::bmp;
use gif::gif;
pub use jpeg::JpegLayout;
use jpeg::jpeg;
use png::{PNG_SIGNATURE, png};

/// The formats wximg stores: `uploadimg` accepts the first two ([`UPLOADIMG_FORMATS`]),
/// an image material all four ([`IMAGE_MATERIAL_FORMATS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Bmp,
}

/// What `uploadimg` accepts: "jpg / png only".
pub const UPLOADIMG_FORMATS: &[ImageFormat] = &[ImageFormat::Jpeg, ImageFormat::Png];
/// What an image material accepts: "bmp/png/jpeg/jpg/gif".
pub const IMAGE_MATERIAL_FORMATS: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];
/// What a thumb material accepts: "JPG".
pub const THUMB_MATERIAL_FORMATS: &[ImageFormat] = &[ImageFormat::Jpeg];

impl ImageFormat {
    pub const ALL: [ImageFormat; 4] = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::Bmp,
    ];

    /// The path segment of its URLs: `mmbiz_jpg`, `mmbiz_png`, `mmbiz_gif`, `mmbiz_bmp`.
    /// (The platform's CDN serves BMP under a bare `mmbiz/`; wximg keeps one
    /// `mmbiz_<kind>` form for every format, so "is this URL ours" has one rule.)
    pub fn url_kind(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "mmbiz_jpg",
            ImageFormat::Png => "mmbiz_png",
            ImageFormat::Gif => "mmbiz_gif",
            ImageFormat::Bmp => "mmbiz_bmp",
        }
    }

    pub fn from_url_kind(kind: &str) -> Option<ImageFormat> {
        ImageFormat::ALL.into_iter().find(|f| f.url_kind() == kind)
    }

    /// The value of the platform's `?wx_fmt=` on material URLs: `jpeg`, `png`, `gif`,
    /// `bmp` (note `jpeg`, not the row's `jpg`).
    pub fn wx_fmt(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Bmp => "bmp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Bmp => "image/bmp",
        }
    }

    /// Short name for storage rows: `jpg` / `png` / `gif` / `bmp`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Bmp => "bmp",
        }
    }

    /// The format's name for people (refusal reasons).
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Gif => "GIF",
            ImageFormat::Bmp => "BMP",
        }
    }

    pub fn parse(s: &str) -> Option<ImageFormat> {
        ImageFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The format whose signature `bytes` start with, if one of ours.
    fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(&[0xFF, 0xD8]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(PNG_SIGNATURE) {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageFormat::Gif)
        } else if bytes.starts_with(b"BM") {
            Some(ImageFormat::Bmp)
        } else {
            None
        }
    }
}

/// What the rules learnt about an accepted picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Why a picture is refused: the code the server answers, and a reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ErrCode,
    pub reason: String,
}

impl Rejection {
    fn file_type(reason: impl Into<String>) -> Rejection {
        Rejection {
            code: ErrCode::InvalidFileType,
            reason: reason.into(),
        }
    }

    fn size(reason: impl Into<String>) -> Rejection {
        Rejection {
            code: ErrCode::InvalidImageSize,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} — {}", self.code, self.reason)
    }
}

impl std::error::Error for Rejection {}

/// The limits the rules enforce. [`Rules::default`] is the platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Largest accepted file, in bytes (1,048,576).
    pub max_bytes: usize,
    /// Largest accepted width × height (50,000,000).
    pub max_pixels: u64,
}

/// The platform's byte limit: "under 1 MB", measured as 1 MiB inclusive.
pub const MAX_BYTES: usize = 1_048_576;
/// The pixel limit: 50 megapixels.
pub const MAX_PIXELS: u64 = 50_000_000;

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_bytes: MAX_BYTES,
            max_pixels: MAX_PIXELS,
        }
    }
}

impl Rules {
    /// Checks a whole file as `uploadimg` does (JPEG or PNG). `Ok` means the server
    /// would accept it.
    pub fn check(&self, bytes: &[u8]) -> Result<PictureInfo, Rejection> {
        self.check_as(bytes, UPLOADIMG_FORMATS)
    }

    /// Checks a whole file that must be one of `formats` (and within these limits): the
    /// one rule code behind `uploadimg` and both kinds of picture material.
    pub fn check_as(
        &self,
        bytes: &[u8],
        formats: &[ImageFormat],
    ) -> Result<PictureInfo, Rejection> {
        if bytes.is_empty() {
            return Err(Rejection {
                code: ErrCode::MediaDataMissing,
                reason: "the file is empty".into(),
            });
        }
        if bytes.len() > self.max_bytes {
            return Err(Rejection::size(format!(
                "{} bytes is more than the limit of {} bytes; use --fit",
                bytes.len(),
                self.max_bytes
            )));
        }
        let accepted = || {
            formats
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let format = match ImageFormat::sniff(bytes) {
            Some(format) if formats.contains(&format) => format,
            found => {
                let name = found.map(ImageFormat::name).or_else(|| sniff_other(bytes));
                return Err(Rejection::file_type(match name {
                    Some(name) => {
                        format!("{name} is not accepted, only {}; use --fit", accepted())
                    }
                    None => format!("not a {} file", accepted()),
                }));
            }
        };
        let (width, height) = match format {
            ImageFormat::Jpeg => jpeg(bytes, self.max_pixels)?,
            ImageFormat::Png => png(bytes, self.max_pixels)?,
            ImageFormat::Gif => gif(bytes, self.max_pixels)?,
            ImageFormat::Bmp => bmp(bytes, self.max_pixels)?,
        };
        Ok(PictureInfo {
            format,
            width,
            height,
        })
    }

    fn pixels_ok(max_pixels: u64, width: u32, height: u32) -> Result<(), Rejection> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > max_pixels {
            return Err(Rejection::size(format!(
                "{width}×{height} is {pixels} pixels, more than the limit of {max_pixels}"
            )));
        }
        Ok(())
    }
}

/// What both structural parses answer when the bytes end early.
fn truncated() -> Rejection {
    Rejection::file_type("the file is truncated")
}

/// A JPEG's layout ([`JpegLayout`]: dimensions, components, scans), if it passes the JPEG
/// rule with no pixel limit: what the server's resizer reads before it decodes.
pub fn jpeg_layout(bytes: &[u8]) -> Option<JpegLayout> {
    if sniff_format(bytes) != Some(ImageFormat::Jpeg) {
        return None;
    }
    jpeg::layout(bytes, u64::MAX).ok()
}

/// The format of ours whose signature `bytes` start with, if any (the structure is not
/// checked: [`Rules::check_as`] does that).
pub fn sniff_format(bytes: &[u8]) -> Option<ImageFormat> {
    ImageFormat::sniff(bytes)
}

/// Names a few formats people try to upload, so the reason can say what the file is.
pub fn sniff_other(b: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| b.starts_with(p);
    if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("GIF")
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("WebP")
    } else if starts(b"BM") && b.len() >= 14 {
        Some("BMP")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("TIFF")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        match &b[8..12] {
            b"avif" | b"avis" => Some("AVIF"),
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc" => Some("HEIC"),
            _ => Some("an ISO media file"),
        }
    } else if starts(b"\0\0\0\x0CjP  ") || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        Some("JPEG 2000")
    } else if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0CJXL ") {
        Some("JPEG XL")
    } else if starts(b"%PDF") {
        Some("PDF")
    } else if starts(b"\0\0\x01\0") {
        Some("ICO")
    } else if starts(b"<svg") || starts(b"<?xml") {
        Some("SVG/XML")
    } else if b
        .iter()
        .take(512)
        .all(|&c| c == b'\t' || c == b'\n' || c == b'\r' || (0x20..0x7F).contains(&c))
    {
        Some("text")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        c.extend_from_slice(&crc32fast::hash(&crc_input).to_be_bytes());
        c
    }

    /// A hand-made 1×1 greyscale PNG; the zlib stream is the stored-block encoding of
    /// the filter byte 0 and one pixel.
    /// A black greyscale PNG of `w`×`h` whose image data is whole (every row, deflated);
    /// past the pixel limit its data is one row (never read: refused by size first).
    fn tiny_png(w: u32, h: u32) -> Vec<u8> {
        let rows = if u64::from(w) * u64::from(h) > MAX_PIXELS {
            1
        } else {
            h as usize
        };
        png_with_data(w, h, &vec![0u8; rows * (1 + w as usize)])
    }

    fn png_with_data(w: u32, h: u32, data: &[u8]) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        let mut v = PNG_SIGNATURE.to_vec();
        v.extend(chunk(b"IHDR", &ihdr));
        v.extend(chunk(
            b"IDAT",
            &miniz_oxide::deflate::compress_to_vec_zlib(data, 6),
        ));
        v.extend(chunk(b"IEND", &[]));
        v
    }

    #[test]
    fn png_image_data_must_inflate_to_every_row() {
        let r = Rules::default();
        assert!(r.check(&png_with_data(4, 3, &[0; 15])).is_ok());
        // A row short, garbage, nothing.
        let short = r.check(&png_with_data(4, 3, &[0; 14])).unwrap_err();
        assert_eq!(short.code, ErrCode::InvalidFileType);
        assert!(
            short.reason.contains("ends after 14 of the 15 bytes"),
            "{}",
            short.reason
        );
        let mut garbage = tiny_png(2000, 1000);
        let idat = garbage.windows(4).position(|w| w == b"IDAT").expect("IDAT") + 4;
        let len = u32::from_be_bytes(garbage[idat - 8..idat - 4].try_into().unwrap()) as usize;
        garbage[idat..idat + len].fill(b'x');
        let crc = crc32fast::hash(&garbage[idat - 4..idat + len]);
        garbage[idat + len..idat + len + 4].copy_from_slice(&crc.to_be_bytes());
        let e = r.check(&garbage).unwrap_err();
        assert_eq!(e.code, ErrCode::InvalidFileType);
        assert!(e.reason.contains("does not inflate"), "{}", e.reason);
        // A header claiming 7071×7071 over 100 bytes of data.
        let claims = png_with_data(7071, 7071, &[0; 100]);
        assert!(
            r.check(&claims)
                .unwrap_err()
                .reason
                .contains("ends after 100")
        );
        // Data split over many IDAT chunks is one stream.
        let whole = miniz_oxide::deflate::compress_to_vec_zlib(&[0; 3 * 5], 6);
        let mut split = PNG_SIGNATURE.to_vec();
        let mut ihdr = 4u32.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&3u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        split.extend(chunk(b"IHDR", &ihdr));
        for byte in &whole {
            split.extend(chunk(b"IDAT", std::slice::from_ref(byte)));
        }
        split.extend(chunk(b"IEND", &[]));
        assert!(r.check(&split).is_ok());
    }

    fn tiny_jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend([0xFF, 0xDB, 0, 67, 0]);
        v.extend([1u8; 64]);
        let [wh, wl] = w.to_be_bytes();
        let [hh, hl] = h.to_be_bytes();
        v.extend([0xFF, 0xC0, 0, 11, 8, hh, hl, wh, wl, 1, 1, 0x11, 0]);
        v.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        v.extend([0x12, 0x34, 0xFF, 0x00, 0x56]);
        v.extend([0xFF, 0xD9]);
        v
    }

    #[test]
    fn accepts_minimal_files() {
        let r = Rules::default();
        assert_eq!(r.check(&tiny_png(1, 1)).unwrap().format, ImageFormat::Png);
        let info = r.check(&tiny_jpeg(3, 2)).unwrap();
        assert_eq!(
            (info.width, info.height, info.format),
            (3, 2, ImageFormat::Jpeg)
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let r = Rules::default();
        for file in [tiny_png(1, 1), tiny_jpeg(3, 2)] {
            for cut in 1..file.len() {
                let e = r.check(&file[..cut]).unwrap_err();
                assert_eq!(e.code, ErrCode::InvalidFileType, "cut at {cut}");
            }
        }
    }

    #[test]
    fn bad_png_crc_is_refused() {
        let mut p = tiny_png(1, 1);
        let n = p.len();
        p[n - 20] ^= 1; // inside IDAT
        let e = Rules::default().check(&p).unwrap_err();
        assert_eq!(e.code, ErrCode::InvalidFileType);
        assert!(e.reason.contains("CRC"), "{}", e.reason);
    }

    #[test]
    fn pixel_bombs_are_size_errors() {
        let r = Rules::default();
        assert_eq!(
            r.check(&tiny_png(60000, 60000)).unwrap_err().code,
            ErrCode::InvalidImageSize
        );
        assert_eq!(
            r.check(&tiny_jpeg(60000, 60000)).unwrap_err().code,
            ErrCode::InvalidImageSize
        );
        // Exactly at the limit is fine.
        let at = r.check(&tiny_png(10000, 5000));
        assert!(at.is_ok(), "{at:?}");
        assert_eq!(
            r.check(&tiny_png(10000, 5001)).unwrap_err().code,
            ErrCode::InvalidImageSize
        );
    }

    #[test]
    fn byte_limit_is_inclusive() {
        let r = Rules {
            max_bytes: 200,
            ..Rules::default()
        };
        let mut j = tiny_jpeg(3, 2);
        j.extend(std::iter::repeat_n(0u8, 200 - j.len()));
        assert!(
            r.check(&j).is_ok(),
            "trailing bytes after EOI are tolerated"
        );
        j.push(0);
        assert_eq!(r.check(&j).unwrap_err().code, ErrCode::InvalidImageSize);
    }

    #[test]
    fn other_formats_are_named() {
        let r = Rules::default();
        let e = r.check(b"GIF89a\x01\x00\x01\x00").unwrap_err();
        assert_eq!(e.code, ErrCode::InvalidFileType);
        assert!(e.reason.contains("GIF"));
        assert!(e.reason.contains("only JPEG, PNG"), "{}", e.reason);
        let e = r.check(b"RIFF\0\0\0\0WEBPVP8 ").unwrap_err();
        assert!(e.reason.contains("WebP"));
        assert!(r.check(b"hello world").unwrap_err().reason.contains("text"));
        assert_eq!(r.check(b"").unwrap_err().code, ErrCode::MediaDataMissing);
    }

    #[test]
    fn jpeg_without_eoi_or_sos_is_refused() {
        let r = Rules::default();
        let j = tiny_jpeg(3, 2);
        assert!(r.check(&j[..j.len() - 2]).is_err());
        let mut no_sos = j[..2 + 69 + 13].to_vec();
        no_sos.extend([0xFF, 0xD9]);
        assert!(r.check(&no_sos).unwrap_err().reason.contains("SOS"));
    }

    #[test]
    fn png_with_trailing_bytes_is_refused() {
        let mut p = tiny_png(1, 1);
        p.push(0);
        assert!(Rules::default().check(&p).is_err());
    }

    /// A hand-made 2×1 GIF: a 2-colour global table, one image, LZW code size 2.
    fn tiny_gif() -> Vec<u8> {
        let mut v = b"GIF89a".to_vec();
        v.extend([2, 0, 1, 0, 0x80, 0, 0]); // 2×1 screen, global table of 2 colours
        v.extend([0, 0, 0, 255, 255, 255]);
        v.extend([0x21, 0xF9, 4, 0, 0, 0, 0, 0]); // graphic control extension
        v.extend([0x2C, 0, 0, 0, 0, 2, 0, 1, 0, 0]); // image 2×1 at 0,0
        v.extend([2, 2, 0x44, 0x01, 0]); // LZW code size 2, one sub-block
        v.push(0x3B);
        v
    }

    /// A hand-made 2×2, 24-bit uncompressed BMP (rows of 6 bytes padded to 8).
    fn tiny_bmp(w: i32, h: i32) -> Vec<u8> {
        let rows = h.unsigned_abs() as usize;
        let row = (24 * w.unsigned_abs() as usize).div_ceil(32) * 4;
        let size = 14 + 40 + row * rows;
        let mut v = b"BM".to_vec();
        v.extend((size as u32).to_le_bytes());
        v.extend([0; 4]);
        v.extend(54u32.to_le_bytes());
        v.extend(40u32.to_le_bytes());
        v.extend(w.to_le_bytes());
        v.extend(h.to_le_bytes());
        v.extend(1u16.to_le_bytes());
        v.extend(24u16.to_le_bytes());
        v.extend([0; 24]); // compression 0, sizes, resolutions, palette counts
        v.extend(std::iter::repeat_n(0x7Fu8, row * rows));
        v
    }

    #[test]
    fn gif_and_bmp_only_where_asked() {
        let r = Rules::default();
        let info = r.check_as(&tiny_gif(), IMAGE_MATERIAL_FORMATS).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Gif, 2, 1)
        );
        let info = r.check_as(&tiny_bmp(2, 2), IMAGE_MATERIAL_FORMATS).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Bmp, 2, 2)
        );
        let info = r
            .check_as(&tiny_bmp(2, -2), IMAGE_MATERIAL_FORMATS)
            .unwrap();
        assert_eq!(info.height, 2, "top-down rows");
        // uploadimg stays JPEG/PNG, a thumb JPEG only.
        assert_eq!(
            r.check(&tiny_gif()).unwrap_err().code,
            ErrCode::InvalidFileType
        );
        assert_eq!(
            r.check(&tiny_bmp(2, 2)).unwrap_err().code,
            ErrCode::InvalidFileType
        );
        let e = r
            .check_as(&tiny_png(1, 1), THUMB_MATERIAL_FORMATS)
            .unwrap_err();
        assert_eq!(e.code, ErrCode::InvalidFileType);
        assert!(
            e.reason.contains("PNG is not accepted, only JPEG"),
            "{}",
            e.reason
        );
        assert!(r.check_as(&tiny_jpeg(3, 2), THUMB_MATERIAL_FORMATS).is_ok());
    }

    #[test]
    fn every_gif_and_bmp_truncation_is_refused() {
        let r = Rules::default();
        for file in [tiny_gif(), tiny_bmp(2, 2)] {
            for cut in 1..file.len() {
                let e = r
                    .check_as(&file[..cut], IMAGE_MATERIAL_FORMATS)
                    .unwrap_err();
                assert_eq!(e.code, ErrCode::InvalidFileType, "cut at {cut}");
            }
        }
    }

    #[test]
    fn corrupt_gif_and_bmp_are_refused() {
        let r = Rules::default();
        let mut no_image = tiny_gif();
        no_image.drain(27..42);
        assert!(
            r.check_as(&no_image, IMAGE_MATERIAL_FORMATS)
                .unwrap_err()
                .reason
                .contains("no image")
        );
        let mut bad_block = tiny_gif();
        bad_block[27] = 0x99;
        assert!(r.check_as(&bad_block, IMAGE_MATERIAL_FORMATS).is_err());
        let mut two_planes = tiny_bmp(2, 2);
        two_planes[26] = 2;
        assert!(
            r.check_as(&two_planes, IMAGE_MATERIAL_FORMATS)
                .unwrap_err()
                .reason
                .contains("planes")
        );
        let mut rle24 = tiny_bmp(2, 2);
        rle24[30] = 1; // RLE8 with 24 bits per pixel
        assert!(r.check_as(&rle24, IMAGE_MATERIAL_FORMATS).is_err());
    }

    #[test]
    fn gif_and_bmp_pixel_bombs_are_size_errors() {
        let r = Rules::default();
        let mut gif = tiny_gif();
        gif[6..10].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            r.check_as(&gif, IMAGE_MATERIAL_FORMATS).unwrap_err().code,
            ErrCode::InvalidImageSize
        );
        let mut frame = tiny_gif();
        frame[32..36].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            r.check_as(&frame, IMAGE_MATERIAL_FORMATS).unwrap_err().code,
            ErrCode::InvalidImageSize
        );
        let mut bmp = tiny_bmp(2, 2);
        bmp[18..26].copy_from_slice(&[0x60, 0xEA, 0, 0, 0x60, 0xEA, 0, 0]); // 60000×60000
        assert_eq!(
            r.check_as(&bmp, IMAGE_MATERIAL_FORMATS).unwrap_err().code,
            ErrCode::InvalidImageSize
        );
    }
}
