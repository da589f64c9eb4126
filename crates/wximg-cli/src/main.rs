//! `wximg`: one binary for both sides of the `uploadimg` API.
//!
//! Server-side commands (`serve`, `app`, `image`, `component`, `fsck`, `migrate`,
//! `backup`, `restore`, and `tls init`) work on storage or local files directly (through `wximg-store`) and live in
//! [`server_cmds`]; client commands (`token`, `upload`, `publish`, `conformance`) talk to
//! an API over HTTP and live in [`client_cmds`].

mod client_cmds;
mod server_cmds;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "wximg",
    version,
    about = "A self-hostable, wire-compatible WeChat uploadimg service, and its client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Run the API server.
    Serve(Box<server_cmds::serve::ServeArgs>),
    /// Manage accounts (apps): create, list, show, rotate-secret, delete.
    App(server_cmds::app::AppArgs),
    /// Pictures per account (list, show, usage) and takedowns (delete, takedowns).
    Image(server_cmds::image::ImageArgs),
    /// Copy an embedded deployment (SQLite + files) into PostgreSQL + S3, verifying every
    /// picture by its hash; safe to re-run, resumes where it stopped.
    Migrate(server_cmds::migrate::MigrateArgs),
    /// Third-party platform apps: create, ticket, authorize, revoke, list.
    Component(server_cmds::component::ComponentArgs),
    /// Check that every picture row has its blob with the right hash; list orphan blobs
    /// (`--repair` removes them). Exit status 0 only when clean.
    Fsck(server_cmds::fsck::FsckArgs),
    /// Back up the embedded store into DEST while the server runs: a consistent copy of
    /// the database, then every blob it references, verified by hash; a second run into
    /// the same DEST copies only new blobs. Exit status 0 only when complete.
    Backup(server_cmds::backup::BackupArgs),
    /// Restore a backup made by `wximg backup` into an empty data directory (--data DIR),
    /// verifying every blob.
    Restore(server_cmds::backup::RestoreArgs),
    /// HTTPS for clients that hard-code the platform's host: `tls init` makes a local CA
    /// and a certificate for api.weixin.qq.com and mmbiz.qpic.cn, and prints how to trust it.
    Tls(server_cmds::tls::TlsArgs),
    /// Run the wire checks (tokens, uploadimg and its rejections, serving) against any
    /// server and print a pass/fail table.
    Conformance(client_cmds::conformance::ConformanceArgs),
    #[command(flatten)]
    Client(client_cmds::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(server_cmds::image::shield_hyphen_ids(
        std::env::args_os().collect(),
    ));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wximg: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => server_cmds::serve::run(*args).await,
            Command::App(args) => server_cmds::app::run(args).await,
            Command::Image(args) => server_cmds::image::run(args).await,
            Command::Migrate(args) => server_cmds::migrate::run(args).await,
            Command::Component(args) => server_cmds::component::run(args).await,
            Command::Fsck(args) => server_cmds::fsck::run(args).await,
            Command::Backup(args) => server_cmds::backup::run_backup(args).await,
            Command::Restore(args) => server_cmds::backup::run_restore(args).await,
            Command::Tls(args) => server_cmds::tls::run(args).await,
            Command::Conformance(args) => client_cmds::conformance::run(args).await,
            Command::Client(cmd) => client_cmds::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wximg: {}", client_cmds::printable(&said_once(&e)));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: a cause whose words an outer message already
/// holds is left out. `{e:#}` would repeat them, since many errors (an I/O error with
/// its path, a transport error with reqwest's words) put their cause in their own
/// message and return it as their source too: "outdir: is a directory: is a directory".
fn said_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory");
        let e = anyhow::Error::new(wximg_client::Error::Io {
            path: "outdir".into(),
            source: io,
        });
        assert_eq!(super::said_once(&e), "outdir: is a directory");
        let e = anyhow::anyhow!("inner cause").context("outer words");
        assert_eq!(super::said_once(&e), "outer words: inner cause");
    }
}
