//! The PNG rule: the signature; IHDR first with valid fields; every chunk's CRC; PLTE
//! where the colour type needs one; consecutive IDAT chunks; IEND last, with nothing
//! after it. Every chunk is read, no pixel decoded.

use std::fmt;

use super::{Rejection, Rules, truncated};

pub(super) const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn png_corrupt(what: impl fmt::Display) -> Rejection {
    Rejection::file_type(format!("corrupt PNG: {what}"))
}

/// Walks a PNG's chunks, checking each CRC; returns its dimensions.
pub(super) fn png(b: &[u8], max_pixels: u64) -> Result<(u32, u32), Rejection> {
    let mut pos = PNG_SIGNATURE.len();
    let mut dims: Option<(u32, u32)> = None;
    let mut color_type = 0u8;
    let mut has_plte = false;
    let mut idat = IdatState::NotYet;
    loop {
        let Some(head) = b.get(pos..pos + 8) else {
            return Err(truncated());
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let name = String::from_utf8_lossy(&kind).into_owned();
        if len > 0x7FFF_FFFF {
            return Err(png_corrupt(format_args!("chunk {name:?} length {len}")));
        }
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(png_corrupt(format_args!(
                "bad chunk type at byte {}",
                pos + 4
            )));
        }
        let len = len as usize;
        let data_end = pos + 8 + len;
        let Some(crc_bytes) = b.get(data_end..data_end + 4) else {
            return Err(truncated());
        };
        let stored = u32::from_be_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        if crc32fast::hash(&b[pos + 4..data_end]) != stored {
            return Err(png_corrupt(format_args!("CRC mismatch in chunk {name}")));
        }
        let data = &b[pos + 8..data_end];
        pos = data_end + 4;

        if dims.is_none() && &kind != b"IHDR" {
            return Err(png_corrupt("the first chunk is not IHDR"));
        }
        if idat == IdatState::In && &kind != b"IDAT" {
            idat = IdatState::Done;
        }
        match &kind {
            b"IHDR" => {
                if dims.is_some() {
                    return Err(png_corrupt("more than one IHDR"));
                }
                let (w, h, ct) = ihdr(data)?;
                Rules::pixels_ok(max_pixels, w, h)?;
                dims = Some((w, h));
                color_type = ct;
            }
            b"PLTE" => {
                if has_plte || idat != IdatState::NotYet {
                    return Err(png_corrupt("misplaced PLTE"));
                }
                if data.is_empty() || !data.len().is_multiple_of(3) || data.len() > 3 * 256 {
                    return Err(png_corrupt("bad PLTE length"));
                }
                if color_type == 0 || color_type == 4 {
                    return Err(png_corrupt("PLTE in a greyscale image"));
                }
                has_plte = true;
            }
            b"IDAT" => match idat {
                IdatState::Done => return Err(png_corrupt("IDAT chunks are not consecutive")),
                _ => {
                    if color_type == 3 && !has_plte {
                        return Err(png_corrupt("palette image without PLTE"));
                    }
                    idat = IdatState::In;
                }
            },
            b"IEND" => {
                if idat == IdatState::NotYet {
                    return Err(png_corrupt("no image data (IDAT)"));
                }
                if !data.is_empty() {
                    return Err(png_corrupt("IEND with data"));
                }
                if pos != b.len() {
                    return Err(png_corrupt(format_args!(
                        "{} bytes after IEND",
                        b.len() - pos
                    )));
                }
                return dims.ok_or_else(|| png_corrupt("no IHDR"));
            }
            _ if kind[0].is_ascii_uppercase() => {
                return Err(png_corrupt(format_args!("unknown critical chunk {name}")));
            }
            _ => {} // ancillary chunks (tEXt, pHYs, iCCP, APNG's acTL/fcTL/fdAT, …)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdatState {
    NotYet,
    In,
    Done,
}

/// Checks IHDR's fields; returns (width, height, colour type).
fn ihdr(d: &[u8]) -> Result<(u32, u32, u8), Rejection> {
    if d.len() != 13 {
        return Err(png_corrupt("IHDR length"));
    }
    let w = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    let h = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
    let (depth, ct, compression, filter, interlace) = (d[8], d[9], d[10], d[11], d[12]);
    if w == 0 || h == 0 || w > 0x7FFF_FFFF || h > 0x7FFF_FFFF {
        return Err(png_corrupt(format_args!("dimensions {w}×{h}")));
    }
    let depth_ok = match ct {
        0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(depth, 8 | 16),
        _ => false,
    };
    if !depth_ok {
        return Err(png_corrupt(format_args!(
            "colour type {ct} with bit depth {depth}"
        )));
    }
    if compression != 0 || filter != 0 || interlace > 1 {
        return Err(png_corrupt(
            "unknown compression, filter or interlace method",
        ));
    }
    Ok((w, h, ct))
}
