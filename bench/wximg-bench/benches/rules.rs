//! The upload path's CPU work on one picture: the picture rules plus BLAKE3, on a real
//! ~1 MiB JPEG and PNG, next to BLAKE3 alone on the same bytes (the floor: hashing is the
//! least any content-addressed store must do). Goal: rules + BLAKE3 ≤ 2 ms per picture.
//!
//!   cargo bench -p wximg-bench --bench rules

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, criterion_group, criterion_main};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, RgbImage};
use wximg_proto::{ImageId, Rules};

/// Photo-like noise: every pixel different, so neither codec can squeeze it much.
fn noise(width: u32, height: u32) -> RgbImage {
    let mut state = 0x9E37_79B9u32;
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state & 63) as u8;
        image::Rgb([
            (x as u8).wrapping_add(n),
            (y as u8).wrapping_add(n / 2),
            n.wrapping_mul(3),
        ])
    })
}

/// The largest picture of `make(side)` that still passes the rules (≤ 1 MiB).
fn largest_passing(make: impl Fn(u32) -> Vec<u8>) -> Vec<u8> {
    let mut best = make(64);
    let mut side = 64;
    loop {
        side += 16;
        let candidate = make(side);
        if candidate.len() > Rules::default().max_bytes {
            return best;
        }
        best = candidate;
    }
}

fn jpeg(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = JpegEncoder::new_with_quality(&mut out, 92);
    DynamicImage::ImageRgb8(noise(side, side * 3 / 4))
        .write_with_encoder(encoder)
        .expect("encode JPEG");
    out
}

fn png(side: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(noise(side, side * 3 / 4))
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode PNG");
    out.into_inner()
}

fn bench(c: &mut Criterion) {
    let rules = Rules::default();
    for (name, bytes) in [
        ("jpeg", largest_passing(jpeg)),
        ("png", largest_passing(png)),
    ] {
        rules
            .check(&bytes)
            .expect("the bench picture passes the rules");
        let mut group = c.benchmark_group(format!("{name} {} bytes", bytes.len()));
        group.bench_function("rules + blake3", |b| {
            b.iter(|| {
                let info = rules.check(black_box(&bytes)).expect("passes");
                (info, ImageId::of(black_box(&bytes)))
            })
        });
        group.bench_function("blake3 alone", |b| {
            b.iter(|| blake3::hash(black_box(&bytes)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
