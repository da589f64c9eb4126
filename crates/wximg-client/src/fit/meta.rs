//! Lossless metadata removal: the picture's coded data is copied byte for byte, only the
//! metadata around it is dropped, so a picture that already passes is sent without its
//! GPS position, camera serial or maker notes and without any loss of quality.
//!
//! Hand-written walkers, because what is dropped is a policy that must be exact and small:
//! `img-parts` (the crate that does segment surgery) keeps bytes after EOI, where phones
//! append MPF preview pictures that carry a second EXIF block, and knows nothing of
//! keeping the orientation. The walkers only run on files the server's structural rules
//! have accepted, and they re-check every length they read.
//!
//! **JPEG** (markers before the first scan; everything from the first SOS to EOI is
//! copied unchanged, and bytes after EOI are dropped):
//! - kept: APP0 (JFIF/JFXX: density, needed by some viewers), APP2 `ICC_PROFILE` (the
//!   colours: dropping it would change how the picture looks), APP14 `Adobe` (tells the
//!   decoder whether the data is YCbCr or RGB/CMYK: dropping it can change the colours),
//!   and every table and frame segment (DQT, DHT, SOF, DRI, …);
//! - dropped: APP1 (EXIF and XMP), other APP2 (FlashPix, MPF: the multi-picture index),
//!   APP3–APP13 (APP13 = Photoshop IRB/IPTC: captions, names, places), APP15, COM;
//! - an EXIF orientation other than "upright" is kept as a minimal EXIF block holding
//!   that one tag, so the picture is still shown the right way up.
//!
//! **PNG**: `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` are dropped (each chunk has its own
//! CRC, so the rest stays valid); colour chunks (`iCCP`, `sRGB`, `gAMA`, `cHRM`), `pHYs`
//! and the image data are kept. An `eXIf` orientation is kept the same way.

/// What [`strip`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stripped {
    /// The picture without its metadata.
    pub bytes: Vec<u8>,
    /// Names of what was removed ("EXIF", "XMP", "IPTC", "comment", "text", …), each once.
    pub removed: Vec<&'static str>,
}

/// Removes the metadata of a JPEG or PNG that the rules accepted; `None` if there is
/// nothing to remove or the bytes are neither (the caller then sends them as they are).
pub fn strip(bytes: &[u8]) -> Option<Stripped> {
    let s = if bytes.starts_with(&[0xFF, 0xD8]) {
        strip_jpeg(bytes)?
    } else if bytes.starts_with(PNG_SIGNATURE) {
        strip_png(bytes)?
    } else {
        return None;
    };
    (!s.removed.is_empty()).then_some(s)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn note(removed: &mut Vec<&'static str>, what: &'static str) {
    if !removed.contains(&what) {
        removed.push(what);
    }
}

/// The EXIF orientation (1–8) held in a TIFF-structured EXIF payload, if any.
fn orientation(tiff: &[u8]) -> Option<u8> {
    image::metadata::Orientation::from_exif_chunk(tiff).map(|o| o.to_exif())
}

/// A minimal big-endian TIFF payload holding only the Orientation tag (0x0112).
pub fn orientation_tiff(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend(u16::from(orientation).to_be_bytes());
    tiff.extend([0, 0, 0, 0, 0, 0]);
    tiff
}

/// The EXIF orientation of a JPEG (from its first APP1 Exif segment), if any.
pub fn jpeg_orientation(bytes: &[u8]) -> Option<u8> {
    let mut found = None;
    walk_jpeg_header(bytes, |marker, seg| {
        if marker == 0xE1 && found.is_none() {
            found = seg.strip_prefix(b"Exif\0\0").and_then(orientation);
        }
    })?;
    found
}

/// Calls `f(marker, payload)` for each marker segment before the first SOS; returns the
/// offset of that SOS marker, or `None` if the header is malformed.
pub(crate) fn walk_jpeg_header(b: &[u8], mut f: impl FnMut(u8, &[u8])) -> Option<usize> {
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        let mut m = i + 1;
        while *b.get(m)? == 0xFF {
            m += 1; // fill bytes
        }
        let marker = b[m];
        if marker == 0xDA {
            return Some(i);
        }
        if matches!(marker, 0x01 | 0xD0..=0xD9) {
            return None; // no standalone markers belong before the first scan
        }
        let len = usize::from(u16::from_be_bytes([*b.get(m + 1)?, *b.get(m + 2)?]));
        let payload = b.get(m + 3..m + 1 + len)?;
        if len < 2 {
            return None;
        }
        f(marker, payload);
        i = m + 1 + len;
    }
}

