//! The PNG rule: the signature; IHDR first with valid fields; every chunk's CRC; PLTE
//! where the colour type needs one; consecutive IDAT chunks; IEND last, with nothing
//! after it; and the image data itself: the IDAT stream inflates, without error, to at
//! least the rows IHDR promises ([`image_data`]), so a PNG whose data is garbage or
//! stops short is refused, not stored. No pixel is decoded (unfiltered) or kept.

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
    let mut layout = Layout::default();
    let mut idats: Vec<&[u8]> = Vec::new();
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
                layout = ihdr(data)?;
                let (w, h, ct) = (layout.width, layout.height, layout.color_type);
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
                    idats.push(data);
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
                let dims = dims.ok_or_else(|| png_corrupt("no IHDR"))?;
                image_data(&layout, &idats)?;
                return Ok(dims);
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

/// What IHDR says of the image data.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    width: u32,
    height: u32,
    color_type: u8,
    depth: u8,
    interlaced: bool,
}

impl Layout {
    /// Bytes the inflated IDAT stream holds: every row of every pass (Adam7's seven when
    /// interlaced), each a filter byte then its packed samples.
    fn data_bytes(&self) -> u64 {
        let channels: u64 = match self.color_type {
            2 => 3,
            4 => 2,
            6 => 4,
            _ => 1,
        };
        let bits = channels * u64::from(self.depth);
        let rows = |w: u64, h: u64| {
            if w == 0 || h == 0 {
                0
            } else {
                h * (1 + (w * bits).div_ceil(8))
            }
        };
        let (w, h) = (u64::from(self.width), u64::from(self.height));
        if !self.interlaced {
            return rows(w, h);
        }
        const PASSES: [(u64, u64, u64, u64); 7] = [
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ];
        PASSES
            .iter()
            .map(|&(x0, y0, dx, dy)| {
                rows(
                    w.saturating_sub(x0).div_ceil(dx),
                    h.saturating_sub(y0).div_ceil(dy),
                )
            })
            .sum()
    }
}

/// Above this many bytes of inflated image data the stream is not inflated here (only
/// pictures past the platform's 50 MP could have that much: the client's structural
/// check of what `--fit` will decode anyway): the cost of this check is bounded.
pub const MAX_CHECKED_DATA: u64 = 512 * 1024 * 1024;

/// Inflates the IDAT stream into a small buffer that is thrown away, and refuses it if
/// the zlib data is corrupt or ends before [`Layout::data_bytes`]. Linear in that
/// size; the output is never kept. Hand-written around `miniz_oxide`'s streaming
/// inflater because the PNG decoders would also unfilter and keep every row.
fn image_data(layout: &Layout, idats: &[&[u8]]) -> Result<(), Rejection> {
    use miniz_oxide::inflate::stream::{InflateState, inflate};
    use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
    let want = layout.data_bytes();
    if want > MAX_CHECKED_DATA {
        return Ok(());
    }
    let mut state = InflateState::new_boxed(DataFormat::Zlib);
    let mut out = vec![0u8; 64 * 1024];
    let mut got: u64 = 0;
    // Never MZFlush::Finish: with it miniz_oxide inflates in one call into `out`, which
    // is far smaller than the data (the end is seen as StreamEnd, or as no progress).
    'chunks: for chunk in idats {
        let mut input: &[u8] = chunk;
        // Every row there: what follows does not matter to a decoder.
        while got < want {
            let r = inflate(&mut state, input, &mut out, MZFlush::None);
            got += r.bytes_written as u64;
            input = &input[r.bytes_consumed..];
            match r.status {
                Ok(MZStatus::StreamEnd) => break 'chunks,
                // Buf: no progress without more input (the next chunk, if any).
                Ok(_) | Err(MZError::Buf) => {}
                Err(e) => {
                    return Err(png_corrupt(format_args!(
                        "the image data does not inflate ({e:?} after {got} bytes)"
                    )));
                }
            }
            if r.bytes_consumed == 0 && r.bytes_written == 0 {
                break;
            }
        }
    }
    if got < want {
        return Err(png_corrupt(format_args!(
            "the image data ends after {got} of the {want} bytes its {}×{} pixels need",
            layout.width, layout.height
        )));
    }
    Ok(())
}

/// Checks IHDR's fields; returns what they say of the image data.
fn ihdr(d: &[u8]) -> Result<Layout, Rejection> {
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
    Ok(Layout {
        width: w,
        height: h,
        color_type: ct,
        depth,
        interlaced: interlace == 1,
    })
}
