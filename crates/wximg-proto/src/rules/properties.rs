//! The properties every verdict of the picture rules must have, whatever the input. One
//! definition for the `cargo fuzz` target (`fuzz/fuzz_targets/rules.rs`) and the stable
//! mutation tests (`tests/proto/fuzz_regressions.rs`), so the two never drift apart.

use super::{ImageFormat, Rules};

/// Panics if the rules break a property on `data`:
/// - the same bytes give the same verdict under the same rules (no hidden state);
/// - an accepted file is within the byte and pixel limits, has non-zero dimensions and
///   starts with the signature of the format it was accepted as;
/// - a PNG ends at IEND, so an accepted PNG with its last byte cut off is refused;
/// - tighter limits never accept what looser limits refuse (small limits also reach the
///   size branches with small inputs).
pub fn assert_hold(data: &[u8]) {
    let rules = Rules::default();
    // The material rules (GIF and BMP too) hold the same properties, and never refuse
    // what uploadimg's accept.
    let material = rules.check_as(data, super::IMAGE_MATERIAL_FORMATS);
    assert_eq!(
        material,
        rules.check_as(data, super::IMAGE_MATERIAL_FORMATS)
    );
    if let Ok(info) = &material {
        assert!(info.width > 0 && info.height > 0);
        assert!(u64::from(info.width) * u64::from(info.height) <= rules.max_pixels);
        match info.format {
            ImageFormat::Gif => assert!(data.starts_with(b"GIF8")),
            ImageFormat::Bmp => assert!(data.starts_with(b"BM")),
            _ => {}
        }
    }
    let verdict = rules.check(data);
    if let Ok(info) = &verdict {
        assert_eq!(
            material.as_ref().ok(),
            Some(info),
            "material refused an uploadimg picture"
        );
    }
    assert_eq!(
        verdict,
        rules.check(data),
        "the verdict must be deterministic"
    );
    if let Ok(info) = verdict {
        assert!(data.len() <= rules.max_bytes);
        assert!(info.width > 0 && info.height > 0);
        assert!(u64::from(info.width) * u64::from(info.height) <= rules.max_pixels);
        match info.format {
            ImageFormat::Jpeg => assert!(data.starts_with(&[0xFF, 0xD8])),
            ImageFormat::Png => {
                assert!(data.starts_with(b"\x89PNG\r\n\x1a\n"));
                assert!(
                    rules.check(&data[..data.len() - 1]).is_err(),
                    "a PNG cut short must be refused"
                );
            }
            ImageFormat::Gif | ImageFormat::Bmp => panic!("uploadimg accepted {:?}", info.format),
        }
    }
    let tight = Rules {
        max_bytes: 2048,
        max_pixels: 4096,
    };
    if tight.check(data).is_ok() {
        assert!(
            rules.check(data).is_ok(),
            "tighter limits accepted what looser refused"
        );
    }
}
