//! The `Range` header of a picture request, read as RFC 9110 §14.1–14.2 says.
//!
//! Invariant: a `Part` is never empty and never reaches past the picture, and a range
//! set the RFC calls satisfiable is never answered 416.
//!
//! By hand rather than with `http-range-header`: that crate answered `bytes=-0` with the
//! whole picture (the RFC: unsatisfiable), refused a suffix longer than the picture
//! (`bytes=-200` of 100 bytes; the RFC: the whole picture, as a 206), refused two
//! overlapping ranges with 416 (they are satisfiable), and ignored `BYTES=` (range units
//! are case-insensitive) and a last position past the end (the RFC: cut to the end).

use std::ops::Range;

/// What to send for a `Range` header, for a picture of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The whole picture, 200: the header is not one we read (another unit, bad syntax)
    /// or names several satisfiable ranges (RFC 9110 §14.2 lets us send the whole).
    Whole,
    /// These bytes, 206.
    Part(Range<u64>),
    /// No range of the set is satisfiable, or one is invalid (`5-2`): 416.
    Unsatisfiable,
}

/// Reads `value` (`bytes=0-99`, `bytes=-500`, `bytes=100-`, a list of these).
pub fn parse(value: &str, len: u64) -> Answer {
    let Some((unit, set)) = value.split_once('=') else {
        return Answer::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Answer::Whole;
    }
    let mut satisfiable = Vec::new();
    let mut any = false;
    // `1#range-spec`: empty list elements and whitespace around the commas are allowed.
    for spec in set.split(',').map(|s| s.trim_matches([' ', '\t'])) {
        if spec.is_empty() {
            continue;
        }
        any = true;
        let Some((first, last)) = spec.split_once('-') else {
            return Answer::Whole;
        };
        let range = if first.is_empty() {
            // suffix-range: the last `n` bytes; `-0` asks for none of them.
            let Some(n) = number(last) else {
                return Answer::Whole;
            };
            (n > 0 && len > 0).then(|| len.saturating_sub(n)..len)
        } else {
            let Some(first) = number(first) else {
                return Answer::Whole;
            };
            let last = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(last) if last >= first => last,
                    Some(_) => return Answer::Unsatisfiable, // `5-2`: invalid
                    None => return Answer::Whole,
                }
            };
            (first < len).then(|| first..last.min(len - 1) + 1)
        };
        satisfiable.extend(range);
    }
    match (any, satisfiable.len()) {
        (false, _) => Answer::Whole, // `bytes=`: no range-spec at all
        (true, 0) => Answer::Unsatisfiable,
        (true, 1) => Answer::Part(satisfiable.remove(0)),
        (true, _) => Answer::Whole,
    }
}

/// `1*DIGIT`, saturating: a position past `u64::MAX` is still a position past the end.
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::Answer::{Part, Unsatisfiable, Whole};
    use super::*;

    #[test]
    fn rfc_9110_cases_for_100_bytes() {
        let cases: &[(&str, Answer)] = &[
            ("bytes=0-9", Part(0..10)),
            ("bytes=01-02", Part(1..3)),
            ("BYTES=0-1", Part(0..2)),
            ("bytes=95-", Part(95..100)),
            ("bytes=99-", Part(99..100)),
            ("bytes=0-99999999999999999999", Part(0..100)),
            ("bytes=-10", Part(90..100)),
            ("bytes=-200", Part(0..100)),
            ("bytes=-0", Unsatisfiable),
            ("bytes=100-", Unsatisfiable),
            ("bytes=200-300", Unsatisfiable),
            ("bytes=99999999999999999999-", Unsatisfiable),
            ("bytes=100-,-0", Unsatisfiable),
            ("bytes=5-2", Unsatisfiable),
            ("bytes=0-0,-0", Part(0..1)),
            ("bytes=0-9 , 200-300", Part(0..10)),
            ("bytes=0-1,0-1", Whole),
            ("bytes=0-9,20-29", Whole),
            ("bytes=", Whole),
            ("bytes=-", Whole),
            ("bytes=a-b", Whole),
            ("bytes=1", Whole),
            ("bytes=+1-2", Whole),
            ("chars=1-2", Whole),
            ("bytes 0-9", Whole),
        ];
        for (value, want) in cases {
            assert_eq!(&parse(value, 100), want, "{value}");
        }
    }

    #[test]
    fn an_empty_picture_has_no_satisfiable_range() {
        assert_eq!(parse("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse("bytes=-5", 0), Unsatisfiable);
    }
}
