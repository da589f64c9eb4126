//! `--fit`: make any common picture acceptable to `uploadimg`, at the best quality that fits.
//!
//! The rules are "a whole JPEG or PNG, at most 1,048,576 bytes and 50 megapixels". Given any
//! JPEG, PNG, WebP, GIF (first frame), BMP or TIFF, [`fit`]:
//!
//! 1. returns the input **byte for byte** if it already passes (nothing to gain, and a
//!    re-encode would only lose quality);
//! 2. decodes it, turns it upright per its EXIF orientation, and drops all metadata (the
//!    re-encode writes none: no GPS position leaks into a published article);
//! 3. keeps **PNG** for pictures with transparency or few colours (screenshots, diagrams,
//!    logos) if an optimised PNG (oxipng) fits;
//! 4. otherwise encodes **JPEG** with mozjpeg, searching the highest quality in
//!    `min_quality..=max_quality` whose output fits. For big pictures the search predicts
//!    sizes from a sample of the picture, calibrates the prediction with real encodes, and
//!    encodes two candidate qualities at once, so a 12 MP picture is usually encoded in
//!    full only twice, in the time of one (the [`jpeg`] module explains the encoder
//!    settings and the search);
//! 5. only if even `min_quality` (60) does not fit, scales the picture down (never up)
//!    just enough, and searches again.
//!
//! Every output is checked with the server's own [`Rules::check`] before it is returned.

pub mod jpeg;

use std::collections::HashSet;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage, imageops::FilterType};
use wximg_proto::{ImageFormat, Rules};

use self::jpeg::{Chroma, Pixels, Predictor};
use crate::error::{Error, Result};

/// Settings of [`fit`].
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// The limits to meet (the server's by default).
    pub rules: Rules,
    /// The lowest JPEG quality tried before scaling down.
    pub min_quality: u8,
    /// The highest JPEG quality tried (higher costs bytes for no visible gain).
    pub max_quality: u8,
    /// The largest picture decoded, in pixels ([`MAX_DECODE_PIXELS`] by default): a
    /// bigger one is refused from its header, before any pixel memory is taken.
    pub max_decode_pixels: u64,
}

/// The default [`FitOptions::max_decode_pixels`]: 100 megapixels (a 10000×10000 picture
/// decodes into at most 800 MB at 16 bits per channel). Above it `--fit` refuses, since a
/// few such pictures at once would exhaust memory; scale the picture down first.
pub const MAX_DECODE_PIXELS: u64 = 100_000_000;

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            rules: Rules::default(),
            min_quality: 60,
            max_quality: 95,
            max_decode_pixels: MAX_DECODE_PIXELS,
        }
    }
}

/// What [`fit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitOutcome {
    /// The input already passed; the bytes are the input's.
    Unchanged,
    /// Re-encoded as an optimised PNG.
    Png,
    /// Re-encoded as JPEG at this quality; `scaled` if it had to be made smaller.
    Jpeg { quality: u8, scaled: bool },
}

/// A picture that passes the rules.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub outcome: FitOutcome,
}

/// Makes `input` pass `opts.rules` (see the module's documentation). CPU-bound: call it
/// from `spawn_blocking` in async code.
pub fn fit(input: &[u8], opts: &FitOptions) -> Result<Fitted> {
    if let Ok(info) = opts.rules.check(input) {
        return Ok(Fitted {
            bytes: input.to_vec(),
            format: info.format,
            width: info.width,
            height: info.height,
            outcome: FitOutcome::Unchanged,
        });
    }
    let img = decode_upright_within(input, opts.max_decode_pixels)?;
    // A JPEG whose colour is already at half resolution gains nothing from 4:4:4.
    let source = jpeg::jpeg_chroma(input).unwrap_or(Chroma::Full);
    fit_decoded(img, source, opts)
}

/// Width × height from the picture's header alone (no pixel decoded), if it can be read.
pub fn header_pixels(input: &[u8]) -> Option<u64> {
    let (w, h) = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()?;
    Some(u64::from(w) * u64::from(h))
}

/// Decodes any supported format (GIF: the first frame) and applies its EXIF orientation,
/// refusing pictures of more than [`MAX_DECODE_PIXELS`].
pub fn decode_upright(input: &[u8]) -> Result<DynamicImage> {
    decode_upright_within(input, MAX_DECODE_PIXELS)
}

