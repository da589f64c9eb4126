//! Width variants: `/mmbiz_jpg/<id>/640`, `/300`, `/1080` (and `?tp=webp`), as the
//! platform's CDN serves them next to the original `/0`.
//!
//! Invariant: a variant is a pure function of the picture's bytes, the width and the
//! output format ([`RECIPE`] names the encoder settings), so it is as immutable as the
//! picture and its `ETag` is derived from the three; it is never wider than the picture
//! (a picture no wider than the width is answered by its own bytes), and it costs at most
//! [`Resizer`]'s bounds to make: a few at a time (`--resize-concurrency`), within a memory
//! budget (`--resize-memory-mb`) that every resize reserves its estimate from before it
//! decodes a pixel. Variants are kept only in memory (`picture_cache`, next to the
//! originals, dropped on takedown with them): they are never stored, so they are neither
//! pictures nor blobs, and `fsck` never sees them.
//!
//! The widths are the platform's: 640 (article bodies, by far the most common), 300 (an
//! account's avatar and cards) and 1080; at most [`MAX_VARIANTS_PER_PICTURE`] exist per
//! picture. Any other width is a 404 (wximg found no capture of the CDN answering others).
//!
//! How a JPEG is made smaller: libjpeg-turbo decodes it at n/8 of its size (DCT scaling,
//! the smallest n whose result is still at least the width), so a 640 px variant of a
//! 12 MP photo decodes about 1 MP; then a triangle filter brings it to the width and it
//! is encoded at quality [`JPEG_QUALITY`]. The EXIF orientation is applied first (the
//! variant carries no EXIF, and the width is the displayed width). PNG is decoded whole
//! (PNG has no cheaper way), resized, and encoded with fast compression. `tp=webp` is
//! lossless WebP (`image`'s encoder, the maintained pure-Rust one, has no lossy mode).
//! GIF (animated) and BMP are answered with their own bytes at every width.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use image::{DynamicImage, ImageEncoder, RgbImage};
use tokio::sync::Semaphore;
use wximg_proto::{ImageFormat, ImageId};

/// The widths the platform's CDN serves besides `0` (the original).
pub const WIDTHS: [u32; 3] = [300, 640, 1080];

/// Every variant a picture can have: each width, in its own format and in WebP.
pub const MAX_VARIANTS_PER_PICTURE: usize = WIDTHS.len() * 2;

/// Names the encoder settings below; part of every variant's `ETag`, so a change of
/// them is a new representation.
pub const RECIPE: &str = "v1";

/// The JPEG quality of a JPEG variant (libjpeg's scale).
pub const JPEG_QUALITY: f32 = 82.0;

/// The size segment of a picture URL: `0` is the original, the platform's widths are
/// variants, anything else is not a picture (404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Original,
    Width(u32),
}

impl Size {
    pub fn parse(segment: &str) -> Option<Size> {
        match segment {
            "0" => Some(Size::Original),
            s => WIDTHS
                .into_iter()
                .find(|w| w.to_string() == s)
                .map(Size::Width),
        }
    }
}

/// What a variant is encoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// The picture's own format (JPEG or PNG).
    Same,
    /// `?tp=webp`.
    WebP,
}

impl Output {
    /// `tp=webp` anywhere in the query asks for WebP; every other parameter (`wx_fmt`,
    /// `from`, `wxfrom`, `wx_lazy`, `wx_co`, …) changes nothing, as on the platform.
    pub fn from_query(query: Option<&str>) -> Output {
        let webp = query.is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "tp" && v == "webp")
        });
        if webp { Output::WebP } else { Output::Same }
    }
}

/// A variant's key in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VariantKey {
    pub id: ImageId,
    pub width: u32,
    pub output: Output,
}

impl VariantKey {
    /// Every key a picture's variants can have (to drop them all on takedown).
    pub fn all_of(id: ImageId) -> impl Iterator<Item = VariantKey> {
        WIDTHS.into_iter().flat_map(move |width| {
            [Output::Same, Output::WebP]
                .into_iter()
                .map(move |output| VariantKey { id, width, output })
        })
    }

