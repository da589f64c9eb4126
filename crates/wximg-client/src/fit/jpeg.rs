//! The JPEG side of `--fit`: the encoder settings, and the search for the highest quality
//! that fits.
//!
//! (Past 400 lines only with its unit tests, which stay beside the code they pin.)
//!
//! # Encoder settings, and why
//!
//! The encoder is mozjpeg in its *fastest* profile (libjpeg-turbo's code paths: no trellis
//! quantisation, no scan search), with three choices made on top, each measured on 12 MP
//! photo-like pictures against SSIMULACRA2 at a fixed size of 1 MiB
//! (see `bench/client/RESULTS.md`):
//!
//! * **N. Robidoux's quantisation table** (mozjpeg's default table, for luma and chroma)
//!   instead of the JPEG standard's Annex K: about +0.6 SSIMULACRA2 at the same size.
//! * **Optimised Huffman tables** (a second pass over the coefficients, ~4–7 % smaller).
//! * **Baseline, not progressive**: on grainy photos progressive was no smaller, and it
//!   costs twice the time.
//!
//! Trellis quantisation plus mozjpeg's scan search buys about +1 SSIMULACRA2 more but costs
//! 5–8× the time of this encoder (0.6–1.2 s per 12 MP encode instead of ~0.1–0.2 s), which
//! is what made `--fit` slower than ImageMagick.
//!
//! **Chroma**: 4:4:4 (full-resolution colour) beats 4:2:0 at high qualities and loses at
//! lower ones, where its bytes are better spent on luma. [`fit`](super::fit) picks 4:4:4
//! only if the source has full-resolution colour (any non-JPEG, or a 4:4:4 JPEG) *and* the
//! sample predicts 4:2:0 would reach at least [`FULL_CHROMA_FROM`].
//!
//! # The search
//!
//! The size of a JPEG falls steadily as the quality falls, so the highest quality that fits
//! is found by search, not formula. A 12 MP encode takes 0.1–0.25 s, so the search avoids
//! full encodes:
//!
//! 1. A **sample** of the picture (every 16th band of 16 rows: 1/16 of the pixels) is
//!    encoded instead, ~10 ms a time; its size times 16 *predicts* the full size at any
//!    quality. On the benchmark pictures the prediction was within ~1 %.
//! 2. The prediction is **calibrated** by each full encode: the ratio of a full encode's
//!    real size to the prediction at the same quality varies little with quality.
//! 3. The first full encode is at the highest quality predicted to fit. Where the
//!    prediction is unsure (the next quality up predicted within [`SLACK`] of the limit,
//!    or this one within it below), a **second candidate is encoded at the same time on
//!    another thread**: the next quality up, or the next one down. Usually that settles
//!    it; if not, further rounds use the re-calibrated prediction.
//! 4. The search stops when a quality is measured to fit and the next one up is measured
//!    not to, or predicted by the calibrated sample to exceed the limit by more than
//!    [`SLACK`]. If rounds run out first, a bisection over full encodes of what is left
//!    decides, so "nothing fits" always means `min_quality` was *measured* not to fit.
//!
//! Pictures under 1.5 MP are searched with full encodes only (they are fast): the top of
//! the range first (small pictures often fit there), then bisection.
//!
//! # Big pictures
//!
//! Optimised Huffman tables cost memory in proportion to the picture: mozjpeg keeps every
//! coefficient for its second pass (quantised and not: 4 bytes a sample, 144 MB for 24 MP
//! at 4:2:0, per encode, and the search runs two at once), and time (the statistics pass
//! is about a quarter of each encode). Above [`ONE_PASS_ABOVE`] pixels, the
//! symbols of the whole picture are instead counted once, from encodes of strips of
//! [`GATHER_ROWS`] rows ([`gather`], [`super::huffman`]), and every full encode then runs
//! in one pass with the tables those counts give ([`super::compress`]), holding a few rows
//! of blocks. Same quantisation, so the same pixels, and tables within a few hundred bytes
//! of the optimised ones; what remains in memory is the decoded picture itself.

use std::collections::HashMap;

use image::RgbImage;

use super::compress::{self, Frame};
use super::huffman::{Counts, Tables};
use crate::error::{Error, Result};

