//! Builds the service from [`Settings`] and runs it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
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
    article_page, component, debug, draft, fallback, freepublish, health, images, material,
    metrics, openapi, stable_token, temporary, token, uploadimg,
};
use crate::state::AppState;
use wximg_store::Storage;

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    limits: crate::connections::ConnectionLimits,
    /// Set when the listener speaks HTTPS (`Settings::tls`).
    tls: Option<crate::tls::Acceptor>,
    /// This node's event deliverer (see `crate::events`): stops when the server does.
    deliverer: crate::events::DelivererHandle,
}

impl Application {
    /// Opens storage, binds the listener and builds the routes. Fails with one clear
    /// message when storage or the address cannot be had.
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        // A bad certificate fails before anything is opened or bound.
        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let storage = wximg_store::open(&settings.storage).await?;
        let listener = crate::connections::bind(settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let local = listener.local_addr()?;
        let public_url: Arc<str> = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local}"))
            .trim_end_matches('/')
            .into();
        let state = AppState::new(crate::state::Shared {
            storage,
            clock,
            hotlink: settings
                .variants
                .hotlink_hosts
                .as_ref()
                .map(|hosts| Arc::new(crate::hotlink::Hotlink::new(hosts, &public_url))),
            resizer: Arc::new(crate::variants::Resizer::new(&settings.variants)),
            public_url,
            rules: settings.rules,
            upload_permits: Arc::new(Semaphore::new(settings.upload_concurrency.max(1))),
            upload_permit_total: settings.upload_concurrency.max(1),
            material_limit: settings.material_limit,
            body_permits: Arc::new(Semaphore::new(settings.body_concurrency.max(1))),
            readiness: Default::default(),
            drain_limit: settings.drain_limit,
            metrics: crate::metrics::handle(),
            pictures: crate::picture_cache::PictureCache::new(
                settings.picture_cache_bytes,
                settings.variants.cache_bytes,
            )
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
        });
        if let Some(cache) = &state.pictures {
            crate::takedowns::spawn_poller(state.storage.clone(), cache).await;
        }
        crate::articles::publish::spawn_finisher(state.clone());
        let deliverer = crate::events::spawn_deliverer(
            state.storage.clone(),
            state.clock.clone(),
            state.platform.events.clone(),
        );
        let log =
            crate::request_log::RequestLogger::spawn(state.storage.clone(), state.platform.clone());
        let router = router(state.clone(), settings.request_timeout, log);
        let limits = crate::connections::ConnectionLimits {
            header_timeout: settings.header_timeout,
            max_connections: settings
                .max_connections
                .unwrap_or_else(crate::connections::default_max_connections),
        };
        tracing::debug!(?limits, "connection limits");
        Ok(Application {
            listener,
            router,
            state,
            limits,
            tls,
            deliverer,
        })
    }

    /// `https` when the listener speaks TLS, else `http`: what a client's URL starts with.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// What every handler shares (for code that acts as a handler would, e.g. a test
    /// enqueuing an event).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops taking connections and lets
    /// in-flight requests (uploads included) finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let _deliverer = self.deliverer;
        let shortcut = picture_shortcut(self.state);
        crate::connections::serve(
            self.listener,
            self.router,
            shortcut,
            self.limits,
            self.tls,
            shutdown,
        )
        .await
    }
}

/// Cached pictures answered before the router, in the router's own words (see
/// `routes::images::cached`); `None` when no picture cache is on.
fn picture_shortcut(state: AppState) -> Option<crate::connections::Shortcut> {
    state.pictures.as_ref()?;
    Some(Arc::new(
        move |request: &hyper::Request<hyper::body::Incoming>| {
            let started = std::time::Instant::now();
            // A body would have to be read away (`crate::unread_body`): the router's work.
            if !http_body::Body::is_end_stream(request.body()) {
                return None;
            }
            // A panic here goes to the router, whose frame catches it and answers for it.
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                images::cached(&state, request.method(), request.uri(), request.headers())
            }))
            .ok()
            .flatten()?;
            Some(answer::frame_direct(
                request.method(),
                "image",
                started,
                answer,
            ))
        },
    ))
}

