//! `wximg app …`: manage accounts directly in storage (works while a server runs).

use std::process::ExitCode;

use serde_json::json;
use wximg_proto::{AppId, AppType};
use wximg_server::storage::{self, AppRecord};
use wximg_server::{Clock, apps};

use super::StorageArgs;

#[derive(clap::Args, Debug)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Print JSON (one object per app) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum AppCommand {
    /// Create an app and print its appid and secret (the secret is shown only now).
    Create {
        /// official | service | miniprogram | minigame
        #[arg(long = "type")]
        app_type: AppType,
        /// A name for people.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List apps.
    List,
    /// Show one app.
    Show { appid: AppId },
    /// Give the app a new secret (printed once) and end all its tokens.
    RotateSecret { appid: AppId },
    /// Delete the app and its tokens (its pictures stay served).
    Delete { appid: AppId },
}

fn describe(app: &AppRecord, json: bool) -> String {
    if json {
        json!({
            "appid": app.appid.as_str(),
            "type": app.app_type.as_str(),
            "name": app.name,
            "created_at": app.created_at,
        })
        .to_string()
    } else {
        format!("{}  {:<11}  {}", app.appid, app.app_type.as_str(), app.name)
    }
}

pub async fn run(args: AppArgs) -> anyhow::Result<ExitCode> {
    let storage = storage::open(&args.storage.config()).await?;
    let meta = storage.meta.as_ref();
    let now = Clock::default().now();
    match args.command {
        AppCommand::Create { app_type, name } => {
            let (app, secret) = apps::create(meta, app_type, &name, now).await?;
            if args.json {
                println!(
                    "{}",
                    json!({
                        "appid": app.appid.as_str(),
                        "secret": secret.expose(),
                        "type": app.app_type.as_str(),
                        "name": app.name,
                        "created_at": app.created_at,
                    })
                );
            } else {
                println!(
                    "appid   {}\nsecret  {}\ntype    {}",
                    app.appid,
                    secret.expose(),
                    app.app_type
                );
                eprintln!(
                    "The secret is shown only now; keep it. `wximg app rotate-secret` makes a new one."
                );
            }
        }
        AppCommand::List => {
            for app in meta.apps().await? {
                println!("{}", describe(&app, args.json));
            }
        }
        AppCommand::Show { appid } => match meta.app(&appid).await? {
            Some(app) => println!("{}", describe(&app, args.json)),
            None => anyhow::bail!("no app {appid} in this storage (see `wximg app list`)"),
        },
        AppCommand::RotateSecret { appid } => match apps::rotate_secret(meta, &appid, now).await? {
            Some(secret) if args.json => {
                println!(
                    "{}",
                    json!({"appid": appid.as_str(), "secret": secret.expose()})
                )
            }
            Some(secret) => println!("appid   {appid}\nsecret  {}", secret.expose()),
            None => anyhow::bail!("no app {appid} in this storage (see `wximg app list`)"),
        },
        AppCommand::Delete { appid } => {
            if !meta.delete_app(&appid).await? {
                anyhow::bail!("no app {appid} in this storage (see `wximg app list`)");
            }
            if args.json {
                println!("{}", json!({"appid": appid.as_str(), "deleted": true}));
            } else {
                println!("deleted {appid}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
