//! PNG decoding for `--fit` that shrinks while it reads: rows are decoded one at a time
//! and averaged `k`×`k` into the output (a box filter), so a 400 MP PNG that will be sent
//! at 44 MP never holds more than the 44 MP and one row of the input. PNG has no coarse
//! layer to decode instead (unlike JPEG's DCT scaling), but it is stored row by row.
//!
//! Interlaced (Adam7) PNGs arrive in seven passes, not rows; they are left to the
//! general decoder (and its pixel limit).

use std::io::Cursor;

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

use crate::error::{Error, Result};

/// Width and height of a `k`-times smaller picture (rounded up: the last block may be
/// partial).
pub fn reduced_size(width: u32, height: u32, k: u32) -> (u32, u32) {
    (width.div_ceil(k.max(1)), height.div_ceil(k.max(1)))
}

/// Decodes a PNG reduced `k` times in each direction, turned upright per its `eXIf`
/// orientation; `None` if it is interlaced (decode it another way). Pixel values are
/// averaged as stored (sRGB), at 8 bits per channel.
pub fn decode_reduced(bytes: &[u8], k: u32) -> Result<Option<DynamicImage>> {
    let bad = |e: &dyn std::fmt::Display| Error::Fit(format!("cannot decode the PNG: {e}"));
    let k = k.max(1);
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let info = reader.info();
    if info.interlaced {
        return Ok(None);
    }
    let (width, height) = (info.width, info.height);
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(image::metadata::Orientation::from_exif_chunk);
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    let (ow, oh) = reduced_size(width, height, k);
    let row_len = ow as usize * channels;
    let mut out = Vec::new();
    out.try_reserve_exact(row_len * oh as usize)
        .map_err(|_| Error::Fit(format!("{ow}×{oh} does not fit in memory")))?;
    let mut sums = vec![0u32; row_len];
    let mut rows_in_block = 0u32;
    let flush = |sums: &mut [u32], rows: u32, out: &mut Vec<u8>| {
        for (x, chunk) in sums.chunks_mut(channels).enumerate() {
            let cols = (width - x as u32 * k).min(k);
            let n = cols * rows;
            for s in chunk.iter_mut() {
                out.push(((*s + n / 2) / n) as u8);
                *s = 0;
            }
        }
    };
    while let Some(row) = reader.next_row().map_err(|e| bad(&e))? {
        let data = row.data();
        for (x, px) in data.chunks_exact(channels).enumerate() {
            let o = (x / k as usize) * channels;
            for c in 0..channels {
                sums[o + c] += u32::from(px[c]);
            }
        }
        rows_in_block += 1;
        if rows_in_block == k {
            flush(&mut sums, k, &mut out);
            rows_in_block = 0;
        }
    }
    if rows_in_block > 0 {
        flush(&mut sums, rows_in_block, &mut out);
    }
    if out.len() != row_len * oh as usize {
        return Err(Error::Fit("the PNG ended before its last row".into()));
    }
    let img = match color {
        png::ColorType::Grayscale => GrayImage::from_raw(ow, oh, out).map(DynamicImage::ImageLuma8),
        png::ColorType::GrayscaleAlpha => {
            GrayAlphaImage::from_raw(ow, oh, out).map(DynamicImage::ImageLumaA8)
        }
        png::ColorType::Rgb => RgbImage::from_raw(ow, oh, out).map(DynamicImage::ImageRgb8),
        png::ColorType::Rgba => RgbaImage::from_raw(ow, oh, out).map(DynamicImage::ImageRgba8),
        png::ColorType::Indexed => None,
    };
    let mut img = img.ok_or_else(|| Error::Fit("the PNG decoder returned an odd layout".into()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(Some(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_blocks_and_keeps_partial_edges() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([(x * 10 + y) as u8, 0, 255]));
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        let out = decode_reduced(&bytes, 2).unwrap().unwrap().into_rgb8();
        assert_eq!(out.dimensions(), (3, 2));
        // Block (0,0): x 0..2, y 0..2 → (0+1+10+11)/4 = 5.5 → 6.
        assert_eq!(out.get_pixel(0, 0).0, [6, 0, 255]);
        // Partial corner: x 4, y 2 → 42.
        assert_eq!(out.get_pixel(2, 1).0, [42, 0, 255]);
    }
}