/// Chroma resolution of an encoded JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:4:4: colour at full resolution.
    Full,
    /// 4:2:0: colour at half resolution both ways (a quarter of the chroma samples).
    Half,
}

/// 4:4:4 is chosen only if the picture would reach at least this quality at 4:2:0 (see
/// the module documentation). Measured: at 4:2:0 q86 → 4:4:4 gained +0.36 SSIMULACRA2 at
/// the same size; at 4:2:0 q81 → 4:4:4 lost 0.4.
pub const FULL_CHROMA_FROM: u8 = 84;

/// Pixels ready for the encoder: RGB, or one grey channel.
pub struct Pixels<'a> {
    data: std::borrow::Cow<'a, [u8]>,
    /// 1: `data` is the picture. More: the picture is every `every`-th band of [`BAND`]
    /// rows of `data` (a [`Pixels::sample`], which borrows its bands, not copies them).
    every: u32,
    width: u32,
    height: u32,
    grey: bool,
}

impl<'a> Pixels<'a> {
    /// `rgb` as it is, or (for a grey picture) its green channel.
    pub fn new(rgb: &'a RgbImage, grey: bool) -> Pixels<'a> {
        let data = if grey {
            std::borrow::Cow::Owned(rgb.pixels().map(|p| p.0[1]).collect())
        } else {
            std::borrow::Cow::Borrowed(rgb.as_raw().as_slice())
        };
        Pixels {
            data,
            every: 1,
            width: rgb.width(),
            height: rgb.height(),
            grey,
        }
    }

    fn channels(&self) -> usize {
        if self.grey { 1 } else { 3 }
    }

    /// Every `stride`-th band of [`BAND`] rows, stacked: a picture that compresses like the
    /// whole one, with a fraction of its pixels. Bands are whole JPEG block rows, so the
    /// sample's blocks are exactly blocks of the full picture. The bands are borrowed (a
    /// copy would be 4.5 MB for a 24 MP photo, beside the 9 MB its encode holds).
    pub fn sample(&self, stride: u32) -> Pixels<'_> {
        debug_assert_eq!(self.every, 1, "a sample of a sample");
        let bands = (self.height / BAND).div_ceil(stride.max(1));
        Pixels {
            data: std::borrow::Cow::Borrowed(&self.data),
            every: stride.max(1),
            width: self.width,
            height: bands * BAND,
            grey: self.grey,
        }
    }

    /// The picture's rows as contiguous runs: all of `data`, or a sample's bands.
    fn runs(&self) -> impl Iterator<Item = &[u8]> {
        let band = BAND as usize * self.width as usize * self.channels();
        let (len, step, count) = if self.every == 1 {
            (self.data.len(), 0, 1)
        } else {
            (
                band,
                band * self.every as usize,
                (self.height / BAND) as usize,
            )
        };
        (0..count).map(move |i| &self.data[i * step..i * step + len])
    }

