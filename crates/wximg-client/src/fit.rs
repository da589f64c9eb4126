//! `--fit`: make any common picture acceptable to `uploadimg`, at the best quality that fits.
//!
//! The rules are "a whole JPEG or PNG, at most 1,048,576 bytes and 50 megapixels". Given any
//! JPEG, PNG, WebP, GIF (first frame), BMP or TIFF, [`fit`]:
//!
//! 1. **refuses a damaged JPEG, PNG, GIF or BMP** exactly as it is refused without `--fit`
//!    (the server's structural rules, whatever the file's size): a truncated picture is
//!    never decoded, padded with grey and sent;
//! 2. if the picture already passes (and is no wider than `max_width`), sends it with its
//!    metadata removed **losslessly** (EXIF with its GPS position, XMP, IPTC, comments:
//!    segments dropped, coded data copied byte for byte; see [`meta`]), or byte for byte
//!    with `keep_metadata`;
//! 3. otherwise decodes it: JPEG through libjpeg-turbo's **DCT scaling** at the smallest
//!    `n/8` of its size that the output can need (see [`decode`] and
//!    [`FitReport::dct_scale`]), anything else in full; turns it upright per its EXIF
//!    orientation; the re-encode writes no metadata;
//! 4. keeps **PNG** for pictures with transparency or few colours (screenshots, diagrams,
//!    logos) if an optimised PNG (oxipng) fits;
//! 5. otherwise encodes **JPEG** with mozjpeg, searching the highest quality in
//!    `min_quality..=max_quality` whose output fits, then spending what is left of the
//!    byte budget on a fractional quality step (the [`jpeg`] module explains the encoder
//!    settings and the search);
//! 6. only if even `min_quality` (60) does not fit, scales the picture down (never up)
//!    just enough, and searches again.
//!
//! Every output is checked with the server's own [`Rules::check`] before it is returned,
//! and [`Fitted::report`] says what was done (and [`Fitted::warnings`] what was lost:
//! transparency flattened onto white, animation frames dropped).

mod compress;
pub mod decode;
mod huffman;
pub mod jpeg;
pub mod meta;
pub mod png;

use std::collections::HashSet;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use wximg_proto::{ErrCode, ImageFormat, Rules};

use self::jpeg::{Chroma, Pixels, Predictor};
use crate::error::{Error, Result};

/// Settings of [`fit`].
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// The limits to meet (the server's by default).
    pub rules: Rules,
    /// The lowest JPEG quality tried before scaling down.
    pub min_quality: u8,
    /// The highest JPEG quality tried.
    pub max_quality: u8,
    /// The largest picture decoded, in pixels ([`MAX_DECODE_PIXELS`] by default): a
    /// bigger one is refused from its header, before any pixel memory is taken. A JPEG
    /// counts by what its DCT-scaled decode holds.
    pub max_decode_pixels: u64,
    /// Send pictures that already pass byte for byte, metadata included (`--keep-metadata`).
    pub keep_metadata: bool,
    /// Make pictures at most this many pixels wide, as shown (`--max-width`; WeChat shows
    /// article pictures at most about 1080 px wide). `None`: as wide as they are.
    pub max_width: Option<u32>,
}

/// The choices a person makes about fitting (`--keep-metadata`, `--max-width`), carried
/// by batch uploads and `publish`; [`FitSettings::options`] makes the [`FitOptions`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FitSettings {
    /// See [`FitOptions::keep_metadata`].
    pub keep_metadata: bool,
    /// See [`FitOptions::max_width`].
    pub max_width: Option<u32>,
}

impl FitSettings {
    /// The options of a fit for a server judging by `rules`, with these settings and the
    /// defaults for the rest.
    pub fn options(self, rules: Rules) -> FitOptions {
        FitOptions {
            rules,
            keep_metadata: self.keep_metadata,
            max_width: self.max_width,
            ..FitOptions::default()
        }
    }
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
            // The top: a picture that fits at 95 with bytes to spare gains from them
            // (upscaled line art fitted at q95 left 26 % of the budget unused and scored
            // 0.16 SSIMULACRA2 below ImageMagick's extent search); the byte limit is the
            // upload's, not storage's.
            max_quality: 100,
            max_decode_pixels: MAX_DECODE_PIXELS,
            keep_metadata: false,
            max_width: None,
        }
    }
}

/// What [`fit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitOutcome {
    /// The input already passed; the pixels and coded data are the input's (its metadata
    /// may have been removed: see [`FitReport::metadata_removed`]).
    Unchanged,
    /// Re-encoded as an optimised PNG.
    Png,
    /// Re-encoded as JPEG at this quality (the integer part, when a fractional step used
    /// the rest of the budget); `scaled` if it had to be made smaller to fit the bytes.
    Jpeg { quality: u8, scaled: bool },
}

/// What [`fit`] found and did, for people (see [`Fitted::summary`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FitReport {
    /// The input's format ("JPEG", "PNG", "WebP", …).
    pub input_format: &'static str,
    /// The input's dimensions as stored (before orientation), when known.
    pub input_width: u32,
    pub input_height: u32,
    /// The input's size in bytes.
    pub input_bytes: usize,
    /// The kinds of metadata removed ("EXIF", "XMP", "IPTC", …). Re-encoded pictures
    /// carry none; this lists what a passing picture had removed losslessly.
    pub metadata_removed: Vec<&'static str>,
    /// A JPEG decoded with DCT scaling: the numerator `n` of the `n/8` scale used.
    pub dct_scale: Option<u8>,
    /// A PNG reduced `k` times each way while it was read (see [`png`]).
    pub png_reduction: Option<u32>,
    /// Transparent pixels were composited over white (the output is a JPEG).
    pub flattened_alpha: bool,
    /// 16 bits a sample were reduced to 8 in a PNG output (as they are shown).
    pub reduced_to_8_bits: bool,
    /// Animation frames after the first that were dropped.
    pub dropped_frames: u32,
}

