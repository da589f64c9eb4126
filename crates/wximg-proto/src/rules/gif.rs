//! The GIF rule: the header; the logical screen descriptor; the colour tables its flags
//! announce; every block — extensions and images, each with its chain of sub-blocks, each
//! image with a valid LZW minimum code size — up to the trailer; at least one image.
//! Bytes after the trailer are tolerated (as after a JPEG's EOI). Every block is walked,
//! no LZW code decoded.
//!
//! The size check covers the logical screen and every frame, so a small file cannot claim
//! a huge canvas or a huge frame.

use std::fmt;

use super::{Rejection, Rules, truncated};

fn corrupt(what: impl fmt::Display) -> Rejection {
    Rejection::file_type(format!("corrupt GIF: {what}"))
}

fn u16_le(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 2)
        .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
}

/// The bytes of a colour table announced by `flags` (bit 7: present; bits 0–2: size).
fn color_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 7) + 1)
    }
}

/// Skips a chain of data sub-blocks starting at `pos` (each a length byte and that many
/// bytes, ended by a zero length); returns the position after the terminator.
fn sub_blocks(b: &[u8], mut pos: usize) -> Result<usize, Rejection> {
    loop {
        let Some(&len) = b.get(pos) else {
            return Err(truncated());
        };
        pos += 1;
        if len == 0 {
            return Ok(pos);
        }
        pos += usize::from(len);
        if pos > b.len() {
            return Err(truncated());
        }
    }
}

/// Walks a GIF's blocks; returns its dimensions (the logical screen's, or the frames'
/// extent when the screen claims 0×0, as some encoders write).
pub(super) fn gif(b: &[u8], max_pixels: u64) -> Result<(u32, u32), Rejection> {
    // "GIF87a"/"GIF89a" was checked by the caller; the screen descriptor follows.
    let (Some(screen_w), Some(screen_h), Some(&flags)) = (u16_le(b, 6), u16_le(b, 8), b.get(10))
    else {
        return Err(truncated());
    };
    if b.len() < 13 {
        return Err(truncated());
    }
    Rules::pixels_ok(max_pixels, screen_w, screen_h)?;
    let mut pos = 13 + color_table_len(flags);
    let (mut extent_w, mut extent_h) = (0u32, 0u32);
    let mut images = 0usize;
    loop {
        let Some(&introducer) = b.get(pos) else {
            return Err(truncated());
        };
        pos += 1;
        match introducer {
            // Trailer: the end of the picture.
            0x3B => {
                if images == 0 {
                    return Err(corrupt("no image"));
                }
                let dims = if screen_w == 0 || screen_h == 0 {
                    (extent_w, extent_h)
                } else {
                    (screen_w, screen_h)
                };
                Rules::pixels_ok(max_pixels, dims.0, dims.1)?;
                return Ok(dims);
            }
            // Extension: a label, then sub-blocks (graphic control, comment, application…).
            0x21 => {
                if pos >= b.len() {
                    return Err(truncated());
                }
                pos = sub_blocks(b, pos + 1)?;
            }
            // Image descriptor: position, size, flags; a local colour table; the LZW
            // minimum code size; the image data's sub-blocks.
            0x2C => {
                let (Some(left), Some(top), Some(w), Some(h), Some(&flags)) = (
                    u16_le(b, pos),
                    u16_le(b, pos + 2),
                    u16_le(b, pos + 4),
                    u16_le(b, pos + 6),
                    b.get(pos + 8),
                ) else {
                    return Err(truncated());
                };
                if w == 0 || h == 0 {
                    return Err(corrupt(format_args!("a frame of {w}×{h}")));
                }
                Rules::pixels_ok(max_pixels, w, h)?;
                extent_w = extent_w.max(left + w);
                extent_h = extent_h.max(top + h);
                pos += 9 + color_table_len(flags);
                let Some(&code_size) = b.get(pos) else {
                    return Err(truncated());
                };
                if !(1..=11).contains(&code_size) {
                    return Err(corrupt(format_args!("LZW code size {code_size}")));
                }
                let data = pos + 1;
                pos = sub_blocks(b, data)?;
                if pos == data + 1 {
                    return Err(corrupt("an image without data"));
                }
                images += 1;
            }
            other => {
                return Err(corrupt(format_args!(
                    "unexpected block 0x{other:02X} at byte {}",
                    pos - 1
                )));
            }
        }
    }
}