/// The offset just after EOI, scanning the entropy-coded data and the segments between
/// scans (progressive JPEGs); `None` if there is no EOI.
fn jpeg_end(b: &[u8], first_sos: usize) -> Option<usize> {
    let mut i = first_sos;
    loop {
        // At a marker: skip fill bytes.
        if *b.get(i)? != 0xFF {
            return None;
        }
        while *b.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = b[i + 1];
        if marker == 0xD9 {
            return Some(i + 2);
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
        i += 2 + len;
        if marker == 0xDA {
            // Entropy-coded data up to the next marker that is not a stuffed 0xFF00 or
            // a restart marker.
            loop {
                let ff = i + b.get(i..)?.iter().position(|&c| c == 0xFF)?;
                match *b.get(ff + 1)? {
                    0x00 | 0xD0..=0xD7 | 0xFF => i = ff + 1,
                    _ => {
                        i = ff;
                        break;
                    }
                }
            }
        }
    }
}

/// Bytes of a JPEG's coded picture (from its first SOS to EOI): its size without any
/// metadata or appended previews.
pub(crate) fn jpeg_coded_len(b: &[u8]) -> Option<usize> {
    let sos = walk_jpeg_header(b, |_, _| {})?;
    Some(jpeg_end(b, sos)? - sos)
}

fn strip_jpeg(b: &[u8]) -> Option<Stripped> {
    let mut out = b[..2].to_vec();
    let mut removed = Vec::new();
    let mut keep_orientation = None;
    let sos = walk_jpeg_header(b, |marker, seg| {
        let keep = match marker {
            0xE0 => true,
            0xE2 => seg.starts_with(b"ICC_PROFILE\0"),
            0xEE => seg.starts_with(b"Adobe"),
            0xE1..=0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend([0xFF, marker]);
            out.extend(((seg.len() + 2) as u16).to_be_bytes());
            out.extend(seg);
            return;
        }
        let what = match marker {
            0xE1 if seg.starts_with(b"Exif\0") => {
                if keep_orientation.is_none() {
                    keep_orientation = orientation(seg.get(6..).unwrap_or_default());
                }
                "EXIF"
            }
            0xE1 if seg.starts_with(b"http://ns.adobe.com/") => "XMP",
            0xE2 if seg.starts_with(b"MPF\0") => "MPF",
            0xED => "IPTC",
            0xFE => "comment",
            _ => "APPn",
        };
        note(&mut removed, what);
    })?;
    let end = jpeg_end(b, sos)?;
    if end < b.len() {
        note(&mut removed, "data after the picture");
    }
    if removed.is_empty() {
        return None;
    }
    if let Some(o @ 2..=8) = keep_orientation {
        // Right after SOI and APP0 (JFIF wants to be first).
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(orientation_tiff(o));
        let mut seg = vec![0xFF, 0xE1];
        seg.extend(((app1.len() + 2) as u16).to_be_bytes());
        seg.extend(app1);
        let at = if out.get(2..4) == Some(&[0xFF, 0xE0]) {
            4 + usize::from(u16::from_be_bytes([out[4], out[5]]))
        } else {
            2
        };
        out.splice(at..at, seg);
    }
    out.extend_from_slice(&b[sos..end]);
    Some(Stripped {
        bytes: out,
        removed,
    })
}

fn strip_png(b: &[u8]) -> Option<Stripped> {
    let mut out = PNG_SIGNATURE.to_vec();
    let mut removed = Vec::new();
    let mut i = PNG_SIGNATURE.len();
    while i < b.len() {
        let len = u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        let kind: [u8; 4] = b.get(i + 4..i + 8)?.try_into().ok()?;
        let end = i.checked_add(12)?.checked_add(len)?;
        let chunk = b.get(i..end)?;
        match &kind {
            b"eXIf" => {
                note(&mut removed, "EXIF");
                if let Some(o @ 2..=8) = orientation(&chunk[8..8 + len]) {
                    let data = orientation_tiff(o);
                    out.extend((data.len() as u32).to_be_bytes());
                    let mut crc = b"eXIf".to_vec();
                    crc.extend(&data);
                    out.extend(&crc);
                    out.extend(crc32(&crc).to_be_bytes());
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" => note(&mut removed, "text"),
            b"tIME" => note(&mut removed, "time"),
            _ => out.extend_from_slice(chunk),
        }
        i = end;
        if &kind == b"IEND" {
            break;
        }
    }
    Some(Stripped {
        bytes: out,
        removed,
    })
}

/// PNG's CRC-32 (ISO 3309, as zlib's).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Frames in an animated GIF, WebP or PNG (APNG); 1 for a still picture or anything else.
pub fn frame_count(b: &[u8]) -> u32 {
    if b.starts_with(b"GIF8") {
        gif_frames(b).unwrap_or(1).max(1)
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        webp_frames(b).max(1)
    } else if b.starts_with(PNG_SIGNATURE) {
        apng_frames(b).unwrap_or(1).max(1)
    } else {
        1
    }
}

fn gif_frames(b: &[u8]) -> Option<u32> {
    let flags = *b.get(10)?;
    let mut i = 13;
    if flags & 0x80 != 0 {
        i += 3 << ((flags & 7) + 1);
    }
    let skip_sub_blocks = |mut i: usize| -> Option<usize> {
        loop {
            let n = usize::from(*b.get(i)?);
            i += 1 + n;
            if n == 0 {
                return Some(i);
            }
        }
    };
    let mut frames = 0;
    loop {
        match *b.get(i)? {
            0x21 => i = skip_sub_blocks(i + 2)?,
            0x2C => {
                frames += 1;
                let f = *b.get(i + 9)?;
                i += 10;
                if f & 0x80 != 0 {
                    i += 3 << ((f & 7) + 1);
                }
                i = skip_sub_blocks(i + 1)?; // after the LZW minimum code size
            }
            _ => return Some(frames), // the trailer (0x3B), or damage after the frames
        }
    }
}

fn webp_frames(b: &[u8]) -> u32 {
    let mut i = 12;
    let mut frames = 0;
    while let (Some(kind), Some(len)) = (b.get(i..i + 4), b.get(i + 4..i + 8)) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if kind == b"ANMF" {
            frames += 1;
        }
        i = i.saturating_add(8).saturating_add(len + (len & 1));
    }
    frames
}

fn apng_frames(b: &[u8]) -> Option<u32> {
    let mut i = PNG_SIGNATURE.len();
    while i + 8 <= b.len() {
        let len = u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        let kind = b.get(i + 4..i + 8)?;
        if kind == b"acTL" {
            return Some(u32::from_be_bytes(b.get(i + 8..i + 12)?.try_into().ok()?));
        }
        if kind == b"IDAT" {
            return None;
        }
        i = i.checked_add(12)?.checked_add(len)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_pngs() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn orientation_payload_round_trips() {
        for o in 1..=8 {
            assert_eq!(orientation(&orientation_tiff(o)), Some(o));
        }
    }
}