/// A picture that passes the rules.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub outcome: FitOutcome,
    /// What was found and done.
    pub report: FitReport,
}

/// What a fit did, in words: [`Fitted::summary`] and [`Fitted::warnings`], with the
/// report they were made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitNote {
    pub summary: String,
    pub warnings: Vec<String>,
    pub report: FitReport,
    /// The output's format name ("JPEG", "PNG"), dimensions and JPEG quality.
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
    pub quality: Option<u8>,
}

impl Fitted {
    /// [`Fitted::summary`] and [`Fitted::warnings`] together.
    pub fn note(&self) -> FitNote {
        FitNote {
            summary: self.summary(),
            warnings: self.warnings(),
            report: self.report.clone(),
            format: self.format.name(),
            width: self.width,
            height: self.height,
            quality: match self.outcome {
                FitOutcome::Jpeg { quality, .. } => Some(quality),
                _ => None,
            },
        }
    }

    /// One line saying what was done, e.g. `JPEG 6000×4000 5,312,000 B → JPEG 3300×2200
    /// q71 1,046,220 B (decoded at 5/8)` or `unchanged: JPEG 800×600 (EXIF removed
    /// losslessly, 201,000 → 188,000 B)`.
    pub fn summary(&self) -> String {
        let r = &self.report;
        let before = format!(
            "{} {}×{} {} B",
            r.input_format,
            r.input_width,
            r.input_height,
            thousands(r.input_bytes)
        );
        let mut notes = Vec::new();
        if let Some(n) = r.dct_scale.filter(|&n| n < 8) {
            notes.push(format!("decoded at {n}/8"));
        }
        if let Some(k) = r.png_reduction {
            notes.push(format!("read at 1/{k}"));
        }
        if r.reduced_to_8_bits {
            notes.push("16-bit samples reduced to 8".into());
        }
        if !r.metadata_removed.is_empty() {
            notes.push(format!("{} removed", r.metadata_removed.join(", ")));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        let after = format!("{} {}×{}", self.format.name(), self.width, self.height);
        match self.outcome {
            FitOutcome::Unchanged if self.bytes.len() == r.input_bytes => {
                format!("unchanged: {before}{notes}")
            }
            FitOutcome::Unchanged => format!(
                "unchanged pixels: {before} → {} B{notes}",
                thousands(self.bytes.len())
            ),
            FitOutcome::Png => format!(
                "{before} → {after} lossless {} B{notes}",
                thousands(self.bytes.len())
            ),
            FitOutcome::Jpeg { quality, scaled } => format!(
                "{before} → {after} q{quality} {} B{}{notes}",
                thousands(self.bytes.len()),
                if scaled { ", scaled down to fit" } else { "" },
            ),
        }
    }

    /// What the fit lost that a person should know about.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.report.flattened_alpha {
            w.push("transparency flattened onto white (the picture is sent as a JPEG)".into());
        }
        if self.report.dropped_frames > 0 {
            w.push(format!(
                "animation dropped: only the first of {} frames is sent",
                self.report.dropped_frames + 1
            ));
        }
        w
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Rules with no size limits: the structure alone.
const STRUCTURE_ONLY: Rules = Rules {
    max_bytes: usize::MAX,
    max_pixels: u64::MAX,
};

/// The formats whose structure the rules know.
const STRUCTURED: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

/// Makes `input` pass `opts.rules` (see the module's documentation). CPU-bound: call it
/// from `spawn_blocking` in async code.
pub fn fit(input: &[u8], opts: &FitOptions) -> Result<Fitted> {
    let sniffed = wximg_proto::rules::sniff_format(input);
    let mut report = FitReport {
        input_format: sniffed
            .map(ImageFormat::name)
            .or_else(|| wximg_proto::rules::sniff_other(input))
            .unwrap_or("unknown"),
        input_bytes: input.len(),
        ..FitReport::default()
    };
    // 1. Damaged pictures are refused as without --fit, whatever their size.
    if sniffed.is_some() {
        match STRUCTURE_ONLY.check_as(input, STRUCTURED) {
            Ok(info) => (report.input_width, report.input_height) = (info.width, info.height),
            Err(r) if r.code == ErrCode::InvalidFileType => {
                return Err(Error::Fit(format!(
                    "{}: refused as without --fit (a damaged picture is not repaired)",
                    r.reason
                )));
            }
            Err(_) => {}
        }
    }
    if report.input_width == 0
        && let Some((w, h)) = header_dimensions(input)
    {
        (report.input_width, report.input_height) = (w, h);
    }
    let orientation = if sniffed == Some(ImageFormat::Jpeg) {
        meta::jpeg_orientation(input).unwrap_or(1)
    } else {
        1
    };
    let shown_width = if orientation >= 5 {
        report.input_height
    } else {
        report.input_width
    };
    let too_wide = opts.max_width.is_some_and(|m| shown_width > m);

    // 2. Already passes: send it, without its metadata unless asked to keep it.
    if !too_wide && let Ok(info) = opts.rules.check(input) {
        let mut bytes = input.to_vec();
        if !opts.keep_metadata
            && let Some(s) = meta::strip(input)
            && opts.rules.check(&s.bytes).is_ok()
        {
            bytes = s.bytes;
            report.metadata_removed = s.removed;
        }
        return Ok(Fitted {
            bytes,
            format: info.format,
            width: info.width,
            height: info.height,
            outcome: FitOutcome::Unchanged,
            report,
        });
    }

    report.dropped_frames = meta::frame_count(input).saturating_sub(1);
    let input_pixels = u64::from(report.input_width) * u64::from(report.input_height);
    if input_pixels > MAX_INPUT_PIXELS {
        return Err(Error::Fit(format!(
            "{}×{} is {input_pixels} pixels, more than --fit reads ({MAX_INPUT_PIXELS}); \
             scale it down first (e.g. `vipsthumbnail IN --size 8000x8000 -o OUT.jpg`)",
            report.input_width, report.input_height
        )));
    }
    if sniffed == Some(ImageFormat::Jpeg) && report.input_width > 0 {
        return fit_jpeg_input(input, orientation, opts, report);
    }
    if sniffed == Some(ImageFormat::Png)
        && let Some(k) = png_reduction(report.input_width, report.input_height, opts)
        && let Some(img) = png::decode_reduced(input, k)?
    {
        report.png_reduction = Some(k);
        return fit_decoded(img, Chroma::Full, opts, report);
    }
    let img = decode_upright_within(input, opts.max_decode_pixels)?;
    fit_decoded(img, Chroma::Full, opts, report)
}

/// The largest input `--fit` reads at all, in pixels (1 gigapixel), whatever it decodes
/// to: reading a picture's rows costs time in proportion to its size, even when only a
/// reduced copy is kept.
pub const MAX_INPUT_PIXELS: u64 = 1_000_000_000;

/// How many times smaller (each way) to read a PNG that must be made smaller, if that
/// is worth doing while reading (see [`png`]): `k = ⌈1/s⌉` for the scale `s` its limits
/// allow when that keeps at least 80 % of the pixels allowed (the 400 MP case: `k` = 3,
/// 44 MP of the 50 allowed); otherwise `⌊1/s⌋` when that is at least 2 (the precise
/// resize follows); otherwise `None` (read it whole), unless whole is over the decode
/// limit, when `⌈1/s⌉` it is.
fn png_reduction(w: u32, h: u32, opts: &FitOptions) -> Option<u32> {
    let pixels = f64::from(w) * f64::from(h);
    let mut cap = (opts.rules.max_pixels as f64 / pixels).sqrt();
    if let Some(m) = opts.max_width {
        cap = cap.min(f64::from(m) / f64::from(w));
    }
    if cap >= 1.0 {
        return None;
    }
    let reduced = |k: u32| {
        let (rw, rh) = png::reduced_size(w, h, k);
        u64::from(rw) * u64::from(rh)
    };
    let up = (1.0 / cap).ceil() as u32;
    let down = (1.0 / cap).floor() as u32;
    let cap_pixels = pixels * cap * cap;
    if reduced(up) as f64 >= cap_pixels * 0.8 || down < 2 && reduced(1) > opts.max_decode_pixels {
        Some(up.max(2))
    } else if down >= 2 && reduced(down) <= opts.max_decode_pixels {
        Some(down)
    } else {
        None
    }
}

/// Below this many output pixels a JPEG is decoded at the size its limits allow without
/// estimating the byte budget first (the estimate would cost more than it saves).
const ESTIMATE_ABOVE: f64 = 4_000_000.0;

/// Step 3 for a JPEG: decode at the smallest `n/8` that the output can need, fit, and if
/// the output turned out to want more pixels than were decoded (the estimate was low),
/// decode bigger and fit again.
fn fit_jpeg_input(
    input: &[u8],
    orientation: u8,
    opts: &FitOptions,
    mut report: FitReport,
) -> Result<Fitted> {
    let (w, h) = (report.input_width, report.input_height);
    let source = jpeg::jpeg_chroma(input).unwrap_or(Chroma::Full);
    // The scale the limits alone allow (pixels, width as shown).
    let shown_w = if orientation >= 5 { h } else { w };
    let pixels = f64::from(w) * f64::from(h);
    let mut cap = (opts.rules.max_pixels as f64 / pixels).sqrt().min(1.0);
    if let Some(m) = opts.max_width {
        cap = cap.min(f64::from(m) / f64::from(shown_w));
    }
    let cap_pixels = pixels * cap * cap;
    let mut scale = cap;
    if cap_pixels > ESTIMATE_ABOVE {
        scale = scale.min(estimate_scale(input, opts));
    }
    let mut n = numerator_for(scale);
    // Decoding costs about the same at any scale (the entropy decoding of every
    // coefficient dominates: 135 ms at 5/8 and at 8/8 for a 12.7 MB 12 MP JPEG), so for
    // a picture of at most `WHOLE_DECODE_PIXELS` whose estimate saves under 60 % of its
    // pixels, a decode at the cap costs no more, and saves the decodes in between when
    // the estimate was low. If it then does not fit at `min_quality`, the search scales
    // it down.
    if cap_pixels <= WHOLE_DECODE_PIXELS && n >= 5 {
        n = numerator_for(cap);
    }
    loop {
        let (dw, dh) = scaled_size_checked(w, h, n, opts.max_decode_pixels)?;
        let img = match decode::decode_scaled(input, n)? {
            Some(img) => img,
            None => {
                // CMYK: the general decoder, at full size.
                let img = decode_upright_within(input, opts.max_decode_pixels)?;
                return fit_decoded(img, source, opts, report);
            }
        };
        debug_assert_eq!((img.width(), img.height()), (dw, dh));
        // Below the largest decode the limits allow: where a bigger decode would go (or
        // that none is worth it), decided while these pixels are at hand. A picture
        // predicted to fit even at `min_quality` with room to spare would fit whole here
        // and be decoded bigger after that search: skip the search, and decode bigger now.
        let decoded_pixels = f64::from(dw) * f64::from(dh);
        let at_min = if n < numerator_for(cap) && decoded_pixels < cap_pixels * 0.98 {
            predicted_at_min(&img, opts)?
        } else {
            None
        };
        let bigger = match at_min {
            Some(at_min) => grown_numerator(n, cap, &img, at_min, opts)?,
            None => Some(next_numerator(n, cap)),
        };
        if let (Some(at_min), Some(next)) = (at_min, bigger)
            && at_min <= opts.rules.max_bytes as f64 * SURELY_FITS
        {
            n = next;
            continue;
        }
        let mut img = img;
        if let Some(o) = image::metadata::Orientation::from_exif(orientation) {
            img.apply_orientation(o);
        }
        report.dct_scale = Some(n);
        let fitted = fit_decoded(img, source, opts, report.clone())?;
        let byte_scaled = matches!(fitted.outcome, FitOutcome::Jpeg { scaled: true, .. });
        let out_pixels = f64::from(fitted.width) * f64::from(fitted.height);
        // Fitted at the whole decoded size, and the limits allow more: decode bigger.
        match bigger {
            Some(next) if n < 8 && !byte_scaled && out_pixels < cap_pixels * 0.98 => n = next,
            _ => return Ok(fitted),
        }
    }
}

/// See [`fit_jpeg_input`]: up to 16 MP, an estimate of 5/8 or more decodes at the cap.
const WHOLE_DECODE_PIXELS: f64 = 16_000_000.0;

/// The next decode after `n/8`: a third bigger, at least one step, at most the cap.
fn next_numerator(n: u8, cap: f64) -> u8 {
    (n + n.div_ceil(3))
        .min(numerator_for(cap))
        .max(n + 1)
        .min(8)
}

/// The decode after `n/8`, whose picture `img` is predicted to be `at_min` bytes at
/// `min_quality`: the numerator where the bytes should reach the limit, at least one step
/// more, at most the cap. `None` when that decode would be
/// shrunk (by [`fit_decoded`]'s rule, which assumes bytes follow pixels) below `n/8`:
/// the picture at hand is then the bigger output, and one decode is saved.
///
/// Bytes grow as `scale^k`, with `k` from 2 (a picture with as much detail per pixel at
/// every size) to about 4 (grain, which a smaller decode averages away: 3.5 between the
/// 3/8, 4/8 and 6/8 decodes of the grainy benchmark photo). `k` is measured on `img`
/// itself, shrunk to 3/4, and taken as at least 3: measured at a small scale it misses
/// the noise that only the bigger decodes resolve (2.35 measured at 4/8 of a test photo
/// whose bytes then grew with `k` ≈ 3.7 up to 8/8; 2.5 against 3.7 for the clean
/// benchmark photo), and a jump with `k` too low decodes pixels the output cannot keep.
fn grown_numerator(
    n: u8,
    cap: f64,
    img: &DynamicImage,
    at_min: f64,
    opts: &FitOptions,
) -> Result<Option<u8>> {
    const SHRINK: f64 = 0.75;
    let max = opts.rules.max_bytes as f64;
    let room = max / at_min;
    let cap_n = numerator_for(cap);
    let fitting = |k: f64| f64::from(n) / 8.0 * room.powf(1.0 / k);
    // Even at the fastest growth the bytes stay under the limit up to the cap: no need
    // to measure.
    if numerator_for(fitting(4.0).min(cap)) >= cap_n {
        return Ok(Some(cap_n));
    }
    // Too small to sample once shrunk: one step (its decode is cheap).
    let k = match predicted_at_min(&resize(img, SHRINK), opts)? {
        Some(p) if p > 0.0 && at_min > p => (at_min / p).ln() / (1.0 / SHRINK).ln(),
        _ => return Ok(Some(next_numerator(n, cap))),
    }
    .clamp(3.0, 4.0);
    let next = numerator_for(fitting(k).min(cap)).max(n + 1).min(cap_n);
    let (here, there) = (f64::from(n) / 8.0, f64::from(next) / 8.0);
    let bytes_there = at_min * (there / here).powf(k);
    let kept = if bytes_there <= max {
        there
    } else {
        there * shrink_for(max, bytes_there)
    };
    Ok((kept > here).then_some(next))
}

/// A decode predicted (by the JPEG search's sample, uncalibrated: within ~1 % on the
/// benchmark pictures) to fit at `min_quality` by at least this margin is taken to fit.
const SURELY_FITS: f64 = 0.9;

/// A picture predicted (see [`SURELY_FITS`]) to exceed the limit at `min_quality` by this
/// factor is shrunk without a search: a misprediction this large would need the sampled
/// bands to differ from the rest by a quarter.
const SURELY_TOO_BIG: f64 = 1.25;

/// The predicted size of `img` as a JPEG at `min_quality` (see [`jpeg::Predictor`]);
/// `None` for a picture too small to sample (its search is quick anyway).
fn predicted_at_min(img: &DynamicImage, opts: &FitOptions) -> Result<Option<f64>> {
    let grey = !img.color().has_color();
    let converted;
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => {
            converted = other.to_rgb8();
            &converted
        }
    };
    let px = Pixels::new(rgb, grey);
    match Predictor::new(&px, Chroma::Half) {
        Some(mut p) => Ok(Some(p.predict(opts.min_quality)?)),
        None => Ok(None),
    }
}

