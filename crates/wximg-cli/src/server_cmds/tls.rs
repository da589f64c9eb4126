//! `wximg tls init [--dir DIR] [--host H]… [--force]`: a local certificate authority and
//! a server certificate for the platform's own host names, so that clients which
//! hard-code `https://api.weixin.qq.com` (or rewrite picture URLs to
//! `https://mmbiz.qpic.cn`) reach a wximg with no change to their code — only a hosts
//! entry and trust in the local CA, whose lines this command prints.
//!
//! Invariant: the four files (`ca.pem`, `ca-key.pem`, `cert.pem`, `key.pem`) are written
//! all or none. Existing files are never overwritten without `--force`; each file is
//! written to a temporary name, fsynced and renamed, the private keys with mode 0600 from
//! their creation, so no reader ever sees half a key or a key readable by others.
//!
//! The CA is made here and its key stays in DIR: anyone who holds `ca-key.pem` can make
//! certificates every machine that trusts `ca.pem` accepts, for any name. Trust it in
//! development and CI only. The CA lives 10 years; the server certificate 825 days (the
//! longest a TLS client on Apple systems accepts) and names the platform's API host,
//! its picture host, `localhost`, the loopback addresses and every `--host`.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The platform's API host: what wechatpy, silenceper/wechat, EasyWeChat's stable_token
/// and the publishing tools hard-code.
pub const API_HOST: &str = "api.weixin.qq.com";
/// The platform's picture host (`http://mmbiz.qpic.cn/mmbiz_jpg/<id>/0`): one client
/// rewrites it to `https://`.
pub const PICTURE_HOST: &str = "mmbiz.qpic.cn";

/// Names every certificate made here carries, before `--host`.
const DEFAULT_NAMES: &[&str] = &[API_HOST, PICTURE_HOST, "localhost", "127.0.0.1", "::1"];

/// The server certificate's life: 825 days, the longest Apple's TLS clients accept.
const CERT_DAYS: i64 = 825;
/// The CA's life.
const CA_DAYS: i64 = 3650;

#[derive(clap::Args, Debug)]
pub struct TlsArgs {
    #[command(subcommand)]
    pub command: TlsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TlsCommand {
    /// Make a local CA and a certificate for api.weixin.qq.com, mmbiz.qpic.cn, localhost
    /// and every --host; print how to trust it (hosts entry, Python, Node, Java, Go, curl).
    Init(InitArgs),
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Where to write ca.pem, ca-key.pem, cert.pem and key.pem.
    #[arg(long, default_value = "./wximg-tls")]
    pub dir: PathBuf,
    /// One more name (or IP address) for the certificate: the public host of
    /// --public-url, say (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// The server's --public-url: its host is added to the certificate.
    #[arg(long, env = "WXIMG_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Replace files already in DIR (a new CA: clients must trust the new ca.pem).
    #[arg(long)]
    pub force: bool,
}

/// The four files, by role.
struct Files {
    ca: PathBuf,
    ca_key: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path) -> Files {
        Files {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    fn all(&self) -> [&Path; 4] {
        [&self.ca, &self.ca_key, &self.cert, &self.key]
    }
}

pub async fn run(args: TlsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        TlsCommand::Init(init) => run_init(init),
    }
}

/// The certificate's names: the defaults, the public URL's host, then `--host`, once each.
fn names(args: &InitArgs) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|s| s.to_string()).collect();
    if let Some(url) = &args.public_url {
        let host =
            public_host(url).with_context(|| format!("--public-url {url:?}: no host in it"))?;
        names.push(host);
    }
    names.extend(args.hosts.iter().map(|h| h.trim().to_ascii_lowercase()));
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    Ok(names)
}

