//! `cairn-indexer`: the indexing node's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

/// The Cairn indexing node.
#[derive(Debug, Parser)]
#[command(name = "cairn-indexer", version, about)]
enum Cli {
    /// Verify a directory of blocks named by CID; prints a JSON report, exits 1 if any is invalid.
    Verify {
        /// The directory.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli {
        Cli::Verify { dir } => {
            let report = cairn_indexer::blocks::verify_dir(&dir)
                .with_context(|| format!("failed to read blocks in `{}`", dir.display()))?;
            println!(
                "{}",
                serde_json::to_string(&report).context("failed to render the report")?
            );
            Ok(if report.invalid.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