/// The smallest `n` with `n/8 ≥ scale`.
fn numerator_for(scale: f64) -> u8 {
    ((scale * 8.0 - 1e-9).ceil() as i64).clamp(1, 8) as u8
}

fn scaled_size_checked(w: u32, h: u32, n: u8, max_pixels: u64) -> Result<(u32, u32)> {
    let (dw, dh) = decode::scaled_size(w, h, n);
    let px = u64::from(dw) * u64::from(dh);
    if px > max_pixels {
        return Err(Error::Fit(format!(
            "{w}×{h} decodes at {n}/8 to {px} pixels, more than --fit decodes \
             ({max_pixels}); scale it down first (e.g. `vipsthumbnail IN --size 8000x8000 -o OUT.jpg`)"
        )));
    }
    Ok((dw, dh))
}

/// Estimates, from the header alone, a scale (of the stored size) at which the picture
/// surely fits at `min_quality`, or more: see [`decode::fitting_scale`]. A margin lifts
/// it further, and [`fit_jpeg_input`] decodes bigger if it was still low.
fn estimate_scale(input: &[u8], opts: &FitOptions) -> f64 {
    decode::fitting_scale(input, opts.min_quality, opts.rules.max_bytes)
        .map_or(1.0, |s| (s * ESTIMATE_MARGIN).min(1.0))
}

