//! `wximg token`: print an access token.

use std::process::ExitCode;

use super::ClientArgs;

/// `wximg token`.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.client()?;
    match client.access_token().await {
        Ok(token) => {
            // The one place a token is printed: the user asked for it.
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("wximg token: {}", super::describe(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}