/// [`decode_upright`] with its own pixel limit. The limit is checked against the header
/// before decoding, and the decoder's allocation limit is set to match, so a "pixel bomb"
/// (a small file claiming huge dimensions) costs nothing and never aborts the process.
pub fn decode_upright_within(input: &[u8], max_pixels: u64) -> Result<DynamicImage> {
    let bad = |e: &dyn std::fmt::Display| Error::Fit(format!("cannot decode the picture: {e}"));
    let reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|e| bad(&e))?;
    if reader.format().is_none() {
        let what = wximg_proto::rules::sniff_other(input).unwrap_or("an unknown format");
        return Err(Error::Fit(format!(
            "{what} is not a format --fit can read (JPEG, PNG, WebP, GIF, BMP, TIFF)"
        )));
    }
    let mut decoder = reader.into_decoder().map_err(|e| bad(&e))?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(Error::Fit(format!(
            "{width}×{height} is {pixels} pixels, more than --fit decodes ({max_pixels}); \
             scale it down first (e.g. `vipsthumbnail IN --size 8000x8000 -o OUT.jpg`)"
        )));
    }
    // Bytes: up to 8 per pixel (RGBA at 16 bits), plus the decoder's own buffers.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    decoder.set_limits(limits).map_err(|e| bad(&e))?;
    let orientation = decoder.orientation().map_err(|e| bad(&e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| bad(&e))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Fits an already decoded (and upright) picture.
pub fn fit_image(img: DynamicImage, opts: &FitOptions) -> Result<Fitted> {
    fit_decoded(img, Chroma::Full, opts)
}

/// [`fit_image`], knowing the chroma resolution of the source (`Half` for a 4:2:0 JPEG).
fn fit_decoded(mut img: DynamicImage, source: Chroma, opts: &FitOptions) -> Result<Fitted> {
    let rules = &opts.rules;
    // Over the pixel limit: shrink to it first (the byte search may shrink further).
    let pixels = u64::from(img.width()) * u64::from(img.height());
    if pixels > rules.max_pixels {
        let s = (rules.max_pixels as f64 / pixels as f64).sqrt() * 0.999;
        img = resize(&img, s);
    }

    if wants_png(&img)
        && let Some(png) = encode_png(&img, rules.max_bytes)?
    {
        return finish(png, rules, FitOutcome::Png);
    }

    let grey = !img.color().has_color();
    let mut rgb = flatten(img);
    let mut scaled = false;
    loop {
        let at_min = match fit_jpeg(&rgb, grey, source, opts)? {
            Ok((q, jpeg)) => {
                return finish(jpeg, rules, FitOutcome::Jpeg { quality: q, scaled });
            }
            Err(size) => size,
        };
        // Even min_quality is too big: shrink so that it should fit, with some margin.
        let s = ((rules.max_bytes as f64 / at_min as f64).sqrt() * 0.92).min(0.9);
        let (w, h) = rgb.dimensions();
        if w <= 16 || h <= 16 {
            return Err(Error::Fit(format!(
                "{w}×{h} at quality {} is still {at_min} bytes",
                opts.min_quality,
            )));
        }
        rgb = resize(&DynamicImage::ImageRgb8(rgb), s).to_rgb8();
        scaled = true;
    }
}

fn finish(bytes: Vec<u8>, rules: &Rules, outcome: FitOutcome) -> Result<Fitted> {
    // The server's own check is the judge; a failure here is a bug in fit, not the input.
    let info = rules
        .check(&bytes)
        .map_err(|r| Error::Fit(format!("the re-encoded picture does not pass: {r}")))?;
    Ok(Fitted {
        bytes,
        format: info.format,
        width: info.width,
        height: info.height,
        outcome,
    })
}

fn resize(img: &DynamicImage, scale: f64) -> DynamicImage {
    let w = ((f64::from(img.width()) * scale).floor() as u32).clamp(1, img.width());
    let h = ((f64::from(img.height()) * scale).floor() as u32).clamp(1, img.height());
    img.resize_exact(w, h, FilterType::CatmullRom)
}

/// PNG suits pictures with transparency or with few colours (graphics, screenshots).
fn wants_png(img: &DynamicImage) -> bool {
    let transparent = match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => false,
        DynamicImage::ImageRgba8(rgba) => rgba.pixels().any(|p| p.0[3] != 255),
        other => other.color().has_alpha() && other.to_rgba8().pixels().any(|p| p.0[3] != 255),
    };
    transparent || few_colours(img, 256)
}

