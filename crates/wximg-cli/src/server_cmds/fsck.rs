//! `wximg fsck [--repair] [--json]`: checks that every picture row has its blob with the
//! right BLAKE3 hash, and lists orphan blobs (blobs without a row, which a crash between
//! storing a blob and committing its row leaves behind). `--repair` removes orphans, never
//! a blob that has a row. The logic is `wximg_store::fsck`; this is its front.
//!
//! Exit status: 0 when clean (no lost or damaged picture, no orphan left); 1 otherwise.
//! With `--json` it prints one object:
//! `{"clean","rows","blobs","verified","missing":[ids],"corrupt":[{"id","reason"}],
//!   "orphans":[ids],"removed":[ids],"pending_deletions":[ids],"finished_deletions":[ids]}`
//! (ids as in picture URLs). Pending deletions are blobs a takedown marked for deletion
//! and did not finish (a crash); `--repair` finishes them at once, without the grace.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use wximg_store::fsck::{self, Problem};

use super::StorageArgs;

#[derive(clap::Args, Debug)]
pub struct FsckArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Remove orphan blobs (blobs no picture row refers to). Never touches a row's blob.
    #[arg(long)]
    pub repair: bool,
    /// With --repair: seconds to wait before removing orphans, so uploads in flight on a
    /// running server can commit their rows. Use 0 when no server is running.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub grace: u64,
    /// How many blobs to read and hash at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: FsckArgs) -> anyhow::Result<ExitCode> {
    let storage = wximg_store::open(&args.storage.config()).await?;
    let options = fsck::Options {
        repair: args.repair,
        grace: Duration::from_secs(args.grace),
        jobs: args.jobs,
    };
    if args.repair && args.grace > 0 && !args.json {
        eprintln!(
            "wximg fsck: orphans found are removed after a {} s grace (--grace 0 when no server runs)",
            args.grace
        );
    }
    let report = fsck::check(&storage, &options).await?;
    let ids =
        |ids: &[wximg_proto::ImageId]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    if args.json {
        let missing: Vec<String> = report
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::Missing { id } => Some(id.to_string()),
                Problem::Corrupt { .. } => None,
            })
            .collect();
        let corrupt: Vec<serde_json::Value> = report
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::Corrupt { id, reason } => {
                    Some(json!({"id": id.to_string(), "reason": reason}))
                }
                Problem::Missing { .. } => None,
            })
            .collect();
        println!(
            "{}",
            json!({
                "clean": report.is_clean(),
                "rows": report.rows,
                "blobs": report.blobs,
                "verified": report.verified,
                "missing": missing,
                "corrupt": corrupt,
                "orphans": ids(&report.orphans),
                "removed": ids(&report.removed),
                "pending_deletions": ids(&report.pending_deletions),
                "finished_deletions": ids(&report.finished_deletions),
                "materials": report.materials,
                "dangling_materials": report.dangling_materials.iter().map(|m| json!({
                    "appid": m.appid.to_string(),
                    "media_id": m.media_id,
                    "id": m.image.to_string(),
                })).collect::<Vec<_>>(),
                "articles": report.articles,
                "broken_article_pictures": report.broken_article_pictures.iter().map(|b| json!({
                    "appid": b.appid.to_string(),
                    "article": b.article,
                    "id": b.image.to_string(),
                    "taken_down": b.taken_down,
                })).collect::<Vec<_>>(),
            })
        );
    } else {
        for problem in &report.problems {
            println!("{problem}");
        }
        for material in &report.dangling_materials {
            println!("{material}");
        }
        for broken in &report.broken_article_pictures {
            println!("note: {broken}");
        }
        for id in &report.orphans {
            println!("orphan blob {id} (no picture row; `--repair` removes it)");
        }
        for id in &report.removed {
            println!("removed orphan blob {id}");
        }
        for id in &report.pending_deletions {
            println!(
                "unfinished takedown: blob {id} is marked for deletion \
                 (uploads of its bytes are refused until `--repair` finishes it)"
            );
        }
        for id in &report.finished_deletions {
            println!("finished the takedown of blob {id}");
        }
        if report.articles > 0 {
            println!(
                "{} drafts and published articles: {} show a picture that is not stored",
                report.articles,
                report.broken_article_pictures.len()
            );
        }
        println!(
            "{} picture rows, {} blobs: {} verified, {} missing or corrupt, {} orphans, {} removed — {}",
            report.rows,
            report.blobs,
            report.verified,
            report.problems.len(),
            report.orphans.len(),
            report.removed.len(),
            if report.is_clean() {
                "clean"
            } else {
                "NOT clean"
            }
        );
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
