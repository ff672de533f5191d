//! The `cairn` command. Parsing and printing live here; every decision lives in `cairn-core`.

mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Cairn: a decentralized package index.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
