//! `wximg backup DEST` and `wximg restore SRC --data DIR`: online backup of the embedded
//! store while `wximg serve` runs, and its restore into an empty directory. The logic,
//! and the invariant it keeps (a backup with its manifest holds every picture
//! acknowledged before it started, verified), is `wximg_store::backup`; this is its front.
//!
//! Exit status: 0 only when the run is complete (every blob copied or already there and
//! verified). Progress goes to stderr every few seconds on long runs; the summary to
//! stdout, or with `--json` one object:
//! `{"complete","pictures","blob_bytes","copied","copied_bytes","present","removed",
//!   "database_bytes","snapshot_seconds","seconds","failures":[{"id","reason"}]}`
//! (ids as in picture URLs; `restore` prints the same keys).
//!
//! Only the embedded store is backed up this way: PostgreSQL + S3 have their own tools
//! (docs/scaleout.md, "Backups").

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use wximg_store::backup::{self, Progress, Report};

use super::StorageArgs;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The backup directory: absent, empty, or an earlier backup (then only new blobs
    /// are copied). Outside the data directory, ideally on another disk.
    pub dest: PathBuf,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// How many blobs to copy at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// A directory `wximg backup` wrote (with its backup.json).
    pub src: PathBuf,
    /// The data directory to restore into (`--data`): must be empty or absent.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// How many blobs to copy at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run_backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    embedded_only(&args.storage, "backup")?;
    let (data, dest) = (args.storage.data.clone(), args.dest.clone());
    let options = backup::Options { jobs: args.jobs };
    let report = tokio::task::spawn_blocking(move || {
        backup::backup(&data, &dest, &options, &progress_lines("backup"))
    })
    .await??;
    finish("backup", &report, args.json, || {
        format!(
            "run `wximg fsck --data {}` and `wximg backup` again once it is clean; \
             the previous backup in {} is unchanged",
            args.storage.data.display(),
            args.dest.display()
        )
    })
}

pub async fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    embedded_only(&args.storage, "restore")?;
    let (src, data) = (args.src.clone(), args.storage.data.clone());
    let options = backup::Options { jobs: args.jobs };
    let report = tokio::task::spawn_blocking(move || {
        backup::restore(&src, &data, &options, &progress_lines("restore"))
    })
    .await??;
    finish("restore", &report, args.json, || {
        format!(
            "the backup in {} is damaged; {} has no database (nothing will serve from it): \
             remove it and restore another backup",
            args.src.display(),
            args.storage.data.display()
        )
    })
}

/// Refuses the scale-out flags: PostgreSQL and S3 are backed up with their own tools.
fn embedded_only(storage: &StorageArgs, command: &str) -> anyhow::Result<()> {
    if storage.database_url.is_some() || storage.store.is_some() {
        anyhow::bail!(
            "`wximg {command}` works on the embedded store (--data DIR) only; back up \
             PostgreSQL + S3 with their own tools (pg_dump or PITR, bucket versioning): \
             see docs/scaleout.md, \"Backups\""
        );
    }
    Ok(())
}

/// A progress callback that prints a line to stderr at most every 2 s (nothing on short runs).
fn progress_lines(what: &'static str) -> impl Fn(Progress) + Sync {
    let last = Mutex::new(Instant::now());
    move |p: Progress| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= Duration::from_secs(2) {
            *last = Instant::now();
            eprintln!(
                "wximg {what}: {}/{} blobs, {} copied",
                p.done,
                p.total,
                megabytes(p.copied_bytes)
            );
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Prints the report and picks the exit status; `next` says what to do after a failure.
fn finish(
    what: &str,
    report: &Report,
    json: bool,
    next: impl FnOnce() -> String,
) -> anyhow::Result<ExitCode> {
    for f in &report.failures {
        eprintln!("wximg {what}: picture {}: {}", f.id, f.reason);
    }
    if json {
        let failures: Vec<serde_json::Value> = report
            .failures
            .iter()
            .map(|f| json!({"id": f.id.to_string(), "reason": f.reason}))
            .collect();
        println!(
            "{}",
            json!({
                "complete": report.is_complete(),
                "pictures": report.pictures,
                "blob_bytes": report.blob_bytes,
                "copied": report.copied,
                "copied_bytes": report.copied_bytes,
                "present": report.present,
                "removed": report.removed,
                "database_bytes": report.database_bytes,
                "snapshot_seconds": report.snapshot_time.as_secs_f64(),
                "seconds": report.elapsed.as_secs_f64(),
                "failures": failures,
            })
        );
    } else {
        println!(
            "{what}: {} pictures ({}): {} copied ({}), {} already there, {} removed; \
             database {}; {:.1} s — {}",
            report.pictures,
            megabytes(report.blob_bytes),
            report.copied,
            megabytes(report.copied_bytes),
            report.present,
            report.removed,
            megabytes(report.database_bytes),
            report.elapsed.as_secs_f64(),
            if report.is_complete() {
                "complete"
            } else {
                "NOT complete"
            }
        );
    }
    if report.is_complete() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "wximg {what}: {} picture(s) failed: {}",
            report.failures.len(),
            next()
        );
        Ok(ExitCode::FAILURE)
    }
}