/// How much bigger than the estimate a JPEG is decoded (see [`estimate_scale`]).
const ESTIMATE_MARGIN: f64 = 1.1;

/// Width and height from the header alone (no pixel decoded), if it can be read.
fn header_dimensions(input: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Width × height from the picture's header alone (no pixel decoded), if it can be read.
pub fn header_pixels(input: &[u8]) -> Option<u64> {
    header_dimensions(input).map(|(w, h)| u64::from(w) * u64::from(h))
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
    let report = FitReport {
        input_format: "pixels",
        input_width: img.width(),
        input_height: img.height(),
        ..FitReport::default()
    };
    fit_decoded(img, Chroma::Full, opts, report)
}

/// [`fit_image`], knowing the chroma resolution of the source (`Half` for a 4:2:0 JPEG).
fn fit_decoded(
    mut img: DynamicImage,
    source: Chroma,
    opts: &FitOptions,
    mut report: FitReport,
) -> Result<Fitted> {
    let rules = &opts.rules;
    // Over the pixel limit or --max-width: shrink to them first (the byte search may
    // shrink further).
    let pixels = u64::from(img.width()) * u64::from(img.height());
    let mut s = 1.0f64;
    if pixels > rules.max_pixels {
        s = (rules.max_pixels as f64 / pixels as f64).sqrt() * 0.999;
    }
    if let Some(m) = opts.max_width
        && img.width() > m
    {
        s = s.min(f64::from(m) / f64::from(img.width()));
    }
    if s < 1.0 {
        img = resize(&img, s);
    }

    let transparent = has_transparency(&img);
    if (transparent || few_colours(&img, 256))
        && let Some((png, reduced)) = encode_png(&img, rules.max_bytes)?
    {
        report.reduced_to_8_bits = reduced;
        return finish(png, rules, FitOutcome::Png, report);
    }
    report.flattened_alpha = transparent;

    let grey = !img.color().has_color();
    let mut rgb = flatten(img);
    let mut scaled = false;
    loop {
        let at_min = match fit_jpeg(&rgb, grey, source, opts)? {
            Ok((q, jpeg)) => {
                return finish(jpeg, rules, FitOutcome::Jpeg { quality: q, scaled }, report);
            }
            Err(size) => size,
        };
        let s = shrink_for(rules.max_bytes as f64, at_min as f64);
        let (w, h) = rgb.dimensions();
        if w <= 16 || h <= 16 {
            return Err(Error::Fit(format!(
                "{w}×{h} at quality {} is still {at_min} bytes",
                opts.min_quality,
            )));
        }
        rgb = resize(&DynamicImage::ImageRgb8(rgb), s).into_rgb8();
        scaled = true;
    }
}

/// The scale a picture of `at_min` bytes at `min_quality`, over `max`, is shrunk by: so
/// that it should fit if bytes followed pixels, with some margin.
fn shrink_for(max: f64, at_min: f64) -> f64 {
    ((max / at_min).sqrt() * 0.92).min(0.9)
}

fn finish(bytes: Vec<u8>, rules: &Rules, outcome: FitOutcome, report: FitReport) -> Result<Fitted> {
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
        report,
    })
}

