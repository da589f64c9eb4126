//! The accept loop: how many connections are held, and for how long one may do nothing.
//!
//! Invariant: whatever the protocol, no connection is held longer than the header timeout
//! without a request in progress (HTTP/1 half-heads, HTTP/2 prefaces with no stream,
//! header blocks that never end, kept-alive connections left idle), and at most
//! `max_connections` are held at once. Past the cap, connections idle for a moment are
//! closed to make room for the new client; when none is idle, the new client is answered
//! 503 and closed, at once, rather than left in the backlog while `/healthz` starves.
//!
//! With TLS (`--tls-cert`), the handshake is part of the connection's start: the
//! handshake and the first bytes of the first request must both come within the header
//! timeout, and a connection still in its handshake holds its slot like one that sent
//! nothing, so it is shed or dropped the same way. HTTP/1.1 and HTTP/2 (by ALPN or
//! preface) are served inside TLS exactly as over plain TCP.
//!
//! Written over hyper-util rather than `axum::serve` because axum's does not expose the
//! HTTP/1 buffer size, the header-read timeout or HTTP/2's settings we must bound.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Largest read buffer of one HTTP/1 connection. hyper reads one chunk of a body ahead
/// of the handler even while the handler waits (for an upload permit, say); its default
/// buffer grows to ~400 KB, which made 256 waiting uploads cost ~170 MB. 32 KB keeps a
/// waiting connection's cost at ~64 KB with no measurable loss of throughput.
const MAX_READ_BUFFER: usize = 32 * 1024;

/// The largest header block an HTTP/2 client may send: HTTP/1 heads are bounded by
/// [`MAX_READ_BUFFER`], and h2's default (16 MiB) would let one stream hold far more.
const MAX_H2_HEADER_LIST: u32 = 32 * 1024;

/// Streams one HTTP/2 connection may have open at once (each may hold an upload permit
/// or a body read, so the connection cap alone would not bound them).
const MAX_H2_STREAMS: u32 = 64;

/// How long a connection must have been idle before it is closed to make room. Long
/// enough that a client reusing a kept-alive connection at once never races the close.
const SHED_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long the accept loop waits for shed connections to go before refusing. A shed
/// connection's task ends as soon as it sees the shed, so this is short: the accept loop
/// waits here, and a new client behind it waits too.
const SHED_WAIT: Duration = Duration::from_millis(100);

/// After a shed that freed nothing, how long new clients are refused without trying
/// again. Shorter than [`SHED_AFTER_IDLE`]: connections that were idle for less than it
/// then become sheddable within that second, and with a deep listen backlog a flood of
/// connects all arrives at once, so a client coming a second later must find them shed,
/// not be refused for a shed that failed before they were old enough.
const SHED_RETRY: Duration = Duration::from_millis(250);

/// Descriptors kept back from the derived connection cap: the database, blob files being
/// written, the log, the listener.
const RESERVED_FDS: u64 = 128;

/// Highest derived connection cap (each connection costs up to ~64 KB of buffers).
const MAX_DERIVED_CONNECTIONS: u64 = 8192;

/// Longest a lingering close waits for the client's data to stop, in all and per read,
/// and the most it reads.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;
const LINGER_READ: Duration = Duration::from_millis(500);

/// Answers a request before the router when it can (`None`: the router answers it).
/// Given the request as it arrived; what it answers must be what the router would.
pub type Shortcut = Arc<
    dyn Fn(&hyper::Request<hyper::body::Incoming>) -> Option<axum::response::Response>
        + Send
        + Sync,
>;

/// Limits of the accept loop (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest wait for a request head, and longest idle time between requests.
    pub header_timeout: Duration,
    /// Connections held at once.
    pub max_connections: usize,
}

/// Listens on `addr` with the kernel's largest accept backlog (`net.core.somaxconn`, as
/// Go's net package does) rather than tokio's (and std's) fixed 128: a burst of connects past the
/// backlog is answered by the kernel with SYN cookies, and a cookie connection whose
/// first data meets a still-full queue is reset before the server ever sees it (a burst
/// of 1,000 hostile clients lost one that way, faults_connections).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's and tokio's own bind do: a restarted server may reuse the port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(listen_backlog())
}

