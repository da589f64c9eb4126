//! `wximg migrate --from DATA_DIR --to-database postgres://… --to-store s3://…`: copies an
//! embedded deployment (SQLite + picture files) into a scale-out one (PostgreSQL + S3).
//!
//! What is copied, in this order:
//! 1. apps, 2. token rows (ended and expired ones too, so old tokens keep answering
//!    40001/42001 as before), 3. stable-token states, 4. platform records (whitelists,
//!    quota limits, third-party platform state) and quota counters, when the source has
//!    them, 5. the takedown audit log and the blocked hashes, when the source has them,
//!    6. drafts, publish jobs and published articles, when the source has them,
//!    7. pictures (one row per account): blob, then row, 8. permanent materials, each
//!    after its picture (one whose picture failed is not written).
//!
//! The rules that make it safe to run at any time, any number of times:
//! - **Nothing is overwritten.** Every row is inserted with `ON CONFLICT DO NOTHING`; a
//!   scale-out deployment that already runs keeps its own newer state (e.g. a stable token
//!   it has rotated since).
//! - **Every blob is verified by its BLAKE3 hash twice**: the local file must hash to its
//!   name (the picture id) before it is sent, and the copy read back from S3 must hash to
//!   the same before its row is written.
//! - **A picture's row is written only after its blob is stored and verified**, so the
//!   target never has a row without its bytes, and an interrupted run resumes by
//!   skipping exactly the pictures whose rows exist.
//! - **The source is only read** (`wximg_store::open_read_only`): nothing in the data
//!   directory is created, swept or written, so a server may keep running on it meanwhile
//!   (what it accepts after the copy started is picked up by running `migrate` again).
//!
//! The copying itself is `wximg_store::transfer` and `PostgresMeta::import`, through the
//! storage traits: this command only opens both sides and reports.
//!
//! The exit status is 0 only when everything was copied or already there.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use wximg_store::postgres::PostgresMeta;
use wximg_store::s3::S3Blobs;
use wximg_store::{Storage, transfer};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Data directory of the embedded deployment to copy from (holds wximg.sqlite3 and blobs/).
    #[arg(long, value_name = "DATA_DIR")]
    pub from: PathBuf,
    /// PostgreSQL to copy into (postgres://user:password@host:port/database).
    #[arg(
        long,
        value_name = "URL",
        env = "WXIMG_DATABASE_URL",
        hide_env_values = true
    )]
    pub to_database: String,
    /// S3-compatible store to copy the pictures into (s3://bucket?endpoint=…&region=…).
    #[arg(long, value_name = "URL", env = "WXIMG_STORE")]
    pub to_store: String,
    /// How many pictures to copy at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let source = wximg_store::open_read_only(&args.from).await?;
    let target_meta = Arc::new(PostgresMeta::open(&args.to_database).await?);
    let target = Storage {
        meta: target_meta.clone(),
        blobs: Arc::new(S3Blobs::open(&args.to_store).await?),
    };
    copy_rows(&source, &target_meta).await?;
    let failed =
        copy_pictures(&source, &target, args.jobs).await? + copy_materials(&source, &target).await;
    if failed > 0 {
        eprintln!(
            "wximg migrate: {failed} picture(s) or material(s) not copied; their rows were not written. \
             Fix the cause (`wximg fsck` for the source) and run migrate again: \
             it resumes where it stopped."
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Step 1: every row but the pictures', in the order the target's references need
/// (apps before their tokens), each line printed as it is done.
async fn copy_rows(source: &Storage, target: &PostgresMeta) -> anyhow::Result<()> {
    let rows = source.meta.export().await?;
    let imported = target.import(&rows).await?;
    println!("{}", imported.apps.line("apps"));
    println!("{}", imported.tokens.line("tokens"));
    println!("{}", imported.stable_states.line("stable-token states"));
    println!("{}", imported.records.line("platform records"));
    println!("{}", imported.call_counts.line("quota counters"));
    println!("{}", imported.takedowns.line("takedown audit entries"));
    println!("{}", imported.blocked.line("blocked pictures"));
    println!("{}", imported.drafts.line("drafts"));
    println!("{}", imported.publish_jobs.line("publish jobs"));
    println!("{}", imported.published_articles.line("published articles"));
    Ok(())
}

/// Step 3: every material (after its picture). Returns how many failed (each named on
/// stderr).
async fn copy_materials(source: &Storage, target: &Storage) -> u64 {
    let (tally, failures) = transfer::copy_materials(source, target).await;
    for (media_id, why) in &failures {
        eprintln!("wximg migrate: material {media_id}: {why}");
    }
    println!("{}", tally.line("materials"));
    tally.failed
}

/// Step 2: every picture whose row the target lacks, blob first and verified, then its
/// row. Returns how many failed (each named on stderr).
async fn copy_pictures(source: &Storage, target: &Storage, jobs: usize) -> anyhow::Result<u64> {
    let images = source.meta.images().await?;
    let total = images.len();
    let (tally, failures) = transfer::copy_pictures(source, target, images, jobs).await;
    for (id, why) in &failures {
        eprintln!("wximg migrate: picture {}: {why}", id.hex());
    }
    println!("{} (of {total})", tally.line("pictures"));
    Ok(tally.failed)
}