    /// Consecutive strips of `rows` rows (the last may be shorter), borrowed.
    fn parts(&self, rows: u32) -> Vec<Pixels<'_>> {
        debug_assert_eq!(self.every, 1, "strips of a sample");
        let row = self.width as usize * self.channels();
        self.data
            .chunks((rows as usize * row).max(1))
            .map(|chunk| Pixels {
                data: std::borrow::Cow::Borrowed(chunk),
                every: 1,
                width: self.width,
                height: (chunk.len() / row.max(1)) as u32,
                grey: self.grey,
            })
            .collect()
    }

    /// Whether two optimised encodes may run at once. Each holds the whole picture's DCT
    /// coefficients (optimised Huffman tables need a second pass over them): 4 bytes per
    /// sample, 266 MB for 44 MP at 4:2:0 and twice that at 4:4:4. Above
    /// [`PARALLEL_MAX_COEFFICIENT_BYTES`] the encodes run one after the other, trading
    /// time for half the peak memory (the 400 MP case went from 1.17 GB to about half).
    pub fn parallel_ok(&self, chroma: Chroma) -> bool {
        let samples_per_pixel = match (self.grey, chroma) {
            (true, _) => 1.0,
            (false, Chroma::Full) => 3.0,
            (false, Chroma::Half) => 1.5,
        };
        let bytes = f64::from(self.width) * f64::from(self.height) * samples_per_pixel * 4.0;
        bytes <= PARALLEL_MAX_COEFFICIENT_BYTES
    }

    /// Whether full encodes run in one pass with Huffman tables counted from the picture's
    /// strips (see "Big pictures" in the module documentation): above [`ONE_PASS_ABOVE`].
    pub fn one_pass(&self) -> bool {
        u64::from(self.width) * u64::from(self.height) > ONE_PASS_ABOVE
    }

    /// Encodes with the settings described in the module documentation, and no metadata.
    pub fn encode(&self, quality: u8, chroma: Chroma) -> Result<Vec<u8>> {
        self.encode_fine(f32::from(quality), chroma)
    }

    /// [`Pixels::encode_fine`], or with `tables` given, the one-pass encode with those
    /// Huffman tables (same quantisation, so the same pixels when decoded).
    pub fn encode_with(
        &self,
        quality: f32,
        chroma: Chroma,
        tables: Option<&Tables>,
    ) -> Result<Vec<u8>> {
        match tables {
            None => self.encode_fine(quality, chroma),
            Some(t) => {
                debug_assert_eq!(self.every, 1, "tables for a sample");
                let frame = Frame {
                    data: &self.data,
                    width: self.width,
                    height: self.height,
                    grey: self.grey,
                };
                compress::encode(&frame, quality, chroma, t)
            }
        }
    }

    /// [`Pixels::encode`] at a fractional quality: the quantisation tables are scaled
    /// continuously, so a quality between two integers lands between their sizes.
    pub fn encode_fine(&self, quality: f32, chroma: Chroma) -> Result<Vec<u8>> {
        self.encode_coded(quality, chroma, true)
    }

    /// [`Pixels::encode`] with the JPEG standard's Huffman tables, in one pass: the same
    /// symbols as the optimised encode (the tables change only how they are written), for
    /// [`gather`] to count. mozjpeg's statistics pass (`encode_mcu_gather`, plain C, the
    /// biggest single cost of an optimised encode at high qualities) is skipped.
    pub(super) fn encode_standard(&self, quality: u8, chroma: Chroma) -> Result<Vec<u8>> {
        self.encode_coded(f32::from(quality), chroma, false)
    }

    fn encode_coded(&self, quality: f32, chroma: Chroma, optimize: bool) -> Result<Vec<u8>> {
        let (w, h) = (self.width as usize, self.height as usize);
        #[cfg(test)]
        PIXELS_ENCODED.with(|n| n.set(n.get() + (w * h) as u64));
        let q = quality.clamp(1.0, 100.0);
        // libjpeg reports errors by unwinding; keep them inside this function.
        std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
            let mut c = mozjpeg::Compress::new(if self.grey {
                mozjpeg::ColorSpace::JCS_GRAYSCALE
            } else {
                mozjpeg::ColorSpace::JCS_RGB
            });
            c.set_fastest_defaults();
            c.set_optimize_coding(optimize);
            c.set_size(w, h);
            let table = mozjpeg::qtable::NRobidoux.scaled(q, q);
            c.set_luma_qtable(&table);
            if !self.grey {
                c.set_chroma_qtable(&table);
                match chroma {
                    Chroma::Full => c.set_chroma_sampling_pixel_sizes((1, 1), (1, 1)),
                    Chroma::Half => c.set_chroma_sampling_pixel_sizes((2, 2), (2, 2)),
                }
            }
            let mut started = c.start_compress(Vec::with_capacity(1 << 20))?;
            for run in self.runs() {
                started.write_scanlines(run)?;
            }
            started.finish()
        })
        .map_err(|_| Error::Fit("the JPEG encoder failed".into()))?
        .map_err(|e| Error::Fit(format!("the JPEG encoder failed: {e}")))
    }
}

