//! Reading the pictures an article names, when the article is not trusted.
//!
//! The invariant: by default an article makes `publish` read **only regular files inside
//! the article's own directory**, and **download only over http(s) from public
//! addresses**, never more than the byte cap either way. A hostile article can then
//! neither publish a picture from elsewhere on the machine (`/home/…/scan.png`,
//! `file:///…`, `../../`, a symlink pointing out), nor stall on a device or a FIFO
//! (`/dev/zero`, `/dev/stdin`), nor make `publish` fetch from a service only this machine
//! can reach (loopback, the LAN, a cloud metadata address) and re-host its answer publicly.
//!
//! - **Local pictures** ([`read_local`]): the path is resolved against the article's
//!   directory and canonicalized (so `..` and every symlink are followed), and the result
//!   must lie inside the canonicalized directory. Absolute paths and `file:` URLs count as
//!   outside. The file must be a regular file, checked on the opened descriptor (a FIFO is
//!   opened non-blocking, so it cannot hang the open); at most cap + 1 bytes are read.
//!   [`FetchPolicy::allow_outside_dir`] lifts the directory rule, never the others.
//! - **Remote pictures** ([`download`]): every hop, the first and each redirect (followed
//!   here, at most [`MAX_REDIRECTS`]), must be `http` or `https`. Unless
//!   [`FetchPolicy::allow_private_addresses`], a literal address in the URL must be public
//!   ([`refused_range`]) and names are resolved by [`PublicOnly`], which drops every
//!   non-public address from the answer *inside the connector*: the address checked is
//!   the address connected to, so a DNS answer cannot rebind between a check and the
//!   connect. For the same reason the environment's proxy (`HTTP_PROXY`, …) is not used
//!   then: a proxy would resolve the name itself, out of the check's sight.
//!
//! The check and the open are not one step: another local user who can write into the
//! article's directory while `publish` runs could swap a checked directory for a symlink
//! in between. The last component is opened without following symlinks, and on Linux the
//! opened descriptor's own path (`/proc/self/fd/N`) is checked again, which closes that
//! gap there.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;

use crate::error::{Error, Result};

/// Redirects followed for one picture.
pub const MAX_REDIRECTS: usize = 10;

/// The default byte cap of a picture read: downloaded or local in `publish`
/// (`--max-download`), and a file given to `upload` (fit takes big inputs, but not
/// unbounded ones: a 3 GB file stops here).
pub const MAX_PICTURE_BYTES: u64 = 50 << 20;

/// What an article may make `publish` read.
#[derive(Debug, Clone, Copy)]
pub struct FetchPolicy {
    /// Largest picture read, local or remote, in bytes.
    pub max_bytes: u64,
    /// Read local pictures anywhere (absolute paths, `file:` URLs, `..`, symlinks out),
    /// not only inside the article's directory (`--allow-outside-dir`).
    pub allow_outside_dir: bool,
    /// Download from loopback, private, link-local and other non-public addresses
    /// (`--allow-private-addresses`).
    pub allow_private_addresses: bool,
    /// Time allowed for one download (`--download-timeout`), each hop; said in the
    /// message of one that takes longer.
    pub timeout: Duration,
}

/// How a local picture was named in the article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Relative to the article.
    Relative,
    /// An absolute path or a `file:` URL.
    Absolute,
}