/// `img` scaled by `scale` (Catmull-Rom). fast_image_resize keeps `u8` intermediates
/// where image's own resize keeps an `f32` copy of the picture (four times the bytes: 122
/// MB for the 24 MP benchmark scaled from its 6/8 decode), and is several times faster.
///
/// RGB and grey pictures (all that a JPEG decodes to) are resized in bands of
/// [`RESIZE_BAND`] output rows: fast_image_resize's intermediate holds the source's width
/// times the rows it writes (31 MB for the grainy benchmark photo in one piece, 2 MB a
/// band). Each band is the same resize with the source cropped to the band's rows; the
/// crop only places the filter (its taps still read the rows around it), so the bands
/// join with no seam and the result equals a resize in one piece.
fn resize(img: &DynamicImage, scale: f64) -> DynamicImage {
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    let w = ((f64::from(img.width()) * scale).floor() as u32).clamp(1, img.width());
    let h = ((f64::from(img.height()) * scale).floor() as u32).clamp(1, img.height());
    let mut out = DynamicImage::new(w, h, img.color());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    let mut resizer = Resizer::new();
    // `out` has `img`'s pixel type.
    let bands = match &mut out {
        DynamicImage::ImageRgb8(o) => Some((&mut **o, PixelType::U8x3)),
        DynamicImage::ImageLuma8(o) => Some((&mut **o, PixelType::U8)),
        _ => None,
    };
    let banded = bands.and_then(|(bytes, pixel)| {
        let (src_w, src_h) = (f64::from(img.width()), f64::from(img.height()));
        let src_rows_per_row = src_h / f64::from(h);
        let row_bytes = w as usize * pixel.size();
        for (i, band) in bytes
            .chunks_mut(row_bytes * RESIZE_BAND as usize)
            .enumerate()
        {
            let rows = (band.len() / row_bytes) as u32;
            let top = f64::from(i as u32 * RESIZE_BAND) * src_rows_per_row;
            let height = (f64::from(rows) * src_rows_per_row).min(src_h - top);
            let mut dst =
                fast_image_resize::images::Image::from_slice_u8(w, rows, band, pixel).ok()?;
            resizer
                .resize(img, &mut dst, &options.crop(0.0, top, src_w, height))
                .ok()?;
        }
        Some(())
    });
    if banded.is_some() {
        return out;
    }
    match resizer.resize(img, &mut out, &options) {
        Ok(()) => out,
        // A pixel type it does not take (none that fit decodes to): image's own resize.
        Err(_) => img.resize_exact(w, h, image::imageops::FilterType::CatmullRom),
    }
}

