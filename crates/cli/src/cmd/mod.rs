//! One module per command; [`run`] dispatches.

mod bridge;
mod cat;
mod demo;
mod get;
mod keygen;
mod ls;
mod publish;
pub(crate) mod remote;
mod rendezvous;
mod seed;
mod serve;
pub(crate) mod watch;

use crate::args::{Cli, Command, RendezvousCommand};
use crate::failure::Failure;

/// How a command reports: human text with progress bars, or JSON lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    /// `--json`: one JSON object per line on stdout, no progress bars.
    pub(crate) json: bool,
    /// Progress bars on stderr (neither `--json` nor `-q`).
    pub(crate) bars: bool,
}

impl Output {
    /// Prints a line: the JSON value with `--json`, else the text.
    pub(crate) fn line(&self, text: impl std::fmt::Display, json: serde_json::Value) {
        if self.json {
            println!("{json}");
        } else {
            println!("{text}");
        }
    }
}

/// Runs the chosen command.
pub(crate) async fn run(cli: Cli) -> Result<(), Failure> {
    let out = Output {
        json: cli.json,
        bars: !cli.json && !cli.quiet,
    };
    match cli.command {
        Command::Keygen { out: path } => keygen::run(&path, out),
        Command::Seed(a) => seed::run(a, out).await,
        Command::Get(a) => get::run(a, out).await,
        Command::Ls(a) => ls::run(a, out).await,
        Command::Cat(a) => cat::run(a).await,
        Command::Publish(a) => publish::run(a, out).await,
        Command::Serve(a) => serve::run(a, out).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Bridge(a) => bridge::run(a, out).await,
        Command::Rendezvous(RendezvousCommand::Serve(a)) => rendezvous::run(a, out).await,
        Command::Watch(a) => watch::run(a, out).await,
        Command::Remote(c) => remote::run(c, out).await,
    }
}

/// `--salt TEXT` as bytes.
pub(crate) fn salt_bytes(salt: Option<&str>) -> &[u8] {
    salt.map_or(&[], str::as_bytes)
}
