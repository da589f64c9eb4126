//! The BMP rule: the file header; a known info header (core, or Windows v1–v5) with sane
//! fields — one plane, a bit depth and compression that go together, non-zero
//! dimensions; the pixel array where the header's offset puts it, and whole: every row
//! of an uncompressed or bit-field picture, every run of an RLE one up to its
//! end-of-bitmap. Bytes after the pixel array are tolerated (writers pad). Nothing is
//! decoded beyond walking the RLE runs.

use std::fmt;

use super::{Rejection, Rules, truncated};

fn corrupt(what: impl fmt::Display) -> Rejection {
    Rejection::file_type(format!("corrupt BMP: {what}"))
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

const FILE_HEADER: usize = 14;

/// Checks a BMP's headers and pixel array; returns its dimensions.
pub(super) fn bmp(b: &[u8], max_pixels: u64) -> Result<(u32, u32), Rejection> {
    // "BM" was checked by the caller.
    let (Some(offset), Some(info_len)) = (u32_le(b, 10), u32_le(b, 14)) else {
        return Err(truncated());
    };
    let (offset, info_len) = (offset as usize, info_len as usize);
    let info = FILE_HEADER;
    let (width, height, planes, bpp, compression) = match info_len {
        12 => {
            let (Some(w), Some(h), Some(planes), Some(bpp)) = (
                u16_le(b, info + 4),
                u16_le(b, info + 6),
                u16_le(b, info + 8),
                u16_le(b, info + 10),
            ) else {
                return Err(truncated());
            };
            (i64::from(w), i64::from(h), planes, bpp, 0)
        }
        40 | 52 | 56 | 64 | 108 | 124 => {
            let (Some(w), Some(h), Some(planes), Some(bpp), Some(compression)) = (
                u32_le(b, info + 4),
                u32_le(b, info + 8),
                u16_le(b, info + 12),
                u16_le(b, info + 14),
                u32_le(b, info + 16),
            ) else {
                return Err(truncated());
            };
            (
                i64::from(w as i32),
                i64::from(h as i32),
                planes,
                bpp,
                compression,
            )
        }
        other => return Err(corrupt(format_args!("info header of {other} bytes"))),
    };
    if b.len() < info + info_len {
        return Err(truncated());
    }
    if planes != 1 {
        return Err(corrupt(format_args!("{planes} planes")));
    }
    let top_down = height < 0;
    let rows = height.unsigned_abs();
    if width <= 0 || rows == 0 || width > i64::from(i32::MAX) || rows > u64::from(i32::MAX as u32) {
        return Err(corrupt(format_args!("dimensions {width}×{height}")));
    }
    let (width, rows32) = (width as u32, rows as u32);
    Rules::pixels_ok(max_pixels, width, rows32)?;
    // Compression: 0 none, 1 RLE8, 2 RLE4, 3 bit fields, 6 bit fields with alpha.
    let depth_ok = match compression {
        0 => matches!(bpp, 1 | 4 | 8 | 16 | 24 | 32),
        1 => bpp == 8,
        2 => bpp == 4,
        3 | 6 => matches!(bpp, 16 | 32),
        _ => false,
    };
    if !depth_ok {
        return Err(corrupt(format_args!(
            "compression {compression} with {bpp} bits per pixel"
        )));
    }
    if top_down && matches!(compression, 1 | 2) {
        return Err(corrupt("a top-down RLE picture"));
    }
    // The pixel array starts after the headers (masks and palette may sit between).
    if offset < info + info_len {
        return Err(corrupt(format_args!("pixel data at byte {offset}")));
    }
    if offset >= b.len() {
        return Err(truncated());
    }
    let pixels = &b[offset..];
    match compression {
        1 | 2 => rle(pixels, compression == 2)?,
        _ => {
            let row = (u64::from(bpp) * u64::from(width)).div_ceil(32) * 4;
            if (pixels.len() as u64) < row * rows {
                return Err(truncated());
            }
        }
    }
    Ok((width, rows32))
}

/// Walks RLE8 (or RLE4) runs up to end-of-bitmap.
fn rle(b: &[u8], four_bit: bool) -> Result<(), Rejection> {
    let mut pos = 0;
    loop {
        let (Some(&count), Some(&value)) = (b.get(pos), b.get(pos + 1)) else {
            return Err(truncated());
        };
        pos += 2;
        if count > 0 {
            continue; // an encoded run: `count` pixels of `value`
        }
        match value {
            0 => {}             // end of line
            1 => return Ok(()), // end of bitmap
            2 => pos += 2,      // delta: right and down
            n => {
                // An absolute run of n pixels, padded to a 16-bit boundary.
                let bytes = if four_bit {
                    usize::from(n).div_ceil(2)
                } else {
                    usize::from(n)
                };
                pos += bytes + bytes % 2;
            }
        }
        if pos > b.len() {
            return Err(truncated());
        }
    }
}