    /// The strong `ETag` of the variant: the picture's hash, the width, the format and
    /// the recipe.
    pub fn etag(&self) -> String {
        let webp = if self.output == Output::WebP {
            ".webp"
        } else {
            ""
        };
        format!("\"{}.{}{webp}.{RECIPE}\"", self.id.hex(), self.width)
    }
}

/// How a request for a width is answered, decided from the picture's row alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The picture's own bytes: GIF and BMP, a picture no larger than the width in
    /// its own format, and one too large for the resize budget.
    Original,
    /// A variant to make (or find in the cache), reserving this many bytes first.
    Make { estimate: u64 },
}

/// A picture's rendered variant.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Bytes,
    pub mime: &'static str,
}

/// Why a variant could not be made (the original is answered instead, and logged).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot decode the picture: {0}")]
    Decode(String),
    #[error("cannot encode the variant: {0}")]
    Encode(String),
}

/// What the service was told about variants (`wximg serve` flags).
#[derive(Debug, Clone)]
pub struct VariantSettings {
    /// Bytes of variants kept in memory; 0 makes every request resize.
    pub cache_bytes: u64,
    /// Resizes running at once; others wait (`--resize-concurrency`).
    pub resize_concurrency: usize,
    /// Decoded pixels (and buffers) all running resizes may hold together
    /// (`--resize-memory-mb`); a picture whose estimate exceeds it is answered whole.
    pub resize_memory_bytes: u64,
    /// `--hotlink-protection HOSTS`: `None` serves everyone (the default).
    pub hotlink_hosts: Option<Vec<String>>,
}

impl Default for VariantSettings {
    fn default() -> VariantSettings {
        VariantSettings {
            cache_bytes: 32 * 1024 * 1024,
            resize_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            resize_memory_bytes: 128 * 1024 * 1024,
            hotlink_hosts: None,
        }
    }
}

/// The bounds on resizing: slots (how many at once) and a memory budget, in KiB permits.
pub struct Resizer {
    /// The resize threads' queue (see [`spawn_workers`]).
    jobs: std::sync::mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    budget: Arc<Semaphore>,
    budget_kib: u32,
    /// Resizes done, running now, and the most that ever ran at once (for tests and
    /// `/metrics`).
    renders: AtomicU64,
    running: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Resizer {
    pub fn new(settings: &VariantSettings) -> Resizer {
        let budget_kib = (settings.resize_memory_bytes / 1024).clamp(1, u32::MAX as u64) as u32;
        Resizer {
            jobs: spawn_workers(settings.resize_concurrency.max(1)),
            slots: Arc::new(Semaphore::new(settings.resize_concurrency.max(1))),
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            renders: AtomicU64::new(0),
            running: Arc::new((AtomicUsize::new(0), AtomicUsize::new(0))),
        }
    }

    /// Variants made since start.
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// The most resizes that ever ran at once.
    pub fn peak_concurrency(&self) -> usize {
        self.running.1.load(Ordering::Relaxed)
    }

    /// How a request for `width` of a picture of this format and size is answered.
    pub fn plan(
        &self,
        format: ImageFormat,
        (w, h): (u32, u32),
        source_len: u64,
        width: u32,
        output: Output,
    ) -> Plan {
        if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
            return Plan::Original;
        }
        // Not wider than the width however it is turned: its own bytes, unless WebP is
        // asked for (then it is re-encoded at its own size).
        if w.max(h) <= width && output == Output::Same {
            return Plan::Original;
        }
        let estimate = estimate(format, (w, h), source_len, width);
        if estimate / 1024 >= u64::from(self.budget_kib) {
            return Plan::Original;
        }
        Plan::Make { estimate }
    }