/// Output rows a band of [`resize`] writes.
const RESIZE_BAND: u32 = 128;

/// PNG suits pictures with transparency or with few colours (graphics, screenshots).
#[cfg(test)]
fn wants_png(img: &DynamicImage) -> bool {
    has_transparency(img) || few_colours(img, 256)
}

/// Whether any pixel is not fully opaque.
fn has_transparency(img: &DynamicImage) -> bool {
    match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => false,
        DynamicImage::ImageRgba8(rgba) => rgba.pixels().any(|p| p.0[3] != 255),
        other => other.color().has_alpha() && other.to_rgba8().pixels().any(|p| p.0[3] != 255),
    }
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

/// An optimised PNG, or `None` if it cannot fit in `max_bytes`; with it, whether 16-bit
/// samples were reduced to 8 (see [`indexed_png`]).
fn encode_png(img: &DynamicImage, max_bytes: usize) -> Result<Option<(Vec<u8>, bool)>> {
    if let Some((png, reduced)) = indexed_png(img)?
        && png.len() <= max_bytes
    {
        return Ok(Some((png, reduced)));
    }
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
    let fits = |png: Vec<u8>| (png.len() <= max_bytes).then_some((png, false));
    // Nor on a huge one: oxipng holds several filtered copies of the picture at once
    // (1.1 GB peak for 44 MP, measured), and screenshots and diagrams are far smaller.
    if u64::from(img.width()) * u64::from(img.height()) > OXIPNG_MAX_PIXELS {
        return Ok(fits(raw));
    }
    // Preset 1 with a short timeout: preset 2 took 4.6 s on a 6 MP text picture (5.5× ImageMagick's
    // whole extent search) for a few per cent more.
    let mut o = oxipng::Options::from_preset(1);
    o.strip = oxipng::StripChunks::All;
    o.timeout = Some(std::time::Duration::from_secs(2));
    let png = oxipng::optimize_from_memory(&raw, &o).unwrap_or(raw);
    Ok(fits(png))
}

/// The picture as an indexed (palette) PNG if it has at most 256 colours at 8 bits a
/// sample (alpha included), with whether it had more bits a sample; `None` otherwise.
/// One byte a pixel instead of three to eight, made directly: oxipng's search found the
/// same kind of reduction in 1.4 s on a 6 MP text-on-flat-colour picture (BENCHMARKS.md).
///
/// Lossless at 8 bits a sample. A 16-bit picture (ImageMagick writes many) is reduced to
/// 8 bits, as screens and the platform's pages show it: that is when [`few_colours`]
/// (which counts at 8 bits) chose PNG for it in the first place.
fn indexed_png(img: &DynamicImage) -> Result<Option<(Vec<u8>, bool)>> {
    let eight;
    let (img, reduced) = match img {
        DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => {
            eight = DynamicImage::ImageRgba8(img.to_rgba8());
            (&eight, true)
        }
        _ => (img, false),
    };
    let (w, h) = (img.width(), img.height());
    let found = match img {
        DynamicImage::ImageRgb8(p) => palette_indices(p.pixels().map(|c| [c[0], c[1], c[2], 255])),
        DynamicImage::ImageRgba8(p) => palette_indices(p.pixels().map(|c| c.0)),
        DynamicImage::ImageLuma8(p) => palette_indices(p.pixels().map(|c| [c[0], c[0], c[0], 255])),
        DynamicImage::ImageLumaA8(p) => {
            palette_indices(p.pixels().map(|c| [c[0], c[0], c[0], c[1]]))
        }
        _ => return Ok(None), // floating-point samples: left to the general encoder
    };
    let Some((palette, indices)) =
        found.map_err(|_| Error::Fit(format!("{w}×{h} does not fit in memory")))?
    else {
        return Ok(None);
    };
    let bad = |e: &dyn std::fmt::Display| Error::Fit(format!("PNG encoding failed: {e}"));
    let mut out = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut out, w, h);
    encoder.set_color(::png::ColorType::Indexed);
    encoder.set_depth(::png::BitDepth::Eight);
    encoder.set_palette(
        palette
            .iter()
            .flat_map(|c| [c[0], c[1], c[2]])
            .collect::<Vec<u8>>(),
    );
    if palette.iter().any(|c| c[3] != 255) {
        encoder.set_trns(palette.iter().map(|c| c[3]).collect::<Vec<u8>>());
    }
    encoder.set_compression(PALETTE_COMPRESSION);
    // Palette indices are not magnitudes: filtering them rarely helps (libpng's advice).
    encoder.set_filter(::png::Filter::NoFilter);
    let mut writer = encoder.write_header().map_err(|e| bad(&e))?;
    writer.write_image_data(&indices).map_err(|e| bad(&e))?;
    writer.finish().map_err(|e| bad(&e))?;
    Ok(Some((out, reduced)))
}