#[cfg(test)]
thread_local! {
    /// Pixels this thread has passed to [`Pixels::encode_fine`]: lets a test tell a search
    /// from a prediction.
    pub static PIXELS_ENCODED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// See [`Pixels::parallel_ok`]: up to 33 MP at 4:2:0 or 16 MP at 4:4:4 two encodes run at
/// once (since [`ONE_PASS_ABOVE`], only pictures too flat to sample are encoded this way
/// that big).
const PARALLEL_MAX_COEFFICIENT_BYTES: f64 = 200_000_000.0;

/// Above this many pixels (4 MP), full encodes are one pass with counted Huffman tables
/// ([`gather`]). An optimised encode holds 4 bytes a sample (mozjpeg keeps the quantised
/// and the unquantised coefficients: measured 46 MB for 7.7 MP at 4:2:0 with heaptrack),
/// two run at once, and each spends about a quarter of its time on the statistics pass;
/// the strips are counted once per search instead. Measured on the quality benchmark's
/// 12 MP pictures: the same SSIMULACRA2 on all seven, 0.30 of ImageMagick's time instead
/// of 0.42. Below it the search is short, and the optimised tables' last fraction of a
/// percent is kept.
const ONE_PASS_ABOVE: u64 = 4_000_000;

/// Height of one sampled band: one row of 4:2:0 MCUs (16 pixel rows), so no JPEG block
/// straddles two bands, and thin bands spread the sample evenly over the picture.
pub const BAND: u32 = 16;
/// Below this many pixels the search runs on the whole picture.
const SAMPLE_ABOVE: u64 = 1_500_000;
/// The sample is about this many pixels (1/16 of 12 MP). Measured on 12 MP photo-like
/// pictures, its uncalibrated prediction of the full size was within ~1 %.
const SAMPLE_PIXELS: u64 = 750_000;
/// Full encodes before falling back to bisection (a good prediction needs one or two).
const ROUNDS: usize = 4;
/// How far off a calibrated prediction may be: a quality predicted to exceed the limit by
/// more than this is taken not to fit without encoding it (the calibrated predictions of
/// neighbouring qualities were within 0.5 % on the benchmark pictures), and one predicted
/// within it of the limit is checked by a second encode on the other core.
const SLACK: f64 = 0.015;

/// Predicts full-picture sizes from a sample's, calibrated by full encodes.
pub struct Predictor<'a> {
    sample: Pixels<'a>,
    /// Full rows per sampled row.
    factor: f64,
    chroma: Chroma,
    sizes: HashMap<u8, usize>,
    /// Whether the full picture is encoded in one pass ([`Pixels::one_pass`]), and then
    /// its Huffman tables, once gathered.
    one_pass: bool,
    tables: Option<Tables>,
    /// Real full size / predicted size, from the last calibration.
    ratio: f64,
}

impl<'a> Predictor<'a> {
    /// A predictor for `full`, or `None` if the picture is small enough to search directly.
    pub fn new(full: &'a Pixels<'_>, chroma: Chroma) -> Option<Predictor<'a>> {
        let pixels = u64::from(full.width) * u64::from(full.height);
        if pixels <= SAMPLE_ABOVE || full.height < 4 * BAND {
            return None;
        }
        let stride = ((pixels / SAMPLE_PIXELS) as u32).clamp(2, 16);
        let sample = full.sample(stride);
        if sample.height == 0 {
            return None;
        }
        Some(Predictor {
            factor: f64::from(full.height) / f64::from(sample.height),
            sample,
            chroma,
            sizes: HashMap::new(),
            one_pass: full.one_pass(),
            tables: None,
            ratio: 1.0,
        })
    }

    /// The predicted full size at `q`.
    pub fn predict(&mut self, q: u8) -> Result<f64> {
        let size = match self.sizes.get(&q) {
            Some(&s) => s,
            None => {
                let s = self.sample.encode(q, self.chroma)?.len();
                self.sizes.insert(q, s);
                s
            }
        };
        Ok(size as f64 * self.factor * self.ratio)
    }

    /// The Huffman tables for a full encode of `full` (the picture this predicts) at `q`,
    /// or `None` when the picture is small enough for optimised tables. They are gathered
    /// ([`gather`]) at the first quality asked for and kept for the others: the search's
    /// qualities are neighbours, whose statistics differ little.
    pub fn tables(&mut self, full: &Pixels<'_>, q: u8) -> Result<Option<Tables>> {
        if !self.one_pass {
            return Ok(None);
        }
        if self.tables.is_none() {
            self.tables = Some(gather(full, q, self.chroma)?);
        }
        Ok(self.tables.clone())
    }

    /// Learns from a full encode of `bytes` bytes at `q`.
    fn calibrate(&mut self, q: u8, bytes: usize) -> Result<()> {
        let raw = self.predict(q)? / self.ratio;
        if raw > 0.0 {
            self.ratio = bytes as f64 / raw;
        }
        Ok(())
    }

    /// The highest quality in `lo..=hi` predicted to be at most `target` bytes, or `None`.
    pub fn highest_under(&mut self, lo: u8, hi: u8, target: f64) -> Result<Option<u8>> {
        let mut found = None;
        let (mut a, mut b) = (i16::from(lo), i16::from(hi));
        while a <= b {
            let mid = (a + b + 1) / 2;
            if self.predict(mid as u8)? <= target {
                found = Some(mid as u8);
                a = mid + 1;
            } else {
                b = mid - 1;
            }
        }
        Ok(found)
    }
}

