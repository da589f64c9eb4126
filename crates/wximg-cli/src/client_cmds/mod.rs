//! The client commands: `wximg token`, `wximg upload`, `wximg publish`, and
//! `wximg conformance`.
//!
//! The first three share [`ClientArgs`] (where the API is, and how to authenticate) and
//! talk to the server through the `wximg-client` SDK; this module only turns flags into
//! SDK calls and results into lines. [`conformance`] sends its own raw requests, since it
//! must send what an SDK would not (a wrong grant, an empty body, a truncated picture).

pub mod conformance;
mod publish;
mod token;
mod upload;

use std::process::ExitCode;

use wximg_client::config::{Config, Profile, config_path};
use wximg_client::{Client, DEFAULT_BASE_URL, TokenEndpoint};

pub use publish::PublishArgs;
pub use token::TokenArgs;
pub use upload::UploadArgs;

/// The commands that call an `uploadimg` API (the real service, or any wximg).
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Print an access token for the app (from the cache while it is fresh).
    Token(TokenArgs),
    /// Upload pictures with uploadimg and print their URLs.
    Upload(UploadArgs),
    /// Re-host every picture of a Markdown or HTML article and rewrite its URLs; with
    /// --draft, render it and make its WeChat draft (--publish: and publish it).
    Publish(Box<PublishArgs>),
}

/// Runs a client command; the exit code is 0 only when everything asked succeeded.
pub async fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClientCommand::Token(a) => token::run(a).await,
        ClientCommand::Upload(a) => upload::run(a).await,
        ClientCommand::Publish(a) => publish::run(*a).await,
    }
}

/// Where the API is and how to authenticate: shared by every client command. Each flag
/// (or its `WXIMG_*` variable) overrides the profile of the config file
/// (`~/.config/wximg/config.toml`, see `wximg_client::config`), which overrides the
/// defaults.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The API's base URL: the real service by default, or a wximg's `http://host:port`.
    #[arg(long, env = "WXIMG_BASE_URL")]
    pub base_url: Option<String>,
    /// The app's id (wx + 16 hex digits).
    #[arg(long, env = "WXIMG_APPID")]
    pub appid: Option<String>,
    /// The app's secret (better: WXIMG_SECRET, or `secret_file` in the config's profile).
    #[arg(long, env = "WXIMG_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Use this access token as is instead of fetching one with --appid/--secret.
    #[arg(long, env = "WXIMG_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Which endpoint issues tokens: `stable` (/cgi-bin/stable_token, the default) or
    /// `token` (/cgi-bin/token).
    #[arg(long, value_enum)]
    pub token_endpoint: Option<EndpointArg>,
    /// The config file's profile to use (default: the file's `default`).
    #[arg(long, env = "WXIMG_PROFILE")]
    pub profile: Option<String>,
}

/// `--token-endpoint`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointArg {
    Stable,
    Token,
}

impl ClientArgs {
    /// The config file's profile these flags name (or its default one), if any.
    pub fn profile(&self) -> anyhow::Result<Option<Profile>> {
        let Some(path) = config_path() else {
            return Ok(None);
        };
        let cfg = Config::load(&path)?;
        Ok(cfg.profile(self.profile.as_deref(), &path)?)
    }

    /// The SDK client these flags (and the profile) describe.
    pub fn client(&self) -> anyhow::Result<Client> {
        let profile = self.profile()?.unwrap_or_default();
        let endpoint = match (self.token_endpoint, profile.token_endpoint.as_deref()) {
            (Some(EndpointArg::Token), _) | (None, Some("token")) => TokenEndpoint::Classic,
            (Some(EndpointArg::Stable), _) | (None, Some("stable") | None) => TokenEndpoint::Stable,
            (None, Some(other)) => anyhow::bail!(
                "the profile's token_endpoint is {other:?}: write \"stable\" or \"token\""
            ),
        };
        let base_url = self
            .base_url
            .clone()
            .or(profile.base_url.clone())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let mut b = Client::builder()
            .base_url(&base_url)
            .token_endpoint(endpoint);
        let appid = self.appid.clone().or(profile.appid.clone());
        let secret = match &self.secret {
            Some(s) => Some(s.clone()),
            None if self.access_token.is_none() && appid.is_some() => profile.secret()?,
            None => None,
        };
        b = match (&self.access_token, appid, secret) {
            (Some(t), _, _) => b.access_token(t),
            (None, Some(id), Some(secret)) => b.app(id, secret),
            (None, None, _) => anyhow::bail!(
                "no app given: pass --appid (or WXIMG_APPID, or `appid` in a profile of {}), \
                 or --access-token",
                shown_config_path()
            ),
            (None, Some(_), None) => anyhow::bail!(
                "no secret given: set WXIMG_SECRET, or `secret_file` (chmod 600) in a profile \
                 of {}",
                shown_config_path()
            ),
        };
        Ok(b.build()?)
    }
}

/// The config file's path, for messages.
fn shown_config_path() -> String {
    config_path().map_or_else(
        || "~/.config/wximg/config.toml".to_string(),
        |p| p.display().to_string(),
    )
}

/// The message of a client error for a line that already names the file: an I/O error's
/// path is not repeated.
pub(crate) fn describe_for(e: &wximg_client::Error) -> String {
    match e {
        wximg_client::Error::Io { source, .. } => printable(&source.to_string()),
        other => describe(other),
    }
}

/// The one-line form of an error for a file: `code message` when there is a code.
pub(crate) fn describe(e: &wximg_client::Error) -> String {
    printable(&e.to_string())
}

/// Text that came from outside — an article's picture URL, a file name, a server's
/// message — made safe for a terminal: control characters (escape sequences, carriage
/// returns, BEL…) and the bidirectional overrides that reorder what is shown are written
/// escaped (`\u{1b}`), never raw. JSON output needs none of this: serde_json escapes
/// them itself.
pub(crate) fn printable(text: &str) -> String {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_what_a_terminal_would_obey() {
        let hostile = "a\u{1b}[31mred\u{7}\r\u{202e}gpj.exe";
        let shown = super::printable(hostile);
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown:?}"
        );
        assert_eq!(shown, "a\\u{1b}[31mred\\u{7}\\u{d}\\u{202e}gpj.exe");
        assert_eq!(super::printable("plain 图片.png"), "plain 图片.png");
    }
}