const PALETTE_COMPRESSION: ::png::Compression = ::png::Compression::Balanced;

/// A picture as its palette (RGBA) and one palette index per pixel.
type Indexed = (Vec<[u8; 4]>, Vec<u8>);

/// The distinct colours of `pixels` in order of first appearance, and each pixel's
/// index among them; `Ok(None)` past 256 colours, `Err` if the indices' memory cannot
/// be had.
fn palette_indices(
    pixels: impl ExactSizeIterator<Item = [u8; 4]>,
) -> std::result::Result<Option<Indexed>, std::collections::TryReserveError> {
    let mut palette: Vec<[u8; 4]> = Vec::with_capacity(256);
    let mut index: std::collections::HashMap<[u8; 4], u8> =
        std::collections::HashMap::with_capacity(256);
    let mut indices = Vec::new();
    indices.try_reserve_exact(pixels.len())?;
    // Neighbouring pixels are mostly the same colour: look the map up only on a change.
    let mut last: Option<([u8; 4], u8)> = None;
    for c in pixels {
        let at = match last {
            Some((l, at)) if l == c => at,
            _ => {
                let at = match index.get(&c) {
                    Some(&at) => at,
                    None if palette.len() == 256 => return Ok(None),
                    None => {
                        let at = palette.len() as u8;
                        palette.push(c);
                        index.insert(c, at);
                        at
                    }
                };
                last = Some((c, at));
                at
            }
        };
        indices.push(at);
    }
    Ok(Some((palette, indices)))
}

/// The largest picture optimised with oxipng (see [`encode_png`]).
const OXIPNG_MAX_PIXELS: u64 = 12_000_000;

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
/// even that does not fit (predicted, not encoded, when it is [`SURELY_TOO_BIG`]).
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
    // Predicted well over even at `lo`: the caller shrinks the picture by the predicted
    // size, without the full encodes that would only measure it.
    if let Some(p) = pred.as_mut() {
        let at_lo = p.predict(lo)?;
        if at_lo > max as f64 * SURELY_TOO_BIG {
            return Ok(Err(at_lo.round() as usize));
        }
    }
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
    let mut tables = |q: u8| match pred.as_mut() {
        Some(p) => p.tables(&px, q),
        None => Ok(None),
    };
    match (found.best, found.at_lo) {
        (Some((q, bytes)), _) if q < hi => {
            let t = tables(q)?;
            Ok(Ok((
                q,
                jpeg::refine(&px, chroma, t.as_ref(), q, bytes, max)?,
            )))
        }
        (Some(best), _) => Ok(Ok(best)),
        (None, Some(size)) => Ok(Err(size)),
        (None, None) => {
            let t = tables(lo)?;
            Ok(Err(px
                .encode_with(f32::from(lo), chroma, t.as_ref())?
                .len()))
        }
    }
}

/// The integration tests' photo-like pictures, for the unit tests.
#[cfg(test)]
#[path = "../tests/common/photo.rs"]
mod test_photo;

#[cfg(test)]
mod tests {
    use super::test_photo as photo;
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
        // A smaller claim is read a row at a time into a reduced copy (PNG), so a bomb
        // costs only the rows it really has: it fails at once on the missing data.
        let lower = FitOptions {
            max_decode_pixels: 60_000_000,
            ..FitOptions::default()
        };
        let err = fit(&png_bomb(9_000, 9_000), &lower).expect_err("81 MP with no data");
        assert!(err.to_string().contains("PNG"), "{err}");
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

