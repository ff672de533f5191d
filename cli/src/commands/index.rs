//! Commands that change or show a version index: yank, unyank, deprecate, advisory, grant,
//! revoke, show.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use cairn_core::home::Home;
use cairn_core::inspect::IndexReport;
use cairn_core::publish::{Appended, append};
use cairn_protocol::index::version::{Advisory, Permission, Severity, VersionOp};
use cairn_protocol::name::IndexName;
use cairn_protocol::version::Version;

use crate::settings;

#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// `NAME@VERSION` (your index) or `IDENTITY:NAME@VERSION`.
    target: String,
    /// Act as this identity (petname or ID); the default if absent.
    #[arg(long = "as")]
    identity: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Grant {
    /// The index: `NAME` (yours) or `IDENTITY:NAME`.
    index: String,
    /// The co-maintainer (petname or ID).
    grantee: String,
    /// What they may do: `release`, `yank` (or `annotate`), `grant`, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    can: Vec<String>,
    /// Act as this identity.
    #[arg(long = "as")]
    identity: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Revoke {
    /// The index: `NAME` (yours) or `IDENTITY:NAME`.
    index: String,
    /// The co-maintainer (petname or ID), or yourself to hand the index over.
    grantee: String,
    /// Act as this identity.
    #[arg(long = "as")]
    identity: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Show {
    /// The index: `NAME` (yours) or `IDENTITY:NAME` (petnames allowed for IDENTITY).
    index: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn split_target(home: &Home, t: &Target) -> anyhow::Result<(IndexName, Version)> {
    let (name, version) = t
        .target
        .rsplit_once('@')
        .with_context(|| format!("`{}` must be `NAME@VERSION`", t.target))?;
    let version = version
        .parse()
        .with_context(|| format!("`{version}` is not a version"))?;
    Ok((
        settings::index_name(home, name, t.identity.as_deref())?,
        version,
    ))
}

fn sign_and_append(
    home_dir: Option<&Path>,
    who: Option<&str>,
    index: impl FnOnce(&Home) -> anyhow::Result<IndexName>,
    ops: impl FnOnce(&Home) -> anyhow::Result<Vec<VersionOp>>,
) -> anyhow::Result<(IndexName, Appended)> {
    let mut home = settings::open_home(home_dir)?;
    let me = home.resolve(who)?;
    let index = index(&home)?;
    let ops = ops(&home)?;
    let pass = settings::passphrase(false)?;
    let ring = home
        .unlock(&me, &pass)
        .context("failed to unlock the signing key")?;
    let seq = append(&mut home, me, &ring, &index, ops, settings::now()?)
        .with_context(|| format!("failed to update `{index}`"))?;
    Ok((index, seq))
}

/// A status change on one release.
pub(crate) fn status(
    home: Option<&Path>,
    t: &Target,
    op: impl FnOnce(Version) -> VersionOp,
) -> anyhow::Result<ExitCode> {
    let h = settings::open_home(home)?;
    let (index, version) = split_target(&h, t)?;
    drop(h);
    let op = op(version.clone());
    let verb = op.name();
    let (index, done) =
        sign_and_append(home, t.identity.as_deref(), |_| Ok(index), |_| Ok(vec![op]))?;
    match done {
        Appended::Signed(seq) => outln!("{verb}: {index}@{version} (revision {seq})"),
        Appended::Unchanged(seq) => {
            outln!(
                "{verb}: {index}@{version} already says so (revision {seq}); nothing was signed"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An advisory.
pub(crate) fn advisory(
    id: String,
    severity: &str,
    summary: String,
) -> anyhow::Result<impl FnOnce(Version) -> VersionOp> {
    let severity = match severity {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        other => bail!("severity `{other}` must be one of low, medium, high, critical"),
    };
    Ok(move |version| VersionOp::Advisory {
        version,
        advisory: Advisory {
            id,
            severity,
            summary,
        },
    })
}

pub(crate) fn grant(home: Option<&Path>, g: &Grant) -> anyhow::Result<ExitCode> {
    let mut permissions = BTreeSet::new();
    for c in &g.can {
        permissions.insert(match c.as_str() {
            "release" => Permission::Release,
            "yank" | "annotate" => Permission::Annotate,
            "grant" => Permission::Grant,
            other => bail!("`{other}` is not a permission (release, yank, grant)"),
        });
    }
    let (index, done) = sign_and_append(
        home,
        g.identity.as_deref(),
        |h| settings::index_name(h, &g.index, g.identity.as_deref()),
        |h| {
            Ok(vec![VersionOp::Grant {
                identity: h.resolve(Some(&g.grantee))?,
                permissions,
            }])
        },
    )?;
    match done {
        Appended::Signed(seq) => outln!(
            "granted {} on {index} to {} (revision {seq})",
            g.can.join(","),
            g.grantee
        ),
        Appended::Unchanged(seq) => outln!(
            "{} already holds exactly {} on {index} (revision {seq}); nothing was signed",
            g.grantee,
            g.can.join(",")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn revoke(home: Option<&Path>, r: &Revoke) -> anyhow::Result<ExitCode> {
    let (index, done) = sign_and_append(
        home,
        r.identity.as_deref(),
        |h| settings::index_name(h, &r.index, r.identity.as_deref()),
        |h| {
            Ok(vec![VersionOp::Revoke {
                identity: h.resolve(Some(&r.grantee))?,
            }])
        },
    )?;
    match done {
        Appended::Signed(seq) => outln!("revoked {} on {index} (revision {seq})", r.grantee),
        Appended::Unchanged(seq) => outln!(
            "{} holds nothing on {index} to revoke (revision {seq}); nothing was signed",
            r.grantee
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn show(home: Option<&Path>, s: &Show) -> anyhow::Result<ExitCode> {
    let home = settings::open_existing_home(home)?;
    let index = settings::index_name(&home, &s.index, None)?;
    let report = cairn_core::inspect::show(&home, &index)?.with_context(|| format!("`{index}` is not in this home\n\nhint: publish to it, or import it with `cairn import FILE.car`"))?;
    if s.json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_show(&home, &index, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// The human form of `show`'s report.
fn print_show(home: &Home, index: &IndexName, out: &IndexReport) -> anyhow::Result<()> {
    let owner = home.label(index.identity())?;
    outln!(
        "{index}{}\nrevision {} ({})",
        owner
            .strip_prefix(&index.identity().to_string())
            .unwrap_or_default(),
        out.seq,
        out.head
    );
    for r in &out.releases {
        let mut notes = Vec::new();
        if r.yanked {
            notes.push("yanked".to_owned());
        }
        if let Some(d) = &r.deprecated {
            notes.push(format!("deprecated: {d}"));
        }
        match r.advisories.len() {
            0 => {}
            1 => notes.push("1 advisory".to_owned()),
            n => notes.push(format!("{n} advisories")),
        }
        outln!(
            "  {:<16} {}{}",
            r.version,
            r.release,
            if notes.is_empty() {
                String::new()
            } else {
                format!("  [{}]", notes.join("; "))
            }
        );
    }
    for m in &out.maintainers {
        outln!(
            "maintainer {} [{}]",
            m.identity
                .parse()
                .map_or_else(|_| Ok(m.identity.clone()), |id| home.label(&id))?,
            m.permissions.join(", ")
        );
    }
    if out.forked || !out.flagged.is_empty() {
        outln!(
            "warning: fork evidence is held for this index; do not trust its signer until it is resolved"
        );
    }
    for r in &out.rollbacks {
        outln!(
            "warning: peer {} offered seq {} as the head while seq {} is verified here (refused: it serves an old state)",
            r.source,
            r.offered,
            r.held
        );
    }
    Ok(())
}
