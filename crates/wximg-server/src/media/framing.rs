//! The limits on a multipart body's framing that `multer` lacks.
//!
//! Invariant: the stream [`Framing`] passes to the parser has at most
//! [`PREAMBLE_LIMIT`] bytes before its first boundary, at most [`PART_HEAD_LIMIT`] bytes
//! in any part's header block, at most [`MAX_PARTS`] parts, and comes in chunks of at
//! least [`MIN_CHUNK`] bytes (but the last). Any other body ends in [`FramingError`].
//!
//! Why: `multer` keeps the preamble and a part's header block in one buffer and searches
//! the whole buffer again for each chunk that arrives. A preamble that never contains the
//! boundary, or a header block that never ends, held all its bytes (200 MiB) and cost
//! quadratic CPU (56 s) when sent in small TCP segments. Capping both phases bounds the
//! buffer, and handing the parser chunks of at least [`MIN_CHUNK`] bytes bounds how many
//! times a capped buffer is searched, so the parse is linear in the body.
//!
//! This scanner only finds where the phases begin and end (a boundary delimiter, the
//! blank line after a header block) with one linear search (`memchr::memmem`) over each
//! byte; the parsing itself stays multer's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use memchr::memmem::Finder;

/// Bytes allowed before the first boundary. Real clients send none.
pub const PREAMBLE_LIMIT: usize = 16 * 1024;
/// Bytes allowed in one part's header block (Content-Disposition, Content-Type, …).
pub const PART_HEAD_LIMIT: usize = 16 * 1024;
/// Parts allowed in one body. Real clients send one to three.
pub const MAX_PARTS: usize = 16;
/// Chunks smaller than this are joined before the parser sees them.
pub const MIN_CHUNK: usize = 8 * 1024;

/// Why a body's framing was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("no boundary in the first {PREAMBLE_LIMIT} bytes")]
    Preamble,
    #[error("a part's header block is over {PART_HEAD_LIMIT} bytes")]
    PartHead,
    #[error("more than {MAX_PARTS} parts")]
    TooManyParts,
}

/// Where the scanner is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the first delimiter; bytes seen so far.
    Preamble(usize),
    /// Just after a delimiter: `--` next would close the body. Bytes of the two seen.
    AfterDelimiter(usize),
    /// In a part's header block; bytes seen so far.
    Head(usize),
    /// In a part's body.
    Body,
    /// After the closing delimiter: nothing more is parsed.
    Epilogue,
}

/// The framing scanner, fed the body's bytes in order, however they are split.
pub struct Scanner {
    /// `--boundary` (the first delimiter may start the body).
    first: Finder<'static>,
    /// `\r\n--boundary` (every later delimiter).
    delimiter: Finder<'static>,
    blank_line: Finder<'static>,
    phase: Phase,
    parts: usize,
    /// The last bytes of the previous chunk, so a needle split across chunks is found.
    tail: Vec<u8>,
}

impl Scanner {
    pub fn new(boundary: &str) -> Scanner {
        Scanner {
            first: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            delimiter: Finder::new(format!("\r\n--{boundary}").as_bytes()).into_owned(),
            blank_line: Finder::new(b"\r\n\r\n").into_owned(),
            phase: Phase::Preamble(0),
            parts: 0,
            tail: Vec::new(),
        }
    }

    /// Scans the next bytes of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), FramingError> {
        // Searched: what was kept of the last chunk, then this one. Each byte is searched
        // at most twice (once in its chunk, once in the kept tail).
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let mut at = 0;
        while at < window.len() {
            let rest = &window[at..];
            match self.phase {
                Phase::Epilogue => return Ok(()),
                Phase::Preamble(seen) => {
                    match capped_find(&self.first, rest, seen, PREAMBLE_LIMIT) {
                        Some(Found::End(end)) => {
                            at += end;
                            self.phase = Phase::AfterDelimiter(0);
                        }
                        Some(Found::NotYet(seen, keep)) => {
                            self.phase = Phase::Preamble(seen);
                            self.tail = rest[rest.len() - keep..].to_vec();
                            return Ok(());
                        }
                        None => return Err(FramingError::Preamble),
                    }
                }
                Phase::AfterDelimiter(seen) => {
                    let byte = rest[0];
                    at += 1;
                    self.phase = match (seen, byte) {
                        (0, b'-') => Phase::AfterDelimiter(1),
                        (1, b'-') => Phase::Epilogue,
                        // Not a close: a part begins (these bytes are its header's).
                        (seen, _) => {
                            self.parts += 1;
                            if self.parts > MAX_PARTS {
                                return Err(FramingError::TooManyParts);
                            }
                            Phase::Head(seen + 1)
                        }
                    };
                }
                Phase::Head(seen) => {
                    match capped_find(&self.blank_line, rest, seen, PART_HEAD_LIMIT) {
                        Some(Found::End(end)) => {
                            at += end;
                            self.phase = Phase::Body;
                        }
                        Some(Found::NotYet(seen, keep)) => {
                            self.phase = Phase::Head(seen);
                            self.tail = rest[rest.len() - keep..].to_vec();
                            return Ok(());
                        }
                        None => return Err(FramingError::PartHead),
                    }
                }
                Phase::Body => match self.delimiter.find(rest) {
                    Some(pos) => {
                        at += pos + self.delimiter.needle().len();
                        self.phase = Phase::AfterDelimiter(0);
                    }
                    None => {
                        let keep = self.delimiter.needle().len() - 1;
                        self.tail = rest[rest.len().saturating_sub(keep)..].to_vec();
                        return Ok(());
                    }
                },
            }
        }
        Ok(())
    }
}

