//! Hot pictures sent with `sendfile(2)`, as nginx sends static files: the socket takes
//! the pages themselves instead of a copy of our memory.
//!
//! Invariant: **what is sent is byte for byte what the cache holds**, whether it goes out
//! by `sendfile` or by an ordinary write. The picture cache ([`crate::picture_cache`])
//! keeps its bytes in the [`Arena`]: one `memfd` mapped shared into our memory, handed
//! out in whole pages. A cached picture is a [`Bytes`] pointing into that mapping, so it
//! reaches hyper like any other body. The connection's socket
//! ([`poll_write_vectored`], under hyper) recognises a buffer inside the mapping by its
//! address and sends it from the memfd at the same offset: the same pages, so the same
//! bytes.
//!
//! A range is returned to the arena only when the last [`Bytes`] of it is dropped (the
//! cache evicted it *and* no answer still sends it), and its pages are punched out of the
//! memfd first: pages the kernel still holds for a socket (a `sendfile` whose data the
//! peer has not read yet) stay as they were, and a later picture in the same range gets
//! fresh pages.
//!
//! Everything falls back to ordinary memory: no memfd (not Linux, a sandbox), the arena
//! full or fragmented, a picture under [`MIN_BYTES`] (a copy that small costs less than
//! the extra system call). TLS connections never see arena addresses (rustls writes its
//! own ciphertext), so they are unaffected.

use std::io::IoSlice;
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use range_alloc::RangeAllocator;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pictures smaller than this are kept in ordinary memory.
pub const MIN_BYTES: usize = 16 * 1024;

/// The arena's address space. Pages exist only while a picture is in them (a memfd is
/// sparse and not charged against overcommit), so this bounds nothing but the sum of
/// cached pictures that can be sent without a copy; the caches' own byte limits bound
/// the memory.
const ARENA_BYTES: u64 = 4 << 30;

const PAGE: u64 = 4096;

/// One memfd, mapped shared once, its pages handed out in ranges.
pub struct Arena {
    memfd: OwnedFd,
    base: usize,
    len: usize,
    free: Mutex<RangeAllocator<u64>>,
}

// SAFETY: the mapping is only written through `copy_in`, into a range just allocated
// (no one else holds it), and only read through `Bytes` of ranges already written.
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

static ARENA: OnceLock<Option<Arena>> = OnceLock::new();

impl Arena {
    /// The process's arena, made on first use; `None` where it cannot be had (then
    /// everything is ordinary memory).
    pub fn get() -> Option<&'static Arena> {
        ARENA
            .get_or_init(|| {
                Arena::new(ARENA_BYTES)
                    .inspect_err(|e| tracing::info!("pictures sent with a copy (no memfd: {e})"))
                    .ok()
            })
            .as_ref()
    }

    #[cfg(target_os = "linux")]
    fn new(len: u64) -> std::io::Result<Arena> {
        use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
        use rustix::mm::{MapFlags, ProtFlags, mmap};
        let memfd = memfd_create("wximg-pictures", MemfdFlags::CLOEXEC)?;
        ftruncate(&memfd, len)?;
        let size = usize::try_from(len).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        // SAFETY: a fresh shared mapping of our own memfd, never unmapped (the arena
        // lives as long as the process).
        let base = unsafe {
            mmap(
                std::ptr::null_mut(),
                size,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::NORESERVE,
                &memfd,
                0,
            )?
        } as usize;
        Ok(Arena {
            memfd,
            base,
            len: size,
            free: Mutex::new(RangeAllocator::new(0..len)),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_len: u64) -> std::io::Result<Arena> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// `bytes` as the cache should keep them: copied into the arena when they are big
    /// enough and there is room, else as they are.
    pub fn keep(bytes: Bytes) -> Bytes {
        if bytes.len() < MIN_BYTES {
            return bytes;
        }
        match Arena::get().and_then(|arena| arena.copy_in(&bytes)) {
            Some(kept) => kept,
            None => bytes,
        }
    }

    /// A copy of `bytes` in the arena; `None` when no range that big is free.
    fn copy_in(&'static self, bytes: &[u8]) -> Option<Bytes> {
        let pages = (bytes.len() as u64).div_ceil(PAGE) * PAGE;
        let range = self.free.lock().ok()?.allocate_range(pages).ok()?;
        let start = usize::try_from(range.start).ok()?;
        // SAFETY: `range` was just allocated, so nothing else reads or writes it, and it
        // lies inside the mapping (the allocator's whole range is the mapping's).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (self.base + start) as *mut u8,
                bytes.len(),
            );
        }
        Some(Bytes::from_owner(Piece {
            arena: self,
            range,
            len: bytes.len(),
        }))
    }

    /// Where `buf` is in the memfd, if it lies wholly inside the mapping. An empty buffer
    /// is never sent from the memfd: `sendfile` of nothing answers 0, which a writer
    /// takes for a closed socket.
    fn offset_of(&self, buf: &[u8]) -> Option<u64> {
        if buf.is_empty() {
            return None;
        }
        let start = (buf.as_ptr() as usize).checked_sub(self.base)?;
        (start + buf.len() <= self.len).then_some(start as u64)
    }

    /// Returns a range: its pages are punched out first (see the module's invariant).
    fn release(&self, range: Range<u64>) {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{FallocateFlags, fallocate};
            let punched = fallocate(
                &self.memfd,
                FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
                range.start,
                range.end - range.start,
            );
            if let Err(e) = punched {
                // Pages that cannot be punched cannot be reused safely: leak the range.
                tracing::warn!("picture arena: range not returned ({e})");
                return;
            }
        }
        if let Ok(mut free) = self.free.lock() {
            free.free_range(range);
        }
    }
}

