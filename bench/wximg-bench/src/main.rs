//! `wximg-bench`: the load generator and baselines behind BENCHMARKS.md.
//!
//! - `fsync-loop`: the raw durable-write baseline — N threads each writing a file to a temp
//!   name, fsync, rename, fsync of the directory: what one durable upload must at least cost.
//! - `upload`: N concurrent clients uploading *distinct* pictures of a given size to a
//!   wximg (distinct so content addressing cannot skip the write), reporting uploads/s and
//!   latency percentiles.
//! - `hostile`: one upload whose `media` part streams N MB of zeros.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::stream;

/// Where the server under test is, and the app whose token the load uses.
#[derive(clap::Args)]
struct Target {
    #[arg(long)]
    base: String,
    #[arg(long)]
    appid: String,
    #[arg(long)]
    secret: String,
}

/// How much load: `count` operations of `size` bytes by `concurrency` workers.
#[derive(clap::Args)]
struct Load {
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 4000)]
    count: u64,
    #[arg(long, default_value_t = 100_000)]
    size: usize,
}

#[derive(Parser)]
enum Cmd {
    FsyncLoop {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        load: Load,
    },
    Upload {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        load: Load,
    },
    /// Writes a whole, distinct JPEG of exactly `size` bytes.
    MakeJpeg {
        #[arg(long, default_value_t = 100_000)]
        size: usize,
        #[arg(long)]
        out: PathBuf,
    },
    Hostile {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 50)]
        mb: usize,
    },
}

/// A photo-like JPEG of about `size` bytes: encoded once, then padded with a COM segment.
fn base_jpeg(size: usize) -> anyhow::Result<Vec<u8>> {
    let mut side = 64u32;
    let mut fitting: Option<Vec<u8>> = None;
    loop {
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 64;
            image::Rgb([
                (x % 256) as u8 ^ n as u8,
                (y % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg)?;
        let jpeg = out.into_inner();
        if jpeg.len() + 40 > size {
            return fitting.ok_or_else(|| anyhow::anyhow!("cannot make a {size}-byte JPEG"));
        }
        if jpeg.len() + 65_000 >= size || side >= 4096 {
            return Ok(jpeg);
        }
        fitting = Some(jpeg);
        side += side / 4;
    }
}

/// The base JPEG made distinct by `n` and padded to exactly `size` bytes with COM segments.
fn distinct(base: &[u8], n: u64, size: usize) -> Vec<u8> {
    let mut out = base[..2].to_vec();
    let mut extra = size - base.len();
    let mut first = true;
    while extra > 0 {
        let mut seg = extra.min(65_537);
        if extra - seg > 0 && extra - seg < 4 {
            seg -= 4;
        }
        let mut payload = vec![b' '; seg - 4];
        if first {
            let tag = format!("wximg-bench {n:020}");
            let k = tag.len().min(payload.len());
            payload[..k].copy_from_slice(&tag.as_bytes()[..k]);
            first = false;
        }
        out.extend([0xFF, 0xFE]);
        out.extend(((seg - 2) as u16).to_be_bytes());
        out.extend(payload);
        extra -= seg;
    }
    out.extend_from_slice(&base[2..]);
    out
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (Linux only;
/// clock ticks of 10 ms, plenty for runs of a second or more).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn fsync_loop(dir: PathBuf, load: Load) -> anyhow::Result<()> {
    let Load {
        concurrency,
        count,
        size,
    } = load;
    std::fs::create_dir_all(dir.join("tmp"))?;
    std::fs::create_dir_all(dir.join("final"))?;
    let data = Arc::new(vec![0x5Au8; size]);
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let (dir, data, next) = (dir.clone(), data.clone(), next.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let final_dir = std::fs::File::open(dir.join("final"))?;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return Ok(());
                    }
                    let tmp = dir.join("tmp").join(format!("{n}"));
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&data)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, dir.join("final").join(format!("{n}")))?;
                    final_dir.sync_all()?;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_us = cpu_seconds().map(|cpu| (cpu - cpu_before) * 1e6 / count as f64);
    println!(
        "{}",
        serde_json::json!({"kind": "fsync-loop", "concurrency": concurrency, "count": count, "size": size, "seconds": secs, "per_second": count as f64 / secs, "cpu_us_per_op": cpu_us})
    );
    Ok(())
}

async fn token(http: &reqwest::Client, target: &Target) -> anyhow::Result<String> {
    let Target {
        base,
        appid,
        secret,
    } = target;
    let v: serde_json::Value = http
        .get(format!(
            "{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"
        ))
        .send()
        .await?
        .json()
        .await?;
    v["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no token: {v}"))
}

async fn upload(target: Target, load: Load) -> anyhow::Result<()> {
    let Load {
        concurrency,
        count,
        size,
    } = load;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let token = token(&http, &target).await?;
    let base = target.base;
    let pic = Arc::new(base_jpeg(size)?);
    let salt: u64 = rand::random::<u32>() as u64 * 1_000_000_000;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, base, token, pic, next) = (
            http.clone(),
            base.clone(),
            token.clone(),
            pic.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return (latencies, failures);
                }
                let bytes = distinct(&pic, salt + n, size);
                let t = Instant::now();
                let form = reqwest::multipart::Form::new().part(
                    "media",
                    reqwest::multipart::Part::bytes(bytes).file_name("b.jpg"),
                );
                let ok = match http
                    .post(format!(
                        "{base}/cgi-bin/media/uploadimg?access_token={token}"
                    ))
                    .multipart(form)
                    .send()
                    .await
                {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .map(|v| v["errcode"] == 0)
                        .unwrap_or(false),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    failures += 1;
                }
            }
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failures += f;
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({"kind": "upload", "concurrency": concurrency, "count": count, "size": size, "failures": failures,
            "seconds": secs, "per_second": latencies.len() as f64 / secs, "p50_ms": pct(0.50), "p99_ms": pct(0.99)})
    );
    anyhow::ensure!(failures == 0, "{failures} uploads failed");
    Ok(())
}

async fn hostile(target: Target, mb: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let token = token(&http, &target).await?;
    let base = target.base;
    let chunk = vec![0u8; 1 << 20];
    let body = stream::iter((0..mb).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(body)).file_name("huge.jpg"),
    );
    let answer = http
        .post(format!(
            "{base}/cgi-bin/media/uploadimg?access_token={token}"
        ))
        .multipart(form)
        .send()
        .await
        .map(|r| r.status().to_string());
    println!(
        "{}",
        serde_json::json!({"kind": "hostile", "mb": mb, "answer": format!("{answer:?}")})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest links rustls without a provider of its own: the process's is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cmd::parse() {
        Cmd::FsyncLoop { dir, load } => fsync_loop(dir, load),
        Cmd::Upload { target, load } => upload(target, load).await,
        Cmd::Hostile { target, mb } => hostile(target, mb).await,
        Cmd::MakeJpeg { size, out } => {
            let pic = distinct(&base_jpeg(size)?, rand::random::<u32>() as u64, size);
            std::fs::write(out, pic)?;
            Ok(())
        }
    }
}
