//! Benchmark of `--fit` next to ImageMagick's `convert IN -define jpeg:extent=1MiB OUT`.
//!
//! ```text
//! cargo run --release -p wximg-client --example fit_bench -- fit DIR [N]
//! cargo run --release -p wximg-client --example fit_bench -- small DIR N
//! ```
//! `fit`: makes N (default 6) 12 MP photo-like JPEGs (q95, 4000×3000) in DIR if absent,
//! then for each picture times our fit (in process: decode + fit) and `convert` (a process:
//! decode + its quality search + write), and scores both outputs with SSIMULACRA2 against
//! the decoded input. Prints a Markdown table. Each side runs `$FIT_RUNS` times (default 3),
//! alternating, and its best time counts: on a shared machine the best of a few runs is
//! the one least disturbed by other work.
//! `small`: writes N distinct small JPEGs (for the batch-upload benchmark).
//!
//! ```text
//! fit_bench gen-big DIR        # DIR/photo24.jpg (6000×4000 q95), DIR/flat400.png (20000×20000)
//! fit_bench one IN OUT         # fit IN once, write OUT, print "W H bytes ms summary"
//! fit_bench compare DIR        # every DIR/*.jpg|png next to ImageMagick, one row each
//! ```
//! `one` is what `bench/client/fit-big.sh` runs under `/usr/bin/time -v` (peak RSS of
//! the whole process); `compare` is `bench/client/fit-quality.sh`'s table.

#[path = "../tests/common/photo.rs"]
mod photo;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::{DynamicImage, RgbImage};
use wximg_client::fit::{FitOptions, FitOutcome, decode_upright, fit};

fn jpeg(img: &RgbImage, q: u8) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut c, q)
        .encode_image(img)
        .expect("encode");
    c.into_inner()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fit") => {
            let dir = PathBuf::from(args.get(1).expect("DIR"));
            let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6);
            bench_fit(&dir, n);
        }
        Some("small") => {
            let dir = PathBuf::from(args.get(1).expect("DIR"));
            let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(500);
            std::fs::create_dir_all(&dir).expect("mkdir");
            for i in 0..n {
                let img = photo::photo_like(320, 240, 1000 + i, 3.0);
                std::fs::write(dir.join(format!("p{i:04}.jpg")), jpeg(&img, 85)).expect("write");
            }
        }
        Some("gen-big") => gen_big(&PathBuf::from(args.get(1).expect("DIR"))),
        Some("one") => one(
            Path::new(args.get(1).expect("IN")),
            Path::new(args.get(2).expect("OUT")),
        ),
        Some("compare") => compare(&PathBuf::from(args.get(1).expect("DIR"))),
        _ => eprintln!(
            "usage: fit_bench fit DIR [N] | small DIR N | gen-big DIR | one IN OUT | compare DIR"
        ),
    }
}

