//! `cairn resolve`: resolve requirements against a curator's package index (nothing is
//! installed).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::resolve::{Dependency, Pkg, ResolveError, resolve};

use crate::settings;

/// Arguments of `cairn resolve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The curator's package index (`IDENTITY:NAME`; petnames allowed).
    #[arg(long)]
    index: String,
    /// Requirements: `ALIAS` (any version) or `ALIAS@CONSTRAINT`, e.g. `libfoo@^1.2`.
    #[arg(required = true)]
    requirements: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(home: Option<&Path>, args: &Args) -> anyhow::Result<ExitCode> {
    let home = settings::open_existing_home(home)?;
    let index = settings::index_name(&home, &args.index, None)?;
    let mut requirements = Vec::new();
    for r in &args.requirements {
        let (alias, constraint) = r.split_once('@').unwrap_or((r, "*"));
        requirements.push(Dependency {
            alias: alias.into(),
            constraint: constraint.parse().with_context(|| {
                format!("`{r}`: `{constraint}` is not a constraint\n\nhint: write `ALIAS@CONSTRAINT`, e.g. `libfoo@^1.2` (see `cairn version matches --help`)")
            })?,
            private: false,
        });
    }
    let source = home
        .source(&index)
        .with_context(|| format!("cannot read the package index `{index}`"))?;
    match resolve(&source, &requirements, &BTreeMap::new()) {
        Ok(solution) => {
            let rows: Vec<crate::json::ResolvedPackage> = solution
                .packages
                .iter()
                .map(|(pkg, r)| {
                    let (scope, alias) = match pkg {
                        Pkg::Dep { scope, alias } => (
                            scope.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            alias.to_string(),
                        ),
                        Pkg::Root => (Vec::new(), String::new()),
                    };
                    let at = r.locator.as_deref();
                    crate::json::ResolvedPackage {
                        alias,
                        scope,
                        version: r.candidate.version.to_string(),
                        release: at.map(|l| l.release.to_string()),
                        index: at.map(|l| l.index.clone()),
                        seq: at.map(|l| l.seq),
                        head: at.map(|l| l.head.to_string()),
                        yanked: r.candidate.yanked,
                        deprecated: r.candidate.deprecated,
                        advisory: r.candidate.advisory,
                    }
                })
                .collect();
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string(&crate::json::ResolveOutput {
                        index: index.to_string(),
                        packages: rows,
                    })?
                );
            } else {
                outln!("resolved against {index}:");
                for (pkg, r) in &solution.packages {
                    let mut notes = Vec::new();
                    if r.candidate.deprecated {
                        notes.push("deprecated");
                    }
                    if r.candidate.advisory {
                        notes.push("has advisories");
                    }
                    outln!(
                        "  {:<24} {:<12} from {}{}",
                        pkg.to_string(),
                        r.candidate.version.to_string(),
                        r.origin,
                        if notes.is_empty() {
                            String::new()
                        } else {
                            format!("  [{}]", notes.join(", "))
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ResolveError::NoSolution { report }) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string(&crate::json::Unresolved {
                        index: index.to_string(),
                        error: report
                    })?
                );
            } else {
                eprintln!("{report}");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
