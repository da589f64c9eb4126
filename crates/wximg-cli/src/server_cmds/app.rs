//! `wximg app …`: manage accounts directly in storage (works while a server runs).

use std::process::ExitCode;

use serde_json::json;
use wximg_proto::{AppId, AppType};
use wximg_server::platform::{self, Cidr, QuotaLimits, quota, whitelist};
use wximg_server::{Clock, apps};
use wximg_store::{AppRecord, MetaStore, Storage};

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
    /// Delete the app and its tokens. An app with pictures needs --keep-pictures or
    /// --delete-pictures.
    Delete(DeleteArgs),
    /// Show or set the app's quotas (45009 daily, 45011 per minute) and today's counts.
    Quota(QuotaArgs),
    /// Show or change the IP whitelist of the app's token calls (40164 elsewhere).
    Whitelist(WhitelistArgs),
    /// Show or set where the app's events (PUBLISHJOBFINISH) are pushed: the console's
    /// server URL, Token, EncodingAESKey and message encryption mode.
    Callback(CallbackArgs),
}

#[derive(clap::Args, Debug)]
pub struct CallbackArgs {
    appid: AppId,
    /// The receiver's URL (http:// or https://).
    #[arg(long)]
    url: Option<String>,
    /// The Token the pushes are signed with (3 to 32 letters and digits).
    #[arg(long, requires = "url")]
    token: Option<String>,
    /// The EncodingAESKey (43 characters), or `new` to make one (printed).
    #[arg(long, value_name = "KEY", requires = "url")]
    aes_key: Option<String>,
    /// plain | compatible | safe (default: safe with --aes-key, else plain).
    #[arg(long, requires = "url")]
    mode: Option<wximg_server::events::Mode>,
    /// Print the settings (the default when nothing changes).
    #[arg(long, conflicts_with_all = ["url", "clear"])]
    show: bool,
    /// Remove the settings: no more pushes.
    #[arg(long, conflicts_with = "url")]
    clear: bool,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    appid: AppId,
    /// Its pictures stay served (listed under the deleted appid by `wximg image list`).
    #[arg(long, conflicts_with = "delete_pictures")]
    keep_pictures: bool,
    /// Take its pictures down first (as `wximg image delete --appid`): bytes another
    /// account also stored stay for that account.
    #[arg(long)]
    delete_pictures: bool,
    /// With --delete-pictures: the reason the audit log keeps.
    #[arg(long, requires = "delete_pictures")]
    reason: Option<String>,
    /// With --delete-pictures: who, for the audit log.
    #[arg(long, value_name = "NAME", requires = "delete_pictures")]
    by: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct QuotaArgs {
    appid: AppId,
    /// The API (uploadimg, token, stable_token, api_component_token, …); default:
    /// every API when showing, uploadimg when changing.
    #[arg(long)]
    api: Option<String>,
    /// Calls a day (the day is Beijing's, as the platform's).
    #[arg(long, value_name = "N")]
    daily: Option<i64>,
    /// Calls a minute.
    #[arg(long, value_name = "N")]
    per_minute: Option<i64>,
    /// Remove the app's own limits (back to the server's defaults).
    #[arg(long, conflicts_with_all = ["daily", "per_minute"])]
    unlimited: bool,
    /// Clear the counts (as the console's reset does).
    #[arg(long)]
    reset: bool,
}

impl QuotaArgs {
    /// Whether the limits themselves change (not only the counts).
    fn sets_limits(&self) -> bool {
        self.daily.is_some() || self.per_minute.is_some() || self.unlimited
    }
}

#[derive(clap::Args, Debug)]
pub struct WhitelistArgs {
    appid: AppId,
    /// Allow a network (CIDR, or one address); repeatable.
    #[arg(long, value_name = "CIDR")]
    add: Vec<Cidr>,
    /// Remove a network; repeatable.
    #[arg(long, value_name = "CIDR")]
    remove: Vec<Cidr>,
    /// Remove every network (no restriction).
    #[arg(long)]
    clear: bool,
    /// Print the list (the default when nothing changes; printing happens anyway).
    #[arg(long)]
    list: bool,
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

/// What every command on one app needs: the storage, the time, and how to print.
struct Ctx<'a> {
    meta: &'a dyn MetaStore,
    now: i64,
    json: bool,
}

impl Ctx<'_> {
    /// The app, or the error that says how to find the right appid.
    async fn existing(&self, appid: &AppId) -> anyhow::Result<AppRecord> {
        match self.meta.app(appid).await? {
            Some(app) => Ok(app),
            None => anyhow::bail!("no app {appid} in this storage (see `wximg app list`)"),
        }
    }
}