/// Reads the local picture at `path` (already joined to the article's directory when it
/// was relative) under `policy`; `dir` is the article's canonical directory. Blocking.
pub fn read_local(
    picture: &str,
    path: &Path,
    naming: Naming,
    dir: &Path,
    policy: &FetchPolicy,
) -> Result<Vec<u8>> {
    let refuse = |reason: String| Error::Refused {
        picture: picture.to_string(),
        reason,
    };
    const OUTSIDE_HINT: &str = "keep the picture in the article's directory and name it \
                                by a relative path; if the article is trusted, pass \
                                --allow-outside-dir";
    if naming == Naming::Absolute && !policy.allow_outside_dir {
        return Err(refuse(format!(
            "an absolute path or file: URL names a file outside the article's directory; \
             {OUTSIDE_HINT}"
        )));
    }
    let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    if !policy.allow_outside_dir && !real.starts_with(dir) {
        return Err(refuse(format!(
            "it resolves to {}, outside the article's directory {}; {OUTSIDE_HINT}",
            real.display(),
            dir.display()
        )));
    }
    let file = match open_regular(&real, false).map_err(|e| Error::io(&real, e))? {
        Ok(file) => file,
        Err(kind) => {
            return Err(refuse(format!(
                "{} is {kind}, not a regular file; only picture files are read",
                real.display()
            )));
        }
    };
    if !policy.allow_outside_dir
        && let Some(opened) = opened_path(&file)
        && !opened.starts_with(dir)
    {
        return Err(refuse(format!(
            "it was replaced while being opened and now resolves to {}, outside the \
             article's directory; {OUTSIDE_HINT}",
            opened.display()
        )));
    }
    match read_capped(file, policy.max_bytes).map_err(|e| Error::io(&real, e))? {
        Some(bytes) => Ok(bytes),
        None => Err(refuse(format!(
            "larger than the {}-byte limit; shrink it, or raise --max-download",
            policy.max_bytes
        ))),
    }
}

/// Opens `path` for reading without blocking on a FIFO or a device (`O_NONBLOCK`: a FIFO
/// with no writer cannot hang the open), following a symlink in the last component only
/// when `follow_links`.
fn open_non_blocking(path: &Path, follow_links: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = rustix::fs::OFlags::NONBLOCK;
        if !follow_links {
            flags |= rustix::fs::OFlags::NOFOLLOW;
        }
        o.custom_flags(flags.bits() as i32);
    }
    #[cfg(not(unix))]
    let _ = follow_links;
    o.open(path)
}

/// The one check of every file read whole — a picture an article names (without
/// following a symlink: `follow_links` false), and a file the user names (an article, a
/// theme, a picture given to `upload`: through symlinks). The file is opened without
/// blocking ([`open_non_blocking`]) and its kind checked on the opened descriptor, so
/// neither a FIFO (which would hang the read, and Ctrl-C with it) nor a device
/// (`/dev/zero`, read until memory runs out) gets read. `Ok(Err(kind))`: what it is
/// instead ("a FIFO", "a device", "a directory", …), for the caller's message.
pub fn open_regular(
    path: &Path,
    follow_links: bool,
) -> std::io::Result<std::result::Result<std::fs::File, &'static str>> {
    let file = open_non_blocking(path, follow_links)?;
    let meta = file.metadata()?;
    Ok(if meta.is_file() {
        Ok(file)
    } else {
        Err(file_kind(&meta))
    })
}

