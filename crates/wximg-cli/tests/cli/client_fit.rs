//! `wximg upload --fit` against a real `wximg serve`: damaged pictures refused, metadata
//! removed from what is served (or kept with --keep-metadata), --max-width, and the
//! per-picture report and warnings.

use image::{ImageFormat, Rgba, RgbaImage};

use crate::support::client::AppServer;
use crate::support::pictures::{encode, picture, write};
use crate::support::{get, stderr, stdout};

/// `jpeg` with an EXIF APP1 segment (holding a GPS-like marker string) after SOI.
fn with_exif(jpeg: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0\0\0\0\0GPS:31.2304N121".to_vec();
    app1.push(0);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

fn url_of(line_text: &str, path: &std::path::Path) -> String {
    let prefix = format!("{} → ", path.display());
    line_text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no result line for {path:?} in {line_text}"))
        .to_string()
}

#[test]
fn upload_fit_strips_metadata_refuses_damage_and_reports() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let clean = encode(&picture(320, 200, 4), ImageFormat::Jpeg);
    let gps = write(dir.path(), "gps.jpg", &with_exif(&clean));

    // A passing JPEG with EXIF: sent without it, the coded picture untouched.
    let out = s.run(&["upload", "--fit", gps.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  fit: unchanged pixels: JPEG 320×200") && text.contains("EXIF removed"),
        "{text}"
    );
    let (status, served) = get(&url_of(&text, &gps));
    assert_eq!(status, 200);
    assert_eq!(
        served, clean,
        "served without the EXIF segment, nothing else changed"
    );

    // --keep-metadata: byte for byte.
    let out = s.run(&["upload", "--fit", "--keep-metadata", gps.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, served) = get(&url_of(&stdout(&out), &gps));
    assert_eq!(served, std::fs::read(&gps).unwrap());

    // A truncated JPEG: refused with --fit as without it (exit non-zero, nothing sent).
    let big = encode(&picture(1600, 1200, 5), ImageFormat::Jpeg);
    let cut = write(dir.path(), "cut.jpg", &big[..big.len() * 6 / 10]);
    for args in [&["upload", "--fit"][..], &["upload"][..]] {
        let mut a = args.to_vec();
        a.push(cut.to_str().unwrap());
        let out = s.run(&a);
        assert!(!out.status.success(), "{args:?}: {}", stdout(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            all.contains("truncated") && !all.contains("/mmbiz_"),
            "{args:?}: {all}"
        );
    }

    // --max-width, and the report in JSON.
    let wide = write(dir.path(), "wide.jpg", &clean);
    let out = s.run(&[
        "upload",
        "--fit",
        "--max-width",
        "160",
        "--json",
        wide.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let fit = &v["fit"];
    assert_eq!(
        (fit["width"].as_u64(), fit["height"].as_u64()),
        (Some(160), Some(100)),
        "{v}"
    );
    assert_eq!(fit["input_width"], 320, "{v}");
    assert_eq!(fit["format"], "JPEG", "{v}");
    assert!(
        fit["quality"].as_u64().is_some() && fit["bytes"].as_u64().is_some(),
        "{v}"
    );
    assert!(v["url"].as_str().unwrap().contains("/mmbiz_jpg/"), "{v}");

    // Transparency flattened into a JPEG: a warning on stderr, the result on stdout.
    let photo = picture(1400, 1000, 6);
    let rgba = RgbaImage::from_fn(1400, 1000, |x, y| {
        let p = photo.get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], if x < 8 { 0 } else { 255 }])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(&mut png, ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    assert!(png.len() > 1_048_576, "{}", png.len());
    let alpha = write(dir.path(), "alpha.png", &png);
    let out = s.run(&["upload", "--fit", alpha.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  fit: PNG 1400×1000"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: {}: transparency flattened",
            alpha.display()
        )),
        "{err}"
    );
}

/// `wximg publish` fits as `upload --fit` does: metadata removed unless
/// `--keep-metadata`, `--max-width` obeyed, and the same picture under other settings is
/// another upload, not the cached URL of the first.
#[test]
fn publish_takes_keep_metadata_and_max_width() {
    let s = AppServer::start();
    let dir = tempfile::tempdir().unwrap();
    let clean = encode(&picture(320, 200, 4), ImageFormat::Jpeg);
    let tagged = with_exif(&clean);
    write(dir.path(), "gps.jpg", &tagged);
    let post = write(dir.path(), "post.md", b"# T\n\n![a picture](gps.jpg)\n");
    let served = |args: &[&str]| -> Vec<u8> {
        let mut all = vec!["publish", post.to_str().unwrap()];
        all.extend(args);
        let out = s.run(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        let url = text
            .split("![a picture](")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{args:?}: no picture in {text}"));
        assert!(url.contains("/mmbiz_jpg/"), "{args:?}: {text}");
        let (status, bytes) = get(url);
        assert_eq!(status, 200, "{url}");
        bytes
    };
    assert_eq!(served(&[]), clean, "sent without its EXIF segment");
    assert_eq!(served(&["--keep-metadata"]), tagged, "sent byte for byte");
    let narrow = image::load_from_memory(&served(&["--max-width", "160"])).unwrap();
    assert_eq!((narrow.width(), narrow.height()), (160, 100));
    assert_eq!(served(&[]), clean, "the first run's cache entry is kept");
}