/// What [`search`] found.
pub struct Found {
    /// The highest fitting quality with its encoding, or `None` if `lo` does not fit.
    pub best: Option<(u8, Vec<u8>)>,
    /// The size at `lo`, when it was encoded and did not fit.
    pub at_lo: Option<usize>,
}

/// Searches the highest quality in `lo..=hi` whose encoding fits in `max` bytes (see the
/// module documentation).
pub fn search(
    full: &Pixels<'_>,
    chroma: Chroma,
    mut predictor: Option<&mut Predictor<'_>>,
    lo: u8,
    hi: u8,
    max: usize,
) -> Result<Found> {
    let hi = hi.max(lo);
    let limit = max as f64;
    let mut state = State {
        fit: None,
        fail: None,
        at_lo: None,
        lo,
    };
    if let Some(p) = predictor.as_deref_mut() {
        for _ in 0..ROUNDS {
            let Some((a, b)) = state.open(hi) else { break };
            // Known to fit, and the next quality is predicted well over: done.
            if let Some((f, _)) = &state.fit
                && p.predict(f + 1)? > limit * (1.0 + SLACK)
            {
                break;
            }
            let guess = p.highest_under(a, b, limit)?.unwrap_or(a);
            // A second candidate for the other core, where the prediction is unsure: the
            // next quality up if it might fit too, else the next one down if the guess
            // might not.
            let other = if guess < b && p.predict(guess + 1)? <= limit * (1.0 + SLACK) {
                Some(guess + 1)
            } else if guess > a && p.predict(guess)? > limit * (1.0 - SLACK) {
                Some(guess - 1)
            } else {
                None
            };
            // One set of tables serves every quality ([`Predictor::tables`]).
            let tables = p.tables(full, guess)?;
            let qualities: Vec<u8> = std::iter::once(guess).chain(other).collect();
            let jobs = qualities.iter().map(|&q| (f32::from(q), tables.as_ref()));
            for (q, bytes) in qualities
                .iter()
                .copied()
                .zip(encode_all(full, chroma, jobs)?)
            {
                if q == guess {
                    p.calibrate(q, bytes.len())?;
                }
                state.record(q, bytes, max);
            }
        }
        if let Some((f, _)) = &state.fit
            && (*f == hi || p.predict(f + 1)? > limit * (1.0 + SLACK))
        {
            return Ok(state.found());
        }
    }
    // Direct search (small pictures), or whatever the rounds left open.
    while let Some((a, b)) = state.open(hi) {
        // Try the top first when nothing is known yet: small pictures often fit at `hi`.
        let q = if state.fit.is_none() && state.fail.is_none() {
            b
        } else {
            ((u16::from(a) + u16::from(b)).div_ceil(2)) as u8
        };
        let tables = match predictor.as_deref_mut() {
            Some(p) => p.tables(full, q)?,
            None => None,
        };
        let bytes = full.encode_with(f32::from(q), chroma, tables.as_ref())?;
        state.record(q, bytes, max);
    }
    Ok(state.found())
}

