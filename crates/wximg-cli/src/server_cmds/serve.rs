//! `wximg serve`: run the API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use wximg_proto::AppType;
use wximg_server::platform::faults::PublishFault;
use wximg_server::platform::{Cidr, FaultRule, QuotaLimits};
use wximg_server::{Application, Clock, Settings, startup, telemetry};

use super::StorageArgs;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "WXIMG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Scheme and host that returned picture URLs carry (default: http:// + the listen address).
    #[arg(long, env = "WXIMG_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How many uploads may hold their picture in memory at once (each up to 1 MiB).
    #[arg(long, env = "WXIMG_UPLOAD_CONCURRENCY", default_value_t = 32)]
    pub upload_concurrency: usize,
    /// Picture materials (add_material image and thumb) one account may hold; past it
    /// add_material answers 45034. The platform's is 100,000.
    #[arg(long, env = "WXIMG_MATERIAL_LIMIT", value_name = "N", default_value_t = wximg_server::configuration::DEFAULT_MATERIAL_LIMIT)]
    pub material_limit: u64,
    /// Longest time, in seconds, one API request may take.
    #[arg(long, env = "WXIMG_REQUEST_TIMEOUT", default_value_t = 60)]
    pub request_timeout: u64,
    /// Longest time, in seconds, a client may take to send a request's head, and a
    /// connection may stay idle (HTTP/1 and HTTP/2).
    #[arg(long, env = "WXIMG_HEADER_TIMEOUT", default_value_t = 30)]
    pub header_timeout: u64,
    /// Connections held at once; past it idle ones are closed to make room, else new
    /// clients get 503 (default: the descriptor limit less 128, at most 8192).
    #[arg(long, env = "WXIMG_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Megabytes of hot pictures kept in memory for GETs (0: off).
    #[arg(long, env = "WXIMG_PICTURE_CACHE_MB", default_value_t = 64)]
    pub picture_cache_mb: u64,
    /// Megabytes of width variants (`/640`, `/300`, `/1080`, `?tp=webp`) kept in memory
    /// (0: every request for one resizes).
    #[arg(long, env = "WXIMG_VARIANT_CACHE_MB", default_value_t = 32)]
    pub variant_cache_mb: u64,
    /// Width variants made at once; others wait (default: the number of CPUs).
    #[arg(long, env = "WXIMG_RESIZE_CONCURRENCY", value_name = "N")]
    pub resize_concurrency: Option<usize>,
    /// Megabytes of pixels all running resizes may hold together; a picture that needs
    /// more is answered whole.
    #[arg(long, env = "WXIMG_RESIZE_MEMORY_MB", default_value_t = 128)]
    pub resize_memory_mb: u64,
    /// Serve the platform-style placeholder picture to pages of other sites: requests
    /// whose Referer names a host not in HOSTS (nor below one, nor the public URL's);
    /// requests with no Referer are served, as on the platform. Off by default.
    #[arg(
        long,
        env = "WXIMG_HOTLINK_PROTECTION",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub hotlink_protection: Option<Vec<String>>,
    /// Log JSON lines instead of text.
    #[arg(long, env = "WXIMG_LOG_JSON")]
    pub log_json: bool,
    /// If the storage has no app yet, create one of this type and print its credentials
    /// (once) on stdout.
    #[arg(long, value_name = "TYPE")]
    pub init_app: Option<AppType>,
    /// A network whose requests may make cloud calls: no access_token, the account named
    /// by the X-WX-APPID header (from_appid alone names nobody) (repeatable).
    #[arg(
        long,
        env = "WXIMG_TRUSTED_CIDR",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_cidr: Vec<Cidr>,
    /// A reverse proxy whose X-Forwarded-For header gives the caller's address: the
    /// right-most hop that is not a trusted proxy; a malformed hop makes the caller
    /// unknown, never the proxy (repeatable; without it the header is ignored).
    #[arg(
        long,
        env = "WXIMG_TRUST_FORWARDED_FOR",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trust_forwarded_for: Vec<Cidr>,
    /// Answer chosen errcodes at chosen rates, to test clients' retries:
    /// 'uploadimg:-1:0.1,token:45011:0.05' (ENDPOINT:ERRCODE:RATE, endpoint `*` for all).
    #[arg(long, env = "WXIMG_FAULTS", value_delimiter = ',')]
    pub faults: Vec<FaultRule>,
    /// Make publish jobs end in a failure publish_status at chosen rates: '3:0.5,4:0.1'
    /// (STATUS:RATE; 2 originality check failed, 3 routine failure, 4 refused by review).
    #[arg(long, env = "WXIMG_PUBLISH_FAULTS", value_delimiter = ',')]
    pub publish_faults: Vec<PublishFault>,
    /// Seconds a freepublish job publishes (publish_status 1) before it ends.
    #[arg(
        long,
        env = "WXIMG_PUBLISH_DELAY",
        default_value_t = 1.5,
        value_name = "SECONDS"
    )]
    pub publish_delay: f64,
    /// Honour the per-request `X-Wximg-Fault: ERRCODE` header, and
    /// `X-Wximg-Publish-Status: STATUS` on freepublish/submit (never on a public server).
    #[arg(long, env = "WXIMG_ALLOW_FAULT_HEADER")]
    pub allow_fault_header: bool,
    /// Serve the API debugging page at /debug/ (default: on with embedded storage, off
    /// with PostgreSQL); `--debug-page=false` turns it off.
    #[arg(long, env = "WXIMG_DEBUG_PAGE", num_args = 0..=1, default_missing_value = "true")]
    pub debug_page: Option<bool>,
    /// Daily quota of every API for apps without their own (`wximg app quota`); default
    /// unlimited.
    #[arg(long, env = "WXIMG_DEFAULT_DAILY_QUOTA", value_name = "N")]
    pub default_daily_quota: Option<i64>,
    /// Per-minute quota of every API for apps without their own; default unlimited.
    #[arg(long, env = "WXIMG_DEFAULT_MINUTE_QUOTA", value_name = "N")]
    pub default_minute_quota: Option<i64>,
    /// Give APIs without an app's own limit the platform's documented daily limits
    /// (/cgi-bin/token 2,000 a day, stable_token 500,000 and 10,000 a minute, draft/*
    /// 500-1,000, freepublish/* 10-100), before --default-daily/minute-quota.
    #[arg(long, env = "WXIMG_PLATFORM_QUOTAS")]
    pub platform_quotas: bool,
    /// Serve HTTPS with this certificate chain (PEM; `wximg tls init` makes one for the
    /// platform's host names). Needs --tls-key.
    #[arg(
        long,
        env = "WXIMG_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(
        long,
        env = "WXIMG_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    telemetry::init(args.log_json);
    let mut settings = Settings::new(args.listen, args.storage.config());
    settings.public_url = args.public_url;
    settings.upload_concurrency = args.upload_concurrency;
    settings.material_limit = args.material_limit;
    settings.request_timeout = Duration::from_secs(args.request_timeout.max(1));
    settings.header_timeout = Duration::from_secs(args.header_timeout.max(1));
    settings.max_connections = args.max_connections;
    settings.picture_cache_bytes = args.picture_cache_mb * 1024 * 1024;
    settings.variants.cache_bytes = args.variant_cache_mb * 1024 * 1024;
    if let Some(n) = args.resize_concurrency {
        settings.variants.resize_concurrency = n.max(1);
    }
    settings.variants.resize_memory_bytes = args.resize_memory_mb.max(1) * 1024 * 1024;
    settings.variants.hotlink_hosts = args.hotlink_protection;
    settings.platform.trusted_cidrs = args.trusted_cidr;
    settings.platform.trust_forwarded_for = args.trust_forwarded_for;
    settings.platform.faults = args.faults;
    settings.platform.allow_fault_header = args.allow_fault_header;
    settings.platform.publish_faults = args.publish_faults;
    settings.platform.publish_delay = Some(
        Duration::try_from_secs_f64(args.publish_delay)
            .map_err(|e| anyhow::anyhow!("--publish-delay {}: {e}", args.publish_delay))?,
    );
    settings.platform.debug_page = args.debug_page;
    settings.platform.default_quota = QuotaLimits {
        daily: args.default_daily_quota,
        per_minute: args.default_minute_quota,
    };
    settings.platform.platform_quotas = args.platform_quotas;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        settings.tls = Some(wximg_server::tls::TlsFiles { cert, key });
    }
    if !settings.platform.faults.is_empty()
        || !settings.platform.publish_faults.is_empty()
        || settings.platform.allow_fault_header
    {
        tracing::warn!("fault injection is on: some answers are made up on purpose");
    }
    let clock = Clock::default();
    let app = Application::build(settings, clock.clone()).await?;
    if let Some(app_type) = args.init_app {
        let meta = app.storage().meta.as_ref();
        if meta.apps().await?.is_empty() {
            let (record, secret) =
                wximg_server::apps::create(meta, app_type, "first app", clock.now()).await?;
            println!(
                "created {} app: appid {} secret {}",
                record.app_type,
                record.appid,
                secret.expose()
            );
            println!("(the secret is shown only now; `wximg app rotate-secret` makes a new one)");
        }
    }
    let addr = app.local_addr()?;
    // The one line tests and scripts wait for.
    println!("wximg listening on {}://{addr}", app.scheme());
    tracing::info!(%addr, "listening");
    app.run_until(startup::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
