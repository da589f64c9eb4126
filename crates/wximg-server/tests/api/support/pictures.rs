//! Test pictures, made with real encoders (the `image` crate), and hostile variants.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A photo-like picture: gradients plus deterministic noise seeded by `seed`.
pub fn photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 48) as u8;
        Rgb([
            ((x * 255 / width.max(1)) as u8).wrapping_add(n),
            ((y * 255 / height.max(1)) as u8).wrapping_add(n / 2),
            (((x + y) * 127 / (width + height).max(1)) as u8).wrapping_add(seed as u8),
        ])
    })
}

pub fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(photo(width, height, seed)),
        ImageFormat::Jpeg,
    )
}

/// A progressive JPEG (mozjpeg's scan script: several scans) of [`photo`].
pub fn progressive_jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let rgb = photo(width, height, seed);
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_quality(90.0);
    c.set_progressive_mode();
    c.set_size(width as usize, height as usize);
    let mut started = c.start_compress(Vec::new()).expect("start");
    started.write_scanlines(rgb.as_raw()).expect("scanlines");
    started.finish().expect("finish")
}

/// `jpeg` with its (last) scan sent `times` times more before EOI: a picture every
/// decoder must read `times + 1` passes of.
pub fn with_repeated_scan(jpeg: &[u8], times: usize) -> Vec<u8> {
    let sos = jpeg
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .expect("a scan");
    let eoi = jpeg.len() - 2;
    assert_eq!(&jpeg[eoi..], [0xFF, 0xD9], "ends with EOI");
    let mut out = jpeg[..eoi].to_vec();
    for _ in 0..times {
        out.extend_from_slice(&jpeg[sos..eoi]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

pub fn png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(photo(width, height, seed)),
        ImageFormat::Png,
    )
}

pub fn png_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(width, height, |x, y| {
        Rgba([x as u8, y as u8, 99, (x ^ y) as u8])
    });
    encode(DynamicImage::ImageRgba8(img), ImageFormat::Png)
}

pub fn gif(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(photo(width, height, 1))
            .into_rgba8()
            .into(),
        ImageFormat::Gif,
    )
}

pub fn webp(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(photo(width, height, 2)).into_rgba8()),
        ImageFormat::WebP,
    )
}

pub fn bmp(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(photo(width, height, 3)),
        ImageFormat::Bmp,
    )
}

/// Pads a whole JPEG to exactly `size` bytes with COM segments right after SOI, so the
/// result is still a complete, well-formed JPEG.
pub fn pad_jpeg(jpeg: &[u8], size: usize) -> Vec<u8> {
    assert!(jpeg.len() + 4 <= size, "JPEG already {} bytes", jpeg.len());
    let mut extra = size - jpeg.len();
    let mut out = jpeg[..2].to_vec();
    while extra > 0 {
        // A segment is 2 marker bytes + 2 length bytes + payload; at most 65537 bytes.
        let mut seg = extra.min(65_537);
        if extra - seg > 0 && extra - seg < 4 {
            seg -= 4; // leave room for a last segment of at least 4 bytes
        }
        let len = (seg - 2) as u16;
        out.extend([0xFF, 0xFE]);
        out.extend(len.to_be_bytes());
        out.extend(std::iter::repeat_n(b'x', seg - 4));
        extra -= seg;
    }
    out.extend_from_slice(&jpeg[2..]);
    assert_eq!(out.len(), size);
    out
}

/// A PNG chunk with its CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    c.extend_from_slice(&crc32fast_hash(&crc_input).to_be_bytes());
    c
}

/// CRC-32 (IEEE), bitwise; test-only, to forge chunks independently of the server's code.
pub fn crc32fast_hash(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
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

/// A real PNG whose IHDR is rewritten to claim `width`×`height` (CRC fixed): a pixel bomb
/// that a decoder would try to allocate for.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut p = png(8, 8, 4);
    p[16..20].copy_from_slice(&width.to_be_bytes());
    p[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast_hash(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    p
}

/// A real JPEG whose SOF is rewritten to claim `width`×`height`.
pub fn jpeg_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut j = jpeg(8, 8, 5);
    let sof = (0..j.len() - 1)
        .find(|&i| j[i] == 0xFF && matches!(j[i + 1], 0xC0..=0xC2))
        .expect("SOF");
    j[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    j
}

/// Pads a PNG to exactly `size` bytes with a private ancillary chunk before IEND.
pub fn pad_png(png: &[u8], size: usize) -> Vec<u8> {
    let iend = png.len() - 12;
    let data_len = size - png.len() - 12;
    let mut out = png[..iend].to_vec();
    out.extend(png_chunk(b"wxPd", &vec![7u8; data_len]));
    out.extend_from_slice(&png[iend..]);
    assert_eq!(out.len(), size);
    out
}