/// Spends what the integer search left of the budget: `q` fits (as `bytes`) and `q + 1`
/// does not, so the qualities between them are tried — two at once, on two threads — and
/// the highest that fits is returned (its size is between the two integers': up to ~2 %
/// more of the budget used at photo qualities, for the same encoder settings).
pub fn refine(
    full: &Pixels<'_>,
    chroma: Chroma,
    tables: Option<&Tables>,
    q: u8,
    bytes: Vec<u8>,
    max: usize,
) -> Result<Vec<u8>> {
    let base = f32::from(q);
    let steps: &[f32] = if parallel(full, chroma, tables) {
        &[2.0 / 3.0, 1.0 / 3.0]
    } else {
        // One step, not two at once: see [`Pixels::parallel_ok`].
        &[0.5]
    };
    let jobs = steps.iter().map(|s| (base + s, tables));
    Ok(encode_all(full, chroma, jobs)?
        .into_iter()
        .find(|e| e.len() <= max)
        .unwrap_or(bytes))
}

/// What the search knows: the best fitting encoding, and the lowest quality known not to.
struct State {
    fit: Option<(u8, Vec<u8>)>,
    fail: Option<u8>,
    at_lo: Option<usize>,
    lo: u8,
}

impl State {
    fn record(&mut self, q: u8, bytes: Vec<u8>, max: usize) {
        if bytes.len() <= max {
            if self.fit.as_ref().is_none_or(|(f, _)| q > *f) {
                self.fit = Some((q, bytes));
            }
        } else {
            if q == self.lo {
                self.at_lo = Some(bytes.len());
            }
            if self.fail.is_none_or(|f| q < f) {
                self.fail = Some(q);
            }
        }
    }

    /// The qualities still undecided, as an inclusive range.
    fn open(&self, hi: u8) -> Option<(u8, u8)> {
        let a = match &self.fit {
            Some((q, _)) => q.checked_add(1)?,
            None => self.lo,
        };
        let b = match self.fail {
            Some(f) => f.checked_sub(1)?,
            None => hi,
        };
        (a <= b).then_some((a, b))
    }

    fn found(self) -> Found {
        Found {
            best: self.fit,
            at_lo: self.at_lo,
        }
    }
}

/// Rows per part when gathering statistics ([`gather`]): 64 rows of a 6667-pixel-wide
/// picture hold 2.6 MB of coefficients at 4:4:4. The counts do not depend on it.
const GATHER_ROWS: u32 = 64;

/// Huffman tables for all of `full` at `q`, from the symbols of encodes of its strips of
/// [`GATHER_ROWS`] rows, two at once (see [`super::huffman`]). Every block is counted: a
/// sample of bands would miss what lies between them (a thin rule, a band of detail),
/// and symbols it never saw would cost the longest codes everywhere they occur.
fn gather(full: &Pixels<'_>, q: u8, chroma: Chroma) -> Result<Tables> {
    let parts = full.parts(GATHER_ROWS);
    let weigh = |offset: usize| -> Result<Counts> {
        let mut c = Counts::default();
        for part in parts.iter().skip(offset).step_by(2) {
            c.add(&part.encode_standard(q, chroma)?).ok_or_else(|| {
                Error::Fit("the JPEG encoder wrote a scan its tables do not read".into())
            })?;
        }
        Ok(c)
    };
    let (mut counts, odd) = on_two_threads(|| weigh(0), || weigh(1))?;
    counts.merge(&odd);
    Ok(counts.tables())
}

/// Runs `a` here and `b` on another thread, at once; both results, or the first error.
fn on_two_threads<A, B: Send>(
    a: impl FnOnce() -> Result<A>,
    b: impl FnOnce() -> Result<B> + Send,
) -> Result<(A, B)> {
    std::thread::scope(|s| {
        let other = s.spawn(b);
        let first = a();
        let second = other
            .join()
            .map_err(|_| Error::Fit("the JPEG encoder thread failed".into()))?;
        Ok((first?, second?))
    })
}

/// Whether two full encodes may run at once: one-pass encodes always may (they hold no
/// picture-sized buffer), optimised ones as [`Pixels::parallel_ok`] says.
fn parallel(full: &Pixels<'_>, chroma: Chroma, tables: Option<&Tables>) -> bool {
    tables.is_some() || full.parallel_ok(chroma)
}

