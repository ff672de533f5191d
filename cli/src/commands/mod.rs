//! One module per command.

mod cid;
mod inspect;
mod version;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the content ID of files (raw artifacts by default).
    Cid(cid::Args),
    /// Decode a record block and show it as typed JSON.
    Inspect(inspect::Args),
    /// Compare versions and test constraints.
    #[command(subcommand)]
    Version(version::Command),
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Cid(args) => cid::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Version(cmd) => version::run(cmd),
    }
}