    /// Few colours become an indexed PNG whose pixels are exactly the picture's, alpha
    /// included (a `tRNS` chunk); more than 256 colours, none.
    #[test]
    fn few_colours_become_an_exact_indexed_png() {
        let rgba = image::RgbaImage::from_fn(400, 300, |x, y| {
            let i = ((x / 25) + (y / 25) * 16) % 256;
            image::Rgba([
                i as u8,
                (255 - i) as u8,
                (i * 7) as u8,
                if i % 5 == 0 { 0 } else { 255 },
            ])
        });
        let img = DynamicImage::ImageRgba8(rgba.clone());
        let (png, reduced) = indexed_png(&img).unwrap().expect("256 colours: indexed");
        assert!(!reduced);
        let mut decoder = ::png::Decoder::new(Cursor::new(&png));
        decoder.set_transformations(::png::Transformations::IDENTITY);
        let reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().color_type, ::png::ColorType::Indexed);
        assert!(reader.info().trns.is_some());
        let back = image::load_from_memory(&png).unwrap().into_rgba8();
        assert_eq!(back, rgba, "the indexed PNG changed pixels");
        // An opaque picture has no tRNS; one colour more than 256 is no palette.
        let opaque = DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8());
        let (png, _) = indexed_png(&opaque).unwrap().unwrap();
        let reader = ::png::Decoder::new(Cursor::new(&png)).read_info().unwrap();
        assert!(reader.info().trns.is_none());
        let many = DynamicImage::ImageRgb8(RgbImage::from_fn(257, 1, |x, _| {
            image::Rgb([(x % 256) as u8, (x / 256) as u8, 0])
        }));
        assert!(indexed_png(&many).unwrap().is_none());
    }

    /// A 16-bit PNG of few colours (as ImageMagick writes text on a flat colour) is sent
    /// as an 8-bit indexed PNG, and the summary says its samples were reduced.
    #[test]
    fn a_16_bit_picture_of_few_colours_is_sent_as_an_8_bit_palette() {
        // Noise in the low bits that 8 bits do not show, which oxipng could not drop
        // losslessly: a raw 16-bit PNG of it is far above the limit.
        let mut s = 7u32;
        let img = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(1500, 1000, |x, y| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let low = ((s >> 16) % 100) as u16;
            let base: u16 = if (x / 40 + y / 40) % 2 == 0 {
                0x1a00
            } else {
                0xe800
            };
            image::Rgb([base + low, 0x7300 + low, 0xe800 + low])
        });
        let mut input = Vec::new();
        DynamicImage::ImageRgb16(img)
            .write_to(&mut Cursor::new(&mut input), image::ImageFormat::Png)
            .unwrap();
        assert!(
            input.len() > 1 << 20,
            "{} bytes: passes already",
            input.len()
        );
        let out = fit(&input, &FitOptions::default()).unwrap();
        assert_eq!(out.outcome, FitOutcome::Png);
        assert!(out.report.reduced_to_8_bits);
        assert!(
            out.summary().contains("16-bit samples reduced to 8"),
            "{}",
            out.summary()
        );
        let reader = ::png::Decoder::new(Cursor::new(&out.bytes))
            .read_info()
            .unwrap();
        assert_eq!(reader.info().color_type, ::png::ColorType::Indexed);
        let back = image::load_from_memory(&out.bytes).unwrap().into_rgb8();
        let want = image::load_from_memory(&input).unwrap().into_rgb8();
        assert_eq!(back, want, "not the picture at 8 bits a sample");
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

    /// A grainy photo (its bytes fall much faster than its pixels when decoded smaller,
    /// so the header's estimate is low) takes at most two decodes, and none is wasted:
    /// the output is never smaller than a decode that was thrown away. (Before the growth
    /// was measured this took 3/8, 4/8 and 6/8, and shrank the last to 1836 px wide.)
    #[test]
    fn a_low_estimate_is_corrected_without_wasted_decodes() {
        let img = photo::photo_like(4800, 3200, 7, 25.0);
        let input = Pixels::new(&img, false).encode(95, Chroma::Full).unwrap();
        let opts = FitOptions {
            rules: Rules {
                max_bytes: 400_000,
                ..Rules::default()
            },
            ..FitOptions::default()
        };
        decode::DECODES.with(|d| d.borrow_mut().clear());
        let out = fit(&input, &opts).unwrap();
        let decodes = decode::DECODES.with(|d| d.borrow().clone());
        assert!(decodes.len() <= 2, "{decodes:?}: {}", out.summary());
        assert!(decodes[0] < 8, "{decodes:?}: the estimate decodes smaller");
        for &n in &decodes {
            let (w, _) = decode::scaled_size(4800, 3200, n);
            assert!(out.width >= w.min(4800), "{decodes:?}: {}", out.summary());
        }
        assert!(out.bytes.len() <= 400_000);
    }

    /// The banded resize equals fast_image_resize's resize in one piece (a crop that
    /// clamped the filter to the band would leave a seam every `RESIZE_BAND` rows), for
    /// RGB and for grey, at scales that do and do not divide evenly.
    #[test]
    fn a_banded_resize_equals_one_in_one_piece() {
        use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
        let rgb = DynamicImage::ImageRgb8(grainy(500, 1000, 90));
        let grey = DynamicImage::ImageLuma8(rgb.to_luma8());
        for img in [rgb, grey] {
            for scale in [0.757, 0.5, 0.3333] {
                let banded = resize(&img, scale);
                assert!(banded.height() > 2 * RESIZE_BAND, "{}", banded.height());
                let mut whole = DynamicImage::new(banded.width(), banded.height(), img.color());
                let options =
                    ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
                Resizer::new().resize(&img, &mut whole, &options).unwrap();
                let worst = banded
                    .as_bytes()
                    .iter()
                    .zip(whole.as_bytes())
                    .map(|(a, b)| a.abs_diff(*b))
                    .max();
                assert_eq!(worst, Some(0), "{:?} at {scale}", img.color());
            }
        }
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

    /// A picture far over the limit at `min_quality` is judged from the prediction (no
    /// full encode), and the prediction is close enough that the shrink it leads to still
    /// spends most of the budget.
    #[test]
    fn far_over_at_min_quality_is_shrunk_from_the_prediction() {
        let opts = FitOptions::default();
        let rough = grainy(3200, 2400, 120);
        let before = jpeg::PIXELS_ENCODED.with(|n| n.get());
        let Err(predicted) = fit_jpeg(&rough, false, Chroma::Half, &opts).unwrap() else {
            panic!("fitted at min quality")
        };
        let encoded = jpeg::PIXELS_ENCODED.with(|n| n.get()) - before;
        assert!(
            encoded < u64::from(rough.width() * rough.height()),
            "{encoded} pixels encoded: a full encode"
        );
        let max = opts.rules.max_bytes as f64;
        assert!(predicted as f64 > max * SURELY_TOO_BIG, "{predicted}");
        let real = Pixels::new(&rough, false)
            .encode(opts.min_quality, Chroma::Half)
            .unwrap()
            .len();
        let off = (predicted as f64 / real as f64 - 1.0).abs();
        assert!(off < 0.05, "predicted {predicted}, encoded {real}");

        let input = Pixels::new(&rough, false).encode(95, Chroma::Half).unwrap();
        let out = fit(&input, &opts).unwrap();
        assert!(
            matches!(out.outcome, FitOutcome::Jpeg { scaled: true, .. }),
            "{:?}",
            out.outcome
        );
        assert!(
            out.bytes.len() as f64 > max * 0.7,
            "{} bytes",
            out.bytes.len()
        );
    }
}