/// Encodes `full` at each (quality, tables) of `jobs` (at most two), in order, two at once
/// on two threads when [`parallel`] allows.
fn encode_all<'t>(
    full: &Pixels<'_>,
    chroma: Chroma,
    jobs: impl Iterator<Item = (f32, Option<&'t Tables>)>,
) -> Result<Vec<Vec<u8>>> {
    let jobs: Vec<_> = jobs.collect();
    match jobs.as_slice() {
        &[(a, ta), (b, tb)] if parallel(full, chroma, ta) && parallel(full, chroma, tb) => {
            let (first, second) = on_two_threads(
                || full.encode_with(a, chroma, ta),
                || full.encode_with(b, chroma, tb),
            )?;
            Ok(vec![first, second])
        }
        jobs => jobs
            .iter()
            .map(|&(q, t)| full.encode_with(q, chroma, t))
            .collect(),
    }
}

/// Chroma resolution of a JPEG file's first frame: `Full` when every component has the
/// same sampling factors, `Half` otherwise; `None` if it is not a JPEG or has no frame
/// header before its first scan.
pub fn jpeg_chroma(bytes: &[u8]) -> Option<Chroma> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut found = None;
    // A malformed header after the frame's does not change what the frame says.
    let _ = super::meta::walk_jpeg_header(bytes, |marker, seg| {
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if found.is_none()
            && (0xC0..=0xCF).contains(&marker)
            && ![0xC4, 0xC8, 0xCC].contains(&marker)
        {
            found = Some(frame_chroma(seg));
        }
    });
    found.flatten()
}