    /// Once the picture's bytes are read: `estimate` plus what a JPEG of several scans
    /// makes libjpeg hold (every coefficient: 294 MB for a 7000×7000 progressive
    /// picture of 862 KB), or `None` when no variant is to be made of it — more than
    /// [`MAX_VARIANT_SCANS`] scans (each is a pass over every block: 10,573 scans in
    /// 1 MB took 29 s), or over the whole budget. Bytes the JPEG rule does not read
    /// keep the estimate (the decoder decides).
    pub fn refine(&self, format: ImageFormat, source: &[u8], estimate: u64) -> Option<u64> {
        if format != ImageFormat::Jpeg {
            return Some(estimate);
        }
        let Some(layout) = wximg_proto::rules::jpeg_layout(source) else {
            return Some(estimate);
        };
        if layout.scans > MAX_VARIANT_SCANS {
            return None;
        }
        let full = estimate.saturating_add(layout.coefficient_bytes());
        (full / 1024 < u64::from(self.budget_kib)).then_some(full)
    }

    /// Waits for a slot and `estimate` bytes of the budget: take it *before* reading the
    /// picture's bytes (the estimate counts them), so waiting requests hold nothing.
    pub async fn reserve(&self, estimate: u64) -> Result<Reservation, RenderError> {
        let unavailable = |_| RenderError::Decode("the resizer is shut down".into());
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(unavailable)?;
        let kib = ((estimate / 1024) as u32).clamp(1, self.budget_kib);
        let reserved = self
            .budget
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(unavailable)?;
        Ok(Reservation {
            permits: (slot, reserved),
            max_alloc: u64::from(kib) * 1024,
        })
    }

