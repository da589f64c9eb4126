//! The fuzz target's properties (`fuzz/fuzz_targets/rules.rs`), on stable Rust, on every
//! `cargo test`:
//! - every file in `tests/fuzz_regressions/` (inputs the fuzzer once broke the rules with)
//!   and every seed in `fuzz/seeds/rules/`;
//! - 60,000 deterministic mutations of those seeds (bit flips, cuts, inserted bytes,
//!   changed length fields), so the structural parse is exercised even where no nightly
//!   toolchain is available for cargo-fuzz.
//!
//! The properties (no panic, and those of `wximg_proto::rules::properties`) are the fuzz
//! target's own.

use std::path::Path;

use wximg_proto::Rules;
use wximg_proto::rules::properties::assert_hold as properties;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_file() && path.extension().is_none_or(|e| e != "md") {
            let bytes = std::fs::read(&path).expect("read");
            out.push((path.display().to_string(), bytes));
        }
    }
    out.sort();
    out
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = files(&root.join("../../fuzz/seeds/rules"));
    assert!(seeds.len() >= 4, "the fuzz seeds are missing");
    seeds
}

#[test]
fn regression_inputs_and_seeds_keep_the_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, bytes) in files(&root.join("tests/fuzz_regressions"))
        .into_iter()
        .chain(seeds())
    {
        let result = std::panic::catch_unwind(|| properties(&bytes));
        assert!(result.is_ok(), "{name} breaks a property of the rules");
    }
    // The seeds are real pictures: they must be accepted, or the mutations below start
    // from nothing.
    let accepted = seeds()
        .iter()
        .filter(|(_, b)| Rules::default().check(b).is_ok())
        .count();
    assert!(accepted >= 5, "only {accepted} seeds are accepted pictures");
}

/// xorshift64*: deterministic, so a failure names the iteration that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => data.truncate(rng.below(len)),
            2 => {
                let i = rng.below(len + 1);
                let b = [0x00, 0xFF, 0xD8, 0xD9, 0xDA, 0xC0, 0x7F][rng.below(7)];
                data.insert(i, b);
            }
            3 if len > 2 => {
                // A length field: two bytes set to an extreme value.
                let i = rng.below(len - 1);
                let v = [0x0000u16, 0x0001, 0x0002, 0xFFFF, 0x8000][rng.below(5)];
                data[i..i + 2].copy_from_slice(&v.to_be_bytes());
            }
            4 if len > 4 => {
                let i = rng.below(len - 3);
                data[i..i + 4].copy_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF]);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i).min(64);
                let chunk: Vec<u8> = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                data.remove(i);
            }
            _ => data.push(rng.next() as u8),
        }
    }
}

#[test]
fn sixty_thousand_mutations_keep_the_properties() {
    let seeds = seeds();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for iteration in 0..60_000u32 {
        let (name, seed) = &seeds[rng.below(seeds.len())];
        let mut data = seed.clone();
        mutate(&mut rng, &mut data);
        let result = std::panic::catch_unwind(|| properties(&data));
        assert!(
            result.is_ok(),
            "mutation {iteration} of {name} breaks a property; save it under \
             tests/fuzz_regressions/: {data:02x?}"
        );
    }
}