/// Where a capped phase stands after [`capped_find`].
enum Found {
    /// The phase ends this many bytes into the searched bytes (past its needle).
    End(usize),
    /// Not yet: the phase's bytes so far, and how many of the searched bytes to keep
    /// (a needle may begin there).
    NotYet(usize, usize),
}

/// Looks for the `needle` that ends a phase `seen` bytes long so far, capped at `limit`
/// bytes; `None` when the phase is over its cap.
fn capped_find(needle: &Finder<'_>, rest: &[u8], seen: usize, limit: usize) -> Option<Found> {
    match needle.find(rest) {
        Some(pos) if seen + pos <= limit => Some(Found::End(pos + needle.needle().len())),
        Some(_) => None,
        None => {
            let keep = (needle.needle().len() - 1).min(rest.len());
            let seen = seen + rest.len() - keep;
            (seen <= limit).then_some(Found::NotYet(seen, keep))
        }
    }
}

/// A body stream checked by a [`Scanner`] and joined into chunks of at least
/// [`MIN_CHUNK`] bytes (see the module docs). Ends with the error `E::from` makes of a
/// [`FramingError`].
pub struct Framing<S> {
    inner: S,
    scanner: Scanner,
    pending: BytesMut,
    failed: bool,
}

impl<S> Framing<S> {
    pub fn new(inner: S, boundary: &str) -> Framing<S> {
        Framing {
            inner,
            scanner: Scanner::new(boundary),
            pending: BytesMut::new(),
            failed: false,
        }
    }
}

impl<S, E> Stream for Framing<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: From<FramingError>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(e) = this.scanner.feed(&chunk) {
                        this.failed = true;
                        this.pending.clear();
                        return Poll::Ready(Some(Err(E::from(e))));
                    }
                    if this.pending.is_empty() && chunk.len() >= MIN_CHUNK {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    this.pending.extend_from_slice(&chunk);
                    if this.pending.len() >= MIN_CHUNK {
                        return Poll::Ready(Some(Ok(this.pending.split().freeze())));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) if this.pending.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) => return Poll::Ready(Some(Ok(this.pending.split().freeze()))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `size` bytes; the first error, if any.
    fn scan(body: &[u8], size: usize) -> Result<(), FramingError> {
        let mut s = Scanner::new("XyZ");
        body.chunks(size.max(1)).try_for_each(|c| s.feed(c))
    }

    fn every_split(body: &[u8]) -> Result<(), FramingError> {
        let whole = scan(body, body.len());
        for size in [1, 2, 3, 5, 7, 64] {
            assert_eq!(scan(body, size), whole, "split in pieces of {size}");
        }
        whole
    }

    fn part(name: &str, data: &[u8]) -> Vec<u8> {
        let mut p = format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
            .into_bytes();
        p.extend_from_slice(data);
        p.extend_from_slice(b"\r\n");
        p
    }

    #[test]
    fn well_formed_bodies_pass_however_split() {
        let mut body = part("type", b"news_image");
        body.extend(part(
            "media",
            &[0xFF, 0xD8, b'-', b'-', b'\r', b'\n', 0xFF, 0xD9],
        ));
        body.extend(b"--XyZ--\r\n");
        assert_eq!(every_split(&body), Ok(()));
        // With a preamble and an epilogue within the limits.
        let mut framed = b"preamble\r\n".to_vec();
        framed.extend(&body);
        framed.extend(vec![b'e'; 100_000]);
        assert_eq!(every_split(&framed), Ok(()));
    }

    #[test]
    fn a_preamble_without_the_boundary_is_refused_at_the_limit() {
        let body = vec![b'a'; PREAMBLE_LIMIT + 10];
        assert_eq!(every_split(&body), Err(FramingError::Preamble));
        let mut late = vec![b'a'; PREAMBLE_LIMIT + 1];
        late.extend(part("media", b"x"));
        assert_eq!(every_split(&late), Err(FramingError::Preamble));
        let mut in_time = vec![b'a'; PREAMBLE_LIMIT - 2];
        in_time.extend(b"\r\n");
        in_time.extend(part("media", b"x"));
        assert_eq!(every_split(&in_time), Ok(()));
    }

    #[test]
    fn an_endless_part_header_is_refused_at_the_limit() {
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"media\"\r\nX: ".to_vec();
        body.extend(vec![b'h'; PART_HEAD_LIMIT]);
        assert_eq!(every_split(&body), Err(FramingError::PartHead));
    }

    #[test]
    fn too_many_parts_are_refused() {
        let ok: Vec<u8> = (0..MAX_PARTS)
            .flat_map(|i| part(&format!("f{i}"), b""))
            .collect();
        assert_eq!(every_split(&ok), Ok(()));
        let over: Vec<u8> = (0..=MAX_PARTS)
            .flat_map(|i| part(&format!("f{i}"), b""))
            .collect();
        assert_eq!(every_split(&over), Err(FramingError::TooManyParts));
    }

    #[test]
    fn nothing_after_the_closing_delimiter_counts() {
        let mut body = part("media", b"x");
        body.extend(b"--XyZ--");
        body.extend(vec![b'z'; PART_HEAD_LIMIT * 4]);
        assert_eq!(every_split(&body), Ok(()));
    }

    #[tokio::test]
    async fn small_chunks_reach_the_parser_joined() {
        use futures_util::StreamExt;
        let body = part("media", &vec![7u8; 50_000]);
        let pieces: Vec<Result<Bytes, FramingError>> = body
            .chunks(10)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let framed = Framing::new(futures_util::stream::iter(pieces), "XyZ");
        let out: Vec<Bytes> = framed.map(|c| c.expect("framed")).collect().await;
        let (last, rest) = out.split_last().expect("chunks");
        assert!(rest.iter().all(|c| c.len() >= MIN_CHUNK));
        assert!(!last.is_empty());
        assert_eq!(out.concat(), body);
    }
}