/// Why [`read_named`] read nothing.
#[derive(Debug)]
pub enum NotRead {
    /// It could not be opened or read.
    Io(std::io::Error),
    /// It is not a regular file: what it is ("a FIFO", "a device", "a directory", …).
    NotRegular(&'static str),
    /// It holds more than the cap.
    TooBig,
}

/// Reads a file the user named (symlinks followed): a regular file only
/// ([`open_regular`]), at most `cap` bytes of it (at most cap + 1 are read). Blocking.
pub fn read_named(path: &Path, cap: u64) -> std::result::Result<Vec<u8>, NotRead> {
    read_regular(path, true, cap)
}

/// Reads a regular file ([`open_regular`], following a symlink in the last component
/// only when `follow_links`) of at most `cap` bytes. Blocking.
pub fn read_regular(
    path: &Path,
    follow_links: bool,
    cap: u64,
) -> std::result::Result<Vec<u8>, NotRead> {
    let file = open_regular(path, follow_links)
        .map_err(NotRead::Io)?
        .map_err(NotRead::NotRegular)?;
    read_capped(file, cap)
        .map_err(NotRead::Io)?
        .ok_or(NotRead::TooBig)
}

/// The path the kernel has for an open file (Linux: `/proc/self/fd/N`), if it tells.
fn opened_path(file: &std::fs::File) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads at most `cap` bytes: `None` when there are more (at most cap + 1 are read).
pub fn read_capped(file: impl Read, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// Why `ip` is not a public address ("loopback", "private (RFC 1918)", …), or `None` for
/// a public one. IPv4 addresses inside IPv6 ones (mapped `::ffff:a.b.c.d`, compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged as the IPv4 address.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified (\"this network\", 0.0.0.0/8)",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private (RFC 1918)",
        (100, 64..=127, _) => "a carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "a loopback",
        (169, 254, _) => "a link-local (169.254.0.0/16, cloud metadata)",
        (192, 0, 0) => "an IETF protocol (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation",
        (198, 18..=19, _) => "a benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "a multicast",
        (240..=255, _, _) => "a reserved (240.0.0.0/4) or broadcast",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return Some("an unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("a loopback (::1)");
    }
    Some(match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => {
            return refused_v4(embedded(hi, lo));
        }
        // NAT64 well-known prefix: the IPv4 address it translates to
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return refused_v4(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "a local-use NAT64 (64:ff9b:1::/48)",
        // 6to4: 2002:AABB:CCDD::/48 carries a.b.c.d
        [0x2002, hi, lo, ..] => return refused_v4(embedded(hi, lo)),
        [0x100, 0, 0, 0, ..] => "a discard-only (100::/64)",
        [0x2001, 0, ..] => "a Teredo (2001::/32)",
        [0x2001, 0xdb8, ..] => "a documentation (2001:db8::/32)",
        [x, ..] if x & 0xfe00 == 0xfc00 => "a unique-local (fc00::/7)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "a link-local (fe80::/10)",
        [x, ..] if x & 0xffc0 == 0xfec0 => "a site-local (fec0::/10)",
        [x, ..] if x & 0xff00 == 0xff00 => "a multicast",
        _ => return None,
    })
}

const PRIVATE_HINT: &str = "pictures are fetched only from public addresses; if the \
                            article is trusted, pass --allow-private-addresses";

/// A DNS answer with no public address: the error [`PublicOnly`] fails a connect with.
#[derive(Debug)]
struct NoPublicAddress {
    host: String,
    addr: IpAddr,
    range: &'static str,
}

impl std::fmt::Display for NoPublicAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to no public address ({} is {} address); {PRIVATE_HINT}",
            self.host, self.addr, self.range
        )
    }
}

impl std::error::Error for NoPublicAddress {}

/// The resolver of picture downloads: the system's answer without its non-public
/// addresses; no address left fails the connect with the reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut public = Vec::with_capacity(all.len());
            let mut refused = None;
            for a in all {
                match refused_range(a.ip()) {
                    None => public.push(a),
                    Some(range) => {
                        refused.get_or_insert((a.ip(), range));
                    }
                }
            }
            match (public.is_empty(), refused) {
                (true, Some((addr, range))) => {
                    Err(Box::new(NoPublicAddress { host, addr, range }) as _)
                }
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The HTTP client of picture downloads: redirects are not followed by reqwest (each
/// hop is checked by [`download`]); unless private addresses are allowed, names resolve
/// through [`PublicOnly`] and no proxy is used.
pub fn picture_client(policy: &FetchPolicy) -> Result<reqwest::Client> {
    // Installing fails only when a provider is already installed: that one is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(policy.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wximg/", env!("CARGO_PKG_VERSION")));
    if !policy.allow_private_addresses {
        b = b.dns_resolver(PublicOnly).no_proxy();
    }
    b.build()
        .map_err(|e| Error::transport("cannot set up the HTTP client", e))
}

/// Whether `url` may be fetched under `policy`: its scheme, and a literal address in it.
fn check_hop(url: &url::Url, policy: &FetchPolicy) -> std::result::Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{}: URLs are not fetched (only http and https)",
            url.scheme()
        ));
    }
    if policy.allow_private_addresses {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()), // checked by PublicOnly
        None => return Err("the URL has no host".into()),
    };
    match refused_range(ip) {
        Some(range) => Err(format!("{ip} is {range} address; {PRIVATE_HINT}")),
        None => Ok(()),
    }
}

