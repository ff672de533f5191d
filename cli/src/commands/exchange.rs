//! `cairn export` and `cairn import`: moving verified logs between homes as CAR bundles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::bundle;
use cairn_core::store::Outcome;
use serde_json::json;

use crate::settings;

#[derive(Debug, clap::Args)]
pub(crate) struct Export {
    /// The log: an index (`NAME`, `IDENTITY:NAME`) or an identity (petname or ID).
    log: String,
    /// Write the CAR here.
    #[arg(long, value_name = "FILE")]
    car: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Import {
    /// A CAR bundle written by `cairn export`.
    file: PathBuf,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

pub(crate) fn export(home: Option<&Path>, e: &Export) -> anyhow::Result<ExitCode> {
    let home = settings::open_home(home)?;
    // `NAME` is one of your indexes when you have one by that name; otherwise it names an
    // identity (petname or ID).
    let mine = home.resolve(None).ok().map(|me| format!("{me}:{}", e.log));
    let log = if e.log.contains(':')
        || mine
            .as_deref()
            .is_some_and(|m| home.store.head_kind(m).ok().flatten().is_some())
    {
        settings::index_name(&home, &e.log, None)?.to_string()
    } else {
        home.resolve(Some(&e.log))?.to_string()
    };
    let car =
        bundle::export(&home.store, &log).with_context(|| format!("failed to export `{log}`"))?;
    let tmp = e.car.with_extension("car.tmp");
    std::fs::write(&tmp, &car).with_context(|| format!("failed to write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &e.car)
        .with_context(|| format!("failed to write `{}`", e.car.display()))?;
    eprintln!(
        "exported `{log}` to `{}` ({} bytes)",
        e.car.display(),
        car.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn import(home: Option<&Path>, i: &Import) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    let data =
        std::fs::read(&i.file).with_context(|| format!("failed to read `{}`", i.file.display()))?;
    let reports = bundle::import(&mut home.store, &data)
        .with_context(|| format!("failed to import `{}`", i.file.display()))?;
    let describe = |o: &Outcome| match o {
        Outcome::Imported { from, to } => json!({ "imported": { "from": from, "to": to } }),
        Outcome::UpToDate => json!("up-to-date"),
        Outcome::Fork { seq, signer } => {
            json!({ "fork": { "seq": seq, "signer": signer.to_string() } })
        }
        Outcome::Conflict {
            seq,
            winner,
            loser,
            switched,
        } => {
            json!({ "conflict": { "seq": seq, "winner": winner.to_string(), "loser": loser.to_string(), "switched": switched } })
        }
    };
    if i.json {
        println!(
            "{}",
            json!(
                reports
                    .iter()
                    .map(
                        |r| json!({ "log": r.log, "head": r.head, "outcome": describe(&r.outcome) })
                    )
                    .collect::<Vec<_>>()
            )
        );
    } else {
        for r in &reports {
            let what = match &r.outcome {
                Outcome::Imported { from, to } => {
                    format!("verified and stored revisions {from}..={to}")
                }
                Outcome::UpToDate => "up to date".into(),
                Outcome::Fork { seq, signer } => format!(
                    "FORK at revision {seq}: {signer} signed two different revisions; evidence kept, signer flagged"
                ),
                Outcome::Conflict { seq, switched, .. } => format!(
                    "concurrent append at revision {seq} settled ({})",
                    if *switched {
                        "switched to the winning branch"
                    } else {
                        "kept the winning branch held here"
                    }
                ),
            };
            println!("{}: {what} (head {})", r.log, r.head);
        }
    }
    Ok(ExitCode::SUCCESS)
}