/// `net.core.somaxconn` (the kernel caps any larger backlog to it), 4,096 when unreadable.
fn listen_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(4096)
        .clamp(128, 65_535)
}

/// The connection cap when none is configured: the descriptor limit less what the rest
/// of the server needs, between 16 and [`MAX_DERIVED_CONNECTIONS`].
pub fn default_max_connections() -> usize {
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    nofile
        .saturating_sub(RESERVED_FDS)
        .clamp(16, MAX_DERIVED_CONNECTIONS) as usize
}

/// What a connection is doing, for the idle timer and shedding: requests whose answer
/// (body included) is not yet sent, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since [`epoch`] when the connection last became idle.
    idle_since: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now_ms()),
        })
    }

    /// How long it has been idle; `None` while a request is in progress.
    fn idle_for(&self) -> Option<Duration> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            Duration::from_millis(now_ms().saturating_sub(self.idle_since.load(Ordering::Acquire)))
        })
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
}

/// A request in progress; dropped once its answer's body has been sent (or given up).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops taking
/// connections and lets in-flight requests (uploads included) finish. Each request is
/// first offered to `shortcut`, if any.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shortcut: Option<Shortcut>,
    limits: ConnectionLimits,
    tls: Option<crate::tls::Acceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    use hyper_util::server::conn::auto;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_READ_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_H2_HEADER_LIST)
        .max_concurrent_streams(MAX_H2_STREAMS)
        // A peer that stops answering PINGs is gone: close it instead of holding it.
        .keep_alive_interval(Some(limits.header_timeout.max(Duration::from_secs(1))))
        .keep_alive_timeout(limits.header_timeout.max(Duration::from_secs(1)));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Refusals write a few bytes and close; bounded so a flood cannot pile them up.
    let refusals = Arc::new(Semaphore::new(64));
    let (shed, _) = watch::channel(0u64);
    let tracker = tokio_util::task::TaskTracker::new();
    let stopping = tokio_util::sync::CancellationToken::new();
    let mut last_failed_shed: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            // A shed that freed nothing a moment ago will not free anything now.
            Err(_) if last_failed_shed.is_some_and(|t| t.elapsed() < SHED_RETRY) => None,
            Err(_) => {
                shed.send_modify(|generation| *generation += 1);
                let freed = tokio::time::timeout(SHED_WAIT, permits.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok);
                last_failed_shed = freed.is_none().then(Instant::now);
                freed
            }
        };
        let Some(permit) = permit else {
            crate::metrics::record_refused_connection();
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                tracker.spawn(refuse(stream, slot));
            }
            continue;
        };
        // TCP_NODELAY: a picture's headers and body go out in separate writes, and with
        // Nagle's algorithm the body would wait for the client's delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
        let connection = Connection {
            stream,
            peer,
            router: router.clone(),
            shortcut: shortcut.clone(),
            builder: builder.clone(),
            header_timeout: limits.header_timeout,
            tls: tls.clone(),
            shed: shed.subscribe(),
            stopping: stopping.clone(),
            _permit: permit,
        };
        tracker.spawn(connection.run());
    }
    stopping.cancel();
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// One accepted connection and what bounds it.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    shortcut: Option<Shortcut>,
    builder: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
    tls: Option<crate::tls::Acceptor>,
    shed: watch::Receiver<u64>,
    stopping: tokio_util::sync::CancellationToken,
    _permit: OwnedSemaphorePermit,
}

/// A connection whose start (TLS handshake, protocol bytes) is over: ready for hyper.
enum Started {
    Plain(Lingering),
    Tls(Box<Rewind<tokio_rustls::server::TlsStream<Lingering>>>),
}