/// `https://pics.example.com:8443/prefix` → `pics.example.com`; `[::1]` → `::1`.
fn public_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn run_init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let names = names(&args)?;
    let files = Files::in_dir(&args.dir);
    if !args.force {
        let present: Vec<String> = files
            .all()
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !present.is_empty() {
            anyhow::bail!(
                "{} already exist(s); nothing written (--force replaces them, and the CA with them)",
                present.join(", ")
            );
        }
    }
    let made = make(&names)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    // Every file goes to a temporary name first; only when all four are durable are
    // they renamed into place, so a failure leaves DIR as it was.
    let staged = [
        (&files.ca, made.ca_pem.as_str(), false),
        (&files.ca_key, made.ca_key_pem.as_str(), true),
        (&files.cert, made.cert_pem.as_str(), false),
        (&files.key, made.key_pem.as_str(), true),
    ];
    let mut temps = Vec::with_capacity(staged.len());
    for (path, text, secret) in staged {
        match stage(path, text, secret) {
            Ok(temp) => temps.push((temp, path)),
            Err(e) => {
                for (temp, _) in &temps {
                    let _ = std::fs::remove_file(temp);
                }
                return Err(e);
            }
        }
    }
    for (temp, path) in &temps {
        std::fs::rename(temp, path)
            .with_context(|| format!("cannot rename {} to {}", temp.display(), path.display()))?;
    }
    if let Ok(dir) = File::open(&args.dir) {
        let _ = dir.sync_all();
    }
    print_instructions(&args.dir, &files, &names);
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to a fresh temporary file next to `path` (0600 for keys), fsynced.
fn stage(path: &Path, text: &str, secret: bool) -> anyhow::Result<PathBuf> {
    let temp = path.with_extension(format!("pem.tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temp.display()))?;
    Ok(temp)
}

/// The PEM texts of a new CA and of a certificate it signed for `names`.
struct Made {
    ca_pem: String,
    ca_key_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn make(names: &[String]) -> anyhow::Result<Made> {
    let now = time::OffsetDateTime::now_utc();
    // A day of slack for clocks behind ours.
    let from = now - time::Duration::days(1);

    let ca_key = KeyPair::generate().context("cannot make the CA's key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "wximg local development CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "wximg (development only)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = from;
    ca.not_after = now + time::Duration::days(CA_DAYS);
    let ca_cert = ca.self_signed(&ca_key).context("cannot sign the CA")?;

    let key = KeyPair::generate().context("cannot make the server's key")?;
    let mut leaf = CertificateParams::new(names.to_vec())
        .with_context(|| format!("not a valid certificate name among {names:?}"))?;
    leaf.distinguished_name.push(DnType::CommonName, API_HOST);
    leaf.is_ca = IsCa::ExplicitNoCa;
    // An ECDSA (P-256) key: it signs the handshake, it never enciphers a key.
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = from;
    leaf.not_after = now + time::Duration::days(CERT_DAYS);
    let issuer = Issuer::new(ca, &ca_key);
    let cert = leaf
        .signed_by(&key, &issuer)
        .context("cannot sign the server's certificate")?;
    Ok(Made {
        ca_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn print_instructions(dir: &Path, files: &Files, names: &[String]) {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let ca = abs(&files.ca).display().to_string();
    let cert = abs(&files.cert).display().to_string();
    let key = abs(&files.key).display().to_string();
    let hosts: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.parse::<std::net::IpAddr>().is_err() && *n != "localhost")
        .collect();
    println!(
        "wrote {} (ca.pem, ca-key.pem, cert.pem, key.pem)",
        abs(dir).display()
    );
    println!("certificate names: {}", names.join(", "));
    println!();
    println!("# 1. Serve HTTPS on the platform's port (443 needs root or CAP_NET_BIND_SERVICE):");
    println!(
        "wximg serve --tls-cert {cert} --tls-key {key} --listen 127.0.0.1:443 --public-url https://{PICTURE_HOST}"
    );
    println!();
    println!(
        "# 2. Send the platform's names to it (/etc/hosts; remove the line to reach the real platform):"
    );
    println!("127.0.0.1 {}", hosts.join(" "));
    println!();
    println!("# 3. Trust the CA, in the client's own setting:");
    println!("export REQUESTS_CA_BUNDLE={ca}   # Python requests (wechatpy, md2wechat)");
    println!(
        "export SSL_CERT_FILE={ca}        # Python ssl/httpx/aiohttp, Go (crypto/x509, Linux), OpenSSL"
    );
    println!("export NODE_EXTRA_CA_CERTS={ca}  # Node (wenyan, co-wechat-api, wechat-api)");
    println!(
        "keytool -importcert -noprompt -alias wximg-dev-ca -file {ca} -keystore wximg-dev.jks -storepass changeit"
    );
    println!(
        "#   then: java -Djavax.net.ssl.trustStore=wximg-dev.jks -Djavax.net.ssl.trustStorePassword=changeit …  # WxJava"
    );
    println!(
        "curl --cacert {ca} 'https://{API_HOST}/cgi-bin/token?grant_type=client_credential&appid=…&secret=…'"
    );
    println!();
    println!(
        "# ca-key.pem signs certificates for any name that a machine trusting ca.pem accepts: keep it to development."
    );
}

#[cfg(test)]
mod tests {
    use super::public_host;

    #[test]
    fn public_hosts() {
        assert_eq!(
            public_host("https://Pics.Example.com:8443/p?x").as_deref(),
            Some("pics.example.com")
        );
        assert_eq!(public_host("http://[::1]:80").as_deref(), Some("::1"));
        assert_eq!(
            public_host("http://u:p@h.example/").as_deref(),
            Some("h.example")
        );
        assert_eq!(public_host("https://"), None);
    }
}
