//! `wximg component …`: third-party platform apps, their tickets and authorizations,
//! managed directly in storage (works while a server runs; see
//! `wximg_server::platform::component` for the rules).
//!
//! ```text
//! wximg component create [--name N] [--json]        → {"appid","secret"}
//! wximg component ticket --component wx…            → the current component_verify_ticket
//! wximg component authorize --component wx… --authorizer wx… --sets 1,11 [--json]
//!                                                   → {"authorization_code"}
//! wximg component revoke --component wx… --authorizer wx…
//! wximg component rotate-secret wx…                 → {"appid","secret"}; its tokens end
//! wximg component delete wx…                        → the component and all of it go
//! wximg component list
//! ```

use std::process::ExitCode;

use serde_json::json;
use wximg_proto::AppId;
use wximg_server::Clock;
use wximg_server::error::ApiError;
use wximg_server::platform::component;

use super::StorageArgs;

#[derive(clap::Args, Debug)]
pub struct ComponentArgs {
    #[command(subcommand)]
    pub command: ComponentCommand,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Print one JSON object per result instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum ComponentCommand {
    /// Create a component (third-party platform) app; prints its appid and secret (the
    /// secret is shown only now).
    Create {
        /// A name for people.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Show the component's current component_verify_ticket (as the platform pushes it:
    /// a new one every 10 minutes, the previous one still accepted).
    Ticket {
        #[arg(long)]
        component: AppId,
    },
    /// Record an account's consent: grant the component these permission sets and print
    /// the authorization_code the platform would redirect with (single use, 1 hour).
    Authorize {
        #[arg(long)]
        component: AppId,
        /// The authorizing account (an app of this storage).
        #[arg(long)]
        authorizer: AppId,
        /// Permission set ids, e.g. 1,11 (uploadimg needs one of 1,8,9,11,18,37,100).
        #[arg(long, value_delimiter = ',', required = true)]
        sets: Vec<u32>,
    },
    /// The account withdraws its authorization: its authorizer tokens end at once.
    Revoke {
        #[arg(long)]
        component: AppId,
        #[arg(long)]
        authorizer: AppId,
    },
    /// Give the component a new secret (shown only now). Ends its component_access_tokens,
    /// pre_auth_codes and the authorizer_access_tokens got with them, so a leaked secret
    /// keeps nothing; the accounts' authorizations and refresh tokens stay.
    RotateSecret { component: AppId },
    /// Delete the component with its tickets, tokens, codes and every authorization of
    /// it (one transaction). Accounts would have to authorize a new component again.
    Delete { component: AppId },
    /// List component apps.
    List,
}

/// An API error as a CLI error, with its table row and detail.
pub fn cli_error(e: ApiError) -> anyhow::Error {
    match e.detail {
        Some(detail) => anyhow::anyhow!("{} ({detail})", e.code),
        None => anyhow::anyhow!("{}", e.code),
    }
}

pub async fn run(args: ComponentArgs) -> anyhow::Result<ExitCode> {
    let storage = wximg_store::open(&args.storage.config()).await?;
    let meta = storage.meta.as_ref();
    let now = Clock::default().now();
    match args.command {
        ComponentCommand::Create { name } => {
            let (appid, secret) = component::create_component(meta, &name, now)
                .await
                .map_err(cli_error)?;
            super::print_credentials(&appid, &secret, args.json);
            if !args.json {
                eprintln!("The secret is shown only now; keep it.");
            }
        }
        ComponentCommand::Ticket { component: id } => {
            let Some(ticket) = component::current_ticket(meta, &id, now)
                .await
                .map_err(cli_error)?
            else {
                anyhow::bail!("no component {id} in this storage (see `wximg component list`)");
            };
            if args.json {
                println!(
                    "{}",
                    json!({"component_appid": id.as_str(), "component_verify_ticket": ticket})
                );
            } else {
                println!("{ticket}");
            }
        }
        ComponentCommand::Authorize {
            component: id,
            authorizer,
            sets,
        } => {
            let code = component::authorize(meta, &id, &authorizer, &sets, now)
                .await
                .map_err(cli_error)?;
            if args.json {
                println!("{}", json!({"authorization_code": code}));
            } else {
                println!("{code}");
            }
        }
        ComponentCommand::Revoke {
            component: id,
            authorizer,
        } => {
            if !component::revoke(meta, &id, &authorizer, now)
                .await
                .map_err(cli_error)?
            {
                anyhow::bail!("{authorizer} has no live authorization of {id}");
            }
            if args.json {
                println!(
                    "{}",
                    json!({"component_appid": id.as_str(), "authorizer_appid": authorizer.as_str(), "revoked": true})
                );
            } else {
                println!("revoked: {authorizer} no longer authorizes {id}");
            }
        }
        ComponentCommand::RotateSecret { component: id } => {
            let Some(secret) = component::rotate_component_secret(meta, &id, now)
                .await
                .map_err(cli_error)?
            else {
                anyhow::bail!(
                    "no component {id} in this storage (see `wximg component list`; \
                     `wximg app rotate-secret` is for accounts)"
                );
            };
            super::print_credentials(&id, &secret, args.json);
            if !args.json {
                eprintln!(
                    "The secret is shown only now; keep it. Its earlier component_access_tokens, \
                     pre_auth_codes and authorizer_access_tokens have ended: fetch new ones."
                );
            }
        }
        ComponentCommand::Delete { component: id } => {
            if !component::delete_component(meta, &id, now)
                .await
                .map_err(cli_error)?
            {
                anyhow::bail!(
                    "no component {id} in this storage (see `wximg component list`; \
                     `wximg app delete` is for accounts)"
                );
            }
            if args.json {
                println!("{}", json!({"appid": id.as_str(), "deleted": true}));
            } else {
                println!("deleted component {id}: its tokens, codes and authorizations are gone");
            }
        }
        ComponentCommand::List => {
            for c in component::components(meta, now).await.map_err(cli_error)? {
                if args.json {
                    println!(
                        "{}",
                        json!({"appid": c.appid, "name": c.name, "created_at": c.created_at})
                    );
                } else {
                    println!("{}  {}", c.appid, c.name);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