pub async fn run(args: AppArgs) -> anyhow::Result<ExitCode> {
    let storage = wximg_store::open(&args.storage.config()).await?;
    let cx = Ctx {
        meta: storage.meta.as_ref(),
        now: Clock::default().now(),
        json: args.json,
    };
    match args.command {
        AppCommand::Create { app_type, name } => create(&cx, app_type, &name).await?,
        AppCommand::List => {
            for app in cx.meta.apps().await? {
                println!("{}", describe(&app, cx.json));
            }
        }
        AppCommand::Show { appid } => {
            println!("{}", describe(&cx.existing(&appid).await?, cx.json))
        }
        AppCommand::RotateSecret { appid } => rotate_secret(&cx, &appid).await?,
        AppCommand::Delete(delete_args) => delete(&storage, &delete_args, cx.json).await?,
        AppCommand::Quota(quota) => {
            cx.existing(&quota.appid).await?;
            quota_command(&cx, quota).await?;
        }
        AppCommand::Whitelist(list) => {
            cx.existing(&list.appid).await?;
            whitelist_command(&cx, list).await?;
        }
        AppCommand::Callback(callback) => {
            cx.existing(&callback.appid).await?;
            callback_command(&cx, callback).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wximg app create`: the secret is printed once, and never stored.
async fn create(cx: &Ctx<'_>, app_type: AppType, name: &str) -> anyhow::Result<()> {
    let (app, secret) = apps::create(cx.meta, app_type, name, cx.now).await?;
    if cx.json {
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
    Ok(())
}

/// `wximg app rotate-secret`: a new secret, printed once; every token of the app ends.
async fn rotate_secret(cx: &Ctx<'_>, appid: &AppId) -> anyhow::Result<()> {
    let Some(secret) = apps::rotate_secret(cx.meta, appid, cx.now).await? else {
        anyhow::bail!("no app {appid} in this storage (see `wximg app list`)");
    };
    super::print_credentials(appid, &secret, cx.json);
    Ok(())
}

/// `wximg app delete`: the app and its tokens go; its pictures stay or are taken down,
/// as the operator said — never silently either.
async fn delete(storage: &Storage, args: &DeleteArgs, json: bool) -> anyhow::Result<()> {
    let appid = &args.appid;
    if storage.meta.app(appid).await?.is_none() {
        anyhow::bail!("no app {appid} in this storage (see `wximg app list`)");
    }
    let usage = storage.meta.usage().await?;
    let own = usage.apps.iter().find(|u| &u.appid == appid);
    let (mut pictures, mut bytes) = own.map_or((0, 0), |u| (u.pictures, u.bytes));
    if pictures > 0 && !args.keep_pictures && !args.delete_pictures {
        anyhow::bail!(
            "{appid} has {pictures} pictures ({bytes} bytes): say what becomes of them. \
             --keep-pictures keeps them served; --delete-pictures takes them down (bytes \
             another account also stored stay for it). `wximg image list --appid {appid}` \
             lists them."
        );
    }
    let taken_down = args.delete_pictures && pictures > 0;
    if taken_down {
        let reason = args
            .reason
            .clone()
            .unwrap_or_else(|| format!("account {appid} deleted"));
        let by = args.by.as_deref().unwrap_or("wximg app delete");
        (pictures, bytes) = super::image::take_down_app(storage, appid, &reason, by).await?;
    }
    // Gone meanwhile (another `app delete`): say so rather than claim it.
    if !storage.meta.delete_app(appid).await? {
        anyhow::bail!("no app {appid} in this storage (see `wximg app list`)");
    }
    if json {
        println!(
            "{}",
            json!({
                "appid": appid.as_str(), "deleted": true, "pictures": pictures,
                "bytes": bytes, "pictures_deleted": taken_down,
            })
        );
    } else if taken_down {
        println!("deleted {appid}; took down its {pictures} pictures ({bytes} bytes)");
    } else if pictures > 0 {
        println!("deleted {appid}; its {pictures} pictures ({bytes} bytes) stay served");
    } else {
        println!("deleted {appid}");
    }
    Ok(())
}

/// `wximg app whitelist`: changes what was asked (in one compare-and-swap of the
/// record), then prints the list.
async fn whitelist_command(cx: &Ctx<'_>, args: WhitelistArgs) -> anyhow::Result<()> {
    let WhitelistArgs {
        appid,
        add,
        remove,
        clear,
        list: _,
    } = args;
    let networks = if add.is_empty() && remove.is_empty() && !clear {
        whitelist::whitelist(cx.meta, &appid, cx.now)
            .await
            .map_err(api_error)?
    } else {
        let key = whitelist::whitelist_key(&appid);
        let saved = platform::update(
            cx.meta,
            &key,
            cx.now,
            None,
            |w: Option<whitelist::Whitelist>| {
                let mut nets: Vec<String> = if clear {
                    Vec::new()
                } else {
                    w.unwrap_or_default().networks
                };
                nets.retain(|n| !remove.iter().any(|r| r.to_string() == *n));
                for a in &add {
                    if !nets.contains(&a.to_string()) {
                        nets.push(a.to_string());
                    }
                }
                Ok(whitelist::Whitelist { networks: nets })
            },
        )
        .await
        .map_err(api_error)?;
        saved
            .networks
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    if cx.json {
        let nets: Vec<String> = networks.iter().map(Cidr::to_string).collect();
        println!("{}", json!({"appid": appid.as_str(), "whitelist": nets}));
    } else if networks.is_empty() {
        println!("{appid}: no whitelist (token calls allowed from anywhere)");
    } else {
        for n in networks {
            println!("{n}");
        }
    }
    Ok(())
}

fn api_error(e: wximg_server::error::ApiError) -> anyhow::Error {
    super::component::cli_error(e)
}

/// `wximg app quota`: sets what was asked, then shows limits and today's counts.
async fn quota_command(cx: &Ctx<'_>, args: QuotaArgs) -> anyhow::Result<()> {
    let (meta, now, json) = (cx.meta, cx.now, cx.json);
    let changing = args.sets_limits() || args.reset;
    let sets_limits = args.sets_limits();
    let QuotaArgs {
        appid,
        api,
        daily,
        per_minute,
        unlimited,
        reset,
    } = args;
    let appid = &appid;
    if let Some(api) = &api
        && !quota::APIS.contains(&api.as_str())
    {
        anyhow::bail!(
            "no API {api:?} has a quota; one of: {}",
            quota::APIS.join(", ")
        );
    }
    let apis: Vec<String> = match api {
        Some(api) => vec![api],
        None if changing => vec!["uploadimg".to_string()],
        None => quota::APIS.iter().map(|s| s.to_string()).collect(),
    };
    for api in &apis {
        if sets_limits {
            let mut limits = quota::own_limits(meta, appid, api, now)
                .await
                .map_err(api_error)?;
            if unlimited {
                limits = QuotaLimits::default();
            }
            if daily.is_some() {
                limits.daily = daily;
            }
            if per_minute.is_some() {
                limits.per_minute = per_minute;
            }
            quota::set_limits(meta, appid, api, limits, now)
                .await
                .map_err(api_error)?;
        }
        if reset {
            meta.reset_calls(appid, api).await?;
        }
        let limits = quota::own_limits(meta, appid, api, now)
            .await
            .map_err(api_error)?;
        let (today, this_minute) = meta
            .call_counts(appid, api, quota::beijing_day(now), quota::minute(now))
            .await?;
        if json {
            println!(
                "{}",
                json!({
                    "appid": appid.as_str(), "api": api,
                    "daily": limits.daily, "per_minute": limits.per_minute,
                    "used_today": today, "used_this_minute": this_minute,
                })
            );
        } else {
            let show = |l: Option<i64>| l.map_or_else(|| "default".to_string(), |n| n.to_string());
            println!(
                "{api:<24} daily {:>9} (used {today})  per-minute {:>7} (used {this_minute})",
                show(limits.daily),
                show(limits.per_minute)
            );
        }
    }
    Ok(())
}

/// `wximg app callback`: sets or clears what was asked, then prints the settings.
async fn callback_command(cx: &Ctx<'_>, args: CallbackArgs) -> anyhow::Result<()> {
    use wximg_server::events::{self, CallbackSettings};
    let appid = &args.appid;
    if args.clear {
        let had = events::clear_callback(cx.meta, appid)
            .await
            .map_err(api_error)?;
        if cx.json {
            println!(
                "{}",
                json!({"appid": appid.as_str(), "callback": null, "cleared": had})
            );
        } else if had {
            println!("{appid}: callback removed (its events are no longer pushed)");
        } else {
            println!("{appid}: had no callback");
        }
        return Ok(());
    }
    if let Some(url) = &args.url {
        let Some(token) = &args.token else {
            anyhow::bail!("--url needs --token (3 to 32 letters and digits) to sign the pushes");
        };
        let aes_key = match args.aes_key.as_deref() {
            Some("new") => Some(events::crypto::new_encoding_aes_key()),
            other => other.map(str::to_string),
        };
        let settings = CallbackSettings::new(url, token, aes_key.as_deref(), args.mode)
            .map_err(|e| anyhow::anyhow!(e))?;
        events::set_callback(cx.meta, appid, &settings, cx.now)
            .await
            .map_err(api_error)?;
    }
    let settings = events::callback(cx.meta, appid, cx.now)
        .await
        .map_err(api_error)?;
    let original = events::message::original_id(appid);
    match (settings, cx.json) {
        (None, true) => println!("{}", json!({"appid": appid.as_str(), "callback": null})),
        (None, false) => println!("{appid}: no callback (events are not pushed)"),
        (Some(s), true) => println!(
            "{}",
            json!({
                "appid": appid.as_str(), "url": s.url, "token": s.token,
                "aes_key": s.aes_key, "mode": s.mode.as_str(), "original_id": original,
            })
        ),
        (Some(s), false) => {
            println!("url          {}", s.url);
            println!("token        {}", s.token);
            println!("aes-key      {}", s.aes_key.as_deref().unwrap_or("-"));
            println!("mode         {}", s.mode.as_str());
            println!("original-id  {original} (the ToUserName of its events)");
        }
    }
    Ok(())
}
