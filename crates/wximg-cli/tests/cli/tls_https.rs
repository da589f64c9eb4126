//! HTTPS for clients that hard-code the platform's host: `wximg tls init` makes a CA and a
//! certificate, `wximg serve --tls-cert … --tls-key …` serves it, and a client that trusts
//! only that CA and resolves `api.weixin.qq.com` / `mmbiz.qpic.cn` to the server gets a
//! token, uploads and fetches the picture — over h2 by ALPN and over HTTP/1.1. A client
//! without the CA, or asking for a name the certificate lacks, is refused; a peer that
//! starts a handshake and stalls is dropped after the header timeout.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Backend, Server, WXIMG, create_app};

/// `wximg tls init --dir DIR EXTRA…`, asserting success; its stdout.
fn tls_init(dir: &Path, extra: &[&str]) -> String {
    let out = std::process::Command::new(WXIMG)
        .args(["tls", "init", "--dir"])
        .arg(dir)
        .args(extra)
        .env_remove("WXIMG_PUBLIC_URL")
        .output()
        .expect("run wximg tls init");
    assert!(out.status.success(), "{}", support::stderr(&out));
    support::stdout(&out)
}

/// A `wximg serve` speaking HTTPS with the certificate in `tls`.
fn tls_server(data: &Path, tls: &Path, extra: &[&str]) -> (Server, SocketAddr) {
    let cert = tls.join("cert.pem");
    let key = tls.join("key.pem");
    let mut args = vec![
        "--tls-cert",
        cert.to_str().expect("utf-8 path"),
        "--tls-key",
        key.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let server = Server::start(Backend::Embedded(data), &args);
    let addr = server
        .base
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("not an https base: {}", server.base))
        .parse()
        .expect("host:port");
    (server, addr)
}

/// A client that trusts only `ca.pem` and sends the platform's names to `addr`.
fn platform_client(ca: &Path, addr: SocketAddr, http1: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(ca).expect("ca.pem");
    let ca = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .tls_certs_only([ca])
        .resolve("api.weixin.qq.com", addr)
        .resolve("mmbiz.qpic.cn", addr)
        .resolve("not-in-the-certificate.example", addr);
    if http1 {
        builder = builder.http1_only();
    }
    builder.build().expect("HTTP client")
}

#[tokio::test]
async fn a_client_of_the_platform_host_reaches_wximg_over_tls() {
    let data = tempfile::tempdir().expect("tempdir");
    let tls = tempfile::tempdir().expect("tempdir");
    let printed = tls_init(tls.path(), &["--host", "pics.example.com"]);
    for line in [
        "127.0.0.1 api.weixin.qq.com mmbiz.qpic.cn pics.example.com",
        "REQUESTS_CA_BUNDLE=",
        "SSL_CERT_FILE=",
        "NODE_EXTRA_CA_CERTS=",
        "keytool -importcert",
        "curl --cacert",
        "--listen 127.0.0.1:443",
    ] {
        assert!(printed.contains(line), "{line:?} not in:\n{printed}");
    }
    let app = create_app(Backend::Embedded(data.path()), "official");
    let (server, addr) = tls_server(data.path(), tls.path(), &[]);
    let port = addr.port();
    let api = format!("https://api.weixin.qq.com:{port}");
    let ca = tls.path().join("ca.pem");

    for (http1, version) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let http = platform_client(&ca, addr, http1);
        let resp = http
            .get(format!(
                "{api}/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
                app.appid, app.secret
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("token over TLS: {e:?}\n{}", server.logs()));
        assert_eq!(resp.version(), version, "ALPN picks the protocol");
        let token: serde_json::Value = resp.json().await.expect("JSON");
        let token = token["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {token}"))
            .to_string();

        let picture = support::pictures::numbered_jpeg(u64::from(http1));
        let answer = support::upload(&http, &api, &token, picture.clone()).await;
        let url = answer["url"]
            .as_str()
            .unwrap_or_else(|| panic!("no url: {answer}"));
        // No --public-url: the default follows the listener's scheme.
        assert!(
            url.starts_with(&format!("https://{addr}/mmbiz_jpg/")),
            "{url}"
        );
        // The picture host of the certificate serves it byte for byte.
        let resp = http
            .get(format!(
                "https://mmbiz.qpic.cn:{port}{}",
                support::url_path(url)
            ))
            .send()
            .await
            .expect("picture over TLS");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        assert_eq!(resp.bytes().await.expect("body").as_ref(), &picture[..]);

        // The certificate names the hosts it was made for, and no other.
        let wrong = http
            .get(format!(
                "https://not-in-the-certificate.example:{port}/healthz"
            ))
            .send()
            .await;
        assert!(
            wrong.is_err(),
            "a name outside the certificate was accepted"
        );
    }

    // A client without the CA (the system's roots only) is refused.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .resolve("api.weixin.qq.com", addr)
        .build()
        .expect("HTTP client");
    let refused = untrusting
        .get(format!("{api}/healthz"))
        .send()
        .await
        .expect_err("a client that does not trust the CA was served");
    assert!(refused.is_connect(), "{refused:?}");
    // Plain HTTP to the TLS port gets no answer of the API.
    let plain = support::http()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| r.status() != 200),
        "{plain:?}"
    );
}

