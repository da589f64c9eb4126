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

/// Output dimensions of a decode at `numerator/8` (libjpeg rounds up).
pub fn scaled_size(width: u32, height: u32, numerator: u8) -> (u32, u32) {
    let s = |v: u32| (u64::from(v) * u64::from(numerator)).div_ceil(8) as u32;
    (s(width), s(height))
}

/// Decodes `bytes` at `numerator/8` of its stored size (not turned upright). `None` for
/// a colour space this path does not handle (CMYK/YCCK): decode those another way.
pub fn decode_scaled(bytes: &[u8], numerator: u8) -> Result<Option<DynamicImage>> {
    let n = numerator.clamp(1, 8);
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

/// libjpeg's standard error manager with both exits unwinding: errors as usual, and
/// warnings (`emit_message` at level -1, e.g. "Premature end of JPEG file") as well.
fn strict_error_mgr() -> jpeg_error_mgr {
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