fn bench_fit(dir: &Path, n: u64) {
    std::fs::create_dir_all(dir).expect("mkdir");
    println!(
        "| picture | input bytes | ours: ms | ours: bytes | ours: q | ours: SSIMULACRA2 | IM: ms | IM: bytes | IM: SSIMULACRA2 | time ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (mut t_ours, mut t_im) = (0f64, 0f64);
    for i in 0..n {
        let input = dir.join(format!("photo{i}.jpg"));
        if !input.exists() {
            // Noise levels vary like ISO settings do.
            let img = photo::photo_like(4000, 3000, 100 + i, 2.0 + (i % 4) as f32 * 1.5);
            std::fs::write(&input, jpeg(&img, 95)).expect("write input");
        }
        let bytes = std::fs::read(&input).expect("read");
        let reference = decode_upright(&bytes).expect("decode").to_rgb8();

        let runs: usize = std::env::var("FIT_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        let im_out = dir.join(format!("photo{i}.im.jpg"));
        let (mut ms_ours, mut ms_im) = (f64::MAX, f64::MAX);
        let mut ours = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            ours = Some(fit(&bytes, &FitOptions::default()).expect("fit"));
            ms_ours = ms_ours.min(t.elapsed().as_secs_f64() * 1000.0);

            let t = Instant::now();
            let status = Command::new(convert_program())
                .arg(&input)
                .args(["-define", "jpeg:extent=1MiB"])
                .arg(&im_out)
                .status()
                .expect("run convert (apt-get install imagemagick)");
            ms_im = ms_im.min(t.elapsed().as_secs_f64() * 1000.0);
            assert!(status.success());
        }
        let ours = ours.expect("at least one run");
        let q = match ours.outcome {
            FitOutcome::Jpeg { quality, .. } => quality.to_string(),
            o => format!("{o:?}"),
        };

        let im = std::fs::read(&im_out).expect("read IM output");

        let score = |b: &[u8]| {
            let d = decode_upright(b).expect("decode output").to_rgb8();
            if d.dimensions() != reference.dimensions() {
                let r = DynamicImage::ImageRgb8(reference.clone())
                    .resize_exact(d.width(), d.height(), image::imageops::FilterType::Lanczos3)
                    .to_rgb8();
                photo::ssimulacra2(&r, &d)
            } else {
                photo::ssimulacra2(&reference, &d)
            }
        };
        let (s_ours, s_im) = (score(&ours.bytes), score(&im));
        t_ours += ms_ours;
        t_im += ms_im;
        println!(
            "| photo{i} | {} | {ms_ours:.0} | {} | {q} | {s_ours:.2} | {ms_im:.0} | {} | {s_im:.2} | {:.2} |",
            bytes.len(),
            ours.bytes.len(),
            im.len(),
            ms_ours / ms_im
        );
    }
    println!(
        "\ntotal: ours {t_ours:.0} ms, ImageMagick {t_im:.0} ms, ratio {:.2}",
        t_ours / t_im
    );
}

/// `$CONVERT`, else Debian's `/usr/bin/convert` (ImageMagick 6.9), else `convert` on PATH.
fn convert_program() -> String {
    std::env::var("CONVERT").unwrap_or_else(|_| {
        if Path::new("/usr/bin/convert").exists() {
            "/usr/bin/convert".into()
        } else {
            "convert".into()
        }
    })
}

/// The two big inputs of the issue: a 24 MP photo-like JPEG at q95, and a 400 MP
/// mostly-flat PNG (white page, coloured blocks, thin rules, one gradient band), written a
/// row at a time so the generator itself stays small.
fn gen_big(dir: &Path) {
    use std::io::Write;
    std::fs::create_dir_all(dir).expect("mkdir");
    let photo = dir.join("photo24.jpg");
    if !photo.exists() {
        let img = photo::photo_like(6000, 4000, 24, 4.0);
        std::fs::write(&photo, jpeg(&img, 95)).expect("write photo24.jpg");
    }
    let flat = dir.join("flat400.png");
    if !flat.exists() {
        let (w, h) = (20_000u32, 20_000u32);
        let file = std::io::BufWriter::new(std::fs::File::create(&flat).expect("create"));
        let mut enc = png::Encoder::new(file, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().expect("PNG header");
        let mut stream = writer.stream_writer().expect("PNG stream");
        let mut row = vec![0u8; w as usize * 3];
        for y in 0..h {
            for x in 0..w {
                let px = if (8000..9000).contains(&y) {
                    // A gradient band.
                    [(x * 255 / w) as u8, 120, (y % 256) as u8]
                } else if (x / 2500 + y / 2500) % 3 == 0 && x % 2500 > 300 && y % 2500 > 300 {
                    // Coloured blocks.
                    [40 + (x / 2500 * 25) as u8, 90, 160 + (y / 2500 * 10) as u8]
                } else if x % 1000 < 4 || y % 1000 < 4 {
                    [30, 30, 30] // thin rules
                } else {
                    [255, 255, 255]
                };
                row[x as usize * 3..x as usize * 3 + 3].copy_from_slice(&px);
            }
            stream.write_all(&row).expect("PNG row");
        }
        stream.finish().expect("PNG end");
        writer.finish().expect("PNG end");
    }
}

/// Fits one file as `wximg upload --fit` does (default options, `$FIT_MAX_WIDTH` if set)
/// and prints `width height bytes ms summary`.
fn one(input: &Path, output: &Path) {
    let bytes = std::fs::read(input).expect("read input");
    let opts = FitOptions {
        max_width: std::env::var("FIT_MAX_WIDTH")
            .ok()
            .and_then(|s| s.parse().ok()),
        ..FitOptions::default()
    };
    let t = Instant::now();
    let out = fit(&bytes, &opts).expect("fit");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(bytes);
    std::fs::write(output, &out.bytes).expect("write output");
    println!(
        "{} {} {} {ms:.0} {}",
        out.width,
        out.height,
        out.bytes.len(),
        out.summary()
    );
}

/// Every `DIR/*.jpg` and `DIR/*.png` (not outputs) through our fit and ImageMagick's
/// `jpeg:extent=1MiB`, best of `$FIT_RUNS` (3) alternating runs each, scored with
/// SSIMULACRA2 against the input (resized with Lanczos3 when an output is smaller).
fn compare(dir: &Path) {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read DIR")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.contains(".out.") && (name.ends_with(".jpg") || name.ends_with(".png"))
        })
        .collect();
    inputs.sort();
    let runs: usize = std::env::var("FIT_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "| picture | input | ours: ms | ours: output | ours: bytes | ours: SSIMULACRA2 | IM: ms | IM: bytes | IM: SSIMULACRA2 | Δ SSIMULACRA2 | time ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut wins, mut total) = (0, 0);
    let (mut t_ours, mut t_im) = (0f64, 0f64);
    for input in inputs {
        let name = input
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let bytes = std::fs::read(&input).expect("read");
        let reference = decode_upright(&bytes).expect("decode").to_rgb8();
        let im_out = dir.join(format!("{name}.out.im.jpg"));
        let (mut ms_ours, mut ms_im) = (f64::MAX, f64::MAX);
        let mut ours = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            ours = Some(fit(&bytes, &FitOptions::default()).expect("fit"));
            ms_ours = ms_ours.min(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let status = Command::new(convert_program())
                .arg(&input)
                .args(["-define", "jpeg:extent=1MiB"])
                .arg(&im_out)
                .status()
                .expect("run convert (apt-get install imagemagick)");
            ms_im = ms_im.min(t.elapsed().as_secs_f64() * 1000.0);
            assert!(status.success());
        }
        let ours = ours.expect("at least one run");
        let im = std::fs::read(&im_out).expect("read IM output");
        let score = |b: &[u8]| {
            let d = decode_upright(b).expect("decode output").to_rgb8();
            if d.dimensions() != reference.dimensions() {
                let r = DynamicImage::ImageRgb8(reference.clone())
                    .resize_exact(d.width(), d.height(), image::imageops::FilterType::Lanczos3)
                    .to_rgb8();
                photo::ssimulacra2(&r, &d)
            } else {
                photo::ssimulacra2(&reference, &d)
            }
        };
        let (s_ours, s_im) = (score(&ours.bytes), score(&im));
        total += 1;
        if s_ours >= s_im {
            wins += 1;
        }
        t_ours += ms_ours;
        t_im += ms_im;
        let what = match ours.outcome {
            FitOutcome::Jpeg { quality, scaled } => format!(
                "JPEG q{quality} {}×{}{}",
                ours.width,
                ours.height,
                if scaled { " scaled" } else { "" }
            ),
            FitOutcome::Png => format!("PNG {}×{}", ours.width, ours.height),
            FitOutcome::Unchanged => "unchanged".into(),
        };
        println!(
            "| {name} | {} {}×{} {} B | {ms_ours:.0} | {what} | {} | {s_ours:.2} | {ms_im:.0} | {} | {s_im:.2} | {:+.2} | {:.2} |",
            ours.report.input_format,
            reference.width(),
            reference.height(),
            bytes.len(),
            ours.bytes.len(),
            im.len(),
            s_ours - s_im,
            ms_ours / ms_im
        );
    }
    println!(
        "\nSSIMULACRA2 ≥ ImageMagick's on {wins} of {total}; total time: ours {t_ours:.0} ms, ImageMagick {t_im:.0} ms, ratio {:.2}",
        t_ours / t_im
    );
}
