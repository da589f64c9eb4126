//! JPEG decoding for `--fit` with libjpeg-turbo's DCT scaling (through mozjpeg): a picture
//! that will be sent smaller is decoded at `n/8` of its size (any `n` in 1..=8), so
//! decoding costs time and memory in proportion to what is kept, not to the input (a
//! 24 MP photo decoded at 5/8 holds 9.4 MP, at 1/8 only 0.4 MP).
//!
//! Every libjpeg **warning is an error** here: libjpeg "recovers" from a truncated or
//! corrupt scan by filling the rest with grey, and a fitted picture must never carry
//! that. (The server's structural rules run first and refuse truncated files; this
//! catches damage inside well-formed entropy data.)

use std::os::raw::c_int;

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr};

use crate::error::{Error, Result};

/// The JPEG standard's example luminance table (Annex K.1), the one libjpeg's `quality`
/// scales; only its sum is used, so the order does not matter.
const ANNEX_K_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// The libjpeg-equivalent quality of a JPEG, from its luminance quantisation table
/// (table 0) compared with Annex K: camera and phone tables are not libjpeg's, but their
/// coarseness lands on the same scale.
pub fn equivalent_quality(bytes: &[u8]) -> Option<f64> {
    let mut sum = None;
    super::meta::walk_jpeg_header(bytes, |marker, seg| {
        let mut i = 0;
        while marker == 0xDB && sum.is_none() && i < seg.len() {
            let (precision, id) = (seg[i] >> 4, seg[i] & 15);
            let n = if precision == 0 { 64 } else { 128 };
            let Some(table) = seg.get(i + 1..i + 1 + n) else {
                return;
            };
            if id == 0 {
                sum = Some(if precision == 0 {
                    table.iter().map(|&v| f64::from(v)).sum::<f64>()
                } else {
                    table
                        .chunks(2)
                        .map(|c| f64::from(u16::from_be_bytes([c[0], c[1]])))
                        .sum()
                });
            }
            i += 1 + n;
        }
    })?;
    let reference: f64 = ANNEX_K_LUMA.iter().map(|&v| f64::from(v)).sum();
    let percent = 100.0 * sum? / reference;
    Some(if percent <= 100.0 {
        (200.0 - percent) / 2.0
    } else {
        5000.0 / percent
    })
}

/// Size at quality 60 relative to the size at quality `q`, for photos (libjpeg-style
/// tables, 4:2:0, measured roughly; used only to choose how much to decode).
fn size_ratio_to_q60(q: f64) -> f64 {
    const POINTS: [(f64, f64); 8] = [
        (50.0, 1.2),
        (60.0, 1.0),
        (70.0, 0.83),
        (80.0, 0.68),
        (85.0, 0.6),
        (90.0, 0.5),
        (95.0, 0.38),
        (100.0, 0.22),
    ];
    let q = q.clamp(50.0, 100.0);
    POINTS.windows(2).find(|w| q <= w[1].0).map_or(0.22, |w| {
        let t = (q - w[0].0) / (w[1].0 - w[0].0);
        w[0].1 + t * (w[1].1 - w[0].1)
    })
}

/// A scale (of the stored size) at which the picture fits in `max_bytes` at `quality`,
/// or more, from the header alone: the coded data's size at the input's equivalent
/// quality, brought to `quality` by [`size_ratio_to_q60`], gives the full-size bytes
/// `b1`; a smaller picture has at least as much detail per pixel, so its bytes fall at
/// most with the pixel count, and `sqrt(max / b1)` is at least the scale that fits.
/// `None` if the header cannot tell (the caller decodes in full).
pub fn fitting_scale(bytes: &[u8], quality: u8, max_bytes: usize) -> Option<f64> {
    let coded = super::meta::jpeg_coded_len(bytes)? as f64;
    let q_in = equivalent_quality(bytes)?;
    let at_quality = coded * size_ratio_to_q60(q_in) / size_ratio_to_q60(f64::from(quality));
    Some((max_bytes as f64 / at_quality).sqrt())
}

