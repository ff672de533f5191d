//! `cairn export` and `cairn import`: moving verified logs between homes as CAR bundles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use std::io::Write as _;

use cairn_core::atomic::{Access, AtomicFile};
use cairn_core::exchange;
use cairn_core::home::Home;
use cairn_core::store::{ImportReport, Outcome};

use crate::settings;

#[derive(Debug, clap::Args)]
pub(crate) struct Export {
    /// The logs: indexes (`NAME`, `IDENTITY:NAME`) or identities (petname or ID).
    #[arg(required_unless_present = "lockfile")]
    log: Vec<String>,
    /// Instead of one log: everything a lockfile pins (the curator's index and every version
    /// index it uses).
    #[arg(long, value_name = "FILE", conflicts_with = "log")]
    lockfile: Option<PathBuf>,
    /// Also carry the artifacts (of every release of a version index; of every locked package,
    /// for every platform, with `--lockfile`).
    #[arg(long)]
    with_artifacts: bool,
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
    let home = settings::open_existing_home(home)?;
    let (what, logs, artifacts) = match (e.log.as_slice(), &e.lockfile) {
        (_, Some(path)) => {
            let lock = cairn_core::lockfile::Lockfile::load(path)?
                .with_context(|| format!("there is no lockfile at `{}`", path.display()))?;
            let mut logs = vec![lock.curator.index.clone()];
            let mut artifacts = Vec::new();
            for p in &lock.packages {
                if !logs.contains(&p.from.index) {
                    logs.push(p.from.index.clone());
                }
                if e.with_artifacts {
                    artifacts.extend(p.artifacts.values().map(|a| a.cid));
                }
            }
            artifacts.sort();
            artifacts.dedup();
            let what = format!(
                "the logs and {} artifacts `{}` pins",
                artifacts.len(),
                path.display()
            );
            (what, logs, artifacts)
        }
        ([], None) => anyhow::bail!("name a log, or pass `--lockfile FILE`"),
        (given, None) => {
            let mut logs = Vec::new();
            let mut artifacts = Vec::new();
            for g in given {
                let log = settings::log_name(&home, g)?;
                if e.with_artifacts {
                    artifacts.extend(exchange::index_artifacts(&home, &log)?);
                }
                logs.push(log);
            }
            let what = logs
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ");
            (what, logs, artifacts)
        }
    };
    let written = (|| {
        let mut file = AtomicFile::create(&e.car, Access::Public)
            .with_context(|| format!("failed to write `{}`", e.car.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut file);
        let written = exchange::export_with_artifacts(&home, &logs, &artifacts, &mut out)
            .with_context(|| format!("failed to export {what}"))?;
        out.flush()
            .with_context(|| format!("failed to write `{}`", e.car.display()))?;
        drop(out);
        file.commit("export:after-temp-write")
            .with_context(|| format!("failed to write `{}`", e.car.display()))?;
        anyhow::Ok(written)
    })()?;
    eprintln!("exported {what} to `{}` ({written} bytes)", e.car.display());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn import(home: Option<&Path>, i: &Import) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    let file = std::fs::File::open(&i.file)
        .with_context(|| format!("failed to read `{}`", i.file.display()))?;
    let reports = exchange::import(&mut home, file)
        .with_context(|| format!("failed to import `{}`", i.file.display()))?;
    let reapplied = reapply_own(&mut home, &reports)?;
    if i.json {
        outln!("{}", serde_json::to_string(&reports)?);
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

/// Re-applies, on top of the winning head, the dropped operations that identities with keys
/// in this home signed (unlocking each identity's keys to sign them).
fn reapply_own(
    home: &mut Home,
    reports: &[ImportReport],
) -> anyhow::Result<Vec<(String, Vec<u64>)>> {
    let mut out = Vec::new();
    for d in exchange::dropped_own(home, reports) {
        let pass = settings::passphrase(false)?;
        let ring = home
            .unlock(&d.identity, &pass)
            .context("failed to unlock the signing key to re-apply your revisions")?;
        let seqs = exchange::reapply(home, &d, &ring, settings::now()?).with_context(|| {
            format!(
                "failed to re-apply your operations on `{}`; publish them again by hand",
                d.index
            )
        })?;
        if !seqs.is_empty() {
            out.push((d.index.to_string(), seqs));
        }
    }
    Ok(out)
}
