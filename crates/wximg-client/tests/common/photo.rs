//! Photo-like test pictures made with real encoders (nothing binary is committed).
//!
//! A "photo" here is smooth gradients and soft shapes (like sky, skin, walls) plus a few
//! hard edges and sensor-like noise: it compresses like a real photo (a 12 MP one is
//! several MB as PNG and a few MB as a high-quality JPEG), unlike pure noise (which
//! nothing compresses) or flat colour (which everything does).

#![allow(dead_code)]

use image::{Rgb, RgbImage};

/// A small deterministic generator (xorshift64*), so pictures are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Roughly normal, mean 0, standard deviation ≈ 1.
    pub fn normal(&mut self) -> f32 {
        let s: u32 = (0..4).map(|_| (self.next() >> 56) as u32).sum();
        (s as f32 - 510.0) / 147.8
    }
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A `w`×`h` photo-like picture; `noise` is the standard deviation of the grain.
pub fn photo_like(w: u32, h: u32, seed: u64, noise: f32) -> RgbImage {
    let mut rng = Rng::new(seed);
    // A few soft blobs and a few hard-edged rectangles.
    let blobs: Vec<(f32, f32, f32, [f32; 3])> = (0..12)
        .map(|_| {
            (
                rng.unit() * w as f32,
                rng.unit() * h as f32,
                (0.05 + rng.unit() * 0.2) * w as f32,
                [
                    rng.unit() * 160.0 - 80.0,
                    rng.unit() * 160.0 - 80.0,
                    rng.unit() * 160.0 - 80.0,
                ],
            )
        })
        .collect();
    let rects: Vec<(u32, u32, u32, u32, [f32; 3])> = (0..6)
        .map(|_| {
            let x = (rng.unit() * w as f32) as u32;
            let y = (rng.unit() * h as f32) as u32;
            (
                x,
                y,
                x + (rng.unit() * w as f32 / 5.0) as u32,
                y + (rng.unit() * h as f32 / 5.0) as u32,
                [
                    rng.unit() * 120.0 - 60.0,
                    rng.unit() * 120.0 - 60.0,
                    rng.unit() * 120.0 - 60.0,
                ],
            )
        })
        .collect();
    let (fw, fh) = (w as f32, h as f32);
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32 / fw, y as f32 / fh);
        let mut c = [
            60.0 + 120.0 * yf + 20.0 * (xf * 9.0).sin(),
            90.0 + 80.0 * xf + 25.0 * (yf * 7.0 + xf * 3.0).sin(),
            150.0 - 70.0 * yf + 15.0 * ((xf + yf) * 11.0).cos(),
        ];
        for (bx, by, r, col) in &blobs {
            let d2 = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)) / (r * r);
            if d2 < 4.0 {
                let k = (-d2).exp();
                for i in 0..3 {
                    c[i] += col[i] * k;
                }
            }
        }
        for (x0, y0, x1, y1, col) in &rects {
            if (*x0..*x1).contains(&x) && (*y0..*y1).contains(&y) {
                for i in 0..3 {
                    c[i] += col[i];
                }
            }
        }
        let n = rng.normal() * noise;
        Rgb([
            (c[0] + n + rng.normal() * noise * 0.3).clamp(0.0, 255.0) as u8,
            (c[1] + n).clamp(0.0, 255.0) as u8,
            (c[2] + n + rng.normal() * noise * 0.3).clamp(0.0, 255.0) as u8,
        ])
    })
}

/// SSIMULACRA2 of `distorted` against `reference` (same size): 100 is identical, 90
/// "visually lossless", 70 "high quality", 50 "medium".
pub fn ssimulacra2(reference: &RgbImage, distorted: &RgbImage) -> f64 {
    use ssimulacra2::{ColorPrimaries, Rgb as SRgb, TransferCharacteristic};
    let conv = |img: &RgbImage| {
        let data: Vec<[f32; 3]> = img
            .pixels()
            .map(|p| {
                [
                    p.0[0] as f32 / 255.0,
                    p.0[1] as f32 / 255.0,
                    p.0[2] as f32 / 255.0,
                ]
            })
            .collect();
        SRgb::new(
            data,
            img.width() as usize,
            img.height() as usize,
            TransferCharacteristic::SRGB,
            ColorPrimaries::BT709,
        )
        .expect("valid image")
    };
    ssimulacra2::compute_frame_ssimulacra2(conv(reference), conv(distorted)).expect("same size")
}
