//! Pictures from real encoders (the `image` crate): photo-like fixtures for the client
//! commands, one small whole JPEG and distinct copies of it for the tests that upload
//! many, and PNGs nobody else uploads.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A small photo-like picture (gradients + texture), deterministic per `seed`.
pub fn picture(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(73_856_093)
            ^ y.wrapping_mul(19_349_663)
            ^ seed.wrapping_mul(83_492_791))
            % 23;
        Rgb([
            ((x * 255 / w.max(1)) as u8).wrapping_add(n as u8),
            ((y * 255 / h.max(1)) as u8).wrapping_add(seed as u8),
            (((x + y) * 3) as u8).wrapping_add(n as u8),
        ])
    })
}

pub fn encode(img: &RgbImage, fmt: ImageFormat) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut c, fmt)
        .expect("encode");
    c.into_inner()
}

/// Writes `bytes` to `dir/name` (making the directories); returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, bytes).expect("write fixture");
    p
}

/// Writes `img` encoded as `fmt` to `dir/name` (making the directories); returns the path.
pub fn write_picture(dir: &Path, name: &str, img: &RgbImage, fmt: ImageFormat) -> PathBuf {
    write(dir, name, &encode(img, fmt))
}

/// A small whole JPEG (64 × 48, from the `image` crate's encoder).
pub fn base_jpeg() -> Vec<u8> {
    let img = RgbImage::from_fn(64, 48, |x, y| {
        Rgb([x as u8 * 3, y as u8 * 5, (x ^ y) as u8])
    });
    encode(&img, ImageFormat::Jpeg)
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

/// [`base_jpeg`] made distinct by `n`, without padding: the small upload of most tests.
pub fn numbered_jpeg(n: u64) -> Vec<u8> {
    distinct_jpeg(&base_jpeg(), n, 0)
}

/// A small, whole PNG nobody else uploads.
pub fn unique_png() -> Vec<u8> {
    let seed: [u8; 16] = rand_bytes();
    let img = RgbImage::from_fn(24, 16, |x, y| {
        let i = (x as usize + y as usize * 24) % 16;
        Rgb([seed[i], (x * 10) as u8, (y * 15) as u8])
    });
    encode(&img, ImageFormat::Png)
}

fn rand_bytes() -> [u8; 16] {
    // No rand dependency in this crate: the time and a counter are unique enough here.
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let h = spread(t ^ (u64::from(std::process::id()) << 32), n);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h.0.to_le_bytes());
    out[8..].copy_from_slice(&h.1.to_le_bytes());
    out
}

/// Two rounds of splitmix64: spreads the bits of (time, counter).
fn spread(a: u64, b: u64) -> (u64, u64) {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    (mix(a ^ mix(b)), mix(b ^ mix(a)))
}

/// A real, whole PNG of `w`×`h` 8-bit RGB pixels, all one colour but for a few
/// `seed`-dependent pixels in the first row (so two seeds never share a hash). Encoded a
/// row at a time (the `png` crate's stream writer), so even 40000×40000 (4.8 GB of
/// pixels) costs the test a few MB; flat rows deflate ~1000:1 (12000×12000 is ~420 KB):
/// the "small file, huge picture" that fit must refuse from its header.
pub fn flat_png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().expect("PNG header");
    let mut stream = writer.stream_writer().expect("PNG stream");
    let mut row = vec![200u8; w as usize * 3];
    row[..6].copy_from_slice(&[seed, seed ^ 0x55, 7, 1, 2, seed]);
    stream.write_all(&row).expect("PNG row");
    row[..6].fill(200);
    for _ in 1..h {
        stream.write_all(&row).expect("PNG row");
    }
    stream.finish().expect("PNG end");
    writer.finish().expect("PNG end");
    out
}