/// [`jpeg_chroma`] of one frame header's payload.
fn frame_chroma(seg: &[u8]) -> Option<Chroma> {
    let n = usize::from(*seg.get(5)?);
    let factors: Vec<u8> = (0..n)
        .map(|k| seg.get(6 + 3 * k + 1).copied())
        .collect::<Option<_>>()?;
    let first = *factors.first()?;
    Some(if factors.iter().all(|&f| f == first) {
        Chroma::Full
    } else {
        Chroma::Half
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(w: u32, h: u32) -> RgbImage {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        RgbImage::from_fn(w, h, |x, y| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let n = (s >> 60) as u8;
            image::Rgb([(x / 8) as u8 ^ n, (y / 8) as u8 + n, 90 + n])
        })
    }

    #[test]
    fn sample_keeps_width_and_takes_bands() {
        let img = RgbImage::from_fn(100, 20 * BAND, |_, y| image::Rgb([(y / BAND) as u8, 0, 0]));
        let full = Pixels::new(&img, false);
        let s = full.sample(4);
        assert_eq!((s.width, s.height), (100, 5 * BAND));
        // The second sampled band is band 4.
        let bands: Vec<&[u8]> = s.runs().collect();
        assert_eq!(bands.len(), 5);
        assert_eq!(bands[1][0], 4);
        assert!(bands.iter().all(|b| b.len() == BAND as usize * 100 * 3));
    }

    #[test]
    fn chroma_sampling_is_read_from_the_frame_header() {
        let img = noisy(64, 48);
        let px = Pixels::new(&img, false);
        let full = px.encode(80, Chroma::Full).unwrap();
        let half = px.encode(80, Chroma::Half).unwrap();
        assert_eq!(jpeg_chroma(&full), Some(Chroma::Full));
        assert_eq!(jpeg_chroma(&half), Some(Chroma::Half));
        assert_eq!(jpeg_chroma(b"\x89PNG\r\n"), None);
        assert_eq!(jpeg_chroma(&full[..20]), None, "truncated before the frame");
    }

    /// A one-pass encode with the gathered tables quantises as the optimised encode does
    /// (decoded, the same pixels), in the same chroma, and costs at most a little more,
    /// never less: optimised tables are the smallest for the picture's own counts.
    /// (`noisy` is the hard case: its statistics vary from band to band.)
    #[test]
    fn one_pass_encodes_the_same_pixels_at_about_the_same_size() {
        let img = noisy(1024, 768);
        let decode = |b: &[u8]| image::load_from_memory(b).expect("decodes").into_bytes();
        for (grey, chroma) in [
            (false, Chroma::Half),
            (false, Chroma::Full),
            (true, Chroma::Half),
        ] {
            let px = Pixels::new(&img, grey);
            for q in [30u8, 75, 97] {
                let tables = gather(&px, q, chroma).expect("tables");
                let one = px
                    .encode_with(f32::from(q), chroma, Some(&tables))
                    .expect("one pass");
                let opt = px.encode(q, chroma).expect("optimised");
                let what = format!(
                    "grey {grey}, {chroma:?}, q{q}: {} vs {}",
                    one.len(),
                    opt.len()
                );
                assert_eq!(decode(&one), decode(&opt), "{what}");
                assert!(opt.len() <= one.len(), "{what}");
                // The counts are the whole picture's, as the optimised encode's: only the
                // codes of symbols never used (about 300 bytes of tables) and the DC
                // differences at the parts' edges differ.
                assert!(one.len() <= opt.len() + 600, "{what}");
                if !grey {
                    assert_eq!(jpeg_chroma(&one), Some(chroma), "{what}");
                }
            }
        }
        // A frame whose bytes do not match its size is refused, not read past.
        let frame = Frame {
            data: &[0; 10],
            width: 4,
            height: 4,
            grey: false,
        };
        let tables = gather(&Pixels::new(&img, false), 80, Chroma::Half).unwrap();
        assert!(compress::encode(&frame, 80.0, Chroma::Half, &tables).is_err());
    }

    /// Above [`ONE_PASS_ABOVE`] the search's full encodes are one-pass (their tables have a
    /// code for every AC symbol, which no optimised table of a real picture has) and the
    /// search still lands on the highest quality that fits.
    #[test]
    fn big_pictures_are_searched_with_one_pass_encodes() {
        let (w, h) = (4160, 3900);
        assert!(u64::from(w) * u64::from(h) > ONE_PASS_ABOVE);
        let img = RgbImage::from_fn(w, h, |x, y| {
            let n = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) >> 3) as u8 & 7;
            image::Rgb([(x / 17) as u8 + n, (y / 15) as u8, ((x + y) / 33) as u8 ^ n])
        });
        let px = Pixels::new(&img, false);
        assert!(px.one_pass());
        let mut pred = Predictor::new(&px, Chroma::Half).expect("sampled");
        let t80 = pred.tables(&px, 80).unwrap().expect("one pass");
        let at = |q: u8, t: &Tables| px.encode_with(f32::from(q), Chroma::Half, Some(t)).unwrap();
        let max = at(80, &t80).len() + 1;
        let found = search(&px, Chroma::Half, Some(&mut pred), 60, 95, max).unwrap();
        let (q, bytes) = found.best.expect("80 fits");
        assert!(bytes.len() <= max);
        assert!(q >= 80, "found q{q}");
        let t = pred.tables(&px, q + 1).unwrap().expect("one pass");
        assert!(q == 95 || at(q + 1, &t).len() > max, "q{} fits too", q + 1);
        assert_eq!(t.ac[0].values.len(), 162, "complete tables");
        let mut c = Counts::default();
        c.add(&bytes).expect("the output reads with its tables");
    }

    /// The search must return the same quality as trying every quality, with a sample
    /// predictor or without, for limits that land anywhere in the range.
    #[test]
    fn search_finds_what_exhaustive_search_finds() {
        let img = noisy(1600, 1200);
        let px = Pixels::new(&img, false);
        let sizes: Vec<usize> = (60..=95)
            .map(|q| px.encode(q, Chroma::Half).unwrap().len())
            .collect();
        for max in [
            sizes[0] - 1,
            sizes[0],
            sizes[10] + 5,
            sizes[30],
            sizes[35] + 1,
        ] {
            let truth = (60..=95u8)
                .rev()
                .find(|&q| sizes[usize::from(q - 60)] <= max);
            let mut pred = Predictor::new(&px, Chroma::Half);
            assert!(pred.is_some(), "1.9 MP is sampled");
            for p in [pred.as_mut(), None] {
                let found = search(&px, Chroma::Half, p, 60, 95, max).unwrap();
                let got = found.best.as_ref().map(|(q, b)| {
                    assert!(b.len() <= max);
                    *q
                });
                match (truth, got) {
                    (None, None) => assert_eq!(found.at_lo, Some(sizes[0])),
                    (Some(t), Some(g)) => assert_eq!(g, t, "max {max}"),
                    other => panic!("max {max}: {other:?}"),
                }
            }
        }
    }
}
