//! Builds the service from [`Settings`] and runs it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::handler::Handler;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wximg_proto::ErrCode;

use crate::answer;
use crate::clock::Clock;
use crate::configuration::Settings;
use crate::error::ApiError;
use crate::routes::{
    component, debug, fallback, health, images, metrics, stable_token, token, uploadimg,
};
use crate::state::AppState;
use wximg_store::Storage;

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Opens storage, binds the listener and builds the routes. Fails with one clear
    /// message when storage or the address cannot be had.
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        let storage = wximg_store::open(&settings.storage).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let local = listener.local_addr()?;
        let state = AppState {
            storage,
            clock,
            public_url: settings
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{local}"))
                .trim_end_matches('/')
                .into(),
            rules: settings.rules,
            upload_permits: Arc::new(Semaphore::new(settings.upload_concurrency.max(1))),
            drain_limit: settings.drain_limit,
            metrics: crate::metrics::handle(),
            pictures: crate::picture_cache::PictureCache::new(settings.picture_cache_bytes)
                .map(Arc::new),
            platform: Arc::new(crate::platform::PlatformSettings {
                // The debug page is on by default with embedded storage (a developer's
                // machine), off by default with PostgreSQL (a shared deployment).
                debug_page: Some(
                    settings
                        .platform
                        .debug_page
                        .unwrap_or(settings.storage.database_url.is_none()),
                ),
                ..settings.platform.clone()
            }),
        };
        let router = router(state.clone(), settings.request_timeout);
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// Serves until `shutdown` completes, then stops taking connections and lets
    /// in-flight requests (uploads included) finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve_connections(self.listener, self.router, shutdown).await
    }
}

/// Largest read buffer of one HTTP/1 connection. hyper reads one chunk of a body ahead
/// of the handler even while the handler waits (for an upload permit, say); its default
/// buffer grows to ~400 KB, which made 256 waiting uploads cost ~170 MB. 32 KB keeps a
/// waiting connection's cost at ~64 KB with no measurable loss of throughput.
const MAX_READ_BUFFER: usize = 32 * 1024;

/// How long a client may take to send a request's head (slow-loris bound).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The accept loop. Written over hyper-util rather than `axum::serve` because axum's
/// does not expose the HTTP/1 buffer size and header-read timeout we must bound.
async fn serve_connections(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use tower::ServiceExt as _;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_READ_BUFFER);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stopping = tokio_util::sync::CancellationToken::new();
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
        // TCP_NODELAY: a picture's headers and body go out in separate writes, and with
        // Nagle's algorithm the body would wait for the client's delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let (builder, watcher, stopping) = (builder.clone(), graceful.watcher(), stopping.clone());
        tokio::spawn(async move {
            // hyper-util's auto connection has no timer while it reads the bytes that tell
            // HTTP/1 from HTTP/2, and hyper's header-read timeout starts only after them:
            // a peer that connected and sent nothing was held for ever (faults_network).
            tokio::select! {
                known = tokio::time::timeout(HEADER_READ_TIMEOUT, protocol_known(&stream)) => {
                    if !matches!(known, Ok(true)) {
                        return; // silent past the timeout, or gone
                    }
                }
                () = stopping.cancelled() => return, // no request has begun: nothing to finish
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    stopping.cancel();
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Waits until the peer has sent enough for hyper-util to tell HTTP/1 from HTTP/2: the
/// 24-byte HTTP/2 preface, or any byte that departs from it. `false` if it closed first.
/// Peeks, so hyper still reads every byte.
async fn protocol_known(stream: &tokio::net::TcpStream) -> bool {
    const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
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

/// The routes of the service.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let api = Router::new()
        .route(
            "/cgi-bin/token",
            get(token::token)
                .post(token::token)
                .fallback(fallback::require_get),
        )
        .route(
            "/cgi-bin/stable_token",
            post_only(stable_token::stable_token),
        )
        .route("/cgi-bin/media/uploadimg", post_only(uploadimg::uploadimg))
        .route(
            "/cgi-bin/component/api_component_token",
            post_only(component::component_token),
        )
        .route(
            "/cgi-bin/component/api_create_preauthcode",
            post_only(component::create_preauthcode),
        )
        .route(
            "/cgi-bin/component/api_query_auth",
            post_only(component::query_auth),
        )
        .route(
            "/cgi-bin/component/api_authorizer_token",
            post_only(component::authorizer_token),
        )
        // Innermost first: an injected fault (which reads the body away) runs inside the
        // request timeout, so a dripping body cannot hold its answer past it.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::platform::faults::inject,
        ))
        .route_layer(middleware::from_fn_with_state(request_timeout, timeout));
    let debug_page = if state.platform.debug_page == Some(true) {
        debug::router()
    } else {
        Router::new()
    };
    Router::new()
        .merge(api)
        .merge(debug_page)
        .route("/mmbiz_jpg/{id}/{size}", get(images::jpg))
        .route("/mmbiz_png/{id}/{size}", get(images::png))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn(answer::name_endpoint))
        .fallback(fallback::not_found)
        .layer(answer::catch_panic())
        .layer(middleware::from_fn(answer::frame))
        .with_state(state)
}

/// A POST-only endpoint: any other method answers 43002.
fn post_only<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    post(handler).fallback(fallback::require_post)
}

/// Bounds an API request's time; past it the answer is -1 (and nothing is acknowledged).
async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::detail(
            ErrCode::SystemError,
            format!("request took longer than {limit:?}"),
        )
        .into_response(),
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
