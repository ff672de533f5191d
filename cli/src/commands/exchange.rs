//! `cairn export` and `cairn import`: moving verified logs between homes as CAR bundles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::atomic::Access;
use cairn_core::bundle;
use std::collections::BTreeSet;

use cairn_core::home::Home;
use cairn_core::publish::reapply;
use cairn_core::store::{ImportReport, Outcome};
use cairn_protocol::index::Revision;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::signed::Signed;
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
    cairn_core::atomic::write(&e.car, &car, Access::Public, "export:after-temp-write")
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
            ..
        } => {
            json!({ "conflict": { "seq": seq, "winner": winner.to_string(), "loser": loser.to_string(), "switched": switched } })
        }
    };
    let reapplied = reapply_own(&mut home, &reports)?;
    if i.json {
        outln!(
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
            outln!("{}: {what} (head {})", r.log, r.head);
        }
        for (log, seqs) in &reapplied {
            outln!(
                "{log}: re-applied your dropped revision(s) on top of the winner as revision(s) {}",
                seqs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Re-applies, on top of the winning head, the dropped revisions that identities with keys in
/// this home signed (DESIGN §3 "Logs": the losing maintainer's operations are re-applied).
fn reapply_own(
    home: &mut Home,
    reports: &[ImportReport],
) -> anyhow::Result<Vec<(String, Vec<u64>)>> {
    let mut out = Vec::new();
    for r in reports {
        let Outcome::Conflict {
            switched: true,
            dropped,
            ..
        } = &r.outcome
        else {
            continue;
        };
        let Ok(index) = r.log.parse::<IndexName>() else {
            continue;
        };
        let mut signers = BTreeSet::new();
        for bytes in dropped {
            if let Ok(env) = Signed::<Revision<VersionIndex>>::decode(bytes) {
                signers.insert(env.payload().signer.identity);
            }
        }
        let mine: Vec<_> = signers
            .into_iter()
            .filter(|id| home.key_path(id).exists())
            .collect();
        for id in mine {
            let pass = settings::passphrase(false)?;
            let ring = home
                .unlock(&id, &pass)
                .context("failed to unlock the signing key to re-apply your revisions")?;
            let seqs = reapply(home, id, &ring, &index, dropped, settings::now()?).with_context(|| format!("failed to re-apply your operations on `{index}`; publish them again by hand"))?;
            if !seqs.is_empty() {
                out.push((r.log.clone(), seqs));
            }
        }
    }
    Ok(out)
}