/// Whether the picture has at most `limit` distinct colours. Stops counting past `limit`,
/// which for a photo is after a few hundred pixels; 8-bit RGB(A) pictures are read in
/// place (converting a 12 MP picture first would cost more than the count).
fn few_colours(img: &DynamicImage, limit: usize) -> bool {
    let mut seen = HashSet::with_capacity(limit + 1);
    let mut over = |key: u32| seen.insert(key) && seen.len() > limit;
    match img {
        DynamicImage::ImageRgb8(rgb) => !rgb
            .pixels()
            .any(|p| over(u32::from_ne_bytes([p.0[0], p.0[1], p.0[2], 255]))),
        DynamicImage::ImageRgba8(rgba) => !rgba.pixels().any(|p| over(u32::from_ne_bytes(p.0))),
        other => !other
            .to_rgba8()
            .pixels()
            .any(|p| over(u32::from_ne_bytes(p.0))),
    }
}

/// An optimised PNG, or `None` if it cannot fit in `max_bytes`.
fn encode_png(img: &DynamicImage, max_bytes: usize) -> Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut raw,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    img.write_with_encoder(encoder)
        .map_err(|e| Error::Fit(format!("PNG encoding failed: {e}")))?;
    // oxipng rarely gains more than half: don't spend seconds on a hopeless case.
    if raw.len() > max_bytes.saturating_mul(3) {
        return Ok(None);
    }
    let mut o = oxipng::Options::from_preset(2);
    o.strip = oxipng::StripChunks::All;
    o.timeout = Some(std::time::Duration::from_secs(10));
    let png = oxipng::optimize_from_memory(&raw, &o).unwrap_or(raw);
    Ok((png.len() <= max_bytes).then_some(png))
}

/// Alpha is composited over white (JPEG has none). An RGB picture is moved, not copied.
fn flatten(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = p.0;
        let a = u32::from(a);
        let mix = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        o.0 = [mix(r), mix(g), mix(b)];
    }
    out
}

/// Encodes a JPEG the way `--fit` does (see [`jpeg`]) at 4:2:0 chroma (4:0:0 for grey).
pub fn encode_jpeg(rgb: &RgbImage, grey: bool, quality: u8) -> Result<Vec<u8>> {
    Pixels::new(rgb, grey).encode(quality, Chroma::Half)
}