impl Connection {
    async fn run(self) {
        let Connection {
            stream,
            peer,
            router,
            shortcut,
            builder,
            header_timeout,
            tls,
            mut shed,
            stopping,
            _permit,
        } = self;

        // hyper-util's auto connection has no timer while it reads the bytes that tell
        // HTTP/1 from HTTP/2, and hyper's header-read timeout starts only after them: a
        // peer that connected and sent nothing was held for ever (faults_network). So
        // the start — TLS handshake included — is bounded here, by the header timeout.
        let begun = Instant::now();
        let start = async move {
            // The connection's permit goes with its socket: a lingering close still counts.
            let socket = Lingering {
                stream: Some(stream),
                permit: Some(_permit),
            };
            match tls {
                None => {
                    let tcp = socket.stream.as_ref()?;
                    protocol_known(tcp).await.then_some(Started::Plain(socket))
                }
                Some(acceptor) => {
                    let stream = acceptor
                        .accept(socket)
                        .await
                        .inspect_err(|e| tracing::debug!(%peer, "TLS handshake failed: {e}"))
                        .ok()?;
                    Rewind::protocol_known(stream)
                        .await
                        .map(|s| Started::Tls(Box::new(s)))
                }
            }
        };
        let known = async {
            tokio::pin!(start);
            loop {
                tokio::select! {
                    started = &mut start => return started,
                    changed = shed.changed() => {
                        if changed.is_err() || begun.elapsed() >= SHED_AFTER_IDLE {
                            return None; // shed to make room: it has sent no request yet
                        }
                    }
                }
            }
        };
        let started = tokio::select! {
            known = tokio::time::timeout(header_timeout, known) => match known {
                Ok(Some(started)) => started,
                // Silent (or mid-handshake) past the timeout, shed, or gone.
                _ => return,
            },
            () = stopping.cancelled() => return, // no request has begun
        };
        let http = Http {
            peer,
            router,
            shortcut,
            builder,
            header_timeout,
            shed,
            stopping,
        };
        match started {
            Started::Plain(socket) => http.serve(socket).await,
            Started::Tls(stream) => http.serve(stream).await,
        }
    }
}

/// What serving HTTP on a started connection needs, whatever carries the bytes.
struct Http {
    peer: SocketAddr,
    router: Router,
    shortcut: Option<Shortcut>,
    builder: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
    shed: watch::Receiver<u64>,
    stopping: tokio_util::sync::CancellationToken,
}

impl Http {
    async fn serve<I>(self, stream: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        use hyper_util::rt::TokioIo;
        use tower::ServiceExt as _;

        let Http {
            peer,
            router,
            shortcut,
            builder,
            header_timeout,
            mut shed,
            stopping,
        } = self;
        let activity = Activity::new();
        let service = hyper::service::service_fn({
            let activity = activity.clone();
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                let busy = activity.begin();
                let answer = match shortcut.as_ref().and_then(|answer| answer(&request)) {
                    Some(response) => {
                        futures_util::future::Either::Left(std::future::ready(Ok(response)))
                    }
                    None => {
                        request.extensions_mut().insert(ConnectInfo(peer));
                        futures_util::future::Either::Right(
                            router.clone().oneshot(request.map(axum::body::Body::new)),
                        )
                    }
                };
                async move {
                    let response = answer.await?;
                    // Busy until the answer's body has been sent, not only produced.
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| axum::body::Body::new(BusyBody { body, _busy: busy })),
                    )
                }
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut tick = tokio::time::interval(header_timeout.min(Duration::from_secs(1)));
        let mut stopping_requested = false;
        // An idle connection (no request in progress) is simply dropped: there is no
        // answer to finish, and a graceful HTTP/2 close would wait on a peer that may
        // never answer.
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                    return;
                }
                () = stopping.cancelled(), if !stopping_requested => {
                    // In-flight requests finish (the request timeout bounds them).
                    connection.as_mut().graceful_shutdown();
                    stopping_requested = true;
                }
                changed = shed.changed() => {
                    if changed.is_err() || activity.idle_for().is_some_and(|d| d >= SHED_AFTER_IDLE) {
                        tracing::debug!(%peer, "idle connection closed to make room");
                        return;
                    }
                }
                _ = tick.tick() => {
                    if activity.idle_for().is_some_and(|d| d >= header_timeout) {
                        tracing::debug!(%peer, "idle past the header timeout: closed");
                        return;
                    }
                }
            }
        }
    }
}

