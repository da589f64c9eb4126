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
    /// Re-host every picture of a Markdown or HTML article and rewrite its URLs.
    Publish(PublishArgs),
}

/// Runs a client command; the exit code is 0 only when everything asked succeeded.
pub async fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClientCommand::Token(a) => token::run(a).await,
        ClientCommand::Upload(a) => upload::run(a).await,
        ClientCommand::Publish(a) => publish::run(a).await,
    }
}

/// Where the API is and how to authenticate: shared by every client command.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The API's base URL: the real service by default, or a wximg's `http://host:port`.
    #[arg(long, env = "WXIMG_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,
    /// The app's id (wx + 16 hex digits).
    #[arg(long, env = "WXIMG_APPID")]
    pub appid: Option<String>,
    /// The app's secret.
    #[arg(long, env = "WXIMG_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Use this access token as is instead of fetching one with --appid/--secret.
    #[arg(long, env = "WXIMG_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Which endpoint issues tokens: `stable` (/cgi-bin/stable_token) or `token`
    /// (/cgi-bin/token).
    #[arg(long, value_enum, default_value_t = EndpointArg::Stable)]
    pub token_endpoint: EndpointArg,
}

/// `--token-endpoint`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointArg {
    Stable,
    Token,
}

impl ClientArgs {
    /// The SDK client these flags describe.
    pub fn client(&self) -> anyhow::Result<Client> {
        let endpoint = match self.token_endpoint {
            EndpointArg::Stable => TokenEndpoint::Stable,
            EndpointArg::Token => TokenEndpoint::Classic,
        };
        let mut b = Client::builder()
            .base_url(&self.base_url)
            .token_endpoint(endpoint);
        b = match (&self.access_token, &self.appid, &self.secret) {
            (Some(t), _, _) => b.access_token(t),
            (None, Some(id), Some(secret)) => b.app(id, secret),
            (None, None, _) => anyhow::bail!(
                "no app given: pass --appid and --secret (or WXIMG_APPID and WXIMG_SECRET), \
                 or --access-token"
            ),
            (None, Some(_), None) => {
                anyhow::bail!("no secret given: pass --secret or set WXIMG_SECRET")
            }
        };
        Ok(b.build()?)
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
