//! Server settings. The CLI fills them from flags and `WXIMG_*` variables; tests build
//! them directly.

use std::net::SocketAddr;
use std::time::Duration;

use wximg_proto::Rules;

use wximg_store::StorageConfig;

/// The platform's cap on an account's picture library: "图片素材上限为100000".
pub const DEFAULT_MATERIAL_LIMIT: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    pub storage: StorageConfig,
    /// Scheme and host (and optional path prefix) that returned picture URLs carry;
    /// `None`: `http://` + the bound address.
    pub public_url: Option<String>,
    /// The picture rules (the platform's by default).
    pub rules: Rules,
    /// How many uploads may hold their picture in memory at once; others wait. Bounds
    /// memory at about this many × 1 MiB however many clients connect.
    pub upload_concurrency: usize,
    /// After a picture is found too large, up to this many more body bytes are read and
    /// thrown away so the client can read the 40009 answer; past it the connection closes.
    pub drain_limit: u64,
    /// Bytes of hot pictures kept in memory for GETs; 0 turns the cache off.
    pub picture_cache_bytes: u64,
    /// Width variants and hotlink protection (`crate::variants`, `crate::hotlink`).
    pub variants: crate::variants::VariantSettings,
    /// Longest time one API request may take before it answers -1.
    pub request_timeout: Duration,
    /// How many small (JSON) bodies may be read at once; others wait, unread.
    pub body_concurrency: usize,
    /// Longest wait for a request head, and longest a connection may idle, on HTTP/1
    /// and HTTP/2 alike.
    pub header_timeout: Duration,
    /// Connections held at once (`None`: derived from the descriptor limit, see
    /// `crate::connections::default_max_connections`).
    pub max_connections: Option<usize>,
    /// How many picture materials (`add_material` image and thumb) one account may hold:
    /// the platform's 100,000 ([`DEFAULT_MATERIAL_LIMIT`]); past it, 45034.
    pub material_limit: u64,
    /// Quotas, whitelists' proxies, cloud calls, fault injection, the debug page.
    pub platform: crate::platform::PlatformSettings,
    /// Serve HTTPS with this certificate and key instead of plain HTTP (`None`: HTTP).
    pub tls: Option<crate::tls::TlsFiles>,
}

impl Settings {
    /// Defaults for `data_dir`, listening on `listen`.
    pub fn new(listen: SocketAddr, storage: StorageConfig) -> Settings {
        Settings {
            listen,
            storage,
            public_url: None,
            rules: Rules::default(),
            upload_concurrency: 32,
            drain_limit: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            body_concurrency: 256,
            header_timeout: Duration::from_secs(30),
            max_connections: None,
            picture_cache_bytes: 64 * 1024 * 1024,
            variants: Default::default(),
            material_limit: DEFAULT_MATERIAL_LIMIT,
            platform: Default::default(),
            tls: None,
        }
    }
}
