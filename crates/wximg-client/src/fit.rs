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
//!    `min_quality..=max_quality` whose output fits. The search is a bisection; for big
//!    pictures it first runs on a sample of the picture (horizontal bands, a fraction of the
//!    pixels) to predict the quality, so the full picture is usually encoded only once or
//!    twice;
//! 5. only if even `min_quality` (60) does not fit, scales the picture down (never up)
//!    just enough, and searches again.
//!
//! Every output is checked with the server's own [`Rules::check`] before it is returned.

use std::collections::HashSet;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage, imageops::FilterType};
use wximg_proto::{ImageFormat, Rules};

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
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            rules: Rules::default(),
            min_quality: 60,
            max_quality: 95,
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
    let img = decode_upright(input)?;
    fit_image(img, opts)
}

/// Decodes any supported format (GIF: the first frame) and applies its EXIF orientation.
pub fn decode_upright(input: &[u8]) -> Result<DynamicImage> {
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
    let orientation = decoder.orientation().map_err(|e| bad(&e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| bad(&e))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Fits an already decoded (and upright) picture.
pub fn fit_image(mut img: DynamicImage, opts: &FitOptions) -> Result<Fitted> {
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

    let mut rgb = flatten(&img);
    let grey = !img.color().has_color();
    let mut scaled = false;
    loop {
        if let Some((q, jpeg)) = search_jpeg(&rgb, grey, opts)? {
            return finish(jpeg, rules, FitOutcome::Jpeg { quality: q, scaled });
        }
        // Even min_quality is too big: shrink so that it should fit, with some margin.
        let at_min = encode_jpeg(&rgb, grey, opts.min_quality)?;
        let s = ((rules.max_bytes as f64 / at_min.len() as f64).sqrt() * 0.92).min(0.9);
        let (w, h) = rgb.dimensions();
        if w <= 16 || h <= 16 {
            return Err(Error::Fit(format!(
                "{w}×{h} at quality {} is still {} bytes",
                opts.min_quality,
                at_min.len()
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
    if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        if rgba.pixels().any(|p| p.0[3] != 255) {
            return true;
        }
    }
    few_colours(img, 256)
}

/// Whether the picture has at most `limit` distinct colours (stops counting past it).
fn few_colours(img: &DynamicImage, limit: usize) -> bool {
    let mut seen = HashSet::with_capacity(limit + 1);
    let rgba = img.to_rgba8();
    for p in rgba.pixels() {
        if seen.insert(u32::from_ne_bytes(p.0)) && seen.len() > limit {
            return false;
        }
    }
    true
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

/// Alpha is composited over white (JPEG has none).
fn flatten(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = p.0;
        let a = u32::from(a);
        let mix = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        o.0 = [mix(r), mix(g), mix(b)];
    }
    out
}

/// Encodes with mozjpeg: progressive, optimised Huffman tables, trellis quantisation,
/// 4:2:0 chroma (4:0:0 for greyscale), no metadata.
pub fn encode_jpeg(rgb: &RgbImage, grey: bool, quality: u8) -> Result<Vec<u8>> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let data: Vec<u8> = if grey {
        rgb.pixels().map(|p| p.0[1]).collect()
    } else {
        Vec::new()
    };
    let pixels: &[u8] = if grey { &data } else { rgb.as_raw() };
    // libjpeg reports errors by unwinding; keep them inside this function.
    std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(if grey {
            mozjpeg::ColorSpace::JCS_GRAYSCALE
        } else {
            mozjpeg::ColorSpace::JCS_RGB
        });
        c.set_size(w, h);
        c.set_quality(f32::from(quality));
        let mut started = c.start_compress(Vec::with_capacity(1 << 20))?;
        started.write_scanlines(pixels)?;
        started.finish()
    })
    .map_err(|_| Error::Fit("the JPEG encoder failed".into()))?
    .map_err(|e| Error::Fit(format!("the JPEG encoder failed: {e}")))
}

/// Below this many pixels the search runs on the whole picture.
const SAMPLE_ABOVE: u64 = 1_500_000;
/// Height of one sampled band (a multiple of 16, the JPEG MCU height at 4:2:0).
const BAND: u32 = 32;

/// Every `stride`-th band of [`BAND`] rows, stacked: a picture that compresses like the
/// whole one, with a fraction of its pixels.
fn sample_bands(rgb: &RgbImage, stride: u32) -> RgbImage {
    let (w, h) = rgb.dimensions();
    let bands: Vec<u32> = (0..h / BAND).step_by(stride as usize).collect();
    let mut out = RgbImage::new(w, bands.len() as u32 * BAND);
    let row = w as usize * 3;
    let src = rgb.as_raw();
    let dst: &mut [u8] = &mut out;
    for (i, b) in bands.iter().enumerate() {
        let from = (b * BAND) as usize * row;
        let to = i * BAND as usize * row;
        let len = BAND as usize * row;
        dst[to..to + len].copy_from_slice(&src[from..from + len]);
    }
    out
}

/// The highest quality in `min..=max` whose encoding fits, with that encoding; `None` if
/// even `min_quality` does not fit.
fn search_jpeg(rgb: &RgbImage, grey: bool, opts: &FitOptions) -> Result<Option<(u8, Vec<u8>)>> {
    let max = opts.rules.max_bytes;
    let (lo, hi) = (opts.min_quality, opts.max_quality.max(opts.min_quality));
    let pixels = u64::from(rgb.width()) * u64::from(rgb.height());

    // 1. A guess from a sample, for big pictures.
    let guess = if pixels > SAMPLE_ABOVE {
        let stride = ((pixels / 400_000) as u32).clamp(2, 16);
        let sample = sample_bands(rgb, stride);
        let factor = rgb.height() as f64 / sample.height() as f64;
        // Aim a little under the limit: the sample's estimate is off by a few percent.
        let budget = max as f64 * 0.96;
        let fits = |q: u8| -> Result<bool> {
            Ok(encode_jpeg(&sample, grey, q)?.len() as f64 * factor <= budget)
        };
        Some(bisect(lo, hi, fits)?.unwrap_or(lo))
    } else {
        None
    };

    // 2. Full encodes.
    let full_fit = |q: u8, best: &mut Option<(u8, Vec<u8>)>| -> Result<bool> {
        let out = encode_jpeg(rgb, grey, q)?;
        let ok = out.len() <= max;
        if ok {
            // Bisection visits fitting qualities in increasing order: the last is the best.
            *best = Some((q, out));
        }
        Ok(ok)
    };
    let mut best = None;
    let Some(g) = guess else {
        bisect(lo, hi, |q| full_fit(q, &mut best))?;
        return Ok(best);
    };
    if full_fit(g, &mut best)? {
        // The guess fits: step up while there is clear room (at most a few steps).
        let mut q = g;
        while q < hi && q < g + 3 {
            let room = best
                .as_ref()
                .is_some_and(|(_, b)| (b.len() as f64) < max as f64 * 0.97);
            if !room || !full_fit(q + 1, &mut best)? {
                break;
            }
            q += 1;
        }
        return Ok(best);
    }
    // The guess is too big: search just below it first, then the rest of the range.
    if g > lo {
        let near = g.saturating_sub(6).max(lo);
        bisect(near, g - 1, |q| full_fit(q, &mut best))?;
        if best.is_none() && near > lo {
            bisect(lo, near - 1, |q| full_fit(q, &mut best))?;
        }
    }
    Ok(best)
}

/// The highest `q` in `lo..=hi` with `fits(q)`, assuming `fits` is monotone.
fn bisect(lo: u8, hi: u8, mut fits: impl FnMut(u8) -> Result<bool>) -> Result<Option<u8>> {
    let (mut low, mut high) = (lo, hi);
    let mut best = None;
    while low <= high {
        let mid = (u16::from(low) + u16::from(high)).div_ceil(2) as u8;
        if fits(mid)? {
            best = Some(mid);
            low = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            high = mid - 1;
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_finds_the_highest_fitting() {
        for limit in 60..=95u8 {
            let r = bisect(60, 95, |q| Ok(q <= limit)).unwrap();
            assert_eq!(r, Some(limit));
        }
        assert_eq!(bisect(60, 95, |_| Ok(false)).unwrap(), None);
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

    #[test]
    fn sample_keeps_width_and_takes_bands() {
        let img = RgbImage::from_fn(100, 640, |_, y| image::Rgb([(y / BAND) as u8, 0, 0]));
        let s = sample_bands(&img, 4);
        assert_eq!(s.dimensions(), (100, 5 * BAND));
        assert_eq!(s.get_pixel(0, BAND).0[0], 4);
    }
}