    /// Makes the variant on a resize thread, under `reservation`.
    pub async fn render(
        &self,
        reservation: Reservation,
        source: Bytes,
        format: ImageFormat,
        width: u32,
        output: Output,
    ) -> Result<Rendered, RenderError> {
        self.renders.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("wximg_variant_renders_total").increment(1);
        let running = self.running.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The permits move into the job: a request that goes away (its future dropped)
        // does not free them while the decode still holds its pixels.
        let job: Job = Box::new(move || {
            let now = running.0.fetch_add(1, Ordering::SeqCst) + 1;
            running.1.fetch_max(now, Ordering::SeqCst);
            let made = render(&source, format, width, output, reservation.max_alloc);
            running.0.fetch_sub(1, Ordering::SeqCst);
            drop(reservation.permits);
            let _ = tx.send(made);
        });
        self.jobs
            .send(job)
            .map_err(|_| RenderError::Decode("the resize threads are gone".into()))?;
        rx.await
            .map_err(|_| RenderError::Decode("the resize failed (a panic, logged)".into()))?
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts the `n` threads every resize runs on. Their own threads, not tokio's blocking
/// pool: each thread's allocator keeps what it once held (glibc keeps one arena per
/// thread), so resizes spread over the pool's many threads grew the process to several
/// times the budget (140–275 MB for 64 cold 12 MP variants, 58 MB with one arena);
/// `n` threads hold at most `n` arenas' worth. They end when the [`Resizer`] is dropped.
fn spawn_workers(n: usize) -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wximg-resize-{i}"))
            .spawn(move || {
                loop {
                    // A poisoned lock only means another worker panicked while waiting.
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(job) = job else {
                        return; // the Resizer is gone
                    };
                    // A panic fails that one resize (its answer falls back), not the thread.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a resize panicked");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start resize thread {i}: {e}");
        }
    }
    tx
}

/// A resize slot and its share of the memory budget, held until the resize ends.
pub struct Reservation {
    permits: (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
    max_alloc: u64,
}

/// The smallest n (of n/8) at which libjpeg's scaled decode of `len` pixels is at least
/// `target` pixels.
fn dct_scale(len: u32, target: u32) -> u8 {
    (1..=8u8)
        .find(|&n| (u64::from(len) * u64::from(n)).div_ceil(8) >= u64::from(target))
        .unwrap_or(8)
}

/// The most scans a JPEG may have for a variant to be made of it; one of more is
/// answered whole. Encoders write 1 (baseline) to about 20 (progressive, optimised
/// scans); libjpeg-turbo advises a limit for untrusted progressive input.
pub const MAX_VARIANT_SCANS: usize = 100;

/// What a resize holds at its peak, over-estimated: the decoded pixels (at the DCT scale
/// for JPEG, conservatively for either orientation), the resized ones, the output and
/// the source.
fn estimate(format: ImageFormat, (w, h): (u32, u32), source_len: u64, width: u32) -> u64 {
    let decoded = match format {
        ImageFormat::Jpeg => {
            let n = u64::from(dct_scale(w.min(h), width));
            (u64::from(w) * n).div_ceil(8) * (u64::from(h) * n).div_ceil(8) * 4
        }
        _ => u64::from(w) * u64::from(h) * 4,
    };
    let longest = u64::from(w.max(h));
    let resized =
        u64::from(width) * (longest * u64::from(width)).div_ceil(u64::from(w.min(h)).max(1)) * 4;
    decoded + 2 * resized + source_len + 64 * 1024
}

/// Makes one variant (blocking; on a resize thread). `max_alloc` bounds the decoder's
/// allocations (the estimate reserved for it).
pub fn render(
    source: &[u8],
    format: ImageFormat,
    width: u32,
    output: Output,
    max_alloc: u64,
) -> Result<Rendered, RenderError> {
    let picture = match format {
        ImageFormat::Jpeg => decode_jpeg(source, width)?,
        _ => {
            let mut reader = image::ImageReader::with_format(
                std::io::Cursor::new(source),
                image::ImageFormat::Png,
            );
            let mut limits = image::Limits::default();
            limits.max_alloc = Some(max_alloc);
            reader.limits(limits);
            let decoded = reader
                .decode()
                .map_err(|e| RenderError::Decode(e.to_string()))?;
            // 8 bits per channel, with alpha only if the picture has it.
            if decoded.color().has_alpha() {
                DynamicImage::ImageRgba8(decoded.into_rgba8())
            } else {
                DynamicImage::ImageRgb8(decoded.into_rgb8())
            }
        }
    };
    let picture = if picture.width() > width {
        let height = (u64::from(picture.height()) * u64::from(width))
            .div_ceil(u64::from(picture.width()))
            .max(1) as u32;
        picture.resize_exact(width, height, image::imageops::FilterType::Triangle)
    } else {
        picture // never enlarged
    };
    match (output, format) {
        (Output::WebP, _) => encode_webp(&picture),
        (Output::Same, ImageFormat::Jpeg) => encode_jpeg(&picture.into_rgb8()),
        (Output::Same, _) => encode_png(&picture),
    }
}

/// Decodes a JPEG at the smallest DCT scale still at least `width` wide once turned by
/// its EXIF orientation, and turns it.
fn decode_jpeg(source: &[u8], width: u32) -> Result<DynamicImage, RenderError> {
    // libjpeg reports errors by unwinding; keep them inside this function.
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<_> {
        let mut d =
            mozjpeg::Decompress::with_markers(&[mozjpeg::Marker::APP(1)]).from_mem(source)?;
        let orientation = d
            .markers()
            .filter_map(|m| m.data.strip_prefix(b"Exif\0\0"))
            .find_map(image::metadata::Orientation::from_exif_chunk)
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let (w, h) = d.size();
        let turned = matches!(
            orientation,
            image::metadata::Orientation::Rotate90
                | image::metadata::Orientation::Rotate270
                | image::metadata::Orientation::Rotate90FlipH
                | image::metadata::Orientation::Rotate270FlipH
        );
        let across = if turned { h } else { w };
        d.scale(dct_scale(across as u32, width));
        let mut started = d.rgb()?;
        let (sw, sh) = (started.width() as u32, started.height() as u32);
        let pixels = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok((sw, sh, pixels, orientation))
    })
    .map_err(|_| RenderError::Decode("libjpeg failed".into()))?
    .map_err(|e| RenderError::Decode(e.to_string()))?;
    let (w, h, pixels, orientation) = decoded;
    let rgb = RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| RenderError::Decode("short pixel data".into()))?;
    let mut picture = DynamicImage::ImageRgb8(rgb);
    picture.apply_orientation(orientation);
    Ok(picture)
}

fn encode_jpeg(rgb: &RgbImage) -> Result<Rendered, RenderError> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let bytes = std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_fastest_defaults();
        c.set_optimize_coding(true);
        c.set_quality(JPEG_QUALITY);
        c.set_size(w, h);
        let mut started = c.start_compress(Vec::with_capacity(w * h / 4))?;
        started.write_scanlines(rgb.as_raw())?;
        started.finish()
    })
    .map_err(|_| RenderError::Encode("libjpeg failed".into()))?
    .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(Rendered {
        bytes: bytes.into(),
        mime: "image/jpeg",
    })
}