/// Longest wait for a picture's server to accept the connection (at most the download's
/// own timeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The reason of a failed request: [`NoPublicAddress`]'s own message when that is the
/// cause (the bool: a refusal, not a failure), else what went wrong, with its cause.
fn request_failure(e: reqwest::Error, policy: &FetchPolicy) -> (bool, String) {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(np) = c.downcast_ref::<NoPublicAddress>() {
            return (true, np.to_string());
        }
        cause = c.source();
    }
    (false, failure_words(&e, policy))
}

/// What a failed request or body read says: a timeout with the time allowed and the
/// flag that raises it; else reqwest's message (without the URL, which the caller names)
/// followed by each cause in its source chain once (a layer repeating the one below, as
/// hyper's wrappers do, is left out): "error sending request: tcp connect error:
/// Connection refused (os error 111)", not "error sending request" alone.
fn failure_words(e: &reqwest::Error, policy: &FetchPolicy) -> String {
    let secs = policy.timeout.as_secs_f64();
    if e.is_timeout() {
        if e.is_connect() {
            let connect = CONNECT_TIMEOUT.min(policy.timeout).as_secs_f64();
            return format!(
                "the server did not accept the connection within {connect} s: check the \
                 address, or try again later"
            );
        }
        return format!("timed out after {secs} s (raise --download-timeout, or try again later)");
    }
    let top = e.to_string();
    let mut parts: Vec<String> = Vec::new();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        cause = c.source();
        // hyper's "client error (Connect)" only names the layer the next cause is in.
        if text.is_empty() || text.starts_with("client error (") {
            continue;
        }
        if parts.iter().any(|p| p.contains(&text)) || top.contains(&text) {
            continue;
        }
        parts.push(text);
    }
    let mut words = match e.url() {
        Some(url) => top.replace(&format!(" for url ({url})"), ""),
        None => top,
    };
    for p in parts {
        words.push_str(": ");
        words.push_str(&p);
    }
    words
}

