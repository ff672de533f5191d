use std::process::ExitCode;

use anyhow::Context as _;
use cairn_protocol::version::{Constraint, Version};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print `<`, `=` or `>` for two versions (trailing zeros are ignored).
    Compare {
        /// First version.
        a: String,
        /// Second version.
        b: String,
    },
    /// Say which versions a constraint matches; exits 1 if any does not.
    Matches {
        /// A constraint, such as `^1.2` or `>=1.0 <2.0`.
        constraint: String,
        /// Versions to test.
        #[arg(required = true)]
        versions: Vec<String>,
        /// Print a JSON object `{constraint, matches: {version: bool}}`.
        #[arg(long)]
        json: bool,
    },
}

fn version(s: &str) -> anyhow::Result<Version> {
    s.parse().with_context(|| format!("`{s}` is not a version"))
}

pub(crate) fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Compare { a, b } => {
            let sign = match version(&a)?.cmp(&version(&b)?) {
                std::cmp::Ordering::Less => "<",
                std::cmp::Ordering::Equal => "=",
                std::cmp::Ordering::Greater => ">",
            };
            outln!("{a} {sign} {b}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Matches {
            constraint,
            versions,
            json,
        } => {
            let c: Constraint = constraint
                .parse()
                .with_context(|| format!("`{constraint}` is not a constraint"))?;
            let mut all = true;
            let mut results = std::collections::BTreeMap::new();
            for v in &versions {
                let ok = c.matches(&version(v)?);
                all &= ok;
                if json {
                    results.insert(v.clone(), ok);
                } else {
                    outln!("{v}: {}", if ok { "matches" } else { "does not match" });
                }
            }
            if json {
                outln!(
                    "{}",
                    serde_json::to_string(&crate::json::Matches {
                        constraint: c.to_string(),
                        matches: results
                    })?
                );
            }
            Ok(if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