fn encode_png(picture: &DynamicImage) -> Result<Rendered, RenderError> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        picture.as_bytes(),
        picture.width(),
        picture.height(),
        picture.color().into(),
    )
    .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(Rendered {
        bytes: out.into(),
        mime: "image/png",
    })
}

fn encode_webp(picture: &DynamicImage) -> Result<Rendered, RenderError> {
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .write_image(
            picture.as_bytes(),
            picture.width(),
            picture.height(),
            picture.color().into(),
        )
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(Rendered {
        bytes: out.into(),
        mime: "image/webp",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(Size::parse("0"), Some(Size::Original));
        assert_eq!(Size::parse("640"), Some(Size::Width(640)));
        assert_eq!(Size::parse("300"), Some(Size::Width(300)));
        assert_eq!(Size::parse("1080"), Some(Size::Width(1080)));
        for bad in ["", "00", "0640", "641", "-1", "640 ", "1e3", "99999999999"] {
            assert_eq!(Size::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn queries() {
        assert_eq!(Output::from_query(None), Output::Same);
        assert_eq!(
            Output::from_query(Some("wx_fmt=png&from=appmsg")),
            Output::Same
        );
        assert_eq!(
            Output::from_query(Some("wx_fmt=png&tp=webp&wxfrom=5&wx_lazy=1")),
            Output::WebP
        );
    }

    #[test]
    fn scales() {
        assert_eq!(dct_scale(4000, 640), 2); // 1000 px, 500 would be too few
        assert_eq!(dct_scale(4000, 300), 1);
        assert_eq!(dct_scale(700, 640), 8);
        assert_eq!(
            VariantKey::all_of(ImageId::of(b"x")).count(),
            MAX_VARIANTS_PER_PICTURE
        );
    }

    #[test]
    fn plans() {
        let r = Resizer::new(&VariantSettings::default());
        let plan = |f, dims, w, o| r.plan(f, dims, 1 << 20, w, o);
        assert_eq!(
            plan(ImageFormat::Gif, (4000, 3000), 640, Output::Same),
            Plan::Original
        );
        assert_eq!(
            plan(ImageFormat::Jpeg, (600, 400), 640, Output::Same),
            Plan::Original
        );
        assert!(matches!(
            plan(ImageFormat::Jpeg, (600, 400), 640, Output::WebP),
            Plan::Make { .. }
        ));
        // A 12 MP JPEG at 640 decodes 0.75 MP: under 12 MB reserved, not the 48 of 12 MP.
        let Plan::Make { estimate } = plan(ImageFormat::Jpeg, (4000, 3000), 640, Output::Same)
        else {
            panic!("a 12 MP JPEG is resized")
        };
        assert!(estimate < 12 << 20, "{estimate}");
        // A 50 MP PNG needs 200 MB decoded: more than the default budget, served whole.
        assert_eq!(
            plan(ImageFormat::Png, (8000, 6250), 640, Output::Same),
            Plan::Original
        );
    }
}
