use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::publish::{PublishOptions, PublishOutcome, publish};

use crate::settings;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The package directory (holding cairn.toml).
    #[arg(long, default_value = ".")]
    path: PathBuf,
    /// Append to this version index (a co-maintainer publishing to `IDENTITY:NAME`).
    #[arg(long, value_name = "IDENTITY:NAME")]
    index: Option<String>,
    /// Publish as this identity (petname or ID); the default if absent.
    #[arg(long = "as")]
    identity: Option<String>,
    /// Warn about dependencies that have no admissible matching version in this package index.
    #[arg(long, value_name = "IDENTITY:PKGINDEX")]
    check_against: Option<String>,
    /// Show what would be published; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Start a new version index although this home imported the identity (refused by default:
    /// the index may exist on the machine the identity came from).
    #[arg(long)]
    new_index: bool,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
    /// Then push the new head to this peer (`ENDPOINT-ID@IP:PORT`; repeatable), an indexing
    /// node say, as `cairn announce --to` does.
    #[arg(long = "push", value_name = "PEER")]
    pub(crate) push: Vec<String>,
}

pub(crate) fn run(home: Option<&Path>, args: &Args) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    let identity = home.resolve(args.identity.as_deref())?;
    let index = args
        .index
        .as_deref()
        .map(|i| settings::index_name(&home, i, args.identity.as_deref()))
        .transpose()?;
    let opts = PublishOptions {
        dir: args.path.clone(),
        index,
        dry_run: args.dry_run,
        new_index: args.new_index,
        time: settings::now()?,
    };
    let ring = if args.dry_run {
        None
    } else {
        let pass = settings::passphrase(false)?;
        Some(
            home.unlock(&identity, &pass)
                .context("failed to unlock the signing key")?,
        )
    };
    let manifest = cairn_core::publish::manifest::Manifest::load(&args.path)
        .with_context(|| format!("failed to publish `{}`", args.path.display()))?;
    warn_bare_versions(&manifest.dependencies);
    // The check runs before anything is signed: a missing or unreadable index stops here.
    if let Some(target) = &args.check_against {
        let pkg_index = settings::index_name(&home, target, args.identity.as_deref())?;
        let gaps = cairn_core::curate::dependency_gaps(&home, &pkg_index, &manifest.dependencies)
            .with_context(|| {
            format!("failed to check against `{pkg_index}`; nothing was published")
        })?;
        for g in &gaps {
            eprintln!(
                "warning: dependency `{} {}` has no admissible matching version in `{pkg_index}`: {}",
                g.alias, g.constraint, g.reason
            );
        }
        if gaps.is_empty() {
            eprintln!("every dependency resolves in `{pkg_index}`");
        }
    }
    let report = publish(&mut home, identity, ring.as_ref(), &opts)
        .with_context(|| format!("failed to publish `{}`", args.path.display()))?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&crate::json::Published::from(&report))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let what = format!("{} {}", report.index, report.version);
    match report.outcome {
        PublishOutcome::Published { seq } => outln!(
            "published {what} (revision {seq}, release {})",
            report.release
        ),
        PublishOutcome::AlreadyPublished => {
            outln!("{what} is already published with identical content; nothing to do");
        }
        PublishOutcome::DryRun => {
            outln!("would publish {what} (release {})", report.release);
            for (p, a) in &report.artifacts {
                outln!("  {p}: {} ({} bytes)", a.cid, a.size);
            }
            for f in &report.files {
                outln!("    {}", f.path);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A bare version (`serde = "1"`) means exactly that version in Cairn's grammar, where cargo and
/// npm read `^1`: say so, with the `^` form.
fn warn_bare_versions(
    deps: &std::collections::BTreeMap<
        cairn_protocol::name::Alias,
        cairn_protocol::release::Dependency,
    >,
) {
    for (alias, d) in deps {
        if let Some((v, caret)) = bare_version(&d.constraint) {
            eprintln!(
                "warning: `{alias} = \"{v}\"` admits exactly version {v}; for compatible versions (what cargo and npm read it as) write `{alias} = \"{caret}\"`"
            );
        }
    }
}

/// For a bare version constraint, the version and its `^` form.
pub(crate) fn bare_version(c: &cairn_protocol::version::Constraint) -> Option<(String, String)> {
    let cairn_protocol::version::Constraint::Exact(v) = c else {
        return None;
    };
    let caret = format!("^{v}");
    caret
        .parse::<cairn_protocol::version::Constraint>()
        .is_ok()
        .then(|| (v.to_string(), caret))
}