/// A connection's socket that closes *lingering*, as nginx's `lingering_close` does: if
/// the client is still sending when the connection ends (an answer with
/// `Connection: close` to a body not read), the kernel would answer the unread data with a
/// reset, and a reset makes the client's kernel throw away what it has received but not
/// yet read, the answer included. So when data is waiting at the close, the socket's
/// write side is shut (the client sees the end of the answer) and what the client still
/// sends is read and thrown away, for at most [`LINGER_TIME`] (and [`LINGER_READ`]
/// between reads) and [`LINGER_BYTES`], before the socket is closed. The connection's
/// permit is held until then, so lingering sockets count against `--max-connections`.
/// When nothing is waiting (an idle connection shed, say), it closes at once.
struct Lingering {
    stream: Option<TcpStream>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Lingering {
    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

impl tokio::io::AsyncRead for Lingering {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

impl tokio::io::AsyncWrite for Lingering {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // A cached picture goes out with sendfile (see `crate::zero_copy`).
        match self.stream() {
            Ok(s) => crate::zero_copy::poll_write_vectored(s, cx, bufs),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_flush(cx),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let mut probe = [0u8; 1];
        // Data waiting now means the client is still sending: closing would reset.
        let waiting = matches!(stream.try_read(&mut probe), Ok(n) if n > 0);
        if !waiting {
            return;
        }
        let permit = self.permit.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _permit = permit;
            let mut stream = stream;
            let _ = stream.shutdown().await;
            let mut sink = vec![0u8; 16 * 1024];
            let _ = tokio::time::timeout(LINGER_TIME, async {
                let mut read = 0;
                while let Ok(Ok(n)) =
                    tokio::time::timeout(LINGER_READ, stream.read(&mut sink)).await
                {
                    read += n;
                    if n == 0 || read > LINGER_BYTES {
                        return;
                    }
                }
            })
            .await;
        });
    }
}

/// An answer's body, keeping its connection busy until it has been sent.
struct BusyBody {
    body: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Answers a client past the connection cap: a 503 in the platform's frame, then close.
/// The request is read (a little, for a moment) after the answer, so that closing does
/// not reset the connection before the client has read it.
async fn refuse(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    let body = crate::answer::refusal_body();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n\
         connection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// A stream whose first bytes were read to learn the protocol, and are given back to
/// the next reader before anything else (TLS has no `peek`).
struct Rewind<S> {
    first: [u8; 24],
    /// `first[at..len]` is still to be read.
    at: usize,
    len: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> Rewind<S> {
    /// Reads until the protocol is known, as [`protocol_known`] judges it; `None` if the
    /// peer closed (or failed) first.
    async fn protocol_known(mut inner: S) -> Option<Rewind<S>> {
        let mut first = [0u8; 24];
        let mut len = 0;
        loop {
            match inner.read(&mut first[len..]).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => len += n,
            }
            if len == first.len() || first[..len] != H2_PREFACE[..len] {
                return Some(Rewind {
                    first,
                    at: 0,
                    len,
                    inner,
                });
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.at < self.len {
            let n = (self.len - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.first[at..at + n]);
            self.at += n;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The first bytes an HTTP/2 client sends (over TLS too, after ALPN chose `h2`).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits until the peer has sent enough for hyper-util to tell HTTP/1 from HTTP/2: the
/// 24-byte HTTP/2 preface, or any byte that departs from it. `false` if it closed first.
/// Peeks, so hyper still reads every byte.
async fn protocol_known(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 24];
    loop {
        match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) if n == buf.len() || buf[..n] != H2_PREFACE[..n] => return true,
            // A prefix of the preface so far: peek would return the same bytes at once, so
            // look again shortly (the caller's timeout bounds how long).
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