/// The routes of the service.
pub fn router(
    state: AppState,
    request_timeout: Duration,
    log: crate::request_log::RequestLogger,
) -> Router {
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
        .route("/cgi-bin/media/upload", post_only(temporary::upload))
        .route(
            "/cgi-bin/media/get",
            get(temporary::get)
                .post(temporary::get)
                .fallback(fallback::require_get),
        )
        .route(
            "/cgi-bin/material/add_material",
            post_only(material::add_material),
        )
        .route(
            "/cgi-bin/material/get_materialcount",
            get(material::get_materialcount)
                .post(material::get_materialcount)
                .fallback(fallback::require_get),
        )
        .route(
            "/cgi-bin/material/batchget_material",
            post_only(material::batchget_material),
        )
        .route(
            "/cgi-bin/material/get_material",
            post_only(material::get_material),
        )
        .route(
            "/cgi-bin/material/del_material",
            post_only(material::del_material),
        )
        .route(
            "/cgi-bin/material/add_news",
            post_only(material::retired_news),
        )
        .route(
            "/cgi-bin/material/update_news",
            post_only(material::retired_news),
        )
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
        .route("/cgi-bin/openapi/quota/get", post_only(openapi::quota_get))
        .route("/cgi-bin/clear_quota", post_only(openapi::clear_quota))
        .route(
            "/cgi-bin/clear_quota/v2",
            post_only(openapi::clear_quota_v2),
        )
        .route("/cgi-bin/openapi/rid/get", post_only(openapi::rid_get))
        .route("/cgi-bin/draft/add", post_only(draft::add))
        .route("/cgi-bin/draft/get", post_only(draft::get))
        .route("/cgi-bin/draft/update", post_only(draft::update))
        .route("/cgi-bin/draft/delete", post_only(draft::delete))
        .route("/cgi-bin/draft/batchget", post_only(draft::batchget))
        .route("/cgi-bin/draft/switch", post_only(draft::switch))
        .route(
            "/cgi-bin/draft/count",
            get(draft::count)
                .post(draft::count)
                .fallback(fallback::require_get),
        )
        .route(
            "/cgi-bin/freepublish/submit",
            post_only(freepublish::submit),
        )
        .route("/cgi-bin/freepublish/get", post_only(freepublish::get))
        .route(
            "/cgi-bin/freepublish/getarticle",
            post_only(freepublish::getarticle),
        )
        .route(
            "/cgi-bin/freepublish/delete",
            post_only(freepublish::delete),
        )
        .route(
            "/cgi-bin/freepublish/batchget",
            post_only(freepublish::batchget),
        )
        .route(
            "/cgi-bin/component/api_start_push_ticket",
            post_only(component::start_push_ticket),
        )
        .route(
            "/cgi-bin/component/api_get_authorizer_info",
            post_only(component::get_authorizer_info),
        )
        .route(
            "/cgi-bin/component/api_get_authorizer_list",
            post_only(component::get_authorizer_list),
        )
        // A cloud call's answer carries x-openapi-seqid (platform::cloud).
        .route_layer(middleware::from_fn(
            crate::platform::cloud::mark_cloud_calls,
        ))
        // Innermost first: an injected fault (which reads the body away) runs inside the
        // request timeout, so a dripping body cannot hold its answer past it.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::platform::faults::inject,
        ))
        .route_layer(middleware::from_fn_with_state(request_timeout, timeout))
        // Outermost: a call from another site's web page is refused before anything else.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::extract::origin::refuse_foreign,
        ));
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
        .route("/mmbiz_gif/{id}/{size}", get(images::gif))
        .route("/mmbiz_bmp/{id}/{size}", get(images::bmp))
        // The platform's CDN serves every picture under `sz_mmbiz_<kind>` too.
        .route("/sz_mmbiz_jpg/{id}/{size}", get(images::jpg))
        .route("/sz_mmbiz_png/{id}/{size}", get(images::png))
        .route("/sz_mmbiz_gif/{id}/{size}", get(images::gif))
        .route("/sz_mmbiz_bmp/{id}/{size}", get(images::bmp))
        .route("/s/{id}", get(article_page::article_page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn(answer::name_endpoint))
        .fallback(fallback::not_found)
        .layer(answer::catch_panic())
        .layer(middleware::from_fn_with_state(log, answer::frame))
        .layer(middleware::from_fn_with_state(
            crate::unread_body::DrainLimits::new(state.drain_limit, request_timeout),
            crate::unread_body::finish,
        ))
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