/// Downloads the picture at `url` under `policy` (see the module documentation),
/// refusing bodies over `policy.max_bytes` (checked while streaming).
pub async fn download(
    http: &reqwest::Client,
    url: &url::Url,
    policy: &FetchPolicy,
) -> Result<Vec<u8>> {
    let picture = url.to_string();
    let refuse = |reason: String| Error::Refused {
        picture: picture.clone(),
        reason,
    };
    let fail = |reason: String| Error::Download {
        url: picture.clone(),
        reason,
    };
    let cap = policy.max_bytes;
    let mut current = url.clone();
    let mut hops = 0;
    let resp = loop {
        if let Err(why) = check_hop(&current, policy) {
            return Err(refuse(if hops == 0 {
                why
            } else {
                format!("redirected to {current}: {why}")
            }));
        }
        let resp = match http.get(current.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                let (refused, why) = request_failure(e, policy);
                let why = if hops == 0 {
                    why
                } else {
                    format!("redirected to {current}: {why}")
                };
                return Err(if refused { refuse(why) } else { fail(why) });
            }
        };
        let status = resp.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            break resp;
        }
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(fail(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let next = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| current.join(l).ok());
        current = match next {
            Some(u) => u,
            None => {
                return Err(fail(format!(
                    "HTTP {status} without a usable Location header"
                )));
            }
        };
    };
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let too_big = || fail(format!("larger than the {cap}-byte download limit"));
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(failure_words(&e, policy)))?;
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The canonical form of an article's directory, the root local pictures must stay in.
pub fn article_root(dir: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_refused_addresses() {
        let refused = [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ];
        for a in refused {
            let ip: IpAddr = a.parse().unwrap();
            assert!(refused_range(ip).is_some(), "{a} passed as public");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "::ffff:8.8.8.8",
            "2606:4700::1111",
            "2a00:1450::1",
            "64:ff9b::808:808",
        ];
        for a in public {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(refused_range(ip), None, "{a} refused");
        }
    }

    #[test]
    fn hops_check_scheme_and_literal_addresses() {
        let strict = FetchPolicy {
            max_bytes: 10,
            allow_outside_dir: false,
            allow_private_addresses: false,
            timeout: Duration::from_secs(1),
        };
        let open = FetchPolicy {
            allow_private_addresses: true,
            ..strict
        };
        let u = |s: &str| url::Url::parse(s).unwrap();
        for bad in [
            "http://127.0.0.1:8080/x.png",
            "http://2130706433/x.png", // 127.0.0.1 written as a number
            "http://[::ffff:7f00:1]/x.png",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let e = check_hop(&u(bad), &strict).unwrap_err();
            assert!(e.contains("--allow-private-addresses"), "{bad}: {e}");
            assert!(check_hop(&u(bad), &open).is_ok(), "{bad}");
        }
        assert!(check_hop(&u("https://example.com/x.png"), &strict).is_ok());
        for bad in ["file:///etc/passwd", "ftp://example.com/x.png"] {
            assert!(check_hop(&u(bad), &open).is_err(), "{bad}");
        }
    }

    /// A server that accepts and never answers, and a port nobody listens on: each
    /// failure says its cause, not only "error sending request".
    #[tokio::test]
    async fn failed_downloads_say_why() {
        let policy = FetchPolicy {
            max_bytes: 1000,
            allow_outside_dir: false,
            allow_private_addresses: true,
            timeout: Duration::from_secs(1),
        };
        let http = picture_client(&policy).expect("client");
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let at = silent.local_addr().expect("addr");
        let held = tokio::spawn(async move {
            let mut kept = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                kept.push(conn);
            }
        });
        let url = url::Url::parse(&format!("http://{at}/x.png")).expect("url");
        let e = download(&http, &url, &policy)
            .await
            .expect_err("no answer")
            .to_string();
        assert!(
            e.contains("timed out after 1 s") && e.contains("--download-timeout"),
            "{e}"
        );
        held.abort();

        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let at = closed.local_addr().expect("addr");
        drop(closed);
        let url = url::Url::parse(&format!("http://{at}/x.png")).expect("url");
        let e = download(&http, &url, &policy)
            .await
            .expect_err("refused")
            .to_string();
        assert!(e.contains("Connection refused"), "{e}");
        assert_eq!(e.matches("error sending request").count(), 1, "{e}");
        assert!(
            !e.contains("for url"),
            "the URL is said once, by the caller: {e}"
        );
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("f.jpg");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let started = std::time::Instant::now();
        assert!(matches!(
            read_named(&fifo, 10),
            Err(NotRead::NotRegular("a FIFO"))
        ));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the open did not block"
        );
        assert!(matches!(
            read_named(Path::new("/dev/zero"), 10),
            Err(NotRead::NotRegular("a device"))
        ));
        let file = dir.path().join("a.md");
        std::fs::write(&file, b"12345").expect("write");
        assert_eq!(read_named(&file, 5).ok(), Some(b"12345".to_vec()));
        assert!(matches!(read_named(&file, 4), Err(NotRead::TooBig)));
        // The user's symlink is followed; an article's never is.
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(read_named(&link, 5).is_ok());
        assert!(open_regular(&link, false).is_err());
    }

    #[test]
    fn reads_stop_after_the_cap() {
        let big = std::io::repeat(0).take(u64::MAX);
        let r = read_capped(big, 1000).unwrap();
        assert!(r.is_none());
        assert_eq!(
            read_capped(&b"12345"[..], 5).unwrap().as_deref(),
            Some(&b"12345"[..])
        );
    }
}
