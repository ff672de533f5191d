//! `cairn curate …`: build a package index for a community, check its closure, publish it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use cairn_core::curate::{self, CheckReport};
use cairn_core::home::Home;
use cairn_protocol::cid::Cid;
use cairn_protocol::index::package::{AliasEntry, PackageOp, Policy, Status};
use cairn_protocol::name::{Alias, IndexName};

use crate::settings;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Start a package index `<you>:NAME`.
    New {
        /// Its name.
        name: String,
    },
    /// Map an alias to a version index (staged until `curate publish`).
    Add {
        /// The package index (`NAME` or `IDENTITY:NAME`).
        index: String,
        /// The alias dependencies use.
        alias: String,
        /// The version index it means (`IDENTITY:NAME`; petnames allowed).
        target: String,
        /// Admit exactly this revision (payload CID).
        #[arg(long, conflicts_with_all = ["follow", "min_seq"])]
        pin: Option<String>,
        /// Admit the latest verified head (the default).
        #[arg(long)]
        follow: bool,
        /// Admit the latest head, which must have at least this seq.
        #[arg(long)]
        min_seq: Option<u64>,
        /// Admit only versions matching this constraint.
        #[arg(long)]
        versions: Option<String>,
        /// Leave out releases with these statuses: yanked, deprecated, advisory.
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
    },
    /// Remove an alias (staged).
    Remove {
        /// The package index.
        index: String,
        /// The alias.
        alias: String,
    },
    /// Include another package index (staged); its aliases count unless yours or a higher
    /// priority include map them.
    Include {
        /// The package index.
        index: String,
        /// The package index to include (`IDENTITY:NAME`).
        other: String,
        /// Higher wins among includes.
        #[arg(long, default_value_t = 0)]
        priority: u64,
    },
    /// Show the effective mapping (published head plus staged changes).
    Show {
        /// The package index.
        index: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that every dependency of every admissible release resolves inside the index.
    Check {
        /// The package index.
        index: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check, then sign the staged changes as one revision.
    Publish {
        /// The package index.
        index: String,
        /// Publish even if dependencies dangle.
        #[arg(long)]
        allow_dangling: bool,
    },
}

fn print_report(r: &CheckReport) {
    for a in &r.aliases {
        match &a.problem {
            None => outln!(
                "  {:<20} → {}  [{}]",
                a.alias,
                a.target,
                a.admissible.join(", ")
            ),
            Some(p) => outln!("  {:<20} → {}  PROBLEM: {p}", a.alias, a.target),
        }
    }
    for s in &r.shadowed {
        outln!(
            "shadowed: `{}` from {} is hidden by {}",
            s.alias,
            s.hidden,
            s.winner
        );
    }
    for d in &r.dangling {
        let c = if d.constraint.is_empty() {
            String::new()
        } else {
            format!(" {}", d.constraint)
        };
        outln!(
            "dangling: `{}{c}` needed by {}: {}",
            d.alias,
            d.needed_by.join(", "),
            d.reason
        );
    }
}

fn entry(
    home: &Home,
    alias: &str,
    target: &str,
    pin: Option<&str>,
    min_seq: Option<u64>,
    versions: Option<&str>,
    exclude: &[String],
) -> anyhow::Result<AliasEntry> {
    let policy = match (pin, min_seq) {
        (Some(p), _) => Policy::Pin(
            p.parse::<Cid>()
                .with_context(|| format!("`{p}` is not a CID"))?,
        ),
        (None, Some(n)) => Policy::MinSeq(n),
        (None, None) => Policy::Follow,
    };
    let mut statuses = BTreeSet::new();
    for x in exclude {
        statuses
            .insert(Status::parse(x).with_context(|| {
                format!("`{x}` is not a status (yanked, deprecated, advisory)")
            })?);
    }
    Ok(AliasEntry {
        alias: alias
            .parse::<Alias>()
            .with_context(|| format!("`{alias}` is not a valid alias"))?,
        target: settings::index_name(home, target, None)?,
        policy,
        versions: versions
            .map(|v| {
                v.parse()
                    .with_context(|| format!("`{v}` is not a constraint"))
            })
            .transpose()?,
        exclude: statuses,
    })
}

fn show(home: &Home, index: &IndexName, json: bool) -> anyhow::Result<()> {
    let (tip, state, ops) = curate::effective(home, index)?;
    let out = crate::json::CuratorIndex {
        index: index.to_string(),
        seq: tip.as_ref().map(cairn_protocol::index::Tip::seq),
        head: tip.as_ref().map(|t| t.payload_cid.to_string()),
        staged: ops.len(),
        aliases: state
            .aliases()
            .iter()
            .map(crate::json::AliasJson::from)
            .collect(),
        includes: state
            .includes
            .iter()
            .map(|(n, p)| crate::json::Include {
                index: n.to_string(),
                priority: *p,
            })
            .collect(),
    };
    if json {
        outln!("{}", serde_json::to_string(&out)?);
    } else {
        outln!(
            "{index} (published seq {}, {} staged change(s))",
            tip.as_ref().map_or("none".into(), |t| t.seq().to_string()),
            ops.len()
        );
        for a in state.aliases() {
            outln!("  {:<20} → {}", a.alias, a.target);
        }
        for (n, p) in &state.includes {
            outln!("  include {n} (priority {p})");
        }
    }

    Ok(())
}

fn check(home: &Home, index: &IndexName, json: bool) -> anyhow::Result<ExitCode> {
    let report = curate::check(home, index)?;
    if json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
        if report.dangling.is_empty() {
            outln!("closure: every dependency resolves inside `{index}`");
        }
    }
    Ok(if report.dangling.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn publish(home: &mut Home, index: &IndexName, allow_dangling: bool) -> anyhow::Result<()> {
    if *index.identity() != home.resolve(None)? {
        bail!("`{index}` belongs to another identity; only its owner publishes it");
    }
    let pass = settings::passphrase(false)?;
    let ring = home
        .unlock(index.identity(), &pass)
        .context("failed to unlock the signing key")?;
    let (seq, report) = curate::publish(home, &ring, index, allow_dangling, settings::now()?)?;
    print_report(&report);
    outln!("published {index} (revision {seq})");
    Ok(())
}

pub(crate) fn run(home_dir: Option<&Path>, cmd: Command) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home_dir)?;
    let name =
        |home: &Home, i: &str| -> anyhow::Result<IndexName> { settings::index_name(home, i, None) };
    match cmd {
        Command::New { name: n } => {
            let me = home.resolve(None)?;
            let index = curate::new_index(
                &mut home,
                me,
                n.parse()
                    .with_context(|| format!("`{n}` is not a valid name"))?,
            )?;
            outln!("{index}");
            eprintln!(
                "started `{index}`; add aliases with `cairn curate add {n} ALIAS IDENTITY:INDEX`, then `cairn curate publish {n}`"
            );
        }
        Command::Add {
            index,
            alias,
            target,
            pin,
            follow: _,
            min_seq,
            versions,
            exclude,
        } => {
            let index = name(&home, &index)?;
            let e = entry(
                &home,
                &alias,
                &target,
                pin.as_deref(),
                min_seq,
                versions.as_deref(),
                &exclude,
            )?;
            let (_, state, _) = curate::effective(&home, &index)?;
            let op = if state.alias(&e.alias).is_some_and(|x| x.alias == e.alias) {
                PackageOp::UpdateAlias(e)
            } else {
                PackageOp::AddAlias(e)
            };
            curate::stage(&mut home, &index, &op)?;
            eprintln!("staged: {alias} → {target}");
        }
        Command::Remove { index, alias } => {
            let index = name(&home, &index)?;
            curate::stage(
                &mut home,
                &index,
                &PackageOp::RemoveAlias(
                    alias
                        .parse()
                        .with_context(|| format!("`{alias}` is not a valid alias"))?,
                ),
            )?;
            eprintln!("staged: remove {alias}");
        }
        Command::Include {
            index,
            other,
            priority,
        } => {
            let index = name(&home, &index)?;
            let other = name(&home, &other)?;
            curate::stage(
                &mut home,
                &index,
                &PackageOp::Include {
                    index: other.clone(),
                    priority,
                },
            )?;
            eprintln!("staged: include {other} (priority {priority})");
        }
        Command::Show { index, json } => show(&home, &name(&home, &index)?, json)?,
        Command::Check { index, json } => return check(&home, &name(&home, &index)?, json),
        Command::Publish {
            index,
            allow_dangling,
        } => {
            let index = name(&home, &index)?;
            publish(&mut home, &index, allow_dangling)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
