//! The JPEG rule: SOI; well-formed marker segments; exactly one SOF with sane dimensions
//! and components; at least one SOS followed by entropy-coded data; EOI (bytes after it
//! tolerated). Every header is read, no pixel decoded.

use std::fmt;

use super::{Rejection, Rules, truncated};

fn corrupt(what: impl fmt::Display) -> Rejection {
    Rejection::file_type(format!("corrupt JPEG: {what}"))
}

/// What the marker walk learns of a JPEG that passes: what a decoder will have to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegLayout {
    pub width: u32,
    pub height: u32,
    /// Colour components (1 grey, 3 YCbCr, 4 CMYK).
    pub components: u8,
    /// Scans (SOS segments). More than one (progressive, or components sent apart) makes
    /// libjpeg hold every coefficient of the picture until the last, and costs a pass
    /// over the picture's blocks per scan.
    pub scans: usize,
}

impl JpegLayout {
    /// Bytes of coefficients a decoder keeps for a picture of several scans (at most:
    /// every component at full resolution, 64 coefficients of 2 bytes a block); 0 for
    /// one scan, decoded as it streams.
    pub fn coefficient_bytes(&self) -> u64 {
        if self.scans <= 1 {
            return 0;
        }
        let blocks = u64::from(self.width.div_ceil(8)) * u64::from(self.height.div_ceil(8));
        blocks * 128 * u64::from(self.components)
    }
}

/// Walks a JPEG's marker segments and scans; returns its dimensions.
pub(super) fn jpeg(b: &[u8], max_pixels: u64) -> Result<(u32, u32), Rejection> {
    layout(b, max_pixels).map(|l| (l.width, l.height))
}

/// Walks a JPEG's marker segments and scans; returns what it learnt.
pub(super) fn layout(b: &[u8], max_pixels: u64) -> Result<JpegLayout, Rejection> {
    let mut pos = 2; // after SOI
    let mut frame: Option<(u32, u32, u8)> = None;
    let mut scans = 0usize;
    loop {
        if pos >= b.len() {
            return Err(truncated());
        }
        if b[pos] != 0xFF {
            return Err(corrupt(format_args!("expected a marker at byte {pos}")));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while pos < b.len() && b[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = b.get(pos) else {
            return Err(truncated());
        };
        pos += 1;
        match marker {
            0xD9 => {
                // EOI. Whatever follows is not part of the picture and is tolerated.
                return match (frame, scans) {
                    (Some((width, height, components)), 1..) => Ok(JpegLayout {
                        width,
                        height,
                        components,
                        scans,
                    }),
                    (None, _) => Err(corrupt("no frame header (SOF)")),
                    (Some(_), 0) => Err(corrupt("no scan (SOS)")),
                };
            }
            0x01 | 0xD0..=0xD7 => continue, // TEM and stray RSTn stand alone
            0x00 | 0x02..=0xBF | 0xC8 | 0xD8 => {
                return Err(corrupt(format_args!(
                    "unexpected marker 0x{marker:02X} at byte {}",
                    pos - 2
                )));
            }
            _ => {}
        }
        let Some(len_bytes) = b.get(pos..pos + 2) else {
            return Err(truncated());
        };
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(corrupt(format_args!(
                "segment 0x{marker:02X} has length {len}"
            )));
        }
        let Some(seg) = b.get(pos + 2..pos + len) else {
            return Err(truncated());
        };
        pos += len;
        match marker {
            // SOF0..SOF15 except DHT (C4), JPG (C8, refused above) and DAC (CC).
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                if frame.is_some() {
                    return Err(corrupt("more than one frame header (SOF)"));
                }
                let (width, height) = sof(seg)?;
                Rules::pixels_ok(max_pixels, width, height)?;
                frame = Some((width, height, seg[5]));
            }
            0xDA => {
                if frame.is_none() {
                    return Err(corrupt("scan (SOS) before the frame header (SOF)"));
                }
                sos(seg)?;
                pos = entropy_coded_data(b, pos)?;
                scans += 1;
            }
            // DHT, DAC, DQT, DNL, DRI, DHP, EXP, APPn, JPGn, COM: well-formed by length.
            _ => {}
        }
    }
}

/// Checks a frame header's fields; returns (width, height).
fn sof(seg: &[u8]) -> Result<(u32, u32), Rejection> {
    if seg.len() < 6 {
        return Err(corrupt("frame header too short"));
    }
    let precision = seg[0];
    let height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
    let width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
    let components = usize::from(seg[5]);
    if !(2..=16).contains(&precision) {
        return Err(corrupt(format_args!("sample precision {precision}")));
    }
    if width == 0 || height == 0 {
        return Err(corrupt(format_args!("dimensions {width}×{height}")));
    }
    if !(1..=4).contains(&components) || seg.len() != 6 + 3 * components {
        return Err(corrupt(format_args!(
            "frame header with {components} components"
        )));
    }
    for c in seg[6..].chunks_exact(3) {
        let (h, v) = (c[1] >> 4, c[1] & 15);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
            return Err(corrupt("bad component sampling or table"));
        }
    }
    Ok((width, height))
}

/// Checks a scan header's fields.
fn sos(seg: &[u8]) -> Result<(), Rejection> {
    let Some(&n) = seg.first() else {
        return Err(corrupt("empty scan header"));
    };
    let n = usize::from(n);
    if !(1..=4).contains(&n) || seg.len() != 1 + 2 * n + 3 {
        return Err(corrupt("bad scan header"));
    }
    Ok(())
}

/// Skips entropy-coded data from `pos`: everything up to the next marker that is not a
/// stuffed zero (FF 00) or a restart (FF D0..D7). Returns the marker's position.
fn entropy_coded_data(b: &[u8], start: usize) -> Result<usize, Rejection> {
    let mut pos = start;
    loop {
        // memchr: most of a JPEG is this data, and a vectorised search for the next 0xFF
        // walks it several times faster than a byte loop.
        let Some(off) = memchr::memchr(0xFF, &b[pos..]) else {
            return Err(truncated());
        };
        let ff = pos + off;
        match b.get(ff + 1) {
            None => return Err(truncated()),
            Some(0x00) | Some(0xD0..=0xD7) => pos = ff + 2,
            Some(0xFF) => pos = ff + 1,
            Some(_) if ff == start => return Err(corrupt("scan without entropy-coded data")),
            Some(_) => return Ok(ff),
        }
    }
}
