//! Fuzzes the picture rules (`wximg_proto::rules`): the structural JPEG/PNG parse runs on
//! every upload before anything is stored, so no input may panic, loop or read out of
//! bounds, and what it accepts must honour the limits.
//!
//! Besides "no panic", every input checks these properties:
//! - an accepted file is within the byte and pixel limits, has non-zero dimensions and
//!   starts with the signature of the format it was accepted as;
//! - a PNG ends at IEND, so an accepted PNG with its last byte cut off is refused;
//! - the same bytes give the same verdict under the same rules (no hidden state);
//! - tighter limits never accept what looser limits refuse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wximg_proto::rules::{ImageFormat, Rules};

fuzz_target!(|data: &[u8]| {
    let rules = Rules::default();
    let verdict = rules.check(data);
    assert_eq!(verdict, rules.check(data), "the verdict must be deterministic");
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
        }
    }
    // Small limits reach the size branches with small inputs.
    let tight = Rules {
        max_bytes: 2048,
        max_pixels: 4096,
    };
    if tight.check(data).is_ok() {
        assert!(rules.check(data).is_ok(), "tighter limits accepted what looser refused");
    }
});