/// The highest quality in `min_quality..=max_quality` whose JPEG fits, with the chroma
/// resolution chosen as [`jpeg`] explains; `Err(size)` with the size at `min_quality` if
/// even that does not fit.
fn fit_jpeg(
    rgb: &RgbImage,
    grey: bool,
    source: Chroma,
    opts: &FitOptions,
) -> Result<std::result::Result<(u8, Vec<u8>), usize>> {
    let max = opts.rules.max_bytes;
    let (lo, hi) = (opts.min_quality, opts.max_quality.max(opts.min_quality));
    let px = Pixels::new(rgb, grey);
    let mut pred = Predictor::new(&px, Chroma::Half);
    let mut chroma = Chroma::Half;
    if source == Chroma::Full && !grey && hi >= jpeg::FULL_CHROMA_FROM {
        let from = jpeg::FULL_CHROMA_FROM.max(lo);
        let high_enough = match pred.as_mut() {
            Some(p) => p.predict(from)? <= max as f64 * 0.995,
            None => px.encode(from, Chroma::Half)?.len() <= max,
        };
        if high_enough {
            chroma = Chroma::Full;
            pred = Predictor::new(&px, Chroma::Full);
        }
    }
    let found = jpeg::search(&px, chroma, pred.as_mut(), lo, hi, max)?;
    match (found.best, found.at_lo) {
        (Some(best), _) => Ok(Ok(best)),
        (None, Some(size)) => Ok(Err(size)),
        (None, None) => Ok(Err(px.encode(lo, chroma)?.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of a few dozen bytes whose header claims `w`×`h` (the pixel data is cut).
    fn png_bomb(w: u32, h: u32) -> Vec<u8> {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            let mut crc = kind.to_vec();
            crc.extend_from_slice(data);
            c.extend_from_slice(&crc32fast::hash(&crc).to_be_bytes());
            c
        };
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x62, 0x00]));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn pixel_bombs_are_refused_from_the_header() {
        // 40000×40000: the old code asked for a 4.8 GB buffer and aborted the process.
        let started = std::time::Instant::now();
        let err = fit(&png_bomb(40_000, 40_000), &FitOptions::default())
            .expect_err("a 1.6-gigapixel picture was fitted");
        assert!(
            err.to_string().contains("1600000000 pixels")
                && err.to_string().contains("scale it down"),
            "{err}"
        );
        // 12000×12000 (144 MP) too: it cost 1.86 GB and 26 s before.
        assert!(fit(&png_bomb(12_000, 12_000), &FitOptions::default()).is_err());
        assert_eq!(header_pixels(&png_bomb(12_000, 12_000)), Some(144_000_000));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Under a lower limit, a smaller claim (still over the upload's 50 MP, so it
        // must be decoded to fit) is refused the same way.
        let lower = FitOptions {
            max_decode_pixels: 60_000_000,
            ..FitOptions::default()
        };
        let err = fit(&png_bomb(9_000, 9_000), &lower).expect_err("81 MP over a 60 MP limit");
        assert!(err.to_string().contains("more than --fit decodes"), "{err}");
    }

    #[test]
    fn passing_input_is_returned_unchanged() {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 7]));
        let jpeg = encode_jpeg(&img, false, 80).unwrap();
        let f = fit(&jpeg, &FitOptions::default()).unwrap();
        assert_eq!(f.outcome, FitOutcome::Unchanged);
        assert_eq!(f.bytes, jpeg);
    }

    #[test]
    fn few_colours_stay_png_and_alpha_too() {
        let flat = DynamicImage::ImageRgb8(RgbImage::from_fn(300, 200, |x, _| {
            image::Rgb(if x < 150 { [255, 0, 0] } else { [0, 0, 255] })
        }));
        assert!(wants_png(&flat));
        let photo = DynamicImage::ImageRgb8(RgbImage::from_fn(300, 200, |x, y| {
            image::Rgb([x as u8, y as u8, (x * y) as u8])
        }));
        assert!(!wants_png(&photo));
        let mut rgba = photo.to_rgba8();
        rgba.get_pixel_mut(3, 3).0[3] = 10;
        assert!(wants_png(&DynamicImage::ImageRgba8(rgba)));
    }

    /// A grainy gradient: compresses like a photo with little detail.
    fn grainy(w: u32, h: u32, grain: u32) -> RgbImage {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        RgbImage::from_fn(w, h, |x, y| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let n = (s % u64::from(grain)) as u32;
            let c = |v: u32| v.min(255) as u8;
            image::Rgb([
                c(x * 150 / w + n),
                c(y * 150 / h + n),
                c(50 + (x + y) * 100 / (w + h) + n),
            ])
        })
    }

    /// 4:4:4 where the source has full-resolution colour and the quality is high; a 4:2:0
    /// JPEG stays 4:2:0 (its colour detail is gone already); low qualities get 4:2:0.
    #[test]
    fn chroma_follows_the_source_and_the_quality() {
        let opts = FitOptions::default();
        let run = |img: &RgbImage, source: Chroma| {
            let input = Pixels::new(img, false).encode(100, source).unwrap();
            assert!(input.len() > opts.rules.max_bytes, "{} bytes", input.len());
            let out = fit(&input, &opts).unwrap();
            let FitOutcome::Jpeg { quality, .. } = out.outcome else {
                panic!("{:?}", out.outcome)
            };
            (quality, jpeg::jpeg_chroma(&out.bytes))
        };
        let mild = grainy(2000, 1500, 6);
        let (q, chroma) = run(&mild, Chroma::Full);
        assert!(q >= jpeg::FULL_CHROMA_FROM, "q{q}");
        assert_eq!(chroma, Some(Chroma::Full), "q{q}");
        let (q, chroma) = run(&mild, Chroma::Half);
        assert_eq!(chroma, Some(Chroma::Half), "q{q}");
        let rough = grainy(2000, 1500, 100);
        let (q, chroma) = run(&rough, Chroma::Full);
        assert!(q < jpeg::FULL_CHROMA_FROM, "q{q}");
        assert_eq!(chroma, Some(Chroma::Half), "q{q}");
    }
}