/// Output dimensions of a decode at `numerator/8` (libjpeg rounds up).
pub fn scaled_size(width: u32, height: u32, numerator: u8) -> (u32, u32) {
    let s = |v: u32| (u64::from(v) * u64::from(numerator)).div_ceil(8) as u32;
    (s(width), s(height))
}

/// Decodes `bytes` at `numerator/8` of its stored size (not turned upright). `None` for
/// a colour space this path does not handle (CMYK/YCCK): decode those another way.
pub fn decode_scaled(bytes: &[u8], numerator: u8) -> Result<Option<DynamicImage>> {
    let n = numerator.clamp(1, 8);
    #[cfg(test)]
    DECODES.with(|d| d.borrow_mut().push(n));
    let run = || -> std::io::Result<Option<DynamicImage>> {
        let mut d = mozjpeg::Decompress::with_err(strict_error_mgr()).from_mem(bytes)?;
        d.scale(n);
        let img = match d.image()? {
            mozjpeg::Format::RGB(mut s) => {
                let (w, h) = (s.width() as u32, s.height() as u32);
                let data = s.read_scanlines::<u8>()?;
                s.finish()?;
                RgbImage::from_raw(w, h, data).map(DynamicImage::ImageRgb8)
            }
            mozjpeg::Format::Gray(mut s) => {
                let (w, h) = (s.width() as u32, s.height() as u32);
                let data = s.read_scanlines::<u8>()?;
                s.finish()?;
                GrayImage::from_raw(w, h, data).map(DynamicImage::ImageLuma8)
            }
            mozjpeg::Format::CMYK(_) => return Ok(None),
        };
        img.map(Some)
            .ok_or_else(|| std::io::Error::other("the decoder returned fewer pixels"))
    };
    // libjpeg reports errors (and here warnings) by unwinding; keep them inside.
    match std::panic::catch_unwind(run) {
        Ok(Ok(img)) => Ok(img),
        Ok(Err(e)) => Err(Error::Fit(format!("cannot decode the JPEG: {e}"))),
        Err(payload) => {
            let why = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "libjpeg failed".into());
            Err(Error::Fit(format!("cannot decode the JPEG: {why}")))
        }
    }
}

#[cfg(test)]
thread_local! {
    /// The numerators this thread has decoded at: lets a test count the decodes a fit took.
    pub static DECODES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// libjpeg's standard error manager with both exits unwinding: errors as usual, and
/// warnings (`emit_message` at level -1, e.g. "Premature end of JPEG file") as well.
pub(super) fn strict_error_mgr() -> jpeg_error_mgr {
    // SAFETY: jpeg_error_mgr is a plain C struct (function pointers, integers, pointers)
    // for which all-zero is a valid value, and jpeg_std_error fills in every field.
    let mut err: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(fail);
    err.emit_message = Some(warn);
    err
}

fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: libjpeg calls the error manager with `err` pointing at the manager built
    // above; format_message writes at most 80 bytes (JMSG_LENGTH_MAX) into the buffer.
    unsafe {
        let Some(err) = cinfo.err.as_ref() else {
            return "libjpeg error".into();
        };
        let code = err.msg_code;
        match err.format_message {
            Some(format) => {
                let buffer = [0u8; 80];
                format(cinfo, &buffer);
                let text = buffer.split(|&c| c == 0).next().unwrap_or_default();
                String::from_utf8_lossy(text).into_owned()
            }
            None => format!("libjpeg message {code}"),
        }
    }
}

extern "C-unwind" fn fail(cinfo: &mut jpeg_common_struct) {
    std::panic::resume_unwind(Box::new(message(cinfo)));
}

extern "C-unwind" fn warn(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        std::panic::resume_unwind(Box::new(message(cinfo)));
    }
}