/// A picture's range of the arena: what a kept [`Bytes`] owns.
struct Piece {
    arena: &'static Arena,
    range: Range<u64>,
    len: usize,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: written by `copy_in` before this piece existed, never written again
        // while it lives, inside the mapping.
        unsafe {
            std::slice::from_raw_parts(
                (self.arena.base + self.range.start as usize) as *const u8,
                self.len,
            )
        }
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        self.arena.release(self.range.clone());
    }
}

/// Writes `bufs` to `stream` as `poll_write_vectored` would, except that a buffer in the
/// arena is sent with `sendfile` from the memfd. What comes before it (hyper's head of
/// the answer) is sent first with `MSG_MORE`, so head and body still leave together.
pub fn poll_write_vectored(
    stream: &mut TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<std::io::Result<usize>> {
    let arena = Arena::get();
    let found = arena.and_then(|arena| {
        bufs.iter()
            .enumerate()
            .find_map(|(i, b)| arena.offset_of(b).map(|offset| (arena, i, offset)))
    });
    let Some((arena, i, offset)) = found else {
        return tokio::io::AsyncWrite::poll_write_vectored(std::pin::Pin::new(stream), cx, bufs);
    };
    let stream = &*stream;
    let body = bufs[i].len();
    if i == 0 {
        return poll_io(stream, cx, || sendfile(stream, arena, offset, body));
    }
    let head = &bufs[..i];
    let head_len: usize = head.iter().map(|b| b.len()).sum();
    let sent = match poll_io(stream, cx, || {
        rustix::net::sendmsg(
            stream,
            head,
            &mut rustix::net::SendAncillaryBuffer::default(),
            rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL,
        )
        .map_err(std::io::Error::from)
    }) {
        Poll::Ready(Ok(n)) => n,
        other => return other,
    };
    if sent < head_len {
        return Poll::Ready(Ok(sent));
    }
    // The body at once if the socket takes it; if not, the head is what was written.
    match stream.try_io(Interest::WRITABLE, || sendfile(stream, arena, offset, body)) {
        Ok(n) => Poll::Ready(Ok(sent + n)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Poll::Ready(Ok(sent)),
        Err(e) => Poll::Ready(Err(e)),
    }
}

fn sendfile(stream: &TcpStream, arena: &Arena, offset: u64, len: usize) -> std::io::Result<usize> {
    let mut at = offset;
    let n = rustix::fs::sendfile(stream.as_fd(), &arena.memfd, Some(&mut at), len)?;
    crate::metrics::record_zero_copy(n);
    Ok(n)
}

/// Runs a non-blocking write until it does not say "would block", waiting for the
/// socket in between, as tokio's own writes do.
fn poll_io(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    mut write: impl FnMut() -> std::io::Result<usize>,
) -> Poll<std::io::Result<usize>> {
    loop {
        std::task::ready!(stream.poll_write_ready(cx))?;
        match stream.try_io(Interest::WRITABLE, &mut write) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            done => return Poll::Ready(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use tokio::io::AsyncReadExt;

    use super::*;

    fn noise(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 9) as u8)
            .collect()
    }

    #[test]
    fn kept_bytes_are_the_same_and_live_in_the_arena() {
        let Some(arena) = Arena::get() else {
            panic!("no memfd on this machine: the zero-copy path cannot be tested");
        };
        let small = Arena::keep(Bytes::from(noise(MIN_BYTES - 1, 1)));
        assert!(
            arena.offset_of(&small).is_none(),
            "small pictures stay in memory"
        );
        let data = noise(100_000, 2);
        let kept = Arena::keep(Bytes::from(data.clone()));
        assert_eq!(&kept[..], &data[..]);
        let offset = arena.offset_of(&kept).expect("kept in the arena");
        assert_eq!(offset % PAGE, 0);
        // A slice is at its own offset.
        assert_eq!(arena.offset_of(&kept.slice(10..20)), Some(offset + 10));
        // An empty slice inside it is written, not sent: sendfile of 0 reads as a close.
        assert_eq!(arena.offset_of(&kept.slice(10..10)), None);
        // Freed ranges are reused with fresh contents.
        drop(kept);
        for seed in 3..40 {
            let data = noise(100_000, seed);
            let kept = Arena::keep(Bytes::from(data.clone()));
            assert_eq!(&kept[..], &data[..], "seed {seed}");
        }
    }

    /// Head and an arena body through a socket whose send buffer is small and whose
    /// reader is slow: partial writes and "would block" on both parts, and the peer
    /// gets exactly head + body.
    #[tokio::test]
    async fn head_and_body_arrive_whole_through_a_slow_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let mut peer = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 7000];
            loop {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                match peer.read(&mut buf).await.unwrap() {
                    0 => return got,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&stream, 4096).unwrap();
        let head = noise(3000, 7);
        let body_data = noise(1 << 20, 8);
        let body = Arena::keep(Bytes::from(body_data.clone()));
        assert!(Arena::get().and_then(|a| a.offset_of(&body)).is_some());
        let (mut h, mut b) = (0, 0);
        while h < head.len() || b < body.len() {
            let slices = [IoSlice::new(&head[h..]), IoSlice::new(&body[b..])];
            let parts: &[IoSlice<'_>] = if h < head.len() {
                &slices
            } else {
                &slices[1..]
            };
            let mut n = std::future::poll_fn(|cx| poll_write_vectored(&mut stream, cx, parts))
                .await
                .unwrap();
            assert!(n > 0);
            let from_head = n.min(head.len() - h);
            h += from_head;
            n -= from_head;
            b += n;
        }
        drop(stream);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), head.len() + body_data.len());
        assert!(got[..head.len()] == head[..], "the head");
        assert!(got[head.len()..] == body_data[..], "the body");
    }
}
