//! Pictures for the tests that upload many: one small whole JPEG from a real encoder,
//! and distinct copies of it that are still whole JPEGs.

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A small whole JPEG (64 × 48, from the `image` crate's encoder).
pub fn base_jpeg() -> Vec<u8> {
    let img = RgbImage::from_fn(64, 48, |x, y| {
        Rgb([x as u8 * 3, y as u8 * 5, (x ^ y) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner()
}

/// `base` with a COM segment holding `n` and `pad` filler bytes (at most 60,000): a
/// distinct whole JPEG, so content addressing never stores two of them as one.
pub fn distinct_jpeg(base: &[u8], n: u64, pad: usize) -> Vec<u8> {
    let mut text = format!("test picture {n} ").into_bytes();
    text.resize(text.len() + pad.min(60_000), b'.');
    let mut out = base[..2].to_vec();
    out.extend([0xFF, 0xFE]);
    out.extend(((text.len() + 2) as u16).to_be_bytes());
    out.extend(&text);
    out.extend_from_slice(&base[2..]);
    out
}