/// A peer that opens a TLS handshake and never finishes it holds its slot only for the
/// header timeout, and meanwhile others are served.
#[tokio::test]
async fn a_stalled_handshake_is_dropped_after_the_header_timeout() {
    let data = tempfile::tempdir().expect("tempdir");
    let tls = tempfile::tempdir().expect("tempdir");
    tls_init(tls.path(), &[]);
    let (server, addr) = tls_server(data.path(), tls.path(), &["--header-timeout", "1"]);
    let http = platform_client(&tls.path().join("ca.pem"), addr, false);

    let mut stalled = Vec::new();
    for partial in [
        &b""[..],                                     // connected, sent nothing
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"[..], // the first bytes of a ClientHello
    ] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(partial).await.expect("write");
        stalled.push(tcp);
    }
    // Others are served while they stall.
    let ok = http
        .get(format!("https://api.weixin.qq.com:{}/healthz", addr.port()))
        .send()
        .await
        .expect("healthz over TLS");
    assert_eq!(ok.status(), 200);

    let started = Instant::now();
    for mut tcp in stalled {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("still held after 5 s\n{}", server.logs()));
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "the server answered a half handshake: {read:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn tls_init_writes_private_keys_0600_and_never_overwrites_without_force() {
    use std::os::unix::fs::PermissionsExt as _;

    let tls = tempfile::tempdir().expect("tempdir");
    tls_init(
        tls.path(),
        &["--public-url", "https://Pics.Example.org:8443/x"],
    );
    let mode = |name: &str| {
        std::fs::metadata(tls.path().join(name))
            .expect("file")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca-key.pem"), 0o600);
    assert_eq!(mode("key.pem"), 0o600);
    assert_eq!(mode("cert.pem"), 0o644);
    let ca = std::fs::read(tls.path().join("ca.pem")).expect("ca.pem");

    let again = std::process::Command::new(WXIMG)
        .args(["tls", "init", "--dir"])
        .arg(tls.path())
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(
        support::stderr(&again).contains("--force"),
        "{}",
        support::stderr(&again)
    );
    assert_eq!(
        std::fs::read(tls.path().join("ca.pem")).expect("ca.pem"),
        ca,
        "refused, yet the CA changed"
    );
    let names: Vec<String> = std::fs::read_dir(tls.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "no temporary file left: {names:?}");

    let forced = tls_init(tls.path(), &["--force"]);
    assert!(forced.contains("api.weixin.qq.com"), "{forced}");
    assert_ne!(
        std::fs::read(tls.path().join("ca.pem")).expect("ca.pem"),
        ca,
        "--force makes a new CA"
    );
}

#[tokio::test]
async fn serve_refuses_a_key_that_is_not_the_certificates() {
    let data = tempfile::tempdir().expect("tempdir");
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    tls_init(one.path(), &[]);
    tls_init(two.path(), &[]);
    let cert = one.path().join("cert.pem");
    let key = two.path().join("key.pem");
    let out = Backend::Embedded(data.path())
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run wximg serve");
    assert!(!out.status.success());
    let err = support::stderr(&out);
    assert!(
        err.contains("--tls-cert") && err.contains("--tls-key"),
        "{err}"
    );
}
