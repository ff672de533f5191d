//! One module per command.

mod cid;
mod id;
mod inspect;
mod publish;
mod version;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the content ID of files (raw artifacts by default).
    Cid(cid::Args),
    /// Create and manage identities.
    #[command(subcommand)]
    Id(id::Command),
    /// Publish the package in a directory as a new release of your version index.
    Publish(publish::Args),
    /// Decode a record block and show it as typed JSON.
    Inspect(inspect::Args),
    /// Compare versions and test constraints.
    #[command(subcommand)]
    Version(version::Command),
}

pub(crate) fn run(home: Option<&std::path::Path>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Cid(args) => cid::run(&args),
        Command::Id(cmd) => id::run(home, cmd),
        Command::Publish(args) => publish::run(home, &args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Version(cmd) => version::run(cmd),
    }
}
